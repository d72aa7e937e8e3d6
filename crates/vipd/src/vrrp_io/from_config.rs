//! From the config model (`vipd_core::config`) to what the VRRP driver runs.
//!
//! Everything keepalived's VRRP does that vipd does not is refused here with a
//! message naming the instance and the keyword, or reported as a warning when
//! ignoring it cannot move the VIP (e.g. `smtp_alert`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vipd_core::config::{self, AuthType, Config};
use vipd_core::vrrp::{Auth, InstanceConfig, SyncGroupConfig, Track, TrackKind, Version};

use super::{InstanceSpec, NotifySpec, ScriptSpec, VipSpec, VrrpIoError, VrrpSpec};

/// A notify script, run as its own `user`, else as `script_user`.
fn notify(
    n: &Option<config::Notify>,
    script_user: Option<&config::ScriptUser>,
) -> Option<config::Notify> {
    n.as_ref().map(|n| config::Notify {
        script: n.script.clone(),
        user: n.user.clone().or_else(|| script_user.cloned()),
    })
}

/// `addr`, which must be of the instance's family (`v6`).
fn same_family(
    inst: &config::VrrpInstance,
    what: &str,
    addr: IpAddr,
    v6: bool,
) -> Result<IpAddr, VrrpIoError> {
    if addr.is_ipv6() == v6 {
        return Ok(addr);
    }
    let family = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
    Err(VrrpIoError::Unsupported(
        format!(
            "vrrp_instance {}: {what} {addr} is {} but the instance is {} (its first virtual_ipaddress): one instance runs VRRP over one family; put the other family's addresses in another vrrp_instance (or in virtual_ipaddress_excluded)",
            inst.name,
            family(addr.is_ipv6()),
            family(v6)
        ),
        inst.loc,
    ))
}

