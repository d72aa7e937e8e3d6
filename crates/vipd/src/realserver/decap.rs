//! vipd's own IPIP decapsulation (`bpf/decap.bpf.c`): load, attach at tc ingress,
//! fill its map of local addresses, read its counters.
//!
//! The program is attached as a classic tc `cls_bpf` filter (direct action) on a
//! `clsact` qdisc, through netlink. Unlike a TCX link, such a filter holds its own
//! reference to the program, so it stays after `vipd realserver up` exits, needs no
//! bpffs pin (pins are global to the host, the filter belongs to the interface and
//! so to the namespace), and shows up in `tc filter show dev IF ingress`. `down`
//! deletes the filter by its priority and handle, recorded in the state file.

use std::net::Ipv4Addr;

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
const STATS_MAP: &str = "rs_stats";

/// Counter slots of `rs_stats`, as `enum rs_counter` in `bpf/decap.bpf.c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// IPIP to a local address, outer header stripped.
    Decapsulated = 0,
    /// IPIP to an address that is not ours: untouched.
    NotLocal = 1,
    /// IPIP with options, fragment, or non-IPv4 inner: untouched.
    Unsupported = 2,
    /// Decapsulation failed: dropped.
    Dropped = 3,
}

impl Counter {
    /// All slots in index order.
    pub const ALL: [Counter; 4] = [
        Counter::Decapsulated,
        Counter::NotLocal,
        Counter::Unsupported,
        Counter::Dropped,
    ];

    /// Name in `status` output.
    pub fn label(self) -> &'static str {
        match self {
            Counter::Decapsulated => "decapsulated",
            Counter::NotLocal => "ipip not for us (passed)",
            Counter::Unsupported => "ipip unsupported (passed)",
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

/// Load the program once, fill `rs_local` with `local`, and attach it at tc ingress
/// of every device in `devs` (each must already have a clsact qdisc). The filters
/// outlive this process.
pub fn attach(devs: &[String], local: &[Ipv4Addr]) -> Result<Vec<Attachment>, RealserverError> {
    let mut ebpf =
        Ebpf::load(DECAP_OBJ).map_err(|e| bpf_err("loading decap.bpf.o")(e.to_string()))?;
    {
        let map = ebpf
            .map_mut(LOCAL_MAP)
            .ok_or_else(|| bpf_err("decap.bpf.o")(format!("map {LOCAL_MAP} missing")))?;
        let mut m: BpfHashMap<&mut MapData, u32, u8> =
            BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
        for a in local {
            m.insert(u32::from_ne_bytes(a.octets()), 1, 0)
                .map_err(|e| bpf_err("filling rs_local")(e.to_string()))?;
        }
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
pub fn set_local(prog_id: u32, local: &[Ipv4Addr]) -> Result<(), RealserverError> {
    let md = map_of(prog_id, LOCAL_MAP)?;
    let map = Map::from_map_data(md).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let mut m: BpfHashMap<MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let want: Vec<u32> = local
        .iter()
        .map(|a| u32::from_ne_bytes(a.octets()))
        .collect();
    let have: Vec<u32> = m.keys().filter_map(Result::ok).collect();
    for k in have.iter().filter(|k| !want.contains(k)) {
        m.remove(k)
            .map_err(|e| bpf_err("updating rs_local")(e.to_string()))?;
    }
    for k in &want {
        m.insert(*k, 1, 0)
            .map_err(|e| bpf_err("updating rs_local")(e.to_string()))?;
    }
    Ok(())
}

/// The local addresses an attached program decapsulates for.
pub fn local(prog_id: u32) -> Result<Vec<Ipv4Addr>, RealserverError> {
    let md = map_of(prog_id, LOCAL_MAP)?;
    let map = Map::from_map_data(md).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let m: BpfHashMap<MapData, u32, u8> =
        BpfHashMap::try_from(map).map_err(|e| bpf_err("rs_local map")(e.to_string()))?;
    let mut v: Vec<Ipv4Addr> = m
        .keys()
        .filter_map(Result::ok)
        .map(|k| Ipv4Addr::from(k.to_ne_bytes()))
        .collect();
    v.sort();
    Ok(v)
}

/// Counters of an attached program, summed over CPUs, in [`Counter::ALL`] order.
pub fn counters(prog_id: u32) -> Result<[u64; 4], RealserverError> {
    let md = map_of(prog_id, STATS_MAP)?;
    let map = Map::from_map_data(md).map_err(|e| bpf_err("rs_stats map")(e.to_string()))?;
    let m: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(map).map_err(|e| bpf_err("rs_stats map")(e.to_string()))?;
    let mut out = [0u64; 4];
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
        ]) {
            let needle = format!("{name} = {},", *c as u32);
            assert!(src.contains(&needle), "bpf/decap.bpf.c lacks `{needle}`");
        }
        assert!(src.contains(&format!("RS_COUNTER_MAX = {},", Counter::ALL.len())));
        assert!(src.contains(&format!("int {PROG_NAME}(")));
    }
}
