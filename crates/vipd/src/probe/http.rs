//! HTTP_GET and SSL_GET: fetch each configured URL and judge status code and
//! body digest (see [`vipd_core::check::http`] for the request and the digest).

use std::io;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use vipd_core::check::http::{host_header, judge, request, Reply, ReplyReader};
use vipd_core::check::{ConnectSpec, HttpSpec, Outcome, UrlSpec};

use super::tcp::{connect, describe};
use super::tls::TlsConfigs;

/// Check every URL in turn; pass when all pass. Bounded by the caller's timeout.
pub async fn probe(conn: &ConnectSpec, spec: &HttpSpec, tls: &TlsConfigs) -> Outcome {
    if spec.urls.is_empty() {
        // keepalived: "if there are no URLs in list, enable server w/o checking".
        return Outcome::pass_with("no url configured");
    }
    let mut details = Vec::with_capacity(spec.urls.len());
    for url in &spec.urls {
        let reply = match fetch(conn, spec, url, tls).await {
            Ok(r) => r,
            Err(e) => return Outcome::fail(format!("{}: {e}", url.path)),
        };
        match judge(url, &reply) {
            Ok(d) => details.push(d),
            Err(e) => return Outcome::fail(e),
        }
    }
    Outcome::pass_with(details.join(", "))
}

/// Fetch one URL as keepalived does and read the whole reply.
pub async fn fetch(
    conn: &ConnectSpec,
    spec: &HttpSpec,
    url: &UrlSpec,
    tls: &TlsConfigs,
) -> Result<Reply, String> {
    let stream = connect(conn).await.map_err(|e| describe(&e))?;
    let vhost = url.virtualhost.as_deref().or(spec.virtualhost.as_deref());
    let host = host_header(vhost, conn.target);
    let req = request(&url.path, &host, spec.protocol);
    if !spec.tls {
        return exchange(stream, &req).await;
    }
    let config = tls
        .get(spec.verify_cert, spec.ca_file.as_deref())
        .map_err(|e| e.to_string())?;
    // SNI is sent only for a DNS name: without `sni`, name the server by address.
    let name = match &spec.sni {
        Some(n) => {
            ServerName::try_from(n.clone()).map_err(|e| format!("invalid SNI name `{n}`: {e}"))?
        }
        None => ServerName::IpAddress(conn.target.ip().into()),
    };
    let tls_stream = TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake failed: {}", describe(&e)))?;
    exchange(tls_stream, &req).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, req: &str) -> Result<Reply, String> {
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send request: {}", describe(&e)))?;
    s.flush()
        .await
        .map_err(|e| format!("cannot send request: {}", describe(&e)))?;
    let mut reader = ReplyReader::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // A TLS server that closes without close_notify: the stream ended.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read error: {}", describe(&e))),
        };
        reader.feed(&buf[..n])?;
        if reader.complete() {
            break;
        }
    }
    Ok(reader.finish())
}
