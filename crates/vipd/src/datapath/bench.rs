//! `vipd datapath bench`: the director's cost per packet on one core, against
//! a bare XDP_TX program, the encapsulation floor and (where it can be measured)
//! kernel IP forwarding, in the same run; and the time to rebuild a Maglev table
//! for many real servers.
//!
//! Two methods, chosen by `--method` (`auto` tries them in this order):
//!
//! **Live frames** (the probe's, see `shared/notes/datapath-probe`): a private
//! namespace holds a veth pair `vbdXXXX` (the director's interface) / `vbsXXXX`
//! (the next hop). `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES` runs an XDP
//! program over a template frame `repeat` times on CPU 0, as if each frame had
//! been received on `vbd`: `XDP_TX` really transmits to the peer and `XDP_PASS`
//! really enters the kernel's stack. The peer runs a counting `XDP_DROP` sink in
//! native mode with threaded NAPI pinned to CPU 1, so the rate measured is the
//! generator core's: building the frame, the program, and the transmit (or, for
//! kernel forwarding, the whole IP forwarding path). Some kernels refuse it
//! (EPERM even for root).
//!
//! **Test runs**: a plain `BPF_PROG_RUN` with `repeat`; the kernel runs the
//! program over the same buffer and reports the mean time per run. It measures
//! the programs' own work (parsing, lookups, helpers, the encapsulation's
//! `bpf_xdp_adjust_head`) and nothing after the verdict: no driver transmit, no
//! frame set-up, and kernel forwarding (an `XDP_PASS`) cannot be measured. Each
//! variant runs behind a wrapper (`vipd_bench_tr_*`) that gives back the head the
//! previous run grew, one helper call that every variant pays. The output of the
//! last run and its verdict are checked (an IPIP frame to a real server;
//! ip6ip6 for the IPv6 variants).
//!
//! Variants (bpf/bench.bpf.c; each first restores what its last pass changed in
//! the recycled page):
//! - `kernel_fwd`: XDP_PASS of a frame to a routed address: Linux forwards it
//!   (live frames only).
//! - `xdp_tx_bare`: rewrite both MACs and XDP_TX: the ceiling.
//! - `xdp_tx_encap_bare`: grow the head, write Ethernet and a fixed outer IPv4
//!   header, XDP_TX: the floor of any IPIP encapsulator, no logic.
//! - `director_est`: the production director, one established connection
//!   (connection-table hit, counters, fib lookup, IPIP encapsulation).
//! - `director_new`: the director with a new connection every packet (table
//!   miss, Maglev lookup, LRU insert, per-real counters).
//! - `director_conn`, `director_conn_sync`: whole connections, two packets each
//!   (the first creates the half-open entry, the second promotes it), with
//!   connection sharing off and on (a thread on the other CPU drains the ring):
//!   the new-connection cost of sharing.
//! - `director_nat_est`, `director_nat_reply`: NAT (VIP:80 -> RIP:8080), a
//!   client's packet of an established connection and a real server's reply
//!   to it (translated back to VIP:80). NAT rewrites the frame in place, so
//!   each pass first copies the 54-byte template back: that copy is part of
//!   these two variants' cost.
//! - `director_est6`, `director_new6`: `director_est` and `director_new` in
//!   IPv6 (the director's IPv6 path, `vipd_director6`): a 74-byte TCP ACK from
//!   2001:db8:71::7 to the IPv6 VIP 2001:db8:85::250:80, TUN to three IPv6
//!   real servers (ip6ip6, 40 bytes in front, outer source the interface's
//!   2001:db8:85::11). The namespace gets IPv6 (forwarding on the director's
//!   interface, which `bpf_fib_lookup` requires, and a static neighbour) only
//!   when one of them is measured.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use aya::Pod;
use vipd_core::plan::{Forward, Planner, Proto, ServiceSpec};
use vipd_core::sched::{self, RealSpec, Scheduler};

use super::{Director, Sizes, BENCH_OBJ};

