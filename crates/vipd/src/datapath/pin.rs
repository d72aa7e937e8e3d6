//! Keeping the data plane across a restart of vipd (SIGQUIT, then a new vipd).
//!
//! The stopping process pins its XDP link and the tables that name connections
//! (`conns`, `half_open`, `persist`, and `dests` / `services`, which say what
//! its ids mean) in bpffs, under `ROOT/vipd/NETNS/IFACE/`, and exits: the old
//! program keeps forwarding every packet with its last tables. The next process
//! loads its own program and tables, copies the pinned connections into them
//! (translated by address: its ids are its own, see
//! `vipd_core::sync::translate`), swaps its program onto the pinned link in one
//! `bpf_link_update` (no packet sees an interface without a program), and
//! removes the pins. See docs/OPERATIONS.md, "Restarting vipd".
//!
//! ROOT is `/sys/fs/bpf` when it is a bpffs (systemd mounts it), else
//! `/run/vipd/bpffs`, mounted there if needed. NETNS is the network
//! namespace's inode, so that directors in several namespaces of one host (the
//! lab) never adopt each other's program.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aya::maps::{Array, HashMap, Map, MapData};
use aya::programs::links::{FdLink, PinnedLink};
use vipd_core::plan::{DestTable, Forward, Persistence, Plan, Proto, ServiceTable};
use vipd_core::sched::Scheduler;

use super::abi::{self, Conn, Dest, Flow, Persist, PersistKey, Svc, SvcKey};
use super::{batch, DatapathError, Result, CONN_BATCH};

/// The maps a restart carries over.
pub const PINNED_MAPS: [&str; 5] = ["conns", "half_open", "persist", "dests", "services"];

/// The pinned XDP link's file name.
pub const LINK: &str = "link";

/// Where vipd mounts a bpffs when `/sys/fs/bpf` is none.
pub const FALLBACK_ROOT: &str = "/run/vipd/bpffs";

fn is_bpffs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::BPF_FS_MAGIC)
}

/// How a pinned link is attached, as the restart record spells it.
pub fn mode_name(mode: aya::programs::XdpMode) -> &'static str {
    if mode == aya::programs::XdpMode::Driver {
        "native"
    } else {
        "generic"
    }
}

/// The inverse of [`mode_name`].
pub fn mode_from_name(name: &str) -> aya::programs::XdpMode {
    match name {
        "native" => aya::programs::XdpMode::Driver,
        _ => aya::programs::XdpMode::Skb,
    }
}

/// The bpffs vipd pins in, if one is mounted (no side effect).
pub fn existing_root() -> Option<PathBuf> {
    ["/sys/fs/bpf", FALLBACK_ROOT]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| is_bpffs(p))
}

/// The bpffs vipd pins in, mounting one at [`FALLBACK_ROOT`] if none is.
pub fn root() -> Result<PathBuf> {
    if let Some(r) = existing_root() {
        return Ok(r);
    }
    let p = PathBuf::from(FALLBACK_ROOT);
    std::fs::create_dir_all(&p)
        .map_err(|e| DatapathError::Io(format!("creating {}: {e}", p.display())))?;
    nix::mount::mount(
        Some("bpf"),
        &p,
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        DatapathError::Io(format!(
            "mounting a bpffs on {} (needed to keep the data plane across a restart): {e}",
            p.display()
        ))
    })?;
    tracing::info!(
        "mounted a bpffs on {} for the data plane's pins",
        p.display()
    );
    let ns = |pid: &str| std::fs::metadata(format!("/proc/{pid}/ns/mnt")).map(|m| m.ino());
    if ns("self").ok() != ns("1").ok() {
        tracing::warn!(
            "{} is mounted in this process's own mount namespace: a vipd started outside it will not find the pins (mount a bpffs on /sys/fs/bpf or {FALLBACK_ROOT} on the host)",
            p.display()
        );
    }
    Ok(p)
}

/// This network namespace's inode (the pins' namespace directory).
pub fn netns_inode() -> u64 {
    std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino())
}

/// The pin directory of `iface` in this network namespace, under `root`.
pub fn dir(root: &Path, iface: &str) -> PathBuf {
    root.join("vipd")
        .join(netns_inode().to_string())
        .join(iface)
}

/// The pin directories of every interface of the network namespace with
/// inode `ino` (for `vipd lab down`).
pub fn namespace_dir(root: &Path, ino: u64) -> PathBuf {
    root.join("vipd").join(ino.to_string())
}

/// Removes a pin directory and what it holds (unpinning detaches a link that
/// no process holds any more).
pub fn remove_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Pins `map` of `ebpf` at `dir/NAME`.
pub(crate) fn pin_map(ebpf: &aya::Ebpf, name: &'static str, dir: &Path) -> Result<()> {
    let m = ebpf.map(name).ok_or(DatapathError::Missing(name))?;
    m.pin(dir.join(name))
        .map_err(|e| DatapathError::Io(format!("pinning map {name}: {e}")))
}

/// Pins an XDP link at `dir/link`.
pub(crate) fn pin_link(link: FdLink, dir: &Path) -> Result<()> {
    let pinned = link
        .pin(dir.join(LINK))
        .map_err(|e| DatapathError::Io(format!("pinning the XDP link: {e}")))?;
    // Closing our descriptor leaves the pin holding the link (and so the
    // program and its maps).
    drop(FdLink::from(pinned));
    Ok(())
}

