//! The data plane's IO shell: load the embedded XDP director (`bpf/director.bpf.c`)
//! with aya, attach it, write the tables [`vipd_core::plan`] computes, read counters.
//!
//! # Layout
//! - [`abi`]: `#[repr(C)]` mirrors of `bpf/vipd.h`, checked against the header.
//! - [`Director`] (this file): the loaded program and its maps.
//! - [`neigh`]: keeps the real servers' next hops resolved, so `bpf_fib_lookup`
//!   finds a MAC address for the very first packet.
//! - [`run`]: `vipd datapath run`, the data plane on its own.
//! - [`bench`]: `vipd datapath bench`, packets per second on one core.
//!
//! Writing a [`Plan`] follows its documented order: real servers first, then each
//! service's table into the half of its double buffer the program is not reading,
//! then the service entry that flips `gen` (one map update, atomic for the
//! program), and only then removals. The program never sees a half-written table.

pub mod abi;
pub mod batch;
pub mod bench;
pub mod floor;
pub mod neigh;
pub mod pin;
pub mod run;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{TestRun, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use vipd_core::plan::vip_filter::{VipFilter, VipFilter6};
use vipd_core::plan::{Forward, Plan};

use abi::{addr_words, Config, Dest, DestConns, Flow, Stats, Svc, SvcKey, VipKey};

/// The compiled director object, embedded at build time.
static DIRECTOR_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/director.bpf.o"));
/// The benchmark's object: the same director logic behind bench entry points.
pub(crate) static BENCH_OBJ: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/bench.bpf.o"));

/// Name of the director's XDP program in the object.
pub const DIRECTOR_PROG: &str = "vipd_director_xdp";

/// Errors of the data plane's IO shell.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The kernel refused the object or the program (verifier, permissions).
    #[error("loading the XDP director failed: {0} (run as root on Linux >= 6.1 with BPF enabled)")]
    Load(#[from] aya::EbpfError),
    /// The verifier or attach step failed.
    #[error("XDP program {what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map {
        /// Which map.
        map: &'static str,
        /// The kernel's answer.
        source: aya::maps::MapError,
    },
    /// The interface does not exist in this network namespace.
    #[error("interface {0} not found in this network namespace (check `ip link`)")]
    NoIface(String),
    /// The object lacks something it should have (build problem).
    #[error("the embedded BPF object has no {0}: rebuild vipd")]
    Missing(&'static str),
    /// Running a command (ip) failed.
    #[error("{0}")]
    Io(String),
}

type Result<T, E = DatapathError> = std::result::Result<T, E>;

pub(crate) fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> DatapathError {
    move |source| DatapathError::Map { map, source }
}

/// How to attach XDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AttachMode {
    /// Native on physical NICs (falling back to generic if the driver refuses);
    /// generic on virtual devices (veth...), whose native XDP_TX needs a program
    /// on the peer that vipd does not control.
    #[default]
    Auto,
    /// Driver (native) mode; fails if the driver has no XDP support.
    Native,
    /// Generic (skb) mode: works everywhere, slower.
    Generic,
}

/// Sizes of the director's maps.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Service slots (each costs 2 x 65537 x 4 bytes of tables).
    pub services: u32,
    /// Real-server ids.
    pub dests: u32,
    /// Connection-table entries (established connections).
    pub conns: u32,
    /// Half-open table entries (handshakes in progress, first datagrams).
    pub half_open: u32,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            services: abi::MAX_SERVICES,
            dests: abi::MAX_DESTS,
            conns: abi::CONN_MAX,
            half_open: abi::HALF_OPEN_MAX,
        }
    }
}

/// Drop reasons and events, in `enum vipd_counter` order.
pub const COUNTER_NAMES: [&str; 29] = [
    "drop_bad_ip",
    "drop_trunc_l4",
    "drop_no_real",
    "drop_no_route",
    "drop_no_neigh",
    "drop_no_src",
    "drop_too_big",
    "drop_frag_unknown",
    "drop_encap",
    "drop_bad_dest",
    "tx",
    "conn_new",
    "conn_hit",
    "persist_hit",
    "mss_clamped",
    "icmp_too_big",
    "frag",
    "redirect",
    "icmp_fwd",
    "flow_cache_hit",
    "half_open_new",
    "promoted",
    "half_open_stale",
    "conn_stale",
    "sync_sent",
    "sync_lost",
    "ops",
    "nat_out",
    "nat_pass",
];

/// Index of a counter by name (see [`COUNTER_NAMES`]).
pub fn counter_index(name: &str) -> Option<usize> {
    COUNTER_NAMES.iter().position(|&n| n == name)
}

/// The loaded director: program and maps.
#[derive(Debug)]
pub struct Director {
    ebpf: Ebpf,
    prog: &'static str,
    sizes: Sizes,
    attached: Option<(String, XdpMode)>,
    /// The XDP link made by [`Director::attach`] or adopted by
    /// [`Director::adopt_link`].
    link: Option<XdpLinkId>,
    /// What `vip4_filter` holds.
    vip_filter: VipFilter,
    /// What `vip6_filter` holds.
    vip_filter6: VipFilter6,
    /// Addresses never taken as the outer IPv6 source (VRRP's, besides the
    /// plan's VIPs): see [`Director::exclude_outer_sources`].
    outer_exclude: BTreeSet<IpAddr>,
    /// `rings` mapped into this process (None if the object's map is not
    /// `BPF_F_MMAPABLE`: then tables are written one element per syscall).
    rings_mm: Option<RingsMmap>,
    /// A plan had an IPv6 real server: `bpf_fib_lookup` for IPv6 needs
    /// `net.ipv6.conf.IFACE.forwarding` on the attached interface.
    fib6: bool,
}

