/* vipd_director.h: the director's logic, as one inline function so the production
 * entry point (director.bpf.c) and the benchmark entry points (bench.bpf.c) run
 * exactly the same code.
 *
 * parse -> VIP? (else XDP_PASS untouched) -> service -> connection table hit, or
 * persistence, or schedule from the control plane's table -> MSS clamp ->
 * bpf_fib_lookup -> TUN encapsulation or DR MAC rewrite -> XDP_TX / redirect. */
#ifndef VIPD_DIRECTOR_H
#define VIPD_DIRECTOR_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

#define __VIPD_BPF__
#include "vipd.h"
#include "vipd_maps.h"
#include "vipd_csum.h"
#include "vipd_parse.h"
#include "vipd_encap.h"

#define VIPD_NS 1000000000ULL
/* Refresh a connection's timestamp at most this often: saves a cache-line write
 * per packet of busy flows; timeouts are in seconds. */
#define VIPD_REFRESH_NS (VIPD_NS / 4)
/* Redo bpf_fib_lookup for a real server at least this often (per CPU). */
#define VIPD_NH_REFRESH_NS (VIPD_NS / 2)

/* ---- hashing (mirrors vipd_core::sched::hash) ---- */

#define VIPD_FLOW_HASH_SEED 0x5eed1b05

static __always_inline __u32 vipd_fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 vipd_flow_hash(const struct vipd_flow *f)
{
	__u32 h = vipd_fmix32(VIPD_FLOW_HASH_SEED ^ f->proto);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = vipd_fmix32(h ^ f->src.w[i]);
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = vipd_fmix32(h ^ f->dst.w[i]);
	return vipd_fmix32(h ^ (((__u32)f->sport << 16) | f->dport));
}

static __always_inline __u32 vipd_addr_hash(const struct vipd_addr *a)
{
	__u32 h = VIPD_FLOW_HASH_SEED;
#pragma unroll
	for (int i = 0; i < 4; i++)
		h = vipd_fmix32(h ^ a->w[i]);
	return h;
}

/* Hash of the client for sh/mh (mirrors sched::hash::client_hash): its
 * address, and its port with VIPD_SVC_F_HASH_PORT. */
static __always_inline __u32 vipd_client_hash(const struct vipd_flow *f, __u8 svc_flags)
{
	__u32 h = vipd_addr_hash(&f->src);
	return (svc_flags & VIPD_SVC_F_HASH_PORT) ? vipd_fmix32(h ^ f->sport) : h;
}

/* The `try`th rehash of `h` for a fallback (mirrors sched::hash::rehash). */
static __always_inline __u32 vipd_rehash(__u32 h, __u32 try)
{
	return vipd_fmix32(h ^ (try * 0x9e3779b9));
}

/* ---- the first test: is the destination a VIP? ---- */

/* Bucket of an IPv4 address in `vip4_filter` (mirrors vipd_core::plan::vip_bucket). */
static __always_inline __u32 vipd_vip_bucket(__be32 daddr)
{
	return vipd_fmix32(daddr ^ VIPD_FLOW_HASH_SEED) & (VIPD_VIP_BUCKETS - 1);
}

static __always_inline int vipd_is_vip4(__be32 daddr)
{
	__u32 b = vipd_vip_bucket(daddr);
	struct vipd_vip_bucket *vb = bpf_map_lookup_elem(&vip4_filter, &b);
	if (!vb || !daddr)
		return 0;
#pragma unroll
	for (int i = 0; i < VIPD_VIP_SLOTS; i++)
		if (vb->addr[i] == daddr)
			return 1;
	if (!vb->overflow)
		return 0;
	struct vipd_vip_key vk;
	__builtin_memset(&vk, 0, sizeof(vk));
	vk.addr.w[0] = daddr;
	vk.family = VIPD_AF_INET;
	return bpf_map_lookup_elem(&vips, &vk) != NULL;
}

/* Bucket of an IPv6 address in `vip6_filter` (mirrors
 * vipd_core::plan::vip_filter::vip6_bucket). */
static __always_inline __u32 vipd_vip6_bucket(const __be32 *a)
{
	return vipd_fmix32(a[0] ^ a[1] ^ a[2] ^ a[3] ^ VIPD_FLOW_HASH_SEED) & (VIPD_VIP_BUCKETS - 1);
}

/* Whether the IPv6 destination `a` (four words) is a VIP: the array filter,
 * then `vips` when its bucket overflowed (a hash lookup is a call: ~35 ns). */
static __always_inline int vipd_is_vip6(const __be32 *a)
{
	__u32 b = vipd_vip6_bucket(a);
	struct vipd_vip6_bucket *vb = bpf_map_lookup_elem(&vip6_filter, &b);
	if (!vb)
		return 0;
#pragma unroll
	for (int i = 0; i < VIPD_VIP6_SLOTS; i++) {
		const __be32 *s = vb->addr[i].w;
		if (((s[0] ^ a[0]) | (s[1] ^ a[1]) | (s[2] ^ a[2]) | (s[3] ^ a[3])) == 0 &&
		    (a[0] | a[1] | a[2] | a[3]))
			return 1;
	}
	if (!vb->overflow)
		return 0;
	struct vipd_vip_key vk;
	__builtin_memset(&vk, 0, sizeof(vk));
	__builtin_memcpy(vk.addr.w, a, 16);
	vk.family = VIPD_AF_INET6;
	return bpf_map_lookup_elem(&vips, &vk) != NULL;
}

/* ---- the clock ---- */

/* now - then, or 0 when `then` is ahead of `now`. Timestamps are written by every
 * CPU, each with its own reading of the coarse clock, and a CPU's reading can
 * trail another's by up to a tick (jiffies and the coarse clock do not move
 * together): an unsigned `now - then` would wrap to 2^64 and call a live
 * connection expired, sending its next packet to another real server. */
static __always_inline __u64 vipd_age(__u64 now, __u64 then)
{
	return (__s64)(now - then) < 0 ? 0 : now - then;
}

/* CLOCK_MONOTONIC_COARSE in ns (as bpf_ktime_get_coarse_ns()), read through the
 * per-CPU `clock`: bpf_jiffies64() is inlined by the verifier, the helper call
 * happens once per tick and CPU. */
static __always_inline __u64 vipd_now(void)
{
	__u32 zero = 0;
	struct vipd_clock *ck = bpf_map_lookup_elem(&clock, &zero);
	if (!ck)
		return bpf_ktime_get_coarse_ns();
	__u64 j = bpf_jiffies64();
	if (ck->jiffies != j || !ck->ns) {
		ck->ns = bpf_ktime_get_coarse_ns();
		ck->jiffies = j;
	}
	return ck->ns;
}

/* ---- the per-CPU flow cache in front of the connection table ---- */

/* Slot of a flow: two mixing rounds instead of vipd_flow_hash's ten, since it
 * runs on every packet and a collision only costs a table lookup. */
static __always_inline __u32 vipd_flow_cache_slot(const struct vipd_flow *f)
{
	__u32 h = f->src.w[0] ^ f->src.w[1] ^ f->src.w[2] ^ f->src.w[3];
	h = vipd_fmix32(h ^ (((__u32)f->sport << 16) | f->dport));
	h ^= f->dst.w[0] ^ f->dst.w[1] ^ f->dst.w[2] ^ f->dst.w[3] ^ f->proto;
	return vipd_fmix32(h) & (VIPD_FLOW_CACHE - 1);
}

