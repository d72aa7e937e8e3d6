//! Each real server's CPU budget (`vipd lab up --rs-cpu F`): the lab's httpd
//! on every real server runs in a cgroup of its own with a CFS quota of F CPUs,
//! so that three real servers can carry about three times what one does even
//! though the whole lab shares this machine's CPUs (the seed had one machine
//! per real server). cgroup v1's `cpu` controller where it is mounted (these
//! machines), else cgroup v2's `cpu.max`. The groups are named
//! `vipd-lab-LAB-NODE` and removed with the lab.

use std::path::{Path, PathBuf};

use vipd_core::lab::CpuQuota;

use super::LabError;

const V1: &str = "/sys/fs/cgroup/cpu";
const V2: &str = "/sys/fs/cgroup";

/// Which hierarchy holds the cpu controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    V1,
    V2,
}

fn hierarchy() -> Option<Hierarchy> {
    if Path::new(V1).join("cpu.cfs_quota_us").exists() {
        return Some(Hierarchy::V1);
    }
    let controllers = std::fs::read_to_string(Path::new(V2).join("cgroup.controllers")).ok()?;
    controllers
        .split_whitespace()
        .any(|c| c == "cpu")
        .then_some(Hierarchy::V2)
}

fn group(lab: &str, node: &str) -> Option<PathBuf> {
    let root = match hierarchy()? {
        Hierarchy::V1 => V1,
        Hierarchy::V2 => V2,
    };
    Some(Path::new(root).join(format!("vipd-lab-{lab}-{node}")))
}

fn write(path: &Path, value: &str) -> Result<(), LabError> {
    std::fs::write(path, value).map_err(|e| LabError::Cgroup {
        what: format!("writing {value:?} to {}", path.display()),
        source: e,
    })
}

/// Puts `pid` (a real server's process) in `node`'s group with `quota`.
pub fn place(lab: &str, node: &str, quota: CpuQuota, pid: u32) -> Result<PathBuf, LabError> {
    let h = hierarchy().ok_or_else(|| LabError::Cgroup {
        what: format!(
            "no cgroup cpu controller: neither {V1}/cpu.cfs_quota_us nor `cpu` in {V2}/cgroup.controllers"
        ),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })?;
    let dir = group(lab, node).expect("a hierarchy exists");
    if !dir.exists() {
        std::fs::create_dir(&dir).map_err(|e| LabError::Cgroup {
            what: format!("creating {}", dir.display()),
            source: e,
        })?;
    }
    match h {
        Hierarchy::V1 => {
            write(&dir.join("cpu.cfs_period_us"), &quota.period_us.to_string())?;
            write(&dir.join("cpu.cfs_quota_us"), &quota.quota_us.to_string())?;
        }
        Hierarchy::V2 => {
            // The root must hand the cpu controller down to its children.
            let _ = std::fs::write(Path::new(V2).join("cgroup.subtree_control"), "+cpu");
            write(&dir.join("cpu.max"), &quota.cpu_max())?;
        }
    }
    write(&dir.join("cgroup.procs"), &pid.to_string())?;
    Ok(dir)
}

/// Removes `node`'s group of lab `lab` (its processes must be gone).
pub fn remove(lab: &str, node: &str) {
    if let Some(dir) = group(lab, node) {
        // A group empties a moment after its last process is reaped.
        for _ in 0..50 {
            if !dir.exists() || std::fs::remove_dir(&dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        eprintln!("warning: could not remove {}", dir.display());
    }
}
