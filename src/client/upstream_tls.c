/* The "https proxy" upstream kind (see upstream_tls.h): the TCP connect of "http proxy", then
 * the TLS handshake on the loop, then the http kind's requests through the TLS side.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/proxy_tls.h"
#include "client/upstream_priv.h"
#include "client/upstream_tls.h"
#include "shared/log.h"

/* --- the session as the pump's TLS side (pump.h) ------------------------------------------- */

static ssize_t side_read(void *t, void *p, size_t n)
{
	return proxy_tls_read(t, p, n);
}

static ssize_t side_write(void *t, const void *p, size_t n)
{
	return proxy_tls_write(t, p, n);
}

static int side_shutdown(void *t)
{
	switch (proxy_tls_shutdown(t)) {
	case PROXY_TLS_DONE:
		return 0;
	case PROXY_TLS_ERROR:
		return -EPIPE;
	default:
		return -EAGAIN;
	}
}

static bool side_wants_write(const void *t)
{
	return proxy_tls_want(t) == PROXY_TLS_WANT_WRITE;
}

static bool side_pending(const void *t)
{
	return proxy_tls_pending(t);
}

static bool side_starved(const void *t)
{
	return proxy_tls_starved(t);
}

static void side_free(void *t)
{
	proxy_tls_free(t);
}

static const struct relay_tls_ops side_ops = {
    .read = side_read,
    .write = side_write,
    .shutdown = side_shutdown,
    .wants_write = side_wants_write,
    .pending = side_pending,
    .starved = side_starved,
    .free = side_free,
};

/* --- the kind --------------------------------------------------------------------------------- */

static const char *proxy_host(const struct upstream *u, uint16_t *port)
{
	const struct client_settings *set = u->c->set;

	if (u->route) {
		*port = u->route->e[u->idx].port;
		return u->route->e[u->idx].host;
	}
	*port = set->proxy.port;
	return set->proxy.host;
}

static int https_connect(struct upstream *u)
{
	return upstream_http_proxy_ops.connect(u);
}

/* The entry failed on TLS: its sentence, the socket closed (the session with it). */
static int tls_failed(struct upstream *u, const struct proxy_tls *t, int r)
{
	snprintf(u->error, sizeof(u->error), "%s", proxy_tls_error(t));
	upstream_set_detail(u, proxy_tls_detail(t));
	relay_side_close(u->cl, &u->c->proxy);
	u->connected = false;
	return r;
}

/* The TCP connection is up: start the session on it. */
static int tls_begin(struct upstream *u)
{
	struct relay_conn *c = u->c;
	struct proxy_tls_ctx *ctx;
	struct proxy_tls *t;
	const char *host;
	uint16_t port;
	int r;

	r = client_settings_tls(c->set, &ctx, u->error, sizeof(u->error));
	if (r < 0) {
		relay_side_close(u->cl, &c->proxy);
		return r;
	}
	host = proxy_host(u, &port);
	t = proxy_tls_new(ctx, c->proxy.fd, host, port, u->error, sizeof(u->error));
	if (!t) {
		relay_side_close(u->cl, &c->proxy);
		return -ENOMEM;
	}
	r = relay_side_set_tls(&c->proxy, &side_ops, t);
	if (r < 0) {
		proxy_tls_free(t);
		snprintf(u->error, sizeof(u->error), "out of memory");
		relay_side_close(u->cl, &c->proxy);
		return r;
	}
	/* connection_timeout covers the TCP connect and the handshake together. */
	relay_set_timer(u->cl, c, u->connect_deadline);
	return 0;
}

