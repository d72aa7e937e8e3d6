//! What the lab experiments about keeping connections share: directors run
//! from a keepalived.conf, status polling, and the keep-alive experiment
//! (open connections, an event, one more request on each).
#![allow(dead_code, reason = "each test file uses a part")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vipd::daemon::status::Status;
use vipd::lab::client::KeepAlive;
use vipd::lab::LabGuard;

pub const SEED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");
pub const VIP: &str = "10.253.85.250:80";

/// The vipd binary under test; `VIPD_UNDER_TEST` runs the directors from
/// another build (a baseline measured in the same run).
pub fn vipd() -> PathBuf {
    std::env::var_os("VIPD_UNDER_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vipd")))
}

/// This build's vipd (status, realserver: what the test itself runs).
pub fn vipd_self() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

pub fn status(lab: &LabGuard, node: &str) -> Option<Status> {
    let out = lab
        .command(node, vipd_self())
        .unwrap()
        .args(["status", "--json"])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn in_table(st: &Status, rs: &str) -> bool {
    let addr: SocketAddr = rs.parse().unwrap();
    st.services
        .first()
        .and_then(|s| s.real(addr))
        .is_some_and(|r| r.in_table && r.weight > 0)
}

/// Every real server `vipd realserver up` for the seed's VIP.
pub fn reals_up(lab: &LabGuard, n: usize) {
    reals_up_for(lab, n, &["10.253.85.250"]);
}

/// rs1..rsN `vipd realserver up` for each of `vips`.
pub fn reals_up_for(lab: &LabGuard, n: usize, vips: &[&str]) {
    for i in 1..=n {
        let mut args = vec![
            vipd_self().to_str().unwrap().to_owned(),
            "realserver".into(),
            "up".into(),
        ];
        for v in vips {
            args.extend(["--vip".to_owned(), (*v).to_owned()]);
        }
        lab.exec_ok(&format!("rs{i}"), args).unwrap();
    }
}

/// `curl -sS --max-time 60 ARGS` from the client; its output.
pub fn curl(lab: &LabGuard, args: &[&str]) -> String {
    let mut argv = vec!["curl", "-sS", "--max-time", "60"];
    argv.extend_from_slice(args);
    lab.exec_ok("client", argv).unwrap()
}

/// `vipd -f conf [extra...]` in `node`, its log in `log`.
pub fn daemon(lab: &LabGuard, node: &str, conf: &Path, log: &Path, extra: &[&str]) -> Child {
    let mut cmd = lab.command(node, vipd()).unwrap();
    cmd.arg("-f")
        .arg(conf)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    lab.spawn_command(node, &mut cmd).unwrap()
}

/// Waits until `node` is VRRP MASTER with rs1..rs3 in its table.
pub fn wait_master(lab: &LabGuard, node: &str, timeout: Duration) -> Status {
    wait_for(
        &format!("{node} MASTER with rs1..rs3 in its table"),
        timeout,
        || {
            let st = status(lab, node)?;
            (st.vrrp.first()?.state == "MASTER"
                && (1..=3).all(|i| in_table(&st, &format!("10.253.26.{i}:80"))))
            .then_some(st)
        },
    )
}

pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
}

/// Kills and reaps.
pub fn kill(child: &mut Child, sig: nix::sys::signal::Signal) {
    signal(child, sig);
    let _ = child.wait();
}

/// `n` keep-alive connections from the client through the VIP, each with one
/// request answered: the connections and the real server of each.
pub fn open_conns(lab: &LabGuard, n: usize) -> Vec<(KeepAlive, String)> {
    let ns = lab.netns("client");
    (0..n)
        .map(|i| {
            let mut c = KeepAlive::open(&ns, VIP.parse().unwrap(), Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            let r = c.get("/").unwrap_or_else(|e| panic!("connection {i}: {e}"));
            (c, r.first_line().to_owned())
        })
        .collect()
}

/// What one more request on each connection found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Survival {
    /// Answered by the same real server.
    pub same: usize,
    /// Answered by another real server (cannot happen with TCP, kept to be sure).
    pub moved: usize,
    /// Reset, closed or timed out.
    pub lost: Vec<String>,
}

