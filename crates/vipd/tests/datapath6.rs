//! Table tests of the XDP director's IPv6 path through `BPF_PROG_TEST_RUN`:
//! input frame -> expected verdict and exact output bytes, in a private
//! network namespace whose routes and neighbours `bpf_fib_lookup` consults.
//!
//! Namespace: `d0` (director LAN: 2001:db8:85::11/64 and 10.253.85.11/24, MTU
//! 1500) with the router 2001:db8:85::1 / 10.253.85.1 (static MAC) towards the
//! real servers (2001:db8:26::/64, 10.253.26.0/24) and the clients
//! (2001:db8:71::/64, 203.0.113.0/24), and a DR real server 2001:db8:85::21 on
//! the LAN. Expected outputs are built here, checksums computed from scratch,
//! never read back from what the program wrote. Root required.

mod common;

use std::net::{IpAddr, Ipv6Addr};

use common::*;
use vipd::datapath::{Director, Sizes};
use vipd_core::plan::{Forward, Plan, Planner, Proto, ServiceSpec};
use vipd_core::sched::{RealSpec, SchedFlags, Scheduler};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

const D0_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x85, 0x11];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x85, 0x01];
const DR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x85, 0x21];
const CLIENT_MAC: [u8; 6] = ROUTER_MAC;
const DIP6: &str = "2001:db8:85::11";
const DIP4: &str = "10.253.85.11";
const VIP6: &str = "2001:db8:85::250";
const VIP4: &str = "10.253.85.250";
const CLIENT6: &str = "2001:db8:71::7";
const CLIENT4: &str = "203.0.113.7";

struct Fx {
    _ns: NetNs,
    dir: Director,
    planner: Planner,
    ifindex: u32,
    plan: Plan,
}

impl Fx {
    fn new() -> Self {
        require_root();
        let ns = NetNs::new(
            "tdp6",
            &[
                "sysctl -qw net.ipv6.conf.all.disable_ipv6=0",
                "sysctl -qw net.ipv6.conf.default.disable_ipv6=0",
                "ip link add d0 address 02:00:00:00:85:11 type veth peer name p0",
                "ip link set d0 up",
                "ip link set p0 up",
                "ip addr add 10.253.85.11/24 dev d0",
                "ip -6 addr add 2001:db8:85::11/64 dev d0 nodad",
                "sysctl -qw net.ipv4.conf.d0.forwarding=1",
                "sysctl -qw net.ipv6.conf.d0.forwarding=1",
                "ip neigh replace 10.253.85.1 lladdr 02:00:00:00:85:01 dev d0 nud permanent",
                "ip -6 neigh replace 2001:db8:85::1 lladdr 02:00:00:00:85:01 dev d0 nud permanent",
                "ip -6 neigh replace 2001:db8:85::21 lladdr 02:00:00:00:85:21 dev d0 nud permanent",
                "ip route add 10.253.26.0/24 via 10.253.85.1",
                "ip route add 203.0.113.0/24 via 10.253.85.1",
                "ip -6 route add 2001:db8:26::/64 via 2001:db8:85::1",
                "ip -6 route add 2001:db8:71::/64 via 2001:db8:85::1",
                // Real servers behind a 1300-byte link: 1260 left inside ip6ip6.
                "ip -6 route add 2001:db8:27::/64 via 2001:db8:85::1 mtu lock 1300",
            ],
        );
        let sizes = Sizes {
            services: 4,
            dests: 64,
            conns: 4096,
            half_open: 4096,
        };
        let mut dir = Director::load(sizes).expect("load director");
        assert!(dir.sync_ifaddrs().unwrap() >= 1);
        let ifindex = nix::net::if_::if_nametoindex("d0").unwrap();
        Self {
            _ns: ns,
            dir,
            planner: Planner::new(4, 64),
            ifindex,
            plan: Plan::default(),
        }
    }

    fn apply(&mut self, specs: &[ServiceSpec]) {
        self.plan = self.planner.plan(specs).unwrap();
        self.dir.apply(&self.plan).unwrap();
    }

    fn run(&self, frame: &[u8]) -> (u32, Vec<u8>) {
        self.dir.test_run(frame, self.ifindex).unwrap()
    }

    fn counter(&self, name: &str) -> u64 {
        self.dir.counter(name).unwrap()
    }
}

fn service(vip: &str, rips: &[&str], forward: Forward) -> ServiceSpec {
    ServiceSpec {
        vip: vip.parse().unwrap(),
        port: 80,
        proto: Proto::Tcp,
        sched: Scheduler::Rr,
        flags: SchedFlags::default(),
        ops: false,
        forward,
        forward_of: Default::default(),
        persistence: None,
        // The daemon's clamp for IPv4 in IPv4 on a 1500-byte link.
        mss: Some(1440),
        reals: rips
            .iter()
            .map(|r| RealSpec {
                rip: r.parse().unwrap(),
                port: 80,
                weight: 1,
            })
            .collect(),
    }
}

