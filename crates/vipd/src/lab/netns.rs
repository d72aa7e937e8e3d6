//! Named network namespaces, the way `ip netns` keeps them: a namespace `NAME` is
//! a bind mount of a namespace file on `/run/netns/NAME`, so `ip netns exec NAME`,
//! `ip -n NAME` and this module all see the same namespaces.
//!
//! - [`add`] / [`del`] / [`exists`] / [`list`]: create and remove them.
//! - [`run_in`]: run a closure on a thread that has entered the namespace; whatever
//!   sockets it opens stay in that namespace after it returns.
//! - [`rtnetlink`]: an rtnetlink [`Handle`](::rtnetlink::Handle) whose socket lives
//!   in the namespace (call inside a tokio runtime).
//! - [`command`]: a `std::process::Command` that runs in the namespace (`setns` in the
//!   child before `exec`, plus a private mount namespace with `/sys` remounted, as
//!   `ip netns exec` does, so `/sys/class/net` shows the namespace's interfaces).
//! - [`pids`]: the processes whose network namespace is this one.
//! - [`sysctl`]: write a `net.*` sysctl inside a namespace.
//!
//! Only the calling *thread* ever enters a namespace; the process stays where it was.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// Where named namespaces live (same as iproute2).
pub const NETNS_DIR: &str = "/run/netns";

/// Errors of namespace operations.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace name already exists.
    #[error("network namespace {0:?} already exists (see `ip netns list`)")]
    Exists(String),
    /// The namespace does not exist.
    #[error("network namespace {0:?} does not exist (see `ip netns list`)")]
    Missing(String),
    /// A system call failed.
    #[error("{what} for network namespace {name:?}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The namespace.
        name: String,
        /// The error.
        source: std::io::Error,
    },
    /// The worker thread that entered the namespace panicked.
    #[error("the thread working in network namespace {0:?} panicked")]
    Panicked(String),
}

fn sys(what: &'static str, name: &str, source: impl Into<std::io::Error>) -> NetnsError {
    NetnsError::Sys {
        what,
        name: name.to_string(),
        source: source.into(),
    }
}

/// Path of the namespace file of `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Whether a namespace called `name` exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Names of every named namespace (like `ip netns list`).
pub fn list() -> Vec<String> {
    super::state::names_in(Path::new(NETNS_DIR))
}

/// Opens the namespace file of `name`.
pub fn open(name: &str) -> Result<OwnedFd, NetnsError> {
    match File::open(path(name)) {
        Ok(f) => Ok(f.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(NetnsError::Missing(name.to_string()))
        }
        Err(e) => Err(sys("open", name, e)),
    }
}

/// Makes `/run/netns` a shared mount point, as `ip netns add` does, so namespace
/// mounts propagate into mount namespaces created later (e.g. by `ip netns exec`).
fn prepare_dir() -> Result<(), NetnsError> {
    std::fs::create_dir_all(NETNS_DIR).map_err(|e| sys("create /run/netns", "", e))?;
    let shared = || {
        mount(
            None::<&str>,
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet. Bind it onto itself first (iproute2 does the same).
        Err(nix::errno::Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| sys("bind-mount /run/netns", "", e))?;
            shared().map_err(|e| sys("make /run/netns shared", "", e))
        }
        Err(e) => Err(sys("make /run/netns shared", "", e)),
    }
}

/// Creates the named namespace `name` (like `ip netns add`).
pub fn add(name: &str) -> Result<(), NetnsError> {
    prepare_dir()?;
    let target = path(name);
    // create_new: fails if the name is taken, so two creators cannot share one.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(NetnsError::Exists(name.to_string()))
        }
        Err(e) => return Err(sys("create namespace file", name, e)),
    }
    let owned = name.to_string();
    // A fresh thread unshares its own network namespace and pins it by bind-mounting
    // its namespace file; the thread then ends and the process never moved.
    let result = std::thread::spawn(move || -> Result<(), NetnsError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| sys("unshare", &owned, e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &path(&owned),
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| sys("bind-mount the namespace", &owned, e))
    })
    .join()
    .unwrap_or_else(|_| Err(NetnsError::Panicked(name.to_string())));
    if result.is_err() {
        let _ = std::fs::remove_file(&target);
    }
    result
}