impl Survival {
    pub fn kept(&self) -> usize {
        self.same
    }
}

/// One more request on each connection, in an order other than they were
/// opened in (a seeded shuffle).
pub fn request_again(conns: &mut [(KeepAlive, String)], seed: u64) -> Survival {
    let mut order: Vec<usize> = (0..conns.len()).collect();
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut s = Survival::default();
    for i in order {
        let (c, rs) = &mut conns[i];
        match c.get("/") {
            Ok(r) if r.first_line() == rs => s.same += 1,
            Ok(r) => {
                s.moved += 1;
                s.lost.push(format!("#{i}: {rs} -> {}", r.first_line()));
            }
            Err(e) => s.lost.push(format!("#{i} ({rs}): {e}")),
        }
    }
    s
}

/// How many connections each real server holds.
pub fn spread(conns: &[(KeepAlive, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, rs) in conns {
        *m.entry(rs.clone()).or_insert(0) += 1;
    }
    m
}

/// A copy of a seed file with `edit` applied, in `dir`.
pub fn seed_conf(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(format!("{SEED_DIR}/{name}")).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, edit(text)).unwrap();
    p
}

/// The seed's file `name` with the scheduler `sched` (`X+persistence`:
/// persistence_timeout 300), as `dir/SCHED-NAME`.
pub fn seed_conf_sched(dir: &Path, name: &str, sched: &str) -> PathBuf {
    let (algo, persist) = match sched.split_once('+') {
        Some((a, _)) => (a, true),
        None => (sched, false),
    };
    let p = seed_conf(dir, name, |t| {
        let t = t.replace("lb_algo rr", &format!("lb_algo {algo}"));
        if persist {
            t.replace("persistence_timeout 0", "persistence_timeout 300")
        } else {
            t
        }
    });
    let out = dir.join(format!("{sched}-{name}"));
    std::fs::rename(&p, &out).unwrap();
    out
}

/// A baseline run (`VIPD_UNDER_TEST`): another build, perhaps without the
/// feature under test: nothing asserted, only reported.
pub fn baseline() -> bool {
    std::env::var_os("VIPD_UNDER_TEST").is_some()
}

