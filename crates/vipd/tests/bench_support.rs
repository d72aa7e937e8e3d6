//! A small HTTP/1.x server for the bench tests that counts what it served, so
//! tests can compare `vipd bench`'s counts with the server's, and how the bench
//! tests run the bench and wait for the servers they start.
//!
//! It is a real server on real loopback sockets; its response modes cover the
//! framings and failures the bench must count right.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the support module"
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use vipd::bench::{run, Options};
use vipd_core::bench::report::Report;

/// `vipd bench`'s options from its command line (what follows `vipd bench`).
pub fn opts(args: &[&str]) -> Options {
    Options::from_command_line(args).expect("valid bench options")
}

/// Runs `vipd bench OPTIONS URLS...` in this process (`options` split at spaces);
/// panics if the options are refused or the run fails.
pub async fn bench(options: &str, urls: &[&str]) -> Report {
    let args: Vec<&str> = options
        .split_whitespace()
        .chain(urls.iter().copied())
        .collect();
    run(&opts(&args)).await.expect("bench run")
}

/// A loopback port the kernel just handed out (bound, then released), for a
/// server started a moment later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (5 s at most) until something listens on 127.0.0.1:`port`; `why` says
/// what, should it not.
pub fn wait_for_listener(port: u16, why: impl Fn() -> String) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(5), "{}", why());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Failures a server that stops or is killed cannot explain: timeouts, protocol
/// errors, bad statuses and the rest (not refused, reset or closed).
pub fn other_failures(r: &Report) -> u64 {
    r.errors.timeout + r.errors.protocol + r.errors.bad_status + r.errors.other
}

/// The body every mode that sends one sends (like nginx's 612-byte page).
pub const BODY_LEN: usize = 612;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with Content-Length; keep-alive as the request's version and
    /// Connection header say.
    Length,
    /// 200 with Transfer-Encoding: chunked, body split in 100-byte chunks.
    Chunked,
    /// 200 with no length: the body ends when the server closes.
    UntilClose,
    /// 503 with Content-Length.
    Status503,
    /// Half the response, then an RST (SO_LINGER 0).
    ResetMidResponse,
    /// Read the request and never answer.
    Hang,
}

/// Counts kept by the server.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests fully read.
    pub requests: AtomicU64,
    /// Responses the server started writing.
    pub responses: AtomicU64,
    /// Request body bytes received.
    pub body_bytes: AtomicU64,
    /// Bytes of responses written.
    pub bytes_out: AtomicU64,
}

/// A running server; [`TestServer::stop`] closes the listener and every connection.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl TestServer {
    /// Start on 127.0.0.1 with a kernel-chosen port.
    pub async fn start(mode: Mode) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (c, cs) = (counts.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                c.connections.fetch_add(1, SeqCst);
                let h = tokio::spawn(serve(s, mode, c.clone()));
                let mut v = cs.lock().unwrap();
                v.retain(|h| !h.is_finished());
                v.push(h);
            }
        });
        TestServer {
            addr,
            counts,
            accept,
            conns,
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stop listening (new connects are refused) and drop every connection.
    pub async fn stop(&self) {
        // The accept task drops the listener when it is next polled; wait for it,
        // so that no connection is accepted after the list below is taken.
        self.accept.abort();
        while !self.accept.is_finished() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let hs: Vec<_> = std::mem::take(&mut *self.conns.lock().unwrap());
        for h in &hs {
            h.abort();
        }
        for h in hs {
            let _ = h.await;
        }
    }

    pub fn responses(&self) -> u64 {
        self.counts.responses.load(SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
        for h in self.conns.lock().unwrap().iter() {
            h.abort();
        }
    }
}

/// The bytes of one response in `mode` (for the modes that send a whole one).
pub fn response_bytes(mode: Mode, keep_alive: bool, head: bool) -> Vec<u8> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let body = vec![b'b'; BODY_LEN];
    let mut r = match mode {
        Mode::Length | Mode::ResetMidResponse | Mode::Hang => format!(
            "HTTP/1.1 200 OK\r\nServer: bench-test\r\nContent-Length: {BODY_LEN}\r\nConnection: {conn}\r\n\r\n"
        )
        .into_bytes(),
        Mode::Status503 => {
            format!("HTTP/1.1 503 Busy\r\nContent-Length: {BODY_LEN}\r\nConnection: {conn}\r\n\r\n").into_bytes()
        }
        Mode::Chunked => format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: {conn}\r\n\r\n").into_bytes(),
        Mode::UntilClose => b"HTTP/1.0 200 OK\r\nServer: bench-test\r\n\r\n".to_vec(),
    };
    if head {
        return r;
    }
    if mode == Mode::Chunked {
        for c in body.chunks(100) {
            r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            r.extend_from_slice(c);
            r.extend_from_slice(b"\r\n");
        }
        r.extend_from_slice(b"0\r\n\r\n");
    } else {
        r.extend_from_slice(&body);
    }
    r
}

async fn serve(mut s: TcpStream, mode: Mode, c: Arc<Counts>) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one request head (and its body, if it announces one).
        let (head_end, head) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (
                    i + 4,
                    String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase(),
                );
            }
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let body_len: usize = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut tmp = [0u8; 4096];
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        c.requests.fetch_add(1, SeqCst);
        c.body_bytes.fetch_add(body_len as u64, SeqCst);
        let http11 = head.lines().next().is_some_and(|l| l.ends_with("http/1.1"));
        let keep_alive = if http11 {
            !head.contains("connection: close")
        } else {
            head.contains("connection: keep-alive")
        } && mode != Mode::UntilClose;
        let is_head = head.starts_with("head ");
        let r = response_bytes(mode, keep_alive, is_head);
        match mode {
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Mode::ResetMidResponse => {
                let _ = s.write_all(&r[..r.len() / 2]).await;
                c.responses.fetch_add(1, SeqCst);
                // Give the half response time to reach the client before the RST.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                return;
            }
            _ => {
                // Counted before the write: the client may see the last byte and
                // finish before this task would run again after the write.
                c.responses.fetch_add(1, SeqCst);
                if s.write_all(&r).await.is_err() {
                    return;
                }
                c.bytes_out.fetch_add(r.len() as u64, SeqCst);
            }
        }
        if !keep_alive {
            let _ = s.shutdown().await;
            return;
        }
    }
}
