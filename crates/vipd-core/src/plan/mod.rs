//! Desired state -> data-plane tables.
//!
//! The daemon (or `vipd datapath run`) describes the services it wants: VIP, port,
//! protocol, scheduler, forwarding method, persistence and real servers with
//! weights. [`Planner`] turns that into everything the XDP program reads: stable
//! slot numbers for services, stable ids for real servers, and each service's
//! scheduling table written into the half of its double buffer that the program
//! is *not* reading, with the generation to flip to. It keeps the ids between
//! calls so a change of weights or reals never renumbers what existing
//! connections point to. Pure: the IO shell writes the [`Plan`] to the maps in the
//! order its docs give.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::sched::{self, RealSpec, SchedError, SchedFlags, Scheduler};

pub mod vip_filter;

/// Transport protocol of a virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
}

impl Proto {
    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

impl FromStr for Proto {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, PlanError> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Self::Tcp),
            "UDP" => Ok(Self::Udp),
            _ => Err(PlanError::Protocol(s.to_string())),
        }
    }
}

/// How the director hands a connection to a real server (keepalived's `lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forward {
    /// IP-in-IP to the real server (LVS-TUN).
    Tun,
    /// Destination MAC rewrite on a shared LAN (LVS-DR).
    Dr,
    /// Masquerading (LVS-NAT): the destination becomes the real server's
    /// address and port, and its replies, which return through the
    /// director, get the VIP and port back as their source.
    Nat,
}

impl FromStr for Forward {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, PlanError> {
        match s.to_ascii_uppercase().as_str() {
            "TUN" => Ok(Self::Tun),
            "DR" => Ok(Self::Dr),
            "NAT" | "MASQ" => Ok(Self::Nat),
            _ => Err(PlanError::Forward(s.to_string())),
        }
    }
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tun => "TUN",
            Self::Dr => "DR",
            Self::Nat => "NAT",
        })
    }
}

/// Persistence (keepalived's `persistence_timeout`, `persistence_granularity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persistence {
    /// Seconds a client network sticks to its real server after its last
    /// connection; 0 disables persistence.
    pub timeout: u32,
    /// Mask applied to the client address (IPv4), e.g. 255.255.255.0.
    pub granularity: Ipv4Addr,
}

/// One virtual server as wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Virtual address.
    pub vip: IpAddr,
    /// Virtual port; 0 matches every port (persistent services).
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Scheduler.
    pub sched: Scheduler,
    /// Its flags (`sh`/`mh`).
    pub flags: SchedFlags,
    /// One-packet scheduling (keepalived's `ops`, UDP only): every datagram
    /// is scheduled on its own and leaves no connection entry.
    pub ops: bool,
    /// Forwarding method of the service's real servers.
    pub forward: Forward,
    /// Real servers forwarded otherwise (a real server's own `lvs_method`,
    /// `sorry_server_lvs_method`), by (address, port).
    pub forward_of: BTreeMap<(IpAddr, u16), Forward>,
    /// Persistence, if any.
    pub persistence: Option<Persistence>,
    /// Clamp the MSS of client SYNs to this (TUN); `None`: no clamp.
    pub mss: Option<u16>,
    /// Real servers.
    pub reals: Vec<RealSpec>,
}

