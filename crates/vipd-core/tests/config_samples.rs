//! keepalived's 25 sample configurations (testdata/keepalived-samples): each
//! parses without a panic, and gives exactly the outcome listed here. Where
//! keepalived 2.2.7's `-t` complains (testdata/README.md), the comment says
//! what it says and how vipd's outcome relates.

use vipd_core::config::{self, Loaded};

fn load(name: &str) -> Loaded {
    let path = format!(
        "{}/../../testdata/keepalived-samples/keepalived.conf.{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    config::parse_str(&path, &text)
}

/// The `lb_algo` / `lb_kind` old-spelling warnings most samples carry.
const OLD: &[&str] = &[
    "`lb_algo` is the old spelling",
    "`lb_kind` is the old spelling",
];

/// (sample, errors expected, warnings expected: each substring must match
/// exactly as many diagnostics as it appears here, and nothing else may warn).
fn expected() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    let old2 = |n: usize| OLD.iter().copied().cycle().take(2 * n).collect::<Vec<_>>();
    vec![
        ("HTTP_GET.port", vec![], old2(1)),
        ("IPv6", vec![], old2(1)),
        ("PING_CHECK", vec![], old2(1)),
        (
            "SMTP_CHECK",
            vec![],
            [old2(1), vec!["`host` blocks in SMTP_CHECK"; 6]].concat(),
        ),
        ("UDP_CHECK", vec![], old2(1)),
        ("inhibit", vec![], old2(1)),
        ("misc_check", vec![], old2(1)),
        ("misc_check_arg", vec![], old2(1)),
        ("quorum", vec![], old2(1)),
        ("sample", vec![], old2(1)),
        ("status_code", vec![], old2(1)),
        ("virtual_server_group", vec![], old2(1)),
        ("virtualhost", vec![], old2(1)),
        ("vrrp.scripts", vec![], vec![]),
        ("vrrp", vec![], vec![]),
        ("vrrp.sync", vec![], vec![]),
        // keepalived: "initial state MASTER is incompatible with AH authentication".
        (
            "SSL_GET",
            vec![],
            [vec!["incompatible with AH authentication"], old2(2)].concat(),
        ),
        // keepalived (default config id): "no script set for vrrp_script check_VI_0".
        // use_vmac is unsupported by vipd.
        (
            "conditional_conf",
            vec![],
            vec![
                "vrrp_script `check_VI_0` has no `script`",
                "`use_vmac` is not supported",
            ],
        ),
        // keepalived: "protocol specified for an fwmark service is ignored".
        (
            "fwmark",
            vec![],
            [old2(1), vec!["`protocol` is ignored for an fwmark service"]].concat(),
        ),
        // keepalived: "interface eth0.1 missing" (a host check; none here) and
        // "cannot track a route with no interface" (vipd does not track routes).
        (
            "track_interface",
            vec![],
            vec!["`virtual_routes` is not acted on"],
        ),
        // keepalived: script_security not enabled (exit 6): a keepalived policy
        // about running scripts as root; vipd's script runner decides its own.
        ("vrrp.localcheck", vec![], vec![]),
        // keepalived: "unknown keywords VI_2 / VI_3"; lvs_sync_daemon_interface.
        (
            "vrrp.lvs_syncd",
            vec![],
            [
                vec![
                    "has no `group { ... }`",
                    "unknown keyword `VI_2` in vrrp_sync_group",
                    "unknown keyword `VI_3` in vrrp_sync_group",
                    "`lvs_sync_daemon_interface` is keepalived 1.2.x's spelling",
                ],
                old2(1),
            ]
            .concat(),
        ),
        // keepalived: `or` / `gw` deprecated (and route tracking, not in vipd).
        (
            "vrrp.routes",
            vec![],
            vec![
                "`or` (an alternative gateway) is deprecated",
                "`gw` is deprecated",
                "`virtual_routes` is not acted on",
            ],
        ),
        // The sample itself is wrong: invalid IPs 192.168.100./24, 192.168.200./24.
        (
            "vrrp.rules",
            vec![
                "`192.168.100./24` is not an IP address",
                "`192.168.200./24` is not an IP address",
            ],
            vec![
                "rule without a preference",
                "rule without a preference",
                "`virtual_rules` is not acted on",
            ],
        ),
        // keepalived: "a route with no interface can't be tracked" (not in vipd).
        (
            "vrrp.static_ipaddress",
            vec![],
            vec!["`virtual_routes` is not acted on"],
        ),
    ]
}

fn assert_matches(kind: &str, sample: &str, got: &[String], want: &[&str]) {
    let mut left: Vec<&String> = got.iter().collect();
    for w in want {
        match left.iter().position(|g| g.contains(w)) {
            Some(i) => {
                left.remove(i);
            }
            None => panic!("{sample}: expected {kind} containing {w:?}; got {got:#?}"),
        }
    }
    assert!(left.is_empty(), "{sample}: unexpected {kind}: {left:#?}");
}

#[test]
fn all_25_samples_give_their_expected_outcome() {
    let table = expected();
    assert_eq!(table.len(), 25);
    let dir = format!(
        "{}/../../testdata/keepalived-samples",
        env!("CARGO_MANIFEST_DIR")
    );
    let on_disk = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(
        on_disk, 25,
        "a sample without an expectation (or a missing one)"
    );
    for (sample, errors, warnings) in table {
        let l = load(sample);
        let errs: Vec<String> = l
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        let warns: Vec<String> = l
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| d.message.clone())
            .collect();
        assert_matches("errors", sample, &errs, &errors);
        assert_matches("warnings", sample, &warns, &warnings);
    }
}

#[test]
fn samples_carry_their_content_into_the_model() {
    let l = load("virtual_server_group");
    let g = &l.config.virtual_server_groups[0];
    assert_eq!(g.name, "VSG_1");
    assert_eq!(g.entries.len(), 6);
    let l = load("status_code");
    let rs = &l.config.virtual_servers[0].real_servers[0];
    let config::CheckKind::Ssl(h) = &rs.checkers[0].kind else {
        panic!()
    };
    assert_eq!(h.urls[0].status_code.len(), 4);
    assert_eq!(
        h.urls[0].status_code[0],
        config::StatusRange { from: 200, to: 299 }
    );
    let l = load("IPv6");
    assert!(l.config.virtual_servers[0].real_servers[0].ip.is_ipv6());
    let l = load("vrrp.sync");
    assert_eq!(l.config.vrrp_sync_groups[0].group.len(), 7);
}
