/* vipd_csum.h: Internet checksums (RFC 1071) and incremental updates (RFC 1624). */
#ifndef VIPD_CSUM_H
#define VIPD_CSUM_H

static __always_inline __u16 vipd_csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Checksum of a 20-byte IPv4 header (no options) whose check field is 0. */
static __always_inline __u16 vipd_ipv4_csum(const void *hdr)
{
	const __u16 *p = hdr;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += p[i];
	return vipd_csum_fold(s);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing m -> m'. */
static __always_inline __u16 vipd_csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 s = (__u16)~check;
	s += (__u16)~old;
	s += new;
	return vipd_csum_fold(s);
}

/* The same for a 32-bit field (an address): its two 16-bit halves. */
static __always_inline __u16 vipd_csum_replace4(__u16 check, __u32 old, __u32 new)
{
	check = vipd_csum_replace2(check, (__u16)old, (__u16)new);
	return vipd_csum_replace2(check, (__u16)(old >> 16), (__u16)(new >> 16));
}

#endif /* VIPD_CSUM_H */
