//! A restart of vipd on a single director keeps every connection
//! (docs/OPERATIONS.md, "Restarting vipd"). The seed's master file on dir1
//! alone (no backup, no peer to share with): 30 keep-alive connections
//! through the VIP, then `SIGQUIT`: vipd exits and its XDP program keeps
//! forwarding with its pinned tables while no vipd runs; a new vipd adopts the
//! pinned connections, resumes as MASTER at once (VIP kept, no priority 0), and
//! swaps its program onto the pinned link. Every connection must be answered
//! by its real server, new connections must spread again, and a `TERM`
//! afterwards must leave nothing behind (no program, no pins, no VIP).

mod lab_support;

use std::time::{Duration, Instant};

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

fn xdp_on(lab: &LabGuard, node: &str, iface: &str) -> bool {
    lab.exec_ok(node, ["ip", "-d", "link", "show", "dev", iface])
        .unwrap()
        .contains("prog/xdp")
}

fn has_vip(lab: &LabGuard, node: &str) -> bool {
    lab.exec_ok(node, ["ip", "-4", "addr", "show", "dev", "eth1"])
        .unwrap()
        .contains("10.253.85.250/")
}

/// One restart of dir1's vipd with the scheduler `sched`; returns how many
/// of the 30 connections were kept.
fn restart_once(lab: &LabGuard, dir: &std::path::Path, sched: &str) -> usize {
    let strict = !baseline();
    let conf = seed_conf_sched(dir, "keepalived-master.conf", sched);
    let log = |n: u32| dir.join(format!("{sched}-dir1-{n}.log"));
    let mut d1 = daemon(lab, "dir1", &conf, &log(1), &[]);
    wait_master(lab, "dir1", Duration::from_secs(60));
    let mut conns = open_conns(lab, 30);
    println!("{sched}: 30 connections {:?}", spread(&conns));

    // QUIT: vipd exits 0, its program stays attached and the VIP stays.
    signal(&d1, Signal::SIGQUIT);
    let st = d1.wait().unwrap();
    if strict {
        assert!(st.success(), "vipd exited with {st} on SIGQUIT");
        let log1 = std::fs::read_to_string(log(1)).unwrap();
        assert!(
            log1.contains("left running on eth1") && log1.contains("restart record written"),
            "{log1}"
        );
        assert!(xdp_on(lab, "dir1", "eth1"), "the program left eth1");
        assert!(has_vip(lab, "dir1"), "the VIP left eth1");
        // No vipd runs: the pinned program still forwards every connection.
        let meanwhile = request_again(&mut conns[..10], 7);
        assert_eq!(
            meanwhile.kept(),
            10,
            "while no vipd ran: {:?}",
            meanwhile.lost
        );
    }

    // The next vipd: MASTER again at once, the connections adopted.
    let t0 = Instant::now();
    d1 = daemon(lab, "dir1", &conf, &log(2), &[]);
    if strict {
        let st = wait_for(
            "the restarted vipd to swap its program",
            Duration::from_secs(60),
            || status(lab, "dir1")?.restart,
        );
        println!("{sched}: restart carried over {st:?} in {:?}", t0.elapsed());
        assert!(st.conns >= 30, "{st:?}");
    }
    let st = wait_master(lab, "dir1", Duration::from_secs(30));
    if strict {
        assert!(
            st.parts.datapath_attach[0].contains("adopted"),
            "{:?}",
            st.parts.datapath_attach
        );
        let log2 = std::fs::read_to_string(log(2)).unwrap();
        assert!(log2.contains("resuming as MASTER"), "{log2}");
        assert!(!log2.contains("-> BACKUP"), "{log2}");
    }
    let s = request_again(&mut conns, 11);
    println!(
        "{sched}: restart of the single director: {} / 30 kept; lost {:?}",
        s.kept(),
        s.lost
    );
    if strict {
        assert_eq!(s.kept(), 30, "{sched}: lost {:?}", s.lost);
        // New connections are scheduled by the new program: over every real,
        // or, with persistence, to the client's real by the adopted template.
        let fresh = open_conns(lab, 9);
        let spread = spread(&fresh);
        if sched.contains("persistence") {
            assert_eq!(
                spread.keys().collect::<Vec<_>>(),
                vec![&conns[0].1],
                "new connections of a persistent client: {spread:?}"
            );
        } else {
            assert_eq!(spread.len(), 3, "new connections: {spread:?}");
        }
    }
    drop(conns);

    // TERM removes everything: program, pins, VIP.
    kill(&mut d1, Signal::SIGTERM);
    if strict {
        assert!(
            !xdp_on(lab, "dir1", "eth1"),
            "TERM left the program on eth1"
        );
        assert!(!has_vip(lab, "dir1"), "TERM left the VIP");
        let ino = std::fs::metadata(vipd::lab::netns::path(&lab.netns("dir1")))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        if let Some(root) = vipd::datapath::pin::existing_root() {
            let pins = vipd::datapath::pin::namespace_dir(&root, ino).join("eth1");
            assert!(!pins.join("link").exists(), "{} left", pins.display());
        }
    }
    s.kept()
}

/// The schedulers come from `VIPD_RESTART_SCHEDS` (default `rr`; the
/// benchmark runs `rr,wrr,lc,mh,rr+persistence`); `VIPD_UNDER_TEST` runs
/// another build as the baseline (nothing asserted, only reported).
#[test]
fn a_restart_keeps_every_connection() {
    let lab = LabGuard::up(LabOptions::unique("rstart")).expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-restart-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up(&lab, 3);
    let mut results = Vec::new();
    for sched in scheds_from("VIPD_RESTART_SCHEDS", "rr") {
        let kept = restart_once(&lab, &dir, &sched);
        results.push(format!(
            "{sched}: restart of a single director: {kept} / 30 kept"
        ));
    }
    println!("\n{}", results.join("\n"));
}