/// The `rings` array map (`BPF_F_MMAPABLE`) mapped into this process: writing a
/// 65,537-slot table is a loop over memory instead of 65,537 `bpf()` calls
/// (70-135 ms). The program only reads the half of a service's table that the
/// control plane is not writing (the `gen` flip, a map update, comes after), so
/// no reader ever sees a slot change.
#[derive(Debug)]
struct RingsMmap {
    ptr: std::ptr::NonNull<u8>,
    bytes: usize,
    entries: u32,
}

// SAFETY: the mapping is owned by this value alone and only written through
// `&mut self`; moving it to another thread moves that ownership.
#[expect(
    unsafe_code,
    reason = "a raw mapping is Send when it is owned exclusively"
)]
unsafe impl Send for RingsMmap {}

/// Resolves at SIGINT or SIGTERM: how `vipd datapath run|floor` are stopped.
pub(crate) async fn stop_requested() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// `flow_cache` holds [`abi::FLOW_CACHE`] slots for each possible CPU.
fn flow_cache_entries() -> u32 {
    let cpus = aya::util::nr_cpus().map_or(1, |n| n.max(1)) as u32;
    abi::FLOW_CACHE.saturating_mul(cpus)
}

/// Live entries of the two connection tables (see `bpf/vipd_maps.h`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableFill {
    /// `conns`: established connections (and their FIN/RST states, confirmed
    /// UDP flows, entries shared by other directors).
    pub conns: usize,
    /// `half_open`: handshakes in progress, first datagrams.
    pub half_open: usize,
    /// Entries present in `half_open`, expired ones included (what the LRU
    /// holds).
    pub half_open_present: usize,
}

/// Entries of the connection table read per `bpf()` call when counting.
pub(crate) const CONN_BATCH: u32 = 4096;

/// Element stride of an array map: values are padded to 8 bytes.
const ARRAY_STRIDE: usize = 8;

impl RingsMmap {
    /// Maps `entries` u32 elements of the array map behind `fd`; `None` if the
    /// kernel refuses (a map created without `BPF_F_MMAPABLE`).
    #[expect(unsafe_code, reason = "mmap(2) of a BPF array map")]
    fn new(fd: std::os::fd::BorrowedFd<'_>, entries: u32) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let page = 4096usize;
        let bytes = (entries as usize * ARRAY_STRIDE).div_ceil(page) * page;
        // SAFETY: a fresh shared mapping of a map fd; the kernel checks the
        // length against the map's size and fails rather than map past it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            tracing::debug!(error = %std::io::Error::last_os_error(), "rings is not mmapable: writing tables per element");
            return None;
        }
        Some(Self {
            ptr: std::ptr::NonNull::new(p.cast())?,
            bytes,
            entries,
        })
    }

    /// Writes `ids` from element `start` on.
    #[expect(unsafe_code, reason = "stores into the mapping")]
    fn write(&mut self, start: u32, ids: &[u32]) -> Result<()> {
        let end = start as usize + ids.len();
        if end > self.entries as usize {
            return Err(DatapathError::Io(format!(
                "rings: table end {end} beyond {} entries",
                self.entries
            )));
        }
        for (i, &id) in ids.iter().enumerate() {
            let off = (start as usize + i) * ARRAY_STRIDE;
            // SAFETY: off + 4 <= entries * 8 <= self.bytes (checked above), and
            // the mapping is 8-byte aligned (page aligned).
            unsafe { self.ptr.as_ptr().add(off).cast::<u32>().write_volatile(id) };
        }
        // The flip that publishes the table is a later bpf() call; order the
        // stores before it on every architecture.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for RingsMmap {
    #[expect(unsafe_code, reason = "munmap(2) of our own mapping")]
    fn drop(&mut self) {
        // SAFETY: ptr/bytes are exactly what mmap returned; nothing borrows it.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.bytes) };
    }
}

impl Director {
    /// Loads the embedded object and verifies the program (not attached yet).
    pub fn load(sizes: Sizes) -> Result<Self> {
        Self::load_object(DIRECTOR_OBJ, DIRECTOR_PROG, sizes)
    }

    /// Loads `prog` of `obj` (an object built around `vipd_director.h`).
    pub(crate) fn load_object(obj: &[u8], prog: &'static str, sizes: Sizes) -> Result<Self> {
        let rings = sizes.services * 2 * abi::RING_SIZE;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("rings", rings)
            .map_max_entries("rr_cursor", sizes.services)
            .map_max_entries("svc_stats", sizes.services)
            .map_max_entries("dests", sizes.dests)
            .map_max_entries("dest_conns", sizes.dests)
            .map_max_entries("dest_stats", sizes.dests)
            .map_max_entries("nexthops", sizes.dests)
            .map_max_entries("conns", sizes.conns)
            .map_max_entries("nat_rev", sizes.conns)
            .map_max_entries("half_open", sizes.half_open)
            .map_max_entries("flow_cache", flow_cache_entries())
            .load(obj)?;
        let p: &mut Xdp = ebpf
            .program_mut(prog)
            .ok_or(DatapathError::Missing("the XDP program"))?
            .try_into()
            .map_err(|source| DatapathError::Program {
                what: "type".into(),
                source,
            })?;
        p.load().map_err(|source| DatapathError::Program {
            what: "verification".into(),
            source,
        })?;
        let mut d = Self {
            ebpf,
            prog,
            sizes,
            attached: None,
            fib6: false,
            link: None,
            vip_filter: VipFilter::new(),
            vip_filter6: VipFilter6::new(),
            outer_exclude: BTreeSet::new(),
            rings_mm: None,
        };
        if let Some(aya::maps::Map::Array(m)) = d.ebpf.map("rings") {
            use std::os::fd::AsFd;
            d.rings_mm = RingsMmap::new(m.fd().as_fd(), rings);
        }
        d.set_config(Config::default())?;
        Ok(d)
    }

    /// Map sizes in use.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The loaded program, to attach.
    fn xdp_mut(&mut self) -> &mut Xdp {
        self.ebpf
            .program_mut(self.prog)
            .and_then(|p| p.try_into().ok())
            .expect("loaded in Director::load")
    }

