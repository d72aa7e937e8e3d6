//! `static_ipaddress`, `static_routes` and `static_rules`: what the daemon
//! adds at start (whatever the VRRP state) and removes at stop, as keepalived
//! does, as `ip` command lines. Routes and rules keep their options verbatim:
//! keepalived's syntax for them is iproute2's, so `ip` reads them as written.

use std::net::IpAddr;

use crate::config::{Broadcast, Config, IpPrefix, Route, Rule, VirtualIp};

/// What a static item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `static_ipaddress`
    Address,
    /// `static_routes`
    Route,
    /// `static_rules`
    Rule,
}

impl Kind {
    /// The keyword of its block.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Address => "static_ipaddress",
            Kind::Route => "static_routes",
            Kind::Rule => "static_rules",
        }
    }
}

/// One static item: how to add it and how to remove it (arguments of `ip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Which block.
    pub kind: Kind,
    /// `ip` arguments that add it (idempotent: `replace` where `ip` has it).
    pub add: Vec<String>,
    /// `ip` arguments that remove it.
    pub del: Vec<String>,
}

impl Item {
    /// The item as an operator reads it: `10.0.0.1/32 dev eth1`.
    pub fn describe(&self) -> String {
        // Everything after `ip [-6] OBJECT VERB`.
        let skip = if self.add.first().is_some_and(|a| a == "-6") {
            3
        } else {
            2
        };
        self.add[skip.min(self.add.len())..].join(" ")
    }
}

/// Why a static item cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticError {
    /// An address without `dev` and no `default_interface`.
    #[error("static_ipaddress {0}: no `dev` and no global_defs default_interface: write `{0} dev IFACE`")]
    NoDevice(IpPrefix),
}

