//! VRRP advertisements on the wire: version 2 (RFC 3768 §5) and version 3 for IPv4
//! and IPv6 (RFC 5798 §5), as keepalived sends them.
//!
//! [`Packet`] is a checked view over bytes with the fields at named offsets;
//! [`Repr`] is the parsed, validated meaning with [`Repr::parse`] / [`Repr::emit`] /
//! [`Repr::buffer_len`]. Parsing never panics on untrusted bytes.
//!
//! ```text
//! v2 (RFC 3768 §5.1)                     v3 (RFC 5798 §5.1)
//!  0: ver|type  vrid  priority  count     0: ver|type  vrid  priority  count
//!  4: auth_type adver_int checksum        4: rsvd|max_adver_int(12) checksum
//!  8: IPv4 addresses (count x 4)          8: IPv4 addresses (count x 4), or
//!  .. auth data (8 bytes)                     IPv6 addresses (count x 16)
//! ```
//!
//! A message does not say its address family: the IP header it came in does.
//! [`Packet::new_checked`] reads IPv4 addresses, [`Packet::new_checked_v6`]
//! IPv6 ones; a [`Repr`] holds one family.
//!
//! Checksums: v2 covers the VRRP message only (RFC 3768 §5.3.8). v3 covers the IPv4
//! pseudo-header too (RFC 5798 §5.2.8); that is what keepalived does by default.
//! Some v3 peers checksum v3 like v2 (keepalived's `v3_checksum_as_v2` option,
//! for the implementations RFC 9568 §5.2.8 mentions), so [`ChecksumMode`] selects
//! which one we send and accept, and a mismatch is reported with a hint.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;

/// IP protocol number of VRRP (RFC 3768 §5.2.4).
pub const PROTOCOL: u8 = 112;
/// The VRRP IPv4 multicast group (RFC 3768 §5.2.2).
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The VRRP IPv6 multicast group (RFC 5798 §5.1.2.2).
pub const MULTICAST_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL adverts are sent with and, on multicast, must arrive with (RFC 3768 §5.2.3).
pub const TTL: u8 = 255;
/// Length of the fixed part of the message (before the addresses).
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP message type (RFC 3768 §5.3.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Priority of the address owner (RFC 3768 §5.3.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority sent by a master that stops (RFC 3768 §5.3.4).
pub const PRIORITY_STOP: u8 = 0;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// RFC 3768.
    V2,
    /// RFC 5798.
    V3,
}

impl Version {
    /// The wire value of the version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Authentication carried by a v2 advert (RFC 3768 §5.3.6). v3 has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Auth type 0.
    None,
    /// Auth type 1, "simple text password": the first 8 bytes of `auth_pass`,
    /// zero-padded (keepalived truncates longer passwords to 8 characters).
    Pass([u8; AUTH_DATA_LEN]),
}

impl Auth {
    /// A PASS authentication from the configured `auth_pass` text: only its first 8
    /// bytes count, as keepalived does.
    pub fn pass(text: &str) -> Self {
        let mut data = [0u8; AUTH_DATA_LEN];
        let bytes = text.as_bytes();
        let n = bytes.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&bytes[..n]);
        Auth::Pass(data)
    }

    fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Pass(_) => 1,
        }
    }
}

/// Which checksum a v3 advert carries. v2 always uses [`ChecksumMode::MessageOnly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Over the IPv4 pseudo-header and the message: RFC 5798 §5.2.8, keepalived's default.
    PseudoHeader {
        /// IPv4 source of the datagram.
        src: Ipv4Addr,
        /// IPv4 destination (the multicast group, or the unicast peer).
        dst: Ipv4Addr,
    },
    /// Over the IPv6 pseudo-header and the message (RFC 5798 §5.2.8 with RFC
    /// 8200 §8.1's pseudo-header): every IPv6 advert.
    PseudoHeader6 {
        /// IPv6 source (the sender's link-local address).
        src: Ipv6Addr,
        /// IPv6 destination (ff02::12, or the unicast peer).
        dst: Ipv6Addr,
    },
    /// Over the message only, like v2 (keepalived's `v3_checksum_as_v2`).
    MessageOnly,
}