/// What a stopped vipd left pinned for its successor.
#[derive(Debug)]
pub struct Pinned {
    /// The directory.
    pub dir: PathBuf,
    /// The XDP link, still running the old program.
    pub link: Option<PinnedLink>,
    conns: MapData,
    half_open: MapData,
    persist: MapData,
    dests: Map,
    services: Map,
}

/// A connection of the old tables with what its ids meant.
#[derive(Debug, Clone, Copy)]
pub struct OldConn {
    /// The data-plane key.
    pub flow: Flow,
    /// The entry (old slot and id).
    pub conn: Conn,
    /// From `half_open`.
    pub half_open: bool,
}

impl Pinned {
    /// Opens what `dir` holds; `None` if there is no pinned link there.
    pub fn open(dir: &Path) -> Result<Option<Self>> {
        let link_path = dir.join(LINK);
        if !link_path.exists() {
            return Ok(None);
        }
        let link = PinnedLink::from_pin(&link_path).map_err(|e| {
            DatapathError::Io(format!(
                "opening the pinned link {}: {e}",
                link_path.display()
            ))
        })?;
        let open = |name: &str| {
            MapData::from_pin(dir.join(name)).map_err(|e| {
                DatapathError::Io(format!(
                    "opening the pinned map {}: {e}",
                    dir.join(name).display()
                ))
            })
        };
        let typed =
            |name: &'static str| Map::from_map_data(open(name)?).map_err(super::map_err(name));
        Ok(Some(Self {
            dir: dir.to_owned(),
            link: Some(link),
            conns: open("conns")?,
            half_open: open("half_open")?,
            persist: open("persist")?,
            dests: typed("dests")?,
            services: typed("services")?,
        }))
    }

    /// What the old process's slots and ids meant, as a [`Plan`] (services
    /// and real servers only) that `vipd_core::sync::translate` reads.
    pub fn old_plan(&self) -> Result<Plan> {
        let mut plan = Plan::default();
        let svcs: HashMap<&MapData, SvcKey, Svc> =
            HashMap::try_from(&self.services).map_err(super::map_err("services"))?;
        for (k, v) in svcs.iter().flatten() {
            let proto = match k.proto {
                6 => Proto::Tcp,
                17 => Proto::Udp,
                _ => continue,
            };
            let vip = abi::words_addr(k.family, k.vip);
            plan.services.push(ServiceTable {
                key: (vip, u16::from_be(k.port), proto),
                slot: v.id,
                gen: v.gen,
                sched: Scheduler::Rr,
                flags: Default::default(),
                ops: v.flags & abi::SVC_F_OPS != 0,
                ring: Vec::new(),
                persistence: (v.flags & abi::SVC_F_PERSIST != 0).then(|| Persistence {
                    timeout: v.persist_timeout,
                    granularity: match abi::words_addr(abi::AF_INET, v.persist_mask) {
                        std::net::IpAddr::V4(m) => m,
                        std::net::IpAddr::V6(_) => std::net::Ipv4Addr::BROADCAST,
                    },
                }),
                mss: 0,
            });
        }
        let dests: Array<&MapData, Dest> =
            Array::try_from(&self.dests).map_err(super::map_err("dests"))?;
        for (id, d) in dests.iter().enumerate() {
            let Ok(d) = d else { continue };
            if d.flags & abi::DEST_F_LIVE == 0 {
                continue;
            }
            plan.dests.push(DestTable {
                id: id as u32,
                slot: d.svc_id,
                rip: abi::words_addr(d.family, d.rip),
                port: u16::from_be(d.port),
                weight: d.weight,
                forward: match d.fwd {
                    abi::FWD_DR => Forward::Dr,
                    abi::FWD_NAT => Forward::Nat,
                    _ => Forward::Tun,
                },
                mss: d.mss,
            });
        }
        Ok(plan)
    }

    /// Every entry of the old `conns` and `half_open`.
    pub fn conns(&self) -> Result<Vec<OldConn>> {
        use std::os::fd::AsFd;
        let mut out = Vec::new();
        for (m, half_open) in [(&self.conns, false), (&self.half_open, true)] {
            batch::for_each_entry::<Flow, Conn>(m.fd().as_fd(), CONN_BATCH, &mut |f, c| {
                out.push(OldConn {
                    flow: *f,
                    conn: c,
                    half_open,
                });
            })
            .map_err(|e| DatapathError::Io(format!("reading the pinned connections: {e}")))?;
        }
        Ok(out)
    }

    /// Every persistence template of the old `persist`.
    pub fn persist(&self) -> Result<Vec<(PersistKey, Persist)>> {
        use std::os::fd::AsFd;
        let mut out = Vec::new();
        batch::for_each_entry::<PersistKey, Persist>(
            self.persist.fd().as_fd(),
            CONN_BATCH,
            &mut |k, v| out.push((*k, v)),
        )
        .map_err(|e| DatapathError::Io(format!("reading the pinned templates: {e}")))?;
        Ok(out)
    }

    /// Removes the pins (the link stays attached while a process holds it).
    pub fn unpin(&self) -> std::io::Result<()> {
        remove_dir(&self.dir)
    }
}
