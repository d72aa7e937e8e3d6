//! Loading the configuration for the daemon: the same check `vipd check` runs,
//! plus the facts of this host the daemon cannot run without (interfaces). A
//! configuration with errors, or one naming an interface this network namespace
//! lacks, is refused with the check's diagnostics, at start and on reload alike.

use std::collections::BTreeSet;

use vipd_core::config::{Config, Diagnostic, Severity};

use crate::config_io;

/// Which parts of the director run (keepalived's `-P` / `-C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// VRRP.
    pub vrrp: bool,
    /// Health checkers and the data plane.
    pub lvs: bool,
}

/// Why a configuration cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read the configuration: {0}; give the path of a readable keepalived.conf with -f FILE")]
    Unreadable(String),
    /// The configuration has errors (the rendered diagnostics are in `report`).
    #[error("{file}: {errors} error{s} (shown above; `vipd check -f {file}` prints them again)", s = if *errors == 1 { "" } else { "s" })]
    Invalid {
        /// The file.
        file: String,
        /// Number of errors.
        errors: usize,
        /// The rendered diagnostics.
        report: String,
    },
    /// The configuration does not fit this host.
    #[error("{file}: {}", problems.join("; "))]
    Host {
        /// The file.
        file: String,
        /// One line per problem.
        problems: Vec<String>,
        /// The rendered diagnostics.
        report: String,
    },
}

impl LoadError {
    /// The exit code keepalived's `-t` uses for the same problem: 4 unreadable,
    /// 5 invalid (a missing interface counts as invalid for this host).
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Unreadable(_) => crate::config_check::EXIT_UNREADABLE,
            _ => crate::config_check::EXIT_INVALID,
        }
    }

    /// The diagnostics to print before the error line.
    pub fn report(&self) -> &str {
        match self {
            LoadError::Unreadable(_) => "",
            LoadError::Invalid { report, .. } | LoadError::Host { report, .. } => report,
        }
    }

    /// The first error's message, for a one-line log.
    pub fn headline(&self) -> String {
        match self {
            LoadError::Invalid { report, .. } => report
                .lines()
                .find(|l| l.starts_with("error"))
                .unwrap_or("")
                .to_owned(),
            _ => self.to_string(),
        }
    }
}

/// A configuration the daemon can run.
#[derive(Debug)]
pub struct Checked {
    /// The model.
    pub config: Config,
    /// The warnings, rendered (empty when there are none).
    pub warnings: String,
    /// Number of warnings.
    pub warning_count: usize,
    /// What VRRP runs, when it runs.
    pub vrrp: Option<crate::vrrp_io::VrrpSpec>,
    /// What the checkers and the data plane run, when they run.
    pub lvs: Option<super::lvs::LvsSpec>,
    /// Things accepted but ignored by the parts, one line each.
    pub notes: Vec<String>,
    /// Static addresses, routes and rules to apply.
    pub statics: Vec<vipd_core::statics::Item>,
    /// Files `init_file` writes at start.
    pub init_files: Vec<vipd_core::check::file::InitFile>,
    /// `vipd_announce`: the VIPs to offer to a routing daemon.
    pub announce: Option<vipd_core::announce::AnnouncePlan>,
}

