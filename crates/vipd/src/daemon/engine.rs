//! The daemon's event loop. One task owns all state (configuration, parts,
//! counters); signals, control-socket requests and the parts' own events arrive
//! on channels and are handled one at a time, so nothing needs a lock and a
//! status snapshot is always consistent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vipd_core::config::{Config, VsKey};
use vipd_core::reload;

use super::announce::AnnouncePart;
use super::load::{self, Checked, Parts};
use super::lvs::LvsPart;
use super::sharing::{self, SharingPart};
use super::statics::StaticsPart;
use super::status::{self, Status};
use super::vrrp::VrrpPart;
use super::DaemonArgs;
use crate::ctl::{self, server::Pending, Request, Response};
use crate::vrrp_io::driver::Stop;

/// What the loop needs from the command line.
#[derive(Debug)]
pub struct Options {
    /// The configuration file (re-read on reload).
    pub file: String,
    /// `-i`.
    pub config_id: Option<String>,
    /// Which parts run.
    pub parts: Parts,
    /// The remaining flags.
    pub args: DaemonArgs,
}

/// How long a stopping director with `vipd_announce` keeps forwarding after
/// its VIPs are withdrawn: the routers need a moment to stop sending to it.
const ANNOUNCE_DRAIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The running daemon.
#[derive(Debug)]
struct Engine {
    opts: Options,
    config: Config,
    started: Instant,
    reloads: status::Reloads,
    notes: Vec<String>,
    vrrp: Option<VrrpPart>,
    lvs: Option<LvsPart>,
    sharing: Option<SharingPart>,
    /// Why sharing does not run.
    sharing_off: Option<String>,
    /// VRRP waits for the start-up dump of connection sharing.
    pending_vrrp: Option<crate::vrrp_io::VrrpSpec>,
    /// `static_ipaddress`, `static_routes`, `static_rules`.
    statics: StaticsPart,
    /// `vipd_announce`: the VIPs offered to the routing daemon.
    announce: Option<AnnouncePart>,
    /// The announcement to start once the start-up dump is in.
    pending_announce: Option<vipd_core::announce::AnnouncePlan>,
}

