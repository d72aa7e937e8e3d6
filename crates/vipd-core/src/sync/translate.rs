//! Between the data plane's ids and the wire's addresses. The data plane names a
//! connection's service by slot and its real server by id; those numbers are
//! each director's own, so a shared entry names both by address (VIP, virtual
//! port, protocol; real address and port), and the receiver finds its own slot
//! and id for them in its current [`Plan`].

use std::net::{IpAddr, Ipv4Addr};

use crate::plan::{Plan, Proto};

use super::wire::{ConnState, Entry};

/// A connection as the data plane keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnKey {
    /// Client address.
    pub client: IpAddr,
    /// Client port.
    pub cport: u16,
    /// The VIP.
    pub vip: IpAddr,
    /// The port the client used.
    pub dport: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// Where a shared entry goes in this director's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// The connection.
    pub key: ConnKey,
    /// This director's service slot.
    pub slot: u32,
    /// This director's real-server id.
    pub dest: u32,
    /// The persistence template to install with it: (client & mask, slot).
    pub persist: Option<IpAddr>,
}

/// Why an entry cannot be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// The slot is not a service in the plan.
    #[error("no service in slot {0}")]
    NoSlot(u32),
    /// The id is not a real server of that service.
    #[error("no real server id {0} in that service")]
    NoDest(u32),
    /// The data-plane state has no wire form (fragments are never shared).
    #[error("state {0} is not shared")]
    State(u8),
    /// This director has no such service.
    #[error("no virtual server {0}")]
    UnknownService(ServiceName),
    /// The service has no such real server here (not configured, or not in
    /// the table now: down, or not checked yet).
    #[error("real server {0} is not in this director's table for the service")]
    UnknownReal(std::net::SocketAddr),
}

/// A service named for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceName(pub IpAddr, pub u16, pub Proto);

impl std::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.2 {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        };
        write!(f, "{p} {}", std::net::SocketAddr::new(self.0, self.1))
    }
}

/// The wire entry of a connection this director's data plane holds.
pub fn to_entry(
    plan: &Plan,
    key: ConnKey,
    slot: u32,
    dest: u32,
    state: u8,
    age_ms: u32,
) -> Result<Entry, TranslateError> {
    let svc = plan
        .services
        .iter()
        .find(|s| s.slot == slot)
        .ok_or(TranslateError::NoSlot(slot))?;
    let d = plan
        .dests
        .iter()
        .find(|d| d.id == dest && d.slot == slot)
        .ok_or(TranslateError::NoDest(dest))?;
    let state = ConnState::from_number(state).ok_or(TranslateError::State(state))?;
    Ok(Entry {
        vip: key.vip,
        vport: svc.key.1,
        client: key.client,
        cport: key.cport,
        dport: key.dport,
        proto: key.proto,
        rip: d.rip,
        rport: d.port,
        state,
        persist: svc.persistence.is_some_and(|p| p.timeout > 0),
        age_ms,
    })
}

/// Where a persistence template of plan `old` (its service slot and real-server
/// id) goes in plan `new`: the same service and real server, found by
/// address. `None` if `new` lacks either (a restart with another file, or a
/// real server not in the table yet).
pub fn move_ids(old: &Plan, new: &Plan, slot: u32, dest: u32) -> Option<(u32, u32)> {
    let svc = old.services.iter().find(|s| s.slot == slot)?;
    let d = old.dests.iter().find(|d| d.id == dest && d.slot == slot)?;
    let ns = new.services.iter().find(|s| s.key == svc.key)?;
    let nd = new
        .dests
        .iter()
        .find(|x| x.slot == ns.slot && x.rip == d.rip && x.port == d.port)?;
    Some((ns.slot, nd.id))
}

/// Where `e` goes in this director's tables.
pub fn to_local(plan: &Plan, e: &Entry) -> Result<Local, TranslateError> {
    let svc = plan
        .services
        .iter()
        .find(|s| s.key == (e.vip, e.vport, e.proto))
        .ok_or(TranslateError::UnknownService(ServiceName(
            e.vip, e.vport, e.proto,
        )))?;
    let d = plan
        .dests
        .iter()
        .find(|d| d.slot == svc.slot && d.rip == e.rip && d.port == e.rport)
        .ok_or(TranslateError::UnknownReal(std::net::SocketAddr::new(
            e.rip, e.rport,
        )))?;
    let persist = match (e.persist, svc.persistence, e.client) {
        (true, Some(p), IpAddr::V4(c)) if p.timeout > 0 => Some(IpAddr::V4(Ipv4Addr::from(
            u32::from(c) & u32::from(p.granularity),
        ))),
        (true, Some(p), c @ IpAddr::V6(_)) if p.timeout > 0 => Some(c),
        _ => None,
    };
    Ok(Local {
        key: ConnKey {
            client: e.client,
            cport: e.cport,
            vip: e.vip,
            dport: e.dport,
            proto: e.proto,
        },
        slot: svc.slot,
        dest: d.id,
        persist,
    })
}

