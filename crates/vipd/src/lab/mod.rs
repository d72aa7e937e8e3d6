//! `vipd lab`: the seed's network on one machine, in network namespaces.
//!
//! ```text
//!                  client subnet 203.0.113.0/24
//!  +-------------+                      +------------------------------------------------------+
//!  | NAME-client |eth0 .2 --- .1 client | NAME-router                             ip_forward=1 |
//!  +-------------+                      |                                                      |
//!                                       |  br-dir 10.253.85.1/24        br-rs 10.253.26.254/24 |
//!                                       |   ports: dir1  dir2             ports: rs1  rs2  rs3 |
//!                                       +--------+------+-------------------------+----+----+--+
//!                                                |      |                         |    |    |
//!                                        eth1 .11|      |eth1 .12          eth0 .1| .2 | .3 |
//!                                          +-----+--+ +-+------+             +----+-+ ++---+ ++---+
//!                                          |  dir1  | |  dir2  |             | rs1  | |rs2 | |rs3 |
//!                                          +--------+ +--------+             +------+ +----+ +----+
//!                                      director LAN 10.253.85.0/24      real-server LAN 10.253.26.0/24
//!                                      VIP 10.253.85.250: VRRP's        httpd on :80 of every rsN
//!                                      (the lab never assigns it)       (namespaces NAME-dirN, NAME-rsN)
//! ```
//!
//! Every node is a namespace `NAME-NODE`; each has one veth cable to the router
//! namespace, whose end in the router is named after the node (`dir1`, `rs2`,
//! `client`). The two LANs are Linux bridges inside the router namespace with
//! multicast snooping off, so ARP, gratuitous ARP and VRRP multicast behave as on a
//! plain switch. Default routes point at the router, so every node reaches every
//! other. Addresses and names come from [`vipd_core::lab`].
//!
//! # Using it from a test
//!
//! ```no_run
//! use vipd::lab::{LabGuard, LabOptions};
//! let lab = LabGuard::up(LabOptions::unique("t")).unwrap(); // name "t" + 4 hex digits
//! let out = lab.exec("client", ["curl", "-s", "http://10.253.26.1/"]).unwrap();
//! assert!(String::from_utf8_lossy(&out.stdout).starts_with("rs1"));
//! let ns: String = lab.netns("dir1");          // "t1a2b-dir1", for `ip -n` or netns::*
//! let child = lab.spawn("dir1", ["sleep", "60"]).unwrap(); // killed when the lab goes
//! drop(lab); // kills every process in the lab's namespaces, removes namespaces, links, state
//! # drop(child);
//! ```
//!
//! - [`LabGuard::up`] builds a lab and removes it on drop (also on panic);
//!   [`LabOptions`] sets directors, reals, MTU, whether real servers get `vipd lab
//!   httpd` (`httpd: false` for a test that brings its own servers) and whether the
//!   directors' ports get the pass XDP program.
//! - [`Lab`] (what the guard derefs to; [`Lab::open`] finds a lab by name) has
//!   [`Lab::netns`], [`Lab::exec`] (run, wait, capture), [`Lab::exec_ok`],
//!   [`Lab::spawn`] (run in the background, recorded, killed by `down`),
//!   [`Lab::command`] (a `Command` to configure yourself, then [`Lab::spawn_command`]),
//!   [`Lab::run_in`] (a closure on a thread inside the node's namespace) and
//!   [`Lab::status`].
//! - [`netns`]: the namespace helper underneath (also for namespaces that are not a
//!   lab's); [`xdp::attach_pass`]: the pass XDP program for any veth peer;
//!   [`ethtool`]: checksum offload and GRO off; [`client::http_get`]: a tiny HTTP
//!   client that runs in a namespace.
//!
//! # What the lab sets, and why
//!
//! - On each director's bridge port (`dirN` in the router): TX checksum offload off
//!   and GRO off (see [`ethtool`]), and the pass XDP program (see [`xdp`]).
//! - In every namespace: IPv6 off, `rp_filter` 0; in the router `ip_forward` 1 and
//!   no ICMP redirects (see `topo.rs` for each line's reason).
//! - Bridges have fixed MACs so ARP caches never go stale when ports change.
//!
//! State lives in `/run/vipd/labs/NAME/` (see [`state`]); `down` works from it and
//! from the namespace naming scheme, so it also cleans up after a crash.

