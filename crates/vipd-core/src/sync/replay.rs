//! Replay protection for sync datagrams.
//!
//! A valid tag proves a datagram came from a key holder, not that it is new: a
//! recorded datagram sent again later would re-install connections that have
//! since moved or closed. Two bounds stop that:
//!
//! - per sender id, the highest sequence number seen and a 64-entry sliding
//!   bitmap behind it (RFC 4303 §3.4.3): a sequence number already seen, or older
//!   than the window, is a replay. UDP may reorder datagrams; within the window
//!   each is accepted once.
//! - the sender's wall clock must be within [`MAX_CLOCK_SKEW_S`] of ours. The
//!   window is forgotten when a sender is evicted or we restart; the clock bound
//!   keeps a replay of such a sender's datagrams to that short interval (it asks
//!   for clocks synced to within half a minute, which NTP gives any director).
//!
//! At most [`MAX_SENDERS`] senders are tracked: sender ids are random per process
//! start, so restarts leave dead ids behind, and in an unkeyed setup anyone can
//! invent ids. When the table is full the sender heard from least recently is
//! forgotten. The caller updates the table only after authentication succeeded,
//! so forged datagrams cannot push real peers out of it.

use std::time::Duration;

/// Sequence numbers the window remembers behind the highest one.
pub const WINDOW: u64 = 64;
/// Senders tracked at once.
pub const MAX_SENDERS: usize = 64;
/// Largest accepted difference between the sender's clock and ours, in seconds.
pub const MAX_CLOCK_SKEW_S: u64 = 30;

/// Whether a datagram stamped `time_s` is fresh at our wall clock `now_s`.
pub fn time_ok(time_s: u64, now_s: u64) -> bool {
    time_s.abs_diff(now_s) <= MAX_CLOCK_SKEW_S
}

/// Why a sequence number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Already accepted once.
    #[error("sequence number {seq} already seen")]
    Duplicate {
        /// The sequence number.
        seq: u64,
    },
    /// Older than the window: it cannot be told from a replay.
    #[error("sequence number {seq} is older than the window (highest {highest})")]
    TooOld {
        /// The sequence number.
        seq: u64,
        /// The highest seen from this sender.
        highest: u64,
    },
}

/// The sliding window of one sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    highest: u64,
    /// Bit i set: `highest - i` was accepted.
    seen: u64,
}

impl Window {
    /// The window after accepting `seq` from a sender not heard before.
    pub fn new(seq: u64) -> Self {
        Self {
            highest: seq,
            seen: 1,
        }
    }

    /// The highest sequence number accepted.
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `seq` would be accepted.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq > self.highest {
            return Ok(());
        }
        let behind = self.highest - seq;
        if behind >= WINDOW {
            return Err(ReplayError::TooOld {
                seq,
                highest: self.highest,
            });
        }
        if self.seen & (1 << behind) != 0 {
            return Err(ReplayError::Duplicate { seq });
        }
        Ok(())
    }

    /// Checks `seq` and, if it is new, records it.
    pub fn accept(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.highest {
            let ahead = seq - self.highest;
            self.seen = if ahead >= WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.highest = seq;
        } else {
            self.seen |= 1 << (self.highest - seq);
        }
        Ok(())
    }
}

/// What we know of one peer, for status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's sender id.
    pub sender_id: u64,
    /// When we last accepted a datagram from it (the caller's monotonic clock).
    pub last_heard: Duration,
    /// The highest sequence number accepted from it.
    pub highest_seq: u64,
}

#[derive(Debug, Clone)]
struct Peer {
    sender_id: u64,
    window: Window,
    last_heard: Duration,
}

/// The replay windows of up to [`MAX_SENDERS`] senders.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    /// Few enough that a linear scan beats hashing, and the order is stable.
    peers: Vec<Peer>,
}

