//! One VRRP instance (a `vrrp_instance` block) as a sans-IO state machine.
//!
//! Inputs: [`Instance::start`], [`Instance::handle_packet`],
//! [`Instance::handle_timeout`], [`Instance::set_tracked`], [`Instance::force_state`]
//! (sync groups) and [`Instance::shutdown`], each given the current time. Outputs:
//! [`Instance::poll_action`] (send an advert, add/remove the VIPs, send gratuitous
//! ARP, report a state change with its reason) and [`Instance::poll_timeout`] (when
//! to call `handle_timeout` next). No sockets, no clock: the IO shell in
//! `vipd::vrrp_io` and the simulation tests drive it the same way.
//!
//! The rules are RFC 3768 §6 (v2) and RFC 5798 §6 (v3) with keepalived's
//! behaviour where it differs or adds (noted where it applies):
//! - every instance starts in BACKUP, even with `state MASTER`, unless it is the
//!   address owner (priority 255), which becomes MASTER at once;
//! - a MASTER that hears a lower-priority master re-asserts itself at once with an
//!   advert and gratuitous ARP (keepalived issues #166/#1528: a split brain that
//!   heals without a new ARP leaves the VIP unreachable);
//! - PASS authentication from RFC 2338 (RFC 3768 reserved the auth types; keepalived
//!   still speaks it), compared on the first 8 characters.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::packet::{
    Auth, ChecksumMode, Received, Repr, Version, MULTICAST_GROUP, PRIORITY_OWNER, PRIORITY_STOP,
};
use super::timer::{Timer, TimerTable};

/// What a tracked object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// `track_interface`: link state of an interface.
    Interface,
    /// `track_script`: the verdict of a `vrrp_script`.
    Script,
}

impl fmt::Display for TrackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackKind::Interface => "interface",
            TrackKind::Script => "script",
        })
    }
}

/// One tracked object of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// Interface or script.
    pub kind: TrackKind,
    /// Interface name or `vrrp_script` name.
    pub name: String,
    /// keepalived's `weight`: 0 means "down -> FAULT"; a positive weight is added to
    /// the priority while the object is up, a negative one while it is down.
    pub weight: i32,
    /// `weight N reverse`: the object counts as down while it is up and the
    /// other way round (a positive weight is added while it is down, a
    /// negative one subtracted while it is up, weight 0: FAULT while up).
    pub reverse: bool,
}