const RIPS6: [&str; 3] = ["2001:db8:26::1", "2001:db8:26::2", "2001:db8:26::3"];

fn tun6() -> ServiceSpec {
    service(VIP6, &RIPS6, Forward::Tun)
}

/// Client -> VIP6:80 TCP frame.
fn seg6(sport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let ip = Ip6::new(CLIENT6, VIP6, 6);
    eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip.build(&tcp6(&ip, sport, 80, flags, opts, payload)),
    )
}

/// The flow label the director derives from the inner flow (mirrors
/// `vipd_flow_label` in bpf/vipd_encap.h: words and ports as the program
/// loads them, in host order of network bytes).
fn flow_label(src: IpAddr, proto: u8, sport: u16, dport: u16) -> u32 {
    let o: Vec<u8> = match src {
        IpAddr::V4(a) => {
            let mut v = a.octets().to_vec();
            v.resize(16, 0);
            v
        }
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let w = |i: usize| u32::from_ne_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
    let be16 = |p: u16| u32::from(u16::from_ne_bytes(p.to_be_bytes()));
    let mut h = w(0) ^ w(4) ^ w(8) ^ w(12) ^ u32::from(proto);
    h ^= (be16(sport) << 16) | be16(dport);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h & 0xfffff
}

/// The ip6ip6 / 4in6 frame the director must send for `inner` to `rip`.
fn tun6_frame(inner: &[u8], rip: &str, label: u32) -> Vec<u8> {
    let v6 = inner[0] >> 4 == 6;
    let mut outer = Ip6::new(DIP6, rip, if v6 { 41 } else { 4 });
    outer.tclass = if v6 {
        (inner[0] << 4) | (inner[1] >> 4)
    } else {
        inner[1]
    };
    outer.flow = label;
    outer.hop_limit = 64;
    eth6(ROUTER_MAC, D0_MAC, &outer.build(inner))
}

/// Which real server an ip6ip6 frame goes to.
fn rip6_of(out: &[u8]) -> Ipv6Addr {
    assert_eq!(&out[12..14], &[0x86, 0xdd], "not IPv6: {out:02x?}");
    let mut o = [0u8; 16];
    o.copy_from_slice(&out[38..54]);
    Ipv6Addr::from(o)
}

fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

#[test]
fn ip6ip6_exact_bytes_mss_clamped_with_correct_checksum() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    let syn = seg6(3000, SYN, &mss_opt(1460), &[]);
    let (v, out) = fx.run(&syn);
    assert_eq!(v, XDP_TX);
    // The clamp: 1440 for IPv4 in IPv4, 40 bytes less for two IPv6 headers.
    let want_inner = ip_of(&seg6(3000, SYN, &mss_opt(1400), &[])).to_vec();
    let label = flow_label(CLIENT6.parse().unwrap(), 6, 3000, 80);
    assert_eq!(out, tun6_frame(&want_inner, RIPS6[0], label));
    assert_eq!(fx.counter("mss_clamped"), 1);
    // Round robin over the three, a connection's packets stay.
    let rips: Vec<_> = (3001..3003)
        .map(|p| rip6_of(&fx.run(&seg6(p, SYN, &[], &[])).1))
        .collect();
    assert_eq!(
        rips,
        [
            RIPS6[1].parse::<Ipv6Addr>().unwrap(),
            RIPS6[2].parse().unwrap()
        ]
    );
    let (v, out) = fx.run(&seg6(3000, ACK, &[], b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(v, XDP_TX);
    assert_eq!(rip6_of(&out), RIPS6[0].parse::<Ipv6Addr>().unwrap());
    assert_eq!(fx.counter("conn_new"), 3);
    assert_eq!(fx.counter("conn_hit"), 1);
}

/// Extension headers, 8 bytes each: hop-by-hop and destination options with a
/// PadN option, a routing header (type 4, segments left `left`), an atomic
/// fragment header.
type Ext = (u8, Vec<u8>);

fn hbh() -> Ext {
    (0, vec![0, 0, 1, 4, 0, 0, 0, 0])
}
fn dstopts() -> Ext {
    (60, vec![0, 0, 1, 4, 0, 0, 0, 0])
}
fn routing(left: u8) -> Ext {
    (43, vec![0, 0, 4, left, 0, 0, 0, 0])
}
fn frag(offset8: u16, more: bool, id: u32) -> Ext {
    let fo = (offset8 << 3) | u16::from(more);
    let mut h = vec![0, 0];
    h.extend_from_slice(&fo.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    (44, h)
}

#[test]
fn each_extension_header_is_walked_to_the_transport_ports() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    let cases: Vec<(&str, Vec<Ext>)> = vec![
        ("hop-by-hop", vec![hbh()]),
        ("destination options", vec![dstopts()]),
        ("routing, no segment left", vec![routing(0)]),
        ("atomic fragment", vec![frag(0, false, 7)]),
        (
            "all four",
            vec![hbh(), dstopts(), routing(0), frag(0, false, 8)],
        ),
    ];
    for (i, (what, ext)) in cases.into_iter().enumerate() {
        let sport = 4000 + i as u16;
        let mut ip = Ip6::new(CLIENT6, VIP6, 6);
        ip.ext = ext;
        let f = eth6(
            D0_MAC,
            CLIENT_MAC,
            &ip.build(&tcp6(&ip, sport, 80, ACK, &[], b"x")),
        );
        let (v, out) = fx.run(&f);
        assert_eq!(v, XDP_TX, "{what}");
        let label = flow_label(CLIENT6.parse().unwrap(), 6, sport, 80);
        assert_eq!(out, tun6_frame(ip_of(&f), RIPS6[i % 3], label), "{what}");
        // The connection was keyed on its ports, found past the headers.
        let again = fx.run(&f).1;
        assert_eq!(rip6_of(&again), RIPS6[i % 3].parse::<Ipv6Addr>().unwrap());
    }
    assert_eq!(fx.counter("conn_new"), 5);
    assert_eq!(
        fx.counter("frag"),
        0,
        "an atomic fragment is a whole packet"
    );
    // A SYN behind 264 bytes of hop-by-hop options still has its MSS clamped.
    let mut long = vec![0u8, 32, 1, 253];
    long.extend_from_slice(&[0; 253]);
    long.extend_from_slice(&[1, 5, 0, 0, 0, 0, 0]);
    assert_eq!(long.len(), 264);
    let mut ip = Ip6::new(CLIENT6, VIP6, 6);
    ip.ext = vec![(0, long)];
    let syn = |mss| {
        eth6(
            D0_MAC,
            CLIENT_MAC,
            &ip.build(&tcp6(&ip, 4100, 80, SYN, &mss_opt(mss), &[])),
        )
    };
    let (v, out) = fx.run(&syn(1460));
    assert_eq!(v, XDP_TX);
    let label = flow_label(CLIENT6.parse().unwrap(), 6, 4100, 80);
    assert_eq!(out, tun6_frame(ip_of(&syn(1400)), RIPS6[2], label));
    // Options in the fragmentable part (after a fragment header): the first
    // and the later fragments would not find the same transport; the kernel's.
    for offset in [0u16, 100] {
        let mut ip = Ip6::new(CLIENT6, VIP6, 17);
        ip.ext = vec![frag(offset, offset == 0, 9), dstopts()];
        let f = eth6(D0_MAC, CLIENT_MAC, &ip.build(&udp6(&ip, 53, 53, b"x")));
        assert_eq!(fx.run(&f), (XDP_PASS, f.clone()), "offset {offset}");
    }
    // Not for this hop (segments left), another protocol behind its own
    // header (AH), more headers than the walk takes: the kernel's, untouched.
    let mut passes = Vec::new();
    let mut ip = Ip6::new(CLIENT6, VIP6, 6);
    ip.ext = vec![routing(1)];
    passes.push(("segments left", ip.clone()));
    ip.ext = vec![(51, vec![0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])];
    passes.push(("AH", ip.clone()));
    ip.ext = (0..7).map(|_| dstopts()).collect();
    passes.push(("seven headers", ip.clone()));
    for (what, ip) in passes {
        let f = eth6(
            D0_MAC,
            CLIENT_MAC,
            &ip.build(&tcp6(&ip, 4999, 80, SYN, &[], &[])),
        );
        assert_eq!(fx.run(&f), (XDP_PASS, f.clone()), "{what}");
    }
    assert_eq!(fx.counter("conn_new"), 6);
}

#[test]
fn fragments_of_a_datagram_go_to_one_real_server() {
    let mut fx = Fx::new();
    let mut s = tun6();
    s.port = 53;
    s.proto = Proto::Udp;
    for r in &mut s.reals {
        r.port = 53;
    }
    fx.apply(&[s]);
    // A 1,200-byte DNS answer's worth of datagram in two fragments.
    let whole = Ip6::new(CLIENT6, VIP6, 17);
    let dgram = udp6(&whole, 5353, 53, &[0x5a; 1200]);
    let (a, b) = dgram.split_at(800);
    let mut first = Ip6::new(CLIENT6, VIP6, 17);
    first.ext = vec![frag(0, true, 0xabcd)];
    let mut second = first.clone();
    second.ext = vec![frag(100, false, 0xabcd)];
    // Another client's datagram first, so that this one does not land on
    // the first real server by chance.
    let other = Ip6::new("2001:db8:71::8", VIP6, 17);
    let f = eth6(D0_MAC, CLIENT_MAC, &other.build(&udp6(&other, 1, 53, b"q")));
    assert_eq!(
        rip6_of(&fx.run(&f).1),
        RIPS6[0].parse::<Ipv6Addr>().unwrap()
    );
    let f1 = eth6(D0_MAC, CLIENT_MAC, &first.build(a));
    let f2 = eth6(D0_MAC, CLIENT_MAC, &second.build(b));
    let (v1, o1) = fx.run(&f1);
    let (v2, o2) = fx.run(&f2);
    assert_eq!((v1, v2), (XDP_TX, XDP_TX));
    // Fragments carry no ports: the label is the addresses' alone.
    let label = flow_label(CLIENT6.parse().unwrap(), 17, 0, 0);
    assert_eq!(o1, tun6_frame(ip_of(&f1), RIPS6[1], label));
    assert_eq!(o2, tun6_frame(ip_of(&f2), RIPS6[1], label));
    assert_eq!(fx.counter("frag"), 2);
    // A later fragment of a datagram the director never saw the start of.
    let mut stray = Ip6::new("2001:db8:71::9", VIP6, 17);
    stray.ext = vec![frag(100, false, 0x1111)];
    let f = eth6(D0_MAC, CLIENT_MAC, &stray.build(b));
    assert_eq!(fx.run(&f).0, XDP_DROP);
    assert_eq!(fx.counter("drop_frag_unknown"), 1);
}

/// An ICMPv6 error from a router on the way back about the reply VIP:80 ->
/// client:`cport`, to the VIP.
fn icmp6_error(kind: u8, cport: u16) -> Vec<u8> {
    let reply = Ip6::new(VIP6, CLIENT6, 6);
    let quoted = reply.build(&tcp6(&reply, 80, cport, ACK, &[], &[0u8; 64]));
    let outer = Ip6::new("2001:db8:71::1", VIP6, 58);
    let mut body = vec![kind, 0, 0, 0, 0, 0, 0x05, 0x00];
    body.extend_from_slice(&quoted);
    eth6(D0_MAC, CLIENT_MAC, &outer.build(&icmp6(&outer, &body)))
}

#[test]
fn icmp6_errors_about_a_connection_follow_it_and_the_rest_is_the_kernels() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    fx.run(&seg6(1111, SYN, &[], &[]));
    let (_, out) = fx.run(&seg6(2222, SYN, &[], &[]));
    assert_eq!(rip6_of(&out), RIPS6[1].parse::<Ipv6Addr>().unwrap());
    // Packet too big, destination unreachable, time exceeded, parameter
    // problem: each goes to the real server that sent the reply.
    for (i, kind) in [2u8, 1, 3, 4].into_iter().enumerate() {
        let f = icmp6_error(kind, 2222);
        let (v, out) = fx.run(&f);
        assert_eq!(v, XDP_TX, "type {kind}");
        let label = flow_label(CLIENT6.parse().unwrap(), 6, 2222, 80);
        assert_eq!(out, tun6_frame(ip_of(&f), RIPS6[1], label), "type {kind}");
        assert_eq!(fx.counter("icmp_fwd"), i as u64 + 1);
    }
    // About a connection the director does not know; echo; neighbour
    // solicitation for the VIP: untouched, for the kernel.
    let f = icmp6_error(2, 3333);
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    let ping = Ip6::new(CLIENT6, VIP6, 58);
    let f = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ping.build(&icmp6(&ping, &[128, 0, 0, 0, 0, 1, 0, 1])),
    );
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    let ns = Ip6::new("fe80::1", VIP6, 58);
    let mut body = vec![135, 0, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&VIP6.parse::<Ipv6Addr>().unwrap().octets());
    let f = eth6(D0_MAC, CLIENT_MAC, &ns.build(&icmp6(&ns, &body)));
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    assert_eq!(
        fx.counter("conn_new"),
        2,
        "ICMPv6 never creates a connection"
    );
}

