//! keepalived 2.2.7's own frames (testdata/vrrp/, fields in testdata/README.md)
//! decode to the documented fields and re-encode byte for byte.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use vipd_core::vrrp::arp::{ArpRepr, Operation};
use vipd_core::vrrp::frame::{
    multicast_mac, EthernetRepr, Ipv4Repr, BROADCAST_MAC, ETHERNET_HEADER_LEN, ETHERTYPE_ARP,
    ETHERTYPE_IPV4, IPV4_HEADER_LEN,
};
use vipd_core::vrrp::packet::{self, Auth, ChecksumMode, Packet, Repr, Version, MULTICAST_GROUP};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 250);

/// Reads the frames of a little-endian, microsecond, Ethernet pcap file.
fn pcap_frames(name: &str) -> Vec<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vrrp")
        .join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "{name}: not a LE pcap"
    );
    assert_eq!(
        u32::from_le_bytes(data[20..24].try_into().unwrap()),
        1,
        "{name}: not Ethernet"
    );
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16;
        frames.push(data[at..at + caplen].to_vec());
        at += caplen;
    }
    assert_eq!(at, data.len(), "{name}: trailing bytes");
    frames
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes an advert frame, re-encodes it from the parsed fields alone and checks
/// the bytes are identical.
fn decode_and_reencode(frame: &[u8]) -> (EthernetRepr, Ipv4Repr, Repr) {
    let eth = EthernetRepr::parse(frame).unwrap();
    assert_eq!(eth.ethertype, ETHERTYPE_IPV4);
    let datagram = &frame[ETHERNET_HEADER_LEN..];
    let (ip, header_len) = Ipv4Repr::parse(datagram).unwrap();
    assert_eq!(header_len, IPV4_HEADER_LEN);
    let received = packet::parse_datagram(datagram, false).unwrap();
    assert_eq!(
        (received.src, received.dst, received.ttl),
        (ip.src.into(), ip.dst.into(), ip.ttl)
    );
    let repr = received.repr;
    let mode = ChecksumMode::for_version(repr.version, ip.src, ip.dst, false);

    let mut out = vec![0u8; ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + repr.buffer_len()];
    eth.emit(&mut out);
    ip.emit(&mut out[ETHERNET_HEADER_LEN..]);
    repr.emit(&mut out[ETHERNET_HEADER_LEN + IPV4_HEADER_LEN..], mode);
    assert_eq!(out, frame, "re-encoded frame differs");
    (eth, ip, repr)
}

fn payload(frame: &[u8]) -> &[u8] {
    &frame[ETHERNET_HEADER_LEN + IPV4_HEADER_LEN..]
}

fn single(name: &str) -> Vec<u8> {
    let mut frames = pcap_frames(name);
    assert_eq!(frames.len(), 1, "{name}");
    frames.remove(0)
}

/// The one frame of capture `name`, whose VRRP message is `message_hex`
/// (testdata/README.md).
fn single_advert(name: &str, message_hex: &str) -> Vec<u8> {
    let frame = single(name);
    assert_eq!(payload(&frame), hex(message_hex), "{name}");
    frame
}

/// The advert of the captures (VRID 51, priority 100, 1 s, the VIP).
fn captured_advert(version: Version, auth: Auth) -> Repr {
    Repr {
        version,
        vrid: 51,
        priority: 100,
        adver_int_cs: 100,
        addrs: vec![VIP.into()],
        auth,
    }
}

#[test]
fn v2_multicast_advert() {
    let frame = single_advert(
        "vrrp-v2-adv.pcap",
        "2133640101010c0b0a6300fa3131313100000000",
    );
    let (eth, ip, repr) = decode_and_reencode(&frame);
    assert_eq!(eth.dst, multicast_mac(MULTICAST_GROUP));
    assert_eq!(
        (ip.src, ip.dst, ip.ttl, ip.tos),
        (SRC, MULTICAST_GROUP, 255, 0xc0)
    );
    assert_eq!(repr, captured_advert(Version::V2, Auth::pass("1111")));
}

#[test]
fn v2_unicast_advert() {
    let frame = single("vrrp-v2-adv-unicast.pcap");
    let (_, ip, repr) = decode_and_reencode(&frame);
    assert_eq!((ip.src, ip.dst, ip.ttl), (SRC, PEER, 255));
    assert_eq!(
        (repr.vrid, repr.priority, repr.auth),
        (51, 100, Auth::pass("1111"))
    );
}

#[test]
fn v3_multicast_advert() {
    let frame = single_advert("vrrp-v3-adv.pcap", "31336401006474170a6300fa");
    let (_, ip, repr) = decode_and_reencode(&frame);
    assert_eq!(ip.dst, MULTICAST_GROUP);
    assert_eq!(repr, captured_advert(Version::V3, Auth::None));
    // keepalived's default v3 checksum covers the pseudo-header: the v2 style fails.
    let packet = Packet::new_checked(payload(&frame)).unwrap();
    assert!(!packet.verify_checksum(ChecksumMode::MessageOnly));
}

#[test]
fn priority_zero_adverts() {
    for (name, message, version) in [
        (
            "vrrp-v2-adv-prio0.pcap",
            "213300010101700b0a6300fa3131313100000000",
            Version::V2,
        ),
        (
            "vrrp-v3-adv-prio0.pcap",
            "313300010064d8170a6300fa",
            Version::V3,
        ),
    ] {
        let (_, _, repr) = decode_and_reencode(&single_advert(name, message));
        assert_eq!((repr.version, repr.priority), (version, 0), "{name}");
    }
}