static __always_inline int vipd_flow_eq(const struct vipd_flow *a, const struct vipd_flow *b)
{
	const __u32 *x = (const __u32 *)a;
	const __u32 *y = (const __u32 *)b;
	__u32 diff = 0;
#pragma unroll
	for (int i = 0; i < (int)(sizeof(struct vipd_flow) / 4); i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* Packets that may change a connection's state never use the cache. */
static __always_inline int vipd_flow_cacheable(const struct vipd_pkt *pkt)
{
	return !pkt->frag && !pkt->icmp_err &&
	       !(pkt->tcp_flags & (VIPD_TCP_SYN | VIPD_TCP_FIN | VIPD_TCP_RST));
}

/* ---- connection accounting ---- */

static __always_inline int vipd_state_active(__u8 state)
{
	return state == VIPD_CONN_ESTABLISHED;
}

static __always_inline void vipd_conns_add(__u32 dest, __u8 state, int delta)
{
	struct vipd_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &dest);
	if (!c)
		return;
	if (vipd_state_active(state))
		__sync_fetch_and_add(&c->active, delta);
	else
		__sync_fetch_and_add(&c->inactive, delta);
}

static __always_inline __u64 vipd_timeout_ns(const struct vipd_config *cfg, __u8 state)
{
	__u32 s;
	switch (state) {
	case VIPD_CONN_ESTABLISHED:
		s = cfg->tcp_timeout;
		break;
	case VIPD_CONN_SYN:
		s = cfg->tcp_syn_timeout;
		break;
	case VIPD_CONN_FIN:
		s = cfg->tcp_fin_timeout;
		break;
	case VIPD_CONN_CLOSE:
		s = cfg->tcp_close_timeout;
		break;
	default:
		s = cfg->udp_timeout;
	}
	return (__u64)s * VIPD_NS;
}

/* State of a connection first seen with this packet. */
static __always_inline __u8 vipd_new_state(const struct vipd_pkt *pkt)
{
	if (pkt->frag)
		return VIPD_CONN_FRAG;
	if (pkt->flow.proto != IPPROTO_TCP)
		return VIPD_CONN_UDP;
	if (pkt->tcp_flags & VIPD_TCP_RST)
		return VIPD_CONN_CLOSE;
	if (pkt->tcp_flags & VIPD_TCP_FIN)
		return VIPD_CONN_FIN;
	if (pkt->tcp_flags & VIPD_TCP_SYN)
		return VIPD_CONN_SYN;
	return VIPD_CONN_ESTABLISHED; /* mid-flow pickup (e.g. after failover) */
}

/* Next state of a known TCP connection, as seen from the client side. */
static __always_inline __u8 vipd_next_state(__u8 state, __u8 flags)
{
	if (state == VIPD_CONN_UDP || state == VIPD_CONN_FRAG)
		return state;
	if (flags & VIPD_TCP_RST)
		return VIPD_CONN_CLOSE;
	if (flags & VIPD_TCP_FIN)
		return VIPD_CONN_FIN;
	if (state == VIPD_CONN_SYN && (flags & VIPD_TCP_ACK) && !(flags & VIPD_TCP_SYN))
		return VIPD_CONN_ESTABLISHED;
	return state;
}

static __always_inline struct vipd_dest *vipd_dest_ok(__u32 id, __u32 svc_id, int check_svc)
{
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &id);
	if (!d || !(d->flags & VIPD_DEST_F_LIVE))
		return NULL;
	if (check_svc && d->svc_id != svc_id)
		return NULL;
	return d;
}

/* ---- scheduling: only table lookups, the control plane built the tables ---- */

static __always_inline int vipd_least_conn(const struct vipd_svc *svc, __u32 base, __u32 len,
					   __u32 *out)
{
	__u64 boh = 0, bw = 0;
	int found = 0;
	for (int i = 0; i < VIPD_LC_MAX; i++) {
		if (i >= len)
			break;
		__u32 k = base + i;
		__u32 *id = bpf_map_lookup_elem(&rings, &k);
		if (!id)
			break;
		__u32 dest = *id;
		struct vipd_dest *d = bpf_map_lookup_elem(&dests, &dest);
		if (!d || !(d->flags & VIPD_DEST_F_LIVE) || d->weight == 0)
			continue;
		struct vipd_dest_conns *c = bpf_map_lookup_elem(&dest_conns, &dest);
		if (!c)
			continue;
		/* Races with the control plane's correction may briefly underflow. */
		__u64 active = c->active > 0x7fffffff ? 0 : c->active;
		__u64 inactive = c->inactive > 0x7fffffff ? 0 : c->inactive;
		if (svc->sched == VIPD_SCHED_NQ && active == 0) {
			*out = dest;
			return 0;
		}
		if (svc->sched == VIPD_SCHED_OVF) {
			/* IPVS's ovf: the heaviest real not over its weight in active
			 * connections, the first of them on a tie. */
			if (active > d->weight || (found && d->weight <= bw))
				continue;
			found = 1;
			bw = d->weight;
			*out = dest;
			continue;
		}
		__u64 oh, w;
		if (svc->sched == VIPD_SCHED_SED || svc->sched == VIPD_SCHED_NQ)
			oh = active + 1;
		else
			oh = active * 256 + inactive;
		w = svc->sched == VIPD_SCHED_LC ? 1 : d->weight;
		if (!found || oh * bw < boh * w) {
			found = 1;
			boh = oh;
			bw = w;
			*out = dest;
		}
	}
	return found ? 0 : -1;
}

/* Whether real server `id` takes new connections (IPVS: not is_unavailable). */
static __always_inline int vipd_dest_available(__u32 id)
{
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &id);
	return d && (d->flags & VIPD_DEST_F_LIVE) && d->weight > 0;
}

/* sh / mh: the table entry of the client's hash. A quiesced or overloaded real
 * keeps its entries (the other clients stay where they are); its clients get
 * no real server, or with sh-fallback / mh-fallback the first available one
 * along their rehashes, as IPVS does. */
static __always_inline int vipd_hash_pick(const struct vipd_svc *svc, __u32 base, __u32 len,
					  const struct vipd_flow *flow, __u32 *out)
{
	__u32 h = vipd_client_hash(flow, svc->flags);
	for (__u32 try = 0; try <= VIPD_FALLBACK_TRIES; try++) {
		__u32 k = base + (try ? vipd_rehash(h, try) : h) % len;
		__u32 *id = bpf_map_lookup_elem(&rings, &k);
		if (!id)
			return -1;
		if (vipd_dest_available(*id)) {
			*out = *id;
			return 0;
		}
		if (!(svc->flags & VIPD_SVC_F_FALLBACK))
			return -1;
	}
	return -1;
}

static __always_inline int vipd_schedule(const struct vipd_svc *svc, const struct vipd_flow *flow,
					 __u32 *out)
{
	__u32 len = svc->ring_len;
	if (len == 0 || len > VIPD_RING_SIZE)
		return -1;
	__u32 base = (svc->id * 2 + (svc->gen & 1)) * VIPD_RING_SIZE;
	__u32 pos;
	switch (svc->sched) {
	case VIPD_SCHED_RR:
	case VIPD_SCHED_WRR: {
		__u32 id = svc->id;
		__u64 *cur = bpf_map_lookup_elem(&rr_cursor, &id);
		if (!cur)
			return -1;
		pos = __sync_fetch_and_add(cur, 1) % len;
		break;
	}
	case VIPD_SCHED_DH:
		pos = vipd_addr_hash(&flow->dst) % len;
		break;
	case VIPD_SCHED_SH:
	case VIPD_SCHED_MH:
		return vipd_hash_pick(svc, base, len, flow, out);
	case VIPD_SCHED_LC:
	case VIPD_SCHED_WLC:
	case VIPD_SCHED_SED:
	case VIPD_SCHED_NQ:
	case VIPD_SCHED_OVF:
		return vipd_least_conn(svc, base, len, out);
	default:
		return -1;
	}
	__u32 k = base + pos;
	__u32 *id = bpf_map_lookup_elem(&rings, &k);
	if (!id)
		return -1;
	*out = *id;
	return 0;
}

/* ---- next hop: bpf_fib_lookup, cached per CPU and real server ---- */

/* Looks up the route and neighbour towards real server `dest_id` (IPv4 or
 * IPv6) and caches them in `nexthops`. Returns 0, or the drop reason. A global
 * function: verified once, on its own. */