#[test]
fn too_big_gets_icmp6_packet_too_big_with_the_tunnel_mtu() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    // A 1500-byte IPv6 packet + 40 bytes of outer header > MTU 1500.
    let f = seg6(6000, ACK, &[], &vec![0xab; 1500 - 60]);
    assert_eq!(f.len(), 1514);
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    let mut ip = Ip6::new(VIP6, CLIENT6, 58);
    ip.hop_limit = 64;
    let mut body = vec![2, 0, 0, 0];
    body.extend_from_slice(&1460u32.to_be_bytes());
    // As much of the packet as fits the minimum MTU: 1280 - 48 bytes.
    body.extend_from_slice(&ip_of(&f)[..1232]);
    let want = eth6(CLIENT_MAC, D0_MAC, &ip.build(&icmp6(&ip, &body)));
    assert_eq!(out.len(), 14 + 1280);
    assert_eq!(out, want);
    assert_eq!(fx.counter("icmp_too_big"), 1);
    assert_eq!(fx.counter("tx"), 0);
    // 1460 bytes fit exactly: tunnelled, not answered.
    let fits = seg6(6001, ACK, &[], &vec![0u8; 1460 - 60]);
    let (v, out) = fx.run(&fits);
    assert_eq!(v, XDP_TX);
    let label = flow_label(CLIENT6.parse().unwrap(), 6, 6001, 80);
    assert_eq!(out, tun6_frame(ip_of(&fits), RIPS6[1], label));
    assert_eq!((fx.counter("tx"), fx.counter("icmp_too_big")), (1, 1));
    // An ICMPv6 error too big for the tunnel is not answered with another
    // (RFC 4443 2.4 e): its sender was a router, not the client.
    let reply = Ip6::new(VIP6, CLIENT6, 6);
    let quoted = reply.build(&tcp6(&reply, 80, 6001, ACK, &[], &vec![0u8; 1400]));
    let outer = Ip6::new("2001:db8:71::1", VIP6, 58);
    let mut body = vec![1, 4, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&quoted);
    let f = eth6(D0_MAC, CLIENT_MAC, &outer.build(&icmp6(&outer, &body)));
    assert!(f.len() > 1514 - 40);
    assert_eq!(fx.run(&f).0, XDP_DROP);
    assert_eq!(
        (fx.counter("drop_too_big"), fx.counter("icmp_too_big")),
        (1, 1)
    );
}

