//! `vipd lab httpd` over raw TCP on loopback: every route, HTTP/1.0 and 1.1
//! keep-alive, and the request counter.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use vipd::httpd;

/// Starts the server on 127.0.0.1:0 on its own runtime thread; returns its address.
fn start(node: &str) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let node = node.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = httpd::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            httpd::serve(l, node).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(5)).unwrap()
}

/// Reads one response: (status line, headers lower-cased, body) using Content-Length.
fn read_response(r: &mut BufReader<TcpStream>) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("content-length");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status.trim_end().to_string(), headers, body)
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

#[test]
fn routes_and_keep_alive() {
    let addr = start("rs7");
    let (mut s, mut r) = connect(addr);
    // HTTP/1.1: several requests on one connection.
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut r);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body = String::from_utf8(body).unwrap();
    assert_eq!(body.lines().next(), Some("rs7"));
    assert!(body.contains(&format!("server={addr}")), "{body}");

    write!(s, "GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut r);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body.len(), 100_000);
    assert!(body.iter().all(|&b| b == b'x'));

    write!(s, "GET /bytes/0 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r).2.len(), 0);

    let payload = vec![b'a'; 300_000];
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    )
    .unwrap();
    s.write_all(&payload).unwrap();
    assert_eq!(read_response(&mut r).2, b"300000\n");

    // Chunked upload counts the payload, not the framing.
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    .unwrap();
    assert_eq!(read_response(&mut r).2, b"8\n");

    write!(s, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_response(&mut r).0.contains(" 404 "));
    write!(s, "GET /bytes/zz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_response(&mut r).0.contains(" 400 "));

    // /stats: the 7 requests above, on 1 connection; /stats itself is not counted.
    write!(s, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let stats = String::from_utf8(read_response(&mut r).2).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["node"], "rs7");
    assert_eq!(v["requests"], 7, "{stats}");
    assert_eq!(v["connections"], 1, "{stats}");
}

#[test]
fn http10_keep_alive_and_close() {
    let addr = start("rs1");
    let (mut s, mut r) = connect(addr);
    for _ in 0..3 {
        write!(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        let (status, headers, body) = read_response(&mut r);
        assert_eq!(status, "HTTP/1.0 200 OK");
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("keep-alive")),
            "{headers:?}"
        );
        assert!(body.starts_with(b"rs1\n"));
    }
    // Plain HTTP/1.0: the server closes after the answer (webbench's default).
    let (mut s, mut r) = connect(addr);
    write!(s, "GET /bytes/10 HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert!(all.starts_with(b"HTTP/1.0 200 OK"));
    assert!(all.ends_with(b"xxxxxxxxxx"));
}
