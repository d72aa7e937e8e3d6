//! The seed's story in the lab, with the seed's two keepalived.conf files
//! verbatim on dir1 (MASTER) and dir2 (BACKUP): `vipd -f FILE` runs VRRP, the
//! TCP_CHECKs and the XDP data plane; real servers run `vipd realserver up` and
//! `vipd lab httpd`. One test walks the whole story so the directors start once
//! (loading the data plane takes seconds on a busy machine):
//!
//! 1. `alpha`: rs3's server is down at start; it never gets a request.
//! 2. `ha_suspend`: the BACKUP sends no checks (an nft counter on each real
//!    server counts SYNs from each director).
//! 3. 30 requests get rs1/rs2/rs3 10/10/10; `vipd status --json` agrees.
//! 4. rs2's server dies under load: it leaves the table within connect_timeout +
//!    retry x delay_before_retry + delay_loop, after which no request fails; it
//!    comes back after it is restarted. Times are printed.
//! 5. HUP adding rs4 under load: no failed request, rs4 gets traffic after its
//!    first check; HUP with a broken file: refused, still serving, one log line.
//! 6. `kill -9` of dir1 under load: dir2 serves the VIP within the VRRP bound
//!    (3 x advert_int + skew).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab_support::{in_table, status, wait_for};
use vipd::daemon::status::Status;
use vipd::lab::{client, LabGuard, LabOptions};

mod lab_support;

const SEED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");
const VIP: &str = "10.253.85.250:80";

fn vipd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

fn get(lab: &LabGuard) -> Result<String, String> {
    client::http_get(
        &lab.netns("client"),
        VIP.parse().unwrap(),
        "/",
        Duration::from_millis(1500),
    )
    .map(|r| r.first_line().to_owned())
    .map_err(|e| e.to_string())
}

/// When a request ended, and which real server answered (or why it failed).
type Outcomes = Vec<(Instant, Result<String, String>)>;

