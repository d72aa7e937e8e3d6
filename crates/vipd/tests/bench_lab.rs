//! `vipd bench` against the lab's HTTP server (`vipd lab httpd`): the bench's
//! counts equal the server's own request counter (`GET /stats`), on loopback and
//! across the lab's routed network; a server killed mid-run is counted as
//! refused afterwards, never as a hang.

mod bench_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench_support::{bench, free_port, other_failures, wait_for_listener};
use vipd::httpd;
use vipd::lab::{client, LabGuard, LabOptions};

fn vipd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vipd"))
}

/// The httpd's `/stats` request counter (requests other than `/stats` itself).
fn served(ns: Option<&str>, addr: SocketAddr) -> u64 {
    let body = match ns {
        Some(ns) => {
            client::http_get(ns, addr, "/stats", Duration::from_secs(5))
                .expect("GET /stats")
                .body
        }
        None => {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).expect("connect to httpd");
            write!(s, "GET /stats HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).unwrap();
            raw.split_once("\r\n\r\n")
                .expect("an HTTP response")
                .1
                .to_string()
        }
    };
    let v: serde_json::Value = serde_json::from_str(&body).expect("/stats is JSON");
    v["requests"].as_u64().expect("requests in /stats")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_lab_httpd_on_loopback() {
    let listener = httpd::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(httpd::serve(listener, "rsb".into()));
    let url = format!("http://{addr}/");
    let stats = move || tokio::task::spawn_blocking(move || served(None, addr));

    let r = bench("-k -c 16 -t 30 --max-requests 4000", &[&url]).await;
    assert_eq!((r.succeeded, r.failed, r.retried), (4000, 0, 0), "{r:#?}");
    assert_eq!(stats().await.unwrap(), 4000);

    let r = bench("-c 8 -t 30 --max-requests 1000", &[&url]).await;
    assert_eq!((r.succeeded, r.failed), (1000, 0), "{r:#?}");
    assert_eq!(stats().await.unwrap(), 5000);

    // Big streamed bodies, HTTP/1.0 keep-alive.
    let big = format!("http://{addr}/bytes/100000");
    let r = bench("-k --http10 -c 4 -t 30 --max-requests 200", &[&big]).await;
    assert_eq!((r.succeeded, r.failed), (200, 0), "{r:#?}");
    assert!(
        r.bytes > 200 * 100_000 && r.bytes < 200 * 100_300,
        "{}",
        r.bytes
    );
    assert_eq!(stats().await.unwrap(), 5200);

    // A 404 is a bad status, and is still one request for the server.
    let missing = format!("http://{addr}/missing");
    let r = bench("-k -c 2 -t 30 --max-requests 50", &[&missing]).await;
    assert_eq!((r.succeeded, r.errors.bad_status), (0, 50), "{r:#?}");
    assert_eq!(stats().await.unwrap(), 5250);
    server.abort();
}

/// Several URLs: client N loads URL N mod their number (the direct baseline of
/// `vipd compare` spreads its clients over the three real servers this way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_urls_spread_clients_over_servers() {
    let mut addrs = Vec::new();
    let mut servers = Vec::new();
    for name in ["rsa", "rsb"] {
        let listener = httpd::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        addrs.push(listener.local_addr().unwrap());
        servers.push(tokio::spawn(httpd::serve(listener, name.into())));
    }
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}/")).collect();
    let stats = |addr: SocketAddr| tokio::task::spawn_blocking(move || served(None, addr));

    // One client thread: its event loop takes the four clients in turn, so
    // neither server's pair can be starved by thread scheduling.
    let r = bench(
        "-c 4 --threads 1 -t 30 --max-requests 2000",
        &[&urls[0], &urls[1]],
    )
    .await;
    assert_eq!((r.succeeded, r.failed), (2000, 0), "{r:#?}");
    assert_eq!(r.url, format!("{} {}", urls[0], urls[1]));
    let (a, b) = (
        stats(addrs[0]).await.unwrap(),
        stats(addrs[1]).await.unwrap(),
    );
    assert_eq!(a + b, 2000, "every request reached one of the two servers");
    assert!(a >= 400 && b >= 400, "two clients each: {a} / {b}");

    // One client: it uses the first URL only.
    let r = bench("-k -c 1 -t 30 --max-requests 100", &[&urls[0], &urls[1]]).await;
    assert_eq!((r.succeeded, r.failed), (100, 0), "{r:#?}");
    assert_eq!(stats(addrs[0]).await.unwrap(), a + 100);
    assert_eq!(stats(addrs[1]).await.unwrap(), b);
    for s in servers {
        s.abort();
    }
}

