//! What the daemon concludes from the data plane's two connection tables
//! (`conns` for established connections, `half_open` for handshakes in
//! progress, see `bpf/vipd_maps.h`): how many half-open entries the LRU evicted,
//! and when a flood of new flows starts and ends.
//!
//! The program counts what it does to the half-open table (entries created,
//! promoted to `conns`, removed as stale) but cannot count what the LRU evicts
//! to make room. The daemon samples those counters and the table's size once a
//! second; whatever left the table otherwise was evicted:
//! `evicted = Δnew - Δpromoted - Δstale - Δpresent`. Evictions mean the
//! half-open table is full (a CPU's share of it): a flood. Established
//! connections are never evicted by it; what a flood can cost is a legitimate
//! handshake whose SYN was evicted before its ACK (the ACK is then scheduled as
//! a new flow: with `mh`/`sh` to the same real server).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds without an eviction before a flood is declared over.
pub const QUIET_SECS: u64 = 10;

/// One sample of the data plane's counters and the half-open table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sample {
    /// `half_open_new`: half-open entries created (total).
    pub half_open_new: u64,
    /// `promoted`: entries moved to the connection table (total).
    pub promoted: u64,
    /// `half_open_stale`: half-open entries removed on lookup (total).
    pub half_open_stale: u64,
    /// Entries present in the half-open table now.
    pub half_open_present: u64,
}

/// A change of flood state, for one log line each.
#[derive(Debug, Clone, PartialEq)]
pub enum FloodEvent {
    /// The half-open table started evicting.
    Started {
        /// New half-open entries per second in the sample that saw it.
        new_per_sec: f64,
        /// Of which promoted (completed handshakes), per second.
        promoted_per_sec: f64,
        /// Evicted per second.
        evicted_per_sec: f64,
    },
    /// No eviction for [`QUIET_SECS`].
    Ended {
        /// How long it lasted (to the last eviction).
        lasted: Duration,
        /// Half-open entries created meanwhile.
        half_open_new: u64,
        /// Evicted meanwhile.
        evicted: u64,
        /// Promoted meanwhile.
        promoted: u64,
    },
}

impl std::fmt::Display for FloodEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FloodEvent::Started {
                new_per_sec,
                promoted_per_sec,
                evicted_per_sec,
            } => write!(
                f,
                "flood of new flows: the half-open table is full and evicting ({new_per_sec:.0} new/s, \
                 {promoted_per_sec:.0}/s completing their handshake, {evicted_per_sec:.0}/s evicted); \
                 established connections are kept in their own table"
            ),
            FloodEvent::Ended {
                lasted,
                half_open_new,
                evicted,
                promoted,
            } => write!(
                f,
                "flood of new flows over after {:.0} s: {half_open_new} half-open entries, \
                 {evicted} evicted, {promoted} completed their handshake",
                lasted.as_secs_f64()
            ),
        }
    }
}

/// The flood state and its figures, as `vipd status` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct FloodStatus {
    /// A flood is going on.
    pub flood: bool,
    /// Half-open entries created per second (last sample).
    pub half_open_new_per_sec: f64,
    /// Entries promoted per second (last sample).
    pub promoted_per_sec: f64,
    /// Half-open entries evicted per second (last sample).
    pub evicted_per_sec: f64,
    /// Half-open entries evicted since the daemon started.
    pub evicted_total: u64,
}

/// Watches samples; says when a flood starts and ends.
#[derive(Debug, Clone, Default)]
pub struct FloodWatch {
    last: Option<(Duration, Sample)>,
    status: FloodStatus,
    /// Since when, the last eviction, and the counters at the start.
    flood: Option<(Duration, Duration, Sample, u64)>,
}

impl FloodWatch {
    /// A watch with no sample yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The figures of the last sample.
    pub fn status(&self) -> FloodStatus {
        self.status
    }

