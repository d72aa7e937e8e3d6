//! Health-check probes: the IO half of vipd's checkers.
//!
//! A probe runs one check against one real server and reports an
//! [`Outcome`] (pass or fail, and why); what a run of outcomes *means* (retries,
//! alpha, quorum...) is decided by the pure state machines of
//! [`vipd_core::check`]. Every probe is an async function bounded by its
//! `connect_timeout` (a server that accepts and then hangs fails, it does not
//! stall anything), and [`driver::HealthDriver`] runs the probes of all real
//! servers concurrently, each in its own task.
//!
//! # Layout
//! - [`tcp`] — TCP_CHECK, and the bind/connect helper every TCP probe uses.
//! - [`http`] — HTTP_GET and SSL_GET, and `vipd genhash`.
//! - [`tls`] — rustls client configurations (certificate not verified unless asked).
//! - [`misc`] — MISC_CHECK: run a program, as `script_user`, with a timeout.
//! - [`dns`] — DNS_CHECK over UDP.
//! - [`udp`] — UDP_CHECK.
//! - [`ping`] — PING_CHECK (ICMP / ICMPv6 echo over a raw socket, or a ping socket).
//! - [`driver`] — runs the checkers of services, feeding [`ServiceHealth`].
//! - [`genhash`] — `vipd genhash`, keepalived's digest tool.
//!
//! [`ServiceHealth`]: vipd_core::check::ServiceHealth

pub mod dns;
pub mod driver;
pub mod genhash;
pub mod http;
pub mod misc;
pub mod ping;
pub mod smtp;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::sync::Arc;
use std::time::Duration;

use vipd_core::check::{CheckKind, CheckerSpec, Outcome};

/// Errors of the probe layer that are not a verdict about a real server: they
/// say vipd could not even try.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A TLS configuration could not be built (bad CA file, no roots).
    #[error("TLS setup for SSL_GET failed: {0}")]
    Tls(String),
}

/// Runs probes. Cheap to clone; holds the TLS configurations shared by every
/// SSL_GET so that they are built once.
#[derive(Debug, Clone)]
pub struct Prober {
    tls: Arc<tls::TlsConfigs>,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    /// A prober with no verified TLS roots loaded yet (they load on first use).
    pub fn new() -> Self {
        Prober {
            tls: Arc::new(tls::TlsConfigs::default()),
        }
    }

    /// Run the check `spec` once and judge it. Never takes (much) longer than the
    /// checker's timeout: `connect_timeout` for network checks, `misc_timeout`
    /// (default `delay_loop`) for MISC_CHECK.
    pub async fn run(&self, spec: &CheckerSpec) -> Outcome {
        let timeout = spec.connect.connect_timeout;
        let bounded = match &spec.kind {
            // These bound themselves: their timeout is a verdict of its own.
            // MISC_CHECK kills what it started; a silent UDP server passes
            // unless require_reply.
            CheckKind::Misc(m) => return misc::probe(m, spec.timing.delay_loop).await,
            CheckKind::Udp(u) => return udp::probe(&spec.connect, u, timeout).await,
            // A file read: a missing or unreadable file counts as 0.
            CheckKind::File(f) => {
                let text = tokio::fs::read(&f.path).await.ok().map(|b| {
                    let n = b.len().min(127); // keepalived reads at most 127 bytes
                    String::from_utf8_lossy(&b[..n]).into_owned()
                });
                return vipd_core::check::file::judge(f, text.as_deref());
            }
            CheckKind::Tcp => tokio::time::timeout(timeout, tcp::probe(&spec.connect)).await,
            CheckKind::Http(h) => {
                tokio::time::timeout(timeout, http::probe(&spec.connect, h, &self.tls)).await
            }
            CheckKind::Dns(d) => tokio::time::timeout(timeout, dns::probe(&spec.connect, d)).await,
            CheckKind::Ping => tokio::time::timeout(timeout, ping::probe(&spec.connect)).await,
            CheckKind::Smtp { helo_name } => {
                tokio::time::timeout(timeout, smtp::probe(&spec.connect, helo_name)).await
            }
        };
        bounded.unwrap_or_else(|_| Outcome::fail(format!("timed out after {}", secs(timeout))))
    }
}

/// `3s`, `1.5s`: a duration as an operator reads it in a log line.
pub(crate) fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}
