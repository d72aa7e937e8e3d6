//! `#[repr(C)]` mirrors of `bpf/vipd.h`, field by field, with the constants the
//! Rust side needs. A test compiles a C program against the header and checks
//! every size and offset listed here.

use std::net::IpAddr;

/// Slots per scheduling table (`VIPD_RING_SIZE`).
pub const RING_SIZE: u32 = 65537;
/// Default service slots (`VIPD_MAX_SERVICES`).
pub const MAX_SERVICES: u32 = 32;
/// Default real-server ids (`VIPD_MAX_DESTS`).
pub const MAX_DESTS: u32 = 4096;
/// Default connection-table size (`VIPD_CONN_MAX`).
pub const CONN_MAX: u32 = 262_144;
/// Default half-open table size (`VIPD_HALF_OPEN_MAX`).
pub const HALF_OPEN_MAX: u32 = 262_144;
/// Bytes of the sharing ring buffer (`VIPD_SYNC_RING`).
pub const SYNC_RING: u32 = 256 * 1024;
/// `VIPD_CFG_F_SYNC`: connection sharing on.
pub const CFG_F_SYNC: u32 = 0x1;
/// `VIPD_CFG_F_OPS`: some service has `SVC_F_OPS` (UDP packets look their
/// service up before the connection tables).
pub const CFG_F_OPS: u32 = 0x2;
/// `VIPD_CFG_F_NAT`: some real server is NAT (packets not for a VIP may be
/// replies to translate).
pub const CFG_F_NAT: u32 = 0x4;
/// `VIPD_CFG_F_V6`: some VIP is IPv6 (IPv6 packets are looked up in `vips`).
pub const CFG_F_V6: u32 = 0x8;
/// Buckets of the IPv4 VIP filter (`VIPD_VIP_BUCKETS`).
pub const VIP_BUCKETS: u32 = vipd_core::plan::vip_filter::VIP_BUCKETS as u32;
/// VIPs per filter bucket (`VIPD_VIP_SLOTS`).
pub const VIP_SLOTS: usize = vipd_core::plan::vip_filter::VIP_SLOTS;
/// IPv6 VIPs per filter bucket (`VIPD_VIP6_SLOTS`).
pub const VIP6_SLOTS: usize = vipd_core::plan::vip_filter::VIP6_SLOTS;
/// Flow-cache slots per CPU (`VIPD_FLOW_CACHE`).
pub const FLOW_CACHE: u32 = 4096;
/// `VIPD_AF_INET`.
pub const AF_INET: u8 = 2;
/// `VIPD_AF_INET6`.
pub const AF_INET6: u8 = 10;
/// `VIPD_SVC_F_PERSIST`.
pub const SVC_F_PERSIST: u8 = 0x1;
/// `VIPD_SVC_F_HASH_PORT` (`sh-port`, `mh-port`).
pub const SVC_F_HASH_PORT: u8 = 0x2;
/// `VIPD_SVC_F_FALLBACK` (`sh-fallback`, `mh-fallback`).
pub const SVC_F_FALLBACK: u8 = 0x4;
/// `VIPD_SVC_F_OPS` (`ops`: one-packet scheduling, UDP).
pub const SVC_F_OPS: u8 = 0x8;
/// `VIPD_DEST_F_LIVE`.
pub const DEST_F_LIVE: u8 = 0x1;
/// `VIPD_FWD_TUN`.
pub const FWD_TUN: u8 = 0;
/// `VIPD_FWD_DR`.
pub const FWD_DR: u8 = 1;
/// `VIPD_FWD_NAT`.
pub const FWD_NAT: u8 = 2;

/// `enum vipd_conn_state`.
pub mod conn_state {
    /// SYN seen.
    pub const SYN: u8 = 0;
    /// Established.
    pub const ESTABLISHED: u8 = 1;
    /// FIN seen.
    pub const FIN: u8 = 2;
    /// RST seen.
    pub const CLOSE: u8 = 3;
    /// UDP.
    pub const UDP: u8 = 4;
    /// Fragments (addresses only).
    pub const FRAG: u8 = 5;
}

