//! What the VRRP driver needs to run a node: the pure instance configs plus the IO
//! facts (VIP devices and labels, notify scripts, `vrrp_script` commands).

use std::net::IpAddr;
use std::time::Duration;

use vipd_core::config::{Notify, ScriptUser};
use vipd_core::vrrp::{InstanceConfig, SyncGroupConfig};

/// One `virtual_ipaddress` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    /// Address.
    pub addr: IpAddr,
    /// Prefix length (keepalived's default is /32).
    pub prefix_len: u8,
    /// `dev` (the instance's interface when absent).
    pub dev: Option<String>,
    /// `label`, e.g. `eth1:1`.
    pub label: Option<String>,
    /// Added with `preferred_lft 0`, as keepalived adds an IPv6 /128 VIP
    /// (or any address written with `preferred_lft 0`): never the source
    /// address the kernel picks for this host's own connections. A real
    /// server of LVS-TUN/DR holds the VIP itself, so a health check sent from
    /// the VIP gets its answer delivered to the real server's own lo.
    pub deprecated: bool,
}

impl VipSpec {
    /// keepalived's rule for `preferred_lft`: `0` deprecates, `forever` (or a
    /// lifetime) does not, and absent deprecates an IPv6 /128.
    pub fn deprecated(addr: IpAddr, prefix_len: u8, preferred_lft: Option<&str>) -> bool {
        match preferred_lft {
            Some(p) => p.trim() == "0",
            None => addr.is_ipv6() && prefix_len == 128,
        }
    }
}

/// The notify scripts of an instance or a sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySpec {
    /// `notify_master`.
    pub master: Option<Notify>,
    /// `notify_backup`.
    pub backup: Option<Notify>,
    /// `notify_fault`.
    pub fault: Option<Notify>,
    /// `notify_stop`.
    pub stop: Option<Notify>,
    /// `notify`: called with `INSTANCE|GROUP NAME STATE PRIORITY`.
    pub any: Option<Notify>,
    /// `notify_master_rx_lower_pri`: MASTER heard a lower-priority master.
    pub master_rx_lower_pri: Option<Notify>,
}

/// One `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The pure configuration. `primary_ip` may be `0.0.0.0`: the driver then uses
    /// the interface's first IPv4 address.
    pub core: InstanceConfig,
    /// The VIPs with their device and label.
    pub vips: Vec<VipSpec>,
    /// Notify scripts.
    pub notify: NotifySpec,
    /// Track the instance's own interface (keepalived does unless
    /// `dont_track_primary`).
    pub track_primary: bool,
}

/// One `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// Name used by `track_script`.
    pub name: String,
    /// Command line.
    pub script: String,
    /// `interval` (keepalived's default 1 s).
    pub interval: Duration,
    /// `timeout` (default: the interval).
    pub timeout: Duration,
    /// `rise`.
    pub rise: u32,
    /// `fall`.
    pub fall: u32,
    /// `init_fail`.
    pub init_fail: bool,
    /// Run as (`user`, else `script_user`); vipd's own user when `None`.
    pub user: Option<ScriptUser>,
}

/// A node's whole VRRP configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpSpec {
    /// Instances.
    pub instances: Vec<InstanceSpec>,
    /// Sync groups with their notify scripts.
    pub groups: Vec<(SyncGroupConfig, NotifySpec)>,
    /// Scripts.
    pub scripts: Vec<ScriptSpec>,
    /// `vrrp_startup_delay`: VRRP waits this long before it starts (not on a
    /// resume after a restart).
    pub startup_delay: Duration,
    /// `vrrp_garp_interval`: gratuitous ARPs on one interface at least this
    /// far apart (zero: back to back).
    pub garp_interval: Duration,
    /// `vrrp_gna_interval`: the same for IPv6's unsolicited neighbour
    /// advertisements (their own schedule per interface, as keepalived's).
    pub gna_interval: Duration,
}
