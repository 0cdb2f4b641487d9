/* The IPC codec: every message type round-trips, every malformed datagram is rejected before
 * its payload is read, descriptors travel with SCM_RIGHTS and stray ones are closed. And what
 * becomes of peers' text (shared/text.c): what counts as printable, escaping for a terminal. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/ipc.h"
#include "shared/text.h"

typedef union {
	uint64_t align;
	uint8_t bytes[KG_IPC_MAX_MSG];
} buf_t;

static size_t build(buf_t *b, uint16_t type, const void *p, size_t len)
{
	struct kg_ipc_hdr h = {KG_IPC_MAGIC, KG_IPC_VERSION, type, 42, (uint32_t)len};

	memcpy(b->bytes, &h, sizeof(h));
	if (len)
		memcpy(b->bytes + sizeof(h), p, len);
	return sizeof(h) + len;
}

START_TEST(test_decode_valid)
{
	buf_t b;
	struct kg_ipc_msg m;
	struct kg_ipc_port port = {.port = 8080};
	struct kg_ipc_register reg = {0};
	size_t n;

	n = build(&b, KG_MSG_STATUS_GET, NULL, 0);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_uint_eq(m.hdr.type, KG_MSG_STATUS_GET);
	ck_assert_uint_eq(m.hdr.seq, 42);
	n = build(&b, KG_MSG_PORTS_ADD, &port, sizeof(port));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_uint_eq(((const struct kg_ipc_port *)m.payload)->port, 8080);
	n = build(&b, KG_MSG_REGISTER, &reg, sizeof(reg));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
}
END_TEST

START_TEST(test_decode_malformed)
{
	buf_t b;
	struct kg_ipc_msg m;
	struct kg_ipc_hdr h;
	struct kg_ipc_error e;
	struct kg_ipc_ports ps;
	size_t n, i;

	/* Every truncation of a valid message is rejected. */
	n = build(&b, KG_MSG_STATS_GET, NULL, 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(kg_ipc_decode(b.bytes, i, &m), -EBADMSG);
	/* Wrong magic, wrong version, length lies, unknown type, oversized. */
	memcpy(&h, b.bytes, sizeof(h));
	h.magic ^= 1;
	memcpy(b.bytes, &h, sizeof(h));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	h.magic = KG_IPC_MAGIC;
	h.version = 2;
	memcpy(b.bytes, &h, sizeof(h));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EPROTONOSUPPORT);
	h.version = KG_IPC_VERSION;
	h.len = 4;
	memcpy(b.bytes, &h, sizeof(h));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	n = build(&b, 999, NULL, 0);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, KG_IPC_MAX_MSG + 1, &m), -EBADMSG);
	/* A payload on a request that takes none; a short fixed payload. */
	n = build(&b, KG_MSG_STATUS_GET, "xx", 2);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	n = build(&b, KG_MSG_PORTS_ADD, "x", 1);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	/* Unterminated error text; impossible port count. */
	memset(&e, 'A', sizeof(e));
	e.error = EPERM;
	n = build(&b, KG_MSG_ERROR, &e, sizeof(e));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	memset(&ps, 0, sizeof(ps));
	ps.n_ports = 1000;
	n = build(&b, KG_MSG_PORTS, &ps, sizeof(ps));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

