/* The upstream (see upstream.h): the connect with its retries, the CONNECT exchange with its
 * 407 rounds, and the sentences for the user; with the two kinds of way out of today, "http
 * proxy" and "direct" (proxy.type none). The token and its steps are upstream_auth.c's.
 *
 * The connect: within connection_timeout and max_retries, with a growing pause between
 * attempts. The answer to a request is peeked into the shared scratch buffer (MSG_PEEK, at most
 * KG_HTTP_HEAD_MAX) and only its head is taken from the socket: no per-connection head buffer,
 * and a tunnel's first bytes (a server-first banner) stay where the relay finds them. (Through
 * TLS nothing can be peeked: the "https proxy" kind, upstream_tls.c, reads the head into its
 * side's bounded buffer instead.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/upstream.h"
#include "client/upstream_priv.h"
#include "client/upstream_tls.h"
#include "client/warm.h"
#include "shared/log.h"
#include "shared/netutil.h"

#define RETRY_BASE_USEC 100000ull

void upstream_set_detail(struct upstream *u, const char *detail)
{
	snprintf(u->detail, sizeof(u->detail), "%s", detail ? detail : "");
}

/* --- the route ------------------------------------------------------------------------------ */

static const struct kg_route_entry *entry(const struct upstream *u)
{
	return &u->route->e[u->idx];
}

const char *upstream_peer(const struct upstream *u, char *buf, size_t len)
{
	const struct client_settings *set = u->c->set;
	const char *urls[KG_PROXY_URLS_MAX];

	if (!u->route)
		return set->cfg.proxy.url;
	if (u->route == &set->route &&
	    u->idx < kg_config_proxy_urls(&set->cfg, urls, KG_PROXY_URLS_MAX))
		return urls[u->idx];
	if (kg_route_entry_url(entry(u), buf, len) < 0)
		snprintf(buf, len, "direct");
	return buf;
}

/* Whether an entry this connection has not tried yet is left. */
static bool route_has_next(const struct upstream *u)
{
	size_t i;

	if (!u->route)
		return false;
	for (i = 0; i < u->route->n; i++)
		if (!(u->walk.tried & (1u << i)))
			return true;
	return false;
}

/* The next entry of the walk: u->idx and u->ops set, 0; -ENOENT when none is left. */
static int route_next(struct upstream *u)
{
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);
	size_t i;

	if (kg_failover_next(&u->cl->failover, u->route, &u->walk, now, &i) < 0)
		return -ENOENT;
	u->idx = (uint8_t)i;
	u->ops = upstream_ops_of(u->route->e[i].kind);
	return 0;
}

const struct upstream_ops *upstream_ops_of(enum kg_route_kind kind)
{
	switch (kind) {
	case KG_ROUTE_DIRECT:
		return &upstream_direct_ops;
	case KG_ROUTE_HTTPS:
		return &upstream_https_proxy_ops;
	default:
		return &upstream_http_proxy_ops;
	}
}

/* The first entry of a fresh walk of r. */
static void route_begin(struct upstream *u, const struct kg_route *r)
{
	char via[UPSTREAM_VIA_MAX];

	u->route = r;
	u->walk = (struct kg_failover_try)KG_FAILOVER_TRY_INIT;
	u->idx = 0;
	u->no_route = route_next(u) < 0;
	if (u->no_route) {
		u->ops = &upstream_http_proxy_ops; /* any: its connect is refused */
		return;
	}
	/* Formatted only when it is logged: this runs for every connection. */
	if (kg_log_get_level() >= LOG_DEBUG && upstream_describe(u, via, sizeof(via)) >= 0)
		log_debug("connection to %s: %s", u->host, via);
}

/* --- life ----------------------------------------------------------------------------------- */

void upstream_init(struct upstream *u, struct kg_client *cl, struct relay_conn *c)
{
	memset(u, 0, sizeof(*u));
	u->ops = c->set->cfg.proxy.type == KG_PROXY_NONE    ? &upstream_direct_ops
		 : c->set->cfg.proxy.type == KG_PROXY_HTTPS ? &upstream_https_proxy_ops
							    : &upstream_http_proxy_ops;
	u->cl = cl;
	u->c = c;
	kg_format_ip(c->dst_ip, u->host, sizeof(u->host));
	if (c->set->route.n > 0)
		route_begin(u, &c->set->route);
}

