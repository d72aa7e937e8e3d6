//! What the health-check layer is asked to do: checkers, real servers and virtual
//! services, with every keepalived default already applied.
//!
//! These structs are the check layer's own input. They are small on purpose: the
//! config model (`crate::config`) converts into them, and tests build them directly.
//! Defaults follow keepalived 2.2: a checker takes `retry`, `delay_loop`,
//! `delay_before_retry`, `warmup`, `alpha` and `connect_timeout` from its real server,
//! which takes them from its virtual server.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// keepalived's default `delay_loop` (seconds between checks of a healthy server).
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default `connect_timeout` for checkers that connect.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The timing and retry policy of one checker (the keepalived keywords of the same
/// names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTiming {
    /// Interval between checks while the checker is stable (`delay_loop`).
    pub delay_loop: Duration,
    /// Extra failures tolerated before a healthy checker is declared down (`retry`,
    /// formerly `nb_get_retry`): the checker goes down on the `retry + 1`-th
    /// consecutive failure.
    pub retry: u32,
    /// Interval between the retries of a failing but still healthy checker
    /// (`delay_before_retry`).
    pub delay_before_retry: Duration,
    /// The first check runs at a random moment in `[0, warmup]` after start, so
    /// that many checkers do not all fire at once (`warmup`; keepalived's default
    /// is `delay_loop`).
    pub warmup: Duration,
    /// Start down and stay down until the first check passes (`alpha`). Without
    /// it a checker starts up, and one failure of the very first check is enough
    /// to take it down.
    pub alpha: bool,
}

impl CheckTiming {
    /// keepalived's defaults for a TCP_CHECK whose `delay_loop` is `delay_loop`:
    /// `retry 1`, `delay_before_retry 1`, `warmup` = `delay_loop`, no alpha.
    /// (Other kinds differ; see [`crate::check::from_config`].)
    pub fn keepalived_default(delay_loop: Duration) -> Self {
        CheckTiming {
            delay_loop,
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: delay_loop,
            alpha: false,
        }
    }
}

impl Default for CheckTiming {
    fn default() -> Self {
        CheckTiming::keepalived_default(DEFAULT_DELAY_LOOP)
    }
}

/// Where and how a checker connects (`connect_ip`, `connect_port`, `bindto`,
/// `bind_port`, `bind_if`, `connect_timeout`). [`super::endpoint::Endpoints`]
/// turns it into socket addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSpec {
    /// Address probed: the real server's address unless `connect_ip` /
    /// `connect_port` say otherwise.
    pub target: SocketAddr,
    /// Source address to bind before connecting (`bindto`).
    pub bindto: Option<IpAddr>,
    /// Source port to bind (`bind_port`).
    pub bind_port: Option<u16>,
    /// Interface the probe's socket is tied to (`bind_if`); also the scope of
    /// an IPv6 link-local `bindto` or target.
    pub bind_if: Option<String>,
    /// How long one probe may take in total: connect, request and reply
    /// (`connect_timeout`).
    pub connect_timeout: Duration,
}