/// `VIPD_AF_INET` or `VIPD_AF_INET6`: the family of `ip`.
pub fn family(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// Address words as the program stores them: network-order bytes, IPv4 in word 0.
pub fn addr_words(ip: IpAddr) -> [u32; 4] {
    match ip {
        IpAddr::V4(a) => [u32::from_ne_bytes(a.octets()), 0, 0, 0],
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        }
    }
}

/// The address in `w` of `family` (`AF_INET`: word 0; otherwise all four).
pub fn words_addr(family: u8, w: [u32; 4]) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(std::net::Ipv4Addr::from(w[0].to_ne_bytes()))
    } else {
        let mut o = [0u8; 16];
        for (i, x) in w.iter().enumerate() {
            o[i * 4..i * 4 + 4].copy_from_slice(&x.to_ne_bytes());
        }
        IpAddr::V6(std::net::Ipv6Addr::from(o))
    }
}

/// `struct vipd_vip_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VipKey {
    /// `addr`.
    pub addr: [u32; 4],
    /// `family`.
    pub family: u8,
    /// `_pad`.
    pub _pad: [u8; 3],
}

/// `struct vipd_svc_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SvcKey {
    /// `vip`.
    pub vip: [u32; 4],
    /// `port`, network order.
    pub port: u16,
    /// `proto`.
    pub proto: u8,
    /// `family`.
    pub family: u8,
}

/// `struct vipd_svc`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Svc {
    /// `id`.
    pub id: u32,
    /// `ring_len`.
    pub ring_len: u32,
    /// `sched`.
    pub sched: u8,
    /// `gen`.
    pub gen: u8,
    /// `flags`.
    pub flags: u8,
    /// `_pad`.
    pub _pad: u8,
    /// `persist_timeout`, seconds.
    pub persist_timeout: u32,
    /// `persist_mask`.
    pub persist_mask: [u32; 4],
}

/// `struct vipd_dest`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dest {
    /// `rip`.
    pub rip: [u32; 4],
    /// `svc_id`.
    pub svc_id: u32,
    /// `weight`.
    pub weight: u32,
    /// `port`, network order.
    pub port: u16,
    /// `family`.
    pub family: u8,
    /// `fwd`.
    pub fwd: u8,
    /// `flags`.
    pub flags: u8,
    /// `_pad`.
    pub _pad: u8,
    /// `mss`, host order.
    pub mss: u16,
}

/// `struct vipd_dest_conns`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestConns {
    /// `active`.
    pub active: u32,
    /// `inactive`.
    pub inactive: u32,
}

/// `struct vipd_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// `packets`.
    pub packets: u64,
    /// `bytes`.
    pub bytes: u64,
    /// `conns`.
    pub conns: u64,
    /// `out_packets` (NAT replies).
    pub out_packets: u64,
    /// `out_bytes`.
    pub out_bytes: u64,
}

/// `struct vipd_nat_rev`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NatRev {
    /// `vip`.
    pub vip: [u32; 4],
    /// `vport` (network order).
    pub vport: u16,
    /// `_pad`.
    pub _pad: u16,
    /// `svc`.
    pub svc: u32,
    /// `dest`.
    pub dest: u32,
    /// `_pad2`.
    pub _pad2: u32,
}

/// `struct vipd_flow`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flow {
    /// `src`.
    pub src: [u32; 4],
    /// `dst`.
    pub dst: [u32; 4],
    /// `sport`, network order.
    pub sport: u16,
    /// `dport`, network order.
    pub dport: u16,
    /// `proto`.
    pub proto: u8,
    /// `family`.
    pub family: u8,
    /// `_pad`.
    pub _pad: [u8; 2],
}

/// `struct vipd_vip_bucket`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VipBucket {
    /// `addr`: IPv4 VIPs as the program loads them ([`addr_words`] word 0).
    pub addr: [u32; VIP_SLOTS],
    /// `overflow`.
    pub overflow: u32,
}

/// `struct vipd_vip6_bucket`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VipBucket6 {
    /// `addr`: IPv6 VIPs as the program loads them ([`addr_words`]).
    pub addr: [[u32; 4]; VIP6_SLOTS],
    /// `overflow`.
    pub overflow: u32,
    /// `_pad`.
    pub _pad: [u32; 3],
}

