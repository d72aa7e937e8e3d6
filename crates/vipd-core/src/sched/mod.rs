//! Schedulers: from (real servers, weights) to the lookup tables the XDP program reads.
//!
//! The control plane computes every decision it can ahead of time, so the program
//! only indexes a table:
//! - `rr`, `wrr`: a cycle of reals ([`Table::Cycle`]); the program steps a shared
//!   cursor through it, one step per new connection (IPVS's order, exact weights).
//! - `sh`, `dh`, `mh`: a hash table ([`Table::Hash`]) indexed by a hash of the
//!   client address (`sh`, `mh`; with its port under `sh-port` / `mh-port`) or
//!   the destination address (`dh`) modulo its length (`mh`: Maglev with 65537
//!   slots). As in IPVS, `sh` and `mh` keep a quiesced or overloaded real in
//!   their table, so no other client moves; its clients get no real server, or
//!   another one along their rehashes with `sh-fallback` / `mh-fallback`
//!   ([`SchedFlags`]).
//! - `lc`, `wlc`, `sed`, `nq`, `ovf`: the list of live reals
//!   ([`Table::LeastConn`]); these depend on connection counts that change with
//!   every packet, so the program scans the list and applies
//!   [`least_conn_pick`]'s rule (mirrored in C).
//!
//! IPVS's `lblc`, `lblcr` and `twos` are refused by name with a message saying
//! what to use instead: vipd never swaps a scheduler silently.
//!
//! Tables hold indices into the slice of reals given to [`build`]; the plan layer
//! maps them to the data plane's real-server ids.

pub mod hash;
pub mod maglev;
pub mod wrr;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub use maglev::{maglev_table, MAGLEV_SIZE};

/// Largest table the data plane holds per service (one Maglev table).
pub const RING_SIZE: usize = MAGLEV_SIZE;

/// Buckets of the `sh`/`dh` table, as IPVS's `IP_VS_SH_TAB_SIZE` (grown when a
/// service has more reals than buckets).
pub const SH_BUCKETS: usize = 256;

/// Longest real list the program scans for `lc`, `wlc`, `sed`, `nq` (one
/// bounded loop in XDP). Must equal `VIPD_LC_MAX` in `bpf/vipd.h`.
pub const LC_MAX: usize = 64;

/// Errors of table building.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    /// The scheduler name is IPVS's but vipd does not implement it.
    #[error("lb_algo {name}: scheduler not supported by vipd's data plane; {hint}")]
    Unsupported {
        /// The name as written.
        name: String,
        /// What to use instead.
        hint: &'static str,
    },
    /// The name is no scheduler at all.
    #[error("lb_algo {0}: unknown scheduler; use one of rr, wrr, sh, dh, mh, lc, wlc, sed, nq")]
    Unknown(String),
    /// A computed table does not fit the data plane's per-service table.
    #[error("scheduling table of {len} entries exceeds the data plane's {RING_SIZE}")]
    TableTooLarge {
        /// Entries needed.
        len: usize,
    },
    /// A least-connection service has more reals than the program scans.
    #[error(
        "{sched} with {n} live real servers: the data plane scans at most {LC_MAX}; \
         use wrr or mh for larger pools"
    )]
    TooManyReals {
        /// Scheduler name.
        sched: Scheduler,
        /// Live reals configured.
        n: usize,
    },
}

/// A scheduler vipd implements (keepalived's `lb_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scheduler {
    /// Round robin.
    Rr = 0,
    /// Weighted round robin.
    Wrr = 1,
    /// Source hashing (client address).
    Sh = 2,
    /// Destination hashing (destination address).
    Dh = 3,
    /// Maglev hashing of the connection.
    Mh = 4,
    /// Least connections.
    Lc = 5,
    /// Weighted least connections.
    Wlc = 6,
    /// Shortest expected delay.
    Sed = 7,
    /// Never queue.
    Nq = 8,
    /// Weighted failover: every new connection to the live real server with
    /// the highest weight (the first of them on a tie). The program runs it
    /// as rr over a one-entry cycle.
    Fo = 9,
    /// Weighted overflow: every new connection to the live real server with
    /// the highest weight whose active connections do not exceed its weight.
    Ovf = 10,
}

/// IPVS's scheduler flags, for `sh` and `mh` (keepalived's `sh-port`,
/// `sh-fallback`, `mh-port`, `mh-fallback`, `flag-1`, `flag-2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedFlags {
    /// Hash the client's port with its address (`*-port`, `flag-2`).
    pub port: bool,
    /// A client whose real server is unavailable gets another one
    /// (`*-fallback`, `flag-1`); without it, none.
    pub fallback: bool,
}

