// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_pass: passes every frame. The lab attaches it to the bridge-side veth peer of
 * an interface that does native XDP_TX or XDP_REDIRECT (a director's eth1): veth
 * delivers XDP-transmitted frames only to a peer that has an XDP program of its own
 * (or NAPI GRO on), otherwise they are dropped and counted as xdp_tx_errors.
 * See docs/LAB.md and shared/notes/datapath-probe.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
