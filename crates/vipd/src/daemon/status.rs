//! The daemon's state as `vipd status` and the Prometheus endpoint show it: one
//! serializable [`Status`], filled by the parts that know each figure (config for
//! the services' shape, the checkers for health, VRRP for instance states, the data
//! plane for counters). `vipd status --json` prints exactly this structure, so a
//! test or a script can parse it with the same types.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// Everything `vipd status` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// vipd's version.
    pub version: String,
    /// Process id of the daemon.
    pub pid: u32,
    /// The keepalived.conf in use.
    pub config_file: String,
    /// Seconds since the daemon started.
    pub uptime_secs: f64,
    /// Which parts run (`-P` VRRP only, `-C` checkers and data plane only).
    pub parts: Parts,
    /// Reloads (SIGHUP).
    pub reloads: Reloads,
    /// VRRP instances, in configuration order.
    pub vrrp: Vec<VrrpInstance>,
    /// Virtual services, in configuration order.
    pub services: Vec<Service>,
    /// Data-plane counters by name (drop reasons and totals), when it runs.
    pub counters: BTreeMap<String, u64>,
    /// The connection tables, when the data plane runs.
    #[serde(default)]
    pub tables: Option<Tables>,
    /// Connection sharing with the other directors, when the data plane runs.
    #[serde(default)]
    pub sharing: Option<Sharing>,
    /// What this process took over from the vipd it restarted (SIGQUIT).
    #[serde(default)]
    pub restart: Option<Adopted>,
    /// `static_ipaddress`, `static_routes`, `static_rules`.
    #[serde(default)]
    pub statics: Vec<StaticItem>,
    /// `vipd_announce`: the VIPs offered to the routing daemon.
    #[serde(default)]
    pub announce: Option<Announce>,
}

/// `vipd_announce`: the device and each VIP's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The TUN device that carries the announced VIPs.
    pub device: String,
    /// Each VIP of the virtual servers.
    pub vips: Vec<AnnouncedVip>,
}

/// One VIP's announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncedVip {
    /// The VIP.
    pub vip: std::net::IpAddr,
    /// On the device now (the routing daemon announces it).
    pub announced: bool,
    /// Why (e.g. "announced: 3 real servers up").
    pub why: String,
}

/// One static address, route or rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticItem {
    /// `static_ipaddress`, `static_routes` or `static_rules`.
    pub block: String,
    /// The item, as `ip` reads it.
    pub item: String,
    /// Added.
    pub applied: bool,
    /// Why it could not be added.
    pub error: Option<String>,
}

/// What a restarted vipd carried over from the previous one's pinned tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    /// Connections copied into this process's table.
    pub conns: u64,
    /// Handshakes in progress copied into the half-open table.
    pub half_open: u64,
    /// Persistence templates copied.
    pub templates: u64,
    /// Connections waiting for their real server to enter the table.
    pub waiting: u64,
    /// Connections of services or real servers no longer configured.
    pub not_configured: u64,
    /// How long the previous program kept forwarding after this process
    /// started (until the swap), in ms.
    pub old_program_ms: u64,
}

/// Connection sharing (docs/OPERATIONS.md, "Connection sharing").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sharing {
    /// It runs.
    pub on: bool,
    /// Why not, when it does not (and how to turn it on).
    pub why_off: Option<String>,
    /// Where the datagrams go (multicast group or unicast peers, port, id).
    pub transport: String,
    /// Datagrams carry and require an HMAC with the configured key.
    pub authenticated: bool,
    /// The key file.
    pub key_file: Option<String>,
    /// Datagrams and entries sent, received, dropped by reason.
    pub counters: vipd_core::sync::Counters,
    /// Received entries installed in the connection table.
    pub installed: u64,
    /// Received entries that had to wait for their real server (not in this
    /// director's table yet: not checked yet, or down).
    pub parked_total: u64,
    /// Entries waiting now.
    pub parked_now: usize,
    /// Waiting entries given up (waited longer than a connection's timeout,
    /// or too many waiting).
    pub parked_given_up: u64,
    /// Received entries not installed (malformed for this director).
    pub not_installed: u64,
    /// Promoted connections the data plane could not hand over (ring full).
    pub ring_lost: u64,
    /// Datagrams the socket refused.
    pub send_errors: u64,
    /// Entries waiting to be sent.
    pub queue: usize,
    /// Whole-table dumps sent to starting peers.
    pub dumps_served: u64,
    /// How this director's start-up dump went.
    pub start_dump: Option<String>,
    /// Peers heard from.
    pub peers: Vec<SharingPeer>,
}

