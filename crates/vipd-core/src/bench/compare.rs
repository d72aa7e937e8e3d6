//! The side-by-side comparison's arithmetic: whole-machine CPU from `/proc/stat`,
//! `wrk`'s output, medians per configuration, the director's overhead per request
//! (machine CPU per request minus the direct run's), and the Markdown table.
//!
//! Why whole-machine CPU: XDP and netfilter work runs in softirq on whichever CPU
//! took the interrupt, which no per-process account sees. The lab's client,
//! director and real servers share the machine's cores, so the direct run's
//! figure (client + real server + router) is subtracted to leave the director's.

use std::fmt::Write as _;

use serde::Serialize;

/// Aggregate CPU time from the first line of `/proc/stat`, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal (guest time is inside user).
    pub busy: u64,
    /// idle + iowait.
    pub idle: u64,
}

impl CpuTimes {
    /// Parse `/proc/stat` text; `None` when its `cpu ` line is missing or short.
    pub fn parse(proc_stat: &str) -> Option<CpuTimes> {
        let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map_while(|f| f.parse().ok())
            .collect();
        if v.len() < 7 {
            return None;
        }
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(CpuTimes {
            busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
            idle: at(3) + at(4),
        })
    }

    /// Busy ticks between two samples.
    pub fn busy_since(&self, earlier: &CpuTimes) -> u64 {
        self.busy.saturating_sub(earlier.busy)
    }
}

/// utime + stime of one process, in ticks, from `/proc/PID/stat` text.
pub fn proc_pid_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15).
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Why `wrk`'s output could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrkParseError {
    /// A line the summary always has is missing.
    #[error("wrk output has no `{0}` line (was wrk run with --latency?)")]
    Missing(&'static str),
}

/// What `wrk --latency` reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WrkResult {
    /// Completed requests (any status).
    pub requests: u64,
    /// `Requests/sec:`.
    pub requests_per_sec: f64,
    /// Socket errors (connect + read + write + timeout) plus non-2xx/3xx responses.
    pub errors: u64,
    /// 50th percentile latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
}

/// Parse the text `wrk --latency` prints.
pub fn parse_wrk(out: &str) -> Result<WrkResult, WrkParseError> {
    let mut r = WrkResult::default();
    let (mut rps, mut reqs) = (None, None);
    for line in out.lines().map(str::trim) {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("Requests/sec:") => rps = f.next().and_then(|v| v.parse().ok()),
            Some("50%") => r.p50_us = f.next().and_then(duration_us).unwrap_or(0),
            Some("99%") => r.p99_us = f.next().and_then(duration_us).unwrap_or(0),
            Some("Socket") => {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                r.errors += line
                    .split(',')
                    .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                    .sum::<u64>();
            }
            Some("Non-2xx") => {
                r.errors += line
                    .split_whitespace()
                    .last()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            }
            Some(n) if line.contains(" requests in ") => reqs = n.parse().ok(),
            _ => {}
        }
    }
    r.requests_per_sec = rps.ok_or(WrkParseError::Missing("Requests/sec:"))?;
    r.requests = reqs.ok_or(WrkParseError::Missing("N requests in"))?;
    Ok(r)
}

/// `1.21ms`, `830.00us`, `2.01s` -> microseconds.
fn duration_us(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| (v * mult).round() as u64)
}

/// One measured run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Run {
    /// Configuration name (e.g. `direct`, `haproxy`, `nftables`).
    pub config: String,
    /// `keep-alive` or `new-conn`.
    pub mode: String,
    /// Load generator (`vipd bench` or `wrk`).
    pub tool: String,
    /// Round number, from 1.
    pub round: u32,
    /// Succeeded requests per second.
    pub requests_per_sec: f64,
    /// Requests completed (succeeded + failed).
    pub requests: u64,
    /// Failed requests.
    pub failed: u64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
    /// Machine CPU per request, microseconds, after subtracting the background
    /// load measured just before the run.
    pub cpu_us_per_req: f64,
    /// The background load subtracted, in CPUs busy (0.0 .. cores).
    pub background_cpus: f64,
    /// CPU per request of the lab's own processes (load generator, real servers'
    /// httpd, HAProxy) plus the ksoftirqd threads: blind to softirq work done
    /// while another process was interrupted, but unaffected by other load.
    pub lab_cpu_us_per_req: f64,
    /// Failed requests by cause (`vipd bench` runs; wrk only counts them).
    #[serde(default)]
    pub errors: crate::bench::report::Errors,
}