impl ChecksumMode {
    /// The mode for a message of `version` between `src` and `dst`.
    pub fn for_version(version: Version, src: Ipv4Addr, dst: Ipv4Addr, v3_as_v2: bool) -> Self {
        match version {
            Version::V3 if !v3_as_v2 => ChecksumMode::PseudoHeader { src, dst },
            _ => ChecksumMode::MessageOnly,
        }
    }

    /// [`ChecksumMode::for_version`] for either family: IPv6 adverts always
    /// include the IPv6 pseudo-header (`v3_checksum_as_v2` is IPv4's).
    pub fn for_addrs(version: Version, src: IpAddr, dst: IpAddr, v3_as_v2: bool) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Self::for_version(version, s, d, v3_as_v2),
            (IpAddr::V6(src), IpAddr::V6(dst)) => ChecksumMode::PseudoHeader6 { src, dst },
            _ => ChecksumMode::MessageOnly,
        }
    }

    fn initial_sum(self, len: usize) -> u32 {
        match self {
            ChecksumMode::PseudoHeader { src, dst } => {
                checksum::pseudo_header_sum(src, dst, PROTOCOL, len as u16)
            }
            ChecksumMode::PseudoHeader6 { src, dst } => {
                checksum::pseudo_header6_sum(src, dst, PROTOCOL, len as u32)
            }
            ChecksumMode::MessageOnly => 0,
        }
    }
}

/// Why bytes are not an advert we accept. Each variant names the RFC rule it
/// enforces (RFC 3768 §7.1, RFC 5798 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than the header, its addresses or its auth data.
    #[error("truncated VRRP message: {len} bytes, need {need}")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Version nibble neither 2 nor 3.
    #[error("unknown VRRP version {0}")]
    UnknownVersion(u8),
    /// Type other than advertisement (RFC 3768 §5.3.2: MUST be discarded).
    #[error("unknown VRRP packet type {0}")]
    UnknownType(u8),
    /// v2 auth type 2, IP Authentication Header: RFC 3768 removed it and vipd does
    /// not implement it.
    #[error("advert uses AH authentication (auth type 2), which vipd does not support: use auth_type PASS or none on every node")]
    AhAuth,
    /// An auth type that does not exist.
    #[error("unknown VRRP auth type {0}")]
    UnknownAuthType(u8),
    /// The checksum does not match.
    #[error("bad VRRP checksum{}", hint_text(*.hint))]
    BadChecksum {
        /// Set when the message checksums in the other v3 style, so the peer's
        /// `v3_checksum_as_v2` setting differs from ours.
        hint: Option<ChecksumHint>,
    },
    /// v2 advert interval of 0 seconds, v3 of 0 centiseconds.
    #[error("advert interval of zero")]
    ZeroInterval,
}

/// What a v3 checksum mismatch suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumHint {
    /// We expected a pseudo-header checksum; the peer sent a v2-style one.
    PeerUsesV2Style,
    /// We expected a v2-style checksum; the peer included the pseudo-header.
    PeerUsesPseudoHeader,
}

