//! vipd's own decapsulation of ipip, 6in4, 4in6 and ip6ip6 (`bpf/decap.bpf.c`):
//! load, attach at tc ingress, fill its maps of local addresses, read its counters.
//!
//! The program is attached as a classic tc `cls_bpf` filter (direct action) on a
//! `clsact` qdisc, through netlink. Unlike a TCX link, such a filter holds its own
//! reference to the program, so it stays after `vipd realserver up` exits, needs no
//! bpffs pin (pins are global to the host, the filter belongs to the interface and
//! so to the namespace), and shows up in `tc filter show dev IF ingress`. `down`
//! deletes the filter by its priority and handle, recorded in the state file.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aya::maps::{HashMap as BpfHashMap, Map, MapData, MapInfo, PerCpuArray};
use aya::programs::tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcAttachType};
use aya::programs::{loaded_programs, Link as _, SchedClassifier};
use aya::Ebpf;

use super::RealserverError;

/// The compiled program, embedded.
static DECAP_OBJ: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/decap.bpf.o"));

/// Program (and so tc filter) name.
pub const PROG_NAME: &str = "vipd_decap";
const LOCAL_MAP: &str = "rs_local";
const LOCAL6_MAP: &str = "rs_local6";
const STATS_MAP: &str = "rs_stats";

/// Counter slots of `rs_stats`, as `enum rs_counter` in `bpf/decap.bpf.c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// IPIP (4in4) to a local address, outer header stripped.
    Decapsulated = 0,
    /// Outer IPv4 (ipip or 6in4) to an address that is not ours: untouched.
    NotLocal = 1,
    /// Outer IPv4 with options, fragment, or an inner version not matching: untouched.
    Unsupported = 2,
    /// Decapsulation failed: dropped.
    Dropped = 3,
    /// ip6ip6 to a local address, outer header stripped.
    Decapsulated6in6 = 4,
    /// 4in6 to a local address, outer header stripped.
    Decapsulated4in6 = 5,
    /// 6in4 to a local address, outer header stripped.
    Decapsulated6in4 = 6,
    /// Outer IPv6 (4in6 or ip6ip6) to an address that is not ours: untouched.
    NotLocal6 = 7,
    /// Outer IPv6 with an extension header or fragment, or an inner version not matching: untouched.
    Unsupported6 = 8,
}

/// Number of counter slots.
pub const COUNTERS: usize = 9;

impl Counter {
    /// All slots in index order.
    pub const ALL: [Counter; COUNTERS] = [
        Counter::Decapsulated,
        Counter::NotLocal,
        Counter::Unsupported,
        Counter::Dropped,
        Counter::Decapsulated6in6,
        Counter::Decapsulated4in6,
        Counter::Decapsulated6in4,
        Counter::NotLocal6,
        Counter::Unsupported6,
    ];

    /// The order `status` prints them in: decapsulated, passed, dropped.
    pub const SHOWN: [Counter; COUNTERS] = [
        Counter::Decapsulated,
        Counter::Decapsulated6in6,
        Counter::Decapsulated4in6,
        Counter::Decapsulated6in4,
        Counter::NotLocal,
        Counter::NotLocal6,
        Counter::Unsupported,
        Counter::Unsupported6,
        Counter::Dropped,
    ];

    /// Name in `status` output.
    pub fn label(self) -> &'static str {
        match self {
            Counter::Decapsulated => "decapsulated ipip (4in4)",
            Counter::Decapsulated6in6 => "decapsulated ip6ip6 (6in6)",
            Counter::Decapsulated4in6 => "decapsulated 4in6",
            Counter::Decapsulated6in4 => "decapsulated 6in4",
            Counter::NotLocal => "outer ipv4 not for us (passed)",
            Counter::NotLocal6 => "outer ipv6 not for us (passed)",
            Counter::Unsupported => "outer ipv4 unsupported (passed)",
            Counter::Unsupported6 => "outer ipv6 unsupported (passed)",
            Counter::Dropped => "dropped (decap failed)",
        }
    }
}

fn bpf_err(what: &str) -> impl FnOnce(String) -> RealserverError + '_ {
    move |detail| RealserverError::Bpf {
        what: what.to_string(),
        detail,
    }
}

/// One attachment made by [`attach`].
#[derive(Debug, Clone)]
pub struct Attachment {
    /// Device.
    pub dev: String,
    /// tc filter priority.
    pub priority: u16,
    /// tc filter handle.
    pub handle: u32,
    /// Program id.
    pub prog_id: u32,
}