__noinline int vipd_nexthop_refresh(struct xdp_md *ctx, __u32 dest_id, __u32 tos, __u64 now)
{
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &dest_id);
	struct vipd_nexthop *nh = bpf_map_lookup_elem(&nexthops, &dest_id);
	if (!d || !nh)
		return VIPD_DROP_BAD_DEST;
	__u8 fwd = d->fwd;
	int v6 = d->family == VIPD_AF_INET6;
	struct vipd_addr rip = d->rip;
	struct bpf_fib_lookup fib;
	/* First the route MTU: a length no route takes returns it as mtu_result. */
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = v6 ? AF_INET6 : AF_INET;
	fib.l4_protocol = fwd == VIPD_FWD_TUN ? IPPROTO_IPIP : IPPROTO_TCP;
	fib.ifindex = ctx->ingress_ifindex;
	if (v6) {
		__builtin_memcpy(fib.ipv6_dst, rip.w, 16);
	} else {
		fib.tos = tos & 0xff;
		fib.ipv4_dst = rip.w[0];
	}
	fib.tot_len = 0xffff;
	long r = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	__u16 mtu = r == BPF_FIB_LKUP_RET_FRAG_NEEDED ? fib.mtu_result : 0xffff;
	/* Then the next hop itself (the lookup overwrote its input). */
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = v6 ? AF_INET6 : AF_INET;
	fib.l4_protocol = fwd == VIPD_FWD_TUN ? IPPROTO_IPIP : IPPROTO_TCP;
	fib.ifindex = ctx->ingress_ifindex;
	if (v6) {
		__builtin_memcpy(fib.ipv6_dst, rip.w, 16);
	} else {
		fib.tos = tos & 0xff;
		fib.ipv4_dst = rip.w[0];
	}
	r = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (r == BPF_FIB_LKUP_RET_NO_NEIGH)
		return VIPD_DROP_NO_NEIGH;
	if (r != BPF_FIB_LKUP_RET_SUCCESS)
		return VIPD_DROP_NO_ROUTE;
	struct vipd_addr src;
	__builtin_memset(&src, 0, sizeof(src));
	if (fwd == VIPD_FWD_TUN) {
		__u32 oif = fib.ifindex;
		struct vipd_addr *a = bpf_map_lookup_elem(v6 ? (void *)&ifaddrs6 : (void *)&ifaddrs,
							  &oif);
		if (!a)
			return VIPD_DROP_NO_SRC;
		src = *a;
	}
	nh->rip = rip;
	nh->src = src;
	nh->ifindex = fib.ifindex;
	nh->mtu = mtu;
	nh->fwd = fwd;
	nh->family = d->family;
	__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
	__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
	nh->stamp_ns = now;
	return 0;
}

static __always_inline int vipd_addr_eq(const struct vipd_addr *a, const struct vipd_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
		(a->w[3] ^ b->w[3])) == 0;
}

/* ---- NAT (masquerading) ---- */

/* Decrements the TTL of a packet the director forwards (as the kernel would),
 * updating `*check`; 1 when it runs out (the kernel answers). */
static __always_inline int vipd_ttl_dec(struct iphdr *ip, __u16 *check)
{
	if (ip->ttl <= 1)
		return 1;
	__u16 *ttl_proto = (__u16 *)((void *)ip + 8);
	__u16 old_w = *ttl_proto;
	ip->ttl--;
	*check = vipd_csum_replace2(*check, old_w, *ttl_proto);
	return 0;
}

/* Rewrites the destination (`dst`: a client's packet, which IPVS sends from
 * the director itself, TTL unchanged) or the source (a reply, which IPVS
 * forwards: TTL decremented) address and port of the IPv4 packet at
 * data + l2len to `naddr`:`nport`, with the IPv4 and TCP/UDP checksums
 * updated incrementally (RFC 1624; a UDP checksum of 0 stays 0: none). Later
 * fragments have no ports. Returns 0, 1 when a reply's TTL runs out (the
 * kernel answers), -1 when malformed. */
static __always_inline int vipd_nat_rewrite(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					    int dst, __be32 naddr, __be16 nport)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (pkt->l2len & 0x1f);
	if ((void *)(ip + 1) > data_end)
		return -1;
	__u16 check = ip->check;
	if (!dst && vipd_ttl_dec(ip, &check))
		return 1;
	__be32 oaddr = dst ? ip->daddr : ip->saddr;
	if (dst)
		ip->daddr = naddr;
	else
		ip->saddr = naddr;
	ip->check = vipd_csum_replace4(check, oaddr, naddr);
	if (pkt->later_frag)
		return 0;
	void *l4 = (void *)ip + (pkt->l3len & 0x3c);
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) > data_end)
			return -1;
		__be16 *port = dst ? &t->dest : &t->source;
		__be16 oport = *port;
		*port = nport;
		__u16 c = vipd_csum_replace4(t->check, oaddr, naddr);
		t->check = vipd_csum_replace2(c, oport, nport);
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *u = l4;
		if ((void *)(u + 1) > data_end)
			return -1;
		__be16 *port = dst ? &u->dest : &u->source;
		__be16 oport = *port;
		*port = nport;
		if (u->check) {
			__u16 c = vipd_csum_replace4(u->check, oaddr, naddr);
			c = vipd_csum_replace2(c, oport, nport);
			u->check = c ? c : 0xffff;
		}
	}
	return 0;
}

/* NAT of an ICMP error about a NAT connection (IPVS's ip_vs_nat_icmp): `fwd`,
 * a client's error about what it got from the VIP: the outer destination and
 * the quoted source address and port become the real server's; else a real
 * server's (or a router's on its side) error about what the client sent it:
 * the outer source and the quoted destination become the VIP's, TTL - 1. The
 * outer and quoted IPv4 checksums and the ICMP checksum are updated
 * incrementally; the quoted (often truncated) TCP/UDP checksum is left as it
 * is, as IPVS does. Returns 0, 1 when the TTL runs out, -1 when malformed. */
static __always_inline int vipd_nat_icmp(struct xdp_md *ctx, const struct vipd_pkt *pkt, int fwd,
					 __be32 naddr, __be16 nport)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (pkt->l2len & 0x1f);
	if ((void *)(ip + 1) > data_end)
		return -1;
	__u8 *icmp = (void *)ip + (pkt->l3len & 0x3c);
	if ((void *)(icmp + 8) > data_end)
		return -1;
	struct iphdr *in = (void *)(icmp + 8);
	if ((void *)(in + 1) > data_end)
		return -1;
	__be16 *ports = (void *)in + ((in->ihl * 4) & 0x3c);
	if ((void *)(ports + 2) > data_end)
		return -1;
	__u16 check = ip->check;
	if (!fwd && vipd_ttl_dec(ip, &check))
		return 1;
	__be32 *outer = fwd ? &ip->daddr : &ip->saddr;
	__be32 oo = *outer;
	*outer = naddr;
	ip->check = vipd_csum_replace4(check, oo, naddr);
	__be32 *qaddr = fwd ? &in->saddr : &in->daddr;
	__be16 *qport = fwd ? &ports[0] : &ports[1];
	__be32 oq = *qaddr;
	__be16 oport = *qport;
	__u16 oqcheck = in->check;
	*qaddr = naddr;
	in->check = vipd_csum_replace4(oqcheck, oq, naddr);
	*qport = nport;
	__u16 *icheck = (__u16 *)(icmp + 2);
	__u16 c = vipd_csum_replace4(*icheck, oq, naddr);
	c = vipd_csum_replace2(c, oqcheck, in->check);
	*icheck = vipd_csum_replace2(c, oport, nport);
	return 0;
}

/* A translated NAT reply (either family) leaves for the client's next hop
 * `fib` found: L2 written, counted, XDP_TX or a redirect. */
static __always_inline int vipd_nat_out(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					const struct bpf_fib_lookup *fib, __u32 svc, __u32 dest)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (!vipd_write_l2(data, data_end, fib->dmac, fib->smac, pkt))
		return XDP_DROP;
	struct vipd_stats *s = bpf_map_lookup_elem(&svc_stats, &svc);
	if (s) {
		s->out_packets++;
		s->out_bytes += pkt->tot_len;
	}
	s = bpf_map_lookup_elem(&dest_stats, &dest);
	if (s) {
		s->out_packets++;
		s->out_bytes += pkt->tot_len;
	}
	vipd_count(VIPD_EV_NAT_OUT);
	if (fib->ifindex == ctx->ingress_ifindex || pkt->vlan_proto)
		return XDP_TX;
	vipd_count(VIPD_EV_REDIRECT);
	return bpf_redirect(fib->ifindex, 0);
}

