//! Every checker against an IPv6 real server (#17): a director namespace and a
//! real-server namespace of the test's own, joined by a veth pair, with IPv6
//! enabled inside them and documentation addresses added without DAD. The real
//! servers are real programs: `vipd lab httpd`, `openssl s_server`, dnsmasq,
//! Python's smtpd; the probes run in the director namespace. One passing and
//! one failing case per checker, then `bindto`, `bind_port` and `bind_if`
//! (with link-local addresses, which need the interface as scope).
//!
//! ```text
//!   NAME-dir                                   NAME-rs
//!   eth0 2001:db8:26::254/64, fe80::fe  ----   eth0 2001:db8:26::1/64, fe80::1
//!   dummy0 2001:db8:99::1/64 (a veth whose peer dummy1 is here too: a link
//!   that does not lead to the real server)
//! ```
//!
//! Root only (namespaces, raw ICMPv6 sockets); everything is removed on drop,
//! also when an assertion fails.

mod probe_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use probe_support::*;
use vipd::probe::Prober;
use vipd_core::check::{
    CheckKind, CheckerSpec, DnsSpec, DnsType, HttpSpec, MiscSpec, Outcome, UdpSpec, UrlSpec,
};

const T: Duration = Duration::from_secs(2);
const RS: &str = "2001:db8:26::1";
const DIR: &str = "2001:db8:26::254";

/// Processes started in the namespaces, killed by PID on drop.
#[derive(Default)]
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The two namespaces, their servers and a scratch directory.
struct Lab6 {
    // Dropped in this order: the processes, then the namespaces.
    procs: Procs,
    dir: NetNs,
    rs: NetNs,
    scratch: PathBuf,
}

