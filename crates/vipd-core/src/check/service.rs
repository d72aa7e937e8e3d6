//! The health of one virtual service: its real servers' checkers combined into a
//! desired table (which real servers, with which weights) plus the actions that
//! keepalived would take (notify scripts, quorum changes, sorry server).
//!
//! Sans-IO like [`Checker`]: the driver asks [`ServiceHealth::poll_timeout`] when to
//! wake up, takes [`ServiceHealth::due_probes`], runs them concurrently, reports
//! each result with [`ServiceHealth::handle_outcome`], logs and executes the
//! returned [`Event`]s, and applies [`ServiceHealth::plan`] to the data plane
//! whenever it changed.
//!
//! keepalived 2.2 semantics (`ipwrapper.c`):
//! - a real server is alive while all its checkers are up; one with no checker is
//!   always alive;
//! - alive real servers are in the table with their (possibly `misc_dynamic`)
//!   weight; a failed one is removed, or kept with weight 0 under
//!   `inhibit_on_failure`;
//! - quorum: the sum of the live weights must reach `quorum + hysteresis` to gain
//!   quorum and falls below `quorum - hysteresis` (or to 0) to lose it;
//! - while quorum is lost and a `sorry_server` exists, the table holds only the
//!   sorry server (live real servers are taken out until quorum returns);
//! - `ha_suspend`: checkers run only while the node is VRRP MASTER; a paused
//!   checker keeps its last verdict;
//! - `omega`: on shutdown the `notify_down` of live real servers and the
//!   service's `quorum_down` run.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::checker::{Checker, Outcome, Verdict};
use super::spec::{CheckerSpec, RealSpec, ServiceSpec, SorrySpec};

/// Names one checker of one real server of a service: indexes into
/// [`ServiceSpec::reals`] and [`RealSpec::checkers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId {
    /// Index of the real server.
    pub real: usize,
    /// Index of the checker within the real server.
    pub checker: usize,
}

/// One entry of the desired table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedReal {
    /// The real (or sorry) server.
    pub addr: SocketAddr,
    /// Its weight; 0 means "in the table, but no new connections"
    /// (`inhibit_on_failure`, or a `misc_dynamic` weight of 0).
    pub weight: u32,
    /// Is this the sorry server?
    pub sorry: bool,
}

/// The desired table of one service: what the data plane must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    /// Entries, in configuration order, sorry server last.
    pub reals: Vec<PlannedReal>,
    /// Does the service have quorum?
    pub quorum_up: bool,
}

impl ServicePlan {
    /// The entries that get new connections (weight > 0).
    pub fn active(&self) -> impl Iterator<Item = &PlannedReal> {
        self.reals.iter().filter(|r| r.weight > 0)
    }
}

/// Something that happened, for one log line and possibly a program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A real server came up (all its checkers pass).
    RealUp {
        /// Service name.
        service: String,
        /// The real server.
        real: SocketAddr,
        /// The checker whose success completed it, e.g. `TCP_CHECK`.
        checker: Option<&'static str>,
        /// `notify_up` program to run.
        notify: Option<String>,
    },
    /// A real server went down, or (`initial`) was found down by its first check
    /// under `alpha`.
    RealDown {
        /// Service name.
        service: String,
        /// The real server.
        real: SocketAddr,
        /// Why, e.g. `TCP_CHECK failed after 3 retries: connection refused`.
        reason: String,
        /// First verdict of a real server that started down (`alpha`).
        initial: bool,
        /// `notify_down` program to run.
        notify: Option<String>,
    },
    /// A healthy real server failed a check and will be retried.
    CheckFailing {
        /// Service name.
        service: String,
        /// The real server.
        real: SocketAddr,
        /// The checker, e.g. `HTTP_GET`.
        checker: &'static str,
        /// Retry number (1 ..= `of`).
        attempt: u32,
        /// The configured `retry`.
        of: u32,
        /// What the probe saw.
        reason: String,
    },
    /// A `misc_dynamic` check changed a real server's weight.
    WeightChanged {
        /// Service name.
        service: String,
        /// The real server.
        real: SocketAddr,
        /// Old weight.
        from: u32,
        /// New weight.
        to: u32,
    },
    /// The live weight reached the quorum.
    QuorumGained {
        /// Service name.
        service: String,
        /// Sum of live weights.
        weight: u64,
        /// The threshold crossed (`quorum + hysteresis`).
        threshold: u64,
        /// The sorry server taken out of the table, if one was in.
        sorry_removed: Option<SocketAddr>,
        /// `quorum_up` program to run.
        notify: Option<String>,
    },
    /// The live weight fell below the quorum (or the service started without it).
    QuorumLost {
        /// Service name.
        service: String,
        /// Sum of live weights.
        weight: u64,
        /// The threshold (`quorum - hysteresis`).
        threshold: u64,
        /// At start or shutdown rather than by a change.
        initial: bool,
        /// The sorry server put into the table, if any.
        sorry_added: Option<SocketAddr>,
        /// `quorum_down` program to run.
        notify: Option<String>,
    },
    /// Checks paused (`ha_suspend`, node not MASTER).
    ChecksSuspended {
        /// Service name.
        service: String,
    },
    /// Checks resumed (node became MASTER).
    ChecksResumed {
        /// Service name.
        service: String,
    },
}

impl Event {
    /// The program the event asks to run (`notify_up`, `notify_down`,
    /// `quorum_up`, `quorum_down`), if any.
    pub fn script(&self) -> Option<&str> {
        match self {
            Event::RealUp { notify, .. }
            | Event::RealDown { notify, .. }
            | Event::QuorumGained { notify, .. }
            | Event::QuorumLost { notify, .. } => notify.as_deref(),
            _ => None,
        }
    }

