use clap::Parser;

/// vipd: a Layer-4 load balancer in the tradition of LVS-TUN driven by keepalived.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
