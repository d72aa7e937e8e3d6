//! `vipd lab httpd`: the HTTP server every lab real server runs on port 80.
//!
//! Small and fast on purpose: hyper's HTTP/1 server on a multi-thread tokio runtime
//! (one worker per core), so that it is never the bottleneck of a benchmark.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /` (or `HEAD`) | `NODE\nclient=CIP:PORT server=ADDR:PORT\n`: first line the node name, second who asked and on which local address it arrived (the VIP when the director delivered it) |
//! | `GET /bytes/N` | N bytes of `x` (N up to 1 GiB), streamed |
//! | `POST` any path | the number of body bytes received, then `\n` |
//! | `GET /stats` | `{"node":..,"requests":R,"connections":C}`: requests served other than `/stats` itself, connections accepted |
//! | anything else | 404 |
//!
//! HTTP/1.0 and HTTP/1.1 keep-alive both work (hyper honours `Connection:
//! keep-alive` on 1.0 and keeps 1.1 connections open unless told otherwise).
//! It binds `0.0.0.0:80` by default, so it answers on the RIP and on any VIP bound
//! later on the real server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Largest `/bytes/N` answered: large enough for any benchmark, small enough that a
/// typo cannot keep a connection busy for hours.
pub const MAX_BYTES: u64 = 1 << 30;

/// Chunk size of `/bytes/N` bodies, and of the static buffer they are cut from.
const CHUNK: usize = 64 * 1024;
static FILL: [u8; CHUNK] = [b'x'; CHUNK];

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpdError {
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source} (is another server on that port, or are you not root for port 80?)")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The tokio runtime could not be built.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
}

/// What to serve and where.
#[derive(Debug, Clone)]
pub struct HttpdOptions {
    /// Node name, the first line of `GET /`.
    pub node: String,
    /// Address to listen on.
    pub listen: SocketAddr,
}

#[derive(Debug)]
struct Stats {
    node: String,
    requests: AtomicU64,
    connections: AtomicU64,
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Runs the server until the process is killed. Builds its own multi-thread runtime.
pub fn run(opts: &HttpdOptions) -> Result<(), HttpdError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(HttpdError::Runtime)?;
    rt.block_on(async {
        let listener = bind(opts.listen)?;
        // The lab waits for this line (or for the port) before saying "up".
        println!("httpd {} listening on {}", opts.node, opts.listen);
        serve(listener, opts.node.clone()).await;
        Ok(())
    })
}

/// Binds with a large backlog and SO_REUSEADDR, so a restarted server does not wait
/// for TIME_WAIT and connection bursts from a benchmark are not dropped at accept.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, HttpdError> {
    let listen = |e| HttpdError::Listen { addr, source: e };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .map_err(listen)?;
    socket.set_reuse_address(true).map_err(listen)?;
    // An IPv6 address serves IPv6 only, so `[::]:80` runs beside `0.0.0.0:80`
    // (the dual-stack lab starts both) and IPv4 clients never show as
    // ::ffff:a.b.c.d.
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(listen)?;
    }
    socket.set_nonblocking(true).map_err(listen)?;
    socket.bind(&addr.into()).map_err(listen)?;
    socket.listen(4096).map_err(listen)?;
    TcpListener::from_std(socket.into()).map_err(listen)
}

/// Accepts and serves connections on `listener` forever.
pub async fn serve(listener: TcpListener, node: String) {
    let stats = Arc::new(Stats {
        node,
        requests: AtomicU64::new(0),
        connections: AtomicU64::new(0),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let stats = stats.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let stats = stats.clone();
                async move { Ok::<_, Infallible>(handle(req, &stats, peer, local).await) }
            });
            // No header-read timeout: hyper's default (30 s once a timer is
            // set) closes a keep-alive connection that stays idle that long,
            // and the lab's experiments on idle connections across a failover
            // or a flood would take that for the director's doing.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(None)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    stats: &Stats,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> Response<Body> {
    let path = req.uri().path();
    if req.method() == Method::GET && path == "/stats" {
        let body = serde_json::json!({
            "node": stats.node,
            "requests": stats.requests.load(Ordering::Relaxed),
            "connections": stats.connections.load(Ordering::Relaxed),
        });
        return text(StatusCode::OK, format!("{body}\n"));
    }
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if req.method() == Method::POST {
        let mut body = req.into_body();
        let mut received: u64 = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        received += d.len() as u64;
                    }
                }
                Err(_) => return text(StatusCode::BAD_REQUEST, "body read failed\n".into()),
            }
        }
        return text(StatusCode::OK, format!("{received}\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD or POST\n".into());
    }
    if path == "/" {
        let local = local.map_or_else(|| "?".to_string(), |l| l.to_string());
        return text(
            StatusCode::OK,
            format!("{}\nclient={peer} server={local}\n", stats.node),
        );
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match n.parse::<u64>() {
            Ok(n) if n <= MAX_BYTES => bytes_body(n),
            _ => text(
                StatusCode::BAD_REQUEST,
                format!("/bytes/N takes N from 0 to {MAX_BYTES}\n"),
            ),
        };
    }
    text(
        StatusCode::NOT_FOUND,
        "try GET /, GET /bytes/N, POST, GET /stats\n".into(),
    )
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    resp
}

/// N bytes of `x`, streamed in 64 KiB chunks of one static buffer (no allocation
/// per request), with a Content-Length so HTTP/1.0 clients can keep the connection.
fn bytes_body(n: u64) -> Response<Body> {
    let chunks = n / CHUNK as u64;
    let tail = (n % CHUNK as u64) as usize;
    let stream = futures::stream::iter(
        (0..chunks)
            .map(|_| CHUNK)
            .chain((tail > 0).then_some(tail))
            .map(|len| Ok::<_, Infallible>(Frame::data(Bytes::from_static(&FILL[..len])))),
    );
    let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
    resp.headers_mut()
        .insert(hyper::header::CONTENT_LENGTH, n.into());
    resp
}
