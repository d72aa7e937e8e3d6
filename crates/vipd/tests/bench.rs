//! `vipd bench` against a counting test server on loopback: its counts must match
//! the server's, byte counts must be exact for every framing, and failures must be
//! counted by kind when the server is stopped, resets, hangs or answers 503.

mod bench_support;

use std::time::{Duration, Instant};

use bench_support::{bench, free_port, other_failures, response_bytes, Mode, TestServer};
use vipd_core::bench::report::Report;

fn timeline_total(r: &Report) -> (u64, u64) {
    r.timeline
        .iter()
        .fold((0, 0), |(o, f), i| (o + i.ok, f + i.failed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_counts_match_the_server() {
    let srv = TestServer::start(Mode::Length).await;
    let r = bench("-k -c 8 -t 20 --max-requests 3000", &[&srv.url()]).await;
    assert_eq!(r.succeeded, 3000, "{r:#?}");
    assert_eq!(r.failed, 0, "{r:#?}");
    assert_eq!(srv.responses(), 3000);
    assert_eq!(
        srv.counts
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        3000
    );
    // Keep-alive: 8 connections carried all 3000 requests.
    assert_eq!(
        srv.counts
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        8
    );
    assert_eq!(
        r.bytes,
        3000 * response_bytes(Mode::Length, true, false).len() as u64
    );
    assert_eq!(timeline_total(&r), (3000, 0));
    assert!(
        r.latency_us.p50 > 0
            && r.latency_us.p50 <= r.latency_us.p99
            && r.latency_us.p99 <= r.latency_us.max
    );
    assert!(
        r.elapsed_s < 20.0,
        "stopped by the request limit, not the clock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_per_request_by_default_and_time_bound() {
    let srv = TestServer::start(Mode::Length).await;
    let t0 = Instant::now();
    let r = bench("-c 4 -t 1", &[&srv.url()]).await;
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "a 1 s run took {took:?}"
    );
    assert!(r.succeeded > 50, "{r:#?}");
    assert_eq!(r.failed, 0, "{r:#?}");
    assert_eq!(r.http_version, "HTTP/1.0");
    // Every served response was counted, except those cut by the clock.
    let served = srv.responses();
    assert!(
        served >= r.succeeded && served <= r.succeeded + r.cut_at_end,
        "served {served}, {r:#?}"
    );
    // One connection per request.
    let conns = srv
        .counts
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        conns >= r.succeeded && conns <= r.succeeded + r.cut_at_end,
        "connections {conns}, {r:#?}"
    );
    assert_eq!(
        r.bytes,
        r.succeeded * response_bytes(Mode::Length, false, false).len() as u64
    );
    assert_eq!(timeline_total(&r), (r.succeeded, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_close_delimited_bodies_are_framed_exactly() {
    for (mode, keep_alive) in [
        (Mode::Chunked, true),
        (Mode::Chunked, false),
        (Mode::UntilClose, false),
    ] {
        let srv = TestServer::start(mode).await;
        let version = if keep_alive { "-k" } else { "--http11" };
        let options = format!("-c 3 -t 20 --max-requests 300 {version}");
        let r = bench(&options, &[&srv.url()]).await;
        assert_eq!((r.succeeded, r.failed), (300, 0), "{mode:?}: {r:#?}");
        assert_eq!(srv.responses(), 300, "{mode:?}");
        assert_eq!(
            r.bytes,
            300 * response_bytes(mode, keep_alive, false).len() as u64,
            "{mode:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_post_with_body() {
    let srv = TestServer::start(Mode::Length).await;
    let r = bench("-k -c 2 -m head --max-requests 100", &[&srv.url()]).await;
    assert_eq!(
        (r.succeeded, r.failed, r.method.as_str()),
        (100, 0, "HEAD"),
        "{r:#?}"
    );
    assert_eq!(
        r.bytes,
        100 * response_bytes(Mode::Length, true, true).len() as u64
    );

    let srv = TestServer::start(Mode::Length).await;
    let r = bench(
        "-c 2 -m POST --body-size 1000 --max-requests 100",
        &[&srv.url()],
    )
    .await;
    assert_eq!((r.succeeded, r.failed), (100, 0), "{r:#?}");
    assert_eq!(
        srv.counts
            .body_bytes
            .load(std::sync::atomic::Ordering::SeqCst),
        100 * 1000
    );
}

/// A 1.5 s run of 4 clients with `options` against a server stopped after 0.5 s:
/// what it answered before counts as succeeded (exactly the server's count, but
/// for a response written just as it stopped), what came after as refused.
/// Returns the report and how many responses the server wrote.
async fn run_with_server_stopped_mid_run(options: &str) -> (Report, u64) {
    let srv = TestServer::start(Mode::Length).await;
    let url = srv.url();
    let options = format!("-c 4 -t 1.5 --timeout 2 {options}");
    let run = tokio::spawn(async move { bench(&options, &[&url]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    srv.stop().await;
    let served = srv.responses();
    let r = run.await.unwrap();
    // A response the server wrote just as it was stopped may be lost; nothing else.
    assert!(
        r.succeeded <= served && served - r.succeeded <= 4,
        "served {served}, {r:#?}"
    );
    assert!(r.errors.refused > 0, "{r:#?}");
    assert_eq!(other_failures(&r), 0, "{r:#?}");
    (r, served)
}

/// The server goes away mid-run: new connections are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_run_new_connections_are_refused() {
    let (r, served) = run_with_server_stopped_mid_run("").await;
    assert!(
        served > 20,
        "the server answered {served} before it stopped"
    );
    assert_eq!(r.failed, r.errors.total());
    assert_eq!(timeline_total(&r), (r.succeeded, r.failed));
    // Failures come after successes in time: the last second has no success.
    let last = r.timeline.last().unwrap();
    assert_eq!(last.ok, 0, "{:?}", r.timeline);
}

/// Keep-alive connections open when the server stops: they are closed under the
/// clients, and then reconnecting is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stopped_mid_run_keep_alive() {
    run_with_server_stopped_mid_run("-k").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_mid_response_are_resets() {
    let srv = TestServer::start(Mode::ResetMidResponse).await;
    let r = bench("-c 4 -t 20 --max-requests 200", &[&srv.url()]).await;
    assert_eq!(r.succeeded, 0, "{r:#?}");
    assert_eq!(r.errors.reset, 200, "{r:#?}");
    assert_eq!(r.failed, 200);
    assert_eq!(srv.responses(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_status_is_a_failure_and_keeps_the_connection() {
    let srv = TestServer::start(Mode::Status503).await;
    let r = bench("-k -c 2 -t 20 --max-requests 100", &[&srv.url()]).await;
    assert_eq!(
        (r.succeeded, r.errors.bad_status, r.failed),
        (0, 100, 100),
        "{r:#?}"
    );
    // Kept alive: at most one connection per client, not one per request.
    assert!(
        srv.counts
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
            <= 2
    );
    assert!(r
        .to_text()
        .starts_with(&format!("Speed={} pages/min", r.pages_per_min)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_times_out_and_the_run_still_stops() {
    let srv = TestServer::start(Mode::Hang).await;
    let t0 = Instant::now();
    let r = bench("-c 3 -t 1 --timeout 0.3", &[&srv.url()]).await;
    assert!(t0.elapsed() < Duration::from_millis(1500));
    assert_eq!(r.succeeded, 0);
    // 3 clients x (1 s / 0.3 s) = 9 timeouts, give or take the clock.
    assert!((6..=12).contains(&r.errors.timeout), "{r:#?}");
    assert_eq!(r.failed, r.errors.timeout);
    assert_eq!(
        r.cut_at_end, 3,
        "each client had one request in flight at the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_refused_not_hung() {
    // Bind then drop: a loopback port that is very likely closed now.
    let url = format!("http://127.0.0.1:{}/", free_port());
    let r = bench("-c 2 -t 0.3", &[&url]).await;
    assert_eq!(r.succeeded, 0);
    assert!(
        r.errors.refused > 0 && r.failed == r.errors.refused,
        "{r:#?}"
    );
}

/// `vipd bench OPTIONS URL` as a user runs it; must succeed. Returns stdout.
async fn bench_cli(options: &str, url: &str) -> Vec<u8> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
        .arg("bench")
        .args(options.split_whitespace())
        .arg(url)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

/// The binary prints webbench's banner and its two lines exactly, so webbench
/// users' scripts parse them; `--json` prints one object with the same counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_prints_webbench_lines_and_json() {
    let srv = TestServer::start(Mode::Length).await;
    let out = bench_cli("-c 2 -t 10 --max-requests 50", &srv.url()).await;
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("Benchmarking: GET {} (HTTP/1.0)", srv.url())
    );
    assert_eq!(lines[1], "2 clients, running 10 sec or 50 requests.");
    let speed = lines
        .iter()
        .position(|l| l.starts_with("Speed="))
        .expect("a Speed= line");
    let (pages, bps) = lines[speed]
        .strip_prefix("Speed=")
        .and_then(|l| l.strip_suffix(" bytes/sec."))
        .and_then(|l| l.split_once(" pages/min, "))
        .unwrap_or_else(|| panic!("webbench's Speed line, got {:?}", lines[speed]));
    assert!(pages.parse::<u64>().unwrap() > 0 && bps.parse::<u64>().unwrap() > 0);
    assert_eq!(lines[speed + 1], "Requests: 50 susceed, 0 failed.");
    assert!(
        text.contains("Latency ms:") && text.contains("p99.9"),
        "{text}"
    );
    assert!(
        !text.contains('\r'),
        "no progress line when stdout is not a terminal"
    );

    let out = bench_cli("-k --json -c 2 --max-requests 40", &srv.url()).await;
    let v: serde_json::Value = serde_json::from_slice(&out).expect("stdout is one JSON object");
    assert_eq!(v["succeeded"], 40);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["http_version"], "HTTP/1.1");
    assert!(v["latency_us"]["p99_9"].as_u64().is_some());
    assert_eq!(srv.responses(), 90);
}

#[test]
fn cli_rejects_bad_input_with_a_hint() {
    for (args, hint) in [
        (vec!["bench", "https://127.0.0.1/"], "only http://"),
        (vec!["bench", "-c", "0", "http://127.0.0.1/"], "at least 1"),
        (
            vec!["bench", "-t", "0", "http://127.0.0.1/"],
            "positive number of seconds",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vipd"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint), "{args:?}: {err}");
    }
}
