/* bench.bpf.c: entry points for `vipd datapath bench` (BPF_PROG_RUN live-frames
 * mode). Not used in production. The director variants run exactly the production
 * logic (vipd_director.h).
 *
 * Live-frames mode recycles the page of each frame without re-initialising it,
 * so every variant first rewrites what the previous pass changed (the Ethernet
 * header; the TTL and IPv4 checksum after kernel forwarding). */
#include "vipd_director.h"

/* The template's Ethernet addresses, written by the bench before running. */
struct vipd_bench_l2 {
	__u8 own[6];    /* the director interface's MAC: frames arrive to it     */
	__u8 client[6]; /* the frames' source MAC                                */
	__u8 next[6];   /* the next hop's MAC (bare XDP_TX rewrites dst to it)    */
	__u8 _pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vipd_bench_l2);
} bench_l2 SEC(".maps");

/* Frames received by the sink. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_sink SEC(".maps");

/* Source port of the next new flow (one generator CPU: no atomics needed). */
__u32 bench_seq = 0;

/* Writes the template's Ethernet header into the frame: as it arrives from the
 * client (to_next 0: client -> own, EtherType `proto`), or as XDP_TX sends it on
 * (to_next 1: own -> next hop, EtherType left alone). 0, or -1 if the frame is
 * shorter than an Ethernet header or the bench wrote no addresses. */
