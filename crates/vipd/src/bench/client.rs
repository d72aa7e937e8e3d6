//! One bench client: a task that sends the request again and again on its own
//! connection (a new one per request unless keep-alive), and the counters all
//! clients share.
//!
//! Each client keeps its latencies in a small local batch and adds them to one of
//! a few shared histograms now and then, so clients do not contend on a lock per
//! request. The batch is also flushed when the task is dropped, which is how the
//! run ends at its time limit (the tasks are aborted mid-request).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use vipd_core::bench::report::Errors;
use vipd_core::bench::response::{Parser, Progress, ResponseError};

/// Latencies a client collects before it takes a shared histogram's lock.
const BATCH: usize = 256;
/// Longest a client keeps counts to itself.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Highest latency the histograms hold (one hour, in microseconds).
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Read buffer per client.
const READ_BUF: usize = 16 * 1024;

/// Why one request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    Refused,
    Reset,
    Closed,
    Timeout,
    BadStatus,
    Protocol,
    Other,
}

impl Failure {
    fn from_io(e: &io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Failure::Reset,
            io::ErrorKind::TimedOut => Failure::Timeout,
            io::ErrorKind::UnexpectedEof => Failure::Closed,
            _ => Failure::Other,
        }
    }

    fn from_parse(e: &ResponseError) -> Failure {
        match e {
            ResponseError::Incomplete => Failure::Closed,
            _ => Failure::Protocol,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What every client reads and counts into.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Where to connect and what to send; client N uses entry N mod len.
    pub targets: Vec<(SocketAddr, Vec<u8>)>,
    pub head_request: bool,
    pub keep_alive: bool,
    pub timeout: Duration,
    /// Requests started so far; a client stops when this passes `max_requests`.
    pub claimed: AtomicU64,
    pub max_requests: u64,
    pub ok: AtomicU64,
    pub bytes: AtomicU64,
    errors: [AtomicU64; 7],
    pub cut_at_end: AtomicU64,
    pub retried: AtomicU64,
    histograms: Vec<Mutex<Histogram<u64>>>,
    /// Errors other than the classified kinds, first one kept for the user.
    pub first_other: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(
        targets: Vec<(SocketAddr, Vec<u8>)>,
        head_request: bool,
        keep_alive: bool,
        timeout: Duration,
        max_requests: Option<u64>,
        shards: usize,
    ) -> Shared {
        assert!(!targets.is_empty(), "a bench needs a target");
        Shared {
            targets,
            head_request,
            keep_alive,
            timeout,
            claimed: AtomicU64::new(0),
            max_requests: max_requests.unwrap_or(u64::MAX),
            ok: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: Default::default(),
            cut_at_end: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            histograms: (0..shards.max(1))
                .map(|_| Mutex::new(new_histogram()))
                .collect(),
            first_other: Mutex::new(None),
        }
    }

    pub fn failed(&self) -> u64 {
        self.errors.iter().map(|a| a.load(Relaxed)).sum()
    }

    pub fn errors(&self) -> Errors {
        let e = |f: Failure| self.errors[f.index()].load(Relaxed);
        Errors {
            refused: e(Failure::Refused),
            reset: e(Failure::Reset),
            closed: e(Failure::Closed),
            timeout: e(Failure::Timeout),
            bad_status: e(Failure::BadStatus),
            protocol: e(Failure::Protocol),
            other: e(Failure::Other),
        }
    }

    /// All clients' latencies in one histogram.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for h in &self.histograms {
            let h = h.lock().unwrap_or_else(|p| p.into_inner());
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&*h);
        }
        all
    }
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// A client's per-task state that must reach the shared counters even when the
/// task is aborted at the time limit.
struct Local {
    shared: Arc<Shared>,
    shard: usize,
    latencies: Vec<u64>,
    /// Succeeded requests and bytes not yet added to the shared counters.
    ok: u64,
    bytes: u64,
    last_flush: Instant,
    in_flight: bool,
}

impl Local {
    /// Count one complete response.
    fn record(&mut self, ok_latency_us: Option<u64>, bytes: u64) {
        self.bytes += bytes;
        if let Some(us) = ok_latency_us {
            self.ok += 1;
            self.latencies.push(us);
        }
    }

    /// Publish the batch when it is full or old, so the per-second timeline lags
    /// by at most [`FLUSH_EVERY`] (called after every request, failed or not).
    fn maybe_flush(&mut self, now: Instant) {
        if self.latencies.len() >= BATCH || now - self.last_flush >= FLUSH_EVERY {
            self.flush();
            self.last_flush = now;
        }
    }

    fn flush(&mut self) {
        if self.bytes > 0 {
            self.shared
                .bytes
                .fetch_add(std::mem::take(&mut self.bytes), Relaxed);
        }
        if self.latencies.is_empty() {
            return;
        }
        {
            let mut h = self.shared.histograms[self.shard]
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for &us in &self.latencies {
                h.saturating_record(us.clamp(1, MAX_LATENCY_US));
            }
        }
        self.latencies.clear();
        // Published after the histogram so that ok never exceeds its samples.
        self.shared
            .ok
            .fetch_add(std::mem::take(&mut self.ok), Relaxed);
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.flush();
        if self.in_flight {
            self.shared.cut_at_end.fetch_add(1, Relaxed);
        }
    }
}

