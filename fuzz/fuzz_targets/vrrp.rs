//! Fuzz the VRRP decoder and the instance state machine: decoding untrusted
//! datagrams and ARP frames never panics; a message that decodes re-encodes to
//! the same meaning; feeding decoded adverts and timeouts to an instance never
//! panics and keeps it in a sane state.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vipd_core::vrrp::arp::ArpRepr;
use vipd_core::vrrp::packet::{self, ChecksumMode, Packet, Repr, MULTICAST_GROUP};
use vipd_core::vrrp::{Auth, Instance, InstanceConfig, State, Version};

fuzz_target!(|data: &[u8]| {
    // Raw bytes as the raw socket and the packet socket would deliver them.
    let _ = packet::parse_datagram(data, false);
    let _ = packet::parse_datagram(data, true);
    let _ = ArpRepr::parse_frame(data);

    // Get past the checksums: the input after one control byte is a VRRP
    // message whose checksum we fix, wrapped in a valid IPv4 header.
    let Some((&ctl, msg)) = data.split_first() else { return };
    let src = Ipv4Addr::new(10, 0, 0, 2 + (ctl & 0x0f));
    let v3_as_v2 = ctl & 0x10 != 0;
    let ttl = if ctl & 0x20 != 0 { 64 } else { 255 };
    let mut msg = msg.to_vec();
    let Ok(p) = Packet::new_checked(&msg[..]) else { return };
    let version = p.version_number();
    let mode = if version == 3 && !v3_as_v2 {
        ChecksumMode::PseudoHeader { src, dst: MULTICAST_GROUP }
    } else {
        ChecksumMode::MessageOnly
    };
    Packet::new_unchecked(&mut msg[..]).fill_checksum(mode);
    let datagram = packet::wrap_datagram(&msg, src, MULTICAST_GROUP, ttl, 0);
    let Ok(rx) = packet::parse_datagram(&datagram, v3_as_v2) else { return };

    // Round trip: what we emit parses back to the same advert.
    let again = rx.repr.to_bytes(mode);
    let reparsed = Repr::parse(&Packet::new_checked(&again[..]).unwrap(), mode).unwrap();
    assert_eq!(reparsed, rx.repr);

    // The state machine: the same advert again and again with timeouts between.
    let mut cfg = InstanceConfig::new("VI_1", "eth1", rx.repr.vrid.max(1), 100, Ipv4Addr::new(10, 0, 0, 1));
    cfg.version = rx.repr.version;
    if rx.repr.version == Version::V2 {
        cfg.auth = rx.repr.auth;
        cfg.advert_int = Duration::from_secs(u64::from(rx.repr.adver_int_cs / 100).clamp(1, 255));
    } else {
        cfg.auth = Auth::None;
        cfg.advert_int = Duration::from_millis(u64::from(rx.repr.adver_int_cs.clamp(1, 4095)) * 10);
    }
    cfg.vips = rx.repr.addrs.clone();
    cfg.nopreempt = ctl & 0x40 != 0;
    cfg.preempt_delay = Duration::from_millis(u64::from(ctl & 0x80) * 10);
    let mut inst = Instance::new(cfg).unwrap();
    let t0 = Instant::now();
    inst.start(t0);
    let mut now = t0;
    for step in 0..16u64 {
        let _ = inst.handle_packet(now, &rx);
        while inst.poll_action().is_some() {}
        now += Duration::from_millis(137 * (step + 1));
        inst.handle_timeout(now);
        while inst.poll_action().is_some() {}
        assert!(matches!(inst.state(), State::Backup | State::Master));
        assert!(inst.poll_timeout().is_some_and(|t| t > now), "a running instance always has a timer ahead");
    }
});