/// A director heard from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharingPeer {
    /// Its sender id (random per process start).
    pub sender_id: String,
    /// Seconds since its last accepted datagram.
    pub last_heard_secs: f64,
    /// Its highest sequence number accepted.
    pub highest_seq: u64,
}

/// The data plane's two connection tables (see docs/DATAPATH.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tables {
    /// Live entries of the connection table (established connections).
    pub conns: u64,
    /// Its size.
    pub conns_max: u64,
    /// Live entries of the half-open table (handshakes in progress).
    pub half_open: u64,
    /// Its size.
    pub half_open_max: u64,
    /// Flood figures: new, promoted and evicted half-open entries per second.
    pub flood: vipd_core::conntable::FloodStatus,
    /// The kernel's id of the connection table map (`bpftool map dump id N`).
    #[serde(default)]
    pub conns_map_id: Option<u32>,
}

/// Which parts of the director run in this process, and why one does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// VRRP runs.
    pub vrrp: bool,
    /// Health checkers run.
    pub checkers: bool,
    /// The XDP data plane is attached.
    pub datapath: bool,
    /// Interface(s) the data plane is attached to, with the XDP mode.
    pub datapath_attach: Vec<String>,
    /// One line per part that was asked for but does not run, saying why.
    pub notes: Vec<String>,
}

/// Reload history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloads {
    /// Reloads applied.
    pub applied: u64,
    /// Reloads refused (the new configuration had errors).
    pub refused: u64,
    /// The last attempt.
    pub last: Option<ReloadOutcome>,
}

/// The result of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    /// Seconds since the daemon started, when it happened.
    pub at_secs: u64,
    /// Applied (true) or refused (false).
    pub ok: bool,
    /// What changed, or why it was refused.
    pub message: String,
}

/// One VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpInstance {
    /// `vrrp_instance` name.
    pub name: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `interface`.
    pub interface: String,
    /// INIT, BACKUP, MASTER, FAULT (or STOPPED when VRRP does not run).
    pub state: String,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracking adjustments, as advertised.
    pub effective_priority: u8,
    /// The virtual addresses.
    pub vips: Vec<String>,
    /// Seconds since the daemon started, when the instance entered its state.
    pub since_secs: Option<u64>,
}

/// Traffic figures as `ipvsadm -Ln --stats` / `--rate` show them. In TUN and
/// DR replies go from the real server straight to the client, so the Out
/// figures stay 0 there, as IPVS's do; in NAT they count the replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes forwarded.
    pub bytes: u64,
    /// NAT replies sent back to clients (IPVS's OutPkts).
    #[serde(default)]
    pub out_packets: u64,
    /// Their bytes (IPVS's OutBytes).
    #[serde(default)]
    pub out_bytes: u64,
    /// New connections per second (over the last sampling interval).
    pub cps: f64,
    /// Packets per second.
    pub pps: f64,
    /// Bytes per second.
    pub bps: f64,
    /// NAT replies per second (IPVS's OutPPS).
    #[serde(default)]
    pub out_pps: f64,
    /// Their bytes per second (IPVS's OutBPS).
    #[serde(default)]
    pub out_bps: f64,
}