/// Measure the data plane on one core (root; uses a private namespace).
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Frames per measurement.
    #[arg(long, default_value_t = 5_000_000)]
    pub packets: u32,
    /// Rounds (each measures every variant once, interleaved).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Real servers for the Maglev rebuild timing.
    #[arg(long, default_value_t = 1000)]
    pub maglev_reals: usize,
    /// Print the results as a Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// Measure this build of `bpf/bench.bpf.c` instead of the embedded one (for
    /// A/B comparisons of a BPF change without rebuilding vipd), e.g.
    /// `clang -O2 -g -target bpf -Ibpf -I/usr/include/x86_64-linux-gnu -DX -c
    /// bpf/bench.bpf.c -o /tmp/b.o`.
    #[arg(long, value_name = "FILE")]
    pub object: Option<std::path::PathBuf>,
    /// Measure only these variants (comma-separated; xdp_tx_bare, the baseline,
    /// is always measured): kernel_fwd, xdp_tx_bare, xdp_tx_encap_bare,
    /// director_est, director_new, director_conn, director_conn_sync,
    /// director_nat_est, director_nat_reply, director_est6, director_new6.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub variants: Vec<String>,
    /// How to measure: live frames (real transmit; refused by some kernels),
    /// plain test runs (the programs' own time per packet), or the first of the
    /// two that this kernel allows.
    #[arg(long, value_enum, default_value_t = MethodChoice::Auto)]
    pub method: MethodChoice,
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodChoice {
    /// Live frames where the kernel allows them, else test runs.
    Auto,
    /// `BPF_F_TEST_XDP_LIVE_FRAMES`: frames really transmitted to a sink.
    LiveFrames,
    /// Plain `BPF_PROG_RUN` with `repeat`: the kernel's mean time per run.
    TestRun,
}

/// The method a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Live frames, transmitted to a counting sink.
    LiveFrames,
    /// Plain test runs timed by the kernel.
    TestRun,
}

impl Method {
    /// How the method is named in the output.
    pub fn describe(self) -> &'static str {
        match self {
            Method::LiveFrames => {
                "live frames (BPF_F_TEST_XDP_LIVE_FRAMES: each frame transmitted by the veth driver to a sink; time per packet on the generator core)"
            }
            Method::TestRun => {
                "test runs (plain BPF_PROG_RUN with repeat: the program's own time per packet as the kernel measures it; no driver transmit; kernel forwarding not measurable)"
            }
        }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct BenchL2 {
    own: [u8; 6],
    client: [u8; 6],
    next: [u8; 6],
    _pad: [u8; 2],
}

// SAFETY: repr(C), bytes only, explicit padding.
#[expect(unsafe_code, reason = "aya::Pod is how aya copies map values")]
unsafe impl Pod for BenchL2 {}

const OWN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x85, 0x11];
const NEXT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x85, 0x01];
const VIP: &str = "10.253.85.250";
const VIP6: &str = "2001:db8:85::250";
/// The director interface's IPv6 address: the ip6ip6 outer source.
const DIP6: &str = "2001:db8:85::11";
const CLIENT6: &str = "2001:db8:71::7";

/// Every variant, in the order they run and print.
pub const VARIANTS: [&str; 11] = [
    "kernel_fwd",
    "xdp_tx_bare",
    "xdp_tx_encap_bare",
    "director_est",
    "director_new",
    "director_conn",
    "director_conn_sync",
    "director_nat_est",
    "director_nat_reply",
    "director_est6",
    "director_new6",
];

/// The IPv6 variants and the IPv4 ones they mirror (the bench prints their
/// ratio per round).
const V6_PAIRS: [(&str, &str); 2] = [
    ("director_est6", "director_est"),
    ("director_new6", "director_new"),
];

/// Whether a variant sends IPv6 frames (and needs IPv6 in the namespace).
fn is_v6(name: &str) -> bool {
    name.ends_with('6')
}

/// One measurement.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Round, from 0.
    pub round: u32,
    /// Variant name.
    pub variant: &'static str,
    /// Frames per second on the generator core.
    pub pps: f64,
    /// Fraction of the frames the sink received (live frames); `None` for test
    /// runs, where nothing is transmitted (the last output is checked instead).
    pub delivered: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// The method used.
    pub method: Method,
    /// Why live frames were not used, when they were not (the kernel's answer).
    pub live_frames_refused: Option<String>,
    /// Every measurement.
    pub samples: Vec<Sample>,
    /// The Maglev rebuild timings.
    pub maglev: MaglevTiming,
    /// The private namespace the run used (removed before `run` returns).
    pub namespace: String,
}

const XDP_TX: u32 = 3;

struct NsGuard(String);

impl Drop for NsGuard {
    fn drop(&mut self) {
        let _ = crate::lab::netns::del(&self.0);
    }
}

