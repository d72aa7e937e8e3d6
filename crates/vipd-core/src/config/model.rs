//! The typed configuration model: what a keepalived.conf means, validated.
//!
//! Other areas consume this (VRRP instances, virtual servers, checkers). Field
//! names are keepalived's keywords. Conventions:
//! - Durations are [`std::time::Duration`] with microsecond resolution (the
//!   resolution of keepalived's timers); JSON shows them as `{secs, nanos}`.
//! - `Option` means "not written in the file": the consumer applies
//!   keepalived's default, which is given in each field's doc. Where the default
//!   is simple and fixed it is already applied (e.g. `priority`, `delay_loop`).
//! - [`Loc`] fields say where an element was written (for diagnostics); they
//!   never take part in equality and are not serialized.

use super::diag::Loc;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// `global_defs { ... }`
    pub global_defs: GlobalDefs,
    /// `static_ipaddress { ... }`: addresses configured at start, never moved.
    pub static_ipaddress: Vec<VirtualIp>,
    /// `static_routes { ... }`
    pub static_routes: Vec<Route>,
    /// `static_rules { ... }`
    pub static_rules: Vec<Rule>,
    /// `vrrp_script NAME { ... }`
    pub vrrp_scripts: Vec<VrrpScript>,
    /// `track_file NAME { ... }` (`vrrp_track_file`)
    #[serde(default)]
    pub track_files: Vec<TrackFile>,
    /// `vrrp_sync_group NAME { ... }`
    pub vrrp_sync_groups: Vec<VrrpSyncGroup>,
    /// `vrrp_instance NAME { ... }`
    pub vrrp_instances: Vec<VrrpInstance>,
    /// `virtual_server_group NAME { ... }`
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// `virtual_server ... { ... }`
    pub virtual_servers: Vec<VirtualServer>,
}

/// `global_defs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalDefs {
    /// `router_id` (default: the host name).
    pub router_id: Option<String>,
    /// `notification_email { ... }` (accepted; vipd sends no mail).
    pub notification_email: Vec<String>,
    /// `notification_email_from`
    pub notification_email_from: Option<String>,
    /// `smtp_server ADDR [PORT]`
    pub smtp_server: Option<String>,
    /// `smtp_connect_timeout`
    pub smtp_connect_timeout: Option<Duration>,
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub vrrp_mcast_group4: Option<Ipv4Addr>,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub vrrp_mcast_group6: Option<Ipv6Addr>,
    /// `default_interface` for static addresses (default eth0).
    pub default_interface: Option<String>,
    /// `vrrp_version` (default 2).
    pub vrrp_version: Option<u8>,
    /// `vrrp_garp_master_delay` (default 5 s).
    pub vrrp_garp_master_delay: Option<Duration>,
    /// `vrrp_garp_master_repeat` (default 5).
    pub vrrp_garp_master_repeat: Option<u32>,
    /// `vrrp_garp_master_refresh` (default: none).
    pub vrrp_garp_master_refresh: Option<Duration>,
    /// `vrrp_garp_master_refresh_repeat` (default 1).
    pub vrrp_garp_master_refresh_repeat: Option<u32>,
    /// `vrrp_garp_lower_prio_delay`
    pub vrrp_garp_lower_prio_delay: Option<Duration>,
    /// `vrrp_garp_lower_prio_repeat`
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_garp_interval` (default 0).
    pub vrrp_garp_interval: Option<Duration>,
    /// `vrrp_gna_interval` (default 0).
    pub vrrp_gna_interval: Option<Duration>,
    /// `vrrp_min_garp`
    pub vrrp_min_garp: Option<bool>,
    /// `vrrp_lower_prio_no_advert`
    pub vrrp_lower_prio_no_advert: Option<bool>,
    /// `vrrp_higher_prio_send_advert`
    pub vrrp_higher_prio_send_advert: Option<bool>,
    /// `vrrp_down_timer_adverts` (default 3).
    pub vrrp_down_timer_adverts: Option<u32>,
    /// `vrrp_strict`
    pub vrrp_strict: bool,
    /// `vrrp_skip_check_adv_addr`
    pub vrrp_skip_check_adv_addr: bool,
    /// `vrrp_check_unicast_src`
    pub vrrp_check_unicast_src: bool,
    /// `vrrp_startup_delay`
    pub vrrp_startup_delay: Option<Duration>,
    /// `enable_script_security`
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`
    pub script_user: Option<ScriptUser>,
    /// `lvs_flush`
    pub lvs_flush: bool,
    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (seconds).
    #[serde(default)]
    pub lvs_timeouts: Option<LvsTimeouts>,
    /// `checker_log_all_failures`
    pub checker_log_all_failures: Option<bool>,
    /// `lvs_sync_daemon IFACE [INSTANCE] [id N] [maxlen N] [port N] [ttl N]
    /// [group ADDR]` (or a 1.2.x `lvs_sync_daemon_interface` in an instance):
    /// where vipd shares connection entries with the other directors.
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    /// `vipd_announce DEVICE` (vipd's own): every director announces the
    /// VIPs it can serve as addresses on DEVICE, for a routing daemon (see
    /// `crate::announce`).
    #[serde(default)]
    pub vipd_announce: Option<String>,
}