/// Errors of planning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A scheduler table could not be built.
    #[error("virtual_server {vip} {port}: {source}")]
    Sched {
        /// VIP of the service.
        vip: IpAddr,
        /// Port of the service.
        port: u16,
        /// Why.
        source: SchedError,
    },
    /// Not a forwarding method.
    #[error("lb_kind {0}: unknown forwarding method; use TUN or DR")]
    Forward(String),
    /// Not a protocol.
    #[error("protocol {0}: use TCP or UDP")]
    Protocol(String),
    /// A real server of the other family than its VIP's, not by TUN.
    #[error("virtual_server {vip} {port}: real server {rip} is of the other address family: only TUN can carry a packet to it (DR and NAT keep the VIP's family)")]
    MixedFamily {
        /// Virtual address.
        vip: IpAddr,
        /// Virtual port.
        port: u16,
        /// The real server.
        rip: IpAddr,
    },
    /// Two services with the same (VIP, port, protocol).
    #[error("virtual_server {vip} {port} {proto:?} is defined twice")]
    Duplicate {
        /// VIP.
        vip: IpAddr,
        /// Port.
        port: u16,
        /// Protocol.
        proto: Proto,
    },
    /// Out of service slots or real-server ids.
    #[error("data plane full: {what} (at most {max})")]
    Full {
        /// What ran out.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// Identity of a service across plans.
pub type ServiceKey = (IpAddr, u16, Proto);

/// A service as the program reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTable {
    /// (VIP, port, protocol).
    pub key: ServiceKey,
    /// Slot: counters index and ring base.
    pub slot: u32,
    /// The ring half to write `ring` into and then flip to.
    pub gen: u8,
    /// Scheduler.
    pub sched: Scheduler,
    /// Its flags (`sh`/`mh`).
    pub flags: SchedFlags,
    /// One-packet scheduling (`ops`): no connection entry, every datagram
    /// scheduled.
    pub ops: bool,
    /// Real-server ids: the scheduling table (cycle, hash table or list).
    pub ring: Vec<u32>,
    /// Persistence.
    pub persistence: Option<Persistence>,
    /// MSS clamp (0 = off).
    pub mss: u16,
}

/// A real server as the program reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestTable {
    /// Real-server id.
    pub id: u32,
    /// Owning service slot.
    pub slot: u32,
    /// Address.
    pub rip: IpAddr,
    /// Port.
    pub port: u16,
    /// Weight (0 = quiesced).
    pub weight: u32,
    /// Forwarding method.
    pub forward: Forward,
    /// MSS clamp of client SYNs (0 = off; always 0 for DR).
    pub mss: u16,
}

/// What to write, in this order: `dests`, then each service's `ring` into half
/// `gen`, then the services themselves (the flip), then `vips`; then delete
/// `removed_services`, `removed_vips` and finally retire `removed_dests`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Real servers to write (live).
    pub dests: Vec<DestTable>,
    /// Services to write.
    pub services: Vec<ServiceTable>,
    /// VIP addresses that have at least one service.
    pub vips: Vec<IpAddr>,
    /// Services to delete.
    pub removed_services: Vec<ServiceKey>,
    /// VIPs to delete.
    pub removed_vips: Vec<IpAddr>,
    /// Real-server ids to mark unused.
    pub removed_dests: Vec<u32>,
}

#[derive(Debug, Clone)]
struct SlotState {
    slot: u32,
    gen: u8,
    dests: BTreeMap<(IpAddr, u16), u32>,
}

/// Keeps service slots and real-server ids stable across plans.
#[derive(Debug, Clone)]
pub struct Planner {
    max_slots: usize,
    max_dests: usize,
    services: BTreeMap<ServiceKey, SlotState>,
    vips: BTreeSet<IpAddr>,
    next_dest: u32,
    free_dests: BTreeSet<u32>,
}

impl Planner {
    /// A planner for a data plane with `max_slots` service slots and `max_dests`
    /// real-server ids.
    pub fn new(max_slots: usize, max_dests: usize) -> Self {
        Self {
            max_slots,
            max_dests,
            services: BTreeMap::new(),
            vips: BTreeSet::new(),
            next_dest: 0,
            free_dests: BTreeSet::new(),
        }
    }

    fn alloc_dest(&mut self) -> Result<u32, PlanError> {
        if let Some(id) = self.free_dests.pop_first() {
            return Ok(id);
        }
        if (self.next_dest as usize) < self.max_dests {
            self.next_dest += 1;
            return Ok(self.next_dest - 1);
        }
        Err(PlanError::Full {
            what: "real servers",
            max: self.max_dests,
        })
    }

