//! [`Share`]: one director's end of connection sharing, as a sans-IO state machine.
//!
//! Outgoing, entries wait in a bounded queue and leave in datagrams as large as
//! `max_datagram` allows: a busy director sends full datagrams at once, a quiet
//! one sends what it has after `flush_after` (5 ms by default: short against the
//! seconds a failover takes, long enough to batch a burst of new connections).
//!
//! Incoming, a datagram passes, in this order: the wire format, our own sender id
//! (multicast loops our datagrams back), the sync id, the key, the clock bound,
//! the replay window. The checks that need no key come first so a neighbour
//! cluster on the same group shows up as `WrongSyncId`, not as forgeries; the
//! replay window is updated last, only for datagrams that passed every other
//! check, so nothing forged or stale moves it.

use std::collections::VecDeque;
use std::time::Duration;

use super::auth::Key;
use super::replay::{self, PeerStatus, ReplayError, ReplayGuard};
use super::wire::{Datagram, Entry, EntryError, Kind, WireError, ENTRY_LEN, HEADER_LEN, TAG_LEN};

/// Default `max_datagram`: a 1500-byte MTU less the IPv4 and UDP headers.
pub const DEFAULT_MAX_DATAGRAM: usize = 1472;
/// Default `flush_after`.
pub const DEFAULT_FLUSH_AFTER: Duration = Duration::from_millis(5);
/// Default `queue_max`, in entries (4 MiB of entries).
pub const DEFAULT_QUEUE_MAX: usize = 65536;
/// The largest UDP payload over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65507;

/// What a [`Share`] needs. [`ShareConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// Our sender id: random, chosen by the caller at each process start, so a
    /// restarted director's sequence numbers (from 1 again) are not replays.
    pub sender_id: u64,
    /// keepalived's `lvs_sync_daemon IFACE INSTANCE id N` (default 0): only
    /// datagrams with the same id are accepted.
    pub sync_id: u32,
    /// The shared key; `None` sends and accepts only unauthenticated datagrams.
    pub key: Option<Key>,
    /// Largest datagram (UDP payload) to send, in bytes.
    pub max_datagram: usize,
    /// How long an entry may wait for others to share its datagram.
    pub flush_after: Duration,
    /// Most entries waiting at once; more are dropped and counted.
    pub queue_max: usize,
}

impl ShareConfig {
    /// Defaults for everything but the sender id: sync id 0, no key, 1472-byte
    /// datagrams, 5 ms, 65536 entries.
    pub fn new(sender_id: u64) -> Self {
        Self {
            sender_id,
            sync_id: 0,
            key: None,
            max_datagram: DEFAULT_MAX_DATAGRAM,
            flush_after: DEFAULT_FLUSH_AFTER,
            queue_max: DEFAULT_QUEUE_MAX,
        }
    }

    fn tag_len(&self) -> usize {
        if self.key.is_some() {
            TAG_LEN
        } else {
            0
        }
    }
}

/// A configuration a [`Share`] cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not even one entry fits.
    #[error("sync max_datagram of {max_datagram} bytes holds no entry: need at least {min}")]
    DatagramTooSmall {
        /// Configured.
        max_datagram: usize,
        /// Header, one entry and, with a key, the tag.
        min: usize,
    },
    /// More than UDP can carry.
    #[error("sync max_datagram of {max_datagram} bytes is more than a UDP datagram holds ({max})")]
    DatagramTooLarge {
        /// Configured.
        max_datagram: usize,
        /// [`MAX_UDP_PAYLOAD`].
        max: usize,
    },
    /// A queue that holds nothing would drop every entry.
    #[error("sync queue_max must be at least 1")]
    ZeroQueue,
}

/// Why [`Share::queue`] did not take an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue holds `queue_max` entries (counted in `queue_dropped`): the
    /// peers are not told about this connection.
    #[error("sync queue full, entry dropped")]
    Full,
    /// The entry cannot be sent (counted in `queue_invalid`).
    #[error("entry not sent: {0}")]
    Invalid(EntryError),
}

/// What an accepted datagram asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Install these connections. There is no lag estimate: the peers' clocks are
    /// not synced finely enough. `age_ms` of each entry says how long the sender
    /// had not seen the connection; `last_heard` of [`Share::peers`] says when the
    /// peer last spoke.
    Entries {
        /// The peer's sender id.
        from: u64,
        /// The connections.
        entries: Vec<Entry>,
    },
    /// A peer started and wants our table: feed it to [`Share::queue_dump`],
    /// then send [`Share::dump_end`].
    DumpRequested {
        /// The peer's sender id.
        from: u64,
    },
    /// A peer finished sending its table (for [`super::DumpWait::on_end`]).
    DumpEnded {
        /// The peer's sender id.
        from: u64,
    },
}

