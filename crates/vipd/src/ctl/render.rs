//! `vipd status` as text: a header, the VRRP instances, then the services in
//! the manner of `ipvsadm -Ln` (service line, then one `->` line per real
//! server) with the scheduler, weights, active/inactive connections, counters,
//! rates and each real server's check state: one line per real server, within
//! 100 columns for any IPv4 address (`vipd status -Ln --stats` and friends
//! print ipvsadm's exact layouts, see [`super::ipvsadm`]).

use std::fmt::Write;

use crate::daemon::status::{Real, Status, Traffic};

/// `12`, `3456`, `12K`, `999K`, `3M`: at most 4 characters, so that a
/// column of them is 5 wide with its blank.
fn human(n: f64) -> String {
    const UNITS: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
    let mut v = n.max(0.0);
    let mut u = 0;
    if v.round() < 10_000.0 {
        return format!("{v:.0}");
    }
    while u + 1 < UNITS.len() && (u == 0 || v.round() >= 1000.0) {
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

/// The figures after the weight, on service and real-server lines alike:
/// active and inactive connections, then the counters and rates.
fn figures(active: u64, inactive: u64, t: &Traffic) -> String {
    format!(
        " {:>6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        human(active as f64),
        human(inactive as f64),
        human(t.conns as f64),
        human(t.packets as f64),
        human(t.bytes as f64),
        human(t.cps),
        human(t.pps),
        human(t.bps)
    )
}

/// The labels of [`figures`].
const FIGURE_LABELS: [&str; 8] = [
    "Active", "InAct", "Conns", "Pkts", "Bytes", "CPS", "PPS", "BPS",
];

/// A real server's check state in at most 8 characters (the reason of a
/// failure goes on a line of its own under the service).
fn check_col(r: &Real) -> &'static str {
    if r.sorry {
        return "sorry";
    }
    match r.alive {
        None if r.checkers.is_empty() => "no check",
        None => "not run",
        Some(true) => "up",
        Some(false) if r.last_failure.is_none() && r.checkers.iter().all(|c| !c.has_run) => {
            "pending"
        }
        Some(false) => "DOWN",
    }
}

/// The services and their real servers, one line each.
/// `TCP  10.253.85.250:80 rr`, `TCP  [2001:db8::250]:80 rr`: a service's
/// first columns.
fn service_head(s: &crate::daemon::status::Service) -> String {
    format!(
        "{:<4} {} {}",
        s.protocol,
        std::net::SocketAddr::new(s.vip, s.port),
        s.lb_algo
    )
}

fn services(o: &mut String, st: &Status) {
    // The address column fits the longest address (18 at least, as ipvsadm's
    // `RemoteAddress:Port` label), and a service's head (an IPv6 VIP is
    // long) must fit before the figures, which start 20 columns further.
    let w = st
        .services
        .iter()
        .flat_map(|s| &s.reals)
        .map(|r| r.addr.to_string().len())
        .chain(
            st.services
                .iter()
                .map(|s| service_head(s).len().saturating_sub(20)),
        )
        .max()
        .unwrap_or(0)
        .max("RemoteAddress:Port".len());
    let labels = FIGURE_LABELS.map(|l| format!("{l:>5}")).join(" ");
    let _ = writeln!(o, "\nIP Virtual Server (vipd XDP)");
    let _ = writeln!(
        o,
        "{:<width$} {labels}",
        "Prot LocalAddress:Port Scheduler",
        width = w + 20
    );
    let _ = writeln!(
        o,
        "  -> {:<w$} {:<7} {:>6} {labels}  Check",
        "RemoteAddress:Port", "Forward", "Weight"
    );
    for s in &st.services {
        let head = service_head(s);
        let sum = |f: fn(&Real) -> u64| s.reals.iter().fold(0u64, |a, r| a.saturating_add(f(r)));
        let (active, inactive) = (sum(|r| r.active_conns), sum(|r| r.inactive_conns));
        let _ = writeln!(
            o,
            "{head:<width$}{}",
            figures(active, inactive, &s.traffic),
            width = w + 20
        );
        if !s.group.is_empty() {
            let members: Vec<String> = s.group.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(o, "     [{}: {}]", s.name, members.join(" "));
        }
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
        if !flags.is_empty() {
            let _ = writeln!(o, "     [{}]", flags.join(", "));
        }
        for r in &s.reals {
            let weight = if r.in_table {
                r.weight.to_string()
            } else {
                "-".to_owned()
            };
            let _ = writeln!(
                o,
                "  -> {:<w$} {:<7} {:>6}{}  {}",
                r.addr.to_string(),
                super::ipvsadm::forward_name(&r.forward),
                weight,
                figures(r.active_conns, r.inactive_conns, &r.traffic),
                check_col(r)
            );
        }
        for r in &s.reals {
            if let (Some(false), Some(why)) = (r.alive, &r.last_failure) {
                let _ = writeln!(o, "     [{} DOWN: {why}]", r.addr);
            }
        }
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
        services(&mut o, st);
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
    if let Some(a) = &st.announce {
        for v in &a.vips {
            let _ = writeln!(o, "vipd_announce {}: {} {}", a.device, v.vip, v.why);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::status::{Checker, Parts, Service, VrrpInstance};
    use std::net::SocketAddr;

    fn real(addr: &str, weight: Option<u32>, alive: Option<bool>, t: Traffic) -> Real {
        let addr: SocketAddr = addr.parse().unwrap();
        Real {
            addr,
            forward: "TUN".into(),
            in_table: weight.is_some(),
            weight: weight.unwrap_or(0),
            configured_weight: 1,
            sorry: false,
            alive,
            active_conns: 0,
            inactive_conns: 0,
            traffic: t,
            checkers: vec![Checker {
                kind: "TCP_CHECK".into(),
                target: addr,
                up: alive == Some(true),
                has_run: alive.is_some(),
                last_failure: None,
            }],
            last_failure: None,
        }
    }

    fn traffic(conns: u64, packets: u64, bytes: u64, cps: f64, pps: f64, bps: f64) -> Traffic {
        Traffic {
            conns,
            packets,
            bytes,
            cps,
            pps,
            bps,
            ..Default::default()
        }
    }

    fn status() -> Status {
        let mut up = real(
            "10.253.26.1:80",
            Some(1),
            Some(true),
            traffic(1234, 98_765, 123_456_789, 12.0, 1500.4, 2_345_678.0),
        );
        up.active_conns = 17;
        up.inactive_conns = 123_456;
        let mut down = real("10.253.26.2:80", None, Some(false), Traffic::default());
        down.last_failure = Some("TCP_CHECK failed after 3 retries: connection refused".into());
        let mut pending = real("10.253.26.3:80", None, Some(false), Traffic::default());
        pending.checkers[0].has_run = false;
        let mut quiesced = real(
            "10.253.26.4:80",
            Some(0),
            Some(true),
            traffic(5, 50, 5000, 0.0, 0.0, 0.0),
        );
        quiesced.inactive_conns = 2;
        let mut sorry = real("10.253.26.9:80", Some(1), None, Traffic::default());
        sorry.sorry = true;
        sorry.checkers.clear();
        let mut nat = real(
            "10.253.26.1:53",
            Some(2),
            None,
            traffic(7, 70, 7000, 0.0, 3.0, 300.0),
        );
        nat.forward = "NAT".into();
        nat.checkers.clear();
        let svc = |proto: &str, vip: &str, port, reals: Vec<Real>| Service {
            name: format!("{vip}:{port}/{proto}"),
            vip: vip.parse().unwrap(),
            port,
            group: Vec::new(),
            members: Vec::new(),
            protocol: proto.into(),
            lb_algo: "rr".into(),
            lb_kind: "TUN".into(),
            persistence_timeout: None,
            ops: false,
            quorum_up: Some(true),
            checks_suspended: false,
            sorry_active: false,
            traffic: Traffic::sum(reals.iter().map(|r| r.traffic)),
            reals,
        };
        let mut udp = svc("UDP", "10.253.85.250", 53, vec![nat]);
        udp.persistence_timeout = Some(300);
        udp.ops = true;
        udp.lb_algo = "wlc".into();
        Status {
            version: "0.1.0".into(),
            pid: 4242,
            config_file: "keepalived.conf".into(),
            uptime_secs: 72.0,
            parts: Parts {
                vrrp: true,
                checkers: true,
                datapath: true,
                datapath_attach: vec!["eth1 (Skb)".into()],
                notes: Vec::new(),
            },
            vrrp: vec![VrrpInstance {
                name: "VI_1".into(),
                vrid: 51,
                interface: "eth1".into(),
                state: "MASTER".into(),
                priority: 100,
                effective_priority: 100,
                vips: vec!["10.253.85.250/32".into()],
                since_secs: Some(4),
            }],
            services: vec![
                svc(
                    "TCP",
                    "10.253.85.250",
                    80,
                    vec![up, down, pending, quiesced, sorry],
                ),
                udp,
            ],
            ..Default::default()
        }
    }

    #[test]
    fn one_line_per_real_server() {
        let text = text(&status());
        assert_eq!(text, GOLDEN.strip_prefix('\n').unwrap());
    }

    #[test]
    fn within_100_columns() {
        // The longest IPv4 address and port, every check state, big figures.
        let mut st = status();
        let max = u64::MAX;
        let big = traffic(max, max, max, 1e18, 1e18, 1e18);
        for s in &mut st.services {
            for r in &mut s.reals {
                r.addr = "255.255.255.255:65535".parse().unwrap();
                r.weight = 65535;
                r.active_conns = max;
                r.inactive_conns = max;
                r.traffic = big;
            }
            s.traffic = big;
        }
        let text = text(&st);
        for line in text.lines().filter(|l| l.starts_with("  -> ")) {
            assert!(line.len() <= 100, "{} columns: {line}", line.len());
        }
        assert_eq!(
            text.lines().filter(|l| l.starts_with("  -> 255")).count(),
            6
        );
    }

    #[test]
    fn ipv6_services_and_real_servers() {
        // The figures stay in their columns under a VIP longer than any real
        // server's address (they used to start wherever the VIP ended).
        let mut st = status();
        st.services.truncate(1);
        let s = &mut st.services[0];
        s.vip = "2001:db8:85:ffff:ffff:ffff:ffff:250".parse().unwrap();
        s.name = "[2001:db8:85:ffff:ffff:ffff:ffff:250]:80/TCP".into();
        s.reals.truncate(2);
        s.reals[0].addr = "[2001:db8:26::1]:80".parse().unwrap();
        s.reals[1].addr = "[2001:db8:26::2]:80".parse().unwrap();
        let text = text(&st);
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("IP Virtual Server"))
            .collect();
        assert_eq!(
            table.join("\n"),
            GOLDEN_V6.trim_matches('\n'),
            "\n{}",
            table.join("\n")
        );
    }

    const GOLDEN_V6: &str = r#"
IP Virtual Server (vipd XDP)
Prot LocalAddress:Port Scheduler                 Active InAct Conns  Pkts Bytes   CPS   PPS   BPS
  -> RemoteAddress:Port           Forward Weight Active InAct Conns  Pkts Bytes   CPS   PPS   BPS  Check
TCP  [2001:db8:85:ffff:ffff:ffff:ffff:250]:80 rr     17  123K  1239   99K  123M    12  1500    2M
  -> [2001:db8:26::1]:80          Tunnel       1     17  123K  1234   99K  123M    12  1500    2M  up
  -> [2001:db8:26::2]:80          Tunnel       -      0     0     0     0     0     0     0     0  DOWN
     [[2001:db8:26::2]:80 DOWN: TCP_CHECK failed after 3 retries: connection refused]
"#;

    #[test]
    fn human_is_at_most_4_characters() {
        for (n, want) in [
            (0.0, "0"),
            (9999.0, "9999"),
            (9999.4, "9999"),
            (9999.5, "10K"),
            (123_456.0, "123K"),
            (999_499.0, "999K"),
            (999_500.0, "1M"),
            (12_345_678.0, "12M"),
            (u64::MAX as f64, "18E"),
            (-1.0, "0"),
        ] {
            assert_eq!(human(n), want, "{n}");
        }
    }

    const GOLDEN: &str = r#"
vipd 0.1.0 pid 4242 up 1m12s  config keepalived.conf
running: vrrp + checkers + datapath (XDP on eth1 (Skb))
reloads: 0 applied, 0 refused

VRRP
  Instance     VRID Interface  State   Priority    Since  VIPs
  VI_1           51 eth1       MASTER       100      +4s  10.253.85.250/32

IP Virtual Server (vipd XDP)
Prot LocalAddress:Port Scheduler       Active InAct Conns  Pkts Bytes   CPS   PPS   BPS
  -> RemoteAddress:Port Forward Weight Active InAct Conns  Pkts Bytes   CPS   PPS   BPS  Check
TCP  10.253.85.250:80 rr                   17  123K  1239   99K  123M    12  1500    2M
  -> 10.253.26.1:80     Tunnel       1     17  123K  1234   99K  123M    12  1500    2M  up
  -> 10.253.26.2:80     Tunnel       -      0     0     0     0     0     0     0     0  DOWN
  -> 10.253.26.3:80     Tunnel       -      0     0     0     0     0     0     0     0  pending
  -> 10.253.26.4:80     Tunnel       0      0     2     5    50  5000     0     0     0  up
  -> 10.253.26.9:80     Tunnel       1      0     0     0     0     0     0     0     0  sorry
     [10.253.26.2:80 DOWN: TCP_CHECK failed after 3 retries: connection refused]
UDP  10.253.85.250:53 wlc                   0     0     7    70  7000     0     3   300
     [persistent 300, ops]
  -> 10.253.26.1:53     Masq         2      0     0     7    70  7000     0     3   300  no check
"#;
}