/* Whether `flag` (VIPD_CFG_F_*) is set in the data plane's settings: a
 * service has `ops` (UDP looks its service up first), or some real server is
 * NAT (a packet not for a VIP may be a reply to translate). */
static __always_inline int vipd_cfg_flag(__u32 flag)
{
	__u32 zero = 0;
	struct vipd_config *cfg = bpf_map_lookup_elem(&config, &zero);
	return cfg && (cfg->flags & flag);
}

/* Remembers how to translate the replies of a NAT connection: the reply flow
 * (real server -> client) -> VIP:vport. Written when missing or stale. */
static __always_inline void vipd_nat_remember(const struct vipd_pkt *pkt,
					      const struct vipd_addr *rip, __be16 rport,
					      __be16 vport, __u32 svc, __u32 dest)
{
	struct vipd_flow rev;
	__builtin_memset(&rev, 0, sizeof(rev));
	rev.src = *rip;
	rev.dst = pkt->flow.src;
	rev.sport = rport;
	rev.dport = pkt->flow.sport;
	rev.proto = pkt->flow.proto;
	rev.family = pkt->flow.family;
	struct vipd_nat_rev *old = bpf_map_lookup_elem(&nat_rev, &rev);
	if (old && old->dest == dest && vipd_addr_eq(&old->vip, &pkt->flow.dst) &&
	    old->vport == vport)
		return;
	struct vipd_nat_rev v;
	__builtin_memset(&v, 0, sizeof(v));
	v.vip = pkt->flow.dst;
	v.vport = vport;
	v.svc = svc;
	v.dest = dest;
	bpf_map_update_elem(&nat_rev, &rev, &v, BPF_ANY);
}

/* How long a NAT reply's first fragment vouches for its later ones (Linux
 * gives up reassembling after 30 s, ipfrag_time). */
#define VIPD_NAT_FRAG_NS (30ULL * 1000000000ULL)

/* A packet not for a VIP, while some real server is NAT: a reply of a NAT
 * connection gets the VIP:vport back as its source and goes to the client
 * by the routing table; anything else is the kernel's. */
static __noinline int vipd_nat_reply(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vipd_pkt pkt;
	__builtin_memset(&pkt, 0, sizeof(pkt));
	struct iphdr *ip = vipd_parse_l2(data, data_end, &pkt);
	if (!ip)
		return XDP_PASS;
	int icmp_err = 0;
	if (ip->protocol == IPPROTO_ICMP) {
		/* An error about what the client sent a real server: the quoted
		 * packet is client -> RIP:rport, its reply flow the key. */
		if (ip->version != 4 || ip->ihl < 5 || (ip->frag_off & bpf_htons(VIPD_IP_MF | VIPD_IP_OFFSET)))
			return XDP_PASS;
		__u32 l3len = ip->ihl * 4;
		__u8 *icmp = (void *)ip + (l3len & 0x3c);
		if ((void *)(icmp + 8) > data_end || (icmp[0] != 3 && icmp[0] != 11))
			return XDP_PASS;
		struct iphdr *in = (void *)(icmp + 8);
		if ((void *)(in + 1) > data_end || in->ihl < 5)
			return XDP_PASS;
		__be16 *ports = (void *)in + ((in->ihl * 4) & 0x3c);
		if ((void *)(ports + 2) > data_end)
			return XDP_PASS;
		pkt.l3len = l3len;
		pkt.tot_len = bpf_ntohs(ip->tot_len);
		pkt.tos = ip->tos;
		pkt.flow.family = VIPD_AF_INET;
		pkt.flow.proto = in->protocol;
		pkt.flow.src.w[0] = in->daddr;
		pkt.flow.dst.w[0] = in->saddr;
		pkt.flow.sport = ports[1];
		pkt.flow.dport = ports[0];
		icmp_err = 1;
	} else {
		__u32 reason = 0;
		if (vipd_parse_l3l4(data, data_end, ip, &pkt, &reason) != VIPD_PARSE_OK)
			return XDP_PASS;
	}
	__be32 vip;
	__be16 vport = 0;
	__u32 svc, dest;
	struct vipd_nat_frag_key fk;
	__builtin_memset(&fk, 0, sizeof(fk));
	if (pkt.frag && !icmp_err) {
		fk.src = ip->saddr;
		fk.dst = ip->daddr;
		fk.id = ip->id;
		fk.proto = ip->protocol;
	}
	if (pkt.later_frag) {
		/* No ports: what its datagram's first fragment left. A later
		 * fragment that overtook the first is the kernel's (the client's
		 * reassembly fails and it asks again). */
		struct vipd_nat_frag *f = bpf_map_lookup_elem(&nat_frag, &fk);
		if (!f || vipd_age(vipd_now(), f->at_ns) > VIPD_NAT_FRAG_NS) {
			vipd_count(VIPD_EV_NAT_PASS);
			return XDP_PASS;
		}
		vip = f->vip;
		svc = f->svc;
		dest = f->dest;
	} else {
		struct vipd_nat_rev *nr = bpf_map_lookup_elem(&nat_rev, &pkt.flow);
		if (!nr)
			return XDP_PASS;
		vip = nr->vip.w[0];
		vport = nr->vport;
		svc = nr->svc;
		dest = nr->dest;
	}
	struct bpf_fib_lookup fib;
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET;
	fib.tos = pkt.tos;
	fib.l4_protocol = pkt.flow.proto;
	fib.tot_len = pkt.tot_len;
	fib.ifindex = ctx->ingress_ifindex;
	fib.ipv4_src = vip;
	fib.ipv4_dst = pkt.flow.dst.w[0];
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
		vipd_count(VIPD_EV_NAT_PASS);
		return XDP_PASS;
	}
	/* A first fragment that goes on leaves its later fragments the VIP. */
	if (pkt.frag && !pkt.later_frag && !icmp_err && ip->ttl > 1) {
		struct vipd_nat_frag f = {.vip = vip, .svc = svc, .dest = dest, .at_ns = vipd_now()};
		bpf_map_update_elem(&nat_frag, &fk, &f, BPF_ANY);
	}
	int r = icmp_err ? vipd_nat_icmp(ctx, &pkt, 0, vip, vport)
			 : vipd_nat_rewrite(ctx, &pkt, 0, vip, vport);
	if (r) {
		vipd_count(r > 0 ? VIPD_EV_NAT_PASS : VIPD_DROP_BAD_IP);
		return r > 0 ? XDP_PASS : XDP_DROP;
	}
	return vipd_nat_out(ctx, &pkt, &fib, svc, dest);
}

/* Rewrites the destination (`dst`: a client's packet, hop limit unchanged)
 * or the source (a reply, which the director forwards: hop limit - 1) address
 * and port of the IPv6 packet at data + l2len to `naddr`:`nport`, the TCP/UDP
 * checksum updated incrementally (its pseudo-header holds the addresses; IPv6
 * has no header checksum). Later fragments have no ports and no checksum.
 * Returns 0, 1 when a reply's hop limit runs out (the kernel answers), -1
 * when malformed. */
static __always_inline int vipd_nat6_rewrite(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					     int dst, const struct vipd_addr *naddr, __be16 nport)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + (pkt->l2len & 0x1f);
	if ((void *)(ip6 + 1) > data_end)
		return -1;
	if (!dst) {
		if (ip6->hop_limit <= 1)
			return 1;
		ip6->hop_limit--;
	}
	__be32 *a = dst ? (__be32 *)&ip6->daddr : (__be32 *)&ip6->saddr;
	__be32 old[4];
#pragma unroll
	for (int i = 0; i < 4; i++) {
		old[i] = a[i];
		a[i] = naddr->w[i];
	}
	if (pkt->later_frag)
		return 0;
	void *l4 = (void *)ip6 + (pkt->l3len & 0x3ff);
	__u16 *check;
	__be16 *port;
	if (pkt->flow.proto == IPPROTO_TCP) {
		struct tcphdr *t = l4;
		if ((void *)(t + 1) > data_end)
			return -1;
		check = &t->check;
		port = dst ? &t->dest : &t->source;
	} else {
		struct udphdr *u = l4;
		if ((void *)(u + 1) > data_end)
			return -1;
		check = &u->check;
		port = dst ? &u->dest : &u->source;
	}
	__u16 c = *check;
	__be16 oport = *port;
	*port = nport;
	/* A UDP checksum of 0 (none: RFC 6935 tunnels) stays 0. */
	if (!c && pkt->flow.proto == IPPROTO_UDP)
		return 0;