    /// Computes the tables for `wanted`. On error nothing is changed.
    pub fn plan(&mut self, wanted: &[ServiceSpec]) -> Result<Plan, PlanError> {
        let backup = self.clone();
        let r = self.plan_inner(wanted);
        if r.is_err() {
            *self = backup;
        }
        r
    }

    fn plan_inner(&mut self, wanted: &[ServiceSpec]) -> Result<Plan, PlanError> {
        let mut plan = Plan::default();
        let mut seen = BTreeSet::new();
        for s in wanted {
            if let Some(r) = s.reals.iter().find(|r| {
                r.rip.is_ipv4() != s.vip.is_ipv4()
                    && s.forward_of.get(&(r.rip, r.port)).unwrap_or(&s.forward) != &Forward::Tun
            }) {
                return Err(PlanError::MixedFamily {
                    vip: s.vip,
                    port: s.port,
                    rip: r.rip,
                });
            }
            let key = (s.vip, s.port, s.proto);
            if !seen.insert(key) {
                return Err(PlanError::Duplicate {
                    vip: s.vip,
                    port: s.port,
                    proto: s.proto,
                });
            }
        }
        // Removed services first, so their slots can be reused by new ones.
        let gone: Vec<ServiceKey> = self
            .services
            .keys()
            .filter(|k| !seen.contains(*k))
            .copied()
            .collect();
        for k in gone {
            let st = self.services.remove(&k).expect("listed above");
            plan.removed_services.push(k);
            for (_, id) in st.dests {
                plan.removed_dests.push(id);
            }
        }
        for s in wanted {
            let key = (s.vip, s.port, s.proto);
            let slot = match self.services.get(&key) {
                Some(st) => st.slot,
                None => {
                    let used: BTreeSet<u32> = self.services.values().map(|s| s.slot).collect();
                    let slot = (0..self.max_slots as u32)
                        .find(|i| !used.contains(i))
                        .ok_or(PlanError::Full {
                            what: "virtual servers",
                            max: self.max_slots,
                        })?;
                    self.services.insert(
                        key,
                        SlotState {
                            slot,
                            gen: 1, // flipped to 0 below: the first write uses half 0
                            dests: BTreeMap::new(),
                        },
                    );
                    slot
                }
            };
            let table = sched::build(s.sched, &s.reals).map_err(|source| PlanError::Sched {
                vip: s.vip,
                port: s.port,
                source,
            })?;
            // Real-server ids: keep existing ones, allocate new, retire removed.
            // `s.mss` is for IPv4 in IPv4; an IPv6 header is 20 bytes longer,
            // inside (an IPv6 VIP) or outside (an IPv6 real server).
            let mss_of = |f: Forward, rip: Option<IpAddr>| match (f, s.mss) {
                (Forward::Tun, Some(m)) => {
                    let v6 = |a: IpAddr| u16::from(a.is_ipv6()) * 20;
                    m.saturating_sub(v6(s.vip) + rip.map_or(0, v6))
                }
                _ => 0,
            };
            let mss = mss_of(s.forward, s.reals.first().map(|r| r.rip));
            let mut st = self.services.remove(&key).expect("inserted above");
            let mut ids = Vec::with_capacity(s.reals.len());
            let mut keep = BTreeMap::new();
            for r in &s.reals {
                let rk = (r.rip, r.port);
                let id = match st.dests.remove(&rk).or_else(|| keep.get(&rk).copied()) {
                    Some(id) => id,
                    None => self.alloc_dest()?,
                };
                keep.insert(rk, id);
                ids.push(id);
                let forward = s.forward_of.get(&rk).copied().unwrap_or(s.forward);
                plan.dests.push(DestTable {
                    id,
                    slot,
                    rip: r.rip,
                    port: r.port,
                    weight: r.weight,
                    forward,
                    mss: mss_of(forward, Some(r.rip)),
                });
            }
            for (_, id) in std::mem::take(&mut st.dests) {
                plan.removed_dests.push(id);
            }
            st.dests = keep;
            st.gen ^= 1;
            let gen = st.gen;
            self.services.insert(key, st);
            plan.services.push(ServiceTable {
                key,
                slot,
                gen,
                sched: s.sched,
                flags: s.flags,
                ops: s.ops && s.proto == Proto::Udp,
                ring: table.entries().iter().map(|&i| ids[i as usize]).collect(),
                persistence: s.persistence.filter(|p| p.timeout > 0),
                mss,
            });
        }
        let vips: BTreeSet<IpAddr> = wanted.iter().map(|s| s.vip).collect();
        plan.removed_vips = self.vips.difference(&vips).copied().collect();
        plan.vips = vips.iter().copied().collect();
        self.vips = vips;
        for &id in &plan.removed_dests {
            self.free_dests.insert(id);
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(port: u16, sched: Scheduler, ws: &[u32]) -> ServiceSpec {
        ServiceSpec {
            vip: "10.253.85.250".parse().unwrap(),
            port,
            proto: Proto::Tcp,
            sched,
            flags: Default::default(),
            ops: false,
            forward: Forward::Tun,
            forward_of: BTreeMap::new(),
            persistence: None,
            mss: Some(1440),
            reals: ws
                .iter()
                .enumerate()
                .map(|(i, &w)| RealSpec {
                    rip: format!("10.253.26.{}", i + 1).parse().unwrap(),
                    port: 80,
                    weight: w,
                })
                .collect(),
        }
    }

    #[test]
    fn a_real_server_can_be_forwarded_otherwise_than_its_service() {
        let mut p = Planner::new(4, 16);
        let mut s = svc(80, Scheduler::Rr, &[1, 1]);
        s.forward_of
            .insert(("10.253.26.2".parse().unwrap(), 80), Forward::Dr);
        let plan = p.plan(&[s]).unwrap();
        let f: Vec<_> = plan.dests.iter().map(|d| (d.forward, d.mss)).collect();
        assert_eq!(
            f,
            vec![(Forward::Tun, 1440), (Forward::Dr, 0)],
            "DR: no clamp"
        );
    }

    #[test]
    fn first_plan_allocates_and_uses_half_zero() {
        let mut p = Planner::new(4, 16);
        let plan = p.plan(&[svc(80, Scheduler::Rr, &[1, 1, 1])]).unwrap();
        assert_eq!(plan.services.len(), 1);
        let s = &plan.services[0];
        assert_eq!((s.slot, s.gen), (0, 0));
        assert_eq!(s.ring, vec![0, 1, 2]);
        assert_eq!(plan.dests.len(), 3);
        assert_eq!(plan.vips.len(), 1);
    }

    #[test]
    fn replan_flips_generation_and_keeps_ids() {
        let mut p = Planner::new(4, 16);
        p.plan(&[svc(80, Scheduler::Rr, &[1, 1, 1])]).unwrap();
        // Quiesce real 2: its id stays, it leaves the ring.
        let plan = p.plan(&[svc(80, Scheduler::Rr, &[1, 0, 1])]).unwrap();
        let s = &plan.services[0];
        assert_eq!(s.gen, 1);
        assert_eq!(s.ring, vec![0, 2]);
        assert!(plan.dests.iter().any(|d| d.id == 1 && d.weight == 0));
        assert!(plan.removed_dests.is_empty());
        // Keep only real .2: the ids of .1 and .3 are retired, reused later.
        let mut two = svc(80, Scheduler::Rr, &[1, 1]);
        two.reals.remove(0);
        let plan = p.plan(&[two]).unwrap();
        assert_eq!(plan.services[0].gen, 0);
        assert_eq!(plan.removed_dests, vec![0, 2]);
        let plan = p.plan(&[svc(80, Scheduler::Rr, &[1, 1, 1])]).unwrap();
        assert_eq!(plan.services[0].ring, vec![0, 1, 2]);
    }

    #[test]
    fn removed_service_frees_slot_and_vip() {
        let mut p = Planner::new(1, 16);
        p.plan(&[svc(80, Scheduler::Rr, &[1])]).unwrap();
        assert!(matches!(
            p.plan(&[svc(80, Scheduler::Rr, &[1]), svc(443, Scheduler::Rr, &[1])]),
            Err(PlanError::Full { .. })
        ));
        let plan = p.plan(&[]).unwrap();
        assert_eq!(plan.removed_services.len(), 1);
        assert_eq!(plan.removed_vips.len(), 1);
        let plan = p.plan(&[svc(443, Scheduler::Rr, &[1])]).unwrap();
        assert_eq!(plan.services[0].slot, 0);
    }

    #[test]
    fn errors_leave_state_unchanged() {
        let mut p = Planner::new(4, 16);
        p.plan(&[svc(80, Scheduler::Rr, &[1])]).unwrap();
        let e = p
            .plan(&[svc(80, Scheduler::Rr, &[1]), svc(80, Scheduler::Wrr, &[1])])
            .unwrap_err();
        assert!(matches!(e, PlanError::Duplicate { .. }));
        let plan = p.plan(&[svc(80, Scheduler::Rr, &[1])]).unwrap();
        assert_eq!(plan.services[0].gen, 1);
    }

    #[test]
    fn ops_reaches_the_table_for_udp_only() {
        let mut p = Planner::new(4, 16);
        let mut udp = svc(53, Scheduler::Rr, &[1, 1]);
        udp.proto = Proto::Udp;
        udp.ops = true;
        let mut tcp = svc(80, Scheduler::Rr, &[1, 1]);
        tcp.ops = true;
        let plan = p.plan(&[udp, tcp]).unwrap();
        let ops: Vec<_> = plan.services.iter().map(|s| (s.key.2, s.ops)).collect();
        assert_eq!(ops, vec![(Proto::Udp, true), (Proto::Tcp, false)]);
    }

    #[test]
    fn forwarding_methods_by_ipvs_and_ipvsadm_names() {
        assert_eq!("NAT".parse::<Forward>().unwrap(), Forward::Nat);
        assert_eq!("masq".parse::<Forward>().unwrap(), Forward::Nat);
        assert_eq!("tun".parse::<Forward>().unwrap(), Forward::Tun);
        assert!("gate".parse::<Forward>().is_err());
    }

    #[test]
    fn dr_never_clamps_mss() {
        let mut p = Planner::new(4, 16);
        let mut s = svc(80, Scheduler::Mh, &[1, 1]);
        s.forward = Forward::Dr;
        let plan = p.plan(&[s]).unwrap();
        assert_eq!(plan.services[0].mss, 0);
        assert!(plan.dests.iter().all(|d| d.mss == 0));
        assert_eq!(plan.services[0].ring.len(), sched::MAGLEV_SIZE);
    }

    #[test]
    fn ipv6_headers_lower_the_clamp_and_only_tun_crosses_families() {
        let mut p = Planner::new(4, 16);
        let mut s = svc(80, Scheduler::Rr, &[1, 1]);
        s.vip = "2001:db8:85::250".parse().unwrap();
        s.reals[1].rip = "2001:db8:26::2".parse().unwrap();
        let plan = p.plan(std::slice::from_ref(&s)).unwrap();
        // 6in4 to the first, ip6ip6 to the second.
        let mss: Vec<u16> = plan.dests.iter().map(|d| d.mss).collect();
        assert_eq!(mss, [1420, 1400]);
        s.forward = Forward::Dr;
        let e = p.plan(std::slice::from_ref(&s)).unwrap_err();
        assert!(matches!(e, PlanError::MixedFamily { .. }), "{e}");
    }
}
