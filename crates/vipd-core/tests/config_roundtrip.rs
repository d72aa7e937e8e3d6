//! parse -> dump -> parse gives the same model: on every sample and seed
//! config, and (property test) on generated models.

use proptest::prelude::*;
use std::net::IpAddr;
use std::time::Duration;
use vipd_core::config::{self, dump, *};

fn roundtrip(c: &Config) -> Config {
    let text = dump::to_conf(c);
    let again = config::parse_str("dump.conf", &text);
    assert!(
        !again.diagnostics.has_errors(),
        "dump does not parse:\n{text}\n{}",
        again.diagnostics.render(&again.sources)
    );
    again.config
}

#[test]
fn samples_and_seeds_roundtrip() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut files: Vec<_> = std::fs::read_dir(format!("{root}/testdata/keepalived-samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(format!("{root}/examples/seed/keepalived-master.conf").into());
    files.push(format!("{root}/examples/seed/keepalived-backup.conf").into());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = config::parse_str(&f.to_string_lossy(), &text);
        let again = roundtrip(&first.config);
        assert_eq!(again, first.config, "{}", f.display());
        // A dump is canonical: dumping again changes nothing, and warns of nothing.
        assert_eq!(dump::to_conf(&again), dump::to_conf(&first.config));
        let quiet = config::parse_str("d", &dump::to_conf(&again));
        // ...except where the model itself keeps something worth a warning: a
        // vrrp_script without script, rules without preference, an `or` gateway,
        // an empty sync group, MASTER with AH.
        let name = f.to_string_lossy();
        let keeps_warning = [
            "conditional_conf",
            "vrrp.rules",
            "vrrp.routes",
            "lvs_syncd",
            "SSL_GET",
        ]
        .iter()
        .any(|k| name.ends_with(k));
        // Warnings that name what vipd does not act on are about vipd, not
        // about the dump.
        let about_the_dump: Vec<_> = quiet
            .diagnostics
            .items
            .iter()
            .filter(|d| {
                !d.message.contains("is not acted on by vipd yet")
                    && !d.message.contains("is not supported by vipd")
            })
            .collect();
        if !keeps_warning {
            assert!(
                about_the_dump.is_empty(),
                "{}: {:#?}",
                f.display(),
                quiet.diagnostics
            );
        }
    }
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        // Not link-local (fe80::/10): a checker of such a real server needs
        // `bind_if`, and without one the file does not parse.
        any::<[u16; 8]>().prop_map(|mut s| {
            if s[0] & 0xffc0 == 0xfe80 {
                s[0] = 0x2001;
            }
            IpAddr::from(s)
        }),
    ]
}

fn dur() -> impl Strategy<Value = Duration> {
    (0u64..100_000, 0u32..1_000_000)
        .prop_map(|(s, us)| Duration::from_secs(s) + Duration::from_micros(us.into()))
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.:-]{0,12}"
}

/// Arbitrary printable text, including characters that need quoting.
fn text() -> impl Strategy<Value = String> {
    "[ -~]{1,20}"
}

fn notify() -> impl Strategy<Value = Option<Notify>> {
    proptest::option::of(
        (
            text(),
            proptest::option::of((word(), proptest::option::of(word()))),
        )
            .prop_map(|(script, u)| Notify {
                script,
                user: u.map(|(user, group)| ScriptUser { user, group }),
            }),
    )
}

fn vip() -> impl Strategy<Value = VirtualIp> {
    (
        ip(),
        any::<u8>(),
        proptest::option::of(word()),
        proptest::option::of(word()),
        any::<bool>(),
    )
        .prop_map(|(addr, len, dev, label, no_track)| {
            let max = if addr.is_ipv4() { 33 } else { 129 };
            VirtualIp {
                addr: IpPrefix {
                    addr,
                    len: len % max,
                },
                brd: None,
                dev,
                label,
                scope: Some(Scope::Global),
                peer: None,
                no_track,
                flags: vec![],
                preferred_lft: None,
                track_group: None,
            }
        })
}

