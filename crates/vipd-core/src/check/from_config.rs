//! From the configuration model ([`crate::config::model`]) to the check layer's
//! specs, applying keepalived 2.2's inheritance and defaults:
//!
//! - a checker's `delay_loop`, `retry`, `delay_before_retry`, `warmup`, `alpha`
//!   and `connect_timeout` come from the checker, else its real server, else the
//!   virtual server, else keepalived's default for that kind of checker
//!   (`retry` 1, but 3 for DNS_CHECK and 0 for MISC_CHECK; `delay_before_retry`
//!   1 s, but 3 s for HTTP_GET/SSL_GET and `delay_loop` for DNS_CHECK; `warmup`
//!   = `delay_loop`; `connect_timeout` 5 s);
//! - `connect_ip` / `connect_port` default to the real server's address;
//! - `inhibit_on_failure` and `alpha` of a real server default to the virtual
//!   server's; the HTTP virtual host to the real server's, then the virtual
//!   server's;
//! - MISC_CHECK runs as its `user`, else the global `script_user`.
//!
//! Checkers vipd does not run (SMTP_CHECK, FILE_CHECK, BFD_CHECK) are left out
//! with a note: their real server is then judged by its other checkers only.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::model::{self, Config, VirtualServer, VsKey};

use super::http::parse_digest;
use super::spec::{
    CheckKind, CheckTiming, CheckerSpec, ConnectSpec, DnsSpec, DnsType, HttpProtocol, HttpSpec,
    MiscSpec, RealSpec, ServiceSpec, SorrySpec, UdpSpec, UrlSpec, DEFAULT_CONNECT_TIMEOUT,
};

/// Something the conversion left out or changed, to tell the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The service concerned.
    pub service: String,
    /// What happened and what to do.
    pub message: String,
}

/// The name vipd uses for a virtual service in logs and status:
/// `10.253.85.250:80/TCP`, `[2001:db8::1]:443/TCP`, `fwmark 5/TCP`,
/// `group NAME/TCP`.
pub fn service_name(vs: &VirtualServer) -> String {
    crate::reload::service_name(&vs.key, vs.protocol)
}

/// Every virtual server of `cfg` as a [`ServiceSpec`], in order, and notes.
pub fn services(cfg: &Config) -> (Vec<ServiceSpec>, Vec<Note>) {
    let mut notes = Vec::new();
    let specs = cfg
        .virtual_servers
        .iter()
        .map(|vs| service(cfg, vs, &mut notes))
        .collect();
    (specs, notes)
}

/// One virtual server as a [`ServiceSpec`]; notes are appended to `notes`.
pub fn service(cfg: &Config, vs: &VirtualServer, notes: &mut Vec<Note>) -> ServiceSpec {
    let name = service_name(vs);
    let vs_port = match vs.key {
        VsKey::Addr { port, .. } => port,
        _ => 0,
    };
    let mut note = |message: String| {
        notes.push(Note {
            service: name.clone(),
            message,
        })
    };
    let reals = vs
        .real_servers
        .iter()
        .map(|rs| real(cfg, vs, rs, &mut note))
        .collect();
    let sorry_server = vs.sorry_server.as_ref().map(|s| SorrySpec {
        addr: SocketAddr::new(s.ip, s.port.unwrap_or(vs_port)),
        weight: 1,
        inhibit: vs.sorry_server_inhibit,
    });
    ServiceSpec {
        name: name.clone(),
        reals,
        sorry_server,
        quorum: vs.quorum,
        hysteresis: vs.hysteresis,
        quorum_up: vs.quorum_up.as_ref().map(|n| n.script.clone()),
        quorum_down: vs.quorum_down.as_ref().map(|n| n.script.clone()),
        ha_suspend: vs.ha_suspend,
        omega: vs.omega,
    }
}

fn real(
    cfg: &Config,
    vs: &VirtualServer,
    rs: &model::RealServer,
    note: &mut impl FnMut(String),
) -> RealSpec {
    let addr = SocketAddr::new(rs.ip, rs.port);
    let checkers = rs
        .checkers
        .iter()
        .filter_map(|c| checker(cfg, vs, rs, c, note))
        .collect();
    RealSpec {
        addr,
        weight: rs.weight,
        inhibit_on_failure: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
        notify_up: rs.notify_up.as_ref().map(|n| n.script.clone()),
        notify_down: rs.notify_down.as_ref().map(|n| n.script.clone()),
        checkers,
    }
}

