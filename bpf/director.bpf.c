/* director.bpf.c: vipd's XDP director. The logic is in vipd_director.h; this file
 * is the entry point the daemon attaches to the director's LAN interface. */
#include "vipd_director.h"

SEC("xdp")
int vipd_director_xdp(struct xdp_md *ctx)
{
	return vipd_director(ctx);
}

char LICENSE[] SEC("license") = "GPL";
