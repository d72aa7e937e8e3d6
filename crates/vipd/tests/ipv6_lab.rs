//! IPv6 end to end (issue #17), in the dual-stack lab (`vipd lab up --ipv6`:
//! every address has its twin, 10.253.26.1 -> 2001:db8:26::1) with MTU 1500
//! on every link. dir1 runs `vipd -f` on a keepalived.conf whose VRRP
//! instance holds the VIP; the real servers run the lab httpd on `[::]:80`
//! and `0.0.0.0:80` (its first line names the server). Every test waits for
//! the director's health checks (HTTP_GET or TCP_CHECK over the real
//! servers' family) to have run and passed.
//!
//! - `ip6ip6_*`: an IPv6 VIP, IPv6 real servers, TUN (ip6ip6): 30 new
//!   connections land 10/10/10; the outer header is DIP -> RIP (the
//!   director's own address, never the VIP) and the SYN's MSS is clamped
//!   for the 40 bytes; a 10 MB POST and a 10 MB GET at MTU 1500, the POST's
//!   full-size segments answered with Packet Too Big (the clamp cannot help
//!   them: the client's segment size comes from the real server's SYN-ACK,
//!   which never crosses the director), the GET's 10 MB never through the
//!   director; `vipd status` shows the service.
//! - `dr_*`: the same VIP in DR, real servers dir2..dir4 on the director LAN
//!   with the VIP on their lo.
//! - `mixed_*`: an IPv4 VIP over IPv6 real servers (4in6) and an IPv6 VIP over
//!   IPv4 real servers (6in4), each 30 connections and 10 MB each way.
//! - `nat_*`: an IPv6 VIP in NAT (`vipd lab up --nat --ipv6`: the router
//!   sends the real servers' IPv6 replies to the client through the
//!   gateway twin 2001:db8:85::254, a second address of the VRRP instance):
//!   VIP port 80 to the real servers' `[::]:8080`, 30 connections land
//!   10/10/10 from the client's own address, the client's SYN-ACK comes from
//!   VIP:80, `nat_out` is 0 before the client and then equals the packets
//!   the client received, 10 MB each way through the director; and across a
//!   failover to dir2 (VRRPv3 moves both addresses, connection sync the
//!   connections: 30 of 30 kept, 10/10/10 after).

mod lab_support;

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

const VIP6: &str = "2001:db8:85::250";
const VIP4: &str = "10.253.85.250";
const MB10: usize = 10 * 1024 * 1024;

/// One test at a time: each runs a director with health checks of 1 s
/// timeouts and moves 40 MB, on a 2-CPU machine shared with other tests.
static TURN: Mutex<()> = Mutex::new(());

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "lab tests create network namespaces and load BPF: run them as root"
    );
}

/// A VRRP instance holding `vip` on eth1: VRRPv3 for an IPv6 VIP (without
/// a mask: a /128, which vipd like keepalived adds deprecated so that the
/// director's own connections, its health checks, never leave from it).
fn vrrp(name: &str, vrid: u8, vip: &str) -> String {
    let (version, addr) = if vip.contains(':') {
        ("    version 3\n", vip.to_owned())
    } else {
        ("", format!("{vip}/32 dev eth1"))
    };
    format!(
        "vrrp_instance {name} {{
    state MASTER
    interface eth1
    virtual_router_id {vrid}
    priority 150
    advert_int 1
{version}    virtual_ipaddress {{
        {addr}
    }}
}}
"
    )
}

/// A TCP_CHECK of 1 s.
const TCP_CHECK: &str = "TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }";

/// An HTTP_GET of `/` wanting 200, of 1 s.
const HTTP_GET: &str = "HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }";

/// `virtual_server VIP 80` over `reals` (port 80), each with `check`.
fn virtual_server(vip: &str, kind: &str, reals: &[String], check: &str) -> String {
    virtual_server_to(vip, kind, reals, 80, check)
}