    /// Does the event change what the data plane must hold?
    pub fn changes_plan(&self) -> bool {
        matches!(
            self,
            Event::RealUp { .. }
                | Event::RealDown { initial: false, .. }
                | Event::WeightChanged { .. }
                | Event::QuorumGained { .. }
                | Event::QuorumLost { .. }
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::RealUp {
                service,
                real,
                checker,
                ..
            } => {
                write!(f, "{service}: real server {real} is up")?;
                if let Some(c) = checker {
                    write!(f, " ({c} succeeded)")?;
                }
                Ok(())
            }
            Event::RealDown {
                service,
                real,
                reason,
                initial,
                ..
            } => {
                if *initial {
                    write!(f, "{service}: real server {real} stays down: {reason}")
                } else {
                    write!(f, "{service}: real server {real} is down: {reason}")
                }
            }
            Event::CheckFailing {
                service,
                real,
                checker,
                attempt,
                of,
                reason,
            } => write!(
                f,
                "{service}: {checker} of real server {real} failed ({reason}); retry {attempt} of {of}"
            ),
            Event::WeightChanged {
                service,
                real,
                from,
                to,
            } => write!(
                f,
                "{service}: weight of real server {real} changed from {from} to {to}"
            ),
            Event::QuorumGained {
                service,
                weight,
                threshold,
                sorry_removed,
                ..
            } => {
                write!(
                    f,
                    "{service}: gained quorum (live weight {weight} >= {threshold})"
                )?;
                if let Some(s) = sorry_removed {
                    write!(f, "; sorry server {s} removed")?;
                }
                Ok(())
            }
            Event::QuorumLost {
                service,
                weight,
                threshold,
                initial,
                sorry_added,
                ..
            } => {
                if *initial {
                    write!(f, "{service}: quorum down (live weight {weight})")?;
                } else {
                    write!(
                        f,
                        "{service}: lost quorum (live weight {weight} < {threshold})"
                    )?;
                }
                if let Some(s) = sorry_added {
                    write!(f, "; sorry server {s} added")?;
                }
                Ok(())
            }
            Event::ChecksSuspended { service } => {
                write!(f, "{service}: checks suspended (not MASTER, ha_suspend)")
            }
            Event::ChecksResumed { service } => {
                write!(f, "{service}: checks resumed (MASTER, ha_suspend)")
            }
        }
    }
}

/// One checker's state, for `vipd status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckerStatus {
    /// keepalived's name, e.g. `TCP_CHECK`.
    pub kind: &'static str,
    /// Address probed.
    pub target: SocketAddr,
    /// Counted as passing?
    pub up: bool,
    /// Has it produced a result yet?
    pub has_run: bool,
    /// Why the last probe failed, if it did.
    pub last_failure: Option<String>,
}

/// One real server's state, for `vipd status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealStatus {
    /// The real server.
    pub addr: SocketAddr,
    /// All checkers pass?
    pub alive: bool,
    /// Configured weight.
    pub configured_weight: u32,
    /// Current weight (after `misc_dynamic`).
    pub weight: u32,
    /// Its checkers.
    pub checkers: Vec<CheckerStatus>,
}

/// One service's state, for `vipd status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Has quorum?
    pub quorum_up: bool,
    /// Sum of live weights.
    pub live_weight: u64,
    /// The sorry server is in use?
    pub sorry_active: bool,
    /// Checks paused by `ha_suspend`?
    pub suspended: bool,
    /// Its real servers.
    pub reals: Vec<RealStatus>,
}

#[derive(Debug, Clone)]
struct RealState {
    spec: RealSpec,
    checkers: Vec<Checker>,
    alive: bool,
    weight: u32,
    /// The first verdict has been reported (alpha's initial notify_down).
    reported: bool,
}

impl RealState {
    fn new(spec: RealSpec) -> Self {
        let checkers: Vec<Checker> = spec
            .checkers
            .iter()
            .map(|c| Checker::new(c.timing.clone()))
            .collect();
        let alive = checkers.iter().all(Checker::is_up);
        RealState {
            weight: spec.weight,
            spec,
            checkers,
            alive,
            reported: false,
        }
    }

    fn all_up(&self) -> bool {
        self.checkers.iter().all(Checker::is_up)
    }
}

/// The health state of one virtual service. See the module docs.
#[derive(Debug, Clone)]
pub struct ServiceHealth {
    spec: ServiceSpec,
    quorum: u64,
    hysteresis: u64,
    reals: Vec<RealState>,
    quorum_up: bool,
    sorry_active: bool,
    suspended: bool,
    rng: SplitMix64,
}

impl ServiceHealth {
    /// Initial state for `spec`: reals without `alpha` checkers alive, the rest
    /// down; checks paused if the service has `ha_suspend` (until
    /// [`ServiceHealth::set_master`]). Call [`ServiceHealth::start`] next.
    ///
    /// As keepalived, a `quorum` above the total configured weight is lowered to
    /// it, and `hysteresis` is kept below `quorum`.
    pub fn new(spec: ServiceSpec) -> Self {
        let total: u64 = spec.reals.iter().map(|r| u64::from(r.weight)).sum();
        let quorum = u64::from(spec.quorum.max(1)).min(total);
        let hysteresis = u64::from(spec.hysteresis).min(quorum.saturating_sub(1));
        let reals: Vec<RealState> = spec.reals.iter().cloned().map(RealState::new).collect();
        let suspended = spec.ha_suspend;
        let mut s = ServiceHealth {
            spec,
            quorum,
            hysteresis,
            reals,
            quorum_up: false,
            sorry_active: false,
            suspended,
            rng: SplitMix64(0),
        };
        s.quorum_up = s.live_weight() >= s.quorum + s.hysteresis;
        for r in &mut s.reals {
            for c in &mut r.checkers {
                c.set_suspended(suspended, Duration::ZERO);
            }
        }
        s
    }

