//! `vipd datapath run`: the data plane on its own, without VRRP or health checks.
//!
//! The caller is expected to hold the VIP already (e.g. `ip addr add VIP/32 dev
//! lo`, or keepalived's `static_ipaddress`); this command loads the director,
//! writes one virtual server's tables, attaches to the interface, keeps the real
//! servers' next hops resolved and prints the counters until SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use vipd_core::plan::{Forward, Persistence, Planner, Proto, ServiceSpec};
use vipd_core::sched::{RealSpec, Scheduler};

use super::{AttachMode, Director, Sizes};

/// Run vipd's XDP director alone on one interface, for one virtual server.
///
/// Example (in the director's network namespace, VIP already on `lo`):
///
///   vipd datapath run --iface eth1 --vip 10.253.85.250:80 --sched rr \
///        --real 10.253.26.1:80 --real 10.253.26.2:80 --real 10.253.26.3:80
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Interface receiving the clients' packets for the VIP (the director's LAN).
    #[arg(long)]
    pub iface: String,
    /// Virtual server ADDRESS:PORT (port 0 = every port, for persistent services).
    #[arg(long)]
    pub vip: SocketAddr,
    /// Protocol of the virtual server: tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// Scheduler (lb_algo): rr wrr sh dh mh lc wlc sed nq.
    #[arg(long, default_value = "rr")]
    pub sched: String,
    /// Forwarding method (lb_kind): TUN (IP-in-IP) or DR (MAC rewrite). NAT is
    /// refused (not implemented yet).
    #[arg(long, default_value = "TUN")]
    pub forward: String,
    /// Real server ADDRESS[:PORT][@WEIGHT], repeatable; weight 0 quiesces it.
    #[arg(long = "real", required = true)]
    pub reals: Vec<String>,
    /// Clamp the MSS of client SYNs (TUN): "auto" (interface MTU - 60), a number,
    /// or 0 for no clamp.
    #[arg(long, default_value = "auto")]
    pub mss: String,
    /// persistence_timeout in seconds (0 = off).
    #[arg(long, default_value_t = 0)]
    pub persistence: u32,
    /// persistence_granularity: mask applied to client addresses.
    #[arg(long, default_value = "255.255.255.255")]
    pub granularity: std::net::Ipv4Addr,
    /// One-packet scheduling (keepalived's `ops`; --proto udp only): every
    /// datagram is scheduled on its own and leaves no connection entry.
    #[arg(long)]
    pub ops: bool,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub xdp_mode: AttachMode,
    /// Seconds between counter lines (0 = quiet).
    #[arg(long, default_value_t = 5)]
    pub stats_interval: u64,
    /// Connection-table entries. The table keeps one LRU list per CPU, each
    /// holding this / CPUs: a CPU that receives every new connection (one RX
    /// queue) evicts its least recently used entries at that point. Size it as
    /// new connections/s x the longest timeout in use x CPUs.
    #[arg(long, default_value_t = super::abi::CONN_MAX)]
    pub conn_max: u32,
}

/// Parses `ADDRESS[:PORT][@WEIGHT]`; the port defaults to the VIP's.
pub fn parse_real(s: &str, default_port: u16) -> anyhow::Result<RealSpec> {
    let (addr, weight) = match s.split_once('@') {
        Some((a, w)) => (
            a,
            w.parse::<u32>()
                .with_context(|| format!("--real {s}: weight"))?,
        ),
        None => (s, 1),
    };
    let (rip, port) = match addr.parse::<SocketAddr>() {
        Ok(sa) => (sa.ip(), sa.port()),
        Err(_) => (
            addr.parse::<IpAddr>()
                .with_context(|| format!("--real {s}: expected ADDRESS[:PORT][@WEIGHT]"))?,
            default_port,
        ),
    };
    Ok(RealSpec { rip, port, weight })
}