/// Loads and checks `file` for the given parts.
pub fn load(file: &str, config_id: Option<&str>, parts: Parts) -> Result<Checked, LoadError> {
    let loaded = config_io::load_file(file, config_id, true)
        .map_err(|e| LoadError::Unreadable(e.to_string()))?;
    let report = loaded.diagnostics.render(&loaded.sources);
    if loaded.diagnostics.has_errors() {
        return Err(LoadError::Invalid {
            file: file.to_owned(),
            errors: loaded.diagnostics.error_count(),
            report,
        });
    }
    let Translated {
        lvs,
        vrrp,
        notes,
        statics,
        secure_scripts,
        refusals,
        init_files,
        announce,
    } = translate(&loaded.config, parts);
    if !refusals.is_empty() {
        let mut diags = loaded.diagnostics;
        let errors = diags.error_count() + refusals.len();
        for d in refusals {
            diags.push(d);
        }
        return Err(LoadError::Invalid {
            file: file.to_owned(),
            errors,
            report: diags.render(&loaded.sources),
        });
    }
    let mut problems: Vec<String> = required_interfaces(&loaded.config, parts)
        .into_iter()
        .filter(|i| !config_io::interface_exists(i))
        .map(|i| format!("interface {i} does not exist in this network namespace (see `ip link`)"))
        .collect();
    for prog in &secure_scripts {
        if let Err(e) = script_is_secure(prog) {
            problems.push(format!(
                "enable_script_security: script {prog}: {e}: vipd runs no script that anyone but root can change; fix the owner and modes, or remove enable_script_security"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::Host {
            file: file.to_owned(),
            problems,
            report,
        });
    }
    let warning_count = loaded
        .diagnostics
        .iter()
        .filter(|d: &&Diagnostic| d.severity == Severity::Warning)
        .count();
    Ok(Checked {
        config: loaded.config,
        warnings: report,
        warning_count,
        vrrp,
        lvs,
        notes,
        statics,
        init_files,
        announce,
    })
}

/// What the parts of the daemon run, from the model: the one translation
/// `vipd check` (and `-t`) and the daemon share, so a file the daemon would
/// refuse fails the check, with the same located errors.
#[derive(Debug, Default)]
pub struct Translated {
    /// What the checkers and the data plane run, when they run.
    pub lvs: Option<super::lvs::LvsSpec>,
    /// What VRRP runs, when it runs.
    pub vrrp: Option<crate::vrrp_io::VrrpSpec>,
    /// Things accepted but ignored by the parts, one line each.
    pub notes: Vec<String>,
    /// Static addresses, routes and rules (with VRRP, as keepalived's VRRP
    /// process applies them).
    pub statics: Vec<vipd_core::statics::Item>,
    /// With `enable_script_security`: the programs of every script vipd
    /// runs, to be checked on this host before any runs.
    pub secure_scripts: Vec<String>,
    /// What the daemon cannot run, as located errors.
    pub refusals: Vec<Diagnostic>,
    /// Files `track_file`'s `init_file` writes at start.
    pub init_files: Vec<vipd_core::check::file::InitFile>,
    /// `vipd_announce`, with the data plane.
    pub announce: Option<vipd_core::announce::AnnouncePlan>,
}

/// Translates `c` for the given parts (see [`Translated`]).
pub fn translate(c: &Config, parts: Parts) -> Translated {
    let mut t = Translated {
        init_files: vipd_core::check::file::init_files(c),
        ..Translated::default()
    };
    if c.global_defs.enable_script_security {
        let mut programs: Vec<String> = vipd_core::scripts::command_lines(c)
            .iter()
            .filter_map(|l| {
                vipd_core::scripts::split_command(l)
                    .ok()?
                    .into_iter()
                    .next()
            })
            .collect();
        programs.sort();
        programs.dedup();
        t.secure_scripts = programs;
    }
    if parts.vrrp {
        match vipd_core::statics::plan(c) {
            Ok(items) => t.statics = items,
            Err(e) => t
                .refusals
                .push(Diagnostic::error(format!("vipd cannot run this: {e}"))),
        }
    }
    if parts.lvs {
        match super::lvs::spec(c, &mut t.notes) {
            Ok(s) => t.lvs = s,
            Err(e) => t
                .refusals
                .push(Diagnostic::error(format!("vipd cannot run this: {e}")).at_loc(e.loc(c))),
        }
        match vipd_core::announce::plan(c) {
            Ok(p) => {
                t.announce = p;
                t.notes.extend(vipd_core::announce::notes(c));
            }
            Err(e) => t
                .refusals
                .push(Diagnostic::error(format!("vipd cannot run this: {e}"))),
        }
    }
    if parts.vrrp && !c.vrrp_instances.is_empty() {
        match super::vrrp::spec(c, &mut t.notes) {
            Ok(s) => t.vrrp = Some(s),
            Err(e) => {
                let loc = match &e {
                    crate::vrrp_io::VrrpIoError::Unsupported(_, loc) => *loc,
                    _ => c.vrrp_instances.first().map(|i| i.loc).unwrap_or_default(),
                };
                t.refusals
                    .push(Diagnostic::error(format!("vipd cannot run this: {e}")).at_loc(loc));
            }
        }
    }
    t
}

/// Checks that only root can change `program` (found on PATH if not
/// absolute): the file and every directory above it.
pub fn script_is_secure(program: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let path = if program.contains('/') {
        std::path::PathBuf::from(program)
    } else {
        std::env::var("PATH")
            .unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into())
            .split(':')
            .map(|d| std::path::Path::new(d).join(program))
            .find(|p| p.is_file())
            .ok_or_else(|| "not found on PATH".to_owned())?
    };
    let path = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut chain = Vec::new();
    for p in path.ancestors() {
        let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        chain.push(vipd_core::scripts::PathFacts {
            path: p.display().to_string(),
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
        });
    }
    match vipd_core::scripts::insecure(&chain) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Interfaces the running parts need: VRRP's instance interfaces, VIP devices and
/// tracked interfaces; the data plane's receiving interfaces.
pub fn required_interfaces(c: &Config, parts: Parts) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if parts.vrrp {
        for i in &c.vrrp_instances {
            out.extend(i.interface.clone());
            out.extend(i.virtual_ipaddress.iter().filter_map(|v| v.dev.clone()));
            out.extend(i.track_interface.iter().map(|t| t.name.clone()));
        }
        out.extend(c.static_ipaddress.iter().filter_map(|v| v.dev.clone()));
    }
    if parts.lvs {
        if let Ok(ifs) = vipd_core::director::datapath_interfaces(c) {
            out.extend(ifs);
        }
        // Checkers' `bind_if`: a probe through a missing interface could
        // only ever fail.
        let checkers = c
            .virtual_servers
            .iter()
            .flat_map(|vs| &vs.real_servers)
            .flat_map(|rs| &rs.checkers);
        out.extend(checkers.filter_map(|ck| ck.common.bind_if.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkers_bind_if_is_a_required_interface() {
        let loaded = vipd_core::config::parse_str(
            "t.conf",
            "virtual_server 2001:db8::250 80 {\n real_server 2001:db8:26::1 80 {\n  PING_CHECK {\n   connect_ip fe80::1\n   bind_if eth7\n  }\n }\n}\n",
        );
        assert!(!loaded.diagnostics.has_errors(), "{:?}", loaded.diagnostics);
        let lvs = Parts {
            vrrp: false,
            lvs: true,
        };
        assert!(required_interfaces(&loaded.config, lvs).contains("eth7"));
        let vrrp_only = Parts {
            vrrp: true,
            lvs: false,
        };
        assert!(!required_interfaces(&loaded.config, vrrp_only).contains("eth7"));
    }

    /// `enable_script_security`: a script anyone but root can change is
    /// refused, one only root can change is accepted.
    #[test]
    fn script_security_checks_the_file_and_its_directories() {
        assert_eq!(script_is_secure("/bin/true"), Ok(()));
        assert_eq!(script_is_secure("true"), Ok(()));
        let dir = std::env::temp_dir().join(format!("vipd-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("chk.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = script_is_secure(f.to_str().unwrap()).unwrap_err();
        assert!(e.contains("writable by everyone"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        // /tmp itself is writable by everyone.
        let e = script_is_secure(f.to_str().unwrap()).unwrap_err();
        assert!(e.contains("/tmp is writable by everyone"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