    /// The verified program (for `BPF_PROG_TEST_RUN`).
    pub fn program(&self) -> &Xdp {
        self.ebpf
            .program(self.prog)
            .and_then(|p| p.try_into().ok())
            .expect("loaded in Director::load")
    }

    /// Attaches to `iface` and returns the mode used.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<XdpMode> {
        let sys = Path::new("/sys/class/net").join(iface);
        if !sys.exists() {
            return Err(DatapathError::NoIface(iface.into()));
        }
        let physical = sys.join("device").exists();
        enable_fib_forwarding(iface)?;
        let prog = self.xdp_mut();
        let tries: &[XdpMode] = match mode {
            AttachMode::Native => &[XdpMode::Driver],
            AttachMode::Generic => &[XdpMode::Skb],
            AttachMode::Auto if physical => &[XdpMode::Driver, XdpMode::Skb],
            AttachMode::Auto => &[XdpMode::Skb],
        };
        let mut last = None;
        for &m in tries {
            match prog.attach(iface, m) {
                Ok(id) => {
                    tracing::info!(iface, mode = ?m, "XDP director attached");
                    self.attached = Some((iface.to_string(), m));
                    self.link = Some(id);
                    if self.fib6 {
                        enable_fib_forwarding6(iface)?;
                    }
                    return Ok(m);
                }
                Err(e) => {
                    tracing::warn!(iface, mode = ?m, error = %e, "XDP attach failed");
                    last = Some(e);
                }
            }
        }
        Err(DatapathError::Program {
            what: format!("attach to {iface}"),
            source: last.expect("at least one mode tried"),
        })
    }

    /// Replaces the program a stopped vipd left on `link` (pinned, see
    /// [`pin`]) with this one, atomically: one `bpf_link_update`, so every
    /// packet meets either the old program or this one. `mode` is how the old
    /// process had attached it.
    pub fn adopt_link(
        &mut self,
        iface: &str,
        mode: XdpMode,
        link: aya::programs::links::PinnedLink,
    ) -> Result<()> {
        enable_fib_forwarding(iface)?;
        let prog = self.xdp_mut();
        let fd_link = aya::programs::links::FdLink::from(link);
        let xdp_link = aya::programs::xdp::XdpLink::try_from(fd_link)
            .map_err(|e| DatapathError::Io(format!("the pinned link is not an XDP link: {e}")))?;
        let id = prog
            .attach_to_link(xdp_link)
            .map_err(|source| DatapathError::Program {
                what: format!("swap onto the pinned link of {iface}"),
                source,
            })?;
        self.attached = Some((iface.to_string(), mode));
        if self.fib6 {
            enable_fib_forwarding6(iface)?;
        }
        self.link = Some(id);
        tracing::info!(iface, mode = ?mode, "XDP director swapped onto the pinned link");
        Ok(())
    }

    /// Leaves the program attached and its connection tables pinned in `dir`
    /// for the next vipd (see [`pin`]); after this, dropping the director no
    /// longer detaches it.
    pub fn pin_for_restart(&mut self, dir: &Path) -> Result<()> {
        let id = self
            .link
            .take()
            .ok_or_else(|| DatapathError::Io("the director is not attached".into()))?;
        pin::remove_dir(dir).map_err(|e| {
            DatapathError::Io(format!("removing stale pins {}: {e}", dir.display()))
        })?;
        std::fs::create_dir_all(dir)
            .map_err(|e| DatapathError::Io(format!("creating {}: {e}", dir.display())))?;
        for name in pin::PINNED_MAPS {
            pin::pin_map(&self.ebpf, name, dir)?;
        }
        let prog = self.xdp_mut();
        let link = prog
            .take_link(id)
            .map_err(|source| DatapathError::Program {
                what: "taking the link".into(),
                source,
            })?;
        let fd_link = aya::programs::links::FdLink::try_from(link).map_err(|e| {
            DatapathError::Io(format!(
                "the XDP attachment is not a bpf_link (kernel < 5.9?), it cannot outlive vipd: {e}"
            ))
        })?;
        pin::pin_link(fd_link, dir)
    }

    /// The object's maps and programs (the benchmark loads more of them).
    pub(crate) fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Where and how the program is attached.
    pub fn attached(&self) -> Option<&(String, XdpMode)> {
        self.attached.as_ref()
    }

    /// Writes `vipd datapath floor`'s settings (a director loaded from the
    /// bench object with the `vipd_floor_tun` program).
    pub(crate) fn set_floor(&mut self, cfg: abi::FloorCfg) -> Result<()> {
        let mut m: Array<&mut MapData, abi::FloorCfg> = Array::try_from(
            self.ebpf
                .map_mut("floor_cfg")
                .ok_or(DatapathError::Missing("floor_cfg"))?,
        )
        .map_err(map_err("floor_cfg"))?;
        m.set(0, cfg, 0).map_err(map_err("floor_cfg"))
    }

    /// Writes the timeouts.
    pub fn set_config(&mut self, cfg: Config) -> Result<()> {
        let mut m: Array<&mut MapData, Config> = Array::try_from(
            self.ebpf
                .map_mut("config")
                .ok_or(DatapathError::Missing("config"))?,
        )
        .map_err(map_err("config"))?;
        m.set(0, cfg, 0).map_err(map_err("config"))
    }

    /// Sets the outer source address of TUN packets leaving `ifindex`.
    fn ifaddrs6_len(&self) -> Result<usize> {
        let m: HashMap<&MapData, u32, [u32; 4]> = HashMap::try_from(
            self.ebpf
                .map("ifaddrs6")
                .ok_or(DatapathError::Missing("ifaddrs6"))?,
        )
        .map_err(map_err("ifaddrs6"))?;
        Ok(m.keys().count())
    }

    pub fn set_ifaddr(&mut self, ifindex: u32, addr: IpAddr) -> Result<()> {
        let name = if addr.is_ipv4() {
            "ifaddrs"
        } else {
            "ifaddrs6"
        };
        let mut m: HashMap<&mut MapData, u32, [u32; 4]> = HashMap::try_from(
            self.ebpf
                .map_mut(name)
                .ok_or(DatapathError::Missing(name))?,
        )
        .map_err(map_err(name))?;
        m.insert(ifindex, addr_words(addr), 0)
            .map_err(map_err(name))
    }

    /// Writes the first IPv4 address of every interface of this network
    /// namespace as its TUN outer source (the director's address on the egress
    /// interface), and an IPv6 one for IPv6 real servers (see
    /// [`outer_sources6`]; [`Director::apply`] chooses again without the
    /// plan's VIPs). Returns how many IPv4 addresses it wrote.
    pub fn sync_ifaddrs(&mut self) -> Result<usize> {
        self.sync_ifaddrs_except(&BTreeSet::new())
    }

    /// Addresses that move (VRRP's `virtual_ipaddress`, with or without a
    /// service) are never the outer IPv6 source: the real servers would see
    /// the tunnel's source change at every failover, and a VIP written /64
    /// would otherwise pass for the interface's own address.
    pub fn exclude_outer_sources(&mut self, addrs: BTreeSet<IpAddr>) {
        self.outer_exclude = addrs;
    }

    fn sync_ifaddrs_except(&mut self, vips: &BTreeSet<IpAddr>) -> Result<usize> {
        let vips: BTreeSet<IpAddr> = vips.union(&self.outer_exclude).copied().collect();
        let vips = &vips;
        let addrs = nix::ifaddrs::getifaddrs()
            .map_err(|e| DatapathError::Io(format!("getifaddrs: {e}")))?;
        let mut seen = BTreeSet::new();
        let mut v6 = Vec::new();
        let mut n = 0;
        for a in addrs {
            let Ok(idx) = nix::net::if_::if_nametoindex(a.interface_name.as_str()) else {
                continue;
            };
            if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
                if seen.insert(idx) {
                    self.set_ifaddr(idx, IpAddr::V4(sin.ip()))?;
                    n += 1;
                }
                continue;
            }
            let Some(sin6) = a.address.as_ref().and_then(|s| s.as_sockaddr_in6()) else {
                continue;
            };
            let prefix = a
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in6())
                .map_or(128, |m| u128::from(m.ip()).count_ones());
            v6.push((idx, sin6.ip(), prefix));
        }
        let chosen = outer_sources6(&v6, vips);
        for (&idx, &ip) in &chosen {
            self.set_ifaddr(idx, IpAddr::V6(ip))?;
        }
        // An interface that lost its address (or had only a VIP) keeps none.
        let mut m: HashMap<&mut MapData, u32, [u32; 4]> = HashMap::try_from(
            self.ebpf
                .map_mut("ifaddrs6")
                .ok_or(DatapathError::Missing("ifaddrs6"))?,
        )
        .map_err(map_err("ifaddrs6"))?;
        let stale: Vec<u32> = m
            .keys()
            .filter_map(|k| k.ok())
            .filter(|k| !chosen.contains_key(k))
            .collect();
        for k in stale {
            let _ = m.remove(&k);
        }
        Ok(n)
    }

    /// Writes `plan` (see the module docs for the order and why).
    pub fn apply(&mut self, plan: &Plan) -> Result<()> {
        // `VIPD_CFG_F_OPS` is raised before a service has `SVC_F_OPS` and
        // lowered after none has: the program never meets an ops service
        // without first looking for one (`plan.services` is every service).
        let ops = plan.services.iter().any(|s| s.ops);
        if ops {
            self.set_config_flag(abi::CFG_F_OPS, true)?;
        }
        // The same for NAT replies and `VIPD_CFG_F_NAT`.
        let nat = plan.dests.iter().any(|d| d.forward == Forward::Nat);
        if nat {
            self.set_config_flag(abi::CFG_F_NAT, true)?;
        }
        // And for IPv6 VIPs and `VIPD_CFG_F_V6` (IPv6 packets ask `vips`).
        let v6 = plan.vips.iter().any(|v| v.is_ipv6());
        if v6 {
            self.set_config_flag(abi::CFG_F_V6, true)?;
        }
        // IPv6 real servers by TUN: an outer source per interface, never a
        // VIP (which moves with the master, and which the real servers hold).
        if plan
            .dests
            .iter()
            .any(|d| d.rip.is_ipv6() && d.forward == Forward::Tun)
        {
            let vips: BTreeSet<IpAddr> = plan.vips.iter().copied().collect();
            self.sync_ifaddrs_except(&vips)?;
            if self.ifaddrs6_len()? == 0 {
                tracing::warn!(
                    "IPv6 real servers by TUN, but no global IPv6 address here other than VIPs: the outer source is missing (drop_no_src); give the interface towards them one"
                );
            }
        }
        // An IPv6 real server (ip6ip6, 4in6, DR): its next hop is an IPv6
        // `bpf_fib_lookup`, which answers FWD_DISABLED (every packet counted
        // as drop_no_route) unless IPv6 forwarding is on for the interface.
        if !self.fib6 && plan.dests.iter().any(|d| d.rip.is_ipv6()) {
            self.fib6 = true;
            if let Some((iface, _)) = self.attached.clone() {
                enable_fib_forwarding6(&iface)?;
            }
        }
        {
            let mut dests: Array<&mut MapData, Dest> = Array::try_from(
                self.ebpf
                    .map_mut("dests")
                    .ok_or(DatapathError::Missing("dests"))?,
            )
            .map_err(map_err("dests"))?;
            for d in &plan.dests {
                let v = Dest {
                    rip: addr_words(d.rip),
                    svc_id: d.slot,
                    weight: d.weight,
                    port: d.port.to_be(),
                    family: abi::family(d.rip),
                    fwd: match d.forward {
                        Forward::Tun => abi::FWD_TUN,
                        Forward::Dr => abi::FWD_DR,
                        Forward::Nat => abi::FWD_NAT,
                    },
                    flags: abi::DEST_F_LIVE,
                    _pad: 0,
                    mss: d.mss,
                };
                dests.set(d.id, v, 0).map_err(map_err("dests"))?;
            }
        }
        for s in &plan.services {
            // The half of the double buffer the program is not reading.
            let base = (s.slot * 2 + u32::from(s.gen)) * abi::RING_SIZE;
            if let Some(mm) = self.rings_mm.as_mut() {
                mm.write(base, &s.ring)?;
                continue;
            }
            let mut rings: Array<&mut MapData, u32> = Array::try_from(
                self.ebpf
                    .map_mut("rings")
                    .ok_or(DatapathError::Missing("rings"))?,
            )
            .map_err(map_err("rings"))?;
            for (i, &id) in s.ring.iter().enumerate() {
                rings
                    .set(base + i as u32, id, 0)
                    .map_err(map_err("rings"))?;
            }
        }
        {
            let mut svcs: HashMap<&mut MapData, SvcKey, Svc> = HashMap::try_from(
                self.ebpf
                    .map_mut("services")
                    .ok_or(DatapathError::Missing("services"))?,
            )
            .map_err(map_err("services"))?;
            for s in &plan.services {
                let (vip, port, proto) = s.key;
                let mut v = Svc {
                    id: s.slot,
                    ring_len: s.ring.len() as u32,
                    sched: s.sched.datapath(),
                    gen: s.gen,
                    ..Default::default()
                };
                if s.flags.port {
                    v.flags |= abi::SVC_F_HASH_PORT;
                }
                if s.flags.fallback {
                    v.flags |= abi::SVC_F_FALLBACK;
                }
                if s.ops {
                    v.flags |= abi::SVC_F_OPS;
                }
                if let Some(p) = s.persistence {
                    v.flags |= abi::SVC_F_PERSIST;
                    v.persist_timeout = p.timeout;
                    // IPv6 services persist per client address (/128).
                    v.persist_mask = match vip {
                        IpAddr::V4(_) => addr_words(IpAddr::V4(p.granularity)),
                        IpAddr::V6(_) => [u32::MAX; 4],
                    };
                }
                svcs.insert(svc_key(vip, port, proto.number()), v, 0)
                    .map_err(map_err("services"))?;
            }
            for &(vip, port, proto) in &plan.removed_services {
                let _ = svcs.remove(&svc_key(vip, port, proto.number()));
            }
        }
        for &v in &plan.vips {
            let n = plan.services.iter().filter(|s| s.key.0 == v).count() as u32;
            self.vips()?
                .insert(vip_key(v), n, 0)
                .map_err(map_err("vips"))?;
        }
        // The filter after `vips` gains addresses and before it loses them: a
        // bucket that overflows to `vips` never points at a missing entry.
        self.write_vip_filter(plan)?;
        for &v in &plan.removed_vips {
            let _ = self.vips()?.remove(&vip_key(v));
        }
        {
            let mut dests: Array<&mut MapData, Dest> = Array::try_from(
                self.ebpf
                    .map_mut("dests")
                    .ok_or(DatapathError::Missing("dests"))?,
            )
            .map_err(map_err("dests"))?;
            for &id in &plan.removed_dests {
                dests
                    .set(id, Dest::default(), 0)
                    .map_err(map_err("dests"))?;
            }
        }
        if !ops {
            self.set_config_flag(abi::CFG_F_OPS, false)?;
        }
        if !nat {
            self.set_config_flag(abi::CFG_F_NAT, false)?;
        }
        if !v6 {
            self.set_config_flag(abi::CFG_F_V6, false)?;
        }
        Ok(())
    }

    /// The `vips` map (every VIP address).
    fn vips(&mut self) -> Result<HashMap<&mut MapData, VipKey, u32>> {
        HashMap::try_from(
            self.ebpf
                .map_mut("vips")
                .ok_or(DatapathError::Missing("vips"))?,
        )
        .map_err(map_err("vips"))
    }

    /// Brings `vip4_filter` to the plan's IPv4 VIPs and `vip6_filter` to its
    /// IPv6 ones (see
    /// [`vipd_core::plan::vip_filter`] for the order of writes and why).
    fn write_vip_filter(&mut self, plan: &Plan) -> Result<()> {
        let v4: std::collections::BTreeSet<std::net::Ipv4Addr> = plan
            .vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V4(a) => Some(*a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let writes = self.vip_filter.update(&v4);
        let mut m: Array<&mut MapData, abi::VipBucket> = Array::try_from(
            self.ebpf
                .map_mut("vip4_filter")
                .ok_or(DatapathError::Missing("vip4_filter"))?,
        )
        .map_err(map_err("vip4_filter"))?;
        for w in writes {
            let mut b = abi::VipBucket {
                overflow: u32::from(w.bucket.overflow),
                ..Default::default()
            };
            for (slot, a) in b.addr.iter_mut().zip(w.bucket.slots) {
                *slot = a.map_or(0, |a| u32::from_ne_bytes(a.octets()));
            }
            m.set(w.index as u32, b, 0)
                .map_err(map_err("vip4_filter"))?;
        }
        let v6: BTreeSet<std::net::Ipv6Addr> = plan
            .vips
            .iter()
            .filter_map(|v| match v {
                IpAddr::V6(a) => Some(*a),
                IpAddr::V4(_) => None,
            })
            .collect();
        let writes = self.vip_filter6.update(&v6);
        let mut m: Array<&mut MapData, abi::VipBucket6> = Array::try_from(
            self.ebpf
                .map_mut("vip6_filter")
                .ok_or(DatapathError::Missing("vip6_filter"))?,
        )
        .map_err(map_err("vip6_filter"))?;
        for w in writes {
            let mut b = abi::VipBucket6 {
                overflow: u32::from(w.bucket.overflow),
                ..Default::default()
            };
            for (slot, a) in b.addr.iter_mut().zip(w.bucket.slots) {
                *slot = a.map_or([0; 4], |a| addr_words(IpAddr::V6(a)));
            }
            m.set(w.index as u32, b, 0)
                .map_err(map_err("vip6_filter"))?;
        }
        Ok(())
    }

    /// Drop reasons and events summed over CPUs, in [`COUNTER_NAMES`] order.
    pub fn counters(&self) -> Result<Vec<u64>> {
        let m: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(
            self.ebpf
                .map("counters")
                .ok_or(DatapathError::Missing("counters"))?,
        )
        .map_err(map_err("counters"))?;
        (0..COUNTER_NAMES.len() as u32)
            .map(|i| Ok(m.get(&i, 0).map_err(map_err("counters"))?.iter().sum()))
            .collect()
    }

    /// One counter by name (see [`COUNTER_NAMES`]).
    pub fn counter(&self, name: &str) -> Result<u64> {
        let i = counter_index(name).unwrap_or_else(|| panic!("no counter {name}"));
        Ok(self.counters()?[i])
    }

    fn stats(&self, map: &'static str, idx: u32) -> Result<Stats> {
        let m: PerCpuArray<&MapData, Stats> =
            PerCpuArray::try_from(self.ebpf.map(map).ok_or(DatapathError::Missing("stats"))?)
                .map_err(map_err(map))?;
        let v = m.get(&idx, 0).map_err(map_err(map))?;
        Ok(v.iter().fold(Stats::default(), |a, s| Stats {
            packets: a.packets + s.packets,
            bytes: a.bytes + s.bytes,
            conns: a.conns + s.conns,
            out_packets: a.out_packets + s.out_packets,
            out_bytes: a.out_bytes + s.out_bytes,
        }))
    }

    /// Traffic of a service slot, summed over CPUs.
    pub fn service_stats(&self, slot: u32) -> Result<Stats> {
        self.stats("svc_stats", slot)
    }

    /// Traffic of a real server id, summed over CPUs.
    pub fn dest_stats(&self, id: u32) -> Result<Stats> {
        self.stats("dest_stats", id)
    }

    /// Active/inactive connections of a real server id.
    pub fn dest_conns(&self, id: u32) -> Result<DestConns> {
        let m: Array<&MapData, DestConns> = Array::try_from(
            self.ebpf
                .map("dest_conns")
                .ok_or(DatapathError::Missing("dest_conns"))?,
        )
        .map_err(map_err("dest_conns"))?;
        m.get(&id, 0).map_err(map_err("dest_conns"))
    }

    /// Overwrites the connection counts of a real server id (tests of `lc`
    /// family, and [`Director::correct_conn_counts`]).
    pub fn set_dest_conns(&mut self, id: u32, c: DestConns) -> Result<()> {
        let mut m: Array<&mut MapData, DestConns> = Array::try_from(
            self.ebpf
                .map_mut("dest_conns")
                .ok_or(DatapathError::Missing("dest_conns"))?,
        )
        .map_err(map_err("dest_conns"))?;
        m.set(id, c, 0).map_err(map_err("dest_conns"))
    }

    /// The connection table's entry for a flow, if any.
    pub fn conn(&self, flow: &Flow) -> Result<Option<abi::Conn>> {
        self.lookup_conn("conns", flow)
    }

    /// `flow`'s entry in `conns` or `half_open`, if any.
    fn lookup_conn(&self, map: &'static str, flow: &Flow) -> Result<Option<abi::Conn>> {
        let m: HashMap<&MapData, Flow, abi::Conn> =
            HashMap::try_from(self.ebpf.map(map).ok_or(DatapathError::Missing(map))?)
                .map_err(map_err(map))?;
        match m.get(flow, 0) {
            Ok(c) => Ok(Some(c)),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(map_err(map)(e)),
        }
    }

    /// Writes one connection-table entry (state restored or synchronised from
    /// another director; tests use it to stamp an entry).
    pub fn set_conn(&mut self, flow: &Flow, conn: abi::Conn) -> Result<()> {
        self.insert_conn("conns", flow, conn)
    }

    /// Writes one entry of the half-open table (a handshake a restarted vipd
    /// adopts).
    pub fn set_half_open(&mut self, flow: &Flow, conn: abi::Conn) -> Result<()> {
        self.insert_conn("half_open", flow, conn)
    }

    fn insert_conn(&mut self, map: &'static str, flow: &Flow, conn: abi::Conn) -> Result<()> {
        let mut m: HashMap<&mut MapData, Flow, abi::Conn> =
            HashMap::try_from(self.ebpf.map_mut(map).ok_or(DatapathError::Missing(map))?)
                .map_err(map_err(map))?;
        m.insert(flow, conn, 0).map_err(map_err(map))
    }

    /// Recomputes every real server's active/inactive counts from the connection
    /// and half-open tables (entries that timed out or were evicted are not seen
    /// by the program) and returns the live entries of each table.
    /// `now_ns` is CLOCK_MONOTONIC_COARSE, the program's clock.
    pub fn correct_conn_counts(&mut self, now_ns: u64) -> Result<TableFill> {
        let cfg = self.config()?;
        let mut counts: std::collections::BTreeMap<u32, DestConns> = Default::default();
        let mut fill = TableFill::default();
        let mut present = 0;
        for (map, live) in [
            ("conns", &mut fill.conns),
            ("half_open", &mut fill.half_open),
        ] {
            let half_open = map == "half_open";
            self.for_each_conn(map, &mut |_, c| {
                present += usize::from(half_open);
                if now_ns.saturating_sub(c.last_ns) > cfg.timeout_ns(c.state) {
                    return;
                }
                *live += 1;
                let e = counts.entry(c.dest).or_default();
                if c.state == abi::conn_state::ESTABLISHED {
                    e.active += 1;
                } else {
                    e.inactive += 1;
                }
            })?;
        }
        for id in 0..self.sizes.dests {
            let want = counts.get(&id).copied().unwrap_or_default();
            if self.dest_conns(id)? != want {
                self.set_dest_conns(id, want)?;
            }
        }
        fill.half_open_present = present;
        Ok(fill)
    }

    /// The timeouts and flags in force.
    pub fn config(&self) -> Result<Config> {
        let m: Array<&MapData, Config> = Array::try_from(
            self.ebpf
                .map("config")
                .ok_or(DatapathError::Missing("config"))?,
        )
        .map_err(map_err("config"))?;
        m.get(&0, 0).map_err(map_err("config"))
    }

    /// Calls `f` with every entry of `conns` or `half_open` (batched reads,
    /// 4,096 entries per `bpf()` call where the kernel has them).
    pub fn for_each_conn(
        &self,
        map: &'static str,
        f: &mut dyn FnMut(&Flow, abi::Conn),
    ) -> Result<()> {
        let Some(aya::maps::Map::LruHashMap(m)) = self.ebpf.map(map) else {
            return Err(DatapathError::Missing(map));
        };
        use std::os::fd::AsFd;
        let walked = batch::for_each_entry::<Flow, abi::Conn>(m.fd().as_fd(), CONN_BATCH, f);
        match walked {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                // A kernel without batch lookups: one entry per two syscalls.
                let m: HashMap<&MapData, Flow, abi::Conn> =
                    HashMap::try_from(self.ebpf.map(map).ok_or(DatapathError::Missing(map))?)
                        .map_err(map_err(map))?;
                for (k, c) in m.iter().flatten() {
                    f(&k, c);
                }
                Ok(())
            }
            Err(e) => Err(DatapathError::Io(format!("reading {map}: {e}"))),
        }
    }

    /// The kernel's id of the director program (what `ip link` shows as
    /// `prog/xdp id N` where it is attached).
    pub fn prog_id(&self) -> Option<u32> {
        self.program().info().ok().map(|i| i.id())
    }

    /// The kernel's id of one of the program's maps (for `bpftool map dump id
    /// N`, and for tests that watch a table from outside).
    pub fn map_id(&self, name: &str) -> Option<u32> {
        let data = match self.ebpf.map(name)? {
            aya::maps::Map::LruHashMap(m) | aya::maps::Map::HashMap(m) => m,
            aya::maps::Map::Array(m) | aya::maps::Map::PerCpuArray(m) => m,
            _ => return None,
        };
        data.info().ok().map(|i| i.id())
    }

    /// Takes the sharing ring buffer out of the object (once): the daemon's
    /// sharing part reads promoted connections from it.
    pub fn take_sync_ring(&mut self) -> Result<aya::maps::RingBuf<MapData>> {
        let m = self
            .ebpf
            .take_map("sync_ring")
            .ok_or(DatapathError::Missing("sync_ring"))?;
        aya::maps::RingBuf::try_from(m).map_err(map_err("sync_ring"))
    }

    /// Turns the program's sharing of promoted connections on or off.
    pub fn set_sync(&mut self, on: bool) -> Result<()> {
        self.set_config_flag(abi::CFG_F_SYNC, on)
    }

    /// Raises or lowers one `CFG_F_*` flag (written only when it changes).
    fn set_config_flag(&mut self, flag: u32, on: bool) -> Result<()> {
        let mut cfg = self.config()?;
        let flags = if on {
            cfg.flags | flag
        } else {
            cfg.flags & !flag
        };
        if flags == cfg.flags {
            return Ok(());
        }
        cfg.flags = flags;
        self.set_config(cfg)
    }

    /// Writes one persistence template (shared by another director).
    pub fn set_persist(&mut self, key: &abi::PersistKey, value: abi::Persist) -> Result<()> {
        let mut m: HashMap<&mut MapData, abi::PersistKey, abi::Persist> = HashMap::try_from(
            self.ebpf
                .map_mut("persist")
                .ok_or(DatapathError::Missing("persist"))?,
        )
        .map_err(map_err("persist"))?;
        m.insert(key, value, 0).map_err(map_err("persist"))
    }

    /// How to translate the replies of a NAT connection (`reply` is the
    /// real server -> client flow).
    pub fn set_nat_rev(&mut self, reply: &Flow, value: abi::NatRev) -> Result<()> {
        let mut m: HashMap<&mut MapData, Flow, abi::NatRev> = HashMap::try_from(
            self.ebpf
                .map_mut("nat_rev")
                .ok_or(DatapathError::Missing("nat_rev"))?,
        )
        .map_err(map_err("nat_rev"))?;
        m.insert(reply, value, 0).map_err(map_err("nat_rev"))
    }

    /// The half-open table's entry for a flow, if any.
    pub fn half_open(&self, flow: &Flow) -> Result<Option<abi::Conn>> {
        self.lookup_conn("half_open", flow)
    }

    /// Runs the program once over `frame` as if received on `ifindex`
    /// (`BPF_PROG_TEST_RUN`); returns the verdict and the frame as it would leave.
    pub fn test_run(&self, frame: &[u8], ifindex: u32) -> Result<(u32, Vec<u8>)> {
        test_run(self.program(), frame, ifindex)
    }
}

