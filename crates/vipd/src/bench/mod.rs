//! `vipd bench`: a webbench-compatible HTTP load generator with latency
//! percentiles.
//!
//! webbench's semantics (a new connection per request unless `-k`, HTTP/1.0 by
//! default, `-c` clients for `-t` seconds) and its two summary lines, byte for
//! byte, then what webbench never had: HDR-histogram latency percentiles, errors
//! by kind, requests per second over time, `--json`, and a live progress line on
//! a terminal. A run is bounded by time and optionally by a request count, and
//! always stops by itself.
//!
//! The HTTP/1.x client is hand-rolled on tokio's `TcpStream` (the response parser
//! is the pure [`vipd_core::bench::response`]): a load generator must cost less
//! than the server it measures. docs/BENCHMARKS.md has its rate against `wrk`.

mod client;
pub mod compare;

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use vipd_core::bench::report::{webbench_rates, Interval, Latency, Report};
use vipd_core::bench::request::{HttpVersion, RequestSpec};
use vipd_core::bench::url::{Target, UrlError};

use client::Shared;

/// Errors that stop a bench run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The URL cannot be benchmarked.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The host name did not resolve.
    #[error("cannot resolve `{host}`: {source} (use an IP address, e.g. http://127.0.0.1:8080/)")]
    Resolve {
        /// Host as written in the URL.
        host: String,
        /// Resolver error.
        source: std::io::Error,
    },
    /// A numeric option is out of range.
    #[error("{0}")]
    Option(String),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

const AFTER_HELP: &str = "\
Output: webbench's lines first (`Speed=N pages/min, M bytes/sec.` and
`Requests: X susceed, Y failed.`), then requests/s, latency p50/p90/p99/p99.9/max
(connect included when a request opens its connection), failures by kind
(refused, reset, closed, timeout, bad status, protocol, other) and a per-second
timeline. Requests in flight at the time limit are counted as neither.

Examples:
  vipd bench -c 1000 -t 30 http://10.253.85.250/       the seed's webbench run
  vipd bench -k -c 64 -t 10 --json http://127.0.0.1:8080/
  vipd bench -c 8 --max-requests 10000 -t 60 http://127.0.0.1:8080/
  vipd bench -c 96 -t 10 http://10.253.26.1/ http://10.253.26.2/ http://10.253.26.3/
                                                       every real server, no director";

/// `vipd bench`: load an HTTP server the way webbench does, and report
/// throughput, latency percentiles and errors.
///
/// Prints webbench's two lines first (`Speed=N pages/min, M bytes/sec.` and
/// `Requests: X susceed, Y failed.`), so scripts written for webbench keep
/// working. Stops after SECONDS, or after --max-requests, whichever is first;
/// requests still in flight then are counted as neither.
///
/// Example, the seed's run: `vipd bench -c 1000 -t 30 http://10.253.85.250/`
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct BenchArgs {
    /// Concurrent clients, each with its own connection (webbench's -c).
    #[arg(
        short = 'c',
        long = "clients",
        default_value_t = 1,
        value_name = "CLIENTS"
    )]
    pub clients: u64,
    /// Run time in seconds; fractions allowed (webbench's -t).
    #[arg(
        short = 't',
        long = "time",
        default_value_t = 30.0,
        value_name = "SECONDS"
    )]
    pub time: f64,
    /// Keep connections open between requests (default: a new connection per
    /// request, as webbench). Implies HTTP/1.1 unless --http10 is given.
    #[arg(short = 'k', long = "keep-alive")]
    pub keep_alive: bool,
    /// Speak HTTP/1.0 (the default without -k; webbench's default).
    #[arg(long = "http10", conflicts_with = "http11")]
    pub http10: bool,
    /// Speak HTTP/1.1 (the default with -k); sends `Connection: close` without -k.
    #[arg(long = "http11")]
    pub http11: bool,
    /// Request method.
    #[arg(short = 'm', long = "method", default_value = "GET")]
    pub method: String,
    /// Send a body of this many bytes with each request (with Content-Length).
    #[arg(long = "body-size", default_value_t = 0, value_name = "N")]
    pub body_size: usize,
    /// Stop after this many requests in total (succeeded + failed).
    #[arg(long = "max-requests", value_name = "N")]
    pub max_requests: Option<u64>,
    /// Per-request timeout in seconds, connect included.
    #[arg(long = "timeout", default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Client threads, each with its own event loop (default: one per CPU).
    #[arg(long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Print the results as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The URL to load: http://HOST[:PORT]/PATH. With several, client N uses
    /// URL N mod their number: e.g. every real server at once, the baseline a
    /// load balancer in front of them is measured against.
    #[arg(required = true, num_args = 1.., value_name = "URL")]
    pub urls: Vec<String>,
}

/// A validated run description.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to send (to the first URL).
    pub spec: RequestSpec,
    /// Every URL; client N uses number N mod their count.
    pub targets: Vec<Target>,
    /// Concurrent clients.
    pub clients: u64,
    /// Time limit.
    pub time_limit: Duration,
    /// Request limit.
    pub max_requests: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Print a live progress line (only meaningful on a terminal).
    pub progress: bool,
    /// Client threads (each with its own event loop).
    pub threads: usize,
}

