// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The KernelGatekeeper datapath (DESIGN.md §2).
 *
 * connect4/connect6 decide at connect() time whether a TCP connection belongs to a registered
 * user and, if so, rewrite its destination to that user's relay on loopback, keeping the
 * original destination in socket-local storage. sockops publishes the connection's 4-tuple (as
 * the relay will see it) at TCP_CONNECT_CB, before the SYN leaves, so the relay's
 * SO_ORIGINAL_DST can never race the lookup; the entry goes away at TCP_CLOSE. getpeername4/6
 * keep the application's view of its peer honest, and getsockopt answers SO_ORIGINAL_DST on the
 * relay's accepted socket, only to the uid that made the connection or to the uid that owns the
 * relay port it was steered to (the system relay, issue 17: relay_ports names its uid, and
 * process_map sends root's connections to its ports). A user whose client said
 * "direct" (off the corporate network: KG_CLIENT_F_DIRECT in the user's process_map entry) is
 * left alone as if no client were registered, counted in KG_STAT_SKIP_DIRECT.
 *
 * QUIC (issue 18): for a user whose TCP would be steered, UDP to a target port is refused at
 * once (EPERM) by connect4/6 (connected sockets) and sendmsg4/6 (sendto() without connect()),
 * under the same rules as TCP, while the settings say block_quic; browsers then fall back to
 * TCP. Counted in KG_STAT_QUIC_BLOCKED only, reported at most once per socket per second.
 *
 * Only UAPI context structs are used: no vmlinux.h, no CO-RE, no kernel BTF needed.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "kg_abi.h"
#include "kg_addr.h"

#define AF_INET	    2
#define AF_INET6    10
#define SOCK_STREAM 1
#define SOCK_DGRAM  2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define SOL_IP	    0
#define SOL_IPV6    41
#define PAGE_SIZE   4096

#include "kg_sockopt.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} target_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KG_MAX_CLIENTS);
	__type(key, __u32);
	__type(value, struct kg_client_entry);
} process_map SEC(".maps");

/* The relay listeners (KG_RELAY_PORT_KEY -> uid): for their sockets the datapath is the only
 * authority on SO_ORIGINAL_DST, whatever connection tracking would say. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KG_MAX_CLIENTS * 2);
	__type(key, __u32);
	__type(value, __u32);
} relay_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KG_MAX_CONNECTIONS);
	__type(key, struct kg_tuple);
	__type(value, struct kg_orig_dst);
} connection_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KG_RINGBUF_BYTES);
} notification_ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KG_MAX_BYPASS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kg_lpm_v4);
	__type(value, __u8);
} bypass_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KG_MAX_BYPASS_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kg_lpm_v6);
	__type(value, __u8);
} bypass_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KG_MAX_PROXY_ENDPOINTS);
	__type(key, struct kg_endpoint);
	__type(value, __u8);
} proxy_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kg_settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KG_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The original destination of a redirected application socket; freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct kg_orig_dst);
} sk_orig_dst SEC(".maps");

/* When a UDP socket last reported a refused QUIC attempt (bpf_ktime_get_ns()). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_quic_reported SEC(".maps");

/* Keys on the stack are written only as whole 64-bit words, each computed in a register.
 *
 * Without CAP_PERFMON (the unit grants CAP_BPF and CAP_NET_ADMIN only) the verifier of every
 * kernel before 6.13 (commit b0e66977dc07, backported to 6.6.66 and 6.12.y but not to 6.1.y)
 * refuses a store narrower than 8 bytes into a stack slot that already holds a spilled
 * scalar: "attempt to corrupt spilled pointer on stack". clang emits exactly that for a key
 * built field by field ({.prefixlen = 32} spilled as the constant word 32, then the address's
 * 4 bytes on top of it; the v4-mapped 0x0000ffff word, then the address). A slot written once
 * by a full-width store and only read afterwards is accepted by every verifier, so
 * every stack key here is a union with a __u64 array, each word stored exactly once through a
 * volatile pointer (clang may neither merge nor split it). That must hold for every stack
 * store in the object, the 4-byte keys included: clang gives variables whose lifetimes do not
 * overlap the same stack slot, so one narrow store anywhere can land on another key's word.
 * tests/unit/bpf-stack-stores.sh checks the compiled object for any store narrower than 8
 * bytes relative to r10. Map values and the ring buffer are not stack and may be written field
 * by field. */

union kg_key32 {
	__u32 k;
	__u64 w;
};

/* bpf_map_lookup_elem() for a map with a 4-byte key. */
static __always_inline void *lookup32(void *map, __u32 key)
{
	union kg_key32 k;

	put_word(&k.w, words2(key, 0));
	return bpf_map_lookup_elem(map, &k.k);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = lookup32(&stats, idx);

	if (v)
		*v += 1;
}

/* The TCP path's counters: a UDP socket is counted only when it is refused. */
static __always_inline void tcp_stat_inc(int udp, __u32 idx)
{
	if (!udp)
		stat_inc(idx);
}

union kg_endpoint_key {
	struct kg_endpoint ep;
	__u64 w[3];
};

static __always_inline int endpoint_is_proxy(struct kg_addr a, __u16 port)
{
	union kg_endpoint_key k;

	put_word(&k.w[0], words2(a.w[0], a.w[1]));
	put_word(&k.w[1], words2(a.w[2], a.w[3]));
	put_word(&k.w[2], words2(halves(port, 0), 0)); /* port, pad */
	if (bpf_map_lookup_elem(&proxy_endpoints, &k.ep))
		return 1;
	put_word(&k.w[2], 0); /* port 0: the proxy's address on any port */
	return bpf_map_lookup_elem(&proxy_endpoints, &k.ep) != NULL;
}

union kg_lpm_v4_key {
	struct kg_lpm_v4 k;
	__u64 w;
};

static __always_inline int v4_bypassed(__u32 addr_be)
{
	union kg_lpm_v4_key k;

	put_word(&k.w, words2(32, addr_be));
	return bpf_map_lookup_elem(&bypass_v4, &k.k) != NULL;
}

union kg_lpm_v6_key {
	struct kg_lpm_v6 k;
	__u64 w[3];
};

static __always_inline int v6_bypassed(struct kg_addr a)
{
	union kg_lpm_v6_key k;

	put_word(&k.w[0], words2(128, a.w[0]));
	put_word(&k.w[1], words2(a.w[1], a.w[2]));
	put_word(&k.w[2], words2(a.w[3], 0)); /* the last 4 bytes are beyond the key size */
	return bpf_map_lookup_elem(&bypass_v6, &k.k) != NULL;
}

/* steer_lookup()'s answer, a scalar: a map value pointer kept across helper calls is spilled by
 * clang, and Linux 6.1's verifier reloaded it as a scalar ("R1 invalid mem access 'scalar'"). */
#define KG_RELAY_FOUND	1ull
#define KG_RELAY_DIRECT 2ull
#define RELAY_PORT4(r)	((__u16)((r) >> 16))
#define RELAY_PORT6(r)	((__u16)((r) >> 32))

/* The policy checks that do not depend on the address family, for a TCP connection or (udp) a
 * UDP socket, which only block_quic lets past. Returns the caller's relay: FOUND, DIRECT (the
 * client's flag), port4 in bits 16-31, port6 in 32-47; or 0 when the socket must be left alone.
 * Cheapest checks first: most connections on a machine are not to a target port. */
static __always_inline __u64 steer_lookup(struct bpf_sock_addr *ctx, __u16 port, int udp)
{
	const struct kg_client_entry *client;
	const struct kg_settings *cfg;
	__u32 uid, flags;
	__u16 port4, port6;
	__u8 *target;

	tcp_stat_inc(udp, KG_STAT_CONNECT_SEEN);
	cfg = lookup32(&settings, 0);
	if (!cfg || (udp && !cfg->block_quic))
		return 0;
	target = lookup32(&target_ports, port);
	if (!target || !*target) {
		tcp_stat_inc(udp, KG_STAT_SKIP_PORT);
		return 0;
	}
	uid = (__u32)bpf_get_current_uid_gid();
	client = lookup32(&process_map, uid);
	if (!client) {
		tcp_stat_inc(udp, KG_STAT_SKIP_NO_CLIENT);
		return 0;
	}
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == client->client_tgid) {
		tcp_stat_inc(udp, KG_STAT_SKIP_SELF);
		return 0;
	}
	if (bpf_get_netns_cookie(ctx) != cfg->netns_cookie) {
		tcp_stat_inc(udp, KG_STAT_SKIP_NETNS);
		return 0;
	}
	flags = *(volatile const __u32 *)&client->flags;
	port4 = *(volatile const __u16 *)&client->port4;
	port6 = *(volatile const __u16 *)&client->port6;
	return KG_RELAY_FOUND | (flags & KG_CLIENT_F_DIRECT ? KG_RELAY_DIRECT : 0) |
	       (__u64)port4 << 16 | (__u64)port6 << 32;
}