fn sh(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// A template frame: Ethernet to the director's MAC, IPv4 203.0.113.7 -> `dst`,
/// TCP ACK from port 40000 to 80, no payload (54 bytes).
fn frame(dst: std::net::Ipv4Addr) -> Vec<u8> {
    frame4([203, 0, 113, 7].into(), dst, 40000, 80)
}

/// The NAT reply template: 10.253.26.1:8080 -> 203.0.113.7:40000, a TCP ACK.
fn nat_reply_frame() -> Vec<u8> {
    frame4(
        [10, 253, 26, 1].into(),
        [203, 0, 113, 7].into(),
        8080,
        40000,
    )
}

/// An Ethernet frame to the director's MAC with a TCP ACK `src`:`sport` ->
/// `dst`:`dport`, no payload (54 bytes; TCP checksum 0: nothing checks it).
fn frame4(src: std::net::Ipv4Addr, dst: std::net::Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(54);
    f.extend_from_slice(&OWN_MAC);
    f.extend_from_slice(&NEXT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let mut s = 0u32;
    for c in ip.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    ip[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp_ack(sport, dport));
    f
}

/// A TCP ACK header `sport` -> `dport`, window 512, checksum 0.
fn tcp_ack(sport: u16, dport: u16) -> [u8; 20] {
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;
    tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
    tcp
}

/// `frame4` in IPv6: an Ethernet frame to the director's MAC with a TCP ACK
/// `src`:`sport` -> `dst`:`dport`, hop limit 64, no payload (74 bytes).
fn frame6(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(74);
    f.extend_from_slice(&OWN_MAC);
    f.extend_from_slice(&NEXT_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    let mut ip = [0u8; 40];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&20u16.to_be_bytes());
    ip[6] = 6;
    ip[7] = 64;
    ip[8..24].copy_from_slice(&src.octets());
    ip[24..40].copy_from_slice(&dst.octets());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp_ack(sport, dport));
    f
}

fn pin_current_thread(cpu: usize) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

/// Pins the sink interface's NAPI kthreads (threaded NAPI) to `cpu`.
fn pin_napi(iface: &str, cpu: usize) -> anyhow::Result<usize> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    let want = format!("napi/{iface}-");
    let mut n = 0;
    for e in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(&want) {
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Runs the benchmark; returns the samples (round-major) and the Maglev timings.
pub fn run(a: &BenchArgs) -> anyhow::Result<BenchResult> {
    if !nix::unistd::geteuid().is_root() {
        bail!("vipd datapath bench loads BPF programs and creates a namespace: run it as root");
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let sink_cpu = if ncpu > 1 { 1 } else { 0 };
    // Unique per run, also for runs in parallel threads of one process (tests).
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run_no = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xff;
    let tag = format!("{:04x}{run_no:x}", std::process::id() & 0xffff);
    let ns = format!("vdb{tag}");
    let (bd, bs) = (format!("vbd{tag}"), format!("vbs{tag}"));
    crate::lab::netns::add(&ns)?;
    let guard = NsGuard(ns.clone());
    let n = |args: &[&str]| -> anyhow::Result<()> {
        let mut v = vec!["ip", "-n", ns.as_str()];
        v.extend_from_slice(args);
        sh(&v)
    };
    let want6 = a.variants.is_empty() || a.variants.iter().any(|v| is_v6(v));
    if want6 {
        // Before the interfaces exist, so that they are created with IPv6.
        for k in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            crate::lab::netns::sysctl(&ns, k, "0")?;
        }
    }
    n(&[
        "link",
        "add",
        &bd,
        "address",
        "02:00:00:00:85:11",
        "type",
        "veth",
        "peer",
        "name",
        &bs,
        "address",
        "02:00:00:00:85:01",
    ])?;
    n(&["link", "set", "lo", "up"])?;
    n(&["link", "set", &bd, "up"])?;
    n(&["link", "set", &bs, "up"])?;
    n(&["addr", "add", "10.253.85.11/24", "dev", &bd])?;
    n(&[
        "neigh",
        "replace",
        "10.253.85.1",
        "lladdr",
        "02:00:00:00:85:01",
        "dev",
        &bd,
        "nud",
        "permanent",
    ])?;
    n(&["route", "add", "10.253.26.0/24", "via", "10.253.85.1"])?;
    n(&["route", "add", "203.0.113.0/24", "via", "10.253.85.1"])?;
    for (k, v) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
        ("net.ipv4.conf.all.rp_filter", "0"),
    ] {
        crate::lab::netns::sysctl(&ns, k, v)?;
    }
    for k in [
        format!("net.ipv4.conf.{bd}.send_redirects"),
        format!("net.ipv4.conf.{bd}.rp_filter"),
    ] {
        crate::lab::netns::sysctl(&ns, &k, "0")?;
    }
    if want6 {
        // As for IPv4: the real servers (and clients) behind the next hop,
        // resolved statically; bpf_fib_lookup(AF_INET6) answers only when
        // the ingress interface forwards IPv6.
        n(&[
            "-6",
            "addr",
            "add",
            &format!("{DIP6}/64"),
            "dev",
            &bd,
            "nodad",
        ])?;
        crate::lab::netns::sysctl(&ns, &format!("net.ipv6.conf.{bd}.forwarding"), "1")?;
        n(&[
            "-6",
            "neigh",
            "replace",
            "2001:db8:85::1",
            "lladdr",
            "02:00:00:00:85:01",
            "dev",
            &bd,
            "nud",
            "permanent",
        ])?;
        n(&[
            "-6",
            "route",
            "add",
            "2001:db8:26::/64",
            "via",
            "2001:db8:85::1",
        ])?;
        n(&[
            "-6",
            "route",
            "add",
            "2001:db8:71::/64",
            "via",
            "2001:db8:85::1",
        ])?;
    }

    let packets = a.packets;
    let rounds = a.rounds;
    let only = a.variants.clone();
    let object: std::borrow::Cow<'static, [u8]> = match &a.object {
        Some(p) => std::fs::read(p)
            .with_context(|| format!("reading {}", p.display()))?
            .into(),
        None => BENCH_OBJ.into(),
    };
    let ns2 = ns.clone();
    let choice = a.method;
    let measured = crate::lab::netns::run_in(
        &ns,
        move || -> anyhow::Result<(Method, Option<String>, Vec<Sample>)> {
            let ns = ns2;
            // The sink: native XDP on the peer (veth needs one to receive XDP_TX).
            let mut sink = Director::load_object(BENCH_OBJ, "vipd_bench_sink", small())?;
            {
                let p: &mut Xdp = sink
                    .ebpf_mut()
                    .program_mut("vipd_bench_sink")
                    .expect("in object")
                    .try_into()?;
                p.attach(&bs, XdpMode::Driver)
                    .context("attach the sink in native mode")?;
            }
            // Threaded NAPI (veth has NAPI once an XDP program is attached), so the
            // sink's work can be pinned away from the generator's core.
            sh(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sh",
                "-c",
                &format!("echo 1 > /sys/class/net/{bs}/threaded"),
            ])?;
            let pinned = pin_napi(&bs, sink_cpu)?;
            tracing::info!(pinned, "sink NAPI threads pinned to CPU {sink_cpu}");
            pin_current_thread(0)?;
            let ifindex = nix::net::if_::if_nametoindex(bd.as_str())?;
            let vip_frame = frame(VIP.parse()?);
            let fwd_frame = frame("10.253.26.1".parse()?);
            let reply_frame = nat_reply_frame();
            let vip6_frame = frame6(CLIENT6.parse()?, VIP6.parse()?, 40000, 80);
            // (name, live-frames program, test-run program, frame)
            let variants: [(&'static str, &'static str, &'static str, &Vec<u8>); 11] = [
                ("kernel_fwd", "vipd_bench_kernel_fwd", "", &fwd_frame),
                (
                    "xdp_tx_bare",
                    "vipd_bench_tx_bare",
                    "vipd_bench_tr_tx_bare",
                    &vip_frame,
                ),
                (
                    "xdp_tx_encap_bare",
                    "vipd_bench_tx_encap_bare",
                    "vipd_bench_tr_tx_encap_bare",
                    &vip_frame,
                ),
                (
                    "director_est",
                    "vipd_bench_director_est",
                    "vipd_bench_tr_director_est",
                    &vip_frame,
                ),
                (
                    "director_new",
                    "vipd_bench_director_new",
                    "vipd_bench_tr_director_new",
                    &vip_frame,
                ),
                (
                    "director_conn",
                    "vipd_bench_director_conn",
                    "vipd_bench_tr_director_conn",
                    &vip_frame,
                ),
                (
                    "director_conn_sync",
                    "vipd_bench_director_conn",
                    "vipd_bench_tr_director_conn",
                    &vip_frame,
                ),
                (
                    "director_nat_est",
                    "vipd_bench_director_nat_est",
                    "vipd_bench_tr_director_nat_est",
                    &vip_frame,
                ),
                (
                    "director_nat_reply",
                    "vipd_bench_director_nat_reply",
                    "vipd_bench_tr_director_nat_reply",
                    &reply_frame,
                ),
                (
                    "director_est6",
                    "vipd_bench_director_est6",
                    "vipd_bench_tr_director_est6",
                    &vip6_frame,
                ),
                (
                    "director_new6",
                    "vipd_bench_director_new6",
                    "vipd_bench_tr_director_new6",
                    &vip6_frame,
                ),
            ];
            for v in &only {
                if !variants.iter().any(|(name, ..)| name == v) {
                    bail!("--variants: no variant {v:?} ({})", VARIANTS.join(", "));
                }
            }
            // The method: live frames where the kernel allows them.
            let (method, refused) = match choice {
                MethodChoice::TestRun => (Method::TestRun, None),
                MethodChoice::LiveFrames | MethodChoice::Auto => {
                    match probe_live_frames(&object, &vip_frame, ifindex) {
                        Ok(()) => (Method::LiveFrames, None),
                        Err(e) if choice == MethodChoice::Auto && refused_by_kernel(&e) => {
                            (Method::TestRun, Some(format!("{e:#}")))
                        }
                        Err(e) => return Err(e.context("live frames (--method live-frames)")),
                    }
                }
            };
            tracing::info!(method = method.describe(), "measuring");
            let mut out = Vec::new();
            for round in 0..rounds {
                for (name, live_prog, tr_prog, f) in variants {
                    if !only.is_empty() && name != "xdp_tx_bare" && !only.iter().any(|v| v == name)
                    {
                        continue;
                    }
                    if method == Method::TestRun && name == "kernel_fwd" {
                        continue; // an XDP_PASS goes nowhere without live frames
                    }
                    let prog_name = match method {
                        Method::LiveFrames => live_prog,
                        Method::TestRun => tr_prog,
                    };
                    let mut d = Director::load_object(
                        &object,
                        prog_name,
                        Sizes {
                            services: 4,
                            ..Sizes::default()
                        },
                    )?;
                    d.sync_ifaddrs()?;
                    let mut planner = Planner::new(4, 64);
                    let nat = name.starts_with("director_nat");
                    let svc = if nat {
                        nat_service()
                    } else if is_v6(name) {
                        bench_service6()
                    } else {
                        bench_service()
                    };
                    let plan = planner.plan(&[svc])?;
                    d.apply(&plan)?;
                    set_l2(&mut d)?;
                    if nat {
                        set_nat_templates(&mut d, &vip_frame, &reply_frame, &plan)?;
                    }
                    // Sharing on: promoted connections go to the ring, which a
                    // thread on the other CPU drains as the daemon would.
                    let drain = if name == "director_conn_sync" {
                        d.set_sync(true)?;
                        Some(Drain::start(d.take_sync_ring()?, sink_cpu))
                    } else {
                        None
                    };
                    let md: Vec<u8> = [0u32, f.len() as u32, 0, ifindex, 0, 0]
                        .iter()
                        .flat_map(|w| w.to_ne_bytes())
                        .collect();
                    let (pps, delivered) = match method {
                        Method::LiveFrames => {
                            let before = sink_count(&mut sink)?;
                            let t = Instant::now();
                            d.program()
                                .test_run(TestRunOptions {
                                    data_in: Some(f),
                                    ctx_in: Some(&md),
                                    repeat: packets,
                                    attrs: TestRunAttrs::new().xdp_live_frames(64),
                                    ..Default::default()
                                })
                                .with_context(|| format!("live-frames run of {prog_name}"))?;
                            let dt = t.elapsed().as_secs_f64();
                            std::thread::sleep(std::time::Duration::from_millis(300));
                            let got = sink_count(&mut sink)? - before;
                            (
                                f64::from(packets) / dt,
                                Some(got as f64 / f64::from(packets)),
                            )
                        }
                        Method::TestRun => {
                            {
                                let mut g: Array<&mut MapData, i32> = Array::try_from(
                                    d.ebpf_mut().map_mut("bench_grown").expect("in object"),
                                )?;
                                g.set(0, 0, 0)?;
                            }
                            let mut outbuf = vec![0u8; 512];
                            let r = d
                                .program()
                                .test_run(TestRunOptions {
                                    data_in: Some(f),
                                    data_out: Some(&mut outbuf),
                                    ctx_in: Some(&md),
                                    repeat: packets,
                                    ..Default::default()
                                })
                                .with_context(|| format!("test run of {prog_name}"))?;
                            outbuf.truncate(r.data_size_out as usize);
                            check_output(name, r.return_value, &outbuf)?;
                            let ns = r.duration.as_nanos() as f64;
                            if ns <= 0.0 {
                                bail!("{name}: the kernel reported 0 ns per run ({packets} runs)");
                            }
                            (1e9 / ns, None)
                        }
                    };
                    if let Some(dr) = drain {
                        let got = dr.stop();
                        let c = d.counters()?;
                        let sent = c[super::counter_index("sync_sent").expect("counter")];
                        if sent == 0 || got == 0 {
                            bail!("{name}: sharing on, but {sent} connections shared and {got} read from the ring");
                        }
                    }
                    if name.starts_with("director") {
                        let c = d.counters()?;
                        let drops: u64 = c[..10].iter().sum();
                        if drops > 0 {
                            bail!("{name}: the director dropped {drops} frames: {c:?}");
                        }
                    }
                    out.push(Sample {
                        round,
                        variant: name,
                        pps,
                        delivered,
                    });
                }
            }
            Ok((method, refused, out))
        },
    )??;
    let (method, live_frames_refused, samples) = measured;
    drop(guard); // the namespace goes now, before the Maglev timing
    Ok(BenchResult {
        method,
        live_frames_refused,
        samples,
        maglev: maglev_timing(a.maglev_reals)?,
        namespace: ns,
    })
}