fn hint_text(hint: Option<ChecksumHint>) -> &'static str {
    match hint {
        None => "",
        Some(ChecksumHint::PeerUsesV2Style) => {
            " (the sender checksums v3 like v2: set v3_checksum_as_v2 here, or unset it there)"
        }
        Some(ChecksumHint::PeerUsesPseudoHeader) => {
            " (the sender includes the IPv4 pseudo-header: remove v3_checksum_as_v2 here, or set it there)"
        }
    }
}

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2 only.
    pub const AUTH_TYPE: usize = 4;
    /// v2 only, seconds.
    pub const ADVER_INT: usize = 5;
    /// v3 only: 4 reserved bits + 12 bits of centiseconds.
    pub const MAX_ADVER_INT: std::ops::Range<usize> = 4..6;
    pub const CHECKSUM: std::ops::Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// A checked view of a VRRP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    /// 4 (IPv4 addresses) or 16 (IPv6).
    addr_len: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes (of an IPv4 advert) without checking their length:
    /// accessors may panic.
    pub fn new_unchecked(buffer: T) -> Self {
        Self {
            buffer,
            addr_len: 4,
        }
    }

    /// [`Packet::new_unchecked`] for an advert that came over IPv6.
    pub fn new_unchecked_v6(buffer: T) -> Self {
        Self {
            buffer,
            addr_len: 16,
        }
    }

    /// Wraps bytes (of an IPv4 advert) after checking they hold the header, the
    /// addresses it counts and, for v2, the auth data: every accessor is then
    /// safe.
    pub fn new_checked(buffer: T) -> Result<Self, PacketError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Packet::new_checked`] for an advert that came over IPv6.
    pub fn new_checked_v6(buffer: T) -> Result<Self, PacketError> {
        let packet = Self::new_unchecked_v6(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the length promised by the header against the buffer.
    pub fn check_len(&self) -> Result<(), PacketError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(PacketError::Truncated {
                len,
                need: HEADER_LEN,
            });
        }
        let need = self.message_len();
        if len < need {
            return Err(PacketError::Truncated { len, need });
        }
        Ok(())
    }

    /// The length of the message the header describes (the trailing bytes of the
    /// IP payload, if any, are not part of it).
    pub fn message_len(&self) -> usize {
        let addrs = HEADER_LEN + self.addr_len * usize::from(self.count_ip_addrs());
        if self.version_number() == 2 {
            addrs + AUTH_DATA_LEN
        } else {
            addrs
        }
    }

    /// The version nibble.
    pub fn version_number(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// The type nibble.
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    /// Virtual router id.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// Sender's priority.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// Number of addresses.
    pub fn count_ip_addrs(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 auth type.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2 advert interval in seconds.
    pub fn adver_int_secs(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3 max advert interval in centiseconds (the reserved bits are ignored on
    /// reception, RFC 5798 §5.2.5).
    pub fn max_adver_int_cs(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_ADVER_INT];
        u16::from_be_bytes([b[0], b[1]]) & 0x0fff
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The `index`th address (index < count).
    pub fn ip_addr(&self, index: usize) -> IpAddr {
        let at = field::ADDRS + self.addr_len * index;
        let b = &self.buffer.as_ref()[at..at + self.addr_len];
        match <[u8; 16]>::try_from(b) {
            Ok(b16) => IpAddr::V6(Ipv6Addr::from(b16)),
            Err(_) => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        }
    }

    /// v2 auth data.
    pub fn auth_data(&self) -> [u8; AUTH_DATA_LEN] {
        let at = field::ADDRS + self.addr_len * usize::from(self.count_ip_addrs());
        let mut data = [0u8; AUTH_DATA_LEN];
        data.copy_from_slice(&self.buffer.as_ref()[at..at + AUTH_DATA_LEN]);
        data
    }

    /// Whether the checksum is right under `mode`.
    pub fn verify_checksum(&self, mode: ChecksumMode) -> bool {
        let msg = &self.buffer.as_ref()[..self.message_len()];
        checksum::finish(checksum::accumulate(mode.initial_sum(msg.len()), msg)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Computes and stores the checksum under `mode`.
    pub fn fill_checksum(&mut self, mode: ChecksumMode) {
        let len = self.message_len();
        self.bytes_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let msg = &self.buffer.as_ref()[..len];
        let sum = checksum::finish(checksum::accumulate(mode.initial_sum(len), msg));
        self.bytes_mut()[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

/// A parsed advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id (1..=255).
    pub vrid: u8,
    /// Sender's priority: 255 owner, 0 stopping master.
    pub priority: u8,
    /// Advert interval in centiseconds. v2 carries whole seconds (emit rounds down,
    /// to at least 1 s); v3 carries 12 bits of centiseconds.
    pub adver_int_cs: u16,
    /// The virtual addresses, all of one family (IPv6 only with v3).
    pub addrs: Vec<IpAddr>,
    /// Authentication (v2 only; always [`Auth::None`] for v3).
    pub auth: Auth,
}

impl Repr {
    /// Parses and validates a message: version, type, auth type, checksum (under
    /// `mode`; for v2 the mode is ignored, its checksum never covers a
    /// pseudo-header).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        mode: ChecksumMode,
    ) -> Result<Self, PacketError> {
        packet.check_len()?;
        let version = match packet.version_number() {
            2 => Version::V2,
            3 => Version::V3,
            other => return Err(PacketError::UnknownVersion(other)),
        };
        // RFC 3768 §5.3.2 / RFC 5798 §5.2.2: other types MUST be discarded.
        if packet.packet_type() != TYPE_ADVERTISEMENT {
            return Err(PacketError::UnknownType(packet.packet_type()));
        }
        let mode = match version {
            Version::V2 => ChecksumMode::MessageOnly,
            Version::V3 => mode,
        };
        // RFC 3768 §7.1 / RFC 5798 §7.1: MUST verify the checksum.
        if !packet.verify_checksum(mode) {
            let hint = match (version, mode) {
                (Version::V3, ChecksumMode::PseudoHeader { .. })
                    if packet.verify_checksum(ChecksumMode::MessageOnly) =>
                {
                    Some(ChecksumHint::PeerUsesV2Style)
                }
                _ => None,
            };
            return Err(PacketError::BadChecksum { hint });
        }
        let (adver_int_cs, auth) = match version {
            Version::V2 => {
                let auth = match packet.auth_type() {
                    0 => Auth::None,
                    1 => Auth::Pass(packet.auth_data()),
                    2 => return Err(PacketError::AhAuth),
                    other => return Err(PacketError::UnknownAuthType(other)),
                };
                (u16::from(packet.adver_int_secs()) * 100, auth)
            }
            Version::V3 => (packet.max_adver_int_cs(), Auth::None),
        };
        if adver_int_cs == 0 {
            return Err(PacketError::ZeroInterval);
        }
        let addrs = (0..usize::from(packet.count_ip_addrs()))
            .map(|i| packet.ip_addr(i))
            .collect();
        Ok(Self {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            adver_int_cs,
            addrs,
            auth,
        })
    }

    /// Whether the addresses are IPv6 (the advert goes over IPv6).
    pub fn is_ipv6(&self) -> bool {
        self.addrs.first().is_some_and(IpAddr::is_ipv6)
    }

    fn addr_len(&self) -> usize {
        if self.is_ipv6() {
            16
        } else {
            4
        }
    }

    /// Bytes [`Repr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let addrs = HEADER_LEN + self.addr_len() * self.addrs.len().min(255);
        match self.version {
            Version::V2 => addrs + AUTH_DATA_LEN,
            Version::V3 => addrs,
        }
    }

    /// Writes the message with its checksum under `mode` (ignored for v2) into the
    /// front of `buf`, which must hold [`Repr::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8], mode: ChecksumMode) {
        let count = self.addrs.len().min(255);
        buf[field::VER_TYPE] = (self.version.number() << 4) | TYPE_ADVERTISEMENT;
        buf[field::VRID] = self.vrid;
        buf[field::PRIORITY] = self.priority;
        buf[field::COUNT] = count as u8;
        let mode = match self.version {
            Version::V2 => {
                buf[field::AUTH_TYPE] = self.auth.type_number();
                buf[field::ADVER_INT] = (self.adver_int_cs / 100).clamp(1, 255) as u8;
                ChecksumMode::MessageOnly
            }
            Version::V3 => {
                let cs = self.adver_int_cs.min(0x0fff);
                buf[field::MAX_ADVER_INT].copy_from_slice(&cs.to_be_bytes());
                mode
            }
        };
        let n = self.addr_len();
        for (i, addr) in self.addrs.iter().take(count).enumerate() {
            let at = field::ADDRS + n * i;
            match addr {
                IpAddr::V4(a) if n == 4 => buf[at..at + 4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) if n == 16 => buf[at..at + 16].copy_from_slice(&a.octets()),
                // Another family than the first address's: not this advert's.
                _ => buf[at..at + n].fill(0),
            }
        }
        if self.version == Version::V2 {
            let at = field::ADDRS + n * count;
            let data = match self.auth {
                Auth::None => [0; AUTH_DATA_LEN],
                Auth::Pass(data) => data,
            };
            buf[at..at + AUTH_DATA_LEN].copy_from_slice(&data);
        }
        let len = self.buffer_len();
        if n == 16 {
            Packet::new_unchecked_v6(&mut buf[..len]).fill_checksum(mode);
        } else {
            Packet::new_unchecked(&mut buf[..len]).fill_checksum(mode);
        }
    }

    /// The message as a new vector.
    pub fn to_bytes(&self, mode: ChecksumMode) -> Vec<u8> {
        let mut buf = vec![0; self.buffer_len()];
        self.emit(&mut buf, mode);
        buf
    }
}