#[test]
fn packet_too_big_never_names_an_mtu_below_1280() {
    let mut fx = Fx::new();
    fx.apply(&[service(VIP6, &["2001:db8:27::1"], Forward::Tun)]);
    let f = seg6(6100, ACK, &[], &vec![0xcd; 1300 - 60]);
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    assert_eq!(out[14 + 40], 2, "ICMPv6 Packet Too Big");
    assert_eq!(&out[14 + 44..14 + 48], &1280u32.to_be_bytes());
}

/// Ethernet with an 802.1Q tag around an IPv6 packet.
fn eth6_tagged(dmac: [u8; 6], smac: [u8; 6], tci: u16, ip: &[u8]) -> Vec<u8> {
    let mut f = eth6(dmac, smac, ip);
    let tag = [0x81, 0x00, (tci >> 8) as u8, tci as u8];
    f.splice(12..12, tag);
    f
}

#[test]
fn a_vlan_tagged_ipv6_frame_goes_back_tagged() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    let mut ip = Ip6::new(CLIENT6, VIP6, 6);
    ip.tclass = 0xb8;
    let pkt = ip.build(&tcp6(&ip, 7100, 80, ACK, &[], b"tagged"));
    let (v, out) = fx.run(&eth6_tagged(D0_MAC, CLIENT_MAC, 0x0064, &pkt));
    assert_eq!(v, XDP_TX);
    let label = flow_label(CLIENT6.parse().unwrap(), 6, 7100, 80);
    let want = tun6_frame(&pkt, RIPS6[0], label);
    assert_eq!(out, eth6_tagged(ROUTER_MAC, D0_MAC, 0x0064, ip_of(&want)));
    // The outer traffic class is the inner one.
    assert_eq!((out[18] & 0x0f, out[19] >> 4), (0x0b, 0x08));
    // Too big: Packet Too Big, tagged as it came.
    let big = ip.build(&tcp6(&ip, 7101, 80, ACK, &[], &vec![0; 1440]));
    let (v, out) = fx.run(&eth6_tagged(D0_MAC, CLIENT_MAC, 0x0064, &big));
    assert_eq!(v, XDP_TX);
    assert_eq!(&out[12..18], &[0x81, 0x00, 0x00, 0x64, 0x86, 0xdd]);
    assert_eq!(out[18 + 40], 2);
    assert_eq!(
        &out[18 + 48..18 + 48 + 40],
        &big[..40],
        "the quote starts with the packet"
    );
}

