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
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print vipd's version and the data-plane programs it embeds.
    Version,
    /// The XDP data plane on its own (no VRRP, no health checks).
    #[command(subcommand)]
    Datapath(DatapathCommand),
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) | None => {
            println!("vipd {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some(Command::Datapath(DatapathCommand::Run(a))) => vipd::datapath::run::run(a),
        Some(Command::Lab(args)) => vipd::lab::cli::run(args),
        Some(Command::Realserver(cmd)) => Ok(vipd::realserver::run(cmd)?),
    }
}
