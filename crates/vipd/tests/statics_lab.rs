//! `static_ipaddress` puts the VIP on the director without VRRP: a file with
//! only a static address and a TUN virtual_server serves (30 connections spread
//! 10/10/10 over the seed's real servers, a 10 MB POST through the VIP is
//! answered); `vipd status` shows the address; `TERM` removes it.

mod lab_support;

use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

const CONF: &str = "\
static_ipaddress {
    10.253.85.250/32 dev eth1
}
static_routes {
    10.99.0.0/16 via 10.253.85.1 dev eth1
}
virtual_server 10.253.85.250 80 {
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.253.26.1 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.253.26.2 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.253.26.3 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
";

fn addrs(lab: &LabGuard) -> String {
    lab.exec_ok("dir1", ["ip", "-4", "addr", "show", "dev", "eth1"])
        .unwrap()
}

fn routes(lab: &LabGuard) -> String {
    lab.exec_ok("dir1", ["ip", "-4", "route", "show"]).unwrap()
}

#[test]
fn a_static_vip_serves_without_vrrp() {
    let lab = LabGuard::up(LabOptions::unique("static")).expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-static-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up(&lab, 3);
    let conf = dir.join("static.conf");
    std::fs::write(&conf, CONF).unwrap();
    assert!(!addrs(&lab).contains("10.253.85.250/32"));
    let mut d1 = daemon(&lab, "dir1", &conf, &dir.join("dir1.log"), &[]);
    let st = wait_for("rs1..rs3 in dir1's table", Duration::from_secs(60), || {
        let st = status(&lab, "dir1")?;
        (1..=3)
            .all(|i| in_table(&st, &format!("10.253.26.{i}:80")))
            .then_some(st)
    });
    assert!(st.vrrp.is_empty(), "{:?}", st.vrrp);
    assert_eq!(st.statics.len(), 2, "{:?}", st.statics);
    assert!(st.statics.iter().all(|s| s.applied), "{:?}", st.statics);
    assert!(addrs(&lab).contains("10.253.85.250/32"), "{}", addrs(&lab));
    assert!(
        routes(&lab).contains("10.99.0.0/16 via 10.253.85.1"),
        "{}",
        routes(&lab)
    );

    let conns = open_conns(&lab, 30);
    let spread = spread(&conns);
    println!("30 connections through the static VIP: {spread:?}");
    assert_eq!(
        spread.values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10],
        "{spread:?}"
    );
    drop(conns);

    let body = dir.join("10MB");
    std::fs::write(&body, vec![b'x'; 10 << 20]).unwrap();
    let answer = lab
        .exec_ok(
            "client",
            [
                "curl",
                "-sS",
                "-m",
                "60",
                "--data-binary",
                &format!("@{}", body.display()),
                "http://10.253.85.250/",
            ],
        )
        .unwrap();
    assert_eq!(answer.trim(), (10 << 20).to_string(), "POST answer");
    let _ = std::fs::remove_file(&body);

    kill(&mut d1, Signal::SIGTERM);
    assert!(
        !addrs(&lab).contains("10.253.85.250/32"),
        "TERM left the static address: {}",
        addrs(&lab)
    );
    assert!(!routes(&lab).contains("10.99.0.0/16"), "{}", routes(&lab));
    let log = std::fs::read_to_string(dir.join("dir1.log")).unwrap();
    assert!(
        log.contains("static_ipaddress: added 10.253.85.250/32 dev eth1")
            && log.contains("static_ipaddress: removed 10.253.85.250/32 dev eth1"),
        "{log}"
    );
}