/* The user's client said the user is off the corporate network: a connection that would be
 * steered goes where the application sent it, counted. Asked last, so the counter says how
 * many connections the flag spared the relay. */
static __always_inline int client_says_direct(__u64 relay, int udp)
{
	if (!(relay & KG_RELAY_DIRECT))
		return 0;
	tcp_stat_inc(udp, KG_STAT_SKIP_DIRECT);
	return 1;
}

/* Where and who, into a map value or the ring (never the stack). */
static __always_inline void dst_fill(struct kg_orig_dst *dst, struct bpf_sock_addr *ctx,
				     struct kg_addr a, __u16 port, __u16 relay_family)
{
	addr_store(dst->ip, a);
	dst->port = port;
	dst->family = relay_family;
	dst->uid = (__u32)bpf_get_current_uid_gid();
	dst->pid = (__u32)(bpf_get_current_pid_tgid() >> 32);
	dst->cookie = bpf_get_socket_cookie(ctx);
	/* comm is left to the service (from /proc): bpf_get_current_comm() would cost the
	 * service CAP_PERFMON, which also opens kernel-memory reads to tracing programs. */
}

/* Remember where the application wanted to go, on its own socket. */
static __always_inline int remember_dst(struct bpf_sock_addr *ctx, struct kg_addr a, __u16 port,
					__u16 relay_family)
{
	struct kg_orig_dst *dst;
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return -1;
	dst = bpf_sk_storage_get(&sk_orig_dst, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!dst)
		return -1;
	dst_fill(dst, ctx, a, port, relay_family);
	return 0;
}