/// Why a received datagram was dropped. Each is counted in [`DropCounters`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// Shorter than its header says.
    #[error("{0}")]
    Truncated(WireError),
    /// Bad kind, flags, reserved field, length or entry.
    #[error("malformed sync datagram: {0}")]
    Malformed(WireError),
    /// Not a vipd sync datagram.
    #[error("{0}")]
    BadMagic(WireError),
    /// Another protocol version.
    #[error("{0}")]
    Version(WireError),
    /// Our own datagram, looped back by multicast.
    #[error("our own sync datagram")]
    Own,
    /// Another sync id: another cluster on the same group or port.
    #[error("sync datagram from {sender:#018x} has sync id {got}, ours is {want}: set the same lvs_sync_daemon id on every director")]
    WrongSyncId {
        /// The peer's sender id.
        sender: u64,
        /// Its sync id.
        got: u32,
        /// Ours.
        want: u32,
    },
    /// One side has a key and the other does not.
    #[error("sync datagram from {sender:#018x} {}", key_mismatch_text(*.we_have_key))]
    KeyMismatch {
        /// The peer's sender id (unauthenticated).
        sender: u64,
        /// Whether we have a key (so the datagram had no tag), or not (so it had one).
        we_have_key: bool,
    },
    /// The tag is wrong: another key, corruption or forgery.
    #[error("sync datagram from {sender:#018x} has a bad tag: another key, or forged")]
    BadTag {
        /// The claimed sender id (unauthenticated).
        sender: u64,
    },
    /// The sender's clock is more than [`replay::MAX_CLOCK_SKEW_S`] from ours: a
    /// replay, or clocks that need NTP.
    #[error("sync datagram from {sender:#018x} is stamped {time_s}, our clock says {now_s}: a replay, or the clocks differ by more than 30 s")]
    Stale {
        /// The peer's sender id.
        sender: u64,
        /// Its stamp, unix seconds.
        time_s: u64,
        /// Our clock, unix seconds.
        now_s: u64,
    },
    /// A sequence number already seen or older than the window.
    #[error("sync datagram from {sender:#018x} replayed: {error}")]
    Replay {
        /// The peer's sender id.
        sender: u64,
        /// Which check failed.
        error: ReplayError,
    },
}

fn key_mismatch_text(we_have_key: bool) -> &'static str {
    if we_have_key {
        "is not authenticated but this director has a sync key: use the same key file on every director"
    } else {
        "is authenticated but this director has no sync key: use the same key file on every director"
    }
}

impl From<WireError> for Discard {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Truncated { .. } => Discard::Truncated(e),
            WireError::BadMagic(_) => Discard::BadMagic(e),
            WireError::Version(_) => Discard::Version(e),
            _ => Discard::Malformed(e),
        }
    }
}

/// Received datagrams dropped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DropCounters {
    /// [`Discard::Truncated`].
    pub truncated: u64,
    /// [`Discard::Malformed`].
    pub malformed: u64,
    /// [`Discard::BadMagic`].
    pub bad_magic: u64,
    /// [`Discard::Version`].
    pub version: u64,
    /// [`Discard::Own`].
    pub own: u64,
    /// [`Discard::WrongSyncId`].
    pub wrong_sync_id: u64,
    /// [`Discard::KeyMismatch`].
    pub key_mismatch: u64,
    /// [`Discard::BadTag`].
    pub bad_tag: u64,
    /// [`Discard::Stale`].
    pub stale: u64,
    /// [`Discard::Replay`].
    pub replay: u64,
}

impl DropCounters {
    fn count(&mut self, d: &Discard) {
        let c = match d {
            Discard::Truncated(_) => &mut self.truncated,
            Discard::Malformed(_) => &mut self.malformed,
            Discard::BadMagic(_) => &mut self.bad_magic,
            Discard::Version(_) => &mut self.version,
            Discard::Own => &mut self.own,
            Discard::WrongSyncId { .. } => &mut self.wrong_sync_id,
            Discard::KeyMismatch { .. } => &mut self.key_mismatch,
            Discard::BadTag { .. } => &mut self.bad_tag,
            Discard::Stale { .. } => &mut self.stale,
            Discard::Replay { .. } => &mut self.replay,
        };
        *c += 1;
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.truncated
            + self.malformed
            + self.bad_magic
            + self.version
            + self.own
            + self.wrong_sync_id
            + self.key_mismatch
            + self.bad_tag
            + self.stale
            + self.replay
    }
}

