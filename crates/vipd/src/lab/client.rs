//! A tiny blocking HTTP/1.0 client that runs inside a namespace: what `vipd lab
//! demo` uses to fetch pages from the client node without depending on curl, and
//! what tests can use to ask "who answered?".

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::netns;

/// A response: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Body as text (lossy UTF-8).
    pub body: String,
}

impl Reply {
    /// The first line of the body: for `vipd lab httpd`'s `GET /`, the node name.
    pub fn first_line(&self) -> &str {
        self.body.lines().next().unwrap_or("")
    }
}

/// Errors of [`http_get`].
#[derive(Debug, thiserror::Error)]
pub enum HttpGetError {
    /// The namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// Connect, send or receive failed.
    #[error("GET http://{addr}{path} from namespace {ns}: {source}")]
    Io {
        /// Namespace.
        ns: String,
        /// Server.
        addr: SocketAddr,
        /// Path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The answer was not HTTP.
    #[error("GET http://{addr}{path} from namespace {ns}: not an HTTP response: {head:?}")]
    Malformed {
        /// Namespace.
        ns: String,
        /// Server.
        addr: SocketAddr,
        /// Path.
        path: String,
        /// Start of what came back.
        head: String,
    },
}

/// `GET path` from `addr`, with a socket opened inside namespace `ns`; one
/// connection, `Connection: close`, whole-request `timeout`.
pub fn http_get(
    ns: &str,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<Reply, HttpGetError> {
    let io = |source| HttpGetError::Io {
        ns: ns.to_string(),
        addr,
        path: path.to_string(),
        source,
    };
    // Only the connect needs the namespace: the socket stays in it afterwards.
    let stream = netns::run_in(ns, || TcpStream::connect_timeout(&addr, timeout))?.map_err(io)?;
    let mut stream = stream;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let malformed = || HttpGetError::Malformed {
        ns: ns.to_string(),
        addr,
        path: path.to_string(),
        head: text.chars().take(80).collect(),
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(malformed)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| head.starts_with("HTTP/1."))
        .ok_or_else(malformed)?;
    Ok(Reply {
        status,
        body: body.to_string(),
    })
}

/// One HTTP/1.1 keep-alive connection opened from a namespace: what the
/// failover and flood experiments hold open across an event, then use again.
#[derive(Debug)]
pub struct KeepAlive {
    stream: TcpStream,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl KeepAlive {
    /// Connects to `addr` from namespace `ns` (reads and writes time out after
    /// `timeout`).
    pub fn open(ns: &str, addr: SocketAddr, timeout: Duration) -> std::io::Result<Self> {
        let stream = netns::run_in(ns, || TcpStream::connect_timeout(&addr, timeout))
            .map_err(std::io::Error::other)??;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            addr,
            buf: Vec::new(),
        })
    }

    /// The local (client) address of the connection.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// `GET path` on this connection; the response must carry a
    /// `Content-Length` (as `vipd lab httpd`'s do). A reset, a close or a
    /// timeout is an error: the connection did not survive.
    pub fn get(&mut self, path: &str) -> std::io::Result<Reply> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )?;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .filter(|_| head.starts_with("HTTP/1."))
            .ok_or_else(|| bad("not an HTTP response"))?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())
                    .flatten()
            })
            .ok_or_else(|| bad("no Content-Length"))?;
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = String::from_utf8_lossy(&self.buf[head_end..head_end + len]).to_string();
        self.buf.drain(..head_end + len);
        Ok(Reply { status, body })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
