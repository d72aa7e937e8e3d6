/* vipd_encap.h: what the director writes: the L2 header, the outer header of
 * TUN (IPv4 or IPv6, around an IPv4 or IPv6 packet), the MSS clamp of SYNs,
 * and ICMP fragmentation-needed / ICMPv6 Packet Too Big replies. */
#ifndef VIPD_ENCAP_H
#define VIPD_ENCAP_H

#include "vipd.h"
#include "vipd_csum.h"
#include "vipd_parse.h"

#define VIPD_OUTER_TTL 64
#define VIPD_ICMP_DEST_UNREACH 3
#define VIPD_ICMP_FRAG_NEEDED 4

/* Writes Ethernet (+ the packet's VLAN tag, kept as received) at data, for an
 * IPv4 (or, with `v6`, IPv6) packet. Returns the L2 length or 0 when the frame
 * is too short. */
static __always_inline __u32 vipd_write_l2x(void *data, void *data_end, const __u8 *dmac,
					    const __u8 *smac, const struct vipd_pkt *pkt, int v6)
{
	__be16 l3 = v6 ? bpf_htons(VIPD_ETH_P_IPV6) : bpf_htons(VIPD_ETH_P_IP);
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 0;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	if (!pkt->vlan_proto) {
		eth->h_proto = l3;
		return sizeof(*eth);
	}
	struct vipd_vlan_hdr *vh = (void *)(eth + 1);
	if ((void *)(vh + 1) > data_end)
		return 0;
	eth->h_proto = pkt->vlan_proto;
	vh->h_vlan_TCI = pkt->vlan_tci;
	vh->h_vlan_encapsulated_proto = l3;
	return sizeof(*eth) + sizeof(*vh);
}

/* vipd_write_l2x for the family of the packet as parsed. */
static __always_inline __u32 vipd_write_l2(void *data, void *data_end, const __u8 *dmac,
					   const __u8 *smac, const struct vipd_pkt *pkt)
{
	return vipd_write_l2x(data, data_end, dmac, smac, pkt,
			      pkt->flow.family == VIPD_AF_INET6);
}

/* Writes the 20-byte outer IPv4 header of TUN: tos, inner length (host order),
 * frag_off and id (network order), saddr -> daddr, TTL 64, protocol `proto`
 * (4: IPv4 inside, 41: IPv6 inside). The
 * checksum is summed from the values, not read back from the header just
 * written: 16-bit loads over narrower stores stall store forwarding. */
static __always_inline void vipd_write_outer4(struct iphdr *outer, __u8 tos, __u32 inner_len,
					      __be16 frag, __be16 id, __be32 saddr, __be32 daddr,
					      __u8 proto)
{
	__be16 w0 = bpf_htons(0x4500 | tos);
	__be16 tot = bpf_htons(inner_len + sizeof(struct iphdr));
	__be16 w4 = bpf_htons((VIPD_OUTER_TTL << 8) | proto);
	__u32 sum = (__u32)w0 + tot + id + frag + w4 + (saddr & 0xffff) + (saddr >> 16) +
		    (daddr & 0xffff) + (daddr >> 16);
	__u16 *o = (__u16 *)outer;
	o[0] = w0;
	o[1] = tot;
	o[2] = id;
	o[3] = frag;
	o[4] = w4;
	o[5] = vipd_csum_fold(sum);
	outer->saddr = saddr;
	outer->daddr = daddr;
}

/* TUN to an IPv4 real server: grows the head by one IPv4 header and writes L2
 * + outer DIP -> RIP, protocol 4 (IPv4 inside) or 41 (IPv6 inside), DF and TOS
 * copied from the inner header (an IPv6 packet counts as DF). */
