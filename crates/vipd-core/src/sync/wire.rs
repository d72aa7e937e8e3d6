//! Connection-sync datagrams on the wire, version 1. All integers big-endian.
//!
//! [`Packet`] is a checked view over bytes with the header fields at named offsets;
//! [`Datagram`] and [`Entry`] are the parsed, validated meaning, with
//! [`Datagram::parse`] / [`Datagram::emit`] / [`Datagram::buffer_len`]. Parsing
//! never panics on untrusted bytes, and accepts exactly what `emit` writes: every
//! reserved bit, flag and address padding is checked, so a datagram that parses
//! re-emits to the same bytes (the fuzz target asserts it).
//!
//! ```text
//! header (40 bytes)
//!  0: magic "VPSY"                         4: version (1)  5: kind  6: flags (bit 0 AUTH)
//!  8: sender_id (u64)                     16: seq (u64)
//! 24: time_s (u64, sender's unix seconds) 32: count (u16) 34: reserved (u16, 0)
//! 36: sync_id (u32)
//! entry (64 bytes) x count
//!  0: family  1: proto  2: state  3: flags (bit 0 PERSIST, bit 1 RIP_V6)
//!  4: vip [16]      20: vport  22: client [16]  38: cport  40: dport
//! 42: rip [16]      58: rport  60: age_ms (u32)
//! tag (16 bytes, only with AUTH): HMAC-SHA256(key, header || entries), truncated
//! ```
//!
//! The entry has no room for a second family byte, and the real server's address
//! family may differ from the VIP's (an IPv4 VIP over an IPv6 tunnel), so entry flag
//! bit 1 says the real server's address is IPv6. An IPv4 address sits in the first 4
//! bytes of its 16 and the other 12 must be zero: without that rule the same entry
//! would have many encodings and `2001:db8::` could pass for `32.1.13.184`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::plan::Proto;

/// First 4 bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"VPSY";
/// The only version this code speaks.
pub const VERSION: u8 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 40;
/// Length of one entry.
pub const ENTRY_LEN: usize = 64;
/// Length of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Header flag: a tag follows the entries.
pub const FLAG_AUTH: u16 = 0x0001;
/// Entry flag: also install the persistence template for this service.
pub const ENTRY_FLAG_PERSIST: u8 = 0x01;
/// Entry flag: the real server's address is IPv6 (else IPv4).
pub const ENTRY_FLAG_RIP_V6: u8 = 0x02;
/// `AF_INET`, the family byte of an IPv4 entry.
pub const FAMILY_V4: u8 = 2;
/// `AF_INET6`, the family byte of an IPv6 entry.
pub const FAMILY_V6: u8 = 10;

/// What a datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Connection entries (live updates or a dump).
    Entries,
    /// "Send me your whole table": a director that just started.
    DumpRequest,
    /// The sender finished sending its table.
    DumpEnd,
}

impl Kind {
    /// The wire value.
    pub fn number(self) -> u8 {
        match self {
            Kind::Entries => 1,
            Kind::DumpRequest => 2,
            Kind::DumpEnd => 3,
        }
    }

    fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Kind::Entries),
            2 => Some(Kind::DumpRequest),
            3 => Some(Kind::DumpEnd),
            _ => None,
        }
    }
}

/// What the director saw of a connection: the data plane's `enum vipd_conn_state`
/// with the same numbers. `VIPD_CONN_FRAG` (5) is not shared: fragment entries are
/// keyed on addresses only and rebuilt from the first fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ConnState {
    /// TCP, SYN seen, not yet established.
    Syn,
    /// TCP, established.
    Established,
    /// TCP, FIN seen.
    Fin,
    /// TCP, RST seen.
    Close,
    /// UDP.
    Udp,
}

impl ConnState {
    /// The wire (and data plane) value.
    pub fn number(self) -> u8 {
        match self {
            ConnState::Syn => 0,
            ConnState::Established => 1,
            ConnState::Fin => 2,
            ConnState::Close => 3,
            ConnState::Udp => 4,
        }
    }

