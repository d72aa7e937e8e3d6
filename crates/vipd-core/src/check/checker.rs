//! One checker's verdict: a sans-IO state machine driven by probe outcomes and the
//! caller's clock.
//!
//! The caller asks [`Checker::poll_timeout`] when the next probe is due, runs the
//! probe (IO, in `vipd::probe`) when [`Checker::begin`] says so, and feeds the
//! result to [`Checker::finish`], which returns a [`Verdict`] and schedules the
//! next probe. Nothing here reads a clock: `now` is a [`Duration`] since an epoch
//! the caller chooses (the daemon's start).
//!
//! The rules are keepalived 2.2's (`check_tcp.c`'s `tcp_epilog` and its siblings):
//!
//! - A checker starts up, or down under `alpha`. Before its first result one
//!   failure is enough to take it down; under `alpha` the first success brings it up.
//! - A healthy checker that fails is retried `retry` times, `delay_before_retry`
//!   apart, and goes down on the `retry + 1`-th consecutive failure. Any success
//!   resets the count.
//! - Otherwise the next probe is `delay_loop` after the previous result.
//! - The first probe runs at a random point of `[0, warmup]` after start.

use std::time::Duration;

use super::spec::CheckTiming;

/// The result of one probe, as the IO side reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Did the probe pass?
    pub ok: bool,
    /// What happened, for logs and `vipd status` (e.g. "connection refused").
    pub detail: String,
    /// A new weight for the real server (`MISC_CHECK` with `misc_dynamic`).
    pub weight: Option<u32>,
}

impl Outcome {
    /// A passing probe.
    pub fn pass() -> Self {
        Outcome {
            ok: true,
            detail: String::new(),
            weight: None,
        }
    }

    /// A passing probe with a detail (e.g. the HTTP status).
    pub fn pass_with(detail: impl Into<String>) -> Self {
        Outcome {
            ok: true,
            detail: detail.into(),
            weight: None,
        }
    }

    /// A failed probe and why.
    pub fn fail(detail: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            detail: detail.into(),
            weight: None,
        }
    }

    /// Judge a `MISC_CHECK` program's end, as keepalived's `check_misc.c` does:
    /// exit 0 passes; with `misc_dynamic`, exit 2..=255 passes and sets the weight
    /// to `status - 2`; anything else (exit 1, other codes, killed by a signal or by
    /// the timeout, `exit == None`) fails.
    pub fn from_misc_exit(exit: Option<i32>, dynamic: bool, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match exit {
            Some(0) => Outcome {
                ok: true,
                detail,
                weight: None,
            },
            Some(code @ 2..=255) if dynamic => Outcome {
                ok: true,
                detail,
                weight: Some(code as u32 - 2),
            },
            _ => Outcome {
                ok: false,
                detail,
                weight: None,
            },
        }
    }
}

/// What one result did to a checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed: a healthy checker passed, or a failed one failed again.
    Steady,
    /// The very first result confirmed the initial state: an `alpha` checker
    /// failed (keepalived runs the real server's `notify_down` for it), or a
    /// non-alpha checker passed.
    Confirmed {
        /// The state confirmed.
        up: bool,
    },
    /// A healthy checker failed; it stays up and is retried after
    /// `delay_before_retry`.
    Retrying {
        /// Consecutive failures so far beyond the first (1 ..= `retry`).
        attempt: u32,
        /// The configured `retry`.
        of: u32,
    },
    /// The checker went up.
    WentUp,
    /// The checker went down.
    WentDown {
        /// Failures that led to it (`retry + 1`, or 1 for a first probe).
        failures: u32,
    },
}

/// One checker's state.
#[derive(Debug, Clone)]
pub struct Checker {
    timing: CheckTiming,
    is_up: bool,
    has_run: bool,
    retry_it: u32,
    next_due: Option<Duration>,
    in_flight: bool,
    suspended: bool,
    last_detail: Option<String>,
}

impl Checker {
    /// A checker that has not started: up, or down under `alpha`.
    pub fn new(timing: CheckTiming) -> Self {
        let is_up = !timing.alpha;
        // keepalived sets retry_it = retry before the first run: one failure is
        // enough to decide the initial state.
        let retry_it = timing.retry;
        Checker {
            timing,
            is_up,
            has_run: false,
            retry_it,
            next_due: None,
            in_flight: false,
            suspended: false,
            last_detail: None,
        }
    }