static __always_inline int vipd_encap_ipip(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					   const __u8 *dmac, const __u8 *smac, __be32 dip,
					   __be32 rip)
{
	__u8 proto = pkt->flow.family == VIPD_AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l2 = vipd_write_l2x(data, data_end, dmac, smac, pkt, 0);
	if (!l2)
		return -1;
	struct iphdr *outer = data + (l2 & 0x1f);
	if ((void *)(outer + 1) > data_end)
		return -1;
	/* With DF the id is unused (RFC 6864); without it, pick one at random. */
	__be16 frag = pkt->frag_off & bpf_htons(VIPD_IP_DF);
	__be16 id = frag ? 0 : (__u16)bpf_get_prandom_u32();
	vipd_write_outer4(outer, pkt->tos, pkt->tot_len, frag, id, dip, rip, proto);
	return 0;
}

/* Flow label of the outer IPv6 header: a hash of the inner flow (RFC 6438),
 * so that routers spreading on it keep a connection's packets together. */
static __always_inline __u32 vipd_flow_label(const struct vipd_flow *f)
{
	__u32 h = f->src.w[0] ^ f->src.w[1] ^ f->src.w[2] ^ f->src.w[3] ^ f->proto;
	h ^= ((__u32)f->sport << 16) | f->dport;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	return h & 0xfffff;
}

/* TUN to an IPv6 real server: grows the head by one 40-byte IPv6 header and
 * writes L2 + outer DIP -> RIP, next header 41 (IPv6 inside: ip6ip6) or 4
 * (IPv4 inside), hop limit 64, traffic class copied from the inner header,
 * flow label from the inner flow. No extension headers. */
static __always_inline int vipd_encap_ip6(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					  const __u8 *dmac, const __u8 *smac,
					  const struct vipd_addr *dip, const struct vipd_addr *rip)
{
	__u8 nexthdr = pkt->flow.family == VIPD_AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l2 = vipd_write_l2x(data, data_end, dmac, smac, pkt, 1);
	if (!l2)
		return -1;
	struct ipv6hdr *outer = data + (l2 & 0x1f);
	if ((void *)(outer + 1) > data_end)
		return -1;
	__be32 *o = (__be32 *)outer;
	o[0] = bpf_htonl((6U << 28) | ((__u32)pkt->tos << 20) | vipd_flow_label(&pkt->flow));
	outer->payload_len = bpf_htons(pkt->tot_len);
	outer->nexthdr = nexthdr;
	outer->hop_limit = VIPD_OUTER_TTL;
	__builtin_memcpy(&outer->saddr, dip->w, 16);
	__builtin_memcpy(&outer->daddr, rip->w, 16);
	return 0;
}

/* State of the TCP option walk, one bpf_loop step per option. */
struct vipd_optwalk {
	__u8 opts[40]; /* the options, copied from the packet */
	__u32 len;     /* bytes of options                    */
	__u32 off;     /* current option's offset             */
	__s32 mss_off; /* offset of the MSS option, or -1     */
};

static long vipd_optwalk_step(__u64 i, void *arg)
{
	struct vipd_optwalk *w = arg;
	__u32 off = w->off;
	if (off >= w->len || off >= 40)
		return 1;
	__u8 kind = w->opts[off];
	if (kind == 0) /* end of options */
		return 1;
	if (kind == 1) { /* no-op */
		w->off = off + 1;
		return 0;
	}
	if (off + 1 >= 40)
		return 1;
	__u8 len = w->opts[off + 1];
	if (len < 2 || off + len > w->len)
		return 1;
	if (kind == 2 && len == 4) {
		w->mss_off = off;
		return 1;
	}
	w->off = off + len;
	return 0;
}

/* Lowers the MSS option of a TCP SYN to mss (host order) and fixes the TCP
 * checksum incrementally. Returns 1 if clamped, 0 otherwise.
 *
 * A global (non-inlined) function, verified once on its own; the options are
 * walked from a stack copy with bpf_loop so the verifier's state stays small. */
