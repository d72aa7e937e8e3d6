//! The director's data-plane state from the config model: what the data plane
//! serves ([`plan::ServiceSpec`]) for each virtual server, and its real servers
//! from a health plan. (What the checkers check comes from
//! [`check::from_config`].)
//!
//! Everything the daemon cannot run is refused here with a message naming the
//! virtual server, so that the daemon refuses a configuration at start or on
//! reload before touching anything.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::check::{self, CheckTiming};
use crate::config::{self, VirtualServer, VsKey};
use crate::plan::{self, Forward, Persistence, Proto};
use crate::reload::service_name;
use crate::sched::{RealSpec, SchedFlags, Scheduler};

/// Why a virtual server cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("virtual_server {service}: {reason}")]
pub struct Unsupported {
    /// The service, as [`service_name`] names it.
    pub service: String,
    /// What is wrong and what to do.
    pub reason: String,
    /// Where in the configuration.
    pub loc: config::Loc,
}

fn unsupported(vs: &VirtualServer, reason: impl Into<String>) -> Unsupported {
    unsupported_at(vs, vs.loc, reason)
}

fn unsupported_at(vs: &VirtualServer, loc: config::Loc, reason: impl Into<String>) -> Unsupported {
    Unsupported {
        service: service_name(&vs.key, vs.protocol),
        reason: reason.into(),
        // A keyword not written (a default) points at the block.
        loc: if loc.0.is_some() { loc } else { vs.loc },
    }
}

/// What the data plane cannot run, of one keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A keepalived scheduler vipd does not have.
    #[error("lb_algo {name} is not supported by vipd's data plane: {hint}")]
    Scheduler {
        /// Its name.
        name: &'static str,
        /// What to use instead.
        hint: &'static str,
    },
}

/// The data plane's scheduler for `lb_algo` (a typed conversion: every
/// keepalived scheduler is named, those vipd lacks with what to use instead).
pub fn scheduler(algo: config::LbAlgo) -> Result<Scheduler, Refusal> {
    use config::LbAlgo as A;
    const AFFINITY: &str = "use dh (destination hashing) or mh for cache affinity";
    let instead = |name, hint| Err(Refusal::Scheduler { name, hint });
    Ok(match algo {
        A::Rr => Scheduler::Rr,
        A::Wrr => Scheduler::Wrr,
        A::Lc => Scheduler::Lc,
        A::Wlc => Scheduler::Wlc,
        A::Dh => Scheduler::Dh,
        A::Sh => Scheduler::Sh,
        A::Sed => Scheduler::Sed,
        A::Nq => Scheduler::Nq,
        A::Mh => Scheduler::Mh,
        A::Fo => Scheduler::Fo,
        A::Ovf => Scheduler::Ovf,
        A::Lblc => return instead("lblc", AFFINITY),
        A::Lblcr => return instead("lblcr", AFFINITY),
        A::Twos => return instead("twos", "use wlc or sed"),
    })
}

/// The data plane's forwarding method for `lb_kind` / `lvs_method` (NAT,
/// keepalived's default, when none is written).
pub fn forwarding(kind: config::LbKind) -> Forward {
    match kind {
        config::LbKind::Tun => Forward::Tun,
        config::LbKind::Dr => Forward::Dr,
        config::LbKind::Nat => Forward::Nat,
    }
}

/// IPVS's scheduler flags of `vs` (`flag-1` = `sh-fallback` = `mh-fallback`,
/// `flag-2` = `sh-port` = `mh-port`, the same bits in IPVS), with a note for
/// each flag that does nothing under the service's scheduler.
pub fn sched_flags(vs: &VirtualServer, notes: &mut Vec<String>) -> SchedFlags {
    let mut f = SchedFlags::default();
    let hashed = matches!(vs.lb_algo, config::LbAlgo::Sh | config::LbAlgo::Mh);
    for flag in &vs.sched_flags {
        let (bit, named_for) = match flag.as_str() {
            "flag-1" => (Some(&mut f.fallback), None),
            "flag-2" => (Some(&mut f.port), None),
            "sh-fallback" => (Some(&mut f.fallback), Some("sh")),
            "mh-fallback" => (Some(&mut f.fallback), Some("mh")),
            "sh-port" => (Some(&mut f.port), Some("sh")),
            "mh-port" => (Some(&mut f.port), Some("mh")),
            "ops" => continue, // one-packet scheduling: not a hash flag
            _ => (None, None),
        };
        let applies = hashed && named_for.is_none_or(|s| s == vs.lb_algo.as_str());
        match bit {
            Some(b) if applies => *b = true,
            _ => notes.push(format!(
                "virtual_server {}: {flag} has no effect with lb_algo {} (as in keepalived: flag-1 and flag-2 act on sh and mh, sh-* on sh, mh-* on mh): ignored",
                service_name(&vs.key, vs.protocol),
                vs.lb_algo.as_str()
            )),
        }
    }
    f
}

