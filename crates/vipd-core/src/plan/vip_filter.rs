//! The XDP program's first test of every packet: is its destination a VIP?
//!
//! A hash-map lookup is a function call from BPF (about 40 ns on these machines,
//! a sixth of the director's whole budget per packet), so the program asks an
//! array the verifier inlines instead: `vip4_filter`, [`VIP_BUCKETS`] buckets of
//! [`VIP_SLOTS`] IPv4 addresses, the bucket chosen by [`vip_bucket`] (the same
//! hash as `vipd_vip_bucket` in `bpf/vipd_director.h`). A bucket that more VIPs
//! hash to than it has slots is flagged `overflow`, and the program then also
//! asks the `vips` hash map, which always holds every VIP.
//!
//! The program reads a bucket while the control plane may be rewriting it, so
//! [`VipFilter::update`] never moves an address: a VIP keeps its slot for as long
//! as it exists, new VIPs take free slots, and a torn read can only miss a VIP
//! that is being added or removed at that moment. Clearing `overflow` is written
//! in two steps (slots first, flag second) so the flag never drops before the
//! address it covered is in its slot.

//!
//! IPv6 VIPs have their own filter of the same kind, `vip6_filter`
//! ([`VipFilter6`]: [`VIP6_SLOTS`] 16-byte addresses per bucket, the bucket by
//! [`vip6_bucket`]). A 16-byte slot is not written atomically: a torn read can
//! make a packet for a VIP being added look like a non-VIP, or, while a slot
//! is being filled, a packet to an address made of the new VIP's first words
//! and zeros look like one for a VIP; the program then finds no service for
//! it and passes it, unless it is malformed (then dropped as for a VIP). Both
//! need a write and a packet in the same few nanoseconds.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sched::hash::{fmix32, FLOW_HASH_SEED};

/// Buckets in the filter (`VIPD_VIP_BUCKETS`, a power of two).
pub const VIP_BUCKETS: usize = 256;
/// Addresses per bucket (`VIPD_VIP_SLOTS`).
pub const VIP_SLOTS: usize = 7;
/// IPv6 addresses per bucket (`VIPD_VIP6_SLOTS`: 3 x 16 bytes + the flag in
/// one 64-byte line).
pub const VIP6_SLOTS: usize = 3;

/// An address a filter holds.
pub trait FilterAddr: Copy + Eq + Ord + std::fmt::Debug {
    /// Its bucket (the program's hash).
    fn bucket(self) -> usize;
    /// The all-zero address: a free slot, never a VIP.
    fn is_zero(self) -> bool;
}

impl FilterAddr for Ipv4Addr {
    fn bucket(self) -> usize {
        vip_bucket(self)
    }
    fn is_zero(self) -> bool {
        self.is_unspecified()
    }
}

impl FilterAddr for Ipv6Addr {
    fn bucket(self) -> usize {
        vip6_bucket(self)
    }
    fn is_zero(self) -> bool {
        self.is_unspecified()
    }
}

/// The bucket of an IPv6 address (mirrors `vipd_vip6_bucket`: the XOR of its
/// four words as the program loads them, little-endian reads of network
/// order, then the IPv4 filter's hash).
pub fn vip6_bucket(addr: Ipv6Addr) -> usize {
    let o = addr.octets();
    let w = |i: usize| u32::from_le_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    (fmix32(w(0) ^ w(4) ^ w(8) ^ w(12) ^ FLOW_HASH_SEED) as usize) & (VIP_BUCKETS - 1)
}

/// The bucket of an IPv4 address (mirrors `vipd_vip_bucket`: the address as the
/// program loads it from the packet, a little-endian read of network order).
pub fn vip_bucket(addr: Ipv4Addr) -> usize {
    (fmix32(u32::from_le_bytes(addr.octets()) ^ FLOW_HASH_SEED) as usize) & (VIP_BUCKETS - 1)
}

/// One bucket as the program sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterBucket<A, const N: usize> {
    /// The VIPs in their slots (`None` = free, written as all zeros).
    pub slots: [Option<A>; N],
    /// More VIPs hash here than fit: the program also asks `vips`.
    pub overflow: bool,
}

impl<A: FilterAddr, const N: usize> Default for FilterBucket<A, N> {
    fn default() -> Self {
        Self {
            slots: [None; N],
            overflow: false,
        }
    }
}

/// A bucket of `vip4_filter`.
pub type Bucket = FilterBucket<Ipv4Addr, VIP_SLOTS>;

/// One map write, in the order they must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterWrite<A, const N: usize> {
    /// Index into the filter map.
    pub index: usize,
    /// The whole new value.
    pub bucket: FilterBucket<A, N>,
}

/// A write of `vip4_filter`.
pub type BucketWrite = FilterWrite<Ipv4Addr, VIP_SLOTS>;

