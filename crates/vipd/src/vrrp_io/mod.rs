//! VRRP's IO shell: drives `vipd_core::vrrp::Node` with real sockets, rtnetlink and
//! the clock.
//!
//! # Layout
//! - [`socket`]: the raw protocol-112 socket of an instance (multicast join, TTL 255).
//! - [`netlink`]: interface facts and VIP add/delete (with `label`).
//! - [`garp`]: gratuitous ARP through a packet socket.
//! - [`notify`]: `notify_*` scripts with keepalived's arguments, `vrrp_script` runs.
//! - [`driver`]: the event loop: packets, timers, link state, scripts, SIGTERM.
//! - [`spec`]: what the driver needs; [`from_config`] builds it from the config model.
//!
//! `vipd -f FILE -P` (VRRP only) runs the driver through `crate::daemon`.

pub mod driver;
pub mod from_config;
pub mod garp;
pub mod netlink;
pub mod notify;
pub mod socket;
pub mod spec;

pub use driver::run;
pub use spec::{InstanceSpec, NotifySpec, ScriptSpec, VipSpec, VrrpSpec};

/// Why VRRP could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum VrrpIoError {
    /// The interface named in the config does not exist in this namespace.
    #[error("interface {name} does not exist: check `interface`/`dev` in the config, or `ip link` on this node")]
    NoInterface {
        /// The name.
        name: String,
    },
    /// No address to send adverts from.
    #[error("vrrp_instance {instance}: interface {interface} has no address of the instance's family to send adverts from (an IPv4 address; for IPv6, a link-local address that passed duplicate address detection, which needs the link up): add one (ip addr add ... dev {interface}) or set unicast_src_ip")]
    NoPrimaryAddress {
        /// Instance.
        instance: String,
        /// Interface.
        interface: String,
    },
    /// A socket could not be opened or configured.
    #[error("vrrp_instance {instance}: {what}: {source} (vipd needs root or CAP_NET_RAW + CAP_NET_ADMIN)")]
    Socket {
        /// Instance.
        instance: String,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A netlink request failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The error.
        source: rtnetlink::Error,
    },
    /// The netlink connection could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    NetlinkOpen(std::io::Error),
    /// The instance configuration is invalid.
    #[error("{0}")]
    Config(#[from] vipd_core::vrrp::ConfigError),
    /// A sync group is invalid.
    #[error("{0}")]
    SyncGroup(#[from] vipd_core::vrrp::group::UnknownMember),
    /// The config model cannot be run by the VRRP engine: why, and where in
    /// the configuration.
    #[error("{0}")]
    Unsupported(String, vipd_core::config::Loc),
}

impl VrrpIoError {
    fn netlink(what: &'static str) -> impl Fn(rtnetlink::Error) -> Self {
        move |source| VrrpIoError::Netlink {
            what: what.to_string(),
            source,
        }
    }
}
