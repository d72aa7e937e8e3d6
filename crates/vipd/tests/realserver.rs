//! `vipd realserver` in network namespaces this test builds itself (root only).
//!
//! Every namespace carries a per-test random prefix and is deleted by a Drop guard,
//! also when a test fails; state files of those namespaces are removed with them.
//! What is checked: `down` restores sysctls/addresses/tc exactly, `up` twice is
//! harmless, decapsulation of a hand-built IPIP packet (and only one addressed to
//! the real server), replies leave from the VIP, ARP for the VIP is answered only by
//! the director, bad input changes nothing, kernel mode names the missing module.
//! IPv6 (#17): ip6ip6, 4in6 and 6in4 built by hand are decapsulated and answered
//! from the VIP, foreign and unsupported ones are left alone (counted), an IPv6 VIP
//! gets no Neighbour Advertisement on the LAN, `up` twice / `down` with IPv6 VIPs,
//! kernel mode with `ip6_tunnel`.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output};
use std::time::Duration;

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the realserver tests create network namespaces: run them as root (CI does)"
    );
    for tool in ["ip", "tc", "arping", "setpriv"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{tool} not found: install iproute2, arping and util-linux (`make deps`)"
        );
    }
}

fn unique_prefix() -> String {
    format!("t{:04x}", common::rand16())
}

fn sh(cmd: &str) -> Output {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Namespaces of one test; deleted (with their state files) on drop.
struct Netns {
    prefix: String,
    names: Vec<String>,
}

impl Netns {
    fn new() -> Self {
        require_root();
        Self {
            prefix: unique_prefix(),
            names: Vec::new(),
        }
    }
    /// Create namespace `<prefix>-<node>` with lo up.
    fn add(&mut self, node: &str) -> String {
        let name = format!("{}-{node}", self.prefix);
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        self.names.push(name.clone());
        name
    }
    /// veth between two namespaces, ends renamed `a_if` / `b_if`, with addresses
    /// (an empty address: none).
    fn link(&self, a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) {
        let (ta, tb) = (
            format!("{}x{a_if}", self.prefix),
            format!("{}y{b_if}", self.prefix),
        );
        sh(&format!(
            "ip link add {ta} type veth peer name {tb} && ip link set {ta} netns {a} && ip link set {tb} netns {b} && \
             ip -n {a} link set {ta} name {a_if} && ip -n {b} link set {tb} name {b_if} && \
             ip -n {a} link set {a_if} up && ip -n {b} link set {b_if} up"
        ));
        for (n, i, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
            if !addr.is_empty() {
                sh(&format!("ip -n {n} addr add {addr} dev {i}"));
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for n in &self.names {
            if let Ok(m) = std::fs::metadata(format!("/run/netns/{n}")) {
                let _ =
                    std::fs::remove_file(format!("/run/vipd/realserver/netns-{}.json", m.ino()));
            }
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn vipd(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, VIPD, "realserver"])
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("vipd runs")
}

fn ok(out: Output) -> String {
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "vipd failed: {s}");
    s
}

fn fails(out: Output) -> String {
    let s = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "vipd should have failed: {s}");
    s
}

/// Everything `up` may touch, as text: IPv4 sysctls of every interface, addresses,
/// routes, qdiscs and ingress filters.
fn snapshot(ns: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let out = sh(&format!(
        "ip netns exec {ns} sh -c 'for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce \
         /proc/sys/net/ipv4/conf/*/rp_filter; do echo \"$f $(cat $f)\"; done'"
    ));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (k, v) = line.split_once(' ').unwrap();
        m.insert(k.to_string(), v.to_string());
    }
    let cmds = [
        ("addrs", format!("ip -n {ns} -4 -o addr show")),
        ("links", format!("ip -n {ns} -o link show")),
        ("routes", format!("ip -n {ns} -4 route show table all")),
        ("qdiscs", format!("tc -n {ns} qdisc show")),
        (
            "filters",
            format!("tc -n {ns} filter show dev eth0 ingress"),
        ),
    ];
    for (k, c) in cmds {
        m.insert(
            k.to_string(),
            String::from_utf8_lossy(&sh(&c).stdout).into_owned(),
        );
    }
    m
}

/// Whether this kernel has the `ipip` module (loaded, built in, or installed).
fn kernel_has_ipip() -> bool {
    kernel_has("ipip")
}

/// Whether this kernel has `module` (loaded, built in, or installed).
fn kernel_has(module: &str) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = format!("/lib/modules/{}", release.trim());
    std::path::Path::new(&format!("/sys/module/{module}")).exists()
        || ["modules.dep", "modules.builtin"].iter().any(|f| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .is_ok_and(|s| s.contains(&format!("/{module}.ko")))
        })
}

fn sysctl(ns: &str, key: &str) -> String {
    let out = sh(&format!(
        "ip netns exec {ns} cat /proc/sys/net/ipv4/conf/{key}"
    ));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {:?} -> {:?}", a.get(k), b.get(k)))
        .collect()
}

/// Run `f` on a thread that has entered namespace `ns` (sockets it makes live there).
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let file = File::open(format!("/run/netns/{ns}")).expect("netns file");
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum();
    while s > 0xffff {
        s = (s >> 16) + (s & 0xffff);
    }
    !(s as u16)
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend(len.to_be_bytes());
    h.extend([0, 1, 0, 0, 64, proto, 0, 0]);
    h.extend(src.octets());
    h.extend(dst.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend(payload);
    h
}

