//! Named timers of a VRRP instance in a small table; the earliest deadline drives
//! the IO loop (`poll_timeout`).

use std::time::Instant;

/// The timers an instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// MASTER: time to send the next advert (RFC 3768 §6.2 Adver_Timer).
    Advert,
    /// BACKUP: no advert from a master until then means it is down (RFC 3768 §6.2
    /// Master_Down_Timer).
    MasterDown,
    /// BACKUP with `preempt_delay`: when the delay after first seeing a
    /// lower-priority master ends, preempt it.
    PreemptDelay,
    /// MASTER: the second burst of gratuitous ARP (`garp_master_delay`).
    GarpDelay,
    /// MASTER: periodic gratuitous ARP (`garp_master_refresh`).
    GarpRefresh,
}

impl Timer {
    const ALL: [Timer; 5] = [
        Timer::Advert,
        Timer::MasterDown,
        Timer::PreemptDelay,
        Timer::GarpDelay,
        Timer::GarpRefresh,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of the named timers.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 5],
}

impl TimerTable {
    /// Arms (or re-arms) `timer` for `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 5];
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarms and returns the first timer (in declaration order) that is due at
    /// `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .find(|t| self.get(*t).is_some_and(|at| at <= now))?;
        self.stop(timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_and_expiry() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next_deadline(), None);
        table.set(Timer::GarpDelay, t0 + Duration::from_secs(5));
        table.set(Timer::Advert, t0 + Duration::from_secs(1));
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        assert_eq!(
            table.pop_expired(t0 + Duration::from_secs(1)),
            Some(Timer::Advert)
        );
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(1)), None);
        assert!(table.is_armed(Timer::GarpDelay));
    }
}