#[test]
fn malformed_ipv6_for_a_vip_is_dropped_by_reason() {
    let mut fx = Fx::new();
    fx.apply(&[tun6()]);
    let ip = Ip6::new(CLIENT6, VIP6, 6);
    let seg = tcp6(&ip, 7000, 80, SYN, &[], &[]);
    // Payload length beyond the frame.
    let mut long = eth6(D0_MAC, CLIENT_MAC, &ip.build(&seg));
    long[18..20].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(fx.run(&long).0, XDP_DROP);
    // An extension header cut short (2 of its 8 bytes).
    let mut cut = ip.clone();
    cut.ext = vec![hbh()];
    let mut bytes = cut.build(&[]);
    bytes.truncate(42);
    bytes[4..6].copy_from_slice(&2u16.to_be_bytes());
    assert_eq!(fx.run(&eth6(D0_MAC, CLIENT_MAC, &bytes)).0, XDP_DROP);
    // Extension headers longer than the walk allows (2,048 bytes).
    let mut huge = ip.clone();
    let mut opt = vec![0u8; 2048];
    opt[1] = 255;
    huge.ext = vec![(0, opt)];
    let f = eth6(D0_MAC, CLIENT_MAC, &huge.build(&seg));
    assert_eq!(fx.run(&f).0, XDP_DROP);
    // A wrong version in an IPv6 frame.
    let mut v4 = eth6(D0_MAC, CLIENT_MAC, &ip.build(&seg));
    v4[14] = 0x40;
    assert_eq!(fx.run(&v4).0, XDP_DROP);
    assert_eq!(fx.counter("drop_bad_ip"), 4);
    // TCP header cut short.
    let f = eth6(D0_MAC, CLIENT_MAC, &ip.build(&seg[..10]));
    assert_eq!(fx.run(&f).0, XDP_DROP);
    assert_eq!(fx.counter("drop_trunc_l4"), 1);
    // A payload length that ends inside the TCP header the frame carries.
    let mut short = eth6(D0_MAC, CLIENT_MAC, &ip.build(&seg));
    short[18..20].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(fx.run(&short).0, XDP_DROP);
    assert_eq!(fx.counter("drop_trunc_l4"), 2);
    assert_eq!(fx.counter("tx"), 0);
}