/// keepalived's `ops` (IPVS's one-packet scheduling) for `vs`: every UDP
/// datagram scheduled on its own, no connection entry. IPVS applies it to UDP
/// only; on another protocol it is noted and ignored.
pub fn one_packet(vs: &VirtualServer, notes: &mut Vec<String>) -> bool {
    if !vs.sched_flags.iter().any(|f| f == "ops") {
        return false;
    }
    if vs.protocol == config::Protocol::Udp {
        return true;
    }
    notes.push(format!(
        "virtual_server {}: ops has no effect with protocol {} (as in IPVS: one-packet scheduling is for UDP only): ignored",
        service_name(&vs.key, vs.protocol),
        vs.protocol.as_str()
    ));
    false
}

/// The most addresses and ports one `virtual_server_group` may expand to.
pub const GROUP_MAX: usize = 1024;

/// What XDP cannot do with a firewall mark, and what to write instead.
const NO_FWMARK: &str = "vipd's data plane runs in XDP, before netfilter marks packets, so it never sees a fwmark: list the addresses and ports in a virtual_server_group instead (ADDR PORT, FIRST-LAST PORT or ADDR/LEN PORT lines) and write `virtual_server group NAME`";

/// The (VIP, port) pairs a virtual server serves: its own, or every address
/// and port of its `virtual_server_group` (ranges and prefixes expanded, as
/// keepalived gives each to IPVS). fwmark services are refused; a group's
/// fwmark entries are skipped (see [`datapath_specs`]).
pub fn service_addrs(
    c: &config::Config,
    vs: &VirtualServer,
) -> Result<Vec<(IpAddr, u16)>, Unsupported> {
    match &vs.key {
        VsKey::Addr { ip, port } => Ok(vec![(*ip, *port)]),
        VsKey::Fwmark(m) => Err(unsupported(vs, format!("fwmark {m}: {NO_FWMARK}"))),
        VsKey::Group(name) => {
            let g = c
                .virtual_server_groups
                .iter()
                .find(|g| &g.name == name)
                .ok_or_else(|| {
                    unsupported(vs, format!("virtual_server_group {name} is not defined"))
                })?;
            let mut out = Vec::new();
            for e in &g.entries {
                match e {
                    // Skipped: `datapath_specs` says so; a group of
                    // fwmarks only is refused below.
                    config::VsgEntry::Fwmark { .. } => {}
                    config::VsgEntry::Range { first, last, port } => {
                        let (IpAddr::V4(a), IpAddr::V4(b)) = (first, last) else {
                            out.push((*first, *port)); // IPv6: refused by the caller
                            continue;
                        };
                        let (a, b) = (u32::from(*a), u32::from(*b));
                        if b < a || (b - a) as usize >= GROUP_MAX - out.len().min(GROUP_MAX) {
                            return Err(unsupported_at(
                                vs,
                                g.loc,
                                format!(
                                    "virtual_server_group {name}: more than {GROUP_MAX} addresses and ports; vipd serves at most {GROUP_MAX} per group"
                                ),
                            ));
                        }
                        out.extend((a..=b).map(|x| (IpAddr::V4(Ipv4Addr::from(x)), *port)));
                    }
                }
            }
            if out.is_empty() {
                let why = match group_fwmarks(g).first() {
                    Some(mark) => format!(
                        "virtual_server_group {name} has only fwmark entries (fwmark {mark}): {NO_FWMARK}"
                    ),
                    None => format!("virtual_server_group {name} has no address"),
                };
                return Err(unsupported_at(vs, g.loc, why));
            }
            Ok(out)
        }
    }
}

