/* Helpers of the eBPF datapath (kernelgatekeeper.bpf.c) that use no map: whole-word stack
 * stores for map keys (the rule is explained there, above the first key) and addresses as four
 * network-order words, IPv4 v4-mapped, with the local-destination checks, and ctx_u32(). Included
 * by that file only, after <linux/bpf.h>, <bpf/bpf_helpers.h> and <bpf/bpf_endian.h>.
 */
#ifndef KG_ADDR_H
#define KG_ADDR_H

/* The word whose bytes in memory are first's, then second's (both already in the byte order
 * they are stored in). */
static __always_inline __u64 words2(__u32 first, __u32 second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u64)first | ((__u64)second << 32);
#else
	return ((__u64)first << 32) | (__u64)second;
#endif
}

/* The same for two 16-bit fields in one 32-bit half. */
static __always_inline __u32 halves(__u16 first, __u16 second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u32)first | ((__u32)second << 16);
#else
	return ((__u32)first << 16) | (__u32)second;
#endif
}

static __always_inline void put_word(__u64 *w, __u64 v)
{
	*(volatile __u64 *)w = v;
}

/* An address as four 32-bit words in network order: IPv4 is v4-mapped (::ffff:a.b.c.d). */
struct kg_addr {
	__u32 w[4];
};

static __always_inline struct kg_addr addr_mapped(__u32 addr_be)
{
	struct kg_addr a = {{0, 0, bpf_htonl(0xffff), addr_be}};

	return a;
}

static __always_inline struct kg_addr addr_v6(__u32 a, __u32 b, __u32 c, __u32 d)
{
	struct kg_addr r = {{a, b, c, d}};

	return r;
}

/* Into a map value (never the stack): field by field is fine there. */
static __always_inline void addr_store(__u8 ip[16], struct kg_addr a)
{
	__builtin_memcpy(&ip[0], &a.w[0], 4);
	__builtin_memcpy(&ip[4], &a.w[1], 4);
	__builtin_memcpy(&ip[8], &a.w[2], 4);
	__builtin_memcpy(&ip[12], &a.w[3], 4);
}

static __always_inline int is_mapped(__u32 w0, __u32 w1, __u32 w2)
{
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff);
}

/* Destinations that are never steered: this host, link-local, "this network". */
static __always_inline int v4_is_local(__u32 addr_be)
{
	__u32 a = bpf_ntohl(addr_be);

	return (a >> 24) == 127 || (a >> 24) == 0 || (a >> 16) == 0xa9fe;
}

static __always_inline int v6_is_local(__u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	if (w0 == 0 && w1 == 0 && w2 == 0 && (w3 == 0 || w3 == bpf_htonl(1)))
		return 1;				   /* :: and ::1 */
	return (bpf_ntohl(w0) & 0xffc00000) == 0xfe800000; /* fe80::/10 */
}

/* One 32-bit context field, loaded here and now. Context structs may only be read at constant
 * offsets, and clang would otherwise sink the loads of addr_of()'s two candidates into its
 * branches and merge them into one load through a selected pointer ("dereference of modified
 * ctx ptr"). */
static __always_inline __u32 ctx_u32(const __u32 *field)
{
	return *(volatile const __u32 *)field;
}

#endif