impl Drop for Lab6 {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn sysctl(ns: &NetNs, kv: &str) {
    ns.exec(&["sysctl", "-qw", kv]);
}

impl Lab6 {
    fn new(tag: &str) -> Lab6 {
        require_root();
        let scratch = std::env::temp_dir().join(format!("vipdprobe6-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let lab = Lab6 {
            procs: Procs::default(),
            dir: NetNs::new(&format!("{tag}-d")),
            rs: NetNs::new(&format!("{tag}-r")),
            scratch,
        };
        for ns in [&lab.dir, &lab.rs] {
            // IPv6 on inside the namespace, whatever the host says; no DAD, so
            // addresses work at once.
            for kv in [
                "net.ipv6.conf.all.disable_ipv6=0",
                "net.ipv6.conf.default.disable_ipv6=0",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ] {
                sysctl(ns, kv);
            }
        }
        lab.dir.exec(&[
            "ip",
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lab.rs.name,
        ]);
        for (ns, addrs) in [
            (&lab.dir, [format!("{DIR}/64"), "fe80::fe/64".to_string()]),
            (&lab.rs, [format!("{RS}/64"), "fe80::1/64".to_string()]),
        ] {
            for a in addrs {
                ns.exec(&["ip", "addr", "add", &a, "dev", "eth0", "nodad"]);
            }
            ns.exec(&["ip", "link", "set", "eth0", "up"]);
        }
        // A second link that does not lead to the real server (a veth pair
        // with both ends here: no dummy module on these kernels).
        lab.dir.exec(&[
            "ip", "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1",
        ]);
        lab.dir.exec(&[
            "ip",
            "addr",
            "add",
            "2001:db8:99::1/64",
            "dev",
            "dummy0",
            "nodad",
        ]);
        for i in ["dummy0", "dummy1"] {
            lab.dir.exec(&["ip", "link", "set", i, "up"]);
        }
        lab
    }

    /// Start `args` in the real-server namespace.
    fn spawn_rs(&mut self, args: &[&str]) -> &mut Child {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.rs.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        self.procs.0.push(child);
        self.procs.0.last_mut().unwrap()
    }

    /// Wait until something listens on `port` (`t` TCP, `u` UDP) in the real
    /// server's namespace.
    fn wait_listening(&self, proto: char, port: u16, what: &str) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.rs.name, "ss", "-Hn"])
                .arg(format!("-l{proto}"))
                .arg(format!("sport = :{port}"))
                .output()
                .expect("ss (iproute2)");
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} did not listen on port {port} in {}", self.rs.name);
    }

    /// `vipd lab httpd` on `[::]:80` of the real server (node name `rs1`).
    fn httpd(&mut self) {
        let vipd = env!("CARGO_BIN_EXE_vipd");
        let child = self.spawn_rs(&[vipd, "lab", "httpd", "--node", "rs1", "--listen", "[::]:80"]);
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listening on [::]:80"), "{line:?}");
    }

    /// The index of interface `name` in the real server's namespace.
    fn rs_ifindex(&self, name: &str) -> u32 {
        let out = Command::new("ip")
            .args(["-n", &self.rs.name, "-o", "link", "show", name])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no index for {name} in {text:?}"))
    }

    /// Run one probe in the director namespace.
    fn probe(&self, spec: CheckerSpec) -> Outcome {
        self.dir
            .run_in(move || Box::pin(async move { Prober::new().run(&spec).await }))
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn pass(o: &Outcome) {
    eprintln!("{o:?}");
    assert!(o.ok, "expected a pass: {o:?}");
}

fn fail_with(o: &Outcome, words: &str) {
    eprintln!("{o:?}");
    assert!(
        !o.ok && o.detail.contains(words),
        "expected a failure saying {words:?}: {o:?}"
    );
}

#[test]
fn tcp_check_and_http_get() {
    let mut lab = Lab6::new("http");
    lab.httpd();
    let target = sa(&format!("[{RS}]:80"));
    let o = lab.probe(checker(CheckKind::Tcp, target, T));
    pass(&o);
    assert_eq!(o.detail, format!("connected to [{RS}]:80"));
    let o = lab.probe(checker(CheckKind::Tcp, sa(&format!("[{RS}]:81")), T));
    fail_with(&o, "connection refused");

    let o = lab.probe(http_get(target, UrlSpec::path("/"), T));
    pass(&o);
    let o = lab.probe(http_get(target, UrlSpec::path("/missing"), T));
    fail_with(&o, "404");
}

#[test]
fn ssl_get() {
    let mut lab = Lab6::new("ssl");
    lab.httpd();
    let (key, cert) = (lab.scratch.join("key.pem"), lab.scratch.join("cert.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args([
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=rs1",
            "-days",
            "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (apt-get install openssl)");
    assert!(ok.success());
    let (key, cert) = (key.display().to_string(), cert.display().to_string());
    lab.spawn_rs(&[
        "openssl", "s_server", "-quiet", "-6", "-accept", "443", "-www", "-cert", &cert, "-key",
        &key,
    ]);
    lab.wait_listening('t', 443, "openssl s_server");
    let ssl = |port: u16| {
        let mut h = HttpSpec::get(vec![UrlSpec::path("/")]);
        h.tls = true;
        checker(CheckKind::Http(h), sa(&format!("[{RS}]:{port}")), T)
    };
    pass(&lab.probe(ssl(443)));
    // The plain HTTP server does not speak TLS.
    fail_with(&lab.probe(ssl(80)), "TLS handshake failed");
}

fn dns(port: u16, name: &str) -> CheckerSpec {
    checker(
        CheckKind::Dns(DnsSpec {
            name: name.into(),
            qtype: DnsType::Aaaa,
        }),
        sa(&format!("[{RS}]:{port}")),
        T,
    )
}

#[test]
fn dns_check_and_udp_check() {
    let mut lab = Lab6::new("dns");
    let pid = lab.scratch.join("dnsmasq.pid").display().to_string();
    lab.spawn_rs(&[
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        &format!("--listen-address={RS}"),
        "--port=53",
        "--user=root",
        "--group=root",
        "--host-record=www.example.test,2001:db8::80",
        &format!("--pid-file={pid}"),
    ]);
    lab.wait_listening('u', 53, "dnsmasq");
    let o = lab.probe(dns(53, "www.example.test"));
    pass(&o);
    // A name dnsmasq does not serve (and has no upstream for).
    let o = lab.probe(dns(53, "other.example.test"));
    assert!(!o.ok, "{o:?}");
    // Nothing on the port: ICMPv6 port unreachable.
    fail_with(
        &lab.probe(dns(54, "www.example.test")),
        "connection refused",
    );

    // UDP_CHECK: a DNS query as payload; dnsmasq's reply is required.
    let query = vipd_core::check::dns::query(7, "www.example.test", DnsType::Aaaa).unwrap();
    let udp = |port: u16| {
        checker(
            CheckKind::Udp(UdpSpec {
                payload: query.clone(),
                require_reply: true,
                min_reply_len: Some(12),
                max_reply_len: None,
            }),
            sa(&format!("[{RS}]:{port}")),
            T,
        )
    };
    let o = lab.probe(udp(53));
    pass(&o);
    fail_with(&lab.probe(udp(54)), "port unreachable");
}

#[test]
fn ping_check_icmpv6() {
    let lab = Lab6::new("ping");
    let ping = |ip: &str| checker(CheckKind::Ping, sa(&format!("[{ip}]:0")), T);
    let o = lab.probe(ping(RS));
    pass(&o);
    assert_eq!(o.detail, format!("echo reply from {RS}"));
    // From a given source.
    let mut from = ping(RS);
    from.connect.bindto = Some(DIR.parse().unwrap());
    pass(&lab.probe(from.clone()));
    from.connect.bindto = Some("2001:db8:26::253".parse().unwrap());
    fail_with(&lab.probe(from), "cannot assign requested address");
    // Link-local, through eth0, from our link-local address.
    let mut ll = ping("fe80::1");
    ll.connect.bind_if = Some("eth0".into());
    ll.connect.bindto = Some("fe80::fe".parse().unwrap());
    pass(&lab.probe(ll.clone()));
    // Without bind_if the probe refuses rather than guess the link.
    let mut no_if = ll.clone();
    no_if.connect.bind_if = None;
    fail_with(&lab.probe(no_if), "needs `bind_if`");
    // The real server stops answering echo requests.
    sysctl(&lab.rs, "net.ipv6.icmp.echo_ignore_all=1");
    let started = Instant::now();
    let o = lab.probe(ping(RS));
    fail_with(&o, "timed out after 2s");
    assert!(started.elapsed() < T + Duration::from_secs(2));
}

#[test]
fn smtp_check() {
    let mut lab = Lab6::new("smtp");
    let script = format!(
        "import smtpd, asyncore\nsmtpd.DebuggingServer(('{RS}', 25), None)\nasyncore.loop()\n"
    );
    lab.spawn_rs(&["python3", "-W", "ignore", "-c", &script]);
    lab.wait_listening('t', 25, "python3 smtpd");
    let smtp = |port: u16| {
        checker(
            CheckKind::Smtp {
                helo_name: "director.example.test".into(),
            },
            sa(&format!("[{RS}]:{port}")),
            T,
        )
    };
    let o = lab.probe(smtp(25));
    pass(&o);
    assert!(o.detail.starts_with("HELO answered 250"), "{o:?}");
    fail_with(&lab.probe(smtp(26)), "connection refused");
}

#[test]
fn misc_check_reaches_the_ipv6_real_server() {
    let mut lab = Lab6::new("misc");
    lab.httpd();
    // The program runs in the director's namespace, as the probe does.
    let misc = |port: u16| {
        checker(
            CheckKind::Misc(MiscSpec {
                path: format!("/bin/bash -c 'exec 3<>/dev/tcp/{RS}/{port}'"),
                timeout: Some(T),
                dynamic: false,
                user: None,
                shell: false,
            }),
            sa(&format!("[{RS}]:{port}")),
            T,
        )
    };
    let o = lab.probe(misc(80));
    pass(&o);
    fail_with(&lab.probe(misc(81)), "exit status 1");
}

/// The body `vipd lab httpd` answers to `GET /` from `client` on `server`.
fn hello_digest(client: &str, server: &str) -> [u8; 16] {
    let body = format!("rs1\nclient={client} server={server}\n");
    Md5::digest(body.as_bytes()).into()
}

#[test]
fn bindto_bind_port_and_bind_if() {
    let mut lab = Lab6::new("bind");
    lab.httpd();
    let target = sa(&format!("[{RS}]:80"));
    // The source address and port reach the server: its reply names them, and
    // the digest covers the reply.
    let mut url = UrlSpec::path("/");
    url.digest = Some(hello_digest(
        &format!("[{DIR}]:40001"),
        &format!("[{RS}]:80"),
    ));
    let mut c = http_get(target, url.clone(), T);
    c.connect.bindto = Some(DIR.parse().unwrap());
    c.connect.bind_port = Some(40001);
    pass(&lab.probe(c.clone()));
    // Another source port, another body: the digest no longer matches.
    c.connect.bind_port = Some(40002);
    fail_with(&lab.probe(c.clone()), "digest");

    // An address this director does not have.
    let mut c = checker(CheckKind::Tcp, target, T);
    c.connect.bindto = Some("2001:db8:26::253".parse().unwrap());
    fail_with(
        &lab.probe(c.clone()),
        "bindto [2001:db8:26::253]:0: cannot assign requested address",
    );
    // An IPv4 source for an IPv6 target.
    c.connect.bindto = Some("192.0.2.1".parse().unwrap());
    fail_with(
        &lab.probe(c),
        "bindto 192.0.2.1 is IPv4 but the checker probes 2001:db8:26::1",
    );

    // bind_if: eth0 leads to the real server, dummy0 does not.
    let mut c = checker(CheckKind::Tcp, target, T);
    c.connect.bind_if = Some("eth0".into());
    pass(&lab.probe(c.clone()));
    c.connect.bind_if = Some("dummy0".into());
    let o = lab.probe(c.clone());
    assert!(!o.ok, "{o:?}");
    eprintln!("{o:?}");
    c.connect.bind_if = Some("nosuch0".into());
    fail_with(
        &lab.probe(c),
        "bind_if nosuch0: no such interface on this director",
    );

    // Link-local on both ends, with the interface as scope: HTTP_GET to
    // fe80::1 from fe80::fe. The reply shows the source (the server's own
    // address carries its scope id, which the server side numbers).
    let n = lab.rs_ifindex("eth0");
    let mut url = UrlSpec::path("/");
    url.digest = Some(hello_digest(
        &format!("[fe80::fe%{n}]:40003"),
        &format!("[fe80::1%{n}]:80"),
    ));
    let mut c = http_get(sa("[fe80::1]:80"), url, T);
    c.connect.bindto = Some("fe80::fe".parse().unwrap());
    c.connect.bind_port = Some(40003);
    c.connect.bind_if = Some("eth0".into());
    pass(&lab.probe(c.clone()));
    // UDP and SMTP go through the same helper; DNS_CHECK on a link-local
    // target without bind_if is refused before anything is sent.
    let mut d = dns(53, "www.example.test");
    d.connect.bind_if = None;
    d.connect.target = sa("[fe80::1]:53");
    fail_with(&lab.probe(d), "needs `bind_if`");
    // The same link-local HTTP_GET through the wrong link: fe80::1 is not
    // there (no neighbour answers).
    c.connect.bind_if = Some("dummy0".into());
    c.connect.bindto = None;
    c.connect.bind_port = None;
    let o = lab.probe(c);
    assert!(!o.ok, "{o:?}");
    eprintln!("{o:?}");
}

/// `PROG -s 2001:db8:26::1 -p PORT -u PATH` in the director namespace:
/// (success, stdout, stderr).
fn genhash(lab: &Lab6, prog: &[&str], port: u16, path: &str) -> (bool, String, String) {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.dir.name])
        .args(prog)
        .args(["-s", RS, "-p", &port.to_string(), "-u", path])
        .output()
        .unwrap_or_else(|e| panic!("{prog:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn genhash_of_an_ipv6_real_server_matches_keepalived() {
    let mut lab = Lab6::new("gen");
    lab.httpd();
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let (ok, ours, err) = genhash(&lab, &[vipd, "genhash"], 80, "/bytes/100");
    assert!(ok, "{err}");
    let want: [u8; 16] = Md5::digest([b'x'; 100]).into();
    let hex: String = want.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ours, format!("{hex}\n"));
    let (_, theirs, err) = genhash(&lab, &["keepalived", "--genhash"], 80, "/bytes/100");
    assert_eq!(ours, theirs, "keepalived --genhash: {err}");
    // Nothing on port 81: an error, and a failing exit status.
    let (ok, out, err) = genhash(&lab, &[vipd, "genhash"], 81, "/");
    assert!(
        !ok && out.is_empty() && err.contains("connection refused"),
        "{out}{err}"
    );
}