/// `virtual_server VIP 80` over `reals` on `port`, each with `check`.
fn virtual_server_to(vip: &str, kind: &str, reals: &[String], port: u16, check: &str) -> String {
    let reals: String = reals
        .iter()
        .map(|r| {
            format!(
                "    real_server {r} {port} {{
        weight 1
        {check}
    }}
"
            )
        })
        .collect();
    format!(
        "virtual_server {vip} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind {kind}
    protocol TCP
{reals}}}
"
    )
}

/// `ADDR:PORT` as `SocketAddr` takes it (`[V6]:PORT`).
fn sock(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

fn url(vip: &str) -> String {
    format!("http://{}", sock(vip, 80))
}

fn rs6(i: usize) -> String {
    format!("2001:db8:26::{i}")
}

fn rs4(i: usize) -> String {
    format!("10.253.26.{i}")
}

/// dir1 holds a managed neighbour entry (`neigh::keep_resolved`) for each
/// of `hops` on eth1.
fn assert_managed_neighbours(lab: &LabGuard, hops: &[&str]) {
    let neigh = lab
        .exec_ok("dir1", ["ip", "-6", "neigh", "show", "dev", "eth1"])
        .unwrap();
    for h in hops {
        assert!(
            neigh
                .lines()
                .any(|l| l.starts_with(&format!("{h} ")) && l.contains("managed")),
            "no managed neighbour entry for {h}:\n{neigh}"
        );
    }
}

/// The director's drop counters that are not 0.
fn drops(counters: &std::collections::BTreeMap<String, u64>) -> Vec<(&String, &u64)> {
    counters
        .iter()
        .filter(|(k, v)| k.starts_with("drop_") && **v > 0)
        .collect()
}

fn counts(by: &std::collections::BTreeMap<String, usize>, nodes: &[&str]) -> Vec<usize> {
    nodes
        .iter()
        .map(|n| by.get(*n).copied().unwrap_or(0))
        .collect()
}

/// Waits (the daemon polls its counters) until `name` reaches `at_least`.
fn counter_reaches(lab: &LabGuard, name: &str, at_least: u64) -> u64 {
    wait_for(
        &format!("data-plane counter {name} >= {at_least}"),
        Duration::from_secs(10),
        || {
            let v = counter(lab, "dir1", name);
            (v >= at_least).then_some(v)
        },
    )
}

/// 10 MB each way through `vip`; the GET's bytes must not cross dir1
/// (its eth1 receives far less than the 10 MB). Returns the times.
fn ten_mb_each_way(lab: &LabGuard, vip: &str) -> (Duration, Duration) {
    let rx0 = rx_bytes(lab, "dir1", "eth1");
    let (post, get) = post_and_get(lab, &url(vip), MB10);
    let rx = rx_bytes(lab, "dir1", "eth1") - rx0;
    // The POST's 10 MB crossed dir1 (to the real server); the GET's reply
    // did not: everything dir1 received is the POST and the GET's ACKs.
    assert!(
        rx > MB10 as u64 && rx < MB10 as u64 + MB10 as u64 / 4,
        "dir1's eth1 received {rx} bytes during a 10 MB POST and a 10 MB GET via {vip}"
    );
    println!(
        "{vip}: 10 MB POST {:.2} s, 10 MB GET {:.2} s, dir1 received {rx} bytes",
        post.as_secs_f64(),
        get.as_secs_f64()
    );
    (post, get)
}

#[test]
fn ip6ip6_spreads_30_connections_and_moves_10mb_each_way_at_mtu_1500() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let reals: Vec<String> = (1..=3).map(rs6).collect();
    let conf = format!(
        "{}{}",
        vrrp("V6", 51, VIP6),
        virtual_server(VIP6, "TUN", &reals, HTTP_GET)
    );
    let table: Vec<String> = reals.iter().map(|r| sock(r, 80)).collect();
    let lab = {
        require_root();
        let lab = LabGuard::up(LabOptions {
            directors: 1,
            ipv6: true,
            ..LabOptions::unique("v6t")
        })
        .expect("lab up --ipv6");
        reals_up_for(&lab, 3, &[VIP6]);
        lab
    };
    let dir = std::env::temp_dir().join(format!("vipd-ipv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tun6.conf"), &conf).unwrap();
    let mut d = daemon(
        &lab,
        "dir1",
        &dir.join("tun6.conf"),
        &dir.join("dir1.log"),
        &[],
    );
    let log = || std::fs::read_to_string(dir.join("dir1.log")).unwrap_or_default();
    let st = wait_serving(&lab, "dir1", &table, Duration::from_secs(40));
    // The VIP is a deprecated /128: the director's health checks (and the
    // data plane's outer header) come from 2001:db8:85::11.
    let vips = lab
        .exec_ok("dir1", ["ip", "-6", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(
        vips.contains(&format!("{VIP6}/128")) && vips.contains("deprecated"),
        "{vips}"
    );
    assert_eq!(st.services.len(), 1);
    // The next hop towards the real servers (the router) is kept resolved
    // by a managed neighbour entry, for IPv6 as for IPv4.
    assert_managed_neighbours(&lab, &["2001:db8:85::1"]);

    // The first encapsulated packets rs1 receives: ip6ip6 (next header 41)
    // from dir1's own address, the SYN's MSS clamped to 1500 - 40 - 40 - 20.
    let vip: SocketAddr = sock(VIP6, 80).parse().unwrap();
    let mut first = String::new();
    let seen = capture(&lab, "rs1", "eth0", "ip6 and ip6[6] == 41", 1, || {
        let (by, body) = spread_new_conns(&lab, vip, 3);
        assert_eq!(by.len(), 3, "{by:?}");
        first = body;
    });
    assert!(
        seen.contains("IP6 2001:db8:85::11 > 2001:db8:26::1: IP6 2001:db8:113::2.")
            && seen.contains("Flags [S]")
            && seen.contains("mss 1400"),
        "rs1 saw: {seen}"
    );
    // What the real server saw: the client's own address, to the VIP.
    assert!(
        first.contains("client=[2001:db8:113::2]:")
            && first.contains(&format!("server=[{VIP6}]:80")),
        "{first}"
    );

    let (by, _) = spread_new_conns(&lab, vip, 30);
    println!("ip6ip6: 30 connections: {by:?}");
    assert_eq!(counts(&by, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{by:?}");
    let clamped = counter_reaches(&lab, "mss_clamped", 33);

    let (post, get) = ten_mb_each_way(&lab, VIP6);
    assert!(post < Duration::from_secs(30) && get < Duration::from_secs(30));
    // The POST's 1500-byte packets did not fit with 40 more bytes: the
    // director answered Packet Too Big and the client's kernel lowered its
    // path MTU to 1460.
    let ptb = counter_reaches(&lab, "icmp_too_big", 1);
    let route = lab
        .exec_ok("client", ["ip", "-6", "route", "get", VIP6])
        .unwrap();
    assert!(route.contains("mtu 1460"), "{route}");
    println!("ip6ip6: mss_clamped={clamped} icmp_too_big={ptb}; client: {route}");

    // `vipd status`: the IPv6 service, its real servers as ipvsadm prints them.
    let text = lab
        .exec_ok("dir1", [vipd_self().to_str().unwrap(), "status"])
        .unwrap();
    println!("{text}");
    assert!(text.contains(&format!("TCP  [{VIP6}]:80 rr")), "{text}");
    for r in &table {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("-> {r}")))
            .unwrap_or_else(|| panic!("{r} missing from status:\n{text}"));
        assert!(line.contains("Tunnel") && line.ends_with("up"), "{line}");
    }
    let st = status(&lab, "dir1").unwrap();
    let svc = &st.services[0];
    assert!(svc.traffic.conns >= 33, "{:?}", svc.traffic);
    // The service's bytes are what crossed the director: the POST, not the GET.
    assert!(
        svc.traffic.bytes < MB10 as u64 + MB10 as u64 / 4,
        "{:?}",
        svc.traffic
    );
    let counters = &st.counters;
    assert!(drops(counters).is_empty(), "{counters:?}\n{}", log());
    kill(&mut d, Signal::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}

/// DR over IPv6: real servers dir2..dir4 on the director LAN, the VIP on
/// their lo (IPv6 answers neighbour solicitations only for addresses of the
/// interface asked, so nothing like arp_ignore is needed); the director
/// only rewrites the MAC.
#[test]
fn dr_over_ipv6_spreads_30_connections_over_the_director_lan() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let reals: Vec<String> = (12..=14).map(|i| format!("2001:db8:85::{i}")).collect();
    let conf = format!(
        "{}{}",
        vrrp("V6", 51, VIP6),
        virtual_server(VIP6, "DR", &reals, TCP_CHECK)
    );
    require_root();
    let lab = LabGuard::up(LabOptions {
        directors: 4,
        ipv6: true,
        ..LabOptions::unique("v6d")
    })
    .expect("lab up --ipv6");
    let mut httpds = Vec::new();
    for n in 2..=4 {
        let node = format!("dir{n}");
        lab.exec_ok(
            &node,
            [
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{VIP6}/128"),
                "dev",
                "lo",
            ],
        )
        .unwrap();
        httpds.push(
            lab.spawn(
                &node,
                [
                    vipd_self().to_str().unwrap(),
                    "lab",
                    "httpd",
                    "--node",
                    &node,
                    "--listen",
                    "[::]:80",
                ],
            )
            .unwrap(),
        );
    }
    let dir = std::env::temp_dir().join(format!("vipd-ipv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dr6.conf"), &conf).unwrap();
    let mut d = daemon(
        &lab,
        "dir1",
        &dir.join("dr6.conf"),
        &dir.join("dir1.log"),
        &[],
    );
    let table: Vec<String> = reals.iter().map(|r| sock(r, 80)).collect();
    wait_serving(&lab, "dir1", &table, Duration::from_secs(40));
    let reals_ref: Vec<&str> = reals.iter().map(String::as_str).collect();
    assert_managed_neighbours(&lab, &reals_ref);
    let vip: SocketAddr = sock(VIP6, 80).parse().unwrap();
    let (by, first) = spread_new_conns(&lab, vip, 30);
    println!("DR over IPv6: 30 connections: {by:?}");
    assert_eq!(
        counts(&by, &["dir2", "dir3", "dir4"]),
        [10, 10, 10],
        "{by:?}"
    );
    assert!(
        first.contains("client=[2001:db8:113::2]:")
            && first.contains(&format!("server=[{VIP6}]:80")),
        "{first}"
    );
    // DR adds no header: no Packet Too Big; the GET's bytes go straight
    // from dir2..dir4 to the router.
    ten_mb_each_way(&lab, VIP6);
    let st = status(&lab, "dir1").unwrap();
    let log = std::fs::read_to_string(dir.join("dir1.log")).unwrap_or_default();
    assert!(drops(&st.counters).is_empty(), "{:?}\n{log}", st.counters);
    let text = lab
        .exec_ok("dir1", [vipd_self().to_str().unwrap(), "status"])
        .unwrap();
    for r in &table {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("-> {r}")) && l.contains("Route")),
            "{r} (Route) missing from status:\n{text}"
        );
    }
    kill(&mut d, Signal::SIGTERM);
    for h in &mut httpds {
        kill(h, Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// TUN across families: the outer header is the real server's family. An
/// IPv4 VIP over IPv6 real servers (4in6: IPv4 inside ip6, next header 4)
/// and an IPv6 VIP over IPv4 real servers (6in4: protocol 41 inside IPv4),
/// both decapsulated by vipd's tc-BPF decap; 30 connections each land
/// 10/10/10, 10 MB each way, and the client's path MTU follows the outer
/// header's size (1460 for 4in6, 1480 for 6in4).
#[test]
fn mixed_families_4in6_and_6in4_spread_and_move_10mb_each_way() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let reals6: Vec<String> = (1..=3).map(rs6).collect();
    let reals4: Vec<String> = (1..=3).map(rs4).collect();
    let conf = format!(
        "{}{}{}{}",
        vrrp("V6", 51, VIP6),
        vrrp("V4", 52, VIP4),
        virtual_server(VIP4, "TUN", &reals6, TCP_CHECK),
        virtual_server(VIP6, "TUN", &reals4, TCP_CHECK),
    );
    let table: Vec<String> = reals6.iter().chain(&reals4).map(|r| sock(r, 80)).collect();
    require_root();
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        ipv6: true,
        ..LabOptions::unique("v6m")
    })
    .expect("lab up --ipv6");
    reals_up_for(&lab, 3, &[VIP4, VIP6]);
    let dir = std::env::temp_dir().join(format!("vipd-ipv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mixed.conf"), &conf).unwrap();
    let mut d = daemon(
        &lab,
        "dir1",
        &dir.join("mixed.conf"),
        &dir.join("dir1.log"),
        &[],
    );
    wait_serving(&lab, "dir1", &table, Duration::from_secs(40));

    // 4in6 first: rs1 receives IPv4 inside IPv6 (next header 4).
    let vip4: SocketAddr = sock(VIP4, 80).parse().unwrap();
    let seen = capture(&lab, "rs1", "eth0", "ip6 and ip6[6] == 4", 1, || {
        spread_new_conns(&lab, vip4, 3);
    });
    assert!(
        seen.contains("IP6 2001:db8:85::11 > 2001:db8:26::1: IP 203.0.113.2."),
        "rs1 saw: {seen}"
    );
    let (by, first) = spread_new_conns(&lab, vip4, 30);
    println!("4in6: 30 connections: {by:?}");
    assert_eq!(counts(&by, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{by:?}");
    assert!(first.contains("client=203.0.113.2:"), "{first}");
    ten_mb_each_way(&lab, VIP4);
    let ptb4 = counter_reaches(&lab, "icmp_too_big", 1);
    let route = lab.exec_ok("client", ["ip", "route", "get", VIP4]).unwrap();
    assert!(route.contains("mtu 1460"), "{route}");

    // 6in4: IPv6 inside IPv4 (protocol 41).
    let vip6: SocketAddr = sock(VIP6, 80).parse().unwrap();
    let seen = capture(&lab, "rs1", "eth0", "ip proto 41", 1, || {
        spread_new_conns(&lab, vip6, 3);
    });
    assert!(
        seen.contains("IP 10.253.85.11 > 10.253.26.1: IP6 2001:db8:113::2."),
        "rs1 saw: {seen}"
    );
    let (by, first) = spread_new_conns(&lab, vip6, 30);
    println!("6in4: 30 connections: {by:?}");
    assert_eq!(counts(&by, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{by:?}");
    assert!(first.contains("client=[2001:db8:113::2]:"), "{first}");
    ten_mb_each_way(&lab, VIP6);
    let ptb = counter_reaches(&lab, "icmp_too_big", ptb4 + 1);
    let route6 = lab
        .exec_ok("client", ["ip", "-6", "route", "get", VIP6])
        .unwrap();
    assert!(route6.contains("mtu 1480"), "{route6}");
    println!("icmp_too_big after 4in6: {ptb4}, after 6in4: {ptb}");

    let st = status(&lab, "dir1").unwrap();
    assert!(drops(&st.counters).is_empty(), "{:?}", st.counters);
    kill(&mut d, Signal::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}

/// LVS-NAT of an IPv6 VIP in `vipd lab up --nat --ipv6`. dir1's VRRPv3
/// instance holds the VIP and the gateway twin 2001:db8:85::254 (both /128
/// and deprecated: the router's neighbour solicitation finds it all the
/// same, and the director's own connections never leave from it), which
/// the router sends replies from 2001:db8:26::/64 to 2001:db8:113::/64 to;
/// the real servers listen on `[::]:8080` behind VIP port 80 and have no
/// tunnel and no VIP (NAT needs nothing on them). The director rewrites
/// the client's packets to RIP:8080 (the client's address kept) and the
/// replies back to VIP:80, forwarding them to the client itself.
#[test]
fn nat_of_an_ipv6_vip_spreads_30_connections_and_moves_10mb_each_way_through_the_director() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let gw6 = vipd_core::lab::nat_gateway6().to_string();
    let reals: Vec<String> = (1..=3).map(rs6).collect();
    let vrrp = vrrp("V6", 51, VIP6).replace(
        &format!("        {VIP6}\n"),
        &format!("        {VIP6}\n        {gw6}\n"),
    );
    assert!(vrrp.contains(&gw6), "{vrrp}");
    let conf = format!(
        "{vrrp}{}",
        virtual_server_to(VIP6, "NAT", &reals, 8080, HTTP_GET)
    );
    let table: Vec<String> = reals.iter().map(|r| sock(r, 8080)).collect();
    require_root();
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        nat: true,
        ipv6: true,
        ..LabOptions::unique("v6n")
    })
    .expect("lab up --nat --ipv6");
    let mut httpds = httpds_on_family(&lab, 3, 8080, true);
    let dir = std::env::temp_dir().join(format!("vipd-ipv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("nat6.conf"), &conf).unwrap();
    let mut d = daemon(
        &lab,
        "dir1",
        &dir.join("nat6.conf"),
        &dir.join("dir1.log"),
        &[],
    );
    let log = || std::fs::read_to_string(dir.join("dir1.log")).unwrap_or_default();
    wait_serving(&lab, "dir1", &table, Duration::from_secs(40));
    // The router's policy route: a reply from rs1 to the client goes to the
    // gateway twin, which dir1 holds; dir1 forwards IPv6 on eth1 (what
    // bpf_fib_lookup needs to send the translated replies on).
    let route = lab
        .exec_ok(
            "router",
            [
                "ip",
                "-6",
                "route",
                "get",
                "2001:db8:113::2",
                "from",
                &rs6(1),
                "iif",
                "br-rs",
            ],
        )
        .unwrap();
    assert!(route.contains(&format!("via {gw6} ")), "{route}");
    let addrs = lab
        .exec_ok("dir1", ["ip", "-6", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(addrs.contains(&format!("{gw6}/128")), "{addrs}");
    let fwd = lab
        .exec_ok("dir1", ["sysctl", "-n", "net.ipv6.conf.eth1.forwarding"])
        .unwrap();
    assert_eq!(fwd.trim(), "1", "IPv6 forwarding on dir1's eth1");
    // The health checks have run: their replies come back to dir1's own
    // address and are not translated.
    assert_eq!(
        counter(&lab, "dir1", "nat_out"),
        0,
        "nat_out before any client connection"
    );

    // rs1 receives the client's SYN on its own address, port 8080, from
    // the client's address; the client's first packet back is the SYN-ACK
    // from VIP:80 (never from the real server's address).
    let vip: SocketAddr = sock(VIP6, 80).parse().unwrap();
    let client_rx = |lab: &LabGuard| -> u64 {
        lab.exec_ok(
            "client",
            ["cat", "/sys/class/net/eth0/statistics/rx_packets"],
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    };
    let rx_before = client_rx(&lab);
    let mut at_client = String::new();
    let at_rs1 = capture(
        &lab,
        "rs1",
        "eth0",
        "ip6 and tcp dst port 8080 and src host 2001:db8:113::2",
        1,
        || {
            at_client = capture(
                &lab,
                "client",
                "eth0",
                "ip6 and tcp and dst host 2001:db8:113::2",
                1,
                || {
                    let (by, _) = spread_new_conns(&lab, vip, 3);
                    assert_eq!(by.len(), 3, "{by:?}");
                },
            );
        },
    );
    assert!(
        at_rs1.contains("IP6 2001:db8:113::2.")
            && at_rs1.contains(" > 2001:db8:26::1.8080: Flags [S]"),
        "rs1 saw: {at_rs1}"
    );
    assert!(
        at_client.contains(&format!("IP6 {VIP6}.80 > 2001:db8:113::2."))
            && at_client.contains("Flags [S.]"),
        "the client saw: {at_client}"
    );
    let nat_out0 = counter_reaches(&lab, "nat_out", 1);

    let (by, first) = spread_new_conns(&lab, vip, 30);
    let rx_conns = client_rx(&lab) - rx_before;
    println!("NAT over IPv6: 30 connections: {by:?}");
    assert_eq!(counts(&by, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{by:?}");
    // What the real server saw: the client's own address, to its own
    // address and port.
    assert!(
        first.contains("client=[2001:db8:113::2]:") && first.contains("server=[2001:db8:26::"),
        "{first}"
    );
    assert!(first.contains("]:8080"), "{first}");
    // Each connection's replies crossed dir1: at least its SYN-ACK and its
    // answer (the FIN may ride on the answer).
    let nat_out1 = counter_reaches(&lab, "nat_out", nat_out0 + 2 * 30);
    // Every packet the client received in those 33 connections was a reply
    // dir1 translated, each counted once (nat_out was 0 before them; a few
    // neighbour discovery packets aside).
    let translated = counter_reaches(&lab, "nat_out", rx_conns.saturating_sub(10));
    println!("the client received {rx_conns} packets in 33 connections; nat_out {translated}");
    assert!(
        translated <= rx_conns,
        "nat_out {translated} > {rx_conns} packets received by the client"
    );

    // 10 MB each way, both through dir1 (the GET's bytes are replies).
    let rx0 = rx_bytes(&lab, "dir1", "eth1");
    let (post, get) = post_and_get(&lab, &url(VIP6), MB10);
    let rx = rx_bytes(&lab, "dir1", "eth1") - rx0;
    println!(
        "NAT over IPv6: 10 MB POST {:.2} s, 10 MB GET {:.2} s, dir1 received {rx} bytes",
        post.as_secs_f64(),
        get.as_secs_f64()
    );
    assert!(
        rx > 2 * MB10 as u64,
        "dir1's eth1 received {rx} bytes during a 10 MB POST and a 10 MB GET"
    );
    assert!(post < Duration::from_secs(30) && get < Duration::from_secs(30));
    // The GET's 10 MB were translated replies: at least one per 64 KiB
    // even were they GSO-sized.
    let nat_out = counter_reaches(&lab, "nat_out", nat_out1 + (MB10 / 65_536) as u64);
    println!("nat_out: {nat_out0} after 3 connections, {nat_out1} after 33, {nat_out} after 10 MB each way");

    let text = lab
        .exec_ok("dir1", [vipd_self().to_str().unwrap(), "status"])
        .unwrap();
    println!("{text}");
    assert!(text.contains(&format!("TCP  [{VIP6}]:80 rr")), "{text}");
    for r in &table {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("-> {r}")))
            .unwrap_or_else(|| panic!("{r} missing from status:\n{text}"));
        assert!(line.contains("Masq") && line.ends_with("up"), "{line}");
    }
    // The service's traffic (sampled each second) counts the replies, as
    // for IPv4 NAT.
    let st = wait_for("replies counted", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        let t = &st.services.first()?.traffic;
        (t.conns >= 33 && t.out_bytes > MB10 as u64).then_some(st)
    });
    println!("service traffic: {:?}", st.services[0].traffic);
    assert!(
        drops(&st.counters).is_empty(),
        "{:?}\n{}",
        st.counters,
        log()
    );
    kill(&mut d, Signal::SIGTERM);
    for h in &mut httpds {
        kill(h, Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// IPv6 NAT across a failover, as `nat_lab.rs` does for IPv4: dir1 (MASTER)
/// and dir2 (BACKUP) share the VIP and the gateway twin by VRRPv3 and the
/// connections by sync; 30 keep-alive connections through dir1, dir1 is
/// killed, dir2 takes both addresses and translates the replies of the
/// connections it adopted: each answers its next request from the same real
/// server, and 30 new connections land 10/10/10 again.
#[test]
fn nat_of_an_ipv6_vip_keeps_its_connections_across_a_failover() {
    use vipd::lab::client::KeepAlive;
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let gw6 = vipd_core::lab::nat_gateway6().to_string();
    let reals: Vec<String> = (1..=3).map(rs6).collect();
    let master = format!(
        "{}{}",
        vrrp("V6", 51, VIP6).replace(
            &format!("        {VIP6}\n"),
            &format!("        {VIP6}\n        {gw6}\n"),
        ),
        virtual_server_to(VIP6, "NAT", &reals, 8080, TCP_CHECK)
    );
    let backup = master
        .replace("state MASTER", "state BACKUP")
        .replace("priority 150", "priority 100");
    assert_ne!(master, backup);
    let table: Vec<String> = reals.iter().map(|r| sock(r, 8080)).collect();
    require_root();
    let lab = LabGuard::up(LabOptions {
        directors: 2,
        nat: true,
        ipv6: true,
        ..LabOptions::unique("v6f")
    })
    .expect("lab up --nat --ipv6");
    let mut httpds = httpds_on_family(&lab, 3, 8080, true);
    let dir = std::env::temp_dir().join(format!("vipd-ipv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dir1.conf"), &master).unwrap();
    std::fs::write(dir.join("dir2.conf"), &backup).unwrap();
    let mut d1 = daemon(
        &lab,
        "dir1",
        &dir.join("dir1.conf"),
        &dir.join("dir1.log"),
        &[],
    );
    let mut d2 = daemon(
        &lab,
        "dir2",
        &dir.join("dir2.conf"),
        &dir.join("dir2.log"),
        &[],
    );
    wait_serving(&lab, "dir1", &table, Duration::from_secs(40));

    let vip: SocketAddr = sock(VIP6, 80).parse().unwrap();
    let ns = lab.netns("client");
    let mut conns: Vec<(KeepAlive, String)> = (0..30)
        .map(|i| {
            let mut c = KeepAlive::open(&ns, vip, Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            let r = c.get("/").unwrap_or_else(|e| panic!("connection {i}: {e}"));
            (c, r.first_line().to_owned())
        })
        .collect();
    let s = spread(&conns);
    println!("NAT over IPv6, dir1: 30 keep-alive connections {s:?}");
    assert_eq!(counts(&s, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{s:?}");
    wait_for(
        "dir2 holds the connections",
        Duration::from_secs(10),
        || {
            let st = status(&lab, "dir2")?;
            (st.tables.as_ref()?.conns >= 30).then_some(())
        },
    );

    kill(&mut d1, Signal::SIGKILL);
    wait_serving(&lab, "dir2", &table, Duration::from_secs(10));
    let addrs = lab
        .exec_ok("dir2", ["ip", "-6", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(addrs.contains(&format!("{gw6}/128")), "{addrs}");
    let kept = request_again(&mut conns, 7);
    println!("NAT over IPv6 after failover: {kept:?}");
    assert_eq!(kept.kept(), 30, "{:?}", kept.lost);
    let (by, _) = spread_new_conns(&lab, vip, 30);
    println!("NAT over IPv6, dir2: 30 new connections {by:?}");
    assert_eq!(counts(&by, &["rs1", "rs2", "rs3"]), [10, 10, 10], "{by:?}");
    // dir2 translated the replies (its counters are read each second).
    let st = wait_for("nat_out counted on dir2", Duration::from_secs(10), || {
        let st = status(&lab, "dir2")?;
        (st.counters.get("nat_out").copied()? > 0).then_some(st)
    });
    println!("dir2 counters: {:?}", st.counters);
    assert!(drops(&st.counters).is_empty(), "{:?}", st.counters);

    kill(&mut d2, Signal::SIGTERM);
    for h in &mut httpds {
        kill(h, Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
