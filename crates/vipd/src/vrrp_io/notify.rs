//! Running external commands: `notify*` scripts (fire and forget, reaped in the
//! background) and `vrrp_script` checks (with a timeout). Like keepalived, no
//! shell is involved: the command line is split into words, double or single
//! quotes group words.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tracing::warn;

use vipd_core::vrrp::State;

/// Splits a command line into words; quotes group, backslash escapes.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    word.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn command(line: &str, extra: &[String]) -> Option<Command> {
    let words = split_command(line);
    let (program, args) = words.split_first()?;
    let mut cmd = Command::new(program);
    cmd.args(args).args(extra).stdin(Stdio::null());
    Some(cmd)
}

/// Starts `line` with `extra` arguments and reaps it in the background.
pub fn spawn(line: &str, extra: &[String]) {
    let Some(mut cmd) = command(line, extra) else {
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
    if let Some(line) = specific {
        spawn(line, &[]);
    }
    if let Some(line) = &spec.any {
        spawn(
            line,
            &[
                kind.to_string(),
                name.to_string(),
                state.keepalived_name().to_string(),
                priority.to_string(),
            ],
        );
    }
}

/// Runs a `vrrp_script` once: success is exit status 0 within `timeout`.
pub async fn run_check(line: &str, timeout: Duration) -> bool {
    let Some(mut cmd) = command(line, &[]) else {
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

    #[test]
    fn splits_like_keepalived() {
        assert_eq!(split_command("/bin/echo a  b"), vec!["/bin/echo", "a", "b"]);
        assert_eq!(
            split_command(r#"/x "two words" 'and more' a\ b"#),
            vec!["/x", "two words", "and more", "a b"]
        );
        assert_eq!(split_command("  "), Vec::<String>::new());
    }
}