/// Schedulers from the environment variable `var` (comma-separated), or
/// `default`.
pub fn scheds_from(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// `vipd lab httpd` on `port` of rs1..rsN (the lab starts one on port 80).
pub fn httpds_on(lab: &LabGuard, n: usize, port: u16) -> Vec<Child> {
    httpds_on_family(lab, n, port, false)
}

/// The same on `[::]:port` (`v6`), each waited for on its IPv6 twin.
pub fn httpds_on_family(lab: &LabGuard, n: usize, port: u16, v6: bool) -> Vec<Child> {
    let children: Vec<_> = (1..=n)
        .map(|i| {
            let node = format!("rs{i}");
            let mut cmd = lab.command(&node, vipd_self()).unwrap();
            cmd.args([
                "lab",
                "httpd",
                "--node",
                &node,
                "--listen",
                &if v6 {
                    format!("[::]:{port}")
                } else {
                    format!("0.0.0.0:{port}")
                },
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            lab.spawn_command(&node, &mut cmd).unwrap()
        })
        .collect();
    for i in 1..=n {
        let ns = lab.netns(&format!("rs{i}"));
        let ip: std::net::Ipv4Addr = format!("10.253.26.{i}").parse().unwrap();
        let addr = if v6 {
            SocketAddr::new(vipd_core::lab::ipv6_twin(ip).into(), port)
        } else {
            SocketAddr::new(ip.into(), port)
        };
        wait_for("lab httpd", Duration::from_secs(10), || {
            vipd::lab::netns::run_in(&ns, || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
            })
            .ok()
            .flatten()
        });
    }
    children
}

/// Whether `rs` (`ADDR:PORT`, `[V6]:PORT`) is in the table, live, of any of
/// the director's services.
pub fn in_any_table(st: &Status, rs: &str) -> bool {
    let addr: SocketAddr = rs.parse().unwrap();
    st.services
        .iter()
        .filter_map(|s| s.real(addr))
        .any(|r| r.in_table && r.weight > 0)
}

/// Whether `rs` (`ADDR:PORT`) is in one of the director's tables with every
/// checker of it run and passing (a real server starts in the table before
/// its first check).
pub fn checked_in_table(st: &Status, rs: &str) -> bool {
    let addr: SocketAddr = rs.parse().unwrap();
    in_any_table(st, rs)
        && st
            .services
            .iter()
            .filter_map(|s| s.real(addr))
            .all(|r| r.checkers.iter().all(|c| c.has_run && c.up))
}

/// Waits until every VRRP instance of `node` is MASTER and each of `reals`
/// (`ADDR:PORT`) is in one of its tables, its checks passing.
pub fn wait_serving(lab: &LabGuard, node: &str, reals: &[String], timeout: Duration) -> Status {
    wait_for(
        &format!("{node} MASTER with {reals:?} in its tables, checks passing"),
        timeout,
        || {
            let st = status(lab, node)?;
            (!st.vrrp.is_empty()
                && st.vrrp.iter().all(|v| v.state == "MASTER")
                && reals.iter().all(|r| checked_in_table(&st, r)))
            .then_some(st)
        },
    )
}

/// A data-plane counter of `node`'s director (0 when absent).
pub fn counter(lab: &LabGuard, node: &str, name: &str) -> u64 {
    status(lab, node)
        .and_then(|st| st.counters.get(name).copied())
        .unwrap_or(0)
}

/// `n` new connections from the client to `addr`, one `GET /` on each: how
/// many each server answered (the reply's first line names it), and the
/// first reply's body.
pub fn spread_new_conns(
    lab: &LabGuard,
    addr: SocketAddr,
    n: usize,
) -> (BTreeMap<String, usize>, String) {
    let ns = lab.netns("client");
    let mut by = BTreeMap::new();
    let mut first = String::new();
    for i in 0..n {
        let r = vipd::lab::client::http_get(&ns, addr, "/", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connection {i} to {addr}: {e}"));
        if i == 0 {
            first = r.body.clone();
        }
        *by.entry(r.first_line().to_owned()).or_insert(0) += 1;
    }
    (by, first)
}

/// A `bytes`-long POST to `url` and a GET of `url/bytes/N` from the client,
/// with curl; the time each took. Panics unless both moved every byte.
pub fn post_and_get(lab: &LabGuard, url: &str, bytes: usize) -> (Duration, Duration) {
    let body = format!("/tmp/{}-post.bin", lab.name());
    std::fs::write(&body, vec![b'v'; bytes]).unwrap();
    let t0 = Instant::now();
    let post = curl(
        lab,
        &[
            "--data-binary",
            &format!("@{body}"),
            &format!("{url}/upload"),
        ],
    );
    let post_t = t0.elapsed();
    let _ = std::fs::remove_file(&body);
    assert_eq!(post.trim(), bytes.to_string(), "POST {url}: received");
    let t0 = Instant::now();
    let got = curl(
        lab,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            &format!("{url}/bytes/{bytes}"),
        ],
    );
    let get_t = t0.elapsed();
    assert_eq!(got.trim(), bytes.to_string(), "GET {url}: downloaded");
    (post_t, get_t)
}

/// `ip -s`'s received bytes of `iface` in `node`.
pub fn rx_bytes(lab: &LabGuard, node: &str, iface: &str) -> u64 {
    lab.exec_ok(
        node,
        [
            "cat",
            &format!("/sys/class/net/{iface}/statistics/rx_bytes"),
        ],
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}

/// tcpdump on `node`'s `iface` for the first `count` packets matching
/// `filter`, started before `trigger` runs; the lines it printed.
pub fn capture(
    lab: &LabGuard,
    node: &str,
    iface: &str,
    filter: &str,
    count: usize,
    trigger: impl FnOnce(),
) -> String {
    use std::io::{BufRead, BufReader, Read};
    let mut cmd = lab.command(node, "timeout").unwrap();
    cmd.args(["15", "tcpdump", "-nli", iface, "-c", &count.to_string()])
        .args(filter.split_whitespace())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = lab.spawn_command(node, &mut cmd).unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "tcpdump exited (apt-get install tcpdump)"
        );
    }
    trigger();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let _ = child.wait();
    out
}
