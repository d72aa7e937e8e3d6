//! A node's VRRP instances and their `vrrp_sync_group`s, driven as one sans-IO
//! machine: members of a sync group change state together (keepalived's
//! semantics): one becomes MASTER -> all do; one drops to BACKUP -> all do; one is
//! in FAULT -> all are, until it recovers.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::instance::{Accepted, Action, Discard, Instance, Reason, State, TrackKind};
use super::packet::Received;

/// A `vrrp_sync_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupConfig {
    /// Group name.
    pub name: String,
    /// Member instance names (`group { VI_1 VI_2 }`).
    pub members: Vec<String>,
}

/// A sync group names an instance that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vrrp_sync_group {group}: no vrrp_instance named {member}: define it or remove it from the group")]
pub struct UnknownMember {
    /// The group.
    pub group: String,
    /// The missing instance.
    pub member: String,
}

#[derive(Debug)]
struct Group {
    name: String,
    members: Vec<usize>,
}

/// All the instances of one node.
#[derive(Debug)]
pub struct Node {
    instances: Vec<Instance>,
    groups: Vec<Group>,
    /// Each instance's state as last seen by the sync logic.
    seen: Vec<State>,
    actions: VecDeque<(usize, Action)>,
}

impl Node {
    /// Builds the node; every group member must be an instance.
    pub fn new(
        instances: Vec<Instance>,
        groups: &[SyncGroupConfig],
    ) -> Result<Self, UnknownMember> {
        let mut built = Vec::new();
        for g in groups {
            let mut members = Vec::new();
            for m in &g.members {
                let idx = instances
                    .iter()
                    .position(|i| i.name() == m)
                    .ok_or_else(|| UnknownMember {
                        group: g.name.clone(),
                        member: m.clone(),
                    })?;
                members.push(idx);
            }
            built.push(Group {
                name: g.name.clone(),
                members,
            });
        }
        let seen = instances.iter().map(|i| i.state()).collect();
        Ok(Self {
            instances,
            groups: built,
            seen,
            actions: VecDeque::new(),
        })
    }

    /// The instances, by index.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Starts every instance.
    pub fn start(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.start(now);
        }
        self.settle(now);
    }

    /// Starts every instance; those named in `resume` start as MASTER at once
    /// ([`Instance::resume`]: vipd restarted while they were MASTER).
    pub fn start_resuming(&mut self, now: Instant, resume: &[String]) {
        for i in &mut self.instances {
            if resume.iter().any(|n| n == i.name()) {
                i.resume(now);
            } else {
                i.start(now);
            }
        }
        self.settle(now);
    }

    /// Delivers an advert received on `interface` to the instance of that
    /// interface, VRID and address family (an IPv4 and an IPv6 instance may
    /// share a VRID, RFC 5798 §5.2.3). `None` if there is none.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        interface: &str,
        rx: &Received,
    ) -> Option<(usize, Result<Accepted, Discard>)> {
        let idx = self.instances.iter().position(|i| {
            i.config().interface == interface
                && i.config().vrid == rx.repr.vrid
                && i.config().primary_ip.is_ipv6() == rx.src.is_ipv6()
        })?;
        let result = self.instances[idx].handle_packet(now, rx);
        self.settle(now);
        Some((idx, result))
    }

    /// Runs due timers of every instance.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.handle_timeout(now);
        }
        self.settle(now);
    }

    /// A tracked object changed; every instance tracking it sees it.
    pub fn set_tracked(&mut self, now: Instant, kind: TrackKind, name: &str, up: bool) {
        for i in &mut self.instances {
            i.set_tracked(now, kind, name, up);
        }
        self.settle(now);
    }

    /// Stops every instance for a restart of vipd ([`Instance::handover`]).
    pub fn handover(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.handover(now);
        }
        self.settle(now);
    }

    /// Shuts every instance down.
    pub fn shutdown(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.shutdown(now);
        }
        self.settle(now);
    }

    /// The next action, with the index of its instance.
    pub fn poll_action(&mut self) -> Option<(usize, Action)> {
        self.actions.pop_front()
    }

    /// The earliest timer of any instance.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances.iter().filter_map(|i| i.poll_timeout()).min()
    }

    /// Instances whose primary address is `addr` (for tests and status).
    pub fn by_primary(&self, addr: Ipv4Addr) -> impl Iterator<Item = &Instance> {
        self.instances
            .iter()
            .filter(move |i| i.config().primary_ip == addr)
    }

    /// Collects actions and applies the sync-group rules until nothing changes.
    fn settle(&mut self, now: Instant) {
        // Bounded: each round only moves members towards one state.
        for _ in 0..=self.instances.len() * 4 {
            self.drain();
            let mut moved = false;
            for g in 0..self.groups.len() {
                moved |= self.sync_group(now, g);
            }
            self.drain();
            let changed: Vec<usize> = (0..self.instances.len())
                .filter(|&i| self.instances[i].state() != self.seen[i])
                .collect();
            for i in changed {
                self.seen[i] = self.instances[i].state();
            }
            if !moved {
                return;
            }
        }
    }

    fn drain(&mut self) {
        for (idx, i) in self.instances.iter_mut().enumerate() {
            while let Some(a) = i.poll_action() {
                self.actions.push_back((idx, a));
            }
        }
    }

    fn sync_group(&mut self, now: Instant, g: usize) -> bool {
        let members = self.groups[g].members.clone();
        let name = self.groups[g].name.clone();
        // A member faulty on its own account holds the whole group in FAULT.
        let target = if let Some(&m) = members.iter().find(|&&m| self.instances[m].own_fault()) {
            Some((Some(m), State::Fault))
        } else {
            // Otherwise follow the member that changed state.
            members
                .iter()
                .find(|&&m| self.instances[m].state() != self.seen[m])
                .map(|&m| (Some(m), self.instances[m].state()))
                .or_else(|| {
                    // Recovery: nobody faulty on its own, but some still in sync FAULT.
                    members
                        .iter()
                        .any(|&m| self.instances[m].state() == State::Fault)
                        .then_some((None, State::Backup))
                })
        };
        let Some((leader, state)) = target else {
            return false;
        };
        let mut moved = false;
        for &m in &members {
            if Some(m) == leader || self.instances[m].state() == state {
                continue;
            }
            let reason = Reason::SyncGroup {
                group: name.clone(),
                member: leader.map_or_else(
                    || "(all recovered)".to_string(),
                    |l| self.instances[l].name().to_string(),
                ),
                state,
            };
            let before = self.instances[m].state();
            self.instances[m].force_state(now, state, reason);
            moved |= self.instances[m].state() != before;
        }
        moved
    }
}
