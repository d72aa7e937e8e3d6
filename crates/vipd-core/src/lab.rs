//! The lab's plan: which nodes a lab has, what they are called and which addresses
//! they get. Pure data; `vipd::lab` turns a [`LabPlan`] into namespaces and links.
//!
//! The addresses are the seed's (director LAN 10.253.85.0/24 with the VIP
//! 10.253.85.250, real-server LAN 10.253.26.0/24 with rs1..rs3 at .1..3) plus a
//! client subnet from the documentation range 203.0.113.0/24. They are only ever
//! used inside the lab's network namespaces.
//!
//! ```text
//!   client eth0 203.0.113.2/24
//!        |
//!   router "client" 203.0.113.1/24 -- br-dir 10.253.85.1/24 -- br-rs 10.253.26.254/24
//!                                       |                        |
//!                              dirN eth1 10.253.85.(10+N)   rsN eth0 10.253.26.N
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest lab name accepted. Only namespace names carry the lab name (interfaces
/// inside namespaces have fixed names), but keeping it at 10 leaves room for
/// `NAME-` plus a 4-character suffix within the kernel's 15-character interface
/// name limit, should a tool ever need a host-side name derived from the lab.
pub const MAX_NAME_LEN: usize = 10;
/// Most directors a lab can have (addresses .11 up to .18).
pub const MAX_DIRECTORS: u8 = 8;
/// Most real servers a lab can have (addresses .1 up to .32).
pub const MAX_REALS: u8 = 32;
/// Smallest MTU accepted: IPv4 needs 68, the lab wants room for a TCP segment.
pub const MIN_MTU: u32 = 576;
/// Largest MTU accepted (veth and bridge allow up to 65535).
pub const MAX_MTU: u32 = 65_535;

/// The client subnet's router address.
pub const ROUTER_CLIENT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The client's address.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Prefix length of the client subnet.
pub const CLIENT_PREFIX: u8 = 24;
/// The director LAN's router address (the directors' default gateway).
pub const ROUTER_DLAN_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 85, 1);
/// Prefix length of the director LAN.
pub const DLAN_PREFIX: u8 = 24;
/// The seed's virtual IP, on the director LAN. The lab never assigns it: the
/// directors' VRRP does.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 253, 85, 250);
/// The NAT lab's gateway VIP on the director LAN: the active director holds it
/// (a second `virtual_ipaddress`, moving with the VIP) and the router sends
/// the real servers' replies to clients through it.
pub const NAT_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 253, 85, 254);
/// The routing table the NAT lab's router uses for those replies.
pub const NAT_TABLE: u32 = 100;

/// The NAT lab's IPv6 gateway VIP (`vipd lab up --nat --ipv6`): the twin of
/// [`NAT_GATEWAY`], 2001:db8:85::254, held by the active director like the
/// IPv4 one (a `virtual_ipaddress` of an IPv6 VRRP instance).
pub fn nat_gateway6() -> Ipv6Addr {
    ipv6_twin(NAT_GATEWAY)
}

/// The router's commands for the NAT lab (`vipd lab up --nat`): traffic from
/// the real-server LAN to the client subnet goes through [`NAT_GATEWAY`],
/// the active director, which puts the VIP back as its source (LVS-NAT's
/// "the real servers' gateway is the director", with the router in between).
/// In the dual-stack lab (`ipv6`) the same for the twins: from the real
/// servers' /64 to the client's /64 through [`nat_gateway6`], in the same
/// table number of the IPv6 routing tables.
pub fn nat_router_commands(ipv6: bool) -> Vec<Vec<String>> {
    let client_net = format!(
        "{}/{CLIENT_PREFIX}",
        Ipv4Addr::from(u32::from(CLIENT_IP) & !0xff)
    );
    let rlan = format!(
        "{}/{RLAN_PREFIX}",
        Ipv4Addr::from(u32::from(ROUTER_RLAN_IP) & !0xff)
    );
    let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let mut c = vec![
        words(&format!(
            "ip route add {client_net} via {NAT_GATEWAY} table {NAT_TABLE}"
        )),
        words(&format!(
            "ip rule add from {rlan} to {client_net} lookup {NAT_TABLE} priority 100"
        )),
    ];
    if ipv6 {
        let net6 = |a: Ipv4Addr| {
            format!(
                "{}/{PREFIX6}",
                ipv6_twin(Ipv4Addr::from(u32::from(a) & !0xff))
            )
        };
        let (client6, rlan6, gw6) = (net6(CLIENT_IP), net6(ROUTER_RLAN_IP), nat_gateway6());
        c.push(words(&format!(
            "ip -6 route add {client6} via {gw6} table {NAT_TABLE}"
        )));
        c.push(words(&format!(
            "ip -6 rule add from {rlan6} to {client6} lookup {NAT_TABLE} priority 100"
        )));
    }
    c
}

