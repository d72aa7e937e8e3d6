/* vipd.h: everything the XDP director and the Rust control plane share.
 *
 * Every struct here is a map key or value, mirrored field by field in Rust
 * (crates/vipd/src/datapath/abi.rs, `#[repr(C)]`), and a test compares sizes and
 * offsets against this header. Addresses and ports are in network byte order, as
 * they appear in packets. Addresses are four 32-bit words so IPv6 fits without a
 * new layout: IPv4 uses word 0 and leaves words 1-3 zero.
 *
 * Only plain C types here (no kernel headers) so the host compiler can read it too.
 */
#ifndef VIPD_H
#define VIPD_H

#ifndef __VIPD_BPF__
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef uint16_t __be16;
typedef uint32_t __be32;
#endif

/* ---- sizes (the loader may shrink/grow the maps; these are defaults) ---- */
#define VIPD_RING_SIZE 65537   /* slots per scheduling table (Maglev prime)      */
#define VIPD_MAX_SERVICES 32   /* service slots; ring map = slots * 2 * RING_SIZE */
#define VIPD_MAX_SVC_KEYS 256  /* (vip, port, proto) keys, several per slot ok    */
#define VIPD_MAX_VIPS 64       /* distinct VIP addresses                         */
#define VIPD_MAX_DESTS 4096    /* real servers over all services                 */
#define VIPD_CONN_MAX 262144   /* LRU connection table entries (established)     */
#define VIPD_HALF_OPEN_MAX 262144 /* LRU half-open table entries (SYN, first UDP) */
#define VIPD_SYNC_RING (256 * 1024) /* bytes of the sharing ring buffer          */
#define VIPD_PERSIST_MAX 65536 /* LRU persistence table entries                  */
#define VIPD_LC_MAX 64         /* reals scanned by lc/wlc/sed/nq (sched::LC_MAX)  */
#define VIPD_MAX_IFACES 64     /* interfaces with an outer source address        */
#define VIPD_VIP_BUCKETS 256   /* buckets of the IPv4 VIP filter (power of two)   */
#define VIPD_VIP_SLOTS 7       /* VIPs per filter bucket before `vips` is asked   */
#define VIPD_VIP6_SLOTS 3      /* IPv6 VIPs per bucket of the IPv6 filter         */
#define VIPD_FLOW_CACHE 4096   /* per-CPU flow cache slots (power of two)         */

/* Address families, as AF_INET / AF_INET6. */
#define VIPD_AF_INET 2
#define VIPD_AF_INET6 10

/* enum vipd_sched: the scheduler of a service; same numbers as sched::Scheduler. */
enum vipd_sched {
	VIPD_SCHED_RR = 0,  /* ring = cycle, cursor steps per new connection      */
	VIPD_SCHED_WRR = 1, /* ring = weighted cycle, same cursor                   */
	VIPD_SCHED_SH = 2,  /* ring = buckets, indexed by hash(client address[:port]) */
	VIPD_SCHED_DH = 3,  /* ring = buckets, indexed by hash(destination address) */
	VIPD_SCHED_MH = 4,  /* ring = Maglev table, hash(client address[:port])     */
	VIPD_SCHED_LC = 5,  /* ring = live reals, scanned for least connections     */
	VIPD_SCHED_WLC = 6,
	VIPD_SCHED_SED = 7,
	VIPD_SCHED_NQ = 8,
	VIPD_SCHED_OVF = 10, /* ring = live reals: the heaviest with active <= weight */
};

/* enum vipd_fwd: forwarding method of a real server (IPVS's lb_kind). */
enum vipd_fwd {
	VIPD_FWD_TUN = 0, /* IP-in-IP: outer DIP -> RIP, protocol 4 */
	VIPD_FWD_DR = 1,  /* direct routing: destination MAC rewrite */
	VIPD_FWD_NAT = 2, /* masquerading: VIP:vport -> RIP:rport, replies back */
};

/* enum vipd_conn_state: what the director saw of a connection (client side only). */
enum vipd_conn_state {
	VIPD_CONN_SYN = 0,         /* TCP, SYN seen, not yet established (inactive)  */
	VIPD_CONN_ESTABLISHED = 1, /* TCP, ACK after SYN, or mid-flow pickup (active) */
	VIPD_CONN_FIN = 2,         /* TCP, FIN seen (inactive)                        */
	VIPD_CONN_CLOSE = 3,       /* TCP, RST seen (inactive)                        */
	VIPD_CONN_UDP = 4,         /* UDP datagrams (inactive)                        */
	VIPD_CONN_FRAG = 5,        /* entry keyed on addresses only, for fragments    */
};

/* enum vipd_counter: index into the `counters` map: drop reasons first, then
 * events. Mirrored by datapath::Counter in Rust; names are shown by `vipd status`. */
