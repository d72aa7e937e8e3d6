// SPDX-License-Identifier: GPL-2.0
/*
 * vipd real-server decapsulation: tc ingress (cls_bpf, direct action).
 *
 * On kernels without the `ipip` / `ip6_tunnel` / `sit` modules there is no
 * tunl0 / ip6tnl0 / sit0 to strip the outer header of the director's tunnelled
 * packets. This program does that job on the receiving interface, for the four
 * encapsulations the director sends (outer / inner):
 *
 *   ipip   (4in4): IPv4 protocol 4,   inner IPv4
 *   6in4         : IPv4 protocol 41,  inner IPv6
 *   4in6         : IPv6 next header 4,  inner IPv4
 *   ip6ip6 (6in6): IPv6 next header 41, inner IPv6
 *
 * A packet whose outer destination is one of this host's own addresses (the
 * `rs_local` / `rs_local6` maps, filled by `vipd realserver up`) loses its outer
 * header before the stack sees it, so the stack receives CIP -> VIP and
 * delivers it to the service bound on the VIP (which lives on `lo`). When the
 * families differ, skb->protocol (BPF_F_ADJ_ROOM_DECAP_L3_*) and the Ethernet
 * type are switched to the inner family. Everything else is left untouched.
 *
 * The program returns TC_ACT_UNSPEC for packets it lets through so that other
 * tc filters on the same hook still run; it drops only a packet it failed to
 * decapsulate half-way.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/stddef.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/*
 * Counter slots of `rs_stats`. The Rust side (crates/vipd/src/realserver/decap.rs,
 * `Counter`) uses the same indices; a test there checks this enum.
 */
enum rs_counter {
	RS_DECAP = 0,          /* IPIP (4in4) to a local address: outer header stripped */
	RS_PASS_NOT_LOCAL = 1, /* outer IPv4, protocol 4 or 41, to an address that is not ours: untouched */
	RS_PASS_UNSUPPORTED = 2, /* outer IPv4 with options or a fragment, or an inner version that does not match the protocol: untouched */
	RS_DROP_ERROR = 3,     /* bpf_skb_adjust_room (or the Ethernet type rewrite) failed: dropped */
	RS_DECAP_6IN6 = 4,     /* ip6ip6 to a local address: outer header stripped */
	RS_DECAP_4IN6 = 5,     /* 4in6 to a local address: outer header stripped */
	RS_DECAP_6IN4 = 6,     /* 6in4 to a local address: outer header stripped */
	RS_PASS_NOT_LOCAL6 = 7, /* outer IPv6, next header 4 or 41, to an address that is not ours: untouched */
	RS_PASS_UNSUPPORTED6 = 8, /* outer IPv6 to a local address with an extension header (fragment included) in front of protocol 4 or 41, or an inner version that does not match: untouched */
	RS_COUNTER_MAX = 9,
};

/* Outer destinations we decapsulate: this host's own IPv4 addresses (network
 * byte order). Value unused (1). Sized for a host with many addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} rs_local SEC(".maps");

/* The same for this host's own IPv6 addresses (16 bytes, network order): global
 * and unique-local ones, never link-local ones or the VIPs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct in6_addr);
	__type(value, __u8);
} rs_local6 SEC(".maps");

/* What the program did, per CPU; `vipd realserver status` sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RS_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rs_stats SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&rs_stats, &slot);
	if (v)
		*v += 1;
}

/* BPF_F_ADJ_ROOM_DECAP_L3_IPV4/6 (Linux 6.3+; the uapi header this builds
 * against may predate them, and they are enum members, so no #ifndef). */
#define ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#define ETH_LEN sizeof(struct ethhdr)
#define IP_MF_OFFSET 0x3fff /* MF flag and fragment offset bits of frag_off */
#define NEXTHDR_HOP 0       /* IPv6 extension headers whose first byte is the */
#define NEXTHDR_ROUTING 43  /* next header: enough to see a tunnel behind them */
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

/* Strip the `outer_len` bytes of outer header after the Ethernet header. When
 * the inner family differs from the outer one, tell the kernel (skb->protocol,
 * via the DECAP_L3 flag) and rewrite the Ethernet type, which the stack and
 * packet sockets further on read. Returns the verdict. */
static __always_inline int strip(struct __sk_buff *skb, __u32 outer_len, __u16 outer_proto,
				 __u16 inner_proto, __u32 counter)
{
	/* FIXED_GSO: a GRO-merged packet keeps its segment size (the inner
	 * segments are as long as they were; without it the kernel would add the
	 * outer header's length to gso_size, and TCP would misjudge the sender's
	 * MSS from it). */
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;
	__be16 h_proto = bpf_htons(inner_proto);

	if (inner_proto != outer_proto)
		flags |= inner_proto == ETH_P_IP ? ADJ_ROOM_DECAP_L3_IPV4 : ADJ_ROOM_DECAP_L3_IPV6;
	/* The kernel fixes skb offsets. */
	if (bpf_skb_adjust_room(skb, -(int)outer_len, BPF_ADJ_ROOM_MAC, flags))
		goto error;
	/* The Ethernet header is not covered by the receive checksum: flags 0. */
	if (inner_proto != outer_proto &&
	    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &h_proto, sizeof(h_proto), 0))
		goto error;
	count(counter);
	return TC_ACT_UNSPEC;
