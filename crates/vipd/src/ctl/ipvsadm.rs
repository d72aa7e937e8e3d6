//! `vipd status -Ln`, `-Ln --stats`, `-Ln --rate` and `-Lnc`: the daemon's
//! [`Status`] and connection rows in `ipvsadm`'s own layout, byte for byte, so
//! that scripts written against `ipvsadm -L` parse vipd's output unchanged.
//!
//! The layouts are those of ipvsadm 1.31 (the version Debian 12 ships), read
//! from its `ipvsadm.c` (`list_all`, `print_title`, `print_service_entry`,
//! `print_largenum`, `list_conn`, `print_conn`) and `libipvs.c`
//! (`ipvs_cmp_services`, `ipvs_cmp_dests`). Each function below quotes the
//! printf formats it reproduces.
//!
//! What vipd has that IPVS has not, and the reverse:
//! - the header line `IP Virtual Server version %d.%d.%d (size=%d)` keeps its
//!   shape: the version is 1.2.1, the IPVS version whose behaviour and output
//!   vipd reproduces (what current Linux kernels report, and what scripts
//!   compare with), and the size is the size of vipd's connection table
//!   where IPVS gives the buckets of its hash table (4096 by default, also
//!   printed when the data plane does not run). vipd names itself in
//!   `vipd status` and `vipd version`, not here;
//! - only the real servers in the data plane's table are listed, as ipvsadm
//!   lists IPVS's table: one that keepalived would have removed (down, not
//!   checked yet) is not there; one quiesced by `inhibit_on_failure` is, with
//!   weight 0; the sorry server is there while it is in use;
//! - a `virtual_server group` is listed as one service per member, as
//!   keepalived configures IPVS;
//! - OutPkts/OutBytes/OutPPS/OutBPS count NAT replies; in TUN and DR replies
//!   bypass the director and they are 0, as in IPVS;
//! - names are never resolved: `-n` is accepted and output is always numeric.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use crate::daemon::status::{ConnRow, Real, Service, Status, Traffic};

/// The IPVS version the header line names (see the module's documentation).
pub const IPVS_VERSION: &str = "1.2.1";

/// IPVS's default connection hash table size, printed when vipd's table size
/// is not known (the data plane does not run).
pub const DEFAULT_SIZE: u64 = 4096;

/// Which columns `-L` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `--stats`: Conns InPkts OutPkts InBytes OutBytes (wins over `rate`, as
    /// in ipvsadm).
    pub stats: bool,
    /// `--rate`: CPS InPPS OutPPS InBPS OutBPS.
    pub rate: bool,
    /// `--exact`: numbers in full instead of K/M/G/T.
    pub exact: bool,
    /// `--nosort`: services and real servers in configuration order instead of
    /// ipvsadm's (protocol, address, port).
    pub nosort: bool,
}

/// One IPVS service as ipvsadm sees it (a group's member is one).
struct Entry<'a> {
    protocol: &'a str,
    addr: SocketAddr,
    svc: &'a Service,
    traffic: Traffic,
    dests: Vec<Dest<'a>>,
}

/// One destination (real server) of an [`Entry`].
struct Dest<'a> {
    real: &'a Real,
    active: u64,
    inactive: u64,
    traffic: Traffic,
}

/// IPVS's protocol numbers order services (`ipvs_cmp_services`).
fn protocol_number(p: &str) -> u16 {
    match p {
        "TCP" => 6,
        "UDP" => 17,
        "SCTP" => 132,
        _ => 255,
    }
}

/// `ipvs_cmp_dests`: the address as a number, then the port.
fn addr_key(a: SocketAddr) -> (IpAddr, u16) {
    (a.ip(), a.port())
}

/// `ipvs_cmp_services`: the address family first (AF_INET before AF_INET6),
/// then the protocol number, the address, the port.
fn service_key(e: &Entry<'_>) -> (bool, u16, (IpAddr, u16)) {
    (
        e.addr.is_ipv6(),
        protocol_number(e.protocol),
        addr_key(e.addr),
    )
}

