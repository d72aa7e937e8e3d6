//! Netlink side of the real-server setup (rtnetlink): links, addresses, routes and
//! the tc objects vipd's decap lives in. Named after the `ip`/`tc` objects and verbs
//! they replace.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{RouteProtocol, RouteScope};
use rtnetlink::packet_route::tc::{TcAttribute, TcFilterBpfOption, TcHandle, TcMessage, TcOption};
use rtnetlink::{Handle, LinkIp6Tnl, LinkIpIp, LinkUnspec, RouteMessageBuilder};

use super::RealserverError;

/// A network interface as netlink reports it.
#[derive(Debug, Clone)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// IFF_UP.
    pub up: bool,
    /// IFF_NOARP.
    pub noarp: bool,
    /// IFF_LOOPBACK.
    pub loopback: bool,
}

/// One IPv4 or IPv6 address.
#[derive(Debug, Clone)]
pub struct Addr {
    /// ifindex of its device.
    pub index: u32,
    /// Address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
    /// Label (`tunl0:1`), or the device name when none was set.
    pub label: Option<String>,
}

/// vipd's decap filter as seen in a tc filter dump.
#[derive(Debug, Clone)]
pub struct BpfFilter {
    /// Filter priority.
    pub priority: u16,
    /// Filter handle.
    pub handle: u32,
    /// Attached BPF program id.
    pub prog_id: u32,
    /// Program name the filter carries.
    pub name: String,
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> RealserverError {
    let what = what.into();
    move |source| RealserverError::Netlink {
        what,
        error: source,
    }
}

/// True when a netlink error is the kernel's errno `code`.
pub fn is_errno(e: &rtnetlink::Error, code: i32) -> bool {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()) == Some(code),
        _ => false,
    }
}

/// Open a netlink connection in the current network namespace.
pub fn connect() -> Result<Handle, RealserverError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| RealserverError::Io {
        what: "opening a netlink socket".into(),
        error: e,
    })?;
    tokio::spawn(conn);
    Ok(handle)
}

/// `ip link show`.
pub async fn links(h: &Handle) -> Result<Vec<Link>, RealserverError> {
    let msgs: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing links"))?;
    Ok(msgs
        .into_iter()
        .map(|m| Link {
            index: m.header.index,
            name: m
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            up: m.header.flags.contains(LinkFlags::Up),
            noarp: m.header.flags.contains(LinkFlags::Noarp),
            loopback: m.header.flags.contains(LinkFlags::Loopback),
        })
        .collect())
}

/// `ip addr show` (both families).
pub async fn addrs(h: &Handle) -> Result<Vec<Addr>, RealserverError> {
    let msgs: Vec<AddressMessage> = h
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing addresses"))?;
    let mut out = Vec::new();
    for m in msgs {
        let mut local = None;
        let mut address = None;
        let mut label = None;
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(v) => local = Some(*v),
                AddressAttribute::Address(v) => address = Some(*v),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                _ => {}
            }
        }
        // IFA_LOCAL, when present, is the address itself (IFA_ADDRESS is then the
        // peer of a point-to-point link); IPv6 usually sends IFA_ADDRESS alone.
        if let Some(addr) = local.or(address) {
            out.push(Addr {
                index: m.header.index,
                addr,
                prefix: m.header.prefix_len,
                label,
            });
        }
    }
    Ok(out)
}

/// `ip addr add VIP/32 [brd VIP] [label L] dev DEV`, or for an IPv6 VIP
/// `ip addr add VIP/128 dev DEV nodad` (usable at once, and no Neighbour
/// Solicitation for it ever leaves the host).
pub async fn add_vip(
    h: &Handle,
    index: u32,
    vip: IpAddr,
    label: Option<&str>,
) -> Result<(), RealserverError> {
    let prefix = host_prefix(vip);
    let mut req = h.address().add(index, vip, prefix);
    let msg = req.message_mut();
    match vip {
        IpAddr::V4(v4) => {
            if let Some(l) = label {
                msg.attributes.push(AddressAttribute::Label(l.to_string()));
                msg.attributes.push(AddressAttribute::Broadcast(v4));
            }
        }
        IpAddr::V6(_) => {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
    }
    req.execute()
        .await
        .map_err(nl(format!("adding {vip}/{prefix} to ifindex {index}")))
}

/// 32 or 128.
pub fn host_prefix(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `ip addr del VIP/32 dev DEV` (`/128` for IPv6).
pub async fn del_vip(h: &Handle, index: u32, vip: IpAddr) -> Result<(), rtnetlink::Error> {
    let mut msg = AddressMessage::default();
    msg.header.family = match vip {
        IpAddr::V4(_) => rtnetlink::packet_route::AddressFamily::Inet,
        IpAddr::V6(_) => rtnetlink::packet_route::AddressFamily::Inet6,
    };
    msg.header.prefix_len = host_prefix(vip);
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(vip));
    msg.attributes.push(AddressAttribute::Address(vip));
    h.address().del(msg).execute().await
}

fn host_route(index: u32, vip: Ipv4Addr) -> rtnetlink::packet_route::route::RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(vip, 32)
        .output_interface(index)
        .scope(RouteScope::Link)
        // What `ip route add` uses, so the route looks exactly like the seed's.
        .protocol(RouteProtocol::Boot)
        .build()
}