/// `BPF_PROG_TEST_RUN` of an XDP program with an `xdp_md` naming the ingress device.
pub fn test_run(prog: &Xdp, frame: &[u8], ifindex: u32) -> Result<(u32, Vec<u8>)> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
    // egress_ifindex (u32 each).
    let md: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    let md_bytes: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut out = vec![0u8; frame.len() + 256];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: Some(&md_bytes),
            ..Default::default()
        })
        .map_err(|source| DatapathError::Program {
            what: "test run".into(),
            source,
        })?;
    out.truncate(r.data_size_out as usize);
    Ok((r.return_value, out))
}

/// The outer IPv6 source of TUN per interface, from (ifindex, address,
/// prefix length) of this namespace's addresses: a global address (not
/// loopback, link-local or multicast) that is not one of `vips`, one with a
/// prefix shorter than /128 first (a /128 is more often a VIP another
/// process added, or a DHCPv6 lease, which still serves if nothing else does).
pub fn outer_sources6(
    addrs: &[(u32, std::net::Ipv6Addr, u32)],
    vips: &BTreeSet<IpAddr>,
) -> BTreeMap<u32, std::net::Ipv6Addr> {
    let mut best: BTreeMap<u32, (bool, std::net::Ipv6Addr)> = BTreeMap::new();
    for &(idx, ip, prefix) in addrs {
        let global = !ip.is_loopback()
            && !ip.is_unspecified()
            && !ip.is_multicast()
            && (ip.segments()[0] & 0xffc0) != 0xfe80;
        if !global || vips.contains(&IpAddr::V6(ip)) {
            continue;
        }
        let host = prefix >= 128;
        match best.get(&idx) {
            Some(&(was_host, _)) if !was_host || host => {}
            _ => {
                best.insert(idx, (host, ip));
            }
        }
    }
    best.into_iter().map(|(i, (_, ip))| (i, ip)).collect()
}

