//! Helpers of the data-plane tests: a packet builder with real checksums, and a
//! private network namespace the test thread enters (and leaves on drop); and
//! what other test binaries share: running a command that must succeed, random
//! bits for unique names, reading arping's replies.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;

/// RFC 1071 sum of `b` (odd length padded), not folded.
pub fn sum16(b: &[u8]) -> u32 {
    let mut s = 0u32;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    s
}

/// Folded one's complement checksum of `s`.
pub fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An IPv4 header.
#[derive(Debug, Clone)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub offset: u16,
    pub ttl: u8,
    /// Options, a multiple of 4 bytes.
    pub options: Vec<u8>,
}

impl Ip {
    pub fn new(src: &str, dst: &str, proto: u8) -> Self {
        Self {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            tos: 0,
            id: 0x1234,
            df: true,
            mf: false,
            offset: 0,
            ttl: 63,
            options: Vec::new(),
        }
    }

    /// Header + payload with a correct header checksum.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let hl = 20 + self.options.len();
        assert_eq!(hl % 4, 0);
        let mut h = vec![0u8; hl];
        h[0] = 0x40 | (hl / 4) as u8;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&self.id.to_be_bytes());
        let ff = (u16::from(self.df) << 14) | (u16::from(self.mf) << 13) | self.offset;
        h[6..8].copy_from_slice(&ff.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.proto;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        h[20..].copy_from_slice(&self.options);
        let c = fold(sum16(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.extend_from_slice(payload);
        h
    }
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    sum16(&p)
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// A TCP segment with a correct checksum for (src, dst).
pub fn tcp(ip: &Ip, sport: u16, dport: u16, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = 20 + options.len();
    assert_eq!(hl % 4, 0);
    let mut t = vec![0u8; hl];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[4..8].copy_from_slice(&1000u32.to_be_bytes());
    t[8..12].copy_from_slice(&(if flags & ACK != 0 { 2000u32 } else { 0 }).to_be_bytes());
    t[12] = ((hl / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t[20..].copy_from_slice(options);
    t.extend_from_slice(payload);
    let c = fold(pseudo(ip.src, ip.dst, 6, t.len()) + sum16(&t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A UDP datagram with a correct checksum.
pub fn udp(ip: &Ip, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(payload);
    let c = fold(pseudo(ip.src, ip.dst, 17, u.len()) + sum16(&u));
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// Ethernet (+ optional 802.1Q tag) around an IPv4 packet.
pub fn eth(dmac: [u8; 6], smac: [u8; 6], vlan: Option<u16>, ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dmac);
    f.extend_from_slice(&smac);
    if let Some(tci) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(ip);
    f
}

/// MSS option bytes.
pub fn mss_opt(mss: u16) -> [u8; 4] {
    let b = mss.to_be_bytes();
    [2, 4, b[0], b[1]]
}

/// Runs `args` (a program and its arguments); panics, with its stderr, unless it
/// succeeds.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e} (install iproute2)"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private network namespace, entered by the current thread until drop.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    orig: OwnedFd,
}

impl NetNs {
    /// Creates `<prefix><4 hex>`, runs each `setup` line inside it with
    /// `ip netns exec`, then enters it with this thread.
    pub fn new(prefix: &str, setup: &[&str]) -> Self {
        let name = format!("{prefix}{:04x}", rand16());
        sh(&["ip", "netns", "add", &name]);
        let orig: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
            .unwrap()
            .into();
        let me = Self { name, orig };
        for line in setup {
            let mut argv = vec!["ip", "netns", "exec", me.name.as_str()];
            argv.extend(line.split_whitespace());
            sh(&argv);
        }
        let f = std::fs::File::open(format!("/run/netns/{}", me.name)).unwrap();
        nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        me
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = nix::sched::setns(self.orig.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// 16 random bits, from the kernel.
pub fn rand16() -> u16 {
    let mut b = [0u8; 2];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u16::from_ne_bytes(b)
}

/// Fails loudly unless root: these tests need the kernel.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "data-plane tests load BPF programs and create network namespaces: run them as root"
    );
}

/// The MAC addresses that answered, from arping's output (`... bytes from MAC
/// (IP): ...` lines), lower-case, sorted, each once.
pub fn arping_responders(stdout: &[u8]) -> Vec<String> {
    let mut macs: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.split_whitespace().nth(3).map(|s| s.to_lowercase()))
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// An IPv6 header, with extension headers (each given whole: next-header
/// byte first, which [`Ip6::build`] fills in).
#[derive(Debug, Clone)]
pub struct Ip6 {
    pub src: std::net::Ipv6Addr,
    pub dst: std::net::Ipv6Addr,
    /// Next header after the extension headers (the transport).
    pub proto: u8,
    pub tclass: u8,
    pub flow: u32,
    pub hop_limit: u8,
    /// (header type, header bytes): hop-by-hop 0, routing 43, fragment 44,
    /// destination options 60.
    pub ext: Vec<(u8, Vec<u8>)>,
}

impl Ip6 {
    pub fn new(src: &str, dst: &str, proto: u8) -> Self {
        Self {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            tclass: 0,
            flow: 0,
            hop_limit: 63,
            ext: Vec::new(),
        }
    }

    /// Header + extension headers + payload.
    pub fn build(&self, payload: &[u8]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (i, (_, h)) in self.ext.iter().enumerate() {
            let mut h = h.clone();
            h[0] = self.ext.get(i + 1).map_or(self.proto, |e| e.0);
            ext.extend_from_slice(&h);
        }
        let first = self.ext.first().map_or(self.proto, |e| e.0);
        let mut p = vec![0u8; 40];
        let w0 = (6u32 << 28) | (u32::from(self.tclass) << 20) | (self.flow & 0xfffff);
        p[0..4].copy_from_slice(&w0.to_be_bytes());
        p[4..6].copy_from_slice(&((ext.len() + payload.len()) as u16).to_be_bytes());
        p[6] = first;
        p[7] = self.hop_limit;
        p[8..24].copy_from_slice(&self.src.octets());
        p[24..40].copy_from_slice(&self.dst.octets());
        p.extend_from_slice(&ext);
        p.extend_from_slice(payload);
        p
    }

    /// RFC 8200 8.1 pseudo-header sum for `len` bytes of upper-layer `proto`.
    pub fn pseudo(&self, proto: u8, len: usize) -> u32 {
        let mut p = Vec::new();
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&(len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
        sum16(&p)
    }
}

/// A TCP segment with a correct checksum over IPv6.
pub fn tcp6(
    ip: &Ip6,
    sport: u16,
    dport: u16,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let v4 = Ip::new("0.0.0.0", "0.0.0.0", 6);
    let mut t = tcp(&v4, sport, dport, flags, options, payload);
    t[16] = 0;
    t[17] = 0;
    let c = fold(ip.pseudo(6, t.len()) + sum16(&t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A UDP datagram with a correct checksum over IPv6.
pub fn udp6(ip: &Ip6, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let v4 = Ip::new("0.0.0.0", "0.0.0.0", 17);
    let mut u = udp(&v4, sport, dport, payload);
    u[6] = 0;
    u[7] = 0;
    let c = fold(ip.pseudo(17, u.len()) + sum16(&u));
    u[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    u
}

/// An ICMPv6 message with a correct checksum.
pub fn icmp6(ip: &Ip6, body: &[u8]) -> Vec<u8> {
    let mut m = body.to_vec();
    m[2] = 0;
    m[3] = 0;
    let c = fold(ip.pseudo(58, m.len()) + sum16(&m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// Ethernet around an IPv6 packet.
pub fn eth6(dmac: [u8; 6], smac: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dmac);
    f.extend_from_slice(&smac);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(ip);
    f
}