    /// The state with wire value `n`, if any.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(ConnState::Syn),
            1 => Some(ConnState::Established),
            2 => Some(ConnState::Fin),
            3 => Some(ConnState::Close),
            4 => Some(ConnState::Udp),
            _ => None,
        }
    }

    /// Whether a connection of `proto` can be in this state: UDP only in
    /// [`ConnState::Udp`], TCP in any other.
    pub fn fits(self, proto: Proto) -> bool {
        (self == ConnState::Udp) == (proto == Proto::Udp)
    }
}

/// Why an entry is not one we send or accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Family byte neither 2 (IPv4) nor 10 (IPv6).
    #[error("unknown address family {0}")]
    Family(u8),
    /// Protocol neither 6 (TCP) nor 17 (UDP).
    #[error("unknown protocol {0}")]
    Proto(u8),
    /// State not in `enum vipd_conn_state` (or the unshared FRAG).
    #[error("unknown connection state {0}")]
    State(u8),
    /// A UDP protocol with a TCP state or the reverse.
    #[error("state {state:?} is not a {proto:?} state")]
    StateProto {
        /// The protocol.
        proto: Proto,
        /// The state.
        state: ConnState,
    },
    /// Flag bits this version does not define.
    #[error("unknown entry flags {0:#04x}")]
    Flags(u8),
    /// An IPv4 address whose 12 padding bytes are not zero.
    #[error("IPv4 {0} address with nonzero padding")]
    Ipv4Padding(&'static str),
    /// VIP and client of different families (only the real server may differ).
    #[error("VIP {vip} and client {client} are of different address families")]
    MixedFamily {
        /// The VIP.
        vip: IpAddr,
        /// The client.
        client: IpAddr,
    },
}

/// Why bytes are not a datagram we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than the header, or than the entries and tag the header promises.
    #[error("truncated sync datagram: {len} bytes, need {need}")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Not `VPSY`: not a sync datagram at all.
    #[error("bad magic {0:02x?}, not a vipd sync datagram")]
    BadMagic([u8; 4]),
    /// A version other than 1.
    #[error("sync protocol version {0}, this vipd speaks version 1")]
    Version(u8),
    /// A kind other than 1..=3.
    #[error("unknown sync datagram kind {0}")]
    Kind(u8),
    /// Header flag bits other than AUTH.
    #[error("unknown sync header flags {0:#06x}")]
    Flags(u16),
    /// The reserved header field is not zero.
    #[error("reserved header field is {0:#06x}, not zero")]
    Reserved(u16),
    /// Sequence number 0: senders start at 1.
    #[error("sequence number 0")]
    ZeroSeq,
    /// A dump request or dump end that carries entries.
    #[error("{kind:?} datagram with {count} entries")]
    UnexpectedEntries {
        /// Its kind.
        kind: Kind,
        /// The entries it counts.
        count: u16,
    },
    /// Longer than the header says (trailing garbage).
    #[error("sync datagram of {len} bytes, the header describes {expected}")]
    TrailingBytes {
        /// Bytes received.
        len: usize,
        /// Bytes described.
        expected: usize,
    },
    /// An entry is bad.
    #[error("entry {index}: {error}")]
    Entry {
        /// Its position in the datagram.
        index: usize,
        /// What is wrong.
        error: EntryError,
    },
}

mod field {
    use std::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const FLAGS: Range<usize> = 6..8;
    pub const SENDER_ID: Range<usize> = 8..16;
    pub const SEQ: Range<usize> = 16..24;
    pub const TIME_S: Range<usize> = 24..32;
    pub const COUNT: Range<usize> = 32..34;
    pub const RESERVED: Range<usize> = 34..36;
    pub const SYNC_ID: Range<usize> = 36..40;

