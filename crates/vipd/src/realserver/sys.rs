//! Host facts the real-server setup reads or writes outside netlink: IPv4 sysctls
//! under /proc/sys (per network namespace), whether IPv6 is enabled on an
//! interface, the namespace's identity, whether the kernel has `ipip` /
//! `ip6_tunnel`, and the state file.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vipd_core::realserver::{Applied, DecapMode, SysctlKey};

use super::RealserverError;

/// Read one sysctl (trimmed), `None` when it does not exist (interface gone).
pub fn read_sysctl(key: &SysctlKey) -> Result<Option<String>, RealserverError> {
    let k = key.proc_path();
    crate::sysctl::read(&k).map_err(|source| RealserverError::Io {
        what: format!("reading {}", crate::sysctl::path(&k).display()),
        error: source,
    })
}

/// Write one sysctl.
pub fn write_sysctl(key: &SysctlKey, value: &str) -> Result<(), RealserverError> {
    let k = key.proc_path();
    crate::sysctl::write(&k, value).map_err(|source| RealserverError::Io {
        what: format!("writing {value} to {}", crate::sysctl::path(&k).display()),
        error: source,
    })
}

/// Names under /proc/sys/net/ipv4/conf (interfaces plus `all` and `default`).
pub fn conf_ifaces() -> Result<Vec<String>, RealserverError> {
    let dir = "/proc/sys/net/ipv4/conf";
    let rd = std::fs::read_dir(dir).map_err(|source| RealserverError::Io {
        what: format!("listing {dir}"),
        error: source,
    })?;
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

/// Identity of the current network namespace: (inode of /proc/self/ns/net, cookie).
/// The inode names the state file; the cookie (never reused while the host runs)
/// tells a state file of a namespace that died and whose inode was reused.
pub fn netns_id() -> Result<(u64, u64), RealserverError> {
    let ino = std::fs::metadata("/proc/self/ns/net")
        .map_err(|source| RealserverError::Io {
            what: "reading /proc/self/ns/net".into(),
            error: source,
        })?
        .ino();
    Ok((ino, netns_cookie()))
}

#[expect(
    unsafe_code,
    reason = "getsockopt(SO_NETNS_COOKIE) has no safe wrapper in libc, nix or socket2"
)]
fn netns_cookie() -> u64 {
    let sock = match socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None) {
        Ok(s) => s,
        Err(_) => return 0,
    };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: valid fd, pointer/len describe a live u64.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        cookie
    } else {
        0
    }
}

/// Does this kernel have the tunnel `module` (`ipip` or `ip6_tunnel`: loaded,
/// built in, or installed)? `dev_exists`: its fallback device is already there.
/// Returns (answer, what was checked) so an error can say why not.
pub fn kernel_has_module(module: &str, dev: &str, dev_exists: bool) -> (bool, String) {
    if dev_exists {
        return (true, format!("{dev} exists"));
    }
    if Path::new("/sys/module").join(module).exists() {
        return (true, format!("/sys/module/{module} exists"));
    }
    let release = kernel_release();
    let dir = PathBuf::from("/lib/modules").join(&release);
    let ko = format!("/{module}.ko");
    for f in ["modules.dep", "modules.builtin"] {
        if let Ok(s) = std::fs::read_to_string(dir.join(f)) {
            if s.lines()
                .any(|l| l.split(':').next().is_some_and(|p| p.contains(&ko)))
            {
                return (
                    true,
                    format!("{module}.ko listed in {}", dir.join(f).display()),
                );
            }
        }
    }
    (
        false,
        format!(
            "no {dev} device, no /sys/module/{module}, no {module}.ko under {}",
            dir.display()
        ),
    )
}

/// `net.ipv6.conf.DEV.disable_ipv6`: `Some(true)` when IPv6 is disabled on DEV,
/// `None` when the kernel has no IPv6 (or DEV does not exist).
pub fn ipv6_disabled(dev: &str) -> Option<bool> {
    crate::sysctl::read(&format!("net/ipv6/conf/{dev}/disable_ipv6"))
        .ok()
        .flatten()
        .map(|v| v != "0")
}

/// `uname -r`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Where state files live (one per network namespace).
pub const STATE_DIR: &str = "/run/vipd/realserver";

/// What `up` did in one network namespace; what `down` undoes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Inode of the namespace (also in the file name).
    pub netns_inode: u64,
    /// Namespace cookie, to recognise a reused inode.
    pub netns_cookie: u64,
    /// Decap mode in force.
    pub decap: DecapMode,
    /// VIPs served.
    pub vips: Vec<std::net::IpAddr>,
    /// Interfaces the decap program sits on (bpf mode).
    pub interfaces: Vec<String>,
    /// Steps taken, oldest first.
    pub applied: Vec<Applied>,
}

