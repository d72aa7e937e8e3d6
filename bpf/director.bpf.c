/* director.bpf.c: vipd's XDP director. The logic is in vipd_director.h; this file
 * is the entry point the daemon attaches to the director's LAN interface. */
#include "vipd_director.h"

SEC("xdp")
int vipd_director_xdp(struct xdp_md *ctx)
{
	return vipd_director(ctx);
}

/* A program that passes everything: attached natively to the veth peer of an
 * interface running the director natively, since veth drops XDP_TX frames whose
 * peer has no XDP program (see docs/DATAPATH.md). */
SEC("xdp")
int vipd_pass_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
