//! Interfaces and addresses through rtnetlink: the facts VRRP needs about its
//! interface (index, MAC, link state, primary IPv4) and VIP add/delete with the
//! `dev` and `label` written in the config (`10.253.85.250 dev eth1 label eth1:1`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::Handle;

use super::VrrpIoError;

/// What we know of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Name.
    pub name: String,
    /// ifindex.
    pub index: u32,
    /// MAC address (zero if it has none).
    pub mac: [u8; 6],
    /// Administratively up and carrier present (IFF_UP and IFF_RUNNING).
    pub up: bool,
}

fn link_from(msg: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = [0u8; 6];
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(bytes) if bytes.len() == 6 => mac.copy_from_slice(bytes),
            _ => {}
        }
    }
    let flags = msg.header.flags;
    Link {
        name,
        index: msg.header.index,
        mac,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
    }
}

/// Looks an interface up by name.
pub async fn link(handle: &Handle, name: &str) -> Result<Link, VrrpIoError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(link_from(&msg)),
        Ok(None) | Err(_) => Err(VrrpIoError::NoInterface {
            name: name.to_string(),
        }),
    }
}

/// The IPv4 addresses of an interface, primary (non-secondary) first, in kernel
/// order.
pub async fn ipv4_addresses(
    handle: &Handle,
    index: u32,
) -> Result<Vec<(Ipv4Addr, u8)>, VrrpIoError> {
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    let mut primary = Vec::new();
    let mut secondary = Vec::new();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(VrrpIoError::netlink("list addresses"))?
    {
        if msg.header.family != AddressFamily::Inet || msg.header.index != index {
            continue;
        }
        let addr = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(v4)) => Some(*v4),
            _ => None,
        });
        let Some(addr) = addr else { continue };
        // IFA_F_SECONDARY = 0x01.
        if msg.header.flags.bits() & 0x01 != 0 {
            secondary.push((addr, msg.header.prefix_len));
        } else {
            primary.push((addr, msg.header.prefix_len));
        }
    }
    primary.extend(secondary);
    Ok(primary)
}

/// The IPv6 link-local address of an interface (the source of its IPv6
/// adverts) that has passed duplicate address detection and is none of
/// `exclude` (our own VIPs), if it has one.
pub async fn ipv6_link_local(
    handle: &Handle,
    index: u32,
    exclude: &[IpAddr],
) -> Result<Option<Ipv6Addr>, VrrpIoError> {
    // IFA_F_TENTATIVE, IFA_F_DADFAILED: not usable as a source.
    const UNUSABLE: u32 = 0x40 | 0x08;
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(VrrpIoError::netlink("list addresses"))?
    {
        if msg.header.family != AddressFamily::Inet6 || msg.header.index != index {
            continue;
        }
        let flags = msg
            .attributes
            .iter()
            .find_map(|a| match a {
                AddressAttribute::Flags(f) => Some(f.bits()),
                _ => None,
            })
            .unwrap_or(u32::from(msg.header.flags.bits()));
        if flags & UNUSABLE != 0 {
            continue;
        }
        for a in &msg.attributes {
            if let AddressAttribute::Address(IpAddr::V6(v6)) = a {
                if v6.is_unicast_link_local() && !exclude.contains(&IpAddr::V6(*v6)) {
                    return Ok(Some(*v6));
                }
            }
        }
    }
    Ok(None)
}

fn errno(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg.code.map(|c| -c.get()),
        _ => None,
    }
}

/// Adds `addr/prefix_len` to interface `index` with an optional label. An
/// address already present is fine (a restarted node may find its VIP there).
/// An IPv6 address skips duplicate address detection (`nodad`, as keepalived
/// adds its VIPs): VRRP already decided who holds it. `deprecated` adds it
/// with a preferred lifetime of 0 (`preferred_lft 0`): still received and
/// answered, never chosen as the source of a connection this host opens.
pub async fn add_address(
    handle: &Handle,
    index: u32,
    addr: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
    deprecated: bool,
) -> Result<(), VrrpIoError> {
    let mut req = handle.address().add(index, addr, prefix_len);
    if addr.is_ipv6() {
        req.message_mut().header.flags = AddressHeaderFlags::Nodad;
    }
    if deprecated {
        // Valid forever (INFINITY_LIFE_TIME), preferred for 0 s.
        let mut life = CacheInfo::default();
        life.ifa_valid = u32::MAX;
        req.message_mut()
            .attributes
            .push(AddressAttribute::CacheInfo(life));
    }
    if let Some(label) = label {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Label(label.to_string()));
    }
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(VrrpIoError::Netlink {
            what: format!("add {addr}/{prefix_len} (label {label:?})"),
            source: e,
        }),
    }
}

/// Removes `addr/prefix_len` from interface `index`; an absent address is fine.
pub async fn del_address(
    handle: &Handle,
    index: u32,
    addr: IpAddr,
    prefix_len: u8,
) -> Result<(), VrrpIoError> {
    let mut msg = AddressMessage::default();
    msg.header.family = if addr.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.header.index = index;
    msg.header.prefix_len = prefix_len;
    if addr.is_ipv4() {
        msg.attributes.push(AddressAttribute::Local(addr));
    }
    msg.attributes.push(AddressAttribute::Address(addr));
    match handle.address().del(msg).execute().await {
        Ok(()) => Ok(()),
        Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT)) => Ok(()),
        Err(e) => Err(VrrpIoError::Netlink {
            what: format!("delete {addr}/{prefix_len}"),
            source: e,
        }),
    }
}
