//! Builds a lab's topology through rtnetlink: namespaces, sysctls, bridges, veth
//! cables, addresses, routes, the ethtool settings and the pass XDP program.
//!
//! Every cable is created by the router's netlink socket with its far end placed
//! straight into the node's namespace (`IFLA_NET_NS_FD` on the peer), so no link
//! ever exists in the host namespace, and interface names never carry the lab name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use vipd_core::lab::{self as plan, LabPlan, Role};

use super::{ethtool, netns, xdp, LabError};

/// Sysctls every lab namespace gets, with why.
const COMMON_SYSCTLS: &[(&str, &str)] = &[
    // IPv6 off: no DAD delays, router solicitations or MLD noise on the LANs; the
    // seed is IPv4 only and captures stay readable.
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
    // rp_filter off: a real server answers from the VIP for packets that arrived
    // IPIP-encapsulated (kernel tunl0 or userspace decap), which strict or loose
    // reverse-path filtering would drop; directors see client sources on eth1
    // while their route to the client also is eth1, which is fine, but the lab
    // keeps one rule everywhere. The host's own setting is inherited by new
    // namespaces (devconf_inherit_init_net), hence explicit here.
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
];

/// Sysctls of the router only.
const ROUTER_SYSCTLS: &[(&str, &str)] = &[
    // The router routes between the three subnets (only inside its namespace).
    ("net.ipv4.ip_forward", "1"),
    // No ICMP redirects: the router must never tell a LAN host to bypass it, so
    // every path stays the one drawn in docs/LAB.md.
    ("net.ipv4.conf.all.send_redirects", "0"),
    ("net.ipv4.conf.default.send_redirects", "0"),
];

/// The dual-stack lab (`--ipv6`): IPv6 on, without duplicate address
/// detection (addresses usable at once, as the IPv4 ones are) or router
/// advertisements (addresses and routes are static).
const IPV6_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
    ("net.ipv6.conf.all.accept_dad", "0"),
    ("net.ipv6.conf.default.accept_dad", "0"),
    ("net.ipv6.conf.all.accept_ra", "0"),
    ("net.ipv6.conf.default.accept_ra", "0"),
];

/// Router sysctls that exist only when the kernel has `br_netfilter` (absent:
/// nothing to turn off).
const ROUTER_BRIDGE_SYSCTLS: &[(&str, &str)] = &[
    // Bridged frames do not go through iptables/arptables (br_netfilter, built
    // into many kernels with these on): a switch does not run a firewall on
    // every frame, and without this each frame on br-dir / br-rs paid for a
    // netfilter detour (~1 us per frame here), more for paths with more hops.
    ("net.bridge.bridge-nf-call-iptables", "0"),
    ("net.bridge.bridge-nf-call-ip6tables", "0"),
    ("net.bridge.bridge-nf-call-arptables", "0"),
];

/// Creates the namespaces of `plan` and records each in `created` as soon as it
/// exists, so a failure later can remove exactly those.
pub fn create_namespaces(
    plan: &LabPlan,
    ipv6: bool,
    created: &mut Vec<String>,
) -> Result<(), LabError> {
    for node in plan.node_names() {
        let ns = plan.netns(&node);
        netns::add(&ns)?;
        created.push(ns.clone());
        let mut sysctls: Vec<(&str, &str)> = COMMON_SYSCTLS.to_vec();
        if node == "router" {
            sysctls.extend_from_slice(ROUTER_SYSCTLS);
        }
        if ipv6 {
            sysctls.extend_from_slice(IPV6_SYSCTLS);
            if node == "router" {
                sysctls.push(("net.ipv6.conf.all.forwarding", "1"));
            }
        }
        for (key, value) in sysctls {
            netns::sysctl(&ns, key, value)?;
        }
        if node == "router" {
            for (key, value) in ROUTER_BRIDGE_SYSCTLS {
                let path = crate::sysctl::path(&crate::sysctl::dotted(key));
                match netns::sysctl(&ns, key, value) {
                    Err(_) if !netns::run_in(&ns, || path.exists())? => {}
                    r => r?,
                }
            }
        }
    }
    Ok(())
}