/// Send, from the current thread's namespace, IPIP outer `src -> outer_dst` carrying
/// UDP `src:sport -> vip:dport` with `payload` (UDP checksum 0: allowed for IPv4).
fn send_ipip(
    src: Ipv4Addr,
    outer_dst: Ipv4Addr,
    vip: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: &[u8],
) {
    let mut udp = Vec::new();
    udp.extend(sport.to_be_bytes());
    udp.extend(dport.to_be_bytes());
    udp.extend(((8 + payload.len()) as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend(payload);
    let inner = ipv4(src, vip, 17, &udp);
    let outer = ipv4(src, outer_dst, 4, &inner);
    let s = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("raw socket");
    s.send_to(&outer, &SocketAddrV4::new(outer_dst, 0).into())
        .expect("send IPIP");
}

/// Real server `rs` (eth0 10.253.A.2/24) and a sender `cl` (10.253.A.1/24), wired by a veth.
fn two_nodes(ns: &mut Netns, subnet: u8) -> (String, String) {
    let rs = ns.add("rs");
    let cl = ns.add("cl");
    ns.link(
        &rs,
        "eth0",
        &format!("10.253.{subnet}.2/24"),
        &cl,
        "eth0",
        &format!("10.253.{subnet}.1/24"),
    );
    (rs, cl)
}

#[test]
fn realserver_down_restores_exactly_what_up_changed() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes(&mut ns, 211);
    // Non-default values and a clsact qdisc that predate vipd: they must survive.
    sh(&format!(
        "ip netns exec {rs} sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/arp_announce; echo 2 > /proc/sys/net/ipv4/conf/eth0/arp_ignore' && \
         tc -n {rs} qdisc add dev eth0 clsact"
    ));
    let before = snapshot(&rs);

    let out = ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));
    assert!(out.contains("decap bpf"), "{out}");
    let up1 = snapshot(&rs);
    assert!(
        up1["addrs"].contains("10.253.85.250/32"),
        "{}",
        up1["addrs"]
    );
    assert!(up1["filters"].contains("vipd_decap"), "{}", up1["filters"]);
    assert_eq!(sysctl(&rs, "all/arp_ignore"), "1");
    assert_eq!(sysctl(&rs, "all/arp_announce"), "2");
    assert_eq!(sysctl(&rs, "eth0/arp_ignore"), "1");
    assert_eq!(sysctl(&rs, "lo/arp_announce"), "2");

    // `up` twice is harmless: nothing changes, status is clean.
    ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));
    assert_eq!(diff(&up1, &snapshot(&rs)), Vec::<String>::new());
    let st = ok(vipd(&rs, &["status"]));
    assert!(st.contains("checks:     OK"), "{st}");

    // Drift is reported (exit 1) and repaired by `up`, which keeps the original previous value.
    sh(&format!(
        "ip netns exec {rs} sh -c 'echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore'"
    ));
    let st = fails(vipd(&rs, &["status"]));
    assert!(
        st.contains("net.ipv4.conf.all.arp_ignore is 0, expected 1"),
        "{st}"
    );
    ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));
    assert_eq!(diff(&up1, &snapshot(&rs)), Vec::<String>::new());

    let dry = ok(vipd(&rs, &["down", "--dry-run"]));
    assert!(
        dry.contains("sysctl -w net.ipv4.conf.all.arp_announce=1"),
        "{dry}"
    );
    assert!(dry.contains("ip addr del 10.253.85.250/32 dev lo"), "{dry}");
    assert!(
        !dry.contains("tc qdisc del"),
        "the clsact predates vipd: {dry}"
    );
    assert_eq!(
        diff(&up1, &snapshot(&rs)),
        Vec::<String>::new(),
        "dry-run changed something"
    );

    ok(vipd(&rs, &["down"]));
    assert_eq!(diff(&before, &snapshot(&rs)), Vec::<String>::new());
    let again = ok(vipd(&rs, &["down"]));
    assert!(again.contains("nothing to undo"), "{again}");
}

#[test]
fn realserver_bpf_decap_delivers_ipip_to_the_vip_only_when_addressed_to_us() {
    let mut ns = Netns::new();
    let (rs, cl) = two_nodes(&mut ns, 212);
    let vip: Ipv4Addr = "10.253.85.250".parse().unwrap();
    let rip: Ipv4Addr = "10.253.212.2".parse().unwrap();
    let cip: Ipv4Addr = "10.253.212.1".parse().unwrap();
    let not_ours: Ipv4Addr = "10.253.212.99".parse().unwrap();
    // The sender routes the foreign address through the real server, so that frame
    // reaches rs's MAC with an outer destination that is not rs's.
    sh(&format!("ip -n {cl} route add {not_ours}/32 via {rip}"));

    // One exchange: the real server listens on VIP:7777 and echoes; the sender
    // sends IPIP to `outer` and waits for the echo. Returns the echo's source.
    let exchange = |outer: Ipv4Addr, bind_vip: bool| -> Option<SocketAddrV4> {
        let listener = bind_vip.then(|| {
            in_netns(&rs, move || {
                let s = UdpSocket::bind((vip, 7777)).expect("bind VIP:7777");
                s.set_read_timeout(Some(Duration::from_millis(1500)))
                    .unwrap();
                let mut buf = [0u8; 64];
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    assert_eq!(&buf[..n], b"hello", "inner payload intact");
                    s.send_to(b"reply", from).unwrap();
                }
            })
        });
        std::thread::sleep(Duration::from_millis(100));
        let got = in_netns(&cl, move || {
            let s = UdpSocket::bind((cip, 40000)).expect("bind client");
            s.set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            send_ipip(cip, outer, vip, 40000, 7777, b"hello");
            let mut buf = [0u8; 64];
            match s.recv_from(&mut buf) {
                Ok((n, std::net::SocketAddr::V4(from))) if &buf[..n] == b"reply" => Some(from),
                _ => None,
            }
        })
        .join()
        .unwrap();
        if let Some(l) = listener {
            l.join().unwrap();
        }
        got
    };

    // Control: with the VIP on lo by hand but no decap, the kernel (no ipip) drops it.
    sh(&format!("ip -n {rs} addr add {vip}/32 dev lo"));
    assert_eq!(
        exchange(rip, true),
        None,
        "delivered without decap: the test cannot tell"
    );
    sh(&format!("ip -n {rs} addr del {vip}/32 dev lo"));

    ok(vipd(
        &rs,
        &[
            "up",
            "--vip",
            "10.253.85.250",
            "--decap",
            "bpf",
            "--interface",
            "eth0",
        ],
    ));
    let from = exchange(rip, true).expect("IPIP to the real server's address reaches VIP:7777");
    assert_eq!(
        from,
        SocketAddrV4::new(vip, 7777),
        "the reply leaves from the VIP, straight to the client"
    );

    // IPIP whose outer destination is not ours is left alone (and rs does not forward).
    assert_eq!(exchange(not_ours, false), None);
    let st = ok(vipd(&rs, &["status"]));
    let count = |label: &str| -> u64 {
        st.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in status:\n{st}"))
    };
    assert_eq!(count("decapsulated"), 1, "{st}");
    assert_eq!(count("outer ipv4 not for us"), 1, "{st}");
    assert!(st.contains("outer dst:  10.253.212.2"), "{st}");

    ok(vipd(&rs, &["down"]));
    assert_eq!(exchange(rip, false), None, "still decapsulating after down");
    let filters = sh(&format!("tc -n {rs} filter show dev eth0 ingress"));
    assert!(
        filters.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&filters.stdout)
    );
}

/// MAC addresses that answered an ARP request for `ip`, asked from `ns` on `dev`.
fn arp_responders(ns: &str, dev: &str, ip: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "arping", "-c", "3", "-W", "0.2", "-i", dev, ip,
        ])
        .output()
        .expect("arping runs");
    common::arping_responders(&out.stdout)
}

