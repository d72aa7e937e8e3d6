//! Running external commands: `notify*` scripts (fire and forget, reaped in the
//! background) and `vrrp_script` checks (with a timeout). Like keepalived, no
//! shell is involved: the command line is split into words, double or single
//! quotes group words.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::warn;

use vipd_core::config::{Notify, ScriptUser};
use vipd_core::vrrp::State;

pub use vipd_core::scripts::split_command;

fn command(line: &str, extra: &[String], user: Option<&ScriptUser>) -> Option<Command> {
    let words = match split_command(line) {
        Ok(w) => w,
        Err(e) => {
            warn!("script not run: {e}");
            return None;
        }
    };
    let (program, args) = words.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args).args(extra).stdin(Stdio::null());
    if let Some(u) = user {
        match run_as(u) {
            Ok((uid, gid)) => {
                cmd.uid(uid).gid(gid);
            }
            Err(e) => {
                warn!("script `{line}` not run: {e}");
                return None;
            }
        }
    }
    Some(cmd)
}

/// The uid and gid of `script_user` / `user USER [GROUP]`.
pub fn run_as(u: &ScriptUser) -> Result<(u32, u32), String> {
    let user = nix::unistd::User::from_name(&u.user)
        .map_err(|e| format!("cannot look up user `{}`: {e}", u.user))?
        .ok_or_else(|| format!("user `{}` does not exist (script_user / user)", u.user))?;
    let gid = match &u.group {
        None => user.gid.as_raw(),
        Some(g) => nix::unistd::Group::from_name(g)
            .map_err(|e| format!("cannot look up group `{g}`: {e}"))?
            .ok_or_else(|| format!("group `{g}` does not exist (script_user / user)"))?
            .gid
            .as_raw(),
    };
    Ok((user.uid.as_raw(), gid))
}

/// Starts `script` (as its user, if any) with `extra` arguments and reaps it
/// in the background.
pub fn spawn(script: &Notify, extra: &[String]) {
    spawn_line(&script.script, extra, script.user.as_ref());
}

/// Starts `line` with `extra` arguments, as `user` if given, and reaps it in
/// the background.
pub fn spawn_line(line: &str, extra: &[String], user: Option<&ScriptUser>) {
    let Some(mut cmd) = command(line, extra, user) else {
        return;
    };
    match cmd.spawn() {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => warn!("notify script `{line}` could not start: {e}"),
    }
}

/// Runs the notify scripts of a state change, keepalived's way: the
/// state-specific one as written, then `notify` with `KIND NAME STATE PRIORITY`.
pub fn run_notify(spec: &super::NotifySpec, kind: &str, name: &str, state: State, priority: u8) {
    let specific = match state {
        State::Master => &spec.master,
        State::Backup => &spec.backup,
        State::Fault => &spec.fault,
        State::Stopped => &spec.stop,
        State::Init => &None,
    };
    if let Some(script) = specific {
        spawn(script, &[]);
    }
    if let Some(script) = &spec.any {
        spawn(
            script,
            &[
                kind.to_string(),
                name.to_string(),
                state.keepalived_name().to_string(),
                priority.to_string(),
            ],
        );
    }
}

/// Runs a `vrrp_script` once (as `user`, if given): success is exit status 0
/// within `timeout`.
pub async fn run_check(line: &str, timeout: Duration, user: Option<&ScriptUser>) -> bool {
    let Some(mut cmd) = command(line, &[], user) else {
        return false;
    };
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `script_user` / `user`: the script runs as that user (this needs
    /// root, as vipd does; CI runs as root).
    #[test]
    fn a_script_runs_as_its_user() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let nobody = ScriptUser {
            user: "nobody".into(),
            group: None,
        };
        let uid = nix::unistd::User::from_name("nobody")
            .unwrap()
            .unwrap()
            .uid
            .as_raw();
        let line = format!("/bin/sh -c 'test $(id -u) = {uid}'");
        rt.block_on(async {
            assert!(run_check(&line, Duration::from_secs(5), Some(&nobody)).await);
            assert!(!run_check(&line, Duration::from_secs(5), None).await);
            let ghost = ScriptUser {
                user: "no-such-user-vipd".into(),
                group: None,
            };
            assert!(!run_check("/bin/true", Duration::from_secs(5), Some(&ghost)).await);
        });
    }
}
