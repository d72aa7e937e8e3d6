//! vipd: the IO shell around `vipd-core`.
//!
//! One binary, `vipd`, with subcommands; this library holds the modules so that
//! integration tests can drive them directly.
pub mod datapath;

pub mod bench;
pub mod config_check;
pub mod config_io;
pub mod ctl;
pub mod daemon;
pub mod generate;
pub mod httpd;
pub mod lab;
pub mod probe;
pub mod realserver;
pub mod sysctl;
pub mod vrrp_io;