/// A thread that reads the sharing ring until stopped (what the daemon does).
struct Drain {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Drain {
    fn start(mut ring: aya::maps::RingBuf<MapData>, cpu: usize) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let _ = pin_current_thread(cpu);
            let mut n = 0u64;
            loop {
                let mut got = false;
                while let Some(item) = ring.next() {
                    n += u64::from(!item.is_empty());
                    got = true;
                }
                if !got {
                    if s.load(std::sync::atomic::Ordering::Relaxed) {
                        return n;
                    }
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
            }
        });
        Self { stop, thread }
    }

    /// Stops; how many records were read.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

fn set_l2(d: &mut Director) -> anyhow::Result<()> {
    let mut m: Array<&mut MapData, BenchL2> =
        Array::try_from(d.ebpf_mut().map_mut("bench_l2").expect("in object"))?;
    m.set(
        0,
        BenchL2 {
            own: OWN_MAC,
            client: NEXT_MAC,
            next: NEXT_MAC,
            _pad: [0; 2],
        },
        0,
    )?;
    Ok(())
}

/// One live-frames run of the bare program: Ok if the kernel allows the method.
fn probe_live_frames(object: &[u8], frame: &[u8], ifindex: u32) -> anyhow::Result<()> {
    let mut d = Director::load_object(object, "vipd_bench_tx_bare", small())?;
    set_l2(&mut d)?;
    let md: Vec<u8> = [0u32, frame.len() as u32, 0, ifindex, 0, 0]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    d.program()
        .test_run(TestRunOptions {
            data_in: Some(frame),
            ctx_in: Some(&md),
            repeat: 1,
            attrs: TestRunAttrs::new().xdp_live_frames(64),
            ..Default::default()
        })
        .context("a live-frames run of vipd_bench_tx_bare")?;
    Ok(())
}

