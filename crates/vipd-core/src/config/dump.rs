//! The model back to canonical keepalived.conf (`vipd check --dump conf`).
//!
//! Canonical means: today's keyword spellings (`lvs_sched`, `lvs_method`,
//! `retry`), four-space indentation, one statement per line, every value the
//! model holds and nothing else, in a fixed order. Parsing the output gives the
//! same model back (a property test checks it).

use super::model::*;
use super::parse::fmt_duration;
use std::fmt::Write as _;
use std::time::Duration;

/// Renders a whole configuration.
pub fn to_conf(c: &Config) -> String {
    let mut w = W::default();
    w.global_defs(&c.global_defs);
    if !c.static_ipaddress.is_empty() {
        w.open("static_ipaddress");
        for v in &c.static_ipaddress {
            w.line(&vip(v));
        }
        w.close();
    }
    if !c.static_routes.is_empty() {
        w.open("static_routes");
        for r in &c.static_routes {
            w.line(&route(r));
        }
        w.close();
    }
    if !c.static_rules.is_empty() {
        w.open("static_rules");
        for r in &c.static_rules {
            w.line(&rule(r));
        }
        w.close();
    }
    for s in &c.vrrp_scripts {
        w.vrrp_script(s);
    }
    for t in &c.track_files {
        w.open(&format!("track_file {}", q(&t.name)));
        w.opt_s("file", &t.file);
        if t.reverse {
            w.kv("weight", format!("{} reverse", t.weight));
        } else {
            w.kv("weight", t.weight);
        }
        match t.init_file {
            Some((v, true)) => w.kv("init_file", format!("{v} overwrite")),
            Some((v, false)) => w.kv("init_file", v),
            None => {}
        }
        w.close();
    }
    for g in &c.vrrp_sync_groups {
        w.sync_group(g);
    }
    for v in &c.vrrp_instances {
        w.instance(v);
    }
    for g in &c.virtual_server_groups {
        w.open(&format!("virtual_server_group {}", q(&g.name)));
        for e in &g.entries {
            match e {
                VsgEntry::Range { first, last, port } => {
                    let addr = if first == last {
                        first.to_string()
                    } else {
                        format!("{first}-{last}")
                    };
                    if *port == 0 {
                        w.line(&addr);
                    } else {
                        w.line(&format!("{addr} {port}"));
                    }
                }
                VsgEntry::Fwmark { mark, family } => match family {
                    None => w.line(&format!("fwmark {mark}")),
                    Some(Family::Inet) => w.line(&format!("fwmark {mark} inet")),
                    Some(Family::Inet6) => w.line(&format!("fwmark {mark} inet6")),
                },
            }
        }
        w.close();
    }
    for vs in &c.virtual_servers {
        w.virtual_server(vs);
    }
    w.out
}

/// Quotes a word when it would not read back as one word.
fn q(s: &str) -> String {
    if !s.is_empty()
        && !s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '{' | '}' | '"' | '\'' | '#' | '!' | '\\' | '$' | '@' | '~'
                )
        })
    {
        return s.to_owned();
    }
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            '$' => o.push_str("\\x24"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn d(x: Duration) -> String {
    fmt_duration(x)
}

fn user(u: &ScriptUser) -> String {
    match &u.group {
        Some(g) => format!("{} {}", q(&u.user), q(g)),
        None => q(&u.user),
    }
}

fn notify(n: &Notify) -> String {
    match &n.user {
        Some(u) => format!("{} {}", q(&n.script), user(u)),
        None => q(&n.script),
    }
}

fn b(x: bool) -> &'static str {
    if x {
        "on"
    } else {
        "off"
    }
}

fn scope(s: &Scope) -> &'static str {
    s.as_str()
}

fn vip(v: &VirtualIp) -> String {
    let mut s = v.addr.to_string();
    if let Some(brd) = &v.brd {
        match brd {
            Broadcast::Addr(a) => {
                let _ = write!(s, " brd {a}");
            }
            Broadcast::Clear => s.push_str(" brd -"),
            Broadcast::Set => s.push_str(" brd +"),
        }
    }
    if let Some(x) = &v.dev {
        let _ = write!(s, " dev {}", q(x));
    }
    if let Some(x) = &v.label {
        let _ = write!(s, " label {}", q(x));
    }
    if let Some(x) = &v.scope {
        let _ = write!(s, " scope {}", scope(x));
    }
    if let Some(x) = &v.peer {
        let _ = write!(s, " peer {x}");
    }
    if let Some(x) = &v.preferred_lft {
        let _ = write!(s, " preferred_lft {}", q(x));
    }
    if let Some(x) = &v.track_group {
        let _ = write!(s, " track_group {}", q(x));
    }
    for f in &v.flags {
        s.push(' ');
        s.push_str(f);
    }
    if v.no_track {
        s.push_str(" no_track");
    }
    s
}