void upstream_set_route(struct upstream *u, const struct kg_route *r)
{
	route_begin(u, r);
}

int upstream_describe(const struct upstream *u, char *buf, size_t len)
{
	char url[KG_URL_MAX];
	int n;

	if (u->route && !u->no_route)
		return kg_failover_describe(&u->cl->failover, u->route, u->idx,
					    kg_now_usec(CLOCK_MONOTONIC), buf, len);
	n = snprintf(buf, len, "via %s",
		     u->no_route ? "nothing" : upstream_peer(u, url, sizeof(url)));
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

void upstream_cleanup(struct upstream *u)
{
	kg_token_slot_release(&u->tok);
}

void upstream_set_target(struct upstream *u, const char *host, uint16_t port)
{
	if (host != u->host)
		snprintf(u->host, sizeof(u->host), "%s", host);
	snprintf(u->target, sizeof(u->target), "%s:%u", u->host, port);
}

uint64_t upstream_request_deadline(const struct upstream *u)
{
	return kg_now_usec(CLOCK_MONOTONIC) + u->c->set->cfg.proxy.request_timeout * 1000000ull;
}

/* --- the TCP connection, shared by both kinds --------------------------------------------- */

static void dest_sockaddr(const struct relay_conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (kg_ip_is_v4mapped(c->dst_ip)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->dst_port);
		memcpy(&sin->sin_addr, c->dst_ip + 12, 4);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c->dst_port);
		memcpy(&sin6->sin6_addr, c->dst_ip, 16);
		*len = sizeof(*sin6);
	}
}

/* Schedule the next attempt or give up. */
static int connect_failed(struct upstream *u, int err)
{
	struct relay_conn *c = u->c;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC), at;
	char url[KG_URL_MAX];

	relay_side_close(u->cl, &c->proxy);
	if (!u->to_proxy)
		snprintf(u->error, sizeof(u->error), "destination unreachable: %s", strerror(err));
	else
		snprintf(u->error, sizeof(u->error), "proxy unreachable: %s: %s",
			 upstream_peer(u, url, sizeof(url)), strerror(err));
	at = now + (RETRY_BASE_USEC << (u->attempts > 6 ? 6 : u->attempts - 1));
	/* Another way out left: that is the retry. */
	if (u->attempts > c->set->cfg.proxy.max_retries || at >= u->connect_deadline ||
	    route_has_next(u))
		return -err;
	u->retry_at = at;
	relay_set_timer(u->cl, c, at);
	return 0;
}

/* One attempt to ss, counted against connection_timeout and max_retries. */
static int tcp_attempt(struct upstream *u, const struct sockaddr_storage *ss, socklen_t len)
{
	struct kg_client *cl = u->cl;
	struct relay_conn *c = u->c;
	int fd, r;

	if (cl->n_fds + 1 > cl->fd_cap) {
		snprintf(u->error, sizeof(u->error), "too many open connections (%u)", cl->n_fds);
		return -EMFILE;
	}
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return connect_failed(u, errno);
	r = relay_side_open(cl, c, &c->proxy, fd);
	if (r < 0) {
		relay_side_close(cl, &c->proxy);
		return connect_failed(u, -r);
	}
	/* Writable means connected only once the kernel says so. */
	c->proxy.flags &= (uint8_t) ~(SIDE_READABLE | SIDE_WRITABLE);
	if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS)
		return connect_failed(u, errno);
	relay_set_timer(cl, c, u->connect_deadline);
	return 0;
}

/* The bookkeeping of a new attempt; to_proxy says where it goes. */
static void attempt_begin(struct upstream *u, bool to_proxy)
{
	if (u->attempts == 0)
		u->connect_deadline = kg_now_usec(CLOCK_MONOTONIC) +
				      u->c->set->cfg.proxy.connection_timeout * 1000000ull;
	u->attempts++;
	u->retry_at = 0;
	u->connected = false;
	u->warm = false;
	u->to_proxy = to_proxy;
}

/* An http proxy answered a connect of ours: the warm pool may keep spares to it. Only
 * addresses known without a lookup on the loop (a route made by hand has none). */
