//! MISC_CHECK: run a program and judge its exit status (`misc_path`,
//! `misc_timeout`, `misc_dynamic`, `user`).
//!
//! The command line is split into words (with `'...'`, `"..."` and `\` quoting)
//! and run directly, never through a shell unless the configuration asks for one:
//! a health check must not turn a real server's name into shell syntax. The
//! program runs in its own process group with stdin/stdout/stderr on /dev/null,
//! as the configured user; on timeout the whole group gets SIGTERM, then SIGKILL.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Pid, User};
use tokio::process::Command;
use vipd_core::check::{MiscSpec, Outcome};

use super::secs;

/// Grace between SIGTERM and SIGKILL for a program that overran its timeout.
const KILL_GRACE: Duration = Duration::from_secs(1);

pub use vipd_core::scripts::split_command;

/// Build the command for a script line: split into words, or `/bin/sh -c LINE`
/// when `shell`; run as `user` when given. Used by MISC_CHECK and by notify
/// scripts.
pub fn command(line: &str, shell: bool, user: Option<&str>) -> Result<Command, String> {
    let argv = if shell {
        vec!["/bin/sh".to_string(), "-c".to_string(), line.to_string()]
    } else {
        split_command(line)?
    };
    let Some((prog, args)) = argv.split_first() else {
        return Err("empty command line".into());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(name) = user {
        let u = User::from_name(name)
            .map_err(|e| format!("cannot look up user `{name}`: {e}"))?
            .ok_or_else(|| format!("user `{name}` does not exist (script_user)"))?;
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
    }
    Ok(cmd)
}

/// How a bounded run of a program ended.
#[derive(Debug)]
pub enum RunEnd {
    /// It exited (or was killed by someone else's signal).
    Exited(ExitStatus),
    /// It overran its time and was killed with its process group.
    TimedOut,
}

/// Spawn `cmd` (from [`command`]) and wait at most `timeout`; on timeout the
/// whole process group gets SIGTERM, then SIGKILL after a short grace.
pub async fn run_bounded(mut cmd: Command, timeout: Duration) -> std::io::Result<RunEnd> {
    let mut child = cmd.spawn()?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => Ok(RunEnd::Exited(status?)),
        Err(_) => {
            if let Some(pid) = child.id() {
                let pgid = Pid::from_raw(pid as i32);
                let _ = killpg(pgid, Signal::SIGTERM);
                if tokio::time::timeout(KILL_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    let _ = killpg(pgid, Signal::SIGKILL);
                    let _ = child.wait().await;
                } else {
                    // The leader is gone; make sure its children are too.
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
            }
            Ok(RunEnd::TimedOut)
        }
    }
}

fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "ended abnormally".to_string(),
    }
}

/// Run the MISC_CHECK program and judge it; bounded by `misc_timeout` (default
/// `delay_loop`).
pub async fn probe(spec: &MiscSpec, delay_loop: Duration) -> Outcome {
    let timeout = spec.timeout.unwrap_or(delay_loop);
    let cmd = match command(&spec.path, spec.shell, spec.user.as_deref()) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("cannot run `{}`: {e}", spec.path)),
    };
    match run_bounded(cmd, timeout).await {
        Ok(RunEnd::Exited(status)) => {
            Outcome::from_misc_exit(status.code(), spec.dynamic, describe_status(&status))
        }
        Ok(RunEnd::TimedOut) => Outcome::fail(format!("timed out after {}", secs(timeout))),
        Err(e) => Outcome::fail(format!("cannot run `{}`: {e}", spec.path)),
    }
}

/// Run a notify program (`notify_up`, `notify_down`, `quorum_up`,
/// `quorum_down`: [`vipd_core::check::Event::script`]) as keepalived does: its
/// words run directly, as `user` when given, killed after `timeout`. `Ok` when it
/// exited 0; otherwise a reason for the log.
pub async fn run_script(line: &str, user: Option<&str>, timeout: Duration) -> Result<(), String> {
    let cmd = command(line, false, user).map_err(|e| format!("cannot run `{line}`: {e}"))?;
    match run_bounded(cmd, timeout).await {
        Ok(RunEnd::Exited(status)) if status.success() => Ok(()),
        Ok(RunEnd::Exited(status)) => Err(format!("`{line}`: {}", describe_status(&status))),
        Ok(RunEnd::TimedOut) => Err(format!("`{line}`: timed out after {}", secs(timeout))),
        Err(e) => Err(format!("cannot run `{line}`: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_rejects_empty_and_unknown_user() {
        assert!(command("  ", false, None).is_err());
        let e = command("/bin/true", false, Some("no-such-user-vipd-test")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }
}