impl Traffic {
    /// The sum of several (a group's members).
    pub fn sum(all: impl IntoIterator<Item = Traffic>) -> Traffic {
        all.into_iter().fold(Traffic::default(), |a, b| Traffic {
            conns: a.conns + b.conns,
            packets: a.packets + b.packets,
            bytes: a.bytes + b.bytes,
            out_packets: a.out_packets + b.out_packets,
            out_bytes: a.out_bytes + b.out_bytes,
            cps: a.cps + b.cps,
            pps: a.pps + b.pps,
            bps: a.bps + b.bps,
            out_pps: a.out_pps + b.out_pps,
            out_bps: a.out_bps + b.out_bps,
        })
    }
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// The name used in log lines, e.g. `10.253.85.250:80/TCP`.
    pub name: String,
    /// VIP.
    pub vip: IpAddr,
    /// Port (0: all ports).
    pub port: u16,
    /// A `virtual_server group`: every address and port it serves (`vip`
    /// and `port` are the first); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<SocketAddr>,
    /// A group's members with their own figures (`traffic` and the real
    /// servers' are the members' sums), when the data plane runs: IPVS keeps
    /// one service per member, and `vipd status -Ln` lists each as ipvsadm does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GroupMember>,
    /// TCP, UDP, SCTP.
    pub protocol: String,
    /// `lb_algo`.
    pub lb_algo: String,
    /// `lb_kind` (Tunnel, Route, Masq as ipvsadm prints them are TUN, DR, NAT).
    pub lb_kind: String,
    /// `persistence_timeout` when persistence is on.
    pub persistence_timeout: Option<u32>,
    /// One-packet scheduling (`ops`, UDP): every datagram scheduled.
    #[serde(default)]
    pub ops: bool,
    /// Has quorum (None without checkers).
    pub quorum_up: Option<bool>,
    /// Checks paused by `ha_suspend`.
    pub checks_suspended: bool,
    /// The sorry server is in the table.
    pub sorry_active: bool,
    /// Traffic through the service.
    pub traffic: Traffic,
    /// Its real servers (and the sorry server), configuration order.
    pub reals: Vec<Real>,
}

/// One member (address and port) of a `virtual_server group`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    /// The member's VIP and port.
    pub addr: SocketAddr,
    /// Traffic to this member.
    pub traffic: Traffic,
    /// The real servers in the table, with this member's figures.
    pub reals: Vec<MemberReal>,
}

/// A real server's figures for one group member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberReal {
    /// The real server.
    pub addr: SocketAddr,
    /// Active connections through this member.
    pub active_conns: u64,
    /// Inactive connections through this member.
    pub inactive_conns: u64,
    /// Traffic through this member.
    pub traffic: Traffic,
}

/// One real server of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Real {
    /// Address and port.
    pub addr: SocketAddr,
    /// Forwarding method (as the service's unless `lvs_method` says otherwise).
    pub forward: String,
    /// In the data plane's table now.
    pub in_table: bool,
    /// Weight in the table (0: quiesced, no new connections).
    pub weight: u32,
    /// Weight in the configuration.
    pub configured_weight: u32,
    /// Is this the sorry server?
    pub sorry: bool,
    /// All checkers pass (None: no checkers run).
    pub alive: Option<bool>,
    /// Active (established) connections in the connection table.
    pub active_conns: u64,
    /// Inactive (closing, or UDP) connections.
    pub inactive_conns: u64,
    /// Traffic to it.
    pub traffic: Traffic,
    /// Its checkers.
    pub checkers: Vec<Checker>,
    /// The most recent failure reason among its checkers.
    pub last_failure: Option<String>,
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub kind: String,
    /// Address probed.
    pub target: SocketAddr,
    /// Passing.
    pub up: bool,
    /// Has produced a result yet.
    pub has_run: bool,
    /// Why the last probe failed.
    pub last_failure: Option<String>,
}

impl Status {
    /// The service with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl Service {
    /// The real servers that get new connections.
    pub fn active_reals(&self) -> impl Iterator<Item = &Real> {
        self.reals.iter().filter(|r| r.in_table && r.weight > 0)
    }

    /// The real server at `addr`.
    pub fn real(&self, addr: SocketAddr) -> Option<&Real> {
        self.reals.iter().find(|r| r.addr == addr)
    }
}

/// One connection-table entry, as `ipvsadm -Lnc` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRow {
    /// `TCP` / `UDP`.
    pub proto: String,
    /// Seconds until the entry expires without another packet.
    pub expire_secs: u64,
    /// IPVS's state name: `SYN_RECV`, `ESTABLISHED`, `FIN_WAIT`, `CLOSE`, `UDP`.
    pub state: String,
    /// The client.
    pub source: SocketAddr,
    /// The VIP and port the client used.
    pub virtual_addr: SocketAddr,
    /// The real server.
    pub destination: SocketAddr,
    /// `established` (the connection table) or `half-open`.
    pub table: String,
    /// Installed from another director and not forwarded here yet.
    pub from_peer: bool,
}
