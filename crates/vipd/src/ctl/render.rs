//! `vipd status` as text: a header, the VRRP instances, then the services in
//! the layout of `ipvsadm -Ln --stats` (service line, then one `->` line per real
//! server) with the scheduler, weights, active/inactive connections, counters,
//! rates and each real server's check state.

use std::fmt::Write;

use crate::daemon::status::{Real, Status, Traffic};

/// `12`, `3456`, `12K`, `3M`: counters in the width ipvsadm gives them.
fn human(n: f64) -> String {
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let mut v = n;
    let mut u = 0;
    while v >= 100_000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{:.0}{}", v, UNITS[u])
}

fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn forward_name(kind: &str) -> &str {
    // ipvsadm's words for the forwarding methods.
    match kind {
        "TUN" => "Tunnel",
        "DR" => "Route",
        "NAT" => "Masq",
        other => other,
    }
}

fn traffic_cols(t: &Traffic) -> String {
    format!(
        "{:>8} {:>9} {:>9} {:>6} {:>7} {:>8}",
        human(t.conns as f64),
        human(t.packets as f64),
        human(t.bytes as f64),
        human(t.cps),
        human(t.pps),
        human(t.bps)
    )
}

fn check_col(r: &Real) -> String {
    if r.sorry {
        return "sorry server".to_owned();
    }
    match r.alive {
        None if r.checkers.is_empty() => "no checker (always up)".to_owned(),
        None => "checks not running".to_owned(),
        Some(true) => {
            let kinds: Vec<&str> = r.checkers.iter().map(|c| c.kind.as_str()).collect();
            if kinds.is_empty() {
                "up (no checker)".to_owned()
            } else {
                format!("up ({})", kinds.join(", "))
            }
        }
        Some(false) => match &r.last_failure {
            Some(why) => format!("DOWN: {why}"),
            None if r.checkers.iter().all(|c| !c.has_run) => {
                "DOWN: not checked yet (alpha)".to_owned()
            }
            None => "DOWN".to_owned(),
        },
    }
}