/// The fwmark entries of a group: the data plane never sees a mark, so they
/// are skipped (with a note) and the group's addresses are served.
fn group_fwmarks(g: &config::VirtualServerGroup) -> Vec<u32> {
    g.entries
        .iter()
        .filter_map(|e| match e {
            config::VsgEntry::Fwmark { mark, .. } => Some(*mark),
            _ => None,
        })
        .collect()
}

/// The data-plane services of one virtual server (one per address and port
/// of its group), without real servers (the health plan supplies them).
/// `mss` is the clamp for TUN (the receiving interface's MTU minus the outer
/// header and TCP/IP headers).
pub fn datapath_specs(
    c: &config::Config,
    vs: &VirtualServer,
    mss: Option<u16>,
    notes: &mut Vec<String>,
) -> Result<Vec<plan::ServiceSpec>, Unsupported> {
    let addrs = service_addrs(c, vs)?;
    if let VsKey::Group(name) = &vs.key {
        let g = c.virtual_server_groups.iter().find(|g| &g.name == name);
        for mark in g.map(group_fwmarks).unwrap_or_default() {
            notes.push(format!(
                "virtual_server_group {name}: fwmark {mark} is skipped (the group's addresses are served): {NO_FWMARK}"
            ));
        }
    }
    let first = datapath_spec(vs, addrs[0], mss, notes)?;
    let mut out = Vec::with_capacity(addrs.len());
    for (ip, port) in addrs {
        if ip.is_ipv6() != first.vip.is_ipv6() {
            return Err(unsupported(
                vs,
                format!("{ip} and {} are of two families: put the IPv4 and the IPv6 addresses in two virtual_server_groups (one service is one family)", first.vip),
            ));
        }
        out.push(plan::ServiceSpec {
            vip: ip,
            port,
            ..first.clone()
        });
    }
    Ok(out)
}

/// The data-plane spec of one virtual server at one of its addresses.
fn datapath_spec(
    vs: &VirtualServer,
    (ip, port): (IpAddr, u16),
    mss: Option<u16>,
    notes: &mut Vec<String>,
) -> Result<plan::ServiceSpec, Unsupported> {
    let proto = match vs.protocol {
        config::Protocol::Tcp => Proto::Tcp,
        config::Protocol::Udp => Proto::Udp,
        config::Protocol::Sctp => {
            return Err(unsupported(
                vs,
                "protocol SCTP is not supported by vipd's data plane: use TCP or UDP",
            ))
        }
    };
    let sched =
        scheduler(vs.lb_algo).map_err(|e| unsupported_at(vs, vs.lb_algo_loc, e.to_string()))?;
    let forward = forwarding(vs.lb_kind);
    // TUN carries either family over either; DR and NAT keep the VIP's. The
    // sorry server too: it enters the tables only when quorum is lost.
    let sorry = vs.sorry_server.as_ref().map(|s| {
        let f = vs.sorry_server_lvs_method.map_or(forward, forwarding);
        (s.ip, f, vs.loc, "sorry_server")
    });
    let reals = vs.real_servers.iter().map(|rs| {
        (
            rs.ip,
            rs.lvs_method.map_or(forward, forwarding),
            rs.loc,
            "real server",
        )
    });
    for (rip, f, loc, what) in reals.chain(sorry) {
        if rip.is_ipv6() != ip.is_ipv6() && f != Forward::Tun {
            return Err(unsupported_at(
                vs,
                loc,
                format!(
                    "{what} {rip} is IPv{} and the VIP {ip} IPv{}: only lvs_method TUN carries a packet to a real server of the other family (DR and NAT keep the VIP's)",
                    if rip.is_ipv6() { 6 } else { 4 },
                    if ip.is_ipv6() { 6 } else { 4 },
                ),
            ));
        }
    }
    match &vs.tunnel_type {
        None | Some(config::TunnelType::Ipip) => {}
        Some(t) => {
            let name = match t {
                config::TunnelType::Gue { port } => format!("gue port {port}"),
                _ => "gre".to_owned(),
            };
            return Err(unsupported_at(
                vs,
                vs.lb_kind_loc,
                format!(
                    "lvs_method TUN type {name}: vipd's data plane encapsulates in IP-in-IP only (real servers decapsulate with an ipip tunnel); remove `type {name}`, or keep keepalived + IPVS for {name}"
                ),
            ));
        }
    }
    // IPVS forwards each real server its own way: a real server's
    // `lvs_method`, and the sorry server's `sorry_server_lvs_method`.
    let mut forward_of = std::collections::BTreeMap::new();
    for rs in &vs.real_servers {
        if let Some(m) = rs.lvs_method.filter(|m| *m != vs.lb_kind) {
            forward_of.insert((rs.ip, rs.port), forwarding(m));
        }
    }
    if let (Some(sorry), Some(m)) = (&vs.sorry_server, vs.sorry_server_lvs_method) {
        forward_of.insert((sorry.ip, sorry.port.unwrap_or(port)), forwarding(m));
    }
    let persistence = match vs.persistence_timeout.filter(|t| *t > 0) {
        None => None,
        Some(timeout) => Some(Persistence {
            timeout,
            granularity: match (vs.persistence_granularity, ip) {
                (None, _) => Ipv4Addr::BROADCAST,
                (Some(IpAddr::V4(m)), IpAddr::V4(_)) => m,
                (Some(m), _) => {
                    return Err(unsupported(
                        vs,
                        format!("persistence_granularity {m}: an IPv6 service persists per client address (/128) in vipd's data plane; remove persistence_granularity"),
                    ))
                }
            },
        }),
    };
    Ok(plan::ServiceSpec {
        vip: ip,
        port,
        proto,
        sched,
        flags: sched_flags(vs, notes),
        ops: one_packet(vs, notes),
        forward,
        forward_of,
        persistence,
        mss,
        reals: Vec::new(),
    })
}

