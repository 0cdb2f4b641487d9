/* The upstream's answers (see upstream.h): the proxy's answer to CONNECT with its 407 rounds
 * and mutual authentication, and the sentences for the user and the journal when a way out
 * fails. upstream.c makes the connection; upstream_auth.c the token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/upstream.h"
#include "client/upstream_tls.h"
#include "shared/log.h"
#include "shared/netutil.h"

#define SAME_FAILURE_QUIET_USEC 5000000ull /* the same failure is logged once per this */

/* Fail with sentence (and detail): returns r. */
static int failed(struct upstream *u, int r, const char *sentence, const char *detail)
{
	if (sentence != u->error)
		snprintf(u->error, sizeof(u->error), "%s", sentence);
	upstream_set_detail(u, detail);
	return r;
}

/* The sentence for a CONNECT answered with neither 2xx nor 407. */
static void refused_reason(const struct upstream *u, const struct kg_http_response *r,
			   const uint8_t *head, char *buf, size_t len)
{
	int n = (int)(r->reason.len > 80 ? 80 : r->reason.len);

	snprintf(buf, len, "the proxy refused the connection to %s: %u %.*s", u->target, r->status,
		 n, (const char *)head + r->reason.off);
}

int upstream_read_connect_answer(struct upstream *u)
{
	struct relay_conn *c = u->c;
	struct kg_http_response resp;
	char why[UPSTREAM_REASON_MAX];
	uint64_t len = 0;
	ssize_t n;
	int r;

	u->detail[0] = '\0';
	r = relay_flush(&c->proxy, &c->to_proxy);
	if (r < 0 && u->warm)
		return upstream_warm_fallback(u, strerror(-r));
	if (r < 0)
		return failed(u, r, "the proxy closed the connection", strerror(-r));
	for (;;) {
		if (u->discard) {
			n = relay_recv(&c->proxy, relay_scratch,
				       u->discard < sizeof(relay_scratch) ? u->discard
									  : sizeof(relay_scratch));
			if (n == -EAGAIN)
				return 0;
			if (n <= 0)
				return failed(u, -EPIPE, upstream_read_error(u, -EPIPE), NULL);
			u->discard -= (uint64_t)n;
			if (u->discard == 0) {
				r = upstream_send_connect(u);
				if (r < 0)
					return r;
			}
			continue;
		}
		r = upstream_peek_response(u, &resp);
		if (r == -EAGAIN)
			return 0;
		if (r < 0 && u->warm && r != -E2BIG &&
		    r != -EBADMSG) /* closed, reset, unreachable */
			return upstream_warm_fallback(u, strerror(-r));
		u->warm = false; /* the proxy answered */
		if (r < 0) {
			const char *sentence = upstream_read_error(u, r);

			/* The TLS session's sentence says it all (upstream_tls.h). */
			return failed(u, r, sentence,
				      r == -EPIPE || r == -E2BIG || r == -EBADMSG ||
					      sentence != upstream_head_error(r)
					  ? NULL
					  : strerror(-r));
		}
		if (resp.status >= 200 && resp.status < 300) {
			r = upstream_mutual(u, &resp, relay_scratch, why, sizeof(why));
			if (r < 0)
				return failed(u, r, why, NULL);
			if (upstream_consume(u, resp.head_len) < 0)
				return failed(u, -EPIPE, upstream_head_error(-EPIPE), NULL);
			upstream_note_answer_2xx(u);
			log_debug("tunnel open: %s via %s", u->target,
				  upstream_peer(u, why, sizeof(why)));
			return UPSTREAM_OPEN;
		}
		if (resp.status != 407) {
			refused_reason(u, &resp, relay_scratch, why, sizeof(why));
			return failed(u, -ECONNREFUSED, why, NULL);
		}
		r = upstream_tokenless_refused(u);
		if (r < 0)
			return failed(u, r, u->error, NULL);
		if (r == UPSTREAM_RECONNECTING)
			return r;
		upstream_auth_reason(u, &resp, relay_scratch, why, sizeof(why));
		if (why[0])
			return failed(u, -EACCES, why, NULL);
		if (u->rounds >= NEGOTIATE_MAX_ROUNDS)
			return failed(u, -EPROTO, negotiate_error_message(NEGOTIATE_ERR_PROTOCOL),
				      "too many authentication rounds");
		/* Continue on this connection when it stays open and the body is sized. */
		if (kg_http_response_framing(&resp, true, false, &len) == KG_BODY_LENGTH &&
		    kg_http_response_keep_alive(&resp) && upstream_consume(u, resp.head_len) == 0) {
			u->discard = len;
			if (len == 0) {
				r = upstream_send_connect(u);
				if (r < 0)
					return r;
			}
			continue;
		}
		r = upstream_reconnect(u);
		if (r < 0)
			return failed(u, r, u->error, NULL);
		return UPSTREAM_RECONNECTING;
	}
}

/* --- failure sentences ---------------------------------------------------------------------- */

const char *upstream_no_answer(const struct upstream *u, char *buf, size_t len)
{
	snprintf(buf, len, "the proxy did not answer within %u s (request_timeout)",
		 u->c->set->cfg.proxy.request_timeout);
	return buf;
}

const char *upstream_head_error(int r)
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

void upstream_log_failure(struct kg_client *cl, struct relay_conn *c, const struct upstream *u,
			  const char *sentence, const char *detail)
{
	static char last[UPSTREAM_REASON_MAX];
	static uint64_t last_at;
	char dest[KG_ADDR_STR_MAX], url[KG_URL_MAX];
	const char *host = u && u->host[0] ? u->host : "", *peer;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);
	int level = LOG_WARNING;

	kg_format_ip_port(c->dst_ip, c->dst_port, dest, sizeof(dest));
	peer = u ? upstream_peer(u, url, sizeof(url)) : c->set->cfg.proxy.url;
	/* Many connections fail the same way at once (a browser opening 20): say it once. */
	if (strcmp(last, sentence) == 0 && now - last_at < SAME_FAILURE_QUIET_USEC)
		level = LOG_DEBUG;
	else
		last_at = now;
	snprintf(last, sizeof(last), "%s", sentence);
	log_fields(level,
		   KG_FIELDS({"KG_DEST", dest}, {"KG_HOST", host}, {"KG_PROXY", peer},
			     {"KG_UID", cl->uid_str}),
		   "connection to %s (%s) failed: %s%s%s%s", host[0] ? host : dest, dest, sentence,
		   detail && detail[0] ? " (" : "", detail ? detail : "",
		   detail && detail[0] ? ")" : "");
	cl->tunnels_failed++;
	cl->status_dirty = true;
}
