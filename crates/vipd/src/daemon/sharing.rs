//! Connection sharing's IO: the UDP socket to the other directors, the data
//! plane's ring of promoted connections, and the clocks, around the pure
//! [`vipd_core::sync::Share`] (wire format, authentication, replay window,
//! batching). The engine owns this part and calls it from its loop:
//!
//! - a connection the data plane promoted (handshake completed) arrives on the
//!   ring, is translated from ids to addresses and queued; full datagrams, or
//!   the first entry after 5 ms, go to the peers;
//! - a datagram from a peer is checked (key, replay, sync id) and its entries
//!   are installed in the connection table, marked as the peer's;
//! - a peer that starts asks for the whole table: it is sent in paced chunks,
//!   then a DumpEnd; this director asks the same at its own start, before VRRP
//!   may claim a VIP ([`SharingPart::initial_dump`]);
//! - once a second, a sixtieth of the live connections this director forwards
//!   is sent again, so every peer's copy is refreshed well within its timeout.
//!
//! Nothing here blocks the data plane: the ring drops (and counts) what the
//! daemon does not read in time, the queue is bounded, and a datagram the socket
//! cannot take is counted, not waited for.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;
use tokio::net::UdpSocket;
use tracing::{info, warn};
use vipd_core::sync::plan::{Peers, SharePlan};
use vipd_core::sync::{
    DumpEndReason, DumpStatus, DumpWait, Entry, Incoming, Key, Share, ShareConfig,
};

use super::lvs::{LvsPart, Placement};
use super::status;
use crate::datapath::{self, abi};

/// The key file read when `--sync-key` is not given, if it exists.
pub const DEFAULT_KEY_FILE: &str = "/etc/vipd/sync.key";
/// Datagrams of a dump sent per turn of the engine's loop.
const DUMP_CHUNK: usize = 32;
/// How long a starting director waits for a first answer to its table request.
const FIRST_ANSWER: Duration = Duration::from_secs(2);
/// The request is sent again this often until a peer answers (a datagram
/// can be lost, and a peer may be busy taking over the VIP).
const REQUEST_AGAIN: Duration = Duration::from_millis(250);
/// A peer's repeated request within this time is the same request.
const SAME_REQUEST: Duration = Duration::from_secs(5);
/// How long it waits for the dumps in all.
const DUMP_TOTAL: Duration = Duration::from_secs(5);
/// A connection is sent again every this many seconds while it lives.
const REFRESH_SECS: u64 = 60;

/// Errors of starting the sharing part.
#[derive(Debug, thiserror::Error)]
pub enum SharingError {
    /// The key file.
    #[error("sharing key {path}: {why}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The socket.
    #[error("sharing socket on {iface} port {port}: {source}")]
    Socket {
        /// Interface.
        iface: String,
        /// Port.
        port: u16,
        /// The error.
        source: std::io::Error,
    },
    /// An IPv6 multicast group (not yet).
    #[error("lvs_sync_daemon group {0}: IPv6 groups are not supported yet; use an IPv4 group or unicast_peer")]
    Ipv6Group(IpAddr),
    /// The data plane.
    #[error("sharing: data plane: {0}")]
    Datapath(#[from] datapath::DatapathError),
    /// The pure part refused the settings.
    #[error("sharing: {0}")]
    Config(#[from] vipd_core::sync::ConfigError),
}

/// Reads the sharing key: `explicit`, else [`DEFAULT_KEY_FILE`] if it exists.
/// Trailing whitespace (a newline from `echo`) is not part of the key.
pub fn read_key(explicit: Option<&Path>) -> Result<Option<(Key, PathBuf)>, SharingError> {
    let path = match explicit {
        Some(p) => p.to_owned(),
        None if Path::new(DEFAULT_KEY_FILE).exists() => PathBuf::from(DEFAULT_KEY_FILE),
        None => return Ok(None),
    };
    let err = |why: String| SharingError::Key {
        path: path.clone(),
        why,
    };
    let mut bytes = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    let key = Key::new(&bytes).map_err(|e| {
        err(format!(
            "{e} (make one with `head -c 32 /dev/urandom | base64 > {}`, the same file on every director)",
            path.display()
        ))
    })?;
    Ok(Some((key, path)))
}

/// The data plane's ring of promoted connections, as tokio polls it.
struct Ring(RingBuf<MapData>);

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ring(sync_ring)")
    }
}

