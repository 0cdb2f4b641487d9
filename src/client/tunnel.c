/* Tunnel setup: name, connect, CONNECT + Negotiate (see tunnel.h).
 *
 * The proxy's TCP connect and the token (made by the Kerberos worker) start at accept and run
 * concurrently with the wait for the application's first bytes (neither needs the destination's
 * name); the CONNECT goes out when the name, the connection and the token are all there. The token
 * is sent preemptively (RFC 4559 §4.2 allows it and it saves a round trip). When no token can be
 * made the CONNECT goes out without one: a proxy that needs no authentication still works, and one
 * that answers 407 gets the Kerberos sentence ("no Kerberos ticket: run kinit") reported. The
 * answer is peeked into the shared scratch buffer (MSG_PEEK, at most KG_HTTP_HEAD_MAX) and only its
 * head is taken from the socket: no per-tunnel head buffer, and the tunnel's first bytes (a
 * server-first banner) stay where the relay finds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/tunnel.h"
#include "shared/log.h"
#include "shared/netutil.h"

#define SAME_FAILURE_QUIET_USEC 5000000ull

uint64_t tunnel_request_deadline(const struct relay_conn *c)
{
	return kg_now_usec(CLOCK_MONOTONIC) + c->set->request_timeout * 1000000ull;
}

void tunnel_setup_free(struct tunnel_setup *t)
{
	if (!t)
		return;
	if (t->job)
		authq_cancel(t->job);
	negotiate_free(t->neg);
	free(t->token);
	free(t);
}

void tunnel_log_failure(struct kg_client *cl, struct relay_conn *c, const char *sentence,
			const char *detail)
{
	static char last[TUNNEL_REASON_MAX];
	static uint64_t last_at;
	struct tunnel_setup *t = c->setup;
	char dest[KG_ADDR_STR_MAX];
	const char *host = t && t->host[0] ? t->host : "";
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);
	int level = LOG_WARNING;

	kg_format_ip_port(c->dst_ip, c->dst_port, dest, sizeof(dest));
	/* Many connections fail the same way at once (a browser opening 20): say it once. */
	if (strcmp(last, sentence) == 0 && now - last_at < SAME_FAILURE_QUIET_USEC)
		level = LOG_DEBUG;
	else
		last_at = now;
	snprintf(last, sizeof(last), "%s", sentence);
	log_fields(level,
		   KG_FIELDS({"KG_DEST", dest}, {"KG_HOST", host}, {"KG_PROXY", c->set->proxy_url},
			     {"KG_UID", cl->uid_str}),
		   "connection to %s (%s) failed: %s%s%s%s", host[0] ? host : dest, dest, sentence,
		   detail && detail[0] ? " (" : "", detail ? detail : "",
		   detail && detail[0] ? ")" : "");
	cl->tunnels_failed++;
	cl->status_dirty = true;
}

static void fail(struct kg_client *cl, struct relay_conn *c, const char *sentence,
		 const char *detail)
{
	tunnel_log_failure(cl, c, sentence, detail); /* counts the failure */
	relay_conn_close(cl, c, false);
}

/* --- tokens --------------------------------------------------------------------------------- */

int tunnel_request_token(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	t->token_ready = false;
	t->auth_failed = false;
	free(t->token);
	t->token = NULL;
	negotiate_free(t->neg);
	t->neg = NULL;
	t->job = authq_submit(c->set, relay_conn_on_auth, c);
	if (!t->job) {
		snprintf(t->error, sizeof(t->error), "too many connections waiting for Kerberos");
		return -ENOBUFS;
	}
	/* A KDC that never answers must not hold the connection forever. */
	if (t->connected) {
		t->token_deadline = tunnel_request_deadline(c);
		relay_set_timer(cl, c, t->token_deadline);
	}
	return 0;
}

void tunnel_token_overdue(struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	/* The Kerberos worker is still busy, with this token or one before it: say with what. */
	snprintf(t->error, sizeof(t->error), "%s (no Kerberos token within %u s)",
		 negotiate_overdue_reason(), c->set->request_timeout);
}

