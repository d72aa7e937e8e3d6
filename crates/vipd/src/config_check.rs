//! `vipd check -f FILE` (and keepalived's spelling `vipd -t -f FILE`): read a
//! keepalived.conf, print rustc-style diagnostics, optionally dump the model.
//!
//! Exit codes: 0 no errors (warnings allowed), 4 the file cannot be read,
//! 5 the configuration has errors (with `--strict`, warnings count as errors).

use crate::config_io;
use std::io::Write;

/// What `--dump` prints on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// The normalised model as JSON.
    Json,
    /// The model as canonical keepalived.conf.
    Conf,
}

/// Arguments of `vipd check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The keepalived.conf to check.
    #[arg(
        short = 'f',
        long = "use-file",
        value_name = "FILE",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    pub file: String,
    /// Treat warnings as errors (exit 5 if there is any).
    #[arg(long)]
    pub strict: bool,
    /// Print the configuration as vipd understood it.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub dump: Option<DumpFormat>,
    /// Config id for `@id` conditional lines (default: the host name up to its
    /// first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    pub config_id: Option<String>,
    /// Do not compare interface names with this host's interfaces.
    #[arg(long)]
    pub no_host_checks: bool,
}

/// Exit code: the configuration file cannot be read.
pub const EXIT_UNREADABLE: u8 = 4;
/// Exit code: the configuration has errors.
pub const EXIT_INVALID: u8 = 5;

/// Runs the check; prints diagnostics on stderr and the dump on stdout.
/// Returns the process exit code.
pub fn run(args: &CheckArgs) -> u8 {
    let loaded =
        match config_io::load_file(&args.file, args.config_id.as_deref(), !args.no_host_checks) {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                "error: {e}\n  = help: give the path of a readable keepalived.conf with -f FILE"
            );
                return EXIT_UNREADABLE;
            }
        };
    let mut diags = loaded.diagnostics;
    // What the daemon would refuse, with the daemon's own words and places.
    if !diags.has_errors() {
        let all = crate::daemon::load::Parts {
            vrrp: true,
            lvs: true,
        };
        let t = crate::daemon::load::translate(&loaded.config, all);
        for d in t.refusals {
            diags.push(d);
        }
        // What the daemon logs at start as accepted but not acted on.
        for n in t.notes {
            diags.push(vipd_core::config::Diagnostic::warning(n));
        }
    }
    if args.strict {
        diags.make_strict();
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{}", diags.render(&loaded.sources));
    let (e, w) = (diags.error_count(), diags.warning_count());
    let _ = writeln!(
        err,
        "{}: {} error{}, {} warning{}",
        args.file,
        e,
        if e == 1 { "" } else { "s" },
        w,
        if w == 1 { "" } else { "s" }
    );
    if let Some(fmt) = args.dump {
        let text = match fmt {
            DumpFormat::Json => {
                serde_json::to_string_pretty(&loaded.config).unwrap_or_default() + "\n"
            }
            DumpFormat::Conf => vipd_core::config::dump::to_conf(&loaded.config),
        };
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    if diags.has_errors() {
        EXIT_INVALID
    } else {
        0
    }
}