/// `lvs_sync_daemon`: the interface and options of connection sharing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsSyncDaemon {
    /// Interface the sharing datagrams use.
    pub interface: String,
    /// The VRRP instance whose peers share (keepalived: sync only while that
    /// instance is MASTER; vipd shares both ways, always).
    pub instance: Option<String>,
    /// `id N`: only directors with the same id share (default 0).
    pub id: Option<u32>,
    /// `maxlen N`: largest datagram, in bytes.
    pub maxlen: Option<u32>,
    /// `port N`: UDP port (vipd's default 8849; IPVS's sync daemon uses 8848).
    pub port: Option<u16>,
    /// `ttl N`: multicast TTL (default 1).
    pub ttl: Option<u8>,
    /// `group ADDR`: multicast group (default 224.0.0.81, IPVS's).
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts`: how long an idle connection stays in the connection table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsTimeouts {
    /// `tcp N`: an established TCP connection.
    pub tcp: Option<u32>,
    /// `tcpfin N`: a TCP connection after FIN.
    pub tcpfin: Option<u32>,
    /// `udp N`: a UDP flow.
    pub udp: Option<u32>,
}

/// `user [group]` for scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptUser {
    /// User name.
    pub user: String,
    /// Group name (default: the user's group).
    pub group: Option<String>,
}

/// A script to run: `notify_master "/path arg" [user [group]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    /// The command line, as written (quotes removed).
    pub script: String,
    /// Run as this user / group.
    pub user: Option<ScriptUser>,
}

/// `vrrp_script NAME { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    /// The name `track_script` refers to.
    pub name: String,
    /// `script` (None: keepalived disables the script).
    pub script: Option<String>,
    /// `interval` (default 1 s).
    pub interval: Duration,
    /// `timeout` (default: the interval).
    pub timeout: Option<Duration>,
    /// `weight` -253..=253 (default 0: failure means FAULT).
    pub weight: i32,
    /// `weight N reverse`
    pub weight_reverse: bool,
    /// `rise` (default 1).
    pub rise: u32,
    /// `fall` (default 1).
    pub fall: u32,
    /// `user USER [GROUP]`
    pub user: Option<ScriptUser>,
    /// `init_fail`
    pub init_fail: bool,
    /// Where it was defined.
    #[serde(skip)]
    pub loc: Loc,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] [overwrite] }`:
/// a number in a file that others (`FILE_CHECK`) follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    /// The name `FILE_CHECK`'s `track_file` refers to.
    pub name: String,
    /// `file`
    pub file: Option<String>,
    /// `weight` -254..=254 (default 1).
    pub weight: i32,
    /// `weight N reverse`
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: write VALUE (default 0) at start if
    /// the file does not exist (or always, with `overwrite`).
    pub init_file: Option<(i64, bool)>,
    /// Where it was defined.
    #[serde(skip)]
    pub loc: Loc,
}

/// A tracked object with an optional weight: `eth0 weight -10 [reverse]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    /// Interface, script, file... name.
    pub name: String,
    /// `weight N` (None: the object's default).
    pub weight: Option<i32>,
    /// `reverse`
    pub reverse: bool,
}

