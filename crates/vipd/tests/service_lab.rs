//! What packaging/vipd.service promises, checked in the lab (root) without
//! starting any systemd unit: the director runs in a lab node under exactly
//! the unit's `CapabilityBoundingSet` (read from the unit file), with a bpffs
//! on /sys/fs/bpf as systemd mounts it, and `$NOTIFY_SOCKET` pointing at a
//! socket of this test, as systemd's `Type=notify` does:
//!
//! - `READY=1` comes only once the data plane is attached and VRRP runs;
//! - a notify script runs as `script_user nobody` (CAP_SETUID/CAP_SETGID);
//! - a HUP sends `RELOADING=1`, then `READY=1` with the reload's outcome;
//! - QUIT sends `STOPPING=1`, and the next vipd (what `systemctl start` runs)
//!   adopts the pinned data plane and says `READY=1` again;
//! - TERM sends `STOPPING=1` and exits 0.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vipd::daemon::status::Status;
use vipd::lab::{LabGuard, LabOptions};

const SEED_MASTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/seed/keepalived-master.conf"
);
const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/vipd.service");

fn vipd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

/// `CapabilityBoundingSet=CAP_A CAP_B` of the unit, as setpriv's
/// `-all,+a,+b`.
fn unit_bounding_set() -> String {
    let unit = std::fs::read_to_string(UNIT).expect("packaging/vipd.service");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet=");
    let mut spec = String::from("-all");
    for cap in line.split_whitespace() {
        let name = cap
            .strip_prefix("CAP_")
            .unwrap_or_else(|| panic!("{cap}: not a CAP_ name"));
        spec.push_str(",+");
        spec.push_str(&name.to_ascii_lowercase());
    }
    spec
}

/// The test's end of `$NOTIFY_SOCKET`.
struct Notify {
    sock: UnixDatagram,
    seen: Vec<String>,
}

impl Notify {
    fn bind(path: &Path) -> Notify {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notify {
            sock,
            seen: Vec::new(),
        }
    }

    /// Waits for a datagram whose first line is `first`; returns it whole.
    fn expect(&mut self, first: &str, timeout: Duration, log: &dyn Fn() -> String) -> String {
        let t0 = Instant::now();
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if msg.lines().next() == Some(first) {
                    return msg;
                }
            }
            assert!(
                t0.elapsed() < timeout,
                "no {first} within {timeout:?}; received {:?}\n--- vipd's log\n{}",
                self.seen,
                log()
            );
        }
    }
}

/// Kills the wrapper shell and whatever vipd runs if the test fails midway.
struct Running {
    child: Child,
    pid_file: PathBuf,
}