fn mac_of(ns: &str, dev: &str) -> String {
    let out = sh(&format!(
        "ip netns exec {ns} cat /sys/class/net/{dev}/address"
    ));
    String::from_utf8_lossy(&out.stdout).trim().to_lowercase()
}

#[test]
fn realserver_arp_for_the_vip_is_answered_only_by_the_director() {
    let mut ns = Netns::new();
    let br = ns.add("br");
    let rt = ns.add("rt");
    let dir = ns.add("dir");
    let rs = ns.add("rs");
    sh(&format!(
        "ip -n {br} link add br0 type bridge && ip -n {br} link set br0 up"
    ));
    for (node, addr) in [
        (&rt, "10.253.213.1/24"),
        (&dir, "10.253.213.2/24"),
        (&rs, "10.253.213.3/24"),
    ] {
        let port = format!("p{}", &node[node.len() - 2..]);
        ns.link(node, "eth0", addr, &br, &port, "");
        sh(&format!("ip -n {br} link set {port} master br0"));
    }
    let vip = "10.253.213.250";
    // The director holds the VIP (by hand here; VRRP does it in the lab).
    sh(&format!("ip -n {dir} addr add {vip}/32 dev eth0"));
    let dir_mac = mac_of(&dir, "eth0");
    let rs_mac = mac_of(&rs, "eth0");

    // Control: a real server with the VIP on lo and default ARP sysctls answers too.
    sh(&format!("ip -n {rs} addr add {vip}/32 dev lo"));
    let both = arp_responders(&rt, "eth0", vip);
    assert!(
        both.contains(&rs_mac) && both.contains(&dir_mac),
        "control failed (rs {rs_mac}, dir {dir_mac}): {both:?}"
    );
    sh(&format!("ip -n {rs} addr del {vip}/32 dev lo"));

    ok(vipd(&rs, &["up", "--vip", vip]));
    sh(&format!("ip -n {rt} neigh flush dev eth0"));
    assert_eq!(arp_responders(&rt, "eth0", vip), vec![dir_mac.clone()]);
    // The real server still answers for its own address.
    assert_eq!(arp_responders(&rt, "eth0", "10.253.213.3"), vec![rs_mac]);
    ok(vipd(&rs, &["down"]));
}

#[test]
fn realserver_bad_input_changes_nothing() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes(&mut ns, 214);
    let before = snapshot(&rs);

    let e = fails(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--interface", "nope0"],
    ));
    assert!(
        e.contains("interface \"nope0\" does not exist") && e.contains("eth0"),
        "{e}"
    );
    let e = fails(vipd(&rs, &["up", "--vip", "10.253.214.2"]));
    assert!(
        e.contains("VIP 10.253.214.2 is this host's own address") && e.contains("eth0"),
        "{e}"
    );
    let e = fails(vipd(&rs, &["up", "--vip", "10.253.85.300"]));
    assert!(e.contains("invalid value '10.253.85.300'"), "{e}");
    let e = fails(vipd(&rs, &["up", "--vip", "224.0.0.18"]));
    assert!(
        e.contains("224.0.0.18 cannot be a VIP: it is a multicast address"),
        "{e}"
    );
    let e = fails(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--interface", "lo"],
    ));
    assert!(e.contains("loopback"), "{e}");
    let out = vipd(&rs, &["up", "--vip", "10.253.85.250", "--decap", "kernel"]);
    if kernel_has_ipip() {
        // Not bad input on this kernel: kernel mode must work, and undo.
        ok(out);
        ok(vipd(&rs, &["down"]));
    } else {
        let e = fails(out);
        assert!(
            e.contains("kernel module `ipip`") && e.contains("--decap bpf"),
            "{e}"
        );
    }
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &rs,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            VIPD,
        ])
        .args(["realserver", "up", "--vip", "10.253.85.250"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let e = fails(out);
    assert!(e.contains("must run as root"), "{e}");

    // --dry-run shows the commands and changes nothing either.
    let dry = ok(vipd(&rs, &["up", "--vip", "10.253.85.250", "--dry-run"]));
    assert!(dry.contains("ip addr add 10.253.85.250/32 dev lo"), "{dry}");
    assert!(
        dry.contains("sysctl -w net.ipv4.conf.all.arp_ignore=1"),
        "{dry}"
    );
    assert!(dry.contains("tc filter add dev eth0 ingress bpf"), "{dry}");

    assert_eq!(diff(&before, &snapshot(&rs)), Vec::<String>::new());
    let st = ok(vipd(&rs, &["status"]));
    assert!(st.contains("not up"), "{st}");
}

/// Attach to TUN device `name` (already created with `ip tuntap`) in the calling
/// thread's namespace; packets without the packet-information header.
#[expect(unsafe_code, reason = "TUNSETIFF is an ioctl with no safe wrapper")]
fn open_tun(name: &str) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .expect("/dev/net/tun");
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as i16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: valid fd; ifr is a 40-byte struct ifreq as TUNSETIFF expects.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0x400454ca,
            ifr.as_mut_ptr(),
        )
    };
    assert_eq!(
        rc,
        0,
        "TUNSETIFF {name}: {}",
        std::io::Error::last_os_error()
    );
    f
}

