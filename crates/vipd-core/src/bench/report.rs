//! A bench run's results, and their text: webbench's two summary lines first,
//! byte for byte, then what webbench never had.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Failed requests by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Errors {
    /// Connect refused (RST to the SYN): nothing listens, or the server is gone.
    pub refused: u64,
    /// Connection reset (or broken pipe) while sending or receiving.
    pub reset: u64,
    /// The server closed the connection (FIN) before the response was complete.
    pub closed: u64,
    /// No complete response within the per-request timeout (connect included).
    pub timeout: u64,
    /// A complete response whose status was not 2xx or 3xx.
    pub bad_status: u64,
    /// A response that is not valid HTTP/1.x.
    pub protocol: u64,
    /// Anything else (e.g. no route, ephemeral ports exhausted).
    pub other: u64,
}

impl Errors {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.refused
            + self.reset
            + self.closed
            + self.timeout
            + self.bad_status
            + self.protocol
            + self.other
    }
}

/// Latency percentiles in microseconds (request start, connect included when a
/// request opens its connection, to the last byte of the response).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    #[serde(rename = "p99_9")]
    pub p99_9: u64,
    /// Slowest request.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// Completions in one interval of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Seconds since the start at the end of the interval.
    pub end_s: f64,
    /// Requests that succeeded in the interval.
    pub ok: u64,
    /// Requests that failed in the interval.
    pub failed: u64,
}

/// Everything a run measured; `--json` prints exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The URL benchmarked.
    pub url: String,
    /// Request method.
    pub method: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub http_version: String,
    /// Whether connections were reused (`-k`).
    pub keep_alive: bool,
    /// Concurrent clients.
    pub clients: u64,
    /// Time limit asked for, in seconds.
    pub time_limit_s: f64,
    /// Request limit asked for, if any.
    pub max_requests: Option<u64>,
    /// Time the run actually took, in seconds; the rates below divide by it.
    pub elapsed_s: f64,
    /// Requests that got a complete 2xx/3xx response.
    pub succeeded: u64,
    /// Requests that failed (sum of `errors`).
    pub failed: u64,
    /// Bytes received (heads and bodies).
    pub bytes: u64,
    /// webbench's `Speed=`: (succeeded + failed) per minute.
    pub pages_per_min: u64,
    /// webbench's bytes/sec.
    pub bytes_per_sec: u64,
    /// Succeeded requests per second.
    pub requests_per_sec: f64,
    /// Latency of succeeded requests.
    pub latency_us: Latency,
    /// Failed requests by cause.
    pub errors: Errors,
    /// Requests still in flight when the time ran out: neither succeeded nor
    /// failed (as in webbench, the clock cut them short, not the server).
    pub cut_at_end: u64,
    /// Requests retried once on a fresh connection because a reused keep-alive
    /// connection had been closed by the server before the request reached it.
    pub retried: u64,
    /// Completions per second of the run (the last interval may be shorter).
    pub timeline: Vec<Interval>,
}

/// webbench's pages/min and bytes/sec. webbench counts failed requests in
/// `Speed=`, and so do we, so that its users' scripts read the same figure.
pub fn webbench_rates(succeeded: u64, failed: u64, bytes: u64, elapsed_s: f64) -> (u64, u64) {
    if elapsed_s <= 0.0 {
        return (0, 0);
    }
    let pages = ((succeeded + failed) as f64 * 60.0 / elapsed_s) as u64;
    (pages, (bytes as f64 / elapsed_s) as u64)
}

impl Report {
    /// webbench's two summary lines, exactly as webbench 1.5 prints them
    /// (including its spelling, `susceed`).
    pub fn webbench_lines(&self) -> String {
        format!(
            "Speed={} pages/min, {} bytes/sec.\nRequests: {} susceed, {} failed.\n",
            self.pages_per_min, self.bytes_per_sec, self.succeeded, self.failed
        )
    }

    /// The header webbench prints before running, so logs look familiar.
    pub fn banner(method: &str, url: &str, version: &str, clients: u64, limit: &str) -> String {
        format!("Benchmarking: {method} {url} ({version})\n{clients} clients, running {limit}.\n")
    }

    /// The full text report: webbench's lines, then latency, errors, timeline.
    pub fn to_text(&self) -> String {
        let mut s = self.webbench_lines();
        let ms = |us: u64| us as f64 / 1000.0;
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "\nRequests/sec: {:.1} over {:.2} s ({})",
            self.requests_per_sec,
            self.elapsed_s,
            if self.keep_alive {
                "keep-alive"
            } else {
                "new connection per request"
            }
        );
        let _ = writeln!(
            s,
            "Latency ms:   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p99_9),
            ms(l.max),
            l.mean / 1000.0
        );
        let e = &self.errors;
        let _ = writeln!(
            s,
            "Errors:       refused {}  reset {}  closed {}  timeout {}  bad status {}  protocol {}  other {}",
            e.refused, e.reset, e.closed, e.timeout, e.bad_status, e.protocol, e.other
        );
        if self.cut_at_end > 0 || self.retried > 0 {
            let _ = writeln!(
                s,
                "Not counted:  {} in flight at the time limit, {} retried on a fresh connection",
                self.cut_at_end, self.retried
            );
        }
        if !self.timeline.is_empty() {
            s.push_str("Per second (ok/failed):\n");
            for row in self.timeline.chunks(6) {
                let mut line = String::new();
                for iv in row {
                    let _ = write!(line, "  {:>6.1}s {:>7}/{:<4}", iv.end_s, iv.ok, iv.failed);
                }
                let _ = writeln!(s, "{}", line.trim_end());
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webbench_lines_match_webbench() {
        // The seed's direct run: webbench -c 1000 -t 30 -> 465,536 pages/min with
        // 232,710 ok and 58 failed; that is (232710 + 58) * 2 = 465,536.
        let (pages, bps) = webbench_rates(232_710, 58, 30_000_000, 30.0);
        assert_eq!(pages, 465_536);
        assert_eq!(bps, 1_000_000);
        let r = Report {
            url: "http://x/".into(),
            method: "GET".into(),
            http_version: "HTTP/1.0".into(),
            keep_alive: false,
            clients: 1000,
            time_limit_s: 30.0,
            max_requests: None,
            elapsed_s: 30.0,
            succeeded: 232_710,
            failed: 58,
            bytes: 30_000_000,
            pages_per_min: pages,
            bytes_per_sec: bps,
            requests_per_sec: 7757.0,
            latency_us: Latency::default(),
            errors: Errors {
                refused: 58,
                ..Errors::default()
            },
            cut_at_end: 0,
            retried: 0,
            timeline: vec![Interval {
                end_s: 1.0,
                ok: 7000,
                failed: 2,
            }],
        };
        let text = r.to_text();
        assert!(text.starts_with(
            "Speed=465536 pages/min, 1000000 bytes/sec.\nRequests: 232710 susceed, 58 failed.\n"
        ));
        assert!(text.contains("refused 58"));
        assert!(text.contains("p99.9"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["errors"]["refused"], 58);
        assert_eq!(json["latency_us"]["p99_9"], 0);
        assert_eq!(r.errors.total(), 58);
    }

    #[test]
    fn zero_elapsed_is_zero_rate() {
        assert_eq!(webbench_rates(5, 0, 5, 0.0), (0, 0));
    }
}
