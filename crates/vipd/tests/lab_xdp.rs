//! The veth fact behind the lab's pass XDP program (root): native XDP_TX on a
//! director's eth1 is dropped unless the bridge-side peer has an XDP program, and
//! `vipd::lab::xdp::attach_pass` fixes it.
//!
//! A tiny XDP program on dir1's eth1 answers pings by XDP_TX; the kernel of dir1
//! never sees them (its ICMP counters stay at zero), so a reply proves the XDP_TX path.

use std::process::Command;

use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use vipd::lab::{netns, xdp, LabGuard, LabOptions};

static REFLECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lab_icmp_reflect.bpf.o"));

fn ping_ok(lab: &LabGuard, from: &str, to: &str) -> bool {
    lab.command(from, "ping")
        .unwrap()
        .args(["-c", "2", "-i", "0.2", "-W", "1", to])
        .output()
        .expect("ping: apt-get install -y iputils-ping")
        .status
        .success()
}

/// `Icmp: ... OutEchoReps` of the namespace of the calling thread.
fn out_echo_reps() -> u64 {
    // /proc/thread-self: /proc/self/net would show the main thread's namespace.
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
    let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (icmp.next().unwrap(), icmp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "OutEchoReps")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn native_xdp_tx_on_eth1_needs_the_pass_program_on_the_peer() {
    let lab = LabGuard::up(LabOptions {
        directors: 1,
        reals: 1,
        httpd: false,
        xdp_pass: false,
        vipd_bin: Some(env!("CARGO_BIN_EXE_vipd").into()),
        ..LabOptions::unique("tp")
    })
    .unwrap();
    let dir1 = lab.netns("dir1");
    let router = lab.netns("router");
    assert!(
        ping_ok(&lab, "router", "10.253.85.11"),
        "kernel answers first"
    );

    // The reflector lives (attached by a BPF link) as long as `ebpf`.
    let ebpf = netns::run_in(&dir1, || {
        let mut ebpf = Ebpf::load(REFLECT).unwrap();
        let prog: &mut Xdp = ebpf
            .program_mut("lab_icmp_reflect")
            .unwrap()
            .try_into()
            .unwrap();
        prog.load().unwrap();
        prog.attach("eth1", XdpMode::Driver).unwrap();
        ebpf
    })
    .unwrap();
    assert!(
        !ping_ok(&lab, "router", "10.253.85.11"),
        "XDP_TX frames arrived without a program on the peer: the veth fact changed"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(xdp::attach_pass(&router, "dir1")).unwrap();
    let before = netns::run_in(&dir1, out_echo_reps).unwrap();
    assert!(
        ping_ok(&lab, "router", "10.253.85.11"),
        "XDP_TX replies lost even with the pass program on the peer"
    );
    assert_eq!(
        netns::run_in(&dir1, out_echo_reps).unwrap(),
        before,
        "dir1's kernel answered: the replies did not come from XDP_TX"
    );
    let ip = Command::new("ip")
        .args(["-n", &router, "-d", "link", "show", "dir1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ip.stdout).contains("xdp_pass"));
    drop(ebpf);
    rt.block_on(xdp::detach(&router, "dir1")).unwrap();
    let ip = Command::new("ip")
        .args(["-n", &router, "-d", "link", "show", "dir1"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&ip.stdout).contains("xdp_pass"));
}
