//! Gratuitous ARP, sent by a new master so that hosts and switches learn the VIP's
//! new MAC at once (RFC 3768 §6.4.2 "broadcast a gratuitous ARP request containing
//! the virtual router MAC address for each IP address").
//!
//! vipd, like keepalived without `use_vmac`, announces the interface's own MAC.
//! keepalived's frame (testdata/vrrp/garp-v2-master.pcap): a broadcast ARP request
//! whose sender and target IP are both the VIP and whose target hardware address
//! is ff:ff:ff:ff:ff:ff; we build exactly that.

use std::net::Ipv4Addr;

use super::frame::{
    EthernetRepr, FrameError, Mac, BROADCAST_MAC, ETHERNET_HEADER_LEN, ETHERTYPE_ARP,
};

/// Length of an Ethernet/IPv4 ARP message.
pub const ARP_LEN: usize = 28;
/// Length of a whole gratuitous ARP frame (no padding: the kernel pads on the wire).
pub const FRAME_LEN: usize = ETHERNET_HEADER_LEN + ARP_LEN;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// 1.
    Request,
    /// 2.
    Reply,
}

/// An Ethernet/IPv4 ARP message (RFC 826).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    /// Request or reply.
    pub operation: Operation,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// Why bytes are not an Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    /// Too short.
    #[error("truncated ARP: {0} bytes, need 28")]
    Truncated(usize),
    /// Hardware/protocol types or lengths other than Ethernet/IPv4.
    #[error("not Ethernet/IPv4 ARP")]
    NotEthernetIpv4,
    /// Operation other than request or reply.
    #[error("unknown ARP operation {0}")]
    UnknownOperation(u16),
    /// The frame around it is bad.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The frame is not ARP.
    #[error("EtherType {0:#06x} is not ARP")]
    NotArp(u16),
}

impl ArpRepr {
    /// The gratuitous ARP request announcing `vip` at `mac`.
    pub fn gratuitous(mac: Mac, vip: Ipv4Addr) -> Self {
        Self {
            operation: Operation::Request,
            sender_mac: mac,
            sender_ip: vip,
            target_mac: BROADCAST_MAC,
            target_ip: vip,
        }
    }

    /// Parses the 28-byte ARP message.
    pub fn parse(bytes: &[u8]) -> Result<Self, ArpError> {
        if bytes.len() < ARP_LEN {
            return Err(ArpError::Truncated(bytes.len()));
        }
        // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
        if bytes[0..6] != [0x00, 0x01, 0x08, 0x00, 6, 4] {
            return Err(ArpError::NotEthernetIpv4);
        }
        let operation = match u16::from_be_bytes([bytes[6], bytes[7]]) {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => return Err(ArpError::UnknownOperation(other)),
        };
        let mac = |at: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&bytes[at..at + 6]);
            m
        };
        let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        Ok(Self {
            operation,
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// Writes the 28-byte message to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[0..6].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4]);
        let op: u16 = match self.operation {
            Operation::Request => 1,
            Operation::Reply => 2,
        };
        buf[6..8].copy_from_slice(&op.to_be_bytes());
        buf[8..14].copy_from_slice(&self.sender_mac);
        buf[14..18].copy_from_slice(&self.sender_ip.octets());
        buf[18..24].copy_from_slice(&self.target_mac);
        buf[24..28].copy_from_slice(&self.target_ip.octets());
    }

    /// Parses a whole Ethernet frame carrying ARP.
    pub fn parse_frame(frame: &[u8]) -> Result<(EthernetRepr, Self), ArpError> {
        let eth = EthernetRepr::parse(frame)?;
        if eth.ethertype != ETHERTYPE_ARP {
            return Err(ArpError::NotArp(eth.ethertype));
        }
        Ok((eth, Self::parse(&frame[ETHERNET_HEADER_LEN..])?))
    }

    /// The whole broadcast Ethernet frame for this message, sent from `src_mac`.
    pub fn to_broadcast_frame(&self, src_mac: Mac) -> [u8; FRAME_LEN] {
        let mut frame = [0u8; FRAME_LEN];
        EthernetRepr {
            dst: BROADCAST_MAC,
            src: src_mac,
            ethertype: ETHERTYPE_ARP,
        }
        .emit(&mut frame);
        self.emit(&mut frame[ETHERNET_HEADER_LEN..]);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mac = [2, 0, 0, 0, 0, 1];
        let garp = ArpRepr::gratuitous(mac, Ipv4Addr::new(10, 0, 0, 250));
        let frame = garp.to_broadcast_frame(mac);
        assert_eq!(ArpRepr::parse_frame(&frame).unwrap().1, garp);
        assert_eq!(ArpRepr::parse(&frame[14..20]), Err(ArpError::Truncated(6)));
    }
}

/// `vrrp_garp_interval`: gratuitous ARPs on one interface at least `interval`
/// apart, whichever instance sends them (keepalived keeps one "next free"
/// time per interface too).
#[derive(Debug, Clone, Default)]
pub struct GarpPacer {
    next: std::collections::BTreeMap<u32, std::time::Instant>,
}

impl GarpPacer {
    /// When to send `n` gratuitous ARPs on interface `ifindex`, asked at
    /// `now`: back to back when `interval` is zero, else each `interval`
    /// after the previous one sent there (by any instance).
    pub fn slots(
        &mut self,
        ifindex: u32,
        now: std::time::Instant,
        interval: std::time::Duration,
        n: u32,
    ) -> Vec<std::time::Instant> {
        if interval.is_zero() {
            return vec![now; n as usize];
        }
        let next = self.next.entry(ifindex).or_insert(now);
        let mut at = (*next).max(now);
        let mut out = Vec::with_capacity(n as usize);
        for _ in 0..n {
            out.push(at);
            at += interval;
        }
        *next = at;
        out
    }

    /// Gives back the slots reserved on `ifindex` (the sends were cancelled:
    /// a new burst must not wait behind them).
    pub fn release(&mut self, ifindex: u32) {
        self.next.remove(&ifindex);
    }
}

#[cfg(test)]
mod pacer_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn garps_on_one_interface_are_spaced_across_instances() {
        let mut p = GarpPacer::default();
        let t0 = Instant::now();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            p.slots(2, t0, Duration::ZERO, 3),
            vec![t0; 3],
            "no interval"
        );
        let a = p.slots(2, t0, ms(200), 2);
        assert_eq!(a, vec![t0, t0 + ms(200)]);
        // Another instance on the same interface queues behind them...
        assert_eq!(p.slots(2, t0 + ms(10), ms(200), 1), vec![t0 + ms(400)]);
        // ...not on another interface, nor once the interface is idle again.
        assert_eq!(p.slots(3, t0 + ms(10), ms(200), 1), vec![t0 + ms(10)]);
        assert_eq!(p.slots(2, t0 + ms(5000), ms(200), 1), vec![t0 + ms(5000)]);
    }

    #[test]
    fn cancelled_bursts_give_their_slots_back() {
        let mut p = GarpPacer::default();
        let t0 = Instant::now();
        let ms = |n| Duration::from_millis(n);
        // 20 announcements 300 ms apart reserve 6 s of the interface...
        p.slots(2, t0, ms(300), 20);
        // ...a transition cancels them: the next burst starts at once.
        p.release(2);
        assert_eq!(p.slots(2, t0 + ms(100), ms(300), 1), vec![t0 + ms(100)]);
    }
}
