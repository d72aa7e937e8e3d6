//! MISC_CHECK: real programs, exit codes, misc_dynamic, timeouts that kill the
//! whole process group, no shell unless asked, and script_user.

mod probe_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use probe_support::*;
use vipd::probe::Prober;
use vipd_core::check::{CheckKind, CheckerSpec, MiscSpec};

fn misc(path: &str, f: impl FnOnce(&mut MiscSpec)) -> CheckerSpec {
    let mut m = MiscSpec {
        path: path.into(),
        timeout: Some(Duration::from_secs(5)),
        dynamic: false,
        user: None,
        shell: false,
    };
    f(&mut m);
    checker(
        CheckKind::Misc(m),
        "127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    )
}

fn scratch(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("vipd-probe-misc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test]
async fn exit_status_decides() {
    let p = Prober::new();
    let o = p.run(&misc("/bin/true", |_| {})).await;
    assert!(o.ok && o.detail == "exit status 0", "{o:?}");
    let o = p.run(&misc("/bin/false", |_| {})).await;
    assert!(!o.ok && o.detail == "exit status 1", "{o:?}");
    let o = p.run(&misc("/bin/sh -c 'exit 7'", |_| {})).await;
    assert!(!o.ok, "7 fails without misc_dynamic");
    let o = p.run(&misc("/nonexistent/vipd-check", |_| {})).await;
    assert!(!o.ok && o.detail.contains("cannot run"), "{o:?}");
}

#[tokio::test]
async fn misc_dynamic_turns_exit_status_into_weight() {
    let p = Prober::new();
    let o = p
        .run(&misc("/bin/sh -c 'exit 12'", |m| m.dynamic = true))
        .await;
    assert!(o.ok);
    assert_eq!(o.weight, Some(10));
    let o = p
        .run(&misc("/bin/sh -c 'exit 1'", |m| m.dynamic = true))
        .await;
    assert!(!o.ok && o.weight.is_none());
}

#[tokio::test]
async fn a_hanging_program_is_killed_with_its_children() {
    let marker = scratch("hang");
    // The child of the script would create the marker after 3 s if it survived.
    let line = format!(
        "/bin/sh -c 'sleep 3 && touch {} & sleep 30'",
        marker.display()
    );
    let started = Instant::now();
    let o = Prober::new()
        .run(&misc(&line, |m| {
            m.timeout = Some(Duration::from_millis(500))
        }))
        .await;
    let took = started.elapsed();
    assert!(!o.ok);
    assert_eq!(o.detail, "timed out after 0.500s");
    assert!(took < Duration::from_secs(2), "{took:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!marker.exists(), "a child of the timed-out script survived");
}

#[tokio::test]
async fn no_shell_unless_asked() {
    let marker = scratch("shell");
    let line = format!("/bin/echo safe; touch {}", marker.display());
    let o = Prober::new().run(&misc(&line, |_| {})).await;
    assert!(o.ok, "{o:?}");
    assert!(!marker.exists(), "the line went through a shell");
    let o = Prober::new().run(&misc(&line, |m| m.shell = true)).await;
    assert!(o.ok, "{o:?}");
    assert!(marker.exists(), "shell was asked for");
    let _ = std::fs::remove_file(&marker);
}

#[tokio::test]
async fn runs_as_script_user() {
    require_root();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody exists");
    let line = format!("/bin/sh -c 'test $(id -u) = {}'", nobody.uid);
    let p = Prober::new();
    assert!(
        !p.run(&misc(&line, |_| {})).await.ok,
        "runs as root by default"
    );
    let o = p
        .run(&misc(&line, |m| m.user = Some("nobody".into())))
        .await;
    assert!(o.ok, "{o:?}");
    let o = p
        .run(&misc("/bin/true", |m| {
            m.user = Some("no-such-user-vipd".into())
        }))
        .await;
    assert!(!o.ok && o.detail.contains("does not exist"), "{o:?}");
}

#[tokio::test]
async fn notify_scripts_run_bounded() {
    use vipd::probe::misc::run_script;
    let marker = scratch("notify");
    let line = format!("/usr/bin/touch {}", marker.display());
    run_script(&line, None, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(marker.exists());
    let _ = std::fs::remove_file(&marker);
    let e = run_script("/bin/false", None, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(e, "`/bin/false`: exit status 1");
    let e = run_script("/bin/sleep 10", None, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(e.contains("timed out"), "{e}");
}
