//! `vipd realserver up|down|status`: make this host (or network namespace) a
//! real server of an LVS-TUN director, the job of the seed's `realserver.sh`.
//!
//! The decisions (decap mode, sysctl values, labels, drift checks, dry-run text)
//! are in [`vipd_core::realserver`]; this module observes the host, applies the
//! changes through netlink (`net`), /proc/sys files and aya (`decap`), and records
//! each step in a per-namespace state file (`sys`) so that `down` undoes exactly
//! what `up` did, newest first, restoring every sysctl's previous value.

mod decap;
mod net;
mod sys;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use rtnetlink::Handle;
use vipd_core::realserver::{
    arp_sysctls, next_label, problems, resolve_decap, rp_filter_sysctls, tunnel_module,
    validate_vip, Applied, Change, DecapChoice, DecapMode, Observed, SysctlKey, VipError,
    LOOPBACK_DEV, TUNNEL6_DEV, TUNNEL_DEV,
};

pub use decap::Counter;
use sys::State;

/// Errors of the real-server commands.
#[derive(Debug, thiserror::Error)]
pub enum RealserverError {
    /// The command changes the host and needs root.
    #[error(
        "`vipd realserver {0}` must run as root: it changes addresses, sysctls and tc filters. \
         Run it with sudo, inside the real server's network namespace (`ip netns exec NS vipd realserver {0} ...`)"
    )]
    NotRoot(&'static str),
    /// A --vip value is not a usable address.
    #[error("invalid --vip: {0}")]
    Vip(VipError),
    /// No --vip given.
    #[error("no VIP given: name the virtual service address with --vip ADDR (repeatable), e.g. --vip 10.253.85.250 or --vip 2001:db8::250")]
    NoVip,
    /// --interface names an interface that does not exist.
    #[error("interface {name:?} does not exist in this network namespace (interfaces here: {have}); check --interface")]
    NoSuchInterface {
        /// The name given.
        name: String,
        /// The interfaces that exist.
        have: String,
    },
    /// --interface names the loopback.
    #[error("--interface {0}: that is the loopback; name the interface(s) the director's tunnelled packets arrive on")]
    LoopbackInterface(String),
    /// The VIP is already one of this host's own addresses.
    #[error(
        "VIP {vip} is this host's own address ({vip}/{prefix} on {dev}): a VIP must be an address that only the \
         director answers ARP / Neighbour Solicitations for. Pass the service VIP, not the real server's address"
    )]
    VipIsLocal {
        /// The VIP.
        vip: IpAddr,
        /// Its prefix length there.
        prefix: u8,
        /// The device that has it.
        dev: String,
    },
    /// Kernel decap asked for, kernel has no ipip (IPv4 VIPs) or ip6_tunnel (IPv6 VIPs).
    #[error(
        "--decap kernel needs the kernel module `{module}` (it provides {dev}), which this kernel ({release}) does not \
         have: {detail}. Load it with `modprobe {module}` on a kernel that ships it, or use `--decap bpf` \
         (the default `--decap auto` picks it), which decapsulates with vipd's tc BPF program"
    )]
    KernelModuleMissing {
        /// `ipip` or `ip6_tunnel`.
        module: &'static str,
        /// `tunl0` or `ip6tnl0`.
        dev: &'static str,
        /// `uname -r`.
        release: String,
        /// What was checked.
        detail: String,
    },
    /// An IPv6 VIP, but IPv6 is off on the device that would carry it.
    #[error(
        "IPv6 VIP {vip}: IPv6 is {why} on {dev} in this network namespace, so the VIP cannot be bound there. \
         Enable it (`sysctl -w net.ipv6.conf.{dev}.disable_ipv6=0`, and on the interfaces the director's packets \
         arrive on) and run `vipd realserver up` again"
    )]
    Ipv6Disabled {
        /// The VIP.
        vip: IpAddr,
        /// Device.
        dev: &'static str,
        /// "disabled" or "not available".
        why: &'static str,
    },
    /// `up` again with another decap mode.
    #[error(
        "this namespace is already up with --decap {have} (see {path}); run `vipd realserver down` first to switch to {want}"
    )]
    ModeMismatch {
        /// Mode in force.
        have: DecapMode,
        /// Mode asked for.
        want: DecapMode,
        /// State file.
        path: PathBuf,
    },
    /// Nowhere to attach the decap program.
    #[error("no interface to attach the decap program to: no non-loopback interface is up; bring one up or pass --interface IF")]
    NoInterfaces,
    /// A netlink request failed.
    // The cause is part of the message (one line for the user), so these carry it
    // as a plain field rather than as an error source that anyhow would repeat.
    #[error("netlink: {what}: {error}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        error: rtnetlink::Error,
    },
    /// A file or socket operation failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// The BPF side failed.
    #[error("BPF decap: {what}: {detail}")]
    Bpf {
        /// What was being done.
        what: String,
        /// Details.
        detail: String,
    },
    /// The state file cannot be parsed.
    #[error("state file {path} is not valid ({detail}); inspect it, undo by hand what it lists, then remove it")]
    StateCorrupt {
        /// File.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// `status` found problems (already printed).
    #[error("{0} problem(s) found (listed above)")]
    Problems(usize),
    /// `down` could not undo everything.
    #[error("could not undo {0} step(s) (listed above); they stay in the state file, fix the cause and run `vipd realserver down` again")]
    UndoFailed(usize),
}