impl Options {
    /// Options from `vipd bench`'s arguments as written on a command line
    /// (without the program name): what scripts and tests call.
    pub fn from_command_line(args: &[&str]) -> Result<Options, String> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from(
            std::iter::once("bench").chain(args.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        Options::from_args(&cli.bench).map_err(|e| e.to_string())
    }

    /// Validate command-line arguments.
    pub fn from_args(a: &BenchArgs) -> Result<Options, BenchError> {
        let targets = a
            .urls
            .iter()
            .map(|u| Target::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(target) = targets.first().cloned() else {
            return Err(BenchError::Option("give at least one URL".into()));
        };
        if a.clients == 0 {
            return Err(BenchError::Option("-c/--clients must be at least 1".into()));
        }
        let secs = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1e7 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(BenchError::Option(format!(
                    "{what} must be a positive number of seconds, not {v}"
                )))
            }
        };
        if a.method.is_empty()
            || !a
                .method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(BenchError::Option(format!(
                "-m/--method `{}` is not an HTTP method token",
                a.method
            )));
        }
        let version = if a.http10 || (!a.http11 && !a.keep_alive) {
            HttpVersion::Http10
        } else {
            HttpVersion::Http11
        };
        Ok(Options {
            spec: RequestSpec {
                method: a.method.to_ascii_uppercase(),
                target,
                version,
                keep_alive: a.keep_alive,
                body_size: a.body_size,
            },
            targets,
            clients: a.clients,
            time_limit: secs("-t/--time", a.time)?,
            max_requests: a.max_requests,
            timeout: secs("--timeout", a.timeout)?,
            progress: !a.json && std::io::stdout().is_terminal(),
            threads: a
                .threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
                .max(1),
        })
    }

    /// The URLs, space-separated.
    pub fn urls(&self) -> String {
        let urls: Vec<String> = self.targets.iter().map(|t| t.to_string()).collect();
        urls.join(" ")
    }

    /// The banner webbench prints before it starts.
    pub fn banner(&self) -> String {
        let mut limit = format!("{} sec", self.time_limit.as_secs_f64());
        if let Some(n) = self.max_requests {
            limit.push_str(&format!(" or {n} requests"));
        }
        Report::banner(
            &self.spec.method,
            &self.urls(),
            self.spec.version.as_str(),
            self.clients,
            &limit,
        )
    }
}

/// Resolve the target to one socket address (the first the resolver returns).
pub async fn resolve(target: &Target) -> Result<SocketAddr, BenchError> {
    let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| BenchError::Resolve {
            host: target.host.clone(),
            source,
        })?;
    addrs.next().ok_or_else(|| BenchError::Resolve {
        host: target.host.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    })
}

/// Run a bench. The clients run on their own threads ([`Options::threads`]); the
/// calling runtime only keeps time.
pub async fn run(opts: &Options) -> Result<Report, BenchError> {
    let mut targets = Vec::with_capacity(opts.targets.len());
    for t in &opts.targets {
        let spec = RequestSpec {
            target: t.clone(),
            ..opts.spec.clone()
        };
        targets.push((resolve(t).await?, spec.to_bytes()));
    }
    let shards = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
    let shared = Arc::new(Shared::new(
        targets,
        opts.spec.is_head(),
        opts.spec.keep_alive,
        opts.timeout,
        opts.max_requests,
        shards,
    ));

    let start = Instant::now();
    let stop_at = start + opts.time_limit;
    let mut pool = ClientThreads::spawn(&shared, opts.clients, opts.threads)?;
    let timeline = Arc::new(std::sync::Mutex::new(Vec::<Interval>::new()));
    let sampler = tokio::spawn(sample(
        shared.clone(),
        timeline.clone(),
        start,
        opts.progress,
    ));

    tokio::select! {
        _ = tokio::time::sleep_until(stop_at) => {}
        _ = pool.all_done() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let end = Instant::now();
    // Freeze the counters at `end`: abort every client (their in-flight requests
    // are cut, and their latency batches are flushed as they drop).
    pool.stop().await;
    sampler.abort();
    let _ = sampler.await;
    if opts.progress {
        print!("\r\x1b[2K");
        let _ = std::io::stdout().flush();
    }

    let elapsed_s = (end - start).as_secs_f64();
    let succeeded = shared.ok.load(Relaxed);
    let errors = shared.errors();
    let failed = errors.total();
    let bytes = shared.bytes.load(Relaxed);
    let mut timeline = std::mem::take(&mut *timeline.lock().unwrap_or_else(|p| p.into_inner()));
    let (seen_ok, seen_failed) = timeline
        .iter()
        .fold((0, 0), |(o, f), i| (o + i.ok, f + i.failed));
    if succeeded > seen_ok || failed > seen_failed {
        timeline.push(Interval {
            end_s: elapsed_s,
            ok: succeeded - seen_ok,
            failed: failed - seen_failed,
        });
    }
    let h = shared.histogram();
    let latency_us = if h.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    };
    if let Some(e) = shared
        .first_other
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        eprintln!("note: first unclassified error: {e}");
    }
    let (pages_per_min, bytes_per_sec) = webbench_rates(succeeded, failed, bytes, elapsed_s);
    Ok(Report {
        url: opts.urls(),
        method: opts.spec.method.clone(),
        http_version: opts.spec.version.as_str().to_string(),
        keep_alive: opts.spec.keep_alive,
        clients: opts.clients,
        time_limit_s: opts.time_limit.as_secs_f64(),
        max_requests: opts.max_requests,
        elapsed_s,
        succeeded,
        failed,
        bytes,
        pages_per_min,
        bytes_per_sec,
        requests_per_sec: if elapsed_s > 0.0 {
            succeeded as f64 / elapsed_s
        } else {
            0.0
        },
        latency_us,
        errors,
        cut_at_end: shared.cut_at_end.load(Relaxed),
        retried: shared.retried.load(Relaxed),
        timeline,
    })
}

