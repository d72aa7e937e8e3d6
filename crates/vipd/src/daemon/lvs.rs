//! The LVS half of the daemon (what keepalived's checker process and the
//! kernel's IPVS do): the health checkers ([`HealthDriver`]) decide which real
//! servers are in each service's table, and the XDP data plane
//! ([`Director`]) holds exactly that table. Each health plan change is written
//! to the data plane at once (atomically: `Director::apply` flips a double
//! buffer), and logged as one line.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tracing::{error, info, warn};
use vipd_core::check::{Event, ServiceSpec as HealthSpec};
use vipd_core::config::Config;
use vipd_core::director;
use vipd_core::plan::{self, Plan, Planner};
use vipd_core::sync::translate::{self, ConnKey, TranslateError};
use vipd_core::sync::Entry;

use super::status;
use crate::datapath::neigh::{self, NextHop};
use crate::datapath::{self, pin, AttachMode, Director, Sizes, COUNTER_NAMES};
use crate::probe::driver::{HealthDriver, Update};
use crate::probe::Prober;
use aya::programs::XdpMode;

/// Errors of the LVS part.
#[derive(Debug, thiserror::Error)]
pub enum LvsError {
    /// A virtual server cannot be run.
    #[error("{0}")]
    Unsupported(#[from] director::Unsupported),
    /// The data plane refused.
    #[error("data plane: {0}")]
    Datapath(#[from] datapath::DatapathError),
    /// Planning the tables failed.
    #[error("data plane tables: {0}")]
    Plan(#[from] plan::PlanError),
    /// The data plane serves one interface.
    #[error("the virtual servers arrive on several interfaces ({0}); vipd's data plane attaches to one: put every VIP on one interface")]
    Interfaces(String),
    /// Nothing says which interface receives a VIP.
    #[error("{0}")]
    NoInterface(String),
}

impl LvsError {
    /// Where in `c` the problem is (the virtual server at fault, else the
    /// first one).
    pub fn loc(&self, c: &Config) -> vipd_core::config::Loc {
        match self {
            LvsError::Unsupported(u) => u.loc,
            _ => c.virtual_servers.first().map(|v| v.loc).unwrap_or_default(),
        }
    }
}

/// Everything needed to run a configuration's virtual servers, computed
/// before anything is touched (so that a reload can be refused cleanly).
#[derive(Debug, Clone)]
pub struct LvsSpec {
    /// One entry per virtual_server, in configuration order.
    pub services: Vec<LvsService>,
    /// The interface the VIPs arrive on.
    pub iface: String,
    /// `script_user`: who runs notify_up/down and quorum_up/down.
    pub script_user: Option<vipd_core::config::ScriptUser>,
    /// `lvs_timeouts`: the connection table's idle timeouts.
    pub timeouts: Option<vipd_core::config::LvsTimeouts>,
    /// `uthreshold` / `lthreshold` of the real servers that have them.
    pub thresholds: BTreeMap<(plan::ServiceKey, SocketAddr), vipd_core::overload::Threshold>,
    /// Every address VRRP may add (`virtual_ipaddress`, excluded ones too):
    /// never the outer IPv6 source of TUN, which must stay when VIPs move.
    pub vrrp_addrs: std::collections::BTreeSet<IpAddr>,
}

/// One virtual_server: what its checkers check and what the data plane
/// serves for it, together.
#[derive(Debug, Clone)]
pub struct LvsService {
    /// Its checkers, real servers, quorum and sorry server.
    pub health: HealthSpec,
    /// The data-plane services it is (without real servers: the health plan
    /// gives them).
    pub datapath: Vec<plan::ServiceSpec>,
}

impl LvsService {
    /// Does it serve (VIP, port, protocol)?
    fn serves(&self, key: plan::ServiceKey) -> bool {
        self.datapath
            .iter()
            .any(|d| (d.vip, d.port, d.proto) == key)
    }
}

impl LvsSpec {
    /// The health specs, in order (the checkers' driver keeps this order).
    fn health_specs(&self) -> Vec<HealthSpec> {
        self.services.iter().map(|s| s.health.clone()).collect()
    }

    /// The real servers' (and sorry servers') addresses.
    fn rips(&self) -> BTreeSet<IpAddr> {
        self.services
            .iter()
            .flat_map(|s| {
                s.health
                    .reals
                    .iter()
                    .map(|r| r.addr.ip())
                    .chain(s.health.sorry_server.as_ref().map(|s| s.addr.ip()))
            })
            .collect()
    }
}

/// Writes `lvs_timeouts` (IPVS's defaults where unset) into the program's
/// settings, keeping its flags.
fn apply_timeouts(
    dir: &mut Director,
    t: Option<vipd_core::config::LvsTimeouts>,
) -> Result<(), datapath::DatapathError> {
    let d = datapath::abi::Config::default();
    let t = t.unwrap_or_default();
    let mut cfg = dir.config()?;
    cfg.tcp_timeout = t.tcp.unwrap_or(d.tcp_timeout);
    cfg.tcp_fin_timeout = t.tcpfin.unwrap_or(d.tcp_fin_timeout);
    cfg.udp_timeout = t.udp.unwrap_or(d.udp_timeout);
    dir.set_config(cfg)
}

fn iface_mtu(iface: &str) -> Option<u16> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Builds the spec of `c`'s virtual servers (None when there are none);
/// `notes` gets what the checkers leave out (SMTP_CHECK...).
pub fn spec(c: &Config, notes: &mut Vec<String>) -> Result<Option<LvsSpec>, LvsError> {
    if c.virtual_servers.is_empty() {
        return Ok(None);
    }
    // What no interface can fix first (a fwmark service has no VIP to place).
    for vs in &c.virtual_servers {
        director::datapath_specs(c, vs, None, &mut Vec::new())?;
    }
    let ifaces = director::datapath_interfaces(c).map_err(LvsError::NoInterface)?;
    if ifaces.len() != 1 {
        return Err(LvsError::Interfaces(
            ifaces.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    let iface = ifaces.into_iter().next().expect("one");
    // Room for the outer IPv4 header (20) plus IPv4 and TCP headers (40).
    let mss = iface_mtu(&iface).map(|m| m.saturating_sub(60));
    let mut check_notes = Vec::new();
    let mut services = Vec::with_capacity(c.virtual_servers.len());
    for vs in &c.virtual_servers {
        services.push(LvsService {
            health: vipd_core::check::from_config::service(c, vs, &mut check_notes),
            datapath: director::datapath_specs(c, vs, mss, notes)?,
        });
    }
    notes.extend(
        check_notes
            .into_iter()
            .map(|n| format!("{}: {}", n.service, n.message)),
    );
    // Plan once on a scratch planner: scheduler tables that cannot be built are
    // refused now, not when a real server comes up.
    let mut scratch = Planner::new(
        datapath::abi::MAX_SERVICES as usize,
        datapath::abi::MAX_DESTS as usize,
    );
    let full: Vec<plan::ServiceSpec> = services
        .iter()
        .zip(&c.virtual_servers)
        .flat_map(|(s, vs)| {
            s.datapath.iter().map(|d| plan::ServiceSpec {
                reals: director::configured_reals(vs),
                ..d.clone()
            })
        })
        .collect();
    scratch.plan(&full)?;
    let mut thresholds = BTreeMap::new();
    for (s, vs) in services.iter().zip(&c.virtual_servers) {
        for d in &s.datapath {
            for rs in &vs.real_servers {
                if let Some(upper) = rs.uthreshold.filter(|u| *u > 0) {
                    thresholds.insert(
                        ((d.vip, d.port, d.proto), SocketAddr::new(rs.ip, rs.port)),
                        vipd_core::overload::Threshold {
                            upper,
                            lower: rs.lthreshold.unwrap_or(0),
                        },
                    );
                }
            }
        }
    }
    let vrrp_addrs = c
        .vrrp_instances
        .iter()
        .flat_map(|i| {
            i.virtual_ipaddress
                .iter()
                .chain(&i.virtual_ipaddress_excluded)
        })
        .map(|v| v.addr.addr)
        .collect();
    Ok(Some(LvsSpec {
        services,
        iface,
        thresholds,
        vrrp_addrs,
        script_user: c.global_defs.script_user.clone(),
        timeouts: c.global_defs.lvs_timeouts,
    }))
}

/// Where a shared entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Into the connection table.
    Installed,
    /// Waiting for its real server to enter the table (down, or not checked
    /// yet: normal on a BACKUP).
    Waiting,
    /// Waiting, but this director's configuration does not have that service
    /// or real server: the directors' files differ.
    NotConfigured(TranslateError),
}

/// Why a shared entry was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// It names what this director does not have.
    #[error(transparent)]
    Translate(#[from] TranslateError),
    /// The map refused.
    #[error("data plane: {0}")]
    Datapath(#[from] datapath::DatapathError),
}

/// The connection of a data-plane key.
fn conn_key(f: &datapath::abi::Flow) -> Option<ConnKey> {
    let proto = match f.proto {
        6 => plan::Proto::Tcp,
        17 => plan::Proto::Udp,
        _ => return None,
    };
    Some(ConnKey {
        client: datapath::abi::words_addr(f.family, f.src),
        cport: u16::from_be(f.sport),
        vip: datapath::abi::words_addr(f.family, f.dst),
        dport: u16::from_be(f.dport),
        proto,
    })
}

/// The data-plane key of a connection.
fn flow_of(k: &ConnKey) -> datapath::abi::Flow {
    datapath::abi::Flow {
        src: datapath::abi::addr_words(k.client),
        dst: datapath::abi::addr_words(k.vip),
        sport: k.cport.to_be(),
        dport: k.dport.to_be(),
        proto: k.proto.number(),
        family: datapath::abi::family(k.vip),
        _pad: [0; 2],
    }
}

/// Traffic of one real server (or service), accumulated across the data
/// plane's id changes, with the last sample for rates.
#[derive(Debug, Clone, Default)]
struct Account {
    total: datapath::abi::Stats,
    /// Data-plane id and the id's counters when last read.
    seen: Option<(u32, datapath::abi::Stats)>,
    rate: (f64, f64, f64, f64, f64),
    conns: datapath::abi::DestConns,
}

impl Account {
    fn observe(&mut self, id: u32, cur: datapath::abi::Stats, secs: f64) {
        let (pk, by, cn, opk, oby) = match self.seen {
            Some((sid, last)) if sid == id => (
                cur.packets.saturating_sub(last.packets),
                cur.bytes.saturating_sub(last.bytes),
                cur.conns.saturating_sub(last.conns),
                cur.out_packets.saturating_sub(last.out_packets),
                cur.out_bytes.saturating_sub(last.out_bytes),
            ),
            // A new id: count from now (an id may be reused from another server).
            _ => (0, 0, 0, 0, 0),
        };
        self.total.packets += pk;
        self.total.bytes += by;
        self.total.conns += cn;
        self.total.out_packets += opk;
        self.total.out_bytes += oby;
        self.seen = Some((id, cur));
        if secs > 0.0 {
            self.rate = (
                cn as f64 / secs,
                pk as f64 / secs,
                by as f64 / secs,
                opk as f64 / secs,
                oby as f64 / secs,
            );
        }
    }

    fn traffic(&self) -> status::Traffic {
        status::Traffic {
            conns: self.total.conns,
            packets: self.total.packets,
            bytes: self.total.bytes,
            out_packets: self.total.out_packets,
            out_bytes: self.total.out_bytes,
            cps: self.rate.0,
            pps: self.rate.1,
            bps: self.rate.2,
            out_pps: self.rate.3,
            out_bps: self.rate.4,
        }
    }
}

/// The traffic account of real server `d` of `plan` (by service and
/// address, so that it survives id changes).
fn real_account<'a>(
    reals: &'a mut HashMap<(plan::ServiceKey, SocketAddr), Account>,
    plan: &Plan,
    d: &plan::DestTable,
) -> Option<&'a mut Account> {
    let s = plan.services.iter().find(|s| s.slot == d.slot)?;
    Some(
        reals
            .entry((s.key, SocketAddr::new(d.rip, d.port)))
            .or_default(),
    )
}

/// The loaded, attached data plane.
#[derive(Debug)]
struct Datapath {
    dir: Director,
    planner: Planner,
    plan: Plan,
    hops: BTreeSet<NextHop>,
    attach: String,
    services: HashMap<plan::ServiceKey, Account>,
    reals: HashMap<(plan::ServiceKey, SocketAddr), Account>,
    counters: BTreeMap<String, u64>,
    last_sample: Instant,
    fill: datapath::TableFill,
    flood: vipd_core::conntable::FloodWatch,
    /// Shared entries waiting for their real server.
    parked: translate::Parked,
    /// A restart in progress: the previous vipd's program still forwards on
    /// its pinned link until this one's tables are ready.
    adoption: Option<Adoption>,
    /// What the last restart carried over.
    adopted: Option<status::Adopted>,
}

/// The previous vipd's pinned program and tables, until the swap.
#[derive(Debug)]
struct Adoption {
    pinned: pin::Pinned,
    mode: XdpMode,
    since: Instant,
    /// The first copy is made: from now on the swap may come.
    copied: bool,
}

/// How long a restarted vipd lets the previous program forward while the
/// real servers that its connections use are not in the new tables yet
/// (`alpha`: down until checked).
const ADOPT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one pass over the previous vipd's tables did.
#[derive(Debug, Default, Clone, Copy)]
struct AdoptPass {
    conns: u64,
    half_open: u64,
    templates: u64,
    waiting: u64,
    dropped: u64,
}

/// The running checkers and data plane.
#[derive(Debug)]
pub struct LvsPart {
    spec: LvsSpec,
    health: HealthDriver,
    dp: Datapath,
    master: bool,
    /// Real servers over their `uthreshold`.
    overloaded: BTreeSet<(plan::ServiceKey, SocketAddr)>,
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

impl LvsPart {
    /// Loads and attaches the data plane, starts the checkers. `master`: this
    /// node is VRRP MASTER (true when VRRP does not run) for `ha_suspend`.
    ///
    /// If the previous vipd stopped for a restart and left its program pinned
    /// on this interface, the new program is not attached: it takes over the
    /// pinned link, with the pinned connections copied in, once its tables
    /// hold their real servers (see [`pin`]). `restart_mode` is how the
    /// previous process had attached it.
    pub fn start(
        spec: LvsSpec,
        master: bool,
        mode: AttachMode,
        restart_mode: Option<XdpMode>,
    ) -> Result<Self, LvsError> {
        let sizes = Sizes::default();
        let pinned = match pin::existing_root() {
            Some(root) => pin::Pinned::open(&pin::dir(&root, &spec.iface))?,
            None => None,
        };
        info!(
            "data plane: loading the XDP director for {}{}",
            spec.iface,
            if pinned.is_some() {
                " (the previous vipd's program forwards meanwhile: restart)"
            } else {
                ""
            }
        );
        let mut dir = Director::load(sizes)?;
        apply_timeouts(&mut dir, spec.timeouts)?;
        dir.exclude_outer_sources(spec.vrrp_addrs.clone());
        let n = dir.sync_ifaddrs()?;
        if n == 0 {
            warn!("no IPv4 address in this network namespace: TUN needs one as the outer source");
        }
        let planner = Planner::new(sizes.services as usize, sizes.dests as usize);
        let (health, update) =
            HealthDriver::start(spec.health_specs(), Prober::new(), seed(), master);
        let rips = spec.rips();
        let hops = neigh::keep_resolved(&rips.into_iter().collect::<Vec<_>>())?;
        let (adoption, attach) = match pinned {
            Some(pinned) => {
                let mode = restart_mode.unwrap_or(XdpMode::Skb);
                let attach = format!(
                    "{} ({:?}, adopted from the previous vipd)",
                    spec.iface, mode
                );
                (
                    Some(Adoption {
                        pinned,
                        mode,
                        since: Instant::now(),
                        copied: false,
                    }),
                    attach,
                )
            }
            None => {
                let mode = dir.attach(&spec.iface, mode)?;
                (None, format!("{} ({:?})", spec.iface, mode))
            }
        };
        let mut part = LvsPart {
            dp: Datapath {
                dir,
                planner,
                plan: Plan::default(),
                hops,
                attach,
                services: HashMap::new(),
                reals: HashMap::new(),
                counters: BTreeMap::new(),
                last_sample: Instant::now(),
                fill: datapath::TableFill::default(),
                flood: vipd_core::conntable::FloodWatch::new(),
                parked: translate::Parked::new(sizes.conns as usize),
                adoption,
                adopted: None,
            },
            spec,
            health,
            master,
            overloaded: BTreeSet::new(),
        };
        part.handle(update);
        part.write_tables()?;
        if part.dp.adoption.is_some() {
            let first = part.adopt_pass(false);
            if let Some(a) = part.dp.adoption.as_mut() {
                a.copied = true;
            }
            info!(
                "restart: {} connections, {} handshakes and {} persistence templates of the previous vipd copied into the new tables; {} wait for their real server, {} are for services or real servers no longer configured",
                first.conns, first.half_open, first.templates, first.waiting, first.dropped
            );
            part.maybe_swap();
        } else {
            info!("data plane: XDP director attached to {}", part.dp.attach);
        }
        Ok(part)
    }

    /// Copies the previous vipd's connections (and handshakes, and
    /// persistence templates) into this one's tables, translating its ids by
    /// address. `only_new`: skip connections the new table already has (the
    /// pass right after the swap, for connections the old program made
    /// meanwhile).
    fn adopt_pass(&mut self, only_new: bool) -> AdoptPass {
        let mut pass = AdoptPass::default();
        let Some(a) = self.dp.adoption.as_ref() else {
            return pass;
        };
        let read = a
            .pinned
            .old_plan()
            .and_then(|p| Ok((p, a.pinned.conns()?, a.pinned.persist()?)));
        let (old, conns, templates) = match read {
            Ok(r) => r,
            Err(e) => {
                error!("restart: reading the previous vipd's tables: {e}");
                return pass;
            }
        };
        let now = datapath::coarse_now_ns();
        let Ok(cfg) = self.dp.dir.config() else {
            return pass;
        };
        for c in conns {
            let age = now.saturating_sub(c.conn.last_ns);
            if age > cfg.timeout_ns(c.conn.state) {
                continue;
            }
            let Some(key) = conn_key(&c.flow) else {
                continue;
            };
            if only_new && matches!(self.dp.dir.conn(&c.flow), Ok(Some(_))) {
                continue;
            }
            let age_ms = u32::try_from(age / 1_000_000).unwrap_or(u32::MAX);
            let Ok(e) = translate::to_entry(
                &old,
                key,
                u32::from(c.conn.svc),
                c.conn.dest,
                c.conn.state,
                age_ms,
            ) else {
                pass.dropped += 1;
                continue;
            };
            if c.half_open {
                // A handshake: only where its real server is in the table now
                // (a retransmitted SYN is scheduled again otherwise).
                match translate::to_local(&self.dp.plan, &e) {
                    Ok(l) => {
                        let conn = datapath::abi::Conn {
                            dest: l.dest,
                            svc: l.slot as u16,
                            ..c.conn
                        };
                        if self.dp.dir.set_half_open(&c.flow, conn).is_ok() {
                            pass.half_open += 1;
                        }
                    }
                    Err(_) => pass.dropped += 1,
                }
                continue;
            }
            match self.place(&e, c.conn.flags) {
                Ok(()) => pass.conns += 1,
                // Not in this table yet (or not configured): park it as a
                // shared entry waits.
                Err(InstallError::Translate(_)) => match self.install(&e) {
                    Ok(Placement::Waiting) => pass.waiting += 1,
                    _ => pass.dropped += 1,
                },
                Err(err) => {
                    warn!("restart: installing an adopted connection: {err}");
                    pass.dropped += 1;
                }
            }
        }
        for (k, v) in templates {
            let Some((slot, dest)) = translate::move_ids(&old, &self.dp.plan, k.svc_id, v.dest)
            else {
                continue;
            };
            let key = datapath::abi::PersistKey { svc_id: slot, ..k };
            let v = datapath::abi::Persist { dest, ..v };
            if self.dp.dir.set_persist(&key, v).is_ok() {
                pass.templates += 1;
            }
        }
        pass
    }

    /// Swaps this program onto the previous vipd's pinned link once the new
    /// tables hold the real servers of every adopted connection (none
    /// waiting), or after [`ADOPT_WAIT`]; `force`: now (stopping).
    fn maybe_swap_at(&mut self, force: bool) {
        let Some(a) = self.dp.adoption.as_ref() else {
            return;
        };
        let waited = a.since.elapsed();
        if !force && (!a.copied || (!self.dp.parked.is_empty() && waited < ADOPT_WAIT)) {
            return;
        }
        // The latest copy of the old tables, then the swap, then what the old
        // program added between the two.
        let before = self.adopt_pass(false);
        let mut a = self.dp.adoption.take().expect("checked");
        let Some(link) = a.pinned.link.take() else {
            return;
        };
        if let Err(e) = self.dp.dir.adopt_link(&self.spec.iface, a.mode, link) {
            error!(
                "restart: {e}; the previous vipd's program keeps forwarding from {} (remove that directory to detach it)",
                a.pinned.dir.display()
            );
            return;
        }
        self.dp.adoption = Some(a);
        let after = self.adopt_pass(true);
        let a = self.dp.adoption.take().expect("just put back");
        if let Err(e) = a.pinned.unpin() {
            warn!(
                "restart: removing the pins in {}: {e}",
                a.pinned.dir.display()
            );
        }
        let adopted = status::Adopted {
            conns: before.conns + after.conns,
            half_open: before.half_open + after.half_open,
            templates: before.templates,
            waiting: before.waiting,
            not_configured: before.dropped,
            old_program_ms: waited.as_millis() as u64,
        };
        info!(
            "restart: this vipd's program now runs on {} ({} connections, {} handshakes, {} templates carried over; {} waiting for their real server; the previous program forwarded {} ms more){}",
            self.spec.iface,
            adopted.conns,
            adopted.half_open,
            adopted.templates,
            adopted.waiting,
            adopted.old_program_ms,
            if force {
                ": stopping"
            } else if waited >= ADOPT_WAIT {
                ": waited long enough for the real servers"
            } else {
                ""
            }
        );
        self.dp.adopted = Some(adopted);
    }

    fn maybe_swap(&mut self) {
        self.maybe_swap_at(false);
    }

    /// The interface the data plane serves.
    pub fn iface(&self) -> &str {
        &self.spec.iface
    }

    /// Waits for the next health change. Cancel-safe.
    pub async fn next(&mut self) -> Update {
        self.health.next().await
    }

    /// Logs the events, runs their notify programs and writes changed tables.
    pub fn handle(&mut self, update: Update) {
        for (_, ev) in &update.events {
            match ev {
                Event::CheckFailing { .. } => info!("{ev}"),
                Event::RealDown { initial: true, .. } => info!("{ev}"),
                Event::RealDown { .. } | Event::QuorumLost { .. } => warn!("{ev}"),
                _ => info!("{ev}"),
            }
            if let Some(script) = ev.script() {
                crate::vrrp_io::notify::spawn_line(script, &[], self.spec.script_user.as_ref());
            }
        }
        if !update.plans.is_empty() {
            if let Err(e) = self.write_tables() {
                error!("data plane: writing the tables failed: {e}");
            }
            self.maybe_swap();
        }
    }

    /// Writes the current health plans to the data plane.
    fn write_tables(&mut self) -> Result<(), LvsError> {
        let plans = self.health.plans();
        // (service name, what the data plane serves), one per data-plane service.
        let mut wanted: Vec<(&str, plan::ServiceSpec)> = Vec::new();
        for (s, p) in self.spec.services.iter().zip(plans) {
            for d in &s.datapath {
                let mut reals = director::datapath_reals(p);
                // Overloaded (uthreshold): no new connections, old ones go on.
                for r in &mut reals {
                    let key = ((d.vip, d.port, d.proto), SocketAddr::new(r.rip, r.port));
                    if self.overloaded.contains(&key) {
                        r.weight = 0;
                    }
                }
                wanted.push((&s.health.name, plan::ServiceSpec { reals, ..d.clone() }));
            }
        }
        let specs: Vec<plan::ServiceSpec> = wanted.iter().map(|(_, d)| d.clone()).collect();
        let plan = self.dp.planner.plan(&specs)?;
        self.dp.dir.apply(&plan)?;
        for (name, svc) in &wanted {
            let old: Vec<_> = self
                .dp
                .plan
                .dests
                .iter()
                .filter(|d| {
                    self.dp
                        .plan
                        .services
                        .iter()
                        .any(|s| s.slot == d.slot && s.key == (svc.vip, svc.port, svc.proto))
                })
                .map(|d| (d.rip, d.port, d.weight))
                .collect();
            let new: Vec<_> = svc
                .reals
                .iter()
                .map(|r| (r.rip, r.port, r.weight))
                .collect();
            if old != new {
                let list: Vec<String> = svc
                    .reals
                    .iter()
                    .map(|r| format!("{}@{}", SocketAddr::new(r.rip, r.port), r.weight))
                    .collect();
                info!(
                    "{name}: data-plane table now [{}]",
                    if list.is_empty() {
                        "empty: no real server up".to_owned()
                    } else {
                        list.join(" ")
                    }
                );
            }
        }
        self.dp.plan = plan;
        self.baseline();
        self.place_parked();
        Ok(())
    }

    /// Remembers the counters of ids that are new in the plan, so that traffic
    /// is counted from the moment a real server (or service) gets its id, not
    /// from the next sample (an id may also be reused from a removed server).
    fn baseline(&mut self) {
        let dp = &mut self.dp;
        for s in &dp.plan.services {
            let acc = dp.services.entry(s.key).or_default();
            if acc.seen.map(|(id, _)| id) != Some(s.slot) {
                if let Ok(st) = dp.dir.service_stats(s.slot) {
                    acc.seen = Some((s.slot, st));
                }
            }
        }
        for d in &dp.plan.dests {
            let Some(acc) = real_account(&mut dp.reals, &dp.plan, d) else {
                continue;
            };
            if acc.seen.map(|(id, _)| id) != Some(d.id) {
                if let Ok(st) = dp.dir.dest_stats(d.id) {
                    acc.seen = Some((d.id, st));
                }
            }
        }
    }

    /// VRRP says whether this node is MASTER (`ha_suspend`).
    pub fn set_master(&mut self, master: bool) {
        if master != self.master {
            self.master = master;
            let u = self.health.set_master(master);
            self.handle(u);
        }
    }

    /// Applies a new spec: checkers keep what they know of unchanged real
    /// servers, the data plane keeps its ids (and so its connections).
    pub fn reload(&mut self, spec: LvsSpec) -> Result<(), LvsError> {
        if spec.iface != self.spec.iface {
            return Err(LvsError::Interfaces(format!(
                "{} (running on {}; restart vipd to move the data plane)",
                spec.iface, self.spec.iface
            )));
        }
        let rips: Vec<IpAddr> = spec.rips().into_iter().collect();
        match neigh::keep_resolved(&rips) {
            Ok(h) => self.dp.hops.extend(h),
            Err(e) => warn!("keeping next hops resolved: {e}"),
        }
        let update = self.health.reload(spec.health_specs(), seed(), self.master);
        if spec.timeouts != self.spec.timeouts {
            apply_timeouts(&mut self.dp.dir, spec.timeouts)?;
            info!(
                "data plane: connection timeouts now {:?} (lvs_timeouts)",
                spec.timeouts
            );
        }
        self.spec = spec;
        self.handle(update);
        self.write_tables()
    }

    /// Once a second: connection counts, counters and rates.
    pub fn sample(&mut self) {
        self.maybe_swap();
        // With the counts of the previous sample (a second old at most).
        self.check_thresholds();
        let dp = &mut self.dp;
        let secs = dp.last_sample.elapsed().as_secs_f64();
        dp.last_sample = Instant::now();
        match dp.dir.correct_conn_counts(datapath::coarse_now_ns()) {
            Ok(fill) => dp.fill = fill,
            Err(e) => warn!("data plane: counting connections: {e}"),
        }
        for s in &dp.plan.services {
            if let Ok(st) = dp.dir.service_stats(s.slot) {
                dp.services
                    .entry(s.key)
                    .or_default()
                    .observe(s.slot, st, secs);
            }
        }
        for d in &dp.plan.dests {
            let Some(acc) = real_account(&mut dp.reals, &dp.plan, d) else {
                continue;
            };
            if let Ok(st) = dp.dir.dest_stats(d.id) {
                acc.observe(d.id, st, secs);
            }
            if let Ok(c) = dp.dir.dest_conns(d.id) {
                acc.conns = c;
            }
        }

        if let Ok(c) = dp.dir.counters() {
            dp.counters = COUNTER_NAMES
                .iter()
                .zip(c)
                .map(|(n, v)| ((*n).to_owned(), v))
                .collect();
            let get = |n: &str| dp.counters.get(n).copied().unwrap_or(0);
            let sample = vipd_core::conntable::Sample {
                half_open_new: get("half_open_new"),
                promoted: get("promoted"),
                half_open_stale: get("half_open_stale"),
                half_open_present: dp.fill.half_open_present as u64,
            };
            match dp.flood.observe(datapath::monotonic(), sample) {
                Some(ev @ vipd_core::conntable::FloodEvent::Started { .. }) => warn!("{ev}"),
                Some(ev) => info!("{ev}"),
                None => {}
            }
        }
    }

    /// `uthreshold` / `lthreshold`: marks real servers overloaded or not from
    /// the connection counts just read, and rewrites the tables if that
    /// changed (overloaded ones keep their connections, take no new ones).
    fn check_thresholds(&mut self) {
        if self.spec.thresholds.is_empty() {
            return;
        }
        let mut changed = false;
        for (key, t) in &self.spec.thresholds {
            let conns = self.dp.reals.get(key).map_or(0, |a| {
                u64::from(a.conns.active) + u64::from(a.conns.inactive)
            });
            let was = self.overloaded.contains(key);
            let now = t.overloaded(was, conns);
            if now != was {
                changed = true;
                // The service's name as every other line gives it.
                let svc = self
                    .spec
                    .services
                    .iter()
                    .find(|s| s.serves(key.0))
                    .map_or_else(String::new, |s| s.health.name.clone());
                if now {
                    self.overloaded.insert(*key);
                    warn!(
                        "{svc}: real server {} overloaded: {conns} connections >= uthreshold {}; no new connections until it has fewer than {}",
                        key.1,
                        t.upper,
                        if t.lower > 0 { t.lower } else { t.upper * 3 / 4 }
                    );
                } else {
                    self.overloaded.remove(key);
                    info!(
                        "{svc}: real server {} no longer overloaded ({conns} connections): new connections again",
                        key.1
                    );
                }
            }
        }
        if changed {
            if let Err(e) = self.write_tables() {
                error!("data plane: writing the tables failed: {e}");
            }
        }
    }

    /// Fills health and traffic into the configuration's view of the services.
    /// Each data-plane service with how many real servers take its
    /// connections (in the table with a weight above 0, the sorry server
    /// not counted) and whether its sorry server does: what `vipd_announce`
    /// decides on.
    pub fn announce_states(&self) -> Vec<vipd_core::announce::ServiceState> {
        let health = self.health.status();
        let mut out = Vec::new();
        for (s, h) in self.spec.services.iter().zip(&health) {
            let sorry = s.health.sorry_server.as_ref().map(|x| x.addr);
            for d in &s.datapath {
                let slot = self
                    .dp
                    .plan
                    .services
                    .iter()
                    .find(|p| p.key == (d.vip, d.port, d.proto))
                    .map(|p| p.slot);
                let serving = self
                    .dp
                    .plan
                    .dests
                    .iter()
                    .filter(|x| {
                        Some(x.slot) == slot
                            && x.weight > 0
                            && Some(SocketAddr::new(x.rip, x.port)) != sorry
                    })
                    .count();
                out.push(vipd_core::announce::ServiceState {
                    vip: d.vip,
                    serving,
                    sorry: h.sorry_active,
                });
            }
        }
        out
    }

    /// The director program's kernel id.
    pub fn prog_id(&self) -> Option<u32> {
        self.dp.dir.prog_id()
    }

    pub fn fill(&self, st: &mut status::Status) {
        st.parts.checkers = true;
        st.parts.datapath = true;
        st.parts.datapath_attach = vec![self.dp.attach.clone()];
        st.counters = self.dp.counters.clone();
        let sizes = self.dp.dir.sizes();
        st.tables = Some(status::Tables {
            conns: self.dp.fill.conns as u64,
            conns_max: u64::from(sizes.conns),
            half_open: self.dp.fill.half_open as u64,
            half_open_max: u64::from(sizes.half_open),
            flood: self.dp.flood.status(),
            conns_map_id: self.dp.dir.map_id("conns"),
        });
        st.restart = self.dp.adopted;
        let health = self.health.status();
        for (s, h) in self.spec.services.iter().zip(&health) {
            let Some(svc) = st.services.iter_mut().find(|x| x.name == s.health.name) else {
                continue;
            };
            let Some(d) = s.datapath.first() else {
                continue;
            };
            // A group's members share real servers and tables: the first
            // member's say which are in; traffic is the members' sum.
            let key = (d.vip, d.port, d.proto);
            let keys: Vec<plan::ServiceKey> = s
                .datapath
                .iter()
                .map(|d| (d.vip, d.port, d.proto))
                .collect();
            svc.quorum_up = Some(h.quorum_up);
            svc.checks_suspended = h.suspended;
            svc.sorry_active = h.sorry_active;
            svc.traffic = status::Traffic::sum(
                keys.iter()
                    .filter_map(|k| self.dp.services.get(k))
                    .map(|a| a.traffic()),
            );
            let slot = self
                .dp
                .plan
                .services
                .iter()
                .find(|s| s.key == key)
                .map(|s| s.slot);
            let in_table = |addr: SocketAddr| {
                self.dp
                    .plan
                    .dests
                    .iter()
                    .find(|d| Some(d.slot) == slot && SocketAddr::new(d.rip, d.port) == addr)
            };
            for r in &mut svc.reals {
                if let Some(hr) = h.reals.iter().find(|x| x.addr == r.addr) {
                    r.alive = Some(hr.alive);
                    r.checkers = hr
                        .checkers
                        .iter()
                        .map(|c| status::Checker {
                            kind: c.kind.to_owned(),
                            target: c.target,
                            up: c.up,
                            has_run: c.has_run,
                            last_failure: c.last_failure.clone(),
                        })
                        .collect();
                    r.last_failure = hr.checkers.iter().find_map(|c| c.last_failure.clone());
                }
            }
            // The sorry server, when the table holds it.
            if let Some(sorry) = s.health.sorry_server.as_ref() {
                if !svc.reals.iter().any(|r| r.addr == sorry.addr) {
                    let forward = d
                        .forward_of
                        .get(&(sorry.addr.ip(), sorry.addr.port()))
                        .map_or_else(|| svc.lb_kind.clone(), |f| f.to_string());
                    svc.reals.push(status::Real {
                        addr: sorry.addr,
                        forward,
                        in_table: false,
                        weight: 0,
                        configured_weight: sorry.weight,
                        sorry: true,
                        alive: None,
                        active_conns: 0,
                        inactive_conns: 0,
                        traffic: status::Traffic::default(),
                        checkers: Vec::new(),
                        last_failure: None,
                    });
                }
            }
            for r in &mut svc.reals {
                if let Some(d) = in_table(r.addr) {
                    r.in_table = true;
                    r.weight = d.weight;
                } else {
                    r.in_table = false;
                    r.weight = 0;
                }
                let per_member: Vec<_> = keys
                    .iter()
                    .filter_map(|k| self.dp.reals.get(&(*k, r.addr)))
                    .collect();
                r.traffic = status::Traffic::sum(per_member.iter().map(|a| a.traffic()));
                if r.in_table {
                    r.active_conns = per_member.iter().map(|a| u64::from(a.conns.active)).sum();
                    r.inactive_conns = per_member.iter().map(|a| u64::from(a.conns.inactive)).sum();
                }
            }
            if !svc.group.is_empty() {
                svc.members = keys.iter().map(|k| self.member(*k, &svc.reals)).collect();
            }
        }
    }

    /// One group member's own figures (`ipvsadm -Ln` lists each member).
    fn member(&self, k: plan::ServiceKey, reals: &[status::Real]) -> status::GroupMember {
        status::GroupMember {
            addr: SocketAddr::new(k.0, k.1),
            traffic: self
                .dp
                .services
                .get(&k)
                .map(|a| a.traffic())
                .unwrap_or_default(),
            reals: reals
                .iter()
                .filter(|r| r.in_table)
                .map(|r| {
                    let a = self.dp.reals.get(&(k, r.addr));
                    status::MemberReal {
                        addr: r.addr,
                        active_conns: a.map_or(0, |a| u64::from(a.conns.active)),
                        inactive_conns: a.map_or(0, |a| u64::from(a.conns.inactive)),
                        traffic: a.map(|a| a.traffic()).unwrap_or_default(),
                    }
                })
                .collect(),
        }
    }

    /// The director, for the sharing part (ring buffer, sync flag).
    pub fn director_mut(&mut self) -> &mut Director {
        &mut self.dp.dir
    }

    /// The wire entry of a connection the data plane promoted.
    pub fn sync_entry(&self, ev: &datapath::abi::SyncEvent) -> Result<Entry, TranslateError> {
        let key = conn_key(&ev.flow).ok_or(TranslateError::State(ev.state))?;
        translate::to_entry(&self.dp.plan, key, u32::from(ev.svc), ev.dest, ev.state, 0)
    }

    /// Installs a connection shared by another director in the connection
    /// table (and its persistence template), marked as the peer's. An entry
    /// whose real server is not in this director's table yet (not checked
    /// yet, or down) waits until it is (`Ok(false)`).
    pub fn install(&mut self, e: &Entry) -> Result<Placement, InstallError> {
        match translate::to_local(&self.dp.plan, e) {
            Ok(_) => {
                self.place(e, datapath::abi::CONN_F_PEER)?;
                Ok(Placement::Installed)
            }
            Err(err @ (TranslateError::UnknownReal(_) | TranslateError::UnknownService(_))) => {
                self.dp.parked.park(datapath::monotonic(), *e);
                // Down or not checked yet is normal on a BACKUP; not in the
                // configuration at all means the directors' files differ.
                let configured = self.spec.services.iter().any(|s| {
                    let h = &s.health;
                    s.serves((e.vip, e.vport, e.proto))
                        && h.reals
                            .iter()
                            .map(|r| r.addr)
                            .chain(h.sorry_server.as_ref().map(|s| s.addr))
                            .any(|a| a == SocketAddr::new(e.rip, e.rport))
                });
                Ok(if configured {
                    Placement::Waiting
                } else {
                    Placement::NotConfigured(err)
                })
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Entries waiting for their real server, and those given up.
    pub fn parked(&self) -> (usize, u64) {
        (self.dp.parked.len(), self.dp.parked.dropped)
    }

    /// Installs the waiting entries whose real server is in the table now.
    fn place_parked(&mut self) {
        if self.dp.parked.is_empty() {
            return;
        }
        let placeable = self.dp.parked.take_placeable(
            datapath::monotonic(),
            &self.dp.plan,
            std::time::Duration::from_secs(u64::from(
                self.dp
                    .dir
                    .config()
                    .map_or(datapath::abi::Config::default().tcp_timeout, |c| {
                        c.tcp_timeout
                    }),
            )),
        );
        let n = placeable.len();
        for e in placeable {
            if let Err(err) = self.place(&e, datapath::abi::CONN_F_PEER) {
                warn!("connection sharing: installing a waiting entry: {err}");
            }
        }
        if n > 0 {
            info!("{n} waiting connections (shared by a peer, or adopted at a restart) installed now that their real servers are in the table");
        }
    }

    /// Writes `e` into the connection table with `flags` (`CONN_F_PEER`: the
    /// other director's) and its persistence template.
    fn place(&mut self, e: &Entry, flags: u8) -> Result<(), InstallError> {
        let l = translate::to_local(&self.dp.plan, e)?;
        let now = datapath::coarse_now_ns();
        let flow = flow_of(&l.key);
        let conn = datapath::abi::Conn {
            last_ns: now.saturating_sub(u64::from(e.age_ms) * 1_000_000),
            dest: l.dest,
            state: e.state.number(),
            flags,
            svc: l.slot as u16,
        };
        self.dp.dir.set_conn(&flow, conn)?;
        // NAT: the replies need their translation before the first client
        // packet reaches this director (the data plane writes it then too).
        let nat = self
            .dp
            .plan
            .dests
            .iter()
            .any(|d| d.id == l.dest && d.forward == plan::Forward::Nat);
        if nat {
            let rport = if e.rport != 0 { e.rport } else { e.dport };
            let reply = datapath::abi::Flow {
                src: datapath::abi::addr_words(e.rip),
                dst: flow.src,
                sport: rport.to_be(),
                dport: flow.sport,
                ..flow
            };
            let v = datapath::abi::NatRev {
                vip: flow.dst,
                vport: flow.dport,
                svc: l.slot,
                dest: l.dest,
                ..Default::default()
            };
            self.dp.dir.set_nat_rev(&reply, v)?;
        }
        if let Some(client) = l.persist {
            let key = datapath::abi::PersistKey {
                client: datapath::abi::addr_words(client),
                svc_id: l.slot,
                family: flow.family,
                _pad: [0; 3],
            };
            let v = datapath::abi::Persist {
                last_ns: conn.last_ns,
                dest: l.dest,
                _pad: 0,
            };
            self.dp.dir.set_persist(&key, v)?;
        }
        Ok(())
    }

    /// Live connections of the connection table as wire entries, those for
    /// which `pick(flow hash, conn)` says so (a dump: all; a refresh: this
    /// second's share of the ones this director forwards).
    pub fn shared_entries(
        &self,
        dump: bool,
        pick: &dyn Fn(u64, &datapath::abi::Conn) -> bool,
    ) -> Vec<Entry> {
        let now = datapath::coarse_now_ns();
        let Ok(cfg) = self.dp.dir.config() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let _ = self.dp.dir.for_each_conn("conns", &mut |f, c| {
            let age = now.saturating_sub(c.last_ns);
            if age > cfg.timeout_ns(c.state) {
                return;
            }
            let h = f
                .src
                .iter()
                .chain(&f.dst)
                .fold(u64::from(f.sport) << 16 | u64::from(f.dport), |h, w| {
                    (h ^ u64::from(*w)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                });
            if !pick(h, &c) {
                return;
            }
            let Some(key) = conn_key(f) else { return };
            let age_ms = u32::try_from(age / 1_000_000).unwrap_or(u32::MAX);
            if let Ok(e) = translate::to_entry(
                &self.dp.plan,
                key,
                u32::from(c.svc),
                c.dest,
                c.state,
                age_ms,
            ) {
                out.push(e);
            }
        });
        if dump {
            out.extend(self.dp.parked.entries().copied());
        }
        out
    }

    /// The connection tables as `ipvsadm -Lnc` lists them (at most `max`
    /// rows, established first).
    pub fn conn_rows(&self, max: usize) -> Vec<status::ConnRow> {
        let now = datapath::coarse_now_ns();
        let Ok(cfg) = self.dp.dir.config() else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (map, table) in [("conns", "established"), ("half_open", "half-open")] {
            let _ = self.dp.dir.for_each_conn(map, &mut |f, c| {
                let age = now.saturating_sub(c.last_ns);
                let timeout = cfg.timeout_ns(c.state);
                if age > timeout || rows.len() >= max {
                    return;
                }
                let (Some(k), Some(d)) = (
                    conn_key(f),
                    self.dp.plan.dests.iter().find(|d| d.id == c.dest),
                ) else {
                    return;
                };
                use datapath::abi::conn_state as cs;
                let state = match c.state {
                    cs::SYN => "SYN_RECV",
                    cs::ESTABLISHED => "ESTABLISHED",
                    cs::FIN => "FIN_WAIT",
                    cs::CLOSE => "CLOSE",
                    cs::UDP => "UDP",
                    _ => "NONE",
                };
                rows.push(status::ConnRow {
                    proto: match k.proto {
                        plan::Proto::Tcp => "TCP".into(),
                        plan::Proto::Udp => "UDP".into(),
                    },
                    expire_secs: (timeout - age) / 1_000_000_000,
                    state: state.into(),
                    source: SocketAddr::new(k.client, k.cport),
                    virtual_addr: SocketAddr::new(k.vip, k.dport),
                    destination: SocketAddr::new(d.rip, d.port),
                    table: table.into(),
                    from_peer: c.flags & datapath::abi::CONN_F_PEER != 0,
                });
            });
        }
        rows
    }

    /// Stops: omega notify programs, next-hop entries released, program
    /// detached (by dropping the director).
    pub fn stop(mut self) {
        if let Some(a) = self.dp.adoption.take() {
            // Stopped before the swap: the previous program goes too.
            let _ = a.pinned.unpin();
            info!(
                "data plane: the previous vipd's program detached from {}",
                self.spec.iface
            );
        }
        for (_, ev) in self.health.shutdown() {
            info!("{ev}");
            if let Some(script) = ev.script() {
                crate::vrrp_io::notify::spawn_line(script, &[], self.spec.script_user.as_ref());
            }
        }
        neigh::release(&self.dp.hops);
        let attach = self.dp.attach.clone();
        drop(self);
        info!("data plane: XDP director detached from {attach}");
    }

    /// Stops for a restart of vipd: the program stays attached and forwards
    /// with its last tables, pinned with them in bpffs for the next vipd to
    /// adopt; the checkers stop without running notify programs (the real
    /// servers stay in the table); next hops stay managed. Returns the pin
    /// directory and how the program is attached.
    pub fn handover(mut self) -> Result<(std::path::PathBuf, XdpMode), LvsError> {
        // A restart before the previous one finished: take the link first.
        self.maybe_swap_at(true);
        let _ = self.health.shutdown();
        let root = pin::root()?;
        let dir = pin::dir(&root, &self.spec.iface);
        let mode = self.dp.dir.attached().map_or(XdpMode::Skb, |(_, m)| *m);
        self.dp.dir.pin_for_restart(&dir)?;
        info!(
            "data plane: XDP director left running on {} for the next vipd, its tables pinned in {}",
            self.spec.iface,
            dir.display()
        );
        Ok((dir, mode))
    }
}
