//! `vipd realserver` in the lab (root only): the seed's story end to end.
//!
//! rs1..rs3 run `vipd realserver up`, dir1 takes the VIP by VRRP (`vipd -f
//! keepalived-master.conf -P`, the seed's config) and runs the XDP director (`vipd
//! datapath run`, TUN); the client fetches
//! `GET /` through the VIP and each real server's `vipd lab httpd` answers, the
//! replies leaving the real servers from the VIP towards the client, never through
//! the director. ARP for the VIP is answered only by the director. `down` leaves
//! every real server as it was.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vipd::lab::client::http_get;
use vipd::lab::{rip, LabGuard, LabOptions, VIP};

/// The vipd under test (`VIPD_BIN` overrides, e.g. to try another build).
fn vipd_bin() -> String {
    std::env::var("VIPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vipd").to_string())
}

/// Removes the realserver state files of the given namespaces on drop (the lab's
/// own teardown deletes the namespaces but does not know vipd realserver's files).
struct StateFiles(Vec<String>);

impl Drop for StateFiles {
    fn drop(&mut self) {
        for ns in &self.0 {
            if let Ok(m) = std::fs::metadata(format!("/run/netns/{ns}")) {
                let ino = std::os::unix::fs::MetadataExt::ino(&m);
                let _ = std::fs::remove_file(format!("/run/vipd/realserver/netns-{ino}.json"));
            }
        }
    }
}

/// Sysctls and addresses of a namespace, for the before/after comparison.
fn snapshot(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c"])
        .arg(
            "for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce \
             /proc/sys/net/ipv4/conf/*/rp_filter; do echo \"$f $(cat $f)\"; done; \
             ip -4 -o addr show; ip -4 route show table all; tc qdisc show; tc filter show dev eth0 ingress",
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// MACs answering an ARP request for `ip` sent from the router on `dev`.
fn arp_responders(lab: &LabGuard, dev: &str, ip: &str) -> Vec<String> {
    let out = lab
        .exec("router", ["arping", "-c", "3", "-W", "0.2", "-i", dev, ip])
        .expect("arping runs (install arping)");
    common::arping_responders(&out.stdout)
}

fn mac(lab: &LabGuard, node: &str, dev: &str) -> String {
    lab.exec_ok(node, ["cat", &format!("/sys/class/net/{dev}/address")])
        .unwrap()
        .trim()
        .to_lowercase()
}

/// Polls `ready` every 0.2 s for 15 s at most; panics if `child` (`what`) exits
/// first or `ready` never holds (`goal`: what did not happen).
fn wait_until(child: &mut Child, what: &str, goal: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited: {st}");
        }
        assert!(Instant::now() < deadline, "{goal}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start tcpdump (6 s) in the router on `port` with `filter`.
fn capture(lab: &LabGuard, port: &str, filter: &str) -> std::process::Child {
    let mut cmd = lab.command("router", "timeout").unwrap();
    cmd.args(["6", "tcpdump", "-i", port, "-nn", "-l", "-q", filter])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    lab.spawn_command("router", &mut cmd)
        .expect("tcpdump runs (install tcpdump)")
}

/// The packet lines tcpdump printed (`... IP SRC.PORT > DST.PORT: tcp N`).
fn captured(child: std::process::Child) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" > "))
        .map(str::to_string)
        .collect()
}