#pragma unroll
	for (int i = 0; i < 4; i++)
		c = vipd_csum_replace4(c, old[i], naddr->w[i]);
	c = vipd_csum_replace2(c, oport, nport);
	/* A computed UDP checksum of 0 is sent as 0xffff (0 means none). */
	*check = (c || pkt->flow.proto == IPPROTO_TCP) ? c : 0xffff;
	return 0;
}

/* NAT of an ICMPv6 error about a NAT connection from the client's side (a
 * router on the way back telling the VIP that its reply was too big...): the
 * outer destination and the quoted source address and port become the real
 * server's, as IPVS does; the ICMPv6 checksum (its pseudo-header holds the
 * outer addresses) updated incrementally, the quoted transport checksum left
 * as it is. 0, or -1 when malformed. */
static __always_inline int vipd_nat6_icmp(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					  const struct vipd_addr *naddr, __be16 nport)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + (pkt->l2len & 0x1f);
	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__u8 *icmp = (void *)ip6 + (pkt->l3len & 0x3ff);
	struct ipv6hdr *in = (void *)(icmp + 8);
	__be16 *ports = (void *)(in + 1);
	if ((void *)(ports + 2) > data_end)
		return -1;
	__be32 *outer = (__be32 *)&ip6->daddr;
	__be32 *quoted = (__be32 *)&in->saddr;
	__u16 *check = (__u16 *)(icmp + 2);
	__u16 c = *check;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		c = vipd_csum_replace4(c, outer[i], naddr->w[i]);
		outer[i] = naddr->w[i];
		c = vipd_csum_replace4(c, quoted[i], naddr->w[i]);
		quoted[i] = naddr->w[i];
	}
	c = vipd_csum_replace2(c, ports[0], nport);
	ports[0] = nport;
	*check = c;
	return 0;
}

/* NAT of a client's IPv6 packet to real server `dest_id`: RIP:rport as its
 * destination (a port-0 service keeps the client's port), and the reply's
 * translation remembered (not on flow-cache hits: the table was read less
 * than VIPD_REFRESH_NS ago). A global function: its stack is its own, the
 * IPv6 path's chain of calls stays within BPF's 512 bytes. 0, or -1. */
__noinline int vipd_nat6_forward(struct xdp_md *ctx, const struct vipd_pkt *pkt, __u32 dest_id,
				 __u32 dport, __u32 cached)
{
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &dest_id);
	if (!pkt || !d)
		return -1;
	__be16 rport = d->port ? d->port : (__be16)dport;
	if (pkt->icmp_err)
		return vipd_nat6_icmp(ctx, pkt, &d->rip, rport);
	if (vipd_nat6_rewrite(ctx, pkt, 1, &d->rip, rport))
		return -1;
	if (!pkt->frag && !cached)
		vipd_nat_remember(pkt, &d->rip, rport, (__be16)dport, d->svc_id, dest_id);
	return 0;
}

/* An IPv6 packet not for a VIP, while some real server is NAT: a reply of an
 * IPv6 NAT connection gets the VIP:vport back as its source and goes to the
 * client by the routing table; anything else is the kernel's. Fragmented
 * replies (a first fragment of a NAT connection is counted in nat_pass) and
 * ICMPv6 errors from the real servers' side are the kernel's too (not
 * translated: see docs/DATAPATH.md). A global function, verified on its own. */
__noinline int vipd_nat_reply6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vipd_pkt pkt;
	__builtin_memset(&pkt, 0, sizeof(pkt));
	__be16 proto = 0;
	struct ipv6hdr *ip6 = vipd_parse_eth(data, data_end, &pkt, &proto);
	if (!ip6 || proto != bpf_htons(VIPD_ETH_P_IPV6) || (void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	__u32 reason = 0;
	if (vipd_parse6(data, data_end, ip6, &pkt, &reason) != VIPD_PARSE_OK || pkt.icmp_err ||
	    pkt.later_frag)
		return XDP_PASS;
	struct vipd_nat_rev *nr = bpf_map_lookup_elem(&nat_rev, &pkt.flow);
	if (!nr)
		return XDP_PASS;
	if (pkt.frag) {
		vipd_count(VIPD_EV_NAT_PASS);
		return XDP_PASS;
	}
	struct vipd_addr vip = nr->vip;
	__be16 vport = nr->vport;
	__u32 svc = nr->svc;
	__u32 dest = nr->dest;
	struct bpf_fib_lookup fib;
	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET6;
	fib.l4_protocol = pkt.flow.proto;
	fib.tot_len = pkt.tot_len;
	fib.ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(fib.ipv6_src, vip.w, 16);
	__builtin_memcpy(fib.ipv6_dst, pkt.flow.dst.w, 16);
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
		vipd_count(VIPD_EV_NAT_PASS);
		return XDP_PASS;
	}
	int r = vipd_nat6_rewrite(ctx, &pkt, 0, &vip, vport);
	if (r) {
		vipd_count(r > 0 ? VIPD_EV_NAT_PASS : VIPD_DROP_BAD_IP);
		return r > 0 ? XDP_PASS : XDP_DROP;
	}
	return vipd_nat_out(ctx, &pkt, &fib, svc, dest);
}

/* ---- the director ---- */

static __always_inline int vipd_drop(__u32 reason)
{
	vipd_count(reason);
	return XDP_DROP;
}

static __always_inline void vipd_account(__u32 svc_id, __u32 dest, __u32 bytes, int new_conn)
{
	struct vipd_stats *s = bpf_map_lookup_elem(&svc_stats, &svc_id);
	if (s) {
		s->packets++;
		s->bytes += bytes;
		s->conns += new_conn;
	}
	s = bpf_map_lookup_elem(&dest_stats, &dest);
	if (s) {
		s->packets++;
		s->bytes += bytes;
		s->conns += new_conn;
	}
}

/* Shares a connection that just became established with the other directors
 * (when sharing is on): one ring-buffer record, lost (and counted) if the
 * daemon has fallen behind. Only promoted entries are shared, so a SYN flood,
 * whose entries never complete a handshake, costs the sharing nothing. */
static __always_inline void vipd_sync_emit(const struct vipd_config *cfg,
					   const struct vipd_flow *flow, __u32 dest, __u16 svc,
					   __u8 state)
{
	if (!(cfg->flags & VIPD_CFG_F_SYNC))
		return;
	struct vipd_sync_event ev;
	__builtin_memset(&ev, 0, sizeof(ev));
	ev.flow = *flow;
	ev.dest = dest;
	ev.svc = svc;
	ev.state = state;
	if (bpf_ringbuf_output(&sync_ring, &ev, sizeof(ev), 0))
		vipd_count(VIPD_EV_SYNC_LOST);
	else
		vipd_count(VIPD_EV_SYNC_SENT);
}

/* The half-open table's answer for a packet the connection table does not
 * know: 1 and *dest_out on a hit, 0 on a miss (a stale entry is removed). The
 * ACK that completes the handshake, or the second packet of a UDP flow or of a
 * TCP flow picked up mid-way, promotes the entry to `conns`; a SYN retransmit,
 * a FIN or RST before that keeps it here. */
