//! The instance state machine, one rule at a time: inputs with a given time,
//! expected actions and timers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd_core::vrrp::{
    Accepted, Action, Auth, Discard, Instance, InstanceConfig, Node, Reason, Received, Repr,
    ScriptVerdict, State, SyncGroupConfig, Timer, Track, TrackKind, Version,
};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 253, 85, 11));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 253, 85, 12));
const LOWER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 253, 85, 5));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 253, 85, 250));
const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

fn cfg(priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", "eth1", 51, priority, ME);
    c.vips = vec![VIP];
    c.auth = Auth::pass("1111");
    c
}

fn advert(src: IpAddr, priority: u8) -> Received {
    Received {
        src,
        dst: GROUP,
        ttl: 255,
        repr: Repr {
            version: Version::V2,
            vrid: 51,
            priority,
            adver_int_cs: 100,
            addrs: vec![VIP],
            auth: Auth::pass("1111"),
        },
    }
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An instance of `c`, started at `t0`.
fn started(c: InstanceConfig, t0: Instant) -> Instance {
    let mut i = Instance::new(c).unwrap();
    i.start(t0);
    i
}

/// Lets the next timer (the master-down timer of a fresh backup) fire and drains
/// the actions; returns when it fired.
fn fire_next_timer(i: &mut Instance) -> Instant {
    let at = i.poll_timeout().unwrap();
    i.handle_timeout(at);
    drain(i);
    at
}

/// An instance that became MASTER at `t0 + 3.61 s`, actions drained.
fn master(priority: u8) -> (Instance, Instant, Instant) {
    let t0 = Instant::now();
    let mut i = started(cfg(priority), t0);
    let at = fire_next_timer(&mut i);
    assert_eq!(i.state(), State::Master);
    (i, t0, at)
}

/// A MASTER of priority 100 that hears `from` advertise `priority`, `after`
/// seconds past taking over, and answers with `verdict`; returns it and the time.
fn master_hears(from: IpAddr, priority: u8, after: f64, verdict: Accepted) -> (Instance, Instant) {
    let (mut i, _, at) = master(100);
    let t = at + secs(after);
    assert_eq!(i.handle_packet(t, &advert(from, priority)), Ok(verdict));
    (i, t)
}

/// The actions of leaving MASTER: an advert with `priority` (a farewell, or 0),
/// the VIPs removed, then the change to state `to`, whose reason is returned.
fn left_master(actions: &[Action], priority: u8, to: State) -> &Reason {
    assert!(
        matches!(&actions[0], Action::SendAdvert(r) if r.priority == priority),
        "advert with priority {priority} first: {actions:?}"
    );
    assert_eq!(actions[1], Action::RemoveVips);
    match &actions[2] {
        Action::StateChanged { to: t, reason, .. } if *t == to => reason,
        other => panic!("not a change to {to:?}: {other:?}"),
    }
}

fn track(kind: TrackKind, name: &str, weight: i32, reverse: bool) -> Track {
    Track {
        kind,
        name: name.into(),
        weight,
        reverse,
    }
}

#[test]
fn starts_backup_and_takes_over_after_the_master_down_interval() {
    let t0 = Instant::now();
    let mut i = started(cfg(100), t0);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(
        drain(&mut i),
        vec![Action::StateChanged {
            from: State::Init,
            to: State::Backup,
            reason: Reason::Startup
        }]
    );
    // 3 x 1 s + (256 - 100) / 256 s.
    assert_eq!(
        i.master_down_interval(),
        Duration::from_secs(3) + Duration::from_secs(156) / 256
    );
    let at = i.poll_timeout().unwrap();
    assert_eq!(at - t0, i.master_down_interval());
    i.handle_timeout(at - Duration::from_millis(1));
    assert_eq!(i.state(), State::Backup);
    i.handle_timeout(at);
    let actions = drain(&mut i);
    assert!(matches!(&actions[0], Action::SendAdvert(r) if r.priority == 100));
    assert_eq!(actions[1], Action::AddVips);
    assert_eq!(actions[2], Action::SendGarp { count: 5 });
    assert!(matches!(
        &actions[3],
        Action::StateChanged {
            to: State::Master,
            reason: Reason::MasterDown { .. },
            ..
        }
    ));
    // Adverts every second; the second GARP burst after garp_master_delay (5 s).
    assert_eq!(i.timer(Timer::Advert), Some(at + secs(1.0)));
    assert_eq!(i.timer(Timer::GarpDelay), Some(at + secs(5.0)));
}

#[test]
fn backup_resets_on_adverts_and_uses_skew_for_priority_zero() {
    let t0 = Instant::now();
    let mut i = started(cfg(99), t0);
    let t1 = t0 + secs(2.0);
    assert_eq!(
        i.handle_packet(t1, &advert(PEER, 100)),
        Ok(Accepted::FromMaster)
    );
    assert_eq!(
        i.timer(Timer::MasterDown),
        Some(t1 + i.master_down_interval())
    );
    assert_eq!(i.master(), Some((PEER, 100)));
    let t2 = t1 + secs(0.5);
    i.handle_packet(t2, &advert(PEER, 0)).unwrap();
    // RFC 3768 §6.4.2: priority 0 -> Skew_Time = (256 - 99) / 256 s.
    assert_eq!(
        i.timer(Timer::MasterDown),
        Some(t2 + Duration::from_secs(157) / 256)
    );
    i.handle_timeout(t2 + Duration::from_secs(157) / 256);
    assert_eq!(i.state(), State::Master);
    assert!(drain(&mut i).iter().any(|a| matches!(
        a,
        Action::StateChanged {
            reason: Reason::MasterStopped { master: PEER },
            ..
        }
    )));
}

#[test]
fn backup_with_preempt_ignores_a_lower_master() {
    let t0 = Instant::now();
    let mut i = started(cfg(100), t0);
    let deadline = i.timer(Timer::MasterDown);
    assert_eq!(
        i.handle_packet(t0 + secs(1.0), &advert(PEER, 99)),
        Ok(Accepted::LowerPriorityIgnored)
    );
    assert_eq!(i.timer(Timer::MasterDown), deadline, "timer not reset");
    // nopreempt: the same advert resets the timer.
    let mut c = cfg(100);
    c.nopreempt = true;
    let mut i = started(c, t0);
    assert_eq!(
        i.handle_packet(t0 + secs(1.0), &advert(PEER, 99)),
        Ok(Accepted::FromMaster)
    );
    assert_eq!(
        i.timer(Timer::MasterDown),
        Some(t0 + secs(1.0) + i.master_down_interval())
    );
}

#[test]
fn master_steps_down_for_higher_priority_and_higher_address() {
    let (mut i, t) = master_hears(PEER, 101, 0.3, Accepted::SteppedDown);
    assert!(matches!(
        left_master(&drain(&mut i), 100, State::Backup),
        Reason::HigherPriority {
            priority: 101,
            ours: 100,
            ..
        }
    ));
    assert_eq!(i.timer(Timer::Advert), None);
    assert!(i.timer(Timer::MasterDown).is_some());

    // `higher_prio_send_advert false`: no farewell advert (RFC 3768).
    let mut c = cfg(100);
    c.higher_prio_send_advert = false;
    let mut i = started(c, t);
    let at2 = fire_next_timer(&mut i);
    i.handle_packet(at2, &advert(PEER, 101)).unwrap();
    assert_eq!(drain(&mut i)[0], Action::RemoveVips);

    // Equal priority: the higher primary address wins.
    master_hears(PEER, 100, 0.0, Accepted::SteppedDown);
    master_hears(LOWER_PEER, 100, 0.0, Accepted::Reasserted);
}

#[test]
fn master_reasserts_against_a_lower_master_with_garp() {
    let (mut i, t) = master_hears(PEER, 99, 0.4, Accepted::Reasserted);
    let actions = drain(&mut i);
    assert!(matches!(&actions[0], Action::SendAdvert(r) if r.priority == 100));
    assert_eq!(actions[1], Action::SendGarp { count: 5 });
    assert_eq!(i.timer(Timer::Advert), Some(t + secs(1.0)));
    assert_eq!(i.state(), State::Master);
    // Priority 0 from another (stopping) master: answered with an advert.
    assert_eq!(i.handle_packet(t, &advert(PEER, 0)), Ok(Accepted::Answered));
    assert!(matches!(&drain(&mut i)[..], [Action::SendAdvert(r)] if r.priority == 100));
}

#[test]
fn shutdown_sends_priority_zero_and_removes_vips() {
    let (mut i, _, at) = master(100);
    i.shutdown(at + secs(0.2));
    left_master(&drain(&mut i), 0, State::Stopped);
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn adverts_go_to_the_configured_multicast_group() {
    let mut c = cfg(100);
    assert_eq!(
        Instance::new(c.clone()).unwrap().destinations(),
        vec![Ipv4Addr::new(224, 0, 0, 18)]
    );
    c.mcast_group = Ipv4Addr::new(224, 0, 0, 19).into();
    assert_eq!(
        Instance::new(c).unwrap().destinations(),
        vec![Ipv4Addr::new(224, 0, 0, 19)]
    );
}

#[test]
fn handover_keeps_the_vips_and_sends_no_priority_zero() {
    let (mut i, _, at) = master(100);
    i.handover(at + secs(0.2));
    assert_eq!(
        drain(&mut i),
        vec![Action::StateChanged {
            from: State::Master,
            to: State::Stopped,
            reason: Reason::Handover
        }]
    );
    assert_eq!(i.poll_timeout(), None);
    // A backup cannot take over before 2 x 1 s + our skew (156/256 s).
    assert_eq!(
        i.takeover_margin(),
        Duration::from_secs(2) + Duration::from_secs(156) / 256
    );
}

#[test]
fn resume_is_master_at_once_and_keeps_advertising() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100)).unwrap();
    i.resume(t0);
    assert_eq!(i.state(), State::Master);
    let actions = drain(&mut i);
    assert!(matches!(&actions[0], Action::SendAdvert(r) if r.priority == 100));
    // The VIPs are (re)added: a no-op for addresses the old process left.
    assert!(actions.contains(&Action::AddVips));
    assert!(actions.contains(&Action::StateChanged {
        from: State::Init,
        to: State::Master,
        reason: Reason::Resumed
    }));
    assert_eq!(i.poll_timeout(), Some(t0 + secs(1.0)));
    // A higher-priority peer still wins as usual.
    i.handle_packet(t0 + secs(0.5), &advert(PEER, 200)).unwrap();
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn resume_with_a_tracked_object_down_is_fault() {
    let t0 = Instant::now();
    let mut c = cfg(100);
    c.track = vec![track(TrackKind::Interface, "eth0", 0, false)];
    let mut i = Instance::new(c).unwrap();
    i.set_tracked(t0, TrackKind::Interface, "eth0", false);
    i.resume(t0);
    assert_eq!(i.state(), State::Fault);
}