/// Machine CPU microseconds per request: `busy_ticks` over `elapsed_s`, minus
/// `background_cpus` x `elapsed_s`, divided by `requests`.
pub fn cpu_us_per_request(
    busy_ticks: u64,
    ticks_per_s: u64,
    elapsed_s: f64,
    background_cpus: f64,
    requests: u64,
) -> f64 {
    if requests == 0 || ticks_per_s == 0 {
        return f64::NAN;
    }
    let busy_us = busy_ticks as f64 * 1e6 / ticks_per_s as f64;
    let bg_us = background_cpus * elapsed_s * 1e6;
    (busy_us - bg_us).max(0.0) / requests as f64
}

/// Median of a slice (NaN when empty); NaN values are ignored.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The medians of one configuration in one mode over all rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Configuration.
    pub config: String,
    /// Mode.
    pub mode: String,
    /// Load generator.
    pub tool: String,
    /// Rounds measured.
    pub rounds: usize,
    /// Median requests/s.
    pub requests_per_sec: f64,
    /// Failed requests, all rounds.
    pub failed: u64,
    /// Median p50, microseconds.
    pub p50_us: f64,
    /// Median p99, microseconds.
    pub p99_us: f64,
    /// Median machine CPU per request, microseconds.
    pub cpu_us_per_req: f64,
    /// Median background load during the runs, CPUs.
    pub background_cpus: f64,
    /// Median CPU per request of the lab's processes and ksoftirqd, microseconds.
    pub lab_cpu_us_per_req: f64,
    /// `lab_cpu_us_per_req` minus the direct run's.
    pub lab_overhead_us: f64,
    /// `cpu_us_per_req` minus the direct run's (same tool and mode); the
    /// director's cost per request. NaN for the direct run itself.
    pub overhead_us: f64,
}

/// Summaries in first-seen order of (config, mode, tool), with overhead against
/// `direct_config` measured by the same tool in the same mode.
pub fn summarize(runs: &[Run], direct_config: &str) -> Vec<Summary> {
    let mut keys: Vec<(String, String, String)> = Vec::new();
    for r in runs {
        let k = (r.config.clone(), r.mode.clone(), r.tool.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out: Vec<Summary> = keys
        .into_iter()
        .map(|(config, mode, tool)| {
            let rs: Vec<&Run> = runs
                .iter()
                .filter(|r| r.config == config && r.mode == mode && r.tool == tool)
                .collect();
            let med = |f: fn(&Run) -> f64| median(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
            Summary {
                rounds: rs.len(),
                requests_per_sec: med(|r| r.requests_per_sec),
                failed: rs.iter().map(|r| r.failed).sum(),
                p50_us: med(|r| r.p50_us as f64),
                p99_us: med(|r| r.p99_us as f64),
                cpu_us_per_req: med(|r| r.cpu_us_per_req),
                background_cpus: med(|r| r.background_cpus),
                lab_cpu_us_per_req: med(|r| r.lab_cpu_us_per_req),
                overhead_us: f64::NAN,
                lab_overhead_us: f64::NAN,
                config,
                mode,
                tool,
            }
        })
        .collect();
    let direct: Vec<(String, String, f64, f64)> = out
        .iter()
        .filter(|s| s.config == direct_config)
        .map(|s| {
            (
                s.mode.clone(),
                s.tool.clone(),
                s.cpu_us_per_req,
                s.lab_cpu_us_per_req,
            )
        })
        .collect();
    for s in out.iter_mut().filter(|s| s.config != direct_config) {
        if let Some((_, _, d, l)) = direct
            .iter()
            .find(|(m, t, _, _)| *m == s.mode && *t == s.tool)
        {
            s.overhead_us = s.cpu_us_per_req - d;
            s.lab_overhead_us = s.lab_cpu_us_per_req - l;
        }
    }
    out
}

/// The Markdown table of summaries.
pub fn markdown_table(summaries: &[Summary]) -> String {
    let mut s = String::from(
        "| config | mode | load generator | req/s | failed | p50 ms | p99 ms | machine CPU us/req | overhead vs direct | background CPUs | lab-process CPU us/req | overhead vs direct |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let num = |v: f64, digits: usize| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{v:.digits$}")
        }
    };
    let signed = |v: f64| {
        if v.is_nan() {
            "-".to_string()
        } else {
            format!("{v:+.1} us")
        }
    };
    for r in summaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.config,
            r.mode,
            r.tool,
            thousands(r.requests_per_sec),
            r.failed,
            num(r.p50_us / 1000.0, 2),
            num(r.p99_us / 1000.0, 2),
            num(r.cpu_us_per_req, 1),
            signed(r.overhead_us),
            num(r.background_cpus, 2),
            num(r.lab_cpu_us_per_req, 1),
            signed(r.lab_overhead_us),
        );
    }
    s
}

