//! Announcing VIPs to a routing daemon: N directors active at once behind a
//! router that spreads flows by ECMP, each announcing the VIPs it can serve
//! (Katran's, Maglev's and Unimog's model). vipd never speaks BGP: with
//! `global_defs { vipd_announce DEVICE }` it holds each VIP it can serve as a
//! /32 address on DEVICE, a TUN device vipd creates and that lives only as
//! long as the vipd process (the kernel deletes it when the process exits,
//! also on SIGKILL or a crash). The routing daemon announces that device's
//! addresses (BIRD: `protocol direct { interface "DEVICE"; }`) and withdraws
//! them when they go: a director that cannot serve is never a blackhole.
//!
//! This module decides, without IO, which VIPs a director announces and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use crate::config::model::Config;

/// What `vipd_announce` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncePlan {
    /// The device that carries the announced VIPs.
    pub device: String,
    /// Every VIP of the virtual servers (group members included).
    pub vips: BTreeSet<IpAddr>,
}

/// Why a configuration with `vipd_announce` cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    /// A VIP is also a VRRP address: VRRP would move it to one director while
    /// every director announces it.
    #[error("vipd_announce: {vip} is also in vrrp_instance {instance}'s virtual_ipaddress: an announced VIP is served by every director at once (ECMP), a VRRP VIP by one; remove it from the instance (announced VIPs need no VRRP), or remove vipd_announce")]
    AlsoVrrp {
        /// The VIP.
        vip: IpAddr,
        /// The instance.
        instance: String,
    },
    /// No virtual server: nothing to announce.
    #[error("vipd_announce {0}: there is no virtual_server whose VIP it would announce")]
    NothingToAnnounce(String),
}

/// The plan for `c`, `None` without `vipd_announce`.
pub fn plan(c: &Config) -> Result<Option<AnnouncePlan>, AnnounceError> {
    let Some(device) = c.global_defs.vipd_announce.clone() else {
        return Ok(None);
    };
    let vips = crate::director::vips(c);
    if vips.is_empty() {
        return Err(AnnounceError::NothingToAnnounce(device));
    }
    for i in &c.vrrp_instances {
        for v in i
            .virtual_ipaddress
            .iter()
            .chain(&i.virtual_ipaddress_excluded)
        {
            if vips.contains(&v.addr.addr) {
                return Err(AnnounceError::AlsoVrrp {
                    vip: v.addr.addr,
                    instance: i.name.clone(),
                });
            }
        }
    }
    Ok(Some(AnnouncePlan { device, vips }))
}

/// What an operator of active-active directors should know about `c`: a
/// scheduler that decides per director (anything but the hashes `mh`, `sh`,
/// `dh`) sends a flow that ECMP moves before its entry is shared to
/// another real server.
pub fn notes(c: &Config) -> Vec<String> {
    use crate::config::model::LbAlgo;
    if c.global_defs.vipd_announce.is_none() {
        return Vec::new();
    }
    c.virtual_servers
        .iter()
        .filter(|vs| !matches!(vs.lb_algo, LbAlgo::Mh | LbAlgo::Sh | LbAlgo::Dh))
        .map(|vs| {
            format!(
                "virtual_server {}: lb_algo {} with vipd_announce: each director schedules the new flows it sees by itself; connection sharing gives the others each entry within milliseconds, but a flow that ECMP moves before that is scheduled again elsewhere: use lb_algo mh (Maglev), which every director computes alike",
                crate::reload::service_name(&vs.key, vs.protocol),
                vs.lb_algo.as_str()
            )
        })
        .collect()
}

/// One data-plane service as the announcement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceState {
    /// Its VIP.
    pub vip: IpAddr,
    /// Real servers in its table with a weight above 0.
    pub serving: usize,
    /// Its sorry server is in the table (every real server is down).
    pub sorry: bool,
}

/// Why a VIP is announced or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Real servers take its connections.
    Serving {
        /// How many, over the VIP's services.
        reals: usize,
    },
    /// Only the sorry server takes its connections.
    SorryServer,
    /// No real server and no sorry server: announcing would blackhole it.
    NoRealServer,
    /// The data plane is not attached: nothing would forward its packets.
    NotAttached,
}

impl Reason {
    /// Whether the VIP is announced.
    pub fn announced(self) -> bool {
        matches!(self, Reason::Serving { .. } | Reason::SorryServer)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Serving { reals } => write!(
                f,
                "announced: {reals} real server{} up",
                if *reals == 1 { "" } else { "s" }
            ),
            Reason::SorryServer => f.write_str("announced: the sorry server takes its connections"),
            Reason::NoRealServer => f.write_str("withdrawn: no real server up and no sorry server"),
            Reason::NotAttached => f.write_str("withdrawn: the data plane is not attached"),
        }
    }
}