    /// Offsets inside an entry.
    pub mod entry {
        use std::ops::Range;
        pub const FAMILY: usize = 0;
        pub const PROTO: usize = 1;
        pub const STATE: usize = 2;
        pub const FLAGS: usize = 3;
        pub const VIP: Range<usize> = 4..20;
        pub const VPORT: Range<usize> = 20..22;
        pub const CLIENT: Range<usize> = 22..38;
        pub const CPORT: Range<usize> = 38..40;
        pub const DPORT: Range<usize> = 40..42;
        pub const RIP: Range<usize> = 42..58;
        pub const RPORT: Range<usize> = 58..60;
        pub const AGE_MS: Range<usize> = 60..64;
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// A checked view of a sync datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps bytes without checking their length: accessors may panic.
    pub fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps bytes after checking they hold the header and the entries and tag it
    /// promises: every accessor is then safe. Trailing bytes are left to
    /// [`Datagram::parse`], which refuses them.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the length promised by the header against the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated {
                len,
                need: HEADER_LEN,
            });
        }
        let need = self.datagram_len();
        if len < need {
            return Err(WireError::Truncated { len, need });
        }
        Ok(())
    }

    /// The length the header describes: header, entries and, with AUTH, the tag.
    pub fn datagram_len(&self) -> usize {
        self.signed_len() + if self.auth() { TAG_LEN } else { 0 }
    }

    /// The length of the part the tag covers: header and entries.
    pub fn signed_len(&self) -> usize {
        HEADER_LEN + ENTRY_LEN * usize::from(self.count())
    }

    /// The magic bytes.
    pub fn magic(&self) -> [u8; 4] {
        let mut m = [0u8; 4];
        m.copy_from_slice(&self.buffer.as_ref()[field::MAGIC]);
        m
    }

    /// The version byte.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The kind byte.
    pub fn kind(&self) -> u8 {
        self.buffer.as_ref()[field::KIND]
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS])
    }

    /// Whether the AUTH flag is set (a tag follows the entries).
    pub fn auth(&self) -> bool {
        self.flags() & FLAG_AUTH != 0
    }

    /// The sender's id.
    pub fn sender_id(&self) -> u64 {
        be64(&self.buffer.as_ref()[field::SENDER_ID])
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u64 {
        be64(&self.buffer.as_ref()[field::SEQ])
    }

    /// The sender's wall clock, unix seconds.
    pub fn time_s(&self) -> u64 {
        be64(&self.buffer.as_ref()[field::TIME_S])
    }

    /// Number of entries.
    pub fn count(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::COUNT])
    }

    /// The reserved field.
    pub fn reserved(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::RESERVED])
    }

    /// keepalived's `lvs_sync_daemon ... id`.
    pub fn sync_id(&self) -> u32 {
        be32(&self.buffer.as_ref()[field::SYNC_ID])
    }

    /// The bytes of the `index`th entry (index < count).
    pub fn entry(&self, index: usize) -> [u8; ENTRY_LEN] {
        let at = HEADER_LEN + ENTRY_LEN * index;
        let mut entry = [0u8; ENTRY_LEN];
        entry.copy_from_slice(&self.buffer.as_ref()[at..at + ENTRY_LEN]);
        entry
    }

    /// What the tag covers: header and entries.
    pub fn signed_part(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.signed_len()]
    }

    /// The tag, when AUTH is set.
    pub fn tag(&self) -> Option<[u8; TAG_LEN]> {
        self.auth().then(|| {
            let at = self.signed_len();
            let mut tag = [0u8; TAG_LEN];
            tag.copy_from_slice(&self.buffer.as_ref()[at..at + TAG_LEN]);
            tag
        })
    }
}

/// One shared connection: what the next director needs to forward the
/// connection's packets to the same real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The service's VIP.
    pub vip: IpAddr,
    /// The service's virtual port; 0 for an all-ports service.
    pub vport: u16,
    /// The client's address (same family as the VIP).
    pub client: IpAddr,
    /// The client's port.
    pub cport: u16,
    /// The destination port the client used (differs from `vport` on an
    /// all-ports service).
    pub dport: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// The real server's address (any family: it is the tunnel's outer address).
    pub rip: IpAddr,
    /// The real server's port.
    pub rport: u16,
    /// What the sender saw of the connection.
    pub state: ConnState,
    /// Also install the persistence template client&mask -> real for the service.
    pub persist: bool,
    /// Milliseconds since the sender last saw a packet of this connection.
    pub age_ms: u32,
}