fn entries(st: &Status, nosort: bool) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for s in &st.services {
        let in_table = || s.reals.iter().filter(|r| r.in_table);
        if s.group.is_empty() {
            out.push(Entry {
                protocol: &s.protocol,
                addr: SocketAddr::new(s.vip, s.port),
                svc: s,
                traffic: s.traffic,
                dests: in_table()
                    .map(|r| Dest {
                        real: r,
                        active: r.active_conns,
                        inactive: r.inactive_conns,
                        traffic: r.traffic,
                    })
                    .collect(),
            });
            continue;
        }
        for (i, &addr) in s.group.iter().enumerate() {
            let member = s.members.iter().find(|m| m.addr == addr);
            // Without the members' own figures (a daemon older than this
            // client), the first member carries the group's sums.
            let first = i == 0 && s.members.is_empty();
            out.push(Entry {
                protocol: &s.protocol,
                addr,
                svc: s,
                traffic: match member {
                    Some(m) => m.traffic,
                    None if first => s.traffic,
                    None => Traffic::default(),
                },
                dests: in_table()
                    .map(|r| {
                        let mr = member.and_then(|m| m.reals.iter().find(|x| x.addr == r.addr));
                        match mr {
                            Some(mr) => Dest {
                                real: r,
                                active: mr.active_conns,
                                inactive: mr.inactive_conns,
                                traffic: mr.traffic,
                            },
                            None if first => Dest {
                                real: r,
                                active: r.active_conns,
                                inactive: r.inactive_conns,
                                traffic: r.traffic,
                            },
                            None => Dest {
                                real: r,
                                active: 0,
                                inactive: 0,
                                traffic: Traffic::default(),
                            },
                        }
                    })
                    .collect(),
            });
        }
    }
    if !nosort {
        // Stable sorts: equal keys keep configuration order.
        out.sort_by_key(service_key);
        for e in &mut out {
            e.dests.sort_by_key(|d| addr_key(d.real.addr));
        }
    }
    out
}