impl Running {
    fn pid(&self) -> i32 {
        std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }
    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = self.pid();
        assert!(pid > 0, "no pid in {}", self.pid_file.display());
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.pid();
            if pid > 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn status(lab: &LabGuard) -> Status {
    let mut cmd = lab.command("dir1", vipd()).unwrap();
    let out = cmd.args(["status", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "vipd status --json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status --json parses")
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unit_capabilities_and_sd_notify() {
    let caps = unit_bounding_set();
    assert!(
        !caps.contains("sys_admin"),
        "the unit should not need CAP_SYS_ADMIN: {caps}"
    );
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        ..LabOptions::unique("svc")
    })
    .expect("lab up (needs root, iproute2)");

    let dir = std::env::temp_dir().join(format!("vipd-test-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The notify script runs as nobody: it writes into a directory anyone can.
    let drop_dir = dir.join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap();
    std::fs::set_permissions(
        &drop_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let master_file = drop_dir.join("notify_master");
    let conf = dir.join("keepalived.conf");
    let seed = std::fs::read_to_string(SEED_MASTER).unwrap();
    let with_script = seed.replacen(
        "vrrp_instance VI_1 {",
        &format!(
            "vrrp_instance VI_1 {{\n    notify_master \"/bin/sh -c 'id -u > {}'\"\n",
            master_file.display()
        ),
        1,
    );
    assert_ne!(with_script, seed, "the seed has vrrp_instance VI_1");
    std::fs::write(
        &conf,
        format!("global_defs {{\n    script_user nobody\n}}\n{with_script}"),
    )
    .unwrap();

    let notify_path = dir.join("notify.sock");
    let mut notify = Notify::bind(&notify_path);
    let pid_file = dir.join("vipd.pid");
    let log_path = dir.join("vipd.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // systemd mounts a bpffs on /sys/fs/bpf; the lab node's /sys is its own,
    // so the wrapper mounts one there (in the node's mount namespace only).
    // Then vipd, and after a QUIT the next vipd, as `systemctl start` would.
    let script = r#"
        mount -t bpf bpf /sys/fs/bpf || { echo "cannot mount a bpffs on /sys/fs/bpf" >&2; exit 97; }
        run() { setpriv --bounding-set="$CAPS" --inh-caps=-all -- "$VIPD" -f "$CONF" -p "$PIDFILE" --dump-dir "$DIR"; }
        run || exit $?
        echo "--- restarted" >&2
        run
    "#;
    let mut cmd = lab.command("dir1", "sh").unwrap();
    cmd.args(["-c", script])
        .env("CAPS", &caps)
        .env("VIPD", vipd())
        .env("CONF", &conf)
        .env("PIDFILE", &pid_file)
        .env("DIR", &dir)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let child = cmd.spawn().expect("sh in dir1");
    let mut run = Running {
        child,
        pid_file: pid_file.clone(),
    };

    // READY=1 once the data plane is attached and VRRP runs, not before.
    let ready = notify.expect("READY=1", Duration::from_secs(30), &log);
    assert!(ready.contains("STATUS=running: "), "{ready}");
    let st = status(&lab);
    assert!(st.parts.datapath, "READY=1 before the data plane: {st:?}");
    assert!(st.parts.vrrp, "READY=1 before VRRP: {st:?}");
    assert!(
        st.vrrp
            .iter()
            .all(|v| v.state == "BACKUP" || v.state == "MASTER"),
        "READY=1 with VRRP not started: {:?}",
        st.vrrp
    );
    assert!(
        log().contains("started (pid"),
        "READY=1 comes with the started line: {}",
        log()
    );

    // Alone on its LAN, the director becomes MASTER and runs its notify
    // script as nobody: the bounding set allows setuid/setgid.
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody")
        .uid
        .as_raw();
    wait_for("notify_master as nobody", Duration::from_secs(20), || {
        std::fs::read_to_string(&master_file).is_ok_and(|s| !s.trim().is_empty())
    });
    assert_eq!(
        std::fs::read_to_string(&master_file).unwrap().trim(),
        nobody.to_string(),
        "{}",
        log()
    );

    // HUP: RELOADING=1, then READY=1 with the outcome.
    run.signal(nix::sys::signal::Signal::SIGHUP);
    let reloading = notify.expect("RELOADING=1", Duration::from_secs(10), &log);
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let ready = notify.expect("READY=1", Duration::from_secs(10), &log);
    assert!(ready.contains("STATUS=reload applied"), "{ready}");

    // QUIT: STOPPING=1; the next vipd adopts the pinned data plane (in the
    // bpffs on /sys/fs/bpf, under the same bounding set) and is READY again.
    let first = run.pid();
    run.signal(nix::sys::signal::Signal::SIGQUIT);
    let stopping = notify.expect("STOPPING=1", Duration::from_secs(10), &log);
    assert!(stopping.contains("SIGQUIT"), "{stopping}");
    notify.expect("READY=1", Duration::from_secs(30), &log);
    assert_ne!(run.pid(), first, "a new vipd runs");
    let st = status(&lab);
    assert!(
        st.parts
            .datapath_attach
            .iter()
            .any(|a| a.contains("adopted from the previous vipd")),
        "the data plane was adopted: {:?}\n{}",
        st.parts,
        log()
    );
    assert!(st.restart.is_some(), "{st:?}");
    assert_eq!(st.vrrp[0].state, "MASTER", "resumed as MASTER");

    // TERM: STOPPING=1 and exit 0.
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let stopping = notify.expect("STOPPING=1", Duration::from_secs(10), &log);
    assert!(stopping.contains("SIGTERM"), "{stopping}");
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = run.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "vipd did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{}", log());
    drop(run);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
