//! TCP_CHECK: the real server accepts a TCP connection. Also the connect helper
//! (with `bindto` / `bind_port`) that HTTP_GET and SSL_GET use.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use vipd_core::check::{ConnectSpec, Outcome};

/// Connect to `spec.target`, bound to `bindto` / `bind_port` when given. No
/// timeout here: the caller bounds the whole probe.
pub async fn connect(spec: &ConnectSpec) -> io::Result<TcpStream> {
    let socket = match spec.target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if spec.bindto.is_some() || spec.bind_port.is_some() {
        let ip = spec.bindto.unwrap_or(match spec.target {
            SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        if ip.is_ipv4() != spec.target.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "bindto {ip} and target {} differ in address family",
                    spec.target
                ),
            ));
        }
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::new(ip, spec.bind_port.unwrap_or(0)))?;
    }
    socket.connect(spec.target).await
}

/// TCP_CHECK: pass when the connection is established.
pub async fn probe(spec: &ConnectSpec) -> Outcome {
    match connect(spec).await {
        Ok(_stream) => Outcome::pass_with(format!("connected to {}", spec.target)),
        Err(e) => Outcome::fail(describe(&e)),
    }
}

/// An IO error as a short reason for logs ("connection refused").
pub(crate) fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            // Drop " (os error N)": the text says it already.
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s.to_lowercase(),
            }
        }
    }
}