/// Removes the pid file on drop.
#[derive(Debug)]
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: &Path) -> anyhow::Result<Self> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs until TERM/INT.
pub async fn run(opts: Options, checked: Checked) -> anyhow::Result<()> {
    let stem = ctl::instance_stem();
    let socket_path = opts.args.socket.clone().unwrap_or_else(ctl::default_socket);
    let socket = ctl::server::bind(&socket_path)?;
    let pid_path = opts
        .args
        .pid_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(ctl::RUN_DIR).join(format!("{stem}.pid")));
    let _pid = PidFile::write(&pid_path)?;

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;

    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Pending>(32);
    let serve_tx = ctl_tx.clone();
    let ctl_task = tokio::spawn(async move { socket.serve(serve_tx).await });
    let metrics_task = match opts.args.metrics {
        Some(addr) => Some(super::metrics::spawn(addr, ctl_tx.clone()).await?),
        None => None,
    };
    drop(ctl_tx);

    // After a restart (SIGQUIT): VRRP resumes first, within the margin before
    // a backup takes over; the previous program forwards meanwhile.
    let mut checked = checked;
    let restart = take_restart_record(&stem);
    let mut resumed = None;
    let mut restart_mode = None;
    if let Some(r) = &restart {
        let ago = now_ms().saturating_sub(r.stopped_at_ms);
        info!(
            "restart: vipd {} (pid {}) stopped {ago} ms ago for a restart{}",
            r.version,
            r.pid,
            match &r.iface {
                Some(i) => format!(", leaving its data plane running on {i}"),
                None => String::new(),
            }
        );
        restart_mode = r
            .xdp_mode
            .as_deref()
            .map(crate::datapath::pin::mode_from_name);
        if let Some(spec) = checked.vrrp.as_ref() {
            let names: Vec<&str> = spec
                .instances
                .iter()
                .map(|i| i.core.name.as_str())
                .collect();
            let decisions = r.resume(now_ms(), &names);
            let mut resume = Vec::new();
            for d in decisions {
                info!("restart: {d}");
                if let vipd_core::restart::Resume::Master(n) = d {
                    resume.push(n);
                }
            }
            if !resume.is_empty() {
                let spec = checked.vrrp.take().expect("checked above");
                resumed = Some(VrrpPart::start_resuming(spec, resume));
            }
        }
    }
    let mut engine = match Engine::new(opts, checked, resumed.is_some(), restart_mode) {
        Ok(e) => e,
        Err(e) => {
            if let Some(v) = resumed {
                v.stop(Stop::Clean).await;
            }
            return Err(e);
        }
    };
    engine.vrrp = resumed;
    if let Err(e) = engine.start_vrrp().await {
        engine.shutdown().await;
        return Err(e);
    }
    info!(
        "vipd {} started (pid {}): {}; control socket {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        engine.summary(),
        socket_path.display()
    );
    // systemd (Type=notify): up only now, data plane attached and VRRP started.
    super::sd_notify::ready(&format!("running: {}", engine.summary()));
    for n in &engine.notes {
        warn!("{n}");
    }

    let mut sample = tokio::time::interval(std::time::Duration::from_secs(1));
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // vipd_announce checks the data plane is still attached this often: a
    // detached one must stop drawing traffic well within a second.
    let mut announce_tick = tokio::time::interval(std::time::Duration::from_millis(250));
    announce_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut failure = None;
    let why = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = quit.recv() => break "SIGQUIT",
            ev = async { engine.vrrp.as_mut().expect("guarded").next().await }, if engine.vrrp.is_some() => {
                match ev {
                    None => engine.vrrp_changed(),
                    Some(why) => {
                        error!("{why}");
                        failure = Some(why);
                        break "a failure";
                    }
                }
            }
            _ = hup.recv() => {
                info!("SIGHUP: reloading {}", engine.opts.file);
                super::sd_notify::reloading();
                let (_, message) = engine.reload().await;
                super::sd_notify::ready(&message);
            }
            _ = usr1.recv() => engine.dump(DumpKind::Data),
            _ = usr2.recv() => engine.dump(DumpKind::Stats),
            Some(p) = ctl_rx.recv() => {
                let resp = match p.request {
                    Request::Status => Response::Status(Box::new(engine.status())),
                    Request::Conns => Response::Conns {
                        rows: engine
                            .lvs
                            .as_ref()
                            .map(|l| l.conn_rows(ctl::MAX_CONN_ROWS))
                            .unwrap_or_default(),
                    },
                    Request::Reload => {
                        info!("reload requested on the control socket");
                        let (ok, message) = engine.reload().await;
                        Response::Reload { ok, message }
                    }
                };
                let _ = p.reply.send(resp);
            }
            u = async { engine.lvs.as_mut().expect("guarded").next().await }, if engine.lvs.is_some() => {
                if let Some(l) = engine.lvs.as_mut() {
                    l.handle(u);
                }
                engine.announce_update().await;
            }
            _ = sample.tick() => engine.sample(),
            _ = announce_tick.tick(), if engine.announce.is_some() => engine.announce_update().await,
            ev = async { engine.sharing.as_mut().expect("guarded").next().await }, if engine.sharing.is_some() => {
                if let (Some(s), Some(l)) = (engine.sharing.as_mut(), engine.lvs.as_mut()) {
                    s.handle(ev, l);
                }
            }
        }
    };
    super::sd_notify::stopping(&format!("{why}: stopping"));
    if why == "SIGQUIT" {
        info!("SIGQUIT: stopping for a restart (the data plane keeps forwarding, VIPs kept)");
        if engine.announce.is_some() {
            warn!("vipd_announce: the announced VIPs are withdrawn during the restart (their device goes with this process); the next vipd announces them again after its start-up table dump, and meanwhile the other directors take the flows");
        }
        engine.handover(&stem).await;
    } else {
        info!("{why}: stopping");
        engine.shutdown().await;
    }
    ctl_task.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    match failure {
        None => {
            info!("vipd stopped");
            Ok(())
        }
        Some(why) => anyhow::bail!("vipd stopped: {why}"),
    }
}

/// Where a vipd stopping for a restart leaves its record.
fn restart_record_path(stem: &str) -> PathBuf {
    PathBuf::from(ctl::RUN_DIR).join(format!("{stem}.restart"))
}

