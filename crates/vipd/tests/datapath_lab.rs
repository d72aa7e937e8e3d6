//! The XDP director in the lab: real packets through real kernels.
//!
//! `dir1` holds the VIP and runs `vipd datapath run` (native XDP on `eth1`; the lab
//! puts a pass program on the router's end), the three real servers decapsulate
//! with `vipd realserver up` and answer with `vipd lab httpd`, whose first line
//! names the real server. Root required; each test builds and removes its own lab.

mod lab_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lab_support::curl;
use vipd::lab::{LabGuard, LabOptions};

const VIP: &str = "10.253.85.250";
const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "lab tests create network namespaces and load BPF: run them as root"
    );
}

/// The VIP as a /32 on `node`'s `dev`.
fn add_vip(lab: &LabGuard, node: &str, dev: &str) {
    lab.exec_ok(
        node,
        ["ip", "addr", "add", &format!("{VIP}/32"), "dev", dev],
    )
    .unwrap();
}

/// A lab (name from `prefix`) with `directors` directors and the VIP on dir1.
fn lab_with_vip_on_dir1(prefix: &str, directors: u8) -> LabGuard {
    require_root();
    let lab = LabGuard::up(LabOptions {
        directors,
        ..LabOptions::unique(prefix)
    })
    .expect("lab up");
    add_vip(&lab, "dir1", "eth1");
    lab
}

/// A lab with the VIP on dir1 and every real server set up for TUN.
fn lab_for_tun() -> LabGuard {
    let lab = lab_with_vip_on_dir1("tdl", 1);
    for rs in ["rs1", "rs2", "rs3"] {
        lab.exec_ok(rs, [VIPD, "realserver", "up", "--vip", VIP])
            .unwrap();
    }
    lab
}

/// `vipd datapath run` in a node, stopped with SIGTERM on drop.
struct Director {
    child: Child,
    out: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Director {
    fn start(lab: &LabGuard, node: &str, args: &[&str]) -> Self {
        let mut cmd = lab.command(node, VIPD).unwrap();
        cmd.args([
            "datapath",
            "run",
            "--iface",
            "eth1",
            "--stats-interval",
            "0",
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = lab.spawn_command(node, &mut cmd).unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {l}"));
            }
        });
        let mut d = Self {
            child,
            out: rx,
            log: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match d.out.recv_timeout(left) {
                Ok(l) => {
                    let ready = l.contains("Ctrl-C to stop");
                    d.log.push(l);
                    if ready {
                        return d;
                    }
                }
                Err(_) => panic!("vipd datapath run did not start: {:#?}", d.log),
            }
        }
    }

    /// Stops it and returns everything it printed.
    fn stop(mut self) -> Vec<String> {
        self.signal_and_wait();
        while let Ok(l) = self.out.recv_timeout(Duration::from_millis(500)) {
            self.log.push(l);
        }
        std::mem::take(&mut self.log)
    }

    fn signal_and_wait(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.signal_and_wait();
    }
}

/// The three real servers of the lab, for TUN.
const TUN_REALS: [&str; 3] = ["10.253.26.1", "10.253.26.2", "10.253.26.3"];

/// `vipd datapath run` on dir1 for VIP:80 with `options` (split at spaces) and
/// one `--real` for each of `reals`.
fn director_on_dir1(lab: &LabGuard, options: &str, reals: &[&str]) -> Director {
    let mut args = vec!["--vip", "10.253.85.250:80"];
    args.extend(options.split_whitespace());
    for real in reals {
        args.extend(["--real", real]);
    }
    Director::start(lab, "dir1", &args)
}

/// One HTTP/1.0 request on a new connection from `client`; returns the first line
/// of the body (the real server's name).
fn get_first_line(stream: TcpStream) -> String {
    let mut s = stream;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default();
    body.lines().next().unwrap_or_default().to_string()
}

/// `n` new connections from the client to VIP:80; counts by real server name.
fn spread(lab: &LabGuard, n: usize) -> BTreeMap<String, usize> {
    let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
    lab.run_in("client", move || {
        let mut by = BTreeMap::new();
        for _ in 0..n {
            let s =
                TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to VIP");
            *by.entry(get_first_line(s)).or_insert(0) += 1;
        }
        by
    })
    .unwrap()
}

fn counts(by: &BTreeMap<String, usize>) -> Vec<usize> {
    ["rs1", "rs2", "rs3"]
        .iter()
        .map(|r| by.get(*r).copied().unwrap_or(0))
        .collect()
}