fn instance() -> impl Strategy<Value = VrrpInstance> {
    (
        (
            word(),
            any::<bool>(),
            proptest::option::of(word()),
            1u8..=255,
            1u8..=255,
            (1u64..255, 0u32..1000),
        ),
        (
            proptest::option::of((any::<bool>(), "[a-zA-Z0-9]{0,8}")),
            proptest::collection::vec(vip(), 0..3),
        ),
        (
            proptest::option::of(ip()),
            proptest::collection::vec(ip(), 0..3),
            any::<bool>(),
            proptest::option::of(0u64..1000),
        ),
        (
            notify(),
            notify(),
            proptest::collection::vec(
                (word(), proptest::option::of(-253i32..=253), any::<bool>()),
                0..3,
            ),
        ),
    )
        .prop_map(
            |(
                (name, master, interface, vrid, prio, (s, ms)),
                (auth, vips),
                (src, peers, nopreempt, pd),
                (nm, nb, ti),
            )| {
                VrrpInstance {
                    name,
                    state: Some(if master {
                        VrrpState::Master
                    } else {
                        VrrpState::Backup
                    }),
                    interface,
                    virtual_router_id: vrid,
                    priority: prio,
                    // Sub-second intervals need VRRPv3, which has no authentication.
                    advert_int: Duration::from_secs(s) + Duration::from_millis(ms.into()),
                    version: (ms > 0).then_some(3),
                    authentication: auth.filter(|_| ms == 0).map(|(ah, p)| Authentication {
                        auth_type: if ah && !master {
                            AuthType::Ah
                        } else {
                            AuthType::Pass
                        },
                        auth_pass: p,
                    }),
                    virtual_ipaddress: vips,
                    virtual_ipaddress_excluded: vec![],
                    virtual_routes: vec![],
                    virtual_rules: vec![],
                    mcast_src_ip: None,
                    unicast_src_ip: src,
                    unicast_peer: peers
                        .into_iter()
                        .map(|addr| UnicastPeer {
                            addr,
                            min_ttl: None,
                            max_ttl: Some(255),
                        })
                        .collect(),
                    mcast_dst_ip: None,
                    unicast_ttl: None,
                    nopreempt: nopreempt && !master,
                    preempt_delay: pd.map(Duration::from_secs),
                    accept: None,
                    dont_track_primary: false,
                    track_interface: ti
                        .into_iter()
                        .map(|(name, weight, reverse)| Track {
                            name,
                            weight,
                            reverse,
                        })
                        .collect(),
                    track_script: vec![],
                    garp_master_delay: Some(Duration::from_secs(5)),
                    garp_master_repeat: None,
                    garp_master_refresh: None,
                    garp_master_refresh_repeat: None,
                    garp_lower_prio_delay: None,
                    garp_lower_prio_repeat: None,
                    down_timer_adverts: None,
                    lower_prio_no_advert: Some(true),
                    higher_prio_send_advert: None,
                    skip_check_adv_addr: None,
                    strict_mode: None,
                    check_unicast_src: false,
                    promote_secondaries: false,
                    notify_master: nm,
                    notify_backup: nb,
                    notify_fault: None,
                    notify_stop: None,
                    notify: None,
                    notify_master_rx_lower_pri: None,
                    smtp_alert: None,
                    loc: Loc::default(),
                    interface_loc: Loc::default(),
                }
            },
        )
}