fn family_of(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => FAMILY_V4,
        IpAddr::V6(_) => FAMILY_V6,
    }
}

fn put_addr(buf: &mut [u8], addr: IpAddr) {
    match addr {
        IpAddr::V4(a) => {
            buf[..4].copy_from_slice(&a.octets());
            buf[4..16].fill(0);
        }
        IpAddr::V6(a) => buf.copy_from_slice(&a.octets()),
    }
}

fn get_addr(b: &[u8], v6: bool, name: &'static str) -> Result<IpAddr, EntryError> {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[..16]);
        Ok(IpAddr::V6(Ipv6Addr::from(o)))
    } else if b[4..16].iter().any(|&x| x != 0) {
        Err(EntryError::Ipv4Padding(name))
    } else {
        Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
    }
}

impl Entry {
    /// Checks what the type cannot: VIP and client of one family, a state that
    /// fits the protocol. [`Entry::emit`] of an entry that fails this writes bytes
    /// that no receiver accepts.
    pub fn check(&self) -> Result<(), EntryError> {
        if family_of(self.vip) != family_of(self.client) {
            return Err(EntryError::MixedFamily {
                vip: self.vip,
                client: self.client,
            });
        }
        if !self.state.fits(self.proto) {
            return Err(EntryError::StateProto {
                proto: self.proto,
                state: self.state,
            });
        }
        Ok(())
    }

    /// Parses and validates one entry.
    pub fn parse(b: &[u8; ENTRY_LEN]) -> Result<Self, EntryError> {
        use field::entry as f;
        let v6 = match b[f::FAMILY] {
            FAMILY_V4 => false,
            FAMILY_V6 => true,
            other => return Err(EntryError::Family(other)),
        };
        let proto = match b[f::PROTO] {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            other => return Err(EntryError::Proto(other)),
        };
        let state = ConnState::from_number(b[f::STATE]).ok_or(EntryError::State(b[f::STATE]))?;
        if !state.fits(proto) {
            return Err(EntryError::StateProto { proto, state });
        }
        let flags = b[f::FLAGS];
        if flags & !(ENTRY_FLAG_PERSIST | ENTRY_FLAG_RIP_V6) != 0 {
            return Err(EntryError::Flags(flags));
        }
        Ok(Self {
            vip: get_addr(&b[f::VIP], v6, "VIP")?,
            vport: be16(&b[f::VPORT]),
            client: get_addr(&b[f::CLIENT], v6, "client")?,
            cport: be16(&b[f::CPORT]),
            dport: be16(&b[f::DPORT]),
            proto,
            rip: get_addr(&b[f::RIP], flags & ENTRY_FLAG_RIP_V6 != 0, "real server")?,
            rport: be16(&b[f::RPORT]),
            state,
            persist: flags & ENTRY_FLAG_PERSIST != 0,
            age_ms: be32(&b[f::AGE_MS]),
        })
    }

    /// Writes the entry into the first [`ENTRY_LEN`] bytes of `buf`. The family
    /// byte follows the VIP; see [`Entry::check`].
    pub fn emit(&self, buf: &mut [u8]) {
        use field::entry as f;
        buf[f::FAMILY] = family_of(self.vip);
        buf[f::PROTO] = self.proto.number();
        buf[f::STATE] = self.state.number();
        let mut flags = 0;
        if self.persist {
            flags |= ENTRY_FLAG_PERSIST;
        }
        if self.rip.is_ipv6() {
            flags |= ENTRY_FLAG_RIP_V6;
        }
        buf[f::FLAGS] = flags;
        put_addr(&mut buf[f::VIP], self.vip);
        buf[f::VPORT].copy_from_slice(&self.vport.to_be_bytes());
        put_addr(&mut buf[f::CLIENT], self.client);
        buf[f::CPORT].copy_from_slice(&self.cport.to_be_bytes());
        buf[f::DPORT].copy_from_slice(&self.dport.to_be_bytes());
        put_addr(&mut buf[f::RIP], self.rip);
        buf[f::RPORT].copy_from_slice(&self.rport.to_be_bytes());
        buf[f::AGE_MS].copy_from_slice(&self.age_ms.to_be_bytes());
    }
}

