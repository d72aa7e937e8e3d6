//! The HealthDriver with real HTTP servers: ha_suspend sends no checks until
//! MASTER, a reload keeps unchanged real servers and checks the new one.

mod probe_support;

use std::time::{Duration, Instant};

use probe_support::*;
use vipd::probe::driver::{HealthDriver, Update};
use vipd::probe::Prober;
use vipd_core::check::{Event, RealSpec, ServiceSpec, UrlSpec};

fn service(name: &str, addrs: &[std::net::SocketAddr], ha_suspend: bool) -> ServiceSpec {
    let reals = addrs
        .iter()
        .map(|a| {
            let mut r = RealSpec::new(*a);
            let mut c = http_get(*a, UrlSpec::path("/"), Duration::from_secs(1));
            c.timing.delay_loop = Duration::from_millis(300);
            r.checkers.push(c);
            r
        })
        .collect();
    let mut s = ServiceSpec::new(name, reals);
    s.ha_suspend = ha_suspend;
    s
}

/// Run the driver until `done(driver)` or the deadline; return all updates.
async fn run_until(
    driver: &mut HealthDriver,
    deadline: Duration,
    mut done: impl FnMut(&HealthDriver) -> bool,
) -> Vec<Update> {
    let started = Instant::now();
    let mut updates = Vec::new();
    while !done(driver) {
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, driver.next()).await {
            Ok(u) => updates.push(u),
            Err(_) => break,
        }
    }
    updates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_suspend_sends_no_checks_until_master() {
    let a = http_server("200 OK", b"a").await;
    let b = http_server("200 OK", b"b").await;
    let spec = service("suspend", &[a.addr, b.addr], true);
    let (mut driver, first) = HealthDriver::start(vec![spec], Prober::new(), 3, false);
    assert!(first
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::ChecksSuspended { .. })));
    // As BACKUP: a second of silence.
    let updates = run_until(&mut driver, Duration::from_secs(1), |_| false).await;
    assert!(updates.is_empty(), "{updates:?}");
    assert_eq!(a.requests.lock().unwrap().len(), 0);
    assert_eq!(b.requests.lock().unwrap().len(), 0);
    // MASTER: checks start at once and the real servers come up (alpha).
    let u = driver.set_master(true);
    assert!(matches!(u.events[0].1, Event::ChecksResumed { .. }));
    let started = Instant::now();
    run_until(&mut driver, Duration::from_secs(3), |d| {
        d.plans()[0].reals.len() == 2
    })
    .await;
    assert_eq!(driver.plans()[0].reals.len(), 2);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(!a.requests.lock().unwrap().is_empty());
    // BACKUP again: no more requests.
    driver.set_master(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = a.requests.lock().unwrap().len();
    run_until(&mut driver, Duration::from_secs(1), |_| false).await;
    assert_eq!(a.requests.lock().unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_state_and_checks_the_new_real_server() {
    let a = http_server("200 OK", b"a").await;
    let b = http_server("200 OK", b"b").await;
    let c = http_server("200 OK", b"c").await;
    let (mut driver, _) = HealthDriver::start(
        vec![service("vs", &[a.addr, b.addr], false)],
        Prober::new(),
        5,
        true,
    );
    run_until(&mut driver, Duration::from_secs(3), |d| {
        d.plans()[0].reals.len() == 2
    })
    .await;
    assert_eq!(driver.plans()[0].reals.len(), 2);
    let u = driver.reload(
        vec![service("vs", &[a.addr, b.addr, c.addr], false)],
        5,
        true,
    );
    // The two known real servers stay in the table; the new one waits (alpha).
    let plan = &u.plans[0].1;
    assert_eq!(
        plan.reals.iter().map(|r| r.addr).collect::<Vec<_>>(),
        vec![a.addr, b.addr]
    );
    assert!(u.events.is_empty(), "{:?}", u.events);
    let updates = run_until(&mut driver, Duration::from_secs(3), |d| {
        d.plans()[0].reals.len() == 3
    })
    .await;
    assert_eq!(driver.plans()[0].reals.len(), 3);
    // Only the new one changed state.
    let ups: Vec<String> = updates
        .iter()
        .flat_map(|u| u.events.iter())
        .filter(|(_, e)| matches!(e, Event::RealUp { .. } | Event::RealDown { .. }))
        .map(|(_, e)| e.to_string())
        .collect();
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert!(ups[0].contains(&c.addr.to_string()));
    let status = driver.status();
    assert_eq!(status[0].reals.len(), 3);
    assert!(status[0].reals.iter().all(|r| r.alive));
    // The status serializes for `vipd status --json`.
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains("\"kind\":\"HTTP_GET\""), "{json}");
}