static void warm_proven(struct upstream *u)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;

	if (!u->cl->warm || u->ops != &upstream_http_proxy_ops || !u->to_proxy ||
	    (u->route && u->route != &u->c->set->route && !u->route->resolved) ||
	    upstream_proxy_addr(u, &ss, &len) < 0)
		return;
	upstream_warm_proven(u, &ss, len);
}

static int tcp_poll(struct upstream *u)
{
	struct relay_conn *c = u->c;
	socklen_t len = sizeof(int);
	int err = 0;

	if (u->connected)
		return 1;
	if (c->proxy.fd < 0 || !(c->proxy.flags & (SIDE_WRITABLE | SIDE_READABLE)))
		return 0;
	if (getsockopt(c->proxy.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		/* An https proxy is up once its handshake is done (upstream_tls.c), not before. */
		if (u->ops != &upstream_https_proxy_ops)
			upstream_proxy_up(u);
		warm_proven(u);
		u->connected = true;
		c->proxy.flags |= SIDE_WRITABLE;
		if (u->tok.job)
			u->token_deadline = upstream_request_deadline(u);
		relay_set_timer(u->cl, c, u->tok.job ? u->token_deadline : 0);
		return 1;
	}
	return connect_failed(u, err);
}

static int tcp_on_timer(struct upstream *u)
{
	struct relay_conn *c = u->c;
	char url[KG_URL_MAX];

	if (u->retry_at) {
		int r = u->ops->connect(u);

		return r < 0 ? r : 0;
	}
	relay_side_close(u->cl, &c->proxy);
	snprintf(u->error, sizeof(u->error), "%s unreachable: %s: no answer within %u s",
		 u->to_proxy ? "proxy" : "destination",
		 u->to_proxy ? upstream_peer(u, url, sizeof(url)) : u->target,
		 c->set->cfg.proxy.connection_timeout);
	return -ETIMEDOUT;
}

static void tcp_close(struct upstream *u)
{
	relay_side_close(u->cl, &u->c->proxy);
	relay_buf_free(&u->c->to_proxy);
	u->connected = false;
}

/* Peek: the head stays in the socket until upstream_consume(). */
static int tcp_read_head(struct upstream *u, struct kg_http_response *resp)
{
	struct relay_side *s = &u->c->proxy;
	ssize_t n;
	int r;

	n = recv(s->fd, relay_scratch, KG_HTTP_HEAD_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		s->flags &= (uint8_t)~SIDE_READABLE;
		return -EAGAIN;
	}
	if (n == 0)
		return -EPIPE;
	r = kg_http_response_parse(relay_scratch, (size_t)n, resp);
	if (r == -EAGAIN) {
		if ((size_t)n >= KG_HTTP_HEAD_MAX)
			return -E2BIG;
		/* Everything there was peeked: the next segment brings a new edge. */
		s->flags &= (uint8_t)~SIDE_READABLE;
	}
	return r;
}

/* --- "http proxy": proxy.type http ---------------------------------------------------------- */

void upstream_proxy_up(struct upstream *u)
{
	if (u->route) {
		kg_failover_mark_up(&u->cl->failover, entry(u));
		if (u->cl->proxy_result && entry(u)->kind != KG_ROUTE_DIRECT)
			u->cl->proxy_result(u->cl, true);
	}
}

static int http_connect(struct upstream *u)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int r;

	attempt_begin(u, true);
	r = upstream_proxy_addr(u, &ss, &len);
	if (r < 0) {
		snprintf(u->error, sizeof(u->error), "proxy unreachable: cannot resolve %s",
			 u->route ? entry(u)->host : u->c->set->proxy.host);
		return r;
	}
	if (upstream_warm_attempt(u, &ss, len))
		return 0;
	return tcp_attempt(u, &ss, len);
}

