//! DNS_CHECK, UDP_CHECK and PING_CHECK against real sockets on loopback, and in a
//! network namespace of the test's own where echo requests are ignored.

mod probe_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use probe_support::*;
use tokio::net::UdpSocket;
use vipd::probe::Prober;
use vipd_core::check::{CheckKind, DnsSpec, DnsType, UdpSpec};

const T: Duration = Duration::from_secs(1);

/// A tiny authoritative server: answers every query with `rcode` and, when
/// NOERROR, one A record 10.0.0.1.
async fn dns_server(rcode: u8) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let mut r = buf[..n].to_vec();
            r[2] = 0x81; // QR, RD
            r[3] = 0x80 | rcode; // RA, RCODE
            if rcode == 0 {
                r[7] = 1; // ANCOUNT
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
            }
            let _ = sock.send_to(&r, from).await;
        }
    });
    addr
}

async fn udp_echo() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// Bound but never answers (the socket lives as long as the test runtime).
async fn udp_silent() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while sock.recv_from(&mut buf).await.is_ok() {}
    });
    addr
}

fn udp_closed() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn dns(addr: SocketAddr) -> vipd_core::check::CheckerSpec {
    checker(
        CheckKind::Dns(DnsSpec {
            name: "www.example.test".into(),
            qtype: DnsType::A,
        }),
        addr,
        T,
    )
}

#[tokio::test]
async fn dns_check() {
    let p = Prober::new();
    let o = p.run(&dns(dns_server(0).await)).await;
    assert!(o.ok, "{o:?}");
    let o = p.run(&dns(dns_server(3).await)).await;
    assert!(!o.ok && o.detail.contains("NXDOMAIN"), "{o:?}");
    let o = p.run(&dns(udp_closed())).await;
    assert!(!o.ok && o.detail.contains("connection refused"), "{o:?}");
    let started = Instant::now();
    let o = p.run(&dns(udp_silent().await)).await;
    assert!(!o.ok && o.detail == "timed out after 1s", "{o:?}");
    assert!(started.elapsed() < T + Duration::from_secs(1));
}

fn udp(addr: SocketAddr, require_reply: bool) -> vipd_core::check::CheckerSpec {
    checker(
        CheckKind::Udp(UdpSpec {
            payload: b"ping".to_vec(),
            require_reply,
            min_reply_len: Some(4),
            max_reply_len: None,
        }),
        addr,
        Duration::from_millis(500),
    )
}

#[tokio::test]
async fn udp_check() {
    let p = Prober::new();
    assert!(p.run(&udp(udp_echo().await, true)).await.ok);
    let o = p.run(&udp(udp_closed(), false)).await;
    assert!(!o.ok && o.detail.contains("port unreachable"), "{o:?}");
    // A silent service: fine unless a reply is required.
    let silent = udp_silent().await;
    let o = p.run(&udp(silent, false)).await;
    assert!(o.ok, "{o:?}");
    let o = p.run(&udp(silent, true)).await;
    assert!(!o.ok && o.detail.contains("no reply"), "{o:?}");
    // Too short a reply.
    let mut c = udp(udp_echo().await, true);
    if let CheckKind::Udp(u) = &mut c.kind {
        u.payload = b"x".to_vec();
    }
    let o = p.run(&c).await;
    assert!(!o.ok && o.detail.contains("shorter"), "{o:?}");
}

#[tokio::test]
async fn ping_check_on_loopback() {
    require_root();
    let p = Prober::new();
    let o = p
        .run(&checker(CheckKind::Ping, "127.0.0.1:0".parse().unwrap(), T))
        .await;
    assert!(o.ok, "{o:?}");
    let o = p
        .run(&checker(CheckKind::Ping, "[::1]:0".parse().unwrap(), T))
        .await;
    assert!(o.ok, "{o:?}");
}

#[test]
fn ping_check_fails_when_echo_is_ignored() {
    require_root();
    let ns = NetNs::new("ping");
    ns.exec(&["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1"]);
    let (o, took) = ns.run_in(|| {
        Box::pin(async {
            let started = Instant::now();
            let o = Prober::new()
                .run(&checker(CheckKind::Ping, "127.0.0.1:0".parse().unwrap(), T))
                .await;
            (o, started.elapsed())
        })
    });
    assert!(!o.ok, "{o:?}");
    assert_eq!(o.detail, "timed out after 1s");
    assert!(took < T + Duration::from_secs(1), "{took:?}");
}