static __always_inline int vipd_half_open_hit(const struct vipd_pkt *pkt,
					      const struct vipd_config *cfg, __u64 now,
					      __u32 *dest_out)
{
	struct vipd_conn *h = bpf_map_lookup_elem(&half_open, &pkt->flow);
	if (!h)
		return 0;
	__u8 state = h->state;
	__u32 dest = h->dest;
	__u16 svc = h->svc;
	int reuse = (pkt->tcp_flags & (VIPD_TCP_SYN | VIPD_TCP_ACK)) == VIPD_TCP_SYN &&
		    (state == VIPD_CONN_FIN || state == VIPD_CONN_CLOSE);
	if (reuse || vipd_age(now, h->last_ns) > vipd_timeout_ns(cfg, state) ||
	    !vipd_dest_ok(dest, svc, 1)) {
		vipd_conns_add(dest, state, -1);
		bpf_map_delete_elem(&half_open, &pkt->flow);
		vipd_count(VIPD_EV_HALF_OPEN_STALE);
		return 0;
	}
	__u8 next = vipd_next_state(state, pkt->tcp_flags);
	int promote = !pkt->frag && !(pkt->tcp_flags & (VIPD_TCP_SYN | VIPD_TCP_RST)) &&
		      (next == VIPD_CONN_ESTABLISHED || next == VIPD_CONN_UDP);
	if (promote) {
		struct vipd_conn nc = {.last_ns = now, .dest = dest, .state = next, .svc = svc};
		bpf_map_update_elem(&conns, &pkt->flow, &nc, BPF_ANY);
		bpf_map_delete_elem(&half_open, &pkt->flow);
		vipd_count(VIPD_EV_PROMOTED);
		vipd_sync_emit(cfg, &pkt->flow, dest, svc, next);
	} else {
		h->state = next;
		h->last_ns = now;
	}
	if (next != state) {
		vipd_conns_add(dest, state, -1);
		vipd_conns_add(dest, next, 1);
	}
	vipd_count(VIPD_EV_CONN_HIT);
	*dest_out = dest;
	return 1;
}

/* The connection tables' answer for this packet: 1 and *dest_out on a hit
 * (state and counts updated), 0 on a miss (a stale entry is removed). No
 * service lookup: the entry names its service. `fc`, the packet's flow-cache
 * slot (or NULL), is filled with an established connection and emptied of one
 * that is not (any more). `conns` first (every packet of an established
 * connection), then `half_open`. */
static __always_inline int vipd_conn_hit(const struct vipd_pkt *pkt, __u64 now,
					 struct vipd_flow_cache *fc, __u32 *dest_out)
{
	__u32 zero = 0;
	struct vipd_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return 0;
	struct vipd_conn *c = bpf_map_lookup_elem(&conns, &pkt->flow);
	if (!c)
		return vipd_half_open_hit(pkt, cfg, now, dest_out);
	__u8 state = c->state;
	__u32 dest = c->dest;
	int fresh = vipd_age(now, c->last_ns) <= vipd_timeout_ns(cfg, state);
	/* A new SYN on a closing tuple is a new connection (port reuse). */
	int reuse = (pkt->tcp_flags & (VIPD_TCP_SYN | VIPD_TCP_ACK)) == VIPD_TCP_SYN &&
		    (state == VIPD_CONN_FIN || state == VIPD_CONN_CLOSE);
	if (fresh && !reuse && vipd_dest_ok(dest, c->svc, 1)) {
		__u8 next = vipd_next_state(state, pkt->tcp_flags);
		if (next != state) {
			c->state = next;
			vipd_conns_add(dest, state, -1);
			vipd_conns_add(dest, next, 1);
			c->last_ns = now;
		} else if (vipd_age(now, c->last_ns) > VIPD_REFRESH_NS) {
			c->last_ns = now;
		}
		/* This director forwards it now: its own, to refresh to the peers. */
		if (c->flags & VIPD_CONN_F_PEER)
			c->flags = 0;
		vipd_count(VIPD_EV_CONN_HIT);
		*dest_out = dest;
		if (fc) {
			if ((next == VIPD_CONN_ESTABLISHED || next == VIPD_CONN_UDP) &&
			    vipd_flow_cacheable(pkt)) {
				fc->flow = pkt->flow;
				fc->checked_ns = now;
				fc->dest = dest;
				fc->svc = c->svc;
			} else if (vipd_flow_eq(&fc->flow, &pkt->flow)) {
				fc->flow.family = 0;
			}
		}
		return 1;
	}
	if (fc && vipd_flow_eq(&fc->flow, &pkt->flow))
		fc->flow.family = 0;
	/* Expired, reused, or its real server is gone: forget it, schedule anew
	 * (the new entry starts half-open). */
	vipd_conns_add(dest, state, -1);
	bpf_map_delete_elem(&conns, &pkt->flow);
	vipd_count(VIPD_EV_CONN_STALE);
	return 0;
}

/* A new connection of service svc: persistence, else the scheduler's table.
 * With `ops` (one-packet scheduling) the datagram is scheduled and leaves no
 * entry: the next one of the same flow is scheduled again. */
static __always_inline int vipd_new_conn(const struct vipd_pkt *pkt, const struct vipd_svc *svc,
					 __u64 now, __u32 *dest_out, __u32 *reason, int ops)
{
	__u32 dest = 0;
	int have = 0;
	struct vipd_persist_key pk;
	if (svc->flags & VIPD_SVC_F_PERSIST) {
		__builtin_memset(&pk, 0, sizeof(pk));
#pragma unroll
		for (int i = 0; i < 4; i++)
			pk.client.w[i] = pkt->flow.src.w[i] & svc->persist_mask.w[i];
		pk.svc_id = svc->id;
		pk.family = pkt->flow.family;
		struct vipd_persist *p = bpf_map_lookup_elem(&persist, &pk);
		if (p && vipd_age(now, p->last_ns) <= (__u64)svc->persist_timeout * VIPD_NS) {
			struct vipd_dest *d = vipd_dest_ok(p->dest, svc->id, 1);
			/* A quiesced real takes no new connections, persistent or not. */
			if (d && d->weight > 0) {
				dest = p->dest;
				p->last_ns = now;
				have = 1;
				vipd_count(VIPD_EV_PERSIST_HIT);
			}
		}
	}
	if (!have) {
		if (vipd_schedule(svc, &pkt->flow, &dest)) {
			*reason = VIPD_DROP_NO_REAL;
			return -1;
		}
		if (!vipd_dest_ok(dest, svc->id, 1)) {
			*reason = VIPD_DROP_BAD_DEST;
			return -1;
		}
		if (svc->flags & VIPD_SVC_F_PERSIST) {
			struct vipd_persist pv = {.last_ns = now, .dest = dest};
			bpf_map_update_elem(&persist, &pk, &pv, BPF_ANY);
		}
	}
	vipd_count(VIPD_EV_CONN_NEW);
	*dest_out = dest;
	if (ops) {
		vipd_count(VIPD_EV_OPS);
		return 0;
	}
	/* Every new entry starts half-open: only a completed handshake (or a
	 * flow's second packet) earns a place in `conns`. */
	struct vipd_conn nc = {
		.last_ns = now, .dest = dest, .state = vipd_new_state(pkt), .svc = svc->id};
	bpf_map_update_elem(&half_open, &pkt->flow, &nc, BPF_ANY);
	vipd_conns_add(dest, nc.state, 1);
	vipd_count(VIPD_EV_HALF_OPEN_NEW);
	return 0;
}

/* The service of a packet: (VIP, port, proto), then the port-0 (all ports) one. */
static __always_inline struct vipd_svc *vipd_service(const struct vipd_pkt *pkt, __be16 dport)
{
	struct vipd_svc_key sk;
	__builtin_memset(&sk, 0, sizeof(sk));
	sk.vip = pkt->flow.dst;
	sk.port = dport;
	sk.proto = pkt->flow.proto;
	sk.family = pkt->flow.family;
	struct vipd_svc *svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc) {
		sk.port = 0;
		svc = bpf_map_lookup_elem(&services, &sk);
	}
	return svc;
}

/* What vipd_pick returns: a real server to forward to (VIPD_PICK_FWD, the id
 * in the low 32 bits, VIPD_PICK_NEW for a new connection, VIPD_PICK_CACHED for
 * a flow-cache hit), or else an XDP verdict in the low bits. Everything in one
 * scalar: a global function's caller knows nothing of what it wrote. */
#define VIPD_PICK_FWD (1ULL << 34)
#define VIPD_PICK_NEW (1ULL << 32)
#define VIPD_PICK_CACHED (1ULL << 33)

