//! The lab, end to end (root): topology, reachability, cleanup, isolation, bad input.
//!
//! Every test uses its own lab name (`LabOptions::unique`), so they run in parallel
//! with each other and with other areas' tests.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use vipd::lab::{self, client, netns, state, LabError, LabGuard, LabOptions};

fn vipd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

/// `vipd lab ARGS`, as a user runs it.
fn vipd_lab(args: &[&str]) -> Command {
    let mut c = Command::new(vipd_bin());
    c.arg("lab").args(args);
    c
}

/// Runs `cmd`; panics with its stderr unless it succeeds.
fn succeeds(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn opts(prefix: &str) -> LabOptions {
    LabOptions {
        vipd_bin: Some(vipd_bin()),
        ..LabOptions::unique(prefix)
    }
}

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is missing: apt-get install -y {package}");
}

/// Namespaces whose name starts with `NAME-`.
fn namespaces_of(name: &str) -> Vec<String> {
    let prefix = format!("{name}-");
    netns::list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn client_reaches_every_real_server_and_directors_go_through_the_router() {
    require("curl", "curl");
    require("ip", "iproute2");
    require("ping", "iputils-ping");
    let lab = LabGuard::up(opts("tu")).expect("lab up");
    for n in 1..=3 {
        let url = format!("http://10.253.26.{n}/");
        let body = lab
            .exec_ok("client", ["curl", "-sS", "-m", "5", &url])
            .expect("curl from client");
        assert_eq!(
            body.lines().next(),
            Some(format!("rs{n}").as_str()),
            "{url}: {body}"
        );
        // The real server sees the client's own address: routed, not NATed.
        assert!(body.contains("client=203.0.113.2:"), "{body}");
    }
    for dir in ["dir1", "dir2"] {
        for n in 1..=3 {
            let rip = lab::rip(n);
            let reply = client::http_get(
                &lab.netns(dir),
                (rip, 80).into(),
                "/",
                Duration::from_secs(5),
            )
            .expect("GET from a director");
            assert_eq!(reply.first_line(), format!("rs{n}"));
            assert!(reply
                .body
                .contains(&format!("client={}:", lab::dip(dir[3..].parse().unwrap()))));
        }
        // One router hop: the reply's TTL is 64 - 1.
        let ping = lab
            .exec_ok(dir, ["ping", "-c", "1", "-W", "2", "10.253.26.1"])
            .expect("ping");
        assert!(
            ping.contains("ttl=63"),
            "expected one hop through the router: {ping}"
        );
    }
    // status: every node, its live address, and the HTTP servers.
    let status = lab.status().unwrap();
    for want in [
        "eth1 10.253.85.11/24",
        "eth1 10.253.85.12/24",
        "eth0 203.0.113.2/24",
        "br-rs 10.253.26.254/24",
        "lab httpd --node rs3",
    ] {
        assert!(
            status.contains(want),
            "{want} missing from status:\n{status}"
        );
    }
    // The seed's interface name on directors, and what the lab set on their ports.
    let links = lab
        .exec_ok("dir1", ["ip", "-o", "link", "show", "eth1"])
        .unwrap();
    assert!(links.contains("eth1"), "{links}");
    let port = lab
        .exec_ok("router", ["ip", "-d", "link", "show", "dir1"])
        .unwrap();
    assert!(
        port.contains("prog/xdp"),
        "pass XDP program missing on dir1's port: {port}"
    );
    assert!(port.contains("master br-dir"), "{port}");
    let bridge = lab
        .exec_ok("router", ["ip", "-d", "link", "show", "br-dir"])
        .unwrap();
    assert!(bridge.contains("mcast_snooping 0"), "{bridge}");
    if Command::new("ethtool").arg("--version").output().is_ok() {
        let k = lab.exec_ok("router", ["ethtool", "-k", "dir1"]).unwrap();
        assert!(k.contains("tx-checksumming: off"), "{k}");
        assert!(k.contains("generic-receive-offload: off"), "{k}");
    }
    let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let router_fwd = lab
        .run_in("router", || {
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap()
        })
        .unwrap();
    assert_eq!(router_fwd.trim(), "1");
    // The host's own setting is untouched (whatever it was).
    assert_eq!(
        fwd,
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap()
    );
}

#[test]
fn down_leaves_no_namespace_link_or_process() {
    let before_links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let name = LabOptions::unique("td").name;
    assert!(namespaces_of(&name).is_empty());
    // Through the CLI: `up` exits, its httpd processes live on; `down` is another process.
    succeeds(&mut vipd_lab(&["up", "--name", &name]));
    let during = namespaces_of(&name);
    assert_eq!(during.len(), 7, "{during:?}");
    let pids: Vec<i32> = during.iter().flat_map(|ns| netns::pids(ns)).collect();
    assert_eq!(pids.len(), 3, "one httpd per real server: {pids:?}");
    // A process started by someone else in the lab, in the background, dies too.
    // What a daemon killed with -9 in dir1 would leave: its socket and pid file.
    let dir1_ns = lab::Lab::open(&name).unwrap().netns("dir1");
    std::fs::create_dir_all("/run/vipd").unwrap();
    let leftovers: Vec<String> = ["sock", "pid"]
        .iter()
        .map(|ext| format!("/run/vipd/vipd-{dir1_ns}.{ext}"))
        .collect();
    for f in &leftovers {
        std::fs::write(f, "").unwrap();
    }
    let sleeper = lab::Lab::open(&name)
        .unwrap()
        .command("dir1", "sleep")
        .unwrap()
        .arg("300")
        .spawn()
        .unwrap();
    succeeds(&mut vipd_lab(&["down", "--name", &name]));
    let mut sleeper = sleeper;
    let _ = sleeper.wait();
    assert!(
        namespaces_of(&name).is_empty(),
        "{:?}",
        namespaces_of(&name)
    );
    assert!(!state::dir(&name).exists());
    for f in &leftovers {
        assert!(!std::path::Path::new(f).exists(), "{f} left behind");
    }
    for pid in pids {
        assert!(state::start_time(pid).is_none(), "httpd {pid} still runs");
    }
    // No link was ever created in the host namespace: names there are unchanged
    // except for what other tests running now may add, none of which carries our name.
    let after_links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let after = String::from_utf8_lossy(&after_links.stdout);
    assert!(!after.contains(&name), "{after}");
    let before = String::from_utf8_lossy(&before_links.stdout);
    assert!(!before.contains(&name));
    // Removing it again says so.
    let again = vipd_lab(&["down", "--name", &name])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no lab named"));
}

#[test]
fn two_labs_side_by_side() {
    let a = LabGuard::up(LabOptions {
        reals: 1,
        directors: 1,
        ..opts("ta")
    })
    .expect("lab a");
    let b = LabGuard::up(LabOptions {
        reals: 2,
        directors: 1,
        ..opts("tb")
    })
    .expect("lab b");
    assert_ne!(a.name(), b.name());
    for g in [&a, &b] {
        let r = client::http_get(
            &g.netns("client"),
            (lab::rip(1), 80).into(),
            "/",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.first_line(), "rs1");
    }
    assert!(b.check_node("rs2").is_ok());
    assert!(matches!(
        a.check_node("rs2"),
        Err(LabError::UnknownNode { .. })
    ));
    let a_name = a.name().to_string();
    a.down().unwrap();
    assert!(namespaces_of(&a_name).is_empty());
    // b is untouched by a's removal.
    let r = client::http_get(
        &b.netns("client"),
        (lab::rip(2), 80).into(),
        "/",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.first_line(), "rs2");
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    // Name too long / bad characters: refused before anything is created.
    for bad in ["abcdefghijk", "Bad", "a-b", ""] {
        let e = lab::up(&LabOptions {
            name: bad.into(),
            ..opts("x")
        })
        .unwrap_err();
        assert!(matches!(e, LabError::Plan(_)), "{bad}: {e}");
        assert!(e.to_string().contains("--name"), "{e}");
    }
    assert!(matches!(
        lab::up(&LabOptions {
            reals: 0,
            ..opts("tz")
        }),
        Err(LabError::Plan(_))
    ));

    // An existing name: refused, and the existing lab keeps working.
    let first = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        ..opts("te")
    })
    .unwrap();
    let e = lab::up(&LabOptions {
        name: first.name().into(),
        ..opts("x")
    })
    .unwrap_err();
    assert!(matches!(e, LabError::Exists { .. }), "{e}");
    assert!(e.to_string().contains("vipd lab down"), "{e}");
    assert_eq!(namespaces_of(first.name()).len(), 4);
    client::http_get(
        &first.netns("client"),
        (lab::rip(1), 80).into(),
        "/",
        Duration::from_secs(5),
    )
    .unwrap();
    drop(first);

    // A failure half-way (the HTTP server's binary is missing, found only after the
    // topology is built): clear error, everything rolled back.
    let o = LabOptions {
        vipd_bin: Some("/nonexistent/vipd".into()),
        ..LabOptions::unique("tf")
    };
    let e = lab::up(&o).unwrap_err();
    assert!(matches!(e, LabError::Spawn { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/vipd"), "{e}");
    assert!(
        namespaces_of(&o.name).is_empty(),
        "{:?}",
        namespaces_of(&o.name)
    );
    assert!(!state::dir(&o.name).exists());

    // Not root: clear error, nothing created.
    let name = LabOptions::unique("tr").name;
    let out = vipd_lab(&["up", "--name", &name])
        .env("RUST_BACKTRACE", "0")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs root"), "{err}");
    assert!(namespaces_of(&name).is_empty());
}

#[test]
fn exec_passes_the_exit_code_and_spawned_processes_die_with_the_guard() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        httpd: false,
        ..opts("tx")
    })
    .unwrap();
    // httpd: false: the real server's port 80 is free for the test's own server.
    // `vipd lab exec --name LAB rs1 -- CMD...`
    let exec = |cmd: &[&str]| {
        let mut c = vipd_lab(&["exec", "--name", lab.name(), "rs1", "--"]);
        c.args(cmd);
        c
    };
    let status = exec(&["sh", "-c", "exit 7"]).status().unwrap();
    assert_eq!(status.code(), Some(7));
    // In place: a signal sent to `vipd lab exec` reaches the command (it is
    // the command), as with `ip netns exec`.
    let mut sleeper = exec(&["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = sleeper.wait().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "sleep outlived the TERM"
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(15),
        "{st}"
    );
    let mut own = lab
        .spawn(
            "rs1",
            [
                vipd_bin().to_str().unwrap(),
                "lab",
                "httpd",
                "--node",
                "mine",
                "--listen",
                "0.0.0.0:80",
            ],
        )
        .unwrap();
    let ns = lab.netns("client");
    let mut reply = None;
    for _ in 0..100 {
        if let Ok(r) = client::http_get(&ns, (lab::rip(1), 80).into(), "/", Duration::from_secs(2))
        {
            reply = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reply.expect("own httpd answers").first_line(), "mine");
    let pid = own.id() as i32;
    assert!(state::start_time(pid).is_some());
    drop(lab);
    assert!(
        state::start_time(pid).is_none(),
        "spawned process {pid} survived the guard"
    );
    // Killed by the guard: reap it.
    assert!(!own.wait().unwrap().success());
}

#[test]
fn down_all_removes_every_lab_of_its_state_dir_and_nothing_else() {
    // A private state directory, so `--all` cannot touch labs of tests running now.
    let dir = std::env::temp_dir().join(format!("vipd-lab-test-{}", std::process::id()));
    let other = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        httpd: false,
        ..opts("to")
    })
    .unwrap();
    let names = [LabOptions::unique("tk").name, LabOptions::unique("tl").name];
    for name in &names {
        succeeds(
            vipd_lab(&["up", "--directors", "1", "--reals", "1", "--name", name])
                .env("VIPD_LAB_DIR", &dir)
                .env("RUST_BACKTRACE", "0"),
        );
        assert_eq!(namespaces_of(name).len(), 4);
    }
    let down = succeeds(vipd_lab(&["down", "--all"]).env("VIPD_LAB_DIR", &dir));
    let said = String::from_utf8_lossy(&down.stdout);
    for name in &names {
        assert!(namespaces_of(name).is_empty(), "{name} left namespaces");
        assert!(said.contains(name.as_str()), "{said}");
    }
    assert_eq!(
        namespaces_of(other.name()).len(),
        4,
        "--all touched another state dir's lab"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--rs-cpu`: each real server's httpd runs in a cgroup of its own with the
/// CPU quota asked for (cgroup v1 `cpu` here), and the groups go with the lab.
#[test]
fn rs_cpu_budgets_each_real_servers_httpd() {
    let lab = LabGuard::up(LabOptions {
        rs_cpu: Some(0.05),
        reals: 2,
        directors: 1,
        ..opts("rscpu")
    })
    .expect("lab up");
    let name = lab.name().to_string();
    let group = |n: u8| PathBuf::from(format!("/sys/fs/cgroup/cpu/vipd-lab-{name}-rs{n}"));
    for n in 1..=2u8 {
        let g = group(n);
        let read = |f: &str| std::fs::read_to_string(g.join(f)).unwrap_or_default();
        assert_eq!(read("cpu.cfs_quota_us").trim(), "1000", "{}", g.display());
        assert_eq!(read("cpu.cfs_period_us").trim(), "20000");
        let pids: Vec<i32> = read("cgroup.procs")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        assert_eq!(pids.len(), 1, "the httpd alone: {pids:?}");
        let comm = std::fs::read_to_string(format!("/proc/{}/cmdline", pids[0])).unwrap();
        assert!(
            comm.contains("httpd") && comm.contains(&format!("rs{n}")),
            "{comm:?}"
        );
    }
    // The director's packet processing runs in a thread of its own, not in
    // (and charged to) a real server's httpd.
    let threaded = lab
        .exec_ok("dir1", ["cat", "/sys/class/net/eth1/threaded"])
        .unwrap();
    assert_eq!(threaded.trim(), "1");
    lab.down().unwrap();
    for n in 1..=2u8 {
        assert!(!group(n).exists(), "{} left behind", group(n).display());
    }
}

#[test]
fn rs_cpu_out_of_range_is_refused_before_anything_is_built() {
    let e = LabGuard::up(LabOptions {
        rs_cpu: Some(0.0),
        ..opts("rsbad")
    })
    .unwrap_err();
    assert!(e.to_string().contains("--rs-cpu 0"), "{e}");
}

/// `--ipv6`: every link also carries the IPv6 twin of its addresses and the
/// router forwards IPv6: the client reaches each real server's httpd over
/// IPv6 (a server of its own on [::]:80) and still over IPv4, where the real
/// server sees the client's IPv4 address (no ::ffff: mapping).
#[test]
fn dual_stack_lab_serves_every_real_server_over_both_families() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        ipv6: true,
        ..opts("six")
    })
    .expect("lab up --ipv6");
    let dir1 = lab
        .exec_ok("dir1", ["ip", "-6", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(dir1.contains("2001:db8:85::11/64"), "{dir1}");
    lab.exec_ok("client", ["ping", "-6", "-c1", "-W2", "2001:db8:85::11"])
        .unwrap();
    for n in 1..=3 {
        let v6 = lab
            .exec_ok(
                "client",
                [
                    "curl",
                    "-sS",
                    "-m",
                    "5",
                    &format!("http://[2001:db8:26::{n}]/"),
                ],
            )
            .unwrap();
        assert!(v6.starts_with(&format!("rs{n}\n")), "{v6}");
        assert!(v6.contains("client=[2001:db8:113::2]:"), "{v6}");
        let v4 = lab
            .exec_ok(
                "client",
                ["curl", "-sS", "-m", "5", &format!("http://10.253.26.{n}/")],
            )
            .unwrap();
        assert!(v4.contains("client=203.0.113.2:"), "{v4}");
    }
}