/// A parsed, validated datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// What it carries.
    pub kind: Kind,
    /// The sender's id, random per process start.
    pub sender_id: u64,
    /// The sender's sequence number (from 1, strictly increasing).
    pub seq: u64,
    /// The sender's wall clock, unix seconds.
    pub time_s: u64,
    /// keepalived's `lvs_sync_daemon ... id`.
    pub sync_id: u32,
    /// The entries (none for dump requests and dump ends). At most `u16::MAX`
    /// are emitted.
    pub entries: Vec<Entry>,
    /// The authentication tag: `Some` sets the AUTH flag. Unverified here; see
    /// [`super::auth`].
    pub tag: Option<[u8; TAG_LEN]>,
}

impl Datagram {
    /// Parses and validates a whole datagram: magic, version, kind, flags,
    /// reserved fields, exact length, every entry. The tag is returned, not
    /// checked.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let len = bytes.len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated {
                len,
                need: HEADER_LEN,
            });
        }
        let packet = Packet::new_unchecked(bytes);
        // Magic and version before the length: bytes that are not ours, or a
        // future version with another layout, should say so, not "truncated".
        if packet.magic() != MAGIC {
            return Err(WireError::BadMagic(packet.magic()));
        }
        if packet.version() != VERSION {
            return Err(WireError::Version(packet.version()));
        }
        packet.check_len()?;
        let kind = Kind::from_number(packet.kind()).ok_or(WireError::Kind(packet.kind()))?;
        if packet.flags() & !FLAG_AUTH != 0 {
            return Err(WireError::Flags(packet.flags()));
        }
        if packet.reserved() != 0 {
            return Err(WireError::Reserved(packet.reserved()));
        }
        if len != packet.datagram_len() {
            return Err(WireError::TrailingBytes {
                len,
                expected: packet.datagram_len(),
            });
        }
        if packet.seq() == 0 {
            return Err(WireError::ZeroSeq);
        }
        let count = packet.count();
        if kind != Kind::Entries && count != 0 {
            return Err(WireError::UnexpectedEntries { kind, count });
        }
        let entries = (0..usize::from(count))
            .map(|index| {
                Entry::parse(&packet.entry(index))
                    .map_err(|error| WireError::Entry { index, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            kind,
            sender_id: packet.sender_id(),
            seq: packet.seq(),
            time_s: packet.time_s(),
            sync_id: packet.sync_id(),
            entries,
            tag: packet.tag(),
        })
    }

    fn count(&self) -> usize {
        self.entries.len().min(usize::from(u16::MAX))
    }

    /// Bytes [`Datagram::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + ENTRY_LEN * self.count() + if self.tag.is_some() { TAG_LEN } else { 0 }
    }

    /// Writes the datagram into the front of `buf`, which must hold
    /// [`Datagram::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let count = self.count();
        buf[field::MAGIC].copy_from_slice(&MAGIC);
        buf[field::VERSION] = VERSION;
        buf[field::KIND] = self.kind.number();
        let flags = if self.tag.is_some() { FLAG_AUTH } else { 0 };
        buf[field::FLAGS].copy_from_slice(&flags.to_be_bytes());
        buf[field::SENDER_ID].copy_from_slice(&self.sender_id.to_be_bytes());
        buf[field::SEQ].copy_from_slice(&self.seq.to_be_bytes());
        buf[field::TIME_S].copy_from_slice(&self.time_s.to_be_bytes());
        buf[field::COUNT].copy_from_slice(&(count as u16).to_be_bytes());
        buf[field::RESERVED].copy_from_slice(&[0, 0]);
        buf[field::SYNC_ID].copy_from_slice(&self.sync_id.to_be_bytes());
        for (i, entry) in self.entries.iter().take(count).enumerate() {
            let at = HEADER_LEN + ENTRY_LEN * i;
            entry.emit(&mut buf[at..at + ENTRY_LEN]);
        }
        if let Some(tag) = self.tag {
            let at = HEADER_LEN + ENTRY_LEN * count;
            buf[at..at + TAG_LEN].copy_from_slice(&tag);
        }
    }

    /// Appends the datagram to `out`.
    pub fn emit_into(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.buffer_len(), 0);
        self.emit(&mut out[at..]);
    }

    /// The datagram as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_into(&mut out);
        out
    }
}