/// The device each director's vipd announces its VIPs on in the ECMP lab
/// (`global_defs { vipd_announce vipd0 }`).
pub const ANNOUNCE_DEVICE: &str = "vipd0";
/// The router's AS in the ECMP lab.
pub const ROUTER_AS: u32 = 65000;
/// The directors' AS in the ECMP lab (one AS: equal paths, merged by ECMP).
pub const DIRECTORS_AS: u32 = 65001;

/// The router's sysctls for ECMP (`vipd lab up --ecmp`): hash on the L4
/// 5-tuple fields only (policy 3 with fields 0x37: addresses, protocol,
/// ports), not on the socket's random hash (policy 1 uses it on veth, so a
/// flow could change director after a retransmission).
pub fn ecmp_router_sysctls() -> Vec<Vec<String>> {
    [
        "net.ipv4.fib_multipath_hash_policy=3",
        "net.ipv4.fib_multipath_hash_fields=0x0037",
    ]
    .iter()
    .map(|kv| vec!["sysctl".into(), "-qw".into(), (*kv).into()])
    .collect()
}

/// BFD timers of the ECMP lab: a silent director is dropped after 3 x 100 ms.
const BFD: &str = "min rx interval 100 ms; min tx interval 100 ms; multiplier 3;";

/// The router's BIRD 2 configuration in the ECMP lab: an eBGP session with
/// BFD to each director, every route learned installed in the kernel with
/// its equal paths merged into one multipath route.
pub fn bird_router_conf(directors: u8) -> String {
    let mut c = format!(
        "# vipd lab: the router. Learns each director's VIPs by eBGP, installs
# equal paths as one ECMP route.
log stderr all;
router id {ROUTER_DLAN_IP};
protocol device {{ scan time 10; }}
protocol kernel {{
    ipv4 {{ import none; export all; }};
    merge paths on;
}}
protocol bfd {{
    interface \"{DLAN_BRIDGE}\" {{ {BFD} }};
}}
template bgp director {{
    local {ROUTER_DLAN_IP} as {ROUTER_AS};
    bfd on;
    hold time 3;
    connect retry time 1;
    error wait time 1, 5;
    ipv4 {{ import all; export none; }};
}}
"
    );
    for n in 1..=directors {
        c += &format!(
            "protocol bgp dir{n} from director {{ neighbor {} as {DIRECTORS_AS}; }}
",
            dip(n)
        );
    }
    c
}

