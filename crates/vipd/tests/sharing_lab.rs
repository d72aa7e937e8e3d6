//! No connection lost when the director changes (docs/OPERATIONS.md,
//! "Connection sharing"). The seed's two files on dir1 (MASTER) and dir2
//! (BACKUP), sharing on by default and authenticated with a key: 30 keep-alive
//! connections through the VIP, then a chain of events, and after each one more
//! request on every connection, in another order than they were opened:
//!
//! 1. `kill -9` of dir1's vipd: dir2 takes over;
//! 2. dir1 starts again and preempts (failback): it asks dir2 for the table
//!    first;
//! 3. `TERM` of dir1: dir2 takes over at once (priority 0);
//! 4. dir1 starts again (failback);
//! 5. `HUP` of dir1 with a fourth real server added.
//!
//! Every connection must be answered by its real server after every event.
//! The scheduler comes from `VIPD_SHARE_SCHEDS` (default `rr,mh`; the
//! benchmark runs `rr,wrr,lc,mh,rr+persistence`), and `VIPD_UNDER_TEST` runs
//! the directors from another build (the baseline: no sharing flags, nothing
//! asserted, only reported).

mod lab_support;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

fn scheds() -> Vec<String> {
    std::env::var("VIPD_SHARE_SCHEDS")
        .unwrap_or_else(|_| "rr,mh".into())
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// A baseline run (`VIPD_UNDER_TEST`): another build, perhaps without
/// sharing: no sharing flags, nothing asserted, only reported.
fn baseline() -> bool {
    std::env::var_os("VIPD_UNDER_TEST").is_some()
}

fn strict() -> bool {
    !baseline()
}

/// The seed's file for `node` with the scheduler `sched` (`X+persistence`:
/// persistence_timeout 300).
fn conf(dir: &Path, name: &str, sched: &str) -> PathBuf {
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

struct Directors<'a> {
    lab: &'a LabGuard,
    dir: PathBuf,
    key: PathBuf,
    master: PathBuf,
    backup: PathBuf,
    d1: Option<Child>,
    d2: Option<Child>,
    starts: u32,
}

impl Directors<'_> {
    fn start(&mut self, node: &str) {
        self.starts += 1;
        let log = self.dir.join(format!("{node}-{}.log", self.starts));
        let conf = if node == "dir1" {
            &self.master
        } else {
            &self.backup
        };
        let key = self.key.to_str().unwrap().to_owned();
        let args: &[&str] = if baseline() {
            &[]
        } else {
            &["--sync-key", &key]
        };
        let child = daemon(self.lab, node, conf, &log, args);
        if node == "dir1" {
            self.d1 = Some(child);
        } else {
            self.d2 = Some(child);
        }
    }
}

fn check(
    name: &str,
    sched: &str,
    conns: &mut [(vipd::lab::client::KeepAlive, String)],
    seed: u64,
    results: &mut Vec<String>,
) {
    let s = request_again(conns, seed);
    let line = format!("{sched}: {name}: {} / {} kept", s.kept(), conns.len());
    println!("{line}; lost: {:?}", s.lost);
    results.push(line);
    if strict() {
        assert_eq!(s.kept(), conns.len(), "{sched}: {name}: lost {:?}", s.lost);
    }
}

fn chain(lab: &LabGuard, dir: &Path, key: &Path, sched: &str, results: &mut Vec<String>) {
    let mut d = Directors {
        lab,
        dir: dir.to_owned(),
        key: key.to_owned(),
        master: conf(dir, "keepalived-master.conf", sched),
        backup: conf(dir, "keepalived-backup.conf", sched),
        d1: None,
        d2: None,
        starts: 0,
    };
    // The backup first, as the seed says; then the master preempts.
    d.start("dir2");
    wait_for("dir2 up", Duration::from_secs(60), || status(lab, "dir2"));
    d.start("dir1");
    wait_master(lab, "dir1", Duration::from_secs(60));
    let mut conns = open_conns(lab, 30);
    println!("{sched}: 30 connections {:?}", spread(&conns));
    // Sharing is on, both ways, and dir2 holds dir1's connections.
    wait_for(
        "dir2 to hold the 30 connections",
        Duration::from_secs(5),
        || {
            let sh = status(lab, "dir2")?.sharing?;
            (sh.on && sh.authenticated && sh.installed + sh.parked_total >= 30).then_some(())
        },
    );

    kill(d.d1.as_mut().unwrap(), Signal::SIGKILL);
    wait_master(lab, "dir2", Duration::from_secs(15));
    check("kill -9 of the master", sched, &mut conns, 1, results);

    d.start("dir1");
    wait_master(lab, "dir1", Duration::from_secs(60));
    let st = status(lab, "dir1").unwrap();
    println!(
        "{sched}: dir1 back: start-up dump: {:?}",
        st.sharing.as_ref().and_then(|s| s.start_dump.clone())
    );
    check(
        "the master back, preempting (failback)",
        sched,
        &mut conns,
        2,
        results,
    );

    kill(d.d1.as_mut().unwrap(), Signal::SIGTERM);
    wait_master(lab, "dir2", Duration::from_secs(15));
    check("TERM of the master", sched, &mut conns, 3, results);

    d.start("dir1");
    wait_master(lab, "dir1", Duration::from_secs(60));
    check("the master back again", sched, &mut conns, 4, results);

    // HUP adding rs4 (its server runs; the lab has four real servers).
    let text = std::fs::read_to_string(&d.master).unwrap();
    let rs3 = text
        .find("real_server\u{a0} 10.253.26.3 80")
        .expect("seed rs3");
    let rs4 = "real_server 10.253.26.4 80 {\n weight 1\n TCP_CHECK {\n  connect_port 80\n  connect_timeout 3\n }\n}\n";
    let edited = format!("{}{rs4}{}", &text[..rs3], &text[rs3..]);
    std::fs::write(&d.master, edited).unwrap();
    signal(d.d1.as_ref().unwrap(), Signal::SIGHUP);
    wait_for("rs4 in dir1's table", Duration::from_secs(30), || {
        in_table(&status(lab, "dir1")?, "10.253.26.4:80").then_some(())
    });
    check("HUP adding a real server", sched, &mut conns, 5, results);

    if let Some(sh) = status(lab, "dir2")
        .and_then(|st| st.sharing)
        .filter(|s| s.on)
    {
        println!(
        "{sched}: dir2 sharing: sent {} entries / {} datagrams, received {}, installed {}, dropped {}",
        sh.counters.entries_sent,
        sh.counters.datagrams_sent,
        sh.counters.entries_received,
        sh.installed,
        sh.counters.dropped.total()
        );
    }
    for c in [d.d1.as_mut(), d.d2.as_mut()].into_iter().flatten() {
        kill(c, Signal::SIGTERM);
    }
}

#[test]
fn no_connection_is_lost_when_the_director_changes() {
    let lab = LabGuard::up(LabOptions {
        reals: 4,
        ..LabOptions::unique("share")
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-share-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("sync.key");
    std::fs::write(&key, "a lab key of at least sixteen bytes\n").unwrap();
    reals_up(&lab, 4);
    let mut results = Vec::new();
    for sched in scheds() {
        chain(&lab, &dir, &key, &sched, &mut results);
    }
    println!("\n{}", results.join("\n"));
}
