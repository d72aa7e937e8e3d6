//! Simulation: N VRRP routers on a virtual LAN with a virtual clock, seeded loss
//! and partitions. Adverts go through the real encoder and decoder (IPv4 header,
//! checksums) on their way between routers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd_core::vrrp::packet;
use vipd_core::vrrp::{Action, Auth, Instance, InstanceConfig, Reason, State, Version};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 253, 85, 250);
/// One-way delay on the virtual LAN.
const DELAY: Duration = Duration::from_millis(1);

/// splitmix64: a tiny seeded generator, so that every run is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Router {
    inst: Instance,
    alive: bool,
    holds_vip: bool,
    /// Times at which gratuitous ARP bursts were sent.
    garps: Vec<Instant>,
    /// Times at which adverts were sent (with priority).
    adverts: Vec<(Instant, u8)>,
    /// Every state change.
    changes: Vec<(Instant, State, Reason)>,
}

struct Lan {
    t0: Instant,
    now: Instant,
    routers: Vec<Router>,
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    rng: Rng,
    loss: f64,
    /// Partition id of each router: adverts only reach the same id.
    side: Vec<u8>,
}

fn config(n: usize, priority: u8, version: Version, advert_int: Duration) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        &format!("VI_{n}"),
        "eth1",
        51,
        priority,
        Ipv4Addr::new(10, 253, 85, 10 + n as u8).into(),
    );
    c.version = version;
    c.advert_int = advert_int;
    c.vips = vec![VIP.into()];
    if version == Version::V2 {
        c.auth = Auth::pass("1111");
    }
    c
}

impl Lan {
    fn new(configs: Vec<InstanceConfig>, seed: u64, loss: f64) -> Self {
        let t0 = Instant::now();
        let n = configs.len();
        let routers = configs
            .into_iter()
            .map(|c| Router {
                inst: Instance::new(c).unwrap(),
                alive: false,
                holds_vip: false,
                garps: Vec::new(),
                adverts: Vec::new(),
                changes: Vec::new(),
            })
            .collect();
        Self {
            t0,
            now: t0,
            routers,
            in_flight: Vec::new(),
            rng: Rng(seed),
            loss,
            side: vec![0; n],
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn start(&mut self, r: usize) {
        self.routers[r].alive = true;
        let now = self.now;
        self.routers[r].inst.start(now);
        self.process(r);
    }

    fn start_all(&mut self) {
        for r in 0..self.routers.len() {
            self.start(r);
        }
    }

    /// SIGKILL: the router stops dead (a killed master keeps the VIP on its
    /// interface, but nobody answers for it any more).
    fn kill(&mut self, r: usize) {
        self.routers[r].alive = false;
        self.routers[r].holds_vip = false;
        self.in_flight.retain(|(_, to, _)| *to != r);
    }

    /// SIGTERM: priority-0 advert, VIPs removed, then gone.
    fn terminate(&mut self, r: usize) {
        let now = self.now;
        self.routers[r].inst.shutdown(now);
        self.process(r);
        self.routers[r].alive = false;
        self.in_flight.retain(|(_, to, _)| *to != r);
    }

    /// A killed router comes back with a fresh instance (same config).
    fn restart(&mut self, r: usize) {
        let cfg = self.routers[r].inst.config().clone();
        self.routers[r].inst = Instance::new(cfg).unwrap();
        self.start(r);
    }

    fn process(&mut self, r: usize) {
        let now = self.now;
        while let Some(action) = self.routers[r].inst.poll_action() {
            match action {
                Action::SendAdvert(repr) => {
                    self.routers[r].adverts.push((now, repr.priority));
                    for dst in self.routers[r].inst.destinations() {
                        let msg = self.routers[r].inst.encode_advert(&repr, dst);
                        let src = self.routers[r].inst.config().primary_ip;
                        let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
                            unreachable!("IPv4 routers")
                        };
                        let datagram = packet::wrap_datagram(&msg, src, dst, 255, 0);
                        for to in 0..self.routers.len() {
                            if to == r || !self.routers[to].alive || self.side[to] != self.side[r] {
                                continue;
                            }
                            if dst != packet::MULTICAST_GROUP
                                && self.routers[to].inst.config().primary_ip != dst
                            {
                                continue;
                            }
                            if self.rng.chance(self.loss) {
                                continue;
                            }
                            self.in_flight.push((now + DELAY, to, datagram.clone()));
                        }
                    }
                }
                Action::AddVips => self.routers[r].holds_vip = true,
                Action::RemoveVips => self.routers[r].holds_vip = false,
                Action::SendGarp { count } => {
                    assert!(count > 0);
                    self.routers[r].garps.push(now);
                }
                Action::StateChanged { to, reason, .. } => {
                    self.routers[r].changes.push((now, to, reason));
                }
            }
        }
    }

    /// Runs the LAN until `until`, calling `check` after every event.
    fn run_until_with(&mut self, until: Instant, mut check: impl FnMut(&Lan)) {
        loop {
            let next_packet = self.in_flight.iter().map(|(t, _, _)| *t).min();
            let next_timer = self
                .routers
                .iter()
                .filter(|r| r.alive)
                .filter_map(|r| r.inst.poll_timeout())
                .min();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            // Deliver everything due.
            let mut due = Vec::new();
            self.in_flight.retain(|(t, to, d)| {
                if *t <= now {
                    due.push((*to, d.clone()));
                    false
                } else {
                    true
                }
            });
            for (to, datagram) in due {
                if !self.routers[to].alive {
                    continue;
                }
                let v3_as_v2 = self.routers[to].inst.config().v3_checksum_as_v2;
                let rx = packet::parse_datagram(&datagram, v3_as_v2).expect("valid advert");
                let _ = self.routers[to].inst.handle_packet(now, &rx);
                self.process(to);
            }
            for r in 0..self.routers.len() {
                if self.routers[r].alive {
                    self.routers[r].inst.handle_timeout(now);
                    self.process(r);
                }
            }
            check(self);
        }
        self.now = self.now.max(until);
    }

    fn run_until(&mut self, until: Instant) {
        self.run_until_with(until, |_| {});
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&r| self.routers[r].alive && self.routers[r].inst.state() == State::Master)
            .collect()
    }

