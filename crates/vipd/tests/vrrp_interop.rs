//! VRRP interop in the lab against Debian's keepalived 2.2.7 (a real one, not a
//! mock), both directions, for v2 multicast, v3 multicast and v2 unicast, plus
//! nopreempt, mismatched auth/versions, and the seed's own two configs.
//!
//! Root only (network namespaces). Each test builds its own lab with a unique
//! name; the lab guard removes it, also on panic.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vipd::lab::{LabGuard, LabOptions};

const VIP: &str = "10.253.85.250";
const DIR1_IP: &str = "10.253.85.11";
const DIR2_IP: &str = "10.253.85.12";
/// Slack on top of the protocol's bound: process and polling latency.
const SLACK: Duration = Duration::from_millis(300);

fn require_root_and_keepalived() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the VRRP interop tests need root (network namespaces): run them as root"
    );
    let ok = std::process::Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "keepalived is missing: apt-get install -y keepalived (Debian's 2.2.7 is the reference peer)"
    );
}

fn lab(prefix: &str) -> LabGuard {
    require_root_and_keepalived();
    let mut opts = LabOptions::unique(prefix);
    opts.reals = 1;
    opts.httpd = false;
    opts.xdp_pass = false;
    LabGuard::up(opts).expect("lab up")
}

/// A scratch directory for configs, pid files and logs, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(lab: &LabGuard) -> Self {
        let p = std::env::temp_dir().join(format!("vipd-vrrp-{}", lab.name()));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impl {
    Vipd,
    Keepalived,
}

/// The protocol variant under test.
#[derive(Debug, Clone, Copy)]
struct Mode {
    version: u8,
    /// Advert interval in centiseconds.
    advert_cs: u32,
    unicast: bool,
}

const V2_MULTICAST: Mode = Mode {
    version: 2,
    advert_cs: 100,
    unicast: false,
};
const V3_MULTICAST: Mode = Mode {
    version: 3,
    advert_cs: 10,
    unicast: false,
};
const V2_UNICAST: Mode = Mode {
    version: 2,
    advert_cs: 100,
    unicast: true,
};

impl Mode {
    fn advert(&self) -> Duration {
        Duration::from_millis(u64::from(self.advert_cs) * 10)
    }

    /// Skew_Time of a priority-99 backup (RFC 3768 §6.1 / RFC 5798 §6.1).
    fn skew(&self) -> Duration {
        if self.version == 3 {
            self.advert() * 157 / 256
        } else {
            Duration::from_secs(1) * 157 / 256
        }
    }

    fn master_down(&self) -> Duration {
        3 * self.advert() + self.skew()
    }
}

struct NodeConf<'a> {
    mode: Mode,
    priority: u8,
    state: &'a str,
    nopreempt: bool,
    auth_pass: &'a str,
    me: &'a str,
    peer: &'a str,
}

impl<'a> NodeConf<'a> {
    /// A node that preempts, with auth_pass 1111.
    fn new(mode: Mode, priority: u8, state: &'a str, me: &'a str, peer: &'a str) -> Self {
        NodeConf {
            mode,
            priority,
            state,
            nopreempt: false,
            auth_pass: "1111",
            me,
            peer,
        }
    }
}

fn conf(c: &NodeConf<'_>) -> String {
    let advert = if c.mode.advert_cs.is_multiple_of(100) {
        format!("{}", c.mode.advert_cs / 100)
    } else {
        format!("{}", f64::from(c.mode.advert_cs) / 100.0)
    };
    let auth = if c.mode.version == 2 {
        format!(
            "    authentication {{\n        auth_type PASS\n        auth_pass {}\n    }}\n",
            c.auth_pass
        )
    } else {
        String::new()
    };
    let unicast = if c.mode.unicast {
        format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n",
            c.me, c.peer
        )
    } else {
        String::new()
    };
    format!(
        "vrrp_instance VI_1 {{\n    state {}\n    interface eth1\n    virtual_router_id 51\n    priority {}\n    advert_int {advert}\n    version {}\n{}{auth}{unicast}    virtual_ipaddress {{\n        {VIP} dev eth1 label eth1:1\n    }}\n}}\n",
        c.state,
        c.priority,
        c.mode.version,
        if c.nopreempt { "    nopreempt\n" } else { "" },
    )
}

/// One VRRP daemon (vipd or keepalived) on a director.
struct Peer<'a> {
    lab: &'a LabGuard,
    node: &'static str,
    imp: Impl,
    dir: PathBuf,
    child: Option<Child>,
    runs: u32,
}

impl<'a> Peer<'a> {
    fn new(lab: &'a LabGuard, scratch: &Scratch, node: &'static str, imp: Impl) -> Self {
        let dir = scratch.0.join(format!("{node}-{imp:?}"));
        fs::create_dir_all(&dir).unwrap();
        Peer {
            lab,
            node,
            imp,
            dir,
            child: None,
            runs: 0,
        }
    }

