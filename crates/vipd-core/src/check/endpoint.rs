//! Where a checker's socket goes, decided without IO: the target and the local
//! address of a probe, with `bindto`, `bind_port` and `bind_if` applied.
//!
//! The rules, the same for the configuration check (`vipd check` points at the
//! line) and for the probe (which refuses to send rather than guess):
//!
//! - `bindto` must be of the target's family: an IPv4 source cannot reach an
//!   IPv6 real server, nor the other way round (keepalived only logs a failed
//!   `bind()` at every check);
//! - an IPv6 link-local address (`fe80::/10`) means nothing without its link:
//!   a link-local `bindto` or target needs `bind_if`, whose interface index
//!   becomes the address's scope id (`fe80::1%eth1`);
//! - `bind_if` alone ties the socket to the interface (`SO_BINDTODEVICE`).

use std::fmt;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use super::spec::ConnectSpec;

/// Why a checker's addresses cannot be used together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// `bindto` is not of the target's address family.
    Family {
        /// The `bindto` address.
        bindto: IpAddr,
        /// The address probed.
        target: IpAddr,
    },
    /// A link-local address without `bind_if` to say on which link.
    LinkLocalNeedsInterface {
        /// `bindto` or `connect_ip`.
        keyword: &'static str,
        /// The link-local address.
        addr: IpAddr,
    },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Family { bindto, target } => write!(
                f,
                "bindto {bindto} is {} but the checker probes {target}, an {} address",
                family(*bindto),
                family(*target)
            ),
            EndpointError::LinkLocalNeedsInterface { keyword, addr } => write!(
                f,
                "{keyword} {addr} is IPv6 link-local, which needs `bind_if` to name its interface"
            ),
        }
    }
}

impl std::error::Error for EndpointError {}

impl EndpointError {
    /// What to write instead, for a diagnostic's `help:` line.
    pub fn help(&self) -> String {
        match self {
            EndpointError::Family { target, .. } => format!(
                "write a `bindto` with an {} address of this director, or remove `bindto`",
                family(*target)
            ),
            EndpointError::LinkLocalNeedsInterface { addr, .. } => {
                format!("add `bind_if IFACE` with the interface that {addr} is on (e.g. `bind_if eth1`)")
            }
        }
    }
}

/// `IPv4` or `IPv6`.
pub fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// `fe80::/10`.
pub fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Check `bindto` / `bind_if` against the address a checker probes; what
/// [`Endpoints::of`] would refuse, for the configuration check.
pub fn validate(
    target: IpAddr,
    bindto: Option<IpAddr>,
    has_bind_if: bool,
) -> Result<(), EndpointError> {
    if let Some(b) = bindto {
        if b.is_ipv4() != target.is_ipv4() {
            return Err(EndpointError::Family { bindto: b, target });
        }
        if is_link_local(b) && !has_bind_if {
            return Err(EndpointError::LinkLocalNeedsInterface {
                keyword: "bindto",
                addr: b,
            });
        }
    }
    if is_link_local(target) && !has_bind_if {
        return Err(EndpointError::LinkLocalNeedsInterface {
            keyword: "connect_ip",
            addr: target,
        });
    }
    Ok(())
}

/// The socket addresses of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// Where to connect or send (with the scope id of a link-local target).
    pub target: SocketAddr,
    /// What to bind first, when `bindto` or `bind_port` is set (with the scope
    /// id of a link-local `bindto`).
    pub local: Option<SocketAddr>,
}