static __always_inline int bench_write_eth(struct xdp_md *ctx, int to_next, __u16 proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	struct vipd_bench_l2 *l2 = bpf_map_lookup_elem(&bench_l2, &zero);
	if (!l2 || (void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, to_next ? l2->next : l2->own, ETH_ALEN);
	__builtin_memcpy(eth->h_source, to_next ? l2->own : l2->client, ETH_ALEN);
	if (!to_next)
		eth->h_proto = bpf_htons(proto);
	return 0;
}

/* Undoes what the last pass changed in the Ethernet header: 0, or -1. An
 * encapsulation's outer header lands where the template's Ethernet header was
 * (the next test run gives the head back), so the EtherType is written too. */
static __always_inline int bench_restore_eth(struct xdp_md *ctx)
{
	return bench_write_eth(ctx, 0, ETH_P_IP);
}

/* The same for the IPv6 templates. */
static __always_inline int bench_restore_eth6(struct xdp_md *ctx)
{
	return bench_write_eth(ctx, 0, VIPD_ETH_P_IPV6);
}

/* Established flow: the same connection every time (connection-table hit). */
static __always_inline int bench_director_est(struct xdp_md *ctx)
{
	if (bench_restore_eth(ctx))
		return XDP_DROP;
	return vipd_director(ctx);
}

/* Rewrites the template's client to flow number `flow`: port 1024 + flow mod
 * 60,000 and an address from `base` (a /16) that moves every 60,000 flows, so
 * 16-bit ports never repeat a tuple soon. */
static __always_inline int bench_set_client(struct xdp_md *ctx, __u32 base, __u32 flow)
{
	if (bench_restore_eth(ctx))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tcphdr *tcp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	if ((void *)(tcp + 1) > data_end)
		return -1;
	tcp->source = bpf_htons((__u16)(flow % 60000) + 1024);
	struct iphdr *ip = data + sizeof(struct ethhdr);
	ip->saddr = bpf_htonl(base | ((flow / 60000) & 0xffff));
	return 0;
}

/* New flows: a new client port each packet (table miss, Maglev, insert). */
static __always_inline int bench_director_new(struct xdp_md *ctx)
{
	bench_seq++;
	if (bench_set_client(ctx, 0xcb000000, bench_seq)) /* 203.0.x.x */
		return XDP_DROP;
	return vipd_director(ctx);
}

/* ---- IPv6: the same two workloads through vipd_director6 ----
 * The template is the IPv4 one in IPv6 (BENCH_FRAME6 bytes): client
 * 2001:db8:71::7:40000 -> VIP 2001:db8:85::250:80, a TCP ACK; the service is
 * TUN to three IPv6 real servers (ip6ip6, 40 bytes in front). */

/* Established IPv6 flow: the same connection every time. */
static __always_inline int bench_director_est6(struct xdp_md *ctx)
{
	if (bench_restore_eth6(ctx))
		return XDP_DROP;
	return vipd_director(ctx);
}

/* bench_set_client for IPv6: port 1024 + flow mod 60,000, and the low 32 bits
 * of the client's address `base` | (flow / 60,000) mod 2^16. No IPv6 header
 * checksum to fix (and nothing checks TCP's). */
static __always_inline int bench_set_client6(struct xdp_md *ctx, __u32 base, __u32 flow)
{
	if (bench_restore_eth6(ctx))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tcphdr *tcp = data + sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
	if ((void *)(tcp + 1) > data_end)
		return -1;
	tcp->source = bpf_htons((__u16)(flow % 60000) + 1024);
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	__be32 *saddr = (__be32 *)&ip6->saddr;
	saddr[3] = bpf_htonl(base | ((flow / 60000) & 0xffff));
	return 0;
}

/* New IPv6 flows: a new client port each packet (table miss, Maglev, insert). */
static __always_inline int bench_director_new6(struct xdp_md *ctx)
{
	bench_seq++;
	if (bench_set_client6(ctx, 0xcb000000, bench_seq)) /* 2001:db8:71::cb00:x */
		return XDP_DROP;
	return vipd_director(ctx);
}

/* Whole connections: each flow sends two packets in a row, the first creates
 * its half-open entry, the second promotes it to the connection table (and,
 * when sharing is on, hands it to the sharing ring). The cost of a connection
 * is twice the cost per packet. */
static __always_inline int bench_director_conn(struct xdp_md *ctx)
{
	bench_seq++;
	if (bench_set_client(ctx, 0xc6120000, bench_seq / 2)) /* 198.18.x.x */
		return XDP_DROP;
	return vipd_director(ctx);
}

/* The ceiling: no parsing, rewrite both MACs, XDP_TX. */
static __always_inline int bench_tx_bare(struct xdp_md *ctx)
{
	return bench_write_eth(ctx, 1, 0) ? XDP_DROP : XDP_TX;
}

/* The floor of any IPIP encapsulator: grow the head by an outer IPv4 header,
 * write Ethernet and a fixed outer header (10.253.85.11 -> 10.253.26.1) with the
 * director's own writer, XDP_TX. No parsing, no lookups: what the director
 * costs above this is its logic; below bare XDP_TX is the encapsulation itself
 * (a helper call, a longer frame). */
static __always_inline int bench_tx_encap_bare(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct vipd_bench_l2 *l2 = bpf_map_lookup_elem(&bench_l2, &zero);
	if (!l2)
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = (void *)(eth + 1);
	struct iphdr *inner = outer + 1;
	if ((void *)(inner + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, l2->next, ETH_ALEN);
	__builtin_memcpy(eth->h_source, l2->own, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	vipd_write_outer4(outer, 0, bpf_ntohs(inner->tot_len), bpf_htons(VIPD_IP_DF), 0,
			  bpf_htonl(0x0afd550b), bpf_htonl(0x0afd1a01), IPPROTO_IPIP);
	return XDP_TX;
}

/* ---- plain test runs (kernels that refuse live frames) ----
 * Without BPF_F_TEST_XDP_LIVE_FRAMES the kernel runs the program `repeat` times
 * over the same xdp_buff and reports the mean time per run; nothing is
 * transmitted. A head grown by one run would stay grown for the next, so each
 * wrapper first gives back what the previous run added (bench_grown, zeroed by
 * the bench before every test run) and records what this run added. Every
 * wrapper makes that one bpf_xdp_adjust_head call, the bare one with 0, so all
 * variants carry the same extra cost; the output of the last run is the real
 * output and is checked by the bench. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s32);
} bench_grown SEC(".maps");

/* The wrapper, a macro: BPF programs have no function pointers. The verifier
 * allows no arithmetic on packet pointers, so the growth is found by comparing
 * with the one length an encapsulated template has: `frame` bytes plus the
 * `over` bytes of the encapsulation (the IPv4 frames are BENCH_FRAME bytes and
 * IPIP adds an IPv4 header; the IPv6 ones BENCH_FRAME6 and ip6ip6 an IPv6
 * header). Each family needs its own pair: an IPv6 template is as long as an
 * IPv4 one in IPIP. */
#define BENCH_FRAME 54
#define BENCH_FRAME6 74
#define BENCH_TR(ctx, prog, frame, over)                                             \
	do {                                                                         \
		__u32 zero = 0;                                                      \
		__s32 *grown = bpf_map_lookup_elem(&bench_grown, &zero);             \
		if (!grown)                                                          \
			return XDP_ABORTED;                                          \
		if (bpf_xdp_adjust_head(ctx, *grown))                                \
			return XDP_ABORTED;                                          \
		int verdict = prog(ctx);                                             \
		void *d = (void *)(long)ctx->data;                                   \
		void *de = (void *)(long)ctx->data_end;                              \
		*grown = d + (frame) + (over) == de ? (__s32)(over) : 0;             \
		return verdict;                                                      \
	} while (0)

/* ---- NAT ----
 * NAT rewrites the frame in place (addresses, ports, checksums, a reply's
 * TTL), so each pass first writes the whole template back: the 54-byte copy
 * is part of these two variants' cost (not of the others'). */
struct vipd_bench_tmpl {
	__u8 b[BENCH_FRAME];
	__u8 _pad[2];
};

/* Written by the bench: 0 the client's frame to VIP:80, 1 the real server's
 * reply to it (10.253.26.1:8080 -> the client). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct vipd_bench_tmpl);
} bench_tmpl SEC(".maps");

static __always_inline int bench_restore(struct xdp_md *ctx, __u32 which)
{
	struct vipd_bench_tmpl *t = bpf_map_lookup_elem(&bench_tmpl, &which);
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (!t || data + BENCH_FRAME > data_end)
		return -1;
	__builtin_memcpy(data, t->b, BENCH_FRAME);
	return 0;
}

/* A client's packet of an established NAT connection: VIP:80 -> RIP:8080. */
static __always_inline int bench_director_nat_est(struct xdp_md *ctx)
{
	if (bench_restore(ctx, 0))
		return XDP_DROP;
	return vipd_director(ctx);
}

/* A real server's reply: RIP:8080 -> VIP:80 as its source, TTL - 1. */
static __always_inline int bench_director_nat_reply(struct xdp_md *ctx)
{
	if (bench_restore(ctx, 1))
		return XDP_DROP;
	return vipd_director(ctx);
}

/* Each variant's two entry points: vipd_bench_VARIANT for live frames and
 * vipd_bench_tr_VARIANT, behind BENCH_TR, for plain test runs; BENCH_ENTRY_POINTS
 * for the IPv4 templates, BENCH_ENTRY_POINTS6 for the IPv6 ones. */
#define BENCH_ENTRY_POINTS_LEN(variant, frame, over)                                 \
	SEC("xdp")                                                                   \
	int vipd_bench_##variant(struct xdp_md *ctx)                                 \
	{                                                                            \
		return bench_##variant(ctx);                                         \
	}                                                                            \
	SEC("xdp")                                                                   \
	int vipd_bench_tr_##variant(struct xdp_md *ctx)                              \
	{                                                                            \
		BENCH_TR(ctx, bench_##variant, frame, over);                         \
	}
#define BENCH_ENTRY_POINTS(variant)                                                  \
	BENCH_ENTRY_POINTS_LEN(variant, BENCH_FRAME, sizeof(struct iphdr))
#define BENCH_ENTRY_POINTS6(variant)                                                 \
	BENCH_ENTRY_POINTS_LEN(variant, BENCH_FRAME6, sizeof(struct ipv6hdr))

BENCH_ENTRY_POINTS(director_est)
BENCH_ENTRY_POINTS(director_new)
BENCH_ENTRY_POINTS(director_conn)
BENCH_ENTRY_POINTS(tx_bare)
BENCH_ENTRY_POINTS(tx_encap_bare)
BENCH_ENTRY_POINTS(director_nat_est)
BENCH_ENTRY_POINTS(director_nat_reply)
BENCH_ENTRY_POINTS6(director_est6)
BENCH_ENTRY_POINTS6(director_new6)

/* ---- `vipd datapath floor`: the cheapest TUN director, for `vipd compare` ----
 * What any IPIP director must do and nothing else: TCP to VIP:port (IPv4, no
 * options, no VLAN) goes to real server hash(client address, port) mod n,
 * encapsulated from the director's address, to a fixed next hop; everything else
 * passes. No connection table (a change of n moves connections), no counters, no
 * MSS clamp, no health: a measuring stick, never a load balancer. */
struct vipd_floor_cfg {
	__be32 vip;        /* virtual address                        */
	__be16 port;       /* virtual port                           */
	__u16 n;           /* real servers in rips (1..4)            */
	__be32 src;        /* outer source: the director's address   */
	__be32 rips[4];    /* real servers                           */
	__u8 dmac[6];      /* next hop's MAC                         */
	__u8 smac[6];      /* the interface's MAC                    */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vipd_floor_cfg);
} floor_cfg SEC(".maps");

SEC("xdp")
int vipd_floor_tun(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	__u32 zero = 0;
	struct vipd_floor_cfg *cfg = bpf_map_lookup_elem(&floor_cfg, &zero);
	if (!cfg || ip->daddr != cfg->vip || ip->protocol != IPPROTO_TCP ||
	    ((__u8 *)ip)[0] != 0x45 || tcp->dest != cfg->port || !cfg->n || cfg->n > 4)
		return XDP_PASS;
	__u32 h = vipd_fmix32(ip->saddr ^ ((__u32)tcp->source << 16));
	__be32 rip = cfg->rips[(h % cfg->n) & 3];
	__u8 tos = ip->tos;
	__be16 frag = ip->frag_off & bpf_htons(VIPD_IP_DF);
	__u32 len = bpf_ntohs(ip->tot_len);
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	struct iphdr *outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, cfg->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, cfg->smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	vipd_write_outer4(outer, tos, len, frag, 0, cfg->src, rip, IPPROTO_IPIP);
	return XDP_TX;
}

/* Kernel IP forwarding: restore the frame, XDP_PASS into the stack. */
SEC("xdp")
int vipd_bench_kernel_fwd(struct xdp_md *ctx)
{
	if (bench_restore_eth(ctx))
		return XDP_DROP;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	ip->ttl = 64; /* ip_forward decremented it in this page last time */
	ip->check = 0;
	ip->check = vipd_ipv4_csum(ip);
	return XDP_PASS;
}

/* The sink on the peer: count and drop. */
SEC("xdp")
int vipd_bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_sink, &zero);
	if (n)
		*n += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