/// `vrrp_sync_group NAME { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpSyncGroup {
    /// Name.
    pub name: String,
    /// `group { VI_1 VI_2 }`: member instances.
    pub group: Vec<String>,
    /// `track_interface { ... }`
    pub track_interface: Vec<Track>,
    /// `track_script { ... }`
    pub track_script: Vec<Track>,
    /// `notify_master`
    pub notify_master: Option<Notify>,
    /// `notify_backup`
    pub notify_backup: Option<Notify>,
    /// `notify_fault`
    pub notify_fault: Option<Notify>,
    /// `notify_stop`
    pub notify_stop: Option<Notify>,
    /// `notify`
    pub notify: Option<Notify>,
    /// `smtp_alert`
    pub smtp_alert: Option<bool>,
    /// Where it was defined.
    #[serde(skip)]
    pub loc: Loc,
}

/// `state MASTER|BACKUP`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    /// Start wanting to be master.
    Master,
    /// Start as backup.
    Backup,
}

/// `auth_type PASS|AH`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    /// Simple password (RFC 2338).
    Pass,
    /// IPsec AH (obsolete).
    Ah,
}

/// `authentication { auth_type ...; auth_pass ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    /// `auth_type`
    pub auth_type: AuthType,
    /// `auth_pass`, at most 8 bytes (longer ones are truncated, as keepalived does).
    pub auth_pass: String,
}

/// `scope` of an address or route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `global`
    Global,
    /// `site`
    Site,
    /// `link`
    Link,
    /// `host`
    Host,
    /// `nowhere`
    Nowhere,
}

impl Scope {
    /// The keyword, as `ip` also spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Site => "site",
            Scope::Link => "link",
            Scope::Host => "host",
            Scope::Nowhere => "nowhere",
        }
    }
}

/// Broadcast address of a VIP: an address, or `-` / `+` (clear / set host bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Broadcast {
    /// `brd ADDR`
    Addr(IpAddr),
    /// `brd -`
    Clear,
    /// `brd +`
    Set,
}

/// An address with a prefix length: `10.0.0.1/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IpPrefix {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (32 / 128 when not written).
    pub len: u8,
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// One `virtual_ipaddress` (or `static_ipaddress`) line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualIp {
    /// `ADDR[/LEN]` (default /32 or /128).
    pub addr: IpPrefix,
    /// `brd`
    pub brd: Option<Broadcast>,
    /// `dev` (default: the instance's interface).
    pub dev: Option<String>,
    /// `label` (ifconfig-style alias, e.g. `eth1:1`).
    pub label: Option<String>,
    /// `scope`
    pub scope: Option<Scope>,
    /// `peer ADDR`
    pub peer: Option<IpAddr>,
    /// `no_track`
    pub no_track: bool,
    /// Flags passed to the kernel as written: `home`, `-nodad`, `mngtmpaddr`,
    /// `noprefixroute`, `autojoin`.
    pub flags: Vec<String>,
    /// `preferred_lft N|forever`
    pub preferred_lft: Option<String>,
    /// `track_group NAME` (static addresses only).
    pub track_group: Option<String>,
}

/// A route line (`static_routes`, `virtual_routes`). The fields vipd uses are
/// typed; everything else is kept verbatim in `options`, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Route type written before the destination (`blackhole`, `unreachable`...).
    pub kind: Option<String>,
    /// Destination (`default` is 0.0.0.0/0).
    pub to: IpPrefix,
    /// `src ADDR`
    pub src: Option<IpAddr>,
    /// `via ADDR` (`gw` is the deprecated spelling).
    pub via: Option<IpAddr>,
    /// `dev IF`
    pub dev: Option<String>,
    /// `table N|NAME`
    pub table: Option<String>,
    /// `metric N` (also `priority`, `preference`)
    pub metric: Option<u32>,
    /// `scope`
    pub scope: Option<Scope>,
    /// `no_track`
    pub no_track: bool,
    /// Other options, verbatim (`nexthop ...`, `mtu 1000`, `onlink`, ...).
    pub options: Vec<String>,
}

/// A rule line (`static_rules`, `virtual_rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `from PREFIX`
    pub from: Option<IpPrefix>,
    /// `to PREFIX`
    pub to: Option<IpPrefix>,
    /// `table N|NAME`
    pub table: Option<String>,
    /// `preference N` (also `priority`, `prio`)
    pub preference: Option<u32>,
    /// `no_track`
    pub no_track: bool,
    /// Other options, verbatim.
    pub options: Vec<String>,
}

/// `unicast_peer { ADDR [min_ttl N] [max_ttl N] }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    /// Peer address.
    pub addr: IpAddr,
    /// `min_ttl`
    pub min_ttl: Option<u8>,
    /// `max_ttl`
    pub max_ttl: Option<u8>,
}

