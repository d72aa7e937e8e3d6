//! Active-active directors behind ECMP (`vipd lab up --directors 3 --ecmp`):
//! BIRD on the router (multipath, L4 hash, BFD) and on each director; every
//! director runs vipd with `vipd_announce vipd0`, Maglev (`mh` with
//! `mh-port`), TUN to the seed's three real servers, and connection sharing
//! (on by default between active-active directors).
//!
//! - `ecmp_spreads_flows_and_keeps_every_connection_when_a_director_dies_and_returns`:
//!   new connections spread over the directors and the real servers; 300
//!   keep-alive connections survive `kill -9` of one director's vipd, its
//!   return, and a director that falls silent (BFD), each timed at the router.
//! - `ecmp_withdraws_what_a_director_cannot_serve`: SIGTERM, a detached data
//!   plane and all real servers down each withdraw the VIP; back, announced.
//!
//! `VIPD_ECMP_BASELINE=1` runs the first test as directors that each decide
//! alone would (`rr`, `--no-sync`) and reports what is kept instead of
//! asserting it: the baseline of docs/OPERATIONS.md's numbers.

mod lab_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::client::KeepAlive;
use vipd::lab::{LabGuard, LabOptions};

/// The tests take turns: each runs a lab with three directors.
static TURN: Mutex<()> = Mutex::new(());

/// The configuration every director runs: the ECMP demo's.
const CONF: &str = vipd::lab::ecmp_story::ECMP_CONF;

const DIRECTORS: [&str; 3] = ["dir1", "dir2", "dir3"];

