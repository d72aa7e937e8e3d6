//! `uthreshold` / `lthreshold`: a real server with as many connections as its
//! upper threshold takes no new connection (its own carry on) until it has
//! fewer than its lower threshold. rr over the seed's three real servers, rs1
//! with `uthreshold 2 lthreshold 1`, the VIP static (no VRRP).

mod lab_support;

use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

const CONF: &str = "\
global_defs {
    lvs_timeouts tcp 900 tcpfin 1 udp 300
}
static_ipaddress {
    10.253.85.250/32 dev eth1
}
virtual_server 10.253.85.250 80 {
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    real_server 10.253.26.1 80 {
        uthreshold 2
        lthreshold 1
        TCP_CHECK {
        }
    }
    real_server 10.253.26.2 80 {
        TCP_CHECK {
        }
    }
    real_server 10.253.26.3 80 {
        TCP_CHECK {
        }
    }
}
";

#[test]
fn an_overloaded_real_server_takes_no_new_connection() {
    let lab = LabGuard::up(LabOptions::unique("thresh")).expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-thresh-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up(&lab, 3);
    let conf = dir.join("thresholds.conf");
    std::fs::write(&conf, CONF).unwrap();
    let log = dir.join("dir1.log");
    let mut d1 = daemon(&lab, "dir1", &conf, &log, &[]);
    wait_for("rs1..rs3 in dir1's table", Duration::from_secs(60), || {
        let st = status(&lab, "dir1")?;
        (1..=3)
            .all(|i| in_table(&st, &format!("10.253.26.{i}:80")))
            .then_some(())
    });

    // rr: two of six connections on rs1, its uthreshold.
    let first = open_conns(&lab, 6);
    assert_eq!(spread(&first).get("rs1"), Some(&2), "{:?}", spread(&first));
    wait_for("rs1 overloaded", Duration::from_secs(10), || {
        let st = status(&lab, "dir1")?;
        (!in_table(&st, "10.253.26.1:80")).then_some(())
    });
    let more = open_conns(&lab, 6);
    assert_eq!(spread(&more).get("rs1"), None, "{:?}", spread(&more));
    // Its own connections carry on.
    let mut first = first;
    let s = request_again(&mut first, 3);
    assert_eq!(s.kept(), 6, "{:?}", s.lost);

    // Closing rs1's connections brings it below lthreshold: new ones again.
    let (rs1, others): (Vec<_>, Vec<_>) = first.into_iter().partition(|(_, r)| r == "rs1");
    drop(rs1);
    wait_for("rs1 back", Duration::from_secs(15), || {
        let st = status(&lab, "dir1")?;
        in_table(&st, "10.253.26.1:80").then_some(())
    });
    let again = open_conns(&lab, 3);
    assert_eq!(spread(&again).get("rs1"), Some(&1), "{:?}", spread(&again));
    drop((others, more, again));

    kill(&mut d1, Signal::SIGTERM);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("real server 10.253.26.1:80 overloaded: 2 connections >= uthreshold 2")
            && text.contains("real server 10.253.26.1:80 no longer overloaded"),
        "{text}"
    );
}
