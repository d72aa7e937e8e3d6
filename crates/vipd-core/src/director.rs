//! The director's desired state from the config model: what the health checkers
//! check ([`check::ServiceSpec`]) and what the data plane serves
//! ([`plan::ServiceSpec`]), with keepalived's inheritance rules applied
//! (checker -> real server -> virtual server -> keepalived's default).
//!
//! Everything the daemon cannot run is refused here with a message naming the
//! virtual server, so that the daemon refuses a configuration at start or on
//! reload before touching anything.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::check::{self, CheckTiming, ConnectSpec};
use crate::config::{self, Config, VirtualServer, VsKey};
use crate::plan::{self, Forward, Persistence, Proto};
use crate::reload::service_name;
use crate::sched::{RealSpec, Scheduler};

/// Why a virtual server cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("virtual_server {service}: {reason}")]
pub struct Unsupported {
    /// The service, as [`service_name`] names it.
    pub service: String,
    /// What is wrong and what to do.
    pub reason: String,
}

fn unsupported(vs: &VirtualServer, reason: impl Into<String>) -> Unsupported {
    Unsupported {
        service: service_name(&vs.key, vs.protocol),
        reason: reason.into(),
    }
}

/// The health-check specs of every virtual server, in configuration order.
pub fn health_specs(c: &Config) -> Result<Vec<check::ServiceSpec>, Unsupported> {
    c.virtual_servers
        .iter()
        .map(|vs| health_spec(c, vs))
        .collect()
}

fn script(n: &Option<config::Notify>) -> Option<String> {
    n.as_ref().map(|n| n.script.clone())
}

fn hex(vs: &VirtualServer, what: &str, s: &str) -> Result<Vec<u8>, Unsupported> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(unsupported(
            vs,
            format!("UDP_CHECK {what} {s:?} is not hex: write bytes as hex digits, e.g. 0a0b"),
        ));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect())
}

