//! keepalived's sample configurations (testdata/keepalived-samples) through the
//! check layer: every virtual server converts to a service spec, the service
//! starts and settles, and the notes name only what vipd does not run.

use std::time::Duration;

use vipd_core::check::{from_config, Outcome, ServiceHealth};
use vipd_core::config;

#[test]
fn every_sample_converts_and_runs() {
    let dir = format!(
        "{}/../../testdata/keepalived-samples",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "samples missing from {dir}");
    let mut services = 0;
    let mut checkers = 0;
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = config::parse_str(path.to_str().unwrap(), &text);
        let (specs, notes) = from_config::services(&loaded.config);
        for n in &notes {
            assert!(
                [
                    "is not supported",
                    "regex",
                    "bind_if",
                    "fwmark",
                    "require_reply data"
                ]
                .iter()
                .any(|k| n.message.contains(k)),
                "{}: unexpected note {n:?}",
                path.display()
            );
        }
        for spec in specs {
            services += 1;
            checkers += spec.reals.iter().map(|r| r.checkers.len()).sum::<usize>();
            let mut svc = ServiceHealth::new(spec);
            svc.start(Duration::ZERO, 7);
            svc.set_master(true, Duration::ZERO);
            // Every probe passes for a while: every real server ends up in the table.
            for _ in 0..50 {
                let Some(now) = svc.poll_timeout() else { break };
                for id in svc.due_probes(now) {
                    svc.handle_outcome(now, id, &Outcome::from_misc_exit(Some(0), false, ""));
                }
            }
            let plan = svc.plan();
            assert!(plan.quorum_up, "{}: {}", path.display(), svc.spec().name);
            assert_eq!(
                plan.reals.iter().filter(|r| !r.sorry).count(),
                svc.spec().reals.len(),
                "{}: {}",
                path.display(),
                svc.spec().name
            );
        }
    }
    println!("{services} services, {checkers} checkers");
    assert!(
        services >= 15 && checkers >= 20,
        "{services} services, {checkers} checkers"
    );
}