/* Waking the service for every connection puts a process switch on the path of each connect()
 * (on a 2-vCPU machine it cost about 0.2 ms of time-to-first-byte): unless someone watches
 * live, events wait for the service's timer or for the ring to fill up a quarter. */
static __always_inline __u64 event_wakeup(void)
{
	const struct kg_settings *cfg;

	cfg = lookup32(&settings, 0);
	if (cfg && cfg->live_events)
		return 0;
	if (bpf_ringbuf_query(&notification_ringbuf, BPF_RB_AVAIL_DATA) >= KG_RINGBUF_WAKE_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* A steered user's UDP to a target port (QUIC): refused (0, EPERM), so that the browser falls
 * back to TCP, which is steered. Reported at most once per socket per KG_QUIC_EVENT_GAP_NS: a
 * program that keeps trying cannot flood the ring. */
static __always_inline int quic_refuse(struct bpf_sock_addr *ctx, struct kg_addr a, __u16 port,
				       __u16 family)
{
	struct bpf_sock *sk = ctx->sk;
	__u64 now = bpf_ktime_get_ns(), *last = NULL;
	struct kg_event *ev;

	stat_inc(KG_STAT_QUIC_BLOCKED);
	if (sk)
		last = bpf_sk_storage_get(&sk_quic_reported, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (last) {
		if (*last && now - *last < KG_QUIC_EVENT_GAP_NS)
			return 0;
		*last = now;
	}
	ev = bpf_ringbuf_reserve(&notification_ringbuf, sizeof(*ev), 0);
	if (!ev) {
		stat_inc(KG_STAT_EVENTS_DROPPED);
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = KG_EVENT_QUIC_BLOCKED;
	ev->timestamp_ns = now;
	dst_fill(&ev->dst, ctx, a, port, family);
	bpf_ringbuf_submit(ev, event_wakeup());
	return 0;
}

/* A TCP socket may connect again after a failed connect() or a connect(AF_UNSPEC): what an
 * earlier, redirected attempt remembered must not describe this one (getpeername, sockops). */
static __always_inline void forget_dst(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk && ctx->type == SOCK_STREAM)
		bpf_sk_storage_delete(&sk_orig_dst, sk);
}

/* connect4, and sendmsg4 (udp): a TCP connection steered to the relay, or a UDP socket's
 * QUIC refused (0); 1 lets the call go on. */
static __always_inline int on_addr4(struct bpf_sock_addr *ctx, int udp)
{
	__u64 relay;
	__u32 addr = ctx->user_ip4;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	struct kg_addr a = addr_mapped(addr);

	relay = steer_lookup(ctx, port, udp);
	if (!relay)
		return 1;
	if (v4_is_local(addr)) {
		tcp_stat_inc(udp, KG_STAT_SKIP_LOCAL);
		return 1;
	}
	if (v4_bypassed(addr) || endpoint_is_proxy(a, port)) {
		tcp_stat_inc(udp, KG_STAT_SKIP_BYPASS);
		return 1;
	}
	if (client_says_direct(relay, udp))
		return 1;
	if (udp)
		return quic_refuse(ctx, a, port, AF_INET);
	if (remember_dst(ctx, a, port, AF_INET) < 0)
		return 1;
	ctx->user_ip4 = bpf_htonl(0x7f000001);
	ctx->user_port = bpf_htons(RELAY_PORT4(relay));
	stat_inc(KG_STAT_REDIRECTED);
	return 1;
}

/* The same for connect6 and sendmsg6. */
static __always_inline int on_addr6(struct bpf_sock_addr *ctx, int udp)
{
	__u64 relay;
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1];
	__u32 w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	int mapped = is_mapped(w0, w1, w2);
	struct kg_addr a = addr_v6(w0, w1, w2, w3);
	__u16 port4, port6;

	relay = steer_lookup(ctx, port, udp);
	if (!relay)
		return 1;
	if (mapped ? v4_is_local(w3) : v6_is_local(w0, w1, w2, w3)) {
		tcp_stat_inc(udp, KG_STAT_SKIP_LOCAL);
		return 1;
	}
	if ((mapped ? v4_bypassed(w3) : v6_bypassed(a)) || endpoint_is_proxy(a, port)) {
		tcp_stat_inc(udp, KG_STAT_SKIP_BYPASS);
		return 1;
	}
	/* Both ports were loaded by steer_lookup() before any branch: clang would otherwise select
	 * the field by a variable offset into the map value, which the verifier refuses without
	 * CAP_PERFMON. */
	port4 = RELAY_PORT4(relay);
	port6 = RELAY_PORT6(relay);
	if (!mapped && port6 == 0)
		return 1; /* native IPv6 TCP goes direct: so may its QUIC */
	if (client_says_direct(relay, udp))
		return 1;
	if (udp)
		return quic_refuse(ctx, a, port, mapped ? AF_INET : AF_INET6);
	if (remember_dst(ctx, a, port, mapped ? AF_INET : AF_INET6) < 0)
		return 1;
	if (mapped) {
		/* Stays an IPv4 connection: the relay's 127.0.0.1 listener takes it. */
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = bpf_htonl(0x7f000001);
		ctx->user_port = bpf_htons(port4);
	} else {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = 0;
		ctx->user_ip6[3] = bpf_htonl(1);
		ctx->user_port = bpf_htons(port6);
	}
	stat_inc(KG_STAT_REDIRECTED);
	return 1;
}

SEC("cgroup/connect4")
int kg_connect4(struct bpf_sock_addr *ctx)
{
	int kind = sock_kind(ctx);

	forget_dst(ctx);
	return kind < 0 ? 1 : on_addr4(ctx, kind);
}

SEC("cgroup/connect6")
int kg_connect6(struct bpf_sock_addr *ctx)
{
	int kind = sock_kind(ctx);

	forget_dst(ctx);
	return kind < 0 ? 1 : on_addr6(ctx, kind);
}

/* sendto()/sendmsg() with an address, on a UDP socket: only ever refused, never rewritten. */
SEC("cgroup/sendmsg4")
int kg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_kind(ctx) == 1 ? on_addr4(ctx, 1) : 1;
}

SEC("cgroup/sendmsg6")
int kg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_kind(ctx) == 1 ? on_addr6(ctx, 1) : 1;
}