/// The clients, spread over `threads` OS threads that each run a single-thread
/// tokio runtime with its own epoll and timers, like wrk's one event loop per
/// thread. Measured against one multi-thread runtime, this keeps the bench's rate
/// at wrk's: with the shared runtime every IO event of a closed-loop client waited
/// for whichever worker next polled the one shared driver (docs/BENCHMARKS.md).
#[derive(Debug)]
struct ClientThreads {
    stop: tokio::sync::watch::Sender<bool>,
    done: tokio::sync::mpsc::Receiver<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ClientThreads {
    fn spawn(
        shared: &Arc<Shared>,
        clients: u64,
        threads: usize,
    ) -> Result<ClientThreads, BenchError> {
        let threads = threads.clamp(1, clients.max(1) as usize);
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (done_tx, done) = tokio::sync::mpsc::channel(threads);
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(BenchError::Runtime)?;
            let ids: Vec<usize> = (0..clients as usize)
                .filter(|id| id % threads == t)
                .collect();
            let (shared, mut stop_rx, done_tx) = (shared.clone(), stop_rx.clone(), done_tx.clone());
            let h = std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn(move || {
                    rt.block_on(async move {
                        let mut set = JoinSet::new();
                        for id in ids {
                            set.spawn(client::run_client(shared.clone(), id));
                        }
                        let mut finished = false;
                        tokio::select! {
                            _ = async { while set.join_next().await.is_some() {} } => finished = true,
                            _ = stop_rx.wait_for(|stop| *stop) => {}
                        }
                        if finished {
                            let _ = done_tx.send(()).await;
                            let _ = stop_rx.wait_for(|stop| *stop).await;
                        }
                        set.abort_all();
                        while set.join_next().await.is_some() {}
                    });
                })
                .map_err(BenchError::Runtime)?;
            handles.push(h);
        }
        Ok(ClientThreads {
            stop,
            done,
            threads: handles,
        })
    }

    /// Resolves when every client has used up its request budget.
    async fn all_done(&mut self) {
        for _ in 0..self.threads.len() {
            if self.done.recv().await.is_none() {
                return;
            }
        }
    }

    /// Abort every client and wait for the threads to end.
    async fn stop(self) {
        let _ = self.stop.send(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Once a second: append the second's completions to the timeline, and redraw
/// the progress line when asked to.
async fn sample(
    shared: Arc<Shared>,
    timeline: Arc<std::sync::Mutex<Vec<Interval>>>,
    start: Instant,
    progress: bool,
) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let (mut last_ok, mut last_failed) = (0, 0);
    loop {
        let at = tick.tick().await;
        let (ok, failed) = (shared.ok.load(Relaxed), shared.failed());
        let end_s = (at - start).as_secs_f64();
        let iv = Interval {
            end_s,
            ok: ok - last_ok,
            failed: failed - last_failed,
        };
        (last_ok, last_failed) = (ok, failed);
        timeline.lock().unwrap_or_else(|p| p.into_inner()).push(iv);
        if progress {
            print!(
                "\r\x1b[2K{end_s:>5.0}s  {ok} ok  {failed} failed  {} req/s",
                iv.ok
            );
            let _ = std::io::stdout().flush();
        }
    }
}

/// Entry point of `vipd bench`: builds the runtime, runs, prints.
pub fn main(args: &BenchArgs) -> anyhow::Result<()> {
    let opts = Options::from_args(args)?;
    raise_fd_limit(opts.clients);
    // This runtime only keeps time and prints progress: the clients run on their
    // own threads (see ClientThreads).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    if !args.json {
        println!("{}", opts.banner());
    }
    let report = rt.block_on(run(&opts))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Each client holds a socket: lift the soft open-files limit toward the hard
/// one when the default (often 1024) would not fit them.
fn raise_fd_limit(clients: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = clients.saturating_add(64);
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < want {
            let new = want.min(hard);
            if setrlimit(Resource::RLIMIT_NOFILE, new, hard).is_err() || new < want {
                eprintln!("warning: open-files limit {new} is below {want}: some clients will fail (ulimit -n)");
            }
        }
    }
}
