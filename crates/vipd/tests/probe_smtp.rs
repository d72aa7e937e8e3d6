//! SMTP_CHECK against a real SMTP server (Python's `smtpd`, from Debian's
//! python3) on loopback, a server that refuses us in its banner, one that
//! answers HELO with an error, and a closed port.

mod probe_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use probe_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vipd::probe::Prober;
use vipd_core::check::CheckKind;

const T: Duration = Duration::from_secs(3);

struct Smtpd(Child);

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's SMTP server on a free loopback port (waits until it listens).
fn smtpd() -> (Smtpd, std::net::SocketAddr) {
    let addr = closed_port();
    let child = Command::new("python3")
        .args(["-W", "ignore", "-m", "smtpd", "-n", "-c", "DebuggingServer"])
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 (apt-get install python3)");
    let server = Smtpd(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return (server, addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("python3 -m smtpd did not listen on {addr}");
}

/// A server that says `banner`, then answers each line with `answer`.
async fn scripted(banner: &'static str, answer: &'static str) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(banner.as_bytes()).await;
            let mut buf = [0u8; 512];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let _ = s.write_all(answer.as_bytes()).await;
            }
        }
    });
    addr
}

fn smtp() -> CheckKind {
    CheckKind::Smtp {
        helo_name: "director.example.org".into(),
    }
}

#[tokio::test]
async fn smtp_check_talks_to_a_real_mail_server() {
    let (_srv, addr) = smtpd();
    let o = Prober::new().run(&checker(smtp(), addr, T)).await;
    assert!(o.ok, "{o:?}");
    assert!(o.detail.starts_with("HELO answered 250"), "{o:?}");
}

#[tokio::test]
async fn smtp_check_fails_on_a_refusing_banner_a_helo_error_and_a_closed_port() {
    let p = Prober::new();
    let addr = scripted("554 go away\r\n", "").await;
    let o = p.run(&checker(smtp(), addr, T)).await;
    assert!(!o.ok && o.detail == "banner 554 go away", "{o:?}");
    let addr = scripted("220-mx\r\n220 ready\r\n", "501 bad HELO\r\n").await;
    let o = p.run(&checker(smtp(), addr, T)).await;
    assert!(!o.ok && o.detail == "HELO answered 501 bad HELO", "{o:?}");
    let addr = scripted("HTTP/1.1 400 Bad Request\r\n", "").await;
    let o = p.run(&checker(smtp(), addr, T)).await;
    assert!(!o.ok && o.detail.contains("not an SMTP reply"), "{o:?}");
    let o = p.run(&checker(smtp(), closed_port(), T)).await;
    assert!(!o.ok && o.detail == "connection refused", "{o:?}");
}