/// IPv4 addresses as `rs_local` keys, IPv6 ones as `rs_local6` keys (both in
/// network byte order, as the packet carries them).
fn split(local: &[IpAddr]) -> (Vec<u32>, Vec<[u8; 16]>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for a in local {
        match a {
            IpAddr::V4(a) => v4.push(u32::from_ne_bytes(a.octets())),
            IpAddr::V6(a) => v6.push(a.octets()),
        }
    }
    (v4, v6)
}

/// Make the hash map `m` hold exactly the keys `want` (value 1).
fn sync_keys<T, K>(
    m: &mut BpfHashMap<T, K, u8>,
    want: &[K],
    name: &str,
) -> Result<(), RealserverError>
where
    T: std::borrow::BorrowMut<MapData>,
    K: aya::Pod + PartialEq,
{
    let have: Vec<K> = m.keys().filter_map(Result::ok).collect();
    for k in have.iter().filter(|k| !want.contains(k)) {
        m.remove(k)
            .map_err(|e| bpf_err(&format!("updating {name}"))(e.to_string()))?;
    }
    for k in want {
        m.insert(*k, 1, 0)
            .map_err(|e| bpf_err(&format!("updating {name}"))(e.to_string()))?;
    }
    Ok(())
}

/// Load the program once, fill `rs_local` / `rs_local6` with `local`, and attach it
/// at tc ingress of every device in `devs` (each must already have a clsact qdisc).
/// The filters outlive this process.
pub fn attach(devs: &[String], local: &[IpAddr]) -> Result<Vec<Attachment>, RealserverError> {
    let mut ebpf =
        Ebpf::load(DECAP_OBJ).map_err(|e| bpf_err("loading decap.bpf.o")(e.to_string()))?;
    let (v4, v6) = split(local);
    {
        let map = ebpf
            .map_mut(LOCAL_MAP)
            .ok_or_else(|| bpf_err("decap.bpf.o")(format!("map {LOCAL_MAP} missing")))?;
        let mut m: BpfHashMap<&mut MapData, u32, u8> =
            BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
        sync_keys(&mut m, &v4, LOCAL_MAP)?;
    }
    {
        let map = ebpf
            .map_mut(LOCAL6_MAP)
            .ok_or_else(|| bpf_err("decap.bpf.o")(format!("map {LOCAL6_MAP} missing")))?;
        let mut m: BpfHashMap<&mut MapData, [u8; 16], u8> =
            BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local6 map")(e.to_string()))?;
        sync_keys(&mut m, &v6, LOCAL6_MAP)?;
    }
    let prog: &mut SchedClassifier = ebpf
        .program_mut(PROG_NAME)
        .ok_or_else(|| bpf_err("decap.bpf.o")(format!("program {PROG_NAME} missing")))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| bpf_err("decap program type")(e.to_string()))?;
    prog.load().map_err(|e| {
        bpf_err("loading the decap program into the kernel (verifier)")(format!("{e:?}"))
    })?;
    let prog_id = prog
        .info()
        .map_err(|e| bpf_err("reading program info")(e.to_string()))?
        .id();
    let mut out = Vec::new();
    for dev in devs {
        let id = prog
            .attach_with_options(
                dev,
                TcAttachType::Ingress,
                TcAttachOptions::Netlink(NlOptions::default()),
            )
            .map_err(|e| bpf_err("attaching at tc ingress")(format!("{dev}: {e}")))?;
        let link = prog
            .take_link(id)
            .map_err(|e| bpf_err("taking the tc link")(e.to_string()))?;
        let priority = link
            .priority()
            .map_err(|e| bpf_err("tc priority")(e.to_string()))?;
        let handle = u32::from(
            link.handle()
                .map_err(|e| bpf_err("tc handle")(e.to_string()))?,
        );
        // Dropping the link would delete the filter; the filter must stay after we
        // exit (it keeps the program loaded by itself), `down` removes it.
        std::mem::forget(link);
        out.push(Attachment {
            dev: dev.clone(),
            priority,
            handle,
            prog_id,
        });
    }
    Ok(out)
}

/// Delete the tc filter vipd attached (`tc filter del dev DEV ingress prio P handle H bpf`).
pub fn detach(dev: &str, priority: u16, handle: u32) -> Result<(), RealserverError> {
    let link =
        SchedClassifierLink::attached(dev, TcAttachType::Ingress, priority, handle.into(), None)
            .map_err(|e| bpf_err("finding the tc filter")(format!("{dev}: {e}")))?;
    link.detach().map_err(|e| {
        bpf_err("deleting the tc filter")(format!("{dev} prio {priority} handle {handle:#x}: {e}"))
    })
}