/// TCP through the decap, both directions with a megabyte each, with a stand-in
/// director: in the client's namespace the VIP is routed into a TUN device and a
/// thread wraps every packet in IPIP to the real server (what the XDP director
/// does), so the test needs nothing but the real-server side.
#[test]
fn realserver_bpf_decap_carries_tcp_both_ways() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let mut ns = Netns::new();
    let (rs, cl) = two_nodes(&mut ns, 215);
    let vip: Ipv4Addr = "10.253.85.250".parse().unwrap();
    let rip: Ipv4Addr = "10.253.215.2".parse().unwrap();
    let cip: Ipv4Addr = "10.253.215.1".parse().unwrap();
    sh(&format!(
        "ip -n {cl} tuntap add dev vtun0 mode tun && ip -n {cl} link set vtun0 mtu 1480 up && \
         ip -n {cl} route add {vip}/32 dev vtun0 src {cip} && \
         ip netns exec {cl} sh -c 'for i in all eth0 vtun0; do echo 0 > /proc/sys/net/ipv4/conf/$i/rp_filter; done'"
    ));
    ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));

    const SIZE: usize = 1 << 20;
    let server = in_netns(&rs, move || {
        let l = TcpListener::bind((vip, 8080)).expect("bind VIP:8080");
        let (mut c, peer) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let body: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
        c.write_all(&body).unwrap();
        (got, peer)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let encap = in_netns(&cl, move || {
        let tun = open_tun("vtun0");
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
        )
        .unwrap();
        let mut buf = vec![0u8; 65536];
        let mut tun_r = &tun;
        let mut n_pkts = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let n = match tun_r.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                Err(e) => panic!("reading the TUN device: {e}"),
            };
            let outer = ipv4(cip, rip, 4, &buf[..n]);
            raw.send_to(&outer, &SocketAddrV4::new(rip, 0).into())
                .unwrap();
            n_pkts += 1;
        }
        n_pkts
    });

    let upload: Vec<u8> = (0..SIZE).map(|i| (i * 13 % 253) as u8).collect();
    let up2 = upload.clone();
    let downloaded = in_netns(&cl, move || {
        let mut s = TcpStream::connect_timeout(
            &SocketAddrV4::new(vip, 8080).into(),
            Duration::from_secs(5),
        )
        .expect("TCP connect to VIP:8080 through IPIP");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.peer_addr().unwrap(), SocketAddrV4::new(vip, 8080).into());
        s.write_all(&up2).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        back
    })
    .join()
    .unwrap();
    let (got, peer) = server.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let pkts = encap.join().unwrap();

    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(cip),
        "the real server sees the client's address"
    );
    assert!(
        got == upload,
        "upload corrupted: {} of {SIZE} bytes",
        got.len()
    );
    let body: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
    assert!(
        downloaded == body,
        "download corrupted: {} of {SIZE} bytes",
        downloaded.len()
    );
    let st = ok(vipd(&rs, &["status"]));
    let decapsulated: u64 = st
        .lines()
        .find(|l| l.trim_start().starts_with("decapsulated"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        decapsulated > 0 && decapsulated <= pkts,
        "{decapsulated} decapsulated, {pkts} sent: {st}"
    );
    ok(vipd(&rs, &["down"]));
}

/// The seed's `realserver.sh start`, quotes fixed, minus `modprobe` (this kernel
/// has no modules), for VIPs `vips`.
fn seed_start(ns: &str, vips: &[&str]) {
    let mut script =
        String::from("set -e\nip link set tunl0 up\nip link set tunl0 arp off\nNO=0\n");
    for v in vips {
        script.push_str(&format!(
            "NO=$((NO+1))\nip addr add {v}/32 br {v} label tunl0:$NO dev tunl0\nip route add {v}/32 dev tunl0\n"
        ));
    }
    script.push_str(
        "echo 1 > /proc/sys/net/ipv4/conf/tunl0/arp_ignore\n\
         echo 2 > /proc/sys/net/ipv4/conf/tunl0/arp_announce\n\
         echo 0 > /proc/sys/net/ipv4/conf/tunl0/rp_filter\n\
         echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore\n\
         echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce\n",
    );
    sh(&format!("ip netns exec {ns} sh -c '{script}'"));
}

/// Kernel mode, compared with the seed's script. The kernel here has no `ipip`, so
/// `tunl0` is a stand-in (a bridge named tunl0, made before `up`, which then sees a
/// tunl0 and uses kernel mode): this checks every address, label, route, flag and
/// sysctl vipd sets against what the seed's commands set, and that `down` restores
/// it all; the decapsulation itself is the kernel's and cannot run here.
#[test]
fn realserver_kernel_mode_matches_the_seed_script() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes(&mut ns, 216);
    let seed = ns.add("seed");
    for n in [&rs, &seed] {
        // Up and down once: the first `up` of a device attaches its default qdisc, a
        // kernel side effect that no `down` takes back (a real tunl0 does the same).
        sh(&format!(
            "ip -n {n} link add tunl0 type bridge && ip -n {n} link set tunl0 up && ip -n {n} link set tunl0 down && \
             ip netns exec {n} sh -c 'echo 1 > /proc/sys/net/ipv4/conf/tunl0/rp_filter'"
        ));
    }
    sh(&format!("ip -n {seed} link add eth0 type bridge && ip -n {seed} link set eth0 up && ip -n {seed} addr add 10.253.216.2/24 dev eth0"));
    let vips = ["10.253.85.250", "10.253.85.251"];
    let before = snapshot(&rs);

    let out = ok(vipd(
        &rs,
        &[
            "up", "--vip", vips[0], "--vip", vips[1], "--decap", "kernel",
        ],
    ));
    assert!(out.contains("decap kernel"), "{out}");
    seed_start(&seed, &vips);

    let strip = |s: &str| -> String {
        // Interface indexes, MACs and link-netns differ between the two namespaces.
        s.lines()
            .filter(|l| l.contains("tunl0") || l.contains("conf/all") || l.contains("10.253.85."))
            .map(|l| l.split_once(": ").map(|(_, r)| r).unwrap_or(l))
            .map(|l| l.split(" link/").next().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (a, b) = (snapshot(&rs), snapshot(&seed));
    for key in ["addrs", "routes"] {
        assert_eq!(
            strip(&a[key]),
            strip(&b[key]),
            "{key} differ from the seed's"
        );
        assert!(a[key].contains("10.253.85.251"), "{}", a[key]);
    }
    assert_eq!(
        strip(&a["links"]),
        strip(&b["links"]),
        "tunl0 flags differ from the seed's"
    );
    assert!(a["links"].contains("NOARP,UP"), "{}", a["links"]);
    assert!(
        a["addrs"].contains("brd 10.253.85.250") && a["addrs"].contains("tunl0:2"),
        "{}",
        a["addrs"]
    );
    for (k, v) in &b {
        if k.contains("/conf/tunl0/") || k.contains("/conf/all/") {
            assert_eq!(a.get(k), Some(v), "{k}: vipd vs seed");
        }
    }
    let st = ok(vipd(&rs, &["status"]));
    assert!(
        st.contains("tunl0:      up, arp off") && st.contains("checks:     OK"),
        "{st}"
    );

    // `up` again with a third VIP takes the next label; `down` restores everything.
    ok(vipd(
        &rs,
        &["up", "--vip", "10.253.85.252", "--decap", "kernel"],
    ));
    assert!(snapshot(&rs)["addrs"].contains("tunl0:3"));
    let e = fails(vipd(&rs, &["up", "--vip", vips[0], "--decap", "bpf"]));
    assert!(e.contains("already up with --decap kernel"), "{e}");
    ok(vipd(&rs, &["down"]));
    assert_eq!(diff(&before, &snapshot(&rs)), Vec::<String>::new());
}

/// Strict reverse-path filtering in `all` would drop the decapsulated packets on
/// tunl0 (the kernel takes max(all, tunl0)): vipd lowers `all` and raises each other
/// interface to keep its effective value, and `down` puts every value back.
#[test]
fn realserver_kernel_mode_relaxes_strict_rp_filter_without_weakening_others() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes(&mut ns, 217);
    sh(&format!(
        "ip -n {rs} link add tunl0 type bridge && ip -n {rs} link set tunl0 up && ip -n {rs} link set tunl0 down && \
         ip netns exec {rs} sh -c \
         'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/eth0/rp_filter; \
          echo 2 > /proc/sys/net/ipv4/conf/lo/rp_filter'"
    ));
    let before = snapshot(&rs);
    ok(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--decap", "kernel"],
    ));
    assert_eq!(sysctl(&rs, "all/rp_filter"), "0");
    assert_eq!(sysctl(&rs, "tunl0/rp_filter"), "0");
    assert_eq!(
        sysctl(&rs, "eth0/rp_filter"),
        "1",
        "eth0 keeps strict filtering"
    );
    assert_eq!(
        sysctl(&rs, "lo/rp_filter"),
        "2",
        "lo keeps its own loose value"
    );
    ok(vipd(&rs, &["down"]));
    assert_eq!(diff(&before, &snapshot(&rs)), Vec::<String>::new());
}

