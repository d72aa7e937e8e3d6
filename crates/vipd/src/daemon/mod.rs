//! The director service: `vipd -f keepalived.conf`.
//!
//! Loads and checks the configuration (refusing to start, with the check's
//! diagnostics, on any error or a missing interface), then runs VRRP, the health
//! checkers and the XDP data plane in one tokio runtime, as keepalived runs its
//! VRRP and checker processes next to the kernel's IPVS. Runs in the foreground
//! (systemd style) and logs through `tracing`, one line per state change.
//!
//! Signals: TERM/INT stop (priority-0 advert, VIPs removed, programs detached,
//! exit 0); QUIT stops for a restart (the XDP program keeps forwarding with its
//! tables pinned in bpffs, VIPs kept, no priority 0; the next vipd adopts the
//! connections and resumes as MASTER: docs/OPERATIONS.md, "Restarting vipd");
//! HUP reloads (the new file is checked first; on errors the running
//! configuration stays and one log line says why); USR1 writes a state dump and
//! USR2 a statistics dump to `--dump-dir` (default /tmp), as keepalived does.
//!
//! # Layout
//! - [`load`]: configuration loading and the host checks the daemon needs.
//! - [`engine`]: the event loop: signals, control requests, reloads, sampling.
//! - [`status`]: the serializable [`status::Status`] `vipd status` shows.
//! - [`lvs`]: health checkers + XDP data plane (keepalived's checker + IPVS).
//! - [`vrrp`]: the VRRP engine (`vrrp_io`) as a task whose states the loop follows.
//! - [`metrics`]: the optional Prometheus endpoint (`--metrics ADDR`).
//! - [`sd_notify`]: tells systemd (`Type=notify`) when vipd is ready, reloads, stops.

pub mod announce;
pub mod engine;
pub mod load;
pub mod lvs;
pub mod metrics;
pub mod sd_notify;
pub mod sharing;
pub mod statics;
pub mod status;
pub mod vrrp;

use std::net::SocketAddr;
use std::path::PathBuf;

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// The daemon's flags (besides `-f FILE` and `-i ID`, which the top-level
/// command line shares with `-t`). The single letters are keepalived's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DaemonArgs {
    /// Detailed log messages (keepalived's --log-detail): debug level.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Log to the console (keepalived's --log-console). vipd always logs to
    /// standard error; accepted for compatibility.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Stay in the foreground (keepalived's --dont-fork). vipd always does, as
    /// systemd expects; accepted for compatibility.
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Pid file (default /run/vipd/vipd.pid, or /run/vipd/vipd-NETNS.pid in a
    /// network namespace named NETNS).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Run VRRP only: no health checkers, no data plane (keepalived's --vrrp).
    #[arg(short = 'P', long = "vrrp", conflicts_with = "check_only")]
    pub vrrp_only: bool,
    /// Run the health checkers and the data plane only, no VRRP (keepalived's
    /// --check).
    #[arg(short = 'C', long = "check")]
    pub check_only: bool,
    /// Serve Prometheus metrics on ADDR:PORT (e.g. 127.0.0.1:9588); off by default.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<SocketAddr>,
    /// Control socket for `vipd status` (default /run/vipd/vipd.sock, or
    /// /run/vipd/vipd-NETNS.sock in a network namespace named NETNS).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Directory for the SIGUSR1 (vipd.data) and SIGUSR2 (vipd.stats) dumps.
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    pub dump_dir: PathBuf,
    /// How to attach the XDP director: `auto` is native on physical NICs and
    /// generic (skb) on virtual devices such as veth; `native` on veth needs an
    /// XDP program on the peer (the lab puts one there), and is much faster.
    #[arg(long, value_enum, value_name = "MODE", default_value_t)]
    pub xdp_mode: crate::datapath::AttachMode,
    /// Do not share connections with the other directors. Sharing is on by
    /// default between the VRRP peers of the virtual servers' VIPs (or as
    /// `lvs_sync_daemon` says), so that a failover keeps every connection.
    #[arg(long)]
    pub no_sync: bool,
    /// Authenticate connection sharing with the key in FILE (at least 16
    /// bytes; the same file on every director). Default: /etc/vipd/sync.key if
    /// it exists; without a key sharing runs unauthenticated, and says so.
    #[arg(long, value_name = "FILE")]
    pub sync_key: Option<PathBuf>,
}

/// Runs the director until TERM/INT; returns the process exit code.
pub fn run(file: Option<String>, config_id: Option<String>, args: DaemonArgs) -> u8 {
    init_logging(args.log_detail);
    let file = file.unwrap_or_else(|| DEFAULT_CONFIG.to_owned());
    let parts = load::Parts {
        vrrp: !args.check_only,
        lvs: !args.vrrp_only,
    };
    let checked = match load::load(&file, config_id.as_deref(), parts) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.report());
            tracing::error!("refusing to start: {e}");
            return e.exit_code();
        }
    };
    if checked.warning_count > 0 {
        eprint!("{}", checked.warnings);
        tracing::warn!(
            "{file}: {} warning{} (shown above)",
            checked.warning_count,
            if checked.warning_count == 1 { "" } else { "s" }
        );
    }
    unblock_signals();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the tokio runtime: {e}");
            return 1;
        }
    };
    let opts = engine::Options {
        file,
        config_id,
        parts,
        args,
    };
    match rt.block_on(engine::run(opts, checked)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            1
        }
    }
}

/// A parent may have left signals blocked (a signal mask survives exec: `vipd lab
/// demo` blocks TERM in its threads, so do some service managers' helpers). The
/// daemon's signals must reach it; the runtime's threads inherit this mask.
fn unblock_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(sig);
    }
    if let Err(e) = set.thread_unblock() {
        tracing::warn!("cannot unblock signals: {e}");
    }
}

/// Log lines on standard error; `RUST_LOG` overrides the level.
fn init_logging(detail: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