/// `bpf_fib_lookup` answers only for interfaces with IPv4 forwarding enabled
/// (`BPF_FIB_LKUP_RET_FWD_DISABLED` otherwise), so the director turns it on for
/// its interface (`net.ipv4.conf.IFACE.forwarding`, this namespace only).
pub fn enable_fib_forwarding(iface: &str) -> Result<()> {
    let p = format!("net/ipv4/conf/{iface}/forwarding");
    if crate::sysctl::read(&p).ok().flatten().as_deref() == Some("1") {
        return Ok(());
    }
    tracing::info!(
        iface,
        "enabling net.ipv4.conf.{iface}.forwarding for bpf_fib_lookup"
    );
    crate::sysctl::write(&p, "1").map_err(|e| {
        DatapathError::Io(format!(
            "writing {}: {e}",
            crate::sysctl::path(&p).display()
        ))
    })
}

/// The same for IPv6 (`bpf_ipv6_fib_lookup` checks the ingress device's
/// `net.ipv6.conf.IFACE.forwarding`), turned on only once an IPv6 real
/// server is configured: on an interface with IPv6 forwarding the kernel
/// stops accepting router advertisements (unless `accept_ra` is 2), which
/// an IPv4-only director must not have changed under it.
pub fn enable_fib_forwarding6(iface: &str) -> Result<()> {
    let p = format!("net/ipv6/conf/{iface}/forwarding");
    match crate::sysctl::read(&p) {
        Ok(Some(v)) if v == "1" => return Ok(()),
        Ok(Some(_)) => {}
        // No IPv6 in this kernel or on this interface: no IPv6 packet to route.
        _ => return Ok(()),
    }
    // Turning forwarding on deletes the default routes learned from router
    // advertisements of interfaces with accept_ra 1 (rt6_purge_dflt_routers):
    // accept_ra 2 keeps them, and keeps accepting advertisements.
    let ra = format!("net/ipv6/conf/{iface}/accept_ra");
    if crate::sysctl::read(&ra).ok().flatten().as_deref() == Some("1") {
        tracing::info!(
            iface,
            "setting net.ipv6.conf.{iface}.accept_ra to 2: keeps the routes learned from router advertisements once IPv6 forwarding is on"
        );
        crate::sysctl::write(&ra, "2").map_err(|e| {
            DatapathError::Io(format!(
                "writing {}: {e}",
                crate::sysctl::path(&ra).display()
            ))
        })?;
    }
    tracing::info!(
        iface,
        "enabling net.ipv6.conf.{iface}.forwarding for bpf_fib_lookup (IPv6 real servers)"
    );
    crate::sysctl::write(&p, "1").map_err(|e| {
        DatapathError::Io(format!(
            "writing {}: {e}",
            crate::sysctl::path(&p).display()
        ))
    })
}

