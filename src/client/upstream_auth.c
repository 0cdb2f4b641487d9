/* The upstream's Negotiate part (see upstream.h): asking the Kerberos worker for a token with
 * the connection's settings, taking its answer, the sentence for a token that is overdue, and the
 * token steps of a 407 (multi-round) and of a 2xx that carries the proxy's final token (mutual
 * authentication).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/tokenless.h"
#include "client/upstream.h"
#include "shared/log.h"
#include "shared/netutil.h"

bool upstream_wants_token(const struct upstream *u)
{
	return u->ops->auth;
}

bool upstream_known_tokenless(const struct upstream *u)
{
	char url[KG_URL_MAX];

	return u->may_go_tokenless && u->ops->auth &&
	       tokenless_known(&u->cl->tokenless, upstream_peer(u, url, sizeof(url)),
			       kg_now_usec(CLOCK_MONOTONIC));
}

void upstream_note_answer_2xx(struct upstream *u)
{
	char url[KG_URL_MAX];

	/* Only a first CONNECT with no token proves anything (a continuation carried one). */
	if (!u->may_go_tokenless || !u->ops->auth || u->tok.token || u->rounds != 1)
		return;
	tokenless_learn(&u->cl->tokenless, upstream_peer(u, url, sizeof(url)),
			kg_now_usec(CLOCK_MONOTONIC));
}

int upstream_tokenless_refused(struct upstream *u)
{
	bool was = u->tokenless;
	int r;

	tokenless_forget(&u->cl->tokenless); /* a proxy that needs none does not send a 407 */
	if (!was)
		return 0;
	log_debug("the proxy asked for authentication for %s after it took CONNECTs without: "
		  "a token and a new connection",
		  u->target);
	r = upstream_request_token(u);
	if (r == 0)
		r = upstream_reconnect(u);
	return r < 0 ? r : UPSTREAM_RECONNECTING;
}

int upstream_request_token(struct upstream *u)
{
	const struct client_settings *set = u->c->set;
	struct authq_request req;

	kg_token_slot_release(&u->tok); /* made for the entry tried before */
	u->token_ready = false;
	u->auth_failed = false;
	u->token_new = false;
	u->tokenless = false;
	if (!u->ops->auth) { /* a DIRECT entry of a route: nothing to make */
		u->token_ready = true;
		return 0;
	}
	if (upstream_known_tokenless(u)) { /* its CONNECT goes without one */
		u->tokenless = true;
		u->token_ready = true;
		return 0;
	}
	req = (struct authq_request){
	    /* The principal is the proxy's being tried (unless kerberos.spn names one). */
	    .proxy_host = u->route ? u->route->e[u->idx].host : set->proxy.host,
	    .spn = set->cfg.kerberos.spn,
	    .ccache = client_settings_ccache(set),
	};
	u->tok.job = authq_submit(&req, relay_conn_on_auth, u->c);
	if (!u->tok.job) {
		snprintf(u->error, sizeof(u->error), "too many connections waiting for Kerberos");
		return -ENOBUFS;
	}
	u->token_new = true;
	/* A KDC that never answers must not hold the connection forever. */
	if (u->connected) {
		u->token_deadline = upstream_request_deadline(u);
		relay_set_timer(u->cl, u->c, u->token_deadline);
	}
	return 0;
}

void upstream_token_overdue(struct upstream *u)
{
	/* The Kerberos worker is still busy, with this token or one before it: say with what. A
	 * worker that keeps finishing tokens is not stuck: the connection waited in a queue. */
	unsigned queued = authq_backlog(u->tok.job);

	if (queued)
		snprintf(u->error, sizeof(u->error),
			 "too many connections waiting for Kerberos (%u queued; no Kerberos token "
			 "within %u s)",
			 queued, u->c->set->cfg.proxy.request_timeout);
	else
		snprintf(u->error, sizeof(u->error), "%s (no Kerberos token within %u s)",
			 negotiate_overdue_reason(), u->c->set->cfg.proxy.request_timeout);
}

/* What a failed Kerberos step tells the user. */
static const char *failure_sentence(const struct negotiate_failure *f)
{
	return f->message[0] ? f->message : negotiate_error_message(f->code);
}

void upstream_take_token(struct upstream *u, struct auth_job *job)
{
	u->tok.job = NULL;
	u->token_ready = true;
	if (job->r == 0) {
		u->tok.neg = job->ctx;
		u->tok.token = job->token;
		job->ctx = NULL;
		job->token = NULL;
	} else {
		u->auth_failed = true;
		snprintf(u->auth_reason, sizeof(u->auth_reason), "%s",
			 failure_sentence(&job->fail));
		if (job->fail.detail[0])
			log_debug("Kerberos: %s (%s)", u->auth_reason, job->fail.detail);
	}
	authq_job_free(job);
}

/* Feed r's Negotiate token to u->tok.neg as the given answer; on failure buf says why. */
static int step_on_token(struct upstream *u, const struct kg_http_response *r, const uint8_t *head,
			 enum negotiate_answer answer, char **next, char *buf, size_t len)
{
	struct negotiate_failure f = {0};
	char *tok;
	int ret;

	tok = strndup((const char *)head + r->negotiate_token.off, r->negotiate_token.len);
	if (!tok) {
		snprintf(buf, len, "out of memory");
		return -ENOMEM;
	}
	ret = negotiate_step(u->tok.neg, answer, tok, next, &f);
	free(tok);
	if (ret < 0)
		snprintf(buf, len, "%s", failure_sentence(&f));
	return ret;
}

void upstream_auth_reason(struct upstream *u, const struct kg_http_response *r, const uint8_t *head,
			  char *buf, size_t len)
{
	char *next = NULL;

	if (!(r->auth_schemes & KG_AUTH_NEGOTIATE)) {
		snprintf(buf, len, "the proxy does not offer Negotiate (Kerberos) authentication");
		return;
	}
	if (u->auth_failed) {
		snprintf(buf, len, "%s", u->auth_reason);
		return;
	}
	if (!u->tok.neg || r->negotiate != KG_NEGOTIATE_TOKEN) {
		snprintf(buf, len, "%s", negotiate_error_message(NEGOTIATE_ERR_REJECTED));
		return;
	}
	/* A token with the 407: either a continuation or a rejection that says why. */
	if (step_on_token(u, r, head, NEGOTIATE_ANSWER_CHALLENGE, &next, buf, len) < 0)
		return;
	/* A genuine continuation: the caller may send next. */
	u->token_new = false;
	free(u->tok.token);
	u->tok.token = next;
	buf[0] = '\0';
}

int upstream_mutual(struct upstream *u, const struct kg_http_response *r, const uint8_t *head,
		    char *buf, size_t len)
{
	char *none = NULL;
	int ret;

	if (r->negotiate != KG_NEGOTIATE_TOKEN || !u->tok.neg)
		return 0;
	ret = step_on_token(u, r, head, NEGOTIATE_ANSWER_SUCCESS, &none, buf, len);
	free(none);
	return ret;
}