impl std::os::fd::AsRawFd for Ring {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Ring {
    #[expect(
        unsafe_code,
        reason = "tokio's AsyncFd::register is unsafe: the fd must outlive the registration"
    )]
    fn register(ring: RingBuf<MapData>) -> std::io::Result<AsyncFd<Ring>> {
        // SAFETY: the AsyncFd owns the Ring, which owns the map's fd: the fd
        // stays open exactly as long as the registration.
        unsafe { AsyncFd::register(Ring(ring)) }.map_err(|e| e.into_parts().1)
    }
}

/// What the engine's loop waits for.
#[derive(Debug)]
pub enum SharingEvent {
    /// The ring has promoted connections.
    Ring,
    /// A datagram arrived.
    Datagram(Vec<u8>, SocketAddr),
    /// A batch is due, or a dump has more to send.
    Transmit,
}

/// The running sharing part.
#[derive(Debug)]
pub struct SharingPart {
    plan: SharePlan,
    share: Share,
    sock: UdpSocket,
    dests: Vec<SocketAddr>,
    ring: AsyncFd<Ring>,
    key_file: Option<PathBuf>,
    /// A dump being sent to a peer that asked.
    dump: Option<std::vec::IntoIter<Entry>>,
    dumps_served: u64,
    installed: u64,
    /// Received entries that waited for their real server.
    waiting: u64,
    not_installed: u64,
    send_errors: u64,
    /// Kinds of trouble already logged (each is logged once, then counted).
    logged: BTreeSet<String>,
    start_dump: Option<String>,
    /// The peers whose table requests were answered, and when.
    answered: Vec<(u64, Duration)>,
}

fn wall_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sender_id() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        // Unique enough for a sender id: time and pid.
        return datapath::monotonic().as_nanos() as u64 ^ (u64::from(std::process::id()) << 40);
    }
    u64::from_ne_bytes(b)
}

fn socket(plan: &SharePlan) -> Result<(std::net::UdpSocket, Vec<SocketAddr>), SharingError> {
    use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
    let io = |source| SharingError::Socket {
        iface: plan.interface.clone(),
        port: plan.port,
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(io)?;
    s.set_reuse_address(true).map_err(io)?;
    s.bind_device(Some(plan.interface.as_bytes())).map_err(io)?;
    // Room for a whole dump in flight (root may exceed rmem_max).
    force_buffers(&s, 8 << 20);
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, plan.port)).into())
        .map_err(io)?;
    let dests = match &plan.peers {
        Peers::Multicast {
            group: IpAddr::V4(g),
            ttl,
        } => {
            let idx = nix::net::if_::if_nametoindex(plan.interface.as_str())
                .map_err(|e| io(std::io::Error::from(e)))?;
            s.join_multicast_v4_n(g, &InterfaceIndexOrAddress::Index(idx))
                .map_err(io)?;
            // Send from the interface's own address, never from a VIP that
            // happens to be on it (a killed director leaves its VIP behind):
            // the peer holding that VIP would drop the datagram as martian.
            if let Some(a) = iface_v4(&plan.interface) {
                s.set_multicast_if_v4(&a).map_err(io)?;
            }
            s.set_multicast_loop_v4(false).map_err(io)?;
            s.set_multicast_ttl_v4(u32::from(*ttl)).map_err(io)?;
            vec![SocketAddr::from((*g, plan.port))]
        }
        Peers::Multicast { group, .. } => return Err(SharingError::Ipv6Group(*group)),
        Peers::Unicast(p) => p.iter().map(|a| SocketAddr::new(*a, plan.port)).collect(),
    };
    s.set_nonblocking(true).map_err(io)?;
    Ok((s.into(), dests))
}

