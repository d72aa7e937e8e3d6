//! The flow hash shared bit-for-bit with `bpf/director.bpf.c` (`vipd_flow_hash`).
//!
//! The XDP program computes it on new flows to index `sh`/`dh`/`mh` tables; the
//! control plane computes the same value in tests to predict the program's choice.
//! Inputs are taken as the program loads them on a little-endian machine: each
//! 4-byte address word and each 2-byte port as found in the packet (network order),
//! read as a little-endian integer. IPv4 uses word 0 and leaves words 1-3 zero, so
//! IPv6 fits without a new hash.

/// Seed mixed into every flow hash, so that vipd's tables do not line up with other
/// users of the same mixer.
pub const FLOW_HASH_SEED: u32 = 0x5eed_1b05;

/// murmur3's 32-bit finaliser: a full-avalanche mix of one word.
#[inline]
pub const fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Addresses of a flow as the program sees them: four words, IPv4 in word 0.
pub type AddrWords = [u32; 4];

/// Words of an IPv4 address as the program loads them (`saddr` in a register).
pub fn v4_words(addr: std::net::Ipv4Addr) -> AddrWords {
    [u32::from_le_bytes(addr.octets()), 0, 0, 0]
}

/// A port as the program loads it from the packet (network order, read LE).
pub fn port_word(port: u16) -> u16 {
    u16::from_le_bytes(port.to_be_bytes())
}

/// Hash of a connection (mirrors `vipd_flow_hash` in C).
///
/// `sport`/`dport` are [`port_word`] values; both are 0 for fragments, which are
/// scheduled on addresses only.
pub fn flow_hash(src: &AddrWords, dst: &AddrWords, sport: u16, dport: u16, proto: u8) -> u32 {
    let mut h = fmix32(FLOW_HASH_SEED ^ u32::from(proto));
    for w in src.iter().chain(dst.iter()) {
        h = fmix32(h ^ w);
    }
    fmix32(h ^ (u32::from(sport) << 16 | u32::from(dport)))
}

/// Hash of one address (mirrors `vipd_addr_hash`): `sh` hashes the client's,
/// `dh` the destination's.
pub fn addr_hash(addr: &AddrWords) -> u32 {
    let mut h = FLOW_HASH_SEED;
    for w in addr {
        h = fmix32(h ^ w);
    }
    h
}

/// Hash of the client for `sh` and `mh` (mirrors `vipd_client_hash`): its
/// address, and with `sh-port` / `mh-port` its port ([`port_word`]) too.
pub fn client_hash(src: &AddrWords, sport: Option<u16>) -> u32 {
    let h = addr_hash(src);
    match sport {
        Some(p) => fmix32(h ^ u32::from(p)),
        None => h,
    }
}

/// The `try`th rehash of `h`, where `sh-fallback` / `mh-fallback` look past
/// an unavailable real server (mirrors `vipd_rehash`).
pub fn rehash(h: u32, try_: u32) -> u32 {
    fmix32(h ^ try_.wrapping_mul(0x9e37_79b9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmix32_known_values() {
        // Reference values of murmur3's fmix32.
        assert_eq!(fmix32(0), 0);
        assert_eq!(fmix32(1), 0x514e_28b7);
    }

    #[test]
    fn words_are_network_order_bytes() {
        let w = v4_words("10.0.0.1".parse().unwrap());
        assert_eq!(w[0].to_le_bytes(), [10, 0, 0, 1]);
        assert_eq!(port_word(80).to_le_bytes(), [0, 80]);
    }

    #[test]
    fn ports_matter_and_fragments_do_not_collide_with_ports() {
        let s = v4_words("203.0.113.7".parse().unwrap());
        let d = v4_words("10.253.85.250".parse().unwrap());
        let a = flow_hash(&s, &d, port_word(1000), port_word(80), 6);
        let b = flow_hash(&s, &d, port_word(1001), port_word(80), 6);
        let f = flow_hash(&s, &d, 0, 0, 6);
        assert_ne!(a, b);
        assert_ne!(a, f);
    }
}