/* The flow cache's answer, before anything else: a packet of an established
 * connection that cannot change its state, confirmed by the connection table
 * less than VIPD_REFRESH_NS ago. Inlined in each family's path (the common
 * case costs no call); on a miss vipd_pick fills the slot. Returns
 * VIPD_PICK_FWD | VIPD_PICK_CACHED | dest on a hit, 0 on a miss. */
static __always_inline __u64 vipd_flow_cache_hit(const struct vipd_pkt *pkt, __u64 now)
{
	if (pkt->frag || pkt->icmp_err || !vipd_flow_cacheable(pkt))
		return 0;
	__u32 slot = bpf_get_smp_processor_id() * VIPD_FLOW_CACHE + vipd_flow_cache_slot(&pkt->flow);
	struct vipd_flow_cache *fc = bpf_map_lookup_elem(&flow_cache, &slot);
	if (!fc || vipd_age(now, fc->checked_ns) > VIPD_REFRESH_NS ||
	    !vipd_flow_eq(&fc->flow, &pkt->flow) || !vipd_dest_ok(fc->dest, fc->svc, 1))
		return 0;
	vipd_count(VIPD_EV_CONN_HIT);
	vipd_count(VIPD_EV_FLOW_CACHE_HIT);
	return VIPD_PICK_FWD | VIPD_PICK_CACHED | fc->dest;
}

/* The real server of a parsed packet for a VIP (either family) that the flow
 * cache did not know: the connection tables, or a new connection scheduled (`dport` is
 * the packet's port, zeroed in the flow of fragments). A global function,
 * verified once for both families whatever the parser found: inlined in each,
 * the verifier would walk the schedulers once per parsing outcome. */
__noinline __u64 vipd_pick(const struct vipd_pkt *pkt, __u32 dport, __u64 now)
{
	__u32 reason = 0;
	__u32 dest = 0;
	__u32 *dest_id = &dest;
	__u64 flags = VIPD_PICK_FWD;
	if (!pkt)
		return XDP_ABORTED;
	/* On the stack: before Linux 6.2 a map key could not be the caller's
	 * memory a global function is given (PTR_TO_MEM). */
	struct vipd_pkt copy = *pkt;
	pkt = &copy;
	struct vipd_flow_cache *fc = NULL;
	if (!pkt->frag && !pkt->icmp_err) {
		__u32 slot = bpf_get_smp_processor_id() * VIPD_FLOW_CACHE +
			     vipd_flow_cache_slot(&pkt->flow);
		fc = bpf_map_lookup_elem(&flow_cache, &slot);
	}
	/* (A hit was vipd_flow_cache_hit's: this is a miss, fc is to fill.) */
	if (pkt->icmp_err) {
		/* Only for a known connection, and it changes nothing in it. */
		struct vipd_conn *c = bpf_map_lookup_elem(&conns, &pkt->flow);
		if (!c)
			c = bpf_map_lookup_elem(&half_open, &pkt->flow);
		if (!c || !vipd_dest_ok(c->dest, c->svc, 1))
			return XDP_PASS;
		*dest_id = c->dest;
		vipd_count(VIPD_EV_ICMP_FWD);
	} else {
		/* One-packet scheduling (ops): a UDP datagram of such a service is
		 * scheduled on its own, without the connection tables. Fragments
		 * keep their entry: a datagram's later fragments must follow its
		 * first. */
		struct vipd_svc *svc = NULL;
		int looked = 0;
		if (pkt->flow.proto == IPPROTO_UDP && !pkt->frag && vipd_cfg_flag(VIPD_CFG_F_OPS)) {
			svc = vipd_service(pkt, (__be16)dport);
			looked = 1;
		}
		if (svc && (svc->flags & VIPD_SVC_F_OPS)) {
			if (vipd_new_conn(pkt, svc, now, dest_id, &reason, 1))
				return vipd_drop(reason);
			flags |= VIPD_PICK_NEW;
		} else if (!vipd_conn_hit(pkt, now, fc, dest_id)) {
			/* Later fragments have no port, hence no service: only their
			 * datagram's entry could have placed them. */
			if (pkt->later_frag)
				return vipd_drop(VIPD_DROP_FRAG_UNKNOWN);
			if (!looked)
				svc = vipd_service(pkt, (__be16)dport);
			if (!svc)
				return XDP_PASS; /* VIP, but no such service: the kernel answers */
			if (vipd_new_conn(pkt, svc, now, dest_id, &reason, 0))
				return vipd_drop(reason);
			flags |= VIPD_PICK_NEW;
		}
	}
	return flags | dest;
}

/* The next hop towards real server d (id dest_id), refreshed when stale or
 * computed for another real server; NULL with *reason on failure. */
static __always_inline struct vipd_nexthop *vipd_nexthop(struct xdp_md *ctx, __u32 dest_id,
							 const struct vipd_dest *d, __u8 tos,
							 __u64 now, __u32 *reason)
{
	struct vipd_nexthop *nh = bpf_map_lookup_elem(&nexthops, &dest_id);
	if (!nh) {
		*reason = VIPD_DROP_BAD_DEST;
		return NULL;
	}
	if (vipd_age(now, nh->stamp_ns) > VIPD_NH_REFRESH_NS || !vipd_addr_eq(&nh->rip, &d->rip) ||
	    nh->fwd != d->fwd || nh->family != d->family) {
		int r = vipd_nexthop_refresh(ctx, dest_id, tos, now);
		if (r) {
			*reason = r;
			return NULL;
		}
	}
	return nh;
}

/* Bytes TUN adds in front of a packet for real server d: an IPv4 or an IPv6
 * header (the real server's family); none for DR and NAT. */
static __always_inline __u32 vipd_overhead(const struct vipd_dest *d)
{
	if (d->fwd != VIPD_FWD_TUN)
		return 0;
	return d->family == VIPD_AF_INET6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
}

/* TUN: the outer header of the real server's family. */
static __always_inline int vipd_encap(struct xdp_md *ctx, const struct vipd_pkt *pkt,
				      const struct vipd_dest *d, const struct vipd_nexthop *nh)
{
	if (d->family == VIPD_AF_INET6)
		return vipd_encap_ip6(ctx, pkt, nh->dmac, nh->smac, &nh->src, &d->rip);
	return vipd_encap_ipip(ctx, pkt, nh->dmac, nh->smac, nh->src.w[0], d->rip.w[0]);
}

/* Sends the packet on to the next hop: XDP_TX on the interface it came from
 * (a tagged frame goes back out tagged, on the port it came from), else a
 * redirect. */
static __always_inline int vipd_send(struct xdp_md *ctx, const struct vipd_pkt *pkt, __u32 oif)
{
	if (oif == ctx->ingress_ifindex || pkt->vlan_proto)
		return XDP_TX;
	vipd_count(VIPD_EV_REDIRECT);
	return bpf_redirect(oif, 0);
}

/* An IPv6 packet (EtherType 86DD), while some VIP is IPv6: the director's path
 * for IPv6 VIPs. TUN (to an IPv6 real server: ip6ip6; to an IPv4 one: 6in4),
 * DR and NAT; IPv6 NAT replies through vipd_nat_reply6. A global function,
 * verified on its own. */