/// Director `n`'s BIRD 2 configuration in the ECMP lab: it announces the
/// addresses of [`ANNOUNCE_DEVICE`] (which vipd keeps equal to the VIPs it
/// can serve) to the router, with BFD, and learns nothing.
pub fn bird_director_conf(n: u8) -> String {
    format!(
        "# vipd lab: director {n}. Announces the VIPs vipd holds on {ANNOUNCE_DEVICE}.
log stderr all;
router id {dip};
protocol device {{ scan time 10; }}
protocol direct vipd {{
    ipv4;
    interface \"{ANNOUNCE_DEVICE}\";
}}
protocol bfd {{
    interface \"eth1\" {{ {BFD} }};
}}
protocol bgp uplink {{
    local {dip} as {DIRECTORS_AS};
    neighbor {ROUTER_DLAN_IP} as {ROUTER_AS};
    bfd on;
    hold time 3;
    connect retry time 1;
    error wait time 1, 5;
    ipv4 {{ import none; export where proto = \"vipd\"; }};
}}
",
        dip = dip(n)
    )
}

/// A real server's CPU budget (`vipd lab up --rs-cpu F`): F CPUs as a CFS
/// quota per period, so that each real server counts as a machine of its own
/// (the seed's real servers were) while the lab shares one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// `cpu.cfs_quota_us` (cgroup v1), the first number of `cpu.max` (v2).
    pub quota_us: u64,
    /// `cpu.cfs_period_us`, the second number of `cpu.max`.
    pub period_us: u64,
}

impl CpuQuota {
    /// The quota for `cpus` CPUs (0.01 to 8). The period is short (10 ms, or
    /// what gives the kernel's smallest quota, 1 ms): with the default 100 ms
    /// a throttled server stalls every request for up to 100 ms, and a few
    /// dozen clients per server no longer keep it busy.
    pub fn new(cpus: f64) -> Result<Self, PlanError> {
        if !(0.01..=8.0).contains(&cpus) {
            return Err(PlanError::RsCpu(cpus.to_string()));
        }
        let period_us = 10_000u64.max((1000.0 / cpus).ceil() as u64);
        Ok(Self {
            quota_us: (cpus * period_us as f64).round() as u64,
            period_us,
        })
    }

    /// cgroup v2's `cpu.max` line.
    pub fn cpu_max(self) -> String {
        format!("{} {}", self.quota_us, self.period_us)
    }
}

/// The real-server LAN's router address (the real servers' default gateway).
pub const ROUTER_RLAN_IP: Ipv4Addr = Ipv4Addr::new(10, 253, 26, 254);
/// Prefix length of the real-server LAN.
pub const RLAN_PREFIX: u8 = 24;
/// Name of the director LAN's bridge, inside the router namespace.
pub const DLAN_BRIDGE: &str = "br-dir";
/// Name of the real-server LAN's bridge, inside the router namespace.
pub const RLAN_BRIDGE: &str = "br-rs";
/// Fixed MAC of the director LAN bridge: a bridge otherwise takes the lowest MAC
/// of its ports, which changes as ports come and go and stales every ARP cache.
pub const DLAN_BRIDGE_MAC: [u8; 6] = [0x02, 0x56, 0x49, 0x50, 0x85, 0x01];
/// Fixed MAC of the real-server LAN bridge (see [`DLAN_BRIDGE_MAC`]).
pub const RLAN_BRIDGE_MAC: [u8; 6] = [0x02, 0x56, 0x49, 0x50, 0x26, 0xfe];
/// The router's interface towards the client (named after the node it reaches).
pub const ROUTER_CLIENT_PORT: &str = "client";

/// Prefix length of every IPv6 subnet of the dual-stack lab (`--ipv6`).
pub const PREFIX6: u8 = 64;

/// The IPv6 twin of a lab address in the dual-stack lab (`vipd lab up
/// --ipv6`): the subnet's third octet names its /64 in the documentation
/// prefix, the last octet's decimal digits the host, so each reads like its
/// IPv4 address: 10.253.85.11 -> 2001:db8:85::11, 10.253.26.254 ->
/// 2001:db8:26::254, 203.0.113.2 -> 2001:db8:113::2.
pub fn ipv6_twin(a: Ipv4Addr) -> Ipv6Addr {
    let o = a.octets();
    let digits = |n: u8| u16::from_str_radix(&n.to_string(), 16).expect("decimal digits are hex");
    Ipv6Addr::new(0x2001, 0xdb8, digits(o[2]), 0, 0, 0, 0, digits(o[3]))
}

/// Address of director `n` (1-based) on the director LAN: 10.253.85.(10+n).
pub fn dip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 253, 85, 10 + n)
}

/// Address of real server `n` (1-based) on the real-server LAN: 10.253.26.n.
pub fn rip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 253, 26, n)
}