fn map_of(prog_id: u32, name: &str) -> Result<MapData, RealserverError> {
    let info = loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == prog_id)
        .ok_or_else(|| {
            bpf_err("finding the decap program")(format!("program id {prog_id} is not loaded"))
        })?;
    let ids = info
        .map_ids()
        .map_err(|e| bpf_err("listing the program's maps")(e.to_string()))?
        .unwrap_or_default();
    for id in ids {
        let Ok(mi) = MapInfo::from_id(id) else {
            continue;
        };
        if mi.name_as_str() == Some(name) {
            return MapData::from_id(id).map_err(|e| bpf_err("opening a map")(e.to_string()));
        }
    }
    Err(bpf_err("finding a map")(format!(
        "program {prog_id} has no map {name}"
    )))
}

/// Replace the set of local addresses of an already attached program.
pub fn set_local(prog_id: u32, local: &[IpAddr]) -> Result<(), RealserverError> {
    let (v4, v6) = split(local);
    let map = Map::from_map_data(map_of(prog_id, LOCAL_MAP)?)
        .map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let mut m: BpfHashMap<MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    sync_keys(&mut m, &v4, LOCAL_MAP)?;
    // A program attached by a vipd from before IPv6 has no rs_local6: it cannot
    // decapsulate IPv6 outer headers, and `status` says so (its map reads fail).
    let map = Map::from_map_data(map_of(prog_id, LOCAL6_MAP)?)
        .map_err(|e| bpf_err("rs_local6 map")(e.to_string()))?;
    let mut m: BpfHashMap<MapData, [u8; 16], u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local6 map")(e.to_string()))?;
    sync_keys(&mut m, &v6, LOCAL6_MAP)
}

/// The local addresses an attached program decapsulates for, IPv4 first, sorted.
pub fn local(prog_id: u32) -> Result<Vec<IpAddr>, RealserverError> {
    let map = Map::from_map_data(map_of(prog_id, LOCAL_MAP)?)
        .map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let m: BpfHashMap<MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let mut v: Vec<IpAddr> = m
        .keys()
        .filter_map(Result::ok)
        .map(|k| IpAddr::V4(Ipv4Addr::from(k.to_ne_bytes())))
        .collect();
    let map = Map::from_map_data(map_of(prog_id, LOCAL6_MAP)?)
        .map_err(|e| bpf_err("rs_local6 map")(e.to_string()))?;
    let m: BpfHashMap<MapData, [u8; 16], u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local6 map")(e.to_string()))?;
    v.extend(
        m.keys()
            .filter_map(Result::ok)
            .map(|k| IpAddr::V6(Ipv6Addr::from(k))),
    );
    v.sort();
    Ok(v)
}

/// Counters of an attached program, summed over CPUs, in [`Counter::ALL`] order.
pub fn counters(prog_id: u32) -> Result<[u64; COUNTERS], RealserverError> {
    let md = map_of(prog_id, STATS_MAP)?;
    let map = Map::from_map_data(md).map_err(|e| bpf_err("rs_stats map")(e.to_string()))?;
    let m: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(map).map_err(|e| bpf_err("rs_stats map")(e.to_string()))?;
    let mut out = [0u64; COUNTERS];
    for c in Counter::ALL {
        let per_cpu = m
            .get(&(c as u32), 0)
            .map_err(|e| bpf_err("reading rs_stats")(e.to_string()))?;
        out[c as usize] = per_cpu.iter().sum();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust counter indices must match `enum rs_counter` in the C source.
    #[test]
    fn counter_indices_match_the_c_enum() {
        let src = include_str!("../../../../bpf/decap.bpf.c");
        for (c, name) in Counter::ALL.iter().zip([
            "RS_DECAP",
            "RS_PASS_NOT_LOCAL",
            "RS_PASS_UNSUPPORTED",
            "RS_DROP_ERROR",
            "RS_DECAP_6IN6",
            "RS_DECAP_4IN6",
            "RS_DECAP_6IN4",
            "RS_PASS_NOT_LOCAL6",
            "RS_PASS_UNSUPPORTED6",
        ]) {
            let needle = format!("{name} = {},", *c as u32);
            assert!(src.contains(&needle), "bpf/decap.bpf.c lacks `{needle}`");
        }
        assert!(src.contains(&format!("RS_COUNTER_MAX = {},", Counter::ALL.len())));
        assert!(src.contains(&format!("int {PROG_NAME}(")));
        for map in [LOCAL_MAP, LOCAL6_MAP, STATS_MAP] {
            assert!(src.contains(&format!("}} {map} SEC(\".maps\");")), "{map}");
        }
        let mut shown: Vec<u32> = Counter::SHOWN.iter().map(|c| *c as u32).collect();
        shown.sort();
        assert_eq!(shown, (0..COUNTERS as u32).collect::<Vec<_>>());
    }
}