#[test]
fn realserver_lab_http_through_the_vip_with_direct_replies_and_arp_only_from_the_director() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the lab needs root (CI runs tests as root)"
    );
    let vipd = vipd_bin();
    let vipd = vipd.as_str();
    let lab = LabGuard::up(LabOptions {
        vipd_bin: Some(PathBuf::from(vipd)),
        ..LabOptions::unique("t")
    })
    .expect("lab up");
    let reals = ["rs1", "rs2", "rs3"];
    let _files = StateFiles(reals.iter().map(|r| lab.netns(r)).collect());
    let vip = VIP.to_string();

    // Control: a real server with the VIP on lo and default sysctls answers ARP.
    lab.exec_ok(
        "rs1",
        ["ip", "addr", "add", &format!("{vip}/32"), "dev", "lo"],
    )
    .unwrap();
    assert_eq!(
        arp_responders(&lab, "br-rs", &vip),
        vec![mac(&lab, "rs1", "eth0")],
        "control"
    );
    lab.exec_ok(
        "rs1",
        ["ip", "addr", "del", &format!("{vip}/32"), "dev", "lo"],
    )
    .unwrap();

    let before: Vec<String> = reals.iter().map(|r| snapshot(&lab.netns(r))).collect();
    for r in reals {
        let out = lab
            .exec_ok(r, [vipd, "realserver", "up", "--vip", &vip])
            .unwrap();
        assert!(out.contains("decap bpf"), "{r}: {out}");
    }

    // dir1 takes the VIP by VRRP with the seed's MASTER config (eth1, label eth1:1).
    let seed_conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/seed/keepalived-master.conf"
    );
    let mut vrrp = lab
        .spawn("dir1", [vipd, "-f", seed_conf, "-P", "-n"])
        .expect("vipd -P");
    wait_until(
        &mut vrrp,
        "vipd -f keepalived-master.conf -P",
        "dir1 did not become VRRP master with the VIP",
        || {
            lab.exec_ok("dir1", ["ip", "-4", "-o", "addr", "show", "dev", "eth1"])
                .unwrap()
                .contains(&format!("{vip}/32"))
        },
    );
    lab.exec_ok("router", ["ip", "neigh", "flush", "all"])
        .unwrap();
    assert_eq!(
        arp_responders(&lab, "br-dir", &vip),
        vec![mac(&lab, "dir1", "eth1")]
    );
    assert_eq!(
        arp_responders(&lab, "br-rs", &vip),
        Vec::<String>::new(),
        "a real server answered ARP for the VIP"
    );

    let mut director = lab
        .spawn(
            "dir1",
            [
                vipd,
                "datapath",
                "run",
                "--iface",
                "eth1",
                "--vip",
                &format!("{vip}:80"),
                "--sched",
                "rr",
                "--real",
                &format!("{}:80", rip(1)),
                "--real",
                &format!("{}:80", rip(2)),
                "--real",
                &format!("{}:80", rip(3)),
                "--stats-interval",
                "0",
            ],
        )
        .expect("vipd datapath run");

    let target = SocketAddr::new(VIP.into(), 80);
    let client_ns = lab.netns("client");
    // Wait for the director to attach (the VIP is local on dir1, so until then the
    // connection is refused there).
    wait_until(
        &mut director,
        "vipd datapath run",
        "no HTTP answer from a real server through the VIP",
        || {
            http_get(&client_ns, target, "/", Duration::from_secs(2))
                .is_ok_and(|r| r.first_line().starts_with("rs"))
        },
    );

    // The router's port towards rs1 and towards dir1 (named after the node).
    let at_rs1 = capture(&lab, "rs1", &format!("host {vip}"));
    let at_dir1 = capture(&lab, "dir1", &format!("host {vip}"));
    std::thread::sleep(Duration::from_millis(500));
    let mut seen = BTreeSet::new();
    for _ in 0..9 {
        let r = http_get(&client_ns, target, "/", Duration::from_secs(3))
            .expect("GET / through the VIP");
        assert_eq!(r.status, 200);
        seen.insert(r.first_line().to_string());
    }
    assert_eq!(
        seen,
        reals.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        "rr over three real servers"
    );
    let from_vip = format!("IP {vip}.80 > ");
    let to_vip = format!(" > {vip}.80: ");
    let rs1 = captured(at_rs1);
    assert!(
        rs1.iter().any(|l| l.contains(&from_vip)),
        "no reply left rs1 from the VIP: {rs1:?}"
    );
    let dir1 = captured(at_dir1);
    assert!(
        dir1.iter().any(|l| l.contains(&to_vip)),
        "the capture at dir1 saw no client packet (capture broken?): {dir1:?}"
    );
    assert!(
        !dir1.iter().any(|l| l.contains(&format!("IP {vip}."))),
        "VIP-sourced packets went through the director: {dir1:?}"
    );

    for r in reals {
        let st = lab.exec_ok(r, [vipd, "realserver", "status"]).unwrap();
        let n: u64 = st
            .lines()
            .find(|l| l.trim_start().starts_with("decapsulated"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(n > 0 && st.contains("checks:     OK"), "{r}: {st}");
    }

    // Not waited for here: the lab guard reaps every process it spawned when it drops.
    let _ = director.kill();
    let _ = vrrp.kill();
    for (r, b) in reals.iter().zip(&before) {
        lab.exec_ok(r, [vipd, "realserver", "down"]).unwrap();
        assert_eq!(&snapshot(&lab.netns(r)), b, "{r} differs after down");
    }
}