pub mod cli;
pub mod client;
mod cpu;
pub mod ecmp_story;
pub mod ethtool;
pub mod netns;
pub mod state;
pub mod story;
mod topo;
pub mod xdp;

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
pub use vipd_core::lab::{
    dip, rip, LabPlan, Node, PlanError, Role, CLIENT_IP, MAX_NAME_LEN, ROUTER_CLIENT_IP,
    ROUTER_DLAN_IP, ROUTER_RLAN_IP, VIP,
};

/// Errors of the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Not running as root.
    #[error("vipd lab needs root (network namespaces, links, XDP): run it with sudo")]
    NotRoot,
    /// Name, counts or MTU refused.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A real server's CPU budget could not be set.
    #[error("real servers' CPU budget (--rs-cpu): {what}: {source}")]
    Cgroup {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A lab (or namespaces) with this name already exist.
    #[error("lab {name:?} already exists ({what}): pick another --name, or remove it with `vipd lab down --name {name}`")]
    Exists {
        /// Lab name.
        name: String,
        /// What was found.
        what: String,
    },
    /// No such lab.
    #[error("no lab named {name:?}{hint}")]
    NotFound {
        /// Lab name.
        name: String,
        /// Which labs exist.
        hint: String,
    },
    /// The lab exists but `up` never finished.
    #[error("lab {0:?} is incomplete (did `vipd lab up` crash?): remove it with `vipd lab down --name {0}`")]
    Incomplete(String),
    /// No such node in this lab.
    #[error("lab {lab:?} has no node {node:?}; its nodes: {nodes}")]
    UnknownNode {
        /// Lab name.
        lab: String,
        /// Node asked for.
        node: String,
        /// The nodes it has.
        nodes: String,
    },
    /// A namespace operation failed.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// A kernel feature the lab needs is missing.
    #[error("{what}: {hint}")]
    MissingFeature {
        /// What was being done.
        what: String,
        /// What to do about it.
        hint: String,
    },
    /// The kernel refused a request.
    #[error("{what} (namespace {ns:?}): {detail}")]
    Kernel {
        /// Namespace.
        ns: String,
        /// What was being done.
        what: String,
        /// What the kernel said.
        detail: String,
    },
    /// The ethtool ioctl failed.
    #[error("turning tx checksum offload and GRO off on {iface} (namespace {ns:?}): {source}")]
    Ethtool {
        /// Namespace.
        ns: String,
        /// Interface.
        iface: String,
        /// The error.
        source: std::io::Error,
    },
    /// The pass XDP program could not be attached.
    #[error(transparent)]
    Xdp(#[from] xdp::XdpPassError),
    /// The lab's state directory could not be written or read.
    #[error("lab state {path}: {source}")]
    State {
        /// Path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A command could not be started in a node.
    #[error("cannot run {program:?} in {node}: {source}{hint}")]
    Spawn {
        /// Node.
        node: String,
        /// Program.
        program: String,
        /// The error.
        source: std::io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A command run by [`Lab::exec_ok`] failed.
    #[error("`{command}` in {node} failed ({status}): {stderr}")]
    CommandFailed {
        /// Node.
        node: String,
        /// Command line.
        command: String,
        /// Exit status.
        status: std::process::ExitStatus,
        /// Its standard error.
        stderr: String,
    },
    /// The vipd binary (for `vipd lab httpd`) was not found.
    #[error("cannot find the vipd binary to run `vipd lab httpd` on the real servers: set VIPD_BIN=/path/to/vipd (tests: `cargo build -p vipd` first)")]
    NoVipdBinary,
    /// A real server's HTTP server did not come up.
    #[error("the HTTP server on {node} did not answer on port 80 within {secs} s; its log ({log}):\n{tail}")]
    Httpd {
        /// Node.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// Log path.
        log: String,
        /// End of its log.
        tail: String,
    },
    /// `--ecmp` without BIRD.
    #[error("vipd lab up --ecmp runs BIRD 2 on the router and the directors: install it (apt-get install bird2, or `make deps`)")]
    NoBird,
    /// A worker thread panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

fn state_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
    let path = path.into();
    move |source| LabError::State { path, source }
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Lab name: `[a-z][a-z0-9]*`, at most [`MAX_NAME_LEN`] characters.
    pub name: String,
    /// Number of directors (`dir1`..), default 2.
    pub directors: u8,
    /// Number of real servers (`rs1`..), default 3.
    pub reals: u8,
    /// MTU of every link, default 1500.
    pub mtu: u32,
    /// Start `vipd lab httpd` on port 80 of every real server (default true).
    pub httpd: bool,
    /// Attach the pass XDP program to the directors' bridge ports (default true).
    pub xdp_pass: bool,
    /// The NAT variant: the router sends the real servers' replies to
    /// clients through the active director (the gateway VIP 10.253.85.254;
    /// with `ipv6` also 2001:db8:85::254 for the IPv6 replies).
    pub nat: bool,
    /// The ECMP variant: BIRD on the router and on every director; each
    /// director's vipd announces the VIPs it serves (`vipd_announce vipd0`)
    /// and the router spreads flows over them (multipath, L4 hash, BFD).
    pub ecmp: bool,
    /// Dual stack: every link also carries IPv6 (the IPv6 twin of each
    /// address, `vipd_core::lab::ipv6_twin`: 2001:db8:85::11 for
    /// 10.253.85.11), the router forwards it.
    pub ipv6: bool,
    /// Each real server's httpd gets this many CPUs (a cgroup CPU quota), as
    /// if each real server had a machine of its own; `None`: no limit.
    pub rs_cpu: Option<f64>,
    /// The vipd binary that runs `vipd lab httpd`; `None` finds it (see
    /// [`vipd_binary`]).
    pub vipd_bin: Option<PathBuf>,
}

impl Default for LabOptions {
    fn default() -> Self {
        Self {
            name: "vipd".into(),
            directors: 2,
            reals: 3,
            mtu: 1500,
            httpd: true,
            xdp_pass: true,
            nat: false,
            ecmp: false,
            ipv6: false,
            rs_cpu: None,
            vipd_bin: None,
        }
    }
}

impl LabOptions {
    /// Default options with a fresh name: `prefix` followed by 4 random hex digits
    /// (`prefix` at most 6 characters, lower-case letters and digits).
    pub fn unique(prefix: &str) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        Self {
            name: format!("{prefix}{:04x}", h.finish() & 0xffff),
            ..Self::default()
        }
    }
}

/// Finds the vipd binary: `explicit`, else `$VIPD_BIN`, else this executable if it
/// is `vipd`, else `vipd` next to it or one directory up (where cargo puts the
/// binary relative to a test executable in `target/*/deps/`).
pub fn vipd_binary(explicit: Option<&Path>) -> Result<PathBuf, LabError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("VIPD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|_| LabError::NoVipdBinary)?;
    if exe.file_name() == Some(OsStr::new("vipd")) {
        return Ok(exe);
    }
    let dir = exe.parent().ok_or(LabError::NoVipdBinary)?;
    [dir.join("vipd"), dir.join("../vipd")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or(LabError::NoVipdBinary)
}

/// A lab that exists (or is being built): its plan, and the processes this process
/// started in it.
#[derive(Debug)]
pub struct Lab {
    plan: LabPlan,
    xdp_pass: bool,
    nat: bool,
    ecmp: bool,
    ipv6: bool,
    rs_cpu: Option<vipd_core::lab::CpuQuota>,
    /// Children started by this process (reaped by `down`, so no zombies remain).
    children: Mutex<Vec<Child>>,
}

fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

/// Namespaces of lab `name` that exist, found by the naming scheme.
fn lab_namespaces(name: &str) -> Vec<String> {
    netns::list()
        .into_iter()
        .filter(|ns| vipd_core::lab::node_of_netns(name, ns).is_some())
        .collect()
}

/// Runs `f`'s future to completion on a private single-thread runtime in a fresh
/// thread, so it works whether or not the caller is inside a tokio runtime.
fn block_on<T, F, Fut>(f: F) -> Result<T, LabError>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = Result<T, LabError>>,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LabError::Internal(format!("tokio runtime: {e}")))?;
            rt.block_on(f())
        })
        .join()
        .unwrap_or_else(|_| Err(LabError::Internal("lab worker thread panicked".into())))
    })
}