/// A failure half-way through `up` puts back what that run changed: here eth0's
/// sysctls are made read-only (a bind mount in the private mount namespace of
/// `ip netns exec`), so `up` fails after adding the VIP and writing `all`/`lo`.
#[test]
fn realserver_up_failing_half_way_changes_nothing() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes(&mut ns, 218);
    let before = snapshot(&rs);
    let conf = "/proc/sys/net/ipv4/conf/eth0";
    let out = Command::new("ip")
        .args(["netns", "exec", &rs, "sh", "-c"])
        .arg(format!(
            "mount --bind {conf} {conf} && mount -o remount,bind,ro {conf} && exec {VIPD} realserver up --vip 10.253.85.250"
        ))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let e = fails(out);
    assert!(
        e.contains("writing 1 to /proc/sys/net/ipv4/conf/eth0/arp_ignore: Read-only file system"),
        "{e}"
    );
    assert_eq!(diff(&before, &snapshot(&rs)), Vec::<String>::new());
    let st = ok(vipd(&rs, &["status"]));
    assert!(st.contains("not up"), "{st}");
}

/// A namespace deleted without `down` (a lab torn down) leaves its state file; the
/// next `up` anywhere removes it, and never the file of a namespace still alive.
#[test]
fn realserver_state_of_a_deleted_namespace_is_collected() {
    let mut ns = Netns::new();
    let (rs, _) = two_nodes(&mut ns, 219);
    // A second real server whose eth0 does not go away with rs (a bridge, not a veth).
    let cl = ns.add("o");
    sh(&format!(
        "ip -n {cl} link add eth0 type bridge && ip -n {cl} link set eth0 up && ip -n {cl} addr add 10.253.220.2/24 dev eth0"
    ));
    ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));
    ok(vipd(&cl, &["up", "--vip", "10.253.85.251"]));
    let ino = |n: &str| std::fs::metadata(format!("/run/netns/{n}")).unwrap().ino();
    let (dead, live) = (ino(&rs), ino(&cl));
    let file = |i: u64| std::path::PathBuf::from(format!("/run/vipd/realserver/netns-{i}.json"));
    assert!(file(dead).exists() && file(live).exists());
    sh(&format!("ip netns del {rs}"));
    ok(vipd(&cl, &["up", "--vip", "10.253.85.251"]));
    // (Unless a namespace created meanwhile by a parallel test reused the inode.)
    let reused = std::fs::read_dir("/run/netns")
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == dead));
    assert!(
        !file(dead).exists() || reused,
        "state of the deleted namespace is still there"
    );
    assert!(file(live).exists(), "state of a live namespace was removed");
    ok(vipd(&cl, &["down"]));
}

// ---------------------------------------------------------------------------
// IPv6 (#17): ip6ip6, 4in6, 6in4.

impl Netns {
    /// As [`Netns::add`], with IPv6 on and DAD off, so addresses work at once.
    fn add6(&mut self, node: &str) -> String {
        let name = self.add(node);
        sh(&format!(
            "ip netns exec {name} sh -c 'for c in all default lo; do \
             echo 0 > /proc/sys/net/ipv6/conf/$c/disable_ipv6; echo 0 > /proc/sys/net/ipv6/conf/$c/accept_dad; done'"
        ));
        name
    }
}

/// [`snapshot`] plus the IPv6 side: sysctls that matter, addresses, routes.
fn snapshot6(ns: &str) -> BTreeMap<String, String> {
    let mut m = snapshot(ns);
    let out = sh(&format!(
        "ip netns exec {ns} sh -c 'for f in /proc/sys/net/ipv6/conf/*/disable_ipv6 /proc/sys/net/ipv6/conf/*/proxy_ndp \
         /proc/sys/net/ipv6/conf/*/forwarding /proc/sys/net/ipv6/conf/*/accept_dad; do echo \"$f $(cat $f)\"; done'"
    ));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (k, v) = line.split_once(' ').unwrap();
        m.insert(k.to_string(), v.to_string());
    }
    for (k, c) in [
        ("addrs6", format!("ip -n {ns} -6 -o addr show")),
        ("routes6", format!("ip -n {ns} -6 route show table all")),
        ("links", format!("ip -n {ns} -o link show")),
    ] {
        m.insert(
            k.into(),
            String::from_utf8_lossy(&sh(&c).stdout).into_owned(),
        );
    }
    m
}

/// Real server `rs` and sender `cl` on a veth, each with 10.253.S.{2,1}/24 and
/// 2001:db8:S::{2,1}/64 (S in hex as written).
fn two_nodes6(ns: &mut Netns, subnet: u8) -> (String, String) {
    let rs = ns.add6("rs");
    let cl = ns.add6("cl");
    ns.link(
        &rs,
        "eth0",
        &format!("10.253.{subnet}.2/24"),
        &cl,
        "eth0",
        &format!("10.253.{subnet}.1/24"),
    );
    for (n, host) in [(&rs, 2), (&cl, 1)] {
        sh(&format!(
            "ip -n {n} -6 addr add 2001:db8:{subnet}::{host}/64 dev eth0 nodad"
        ));
    }
    (rs, cl)
}

/// IPv6 header (no extension headers) in front of `payload`; traffic class 0,
/// a flow label, hop limit 64, as the director builds it.
fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0x01, 0x23, 0x45];
    h.extend((payload.len() as u16).to_be_bytes());
    h.extend([next, 64]);
    h.extend(src.octets());
    h.extend(dst.octets());
    h.extend(payload);
    h
}