/// The lab, its scratch directory and the configuration's path.
fn setup(prefix: &str) -> (LabGuard, PathBuf, PathBuf) {
    let lab = LabGuard::up(LabOptions {
        directors: 3,
        ecmp: true,
        ..LabOptions::unique(prefix)
    })
    .expect("lab up --ecmp (root, iproute2, bird2)");
    let dir = std::env::temp_dir().join(format!("vipd-ecmp-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up(&lab, 3);
    let conf = dir.join("ecmp.conf");
    let text = if ecmp_baseline() {
        CONF.replace("lb_algo mh\n    mh-port\n", "lb_algo rr\n")
    } else {
        CONF.to_owned()
    };
    std::fs::write(&conf, text).unwrap();
    (lab, dir, conf)
}

fn ecmp_baseline() -> bool {
    std::env::var_os("VIPD_ECMP_BASELINE").is_some()
}

fn start(lab: &LabGuard, dir: &std::path::Path, conf: &std::path::Path, node: &str) -> Child {
    // A log per start: a restarted director's log is its own.
    let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let extra: &[&str] = if ecmp_baseline() { &["--no-sync"] } else { &[] };
    daemon(lab, node, conf, &dir.join(format!("{node}-{n}.log")), extra)
}

/// Every connection kept (reported only in a baseline run).
fn assert_kept(what: &str, kept: &Survival) {
    println!(
        "{what}: {} of 300 kept ({} lost)",
        kept.kept(),
        kept.lost.len()
    );
    if !ecmp_baseline() {
        assert_eq!(kept.kept(), 300, "{what}: {:?}", kept.lost);
    }
}

/// The directors the router sends the VIP's flows to now.
fn nexthops(lab: &LabGuard) -> BTreeSet<String> {
    vipd::lab::ecmp_story::nexthops(lab)
        .unwrap()
        .into_iter()
        .collect()
}

fn via(dirs: &[u8]) -> BTreeSet<String> {
    dirs.iter()
        .map(|n| format!("10.253.85.{}", 10 + n))
        .collect()
}

/// Waits until the router sends to exactly `dirs`; the time it took.
fn wait_nexthops(lab: &LabGuard, dirs: &[u8], timeout: Duration) -> Duration {
    let want = via(dirs);
    let t0 = Instant::now();
    loop {
        let got = nexthops(lab);
        if got == want {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < timeout,
            "after {timeout:?} the router sends to {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// New connections a director scheduled, as its status counts them.
fn scheduled(lab: &LabGuard, node: &str) -> u64 {
    status(lab, node).map_or(0, |s| s.services[0].traffic.conns)
}

#[test]
fn ecmp_spreads_flows_and_keeps_every_connection_when_a_director_dies_and_returns() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, conf) = setup("ecmp");
    let mut d: Vec<Child> = DIRECTORS
        .iter()
        .map(|n| start(&lab, &dir, &conf, n))
        .collect();
    wait_nexthops(&lab, &[1, 2, 3], Duration::from_secs(30));

    // New connections, one request each: over the directors by the router's
    // hash, over the real servers by Maglev. 300 first (the count),
    // then 2,700 more: a fair hash puts 100 ± 8 (one standard deviation) of
    // 300 on each director, so ±10% is asserted where it is a property of
    // the spread, not of luck: over 3,000.
    let ns = lab.netns("client");
    let before: Vec<u64> = DIRECTORS.iter().map(|n| scheduled(&lab, n)).collect();
    let mut by_real: BTreeMap<String, usize> = BTreeMap::new();
    let mut first = Vec::new();
    for i in 0..3000 {
        let mut c = KeepAlive::open(&ns, VIP.parse().unwrap(), Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        let r = c.get("/").unwrap_or_else(|e| panic!("connection {i}: {e}"));
        *by_real.entry(r.first_line().to_owned()).or_default() += 1;
        if i == 299 {
            std::thread::sleep(Duration::from_millis(1100));
            first = DIRECTORS
                .iter()
                .zip(&before)
                .map(|(n, b)| scheduled(&lab, n) - b)
                .collect();
        }
    }
    let per_dir = wait_for("3,000 connections counted", Duration::from_secs(5), || {
        let v: Vec<u64> = DIRECTORS
            .iter()
            .zip(&before)
            .map(|(n, b)| scheduled(&lab, n) - b)
            .collect();
        (v.iter().sum::<u64>() >= 3000).then_some(v)
    });
    println!("first 300 connections over dir1..dir3: {first:?}");
    println!("3,000 connections over dir1..dir3: {per_dir:?}; over the real servers: {by_real:?}");
    // At least 3,000: a flow moved by a routing hiccup is counted again by
    // the director it moves to.
    let total = per_dir.iter().sum::<u64>();
    assert!(total >= 3000, "{per_dir:?}");
    for n in &per_dir {
        let third = total as f64 / 3.0;
        assert!(
            (*n as f64 - third).abs() <= 0.1 * third,
            "directors: {per_dir:?}"
        );
    }
    assert_eq!(by_real.len(), 3, "{by_real:?}");
    for n in by_real.values() {
        assert!((900..=1100).contains(n), "real servers: {by_real:?}");
    }

    // 300 keep-alive connections held; dir1's vipd dies (kill -9): its
    // device goes with it, BIRD withdraws, the router sends its flows to
    // the others, which forward them to the same real servers.
    // Each director's table before: the 3,000 closed connections are still
    // in it (closing), so sharing shows as 300 more on every director.
    let table = |n: &str| {
        status(&lab, n)
            .and_then(|s| s.tables)
            .map_or(0, |t| t.conns)
    };
    let before: Vec<u64> = DIRECTORS.iter().map(|n| table(n)).collect();
    let mut conns = open_conns(&lab, 300);
    if !ecmp_baseline() {
        wait_for("connections shared", Duration::from_secs(10), || {
            DIRECTORS
                .iter()
                .zip(&before)
                .all(|(n, b)| table(n) >= b + 300)
                .then_some(())
        });
    }
    kill(&mut d[0], Signal::SIGKILL);
    let gone = wait_nexthops(&lab, &[2, 3], Duration::from_secs(5));
    println!("dir1 killed: the router stopped sending to it after {gone:?}");
    let kept = request_again(&mut conns, 11);
    assert_kept("after dir1 died", &kept);

    // It comes back: announced again once it has the others' connections;
    // the flows ECMP moves back (and among the others) carry on.
    d[0] = start(&lab, &dir, &conf, "dir1");
    let back = wait_nexthops(&lab, &[1, 2, 3], Duration::from_secs(30));
    println!("dir1 restarted: announced again after {back:?}");
    let kept = request_again(&mut conns, 12);
    assert_kept("after dir1 came back", &kept);

    // dir2 falls silent (its link down: no FIN, no withdrawal): BFD.
    lab.exec_ok("dir2", ["ip", "link", "set", "eth1", "down"])
        .unwrap();
    let silent = wait_nexthops(&lab, &[1, 3], Duration::from_secs(5));
    println!("dir2 silent: the router stopped sending to it after {silent:?} (BFD 3 x 100 ms)");
    assert!(silent < Duration::from_millis(500), "{silent:?}");
    let kept = request_again(&mut conns, 13);
    assert_kept("after dir2 fell silent", &kept);
    lab.exec_ok("dir2", ["ip", "link", "set", "eth1", "up"])
        .unwrap();
    lab.exec_ok(
        "dir2",
        ["ip", "route", "replace", "default", "via", "10.253.85.1"],
    )
    .unwrap();
    wait_nexthops(&lab, &[1, 2, 3], Duration::from_secs(30));
    let kept = request_again(&mut conns, 14);
    assert_kept("after dir2 came back", &kept);

    for c in &mut d {
        kill(c, Signal::SIGTERM);
    }
    drop(conns);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The XDP link of `node`'s director program, detached with bpftool as an
/// operator (or a bug) could.
fn detach_data_plane(lab: &LabGuard, node: &str) {
    let link = lab
        .exec_ok(node, ["ip", "-d", "-j", "link", "show", "eth1"])
        .unwrap();
    let link: serde_json::Value = serde_json::from_str(&link).unwrap();
    let prog = link[0]["xdp"]["prog"]["id"].as_u64().expect("XDP attached");
    let links = lab
        .exec_ok(node, ["bpftool", "-j", "link", "list"])
        .unwrap();
    let links: serde_json::Value = serde_json::from_str(&links).unwrap();
    let id = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["prog_id"].as_u64() == Some(prog))
        .and_then(|l| l["id"].as_u64())
        .expect("the program's link");
    lab.exec_ok(node, ["bpftool", "link", "detach", "id", &id.to_string()])
        .unwrap();
}

fn why(lab: &LabGuard, node: &str) -> String {
    status(lab, node)
        .and_then(|s| s.announce)
        .map(|a| a.vips[0].why.clone())
        .unwrap_or_default()
}

#[test]
fn ecmp_withdraws_what_a_director_cannot_serve() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (lab, dir, conf) = setup("ecmpw");
    let mut d: Vec<Child> = DIRECTORS
        .iter()
        .map(|n| start(&lab, &dir, &conf, n))
        .collect();
    wait_nexthops(&lab, &[1, 2, 3], Duration::from_secs(30));
    assert_eq!(why(&lab, "dir1"), "announced: 3 real servers up");

    // vipd stopped: withdrawn first thing.
    signal(&d[2], Signal::SIGTERM);
    let t = wait_nexthops(&lab, &[1, 2], Duration::from_secs(5));
    println!("dir3 SIGTERM: withdrawn after {t:?}");
    assert!(t < Duration::from_secs(1), "{t:?}");
    let _ = d[2].wait();

    // Its data plane detached behind its back: withdrawn within a second.
    detach_data_plane(&lab, "dir2");
    let t = wait_nexthops(&lab, &[1], Duration::from_secs(5));
    println!("dir2 data plane detached: withdrawn after {t:?}");
    assert!(t < Duration::from_secs(1), "{t:?}");
    assert_eq!(
        why(&lab, "dir2"),
        "withdrawn: the data plane is not attached"
    );
    kill(&mut d[1], Signal::SIGTERM);

    // Every real server down (port 80 dropped on each): withdrawn, so the
    // router holds no route to a VIP nobody can serve; back: announced.
    for i in 1..=3 {
        let rs = format!("rs{i}");
        for cmd in [
            "nft add table inet vipdtest",
            "nft add chain inet vipdtest in { type filter hook input priority 0 ; }",
            "nft add rule inet vipdtest in tcp dport 80 drop",
        ] {
            lab.exec_ok(&rs, cmd.split(' ')).unwrap();
        }
    }
    wait_nexthops(&lab, &[], Duration::from_secs(20));
    assert_eq!(
        why(&lab, "dir1"),
        "withdrawn: no real server up and no sorry server"
    );
    for i in 1..=3 {
        lab.exec_ok(
            &format!("rs{i}"),
            ["nft", "delete", "table", "inet", "vipdtest"],
        )
        .unwrap();
    }
    let t = wait_nexthops(&lab, &[1], Duration::from_secs(20));
    println!("real servers back: announced after {t:?}");
    let answer = curl(&lab, &["http://10.253.85.250/"]);
    assert!(answer.starts_with("rs"), "{answer}");

    kill(&mut d[0], Signal::SIGTERM);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `vipd lab demo --ecmp` tells the story end to end and says what it kept.
#[test]
fn the_ecmp_demo_tells_its_story() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let name = LabOptions::unique("ecd").name;
    let out = std::process::Command::new(vipd_self())
        .args(["lab", "demo", "--ecmp", "--name", &name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("connections kept 300/300, after its return 300/300"),
        "{text}"
    );
    assert!(text.contains("nexthop via 10.253.85.13"), "{text}");
}

/// A device of the announce name that vipd did not create (here a persistent
/// TUN, which would outlive vipd and keep its VIPs announced) makes vipd
/// refuse to start, saying what to do; nothing is left behind.
#[test]
fn an_existing_device_of_the_announce_name_is_refused() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        ..LabOptions::unique("ecmpx")
    })
    .expect("lab up");
    let dir = std::env::temp_dir().join(format!("vipd-ecmpx-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("ecmp.conf");
    std::fs::write(&conf, CONF).unwrap();
    lab.exec_ok(
        "dir1",
        ["ip", "tuntap", "add", "dev", "vipd0", "mode", "tun"],
    )
    .unwrap();
    let log = dir.join("dir1.log");
    let mut d = daemon(&lab, "dir1", &conf, &log, &[]);
    let code = wait_for("vipd to refuse", Duration::from_secs(30), || {
        d.try_wait().unwrap()
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!code.success(), "{text}");
    assert!(
        text.contains("a device named vipd0 already exists"),
        "{text}"
    );
    // Its data plane went with it.
    let link = lab
        .exec_ok("dir1", ["ip", "-d", "link", "show", "eth1"])
        .unwrap();
    assert!(!link.contains("prog/xdp"), "{link}");
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