/* The connection_map key, as stack words (see words2). Both sides build it here (sockops from
 * the application's socket, getsockopt from the relay's accepted one), so they cannot drift
 * apart by a byte. */
union kg_tuple_key {
	struct kg_tuple t;
	__u64 w[5];
};

static __always_inline void tuple_fill(union kg_tuple_key *k, struct kg_addr client,
				       struct kg_addr relay, __u16 client_port, __u16 relay_port)
{
	put_word(&k->w[0], words2(client.w[0], client.w[1]));
	put_word(&k->w[1], words2(client.w[2], client.w[3]));
	put_word(&k->w[2], words2(relay.w[0], relay.w[1]));
	put_word(&k->w[3], words2(relay.w[2], relay.w[3]));
	put_word(&k->w[4], words2(halves(client_port, relay_port), 0)); /* ports, pad */
}

/* An address from a context's IPv4 and IPv6 words, all loaded by the caller with ctx_u32(). */
static __always_inline struct kg_addr addr_of(__u32 family, __u32 v4, struct kg_addr v6)
{
	return family == AF_INET ? addr_mapped(v4) : v6;
}

/* The 4-tuple of an application socket as the relay's accepted socket will report it. */
static __always_inline void ops_tuple(struct bpf_sock_ops *skops, union kg_tuple_key *k)
{
	__u32 family = ctx_u32(&skops->family);
	__u32 l4 = ctx_u32(&skops->local_ip4), r4 = ctx_u32(&skops->remote_ip4);
	struct kg_addr l6 = addr_v6(ctx_u32(&skops->local_ip6[0]), ctx_u32(&skops->local_ip6[1]),
				    ctx_u32(&skops->local_ip6[2]), ctx_u32(&skops->local_ip6[3]));
	struct kg_addr r6 = addr_v6(ctx_u32(&skops->remote_ip6[0]), ctx_u32(&skops->remote_ip6[1]),
				    ctx_u32(&skops->remote_ip6[2]), ctx_u32(&skops->remote_ip6[3]));

	tuple_fill(k, addr_of(family, l4, l6), addr_of(family, r4, r6), (__u16)skops->local_port,
		   (__u16)bpf_ntohl(skops->remote_port));
}