fn family(a: IpAddr) -> Vec<String> {
    if a.is_ipv6() {
        vec!["-6".into()]
    } else {
        Vec::new()
    }
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The static items of `c`, in file order: addresses, routes, rules.
pub fn plan(c: &Config) -> Result<Vec<Item>, StaticError> {
    let mut out = Vec::new();
    for v in &c.static_ipaddress {
        out.push(address(v, c.global_defs.default_interface.as_deref())?);
    }
    out.extend(c.static_routes.iter().map(route));
    out.extend(c.static_rules.iter().map(rule));
    Ok(out)
}

fn address(v: &VirtualIp, default_dev: Option<&str>) -> Result<Item, StaticError> {
    let dev = v
        .dev
        .as_deref()
        .or(default_dev)
        .ok_or(StaticError::NoDevice(v.addr))?;
    let mut spec = vec![s(v.addr)];
    match &v.brd {
        Some(Broadcast::Addr(a)) => spec.extend([s("broadcast"), s(a)]),
        Some(Broadcast::Clear) => spec.extend([s("broadcast"), s("-")]),
        Some(Broadcast::Set) => spec.extend([s("broadcast"), s("+")]),
        None => {}
    }
    if let Some(p) = v.peer {
        spec.extend([s("peer"), s(p)]);
    }
    spec.extend([s("dev"), s(dev)]);
    let key = spec.clone();
    if let Some(l) = &v.label {
        spec.extend([s("label"), l.clone()]);
    }
    if let Some(sc) = &v.scope {
        spec.extend([s("scope"), s(sc.as_str())]);
    }
    spec.extend(v.flags.iter().cloned());
    if let Some(p) = &v.preferred_lft {
        spec.extend([s("preferred_lft"), p.clone()]);
    }
    let fam = family(v.addr.addr);
    Ok(Item {
        kind: Kind::Address,
        add: [fam.clone(), vec![s("addr"), s("replace")], spec].concat(),
        del: [fam, vec![s("addr"), s("del")], key].concat(),
    })
}

fn route(r: &Route) -> Item {
    let mut key: Vec<String> = r.kind.iter().cloned().collect();
    key.push(s(r.to));
    if let Some(t) = &r.table {
        key.extend([s("table"), t.clone()]);
    }
    if let Some(m) = r.metric {
        key.extend([s("metric"), s(m)]);
    }
    let mut spec = key.clone();
    if let Some(v) = r.via {
        spec.extend([s("via"), s(v)]);
    }
    if let Some(d) = &r.dev {
        spec.extend([s("dev"), d.clone()]);
    }
    if let Some(a) = r.src {
        spec.extend([s("src"), s(a)]);
    }
    if let Some(sc) = &r.scope {
        spec.extend([s("scope"), s(sc.as_str())]);
    }
    spec.extend(r.options.iter().cloned());
    let fam = family(r.to.addr);
    Item {
        kind: Kind::Route,
        add: [fam.clone(), vec![s("route"), s("replace")], spec].concat(),
        del: [fam, vec![s("route"), s("del")], key].concat(),
    }
}

fn rule(r: &Rule) -> Item {
    let mut spec = Vec::new();
    if let Some(f) = r.from {
        spec.extend([s("from"), s(f)]);
    }
    if let Some(t) = r.to {
        spec.extend([s("to"), s(t)]);
    }
    spec.extend(r.options.iter().cloned());
    if let Some(t) = &r.table {
        spec.extend([s("table"), t.clone()]);
    }
    if let Some(p) = r.preference {
        spec.extend([s("preference"), s(p)]);
    }
    let v6 = r.from.or(r.to).is_some_and(|p| p.addr.is_ipv6());
    let fam = if v6 { vec![s("-6")] } else { Vec::new() };
    Item {
        kind: Kind::Rule,
        add: [fam.clone(), vec![s("rule"), s("add")], spec.clone()].concat(),
        del: [fam, vec![s("rule"), s("del")], spec].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, MemLoader};

    fn config(text: &str) -> Config {
        let mut l = MemLoader::single("k.conf", text);
        let loaded = load("k.conf", &mut l, &Default::default()).unwrap();
        assert!(!loaded.diagnostics.has_errors());
        loaded.config
    }

    fn items(text: &str) -> Vec<Item> {
        plan(&config(text)).unwrap()
    }

    fn line(v: &[String]) -> String {
        v.join(" ")
    }

    #[test]
    fn addresses_routes_and_rules_become_ip_commands() {
        let it = items(
            "static_ipaddress {\n 10.253.85.250/32 dev eth1 label eth1:1\n 2001:db8::1/64 dev eth1\n}\n\
             static_routes {\n 10.9.0.0/16 via 10.253.85.1 dev eth1 table 100 metric 5 onlink\n}\n\
             static_rules {\n from 10.253.85.250/32 table 100 preference 10\n}\n",
        );
        assert_eq!(it.len(), 4);
        assert_eq!(
            line(&it[0].add),
            "addr replace 10.253.85.250/32 dev eth1 label eth1:1"
        );
        assert_eq!(line(&it[0].del), "addr del 10.253.85.250/32 dev eth1");
        assert_eq!(it[0].describe(), "10.253.85.250/32 dev eth1 label eth1:1");
        assert_eq!(line(&it[1].add), "-6 addr replace 2001:db8::1/64 dev eth1");
        assert_eq!(
            line(&it[2].add),
            "route replace 10.9.0.0/16 table 100 metric 5 via 10.253.85.1 dev eth1 onlink"
        );
        assert_eq!(line(&it[2].del), "route del 10.9.0.0/16 table 100 metric 5");
        assert_eq!(
            line(&it[3].add),
            "rule add from 10.253.85.250/32 table 100 preference 10"
        );
        assert_eq!(
            line(&it[3].del),
            "rule del from 10.253.85.250/32 table 100 preference 10"
        );
    }

    #[test]
    fn an_address_needs_a_device() {
        assert_eq!(
            plan(&config("static_ipaddress {\n 10.0.0.1/32\n}\n")),
            Err(StaticError::NoDevice(IpPrefix {
                addr: "10.0.0.1".parse().unwrap(),
                len: 32
            }))
        );
        assert_eq!(
            line(&items("global_defs {\n default_interface eth1\n}\nstatic_ipaddress {\n 10.0.0.1/32\n}\n")[0].add),
            "addr replace 10.0.0.1/32 dev eth1"
        );
    }
}
