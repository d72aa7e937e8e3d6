/* vipd_parse.h: bounds-checked parsing of Ethernet (+ one 802.1Q/802.1ad tag),
 * IPv4 (options skipped, never misread), IPv6 (extension headers walked), TCP
 * and UDP, into struct vipd_pkt. */
#ifndef VIPD_PARSE_H
#define VIPD_PARSE_H

#include "vipd.h"

#define VIPD_ETH_P_IP 0x0800
#define VIPD_ETH_P_IPV6 0x86DD
#define VIPD_ETH_P_8021Q 0x8100
#define VIPD_ETH_P_8021AD 0x88A8
#define VIPD_IP_MF 0x2000
#define VIPD_IP_DF 0x4000
#define VIPD_IP_OFFSET 0x1fff

#define VIPD_TCP_FIN 0x01
#define VIPD_TCP_SYN 0x02
#define VIPD_TCP_RST 0x04
#define VIPD_TCP_ACK 0x10

/* One 802.1Q / 802.1ad tag after the Ethernet header (the uapi has no struct). */
struct vipd_vlan_hdr {
	__be16 h_vlan_TCI;                /* priority, DEI, VLAN id          */
	__be16 h_vlan_encapsulated_proto; /* EtherType of what follows       */
};

/* What the program knows about a packet after parsing. */
struct vipd_pkt {
	struct vipd_flow flow; /* 5-tuple; ports 0 when fragmented   */
	__u32 l2len;           /* 14, or 18 with a VLAN tag          */
	__u32 l3len;           /* IPv4 header length with options    */
	__u32 tot_len;         /* IPv4 total length (host order)     */
	__be16 vlan_tci;       /* tag control (network order)        */
	__be16 vlan_proto;     /* 0x8100/0x88a8 (network order), or 0 */
	__u8 tcp_flags;        /* TCP flags byte, 0 for UDP          */
	__u8 frag;             /* 1 if MF or offset != 0             */
	__u8 later_frag;       /* 1 if offset != 0 (no L4 header)    */
	__u8 tos;              /* inner TOS, copied to the outer     */
	__be16 frag_off;       /* inner frag_off field, raw          */
	__u16 tcp_off;         /* offset of the TCP header from data */
	__u8 icmp_err;         /* ICMP error about a VIP connection:  */
			       /* flow is the quoted connection's     */
	__u8 _pad[3];
};

/* IPv6 extension headers: how many the parser walks before the transport
 * header (a packet for a VIP with more goes to the kernel), and how many bytes
 * of them at most (more is dropped as malformed: no sender needs that many). */
#define VIPD_V6_EXT_MAX 6
#define VIPD_V6_EXT_BYTES 512
#define VIPD_NH_HOPOPTS 0
#define VIPD_NH_ROUTING 43
#define VIPD_NH_FRAGMENT 44
#define VIPD_NH_ICMPV6 58
#define VIPD_NH_DSTOPTS 60

enum vipd_parse_res {
	VIPD_PARSE_OK = 0,
	VIPD_PARSE_PASS = 1, /* not ours: give to the kernel untouched */
	VIPD_PARSE_DROP = 2, /* ours but malformed: *reason says why  */
};

/* Layer 2: returns what follows it, its EtherType in *proto, or NULL (pass). */
static __always_inline void *vipd_parse_eth(void *data, void *data_end, struct vipd_pkt *pkt,
					    __be16 *l3proto)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return NULL;
	__be16 proto = eth->h_proto;
	pkt->l2len = sizeof(*eth);
	pkt->vlan_proto = 0;
	pkt->vlan_tci = 0;
	if (proto == bpf_htons(VIPD_ETH_P_8021Q) || proto == bpf_htons(VIPD_ETH_P_8021AD)) {
		struct vipd_vlan_hdr *vh = (void *)(eth + 1);
		if ((void *)(vh + 1) > data_end)
			return NULL;
		pkt->vlan_proto = proto;
		pkt->vlan_tci = vh->h_vlan_TCI;
		proto = vh->h_vlan_encapsulated_proto;
		pkt->l2len += sizeof(*vh);
	}
	*l3proto = proto;
	return data + pkt->l2len;
}

/* Layer 2 and the IPv4 destination: enough to decide whether the packet is for a
 * VIP. Returns the IPv4 header or NULL (pass). */
static __always_inline struct iphdr *vipd_parse_l2(void *data, void *data_end, struct vipd_pkt *pkt)
{
	__be16 proto = 0;
	struct iphdr *ip = vipd_parse_eth(data, data_end, pkt, &proto);
	if (!ip || proto != bpf_htons(VIPD_ETH_P_IP))
		return NULL;
	if ((void *)(ip + 1) > data_end)
		return NULL;
	return ip;
}