/// Every VIP the virtual servers serve (group members included; those a
/// refusal leaves out are not), once each.
pub fn vips(c: &config::Config) -> BTreeSet<IpAddr> {
    c.virtual_servers
        .iter()
        .filter_map(|vs| service_addrs(c, vs).ok())
        .flatten()
        .map(|(ip, _)| ip)
        .collect()
}

/// The interface on which each virtual server's VIP arrives: the `dev` of the
/// `virtual_ipaddress` (or `static_ipaddress`) entry that carries it, else its
/// VRRP instance's interface, else `global_defs { default_interface }`.
pub fn datapath_interfaces(c: &config::Config) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for ip in vips(c) {
        match vip_interface(c, ip) {
            Some(i) => {
                out.insert(i);
            }
            None => {
                return Err(format!(
                    "virtual_server {ip}: no virtual_ipaddress, static_ipaddress or global_defs default_interface says which interface receives {ip}; add `{ip} dev IFACE` to a virtual_ipaddress block, or default_interface IFACE"
                ))
            }
        }
    }
    Ok(out)
}

/// The interface that receives `vip` (see [`datapath_interfaces`]).
pub fn vip_interface(c: &config::Config, vip: IpAddr) -> Option<String> {
    for i in &c.vrrp_instances {
        for v in i
            .virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
        {
            if v.addr.addr == vip {
                return v.dev.clone().or_else(|| i.interface.clone());
            }
        }
    }
    for v in &c.static_ipaddress {
        if v.addr.addr == vip {
            if let Some(d) = &v.dev {
                return Some(d.clone());
            }
        }
    }
    c.global_defs.default_interface.clone()
}

/// The data plane's real servers from a health plan (sorry server included:
/// the health plan puts it in only while quorum is lost).
pub fn datapath_reals(plan: &check::ServicePlan) -> Vec<RealSpec> {
    plan.reals
        .iter()
        .map(|r| RealSpec {
            rip: r.addr.ip(),
            port: r.addr.port(),
            weight: r.weight,
        })
        .collect()
}

/// The data plane's real servers when no checkers run (`-P` never gets here;
/// this is a configuration whose real servers have no checkers, or the
/// checkers are not running): every configured real server with its weight.
pub fn configured_reals(vs: &VirtualServer) -> Vec<RealSpec> {
    vs.real_servers
        .iter()
        .map(|r| RealSpec {
            rip: r.ip,
            port: r.port,
            weight: r.weight,
        })
        .collect()
}

