//! `vipd datapath floor`: the cheapest possible TUN director, as a measuring
//! stick for `vipd compare`.
//!
//! It runs `vipd_floor_tun` (bpf/bench.bpf.c): TCP for VIP:port goes to real
//! server hash(client address, port) mod n, IPIP-encapsulated to one fixed next
//! hop, with no connection table, counters, MSS clamp or health checks. Whatever
//! it costs in a lab run is what the lab charges any TUN director for its extra
//! hop; vipd's own work is the difference between vipd and this floor.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{abi, neigh, AttachMode, Director, Sizes, BENCH_OBJ};

/// Run the floor director: what any IPIP director must do, and nothing else.
///
/// For benchmarks only (`vipd compare` runs it as `tun-floor`): connections move
/// when the set of real servers changes, nothing is counted, no MSS is clamped.
/// Never a load balancer.
///
/// Example (in the director's namespace, VIP already on an interface):
///
///   vipd datapath floor --iface eth1 --vip 10.253.85.250:80 \
///        --real 10.253.26.1 --real 10.253.26.2 --real 10.253.26.3
#[derive(Debug, clap::Args)]
pub struct FloorArgs {
    /// Interface receiving the clients' packets (it also sends the IPIP packets).
    #[arg(long)]
    pub iface: String,
    /// Virtual server ADDRESS:PORT (TCP, IPv4).
    #[arg(long)]
    pub vip: SocketAddr,
    /// Real server address, 1 to 4 times; all must be reached through one next
    /// hop on --iface.
    #[arg(long = "real", required = true)]
    pub reals: Vec<Ipv4Addr>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub xdp_mode: AttachMode,
}

/// A string field of a JSON object `ip -j` printed.
fn field(v: Option<&serde_json::Value>, name: &str) -> Option<String> {
    v?.get(name)?.as_str().map(str::to_string)
}

fn mac(s: &str) -> anyhow::Result<[u8; 6]> {
    let b: Vec<u8> = s
        .trim()
        .split(':')
        .map(|x| u8::from_str_radix(x, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("MAC address `{s}`"))?;
    b.try_into()
        .map_err(|_| anyhow::anyhow!("MAC address `{s}` is not 6 bytes"))
}

// The program reads exactly this layout (bpf/bench.bpf.c, struct vipd_floor_cfg).
const _: () = assert!(std::mem::size_of::<abi::FloorCfg>() == 40);

/// Runs until SIGINT or SIGTERM.
pub fn run(a: FloorArgs) -> anyhow::Result<()> {
    let IpAddr::V4(vip) = a.vip.ip() else {
        bail!("--vip {}: the floor director is IPv4 only", a.vip);
    };
    if a.reals.is_empty() || a.reals.len() > 4 {
        bail!("--real: give 1 to 4 real servers, not {}", a.reals.len());
    }
    let rips: Vec<IpAddr> = a.reals.iter().map(|&r| IpAddr::V4(r)).collect();
    let hop = neigh::next_hop(rips[0])?;
    for &r in &rips[1..] {
        if neigh::next_hop(r)? != hop {
            bail!(
                "real server {r} is not behind the same next hop as {}",
                rips[0]
            );
        }
    }
    if hop.dev != a.iface {
        bail!(
            "the route to {} leaves by {}, not --iface {}",
            rips[0],
            hop.dev,
            a.iface
        );
    }
    let src: Ipv4Addr = field(Some(&neigh::route_get(rips[0])?), "prefsrc")
        .context("no source address towards the real servers")?
        .parse()?;
    let hops = neigh::keep_resolved(&rips)?;
    let t0 = Instant::now();
    let gw = hop.addr.to_string();
    let dmac = loop {
        let entry = neigh::ip_json(&["neigh", "show", &gw, "dev", &hop.dev])?;
        if let Some(m) = field(entry.as_ref(), "lladdr") {
            break mac(&m)?;
        }
        if t0.elapsed() > Duration::from_secs(3) {
            neigh::release(&hops);
            bail!("next hop {gw} on {} did not resolve in 3 s", hop.dev);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let smac = mac(&std::fs::read_to_string(format!(
        "/sys/class/net/{}/address",
        a.iface
    ))?)?;
    let mut cfg = abi::FloorCfg {
        vip: u32::from(vip).to_be(),
        port: a.vip.port().to_be(),
        n: a.reals.len() as u16,
        src: u32::from(src).to_be(),
        dmac,
        smac,
        ..Default::default()
    };
    for (i, r) in a.reals.iter().enumerate() {
        cfg.rips[i] = u32::from(*r).to_be();
    }
    let small = Sizes {
        services: 1,
        dests: 4,
        conns: 64,
        half_open: 64,
    };
    let mut dir = Director::load_object(BENCH_OBJ, "vipd_floor_tun", small)?;
    dir.set_floor(cfg)?;
    let mode = dir.attach(&a.iface, a.xdp_mode)?;
    eprintln!(
        "floor director on {} ({mode:?}): {} -> {} real servers via {gw} ({}), from {src}; Ctrl-C to stop",
        a.iface,
        a.vip,
        a.reals.len(),
        hop.dev
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let res = rt.block_on(super::stop_requested()).map_err(Into::into);
    neigh::release(&hops);
    drop(dir); // detaches the program
    res
}
