//! SMTP_CHECK: the server's banner must be 220, `HELO helo_name` must be
//! answered 250; then `QUIT`. The conversation's rules are
//! `vipd_core::check::smtp`; this is the socket.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vipd_core::check::smtp::{parse_reply, Reply};
use vipd_core::check::{ConnectSpec, Outcome};

use super::tcp::{connect, describe};

async fn reply(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Reply, String> {
    loop {
        match parse_reply(buf) {
            Ok(Some((r, used))) => {
                buf.drain(..used);
                return Ok(r);
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk).await {
            Ok(0) => return Err("connection closed before a complete reply".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(describe(&e)),
        }
    }
}

/// Runs the conversation (the caller bounds it by `connect_timeout`).
pub async fn probe(conn: &ConnectSpec, helo_name: &str) -> Outcome {
    let mut stream = match connect(conn).await {
        Ok(s) => s,
        Err(e) => return Outcome::fail(describe(&e)),
    };
    let mut buf = Vec::new();
    match reply(&mut stream, &mut buf).await {
        Ok(r) if r.code == 220 => {}
        Ok(r) => return Outcome::fail(format!("banner {} {}", r.code, r.text)),
        Err(e) => return Outcome::fail(format!("banner: {e}")),
    }
    if let Err(e) = stream
        .write_all(format!("HELO {helo_name}\r\n").as_bytes())
        .await
    {
        return Outcome::fail(format!("sending HELO: {}", describe(&e)));
    }
    let helo = match reply(&mut stream, &mut buf).await {
        Ok(r) if r.code == 250 => r,
        Ok(r) => return Outcome::fail(format!("HELO answered {} {}", r.code, r.text)),
        Err(e) => return Outcome::fail(format!("HELO: {e}")),
    };
    // QUIT is a courtesy: the verdict is already in.
    let _ = stream.write_all(b"QUIT\r\n").await;
    let _ = reply(&mut stream, &mut buf).await;
    Outcome::pass_with(format!("HELO answered 250 {}", helo.text))
}