/// `vrrp_instance NAME { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpInstance {
    /// Name.
    pub name: String,
    /// `state` (None: BACKUP).
    pub state: Option<VrrpState>,
    /// `interface`
    pub interface: Option<String>,
    /// `virtual_router_id` 1..=255 (required).
    pub virtual_router_id: u8,
    /// `priority` 1..=255 (default 100).
    pub priority: u8,
    /// `advert_int` (default 1 s; sub-second allowed).
    pub advert_int: Duration,
    /// `version` 2|3 (None: global `vrrp_version`, default 2).
    pub version: Option<u8>,
    /// `authentication { ... }`
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress { ... }`
    pub virtual_ipaddress: Vec<VirtualIp>,
    /// `virtual_ipaddress_excluded { ... }`
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    /// `virtual_routes { ... }`
    pub virtual_routes: Vec<Route>,
    /// `virtual_rules { ... }`
    pub virtual_rules: Vec<Rule>,
    /// `mcast_src_ip`
    pub mcast_src_ip: Option<IpAddr>,
    /// `unicast_src_ip`
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ... }` (non-empty: unicast mode).
    pub unicast_peer: Vec<UnicastPeer>,
    /// `mcast_dst_ip`
    pub mcast_dst_ip: Option<IpAddr>,
    /// `unicast_ttl`
    pub unicast_ttl: Option<u8>,
    /// `nopreempt`
    pub nopreempt: bool,
    /// `preempt_delay` (0..=1000 s).
    pub preempt_delay: Option<Duration>,
    /// `accept` (true) / `no_accept` (false).
    pub accept: Option<bool>,
    /// `dont_track_primary`
    pub dont_track_primary: bool,
    /// `track_interface { ... }`
    pub track_interface: Vec<Track>,
    /// `track_script { ... }`
    pub track_script: Vec<Track>,
    /// `garp_master_delay` (default: global, 5 s).
    pub garp_master_delay: Option<Duration>,
    /// `garp_master_repeat` (default: global, 5).
    pub garp_master_repeat: Option<u32>,
    /// `garp_master_refresh`
    pub garp_master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`
    pub garp_master_refresh_repeat: Option<u32>,
    /// `garp_lower_prio_delay`
    pub garp_lower_prio_delay: Option<Duration>,
    /// `garp_lower_prio_repeat`
    pub garp_lower_prio_repeat: Option<u32>,
    /// `down_timer_adverts` 1..=100 (default 3).
    pub down_timer_adverts: Option<u32>,
    /// `lower_prio_no_advert`
    pub lower_prio_no_advert: Option<bool>,
    /// `higher_prio_send_advert`
    pub higher_prio_send_advert: Option<bool>,
    /// `skip_check_adv_addr`
    pub skip_check_adv_addr: Option<bool>,
    /// `strict_mode`
    pub strict_mode: Option<bool>,
    /// `check_unicast_src`
    pub check_unicast_src: bool,
    /// `promote_secondaries`
    pub promote_secondaries: bool,
    /// `notify_master`
    pub notify_master: Option<Notify>,
    /// `notify_backup`
    pub notify_backup: Option<Notify>,
    /// `notify_fault`
    pub notify_fault: Option<Notify>,
    /// `notify_stop`
    pub notify_stop: Option<Notify>,
    /// `notify`
    pub notify: Option<Notify>,
    /// `notify_master_rx_lower_pri`
    pub notify_master_rx_lower_pri: Option<Notify>,
    /// `smtp_alert`
    pub smtp_alert: Option<bool>,
    /// Where the block starts.
    #[serde(skip)]
    pub loc: Loc,
    /// Where `interface` was written.
    #[serde(skip)]
    pub interface_loc: Loc,
}

/// IPVS schedulers (`lb_algo` / `lvs_sched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbAlgo {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection.
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
}