static int http_write_connect(struct upstream *u)
{
	struct relay_conn *c = u->c;
	char line[2 * UPSTREAM_TARGET_MAX + 64];
	int n, r;

	n = snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", u->target,
		     u->target);
	/* The token is the proxy's credential: never on a socket to anything else. */
	r = u->tok.token && !u->to_proxy ? -EPROTO : relay_queue(&c->to_proxy, line, (size_t)n);
	if (r == 0 && u->tok.token) {
		r = relay_queue(&c->to_proxy, "Proxy-Authorization: Negotiate ", 31);
		if (r == 0)
			r = relay_queue(&c->to_proxy, u->tok.token, strlen(u->tok.token));
		if (r == 0)
			r = relay_queue(&c->to_proxy, "\r\n", 2);
	}
	if (r == 0)
		r = relay_queue(&c->to_proxy, "\r\n", 2);
	if (r == 0)
		r = relay_flush(&c->proxy, &c->to_proxy);
	if (r < 0) {
		snprintf(u->error, sizeof(u->error),
			 "the proxy connection failed while sending the request");
		upstream_set_detail(u, strerror(-r));
		return r;
	}
	u->rounds++;
	u->token_new = false;
	if (u->warm) {
		/* An idle connection may have lost its path (the network changed): its CONNECT
		 * must be acknowledged soon, or it is given up for a new connection. */
		uint64_t probe = kg_now_usec(CLOCK_MONOTONIC) + UPSTREAM_WARM_PROBE_USEC;

		u->answer_deadline = upstream_request_deadline(u);
		relay_set_timer(u->cl, c, probe < u->answer_deadline ? probe : u->answer_deadline);
		return 0;
	}
	relay_set_timer(u->cl, c, upstream_request_deadline(u));
	return 0;
}

static int http_write_request(struct upstream *u, const uint8_t *head,
			      const struct kg_http_request *req, const char *authority)
{
	struct relay_conn *c = u->c;
	size_t cap, len;
	uint8_t *out;
	int r;

	/* The token is the proxy's credential: never on a socket to anything else. */
	if (u->tok.token && !u->to_proxy)
		return -EPROTO;
	cap = req->head_len + (u->tok.token ? strlen(u->tok.token) : 0) + UPSTREAM_TARGET_MAX + 128;
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	r = kg_http_request_rewrite(head, req, authority, u->tok.token, out, cap, &len);
	if (r == 0)
		r = relay_send(&c->proxy, &c->to_proxy, out, len);
	free(out);
	u->token_new = false;
	return r;
}

const struct upstream_ops upstream_http_proxy_ops = {
    .name = "http proxy",
    .auth = true,
    .connect = http_connect,
    .poll = tcp_poll,
    .on_timer = tcp_on_timer,
    .write_connect = http_write_connect,
    .write_request = http_write_request,
    .read_head = tcp_read_head,
    .close = tcp_close,
};

/* --- "direct": proxy.type none, straight to the original destination ------------------------ */

static int direct_connect(struct upstream *u)
{
	struct sockaddr_storage ss;
	socklen_t len;

	attempt_begin(u, false);
	dest_sockaddr(u->c, &ss, &len);
	return tcp_attempt(u, &ss, len);
}

/* Nothing to ask: the connection is the tunnel. */
static int direct_write_connect(struct upstream *u)
{
	(void)u;
	return 1;
}

/* A port-80 request on a DIRECT entry of a route: the application's head as it wrote it for
 * its origin, which this connection now is (no token: never to an origin). */
static int direct_write_request(struct upstream *u, const uint8_t *head,
				const struct kg_http_request *req, const char *authority)
{
	(void)authority;
	if (!u->route)
		return -EOPNOTSUPP; /* proxy.type none goes by tunnel, never request by request */
	return relay_send(&u->c->proxy, &u->c->to_proxy, head, req->head_len);
}

const struct upstream_ops upstream_direct_ops = {
    .name = "direct",
    .auth = false,
    .connect = direct_connect,
    .poll = tcp_poll,
    .on_timer = tcp_on_timer,
    .write_connect = direct_write_connect,
    .write_request = direct_write_request,
    .read_head = tcp_read_head,
    .close = tcp_close,
};

/* --- the connection, through the ops -------------------------------------------------------- */

/* The token for the entry now tried: a new one for a proxy (its host names the principal),
 * none for DIRECT. */
static int token_for_entry(struct upstream *u)
{
	if (u->ops->auth)
		return upstream_request_token(u);
	upstream_cleanup(u);
	u->token_ready = true;
	u->auth_failed = false;
	return 0;
}

/* r is the connect's result on the entry being tried: a failure for good marks it down and
 * moves on to the next entry of the route, until one is under way or none is left. */