#[test]
fn receive_checks_discard_with_a_reason() {
    let t0 = Instant::now();
    let mut i = started(cfg(100), t0);
    let mut ttl = advert(PEER, 100);
    ttl.ttl = 254;
    assert_eq!(
        i.handle_packet(t0, &ttl),
        Err(Discard::Ttl {
            src: PEER,
            ttl: 254
        })
    );
    // Unicast: keepalived does not insist on TTL 255.
    let mut uni = ttl.clone();
    uni.dst = ME;
    assert!(i.handle_packet(t0, &uni).is_ok());
    let mut pass = advert(PEER, 100);
    pass.repr.auth = Auth::pass("2222");
    assert_eq!(
        i.handle_packet(t0, &pass),
        Err(Discard::AuthPass { src: PEER })
    );
    let mut none = advert(PEER, 100);
    none.repr.auth = Auth::None;
    assert!(matches!(
        i.handle_packet(t0, &none),
        Err(Discard::AuthType { .. })
    ));
    let mut int = advert(PEER, 100);
    int.repr.adver_int_cs = 200;
    assert_eq!(
        i.handle_packet(t0, &int),
        Err(Discard::Interval {
            src: PEER,
            got: 200,
            want: 100
        })
    );
    let mut v3 = advert(PEER, 100);
    v3.repr.version = Version::V3;
    v3.repr.auth = Auth::None;
    assert!(matches!(
        i.handle_packet(t0, &v3),
        Err(Discard::Version {
            got: 3,
            want: 2,
            ..
        })
    ));
    let mut addrs = advert(PEER, 100);
    addrs.repr.addrs = vec![Ipv4Addr::new(10, 253, 85, 251).into()];
    assert!(matches!(
        i.handle_packet(t0, &addrs),
        Err(Discard::Addresses { .. })
    ));
    let mut vrid = advert(PEER, 100);
    vrid.repr.vrid = 52;
    let err = i.handle_packet(t0, &vrid).unwrap_err();
    assert!(err.is_noise());
    assert_eq!(i.handle_packet(t0, &advert(ME, 100)), Err(Discard::Own));
    // The messages say what to do.
    assert!(Discard::AuthPass { src: PEER }
        .to_string()
        .contains("same auth_pass"));
}