/// Each VIP of `plan` and why it is (not) announced: a VIP is announced
/// while the data plane is attached and any of its services has a real
/// server up (or its sorry server), so one port that serves keeps the VIP.
pub fn verdicts(
    plan: &AnnouncePlan,
    attached: bool,
    services: &[ServiceState],
) -> BTreeMap<IpAddr, Reason> {
    plan.vips
        .iter()
        .map(|&vip| {
            let mine = services.iter().filter(|s| s.vip == vip);
            let reals: usize = mine.clone().map(|s| s.serving).sum();
            let sorry = mine.clone().any(|s| s.sorry);
            let why = if !attached {
                Reason::NotAttached
            } else if reals > 0 {
                Reason::Serving { reals }
            } else if sorry {
                Reason::SorryServer
            } else {
                Reason::NoRealServer
            };
            (vip, why)
        })
        .collect()
}

/// The addresses to add to and remove from the device so that it holds
/// exactly the announced VIPs of `verdicts`.
pub fn changes(
    held: &BTreeSet<IpAddr>,
    verdicts: &BTreeMap<IpAddr, Reason>,
) -> (Vec<IpAddr>, Vec<IpAddr>) {
    let want: BTreeSet<IpAddr> = verdicts
        .iter()
        .filter(|(_, r)| r.announced())
        .map(|(v, _)| *v)
        .collect();
    (
        want.difference(held).copied().collect(),
        held.difference(&want).copied().collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    const ECMP: &str = "global_defs {\n vipd_announce vipd0\n default_interface eth1\n}\nvirtual_server 10.253.85.250 80 {\n lvs_sched mh\n lvs_method TUN\n real_server 10.253.26.1 80 {\n }\n}\nvirtual_server 10.253.85.250 443 {\n lvs_method TUN\n real_server 10.253.26.1 443 {\n }\n}\n";

    fn cfg(text: &str) -> Config {
        let r = config::parse_str("t.conf", text);
        assert_eq!(r.diagnostics.error_count(), 0, "{:?}", r.diagnostics);
        r.config
    }

    fn vip() -> IpAddr {
        "10.253.85.250".parse().unwrap()
    }

    #[test]
    fn every_vip_of_the_virtual_servers_once() {
        let p = plan(&cfg(ECMP)).unwrap().unwrap();
        assert_eq!(p.device, "vipd0");
        assert_eq!(p.vips.iter().copied().collect::<Vec<_>>(), [vip()]);
        assert_eq!(plan(&cfg("virtual_server 10.0.0.1 80 {\n}\n")), Ok(None));
    }

    #[test]
    fn a_scheduler_each_director_runs_alone_is_named() {
        let n = notes(&cfg(ECMP));
        // The 443 service has the default scheduler (wlc); 80 runs mh.
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(
            n[0].starts_with("virtual_server 10.253.85.250:443/TCP: lb_algo wlc"),
            "{n:?}"
        );
    }

    #[test]
    fn a_vrrp_vip_cannot_be_announced() {
        let text = format!(
            "{ECMP}vrrp_instance VI_1 {{\n interface eth1\n virtual_router_id 1\n virtual_ipaddress {{\n  10.253.85.250\n }}\n}}\n"
        );
        let e = plan(&cfg(&text)).unwrap_err();
        assert!(e.to_string().contains("vrrp_instance VI_1"), "{e}");
    }

    #[test]
    fn announced_while_attached_and_some_service_serves() {
        let p = plan(&cfg(ECMP)).unwrap().unwrap();
        let s = |serving, sorry| ServiceState {
            vip: vip(),
            serving,
            sorry,
        };
        let one = |attached, svcs: &[ServiceState]| verdicts(&p, attached, svcs)[&vip()];
        assert_eq!(
            one(true, &[s(2, false), s(0, false)]),
            Reason::Serving { reals: 2 }
        );
        assert_eq!(one(true, &[s(0, false), s(0, true)]), Reason::SorryServer);
        assert_eq!(one(true, &[s(0, false), s(0, false)]), Reason::NoRealServer);
        assert_eq!(one(false, &[s(3, false)]), Reason::NotAttached);
        assert_eq!(
            Reason::Serving { reals: 1 }.to_string(),
            "announced: 1 real server up"
        );
    }

    #[test]
    fn changes_make_the_device_hold_the_announced_vips() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: BTreeSet<IpAddr> = [a].into();
        let v: BTreeMap<IpAddr, Reason> =
            [(a, Reason::NoRealServer), (b, Reason::Serving { reals: 1 })].into();
        assert_eq!(changes(&held, &v), (vec![b], vec![a]));
        assert_eq!(changes(&[b].into(), &v), (vec![], vec![]));
    }
}