/// An advert received in an IPv4 datagram, with the header fields the receive
/// checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Source: the sender's primary (IPv4) or link-local (IPv6) address.
    pub src: IpAddr,
    /// Destination: the multicast group or our unicast address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
    /// The advert.
    pub repr: Repr,
}

/// Why a datagram from the raw socket is not an advert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// The IPv4 header is bad.
    #[error("IPv4: {0}")]
    Ip(#[from] super::frame::FrameError),
    /// Not protocol 112.
    #[error("IP protocol {0}, not VRRP (112)")]
    NotVrrp(u8),
    /// The VRRP message is bad.
    #[error("{0}")]
    Vrrp(#[from] PacketError),
}

/// Wraps a VRRP message in the IPv4 header an advert travels in (protocol 112,
/// TOS internetwork control, DF clear): the whole datagram a raw socket
/// delivers, as [`parse_datagram`] reads it.
pub fn wrap_datagram(message: &[u8], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, ident: u16) -> Vec<u8> {
    use super::frame::{Ipv4Repr, IPV4_HEADER_LEN, TOS_INTERNETWORK_CONTROL};
    let mut datagram = vec![0u8; IPV4_HEADER_LEN + message.len()];
    Ipv4Repr {
        src,
        dst,
        protocol: PROTOCOL,
        ttl,
        tos: TOS_INTERNETWORK_CONTROL,
        ident,
        dont_frag: false,
        payload_len: message.len(),
    }
    .emit(&mut datagram);
    datagram[IPV4_HEADER_LEN..].copy_from_slice(message);
    datagram
}

/// Parses a whole IPv4 datagram (as a raw socket delivers it) carrying an advert.
/// `v3_as_v2` selects the v3 checksum style (see [`ChecksumMode`]).
pub fn parse_datagram(datagram: &[u8], v3_as_v2: bool) -> Result<Received, DatagramError> {
    let (ip, header_len) = super::frame::Ipv4Repr::parse(datagram)?;
    if ip.protocol != PROTOCOL {
        return Err(DatagramError::NotVrrp(ip.protocol));
    }
    let payload = &datagram[header_len..header_len + ip.payload_len];
    let packet = Packet::new_checked(payload)?;
    let mode = if v3_as_v2 {
        ChecksumMode::MessageOnly
    } else {
        ChecksumMode::PseudoHeader {
            src: ip.src,
            dst: ip.dst,
        }
    };
    let repr = match Repr::parse(&packet, mode) {
        // Explain a v3 drop when the sender includes the pseudo-header and we do not.
        Err(PacketError::BadChecksum { hint: None }) if v3_as_v2 => {
            let pseudo = ChecksumMode::PseudoHeader {
                src: ip.src,
                dst: ip.dst,
            };
            let hint = (packet.version_number() == 3 && packet.verify_checksum(pseudo))
                .then_some(ChecksumHint::PeerUsesPseudoHeader);
            return Err(PacketError::BadChecksum { hint }.into());
        }
        other => other?,
    };
    Ok(Received {
        src: ip.src.into(),
        dst: ip.dst.into(),
        ttl: ip.ttl,
        repr,
    })
}

/// An advert that came over IPv6: the message (a raw IPv6 socket gives no
/// header) with the source, destination and hop limit the socket reported.
pub fn parse_ipv6(
    msg: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<Received, DatagramError> {
    let packet = Packet::new_checked_v6(msg)?;
    let repr = Repr::parse(&packet, ChecksumMode::PseudoHeader6 { src, dst })?;
    Ok(Received {
        src: src.into(),
        dst: dst.into(),
        ttl: hop_limit,
        repr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 250);

    #[test]
    fn v2_pass_roundtrip() {
        // The payload of testdata/vrrp/vrrp-v2-adv.pcap (see testdata/README.md).
        let bytes = hex("2133640101010c0b0a6300fa3131313100000000");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&packet, ChecksumMode::MessageOnly).unwrap();
        assert_eq!(
            repr,
            Repr {
                version: Version::V2,
                vrid: 51,
                priority: 100,
                adver_int_cs: 100,
                addrs: vec![VIP.into()],
                auth: Auth::pass("1111"),
            }
        );
        assert_eq!(repr.to_bytes(ChecksumMode::MessageOnly), bytes);
    }

    #[test]
    fn v3_checksum_needs_the_pseudo_header() {
        let bytes = hex("31336401006474170a6300fa");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let mode = ChecksumMode::PseudoHeader {
            src: SRC,
            dst: MULTICAST_GROUP,
        };
        let repr = Repr::parse(&packet, mode).unwrap();
        assert_eq!(repr.adver_int_cs, 100);
        assert_eq!(repr.to_bytes(mode), bytes);
        // Wrong destination in the pseudo-header: refused.
        let wrong = ChecksumMode::PseudoHeader {
            src: SRC,
            dst: Ipv4Addr::new(10, 99, 0, 2),
        };
        assert!(matches!(
            Repr::parse(&packet, wrong),
            Err(PacketError::BadChecksum { hint: None })
        ));
        // As v2-style: refused, with the hint that the peer includes the pseudo-header.
        let datagram = wrap_datagram(&bytes, SRC, MULTICAST_GROUP, 255, 1);
        assert_eq!(
            parse_datagram(&datagram, true),
            Err(DatagramError::Vrrp(PacketError::BadChecksum {
                hint: Some(ChecksumHint::PeerUsesPseudoHeader)
            }))
        );
        assert!(parse_datagram(&datagram, false).is_ok());
    }

    #[test]
    fn v3_as_v2_checksum() {
        let repr = Repr {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            adver_int_cs: 10,
            addrs: vec![VIP.into()],
            auth: Auth::None,
        };
        let bytes = repr.to_bytes(ChecksumMode::MessageOnly);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet, ChecksumMode::MessageOnly).unwrap(),
            repr
        );
        assert_eq!(
            Repr::parse(
                &packet,
                ChecksumMode::PseudoHeader {
                    src: SRC,
                    dst: MULTICAST_GROUP
                }
            ),
            Err(PacketError::BadChecksum {
                hint: Some(ChecksumHint::PeerUsesV2Style)
            })
        );
    }

    #[test]
    fn refusals() {
        let good = hex("2133640101010c0b0a6300fa3131313100000000");
        let parse = |b: &[u8]| {
            Packet::new_checked(b).and_then(|p| Repr::parse(&p, ChecksumMode::MessageOnly))
        };
        assert!(matches!(
            parse(&good[..19]),
            Err(PacketError::Truncated { len: 19, need: 20 })
        ));
        let mut ah = good.clone();
        ah[4] = 2;
        Packet::new_unchecked(&mut ah[..]).fill_checksum(ChecksumMode::MessageOnly);
        assert_eq!(parse(&ah), Err(PacketError::AhAuth));
        let mut ty = good.clone();
        ty[0] = 0x22;
        Packet::new_unchecked(&mut ty[..]).fill_checksum(ChecksumMode::MessageOnly);
        assert_eq!(parse(&ty), Err(PacketError::UnknownType(2)));
        let mut ver = good.clone();
        ver[0] = 0x41;
        assert_eq!(parse(&ver), Err(PacketError::UnknownVersion(4)));
        let mut sum = good;
        sum[6] ^= 1;
        assert!(matches!(parse(&sum), Err(PacketError::BadChecksum { .. })));
    }

    #[test]
    fn auth_pass_keeps_eight_characters() {
        assert_eq!(Auth::pass("123456789"), Auth::pass("12345678"));
        assert_ne!(Auth::pass("1111"), Auth::pass("2222"));
    }
}
