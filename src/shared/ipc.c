/* The IPC protocol codec and transport (see ipc.h for the rules). Everything that reads a
 * payload goes through kg_ipc_decode() first, which checks the length against the type. */

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shared/ipc.h"
#include "shared/macro.h"
#include "shared/netutil.h"

static const char *const msg_names[KG_MSG_TYPE_MAX] = {
    [KG_MSG_ERROR] = "error",
    [KG_MSG_OK] = "ok",
    [KG_MSG_REGISTER] = "register",
    [KG_MSG_REGISTERED] = "registered",
    [KG_MSG_CONFIG_GET] = "config-get",
    [KG_MSG_CONFIG] = "config",
    [KG_MSG_NOTIFY_ACCEPT] = "notify-accept",
    [KG_MSG_STATUS_GET] = "status-get",
    [KG_MSG_STATUS] = "status",
    [KG_MSG_PORTS_LIST] = "ports-list",
    [KG_MSG_PORTS_ADD] = "ports-add",
    [KG_MSG_PORTS_REMOVE] = "ports-remove",
    [KG_MSG_PORTS] = "ports",
    [KG_MSG_STATS_GET] = "stats-get",
    [KG_MSG_STATS] = "stats",
    [KG_MSG_WATCH] = "watch",
    [KG_MSG_EVENT] = "event",
    [KG_MSG_CLIENT_INFO] = "client-info",
    [KG_MSG_CLIENT_ROUTE_STATE] = "client-route-state",
    [KG_MSG_CLIENT_ROUTE] = "client-route",
    [KG_MSG_ROUTE] = "route",
    [KG_MSG_CLIENT_WATCHED] = "client-watched",
};

const char *kg_msg_type_name(uint16_t type)
{
	if (type < KG_MSG_TYPE_MAX && msg_names[type])
		return msg_names[type];
	return "unknown";
}

static int text_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

/* A text field of a route report: NUL-terminated within cap, every byte before the NUL in
 * [lo, 0x7e], every byte after it zero; its length in *n. */
static int route_text_ok(const char *s, size_t cap, unsigned char lo, size_t *n)
{
	const char *end = memchr(s, '\0', cap);
	size_t i;

	if (!end)
		return 0;
	*n = (size_t)(end - s);
	for (i = 0; i < cap; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i < *n ? ch < lo || ch > 0x7e : ch != 0)
			return 0;
	}
	return 1;
}

int kg_ipc_route_check(const struct kg_ipc_route *r, int from_client)
{
	size_t hl, rl;

	if (r->pad != 0 || (from_client && r->uid != 0) ||
	    !route_text_ok(r->host, sizeof(r->host), 0x21, &hl) ||
	    !route_text_ok(r->route, sizeof(r->route), 0x20, &rl) || rl == 0)
		return -EBADMSG;
	return 0;
}

int kg_ipc_route_encode(struct kg_ipc_route *out, const uint8_t dst_ip[16], uint16_t dst_port,
			const char *host, const char *route)
{
	size_t hl = host ? strlen(host) : 0, rl = route ? strlen(route) : 0;

	memset(out, 0, sizeof(*out));
	if (hl >= sizeof(out->host) || rl >= sizeof(out->route) || rl == 0)
		return -EINVAL;
	memcpy(out->dst_ip, dst_ip, sizeof(out->dst_ip));
	out->dst_port = dst_port;
	if (hl)
		memcpy(out->host, host, hl);
	memcpy(out->route, route, rl);
	return kg_ipc_route_check(out, 1) == 0 ? 0 : -EINVAL;
}

