//! The VRRP event loop: feeds received adverts, timer expiries, link changes and
//! script results into `vipd_core::vrrp::Node`, and performs its actions (send
//! adverts, add/remove VIPs, gratuitous ARP, log + notify). On shutdown (the
//! caller's future, e.g. SIGTERM) a MASTER sends priority 0 and removes its VIPs
//! before `run` returns.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::mem::Discriminant;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rtnetlink::Handle;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use vipd_core::vrrp::packet::{self, DatagramError};
use vipd_core::vrrp::{Action, Discard, Instance, Node, ScriptVerdict, State, Track, TrackKind};

use super::garp::PacketSocket;
use super::socket::{Received6, VrrpSocket, VrrpSocket6};
use super::{netlink, notify, NotifySpec, VrrpIoError, VrrpSpec};

/// How long an IPv6 instance waits at start for its interface's link-local
/// address (carrier, then duplicate address detection).
const LINK_LOCAL_WAIT: Duration = Duration::from_secs(10);
/// How often tracked interfaces are polled.
const LINK_POLL: Duration = Duration::from_millis(100);
/// At most one log line per kind of discarded advert per instance this often.
const DISCARD_LOG_EVERY: Duration = Duration::from_secs(10);

/// A VIP resolved to its interface.
#[derive(Debug)]
struct Vip {
    addr: IpAddr,
    prefix_len: u8,
    ifindex: u32,
    label: Option<String>,
    deprecated: bool,
    mac: [u8; 6],
    garp: std::sync::Arc<PacketSocket>,
}

/// An instance's IO side.
#[derive(Debug)]
struct InstanceIo {
    socket: std::sync::Arc<Sock>,
    vips: Vec<Vip>,
    notify: NotifySpec,
    /// Gratuitous ARPs waiting for their slot (`vrrp_garp_interval`);
    /// aborted when the instance removes its VIPs.
    garp_pending: Vec<tokio::task::JoinHandle<()>>,
}

/// An instance's raw VRRP socket, by its family.
#[derive(Debug)]
enum Sock {
    V4(VrrpSocket),
    V6(VrrpSocket6),
}

enum Event {
    Packet(usize, Vec<u8>),
    /// An advert over IPv6: the message and what the socket reported.
    Packet6(usize, Vec<u8>, Received6),
    Script(usize, bool),
}

/// One instance's state, as published to an observer (the daemon's `vipd status`
/// and `ha_suspend`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// `vrrp_instance` name.
    pub name: String,
    /// Current state.
    pub state: State,
    /// Priority after tracking, as advertised.
    pub effective_priority: u8,
    /// How long after a stop without priority 0 no backup can have taken
    /// over ([`vipd_core::vrrp::Instance::takeover_margin`]).
    pub takeover_margin: Duration,
}

/// How the node stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: a MASTER sends priority 0 and removes its VIPs.
    Clean,
    /// SIGQUIT, a restart of vipd: VIPs stay, no priority 0 (the next process
    /// resumes).
    Handover,
}

/// Runs the node until `shutdown` resolves, then stops it cleanly.
pub async fn run(spec: VrrpSpec, shutdown: impl Future<Output = ()>) -> Result<(), VrrpIoError> {
    run_observed(
        spec,
        Vec::new(),
        async move {
            shutdown.await;
            Stop::Clean
        },
        None,
    )
    .await
}

fn publish(node: &Node, observer: Option<&tokio::sync::watch::Sender<Vec<InstanceState>>>) {
    let Some(tx) = observer else { return };
    let now: Vec<InstanceState> = node
        .instances()
        .iter()
        .map(|i| InstanceState {
            name: i.name().to_string(),
            state: i.state(),
            effective_priority: i.effective_priority(),
            takeover_margin: i.takeover_margin(),
        })
        .collect();
    tx.send_if_modified(|old| {
        if *old == now {
            false
        } else {
            *old = now;
            true
        }
    });
}