/// Whether an error is the kernel refusing the method (not a bug of ours).
fn refused_by_kernel(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|n| [libc::EPERM, libc::EINVAL, libc::EOPNOTSUPP, 524].contains(&n))
    })
}

/// The last test run's verdict and output: XDP_TX of an Ethernet frame; for
/// the encapsulating variants an IPIP packet from the director to a real server
/// carrying the template's inner packet (ip6ip6 for the IPv6 variants).
fn check_output(name: &str, verdict: u32, out: &[u8]) -> anyhow::Result<()> {
    if verdict != XDP_TX {
        bail!("{name}: verdict {verdict}, expected XDP_TX ({XDP_TX})");
    }
    if name == "director_nat_est" {
        // To a real server's port 8080, from the client.
        let ok = out.len() == 54
            && out[26..30] == [203, 0, 113, 7]
            && out[30..33] == [10, 253, 26]
            && out[36..38] == 8080u16.to_be_bytes();
        if !ok {
            bail!("{name}: not the client's packet to RIP:8080: {out:02x?}");
        }
        return Ok(());
    }
    if name == "director_nat_reply" {
        // From VIP:80, TTL 63 (forwarded).
        let ok = out.len() == 54
            && out[22] == 63
            && out[26..30] == [10, 253, 85, 250]
            && out[34..36] == 80u16.to_be_bytes();
        if !ok {
            bail!("{name}: not the reply from VIP:80: {out:02x?}");
        }
        return Ok(());
    }
    if is_v6(name) {
        return check_output6(name, out);
    }
    if name == "xdp_tx_bare" {
        if out.len() != 54 || out[..6] != NEXT_MAC || out[6..12] != OWN_MAC {
            bail!("{name}: unexpected output frame {out:02x?}");
        }
        return Ok(());
    }
    let ok = out.len() == 74
        && out[12..14] == [0x08, 0x00]
        && out[14] == 0x45
        && out[23] == 4 // IPPROTO_IPIP
        && out[30..33] == [10, 253, 26] // a real server 10.253.26.x
        && (1..=3).contains(&out[33])
        && out[34] == 0x45
        && out[50..54] == [10, 253, 85, 250]; // inner destination: the VIP
    if !ok {
        bail!("{name}: the output is not an IPIP packet to a real server: {out:02x?}");
    }
    Ok(())
}