impl Scheduler {
    /// keepalived's / ipvsadm's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rr => "rr",
            Self::Wrr => "wrr",
            Self::Sh => "sh",
            Self::Dh => "dh",
            Self::Mh => "mh",
            Self::Lc => "lc",
            Self::Wlc => "wlc",
            Self::Sed => "sed",
            Self::Nq => "nq",
            Self::Fo => "fo",
            Self::Ovf => "ovf",
        }
    }

    /// The number the XDP program dispatches on (`enum vipd_sched`): `fo`'s
    /// table is a cycle, walked as `rr`'s.
    pub fn datapath(self) -> u8 {
        match self {
            Self::Fo => Self::Rr as u8,
            s => s as u8,
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = SchedError;
    fn from_str(s: &str) -> Result<Self, SchedError> {
        let unsupported = |hint| {
            Err(SchedError::Unsupported {
                name: s.to_string(),
                hint,
            })
        };
        Ok(match s.to_ascii_lowercase().as_str() {
            "rr" => Self::Rr,
            "wrr" => Self::Wrr,
            "sh" => Self::Sh,
            "dh" => Self::Dh,
            "mh" => Self::Mh,
            "lc" => Self::Lc,
            "wlc" => Self::Wlc,
            "sed" => Self::Sed,
            "nq" => Self::Nq,
            "lblc" | "lblcr" => {
                return unsupported("use dh (destination hashing) or mh for cache affinity")
            }
            "fo" => Self::Fo,
            "ovf" => Self::Ovf,
            "twos" => return unsupported("use wlc or sed"),
            _ => return Err(SchedError::Unknown(s.to_string())),
        })
    }
}

/// One real server as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealSpec {
    /// Real server address.
    pub rip: IpAddr,
    /// Real server port (for identity; TUN/DR do not rewrite ports).
    pub port: u16,
    /// Weight; 0 quiesces the real (no new connections).
    pub weight: u32,
}

impl RealSpec {
    /// Stable identity bytes, used to derive Maglev permutations.
    fn id(&self) -> Vec<u8> {
        format!("{}:{}", self.rip, self.port).into_bytes()
    }
}

/// A scheduling table, indices into the reals given to [`build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// Step a cursor through it, one step per new connection.
    Cycle(Vec<u32>),
    /// Index with `hash % len` (which hash depends on the scheduler).
    Hash(Vec<u32>),
    /// Live reals to scan with [`least_conn_pick`].
    LeastConn(Vec<u32>),
}

impl Table {
    /// The entries, whatever the kind.
    pub fn entries(&self) -> &[u32] {
        match self {
            Self::Cycle(v) | Self::Hash(v) | Self::LeastConn(v) => v,
        }
    }
}

/// Builds `sched`'s table over `reals`. Reals with weight 0 never appear (quiesced).
/// An empty table means no real can take a new connection.
pub fn build(sched: Scheduler, reals: &[RealSpec]) -> Result<Table, SchedError> {
    let weights: Vec<u32> = reals.iter().map(|r| r.weight).collect();
    Ok(match sched {
        Scheduler::Rr => Table::Cycle(wrr::rr_cycle(&weights)),
        // IPVS's ip_vs_fo_schedule: the first live real with the highest weight.
        Scheduler::Fo => Table::Cycle(
            weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0)
                .fold(None::<(usize, u32)>, |best, (i, &w)| match best {
                    Some((_, bw)) if bw >= w => best,
                    _ => Some((i, w)),
                })
                .map(|(i, _)| vec![i as u32])
                .unwrap_or_default(),
        ),
        Scheduler::Wrr => Table::Cycle(wrr::wrr_cycle(&weights)?),
        Scheduler::Dh => Table::Hash(sh_table(&weights)),
        // A quiesced real keeps one share (IPVS's sh_reassign gives a weight-0
        // real one bucket; its mh keeps the last weight, vipd one share): the
        // program finds it unavailable and falls back, or not.
        Scheduler::Sh => Table::Hash(sh_table(&hash_weights(&weights))),
        Scheduler::Mh => {
            let ids: Vec<Vec<u8>> = reals.iter().map(RealSpec::id).collect();
            Table::Hash(maglev_table(&ids, &hash_weights(&weights), MAGLEV_SIZE))
        }
        Scheduler::Lc | Scheduler::Wlc | Scheduler::Sed | Scheduler::Nq | Scheduler::Ovf => {
            let live = wrr::rr_cycle(&weights);
            if live.len() > LC_MAX {
                return Err(SchedError::TooManyReals {
                    sched,
                    n: live.len(),
                });
            }
            Table::LeastConn(live)
        }
    })
}