/// What a [`Share`] did, for `vipd status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Datagrams handed to the caller to send (entries, dump requests, dump ends).
    pub datagrams_sent: u64,
    /// Entries in them.
    pub entries_sent: u64,
    /// Datagrams accepted.
    pub datagrams_received: u64,
    /// Entries in them.
    pub entries_received: u64,
    /// Entries [`Share::queue`] dropped because the queue was full.
    pub queue_dropped: u64,
    /// Entries refused because they cannot be encoded (see [`Entry::check`]).
    pub queue_invalid: u64,
    /// Received datagrams dropped, by reason.
    pub dropped: DropCounters,
}

/// One director's end of connection sharing. See the module docs.
#[derive(Debug, Clone)]
pub struct Share {
    cfg: ShareConfig,
    /// Entries per datagram.
    per_datagram: usize,
    /// Entries waiting, with the time each was queued.
    queue: VecDeque<(Duration, Entry)>,
    next_seq: u64,
    replay: ReplayGuard,
    counters: Counters,
}

impl Share {
    /// A new end; checks the configuration.
    pub fn new(cfg: ShareConfig) -> Result<Self, ConfigError> {
        let min = HEADER_LEN + ENTRY_LEN + cfg.tag_len();
        if cfg.max_datagram < min {
            return Err(ConfigError::DatagramTooSmall {
                max_datagram: cfg.max_datagram,
                min,
            });
        }
        if cfg.max_datagram > MAX_UDP_PAYLOAD {
            return Err(ConfigError::DatagramTooLarge {
                max_datagram: cfg.max_datagram,
                max: MAX_UDP_PAYLOAD,
            });
        }
        if cfg.queue_max == 0 {
            return Err(ConfigError::ZeroQueue);
        }
        let per_datagram = (cfg.max_datagram - HEADER_LEN - cfg.tag_len()) / ENTRY_LEN;
        Ok(Self {
            per_datagram,
            cfg,
            queue: VecDeque::new(),
            next_seq: 1,
            replay: ReplayGuard::new(),
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ShareConfig {
        &self.cfg
    }

    /// Entries that fit in one datagram (22 with the defaults, key or not).
    pub fn entries_per_datagram(&self) -> usize {
        self.per_datagram
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The peers heard from (at most [`replay::MAX_SENDERS`]), by sender id.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.replay.peers()
    }

    /// Entries waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Queues a connection to share, at `now`. Drops it (and counts it) when
    /// `queue_max` entries wait already: memory stays bounded when the peers
    /// cannot keep up or the caller stops polling.
    pub fn queue(&mut self, now: Duration, entry: Entry) -> Result<(), QueueError> {
        if let Err(e) = entry.check() {
            self.counters.queue_invalid += 1;
            return Err(QueueError::Invalid(e));
        }
        if self.queue.len() >= self.cfg.queue_max {
            self.counters.queue_dropped += 1;
            return Err(QueueError::Full);
        }
        self.queue.push_back((now, entry));
        Ok(())
    }

    /// Queues entries of a dump (our table, for a peer that asked) until the
    /// queue holds `queue_max` entries or `entries` ends, and returns how many it
    /// took. It never drops: when the queue is full it stops pulling, so pass
    /// `&mut iter`, send what [`Share::poll_transmit`] returns, and call again with
    /// the same iterator; that is how the caller paces a table larger than the
    /// queue. Entries that cannot be encoded are skipped and counted in
    /// `queue_invalid`. Live entries queued meanwhile interleave, which is fine:
    /// the receiver installs whatever arrives.
    pub fn queue_dump(&mut self, now: Duration, entries: impl IntoIterator<Item = Entry>) -> usize {
        let mut entries = entries.into_iter();
        let mut taken = 0;
        while self.queue.len() < self.cfg.queue_max {
            let Some(entry) = entries.next() else { break };
            if entry.check().is_err() {
                self.counters.queue_invalid += 1;
                continue;
            }
            self.queue.push_back((now, entry));
            taken += 1;
        }
        taken
    }

    /// The next datagram to send, if one is due: a full datagram's worth is
    /// queued, or the oldest entry has waited `flush_after`. Call until `None`.
    /// `wall_s` (unix seconds) is stamped on the datagram.
    pub fn poll_transmit(&mut self, now: Duration, wall_s: u64) -> Option<Vec<u8>> {
        let (oldest, _) = self.queue.front()?;
        if self.queue.len() < self.per_datagram && now < *oldest + self.cfg.flush_after {
            return None;
        }
        Some(self.next_entries_datagram(wall_s))
    }

    /// When [`Share::poll_transmit`] has something next: the oldest entry's
    /// queue time plus `flush_after`, or that queue time itself (already past)
    /// when a full datagram waits. `None` when the queue is empty.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let (oldest, _) = self.queue.front()?;
        if self.queue.len() >= self.per_datagram {
            Some(*oldest)
        } else {
            Some(*oldest + self.cfg.flush_after)
        }
    }

    /// Every queued entry, now, in as few datagrams as fit (shutdown, end of dump).
    pub fn flush(&mut self, wall_s: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !self.queue.is_empty() {
            out.push(self.next_entries_datagram(wall_s));
        }
        out
    }

    /// A DumpRequest, to send at start (then follow a [`super::DumpWait`]).
    pub fn request_dump(&mut self, wall_s: u64) -> Vec<u8> {
        self.build(Kind::DumpRequest, Vec::new(), wall_s)
    }

    /// The end of a dump: the queued entries ([`Share::flush`]), then the DumpEnd,
    /// in the order to send them, so the end does not overtake the last entries.
    /// Call once the dump's iterator is exhausted.
    pub fn dump_end(&mut self, wall_s: u64) -> Vec<Vec<u8>> {
        let mut out = self.flush(wall_s);
        out.push(self.build(Kind::DumpEnd, Vec::new(), wall_s));
        out
    }

    fn next_entries_datagram(&mut self, wall_s: u64) -> Vec<u8> {
        let n = self.queue.len().min(self.per_datagram);
        let entries = self.queue.drain(..n).map(|(_, e)| e).collect();
        self.build(Kind::Entries, entries, wall_s)
    }

    fn build(&mut self, kind: Kind, entries: Vec<Entry>, wall_s: u64) -> Vec<u8> {
        let count = entries.len() as u64;
        let datagram = Datagram {
            kind,
            sender_id: self.cfg.sender_id,
            seq: self.next_seq,
            time_s: wall_s,
            sync_id: self.cfg.sync_id,
            entries,
            // A placeholder that sets the AUTH flag; the tag covers the flag.
            tag: self.cfg.key.as_ref().map(|_| [0; TAG_LEN]),
        };
        // 2^64 datagrams: never.
        self.next_seq += 1;
        let mut bytes = datagram.to_bytes();
        if let Some(key) = &self.cfg.key {
            let signed = bytes.len() - TAG_LEN;
            let tag = key.tag(&bytes[..signed]);
            bytes[signed..].copy_from_slice(&tag);
        }
        self.counters.datagrams_sent += 1;
        self.counters.entries_sent += count;
        bytes
    }

    /// Checks a received datagram (`now` monotonic, `wall_s` unix seconds) and
    /// says what it asks for. Every drop is counted.
    pub fn handle_datagram(
        &mut self,
        now: Duration,
        wall_s: u64,
        bytes: &[u8],
    ) -> Result<Incoming, Discard> {
        let result = self.check(now, wall_s, bytes);
        match &result {
            Ok(incoming) => {
                self.counters.datagrams_received += 1;
                if let Incoming::Entries { entries, .. } = incoming {
                    self.counters.entries_received += entries.len() as u64;
                }
            }
            Err(discard) => self.counters.dropped.count(discard),
        }
        result
    }

    fn check(&mut self, now: Duration, wall_s: u64, bytes: &[u8]) -> Result<Incoming, Discard> {
        let datagram = Datagram::parse(bytes)?;
        let sender = datagram.sender_id;
        if sender == self.cfg.sender_id {
            return Err(Discard::Own);
        }
        if datagram.sync_id != self.cfg.sync_id {
            return Err(Discard::WrongSyncId {
                sender,
                got: datagram.sync_id,
                want: self.cfg.sync_id,
            });
        }
        match (&self.cfg.key, &datagram.tag) {
            (None, None) => {}
            (Some(key), Some(tag)) => {
                // `parse` checked the length: the tag is the last TAG_LEN bytes.
                if !key.verify(&bytes[..bytes.len() - TAG_LEN], tag) {
                    return Err(Discard::BadTag { sender });
                }
            }
            (ours, _) => {
                return Err(Discard::KeyMismatch {
                    sender,
                    we_have_key: ours.is_some(),
                })
            }
        }
        if !replay::time_ok(datagram.time_s, wall_s) {
            return Err(Discard::Stale {
                sender,
                time_s: datagram.time_s,
                now_s: wall_s,
            });
        }
        self.replay
            .accept(now, sender, datagram.seq)
            .map_err(|error| Discard::Replay { sender, error })?;
        Ok(match datagram.kind {
            Kind::Entries => Incoming::Entries {
                from: sender,
                entries: datagram.entries,
            },
            Kind::DumpRequest => Incoming::DumpRequested { from: sender },
            Kind::DumpEnd => Incoming::DumpEnded { from: sender },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::plan::Proto;
    use crate::sync::dump::{DumpEndReason, DumpStatus, DumpWait};
    use crate::sync::wire::ConnState;

    const A: u64 = 0xa000_0000_0000_000a;
    const B: u64 = 0xb000_0000_0000_000b;
    const WALL: u64 = 1_700_000_000;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn key() -> Key {
        Key::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn share(sender: u64, key: Option<Key>) -> Share {
        Share::new(ShareConfig {
            key,
            ..ShareConfig::new(sender)
        })
        .unwrap()
    }

    /// A distinct TCP connection per `i`.
    fn entry(i: u32) -> Entry {
        Entry {
            vip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 250)),
            vport: 80,
            client: IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)),
            cport: 1024 + (i % 60000) as u16,
            dport: 80,
            proto: Proto::Tcp,
            rip: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)),
            rport: 80,
            state: ConnState::Established,
            persist: false,
            age_ms: i,
        }
    }