/// Builds lab `opts.name`. On any failure everything already built is removed
/// again, and the error says what went wrong.
pub fn up(opts: &LabOptions) -> Result<Lab, LabError> {
    require_root()?;
    let plan = LabPlan::new(&opts.name, opts.directors, opts.reals, opts.mtu)?;
    let rs_cpu = opts.rs_cpu.map(vipd_core::lab::CpuQuota::new).transpose()?;
    let name = plan.name().to_string();
    let taken = lab_namespaces(&name);
    if !taken.is_empty() {
        return Err(LabError::Exists {
            name,
            what: format!("namespaces {}", taken.join(" ")),
        });
    }
    let vipd_bin = if opts.httpd {
        Some(vipd_binary(opts.vipd_bin.as_deref())?)
    } else {
        None
    };
    // Directors stopped for a restart pin their program in bpffs; the next
    // one, in its own mount namespace, finds it only on a bpffs mounted here.
    if let Err(e) = crate::datapath::pin::root() {
        tracing::warn!("no bpffs for the directors' restarts: {e}");
    }
    if !state::create(&name).map_err(state_err(state::dir(&name)))? {
        return Err(LabError::Exists {
            name: name.clone(),
            what: format!("{} exists", state::dir(&name).display()),
        });
    }
    let lab = Lab {
        plan,
        xdp_pass: opts.xdp_pass,
        nat: opts.nat,
        ecmp: opts.ecmp,
        ipv6: opts.ipv6,
        rs_cpu,
        children: Mutex::new(Vec::new()),
    };
    match lab.build(vipd_bin.as_deref()) {
        Ok(()) => Ok(lab),
        Err(e) => {
            // Nothing half-built: the marker was created first, so teardown finds
            // every namespace and process of this lab.
            if let Err(e2) = lab.teardown() {
                eprintln!("warning: rolling back lab {name}: {e2}");
            }
            Err(e)
        }
    }
}