fn checker(
    cfg: &Config,
    vs: &VirtualServer,
    rs: &model::RealServer,
    c: &model::Checker,
    note: &mut impl FnMut(String),
) -> Option<CheckerSpec> {
    use model::CheckKind as K;
    let at = SocketAddr::new(rs.ip, rs.port);
    let common = &c.common;
    let delay_loop = common.delay_loop.or(rs.delay_loop).unwrap_or(vs.delay_loop);
    let (default_retry, default_dbr) = match &c.kind {
        K::Dns { .. } => (3, delay_loop),
        K::Misc { .. } => (0, Duration::from_secs(1)),
        K::Http(_) | K::Ssl(_) => (1, Duration::from_secs(3)),
        _ => (1, Duration::from_secs(1)),
    };
    let timing = CheckTiming {
        delay_loop,
        retry: common
            .retry
            .or(rs.retry)
            .or(vs.retry)
            .unwrap_or(default_retry),
        delay_before_retry: common
            .delay_before_retry
            .or(rs.delay_before_retry)
            .or(vs.delay_before_retry)
            .unwrap_or(default_dbr),
        warmup: common
            .warmup
            .or(rs.warmup)
            .or(vs.warmup)
            .unwrap_or(delay_loop),
        alpha: common.alpha.or(rs.alpha).unwrap_or(vs.alpha),
    };
    let ip: IpAddr = common.connect_ip.unwrap_or(rs.ip);
    let default_port = match (&c.kind, rs.port) {
        (K::Dns { .. }, 0) => 53,
        // keepalived checks SMTP on port 25 unless connect_port says otherwise.
        (K::Smtp { .. }, _) => 25,
        (_, p) => p,
    };
    let connect = ConnectSpec {
        target: SocketAddr::new(ip, common.connect_port.unwrap_or(default_port)),
        bindto: common.bindto,
        bind_port: common.bind_port,
        bind_if: common.bind_if.clone(),
        connect_timeout: common
            .connect_timeout
            .or(rs.connect_timeout)
            .or(vs.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
    };
    if common.fwmark.is_some() {
        note(format!("{at}: checker fwmark is not supported; ignored"));
    }
    let kind = match &c.kind {
        K::Tcp => CheckKind::Tcp,
        K::Ping => CheckKind::Ping,
        K::Http(h) | K::Ssl(h) => {
            let tls = matches!(c.kind, K::Ssl(_));
            let vhost = h
                .virtualhost
                .clone()
                .or_else(|| rs.virtualhost.clone())
                .or_else(|| vs.virtualhost.clone());
            let urls = h
                .urls
                .iter()
                .map(|u| {
                    if u.regex.is_some() {
                        note(format!(
                            "{at}: url {} has a regex, which vipd does not check; use digest or status_code",
                            u.path
                        ));
                    }
                    let digest = u.digest.as_deref().and_then(|d| {
                        let parsed = parse_digest(d);
                        if parsed.is_none() {
                            note(format!(
                                "{at}: url {}: digest `{d}` is not 32 hex digits; ignored \
                                 (print one with `vipd genhash`)",
                                u.path
                            ));
                        }
                        parsed
                    });
                    UrlSpec {
                        path: u.path.clone(),
                        digest,
                        status_codes: u.status_code.iter().map(|r| r.from..=r.to).collect(),
                        virtualhost: u.virtualhost.clone(),
                    }
                })
                .collect();
            let protocol = match h.http_protocol.as_deref() {
                None | Some("1.0") => HttpProtocol::Http10,
                Some("1.0C") | Some("1.0c") => HttpProtocol::Http10Close,
                Some("1.1") => HttpProtocol::Http11,
                Some(other) => {
                    note(format!("{at}: http_protocol {other} is unknown; using 1.0"));
                    HttpProtocol::Http10
                }
            };
            CheckKind::Http(HttpSpec {
                tls,
                urls,
                sni: if tls && h.enable_sni {
                    vhost.clone()
                } else {
                    None
                },
                virtualhost: vhost,
                protocol,
                verify_cert: tls && h.verify_cert.is_some(),
                ca_file: h.verify_cert.as_ref().and_then(|v| v.ca_file.clone()),
            })
        }
        K::Misc {
            misc_path,
            misc_timeout,
            misc_dynamic,
            user,
        } => {
            let Some(path) = misc_path.clone() else {
                note(format!(
                    "{at}: MISC_CHECK without misc_path is skipped (as keepalived does)"
                ));
                return None;
            };
            let user = user
                .as_ref()
                .or(cfg.global_defs.script_user.as_ref())
                .map(|u| u.user.clone());
            CheckKind::Misc(MiscSpec {
                path,
                timeout: *misc_timeout,
                dynamic: *misc_dynamic,
                user,
                shell: false,
            })
        }
        K::Dns { r#type, name } => {
            let qtype = match r#type.as_deref() {
                None => DnsType::default(),
                Some(t) => DnsType::from_keyword(t).unwrap_or_else(|| {
                    note(format!(
                        "{at}: DNS_CHECK type {t} is not supported; using SOA"
                    ));
                    DnsType::default()
                }),
            };
            CheckKind::Dns(DnsSpec {
                name: name.clone().unwrap_or_else(|| ".".into()),
                qtype,
            })
        }
        K::Udp {
            payload,
            require_reply,
            min_reply_length,
            max_reply_length,
        } => {
            let payload = match payload.as_deref().map(parse_hex) {
                None => Vec::new(),
                Some(Some(p)) => p,
                Some(None) => {
                    note(format!(
                        "{at}: UDP_CHECK payload is not hex; sending an empty datagram"
                    ));
                    Vec::new()
                }
            };
            if require_reply.as_deref().is_some_and(|d| !d.is_empty()) {
                note(format!(
                    "{at}: UDP_CHECK require_reply data is not compared; any reply passes"
                ));
            }
            CheckKind::Udp(UdpSpec {
                payload,
                require_reply: require_reply.is_some(),
                min_reply_len: min_reply_length.map(|n| n as usize),
                max_reply_len: max_reply_length.map(|n| n as usize),
            })
        }
        K::Smtp { helo_name } => CheckKind::Smtp {
            helo_name: helo_name
                .clone()
                .unwrap_or_else(|| super::smtp::DEFAULT_HELO.to_owned()),
        },
        K::File {
            track_file,
            weight,
            reverse,
            ..
        } => {
            let Some(tf) = track_file
                .as_ref()
                .and_then(|n| cfg.track_files.iter().find(|t| &t.name == n))
            else {
                note(format!(
                    "{at}: FILE_CHECK names no defined track_file; the checker is ignored"
                ));
                return None;
            };
            // The file is read each second, whatever the checker's timing
            // (keepalived reacts to inotify events at once).
            let timing = CheckTiming {
                delay_loop: Duration::from_secs(1),
                retry: 0,
                delay_before_retry: Duration::from_secs(1),
                warmup: Duration::ZERO,
                alpha: false,
            };
            return Some(CheckerSpec {
                kind: CheckKind::File(super::file::FileSpec {
                    name: tf.name.clone(),
                    path: tf.file.clone().unwrap_or_default(),
                    weight: weight.unwrap_or(tf.weight),
                    reverse: if weight.is_some() {
                        *reverse
                    } else {
                        tf.reverse
                    },
                    base_weight: rs.weight,
                }),
                connect,
                timing,
            });
        }
        other => {
            note(format!(
                "{at}: {} is not supported by vipd; the checker is ignored",
                other.keyword()
            ));
            return None;
        }
    };
    Some(CheckerSpec {
        kind,
        connect,
        timing,
    })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.strip_prefix("0x").unwrap_or(&s);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn seed_master_config() {
        let text = include_str!("../../../../examples/seed/keepalived-master.conf");
        let loaded = parse_str("keepalived-master.conf", text);
        let (specs, notes) = services(&loaded.config);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(specs.len(), 1);
        let svc = &specs[0];
        assert_eq!(svc.name, "10.253.85.250:80/TCP");
        assert!(svc.ha_suspend);
        assert_eq!(svc.reals.len(), 3);
        for (i, r) in svc.reals.iter().enumerate() {
            assert_eq!(r.addr, SocketAddr::from(([10, 253, 26, i as u8 + 1], 80)));
            assert_eq!(r.weight, 1);
            assert_eq!(r.checkers.len(), 1);
            let c = &r.checkers[0];
            assert_eq!(c.kind, CheckKind::Tcp);
            assert_eq!(c.connect.target, r.addr);
            assert_eq!(c.connect.connect_timeout, s(3));
            assert_eq!(
                c.timing,
                CheckTiming {
                    delay_loop: s(6),
                    retry: 3,
                    delay_before_retry: s(3),
                    warmup: s(6),
                    alpha: true,
                }
            );
        }
    }

    #[test]
    fn inheritance_defaults_and_kinds() {
        let text = r#"
global_defs {
    script_user nobody
}
virtual_server 192.0.2.10 443 {
    delay_loop 10
    lb_algo rr
    lb_kind DR
    protocol TCP
    retry 2
    virtualhost vs.example
    inhibit_on_failure
    quorum 2
    hysteresis 1
    quorum_up "/bin/qup"
    quorum_down "/bin/qdown"
    sorry_server 192.0.2.99 8443
    sorry_server_inhibit
    omega
    real_server 192.0.2.1 443 {
        weight 3
        delay_before_retry 7
        notify_up "/bin/up 1"
        SSL_GET {
            url {
                path /health
                digest 9b3a7c8ab5bb9b5e4e3a2f3e5a9d1c22
                status_code 200-204 301
            }
            enable_sni
            connect_timeout 2
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check 192.0.2.1"
            misc_timeout 4
            misc_dynamic
        }
        DNS_CHECK {
            type A
            name www.example
        }
        UDP_CHECK {
            payload 01ff
            require_reply
            min_reply_length 2
        }
        PING_CHECK {
            connect_ip 192.0.2.101
            alpha
        }
    }
}
"#;
        let loaded = parse_str("t.conf", text);
        let (specs, notes) = services(&loaded.config);
        assert!(notes.is_empty(), "{notes:?}");
        let svc = &specs[0];
        assert_eq!(svc.name, "192.0.2.10:443/TCP");
        assert_eq!((svc.quorum, svc.hysteresis), (2, 1));
        assert_eq!(svc.quorum_up.as_deref(), Some("/bin/qup"));
        assert_eq!(svc.quorum_down.as_deref(), Some("/bin/qdown"));
        assert!(svc.omega && !svc.ha_suspend);
        assert_eq!(
            svc.sorry_server,
            Some(SorrySpec {
                addr: "192.0.2.99:8443".parse().unwrap(),
                weight: 1,
                inhibit: true
            })
        );
        let r = &svc.reals[0];
        assert_eq!(r.weight, 3);
        assert!(r.inhibit_on_failure);
        assert_eq!(r.notify_up.as_deref(), Some("/bin/up 1"));
        assert_eq!(r.checkers.len(), 5);

        let ssl = &r.checkers[0];
        let CheckKind::Http(h) = &ssl.kind else {
            panic!("{ssl:?}")
        };
        assert!(h.tls);
        assert_eq!(h.virtualhost.as_deref(), Some("vs.example"));
        assert_eq!(h.sni.as_deref(), Some("vs.example"));
        assert_eq!(h.urls[0].status_codes, vec![200..=204, 301..=301]);
        assert!(h.urls[0].digest.is_some());
        assert_eq!(ssl.connect.connect_timeout, s(2));
        assert_eq!(ssl.timing.retry, 2, "from the virtual server");
        assert_eq!(ssl.timing.delay_before_retry, s(7), "from the real server");
        assert_eq!(ssl.timing.delay_loop, s(10));
        assert_eq!(ssl.timing.warmup, s(10));

        let CheckKind::Misc(m) = &r.checkers[1].kind else {
            panic!()
        };
        assert_eq!(m.path, "/usr/local/bin/check 192.0.2.1");
        assert_eq!(m.timeout, Some(s(4)));
        assert!(m.dynamic && !m.shell);
        assert_eq!(m.user.as_deref(), Some("nobody"));

        let CheckKind::Dns(d) = &r.checkers[2].kind else {
            panic!()
        };
        assert_eq!((d.name.as_str(), d.qtype), ("www.example", DnsType::A));

        let CheckKind::Udp(u) = &r.checkers[3].kind else {
            panic!()
        };
        assert_eq!(u.payload, vec![1, 0xff]);
        assert!(u.require_reply);
        assert_eq!(u.min_reply_len, Some(2));

        let ping = &r.checkers[4];
        assert_eq!(ping.kind, CheckKind::Ping);
        assert_eq!(
            ping.connect.target.ip(),
            "192.0.2.101".parse::<IpAddr>().unwrap()
        );
        assert!(ping.timing.alpha);
        assert_eq!(ping.connect.connect_timeout, s(5));
    }

    #[test]
    fn ipv6_real_servers_and_connect_ip() {
        let text = "virtual_server 2001:db8::250 80 {
    lb_kind TUN
    real_server 2001:db8:26::1 80 {
        TCP_CHECK {
            bindto 2001:db8:26::254
            bind_port 4000
        }
        HTTP_GET {
            url {
                path /health
            }
            connect_ip 2001:db8:26::11
            connect_port 8080
        }
        PING_CHECK {
            connect_ip fe80::1
            bindto fe80::2
            bind_if eth1
        }
    }
}
";
        let loaded = parse_str("t.conf", text);
        assert!(
            !loaded.diagnostics.has_errors(),
            "{}",
            loaded.diagnostics.render(&loaded.sources)
        );
        let (specs, notes) = services(&loaded.config);
        assert!(notes.is_empty(), "{notes:?}");
        let svc = &specs[0];
        assert_eq!(svc.name, "[2001:db8::250]:80/TCP");
        let r = &svc.reals[0];
        assert_eq!(r.addr.to_string(), "[2001:db8:26::1]:80");
        let [tcp, http, ping] = &r.checkers[..] else {
            panic!("{:?}", r.checkers)
        };
        assert_eq!(tcp.connect.target.to_string(), "[2001:db8:26::1]:80");
        assert_eq!(
            tcp.connect.bindto,
            Some("2001:db8:26::254".parse().unwrap())
        );
        assert_eq!(tcp.connect.bind_port, Some(4000));
        assert_eq!(http.connect.target.to_string(), "[2001:db8:26::11]:8080");
        assert_eq!(
            super::super::http::host_header(None, http.connect.target),
            "[2001:db8:26::11]:8080"
        );
        assert_eq!(ping.connect.target.ip().to_string(), "fe80::1");
        assert_eq!(ping.connect.bind_if.as_deref(), Some("eth1"));
    }

    /// The error `vipd check` prints for `text`'s one error.
    fn one_error(text: &str) -> String {
        let loaded = parse_str("t.conf", text);
        let errors: Vec<_> = loaded
            .diagnostics
            .items
            .iter()
            .filter(|d| d.is_error())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].render(&loaded.sources)
    }

    #[test]
    fn bindto_of_the_other_family_is_an_error_at_its_line() {
        let text = "virtual_server 2001:db8::250 80 {
    real_server 2001:db8:26::1 80 {
        TCP_CHECK {
            connect_timeout 3
            bindto 10.253.26.254
        }
    }
}
";
        let e = one_error(text);
        assert!(
            e.contains("TCP_CHECK: bindto 10.253.26.254 is IPv4 but the checker probes 2001:db8:26::1, an IPv6 address"),
            "{e}"
        );
        assert!(e.contains("t.conf:5:13"), "{e}");
        assert!(
            e.contains("IPv4 source for an IPv6 target (the real server's address)"),
            "{e}"
        );
        assert!(
            e.contains(
                "help: write a `bindto` with an IPv6 address of this director, or remove `bindto`"
            ),
            "{e}"
        );
        // The other way round, through connect_ip.
        let text = "virtual_server 10.253.85.250 80 {
    real_server 10.253.26.1 80 {
        HTTP_GET {
            url {
                path /
            }
            bindto 2001:db8:26::254
            connect_ip 10.253.26.9
        }
    }
}
";
        let e = one_error(text);
        assert!(e.contains("t.conf:7:13"), "{e}");
        assert!(e.contains("(its `connect_ip`)"), "{e}");
        assert!(e.contains("an IPv4 address of this director"), "{e}");
    }

    #[test]
    fn link_local_without_bind_if_is_an_error() {
        let text = "virtual_server 2001:db8::250 80 {
    real_server 2001:db8:26::1 80 {
        PING_CHECK {
            connect_ip fe80::1
        }
    }
}
";
        let e = one_error(text);
        assert!(e.contains("t.conf:4:13"), "{e}");
        assert!(
            e.contains("connect_ip fe80::1 is IPv6 link-local, which needs `bind_if`"),
            "{e}"
        );
        assert!(e.contains("add `bind_if IFACE`"), "{e}");
        // The real server's own address, when no connect_ip says otherwise.
        let e = one_error(
            "virtual_server 2001:db8::250 80 {\n real_server fe80::1 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
        );
        assert!(e.contains("real_server fe80::1 is IPv6 link-local"), "{e}");
        assert!(e.contains("t.conf:2:2"), "{e}");
        let text = "virtual_server 2001:db8::250 80 {
    real_server 2001:db8:26::1 80 {
        TCP_CHECK {
            bindto fe80::2
        }
    }
}
";
        let e = one_error(text);
        assert!(e.contains("t.conf:4:13"), "{e}");
        assert!(e.contains("bindto fe80::2 is IPv6 link-local"), "{e}");
    }

    #[test]
    fn ssl_get_verify_cert_with_and_without_a_ca_file() {
        let text = "virtual_server 192.0.2.10 443 {\n real_server 192.0.2.1 443 {\n  SSL_GET {\n   url {\n    path /\n   }\n   verify_cert /etc/vipd/ca.pem\n  }\n  SSL_GET {\n   url {\n    path /\n   }\n  }\n }\n}\n";
        let loaded = parse_str("t.conf", text);
        assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
        let (specs, _) = services(&loaded.config);
        let r = &specs[0].reals[0];
        let (CheckKind::Http(a), CheckKind::Http(b)) = (&r.checkers[0].kind, &r.checkers[1].kind)
        else {
            panic!("{r:?}")
        };
        assert!(a.verify_cert);
        assert_eq!(a.ca_file.as_deref(), Some("/etc/vipd/ca.pem"));
        assert!(!b.verify_cert && b.ca_file.is_none());
    }

    #[test]
    fn per_kind_retry_defaults_and_unsupported_checkers() {
        let text = r#"
virtual_server 192.0.2.10 53 {
    protocol UDP
    real_server 192.0.2.1 53 {
        DNS_CHECK {
        }
        MISC_CHECK {
            misc_path /bin/true
        }
        HTTP_GET {
            url {
                path /
            }
        }
        SMTP_CHECK {
        }
        FILE_CHECK {
        }
        FILE_CHECK {
            track_file maint
        }
        BFD_CHECK {
        }
    }
}
track_file maint {
    file /run/maint
    weight 0
}
"#;
        let loaded = parse_str("t.conf", text);
        let (specs, notes) = services(&loaded.config);
        let r = &specs[0].reals[0];
        assert_eq!(r.checkers.len(), 5);
        assert_eq!(r.checkers[0].timing.retry, 3);
        assert_eq!(r.checkers[0].timing.delay_before_retry, s(60));
        assert_eq!(r.checkers[1].timing.retry, 0);
        assert_eq!(r.checkers[2].timing.retry, 1);
        assert_eq!(r.checkers[2].timing.delay_before_retry, s(3));
        // SMTP_CHECK: port 25, keepalived's HELO name.
        assert_eq!(
            r.checkers[3].kind,
            CheckKind::Smtp {
                helo_name: "smtpchecker.keepalived.org".into()
            }
        );
        assert_eq!(r.checkers[3].connect.target.port(), 25);
        // FILE_CHECK: read each second, the track_file's weight.
        let CheckKind::File(f) = &r.checkers[4].kind else {
            panic!("{:?}", r.checkers[4]);
        };
        assert_eq!((f.path.as_str(), f.weight), ("/run/maint", 0));
        assert_eq!(r.checkers[4].timing.delay_loop, s(1));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0]
            .message
            .contains("FILE_CHECK names no defined track_file"));
        assert!(notes[1].message.contains("BFD_CHECK is not supported"));
    }

    #[test]
    fn hex_payloads() {
        assert_eq!(parse_hex("0a0B"), Some(vec![10, 11]));
        assert_eq!(parse_hex("0x01 02"), Some(vec![1, 2]));
        assert_eq!(parse_hex("abc"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
