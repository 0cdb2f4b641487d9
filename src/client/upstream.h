/* The upstream: one connection's way out, behind one interface.
 *
 * A struct upstream is the state of one connection to the proxy (or, for proxy.type none, to
 * the original destination): the TCP connect within connection_timeout and max_retries, the
 * Negotiate token (made by the Kerberos worker) and its context, the authentication rounds, the
 * 407 body still to drop, and the sentence for the user when any of it fails. tunnel.c (sniff +
 * CONNECT) and forward.c (port 80) each embed one and use only the functions below; neither
 * knows the other's state.
 *
 * What differs between kinds of way out is behind struct upstream_ops, chosen from the
 * connection's settings by upstream_init(): "http proxy" (proxy.type http), "https proxy"
 * (proxy.type https, upstream_tls.h) and "direct" (proxy.type none: straight to the original
 * destination, no request, no token).
 *
 * A route (route/route.h) is walked entry by entry: upstream_init() takes the settings' route
 * (the proxy.url list, then DIRECT with proxy.fallback "direct"; see settings.h), or
 * upstream_set_route() one of the caller's (a PAC answer) before the first token or connect.
 * Each entry is tried within its own connection_timeout; a connect failure (refused,
 * unreachable, no answer within connection_timeout, a name that does not resolve) marks the
 * proxy down in cl->failover for 5 minutes and moves on at once to the next entry; the last
 * entry left gets max_retries, as a lone proxy always had. A success marks the proxy up. The
 * order is kg_failover_next()'s: proxies not down first, in route order, then the ones down.
 * A PROXY entry is the "http proxy" ops (the token made for that proxy's host, or kerberos.spn),
 * an HTTPS entry the "https proxy" ops (upstream_tls.h: the same over TLS, a failed handshake
 * being a failed connect of that entry, never a retry in clear text), DIRECT the "direct" ops.
 * Answers after the connect (407 rounds, a refused CONNECT, request_timeout) are not failed
 * over: they are the proxy's answer, not its absence.
 *
 * A first connect to an http proxy takes an established connection from the warm pool when it
 * has one (warm.h, through cl->warm), with the token made for it when this connection has not
 * sent one yet; else it connects. https proxies and direct never do.
 *
 * The socket is the connection's proxy side (c->proxy, with c->to_proxy for what it could not
 * take yet): the relay loop watches it and closes it with the connection. Timers go to the
 * connection's one timer (relay_set_timer).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/auth/negotiate.h"
#include "client/client.h"
#include "client/conn.h"
#include "client/proto/http.h"
#include "client/proto/sniff.h"
#include "client/route/failover.h"
#include "client/token_slot.h"

#define UPSTREAM_TARGET_MAX (KG_HOST_MAX + 8) /* "host:port" */
#define UPSTREAM_REASON_MAX 400
#define UPSTREAM_DETAIL_MAX 64

struct auth_job;
struct upstream;

/* One kind of way out. Every function returns 0 or -errno unless said otherwise; on failure
 * u->error holds the sentence for the user (and u->detail, maybe, a detail for the journal). */
struct upstream_ops {
	const char *name; /* "http proxy", "direct" */
	bool auth;	  /* the peer is a proxy that may ask for Negotiate: make tokens */
	/* Start a connect attempt (the first of a new connection_timeout when u->attempts is 0).
	 * -errno when no attempt can be made any more. */
	int (*connect)(struct upstream *u);
	/* 1 connected, 0 still connecting or waiting to retry, -errno failed for good. */
	int (*poll)(struct upstream *u);
	/* The connect's deadline work: a due retry or the end of connection_timeout. 0 or -errno.
	 */
	int (*on_timer)(struct upstream *u);
	/* Open the tunnel to u->target: 0 the request (CONNECT with the token) went out and its
	 * answer is to be read, 1 nothing to ask (the bytes go straight through), -errno. */
	int (*write_connect)(struct upstream *u);
	/* A port-80 request head (req parsed from head), rewritten for the peer with the token. */
	int (*write_request)(struct upstream *u, const uint8_t *head,
			     const struct kg_http_request *req, const char *authority);
	/* Peek at the peer's response head (see upstream_peek_response()). */
	int (*read_head)(struct upstream *u, struct kg_http_response *resp);
	/* Drop the connection (not the token): a later connect starts afresh. */
	void (*close)(struct upstream *u);
};

extern const struct upstream_ops upstream_http_proxy_ops;
extern const struct upstream_ops upstream_direct_ops;
/* The kind of a route entry: direct, http proxy, or https proxy (upstream_tls.h). */
const struct upstream_ops *upstream_ops_of(enum kg_route_kind kind);

