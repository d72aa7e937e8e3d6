//! VRRP (RFC 3768 v2, RFC 5798 v3 for IPv4), spoken as keepalived speaks it.
//!
//! # Layout
//! - [`checksum`]: the Internet checksum and the IPv4 pseudo-header sum.
//! - [`frame`]: the Ethernet and IPv4 headers around adverts and ARP.
//! - [`packet`]: VRRP adverts, `Packet` (checked view) and `Repr` (meaning).
//! - [`arp`]: gratuitous ARP.
//! - [`timer`]: the named timers of an instance.
//! - [`instance`]: one `vrrp_instance` as a sans-IO state machine.
//! - [`track`]: `vrrp_script` rise/fall verdicts.
//! - [`group`]: a node's instances and their sync groups, driven together.
//!
//! All of it is pure: the IO shell (`vipd::vrrp_io`) owns sockets and the clock.

pub mod arp;
pub mod checksum;
pub mod frame;
pub mod group;
pub mod instance;
pub mod nd;
pub mod packet;
pub mod timer;
pub mod track;

pub use group::{Node, SyncGroupConfig};
pub use instance::{
    Accepted, Action, ConfigError, Discard, Instance, InstanceConfig, Reason, State, Track,
    TrackKind,
};
pub use packet::{Auth, ChecksumMode, Packet, PacketError, Received, Repr, Version};
pub use timer::Timer;
pub use track::ScriptVerdict;