/// Builds links, addresses and routes inside the (existing) namespaces of `plan`.
pub async fn build(plan: &LabPlan, xdp_pass: bool, ipv6: bool) -> Result<(), LabError> {
    let mtu = plan.mtu();
    let router_ns = plan.netns("router");
    let router = netns::rtnetlink(&router_ns)?;
    set_up(&router, "lo").await?;

    for (name, mac) in [
        (plan::DLAN_BRIDGE, plan::DLAN_BRIDGE_MAC),
        (plan::RLAN_BRIDGE, plan::RLAN_BRIDGE_MAC),
    ] {
        // Multicast snooping off: VRRP adverts (224.0.0.18) and any other multicast
        // reach every port, as on an unmanaged switch, without IGMP joins.
        let msg = LinkBridge::new(name)
            .mtu(mtu)
            .address(mac.to_vec())
            .mcast_snooping(false)
            .build();
        router
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| link_err(&router_ns, &format!("create bridge {name}"), e))?;
    }
    let dlan = index(&router, &router_ns, plan::DLAN_BRIDGE).await?;
    let rlan = index(&router, &router_ns, plan::RLAN_BRIDGE).await?;
    add_addr(
        &router,
        &router_ns,
        dlan,
        plan::ROUTER_DLAN_IP,
        plan::DLAN_PREFIX,
        ipv6,
    )
    .await?;
    add_addr(
        &router,
        &router_ns,
        rlan,
        plan::ROUTER_RLAN_IP,
        plan::RLAN_PREFIX,
        ipv6,
    )
    .await?;

    for node in plan.nodes() {
        let ns = plan.netns(&node.name);
        let ns_fd = netns::open(&ns)?;
        // The peer (node side) is created directly in the node's namespace.
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(node.iface.to_string())
            .mtu(mtu)
            .setns_by_fd(netns::raw(&ns_fd))
            .build();
        let msg = LinkVeth::new(&node.router_port, node.iface)
            .mtu(mtu)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        router.link().add(msg).execute().await.map_err(|e| {
            link_err(
                &router_ns,
                &format!("create veth {} <-> {}:{}", node.router_port, ns, node.iface),
                e,
            )
        })?;
        drop(ns_fd);
        let port = index(&router, &router_ns, &node.router_port).await?;
        match node.bridge {
            Some(bridge) => {
                let br = if bridge == plan::DLAN_BRIDGE {
                    dlan
                } else {
                    rlan
                };
                let msg = LinkUnspec::new_with_index(port).controller(br).up().build();
                router.link().set(msg).execute().await.map_err(|e| {
                    link_err(
                        &router_ns,
                        &format!("plug {} into {bridge}", node.router_port),
                        e,
                    )
                })?;
            }
            None => {
                set_up(&router, &node.router_port).await?;
                add_addr(
                    &router,
                    &router_ns,
                    port,
                    plan::ROUTER_CLIENT_IP,
                    plan::CLIENT_PREFIX,
                    ipv6,
                )
                .await?;
            }
        }
        if let Role::Director(_) = node.role {
            // See ethtool.rs: what a real NIC would deliver to the director.
            ethtool::tx_csum_and_gro_off(&router_ns, &node.router_port).map_err(|e| {
                LabError::Ethtool {
                    ns: router_ns.clone(),
                    iface: node.router_port.clone(),
                    source: e,
                }
            })?;
            if xdp_pass {
                // See xdp.rs: native XDP_TX on eth1 needs a program on this peer.
                xdp::attach_pass(&router_ns, &node.router_port).await?;
            }
        }

        let h = netns::rtnetlink(&ns)?;
        set_up(&h, "lo").await?;
        let ifindex = index(&h, &ns, node.iface).await?;
        h.link()
            .set(LinkUnspec::new_with_index(ifindex).up().build())
            .execute()
            .await
            .map_err(|e| link_err(&ns, &format!("set {} up", node.iface), e))?;
        add_addr(&h, &ns, ifindex, node.addr, node.prefix, ipv6).await?;
        h.route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(node.gateway)
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| link_err(&ns, &format!("add default route via {}", node.gateway), e))?;
        if ipv6 {
            let gw = plan::ipv6_twin(node.gateway);
            h.route()
                .add(RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).build())
                .execute()
                .await
                .map_err(|e| link_err(&ns, &format!("add default route via {gw}"), e))?;
        }
    }
    Ok(())
}

async fn index(h: &Handle, ns: &str, name: &str) -> Result<u32, LabError> {
    h.link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| link_err(ns, &format!("find interface {name}"), e))?
        .map(|m| m.header.index)
        .ok_or_else(|| LabError::Kernel {
            ns: ns.to_string(),
            what: format!("find interface {name}"),
            detail: "it does not exist".into(),
        })
}

async fn set_up(h: &Handle, name: &str) -> Result<(), LabError> {
    h.link()
        .set(LinkUnspec::new_with_name(name).up().build())
        .execute()
        .await
        .map_err(|e| link_err("", &format!("set {name} up"), e))
}

/// `addr/prefix` and, in the dual-stack lab, its IPv6 twin.
async fn add_addr(
    h: &Handle,
    ns: &str,
    index: u32,
    addr: Ipv4Addr,
    prefix: u8,
    ipv6: bool,
) -> Result<(), LabError> {
    h.address()
        .add(index, IpAddr::V4(addr), prefix)
        .execute()
        .await
        .map_err(|e| link_err(ns, &format!("add address {addr}/{prefix}"), e))?;
    if ipv6 {
        let a6 = plan::ipv6_twin(addr);
        h.address()
            .add(index, IpAddr::V6(a6), plan::PREFIX6)
            .execute()
            .await
            .map_err(|e| link_err(ns, &format!("add address {a6}/{}", plan::PREFIX6), e))?;
    }
    Ok(())
}

/// Turns a netlink error into a [`LabError`], naming a missing kernel feature when
/// the errno says so.
fn link_err(ns: &str, what: &str, e: rtnetlink::Error) -> LabError {
    let errno = match &e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    };
    match errno {
        Some(libc::EOPNOTSUPP) => LabError::MissingFeature {
            what: what.to_string(),
            hint: "the kernel lacks veth or bridge support: load the modules \
                       (`modprobe veth bridge`) or use a kernel with CONFIG_VETH and \
                       CONFIG_BRIDGE"
                .into(),
        },
        _ => LabError::Kernel {
            ns: ns.to_string(),
            what: what.to_string(),
            detail: e.to_string(),
        },
    }
}