START_TEST(test_status_counts)
{
	buf_t b;
	struct kg_ipc_msg m;
	uint8_t p[sizeof(struct kg_ipc_status) + 2 * sizeof(struct kg_ipc_client_info)] = {0};
	struct kg_ipc_status *st = (void *)p;
	size_t n;

	st->n_clients = 2;
	n = build(&b, KG_MSG_STATUS, p, sizeof(p));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	st->n_clients = 3; /* claims more entries than it carries */
	n = build(&b, KG_MSG_STATUS, p, sizeof(p));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	st->n_clients = 1;
	n = build(&b, KG_MSG_STATUS, p, sizeof(p) - 1);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

/* KG_MSG_CLIENT_ROUTE_STATE: exactly its size, direct 0 or 1, pad 0, the reason terminated
 * within its array; and the state as STATUS carries it back, held to the same rules. */
START_TEST(test_route_state)
{
	buf_t b;
	struct kg_ipc_msg m;
	struct kg_ipc_route_state rs = {.direct = 1};
	uint8_t p[sizeof(struct kg_ipc_status) + sizeof(struct kg_ipc_client_info)] = {0};
	struct kg_ipc_status *st = (void *)p;
	struct kg_ipc_client_info *ci = (void *)(st + 1);
	size_t n, i;

	strcpy(rs.reason, "no proxy reachable");
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_uint_eq(((const struct kg_ipc_route_state *)m.payload)->direct, 1);
	ck_assert_str_eq(((const struct kg_ipc_route_state *)m.payload)->reason,
			 "no proxy reachable");
	ck_assert_str_eq(kg_msg_type_name(KG_MSG_CLIENT_ROUTE_STATE), "client-route-state");
	memset(rs.reason, 0, sizeof(rs.reason));
	rs.direct = 0;
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	/* Every other length, short or long. */
	for (i = 0; i <= sizeof(rs) + 8; i++) {
		uint8_t big[sizeof(rs) + 8] = {0};

		if (i == sizeof(rs))
			continue;
		n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, big, i);
		ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	}
	/* direct is 0 or 1; pad is 0; the reason ends within its array. */
	rs.direct = 2;
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.direct = 0xffffffffu;
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.direct = 1;
	rs.pad = 1;
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.pad = 0;
	memset(rs.reason, 'x', sizeof(rs.reason));
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.reason[sizeof(rs.reason) - 1] = '\0';
	n = build(&b, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);

	/* STATUS: a client's route state is read back under the same rules. */
	st->n_clients = 1;
	ci->direct = 1;
	ci->direct_since_usec = 1;
	strcpy(ci->direct_reason, "WPAD found nothing");
	n = build(&b, KG_MSG_STATUS, p, sizeof(p));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ci->direct = 2;
	n = build(&b, KG_MSG_STATUS, p, sizeof(p));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	ci->direct = 1;
	memset(ci->direct_reason, 'y', sizeof(ci->direct_reason));
	n = build(&b, KG_MSG_STATUS, p, sizeof(p));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

/* Route reports: the encoder refuses what the decoder would, and the decoder refuses a
 * truncated or padded payload, texts too long or not printable ASCII, an empty route, a
 * client's message that names a uid, non-zero bytes after a text's end. */
START_TEST(test_route_report)
{
	static const uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5};
	char long_host[KG_IPC_HOST_MAX + 1], long_route[KG_IPC_ROUTE_MAX + 1];
	struct kg_ipc_route rt, bad;
	struct kg_ipc_watched w = {.watched = 1};
	struct kg_ipc_msg m;
	buf_t b;
	size_t n, i;

	ck_assert_int_eq(
	    kg_ipc_route_encode(&rt, ip, 443, "www.example.test", "via p2:3128 (p1:3128 down)"), 0);
	ck_assert_uint_eq(rt.uid, 0);
	n = build(&b, KG_MSG_CLIENT_ROUTE, &rt, sizeof(rt));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_str_eq(((const struct kg_ipc_route *)m.payload)->host, "www.example.test");
	ck_assert_str_eq(((const struct kg_ipc_route *)m.payload)->route,
			 "via p2:3128 (p1:3128 down)");
	ck_assert_uint_eq(((const struct kg_ipc_route *)m.payload)->dst_port, 443);
	ck_assert_str_eq(kg_msg_type_name(KG_MSG_CLIENT_ROUTE), "client-route");
	ck_assert_str_eq(kg_msg_type_name(KG_MSG_ROUTE), "route");
	/* No host is allowed; no route is not. */
	ck_assert_int_eq(kg_ipc_route_encode(&rt, ip, 80, NULL, "DIRECT by PAC"), 0);
	ck_assert_int_eq(kg_ipc_route_encode(&rt, ip, 80, "", "DIRECT by PAC"), 0);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", ""), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", NULL), -EINVAL);
	/* Too long: one byte over each bound; the longest that fits passes. */
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	memset(long_route, 'r', sizeof(long_route) - 1);
	long_route[sizeof(long_route) - 1] = '\0';
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, long_host, "x"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", long_route), -EINVAL);
	long_host[KG_IPC_HOST_MAX - 1] = '\0';
	long_route[KG_IPC_ROUTE_MAX - 1] = '\0';
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, long_host, long_route), 0);
	/* Not printable ASCII: control bytes, DEL, 8-bit bytes, a space in the host. */
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "a\x1b[2Jb", "x"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "a b", "x"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h\xc3\xa9", "x"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", "via p\n1"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", "via \x7f"), -EINVAL);
	ck_assert_int_eq(kg_ipc_route_encode(&bad, ip, 80, "h", "DIRECT by PAC"), 0);

	/* Truncated or longer payloads, of both directions' types. */
	for (i = 0; i <= sizeof(rt) + 8; i++) {
		uint8_t big[sizeof(rt) + 8];

		if (i == sizeof(rt))
			continue;
		memset(big, 0, sizeof(big));
		memcpy(big, &rt, i < sizeof(rt) ? i : sizeof(rt));
		n = build(&b, KG_MSG_CLIENT_ROUTE, big, i);
		ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
		n = build(&b, KG_MSG_ROUTE, big, i);
		ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	}
	/* A client's report names no uid; the service's carries one. */
	bad = rt;
	bad.uid = 1000;
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	n = build(&b, KG_MSG_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_uint_eq(((const struct kg_ipc_route *)m.payload)->uid, 1000);
	ck_assert_int_eq(kg_ipc_route_check(&bad, 1), -EBADMSG);
	ck_assert_int_eq(kg_ipc_route_check(&bad, 0), 0);
	/* pad is 0. */
	bad = rt;
	bad.pad = 1;
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	/* Unterminated texts. */
	bad = rt;
	memset(bad.host, 'h', sizeof(bad.host));
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	memset(bad.route, 'r', sizeof(bad.route));
	n = build(&b, KG_MSG_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	/* An empty route; bytes hidden after a text's end; a control byte put in by hand. */
	bad = rt;
	memset(bad.route, 0, sizeof(bad.route));
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	bad.host[sizeof(bad.host) - 1] = 'x';
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	bad.route[sizeof(bad.route) - 1] = 'x';
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	bad.route[2] = '\a';
	n = build(&b, KG_MSG_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	bad.host[0] = ' ';
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	bad = rt;
	bad.host[1] = (char)0x80;
	n = build(&b, KG_MSG_CLIENT_ROUTE, &bad, sizeof(bad));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);

	/* A registration may say what the client understands, bits unknown today included. */
	{
		struct kg_ipc_register reg = {.caps = KG_IPC_CAP_ROUTES | 0x80000000u};

		n = build(&b, KG_MSG_REGISTER, &reg, sizeof(reg));
		ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	}

	/* KG_MSG_CLIENT_WATCHED: its size, watched 0 or 1, pad 0. */
	n = build(&b, KG_MSG_CLIENT_WATCHED, &w, sizeof(w));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	n = build(&b, KG_MSG_CLIENT_WATCHED, &w, sizeof(w) - 1);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	w.watched = 2;
	n = build(&b, KG_MSG_CLIENT_WATCHED, &w, sizeof(w));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	w.watched = 0;
	w.pad = 1;
	n = build(&b, KG_MSG_CLIENT_WATCHED, &w, sizeof(w));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

/* KG_MSG_REGISTER of the system relay (issue 17): the flag alone, or with a list of 1..32 uids;
 * no other flag, no list without the flag, pad 0. */
START_TEST(test_register_system)
{
	buf_t b;
	struct kg_ipc_msg m;
	struct kg_ipc_register reg = {.flags = KG_IPC_REGISTER_SYSTEM};
	struct kg_ipc_register_system rs = {.reg = reg, .n_uids = 2, .uids = {0, 105}};
	size_t n;

	n = build(&b, KG_MSG_REGISTER, &reg, sizeof(reg));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	reg.flags = 2;
	n = build(&b, KG_MSG_REGISTER, &reg, sizeof(reg));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	rs.n_uids = KG_IPC_SYSTEM_UIDS_MAX;
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	rs.n_uids = KG_IPC_SYSTEM_UIDS_MAX + 1;
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.n_uids = 0;
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.n_uids = 1;
	rs.pad = 1;
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	rs.pad = 0;
	rs.reg.flags = 0;
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs));
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
	n = build(&b, KG_MSG_REGISTER, &rs, sizeof(rs) - 4);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

START_TEST(test_config_entries)
{
	uint8_t p[256];
	size_t len = 0, pos = 0;
	buf_t b;
	struct kg_ipc_msg m;
	char k[64], v[64];
	size_t n;

	ck_assert_int_eq(kg_ipc_config_add(p, sizeof(p), &len, "proxy.url", "http://x:3128"), 0);
	ck_assert_int_eq(kg_ipc_config_add(p, sizeof(p), &len, "proxy.type", "http"), 0);
	ck_assert_int_eq(kg_ipc_config_add(p, sizeof(p), &len, "bad=key", "v"), -EINVAL);
	ck_assert_int_eq(kg_ipc_config_add(p, 10, &len, "k", "v"), -ENOSPC);
	n = build(&b, KG_MSG_CONFIG, p, len);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	ck_assert_int_eq(kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)), 1);
	ck_assert_str_eq(k, "proxy.url");
	ck_assert_str_eq(v, "http://x:3128");
	ck_assert_int_eq(kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)), 1);
	ck_assert_str_eq(k, "proxy.type");
	ck_assert_int_eq(kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)), 0);
	/* An entry without '=' and an unterminated payload. */
	n = build(&b, KG_MSG_CONFIG, "novalue\0", 8);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), 0);
	pos = 0;
	ck_assert_int_eq(kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)), -EBADMSG);
	n = build(&b, KG_MSG_CONFIG, "a=b", 3);
	ck_assert_int_eq(kg_ipc_decode(b.bytes, n, &m), -EBADMSG);
}
END_TEST

