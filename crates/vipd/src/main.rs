//! The `vipd` binary: thin. Parses the command line and hands over to the library.
//!
//! Each area adds its subcommand as a variant of [`Command`] and one dispatch arm.

use clap::{CommandFactory, Parser, Subcommand};

/// vipd: a Layer-4 load balancer in the tradition of LVS-TUN driven by keepalived.
///
/// Without a subcommand, `vipd -f keepalived.conf` runs the director (VRRP,
/// health checkers and the XDP data plane) in the foreground, with keepalived's
/// flags; TERM stops it, QUIT stops it for a restart, HUP reloads the file,
/// USR1/USR2 write state/stats dumps. `vipd status` shows what it does.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    after_help = "Signals to the director:\n  \
        TERM, INT  stop: priority-0 advert, VIPs removed, XDP program detached\n  \
        QUIT       stop for a restart: the XDP program keeps forwarding with its\n             \
        connections (pinned in bpffs), VIPs kept; the next `vipd -f FILE`\n             \
        adopts them and resumes as MASTER (docs/OPERATIONS.md)\n  \
        HUP        reload the file (refused, with the reason, if it has errors)\n  \
        USR1/USR2  write a state / statistics dump to --dump-dir"
)]
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
    #[command(flatten)]
    daemon: vipd::daemon::DaemonArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print vipd's version and the data-plane programs it embeds.
    Version,
    /// Show the running director: services, real servers, weights, connections,
    /// counters, rates, VRRP states and checks; `-Ln [--stats|--rate]` and
    /// `-Lnc` print ipvsadm's layouts.
    Status(vipd::ctl::client::StatusArgs),
    /// The XDP data plane on its own (no VRRP, no health checks).
    #[command(subcommand)]
    Datapath(DatapathCommand),
    /// Load an HTTP server like webbench, with latency percentiles and errors by kind.
    Bench(vipd::bench::BenchArgs),
    /// Side by side in one lab: direct vs HAProxy vs nftables (vs vipd): req/s,
    /// latency, and the director's machine CPU per request (root).
    Compare(vipd::bench::compare::CompareArgs),
    /// Print the MD5 digest of a URL's body for HTTP_GET/SSL_GET `digest` lines
    /// (as keepalived's genhash).
    ///
    /// Fetches URL from SERVER:PORT the way the HTTP_GET / SSL_GET checkers do and
    /// prints the MD5 digest of the body exactly as keepalived's genhash computes
    /// it (the bytes after the header, up to Content-Length). Paste it into a
    /// `digest` line of a `url` block.
    ///
    /// Example: vipd genhash -s 10.253.26.1 -p 80 -u /index.html
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
    /// The cheapest possible TUN director (no table, counters or checks): a
    /// measuring stick for `vipd compare`, never a load balancer.
    Floor(vipd::datapath::floor::FloorArgs),
}

fn main() -> anyhow::Result<()> {
    // `vipd generate man DIR | completions SHELL` (packaging): parsed apart so
    // that the pages and completion scripts it writes do not offer it.
    if std::env::args_os().nth(1).is_some_and(|a| a == "generate") {
        return vipd::generate::main(Cli::command());
    }
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
        None => {
            std::process::exit(vipd::daemon::run(cli.use_file, cli.config_id, cli.daemon).into())
        }
        Some(Command::Status(args)) => Ok(vipd::ctl::client::run(&args)?),
        Some(Command::Version) => {
            println!("vipd {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Datapath(DatapathCommand::Run(a))) => vipd::datapath::run::run(a),
        Some(Command::Datapath(DatapathCommand::Bench(a))) => vipd::datapath::bench::main(&a),
        Some(Command::Datapath(DatapathCommand::Floor(a))) => vipd::datapath::floor::run(a),
        Some(Command::Bench(args)) => vipd::bench::main(&args),
        Some(Command::Compare(args)) => vipd::bench::compare::main(&args),
        Some(Command::Lab(args)) => vipd::lab::cli::run(args),
        Some(Command::Realserver(cmd)) => Ok(vipd::realserver::run(cmd)?),
    }
}