/* An ICMP destination-unreachable or time-exceeded to the VIP that quotes a
 * packet VIP:port -> client (a real server's reply, e.g. fragmentation-needed from
 * a router on the way back): the connection it belongs to, as the client sent it.
 * Anything else (echo...) passes to the kernel. */
static __always_inline int vipd_parse_icmp_err(void *data_end, struct iphdr *ip, __u32 l3len,
					       struct vipd_pkt *pkt)
{
	__u8 *icmp = (void *)ip + (l3len & 0x3c);
	if ((void *)(icmp + 8) > data_end)
		return VIPD_PARSE_PASS;
	if (icmp[0] != 3 && icmp[0] != 11)
		return VIPD_PARSE_PASS;
	struct iphdr *in = (void *)(icmp + 8);
	if ((void *)(in + 1) > data_end || in->ihl < 5)
		return VIPD_PARSE_PASS;
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return VIPD_PARSE_PASS;
	if (in->saddr != ip->daddr)
		return VIPD_PARSE_PASS;
	__be16 *ports = (void *)in + ((in->ihl * 4) & 0x3c);
	if ((void *)(ports + 2) > data_end)
		return VIPD_PARSE_PASS;
	pkt->flow.proto = in->protocol;
	pkt->flow.src.w[0] = in->daddr;
	pkt->flow.dst.w[0] = in->saddr;
	pkt->flow.sport = ports[1];
	pkt->flow.dport = ports[0];
	pkt->icmp_err = 1;
	return VIPD_PARSE_OK;
}

/* The TCP or UDP header (pkt->flow.proto) at l4: ports, flags. */
static __always_inline int vipd_parse_l4(void *data, void *data_end, void *l4,
					 struct vipd_pkt *pkt, __u32 *reason)
{
	*reason = VIPD_DROP_TRUNC_L4;
	if (pkt->flow.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end || tcp->doff < 5)
			return VIPD_PARSE_DROP;
		if ((void *)tcp + tcp->doff * 4 > data_end)
			return VIPD_PARSE_DROP;
		pkt->flow.sport = tcp->source;
		pkt->flow.dport = tcp->dest;
		pkt->tcp_flags = ((__u8 *)tcp)[13];
		pkt->tcp_off = (__u16)(l4 - data);
	} else {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return VIPD_PARSE_DROP;
		pkt->flow.sport = udp->source;
		pkt->flow.dport = udp->dest;
	}
	return VIPD_PARSE_OK;
}

/* The rest of IPv4 and the transport header, for a packet known to be for a VIP. */
static __always_inline int vipd_parse_l3l4(void *data, void *data_end, struct iphdr *ip,
					   struct vipd_pkt *pkt, __u32 *reason)
{
	*reason = VIPD_DROP_BAD_IP;
	if (ip->version != 4 || ip->ihl < 5)
		return VIPD_PARSE_DROP;
	__u32 l3len = ip->ihl * 4;
	__u32 tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < l3len || (void *)ip + tot_len > data_end)
		return VIPD_PARSE_DROP;
	pkt->l3len = l3len;
	pkt->tot_len = tot_len;
	pkt->tos = ip->tos;
	pkt->frag_off = ip->frag_off;
	pkt->frag = (ip->frag_off & bpf_htons(VIPD_IP_MF | VIPD_IP_OFFSET)) != 0;
	pkt->later_frag = (ip->frag_off & bpf_htons(VIPD_IP_OFFSET)) != 0;
	pkt->flow.proto = ip->protocol;
	pkt->flow.family = VIPD_AF_INET;
	pkt->flow.src.w[0] = ip->saddr;
	pkt->flow.dst.w[0] = ip->daddr;
	pkt->tcp_flags = 0;
	pkt->tcp_off = 0;
	if (ip->protocol == IPPROTO_ICMP && !pkt->frag)
		return vipd_parse_icmp_err(data_end, ip, l3len, pkt);
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return VIPD_PARSE_PASS; /* the rest: the kernel owns the VIP */
	if (pkt->later_frag)
		return VIPD_PARSE_OK; /* no transport header in this fragment */
	return vipd_parse_l4(data, data_end, (void *)ip + (l3len & 0x3c), pkt, reason);
}

static __always_inline void vipd_copy_addr6(struct vipd_addr *to, const void *from)
{
	__builtin_memcpy(to->w, from, 16);
}

/* An ICMPv6 error (destination unreachable, packet too big, time exceeded,
 * parameter problem) to the VIP that quotes a packet VIP:port -> client: the
 * connection it belongs to, as the client sent it (as vipd_parse_icmp_err).
 * Anything else (echo, neighbour discovery...) passes to the kernel; so does a
 * quote with extension headers. */