impl LbAlgo {
    /// Every scheduler, in keepalived's documentation order.
    pub const ALL: [LbAlgo; 14] = [
        LbAlgo::Rr,
        LbAlgo::Wrr,
        LbAlgo::Lc,
        LbAlgo::Wlc,
        LbAlgo::Lblc,
        LbAlgo::Sh,
        LbAlgo::Mh,
        LbAlgo::Dh,
        LbAlgo::Fo,
        LbAlgo::Ovf,
        LbAlgo::Lblcr,
        LbAlgo::Sed,
        LbAlgo::Nq,
        LbAlgo::Twos,
    ];
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            LbAlgo::Rr => "rr",
            LbAlgo::Wrr => "wrr",
            LbAlgo::Lc => "lc",
            LbAlgo::Wlc => "wlc",
            LbAlgo::Lblc => "lblc",
            LbAlgo::Lblcr => "lblcr",
            LbAlgo::Dh => "dh",
            LbAlgo::Sh => "sh",
            LbAlgo::Sed => "sed",
            LbAlgo::Nq => "nq",
            LbAlgo::Fo => "fo",
            LbAlgo::Ovf => "ovf",
            LbAlgo::Mh => "mh",
            LbAlgo::Twos => "twos",
        }
    }
    /// Parses a keyword (exact, lower case, as keepalived).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Forwarding method (`lb_kind` / `lvs_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LbKind {
    /// Masquerading: replies come back through the director.
    Nat,
    /// Direct routing: MAC rewrite on a shared LAN.
    Dr,
    /// IP-in-IP tunnel (the seed's).
    Tun,
}

impl LbKind {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            LbKind::Nat => "NAT",
            LbKind::Dr => "DR",
            LbKind::Tun => "TUN",
        }
    }
    /// Parses a keyword (upper case, as keepalived).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NAT" => Some(LbKind::Nat),
            "DR" => Some(LbKind::Dr),
            "TUN" => Some(LbKind::Tun),
            _ => None,
        }
    }
}

/// Tunnel encapsulation for TUN (`lvs_method TUN type ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// IP-in-IP (the default).
    Ipip,
    /// GUE on a UDP port.
    Gue {
        /// UDP port.
        port: u16,
    },
    /// GRE.
    Gre,
}

/// L4 protocol of a virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// What a virtual server listens on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VsKey {
    /// `virtual_server IP PORT` (port 0: all ports, persistent services only).
    Addr {
        /// VIP.
        ip: IpAddr,
        /// Port.
        port: u16,
    },
    /// `virtual_server fwmark N`
    Fwmark(u32),
    /// `virtual_server group NAME`
    Group(String),
}

impl fmt::Display for VsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VsKey::Addr { ip, port } => write!(f, "{ip} {port}"),
            VsKey::Fwmark(m) => write!(f, "fwmark {m}"),
            VsKey::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// IP family for fwmark services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// `inet`
    Inet,
    /// `inet6`
    Inet6,
}

/// `sorry_server IP [PORT]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SorryServer {
    /// Address.
    pub ip: IpAddr,
    /// Port (default: the virtual server's).
    pub port: Option<u16>,
}

/// `virtual_server ... { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    /// What it listens on.
    pub key: VsKey,
    /// `protocol` (default TCP).
    pub protocol: Protocol,
    /// `lb_algo` / `lvs_sched` (default wlc).
    pub lb_algo: LbAlgo,
    /// `lb_kind` / `lvs_method` (default NAT).
    pub lb_kind: LbKind,
    /// `lvs_method TUN type ...`
    pub tunnel_type: Option<TunnelType>,
    /// `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// `persistence_timeout` in seconds (None: no persistence; the keyword
    /// without a value means 360).
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity` (a netmask).
    pub persistence_granularity: Option<IpAddr>,
    /// `persistence_engine`
    pub persistence_engine: Option<String>,
    /// Scheduler flags: `flag-1`..`flag-3`, `sh-port`, `sh-fallback`, `mh-port`,
    /// `mh-fallback`, `ops`.
    pub sched_flags: Vec<String>,
    /// `ha_suspend`
    pub ha_suspend: bool,
    /// `alpha`
    pub alpha: bool,
    /// `omega`
    pub omega: bool,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up`
    pub quorum_up: Option<Notify>,
    /// `quorum_down`
    pub quorum_down: Option<Notify>,
    /// `inhibit_on_failure`
    pub inhibit_on_failure: bool,
    /// `sorry_server`
    pub sorry_server: Option<SorryServer>,
    /// `sorry_server_inhibit`
    pub sorry_server_inhibit: bool,
    /// `sorry_server_lvs_method`
    pub sorry_server_lvs_method: Option<LbKind>,
    /// `virtualhost` (default for HTTP checks).
    pub virtualhost: Option<String>,
    /// `ip_family`
    pub ip_family: Option<Family>,
    /// `smtp_alert`
    pub smtp_alert: Option<bool>,
    /// `connect_timeout` (default for checkers; keepalived's default 5 s).
    pub connect_timeout: Option<Duration>,
    /// `retry` (default for checkers).
    pub retry: Option<u32>,
    /// `delay_before_retry` (default for checkers).
    pub delay_before_retry: Option<Duration>,
    /// `warmup` (default for checkers).
    pub warmup: Option<Duration>,
    /// `real_server`s.
    pub real_servers: Vec<RealServer>,
    /// Where the block starts.
    #[serde(skip)]
    pub loc: Loc,
    /// Where `lb_algo` was written.
    #[serde(skip)]
    pub lb_algo_loc: Loc,
    /// Where `lb_kind` was written.
    #[serde(skip)]
    pub lb_kind_loc: Loc,
}