/// Renders the status as the table `vipd status` prints.
pub fn text(st: &Status) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "vipd {} pid {} up {}  config {}",
        st.version,
        st.pid,
        duration(st.uptime_secs as u64),
        st.config_file
    );
    let parts: Vec<&str> = [
        (st.parts.vrrp, "vrrp"),
        (st.parts.checkers, "checkers"),
        (st.parts.datapath, "datapath"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect();
    let _ = write!(o, "running: {}", parts.join(" + "));
    if !st.parts.datapath_attach.is_empty() {
        let _ = write!(o, " (XDP on {})", st.parts.datapath_attach.join(", "));
    }
    let _ = writeln!(o);
    for n in &st.parts.notes {
        let _ = writeln!(o, "note: {n}");
    }
    let _ = write!(
        o,
        "reloads: {} applied, {} refused",
        st.reloads.applied, st.reloads.refused
    );
    if let Some(l) = &st.reloads.last {
        let _ = write!(
            o,
            "; last {} at +{}: {}",
            if l.ok { "applied" } else { "REFUSED" },
            duration(l.at_secs),
            l.message
        );
    }
    let _ = writeln!(o);

    if !st.vrrp.is_empty() {
        let _ = writeln!(o, "\nVRRP");
        let _ = writeln!(
            o,
            "  {:<12} {:>4} {:<10} {:<7} {:>8} {:>8}  VIPs",
            "Instance", "VRID", "Interface", "State", "Priority", "Since"
        );
        for v in &st.vrrp {
            let prio = if v.effective_priority == v.priority {
                v.priority.to_string()
            } else {
                format!("{}({})", v.effective_priority, v.priority)
            };
            let _ = writeln!(
                o,
                "  {:<12} {:>4} {:<10} {:<7} {:>8} {:>8}  {}",
                v.name,
                v.vrid,
                v.interface,
                v.state,
                prio,
                v.since_secs
                    .map(|s| format!("+{}", duration(s)))
                    .unwrap_or_default(),
                v.vips.join(" ")
            );
        }
    }

    if !st.services.is_empty() {
        let _ = writeln!(o, "\nIP Virtual Server (vipd XDP)");
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port Scheduler Flags        {:>8} {:>9} {:>9} {:>6} {:>7} {:>8}",
            "Conns", "InPkts", "InBytes", "CPS", "InPPS", "InBPS"
        );
        let _ = writeln!(
            o,
            "  -> RemoteAddress:Port  Forward Weight ActiveConn InActConn  (same columns)  Check"
        );
        for s in &st.services {
            let mut flags = Vec::new();
            if let Some(p) = s.persistence_timeout {
                flags.push(format!("persistent {p}"));
            }
            if s.ops {
                flags.push("ops".to_owned());
            }
            if s.checks_suspended {
                flags.push("checks suspended (ha_suspend)".to_owned());
            }
            if s.quorum_up == Some(false) {
                flags.push("QUORUM DOWN".to_owned());
            }
            if s.sorry_active {
                flags.push("sorry server in use".to_owned());
            }
            let head = format!(
                "{:<4} {} {}",
                s.protocol,
                std::net::SocketAddr::new(s.vip, s.port),
                s.lb_algo
            );
            let _ = writeln!(o, "{:<42} {}", head, traffic_cols(&s.traffic));
            if !s.group.is_empty() {
                let members: Vec<String> = s.group.iter().map(|a| a.to_string()).collect();
                let _ = writeln!(o, "     [{}: {}]", s.name, members.join(" "));
            }
            if !flags.is_empty() {
                let _ = writeln!(o, "     [{}]", flags.join(", "));
            }
            for r in &s.reals {
                let weight = if r.in_table {
                    r.weight.to_string()
                } else {
                    "-".to_owned()
                };
                let head = format!(
                    "  -> {:<19} {:<7} {:>6} {:>10} {:>9}",
                    r.addr.to_string(),
                    forward_name(&r.forward),
                    weight,
                    r.active_conns,
                    r.inactive_conns
                );
                let _ = writeln!(o, "{head}");
                let _ = writeln!(
                    o,
                    "{:<42} {}  {}",
                    "",
                    traffic_cols(&r.traffic),
                    check_col(r)
                );
            }
        }
    }
    if let Some(t) = &st.tables {
        let f = &t.flood;
        let _ = writeln!(
            o,
            "\nconnection table: {} / {} established; half-open: {} / {} ({:.0} new/s, {:.0} completed/s, {} evicted)",
            t.conns, t.conns_max, t.half_open, t.half_open_max,
            f.half_open_new_per_sec, f.promoted_per_sec, f.evicted_total
        );
        if f.flood {
            let _ = writeln!(
                o,
                "FLOOD: the half-open table is evicting ({:.0}/s); established connections are kept",
                f.evicted_per_sec
            );
        }
    }
    if let Some(sh) = &st.sharing {
        if sh.on {
            let c = &sh.counters;
            let _ = writeln!(
                o,
                "connection sharing: {}, {}; sent {} entries in {} datagrams, received {} (installed {}, not installed {}), dropped {} datagrams, lost {} (ring) + {} (queue)",
                sh.transport,
                if sh.authenticated { "authenticated" } else { "UNAUTHENTICATED" },
                c.entries_sent, c.datagrams_sent, c.entries_received, sh.installed,
                sh.not_installed, c.dropped.total(), sh.ring_lost, c.queue_dropped
            );
            for p in &sh.peers {
                let _ = writeln!(
                    o,
                    "  peer {}: last heard {:.1} s ago, seq {}",
                    p.sender_id, p.last_heard_secs, p.highest_seq
                );
            }
        } else if let Some(why) = &sh.why_off {
            let _ = writeln!(o, "connection sharing: {why}");
        }
    }
    for i in &st.statics {
        let _ = writeln!(
            o,
            "{}: {}: {}",
            i.block,
            i.item,
            match &i.error {
                None => "added".to_owned(),
                Some(e) => format!("NOT ADDED: {e}"),
            }
        );
    }
    if let Some(r) = &st.restart {
        let _ = writeln!(
            o,
            "restart: took over the previous vipd's program after {} ms with {} connections, {} handshakes and {} persistence templates ({} waited for their real server, {} no longer configured)",
            r.old_program_ms, r.conns, r.half_open, r.templates, r.waiting, r.not_configured
        );
    }
    if !st.counters.is_empty() {
        let nz: Vec<String> = st
            .counters
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !nz.is_empty() {
            let _ = writeln!(o, "\ndata-plane counters: {}", nz.join(" "));
        }
    }
    o
}