struct upstream {
	const struct upstream_ops *ops;
	struct kg_client *cl;
	struct relay_conn *c;		  /* owner: socket, buffers, settings, timer */
	char host[KG_HOST_MAX];		  /* destination name for log lines */
	char target[UPSTREAM_TARGET_MAX]; /* "host:port" for CONNECT and log lines */
	bool connected;			  /* TCP to the peer is up */
	bool to_proxy;			  /* the socket goes to c->set's proxy: only then may
					   * Proxy-Authorization be written to it */
	struct kg_token_slot tok;	  /* the token sent (or being made by the worker) */
	bool token_ready;		  /* job done (token or auth_failed) */
	bool auth_failed;		  /* no token: fail with auth_reason if the proxy asks */
	bool token_new;	       /* the token (or its job) is a first one, not sent yet: a warm
				* connection's own may replace it */
	bool may_warm;	       /* the owner takes warm connections (tunnel.c sets it after init) */
	bool may_go_tokenless; /* the owner handles a 407 to a CONNECT sent without a token on
				* the strength of tokenless.h (tunnel.c sets it after init) */
	bool tokenless;	       /* no token made: the proxy is known to need none (tokenless.h) */
	bool warm; /* the connection came from the warm pool and the proxy has not answered
		    * on it yet: a failure then is a failed connect (a new one is made) */
	uint64_t answer_deadline; /* request_timeout of a CONNECT sent on a warm connection */
	char auth_reason[UPSTREAM_REASON_MAX];
	char error[UPSTREAM_REASON_MAX];  /* why it failed: the sentence for the user */
	char detail[UPSTREAM_DETAIL_MAX]; /* and a detail for the journal, "" when none */
	unsigned rounds;		  /* requests (CONNECTs) sent on this connection */
	unsigned attempts;		  /* connects started */
	uint64_t connect_deadline;	  /* end of connection_timeout */
	uint64_t retry_at;		  /* backoff before the next connect, 0: none */
	uint64_t discard;		  /* 407 body bytes still to drop */
	uint64_t token_deadline;	  /* connected, token pending: give up on the KDC then */
	/* The route walked: the settings' (c->set->route) or upstream_set_route()'s; NULL when
	 * the settings have none (made by hand): their proxy or direct, as before routes. */
	const struct kg_route *route;
	struct kg_failover_try walk; /* the entries this connection has tried */
	uint8_t idx;		     /* the entry being tried */
	bool no_route;		     /* no usable entry at all: connects fail with u->error */
};

/* The text of a route entry for logs ("proxy p1:3128", "direct"). */
#define UPSTREAM_VIA_MAX (KG_ROUTE_ENTRY_TEXT_MAX + 64)

/* The way out of c under c->set (ops chosen by its proxy type); host starts as the destination's
 * IP literal. Allocates nothing. */
void upstream_init(struct upstream *u, struct kg_client *cl, struct relay_conn *c);
/* Walk route r (the caller keeps it alive and unchanged while u lives) instead of the
 * settings' route: for a PAC answer. Call it after upstream_init() and before the first
 * upstream_request_token() or upstream_connect(). An empty route makes the connect fail with a
 * sentence. */
void upstream_set_route(struct upstream *u, const struct kg_route *r);
/* The way out being tried, for logs: "via p2:3128 (p1:3128 down)", "direct", or for settings
 * without a route the proxy's URL. Length or -ENOSPC (kg_failover_describe()). */
int upstream_describe(const struct upstream *u, char *buf, size_t len);
/* The URL of the way out being tried, for the user's sentences: a settings' entry as the
 * configuration wrote it (cfg.proxy.url for settings without a route), else the entry's own
 * "http://host:port"; "direct" for DIRECT. buf is used when needed. */
const char *upstream_peer(const struct upstream *u, char *buf, size_t len);
/* Cancel a pending token job, free the context and the token (the socket is c's). */
void upstream_cleanup(struct upstream *u);
/* The destination is final: u->target = "host:port". */
void upstream_set_target(struct upstream *u, const char *host, uint16_t port);

/* --- the connection --- */
/* Start (or restart) the connection within connection_timeout. 0, or -errno when no attempt can
 * be made any more (u->error says why). */
int upstream_connect(struct upstream *u);
/* Drop the connection and start a fresh one with a new connection_timeout and max_retries. */
int upstream_reconnect(struct upstream *u);
/* 1 connected, 0 still connecting or waiting to retry, -errno failed for good (u->error). */
int upstream_poll(struct upstream *u);
/* The connect's deadline work: a due retry or the end of connection_timeout. 0 or -errno. */
int upstream_connect_timer(struct upstream *u);
/* Whether a connection kept from a previous request is still open (the proxy may have closed
 * it meanwhile). */
bool upstream_alive(struct upstream *u);
/* Drop the connection (a later upstream_reconnect() makes a new one). */
void upstream_close(struct upstream *u);
/* When the upstream's own timer is due: the connect's (retry or connection_timeout) while not
 * connected, the token's while connected and waiting for it; 0: none. */
uint64_t upstream_due(const struct upstream *u);
/* Whatever is due at now: the connect's timer, or the token overdue. 0, or -errno (u->error). */
int upstream_on_timer(struct upstream *u, uint64_t now);

