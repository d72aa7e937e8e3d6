//! `enable_script_security`: which scripts vipd may run as root. keepalived's
//! rule: a script is insecure if anyone but root can change it, that is if the
//! file or any directory above it is owned by a non-root user, or writable by
//! a group other than root's or by everyone. vipd refuses to start with an
//! insecure script instead of starting without it (a `vrrp_script` that never
//! runs would leave its instance's priority wrong).

use crate::config::{CheckKind, Config, Notify};

/// Splits a command line into words, as keepalived does (no shell is
/// involved; every script vipd runs goes through here): whitespace separates, `'...'` keeps
/// everything literal, `"..."` keeps whitespace and honours `\"` and `\\`, and a
/// `\` outside quotes escapes the next character. An unterminated quote is an
/// error.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' in `{line}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated \" in `{line}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" in `{line}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Ownership and mode of one path (the script, or a directory above it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFacts {
    /// The path.
    pub path: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// Why `chain` (the script, then each directory up to `/`) is insecure, if
/// it is.
pub fn insecure(chain: &[PathFacts]) -> Option<String> {
    chain.iter().find_map(|p| {
        if p.uid != 0 {
            Some(format!("{} is owned by uid {}, not root", p.path, p.uid))
        } else if p.mode & 0o002 != 0 {
            Some(format!("{} is writable by everyone", p.path))
        } else if p.mode & 0o020 != 0 && p.gid != 0 {
            Some(format!("{} is writable by group {}", p.path, p.gid))
        } else {
            None
        }
    })
}

/// Every command line the configuration makes vipd run: `vrrp_script`s,
/// notify scripts of instances, sync groups, virtual and real servers, and
/// MISC_CHECK paths (in file order).
pub fn command_lines(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |n: &Option<Notify>| {
        if let Some(n) = n {
            out.push(n.script.clone());
        }
    };
    for i in &c.vrrp_instances {
        for n in [
            &i.notify_master,
            &i.notify_backup,
            &i.notify_fault,
            &i.notify_stop,
            &i.notify,
            &i.notify_master_rx_lower_pri,
        ] {
            push(n);
        }
    }
    for g in &c.vrrp_sync_groups {
        for n in [
            &g.notify_master,
            &g.notify_backup,
            &g.notify_fault,
            &g.notify_stop,
            &g.notify,
        ] {
            push(n);
        }
    }
    for vs in &c.virtual_servers {
        push(&vs.quorum_up);
        push(&vs.quorum_down);
        for rs in &vs.real_servers {
            push(&rs.notify_up);
            push(&rs.notify_down);
        }
    }
    for s in &c.vrrp_scripts {
        if let Some(line) = &s.script {
            out.push(line.clone());
        }
    }
    for vs in &c.virtual_servers {
        for rs in &vs.real_servers {
            for ch in &rs.checkers {
                if let CheckKind::Misc {
                    misc_path: Some(p), ..
                } = &ch.kind
                {
                    out.push(p.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str, uid: u32, gid: u32, mode: u32) -> PathFacts {
        PathFacts {
            path: path.into(),
            uid,
            gid,
            mode,
        }
    }

    #[test]
    fn splits_words_and_quotes() {
        assert_eq!(
            split_command("/usr/bin/check  -h 10.0.0.1\t--x").unwrap(),
            vec!["/usr/bin/check", "-h", "10.0.0.1", "--x"]
        );
        assert_eq!(
            split_command(r#"/bin/echo 'a b' "c \"d\" \\ e" f\ g '' "#).unwrap(),
            vec!["/bin/echo", "a b", r#"c "d" \ e"#, "f g", ""]
        );
        assert_eq!(split_command("a'b'c").unwrap(), vec!["abc"]);
        // Shell syntax is just text.
        assert_eq!(
            split_command("/bin/true; rm -rf /").unwrap(),
            vec!["/bin/true;", "rm", "-rf", "/"]
        );
        assert!(split_command("'open").is_err());
        assert!(split_command("\"open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn only_root_may_be_able_to_change_a_script() {
        let root_dir = p("/", 0, 0, 0o755);
        let ok = [
            p("/usr/local/bin/chk", 0, 0, 0o755),
            p("/usr/local/bin", 0, 0, 0o755),
            root_dir.clone(),
        ];
        assert_eq!(insecure(&ok), None);
        // Writable by root's group is fine.
        assert_eq!(
            insecure(&[p("/etc/k/chk", 0, 0, 0o775), root_dir.clone()]),
            None
        );
        assert_eq!(
            insecure(&[p("/home/u/chk", 1000, 1000, 0o755), root_dir.clone()]),
            Some("/home/u/chk is owned by uid 1000, not root".into())
        );
        assert_eq!(
            insecure(&[
                p("/tmp/chk", 0, 0, 0o755),
                p("/tmp", 0, 0, 0o1777),
                root_dir.clone()
            ]),
            Some("/tmp is writable by everyone".into())
        );
        assert_eq!(
            insecure(&[p("/srv/chk", 0, 50, 0o775), root_dir]),
            Some("/srv/chk is writable by group 50".into())
        );
    }
}