fn common() -> impl Strategy<Value = CheckerCommon> {
    (
        proptest::option::of(ip()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(dur()),
        proptest::option::of(0u32..10),
        proptest::option::of(dur()),
    )
        .prop_map(
            |(connect_ip, connect_port, connect_timeout, retry, dbr)| CheckerCommon {
                connect_ip,
                connect_port,
                connect_timeout,
                retry,
                delay_before_retry: dbr,
                ..CheckerCommon::default()
            },
        )
}

fn checker() -> impl Strategy<Value = Checker> {
    let url = || {
        (
            "/[a-z/]{0,10}",
            proptest::option::of("[0-9a-f]{32}"),
            proptest::collection::vec((100u16..600, 0u16..50), 0..3),
            proptest::option::of(word()),
        )
            .prop_map(|(path, digest, codes, vh)| Url {
                path,
                digest,
                status_code: codes
                    .into_iter()
                    .map(|(f, d)| StatusRange {
                        from: f,
                        to: (f + d).min(599),
                    })
                    .collect(),
                virtualhost: vh,
                regex: None,
                regex_no_match: false,
            })
    };
    let kind = prop_oneof![
        Just(CheckKind::Tcp),
        Just(CheckKind::Ping),
        proptest::collection::vec(url(), 1..3).prop_map(|urls| CheckKind::Http(HttpCheck {
            urls,
            ..HttpCheck::default()
        })),
        (proptest::collection::vec(url(), 1..3), any::<bool>()).prop_map(|(urls, sni)| {
            CheckKind::Ssl(HttpCheck {
                urls,
                enable_sni: sni,
                ..HttpCheck::default()
            })
        }),
        text().prop_map(|p| CheckKind::Misc {
            misc_path: Some(p),
            misc_timeout: Some(Duration::from_secs(3)),
            misc_dynamic: true,
            user: None
        }),
        proptest::option::of(word()).prop_map(|h| CheckKind::Smtp { helo_name: h }),
        Just(CheckKind::Dns {
            r#type: Some("A".into()),
            name: Some("example.org".into())
        }),
        Just(CheckKind::Udp {
            payload: None,
            require_reply: Some(String::new()),
            min_reply_length: Some(1),
            max_reply_length: None
        }),
    ];
    (kind, common()).prop_map(|(kind, common)| Checker {
        kind,
        common,
        loc: Loc::default(),
    })
}

fn real_server() -> impl Strategy<Value = RealServer> {
    (
        ip(),
        any::<u16>(),
        0u32..=65535,
        proptest::collection::vec(checker(), 0..3),
        notify(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(ip, port, weight, checkers, up, inhibit)| RealServer {
            ip,
            port,
            weight,
            lvs_method: None,
            inhibit_on_failure: inhibit,
            alpha: None,
            notify_up: up,
            notify_down: None,
            uthreshold: None,
            lthreshold: None,
            virtualhost: None,
            smtp_alert: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            delay_loop: None,
            checkers,
            loc: Loc::default(),
        })
}

fn virtual_server() -> impl Strategy<Value = VirtualServer> {
    (
        (ip(), any::<u16>(), 0usize..14, 0usize..3, 0usize..3, dur()),
        (
            proptest::option::of(1u32..100_000),
            any::<bool>(),
            any::<bool>(),
            0u32..10,
            proptest::collection::vec(real_server(), 0..4),
        ),
    )
        .prop_map(
            |((ip, port, algo, kind, proto, delay), (persist, alpha, ha, quorum, rss))| {
                // Real servers must be unique within a virtual server.
                let mut real_servers: Vec<RealServer> = Vec::new();
                for rs in rss {
                    if !real_servers
                        .iter()
                        .any(|o| o.ip == rs.ip && o.port == rs.port)
                    {
                        real_servers.push(rs);
                    }
                }
                VirtualServer {
                    key: VsKey::Addr { ip, port },
                    protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Sctp][proto],
                    lb_algo: LbAlgo::ALL[algo],
                    lb_kind: [LbKind::Nat, LbKind::Dr, LbKind::Tun][kind],
                    tunnel_type: (kind == 2 && alpha).then_some(TunnelType::Gue { port: 6080 }),
                    delay_loop: delay,
                    persistence_timeout: persist,
                    persistence_granularity: None,
                    persistence_engine: None,
                    sched_flags: if ha { vec!["sh-port".into()] } else { vec![] },
                    ha_suspend: ha,
                    alpha,
                    omega: !alpha,
                    quorum,
                    hysteresis: 1,
                    quorum_up: None,
                    quorum_down: None,
                    inhibit_on_failure: ha,
                    sorry_server: Some(SorryServer { ip, port: None }),
                    sorry_server_inhibit: false,
                    sorry_server_lvs_method: None,
                    virtualhost: None,
                    ip_family: None,
                    smtp_alert: None,
                    connect_timeout: Some(delay),
                    retry: None,
                    delay_before_retry: None,
                    warmup: None,
                    real_servers,
                    loc: Loc::default(),
                    lb_algo_loc: Loc::default(),
                    lb_kind_loc: Loc::default(),
                }
            },
        )
}

fn model() -> impl Strategy<Value = Config> {
    (
        proptest::option::of(text()),
        proptest::collection::vec(word(), 0..3),
        proptest::collection::vec(instance(), 0..3),
        proptest::collection::vec(virtual_server(), 0..3),
    )
        .prop_map(|(router_id, emails, insts, vss)| {
            let mut c = Config::default();
            c.global_defs.router_id = router_id;
            c.global_defs.notification_email = emails;
            for v in insts {
                if !c.vrrp_instances.iter().any(|o| o.name == v.name) {
                    c.vrrp_instances.push(v);
                }
            }
            for v in vss {
                if !c
                    .virtual_servers
                    .iter()
                    .any(|o| o.key == v.key && o.protocol == v.protocol)
                {
                    c.virtual_servers.push(v);
                }
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn dump_then_parse_is_identity(c in model()) {
        let again = roundtrip(&c);
        prop_assert_eq!(again, c);
    }
}

#[test]
fn lvs_timeouts_parse_dump_and_refuse_nonsense() {
    let ok = config::parse_str("k", "global_defs {\n lvs_timeouts tcp 600 udp 60\n}\n");
    assert!(ok.diagnostics.items.is_empty(), "{:?}", ok.diagnostics);
    let t = ok.config.global_defs.lvs_timeouts.unwrap();
    assert_eq!((t.tcp, t.tcpfin, t.udp), (Some(600), None, Some(60)));
    assert!(dump::to_conf(&ok.config).contains("lvs_timeouts tcp 600 udp 60"));
    for bad in [
        "lvs_timeouts tcp",
        "lvs_timeouts sctp 5",
        "lvs_timeouts tcp 0",
    ] {
        let r = config::parse_str("k", &format!("global_defs {{\n {bad}\n}}\n"));
        assert!(r.diagnostics.has_errors(), "{bad}: {:?}", r.diagnostics);
    }
}
