//! `vipd check` and `vipd -t` as an operator runs them: exit codes, output.

use std::process::Command;

fn vipd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("run vipd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn seed_configs_pass_with_warnings() {
    for f in [
        "examples/seed/keepalived-master.conf",
        "examples/seed/keepalived-backup.conf",
    ] {
        let (code, _, err) = vipd(&["check", "-f", f]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("warning: no-break space (U+00A0)"), "{err}");
        assert!(err.contains(&format!("{f}: 0 errors,")), "{err}");
        let (code, _, _) = vipd(&["-t", "-f", f]);
        assert_eq!(code, 0);
    }
}

#[test]
fn strict_turns_warnings_into_errors() {
    let (code, _, err) = vipd(&[
        "check",
        "--strict",
        "-f",
        "examples/seed/keepalived-master.conf",
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("error: `nb_get_retry`"), "{err}");
}

#[test]
fn unreadable_file_exits_4() {
    let (code, _, err) = vipd(&["check", "-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(code, 4);
    assert!(
        err.contains("cannot read /nonexistent/keepalived.conf: No such file or directory"),
        "{err}"
    );
    let (code, _, _) = vipd(&["-t", "-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(code, 4);
}

#[test]
fn errors_exit_5_with_location() {
    let dir = std::env::temp_dir().join(format!("vipd-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.conf");
    std::fs::write(&f, "vrrp_instance VI_1 {\n    priority 300\n}\n").unwrap();
    let (code, _, err) = vipd(&["check", "--no-host-checks", "-f", f.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("error: invalid `priority` `300`: must be an integer in 1..=255"),
        "{err}"
    );
    assert!(err.contains("bad.conf:2:14"), "{err}");
    assert!(
        err.contains("error: vrrp_instance `VI_1` has no virtual_router_id"),
        "{err}"
    );
}

#[test]
fn dump_json_is_the_model() {
    let (code, out, _) = vipd(&[
        "check",
        "--dump",
        "json",
        "-f",
        "examples/seed/keepalived-backup.conf",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["vrrp_instances"][0]["priority"], 99);
    assert_eq!(v["virtual_servers"][0]["lb_kind"], "TUN");
}

/// Files the daemon refuses to run fail `vipd -t` too, with exit 5, the place
/// in the file, and the daemon's own words (one translation for both).
#[test]
fn what_the_daemon_refuses_fails_the_check_at_its_place() {
    let dir = std::env::temp_dir().join(format!("vipd-refuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vrrp = "vrrp_instance VI_1 {\n    interface eth1\n    virtual_router_id 51\n    priority 100\n    virtual_ipaddress {\n        10.0.0.1 dev eth1\n    }\n}\n";
    let vs = |body: &str| {
        format!("virtual_server 10.0.0.1 80 {{\n{body}    real_server 10.0.1.1 80 {{\n        weight 1\n    }}\n}}\n")
    };
    // (name, file, line of the error, words it must say)
    let cases: Vec<(&str, String, usize, &str)> = vec![
        (
            "lb_algo lblc",
            format!("{vrrp}{}", vs("    lb_algo lblc\n    lb_kind TUN\n")),
            10,
            "lb_algo lblc is not supported",
        ),
        (
            "SCTP",
            format!(
                "{vrrp}{}",
                vs("    lb_algo rr\n    lb_kind TUN\n    protocol SCTP\n")
            ),
            9,
            "SCTP",
        ),
        (
            "fwmark",
            format!(
                "{vrrp}virtual_server fwmark 1 {{\n    lb_algo rr\n    lb_kind TUN\n}}\n"
            ),
            9,
            "list the addresses and ports in a virtual_server_group instead",
        ),
        (
            "DR across families",
            "global_defs {\n    default_interface eth1\n}\nvirtual_server 2001:db8::1 80 {\n    lb_algo rr\n    lb_kind DR\n    real_server 10.0.1.1 80 {\n        weight 1\n    }\n}\n".to_owned(),
            7,
            "only lvs_method TUN carries a packet to a real server of the other family",
        ),
        (
            "AH",
            format!(
                "{}{}",
                vrrp.replace(
                    "    priority 100\n",
                    "    priority 100\n    authentication {\n        auth_type AH\n        auth_pass x\n    }\n"
                ),
                vs("    lb_algo rr\n    lb_kind TUN\n")
            ),
            1,
            "auth_type AH",
        ),
        (
            "track_script without a script",
            format!(
                "{}{}",
                vrrp.replace(
                    "    priority 100\n",
                    "    priority 100\n    track_script {\n        chk_none\n    }\n"
                ),
                vs("    lb_algo rr\n    lb_kind TUN\n")
            ),
            1,
            "track_script chk_none names no vrrp_script",
        ),
        (
            "TUN type gue",
            format!(
                "{vrrp}{}",
                vs("    lb_algo rr\n    lvs_method TUN type gue port 6080\n")
            ),
            10,
            "encapsulates in IP-in-IP only",
        ),
        (
            "VIPs on two interfaces",
            format!(
                "{}{}virtual_server 10.0.0.2 80 {{\n    lb_algo rr\n    lb_kind TUN\n}}\n",
                vrrp.replace(
                    "        10.0.0.1 dev eth1\n",
                    "        10.0.0.1 dev eth1\n        10.0.0.2 dev eth2\n"
                ),
                vs("    lb_algo rr\n    lb_kind TUN\n")
            ),
            10,
            "several interfaces",
        ),
    ];
    for (name, text, line, words) in cases {
        let f = dir.join(format!("{}.conf", name.replace(' ', "-")));
        std::fs::write(&f, &text).unwrap();
        let f = f.to_str().unwrap();
        let (code, _, check) = vipd(&["-t", "-f", f]);
        assert_eq!(code, 5, "{name}: vipd -t passed:\n{check}");
        let at = format!("{f}:{line}:");
        assert!(check.contains(&at), "{name}: no {at} in:\n{check}");
        assert!(check.contains(words), "{name}: no `{words}` in:\n{check}");
        let (code, _, daemon) = vipd(&["-f", f, "--socket", "/nonexistent/vipd.sock"]);
        assert_eq!(code, 5, "{name}: the daemon did not refuse:\n{daemon}");
        let errors = |out: &str| -> Vec<String> {
            out.lines()
                .filter(|l| l.starts_with("error") || l.contains(&at))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            errors(&check),
            errors(&daemon),
            "{name}: check and daemon differ"
        );
    }
}
