//! PING_CHECK: an ICMP (or ICMPv6) echo request is answered.
//!
//! vipd runs as root, so a raw socket is used; where that is not permitted it
//! falls back to an unprivileged ping socket (`net.ipv4.ping_group_range`).

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use vipd_core::check::{ConnectSpec, Outcome};

use super::dns::random_u16;
use super::tcp::describe;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const PAYLOAD: &[u8; 16] = b"vipd PING_CHECK\0";

/// The RFC 1071 Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request (ICMP type 8, or ICMPv6 type 128 whose checksum the kernel
/// fills in).
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + PAYLOAD.len());
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// Is `msg` (an ICMP message, IP header stripped) the echo reply to our
/// request? With a ping socket the kernel rewrote the id, so only seq counts.
fn is_our_reply(msg: &[u8], v6: bool, id: Option<u16>, seq: u16) -> bool {
    let reply = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    msg.len() >= 8
        && msg[0] == reply
        && id.is_none_or(|id| msg[4..6] == id.to_be_bytes())
        && msg[6..8] == seq.to_be_bytes()
}

fn open(ip: IpAddr) -> io::Result<(Socket, bool)> {
    let (domain, proto) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    match Socket::new(domain, Type::RAW, Some(proto)) {
        Ok(s) => Ok((s, true)),
        Err(raw_err) => match Socket::new(domain, Type::DGRAM, Some(proto)) {
            Ok(s) => Ok((s, false)),
            Err(_) => Err(io::Error::new(
                raw_err.kind(),
                format!(
                    "cannot open an ICMP socket ({raw_err}): run vipd as root, or allow \
                     ping sockets with sysctl net.ipv4.ping_group_range"
                ),
            )),
        },
    }
}

/// Send one echo request to the target address and wait (within the caller's
/// timeout) for its reply.
pub async fn probe(conn: &ConnectSpec) -> Outcome {
    let ip = conn.target.ip();
    match ping(conn).await {
        Ok(()) => Outcome::pass_with(format!("echo reply from {ip}")),
        Err(e) => Outcome::fail(describe(&e)),
    }
}

async fn ping(conn: &ConnectSpec) -> io::Result<()> {
    // The port means nothing to ICMP; bind_port neither.
    let conn = ConnectSpec {
        target: SocketAddr::new(conn.target.ip(), 0),
        bind_port: None,
        ..conn.clone()
    };
    let ends = super::tcp::endpoints(&conn)?;
    let ip = ends.target.ip();
    let v6 = ip.is_ipv6();
    let (sock, raw) = open(ip)?;
    super::tcp::bind_device(&sock, &conn)?;
    if let Some(src) = ends.local {
        sock.bind(&src.into())
            .map_err(|e| io::Error::new(e.kind(), format!("bindto {src}: {}", describe(&e))))?;
    }
    sock.set_nonblocking(true)?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))?;
    let id = random_u16();
    let seq = random_u16();
    // ICMPv6: the kernel computes the checksum (it covers the IPv6
    // pseudo-header, whose source address only the kernel knows), for raw
    // and ping sockets alike.
    sock.send_to(&echo_request(v6, id, seq), ends.target)
        .await?;
    let want_id = raw.then_some(id);
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = sock.recv_from(&mut buf).await?;
        // Only the target's reply counts (a raw socket sees every echo reply
        // of the host).
        if from.ip() != ip {
            continue;
        }
        let mut msg = &buf[..n];
        // A raw IPv4 socket delivers the IP header too; IPv6 raw sockets never do.
        if raw && !v6 {
            let ihl = usize::from(msg.first().map_or(0, |b| b & 0x0f)) * 4;
            if ihl < 20 || msg.len() < ihl {
                continue;
            }
            msg = &msg[ihl..];
        }
        if is_our_reply(msg, v6, want_id, seq) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_request_verifies() {
        let p = echo_request(false, 0x1234, 7);
        assert_eq!(p[0], 8);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to 0");
        // RFC 1071 example words.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn recognises_replies() {
        let mut r = echo_request(false, 5, 9);
        assert!(
            !is_our_reply(&r, false, Some(5), 9),
            "a request is not a reply"
        );
        r[0] = ECHO_REPLY_V4;
        assert!(is_our_reply(&r, false, Some(5), 9));
        assert!(!is_our_reply(&r, false, Some(6), 9));
        assert!(!is_our_reply(&r, false, Some(5), 10));
        assert!(is_our_reply(&r, false, None, 9));
        assert!(!is_our_reply(&r[..7], false, None, 9));
    }
}