/// What an instance needs to know, in keepalived's words. Build it from the config
/// model; [`InstanceConfig::new`] gives keepalived's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// `vrrp_instance NAME`.
    pub name: String,
    /// `interface`.
    pub interface: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `vrrp_version` (keepalived's default is 2).
    pub version: Version,
    /// `priority` (1..=255; 255 = address owner).
    pub priority: u8,
    /// `advert_int`: whole seconds for v2, centiseconds resolution for v3.
    pub advert_int: Duration,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay`.
    pub preempt_delay: Duration,
    /// `authentication` (v2 only).
    pub auth: Auth,
    /// `virtual_ipaddress` addresses (what the adverts carry).
    pub vips: Vec<IpAddr>,
    /// Our primary address: `unicast_src_ip`, else the interface's first IPv4
    /// address. The source of our adverts and the tie-breaker (RFC 3768 §6.4.3).
    pub primary_ip: IpAddr,
    /// `unicast_peer`: when non-empty, adverts go to these instead of 224.0.0.18.
    pub unicast_peers: Vec<IpAddr>,
    /// `v3_checksum_as_v2`.
    pub v3_checksum_as_v2: bool,
    /// `down_timer_adverts` (3): adverts missed before the master is declared down.
    pub down_timer_adverts: u32,
    /// `garp_master_delay` (5 s): second burst of gratuitous ARP after becoming
    /// master; zero disables it.
    pub garp_master_delay: Duration,
    /// `garp_master_repeat` (5): gratuitous ARPs per burst.
    pub garp_master_repeat: u32,
    /// `garp_master_refresh` (0 = off): periodic gratuitous ARP while master.
    pub garp_master_refresh: Duration,
    /// `garp_master_refresh_repeat` (1).
    pub garp_master_refresh_repeat: u32,
    /// `track_interface` and `track_script` entries.
    pub track: Vec<Track>,
    /// `lower_prio_no_advert`: when MASTER hears a lower-priority master, only
    /// gratuitous ARP, no advert.
    pub lower_prio_no_advert: bool,
    /// `garp_lower_prio_repeat` (5): gratuitous ARPs sent then.
    pub garp_lower_prio_repeat: u32,
    /// `check_unicast_src`: with unicast peers, accept adverts only from them.
    pub check_unicast_src: bool,
    /// `skip_check_adv_addr`: do not compare the advert's address list with ours.
    pub skip_check_adv_addr: bool,
    /// `higher_prio_send_advert`: a MASTER that hears a higher priority sends
    /// one advert at its own priority before it steps down, so the winner
    /// re-announces the VIPs after a split brain (keepalived #166, #1528).
    /// On by default in vipd (keepalived's default is off): hosts that
    /// followed the losing side come back at once.
    pub higher_prio_send_advert: bool,
    /// `vrrp_mcast_group4` (224.0.0.18): where multicast adverts go.
    pub mcast_group: IpAddr,
}

impl InstanceConfig {
    /// keepalived's defaults for everything but the identity.
    pub fn new(name: &str, interface: &str, vrid: u8, priority: u8, primary_ip: IpAddr) -> Self {
        Self {
            name: name.to_string(),
            interface: interface.to_string(),
            vrid,
            version: Version::V2,
            priority,
            advert_int: Duration::from_secs(1),
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            auth: Auth::None,
            vips: Vec::new(),
            primary_ip,
            unicast_peers: Vec::new(),
            v3_checksum_as_v2: false,
            down_timer_adverts: 3,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            track: Vec::new(),
            lower_prio_no_advert: false,
            garp_lower_prio_repeat: 5,
            check_unicast_src: false,
            skip_check_adv_addr: false,
            higher_prio_send_advert: true,
            mcast_group: MULTICAST_GROUP.into(),
        }
    }

    /// Checks the values keepalived would refuse.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = self.name.clone();
        if self.vrid == 0 {
            return Err(ConfigError::Vrid { name });
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority { name });
        }
        let cs = self.advert_int.as_millis() / 10;
        let ok = match self.version {
            // RFC 3768 §5.3.7: whole seconds in 8 bits.
            Version::V2 => {
                self.advert_int.subsec_nanos() == 0
                    && (1..=255).contains(&self.advert_int.as_secs())
            }
            // RFC 5798 §5.2.7: centiseconds in 12 bits.
            Version::V3 => (1..=4095).contains(&cs),
        };
        if !ok {
            return Err(ConfigError::AdvertInt {
                name,
                advert_int: self.advert_int,
                version: self.version,
            });
        }
        if self.version == Version::V3 && self.auth != Auth::None {
            return Err(ConfigError::V3Auth { name });
        }
        if self.down_timer_adverts == 0 {
            return Err(ConfigError::DownTimerAdverts { name });
        }
        Ok(())
    }

    fn advert_int_cs(&self) -> u16 {
        (self.advert_int.as_millis() / 10) as u16
    }
}

/// A configuration an instance cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// VRID 0 does not exist (RFC 3768 §5.3.3).
    #[error("vrrp_instance {name}: virtual_router_id must be 1..255")]
    Vrid {
        /// Instance.
        name: String,
    },
    /// Priority 0 is reserved for "stopping" (RFC 3768 §5.3.4).
    #[error("vrrp_instance {name}: priority must be 1..255 (0 is reserved for a stopping master)")]
    Priority {
        /// Instance.
        name: String,
    },
    /// Out of the version's range.
    #[error("vrrp_instance {name}: advert_int {advert_int:?} is not valid for VRRP {version:?}: v2 takes whole seconds 1..255, v3 0.01..40.95 s")]
    AdvertInt {
        /// Instance.
        name: String,
        /// Configured value.
        advert_int: Duration,
        /// Configured version.
        version: Version,
    },
    /// v3 has no authentication (RFC 5798 §9).
    #[error("vrrp_instance {name}: VRRP version 3 does not support authentication: remove the authentication block or use vrrp_version 2")]
    V3Auth {
        /// Instance.
        name: String,
    },
    /// Must be at least 1.
    #[error("vrrp_instance {name}: down_timer_adverts must be at least 1")]
    DownTimerAdverts {
        /// Instance.
        name: String,
    },
}

/// The states of RFC 3768 §6.4 plus keepalived's FAULT and STOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum State {
    /// Not started.
    Init,
    /// Listening to a master.
    Backup,
    /// Holding the VIPs.
    Master,
    /// A tracked object is down (keepalived's FAULT).
    Fault,
    /// Shut down (keepalived's STOP).
    Stopped,
}

impl State {
    /// keepalived's word for the state, as notify scripts receive it.
    pub fn keepalived_name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stopped => "STOP",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keepalived_name())
    }
}

/// Why a state changed: logged on one line and available to status output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Startup: every instance begins as BACKUP.
    Startup,
    /// Priority 255 owns the addresses and is MASTER at once (RFC 3768 §6.4.1).
    Owner,
    /// No advert within the master down interval (RFC 3768 §6.4.2).
    MasterDown {
        /// The interval that passed.
        interval: Duration,
    },
    /// The master sent priority 0; we waited only the skew time (RFC 3768 §6.4.2).
    MasterStopped {
        /// The stopping master.
        master: IpAddr,
    },
    /// The master has a lower priority and we preempt it: its adverts were
    /// discarded until the master down timer fired (RFC 3768 §6.4.2).
    Preempt {
        /// The lower-priority master.
        master: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// `preempt_delay` passed since we first heard a lower-priority master.
    PreemptDelay {
        /// The lower-priority master.
        master: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A higher-priority advert reached us as MASTER (RFC 3768 §6.4.3).
    HigherPriority {
        /// Sender.
        master: IpAddr,
        /// Its priority.
        priority: u8,
        /// Ours.
        ours: u8,
    },
    /// Equal priority, higher primary address (RFC 3768 §6.4.3).
    HigherAddress {
        /// Sender.
        master: IpAddr,
        /// The shared priority.
        priority: u8,
    },
    /// A tracked object with weight 0 went down.
    TrackDown {
        /// Interface or script.
        kind: TrackKind,
        /// Its name.
        name: String,
    },
    /// Every weight-0 tracked object is up again.
    TrackUp,
    /// Another member of the sync group changed state.
    SyncGroup {
        /// The group.
        group: String,
        /// The member that changed.
        member: String,
        /// Its new state.
        state: State,
    },
    /// Shutdown requested (SIGTERM).
    Shutdown,
    /// Stopped for a restart of vipd (SIGQUIT): the VIPs stay, no priority 0.
    Handover,
    /// vipd restarted while MASTER and resumes at once, holding the VIPs the
    /// previous process left (the restart took less than Master_Down_Interval,
    /// so no backup can have taken over).
    Resumed,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => write!(f, "starting up"),
            Reason::Owner => write!(f, "priority 255: address owner"),
            Reason::MasterDown { interval } => write!(
                f,
                "no advert from a master for {:.3} s (master down interval)",
                interval.as_secs_f64()
            ),
            Reason::MasterStopped { master } => {
                write!(f, "master {master} stopped (priority 0 advert), skew time passed")
            }
            Reason::Preempt { master, priority } => write!(
                f,
                "preempting lower-priority master {master} (priority {priority})"
            ),
            Reason::PreemptDelay { master, priority } => write!(
                f,
                "preempt_delay passed, preempting lower-priority master {master} (priority {priority})"
            ),
            Reason::HigherPriority {
                master,
                priority,
                ours,
            } => write!(
                f,
                "advert from {master} with higher priority {priority} (ours {ours})"
            ),
            Reason::HigherAddress { master, priority } => write!(
                f,
                "advert from {master} with equal priority {priority} and a higher address"
            ),
            Reason::TrackDown { kind, name } => write!(f, "tracked {kind} {name} is down"),
            Reason::TrackUp => write!(f, "tracked objects are up again"),
            Reason::SyncGroup {
                group,
                member,
                state,
            } => write!(f, "sync group {group}: member {member} is {state}"),
            Reason::Shutdown => write!(f, "shutting down"),
            Reason::Handover => write!(
                f,
                "stopping for a restart: VIPs kept, no priority-0 advert"
            ),
            Reason::Resumed => write!(
                f,
                "vipd restarted while MASTER: resuming, VIPs kept"
            ),
        }
    }
}

/// What the IO shell must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert to each of [`Instance::destinations`] (encode with
    /// [`Instance::encode_advert`]).
    SendAdvert(Repr),
    /// Add the VIPs to the interface.
    AddVips,
    /// Remove the VIPs from the interface.
    RemoveVips,
    /// Send `count` gratuitous ARPs for each VIP.
    SendGarp {
        /// ARPs per VIP.
        count: u32,
    },
    /// The state changed: log it and run the notify scripts.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
}

/// Why an advert was discarded. Silent kinds ([`Discard::is_noise`]) are routine;
/// the others point at a misconfiguration and are worth a log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// Not running (INIT, FAULT, STOP).
    #[error("instance is {0}, not listening")]
    NotListening(State),
    /// Another virtual router.
    #[error("virtual_router_id {0} is not ours")]
    OtherVrid(u8),
    /// Our own advert looped back.
    #[error("our own advert")]
    Own,
    /// Different VRRP version (RFC 3768 §7.1: MUST discard). keepalived does the
    /// same: both sides become MASTER.
    #[error("advert from {src} is VRRPv{got} but this instance speaks VRRPv{want}: set the same vrrp_version on every node")]
    Version {
        /// Sender.
        src: IpAddr,
        /// Its version.
        got: u8,
        /// Ours.
        want: u8,
    },
    /// Multicast advert with a TTL other than 255: it crossed a router (RFC 3768
    /// §7.1, RFC 5798 §7.1).
    #[error("advert from {src} arrived with TTL {ttl}, not 255: it was routed, VRRP peers must share the link")]
    Ttl {
        /// Sender.
        src: IpAddr,
        /// The TTL seen.
        ttl: u8,
    },
    /// Auth type differs (RFC 3768 §7.1: MUST discard).
    #[error("advert from {src} uses auth type {got}, this instance {want}: set the same authentication on every node")]
    AuthType {
        /// Sender.
        src: IpAddr,
        /// Its auth type.
        got: &'static str,
        /// Ours.
        want: &'static str,
    },
    /// PASS with another password (RFC 2338 §7.1).
    #[error("advert from {src} has a different auth_pass (first 8 characters compared): set the same auth_pass on every node")]
    AuthPass {
        /// Sender.
        src: IpAddr,
    },
    /// v2 advert interval differs (RFC 3768 §7.1: MUST discard).
    #[error("advert from {src} has advert_int {got} cs, ours is {want} cs: set the same advert_int on every node")]
    Interval {
        /// Sender.
        src: IpAddr,
        /// Its interval (centiseconds).
        got: u16,
        /// Ours.
        want: u16,
    },
    /// Address list differs and the sender is not the owner (RFC 3768 §7.1).
    #[error("advert from {src} lists virtual addresses {got:?}, ours are {want:?}: set the same virtual_ipaddress on every node")]
    Addresses {
        /// Sender.
        src: IpAddr,
        /// Its list.
        got: Vec<IpAddr>,
        /// Ours.
        want: Vec<IpAddr>,
    },
    /// `check_unicast_src`: the sender is not one of our `unicast_peer`s.
    #[error("advert from {src}, which is not a unicast_peer of this instance (check_unicast_src): add it to unicast_peer")]
    NotAPeer {
        /// Sender.
        src: IpAddr,
    },
    /// We own the addresses (priority 255): adverts of others are discarded
    /// (RFC 3768 §7.1).
    #[error("advert from {src} ignored: this instance is the address owner (priority 255)")]
    Owner {
        /// Sender.
        src: IpAddr,
    },
}

impl Discard {
    /// Whether this is routine (not worth a log line).
    pub fn is_noise(&self) -> bool {
        matches!(
            self,
            Discard::NotListening(_) | Discard::OtherVrid(_) | Discard::Own
        )
    }
}

/// What an accepted advert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// From the current master: timers reset.
    FromMaster,
    /// A lower-priority master heard while BACKUP with preemption: ignored so that
    /// our master down timer fires (RFC 3768 §6.4.2).
    LowerPriorityIgnored,
    /// A lower-priority master heard while MASTER: we re-asserted with an advert
    /// and gratuitous ARP.
    Reasserted,
    /// A lower-priority advert heard while MASTER that does not need an answer
    /// (the stopping master's priority 0 is answered with an advert).
    Answered,
    /// We stepped down to BACKUP.
    SteppedDown,
}

/// One VRRP instance.
#[derive(Debug)]
pub struct Instance {
    config: InstanceConfig,
    state: State,
    timers: TimerTable,
    actions: VecDeque<Action>,
    /// Master_Adver_Interval (RFC 5798 §6.1): learned from the master in v3.
    master_adver_int: Duration,
    /// Up/down of each tracked object, aligned with `config.track`.
    track_up: Vec<bool>,
    /// FAULT imposed by the sync group rather than our own tracking.
    sync_fault: bool,
    /// The master we listen to, and its priority.
    master: Option<(IpAddr, u8)>,
    /// Set when the master sent priority 0, for the reason of the takeover.
    master_stopped: Option<IpAddr>,
    /// A lower-priority master whose adverts we are discarding.
    preempting: Option<(IpAddr, u8)>,
    /// When the current master down interval started (for the reason).
    down_since: Option<Instant>,
}

impl Instance {
    /// A stopped-in-INIT instance; call [`Instance::start`].
    pub fn new(config: InstanceConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        // Objects start up; a reversed one therefore counts as down.
        let track_up = config.track.iter().map(|t| !t.reverse).collect();
        Ok(Self {
            master_adver_int: config.advert_int,
            config,
            state: State::Init,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            track_up,
            sync_fault: false,
            master: None,
            master_stopped: None,
            preempting: None,
            down_since: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// `vrrp_instance` name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The master last heard, with its priority (None while MASTER or unknown).
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master
    }

    /// Priority with tracking weights applied (keepalived's effective priority):
    /// the owner stays 255, anybody else is kept within 1..=254.
    pub fn effective_priority(&self) -> u8 {
        if self.config.priority == PRIORITY_OWNER {
            return PRIORITY_OWNER;
        }
        let mut prio = i32::from(self.config.priority);
        for (track, up) in self.config.track.iter().zip(&self.track_up) {
            if (track.weight > 0 && *up) || (track.weight < 0 && !*up) {
                prio += track.weight;
            }
        }
        prio.clamp(1, 254) as u8
    }

    /// Where adverts go: the unicast peers, or the multicast group.
    pub fn destinations(&self) -> Vec<IpAddr> {
        if self.config.unicast_peers.is_empty() {
            vec![self.config.mcast_group]
        } else {
            self.config.unicast_peers.clone()
        }
    }

    /// The VRRP message bytes of `advert` for destination `dst` (the v3 checksum
    /// depends on it).
    pub fn encode_advert(&self, advert: &Repr, dst: IpAddr) -> Vec<u8> {
        advert.to_bytes(ChecksumMode::for_addrs(
            advert.version,
            self.config.primary_ip,
            dst,
            self.config.v3_checksum_as_v2,
        ))
    }

    /// The next action for the IO shell.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Instance::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// The deadline of one timer (for tests and status).
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Skew_Time: v2 (256 - priority) / 256 s (RFC 3768 §6.1); v3 scaled by
    /// Master_Adver_Interval (RFC 5798 §6.1).
    pub fn skew_time(&self) -> Duration {
        let weight = 256 - u32::from(self.effective_priority());
        match self.config.version {
            Version::V2 => Duration::from_secs(1) * weight / 256,
            Version::V3 => self.master_adver_int * weight / 256,
        }
    }

    /// Master_Down_Interval: `down_timer_adverts` (3) x the master's advert
    /// interval + Skew_Time (RFC 3768 §6.1, RFC 5798 §6.1).
    pub fn master_down_interval(&self) -> Duration {
        let adver = match self.config.version {
            Version::V2 => self.config.advert_int,
            Version::V3 => self.master_adver_int,
        };
        adver * self.config.down_timer_adverts + self.skew_time()
    }

    /// How long after this MASTER's last advert before a stop no backup can
    /// have taken over yet: a backup waits its Master_Down_Interval from the
    /// last advert it heard, which may have left one advert interval before
    /// the stop; its skew, for a lower priority, is at least ours. So: our
    /// Master_Down_Interval less one advert interval.
    pub fn takeover_margin(&self) -> Duration {
        let adver = match self.config.version {
            Version::V2 => self.config.advert_int,
            Version::V3 => self.master_adver_int,
        };
        self.master_down_interval().saturating_sub(adver)
    }

    /// Starts the instance (RFC 3768 §6.4.1): FAULT if a tracked object is down,
    /// MASTER if we own the addresses, BACKUP otherwise.
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Init {
            return;
        }
        if let Some(reason) = self.fault_reason() {
            self.become_fault(now, reason);
        } else if self.config.priority == PRIORITY_OWNER {
            self.become_master(now, Reason::Owner);
        } else {
            self.become_backup(now, Reason::Startup);
        }
    }

    /// Starts as MASTER at once (a restart of vipd while this instance was
    /// MASTER, quicker than Master_Down_Interval): no VIP removal, adverts
    /// from now on. A tracked object down still means FAULT.
    pub fn resume(&mut self, now: Instant) {
        if self.state != State::Init {
            return;
        }
        if let Some(reason) = self.fault_reason() {
            self.become_fault(now, reason);
        } else {
            self.become_master(now, Reason::Resumed);
        }
    }

    /// Stops for a restart of vipd (SIGQUIT): unlike [`Instance::shutdown`], a
    /// MASTER neither sends priority 0 nor drops its VIPs; the next process
    /// resumes within Master_Down_Interval, so backups keep waiting.
    pub fn handover(&mut self, now: Instant) {
        let _ = now;
        if matches!(self.state, State::Init | State::Stopped) {
            return;
        }
        self.timers.stop_all();
        self.change_state(State::Stopped, Reason::Handover);
    }

    /// Shuts down (SIGTERM): a MASTER sends priority 0 so that a backup takes over
    /// after only its skew time (RFC 3768 §6.4.3 "Shutdown"), and drops the VIPs.
    pub fn shutdown(&mut self, now: Instant) {
        let _ = now;
        if matches!(self.state, State::Init | State::Stopped) {
            return;
        }
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP);
            self.actions.push_back(Action::RemoveVips);
        }
        self.timers.stop_all();
        self.change_state(State::Stopped, Reason::Shutdown);
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match (timer, self.state) {
                // RFC 3768 §6.4.3: Adver_Timer fires -> send an advert, re-arm.
                (Timer::Advert, State::Master) => {
                    self.send_advert(self.effective_priority());
                    self.timers.set(Timer::Advert, now + self.config.advert_int);
                }
                // RFC 3768 §6.4.2: Master_Down_Timer fires -> become MASTER.
                (Timer::MasterDown, State::Backup) => {
                    let reason = if let Some(master) = self.master_stopped {
                        Reason::MasterStopped { master }
                    } else if let Some((master, priority)) = self.preempting {
                        Reason::Preempt { master, priority }
                    } else {
                        Reason::MasterDown {
                            interval: self
                                .down_since
                                .map_or(self.master_down_interval(), |s| now - s),
                        }
                    };
                    self.become_master(now, reason);
                }
                (Timer::PreemptDelay, State::Backup) => {
                    if let Some((master, priority)) = self.master {
                        if priority < self.effective_priority() && !self.config.nopreempt {
                            self.become_master(now, Reason::PreemptDelay { master, priority });
                        }
                    }
                }
                (Timer::GarpDelay, State::Master) => {
                    self.actions.push_back(Action::SendGarp {
                        count: self.config.garp_master_repeat,
                    });
                }
                (Timer::GarpRefresh, State::Master) => {
                    self.actions.push_back(Action::SendGarp {
                        count: self.config.garp_master_refresh_repeat,
                    });
                    self.timers
                        .set(Timer::GarpRefresh, now + self.config.garp_master_refresh);
                }
                // A timer of another state: it was left armed by mistake; drop it.
                _ => {}
            }
        }
    }

    /// Handles a received advert (already parsed, checksum verified).
    pub fn handle_packet(&mut self, now: Instant, rx: &Received) -> Result<Accepted, Discard> {
        self.check(rx)?;
        let adv = &rx.repr;
        let ours = self.effective_priority();
        match self.state {
            State::Backup => {
                if adv.priority == PRIORITY_STOP {
                    // RFC 3768 §6.4.2: priority 0 -> Master_Down_Timer = Skew_Time.
                    self.master_stopped = Some(rx.src);
                    self.preempting = None;
                    self.timers.set(Timer::MasterDown, now + self.skew_time());
                    Ok(Accepted::FromMaster)
                } else if self.config.nopreempt
                    || adv.priority >= ours
                    || self.config.preempt_delay > Duration::ZERO
                {
                    // RFC 5798 §6.4.2: adopt the master's advert interval.
                    if self.config.version == Version::V3 {
                        self.master_adver_int =
                            Duration::from_millis(u64::from(adv.adver_int_cs) * 10);
                    }
                    self.master = Some((rx.src, adv.priority));
                    self.master_stopped = None;
                    self.preempting = None;
                    self.restart_down_timer(now);
                    // preempt_delay: accept a lower-priority master for that long.
                    if adv.priority < ours && !self.config.nopreempt {
                        if !self.timers.is_armed(Timer::PreemptDelay) {
                            self.timers
                                .set(Timer::PreemptDelay, now + self.config.preempt_delay);
                        }
                    } else {
                        self.timers.stop(Timer::PreemptDelay);
                    }
                    Ok(Accepted::FromMaster)
                } else {
                    // RFC 3768 §6.4.2: otherwise discard; our timer will fire.
                    self.preempting = Some((rx.src, adv.priority));
                    Ok(Accepted::LowerPriorityIgnored)
                }
            }
            State::Master => {
                if adv.priority == PRIORITY_STOP {
                    // RFC 3768 §6.4.3: answer priority 0 with an advert at once.
                    self.send_advert(ours);
                    self.timers.set(Timer::Advert, now + self.config.advert_int);
                    Ok(Accepted::Answered)
                } else if adv.priority > ours
                    || (adv.priority == ours && rx.src > self.config.primary_ip)
                {
                    // RFC 3768 §6.4.3: a better master -> BACKUP.
                    let reason = if adv.priority > ours {
                        Reason::HigherPriority {
                            master: rx.src,
                            priority: adv.priority,
                            ours,
                        }
                    } else {
                        Reason::HigherAddress {
                            master: rx.src,
                            priority: adv.priority,
                        }
                    };
                    if self.config.version == Version::V3 {
                        self.master_adver_int =
                            Duration::from_millis(u64::from(adv.adver_int_cs) * 10);
                    }
                    // `higher_prio_send_advert` (vipd's default): a farewell
                    // advert at our priority; the winner hears a lower-priority
                    // master and re-announces the VIP with gratuitous ARP, so
                    // hosts that followed us after a split brain come back at
                    // once. RFC 3768 §6.4.3 sends nothing here; an extra advert
                    // is harmless to every receiver.
                    if self.config.higher_prio_send_advert {
                        self.send_advert(ours);
                    }
                    self.become_backup(now, reason);
                    self.master = Some((rx.src, adv.priority));
                    Ok(Accepted::SteppedDown)
                } else {
                    // RFC 3768 §6.4.3 says discard; keepalived (#166, #1528) re-asserts
                    // with an advert and gratuitous ARP so that hosts that followed the
                    // other master come back.
                    if !self.config.lower_prio_no_advert {
                        self.send_advert(ours);
                        self.timers.set(Timer::Advert, now + self.config.advert_int);
                    }
                    if self.config.garp_lower_prio_repeat > 0 {
                        self.actions.push_back(Action::SendGarp {
                            count: self.config.garp_lower_prio_repeat,
                        });
                    }
                    Ok(Accepted::Reasserted)
                }
            }
            other => Err(Discard::NotListening(other)),
        }
    }

    /// The receive checks of RFC 3768 §7.1 / RFC 5798 §7.1 that depend on the
    /// instance (the packet layer already checked version, type and checksum).
    fn check(&self, rx: &Received) -> Result<(), Discard> {
        let adv = &rx.repr;
        if !matches!(self.state, State::Backup | State::Master) {
            return Err(Discard::NotListening(self.state));
        }
        if adv.vrid != self.config.vrid {
            return Err(Discard::OtherVrid(adv.vrid));
        }
        if rx.src == self.config.primary_ip {
            return Err(Discard::Own);
        }
        if self.config.check_unicast_src
            && !self.config.unicast_peers.is_empty()
            && !self.config.unicast_peers.contains(&rx.src)
        {
            return Err(Discard::NotAPeer { src: rx.src });
        }
        if adv.version != self.config.version {
            return Err(Discard::Version {
                src: rx.src,
                got: adv.version.number(),
                want: self.config.version.number(),
            });
        }
        // "MUST verify that the IP TTL is 255" - for multicast; keepalived accepts
        // other TTLs on unicast.
        if rx.dst.is_multicast() && rx.ttl != super::packet::TTL {
            return Err(Discard::Ttl {
                src: rx.src,
                ttl: rx.ttl,
            });
        }
        if adv.version == Version::V2 {
            let name = |a: &Auth| match a {
                Auth::None => "none",
                Auth::Pass(_) => "PASS",
            };
            match (&adv.auth, &self.config.auth) {
                (Auth::None, Auth::None) => {}
                (Auth::Pass(got), Auth::Pass(want)) => {
                    if got != want {
                        return Err(Discard::AuthPass { src: rx.src });
                    }
                }
                (got, want) => {
                    return Err(Discard::AuthType {
                        src: rx.src,
                        got: name(got),
                        want: name(want),
                    })
                }
            }
            // RFC 3768 §7.1: the advert interval MUST match.
            if adv.adver_int_cs != self.config.advert_int_cs() {
                return Err(Discard::Interval {
                    src: rx.src,
                    got: adv.adver_int_cs,
                    want: self.config.advert_int_cs(),
                });
            }
        }
        // RFC 3768 §7.1: "MUST verify that the VRID is configured ... and the local
        // router is not the IP Address owner".
        if self.config.priority == PRIORITY_OWNER {
            return Err(Discard::Owner { src: rx.src });
        }
        // RFC 3768 §7.1: a differing address list from a non-owner MUST be dropped.
        if !self.config.skip_check_adv_addr
            && adv.priority != PRIORITY_OWNER
            && !same_set(&adv.addrs, &self.vips())
        {
            return Err(Discard::Addresses {
                src: rx.src,
                got: adv.addrs.clone(),
                want: self.vips(),
            });
        }
        Ok(())
    }

    /// A tracked object changed. Weight 0: down -> FAULT, all up -> BACKUP.
    /// Otherwise the effective priority changes and the next advert carries it.
    pub fn set_tracked(&mut self, now: Instant, kind: TrackKind, name: &str, up: bool) {
        let mut changed = false;
        for (track, state) in self.config.track.iter().zip(self.track_up.iter_mut()) {
            let counts_up = up != track.reverse;
            if track.kind == kind && track.name == name && *state != counts_up {
                *state = counts_up;
                changed = true;
            }
        }
        if !changed {
            return;
        }
        match (self.state, self.fault_reason()) {
            (State::Backup | State::Master, Some(reason)) => self.become_fault(now, reason),
            (State::Fault, None) if !self.sync_fault => self.become_backup(now, Reason::TrackUp),
            (State::Master, None) => {
                // Tell the others our new priority now rather than at the next tick.
                self.send_advert(self.effective_priority());
                self.timers.set(Timer::Advert, now + self.config.advert_int);
            }
            _ => {}
        }
    }

    /// Sync groups: moves this instance to `target` because a group member moved.
    /// An instance faulty on its own account stays in FAULT.
    pub fn force_state(&mut self, now: Instant, target: State, reason: Reason) {
        match (self.state, target) {
            (State::Backup, State::Master) => self.become_master(now, reason),
            (State::Master, State::Backup) => self.become_backup(now, reason),
            (State::Fault, State::Backup) if self.sync_fault && self.fault_reason().is_none() => {
                self.sync_fault = false;
                self.become_backup(now, reason);
            }
            (State::Backup | State::Master, State::Fault) => {
                self.sync_fault = true;
                self.become_fault(now, reason);
            }
            _ => {}
        }
    }

    /// Whether FAULT comes from this instance's own tracking (not the sync group).
    pub fn own_fault(&self) -> bool {
        self.fault_reason().is_some()
    }

    fn fault_reason(&self) -> Option<Reason> {
        self.config
            .track
            .iter()
            .zip(&self.track_up)
            .find(|(t, up)| t.weight == 0 && !**up)
            .map(|(t, _)| Reason::TrackDown {
                kind: t.kind,
                name: t.name.clone(),
            })
    }

    fn send_advert(&mut self, priority: u8) {
        self.actions.push_back(Action::SendAdvert(Repr {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            adver_int_cs: self.config.advert_int_cs(),
            addrs: self.vips(),
            auth: self.config.auth,
        }));
    }

    fn restart_down_timer(&mut self, now: Instant) {
        self.down_since = Some(now);
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval());
    }

    /// The configured VIPs as the adverts carry them.
    fn vips(&self) -> Vec<IpAddr> {
        self.config.vips.clone()
    }

    fn change_state(&mut self, to: State, reason: Reason) {
        let from = self.state;
        self.state = to;
        self.actions
            .push_back(Action::StateChanged { from, to, reason });
    }

    /// RFC 3768 §6.4.1/§6.4.2 "transition to Master": advert, VIPs, gratuitous ARP,
    /// Adver_Timer.
    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.timers.stop_all();
        self.master = None;
        self.master_stopped = None;
        self.preempting = None;
        self.master_adver_int = self.config.advert_int;
        self.send_advert(self.effective_priority());
        self.actions.push_back(Action::AddVips);
        self.actions.push_back(Action::SendGarp {
            count: self.config.garp_master_repeat,
        });
        self.timers.set(Timer::Advert, now + self.config.advert_int);
        if self.config.garp_master_delay > Duration::ZERO {
            self.timers
                .set(Timer::GarpDelay, now + self.config.garp_master_delay);
        }
        if self.config.garp_master_refresh > Duration::ZERO {
            self.timers
                .set(Timer::GarpRefresh, now + self.config.garp_master_refresh);
        }
        self.change_state(State::Master, reason);
    }

    /// RFC 3768 §6.4.3 "transition to Backup": stop advertising, drop the VIPs,
    /// arm Master_Down_Timer.
    fn become_backup(&mut self, now: Instant, reason: Reason) {
        let was_master = self.state == State::Master;
        self.timers.stop_all();
        if was_master {
            self.actions.push_back(Action::RemoveVips);
        }
        self.master = None;
        self.master_stopped = None;
        self.preempting = None;
        self.restart_down_timer(now);
        self.change_state(State::Backup, reason);
    }

    /// keepalived's FAULT: a MASTER leaves with a priority-0 advert (so that a
    /// backup takes over after its skew time) and drops the VIPs.
    fn become_fault(&mut self, now: Instant, reason: Reason) {
        let _ = now;
        if self.state == State::Master {
            self.send_advert(PRIORITY_STOP);
            self.actions.push_back(Action::RemoveVips);
        }
        self.timers.stop_all();
        self.master = None;
        self.change_state(State::Fault, reason);
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}