/// What the filter says of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In a slot: a VIP.
    Vip,
    /// Not in its bucket, which has not overflowed: not a VIP.
    NotVip,
    /// Not in its (overflowing) bucket: the `vips` map decides.
    AskMap,
}

/// The control plane's copy of a filter map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter<A, const N: usize> {
    buckets: Vec<FilterBucket<A, N>>,
}

/// The control plane's copy of `vip4_filter`.
pub type VipFilter = Filter<Ipv4Addr, VIP_SLOTS>;
/// The control plane's copy of `vip6_filter`.
pub type VipFilter6 = Filter<Ipv6Addr, VIP6_SLOTS>;

impl<A: FilterAddr, const N: usize> Default for Filter<A, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: FilterAddr, const N: usize> Filter<A, N> {
    /// An empty filter (all slots free), as the map starts.
    pub fn new() -> Self {
        Self {
            buckets: vec![FilterBucket::default(); VIP_BUCKETS],
        }
    }

    /// The bucket at `index`.
    pub fn bucket(&self, index: usize) -> &FilterBucket<A, N> {
        &self.buckets[index]
    }

    /// What the program concludes for `addr`.
    pub fn lookup(&self, addr: A) -> Verdict {
        let b = &self.buckets[addr.bucket()];
        if !addr.is_zero() && b.slots.contains(&Some(addr)) {
            Verdict::Vip
        } else if b.overflow {
            Verdict::AskMap
        } else {
            Verdict::NotVip
        }
    }

