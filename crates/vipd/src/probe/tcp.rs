//! TCP_CHECK: the real server accepts a TCP connection. Also the connect helper
//! (with `bindto` / `bind_port`) that HTTP_GET and SSL_GET use.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpSocket, TcpStream};
use vipd_core::check::endpoint::Endpoints;
use vipd_core::check::{ConnectSpec, Outcome};

/// The socket addresses of a probe (see [`vipd_core::check::endpoint`]), with
/// `bind_if`'s interface index looked up for a link-local scope.
pub(crate) fn endpoints(spec: &ConnectSpec) -> io::Result<Endpoints> {
    let ifindex = match &spec.bind_if {
        Some(name) => Some(nix::net::if_::if_nametoindex(name.as_str()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("bind_if {name}: no such interface on this director"),
            )
        })?),
        None => None,
    };
    Endpoints::of(spec, ifindex).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Tie `socket` to `bind_if`'s interface (SO_BINDTODEVICE), when given.
pub(crate) fn bind_device(socket: &socket2::Socket, spec: &ConnectSpec) -> io::Result<()> {
    if let Some(name) = &spec.bind_if {
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(|e| io::Error::new(e.kind(), format!("bind_if {name}: {}", describe(&e))))?;
    }
    Ok(())
}

/// A socket for probing `spec.target`: bound to `bind_if`, `bindto` and
/// `bind_port` when given, not yet connected. `ty` is STREAM or DGRAM.
pub(crate) fn socket(
    spec: &ConnectSpec,
    ty: socket2::Type,
) -> io::Result<(socket2::Socket, SocketAddr)> {
    let ends = endpoints(spec)?;
    let socket = socket2::Socket::new(socket2::Domain::for_address(ends.target), ty, None)?;
    bind_device(&socket, spec)?;
    if let Some(local) = ends.local {
        if ty == socket2::Type::STREAM {
            socket.set_reuse_address(true)?;
        }
        socket
            .bind(&local.into())
            .map_err(|e| io::Error::new(e.kind(), format!("bindto {local}: {}", describe(&e))))?;
    }
    socket.set_nonblocking(true)?;
    Ok((socket, ends.target))
}

/// Connect to `spec.target`, bound to `bindto` / `bind_port` / `bind_if` when
/// given. No timeout here: the caller bounds the whole probe.
pub async fn connect(spec: &ConnectSpec) -> io::Result<TcpStream> {
    let (socket, target) = socket(spec, socket2::Type::STREAM)?;
    TcpSocket::from_std_stream(socket.into())
        .connect(target)
        .await
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
        // vipd's own words (bind_if, bindto): as written.
        _ if e.raw_os_error().is_none() => e.to_string(),
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
