//! UDP services end to end: a DNS service on the VIP, port 53/UDP, served by
//! Debian's dnsmasq on the seed's three real servers (bound to the VIP after
//! `vipd realserver up`, and to the real server's own address for DNS_CHECK),
//! each answering `who.vipd.test TXT` with its own name. dir1 runs vipd with
//! the seed's VRRP instance and `virtual_server 10.253.85.250 53 { protocol
//! UDP; lb_algo rr; DNS_CHECK }`; the client queries the VIP.
//!
//! - `rr_spreads_dns_queries_and_dns_check_takes_a_dead_server_out`: 300
//!   queries, each from its own source port, land 100/100/100; 30 from one
//!   port stay on one real server (its connection entry); a killed dnsmasq is
//!   taken out by DNS_CHECK and the next 300 queries land on the other two.
//! - `ops_spreads_the_queries_of_one_source_port`: with `ops`, 300 queries
//!   from ONE source port land 100/100/100.
//! - NAT (`lab up --nat`) and DR (the real servers are dir2..dir4 on the
//!   director LAN, the VIP on their lo): 300 queries land 100/100/100.

mod lab_support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};
use vipd_core::check::dns::{judge, query};
use vipd_core::check::DnsType;

const VIP_DNS: &str = "10.253.85.250:53";
const NAME: &str = "who.vipd.test";

/// The two tests take turns: each builds a lab with daemons, and both at once
/// on a 2-CPU machine make the timing of the other's checks a question.
static TURN: Mutex<()> = Mutex::new(());

/// How the director forwards (and so how the lab and the real servers are set
/// up).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// IP-in-IP: real servers hold the VIP (`vipd realserver up`).
    Tun,
    /// Masquerading: real servers answer on their own address, through the
    /// director (`vipd lab up --nat`, gateway VIP 10.253.85.254).
    Nat,
    /// Direct routing: the real servers are on the director LAN (the lab's
    /// dir2..dir4), the VIP on their lo, never answered in ARP.
    Dr,
}

/// The real servers of `kind`: node and address.
fn real_nodes(kind: Kind) -> Vec<(String, String)> {
    (1..=3)
        .map(|i| match kind {
            Kind::Dr => (format!("dir{}", i + 1), format!("10.253.85.{}", 11 + i)),
            _ => (format!("rs{i}"), format!("10.253.26.{i}")),
        })
        .collect()
}

fn conf(ops: bool, kind: Kind) -> String {
    let reals: String = real_nodes(kind)
        .iter()
        .map(|(_, addr)| {
            format!(
                "    real_server {addr} 53 {{
        DNS_CHECK {{
            type TXT
            name {NAME}
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }}
    }}
"
            )
        })
        .collect();
    format!(
        "vrrp_instance VI_1 {{
    state MASTER
    interface eth1
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass 1111
    }}
    virtual_ipaddress {{
        10.253.85.250 dev eth1 label eth1:1
{gateway}    }}
}}
virtual_server 10.253.85.250 53 {{
    delay_loop 1
    lb_algo rr
    lb_kind {kind}
    protocol UDP
{ops}{reals}}}
",
        ops = if ops { "    ops\n" } else { "" },
        kind = match kind {
            Kind::Nat => "NAT",
            Kind::Dr => "DR",
            Kind::Tun => "TUN",
        },
        gateway = if kind == Kind::Nat {
            "        10.253.85.254/24 dev eth1\n"
        } else {
            ""
        },
    )
}

/// The dnsmasq processes this test started; killed by PID when dropped
/// (also when the test panics).
struct Dnsmasqs(Vec<Child>);

impl Drop for Dnsmasqs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            kill(c, Signal::SIGKILL);
        }
    }
}

/// dnsmasq in the foreground on a real server `(node, addr)`, bound to its
/// own address and, for TUN and DR, to the VIP (on lo), answering
/// `who.vipd.test TXT "NODE"` and nothing else (no upstream, no hosts file,
/// no configuration file), logging to `dir/NODE-dnsmasq.log`.
fn dnsmasq(lab: &LabGuard, (node, addr): &(String, String), dir: &Path, kind: Kind) -> Child {
    let mut cmd = lab.command(node, "dnsmasq").expect("real server node");
    if kind != Kind::Nat {
        cmd.arg("--listen-address=10.253.85.250");
    }
    cmd.args([
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        &format!("--listen-address={addr}"),
        "--port=53",
        "--user=root",
        "--group=root",
        "--log-facility=-",
        &format!("--txt-record={NAME},{node}"),
        &format!("--pid-file={}", dir.join(format!("{node}.pid")).display()),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(dir.join(format!("{node}-dnsmasq.log"))).unwrap());
    lab.spawn_command(node, &mut cmd).unwrap_or_else(|e| {
        panic!("dnsmasq on {node}: {e} (apt-get install dnsmasq-base, or `make deps`)")
    })
}

/// The TXT string of a DNS answer (the first answer's first string).
fn txt(reply: &[u8]) -> Option<String> {
    // Skips a name at `at` (labels, or a compression pointer), returns the
    // offset after it.
    fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
        loop {
            let len = *m.get(at)? as usize;
            if len == 0 {
                return Some(at + 1);
            }
            if len & 0xc0 == 0xc0 {
                return Some(at + 2);
            }
            at += 1 + len;
        }
    }
    let at = skip_name(reply, 12)? + 4; // question: name, type, class
    let at = skip_name(reply, at)?; // answer: name
    let rtype = u16::from_be_bytes([*reply.get(at)?, *reply.get(at + 1)?]);
    if rtype != DnsType::Txt.code() {
        return None;
    }
    let rdata = at + 10; // type, class, ttl, rdlength
    let n = *reply.get(rdata)? as usize;
    let s = reply.get(rdata + 1..rdata + 1 + n)?;
    Some(String::from_utf8_lossy(s).into_owned())
}