static int failover(struct upstream *u, int r)
{
	char from[UPSTREAM_VIA_MAX], to[UPSTREAM_VIA_MAX];

	/* Not the proxy's fault: no other proxy would do better. */
	while (r < 0 && u->route && !u->no_route && r != -EMFILE && r != -ENOBUFS) {
		kg_failover_mark_down(&u->cl->failover, entry(u), kg_now_usec(CLOCK_MONOTONIC));
		if (u->cl->warm && entry(u)->kind == KG_ROUTE_PROXY)
			u->cl->warm->flush(u->cl, "a proxy is down");
		if (u->cl->proxy_result && entry(u)->kind != KG_ROUTE_DIRECT)
			u->cl->proxy_result(u->cl, false);
		if (kg_route_entry_format(entry(u), from, sizeof(from)) < 0 || route_next(u) < 0)
			return r;
		relay_side_close(u->cl, &u->c->proxy);
		u->attempts = 0;
		u->connected = false;
		u->retry_at = 0;
		upstream_describe(u, to, sizeof(to));
		log_info("connection to %s: %s failed (%s), now %s", u->host, from,
			 u->error[0] ? u->error : strerror(-r), to);
		r = token_for_entry(u);
		if (r < 0)
			return r;
		r = u->ops->connect(u);
	}
	return r;
}

int upstream_connect(struct upstream *u)
{
	if (u->no_route) {
		snprintf(u->error, sizeof(u->error), "no usable proxy in the route");
		return -ENOENT;
	}
	return failover(u, u->ops->connect(u));
}

int upstream_reconnect(struct upstream *u)
{
	relay_side_close(u->cl, &u->c->proxy);
	u->attempts = 0;
	return upstream_connect(u);
}

int upstream_poll(struct upstream *u)
{
	return failover(u, u->ops->poll(u));
}

int upstream_connect_timer(struct upstream *u)
{
	return failover(u, u->ops->on_timer(u));
}

void upstream_close(struct upstream *u)
{
	u->ops->close(u);
}

bool upstream_alive(struct upstream *u)
{
	struct relay_conn *c = u->c;
	uint8_t b;
	ssize_t n;

	if (c->proxy.fd < 0 || !u->connected || (c->proxy.flags & SIDE_EOF))
		return false;
	/* Anything from the proxy on an idle connection (bytes, close_notify) ends it. */
	if (relay_tls_pending(&c->proxy))
		return false;
	n = recv(c->proxy.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Whether the connection is up and still waiting for the worker's token. */
static bool token_pending(const struct upstream *u)
{
	return u->connected && u->tok.job && !u->token_ready;
}

uint64_t upstream_due(const struct upstream *u)
{
	if (!u->connected)
		return u->retry_at ? u->retry_at : u->connect_deadline;
	return token_pending(u) ? u->token_deadline : 0;
}

int upstream_on_timer(struct upstream *u, uint64_t now)
{
	if (!u->connected && now >= upstream_due(u))
		return upstream_connect_timer(u);
	if (token_pending(u) && now >= u->token_deadline) {
		upstream_token_overdue(u);
		return -ETIMEDOUT;
	}
	return 0;
}

/* --- requests and answers ------------------------------------------------------------------- */

int upstream_send_connect(struct upstream *u)
{
	int r;

	u->detail[0] = '\0';
	r = u->ops->write_connect(u);
	if (r < 0 && u->warm)
		return upstream_warm_fallback(u, u->detail[0] ? u->detail : strerror(-r));
	return r;
}

int upstream_send_request(struct upstream *u, const uint8_t *head,
			  const struct kg_http_request *req, const char *authority)
{
	return u->ops->write_request(u, head, req, authority);
}

int upstream_peek_response(struct upstream *u, struct kg_http_response *resp)
{
	return u->ops->read_head(u, resp);
}

int upstream_consume(struct upstream *u, size_t n)
{
	struct relay_side *s = &u->c->proxy;

	if (s->flags & SIDE_TLS) /* the head is in the side's buffer (upstream_tls.h) */
		return relay_tls_consume(s, n);
	/* The bytes were peeked, so they are in the socket: no EAGAIN here. MSG_TRUNC drops them
	 * in the kernel (TCP, Linux 4.4) without copying them out again. */
	while (n > 0) {
		ssize_t r = recv(s->fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT);

		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		n -= (size_t)r;
	}
	return 0;
}