static __always_inline int vipd_parse_icmp6_err(void *data_end, struct ipv6hdr *ip6, __u8 *icmp,
						struct vipd_pkt *pkt)
{
	if ((void *)(icmp + 8) > data_end)
		return VIPD_PARSE_PASS;
	if (icmp[0] < 1 || icmp[0] > 4)
		return VIPD_PARSE_PASS;
	struct ipv6hdr *in = (void *)(icmp + 8);
	if ((void *)(in + 1) > data_end)
		return VIPD_PARSE_PASS;
	if (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP)
		return VIPD_PARSE_PASS;
	const __be32 *a = (const __be32 *)&in->saddr, *b = (const __be32 *)&ip6->daddr;
	if ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]))
		return VIPD_PARSE_PASS;
	__be16 *ports = (void *)(in + 1);
	if ((void *)(ports + 2) > data_end)
		return VIPD_PARSE_PASS;
	pkt->flow.proto = in->nexthdr;
	vipd_copy_addr6(&pkt->flow.src, &in->daddr);
	vipd_copy_addr6(&pkt->flow.dst, &in->saddr);
	pkt->flow.sport = ports[1];
	pkt->flow.dport = ports[0];
	pkt->icmp_err = 1;
	return VIPD_PARSE_OK;
}

/* IPv6 after the fixed header, for a packet known to be for a VIP: the
 * extension headers (hop-by-hop and destination options, routing, fragment)
 * are walked to the transport header. A routing header with segments left
 * names a later destination: the kernel's. The payload length must fit the
 * frame (jumbograms are the kernel's problem: dropped). Every IPv6 packet
 * counts as DF (routers never fragment IPv6): too big means Packet Too Big. */
static __always_inline int vipd_parse6(void *data, void *data_end, struct ipv6hdr *ip6,
				       struct vipd_pkt *pkt, __u32 *reason)
{
	*reason = VIPD_DROP_BAD_IP;
	if (ip6->version != 6)
		return VIPD_PARSE_DROP;
	__u32 tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	if ((void *)ip6 + tot_len > data_end)
		return VIPD_PARSE_DROP;
	pkt->tot_len = tot_len;
	pkt->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	pkt->frag_off = bpf_htons(VIPD_IP_DF);
	pkt->flow.family = VIPD_AF_INET6;
	vipd_copy_addr6(&pkt->flow.src, &ip6->saddr);
	vipd_copy_addr6(&pkt->flow.dst, &ip6->daddr);
	pkt->tcp_flags = 0;
	pkt->tcp_off = 0;
	__u8 nh = ip6->nexthdr;
	__u32 off = sizeof(*ip6);
#pragma unroll
	for (int i = 0; i < VIPD_V6_EXT_MAX; i++) {
		if (nh != VIPD_NH_HOPOPTS && nh != VIPD_NH_ROUTING && nh != VIPD_NH_FRAGMENT &&
		    nh != VIPD_NH_DSTOPTS)
			break;
		__u8 *h = (void *)ip6 + (off & 0x3ff);
		if ((void *)(h + 8) > data_end || off + 8 > tot_len)
			return VIPD_PARSE_DROP;
		if (nh == VIPD_NH_FRAGMENT) {
			__be16 fo = *(__be16 *)(h + 2);
			pkt->frag = (fo & bpf_htons(0xfff9)) != 0; /* offset or M */
			pkt->later_frag = (fo & bpf_htons(0xfff8)) != 0;
			off += 8;
			/* What follows a fragment header is the fragmentable part:
			 * in a later fragment, payload. Every fragment of a datagram
			 * must find the same protocol here to share its entry: TCP or
			 * UDP at once, else (options in the fragmentable part) the
			 * kernel's. An atomic fragment is a whole packet: walk on. */
			if (pkt->frag) {
				nh = h[0];
				if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
					return VIPD_PARSE_PASS;
				break;
			}
		} else {
			if (nh == VIPD_NH_ROUTING && h[3] != 0)
				return VIPD_PARSE_PASS;
			off += ((__u32)h[1] + 1) * 8;
		}
		nh = h[0];
		if (off > VIPD_V6_EXT_BYTES)
			return VIPD_PARSE_DROP;
	}
	pkt->l3len = off;
	pkt->flow.proto = nh;
	if (off > VIPD_V6_EXT_BYTES || off > tot_len)
		return VIPD_PARSE_DROP;
	if (nh == VIPD_NH_ICMPV6 && !pkt->frag)
		return vipd_parse_icmp6_err(data_end, ip6, (void *)ip6 + (off & 0x3ff), pkt);
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return VIPD_PARSE_PASS; /* the rest (and too many headers): the kernel's */
	if (pkt->later_frag)
		return VIPD_PARSE_OK;
	/* The transport header within the payload length, not only the frame. */
	*reason = VIPD_DROP_TRUNC_L4;
	if (off + (nh == IPPROTO_TCP ? 20 : 8) > tot_len)
		return VIPD_PARSE_DROP;
	return vipd_parse_l4(data, data_end, (void *)ip6 + (off & 0x3ff), pkt, reason);
}

#endif /* VIPD_PARSE_H */