/* What a failed Kerberos step tells the user. */
static const char *failure_sentence(const struct negotiate_failure *f)
{
	return f->message[0] ? f->message : negotiate_error_message(f->code);
}

void tunnel_take_token(struct tunnel_setup *t, struct auth_job *job)
{
	t->job = NULL;
	t->token_ready = true;
	if (job->r == 0) {
		t->neg = job->ctx;
		t->token = job->token;
		job->ctx = NULL;
		job->token = NULL;
	} else {
		t->auth_failed = true;
		snprintf(t->auth_reason, sizeof(t->auth_reason), "%s",
			 failure_sentence(&job->fail));
		if (job->fail.detail[0])
			log_debug("Kerberos: %s (%s)", t->auth_reason, job->fail.detail);
	}
	authq_job_free(job);
}

/* Feed r's Negotiate token to t->neg as the given answer; on failure buf says why. */
static int step_on_token(struct tunnel_setup *t, const struct kg_http_response *r,
			 const uint8_t *head, enum negotiate_answer answer, char **next, char *buf,
			 size_t len)
{
	struct negotiate_failure f = {0};
	char *tok;
	int ret;

	tok = strndup((const char *)head + r->negotiate_token.off, r->negotiate_token.len);
	if (!tok) {
		snprintf(buf, len, "out of memory");
		return -ENOMEM;
	}
	ret = negotiate_step(t->neg, answer, tok, next, &f);
	free(tok);
	if (ret < 0)
		snprintf(buf, len, "%s", failure_sentence(&f));
	return ret;
}

void tunnel_auth_reason(struct tunnel_setup *t, const struct kg_http_response *r,
			const uint8_t *head, char *buf, size_t len)
{
	char *next = NULL;

	if (!(r->auth_schemes & KG_AUTH_NEGOTIATE)) {
		snprintf(buf, len, "the proxy does not offer Negotiate (Kerberos) authentication");
		return;
	}
	if (t->auth_failed) {
		snprintf(buf, len, "%s", t->auth_reason);
		return;
	}
	if (!t->neg || r->negotiate != KG_NEGOTIATE_TOKEN) {
		snprintf(buf, len, "%s", negotiate_error_message(NEGOTIATE_ERR_REJECTED));
		return;
	}
	/* A token with the 407: either a continuation or a rejection that says why. */
	if (step_on_token(t, r, head, NEGOTIATE_ANSWER_CHALLENGE, &next, buf, len) < 0)
		return;
	/* A genuine continuation: the caller may send next. */
	free(t->token);
	t->token = next;
	buf[0] = '\0';
}

int tunnel_mutual(struct tunnel_setup *t, const struct kg_http_response *r, const uint8_t *head,
		  char *buf, size_t len)
{
	char *none = NULL;
	int ret;

	if (r->negotiate != KG_NEGOTIATE_TOKEN || !t->neg)
		return 0;
	ret = step_on_token(t, r, head, NEGOTIATE_ANSWER_SUCCESS, &none, buf, len);
	free(none);
	return ret;
}

/* The sentence for a CONNECT answered with neither 2xx nor 407. */
static void refused_reason(const struct tunnel_setup *t, const struct kg_http_response *r,
			   const uint8_t *head, char *buf, size_t len)
{
	int n = (int)(r->reason.len > 80 ? 80 : r->reason.len);

	snprintf(buf, len, "the proxy refused the connection to %s: %u %.*s", t->target, r->status,
		 n, (const char *)head + r->reason.off);
}

/* --- the CONNECT exchange ------------------------------------------------------------------- */