impl Lab {
    /// Finds an existing, complete lab by name.
    pub fn open(name: &str) -> Result<Lab, LabError> {
        vipd_core::lab::validate_name(name)?;
        if !state::dir(name).exists() {
            let labs = list();
            let hint = if labs.is_empty() {
                ": no lab is up (start one with `vipd lab up`)".to_string()
            } else {
                format!(": labs that exist: {}", labs.join(" "))
            };
            return Err(LabError::NotFound {
                name: name.to_string(),
                hint,
            });
        }
        let stored = state::load(name).ok_or_else(|| LabError::Incomplete(name.to_string()))?;
        Ok(Lab {
            plan: LabPlan::new(&stored.name, stored.directors, stored.reals, stored.mtu)?,
            xdp_pass: stored.xdp_pass,
            nat: stored.nat,
            ecmp: stored.ecmp,
            ipv6: stored.ipv6,
            rs_cpu: None,
            children: Mutex::new(Vec::new()),
        })
    }

    fn build(&self, vipd_bin: Option<&Path>) -> Result<(), LabError> {
        let mut created = Vec::new();
        topo::create_namespaces(&self.plan, self.ipv6, &mut created)?;
        let plan = &self.plan;
        let xdp_pass = self.xdp_pass;
        let ipv6 = self.ipv6;
        block_on(|| topo::build(plan, xdp_pass, ipv6))?;
        if self.nat {
            for cmd in vipd_core::lab::nat_router_commands(self.ipv6) {
                self.exec_ok("router", &cmd)?;
            }
        }
        if self.rs_cpu.is_some() {
            self.thread_directors_napi()?;
        }
        if self.ecmp {
            self.start_birds()?;
        }
        if let Some(bin) = vipd_bin {
            self.start_httpds(bin)?;
        }
        let stored = state::Stored {
            name: self.plan.name().to_string(),
            directors: self.plan.directors(),
            reals: self.plan.reals(),
            mtu: self.plan.mtu(),
            xdp_pass: self.xdp_pass,
            nat: self.nat,
            ecmp: self.ecmp,
            ipv6: self.ipv6,
        };
        state::save(&stored).map_err(state_err(state::dir(self.name()).join("lab.json")))
    }