/// Serialise `up`/`down` runs (of every namespace: they take milliseconds) so two
/// runs in one namespace never interleave their reads and writes of the state file.
/// Held until the returned guard drops.
pub fn lock() -> Result<nix::fcntl::Flock<std::fs::File>, RealserverError> {
    let io_err = |what: String| {
        move |source| RealserverError::Io {
            what,
            error: source,
        }
    };
    std::fs::create_dir_all(STATE_DIR).map_err(io_err(format!("creating {STATE_DIR}")))?;
    let dir = std::fs::File::open(STATE_DIR).map_err(io_err(format!("opening {STATE_DIR}")))?;
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io_err(format!("locking {STATE_DIR}"))(e.into()))
}

/// Remove state files of namespaces that no longer exist (a lab torn down without
/// `vipd realserver down` leaves its real servers' files behind; everything those
/// files list died with the namespace). A namespace is alive while anything refers
/// to it: a process or thread in it, an open file descriptor, or a bind mount (as
/// `ip netns add` makes); only files whose inode is referenced by none of these are
/// removed. Call with the lock held. Returns how many files were removed.
pub fn gc_dead_states() -> usize {
    let Ok(rd) = std::fs::read_dir(STATE_DIR) else {
        return 0;
    };
    let mut candidates: Vec<(u64, PathBuf)> = Vec::new();
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let ino = name
            .strip_prefix("netns-")
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(ino) = ino {
            candidates.push((ino, e.path()));
        }
    }
    if candidates.is_empty() {
        return 0;
    }
    let alive = live_netns_inodes();
    let mut removed = 0;
    for (ino, path) in candidates {
        if !alive.contains(&ino) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Inodes of every network namespace something on this host refers to.
fn live_netns_inodes() -> std::collections::HashSet<u64> {
    let mut alive = std::collections::HashSet::new();
    let parse = |link: &Path| -> Option<u64> {
        let t = std::fs::read_link(link).ok()?;
        let t = t.to_string_lossy();
        t.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
    };
    if let Ok(m) = std::fs::metadata("/proc/self/ns/net") {
        alive.insert(m.ino());
    }
    // Bind mounts of namespaces (ip netns add, docker, ...): nsfs entries.
    if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
        for line in mi.lines() {
            if let Some(pos) = line.find("net:[") {
                if let Some(n) = line[pos + 5..]
                    .split(']')
                    .next()
                    .and_then(|n| n.parse().ok())
                {
                    alive.insert(n);
                }
            }
        }
    }
    for dir in ["/run/netns", "/var/run/netns"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.filter_map(|e| e.ok()) {
                if let Ok(m) = std::fs::metadata(e.path()) {
                    alive.insert(m.ino());
                }
            }
        }
    }
    // Processes, their threads, and their open descriptors.
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.filter_map(|e| e.ok()) {
            if !p
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                continue;
            }
            let base = p.path();
            if let Ok(tasks) = std::fs::read_dir(base.join("task")) {
                for t in tasks.filter_map(|e| e.ok()) {
                    alive.extend(parse(&t.path().join("ns/net")));
                }
            }
            if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
                for fd in fds.filter_map(|e| e.ok()) {
                    alive.extend(parse(&fd.path()));
                }
            }
        }
    }
    alive
}

/// State file path of the namespace with inode `ino`.
pub fn state_path(ino: u64) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!("netns-{ino}.json"))
}

/// Load the state of this namespace; a file of a dead namespace whose inode was
/// reused is removed and reported as absent.
pub fn load_state(ino: u64, cookie: u64) -> Result<Option<State>, RealserverError> {
    let path = state_path(ino);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RealserverError::Io {
                what: format!("reading {}", path.display()),
                error: source,
            })
        }
    };
    let st: State = serde_json::from_str(&text).map_err(|e| RealserverError::StateCorrupt {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    if st.netns_cookie != cookie {
        eprintln!(
            "note: {} belongs to a network namespace that no longer exists (same inode, other cookie); ignoring it",
            path.display()
        );
        let _ = std::fs::remove_file(&path);
        return Ok(None);
    }
    Ok(Some(st))
}

/// Save (atomically: write a temporary file, rename) or, when nothing is applied, remove.
pub fn save_state(st: &State) -> Result<(), RealserverError> {
    let path = state_path(st.netns_inode);
    let io_err = |what: String| {
        move |source| RealserverError::Io {
            what,
            error: source,
        }
    };
    if st.applied.is_empty() && st.vips.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err(format!("removing {}", path.display()))(e))
            }
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(STATE_DIR).map_err(io_err(format!("creating {STATE_DIR}")))?;
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(st).expect("state serialises");
    std::fs::write(&tmp, text + "\n").map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io_err(format!(
        "renaming {} to {}",
        tmp.display(),
        path.display()
    )))
}

/// Remove the state file.
pub fn remove_state(ino: u64) -> Result<(), RealserverError> {
    let path = state_path(ino);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RealserverError::Io {
            what: format!("removing {}", path.display()),
            error: e,
        }),
        _ => Ok(()),
    }
}
