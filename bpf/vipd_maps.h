/* vipd_maps.h: the director's maps, one line of purpose each.
 * The control plane (crates/vipd/src/datapath) fills every one except the
 * connection state, which the program keeps and the control plane only reads. */
#ifndef VIPD_MAPS_H
#define VIPD_MAPS_H

#include "vipd.h"

/* IPv4 destination addresses handled at all: the first test of every packet
 * (see struct vipd_vip_bucket); a miss is XDP_PASS. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_VIP_BUCKETS);
	__type(key, __u32);
	__type(value, struct vipd_vip_bucket);
} vip4_filter SEC(".maps");

/* The same first test for IPv6 destinations (struct vipd_vip6_bucket). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_VIP_BUCKETS);
	__type(key, __u32);
	__type(value, struct vipd_vip6_bucket);
} vip6_filter SEC(".maps");

/* Every VIP address: what the filters consult for an overflowing bucket. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIPD_MAX_VIPS);
	__type(key, struct vipd_vip_key);
	__type(value, __u32); /* number of services on the VIP (informative) */
} vips SEC(".maps");

/* (VIP, port, proto) -> service; port 0 = every port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIPD_MAX_SVC_KEYS);
	__type(key, struct vipd_svc_key);
	__type(value, struct vipd_svc);
} services SEC(".maps");

/* Scheduling tables: slot s, half g at [(s * 2 + g) * VIPD_RING_SIZE]; entries are
 * real-server ids. Sized by the loader (service slots * 2 * VIPD_RING_SIZE);
 * mmapped by the control plane, which writes only the half not in use. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* the control plane writes tables in place */
	__uint(max_entries, VIPD_MAX_SERVICES * 2 * VIPD_RING_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} rings SEC(".maps");

/* rr/wrr cursor per service slot (shared by all CPUs, atomic add). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} rr_cursor SEC(".maps");

/* Real servers by id. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_MAX_DESTS);
	__type(key, __u32);
	__type(value, struct vipd_dest);
} dests SEC(".maps");

/* Active/inactive connections per real server (lc/wlc/sed/nq read them). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_MAX_DESTS);
	__type(key, __u32);
	__type(value, struct vipd_dest_conns);
} dest_conns SEC(".maps");

/* Connection table: 5-tuple -> real server, for connections that completed
 * their handshake (and their FIN/RST states), confirmed UDP flows, and entries
 * shared by other directors. Entries leave by timeout (noticed on lookup), port
 * reuse, removal of their real server, or the LRU when the table is full of
 * such connections. Per-CPU LRU lists: inserts take no shared lock. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, VIPD_CONN_MAX);
	__type(key, struct vipd_flow);
	__type(value, struct vipd_conn);
} conns SEC(".maps");

/* NAT replies: reply flow -> the VIP and port to put back as their source.
 * Written with the connection (and again when a connection is adopted or
 * shared); sized as `conns`. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, VIPD_CONN_MAX);
	__type(key, struct vipd_flow);
	__type(value, struct vipd_nat_rev);
} nat_rev SEC(".maps");

/* A NAT reply's fragments: the later fragments of a datagram carry no ports,
 * so its first fragment (which does) leaves here what they need, the VIP to
 * put back as their source, keyed on what every fragment of it shares. */
struct vipd_nat_frag_key {
	__be32 src;  /* the real server */
	__be32 dst;  /* the client      */
	__be16 id;   /* IPv4 id         */
	__u8 proto;
	__u8 _pad;   /* zero            */
};

struct vipd_nat_frag {
	__be32 vip;
	__u32 svc;
	__u32 dest;
	__u32 _pad;
	__u64 at_ns; /* when the first fragment passed: IPv4 ids wrap */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vipd_nat_frag_key);
	__type(value, struct vipd_nat_frag);
} nat_frag SEC(".maps");

/* Half-open table: connections whose handshake the client has not completed
 * (SYN seen), UDP flows that sent one datagram, TCP flows picked up mid-way
 * with one packet seen. A flood of spoofed SYNs only ever fills this table: the
 * LRU evicts half-open entries, never an established connection of `conns`.
 * An entry moves to `conns` (promotion) on the ACK that completes the
 * handshake, or on the flow's second packet. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, VIPD_HALF_OPEN_MAX);
	__type(key, struct vipd_flow);
	__type(value, struct vipd_conn);
} half_open SEC(".maps");

/* Promoted connections for the daemon to share with the other directors
 * (struct vipd_sync_event); written only when config.flags has VIPD_CFG_F_SYNC.
 * When the daemon falls behind, records are lost (counted), never waited for. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, VIPD_SYNC_RING);
} sync_ring SEC(".maps");

/* The established connections each CPU forwarded last (struct vipd_flow_cache):
 * VIPD_FLOW_CACHE slots per CPU in one flat array, CPU c owning slots
 * [c * VIPD_FLOW_CACHE, (c + 1) * VIPD_FLOW_CACHE); the loader sizes it for the
 * possible CPUs (a CPU beyond it just has no cache). A PERCPU_ARRAY would first
 * load the element's per-CPU pointer from a table of 4,096: a second dependent
 * cache miss per packet whenever other work has cooled the caches. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIPD_FLOW_CACHE); /* x possible CPUs: set by the loader */
	__type(key, __u32);
	__type(value, struct vipd_flow_cache);
} flow_cache SEC(".maps");

/* The coarse clock, per CPU (struct vipd_clock). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vipd_clock);
} clock SEC(".maps");

/* Persistence: (client network, service) -> real server. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VIPD_PERSIST_MAX);
	__type(key, struct vipd_persist_key);
	__type(value, struct vipd_persist);
} persist SEC(".maps");

/* Egress ifindex -> the director's address there: the outer source of TUN. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIPD_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct vipd_addr);
} ifaddrs SEC(".maps");

/* Egress ifindex -> the director's global IPv6 address there: the outer
 * source of TUN to an IPv6 real server. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VIPD_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct vipd_addr);
} ifaddrs6 SEC(".maps");

/* Next-hop cache per real server (per CPU: no cross-CPU writes). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIPD_MAX_DESTS);
	__type(key, __u32);
	__type(value, struct vipd_nexthop);
} nexthops SEC(".maps");

/* Timeouts and knobs (one entry). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vipd_config);
} config SEC(".maps");

/* Per-service traffic counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIPD_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct vipd_stats);
} svc_stats SEC(".maps");

/* Per-real-server traffic counters. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIPD_MAX_DESTS);
	__type(key, __u32);
	__type(value, struct vipd_stats);
} dest_stats SEC(".maps");

/* Drop reasons and events (enum vipd_counter). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIPD_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void vipd_count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &which);
	if (v)
		*v += 1;
}

#endif /* VIPD_MAPS_H */