/// The IPv6 variants' output: ip6ip6 (outer next header 41) from the
/// director's IPv6 address to one of the three IPv6 real servers, sent to the
/// next hop's MAC, carrying the template's packet to the VIP unchanged in
/// length.
fn check_output6(name: &str, out: &[u8]) -> anyhow::Result<()> {
    let dip6: std::net::Ipv6Addr = DIP6.parse()?;
    let vip6: std::net::Ipv6Addr = VIP6.parse()?;
    let rs = |o: &[u8]| {
        let a = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(o).expect("16 bytes"));
        (1..=3).any(|i| a == std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x26, 0, 0, 0, 0, i))
    };
    let ok = out.len() == 114
        && out[..6] == NEXT_MAC
        && out[6..12] == OWN_MAC
        && out[12..14] == [0x86, 0xdd]
        && out[14] >> 4 == 6
        && out[18..20] == 60u16.to_be_bytes() // the inner packet: 40 + 20
        && out[20] == 41 // IPPROTO_IPV6: ip6ip6
        && out[22..38] == dip6.octets()
        && rs(&out[38..54])
        && out[54] >> 4 == 6
        && out[60] == 6 // inner next header: TCP
        && out[78..94] == vip6.octets() // inner destination: the VIP
        && out[96..98] == 80u16.to_be_bytes();
    if !ok {
        bail!("{name}: the output is not an ip6ip6 packet to a real server: {out:02x?}");
    }
    Ok(())
}