#[test]
fn dr6_rewrites_the_destination_mac_only() {
    let mut fx = Fx::new();
    fx.apply(&[service(VIP6, &["2001:db8:85::21"], Forward::Dr)]);
    let syn = seg6(3000, SYN, &mss_opt(1460), &[]);
    let (v, out) = fx.run(&syn);
    assert_eq!(v, XDP_TX);
    assert_eq!(out, eth6(DR_MAC, D0_MAC, ip_of(&syn)));
}

#[test]
fn an_ipv4_vip_travels_to_ipv6_real_servers_in_4in6() {
    let mut fx = Fx::new();
    fx.apply(&[service(VIP4, &RIPS6, Forward::Tun)]);
    let ip = Ip::new(CLIENT4, VIP4, 6);
    let syn = eth(
        D0_MAC,
        CLIENT_MAC,
        None,
        &ip.build(&tcp(&ip, 3000, 80, SYN, &mss_opt(1460), &[])),
    );
    let (v, out) = fx.run(&syn);
    assert_eq!(v, XDP_TX);
    // One IPv6 header (the outer) more than IPv4 in IPv4: 20 bytes off.
    let want_inner = ip.build(&tcp(&ip, 3000, 80, SYN, &mss_opt(1420), &[]));
    let label = flow_label(CLIENT4.parse().unwrap(), 6, 3000, 80);
    assert_eq!(out, tun6_frame(&want_inner, RIPS6[0], label));
}

#[test]
fn an_ipv6_vip_travels_to_ipv4_real_servers_in_6in4() {
    let mut fx = Fx::new();
    fx.apply(&[service(VIP6, &["10.253.26.1"], Forward::Tun)]);
    let mut ip6 = Ip6::new(CLIENT6, VIP6, 6);
    ip6.tclass = 0x28;
    let syn = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip6.build(&tcp6(&ip6, 3000, 80, SYN, &mss_opt(1460), &[])),
    );
    let (v, out) = fx.run(&syn);
    assert_eq!(v, XDP_TX);
    let want_inner = ip6.build(&tcp6(&ip6, 3000, 80, SYN, &mss_opt(1420), &[]));
    let mut outer = Ip::new(DIP4, "10.253.26.1", 41);
    outer.tos = 0x28;
    outer.df = true;
    outer.id = 0;
    outer.ttl = 64;
    assert_eq!(
        out,
        eth(ROUTER_MAC, D0_MAC, None, &outer.build(&want_inner))
    );
    // Too big for the IPv4 tunnel: Packet Too Big with 20 bytes off the MTU.
    let big = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip6.build(&tcp6(&ip6, 3000, 80, ACK, &[], &vec![1; 1440])),
    );
    let (v, out) = fx.run(&big);
    assert_eq!(v, XDP_TX);
    assert_eq!(&out[12..14], &[0x86, 0xdd]);
    assert_eq!(out[14 + 40], 2, "ICMPv6 Packet Too Big");
    assert_eq!(&out[14 + 44..14 + 48], &1480u32.to_be_bytes());
}

