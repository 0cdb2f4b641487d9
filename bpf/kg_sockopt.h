/* Pieces of the eBPF datapath (kernelgatekeeper.bpf.c) that use no map: the getsockopt
 * program's sockaddr layouts SO_ORIGINAL_DST answers with and its two ways of leaving the answer
 * alone, and the connect/sendmsg programs' socket kind. Included by that file only, after
 * <linux/bpf.h> and <bpf/bpf_helpers.h>, with PAGE_SIZE, SOCK_* and IPPROTO_* defined.
 */
#ifndef KG_SOCKOPT_H
#define KG_SOCKOPT_H

struct kg_sockaddr_in {
	__u16 family;
	__u16 port_be;
	__u32 addr_be;
	__u8 zero[8];
};

struct kg_sockaddr_in6 {
	__u16 family;
	__u16 port_be;
	__u32 flowinfo;
	__u8 addr[16];
	__u32 scope_id;
};

/* Leave the kernel's answer alone, within the rules for buffers larger than a page. */
static __always_inline int sockopt_passthrough(struct bpf_sockopt *ctx)
{
	if (ctx->optlen > PAGE_SIZE)
		ctx->optlen = 0;
	return 1;
}

/* A relay socket with no steered connection behind it for the caller: "no such entry", even
 * where connection tracking would answer (it names the relay itself for a direct connection,
 * and a relay trusting that would lend its user's ticket to whoever dialled the port). */
static __always_inline int sockopt_no_entry(struct bpf_sockopt *ctx)
{
	/* Two separate 4-byte stores: clang would merge them into one 8-byte store, and the
	 * verifier allows only 4-byte access to these context fields. */
	*(volatile __s32 *)&ctx->retval = -2; /* -ENOENT */
	*(volatile __s32 *)&ctx->optlen = 0;
	return 1;
}

/* 0: a TCP socket, 1: a UDP one, -1: anything else (left alone). */
static __always_inline int sock_kind(struct bpf_sock_addr *ctx)
{
	__u32 type = ctx->type, protocol = ctx->protocol;

	if (type == SOCK_STREAM && protocol == IPPROTO_TCP)
		return 0;
	return type == SOCK_DGRAM && protocol == IPPROTO_UDP ? 1 : -1;
}

#endif