    fn vip_holders(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&r| self.routers[r].alive && self.routers[r].holds_vip)
            .collect()
    }

    fn became_master_at(&self, r: usize, after: Instant) -> Option<Instant> {
        self.routers[r]
            .changes
            .iter()
            .find(|(t, s, _)| *t >= after && *s == State::Master)
            .map(|(t, _, _)| *t)
    }

    fn last_advert_before(&self, r: usize, t: Instant) -> Instant {
        self.routers[r]
            .adverts
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .unwrap()
            .0
    }
}

fn v2_trio(seed: u64, loss: f64) -> Lan {
    Lan::new(
        vec![
            config(1, 100, Version::V2, Duration::from_secs(1)),
            config(2, 99, Version::V2, Duration::from_secs(1)),
            config(3, 98, Version::V2, Duration::from_secs(1)),
        ],
        seed,
        loss,
    )
}

#[test]
fn exactly_one_master_in_steady_state() {
    for seed in 0..20 {
        let mut lan = v2_trio(seed, 0.0);
        lan.start_all();
        // The first master appears after 3 x advert + skew(100) = 3.609 s.
        let settle = lan.at(5.0);
        lan.run_until(settle);
        lan.run_until_with(lan.at(60.0), |lan| {
            assert_eq!(lan.masters(), vec![0], "seed {seed}");
            assert_eq!(lan.vip_holders(), vec![0], "seed {seed}");
        });
        let first = lan.became_master_at(0, lan.t0).unwrap() - lan.t0;
        assert!(
            (Duration::from_millis(3609)..Duration::from_millis(3611)).contains(&first),
            "seed {seed}: first master after {first:?}"
        );
    }
}

#[test]
fn lossy_lan_converges_and_split_brains_heal_quickly() {
    let mut splits = 0;
    for seed in 0..10 {
        let mut lan = v2_trio(seed, 0.1);
        lan.start_all();
        lan.run_until(lan.at(5.0));
        // With 10 % loss a backup sometimes misses 3 adverts in a row and takes
        // over; the two masters resolve as soon as one advert gets through in
        // either direction: within an interval without loss, a few with it.
        let mut multi_since: Option<Instant> = None;
        let mut worst = Duration::ZERO;
        lan.run_until_with(lan.at(120.0), |lan| {
            let n = lan.masters().len();
            assert!(n >= 1, "seed {seed}: no master at {:?}", lan.now - lan.t0);
            if n > 1 {
                if multi_since.is_none() {
                    splits += 1;
                }
                let since = *multi_since.get_or_insert(lan.now);
                worst = worst.max(lan.now - since);
            } else {
                multi_since = None;
            }
        });
        assert!(
            worst <= Duration::from_secs(3) + 2 * DELAY,
            "seed {seed}: two masters for {worst:?}"
        );
        lan.loss = 0.0;
        lan.run_until(lan.at(130.0));
        assert_eq!(lan.masters(), vec![0], "seed {seed}");
        assert_eq!(lan.vip_holders(), vec![0], "seed {seed}");
    }
    assert!(
        splits > 0,
        "the loss never caused a split brain: the test tests nothing"
    );
}