/// UDP datagram; over IPv6 the checksum is mandatory (pseudo header), over IPv4
/// 0 (none).
fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend(sport.to_be_bytes());
    u.extend(dport.to_be_bytes());
    u.extend(len.to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) {
        let mut pseudo = Vec::new();
        pseudo.extend(s.octets());
        pseudo.extend(d.octets());
        pseudo.extend(u32::from(len).to_be_bytes());
        pseudo.extend([0, 0, 0, 17]);
        pseudo.extend(&u);
        let c = match csum(&pseudo) {
            0 => 0xffff,
            c => c,
        };
        u[6..8].copy_from_slice(&c.to_be_bytes());
    }
    u
}

/// The inner packet CIP:sport -> VIP:dport carrying `payload`.
fn inner_udp(cip: IpAddr, vip: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let u = udp(cip, vip, sport, dport, payload);
    match (cip, vip) {
        (IpAddr::V4(c), IpAddr::V4(v)) => ipv4(c, v, 17, &u),
        (IpAddr::V6(c), IpAddr::V6(v)) => ipv6(c, v, 17, &u),
        _ => unreachable!("CIP and VIP of one family"),
    }
}

/// Send a complete IP packet (header included) from the current thread's
/// namespace; the kernel routes it by `dst`.
fn send_raw(dst: IpAddr, packet: &[u8]) {
    let (domain, addr): (socket2::Domain, socket2::SockAddr) = match dst {
        IpAddr::V4(d) => (socket2::Domain::IPV4, SocketAddrV4::new(d, 0).into()),
        IpAddr::V6(d) => (socket2::Domain::IPV6, SocketAddrV6::new(d, 0, 0, 0).into()),
    };
    // IPPROTO_RAW implies "header included", for IPv6 too.
    let s = socket2::Socket::new(
        domain,
        socket2::Type::RAW,
        Some(socket2::Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("raw socket");
    s.send_to(packet, &addr).expect("send raw packet");
}

/// The director's four encapsulations, outer source `src`, outer destination `dst`.
fn encap(src: IpAddr, dst: IpAddr, inner: &[u8]) -> Vec<u8> {
    let proto = if inner[0] >> 4 == 4 { 4 } else { 41 };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ipv4(s, d, proto, inner),
        (IpAddr::V6(s), IpAddr::V6(d)) => ipv6(s, d, proto, inner),
        _ => unreachable!("outer addresses of one family"),
    }
}

/// One UDP exchange through the decap: `rs` listens on VIP:port (when `listen`)
/// and answers; `cl` sends `packet` (to outer destination `outer_dst`) from its
/// socket on CIP:40000 and waits for the answer. Returns where the answer came from.
fn exchange6(
    rs: &str,
    cl: &str,
    vip: SocketAddr,
    cip: IpAddr,
    outer_dst: IpAddr,
    packet: Vec<u8>,
    listen: bool,
) -> Option<SocketAddr> {
    let listener = listen.then(|| {
        in_netns(rs, move || {
            let s = UdpSocket::bind(vip).expect("bind VIP");
            s.set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            let mut buf = [0u8; 64];
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                assert_eq!(&buf[..n], b"hello", "inner payload intact");
                assert_eq!(from, SocketAddr::new(cip, 40000), "client address intact");
                s.send_to(b"reply", from).unwrap();
            }
        })
    });
    std::thread::sleep(Duration::from_millis(100));
    let got = in_netns(cl, move || {
        let s = UdpSocket::bind((cip, 40000)).expect("bind client");
        s.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        send_raw(outer_dst, &packet);
        let mut buf = [0u8; 64];
        match s.recv_from(&mut buf) {
            Ok((n, from)) if &buf[..n] == b"reply" => Some(from),
            _ => None,
        }
    })
    .join()
    .unwrap();
    if let Some(l) = listener {
        l.join().unwrap();
    }
    got
}