/* 0, or -errno when it failed: then c is closed and c->setup freed. */
static int send_connect(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	char line[2 * TUNNEL_TARGET_MAX + 64];
	int n, r;

	n = snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", t->target,
		     t->target);
	/* The token is the proxy's credential: never on a socket to anything else. */
	r = t->token && !t->to_proxy ? -EPROTO : relay_queue(&c->to_proxy, line, (size_t)n);
	if (r == 0 && t->token) {
		r = relay_queue(&c->to_proxy, "Proxy-Authorization: Negotiate ", 31);
		if (r == 0)
			r = relay_queue(&c->to_proxy, t->token, strlen(t->token));
		if (r == 0)
			r = relay_queue(&c->to_proxy, "\r\n", 2);
	}
	if (r == 0)
		r = relay_queue(&c->to_proxy, "\r\n", 2);
	if (r == 0)
		r = relay_flush(&c->proxy, &c->to_proxy);
	if (r < 0) {
		fail(cl, c, "the proxy connection failed while sending the request", strerror(-r));
		return r;
	}
	t->rounds++;
	c->state = CONN_PROXY_HEAD;
	relay_set_timer(cl, c, tunnel_request_deadline(c));
	return 0;
}

/* --- setting up: the name, the connection and the token, in any order ----------------------- */

/* The proxy connection and the token depend on the proxy only (the SPN is the proxy's), not on
 * the destination's name, so both start at accept and overlap the wait for the application's
 * first bytes; for proxy.type none the connect needs only the original destination. -errno with
 * t->error set when the way out cannot even start. */
static int start_way_out(struct kg_client *cl, struct relay_conn *c)
{
	int r;

	if (c->set->proxy_type != KG_PROXY_NONE) {
		r = tunnel_request_token(cl, c);
		if (r < 0)
			return r;
	}
	return tunnel_connect_start(cl, c);
}

/* The name is final: sniffed, or the IP literal. */
static void set_named(struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	t->named = true;
	snprintf(t->target, sizeof(t->target), "%s:%u", t->host, c->dst_port);
	c->state = CONN_CONNECTING;
}

/* When the connect is due again: its retry, or the end of connection_timeout. */
static uint64_t connect_due(const struct tunnel_setup *t)
{
	return t->retry_at ? t->retry_at : t->connect_deadline;
}

/* Whether the connection is up and still waiting for the worker's token. */
static bool token_pending(const struct tunnel_setup *t)
{
	return t->connected && !t->failed && t->job && !t->token_ready;
}

/* One timer per connection: the earliest of the first-byte wait, the connect's deadline and
 * the token's. */
static void setup_arm_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	uint64_t at = 0;

	if (!t->connected && !t->failed)
		at = connect_due(t);
	if (token_pending(t))
		at = t->token_deadline;
	if (!t->named && (!at || t->sniff_deadline < at))
		at = t->sniff_deadline;
	relay_set_timer(cl, c, at);
}

/* Go once the name, the connection and the token (none for proxy.type none) are all in. A
 * failure before the name is known waits for it, so the journal line names the host the user
 * asked for. */
static void setup_advance(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	if (t->named && t->failed) {
		fail(cl, c, t->error, NULL);
		return;
	}
	if (t->named && t->connected && c->set->proxy_type == KG_PROXY_NONE) {
		relay_start(cl, c);
		return;
	}
	if (t->named && t->connected && t->token_ready) {
		(void)send_connect(cl, c);
		return;
	}
	setup_arm_timer(cl, c);
}

static void setup_begin(struct kg_client *cl, struct relay_conn *c)
{
	if (start_way_out(cl, c) < 0)
		c->setup->failed = true;
	setup_advance(cl, c);
}

static void setup_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

	if (!t->named && now >= t->sniff_deadline)
		set_named(c); /* no name within the wait: go by IP */
	if (!t->connected && !t->failed && now >= connect_due(t) && tunnel_connect_timer(cl, c) < 0)
		t->failed = true;
	if (token_pending(t) && now >= t->token_deadline) {
		tunnel_token_overdue(c);
		t->failed = true;
	}
	setup_advance(cl, c);
}