    /// The timing this checker runs with.
    pub fn timing(&self) -> &CheckTiming {
        &self.timing
    }

    /// Arm the checker: the first probe is due `warmup * jitter` after `now`.
    /// `jitter` is a caller-supplied random number in `[0, 1]` (clamped).
    pub fn start(&mut self, now: Duration, jitter: f64) {
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.next_due = Some(now + self.timing.warmup.mul_f64(jitter));
    }

    /// Has [`Checker::start`] armed it?
    pub fn is_started(&self) -> bool {
        self.next_due.is_some()
    }

    /// A checker added by a reload to a healthy real server starts up even under
    /// `alpha` (keepalived's `migrate_checkers`); no effect once it has run.
    pub fn assume_up(&mut self) {
        if !self.has_run {
            self.is_up = true;
        }
    }

    /// Is the checker currently counted as passing?
    pub fn is_up(&self) -> bool {
        self.is_up
    }

    /// Has it produced at least one result?
    pub fn has_run(&self) -> bool {
        self.has_run
    }

    /// Is a probe running now?
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The detail of the last failed probe, if the last probe failed.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_detail.as_deref()
    }

    /// Is the checker paused (`ha_suspend` while not MASTER)?
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// When the next probe is due; `None` while a probe runs, while suspended, or
    /// before [`Checker::start`].
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.in_flight || self.suspended {
            None
        } else {
            self.next_due
        }
    }

    /// If a probe is due at `now`, mark it running and return true: the caller must
    /// then run it and report through [`Checker::finish`].
    pub fn begin(&mut self, now: Duration) -> bool {
        match self.poll_timeout() {
            Some(due) if due <= now => {
                self.in_flight = true;
                true
            }
            _ => false,
        }
    }

    /// Pause or resume probing. A resumed checker probes at once: the node just
    /// became MASTER and needs a fresh verdict. A probe already running when paused
    /// still reports.
    pub fn set_suspended(&mut self, suspended: bool, now: Duration) {
        if self.suspended && !suspended {
            if let Some(due) = self.next_due {
                self.next_due = Some(due.min(now));
            }
        }
        self.suspended = suspended;
    }

    /// Judge one probe result at `now` and schedule the next probe.
    pub fn finish(&mut self, now: Duration, outcome: &Outcome) -> Verdict {
        self.in_flight = false;
        self.last_detail = if outcome.ok {
            None
        } else {
            Some(outcome.detail.clone())
        };
        let first = !self.has_run;
        let mut delay = self.timing.delay_loop;
        let verdict;
        if outcome.ok || ((self.is_up || first) && self.retry_it >= self.timing.retry) {
            let failures = if first { 1 } else { self.retry_it + 1 };
            self.retry_it = 0;
            verdict = match (outcome.ok, self.is_up) {
                (true, false) => {
                    self.is_up = true;
                    Verdict::WentUp
                }
                (true, true) if first => Verdict::Confirmed { up: true },
                (true, true) => Verdict::Steady,
                (false, true) => {
                    self.is_up = false;
                    Verdict::WentDown { failures }
                }
                (false, false) if first => Verdict::Confirmed { up: false },
                (false, false) => Verdict::Steady,
            };
        } else if self.is_up {
            delay = self.timing.delay_before_retry;
            self.retry_it += 1;
            verdict = Verdict::Retrying {
                attempt: self.retry_it,
                of: self.timing.retry,
            };
        } else {
            verdict = Verdict::Steady;
        }
        self.has_run = true;
        self.next_due = Some(now + delay);
        verdict
    }

    /// Carry the judged state of `old` (same checker before a reload) into this
    /// one, as keepalived's `migrate_checkers` does: up/down and whether it has run
    /// are kept; retries already counted are kept, capped at the new `retry` so
    /// that when it is smaller the next failure decides.
    pub fn migrate_from(&mut self, old: &Checker) {
        if !old.has_run {
            return;
        }
        self.is_up = old.is_up;
        self.has_run = true;
        self.last_detail = old.last_detail.clone();
        self.retry_it = old.retry_it.min(self.timing.retry);
        // Keep the old rhythm rather than re-warming up.
        self.next_due = old.next_due;
        self.in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    /// The seed's TCP_CHECK: delay_loop 6, retry 3, delay_before_retry 3.
    fn seed_timing(alpha: bool) -> CheckTiming {
        CheckTiming {
            delay_loop: s(6),
            retry: 3,
            delay_before_retry: s(3),
            warmup: s(6),
            alpha,
        }
    }

    /// Run the checker like the daemon: whenever a probe is due, run it with the
    /// result `f(time)`. Returns (time, verdict) for every result.
    fn drive(
        c: &mut Checker,
        until: Duration,
        mut f: impl FnMut(Duration) -> bool,
    ) -> Vec<(u64, Verdict)> {
        let mut out = Vec::new();
        while let Some(due) = c.poll_timeout() {
            if due > until {
                break;
            }
            assert!(c.begin(due));
            let o = if f(due) {
                Outcome::pass()
            } else {
                Outcome::fail("refused")
            };
            out.push((due.as_secs(), c.finish(due, &o)));
        }
        out
    }

    #[test]
    fn starts_up_without_alpha_and_down_with_it() {
        assert!(Checker::new(seed_timing(false)).is_up());
        assert!(!Checker::new(seed_timing(true)).is_up());
    }

    #[test]
    fn not_due_before_start_and_warmup_spreads_first_probe() {
        let mut c = Checker::new(seed_timing(false));
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.begin(s(100)));
        c.start(s(10), 0.5);
        assert_eq!(c.poll_timeout(), Some(s(13)));
        assert!(!c.begin(s(12)));
        assert!(c.begin(s(13)));
        // While running nothing else is due.
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.begin(s(20)));
    }

    #[test]
    fn jitter_is_clamped() {
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 7.0);
        assert_eq!(c.poll_timeout(), Some(s(6)));
        c.start(s(0), f64::NAN);
        assert_eq!(c.poll_timeout(), Some(s(0)));
        c.start(s(0), -1.0);
        assert_eq!(c.poll_timeout(), Some(s(0)));
    }

    #[test]
    fn healthy_server_is_probed_every_delay_loop() {
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 0.0);
        let v = drive(&mut c, s(20), |_| true);
        assert_eq!(
            v,
            vec![
                (0, Verdict::Confirmed { up: true }),
                (6, Verdict::Steady),
                (12, Verdict::Steady),
                (18, Verdict::Steady),
            ]
        );
    }

    #[test]
    fn failure_of_a_healthy_server_is_retried_then_declared_down() {
        // The seed's numbers: dies at t=10; probes at 12 (fail), 15, 18, 21 ->
        // down at 21 = first failing probe + retry * delay_before_retry.
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 0.0);
        let v = drive(&mut c, s(40), |t| t < s(10));
        assert_eq!(
            v,
            vec![
                (0, Verdict::Confirmed { up: true }),
                (6, Verdict::Steady),
                (12, Verdict::Retrying { attempt: 1, of: 3 }),
                (15, Verdict::Retrying { attempt: 2, of: 3 }),
                (18, Verdict::Retrying { attempt: 3, of: 3 }),
                (21, Verdict::WentDown { failures: 4 }),
                (27, Verdict::Steady),
                (33, Verdict::Steady),
                (39, Verdict::Steady),
            ]
        );
        assert!(!c.is_up());
        assert_eq!(c.last_failure(), Some("refused"));
    }

    #[test]
    fn a_success_during_retries_resets_the_count() {
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 0.0);
        // fail at 6, 9; pass at 12; fail at 18, 21, 24, 27 -> down at 27.
        let v = drive(&mut c, s(28), |t| !matches!(t.as_secs(), 6 | 9 | 18..=27));
        assert_eq!(
            v,
            vec![
                (0, Verdict::Confirmed { up: true }),
                (6, Verdict::Retrying { attempt: 1, of: 3 }),
                (9, Verdict::Retrying { attempt: 2, of: 3 }),
                (12, Verdict::Steady),
                (18, Verdict::Retrying { attempt: 1, of: 3 }),
                (21, Verdict::Retrying { attempt: 2, of: 3 }),
                (24, Verdict::Retrying { attempt: 3, of: 3 }),
                (27, Verdict::WentDown { failures: 4 }),
            ]
        );
    }

    #[test]
    fn down_server_comes_back_on_first_success() {
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 0.0);
        // Dead from 1 to 30.
        let v = drive(&mut c, s(40), |t| !(s(1)..s(30)).contains(&t));
        let ups: Vec<_> = v
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::WentUp | Verdict::WentDown { .. }))
            .collect();
        assert_eq!(
            ups,
            vec![
                &(15, Verdict::WentDown { failures: 4 }),
                &(33, Verdict::WentUp)
            ]
        );
        // After coming back it is retried again before going down.
        let v = drive(&mut c, s(60), |_| false);
        assert_eq!(v[0], (45, Verdict::Retrying { attempt: 1, of: 3 }));
    }

    #[test]
    fn without_alpha_one_failure_of_the_first_probe_is_enough() {
        let mut c = Checker::new(seed_timing(false));
        c.start(s(0), 0.0);
        let v = drive(&mut c, s(7), |_| false);
        assert_eq!(
            v,
            vec![(0, Verdict::WentDown { failures: 1 }), (6, Verdict::Steady)]
        );
    }

    #[test]
    fn alpha_starts_down_until_first_success() {
        let mut c = Checker::new(seed_timing(true));
        c.start(s(0), 0.0);
        let v = drive(&mut c, s(13), |t| t >= s(10));
        assert_eq!(
            v,
            vec![
                (0, Verdict::Confirmed { up: false }),
                (6, Verdict::Steady),
                (12, Verdict::WentUp),
            ]
        );
        assert!(c.is_up());
    }

    #[test]
    fn alpha_server_that_never_passes_never_goes_up() {
        let mut c = Checker::new(seed_timing(true));
        c.start(s(0), 0.3);
        let v = drive(&mut c, s(600), |_| false);
        assert!(v.len() > 90);
        assert!(v
            .iter()
            .all(|(_, v)| matches!(v, Verdict::Steady | Verdict::Confirmed { up: false })));
        assert!(!c.is_up());
    }

    #[test]
    fn retry_zero_goes_down_on_first_failure() {
        let mut t = seed_timing(false);
        t.retry = 0;
        let mut c = Checker::new(t);
        c.start(s(0), 0.0);
        let v = drive(&mut c, s(13), |t| t < s(5));
        assert_eq!(v[1], (6, Verdict::WentDown { failures: 1 }));
    }

    #[test]
    fn suspended_checker_does_not_probe_and_resumes_at_once() {
        let mut c = Checker::new(seed_timing(true));
        c.set_suspended(true, s(0));
        c.start(s(0), 1.0);
        assert_eq!(c.poll_timeout(), None);
        assert!(!c.begin(s(100)));
        c.set_suspended(false, s(100));
        assert_eq!(c.poll_timeout(), Some(s(6)));
        assert!(c.begin(s(100)));
        assert_eq!(c.finish(s(100), &Outcome::pass()), Verdict::WentUp);
        // Resuming never postpones a probe that is already due earlier.
        c.set_suspended(true, s(101));
        c.set_suspended(false, s(103));
        assert_eq!(c.poll_timeout(), Some(s(103)));
    }

    #[test]
    fn misc_exit_codes() {
        let o = Outcome::from_misc_exit(Some(0), true, "");
        assert!(o.ok && o.weight.is_none());
        assert!(!Outcome::from_misc_exit(Some(1), true, "").ok);
        let o = Outcome::from_misc_exit(Some(7), true, "");
        assert!(o.ok);
        assert_eq!(o.weight, Some(5));
        let o = Outcome::from_misc_exit(Some(2), true, "");
        assert_eq!(o.weight, Some(0));
        assert_eq!(
            Outcome::from_misc_exit(Some(255), true, "").weight,
            Some(253)
        );
        // Without misc_dynamic, anything but 0 fails.
        assert!(!Outcome::from_misc_exit(Some(7), false, "").ok);
        // Killed (timeout or signal) fails.
        assert!(!Outcome::from_misc_exit(None, true, "").ok);
    }

    #[test]
    fn migration_keeps_state_and_bounds_retries() {
        let mut old = Checker::new(seed_timing(false));
        old.start(s(0), 0.0);
        drive(&mut old, s(16), |t| t < s(10)); // two failures: retry_it = 2
        let mut t = seed_timing(false);
        t.retry = 1;
        let mut new = Checker::new(t);
        new.migrate_from(&old);
        assert!(new.is_up() && new.has_run());
        // retry 1: already at the limit, so the next failure takes it down.
        assert!(new.begin(s(18)));
        assert!(matches!(
            new.finish(s(18), &Outcome::fail("x")),
            Verdict::WentDown { .. }
        ));
        // An alpha checker that has not run migrates nothing.
        let fresh = Checker::new(seed_timing(true));
        let mut new = Checker::new(seed_timing(true));
        new.migrate_from(&fresh);
        assert!(!new.is_up() && !new.has_run());
    }
}