static __always_inline void emit_event(__u32 type, const struct kg_tuple *t,
				       const struct kg_orig_dst *dst)
{
	struct kg_event *ev = bpf_ringbuf_reserve(&notification_ringbuf, sizeof(*ev), 0);

	if (!ev) {
		stat_inc(KG_STAT_EVENTS_DROPPED);
		return;
	}
	ev->type = type;
	ev->pad = 0;
	ev->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(&ev->tuple, t, sizeof(*t));
	__builtin_memcpy(&ev->dst, dst, sizeof(*dst));
	bpf_ringbuf_submit(ev, event_wakeup());
}

SEC("sockops")
int kg_sockops(struct bpf_sock_ops *skops)
{
	struct kg_orig_dst *dst;
	struct bpf_sock *sk;
	union kg_tuple_key k;
	__u32 op = skops->op;

	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	dst = bpf_sk_storage_get(&sk_orig_dst, sk, 0, 0);
	if (!dst)
		return 1;
	ops_tuple(skops, &k);
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
		bpf_map_update_elem(&connection_map, &k.t, dst, BPF_ANY);
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						     BPF_SOCK_OPS_STATE_CB_FLAG);
		emit_event(KG_EVENT_REDIRECT, &k.t, dst);
	} else if (skops->args[1] == BPF_TCP_CLOSE) {
		/* Both FINs are through (or the connection was reset): the relay has long read
		 * SO_ORIGINAL_DST, the entry can go. Already gone: the full map evicted it. */
		if (bpf_map_delete_elem(&connection_map, &k.t))
			stat_inc(KG_STAT_CONNMAP_EVICTED);
		emit_event(KG_EVENT_CLOSE, &k.t, dst);
	}
	return 1;
}

SEC("cgroup/getpeername4")
int kg_getpeername4(struct bpf_sock_addr *ctx)
{
	struct kg_orig_dst *dst;
	struct bpf_sock *sk = ctx->sk;
	__u32 addr;

	if (!sk)
		return 1;
	dst = bpf_sk_storage_get(&sk_orig_dst, sk, 0, 0);
	if (!dst)
		return 1;
	__builtin_memcpy(&addr, &dst->ip[12], 4);
	ctx->user_ip4 = addr;
	ctx->user_port = bpf_htons(dst->port);
	return 1;
}

SEC("cgroup/getpeername6")
int kg_getpeername6(struct bpf_sock_addr *ctx)
{
	struct kg_orig_dst *dst;
	struct bpf_sock *sk = ctx->sk;
	const __u32 *w;

	if (!sk)
		return 1;
	dst = bpf_sk_storage_get(&sk_orig_dst, sk, 0, 0);
	if (!dst)
		return 1;
	/* Straight from the map value (ip is its first, aligned field), never via the stack. */
	w = (const __u32 *)dst->ip;
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = bpf_htons(dst->port);
	return 1;
}