static int https_poll(struct upstream *u)
{
	struct relay_conn *c = u->c;
	struct proxy_tls *t;
	int r;

	if (u->connected)
		return 1;
	t = relay_side_tls(&c->proxy);
	if (!t) {
		/* TCP first, as for http; connected means TLS is up too, so not yet. */
		r = upstream_http_proxy_ops.poll(u);
		if (r <= 0)
			return r;
		u->connected = false;
		r = tls_begin(u);
		if (r < 0)
			return r;
		t = relay_side_tls(&c->proxy);
	}
	switch (proxy_tls_handshake(t)) {
	case PROXY_TLS_DONE:
		break;
	case PROXY_TLS_WANT_READ:
		c->proxy.flags &= (uint8_t)~SIDE_READABLE;
		return 0;
	case PROXY_TLS_WANT_WRITE:
		c->proxy.flags &= (uint8_t)~SIDE_WRITABLE;
		return 0;
	default:
		return tls_failed(u, t, -EPROTO);
	}
	if (kg_log_get_level() >= LOG_DEBUG) {
		char url[KG_URL_MAX], cipher[80];

		log_debug("TLS to the proxy %s is up, %s%s", upstream_peer(u, url, sizeof(url)),
			  proxy_tls_cipher(t, cipher, sizeof(cipher)),
			  proxy_tls_resumed(t) ? " (resumed)" : "");
	}
	upstream_proxy_up(u);
	u->connected = true;
	c->proxy.flags |= SIDE_READABLE | SIDE_WRITABLE; /* the next call finds out */
	if (u->tok.job)
		u->token_deadline = upstream_request_deadline(u);
	relay_set_timer(u->cl, c, u->tok.job ? u->token_deadline : 0);
	return 1;
}

static int https_on_timer(struct upstream *u)
{
	struct relay_conn *c = u->c;
	char url[KG_URL_MAX];

	if (!relay_side_tls(&c->proxy))
		return upstream_http_proxy_ops.on_timer(u);
	relay_side_close(u->cl, &c->proxy);
	snprintf(u->error, sizeof(u->error),
		 "TLS handshake with the proxy failed: %s did not complete it within %u s "
		 "(connection_timeout)",
		 upstream_peer(u, url, sizeof(url)), c->set->cfg.proxy.connection_timeout);
	return -ETIMEDOUT;
}

/* With TLS 1.3 the proxy's verdict on our certificate arrives with the first write or read:
 * a failure then is the session's sentence. */
static int tls_sentence(struct upstream *u, int r)
{
	const struct proxy_tls *t = relay_side_tls(&u->c->proxy);

	if (r < 0 && t && proxy_tls_error(t)[0]) {
		snprintf(u->error, sizeof(u->error), "%s", proxy_tls_error(t));
		upstream_set_detail(u, proxy_tls_detail(t));
	}
	return r;
}

static int https_write_connect(struct upstream *u)
{
	return tls_sentence(u, upstream_http_proxy_ops.write_connect(u));
}

static int https_write_request(struct upstream *u, const uint8_t *head,
			       const struct kg_http_request *req, const char *authority)
{
	return tls_sentence(u, upstream_http_proxy_ops.write_request(u, head, req, authority));
}

/* The head cannot be peeked through TLS: it is read into the side's buffer (at most
 * KG_HTTP_HEAD_MAX) and copied to relay_scratch, where the spans point; upstream_consume()
 * takes it from there, and what follows it is read next. */
static int https_read_head(struct upstream *u, struct kg_http_response *resp)
{
	bool ended;
	ssize_t n;
	int r;

	n = relay_tls_peek(&u->c->proxy, relay_scratch, KG_HTTP_HEAD_MAX, &ended);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return (int)n;
	r = kg_http_response_parse(relay_scratch, (size_t)n, resp);
	if (r == -EAGAIN) {
		if ((size_t)n >= KG_HTTP_HEAD_MAX)
			return -E2BIG;
		if (ended)
			return -EPIPE;
	}
	return r;
}

static void https_close(struct upstream *u)
{
	upstream_http_proxy_ops.close(u);
}

const struct upstream_ops upstream_https_proxy_ops = {
    .name = "https proxy",
    .auth = true,
    .connect = https_connect,
    .poll = https_poll,
    .on_timer = https_on_timer,
    .write_connect = https_write_connect,
    .write_request = https_write_request,
    .read_head = https_read_head,
    .close = https_close,
};

const char *upstream_tls_failure(const struct upstream *u)
{
	const struct proxy_tls *t = relay_side_tls(&u->c->proxy);

	return t && proxy_tls_error(t)[0] ? proxy_tls_error(t) : NULL;
}

const char *upstream_read_error(const struct upstream *u, int r)
{
	const char *tls = upstream_tls_failure(u);

	return tls ? tls : upstream_head_error(r);
}