/// Reads and removes the restart record (a record is used once).
fn take_restart_record(stem: &str) -> Option<vipd_core::restart::Record> {
    let path = restart_record_path(stem);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    match serde_json::from_slice(&bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            warn!(
                "ignoring the unreadable restart record {}: {e}",
                path.display()
            );
            None
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Clone, Copy)]
enum DumpKind {
    Data,
    Stats,
}

impl Engine {
    /// `resumed`: VRRP already runs (resumed after a restart);
    /// `restart_mode`: how the previous vipd attached its pinned program.
    fn new(
        opts: Options,
        checked: Checked,
        resumed: bool,
        restart_mode: Option<aya::programs::XdpMode>,
    ) -> anyhow::Result<Self> {
        let has_vrrp = checked.vrrp.is_some() || resumed;
        let config = checked.config;
        // Static addresses first: a VIP among them must be there before the
        // data plane serves it.
        let statics = StaticsPart::apply(checked.statics);
        init_track_files(&checked.init_files);
        let notes = checked.notes;
        // The data plane first (loading it takes a few seconds on a busy
        // machine): a node must not win the VIP before it can forward.
        // Without VRRP this node serves as if MASTER (ha_suspend never pauses).
        let mut lvs = match checked.lvs {
            Some(spec) => Some(
                LvsPart::start(spec, !has_vrrp || resumed, opts.args.xdp_mode, restart_mode)
                    .context("starting the checkers and the data plane")?,
            ),
            None => None,
        };
        // Connection sharing, with the data plane.
        let (mut sharing, mut sharing_off) = (None, None);
        if let Some(l) = lvs.as_mut() {
            match vipd_core::sync::plan::plan(&config, has_vrrp, opts.args.no_sync) {
                Ok(plan) => {
                    let key = sharing::read_key(opts.args.sync_key.as_deref())?;
                    sharing = Some(
                        SharingPart::start(plan, key, l).context("starting connection sharing")?,
                    );
                }
                Err(off) => {
                    info!("connection sharing {off}");
                    sharing_off = Some(off.to_string());
                }
            }
        }
        Ok(Engine {
            opts,
            config,
            started: Instant::now(),
            reloads: status::Reloads::default(),
            notes,
            vrrp: None,
            lvs,
            sharing,
            sharing_off,
            pending_vrrp: checked.vrrp,
            statics,
            announce: None,
            pending_announce: checked.announce,
        })
    }

    /// Asks the peers for their connection tables (bounded wait), then starts
    /// VRRP: a director that comes back must not take the VIP before it knows
    /// the connections the others forwarded meanwhile.
    async fn start_vrrp(&mut self) -> anyhow::Result<()> {
        if let (Some(s), Some(l)) = (self.sharing.as_mut(), self.lvs.as_mut()) {
            s.initial_dump(l).await;
        }
        if let Some(spec) = self.pending_vrrp.take() {
            self.vrrp = Some(VrrpPart::start(spec));
        }
        // Announced only now: like a VRRP master, a director that joins the
        // ECMP set first knows the connections the others forward.
        // A director that cannot announce must not look healthy: refuse to
        // run (systemd restarts it) rather than serve nothing.
        if let Some(plan) = self.pending_announce.take() {
            self.announce = Some(AnnouncePart::start(plan).await.context("vipd_announce")?);
            self.announce_update().await;
        }
        Ok(())
    }

    /// Offers the routing daemon the VIPs this director can serve now.
    async fn announce_update(&mut self) {
        let (Some(a), Some(l)) = (self.announce.as_mut(), self.lvs.as_ref()) else {
            return;
        };
        let attached = a.attached(l.iface(), l.prog_id()).await;
        a.update(attached, &l.announce_states()).await;
    }

    /// A VRRP instance changed state (the driver logged the transition):
    /// `ha_suspend` follows whether this node is MASTER.
    fn vrrp_changed(&mut self) {
        let master = self.vrrp.as_ref().is_none_or(VrrpPart::is_master);
        if let Some(l) = self.lvs.as_mut() {
            l.set_master(master);
        }
    }