#[test]
fn sigkill_failover_is_bounded_by_three_adverts_plus_skew() {
    for seed in 0..20 {
        let mut lan = v2_trio(seed, 0.0);
        lan.start_all();
        lan.run_until(lan.at(10.0));
        // Kill at a random point of the advert cycle.
        let offset = lan.rng.below(1000);
        lan.run_until(lan.at(10.0 + offset as f64 / 1000.0));
        let killed_at = lan.now;
        let last = lan.last_advert_before(0, killed_at);
        lan.kill(0);
        lan.run_until(lan.at(20.0));
        let took = lan
            .became_master_at(1, killed_at)
            .expect("backup took over")
            - last;
        // 3 x 1 s + (256 - 99) / 256 s, counted from the last advert heard.
        let bound = Duration::from_secs(3) + Duration::from_secs(157) / 256 + DELAY;
        assert!(took <= bound, "seed {seed}: {took:?} > {bound:?}");
        assert!(
            took >= bound - 2 * DELAY,
            "seed {seed}: too early, {took:?}"
        );
        assert_eq!(lan.masters(), vec![1], "seed {seed}");
        assert_eq!(lan.vip_holders(), vec![1], "seed {seed}");
        // The new master announced itself with gratuitous ARP.
        assert!(lan.routers[1].garps.iter().any(|t| *t >= killed_at));
    }
}

#[test]
fn sigterm_failover_takes_only_the_skew_time() {
    let mut lan = v2_trio(7, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.3));
    let stopped_at = lan.now;
    lan.terminate(0);
    assert_eq!(
        lan.routers[0].adverts.last().unwrap().1,
        0,
        "priority-0 advert"
    );
    assert!(!lan.routers[0].holds_vip, "VIPs removed on shutdown");
    lan.run_until(lan.at(15.0));
    let took = lan.became_master_at(1, stopped_at).unwrap() - stopped_at;
    let skew = Duration::from_secs(157) / 256;
    assert!(took <= skew + DELAY, "{took:?}");
    assert!(matches!(
        lan.routers[1].changes.last().unwrap().2,
        Reason::MasterStopped { .. }
    ));
    assert_eq!(lan.masters(), vec![1]);
}

#[test]
fn v3_fast_adverts_fail_over_in_a_third_of_a_second() {
    let int = Duration::from_millis(100);
    for seed in 0..10 {
        let mut lan = Lan::new(
            vec![
                config(1, 100, Version::V3, int),
                config(2, 99, Version::V3, int),
            ],
            seed,
            0.0,
        );
        lan.start_all();
        let ms = lan.rng.below(100) as f64;
        lan.run_until(lan.at(2.0 + ms / 1000.0));
        let killed_at = lan.now;
        let last = lan.last_advert_before(0, killed_at);
        lan.kill(0);
        lan.run_until(lan.at(4.0));
        let took = lan.became_master_at(1, killed_at).unwrap() - last;
        // 3 x 0.1 s + 157 x 0.1 / 256 s = 0.3613 s.
        let bound = 3 * int + int * 157 / 256 + DELAY;
        assert!(took <= bound, "seed {seed}: {took:?} > {bound:?}");
        assert_eq!(lan.masters(), vec![1]);
    }
}

#[test]
fn partition_heals_to_one_master_within_one_interval_with_garp() {
    for seed in 0..10 {
        let mut lan = v2_trio(seed, 0.0);
        lan.start_all();
        lan.run_until(lan.at(10.0));
        // Cut router 0 (the master) off from the others: the others elect 1.
        lan.side = vec![0, 1, 1];
        lan.run_until(lan.at(20.0));
        assert_eq!(
            lan.masters(),
            vec![0, 1],
            "seed {seed}: both sides have a master"
        );
        let ms = lan.rng.below(1000) as f64;
        let heal = lan.at(20.0 + ms / 1000.0);
        lan.run_until(heal);
        lan.side = vec![0, 0, 0];
        lan.run_until(heal + Duration::from_secs(1) + 2 * DELAY);
        assert_eq!(
            lan.masters(),
            vec![0],
            "seed {seed}: one master after the heal"
        );
        assert_eq!(lan.vip_holders(), vec![0], "seed {seed}");
        // The surviving master re-announced the VIP after the heal (it heard a
        // lower-priority master, or won the tie): hosts that followed the other
        // side are pulled back.
        assert!(
            lan.routers[0].garps.iter().any(|t| *t >= heal),
            "seed {seed}: no GARP after the heal"
        );
        lan.run_until(lan.at(40.0));
        assert_eq!(lan.masters(), vec![0], "seed {seed}: stable");
    }
}