__noinline int vipd_director6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vipd_pkt pkt;
	__builtin_memset(&pkt, 0, sizeof(pkt));
	__be16 proto = 0;
	struct ipv6hdr *ip6 = vipd_parse_eth(data, data_end, &pkt, &proto);
	if (!ip6 || proto != bpf_htons(VIPD_ETH_P_IPV6) || (void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (!vipd_is_vip6((const __be32 *)&ip6->daddr))
		/* not for a VIP: never touched, unless a NAT reply */
		return vipd_cfg_flag(VIPD_CFG_F_NAT) ? vipd_nat_reply6(ctx) : XDP_PASS;

	__u32 reason = 0;
	int r = vipd_parse6(data, data_end, ip6, &pkt, &reason);
	if (r == VIPD_PARSE_PASS)
		return XDP_PASS;
	if (r == VIPD_PARSE_DROP)
		return vipd_drop(reason);
	__be16 dport = pkt.flow.dport;
	if (pkt.frag) {
		pkt.flow.sport = 0;
		pkt.flow.dport = 0;
		vipd_count(VIPD_EV_FRAG);
	}
	__u64 now = vipd_now();
	__u64 picked = vipd_flow_cache_hit(&pkt, now);
	if (!picked)
		picked = vipd_pick(&pkt, dport, now);
	if (!(picked & VIPD_PICK_FWD))
		return (int)(picked & 0xff);
	__u32 dest_id = (__u32)picked;
	int new_conn = (picked & VIPD_PICK_NEW) != 0;
	int cached = (picked & VIPD_PICK_CACHED) != 0;
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &dest_id);
	if (!d)
		return vipd_drop(VIPD_DROP_BAD_DEST);
	if (d->mss && (pkt.tcp_flags & VIPD_TCP_SYN) && pkt.flow.proto == IPPROTO_TCP && !pkt.frag) {
		if (vipd_clamp_mss(ctx, pkt.tcp_off, d->mss))
			vipd_count(VIPD_EV_MSS_CLAMPED);
	}
	struct vipd_nexthop *nh = vipd_nexthop(ctx, dest_id, d, pkt.tos, now, &reason);
	if (!nh)
		return vipd_drop(reason);
	__u32 over = vipd_overhead(d);
	if (pkt.tot_len + over > nh->mtu) {
		/* Never an error about an error (RFC 4443 2.4 e): the client did
		 * not send it. IPv6 links carry 1280 bytes at least (RFC 8200 5):
		 * a lower figure would be ignored. */
		if (pkt.icmp_err)
			return vipd_drop(VIPD_DROP_TOO_BIG);
		__u32 mtu = nh->mtu - over;
		if (vipd_icmp6_too_big(ctx, &pkt, mtu < 1280 ? 1280 : mtu))
			return vipd_drop(VIPD_DROP_ENCAP);
		vipd_count(VIPD_EV_ICMP_TOO_BIG);
		return XDP_TX;
	}
	__u32 oif = nh->ifindex;
	if (d->fwd == VIPD_FWD_TUN) {
		if (vipd_encap(ctx, &pkt, d, nh))
			return vipd_drop(VIPD_DROP_ENCAP);
	} else {
		if (d->fwd == VIPD_FWD_NAT && vipd_nat6_forward(ctx, &pkt, dest_id, dport, cached))
			return vipd_drop(VIPD_DROP_BAD_IP);
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		if (!vipd_write_l2(data, data_end, nh->dmac, nh->smac, &pkt))
			return vipd_drop(VIPD_DROP_ENCAP);
	}
	vipd_account(d->svc_id, dest_id, pkt.tot_len, new_conn);
	vipd_count(VIPD_EV_TX);
	return vipd_send(ctx, &pkt, oif);
}

/* An IPv4 packet (EtherType 0800): the director's path for IPv4 VIPs, and
 * NAT replies. A global function, verified on its own. */
__noinline int vipd_director4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct vipd_pkt pkt;
	__builtin_memset(&pkt, 0, sizeof(pkt));

	struct iphdr *ip = vipd_parse_l2(data, data_end, &pkt);
	if (!ip)
		return XDP_PASS;
	if (!vipd_is_vip4(ip->daddr))
		/* not for a VIP: never touched, unless a NAT reply */
		return vipd_cfg_flag(VIPD_CFG_F_NAT) ? vipd_nat_reply(ctx) : XDP_PASS;

	__u32 reason = 0;
	int r = vipd_parse_l3l4(data, data_end, ip, &pkt, &reason);
	if (r == VIPD_PARSE_PASS)
		return XDP_PASS;
	if (r == VIPD_PARSE_DROP)
		return vipd_drop(reason);

	/* Fragments of one datagram share an entry keyed on addresses only. */
	__be16 dport = pkt.flow.dport;
	if (pkt.frag) {
		pkt.flow.sport = 0;
		pkt.flow.dport = 0;
		vipd_count(VIPD_EV_FRAG);
	}

	__u64 now = vipd_now();
	__u64 picked = vipd_flow_cache_hit(&pkt, now);
	if (!picked)
		picked = vipd_pick(&pkt, dport, now);
	if (!(picked & VIPD_PICK_FWD))
		return (int)(picked & 0xff);
	__u32 dest_id = (__u32)picked;
	int new_conn = (picked & VIPD_PICK_NEW) != 0;
	int cached = (picked & VIPD_PICK_CACHED) != 0;
	struct vipd_dest *d = bpf_map_lookup_elem(&dests, &dest_id);
	if (!d)
		return vipd_drop(VIPD_DROP_BAD_DEST);

	/* MSS clamp of SYNs (retransmitted ones too), before anything moves. */
	if (d->mss && (pkt.tcp_flags & VIPD_TCP_SYN) && pkt.flow.proto == IPPROTO_TCP && !pkt.frag) {
		if (vipd_clamp_mss(ctx, pkt.tcp_off, d->mss))
			vipd_count(VIPD_EV_MSS_CLAMPED);
	}

	int tun = d->fwd == VIPD_FWD_TUN;
	struct vipd_nexthop *nh = vipd_nexthop(ctx, dest_id, d, pkt.tos, now, &reason);
	if (!nh)
		return vipd_drop(reason);
	__u32 over = vipd_overhead(d);
	if (pkt.tot_len + over > nh->mtu) {
		/* Never an error about an error (RFC 1122 3.2.2). */
		if (!(pkt.frag_off & bpf_htons(VIPD_IP_DF)) || pkt.icmp_err)
			return vipd_drop(VIPD_DROP_TOO_BIG);
		if (vipd_icmp_too_big(ctx, &pkt, nh->mtu - over))
			return vipd_drop(VIPD_DROP_ENCAP);
		vipd_count(VIPD_EV_ICMP_TOO_BIG);
		return XDP_TX;
	}
	__u32 oif = nh->ifindex;
	__be32 rip = d->rip.w[0];
	if (tun) {
		if (vipd_encap(ctx, &pkt, d, nh))
			return vipd_drop(VIPD_DROP_ENCAP);
	} else {
		if (d->fwd == VIPD_FWD_NAT && !pkt.icmp_err) {
			/* A port-0 (all ports) service keeps the client's port. */
			__be16 rport = d->port ? d->port : dport;
			if (vipd_nat_rewrite(ctx, &pkt, 1, rip, rport))
				return vipd_drop(VIPD_DROP_BAD_IP);
			/* Not on flow-cache hits: the table was read less than
			 * VIPD_REFRESH_NS ago, and the reply entry with it. */
			if (!pkt.frag && !cached)
				vipd_nat_remember(&pkt, &d->rip, rport, dport, d->svc_id, dest_id);
		} else if (d->fwd == VIPD_FWD_NAT) {
			__be16 rport = d->port ? d->port : pkt.flow.dport;
			if (vipd_nat_icmp(ctx, &pkt, 1, rip, rport))
				return vipd_drop(VIPD_DROP_BAD_IP);
		}
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		if (!vipd_write_l2(data, data_end, nh->dmac, nh->smac, &pkt))
			return vipd_drop(VIPD_DROP_ENCAP);
	}
	vipd_account(d->svc_id, dest_id, pkt.tot_len, new_conn);
	vipd_count(VIPD_EV_TX);
	return vipd_send(ctx, &pkt, oif);
}

/* The director: IPv4 and IPv6 each in their own function, so that each is
 * verified once and a chain of calls stays within the 512 bytes of stack
 * BPF allows. */
static __always_inline int vipd_director(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__be16 proto = eth->h_proto;
	if (proto == bpf_htons(VIPD_ETH_P_8021Q) || proto == bpf_htons(VIPD_ETH_P_8021AD)) {
		struct vipd_vlan_hdr *vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return XDP_PASS;
		proto = vh->h_vlan_encapsulated_proto;
	}
	if (proto == bpf_htons(VIPD_ETH_P_IP))
		return vipd_director4(ctx);
	if (proto == bpf_htons(VIPD_ETH_P_IPV6) && vipd_cfg_flag(VIPD_CFG_F_V6))
		return vipd_director6(ctx);
	return XDP_PASS;
}

#endif /* VIPD_DIRECTOR_H */