/// `ip route add VIP/32 dev DEV` (scope link, main table).
pub async fn add_route(h: &Handle, index: u32, vip: Ipv4Addr) -> Result<(), RealserverError> {
    h.route()
        .add(host_route(index, vip))
        .execute()
        .await
        .map_err(nl(format!("adding route {vip}/32 via ifindex {index}")))
}

/// `ip route del VIP/32 dev DEV`.
pub async fn del_route(h: &Handle, index: u32, vip: Ipv4Addr) -> Result<(), rtnetlink::Error> {
    h.route().del(host_route(index, vip)).execute().await
}

/// `ip link set DEV [up|down] [arp on|off]`.
pub async fn set_link(
    h: &Handle,
    index: u32,
    up: Option<bool>,
    arp: Option<bool>,
) -> Result<(), rtnetlink::Error> {
    let mut b = LinkUnspec::new_with_index(index);
    match up {
        Some(true) => b = b.up(),
        Some(false) => b = b.down(),
        None => {}
    }
    if let Some(on) = arp {
        b = b.arp(on);
    }
    h.link().set(b.build()).execute().await
}

/// `ip link add tunl0 type ipip`. Asking for an `ipip` link makes the kernel load
/// the module (request_module "rtnl-link-ipip"), which itself creates `tunl0`; so
/// EEXIST means "the module is there now", and success means we made the device.
/// Returns whether vipd created the device.
pub async fn create_tunnel(h: &Handle, name: &str) -> Result<bool, rtnetlink::Error> {
    match h.link().add(LinkIpIp::new(name).build()).execute().await {
        Ok(()) => Ok(true),
        Err(e) if is_errno(&e, libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `ip link add ip6tnl0 type ip6tnl`: as [`create_tunnel`], for the `ip6_tunnel`
/// module, whose fallback device `ip6tnl0` receives ip6ip6 and 4in6 addressed to
/// any of the host's addresses.
pub async fn create_tunnel6(h: &Handle, name: &str) -> Result<bool, rtnetlink::Error> {
    match h.link().add(LinkIp6Tnl::new(name).build()).execute().await {
        Ok(()) => Ok(true),
        Err(e) if is_errno(&e, libc::EEXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `ip link del DEV`.
pub async fn del_link(h: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    h.link().del(index).execute().await
}

/// Does DEV have a clsact qdisc (`tc qdisc show dev DEV`)?
pub async fn has_clsact(h: &Handle, index: u32) -> Result<bool, RealserverError> {
    let msgs: Vec<TcMessage> = h
        .qdisc()
        .get()
        .index(index as i32)
        .execute()
        .try_collect()
        .await
        .map_err(nl("listing qdiscs"))?;
    Ok(msgs.iter().any(|m| {
        m.header.index == index as i32
            && m.attributes
                .iter()
                .any(|a| matches!(a, TcAttribute::Kind(k) if k == "clsact"))
    }))
}

/// `tc qdisc del dev DEV clsact`.
pub async fn del_clsact(h: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    let mut req = h.qdisc().del(index as i32);
    let m = req.message_mut();
    m.header.parent = TcHandle::CLSACT;
    m.header.handle = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    m.attributes.push(TcAttribute::Kind("clsact".into()));
    req.execute().await
}

/// BPF filters at tc ingress of DEV (`tc filter show dev DEV ingress`).
pub async fn ingress_bpf_filters(
    h: &Handle,
    index: u32,
) -> Result<Vec<BpfFilter>, RealserverError> {
    let res: Result<Vec<TcMessage>, _> = h
        .traffic_filter(index as i32)
        .get()
        .ingress()
        .execute()
        .try_collect()
        .await;
    let msgs = match res {
        Ok(m) => m,
        // No clsact/ingress qdisc: no filters.
        Err(e) if is_errno(&e, libc::EINVAL) || is_errno(&e, libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(nl(format!("listing tc ingress filters of ifindex {index}"))(e)),
    };
    let mut out = Vec::new();
    for m in msgs {
        let mut prog_id = None;
        let mut name = String::new();
        for a in &m.attributes {
            if let TcAttribute::Options(opts) = a {
                for o in opts {
                    match o {
                        TcOption::Bpf(TcFilterBpfOption::ProgId(id)) => prog_id = Some(*id),
                        TcOption::Bpf(TcFilterBpfOption::ProgName(n)) => name = n.clone(),
                        _ => {}
                    }
                }
            }
        }
        if let Some(prog_id) = prog_id {
            out.push(BpfFilter {
                priority: (m.header.info >> 16) as u16,
                handle: u32::from(m.header.handle),
                prog_id,
                name,
            });
        }
    }
    Ok(out)
}