impl ConnectSpec {
    /// Probe `target` with keepalived's default timeout and no binding.
    pub fn to(target: SocketAddr) -> Self {
        ConnectSpec {
            target,
            bindto: None,
            bind_port: None,
            bind_if: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// One `url { }` block of an `HTTP_GET` / `SSL_GET` checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    /// Request path, e.g. `/health`.
    pub path: String,
    /// Expected MD5 of the body (`digest`), as `vipd genhash` prints it.
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes (`status_code`, ranges allowed); empty means 200-299.
    pub status_codes: Vec<RangeInclusive<u16>>,
    /// `Host:` header for this URL (`virtualhost` inside `url`).
    pub virtualhost: Option<String>,
}

impl UrlSpec {
    /// A URL that accepts any 2xx reply and checks no digest.
    pub fn path(path: impl Into<String>) -> Self {
        UrlSpec {
            path: path.into(),
            digest: None,
            status_codes: Vec::new(),
            virtualhost: None,
        }
    }

    /// Whether `status` is accepted by this URL.
    pub fn accepts_status(&self, status: u16) -> bool {
        if self.status_codes.is_empty() {
            (200..=299).contains(&status)
        } else {
            self.status_codes.iter().any(|r| r.contains(&status))
        }
    }
}

/// The HTTP version a web checker speaks (`http_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    /// `HTTP/1.0` without a `Connection` header (keepalived's default).
    #[default]
    Http10,
    /// `HTTP/1.0` with `Connection: close` (`1.0C`).
    Http10Close,
    /// `HTTP/1.1` with `Connection: close`.
    Http11,
}

/// An `HTTP_GET` or `SSL_GET` checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// Speak TLS (`SSL_GET`).
    pub tls: bool,
    /// URLs to fetch; all must pass. No URL means the checker always passes, as in
    /// keepalived.
    pub urls: Vec<UrlSpec>,
    /// `Host:` header for every URL without its own (`virtualhost`); without one
    /// the header is `IP:PORT`.
    pub virtualhost: Option<String>,
    /// HTTP version and connection handling.
    pub protocol: HttpProtocol,
    /// Send SNI during the TLS handshake (`enable_sni`): the virtual host, or
    /// `sni_name` when given.
    pub sni: Option<String>,
    /// Verify the server certificate against the system roots (`verify_cert`);
    /// off by default as in keepalived.
    pub verify_cert: bool,
    /// PEM file of CA certificates trusted when `verify_cert` is set (the `SSL`
    /// block's `ca`); the system's roots when absent.
    pub ca_file: Option<String>,
}

impl HttpSpec {
    /// A plain `HTTP_GET` of the given URLs.
    pub fn get(urls: Vec<UrlSpec>) -> Self {
        HttpSpec {
            tls: false,
            urls,
            virtualhost: None,
            protocol: HttpProtocol::default(),
            sni: None,
            verify_cert: false,
            ca_file: None,
        }
    }
}

/// A `MISC_CHECK`: run a program, judge by its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscSpec {
    /// The command line (`misc_path`): split on whitespace and run directly,
    /// never through a shell unless `shell` is set.
    pub path: String,
    /// Kill the program after this long (`misc_timeout`; default `delay_loop`).
    pub timeout: Option<Duration>,
    /// Exit status 2..=255 means "up with weight status - 2" (`misc_dynamic`).
    pub dynamic: bool,
    /// Run as this user (`user` / global `script_user`), or as vipd's own user.
    pub user: Option<String>,
    /// Run the line through `/bin/sh -c` (only when the configuration asks for it).
    pub shell: bool,
}

/// The query type of a `DNS_CHECK` (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsType {
    /// A record.
    A,
    /// NS record.
    Ns,
    /// CNAME record.
    Cname,
    /// SOA record (keepalived's default).
    #[default]
    Soa,
    /// MX record.
    Mx,
    /// TXT record.
    Txt,
    /// AAAA record.
    Aaaa,
}

impl DnsType {
    /// The type code on the wire (RFC 1035 §3.2.2, RFC 3596).
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Soa => 6,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }

    /// Parse keepalived's spelling (`A`, `NS`, `CNAME`, `SOA`, `MX`, `TXT`, `AAAA`).
    pub fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => return None,
        })
    }
}

/// A `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    /// Name queried (`name`; default `.`).
    pub name: String,
    /// Type queried (`type`; default SOA).
    pub qtype: DnsType,
}

impl Default for DnsSpec {
    fn default() -> Self {
        DnsSpec {
            name: ".".into(),
            qtype: DnsType::default(),
        }
    }
}

/// A `UDP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UdpSpec {
    /// Datagram sent (`payload`); empty by default.
    pub payload: Vec<u8>,
    /// Fail unless a reply arrives (`require_reply`). Without it, only an ICMP
    /// port-unreachable fails the check.
    pub require_reply: bool,
    /// Shortest acceptable reply (`min_reply_length`).
    pub min_reply_len: Option<usize>,
    /// Longest acceptable reply (`max_reply_length`).
    pub max_reply_len: Option<usize>,
}

