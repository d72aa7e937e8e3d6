//! The seed's story, told by `vipd lab demo` after the lab engineer's
//! reachability step: the seed's two keepalived.conf files, verbatim, run by
//! `vipd -f` on dir1 (MASTER) and dir2 (BACKUP); the real servers run
//! `vipd realserver up` (the seed's realserver.sh); then 30 requests through the
//! VIP, the webbench comparison (one real server directly vs the VIP), the
//! master's crash with the backup taking over, and a summary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::daemon::status::Status;
use crate::lab::{client, Lab};

/// The seed's MASTER configuration, verbatim.
pub const SEED_MASTER: &str = include_str!("../../../../examples/seed/keepalived-master.conf");
/// The seed's BACKUP configuration, verbatim.
pub const SEED_BACKUP: &str = include_str!("../../../../examples/seed/keepalived-backup.conf");

pub(super) fn status(lab: &Lab, vipd: &Path, node: &str) -> Option<Status> {
    let out = lab
        .command(node, vipd)
        .ok()?
        .args(["status", "--json"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

pub(super) fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if t0.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bench(lab: &Lab, vipd: &Path, url: &str) -> anyhow::Result<String> {
    let out = lab.exec_ok(
        "client",
        [
            vipd.to_str().unwrap_or("vipd"),
            "bench",
            "-c",
            "100",
            "-t",
            "5",
            url,
        ],
    )?;
    Ok(out
        .lines()
        .filter(|l| l.starts_with("Speed=") || l.starts_with("Requests:"))
        .collect::<Vec<_>>()
        .join("  "))
}

fn get(lab: &Lab, timeout: Duration) -> Result<String, String> {
    client::http_get(
        &lab.netns("client"),
        SocketAddr::from((vipd_core::lab::VIP, 80)),
        "/",
        timeout,
    )
    .map(|r| r.first_line().to_owned())
    .map_err(|e| e.to_string())
}

/// Runs the story in `lab` (3 real servers, 2 directors), then stops the
/// daemons it started with SIGTERM (a clean exit removes their control sockets
/// and pid files; `down` would only kill them).
/// The demo's CPU budget per real server (CPUs): small enough that three real
/// servers behind the VIP carry about three times one, as the seed's did on
/// machines of their own, while client, directors and real servers share
/// this machine.
pub const RS_CPU: f64 = 0.05;

/// Tells the story; `rs_cpu`: the real servers' CPU budget the lab was built
/// with, if any.
pub fn run(lab: &Lab, rs_cpu: Option<f64>) -> anyhow::Result<()> {
    let mut daemons = Vec::new();
    let result = story(lab, &mut daemons, rs_cpu);
    stop_daemons(lab, daemons);
    result
}

/// `vipd -f conf` on director `node`, its data plane in native mode (the lab
/// puts a pass XDP program on the bridge ports, so native XDP_TX works on
/// veth as on a NIC).
pub(super) fn spawn_director(
    lab: &Lab,
    vipd: &str,
    conf: &Path,
    node: &str,
) -> anyhow::Result<Child> {
    Ok(lab.spawn(
        node,
        [vipd, "--xdp-mode", "native", "-f", &conf.to_string_lossy()],
    )?)
}

/// Stops the vipd processes a story started with SIGTERM (a clean exit
/// removes their control sockets and pid files; `down` would only kill
/// them), killing one that does not stop within 2 s.
pub(super) fn stop_daemons(lab: &Lab, daemons: Vec<Child>) {
    for mut d in daemons {
        if let Ok(None) = d.try_wait() {
            let pid = nix::unistd::Pid::from_raw(d.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let t0 = Instant::now();
            while matches!(d.try_wait(), Ok(None)) {
                if t0.elapsed() > Duration::from_secs(2) {
                    println!("vipd (pid {pid}) did not stop within 2 s of SIGTERM: killing it");
                    let _ = d.kill();
                    let _ = d.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    for node in lab.directors() {
        for ext in ["sock", "pid"] {
            let _ = std::fs::remove_file(format!("/run/vipd/vipd-{}.{ext}", lab.netns(&node.name)));
        }
    }
}

fn story(lab: &Lab, daemons: &mut Vec<Child>, rs_cpu: Option<f64>) -> anyhow::Result<()> {
    let vipd = crate::lab::vipd_binary(None)?;
    let vipd_s = vipd.to_string_lossy().into_owned();
    let dir = crate::lab::state::dir(lab.name());
    let master = dir.join("keepalived-master.conf");
    let backup = dir.join("keepalived-backup.conf");
    std::fs::write(&master, SEED_MASTER).context("writing the seed's master config")?;
    std::fs::write(&backup, SEED_BACKUP).context("writing the seed's backup config")?;
    let reals: Vec<String> = lab
        .plan()
        .nodes()
        .into_iter()
        .filter(|n| matches!(n.role, vipd_core::lab::Role::Real(_)))
        .map(|n| n.name)
        .collect();

    println!("\n== the seed's story: real servers bind the VIP without ARP (realserver.sh)");
    for rs in &reals {
        let out = lab.exec_ok(
            rs,
            [
                vipd_s.as_str(),
                "realserver",
                "up",
                "--vip",
                "10.253.85.250",
            ],
        )?;
        println!("{rs:>6}: {}", out.lines().last().unwrap_or(""));
    }

    println!("\n== vipd -f keepalived-backup.conf on dir2, then -f keepalived-master.conf on dir1 (the seed's files, verbatim)");
    let t0 = Instant::now();
    // The lab puts a pass XDP program on the directors' bridge ports, so the
    // director can run in native mode, as on a real NIC (generic mode on veth is
    // several times slower and would make the VIP look slower than one server).
    daemons.push(spawn_director(lab, &vipd_s, &backup, "dir2")?);
    daemons.push(spawn_director(lab, &vipd_s, &master, "dir1")?);
    let d1 = daemons.last_mut().expect("just pushed");
    let all_up = |st: &Status| {
        st.vrrp.first().is_some_and(|v| v.state == "MASTER")
            && st
                .services
                .first()
                .is_some_and(|s| s.reals.iter().all(|r| r.in_table && r.weight > 0))
    };
    wait_for(
        "dir1 MASTER with every real server up",
        Duration::from_secs(60),
        || status(lab, &vipd, "dir1").filter(all_up),
    )?;
    println!(
        "dir1 is MASTER with {} real servers in its table after {:.1?}",
        reals.len(),
        t0.elapsed()
    );
    let text = lab.exec_ok("dir1", [vipd_s.as_str(), "status"])?;
    println!("\n$ vipd status   (on dir1)\n{text}");

    println!("== 30 requests from client to http://10.253.85.250/ (lb_algo rr)");
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..30 {
        let who = get(lab, Duration::from_secs(2)).map_err(anyhow::Error::msg)?;
        *seen.entry(who).or_default() += 1;
    }
    let spread = seen
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!("{spread}");

    println!("\n== webbench, as in the seed (here 100 clients, 5 s each)");
    match rs_cpu {
        Some(c) => println!(
            "each real server's httpd has a budget of {c} CPU (a cgroup CPU quota, `vipd lab up \
             --rs-cpu {c}`), as if each were a machine of its own like the seed's"
        ),
        None => println!("no CPU budget per real server (`--rs-cpu 0`)"),
    }
    // One real server directly, as the seed measured it: each of the three
    // in turn, the median one standing for "one real server" (a single 5 s
    // run of one server varies by a fifth between runs here).
    let mut directs = Vec::new();
    for rs in &reals {
        let addr = lab
            .plan()
            .node(rs)
            .map(|n| n.addr.to_string())
            .unwrap_or_default();
        let line = bench(lab, &vipd, &format!("http://{addr}/"))?;
        println!("{rs} directly{:>13}: {line}", "");
        directs.push(line);
    }
    directs.sort_by_key(|l| pages_per_min(l).unwrap_or(0));
    let direct = directs[directs.len() / 2].clone();
    println!(
        "one real server directly : {direct}   (the median of the {})",
        directs.len()
    );
    let via = bench(lab, &vipd, "http://10.253.85.250/")?;
    println!("the VIP (3 real servers) : {via}");
    if let (Some(d), Some(v)) = (pages_per_min(&direct), pages_per_min(&via)) {
        let ratio = v as f64 / d as f64;
        if rs_cpu.is_some() {
            println!(
                "ratio VIP / direct: {ratio:.2} (the seed, a machine per real server: ~3.5; \
                 three budgeted real servers can carry at most 3x one, less what the client, \
                 router and director take from the shared CPUs)."
            );
        } else {
            println!(
                "ratio VIP / direct: {ratio:.2}. The seed's VIP carried ~3.5x one server because \
                 each server had its own machine; here client, director and all real servers \
                 share this machine's CPUs, so the ratio shows the cost of the extra hop, not \
                 capacity (docs/BENCHMARKS.md measures that cost per request)."
            );
        }
    }

    println!("\n== the master crashes (kill -9 of dir1's vipd) while the client keeps asking");
    let t_kill = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d1.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let _ = d1.wait();
    let mut failed = 0;
    let served = loop {
        match get(lab, Duration::from_millis(300)) {
            Ok(who) => break (who, t_kill.elapsed()),
            Err(_) => {
                failed += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if t_kill.elapsed() > Duration::from_secs(15) {
            bail!("dir2 did not take the VIP over within 15 s");
        }
    };
    println!(
        "dir2 serves the VIP {:.2?} after the crash ({} attempts failed meanwhile, one every 20 ms; VRRP bound 3 x advert_int + skew = 3.61 s); first answer from {}",
        served.1, failed, served.0
    );
    if let Some(st) = status(lab, &vipd, "dir2") {
        println!(
            "dir2: VRRP {} , real servers in table: {}",
            st.vrrp.first().map(|v| v.state.as_str()).unwrap_or("?"),
            st.services
                .first()
                .map(|s| s.active_reals().count())
                .unwrap_or(0)
        );
    }

    println!("\n== summary");
    println!(
        "VIP 10.253.85.250 on dir1 (MASTER) then dir2 after the crash, in {:.2?}",
        served.1
    );
    println!("rr over 30 requests: {spread}");
    println!("webbench direct: {direct}");
    println!("webbench VIP   : {via}");
    Ok(())
}

/// The N of webbench's `Speed=N pages/min` line.
fn pages_per_min(line: &str) -> Option<u64> {
    line.split("Speed=").nth(1)?.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pages_per_min_reads_webbench_speed() {
        let line = "Speed=1402162 pages/min, 3575514 bytes/sec.  Requests: 1 susceed, 0 failed.";
        assert_eq!(super::pages_per_min(line), Some(1_402_162));
        assert_eq!(super::pages_per_min("no speed here"), None);
    }
}