/// `real_server IP [PORT] { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    /// RIP.
    pub ip: IpAddr,
    /// Port (the virtual server's when not written; 0 for fwmark services).
    pub port: u16,
    /// `weight` (default 1; 0..=65535).
    pub weight: u32,
    /// `lvs_method` (default: the virtual server's).
    pub lvs_method: Option<LbKind>,
    /// `inhibit_on_failure` (default: the virtual server's).
    pub inhibit_on_failure: Option<bool>,
    /// `alpha` (default: the virtual server's).
    pub alpha: Option<bool>,
    /// `notify_up`
    pub notify_up: Option<Notify>,
    /// `notify_down`
    pub notify_down: Option<Notify>,
    /// `uthreshold`
    pub uthreshold: Option<u32>,
    /// `lthreshold`
    pub lthreshold: Option<u32>,
    /// `virtualhost`
    pub virtualhost: Option<String>,
    /// `smtp_alert`
    pub smtp_alert: Option<bool>,
    /// `connect_timeout` (default for this server's checkers).
    pub connect_timeout: Option<Duration>,
    /// `retry`
    pub retry: Option<u32>,
    /// `delay_before_retry`
    pub delay_before_retry: Option<Duration>,
    /// `warmup`
    pub warmup: Option<Duration>,
    /// `delay_loop`
    pub delay_loop: Option<Duration>,
    /// Health checkers.
    pub checkers: Vec<Checker>,
    /// Where the block starts.
    #[serde(skip)]
    pub loc: Loc,
}

/// Options every checker (but BFD_CHECK / FILE_CHECK) has. `None`: inherit from
/// the real server, then the virtual server, then keepalived's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckerCommon {
    /// `connect_ip` (default: the real server's address).
    pub connect_ip: Option<IpAddr>,
    /// `connect_port` (default: the real server's port).
    pub connect_port: Option<u16>,
    /// `bindto`
    pub bindto: Option<IpAddr>,
    /// `bind_if`
    pub bind_if: Option<String>,
    /// `bind_port`
    pub bind_port: Option<u16>,
    /// `fwmark` put on probe packets.
    pub fwmark: Option<u32>,
    /// `connect_timeout` (default 5 s).
    pub connect_timeout: Option<Duration>,
    /// `retry` (`nb_get_retry` in keepalived 1.2.x; default 1, 3 for DNS_CHECK,
    /// 0 for MISC_CHECK).
    pub retry: Option<u32>,
    /// `delay_before_retry` (default 1 s; 3 s for HTTP/SSL).
    pub delay_before_retry: Option<Duration>,
    /// `warmup` (default: up to delay_loop).
    pub warmup: Option<Duration>,
    /// `delay_loop` (default: the virtual server's).
    pub delay_loop: Option<Duration>,
    /// `alpha`
    pub alpha: Option<bool>,
    /// `log_all_failures`
    pub log_all_failures: Option<bool>,
    /// Where `connect_ip` was written.
    #[serde(skip)]
    pub connect_ip_loc: Loc,
    /// Where `bindto` was written.
    #[serde(skip)]
    pub bindto_loc: Loc,
}

/// A `status_code` range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRange {
    /// First code.
    pub from: u16,
    /// Last code.
    pub to: u16,
}

/// `url { ... }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    /// `path`
    pub path: String,
    /// `digest` (MD5 of the body, 32 hex digits, lower case).
    pub digest: Option<String>,
    /// `status_code` ranges (empty: 200-299).
    pub status_code: Vec<StatusRange>,
    /// `virtualhost`
    pub virtualhost: Option<String>,
    /// `regex`
    pub regex: Option<String>,
    /// `regex_no_match`
    pub regex_no_match: bool,
}

