//! Property tests of the checker state machine against keepalived's rules,
//! stated independently: for any sequence of probe results,
//! - a checker goes down only after `retry + 1` consecutive failures while up
//!   (or 1 on its very first probe without alpha), and up only on a success;
//! - probes are `delay_before_retry` apart while retrying, `delay_loop` otherwise;
//! - a real server is up exactly when all its checkers are.

use std::time::Duration;

use proptest::prelude::*;
use vipd_core::check::*;

fn timing(retry: u32, alpha: bool) -> CheckTiming {
    CheckTiming {
        delay_loop: Duration::from_secs(6),
        retry,
        delay_before_retry: Duration::from_secs(2),
        warmup: Duration::from_secs(6),
        alpha,
    }
}

proptest! {
    #[test]
    fn checker_follows_keepalived_rules(
        results in prop::collection::vec(any::<bool>(), 1..200),
        retry in 0u32..5,
        alpha in any::<bool>(),
        jitter in 0.0f64..=1.0,
    ) {
        let t = timing(retry, alpha);
        let mut c = Checker::new(t.clone());
        c.start(Duration::ZERO, jitter);
        let mut up = !alpha;
        let mut first = true;
        let mut fails_while_up = 0u32;
        let mut now = c.poll_timeout().unwrap();
        prop_assert!(now <= t.warmup);
        for ok in results {
            prop_assert!(c.begin(now));
            let v = c.finish(now, &if ok { Outcome::pass() } else { Outcome::fail("x") });
            // Model.
            let expect = if ok {
                fails_while_up = 0;
                if up { if first { Verdict::Confirmed { up: true } } else { Verdict::Steady } }
                else { up = true; Verdict::WentUp }
            } else if up {
                if first || fails_while_up >= retry {
                    let failures = if first { 1 } else { fails_while_up + 1 };
                    up = false;
                    fails_while_up = 0;
                    Verdict::WentDown { failures }
                } else {
                    fails_while_up += 1;
                    Verdict::Retrying { attempt: fails_while_up, of: retry }
                }
            } else if first {
                Verdict::Confirmed { up: false }
            } else {
                Verdict::Steady
            };
            first = false;
            prop_assert_eq!(v, expect);
            prop_assert_eq!(c.is_up(), up);
            let next = c.poll_timeout().unwrap();
            let gap = next - now;
            if matches!(v, Verdict::Retrying { .. }) {
                prop_assert_eq!(gap, t.delay_before_retry);
            } else {
                prop_assert_eq!(gap, t.delay_loop);
            }
            now = next;
        }
    }

    #[test]
    fn real_is_up_exactly_when_all_checkers_are(
        steps in prop::collection::vec((0usize..3, any::<bool>()), 1..100),
        alpha in any::<bool>(),
    ) {
        let rip = "10.0.0.1:80".parse().unwrap();
        let mut real = RealSpec::new(rip);
        for port in [80, 81, 82] {
            real.checkers.push(CheckerSpec {
                kind: CheckKind::Tcp,
                connect: ConnectSpec::to(std::net::SocketAddr::new(rip.ip(), port)),
                timing: timing(0, alpha),
            });
        }
        let mut svc = ServiceHealth::new(ServiceSpec::new("vs", vec![real]));
        svc.start(Duration::ZERO, 1);
        let mut t = Duration::ZERO;
        for (checker, ok) in steps {
            // Wait for that checker's probe to be due.
            loop {
                t = svc.poll_timeout().unwrap().max(t);
                let due = svc.due_probes(t);
                let mut hit = false;
                for id in due {
                    let pass = if id.checker == checker { hit = true; ok } else { svc.status().reals[0].checkers[id.checker].up };
                    svc.handle_outcome(t, id, &if pass { Outcome::pass() } else { Outcome::fail("x") });
                }
                if hit { break; }
            }
            let st = svc.status();
            let all = st.reals[0].checkers.iter().all(|c| c.up);
            prop_assert_eq!(st.reals[0].alive, all);
            prop_assert_eq!(svc.plan().reals.len(), usize::from(all));
        }
    }
}