/// One virtual server's health-check spec.
pub fn health_spec(c: &Config, vs: &VirtualServer) -> Result<check::ServiceSpec, Unsupported> {
    let VsKey::Addr { port: vport, .. } = vs.key else {
        return Err(unsupported(
            vs,
            "fwmark and group services are not supported yet: write one virtual_server IP PORT block per address",
        ));
    };
    let mut reals = Vec::new();
    for rs in &vs.real_servers {
        let addr = SocketAddr::new(rs.ip, rs.port);
        let mut checkers = Vec::new();
        for ck in &rs.checkers {
            let cm = &ck.common;
            let delay_loop = cm.delay_loop.or(rs.delay_loop).unwrap_or(vs.delay_loop);
            let mut timing = CheckTiming::keepalived_default(delay_loop);
            if let Some(r) = cm.retry.or(rs.retry).or(vs.retry) {
                timing.retry = r;
            }
            if let Some(d) = cm
                .delay_before_retry
                .or(rs.delay_before_retry)
                .or(vs.delay_before_retry)
            {
                timing.delay_before_retry = d;
            }
            if let Some(w) = cm.warmup.or(rs.warmup).or(vs.warmup) {
                timing.warmup = w;
            }
            timing.alpha = cm.alpha.or(rs.alpha).unwrap_or(vs.alpha);
            let connect = ConnectSpec {
                target: SocketAddr::new(
                    cm.connect_ip.unwrap_or(rs.ip),
                    cm.connect_port.unwrap_or(rs.port),
                ),
                bindto: cm.bindto,
                bind_port: cm.bind_port,
                connect_timeout: cm
                    .connect_timeout
                    .or(rs.connect_timeout)
                    .or(vs.connect_timeout)
                    .unwrap_or(check::spec::DEFAULT_CONNECT_TIMEOUT),
            };
            let kind = match &ck.kind {
                config::CheckKind::Tcp => check::CheckKind::Tcp,
                config::CheckKind::Ping => check::CheckKind::Ping,
                config::CheckKind::Http(h) | config::CheckKind::Ssl(h) => {
                    let tls = matches!(ck.kind, config::CheckKind::Ssl(_));
                    let virtualhost = h
                        .virtualhost
                        .clone()
                        .or_else(|| rs.virtualhost.clone())
                        .or_else(|| vs.virtualhost.clone());
                    let mut urls = Vec::new();
                    for u in &h.urls {
                        let digest = match &u.digest {
                            None => None,
                            Some(d) => Some(check::http::parse_digest(d).ok_or_else(|| {
                                unsupported(vs, format!("digest {d:?} of url {} is not 32 hex digits: copy it from `vipd genhash`", u.path))
                            })?),
                        };
                        urls.push(check::UrlSpec {
                            path: u.path.clone(),
                            digest,
                            status_codes: u.status_code.iter().map(|r| r.from..=r.to).collect(),
                            virtualhost: u.virtualhost.clone(),
                        });
                    }
                    let protocol = match h.http_protocol.as_deref() {
                        None | Some("1.0") => check::HttpProtocol::Http10,
                        Some("1.0C") | Some("1.0c") => check::HttpProtocol::Http10Close,
                        Some("1.1") => check::HttpProtocol::Http11,
                        Some(other) => {
                            return Err(unsupported(
                                vs,
                                format!("http_protocol {other}: write 1.0, 1.0C or 1.1"),
                            ))
                        }
                    };
                    let mut spec = check::HttpSpec::get(urls);
                    spec.tls = tls;
                    spec.sni = if h.enable_sni {
                        virtualhost.clone()
                    } else {
                        None
                    };
                    spec.virtualhost = virtualhost;
                    spec.protocol = protocol;
                    check::CheckKind::Http(spec)
                }
                config::CheckKind::Misc {
                    misc_path,
                    misc_timeout,
                    misc_dynamic,
                    user,
                } => {
                    let path = misc_path.clone().ok_or_else(|| {
                        unsupported(vs, format!("MISC_CHECK of {addr} has no misc_path: add `misc_path /path/to/check ARGS`"))
                    })?;
                    check::CheckKind::Misc(check::MiscSpec {
                        path,
                        timeout: *misc_timeout,
                        dynamic: *misc_dynamic,
                        user: user
                            .as_ref()
                            .or(c.global_defs.script_user.as_ref())
                            .map(|u| u.user.clone()),
                        shell: false,
                    })
                }
                config::CheckKind::Dns { r#type, name } => {
                    let qtype = match r#type {
                        None => check::DnsType::default(),
                        Some(t) => check::DnsType::from_keyword(t).ok_or_else(|| {
                            unsupported(vs, format!("DNS_CHECK type {t}: write A, NS, CNAME, SOA, MX, TXT or AAAA"))
                        })?,
                    };
                    check::CheckKind::Dns(check::DnsSpec {
                        name: name.clone().unwrap_or_else(|| ".".into()),
                        qtype,
                    })
                }
                config::CheckKind::Udp {
                    payload,
                    require_reply,
                    min_reply_length,
                    max_reply_length,
                } => check::CheckKind::Udp(check::UdpSpec {
                    payload: match payload {
                        Some(p) => hex(vs, "payload", p)?,
                        None => Vec::new(),
                    },
                    require_reply: require_reply.is_some(),
                    min_reply_len: min_reply_length.map(|n| n as usize),
                    max_reply_len: max_reply_length.map(|n| n as usize),
                }),
                other => {
                    return Err(unsupported(
                        vs,
                        format!(
                            "{} of real server {addr} is not supported by vipd: use TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, DNS_CHECK, UDP_CHECK or PING_CHECK",
                            other.keyword()
                        ),
                    ))
                }
            };
            checkers.push(check::CheckerSpec {
                kind,
                connect,
                timing,
            });
        }
        reals.push(check::RealSpec {
            addr,
            weight: rs.weight,
            inhibit_on_failure: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
            notify_up: script(&rs.notify_up),
            notify_down: script(&rs.notify_down),
            checkers,
        });
    }
    let mut spec = check::ServiceSpec::new(service_name(&vs.key, vs.protocol), reals);
    spec.sorry_server = vs.sorry_server.as_ref().map(|s| check::SorrySpec {
        addr: SocketAddr::new(s.ip, s.port.unwrap_or(vport)),
        weight: 1,
        inhibit: vs.sorry_server_inhibit,
    });
    spec.quorum = vs.quorum;
    spec.hysteresis = vs.hysteresis;
    spec.quorum_up = script(&vs.quorum_up);
    spec.quorum_down = script(&vs.quorum_down);
    spec.ha_suspend = vs.ha_suspend;
    spec.omega = vs.omega;
    Ok(spec)
}

