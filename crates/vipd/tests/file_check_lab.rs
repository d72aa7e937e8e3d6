//! `track_file` and `FILE_CHECK`: an operator writes a number into a file and
//! the real servers that follow it leave the table, come back, or change
//! weight, as keepalived does. rr over the seed's three real servers, the VIP
//! static (no VRRP): rs1 follows `maint` with weight 0 (non-zero: down), rs2
//! follows `boost` with weight 2 (its weight 1 becomes 1 + 2 x value).

mod lab_support;

use std::time::Duration;

use lab_support::*;
use nix::sys::signal::Signal;
use vipd::lab::{LabGuard, LabOptions};

fn conf(maint: &str, boost: &str) -> String {
    format!(
        "\
track_file maint {{
    file {maint}
    weight 0
    init_file 0
}}
track_file boost {{
    file {boost}
}}
static_ipaddress {{
    10.253.85.250/32 dev eth1
}}
virtual_server 10.253.85.250 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    real_server 10.253.26.1 80 {{
        TCP_CHECK {{
        }}
        FILE_CHECK {{
            track_file maint
        }}
    }}
    real_server 10.253.26.2 80 {{
        FILE_CHECK {{
            track_file boost
            weight 2
        }}
    }}
    real_server 10.253.26.3 80 {{
        TCP_CHECK {{
        }}
    }}
}}
"
    )
}

fn weight_of(lab: &LabGuard, rs: &str) -> Option<u32> {
    let st = status(lab, "dir1")?;
    let r = st.services.first()?.real(rs.parse().unwrap())?;
    r.in_table.then_some(r.weight)
}

#[test]
fn file_check_follows_the_number_in_the_file() {
    let lab = LabGuard::up(LabOptions::unique("fchk")).expect("lab up (root, iproute2)");
    let dir = std::env::temp_dir().join(format!("vipd-fchk-{}", lab.name()));
    std::fs::create_dir_all(&dir).unwrap();
    reals_up(&lab, 3);
    let (maint, boost) = (dir.join("maint"), dir.join("boost"));
    let _ = std::fs::remove_file(&maint);
    std::fs::write(&boost, "0\n").unwrap();
    let conf_path = dir.join("file_check.conf");
    std::fs::write(
        &conf_path,
        conf(maint.to_str().unwrap(), boost.to_str().unwrap()),
    )
    .unwrap();
    let log = dir.join("dir1.log");
    let mut d1 = daemon(&lab, "dir1", &conf_path, &log, &[]);
    wait_for("rs1..rs3 in dir1's table", Duration::from_secs(60), || {
        let st = status(&lab, "dir1")?;
        (1..=3)
            .all(|i| in_table(&st, &format!("10.253.26.{i}:80")))
            .then_some(())
    });
    // init_file wrote the missing file.
    assert_eq!(std::fs::read_to_string(&maint).unwrap(), "0\n");

    // Maintenance: a non-zero value takes rs1 out; its share goes elsewhere.
    std::fs::write(&maint, "1\n").unwrap();
    wait_for("rs1 out of the table", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        (!in_table(&st, "10.253.26.1:80")).then_some(())
    });
    let conns = open_conns(&lab, 6);
    assert_eq!(spread(&conns).get("rs1"), None, "{:?}", spread(&conns));
    drop(conns);
    std::fs::write(&maint, "0\n").unwrap();
    wait_for("rs1 back", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        in_table(&st, "10.253.26.1:80").then_some(())
    });

    // A weight: 1 + 2 x 2 = 5.
    std::fs::write(&boost, "2\n").unwrap();
    wait_for("rs2 at weight 5", Duration::from_secs(5), || {
        (weight_of(&lab, "10.253.26.2:80") == Some(5)).then_some(())
    });
    // Negative: quiesced (weight 0), still up.
    std::fs::write(&boost, "-3\n").unwrap();
    wait_for("rs2 quiesced", Duration::from_secs(5), || {
        let st = status(&lab, "dir1")?;
        let r = st
            .services
            .first()?
            .real("10.253.26.2:80".parse().unwrap())?;
        (r.weight == 0 && r.alive == Some(true)).then_some(())
    });
    kill(&mut d1, Signal::SIGTERM);
    let _ = std::fs::remove_dir_all(&dir);
}