/// Run one client until the request budget is used up; the caller aborts it at
/// the time limit.
pub(crate) async fn run_client(shared: Arc<Shared>, id: usize) {
    let shard = id % shared.histograms.len();
    let mut local = Local {
        shared: shared.clone(),
        shard,
        latencies: Vec::with_capacity(BATCH),
        ok: 0,
        bytes: 0,
        last_flush: Instant::now(),
        in_flight: false,
    };
    let limited = shared.max_requests != u64::MAX;
    let mut conn: Option<TcpStream> = None;
    let mut buf = vec![0u8; READ_BUF];
    let mut parser = Parser::new(shared.head_request);
    let target = &shared.targets[id % shared.targets.len()];
    loop {
        // The shared claim counter is touched only when a request limit is set.
        if limited && shared.claimed.fetch_add(1, Relaxed) >= shared.max_requests {
            break;
        }
        local.in_flight = true;
        let start = Instant::now();
        let deadline = start + shared.timeout;
        let result = tokio::time::timeout_at(
            deadline,
            request(&shared, target, &mut conn, &mut buf, &mut parser),
        )
        .await;
        let done = Instant::now();
        local.in_flight = false;
        let outcome = match result {
            Err(_elapsed) => Err(Failure::Timeout),
            Ok(r) => r,
        };
        match outcome {
            Ok(Exchange {
                bytes,
                status,
                after,
            }) => {
                if (200..400).contains(&status) {
                    local.record(Some((done - start).as_micros() as u64), bytes);
                } else {
                    local.record(None, bytes);
                    shared.errors[Failure::BadStatus.index()].fetch_add(1, Relaxed);
                }
                match after {
                    After::Open if shared.keep_alive => {}
                    After::ServerCloses => {
                        if let Some(s) = conn.take() {
                            drain_until_close(s, deadline.max(done + Duration::from_millis(100)))
                                .await;
                        }
                    }
                    _ => conn = None,
                }
            }
            Err(f) => {
                conn = None;
                shared.errors[f.index()].fetch_add(1, Relaxed);
            }
        }
        local.maybe_flush(done);
    }
}

struct Exchange {
    bytes: u64,
    status: u16,
    /// What happens to the connection after this response.
    after: After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The server keeps it open: reuse it (`-k`) or close it ourselves.
    Open,
    /// The server said it will close, and has not yet.
    ServerCloses,
    /// The server has closed it (we read EOF), or bytes we never asked for came.
    Gone,
}

/// One request, on the kept connection if there is one. A kept connection that
/// the server closed before our request reached it (nothing of a response seen)
/// is replaced once, as any HTTP client does for idempotent requests.
async fn request(
    shared: &Shared,
    target: &(SocketAddr, Vec<u8>),
    conn: &mut Option<TcpStream>,
    buf: &mut [u8],
    parser: &mut Parser,
) -> Result<Exchange, Failure> {
    let mut retried = false;
    loop {
        let reused = conn.is_some();
        let stream = match conn {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(target.0)
                    .await
                    .map_err(|e| classify(shared, &e))?;
                // Requests are small and latency matters: never wait for Nagle.
                let _ = s.set_nodelay(true);
                conn.insert(s)
            }
        };
        parser.reset();
        match exchange(shared, &target.1, stream, buf, parser).await {
            Ok(x) => return Ok(x),
            Err(f)
                if reused
                    && !retried
                    && !parser.started()
                    && matches!(f, Failure::Reset | Failure::Closed) =>
            {
                *conn = None;
                retried = true;
                shared.retried.fetch_add(1, Relaxed);
            }
            Err(f) => return Err(f),
        }
    }
}

async fn exchange(
    shared: &Shared,
    request: &[u8],
    stream: &mut TcpStream,
    buf: &mut [u8],
    parser: &mut Parser,
) -> Result<Exchange, Failure> {
    stream
        .write_all(request)
        .await
        .map_err(|e| classify(shared, &e))?;
    let mut bytes = 0u64;
    loop {
        let n = stream.read(buf).await.map_err(|e| classify(shared, &e))?;
        if n == 0 {
            parser.eof().map_err(|e| Failure::from_parse(&e))?;
            let status = parser.head().map_or(0, |h| h.status);
            return Ok(Exchange {
                bytes,
                status,
                after: After::Gone,
            });
        }
        bytes += n as u64;
        match parser
            .feed(&buf[..n])
            .map_err(|e| Failure::from_parse(&e))?
        {
            Progress::NeedMore => {}
            Progress::Done { consumed } => {
                let head = parser.head().expect("a complete response has a head");
                let after = if consumed < n {
                    // Bytes past the response were never asked for: do not reuse.
                    After::Gone
                } else if head.keep_alive {
                    After::Open
                } else {
                    After::ServerCloses
                };
                return Ok(Exchange {
                    bytes,
                    status: head.status,
                    after,
                });
            }
        }
    }
}

/// Wait for the server to close, as webbench does, so that the server (not the
/// client) holds TIME_WAIT: a client closing first leaves its ephemeral ports in
/// TIME_WAIT and runs out of them at a few hundred connections per second.
async fn drain_until_close(mut stream: TcpStream, until: Instant) {
    let mut scratch = [0u8; 512];
    let _ = tokio::time::timeout_at(until, async {
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}

fn classify(shared: &Shared, e: &io::Error) -> Failure {
    let f = Failure::from_io(e);
    if f == Failure::Other {
        let mut first = shared.first_other.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }
    f
}
