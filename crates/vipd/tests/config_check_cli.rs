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
