//! IPv6's gratuitous ARP: the unsolicited Neighbor Advertisement a new VRRP
//! master sends for each IPv6 VIP (RFC 5798 §6.4.2 via RFC 4861 §7.2.6), so
//! the hosts and routers of the link move the VIP to its MAC at once.

use std::net::Ipv6Addr;

use super::checksum;

/// ICMPv6 type of a Neighbor Advertisement.
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// ICMPv6's next-header number.
pub const ICMPV6: u8 = 58;
/// All-nodes multicast address, where unsolicited advertisements go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Its Ethernet address (RFC 2464 §7: 33:33 and the address's last 32 bits).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// The Router flag (RFC 4861 §4.4), set as RFC 5798 §6.4.1 asks: the VIP is
/// a router's (hosts that route through it keep it as their router).
const FLAG_ROUTER: u32 = 0x8000_0000;
/// The Override flag (RFC 4861 §4.4): replace what the caches hold.
const FLAG_OVERRIDE: u32 = 0x2000_0000;
/// Length of the advertisement: ICMPv6 header, flags, target, the target
/// link-layer address option (type 2, 8 bytes).
const NA_LEN: usize = 4 + 4 + 16 + 8;

/// The Ethernet frame of an unsolicited Neighbor Advertisement of `target`
/// at `mac`: from `target` to ff02::1, hop limit 255, Router and Override
/// set, Solicited clear (RFC 5798 §6.4.1), with the target link-layer
/// address option.
pub fn unsolicited_na_frame(mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(NA_LEN);
    icmp.extend_from_slice(&[NEIGHBOR_ADVERTISEMENT, 0, 0, 0]);
    icmp.extend_from_slice(&(FLAG_ROUTER | FLAG_OVERRIDE).to_be_bytes());
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    let sum = checksum::pseudo_header6_sum(target, ALL_NODES, ICMPV6, NA_LEN as u32);
    let c = checksum::finish(checksum::accumulate(sum, &icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + NA_LEN);
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(NA_LEN as u16).to_be_bytes());
    f.extend_from_slice(&[ICMPV6, 255]);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&ALL_NODES.octets());
    f.extend_from_slice(&icmp);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsolicited_advertisement_as_rfc_4861_lays_it_out() {
        let mac = [0x02, 0, 0, 0, 0x85, 0x11];
        let vip: Ipv6Addr = "2001:db8:85::250".parse().unwrap();
        let f = unsolicited_na_frame(mac, vip);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(f[..6], ALL_NODES_MAC);
        assert_eq!(f[6..12], mac);
        assert_eq!(f[12..14], [0x86, 0xdd]);
        let ip = &f[14..54];
        assert_eq!((ip[0] >> 4, ip[6], ip[7]), (6, ICMPV6, 255));
        assert_eq!(ip[8..24], vip.octets());
        assert_eq!(ip[24..40], ALL_NODES.octets());
        let icmp = &f[54..];
        assert_eq!(icmp[0], NEIGHBOR_ADVERTISEMENT);
        assert_eq!(icmp[4], 0xa0, "Router and Override, not Solicited");
        assert_eq!(icmp[8..24], vip.octets());
        assert_eq!(icmp[24..26], [2, 1]);
        assert_eq!(icmp[26..32], mac);
        // The checksum verifies: the sum with it is all ones.
        let sum = checksum::pseudo_header6_sum(vip, ALL_NODES, ICMPV6, 32);
        assert_eq!(checksum::finish(checksum::accumulate(sum, icmp)), 0);
    }
}
