//! `vipd -f FILE -P`: keepalived's "VRRP only" mode. Reads the keepalived.conf,
//! runs every `vrrp_instance` (no data plane, no checkers), and on SIGTERM or
//! SIGINT sends priority 0, removes the VIPs and exits 0.

use std::path::PathBuf;

use tracing::{info, warn};

use super::{from_config, VrrpIoError};

/// keepalived's daemon flags that matter to VRRP.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `-f`: the configuration file.
    pub config: PathBuf,
    /// `-i`: config id for `@id` lines.
    pub config_id: Option<String>,
    /// `-D`: detailed log (debug level).
    pub log_detail: bool,
    /// `-p`: write our pid there (removed on exit).
    pub pid_file: Option<PathBuf>,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config file cannot be read.
    #[error("{0}\n  = help: give the path of a readable keepalived.conf with -f FILE")]
    Load(#[from] vipd_core::config::LoadError),
    /// The config has errors (already printed).
    #[error("{count} error(s) in {path}: fix them (`vipd check -f {path}` lists them)")]
    Invalid {
        /// Errors.
        count: usize,
        /// File.
        path: String,
    },
    /// No vrrp_instance.
    #[error("{0} has no vrrp_instance: nothing to do in VRRP-only mode (-P)")]
    NoInstance(String),
    /// The pid file cannot be written.
    #[error("cannot write the pid file {path}: {source}")]
    PidFile {
        /// Path.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
    /// VRRP failed.
    #[error(transparent)]
    Vrrp(#[from] VrrpIoError),
    /// The async runtime or signal handlers could not start.
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs VRRP only until SIGTERM/SIGINT.
pub fn run_vrrp_only(opts: &DaemonOptions) -> Result<(), DaemonError> {
    let filter = if opts.log_detail { "debug" } else { "info" };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let path = opts.config.to_string_lossy().into_owned();
    let loaded = crate::config_io::load_file(&path, opts.config_id.as_deref(), true)?;
    if loaded.diagnostics.iter().next().is_some() {
        eprint!("{}", loaded.diagnostics.render(&loaded.sources));
    }
    if loaded.diagnostics.has_errors() {
        return Err(DaemonError::Invalid {
            count: loaded.diagnostics.error_count(),
            path,
        });
    }
    if loaded.config.vrrp_instances.is_empty() {
        return Err(DaemonError::NoInstance(path));
    }
    if !loaded.config.virtual_servers.is_empty() {
        info!("VRRP only (-P): virtual_server blocks are not run");
    }
    let mut warnings = Vec::new();
    let spec = from_config::from_config(&loaded.config, &mut warnings)?;
    for w in warnings {
        warn!("{w}");
    }

    if let Some(pid_file) = &opts.pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id())).map_err(|source| {
            DaemonError::PidFile {
                path: pid_file.clone(),
                source,
            }
        })?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;
        let stop = async move {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = int.recv() => info!("SIGINT received"),
            }
        };
        super::run(spec, stop).await.map_err(DaemonError::from)
    });
    if let Some(pid_file) = &opts.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    result
}