enum vipd_counter {
	VIPD_DROP_BAD_IP = 0,       /* IP header for a VIP malformed (ihl, lengths, IPv6 extension headers) */
	VIPD_DROP_TRUNC_L4 = 1,     /* TCP/UDP header for a VIP truncated            */
	VIPD_DROP_NO_REAL = 2,      /* service has no real server with weight > 0    */
	VIPD_DROP_NO_ROUTE = 3,     /* bpf_fib_lookup found no route to the real      */
	VIPD_DROP_NO_NEIGH = 4,     /* next hop's MAC unknown (neighbour unresolved)  */
	VIPD_DROP_NO_SRC = 5,       /* no outer source address for egress interface   */
	VIPD_DROP_TOO_BIG = 6,      /* too big to encapsulate and DF clear            */
	VIPD_DROP_FRAG_UNKNOWN = 7, /* non-first fragment of an unknown datagram      */
	VIPD_DROP_ENCAP = 8,        /* bpf_xdp_adjust_head/tail failed                */
	VIPD_DROP_BAD_DEST = 9,     /* table names a real server slot not in use      */
	VIPD_EV_TX = 10,            /* packets forwarded to a real server            */
	VIPD_EV_CONN_NEW = 11,      /* connections scheduled                         */
	VIPD_EV_CONN_HIT = 12,      /* packets of a known connection                 */
	VIPD_EV_PERSIST_HIT = 13,   /* new connections sent by the persistence table */
	VIPD_EV_MSS_CLAMPED = 14,   /* SYN MSS options lowered                       */
	VIPD_EV_ICMP_TOO_BIG = 15,  /* ICMP fragmentation-needed sent back           */
	VIPD_EV_FRAG = 16,          /* fragments forwarded                           */
	VIPD_EV_REDIRECT = 17,      /* forwarded via another interface (redirect)    */
	VIPD_EV_ICMP_FWD = 18,      /* ICMP errors forwarded to a connection's real  */
	VIPD_EV_FLOW_CACHE_HIT = 19, /* conn_hit packets served by the flow cache    */
	VIPD_EV_HALF_OPEN_NEW = 20, /* entries created in the half-open table        */
	VIPD_EV_PROMOTED = 21,      /* half-open entries moved to the connection table */
	VIPD_EV_HALF_OPEN_STALE = 22, /* half-open entries removed: expired, real gone */
	VIPD_EV_CONN_STALE = 23,    /* table entries removed: expired, port reused... */
	VIPD_EV_SYNC_SENT = 24,     /* promoted entries handed to the sharing ring   */
	VIPD_EV_SYNC_LOST = 25,     /* sharing ring full: entry not shared            */
	VIPD_EV_OPS = 26,           /* datagrams scheduled on their own (ops), no entry */
	VIPD_EV_NAT_OUT = 27,       /* NAT replies: source rewritten to the VIP, sent */
	VIPD_EV_NAT_PASS = 28,      /* NAT replies given to the kernel (no route/neighbour, TTL) */
	VIPD_COUNTER_MAX = 29,
};

/* struct vipd_addr: an IPv4 or IPv6 address, network byte order. */
struct vipd_addr {
	__be32 w[4]; /* IPv4: w[0], w[1..3] = 0; IPv6: all four words */
};

/* Key of `vips`: every VIP address (the program asks it only for a filter
 * bucket that overflowed, see struct vipd_vip_bucket). */
struct vipd_vip_key {
	struct vipd_addr addr; /* the VIP                                */
	__u8 family;           /* VIPD_AF_INET / VIPD_AF_INET6           */
	__u8 _pad[3];          /* zero                                   */
};

/* Value of `vip4_filter`, indexed by vipd_vip_bucket(daddr): the IPv4 VIPs whose
 * hash picks this bucket. The program's first test of every packet, an array
 * lookup the verifier inlines (a hash-map lookup is a function call, ~40 ns
 * here). The control plane keeps a VIP in its slot while it exists, so a
 * concurrent rewrite of the bucket can only hide a VIP being added or removed. */
struct vipd_vip_bucket {
	__be32 addr[VIPD_VIP_SLOTS]; /* IPv4 VIPs; 0 = free slot                     */
	__u32 overflow;              /* 1: more VIPs hash here: also look in `vips` */
};

/* Value of `vip6_filter`, indexed by vipd_vip6_bucket(daddr): the same for
 * IPv6 VIPs (three 16-byte addresses and the flag: one cache line). */
struct vipd_vip6_bucket {
	struct vipd_addr addr[VIPD_VIP6_SLOTS]; /* IPv6 VIPs; all zero = free slot  */
	__u32 overflow;                         /* 1: also look in `vips`           */
	__u32 _pad[3];                          /* zero                             */
};

