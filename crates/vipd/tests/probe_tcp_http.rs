//! TCP_CHECK and HTTP_GET against real servers on loopback, the concurrency of
//! the driver with hanging servers, and `vipd genhash` against keepalived's.

mod probe_support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use probe_support::*;
use vipd::probe::driver::HealthDriver;
use vipd::probe::Prober;
use vipd_core::check::{CheckKind, HttpSpec, RealSpec, ServiceSpec, UrlSpec};

const T: Duration = Duration::from_secs(1);

#[tokio::test]
async fn tcp_check_passes_on_a_listener_and_fails_on_a_closed_port() {
    let srv = http_server("200 OK", b"x").await;
    let p = Prober::new();
    let o = p.run(&checker(CheckKind::Tcp, srv.addr, T)).await;
    assert!(o.ok, "{o:?}");
    let o = p.run(&checker(CheckKind::Tcp, closed_port(), T)).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "connection refused");
}

#[tokio::test]
async fn tcp_check_honours_bindto() {
    let srv = http_server("200 OK", b"x").await;
    let mut c = checker(CheckKind::Tcp, srv.addr, T);
    c.connect.bindto = Some("127.0.0.2".parse().unwrap());
    assert!(Prober::new().run(&c).await.ok);
    // A source address of the wrong family is refused with a clear reason.
    c.connect.bindto = Some("::1".parse().unwrap());
    let o = Prober::new().run(&c).await;
    assert!(
        !o.ok
            && o.detail
                == format!(
                    "bindto ::1 is IPv6 but the checker probes {}, an IPv4 address",
                    srv.addr.ip()
                ),
        "{o:?}"
    );
}

#[tokio::test]
async fn http_get_sends_keepalived_request_and_judges_status_and_digest() {
    let body: &'static [u8] = b"<html>rs1</html>\n";
    let srv = http_server("200 OK", body).await;
    let p = Prober::new();
    let digest: [u8; 16] = Md5::digest(body).into();

    let mut url = UrlSpec::path("/index.html");
    url.digest = Some(digest);
    let o = p.run(&http_get(srv.addr, url.clone(), T)).await;
    assert!(o.ok, "{o:?}");
    let head = srv.requests.lock().unwrap()[0].clone();
    assert_eq!(
        head,
        format!(
            "GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {}\r\n\r\n",
            srv.addr
        )
    );

    url.digest = Some(Md5::digest(b"other").into());
    let o = p.run(&http_get(srv.addr, url, T)).await;
    assert!(!o.ok && o.detail.contains("MD5 digest"), "{o:?}");

    // Virtual host: per url, else per checker.
    let mut spec = HttpSpec::get(vec![UrlSpec::path("/")]);
    spec.virtualhost = Some("www.example.test".into());
    let o = p.run(&checker(CheckKind::Http(spec), srv.addr, T)).await;
    assert!(o.ok);
    let head = srv.requests.lock().unwrap().last().unwrap().clone();
    assert!(head.contains("\r\nHost: www.example.test\r\n"), "{head}");
}

#[tokio::test]
async fn http_get_status_codes() {
    let srv = http_server("503 Service Unavailable", b"busy").await;
    let p = Prober::new();
    let o = p.run(&http_get(srv.addr, UrlSpec::path("/"), T)).await;
    assert!(!o.ok);
    assert_eq!(o.detail, "/: HTTP status 503");
    let mut url = UrlSpec::path("/");
    url.status_codes = vec![200..=299, 500..=503];
    assert!(p.run(&http_get(srv.addr, url, T)).await.ok);
    // All urls must pass.
    let ok = http_server("200 OK", b"fine").await;
    let spec = HttpSpec::get(vec![UrlSpec::path("/a"), UrlSpec::path("/b")]);
    assert!(p.run(&checker(CheckKind::Http(spec), ok.addr, T)).await.ok);
    assert_eq!(ok.requests.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_server_that_accepts_and_hangs_times_out() {
    let addr = hanging_server().await;
    let p = Prober::new();
    let started = Instant::now();
    let o = p.run(&http_get(addr, UrlSpec::path("/"), T)).await;
    let took = started.elapsed();
    assert!(!o.ok);
    assert_eq!(o.detail, "timed out after 1s");
    assert!(took >= T && took < T + Duration::from_secs(1), "{took:?}");
    // TCP_CHECK only needs the handshake, which the kernel completes.
    assert!(p.run(&checker(CheckKind::Tcp, addr, T)).await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_real_servers_are_probed_concurrently() {
    // 20 healthy and 20 hanging real servers, HTTP_GET with a 2 s timeout. If
    // probes blocked each other, 20 hangs would take 40 s.
    let timeout = Duration::from_secs(2);
    let mut reals = Vec::new();
    let mut healthy = Vec::new();
    for i in 0..40 {
        let addr: SocketAddr = if i % 2 == 0 {
            let a = http_server("200 OK", b"ok").await.addr;
            healthy.push(a);
            a
        } else {
            hanging_server().await
        };
        let mut r = RealSpec::new(addr);
        r.checkers.push(http_get(addr, UrlSpec::path("/"), timeout));
        reals.push(r);
    }
    let spec = ServiceSpec::new("concurrency", reals);
    let started = Instant::now();
    let (mut driver, first) = HealthDriver::start(vec![spec], Prober::new(), 1, true);
    assert!(
        first.plans[0].1.reals.is_empty(),
        "alpha: nothing before checks"
    );
    let mut all_healthy_at = None;
    let mut hanging_failed = 0;
    while started.elapsed() < Duration::from_secs(10)
        && (all_healthy_at.is_none() || hanging_failed < 20)
    {
        let u = tokio::time::timeout(Duration::from_secs(10), driver.next())
            .await
            .expect("driver made progress");
        hanging_failed += u
            .events
            .iter()
            .filter(|(_, e)| e.to_string().contains("timed out after 2s"))
            .count();
        let plan = &driver.plans()[0];
        if all_healthy_at.is_none() && plan.reals.len() == 20 {
            all_healthy_at = Some(started.elapsed());
        }
    }
    let up_at = all_healthy_at.expect("all healthy real servers came up");
    let total = started.elapsed();
    println!("20 healthy up after {up_at:?}; 20 hanging failed after {total:?}");
    assert!(
        up_at < Duration::from_millis(1900),
        "healthy ones waited for the hanging ones: {up_at:?}"
    );
    assert_eq!(hanging_failed, 20);
    assert!(total < timeout + Duration::from_secs(2), "{total:?}");
    let mut in_plan: Vec<_> = driver.plans()[0].reals.iter().map(|r| r.addr).collect();
    in_plan.sort();
    healthy.sort();
    assert_eq!(in_plan, healthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genhash_prints_the_same_digest_as_keepalived() {
    let body: &'static [u8] = b"<html><body>rs1 says hello</body></html>\n";
    let srv = http_server("200 OK", body).await;
    let port = srv.addr.port().to_string();
    let (ours, theirs) =
        genhash_ours_and_keepalived(&["-s", "127.0.0.1", "-p", &port, "-u", "/index.html"]);
    let want = format!("{:x}\n", Md5::digest(body));
    assert_eq!(ours, want);
    assert_eq!(
        ours, theirs,
        "vipd genhash differs from keepalived --genhash"
    );

    // A closed port: a clear error and a failing exit status.
    let closed = closed_port().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(["genhash", "-s", "127.0.0.1", "-p", &closed, "-u", "/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connection refused"), "{err}");
}