/// Why a lab plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The lab name is empty.
    #[error("the lab name is empty: give one with --name, e.g. --name demo")]
    NameEmpty,
    /// The lab name is longer than [`MAX_NAME_LEN`].
    #[error(
        "lab name {name:?} is {len} characters long; at most {MAX_NAME_LEN} fit \
         (namespace names are NAME-NODE and must stay short): choose a shorter --name"
    )]
    NameTooLong {
        /// The name given.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The lab name has a character outside `[a-z0-9]` or does not start with a letter.
    #[error(
        "lab name {name:?} is not valid: use lower-case letters and digits only, \
         starting with a letter (e.g. t1a2b), so namespace names stay unambiguous: \
         choose another --name"
    )]
    NameChars {
        /// The name given.
        name: String,
    },
    /// The director count is out of range.
    #[error("--directors {0}: a lab has 1 to {MAX_DIRECTORS} directors")]
    Directors(u8),
    /// A real server's CPU budget is out of range.
    #[error("--rs-cpu {0}: give each real server a share of one CPU from 0.01 to 8 (e.g. 0.15)")]
    RsCpu(String),
    /// The real-server count is out of range.
    #[error("--reals {0}: a lab has 1 to {MAX_REALS} real servers")]
    Reals(u8),
    /// The MTU is out of range.
    #[error("--mtu {0}: choose an MTU from {MIN_MTU} to {MAX_MTU}")]
    Mtu(u32),
}

