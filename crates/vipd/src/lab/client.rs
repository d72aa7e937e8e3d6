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
