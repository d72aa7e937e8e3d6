//! Runs the checkers of every virtual service: the async shell around
//! [`ServiceHealth`].
//!
//! [`HealthDriver::next`] sleeps until a probe is due or a result arrives, spawns
//! every due probe as its own task (so a slow or hanging real server delays
//! nothing else), feeds results to the pure state machines, and returns an
//! [`Update`]: the events to log and act on (notify scripts), and the services
//! whose desired table changed. The daemon applies those plans to the data plane
//! and calls [`HealthDriver::set_master`] on VRRP transitions (`ha_suspend`).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use vipd_core::check::{
    Event, Outcome, ProbeId, ServiceHealth, ServicePlan, ServiceSpec, ServiceStatus,
};

use super::Prober;

/// What changed after some probe results.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Update {
    /// Events, each with the index of its service: log each as one line
    /// (`Display`), and run `Event::script()` when it has one.
    pub events: Vec<(usize, Event)>,
    /// Services whose desired table changed, with the new table.
    pub plans: Vec<(usize, ServicePlan)>,
}

impl Update {
    /// Nothing to report?
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.plans.is_empty()
    }
}

struct ProbeResult {
    service: usize,
    generation: u64,
    id: ProbeId,
    outcome: Outcome,
}

/// The checkers of a set of services, running. Dropping it aborts running probes.
#[derive(Debug)]
pub struct HealthDriver {
    services: Vec<ServiceHealth>,
    /// Bumped per service on reload: results of probes started before are stale.
    generations: Vec<u64>,
    published: Vec<ServicePlan>,
    prober: Prober,
    epoch: Instant,
    tx: mpsc::UnboundedSender<ProbeResult>,
    rx: mpsc::UnboundedReceiver<ProbeResult>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for ProbeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeResult")
            .field("service", &self.service)
            .field("id", &self.id)
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl HealthDriver {
    /// Start checking `specs`. `seed` spreads first probes over `warmup` (pass
    /// something random in production, a constant in tests). `is_master` is the
    /// node's VRRP state for `ha_suspend` services (pass `true` without VRRP).
    /// The returned update holds the start events and every initial plan.
    pub fn start(
        specs: Vec<ServiceSpec>,
        prober: Prober,
        seed: u64,
        is_master: bool,
    ) -> (Self, Update) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut d = HealthDriver {
            services: Vec::new(),
            generations: vec![0; specs.len()],
            published: Vec::new(),
            prober,
            epoch: Instant::now(),
            tx,
            rx,
            tasks: JoinSet::new(),
        };
        let now = d.now();
        let mut update = Update::default();
        for (i, spec) in specs.into_iter().enumerate() {
            let mut svc = ServiceHealth::new(spec);
            let mut events = svc.start(now, seed.wrapping_add(i as u64));
            events.extend(svc.set_master(is_master, now));
            update.events.extend(events.into_iter().map(|e| (i, e)));
            let plan = svc.plan();
            update.plans.push((i, plan.clone()));
            d.published.push(plan);
            d.services.push(svc);
        }
        (d, update)
    }

    /// Time since the driver started: the clock the state machines run on.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The services' state.
    pub fn services(&self) -> &[ServiceHealth] {
        &self.services
    }

    /// The tables last returned in an [`Update`].
    pub fn plans(&self) -> &[ServicePlan] {
        &self.published
    }

    /// Every service's status, for `vipd status`.
    pub fn status(&self) -> Vec<ServiceStatus> {
        self.services.iter().map(ServiceHealth::status).collect()
    }