/// The `services` key of (VIP, port, protocol number).
pub fn svc_key(vip: IpAddr, port: u16, proto: u8) -> SvcKey {
    SvcKey {
        vip: addr_words(vip),
        port: port.to_be(),
        proto,
        family: abi::family(vip),
    }
}

fn vip_key(vip: IpAddr) -> VipKey {
    VipKey {
        addr: addr_words(vip),
        family: abi::family(vip),
        _pad: [0; 3],
    }
}

/// CLOCK_MONOTONIC as a duration (for the pure parts' `now`).
pub fn monotonic() -> std::time::Duration {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    std::time::Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// CLOCK_MONOTONIC_COARSE in ns: the program's clock (`bpf_ktime_get_coarse_ns`).
pub fn coarse_now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC_COARSE)
        .expect("CLOCK_MONOTONIC_COARSE is always available on Linux");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv6_outer_source_is_never_a_vip_and_prefers_a_subnet_address() {
        let a = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap();
        let vip: BTreeSet<IpAddr> = ["2001:db8:85::250".parse().unwrap()].into();
        let addrs = [
            // eth1 (2): the VIP as /64 listed first (the kernel lists the
            // newest first), link-local, a DHCPv6 /128, the subnet address.
            (2, a("2001:db8:85::250"), 64),
            (2, a("fe80::1"), 64),
            (2, a("2001:db8:85::77"), 128),
            (2, a("2001:db8:85::11"), 64),
            // eth2 (3): only a /128 lease: it serves.
            (3, a("2001:db8:99::5"), 128),
            // lo (1) and an interface with only a link-local: none.
            (1, a("::1"), 128),
            (4, a("fe80::4"), 64),
        ];
        let got = outer_sources6(&addrs, &vip);
        assert_eq!(
            got,
            [(2, a("2001:db8:85::11")), (3, a("2001:db8:99::5"))].into()
        );
    }
}