#[test]
fn v3_backup_adopts_the_masters_interval() {
    let t0 = Instant::now();
    let mut c = cfg(99);
    c.version = Version::V3;
    c.auth = Auth::None;
    let mut i = started(c, t0);
    let mut adv = advert(PEER, 100);
    adv.repr.version = Version::V3;
    adv.repr.auth = Auth::None;
    adv.repr.adver_int_cs = 10;
    i.handle_packet(t0, &adv).unwrap();
    // RFC 5798 §6.4.2: 3 x 0.1 s + (256 - 99) x 0.1 / 256 s.
    let expected = Duration::from_millis(300) + Duration::from_millis(100) * 157 / 256;
    assert_eq!(i.master_down_interval(), expected);
    assert_eq!(i.timer(Timer::MasterDown), Some(t0 + expected));
}

#[test]
fn owner_goes_master_at_once_and_ignores_others() {
    let t0 = Instant::now();
    let mut i = started(cfg(255), t0);
    assert_eq!(i.state(), State::Master);
    assert_eq!(
        i.handle_packet(t0, &advert(PEER, 100)),
        Err(Discard::Owner { src: PEER })
    );
}

#[test]
fn garp_refresh_repeats_while_master() {
    let t0 = Instant::now();
    let mut c = cfg(100);
    c.garp_master_delay = Duration::ZERO;
    c.garp_master_refresh = secs(10.0);
    c.garp_master_refresh_repeat = 2;
    let mut i = started(c, t0);
    let at = fire_next_timer(&mut i);
    assert_eq!(i.timer(Timer::GarpDelay), None);
    i.handle_timeout(at + secs(10.0));
    let actions = drain(&mut i);
    assert!(
        actions.contains(&Action::SendGarp { count: 2 }),
        "{actions:?}"
    );
    assert_eq!(i.timer(Timer::GarpRefresh), Some(at + secs(20.0)));
}