/// The IPv6 variants' service: `bench_service` with an IPv6 VIP and three IPv6
/// real servers (TUN: ip6ip6).
fn bench_service6() -> ServiceSpec {
    let mut s = bench_service();
    s.vip = VIP6.parse().expect("literal");
    // 1500 - 40 (outer IPv6) - 40 (IPv6) - 20 (TCP); only SYNs are clamped.
    s.mss = Some(1400);
    s.reals = (1..=3)
        .map(|i| RealSpec {
            rip: format!("2001:db8:26::{i}").parse().expect("literal"),
            port: 80,
            weight: 1,
        })
        .collect();
    s
}

/// The NAT variants' service: VIP:80 to the three real servers' port 8080.
fn nat_service() -> ServiceSpec {
    let mut s = bench_service();
    s.forward = Forward::Nat;
    s.mss = None;
    for r in &mut s.reals {
        r.port = 8080;
    }
    s
}

/// The NAT variants' templates (what each pass writes back), and the reply
/// translation of the client's connection to rs1, as the program writes it
/// with the connection (a reply run alone has no client packet before it).
fn set_nat_templates(
    d: &mut Director,
    client: &[u8],
    reply: &[u8],
    plan: &vipd_core::plan::Plan,
) -> anyhow::Result<()> {
    {
        let mut m: Array<&mut MapData, BenchTmpl> =
            Array::try_from(d.ebpf_mut().map_mut("bench_tmpl").expect("in object"))?;
        for (i, f) in [client, reply].into_iter().enumerate() {
            let mut t = BenchTmpl { b: [0; 56] };
            t.b[..f.len()].copy_from_slice(f);
            m.set(i as u32, t, 0)?;
        }
    }
    let rs1: std::net::IpAddr = "10.253.26.1".parse()?;
    let dest = plan
        .dests
        .iter()
        .find(|x| x.rip == rs1)
        .context("rs1 in the plan")?;
    let words = |ip: &str| -> anyhow::Result<[u32; 4]> { Ok(super::abi::addr_words(ip.parse()?)) };
    let reply_flow = super::abi::Flow {
        src: words("10.253.26.1")?,
        dst: words("203.0.113.7")?,
        sport: 8080u16.to_be(),
        dport: 40000u16.to_be(),
        proto: 6,
        family: super::abi::AF_INET,
        _pad: [0; 2],
    };
    d.set_nat_rev(
        &reply_flow,
        super::abi::NatRev {
            vip: words(VIP)?,
            vport: 80u16.to_be(),
            svc: dest.slot,
            dest: dest.id,
            ..Default::default()
        },
    )?;
    Ok(())
}

/// `struct vipd_bench_tmpl`.
#[repr(C)]
#[derive(Clone, Copy)]
struct BenchTmpl {
    b: [u8; 56],
}

// SAFETY: plain bytes.
#[allow(unsafe_code, reason = "aya::Pod is an unsafe marker trait")]
unsafe impl Pod for BenchTmpl {}

fn small() -> Sizes {
    Sizes {
        services: 1,
        dests: 8,
        conns: 64,
        half_open: 64,
    }
}

fn sink_count(sink: &mut Director) -> anyhow::Result<u64> {
    let m: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(sink.ebpf_mut().map("bench_sink").expect("in object"))?;
    Ok(m.get(&0, 0)?.iter().sum())
}

fn bench_service() -> ServiceSpec {
    ServiceSpec {
        vip: VIP.parse().expect("literal"),
        port: 80,
        proto: Proto::Tcp,
        sched: Scheduler::Mh,
        // Flows differ by client port: hash it, as mh-port does.
        flags: vipd_core::sched::SchedFlags {
            port: true,
            fallback: false,
        },
        ops: false,
        forward: Forward::Tun,
        forward_of: Default::default(),
        persistence: None,
        mss: Some(1440),
        reals: (1..=3)
            .map(|i| RealSpec {
                rip: format!("10.253.26.{i}").parse().expect("literal"),
                port: 80,
                weight: 1,
            })
            .collect(),
    }
}

/// Maglev rebuild timings.
#[derive(Debug, Clone)]
pub struct MaglevTiming {
    /// Real servers.
    pub reals: usize,
    /// Building the 65537-slot table (vipd-core), best of 5, seconds.
    pub build_s: f64,
    /// Building it and writing it to the kernel map (the whole flip), best of
    /// 5, seconds.
    pub build_and_write_s: f64,
}

