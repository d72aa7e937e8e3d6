//! The synthetic config shared by benches/config_parse.rs and
//! examples/config_parse.rs, so both measure the same input.

use std::fmt::Write;

/// A keepalived.conf of `vs` virtual servers with `rs` real servers each, in the
/// seed's style (each real server with a TCP_CHECK).
pub fn synthetic(vs: usize, rs: usize) -> String {
    let mut s = String::with_capacity(vs * rs * 200);
    for v in 0..vs {
        let _ = writeln!(
            s,
            "virtual_server 10.{}.{}.1 80 {{\n    delay_loop 6\n    lvs_sched rr\n    lvs_method TUN\n    protocol TCP\n    alpha\n    ha_suspend",
            v / 256,
            v % 256
        );
        for r in 0..rs {
            let _ = writeln!(
                s,
                "    real_server 172.{}.{}.{} 80 {{\n        weight 1\n        TCP_CHECK {{\n            connect_port 80\n            connect_timeout 3\n            retry 3\n            delay_before_retry 3\n        }}\n    }}",
                16 + v / 256,
                v % 256,
                r + 1
            );
        }
        s.push_str("}\n");
    }
    s
}