/// [`Datagram::parse`].
pub fn parse(bytes: &[u8]) -> Result<Datagram, WireError> {
    Datagram::parse(bytes)
}

/// The bytes a hex test vector spells (white space between digits ignored), for
/// the tests of the sync modules.
#[cfg(test)]
pub(super) fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// An IPv4 service over an IPv6 tunnel, persistent; one IPv6 UDP entry.
    fn sample() -> Datagram {
        Datagram {
            kind: Kind::Entries,
            sender_id: 0x0102_0304_0506_0708,
            seq: 9,
            time_s: 1_700_000_000,
            sync_id: 51,
            entries: vec![
                Entry {
                    vip: v4(10, 0, 0, 250),
                    vport: 80,
                    client: v4(192, 0, 2, 7),
                    cport: 40000,
                    dport: 80,
                    proto: Proto::Tcp,
                    rip: "2001:db8::2".parse().unwrap(),
                    rport: 8080,
                    state: ConnState::Established,
                    persist: true,
                    age_ms: 1234,
                },
                Entry {
                    vip: "2001:db8::100".parse().unwrap(),
                    vport: 0,
                    client: "2001:db8:1::1".parse().unwrap(),
                    cport: 5353,
                    dport: 53,
                    proto: Proto::Udp,
                    rip: v4(10, 0, 1, 2),
                    rport: 53,
                    state: ConnState::Udp,
                    persist: false,
                    age_ms: 0,
                },
            ],
            tag: Some([0xaa; TAG_LEN]),
        }
    }

    // Written by hand from the layout in the module docs, not by `emit`.
    const SAMPLE_HEX: &str = "
        56505359 01 01 0001
        0102030405060708
        0000000000000009
        000000006553f100
        0002 0000 00000033
        02 06 01 03
        0a0000fa 000000000000000000000000 0050
        c0000207 000000000000000000000000 9c40 0050
        20010db8000000000000000000000002 1f90
        000004d2
        0a 11 04 00
        20010db8000000000000000000000100 0000
        20010db8000100000000000000000001 14e9 0035
        0a000102 000000000000000000000000 0035
        00000000
        aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn byte_exact_both_ways() {
        let bytes = hex(SAMPLE_HEX);
        assert_eq!(bytes.len(), HEADER_LEN + 2 * ENTRY_LEN + TAG_LEN);
        assert_eq!(Datagram::parse(&bytes).unwrap(), sample());
        assert_eq!(sample().to_bytes(), bytes);
        assert_eq!(sample().buffer_len(), 184);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.signed_part().len(), 168);
        assert_eq!(packet.tag(), Some([0xaa; TAG_LEN]));
    }

    #[test]
    fn emit_into_appends() {
        let mut out = vec![7u8];
        sample().emit_into(&mut out);
        assert_eq!(out[0], 7);
        assert_eq!(&out[1..], &hex(SAMPLE_HEX)[..]);
    }

    #[test]
    fn control_datagrams() {
        let d = Datagram {
            kind: Kind::DumpRequest,
            sender_id: 1,
            seq: 1,
            time_s: 2,
            sync_id: 0,
            entries: vec![],
            tag: None,
        };
        let bytes = d.to_bytes();
        assert_eq!(
            bytes,
            hex("56505359 01 02 0000 0000000000000001 0000000000000001 0000000000000002 0000 0000 00000000")
        );
        assert_eq!(Datagram::parse(&bytes).unwrap(), d);
    }

    #[test]
    fn refusals() {
        let good = hex(SAMPLE_HEX);
        let with = |at: usize, v: u8| {
            let mut b = good.clone();
            b[at] = v;
            Datagram::parse(&b)
        };
        assert_eq!(
            Datagram::parse(&good[..39]),
            Err(WireError::Truncated { len: 39, need: 40 })
        );
        assert_eq!(
            Datagram::parse(&good[..183]),
            Err(WireError::Truncated {
                len: 183,
                need: 184
            })
        );
        assert_eq!(
            Datagram::parse(&[]),
            Err(WireError::Truncated { len: 0, need: 40 })
        );
        // count says 3 entries: 40 + 192 + 16 bytes needed.
        assert_eq!(
            with(33, 3),
            Err(WireError::Truncated {
                len: 184,
                need: 248
            })
        );
        assert_eq!(with(0, b'X'), Err(WireError::BadMagic(*b"XPSY")));
        assert_eq!(with(4, 2), Err(WireError::Version(2)));
        assert_eq!(with(5, 4), Err(WireError::Kind(4)));
        assert_eq!(with(5, 0), Err(WireError::Kind(0)));
        assert_eq!(with(6, 0x80), Err(WireError::Flags(0x8001)));
        assert_eq!(with(35, 1), Err(WireError::Reserved(1)));
        assert_eq!(with(23, 0), Err(WireError::ZeroSeq));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Datagram::parse(&trailing),
            Err(WireError::TrailingBytes {
                len: 185,
                expected: 184
            })
        );
        // Without AUTH the 16 tag bytes are trailing garbage.
        assert_eq!(
            with(7, 0),
            Err(WireError::TrailingBytes {
                len: 184,
                expected: 168
            })
        );
        let mut dump = good[..40].to_vec();
        dump[5] = 3;
        dump[7] = 0;
        dump[33] = 0;
        assert_eq!(
            Datagram::parse(&dump).unwrap().kind,
            Kind::DumpEnd,
            "a dump end without entries parses"
        );
        let mut dump_with = good.clone();
        dump_with[5] = 3;
        assert_eq!(
            Datagram::parse(&dump_with),
            Err(WireError::UnexpectedEntries {
                kind: Kind::DumpEnd,
                count: 2
            })
        );
        let entry = |index: usize, error: EntryError| Err(WireError::Entry { index, error });
        // Entry 0 starts at 40, entry 1 at 104.
        assert_eq!(with(40, 3), entry(0, EntryError::Family(3)));
        assert_eq!(with(41, 1), entry(0, EntryError::Proto(1)));
        assert_eq!(with(42, 5), entry(0, EntryError::State(5)));
        assert_eq!(
            with(42, 4),
            entry(
                0,
                EntryError::StateProto {
                    proto: Proto::Tcp,
                    state: ConnState::Udp
                }
            )
        );
        assert_eq!(
            with(106, 1),
            entry(
                1,
                EntryError::StateProto {
                    proto: Proto::Udp,
                    state: ConnState::Established
                }
            )
        );
        assert_eq!(with(43, 0x07), entry(0, EntryError::Flags(0x07)));
        assert_eq!(with(43, 0x83), entry(0, EntryError::Flags(0x83)));
        assert_eq!(with(44 + 4, 1), entry(0, EntryError::Ipv4Padding("VIP")));
        assert_eq!(
            with(62 + 15, 1),
            entry(0, EntryError::Ipv4Padding("client"))
        );
        // Entry 1's real server is IPv4 (no RIP_V6 flag): padding checked.
        assert_eq!(
            with(104 + 42 + 10, 1),
            entry(1, EntryError::Ipv4Padding("real server"))
        );
        // Entry 0's real server 2001:db8::2 read as IPv4 has nonzero padding.
        assert_eq!(
            with(43, 0x01),
            entry(0, EntryError::Ipv4Padding("real server"))
        );
        // IPv6 VIP read as IPv4 (family byte flipped): padding catches it.
        assert_eq!(with(104, 2), entry(1, EntryError::Ipv4Padding("VIP")));
    }

    #[test]
    fn entry_check() {
        let mut e = sample().entries[0];
        assert_eq!(e.check(), Ok(()));
        e.client = "2001:db8::1".parse().unwrap();
        assert_eq!(
            e.check(),
            Err(EntryError::MixedFamily {
                vip: v4(10, 0, 0, 250),
                client: "2001:db8::1".parse().unwrap()
            })
        );
        let mut e = sample().entries[1];
        e.state = ConnState::Syn;
        assert_eq!(
            e.check(),
            Err(EntryError::StateProto {
                proto: Proto::Udp,
                state: ConnState::Syn
            })
        );
    }

    #[test]
    fn count_is_capped_at_u16() {
        let mut d = sample();
        d.tag = None;
        d.entries = vec![d.entries[0]; 65536];
        assert_eq!(d.buffer_len(), HEADER_LEN + 65535 * ENTRY_LEN);
        let bytes = d.to_bytes();
        assert_eq!(Datagram::parse(&bytes).unwrap().entries.len(), 65535);
    }

    fn addr_pair() -> impl proptest::strategy::Strategy<Value = (IpAddr, IpAddr)> {
        use proptest::prelude::*;
        prop_oneof![
            (any::<u32>(), any::<u32>())
                .prop_map(|(a, b)| (IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b)))),
            (any::<u128>(), any::<u128>())
                .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
        ]
    }

    fn any_addr() -> impl proptest::strategy::Strategy<Value = IpAddr> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
    }

    pub(crate) fn any_entry() -> impl proptest::strategy::Strategy<Value = Entry> {
        use proptest::prelude::*;
        let state = prop_oneof![
            Just((Proto::Tcp, ConnState::Syn)),
            Just((Proto::Tcp, ConnState::Established)),
            Just((Proto::Tcp, ConnState::Fin)),
            Just((Proto::Tcp, ConnState::Close)),
            Just((Proto::Udp, ConnState::Udp)),
        ];
        (
            addr_pair(),
            any_addr(),
            any::<[u16; 5]>(),
            state,
            any::<bool>(),
            any::<u32>(),
        )
            .prop_map(
                |(
                    (vip, client),
                    rip,
                    [vport, cport, dport, rport, _],
                    (proto, state),
                    persist,
                    age_ms,
                )| {
                    Entry {
                        vip,
                        vport,
                        client,
                        cport,
                        dport,
                        proto,
                        rip,
                        rport,
                        state,
                        persist,
                        age_ms,
                    }
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn entry_round_trip(e in any_entry()) {
            proptest::prop_assert_eq!(e.check(), Ok(()));
            let mut buf = [0xffu8; ENTRY_LEN];
            e.emit(&mut buf);
            proptest::prop_assert_eq!(Entry::parse(&buf), Ok(e));
        }

        #[test]
        fn datagram_round_trip(
            entries in proptest::collection::vec(any_entry(), 0..5),
            sender_id in proptest::num::u64::ANY,
            seq in 1u64..,
            time_s in proptest::num::u64::ANY,
            sync_id in proptest::num::u32::ANY,
            tag in proptest::option::of(proptest::array::uniform16(proptest::num::u8::ANY)),
        ) {
            let d = Datagram { kind: Kind::Entries, sender_id, seq, time_s, sync_id, entries, tag };
            let bytes = d.to_bytes();
            proptest::prop_assert_eq!(bytes.len(), d.buffer_len());
            proptest::prop_assert_eq!(Datagram::parse(&bytes), Ok(d));
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            // Also: whatever parses re-emits to the same bytes.
            if let Ok(d) = Datagram::parse(&data) {
                proptest::prop_assert_eq!(d.to_bytes(), data);
            }
        }
    }
}
