//! Fuzz connection-sync decoding and the receive path: parsing untrusted
//! datagrams never panics, and a datagram that parses re-emits to the same
//! bytes; a keyed and an unkeyed `Share` take any bytes without panicking,
//! count each one exactly once, and refuse a datagram they accepted when it
//! comes again. The entries of any datagram that parses go through a keyed
//! sender and receiver unchanged.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vipd_core::sync::wire::{self, Packet};
use vipd_core::sync::{Discard, Incoming, Key, Share, ShareConfig};

const KEY: &[u8] = b"vipd fuzz sync key, 32 bytes ok!";

fn share(sender_id: u64, key: Option<&Key>) -> Share {
    Share::new(ShareConfig {
        key: key.cloned(),
        ..ShareConfig::new(sender_id)
    })
    .unwrap()
}

fuzz_target!(|data: &[u8]| {
    let parsed = wire::parse(data);
    if let Ok(d) = &parsed {
        assert_eq!(d.to_bytes(), data);
        assert_eq!(d.buffer_len(), data.len());
    }

    let key = Key::new(KEY).unwrap();
    // Our clock reads the datagram's own stamp, so the fuzzer gets past the
    // clock bound and reaches the replay window.
    let wall_s = Packet::new_checked(data).map(|p| p.time_s()).unwrap_or(0);
    for mut rx in [share(1, Some(&key)), share(1, None)] {
        let first = rx.handle_datagram(Duration::ZERO, wall_s, data);
        let again = rx.handle_datagram(Duration::from_millis(1), wall_s, data);
        if first.is_ok() {
            assert!(matches!(again, Err(Discard::Replay { .. })), "{again:?}");
            assert!(parsed.is_ok());
        }
        let c = rx.counters();
        assert_eq!(c.datagrams_received + c.dropped.total(), 2);
        assert!(rx.peers().len() <= 1);
    }

    // Whatever parses, re-sent by a keyed director, arrives whole.
    let Ok(d) = parsed else { return };
    let mut tx = share(2, Some(&key));
    let mut rx = share(3, Some(&key));
    for e in &d.entries {
        tx.queue(Duration::ZERO, *e).unwrap();
    }
    let mut got = Vec::new();
    for bytes in tx.dump_end(d.time_s) {
        assert!(bytes.len() <= tx.config().max_datagram);
        match rx.handle_datagram(Duration::ZERO, d.time_s, &bytes) {
            Ok(Incoming::Entries { from: 2, entries }) => got.extend(entries),
            Ok(Incoming::DumpEnded { from: 2 }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, d.entries);
});
