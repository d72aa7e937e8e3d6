//! VRRP (RFC 3768 v2, RFC 5798 v3 for IPv4), spoken as keepalived speaks it.
//!
//! # Layout
//! - [`checksum`]: the Internet checksum and the IPv4 pseudo-header sum.
//! - [`frame`]: the Ethernet and IPv4 headers around adverts and ARP.
//! - [`packet`]: VRRP adverts, `Packet` (checked view) and `Repr` (meaning).
//! - [`arp`]: gratuitous ARP.
//!
//! All of it is pure: the IO shell (`vipd::vrrp_io`) owns sockets and the clock.

pub mod arp;
pub mod checksum;
pub mod frame;
pub mod packet;

pub use packet::{Auth, ChecksumMode, Packet, PacketError, Repr, Version};
