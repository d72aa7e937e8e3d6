//! Real-server setup, decided without IO: which VIPs go where, which sysctls get
//! which values, what `down` must undo, and how to print it all as `ip`/`sysctl`
//! commands for `--dry-run`.
//!
//! A real server in LVS-TUN receives the director's IP-in-IP packets, strips the
//! outer header, and answers the client straight from the VIP. For that it must
//! hold the VIP without ever answering ARP for it (only the director may), hence
//! `arp_ignore=1` / `arp_announce=2`. Two ways to decapsulate:
//! - [`DecapMode::Kernel`]: the kernel's `ipip` module and its `tunl0`, exactly the
//!   seed's `realserver.sh` (VIP/32 on `tunl0` with label `tunl0:N`, host route,
//!   `rp_filter=0` on `tunl0`);
//! - [`DecapMode::Bpf`]: vipd's tc ingress program on the receiving interfaces,
//!   VIPs on `lo`.
//!
//! IPv6 VIPs (issue #17) go on the same devices as /128 without DAD: on `lo` in
//! bpf mode, on `ip6tnl0` (the `ip6_tunnel` module's fallback device, which
//! receives ip6ip6 and 4in6) in kernel mode. IPv6 needs no sysctl where IPv4
//! needs `arp_ignore` / `arp_announce` / `rp_filter`:
//! - Neighbour Discovery answers a Neighbour Solicitation only for an address of
//!   the interface it arrived on (`ndisc_recv_ns` looks the target up strictly on
//!   that device), so a VIP on `lo` or `ip6tnl0` is never advertised on the LAN,
//!   which `arp_ignore=1` does for IPv4; the tests check it with a control;
//! - NDP takes the source of its own solicitations from the outgoing interface
//!   unless the triggering packet's source is an address of that interface,
//!   which `arp_announce=2` does for IPv4;
//! - Linux has no IPv6 reverse-path filter sysctl (only the netfilter `rpfilter`
//!   match, which vipd does not touch).
//!
//! What IPv6 does need: IPv6 enabled (`disable_ipv6=0`) on the VIP device and on
//! the receiving interfaces (the stack drops IPv6, decapsulated or not, arriving
//! on an interface where it is disabled), no `proxy_ndp` entry for the VIP, and no
//! DAD on the VIP (`nodad`, so it is usable at once and no solicitation for it
//! ever leaves the host).
//!
//! The IO shell (`vipd::realserver`) observes the host, asks this module for the
//! [`Change`]s to make, applies them and records each one as an [`Applied`] entry,
//! which is what `down` undoes, newest first.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// The tunnel device of the kernel's `ipip` module.
pub const TUNNEL_DEV: &str = "tunl0";
/// The fallback device of the kernel's `ip6_tunnel` module (ip6ip6 and 4in6).
pub const TUNNEL6_DEV: &str = "ip6tnl0";
/// Where VIPs live when vipd decapsulates with BPF.
pub const LOOPBACK_DEV: &str = "lo";

/// How the user asked to decapsulate (`--decap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecapChoice {
    /// Kernel `ipip` when the kernel has it, BPF otherwise.
    #[default]
    Auto,
    /// Kernel `ipip` / `tunl0` only; fail if the kernel lacks it.
    Kernel,
    /// vipd's tc BPF program, even if the kernel has `ipip`.
    Bpf,
}

/// How this real server decapsulates, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecapMode {
    /// Kernel `ipip` module, VIPs on `tunl0`.
    Kernel,
    /// vipd's tc ingress program, VIPs on `lo`.
    Bpf,
}

impl DecapMode {
    /// Device that carries `vip` in this mode.
    pub fn vip_dev(self, vip: IpAddr) -> &'static str {
        match (self, vip) {
            (DecapMode::Kernel, IpAddr::V4(_)) => TUNNEL_DEV,
            (DecapMode::Kernel, IpAddr::V6(_)) => TUNNEL6_DEV,
            (DecapMode::Bpf, _) => LOOPBACK_DEV,
        }
    }
}

impl fmt::Display for DecapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecapMode::Kernel => "kernel",
            DecapMode::Bpf => "bpf",
        })
    }
}

/// The kernel module that provides a kernel-mode tunnel device.
pub fn tunnel_module(dev: &str) -> &'static str {
    if dev == TUNNEL6_DEV {
        "ip6_tunnel"
    } else {
        "ipip"
    }
}