/* Per-type payload rules. Returns 0 when the payload may be read as the type says. */
static int check_payload(uint16_t type, const uint8_t *p, size_t len)
{
	switch (type) {
	case KG_MSG_OK:
	case KG_MSG_CONFIG_GET:
	case KG_MSG_STATUS_GET:
	case KG_MSG_PORTS_LIST:
	case KG_MSG_STATS_GET:
	case KG_MSG_WATCH:
		return len == 0 ? 0 : -EBADMSG;
	case KG_MSG_ERROR: {
		const struct kg_ipc_error *e = (const void *)p;

		if (len != sizeof(*e) || e->error <= 0 ||
		    !text_terminated(e->message, sizeof(e->message)))
			return -EBADMSG;
		return 0;
	}
	case KG_MSG_REGISTER: {
		const struct kg_ipc_register *r = (const void *)p;
		const struct kg_ipc_register_system *rs = (const void *)p;

		if (len == sizeof(*r))
			return r->flags == 0 || r->flags == KG_IPC_REGISTER_SYSTEM ? 0 : -EBADMSG;
		return len == sizeof(*rs) && rs->reg.flags == KG_IPC_REGISTER_SYSTEM &&
			       rs->n_uids >= 1 && rs->n_uids <= KG_IPC_SYSTEM_UIDS_MAX &&
			       rs->pad == 0
			   ? 0
			   : -EBADMSG;
	}
	case KG_MSG_REGISTERED: {
		const struct kg_ipc_registered *r = (const void *)p;

		return len == sizeof(*r) && r->n_fds <= 2 ? 0 : -EBADMSG;
	}
	case KG_MSG_CONFIG:
		/* Entries are checked one by one by kg_ipc_config_next(); an empty config is
		 * valid, a non-empty one must end with its terminator. */
		return len == 0 || p[len - 1] == '\0' ? 0 : -EBADMSG;
	case KG_MSG_NOTIFY_ACCEPT:
	case KG_MSG_EVENT:
		return len == sizeof(struct kg_event) ? 0 : -EBADMSG;
	case KG_MSG_STATUS: {
		const struct kg_ipc_status *s = (const void *)p;
		const struct kg_ipc_client_info *ci;
		size_t i;

		if (len < sizeof(*s) || (len - sizeof(*s)) % sizeof(*ci) != 0 ||
		    (len - sizeof(*s)) / sizeof(*ci) != s->n_clients ||
		    !text_terminated(s->version, sizeof(s->version)) ||
		    !text_terminated(s->cgroup_path, sizeof(s->cgroup_path)))
			return -EBADMSG;
		ci = (const void *)(s + 1);
		for (i = 0; i < s->n_clients; i++)
			if (!text_terminated(ci[i].report.principal,
					     sizeof(ci[i].report.principal)) ||
			    ci[i].direct > 1 ||
			    !text_terminated(ci[i].direct_reason, sizeof(ci[i].direct_reason)))
				return -EBADMSG;
		return 0;
	}
	case KG_MSG_PORTS_ADD:
	case KG_MSG_PORTS_REMOVE:
		return len == sizeof(struct kg_ipc_port) ? 0 : -EBADMSG;
	case KG_MSG_PORTS: {
		const struct kg_ipc_ports *ps = (const void *)p;

		if (len != sizeof(*ps) || ps->n_ports > ARRAY_SIZE(ps->ports))
			return -EBADMSG;
		return 0;
	}
	case KG_MSG_STATS:
		return len == sizeof(struct kg_ipc_stats) ? 0 : -EBADMSG;
	case KG_MSG_CLIENT_INFO: {
		const struct kg_ipc_client_report *r = (const void *)p;

		if (len != sizeof(*r) || !text_terminated(r->principal, sizeof(r->principal)))
			return -EBADMSG;
		return 0;
	}
	case KG_MSG_CLIENT_ROUTE_STATE: {
		const struct kg_ipc_route_state *rs = (const void *)p;

		if (len != sizeof(*rs) || rs->direct > 1 || rs->pad != 0 ||
		    !text_terminated(rs->reason, sizeof(rs->reason)))
			return -EBADMSG;
		return 0;
	}
	case KG_MSG_CLIENT_ROUTE:
	case KG_MSG_ROUTE:
		if (len != sizeof(struct kg_ipc_route))
			return -EBADMSG;
		return kg_ipc_route_check((const void *)p, type == KG_MSG_CLIENT_ROUTE);
	case KG_MSG_CLIENT_WATCHED: {
		const struct kg_ipc_watched *w = (const void *)p;

		return len == sizeof(*w) && w->watched <= 1 && w->pad == 0 ? 0 : -EBADMSG;
	}
	default:
		return -EBADMSG;
	}
}

int kg_ipc_decode(const void *buf, size_t n, struct kg_ipc_msg *out)
{
	struct kg_ipc_hdr h;
	int r;

	if (n < sizeof(h) || n > KG_IPC_MAX_MSG)
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	if (h.magic != KG_IPC_MAGIC)
		return -EBADMSG;
	if (h.version != KG_IPC_VERSION)
		return -EPROTONOSUPPORT;
	if (h.len != n - sizeof(h))
		return -EBADMSG;
	r = check_payload(h.type, (const uint8_t *)buf + sizeof(h), h.len);
	if (r < 0)
		return r;
	out->hdr = h;
	out->payload = (const uint8_t *)buf + sizeof(h);
	out->len = h.len;
	return 0;
}

int kg_ipc_config_add(void *buf, size_t cap, size_t *len, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value), need = kl + 1 + vl + 1;

	if (kl == 0 || kl >= KG_IPC_TEXT_MAX || vl >= KG_IPC_TEXT_MAX * 2 || strchr(key, '='))
		return -EINVAL;
	if (*len + need > cap)
		return -ENOSPC;
	memcpy((char *)buf + *len, key, kl);
	((char *)buf)[*len + kl] = '=';
	memcpy((char *)buf + *len + kl + 1, value, vl + 1);
	*len += need;
	return 0;
}

