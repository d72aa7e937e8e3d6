//! Real servers on loopback for the probe tests: an HTTP server, a server that
//! accepts and then hangs, a closed port, and a network namespace guard.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vipd_core::check::{CheckKind, CheckTiming, CheckerSpec, ConnectSpec, HttpSpec, UrlSpec};

/// Fail loudly when not root: ping and user switching need it, and CI runs as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these probe tests need root (raw ICMP sockets, script_user, network namespaces): \
         run them with sudo or as root, as CI does"
    );
}

/// A minimal real HTTP/1.x server: answers every request with `status` and
/// `body` (with Content-Length) and closes. Records the request heads it saw.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
}

pub async fn http_server(status: &'static str, body: &'static [u8]) -> HttpServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let head = read_head(&mut s).await;
                seen.lock().unwrap().push(head);
                let reply = format!(
                    "HTTP/1.0 {status}\r\nServer: vipd-test\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.write_all(body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    HttpServer { addr, requests }
}

/// Reads a request head (up to the blank line), or what came before the peer
/// stopped sending or sent something that is not HTTP.
pub async fn read_head(s: &mut (impl AsyncRead + Unpin)) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        // Not HTTP (say, a TLS ClientHello): answer at once, as a web server's
        // 400 would.
        if buf.first().is_some_and(|b| !b.is_ascii_uppercase()) {
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A server that accepts connections and then never says anything.
pub async fn hanging_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

/// The digests of `vipd genhash ARGS` (which must succeed) and of
/// `keepalived --genhash ARGS`, as each prints it.
pub fn genhash_ours_and_keepalived(args: &[&str]) -> (String, String) {
    let ours = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("genhash")
        .args(args)
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = Command::new("keepalived")
        .arg("--genhash")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "keepalived is needed to cross-check genhash ({e}): apt-get install -y keepalived"
            )
        });
    (
        String::from_utf8(ours.stdout).unwrap(),
        String::from_utf8(theirs.stdout).unwrap(),
    )
}

/// A loopback port with nothing listening (bound, then released).
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn timing() -> CheckTiming {
    CheckTiming {
        delay_loop: Duration::from_secs(1),
        retry: 0,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha: true,
    }
}

pub fn checker(kind: CheckKind, target: SocketAddr, timeout: Duration) -> CheckerSpec {
    CheckerSpec {
        kind,
        connect: ConnectSpec {
            connect_timeout: timeout,
            ..ConnectSpec::to(target)
        },
        timing: timing(),
    }
}

pub fn http_get(target: SocketAddr, url: UrlSpec, timeout: Duration) -> CheckerSpec {
    checker(CheckKind::Http(HttpSpec::get(vec![url])), target, timeout)
}

/// A network namespace of our own (unique name), removed on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    pub fn new(tag: &str) -> Self {
        let name = format!("vipdprobe-{tag}-{}", std::process::id());
        common::sh(&["ip", "netns", "add", &name]);
        let ns = NetNs { name };
        common::sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        common::sh(&full);
    }

    /// Run `f` on a thread that has entered this namespace, with its own runtime.
    pub fn run_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
    ) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns file");
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        })
        .join()
        .unwrap()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