    /// Makes the filter hold exactly `vips` (the zero address, never a
    /// destination, is left out) and returns the writes that get the map there, in order.
    pub fn update(&mut self, vips: &BTreeSet<A>) -> Vec<FilterWrite<A, N>> {
        let mut by_bucket: Vec<Vec<A>> = vec![Vec::new(); VIP_BUCKETS];
        for &v in vips.iter().filter(|v| !v.is_zero()) {
            by_bucket[v.bucket()].push(v);
        }
        let mut writes = Vec::new();
        for (index, wanted) in by_bucket.into_iter().enumerate() {
            let old = self.buckets[index];
            let mut push = |b: FilterBucket<A, N>, last: &mut FilterBucket<A, N>| {
                if b != *last {
                    writes.push(FilterWrite { index, bucket: b });
                    *last = b;
                }
            };
            let mut cur = old;
            // 1. Free the slots of VIPs that went away.
            let mut cleared = old;
            for slot in cleared.slots.iter_mut() {
                if slot.is_some_and(|a| !wanted.contains(&a)) {
                    *slot = None;
                }
            }
            push(cleared, &mut cur);
            // 2. New VIPs into free slots (a slot never goes from one address
            //    to another in one write); the flag stays up if it was.
            let mut added = cleared;
            let mut rest = wanted
                .iter()
                .filter(|a| !cleared.slots.contains(&Some(**a)))
                .copied();
            for slot in added.slots.iter_mut().filter(|s| s.is_none()) {
                match rest.next() {
                    Some(a) => *slot = Some(a),
                    None => break,
                }
            }
            let overflow = rest.next().is_some();
            added.overflow = old.overflow || overflow;
            push(added, &mut cur);
            // 3. Only then drop the flag.
            added.overflow = overflow;
            push(added, &mut cur);
            self.buckets[index] = cur;
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[Ipv4Addr]) -> BTreeSet<Ipv4Addr> {
        v.iter().copied().collect()
    }

    /// Distinct addresses of 10.0.0.0/8 that share one bucket.
    fn same_bucket(n: usize) -> Vec<Ipv4Addr> {
        let first = Ipv4Addr::new(10, 0, 0, 1);
        let want = vip_bucket(first);
        (1u32..)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + i))
            .filter(|a| vip_bucket(*a) == want)
            .take(n)
            .collect()
    }

    #[test]
    fn ipv6_vips_fill_their_own_filter_and_overflow_to_the_map() {
        let want = vip6_bucket("2001:db8:85::250".parse().unwrap());
        let same: Vec<Ipv6Addr> = (0x250u16..)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0x85, 0, 0, 0, 0, i))
            .filter(|a| vip6_bucket(*a) == want)
            .take(VIP6_SLOTS + 1)
            .collect();
        let mut f = VipFilter6::new();
        let w = f.update(&same.iter().copied().collect());
        assert!(f.bucket(want).overflow, "{w:?}");
        assert_eq!(
            same.iter()
                .filter(|v| f.lookup(**v) == Verdict::Vip)
                .count(),
            VIP6_SLOTS
        );
        assert!(same.iter().all(|v| f.lookup(*v) != Verdict::NotVip));
        assert_eq!(f.lookup(Ipv6Addr::UNSPECIFIED), Verdict::NotVip);
        // The hash: the XOR of the words as the program loads them.
        let o = same[0].octets();
        let w = |i: usize| u32::from_le_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
        let h = fmix32(w(0) ^ w(4) ^ w(8) ^ w(12) ^ FLOW_HASH_SEED) & 255;
        assert_eq!(vip6_bucket(same[0]), h as usize);
    }

    #[test]
    fn bucket_hash_is_the_programs() {
        // fmix32(LE(10.253.85.250) ^ seed) & 255, worked out by hand from the
        // murmur3 finaliser; the PROG_TEST_RUN tests check the program agrees.
        let w = u32::from_le_bytes([10, 253, 85, 250]) ^ FLOW_HASH_SEED;
        assert_eq!(
            vip_bucket(Ipv4Addr::new(10, 253, 85, 250)),
            (fmix32(w) & 255) as usize
        );
        let spread: BTreeSet<usize> = (0..4096u32)
            .map(|i| vip_bucket(Ipv4Addr::from(0x0afd_0000 + i)))
            .collect();
        assert_eq!(spread.len(), VIP_BUCKETS, "a /20 reaches every bucket");
    }

    #[test]
    fn vips_are_found_and_nothing_else() {
        let mut f = VipFilter::new();
        let vips = [Ipv4Addr::new(10, 253, 85, 250), Ipv4Addr::new(192, 0, 2, 1)];
        let w = f.update(&set(&vips));
        assert_eq!(w.len(), 2);
        for v in vips {
            assert_eq!(f.lookup(v), Verdict::Vip);
        }
        assert_eq!(f.lookup(Ipv4Addr::new(10, 253, 85, 251)), Verdict::NotVip);
        assert_eq!(f.lookup(Ipv4Addr::UNSPECIFIED), Verdict::NotVip);
        assert!(f.update(&set(&vips)).is_empty(), "no change, no write");
    }

    #[test]
    fn a_vip_keeps_its_slot_while_others_come_and_go() {
        let a = same_bucket(4);
        let mut f = VipFilter::new();
        f.update(&set(&a[..3]));
        let b = vip_bucket(a[0]);
        let slot_of = |f: &VipFilter, v| f.bucket(b).slots.iter().position(|s| *s == Some(v));
        let before = slot_of(&f, a[2]).unwrap();
        // Remove a[0], add a[3]: a[2] stays where it was, a[3] takes a free slot.
        let w = f.update(&set(&[a[1], a[2], a[3]]));
        assert_eq!(w.len(), 2, "a removal, then an addition: {w:?}");
        assert_eq!(slot_of(&f, a[2]), Some(before));
        assert_eq!(f.lookup(a[0]), Verdict::NotVip);
        assert_eq!(f.lookup(a[3]), Verdict::Vip);
        // Every write changes a slot only from free to taken or taken to free.
        let mut prev = [Some(a[0]), Some(a[1]), Some(a[2]), None, None, None, None];
        for w in &w {
            for (i, s) in w.bucket.slots.iter().enumerate() {
                assert!(
                    prev[i].is_none() || s.is_none() || *s == prev[i],
                    "slot {i} moved"
                );
            }
            prev = w.bucket.slots;
        }
    }

    #[test]
    fn a_full_bucket_overflows_to_the_map_and_drops_the_flag_last() {
        let a = same_bucket(VIP_SLOTS + 2);
        let mut f = VipFilter::new();
        f.update(&set(&a));
        let b = vip_bucket(a[0]);
        assert!(f.bucket(b).overflow);
        let in_slots = a.iter().filter(|v| f.lookup(**v) == Verdict::Vip).count();
        assert_eq!(in_slots, VIP_SLOTS);
        assert!(a.iter().all(|v| f.lookup(*v) != Verdict::NotVip));
        // A non-VIP of that bucket: the map must decide.
        let other = same_bucket(VIP_SLOTS + 3)[VIP_SLOTS + 2];
        assert_eq!(f.lookup(other), Verdict::AskMap);

        // Remove two slotted VIPs: the two from the map move in, the flag drops
        // in a second write.
        let slotted: Vec<Ipv4Addr> = a
            .iter()
            .copied()
            .filter(|v| f.lookup(*v) == Verdict::Vip)
            .collect();
        let keep: Vec<Ipv4Addr> = a
            .iter()
            .copied()
            .filter(|v| *v != slotted[0] && *v != slotted[1])
            .collect();
        let w = f.update(&set(&keep));
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().take(2).all(|w| w.bucket.overflow) && !w[2].bucket.overflow);
        assert_eq!(w[1].bucket.slots, w[2].bucket.slots);
        assert!(keep.iter().all(|v| f.lookup(*v) == Verdict::Vip));
        assert_eq!(f.lookup(slotted[0]), Verdict::NotVip);
    }
}