/// The first IPv4 address of `iface` (the one it had first: not a VIP added
/// later).
fn iface_v4(iface: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|a| a.interface_name == iface)
        .find_map(|a| a.address.as_ref()?.as_sockaddr_in().map(|s| s.ip()))
}

#[expect(
    unsafe_code,
    reason = "SO_RCVBUFFORCE / SO_SNDBUFFORCE, which socket2 does not wrap"
)]
fn force_buffers(s: &socket2::Socket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: a valid socket fd and a c_int option value of the size given.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                std::ptr::from_ref(&bytes).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

impl SharingPart {
    /// Opens the socket, takes the data plane's ring and turns the program's
    /// sharing on. Logs how sharing runs and whether it is authenticated.
    pub fn start(
        plan: SharePlan,
        key: Option<(Key, PathBuf)>,
        lvs: &mut LvsPart,
    ) -> Result<Self, SharingError> {
        let (std_sock, dests) = socket(&plan)?;
        let sock = UdpSocket::from_std(std_sock).map_err(|source| SharingError::Socket {
            iface: plan.interface.clone(),
            port: plan.port,
            source,
        })?;
        let ring = Ring::register(lvs.director_mut().take_sync_ring()?).map_err(|source| {
            SharingError::Socket {
                iface: plan.interface.clone(),
                port: plan.port,
                source,
            }
        })?;
        let (key, key_file) = match key {
            Some((k, p)) => (Some(k), Some(p)),
            None => (None, None),
        };
        let mut cfg = ShareConfig::new(sender_id());
        cfg.sync_id = plan.sync_id;
        cfg.key = key;
        cfg.max_datagram = plan.maxlen;
        let share = Share::new(cfg)?;
        lvs.director_mut().set_sync(true)?;
        match &key_file {
            Some(p) => info!(
                "connection sharing on: {plan}, authenticated with {} (turn off with --no-sync)",
                p.display()
            ),
            None => warn!(
                "connection sharing on: {plan}, UNAUTHENTICATED: anything that can send to this port \
                 can install connections; give every director the same key with --sync-key FILE \
                 (or {DEFAULT_KEY_FILE}); turn sharing off with --no-sync"
            ),
        }
        Ok(Self {
            plan,
            share,
            sock,
            dests,
            ring,
            key_file,
            dump: None,
            dumps_served: 0,
            installed: 0,
            waiting: 0,
            not_installed: 0,
            send_errors: 0,
            logged: BTreeSet::new(),
            start_dump: None,
            answered: Vec::new(),
        })
    }

    /// Waits for the next thing to do. Cancel-safe.
    pub async fn next(&mut self) -> SharingEvent {
        let due = self.share.poll_timeout();
        let sleep = async {
            match due {
                Some(t) => {
                    let now = datapath::monotonic();
                    tokio::time::sleep(t.saturating_sub(now)).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let mut buf = vec![0u8; 65536];
        tokio::select! {
            r = self.ring.readable_mut() => {
                if let Ok(mut g) = r {
                    g.clear_ready();
                }
                SharingEvent::Ring
            }
            r = self.sock.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    buf.truncate(n);
                    SharingEvent::Datagram(buf, from)
                }
                Err(_) => SharingEvent::Transmit,
            },
            _ = sleep => SharingEvent::Transmit,
            _ = async {}, if self.dump.is_some() => SharingEvent::Transmit,
        }
    }

    /// Handles one event. Returns the sender and whether it ended a dump, for
    /// [`SharingPart::initial_dump`].
    pub fn handle(&mut self, ev: SharingEvent, lvs: &mut LvsPart) -> Option<(u64, bool)> {
        let now = datapath::monotonic();
        let mut heard = None;
        match ev {
            SharingEvent::Ring => {
                let mut events = Vec::new();
                while let Some(item) = self.ring.get_mut().0.next() {
                    if let Some(ev) = abi::SyncEvent::from_bytes(&item) {
                        events.push(ev);
                    }
                }
                for ev in events {
                    match lvs.sync_entry(&ev) {
                        Ok(e) => {
                            let _ = self.share.queue(now, e);
                        }
                        Err(e) => self.once(
                            "translate",
                            format!(
                                "connection sharing: a promoted connection could not be named: {e}"
                            ),
                        ),
                    }
                }
            }
            SharingEvent::Datagram(bytes, from) => {
                match self.share.handle_datagram(now, wall_s(), &bytes) {
                    Ok(Incoming::Entries { from: id, entries }) => {
                        for e in &entries {
                            match lvs.install(e) {
                                Ok(Placement::Installed) => self.installed += 1,
                                Ok(Placement::Waiting) => self.waiting += 1,
                                Ok(Placement::NotConfigured(why)) => {
                                    self.waiting += 1;
                                    self.once(
                                        &format!("unconfigured {why}"),
                                        format!("connection sharing: a peer shares connections to {why} by this director's configuration; they wait here in case it is added, but if this director takes over, they break: give the directors the same virtual_server blocks (logged once)"),
                                    );
                                }
                                Err(err) => {
                                    self.not_installed += 1;
                                    self.once(
                                        &format!("install {:?}", std::mem::discriminant(&err)),
                                        format!("connection sharing: an entry from {from} was not installed: {err} (logged once; counted in vipd status)"),
                                    );
                                }
                            }
                        }
                        heard = Some((id, false));
                    }
                    Ok(Incoming::DumpRequested { from: id }) => {
                        // A starting director repeats its request until it
                        // hears from someone: answer each director once.
                        self.answered.retain(|(_, t)| now.saturating_sub(*t) < SAME_REQUEST);
                        if self.answered.iter().any(|(p, _)| *p == id) {
                            return heard;
                        }
                        self.answered.push((id, now));
                        let entries = lvs.shared_entries(true, &|_, _| true);
                        info!(
                            "connection sharing: director {id:016x} at {from} asked for the table: sending {} connections",
                            entries.len()
                        );
                        self.dump = Some(entries.into_iter());
                        self.dumps_served += 1;
                    }
                    Ok(Incoming::DumpEnded { from: id }) => heard = Some((id, true)),
                    Err(d) => self.once(
                        &format!("discard {:?}", std::mem::discriminant(&d)),
                        format!("connection sharing: dropped a datagram from {from}: {d} (logged once per kind; counted in vipd status)"),
                    ),
                }
            }
            SharingEvent::Transmit => {}
        }
        self.transmit(now);
        heard
    }

    /// Sends what is due: batches, and the next chunk of a dump.
    fn transmit(&mut self, now: Duration) {
        let wall = wall_s();
        let mut out = Vec::new();
        while let Some(d) = self.share.poll_transmit(now, wall) {
            out.push(d);
        }
        if let Some(it) = self.dump.as_mut() {
            let per = self.share.entries_per_datagram();
            let mut chunk: Vec<Entry> = it.by_ref().take(per * DUMP_CHUNK).collect();
            let last = chunk.len() < per * DUMP_CHUNK;
            while !chunk.is_empty() {
                let rest = chunk.split_off(chunk.len().min(per));
                self.share
                    .queue_dump(now, std::mem::replace(&mut chunk, rest));
                out.extend(self.share.flush(wall));
            }
            if last {
                out.extend(self.share.dump_end(wall));
                self.dump = None;
            }
        }
        for d in out {
            for to in &self.dests {
                if self.sock.try_send_to(&d, *to).is_err() {
                    self.send_errors += 1;
                }
            }
        }
    }

    /// At start, before VRRP may claim a VIP: asks the peers for their tables
    /// and installs what comes, until every peer that answered has finished,
    /// nobody answered within a second, or 5 s passed. Logs the outcome.
    pub async fn initial_dump(&mut self, lvs: &mut LvsPart) {
        let t0 = datapath::monotonic();
        let before = self.installed + self.waiting;
        let mut wait = DumpWait::new(t0, FIRST_ANSWER, DUMP_TOTAL);
        info!("connection sharing: asking the peers for their connection tables before taking part in VRRP or announcing a VIP");
        let mut heard_any = false;
        let mut next_request = t0;
        let (answered, reason) = loop {
            let now = datapath::monotonic();
            let until = match wait.poll(now) {
                DumpStatus::Done {
                    peers_answered,
                    reason,
                } => break (peers_answered, reason),
                DumpStatus::Waiting { until } => until,
            };
            if !heard_any && now >= next_request {
                let req = self.share.request_dump(wall_s());
                for to in &self.dests {
                    if self.sock.try_send_to(&req, *to).is_err() {
                        self.send_errors += 1;
                    }
                }
                next_request = now + REQUEST_AGAIN;
            }
            let until = if heard_any {
                until
            } else {
                until.min(next_request)
            };
            let left = until.saturating_sub(datapath::monotonic());
            tokio::select! {
                ev = self.next() => {
                    let now = datapath::monotonic();
                    match self.handle(ev, lvs) {
                        Some((id, false)) => {
                            heard_any = true;
                            wait.on_entries(now, id);
                        }
                        Some((id, true)) => {
                            heard_any = true;
                            wait.on_end(now, id);
                        }
                        None => {}
                    }
                }
                _ = tokio::time::sleep(left) => {}
            }
        };
        let took = datapath::monotonic().saturating_sub(t0);
        let got = self.installed + self.waiting - before;
        let msg = match reason {
            DumpEndReason::AllEnded => format!(
                "{got} connections installed from {answered} peer(s) in {} ms",
                took.as_millis()
            ),
            DumpEndReason::NoPeerAnswered => format!(
                "no peer answered in {} ms (first director up, or a peer without sharing such as keepalived): starting with an empty table",
                took.as_millis()
            ),
            DumpEndReason::TimedOut => format!(
                "{got} connections installed from {answered} peer(s); gave up waiting after {} ms",
                took.as_millis()
            ),
        };
        info!("connection sharing: start-up dump: {msg}");
        self.start_dump = Some(msg);
    }

    /// Once a second: sends again this second's share of the live connections
    /// this director forwards (each once a minute), so that the peers' copies
    /// never time out while the connection lives.
    pub fn refresh(&mut self, lvs: &LvsPart) {
        let now = datapath::monotonic();
        let slot = wall_s() % REFRESH_SECS;
        let entries = lvs.shared_entries(false, &|h, c| {
            c.flags & abi::CONN_F_PEER == 0
                && c.state != abi::conn_state::CLOSE
                && h % REFRESH_SECS == slot
        });
        for e in entries {
            let _ = self.share.queue(now, e);
        }
        self.transmit(now);
    }

    /// Turns the program's sharing off (the ring is dropped with this part).
    pub fn stop(self, lvs: &mut LvsPart) {
        let _ = lvs.director_mut().set_sync(false);
    }

    fn once(&mut self, kind: &str, msg: String) {
        if self.logged.insert(kind.to_owned()) {
            warn!("{msg}");
        }
    }

    /// What `vipd status` shows.
    pub fn status(&self, ring_lost: u64, parked: (usize, u64)) -> status::Sharing {
        let now = datapath::monotonic();
        status::Sharing {
            on: true,
            why_off: None,
            transport: self.plan.to_string(),
            authenticated: self.key_file.is_some(),
            key_file: self.key_file.as_ref().map(|p| p.display().to_string()),
            counters: *self.share.counters(),
            installed: self.installed,
            parked_total: self.waiting,
            parked_now: parked.0,
            parked_given_up: parked.1,
            not_installed: self.not_installed,
            ring_lost,
            send_errors: self.send_errors,
            queue: self.share.queue_len(),
            dumps_served: self.dumps_served,
            start_dump: self.start_dump.clone(),
            peers: self
                .share
                .peers()
                .into_iter()
                .map(|p| status::SharingPeer {
                    sender_id: format!("{:016x}", p.sender_id),
                    last_heard_secs: now.saturating_sub(p.last_heard).as_secs_f64(),
                    highest_seq: p.highest_seq,
                })
                .collect(),
        }
    }
}