/// HTTP_GET / SSL_GET settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// `url` blocks.
    pub urls: Vec<Url>,
    /// `http_protocol` 1.0 | 1.0C | 1.1
    pub http_protocol: Option<String>,
    /// `virtualhost`
    pub virtualhost: Option<String>,
    /// `fast_recovery`
    pub fast_recovery: Option<bool>,
    /// `enable_sni` (SSL_GET)
    pub enable_sni: bool,
    /// `verify_cert [CA_FILE]` (SSL_GET): verify the server's certificate
    /// chain (against CA_FILE, else the system's roots) and name.
    #[serde(default)]
    pub verify_cert: Option<VerifyCert>,
}

/// `verify_cert [CA_FILE]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyCert {
    /// PEM file of the CAs to trust (None: the system's roots).
    pub ca_file: Option<String>,
}

/// The kind of a checker and its own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// `TCP_CHECK`: a TCP connect.
    #[serde(rename = "TCP_CHECK")]
    Tcp,
    /// `HTTP_GET`
    #[serde(rename = "HTTP_GET")]
    Http(HttpCheck),
    /// `SSL_GET`
    #[serde(rename = "SSL_GET")]
    Ssl(HttpCheck),
    /// `SMTP_CHECK`
    #[serde(rename = "SMTP_CHECK")]
    Smtp {
        /// `helo_name`
        helo_name: Option<String>,
    },
    /// `DNS_CHECK`
    #[serde(rename = "DNS_CHECK")]
    Dns {
        /// `type` (default SOA).
        r#type: Option<String>,
        /// `name` (default `.`).
        name: Option<String>,
    },
    /// `MISC_CHECK`
    #[serde(rename = "MISC_CHECK")]
    Misc {
        /// `misc_path`
        misc_path: Option<String>,
        /// `misc_timeout`
        misc_timeout: Option<Duration>,
        /// `misc_dynamic`
        misc_dynamic: bool,
        /// `user`
        user: Option<ScriptUser>,
    },
    /// `UDP_CHECK`
    #[serde(rename = "UDP_CHECK")]
    Udp {
        /// `payload` (hex as written).
        payload: Option<String>,
        /// `require_reply [HEX]` (Some("") without data).
        require_reply: Option<String>,
        /// `min_reply_length`
        min_reply_length: Option<u32>,
        /// `max_reply_length`
        max_reply_length: Option<u32>,
    },
    /// `PING_CHECK`
    #[serde(rename = "PING_CHECK")]
    Ping,
    /// `FILE_CHECK`
    #[serde(rename = "FILE_CHECK")]
    File {
        /// `track_file`
        track_file: Option<String>,
        /// `dynamic`
        dynamic: bool,
        /// `weight`
        weight: Option<i32>,
        /// `weight N reverse`
        reverse: bool,
    },
    /// `BFD_CHECK`
    #[serde(rename = "BFD_CHECK")]
    Bfd {
        /// `name`
        name: Option<String>,
    },
}

impl CheckKind {
    /// The block keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Ssl(_) => "SSL_GET",
            CheckKind::Smtp { .. } => "SMTP_CHECK",
            CheckKind::Dns { .. } => "DNS_CHECK",
            CheckKind::Misc { .. } => "MISC_CHECK",
            CheckKind::Udp { .. } => "UDP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::File { .. } => "FILE_CHECK",
            CheckKind::Bfd { .. } => "BFD_CHECK",
        }
    }
}

/// One health checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    /// Kind and kind-specific settings.
    pub kind: CheckKind,
    /// Common settings.
    pub common: CheckerCommon,
    /// Where the block starts.
    #[serde(skip)]
    pub loc: Loc,
}

/// One entry of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VsgEntry {
    /// `ADDR[-LAST] [PORT]` or `ADDR/LEN [PORT]`: the addresses first..=last.
    Range {
        /// First address.
        first: IpAddr,
        /// Last address (equal to `first` for a single address).
        last: IpAddr,
        /// Port (0 when omitted).
        port: u16,
    },
    /// `fwmark N [inet|inet6]`
    Fwmark {
        /// Mark.
        mark: u32,
        /// Family.
        family: Option<Family>,
    },
}

/// `virtual_server_group NAME { ... }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    /// Name.
    pub name: String,
    /// Entries.
    pub entries: Vec<VsgEntry>,
    /// Where it was defined.
    #[serde(skip)]
    pub loc: Loc,
}