    fn summary(&self) -> String {
        let c = &self.config;
        let reals: usize = c.virtual_servers.iter().map(|v| v.real_servers.len()).sum();
        let mut parts = Vec::new();
        if self.opts.parts.vrrp {
            parts.push(format!("{} VRRP instance(s)", c.vrrp_instances.len()));
        }
        if self.opts.parts.lvs {
            parts.push(format!(
                "{} virtual server(s) with {} real server(s)",
                c.virtual_servers.len(),
                reals
            ));
        }
        format!("{} ({})", self.opts.file, parts.join(", "))
    }

    /// Re-reads the file; applies the difference or keeps the running
    /// configuration. Returns (applied, one-line message).
    async fn reload(&mut self) -> (bool, String) {
        let at = self.started.elapsed().as_secs();
        let checked = match load::load(
            &self.opts.file,
            self.opts.config_id.as_deref(),
            self.opts.parts,
        ) {
            Ok(c) => c,
            Err(e) => {
                if !e.report().is_empty() {
                    eprint!("{}", e.report());
                }
                let message = format!(
                    "reload refused, still running the previous configuration: {e}{}",
                    match e.headline() {
                        h if h.is_empty() || h == e.to_string() => String::new(),
                        h => format!(" (first: {h})"),
                    }
                );
                error!("{message}");
                self.reloads.refused += 1;
                self.reloads.last = Some(status::ReloadOutcome {
                    at_secs: at,
                    ok: false,
                    message: message.clone(),
                });
                return (false, message);
            }
        };
        let diff = reload::diff(&self.config, &checked.config);
        self.statics.reload(checked.statics);
        if diff.vrrp_changed {
            if let Some(v) = self.vrrp.take() {
                info!("reload: VRRP configuration changed, restarting VRRP");
                v.stop(Stop::Clean).await;
            }
            self.vrrp = checked.vrrp.map(VrrpPart::start);
        }
        let mut applied_with = Vec::new();
        match (self.lvs.as_mut(), checked.lvs) {
            (Some(l), Some(spec)) => {
                if let Err(e) = l.reload(spec) {
                    applied_with.push(format!("checkers/data plane: {e}"));
                }
            }
            (None, Some(spec)) => {
                let master = self.vrrp.as_ref().is_none_or(VrrpPart::is_master);
                match LvsPart::start(spec, master, self.opts.args.xdp_mode, None) {
                    Ok(l) => self.lvs = Some(l),
                    Err(e) => {
                        applied_with.push(format!("starting the checkers and data plane: {e}"))
                    }
                }
            }
            (Some(_), None) => {
                if let Some(l) = self.lvs.take() {
                    l.stop();
                }
            }
            (None, None) => {}
        }
        match (self.announce.as_mut(), checked.announce) {
            (Some(a), Some(plan)) => {
                if let Err(e) = a.reload(plan) {
                    applied_with.push(e);
                }
            }
            // Connection sharing and the start-up table dump that must come
            // before announcing are set up at start only.
            (None, Some(plan)) => applied_with.push(format!(
                "vipd_announce {} was added: restart vipd to announce (nothing is announced now)",
                plan.device
            )),
            (Some(_), None) => applied_with.push(
                "vipd_announce was removed: restart vipd to stop announcing (the VIPs stay announced until then)"
                    .to_owned(),
            ),
            (None, None) => {}
        }
        self.announce_update().await;
        for e in &applied_with {
            error!("reload: {e}");
        }
        self.notes = checked.notes;
        self.config = checked.config;
        let message = if applied_with.is_empty() {
            format!("reload applied: {diff}")
        } else {
            format!("reload applied: {diff}; but {}", applied_with.join("; "))
        };
        info!("{message}");
        self.reloads.applied += 1;
        self.reloads.last = Some(status::ReloadOutcome {
            at_secs: at,
            ok: true,
            message: message.clone(),
        });
        (true, message)
    }

    /// Once a second: counters and rates.
    fn sample(&mut self) {
        if let Some(l) = self.lvs.as_mut() {
            l.sample();
            if let Some(s) = self.sharing.as_mut() {
                s.refresh(l);
            }
        }
    }