/* --- the token --- */
/* Whether the upstream needs a Negotiate token at all. */
bool upstream_wants_token(const struct upstream *u);
/* Whether the proxy now tried is known to take a CONNECT without a token (tokenless.h), and u
 * may go without one. */
bool upstream_known_tokenless(const struct upstream *u);
/* The proxy answered 2xx to the CONNECT: when it carried no token, remember the proxy. */
void upstream_note_answer_2xx(struct upstream *u);
/* A 407 to a CONNECT that carried no token because the proxy was known to need none: every
 * such proxy is forgotten, and u makes a token and connects again. UPSTREAM_RECONNECTING, 0 when
 * u had sent none for another reason (the 407 is handled as usual), or -errno (u->error). */
int upstream_tokenless_refused(struct upstream *u);
/* Ask the worker for a token (u->token_ready once it is back). 0 or -ENOBUFS. The wait is
 * bounded by request_timeout from when the connection is up (u->token_deadline). */
int upstream_request_token(struct upstream *u);
/* Take a finished job's result (takes ownership of job). */
void upstream_take_token(struct upstream *u, struct auth_job *job);
/* The token is overdue (u->token_deadline): put the KDC sentence in u->error. */
void upstream_token_overdue(struct upstream *u);

/* --- requests and answers --- */
/* Monotonic usec request_timeout from now: the proxy's answer, or the token, is due then. */
uint64_t upstream_request_deadline(const struct upstream *u);
/* Send the CONNECT for u->target and arm request_timeout. 0 sent, 1 nothing to send (direct),
 * UPSTREAM_RECONNECTING (a warm connection that failed: a new one is being made, as after
 * upstream_read_connect_answer()), -errno (u->error, u->detail). */
int upstream_send_connect(struct upstream *u);
/* Send a port-80 request head rewritten for the proxy with the token. 0 or -errno. */
int upstream_send_request(struct upstream *u, const uint8_t *head,
			  const struct kg_http_request *req, const char *authority);
/* Read the answer to CONNECT: the 407 rounds (continued on this connection when it stays open
 * and the body is sized, after dropping the body; else on a new connection) and the mutual
 * authentication of a 2xx, whose head is then taken from the socket (what follows is the
 * tunnel's). UPSTREAM_OPEN: the tunnel is open; 0: wait for more; UPSTREAM_RECONNECTING: a new
 * connection is being made for the next round (the owner waits for upstream_poll() again);
 * -errno: failed (u->error, u->detail). */
#define UPSTREAM_OPEN	      1
#define UPSTREAM_RECONNECTING 2
int upstream_read_connect_answer(struct upstream *u);
/* The timer while waiting for the answer to CONNECT: 0 wait on (re-armed), -ETIMEDOUT
 * request_timeout (the caller fails with upstream_no_answer()), UPSTREAM_RECONNECTING: the
 * CONNECT on a warm connection was not even acknowledged (a path that died with the
 * connection idle: another network, a proxy gone): a new connection and token are under way
 * as after a failed connect; -errno: that failed too (u->error). */
int upstream_answer_timer(struct upstream *u);
/* The warm connection failed before the proxy answered (why, for the log): dropped for a new
 * connection and a new token, as after a failed connect. UPSTREAM_RECONNECTING or -errno. */
int upstream_warm_fallback(struct upstream *u, const char *why);
/* How long a CONNECT on a warm connection may stay unacknowledged. */
#define UPSTREAM_WARM_PROBE_USEC 1000000ull
/* Peek at the response head (into relay_scratch, which the spans then refer to).
 * 0: complete, still in the socket (upstream_consume() its head_len); -EAGAIN: incomplete, wait
 * for more; -EPIPE: closed; -E2BIG, -EBADMSG, -errno. */
int upstream_peek_response(struct upstream *u, struct kg_http_response *resp);
int upstream_consume(struct upstream *u, size_t n);
/* The sentence for a 407 (given what we sent), or "" when a continuation token is ready. */
void upstream_auth_reason(struct upstream *u, const struct kg_http_response *r, const uint8_t *head,
			  char *buf, size_t len);
/* A 2xx carrying the proxy's final token: verify it. 0, or -errno with the sentence in buf. */
int upstream_mutual(struct upstream *u, const struct kg_http_response *r, const uint8_t *head,
		    char *buf, size_t len);

/* --- failure sentences --- */
/* u->detail, the journal's detail of the failure ("" for NULL). */
void upstream_set_detail(struct upstream *u, const char *detail);
/* The sentence for a request_timeout without the proxy's answer, written into buf. */
const char *upstream_no_answer(const struct upstream *u, char *buf, size_t len);
/* The sentence for an upstream_peek_response() failure. */
const char *upstream_head_error(int r);
/* Log a failure of c for the user, with the journal fields, and count it. u may be NULL. */
void upstream_log_failure(struct kg_client *cl, struct relay_conn *c, const struct upstream *u,
			  const char *sentence, const char *detail);