    /// The daemons of the two directors: `on_dir1` on dir1, `on_dir2` on dir2.
    fn pair(lab: &'a LabGuard, scratch: &Scratch, on_dir1: Impl, on_dir2: Impl) -> (Self, Self) {
        (
            Peer::new(lab, scratch, "dir1", on_dir1),
            Peer::new(lab, scratch, "dir2", on_dir2),
        )
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn start(&mut self, conf_text: &str) {
        assert!(self.child.is_none(), "{} already running", self.node);
        let conf = self.path("vrrp.conf");
        fs::write(&conf, conf_text).unwrap();
        let mut cmd = match self.imp {
            Impl::Vipd => {
                let bin = vipd::lab::vipd_binary(None).expect("vipd binary");
                let mut cmd = self.lab.command(self.node, bin).unwrap();
                cmd.args(["-f", &conf, "-P", "-p", &self.path("vipd.pid")]);
                cmd
            }
            Impl::Keepalived => {
                let mut cmd = self.lab.command(self.node, "keepalived").unwrap();
                cmd.args(["-f", &conf, "-n", "-l", "-D", "-P"]);
                cmd.args(["-p", &self.path("keepalived.pid")]);
                cmd.args(["-r", &self.path("vrrp.pid")]);
                cmd.args(["-c", &self.path("checkers.pid")]);
                cmd.args(["-b", &self.path("bfd.pid")]);
                cmd
            }
        };
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        self.runs += 1;
        use std::io::Write;
        writeln!(&log, "===== run {} =====", self.runs).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        self.child = Some(self.lab.spawn_command(self.node, &mut cmd).unwrap());
        if self.imp == Impl::Keepalived {
            // The VRRP child's pid file is what a crash simulation needs.
            let vrrp_pid = self.dir.join("vrrp.pid");
            let t0 = Instant::now();
            while !vrrp_pid.exists() {
                assert!(
                    t0.elapsed() < Duration::from_secs(5),
                    "keepalived did not start: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn parent_pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    fn keepalived_vrrp_pid(&self) -> Option<i32> {
        fs::read_to_string(self.dir.join("vrrp.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// SIGKILL: a crash. For keepalived, its VRRP child too (killing only the
    /// parent makes the child shut down gracefully).
    fn sigkill(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if self.imp == Impl::Keepalived {
            if let Some(pid) = self.keepalived_vrrp_pid() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = kill(Pid::from_raw(self.parent_pid()), Signal::SIGKILL);
        self.reap();
    }

    fn sigterm(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.parent_pid()), Signal::SIGTERM);
    }

    /// Waits until every process of this peer is gone (keepalived refuses to
    /// start while its old pid files point at live processes).
    fn reap(&mut self) {
        let vrrp = if self.imp == Impl::Keepalived {
            self.keepalived_vrrp_pid()
        } else {
            None
        };
        if let Some(mut c) = self.child.take() {
            let t0 = Instant::now();
            loop {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!(
                        "{} {:?} did not exit within 10 s: {}",
                        self.node,
                        self.imp,
                        self.log()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Some(pid) = vrrp {
            let t0 = Instant::now();
            while alive(pid) && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for f in [
            "keepalived.pid",
            "vrrp.pid",
            "checkers.pid",
            "bfd.pid",
            "vipd.pid",
        ] {
            let _ = fs::remove_file(self.dir.join(f));
        }
    }

    fn stop(&mut self) {
        if self.child.is_some() {
            self.sigterm();
            self.reap();
        }
        // A SIGKILLed keepalived leaves its VIP behind: clean up for the next run.
        let _ = self.lab.exec(
            self.node,
            ["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth1"],
        );
    }

    fn holds_vip(&self) -> bool {
        holds_vip(self.lab, self.node)
    }
}

impl Drop for Peer<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.imp == Impl::Keepalived {
                if let Some(pid) = self.keepalived_vrrp_pid() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has exited; only its parent's wait is missing.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn holds_vip(lab: &LabGuard, node: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args([
            "-n",
            &lab.netns(node),
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            "eth1",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/"))
}

/// Polls until `cond` holds; returns how long it took, or panics with `what`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    loop {
        if cond() {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that exactly `holder` holds the VIP, continuously for `during`.
fn assert_single_holder(master: &Peer<'_>, backup: &Peer<'_>, during: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < during {
        assert!(
            master.holds_vip(),
            "{} ({:?}) lost the VIP\nmaster log:\n{}",
            master.node,
            master.imp,
            master.log()
        );
        assert!(
            !backup.holds_vip(),
            "{} ({:?}) also holds the VIP: two masters\nbackup log:\n{}",
            backup.node,
            backup.imp,
            backup.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The whole story in one direction: `master_imp` on dir1 (priority 100),
/// `backup_imp` on dir2 (99). Returns (SIGKILL failover, SIGTERM failover).
fn failover_story(
    lab: &LabGuard,
    scratch: &Scratch,
    mode: Mode,
    master_imp: Impl,
    backup_imp: Impl,
) {
    let tag = format!("{mode:?} master={master_imp:?} backup={backup_imp:?}");
    let (mut master, mut backup) = Peer::pair(lab, scratch, master_imp, backup_imp);
    let master_conf = conf(&NodeConf::new(mode, 100, "MASTER", DIR1_IP, DIR2_IP));
    let backup_conf = conf(&NodeConf::new(mode, 99, "BACKUP", DIR2_IP, DIR1_IP));
    // Master first, then the backup: the master wins its first election alone.
    master.start(&master_conf);
    wait_for(
        &format!("{tag}: first master"),
        mode.master_down() + Duration::from_secs(3),
        || master.holds_vip(),
    );
    backup.start(&backup_conf);
    assert_single_holder(
        &master,
        &backup,
        3 * mode.advert() + Duration::from_millis(500),
    );

    // SIGKILL of the master: the backup holds the VIP within 3 x advert + skew.
    master.sigkill();
    let took = wait_for(
        &format!("{tag}: backup takes over after SIGKILL"),
        mode.master_down() + SLACK,
        || backup.holds_vip(),
    );
    eprintln!("{tag}: SIGKILL failover {took:?}");
    // The killed keepalived keeps the VIP on its interface; remove it, as a
    // rebooted node would have.
    let _ = lab.exec(
        "dir1",
        ["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth1"],
    );

    // The master returns and preempts.
    master.start(&master_conf);
    wait_for(
        &format!("{tag}: returning master preempts"),
        mode.master_down() + Duration::from_secs(2),
        || master.holds_vip() && !backup.holds_vip(),
    );
    assert_single_holder(&master, &backup, 2 * mode.advert());

    // SIGTERM: priority 0, the backup takes over after its skew time.
    master.sigterm();
    let took = wait_for(
        &format!("{tag}: backup takes over after SIGTERM"),
        mode.skew() + SLACK,
        || backup.holds_vip(),
    );
    eprintln!("{tag}: SIGTERM failover {took:?}");
    master.reap();
    assert!(
        !master.holds_vip(),
        "{tag}: the stopped master removed its VIP"
    );
    backup.stop();
    master.stop();
}

fn both_directions(prefix: &str, mode: Mode) {
    let lab = lab(prefix);
    let scratch = Scratch::new(&lab);
    failover_story(&lab, &scratch, mode, Impl::Keepalived, Impl::Vipd);
    failover_story(&lab, &scratch, mode, Impl::Vipd, Impl::Keepalived);
}

#[test]
fn v2_multicast_with_keepalived() {
    both_directions("vrm", V2_MULTICAST);
}

#[test]
fn v3_multicast_with_keepalived() {
    both_directions("vr3", V3_MULTICAST);
}

#[test]
fn v2_unicast_with_keepalived() {
    both_directions("vru", V2_UNICAST);
}

#[test]
fn nopreempt_keeps_the_vip_on_the_backup() {
    let lab = lab("vrn");
    let scratch = Scratch::new(&lab);
    let mode = V3_MULTICAST;
    for (first, second) in [
        (Impl::Keepalived, Impl::Vipd),
        (Impl::Vipd, Impl::Keepalived),
    ] {
        let (mut high, mut low) = Peer::pair(&lab, &scratch, first, second);
        let mk = |priority, me, peer| {
            conf(&NodeConf {
                nopreempt: true,
                ..NodeConf::new(mode, priority, "BACKUP", me, peer)
            })
        };
        high.start(&mk(100, DIR1_IP, DIR2_IP));
        wait_for("first master", Duration::from_secs(3), || high.holds_vip());
        low.start(&mk(99, DIR2_IP, DIR1_IP));
        high.sigkill();
        let _ = lab.exec(
            "dir1",
            ["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth1"],
        );
        wait_for("backup takes over", mode.master_down() + SLACK, || {
            low.holds_vip()
        });
        high.start(&mk(100, DIR1_IP, DIR2_IP));
        // Several master-down intervals: the higher priority must not preempt.
        assert_single_holder(&low, &high, 5 * mode.master_down());
        high.stop();
        low.stop();
    }
}

/// Different auth_pass, or different versions: keepalived's own nodes both become
/// MASTER; so do vipd and keepalived, and vipd logs why.
#[test]
fn mismatches_give_two_masters_and_vipd_says_why() {
    let lab = lab("vrx");
    let scratch = Scratch::new(&lab);
    let cases = [
        ("2222", V2_MULTICAST, "different auth_pass"),
        (
            "1111",
            V3_MULTICAST,
            "is VRRPv3 but this instance speaks VRRPv2",
        ),
    ];
    for (keepalived_pass, keepalived_mode, why) in cases {
        let (mut k, mut v) = Peer::pair(&lab, &scratch, Impl::Keepalived, Impl::Vipd);
        k.start(&conf(&NodeConf {
            auth_pass: keepalived_pass,
            ..NodeConf::new(keepalived_mode, 100, "MASTER", DIR1_IP, DIR2_IP)
        }));
        let vipd_backup = NodeConf::new(V2_MULTICAST, 99, "BACKUP", DIR2_IP, DIR1_IP);
        v.start(&conf(&vipd_backup));
        wait_for("both masters", Duration::from_secs(6), || {
            k.holds_vip() && v.holds_vip()
        });
        wait_for(
            &format!("vipd logs `{why}`"),
            Duration::from_secs(3),
            || v.log().contains(why),
        );
        k.stop();
        v.stop();
    }
}

/// The seed's two configs, verbatim (no-break spaces, blog-mangled lines and all),
/// on dir1 and dir2.
#[test]
fn seed_configs_fail_over() {
    let lab = lab("vrs");
    let scratch = Scratch::new(&lab);
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed");
    let master_conf = fs::read_to_string(seed.join("keepalived-master.conf")).unwrap();
    let backup_conf = fs::read_to_string(seed.join("keepalived-backup.conf")).unwrap();
    let (mut master, mut backup) = Peer::pair(&lab, &scratch, Impl::Vipd, Impl::Vipd);
    // The seed's order: backup first, then the master, which takes the VIP away.
    backup.start(&backup_conf);
    wait_for(
        "the backup holds the VIP alone",
        Duration::from_secs(6),
        || backup.holds_vip(),
    );
    master.start(&master_conf);
    wait_for("the master preempts", Duration::from_secs(6), || {
        master.holds_vip() && !backup.holds_vip()
    });
    let addr = lab
        .exec_ok("dir1", ["ip", "-4", "-o", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(
        addr.lines()
            .any(|l| l.contains(&format!("inet {VIP}/32")) && l.contains("eth1:1")),
        "VIP with label eth1:1 on dir1's eth1:\n{addr}"
    );
    // The router on the director LAN learns the VIP at dir1's MAC...
    lab.exec_ok("router", ["ping", "-c", "1", "-W", "1", VIP])
        .unwrap();
    assert_eq!(
        router_vip_mac(&lab).as_deref(),
        Some(mac(&lab, "dir1").as_str())
    );
    master.sigkill();
    wait_for(
        "dir2 takes over",
        V2_MULTICAST.master_down() + SLACK,
        || backup.holds_vip(),
    );
    // ...and the new master's gratuitous ARP moves it to dir2's MAC at once,
    // without the router asking.
    let dir2_mac = mac(&lab, "dir2");
    wait_for(
        "the router's ARP entry follows the VIP",
        Duration::from_millis(500),
        || router_vip_mac(&lab).as_deref() == Some(dir2_mac.as_str()),
    );
    backup.stop();
    master.stop();
}

fn mac(lab: &LabGuard, node: &str) -> String {
    let out = lab
        .exec_ok(node, ["ip", "-o", "link", "show", "eth1"])
        .unwrap();
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("eth1 has a MAC")
        .to_string()
}

fn router_vip_mac(lab: &LabGuard) -> Option<String> {
    let out = lab.exec_ok("router", ["ip", "neigh", "show", VIP]).unwrap();
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

/// track_interface, vrrp_script and notify scripts, with keepalived's arguments.
#[test]
fn tracking_and_notify_scripts() {
    let lab = lab("vrt");
    let scratch = Scratch::new(&lab);
    let dir = &scratch.0;
    let events = dir.join("events");
    let notify = dir.join("notify.sh");
    fs::write(
        &notify,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", events.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&notify, fs::Permissions::from_mode(0o755)).unwrap();
    let ok_file = dir.join("ok");
    fs::write(&ok_file, "").unwrap();
    // A tracked link of our own inside dir1: trk0, whose peer trk1 we can take down.
    lab.exec_ok(
        "dir1",
        [
            "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
        ],
    )
    .unwrap();
    lab.exec_ok("dir1", ["ip", "link", "set", "trk0", "up"])
        .unwrap();
    lab.exec_ok("dir1", ["ip", "link", "set", "trk1", "up"])
        .unwrap();
    let conf = format!(
        "vrrp_script chk_ok {{\n    script \"/usr/bin/test -e {ok}\"\n    interval 1\n    fall 1\n    rise 1\n}}\n\
         vrrp_instance VI_1 {{\n    state MASTER\n    interface eth1\n    virtual_router_id 51\n    priority 100\n    advert_int 0.1\n    version 3\n\
         \x20   track_interface {{\n        trk0\n    }}\n    track_script {{\n        chk_ok\n    }}\n\
         \x20   notify {notify}\n    notify_master \"{notify} master-only\"\n\
         \x20   virtual_ipaddress {{\n        {VIP} dev eth1 label eth1:1\n    }}\n}}\n",
        ok = ok_file.display(),
        notify = notify.display(),
    );
    let mut v = Peer::new(&lab, &scratch, "dir1", Impl::Vipd);
    v.start(&conf);
    let events_text = || fs::read_to_string(&events).unwrap_or_default();
    wait_for("MASTER", Duration::from_secs(3), || v.holds_vip());
    wait_for("notify scripts ran", Duration::from_secs(2), || {
        let e = events_text();
        e.contains("INSTANCE VI_1 BACKUP 100")
            && e.contains("INSTANCE VI_1 MASTER 100")
            && e.contains("master-only")
    });
    // The tracked link loses its carrier: FAULT, VIP removed, notify says FAULT.
    lab.exec_ok("dir1", ["ip", "link", "set", "trk1", "down"])
        .unwrap();
    wait_for("FAULT drops the VIP", Duration::from_secs(2), || {
        !v.holds_vip()
    });
    wait_for("notify FAULT", Duration::from_secs(2), || {
        events_text().contains("INSTANCE VI_1 FAULT")
    });
    lab.exec_ok("dir1", ["ip", "link", "set", "trk1", "up"])
        .unwrap();
    wait_for("back to MASTER", Duration::from_secs(3), || v.holds_vip());
    // The script fails (weight 0): FAULT again until it succeeds.
    fs::remove_file(&ok_file).unwrap();
    wait_for("script failure -> FAULT", Duration::from_secs(4), || {
        !v.holds_vip()
    });
    fs::write(&ok_file, "").unwrap();
    wait_for("script success -> MASTER", Duration::from_secs(4), || {
        v.holds_vip()
    });
    let log = v.log();
    assert!(log.contains("tracked interface trk0 is down"), "{log}");
    assert!(log.contains("vrrp_script chk_ok is now down"), "{log}");
    v.stop();
    wait_for("notify STOP", Duration::from_secs(2), || {
        events_text().contains("INSTANCE VI_1 STOP")
    });
}

/// Adverts seen on the director LAN, with their arrival time.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    src: std::net::IpAddr,
    priority: u8,
}

/// Records every VRRP advert on the director LAN from the router's namespace
/// (joined to 224.0.0.18 on br-dir) until dropped.
struct Observer {
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Observer {
    fn start(lab: &LabGuard) -> Self {
        use socket2::{Domain, Protocol, Socket, Type};
        let ns = lab.netns("router");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, stop2) = (seen.clone(), stop.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let f = fs::File::open(format!("/run/netns/{ns}")).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
            let idx = nix::net::if_::if_nametoindex("br-dir").unwrap();
            sock.join_multicast_v4_n(
                &std::net::Ipv4Addr::new(224, 0, 0, 18),
                &socket2::InterfaceIndexOrAddress::Index(idx),
            )
            .unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 2048];
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                use std::io::Read;
                if let Ok(n) = (&sock).read(&mut buf) {
                    let at = Instant::now();
                    if let Ok(rx) = vipd_core::vrrp::packet::parse_datagram(&buf[..n], false) {
                        s2.lock().unwrap().push(Seen {
                            at,
                            src: rx.src,
                            priority: rx.repr.priority,
                        });
                    }
                }
            }
        });
        ready_rx.recv().unwrap();
        Observer {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn summary(v: &[Duration]) -> String {
    let mut v = v.to_vec();
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    format!(
        "{:.0} / {:.0} / {:.0} / {:.0}",
        ms(v[0]),
        ms(v[v.len() / 2]),
        mean,
        ms(v[v.len() - 1])
    )
}

struct Trials {
    /// From the master's last advert (or its priority-0 advert) to the backup's
    /// first advert as master, as seen on the wire.
    wire: Vec<Duration>,
    /// From the signal to the VIP being on the backup's interface.
    vip: Vec<Duration>,
}

/// One implementation on both directors; `trials` SIGKILLs then `trials` SIGTERMs.
fn bench_pair(
    lab: &LabGuard,
    scratch: &Scratch,
    obs: &Observer,
    imp: Impl,
    mode: Mode,
    trials: usize,
) -> (Trials, Trials) {
    let dir1: std::net::IpAddr = DIR1_IP.parse().unwrap();
    let dir2: std::net::IpAddr = DIR2_IP.parse().unwrap();
    let (mut master, mut backup) = Peer::pair(lab, scratch, imp, imp);
    let mk = |priority, state, me, peer| conf(&NodeConf::new(mode, priority, state, me, peer));
    let master_conf = mk(100, "MASTER", DIR1_IP, DIR2_IP);
    master.start(&master_conf);
    wait_for(
        "first master",
        mode.master_down() + Duration::from_secs(3),
        || master.holds_vip(),
    );
    backup.start(&mk(99, "BACKUP", DIR2_IP, DIR1_IP));
    std::thread::sleep(3 * mode.advert());
    let mut kill = Trials {
        wire: vec![],
        vip: vec![],
    };
    let mut term = Trials {
        wire: vec![],
        vip: vec![],
    };
    for round in 0..2 * trials {
        let sigkill = round < trials;
        // A different point of the advert cycle every time.
        let phase = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % (mode.advert().as_nanos() as u64);
        std::thread::sleep(Duration::from_nanos(phase));
        let t_signal = Instant::now();
        if sigkill {
            master.sigkill();
        } else {
            master.sigterm();
        }
        let vip = wait_for(
            "backup takes over",
            mode.master_down() + Duration::from_secs(2),
            || backup.holds_vip(),
        );
        // Let the capture see the new master's first advert.
        std::thread::sleep(Duration::from_millis(50));
        let seen = obs.seen();
        let from = if sigkill {
            seen.iter()
                .filter(|s| s.src == dir1 && s.priority > 0 && s.at <= t_signal)
                .map(|s| s.at)
                .next_back()
        } else {
            seen.iter()
                .find(|s| s.src == dir1 && s.priority == 0 && s.at >= t_signal)
                .map(|s| s.at)
        }
        .expect("the master's last advert was captured");
        let to = seen
            .iter()
            .find(|s| s.src == dir2 && s.at > from)
            .map(|s| s.at)
            .expect("the new master's first advert was captured");
        let t = if sigkill { &mut kill } else { &mut term };
        t.wire.push(to - from);
        t.vip.push(vip);
        master.reap();
        let _ = lab.exec(
            "dir1",
            ["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth1"],
        );
        master.start(&master_conf);
        wait_for(
            "the master preempts again",
            mode.master_down() + Duration::from_secs(3),
            || master.holds_vip() && !backup.holds_vip(),
        );
        std::thread::sleep(2 * mode.advert() + Duration::from_millis(100));
    }
    master.stop();
    backup.stop();
    (kill, term)
}

/// Failover times over 20 trials each for vipd and keepalived in the same lab run
/// (docs/BENCHMARKS.md). About 12 minutes:
/// `cargo test -p vipd --test vrrp_interop failover_benchmark -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: about 12 minutes"]
fn failover_benchmark() {
    let trials: usize = std::env::var("VRRP_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let lab = lab("vrb");
    let scratch = Scratch::new(&lab);
    let obs = Observer::start(&lab);
    println!("| mode | peer pair | signal | wire: last advert -> new master's advert (min / median / mean / max, ms) | signal -> VIP on backup (min / median / mean / max, ms) |");
    println!("| --- | --- | --- | --- | --- |");
    for (mode, label) in [
        (V2_MULTICAST, "v2, advert_int 1"),
        (V3_MULTICAST, "v3, advert_int 0.1"),
    ] {
        for imp in [Impl::Keepalived, Impl::Vipd] {
            let (kill, term) = bench_pair(&lab, &scratch, &obs, imp, mode, trials);
            let name = match imp {
                Impl::Vipd => "vipd + vipd",
                Impl::Keepalived => "keepalived + keepalived",
            };
            println!(
                "| {label} | {name} | SIGKILL | {} | {} |",
                summary(&kill.wire),
                summary(&kill.vip)
            );
            println!(
                "| {label} | {name} | SIGTERM | {} | {} |",
                summary(&term.wire),
                summary(&term.vip)
            );
        }
    }
}

/// The times (s) of the announcements the router hears on the directors'
/// LAN (`tcpdump FILTER`, lines for which `is_one` holds) while vipd starts as
/// MASTER of `text` with `globals` in global_defs, until `holds` and 2.5 s more.
fn announcement_times(
    lab: &LabGuard,
    scratch: &Scratch,
    filter: &str,
    globals: &str,
    text: &str,
    holds: impl Fn() -> bool,
    is_one: impl Fn(&str) -> bool,
) -> Vec<f64> {
    let dump_path = scratch.0.join(format!("{filter}-{}.txt", globals.len()));
    let out = fs::File::create(&dump_path).unwrap();
    let mut cmd = lab.command("router", "tcpdump").unwrap();
    cmd.args(["-i", "br-dir", "-n", "-tt", "-l", "-U", filter])
        .stdout(out)
        .stderr(Stdio::null())
        .process_group(0);
    let mut dump = lab.spawn_command("router", &mut cmd).unwrap();
    std::thread::sleep(Duration::from_millis(1000)); // tcpdump attaches
    let mut node = Peer::new(lab, scratch, "dir1", Impl::Vipd);
    node.start(&format!("global_defs {{\n{globals}}}\n{text}"));
    wait_for("dir1 holds the VIP", Duration::from_secs(15), holds);
    std::thread::sleep(Duration::from_millis(2500));
    node.stop();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(dump.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = dump.wait();
    fs::read_to_string(&dump_path)
        .unwrap()
        .lines()
        .filter(|l| is_one(l))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The times (s) of the gratuitous ARPs for the VIP that the router hears
/// while vipd starts as MASTER with `globals` in global_defs.
fn garp_times(lab: &LabGuard, scratch: &Scratch, globals: &str) -> Vec<f64> {
    let text = conf(&NodeConf {
        mode: V2_MULTICAST,
        priority: 150,
        state: "MASTER",
        nopreempt: false,
        auth_pass: "garp",
        me: DIR1_IP,
        peer: DIR2_IP,
    });
    // "1796612615.013403 ARP, Request who-has VIP (ff:ff:ff:ff:ff:ff) tell VIP, length 28"
    announcement_times(
        lab,
        scratch,
        "arp",
        globals,
        &text,
        || holds_vip(lab, "dir1"),
        |l| l.contains(&format!("who-has {VIP} ")) && l.contains(&format!("tell {VIP},")),
    )
}

/// `vrrp_garp_interval` spaces the gratuitous ARPs of a burst on the wire;
/// without it they go back to back.
#[test]
fn garp_interval_spaces_the_gratuitous_arps() {
    let lab = lab("vga");
    let scratch = Scratch::new(&lab);
    let repeat = "    vrrp_garp_master_repeat 4\n    vrrp_garp_master_delay 0\n";
    let tight = garp_times(&lab, &scratch, repeat);
    let spaced = garp_times(
        &lab,
        &scratch,
        &format!("{repeat}    vrrp_garp_interval 0.3\n"),
    );
    println!("gratuitous ARPs at {tight:?} without, {spaced:?} with vrrp_garp_interval 0.3");
    assert_eq!(tight.len(), 4, "{tight:?}");
    assert!(tight[3] - tight[0] < 0.1, "back to back: {tight:?}");
    assert_eq!(spaced.len(), 4, "{spaced:?}");
    for w in spaced.windows(2) {
        assert!(w[1] - w[0] >= 0.28, "less than 0.3 s apart: {spaced:?}");
    }
}

/// The times (s) of the unsolicited neighbour advertisements for an IPv6 VIP
/// that the router hears while vipd starts as MASTER of an IPv6 instance
/// with `globals` in global_defs (dual-stack lab).
fn na_times(lab: &LabGuard, scratch: &Scratch, globals: &str) -> Vec<f64> {
    let text = "vrrp_instance V6 {\n    state MASTER\n    interface eth1\n    virtual_router_id 61\n    priority 150\n    advert_int 1\n    version 3\n    virtual_ipaddress {\n        2001:db8:85::250\n    }\n}\n";
    // "1796612615.013403 IP6 fe80::.. > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:db8:85::250, length 32"
    announcement_times(
        lab,
        scratch,
        "icmp6",
        globals,
        text,
        || {
            lab.exec_ok("dir1", ["ip", "-6", "addr", "show", "dev", "eth1"])
                .unwrap()
                .contains("2001:db8:85::250/128")
        },
        |l| l.contains("neighbor advertisement, tgt is 2001:db8:85::250,"),
    )
}

/// `vrrp_gna_interval` spaces the unsolicited neighbour advertisements of a
/// burst on the wire, as `vrrp_garp_interval` does gratuitous ARPs; without
/// it they go back to back.
#[test]
fn gna_interval_spaces_the_neighbour_advertisements() {
    require_root_and_keepalived();
    let mut opts = LabOptions::unique("vgn");
    opts.reals = 1;
    opts.httpd = false;
    opts.xdp_pass = false;
    opts.ipv6 = true;
    let lab = LabGuard::up(opts).expect("lab up --ipv6");
    let scratch = Scratch::new(&lab);
    let repeat = "    vrrp_garp_master_repeat 4\n    vrrp_garp_master_delay 0\n";
    let tight = na_times(&lab, &scratch, repeat);
    // The ARP interval does not pace neighbour advertisements: their own does.
    let spaced = na_times(
        &lab,
        &scratch,
        &format!("{repeat}    vrrp_garp_interval 2\n    vrrp_gna_interval 0.3\n"),
    );
    println!(
        "neighbour advertisements at {tight:?} without, {spaced:?} with vrrp_gna_interval 0.3"
    );
    assert_eq!(tight.len(), 4, "{tight:?}");
    assert!(tight[3] - tight[0] < 0.1, "back to back: {tight:?}");
    assert_eq!(spaced.len(), 4, "{spaced:?}");
    for w in spaced.windows(2) {
        assert!(
            (0.28..1.5).contains(&(w[1] - w[0])),
            "not 0.3 s apart: {spaced:?}"
        );
    }
}

/// Whether `node` holds the IPv6 VIP of [`v3_ipv6_fails_over_with_keepalived_both_ways`].
fn holds_vip6(lab: &LabGuard, node: &str) -> bool {
    lab.exec_ok(node, ["ip", "-6", "addr", "show", "dev", "eth1"])
        .unwrap()
        .contains("2001:db8:85::250/64")
}

/// Waits until `holder` alone holds both VIPs of the dual-stack pair (the
/// IPv4 one of its VRRPv3 IPv4 instance too).
fn wait_holder6(lab: &LabGuard, holder: &str, other: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        if holds_vip6(lab, holder)
            && !holds_vip6(lab, other)
            && holds_vip(lab, holder)
            && !holds_vip(lab, other)
        {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "{holder} does not hold 2001:db8:85::250 alone after {within:?} ({other}: {})",
            holds_vip6(lab, other)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The client reaches the VIP: the router found its holder by neighbor
/// discovery (after a failover, through the new master's unsolicited NA).
fn ping_vip6(lab: &LabGuard) {
    lab.exec_ok("client", ["ping", "-6", "-c1", "-W2", "2001:db8:85::250"])
        .unwrap();
}

/// VRRPv3 over IPv6 (RFC 5798) against keepalived 2.2.7 in the dual-stack
/// lab: adverts from the link-local address to ff02::12, the VIP added
/// without DAD, unsolicited neighbor advertisements on takeover; beside it,
/// on the same nodes and with the same VRID (RFC 5798 allows it, dual-stack
/// keepalived files do it), a VRRPv3 IPv4 instance. vipd MASTER
/// with keepalived BACKUP; vipd stops (priority 0): keepalived takes the VIP;
/// vipd returns with the higher priority and preempts; then keepalived with a
/// higher priority preempts vipd. After each change the client reaches the
/// VIP (the router's neighbor cache follows the advertisements).
#[test]
fn v3_ipv6_fails_over_with_keepalived_both_ways() {
    require_root_and_keepalived();
    let mut opts = LabOptions::unique("vr6");
    opts.reals = 1;
    opts.httpd = false;
    opts.xdp_pass = false;
    opts.ipv6 = true;
    let lab = LabGuard::up(opts).expect("lab up --ipv6");
    let scratch = Scratch::new(&lab);
    let conf6 = |state: &str, priority: u8| {
        format!(
            "vrrp_instance V6 {{\n    state {state}\n    interface eth1\n    virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    version 3\n    virtual_ipaddress {{\n        2001:db8:85::250/64\n    }}\n}}\n\
             vrrp_instance V4 {{\n    state {state}\n    interface eth1\n    virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    version 3\n    virtual_ipaddress {{\n        {VIP}/32 dev eth1\n    }}\n}}\n"
        )
    };
    let (mut vipd, mut ka) = Peer::pair(&lab, &scratch, Impl::Vipd, Impl::Keepalived);
    ka.start(&conf6("BACKUP", 100));
    vipd.start(&conf6("MASTER", 150));
    let t = wait_holder6(&lab, "dir1", "dir2", Duration::from_secs(15));
    println!("vipd MASTER over IPv6 after {t:?}");
    ping_vip6(&lab);
    // keepalived hears vipd's adverts and stays BACKUP.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!holds_vip6(&lab, "dir2"), "{}", ka.log());

    vipd.sigterm();
    let t = wait_holder6(&lab, "dir2", "dir1", Duration::from_secs(5));
    println!("vipd stopped: keepalived MASTER after {t:?}");
    ping_vip6(&lab);
    vipd.reap();

    vipd.start(&conf6("MASTER", 150));
    let t = wait_holder6(&lab, "dir1", "dir2", Duration::from_secs(15));
    println!("vipd back with priority 150: preempted keepalived after {t:?}");
    ping_vip6(&lab);

    ka.sigterm();
    ka.reap();
    ka.start(&conf6("MASTER", 200));
    let t = wait_holder6(&lab, "dir2", "dir1", Duration::from_secs(15));
    println!("keepalived with priority 200: preempted vipd after {t:?}");
    ping_vip6(&lab);
    let log = vipd.log();
    assert!(log.contains("MASTER -> BACKUP"), "{log}");
    assert!(!log.contains("discarded an advert"), "{log}");
    // keepalived took vipd's adverts as they are (it logs a checksum or
    // address mismatch otherwise).
    let klog = ka.log().to_lowercase();
    assert!(
        !klog.contains("checksum") && !klog.contains("invalid"),
        "{klog}"
    );
    vipd.stop();
    ka.stop();
}