/// Checks a lab name: `[a-z][a-z0-9]*`, at most [`MAX_NAME_LEN`] characters.
///
/// No `-`: namespaces are `NAME-NODE`, and a dash in NAME would let lab `a` claim
/// the namespaces of lab `a-client`.
pub fn validate_name(name: &str) -> Result<(), PlanError> {
    if name.is_empty() {
        return Err(PlanError::NameEmpty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(PlanError::NameTooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(PlanError::NameChars {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client, on the client subnet.
    Client,
    /// The router joining the three subnets; it also holds both LAN bridges.
    Router,
    /// Director `n` (1-based) on the director LAN.
    Director(u8),
    /// Real server `n` (1-based) on the real-server LAN.
    Real(u8),
}

/// One node of the lab other than the router: a namespace with one cable to the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Node name: `client`, `dir1`, `rs2`...
    pub name: String,
    /// What it is.
    pub role: Role,
    /// Its interface to the router: `eth0`, or `eth1` on directors (the seed's name).
    pub iface: &'static str,
    /// Its address on that interface.
    pub addr: Ipv4Addr,
    /// Prefix length of that address.
    pub prefix: u8,
    /// Its default gateway (the router).
    pub gateway: Ipv4Addr,
    /// The bridge in the router namespace the cable plugs into, `None` for the
    /// client (a point-to-point cable to the router's `client` interface).
    pub bridge: Option<&'static str>,
    /// The name of the cable's router-side end (inside the router namespace): the
    /// node's own name, so `ethtool -K dir1 ...` in the router means dir1's port.
    pub router_port: String,
}

/// A validated lab: its name, size and MTU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPlan {
    name: String,
    directors: u8,
    reals: u8,
    mtu: u32,
}

impl LabPlan {
    /// Validates name, counts and MTU.
    pub fn new(name: &str, directors: u8, reals: u8, mtu: u32) -> Result<Self, PlanError> {
        validate_name(name)?;
        if directors == 0 || directors > MAX_DIRECTORS {
            return Err(PlanError::Directors(directors));
        }
        if reals == 0 || reals > MAX_REALS {
            return Err(PlanError::Reals(reals));
        }
        if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
            return Err(PlanError::Mtu(mtu));
        }
        Ok(Self {
            name: name.to_string(),
            directors,
            reals,
            mtu,
        })
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of directors.
    pub fn directors(&self) -> u8 {
        self.directors
    }

    /// Number of real servers.
    pub fn reals(&self) -> u8 {
        self.reals
    }

    /// MTU of every link.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// The namespace of `node` (`client`, `router`, `dir1`...): `NAME-node`.
    pub fn netns(&self, node: &str) -> String {
        netns_name(&self.name, node)
    }

    /// Every node name, router first: `router client dir1.. rs1..`.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec!["router".to_string()];
        names.extend(self.nodes().into_iter().map(|n| n.name));
        names
    }

    /// Whether `node` names a node of this lab.
    pub fn has_node(&self, node: &str) -> bool {
        node == "router" || self.node(node).is_some()
    }

    /// The nodes hanging off the router: client, directors, real servers.
    pub fn nodes(&self) -> Vec<Node> {
        let mut nodes = vec![Node {
            name: "client".into(),
            role: Role::Client,
            iface: "eth0",
            addr: CLIENT_IP,
            prefix: CLIENT_PREFIX,
            gateway: ROUTER_CLIENT_IP,
            bridge: None,
            router_port: ROUTER_CLIENT_PORT.into(),
        }];
        for n in 1..=self.directors {
            nodes.push(Node {
                name: format!("dir{n}"),
                role: Role::Director(n),
                iface: "eth1",
                addr: dip(n),
                prefix: DLAN_PREFIX,
                gateway: ROUTER_DLAN_IP,
                bridge: Some(DLAN_BRIDGE),
                router_port: format!("dir{n}"),
            });
        }
        for n in 1..=self.reals {
            nodes.push(Node {
                name: format!("rs{n}"),
                role: Role::Real(n),
                iface: "eth0",
                addr: rip(n),
                prefix: RLAN_PREFIX,
                gateway: ROUTER_RLAN_IP,
                bridge: Some(RLAN_BRIDGE),
                router_port: format!("rs{n}"),
            });
        }
        nodes
    }

    /// The node called `name`, if the lab has it (not the router).
    pub fn node(&self, name: &str) -> Option<Node> {
        self.nodes().into_iter().find(|n| n.name == name)
    }
}

/// `NAME-node`: the namespace of `node` in lab `lab`.
pub fn netns_name(lab: &str, node: &str) -> String {
    format!("{lab}-{node}")
}

/// If `netns` is one of lab `lab`'s namespace names, the node it belongs to.
///
/// Recognises `client`, `router`, `dirN` and `rsN`, so leftovers of a crashed lab
/// are found even without its state directory.
pub fn node_of_netns<'a>(lab: &str, netns: &'a str) -> Option<&'a str> {
    let node = netns.strip_prefix(lab)?.strip_prefix('-')?;
    let numbered = |prefix: &str| {
        node.strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    (node == "client" || node == "router" || numbered("dir") || numbered("rs")).then_some(node)
}

impl fmt::Display for LabPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lab {}: {} director(s), {} real server(s), mtu {}",
            self.name, self.directors, self.reals, self.mtu
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_router_sends_replies_to_clients_through_the_gateway_vip() {
        let v4 = [
            "ip route add 203.0.113.0/24 via 10.253.85.254 table 100",
            "ip rule add from 10.253.26.0/24 to 203.0.113.0/24 lookup 100 priority 100",
        ];
        let c = |ipv6| -> Vec<String> {
            nat_router_commands(ipv6)
                .iter()
                .map(|c| c.join(" "))
                .collect()
        };
        assert_eq!(c(false), v4);
        // --nat --ipv6: the same policy route for the twins, via the twin of
        // the gateway VIP.
        assert_eq!(
            c(true),
            [
                v4[0],
                v4[1],
                "ip -6 route add 2001:db8:113::/64 via 2001:db8:85::254 table 100",
                "ip -6 rule add from 2001:db8:26::/64 to 2001:db8:113::/64 lookup 100 priority 100",
            ]
        );
        assert_eq!(nat_gateway6(), ipv6_twin(NAT_GATEWAY));
    }

    #[test]
    fn ecmp_bird_peers_every_director_and_exports_only_the_announce_device() {
        let r = bird_router_conf(3);
        for n in 1..=3 {
            assert!(
                r.contains(&format!(
                    "protocol bgp dir{n} from director {{ neighbor 10.253.85.1{n} as 65001; }}"
                )),
                "{r}"
            );
        }
        assert!(!r.contains("dir4"), "{r}");
        assert!(r.contains("merge paths on"), "{r}");
        let d = bird_director_conf(2);
        assert!(d.contains("local 10.253.85.12 as 65001"), "{d}");
        assert!(d.contains("interface \"vipd0\""), "{d}");
        assert!(d.contains("export where proto = \"vipd\""), "{d}");
    }

    #[test]
    fn ipv6_twins_read_like_their_ipv4_addresses() {
        let t = |a: &str| ipv6_twin(a.parse().unwrap()).to_string();
        assert_eq!(t("10.253.85.11"), "2001:db8:85::11");
        assert_eq!(t("10.253.85.250"), "2001:db8:85::250");
        assert_eq!(t("10.253.26.254"), "2001:db8:26::254");
        assert_eq!(t("203.0.113.2"), "2001:db8:113::2");
    }

    #[test]
    fn cpu_budget_is_a_quota_per_period() {
        let q = CpuQuota::new(0.15).unwrap();
        assert_eq!((q.quota_us, q.period_us), (1_500, 10_000));
        assert_eq!(q.cpu_max(), "1500 10000");
        let q = CpuQuota::new(0.05).unwrap();
        assert_eq!(
            (q.quota_us, q.period_us),
            (1_000, 20_000),
            "the kernel's 1 ms minimum"
        );
        assert!(CpuQuota::new(0.0).is_err());
        assert!(CpuQuota::new(f64::NAN).is_err());
        assert!(CpuQuota::new(9.0).is_err());
    }

    #[test]
    fn names() {
        assert!(validate_name("vipd").is_ok());
        assert!(validate_name("t1a2b").is_ok());
        assert!(validate_name("abcdefghij").is_ok());
        assert_eq!(validate_name(""), Err(PlanError::NameEmpty));
        assert!(matches!(
            validate_name("abcdefghijk"),
            Err(PlanError::NameTooLong { len: 11, .. })
        ));
        for bad in ["1abc", "a-b", "A", "a_b", "a b", "é"] {
            assert!(
                matches!(validate_name(bad), Err(PlanError::NameChars { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn seed_addresses() {
        let plan = LabPlan::new("vipd", 2, 3, 1500).unwrap();
        let nodes = plan.nodes();
        let names: Vec<_> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["client", "dir1", "dir2", "rs1", "rs2", "rs3"]);
        let rs: Vec<_> = nodes
            .iter()
            .filter(|n| matches!(n.role, Role::Real(_)))
            .map(|n| n.addr.to_string())
            .collect();
        assert_eq!(rs, ["10.253.26.1", "10.253.26.2", "10.253.26.3"]);
        let dir1 = plan.node("dir1").unwrap();
        assert_eq!(dir1.iface, "eth1");
        assert_eq!(dir1.addr, Ipv4Addr::new(10, 253, 85, 11));
        assert_eq!(dir1.gateway, ROUTER_DLAN_IP);
        assert_eq!(plan.netns("rs2"), "vipd-rs2");
        assert!(plan.has_node("router"));
        assert!(!plan.has_node("rs4"));
        // No node may take the VIP or a router address.
        for n in LabPlan::new("x", MAX_DIRECTORS, MAX_REALS, 1500)
            .unwrap()
            .nodes()
        {
            assert_ne!(n.addr, VIP);
            assert_ne!(n.addr, ROUTER_DLAN_IP);
            assert_ne!(n.addr, ROUTER_RLAN_IP);
        }
    }

    #[test]
    fn limits() {
        assert_eq!(LabPlan::new("a", 0, 3, 1500), Err(PlanError::Directors(0)));
        assert_eq!(LabPlan::new("a", 9, 3, 1500), Err(PlanError::Directors(9)));
        assert_eq!(LabPlan::new("a", 2, 0, 1500), Err(PlanError::Reals(0)));
        assert_eq!(LabPlan::new("a", 2, 33, 1500), Err(PlanError::Reals(33)));
        assert_eq!(LabPlan::new("a", 2, 3, 100), Err(PlanError::Mtu(100)));
    }

    #[test]
    fn netns_ownership() {
        assert_eq!(node_of_netns("t1", "t1-client"), Some("client"));
        assert_eq!(node_of_netns("t1", "t1-rs12"), Some("rs12"));
        assert_eq!(node_of_netns("t1", "t1-dir1"), Some("dir1"));
        assert_eq!(node_of_netns("t1", "t12-dir1"), None);
        assert_eq!(node_of_netns("t1", "t1-rs"), None);
        assert_eq!(node_of_netns("t1", "t1-foo"), None);
        assert_eq!(node_of_netns("t1", "t1-rs1x"), None);
    }
}