#[test]
fn v3_unicast_pseudo_header_uses_the_unicast_destination() {
    let frame = single_advert("vrrp-v3-adv-unicast.pcap", "31336401006449c50a6300fa");
    let (_, ip, _) = decode_and_reencode(&frame);
    assert_eq!(ip.dst, PEER);
    let packet = Packet::new_checked(payload(&frame)).unwrap();
    assert!(!packet.verify_checksum(ChecksumMode::PseudoHeader {
        src: SRC,
        dst: MULTICAST_GROUP
    }));
}

#[test]
fn gratuitous_arp_on_becoming_master() {
    let frame = single("garp-v2-master.pcap");
    let (eth, arp) = ArpRepr::parse_frame(&frame).unwrap();
    assert_eq!((eth.dst, eth.ethertype), (BROADCAST_MAC, ETHERTYPE_ARP));
    assert_eq!(arp.operation, Operation::Request);
    assert_eq!(
        (arp.sender_ip, arp.target_ip, arp.target_mac),
        (VIP, VIP, BROADCAST_MAC)
    );
    assert_eq!(arp.sender_mac, eth.src);
    assert_eq!(ArpRepr::gratuitous(eth.src, VIP), arp);
    assert_eq!(&arp.to_broadcast_frame(eth.src)[..], &frame[..]);
}

#[test]
fn long_captures_every_frame_roundtrips() {
    for name in ["failover.pcap", "v3fast.pcap"] {
        let frames = pcap_frames(name);
        assert!(frames.len() > 10, "{name}");
        let (mut adverts, mut arps) = (0, 0);
        for frame in &frames {
            match EthernetRepr::parse(frame).unwrap().ethertype {
                ETHERTYPE_IPV4 => {
                    let (_, _, repr) = decode_and_reencode(frame);
                    assert_eq!(repr.vrid, 51);
                    adverts += 1;
                }
                ETHERTYPE_ARP => {
                    let (eth, arp) = ArpRepr::parse_frame(frame).unwrap();
                    assert_eq!(&arp.to_broadcast_frame(eth.src)[..], &frame[..]);
                    arps += 1;
                }
                other => panic!("{name}: unexpected EtherType {other:#x}"),
            }
        }
        assert!(adverts > 0, "{name}: no adverts");
        if name == "failover.pcap" {
            assert!(arps > 0, "{name}: no gratuitous ARP");
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Untrusted bytes never panic the decoder.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), as_v2 in any::<bool>()) {
            let _ = packet::parse_datagram(&bytes, as_v2);
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Repr::parse(&p, ChecksumMode::MessageOnly);
            }
            let _ = ArpRepr::parse_frame(&bytes);
        }

        /// Whatever we emit, we parse back to the same meaning.
        #[test]
        fn emit_then_parse(v3 in any::<bool>(), vrid in 1u8.., priority in any::<u8>(),
                           int_cs in 1u16..4096, addrs in proptest::collection::vec(any::<u32>(), 0..20),
                           pass in "[a-z0-9]{0,8}", as_v2 in any::<bool>()) {
            let version = if v3 { Version::V3 } else { Version::V2 };
            let repr = Repr {
                version,
                vrid,
                priority,
                adver_int_cs: if v3 { int_cs } else { (int_cs / 100).max(1) * 100 },
                addrs: addrs.into_iter().map(|a| Ipv4Addr::from(a).into()).collect(),
                auth: if v3 || pass.is_empty() { Auth::None } else { Auth::pass(&pass) },
            };
            let mode = ChecksumMode::for_version(version, SRC, MULTICAST_GROUP, as_v2);
            let bytes = repr.to_bytes(mode);
            let parsed = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), mode).unwrap();
            prop_assert_eq!(parsed, repr);
        }
    }
}

/// keepalived 2.2.7's VRRPv3 over IPv6 (testdata/vrrp/v3-ipv6.pcap: VRID 61,
/// priority 150, 1 s, two IPv6 VIPs, from its link-local address to
/// ff02::12, hop limit 255): the messages decode with the IPv6
/// pseudo-header checksum and re-encode byte for byte.
#[test]
fn v3_ipv6_adverts_of_keepalived() {
    use std::net::{IpAddr, Ipv6Addr};
    let frames = pcap_frames("v3-ipv6.pcap");
    assert_eq!(frames.len(), 4);
    for frame in &frames {
        // Ethernet (IPv6), then the fixed 40-byte IPv6 header.
        assert_eq!(frame[12..14], [0x86, 0xdd]);
        let ip6 = &frame[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + 40];
        assert_eq!(
            (ip6[6], ip6[7]),
            (packet::PROTOCOL, 255),
            "next header, hop limit"
        );
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[8..24]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip6[24..40]).unwrap());
        assert_eq!(dst, "ff02::12".parse::<Ipv6Addr>().unwrap());
        assert!(src.is_unicast_link_local(), "{src}");
        let msg = &frame[ETHERNET_HEADER_LEN + 40..];
        let mode = ChecksumMode::PseudoHeader6 { src, dst };
        let repr = Repr::parse(&Packet::new_checked_v6(msg).unwrap(), mode).unwrap();
        assert_eq!(
            repr,
            Repr {
                version: Version::V3,
                vrid: 61,
                priority: 150,
                adver_int_cs: 100,
                addrs: ["2001:db8:85::250", "2001:db8:85::251"]
                    .iter()
                    .map(|a| IpAddr::V6(a.parse().unwrap()))
                    .collect(),
                auth: Auth::None,
            }
        );
        assert!(repr.is_ipv6());
        assert_eq!(repr.to_bytes(mode), msg, "re-encoded message differs");
        // The IPv4 way of reading it, or a v2-style checksum, does not pass.
        assert!(Repr::parse(&Packet::new_unchecked(msg), mode).is_err());
        assert!(Repr::parse(
            &Packet::new_checked_v6(msg).unwrap(),
            ChecksumMode::MessageOnly
        )
        .is_err());
    }
}
