//! `vipd bench` with webbench's URL syntax and an IPv6 literal
//! (`http://[2001:db8::250]:80/`) against `vipd lab httpd` listening on that
//! address, in a network namespace of the test's own with IPv6 enabled inside
//! it: the bench's webbench lines count what the server counted, and a port
//! with nothing behind it fails every request. Root only; the namespace and
//! the server are removed on drop.

mod probe_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use probe_support::{require_root, NetNs};

const VIP: &str = "2001:db8::250";

/// `vipd lab httpd`, killed by PID on drop.
struct Httpd(Child);

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vipd() -> &'static str {
    env!("CARGO_BIN_EXE_vipd")
}

/// `vipd bench ARGS` in `ns`: (exit success, stdout, stderr).
fn bench(ns: &NetNs, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, vipd(), "bench"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(succeeded, failed)` from webbench's `Requests: N susceed, M failed.` line.
fn requests(out: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("Requests: "))
        .unwrap_or_else(|| panic!("no Requests: line in {out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[3].parse().unwrap())
}

/// GET `path` from the server at `[VIP]:80`, from inside `ns`.
fn get(ns: &NetNs, path: &'static str) -> String {
    ns.run_in(move || {
        Box::pin(async move {
            let mut s = std::net::TcpStream::connect(format!("[{VIP}]:80")).unwrap();
            write!(s, "GET {path} HTTP/1.0\r\nHost: [{VIP}]\r\n\r\n").unwrap();
            let mut reply = String::new();
            s.read_to_string(&mut reply).unwrap();
            reply
        })
    })
}

#[test]
fn bench_an_ipv6_literal_url_against_the_lab_httpd() {
    require_root();
    let ns = NetNs::new("bench6");
    for kv in [
        "net.ipv6.conf.all.disable_ipv6=0",
        "net.ipv6.conf.default.disable_ipv6=0",
    ] {
        ns.exec(&["sysctl", "-qw", kv]);
    }
    ns.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{VIP}/128"),
        "dev",
        "lo",
        "nodad",
    ]);
    let listen = format!("[{VIP}]:80");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, vipd(), "lab", "httpd"])
        .args(["--node", "rs6", "--listen", &listen])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _httpd = Httpd(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line, format!("httpd rs6 listening on {listen}\n"));

    // The lab httpd answers on IPv6 and sees the client's IPv6 address.
    let hello = get(&ns, "/");
    assert!(
        hello.contains(&format!("rs6\nclient=[{VIP}]:"))
            && hello.contains(&format!("server=[{VIP}]:80\n")),
        "{hello}"
    );

    let url = format!("http://[{VIP}]:80/");
    let (ok, out, err) = bench(&ns, &["-c", "2", "-t", "1", &url]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("Benchmarking: GET {url}")), "{out}");
    let (succeeded, failed) = requests(&out);
    assert!(succeeded > 0 && failed == 0, "{out}");
    // The server counted the same requests: ours above once more, and at
    // most one per client that was in flight when the time was up.
    let stats = get(&ns, "/stats");
    let served: u64 = stats
        .split("\"requests\":")
        .nth(1)
        .and_then(|r| r.split(['}', ',']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {stats}"));
    assert!(
        (succeeded + 1..=succeeded + 3).contains(&served),
        "bench says {succeeded} succeeded; the server served {served}: {stats}"
    );

    // The same without the port, as webbench users write it.
    let (ok, out, _) = bench(
        &ns,
        &["-c", "1", "-t", "1", &format!("http://[{VIP}]/bytes/100")],
    );
    assert!(ok && requests(&out).0 > 0, "{out}");

    // Nothing listens on port 81: every request fails, none succeeds.
    let (_, out, err) = bench(&ns, &["-c", "1", "-t", "1", &format!("http://[{VIP}]:81/")]);
    let (succeeded, failed) = requests(&out);
    assert!(succeeded == 0 && failed > 0, "{out}\n{err}");
}
