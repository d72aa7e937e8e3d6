//! DNS_CHECK: one query over UDP; the reply must answer it (see
//! [`vipd_core::check::dns`]).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use tokio::net::UdpSocket;
use vipd_core::check::dns::{judge, query};
use vipd_core::check::{ConnectSpec, DnsSpec, Outcome};

use super::tcp::describe;

/// A fresh random 16-bit value (query id), from the std hasher's random keys.
pub(crate) fn random_u16() -> u16 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish() as u16
}

/// A UDP socket for probing `spec.target` (honouring `bindto`, `bind_port`
/// and `bind_if`), connected.
pub(crate) async fn udp_socket(spec: &ConnectSpec) -> std::io::Result<UdpSocket> {
    let (socket, target) = super::tcp::socket(spec, socket2::Type::DGRAM)?;
    let sock = UdpSocket::from_std(socket.into())?;
    sock.connect(target).await?;
    Ok(sock)
}

/// Send the query and wait (within the caller's timeout) for the reply with our
/// id; replies with another id are ignored.
pub async fn probe(conn: &ConnectSpec, spec: &DnsSpec) -> Outcome {
    let id = random_u16();
    let q = match query(id, &spec.name, spec.qtype) {
        Ok(q) => q,
        Err(e) => return Outcome::fail(e),
    };
    let sock = match udp_socket(conn).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(describe(&e)),
    };
    if let Err(e) = sock.send(&q).await {
        return Outcome::fail(format!("cannot send DNS query: {}", describe(&e)));
    }
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            Err(e) => return Outcome::fail(format!("DNS: {}", describe(&e))),
        };
        let reply = &buf[..n];
        if reply.len() >= 2 && reply[..2] != q[..2] {
            continue;
        }
        return match judge(&q, reply) {
            Ok(d) => Outcome::pass_with(d),
            Err(e) => Outcome::fail(e),
        };
    }
}