fn maglev_timing(n: usize) -> anyhow::Result<MaglevTiming> {
    let reals: Vec<RealSpec> = (0..n)
        .map(|i| RealSpec {
            rip: std::net::Ipv4Addr::from(0x0afd_0000u32 + i as u32 + 1).into(),
            port: 80,
            weight: 1,
        })
        .collect();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let table = sched::build(Scheduler::Mh, &reals)?;
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(table.entries().len(), sched::MAGLEV_SIZE);
    }
    let mut d = Director::load(Sizes {
        services: 1,
        dests: (n as u32).max(64),
        conns: 64,
        half_open: 64,
    })?;
    let mut planner = Planner::new(1, n.max(64));
    let mut spec = bench_service();
    spec.reals = reals;
    // Best of 5 as well: each apply writes the idle half and flips, the same work.
    let mut whole = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let plan = planner.plan(std::slice::from_ref(&spec))?;
        d.apply(&plan)?;
        whole = whole.min(t.elapsed().as_secs_f64());
    }
    Ok(MaglevTiming {
        reals: n,
        build_s: best,
        build_and_write_s: whole,
    })
}

/// Runs and prints.
pub fn main(a: &BenchArgs) -> anyhow::Result<()> {
    let res = run(a)?;
    let (samples, mt) = (&res.samples, &res.maglev);
    println!("method: {}", res.method.describe());
    if let Some(why) = &res.live_frames_refused {
        println!("  (live frames refused by this kernel: {why})");
    }
    let names = VARIANTS;
    let mean = |v: &str| {
        let xs: Vec<f64> = samples
            .iter()
            .filter(|s| s.variant == v)
            .map(|s| s.pps)
            .collect();
        xs.iter().sum::<f64>() / xs.len().max(1) as f64
    };
    // Ratios are taken within each round (the machine's speed drifts between
    // rounds more than the variants differ), then the median over rounds.
    let median_ratio = |v: &str, base: &str| -> Option<f64> {
        let mut r: Vec<f64> = samples
            .iter()
            .filter(|s| s.variant == v)
            .filter_map(|s| {
                samples
                    .iter()
                    .find(|b| b.variant == base && b.round == s.round)
                    .map(|b| s.pps / b.pps)
            })
            .collect();
        r.sort_by(f64::total_cmp);
        (!r.is_empty()).then(|| r[r.len() / 2])
    };
    let fmt = |x: Option<f64>, suffix: &str, width: usize| {
        x.map_or_else(
            || format!("{:>width$}", "-"),
            |x| format!("{x:>width$.2}{suffix}"),
        )
    };
    if a.markdown {
        println!("| variant | Mpps per round | mean Mpps | ns/pkt | vs bare XDP_TX (median of rounds) | vs encap floor (median of rounds) | vs kernel fwd (median of rounds) | delivered |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    }
    for v in names {
        let rs: Vec<&Sample> = samples.iter().filter(|s| s.variant == v).collect();
        if rs.is_empty() {
            continue;
        }
        let per: Vec<String> = rs.iter().map(|s| format!("{:.2}", s.pps / 1e6)).collect();
        let m = mean(v);
        let deliv = rs
            .iter()
            .filter_map(|s| s.delivered)
            .reduce(f64::min)
            .map_or_else(
                || "- (last output checked)".to_string(),
                |d| format!(">= {:.0}%", d * 100.0),
            );
        let vs_bare = median_ratio(v, "xdp_tx_bare");
        let vs_kfwd = median_ratio(v, "kernel_fwd");
        let vs_encap = median_ratio(v, "xdp_tx_encap_bare");
        if a.markdown {
            println!(
                "| {v} | {} | {:.2} | {:.0} | {} | {} | {} | {deliv} |",
                per.join(" / "),
                m / 1e6,
                1e9 / m,
                fmt(vs_bare, "", 0),
                fmt(vs_encap, "", 0),
                fmt(vs_kfwd, "x", 0),
            );
        } else {
            println!(
                "{v:<17} {:>6.2} Mpps ({:>4.0} ns/pkt)  rounds {}  {} of bare XDP_TX  {} of encap floor  {} kernel fwd  delivered {deliv}",
                m / 1e6,
                1e9 / m,
                per.join(" "),
                fmt(vs_bare, "x", 5),
                fmt(vs_encap, "x", 5),
                fmt(vs_kfwd, "x", 5),
            );
        }
    }
    for (v6, v4) in V6_PAIRS {
        if let Some(r) = median_ratio(v4, v6) {
            // pps(v4) / pps(v6): the IPv6 variant's time per packet over the IPv4 one's.
            println!("{v6} / {v4}: {r:.3}x the time per packet (median of rounds)");
        }
    }
    println!(
        "maglev: {} reals, 65537 slots: build {:.2} ms; build + write to the kernel map {:.1} ms (each the best of 5)",
        mt.reals, mt.build_s * 1e3, mt.build_and_write_s * 1e3
    );
    Ok(())
}
