//! `vipd lab demo --ecmp`: beyond one director. Three directors run vipd at
//! once with `vipd_announce vipd0`; BIRD on each announces the VIP to the
//! router, which spreads flows over them by ECMP. The story: the router's
//! multipath route, new connections over directors and real servers, then
//! 300 keep-alive connections through the kill -9 of one director and its
//! return, counting what is kept.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::story::{spawn_director as start, status, stop_daemons, wait_for};
use crate::lab::client::KeepAlive;
use crate::lab::Lab;

/// The configuration every director runs (docs/OPERATIONS.md, "N directors
/// at once behind ECMP").
pub const ECMP_CONF: &str = "\
global_defs {
    vipd_announce vipd0
    default_interface eth1
}
virtual_server 10.253.85.250 80 {
    delay_loop 1
    lb_algo mh
    mh-port
    lb_kind TUN
    protocol TCP
    real_server 10.253.26.1 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.253.26.2 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.253.26.3 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
";

/// The directors the router sends the VIP to (its ECMP next hops).
pub fn nexthops(lab: &Lab) -> anyhow::Result<Vec<String>> {
    let out = lab.exec_ok("router", ["ip", "route", "show", "10.253.85.250/32"])?;
    Ok(out
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .map(|w| w[1].to_owned())
        .collect())
}

fn scheduled(lab: &Lab, vipd: &Path, node: &str) -> u64 {
    status(lab, vipd, node).map_or(0, |s| s.services.first().map_or(0, |s| s.traffic.conns))
}

/// Runs the story in an ECMP lab, then stops the daemons it started.
pub fn run(lab: &Lab) -> anyhow::Result<()> {
    let mut daemons = Vec::new();
    let result = story(lab, &mut daemons);
    stop_daemons(lab, daemons);
    result
}

/// One more request on each connection: how many the same real server
/// answered.
fn kept(conns: &mut [(KeepAlive, String)]) -> usize {
    conns
        .iter_mut()
        .map(|(c, rs)| c.get("/").is_ok_and(|r| r.first_line() == rs.as_str()))
        .filter(|same| *same)
        .count()
}

fn story(lab: &Lab, daemons: &mut Vec<Child>) -> anyhow::Result<()> {
    let vipd = crate::lab::vipd_binary(None)?;
    let vipd_s = vipd.to_string_lossy().into_owned();
    let dirs: Vec<String> = lab.directors().into_iter().map(|n| n.name).collect();
    let conf = crate::lab::state::dir(lab.name()).join("ecmp.conf");
    std::fs::write(&conf, ECMP_CONF).context("writing the ECMP configuration")?;

    println!("\n== real servers bind the VIP without ARP (realserver.sh)");
    for rs in lab.reals() {
        lab.exec_ok(
            &rs.name,
            [
                vipd_s.as_str(),
                "realserver",
                "up",
                "--vip",
                "10.253.85.250",
            ],
        )?;
    }
    println!(
        "\n== vipd on {} with the same file:\n{ECMP_CONF}",
        dirs.join(", ")
    );
    let t0 = Instant::now();
    for d in &dirs {
        daemons.push(start(lab, &vipd_s, &conf, d)?);
    }
    wait_for("every director announced", Duration::from_secs(60), || {
        nexthops(lab).ok().filter(|h| h.len() == dirs.len())
    })?;
    println!(
        "every director announces the VIP after {:.1?}",
        t0.elapsed()
    );
    println!(
        "\n$ ip route show 10.253.85.250   (on the router, installed by BIRD)\n{}",
        lab.exec_ok("router", ["ip", "route", "show", "10.253.85.250/32"])?
    );
    let text = lab.exec_ok(&dirs[0], [vipd_s.as_str(), "status"])?;
    println!("$ vipd status   (on {})\n{text}", dirs[0]);

    println!("== 300 new connections from the client, one request each");
    let ns = lab.netns("client");
    let vip = SocketAddr::from((vipd_core::lab::VIP, 80));
    let before: Vec<u64> = dirs.iter().map(|d| scheduled(lab, &vipd, d)).collect();
    let mut by_real: BTreeMap<String, u32> = BTreeMap::new();
    for i in 0..300 {
        let mut c = KeepAlive::open(&ns, vip, Duration::from_secs(3))
            .with_context(|| format!("connection {i}"))?;
        let r = c.get("/").with_context(|| format!("connection {i}"))?;
        *by_real.entry(r.first_line().to_owned()).or_default() += 1;
    }
    let per_dir = wait_for("the connections counted", Duration::from_secs(5), || {
        let v: Vec<u64> = dirs
            .iter()
            .zip(&before)
            .map(|(d, b)| scheduled(lab, &vipd, d) - b)
            .collect();
        (v.iter().sum::<u64>() >= 300).then_some(v)
    })?;
    let per_dir: Vec<String> = dirs
        .iter()
        .zip(&per_dir)
        .map(|(d, n)| format!("{d} {n}"))
        .collect();
    let per_real: Vec<String> = by_real.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!(
        "over the directors (the router's L4 hash): {}\nover the real servers (Maglev, the same table on every director): {}",
        per_dir.join(", "),
        per_real.join(", ")
    );

    println!(
        "\n== 300 keep-alive connections held; {} dies (kill -9)",
        dirs[0]
    );
    // Each director's table before: the 300 closed connections are still in
    // it (closing), so sharing shows as 300 more on every director.
    let table = |d: &str| {
        status(lab, &vipd, d)
            .and_then(|s| s.tables)
            .map_or(0, |t| t.conns)
    };
    let before: Vec<u64> = dirs.iter().map(|d| table(d)).collect();
    let mut conns: Vec<(KeepAlive, String)> = Vec::new();
    for i in 0..300 {
        let mut c = KeepAlive::open(&ns, vip, Duration::from_secs(3))
            .with_context(|| format!("connection {i}"))?;
        let r = c.get("/").with_context(|| format!("connection {i}"))?;
        conns.push((c, r.first_line().to_owned()));
    }
    // Shared: every director holds every connection's entry.
    wait_for("the connections shared", Duration::from_secs(10), || {
        dirs.iter()
            .zip(&before)
            .all(|(d, b)| table(d) >= b + 300)
            .then_some(())
    })?;
    let t_kill = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemons[0].id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let _ = daemons[0].wait();
    let dead = lab.directors()[0].addr.to_string();
    wait_for(
        "the router to drop the dead director",
        Duration::from_secs(5),
        || nexthops(lab).ok().filter(|h| !h.contains(&dead)),
    )?;
    let gone = t_kill.elapsed();
    println!(
        "its TUN device died with it, BIRD withdrew the VIP: the router stopped sending to {} after {gone:.1?}",
        dirs[0]
    );
    let after_death = kept(&mut conns);
    println!("one more request on each connection: {after_death} of 300 kept");

    println!("\n== {} comes back", dirs[0]);
    let t_back = Instant::now();
    daemons[0] = start(lab, &vipd_s, &conf, &dirs[0])?;
    wait_for(
        "the director announced again",
        Duration::from_secs(60),
        || nexthops(lab).ok().filter(|h| h.len() == dirs.len()),
    )?;
    println!(
        "announced again after {:.1?} (it first fetched the others' connections)",
        t_back.elapsed()
    );
    let after_return = kept(&mut conns);
    println!("one more request on each connection: {after_return} of 300 kept (ECMP moved flows back and among the others too)");

    println!("\n== summary");
    println!("new connections over the directors: {}", per_dir.join(", "));
    println!(
        "kill -9 of {}: router updated in {gone:.1?}; connections kept {after_death}/300, after its return {after_return}/300",
        dirs[0]
    );
    if after_death < 300 || after_return < 300 {
        bail!("connections were lost");
    }
    Ok(())
}