/// `print_largenum`: a counter in a 9-column field, with a K/M/G/T suffix
/// past 100 million unless `--exact`:
///
/// ```c
/// if (format & FMT_EXACT) {
///         len = snprintf(mytmp, 32, "%llu", i);
///         printf("%*llu", len <= 8 ? 9 : len + 1, i);
///         return;
/// }
/// if (i < 100000000)                    /* less than 100 million */
///         printf("%9llu", i);
/// else if (i < 1000000000)              /* less than 1 billion */
///         printf("%8lluK", i / 1000);
/// else if (i < 100000000000ULL)         /* less than 100 billion */
///         printf("%8lluM", i / 1000000);
/// else if (i < 100000000000000ULL)      /* less than 100 trillion */
///         printf("%8lluG", i / 1000000000ULL);
/// else
///         printf("%8lluT", i / 1000000000000ULL);
/// ```
pub fn largenum(o: &mut String, i: u64, exact: bool) {
    let _ = if exact {
        let width = i.to_string().len().max(8) + 1;
        write!(o, "{i:>width$}")
    } else if i < 100_000_000 {
        write!(o, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(o, "{:>8}K", i / 1_000)
    } else if i < 100_000_000_000 {
        write!(o, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(o, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(o, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// A rate as the kernel's estimator hands it to ipvsadm: a whole number.
fn whole(r: f64) -> u64 {
    // `as` saturates: NaN and negatives give 0.
    r.round() as u64
}

/// `addrport_to_anyname` with `-n`: `"%s%s%s:%u"`, brackets around IPv6.
/// Rust's `SocketAddr` prints the same (`1.2.3.4:80`, `[::1]:80`).
fn addrport(a: SocketAddr) -> String {
    SocketAddr::new(a.ip(), a.port()).to_string()
}

/// ipvsadm cuts IPv4 names at a column width (`svc_name[33] = '\0'`,
/// `dname[28] = '\0'`); IPv6 ones are never cut.
fn cut(mut s: String, ipv6: bool, at: usize) -> String {
    if !ipv6 {
        s.truncate(at);
    }
    s
}

/// `print_title`:
///
/// ```c
/// if (format & FMT_STATS)
///         printf("%-33s %8s %8s %8s %8s %8s\n"
///                "  -> RemoteAddress:Port\n",
///                "Prot LocalAddress:Port",
///                "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes");
/// else if (format & FMT_RATE)
///         printf("%-33s %8s %8s %8s %8s %8s\n"
///                "  -> RemoteAddress:Port\n",
///                "Prot LocalAddress:Port",
///                "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS");
/// ...
/// else if (!(format & FMT_RULE))
///         printf("Prot LocalAddress:Port Scheduler Flags\n"
///                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
/// ```
fn title(o: &mut String, f: ListFormat) {
    let cols = if f.stats {
        Some(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"])
    } else if f.rate {
        Some(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"])
    } else {
        None
    };
    match cols {
        Some([a, b, c, d, e]) => {
            let _ = writeln!(
                o,
                "{:<33} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}\n  -> RemoteAddress:Port",
                "Prot LocalAddress:Port"
            );
        }
        None => o.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
        ),
    }
}

/// ipvsadm's word for a forwarding method (`fwd_name`).
pub fn forward_name(kind: &str) -> &str {
    match kind {
        "TUN" => "Tunnel",
        "DR" => "Route",
        "NAT" => "Masq",
        other => other,
    }
}

/// `print_service_entry` without `FMT_RULE`.
///
/// The service line: `snprintf(svc_name, sizeof(svc_name), "%-4s %s", stype,
/// vname)` (cut at 33 for IPv4), then
/// - `--stats`: `printf("%-33s", svc_name)` and `print_largenum` of conns,
///   inpkts, outpkts, inbytes, outbytes;
/// - `--rate`: `printf("%-33s", svc_name)` and `print_largenum` of cps, inpps,
///   outpps, inbps, outbps;
/// - else `printf("%s %s", svc_name, se->sched_name)`, then
///   `printf(" persistent %u", se->timeout)` for a persistent service and
///   `printf(" ops")` for one-packet scheduling.
///
/// Each real server:
/// - `--stats`: `printf("  -> %-28s", dname)` and five `print_largenum`;
/// - `--rate`: `printf("  -> %-28s %8llu %8llu %8llu", dname, cps, inpps,
///   outpps)` and `print_largenum` of inbps, outbps;
/// - else `printf("  -> %-28s %-7s %-6d %-10u %-10u\n", dname,
///   fwd_name(e->conn_flags), e->weight, e->activeconns, e->inactconns)`.
fn service(o: &mut String, e: &Entry<'_>, f: ListFormat) {
    let v6 = e.addr.is_ipv6();
    let name = cut(format!("{:<4} {}", e.protocol, addrport(e.addr)), v6, 33);
    let t = &e.traffic;
    if f.stats {
        let _ = write!(o, "{name:<33}");
        for n in [t.conns, t.packets, t.out_packets, t.bytes, t.out_bytes] {
            largenum(o, n, f.exact);
        }
    } else if f.rate {
        let _ = write!(o, "{name:<33}");
        for r in [t.cps, t.pps, t.out_pps, t.bps, t.out_bps] {
            largenum(o, whole(r), f.exact);
        }
    } else {
        let _ = write!(o, "{name} {}", e.svc.lb_algo);
        if let Some(p) = e.svc.persistence_timeout {
            let _ = write!(o, " persistent {p}");
        }
        if e.svc.ops {
            o.push_str(" ops");
        }
    }
    o.push('\n');
    for d in &e.dests {
        let dname = cut(addrport(d.real.addr), d.real.addr.is_ipv6(), 28);
        let t = &d.traffic;
        if f.stats {
            let _ = write!(o, "  -> {dname:<28}");
            for n in [t.conns, t.packets, t.out_packets, t.bytes, t.out_bytes] {
                largenum(o, n, f.exact);
            }
            o.push('\n');
        } else if f.rate {
            let _ = write!(
                o,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                whole(t.cps),
                whole(t.pps),
                whole(t.out_pps)
            );
            largenum(o, whole(t.bps), f.exact);
            largenum(o, whole(t.out_bps), f.exact);
            o.push('\n');
        } else {
            let _ = writeln!(
                o,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                forward_name(&d.real.forward),
                d.real.weight,
                d.active,
                d.inactive
            );
        }
    }
}

/// `ipvsadm -Ln` (with `--stats`, `--rate`, `--exact`, `--nosort` as `f`
/// says): `list_all`, which prints
/// `printf("IP Virtual Server version %d.%d.%d (size=%d)\n", ...)`, the title
/// and every service.
pub fn list(st: &Status, f: ListFormat) -> String {
    let size = st.tables.as_ref().map_or(DEFAULT_SIZE, |t| t.conns_max);
    let mut o = format!("IP Virtual Server version {IPVS_VERSION} (size={size})\n");
    title(&mut o, f);
    for e in entries(st, f.nosort) {
        service(&mut o, &e, f);
    }
    o
}

/// `ipvsadm -Lnc`: `list_conn` and `print_conn`:
///
/// ```c
/// printf("IPVS connection entries\n");
/// printf("pro expire %-11s %-18s %-18s %s\n",
///        "state", "source", "virtual", "destination");
/// ...
/// sprintf(expire_str, "%02d:%02d", minutes, seconds);
/// printf("%-3s %-6s %-11s %-18s %-18s %s\n",
///        protocol, expire_str, state, cname, vname, dname);
/// ```
pub fn connections(rows: &[ConnRow]) -> String {
    let mut o = String::from("IPVS connection entries\n");
    let (state, source, virt) = ("state", "source", "virtual");
    let _ = writeln!(
        o,
        "pro expire {state:<11} {source:<18} {virt:<18} destination"
    );
    for r in rows {
        let expire = format!("{:02}:{:02}", r.expire_secs / 60, r.expire_secs % 60);
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            r.proto,
            expire,
            r.state,
            addrport(r.source),
            addrport(r.virtual_addr),
            addrport(r.destination)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    //! Golden texts: the expected output was printed by a throwaway C
    //! program that calls printf with ipvsadm 1.31's format strings (quoted
    //! on the functions above) for this same fixture, in ipvsadm's order. A
    //! `|` marks each line's end, so that trailing blanks (`%-10u`) show.

    use super::*;
    use crate::daemon::status::{GroupMember, MemberReal, Tables};

    fn golden(s: &str) -> String {
        s.strip_prefix('\n').unwrap().replace("|\n", "\n")
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn traffic(
        conns: u64,
        packets: u64,
        out_packets: u64,
        bytes: u64,
        out_bytes: u64,
        rates: [f64; 5],
    ) -> Traffic {
        Traffic {
            conns,
            packets,
            bytes,
            out_packets,
            out_bytes,
            cps: rates[0],
            pps: rates[1],
            out_pps: rates[2],
            bps: rates[3],
            out_bps: rates[4],
        }
    }

    fn real(addr: &str, fwd: &str, weight: Option<u32>, act: u64, inact: u64, t: Traffic) -> Real {
        Real {
            addr: sa(addr),
            forward: fwd.into(),
            in_table: weight.is_some(),
            weight: weight.unwrap_or(0),
            configured_weight: weight.unwrap_or(1),
            sorry: false,
            alive: Some(weight.is_some()),
            active_conns: act,
            inactive_conns: inact,
            traffic: t,
            checkers: Vec::new(),
            last_failure: None,
        }
    }

    fn service(
        proto: &str,
        addr: &str,
        algo: &str,
        kind: &str,
        t: Traffic,
        reals: Vec<Real>,
    ) -> Service {
        let a = sa(addr);
        Service {
            name: format!("{addr}/{proto}"),
            vip: a.ip(),
            port: a.port(),
            group: Vec::new(),
            members: Vec::new(),
            protocol: proto.into(),
            lb_algo: algo.into(),
            lb_kind: kind.into(),
            persistence_timeout: None,
            ops: false,
            quorum_up: Some(true),
            checks_suspended: false,
            sorry_active: false,
            traffic: t,
            reals,
        }
    }

    /// Six IPVS services in an order ipvsadm would not print them: a TUN
    /// service with a real server out of the table (not listed) and large
    /// counters, a persistent one-packet NAT UDP service, a DR service, a
    /// group of two members, and an IPv6 persistent service.
    fn fixture() -> Status {
        let zero = Traffic::default();
        let big = traffic(
            123_456_789_012_345_678,
            1,
            0,
            100_000_000_000_000,
            0,
            [0.0; 5],
        );
        let nat = traffic(7, 70, 60, 7000, 9000, [0.0, 3.0, 2.0, 300.0, 250.0]);
        let m1 = traffic(4, 40, 0, 4000, 0, [1.0, 10.0, 0.0, 1000.0, 0.0]);
        let m2 = traffic(6, 60, 0, 6000, 0, [0.0; 5]);
        let mut udp = service(
            "UDP",
            "10.253.85.250:53",
            "wlc",
            "NAT",
            nat,
            vec![real("10.253.26.1:53", "NAT", Some(2), 0, 7, nat)],
        );
        udp.persistence_timeout = Some(300);
        udp.ops = true;
        let mut group = service(
            "TCP",
            "10.253.85.252:8080",
            "wrr",
            "TUN",
            Traffic::sum([m1, m2]),
            vec![real(
                "10.253.26.5:8080",
                "TUN",
                Some(1),
                1,
                3,
                Traffic::sum([m1, m2]),
            )],
        );
        group.group = vec![sa("10.253.85.252:8080"), sa("10.253.85.251:8080")];
        group.members = vec![
            GroupMember {
                addr: sa("10.253.85.251:8080"),
                traffic: m1,
                reals: vec![MemberReal {
                    addr: sa("10.253.26.5:8080"),
                    active_conns: 1,
                    inactive_conns: 2,
                    traffic: m1,
                }],
            },
            GroupMember {
                addr: sa("10.253.85.252:8080"),
                traffic: m2,
                reals: vec![MemberReal {
                    addr: sa("10.253.26.5:8080"),
                    active_conns: 0,
                    inactive_conns: 1,
                    traffic: m2,
                }],
            },
        ];
        let mut v6 = service(
            "TCP",
            "[2001:db8::1]:80",
            "sh",
            "DR",
            big,
            vec![real("[2001:db8:1::10]:80", "DR", Some(1), 0, 0, big)],
        );
        v6.persistence_timeout = Some(60);
        Status {
            services: vec![
                v6,
                service(
                    "TCP",
                    "10.253.85.250:80",
                    "rr",
                    "TUN",
                    traffic(
                        123_456_789,
                        99_999_999,
                        0,
                        12_345_678_901_234,
                        0,
                        [12.4, 1234.6, 0.0, 123_456_789.0, 0.0],
                    ),
                    vec![
                        real(
                            "10.253.26.3:80",
                            "TUN",
                            Some(0),
                            0,
                            0,
                            traffic(5, 50, 0, 5000, 0, [0.0; 5]),
                        ),
                        real(
                            "10.253.26.1:80",
                            "TUN",
                            Some(1),
                            3,
                            10,
                            traffic(100_000_000, 123, 0, 4567, 0, [1.5, 2.5, 0.0, 999.0, 0.0]),
                        ),
                        real("10.253.26.2:80", "TUN", None, 0, 0, zero),
                    ],
                ),
                udp,
                group,
                service(
                    "TCP",
                    "10.253.85.249:443",
                    "lc",
                    "DR",
                    zero,
                    vec![real("10.253.26.4:443", "DR", Some(5), 0, 0, zero)],
                ),
            ],
            tables: Some(Tables {
                conns_max: 1_048_576,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn list_numeric() {
        let want = golden(LN);
        assert_eq!(list(&fixture(), ListFormat::default()), want);
    }

    #[test]
    fn list_stats() {
        let f = ListFormat {
            stats: true,
            ..Default::default()
        };
        assert_eq!(list(&fixture(), f), golden(LN_STATS));
        // --stats wins over --rate, as in ipvsadm's print_title.
        let both = ListFormat { rate: true, ..f };
        assert_eq!(list(&fixture(), both), golden(LN_STATS));
    }

    #[test]
    fn list_rate() {
        let f = ListFormat {
            rate: true,
            ..Default::default()
        };
        assert_eq!(list(&fixture(), f), golden(LN_RATE));
    }

    #[test]
    fn list_stats_exact() {
        let f = ListFormat {
            stats: true,
            exact: true,
            ..Default::default()
        };
        assert_eq!(list(&fixture(), f), golden(LN_STATS_EXACT));
    }

    #[test]
    fn list_nosort_keeps_configuration_order() {
        let f = ListFormat {
            nosort: true,
            ..Default::default()
        };
        let text = list(&fixture(), f);
        let services: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("TCP") || l.starts_with("UDP"))
            .collect();
        assert_eq!(
            services,
            [
                "TCP  [2001:db8::1]:80 sh persistent 60",
                "TCP  10.253.85.250:80 rr",
                "UDP  10.253.85.250:53 wlc persistent 300 ops",
                "TCP  10.253.85.252:8080 wrr",
                "TCP  10.253.85.251:8080 wrr",
                "TCP  10.253.85.249:443 lc",
            ]
        );
        assert!(text.contains("  -> 10.253.26.3:80               Tunnel  0      0          0         \n  -> 10.253.26.1:80 "));
    }

    #[test]
    fn list_without_data_plane() {
        let st = Status {
            services: vec![service(
                "TCP",
                "10.0.0.1:80",
                "rr",
                "TUN",
                Traffic::default(),
                vec![real("10.0.1.1:80", "TUN", None, 0, 0, Traffic::default())],
            )],
            ..Default::default()
        };
        assert_eq!(
            list(&st, ListFormat::default()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.0.1:80 rr\n"
        );
    }

    #[test]
    fn group_without_member_figures() {
        // A daemon that does not send members: the first member carries the sums.
        let mut st = fixture();
        st.services.retain(|s| !s.group.is_empty());
        st.services[0].members.clear();
        let f = ListFormat {
            stats: true,
            ..Default::default()
        };
        let text = list(&st, f);
        assert!(
            text.contains("TCP  10.253.85.251:8080                  0"),
            "{text}"
        );
        assert!(
            text.contains("TCP  10.253.85.252:8080                 10"),
            "{text}"
        );
    }

    #[test]
    fn largenum_edges() {
        // (value, print_largenum, print_largenum with FMT_EXACT), from printf.
        let cases: [(u64, &str, &str); 10] = [
            (0, "        0", "        0"),
            (99_999_999, " 99999999", " 99999999"),
            (100_000_000, "  100000K", " 100000000"),
            (999_999_999, "  999999K", " 999999999"),
            (1_000_000_000, "    1000M", " 1000000000"),
            (99_999_999_999, "   99999M", " 99999999999"),
            (100_000_000_000, "     100G", " 100000000000"),
            (99_999_999_999_999, "   99999G", " 99999999999999"),
            (100_000_000_000_000, "     100T", " 100000000000000"),
            (u64::MAX, "18446744T", " 18446744073709551615"),
        ];
        for (n, human, exact) in cases {
            let mut o = String::new();
            largenum(&mut o, n, false);
            assert_eq!(o, human, "{n}");
            let mut o = String::new();
            largenum(&mut o, n, true);
            assert_eq!(o, exact, "{n}");
        }
    }

    #[test]
    fn conns() {
        let row = |proto: &str, exp: u64, state: &str, s: &str, v: &str, d: &str| ConnRow {
            proto: proto.into(),
            expire_secs: exp,
            state: state.into(),
            source: sa(s),
            virtual_addr: sa(v),
            destination: sa(d),
            table: "established".into(),
            from_peer: false,
        };
        let rows = [
            row(
                "TCP",
                898,
                "ESTABLISHED",
                "203.0.113.2:40112",
                "10.253.85.250:80",
                "10.253.26.1:80",
            ),
            row(
                "TCP",
                59,
                "SYN_RECV",
                "198.18.4.7:1337",
                "10.253.85.250:80",
                "10.253.26.2:80",
            ),
            row(
                "UDP",
                6000,
                "UDP",
                "203.0.113.200:65535",
                "10.253.85.250:53",
                "10.253.26.1:53",
            ),
            row(
                "TCP",
                5,
                "FIN_WAIT",
                "[2001:db8:ffff::2]:50000",
                "[2001:db8::1]:80",
                "[2001:db8:1::10]:80",
            ),
        ];
        assert_eq!(connections(&rows), golden(LNC));
        assert_eq!(
            connections(&[]),
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        );
    }

    const LN: &str = r#"
IP Virtual Server version 1.2.1 (size=1048576)|
Prot LocalAddress:Port Scheduler Flags|
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn|
TCP  10.253.85.249:443 lc|
  -> 10.253.26.4:443              Route   5      0          0         |
TCP  10.253.85.250:80 rr|
  -> 10.253.26.1:80               Tunnel  1      3          10        |
  -> 10.253.26.3:80               Tunnel  0      0          0         |
TCP  10.253.85.251:8080 wrr|
  -> 10.253.26.5:8080             Tunnel  1      1          2         |
TCP  10.253.85.252:8080 wrr|
  -> 10.253.26.5:8080             Tunnel  1      0          1         |
UDP  10.253.85.250:53 wlc persistent 300 ops|
  -> 10.253.26.1:53               Masq    2      0          7         |
TCP  [2001:db8::1]:80 sh persistent 60|
  -> [2001:db8:1::10]:80          Route   1      0          0         |
"#;

    const LN_STATS: &str = r#"
IP Virtual Server version 1.2.1 (size=1048576)|
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes|
  -> RemoteAddress:Port|
TCP  10.253.85.249:443                   0        0        0        0        0|
  -> 10.253.26.4:443                     0        0        0        0        0|
TCP  10.253.85.250:80              123456K 99999999        0   12345G        0|
  -> 10.253.26.1:80                100000K      123        0     4567        0|
  -> 10.253.26.3:80                      5       50        0     5000        0|
TCP  10.253.85.251:8080                  4       40        0     4000        0|
  -> 10.253.26.5:8080                    4       40        0     4000        0|
TCP  10.253.85.252:8080                  6       60        0     6000        0|
  -> 10.253.26.5:8080                    6       60        0     6000        0|
UDP  10.253.85.250:53                    7       70       60     7000     9000|
  -> 10.253.26.1:53                      7       70       60     7000     9000|
TCP  [2001:db8::1]:80              123456T        1        0     100T        0|
  -> [2001:db8:1::10]:80           123456T        1        0     100T        0|
"#;

    const LN_RATE: &str = r#"
IP Virtual Server version 1.2.1 (size=1048576)|
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS|
  -> RemoteAddress:Port|
TCP  10.253.85.249:443                   0        0        0        0        0|
  -> 10.253.26.4:443                     0        0        0        0        0|
TCP  10.253.85.250:80                   12     1235        0  123456K        0|
  -> 10.253.26.1:80                      2        3        0      999        0|
  -> 10.253.26.3:80                      0        0        0        0        0|
TCP  10.253.85.251:8080                  1       10        0     1000        0|
  -> 10.253.26.5:8080                    1       10        0     1000        0|
TCP  10.253.85.252:8080                  0        0        0        0        0|
  -> 10.253.26.5:8080                    0        0        0        0        0|
UDP  10.253.85.250:53                    0        3        2      300      250|
  -> 10.253.26.1:53                      0        3        2      300      250|
TCP  [2001:db8::1]:80                    0        0        0        0        0|
  -> [2001:db8:1::10]:80                 0        0        0        0        0|
"#;

    const LN_STATS_EXACT: &str = r#"
IP Virtual Server version 1.2.1 (size=1048576)|
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes|
  -> RemoteAddress:Port|
TCP  10.253.85.249:443                   0        0        0        0        0|
  -> 10.253.26.4:443                     0        0        0        0        0|
TCP  10.253.85.250:80             123456789 99999999        0 12345678901234        0|
  -> 10.253.26.1:80               100000000      123        0     4567        0|
  -> 10.253.26.3:80                      5       50        0     5000        0|
TCP  10.253.85.251:8080                  4       40        0     4000        0|
  -> 10.253.26.5:8080                    4       40        0     4000        0|
TCP  10.253.85.252:8080                  6       60        0     6000        0|
  -> 10.253.26.5:8080                    6       60        0     6000        0|
UDP  10.253.85.250:53                    7       70       60     7000     9000|
  -> 10.253.26.1:53                      7       70       60     7000     9000|
TCP  [2001:db8::1]:80             123456789012345678        1        0 100000000000000        0|
  -> [2001:db8:1::10]:80          123456789012345678        1        0 100000000000000        0|
"#;

    const LNC: &str = r#"
IPVS connection entries|
pro expire state       source             virtual            destination|
TCP 14:58  ESTABLISHED 203.0.113.2:40112  10.253.85.250:80   10.253.26.1:80|
TCP 00:59  SYN_RECV    198.18.4.7:1337    10.253.85.250:80   10.253.26.2:80|
UDP 100:00 UDP         203.0.113.200:65535 10.253.85.250:53   10.253.26.1:53|
TCP 00:05  FIN_WAIT    [2001:db8:ffff::2]:50000 [2001:db8::1]:80   [2001:db8:1::10]:80|
"#;
}
