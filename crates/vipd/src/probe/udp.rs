//! UDP_CHECK: send a datagram; the check fails on an ICMP port unreachable, and
//! with `require_reply` also when no (acceptable) reply comes back in time.

use std::io;
use std::time::Duration;

use vipd_core::check::{ConnectSpec, Outcome, UdpSpec};

use super::dns::udp_socket;
use super::tcp::describe;

/// Run the check; it bounds itself by `timeout` (a silent server passes unless
/// `require_reply`, so the wait must end as a verdict, not as a timeout error).
pub async fn probe(conn: &ConnectSpec, spec: &UdpSpec, timeout: Duration) -> Outcome {
    let sock = match udp_socket(conn).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(describe(&e)),
    };
    if let Err(e) = sock.send(&spec.payload).await {
        return Outcome::fail(format!("cannot send: {}", describe(&e)));
    }
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
        Ok(Ok(n)) => {
            if let Some(min) = spec.min_reply_len {
                if n < min {
                    return Outcome::fail(format!("reply of {n} bytes, shorter than {min}"));
                }
            }
            if let Some(max) = spec.max_reply_len {
                if n > max {
                    return Outcome::fail(format!("reply of {n} bytes, longer than {max}"));
                }
            }
            Outcome::pass_with(format!("reply of {n} bytes"))
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            Outcome::fail("port unreachable (ICMP)")
        }
        Ok(Err(e)) => Outcome::fail(describe(&e)),
        Err(_) if spec.require_reply => {
            Outcome::fail(format!("no reply within {}", super::secs(timeout)))
        }
        Err(_) => Outcome::pass_with("no ICMP error"),
    }
}