/// Resolve `--decap` given whether the kernel has the tunnel modules the VIPs need
/// (`ipip` for IPv4 VIPs, `ip6_tunnel` for IPv6 VIPs).
///
/// Returns `None` when the user insisted on `kernel` and the kernel lacks it.
pub fn resolve_decap(choice: DecapChoice, kernel_has_ipip: bool) -> Option<DecapMode> {
    match (choice, kernel_has_ipip) {
        (DecapChoice::Bpf, _) => Some(DecapMode::Bpf),
        (DecapChoice::Kernel, true) | (DecapChoice::Auto, true) => Some(DecapMode::Kernel),
        (DecapChoice::Kernel, false) => None,
        (DecapChoice::Auto, false) => Some(DecapMode::Bpf),
    }
}

/// Why an address cannot be a VIP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VipError {
    /// 0.0.0.0, 255.255.255.255, ::, loopback, multicast or link-local: not a service address.
    #[error("{0} cannot be a VIP: it is {1}; a VIP is a unicast address clients connect to")]
    NotUnicast(IpAddr, &'static str),
}

/// Check that `vip` is usable as a virtual service address.
pub fn validate_vip(vip: IpAddr) -> Result<(), VipError> {
    let vip = match vip {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => {
            let why = if v.is_unspecified() {
                "the unspecified address"
            } else if v.is_loopback() {
                "the loopback address"
            } else if v.is_multicast() {
                "a multicast address"
            } else if v.is_unicast_link_local() {
                "a link-local address (fe80::/10)"
            } else if v.to_ipv4_mapped().is_some() {
                "an IPv4-mapped address (::ffff:0:0/96); give the IPv4 VIP itself"
            } else {
                return Ok(());
            };
            return Err(VipError::NotUnicast(vip, why));
        }
    };
    let why = if vip.is_unspecified() {
        "the unspecified address"
    } else if vip.is_broadcast() {
        "the broadcast address"
    } else if vip.is_loopback() {
        "a loopback address"
    } else if vip.is_multicast() {
        "a multicast address"
    } else if vip.is_link_local() {
        "a link-local address"
    } else if vip.octets()[0] >= 240 {
        "a reserved (class E) address"
    } else {
        return Ok(());
    };
    Err(VipError::NotUnicast(IpAddr::V4(vip), why))
}

/// One IPv4 sysctl of one interface: `net.ipv4.conf.<iface>.<key>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SysctlKey {
    /// Interface name, or `all` / `default`.
    pub iface: String,
    /// `arp_ignore`, `arp_announce` or `rp_filter`.
    pub key: String,
}

impl SysctlKey {
    /// Build a key.
    pub fn new(iface: &str, key: &str) -> Self {
        Self {
            iface: iface.to_string(),
            key: key.to_string(),
        }
    }

    /// Path below `/proc/sys/`.
    pub fn proc_path(&self) -> String {
        format!("net/ipv4/conf/{}/{}", self.iface, self.key)
    }

    /// The name `sysctl(8)` accepts (slash form when the interface name has a dot,
    /// as `eth0.10` would otherwise be read as two levels).
    pub fn sysctl_name(&self) -> String {
        if self.iface.contains('.') {
            self.proc_path()
        } else {
            format!("net.ipv4.conf.{}.{}", self.iface, self.key)
        }
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sysctl_name())
    }
}

/// One step of `up`, before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create the ipip fallback device (this also makes the kernel load `ipip`).
    CreateTunnel {
        /// Always [`TUNNEL_DEV`].
        dev: String,
    },
    /// Set a link up and/or turn its ARP off.
    LinkFlags {
        /// Device.
        dev: String,
        /// Bring it up.
        up: bool,
        /// Turn ARP off.
        arp_off: bool,
    },
    /// Add VIP/32 (IPv4) or VIP/128 without DAD (IPv6) to a device.
    AddVip {
        /// The VIP.
        vip: IpAddr,
        /// Device (`tunl0` or `lo`).
        dev: String,
        /// `tunl0:N` in kernel mode, as the seed does.
        label: Option<String>,
    },
    /// Host route VIP/32 dev tunl0 (kernel mode).
    AddRoute {
        /// The VIP.
        vip: Ipv4Addr,
        /// Device.
        dev: String,
    },
    /// Write a sysctl.
    Sysctl {
        /// Which one.
        key: SysctlKey,
        /// Value now.
        from: String,
        /// Value wanted.
        to: String,
    },
    /// Add the clsact qdisc that tc BPF programs hang from.
    AddClsact {
        /// Device.
        dev: String,
    },
    /// Attach vipd's decap program at tc ingress of a device.
    AttachDecap {
        /// Device.
        dev: String,
    },
    /// Tell the decap program which outer destinations are ours.
    SetLocalAddrs {
        /// This host's own addresses (no VIPs, no loopback, no IPv6 link-local).
        addrs: Vec<IpAddr>,
    },
}