/// `struct vipd_flow_cache`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowCache {
    /// `flow`.
    pub flow: Flow,
    /// `checked_ns`.
    pub checked_ns: u64,
    /// `dest`.
    pub dest: u32,
    /// `svc`.
    pub svc: u16,
    /// `_pad`.
    pub _pad: u16,
    /// `_pad2`.
    pub _pad2: u64,
}

/// `struct vipd_clock`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    /// `jiffies`.
    pub jiffies: u64,
    /// `ns`.
    pub ns: u64,
}

/// `struct vipd_conn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conn {
    /// `last_ns`.
    pub last_ns: u64,
    /// `dest`.
    pub dest: u32,
    /// `state`.
    pub state: u8,
    /// `flags`: `CONN_F_*`.
    pub flags: u8,
    /// `svc`.
    pub svc: u16,
}

/// `VIPD_CONN_F_PEER`: installed from another director, not forwarded here yet.
pub const CONN_F_PEER: u8 = 0x1;

/// `struct vipd_persist_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersistKey {
    /// `client`.
    pub client: [u32; 4],
    /// `svc_id`.
    pub svc_id: u32,
    /// `family`.
    pub family: u8,
    /// `_pad`.
    pub _pad: [u8; 3],
}

/// `struct vipd_persist`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Persist {
    /// `last_ns`.
    pub last_ns: u64,
    /// `dest`.
    pub dest: u32,
    /// `_pad`.
    pub _pad: u32,
}

/// `struct vipd_nexthop`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nexthop {
    /// `stamp_ns`.
    pub stamp_ns: u64,
    /// `rip`.
    pub rip: [u32; 4],
    /// `src`.
    pub src: [u32; 4],
    /// `ifindex`.
    pub ifindex: u32,
    /// `mtu`.
    pub mtu: u16,
    /// `fwd`.
    pub fwd: u8,
    /// `family`.
    pub family: u8,
    /// `dmac`.
    pub dmac: [u8; 6],
    /// `smac`.
    pub smac: [u8; 6],
    /// `_pad`.
    pub _pad: u32,
}

/// `struct vipd_config`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `tcp_timeout`.
    pub tcp_timeout: u32,
    /// `tcp_fin_timeout`.
    pub tcp_fin_timeout: u32,
    /// `tcp_syn_timeout`.
    pub tcp_syn_timeout: u32,
    /// `tcp_close_timeout`.
    pub tcp_close_timeout: u32,
    /// `udp_timeout`.
    pub udp_timeout: u32,
    /// `flags`: `CFG_F_*`.
    pub flags: u32,
}

impl SyncEvent {
    /// A record of `sync_ring` (None if it is not one).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() == std::mem::size_of::<Self>()).then(|| super::batch::read_value::<Self>(b, 0))
    }
}

/// `struct vipd_sync_event`: a record of `sync_ring`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncEvent {
    /// `flow`.
    pub flow: Flow,
    /// `dest`.
    pub dest: u32,
    /// `svc`.
    pub svc: u16,
    /// `state`.
    pub state: u8,
    /// `_pad`.
    pub _pad: u8,
}

impl Default for Config {
    /// IPVS's default timeouts.
    fn default() -> Self {
        Self {
            tcp_timeout: 900,
            tcp_fin_timeout: 120,
            tcp_syn_timeout: 60,
            tcp_close_timeout: 10,
            udp_timeout: 300,
            flags: 0,
        }
    }
}

impl Config {
    /// How long an entry in `state` lives without a packet, in ns (the
    /// program's `vipd_timeout_ns`).
    pub fn timeout_ns(&self, state: u8) -> u64 {
        u64::from(match state {
            conn_state::ESTABLISHED => self.tcp_timeout,
            conn_state::SYN => self.tcp_syn_timeout,
            conn_state::FIN => self.tcp_fin_timeout,
            conn_state::CLOSE => self.tcp_close_timeout,
            _ => self.udp_timeout,
        }) * 1_000_000_000
    }
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: repr(C), only integer fields, explicit padding: every bit
        // pattern is valid and there are no implicit holes.
        #[expect(unsafe_code, reason = "aya::Pod is how aya copies map keys/values")]
        unsafe impl aya::Pod for $t {}
    )*};
}
/// `struct vipd_floor_cfg` (bpf/bench.bpf.c): `vipd datapath floor`'s settings.
/// Addresses and the port in network byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FloorCfg {
    /// `vip`.
    pub vip: u32,
    /// `port`.
    pub port: u16,
    /// `n`: real servers in `rips` (1..4).
    pub n: u16,
    /// `src`: outer source address.
    pub src: u32,
    /// `rips`.
    pub rips: [u32; 4],
    /// `dmac`: next hop.
    pub dmac: [u8; 6],
    /// `smac`: the interface.
    pub smac: [u8; 6],
}

