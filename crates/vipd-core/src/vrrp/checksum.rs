//! The Internet checksum (RFC 1071) used by IPv4 headers and VRRP messages.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to a running 32-bit sum (odd tail padded
/// with zero, RFC 1071 §4.1).
pub fn accumulate(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

/// Folds the carries of a running sum and returns its one's complement.
pub fn finish(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of `data` alone.
pub fn checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// The running sum of the IPv4 pseudo-header (RFC 768 layout: source, destination,
/// zero, protocol, upper-layer length) that VRRPv3 prepends (RFC 5798 §5.2.8).
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> u32 {
    let mut sum = accumulate(0, &src.octets());
    sum = accumulate(sum, &dst.octets());
    sum = sum.wrapping_add(u32::from(protocol));
    sum.wrapping_add(u32::from(len))
}

/// The running sum of the IPv6 pseudo-header (RFC 8200 §8.1: source,
/// destination, 32-bit upper-layer length, three zero bytes, next header)
/// that VRRPv3 over IPv6 prepends (RFC 5798 §5.2.8).
pub fn pseudo_header6_sum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u32 {
    let mut sum = accumulate(0, &src.octets());
    sum = accumulate(sum, &dst.octets());
    sum = accumulate(sum, &len.to_be_bytes());
    sum.wrapping_add(u32::from(next_header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 -> sum ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(checksum(&[0x12]), checksum(&[0x12, 0x00]));
    }
}