__noinline int vipd_clamp_mss(struct xdp_md *ctx, __u32 tcp_off, __u32 mss)
{
	__u8 hdr[20];
	struct vipd_optwalk w;
	if (tcp_off > 0x3ff)
		return 0;
	if (bpf_xdp_load_bytes(ctx, tcp_off, hdr, sizeof(hdr)))
		return 0;
	__u32 optlen = (hdr[12] >> 4) * 4;
	if (optlen <= 20)
		return 0;
	optlen -= 20;
	if (optlen > 40)
		return 0;
	__builtin_memset(&w, 0, sizeof(w));
	if (bpf_xdp_load_bytes(ctx, tcp_off + 20, w.opts, optlen))
		return 0;
	w.len = optlen;
	w.mss_off = -1;
	bpf_loop(40, vipd_optwalk_step, &w, 0);
	if (w.mss_off < 0 || w.mss_off > 36)
		return 0;
	__u32 off = w.mss_off;
	__u16 cur = ((__u16)w.opts[off + 2] << 8) | w.opts[off + 3];
	if (cur <= mss)
		return 0;
	/* The checksum sums 16-bit words from the TCP header's start: at an odd
	 * offset the field straddles two words, i.e. counts byte-swapped. */
	int odd = off & 1;
	__u16 old_w = odd ? cur : bpf_htons(cur);
	__u16 new_w = odd ? (__u16)mss : bpf_htons((__u16)mss);
	__u8 val[2] = {mss >> 8, mss & 0xff};
	__u16 check;
	__builtin_memcpy(&check, hdr + 16, 2);
	check = vipd_csum_replace2(check, old_w, new_w);
	if (bpf_xdp_store_bytes(ctx, tcp_off + 20 + off + 2, val, 2))
		return 0;
	if (bpf_xdp_store_bytes(ctx, tcp_off + 16, &check, 2))
		return 0;
	return 1;
}

/* Turns the packet into ICMP fragmentation-needed (RFC 792, RFC 1191) from the VIP
 * back to the client, quoting the IPv4 header and 8 bytes, with next-hop MTU mtu.
 * The caller sends it with XDP_TX. */