pod!(
    VipKey, VipBucket, VipBucket6, SvcKey, Svc, Dest, DestConns, Stats, Flow, FlowCache, Clock,
    Conn, PersistKey, Persist, Nexthop, Config, FloorCfg, SyncEvent, NatRev
);

/// Every struct with its C name, Rust size and (C field, Rust offset) list: what
/// the header test checks.
/// One struct's layout: C name, size, (field, offset) pairs.
#[cfg(test)]
pub(crate) type Layout = (&'static str, usize, Vec<(&'static str, usize)>);

#[cfg(test)]
pub(crate) fn layout() -> Vec<Layout> {
    use std::mem::{offset_of, size_of};
    macro_rules! s {
        ($c:literal, $t:ty, [$($f:ident),*]) => {
            ($c, size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
        };
    }
    vec![
        s!("vipd_vip_key", VipKey, [addr, family, _pad]),
        s!("vipd_vip_bucket", VipBucket, [addr, overflow]),
        s!("vipd_vip6_bucket", VipBucket6, [addr, overflow, _pad]),
        s!(
            "vipd_flow_cache",
            FlowCache,
            [flow, checked_ns, dest, svc, _pad, _pad2]
        ),
        s!("vipd_clock", Clock, [jiffies, ns]),
        s!(
            "vipd_nexthop",
            Nexthop,
            [stamp_ns, rip, src, ifindex, mtu, fwd, family, dmac, smac, _pad]
        ),
        s!("vipd_svc_key", SvcKey, [vip, port, proto, family]),
        s!(
            "vipd_svc",
            Svc,
            [
                id,
                ring_len,
                sched,
                gen,
                flags,
                _pad,
                persist_timeout,
                persist_mask
            ]
        ),
        s!(
            "vipd_dest",
            Dest,
            [rip, svc_id, weight, port, family, fwd, flags, _pad, mss]
        ),
        s!("vipd_dest_conns", DestConns, [active, inactive]),
        s!(
            "vipd_stats",
            Stats,
            [packets, bytes, conns, out_packets, out_bytes]
        ),
        s!("vipd_nat_rev", NatRev, [vip, vport, _pad, svc, dest, _pad2]),
        s!(
            "vipd_flow",
            Flow,
            [src, dst, sport, dport, proto, family, _pad]
        ),
        s!("vipd_conn", Conn, [last_ns, dest, state, flags, svc]),
        s!(
            "vipd_persist_key",
            PersistKey,
            [client, svc_id, family, _pad]
        ),
        s!("vipd_persist", Persist, [last_ns, dest, _pad]),
        s!(
            "vipd_config",
            Config,
            [
                tcp_timeout,
                tcp_fin_timeout,
                tcp_syn_timeout,
                tcp_close_timeout,
                udp_timeout,
                flags
            ]
        ),
        s!("vipd_sync_event", SyncEvent, [flow, dest, svc, state, _pad]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::process::Command;

    /// Compiles a C program against `bpf/vipd.h` with the host compiler and
    /// compares every size and offset with the Rust mirrors.
    #[test]
    fn mirrors_match_the_c_header() {
        let hdr = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bpf");
        let mut c = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include \"vipd.h\"\nint main(void){\n",
        );
        let mut want = String::new();
        for (name, size, fields) in layout() {
            writeln!(c, "printf(\"{name} %zu\\n\", sizeof(struct {name}));").unwrap();
            writeln!(want, "{name} {size}").unwrap();
            for (f, off) in fields {
                writeln!(
                    c,
                    "printf(\"{name}.{f} %zu\\n\", offsetof(struct {name}, {f}));"
                )
                .unwrap();
                writeln!(want, "{name}.{f} {off}").unwrap();
            }
        }
        // Every enum the program and the daemon share, value by value: the
        // schedulers, forwarding methods, connection states and counters.
        use vipd_core::sched::Scheduler;
        let mut enums: Vec<(String, u32)> = [
            Scheduler::Rr,
            Scheduler::Wrr,
            Scheduler::Sh,
            Scheduler::Dh,
            Scheduler::Mh,
            Scheduler::Lc,
            Scheduler::Wlc,
            Scheduler::Sed,
            Scheduler::Nq,
            Scheduler::Ovf,
        ]
        .into_iter()
        .map(|s| (format!("VIPD_SCHED_{s:?}").to_uppercase(), s as u32))
        .collect();
        enums.push(("VIPD_FWD_TUN".into(), u32::from(FWD_TUN)));
        enums.push(("VIPD_FWD_DR".into(), u32::from(FWD_DR)));
        enums.push(("VIPD_FWD_NAT".into(), u32::from(FWD_NAT)));
        for (n, v) in [
            ("SYN", conn_state::SYN),
            ("ESTABLISHED", conn_state::ESTABLISHED),
            ("FIN", conn_state::FIN),
            ("CLOSE", conn_state::CLOSE),
            ("UDP", conn_state::UDP),
            ("FRAG", conn_state::FRAG),
        ] {
            enums.push((format!("VIPD_CONN_{n}"), u32::from(v)));
        }
        for (i, n) in super::super::COUNTER_NAMES.iter().enumerate() {
            let c = if n.starts_with("drop_") {
                format!("VIPD_{}", n.to_uppercase())
            } else {
                format!("VIPD_EV_{}", n.to_uppercase())
            };
            enums.push((c, i as u32));
        }
        for (name, value) in &enums {
            writeln!(c, "printf(\"{name} %u\\n\", (unsigned){name});").unwrap();
            writeln!(want, "{name} {value}").unwrap();
        }
        for (name, value) in [
            ("VIPD_VIP_BUCKETS", VIP_BUCKETS),
            ("VIPD_VIP_SLOTS", VIP_SLOTS as u32),
            ("VIPD_VIP6_SLOTS", VIP6_SLOTS as u32),
            ("VIPD_FLOW_CACHE", FLOW_CACHE),
            ("VIPD_RING_SIZE", RING_SIZE),
            ("VIPD_CONN_MAX", CONN_MAX),
            ("VIPD_HALF_OPEN_MAX", HALF_OPEN_MAX),
            ("VIPD_SYNC_RING", SYNC_RING),
            ("VIPD_CFG_F_SYNC", CFG_F_SYNC),
            ("VIPD_CFG_F_OPS", CFG_F_OPS),
            ("VIPD_CFG_F_NAT", CFG_F_NAT),
            ("VIPD_CFG_F_V6", CFG_F_V6),
            ("VIPD_CONN_F_PEER", u32::from(CONN_F_PEER)),
            ("VIPD_SVC_F_PERSIST", u32::from(SVC_F_PERSIST)),
            ("VIPD_SVC_F_HASH_PORT", u32::from(SVC_F_HASH_PORT)),
            ("VIPD_SVC_F_FALLBACK", u32::from(SVC_F_FALLBACK)),
            ("VIPD_SVC_F_OPS", u32::from(SVC_F_OPS)),
            ("VIPD_COUNTER_MAX", super::super::COUNTER_NAMES.len() as u32),
        ] {
            writeln!(c, "printf(\"{name} %u\\n\", (unsigned){name});").unwrap();
            writeln!(want, "{name} {value}").unwrap();
        }
        c.push_str("return 0;}\n");
        let dir = std::env::temp_dir().join(format!("vipd-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("abi.c");
        let exe = dir.join("abi");
        std::fs::write(&src, c).unwrap();
        let clang = std::env::var("VIPD_CLANG").unwrap_or_else(|_| "clang".into());
        let st = Command::new(&clang)
            .arg(format!("-I{hdr}"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .status()
            .unwrap_or_else(|e| panic!("{clang} not runnable ({e}): apt-get install clang"));
        assert!(
            st.success(),
            "compiling the layout probe against vipd.h failed"
        );
        let out = Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }

    #[test]
    fn ipv4_words_keep_network_order() {
        let w = addr_words("10.253.85.250".parse().unwrap());
        assert_eq!(w[0].to_ne_bytes(), [10, 253, 85, 250]);
        assert_eq!(&w[1..], &[0, 0, 0]);
    }
}
