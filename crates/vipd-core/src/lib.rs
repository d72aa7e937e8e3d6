//! vipd-core: everything vipd *decides*, with no IO.
//!
//! This crate never touches a socket, a file, the clock or the kernel: it takes
//! inputs (configuration text, packets, timestamps given by the caller) and returns
//! outputs (a typed model, actions to perform, tables to write). That keeps every
//! decision deterministic and testable in milliseconds without root. The `vipd`
//! crate is the thin IO shell around it.
//!
//! # Layout
//!
//! Modules are added by the issues that build them:
//! - `announce`: which VIPs an active-active director announces (`vipd_announce`), and why.
//! - `config`: keepalived.conf lexer, preprocessor, parser, typed model, diagnostics.
//! - `conntable`: what the connection tables' counters say (evictions, floods).
//! - `vrrp`: VRRP v2/v3 packets and the sans-IO instance state machine.
//! - `sched`: schedulers and Maglev: (reals, weights) -> lookup tables.
//! - `check`: health-check verdicts (retry, delay_before_retry, alpha, quorum).
//! - `plan`: desired state -> data-plane tables.
//! - `bench`: the pure half of `vipd bench` (URL, request, response parser, report).
//! - `director`: the director's desired state from the config model (health specs, data-plane specs).
//! - `reload`: what a configuration reload changes (config diff).
//! - `overload`: uthreshold / lthreshold (IPVS's overloaded real servers).
//! - `lab`: the lab's nodes, names and addresses (`vipd lab` builds them).
//! - `restart`: what a vipd stopping for a restart tells the next one (SIGQUIT).
//! - `scripts`: which scripts `enable_script_security` lets vipd run.
//! - `statics`: static_ipaddress / static_routes / static_rules as `ip` commands.
//! - `sync`: connection sharing between directors (wire format, auth, replay, batching).
#![forbid(unsafe_code)]

pub mod announce;
pub mod bench;
pub mod check;
pub mod config;
pub mod conntable;
pub mod director;
pub mod lab;
pub mod overload;
pub mod plan;
pub mod realserver;
pub mod reload;
pub mod restart;
pub mod sched;
pub mod scripts;
pub mod statics;
pub mod sync;
pub mod vrrp;