    /// Takes a sample at `now` (any monotonic clock).
    pub fn observe(&mut self, now: Duration, s: Sample) -> Option<FloodEvent> {
        let (then, prev) = self.last.replace((now, s))?;
        let secs = now.saturating_sub(then).as_secs_f64();
        // Counters only grow; a restart of the data plane resets them: start over.
        if s.half_open_new < prev.half_open_new || s.promoted < prev.promoted || secs <= 0.0 {
            return None;
        }
        let new = s.half_open_new - prev.half_open_new;
        let promoted = s.promoted - prev.promoted;
        let stale = s.half_open_stale.saturating_sub(prev.half_open_stale);
        let left = (prev.half_open_present + new).saturating_sub(s.half_open_present);
        let evicted = left.saturating_sub(promoted + stale);
        self.status.half_open_new_per_sec = new as f64 / secs;
        self.status.promoted_per_sec = promoted as f64 / secs;
        self.status.evicted_per_sec = evicted as f64 / secs;
        self.status.evicted_total += evicted;
        match &mut self.flood {
            None if evicted > 0 => {
                self.flood = Some((then, now, prev, self.status.evicted_total - evicted));
                self.status.flood = true;
                Some(FloodEvent::Started {
                    new_per_sec: self.status.half_open_new_per_sec,
                    promoted_per_sec: self.status.promoted_per_sec,
                    evicted_per_sec: self.status.evicted_per_sec,
                })
            }
            None => None,
            Some((_, last_eviction, _, _)) if evicted > 0 => {
                *last_eviction = now;
                None
            }
            Some((start, last_eviction, at_start, evicted_at_start)) => {
                if now.saturating_sub(*last_eviction) < Duration::from_secs(QUIET_SECS) {
                    return None;
                }
                let ev = FloodEvent::Ended {
                    lasted: last_eviction.saturating_sub(*start),
                    half_open_new: s.half_open_new - at_start.half_open_new,
                    evicted: self.status.evicted_total - *evicted_at_start,
                    promoted: s.promoted - at_start.promoted,
                };
                self.flood = None;
                self.status.flood = false;
                Some(ev)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_table_with_room_is_no_flood() {
        let mut w = FloodWatch::new();
        assert_eq!(w.observe(at(0), Sample::default()), None);
        // 100 new, 90 promoted, 10 still half-open: nothing evicted.
        let s = Sample {
            half_open_new: 100,
            promoted: 90,
            half_open_stale: 0,
            half_open_present: 10,
        };
        assert_eq!(w.observe(at(1), s), None);
        let st = w.status();
        assert!(!st.flood);
        assert_eq!(
            (st.half_open_new_per_sec, st.promoted_per_sec),
            (100.0, 90.0)
        );
        assert_eq!(st.evicted_total, 0);
    }

    #[test]
    fn evictions_start_a_flood_and_quiet_ends_it() {
        let mut w = FloodWatch::new();
        let full = 1000;
        w.observe(
            at(0),
            Sample {
                half_open_present: full,
                ..Sample::default()
            },
        );
        // 50,000 SYNs in a second into a full table of 1,000; 2 complete.
        let mut s = Sample {
            half_open_new: 50_000,
            promoted: 2,
            half_open_stale: 0,
            half_open_present: full,
        };
        let ev = w.observe(at(1), s).expect("flood starts");
        assert_eq!(
            ev,
            FloodEvent::Started {
                new_per_sec: 50_000.0,
                promoted_per_sec: 2.0,
                evicted_per_sec: 49_998.0
            }
        );
        assert!(ev.to_string().contains("established connections are kept"));
        assert!(w.status().flood);
        // It goes on for 4 more seconds.
        for t in 2..=5 {
            s.half_open_new += 50_000;
            assert_eq!(w.observe(at(t), s), None);
        }
        // Then stops: entries age out as stale, nothing is evicted.
        for t in 6..15 {
            assert_eq!(w.observe(at(t), s), None, "second {t}");
        }
        let ev = w.observe(at(15), s).expect("over after 10 quiet seconds");
        assert_eq!(
            ev,
            FloodEvent::Ended {
                lasted: at(5),
                half_open_new: 250_000,
                evicted: 249_998,
                promoted: 2
            }
        );
        assert!(!w.status().flood);
        assert_eq!(w.status().evicted_total, 249_998);
    }

    #[test]
    fn stale_and_promoted_entries_are_not_evictions() {
        let mut w = FloodWatch::new();
        w.observe(
            at(0),
            Sample {
                half_open_present: 500,
                ..Sample::default()
            },
        );
        let s = Sample {
            half_open_new: 100,
            promoted: 50,
            half_open_stale: 550,
            half_open_present: 0,
        };
        assert_eq!(w.observe(at(1), s), None);
        assert_eq!(w.status().evicted_total, 0);
    }

    #[test]
    fn counters_going_back_restart_the_watch() {
        let mut w = FloodWatch::new();
        w.observe(
            at(0),
            Sample {
                half_open_new: 1_000_000,
                ..Sample::default()
            },
        );
        assert_eq!(w.observe(at(1), Sample::default()), None);
        assert_eq!(w.status().evicted_total, 0);
    }
}
