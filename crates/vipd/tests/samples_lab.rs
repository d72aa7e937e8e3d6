//! keepalived's own sample files (`testdata/keepalived-samples`, as shipped
//! with keepalived) under `vipd -f` in the lab. Each file with a
//! `virtual_server` gets its addresses and interfaces mapped to the lab's
//! ([`map_sample`]: VIPs into the director subnet, real servers into the
//! real-server subnet, every interface to the directors' `eth1`) and nothing
//! else changed; it must start (status lists each of its virtual servers,
//! SIGTERM ends it cleanly) or be refused with the reason named.
//! `keepalived.conf.virtual_server_group` then runs as a service: every
//! member address of its group serves.

mod lab_support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

const SAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/keepalived-samples"
);

/// What each sample with a `virtual_server` does under vipd, and why when
/// it is refused.
const EXPECTED: &[(&str, Option<&str>)] = &[
    ("keepalived.conf.HTTP_GET.port", None),
    // lb_kind NAT of an IPv6 VIP (`the_ipv6_sample_serves_through_its_vip_by_nat`
    // serves through it).
    ("keepalived.conf.IPv6", None),
    ("keepalived.conf.PING_CHECK", None),
    ("keepalived.conf.SMTP_CHECK", None),
    (
        "keepalived.conf.SSL_GET",
        Some("auth_type AH is not supported"),
    ),
    ("keepalived.conf.UDP_CHECK", None),
    (
        "keepalived.conf.fwmark",
        Some("before netfilter marks packets"),
    ),
    ("keepalived.conf.inhibit", None),
    ("keepalived.conf.misc_check", None),
    ("keepalived.conf.misc_check_arg", None),
    ("keepalived.conf.quorum", None),
    ("keepalived.conf.sample", None),
    ("keepalived.conf.status_code", None),
    ("keepalived.conf.virtual_server_group", None),
    ("keepalived.conf.virtualhost", None),
    ("keepalived.conf.vrrp.lvs_syncd", None),
];

/// The lab's side of a mapping: sample addresses to lab addresses.
#[derive(Default)]
struct Mapper {
    vips: BTreeMap<Ipv4Addr, Ipv4Addr>,
    reals: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

/// Where mapped VIPs start in the director subnet (free in the lab).
const VIP_BASE: u8 = 100;
const DIR1: &str = "10.253.85.11";
const DIR2: &str = "10.253.85.12";

impl Mapper {
    /// `first` and the `count - 1` addresses after it (a group range) as
    /// consecutive addresses of the director subnet.
    fn vip(&mut self, first: Ipv4Addr, count: u32) -> Ipv4Addr {
        if let Some(v) = self.vips.get(&first) {
            return *v;
        }
        let used = self.vips.len() as u32;
        assert!(used + count < 140, "too many VIPs to map");
        let base = u32::from(Ipv4Addr::new(10, 253, 85, VIP_BASE)) + used;
        for i in 0..count {
            self.vips.insert(
                Ipv4Addr::from(u32::from(first) + i),
                Ipv4Addr::from(base + i),
            );
        }
        Ipv4Addr::from(base)
    }

    /// Real servers in order of appearance: rs1, rs2, rs3, then addresses
    /// of the real-server subnet where the lab has no host (their checks
    /// fail, as a server that is down).
    fn real(&mut self, a: Ipv4Addr) -> Ipv4Addr {
        let n = self.reals.len() as u8;
        *self
            .reals
            .entry(a)
            .or_insert_with(|| Ipv4Addr::new(10, 253, 26, n + 1))
    }

    /// An IPv6 address as an IPv4 one of its own (`::ffff:a.b.c.d`), so
    /// both families share the order of appearance; mapped back to the
    /// lab's IPv6 twin of the address it gets (`vipd lab up --ipv6`:
    /// 10.253.85.100 -> 2001:db8:85::100).
    fn key6(a: Ipv6Addr) -> Ipv4Addr {
        // Documentation-only addresses in the samples: the low 32 bits,
        // moved into 240.0.0.0/4 (never an IPv4 address of a sample).
        let low = (u128::from(a) & 0x0fff_ffff) as u32;
        Ipv4Addr::from(0xf000_0000 | low)
    }