SEC("cgroup/getsockopt")
int kg_getsockopt(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct kg_orig_dst *dst;
	union kg_tuple_key k;
	void *optval = ctx->optval, *optval_end = ctx->optval_end;
	__u32 level = ctx->level;
	struct kg_addr src6, dst6;
	__u32 src4, dst4, family, relay_key, asker, *owner;
	__u16 dport_be, relay_port;
	int is_relay;

	if (ctx->optname != KG_SO_ORIGINAL_DST || (level != SOL_IP && level != SOL_IPV6) || !sk)
		return sockopt_passthrough(ctx);
	if (sk->protocol != IPPROTO_TCP)
		return sockopt_passthrough(ctx);

	family = ctx_u32(&sk->family);
	src4 = ctx_u32(&sk->src_ip4);
	dst4 = ctx_u32(&sk->dst_ip4);
	src6 = addr_v6(ctx_u32(&sk->src_ip6[0]), ctx_u32(&sk->src_ip6[1]), ctx_u32(&sk->src_ip6[2]),
		       ctx_u32(&sk->src_ip6[3]));
	dst6 = addr_v6(ctx_u32(&sk->dst_ip6[0]), ctx_u32(&sk->dst_ip6[1]), ctx_u32(&sk->dst_ip6[2]),
		       ctx_u32(&sk->dst_ip6[3]));
	dport_be = (__u16)sk->dst_port;
	relay_port = (__u16)sk->src_port;
	/* The accepted socket: local = the relay, remote = the application. */
	tuple_fill(&k, addr_of(family, dst4, dst6), addr_of(family, src4, src6),
		   bpf_ntohs(dport_be), relay_port);
	dst = bpf_map_lookup_elem(&connection_map, &k.t);
	if (!dst) {
		/* No steered connection behind it: a relay listener's socket still gets no answer
		 * (conntrack would give another user the relay's address), anything else the
		 * kernel's. */
		relay_key = KG_RELAY_PORT_KEY(family == AF_INET6, relay_port);
		is_relay = (family == AF_INET ? src4 == bpf_htonl(0x7f000001)
					      : (src6.w[0] | src6.w[1] | src6.w[2]) == 0 &&
						    src6.w[3] == bpf_htonl(1)) &&
			   lookup32(&relay_ports, relay_key) != NULL;
		return is_relay ? sockopt_no_entry(ctx) : sockopt_passthrough(ctx);
	}
	asker = (__u32)bpf_get_current_uid_gid();
	if (asker != dst->uid) {
		/* Another user asking about this user's connection: only the owner of the relay
		 * port the connection was steered to (the tuple names that port) may. */
		owner = lookup32(&relay_ports, KG_RELAY_PORT_KEY(family == AF_INET6, relay_port));
		if (!owner || *owner != asker) {
			stat_inc(KG_STAT_ORIGDST_DENIED);
			return sockopt_no_entry(ctx);
		}
	}

	if (level == SOL_IP && dst->family == AF_INET) {
		struct kg_sockaddr_in *sin = optval;

		if ((void *)(sin + 1) > optval_end)
			return sockopt_passthrough(ctx);
		sin->family = AF_INET;
		sin->port_be = bpf_htons(dst->port);
		__builtin_memcpy(&sin->addr_be, &dst->ip[12], 4);
		__builtin_memset(sin->zero, 0, sizeof(sin->zero));
		ctx->optlen = sizeof(*sin);
	} else if (level == SOL_IPV6 && dst->family == AF_INET6) {
		struct kg_sockaddr_in6 *sin6 = optval;

		if ((void *)(sin6 + 1) > optval_end)
			return sockopt_passthrough(ctx);
		sin6->family = AF_INET6;
		sin6->port_be = bpf_htons(dst->port);
		sin6->flowinfo = 0;
		__builtin_memcpy(sin6->addr, dst->ip, 16);
		sin6->scope_id = 0;
		ctx->optlen = sizeof(*sin6);
	} else {
		return sockopt_passthrough(ctx);
	}
	ctx->retval = 0;
	stat_inc(KG_STAT_ORIGDST_ANSWERED);
	return 1;
}