/// Requests in a loop from the client, each result with its time.
struct Load {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Outcomes>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(lab: &LabGuard, timeout: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let ns = lab.netns("client");
        let (s, l) = (stop.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let r = client::http_get(&ns, VIP.parse().unwrap(), "/", timeout)
                    .map(|r| r.first_line().to_owned())
                    .map_err(|e| e.to_string());
                l.lock().unwrap().push((Instant::now(), r));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Load {
            stop,
            log,
            thread: Some(thread),
        }
    }
    fn finish(mut self) -> Outcomes {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

fn failures_after(log: &[(Instant, Result<String, String>)], t: Instant) -> Vec<String> {
    log.iter()
        .filter(|(at, r)| *at > t && r.is_err())
        .map(|(_, r)| r.clone().unwrap_err())
        .collect()
}

fn httpd(lab: &LabGuard, rs: &str) -> Child {
    lab.spawn(
        rs,
        [
            vipd().to_str().unwrap(),
            "lab",
            "httpd",
            "--node",
            rs,
            "--listen",
            "0.0.0.0:80",
        ],
    )
    .unwrap()
}

fn kill(child: &mut Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
    let _ = child.wait();
}

/// SYNs to port 80 from each director, counted by nftables in `rs`.
fn syn_counts(lab: &LabGuard, rs: &str) -> BTreeMap<String, u64> {
    let out = lab
        .exec_ok(rs, ["nft", "-j", "list", "table", "inet", "vipdtest"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut m = BTreeMap::new();
    for item in v["nftables"].as_array().unwrap() {
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let comment = rule["comment"].as_str().unwrap_or("").to_owned();
        for e in rule["expr"].as_array().unwrap() {
            if let Some(c) = e.get("counter") {
                m.insert(comment.clone(), c["packets"].as_u64().unwrap());
            }
        }
    }
    m
}

fn count_syns(lab: &LabGuard, rs: &str) {
    let script = "table inet vipdtest {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip saddr 10.253.85.11 tcp dport 80 tcp flags syn counter comment \"dir1\"\n  ip saddr 10.253.85.12 tcp dport 80 tcp flags syn counter comment \"dir2\"\n }\n}\n";
    let f = std::env::temp_dir().join(format!("vipdtest-{}-{rs}.nft", lab.name()));
    std::fs::write(&f, script).unwrap();
    lab.exec_ok(rs, ["nft", "-f", f.to_str().unwrap()]).unwrap();
    let _ = std::fs::remove_file(f);
}

fn daemon(lab: &LabGuard, node: &str, conf: &Path, log: &Path) -> Child {
    let mut cmd = lab.command(node, vipd()).unwrap();
    cmd.arg("-f")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    lab.spawn_command(node, &mut cmd).unwrap()
}

/// `vipd status -Ln --stats` and `-Lnc` right after the 30 requests: the
/// three real servers in ipvsadm's layout, and the 30 connections in the
/// connection table (closing, not expired yet), each row in `print_conn`'s
/// columns.
fn ipvsadm_views(lab: &LabGuard) {
    let run = |args: &[&str]| {
        let out = lab
            .command("dir1", lab_support::vipd_self())
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let stats = run(&["status", "-Ln", "--stats"]);
    println!("vipd status -Ln --stats:\n{stats}");
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(
        lines[1],
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
    );
    assert!(
        lines[3].starts_with("TCP  10.253.85.250:80             "),
        "{stats}"
    );
    for (line, rs) in lines[4..]
        .iter()
        .zip(["10.253.26.1:80", "10.253.26.2:80", "10.253.26.3:80"])
    {
        assert!(line.starts_with(&format!("  -> {rs:<28}")), "{stats}");
        // Conns at least 10, OutPkts and OutBytes 0 in TUN.
        let cols: Vec<&str> = line[33..].split_whitespace().collect();
        assert!(cols[0].parse::<u64>().unwrap() >= 10, "{stats}");
        assert_eq!((cols[2], cols[4]), ("0", "0"), "{stats}");
    }
    let lnc = run(&["status", "-Lnc"]);
    println!("vipd status -Lnc:\n{lnc}");
    let mut lines = lnc.lines();
    assert_eq!(lines.next(), Some("IPVS connection entries"));
    assert_eq!(
        lines.next(),
        Some("pro expire state       source             virtual            destination")
    );
    let rows: Vec<&str> = lines.filter(|l| l.contains(" 10.253.85.250:80 ")).collect();
    assert!(rows.len() >= 30, "the 30 connections are listed:\n{lnc}");
    for row in rows {
        // "%-3s %-6s %-11s %-18s %-18s %s"
        assert!(row.starts_with("TCP ") && &row[6..7] == ":", "{row}");
        assert!(row[23..].starts_with("203.0.113."), "the client: {row}");
        assert_eq!(&row[42..61], "10.253.85.250:80   ", "{row}");
        assert!(row[61..].starts_with("10.253.26."), "a real server: {row}");
    }
}

#[test]
fn the_seed_story_with_the_seed_configs() {
    let lab = LabGuard::up(LabOptions {
        reals: 4,
        httpd: false,
        ..LabOptions::unique("dstory")
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-story-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    // dir1 runs a copy so that the HUP steps can edit it; the text is the seed's.
    let master = dir.join("keepalived-master.conf");
    let seed_master =
        std::fs::read_to_string(format!("{SEED_DIR}/keepalived-master.conf")).unwrap();
    std::fs::write(&master, &seed_master).unwrap();
    let backup = PathBuf::from(format!("{SEED_DIR}/keepalived-backup.conf"));

    for rs in ["rs1", "rs2", "rs3", "rs4"] {
        lab.exec_ok(
            rs,
            [
                vipd().to_str().unwrap(),
                "realserver",
                "up",
                "--vip",
                "10.253.85.250",
            ],
        )
        .unwrap();
        count_syns(&lab, rs);
    }
    let mut servers: BTreeMap<&str, Child> = ["rs1", "rs2", "rs4"]
        .into_iter()
        .map(|rs| (rs, httpd(&lab, rs)))
        .collect();

    // The backup first, as the seed says; then the master preempts.
    let log1 = dir.join("dir1.log");
    let log2 = dir.join("dir2.log");
    let mut d2 = daemon(&lab, "dir2", &backup, &log2);
    let mut d1 = daemon(&lab, "dir1", &master, &log1);
    let t_start = Instant::now();
    wait_for(
        "dir1 MASTER with rs1 and rs2 in its table",
        Duration::from_secs(40),
        || {
            let st = status(&lab, "dir1")?;
            (st.vrrp.first()?.state == "MASTER"
                && in_table(&st, "10.253.26.1:80")
                && in_table(&st, "10.253.26.2:80"))
            .then_some(())
        },
    );
    println!(
        "dir1 MASTER and serving {:?} after start",
        t_start.elapsed()
    );
    let st2 = status(&lab, "dir2").unwrap();
    assert_eq!(st2.vrrp[0].state, "BACKUP");
    assert!(st2.services[0].checks_suspended, "ha_suspend on the BACKUP");
    // dir2 was MASTER for a moment before dir1 (started after it) took over:
    // count checks from now on.
    let syn_base: BTreeMap<&str, BTreeMap<String, u64>> = ["rs1", "rs2", "rs3"]
        .into_iter()
        .map(|rs| (rs, syn_counts(&lab, rs)))
        .collect();

    // 1. alpha: rs3 never passed a check, so it gets nothing.
    let mut seen = BTreeMap::new();
    for _ in 0..20 {
        *seen
            .entry(get(&lab).expect("every request succeeds"))
            .or_insert(0) += 1;
    }
    assert_eq!(
        seen.get("rs3"),
        None,
        "alpha: rs3 gets no request: {seen:?}"
    );
    let st = status(&lab, "dir1").unwrap();
    let rs3 = st.services[0]
        .real("10.253.26.3:80".parse().unwrap())
        .unwrap();
    assert!(!rs3.in_table && rs3.alive == Some(false));
    assert!(
        rs3.last_failure.is_some(),
        "the failure reason is shown: {rs3:?}"
    );
    println!(
        "alpha: rs3 down ({:?}), requests {seen:?}",
        rs3.last_failure
    );
    servers.insert("rs3", httpd(&lab, "rs3"));
    wait_for("rs3 in the table", Duration::from_secs(10), || {
        in_table(&status(&lab, "dir1")?, "10.253.26.3:80").then_some(())
    });

    // 3. 30 requests: 10/10/10, and status agrees.
    let before = status(&lab, "dir1").unwrap();
    let mut seen = BTreeMap::new();
    for _ in 0..30 {
        *seen
            .entry(get(&lab).expect("every request succeeds"))
            .or_insert(0) += 1;
    }
    println!("30 requests: {seen:?}");
    assert_eq!(
        seen,
        BTreeMap::from([
            ("rs1".to_owned(), 10),
            ("rs2".to_owned(), 10),
            ("rs3".to_owned(), 10)
        ])
    );
    std::thread::sleep(Duration::from_millis(1300)); // one sampling second
    let after = status(&lab, "dir1").unwrap();
    let conns = |st: &Status, rs: &str| {
        st.services[0]
            .real(rs.parse().unwrap())
            .unwrap()
            .traffic
            .conns
    };
    for rs in ["10.253.26.1:80", "10.253.26.2:80", "10.253.26.3:80"] {
        assert_eq!(
            conns(&after, rs) - conns(&before, rs),
            10,
            "status counts 10 for {rs}"
        );
    }
    assert!(after.services[0].traffic.conns - before.services[0].traffic.conns == 30);
    assert!(after.services[0].traffic.packets > before.services[0].traffic.packets);
    ipvsadm_views(&lab);

    // 4. rs2 dies under load.
    let load = Load::start(&lab, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(500));
    let t_dead = Instant::now();
    kill(
        servers.get_mut("rs2").unwrap(),
        nix::sys::signal::Signal::SIGKILL,
    );
    let t_out = wait_for("rs2 out of the table", Duration::from_secs(25), || {
        (!in_table(&status(&lab, "dir1")?, "10.253.26.2:80")).then(Instant::now)
    });
    // connect_timeout 3 + nb_get_retry 3 x delay_before_retry 3 + delay_loop 6.
    let bound = Duration::from_secs(3 + 3 * 3 + 6);
    let took = t_out - t_dead;
    println!("rs2 died: out of the table after {took:?} (bound {bound:?})");
    assert!(
        took <= bound + Duration::from_millis(500),
        "{took:?} > {bound:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    servers.insert("rs2", httpd(&lab, "rs2"));
    let t_back_start = Instant::now();
    wait_for("rs2 back in the table", Duration::from_secs(10), || {
        in_table(&status(&lab, "dir1")?, "10.253.26.2:80").then_some(())
    });
    println!(
        "rs2 restarted: back in the table after {:?}",
        t_back_start.elapsed()
    );
    std::thread::sleep(Duration::from_millis(800));
    let log = load.finish();
    let failed = failures_after(&log, t_out);
    assert!(
        failed.is_empty(),
        "no request fails once rs2 is out: {failed:?}"
    );
    let after_back: Vec<&String> = log
        .iter()
        .filter(|(at, _)| *at > t_back_start)
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    assert!(after_back.iter().any(|n| *n == "rs2"), "rs2 serves again");
    let st = status(&lab, "dir1").unwrap();
    let rs2 = st.services[0]
        .real("10.253.26.2:80".parse().unwrap())
        .unwrap();
    assert!(rs2.alive == Some(true));

    // 2. ha_suspend: since dir1 took over, the real servers saw checks from
    // dir1 only (about 20 s have passed: several delay_loops).
    for rs in ["rs1", "rs2", "rs3"] {
        let c = syn_counts(&lab, rs);
        let base = &syn_base[rs];
        let d1 = c["dir1"] - base.get("dir1").copied().unwrap_or(0);
        let d2 = c["dir2"] - base.get("dir2").copied().unwrap_or(0);
        println!("{rs}: SYNs to :80 since dir1 took over: dir1 {d1}, dir2 {d2}");
        assert!(d1 > 0, "dir1 (MASTER) checks {rs}");
        assert_eq!(d2, 0, "dir2 (BACKUP, ha_suspend) never checks {rs}");
    }

    // 5. HUP adding rs4 under load.
    let load = Load::start(&lab, Duration::from_secs(1));
    std::thread::sleep(Duration::from_millis(300));
    let with_rs4 = seed_master.replacen(
        "10.253.26.3 80{",
        "10.253.26.4 80 {\n weight 1\n TCP_CHECK {\n connect_port 80\n connect_timeout 3\n }\n }\n real_server 10.253.26.3 80{",
        1,
    );
    std::fs::write(&master, &with_rs4).unwrap();
    let t_hup = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d1.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    wait_for("rs4 in the table", Duration::from_secs(10), || {
        in_table(&status(&lab, "dir1")?, "10.253.26.4:80").then_some(())
    });
    println!("HUP: rs4 in the table after {:?}", t_hup.elapsed());
    std::thread::sleep(Duration::from_secs(1));
    // HUP with a broken file: refused, the old configuration keeps serving.
    std::fs::write(&master, with_rs4.replace("lb_algo rr", "lb_algo rrr")).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d1.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let st = wait_for("the refusal", Duration::from_secs(5), || {
        status(&lab, "dir1").filter(|s| s.reloads.refused == 1)
    });
    assert_eq!(st.reloads.applied, 1);
    assert_eq!(st.services[0].active_reals().count(), 4);
    std::thread::sleep(Duration::from_millis(500));
    let log = load.finish();
    let failed = failures_after(&log, t_hup - Duration::from_millis(300));
    assert!(
        failed.is_empty(),
        "no request fails across both HUPs: {failed:?}"
    );
    assert!(
        log.iter().any(|(_, r)| r.as_deref() == Ok("rs4")),
        "rs4 gets traffic after its first check"
    );
    let text = std::fs::read_to_string(&log1).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("reload refused"))
        .expect("a log line");
    assert!(line.contains("rrr"), "{line}");
    println!("broken HUP: {line}");

    // 6. kill -9 dir1 under load: dir2 takes over within the VRRP bound.
    // Short request timeouts: the measured outage is at most one timeout late.
    let load = Load::start(&lab, Duration::from_millis(300));
    std::thread::sleep(Duration::from_millis(500));
    let t_kill = Instant::now();
    kill(&mut d1, nix::sys::signal::Signal::SIGKILL);
    // What a killed daemon leaves behind (the next start replaces it too).
    for ext in ["sock", "pid"] {
        let _ = std::fs::remove_file(format!("/run/vipd/vipd-{}.{ext}", lab.netns("dir1")));
    }
    let t_served = wait_for("dir2 MASTER", Duration::from_secs(10), || {
        status(&lab, "dir2")
            .filter(|s| s.vrrp[0].state == "MASTER")
            .map(|_| Instant::now())
    });
    std::thread::sleep(Duration::from_secs(2));
    let log = load.finish();
    // First success after the kill whose every successor succeeded too.
    let mut first_ok = None;
    for (at, r) in log.iter().filter(|(at, _)| *at > t_kill) {
        match r {
            Ok(_) if first_ok.is_none() => first_ok = Some(*at),
            Ok(_) => {}
            Err(_) => first_ok = None,
        }
    }
    let first_ok = first_ok.expect("dir2 serves the VIP");
    // VRRP's bound, 3 x advert_int + skew (256 - 99) / 256 s, plus 1 s for the
    // router's ARP update, dir2's first checks and the client's 300 ms timeout.
    let bound = Duration::from_millis(3000 + 613 + 1000);
    println!(
        "kill -9 dir1: dir2 MASTER after {:?}, serving after {:?} (bound {bound:?})",
        t_served - t_kill,
        first_ok - t_kill
    );
    assert!(first_ok - t_kill <= bound);
    let st2 = status(&lab, "dir2").unwrap();
    assert!(!st2.services[0].checks_suspended);
    assert!(
        st2.services[0].traffic.conns > 0,
        "dir2 forwarded: {:?}",
        st2.services[0].traffic
    );

    kill(&mut d2, nix::sys::signal::Signal::SIGTERM);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