    fn vip6(&mut self, first: Ipv6Addr, count: u32) -> Ipv6Addr {
        ipv6_twin(self.vip(Self::key6(first), count))
    }

    fn real6(&mut self, a: Ipv6Addr) -> Ipv6Addr {
        ipv6_twin(self.real(Self::key6(a)))
    }
}

fn ipv6_twin(a: Ipv4Addr) -> Ipv6Addr {
    vipd_core::lab::ipv6_twin(a)
}

/// A VIP word: `ADDR`, `ADDR/LEN` or a group's `ADDR-LAST`, mapped.
fn map_vip_word(m: &mut Mapper, w: &str) -> String {
    if let Some((a, last)) = w.split_once('-') {
        // An IPv6 range: the last group's last value, in hex.
        if let (Ok(a), Ok(last)) = (a.parse::<Ipv6Addr>(), u16::from_str_radix(last, 16)) {
            let count = u32::from(last.saturating_sub(a.segments()[7])) + 1;
            let v = m.vip6(a, count);
            return format!("{v}-{:x}", v.segments()[7] as u32 + count - 1);
        }
        if let (Ok(a), Ok(last)) = (a.parse::<Ipv4Addr>(), last.parse::<u8>()) {
            let count = u32::from(last.saturating_sub(a.octets()[3])) + 1;
            let v = m.vip(a, count);
            return format!("{v}-{}", v.octets()[3] as u32 + count - 1);
        }
    }
    if let Some((a, len)) = w.split_once('/') {
        if let (Ok(a), Ok(l)) = (a.parse::<Ipv4Addr>(), len.parse::<u32>()) {
            // A group's prefix is a range of addresses; an interface
            // address keeps its length.
            let count = if l >= 24 { 1u32 << (32 - l) } else { 1 };
            return format!("{}/{len}", m.vip(a, count));
        }
    }
    if let Some((a, len)) = w.split_once('/') {
        if let Ok(a) = a.parse::<Ipv6Addr>() {
            return format!("{}/{len}", m.vip6(a, 1));
        }
    }
    if let Ok(a) = w.parse::<Ipv6Addr>() {
        return m.vip6(a, 1).to_string();
    }
    match w.parse::<Ipv4Addr>() {
        Ok(a) => m.vip(a, 1).to_string(),
        Err(_) => w.to_owned(),
    }
}

fn map_real_word(m: &mut Mapper, w: &str) -> String {
    if let Ok(a) = w.parse::<Ipv6Addr>() {
        return m.real6(a).to_string();
    }
    match w.parse::<Ipv4Addr>() {
        Ok(a) => m.real(a).to_string(),
        Err(_) => w.to_owned(),
    }
}

/// Maps one sample to the lab: VIPs (virtual_server, group entries,
/// virtual_ipaddress, static_ipaddress) into 10.253.85.100.., real and
/// sorry servers and `connect_ip` into the real-server subnet, source
/// addresses to dir1's, unicast peers to dir2's, interfaces to `eth1`, and
/// `default_interface eth1` (keepalived's default is eth0) so a VIP no
/// VRRP instance holds is received on the lab's director interface.
/// Comments are dropped; nothing else changes.
fn map_sample(text: &str) -> String {
    let mut m = Mapper::default();
    let mut stack: Vec<String> = Vec::new();
    let mut last_head = String::new();
    let mut out = String::new();
    let mut has_globals = false;
    for line in text.lines() {
        let code = line.split(['!', '#']).next().unwrap_or("");
        let indent = &code[..code.len() - code.trim_start().len()];
        let words: Vec<&str> = code.split_whitespace().collect();
        let ctx = stack.last().map(String::as_str).unwrap_or("");
        let head = words.first().copied().unwrap_or("");
        let mapped: Vec<String> = match head {
            "virtual_server" => {
                let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                if let Some(w) = v.get_mut(1) {
                    *w = map_vip_word(&mut m, w);
                }
                v
            }
            "real_server" | "sorry_server" | "connect_ip" => {
                let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                v[1] = map_real_word(&mut m, &v[1]);
                v
            }
            "interface" => vec!["interface".into(), "eth1".into()],
            "mcast_src_ip" | "unicast_src_ip" | "bindto" => vec![head.into(), DIR1.into()],
            "lvs_sync_daemon_interface" => vec![head.into(), "eth1".into()],
            "lvs_sync_daemon" => {
                let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                v[1] = "eth1".into();
                v
            }
            "default_interface" => vec![head.into(), "eth1".into()],
            _ if head != "}" && !head.is_empty() => match ctx {
                "virtual_server_group" => {
                    let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    if head != "fwmark" {
                        v[0] = map_vip_word(&mut m, &v[0]);
                    }
                    v
                }
                "virtual_ipaddress" | "virtual_ipaddress_excluded" | "static_ipaddress" => {
                    let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    v[0] = map_vip_word(&mut m, &v[0]);
                    for i in 1..v.len() {
                        if v[i - 1] == "dev" {
                            v[i] = "eth1".into();
                        }
                    }
                    v
                }
                "track_interface" => {
                    let mut v: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                    v[0] = "eth1".into();
                    v
                }
                "unicast_peer" => vec![DIR2.into()],
                _ => words.iter().map(|w| w.to_string()).collect(),
            },
            _ => words.iter().map(|w| w.to_string()).collect(),
        };
        if !mapped.is_empty() {
            out.push_str(indent);
            out.push_str(&mapped.join(" "));
        }
        out.push('\n');
        if head == "global_defs" && stack.is_empty() {
            has_globals = true;
            out.push_str("    default_interface eth1\n");
        }
        for w in &words {
            for c in w.chars() {
                match c {
                    '{' => {
                        let h = if head == "{" {
                            last_head.clone()
                        } else {
                            head.to_owned()
                        };
                        stack.push(h);
                    }
                    '}' => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
        }
        if !head.is_empty() && head != "{" && head != "}" {
            last_head = head.to_owned();
        }
    }
    if has_globals {
        out
    } else {
        format!("global_defs {{\n    default_interface eth1\n}}\n{out}")
    }
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(Path::new(SAMPLES).join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_mapping_moves_addresses_and_interfaces_and_nothing_else() {
    let got = map_sample(&sample("keepalived.conf.virtual_server_group"));
    for want in [
        "default_interface eth1",
        "10.253.85.100 8080",
        "10.253.85.101 80",
        "10.253.85.102 1358",
        "10.253.85.103-110 80",
        "fwmark 1",
        "real_server 10.253.26.1 1358 {",
        "real_server 10.253.26.2 1358 {",
        "path /testurl3/test.jsp",
        "digest 640205b7b0fc66c1ea91c463fac6334d",
        "lb_kind NAT",
    ] {
        assert!(got.contains(want), "{want:?} missing in:\n{got}");
    }
    // 192.168.200.1 is a VIP (group) and a real server: each by its role.
    assert!(!got.contains("192.168.200.1 1358"), "{got}");
    let vrrp = map_sample(&sample("keepalived.conf.SSL_GET"));
    assert!(vrrp.contains("interface eth1"), "{vrrp}");
    assert!(!vrrp.contains("eth0"), "{vrrp}");
    assert!(vrrp.contains("10.253.85.10"), "{vrrp}");
}

/// The samples with a `virtual_server`, from the directory itself: a
/// sample added there and missing from [`EXPECTED`] fails the test.
fn samples_with_a_virtual_server() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(SAMPLES)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            sample(n)
                .lines()
                .any(|l| l.trim_start().starts_with("virtual_server "))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_keepalived_sample_with_a_virtual_server_starts_or_is_refused_by_name() {
    let names = samples_with_a_virtual_server();
    let listed: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, listed, "samples and EXPECTED differ");

    // Dual stack: keepalived.conf.IPv6's real server must be routable (the
    // data plane looks up its next hop at start and refuses to run without).
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        ipv6: true,
        ..LabOptions::unique("smp")
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-smp-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut report = Vec::new();
    for (name, refused) in EXPECTED {
        let conf = dir.join(name);
        let text = map_sample(&sample(name));
        std::fs::write(&conf, &text).unwrap();
        let log = dir.join(format!("{name}.log"));
        let t0 = Instant::now();
        let mut d = daemon(&lab, "dir1", &conf, &log, &[]);
        match refused {
            Some(why) => {
                let code = wait_for(&format!("{name} refused"), Duration::from_secs(20), || {
                    d.try_wait().unwrap()
                });
                let err = std::fs::read_to_string(&log).unwrap();
                assert!(!code.success(), "{name} started:\n{err}");
                assert!(err.contains(why), "{name}: {why:?} not in:\n{err}");
                let line = err
                    .lines()
                    .find(|l| l.contains(why))
                    .unwrap_or_default()
                    .to_owned();
                report.push(format!("{name}: refused: {line}"));
            }
            None => {
                let want = text
                    .lines()
                    .filter(|l| l.trim_start().starts_with("virtual_server "))
                    .count();
                let st = wait_for(&format!("{name} running"), Duration::from_secs(30), || {
                    if let Some(code) = d.try_wait().unwrap() {
                        panic!(
                            "{name} exited ({code}):\n{}",
                            std::fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                    status(&lab, "dir1").filter(|st| st.services.len() == want)
                });
                let services: Vec<&str> = st.services.iter().map(|s| s.name.as_str()).collect();
                assert!(
                    services.iter().all(|s| s.contains("10.253.85.1")
                        || s.contains("[2001:db8:85::1")
                        || s.starts_with("group ")),
                    "{name}: {services:?}"
                );
                let started = t0.elapsed();
                signal(&d, Signal::SIGTERM);
                let code = wait_for(&format!("{name} stopped"), Duration::from_secs(20), || {
                    d.try_wait().unwrap()
                });
                assert!(
                    code.success(),
                    "{name}: exit {code}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                report.push(format!(
                    "{name}: ran {} virtual server(s) {services:?} (status after {:.1} s)",
                    want,
                    started.as_secs_f64()
                ));
            }
        }
        let _ = d.wait();
    }
    for r in &report {
        println!("{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_virtual_server_group_sample_serves_every_member_address() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        nat: true,
        ..LabOptions::unique("smg")
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-smg-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    // The sample's real servers listen on 1358 and answer its HTTP_GET url
    // with the digest it names; the lab's httpd has no /testurl3/test.jsp,
    // so the url becomes one it serves, with that page's digest measured.
    let mut httpds = httpds_on(&lab, 2, 1358);
    let page = "/bytes/64";
    let md5 = lab
        .exec_ok(
            "client",
            [
                "sh",
                "-c",
                &format!("curl -sS --max-time 10 http://10.253.26.1:1358{page} | md5sum"),
            ],
        )
        .unwrap();
    let digest = md5.split_whitespace().next().unwrap().to_owned();
    let text = map_sample(&sample("keepalived.conf.virtual_server_group"))
        .replace("path /testurl3/test.jsp", &format!("path {page}"))
        .replace(
            "digest 640205b7b0fc66c1ea91c463fac6334d",
            &format!("digest {digest}"),
        );
    let conf = dir.join("vsg.conf");
    std::fs::write(&conf, &text).unwrap();
    // No VRRP in this sample: the operator puts the VIPs on the director (as
    // for IPVS), and the NAT gateway the router sends replies to.
    let members: Vec<(String, u16)> = [
        ("10.253.85.100", 8080),
        ("10.253.85.101", 80),
        ("10.253.85.102", 1358),
    ]
    .into_iter()
    .map(|(a, p)| (a.to_owned(), p))
    .chain((103..=110).map(|i| (format!("10.253.85.{i}"), 80)))
    .collect();
    for (a, _) in &members {
        lab.exec_ok(
            "dir1",
            ["ip", "addr", "add", &format!("{a}/32"), "dev", "eth1"],
        )
        .unwrap();
    }
    lab.exec_ok(
        "dir1",
        ["ip", "addr", "add", "10.253.85.254/24", "dev", "eth1"],
    )
    .unwrap();
    let log = dir.join("dir1.log");
    let mut d = daemon(&lab, "dir1", &conf, &log, &[]);
    let st = wait_for("rs1, rs2 up on dir1", Duration::from_secs(60), || {
        let st = status(&lab, "dir1")?;
        (1..=2)
            .all(|i| in_table(&st, &format!("10.253.26.{i}:1358")))
            .then_some(st)
    });
    let got: Vec<String> = st.services[0].group.iter().map(|a| a.to_string()).collect();
    let want: Vec<String> = members.iter().map(|(a, p)| format!("{a}:{p}")).collect();
    assert_eq!(got, want);
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(err.contains("fwmark 1 is skipped"), "{err}");

    let mut seen = BTreeMap::new();
    for (a, p) in &members {
        let answer = curl(&lab, &["--max-time", "5", &format!("http://{a}:{p}/")]);
        let node = answer.lines().next().unwrap_or_default().to_owned();
        assert!(
            node.contains("rs1") || node.contains("rs2"),
            "{a}:{p}: {answer}"
        );
        println!("{a}:{p} -> {node}");
        *seen.entry(node).or_insert(0) += 1;
    }
    println!("members served: {} {seen:?}", members.len());

    kill(&mut d, Signal::SIGTERM);
    for h in &mut httpds {
        kill(h, Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A minimal SMTP server on `[::]:25` of `node` (what the IPv6 sample's
/// SMTP_CHECK talks to): a 220 greeting naming the node, the peer and the
/// local address it was reached on, 250 to every command, 221 to QUIT.
/// Its thread lives as long as the test process; the socket dies with the
/// lab's namespace.
fn smtp_on(lab: &LabGuard, node: &str) {
    use std::io::{BufRead, BufReader, Write};
    let listener = lab
        .run_in(node, || std::net::TcpListener::bind("[::]:25"))
        .unwrap()
        .unwrap();
    let name = node.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let name = name.clone();
            std::thread::spawn(move || {
                let (peer, local) = (s.peer_addr().unwrap(), s.local_addr().unwrap());
                let _ = write!(s, "220 {name} ESMTP client={peer} server={local}\r\n");
                let mut lines = BufReader::new(s.try_clone().unwrap()).lines();
                while let Some(Ok(l)) = lines.next() {
                    let quit = l.to_ascii_uppercase().starts_with("QUIT");
                    let _ = write!(s, "{}\r\n", if quit { "221 bye" } else { "250 ok" });
                    if quit {
                        break;
                    }
                }
            });
        }
    });
}

/// One SMTP exchange from the client's namespace to `addr`: the greeting,
/// then QUIT's answer.
fn smtp_quit(lab: &LabGuard, addr: std::net::SocketAddr) -> (String, String) {
    use std::io::{BufRead, BufReader, Write};
    lab.run_in("client", || {
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut greeting = String::new();
        r.read_line(&mut greeting).unwrap();
        (&s).write_all(b"QUIT\r\n").unwrap();
        let mut bye = String::new();
        r.read_line(&mut bye).unwrap();
        (greeting.trim().to_owned(), bye.trim().to_owned())
    })
    .unwrap()
}

/// keepalived.conf.IPv6 as shipped (`lb_kind NAT`, VIP port 80 to the real
/// server's port 25, persistence) in the dual-stack NAT lab (`vipd lab up
/// --nat --ipv6`), only its addresses mapped to the lab's IPv6 twins: its
/// SMTP_CHECK passes over IPv6 against rs1's port 25, and the client's
/// connections to the sample's VIP port 80 reach rs1's SMTP server on port
/// 25 from the client's own address and are answered from the VIP (the
/// director translates both ways; the router sends rs1's replies to the
/// gateway twin 2001:db8:85::254 on dir1, a deprecated /128 as VRRP
/// would add it). rs1 has no VIP and no tunnel.
#[test]
fn the_ipv6_sample_serves_through_its_vip_by_nat() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        ipv6: true,
        nat: true,
        ..LabOptions::unique("smv6")
    })
    .expect("lab up --nat --ipv6 (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-smv6-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = map_sample(&sample("keepalived.conf.IPv6"));
    // The group (unused by the virtual server) takes ::100-107, the
    // virtual server's VIP ::108; ae00::10 is the first real server.
    for want in [
        "2001:db8:85::100-107 80",
        "virtual_server 2001:db8:85::108 80 {",
        "lb_kind NAT",
        "real_server 2001:db8:26::1 25 {",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }
    let vip = "2001:db8:85::108";
    let gw6 = vipd_core::lab::nat_gateway6();
    // No VRRP in this sample: the operator puts the VIP on the director
    // (a deprecated /128, never the source of the director's checks) and
    // the NAT gateway the router sends replies to.
    for a in [vip.to_owned(), gw6.to_string()] {
        lab.exec_ok(
            "dir1",
            [
                "ip",
                "-6",
                "addr",
                "add",
                &format!("{a}/128"),
                "dev",
                "eth1",
                "preferred_lft",
                "0",
            ],
        )
        .unwrap();
    }
    smtp_on(&lab, "rs1");
    let conf = dir.join("ipv6.conf");
    std::fs::write(&conf, &text).unwrap();
    let log = dir.join("dir1.log");
    let mut d = daemon(&lab, "dir1", &conf, &log, &[]);
    let rs: std::net::SocketAddr = "[2001:db8:26::1]:25".parse().unwrap();
    let st = wait_for(
        "rs1's SMTP_CHECK over IPv6 passing",
        Duration::from_secs(40),
        || {
            if let Some(code) = d.try_wait().unwrap() {
                panic!(
                    "exited ({code}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let st = status(&lab, "dir1")?;
            let r = st.services.first()?.real(rs)?;
            let smtp = r
                .checkers
                .iter()
                .find(|c| c.kind == "SMTP_CHECK" && c.target == rs)?;
            (smtp.has_run && smtp.up && r.in_table).then_some(st.clone())
        },
    );
    assert_eq!(st.services[0].name, format!("[{vip}]:80/TCP"));
    // SMTP_CHECK's replies come back to dir1's own address, untranslated.
    assert_eq!(
        counter(&lab, "dir1", "nat_out"),
        0,
        "nat_out before the client"
    );
    let to: std::net::SocketAddr = format!("[{vip}]:80").parse().unwrap();
    for _ in 0..3 {
        let (greeting, bye) = smtp_quit(&lab, to);
        println!("keepalived.conf.IPv6 (lb_kind NAT): [{vip}]:80 -> {greeting} / {bye}");
        assert!(
            greeting.starts_with("220 rs1 ESMTP client=[2001:db8:113::2]:")
                && greeting.ends_with(&format!(" server={rs}")),
            "{greeting}"
        );
        assert_eq!(bye, "221 bye");
    }
    let nat_out = wait_for("nat_out counted", Duration::from_secs(10), || {
        let n = counter(&lab, "dir1", "nat_out");
        (n >= 3 * 3).then_some(n)
    });
    println!("dir1 nat_out {nat_out}");
    kill(&mut d, Signal::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}