/// The data-plane spec of one virtual server, without real servers (the
/// health plan supplies them). `mss` is the clamp for TUN (the receiving
/// interface's MTU minus the outer header and TCP/IP headers).
pub fn datapath_spec(
    vs: &VirtualServer,
    mss: Option<u16>,
) -> Result<plan::ServiceSpec, Unsupported> {
    let VsKey::Addr { ip, port } = vs.key else {
        return Err(unsupported(
            vs,
            "fwmark and group services are not supported by vipd's data plane yet: write one virtual_server IP PORT block per address",
        ));
    };
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
    let sched: Scheduler = vs
        .lb_algo
        .as_str()
        .parse()
        .map_err(|e| unsupported(vs, format!("lb_algo: {e}")))?;
    let forward: Forward = vs
        .lb_kind
        .as_str()
        .parse()
        .map_err(|e| unsupported(vs, format!("{e}")))?;
    for rs in &vs.real_servers {
        if let Some(m) = rs.lvs_method {
            if m != vs.lb_kind {
                return Err(unsupported(
                    vs,
                    format!(
                        "real server {} has lvs_method {} but the service uses {}: vipd forwards a whole service one way; split it into two virtual_server blocks",
                        SocketAddr::new(rs.ip, rs.port),
                        m.as_str(),
                        vs.lb_kind.as_str()
                    ),
                ));
            }
        }
    }
    let persistence = match vs.persistence_timeout.filter(|t| *t > 0) {
        None => None,
        Some(timeout) => Some(Persistence {
            timeout,
            granularity: match vs.persistence_granularity {
                None => Ipv4Addr::BROADCAST,
                Some(IpAddr::V4(m)) => m,
                Some(IpAddr::V6(m)) => {
                    return Err(unsupported(
                        vs,
                        format!("persistence_granularity {m} is IPv6: the data plane is IPv4 only"),
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
        forward,
        persistence,
        mss: if forward == Forward::Tun { mss } else { None },
        reals: Vec::new(),
    })
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
        let specs = health_specs(&l.config).unwrap();
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

        let d = datapath_spec(&l.config.virtual_servers[0], Some(1440)).unwrap();
        assert_eq!(d.sched, Scheduler::Rr);
        assert_eq!(d.forward, Forward::Tun);
        assert_eq!(d.persistence, None, "persistence_timeout 0 is off");
        assert_eq!(d.mss, Some(1440));
        assert_eq!(configured_reals(&l.config.virtual_servers[0]).len(), 3);
    }

    #[test]
    fn refusals_name_the_service_and_the_way_out() {
        let l = config::parse_str("t.conf", &SEED.replace("lb_algo rr", "lb_algo lblc"));
        let e = datapath_spec(&l.config.virtual_servers[0], None).unwrap_err();
        assert_eq!(e.service, "10.253.85.250:80/TCP");
        assert!(e.to_string().contains("lblc"), "{e}");
        let l = config::parse_str("t.conf", &SEED.replace("lb_kind TUN", "lb_kind NAT"));
        let e = datapath_spec(&l.config.virtual_servers[0], None).unwrap_err();
        assert!(e.to_string().contains("NAT"), "{e}");
        let l = config::parse_str("t.conf", &SEED.replacen("TCP_CHECK {", "SMTP_CHECK {", 1));
        let e = health_specs(&l.config).unwrap_err();
        assert!(e.to_string().contains("SMTP_CHECK"), "{e}");
    }
}