#[test]
fn ipv6_traffic_not_for_a_vip_service_is_untouched() {
    let mut fx = Fx::new();
    // No IPv6 VIP at all: not even looked at.
    fx.apply(&[service(VIP4, &["10.253.26.1"], Forward::Tun)]);
    let f = seg6(1, SYN, &[], &[]);
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    fx.apply(&[tun6()]);
    // Another destination; the VIP on a port with no service.
    let ip = Ip6::new(CLIENT6, "2001:db8:85::11", 6);
    let f = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip.build(&tcp6(&ip, 2, 80, SYN, &[], &[])),
    );
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    let ip = Ip6::new(CLIENT6, VIP6, 6);
    let f = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip.build(&tcp6(&ip, 3, 22, SYN, &[], &[])),
    );
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    assert_eq!(fx.counter("conn_new"), 0);
    assert_eq!(fx.counter("tx"), 0);
}

#[test]
fn nat6_rewrites_both_directions_with_correct_checksums() {
    let mut fx = Fx::new();
    let mut tcp_svc = service(VIP6, &["2001:db8:26::1"], Forward::Nat);
    tcp_svc.reals[0].port = 8080;
    let mut udp_svc = tcp_svc.clone();
    udp_svc.proto = Proto::Udp;
    udp_svc.port = 53;
    udp_svc.reals[0].port = 5353;
    fx.apply(&[tcp_svc, udp_svc]);
    const RIP: &str = "2001:db8:26::1";
    // The client's SYN: RIP:8080 as destination, hop limit unchanged, no
    // clamp (nothing is added), on to the router; checksums built here.
    let ip = Ip6::new(CLIENT6, VIP6, 6);
    let syn = eth6(
        D0_MAC,
        CLIENT_MAC,
        &ip.build(&tcp6(&ip, 5555, 80, SYN, &mss_opt(1460), &[])),
    );
    let (v, out) = fx.run(&syn);
    assert_eq!(v, XDP_TX);
    let to_rs = Ip6::new(CLIENT6, RIP, 6);
    let want = to_rs.build(&tcp6(&to_rs, 5555, 8080, SYN, &mss_opt(1460), &[]));
    assert_eq!(out, eth6(ROUTER_MAC, D0_MAC, &want));
    // The real server's answer, routed back through the director: the VIP:80
    // as its source, hop limit - 1, to the client's next hop.
    let rep = Ip6::new(RIP, CLIENT6, 6);
    let f = eth6(
        D0_MAC,
        ROUTER_MAC,
        &rep.build(&tcp6(&rep, 8080, 5555, SYN | ACK, &[], &[])),
    );
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    let mut back = Ip6::new(VIP6, CLIENT6, 6);
    back.hop_limit = 62;
    let want = back.build(&tcp6(&back, 80, 5555, SYN | ACK, &[], &[]));
    assert_eq!(out, eth6(ROUTER_MAC, D0_MAC, &want));
    assert_eq!(fx.counter("nat_out"), 1);
    // UDP both ways (IPv6 requires its checksum: kept right).
    let q = Ip6::new(CLIENT6, VIP6, 17);
    let f = eth6(D0_MAC, CLIENT_MAC, &q.build(&udp6(&q, 4444, 53, b"query")));
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    let q_rs = Ip6::new(CLIENT6, RIP, 17);
    assert_eq!(
        out,
        eth6(
            ROUTER_MAC,
            D0_MAC,
            &q_rs.build(&udp6(&q_rs, 4444, 5353, b"query"))
        )
    );
    let a = Ip6::new(RIP, CLIENT6, 17);
    let f = eth6(
        D0_MAC,
        ROUTER_MAC,
        &a.build(&udp6(&a, 5353, 4444, b"answer")),
    );
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    let mut a_vip = Ip6::new(VIP6, CLIENT6, 17);
    a_vip.hop_limit = 62;
    assert_eq!(
        out,
        eth6(
            ROUTER_MAC,
            D0_MAC,
            &a_vip.build(&udp6(&a_vip, 53, 4444, b"answer"))
        )
    );
    assert_eq!(fx.counter("nat_out"), 2);
    // A router on the client's side says the VIP's reply was too big: the
    // error goes to the real server, addressed and quoting as it sent it.
    let quoted_reply = back.build(&tcp6(&back, 80, 5555, ACK, &[], &[0u8; 64]));
    let outer = Ip6::new("2001:db8:71::1", VIP6, 58);
    let mut body = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
    body.extend_from_slice(&quoted_reply);
    let f = eth6(D0_MAC, CLIENT_MAC, &outer.build(&icmp6(&outer, &body)));
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    let mut quote = quoted_reply.clone();
    quote[8..24].copy_from_slice(&RIP.parse::<Ipv6Addr>().unwrap().octets());
    quote[40..42].copy_from_slice(&8080u16.to_be_bytes());
    let outer_rs = Ip6::new("2001:db8:71::1", RIP, 58);
    let mut body_rs = vec![2, 0, 0, 0, 0, 0, 0x05, 0x00];
    body_rs.extend_from_slice(&quote);
    assert_eq!(
        out,
        eth6(
            ROUTER_MAC,
            D0_MAC,
            &outer_rs.build(&icmp6(&outer_rs, &body_rs))
        )
    );
    // A UDP datagram without a checksum (0, RFC 6935) keeps none.
    let mut z = udp6(&q, 4445, 53, b"zero");
    z[6] = 0;
    z[7] = 0;
    let f = eth6(D0_MAC, CLIENT_MAC, &q.build(&z));
    let (v, out) = fx.run(&f);
    assert_eq!(v, XDP_TX);
    assert_eq!(&out[14 + 40 + 6..14 + 40 + 8], &[0, 0]);
    // Not a NAT connection's reply (another port): the kernel's, untouched.
    let other = eth6(
        D0_MAC,
        ROUTER_MAC,
        &rep.build(&tcp6(&rep, 8080, 5556, ACK, &[], &[])),
    );
    assert_eq!(fx.run(&other), (XDP_PASS, other.clone()));
    // A reply whose hop limit runs out here: the kernel answers it.
    let mut last = rep.clone();
    last.hop_limit = 1;
    let f = eth6(
        D0_MAC,
        ROUTER_MAC,
        &last.build(&tcp6(&last, 8080, 5555, ACK, &[], &[])),
    );
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    assert_eq!(fx.counter("nat_pass"), 1);
    // A fragmented reply is not translated (docs/DATAPATH.md): the kernel's.
    let mut fr = Ip6::new(RIP, CLIENT6, 17);
    fr.ext = vec![frag(0, true, 77)];
    let f = eth6(
        D0_MAC,
        ROUTER_MAC,
        &fr.build(&udp6(&a, 5353, 4444, &[0; 64])),
    );
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()));
    assert_eq!(fx.counter("nat_out"), 2);
}