/// Removes the named namespace `name` (like `ip netns del`). The namespace itself
/// (and its interfaces) goes away once no process is left in it: kill those first
/// (see [`pids`]).
pub fn del(name: &str) -> Result<(), NetnsError> {
    let target = path(name);
    if !target.exists() {
        return Err(NetnsError::Missing(name.to_string()));
    }
    // EINVAL: not mounted (a half-created file); remove the file anyway.
    match umount2(&target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(sys("unmount", name, e)),
    }
    std::fs::remove_file(&target).map_err(|e| sys("remove", name, e))
}

/// Runs `f` on a new thread that has entered namespace `name`, and returns its result.
///
/// Sockets (netlink, TCP, raw...) that `f` opens belong to `name` for their whole
/// life, wherever they are used afterwards.
pub fn run_in<T, F>(name: &str, f: F) -> Result<T, NetnsError>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    let fd = open(name)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| sys("setns", name, e))?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|_| Err(NetnsError::Panicked(name.to_string())))
    })
}

/// An rtnetlink handle whose socket lives in namespace `name`. Must be called from
/// inside a tokio runtime: the connection task is spawned on it.
pub fn rtnetlink(name: &str) -> Result<::rtnetlink::Handle, NetnsError> {
    let rt = tokio::runtime::Handle::current();
    let (conn, handle, _) = run_in(name, move || {
        // The socket registers with the runtime's reactor, so enter it here.
        let _guard = rt.enter();
        ::rtnetlink::new_connection()
    })?
    .map_err(|e| sys("open an rtnetlink socket", name, e))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// Writes `value` to sysctl `key` (dotted, e.g. `net.ipv4.ip_forward`) inside
/// namespace `name`: `/proc/sys/net` shows the namespace of the thread that opens it.
pub fn sysctl(name: &str, key: &str, value: &str) -> Result<(), NetnsError> {
    let key = crate::sysctl::dotted(key);
    run_in(name, || crate::sysctl::write(&key, value))?.map_err(|e| NetnsError::Sys {
        what: "write sysctl",
        name: format!("{name} ({key})"),
        source: e,
    })
}

/// A command that runs `program` inside namespace `name`.
///
/// In the child, before `exec`: `setns` into the namespace, then a private mount
/// namespace with `/sys` remounted so `/sys/class/net` matches the network namespace
/// (as `ip netns exec` does; tools such as keepalived read it). The namespace file is
/// opened now, so a missing namespace is reported here rather than by the child.
pub fn command(name: &str, program: impl AsRef<std::ffi::OsStr>) -> Result<Command, NetnsError> {
    let fd = open(name)?;
    let mut cmd = Command::new(program);
    enter_in_child(&mut cmd, fd);
    Ok(cmd)
}

#[expect(
    unsafe_code,
    reason = "pre_exec runs in the forked child; the closure only makes system calls \
              (setns, unshare, mount) on values prepared before the fork"
)]
fn enter_in_child(cmd: &mut Command, fd: OwnedFd) {
    let sys_path = CString::new("/sys").expect("no NUL");
    let sysfs = CString::new("sysfs").expect("no NUL");
    let root = CString::new("/").expect("no NUL");
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; the
    // closure makes raw system calls through nix with pre-built C strings and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
            // /sys is best effort, as in `ip netns exec`: the network namespace is
            // what matters; a stale /sys only misleads tools that read it.
            if unshare(CloneFlags::CLONE_NEWNS).is_ok()
                && mount(
                    None::<&std::ffi::CStr>,
                    root.as_c_str(),
                    None::<&std::ffi::CStr>,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None::<&std::ffi::CStr>,
                )
                .is_ok()
                && umount2(sys_path.as_c_str(), MntFlags::MNT_DETACH).is_ok()
            {
                let _ = mount(
                    Some(sysfs.as_c_str()),
                    sys_path.as_c_str(),
                    Some(sysfs.as_c_str()),
                    MsFlags::empty(),
                    None::<&std::ffi::CStr>,
                );
            }
            Ok(())
        });
    }
}

/// PIDs of the processes whose (main thread's) network namespace is `name`, like
/// `ip netns pids`. Never includes the calling process.
pub fn pids(name: &str) -> Vec<i32> {
    let Ok(meta) = std::fs::metadata(path(name)) else {
        return Vec::new();
    };
    let (dev, ino) = (meta.dev(), meta.ino());
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
        })
        .collect();
    out.sort_unstable();
    out
}

/// The raw fd number of an open namespace file, for netlink attributes such as
/// `IFLA_NET_NS_FD` (the fd must stay open until the request is answered).
pub fn raw(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}
