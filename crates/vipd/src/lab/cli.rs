//! The `vipd lab` command line: `up`, `down`, `status`, `list`, `exec`, `demo`,
//! `httpd`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use super::{client, LabOptions};

/// Build the seed's network (client, router, directors, real servers) in network
/// namespaces on this machine, and run things in it. Needs root.
///
/// Example: `vipd lab up && vipd lab exec client -- curl -s http://10.253.26.1/ &&
/// vipd lab down`. See docs/LAB.md for the drawing and the addresses.
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Debug, Args)]
struct NameArg {
    /// Lab name: lower-case letters and digits, at most 10, starting with a letter.
    /// Every namespace is NAME-NODE.
    #[arg(long, short, default_value = "vipd")]
    name: String,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build a lab: namespaces NAME-client, NAME-router, NAME-dir1.., NAME-rs1..,
    /// the two LAN bridges, addresses and routes, and an HTTP server on port 80 of
    /// every real server.
    Up {
        #[command(flatten)]
        name: NameArg,
        /// Number of directors (dir1 = 10.253.85.11, dir2 = .12, ...).
        #[arg(long, default_value_t = 2)]
        directors: u8,
        /// Number of real servers (rs1 = 10.253.26.1, rs2 = .2, ...).
        #[arg(long, default_value_t = 3)]
        reals: u8,
        /// MTU of every link.
        #[arg(long, default_value_t = 1500)]
        mtu: u32,
        /// Do not start `vipd lab httpd` on the real servers.
        #[arg(long)]
        no_httpd: bool,
        /// Do not attach the pass XDP program to the directors' bridge ports
        /// (native XDP_TX on a director's eth1 then drops frames).
        #[arg(long)]
        no_xdp_pass: bool,
        /// The NAT variant (lb_kind NAT): the router sends the real servers'
        /// replies to clients through 10.253.85.254, a gateway VIP the active
        /// director holds beside the VIP (put it in the VRRP instance's
        /// virtual_ipaddress); with --ipv6 also the IPv6 replies, through
        /// its twin 2001:db8:85::254 (an IPv6 instance's virtual_ipaddress).
        #[arg(long)]
        nat: bool,
        /// The ECMP variant: BIRD 2 on the router (multipath, L4 hash, BFD) and
        /// on every director; run vipd on each director with `vipd_announce
        /// vipd0` in global_defs and the router spreads flows over every
        /// director that announces the VIP (docs/OPERATIONS.md).
        #[arg(long)]
        ecmp: bool,
        /// Dual stack: every link also carries IPv6, each address with its
        /// IPv6 twin in 2001:db8::/32 (10.253.85.11 -> 2001:db8:85::11,
        /// 10.253.26.1 -> 2001:db8:26::1, the client 2001:db8:113::2), the
        /// router forwarding it; no DAD, no router advertisements.
        #[arg(long)]
        ipv6: bool,
        /// Give each real server's httpd this many CPUs (a cgroup CPU quota,
        /// e.g. 0.15), so that each counts as a machine of its own as in the
        /// seed; default: no limit.
        #[arg(long, value_name = "CPUS")]
        rs_cpu: Option<f64>,
    },
    /// Remove a lab: kill its processes, delete its namespaces, links and state.
    Down {
        #[command(flatten)]
        name: NameArg,
        /// Remove every lab instead.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Show a lab's nodes, namespaces, live addresses and processes.
    Status {
        #[command(flatten)]
        name: NameArg,
    },
    /// List the labs that are up.
    List,
    /// Run a command in a node (client, router, dirN, rsN); without a command, a
    /// shell. The command replaces this process (as `ip netns exec`): signals
    /// sent to it reach the command, and the exit code is the command's.
    ///
    /// Example: `vipd lab exec rs1 -- ip addr`
    Exec {
        #[command(flatten)]
        name: NameArg,
        /// The node.
        node: String,
        /// The command and its arguments (after `--`, which may be left out when
        /// the command's own options cannot be mistaken for `vipd lab exec`'s).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Bring a lab up, show it, fetch / from every real server from the client and
    /// from every director, and take it down again.
    Demo {
        /// Lab name for the demo.
        #[arg(long, short, default_value = "demo")]
        name: String,
        /// Leave the lab up at the end (remove it with `vipd lab down --name NAME`).
        #[arg(long)]
        keep: bool,
        /// Each real server's CPU budget for the webbench comparison (a
        /// cgroup CPU quota): the seed's real servers were machines of their
        /// own, the lab's share this one; 0 for no limit.
        #[arg(long, value_name = "CPUS", default_value_t = super::story::RS_CPU)]
        rs_cpu: f64,
        /// Beyond one director instead: three directors at once behind the
        /// router's ECMP, each announcing the VIP by BIRD (`vipd_announce`);
        /// new connections over the directors, then 300 held connections
        /// through one director's kill -9 and return.
        #[arg(long, conflicts_with = "rs_cpu")]
        ecmp: bool,
    },
    /// The real servers' HTTP server: GET / answers the node name on its first line,
    /// GET /bytes/N answers N bytes, POST answers the number of bytes received,
    /// GET /stats the request count. `vipd lab up` starts one on every real server.
    Httpd {
        /// Node name to answer with.
        #[arg(long)]
        node: String,
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: SocketAddr,
    },
}

/// Runs `vipd lab ...`.
pub fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Up {
            name,
            directors,
            reals,
            mtu,
            no_httpd,
            no_xdp_pass,
            nat,
            ecmp,
            ipv6,
            rs_cpu,
        } => {
            let opts = LabOptions {
                name: name.name,
                directors,
                reals,
                mtu,
                httpd: !no_httpd,
                xdp_pass: !no_xdp_pass,
                nat,
                ecmp,
                ipv6,
                rs_cpu,
                vipd_bin: None,
            };
            let lab = super::up(&opts)?;
            print!("{}", lab.status()?);
            println!(
                "try: vipd lab exec --name {0} client -- curl -s http://10.253.26.1/   \
                 remove: vipd lab down --name {0}",
                lab.name()
            );
            Ok(())
        }
        LabCommand::Down { name, all } => {
            if all {
                let names = super::down_all()?;
                if names.is_empty() {
                    println!("no lab was up");
                } else {
                    println!("removed: {}", names.join(" "));
                }
            } else {
                super::down(&name.name)?;
                println!("removed lab {}", name.name);
            }
            Ok(())
        }
        LabCommand::Status { name } => {
            let lab = super::Lab::open(&name.name)?;
            print!("{}", lab.status()?);
            Ok(())
        }
        LabCommand::List => {
            for name in super::list() {
                println!("{name}");
            }
            Ok(())
        }
        LabCommand::Exec {
            name,
            node,
            command,
        } => {
            let lab = super::Lab::open(&name.name)?;
            let command = if command.is_empty() {
                vec![std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into())]
            } else {
                command
            };
            // In place, as `ip netns exec` does: this process becomes the
            // command (in the node's namespace), so signals sent to it reach
            // the command and its exit status is the command's.
            use std::os::unix::process::CommandExt;
            let err = lab.command(&node, &command[0])?.args(&command[1..]).exec();
            Err(anyhow::Error::new(err).context(format!("running {:?} in {node}", command[0])))
        }
        LabCommand::Demo {
            name,
            keep,
            rs_cpu,
            ecmp,
        } => demo(&name, keep, rs_cpu, ecmp),
        LabCommand::Httpd { node, listen } => {
            crate::httpd::run(&crate::httpd::HttpdOptions { node, listen })?;
            Ok(())
        }
    }
}

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP remove lab `name` before the process
/// exits (status 130), so an interrupted demo leaves nothing behind. Call it before
/// starting any thread: the signals are blocked in the calling thread, every
/// thread created afterwards inherits that, and one waiting thread takes them
/// (processes started later get a clean signal mask from std's spawn).
pub fn remove_lab_on_signal(name: &str) -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    set.thread_block()
        .context("blocking SIGINT/SIGTERM/SIGHUP")?;
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Ok(sig) = set.wait() {
            // Never released: the process ends here, and a main thread that wants
            // to build, remove or exit waits in `lab_ops` until it does.
            let _ops = lab_ops();
            eprintln!("\n{sig}: removing lab {name}");
            if let Err(e) = super::down(&name) {
                eprintln!("warning: {e}");
            }
            std::process::exit(130);
        }
    });
    Ok(())
}