    /// Wait until something changes, running probes meanwhile. Cancel-safe: a
    /// result that arrives is handled by the next call. With nothing to check
    /// (no checkers, or all suspended) it waits forever: call it inside a
    /// `select!` with the daemon's other events.
    pub async fn next(&mut self) -> Update {
        loop {
            self.spawn_due();
            let deadline = self
                .services
                .iter()
                .filter_map(ServiceHealth::poll_timeout)
                .min()
                .map(|d| self.epoch + d);
            let first = match deadline {
                Some(at) => tokio::select! {
                    r = self.rx.recv() => r,
                    _ = tokio::time::sleep_until(at) => None,
                },
                None => self.rx.recv().await,
            };
            let mut update = Update::default();
            if let Some(r) = first {
                self.handle(r, &mut update);
            }
            while let Ok(r) = self.rx.try_recv() {
                self.handle(r, &mut update);
            }
            self.publish(&mut update);
            // Reap finished tasks so the set does not grow.
            while self.tasks.try_join_next().is_some() {}
            if !update.is_empty() {
                return update;
            }
        }
    }

    /// ha_suspend: the node became (or stopped being) VRRP MASTER.
    pub fn set_master(&mut self, is_master: bool) -> Update {
        let now = self.now();
        let mut update = Update::default();
        for (i, svc) in self.services.iter_mut().enumerate() {
            update
                .events
                .extend(svc.set_master(is_master, now).into_iter().map(|e| (i, e)));
        }
        update
    }

    /// Configuration reload: services are matched by name and keep what is known
    /// about unchanged real servers; new services start fresh, removed ones go.
    pub fn reload(&mut self, specs: Vec<ServiceSpec>, seed: u64, is_master: bool) -> Update {
        let now = self.now();
        let mut old: Vec<Option<ServiceHealth>> = std::mem::take(&mut self.services)
            .into_iter()
            .map(Some)
            .collect();
        let mut update = Update::default();
        let mut services = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            let found = old
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.spec().name == spec.name))
                .and_then(Option::take);
            let (svc, events) = match found {
                Some(mut svc) => {
                    let events = svc.reload(spec, now);
                    (svc, events)
                }
                None => {
                    let mut svc = ServiceHealth::new(spec);
                    let mut events = svc.start(now, seed.wrapping_add(i as u64));
                    events.extend(svc.set_master(is_master, now));
                    (svc, events)
                }
            };
            update.events.extend(events.into_iter().map(|e| (i, e)));
            services.push(svc);
        }
        self.services = services;
        // Every index may have moved: all running probes are stale.
        self.generations =
            vec![self.generations.iter().max().copied().unwrap_or(0) + 1; self.services.len()];
        self.published = self.services.iter().map(ServiceHealth::plan).collect();
        update.plans = self.published.iter().cloned().enumerate().collect();
        update
    }

    /// Shutdown: the events `omega` services want run on the way out.
    pub fn shutdown(&mut self) -> Vec<(usize, Event)> {
        self.tasks.abort_all();
        self.services
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.shutdown().into_iter().map(move |e| (i, e)))
            .collect()
    }

    fn spawn_due(&mut self) {
        let now = self.now();
        for (si, svc) in self.services.iter_mut().enumerate() {
            for id in svc.due_probes(now) {
                let spec = svc.checker_spec(id).clone();
                let prober = self.prober.clone();
                let tx = self.tx.clone();
                let generation = self.generations[si];
                self.tasks.spawn(async move {
                    let outcome = prober.run(&spec).await;
                    let _ = tx.send(ProbeResult {
                        service: si,
                        generation,
                        id,
                        outcome,
                    });
                });
            }
        }
    }

    fn handle(&mut self, r: ProbeResult, update: &mut Update) {
        if self.generations.get(r.service) != Some(&r.generation) {
            return;
        }
        let now = self.now();
        let events = self.services[r.service].handle_outcome(now, r.id, &r.outcome);
        update
            .events
            .extend(events.into_iter().map(|e| (r.service, e)));
    }

    fn publish(&mut self, update: &mut Update) {
        for (i, svc) in self.services.iter().enumerate() {
            let plan = svc.plan();
            if plan != self.published[i] {
                self.published[i] = plan.clone();
                update.plans.push((i, plan));
            }
        }
    }
}
