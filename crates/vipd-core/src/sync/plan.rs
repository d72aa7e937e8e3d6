//! Where connection sharing runs, decided from the configuration: which
//! interface, to whom (the VRRP peers), on which port, with which id. Pure: the
//! daemon opens the socket this plan names.
//!
//! keepalived runs IPVS's sync daemon only when `lvs_sync_daemon` says so. vipd
//! shares by default between the directors that run VRRP for the virtual
//! servers' VIPs, because that is what the pair exists for: without it a
//! failover resets every connection the new master schedules differently.
//! Directors active at once behind ECMP (`vipd_announce`) share on the
//! interface their VIPs arrive on. `lvs_sync_daemon` chooses the interface and
//! options; `vipd --no-sync` turns it off.

use std::net::{IpAddr, Ipv4Addr};

use crate::config::model::Config;

/// IPVS's sync multicast group, used by default.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// vipd's default port (IPVS's sync daemon uses 8848 with another format).
pub const DEFAULT_PORT: u16 = 8849;
/// Default largest datagram: an Ethernet MTU less IPv4 and UDP headers.
pub const DEFAULT_MAXLEN: usize = 1472;

/// Who receives the datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peers {
    /// A multicast group on the interface, with this TTL.
    Multicast {
        /// Group address.
        group: IpAddr,
        /// Multicast TTL.
        ttl: u8,
    },
    /// The VRRP instance's `unicast_peer` addresses.
    Unicast(Vec<IpAddr>),
}

/// Connection sharing as it will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePlan {
    /// Interface the datagrams use.
    pub interface: String,
    /// The VRRP instance whose peers share, if one was found.
    pub instance: Option<String>,
    /// Destination(s).
    pub peers: Peers,
    /// UDP port.
    pub port: u16,
    /// `id`: only directors with the same id share.
    pub sync_id: u32,
    /// Largest datagram.
    pub maxlen: usize,
}

impl std::fmt::Display for SharePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.peers {
            Peers::Multicast { group, ttl } => write!(
                f,
                "multicast {group}:{} on {} (ttl {ttl}, id {})",
                self.port, self.interface, self.sync_id
            ),
            Peers::Unicast(p) => {
                let list: Vec<String> = p.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "unicast to {} port {} on {} (id {})",
                    list.join(", "),
                    self.port,
                    self.interface,
                    self.sync_id
                )
            }
        }
    }
}

/// Why sharing does not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Off {
    /// `--no-sync`.
    Disabled,
    /// No virtual server: nothing to share.
    NoVirtualServers,
    /// No VRRP instance and no `lvs_sync_daemon`: no peer to share with.
    NoPeers,
}

impl std::fmt::Display for Off {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Off::Disabled => "off (--no-sync)",
            Off::NoVirtualServers => "off (no virtual_server)",
            Off::NoPeers => "off (no vrrp_instance and no lvs_sync_daemon: no peer to share with)",
        })
    }
}