static LAB_OPS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold this while building or removing a lab (and before exiting) in a process
/// that uses [`remove_lab_on_signal`], so the signal's clean-up never runs half-way
/// through either, and the process does not exit in the middle of the clean-up.
pub fn lab_ops() -> std::sync::MutexGuard<'static, ()> {
    LAB_OPS.lock().unwrap_or_else(|e| e.into_inner())
}

fn demo(name: &str, keep: bool, rs_cpu: f64, ecmp: bool) -> anyhow::Result<()> {
    if !keep {
        remove_lab_on_signal(name)?;
    }
    let result = demo_steps(name, keep, rs_cpu, ecmp);
    // If a signal is removing the lab right now, wait here until it exits.
    drop(lab_ops());
    result
}

fn demo_steps(name: &str, keep: bool, rs_cpu: f64, ecmp: bool) -> anyhow::Result<()> {
    println!("== vipd lab demo: the seed's network in namespaces (lab {name})");
    let rs_cpu = (rs_cpu > 0.0 && !ecmp).then_some(rs_cpu);
    let guard = {
        let _ops = lab_ops();
        super::LabGuard::up(LabOptions {
            name: name.to_string(),
            rs_cpu,
            ecmp,
            directors: if ecmp { 3 } else { 2 },
            ..LabOptions::default()
        })?
    };
    match guard.status() {
        Ok(s) => print!("{s}"),
        Err(e) => println!("status: {e}"),
    }
    let reals = guard.reals();
    let askers: Vec<String> = std::iter::once("client".to_string())
        .chain(guard.directors().into_iter().map(|n| n.name))
        .collect();
    println!("\n== GET / on every real server, through the router");
    let mut failed = 0;
    for asker in &askers {
        for rs in &reals {
            let addr = SocketAddr::from((rs.addr, 80));
            match client::http_get(&guard.netns(asker), addr, "/", Duration::from_secs(3)) {
                Ok(r) if r.status == 200 && r.first_line() == rs.name => {
                    println!(
                        "{asker:>6} -> http://{}/  {} {}",
                        rs.addr,
                        r.status,
                        r.first_line()
                    );
                }
                Ok(r) => {
                    failed += 1;
                    println!(
                        "{asker:>6} -> http://{}/  UNEXPECTED {} {:?}",
                        rs.addr,
                        r.status,
                        r.first_line()
                    );
                }
                Err(e) => {
                    failed += 1;
                    println!("{asker:>6} -> http://{}/  FAILED: {e}", rs.addr);
                }
            }
        }
    }
    // The seed's story with vipd as the director (super::story), or the
    // ECMP one (super::ecmp_story).
    let story = if ecmp {
        super::ecmp_story::run(&guard)
    } else {
        super::story::run(&guard, rs_cpu)
    };
    if let Err(e) = &story {
        println!("\n== the seed's story FAILED: {e:#}");
        failed += 1;
    }
    let _ops = lab_ops();
    if keep {
        let lab = guard.keep();
        println!(
            "\nlab {} left up: vipd lab down --name {}",
            lab.name(),
            lab.name()
        );
    } else {
        guard.down()?;
        println!("\n== lab {name} removed");
    }
    if failed > 0 {
        bail!("{failed} request(s) failed");
    }
    Ok(())
}