int kg_ipc_config_next(const struct kg_ipc_msg *m, size_t *pos, char *key, size_t keylen,
		       char *value, size_t valuelen)
{
	const char *p, *eq, *end;
	size_t kl, vl;

	if (m->hdr.type != KG_MSG_CONFIG || *pos > m->len)
		return -EINVAL;
	if (*pos == m->len)
		return 0;
	p = (const char *)m->payload + *pos;
	end = memchr(p, '\0', m->len - *pos);
	if (!end)
		return -EBADMSG;
	eq = memchr(p, '=', (size_t)(end - p));
	if (!eq || eq == p)
		return -EBADMSG;
	kl = (size_t)(eq - p);
	vl = (size_t)(end - eq - 1);
	if (kl >= keylen || vl >= valuelen)
		return -EBADMSG;
	memcpy(key, p, kl);
	key[kl] = '\0';
	memcpy(value, eq + 1, vl);
	value[vl] = '\0';
	*pos += (size_t)(end - p) + 1;
	return 1;
}

int kg_ipc_send(int fd, uint16_t type, uint32_t seq, const void *payload, size_t len,
		const int *fds, size_t n_fds)
{
	struct kg_ipc_hdr h = {
	    .magic = KG_IPC_MAGIC,
	    .version = KG_IPC_VERSION,
	    .type = type,
	    .seq = seq,
	    .len = (uint32_t)len,
	};
	struct iovec iov[2] = {
	    {.iov_base = &h, .iov_len = sizeof(h)},
	    {.iov_base = (void *)payload, .iov_len = len},
	};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	ssize_t n;

	if (len > KG_IPC_MAX_PAYLOAD || n_fds > 4)
		return -EMSGSIZE;
	if (n_fds > 0) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(h) + len ? 0 : -EIO;
}

int kg_ipc_send_error(int fd, uint32_t seq, int error, const char *fmt, ...)
{
	struct kg_ipc_error e = {.error = error > 0 ? error : -error};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	if (e.error == 0)
		e.error = EIO;
	return kg_ipc_send(fd, KG_MSG_ERROR, seq, &e, sizeof(e), NULL, 0);
}

/* Close the *n_fds descriptors a message brought and say there are none. */
static void drop_fds(int *fds, size_t *n_fds)
{
	size_t i;

	for (i = 0; n_fds && i < *n_fds; i++)
		close(fds[i]);
	if (n_fds)
		*n_fds = 0;
}

int kg_ipc_recv(int fd, void *buf, size_t cap, struct kg_ipc_msg *out, int *fds, size_t max_fds,
		size_t *n_fds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;
	size_t got = 0;
	ssize_t n;

	if (n_fds)
		*n_fds = 0;
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	/* Keep the descriptors we were asked for, close every other one: a peer must not be
	 * able to make us leak descriptors by attaching them to any message. */
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t i, k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int rfd;

			memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fds && got < max_fds)
				fds[got++] = rfd;
			else
				close(rfd);
		}
	}
	if (n == 0 && !(mh.msg_flags & MSG_TRUNC)) {
		drop_fds(fds, &got);
		return -ECONNRESET;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		drop_fds(fds, &got);
		return -EMSGSIZE;
	}
	if (n_fds)
		*n_fds = got;
	return kg_ipc_decode(buf, (size_t)n, out);
}

int kg_ipc_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return take_fd(&fd);
}

int kg_ipc_call(int fd, uint16_t type, const void *payload, size_t len, void *buf, size_t cap,
		struct kg_ipc_msg *out, int *fds, size_t max_fds, size_t *n_fds, int timeout_ms)
{
	static uint32_t next_seq = 1;
	uint32_t seq = next_seq++;
	uint64_t deadline = kg_now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000u;
	int r;

	if (next_seq == 0)
		next_seq = 1;
	/* Callers look at out->hdr.type after a failure: never leave it uninitialised. */
	memset(out, 0, sizeof(*out));
	if (n_fds)
		*n_fds = 0;
	r = kg_ipc_send(fd, type, seq, payload, len, NULL, 0);
	if (r < 0)
		return r;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		r = kg_ipc_recv(fd, buf, cap, out, fds, max_fds, n_fds);
		if (r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		if (out->hdr.seq != seq) {
			/* An event or a stale reply: drop it, with any descriptors it carried. */
			drop_fds(fds, n_fds);
			memset(out, 0, sizeof(*out));
			continue;
		}
		if (out->hdr.type == KG_MSG_ERROR) {
			const struct kg_ipc_error *e = out->payload;

			return -e->error;
		}
		return 0;
	}
}