#[test]
fn ipv6_vip_filter_bucket_overflow_still_finds_every_vip() {
    use vipd_core::plan::vip_filter::{vip6_bucket, VIP6_SLOTS};
    let mut fx = Fx::new();
    let want = vip6_bucket(VIP6.parse().unwrap());
    // VIP6_SLOTS + 1 VIPs of one bucket (one overflows to `vips`: the
    // fixture has four service slots), and one
    // more address of that bucket that is not a VIP.
    let same: Vec<Ipv6Addr> = (0x250u16..)
        .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0x85, 0, 0, 0, 0, i))
        .filter(|a| vip6_bucket(*a) == want)
        .take(VIP6_SLOTS + 2)
        .collect();
    let specs: Vec<ServiceSpec> = same[..VIP6_SLOTS + 1]
        .iter()
        .map(|v| service(&v.to_string(), &RIPS6[..1], Forward::Tun))
        .collect();
    fx.apply(&specs);
    for (i, v) in same[..VIP6_SLOTS + 1].iter().enumerate() {
        let ip = Ip6::new(CLIENT6, &v.to_string(), 6);
        let f = eth6(
            D0_MAC,
            CLIENT_MAC,
            &ip.build(&tcp6(&ip, 100 + i as u16, 80, SYN, &[], &[])),
        );
        assert_eq!(fx.run(&f).0, XDP_TX, "VIP {v}");
    }
    // What the filter says shows in a truncated TCP header: dropped for a
    // VIP (drop_trunc_l4), passed untouched for anything else.
    let cut = |dst: &str| {
        let ip = Ip6::new(CLIENT6, dst, 6);
        eth6(
            D0_MAC,
            CLIENT_MAC,
            &ip.build(&tcp6(&ip, 99, 80, SYN, &[], &[])[..10]),
        )
    };
    let last = same[VIP6_SLOTS].to_string();
    assert_eq!(fx.run(&cut(&last)).0, XDP_DROP, "the overflowed VIP");
    let not = same[VIP6_SLOTS + 1].to_string();
    let f = cut(&not);
    assert_eq!(fx.run(&f), (XDP_PASS, f.clone()), "{not} is no VIP");
    // Down to one VIP: the others are no longer VIPs.
    fx.apply(&specs[..1]);
    for v in &same[1..=VIP6_SLOTS] {
        let f = cut(&v.to_string());
        assert_eq!(fx.run(&f), (XDP_PASS, f.clone()), "{v} is no VIP any more");
    }
    assert_eq!(fx.counter("drop_trunc_l4"), 1);
    assert_eq!(fx.counter("conn_new"), VIP6_SLOTS as u64 + 1);
}