    /// With a CPU budget per real server: each director's packet processing
    /// (its XDP program on eth1) runs in a kernel thread of its own
    /// (threaded NAPI), as on a machine of its own. Otherwise the kernel runs
    /// it in whatever process's context raised it on that CPU, often a real
    /// server's httpd answering a client whose ACK then crosses the
    /// director, and charges it to that real server's budget: measured,
    /// each real server then served 0.8x through the VIP what it served
    /// directly (docs/LAB.md).
    fn thread_directors_napi(&self) -> Result<(), LabError> {
        for d in self.directors() {
            // A veth has NAPI (and so a thread to run it) only with GRO or
            // an XDP program; vipd attaches its program later.
            ethtool::gro_on(&self.netns(&d.name), "eth1")
                .map_err(|e| LabError::Internal(format!("GRO on {}'s eth1: {e}", d.name)))?;
            // Through sysfs, which shows this namespace's interfaces only in
            // a mount namespace with /sys remounted: write only if eth1 there
            // is the director's (its MAC as netlink, which follows the
            // network namespace, reports it), never a host interface.
            let mac = self.exec_ok(&d.name, ["cat", "/sys/class/net/eth1/address"])?;
            let link = self.exec_ok(&d.name, ["ip", "-o", "link", "show", "dev", "eth1"])?;
            if !link.contains(&format!("link/ether {}", mac.trim())) {
                return Err(LabError::Internal(format!(
                    "{}: /sys/class/net/eth1 is not the namespace's eth1 ({}), not writing to it",
                    d.name,
                    mac.trim()
                )));
            }
            self.exec_ok(
                &d.name,
                ["sh", "-c", "echo 1 > /sys/class/net/eth1/threaded"],
            )?;
        }
        Ok(())
    }