/// What a checker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// `TCP_CHECK`: a TCP connect succeeds.
    Tcp,
    /// `HTTP_GET` / `SSL_GET`.
    Http(HttpSpec),
    /// `MISC_CHECK`.
    Misc(MiscSpec),
    /// `DNS_CHECK`.
    Dns(DnsSpec),
    /// `UDP_CHECK`.
    Udp(UdpSpec),
    /// `SMTP_CHECK`: banner 220, `HELO helo_name` answered 250, `QUIT`.
    Smtp {
        /// `helo_name` (keepalived's default: smtpchecker.keepalived.org).
        helo_name: String,
    },
    /// `PING_CHECK`: an ICMP echo is answered.
    Ping,
    /// `FILE_CHECK`: the number in a `track_file`.
    File(super::file::FileSpec),
}

impl CheckKind {
    /// keepalived's name for the checker, for logs.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Smtp { .. } => "SMTP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
        }
    }
}

/// One checker of one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckerSpec {
    /// What to probe.
    pub kind: CheckKind,
    /// Where to probe and how long a probe may take.
    pub connect: ConnectSpec,
    /// When to probe and how to judge runs of results.
    pub timing: CheckTiming,
}

/// One real server of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealSpec {
    /// The real server (`real_server IP PORT`).
    pub addr: SocketAddr,
    /// Configured weight (`weight`; keepalived's default is 1).
    pub weight: u32,
    /// Keep a failed real server in the table with weight 0 instead of removing it
    /// (`inhibit_on_failure`).
    pub inhibit_on_failure: bool,
    /// Program run when the real server comes up (`notify_up`).
    pub notify_up: Option<String>,
    /// Program run when the real server goes down (`notify_down`).
    pub notify_down: Option<String>,
    /// Its checkers; it is up only while all of them pass. None: always up.
    pub checkers: Vec<CheckerSpec>,
}

impl RealSpec {
    /// A real server with weight 1 and no checkers.
    pub fn new(addr: SocketAddr) -> Self {
        RealSpec {
            addr,
            weight: 1,
            inhibit_on_failure: false,
            notify_up: None,
            notify_down: None,
            checkers: Vec::new(),
        }
    }
}

/// The `sorry_server` of a virtual service: used only while quorum is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorrySpec {
    /// Its address.
    pub addr: SocketAddr,
    /// Its weight while in use (keepalived uses the weight of a real server, 1).
    pub weight: u32,
    /// Keep it in the table with weight 0 while quorum holds
    /// (`sorry_server_inhibit`).
    pub inhibit: bool,
}

/// One virtual service (`virtual_server`) as far as health is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// A human name for logs, e.g. `10.253.85.250:80/TCP`.
    pub name: String,
    /// The real servers.
    pub reals: Vec<RealSpec>,
    /// Used when the live weight falls below quorum (`sorry_server`).
    pub sorry_server: Option<SorrySpec>,
    /// Minimum sum of live weights for the service to be up (`quorum`, default 1).
    pub quorum: u32,
    /// Quorum is gained at `quorum + hysteresis` and lost below
    /// `quorum - hysteresis` (`hysteresis`, default 0).
    pub hysteresis: u32,
    /// Program run when quorum is gained (`quorum_up`).
    pub quorum_up: Option<String>,
    /// Program run when quorum is lost (`quorum_down`).
    pub quorum_down: Option<String>,
    /// Run checks only while this node is VRRP MASTER (`ha_suspend`).
    pub ha_suspend: bool,
    /// On shutdown, run the `notify_down` / `quorum_down` programs of what is up
    /// (`omega`).
    pub omega: bool,
}

impl ServiceSpec {
    /// A service with keepalived's defaults (quorum 1, no hysteresis, no sorry
    /// server, no scripts).
    pub fn new(name: impl Into<String>, reals: Vec<RealSpec>) -> Self {
        ServiceSpec {
            name: name.into(),
            reals,
            sorry_server: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            ha_suspend: false,
            omega: false,
        }
    }
}
