//! Keeps the real servers' next hops resolved.
//!
//! `bpf_fib_lookup` only reads the kernel's neighbour table: if the next hop's MAC
//! is unknown the program can only drop (and count `drop_no_neigh`), losing the
//! first packets of the first connection. So for each real server the control
//! plane finds the next hop (`ip route get`) and installs a *managed* neighbour
//! entry (`ip neigh replace NH dev DEV managed extern_learn`, Linux >= 5.16):
//! the kernel then resolves it at once and keeps it resolved, with no traffic.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::Command;

use super::DatapathError;

/// A next hop: gateway (or the real itself when on-link) and device.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NextHop {
    /// Address to resolve.
    pub addr: IpAddr,
    /// Device name.
    pub dev: String,
}

/// Runs `ip ARGS` (iproute2) in this network namespace: its standard output,
/// or an error with its standard error.
pub(crate) fn ip<S: AsRef<std::ffi::OsStr> + std::fmt::Display>(
    args: &[S],
) -> Result<String, DatapathError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| DatapathError::Io(format!("running `ip` (install iproute2): {e}")))?;
    if !out.status.success() {
        return Err(DatapathError::Io(format!(
            "`ip {}` failed: {}",
            args.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first object `ip -j ARGS` prints, if any.
pub(crate) fn ip_json(args: &[&str]) -> Result<Option<serde_json::Value>, DatapathError> {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    let json = ip(&all)?;
    let v: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| DatapathError::Io(format!("parsing `ip {}`: {e}", all.join(" "))))?;
    Ok(v.get(0).cloned())
}

/// `ip route get ADDR`: the route the kernel would take, as `ip -j` prints it.
pub(crate) fn route_get(addr: IpAddr) -> Result<serde_json::Value, DatapathError> {
    ip_json(&["route", "get", &addr.to_string()])?
        .ok_or_else(|| DatapathError::Io(format!("no route to real server {addr}")))
}

/// The next hop towards `rip` in this network namespace.
pub fn next_hop(rip: IpAddr) -> Result<NextHop, DatapathError> {
    let r = &route_get(rip)?;
    let dev = r["dev"]
        .as_str()
        .ok_or_else(|| DatapathError::Io(format!("route to {rip} has no device")))?;
    let addr = match r.get("gateway").and_then(|g| g.as_str()) {
        Some(g) => g
            .parse()
            .map_err(|e| DatapathError::Io(format!("gateway {g}: {e}")))?,
        None => rip,
    };
    Ok(NextHop {
        addr,
        dev: dev.to_string(),
    })
}

/// Installs managed neighbour entries for the next hops of `rips`; returns them
/// (for [`release`]).
pub fn keep_resolved(rips: &[IpAddr]) -> Result<BTreeSet<NextHop>, DatapathError> {
    let mut hops = BTreeSet::new();
    for &rip in rips {
        hops.insert(next_hop(rip)?);
    }
    for h in &hops {
        let a = h.addr.to_string();
        // An existing permanent entry is already as good as it gets.
        let cur = ip(&["neigh", "show", &a, "dev", &h.dev])?;
        if cur.contains("PERMANENT") {
            continue;
        }
        ip(&[
            "neigh",
            "replace",
            &a,
            "dev",
            &h.dev,
            "managed",
            "extern_learn",
        ])?;
    }
    Ok(hops)
}

/// Removes the managed entries [`keep_resolved`] installed.
pub fn release(hops: &BTreeSet<NextHop>) {
    for h in hops {
        let a = h.addr.to_string();
        if let Ok(cur) = ip(&["neigh", "show", &a, "dev", &h.dev]) {
            if cur.contains("managed") {
                let _ = ip(&["neigh", "del", &a, "dev", &h.dev]);
            }
        }
    }
}