/// (client, client port, VIP, port, protocol).
type ParkKey = (IpAddr, u16, IpAddr, u16, u8);

/// Shared entries waiting for their real server: a director that is not
/// MASTER may have no real server in its table yet (`alpha` starts them down,
/// `ha_suspend` runs no check on a BACKUP), so an entry naming one cannot be
/// installed yet. It waits here, and goes into the table when the real server
/// does (IPVS binds a synced connection to its destination late the same way).
/// Bounded: when full, the oldest waiting entry is given up.
#[derive(Debug, Clone, Default)]
pub struct Parked {
    entries: std::collections::BTreeMap<ParkKey, (std::time::Duration, Entry)>,
    max: usize,
    /// Entries given up (full, or waited longer than their timeout).
    pub dropped: u64,
}

impl Parked {
    /// Room for `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps `e` (received at `now`) until its real server is in the table;
    /// a newer entry for the same connection replaces the older.
    pub fn park(&mut self, now: std::time::Duration, e: Entry) {
        let k = (e.client, e.cport, e.vip, e.dport, e.proto.number());
        if self.entries.len() >= self.max && !self.entries.contains_key(&k) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| *k);
            if let Some(o) = oldest {
                self.entries.remove(&o);
                self.dropped += 1;
            }
        }
        if self.max > 0 {
            self.entries.insert(k, (now, e));
        }
    }

    /// The entries `plan` can place now, with their age brought up to `now`
    /// (they leave the parking); entries older than `max_age` are given up.
    pub fn take_placeable(
        &mut self,
        now: std::time::Duration,
        plan: &Plan,
        max_age: std::time::Duration,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        let before = self.entries.len();
        self.entries.retain(|_, (t, e)| {
            let waited = now.saturating_sub(*t);
            if waited > max_age {
                return false;
            }
            if to_local(plan, e).is_ok() {
                let mut e = *e;
                e.age_ms = e
                    .age_ms
                    .saturating_add(u32::try_from(waited.as_millis()).unwrap_or(u32::MAX));
                out.push(e);
                return false;
            }
            true
        });
        self.dropped += (before - self.entries.len() - out.len()) as u64;
        out
    }

    /// Every waiting entry (for a dump to a peer).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Forward, Persistence, Planner, ServiceSpec};
    use crate::sched::{RealSpec, Scheduler};

    fn spec(reals: &[u8], persistence: Option<Persistence>) -> ServiceSpec {
        ServiceSpec {
            vip: "10.253.85.250".parse().unwrap(),
            port: 80,
            proto: Proto::Tcp,
            sched: Scheduler::Rr,
            flags: Default::default(),
            ops: false,
            forward: Forward::Tun,
            forward_of: Default::default(),
            persistence,
            mss: None,
            reals: reals
                .iter()
                .map(|i| RealSpec {
                    rip: format!("10.253.26.{i}").parse().unwrap(),
                    port: 80,
                    weight: 1,
                })
                .collect(),
        }
    }

    fn key() -> ConnKey {
        ConnKey {
            client: "203.0.113.2".parse().unwrap(),
            cport: 40000,
            vip: "10.253.85.250".parse().unwrap(),
            dport: 80,
            proto: Proto::Tcp,
        }
    }

    #[test]
    fn ids_become_addresses_and_back_in_another_directors_numbering() {
        // The sender has rs1..rs3; the receiver only rs2, rs3 and in another
        // order of ids (its planner saw them otherwise).
        let mut a = Planner::new(4, 16);
        let pa = a.plan(&[spec(&[1, 2, 3], None)]).unwrap();
        let mut b = Planner::new(4, 16);
        let mut other = spec(&[9], None);
        other.port = 443;
        b.plan(&[other.clone(), spec(&[3, 2], None)]).unwrap();
        let pb = b.plan(&[other, spec(&[3, 2], None)]).unwrap();
        let rs2 = pa
            .dests
            .iter()
            .find(|d| d.rip == "10.253.26.2".parse::<IpAddr>().unwrap())
            .unwrap();
        let e = to_entry(&pa, key(), rs2.slot, rs2.id, 1, 5).unwrap();
        assert_eq!(e.rip, "10.253.26.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            (e.vport, e.state, e.persist, e.age_ms),
            (80, ConnState::Established, false, 5)
        );
        let l = to_local(&pb, &e).unwrap();
        let there = pb.dests.iter().find(|d| d.id == l.dest).unwrap();
        assert_eq!(there.rip, e.rip);
        assert_eq!(l.key, key());
        // rs1 is not in the receiver's table.
        let rs1 = pa
            .dests
            .iter()
            .find(|d| d.rip == "10.253.26.1".parse::<IpAddr>().unwrap())
            .unwrap();
        let e1 = to_entry(&pa, key(), rs1.slot, rs1.id, 1, 0).unwrap();
        assert_eq!(
            to_local(&pb, &e1),
            Err(TranslateError::UnknownReal(
                "10.253.26.1:80".parse().unwrap()
            ))
        );
    }

    #[test]
    fn template_ids_move_by_address_to_another_numbering() {
        let mut a = Planner::new(4, 16);
        let pa = a.plan(&[spec(&[1, 2, 3], None)]).unwrap();
        let mut b = Planner::new(4, 16);
        let mut other = spec(&[9], None);
        other.port = 443;
        let pb = b.plan(&[other, spec(&[3, 2], None)]).unwrap();
        let by_rip = |p: &Plan, i: u8| {
            p.dests
                .iter()
                .find(|d| d.rip == format!("10.253.26.{i}").parse::<IpAddr>().unwrap())
                .map(|d| (d.slot, d.id))
        };
        let (slot, id) = by_rip(&pa, 2).unwrap();
        assert_eq!(move_ids(&pa, &pb, slot, id), by_rip(&pb, 2));
        assert_ne!(by_rip(&pb, 2), Some((slot, id)), "another numbering");
        // rs1 is not in the new table; an unknown id is nothing.
        let (slot, id) = by_rip(&pa, 1).unwrap();
        assert_eq!(move_ids(&pa, &pb, slot, id), None);
        assert_eq!(move_ids(&pa, &pb, slot, 999), None);
    }

    #[test]
    fn persistence_templates_are_masked_by_the_receivers_granularity() {
        let p = Some(Persistence {
            timeout: 300,
            granularity: "255.255.255.0".parse().unwrap(),
        });
        let mut a = Planner::new(4, 16);
        let plan = a.plan(&[spec(&[1], p)]).unwrap();
        let d = &plan.dests[0];
        let e = to_entry(&plan, key(), d.slot, d.id, 1, 0).unwrap();
        assert!(e.persist);
        let l = to_local(&plan, &e).unwrap();
        assert_eq!(l.persist, Some("203.0.113.0".parse().unwrap()));
    }

    #[test]
    fn unknown_ids_states_and_services_are_errors() {
        let mut a = Planner::new(4, 16);
        let plan = a.plan(&[spec(&[1], None)]).unwrap();
        let d = &plan.dests[0];
        assert_eq!(
            to_entry(&plan, key(), 3, d.id, 1, 0),
            Err(TranslateError::NoSlot(3))
        );
        assert_eq!(
            to_entry(&plan, key(), d.slot, 99, 1, 0),
            Err(TranslateError::NoDest(99))
        );
        assert_eq!(
            to_entry(&plan, key(), d.slot, d.id, 5, 0),
            Err(TranslateError::State(5))
        );
        let mut e = to_entry(&plan, key(), d.slot, d.id, 1, 0).unwrap();
        e.vport = 443;
        assert!(matches!(
            to_local(&plan, &e),
            Err(TranslateError::UnknownService(_))
        ));
    }

    #[test]
    fn parked_entries_wait_for_their_real_server() {
        use std::time::Duration;
        let mut a = Planner::new(4, 16);
        let full = a.plan(&[spec(&[1, 2], None)]).unwrap();
        let rs2 = full
            .dests
            .iter()
            .find(|d| d.rip == "10.253.26.2".parse::<IpAddr>().unwrap())
            .unwrap();
        let e = to_entry(&full, key(), rs2.slot, rs2.id, 1, 100).unwrap();
        // The receiver has only rs1 in its table so far.
        let mut b = Planner::new(4, 16);
        let only1 = b.plan(&[spec(&[1], None)]).unwrap();
        assert!(to_local(&only1, &e).is_err());
        let mut p = Parked::new(2);
        p.park(Duration::from_secs(10), e);
        assert!(p
            .take_placeable(Duration::from_secs(11), &only1, Duration::from_secs(900))
            .is_empty());
        assert_eq!(p.len(), 1);
        let both = b.plan(&[spec(&[1, 2], None)]).unwrap();
        let placed = p.take_placeable(Duration::from_secs(12), &both, Duration::from_secs(900));
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].age_ms, 100 + 2_000, "aged by the wait");
        assert!(p.is_empty());
        // Bounded: the oldest goes; too old ones are given up.
        for (i, port) in [1u16, 2, 3].iter().enumerate() {
            let mut x = e;
            x.cport = *port;
            p.park(Duration::from_secs(i as u64), x);
        }
        assert_eq!((p.len(), p.dropped), (2, 1));
        assert!(p
            .take_placeable(Duration::from_secs(1000), &only1, Duration::from_secs(900))
            .is_empty());
        assert_eq!((p.len(), p.dropped), (0, 3));
    }
}