error:
	count(RS_DROP_ERROR);
	return TC_ACT_SHOT;
}

/* Make sure `len` bytes from the start of the frame are in the linear area (the
 * inner header may sit outside it in a large skb). Returns 0 when they are. */
static __always_inline int pull(struct __sk_buff *skb, __u32 len)
{
	if ((void *)(long)skb->data + len <= (void *)(long)skb->data_end)
		return 0;
	if (bpf_skb_pull_data(skb, len))
		return -1;
	return (void *)(long)skb->data + len <= (void *)(long)skb->data_end ? 0 : -1;
}

/* Version nibble of the byte at `off`, or 0 when it cannot be read. */
static __always_inline __u8 version_at(struct __sk_buff *skb, __u32 off)
{
	__u8 *p;

	if (pull(skb, off + 1))
		return 0;
	p = (void *)(long)skb->data + off;
	if ((void *)(p + 1) > (void *)(long)skb->data_end)
		return 0;
	return *p >> 4;
}

/* Outer IPv4: ipip (protocol 4) and 6in4 (protocol 41). */
static __always_inline int outer_ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *outer = data + ETH_LEN;
	__u32 daddr;
	__u8 proto;

	if ((void *)(outer + 1) > data_end)
		return TC_ACT_UNSPEC;
	proto = outer->protocol;
	if (proto != IPPROTO_IPIP && proto != IPPROTO_IPV6)
		return TC_ACT_UNSPEC;

	daddr = outer->daddr;
	if (!bpf_map_lookup_elem(&rs_local, &daddr)) {
		count(RS_PASS_NOT_LOCAL);
		return TC_ACT_UNSPEC;
	}
	/* The director sends a plain 20-byte outer header and never fragments;
	 * anything else is left to the kernel (which answers protocol unreachable). */
	if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF_OFFSET)))
		goto unsupported;

	if (proto == IPPROTO_IPIP) {
		if (version_at(skb, ETH_LEN + sizeof(struct iphdr)) != 4 ||
		    pull(skb, ETH_LEN + sizeof(struct iphdr) * 2))
			goto unsupported;
		return strip(skb, sizeof(struct iphdr), ETH_P_IP, ETH_P_IP, RS_DECAP);
	}
	if (version_at(skb, ETH_LEN + sizeof(struct iphdr)) != 6 ||
	    pull(skb, ETH_LEN + sizeof(struct iphdr) + sizeof(struct ipv6hdr)))
		goto unsupported;
	return strip(skb, sizeof(struct iphdr), ETH_P_IP, ETH_P_IPV6, RS_DECAP_6IN4);

unsupported:
	count(RS_PASS_UNSUPPORTED);
	return TC_ACT_UNSPEC;
}

/* Outer IPv6: 4in6 (next header 4) and ip6ip6 (next header 41). */
static __always_inline int outer_ipv6(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *outer = data + ETH_LEN;
	struct in6_addr daddr;
	__u8 nexthdr, behind;
	__u8 *ext;

	if ((void *)(outer + 1) > data_end)
		return TC_ACT_UNSPEC;
	nexthdr = outer->nexthdr;
	behind = nexthdr;
	if (nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING || nexthdr == NEXTHDR_FRAGMENT ||
	    nexthdr == NEXTHDR_DEST) {
		/* One extension header deep: is a tunnel behind it? (A fragment
		 * header's first byte is the next header too.) */
		ext = (void *)(outer + 1);
		if ((void *)(ext + 1) > data_end)
			return TC_ACT_UNSPEC;
		behind = *ext;
	}
	if (behind != IPPROTO_IPIP && behind != IPPROTO_IPV6)
		return TC_ACT_UNSPEC;

	daddr = outer->daddr;
	if (!bpf_map_lookup_elem(&rs_local6, &daddr)) {
		count(RS_PASS_NOT_LOCAL6);
		return TC_ACT_UNSPEC;
	}
	/* The director sends a plain 40-byte outer header without extension
	 * headers and never fragments: leave anything else to the kernel. */
	if (nexthdr != behind)
		goto unsupported;

	if (nexthdr == IPPROTO_IPIP) {
		if (version_at(skb, ETH_LEN + sizeof(struct ipv6hdr)) != 4 ||
		    pull(skb, ETH_LEN + sizeof(struct ipv6hdr) + sizeof(struct iphdr)))
			goto unsupported;
		return strip(skb, sizeof(struct ipv6hdr), ETH_P_IPV6, ETH_P_IP, RS_DECAP_4IN6);
	}
	if (version_at(skb, ETH_LEN + sizeof(struct ipv6hdr)) != 6 ||
	    pull(skb, ETH_LEN + sizeof(struct ipv6hdr) * 2))
		goto unsupported;
	return strip(skb, sizeof(struct ipv6hdr), ETH_P_IPV6, ETH_P_IPV6, RS_DECAP_6IN6);

unsupported:
	count(RS_PASS_UNSUPPORTED6);
	return TC_ACT_UNSPEC;
}

SEC("classifier")
int vipd_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return outer_ipv4(skb);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return outer_ipv6(skb);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