static __always_inline int vipd_icmp_too_big(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					     __u16 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__u8 dmac[ETH_ALEN], smac[ETH_ALEN];
	__builtin_memcpy(dmac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(smac, eth->h_dest, ETH_ALEN);
	__u32 quote = (pkt->l3len & 0x3c) + 8;
	__u32 hdrs = sizeof(struct iphdr) + 8; /* new IPv4 + ICMP header */
	__u32 want = (pkt->l2len & 0x1f) + hdrs + quote;
	__u32 have = data_end - data;
	if (bpf_xdp_adjust_head(ctx, -(int)hdrs))
		return -1;
	if (bpf_xdp_adjust_tail(ctx, (int)want - (int)(have + hdrs)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	__u32 l2 = vipd_write_l2(data, data_end, dmac, smac, pkt);
	if (!l2)
		return -1;
	struct iphdr *ip = data + (l2 & 0x1f);
	if ((void *)(ip + 1) > data_end)
		return -1;
	__u8 *icmp = (void *)(ip + 1);
	if ((void *)(icmp + 8) > data_end)
		return -1;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0; /* internetwork control, as Linux sends its ICMP errors */
	ip->tot_len = bpf_htons(hdrs + quote);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = VIPD_OUTER_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = pkt->flow.dst.w[0];
	ip->daddr = pkt->flow.src.w[0];
	ip->check = vipd_ipv4_csum(ip);
	icmp[0] = VIPD_ICMP_DEST_UNREACH;
	icmp[1] = VIPD_ICMP_FRAG_NEEDED;
	*(__u16 *)(icmp + 2) = 0;
	*(__u16 *)(icmp + 4) = 0;
	*(__u16 *)(icmp + 6) = bpf_htons(mtu);
	/* Checksum over the ICMP header and the quote (8 + 20..60 + 8 bytes, a
	 * multiple of 4), from a stack copy so bpf_csum_diff sees bounded memory. */
	__u32 len = 8 + quote;
	__u8 buf[80];
	__u32 icmp_off = (__u32)((void *)icmp - data);
	if (len > sizeof(buf) || len < 4 || icmp_off > 0xff)
		return -1;
	if (bpf_xdp_load_bytes(ctx, icmp_off, buf, len))
		return -1;
	__u32 s = bpf_csum_diff(NULL, 0, (__be32 *)buf, len, 0);
	*(__u16 *)(icmp + 2) = vipd_csum_fold(s);
	return 0;
}

/* Bytes of the offending packet an ICMPv6 Packet Too Big quotes: as much as
 * fits in the minimum IPv6 MTU (RFC 4443 2.4), 1280 - 40 - 8. A packet only
 * gets one when it is bigger than a route's MTU, which IPv6 keeps at 1280 or
 * more, so it always has that many. */
#define VIPD_PTB6_QUOTE 1232

/* Turns the IPv6 packet into ICMPv6 Packet Too Big (RFC 4443 3.2) from the VIP
 * back to the client, quoting its first VIPD_PTB6_QUOTE bytes, with MTU mtu.
 * The caller sends it with XDP_TX. */
static __always_inline int vipd_icmp6_too_big(struct xdp_md *ctx, const struct vipd_pkt *pkt,
					      __u32 mtu)
{
	if (pkt->tot_len < VIPD_PTB6_QUOTE)
		return -1;
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__u8 dmac[ETH_ALEN], smac[ETH_ALEN];
	__builtin_memcpy(dmac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(smac, eth->h_dest, ETH_ALEN);
	__u32 hdrs = sizeof(struct ipv6hdr) + 8; /* new IPv6 + ICMPv6 header */
	__u32 want = (pkt->l2len & 0x1f) + hdrs + VIPD_PTB6_QUOTE;
	__u32 have = data_end - data;
	if (bpf_xdp_adjust_head(ctx, -(int)hdrs))
		return -1;
	if (bpf_xdp_adjust_tail(ctx, (int)want - (int)(have + hdrs)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	__u32 l2 = vipd_write_l2x(data, data_end, dmac, smac, pkt, 1);
	if (!l2)
		return -1;
	struct ipv6hdr *ip6 = data + (l2 & 0x1f);
	if ((void *)(ip6 + 1) > data_end)
		return -1;
	__u8 *icmp = (void *)(ip6 + 1);
	if ((void *)(icmp + 8 + VIPD_PTB6_QUOTE) > data_end)
		return -1;
	__be32 *w = (__be32 *)ip6;
	w[0] = bpf_htonl(6U << 28);
	ip6->payload_len = bpf_htons(8 + VIPD_PTB6_QUOTE);
	ip6->nexthdr = VIPD_NH_ICMPV6;
	ip6->hop_limit = VIPD_OUTER_TTL;
	__builtin_memcpy(&ip6->saddr, pkt->flow.dst.w, 16);
	__builtin_memcpy(&ip6->daddr, pkt->flow.src.w, 16);
	__be32 *ih = (__be32 *)icmp;
	ih[0] = bpf_htonl(2U << 24); /* type 2, code 0, checksum 0 */
	ih[1] = bpf_htonl(mtu);
	/* Checksum: the pseudo-header (addresses, length, next header 58), then
	 * the ICMPv6 header and quote, in pieces bpf_csum_diff takes (<= 512). */
	__u32 s = bpf_htons(8 + VIPD_PTB6_QUOTE) + bpf_htons(VIPD_NH_ICMPV6);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		s += (pkt->flow.src.w[i] & 0xffff) + (pkt->flow.src.w[i] >> 16);
		s += (pkt->flow.dst.w[i] & 0xffff) + (pkt->flow.dst.w[i] >> 16);
	}
	s = (s & 0xffff) + (s >> 16);
	__s64 c = bpf_csum_diff(NULL, 0, (__be32 *)icmp, 8 + 504, s);
	if (c < 0)
		return -1;
	c = bpf_csum_diff(NULL, 0, (__be32 *)(icmp + 512), 512, (__u32)c);
	if (c < 0)
		return -1;
	c = bpf_csum_diff(NULL, 0, (__be32 *)(icmp + 1024), VIPD_PTB6_QUOTE + 8 - 1024, (__u32)c);
	if (c < 0)
		return -1;
	*(__u16 *)(icmp + 2) = vipd_csum_fold((__u32)c);
	return 0;
}

#endif /* VIPD_ENCAP_H */