/* Key of `services`: one virtual_server. */
struct vipd_svc_key {
	struct vipd_addr vip; /* virtual address                               */
	__be16 port;          /* virtual port; 0 = every port (persistent svc)  */
	__u8 proto;           /* IPPROTO_TCP (6) or IPPROTO_UDP (17)            */
	__u8 family;          /* VIPD_AF_INET / VIPD_AF_INET6                   */
};

/* Service flags. */
#define VIPD_SVC_F_PERSIST 0x1  /* persistence_timeout set: use `persist`      */
#define VIPD_SVC_F_HASH_PORT 0x2 /* sh/mh: hash the client port too (sh-port)   */
#define VIPD_SVC_F_FALLBACK 0x4  /* sh/mh: rehash past an unavailable real      */
#define VIPD_SVC_F_OPS 0x8       /* ops: each UDP datagram scheduled, no entry  */
/* Rehashes an sh/mh lookup tries past unavailable (weight 0) real servers. */
#define VIPD_FALLBACK_TRIES 16

/* Value of `services`. Replaced as a whole by one map update, which is how a new
 * scheduling table goes live atomically (the `gen` flip). */
struct vipd_svc {
	__u32 id;                  /* service slot: counters index, ring base         */
	__u32 ring_len;            /* entries in the live half; 0 = no real available */
	__u8 sched;                /* enum vipd_sched                                 */
	__u8 gen;                  /* live half of the ring (0/1): double buffer      */
	__u8 flags;                /* VIPD_SVC_F_*                                    */
	__u8 _pad;                 /* zero                                            */
	__u32 persist_timeout;     /* seconds a client sticks to its real server      */
	struct vipd_addr persist_mask; /* persistence_granularity, applied to client */
};

/* Real-server flags. */
#define VIPD_DEST_F_LIVE 0x1 /* slot in use (cleared when the real is removed) */

/* Value of `dests`, indexed by real-server id (one per service and real). */
struct vipd_dest {
	struct vipd_addr rip; /* real server address                              */
	__u32 svc_id;         /* owning service slot (stale entries are detected)  */
	__u32 weight;         /* 0 = quiesced: kept for existing connections only   */
	__be16 port;          /* real server port (TUN/DR do not rewrite it)        */
	__u8 family;          /* VIPD_AF_INET / VIPD_AF_INET6                       */
	__u8 fwd;             /* enum vipd_fwd                                      */
	__u8 flags;           /* VIPD_DEST_F_*                                      */
	__u8 _pad;            /* zero                                               */
	__u16 mss;            /* clamp client SYNs' MSS to this (host order), 0=off */
};

/* Value of `dest_conns`: connection counts per real server, updated atomically by
 * the program and recomputed from `conns` by the control plane. */
struct vipd_dest_conns {
	__u32 active;   /* established TCP connections                */
	__u32 inactive; /* SYN / FIN / CLOSE TCP, and UDP connections */
};

/* Value of `svc_stats` and `dest_stats` (per CPU; the reader sums). */
struct vipd_stats {
	__u64 packets;     /* packets forwarded                   */
	__u64 bytes;       /* bytes forwarded (inner IP packets)   */
	__u64 conns;       /* connections scheduled               */
	__u64 out_packets; /* NAT replies sent back to clients    */
	__u64 out_bytes;   /* their bytes                         */
};

/* Value of `nat_rev`, keyed by a NAT connection's reply flow (src = real
 * server:port, dst = client:port): what the reply's source becomes. */
struct vipd_nat_rev {
	struct vipd_addr vip; /* the VIP the client talks to             */
	__be16 vport;         /* its port                                 */
	__u16 _pad;           /* zero                                     */
	__u32 svc;            /* service slot (statistics)                */
	__u32 dest;           /* real-server id (statistics)              */
	__u32 _pad2;          /* zero                                     */
};

/* Key of `conns`: one connection (or, for fragments, one address pair). */
struct vipd_flow {
	struct vipd_addr src; /* client address                            */
	struct vipd_addr dst; /* VIP                                       */
	__be16 sport;         /* client port; 0 for fragments              */
	__be16 dport;         /* virtual port; 0 for fragments             */
	__u8 proto;           /* IPPROTO_*                                 */
	__u8 family;          /* VIPD_AF_INET / VIPD_AF_INET6              */
	__u8 _pad[2];         /* zero                                      */
};

/* Connection flags. */
#define VIPD_CONN_F_PEER 0x1 /* installed from another director, not forwarded here yet */