    /// The service's specification.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// Arm every checker (first probes spread over their `warmup` using `seed`)
    /// and settle the initial quorum: a service that starts without quorum puts
    /// its sorry server in at once. An `ha_suspend` service says it starts
    /// suspended.
    pub fn start(&mut self, now: Duration, seed: u64) -> Vec<Event> {
        self.rng = SplitMix64(seed);
        for r in &mut self.reals {
            for c in &mut r.checkers {
                c.start(now, self.rng.next_f64());
            }
        }
        let mut events = Vec::new();
        if self.suspended {
            events.push(Event::ChecksSuspended {
                service: self.spec.name.clone(),
            });
        }
        self.update_quorum(true, &mut events);
        events
    }

    /// The earliest moment a probe is due (none while suspended or all probes run).
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.reals
            .iter()
            .flat_map(|r| r.checkers.iter())
            .filter_map(Checker::poll_timeout)
            .min()
    }

    /// The probes due at `now`, marked as running. Run each one (concurrently) and
    /// report it with [`ServiceHealth::handle_outcome`].
    pub fn due_probes(&mut self, now: Duration) -> Vec<ProbeId> {
        let mut due = Vec::new();
        for (ri, r) in self.reals.iter_mut().enumerate() {
            for (ci, c) in r.checkers.iter_mut().enumerate() {
                if c.begin(now) {
                    due.push(ProbeId {
                        real: ri,
                        checker: ci,
                    });
                }
            }
        }
        due
    }

    /// The specification of a probe, to run it. Panics on an id not from this
    /// service.
    pub fn checker_spec(&self, id: ProbeId) -> &CheckerSpec {
        &self.reals[id.real].spec.checkers[id.checker]
    }

    /// Judge one probe result. Results for unknown ids are ignored.
    pub fn handle_outcome(&mut self, now: Duration, id: ProbeId, outcome: &Outcome) -> Vec<Event> {
        let mut events = Vec::new();
        let service = self.spec.name.clone();
        let Some(real) = self.reals.get_mut(id.real) else {
            return events;
        };
        let Some(checker) = real.checkers.get_mut(id.checker) else {
            return events;
        };
        let kind = real.spec.checkers[id.checker].kind.keyword();
        let verdict = checker.finish(now, outcome);
        let mut changed = false;

        // keepalived applies a misc_dynamic weight before the state change.
        if let (true, Some(w)) = (outcome.ok, outcome.weight) {
            if w != real.weight {
                events.push(Event::WeightChanged {
                    service: service.clone(),
                    real: real.spec.addr,
                    from: real.weight,
                    to: w,
                });
                real.weight = w;
                changed = true;
            }
        }

        match verdict {
            Verdict::Steady | Verdict::Confirmed { up: true } => {}
            Verdict::Confirmed { up: false } => {
                if !real.alive && !real.reported {
                    events.push(Event::RealDown {
                        service: service.clone(),
                        real: real.spec.addr,
                        reason: format!("{kind} failed: {}", outcome.detail),
                        initial: true,
                        notify: real.spec.notify_down.clone(),
                    });
                }
            }
            Verdict::Retrying { attempt, of } => events.push(Event::CheckFailing {
                service: service.clone(),
                real: real.spec.addr,
                checker: kind,
                attempt,
                of,
                reason: outcome.detail.clone(),
            }),
            Verdict::WentDown { failures } => {
                if real.alive {
                    real.alive = false;
                    changed = true;
                    let reason = if failures > 1 {
                        format!(
                            "{kind} failed after {} retries: {}",
                            failures - 1,
                            outcome.detail
                        )
                    } else {
                        format!("{kind} failed: {}", outcome.detail)
                    };
                    events.push(Event::RealDown {
                        service: service.clone(),
                        real: real.spec.addr,
                        reason,
                        initial: false,
                        notify: real.spec.notify_down.clone(),
                    });
                }
            }
            Verdict::WentUp => {
                if !real.alive && real.all_up() {
                    real.alive = true;
                    changed = true;
                    events.push(Event::RealUp {
                        service: service.clone(),
                        real: real.spec.addr,
                        checker: Some(kind),
                        notify: real.spec.notify_up.clone(),
                    });
                }
            }
        }
        real.reported = true;
        if changed {
            self.update_quorum(false, &mut events);
        }
        events
    }

    /// ha_suspend: tell the service whether this node is VRRP MASTER. Without
    /// `ha_suspend` checks always run and this does nothing.
    pub fn set_master(&mut self, is_master: bool, now: Duration) -> Vec<Event> {
        if !self.spec.ha_suspend {
            return Vec::new();
        }
        self.set_suspended(!is_master, now)
    }

    /// Pause or resume all checks of the service.
    pub fn set_suspended(&mut self, suspended: bool, now: Duration) -> Vec<Event> {
        if suspended == self.suspended {
            return Vec::new();
        }
        self.suspended = suspended;
        for r in &mut self.reals {
            for c in &mut r.checkers {
                c.set_suspended(suspended, now);
            }
        }
        let service = self.spec.name.clone();
        vec![if suspended {
            Event::ChecksSuspended { service }
        } else {
            Event::ChecksResumed { service }
        }]
    }

    /// Are checks paused?
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// Does the service have quorum?
    pub fn quorum_up(&self) -> bool {
        self.quorum_up
    }

    /// Sum of the weights of live real servers.
    pub fn live_weight(&self) -> u64 {
        self.reals
            .iter()
            .filter(|r| r.alive)
            .map(|r| u64::from(r.weight))
            .sum()
    }

    /// The desired table.
    pub fn plan(&self) -> ServicePlan {
        let mut reals: Vec<PlannedReal> = Vec::new();
        for r in &self.reals {
            let weight = if self.sorry_active {
                // Quorum lost with a sorry server: live real servers are out.
                r.spec.inhibit_on_failure.then_some(0)
            } else if r.alive {
                Some(r.weight)
            } else {
                r.spec.inhibit_on_failure.then_some(0)
            };
            if let Some(weight) = weight {
                reals.push(PlannedReal {
                    addr: r.spec.addr,
                    weight,
                    sorry: false,
                });
            }
        }
        if let Some(sorry) = &self.spec.sorry_server {
            let weight = if self.sorry_active {
                Some(sorry.weight)
            } else {
                sorry.inhibit.then_some(0)
            };
            if let Some(weight) = weight {
                // A sorry server that is also a real server is one entry.
                if let Some(e) = reals.iter_mut().find(|e| e.addr == sorry.addr) {
                    e.weight = e.weight.max(weight);
                    e.sorry |= self.sorry_active;
                } else {
                    reals.push(PlannedReal {
                        addr: sorry.addr,
                        weight,
                        sorry: true,
                    });
                }
            }
        }
        ServicePlan {
            reals,
            quorum_up: self.quorum_up,
        }
    }

    /// The state of every real server and checker, for `vipd status`.
    pub fn status(&self) -> ServiceStatus {
        ServiceStatus {
            name: self.spec.name.clone(),
            quorum_up: self.quorum_up,
            live_weight: self.live_weight(),
            sorry_active: self.sorry_active,
            suspended: self.suspended,
            reals: self
                .reals
                .iter()
                .map(|r| RealStatus {
                    addr: r.spec.addr,
                    alive: r.alive,
                    configured_weight: r.spec.weight,
                    weight: r.weight,
                    checkers: r
                        .checkers
                        .iter()
                        .zip(&r.spec.checkers)
                        .map(|(c, s)| CheckerStatus {
                            kind: s.kind.keyword(),
                            target: s.connect.target,
                            up: c.is_up(),
                            has_run: c.has_run(),
                            last_failure: c.last_failure().map(str::to_owned),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Stop: under `omega`, the `notify_down` of every live real server and the
    /// service's `quorum_down` are due (keepalived runs them on the way out).
    /// Without `omega` nothing runs. The state is left as is.
    pub fn shutdown(&self) -> Vec<Event> {
        if !self.spec.omega {
            return Vec::new();
        }
        let service = &self.spec.name;
        let mut events: Vec<Event> = self
            .reals
            .iter()
            .filter(|r| r.alive)
            .map(|r| Event::RealDown {
                service: service.clone(),
                real: r.spec.addr,
                reason: "shutting down".into(),
                initial: false,
                notify: r.spec.notify_down.clone(),
            })
            .collect();
        events.push(Event::QuorumLost {
            service: service.clone(),
            weight: self.live_weight(),
            threshold: self.quorum.saturating_sub(self.hysteresis),
            initial: true,
            sorry_added: None,
            notify: self.spec.quorum_down.clone(),
        });
        events
    }

    /// Replace the specification (configuration reload) keeping what is known:
    /// real servers present in both keep their alive state, weight (unless the
    /// configured weight changed) and the state of every checker whose kind and
    /// target are unchanged, as keepalived's `migrate_checkers`. New checkers of a
    /// real server that has failures start down if `alpha`; on a healthy real
    /// server they start up. Removed live real servers run their `notify_down`.
    pub fn reload(&mut self, spec: ServiceSpec, now: Duration) -> Vec<Event> {
        let mut next = ServiceHealth::new(spec);
        next.rng = self.rng.clone();
        next.suspended = self.suspended;
        next.quorum_up = self.quorum_up;
        next.sorry_active = self.sorry_active && next.spec.sorry_server.is_some();
        let mut events = Vec::new();
        for old in &self.reals {
            if !next.reals.iter().any(|n| n.spec.addr == old.spec.addr) && old.alive {
                events.push(Event::RealDown {
                    service: next.spec.name.clone(),
                    real: old.spec.addr,
                    reason: "removed from the configuration".into(),
                    initial: false,
                    notify: old.spec.notify_down.clone(),
                });
            }
        }
        for new in &mut next.reals {
            let old = self.reals.iter().find(|o| o.spec.addr == new.spec.addr);
            let mut migrated = vec![false; new.checkers.len()];
            if let Some(old) = old {
                let mut used = vec![false; old.checkers.len()];
                for (ni, nc) in new.spec.checkers.iter().enumerate() {
                    let found = old.spec.checkers.iter().enumerate().find(|(oi, oc)| {
                        !used[*oi] && oc.kind == nc.kind && oc.connect == nc.connect
                    });
                    if let Some((oi, _)) = found {
                        used[oi] = true;
                        new.checkers[ni].migrate_from(&old.checkers[oi]);
                        migrated[ni] = old.checkers[oi].has_run();
                    }
                }
                if new.spec.weight == old.spec.weight {
                    new.weight = old.weight;
                }
                new.reported = old.reported;
                let failed = new.checkers.iter().any(|c| c.has_run() && !c.is_up());
                let any_run = new.checkers.iter().any(Checker::has_run);
                let pessimistic = failed || (!old.alive && !any_run);
                for (c, m) in new.checkers.iter_mut().zip(&migrated) {
                    if !m && !pessimistic {
                        c.assume_up();
                    }
                }
                new.alive = new.all_up();
            }
            for c in &mut new.checkers {
                if !c.is_started() {
                    c.start(now, next.rng.next_f64());
                }
                c.set_suspended(next.suspended, now);
            }
        }
        next.update_quorum(false, &mut events);
        *self = next;
        events
    }

    fn update_quorum(&mut self, init: bool, events: &mut Vec<Event>) {
        let weight = self.live_weight();
        let threshold = if self.quorum_up {
            self.quorum.saturating_sub(self.hysteresis)
        } else {
            self.quorum + self.hysteresis
        };
        let service = self.spec.name.clone();
        let sorry: Option<&SorrySpec> = self.spec.sorry_server.as_ref();
        if !self.quorum_up && weight >= threshold {
            self.quorum_up = true;
            let sorry_removed = if self.sorry_active {
                self.sorry_active = false;
                sorry.map(|s| s.addr)
            } else {
                None
            };
            events.push(Event::QuorumGained {
                service,
                weight,
                threshold,
                sorry_removed,
                notify: self.spec.quorum_up.clone(),
            });
        } else if (self.quorum_up && (weight == 0 || weight < threshold))
            || (init && !self.quorum_up && sorry.is_some() && !self.sorry_active)
        {
            self.quorum_up = false;
            let sorry_added = match sorry {
                Some(s) if !self.sorry_active => {
                    self.sorry_active = true;
                    Some(s.addr)
                }
                _ => None,
            };
            events.push(Event::QuorumLost {
                service,
                weight,
                threshold,
                initial: init,
                sorry_added,
                notify: self.spec.quorum_down.clone(),
            });
        }
    }
}

/// A tiny deterministic generator for warmup jitter (SplitMix64): vipd-core takes
/// no randomness from the system; the caller seeds it.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::spec::{CheckKind, CheckTiming, ConnectSpec, MiscSpec};

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn rip(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 253, 26, n], 80))
    }

    fn tcp(addr: SocketAddr, alpha: bool) -> CheckerSpec {
        CheckerSpec {
            kind: CheckKind::Tcp,
            connect: ConnectSpec {
                connect_timeout: s(3),
                ..ConnectSpec::to(addr)
            },
            timing: CheckTiming {
                delay_loop: s(6),
                retry: 3,
                delay_before_retry: s(3),
                warmup: s(6),
                alpha,
            },
        }
    }

    fn misc(addr: SocketAddr) -> CheckerSpec {
        CheckerSpec {
            kind: CheckKind::Misc(MiscSpec {
                path: "/bin/true".into(),
                timeout: None,
                dynamic: true,
                user: None,
                shell: false,
            }),
            connect: ConnectSpec::to(addr),
            timing: CheckTiming {
                retry: 0,
                ..CheckTiming::keepalived_default(s(5))
            },
        }
    }

    /// The seed's virtual server: three reals, TCP_CHECK, alpha.
    fn seed(alpha: bool) -> ServiceSpec {
        let reals = (1..=3)
            .map(|n| {
                let mut r = RealSpec::new(rip(n));
                r.checkers.push(tcp(rip(n), alpha));
                r.notify_up = Some(format!("/bin/up rs{n}"));
                r.notify_down = Some(format!("/bin/down rs{n}"));
                r
            })
            .collect();
        ServiceSpec::new("10.253.85.250:80/TCP", reals)
    }

    /// Drive a service until `until`: every due probe runs and takes `latency`
    /// (of the probe id and its start time) to produce `health(id, start)`.
    /// Returns (result time, event) pairs.
    fn simulate(
        svc: &mut ServiceHealth,
        until: Duration,
        mut health: impl FnMut(ProbeId, Duration) -> Outcome,
        mut latency: impl FnMut(ProbeId, Duration, &Outcome) -> Duration,
    ) -> Vec<(Duration, Event)> {
        let mut pending: Vec<(Duration, ProbeId, Outcome)> = Vec::new();
        let mut log = Vec::new();
        loop {
            let next_probe = svc.poll_timeout();
            let next_result = pending.iter().map(|p| p.0).min();
            let now = match (next_probe, next_result) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if now > until {
                break;
            }
            // Results first, then new probes at the same instant.
            pending.sort_by_key(|p| p.0);
            while let Some(pos) = pending.iter().position(|p| p.0 == now) {
                let (t, id, o) = pending.remove(pos);
                for e in svc.handle_outcome(t, id, &o) {
                    log.push((t, e));
                }
            }
            for id in svc.due_probes(now) {
                let o = health(id, now);
                let done = now + latency(id, now, &o);
                pending.push((done, id, o));
            }
        }
        log
    }

    fn instant(_: ProbeId, _: Duration, _: &Outcome) -> Duration {
        Duration::ZERO
    }

    fn up_down(log: &[(Duration, Event)]) -> Vec<(u64, String)> {
        log.iter()
            .filter(|(_, e)| matches!(e, Event::RealUp { .. } | Event::RealDown { .. }))
            .map(|(t, e)| (t.as_secs(), e.to_string()))
            .collect()
    }

    fn weights(plan: &ServicePlan) -> Vec<(SocketAddr, u32)> {
        plan.reals.iter().map(|r| (r.addr, r.weight)).collect()
    }

    #[test]
    fn alpha_reals_enter_the_table_only_after_their_first_success() {
        let mut svc = ServiceHealth::new(seed(true));
        assert!(svc.start(s(0), 1).is_empty());
        assert!(svc.plan().reals.is_empty());
        assert!(!svc.quorum_up());
        let log = simulate(
            &mut svc,
            s(30),
            |id, _| {
                if id.real == 1 {
                    Outcome::fail("connection refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        // rs2 never passes: one initial notify_down, never in the table.
        let downs: Vec<_> = log
            .iter()
            .filter(|(_, e)| matches!(e, Event::RealDown { .. }))
            .collect();
        assert_eq!(downs.len(), 1);
        assert_eq!(downs[0].1.script(), Some("/bin/down rs2"));
        assert!(matches!(downs[0].1, Event::RealDown { initial: true, .. }));
        assert!(!downs[0].1.changes_plan());
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 1), (rip(3), 1)]);
        assert!(svc.quorum_up());
        // Quorum was gained on the first real server up, with no script set.
        assert!(log
            .iter()
            .any(|(_, e)| matches!(e, Event::QuorumGained { weight: 1, .. })));
    }

    #[test]
    fn seed_failure_timing_down_within_connect_timeout_plus_retries() {
        // rs2's server stops at t=100 s. Failed probes take connect_timeout (3 s,
        // a SYN into the void); passing ones are instant. The bound from the
        // spec: connect_timeout + retry x delay_before_retry (+ one delay_loop).
        let mut svc = ServiceHealth::new(seed(true));
        svc.start(s(0), 7);
        let dead = |id: ProbeId, t: Duration| id.real == 1 && (s(100)..s(200)).contains(&t);
        let log = simulate(
            &mut svc,
            s(260),
            |id, t| {
                if dead(id, t) {
                    Outcome::fail("timeout")
                } else {
                    Outcome::pass()
                }
            },
            |_, _, o| if o.ok { Duration::ZERO } else { s(3) },
        );
        let rs2: Vec<_> = up_down(&log)
            .into_iter()
            .filter(|(_, l)| l.contains(&rip(2).to_string()))
            .collect();
        assert_eq!(rs2.len(), 3, "{rs2:?}");
        let went_down = rs2[1].0;
        let bound = 100 + 6 + (3 + 3 * (3 + 3));
        assert!(
            (100..=bound).contains(&went_down),
            "down at {went_down}, bound {bound}"
        );
        assert!(
            rs2[1].1.contains("failed after 3 retries: timeout"),
            "{rs2:?}"
        );
        // Retries were announced as they happened, 3 of them.
        let retries = log
            .iter()
            .filter(|(_, e)| matches!(e, Event::CheckFailing { .. }))
            .count();
        assert_eq!(retries, 3);
        // Back within one delay_loop after it recovers.
        let came_back = rs2[2].0;
        assert!((200..=206).contains(&came_back), "up at {came_back}");
        assert_eq!(svc.plan().reals.len(), 3);
    }

    #[test]
    fn several_checkers_all_must_pass() {
        let mut spec = seed(false);
        spec.reals.truncate(1);
        let mut other = tcp(SocketAddr::from(([10, 253, 26, 1], 8080)), false);
        other.timing.retry = 0;
        spec.reals[0].checkers.push(other);
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 3);
        // Second checker fails between 20 and 40.
        let log = simulate(
            &mut svc,
            s(60),
            |id, t| {
                if id.checker == 1 && (s(20)..s(40)).contains(&t) {
                    Outcome::fail("refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        let ud = up_down(&log);
        assert_eq!(ud.len(), 2, "{ud:?}");
        assert!(ud[0].1.contains("is down") && ud[0].0 >= 20 && ud[0].0 < 26);
        assert!(ud[1].1.contains("is up") && ud[1].0 >= 40 && ud[1].0 < 46);

        // While one checker is down, the other coming up does not revive it.
        let mut spec = seed(true);
        spec.reals.truncate(1);
        spec.reals[0]
            .checkers
            .push(tcp(SocketAddr::from(([10, 253, 26, 1], 8080)), true));
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 0);
        let t = s(10);
        let ev = svc.handle_outcome(
            t,
            ProbeId {
                real: 0,
                checker: 0,
            },
            &Outcome::pass(),
        );
        assert!(ev.is_empty(), "{ev:?}");
        assert!(svc.plan().reals.is_empty());
        let ev = svc.handle_outcome(
            t,
            ProbeId {
                real: 0,
                checker: 1,
            },
            &Outcome::pass(),
        );
        assert!(matches!(ev[0], Event::RealUp { .. }));
        assert_eq!(svc.plan().reals.len(), 1);
    }

    #[test]
    fn a_real_without_checkers_is_always_up() {
        let spec = ServiceSpec::new("vs", vec![RealSpec::new(rip(1))]);
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 0);
        assert_eq!(svc.poll_timeout(), None);
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 1)]);
        assert!(svc.quorum_up());
    }

    #[test]
    fn inhibit_on_failure_keeps_weight_zero() {
        let mut spec = seed(false);
        for r in &mut spec.reals {
            r.inhibit_on_failure = true;
            r.weight = 5;
        }
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 9);
        assert_eq!(
            weights(&svc.plan()),
            vec![(rip(1), 5), (rip(2), 5), (rip(3), 5)]
        );
        simulate(
            &mut svc,
            s(40),
            |id, _| {
                if id.real == 0 {
                    Outcome::fail("refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        let plan = svc.plan();
        assert_eq!(weights(&plan), vec![(rip(1), 0), (rip(2), 5), (rip(3), 5)]);
        assert_eq!(plan.active().count(), 2);

        // Under alpha, inhibited reals are in the table from the start at weight 0.
        let mut spec = seed(true);
        spec.reals[0].inhibit_on_failure = true;
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 9);
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 0)]);
    }

    #[test]
    fn misc_dynamic_sets_the_weight() {
        let mut spec = ServiceSpec::new("vs", vec![RealSpec::new(rip(1)), RealSpec::new(rip(2))]);
        spec.reals[0].checkers.push(misc(rip(1)));
        spec.reals[0].weight = 10;
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 0);
        let id = svc.due_probes(s(5)).pop().unwrap();
        let ev = svc.handle_outcome(
            s(5),
            id,
            &Outcome::from_misc_exit(Some(42), true, "exit 42"),
        );
        assert_eq!(
            ev,
            vec![Event::WeightChanged {
                service: "vs".into(),
                real: rip(1),
                from: 10,
                to: 40
            }]
        );
        assert!(ev[0].changes_plan());
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 40), (rip(2), 1)]);
        // Exit 2 means weight 0: still alive, in the table, no new connections.
        let id = svc.due_probes(s(10)).pop().unwrap();
        svc.handle_outcome(s(10), id, &Outcome::from_misc_exit(Some(2), true, ""));
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 0), (rip(2), 1)]);
        assert_eq!(svc.live_weight(), 1);
        // Exit 1 fails (retry 0): removed, weight kept for when it returns.
        let id = svc.due_probes(s(15)).pop().unwrap();
        let ev = svc.handle_outcome(s(15), id, &Outcome::from_misc_exit(Some(1), true, "exit 1"));
        assert!(matches!(ev[0], Event::RealDown { .. }));
        assert_eq!(weights(&svc.plan()), vec![(rip(2), 1)]);
        // Exit 0 keeps the last dynamic weight.
        let id = svc.due_probes(s(20)).pop().unwrap();
        svc.handle_outcome(s(20), id, &Outcome::from_misc_exit(Some(0), true, ""));
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 0), (rip(2), 1)]);
    }

    /// Five reals of weight 1, no checker logic involved: flip them by hand.
    fn manual(n: u8, quorum: u32, hysteresis: u32) -> ServiceHealth {
        let reals = (1..=n)
            .map(|i| {
                let mut r = RealSpec::new(rip(i));
                let mut c = tcp(rip(i), false);
                c.timing.retry = 0;
                r.checkers.push(c);
                r
            })
            .collect();
        let mut spec = ServiceSpec::new("vs", reals);
        spec.quorum = quorum;
        spec.hysteresis = hysteresis;
        spec.quorum_up = Some("/bin/qup".into());
        spec.quorum_down = Some("/bin/qdown".into());
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 0);
        svc
    }

    fn set(svc: &mut ServiceHealth, real: usize, ok: bool, t: u64) -> Vec<Event> {
        let id = ProbeId { real, checker: 0 };
        // Force the probe due: the checker must be idle; start it if needed.
        svc.reals[id.real].checkers[0].start(s(t), 0.0);
        assert!(svc.reals[id.real].checkers[0].begin(s(t)));
        let o = if ok {
            Outcome::pass()
        } else {
            Outcome::fail("refused")
        };
        svc.handle_outcome(s(t), id, &o)
    }

    #[test]
    fn quorum_with_hysteresis() {
        // quorum 3, hysteresis 1: lose below 2, gain at 4.
        let mut svc = manual(5, 3, 1);
        assert!(svc.quorum_up());
        assert!(set(&mut svc, 0, false, 1)
            .iter()
            .all(|e| !matches!(e, Event::QuorumLost { .. })));
        set(&mut svc, 1, false, 2);
        assert!(svc.quorum_up(), "3 live, threshold 2");
        set(&mut svc, 2, false, 3);
        assert!(svc.quorum_up(), "2 live, still >= 2");
        let ev = set(&mut svc, 3, false, 4);
        let lost: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, Event::QuorumLost { .. }))
            .collect();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].script(), Some("/bin/qdown"));
        assert_eq!(
            lost[0].to_string(),
            "vs: lost quorum (live weight 1 < 2); sorry server none"
                .replace("; sorry server none", "")
        );
        // Without a sorry server, the live real stays in the table.
        assert_eq!(weights(&svc.plan()), vec![(rip(5), 1)]);
        assert!(!svc.plan().quorum_up);
        set(&mut svc, 0, true, 5);
        set(&mut svc, 1, true, 6);
        assert!(!svc.quorum_up(), "3 live < 4");
        let ev = set(&mut svc, 2, true, 7);
        assert!(svc.quorum_up());
        let gained: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, Event::QuorumGained { .. }))
            .collect();
        assert_eq!(gained[0].script(), Some("/bin/qup"));
    }

    #[test]
    fn quorum_is_capped_by_total_weight_and_hysteresis_below_quorum() {
        let svc = manual(2, 10, 10);
        assert_eq!((svc.quorum, svc.hysteresis), (2, 1));
    }

    #[test]
    fn sorry_server_replaces_the_pool_while_quorum_is_lost() {
        let mut svc = manual(3, 2, 0);
        let sorry = SocketAddr::from(([10, 253, 26, 99], 80));
        svc.spec.sorry_server = Some(SorrySpec {
            addr: sorry,
            weight: 1,
            inhibit: false,
        });
        set(&mut svc, 0, false, 1);
        assert_eq!(weights(&svc.plan()), vec![(rip(2), 1), (rip(3), 1)]);
        let ev = set(&mut svc, 1, false, 2);
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::QuorumLost { sorry_added: Some(a), .. } if *a == sorry
        )));
        // Only the sorry server, even though rs3 is alive.
        let plan = svc.plan();
        assert_eq!(weights(&plan), vec![(sorry, 1)]);
        assert!(plan.reals[0].sorry);
        let ev = set(&mut svc, 0, true, 3);
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::QuorumGained { sorry_removed: Some(a), .. } if *a == sorry
        )));
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 1), (rip(3), 1)]);
    }

    #[test]
    fn sorry_server_at_start_under_alpha_and_inhibit() {
        let mut spec = seed(true);
        let sorry = SocketAddr::from(([10, 253, 26, 99], 80));
        spec.sorry_server = Some(SorrySpec {
            addr: sorry,
            weight: 1,
            inhibit: true,
        });
        spec.quorum_down = Some("/bin/qdown".into());
        let mut svc = ServiceHealth::new(spec);
        let ev = svc.start(s(0), 0);
        assert_eq!(ev.len(), 1);
        assert!(matches!(
            ev[0],
            Event::QuorumLost {
                initial: true,
                sorry_added: Some(_),
                ..
            }
        ));
        assert_eq!(ev[0].script(), Some("/bin/qdown"));
        assert_eq!(weights(&svc.plan()), vec![(sorry, 1)]);
        simulate(&mut svc, s(7), |_, _| Outcome::pass(), instant);
        // Quorum back: sorry server stays in the table at weight 0 (inhibit).
        assert_eq!(
            weights(&svc.plan()),
            vec![(rip(1), 1), (rip(2), 1), (rip(3), 1), (sorry, 0)]
        );
    }

    #[test]
    fn ha_suspend_runs_no_checks_until_master() {
        let mut spec = seed(true);
        spec.ha_suspend = true;
        let mut svc = ServiceHealth::new(spec);
        let ev = svc.start(s(0), 5);
        assert!(matches!(ev[..], [Event::ChecksSuspended { .. }]), "{ev:?}");
        assert!(svc.is_suspended());
        assert_eq!(svc.poll_timeout(), None);
        assert!(svc.due_probes(s(1000)).is_empty());
        assert!(svc.set_master(false, s(1000)).is_empty());
        let ev = svc.set_master(true, s(1000));
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].to_string(),
            "10.253.85.250:80/TCP: checks resumed (MASTER, ha_suspend)"
        );
        assert_eq!(svc.due_probes(s(1000)).len(), 3);
        let ev = svc.set_master(false, s(1001));
        assert!(matches!(ev[0], Event::ChecksSuspended { .. }));
        // Without ha_suspend, set_master does nothing.
        let mut svc = ServiceHealth::new(seed(true));
        svc.start(s(0), 5);
        assert!(svc.set_master(false, s(1)).is_empty());
        assert!(!svc.is_suspended());
    }

    #[test]
    fn notify_scripts_follow_transitions() {
        let mut svc = ServiceHealth::new(seed(false));
        svc.start(s(0), 2);
        let log = simulate(
            &mut svc,
            s(60),
            |id, t| {
                if id.real == 2 && t >= s(20) && t < s(40) {
                    Outcome::fail("refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        let scripts: Vec<_> = log.iter().filter_map(|(_, e)| e.script()).collect();
        assert_eq!(scripts, vec!["/bin/down rs3", "/bin/up rs3"]);
    }

    #[test]
    fn warmup_spreads_first_probes_deterministically() {
        let mut a = ServiceHealth::new(seed(true));
        a.start(s(0), 11);
        let mut b = ServiceHealth::new(seed(true));
        b.start(s(0), 11);
        let firsts = |svc: &ServiceHealth| -> Vec<Duration> {
            svc.reals
                .iter()
                .map(|r| r.checkers[0].poll_timeout().unwrap())
                .collect()
        };
        assert_eq!(firsts(&a), firsts(&b));
        let f = firsts(&a);
        assert!(f.iter().all(|d| *d <= s(6)));
        assert!(f[0] != f[1] || f[1] != f[2]);
    }

    #[test]
    fn omega_runs_down_scripts_on_shutdown() {
        let mut spec = seed(false);
        spec.quorum_down = Some("/bin/qdown".into());
        let svc = {
            let mut s = ServiceHealth::new(spec.clone());
            s.start(Duration::ZERO, 0);
            s
        };
        assert!(svc.shutdown().is_empty());
        spec.omega = true;
        let mut svc = ServiceHealth::new(spec);
        svc.start(s(0), 0);
        let scripts: Vec<_> = svc
            .shutdown()
            .iter()
            .filter_map(|e| e.script().map(str::to_owned))
            .collect();
        assert_eq!(
            scripts,
            vec![
                "/bin/down rs1",
                "/bin/down rs2",
                "/bin/down rs3",
                "/bin/qdown"
            ]
        );
    }

    #[test]
    fn reload_keeps_state_of_unchanged_reals() {
        let mut svc = ServiceHealth::new(seed(true));
        svc.start(s(0), 4);
        simulate(
            &mut svc,
            s(20),
            |id, _| {
                if id.real == 1 {
                    Outcome::fail("refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 1), (rip(3), 1)]);
        // New config: rs3 removed, rs4 added (alpha), rs1 weight 2.
        let mut spec = seed(true);
        spec.reals.remove(2);
        let mut r4 = RealSpec::new(rip(4));
        r4.checkers.push(tcp(rip(4), true));
        spec.reals.push(r4);
        spec.reals[0].weight = 2;
        let ev = svc.reload(spec, s(21));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].script(), Some("/bin/down rs3"));
        // rs1 stays up with its new weight, rs2 stays down, rs4 waits for a check.
        assert_eq!(weights(&svc.plan()), vec![(rip(1), 2)]);
        assert!(svc.quorum_up());
        let ids = svc.due_probes(s(30));
        assert!(ids.iter().any(|i| i.real == 2));
        for id in ids {
            svc.handle_outcome(s(30), id, &Outcome::pass());
        }
        assert_eq!(
            weights(&svc.plan()),
            vec![(rip(1), 2), (rip(2), 1), (rip(4), 1)]
        );
    }

    #[test]
    fn status_reports_failures() {
        let mut svc = ServiceHealth::new(seed(true));
        svc.start(s(0), 4);
        simulate(
            &mut svc,
            s(10),
            |id, _| {
                if id.real == 0 {
                    Outcome::fail("connection refused")
                } else {
                    Outcome::pass()
                }
            },
            instant,
        );
        let st = svc.status();
        assert_eq!(st.reals.len(), 3);
        assert!(!st.reals[0].alive);
        assert_eq!(
            st.reals[0].checkers[0].last_failure.as_deref(),
            Some("connection refused")
        );
        assert!(st.reals[1].alive && st.reals[1].checkers[0].last_failure.is_none());
        assert_eq!(st.live_weight, 2);
        assert_eq!(st.reals[0].checkers[0].kind, "TCP_CHECK");
    }
}