/// `vipd lab httpd` as a child process on 127.0.0.1:`port`, once it listens.
fn spawn_httpd(port: u16) -> std::process::Child {
    let child = Command::new(vipd_bin())
        .args([
            "lab",
            "httpd",
            "--node",
            "rsk",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn vipd lab httpd");
    wait_for_listener(port, || format!("vipd lab httpd did not listen on {port}"));
    child
}

/// The lab's httpd, as its own process, killed (SIGKILL) in the middle of a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_httpd_killed_mid_run_is_refused_not_hung() {
    let port = free_port();
    for keep_alive in [false, true] {
        let mut child = spawn_httpd(port);
        let url = format!("http://127.0.0.1:{port}/");
        let keep_alive_flag = if keep_alive { "-k" } else { "" };
        let options = format!("{keep_alive_flag} -c 4 -t 1.5 --timeout 3");
        let run = tokio::spawn(async move { bench(&options, &[&url]).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Kill the server by its PID (we started it).
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        let _ = child.wait();
        let t_kill = Instant::now();
        let r = run.await.unwrap();
        assert!(
            t_kill.elapsed() < Duration::from_millis(1500),
            "the run did not stop on time"
        );
        assert!(r.succeeded > 10, "keep_alive={keep_alive}: {r:#?}");
        assert!(r.errors.refused > 0, "keep_alive={keep_alive}: {r:#?}");
        assert_eq!(other_failures(&r), 0, "{r:#?}");
        assert_eq!(
            r.timeline.last().unwrap().ok,
            0,
            "no success after the kill: {:?}",
            r.timeline
        );
    }
}

/// In the lab (root): from the client namespace to rs1 across the router, the
/// bench's count equals rs1's, and no other real server saw a request.
#[test]
fn counts_match_a_real_server_across_the_lab() {
    let lab = LabGuard::up(LabOptions {
        vipd_bin: Some(vipd_bin()),
        ..LabOptions::unique("tb")
    })
    .expect("lab up");
    let rip = |n: u8| SocketAddr::from((vipd_core::lab::rip(n), 80));
    let client_ns = lab.netns("client");
    let before: Vec<u64> = (1..=3).map(|n| served(Some(&client_ns), rip(n))).collect();
    for args in [
        vec!["-k", "-c", "8", "--max-requests", "3000"],
        vec!["-c", "8", "--max-requests", "1000"],
    ] {
        let out = lab
            .exec(
                "client",
                [vipd_bin().to_str().unwrap(), "bench", "--json", "-t", "30"]
                    .into_iter()
                    .chain(args.iter().copied())
                    .chain(["http://10.253.26.1/"]),
            )
            .expect("vipd bench in the client namespace");
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(v["failed"], 0, "{v}");
        assert_eq!(
            v["succeeded"].as_u64(),
            args[args.len() - 1].parse().ok(),
            "{v}"
        );
    }
    let after: Vec<u64> = (1..=3).map(|n| served(Some(&client_ns), rip(n))).collect();
    // `/stats` requests are not counted by the server, so the difference is exact.
    assert_eq!(after[0] - before[0], 4000);
    assert_eq!((after[1] - before[1], after[2] - before[2]), (0, 0));
}
