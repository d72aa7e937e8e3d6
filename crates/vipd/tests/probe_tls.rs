//! SSL_GET against a real TLS server on loopback with a self-signed certificate
//! generated in the test: unverified by default, SNI on request, verification
//! against a CA file when asked; and `vipd genhash -S` against keepalived's.

mod probe_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::{Digest, Md5};
use probe_support::*;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::Acceptor;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::LazyConfigAcceptor;
use vipd::probe::Prober;
use vipd_core::check::{CheckKind, HttpSpec, UrlSpec};

const T: Duration = Duration::from_secs(2);
const BODY: &[u8] = b"secure hello\n";

struct TlsServer {
    addr: SocketAddr,
    /// SNI seen in each ClientHello (None: no SNI sent).
    sni: Arc<Mutex<Vec<Option<String>>>>,
    cert_pem: String,
}

async fn tls_server() -> TlsServer {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    let cert_der = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let config = Arc::new(
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let config = config.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(start) = LazyConfigAcceptor::new(Acceptor::default(), tcp).await else {
                    return;
                };
                seen.lock()
                    .unwrap()
                    .push(start.client_hello().server_name().map(str::to_owned));
                let Ok(mut tls) = start.into_stream(config).await else {
                    return;
                };
                read_head(&mut tls).await;
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", BODY.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(BODY).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer {
        addr,
        sni,
        cert_pem: ck.cert.pem(),
    }
}

fn ssl_get(addr: SocketAddr, f: impl FnOnce(&mut HttpSpec)) -> vipd_core::check::CheckerSpec {
    let mut url = UrlSpec::path("/");
    url.digest = Some(Md5::digest(BODY).into());
    let mut spec = HttpSpec::get(vec![url]);
    spec.tls = true;
    f(&mut spec);
    checker(CheckKind::Http(spec), addr, T)
}

#[tokio::test]
async fn ssl_get_accepts_a_self_signed_certificate_and_sends_no_sni_by_default() {
    let srv = tls_server().await;
    let o = Prober::new().run(&ssl_get(srv.addr, |_| {})).await;
    assert!(o.ok, "{o:?}");
    assert_eq!(*srv.sni.lock().unwrap(), vec![None]);
}

#[tokio::test]
async fn ssl_get_sends_sni_when_asked() {
    let srv = tls_server().await;
    let o = Prober::new()
        .run(&ssl_get(srv.addr, |s| {
            s.sni = Some("www.example.test".into())
        }))
        .await;
    assert!(o.ok, "{o:?}");
    assert_eq!(
        *srv.sni.lock().unwrap(),
        vec![Some("www.example.test".to_string())]
    );
}

#[tokio::test]
async fn ssl_get_verifies_the_certificate_only_when_asked() {
    let srv = tls_server().await;
    let ca = std::env::temp_dir().join(format!("vipd-probe-tls-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &srv.cert_pem).unwrap();
    let ca_path = ca.to_str().unwrap().to_owned();
    let p = Prober::new();

    // SSL_GET verifying against our CA file, with this SNI (None: none).
    let verified_with_ca = |sni: Option<&str>| {
        let sni = sni.map(str::to_owned);
        let ca = ca_path.clone();
        ssl_get(srv.addr, move |s| {
            s.verify_cert = true;
            s.ca_file = Some(ca);
            s.sni = sni;
        })
    };

    // Trusted CA, matching name (SNI) or matching address: pass.
    let o = p.run(&verified_with_ca(Some("localhost"))).await;
    assert!(o.ok, "{o:?}");
    let o = p.run(&verified_with_ca(None)).await;
    assert!(o.ok, "{o:?}");

    // Trusted CA but another name: fail.
    let o = p.run(&verified_with_ca(Some("other.example.test"))).await;
    assert!(!o.ok && o.detail.contains("TLS handshake failed"), "{o:?}");

    // System roots do not know a self-signed certificate.
    let o = p.run(&ssl_get(srv.addr, |s| s.verify_cert = true)).await;
    assert!(!o.ok, "{o:?}");
    let _ = std::fs::remove_file(&ca);

    // A missing CA file is a clear failure.
    let o = p
        .run(&ssl_get(srv.addr, |s| {
            s.verify_cert = true;
            s.ca_file = Some("/nonexistent/vipd-ca.pem".into());
        }))
        .await;
    assert!(!o.ok && o.detail.contains("cannot read CA file"), "{o:?}");
}

#[tokio::test]
async fn ssl_get_to_a_plain_http_server_fails_fast() {
    let srv = http_server("200 OK", b"plain").await;
    let started = std::time::Instant::now();
    let o = Prober::new().run(&ssl_get(srv.addr, |_| {})).await;
    assert!(!o.ok && o.detail.contains("TLS handshake failed"), "{o:?}");
    assert!(started.elapsed() < T);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genhash_over_tls_matches_keepalived() {
    let srv = tls_server().await;
    let port = srv.addr.port().to_string();
    let (ours, theirs) =
        genhash_ours_and_keepalived(&["-S", "-s", "127.0.0.1", "-p", &port, "-u", "/"]);
    assert_eq!(ours, format!("{:x}\n", Md5::digest(BODY)));
    assert_eq!(ours, theirs);
}
