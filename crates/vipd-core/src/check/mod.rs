//! Health-check verdicts: keepalived's checker semantics as pure state machines.
//!
//! A *probe* does IO and says pass or fail (`vipd::probe`); a *verdict* decides
//! what a run of probe results means (this module), the split pingora's
//! `health_check.rs` makes between `check()` and `observe()`. Nothing here touches
//! a socket or reads a clock: time is a [`std::time::Duration`] since an epoch the
//! caller picks, and randomness (warmup jitter) comes from a caller-given seed.
//!
//! # Layout
//! - [`spec`]: what to check: [`CheckerSpec`], [`RealSpec`], [`ServiceSpec`], with
//!   keepalived's defaults.
//! - [`checker`]: one checker's state machine ([`Checker`]): retry,
//!   delay_before_retry, delay_loop, warmup, alpha.
//! - [`service`]: one virtual service ([`ServiceHealth`]): real servers up only
//!   when all their checkers pass, `misc_dynamic` weights, inhibit_on_failure,
//!   quorum with hysteresis, sorry server, notify scripts, ha_suspend, omega;
//!   output is a [`ServicePlan`] (the desired table) plus [`Event`]s.
//! - [`from_config`]: the configuration model ([`crate::config`]) as specs, with
//!   keepalived's inheritance and per-checker defaults.
//! - [`endpoint`]: a probe's target and source addresses from `connect_ip`,
//!   `bindto`, `bind_port` and `bind_if` (families, IPv6 link-local scope).
//! - [`http`], [`dns`]: the protocol parts of HTTP_GET/SSL_GET and DNS_CHECK that
//!   need no socket (requests, reply judgement, keepalived's body digest).
//!
//! # Driving it
//! ```
//! use std::time::Duration;
//! use vipd_core::check::*;
//!
//! let rip = "10.253.26.1:80".parse().unwrap();
//! let mut real = RealSpec::new(rip);
//! real.checkers.push(CheckerSpec {
//!     kind: CheckKind::Tcp,
//!     connect: ConnectSpec::to(rip),
//!     timing: CheckTiming { alpha: true, ..CheckTiming::keepalived_default(Duration::from_secs(6)) },
//! });
//! let mut svc = ServiceHealth::new(ServiceSpec::new("vs", vec![real]));
//! svc.start(Duration::ZERO, 42);
//! assert!(svc.plan().reals.is_empty()); // alpha: down until a check passes
//! let now = svc.poll_timeout().unwrap();
//! for id in svc.due_probes(now) {
//!     // ... run the probe described by svc.checker_spec(id) ...
//!     for event in svc.handle_outcome(now, id, &Outcome::pass()) {
//!         println!("{event}"); // "vs: real server 10.253.26.1:80 is up (TCP_CHECK succeeded)"
//!     }
//! }
//! assert_eq!(svc.plan().reals.len(), 1);
//! ```

pub mod checker;
pub mod dns;
pub mod endpoint;
pub mod file;
pub mod from_config;
pub mod http;
pub mod service;
pub mod smtp;
pub mod spec;

pub use checker::{Checker, Outcome, Verdict};
pub use service::{
    CheckerStatus, Event, PlannedReal, ProbeId, RealStatus, ServiceHealth, ServicePlan,
    ServiceStatus,
};
pub use spec::{
    CheckKind, CheckTiming, CheckerSpec, ConnectSpec, DnsSpec, DnsType, HttpProtocol, HttpSpec,
    MiscSpec, RealSpec, ServiceSpec, SorrySpec, UdpSpec, UrlSpec,
};
