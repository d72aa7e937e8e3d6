//! What a configuration reload changes: the difference between two models, so
//! that the daemon applies only that and says in one log line what it did.
//!
//! Virtual servers are matched by their key and protocol, real servers by
//! address and port; VRRP is compared as a whole (instances, sync groups,
//! scripts and the global VRRP settings), because the VRRP engine restarts as a
//! whole when any of it changes.

use std::fmt;
use std::net::SocketAddr;

use crate::config::{Config, Protocol, RealServer, VirtualServer, VsKey};

/// The difference between the running configuration and a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Anything VRRP reads changed.
    pub vrrp_changed: bool,
    /// Virtual servers only in the new configuration.
    pub services_added: Vec<String>,
    /// Virtual servers only in the old one.
    pub services_removed: Vec<String>,
    /// Virtual servers in both whose settings or real servers differ.
    pub services_changed: Vec<ServiceDiff>,
}

/// How one virtual server present in both configurations changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDiff {
    /// Its name, as [`service_name`] gives it.
    pub name: String,
    /// Its own settings (scheduler, method, persistence, quorum...) changed.
    pub settings_changed: bool,
    /// Real servers added.
    pub reals_added: Vec<SocketAddr>,
    /// Real servers removed.
    pub reals_removed: Vec<SocketAddr>,
    /// Real servers in both whose settings (weight, checkers...) changed.
    pub reals_changed: Vec<SocketAddr>,
}

/// The name vipd uses for a virtual server in logs and `vipd status`:
/// `10.253.85.250:80/TCP`, `fwmark 3/TCP`, `group NAME/TCP`.
pub fn service_name(key: &VsKey, protocol: Protocol) -> String {
    match key {
        VsKey::Addr { ip, port } => {
            format!("{}/{}", SocketAddr::new(*ip, *port), protocol.as_str())
        }
        other => format!("{other}/{}", protocol.as_str()),
    }
}

fn name_of(vs: &VirtualServer) -> String {
    service_name(&vs.key, vs.protocol)
}

fn real_addr(rs: &RealServer) -> SocketAddr {
    SocketAddr::new(rs.ip, rs.port)
}

/// Whether the parts of the configuration that VRRP reads are equal.
pub fn vrrp_equal(old: &Config, new: &Config) -> bool {
    let g = |c: &Config| {
        let mut g = c.global_defs.clone();
        // Mail settings and the checker's logging do not concern VRRP.
        g.notification_email.clear();
        g.notification_email_from = None;
        g.smtp_server = None;
        g.smtp_connect_timeout = None;
        g.checker_log_all_failures = None;
        g.lvs_flush = false;
        g
    };
    old.vrrp_instances == new.vrrp_instances
        && old.vrrp_sync_groups == new.vrrp_sync_groups
        && old.vrrp_scripts == new.vrrp_scripts
        && old.static_ipaddress == new.static_ipaddress
        && g(old) == g(new)
}

/// Computes what changes from `old` to `new`.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let mut d = ConfigDiff {
        vrrp_changed: !vrrp_equal(old, new),
        ..ConfigDiff::default()
    };
    for vs in &new.virtual_servers {
        let name = name_of(vs);
        match old.virtual_servers.iter().find(|o| name_of(o) == name) {
            None => d.services_added.push(name),
            Some(o) if o == vs => {}
            Some(o) => d.services_changed.push(service_diff(name, o, vs)),
        }
    }
    for vs in &old.virtual_servers {
        let name = name_of(vs);
        if !new.virtual_servers.iter().any(|n| name_of(n) == name) {
            d.services_removed.push(name);
        }
    }
    d
}

fn service_diff(name: String, old: &VirtualServer, new: &VirtualServer) -> ServiceDiff {
    let mut o = old.clone();
    let mut n = new.clone();
    o.real_servers.clear();
    n.real_servers.clear();
    let mut sd = ServiceDiff {
        name,
        settings_changed: o != n,
        ..ServiceDiff::default()
    };
    for rs in &new.real_servers {
        let addr = real_addr(rs);
        match old.real_servers.iter().find(|r| real_addr(r) == addr) {
            None => sd.reals_added.push(addr),
            Some(r) if r == rs => {}
            Some(_) => sd.reals_changed.push(addr),
        }
    }
    for rs in &old.real_servers {
        let addr = real_addr(rs);
        if !new.real_servers.iter().any(|r| real_addr(r) == addr) {
            sd.reals_removed.push(addr);
        }
    }
    sd
}

