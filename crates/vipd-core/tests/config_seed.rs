//! The seed's two keepalived.conf files, byte for byte, read the way an operator
//! expects: no errors, the warnings the issue lists, and every field asserted.

use std::net::IpAddr;
use std::time::Duration;
use vipd_core::config::{
    self, AuthType, CheckKind, LbAlgo, LbKind, Loaded, Protocol, Severity, VrrpState, VsKey,
};

fn seed(name: &str) -> Loaded {
    let path = format!("{}/../../examples/seed/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    config::parse_str(name, &text)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .iter()
        .inspect(|d| assert_eq!(d.severity, Severity::Warning, "{}", d.render(&l.sources)))
        .map(|d| format!("{}: {}", d.span.map(|s| s.line).unwrap_or(0), d.message))
        .collect()
}

fn check_common(l: &Loaded, prio: u8, state: VrrpState) {
    let c = &l.config;
    assert!(!l.diagnostics.has_errors());
    // VRRP
    assert_eq!(c.vrrp_instances.len(), 1);
    let vi = &c.vrrp_instances[0];
    assert_eq!(vi.name, "VI_1");
    assert_eq!(vi.state, Some(state));
    assert_eq!(vi.interface.as_deref(), Some("eth1"));
    assert_eq!(vi.virtual_router_id, 51);
    assert_eq!(vi.priority, prio);
    assert_eq!(vi.advert_int, Duration::from_secs(1));
    let auth = vi.authentication.as_ref().expect("authentication");
    assert_eq!(auth.auth_type, AuthType::Pass);
    assert_eq!(auth.auth_pass, "1111");
    assert_eq!(
        vi.virtual_ipaddress.len(),
        1,
        "the commented-out eth0 VIP must not count"
    );
    let vip = &vi.virtual_ipaddress[0];
    assert_eq!(vip.addr.addr, ip("10.253.85.250"));
    assert_eq!(vip.addr.len, 32);
    assert_eq!(vip.dev.as_deref(), Some("eth1"));
    assert_eq!(vip.label.as_deref(), Some("eth1:1"));
    assert!(!vi.nopreempt);
    // global_defs is commented out in both files.
    assert_eq!(c.global_defs, Default::default());
    // LVS
    assert_eq!(c.virtual_servers.len(), 1);
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.key,
        VsKey::Addr {
            ip: ip("10.253.85.250"),
            port: 80
        }
    );
    assert_eq!(vs.protocol, Protocol::Tcp);
    assert_eq!(vs.lb_algo, LbAlgo::Rr);
    assert_eq!(vs.lb_kind, LbKind::Tun);
    assert_eq!(
        vs.persistence_timeout, None,
        "persistence_timeout 0 means off"
    );
    assert!(vs.alpha);
    assert!(vs.ha_suspend);
    assert!(!vs.omega);
    assert_eq!(vs.delay_loop, Duration::from_secs(6));
    assert_eq!(vs.real_servers.len(), 3);
    for (i, rs) in vs.real_servers.iter().enumerate() {
        assert_eq!(rs.ip, ip(&format!("10.253.26.{}", i + 1)));
        assert_eq!(rs.port, 80);
        assert_eq!(rs.weight, 1);
        assert_eq!(rs.checkers.len(), 1);
        let ck = &rs.checkers[0];
        assert_eq!(ck.kind, CheckKind::Tcp);
        assert_eq!(ck.common.connect_port, Some(80));
        assert_eq!(ck.common.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(ck.common.retry, Some(3));
        assert_eq!(ck.common.delay_before_retry, Some(Duration::from_secs(3)));
    }
}

fn assert_old_keyword_warnings(w: &[String], vs_line: u32) {
    let has = |line: u32, needle: &str| {
        w.iter().any(|m| {
            m == &format!("{line}: {needle}")
                || (m.starts_with(&format!("{line}: ")) && m.contains(needle))
        })
    };
    assert!(
        has(vs_line + 2, "`lb_algo` is the old spelling of `lvs_sched`"),
        "{w:#?}"
    );
    assert!(
        has(vs_line + 3, "`lb_kind` is the old spelling of `lvs_method`"),
        "{w:#?}"
    );
    assert!(
        has(vs_line + 4, "`nat_mask` is a keepalived 1.2.x keyword"),
        "{w:#?}"
    );
    assert!(has(vs_line + 5, "`persistence_timeout 0`"), "{w:#?}");
    for rs in 0..3 {
        assert!(has(vs_line + 14 + rs * 9, "`nb_get_retry`"), "{w:#?}");
    }
}

#[test]
fn master_seed() {
    let l = seed("keepalived-master.conf");
    check_common(&l, 100, VrrpState::Master);
    let w = warnings(&l);
    assert!(
        w[0].starts_with("6: unknown keyword `acassen@firewall.loc`"),
        "{w:#?}"
    );
    assert!(
        w[1].starts_with("11: unknown keyword `Alexandre.Cassen@firewall.loc`"),
        "{w:#?}"
    );
    assert_old_keyword_warnings(&w, 33);
    let nbsp: Vec<_> = w.iter().filter(|m| m.contains("U+00A0")).collect();
    assert_eq!(nbsp.len(), 1, "one no-break-space warning per file: {w:#?}");
    // 3 (nbsp, 2 stray lines) + 4 VS keywords + 3 nb_get_retry.
    assert_eq!(w.len(), 10, "{w:#?}");
    // The stray address lines get a help that explains them.
    let d = &l
        .diagnostics
        .items
        .iter()
        .find(|d| d.message.contains("acassen"))
        .unwrap();
    assert!(d.help.as_deref().unwrap().contains("e-mail"));
}

#[test]
fn backup_seed() {
    let l = seed("keepalived-backup.conf");
    check_common(&l, 99, VrrpState::Backup);
    let w = warnings(&l);
    assert_old_keyword_warnings(&w, 30);
    assert_eq!(
        w.iter().filter(|m| m.contains("U+00A0")).count(),
        1,
        "{w:#?}"
    );
    assert_eq!(w.len(), 8, "{w:#?}");
}

#[test]
fn seed_renders_with_carets() {
    let l = seed("keepalived-master.conf");
    let out = l.diagnostics.render(&l.sources);
    assert!(
        out.contains("warning: no-break space (U+00A0) used as white space"),
        "{out}"
    );
    assert!(out.contains(" --> keepalived-master.conf:"), "{out}");
    assert!(out.contains("= help: write `retry 3`"), "{out}");
}

#[test]
fn crlf_and_byte_order_mark_read_the_same() {
    let lf = seed("keepalived-backup.conf");
    let path = format!(
        "{}/../../examples/seed/keepalived-backup.conf",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
    let l = config::parse_str("crlf.conf", &crlf);
    assert!(
        !l.diagnostics.has_errors(),
        "{}",
        l.diagnostics.render(&l.sources)
    );
    assert_eq!(l.config, lf.config);
    // Columns are unchanged by CRLF: the same warnings at the same places.
    let at = |l: &Loaded| {
        l.diagnostics
            .iter()
            .map(|d| (d.span.map(|s| (s.line, s.col)), d.message.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(at(&l), at(&lf));
}