impl Endpoints {
    /// The endpoints of `spec`, `ifindex` being the index of its `bind_if`
    /// interface (looked up by the caller; `None` without `bind_if`).
    pub fn of(spec: &ConnectSpec, ifindex: Option<u32>) -> Result<Endpoints, EndpointError> {
        let has_if = spec.bind_if.is_some() && ifindex.is_some();
        validate(spec.target.ip(), spec.bindto, has_if)?;
        let scoped = |a: SocketAddr| match a {
            SocketAddr::V6(v6) if is_link_local(IpAddr::V6(*v6.ip())) => SocketAddr::V6(
                SocketAddrV6::new(*v6.ip(), v6.port(), v6.flowinfo(), ifindex.unwrap_or(0)),
            ),
            other => other,
        };
        let local = (spec.bindto.is_some() || spec.bind_port.is_some()).then(|| {
            let ip = spec.bindto.unwrap_or(match spec.target {
                SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            });
            scoped(SocketAddr::new(ip, spec.bind_port.unwrap_or(0)))
        });
        Ok(Endpoints {
            target: scoped(spec.target),
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(target: &str) -> ConnectSpec {
        ConnectSpec::to(target.parse().unwrap())
    }

    #[test]
    fn plain_targets_are_left_alone() {
        for t in ["10.0.0.1:80", "[2001:db8::1]:80"] {
            let e = Endpoints::of(&spec(t), None).unwrap();
            assert_eq!(e.target, t.parse().unwrap());
            assert_eq!(e.local, None);
        }
    }

    #[test]
    fn bindto_of_the_other_family_is_refused() {
        let mut s = spec("[2001:db8::1]:80");
        s.bindto = Some("10.0.0.5".parse().unwrap());
        let e = Endpoints::of(&s, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bindto 10.0.0.5 is IPv4 but the checker probes 2001:db8::1, an IPv6 address"
        );
        assert!(
            e.help().contains("an IPv6 address of this director"),
            "{}",
            e.help()
        );
        let mut s = spec("10.0.0.1:80");
        s.bindto = Some("2001:db8::5".parse().unwrap());
        assert!(matches!(
            Endpoints::of(&s, None),
            Err(EndpointError::Family { .. })
        ));
    }

    #[test]
    fn bind_port_alone_binds_the_unspecified_address_of_the_family() {
        let mut s = spec("[2001:db8::1]:80");
        s.bind_port = Some(1234);
        let e = Endpoints::of(&s, None).unwrap();
        assert_eq!(e.local, Some("[::]:1234".parse().unwrap()));
        let mut s = spec("10.0.0.1:80");
        s.bind_port = Some(1234);
        assert_eq!(
            Endpoints::of(&s, None).unwrap().local,
            Some("0.0.0.0:1234".parse().unwrap())
        );
    }

    #[test]
    fn link_local_takes_the_interface_as_scope() {
        let mut s = spec("[fe80::1]:80");
        s.bindto = Some("fe80::2".parse().unwrap());
        let e = Endpoints::of(&s, None).unwrap_err();
        assert_eq!(
            e,
            EndpointError::LinkLocalNeedsInterface {
                keyword: "bindto",
                addr: "fe80::2".parse().unwrap()
            }
        );
        assert!(e.help().contains("bind_if"));
        s.bind_if = Some("eth1".into());
        let e = Endpoints::of(&s, Some(7)).unwrap();
        let SocketAddr::V6(t) = e.target else {
            panic!()
        };
        assert_eq!((t.scope_id(), t.port()), (7, 80));
        let Some(SocketAddr::V6(l)) = e.local else {
            panic!()
        };
        assert_eq!((l.ip().to_string(), l.scope_id()), ("fe80::2".into(), 7));
        // A global target through a link-local source: only the source is scoped.
        let mut s = spec("[2001:db8::1]:80");
        s.bindto = Some("fe80::2".parse().unwrap());
        s.bind_if = Some("eth1".into());
        let e = Endpoints::of(&s, Some(7)).unwrap();
        assert_eq!(e.target, "[2001:db8::1]:80".parse().unwrap());
        // A link-local target without bindto needs bind_if too.
        let s = spec("[fe80::1]:80");
        assert!(matches!(
            Endpoints::of(&s, None),
            Err(EndpointError::LinkLocalNeedsInterface {
                keyword: "connect_ip",
                ..
            })
        ));
    }

    #[test]
    fn link_local_means_fe80_slash_10() {
        for (a, ll) in [
            ("fe80::1", true),
            ("febf::1", true),
            ("fec0::1", false),
            ("2001:db8::1", false),
            ("169.254.0.1", false),
        ] {
            assert_eq!(is_link_local(a.parse().unwrap()), ll, "{a}");
        }
    }
}