    /// Stops for a restart (SIGQUIT): VRRP stops without priority 0 and keeps
    /// the VIPs, the data plane stays attached with its tables pinned, and a
    /// record tells the next vipd what to resume (see `vipd_core::restart`).
    async fn handover(&mut self, stem: &str) {
        let stopped_at_ms = now_ms();
        let masters = self
            .vrrp
            .as_ref()
            .map(VrrpPart::masters)
            .unwrap_or_default();
        if let Some(v) = self.vrrp.take() {
            v.stop(Stop::Handover).await;
        }
        if let (Some(sh), Some(l)) = (self.sharing.take(), self.lvs.as_mut()) {
            sh.stop(l);
        }
        let mut record = vipd_core::restart::Record {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            stopped_at_ms,
            config_file: self.opts.file.clone(),
            iface: None,
            xdp_mode: None,
            pin_dir: None,
            masters: masters
                .into_iter()
                .map(|(name, margin)| vipd_core::restart::Master {
                    name,
                    resume_until_ms: stopped_at_ms + margin.as_millis() as u64,
                })
                .collect(),
        };
        if let Some(l) = self.lvs.take() {
            let iface = l.iface().to_owned();
            match l.handover() {
                Ok((dir, mode)) => {
                    record.iface = Some(iface);
                    record.xdp_mode = Some(crate::datapath::pin::mode_name(mode).to_owned());
                    record.pin_dir = Some(dir.display().to_string());
                }
                Err(e) => error!(
                    "cannot leave the data plane running for the next vipd ({e}): it is detached, connections are not carried over"
                ),
            }
        }
        let path = restart_record_path(stem);
        let written = serde_json::to_vec_pretty(&record)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&path, b));
        match written {
            Ok(()) => info!(
                "restart record written to {}: start vipd again{} to carry on",
                path.display(),
                match record.masters.iter().map(|m| m.resume_until_ms).min() {
                    Some(until) => format!(
                        " within {} ms (before a backup takes the VIPs)",
                        until.saturating_sub(stopped_at_ms)
                    ),
                    None => String::new(),
                }
            ),
            Err(e) => error!("writing the restart record {}: {e}", path.display()),
        }
    }

    async fn shutdown(&mut self) {
        // The announcement first: the router sends new packets to the other
        // directors while this one still forwards what is in flight.
        if let Some(a) = self.announce.take() {
            a.stop();
            info!(
                "vipd_announce: forwarding {} s more while the routers converge",
                ANNOUNCE_DRAIN.as_secs_f64()
            );
            tokio::time::sleep(ANNOUNCE_DRAIN).await;
        }
        // VRRP first: the peer takes the VIP over at once (priority 0) while
        // this node still forwards what reaches it.
        if let Some(v) = self.vrrp.take() {
            v.stop(Stop::Clean).await;
        }
        if let (Some(sh), Some(l)) = (self.sharing.take(), self.lvs.as_mut()) {
            sh.stop(l);
        }
        if let Some(l) = self.lvs.take() {
            l.stop();
        }
        std::mem::take(&mut self.statics).remove_all();
    }

    fn status(&self) -> Status {
        let mut st = self.config_status();
        if let Some(l) = &self.lvs {
            l.fill(&mut st);
            st.sharing = Some(match &self.sharing {
                Some(s) => s.status(
                    st.counters.get("sync_lost").copied().unwrap_or(0),
                    l.parked(),
                ),
                None => status::Sharing {
                    why_off: self.sharing_off.clone(),
                    ..Default::default()
                },
            });
        }
        if let Some(a) = &self.announce {
            a.fill(&mut st);
        }
        st
    }

    /// The status as the configuration alone describes it.
    fn config_status(&self) -> Status {
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            config_file: self.opts.file.clone(),
            uptime_secs: self.started.elapsed().as_secs_f64(),
            parts: status::Parts {
                vrrp: self.vrrp.is_some(),
                checkers: false,
                datapath: false,
                datapath_attach: Vec::new(),
                notes: self.notes.clone(),
            },
            reloads: self.reloads.clone(),
            vrrp: if let Some(v) = &self.vrrp {
                v.status(&self.config, self.started)
            } else if self.opts.parts.vrrp {
                self.config
                    .vrrp_instances
                    .iter()
                    .map(|i| status::VrrpInstance {
                        name: i.name.clone(),
                        vrid: i.virtual_router_id,
                        interface: i.interface.clone().unwrap_or_default(),
                        state: "STOPPED".to_owned(),
                        priority: i.priority,
                        effective_priority: i.priority,
                        vips: i
                            .virtual_ipaddress
                            .iter()
                            .map(|v| format!("{}/{}", v.addr.addr, v.addr.len))
                            .collect(),
                        since_secs: None,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            services: if self.opts.parts.lvs {
                self.config
                    .virtual_servers
                    .iter()
                    .filter_map(|vs| config_service(&self.config, vs))
                    .collect()
            } else {
                Vec::new()
            },
            counters: Default::default(),
            tables: None,
            sharing: None,
            restart: None,
            statics: self.statics.status(),
            announce: None,
        }
    }

    fn dump(&self, kind: DumpKind) {
        let stem = ctl::instance_stem();
        let (name, text) = match kind {
            DumpKind::Data => (
                format!("{stem}.data"),
                format!(
                    "{}\n--- configuration in use ---\n{}",
                    serde_json::to_string_pretty(&self.status()).unwrap_or_default(),
                    vipd_core::config::dump::to_conf(&self.config)
                ),
            ),
            DumpKind::Stats => (format!("{stem}.stats"), ctl::render::text(&self.status())),
        };
        let path = self.opts.args.dump_dir.join(name);
        match std::fs::write(&path, text) {
            Ok(()) => info!("wrote {}", path.display()),
            Err(e) => error!("cannot write {}: {e}", path.display()),
        }
    }
}

/// A virtual server as the configuration describes it (the parts fill in
/// health and traffic).
fn config_service(
    c: &vipd_core::config::Config,
    vs: &vipd_core::config::VirtualServer,
) -> Option<status::Service> {
    let addrs = vipd_core::director::service_addrs(c, vs).ok()?;
    let (ip, port) = addrs[0];
    Some(status::Service {
        name: reload::service_name(&vs.key, vs.protocol),
        vip: ip,
        port,
        group: match vs.key {
            VsKey::Group(_) => addrs
                .iter()
                .map(|&(ip, port)| std::net::SocketAddr::new(ip, port))
                .collect(),
            _ => Vec::new(),
        },
        members: Vec::new(),
        protocol: vs.protocol.as_str().to_owned(),
        lb_algo: vs.lb_algo.as_str().to_owned(),
        lb_kind: vs.lb_kind.as_str().to_owned(),
        persistence_timeout: vs.persistence_timeout.filter(|t| *t > 0),
        ops: vipd_core::director::one_packet(vs, &mut Vec::new()),
        quorum_up: None,
        checks_suspended: false,
        sorry_active: false,
        traffic: status::Traffic::default(),
        reals: vs
            .real_servers
            .iter()
            .map(|r| status::Real {
                addr: std::net::SocketAddr::new(r.ip, r.port),
                forward: r.lvs_method.unwrap_or(vs.lb_kind).as_str().to_owned(),
                in_table: false,
                weight: 0,
                configured_weight: r.weight,
                sorry: false,
                alive: None,
                active_conns: 0,
                inactive_conns: 0,
                traffic: status::Traffic::default(),
                checkers: r
                    .checkers
                    .iter()
                    .map(|c| status::Checker {
                        kind: c.kind.keyword().to_owned(),
                        target: std::net::SocketAddr::new(
                            c.common.connect_ip.unwrap_or(r.ip),
                            c.common.connect_port.unwrap_or(r.port),
                        ),
                        up: false,
                        has_run: false,
                        last_failure: None,
                    })
                    .collect(),
                last_failure: None,
            })
            .collect(),
    })
}

/// `track_file`'s `init_file VALUE [overwrite]`: the file gets VALUE at start
/// when it does not exist, or always with `overwrite` (not on a reload, as
/// keepalived).
fn init_track_files(files: &[vipd_core::check::file::InitFile]) {
    for f in files {
        if !f.overwrite && std::path::Path::new(&f.path).exists() {
            continue;
        }
        match std::fs::write(&f.path, format!("{}\n", f.value)) {
            Ok(()) => info!(
                "track_file {}: wrote {} to {} (init_file)",
                f.name, f.value, f.path
            ),
            Err(e) => warn!("track_file {}: init_file: writing {}: {e}", f.name, f.path),
        }
    }
}