START_TEST(test_fd_passing)
{
	int sp[2], fds[2] = {-1, -1}, sent[2], extra[4];
	struct kg_ipc_registered reg = {.port4 = 1, .port6 = 2, .n_fds = 2};
	struct kg_ipc_msg m;
	buf_t b;
	size_t n = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	sent[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sent[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_eq(kg_ipc_send(sp[0], KG_MSG_REGISTERED, 1, &reg, sizeof(reg), sent, 2), 0);
	ck_assert_int_eq(kg_ipc_recv(sp[1], b.bytes, sizeof(b.bytes), &m, fds, 2, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_ge(fds[0], 0);
	ck_assert_int_ge(fds[1], 0);
	ck_assert_int_eq(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(fds[0]);
	close(fds[1]);
	/* Descriptors attached to a message that takes none are closed, not leaked. */
	extra[0] = dup(sent[0]);
	ck_assert_int_eq(kg_ipc_send(sp[0], KG_MSG_STATUS_GET, 2, NULL, 0, extra, 1), 0);
	close(extra[0]);
	ck_assert_int_eq(kg_ipc_recv(sp[1], b.bytes, sizeof(b.bytes), &m, NULL, 0, NULL), 0);
	/* The dup'd descriptor number is free again only if the receiver closed its copy:
	 * check by counting open descriptors via /proc. */
	close(sent[0]);
	close(sent[1]);
	/* Peer gone: ECONNRESET. */
	close(sp[0]);
	ck_assert_int_eq(kg_ipc_recv(sp[1], b.bytes, sizeof(b.bytes), &m, NULL, 0, NULL),
			 -ECONNRESET);
	close(sp[1]);
}
END_TEST

START_TEST(test_truncated_datagram)
{
	int sp[2];
	static uint8_t big[KG_IPC_MAX_MSG + 100];
	struct kg_ipc_msg m;
	buf_t b;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(send(sp[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	ck_assert_int_eq(kg_ipc_recv(sp[1], b.bytes, sizeof(b.bytes), &m, NULL, 0, NULL),
			 -EMSGSIZE);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

START_TEST(test_printable)
{
	ck_assert(kg_text_printable(""));
	ck_assert(kg_text_printable("alice@EXAMPLE.COM"));
	ck_assert(kg_text_printable("j\xc3\xb6rg@EXAMPLE.COM"));       /* ö */
	ck_assert(kg_text_printable("\xe2\x82\xac \xf0\x9f\x94\x91")); /* € and a key */
	ck_assert(!kg_text_printable("a\x1b]0;owned\x07"));
	ck_assert(!kg_text_printable("a\nb"));
	ck_assert(!kg_text_printable("a\tb"));
	ck_assert(!kg_text_printable("a\x7f"));
	ck_assert(!kg_text_printable("\xc2\x9b"
				     "31m")); /* C1 CSI, UTF-8 encoded */
	ck_assert(!kg_text_printable("\x9b"
				     "31m"));		   /* C1 CSI, raw byte */
	ck_assert(!kg_text_printable("\xc0\xaf"));	   /* overlong */
	ck_assert(!kg_text_printable("\xed\xa0\x80"));	   /* surrogate */
	ck_assert(!kg_text_printable("\xf4\x90\x80\x80")); /* beyond U+10FFFF */
	ck_assert(!kg_text_printable("\xe2\x82"));	   /* truncated */
}
END_TEST

START_TEST(test_escape)
{
	char out[64];
	const char comm[16] = "ab\x1b]2;x\x07\nroot!!!"; /* no NUL: max bounds it */

	ck_assert_str_eq(kg_text_escape("plain", 100, out, sizeof(out)), "plain");
	ck_assert_str_eq(kg_text_escape("j\xc3\xb6rg", 100, out, sizeof(out)), "j\xc3\xb6rg");
	ck_assert_str_eq(kg_text_escape("a\x1b[31mb\n", 100, out, sizeof(out)), "a\\x1b[31mb\\x0a");
	ck_assert_str_eq(kg_text_escape("back\\slash", 100, out, sizeof(out)), "back\\\\slash");
	ck_assert_str_eq(kg_text_escape("\xc2\x9b\x9b", 100, out, sizeof(out)), "\\xc2\\x9b\\x9b");
	ck_assert_str_eq(kg_text_escape(comm, sizeof(comm), out, sizeof(out)),
			 "ab\\x1b]2;x\\x07\\x0aroot!!!");
	ck_assert_str_eq(kg_text_escape("abc", 2, out, sizeof(out)), "ab");
	/* Cut to fit, never in the middle of an escape, always terminated. */
	ck_assert_str_eq(kg_text_escape("ab\x01", 100, out, 5), "ab");
	ck_assert_str_eq(kg_text_escape("abcdef", 100, out, 4), "abc");
	out[0] = 'x';
	kg_text_escape("abc", 100, out, 0);
	ck_assert_int_eq(out[0], 'x');
}
END_TEST

static Suite *ipc_suite(void)
{
	Suite *s = suite_create("ipc");
	TCase *tc = tcase_create("codec"), *text = tcase_create("text");

	tcase_add_test(tc, test_decode_valid);
	tcase_add_test(tc, test_decode_malformed);
	tcase_add_test(tc, test_status_counts);
	tcase_add_test(tc, test_route_state);
	tcase_add_test(tc, test_route_report);
	tcase_add_test(tc, test_register_system);
	tcase_add_test(tc, test_config_entries);
	tcase_add_test(tc, test_fd_passing);
	tcase_add_test(tc, test_truncated_datagram);
	suite_add_tcase(s, tc);
	tcase_add_test(text, test_printable);
	tcase_add_test(text, test_escape);
	suite_add_tcase(s, text);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ipc_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