/// Builds the driver's spec; `warnings` receives what is accepted but ignored.
pub fn from_config(cfg: &Config, warnings: &mut Vec<String>) -> Result<VrrpSpec, VrrpIoError> {
    let g = &cfg.global_defs;
    let su = g.script_user.as_ref();
    let mut spec = VrrpSpec {
        startup_delay: g.vrrp_startup_delay.unwrap_or(Duration::ZERO),
        garp_interval: g.vrrp_garp_interval.unwrap_or(Duration::ZERO),
        gna_interval: g.vrrp_gna_interval.unwrap_or(Duration::ZERO),
        ..VrrpSpec::default()
    };
    for inst in &cfg.vrrp_instances {
        let name = &inst.name;
        let interface = inst.interface.clone().ok_or_else(|| {
            VrrpIoError::Unsupported(format!(
                "vrrp_instance {name}: no `interface`: add `interface eth1` (the interface adverts go out of)"
            ), inst.loc)
        })?;
        // The instance's family: its first VIP's (keepalived's rule).
        let v6 = inst
            .virtual_ipaddress
            .first()
            .is_some_and(|v| v.addr.addr.is_ipv6());
        let version = match inst.version.or(g.vrrp_version).unwrap_or(2) {
            3 => Version::V3,
            _ if v6 => {
                warnings.push(format!(
                    "vrrp_instance {name}: IPv6 runs VRRP version 3 (version 2 has no IPv6), as keepalived does"
                ));
                Version::V3
            }
            _ => Version::V2,
        };
        let auth = match &inst.authentication {
            None => Auth::None,
            Some(a) if version == Version::V3 => {
                let _ = a;
                warnings.push(format!(
                    "vrrp_instance {name}: VRRP version 3 does not support authentication: ignored (as keepalived does)"
                ));
                Auth::None
            }
            Some(a) => match a.auth_type {
                AuthType::Pass => Auth::pass(&a.auth_pass),
                AuthType::Ah => {
                    return Err(VrrpIoError::Unsupported(format!(
                        "vrrp_instance {name}: auth_type AH is not supported by vipd (RFC 3768 removed it): use auth_type PASS, or no authentication, on every node"
                    ), inst.loc))
                }
            },
        };
        let primary_ip = match inst.unicast_src_ip.or(inst.mcast_src_ip) {
            Some(a) => same_family(inst, "unicast_src_ip", a, v6)?,
            // Found on the interface at start: its primary IPv4 address, or
            // its IPv6 link-local address (RFC 5798 §5.1.2.1).
            None if v6 => Ipv6Addr::UNSPECIFIED.into(),
            None => Ipv4Addr::UNSPECIFIED.into(),
        };
        let mut core = InstanceConfig::new(
            name,
            &interface,
            inst.virtual_router_id,
            inst.priority,
            primary_ip,
        );
        core.version = version;
        core.advert_int = inst.advert_int;
        core.auth = auth;
        core.nopreempt = inst.nopreempt;
        core.preempt_delay = inst.preempt_delay.unwrap_or(Duration::ZERO);
        for p in &inst.unicast_peer {
            core.unicast_peers
                .push(same_family(inst, "unicast_peer", p.addr, v6)?);
        }
        if let Some(n) = inst.down_timer_adverts.or(g.vrrp_down_timer_adverts) {
            core.down_timer_adverts = n;
        }
        // `vrrp_min_garp`: one gratuitous ARP at the transition, no second
        // burst, no refresh (keepalived's meaning); explicit settings win.
        if g.vrrp_min_garp == Some(true) {
            core.garp_master_delay = Duration::ZERO;
            core.garp_master_repeat = 1;
            core.garp_master_refresh = Duration::ZERO;
            core.garp_lower_prio_repeat = 1;
        }
        if let Some(d) = inst.garp_master_delay.or(g.vrrp_garp_master_delay) {
            core.garp_master_delay = d;
        }
        if let Some(n) = inst.garp_master_repeat.or(g.vrrp_garp_master_repeat) {
            core.garp_master_repeat = n;
        }
        if let Some(d) = inst.garp_master_refresh.or(g.vrrp_garp_master_refresh) {
            core.garp_master_refresh = d;
        }
        if let Some(n) = inst
            .garp_master_refresh_repeat
            .or(g.vrrp_garp_master_refresh_repeat)
        {
            core.garp_master_refresh_repeat = n;
        }
        core.lower_prio_no_advert = inst
            .lower_prio_no_advert
            .or(g.vrrp_lower_prio_no_advert)
            .unwrap_or(false);
        if let Some(n) = inst
            .garp_lower_prio_repeat
            .or(g.vrrp_garp_lower_prio_repeat)
        {
            core.garp_lower_prio_repeat = n;
        }
        core.check_unicast_src = inst.check_unicast_src || g.vrrp_check_unicast_src;
        core.higher_prio_send_advert = inst
            .higher_prio_send_advert
            .or(g.vrrp_higher_prio_send_advert)
            .unwrap_or(true);
        if v6 {
            core.mcast_group = g
                .vrrp_mcast_group6
                .unwrap_or(vipd_core::vrrp::packet::MULTICAST_GROUP6)
                .into();
        } else if let Some(group) = g.vrrp_mcast_group4 {
            core.mcast_group = group.into();
        }
        core.skip_check_adv_addr = inst
            .skip_check_adv_addr
            .unwrap_or(g.vrrp_skip_check_adv_addr);
        for t in &inst.track_interface {
            core.track.push(Track {
                kind: TrackKind::Interface,
                name: t.name.clone(),
                weight: t.weight.unwrap_or(0),
                reverse: t.reverse,
            });
        }
        for t in &inst.track_script {
            // The script's own weight unless the instance overrides it.
            let script = cfg.vrrp_scripts.iter().find(|s| s.name == t.name);
            let (weight, reverse) = match t.weight {
                Some(w) => (w, t.reverse),
                None => script.map_or((0, false), |s| (s.weight, s.weight_reverse)),
            };
            if !cfg.vrrp_scripts.iter().any(|s| s.name == t.name) {
                return Err(VrrpIoError::Unsupported(format!(
                    "vrrp_instance {name}: track_script {} names no vrrp_script: define `vrrp_script {} {{ script ... }}`",
                    t.name, t.name
                ), inst.loc));
            }
            core.track.push(Track {
                kind: TrackKind::Script,
                name: t.name.clone(),
                weight,
                reverse,
            });
        }
        let mut vips = Vec::new();
        for v in &inst.virtual_ipaddress {
            let addr = same_family(inst, "virtual_ipaddress", v.addr.addr, v6)?;
            core.vips.push(addr);
            let deprecated = VipSpec::deprecated(addr, v.addr.len, v.preferred_lft.as_deref());
            if addr.is_ipv6() && !deprecated && !cfg.virtual_servers.is_empty() {
                warnings.push(format!(
                    "vrrp_instance {name}: the IPv6 VIP {addr}/{len} may become the source address of this director's own connections (IPv6 prefers the newest address), and a health check from the VIP to a TUN or DR real server, which holds the VIP, gets no answer: write it without a mask (a /128, added with preferred_lft 0 as keepalived does) or add `preferred_lft 0`",
                    len = v.addr.len
                ));
            }
            vips.push(VipSpec {
                addr,
                prefix_len: v.addr.len,
                dev: v.dev.clone(),
                label: v.label.clone(),
                deprecated,
            });
        }
        // Added and removed with the others, but not advertised (keepalived).
        for v in &inst.virtual_ipaddress_excluded {
            vips.push(VipSpec {
                // Either family: added and removed, never advertised.
                addr: v.addr.addr,
                prefix_len: v.addr.len,
                dev: v.dev.clone(),
                label: v.label.clone(),
                deprecated: VipSpec::deprecated(
                    v.addr.addr,
                    v.addr.len,
                    v.preferred_lft.as_deref(),
                ),
            });
        }
        let ignored: [(&str, bool); 8] = [
            ("virtual_routes", !inst.virtual_routes.is_empty()),
            ("virtual_rules", !inst.virtual_rules.is_empty()),
            ("mcast_dst_ip", inst.mcast_dst_ip.is_some()),
            ("unicast_ttl", inst.unicast_ttl.is_some()),
            (
                "garp_lower_prio_delay",
                inst.garp_lower_prio_delay
                    .or(g.vrrp_garp_lower_prio_delay)
                    .is_some(),
            ),
            ("strict_mode", inst.strict_mode.unwrap_or(g.vrrp_strict)),
            ("accept / no_accept", inst.accept.is_some()),
            ("promote_secondaries", inst.promote_secondaries),
        ];
        for (kw, set) in ignored {
            if set {
                warnings.push(format!(
                    "vrrp_instance {name}: `{kw}` is not supported by vipd's VRRP and is ignored"
                ));
            }
        }
        core.validate()
            .map_err(|e| VrrpIoError::Unsupported(e.to_string(), inst.loc))?;
        spec.instances.push(InstanceSpec {
            core,
            vips,
            notify: NotifySpec {
                master: notify(&inst.notify_master, su),
                backup: notify(&inst.notify_backup, su),
                fault: notify(&inst.notify_fault, su),
                stop: notify(&inst.notify_stop, su),
                any: notify(&inst.notify, su),
                master_rx_lower_pri: notify(&inst.notify_master_rx_lower_pri, su),
            },
            track_primary: !inst.dont_track_primary,
        });
    }
    for s in &cfg.vrrp_scripts {
        let Some(script) = &s.script else {
            warnings.push(format!(
                "vrrp_script {}: no `script`: disabled (as keepalived does)",
                s.name
            ));
            continue;
        };
        spec.scripts.push(ScriptSpec {
            name: s.name.clone(),
            script: script.clone(),
            interval: s.interval,
            timeout: s.timeout.unwrap_or(s.interval),
            rise: s.rise,
            fall: s.fall,
            init_fail: s.init_fail,
            user: s.user.clone().or_else(|| su.cloned()),
        });
    }
    for grp in &cfg.vrrp_sync_groups {
        // A group's tracked objects act on every member (keepalived's semantics).
        for member in &grp.group {
            if let Some(inst) = spec.instances.iter_mut().find(|i| &i.core.name == member) {
                for t in &grp.track_interface {
                    inst.core.track.push(Track {
                        kind: TrackKind::Interface,
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(0),
                        reverse: t.reverse,
                    });
                }
                for t in &grp.track_script {
                    inst.core.track.push(Track {
                        kind: TrackKind::Script,
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(0),
                        reverse: t.reverse,
                    });
                }
            }
        }
        spec.groups.push((
            SyncGroupConfig {
                name: grp.name.clone(),
                members: grp.group.clone(),
            },
            NotifySpec {
                master: notify(&grp.notify_master, su),
                backup: notify(&grp.notify_backup, su),
                fault: notify(&grp.notify_fault, su),
                stop: notify(&grp.notify_stop, su),
                any: notify(&grp.notify, su),
                master_rx_lower_pri: None,
            },
        ));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(text: &str) -> (Result<VrrpSpec, VrrpIoError>, Vec<String>) {
        let loaded = config::parse_str("t.conf", text);
        assert!(
            !loaded.diagnostics.has_errors(),
            "{}",
            loaded.diagnostics.render(&loaded.sources)
        );
        let mut warnings = Vec::new();
        (from_config(&loaded.config, &mut warnings), warnings)
    }

    #[test]
    fn the_seed_master_config() {
        let text = include_str!("../../../../examples/seed/keepalived-master.conf");
        let (spec, _) = spec_of(text);
        let spec = spec.unwrap();
        assert_eq!(spec.instances.len(), 1);
        let i = &spec.instances[0];
        assert_eq!(
            (
                i.core.name.as_str(),
                i.core.interface.as_str(),
                i.core.vrid,
                i.core.priority
            ),
            ("VI_1", "eth1", 51, 100)
        );
        assert_eq!(i.core.version, Version::V2);
        assert_eq!(i.core.advert_int, Duration::from_secs(1));
        assert_eq!(i.core.auth, Auth::pass("1111"));
        assert_eq!(
            i.core.primary_ip,
            Ipv4Addr::UNSPECIFIED,
            "taken from eth1 at run time"
        );
        assert_eq!(
            i.vips,
            vec![VipSpec {
                addr: Ipv4Addr::new(10, 253, 85, 250).into(),
                prefix_len: 32,
                dev: Some("eth1".into()),
                label: Some("eth1:1".into()),
                deprecated: false,
            }]
        );
        assert!(i.track_primary);
        assert!(vipd_core::vrrp::Instance::new(i.core.clone()).is_ok());
    }

    #[test]
    fn refusals_and_warnings() {
        let base = "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 7\n";
        let (spec, _) = spec_of(&format!(
            "{base} authentication {{\n auth_type AH\n auth_pass x\n }}\n}}\n"
        ));
        assert!(spec
            .unwrap_err()
            .to_string()
            .contains("AH is not supported"));
        let (spec, warnings) = spec_of(&format!(
            "{base} version 3\n authentication {{\n auth_type PASS\n auth_pass x\n }}\n virtual_routes {{\n 10.0.0.0/8 via 10.1.1.1\n }}\n}}\n"
        ));
        assert_eq!(spec.unwrap().instances[0].core.auth, Auth::None);
        // (The config parser itself warns that v3 ignores authentication.)
        assert!(
            warnings.iter().any(|w| w.contains("virtual_routes")),
            "{warnings:?}"
        );
        let (spec, _) = spec_of(&format!(
            "{base} virtual_ipaddress {{\n 10.0.0.1\n 2001:db8::1\n }}\n}}\n"
        ));
        let e = spec.unwrap_err().to_string();
        assert!(
            e.contains("2001:db8::1 is IPv6 but the instance is IPv4"),
            "{e}"
        );
    }

    #[test]
    fn an_ipv6_instance_runs_vrrpv3_to_ff02_12_from_its_link_local_address() {
        let text = "vrrp_instance V6 {\n interface eth1\n virtual_router_id 61\n priority 150\n virtual_ipaddress {\n  2001:db8:85::250/64\n }\n}\n";
        let (spec, warnings) = spec_of(text);
        let spec = spec.unwrap();
        let core = &spec.instances[0].core;
        assert_eq!(core.version, Version::V3);
        assert_eq!(core.mcast_group, "ff02::12".parse::<IpAddr>().unwrap());
        assert!(core.primary_ip.is_ipv6() && core.primary_ip.is_unspecified());
        assert_eq!(core.vips, ["2001:db8:85::250".parse::<IpAddr>().unwrap()]);
        assert!(
            warnings.iter().any(|w| w.contains("VRRP version 3")),
            "{warnings:?}"
        );
    }

    #[test]
    fn scripts_groups_and_unicast() {
        let text = "vrrp_script chk {\n script \"/bin/true\"\n interval 2\n weight -20\n rise 2\n fall 3\n}\n\
            vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 7\n priority 150\n\
            unicast_src_ip 10.0.0.1\n unicast_peer {\n 10.0.0.2\n }\n track_script {\n chk\n }\n\
            nopreempt\n preempt_delay 30\n notify /x/notify.sh\n}\n\
            vrrp_sync_group G {\n group {\n VI_1\n }\n}\n";
        let (spec, _) = spec_of(text);
        let spec = spec.unwrap();
        let c = &spec.instances[0].core;
        assert_eq!(c.primary_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.unicast_peers, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(c.nopreempt);
        assert_eq!(c.preempt_delay, Duration::from_secs(30));
        assert_eq!(
            c.track,
            vec![Track {
                kind: TrackKind::Script,
                name: "chk".into(),
                weight: -20,
                reverse: false,
            }]
        );
        assert_eq!(spec.scripts[0].rise, 2);
        assert_eq!(spec.scripts[0].fall, 3);
        assert_eq!(spec.scripts[0].interval, Duration::from_secs(2));
        assert_eq!(
            spec.instances[0]
                .notify
                .any
                .as_ref()
                .map(|n| n.script.as_str()),
            Some("/x/notify.sh")
        );
        assert_eq!(spec.groups[0].0.members, vec!["VI_1".to_string()]);
    }

    #[test]
    fn an_ipv6_vip_that_can_be_a_source_address_is_warned_about() {
        let conf = |vip: &str| {
            format!(
                "vrrp_instance V6 {{\n interface eth1\n virtual_router_id 7\n version 3\n virtual_ipaddress {{\n {vip}\n }}\n}}\nvirtual_server 2001:db8::250 80 {{\n lb_kind TUN\n real_server 2001:db8:1::1 80 {{\n }}\n}}\n"
            )
        };
        let (spec, warnings) = spec_of(&conf("2001:db8::250/64"));
        assert!(!spec.unwrap().instances[0].vips[0].deprecated);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("2001:db8::250/64 may become the source")),
            "{warnings:?}"
        );
        for quiet in ["2001:db8::250", "2001:db8::250/64 preferred_lft 0"] {
            let (spec, warnings) = spec_of(&conf(quiet));
            assert!(spec.unwrap().instances[0].vips[0].deprecated, "{quiet}");
            assert!(
                !warnings.iter().any(|w| w.contains("source address")),
                "{quiet}: {warnings:?}"
            );
        }
    }

    #[test]
    fn an_ipv6_128_vip_is_deprecated_as_keepalived_adds_it() {
        let v6: IpAddr = "2001:db8:85::250".parse().unwrap();
        let v4: IpAddr = "10.253.85.250".parse().unwrap();
        assert!(VipSpec::deprecated(v6, 128, None));
        assert!(!VipSpec::deprecated(v6, 64, None));
        assert!(!VipSpec::deprecated(v6, 128, Some("forever")));
        assert!(VipSpec::deprecated(v6, 64, Some("0")));
        assert!(!VipSpec::deprecated(v4, 32, None));
    }
}