/// `vipd realserver ...`
#[derive(Debug, Subcommand)]
pub enum RealserverCommand {
    /// Make this host a real server for the VIP(s): bind the VIPs without answering
    /// ARP / Neighbour Solicitations for them, and decapsulate the director's
    /// tunnelled packets (kernel `ipip` with tunl0 and `ip6_tunnel` with ip6tnl0, or
    /// vipd's tc BPF program, which handles ipip, 6in4, 4in6 and ip6ip6, where the
    /// kernel lacks them). Idempotent: running it again repairs what drifted and adds
    /// new VIPs.
    Up(UpArgs),
    /// Undo exactly what `up` did (also restoring every sysctl's previous value).
    Down(DownArgs),
    /// Show VIPs, decap mode and counters, sysctls, and what drifted. Exit status 1
    /// when something is wrong.
    Status,
}

/// Decapsulation method.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum DecapArg {
    /// kernel modules if available (ipip for IPv4 VIPs, ip6_tunnel for IPv6 ones), else bpf.
    #[default]
    Auto,
    /// kernel ipip module and tunl0 (the seed's script); ip6_tunnel and ip6tnl0 for
    /// IPv6 VIPs (ip6ip6, and 4in6 once ip6tnl0 exists; 6in4 would need `sit`: use bpf).
    Kernel,
    /// vipd's tc ingress BPF program (ipip, 6in4, 4in6, ip6ip6), VIPs on lo.
    Bpf,
}

/// `vipd realserver up` options.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    vipd realserver up --vip 10.253.85.250\n  \
    vipd realserver up --vip 10.253.85.250 --vip 2001:db8::250\n  \
    vipd realserver up --vip 10.253.85.250 --decap bpf --interface eth0 --dry-run\n  \
    ip netns exec rs1 vipd realserver up --vip 10.253.85.250\n\n\
IPv4 VIPs: /32, with arp_ignore=1 / arp_announce=2 (all, the VIP device and the\n\
decap interfaces) so only the director answers ARP for them; kernel mode also\n\
sets rp_filter=0 on the tunnel device (lowering `all` without weakening others).\n\n\
IPv6 VIPs: /128 with nodad (no DAD, usable at once). IPv6 has no arp_ignore,\n\
arp_announce or rp_filter sysctls and needs none: the kernel answers a Neighbour\n\
Solicitation only for addresses of the interface it arrived on (a VIP on lo or\n\
ip6tnl0 is never advertised on the LAN) and takes the source of its own\n\
solicitations from the outgoing interface. IPv6 must be enabled (disable_ipv6=0)\n\
on the VIP device and on the interfaces the director's packets arrive on, and no\n\
proxy_ndp entry may exist for the VIP. vipd changes no IPv6 sysctl.")]
pub struct UpArgs {
    /// Virtual IP to serve (repeatable, IPv4 or IPv6). Bound as /32 without ARP, or
    /// as /128 without DAD.
    #[arg(long = "vip", value_name = "ADDR", required = true)]
    pub vips: Vec<IpAddr>,
    /// Interface(s) the tunnelled packets arrive on (bpf decap; repeatable).
    /// Default: every non-loopback interface that is up.
    #[arg(long = "interface", short = 'i', value_name = "IF")]
    pub interfaces: Vec<String>,
    /// How to decapsulate (ipip, 6in4, 4in6, ip6ip6).
    #[arg(long, value_enum, default_value_t)]
    pub decap: DecapArg,
    /// Print the equivalent `ip`/`sysctl`/`tc` commands and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `vipd realserver down` options.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Print the equivalent commands and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Run a `vipd realserver` command.
pub fn run(cmd: RealserverCommand) -> Result<(), RealserverError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| RealserverError::Io {
            what: "starting the async runtime".into(),
            error: source,
        })?;
    rt.block_on(async {
        let h = net::connect()?;
        match cmd {
            RealserverCommand::Up(a) => up(&h, a).await,
            RealserverCommand::Down(a) => down(&h, a).await,
            RealserverCommand::Status => status(&h).await,
        }
    })
}

fn require_root(cmd: &'static str) -> Result<(), RealserverError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(RealserverError::NotRoot(cmd))
    }
}

/// What the host looks like now.
struct Host {
    links: Vec<net::Link>,
    addrs: Vec<net::Addr>,
}

