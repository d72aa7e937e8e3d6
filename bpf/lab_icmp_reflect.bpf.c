// SPDX-License-Identifier: GPL-2.0
/*
 * lab_icmp_reflect: answers ICMP echo requests with native XDP_TX (MACs and IPs
 * swapped, type 8 -> 0, checksum updated per RFC 1624). Used only by the lab's
 * tests, to prove that a director's eth1 can XDP_TX through veth when the lab has
 * put the pass program on the bridge-side peer (bpf/xdp_pass.bpf.c), and cannot
 * without it. Everything else passes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/icmp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int lab_icmp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct icmphdr *icmp;
	unsigned char mac[ETH_ALEN];
	__u32 csum;
	__be32 addr;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_ICMP)
		return XDP_PASS;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) > end || icmp->type != ICMP_ECHO)
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr; /* the IP checksum is a sum: swapping keeps it */

	/* RFC 1624: HC' = ~(~HC + ~m + m'), m = type/code word 0x0800, m' = 0x0000. */
	icmp->type = ICMP_ECHOREPLY;
	csum = (__u16)~bpf_ntohs(icmp->checksum) + (__u16)~0x0800;
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	icmp->checksum = bpf_htons((__u16)~csum);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
