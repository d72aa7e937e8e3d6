//! The Ethernet and IPv4 headers around VRRP advertisements and ARP.
//!
//! Only what VRRP needs: a raw socket for protocol 112 hands us whole IPv4 datagrams
//! (header included) and the receive checks need the header's TTL, source and
//! destination (RFC 3768 §7.1, RFC 5798 §7.1). Test fixtures are Ethernet frames.
//! Same `Packet`/`Repr` split as [`super::packet`]: parsing never panics.

use std::net::Ipv4Addr;

use super::checksum;

/// Length of an Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Length of an IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// Type of service keepalived (and the RFC's "internetwork control" precedence,
/// RFC 791 §3.1) puts on adverts: 0xc0.
pub const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

/// Why a frame or datagram could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the header (or its length fields) promise.
    #[error("truncated: {len} bytes, need {need}")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Not IPv4 (version nibble), or an IHL below 5.
    #[error("not an IPv4 header (version {version}, ihl {ihl})")]
    NotIpv4 {
        /// The version nibble.
        version: u8,
        /// The IHL nibble.
        ihl: u8,
    },
    /// The IPv4 header checksum is wrong.
    #[error("bad IPv4 header checksum")]
    BadChecksum,
    /// A fragment: VRRP adverts are never fragmented, reassembly is not our job.
    #[error("IPv4 fragment")]
    Fragment,
}

/// A MAC address.
pub type Mac = [u8; 6];
/// The broadcast MAC.
pub const BROADCAST_MAC: Mac = [0xff; 6];

/// The Ethernet multicast MAC of an IPv4 multicast group (RFC 1112 §6.4):
/// 01:00:5e + the low 23 bits of the group.
pub fn multicast_mac(group: Ipv4Addr) -> Mac {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// A parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    /// Destination MAC.
    pub dst: Mac,
    /// Source MAC.
    pub src: Mac,
    /// EtherType.
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header; the payload starts at [`ETHERNET_HEADER_LEN`].
    pub fn parse(frame: &[u8]) -> Result<Self, FrameError> {
        if frame.len() < ETHERNET_HEADER_LEN {
            return Err(FrameError::Truncated {
                len: frame.len(),
                need: ETHERNET_HEADER_LEN,
            });
        }
        let mut dst = [0; 6];
        let mut src = [0; 6];
        dst.copy_from_slice(&frame[0..6]);
        src.copy_from_slice(&frame[6..12]);
        Ok(Self {
            dst,
            src,
            ethertype: u16::from_be_bytes([frame[12], frame[13]]),
        })
    }

    /// Writes the 14 header bytes to the front of `buf` (which must hold them).
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..6].copy_from_slice(&self.dst);
        buf[6..12].copy_from_slice(&self.src);
        buf[12..14].copy_from_slice(&self.ethertype.to_be_bytes());
    }
}

/// A parsed IPv4 header (options are skipped on parse and never emitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service / DSCP+ECN byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// Length of the payload after the header.
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Reads an IPv4 header from `datagram`; returns it and the header length.
    /// Checks the header checksum and refuses fragments.
    pub fn parse(datagram: &[u8]) -> Result<(Self, usize), FrameError> {
        if datagram.len() < IPV4_HEADER_LEN {
            return Err(FrameError::Truncated {
                len: datagram.len(),
                need: IPV4_HEADER_LEN,
            });
        }
        let version = datagram[0] >> 4;
        let ihl = datagram[0] & 0x0f;
        if version != 4 || ihl < 5 {
            return Err(FrameError::NotIpv4 { version, ihl });
        }
        let header_len = usize::from(ihl) * 4;
        let total_len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if datagram.len() < header_len || datagram.len() < total_len || total_len < header_len {
            return Err(FrameError::Truncated {
                len: datagram.len(),
                need: total_len.max(header_len),
            });
        }
        if checksum::checksum(&datagram[..header_len]) != 0 {
            return Err(FrameError::BadChecksum);
        }
        let flags_frag = u16::from_be_bytes([datagram[6], datagram[7]]);
        // More-fragments set, or a non-zero offset.
        if flags_frag & 0x2000 != 0 || flags_frag & 0x1fff != 0 {
            return Err(FrameError::Fragment);
        }
        let addr = |at: usize| {
            Ipv4Addr::new(
                datagram[at],
                datagram[at + 1],
                datagram[at + 2],
                datagram[at + 3],
            )
        };
        Ok((
            Self {
                src: addr(12),
                dst: addr(16),
                protocol: datagram[9],
                ttl: datagram[8],
                tos: datagram[1],
                ident: u16::from_be_bytes([datagram[4], datagram[5]]),
                dont_frag: flags_frag & 0x4000 != 0,
                payload_len: total_len - header_len,
            },
            header_len,
        ))
    }

    /// Writes a 20-byte header with a correct checksum to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let total = (IPV4_HEADER_LEN + self.payload_len) as u16;
        buf[0] = 0x45;
        buf[1] = self.tos;
        buf[2..4].copy_from_slice(&total.to_be_bytes());
        buf[4..6].copy_from_slice(&self.ident.to_be_bytes());
        let flags: u16 = if self.dont_frag { 0x4000 } else { 0 };
        buf[6..8].copy_from_slice(&flags.to_be_bytes());
        buf[8] = self.ttl;
        buf[9] = self.protocol;
        buf[10..12].copy_from_slice(&[0, 0]);
        buf[12..16].copy_from_slice(&self.src.octets());
        buf[16..20].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(&buf[..IPV4_HEADER_LEN]);
        buf[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_mac_of_vrrp_group() {
        assert_eq!(
            multicast_mac(Ipv4Addr::new(224, 0, 0, 18)),
            [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]
        );
    }

    #[test]
    fn ipv4_roundtrip_and_checks() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(224, 0, 0, 18),
            protocol: 112,
            ttl: 255,
            tos: 0xc0,
            ident: 7,
            dont_frag: false,
            payload_len: 4,
        };
        let mut buf = [0u8; 24];
        repr.emit(&mut buf);
        assert_eq!(Ipv4Repr::parse(&buf), Ok((repr, 20)));
        buf[8] = 254;
        assert_eq!(Ipv4Repr::parse(&buf), Err(FrameError::BadChecksum));
        assert!(matches!(
            Ipv4Repr::parse(&buf[..10]),
            Err(FrameError::Truncated { .. })
        ));
    }
}