    fn entries(n: u32) -> Vec<Entry> {
        (0..n).map(entry).collect()
    }

    /// A datagram from `from` with `n` entries, flushed.
    fn datagram(from: &mut Share, n: u32) -> Vec<u8> {
        for e in entries(n) {
            from.queue(ms(0), e).unwrap();
        }
        let mut out = from.flush(WALL);
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    #[test]
    fn round_trip_keyed_and_unkeyed() {
        for k in [Some(key()), None] {
            let mut a = share(A, k.clone());
            let mut b = share(B, k);
            for e in entries(3) {
                a.queue(ms(10), e).unwrap();
            }
            assert_eq!(a.poll_transmit(ms(14), WALL), None);
            let bytes = a.poll_transmit(ms(15), WALL).unwrap();
            assert_eq!(bytes.len(), 40 + 3 * 64 + a.config().tag_len());
            assert_eq!(
                b.handle_datagram(ms(20), WALL, &bytes),
                Ok(Incoming::Entries {
                    from: A,
                    entries: entries(3)
                })
            );
            assert_eq!(
                *a.counters(),
                Counters {
                    datagrams_sent: 1,
                    entries_sent: 3,
                    ..Counters::default()
                }
            );
            assert_eq!(
                *b.counters(),
                Counters {
                    datagrams_received: 1,
                    entries_received: 3,
                    ..Counters::default()
                }
            );
            assert_eq!(
                b.peers(),
                vec![PeerStatus {
                    sender_id: A,
                    last_heard: ms(20),
                    highest_seq: 1
                }]
            );
        }
    }

    #[test]
    fn batching_fills_datagrams() {
        let mut a = share(A, Some(key()));
        assert_eq!(a.entries_per_datagram(), 22);
        assert_eq!(share(A, None).entries_per_datagram(), 22);
        assert_eq!(a.poll_timeout(), None);
        for e in entries(50) {
            a.queue(ms(100), e).unwrap();
        }
        assert_eq!(
            a.poll_timeout(),
            Some(ms(100)),
            "a full datagram is due now"
        );
        let first = a.poll_transmit(ms(100), WALL).unwrap();
        assert_eq!(first.len(), 40 + 22 * 64 + 16);
        assert_eq!(first.len(), 1464);
        let second = a.poll_transmit(ms(100), WALL).unwrap();
        assert_eq!(second.len(), 1464);
        // 6 left: wait for flush_after.
        assert_eq!(a.poll_transmit(ms(104), WALL), None);
        assert_eq!(a.poll_timeout(), Some(ms(105)));
        let third = a.poll_transmit(ms(105), WALL).unwrap();
        assert_eq!(third.len(), 40 + 6 * 64 + 16);
        assert_eq!(a.poll_transmit(ms(105), WALL), None);
        assert_eq!(a.poll_timeout(), None);
        let mut b = share(B, Some(key()));
        let mut got = Vec::new();
        for d in [first, second, third] {
            match b.handle_datagram(ms(106), WALL, &d) {
                Ok(Incoming::Entries { entries, .. }) => got.extend(entries),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, entries(50), "in order, none lost");
        assert_eq!(b.peers()[0].highest_seq, 3);
        assert_eq!(a.counters().entries_sent, 50);
        assert_eq!(a.counters().datagrams_sent, 3);
    }

    #[test]
    fn max_datagram_is_respected() {
        let cfg = |max_datagram, key| ShareConfig {
            max_datagram,
            key,
            ..ShareConfig::new(A)
        };
        assert_eq!(
            Share::new(cfg(232, None)).unwrap().entries_per_datagram(),
            3
        );
        assert_eq!(
            Share::new(cfg(231, None)).unwrap().entries_per_datagram(),
            2
        );
        assert_eq!(
            Share::new(cfg(248, Some(key())))
                .unwrap()
                .entries_per_datagram(),
            3
        );
        assert_eq!(
            Share::new(cfg(119, Some(key()))).unwrap_err(),
            ConfigError::DatagramTooSmall {
                max_datagram: 119,
                min: 120
            }
        );
        assert!(Share::new(cfg(104, None)).is_ok());
        assert_eq!(
            Share::new(cfg(65508, None)).unwrap_err(),
            ConfigError::DatagramTooLarge {
                max_datagram: 65508,
                max: 65507
            }
        );
        assert_eq!(
            Share::new(ShareConfig {
                queue_max: 0,
                ..ShareConfig::new(A)
            })
            .unwrap_err(),
            ConfigError::ZeroQueue
        );
        // 232 bytes, no key: 7 entries leave as 3 + 3 at once, 1 after 5 ms.
        let mut s = Share::new(cfg(232, None)).unwrap();
        for e in entries(7) {
            s.queue(ms(0), e).unwrap();
        }
        let sizes: Vec<usize> = std::iter::from_fn(|| s.poll_transmit(ms(0), WALL))
            .map(|d| d.len())
            .collect();
        assert_eq!(sizes, vec![232, 232]);
        assert_eq!(s.poll_timeout(), Some(ms(5)));
        assert_eq!(s.poll_transmit(ms(5), WALL).map(|d| d.len()), Some(104));
    }

    #[test]
    fn flush_timer_follows_the_oldest_entry() {
        let mut a = share(A, None);
        a.queue(ms(10), entry(0)).unwrap();
        a.queue(ms(13), entry(1)).unwrap();
        assert_eq!(a.poll_timeout(), Some(ms(15)));
        assert_eq!(a.poll_transmit(ms(14), WALL), None);
        let d = a.poll_transmit(ms(15), WALL).unwrap();
        assert_eq!(d.len(), 40 + 2 * 64, "both go, the younger too");
        a.queue(ms(20), entry(2)).unwrap();
        assert_eq!(a.poll_timeout(), Some(ms(25)));
    }

    #[test]
    fn queue_is_bounded() {
        let mut a = Share::new(ShareConfig {
            queue_max: 3,
            ..ShareConfig::new(A)
        })
        .unwrap();
        for e in entries(3) {
            a.queue(ms(0), e).unwrap();
        }
        assert_eq!(a.queue(ms(0), entry(3)), Err(QueueError::Full));
        assert_eq!(a.queue(ms(0), entry(4)), Err(QueueError::Full));
        assert_eq!(a.queue_len(), 3);
        assert_eq!(a.counters().queue_dropped, 2);
        let mut bad = entry(5);
        bad.client = "2001:db8::1".parse().unwrap();
        assert!(matches!(
            a.queue(ms(0), bad),
            Err(QueueError::Invalid(EntryError::MixedFamily { .. }))
        ));
        assert_eq!(a.counters().queue_invalid, 1);
        assert_eq!(a.counters().queue_dropped, 2);
        // The first three are the ones sent.
        let d = a.poll_transmit(ms(5), WALL).unwrap();
        assert_eq!(Datagram::parse(&d).unwrap().entries, entries(3));
    }

    #[test]
    fn queue_dump_paces_without_dropping() {
        let mut a = Share::new(ShareConfig {
            queue_max: 5,
            ..ShareConfig::new(A)
        })
        .unwrap();
        let mut bad = entry(99);
        bad.state = ConnState::Udp;
        let mut table = entries(5)
            .into_iter()
            .chain([bad])
            .chain((5..12).map(entry));
        assert_eq!(a.queue_dump(ms(0), &mut table), 5);
        assert_eq!(a.queue_dump(ms(0), &mut table), 0, "full: nothing pulled");
        assert_eq!(a.flush(WALL).len(), 1);
        assert_eq!(a.queue_dump(ms(1), &mut table), 5, "the bad one is skipped");
        assert_eq!(a.counters().queue_invalid, 1);
        assert_eq!(a.flush(WALL).len(), 1);
        assert_eq!(a.queue_dump(ms(2), &mut table), 2);
        assert_eq!(table.next(), None);
        assert_eq!(a.counters().queue_dropped, 0);
        assert_eq!(a.counters().entries_sent, 10);
    }

    #[test]
    fn dump_flow() {
        let mut a = share(A, Some(key()));
        let mut b = share(B, Some(key()));
        let mut wait = DumpWait::new(ms(0), ms(1000), ms(5000));
        let req = a.request_dump(WALL);
        assert_eq!(req.len(), 40 + 16);
        assert_eq!(
            b.handle_datagram(ms(1), WALL, &req),
            Ok(Incoming::DumpRequested { from: A })
        );
        assert_eq!(b.queue_dump(ms(1), entries(30)), 30);
        let out = b.dump_end(WALL);
        assert_eq!(out.len(), 3, "22 entries, 8 entries, the end");
        assert_eq!(b.queue_len(), 0);
        let mut got = Vec::new();
        for d in &out {
            match a.handle_datagram(ms(2), WALL, d) {
                Ok(Incoming::Entries { from, entries }) => {
                    assert_eq!(from, B);
                    wait.on_entries(ms(2), from);
                    got.extend(entries);
                }
                Ok(Incoming::DumpEnded { from }) => wait.on_end(ms(2), from),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, entries(30));
        assert_eq!(
            wait.poll(ms(2)),
            DumpStatus::Done {
                peers_answered: 1,
                reason: DumpEndReason::AllEnded
            }
        );
        // The request took A's sequence number 1.
        assert_eq!(b.peers()[0].highest_seq, 1);
        assert_eq!(a.peers()[0].highest_seq, 3);
    }

    #[test]
    fn own_datagrams_dropped() {
        let mut a = share(A, Some(key()));
        let d = datagram(&mut a, 1);
        assert_eq!(a.handle_datagram(ms(0), WALL, &d), Err(Discard::Own));
        assert_eq!(a.counters().dropped.own, 1);
        assert_eq!(a.counters().dropped.total(), 1);
        assert!(a.peers().is_empty());
    }

    #[test]
    fn wire_drops() {
        let mut a = share(A, None);
        let mut b = share(B, None);
        let good = datagram(&mut a, 2);
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        let mut version = good.clone();
        version[4] = 9;
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            b.handle_datagram(ms(0), WALL, &good[..100]),
            Err(Discard::Truncated(WireError::Truncated {
                len: 100,
                need: 168
            }))
        );
        assert_eq!(
            b.handle_datagram(ms(0), WALL, &bad_magic),
            Err(Discard::BadMagic(WireError::BadMagic(*b"XPSY")))
        );
        assert_eq!(
            b.handle_datagram(ms(0), WALL, &version),
            Err(Discard::Version(WireError::Version(9)))
        );
        assert_eq!(
            b.handle_datagram(ms(0), WALL, &trailing),
            Err(Discard::Malformed(WireError::TrailingBytes {
                len: 169,
                expected: 168
            }))
        );
        assert_eq!(
            b.counters().dropped,
            DropCounters {
                truncated: 1,
                bad_magic: 1,
                version: 1,
                malformed: 1,
                ..DropCounters::default()
            }
        );
        // None of that moved the replay window.
        assert!(b.peers().is_empty());
        assert!(b.handle_datagram(ms(0), WALL, &good).is_ok());
    }

    #[test]
    fn wrong_sync_id() {
        let mut a = Share::new(ShareConfig {
            sync_id: 7,
            ..ShareConfig::new(A)
        })
        .unwrap();
        let mut b = share(B, None);
        let d = datagram(&mut a, 1);
        assert_eq!(
            b.handle_datagram(ms(0), WALL, &d),
            Err(Discard::WrongSyncId {
                sender: A,
                got: 7,
                want: 0
            })
        );
        assert_eq!(b.counters().dropped.wrong_sync_id, 1);
    }

    #[test]
    fn key_mismatch_both_ways() {
        let mut keyed = share(A, Some(key()));
        let mut unkeyed = share(B, None);
        let from_keyed = datagram(&mut keyed, 1);
        let from_unkeyed = datagram(&mut unkeyed, 1);
        assert_eq!(
            unkeyed.handle_datagram(ms(0), WALL, &from_keyed),
            Err(Discard::KeyMismatch {
                sender: A,
                we_have_key: false
            })
        );
        assert_eq!(
            keyed.handle_datagram(ms(0), WALL, &from_unkeyed),
            Err(Discard::KeyMismatch {
                sender: B,
                we_have_key: true
            })
        );
        assert_eq!(keyed.counters().dropped.key_mismatch, 1);
        assert_eq!(unkeyed.counters().dropped.key_mismatch, 1);
        // Another key: bad tag.
        let mut other = share(B, Some(Key::new(b"another key, 16+ bytes").unwrap()));
        assert_eq!(
            other.handle_datagram(ms(0), WALL, &from_keyed),
            Err(Discard::BadTag { sender: A })
        );
        assert_eq!(
            Discard::KeyMismatch {
                sender: 1,
                we_have_key: true
            }
            .to_string(),
            "sync datagram from 0x0000000000000001 is not authenticated but this director has a sync key: use the same key file on every director"
        );
    }

    #[test]
    fn any_flipped_bit_is_dropped() {
        let mut a = share(A, Some(key()));
        let mut b = share(B, Some(key()));
        // Sequence number 3: no single flip makes it 0, which the parser refuses.
        let _ = (datagram(&mut a, 2), datagram(&mut a, 2));
        let good = datagram(&mut a, 2);
        assert_eq!(good.len(), 184);
        for bit in 0..good.len() * 8 {
            let mut d = good.clone();
            let byte = bit / 8;
            d[byte] ^= 1 << (bit % 8);
            let got = b.handle_datagram(ms(0), WALL, &d);
            assert!(got.is_err(), "bit {bit} accepted");
            // Sender, seq, time, every entry byte that still parses, the tag:
            // only the key can tell.
            let tag_only = (8..32).contains(&byte) || byte >= 168;
            if tag_only {
                assert!(
                    matches!(got, Err(Discard::BadTag { .. })),
                    "bit {bit}: {got:?}"
                );
            }
            if (36..40).contains(&byte) {
                assert!(
                    matches!(got, Err(Discard::WrongSyncId { .. })),
                    "bit {bit}: {got:?}"
                );
            }
        }
        // Every bit counted once: magic and version bits by those checks, count
        // bits as truncated (15) or trailing bytes (2 -> 0), the rest of the
        // header and the entry bits the entry checks catch as malformed, sync id
        // bits by the sync id, and the rest only by the tag.
        assert_eq!(
            b.counters().dropped,
            DropCounters {
                truncated: 15,
                malformed: 671,
                bad_magic: 32,
                version: 8,
                wrong_sync_id: 32,
                bad_tag: 714,
                ..DropCounters::default()
            }
        );
        assert_eq!(b.counters().dropped.total(), 184 * 8);
        assert_eq!(b.counters().datagrams_received, 0);
        assert!(b.peers().is_empty(), "nothing moved the replay window");
        assert!(b.handle_datagram(ms(0), WALL, &good).is_ok());
    }

    #[test]
    fn replay_window() {
        let mut a = share(A, Some(key()));
        let mut b = share(B, Some(key()));
        let d: Vec<Vec<u8>> = (0..3).map(|_| datagram(&mut a, 1)).collect();
        // Reordered within the window: each accepted once.
        for i in [2, 0, 1] {
            assert!(b.handle_datagram(ms(0), WALL, &d[i]).is_ok(), "{i}");
        }
        for (i, seq) in [(0, 1), (1, 2), (2, 3)] {
            assert_eq!(
                b.handle_datagram(ms(1), WALL, &d[i]),
                Err(Discard::Replay {
                    sender: A,
                    error: ReplayError::Duplicate { seq }
                })
            );
        }
        // 64 more: seq 67 is the highest, so 3 (64 behind) is too old.
        for _ in 0..64 {
            let x = datagram(&mut a, 1);
            assert!(b.handle_datagram(ms(2), WALL, &x).is_ok());
        }
        assert_eq!(
            b.handle_datagram(ms(3), WALL, &d[2]),
            Err(Discard::Replay {
                sender: A,
                error: ReplayError::TooOld {
                    seq: 3,
                    highest: 67
                }
            })
        );
        assert_eq!(b.counters().dropped.replay, 4);
        assert_eq!(
            b.peers(),
            vec![PeerStatus {
                sender_id: A,
                last_heard: ms(2),
                highest_seq: 67
            }]
        );
    }

    #[test]
    fn time_bound() {
        let mut a = share(A, Some(key()));
        let mut b = share(B, Some(key()));
        let d = datagram(&mut a, 1);
        assert_eq!(
            b.handle_datagram(ms(0), WALL + 31, &d),
            Err(Discard::Stale {
                sender: A,
                time_s: WALL,
                now_s: WALL + 31
            })
        );
        assert_eq!(
            b.handle_datagram(ms(0), WALL - 31, &d),
            Err(Discard::Stale {
                sender: A,
                time_s: WALL,
                now_s: WALL - 31
            })
        );
        assert_eq!(b.counters().dropped.stale, 2);
        assert!(
            b.peers().is_empty(),
            "stale datagrams do not move the window"
        );
        assert!(b.handle_datagram(ms(0), WALL + 30, &d).is_ok());
    }

    #[test]
    fn senders_bounded() {
        let mut b = share(B, None);
        for id in 1..=65u64 {
            let mut s = share(id, None);
            let d = datagram(&mut s, 1);
            assert!(b.handle_datagram(ms(id), WALL, &d).is_ok());
        }
        let peers = b.peers();
        assert_eq!(peers.len(), 64);
        assert_eq!(
            peers[0].sender_id, 2,
            "sender 1, heard least recently, forgotten"
        );
        assert_eq!(peers[63].sender_id, 65);
    }

    #[test]
    fn counters_serialize() {
        let mut b = share(B, None);
        let _ = b.handle_datagram(ms(0), WALL, b"short");
        assert_eq!(
            serde_json::to_string(b.counters()).unwrap(),
            r#"{"datagrams_sent":0,"entries_sent":0,"datagrams_received":0,"entries_received":0,"queue_dropped":0,"queue_invalid":0,"dropped":{"truncated":1,"malformed":0,"bad_magic":0,"version":0,"own":0,"wrong_sync_id":0,"key_mismatch":0,"bad_tag":0,"stale":0,"replay":0}}"#
        );
    }
}
