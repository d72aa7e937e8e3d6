//! The VRRP part of the daemon: runs `vrrp_io`'s driver as a task, follows its
//! instances' states (for `vipd status` and `ha_suspend`), and stops it cleanly
//! (priority-0 advert, VIPs removed) on shutdown or before a reload that changes
//! VRRP.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, warn};
use vipd_core::config::Config;
use vipd_core::vrrp::State;

use super::status;
use crate::vrrp_io::driver::{run_observed, InstanceState, Stop};
use crate::vrrp_io::{VrrpIoError, VrrpSpec};

/// How long a stopping VRRP may take before the daemon gives up on it (the
/// priority-0 advert and VIP removal take milliseconds).
const STOP_TIMEOUT: Duration = Duration::from_millis(800);

/// The running VRRP engine.
#[derive(Debug)]
pub struct VrrpPart {
    task: Option<JoinHandle<Result<(), VrrpIoError>>>,
    stop: Option<oneshot::Sender<Stop>>,
    states: watch::Receiver<Vec<InstanceState>>,
    /// When each instance entered its current state.
    since: HashMap<String, (State, Instant)>,
}

/// Builds the VRRP driver's spec from the model; `warnings` gets what is
/// accepted but ignored.
pub fn spec(config: &Config, warnings: &mut Vec<String>) -> Result<VrrpSpec, VrrpIoError> {
    crate::vrrp_io::from_config::from_config(config, warnings)
}

impl VrrpPart {
    /// Starts VRRP for `spec` (must be inside the runtime).
    pub fn start(spec: VrrpSpec) -> Self {
        Self::start_resuming(spec, Vec::new())
    }

    /// Starts VRRP; the instances named in `resume` start as MASTER, keeping
    /// their VIPs (vipd restarted while they were MASTER).
    pub fn start_resuming(spec: VrrpSpec, resume: Vec<String>) -> Self {
        let (tx, states) = watch::channel(Vec::new());
        let (stop, stop_rx) = oneshot::channel::<Stop>();
        let task = tokio::spawn(async move {
            let shutdown = async move { stop_rx.await.unwrap_or(Stop::Clean) };
            run_observed(spec, resume, shutdown, Some(tx)).await
        });
        VrrpPart {
            task: Some(task),
            stop: Some(stop),
            states,
            since: HashMap::new(),
        }
    }

    /// Waits until an instance changes state (`None`) or the VRRP task ends by
    /// itself (`Some(why)`: an error, since it only ends when told to
    /// otherwise). Cancel-safe.
    pub async fn next(&mut self) -> Option<String> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = tokio::select! {
            r = self.states.changed() => if r.is_ok() { None } else { Some((&mut *task).await) },
            r = &mut *task => Some(r),
        };
        match ended {
            None => {
                self.note_changes();
                None
            }
            Some(res) => {
                self.task = None;
                Some(match res {
                    Ok(Ok(())) => "VRRP stopped unexpectedly".to_owned(),
                    Ok(Err(e)) => format!("VRRP failed: {e}"),
                    Err(e) => format!("VRRP task failed: {e}"),
                })
            }
        }
    }

    fn note_changes(&mut self) {
        let now = Instant::now();
        for s in self.states.borrow().iter() {
            let e = self.since.entry(s.name.clone()).or_insert((s.state, now));
            if e.0 != s.state {
                *e = (s.state, now);
            }
        }
    }

    /// The instances that are MASTER now, each with how long after a stop
    /// without priority 0 no backup can have taken over.
    pub fn masters(&self) -> Vec<(String, Duration)> {
        self.states
            .borrow()
            .iter()
            .filter(|s| s.state == State::Master)
            .map(|s| (s.name.clone(), s.takeover_margin))
            .collect()
    }

    /// Is any instance MASTER? (`ha_suspend` runs checks only then.)
    pub fn is_master(&self) -> bool {
        self.states
            .borrow()
            .iter()
            .any(|s| s.state == State::Master)
    }

    /// The instances for `vipd status`, in configuration order.
    pub fn status(&self, config: &Config, started: Instant) -> Vec<status::VrrpInstance> {
        let states = self.states.borrow();
        config
            .vrrp_instances
            .iter()
            .map(|i| {
                let s = states.iter().find(|s| s.name == i.name);
                status::VrrpInstance {
                    name: i.name.clone(),
                    vrid: i.virtual_router_id,
                    interface: i.interface.clone().unwrap_or_default(),
                    state: s.map_or("INIT".to_owned(), |s| s.state.to_string()),
                    priority: i.priority,
                    effective_priority: s.map_or(i.priority, |s| s.effective_priority),
                    vips: i
                        .virtual_ipaddress
                        .iter()
                        .map(|v| format!("{}/{}", v.addr.addr, v.addr.len))
                        .collect(),
                    since_secs: self
                        .since
                        .get(&i.name)
                        .map(|(_, t)| t.saturating_duration_since(started).as_secs()),
                }
            })
            .collect()
    }

    /// Stops VRRP: a MASTER sends priority 0 and removes its VIPs
    /// ([`Stop::Clean`]), or keeps them for the next vipd ([`Stop::Handover`]).
    pub async fn stop(mut self, how: Stop) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(how);
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => error!("VRRP stopped with an error: {e}"),
                Ok(Err(e)) => error!("VRRP task failed: {e}"),
                Err(_) => warn!("VRRP did not stop within {STOP_TIMEOUT:?}"),
            }
        }
    }
}