    /// The ECMP variant: the router's multipath hash, and BIRD on the router
    /// and on every director (configurations and control sockets in the
    /// lab's state directory, `NODE-bird.conf`, `NODE-bird.ctl`).
    fn start_birds(&self) -> Result<(), LabError> {
        for cmd in vipd_core::lab::ecmp_router_sysctls() {
            self.exec_ok("router", &cmd)?;
        }
        let dir = state::dir(self.name());
        let mut confs = vec![(
            "router".to_owned(),
            vipd_core::lab::bird_router_conf(self.plan.directors()),
        )];
        for n in 1..=self.plan.directors() {
            confs.push((format!("dir{n}"), vipd_core::lab::bird_director_conf(n)));
        }
        for (node, text) in confs {
            let conf = dir.join(format!("{node}-bird.conf"));
            std::fs::write(&conf, text).map_err(state_err(&conf))?;
            let mut cmd = self.command(&node, "bird")?;
            cmd.arg("-f")
                .arg("-c")
                .arg(&conf)
                .arg("-s")
                .arg(dir.join(format!("{node}-bird.ctl")));
            self.spawn_logged(&node, "bird", &mut cmd)
                .map_err(|e| match e {
                    LabError::Spawn { source, .. }
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        LabError::NoBird
                    }
                    e => e,
                })?;
        }
        Ok(())
    }

    /// `birdc` on `node` of an ECMP lab: `args` as its command, e.g. `show
    /// route`; its output.
    pub fn birdc(&self, node: &str, args: &[&str]) -> Result<String, LabError> {
        let ctl = state::dir(self.name()).join(format!("{node}-bird.ctl"));
        let mut argv = vec!["birdc".to_owned(), "-s".into(), ctl.display().to_string()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        self.exec_ok(node, &argv)
    }

    fn start_httpds(&self, bin: &Path) -> Result<(), LabError> {
        let reals = self.reals();
        // The dual-stack lab: a second server on [::]:80 (IPv6 only).
        let listens: &[(&str, &str)] = if self.ipv6 {
            &[("0.0.0.0:80", "httpd"), ("[::]:80", "httpd6")]
        } else {
            &[("0.0.0.0:80", "httpd")]
        };
        for node in &reals {
            for (listen, what) in listens {
                let mut cmd = self.command(&node.name, bin)?;
                cmd.args(["lab", "httpd", "--node", &node.name, "--listen", listen]);
                let pid = self.spawn_logged(&node.name, what, &mut cmd)?;
                if let Some(q) = self.rs_cpu {
                    cpu::place(self.name(), &node.name, q, pid)?;
                }
            }
        }
        // Ready when each answers a TCP connect on its RIP, from inside its namespace.
        let deadline = Instant::now() + Duration::from_secs(10);
        for node in &reals {
            let ns = self.netns(&node.name);
            let addr = SocketAddr::from((node.addr, 80));
            loop {
                let ok = netns::run_in(&ns, || {
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                })?;
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    let log = self.log_path(&node.name, "httpd");
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(10).collect();
                    return Err(LabError::Httpd {
                        node: node.name.clone(),
                        secs: 10,
                        log: log.display().to_string(),
                        tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        self.plan.name()
    }

    /// The lab's plan (nodes, addresses).
    pub fn plan(&self) -> &LabPlan {
        &self.plan
    }

    /// The directors (`dir1`..), with their addresses.
    pub fn directors(&self) -> Vec<Node> {
        self.plan
            .nodes()
            .into_iter()
            .filter(|n| matches!(n.role, Role::Director(_)))
            .collect()
    }

    /// The real servers (`rs1`..), with their addresses.
    pub fn reals(&self) -> Vec<Node> {
        self.plan
            .nodes()
            .into_iter()
            .filter(|n| matches!(n.role, Role::Real(_)))
            .collect()
    }

    /// Namespace name of `node`: `NAME-node` (whether or not the node exists).
    pub fn netns(&self, node: &str) -> String {
        self.plan.netns(node)
    }

    /// Checks that `node` is one of this lab's nodes.
    pub fn check_node(&self, node: &str) -> Result<(), LabError> {
        if self.plan.has_node(node) {
            Ok(())
        } else {
            Err(LabError::UnknownNode {
                lab: self.name().to_string(),
                node: node.to_string(),
                nodes: self.plan.node_names().join(" "),
            })
        }
    }

    /// A command running `program` in `node`'s namespace, to configure and run
    /// yourself (or hand to [`Lab::spawn_command`] so `down` kills it).
    pub fn command(&self, node: &str, program: impl AsRef<OsStr>) -> Result<Command, LabError> {
        self.check_node(node)?;
        Ok(netns::command(&self.netns(node), program)?)
    }

    /// Runs `args` (program first) in `node`, waits, and returns its output.
    pub fn exec<I, S>(&self, node: &str, args: I) -> Result<Output, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (mut cmd, program) = self.command_from_args(node, args)?;
        cmd.stdin(Stdio::null())
            .output()
            .map_err(|e| spawn_err(node, &program, e))
    }

    /// Like [`Lab::exec`], but a non-zero exit is an error; returns standard output.
    pub fn exec_ok<I, S>(&self, node: &str, args: I) -> Result<String, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let command = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let out = self.exec(node, args)?;
        if !out.status.success() {
            return Err(LabError::CommandFailed {
                node: node.to_string(),
                command,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `args` (program first) in the background in `node`; its stdout and
    /// stderr go to `/run/vipd/labs/NAME/NODE-PROGRAM.log`. It is recorded, so
    /// `down` (and dropping a [`LabGuard`]) kills it.
    pub fn spawn<I, S>(&self, node: &str, args: I) -> Result<Child, LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (mut cmd, program) = self.command_from_args(node, args)?;
        let base = Path::new(&program)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(program);
        let log = self.log_path(node, &base);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(state_err(&log))?;
        let err = out.try_clone().map_err(state_err(&log))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        self.spawn_command(node, &mut cmd)
    }

    /// Spawns `cmd` (made with [`Lab::command`]) and records it for `down`.
    pub fn spawn_command(&self, node: &str, cmd: &mut Command) -> Result<Child, LabError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd.spawn().map_err(|e| spawn_err(node, &program, e))?;
        let line = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        state::record(self.name(), child.id() as i32, node, &line)
            .map_err(state_err(state::dir(self.name()).join("pids")))?;
        Ok(child)
    }

    /// Runs `f` on a thread inside `node`'s namespace (sockets it opens stay there).
    pub fn run_in<T: Send>(&self, node: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        self.check_node(node)?;
        Ok(netns::run_in(&self.netns(node), f)?)
    }

    fn command_from_args<I, S>(&self, node: &str, args: I) -> Result<(Command, String), LabError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut it = args.into_iter();
        let program = it.next().ok_or_else(|| LabError::Spawn {
            node: node.to_string(),
            program: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            hint: "",
        })?;
        let mut cmd = self.command(node, program.as_ref())?;
        cmd.args(it);
        Ok((cmd, program.as_ref().to_string_lossy().into_owned()))
    }

    /// Spawns a lab daemon with output to its log, keeping the child to reap later.
    fn spawn_logged(&self, node: &str, what: &str, cmd: &mut Command) -> Result<u32, LabError> {
        let log = self.log_path(node, what);
        let out = std::fs::File::create(&log).map_err(state_err(&log))?;
        let err = out.try_clone().map_err(state_err(&log))?;
        // Own process group: a Ctrl-C meant for a later foreground command in the
        // same terminal does not reach the lab's daemons.
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = self.spawn_command(node, cmd)?;
        let pid = child.id();
        self.children.lock().expect("not poisoned").push(child);
        Ok(pid)
    }

    fn log_path(&self, node: &str, what: &str) -> PathBuf {
        state::dir(self.name()).join(format!("{node}-{what}.log"))
    }

    /// Kills every process of the lab, removes its namespaces (and with them every
    /// link and bridge) and its state directory.
    fn teardown(&self) -> Result<(), LabError> {
        teardown(self.name())?;
        for mut c in self.children.lock().expect("not poisoned").drain(..) {
            let _ = c.wait();
        }
        Ok(())
    }

    /// A human-readable report: nodes, namespaces, live addresses, processes.
    pub fn status(&self) -> Result<String, LabError> {
        status(self)
    }
}

fn spawn_err(node: &str, program: &str, source: std::io::Error) -> LabError {
    let hint = if source.kind() == std::io::ErrorKind::NotFound {
        ": not found in PATH, install it (e.g. `apt-get install -y iproute2 curl`)"
    } else {
        ""
    };
    LabError::Spawn {
        node: node.to_string(),
        program: program.to_string(),
        source,
        hint,
    }
}

/// Names of every lab (state directories under `/run/vipd/labs`).
pub fn list() -> Vec<String> {
    state::list()
}

/// Removes lab `name`: kills its processes, deletes its namespaces (which takes
/// their links and bridges with them) and its state. Works on incomplete labs too.
/// Errors with [`LabError::NotFound`] if nothing of that lab exists.
pub fn down(name: &str) -> Result<(), LabError> {
    require_root()?;
    vipd_core::lab::validate_name(name)?;
    if !state::dir(name).exists() && lab_namespaces(name).is_empty() {
        let labs = list();
        return Err(LabError::NotFound {
            name: name.to_string(),
            hint: if labs.is_empty() {
                ": no lab is up".into()
            } else {
                format!(": labs that exist: {}", labs.join(" "))
            },
        });
    }
    teardown(name)
}

/// Removes every lab that has a state directory; returns their names.
pub fn down_all() -> Result<Vec<String>, LabError> {
    require_root()?;
    let names = list();
    let mut first_err = None;
    for name in &names {
        if let Err(e) = teardown(name) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(names), Err)
}

fn teardown(name: &str) -> Result<(), LabError> {
    let namespaces = lab_namespaces(name);
    // Processes: those recorded, and any other process living in a lab namespace
    // (e.g. a daemon started with `vipd lab exec` that forked into the background).
    let mut targets: Vec<(i32, u64)> = state::recorded_alive(name)
        .into_iter()
        .map(|r| (r.pid, r.start))
        .collect();
    for ns in &namespaces {
        for pid in netns::pids(ns) {
            if let Some(start) = state::start_time(pid) {
                targets.push((pid, start));
            }
        }
    }
    targets.sort_unstable();
    targets.dedup();
    stop(&targets);
    for n in 1..=vipd_core::lab::MAX_REALS {
        cpu::remove(name, &format!("rs{n}"));
    }
    let mut first_err = None;
    let pin_root = crate::datapath::pin::existing_root();
    for ns in &namespaces {
        // A director stopped for a restart (SIGQUIT) left its program and
        // tables pinned under the namespace's inode: unpin them (the link goes
        // with the namespace's interfaces, the pins would stay).
        if let (Some(root), Ok(meta)) = (&pin_root, std::fs::metadata(netns::path(ns))) {
            use std::os::unix::fs::MetadataExt;
            let _ = crate::datapath::pin::remove_dir(&crate::datapath::pin::namespace_dir(
                root,
                meta.ino(),
            ));
        }
        if let Err(e) = netns::del(ns) {
            first_err.get_or_insert(LabError::from(e));
        }
        // What a daemon killed with -9 in the node left behind (its default
        // control socket and pid file are named after the namespace).
        for ext in ["sock", "pid", "restart"] {
            let _ = std::fs::remove_file(format!("/run/vipd/vipd-{ns}.{ext}"));
        }
    }
    if let Err(e) = state::remove(name) {
        first_err.get_or_insert(LabError::State {
            path: state::dir(name),
            source: e,
        });
    }
    first_err.map_or(Ok(()), Err)
}

/// SIGTERM, up to 2 s grace, then SIGKILL. A process counts as gone when its PID
/// has another start time, no longer exists, or is a zombie.
fn stop(targets: &[(i32, u64)]) {
    let alive = |&(pid, start): &(i32, u64)| state::start_time(pid) == Some(start);
    for sig in [Signal::SIGTERM, Signal::SIGKILL] {
        let left: Vec<_> = targets.iter().copied().filter(alive).collect();
        if left.is_empty() {
            return;
        }
        for &(pid, _) in &left {
            let _ = kill(Pid::from_raw(pid), sig);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && left.iter().any(alive) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn status(lab: &Lab) -> Result<String, LabError> {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{} (state in {})",
        lab.plan,
        if lab.xdp_pass {
            ", pass XDP on director ports"
        } else {
            ""
        },
        state::dir(lab.name()).display()
    );
    let _ = writeln!(
        out,
        "{:<8} {:<16} {:<48} PROCESSES",
        "NODE", "NAMESPACE", "ADDRESSES"
    );
    for node in lab.plan.node_names() {
        let ns = lab.netns(&node);
        let addrs = if netns::exists(&ns) {
            block_on(|| addresses(&ns)).unwrap_or_else(|e| format!("? ({e})"))
        } else {
            "MISSING".into()
        };
        let procs: Vec<String> = netns::pids(&ns)
            .into_iter()
            .map(|p| format!("{p} {}", state::cmdline(p)))
            .collect();
        let _ = writeln!(
            out,
            "{node:<8} {ns:<16} {addrs:<48} {}",
            if procs.is_empty() {
                "-".into()
            } else {
                procs.join("; ")
            }
        );
    }
    Ok(out)
}

/// `IFACE ADDR/LEN, ...` of namespace `ns`, IPv4, without loopback's 127.0.0.1.
async fn addresses(ns: &str) -> Result<String, LabError> {
    use futures::TryStreamExt;
    use rtnetlink::packet_route::address::AddressAttribute;
    use rtnetlink::packet_route::link::LinkAttribute;
    let h = netns::rtnetlink(ns)?;
    let kernel = |e: rtnetlink::Error| LabError::Kernel {
        ns: ns.to_string(),
        what: "list addresses".into(),
        detail: e.to_string(),
    };
    let links: Vec<_> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(kernel)?;
    let name_of = |index: u32| {
        links
            .iter()
            .find(|l| l.header.index == index)
            .and_then(|l| {
                l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
            })
            .unwrap_or_else(|| index.to_string())
    };
    let addrs: Vec<_> = h
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(kernel)?;
    let mut parts = Vec::new();
    for a in addrs {
        let ip = a.attributes.iter().find_map(|attr| match attr {
            AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = ip {
            if ip != Ipv4Addr::LOCALHOST {
                parts.push(format!(
                    "{} {ip}/{}",
                    name_of(a.header.index),
                    a.header.prefix_len
                ));
            }
        }
    }
    Ok(if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    })
}

/// A lab that is removed when dropped (also when the test panics).
///
/// Derefs to [`Lab`] for `netns`, `exec`, `spawn`, `command`, `run_in`, `status`.
#[derive(Debug)]
pub struct LabGuard {
    lab: Option<Lab>,
}

impl LabGuard {
    /// Builds a lab (see [`up`]); it is removed when the guard drops.
    pub fn up(opts: LabOptions) -> Result<Self, LabError> {
        Ok(Self {
            lab: Some(up(&opts)?),
        })
    }

    /// Removes the lab now and reports errors (dropping only prints them).
    pub fn down(mut self) -> Result<(), LabError> {
        match self.lab.take() {
            Some(lab) => lab.teardown(),
            None => Ok(()),
        }
    }

    /// Disarms the guard: the lab stays up (remove it with `vipd lab down`).
    pub fn keep(mut self) -> Lab {
        self.lab
            .take()
            .expect("a guard holds its lab until down/keep")
    }
}

impl Deref for LabGuard {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        self.lab
            .as_ref()
            .expect("a guard holds its lab until down/keep")
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Some(lab) = self.lab.take() {
            if let Err(e) = lab.teardown() {
                eprintln!("warning: removing lab {}: {e}", lab.name());
            }
        }
    }
}