impl ReplayGuard {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `seq` from `sender_id` and, if new, records it and the time. Call
    /// only for authenticated datagrams.
    pub fn accept(&mut self, now: Duration, sender_id: u64, seq: u64) -> Result<(), ReplayError> {
        if let Some(peer) = self.peers.iter_mut().find(|p| p.sender_id == sender_id) {
            peer.window.accept(seq)?;
            peer.last_heard = now;
            return Ok(());
        }
        if self.peers.len() >= MAX_SENDERS {
            let oldest = self
                .peers
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.last_heard)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                self.peers.swap_remove(i);
            }
        }
        self.peers.push(Peer {
            sender_id,
            window: Window::new(seq),
            last_heard: now,
        });
        Ok(())
    }

    /// Senders tracked.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The tracked senders, by sender id.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut out: Vec<_> = self
            .peers
            .iter()
            .map(|p| PeerStatus {
                sender_id: p.sender_id,
                last_heard: p.last_heard,
                highest_seq: p.window.highest(),
            })
            .collect();
        out.sort_by_key(|p| p.sender_id);
        out
    }

    /// What we know of `sender_id`, if it is tracked.
    pub fn peer(&self, sender_id: u64) -> Option<PeerStatus> {
        self.peers
            .iter()
            .find(|p| p.sender_id == sender_id)
            .map(|p| PeerStatus {
                sender_id: p.sender_id,
                last_heard: p.last_heard,
                highest_seq: p.window.highest(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_within_window_accepted_once() {
        let mut w = Window::new(10);
        assert_eq!(w.accept(12), Ok(()));
        assert_eq!(w.accept(11), Ok(()));
        assert_eq!(w.accept(11), Err(ReplayError::Duplicate { seq: 11 }));
        assert_eq!(w.accept(10), Err(ReplayError::Duplicate { seq: 10 }));
        assert_eq!(w.accept(12), Err(ReplayError::Duplicate { seq: 12 }));
        assert_eq!(w.highest(), 12);
        // 7 behind the highest, inside the window and never seen: accepted.
        assert_eq!(w.accept(5), Ok(()));
        assert_eq!(w.accept(5), Err(ReplayError::Duplicate { seq: 5 }));
    }

    #[test]
    fn window_edges_and_slide() {
        let mut w = Window::new(100);
        // 100 - 63 = 37 is the oldest the window holds; 36 is out.
        assert_eq!(w.check(37), Ok(()));
        assert_eq!(
            w.check(36),
            Err(ReplayError::TooOld {
                seq: 36,
                highest: 100
            })
        );
        assert_eq!(w.accept(37), Ok(()));
        // Slide by one: 37 falls out, and is now too old rather than a duplicate.
        assert_eq!(w.accept(101), Ok(()));
        assert_eq!(
            w.accept(37),
            Err(ReplayError::TooOld {
                seq: 37,
                highest: 101
            })
        );
        assert_eq!(w.accept(100), Err(ReplayError::Duplicate { seq: 100 }));
        // A jump wider than the window clears it: 101 is too old, 200-63 is new.
        assert_eq!(w.accept(200), Ok(()));
        assert_eq!(
            w.accept(101),
            Err(ReplayError::TooOld {
                seq: 101,
                highest: 200
            })
        );
        assert_eq!(w.accept(137), Ok(()));
        assert_eq!(w.accept(137), Err(ReplayError::Duplicate { seq: 137 }));
        // A jump of exactly 63 keeps the old highest as the window's last bit.
        assert_eq!(w.accept(263), Ok(()));
        assert_eq!(w.accept(200), Err(ReplayError::Duplicate { seq: 200 }));
        assert_eq!(w.accept(201), Ok(()));
        assert_eq!(w.highest(), 263);
    }

    #[test]
    fn time_bound() {
        assert!(time_ok(1000, 1000));
        assert!(time_ok(970, 1000));
        assert!(time_ok(1030, 1000));
        assert!(!time_ok(969, 1000));
        assert!(!time_ok(1031, 1000));
        assert!(!time_ok(0, u64::MAX));
        assert!(!time_ok(u64::MAX, 0));
    }

    #[test]
    fn senders_bounded_least_recent_forgotten() {
        let mut g = ReplayGuard::new();
        for id in 0..MAX_SENDERS as u64 {
            assert_eq!(g.accept(Duration::from_secs(id + 1), id, 1), Ok(()));
        }
        assert_eq!(g.len(), 64);
        // Sender 0 speaks again: sender 1 is now the least recent.
        assert_eq!(g.accept(Duration::from_secs(100), 0, 2), Ok(()));
        assert_eq!(g.accept(Duration::from_secs(101), 1000, 1), Ok(()));
        assert_eq!(g.len(), 64);
        assert_eq!(g.peer(1), None);
        assert_eq!(
            g.peer(0),
            Some(PeerStatus {
                sender_id: 0,
                last_heard: Duration::from_secs(100),
                highest_seq: 2
            })
        );
        assert_eq!(g.peer(1000).map(|p| p.highest_seq), Some(1));
        // Sender 1 was forgotten: its old sequence number is accepted again (the
        // clock bound is what limits this).
        assert_eq!(g.accept(Duration::from_secs(102), 1, 1), Ok(()));
        assert_eq!(g.peer(2), None, "sender 2 was then the least recent");
        assert_eq!(g.len(), 64);
        let ids: Vec<u64> = g.peers().iter().map(|p| p.sender_id).collect();
        let mut want: Vec<u64> = (0..64).filter(|&i| i != 2).collect();
        want.push(1000);
        assert_eq!(ids, want);
    }

    #[test]
    fn refused_datagram_does_not_refresh() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.accept(Duration::from_secs(1), 7, 5), Ok(()));
        assert_eq!(
            g.accept(Duration::from_secs(2), 7, 5),
            Err(ReplayError::Duplicate { seq: 5 })
        );
        assert_eq!(g.peer(7).unwrap().last_heard, Duration::from_secs(1));
    }
}
