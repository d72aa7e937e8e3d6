//! The daemon's shell in the lab (root): refusal to start on config errors and
//! missing interfaces, the control socket and `vipd status --json`, SIGHUP reload
//! (applied, and refused with the old configuration kept), USR1/USR2 dumps, and
//! SIGTERM exiting 0 within a second.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vipd::daemon::status::Status;
use vipd::lab::{LabGuard, LabOptions};

const SEED_MASTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/seed/keepalived-master.conf"
);

fn vipd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vipd-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn small_lab(prefix: &str) -> LabGuard {
    LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        httpd: false,
        ..LabOptions::unique(prefix)
    })
    .expect("lab up (needs root, iproute2)")
}

/// Runs `vipd ARGS` in `node` and waits.
fn vipd_in(lab: &LabGuard, node: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = lab.command(node, vipd()).unwrap();
    cmd.args(args);
    cmd.output().unwrap()
}

fn vipd_in_cmd(lab: &LabGuard, node: &str, prog: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = lab.command(node, prog).unwrap();
    cmd.args(args);
    cmd.output().unwrap()
}

fn status(lab: &LabGuard, node: &str) -> Status {
    let out = vipd_in(lab, node, &["status", "--json"]);
    assert!(
        out.status.success(),
        "vipd status --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json parses as Status")
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon started in the lab with stderr captured to a file.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(lab: &LabGuard, node: &str, conf: &Path, extra: &[&str], log: PathBuf) -> Daemon {
        let mut cmd = lab.command(node, vipd()).unwrap();
        cmd.arg("-f")
            .arg(conf)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = lab.spawn_command(node, &mut cmd).unwrap();
        Daemon { child, log }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }
}