#[test]
fn tun_rr_splits_30_connections_exactly_and_replies_bypass_the_director() {
    let lab = lab_for_tun();
    let d = director_on_dir1(&lab, "--sched rr --xdp-mode native", &TUN_REALS);
    // Capture on the router's end of dir1's cable: all the director sends/receives.
    let mut dump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.netns("router"),
            "tcpdump",
            "-i",
            "dir1",
            "-nn",
            "-l",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump (apt-get install tcpdump)");
    // tcpdump prints "listening on" to stderr once the capture runs.
    let mut err = BufReader::new(dump.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "tcpdump exited");
    }
    let mut stdout = dump.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });

    let by = spread(&lab, 30);
    assert_eq!(counts(&by), vec![10, 10, 10], "{by:?}");

    std::thread::sleep(Duration::from_millis(300));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dump.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = dump.wait();
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let text = reader.join().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let to_vip = lines
        .iter()
        .filter(|l| {
            l.contains("203.0.113.2.")
                && l.contains("> 10.253.85.250.80:")
                && !l.contains("10.253.85.11 >")
        })
        .count();
    let encapsulated = lines
        .iter()
        .filter(|l| l.contains("IP 10.253.85.11 > 10.253.26."))
        .count();
    let replies = lines
        .iter()
        .filter(|l| l.contains("10.253.85.250.80 > 203.0.113.2"))
        .count();
    assert!(
        to_vip >= 30 * 3,
        "client->VIP frames seen: {to_vip}\n{text}\ntcpdump: {line}{rest}"
    );
    assert_eq!(
        encapsulated, to_vip,
        "every client->VIP frame leaves encapsulated\n{text}"
    );
    assert_eq!(replies, 0, "replies crossed the director\n{text}");

    let log = d.stop();
    let svc = log
        .iter()
        .find(|l| l.starts_with("service "))
        .expect("stats line");
    // The director's own counters: it forwarded every client frame, no reply.
    let pkts: usize = svc
        .split("pkts=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pkts, to_vip, "{log:#?}");
    assert!(svc.contains("conns=30"), "{log:#?}");
    // Managed neighbours: not even the first packet waited for ARP.
    let counters = log.iter().rev().find(|l| l.contains("counters:")).unwrap();
    assert!(!counters.contains("drop_"), "{log:#?}");
}

#[test]
fn tun_moves_10mb_each_way_at_mtu_1500() {
    let lab = lab_for_tun();
    let d = director_on_dir1(&lab, "--sched rr --xdp-mode native", &TUN_REALS);
    const N: usize = 10 * 1024 * 1024;
    let body = format!("/tmp/{}-post.bin", lab.name());
    std::fs::write(&body, vec![b'v'; N]).unwrap();
    let post = curl(
        &lab,
        &[
            "--data-binary",
            &format!("@{body}"),
            &format!("http://{VIP}/upload"),
        ],
    );
    let _ = std::fs::remove_file(&body);
    assert_eq!(post.trim(), N.to_string(), "POST: the real server received");
    let got = curl(
        &lab,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            &format!("http://{VIP}/bytes/{N}"),
        ],
    );
    assert_eq!(got.trim(), N.to_string(), "GET: bytes downloaded");
    let log = d.stop();
    let counters = log.iter().rev().find(|l| l.contains("counters:")).unwrap();
    assert!(counters.contains("mss_clamped="), "{log:#?}");
    assert!(!counters.contains("drop_"), "{log:#?}");
}

#[test]
fn wrr_1_2_3_over_6000_connections() {
    let lab = lab_for_tun();
    let weighted = ["10.253.26.1@1", "10.253.26.2@2", "10.253.26.3@3"];
    let _d = director_on_dir1(&lab, "--sched wrr --xdp-mode generic", &weighted);
    let n = 6000;
    let c = counts(&spread(&lab, n));
    assert_eq!(c.iter().sum::<usize>(), n);
    for (i, w) in [1.0, 2.0, 3.0].iter().enumerate() {
        let share = c[i] as f64 / n as f64;
        assert!((share - w / 6.0).abs() <= 0.02, "{c:?}");
    }
}

#[test]
fn dr_on_a_shared_lan() {
    let lab = lab_with_vip_on_dir1("tdr", 2);
    // dir2 (10.253.85.12, on the director LAN) is the DR real server: the VIP on
    // lo, never answered in ARP, and an HTTP server.
    add_vip(&lab, "dir2", "lo");
    for k in [
        "net.ipv4.conf.all.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2",
    ] {
        lab.exec_ok("dir2", ["sysctl", "-qw", k]).unwrap();
    }
    let mut httpd = lab
        .spawn("dir2", [VIPD, "lab", "httpd", "--node", "dir2"])
        .unwrap();
    let d = director_on_dir1(&lab, "--forward DR --xdp-mode native", &["10.253.85.12"]);
    // The HTTP server needs a moment to listen.
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr: SocketAddr = format!("{VIP}:80").parse().unwrap();
    let first = loop {
        let r =
            vipd::lab::client::http_get(&lab.netns("client"), addr, "/", Duration::from_secs(2));
        match r {
            Ok(reply) => break reply.first_line().to_string(),
            Err(e) if Instant::now() > deadline => panic!("GET via DR: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    assert_eq!(first, "dir2");
    let by = spread(&lab, 5);
    assert_eq!(by.get("dir2"), Some(&5), "{by:?}");
    drop(d);
    let _ = httpd.kill();
    let _ = httpd.wait();
}