/// Asks `who.vipd.test TXT` through the VIP on `sock` (connected to it):
/// the real server's name, and how many times the query was sent. A reply to
/// an earlier query (another id) is skipped.
fn ask(sock: &UdpSocket, id: u16) -> Result<(String, u32), String> {
    let q = query(id, NAME, DnsType::Txt).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    for attempt in 1..=3 {
        sock.send(&q).map_err(|e| format!("send: {e}"))?;
        loop {
            match sock.recv(&mut buf) {
                Ok(_) if buf[..2] != q[..2] => continue,
                Ok(n) => {
                    judge(&q, &buf[..n])?;
                    return txt(&buf[..n])
                        .map(|t| (t, attempt))
                        .ok_or_else(|| format!("no TXT answer in {:02x?}", &buf[..n]));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }
    Err(format!("query {id}: no answer to 3 tries"))
}

fn udp_socket(port: u16) -> Result<UdpSocket, String> {
    let s = UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("bind :{port}: {e}"))?;
    s.connect(VIP_DNS.parse::<SocketAddr>().unwrap())
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// How the answers spread over the real servers, and how many queries had
/// to be sent again.
#[derive(Debug, Default)]
struct Spread {
    by_real: BTreeMap<String, usize>,
    resent: u32,
}

impl Spread {
    fn add(&mut self, (real, attempts): (String, u32)) {
        *self.by_real.entry(real).or_default() += 1;
        self.resent += attempts - 1;
    }

    fn count(&self, real: &str) -> usize {
        self.by_real.get(real).copied().unwrap_or(0)
    }
}

/// One query from each client port of `ports` (a socket of its own each),
/// from the client node.
fn queries_from_ports(lab: &LabGuard, ports: std::ops::Range<u16>) -> Spread {
    lab.run_in("client", move || -> Result<Spread, String> {
        let mut s = Spread::default();
        for port in ports {
            s.add(ask(&udp_socket(port)?, port)?);
        }
        Ok(s)
    })
    .expect("client node")
    .unwrap_or_else(|e| panic!("DNS through the VIP: {e}"))
}

/// `n` queries from ONE client socket bound to `port`.
fn queries_from_one_port(lab: &LabGuard, port: u16, n: u16) -> Spread {
    lab.run_in("client", move || -> Result<Spread, String> {
        let sock = udp_socket(port)?;
        let mut s = Spread::default();
        for id in 0..n {
            s.add(ask(&sock, id)?);
        }
        Ok(s)
    })
    .expect("client node")
    .unwrap_or_else(|e| panic!("DNS through the VIP: {e}"))
}

fn in_dns_table(lab: &LabGuard, i: usize) -> Option<bool> {
    let st = status(lab, "dir1")?;
    Some(in_table(&st, &format!("10.253.26.{i}:53")))
}

/// The lab, its scratch directory, dnsmasq on rs1..rs3 and dir1 running
/// `conf(ops)` as VRRP MASTER with the three real servers in its table.
fn setup(prefix: &str, ops: bool, kind: Kind) -> (LabGuard, PathBuf, Dnsmasqs, Child) {
    let lab = LabGuard::up(LabOptions {
        directors: if kind == Kind::Dr { 4 } else { 1 },
        nat: kind == Kind::Nat,
        ..LabOptions::unique(prefix)
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-udp-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let reals = real_nodes(kind);
    match kind {
        Kind::Tun => reals_up(&lab, 3),
        Kind::Dr => {
            for (node, _) in &reals {
                for cmd in [
                    "ip addr add 10.253.85.250/32 dev lo",
                    "sysctl -qw net.ipv4.conf.all.arp_ignore=1",
                    "sysctl -qw net.ipv4.conf.all.arp_announce=2",
                ] {
                    lab.exec_ok(node, cmd.split(' ')).unwrap();
                }
            }
        }
        Kind::Nat => {}
    }
    let dns = Dnsmasqs(reals.iter().map(|r| dnsmasq(&lab, r, &dir, kind)).collect());
    let conf_path = dir.join("udp.conf");
    std::fs::write(&conf_path, conf(ops, kind)).unwrap();
    let d1 = daemon(&lab, "dir1", &conf_path, &dir.join("dir1.log"), &[]);
    wait_for(
        "dir1 MASTER with the three real servers :53 in its table (DNS_CHECK passing)",
        Duration::from_secs(60),
        || {
            let st = status(&lab, "dir1")?;
            (st.vrrp.first()?.state == "MASTER"
                && reals.iter().all(|(_, a)| in_table(&st, &format!("{a}:53"))))
            .then_some(())
        },
    );
    (lab, dir, dns, d1)
}

fn assert_even(what: &str, s: &Spread, reals: &[&str], each: usize, slack: usize) {
    println!("{what}: {:?} ({} sent again)", s.by_real, s.resent);
    let total: usize = s.by_real.values().sum();
    assert_eq!(total, each * reals.len(), "{what}: {s:?}");
    for r in reals {
        assert!(
            s.count(r).abs_diff(each) <= slack,
            "{what}: {r} answered {} of {total}, want {each} ± {slack}: {s:?}",
            s.count(r)
        );
    }
}

#[test]
fn rr_spreads_dns_queries_and_dns_check_takes_a_dead_server_out() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, mut dns, mut d1) = setup("udprr", false, Kind::Tun);

    // 300 queries, 300 source ports: rr, 100 each.
    let s = queries_from_ports(&lab, 20000..20300);
    assert_even(
        "300 queries from 300 ports",
        &s,
        &["rs1", "rs2", "rs3"],
        100,
        5,
    );

    // Without ops, one source port is one flow: all on one real server.
    let one = queries_from_one_port(&lab, 5353, 30);
    println!("30 queries from one port: {:?}", one.by_real);
    assert_eq!(one.by_real.len(), 1, "{one:?}");

    // rs2's dnsmasq dies: DNS_CHECK takes rs2 out, the others stay.
    kill(&mut dns.0[1], Signal::SIGTERM);
    wait_for(
        "DNS_CHECK to take rs2 out of dir1's table",
        Duration::from_secs(20),
        || (!in_dns_table(&lab, 2)?).then_some(()),
    );
    for i in [1, 3] {
        assert_eq!(in_dns_table(&lab, i), Some(true), "rs{i}");
    }
    let s = queries_from_ports(&lab, 21000..21300);
    assert_eq!(s.count("rs2"), 0, "{s:?}");
    assert_even("300 queries with rs2 down", &s, &["rs1", "rs3"], 150, 5);

    kill(&mut d1, Signal::SIGTERM);
    let log = std::fs::read_to_string(dir.join("dir1.log")).unwrap();
    assert!(log.contains("real server 10.253.26.2:53 is down"), "{log}");
    drop(dns);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops_spreads_the_queries_of_one_source_port() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, dns, mut d1) = setup("udpops", true, Kind::Tun);

    let st = status(&lab, "dir1").expect("status");
    assert!(st.services[0].ops, "vipd status: {:?}", st.services[0]);
    let s = queries_from_one_port(&lab, 5353, 300);
    // Each datagram is scheduled on its own: rr gives exactly a third each.
    assert_even(
        "300 queries from one port, ops",
        &s,
        &["rs1", "rs2", "rs3"],
        100,
        0,
    );
    let ops = wait_for("the ops counter", Duration::from_secs(5), || {
        let n = *status(&lab, "dir1")?.counters.get("ops")?;
        (n >= 300).then_some(n)
    });
    assert_eq!(ops, 300 + u64::from(s.resent), "ops counter");

    kill(&mut d1, Signal::SIGTERM);
    drop(dns);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same in NAT: 300 queries from 300 ports land 100/100/100 on real
/// servers that answer from their own address; the director puts the VIP
/// back as the answers' source (the client only accepts answers from it).
#[test]
fn nat_spreads_dns_queries_and_answers_come_from_the_vip() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, dns, mut d1) = setup("udpnat", false, Kind::Nat);
    let s = queries_from_ports(&lab, 20000..20300);
    assert_even(
        "300 queries from 300 ports, NAT",
        &s,
        &["rs1", "rs2", "rs3"],
        100,
        5,
    );
    let out = wait_for("NAT answers counted", Duration::from_secs(5), || {
        let n = *status(&lab, "dir1")?.counters.get("nat_out")?;
        (n >= 300).then_some(n)
    });
    println!("nat_out {out}");
    kill(&mut d1, Signal::SIGTERM);
    drop(dns);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same in DR: the director rewrites only the MAC address; the real
/// servers on its LAN answer the client from the VIP themselves.
#[test]
fn dr_spreads_dns_queries_over_real_servers_on_the_director_lan() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, dns, mut d1) = setup("udpdr", false, Kind::Dr);
    let s = queries_from_ports(&lab, 20000..20300);
    assert_even(
        "300 queries from 300 ports, DR",
        &s,
        &["dir2", "dir3", "dir4"],
        100,
        5,
    );
    // Each query was a new flow on dir1's data plane, sent on by XDP_TX.
    let tx = wait_for(
        "dir1's data plane counted 300 flows",
        Duration::from_secs(5),
        || {
            let c = status(&lab, "dir1")?.counters;
            (c.get("conn_new")? >= &300).then_some(*c.get("tx")?)
        },
    );
    assert!(tx >= 300, "tx {tx}");
    kill(&mut d1, Signal::SIGTERM);
    drop(dns);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