#[test]
fn refuses_to_start_with_the_checks_diagnostics() {
    let lab = small_lab("dref");
    let dir = scratch("refuse");

    // A missing interface: the seed's config with eth1 renamed.
    let conf = dir.join("noif.conf");
    std::fs::write(
        &conf,
        std::fs::read_to_string(SEED_MASTER)
            .unwrap()
            .replace("eth1", "eth9"),
    )
    .unwrap();
    let out = vipd_in(&lab, "dir1", &["-f", conf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("interface `eth9` does not exist"),
        "the check's diagnostic with its location: {err}"
    );
    assert!(err.contains("refusing to start"), "{err}");
    assert!(
        err.contains("interface eth9 does not exist in this network namespace"),
        "{err}"
    );

    // A config error.
    let bad = dir.join("bad.conf");
    std::fs::write(
        &bad,
        "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 999\n}\n",
    )
    .unwrap();
    let out = vipd_in(&lab, "dir1", &["-f", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("error"), "{err}");
    assert!(
        err.contains("bad.conf:3:"),
        "diagnostic with file:line: {err}"
    );

    // An unreadable file.
    let out = vipd_in(&lab, "dir1", &["-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(out.status.code(), Some(4));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn status_reload_dumps_and_term() {
    let lab = small_lab("dsig");
    let dir = scratch("sig");
    let conf = dir.join("keepalived.conf");
    let seed = std::fs::read_to_string(SEED_MASTER).unwrap();
    std::fs::write(&conf, &seed).unwrap();
    let d = Daemon::start(
        &lab,
        "dir1",
        &conf,
        &[
            "--dump-dir",
            dir.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:9588",
        ],
        dir.join("vipd.log"),
    );
    wait_for("the control socket", Duration::from_secs(5), || {
        vipd_in(&lab, "dir1", &["status", "--json"])
            .status
            .success()
    });
    let st = status(&lab, "dir1");
    assert_eq!(st.pid, d.child.id());
    assert_eq!(st.vrrp.len(), 1);
    assert_eq!(st.vrrp[0].name, "VI_1");
    assert_eq!(st.vrrp[0].vrid, 51);
    assert_eq!(st.vrrp[0].vips, vec!["10.253.85.250/32"]);
    let svc = st
        .service("10.253.85.250:80/TCP")
        .expect("the seed's service");
    assert_eq!(svc.lb_algo, "rr");
    assert_eq!(svc.lb_kind, "TUN");
    assert_eq!(
        svc.persistence_timeout, None,
        "persistence_timeout 0 is off"
    );
    let reals: Vec<String> = svc.reals.iter().map(|r| r.addr.to_string()).collect();
    assert_eq!(
        reals,
        ["10.253.26.1:80", "10.253.26.2:80", "10.253.26.3:80"]
    );
    assert!(svc
        .reals
        .iter()
        .all(|r| r.checkers.len() == 1 && r.checkers[0].kind == "TCP_CHECK"));

    // Prometheus: the same figures, once dir1 (alone) is MASTER.
    wait_for("dir1 MASTER", Duration::from_secs(10), || {
        status(&lab, "dir1").vrrp[0].state == "MASTER"
    });
    let out = vipd_in_cmd(
        &lab,
        "dir1",
        "curl",
        &["-s", "http://127.0.0.1:9588/metrics"],
    );
    let metrics = String::from_utf8_lossy(&out.stdout);
    for line in [
        "vipd_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1",
        "vipd_vrrp_priority{instance=\"VI_1\"} 100",
        "# TYPE vipd_real_server_connections_total counter",
        "vipd_real_server_up{service=\"10.253.85.250:80/TCP\",real_server=\"10.253.26.1:80\"}",
        "vipd_reloads_total{result=\"refused\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }

    // The text form names what ipvsadm names.
    let text = vipd_in(&lab, "dir1", &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TCP  10.253.85.250:80 rr"), "{text}");
    assert!(text.contains("-> 10.253.26.2:80"), "{text}");

    // ipvsadm's layouts, as scripts parse them (the columns are unit-tested
    // in ctl::ipvsadm; here the command line and the daemon's answers).
    let ipvsadm = |args: &[&str]| {
        let out = vipd_in(&lab, "dir1", args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ln = ipvsadm(&["status", "-Ln"]);
    let lines: Vec<&str> = ln.lines().collect();
    assert!(
        lines[0].starts_with("IP Virtual Server version 1.2.1 (size=") && lines[0].ends_with(')'),
        "{ln}"
    );
    assert_eq!(lines[1], "Prot LocalAddress:Port Scheduler Flags", "{ln}");
    assert_eq!(
        lines[2], "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "{ln}"
    );
    assert_eq!(lines[3], "TCP  10.253.85.250:80 rr", "{ln}");
    for l in &lines[4..] {
        // Only the real servers in the table (those the checks have not taken out).
        assert!(
            l.starts_with("  -> 10.253.26.") && &l[33..41] == " Tunnel ",
            "{ln}"
        );
    }
    let stats = ipvsadm(&["status", "-Ln", "--stats"]);
    assert!(
        stats.contains(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  \
             -> RemoteAddress:Port\nTCP  10.253.85.250:80                    0        0        0        0        0\n"
        ),
        "{stats}"
    );
    let rate = ipvsadm(&["status", "-Ln", "--rate"]);
    assert!(
        rate.contains(
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n"
        ),
        "{rate}"
    );
    assert_eq!(
        ipvsadm(&["status", "-Lnc"]),
        "IPVS connection entries\npro expire state       source             virtual            destination\n"
    );
    let out = vipd_in(&lab, "dir1", &["status", "-Lnc", "--stats"]);
    assert!(!out.status.success(), "ipvsadm refuses -c with --stats too");

    // HUP with a fourth real server: applied, and only that is reported.
    let rs4 = seed.replacen(
        "10.253.26.3 80{",
        "10.253.26.4 80 {\n weight 1\n TCP_CHECK {\n connect_port 80\n connect_timeout 3\n }\n }\n real_server 10.253.26.3 80{",
        1,
    );
    assert_ne!(rs4, seed);
    std::fs::write(&conf, &rs4).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for("the reload", Duration::from_secs(5), || {
        status(&lab, "dir1").reloads.applied == 1
    });
    let st = status(&lab, "dir1");
    let last = st.reloads.last.clone().unwrap();
    assert!(last.ok);
    assert_eq!(
        last.message,
        "reload applied: 10.253.85.250:80/TCP: real servers added: 10.253.26.4:80"
    );
    assert_eq!(st.service("10.253.85.250:80/TCP").unwrap().reals.len(), 4);

    // HUP with a broken file: refused, the previous configuration stays.
    std::fs::write(&conf, rs4.replace("lb_algo rr", "lb_algo nosuch")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    wait_for("the refusal", Duration::from_secs(5), || {
        status(&lab, "dir1").reloads.refused == 1
    });
    let st = status(&lab, "dir1");
    assert!(!st.reloads.last.as_ref().unwrap().ok);
    let svc = st.service("10.253.85.250:80/TCP").unwrap();
    assert_eq!(svc.lb_algo, "rr");
    assert_eq!(svc.reals.len(), 4);
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap_or_else(|| panic!("one log line says the reload was refused: {log}"));
    assert!(
        line.contains("still running the previous configuration"),
        "{line}"
    );
    assert!(
        line.contains("nosuch"),
        "the line names the problem: {line}"
    );

    // USR1 / USR2 dumps.
    let stem = format!("vipd-{}", lab.netns("dir1"));
    d.signal(nix::sys::signal::Signal::SIGUSR1);
    d.signal(nix::sys::signal::Signal::SIGUSR2);
    let data = dir.join(format!("{stem}.data"));
    let stats = dir.join(format!("{stem}.stats"));
    wait_for("the dumps", Duration::from_secs(5), || {
        data.exists() && stats.exists()
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(std::fs::read_to_string(&data).unwrap().contains("\"VI_1\""));
    assert!(std::fs::read_to_string(&stats)
        .unwrap()
        .contains("10.253.26.4:80"));

    // TERM: exit 0 within a second, socket and pid file gone.
    let sock = PathBuf::from(format!("/run/vipd/{stem}.sock"));
    assert!(sock.exists());
    let mut child = d.child;
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "exit within a second of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    println!("SIGTERM -> exit in {:?}", t0.elapsed());
    assert_eq!(code.code(), Some(0));
    assert!(!sock.exists());
    assert!(!PathBuf::from(format!("/run/vipd/{stem}.pid")).exists());
    let mut log = String::new();
    std::fs::File::open(&d.log)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("SIGTERM: stopping") && log.contains("vipd stopped"),
        "{log}"
    );
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_only_and_vrrp_only_modes() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        ..LabOptions::unique("dmode")
    })
    .expect("lab up");
    let dir = scratch("modes");
    let conf = PathBuf::from(SEED_MASTER);

    // -C: checkers and data plane, no VRRP; ha_suspend never pauses without VRRP.
    let d = Daemon::start(&lab, "dir1", &conf, &["-C"], dir.join("c.log"));
    let st = {
        let t0 = Instant::now();
        loop {
            let out = vipd_in(&lab, "dir1", &["status", "--json"]);
            if out.status.success() {
                let st: Status = serde_json::from_slice(&out.stdout).unwrap();
                let rs1 = st.services[0]
                    .real("10.253.26.1:80".parse().unwrap())
                    .unwrap();
                if rs1.in_table {
                    break st;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "rs1 in the table under -C: {}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(
        !st.parts.vrrp && st.parts.checkers && st.parts.datapath,
        "{:?}",
        st.parts
    );
    assert!(st.vrrp.is_empty());
    assert!(!st.services[0].checks_suspended);
    // rs2 and rs3 do not exist in this lab: down, with the reason.
    let rs2 = st.services[0]
        .real("10.253.26.2:80".parse().unwrap())
        .unwrap();
    assert!(!rs2.in_table);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    let mut child = d.child;
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // -P: VRRP only, no services.
    let d = Daemon::start(&lab, "dir1", &conf, &["-P"], dir.join("p.log"));
    wait_for("-P MASTER", Duration::from_secs(15), || {
        let out = vipd_in(&lab, "dir1", &["status", "--json"]);
        out.status.success()
            && serde_json::from_slice::<Status>(&out.stdout)
                .is_ok_and(|s| s.vrrp.first().is_some_and(|v| v.state == "MASTER"))
    });
    let st = status(&lab, "dir1");
    assert!(st.parts.vrrp && !st.parts.checkers && !st.parts.datapath);
    assert!(st.services.is_empty());
    d.signal(nix::sys::signal::Signal::SIGTERM);
    let mut child = d.child;
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