/// keepalived's connect_timeout + retry x delay_before_retry (+ one delay_loop):
/// how long after a real server dies it leaves the table at most, for a checker.
pub fn failure_bound(t: &CheckTiming, connect_timeout: Duration) -> Duration {
    connect_timeout + t.delay_before_retry * t.retry + t.delay_loop
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../examples/seed/keepalived-master.conf");

    #[test]
    fn the_seeds_service() {
        let l = config::parse_str("seed.conf", SEED);
        assert!(!l.diagnostics.has_errors());
        let (specs, notes) = check::from_config::services(&l.config);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(s.name, "10.253.85.250:80/TCP");
        assert!(s.ha_suspend);
        assert_eq!(s.reals.len(), 3);
        let c = &s.reals[1].checkers[0];
        assert_eq!(c.kind, check::CheckKind::Tcp);
        assert_eq!(c.connect.target, "10.253.26.2:80".parse().unwrap());
        assert_eq!(c.connect.connect_timeout, Duration::from_secs(3));
        assert_eq!(c.timing.retry, 3, "nb_get_retry 3");
        assert_eq!(c.timing.delay_before_retry, Duration::from_secs(3));
        assert_eq!(c.timing.delay_loop, Duration::from_secs(6));
        assert!(c.timing.alpha, "alpha inherited from the virtual server");
        assert_eq!(
            failure_bound(&c.timing, c.connect.connect_timeout),
            Duration::from_secs(3 + 9 + 6)
        );

        let d = datapath_specs(
            &l.config,
            &l.config.virtual_servers[0],
            Some(1440),
            &mut Vec::new(),
        )
        .unwrap()
        .remove(0);
        assert_eq!(d.sched, Scheduler::Rr);
        assert_eq!(d.forward, Forward::Tun);
        assert_eq!(d.persistence, None, "persistence_timeout 0 is off");
        assert_eq!(d.mss, Some(1440));
        assert_eq!(configured_reals(&l.config.virtual_servers[0]).len(), 3);
    }

    #[test]
    fn ops_is_one_packet_scheduling_for_udp_only() {
        let udp = SEED
            .replace("protocol TCP", "protocol UDP\n    ops")
            .replace("lb_algo rr", "lb_algo wrr");
        let l = config::parse_str("t.conf", &udp);
        let mut notes = Vec::new();
        let d = datapath_specs(&l.config, &l.config.virtual_servers[0], None, &mut notes)
            .unwrap()
            .remove(0);
        assert!(d.ops);
        assert!(notes.is_empty(), "{notes:?}");
        // IPVS ignores ops for TCP: so does vipd, and says so.
        let l = config::parse_str(
            "t.conf",
            &SEED.replace("protocol TCP", "protocol TCP\n    ops"),
        );
        let d = datapath_specs(&l.config, &l.config.virtual_servers[0], None, &mut notes)
            .unwrap()
            .remove(0);
        assert!(!d.ops);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("10.253.85.250:80/TCP: ops has no effect with protocol TCP"));
        let l = config::parse_str("t.conf", SEED);
        let d = datapath_specs(&l.config, &l.config.virtual_servers[0], None, &mut notes)
            .unwrap()
            .remove(0);
        assert!(!d.ops);
    }

    #[test]
    fn refusals_name_the_service_and_the_way_out() {
        let l = config::parse_str("t.conf", &SEED.replace("lb_algo rr", "lb_algo lblc"));
        let specs = |l: &config::Loaded| {
            datapath_specs(
                &l.config,
                &l.config.virtual_servers[0],
                None,
                &mut Vec::new(),
            )
        };
        let e = specs(&l).unwrap_err();
        assert_eq!(e.service, "10.253.85.250:80/TCP");
        assert!(e.to_string().contains("lblc"), "{e}");
        let fw = SEED.replace("10.253.85.250 80 {", "fwmark 5 {");
        let e = specs(&config::parse_str("t.conf", &fw)).unwrap_err();
        assert!(
            e.to_string().contains("virtual_server_group instead"),
            "{e}"
        );
    }

    #[test]
    fn ipv6_services_run_and_cross_family_is_tun_only() {
        let specs = |text: &str| {
            let l = config::parse_str("t.conf", text);
            assert!(!l.diagnostics.has_errors(), "{:?}", l.diagnostics);
            datapath_specs(
                &l.config,
                &l.config.virtual_servers[0],
                Some(1440),
                &mut Vec::new(),
            )
        };
        let v6 = SEED
            .replace("10.253.85.250 80 {", "2001:db8:85::250 80 {")
            .replace("10.253.26.", "2001:db8:26::");
        assert!(v6.contains("2001:db8:26::3 80"));
        let d = specs(&v6).unwrap();
        assert_eq!(d[0].vip.to_string(), "2001:db8:85::250");
        // An IPv6 VIP over IPv4 real servers (6in4) and the reverse (4in6).
        let six_in_four = SEED.replace("10.253.85.250 80 {", "2001:db8:85::250 80 {");
        assert!(specs(&six_in_four).is_ok());
        let four_in_six = SEED.replace("10.253.26.", "2001:db8:26::");
        assert!(specs(&four_in_six).is_ok());
        // DR and NAT keep the VIP's family.
        let e = specs(&four_in_six.replace("lb_kind TUN", "lb_kind DR")).unwrap_err();
        assert!(e.to_string().contains("only lvs_method TUN carries"), "{e}");
        let e = specs(&four_in_six.replace("lb_kind TUN", "lb_kind NAT")).unwrap_err();
        assert!(e.to_string().contains("only lvs_method TUN carries"), "{e}");
        assert!(specs(&v6.replace("lb_kind TUN", "lb_kind NAT")).is_ok());
        // The sorry server is held to the same rules.
        let sorry = v6.replace(
            "persistence_timeout 0",
            "persistence_timeout 0\n    sorry_server 10.253.26.9 80\n    sorry_server_lvs_method DR",
        );
        let e = specs(&sorry).unwrap_err();
        assert!(
            e.to_string().contains("sorry_server 10.253.26.9 is IPv4"),
            "{e}"
        );
        // An IPv6 service persists per client address.
        let p = v6.replace(
            "persistence_timeout 0",
            "persistence_timeout 60\n    persistence_granularity 255.255.255.0",
        );
        let e = specs(&p).unwrap_err();
        assert!(e.to_string().contains("persists per client address"), "{e}");
    }

    #[test]
    fn a_group_is_one_service_per_address_and_port() {
        let text = SEED.replace("10.253.85.250 80 {", "group web {")
            + "virtual_server_group web {\n    10.253.85.250 80\n    10.253.85.251-253 8080\n    10.253.85.8/30 443\n}\n";
        let l = config::parse_str("t.conf", &text);
        assert!(!l.diagnostics.has_errors(), "{:?}", l.diagnostics);
        let vs = &l.config.virtual_servers[0];
        let got: Vec<String> = datapath_specs(&l.config, vs, None, &mut Vec::new())
            .unwrap()
            .iter()
            .map(|d| format!("{}:{}", d.vip, d.port))
            .collect();
        assert_eq!(
            got,
            [
                "10.253.85.250:80",
                "10.253.85.251:8080",
                "10.253.85.252:8080",
                "10.253.85.253:8080",
                "10.253.85.8:443",
                "10.253.85.9:443",
                "10.253.85.10:443",
                "10.253.85.11:443",
            ]
        );
        let big = text.replace("10.253.85.8/30 443", "10.0.0.0/16 443");
        let l = config::parse_str("t.conf", &big);
        let e = datapath_specs(
            &l.config,
            &l.config.virtual_servers[0],
            None,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 1024"), "{e}");
    }

    #[test]
    fn a_groups_fwmark_entries_are_skipped_by_name_and_a_group_of_marks_refused() {
        let text = SEED.replace("10.253.85.250 80 {", "group web {")
            + "virtual_server_group web {\n    10.253.85.250 80\n    fwmark 1\n    fwmark 2\n}\n";
        let l = config::parse_str("t.conf", &text);
        let vs = &l.config.virtual_servers[0];
        let mut notes = Vec::new();
        let got: Vec<String> = datapath_specs(&l.config, vs, None, &mut notes)
            .unwrap()
            .iter()
            .map(|d| format!("{}:{}", d.vip, d.port))
            .collect();
        assert_eq!(got, ["10.253.85.250:80"]);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("virtual_server_group web: fwmark 1 is skipped"),
            "{notes:?}"
        );
        let marks = text.replace("    10.253.85.250 80\n", "");
        let l = config::parse_str("t.conf", &marks);
        let e =
            datapath_specs(&l.config, &l.config.virtual_servers[0], None, &mut notes).unwrap_err();
        assert!(
            e.to_string().contains("only fwmark entries (fwmark 1)"),
            "{e}"
        );
    }
}