impl Change {
    /// The equivalent command line, for `--dry-run`.
    pub fn command(&self) -> String {
        match self {
            Change::CreateTunnel { dev } => {
                let (module, kind) = if dev == TUNNEL6_DEV {
                    ("ip6_tunnel", "ip6tnl")
                } else {
                    ("ipip", "ipip")
                };
                format!("modprobe {module}    # creates {dev}; vipd does it with `ip link add {dev} type {kind}` via netlink")
            }
            Change::LinkFlags { dev, up, arp_off } => {
                let mut s = format!("ip link set {dev}");
                if *up {
                    s.push_str(" up");
                }
                if *arp_off {
                    s.push_str(" arp off");
                }
                s
            }
            Change::AddVip { vip, dev, label } => match (vip, label) {
                (IpAddr::V6(_), _) => format!("ip addr add {vip}/128 dev {dev} nodad"),
                (_, Some(l)) => format!("ip addr add {vip}/32 brd {vip} label {l} dev {dev}"),
                (_, None) => format!("ip addr add {vip}/32 dev {dev}"),
            },
            Change::AddRoute { vip, dev } => format!("ip route add {vip}/32 dev {dev}"),
            Change::Sysctl { key, from, to } => {
                format!("sysctl -w {}={to}    # was {from}", key.sysctl_name())
            }
            Change::AddClsact { dev } => format!("tc qdisc add dev {dev} clsact"),
            Change::AttachDecap { dev } => format!(
                "tc filter add dev {dev} ingress bpf direct-action obj decap.bpf.o sec classifier    # vipd_decap"
            ),
            Change::SetLocalAddrs { addrs } => {
                let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                format!(
                    "# decap map rs_local <- {}    (bpftool map update name rs_local ...)",
                    list.join(" ")
                )
            }
        }
    }
}

/// One step `up` took, recorded so that `down` can undo exactly it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Applied {
    /// vipd created `tunl0` (so `down` deletes it).
    CreatedTunnel {
        /// Device.
        dev: String,
    },
    /// vipd changed link flags; the previous ones are restored on `down`.
    LinkFlags {
        /// Device.
        dev: String,
        /// Was it up before.
        was_up: bool,
        /// Had it ARP off (IFF_NOARP) before.
        was_noarp: bool,
    },
    /// vipd added this address.
    AddedVip {
        /// The VIP.
        vip: IpAddr,
        /// Device.
        dev: String,
        /// Label, if any.
        label: Option<String>,
    },
    /// vipd added this host route.
    AddedRoute {
        /// The VIP.
        vip: Ipv4Addr,
        /// Device.
        dev: String,
    },
    /// vipd changed this sysctl from `previous` to `applied`.
    Sysctl {
        /// Which one.
        key: SysctlKey,
        /// Value before the first `up`: what `down` writes back.
        previous: String,
        /// Value vipd wrote (what `status` expects).
        applied: String,
    },
    /// vipd added the clsact qdisc (there was none).
    AddedClsact {
        /// Device.
        dev: String,
    },
    /// vipd attached its decap filter.
    AttachedDecap {
        /// Device.
        dev: String,
        /// Its ifindex when attached (a re-created device would get another).
        ifindex: u32,
        /// tc filter priority the kernel assigned.
        priority: u16,
        /// tc filter handle the kernel assigned.
        handle: u32,
        /// BPF program id of the attached program.
        prog_id: u32,
    },
}

/// Desired ARP sysctls: `arp_ignore=1` and `arp_announce=2` on `all` and on each
/// interface in `ifaces` (tunl0, or lo plus the decap interfaces).
pub fn arp_sysctls(ifaces: &[String]) -> Vec<(SysctlKey, String)> {
    let mut out = Vec::new();
    let mut names: Vec<&str> = vec!["all"];
    for i in ifaces {
        if !names.contains(&i.as_str()) {
            names.push(i);
        }
    }
    for n in names {
        out.push((SysctlKey::new(n, "arp_ignore"), "1".to_string()));
        out.push((SysctlKey::new(n, "arp_announce"), "2".to_string()));
    }
    out
}

