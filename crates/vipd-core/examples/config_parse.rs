//! Peak-memory and wall-time measurement of the config front end:
//!
//!     cargo run --release -p vipd-core --example config_parse -- gen 1000 100 > /tmp/big.conf
//!     /usr/bin/time -v target/release/examples/config_parse parse /tmp/big.conf
//!
//! `parse` reads the file, parses it once and prints counts and the time taken.

use std::time::Instant;
use vipd_core::config;

#[path = "../benches/support/synthetic.rs"]
mod synthetic;
use synthetic::synthetic;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let vs = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
            let rs = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
            print!("{}", synthetic(vs, rs));
        }
        Some("parse") if args.len() > 2 => {
            let text = std::fs::read_to_string(&args[2]).expect("read config");
            let t = Instant::now();
            let l = config::parse_str(&args[2], &text);
            let dt = t.elapsed();
            let rs: usize = l
                .config
                .virtual_servers
                .iter()
                .map(|v| v.real_servers.len())
                .sum();
            println!(
                "{} bytes, {} virtual servers, {} real servers, {} errors, {} warnings, parsed in {:.1} ms",
                text.len(),
                l.config.virtual_servers.len(),
                rs,
                l.diagnostics.error_count(),
                l.diagnostics.warning_count(),
                dt.as_secs_f64() * 1000.0
            );
        }
        _ => eprintln!("usage: config_parse gen [VS] [RS] | parse FILE"),
    }
}