#[test]
fn returning_master_preempts() {
    let mut lan = v2_trio(3, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    lan.kill(0);
    lan.run_until(lan.at(20.0));
    assert_eq!(lan.masters(), vec![1]);
    let back = lan.now;
    lan.restart(0);
    lan.run_until(lan.at(30.0));
    assert_eq!(lan.masters(), vec![0]);
    let took = lan.became_master_at(0, back).unwrap() - back;
    // keepalived measured ~3.65 s: the lower master's adverts are discarded
    // until the master down timer (3 + 156/256 s) fires.
    assert!(took <= Duration::from_millis(3610), "{took:?}");
    assert!(matches!(
        lan.routers[0].changes.last().unwrap().2,
        Reason::Preempt { .. }
    ));
    assert_eq!(lan.vip_holders(), vec![0]);
}

#[test]
fn nopreempt_keeps_the_vip_where_it_is() {
    let mut configs = vec![
        config(1, 100, Version::V2, Duration::from_secs(1)),
        config(2, 99, Version::V2, Duration::from_secs(1)),
    ];
    for c in &mut configs {
        c.nopreempt = true;
    }
    let mut lan = Lan::new(configs, 1, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    lan.kill(0);
    lan.run_until(lan.at(20.0));
    lan.restart(0);
    lan.run_until(lan.at(40.0));
    assert_eq!(lan.masters(), vec![1], "the returning node stays BACKUP");
}

#[test]
fn preempt_delay_waits_before_preempting() {
    let mut configs = vec![
        config(1, 100, Version::V2, Duration::from_secs(1)),
        config(2, 99, Version::V2, Duration::from_secs(1)),
    ];
    configs[0].preempt_delay = Duration::from_secs(10);
    let mut lan = Lan::new(configs, 1, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    lan.kill(0);
    lan.run_until(lan.at(20.0));
    let back = lan.now;
    lan.restart(0);
    lan.run_until(lan.at(29.0));
    assert_eq!(lan.masters(), vec![1], "still inside preempt_delay");
    lan.run_until(lan.at(32.0));
    assert_eq!(lan.masters(), vec![0]);
    let took = lan.became_master_at(0, back).unwrap() - back;
    assert!(
        took >= Duration::from_secs(10) && took <= Duration::from_secs(11),
        "{took:?}"
    );
}

#[test]
fn equal_priority_goes_to_the_higher_address() {
    for seed in 0..5 {
        let mut lan = Lan::new(
            vec![
                config(1, 100, Version::V2, Duration::from_secs(1)),
                config(2, 100, Version::V2, Duration::from_secs(1)),
            ],
            seed,
            0.0,
        );
        lan.start_all();
        lan.run_until(lan.at(10.0));
        assert_eq!(lan.masters(), vec![1], "10.253.85.12 > .11");
    }
}

#[test]
fn owner_is_master_at_once() {
    let mut lan = Lan::new(
        vec![
            config(1, 255, Version::V2, Duration::from_secs(1)),
            config(2, 100, Version::V2, Duration::from_secs(1)),
        ],
        0,
        0.0,
    );
    lan.start_all();
    assert_eq!(lan.masters(), vec![0]);
    lan.run_until(lan.at(10.0));
    assert_eq!(lan.masters(), vec![0]);
}

#[test]
fn mismatched_auth_or_version_gives_two_masters_like_keepalived() {
    let mut configs = vec![
        config(1, 100, Version::V2, Duration::from_secs(1)),
        config(2, 99, Version::V2, Duration::from_secs(1)),
    ];
    configs[1].auth = Auth::pass("2222");
    let mut lan = Lan::new(configs, 0, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    assert_eq!(lan.masters(), vec![0, 1]);

    let configs = vec![
        config(1, 100, Version::V2, Duration::from_secs(1)),
        config(2, 99, Version::V3, Duration::from_secs(1)),
    ];
    let mut lan = Lan::new(configs, 0, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    assert_eq!(lan.masters(), vec![0, 1]);
}

#[test]
fn unicast_peers() {
    let mut configs = vec![
        config(1, 100, Version::V2, Duration::from_secs(1)),
        config(2, 99, Version::V2, Duration::from_secs(1)),
    ];
    configs[0].unicast_peers = vec![configs[1].primary_ip];
    configs[1].unicast_peers = vec![configs[0].primary_ip];
    let mut lan = Lan::new(configs, 0, 0.0);
    lan.start_all();
    lan.run_until(lan.at(10.0));
    assert_eq!(lan.masters(), vec![0]);
    lan.kill(0);
    lan.run_until(lan.at(20.0));
    assert_eq!(lan.masters(), vec![1]);
}