/// Reverse-path filter settings that let `tunnel` accept packets whose source is
/// routed elsewhere (the decapsulated CIP -> VIP arrives on `tunl0`, but CIP is
/// routed out of the LAN interface), without weakening any other interface.
///
/// The kernel uses max(`all`, `<iface>`) for each interface. So `tunnel` gets 0,
/// and if `all` is above 0 it must drop to 0 too; every other interface whose own
/// value is below the old `all` is raised to it so its effective value is unchanged.
/// `current` maps interface name (including `all`) to its current value.
pub fn rp_filter_sysctls(current: &BTreeMap<String, u8>, tunnel: &str) -> Vec<(SysctlKey, String)> {
    let all = current.get("all").copied().unwrap_or(0);
    let mut out = vec![(SysctlKey::new(tunnel, "rp_filter"), "0".to_string())];
    if all > 0 {
        out.push((SysctlKey::new("all", "rp_filter"), "0".to_string()));
        for (iface, v) in current {
            if iface == "all" || iface == "default" || iface == tunnel {
                continue;
            }
            if *v < all {
                out.push((SysctlKey::new(iface, "rp_filter"), all.to_string()));
            }
        }
    }
    out
}

/// Pick the first free `tunl0:N` label, N from 1, as the seed numbers them.
pub fn next_label(dev: &str, used: &[String]) -> String {
    (1..)
        .map(|n| format!("{dev}:{n}"))
        .find(|l| !used.contains(l))
        .expect("an unbounded range always has a free label")
}

/// What `status` compares: what should be, and what is.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Current value of every recorded sysctl (None: cannot be read, e.g. device gone).
    pub sysctls: BTreeMap<SysctlKey, Option<String>>,
    /// Addresses (and their device) currently configured.
    pub addrs: Vec<(IpAddr, String)>,
    /// Devices that carry vipd's decap filter, with the program id attached.
    pub decap_filters: Vec<(String, u32)>,
    /// Devices that exist and are up.
    pub up_devs: Vec<String>,
    /// Outer destinations the decap program accepts (bpf mode; `None`: unreadable).
    pub decap_local: Option<Vec<IpAddr>>,
    /// This host's own addresses now (no VIPs, no loopback, no IPv6 link-local), sorted.
    pub host_local: Vec<IpAddr>,
}

/// Compare the recorded steps with what the host shows; one line per problem,
/// each saying what is wrong and what to do.
pub fn problems(
    applied: &[Applied],
    vips: &[IpAddr],
    mode: DecapMode,
    seen: &Observed,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut devs: Vec<&str> = vips.iter().map(|v| mode.vip_dev(*v)).collect();
    devs.dedup();
    for dev in devs {
        if !seen.up_devs.iter().any(|d| d == dev) {
            out.push(format!(
                "{dev} is missing or down: VIPs on it are not reachable; run `vipd realserver up` again"
            ));
        }
    }
    for vip in vips {
        let dev = mode.vip_dev(*vip);
        if !seen.addrs.iter().any(|(a, d)| a == vip && d == dev) {
            out.push(format!(
                "VIP {vip} is not on {dev} any more (removed by someone?); run `vipd realserver up` again"
            ));
        }
    }
    if mode == DecapMode::Bpf {
        match &seen.decap_local {
            Some(have) if *have == seen.host_local => {}
            Some(have) => out.push(format!(
                "the decap program accepts tunnels for {} but this host's addresses are now {}; run `vipd realserver up` again",
                join(have),
                join(&seen.host_local)
            )),
            None => out.push("the decap program's address map cannot be read (program gone?); run `vipd realserver up` again".into()),
        }
    }
    for a in applied {
        match a {
            Applied::Sysctl { key, applied, .. } => match seen.sysctls.get(key) {
                Some(Some(v)) if v == applied => {}
                Some(Some(v)) => out.push(format!(
                    "{key} is {v}, expected {applied} (reset by someone?); run `vipd realserver up` again"
                )),
                _ => out.push(format!("{key} cannot be read (interface gone?)")),
            },
            Applied::AttachedDecap { dev, prog_id, .. }
                if !seen.decap_filters.iter().any(|(d, p)| d == dev && p == prog_id) =>
            {
                out.push(format!(
                    "decap program {prog_id} is no longer attached to {dev} ingress (tc filter removed?); run `vipd realserver up` again"
                ));
            }
            _ => {}
        }
    }
    out
}