/// Weights `sh` and `mh` build their tables with: a quiesced real keeps one share.
fn hash_weights(weights: &[u32]) -> Vec<u32> {
    weights.iter().map(|&w| w.max(1)).collect()
}

/// IPVS's `sh`/`dh` bucket table (`ip_vs_sh_reassign`): buckets are dealt to the
/// live reals in order, each real taking `weight` consecutive buckets per turn.
fn sh_table(weights: &[u32]) -> Vec<u32> {
    let live: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
    if live.is_empty() {
        return Vec::new();
    }
    let size = SH_BUCKETS.max(live.len().next_power_of_two() * 4);
    let mut t = Vec::with_capacity(size);
    let (mut k, mut taken) = (0usize, 0u32);
    while t.len() < size {
        let i = live[k];
        t.push(i as u32);
        taken += 1;
        if taken >= weights[i] {
            k = (k + 1) % live.len();
            taken = 0;
        }
    }
    t
}

/// Connection counts of one real as the program keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnCounts {
    /// Weight of the real in this service (> 0 for reals in the list).
    pub weight: u32,
    /// Established connections.
    pub active: u32,
    /// Other connections (SYN, FIN, UDP...).
    pub inactive: u32,
}

/// The least-connection family's choice, as IPVS defines it (and as the program
/// implements it in C): returns the position in `reals` of the chosen real.
/// Ties go to the first in list order.
///
/// - `lc`: least `active * 256 + inactive`.
/// - `wlc`: least `(active * 256 + inactive) / weight`.
/// - `sed`: least `(active + 1) / weight`.
/// - `nq`: the first real with no active connection, else as `sed`.
/// - `ovf`: the heaviest real whose active connections do not exceed its weight.
pub fn least_conn_pick(sched: Scheduler, reals: &[ConnCounts]) -> Option<usize> {
    if sched == Scheduler::Ovf {
        return reals
            .iter()
            .enumerate()
            .filter(|(_, c)| c.weight > 0 && c.active <= c.weight)
            .fold(None::<(usize, u32)>, |best, (i, c)| match best {
                Some((_, bw)) if bw >= c.weight => best,
                _ => Some((i, c.weight)),
            })
            .map(|b| b.0);
    }
    let overhead = |c: &ConnCounts| -> u64 {
        match sched {
            Scheduler::Sed | Scheduler::Nq => u64::from(c.active) + 1,
            _ => u64::from(c.active) * 256 + u64::from(c.inactive),
        }
    };
    if sched == Scheduler::Nq {
        if let Some(i) = reals.iter().position(|c| c.weight > 0 && c.active == 0) {
            return Some(i);
        }
    }
    let mut best: Option<(usize, u64, u64)> = None; // (pos, overhead, weight)
    for (i, c) in reals.iter().enumerate() {
        if c.weight == 0 {
            continue;
        }
        let (oh, w) = match sched {
            Scheduler::Lc => (overhead(c), 1),
            _ => (overhead(c), u64::from(c.weight)),
        };
        // oh/w < boh/bw  <=>  oh*bw < boh*w (no division, as IPVS does).
        match best {
            Some((_, boh, bw)) if oh * bw >= boh * w => {}
            _ => best = Some((i, oh, w)),
        }
    }
    best.map(|b| b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reals(ws: &[u32]) -> Vec<RealSpec> {
        ws.iter()
            .enumerate()
            .map(|(i, &w)| RealSpec {
                rip: format!("10.253.26.{}", i + 1).parse().unwrap(),
                port: 80,
                weight: w,
            })
            .collect()
    }

    #[test]
    fn names_round_trip_and_unsupported_are_refused() {
        for s in [
            "rr", "wrr", "sh", "dh", "mh", "lc", "wlc", "sed", "nq", "fo", "ovf",
        ] {
            assert_eq!(s.parse::<Scheduler>().unwrap().name(), s);
        }
        for s in ["lblc", "lblcr", "twos"] {
            let e = s.parse::<Scheduler>().unwrap_err();
            assert!(matches!(e, SchedError::Unsupported { .. }), "{s}");
            assert!(e.to_string().contains("not supported"), "{e}");
        }
        assert!(matches!(
            "fastest".parse::<Scheduler>(),
            Err(SchedError::Unknown(_))
        ));
    }

    #[test]
    fn ovf_takes_the_heaviest_real_until_it_is_over_its_weight() {
        let c = |weight, active| ConnCounts {
            weight,
            active,
            inactive: 0,
        };
        let pick = |r: &[ConnCounts]| least_conn_pick(Scheduler::Ovf, r);
        assert_eq!(pick(&[c(1, 0), c(3, 0), c(2, 0)]), Some(1));
        assert_eq!(
            pick(&[c(1, 0), c(3, 3), c(2, 0)]),
            Some(1),
            "at its weight: still"
        );
        assert_eq!(
            pick(&[c(1, 0), c(3, 4), c(2, 0)]),
            Some(2),
            "over it: the next"
        );
        assert_eq!(pick(&[c(2, 0), c(2, 0)]), Some(0), "first on a tie");
        assert_eq!(pick(&[c(1, 2), c(0, 0)]), None, "all over or quiesced");
    }

    #[test]
    fn sh_and_mh_keep_a_quiesced_real_in_their_table() {
        for sched in [Scheduler::Sh, Scheduler::Mh] {
            let up = build(sched, &reals(&[1, 1, 1])).unwrap();
            let quiesced = build(sched, &reals(&[1, 0, 1])).unwrap();
            assert_eq!(up, quiesced, "{sched}: nobody else moves");
        }
        let dh = build(Scheduler::Dh, &reals(&[1, 0, 1])).unwrap();
        assert!(!dh.entries().contains(&1), "dh leaves it out");
    }

    #[test]
    fn fo_is_the_first_live_real_with_the_highest_weight() {
        let t = |ws: &[u32]| match build(Scheduler::Fo, &reals(ws)).unwrap() {
            Table::Cycle(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(t(&[1, 3, 2]), vec![1]);
        assert_eq!(t(&[2, 5, 5]), vec![1], "first on a tie");
        assert_eq!(t(&[2, 0, 1]), vec![0], "the best is down: the next");
        assert_eq!(t(&[0, 0]), Vec::<u32>::new());
        assert_eq!(Scheduler::Fo.datapath(), Scheduler::Rr as u8);
    }

    #[test]
    fn rr_cycle_is_each_live_real_once() {
        assert_eq!(
            build(Scheduler::Rr, &reals(&[1, 1, 0, 1])).unwrap(),
            Table::Cycle(vec![0, 1, 3])
        );
    }

    #[test]
    fn sh_table_weighted_like_ipvs() {
        let t = build(Scheduler::Sh, &reals(&[1, 2, 1])).unwrap();
        let e = t.entries();
        assert_eq!(e.len(), SH_BUCKETS);
        assert_eq!(&e[..8], &[0, 1, 1, 2, 0, 1, 1, 2]);
        assert!(build(Scheduler::Dh, &reals(&[0, 0]))
            .unwrap()
            .entries()
            .is_empty());
    }

    #[test]
    fn mh_uses_all_live_reals() {
        let t = build(Scheduler::Mh, &reals(&[1, 1, 1])).unwrap();
        assert_eq!(t.entries().len(), MAGLEV_SIZE);
        for r in 0..3 {
            assert!(t.entries().contains(&r));
        }
    }

    #[test]
    fn lc_family_lists_live_reals_and_caps_them() {
        assert_eq!(
            build(Scheduler::Wlc, &reals(&[1, 0, 3])).unwrap(),
            Table::LeastConn(vec![0, 2])
        );
        let many = reals(&vec![1; LC_MAX + 1]);
        assert!(matches!(
            build(Scheduler::Lc, &many),
            Err(SchedError::TooManyReals { .. })
        ));
    }

    fn cc(weight: u32, active: u32, inactive: u32) -> ConnCounts {
        ConnCounts {
            weight,
            active,
            inactive,
        }
    }

    #[test]
    fn least_conn_rules() {
        let r = [cc(1, 2, 0), cc(3, 4, 0), cc(1, 1, 300)];
        // lc: 512, 1024, 556 -> first.
        assert_eq!(least_conn_pick(Scheduler::Lc, &r), Some(0));
        // wlc: 512/1, 1024/3=341, 556 -> second.
        assert_eq!(least_conn_pick(Scheduler::Wlc, &r), Some(1));
        // sed: 3/1, 5/3, 2/1 -> second.
        assert_eq!(least_conn_pick(Scheduler::Sed, &r), Some(1));
        // nq: nobody idle -> sed.
        assert_eq!(least_conn_pick(Scheduler::Nq, &r), Some(1));
        let idle = [cc(5, 1, 0), cc(1, 0, 9)];
        assert_eq!(least_conn_pick(Scheduler::Nq, &idle), Some(1));
        // Ties: first in order.
        assert_eq!(
            least_conn_pick(Scheduler::Lc, &[cc(1, 0, 0), cc(1, 0, 0)]),
            Some(0)
        );
        assert_eq!(least_conn_pick(Scheduler::Lc, &[cc(0, 0, 0)]), None);
    }
}
