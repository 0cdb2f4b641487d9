/* Warm connections on a connection's way out: taking a spare from the pool (warm.c) for an
 * http proxy's first connect, and what happens when the proxy never answers on one.
 * upstream_warm.h says which functions; this file is upstream.c's, split for size.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/upstream.h"
#include "client/upstream_priv.h"
#include "client/warm.h"
#include "shared/log.h"
#include "shared/netutil.h"

static const char *proxy_host(const struct upstream *u)
{
	return u->route ? u->route->e[u->idx].host : u->c->set->proxy.host;
}

/* Take the token of a warm connection h: when this connection has sent none and its own is
 * only a first one (never a continuation); else it is dropped, unsent. */
static void warm_token(struct upstream *u, struct warm_handout *h)
{
	bool mine = (!u->job && !u->token_ready) || u->token_new;

	if (!mine || (!h->token && !h->job)) {
		if (h->job)
			authq_cancel(h->job);
		negotiate_free(h->neg);
		free(h->token);
		return;
	}
	upstream_cleanup(u); /* our own first one, not needed now */
	u->auth_failed = false;
	u->token_new = true;
	if (h->token) {
		u->neg = h->neg;
		u->token = h->token;
		u->token_ready = true;
		return;
	}
	u->job = h->job;
	u->job->done = relay_conn_on_auth;
	u->job->owner = u->c;
	u->token_ready = false;
}

/* What a warm connection to the proxy at ss is for (warm.h). */
static struct warm_key warm_key_of(const struct upstream *u, const struct sockaddr_storage *ss,
				   socklen_t len)
{
	const struct client_settings *set = u->c->set;

	return (struct warm_key){
	    .addr = ss,
	    .addrlen = len,
	    .proxy_host = proxy_host(u),
	    .spn = set->cfg.kerberos.spn,
	    .ccache = client_settings_ccache(set),
	    .max = set->cfg.proxy.warm_connections,
	    .idle_s = set->cfg.proxy.warm_idle_timeout,
	};
}

/* A first connect to the proxy at ss: an established connection from the warm pool, when it
 * has one (1), else 0. */
int upstream_warm_attempt(struct upstream *u, const struct sockaddr_storage *ss, socklen_t len)
{
	struct warm_key key = warm_key_of(u, ss, len);
	struct warm_handout h;
	struct relay_conn *c = u->c;

	if (!u->cl->warm || !u->may_warm || u->attempts != 1 || u->cl->n_fds + 1 > u->cl->fd_cap ||
	    u->cl->warm->take(u->cl, &key, &h) != 1)
		return 0;
	if (relay_side_open(u->cl, c, &c->proxy, h.fd) < 0) {
		relay_side_close(u->cl, &c->proxy);
		if (h.job)
			authq_cancel(h.job);
		negotiate_free(h.neg);
		free(h.token);
		return 0; /* a normal connect then */
	}
	warm_token(u, &h);
	u->connected = true;
	u->warm = true; /* the proxy's answer proves the path (upstream_answer_timer()) */
	if (u->job && !u->token_ready)
		u->token_deadline = upstream_request_deadline(u);
	relay_set_timer(u->cl, c, u->job && !u->token_ready ? u->token_deadline : 0);
	return 1;
}

void upstream_warm_proven(struct upstream *u, const struct sockaddr_storage *ss, socklen_t len)
{
	struct warm_key key = warm_key_of(u, ss, len);

	u->cl->warm->connected(u->cl, &key);
}

/* Whether bytes sent on the warm connection are still unacknowledged (or not even sent: no
 * route): its path is gone. */
static bool warm_stalled(const struct upstream *u)
{
	int queued = 0;

	if (u->c->proxy.fd < 0 || ioctl(u->c->proxy.fd, SIOCOUTQ, &queued) < 0)
		return true;
	return queued > 0;
}

int upstream_warm_fallback(struct upstream *u, const char *why)
{
	int r;

	log_debug("warm: the connection to %s for %s failed before an answer (%s): a new one",
		  proxy_host(u), u->host, why);
	relay_side_close(u->cl, &u->c->proxy);
	relay_buf_free(&u->c->to_proxy);
	u->warm = false;
	u->may_warm = false;
	u->connected = false;
	u->attempts = 0;
	u->rounds = 0;
	u->discard = 0;
	/* The token sent may have reached the proxy: never again, a new one. */
	r = upstream_request_token(u);
	if (r == 0)
		r = upstream_connect(u);
	return r < 0 ? r : UPSTREAM_RECONNECTING;
}

int upstream_answer_timer(struct upstream *u)
{
	if (!u->warm)
		return -ETIMEDOUT;
	if (warm_stalled(u))
		return upstream_warm_fallback(u, "not acknowledged");
	/* The proxy has the CONNECT: its answer now has the rest of request_timeout. */
	u->warm = false;
	if (kg_now_usec(CLOCK_MONOTONIC) >= u->answer_deadline)
		return -ETIMEDOUT;
	relay_set_timer(u->cl, u->c, u->answer_deadline);
	return 0;
}