fn join(a: &[IpAddr]) -> String {
    if a.is_empty() {
        return "(none)".into();
    }
    a.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_kernel_and_falls_back_to_bpf() {
        assert_eq!(
            resolve_decap(DecapChoice::Auto, true),
            Some(DecapMode::Kernel)
        );
        assert_eq!(
            resolve_decap(DecapChoice::Auto, false),
            Some(DecapMode::Bpf)
        );
        assert_eq!(resolve_decap(DecapChoice::Kernel, false), None);
        assert_eq!(resolve_decap(DecapChoice::Bpf, true), Some(DecapMode::Bpf));
    }

    #[test]
    fn vip_validation() {
        assert!(validate_vip("10.253.85.250".parse().unwrap()).is_ok());
        assert!(validate_vip("2001:db8::250".parse().unwrap()).is_ok());
        assert!(validate_vip("fd00:db8::250".parse().unwrap()).is_ok());
        for (bad, why) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("ff02::12", "multicast"),
            ("fe80::1", "link-local"),
            ("::ffff:10.253.85.250", "IPv4-mapped"),
        ] {
            let e = validate_vip(bad.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains(why), "{e}");
        }
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "224.0.0.18",
            "255.255.255.255",
            "169.254.1.1",
            "240.0.0.1",
        ] {
            let e = validate_vip(bad.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn arp_sysctls_cover_all_and_each_iface_once() {
        let s = arp_sysctls(&["lo".into(), "eth0".into(), "lo".into()]);
        let names: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            names,
            [
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.lo.arp_ignore=1",
                "net.ipv4.conf.lo.arp_announce=2",
                "net.ipv4.conf.eth0.arp_ignore=1",
                "net.ipv4.conf.eth0.arp_announce=2",
            ]
        );
    }

    #[test]
    fn rp_filter_loose_all_only_touches_tunnel() {
        let cur = BTreeMap::from([
            ("all".to_string(), 0),
            ("eth0".to_string(), 1),
            ("tunl0".to_string(), 1),
        ]);
        let s = rp_filter_sysctls(&cur, "tunl0");
        assert_eq!(
            s,
            vec![(SysctlKey::new("tunl0", "rp_filter"), "0".to_string())]
        );
    }

    #[test]
    fn rp_filter_strict_all_is_lowered_and_others_keep_their_effective_value() {
        let cur = BTreeMap::from([
            ("all".to_string(), 1),
            ("default".to_string(), 0),
            ("eth0".to_string(), 0),
            ("eth1".to_string(), 2),
            ("lo".to_string(), 1),
            ("tunl0".to_string(), 0),
        ]);
        let s = rp_filter_sysctls(&cur, "tunl0");
        assert_eq!(
            s,
            vec![
                (SysctlKey::new("tunl0", "rp_filter"), "0".to_string()),
                (SysctlKey::new("all", "rp_filter"), "0".to_string()),
                (SysctlKey::new("eth0", "rp_filter"), "1".to_string()),
            ]
        );
        // effective value of every other interface is unchanged: max(all', own') == max(all, own)
        let mut after = cur.clone();
        for (k, v) in &s {
            after.insert(k.iface.clone(), v.parse().unwrap());
        }
        for name in ["eth0", "eth1", "lo"] {
            assert_eq!(
                cur["all"].max(cur[name]),
                after["all"].max(after[name]),
                "{name}"
            );
        }
        assert_eq!(after["all"].max(after["tunl0"]), 0);
    }

    #[test]
    fn labels_count_like_the_seed() {
        assert_eq!(next_label("tunl0", &[]), "tunl0:1");
        assert_eq!(
            next_label("tunl0", &["tunl0:1".into(), "tunl0:3".into()]),
            "tunl0:2"
        );
    }

    #[test]
    fn dry_run_commands_look_like_ip_and_sysctl() {
        let vip: Ipv4Addr = "10.253.85.250".parse().unwrap();
        assert_eq!(
            Change::AddVip {
                vip: "2001:db8::250".parse().unwrap(),
                dev: "lo".into(),
                label: None,
            }
            .command(),
            "ip addr add 2001:db8::250/128 dev lo nodad"
        );
        assert!(Change::CreateTunnel {
            dev: TUNNEL6_DEV.into()
        }
        .command()
        .starts_with("modprobe ip6_tunnel    # creates ip6tnl0"));
        assert_eq!(
            Change::AddVip {
                vip: vip.into(),
                dev: "tunl0".into(),
                label: Some("tunl0:1".into())
            }
            .command(),
            "ip addr add 10.253.85.250/32 brd 10.253.85.250 label tunl0:1 dev tunl0"
        );
        assert_eq!(
            Change::AddRoute {
                vip,
                dev: "tunl0".into()
            }
            .command(),
            "ip route add 10.253.85.250/32 dev tunl0"
        );
        assert_eq!(
            Change::LinkFlags {
                dev: "tunl0".into(),
                up: true,
                arp_off: true
            }
            .command(),
            "ip link set tunl0 up arp off"
        );
        assert!(Change::Sysctl {
            key: SysctlKey::new("eth0.10", "arp_ignore"),
            from: "0".into(),
            to: "1".into()
        }
        .command()
        .starts_with("sysctl -w net/ipv4/conf/eth0.10/arp_ignore=1"));
    }

    #[test]
    fn problems_name_what_drifted() {
        let vip: IpAddr = "10.253.85.250".parse().unwrap();
        let key = SysctlKey::new("all", "arp_ignore");
        let applied = vec![
            Applied::Sysctl {
                key: key.clone(),
                previous: "0".into(),
                applied: "1".into(),
            },
            Applied::AttachedDecap {
                dev: "eth0".into(),
                ifindex: 2,
                priority: 1,
                handle: 1,
                prog_id: 7,
            },
        ];
        let mut seen = Observed {
            sysctls: BTreeMap::from([(key.clone(), Some("1".to_string()))]),
            addrs: vec![(vip, "lo".into())],
            decap_filters: vec![("eth0".into(), 7)],
            up_devs: vec!["lo".into(), "eth0".into()],
            decap_local: Some(vec!["10.253.26.1".parse().unwrap()]),
            host_local: vec!["10.253.26.1".parse().unwrap()],
        };
        assert!(problems(&applied, &[vip], DecapMode::Bpf, &seen).is_empty());
        seen.sysctls.insert(key, Some("0".into()));
        seen.decap_filters.clear();
        seen.addrs.clear();
        seen.host_local = vec!["10.253.26.9".parse().unwrap()];
        let p = problems(&applied, &[vip], DecapMode::Bpf, &seen);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].contains("VIP 10.253.85.250 is not on lo"));
        assert!(p[1].contains(
            "accepts tunnels for 10.253.26.1 but this host's addresses are now 10.253.26.9"
        ));
        assert!(p[2].contains("net.ipv4.conf.all.arp_ignore is 0, expected 1"));
        assert!(p[3].contains("decap program 7 is no longer attached to eth0"));
    }

    #[test]
    fn ipv6_vips_live_on_lo_in_bpf_mode_and_on_ip6tnl0_in_kernel_mode() {
        let v4: IpAddr = "10.253.85.250".parse().unwrap();
        let v6: IpAddr = "2001:db8::250".parse().unwrap();
        assert_eq!(DecapMode::Bpf.vip_dev(v6), "lo");
        assert_eq!(DecapMode::Kernel.vip_dev(v4), "tunl0");
        assert_eq!(DecapMode::Kernel.vip_dev(v6), "ip6tnl0");
        assert_eq!(tunnel_module(TUNNEL6_DEV), "ip6_tunnel");
        assert_eq!(tunnel_module(TUNNEL_DEV), "ipip");
        // Kernel mode with both families: each device is checked on its own.
        let seen = Observed {
            addrs: vec![(v4, "tunl0".into()), (v6, "tunl0".into())],
            up_devs: vec!["tunl0".into()],
            ..Default::default()
        };
        let p = problems(&[], &[v4, v6], DecapMode::Kernel, &seen);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("ip6tnl0 is missing or down"), "{p:?}");
        assert!(
            p[1].contains("VIP 2001:db8::250 is not on ip6tnl0"),
            "{p:?}"
        );
    }

    #[test]
    fn state_files_of_ipv4_only_versions_still_load() {
        // Ipv4Addr and IpAddr serialise alike, so old state files stay readable.
        let j = r#"{"kind":"added_vip","vip":"10.253.85.250","dev":"lo","label":null}"#;
        let a: Applied = serde_json::from_str(j).unwrap();
        assert_eq!(
            a,
            Applied::AddedVip {
                vip: "10.253.85.250".parse().unwrap(),
                dev: "lo".into(),
                label: None
            }
        );
        assert_eq!(serde_json::to_string(&a).unwrap(), j);
    }

    #[test]
    fn applied_round_trips_through_json() {
        let a = Applied::AttachedDecap {
            dev: "eth0".into(),
            ifindex: 2,
            priority: 49152,
            handle: 1,
            prog_id: 9,
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains("\"kind\":\"attached_decap\""), "{j}");
        assert_eq!(serde_json::from_str::<Applied>(&j).unwrap(), a);
    }
}
