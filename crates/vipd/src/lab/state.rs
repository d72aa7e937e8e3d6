//! What the lab remembers between commands, under `/run/vipd/labs/NAME/`
//! (`$VIPD_LAB_DIR/NAME/` if that is set):
//!
//! - the directory itself is the lab's marker: it is created (exclusively) before
//!   anything else, so a lab that crashed half-way is still found by `lab down`;
//! - `lab.json`: the plan (directors, reals, MTU) once the lab is complete;
//! - `pids`: one line `PID START NODE COMMAND` per process the lab started (START is
//!   the process start time from `/proc/PID/stat`, so a reused PID is never killed);
//! - `NODE-*.log`: output of those processes.
//!
//! `/run` is a tmpfs: after a reboot no lab exists and neither does its state.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Root of every lab's state, unless `VIPD_LAB_DIR` says otherwise.
pub const LABS_DIR: &str = "/run/vipd/labs";

/// Where lab state lives: `$VIPD_LAB_DIR` if set (so a test can run `down --all`
/// over its own labs only), else [`LABS_DIR`].
pub fn labs_dir() -> PathBuf {
    std::env::var_os("VIPD_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(LABS_DIR))
}

/// The plan as stored in `lab.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stored {
    /// Lab name.
    pub name: String,
    /// Number of directors.
    pub directors: u8,
    /// Number of real servers.
    pub reals: u8,
    /// MTU of every link.
    pub mtu: u32,
    /// Whether the directors' bridge ports carry the pass XDP program.
    pub xdp_pass: bool,
    /// The NAT variant.
    #[serde(default)]
    pub nat: bool,
    /// The ECMP variant (BIRD on the router and the directors).
    #[serde(default)]
    pub ecmp: bool,
    /// Dual stack.
    #[serde(default)]
    pub ipv6: bool,
}

/// A process the lab started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its PID.
    pub pid: i32,
    /// Its start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
    pub start: u64,
    /// The node it runs in.
    pub node: String,
    /// Its command line, for `lab status`.
    pub command: String,
}

/// State directory of lab `name`.
pub fn dir(name: &str) -> PathBuf {
    labs_dir().join(name)
}

/// Creates the marker directory; `Ok(false)` if it already existed.
pub fn create(name: &str) -> std::io::Result<bool> {
    std::fs::create_dir_all(labs_dir())?;
    match std::fs::create_dir(dir(name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Names of every lab that has a state directory.
pub fn list() -> Vec<String> {
    names_in(&labs_dir())
}

/// The names in directory `dir`, sorted (none if it cannot be read): the labs
/// under the state directory, the namespaces under `/run/netns`.
pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Writes `lab.json`.
pub fn save(stored: &Stored) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(stored).map_err(std::io::Error::other)?;
    std::fs::write(dir(&stored.name).join("lab.json"), json + "\n")
}

/// Reads `lab.json`; `None` if the lab has no complete record.
pub fn load(name: &str) -> Option<Stored> {
    let text = std::fs::read_to_string(dir(name).join("lab.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Appends a started process to `pids`.
pub fn record(name: &str, pid: i32, node: &str, command: &str) -> std::io::Result<()> {
    let start = start_time(pid).unwrap_or(0);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir(name).join("pids"))?;
    let command = command.replace('\n', " ");
    writeln!(f, "{pid} {start} {node} {command}")
}

/// The processes recorded in `pids` that still run (same PID *and* start time).
pub fn recorded_alive(name: &str) -> Vec<Recorded> {
    let Ok(text) = std::fs::read_to_string(dir(name).join("pids")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(4, ' ');
            let pid = it.next()?.parse().ok()?;
            let start = it.next()?.parse().ok()?;
            let node = it.next()?.to_string();
            let command = it.next().unwrap_or("").to_string();
            Some(Recorded {
                pid,
                start,
                node,
                command,
            })
        })
        .filter(|r| start_time(r.pid) == Some(r.start))
        .collect()
}

/// Removes the state directory of `name` and everything in it.
pub fn remove(name: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir(name)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Start time of `pid` (clock ticks since boot), `None` if it does not exist or is
/// a zombie (whose namespace and resources are already gone).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); starttime is field 22.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

/// Command line of `pid`, NULs turned into spaces, for display.
pub fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .replace('\0', " ")
        })
        .unwrap_or_default()
}
