//! `virtual_server_group`: one virtual_server serves every address and port of
//! its group, with one set of real servers and checkers. Two VIPs (a range),
//! rr over the seed's three real servers, the VIPs static (no VRRP).

mod lab_support;

use std::net::SocketAddr;
use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::client::KeepAlive;
use vipd::lab::{LabGuard, LabOptions};

const CONF: &str = "\
static_ipaddress {
    10.253.85.250/32 dev eth1
    10.253.85.251/32 dev eth1
}
virtual_server_group web {
    10.253.85.250-251 80
}
virtual_server group web {
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    real_server 10.253.26.1 80 {
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
fn a_group_serves_each_of_its_addresses() {
    let lab = LabGuard::up(LabOptions::unique("vsg")).expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-vsg-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up_for(&lab, 3, &["10.253.85.250", "10.253.85.251"]);
    let conf = dir.join("group.conf");
    std::fs::write(&conf, CONF).unwrap();
    let log = dir.join("dir1.log");
    let mut d1 = daemon(&lab, "dir1", &conf, &log, &[]);
    let st = wait_for("rs1..rs3 in dir1's table", Duration::from_secs(60), || {
        let st = status(&lab, "dir1")?;
        (1..=3)
            .all(|i| in_table(&st, &format!("10.253.26.{i}:80")))
            .then_some(st)
    });
    let svc = &st.services[0];
    assert_eq!(svc.name, "group web/TCP");
    let members: Vec<String> = svc.group.iter().map(|a| a.to_string()).collect();
    assert_eq!(members, ["10.253.85.250:80", "10.253.85.251:80"]);

    // Each address is its own data-plane service with the group's real
    // servers: rr spreads each one's connections over all three.
    let ns = lab.netns("client");
    for vip in ["10.253.85.250:80", "10.253.85.251:80"] {
        let addr: SocketAddr = vip.parse().unwrap();
        let conns: Vec<(KeepAlive, String)> = (0..15)
            .map(|i| {
                let mut c = KeepAlive::open(&ns, addr, Duration::from_secs(3))
                    .unwrap_or_else(|e| panic!("{vip} connection {i}: {e}"));
                let r = c
                    .get("/")
                    .unwrap_or_else(|e| panic!("{vip} connection {i}: {e}"));
                (c, r.first_line().to_owned())
            })
            .collect();
        let s = spread(&conns);
        println!("{vip}: {s:?}");
        assert!(s.len() == 3 && s.values().all(|&n| n == 5), "{vip}: {s:?}");
    }
    // Traffic of the group is its members' sum.
    let st = wait_for("30 connections counted", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        (st.services[0].traffic.conns >= 30).then_some(st)
    });
    println!("group traffic: {:?}", st.services[0].traffic);
    kill(&mut d1, Signal::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}