/// [`run`], publishing every instance's state to `observer` after each change.
///
/// The instances named in `resume` start as MASTER at once and keep the VIPs
/// they hold (vipd restarted while they were MASTER); the others start clean,
/// as BACKUP.
pub async fn run_observed(
    spec: VrrpSpec,
    resume: Vec<String>,
    shutdown: impl Future<Output = Stop>,
    observer: Option<tokio::sync::watch::Sender<Vec<InstanceState>>>,
) -> Result<(), VrrpIoError> {
    let observer = observer.as_ref();
    let (conn, handle, _) = rtnetlink::new_connection().map_err(VrrpIoError::NetlinkOpen)?;
    tokio::spawn(conn);

    let mut instances = Vec::new();
    let mut ios = Vec::new();
    for spec_inst in &spec.instances {
        let (inst, io) = resolve(&handle, spec_inst).await?;
        instances.push(inst);
        ios.push(io);
    }
    let groups: Vec<_> = spec.groups.iter().map(|(g, _)| g.clone()).collect();
    let mut node = Node::new(instances, &groups)?;

    // A node killed while MASTER left its VIPs behind: start clean, as BACKUP
    // (unless it resumes after a restart: then the VIPs are its own).
    for (io, inst) in ios.iter().zip(&spec.instances) {
        if resume.contains(&inst.core.name) {
            continue;
        }
        for vip in &io.vips {
            netlink::del_address(&handle, vip.ifindex, vip.addr, vip.prefix_len).await?;
        }
    }

    let (tx, mut rx) = mpsc::channel::<Event>(256);
    let mut tasks = Vec::new();
    for (idx, io) in ios.iter().enumerate() {
        let socket = io.socket.clone();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            // An IPv6 advert with 255 addresses is 4,088 bytes.
            let mut buf = vec![0u8; 4096];
            loop {
                let got = match &*socket {
                    Sock::V4(s) => s
                        .recv(&mut buf)
                        .await
                        .map(|n| Event::Packet(idx, buf[..n].to_vec())),
                    Sock::V6(s) => s
                        .recv(&mut buf)
                        .await
                        .map(|r| Event::Packet6(idx, buf[..r.len].to_vec(), r)),
                };
                match got {
                    Ok(ev) => {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!("receiving adverts: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    let mut verdicts = Vec::new();
    for (idx, script) in spec.scripts.iter().enumerate() {
        verdicts.push(ScriptVerdict::new(
            script.rise,
            script.fall,
            script.init_fail,
        ));
        let tx = tx.clone();
        let script = script.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let ok =
                    notify::run_check(&script.script, script.timeout, script.user.as_ref()).await;
                if tx.send(Event::Script(idx, ok)).await.is_err() {
                    return;
                }
                tokio::time::sleep(script.interval).await;
            }
        }));
    }
    drop(tx);

    // Initial link state of every tracked interface, before the start decides
    // between BACKUP and FAULT.
    let tracked: BTreeSet<String> = node
        .instances()
        .iter()
        .flat_map(|i| i.config().track.iter())
        .filter(|t| t.kind == TrackKind::Interface)
        .map(|t| t.name.clone())
        .collect();
    let mut link_up: HashMap<String, bool> = HashMap::new();
    for name in &tracked {
        let up = netlink::link(&handle, name)
            .await
            .map(|l| l.up)
            .unwrap_or(false);
        link_up.insert(name.clone(), up);
        if !up {
            node.set_tracked(Instant::now(), TrackKind::Interface, name, false);
        }
    }
    for (idx, s) in spec.scripts.iter().enumerate() {
        if !verdicts[idx].is_up() {
            node.set_tracked(Instant::now(), TrackKind::Script, &s.name, false);
        }
    }

    let mut driver = Driver {
        handle: handle.clone(),
        ios,
        group_notify: spec
            .groups
            .iter()
            .map(|(g, n)| (g.members.clone(), g.name.clone(), n.clone()))
            .collect(),
        group_state: vec![State::Init; spec.groups.len()],
        discard_logged: HashMap::new(),
        garp_interval: spec.garp_interval,
        garp_pacer: Default::default(),
        gna_interval: spec.gna_interval,
        gna_pacer: Default::default(),
    };
    info!(
        "VRRP starting: {}",
        node.instances()
            .iter()
            .map(|i| format!(
                "{} (vrid {}, {} {}, priority {}, advert_int {:?})",
                i.name(),
                i.config().vrid,
                i.config().interface,
                i.config().primary_ip,
                i.config().priority,
                i.config().advert_int
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    tokio::pin!(shutdown);
    // `vrrp_startup_delay` (not when resuming after a restart: the VIPs are
    // held and must keep being advertised).
    if !spec.startup_delay.is_zero() && resume.is_empty() {
        info!(
            "VRRP waits {:?} before starting (vrrp_startup_delay)",
            spec.startup_delay
        );
        tokio::select! {
            () = tokio::time::sleep(spec.startup_delay) => {}
            _ = &mut shutdown => {
                for t in tasks {
                    t.abort();
                }
                return Ok(());
            }
        }
    }
    node.start_resuming(Instant::now(), &resume);
    driver.perform_all(&mut node).await;
    publish(&node, observer);

    let mut link_poll = tokio::time::interval(LINK_POLL);
    let stop = loop {
        let deadline = node.poll_timeout();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            how = &mut shutdown => break how,
            () = sleep => node.handle_timeout(Instant::now()),
            Some(event) = rx.recv() => match event {
                Event::Packet(idx, bytes) => driver.received(&mut node, idx, &bytes),
                Event::Packet6(idx, msg, r) => driver.received6(&mut node, idx, &msg, r),
                Event::Script(idx, ok) => {
                    if let Some(up) = verdicts[idx].observe(ok) {
                        let name = &spec.scripts[idx].name;
                        info!("vrrp_script {name} is now {}", if up { "up" } else { "down" });
                        node.set_tracked(Instant::now(), TrackKind::Script, name, up);
                    }
                }
            },
            _ = link_poll.tick(), if !tracked.is_empty() => {
                for name in &tracked {
                    let up = netlink::link(&handle, name).await.map(|l| l.up).unwrap_or(false);
                    if link_up.insert(name.clone(), up) != Some(up) {
                        info!("tracked interface {name} is now {}", if up { "up" } else { "down" });
                        node.set_tracked(Instant::now(), TrackKind::Interface, name, up);
                    }
                }
            }
        }
        driver.perform_all(&mut node).await;
        publish(&node, observer);
    };

    match stop {
        Stop::Clean => {
            info!("VRRP shutting down");
            node.shutdown(Instant::now());
        }
        Stop::Handover => {
            info!("VRRP stopping for a restart: VIPs kept, no priority-0 advert");
            node.handover(Instant::now());
        }
    }
    driver.perform_all(&mut node).await;
    publish(&node, observer);
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// Resolves interface facts and opens the sockets of one instance.
async fn resolve(
    handle: &Handle,
    spec: &super::InstanceSpec,
) -> Result<(Instance, InstanceIo), VrrpIoError> {
    let mut core = spec.core.clone();
    let link = netlink::link(handle, &core.interface).await?;
    let v6 = core.primary_ip.is_ipv6();
    if core.primary_ip.is_unspecified() && v6 {
        // RFC 5798 §5.1.2.1: IPv6 adverts come from the link-local address,
        // which the kernel creates when the link gets a carrier and which
        // is usable after duplicate address detection (about a second):
        // wait a little for it, as at boot, before giving up.
        let own: Vec<IpAddr> = spec.vips.iter().map(|v| v.addr).collect();
        let deadline = std::time::Instant::now() + LINK_LOCAL_WAIT;
        core.primary_ip = loop {
            if let Some(a) = netlink::ipv6_link_local(handle, link.index, &own).await? {
                break a.into();
            }
            if std::time::Instant::now() >= deadline {
                return Err(VrrpIoError::NoPrimaryAddress {
                    instance: core.name.clone(),
                    interface: core.interface.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
    } else if core.primary_ip.is_unspecified() {
        let addrs = netlink::ipv4_addresses(handle, link.index).await?;
        // Our own VIPs are not a primary address.
        core.primary_ip = addrs
            .iter()
            .map(|(a, _)| IpAddr::V4(*a))
            .find(|a| !core.vips.contains(a))
            .ok_or_else(|| VrrpIoError::NoPrimaryAddress {
                instance: core.name.clone(),
                interface: core.interface.clone(),
            })?;
    }
    if spec.track_primary
        && !core
            .track
            .iter()
            .any(|t| t.kind == TrackKind::Interface && t.name == core.interface)
    {
        core.track.push(Track {
            kind: TrackKind::Interface,
            name: core.interface.clone(),
            weight: 0,
            reverse: false,
        });
    }
    let socket_err = |what| {
        let instance = core.name.clone();
        move |source| VrrpIoError::Socket {
            instance,
            what,
            source,
        }
    };
    let unicast = !core.unicast_peers.is_empty();
    let socket = match (core.primary_ip, core.mcast_group) {
        (IpAddr::V4(src), IpAddr::V4(group)) => {
            VrrpSocket::open(&core.interface, link.index, src, unicast, group).map(Sock::V4)
        }
        (IpAddr::V6(src), IpAddr::V6(group)) => {
            VrrpSocket6::open(&core.interface, link.index, src, unicast, group).map(Sock::V6)
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the source address and the multicast group are of different families",
        )),
    }
    .map_err(socket_err("opening the raw VRRP socket (protocol 112)"))?;
    let mut vips = Vec::new();
    for v in &spec.vips {
        let dev = match &v.dev {
            Some(dev) if *dev != link.name => netlink::link(handle, dev).await?,
            _ => link.clone(),
        };
        vips.push(Vip {
            addr: v.addr,
            prefix_len: v.prefix_len,
            ifindex: dev.index,
            label: v.label.clone(),
            deprecated: v.deprecated,
            mac: dev.mac,
            garp: std::sync::Arc::new(PacketSocket::open(dev.index).map_err(socket_err(
                "opening the packet socket for gratuitous ARP / neighbor advertisements",
            ))?),
        });
    }
    let inst = Instance::new(core)?;
    Ok((
        inst,
        InstanceIo {
            socket: std::sync::Arc::new(socket),
            vips,
            notify: spec.notify.clone(),
            garp_pending: Vec::new(),
        },
    ))
}

struct Driver {
    handle: Handle,
    ios: Vec<InstanceIo>,
    group_notify: Vec<(Vec<String>, String, NotifySpec)>,
    group_state: Vec<State>,
    discard_logged: HashMap<(usize, Discriminant<Discard>), Instant>,
    garp_interval: Duration,
    garp_pacer: vipd_core::vrrp::arp::GarpPacer,
    gna_interval: Duration,
    gna_pacer: vipd_core::vrrp::arp::GarpPacer,
}

impl Driver {
    fn received(&mut self, node: &mut Node, idx: usize, bytes: &[u8]) {
        let inst = &node.instances()[idx];
        let name = inst.name().to_string();
        let vrid = inst.config().vrid;
        let v3_as_v2 = inst.config().v3_checksum_as_v2;
        // Other virtual routers share the socket's traffic: skip them quietly.
        if let Ok((_, hl)) = vipd_core::vrrp::frame::Ipv4Repr::parse(bytes) {
            if bytes.get(hl + 1).is_some_and(|v| *v != vrid) {
                return;
            }
        }
        let rx = match packet::parse_datagram(bytes, v3_as_v2) {
            Ok(rx) => rx,
            Err(DatagramError::Ip(e)) => {
                debug!("{name}: not a VRRP datagram: {e}");
                return;
            }
            Err(e) => {
                warn!("VRRP {name}: discarded an advert: {e}");
                return;
            }
        };
        self.handle_received(node, idx, rx);
    }

    /// An advert that came over IPv6 (`msg`: the VRRP message).
    fn received6(&mut self, node: &mut Node, idx: usize, msg: &[u8], r: Received6) {
        let inst = &node.instances()[idx];
        let name = inst.name().to_string();
        if msg.get(1).is_some_and(|v| *v != inst.config().vrid) {
            return;
        }
        match packet::parse_ipv6(msg, r.src, r.dst, r.hop_limit) {
            Ok(rx) => self.handle_received(node, idx, rx),
            Err(e) => warn!("VRRP {name}: discarded an advert from {}: {e}", r.src),
        }
    }

    fn handle_received(&mut self, node: &mut Node, idx: usize, rx: packet::Received) {
        let inst = &node.instances()[idx];
        let name = inst.name().to_string();
        let interface = inst.config().interface.clone();
        let Some((_, result)) = node.handle_packet(Instant::now(), &interface, &rx) else {
            return;
        };
        match result {
            Ok(vipd_core::vrrp::Accepted::Reasserted) => {
                info!(
                "VRRP {name}: heard lower-priority master {} (priority {}): re-asserting with an advert and gratuitous ARP",
                rx.src, rx.repr.priority
            );
                if let Some(script) = &self.ios[idx].notify.master_rx_lower_pri {
                    notify::spawn(script, &[]);
                }
            }
            Ok(_) => {}
            Err(d) if d.is_noise() => {}
            Err(d) => {
                let key = (idx, std::mem::discriminant(&d));
                let now = Instant::now();
                let due = self
                    .discard_logged
                    .get(&key)
                    .is_none_or(|t| now.duration_since(*t) >= DISCARD_LOG_EVERY);
                if due {
                    self.discard_logged.insert(key, now);
                    warn!("VRRP {name}: discarded an advert: {d}");
                }
            }
        }
    }

    /// `count` gratuitous ARPs for each VIP of instance `idx`: now, or with
    /// `vrrp_garp_interval` each in its slot on its interface (for an IPv6 VIP,
    /// neighbour advertisements with `vrrp_gna_interval`).
    fn send_garps(&mut self, name: &str, idx: usize, count: u32) {
        let now = Instant::now();
        let io = &mut self.ios[idx];
        io.garp_pending.retain(|t| !t.is_finished());
        for vip in &io.vips {
            let slots = match vip.addr {
                IpAddr::V4(_) => self
                    .garp_pacer
                    .slots(vip.ifindex, now, self.garp_interval, count),
                IpAddr::V6(_) => self
                    .gna_pacer
                    .slots(vip.ifindex, now, self.gna_interval, count),
            };
            for at in slots {
                let (garp, mac, addr, name) =
                    (vip.garp.clone(), vip.mac, vip.addr, name.to_owned());
                let send = move || {
                    let sent = match addr {
                        IpAddr::V4(a) => garp.announce(mac, a, 1),
                        // IPv6: an unsolicited neighbor advertisement.
                        IpAddr::V6(a) => {
                            garp.send_broadcast(&vipd_core::vrrp::nd::unsolicited_na_frame(mac, a))
                        }
                    };
                    if let Err(e) = sent {
                        warn!("VRRP {name}: announcing {addr} (gratuitous ARP / NA): {e}");
                    }
                };
                if at <= now {
                    send();
                } else {
                    io.garp_pending.push(tokio::spawn(async move {
                        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                        send();
                    }));
                }
            }
        }
    }

    async fn perform_all(&mut self, node: &mut Node) {
        while let Some((idx, action)) = node.poll_action() {
            self.perform(node, idx, action).await;
        }
    }

    async fn perform(&mut self, node: &Node, idx: usize, action: Action) {
        let inst = &node.instances()[idx];
        if let Action::SendGarp { count } = action {
            return self.send_garps(inst.name(), idx, count);
        }
        if let Action::RemoveVips = action {
            let io = &mut self.ios[idx];
            if !io.garp_pending.is_empty() {
                for t in io.garp_pending.drain(..) {
                    t.abort();
                }
                // The cancelled announcements' slots are free again.
                for vip in &io.vips {
                    self.garp_pacer.release(vip.ifindex);
                    self.gna_pacer.release(vip.ifindex);
                }
            }
        }
        let io = &self.ios[idx];
        match action {
            Action::SendAdvert(repr) => {
                for dst in inst.destinations() {
                    let msg = inst.encode_advert(&repr, dst);
                    let sent = match (&*io.socket, dst) {
                        (Sock::V4(s), IpAddr::V4(d)) => s.send_to(&msg, d),
                        (Sock::V6(s), IpAddr::V6(d)) => s.send_to(&msg, d),
                        _ => Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "destination of the other family",
                        )),
                    };
                    if let Err(e) = sent {
                        warn!("VRRP {}: sending an advert to {dst}: {e}", inst.name());
                    }
                }
            }
            Action::AddVips => {
                for vip in &io.vips {
                    if let Err(e) = netlink::add_address(
                        &self.handle,
                        vip.ifindex,
                        vip.addr,
                        vip.prefix_len,
                        vip.label.as_deref(),
                        vip.deprecated,
                    )
                    .await
                    {
                        warn!("VRRP {}: {e}", inst.name());
                    }
                }
            }
            Action::RemoveVips => {
                for vip in &io.vips {
                    if let Err(e) =
                        netlink::del_address(&self.handle, vip.ifindex, vip.addr, vip.prefix_len)
                            .await
                    {
                        warn!("VRRP {}: {e}", inst.name());
                    }
                }
            }
            Action::SendGarp { .. } => unreachable!("sent above"),
            Action::StateChanged { from, to, reason } => {
                info!(
                    "VRRP {} (vrid {}, {}): {from} -> {to}: {reason}",
                    inst.name(),
                    inst.config().vrid,
                    inst.config().interface
                );
                notify::run_notify(
                    &io.notify,
                    "INSTANCE",
                    inst.name(),
                    to,
                    inst.effective_priority(),
                );
                self.group_changed(node);
            }
        }
    }

    /// Runs a sync group's notify scripts when all its members agree on a new state.
    fn group_changed(&mut self, node: &Node) {
        for (g, (members, name, spec)) in self.group_notify.iter().enumerate() {
            let states: BTreeSet<_> = node
                .instances()
                .iter()
                .filter(|i| members.iter().any(|m| m == i.name()))
                .map(|i| i.state() as u8)
                .collect();
            if states.len() != 1 {
                continue;
            }
            let Some(state) = node
                .instances()
                .iter()
                .find(|i| members.iter().any(|m| m == i.name()))
                .map(|i| i.state())
            else {
                continue;
            };
            if self.group_state[g] != state {
                self.group_state[g] = state;
                info!("VRRP sync group {name}: all members {state}");
                notify::run_notify(spec, "GROUP", name, state, 0);
            }
        }
    }
}