/* Peek at what the application sent so far; 1 when naming is finished. */
static int sniff(struct kg_client *cl, struct relay_conn *c, bool final)
{
	struct tunnel_setup *t = c->setup;
	char host[KG_HOST_MAX];
	uint16_t port = 0;
	ssize_t n;
	int r;

	n = recv(c->app.fd, relay_scratch, KG_SNIFF_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -ECONNRESET; /* the app left before saying anything */
		return final ? 1 : 0;
	}
	if (relay_scratch[0] == 0x16)
		r = kg_sniff_tls_sni(relay_scratch, (size_t)n, host, sizeof(host));
	else
		r = kg_sniff_http_host(relay_scratch, (size_t)n, host, sizeof(host), &port);
	if (r == 1)
		snprintf(t->host, sizeof(t->host), "%s", host);
	if (r == -EAGAIN && !final && n < KG_SNIFF_MAX)
		return 0;
	return 1;
}

/* Ports where the client speaks first with a TLS ClientHello (implicit TLS). */
static bool port_is_tls(uint16_t port)
{
	static const uint16_t tls[] = {443, 465, 636, 853, 990, 992, 993, 995, 5061, 6697, 8443};
	size_t i;

	for (i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
		if (tls[i] == port)
			return true;
	return false;
}

void tunnel_accepted(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t;
	bool sniffing = c->set->sniff_hostname && c->set->proxy_type != KG_PROXY_NONE;

	t = calloc(1, sizeof(*t));
	if (!t) {
		relay_conn_close(cl, c, true);
		return;
	}
	c->setup = t;
	kg_format_ip(c->dst_ip, t->host, sizeof(t->host));
	if (sniffing && port_is_tls(c->dst_port)) {
		/* The client speaks first: wait a little for its ClientHello. */
		c->state = CONN_SNIFF;
		t->sniff_deadline = kg_now_usec(CLOCK_MONOTONIC) + CLIENT_SNIFF_WAIT_MS * 1000ull;
		setup_begin(cl, c);
		tunnel_on_app(cl, c);
		return;
	}
	/* Maybe server-speaks-first (SSH, SMTP): no waiting, but use what is already there. */
	if (sniffing && sniff(cl, c, true) < 0) {
		relay_conn_close(cl, c, false); /* the app left before saying anything */
		return;
	}
	set_named(c);
	setup_begin(cl, c);
}

void tunnel_on_app(struct kg_client *cl, struct relay_conn *c)
{
	int r;

	if (c->state == CONN_SNIFF) {
		r = sniff(cl, c, false);
		if (r < 0) {
			relay_conn_close(cl, c, false);
		} else if (r == 1) {
			set_named(c);
			setup_advance(cl, c);
		}
		return;
	}
	/* Not relaying yet: the app's bytes wait in its socket (that is the backpressure). An
	 * app that gives up is noticed when the tunnel starts. */
}

int tunnel_peek_response(struct relay_side *s, struct kg_http_response *resp)
{
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

int tunnel_consume(struct relay_side *s, size_t n)
{
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

const char *tunnel_no_answer(const struct relay_conn *c, char *buf, size_t len)
{
	snprintf(buf, len, "the proxy did not answer within %u s (request_timeout)",
		 c->set->request_timeout);
	return buf;
}

const char *tunnel_head_error(int r)
{
	switch (r) {
	case -EPIPE:
		return "the proxy closed the connection before answering";
	case -E2BIG:
		return "the proxy's answer is too large";
	case -EBADMSG:
		return "the proxy sent a malformed answer";
	default:
		return "the proxy connection failed";
	}
}

/* The proxy's answer to CONNECT: peeked, so not a byte past the head is ever taken from the
 * socket; what follows a 2xx head is the tunnel's and reaches the application by the relay. */
static void read_answer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	struct kg_http_response resp;
	char why[TUNNEL_REASON_MAX];
	uint64_t len = 0;
	ssize_t n;
	int r;

	r = relay_flush(&c->proxy, &c->to_proxy);
	if (r < 0) {
		fail(cl, c, "the proxy closed the connection", strerror(-r));
		return;
	}
	for (;;) {
		if (t->discard) {
			n = relay_recv(&c->proxy, relay_scratch,
				       t->discard < sizeof(relay_scratch) ? t->discard
									  : sizeof(relay_scratch));
			if (n == -EAGAIN)
				return;
			if (n <= 0) {
				fail(cl, c, tunnel_head_error(-EPIPE), NULL);
				return;
			}
			t->discard -= (uint64_t)n;
			if (t->discard == 0 && send_connect(cl, c) < 0)
				return; /* c->setup is gone */
			continue;
		}
		r = tunnel_peek_response(&c->proxy, &resp);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			fail(cl, c, tunnel_head_error(r),
			     r == -EPIPE || r == -E2BIG || r == -EBADMSG ? NULL : strerror(-r));
			return;
		}
		if (resp.status >= 200 && resp.status < 300) {
			if (tunnel_mutual(t, &resp, relay_scratch, why, sizeof(why)) < 0) {
				fail(cl, c, why, NULL);
				return;
			}
			if (tunnel_consume(&c->proxy, resp.head_len) < 0) {
				fail(cl, c, tunnel_head_error(-EPIPE), NULL);
				return;
			}
			log_debug("tunnel open: %s via %s", t->target, c->set->proxy_url);
			relay_start(cl, c);
			return;
		}
		if (resp.status != 407) {
			refused_reason(t, &resp, relay_scratch, why, sizeof(why));
			fail(cl, c, why, NULL);
			return;
		}
		tunnel_auth_reason(t, &resp, relay_scratch, why, sizeof(why));
		if (why[0]) {
			fail(cl, c, why, NULL);
			return;
		}
		if (t->rounds >= NEGOTIATE_MAX_ROUNDS) {
			fail(cl, c, negotiate_error_message(NEGOTIATE_ERR_PROTOCOL),
			     "too many authentication rounds");
			return;
		}
		/* Continue on this connection when it stays open and the body is sized. */
		if (kg_http_response_framing(&resp, true, false, &len) == KG_BODY_LENGTH &&
		    kg_http_response_keep_alive(&resp) &&
		    tunnel_consume(&c->proxy, resp.head_len) == 0) {
			t->discard = len;
			if (len == 0 && send_connect(cl, c) < 0)
				return; /* c->setup is gone */
			continue;
		}
		c->state = CONN_CONNECTING;
		if (tunnel_connect_restart(cl, c) < 0)
			fail(cl, c, t->error, NULL);
		return;
	}
}

void tunnel_on_proxy(struct kg_client *cl, struct relay_conn *c)
{
	switch (c->state) {
	case CONN_SNIFF:
	case CONN_CONNECTING:
		if (!c->setup->failed && tunnel_connect_poll(cl, c) < 0)
			c->setup->failed = true;
		setup_advance(cl, c);
		break;
	case CONN_PROXY_HEAD:
		read_answer(cl, c);
		break;
	default:
		break;
	}
}

void tunnel_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	char why[TUNNEL_REASON_MAX];

	switch (c->state) {
	case CONN_SNIFF:
	case CONN_CONNECTING:
		setup_on_timer(cl, c);
		break;
	case CONN_PROXY_HEAD:
		fail(cl, c, tunnel_no_answer(c, why, sizeof(why)), c->set->proxy_url);
		break;
	default:
		break;
	}
}

void tunnel_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job)
{
	tunnel_take_token(c->setup, job);
	setup_advance(cl, c);
}

static void tunnel_conn_free(struct relay_conn *c)
{
	tunnel_setup_free(c->setup);
	c->setup = NULL;
}

const struct conn_ops tunnel_conn_ops = {
    .start = tunnel_accepted,
    .on_app = tunnel_on_app,
    .on_upstream = tunnel_on_proxy,
    .on_timer = tunnel_on_timer,
    .on_auth = tunnel_on_auth,
    .free = tunnel_conn_free,
};
