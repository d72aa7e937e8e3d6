//! Waiting for the peers' tables at start-up.
//!
//! A director that starts (or restarts) has an empty connection table. If it
//! takes the VIP before its peers' tables arrive, every established connection
//! is rescheduled and most break. So it sends a dump request and waits, bounded:
//! - done when every peer that answered has sent its DumpEnd;
//! - done when nobody answered within the first-answer timeout (a lone director,
//!   or peers without sync: do not hold up a cold start for long);
//! - done when the total timeout passed (a peer that died mid-dump, or one that
//!   never ends: a partial table beats not starting).
//!
//! In multicast the peers are not known in advance, so "every peer" means every
//! sender heard from: a peer that answers after the others all ended is missed
//! (its entries still arrive and are installed, just after we stopped waiting).

use std::collections::BTreeMap;
use std::time::Duration;

/// Why the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum DumpEndReason {
    /// Every peer that answered sent its DumpEnd.
    AllEnded,
    /// Nobody answered within the first-answer timeout.
    NoPeerAnswered,
    /// The total timeout passed with dumps still running.
    TimedOut,
}

/// Where the wait stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpStatus {
    /// Still waiting: call [`DumpWait::poll`] again at `until` at the latest.
    Waiting {
        /// When the wait ends if nothing else happens (the caller's monotonic clock).
        until: Duration,
    },
    /// Done; stays done.
    Done {
        /// Peers that sent entries or a DumpEnd.
        peers_answered: usize,
        /// Why.
        reason: DumpEndReason,
    },
}

/// The start-up wait for the peers' dumps.
#[derive(Debug, Clone)]
pub struct DumpWait {
    first_answer_deadline: Duration,
    total_deadline: Duration,
    /// Sender id -> sent its DumpEnd.
    peers: BTreeMap<u64, bool>,
    done: Option<DumpStatus>,
}

impl DumpWait {
    /// Starts waiting at `now` (defaults: 1 s for a first answer, 5 s in all).
    pub fn new(now: Duration, first_answer_timeout: Duration, total_timeout: Duration) -> Self {
        Self {
            first_answer_deadline: now + first_answer_timeout,
            total_deadline: now + total_timeout.max(first_answer_timeout),
            peers: BTreeMap::new(),
            done: None,
        }
    }

    /// `sender` sent entries.
    pub fn on_entries(&mut self, now: Duration, sender: u64) {
        // An answer after the wait ended does not reopen it.
        if self.poll(now).is_waiting() {
            self.peers.entry(sender).or_insert(false);
        }
    }

    /// `sender` sent its DumpEnd.
    pub fn on_end(&mut self, now: Duration, sender: u64) {
        if self.poll(now).is_waiting() {
            self.peers.insert(sender, true);
        }
    }

    /// Where the wait stands at `now`.
    pub fn poll(&mut self, now: Duration) -> DumpStatus {
        if let Some(done) = self.done {
            return done;
        }
        let peers_answered = self.peers.len();
        let status = if peers_answered == 0 {
            if now >= self.first_answer_deadline {
                DumpStatus::Done {
                    peers_answered,
                    reason: DumpEndReason::NoPeerAnswered,
                }
            } else {
                DumpStatus::Waiting {
                    until: self.first_answer_deadline,
                }
            }
        } else if self.peers.values().all(|&ended| ended) {
            DumpStatus::Done {
                peers_answered,
                reason: DumpEndReason::AllEnded,
            }
        } else if now >= self.total_deadline {
            DumpStatus::Done {
                peers_answered,
                reason: DumpEndReason::TimedOut,
            }
        } else {
            DumpStatus::Waiting {
                until: self.total_deadline,
            }
        };
        if !status.is_waiting() {
            self.done = Some(status);
        }
        status
    }
}

impl DumpStatus {
    /// Whether the wait goes on.
    pub fn is_waiting(&self) -> bool {
        matches!(self, DumpStatus::Waiting { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn wait() -> DumpWait {
        DumpWait::new(ms(1000), ms(1000), ms(5000))
    }

    fn done(peers_answered: usize, reason: DumpEndReason) -> DumpStatus {
        DumpStatus::Done {
            peers_answered,
            reason,
        }
    }

    #[test]
    fn all_ended() {
        let mut w = wait();
        assert_eq!(w.poll(ms(1000)), DumpStatus::Waiting { until: ms(2000) });
        w.on_entries(ms(1100), 7);
        w.on_entries(ms(1150), 8);
        assert_eq!(w.poll(ms(1200)), DumpStatus::Waiting { until: ms(6000) });
        w.on_end(ms(1300), 7);
        w.on_entries(ms(1350), 7);
        assert_eq!(
            w.poll(ms(2500)),
            DumpStatus::Waiting { until: ms(6000) },
            "8 has not ended; past the first-answer deadline does not matter"
        );
        w.on_end(ms(2600), 8);
        let ended = done(2, DumpEndReason::AllEnded);
        assert_eq!(w.poll(ms(2600)), ended);
        // Latched: a newcomer does not reopen it.
        w.on_entries(ms(2700), 9);
        assert_eq!(w.poll(ms(9000)), ended);
    }

    #[test]
    fn end_without_entries_counts_only_in_time() {
        for (at, want) in [
            // A peer with an empty table answers with DumpEnd only.
            (1010, done(1, DumpEndReason::AllEnded)),
            // The caller did not poll in time: the event at 2100 must not count.
            (2100, done(0, DumpEndReason::NoPeerAnswered)),
        ] {
            let mut w = wait();
            w.on_end(ms(at), 7);
            assert_eq!(w.poll(ms(at)), want, "DumpEnd at {at} ms");
        }
    }

    #[test]
    fn no_peer_answered() {
        let mut w = wait();
        assert_eq!(w.poll(ms(1999)), DumpStatus::Waiting { until: ms(2000) });
        assert_eq!(w.poll(ms(2000)), done(0, DumpEndReason::NoPeerAnswered));
        // Too late: the answer is installed by the caller but the wait is over.
        w.on_entries(ms(2001), 7);
        w.on_end(ms(2002), 7);
        assert_eq!(w.poll(ms(2003)), done(0, DumpEndReason::NoPeerAnswered));
    }

    #[test]
    fn timed_out() {
        let mut w = wait();
        w.on_entries(ms(1500), 7);
        w.on_entries(ms(1600), 8);
        w.on_end(ms(1700), 8);
        assert_eq!(w.poll(ms(5999)), DumpStatus::Waiting { until: ms(6000) });
        assert_eq!(w.poll(ms(6000)), done(2, DumpEndReason::TimedOut));
        w.on_end(ms(6001), 7);
        assert_eq!(w.poll(ms(6001)), done(2, DumpEndReason::TimedOut));
    }
}