/// Value of the counter line starting with `label` in `status` output.
fn counter(st: &str, label: &str) -> u64 {
    st.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` in status:\n{st}"))
}

#[test]
fn realserver_bpf_decap_delivers_ip6ip6_4in6_and_6in4_to_the_vip() {
    let mut ns = Netns::new();
    let (rs, cl) = two_nodes6(&mut ns, 221);
    let vip4: IpAddr = "10.253.85.250".parse().unwrap();
    let vip6: IpAddr = "2001:db8::250".parse().unwrap();
    let rip4: IpAddr = "10.253.221.2".parse().unwrap();
    let rip6: IpAddr = "2001:db8:221::2".parse().unwrap();
    let cip4: IpAddr = "10.253.221.1".parse().unwrap();
    let cip6: IpAddr = "2001:db8:221::1".parse().unwrap();
    let (v4, v6) = (SocketAddr::new(vip4, 7777), SocketAddr::new(vip6, 7777));
    let pkt = |cip: IpAddr, vip: IpAddr, outer_dst: IpAddr| {
        let outer_src = if outer_dst.is_ipv4() { cip4 } else { cip6 };
        encap(
            outer_src,
            outer_dst,
            &inner_udp(cip, vip, 40000, 7777, b"hello"),
        )
    };
    // (name, VIP socket, CIP, outer destination)
    let cases = [
        ("ip6ip6", v6, cip6, rip6),
        ("4in6", v4, cip4, rip6),
        ("6in4", v6, cip6, rip4),
        ("ipip", v4, cip4, rip4),
    ];

    // Control: VIPs on lo by hand but no decap: the kernel (no tunnel modules) drops them all.
    sh(&format!(
        "ip -n {rs} addr add {vip4}/32 dev lo && ip -n {rs} addr add {vip6}/128 dev lo nodad"
    ));
    for (name, vip, cip, dst) in cases {
        assert_eq!(
            exchange6(&rs, &cl, vip, cip, dst, pkt(cip, vip.ip(), dst), true),
            None,
            "{name} delivered without decap: the test cannot tell"
        );
    }
    sh(&format!(
        "ip -n {rs} addr del {vip4}/32 dev lo && ip -n {rs} addr del {vip6}/128 dev lo"
    ));

    let out = ok(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--vip", "2001:db8::250"],
    ));
    assert!(out.contains("2001:db8::250 on lo"), "{out}");
    let addrs = String::from_utf8_lossy(&sh(&format!("ip -n {rs} -6 addr show dev lo")).stdout)
        .into_owned();
    assert!(
        addrs.contains("inet6 2001:db8::250/128") && addrs.contains("nodad"),
        "{addrs}"
    );
    for (name, vip, cip, dst) in cases {
        let from = exchange6(&rs, &cl, vip, cip, dst, pkt(cip, vip.ip(), dst), true)
            .unwrap_or_else(|| panic!("{name} to the real server does not reach {vip}"));
        assert_eq!(
            from, vip,
            "{name}: the reply leaves from the VIP, straight to the client"
        );
    }

    // Not ours: outer destinations routed through rs that are not its addresses.
    let (not4, not6): (IpAddr, IpAddr) = (
        "10.253.221.99".parse().unwrap(),
        "2001:db8:221::99".parse().unwrap(),
    );
    sh(&format!(
        "ip -n {cl} route add {not4}/32 via {rip4} && ip -n {cl} -6 route add {not6}/128 via {rip6}"
    ));
    assert_eq!(
        exchange6(&rs, &cl, v6, cip6, not6, pkt(cip6, vip6, not6), false),
        None
    );
    assert_eq!(
        exchange6(&rs, &cl, v6, cip6, not4, pkt(cip6, vip6, not4), false),
        None
    );

    // Unsupported, left to the kernel: an outer fragment header in front of the
    // inner IPv6 (an atomic fragment), and next header 41 carrying IPv4.
    let inner6 = inner_udp(cip6, vip6, 40000, 7777, b"hello");
    let mut frag = vec![41, 0, 0, 0, 0, 0, 0, 1];
    frag.extend(&inner6);
    let (IpAddr::V6(c6), IpAddr::V6(r6)) = (cip6, rip6) else {
        unreachable!()
    };
    let fragmented = ipv6(c6, r6, 44, &frag);
    assert_eq!(exchange6(&rs, &cl, v6, cip6, rip6, fragmented, true), None);
    let mismatched = ipv6(c6, r6, 41, &inner_udp(cip4, vip4, 40000, 7777, b"hello"));
    assert_eq!(exchange6(&rs, &cl, v4, cip4, rip6, mismatched, true), None);

    let st = ok(vipd(&rs, &["status"]));
    assert!(st.contains("checks:     OK"), "{st}");
    assert!(
        st.contains("VIPs:       10.253.85.250 on lo, 2001:db8::250 on lo"),
        "{st}"
    );
    // The host's own addresses, not the VIPs, not loopback, not link-local.
    assert!(
        st.contains("outer dst:  10.253.221.2, 2001:db8:221::2\n"),
        "{st}"
    );
    for (label, n) in [
        ("decapsulated ipip", 1),
        ("decapsulated ip6ip6", 1),
        ("decapsulated 4in6", 1),
        ("decapsulated 6in4", 1),
        ("outer ipv4 not for us", 1),
        ("outer ipv6 not for us", 1),
        ("outer ipv4 unsupported", 0),
        ("outer ipv6 unsupported", 2),
        ("dropped", 0),
    ] {
        assert_eq!(counter(&st, label), n, "{label}: {st}");
    }

    ok(vipd(&rs, &["down"]));
    for (name, vip, cip, dst) in cases {
        assert_eq!(
            exchange6(&rs, &cl, vip, cip, dst, pkt(cip, vip.ip(), dst), false),
            None,
            "{name} still decapsulated after down"
        );
    }
}

/// The MAC `ns` learnt for `addr` on eth0 after pinging it (None: no Neighbour
/// Advertisement came).
fn neighbour(ns: &str, addr: &str) -> Option<String> {
    let _ = Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-6", "-c", "1", "-W", "1", addr,
        ])
        .output()
        .expect("ping runs");
    let out = sh(&format!("ip -n {ns} -6 neigh show {addr} dev eth0"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(|m| m.to_lowercase())
}

#[test]
fn realserver_ipv6_vip_gets_no_neighbour_advertisement() {
    let mut ns = Netns::new();
    let (rs, cl) = two_nodes6(&mut ns, 222);
    let vip = "2001:db8::250";
    let rs_mac = mac_of(&rs, "eth0");
    // The client treats the VIP as on-link, so it asks for it with a Neighbour Solicitation.
    sh(&format!("ip -n {cl} -6 route add {vip}/128 dev eth0"));

    // Control: with the VIP on the real server's eth0, the solicitation is answered.
    sh(&format!("ip -n {rs} -6 addr add {vip}/128 dev eth0 nodad"));
    assert_eq!(
        neighbour(&cl, vip),
        Some(rs_mac.clone()),
        "control failed: the test cannot see advertisements"
    );
    sh(&format!(
        "ip -n {rs} -6 addr del {vip}/128 dev eth0 && ip -n {cl} -6 neigh flush dev eth0"
    ));

    ok(vipd(&rs, &["up", "--vip", vip]));
    assert_eq!(
        neighbour(&cl, vip),
        None,
        "the real server advertised the VIP"
    );
    // It still answers for its own address.
    assert_eq!(neighbour(&cl, "2001:db8:222::2"), Some(rs_mac));
    ok(vipd(&rs, &["down"]));
}

#[test]
fn realserver_ipv6_up_twice_is_harmless_and_down_restores() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes6(&mut ns, 223);
    let before = snapshot6(&rs);
    let arp = "/proc/sys/net/ipv4/conf/all/arp_ignore";

    ok(vipd(&rs, &["up", "--vip", "2001:db8::250"]));
    let up1 = snapshot6(&rs);
    assert!(
        up1["addrs6"].contains("inet6 2001:db8::250/128"),
        "{}",
        up1["addrs6"]
    );
    assert_eq!(up1[arp], before[arp], "an IPv6 VIP needs no ARP sysctl");
    ok(vipd(&rs, &["up", "--vip", "2001:db8::250"]));
    assert_eq!(diff(&up1, &snapshot6(&rs)), Vec::<String>::new());

    // An IPv4 VIP added later brings its ARP sysctls.
    ok(vipd(&rs, &["up", "--vip", "10.253.85.250"]));
    assert_eq!(sysctl(&rs, "all/arp_ignore"), "1");
    let st = ok(vipd(&rs, &["status"]));
    assert!(
        st.contains("VIPs:       2001:db8::250 on lo, 10.253.85.250 on lo")
            && st.contains("outer dst:  10.253.223.2, 2001:db8:223::2\n")
            && st.contains("checks:     OK"),
        "{st}"
    );
    // Drift of an IPv6 VIP is reported.
    sh(&format!("ip -n {rs} -6 addr del 2001:db8::250/128 dev lo"));
    let st = fails(vipd(&rs, &["status"]));
    assert!(st.contains("VIP 2001:db8::250 is not on lo"), "{st}");
    ok(vipd(&rs, &["up", "--vip", "2001:db8::250"]));

    let dry = ok(vipd(&rs, &["down", "--dry-run"]));
    assert!(
        dry.contains("ip addr del 2001:db8::250/128 dev lo"),
        "{dry}"
    );
    ok(vipd(&rs, &["down"]));
    assert_eq!(diff(&before, &snapshot6(&rs)), Vec::<String>::new());

    // IPv6 off on lo: refused before anything changes, saying what to do.
    sh(&format!(
        "ip netns exec {rs} sh -c 'echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6'"
    ));
    let off = snapshot6(&rs);
    let e = fails(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--vip", "2001:db8::250"],
    ));
    assert!(
        e.contains("IPv6 is disabled on lo") && e.contains("net.ipv6.conf.lo.disable_ipv6=0"),
        "{e}"
    );
    assert_eq!(diff(&off, &snapshot6(&rs)), Vec::<String>::new());
    let e = fails(vipd(&rs, &["up", "--vip", "fe80::1"]));
    assert!(e.contains("link-local"), "{e}");
}

/// Kernel mode for IPv6 VIPs uses `ip6_tunnel` (ip6tnl0). This kernel has no such
/// module: `up` must name it. Then a stand-in device named ip6tnl0 (a bridge, as
/// tunl0 is in the kernel-mode test above) checks what `up` does with it and that
/// `down` restores everything, IPv4 and IPv6 VIPs together.
#[test]
fn realserver_kernel_mode_ipv6_uses_ip6tnl0() {
    let mut ns = Netns::new();
    let (rs, _cl) = two_nodes6(&mut ns, 224);
    let vip6 = "2001:db8::250";
    if !kernel_has("ip6_tunnel") {
        let before = snapshot6(&rs);
        let e = fails(vipd(&rs, &["up", "--vip", vip6, "--decap", "kernel"]));
        assert!(
            e.contains("kernel module `ip6_tunnel` (it provides ip6tnl0)")
                && e.contains("--decap bpf"),
            "{e}"
        );
        assert_eq!(diff(&before, &snapshot6(&rs)), Vec::<String>::new());
    }
    for dev in ["tunl0", "ip6tnl0"] {
        sh(&format!(
            "ip -n {rs} link add {dev} type bridge && ip -n {rs} link set {dev} up && ip -n {rs} link set {dev} down"
        ));
    }
    let before = snapshot6(&rs);
    let out = ok(vipd(&rs, &["up", "--vip", vip6, "--decap", "kernel"]));
    assert!(
        out.contains("2001:db8::250 on ip6tnl0, decap kernel"),
        "{out}"
    );
    let s = snapshot6(&rs);
    assert!(
        s["addrs6"].contains("ip6tnl0    inet6 2001:db8::250/128"),
        "{}",
        s["addrs6"]
    );
    assert!(
        s["links"].contains("ip6tnl0: <NO-CARRIER,BROADCAST,MULTICAST,UP>")
            || s["links"].contains("ip6tnl0: <BROADCAST,MULTICAST,UP"),
        "{}",
        s["links"]
    );
    assert!(
        !s["links"].contains("tunl0: <BROADCAST,MULTICAST,UP"),
        "tunl0 is for IPv4 VIPs only: {}",
        s["links"]
    );
    // An IPv4 VIP too: reached by 4in6 it arrives on ip6tnl0, whose rp_filter goes to 0.
    ok(vipd(
        &rs,
        &["up", "--vip", "10.253.85.250", "--decap", "kernel"],
    ));
    assert_eq!(sysctl(&rs, "tunl0/rp_filter"), "0");
    assert_eq!(sysctl(&rs, "ip6tnl0/rp_filter"), "0");
    let st = ok(vipd(&rs, &["status"]));
    assert!(
        st.contains("VIPs:       2001:db8::250 on ip6tnl0, 10.253.85.250 on tunl0")
            && st.contains("ip6tnl0:    up")
            && st.contains("checks:     OK"),
        "{st}"
    );
    ok(vipd(&rs, &["down"]));
    assert_eq!(diff(&before, &snapshot6(&rs)), Vec::<String>::new());
}

/// TCP through ip6ip6 decap, a megabyte each way, with the stand-in director of
/// `realserver_bpf_decap_carries_tcp_both_ways`: in the client's namespace the
/// IPv6 VIP is routed into a TUN device and a thread wraps every packet in an outer
/// IPv6 header to the real server's IPv6 address.
#[test]
fn realserver_bpf_decap_carries_tcp_over_ip6ip6() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let mut ns = Netns::new();
    let (rs, cl) = two_nodes6(&mut ns, 225);
    let vip: Ipv6Addr = "2001:db8::250".parse().unwrap();
    let rip: Ipv6Addr = "2001:db8:225::2".parse().unwrap();
    let cip: Ipv6Addr = "2001:db8:225::1".parse().unwrap();
    sh(&format!(
        "ip -n {cl} tuntap add dev vtun0 mode tun && ip -n {cl} link set vtun0 mtu 1460 up && \
         ip -n {cl} -6 route add {vip}/128 dev vtun0 src {cip}"
    ));
    ok(vipd(&rs, &["up", "--vip", "2001:db8::250"]));

    const SIZE: usize = 1 << 20;
    let server = in_netns(&rs, move || {
        let l = TcpListener::bind((vip, 8080)).expect("bind VIP:8080");
        let (mut c, peer) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap();
        let body: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
        c.write_all(&body).unwrap();
        (got, peer)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let encap6 = in_netns(&cl, move || {
        let tun = open_tun("vtun0");
        let mut buf = vec![0u8; 65536];
        let mut tun_r = &tun;
        let mut n_pkts = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            let n = match tun_r.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                Err(e) => panic!("reading the TUN device: {e}"),
            };
            if buf[0] >> 4 != 6 {
                continue;
            }
            send_raw(IpAddr::V6(rip), &ipv6(cip, rip, 41, &buf[..n]));
            n_pkts += 1;
        }
        n_pkts
    });

    let upload: Vec<u8> = (0..SIZE).map(|i| (i * 13 % 253) as u8).collect();
    let up2 = upload.clone();
    let downloaded = in_netns(&cl, move || {
        let mut s = TcpStream::connect_timeout(
            &SocketAddrV6::new(vip, 8080, 0, 0).into(),
            Duration::from_secs(5),
        )
        .expect("TCP connect to [VIP]:8080 through ip6ip6");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&up2).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        back
    })
    .join()
    .unwrap();
    let (got, peer) = server.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let pkts = encap6.join().unwrap();

    assert_eq!(
        peer.ip(),
        IpAddr::V6(cip),
        "the real server sees the client's address"
    );
    assert!(
        got == upload,
        "upload corrupted: {} of {SIZE} bytes",
        got.len()
    );
    let body: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 251) as u8).collect();
    assert!(
        downloaded == body,
        "download corrupted: {} of {SIZE} bytes",
        downloaded.len()
    );
    let st = ok(vipd(&rs, &["status"]));
    let n = counter(&st, "decapsulated ip6ip6");
    assert!(n > 0 && n <= pkts, "{n} decapsulated, {pkts} sent: {st}");
    ok(vipd(&rs, &["down"]));
}