/* Value of `conns` and `half_open`. */
struct vipd_conn {
	__u64 last_ns; /* CLOCK_MONOTONIC_COARSE of the last refresh         */
	__u32 dest;    /* real server id                                    */
	__u8 state;    /* enum vipd_conn_state                              */
	__u8 flags;    /* VIPD_CONN_F_*                                      */
	__u16 svc;     /* service slot: a hit needs no service lookup, and a */
		       /* real-server id reused by another service misses   */
};

/* Value of `flow_cache` (per CPU, indexed by a hash of the flow): an
 * established connection the connection table confirmed less than
 * VIPD_REFRESH_NS ago. Packets that cannot change a connection's state (no SYN,
 * FIN or RST) are forwarded from here without the connection table's lookup,
 * which is a function call; every other packet, and every packet once the entry
 * is older than that, goes through the table, which refreshes it. */
struct vipd_flow_cache {
	struct vipd_flow flow; /* the connection; family 0 = empty slot        */
	__u64 checked_ns;      /* when the connection table last confirmed it  */
	__u32 dest;            /* real server id                              */
	__u16 svc;             /* service slot (as vipd_conn.svc)              */
	__u16 _pad;            /* zero                                        */
	__u64 _pad2;           /* zero: one 64-byte cache line                 */
};

/* Value of `clock` (per CPU): CLOCK_MONOTONIC_COARSE, read again only when
 * jiffies moved. The coarse clock itself only advances on a tick, so this is the
 * same value without a helper call per packet. */
struct vipd_clock {
	__u64 jiffies; /* jiffies when `ns` was read */
	__u64 ns;      /* bpf_ktime_get_coarse_ns()  */
};

/* Key of `persist`: a client network within a service. */
struct vipd_persist_key {
	struct vipd_addr client; /* client address & persist_mask  */
	__u32 svc_id;            /* service slot                   */
	__u8 family;             /* VIPD_AF_INET / VIPD_AF_INET6   */
	__u8 _pad[3];            /* zero                           */
};

/* Value of `persist`. */
struct vipd_persist {
	__u64 last_ns; /* CLOCK_MONOTONIC_COARSE of the last new connection */
	__u32 dest;    /* real server id                                  */
	__u32 _pad;    /* zero                                            */
};

/* Value of `nexthops` (per CPU, by real-server id): the program's cache of
 * bpf_fib_lookup's answer for a real server, refreshed every
 * VIPD_NH_REFRESH_NS so that the per-packet path does no route lookup. */
struct vipd_nexthop {
	__u64 stamp_ns;        /* CLOCK_MONOTONIC_COARSE of the lookup; 0 = empty */
	struct vipd_addr rip;  /* the real server it was computed for (id reuse)  */
	struct vipd_addr src;  /* outer source: the director's address on ifindex, */
			       /* of the real server's family                      */
	__u32 ifindex;         /* egress interface                                 */
	__u16 mtu;             /* route MTU towards the real server                */
	__u8 fwd;              /* enum vipd_fwd it was computed for                */
	__u8 family;           /* the real server's family it was computed for     */
	__u8 dmac[6];          /* next hop's MAC (the real's own for DR)           */
	__u8 smac[6];          /* egress interface's MAC                           */
	__u32 _pad;            /* zero                                             */
};

/* Value of `config` (one entry): knobs of the whole data plane. */
struct vipd_config {
	__u32 tcp_timeout;     /* s, established TCP (IPVS: 900)         */
	__u32 tcp_fin_timeout; /* s, after FIN (IPVS: 120)               */
	__u32 tcp_syn_timeout; /* s, SYN seen, not established (IPVS: 60) */
	__u32 tcp_close_timeout; /* s, after RST (IPVS: 10)              */
	__u32 udp_timeout;     /* s, UDP (IPVS: 300)                     */
	__u32 flags;           /* VIPD_CFG_F_*                           */
};

/* Config flags. */
#define VIPD_CFG_F_SYNC 0x1 /* connection sharing on: promoted entries go to sync_ring */
#define VIPD_CFG_F_OPS 0x2  /* a service has VIPD_SVC_F_OPS: UDP looks the service up first */
#define VIPD_CFG_F_NAT 0x4  /* a real server is NAT: packets not for a VIP may be replies */
#define VIPD_CFG_F_V6 0x8   /* an IPv6 VIP exists: IPv6 packets are looked up in `vips` */

/* A record of `sync_ring`: a connection that just became established (or a UDP
 * flow that sent its second datagram), for the daemon to share with the other
 * directors. The daemon translates the ids into addresses. */
struct vipd_sync_event {
	struct vipd_flow flow; /* the connection (as the `conns` key)       */
	__u32 dest;            /* real server id                           */
	__u16 svc;             /* service slot                             */
	__u8 state;            /* enum vipd_conn_state                     */
	__u8 _pad;             /* zero                                     */
};

#endif /* VIPD_H */