#[test]
fn reverse_tracking_counts_an_object_up_while_it_is_down() {
    let t0 = Instant::now();
    let mut c = cfg(100);
    c.track = vec![
        track(TrackKind::Script, "chk_maint", -30, true),
        track(TrackKind::Script, "chk_standby", 0, true),
    ];
    let mut i = Instance::new(c).unwrap();
    // Both start up: the reversed ones count as down: -30, and FAULT.
    i.start(t0);
    assert_eq!(i.state(), State::Fault);
    assert_eq!(i.effective_priority(), 70);
    // chk_standby fails: no longer FAULT; chk_maint fails: no penalty.
    i.set_tracked(t0, TrackKind::Script, "chk_standby", false);
    assert_eq!(i.state(), State::Backup);
    i.set_tracked(t0, TrackKind::Script, "chk_maint", false);
    assert_eq!(i.effective_priority(), 100);
    // chk_maint succeeds again: -30.
    i.set_tracked(t0, TrackKind::Script, "chk_maint", true);
    assert_eq!(i.effective_priority(), 70);
}

#[test]
fn tracking_fault_and_weight() {
    let t0 = Instant::now();
    let mut c = cfg(100);
    c.track = vec![
        track(TrackKind::Interface, "eth1", 0, false),
        track(TrackKind::Script, "chk_http", -20, false),
        track(TrackKind::Script, "chk_bonus", 10, false),
    ];
    let mut i = started(c, t0);
    assert_eq!(
        i.effective_priority(),
        110,
        "positive weight added while up"
    );
    i.set_tracked(t0, TrackKind::Script, "chk_http", false);
    assert_eq!(
        i.effective_priority(),
        90,
        "negative weight added while down"
    );
    i.set_tracked(t0, TrackKind::Script, "chk_bonus", false);
    assert_eq!(i.effective_priority(), 80);
    let at = fire_next_timer(&mut i);
    assert_eq!(i.state(), State::Master);
    i.set_tracked(at, TrackKind::Interface, "eth1", false);
    assert_eq!(i.state(), State::Fault);
    assert!(matches!(
        left_master(&drain(&mut i), 0, State::Fault),
        Reason::TrackDown {
            kind: TrackKind::Interface,
            ..
        }
    ));
    assert!(
        i.handle_packet(at, &advert(PEER, 100)).is_err(),
        "FAULT does not listen"
    );
    i.set_tracked(at + secs(1.0), TrackKind::Interface, "eth1", true);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn script_verdict_feeds_tracking() {
    let mut v = ScriptVerdict::new(1, 2, false);
    assert_eq!(v.observe(false), None);
    assert_eq!(v.observe(false), Some(false));
}

#[test]
fn sync_group_members_move_together() {
    let t0 = Instant::now();
    let mut a = cfg(100);
    a.track = vec![track(TrackKind::Interface, "eth1", 0, false)];
    let mut b = InstanceConfig::new("VI_2", "eth2", 52, 100, Ipv4Addr::new(10, 0, 0, 1).into());
    b.vips = vec![Ipv4Addr::new(10, 0, 0, 250).into()];
    let group = SyncGroupConfig {
        name: "G1".into(),
        members: vec!["VI_1".into(), "VI_2".into()],
    };
    let mut node = Node::new(
        vec![Instance::new(a).unwrap(), Instance::new(b).unwrap()],
        &[group],
    )
    .unwrap();
    node.start(t0);
    let states = |n: &Node| n.instances().iter().map(|i| i.state()).collect::<Vec<_>>();
    assert_eq!(states(&node), vec![State::Backup, State::Backup]);
    // VI_1 hears a higher master: only VI_1's timer resets, but when VI_2's timer
    // fires VI_2 becomes MASTER and takes VI_1 along.
    node.handle_packet(t0 + secs(1.0), "eth1", &advert(PEER, 200))
        .unwrap()
        .1
        .unwrap();
    let t = node.poll_timeout().unwrap();
    node.handle_timeout(t);
    assert_eq!(states(&node), vec![State::Master, State::Master]);
    let changes: Vec<_> = std::iter::from_fn(|| node.poll_action())
        .filter_map(|(idx, a)| match a {
            Action::StateChanged { to, reason, .. } => Some((idx, to, reason)),
            _ => None,
        })
        .collect();
    assert!(changes.iter().any(|(idx, to, r)| *idx == 0
        && *to == State::Master
        && matches!(r, Reason::SyncGroup { member, .. } if member == "VI_2")));
    // VI_1's interface goes down: the whole group is FAULT, and comes back together.
    node.set_tracked(t + secs(1.0), TrackKind::Interface, "eth1", false);
    assert_eq!(states(&node), vec![State::Fault, State::Fault]);
    node.set_tracked(t + secs(2.0), TrackKind::Interface, "eth1", true);
    assert_eq!(states(&node), vec![State::Backup, State::Backup]);
    // Unknown member: a clear error.
    let bad = SyncGroupConfig {
        name: "G2".into(),
        members: vec!["VI_9".into()],
    };
    let err = Node::new(vec![], &[bad]).unwrap_err();
    assert!(err.to_string().contains("no vrrp_instance named VI_9"));
}

#[test]
fn config_errors_say_what_to_do() {
    let mut c = cfg(100);
    c.version = Version::V3;
    assert!(Instance::new(c.clone())
        .unwrap_err()
        .to_string()
        .contains("does not support authentication"));
    c.auth = Auth::None;
    c.advert_int = Duration::from_millis(100);
    assert!(Instance::new(c.clone()).is_ok());
    c.version = Version::V2;
    assert!(Instance::new(c)
        .unwrap_err()
        .to_string()
        .contains("whole seconds"));
    assert!(Instance::new(cfg(0)).is_err());
}

#[test]
fn keepalived_options_for_lower_priority_masters_and_peers() {
    let t0 = Instant::now();
    let mut c = cfg(100);
    c.lower_prio_no_advert = true;
    c.garp_lower_prio_repeat = 2;
    let mut i = started(c, t0);
    let at = fire_next_timer(&mut i);
    assert_eq!(
        i.handle_packet(at, &advert(PEER, 99)),
        Ok(Accepted::Reasserted)
    );
    assert_eq!(
        drain(&mut i),
        vec![Action::SendGarp { count: 2 }],
        "GARP only"
    );

    let mut c = cfg(100);
    c.unicast_peers = vec![PEER];
    c.check_unicast_src = true;
    let mut i = started(c, t0);
    let mut from_stranger = advert(LOWER_PEER, 100);
    from_stranger.dst = ME;
    assert_eq!(
        i.handle_packet(t0, &from_stranger),
        Err(Discard::NotAPeer { src: LOWER_PEER })
    );

    let mut c = cfg(100);
    c.skip_check_adv_addr = true;
    let mut i = started(c, t0);
    let mut other_vips = advert(PEER, 100);
    other_vips.repr.addrs = vec![];
    assert!(i.handle_packet(t0, &other_vips).is_ok());
}

/// An IPv4 and an IPv6 instance on one interface may share a VRID (RFC 5798
/// §5.2.3, common in dual-stack keepalived files): each advert goes to the
/// instance of its family, which accepts it.
#[test]
fn an_ipv4_and_an_ipv6_instance_may_share_a_vrid() {
    let t0 = Instant::now();
    let mut v6 = InstanceConfig::new("V6", "eth1", 51, 100, "fe80::11".parse().unwrap());
    v6.version = Version::V3;
    v6.vips = vec!["2001:db8:85::250".parse().unwrap()];
    v6.mcast_group = "ff02::12".parse().unwrap();
    let mut node = Node::new(
        vec![Instance::new(cfg(100)).unwrap(), Instance::new(v6).unwrap()],
        &[],
    )
    .unwrap();
    node.start(t0);
    let rx6 = Received {
        src: "fe80::12".parse().unwrap(),
        dst: "ff02::12".parse().unwrap(),
        ttl: 255,
        repr: Repr {
            version: Version::V3,
            vrid: 51,
            priority: 200,
            adver_int_cs: 100,
            addrs: vec!["2001:db8:85::250".parse().unwrap()],
            auth: Auth::None,
        },
    };
    let (idx, r) = node.handle_packet(t0 + secs(0.5), "eth1", &rx6).unwrap();
    assert_eq!(idx, 1);
    assert!(r.is_ok(), "{r:?}");
    let (idx, r) = node
        .handle_packet(t0 + secs(0.5), "eth1", &advert(PEER, 200))
        .unwrap();
    assert_eq!(idx, 0);
    assert!(r.is_ok(), "{r:?}");
}