impl Host {
    async fn observe(h: &Handle) -> Result<Self, RealserverError> {
        Ok(Self {
            links: net::links(h).await?,
            addrs: net::addrs(h).await?,
        })
    }
    fn link(&self, name: &str) -> Option<&net::Link> {
        self.links.iter().find(|l| l.name == name)
    }
    fn name_of(&self, index: u32) -> String {
        self.links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("ifindex {index}"))
    }
    fn has_vip_on(&self, vip: IpAddr, dev: &str) -> bool {
        let Some(l) = self.link(dev) else {
            return false;
        };
        self.addrs
            .iter()
            .any(|a| a.index == l.index && a.addr == vip && a.prefix == net::host_prefix(vip))
    }
    /// This host's own addresses: what the decap program accepts as outer
    /// destination. Not the VIPs, not loopback, not IPv6 link-local (the director
    /// tunnels to a global or unique-local RIP).
    fn local_addrs(&self, vips: &[IpAddr]) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .addrs
            .iter()
            .map(|a| a.addr)
            .filter(|a| !a.is_loopback() && !a.is_multicast() && !vips.contains(a))
            .filter(|a| !matches!(a, IpAddr::V6(v6) if v6.is_unicast_link_local()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

async fn up(h: &Handle, a: UpArgs) -> Result<(), RealserverError> {
    // Validate everything before touching anything.
    if a.vips.is_empty() {
        return Err(RealserverError::NoVip);
    }
    let mut vips = Vec::new();
    for v in &a.vips {
        validate_vip(*v).map_err(RealserverError::Vip)?;
        if !vips.contains(v) {
            vips.push(*v);
        }
    }
    if !a.dry_run {
        require_root("up")?;
    }
    let _lock = if a.dry_run { None } else { Some(sys::lock()?) };
    if !a.dry_run {
        sys::gc_dead_states();
    }
    let host = Host::observe(h).await?;
    for name in &a.interfaces {
        match host.link(name) {
            None => {
                let have: Vec<&str> = host.links.iter().map(|l| l.name.as_str()).collect();
                return Err(RealserverError::NoSuchInterface {
                    name: name.clone(),
                    have: have.join(", "),
                });
            }
            Some(l) if l.loopback => return Err(RealserverError::LoopbackInterface(name.clone())),
            Some(_) => {}
        }
    }
    let (ino, cookie) = sys::netns_id()?;
    let existing = sys::load_state(ino, cookie)?;

    let choice = match a.decap {
        DecapArg::Auto => DecapChoice::Auto,
        DecapArg::Kernel => DecapChoice::Kernel,
        DecapArg::Bpf => DecapChoice::Bpf,
    };
    let mut all_vips: Vec<IpAddr> = existing
        .as_ref()
        .map(|s| s.vips.clone())
        .unwrap_or_default();
    for v in &vips {
        if !all_vips.contains(v) {
            all_vips.push(*v);
        }
    }
    let mode = match &existing {
        Some(st) => {
            let want = match choice {
                DecapChoice::Auto => st.decap,
                DecapChoice::Kernel => DecapMode::Kernel,
                DecapChoice::Bpf => DecapMode::Bpf,
            };
            if want != st.decap {
                return Err(RealserverError::ModeMismatch {
                    have: st.decap,
                    want,
                    path: sys::state_path(ino),
                });
            }
            st.decap
        }
        None => {
            // Kernel mode needs `ipip` for IPv4 VIPs and `ip6_tunnel` for IPv6 ones.
            let mut missing = None;
            for (dev, needed) in [
                (TUNNEL_DEV, all_vips.iter().any(IpAddr::is_ipv4)),
                (TUNNEL6_DEV, all_vips.iter().any(IpAddr::is_ipv6)),
            ] {
                let module = tunnel_module(dev);
                let (has, detail) = sys::kernel_has_module(module, dev, host.link(dev).is_some());
                if needed && !has && missing.is_none() {
                    missing = Some((module, dev, detail));
                }
            }
            resolve_decap(choice, missing.is_none()).ok_or_else(|| {
                let (module, dev, detail) = missing.clone().expect("only a missing module fails");
                RealserverError::KernelModuleMissing {
                    module,
                    dev,
                    release: sys::kernel_release(),
                    detail,
                }
            })?
        }
    };
    if mode == DecapMode::Bpf {
        // IPv6 must be on where the VIP goes; checked before anything changes.
        if let Some(v6) = all_vips.iter().find(|v| v.is_ipv6()) {
            let why = match sys::ipv6_disabled(LOOPBACK_DEV) {
                Some(false) => None,
                Some(true) => Some("disabled"),
                None => Some("not available"),
            };
            if let Some(why) = why {
                return Err(RealserverError::Ipv6Disabled {
                    vip: *v6,
                    dev: LOOPBACK_DEV,
                    why,
                });
            }
        }
    }
    if mode == DecapMode::Kernel && !a.interfaces.is_empty() {
        eprintln!(
            "note: --interface only matters for --decap bpf; tunl0 receives on every interface"
        );
    }
    let mut state = existing.unwrap_or(State {
        netns_inode: ino,
        netns_cookie: cookie,
        decap: mode,
        vips: Vec::new(),
        interfaces: Vec::new(),
        applied: Vec::new(),
    });

    // A VIP that is already one of this host's addresses anywhere but as /32 (/128)
    // on the VIP device is a real address: refuse.
    for vip in &vips {
        let vip_dev = mode.vip_dev(*vip);
        if let Some(a) = host.addrs.iter().find(|x| {
            x.addr == *vip
                && !(host.name_of(x.index) == vip_dev && x.prefix == net::host_prefix(*vip))
        }) {
            return Err(RealserverError::VipIsLocal {
                vip: *vip,
                prefix: a.prefix,
                dev: host.name_of(a.index),
            });
        }
    }

    let decap_devs: Vec<String> = match mode {
        DecapMode::Kernel => Vec::new(),
        DecapMode::Bpf => {
            let mut d: Vec<String> = if a.interfaces.is_empty() {
                host.links
                    .iter()
                    .filter(|l| l.up && !l.loopback)
                    .map(|l| l.name.clone())
                    .collect()
            } else {
                a.interfaces.clone()
            };
            for old in &state.interfaces {
                if !d.contains(old) && host.link(old).is_some() {
                    d.push(old.clone());
                }
            }
            if d.is_empty() {
                return Err(RealserverError::NoInterfaces);
            }
            d
        }
    };

    if all_vips.iter().any(IpAddr::is_ipv6) {
        for d in &decap_devs {
            if sys::ipv6_disabled(d) != Some(false) {
                eprintln!(
                    "note: IPv6 is off on {d}: decapsulated IPv6 packets (ip6ip6, 6in4) arriving there are dropped \
                     by the stack; enable it with `sysctl -w net.ipv6.conf.{d}.disable_ipv6=0` if the director \
                     sends them there"
                );
            }
        }
    }

    let plan = plan_up(h, &host, &state, mode, &all_vips, &decap_devs).await?;
    if a.dry_run {
        println!("# vipd realserver up --decap {mode}: would run");
        if plan.is_empty() {
            println!("# nothing: already up as asked");
        }
        for c in &plan {
            println!("{}", c.command());
        }
        return Ok(());
    }

    let before = state.applied.clone();
    state.vips = all_vips.clone();
    for d in &decap_devs {
        if !state.interfaces.contains(d) {
            state.interfaces.push(d.clone());
        }
    }
    match apply(h, &mut state, &plan, &all_vips).await {
        Ok(()) => {
            sys::save_state(&state)?;
            println!(
                "real server up: VIP {}, decap {mode}{}; state in {}",
                vips_on_devs(&all_vips, mode),
                if mode == DecapMode::Bpf {
                    format!(" (tc ingress on {})", decap_devs.join(", "))
                } else {
                    String::new()
                },
                sys::state_path(ino).display()
            );
            Ok(())
        }
        Err(e) => {
            // Put back what this run changed, so a failed `up` changes nothing.
            let new: Vec<Applied> = state
                .applied
                .iter()
                .filter(|a| !before.contains(a))
                .cloned()
                .collect();
            let host = Host::observe(h).await.ok();
            for step in new.iter().rev() {
                if let Err(u) = undo(h, host.as_ref(), step).await {
                    eprintln!("warning: rolling back {step:?}: {u}");
                }
            }
            if before.is_empty() {
                let _ = sys::remove_state(ino);
            }
            Err(e)
        }
    }
}

/// The steps `up` would take now, in order.
async fn plan_up(
    h: &Handle,
    host: &Host,
    state: &State,
    mode: DecapMode,
    vips: &[IpAddr],
    decap_devs: &[String],
) -> Result<Vec<Change>, RealserverError> {
    let mut plan = Vec::new();
    let v4: Vec<IpAddr> = vips.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = vips.iter().copied().filter(IpAddr::is_ipv6).collect();
    // ARP and rp_filter sysctls concern IPv4 VIPs only; IPv6 needs none (see `up --help`).
    let mut sysctl_ifaces: Vec<String> = Vec::new();
    // Tunnel devices whose decapsulated IPv4 needs rp_filter=0 (kernel mode).
    let mut rp_tunnels: Vec<&str> = Vec::new();
    match mode {
        DecapMode::Kernel => {
            if !v4.is_empty() {
                plan_tunnel(&mut plan, host, TUNNEL_DEV, true);
                let tun = host.link(TUNNEL_DEV);
                let mut used: Vec<String> = host
                    .addrs
                    .iter()
                    .filter(|a| Some(a.index) == tun.map(|t| t.index))
                    .filter_map(|a| a.label.clone())
                    .collect();
                for vip in &v4 {
                    let IpAddr::V4(vip4) = *vip else { continue };
                    if !host.has_vip_on(*vip, TUNNEL_DEV) {
                        let label = next_label(TUNNEL_DEV, &used);
                        used.push(label.clone());
                        plan.push(Change::AddVip {
                            vip: *vip,
                            dev: TUNNEL_DEV.into(),
                            label: Some(label),
                        });
                        plan.push(Change::AddRoute {
                            vip: vip4,
                            dev: TUNNEL_DEV.into(),
                        });
                    }
                }
                sysctl_ifaces.push(TUNNEL_DEV.into());
                rp_tunnels.push(TUNNEL_DEV);
            }
            if !v6.is_empty() {
                // ip6tnl0 takes ip6ip6 and 4in6; it has no ARP, and the address's own
                // local route is all IPv6 needs (no host route as for tunl0).
                plan_tunnel(&mut plan, host, TUNNEL6_DEV, false);
                for vip in &v6 {
                    if !host.has_vip_on(*vip, TUNNEL6_DEV) {
                        plan.push(Change::AddVip {
                            vip: *vip,
                            dev: TUNNEL6_DEV.into(),
                            label: None,
                        });
                    }
                }
                if !v4.is_empty() {
                    // An IPv4 VIP reached by 4in6 arrives on ip6tnl0.
                    rp_tunnels.push(TUNNEL6_DEV);
                }
            }
        }
        DecapMode::Bpf => {
            for vip in vips {
                if !host.has_vip_on(*vip, LOOPBACK_DEV) {
                    plan.push(Change::AddVip {
                        vip: *vip,
                        dev: LOOPBACK_DEV.into(),
                        label: None,
                    });
                }
            }
            if !v4.is_empty() {
                sysctl_ifaces.push(LOOPBACK_DEV.into());
                sysctl_ifaces.extend(decap_devs.iter().cloned());
            }
        }
    }

    let mut wanted = if v4.is_empty() {
        Vec::new()
    } else {
        arp_sysctls(&sysctl_ifaces)
    };
    if !rp_tunnels.is_empty() {
        let mut cur = BTreeMap::new();
        for i in sys::conf_ifaces()? {
            if let Some(v) = sys::read_sysctl(&SysctlKey::new(&i, "rp_filter"))? {
                cur.insert(i, v.parse().unwrap_or(0));
            }
        }
        // Our own earlier changes do not count as the "previous" value to preserve.
        for a in &state.applied {
            if let Applied::Sysctl { key, previous, .. } = a {
                if key.key == "rp_filter" {
                    cur.insert(key.iface.clone(), previous.parse().unwrap_or(0));
                }
            }
        }
        for tunnel in rp_tunnels {
            // A tunnel device made by this run has no sysctls yet: assume the default.
            cur.entry(tunnel.to_string()).or_insert(0);
            for (key, to) in rp_filter_sysctls(&cur, tunnel) {
                cur.insert(key.iface.clone(), to.parse().unwrap_or(0));
                if let Some(w) = wanted.iter_mut().find(|(k, _)| *k == key) {
                    w.1 = to;
                } else {
                    wanted.push((key, to));
                }
            }
        }
    }
    for (key, to) in wanted {
        let from = sys::read_sysctl(&key)?.unwrap_or_else(|| "(absent)".into());
        if from != to {
            plan.push(Change::Sysctl { key, from, to });
        }
    }

    if mode == DecapMode::Bpf {
        let mut attach = Vec::new();
        for dev in decap_devs {
            let l = host.link(dev).expect("decap devices were checked to exist");
            if !net::has_clsact(h, l.index).await? {
                plan.push(Change::AddClsact { dev: dev.clone() });
            }
            let filters = net::ingress_bpf_filters(h, l.index).await?;
            let ours = state.applied.iter().any(|a| {
                matches!(a, Applied::AttachedDecap { dev: d, prog_id, priority, handle, .. }
                    if d == dev && filters.iter().any(|f| f.prog_id == *prog_id && f.priority == *priority && f.handle == *handle))
            });
            if !ours {
                attach.push(Change::AttachDecap { dev: dev.clone() });
            }
        }
        plan.extend(attach);
        let local = host.local_addrs(vips);
        let current: Vec<IpAddr> = attached_prog_ids(state)
            .first()
            .and_then(|id| decap::local(*id).ok())
            .unwrap_or_default();
        if current != local || plan.iter().any(|c| matches!(c, Change::AttachDecap { .. })) {
            plan.push(Change::SetLocalAddrs { addrs: local });
        }
    }
    Ok(plan)
}

/// Kernel mode: create tunnel device `dev` if missing, bring it up (and turn its
/// ARP off when `arp_off`, as the seed does for tunl0).
fn plan_tunnel(plan: &mut Vec<Change>, host: &Host, dev: &str, arp_off: bool) {
    let tun = host.link(dev);
    if tun.is_none() {
        plan.push(Change::CreateTunnel { dev: dev.into() });
    }
    let (up, noarp) = tun.map(|l| (l.up, l.noarp)).unwrap_or((false, false));
    let arp_off = arp_off && !noarp;
    if !up || arp_off {
        plan.push(Change::LinkFlags {
            dev: dev.into(),
            up: !up,
            arp_off,
        });
    }
}

/// `10.253.85.250 on lo, 2001:db8::250 on lo`.
fn vips_on_devs(vips: &[IpAddr], mode: DecapMode) -> String {
    vips.iter()
        .map(|v| format!("{v} on {}", mode.vip_dev(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn attached_prog_ids(state: &State) -> Vec<u32> {
    let mut ids: Vec<u32> = state
        .applied
        .iter()
        .filter_map(|a| match a {
            Applied::AttachedDecap { prog_id, .. } => Some(*prog_id),
            _ => None,
        })
        .collect();
    ids.dedup();
    ids
}

/// Apply `plan`, recording every step in `state` as soon as it is done.
async fn apply(
    h: &Handle,
    state: &mut State,
    plan: &[Change],
    vips: &[IpAddr],
) -> Result<(), RealserverError> {
    let mut host = Host::observe(h).await?;
    let mut to_attach = Vec::new();
    for c in plan {
        match c {
            Change::CreateTunnel { dev } => {
                let (module, tdev) = if dev == TUNNEL6_DEV {
                    ("ip6_tunnel", TUNNEL6_DEV)
                } else {
                    ("ipip", TUNNEL_DEV)
                };
                let made = if tdev == TUNNEL6_DEV {
                    net::create_tunnel6(h, dev).await
                } else {
                    net::create_tunnel(h, dev).await
                };
                let created = made.map_err(|e| {
                    if net::is_errno(&e, libc::EOPNOTSUPP) || net::is_errno(&e, libc::ENOENT) {
                        RealserverError::KernelModuleMissing {
                            module,
                            dev: tdev,
                            release: sys::kernel_release(),
                            detail: format!(
                                "creating an {} link failed ({e})",
                                if tdev == TUNNEL6_DEV {
                                    "ip6tnl"
                                } else {
                                    "ipip"
                                }
                            ),
                        }
                    } else {
                        RealserverError::Netlink {
                            what: format!("creating {dev}"),
                            error: e,
                        }
                    }
                })?;
                if created {
                    state
                        .applied
                        .push(Applied::CreatedTunnel { dev: dev.clone() });
                }
                host = Host::observe(h).await?;
            }
            Change::LinkFlags { dev, up, arp_off } => {
                let l = host.link(dev).expect("planned on an existing link").clone();
                net::set_link(h, l.index, up.then_some(true), arp_off.then_some(false))
                    .await
                    .map_err(|source| RealserverError::Netlink {
                        what: format!("setting {dev} up / arp off"),
                        error: source,
                    })?;
                let recorded = state
                    .applied
                    .iter()
                    .any(|a| matches!(a, Applied::LinkFlags { dev: d, .. } if d == dev));
                if !recorded {
                    state.applied.push(Applied::LinkFlags {
                        dev: dev.clone(),
                        was_up: l.up,
                        was_noarp: l.noarp,
                    });
                }
            }
            Change::AddVip { vip, dev, label } => {
                let l = host.link(dev).expect("VIP device exists").clone();
                net::add_vip(h, l.index, *vip, label.as_deref()).await?;
                state.applied.push(Applied::AddedVip {
                    vip: *vip,
                    dev: dev.clone(),
                    label: label.clone(),
                });
            }
            Change::AddRoute { vip, dev } => {
                let l = host.link(dev).expect("VIP device exists").clone();
                match net::add_route(h, l.index, *vip).await {
                    Ok(()) => state.applied.push(Applied::AddedRoute {
                        vip: *vip,
                        dev: dev.clone(),
                    }),
                    Err(RealserverError::Netlink { error: source, .. })
                        if net::is_errno(&source, libc::EEXIST) => {}
                    Err(e) => return Err(e),
                }
            }
            Change::Sysctl { key, to, .. } => {
                // Read again: in kernel mode tunl0's sysctls appear only once it exists.
                let now = sys::read_sysctl(key)?.ok_or_else(|| RealserverError::Io {
                    what: format!("reading /proc/sys/{}", key.proc_path()),
                    error: std::io::ErrorKind::NotFound.into(),
                })?;
                if &now == to {
                    continue;
                }
                sys::write_sysctl(key, to)?;
                let mut recorded = false;
                for a in state.applied.iter_mut() {
                    if let Applied::Sysctl {
                        key: k, applied, ..
                    } = a
                    {
                        if k == key {
                            *applied = to.clone();
                            recorded = true;
                        }
                    }
                }
                if !recorded {
                    state.applied.push(Applied::Sysctl {
                        key: key.clone(),
                        previous: now,
                        applied: to.clone(),
                    });
                }
            }
            Change::AddClsact { dev } => match aya::programs::tc::qdisc_add_clsact(dev) {
                Ok(()) => state
                    .applied
                    .push(Applied::AddedClsact { dev: dev.clone() }),
                Err(aya::programs::tc::TcError::NetlinkError(e))
                    if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(RealserverError::Bpf {
                        what: format!("adding the clsact qdisc to {dev}"),
                        detail: e.to_string(),
                    })
                }
            },
            Change::AttachDecap { dev } => to_attach.push(dev.clone()),
            Change::SetLocalAddrs { addrs } => {
                if !to_attach.is_empty() {
                    // Records of filters that disappeared from these devices are stale now.
                    let attached = decap::attach(&to_attach, addrs)?;
                    state.applied.retain(
                        |a| !matches!(a, Applied::AttachedDecap { dev, .. } if to_attach.contains(dev)),
                    );
                    for at in attached {
                        let ifindex = host.link(&at.dev).map(|l| l.index).unwrap_or(0);
                        state.applied.push(Applied::AttachedDecap {
                            dev: at.dev,
                            ifindex,
                            priority: at.priority,
                            handle: at.handle,
                            prog_id: at.prog_id,
                        });
                    }
                    to_attach.clear();
                }
                for id in attached_prog_ids(state) {
                    // Filters of a previous `up` that are gone leave their program unloaded.
                    if let Err(e) = decap::set_local(id, addrs) {
                        tracing::debug!("program {id}: {e}");
                    }
                }
            }
        }
    }
    let _ = vips;
    Ok(())
}

/// Undo one recorded step. Things already gone (device deleted, address removed)
/// count as undone.
async fn undo(h: &Handle, host: Option<&Host>, step: &Applied) -> Result<(), RealserverError> {
    let gone = |e: &rtnetlink::Error| {
        net::is_errno(e, libc::ENODEV)
            || net::is_errno(e, libc::ESRCH)
            || net::is_errno(e, libc::EADDRNOTAVAIL)
            || net::is_errno(e, libc::ENOENT)
    };
    let undone = |what: &str, r: Result<(), rtnetlink::Error>| match r {
        Err(e) if !gone(&e) => Err(RealserverError::Netlink {
            what: what.to_owned(),
            error: e,
        }),
        _ => Ok(()),
    };
    let index = |dev: &str| host.and_then(|h| h.link(dev)).map(|l| l.index);
    match step {
        Applied::CreatedTunnel { dev } => match index(dev) {
            Some(i) => undone(&format!("deleting {dev}"), net::del_link(h, i).await),
            None => Ok(()),
        },
        Applied::LinkFlags {
            dev,
            was_up,
            was_noarp,
        } => match index(dev) {
            Some(i) => undone(
                &format!("restoring the flags of {dev}"),
                net::set_link(h, i, Some(*was_up), Some(!*was_noarp)).await,
            ),
            None => Ok(()),
        },
        Applied::AddedVip { vip, dev, .. } => match index(dev) {
            Some(i) => undone(
                &format!("removing {vip} from {dev}"),
                net::del_vip(h, i, *vip).await,
            ),
            None => Ok(()),
        },
        Applied::AddedRoute { vip, dev } => match index(dev) {
            Some(i) => undone(
                &format!("removing the route to {vip} via {dev}"),
                net::del_route(h, i, *vip).await,
            ),
            None => Ok(()),
        },
        Applied::Sysctl { key, previous, .. } => match sys::read_sysctl(key) {
            Ok(Some(_)) => sys::write_sysctl(key, previous),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        },
        Applied::AddedClsact { dev } => match index(dev) {
            Some(i) => {
                // Someone else's filters on the qdisc we added: keep it rather than delete theirs.
                let left = net::ingress_bpf_filters(h, i).await?;
                if !left.is_empty() {
                    eprintln!("note: keeping the clsact qdisc on {dev}: other tc filters use it");
                    return Ok(());
                }
                undone(
                    &format!("removing the clsact qdisc of {dev}"),
                    net::del_clsact(h, i).await,
                )
            }
            None => Ok(()),
        },
        Applied::AttachedDecap {
            dev,
            priority,
            handle,
            prog_id,
            ..
        } => match index(dev) {
            Some(i) => {
                let filters = net::ingress_bpf_filters(h, i).await?;
                if !filters.iter().any(|f| {
                    f.prog_id == *prog_id && f.priority == *priority && f.handle == *handle
                }) {
                    return Ok(()); // already removed (by hand or with its device)
                }
                decap::detach(dev, *priority, *handle)
            }
            None => Ok(()),
        },
    }
}

fn undo_command(step: &Applied) -> String {
    match step {
        Applied::CreatedTunnel { dev } => format!("ip link del {dev}"),
        Applied::LinkFlags {
            dev,
            was_up,
            was_noarp,
        } => format!(
            "ip link set {dev} {} arp {}",
            if *was_up { "up" } else { "down" },
            if *was_noarp { "off" } else { "on" }
        ),
        Applied::AddedVip { vip, dev, .. } => {
            format!("ip addr del {vip}/{} dev {dev}", net::host_prefix(*vip))
        }
        Applied::AddedRoute { vip, dev } => format!("ip route del {vip}/32 dev {dev}"),
        Applied::Sysctl { key, previous, .. } => {
            format!("sysctl -w {}={previous}", key.sysctl_name())
        }
        Applied::AddedClsact { dev } => format!("tc qdisc del dev {dev} clsact"),
        Applied::AttachedDecap {
            dev,
            priority,
            handle,
            ..
        } => {
            format!("tc filter del dev {dev} ingress prio {priority} handle {handle:#x} bpf")
        }
    }
}

async fn down(h: &Handle, a: DownArgs) -> Result<(), RealserverError> {
    let (ino, cookie) = sys::netns_id()?;
    let Some(state) = sys::load_state(ino, cookie)? else {
        println!(
            "nothing to undo: `vipd realserver up` has not run in this network namespace (no {})",
            sys::state_path(ino).display()
        );
        return Ok(());
    };
    if a.dry_run {
        println!("# vipd realserver down: would run");
        for step in state.applied.iter().rev() {
            println!("{}", undo_command(step));
        }
        return Ok(());
    }
    require_root("down")?;
    let _lock = sys::lock()?;
    sys::gc_dead_states();
    // Read again under the lock: another run may have changed it meanwhile.
    let Some(mut state) = sys::load_state(ino, cookie)? else {
        println!("nothing to undo: another `vipd realserver down` just did it");
        return Ok(());
    };
    let host = Host::observe(h).await?;
    let mut failed = Vec::new();
    while let Some(step) = state.applied.pop() {
        if let Err(e) = undo(h, Some(&host), &step).await {
            eprintln!("error: {}: {e}", undo_command(&step));
            failed.push(step);
        }
    }
    if failed.is_empty() {
        sys::remove_state(ino)?;
        println!(
            "real server down: removed VIP {} and restored what `up` changed",
            comma_list(&state.vips)
        );
        Ok(())
    } else {
        let n = failed.len();
        failed.reverse();
        state.applied = failed;
        sys::save_state(&state)?;
        Err(RealserverError::UndoFailed(n))
    }
}

/// `a, b, c`: addresses as `down` and `status` print them.
fn comma_list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn status(h: &Handle) -> Result<(), RealserverError> {
    let (ino, cookie) = sys::netns_id()?;
    let Some(state) = sys::load_state(ino, cookie)? else {
        println!("not up: `vipd realserver up` has not run in this network namespace");
        return Ok(());
    };
    if state.decap == DecapMode::Bpf {
        // The decap program's maps (counters, addresses) are readable by root only.
        require_root("status")?;
    }
    let host = Host::observe(h).await?;
    println!(
        "real server: up, decap {} (state {})",
        state.decap,
        sys::state_path(ino).display()
    );
    println!("VIPs:       {}", vips_on_devs(&state.vips, state.decap));
    let mut seen = Observed {
        up_devs: host
            .links
            .iter()
            .filter(|l| l.up)
            .map(|l| l.name.clone())
            .collect(),
        addrs: host
            .addrs
            .iter()
            .map(|a| (a.addr, host.name_of(a.index)))
            .collect(),
        ..Default::default()
    };
    if state.decap == DecapMode::Kernel {
        for (dev, family) in [
            (TUNNEL_DEV, IpAddr::is_ipv4 as fn(&IpAddr) -> bool),
            (TUNNEL6_DEV, IpAddr::is_ipv6),
        ] {
            if !state.vips.iter().any(family) {
                continue;
            }
            if let Some(l) = host.link(dev) {
                println!(
                    "{:<12}{}, arp {}",
                    format!("{dev}:"),
                    if l.up { "up" } else { "DOWN" },
                    if l.noarp { "off" } else { "ON" }
                );
            }
        }
    }
    for a in &state.applied {
        if let Applied::AttachedDecap { dev, .. } = a {
            if let Some(l) = host.link(dev) {
                for f in net::ingress_bpf_filters(h, l.index).await? {
                    if f.name.starts_with(decap::PROG_NAME) {
                        seen.decap_filters.push((dev.clone(), f.prog_id));
                    }
                }
            }
        }
    }
    let ids = attached_prog_ids(&state);
    if state.decap == DecapMode::Bpf {
        println!("decap:      tc ingress on {}", state.interfaces.join(", "));
        let mut sum = [0u64; decap::COUNTERS];
        for id in &ids {
            if let Ok(c) = decap::counters(*id) {
                for (s, v) in sum.iter_mut().zip(c) {
                    *s += v;
                }
            }
        }
        seen.host_local = host.local_addrs(&state.vips);
        seen.decap_local = ids.first().and_then(|id| decap::local(*id).ok());
        if let Some(l) = &seen.decap_local {
            println!(
                "outer dst:  {}",
                l.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!("counters:   program {ids:?}");
        for c in Counter::SHOWN {
            println!("  {:<34}{}", c.label(), sum[c as usize]);
        }
    }
    println!("sysctls:");
    for a in &state.applied {
        if let Applied::Sysctl {
            key,
            previous,
            applied,
        } = a
        {
            let now = sys::read_sysctl(key)?;
            println!(
                "  {:<36} {} (vipd set {applied}, was {previous})",
                key.sysctl_name(),
                now.as_deref().unwrap_or("(absent)")
            );
            seen.sysctls.insert(key.clone(), now);
        }
    }
    let p = problems(&state.applied, &state.vips, state.decap, &seen);
    if p.is_empty() {
        println!("checks:     OK");
        Ok(())
    } else {
        for line in &p {
            println!("PROBLEM: {line}");
        }
        Err(RealserverError::Problems(p.len()))
    }
}