impl ConfigDiff {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.vrrp_changed
            && self.services_added.is_empty()
            && self.services_removed.is_empty()
            && self.services_changed.is_empty()
    }
}

fn addrs(v: &[SocketAddr]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line: `no change`, or e.g. `10.253.85.250:80/TCP: real servers added:
/// 10.253.26.4:80; VRRP restarted`.
impl fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no change");
        }
        let mut parts = Vec::new();
        if !self.services_added.is_empty() {
            parts.push(format!(
                "virtual servers added: {}",
                self.services_added.join(" ")
            ));
        }
        if !self.services_removed.is_empty() {
            parts.push(format!(
                "virtual servers removed: {}",
                self.services_removed.join(" ")
            ));
        }
        for s in &self.services_changed {
            let mut what = Vec::new();
            if s.settings_changed {
                what.push("settings changed".to_owned());
            }
            if !s.reals_added.is_empty() {
                what.push(format!("real servers added: {}", addrs(&s.reals_added)));
            }
            if !s.reals_removed.is_empty() {
                what.push(format!("real servers removed: {}", addrs(&s.reals_removed)));
            }
            if !s.reals_changed.is_empty() {
                what.push(format!("real servers changed: {}", addrs(&s.reals_changed)));
            }
            parts.push(format!("{}: {}", s.name, what.join(", ")));
        }
        if self.vrrp_changed {
            parts.push("VRRP configuration changed".to_owned());
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    const BASE: &str = "vrrp_instance VI_1 {\n state MASTER\n interface eth1\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n 10.253.85.250\n }\n}\n\
virtual_server 10.253.85.250 80 {\n delay_loop 6\n lb_algo rr\n lb_kind TUN\n protocol TCP\n\
 real_server 10.253.26.1 80 {\n weight 1\n TCP_CHECK {\n connect_timeout 3\n }\n }\n\
 real_server 10.253.26.2 80 {\n weight 1\n TCP_CHECK {\n connect_timeout 3\n }\n }\n}\n";

    fn cfg(text: &str) -> Config {
        let l = parse_str("t.conf", text);
        assert!(!l.diagnostics.has_errors(), "{:?}", l.diagnostics);
        l.config
    }

    #[test]
    fn same_text_elsewhere_in_the_file_is_no_change() {
        let a = cfg(BASE);
        let b = cfg(&format!("! a comment that shifts every line\n\n{BASE}"));
        let d = diff(&a, &b);
        assert!(d.is_empty(), "{d}");
        assert_eq!(d.to_string(), "no change");
    }

    #[test]
    fn added_real_server_is_the_only_change() {
        let a = cfg(BASE);
        let b = cfg(&BASE.replace(
            "real_server 10.253.26.2 80 {",
            "real_server 10.253.26.4 80 {\n weight 1\n TCP_CHECK {\n connect_timeout 3\n }\n }\n real_server 10.253.26.2 80 {",
        ));
        let d = diff(&a, &b);
        assert!(!d.vrrp_changed);
        assert_eq!(d.services_changed.len(), 1);
        let s = &d.services_changed[0];
        assert_eq!(s.name, "10.253.85.250:80/TCP");
        assert!(!s.settings_changed);
        assert_eq!(s.reals_added, vec!["10.253.26.4:80".parse().unwrap()]);
        assert!(s.reals_removed.is_empty() && s.reals_changed.is_empty());
        assert_eq!(
            d.to_string(),
            "10.253.85.250:80/TCP: real servers added: 10.253.26.4:80"
        );
    }

    #[test]
    fn weight_scheduler_and_vrrp_changes_are_told_apart() {
        let a = cfg(BASE);
        let b = cfg(&BASE
            .replacen("weight 1", "weight 3", 1)
            .replace("lb_algo rr", "lb_algo wrr")
            .replace("priority 100", "priority 90"));
        let d = diff(&a, &b);
        assert!(d.vrrp_changed);
        let s = &d.services_changed[0];
        assert!(s.settings_changed);
        assert_eq!(s.reals_changed, vec!["10.253.26.1:80".parse().unwrap()]);
        assert!(d.to_string().ends_with("VRRP configuration changed"));
    }

    #[test]
    fn services_added_and_removed() {
        let a = cfg(BASE);
        let b = cfg(&BASE.replace("10.253.85.250 80 {", "10.253.85.250 443 {"));
        let d = diff(&a, &b);
        assert_eq!(d.services_added, vec!["10.253.85.250:443/TCP"]);
        assert_eq!(d.services_removed, vec!["10.253.85.250:80/TCP"]);
        assert!(!d.vrrp_changed);
    }
}
