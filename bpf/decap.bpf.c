// SPDX-License-Identifier: GPL-2.0
/*
 * vipd real-server decapsulation: tc ingress (cls_bpf, direct action).
 *
 * On kernels without the `ipip` module there is no tunl0 to strip the outer
 * header of the director's IP-in-IP packets. This program does that job on the
 * receiving interface: an IPv4 packet of protocol 4 (IPIP) whose outer
 * destination is one of this host's own addresses (the `rs_local` map, filled by
 * `vipd realserver up`) loses its outer header before the stack sees it, so the
 * stack receives CIP -> VIP and delivers it to the service bound on the VIP
 * (which lives on `lo`). Everything else is left untouched.
 *
 * The program returns TC_ACT_UNSPEC for packets it lets through so that other
 * tc filters on the same hook still run; it drops only a packet it failed to
 * decapsulate half-way.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/*
 * Counter slots of `rs_stats`. The Rust side (crates/vipd/src/realserver/decap.rs,
 * `Counter`) uses the same indices; a test there checks this enum.
 */
enum rs_counter {
	RS_DECAP = 0,          /* IPIP to a local address: outer header stripped */
	RS_PASS_NOT_LOCAL = 1, /* IPIP to an address that is not ours: untouched */
	RS_PASS_UNSUPPORTED = 2, /* IPIP with outer options, a fragment, or an inner header that is not IPv4: untouched */
	RS_DROP_ERROR = 3,     /* bpf_skb_adjust_room failed: dropped */
	RS_COUNTER_MAX = 4,
};

/* Outer destinations we decapsulate: this host's own IPv4 addresses (network
 * byte order). Value unused (1). Sized for a host with many addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} rs_local SEC(".maps");

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

#define OUTER_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr))
#define IP_MF_OFFSET 0x3fff /* MF flag and fragment offset bits of frag_off */

SEC("classifier")
int vipd_decap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer, *inner;
	__u32 daddr;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	outer = (void *)(eth + 1);
	if ((void *)(outer + 1) > data_end || outer->protocol != IPPROTO_IPIP)
		return TC_ACT_UNSPEC;

	daddr = outer->daddr;
	if (!bpf_map_lookup_elem(&rs_local, &daddr)) {
		count(RS_PASS_NOT_LOCAL);
		return TC_ACT_UNSPEC;
	}
	/* The director sends a plain 20-byte outer header and never fragments;
	 * anything else is left to the kernel (which answers protocol unreachable). */
	if (outer->ihl != 5 || (outer->frag_off & bpf_htons(IP_MF_OFFSET))) {
		count(RS_PASS_UNSUPPORTED);
		return TC_ACT_UNSPEC;
	}

	/* The inner header may sit outside the linear area of a large skb. */
	if (data + OUTER_LEN + sizeof(struct iphdr) > data_end) {
		if (bpf_skb_pull_data(skb, OUTER_LEN + sizeof(struct iphdr)))
			goto unsupported;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	inner = data + OUTER_LEN;
	if ((void *)(inner + 1) > data_end || inner->version != 4)
		goto unsupported;

	/* Remove the 20 bytes right after the MAC header; the kernel fixes
	 * skb offsets (and, for GRO-merged packets, the GSO metadata). */
	if (bpf_skb_adjust_room(skb, -(int)sizeof(struct iphdr), BPF_ADJ_ROOM_MAC, 0)) {
		count(RS_DROP_ERROR);
		return TC_ACT_SHOT;
	}
	count(RS_DECAP);
	return TC_ACT_UNSPEC;

unsupported:
	count(RS_PASS_UNSUPPORTED);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