fn route(r: &Route) -> String {
    let mut s = String::new();
    if let Some(k) = &r.kind {
        let _ = write!(s, "{k} ");
    }
    let _ = write!(s, "{}", r.to);
    if let Some(x) = &r.src {
        let _ = write!(s, " src {x}");
    }
    if let Some(x) = &r.via {
        let _ = write!(s, " via {x}");
    }
    if let Some(x) = &r.dev {
        let _ = write!(s, " dev {}", q(x));
    }
    if let Some(x) = &r.table {
        let _ = write!(s, " table {}", q(x));
    }
    if let Some(x) = &r.metric {
        let _ = write!(s, " metric {x}");
    }
    if let Some(x) = &r.scope {
        let _ = write!(s, " scope {}", scope(x));
    }
    if r.no_track {
        s.push_str(" no_track");
    }
    for o in &r.options {
        s.push(' ');
        s.push_str(&q(o));
    }
    s
}

fn rule(r: &Rule) -> String {
    let mut parts = Vec::new();
    if let Some(x) = &r.from {
        parts.push(format!("from {x}"));
    }
    if let Some(x) = &r.to {
        parts.push(format!("to {x}"));
    }
    if let Some(x) = &r.table {
        parts.push(format!("table {}", q(x)));
    }
    if let Some(x) = &r.preference {
        parts.push(format!("preference {x}"));
    }
    if r.no_track {
        parts.push("no_track".into());
    }
    for o in &r.options {
        parts.push(q(o));
    }
    parts.join(" ")
}

fn tracks(w: &mut W, kw: &str, t: &[Track]) {
    if t.is_empty() {
        return;
    }
    w.open(kw);
    for x in t {
        let mut s = q(&x.name);
        if let Some(wt) = x.weight {
            let _ = write!(s, " weight {wt}");
        }
        if x.reverse {
            s.push_str(" reverse");
        }
        w.line(&s);
    }
    w.close();
}

fn lvs_method(k: LbKind, t: &Option<TunnelType>) -> String {
    let mut s = k.as_str().to_owned();
    match t {
        None => {}
        Some(TunnelType::Ipip) => s.push_str(" type ipip"),
        Some(TunnelType::Gre) => s.push_str(" type gre"),
        Some(TunnelType::Gue { port }) => {
            let _ = write!(s, " type gue port {port}");
        }
    }
    s
}

#[derive(Default)]
struct W {
    out: String,
    depth: usize,
}

