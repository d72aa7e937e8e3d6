//! LVS-NAT in the lab's NAT variant (`vipd lab up --nat`): two directors share
//! the VIP and a gateway VIP (10.253.85.254) by VRRP; the router sends the real
//! servers' replies to clients through the gateway VIP, i.e. the active
//! director, whose data plane puts VIP:80 back as their source. The real
//! servers listen on port 8080 behind VIP port 80 and have no tunnel and no
//! VIP (`vipd realserver` is not run): NAT needs nothing on them.

mod lab_support;

use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

fn conf(state: &str, priority: u8) -> String {
    let reals: String = (1..=3)
        .map(|i| {
            format!(
                "    real_server 10.253.26.{i} 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n"
            )
        })
        .collect();
    format!(
        "\
vrrp_instance VI_1 {{
    state {state}
    interface eth1
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        10.253.85.250/32 dev eth1
        10.253.85.254/24 dev eth1
    }}
}}
virtual_server 10.253.85.250 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
{reals}}}
"
    )
}

#[test]
fn nat_serves_through_the_director_in_both_directions_and_fails_over() {
    let lab = LabGuard::up(LabOptions {
        nat: true,
        ..LabOptions::unique("nat")
    })
    .expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-nat-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut httpds = httpds_on(&lab, 3, 8080);
    let (c1, c2) = (dir.join("dir1.conf"), dir.join("dir2.conf"));
    std::fs::write(&c1, conf("MASTER", 150)).unwrap();
    std::fs::write(&c2, conf("BACKUP", 100)).unwrap();
    let mut d1 = daemon(&lab, "dir1", &c1, &dir.join("dir1.log"), &[]);
    let mut d2 = daemon(&lab, "dir2", &c2, &dir.join("dir2.log"), &[]);
    let in_all = |st: &vipd::daemon::status::Status| {
        (1..=3).all(|i| in_table(st, &format!("10.253.26.{i}:8080")))
    };
    wait_for("dir1 MASTER with rs1..rs3", Duration::from_secs(30), || {
        let st = status(&lab, "dir1")?;
        (st.vrrp.first()?.state == "MASTER" && in_all(&st)).then_some(())
    });

    // 30 connections: 10/10/10, each arriving on its RIP:8080 from the
    // client's own address (NAT keeps it), answered through the VIP.
    let mut conns = open_conns(&lab, 30);
    let s = spread(&conns);
    println!("NAT: 30 connections {s:?}");
    assert_eq!(
        s.values().copied().collect::<Vec<_>>(),
        [10, 10, 10],
        "{s:?}"
    );
    let answer = curl(&lab, &["http://10.253.85.250/"]);
    assert!(
        answer.contains("client=203.0.113.2:") && answer.contains(":8080"),
        "the real server saw: {answer}"
    );
    // Traffic is sampled each second.
    let st = wait_for("replies counted on dir1", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        (st.services[0].traffic.out_packets > 0).then_some(st)
    });
    println!("dir1 service traffic: {:?}", st.services[0].traffic);
    assert!(st.counters.get("nat_out").copied().unwrap_or(0) > 0);

    // 10 MB each way at MTU 1500.
    let body = dir.join("10MB");
    std::fs::write(&body, vec![b'x'; 10 << 20]).unwrap();
    let posted = curl(
        &lab,
        &[
            "--data-binary",
            &format!("@{}", body.display()),
            "http://10.253.85.250/",
        ],
    );
    assert_eq!(posted.trim(), (10 << 20).to_string(), "POST answer");
    let got = curl(
        &lab,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "http://10.253.85.250/bytes/10485760",
        ],
    );
    assert_eq!(got.trim(), (10 << 20).to_string(), "GET size");

    // The seed's failover: dir1 dies, dir2 takes the VIP and the gateway VIP
    // together; the connections go on (shared), new ones are served.
    wait_for(
        "dir2 holds the connections",
        Duration::from_secs(10),
        || {
            let st = status(&lab, "dir2")?;
            (st.tables.as_ref()?.conns >= 30).then_some(())
        },
    );
    kill(&mut d1, Signal::SIGKILL);
    wait_for("dir2 MASTER", Duration::from_secs(10), || {
        let st = status(&lab, "dir2")?;
        (st.vrrp.first()?.state == "MASTER" && in_all(&st)).then_some(())
    });
    let gw = lab
        .exec_ok("dir2", ["ip", "-4", "addr", "show", "dev", "eth1"])
        .unwrap();
    assert!(
        gw.contains("10.253.85.254/24"),
        "gateway VIP not on dir2: {gw}"
    );
    let kept = request_again(&mut conns, 7);
    println!("after failover: {kept:?}");
    assert_eq!(kept.kept(), 30, "{:?}", kept.lost);
    let again = open_conns(&lab, 30);
    let s = spread(&again);
    assert_eq!(
        s.values().copied().collect::<Vec<_>>(),
        [10, 10, 10],
        "{s:?}"
    );

    kill(&mut d2, Signal::SIGTERM);
    for h in &mut httpds {
        kill(h, Signal::SIGKILL);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