/// The plan for `c`: `vrrp` says whether this process runs VRRP (`-C` does not).
pub fn plan(c: &Config, vrrp: bool, disabled: bool) -> Result<SharePlan, Off> {
    if disabled {
        return Err(Off::Disabled);
    }
    if c.virtual_servers.is_empty() {
        return Err(Off::NoVirtualServers);
    }
    let vips: Vec<IpAddr> = crate::director::vips(c).into_iter().collect();
    let sd = c.global_defs.lvs_sync_daemon.as_ref();
    // The instance: the one `lvs_sync_daemon` names, else the first on its
    // interface, else the first that carries a virtual server's VIP.
    let instance = c
        .vrrp_instances
        .iter()
        .find(|i| sd.and_then(|s| s.instance.as_deref()) == Some(i.name.as_str()))
        .or_else(|| {
            sd.and_then(|s| {
                c.vrrp_instances
                    .iter()
                    .find(|i| i.interface.as_deref() == Some(s.interface.as_str()))
            })
        })
        .or_else(|| {
            c.vrrp_instances.iter().find(|i| {
                i.virtual_ipaddress
                    .iter()
                    .any(|v| vips.contains(&v.addr.addr))
            })
        })
        .filter(|_| vrrp || sd.is_some());
    let interface = match (sd, instance) {
        (Some(s), _) => s.interface.clone(),
        (None, Some(i)) => match &i.interface {
            Some(ifc) => ifc.clone(),
            None => return Err(Off::NoPeers),
        },
        // Active-active directors (`vipd_announce`) share with each other
        // on the interface their VIPs arrive on.
        (None, None) => match c.global_defs.vipd_announce.as_ref().and(
            vips.first()
                .and_then(|v| crate::director::vip_interface(c, *v)),
        ) {
            Some(ifc) => ifc,
            None => return Err(Off::NoPeers),
        },
    };
    let peers = match instance {
        Some(i) if !i.unicast_peer.is_empty() => {
            Peers::Unicast(i.unicast_peer.iter().map(|p| p.addr).collect())
        }
        _ => Peers::Multicast {
            group: sd
                .and_then(|s| s.group)
                .unwrap_or(IpAddr::V4(DEFAULT_GROUP)),
            ttl: sd.and_then(|s| s.ttl).unwrap_or(1),
        },
    };
    Ok(SharePlan {
        interface,
        instance: instance.map(|i| i.name.clone()),
        peers,
        port: sd.and_then(|s| s.port).unwrap_or(DEFAULT_PORT),
        sync_id: sd.and_then(|s| s.id).unwrap_or(0),
        maxlen: sd
            .and_then(|s| s.maxlen)
            .map_or(DEFAULT_MAXLEN, |m| m as usize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn cfg(text: &str) -> Config {
        let r = config::parse_str("t.conf", text);
        assert_eq!(r.diagnostics.error_count(), 0, "{:?}", r.diagnostics);
        r.config
    }

    const PAIR: &str = "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 51\n virtual_ipaddress {\n  10.253.85.250\n }\n}\nvirtual_server 10.253.85.250 80 {\n lb_kind TUN\n real_server 10.253.26.1 80 {\n }\n}\n";

    #[test]
    fn active_active_directors_share_on_the_vip_interface() {
        let text = "global_defs {\n vipd_announce vipd0\n default_interface eth1\n}\nvirtual_server 10.253.85.250 80 {\n lb_kind TUN\n real_server 10.253.26.1 80 {\n }\n}\n";
        let p = plan(&cfg(text), true, false).unwrap();
        assert_eq!(p.interface, "eth1");
        assert_eq!(p.instance, None);
        let without = text.replace(" vipd_announce vipd0\n", "");
        assert_eq!(plan(&cfg(&without), true, false), Err(Off::NoPeers));
    }

    #[test]
    fn on_by_default_between_the_vrrp_peers_of_the_vip() {
        let p = plan(&cfg(PAIR), true, false).unwrap();
        assert_eq!(
            p,
            SharePlan {
                interface: "eth1".into(),
                instance: Some("VI_1".into()),
                peers: Peers::Multicast {
                    group: IpAddr::V4(DEFAULT_GROUP),
                    ttl: 1
                },
                port: DEFAULT_PORT,
                sync_id: 0,
                maxlen: DEFAULT_MAXLEN,
            }
        );
        assert_eq!(
            p.to_string(),
            "multicast 224.0.0.81:8849 on eth1 (ttl 1, id 0)"
        );
    }

    #[test]
    fn lvs_sync_daemon_sets_interface_and_options() {
        let text = format!(
            "global_defs {{\n lvs_sync_daemon eth2 VI_1 id 7 maxlen 1200 port 9000 ttl 2 group 239.1.2.3\n}}\n{PAIR}"
        );
        let p = plan(&cfg(&text), true, false).unwrap();
        assert_eq!(p.interface, "eth2");
        assert_eq!(p.instance.as_deref(), Some("VI_1"));
        assert_eq!(
            p.peers,
            Peers::Multicast {
                group: "239.1.2.3".parse().unwrap(),
                ttl: 2
            }
        );
        assert_eq!((p.port, p.sync_id, p.maxlen), (9000, 7, 1200));
    }

    #[test]
    fn unicast_peers_of_the_instance_are_the_destinations() {
        let text = PAIR.replace(
            " virtual_router_id 51\n",
            " virtual_router_id 51\n unicast_peer {\n  10.253.85.12\n }\n",
        );
        let p = plan(&cfg(&text), true, false).unwrap();
        assert_eq!(
            p.peers,
            Peers::Unicast(vec!["10.253.85.12".parse().unwrap()])
        );
        assert!(p
            .to_string()
            .starts_with("unicast to 10.253.85.12 port 8849"));
    }

    #[test]
    fn off_and_why() {
        assert_eq!(plan(&cfg(PAIR), true, true), Err(Off::Disabled));
        let no_vs = PAIR.split("virtual_server").next().unwrap();
        assert_eq!(plan(&cfg(no_vs), true, false), Err(Off::NoVirtualServers));
        // -C (no VRRP) and no lvs_sync_daemon: nobody to share with.
        assert_eq!(plan(&cfg(PAIR), false, false), Err(Off::NoPeers));
        // -C with lvs_sync_daemon: shares on its interface.
        let text = format!("global_defs {{\n lvs_sync_daemon eth1\n}}\n{PAIR}");
        assert!(plan(&cfg(&text), false, false).is_ok());
    }

    #[test]
    fn the_1_2_x_spelling_in_an_instance_names_the_interface() {
        let text = PAIR.replace(
            " interface eth1\n",
            " interface eth1\n lvs_sync_daemon_interface eth2\n",
        );
        let r = config::parse_str("t.conf", &text);
        assert_eq!(r.diagnostics.error_count(), 0);
        assert!(r.diagnostics.items.iter().any(|d| d
            .message
            .contains("`lvs_sync_daemon_interface` is keepalived 1.2.x's spelling")));
        let p = plan(&r.config, true, false).unwrap();
        assert_eq!(
            (p.interface.as_str(), p.instance.as_deref()),
            ("eth2", Some("VI_1"))
        );
    }
}