impl W {
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }
    fn kv(&mut self, k: &str, v: impl std::fmt::Display) {
        self.line(&format!("{k} {v}"));
    }
    fn opt<T: std::fmt::Display>(&mut self, k: &str, v: &Option<T>) {
        if let Some(v) = v {
            self.kv(k, v);
        }
    }
    fn opt_s(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.kv(k, q(v));
        }
    }
    fn opt_d(&mut self, k: &str, v: &Option<Duration>) {
        if let Some(v) = v {
            self.kv(k, d(*v));
        }
    }
    fn opt_b(&mut self, k: &str, v: &Option<bool>) {
        if let Some(v) = v {
            self.kv(k, b(*v));
        }
    }
    fn flag(&mut self, k: &str, v: bool) {
        if v {
            self.line(k);
        }
    }
    fn opt_n(&mut self, k: &str, v: &Option<Notify>) {
        if let Some(v) = v {
            self.kv(k, notify(v));
        }
    }
    fn open(&mut self, s: &str) {
        self.line(&format!("{s} {{"));
        self.depth += 1;
    }
    fn close(&mut self) {
        self.depth -= 1;
        self.line("}");
    }

    fn global_defs(&mut self, g: &GlobalDefs) {
        if *g == GlobalDefs::default() {
            return;
        }
        self.open("global_defs");
        self.opt_s("router_id", &g.router_id);
        if !g.notification_email.is_empty() {
            self.open("notification_email");
            for e in &g.notification_email {
                self.line(&q(e));
            }
            self.close();
        }
        self.opt_s("notification_email_from", &g.notification_email_from);
        if let Some(s) = &g.smtp_server {
            let parts: Vec<String> = s.split(' ').map(q).collect();
            self.kv("smtp_server", parts.join(" "));
        }
        self.opt_d("smtp_connect_timeout", &g.smtp_connect_timeout);
        self.opt("vrrp_mcast_group4", &g.vrrp_mcast_group4);
        self.opt("vrrp_mcast_group6", &g.vrrp_mcast_group6);
        self.opt_s("default_interface", &g.default_interface);
        self.opt("vrrp_version", &g.vrrp_version);
        self.opt_d("vrrp_garp_master_delay", &g.vrrp_garp_master_delay);
        self.opt("vrrp_garp_master_repeat", &g.vrrp_garp_master_repeat);
        self.opt_d("vrrp_garp_master_refresh", &g.vrrp_garp_master_refresh);
        self.opt(
            "vrrp_garp_master_refresh_repeat",
            &g.vrrp_garp_master_refresh_repeat,
        );
        self.opt_d("vrrp_garp_lower_prio_delay", &g.vrrp_garp_lower_prio_delay);
        self.opt(
            "vrrp_garp_lower_prio_repeat",
            &g.vrrp_garp_lower_prio_repeat,
        );
        self.opt_d("vrrp_garp_interval", &g.vrrp_garp_interval);
        self.opt_d("vrrp_gna_interval", &g.vrrp_gna_interval);
        self.opt_b("vrrp_min_garp", &g.vrrp_min_garp);
        self.opt_b("vrrp_lower_prio_no_advert", &g.vrrp_lower_prio_no_advert);
        self.opt_b(
            "vrrp_higher_prio_send_advert",
            &g.vrrp_higher_prio_send_advert,
        );
        self.opt("vrrp_down_timer_adverts", &g.vrrp_down_timer_adverts);
        self.flag("vrrp_strict", g.vrrp_strict);
        self.flag("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
        self.flag("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
        self.opt_d("vrrp_startup_delay", &g.vrrp_startup_delay);
        self.flag("enable_script_security", g.enable_script_security);
        if let Some(u) = &g.script_user {
            self.kv("script_user", user(u));
        }
        self.flag("lvs_flush", g.lvs_flush);
        if let Some(t) = &g.lvs_timeouts {
            let mut v = Vec::new();
            for (k, x) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
                if let Some(x) = x {
                    v.push(format!("{k} {x}"));
                }
            }
            self.kv("lvs_timeouts", v.join(" "));
        }
        self.opt_b("checker_log_all_failures", &g.checker_log_all_failures);
        if let Some(l) = &g.lvs_sync_daemon {
            let mut v = l.interface.clone();
            if let Some(i) = &l.instance {
                v += &format!(" {i}");
            }
            for (k, x) in [
                ("id", l.id.map(u64::from)),
                ("maxlen", l.maxlen.map(u64::from)),
                ("port", l.port.map(u64::from)),
                ("ttl", l.ttl.map(u64::from)),
            ] {
                if let Some(x) = x {
                    v += &format!(" {k} {x}");
                }
            }
            if let Some(g) = l.group {
                v += &format!(" group {g}");
            }
            self.kv("lvs_sync_daemon", v);
        }
        self.opt_s("vipd_announce", &g.vipd_announce);
        self.close();
    }

    fn vrrp_script(&mut self, s: &VrrpScript) {
        self.open(&format!("vrrp_script {}", q(&s.name)));
        self.opt_s("script", &s.script);
        self.kv("interval", d(s.interval));
        self.opt_d("timeout", &s.timeout);
        if s.weight_reverse {
            self.kv("weight", format!("{} reverse", s.weight));
        } else {
            self.kv("weight", s.weight);
        }
        self.kv("rise", s.rise);
        self.kv("fall", s.fall);
        if let Some(u) = &s.user {
            self.kv("user", user(u));
        }
        self.flag("init_fail", s.init_fail);
        self.close();
    }

    fn sync_group(&mut self, g: &VrrpSyncGroup) {
        self.open(&format!("vrrp_sync_group {}", q(&g.name)));
        if !g.group.is_empty() {
            self.open("group");
            for m in &g.group {
                self.line(&q(m));
            }
            self.close();
        }
        tracks(self, "track_interface", &g.track_interface);
        tracks(self, "track_script", &g.track_script);
        self.opt_n("notify_master", &g.notify_master);
        self.opt_n("notify_backup", &g.notify_backup);
        self.opt_n("notify_fault", &g.notify_fault);
        self.opt_n("notify_stop", &g.notify_stop);
        self.opt_n("notify", &g.notify);
        self.opt_b("smtp_alert", &g.smtp_alert);
        self.close();
    }

    fn instance(&mut self, v: &VrrpInstance) {
        self.open(&format!("vrrp_instance {}", q(&v.name)));
        match v.state {
            Some(VrrpState::Master) => self.line("state MASTER"),
            Some(VrrpState::Backup) => self.line("state BACKUP"),
            None => {}
        }
        self.opt_s("interface", &v.interface);
        self.kv("virtual_router_id", v.virtual_router_id);
        self.kv("priority", v.priority);
        self.kv("advert_int", d(v.advert_int));
        self.opt("version", &v.version);
        if let Some(a) = &v.authentication {
            self.open("authentication");
            self.line(match a.auth_type {
                AuthType::Pass => "auth_type PASS",
                AuthType::Ah => "auth_type AH",
            });
            if !a.auth_pass.is_empty() {
                self.kv("auth_pass", q(&a.auth_pass));
            }
            self.close();
        }
        for (kw, list) in [
            ("virtual_ipaddress", &v.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &v.virtual_ipaddress_excluded),
        ] {
            if !list.is_empty() {
                self.open(kw);
                for x in list {
                    self.line(&vip(x));
                }
                self.close();
            }
        }
        if !v.virtual_routes.is_empty() {
            self.open("virtual_routes");
            for r in &v.virtual_routes {
                self.line(&route(r));
            }
            self.close();
        }
        if !v.virtual_rules.is_empty() {
            self.open("virtual_rules");
            for r in &v.virtual_rules {
                self.line(&rule(r));
            }
            self.close();
        }
        self.opt("mcast_src_ip", &v.mcast_src_ip);
        self.opt("unicast_src_ip", &v.unicast_src_ip);
        if !v.unicast_peer.is_empty() {
            self.open("unicast_peer");
            for p in &v.unicast_peer {
                let mut s = p.addr.to_string();
                if let Some(t) = p.min_ttl {
                    let _ = write!(s, " min_ttl {t}");
                }
                if let Some(t) = p.max_ttl {
                    let _ = write!(s, " max_ttl {t}");
                }
                self.line(&s);
            }
            self.close();
        }
        self.opt("mcast_dst_ip", &v.mcast_dst_ip);
        self.opt("unicast_ttl", &v.unicast_ttl);
        self.flag("nopreempt", v.nopreempt);
        self.opt_d("preempt_delay", &v.preempt_delay);
        match v.accept {
            Some(true) => self.line("accept"),
            Some(false) => self.line("no_accept"),
            None => {}
        }
        self.flag("dont_track_primary", v.dont_track_primary);
        tracks(self, "track_interface", &v.track_interface);
        tracks(self, "track_script", &v.track_script);
        self.opt_d("garp_master_delay", &v.garp_master_delay);
        self.opt("garp_master_repeat", &v.garp_master_repeat);
        self.opt_d("garp_master_refresh", &v.garp_master_refresh);
        self.opt("garp_master_refresh_repeat", &v.garp_master_refresh_repeat);
        self.opt_d("garp_lower_prio_delay", &v.garp_lower_prio_delay);
        self.opt("garp_lower_prio_repeat", &v.garp_lower_prio_repeat);
        self.opt("down_timer_adverts", &v.down_timer_adverts);
        self.opt_b("lower_prio_no_advert", &v.lower_prio_no_advert);
        self.opt_b("higher_prio_send_advert", &v.higher_prio_send_advert);
        self.opt_b("skip_check_adv_addr", &v.skip_check_adv_addr);
        self.opt_b("strict_mode", &v.strict_mode);
        self.flag("check_unicast_src", v.check_unicast_src);
        self.flag("promote_secondaries", v.promote_secondaries);
        self.opt_n("notify_master", &v.notify_master);
        self.opt_n("notify_backup", &v.notify_backup);
        self.opt_n("notify_fault", &v.notify_fault);
        self.opt_n("notify_stop", &v.notify_stop);
        self.opt_n("notify", &v.notify);
        self.opt_n("notify_master_rx_lower_pri", &v.notify_master_rx_lower_pri);
        self.opt_b("smtp_alert", &v.smtp_alert);
        self.close();
    }

    fn virtual_server(&mut self, vs: &VirtualServer) {
        let key = match &vs.key {
            VsKey::Addr { ip, port } => format!("{ip} {port}"),
            VsKey::Fwmark(m) => format!("fwmark {m}"),
            VsKey::Group(g) => format!("group {}", q(g)),
        };
        self.open(&format!("virtual_server {key}"));
        if !matches!(vs.key, VsKey::Fwmark(_)) {
            self.kv("protocol", vs.protocol.as_str());
        }
        self.kv("lvs_sched", vs.lb_algo.as_str());
        self.kv("lvs_method", lvs_method(vs.lb_kind, &vs.tunnel_type));
        self.kv("delay_loop", d(vs.delay_loop));
        self.opt("persistence_timeout", &vs.persistence_timeout);
        self.opt("persistence_granularity", &vs.persistence_granularity);
        for f in &vs.sched_flags {
            self.line(f);
        }
        self.flag("ha_suspend", vs.ha_suspend);
        self.flag("alpha", vs.alpha);
        self.flag("omega", vs.omega);
        self.kv("quorum", vs.quorum);
        self.kv("hysteresis", vs.hysteresis);
        self.opt_n("quorum_up", &vs.quorum_up);
        self.opt_n("quorum_down", &vs.quorum_down);
        self.flag("inhibit_on_failure", vs.inhibit_on_failure);
        if let Some(s) = &vs.sorry_server {
            match s.port {
                Some(p) => self.kv("sorry_server", format!("{} {p}", s.ip)),
                None => self.kv("sorry_server", s.ip),
            }
        }
        self.flag("sorry_server_inhibit", vs.sorry_server_inhibit);
        if let Some(k) = vs.sorry_server_lvs_method {
            self.kv("sorry_server_lvs_method", k.as_str());
        }
        self.opt_s("virtualhost", &vs.virtualhost);
        match vs.ip_family {
            Some(Family::Inet) => self.line("ip_family inet"),
            Some(Family::Inet6) => self.line("ip_family inet6"),
            None => {}
        }
        self.opt_b("smtp_alert", &vs.smtp_alert);
        self.opt_d("connect_timeout", &vs.connect_timeout);
        self.opt("retry", &vs.retry);
        self.opt_d("delay_before_retry", &vs.delay_before_retry);
        self.opt_d("warmup", &vs.warmup);
        for rs in &vs.real_servers {
            self.real_server(rs);
        }
        self.close();
    }

    fn real_server(&mut self, rs: &RealServer) {
        self.open(&format!("real_server {} {}", rs.ip, rs.port));
        self.kv("weight", rs.weight);
        if let Some(k) = rs.lvs_method {
            self.kv("lvs_method", k.as_str());
        }
        self.opt_b("inhibit_on_failure", &rs.inhibit_on_failure);
        self.opt_b("alpha", &rs.alpha);
        self.opt_n("notify_up", &rs.notify_up);
        self.opt_n("notify_down", &rs.notify_down);
        self.opt("uthreshold", &rs.uthreshold);
        self.opt("lthreshold", &rs.lthreshold);
        self.opt_s("virtualhost", &rs.virtualhost);
        self.opt_b("smtp_alert", &rs.smtp_alert);
        self.opt_d("connect_timeout", &rs.connect_timeout);
        self.opt("retry", &rs.retry);
        self.opt_d("delay_before_retry", &rs.delay_before_retry);
        self.opt_d("warmup", &rs.warmup);
        self.opt_d("delay_loop", &rs.delay_loop);
        for c in &rs.checkers {
            self.checker(c);
        }
        self.close();
    }

    fn checker(&mut self, c: &Checker) {
        self.open(c.kind.keyword());
        match &c.kind {
            CheckKind::Tcp | CheckKind::Ping => {}
            CheckKind::Http(h) | CheckKind::Ssl(h) => {
                for u in &h.urls {
                    self.open("url");
                    self.kv("path", q(&u.path));
                    self.opt_s("digest", &u.digest);
                    if !u.status_code.is_empty() {
                        let codes: Vec<String> = u
                            .status_code
                            .iter()
                            .map(|r| {
                                if r.from == r.to {
                                    r.from.to_string()
                                } else {
                                    format!("{}-{}", r.from, r.to)
                                }
                            })
                            .collect();
                        self.kv("status_code", codes.join(" "));
                    }
                    self.opt_s("virtualhost", &u.virtualhost);
                    self.opt_s("regex", &u.regex);
                    self.flag("regex_no_match", u.regex_no_match);
                    self.close();
                }
                self.opt_s("http_protocol", &h.http_protocol);
                self.opt_s("virtualhost", &h.virtualhost);
                self.opt_b("fast_recovery", &h.fast_recovery);
                self.flag("enable_sni", h.enable_sni);
                if let Some(v) = &h.verify_cert {
                    match &v.ca_file {
                        Some(f) => self.kv("verify_cert", q(f)),
                        None => self.line("verify_cert"),
                    }
                }
            }
            CheckKind::Smtp { helo_name } => self.opt_s("helo_name", helo_name),
            CheckKind::Dns { r#type, name } => {
                self.opt_s("type", r#type);
                self.opt_s("name", name);
            }
            CheckKind::Misc {
                misc_path,
                misc_timeout,
                misc_dynamic,
                user: u,
            } => {
                self.opt_s("misc_path", misc_path);
                self.opt_d("misc_timeout", misc_timeout);
                self.flag("misc_dynamic", *misc_dynamic);
                if let Some(u) = u {
                    self.kv("user", user(u));
                }
            }
            CheckKind::Udp {
                payload,
                require_reply,
                min_reply_length,
                max_reply_length,
            } => {
                self.opt_s("payload", payload);
                if let Some(r) = require_reply {
                    if r.is_empty() {
                        self.line("require_reply");
                    } else {
                        self.kv("require_reply", q(r));
                    }
                }
                self.opt("min_reply_length", min_reply_length);
                self.opt("max_reply_length", max_reply_length);
            }
            CheckKind::File {
                track_file,
                dynamic,
                weight,
                reverse,
            } => {
                self.opt_s("track_file", track_file);
                self.flag("dynamic", *dynamic);
                if let Some(wt) = weight {
                    if *reverse {
                        self.kv("weight", format!("{wt} reverse"));
                    } else {
                        self.kv("weight", wt);
                    }
                }
            }
            CheckKind::Bfd { name } => self.opt_s("name", name),
        }
        let cm = &c.common;
        self.opt("connect_ip", &cm.connect_ip);
        self.opt("connect_port", &cm.connect_port);
        self.opt("bindto", &cm.bindto);
        self.opt_s("bind_if", &cm.bind_if);
        self.opt("bind_port", &cm.bind_port);
        self.opt("fwmark", &cm.fwmark);
        self.opt_d("connect_timeout", &cm.connect_timeout);
        self.opt("retry", &cm.retry);
        self.opt_d("delay_before_retry", &cm.delay_before_retry);
        self.opt_d("warmup", &cm.warmup);
        self.opt_d("delay_loop", &cm.delay_loop);
        self.opt_b("alpha", &cm.alpha);
        self.opt_b("log_all_failures", &cm.log_all_failures);
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    #[test]
    fn ipv6_services_real_servers_and_checker_addresses() {
        let text = "virtual_server 2001:db8::250 80 {
    lb_algo rr
    lb_kind TUN
    sorry_server 2001:db8:26::9 8080
    real_server 2001:db8:26::1 80 {
        HTTP_GET {
            url {
                path /
            }
            connect_ip 2001:db8:26::11
            bindto 2001:db8:26::254
            bind_port 4000
        }
        PING_CHECK {
            connect_ip fe80::1
            bindto fe80::fe
            bind_if eth1
        }
    }
}
";
        let first = parse_str("a.conf", text);
        assert!(!first.diagnostics.has_errors(), "{:?}", first.diagnostics);
        let conf = to_conf(&first.config);
        for want in [
            "virtual_server 2001:db8::250 80 {",
            "sorry_server 2001:db8:26::9 8080",
            "real_server 2001:db8:26::1 80 {",
            "connect_ip 2001:db8:26::11",
            "bindto 2001:db8:26::254",
            "connect_ip fe80::1",
            "bindto fe80::fe",
            "bind_if eth1",
        ] {
            assert!(
                conf.lines().any(|l| l.trim() == want),
                "no `{want}` in\n{conf}"
            );
        }
        // keepalived.conf has no brackets: what is printed parses back the same.
        assert!(!conf.contains('['), "{conf}");
        let again = parse_str("b.conf", &conf);
        assert!(!again.diagnostics.has_errors(), "{:?}", again.diagnostics);
        assert_eq!(again.config.virtual_servers, first.config.virtual_servers);
        // The JSON dump keeps addresses as text as well.
        let json = serde_json::to_string(&first.config.virtual_servers[0]).unwrap();
        assert!(json.contains("\"2001:db8::250\""), "{json}");
        assert!(json.contains("\"fe80::1\""), "{json}");
    }
}
