//! The `vipd` binary: thin. Parses the command line and hands over to the library.
//!
//! Each area adds its subcommand as a variant of [`Command`] and one dispatch arm.

use clap::{Parser, Subcommand};

/// vipd: a Layer-4 load balancer in the tradition of LVS-TUN driven by keepalived.
///
/// Without a subcommand, `vipd -f keepalived.conf` runs the director, with
/// keepalived's flags.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Check the configuration file and exit (keepalived's `-t`; same as
    /// `vipd check -f FILE`).
    #[arg(short = 't', long = "config-test")]
    config_test: bool,
    /// The keepalived.conf to use.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<String>,
    /// Config id for `@id` conditional lines (default: host name up to its first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Run VRRP only: elect the master and move the VIPs, no data plane and no
    /// health checks (keepalived's `-P`).
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    /// Run the health checkers only (keepalived's `-C`).
    #[arg(short = 'C', long = "check")]
    check: bool,
    /// Detailed log: debug level (keepalived's `-D`).
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Stay in the foreground (keepalived's `-n`; vipd never forks).
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Log to the console, standard error (keepalived's `-l`; vipd always does).
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Write the daemon's pid to FILE (keepalived's `-p`).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print vipd's version and the data-plane programs it embeds.
    Version,
    /// The XDP data plane on its own (no VRRP, no health checks).
    #[command(subcommand)]
    Datapath(DatapathCommand),
    /// Load an HTTP server like webbench, with latency percentiles and errors by kind.
    Bench(vipd::bench::BenchArgs),
    /// Print the MD5 digest of a URL's body for HTTP_GET/SSL_GET `digest` lines
    /// (as keepalived's genhash).
    Genhash(vipd::probe::genhash::GenhashArgs),
    /// Check a keepalived.conf: rustc-style diagnostics; exit 0 (no errors),
    /// 4 (file unreadable) or 5 (errors). `--dump json|conf` prints the model.
    Check(vipd::config_check::CheckArgs),
    /// The seed's network in namespaces on this machine: up, down, status, exec, demo.
    Lab(vipd::lab::cli::LabArgs),
    /// Real-server side: bind VIPs without ARP and decapsulate the director's IPIP
    /// (replaces the seed's realserver.sh). Run inside the real server's namespace.
    #[command(subcommand)]
    Realserver(vipd::realserver::RealserverCommand),
}

#[derive(Debug, Subcommand)]
enum DatapathCommand {
    /// Attach the director to an interface for one virtual server until Ctrl-C.
    Run(vipd::datapath::run::RunArgs),
    /// Packets per second of the director on one core vs bare XDP_TX and kernel
    /// forwarding (BPF_PROG_RUN live frames), and Maglev rebuild time.
    Bench(vipd::datapath::bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.config_test {
        // keepalived's `-t -f FILE`.
        let args = vipd::config_check::CheckArgs {
            file: cli
                .use_file
                .unwrap_or_else(|| "/etc/keepalived/keepalived.conf".to_owned()),
            strict: false,
            dump: None,
            config_id: cli.config_id,
            no_host_checks: false,
        };
        std::process::exit(vipd::config_check::run(&args).into());
    }
    match cli.command {
        Some(Command::Genhash(args)) => Ok(vipd::probe::genhash::main(args)?),
        Some(Command::Check(mut args)) => {
            if let Some(f) = cli.use_file {
                args.file = f;
            }
            if cli.config_id.is_some() {
                args.config_id = cli.config_id;
            }
            std::process::exit(vipd::config_check::run(&args).into());
        }
        None if cli.use_file.is_some() && cli.vrrp => {
            let opts = vipd::vrrp_io::daemon::DaemonOptions {
                config: cli.use_file.unwrap_or_default().into(),
                config_id: cli.config_id,
                log_detail: cli.log_detail,
                pid_file: cli.pid,
            };
            Ok(vipd::vrrp_io::daemon::run_vrrp_only(&opts)?)
        }
        None if cli.use_file.is_some() => anyhow::bail!(
            "this build runs VRRP only: add -P (`vipd -f FILE -P`); the full director \
             (data plane{}) is not wired into `vipd -f` yet",
            if cli.check {
                ", and -C checkers"
            } else {
                " and checkers"
            }
        ),
        Some(Command::Version) | None => {
            println!("vipd {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Datapath(DatapathCommand::Run(a))) => vipd::datapath::run::run(a),
        Some(Command::Datapath(DatapathCommand::Bench(a))) => vipd::datapath::bench::main(&a),
        Some(Command::Bench(args)) => vipd::bench::main(&args),
        Some(Command::Lab(args)) => vipd::lab::cli::run(args),
        Some(Command::Realserver(cmd)) => Ok(vipd::realserver::run(cmd)?),
    }
}