/// `47960` -> `47,960` (NaN -> `-`).
pub fn thousands(v: f64) -> String {
    if v.is_nan() {
        return "-".into();
    }
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy_includes_softirq_and_steal() {
        let s = "cpu  100 5 50 1000 20 3 7 2 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1\n";
        let c = CpuTimes::parse(s).unwrap();
        assert_eq!(
            c,
            CpuTimes {
                busy: 100 + 5 + 50 + 3 + 7 + 2,
                idle: 1020
            }
        );
        assert_eq!(CpuTimes::parse("cpu0 1 2 3"), None);
        let later = CpuTimes {
            busy: c.busy + 40,
            idle: 0,
        };
        assert_eq!(later.busy_since(&c), 40);
    }

    #[test]
    fn pid_stat_cpu() {
        let s =
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 70 30 0 0 20 0 1 0 100 0 0";
        assert_eq!(proc_pid_cpu_ticks(s), Some(100));
        assert_eq!(proc_pid_cpu_ticks("garbage"), None);
    }

    #[test]
    fn wrk_output() {
        let out = "Running 10s test @ http://10.253.26.1/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.26ms    1.09ms   9.79ms   84.06%
    Req/Sec    24.12k     2.01k   30.00k    70.00%
  Latency Distribution
     50%  830.00us
     75%    1.21ms
     90%    2.00ms
     99%    5.12ms
  482400 requests in 10.00s, 380.20MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  48240.00
Transfer/sec:     38.02MB
";
        let r = parse_wrk(out).unwrap();
        assert_eq!(
            (r.requests, r.p50_us, r.p99_us, r.errors),
            (482_400, 830, 5120, 10)
        );
        assert_eq!(r.requests_per_sec, 48240.0);
        assert!(parse_wrk("nothing").is_err());
        assert_eq!(duration_us("2.01s"), Some(2_010_000));
    }

    fn run(config: &str, mode: &str, rps: f64, cpu: f64) -> Run {
        Run {
            config: config.into(),
            mode: mode.into(),
            tool: "vipd bench".into(),
            round: 1,
            requests_per_sec: rps,
            requests: 100,
            failed: 1,
            p50_us: 1000,
            p99_us: 3000,
            cpu_us_per_req: cpu,
            background_cpus: 0.0,
            lab_cpu_us_per_req: cpu / 2.0,
            errors: Default::default(),
        }
    }

    #[test]
    fn overhead_is_against_direct_in_the_same_mode() {
        let runs = vec![
            run("direct", "new-conn", 18000.0, 96.0),
            run("direct", "new-conn", 19000.0, 98.0),
            run("direct", "new-conn", 17000.0, 94.0),
            run("direct", "keep-alive", 48000.0, 37.0),
            run("haproxy", "new-conn", 8000.0, 214.0),
            run("haproxy", "keep-alive", 36000.0, 51.0),
        ];
        let s = summarize(&runs, "direct");
        assert_eq!(s.len(), 4);
        assert_eq!(
            (
                s[0].rounds,
                s[0].requests_per_sec,
                s[0].cpu_us_per_req,
                s[0].failed
            ),
            (3, 18000.0, 96.0, 3)
        );
        assert!(s[0].overhead_us.is_nan());
        assert_eq!(s[2].overhead_us, 214.0 - 96.0);
        assert_eq!(s[3].overhead_us, 51.0 - 37.0);
        let t = markdown_table(&s);
        assert!(
            t.contains(
                "| haproxy | new-conn | vipd bench | 8,000 | 1 | 1.00 | 3.00 | 214.0 | +118.0 us |"
            ),
            "{t}"
        );
    }

    #[test]
    fn cpu_per_request_subtracts_background() {
        // 2 s at 100 ticks/s, 300 ticks busy = 3 CPU-seconds; background 0.5 CPU.
        let us = cpu_us_per_request(300, 100, 2.0, 0.5, 20_000);
        assert!((us - (3e6 - 1e6) / 20_000.0).abs() < 1e-9);
        assert!(cpu_us_per_request(1, 100, 1.0, 0.0, 0).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(thousands(1234567.4), "1,234,567");
    }
}