fn iface_mtu(iface: &str) -> anyhow::Result<u16> {
    let p = format!("/sys/class/net/{iface}/mtu");
    let s = std::fs::read_to_string(&p).with_context(|| format!("reading {p}"))?;
    Ok(s.trim().parse()?)
}

/// Builds the service the arguments describe.
pub fn service_from_args(a: &RunArgs) -> anyhow::Result<ServiceSpec> {
    let sched: Scheduler = a.sched.parse()?;
    let forward: Forward = a.forward.parse()?;
    let proto: Proto = a.proto.parse()?;
    if a.ops && proto != Proto::Udp {
        bail!("--ops is one-packet scheduling for UDP: add --proto udp");
    }
    let reals = a
        .reals
        .iter()
        .map(|r| parse_real(r, a.vip.port()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mss = match a.mss.as_str() {
        "auto" => Some(iface_mtu(&a.iface)?.saturating_sub(60)),
        "0" => None,
        n => Some(n.parse().context("--mss: auto, 0 or a number")?),
    };
    Ok(ServiceSpec {
        vip: a.vip.ip(),
        port: a.vip.port(),
        proto,
        sched,
        flags: Default::default(),
        ops: a.ops,
        forward,
        forward_of: Default::default(),
        persistence: (a.persistence > 0).then_some(Persistence {
            timeout: a.persistence,
            granularity: a.granularity,
        }),
        mss,
        reals,
    })
}

/// Runs until SIGINT/SIGTERM.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let svc = service_from_args(&a)?;
    let sizes = Sizes {
        conns: a.conn_max,
        ..Sizes::default()
    };
    let mut dir = Director::load(sizes)?;
    let n = dir.sync_ifaddrs()?;
    if n == 0 {
        bail!("no IPv4 address in this network namespace: TUN needs one as the outer source");
    }
    let mut planner = Planner::new(sizes.services as usize, sizes.dests as usize);
    let plan = planner.plan(std::slice::from_ref(&svc))?;
    dir.apply(&plan)?;
    let rips: Vec<IpAddr> = svc.reals.iter().map(|r| r.rip).collect();
    let hops = super::neigh::keep_resolved(&rips)?;
    let mode = dir.attach(&a.iface, a.xdp_mode)?;
    println!(
        "vipd datapath: {} {}:{} {} {} -> {} real servers on {} ({:?} XDP); Ctrl-C to stop",
        match svc.proto {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        },
        svc.vip,
        svc.port,
        svc.sched,
        svc.forward,
        svc.reals.len(),
        a.iface,
        mode
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(async {
        let tick = Duration::from_secs(a.stats_interval.max(1));
        let stop = super::stop_requested();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = &mut stop => { r?; break }
                _ = tokio::time::sleep(tick) => {
                    dir.correct_conn_counts(super::coarse_now_ns())?;
                    if a.stats_interval > 0 {
                        print_stats(&dir, &plan)?;
                    }
                }
            }
        }
        anyhow::Ok(())
    });
    print_stats(&dir, &plan)?;
    super::neigh::release(&hops);
    drop(dir); // detaches the program
    res
}

fn print_stats(dir: &Director, plan: &vipd_core::plan::Plan) -> anyhow::Result<()> {
    for s in &plan.services {
        let st = dir.service_stats(s.slot)?;
        println!(
            "service {}:{} pkts={} bytes={} conns={}",
            s.key.0, s.key.1, st.packets, st.bytes, st.conns
        );
    }
    for d in &plan.dests {
        let st = dir.dest_stats(d.id)?;
        let c = dir.dest_conns(d.id)?;
        println!(
            "  real {}:{} w={} pkts={} bytes={} conns={} active={} inactive={}",
            d.rip, d.port, d.weight, st.packets, st.bytes, st.conns, c.active, c.inactive
        );
    }
    let c = dir.counters()?;
    let nz: Vec<String> = super::COUNTER_NAMES
        .iter()
        .zip(&c)
        .filter(|(_, &v)| v > 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    println!("  counters: {}", nz.join(" "));
    Ok(())
}
