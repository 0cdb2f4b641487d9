/* Port 80 through the proxy, request by request (see forward.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/auth/authq.h"
#include "client/forward.h"
#include "client/ipc_report.h"
#include "client/policy.h"
#include "client/proto/http.h"
#include "client/upstream.h"
#include "client/upstream_tls.h"
#include "shared/log.h"
#include "shared/netutil.h"
#include "shared/text.h"

#define FWD_IN_MAX    (KG_HTTP_HEAD_MAX + RELAY_SCRATCH) /* a request head + pipelined bytes */
#define FWD_STEPS     8
#define PAGE_TEXT_MAX (2 * UPSTREAM_REASON_MAX) /* a sentence, escaped (forward_error_page) */

enum { REQ_HEAD, REQ_ROUTE, REQ_WAIT, REQ_BODY, REQ_DONE };
enum { RESP_NONE, RESP_HEAD, RESP_BODY };

struct http_forward {
	struct relay_buf in;	    /* application bytes not forwarded yet */
	struct kg_http_request req; /* spans into in, valid until the head is sent */
	struct upstream up;	    /* the proxy connection, kept across requests */
	char authority[UPSTREAM_TARGET_MAX];
	uint8_t req_state, resp_state;
	bool req_keep_alive, proxy_keep_alive, resp_started;
	bool retired;	 /* the settings changed the way out: no request after this one */
	bool kept_alive; /* a response is done and the connection waits for the next request */
	enum kg_body_framing req_framing, resp_framing;
	uint64_t req_left, resp_left;
	struct kg_chunked req_chunk, resp_chunk;
	/* proxy.type wpad: each request asks the PAC (REQ_ROUTE); up walks route, and a request
	 * whose route differs from the last one's gets a new proxy connection. */
	struct policy_job *pac_job;
	struct kg_route *route;
	uint8_t route_src; /* enum ipc_route_source of the request's route, for its report */
};

void forward_free(struct http_forward *f)
{
	if (!f)
		return;
	if (f->pac_job)
		policy_cancel(f->up.cl, f->pac_job);
	relay_buf_free(&f->in);
	upstream_cleanup(&f->up);
	free(f->route);
	free(f);
}

size_t forward_error_page(char *buf, size_t len, const char *status, const char *sentence)
{
	char text[PAGE_TEXT_MAX];
	int body, n;

	/* A printable sentence as it is (the journal's words), else escaped like the journal's
	 * peer strings: a peer's bytes never reach the terminal that prints the page raw. */
	if (kg_text_printable(sentence))
		snprintf(text, sizeof(text), "%s", sentence);
	else
		kg_text_escape(sentence, SIZE_MAX, text, sizeof(text));
	body = (int)strlen(text) + (int)strlen("kernelgatekeeper: \n");
	n = snprintf(buf, len,
		     "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\n"
		     "\r\nkernelgatekeeper: %s\n",
		     status, body, text);
	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* Answer the application ourselves and close (after it read the answer). */
static void answer_and_close(struct kg_client *cl, struct relay_conn *c, const char *status,
			     const char *sentence)
{
	char page[PAGE_TEXT_MAX + 320];
	size_t n;

	if (!c->fwd->resp_started) {
		n = forward_error_page(page, sizeof(page), status, sentence);
		if (n > 0)
			relay_queue(&c->to_app, page, n);
	}
	relay_linger(cl, c);
}

static void fwd_fail(struct kg_client *cl, struct relay_conn *c, const char *sentence,
		     const char *detail)
{
	ipc_report_route(cl, c, &c->fwd->up, c->fwd->route_src, sentence);
	upstream_log_failure(cl, c, &c->fwd->up, sentence, detail);
	answer_and_close(cl, c, "502 Bad Gateway", sentence);
}

void forward_begin(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = calloc(1, sizeof(*f));

	if (!f) {
		relay_conn_close(cl, c, true);
		return;
	}
	c->fwd = f;
	upstream_init(&f->up, cl, c);
	c->state = CONN_FORWARD;
	relay_count_active(cl, c);
	relay_mark_ready(c);
}

/* The request's way out is known: its token, and the proxy connection (kept from the previous
 * request when it is still open). 1, or -errno when c failed. */
static int request_go(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	struct upstream *u = &f->up;

	f->req_state = REQ_WAIT;
	if (upstream_request_token(u) < 0) {
		fwd_fail(cl, c, u->error, NULL);
		return -ENOBUFS;
	}
	/* The proxy connection kept from a previous request may have been closed by the proxy. */
	if (!upstream_alive(u) && upstream_reconnect(u) < 0) {
		fwd_fail(cl, c, u->error, NULL);
		return -EHOSTUNREACH;
	}
	return 1;
}

/* The PAC's answer for the request waiting in REQ_ROUTE: 1 (go on), or -errno when c failed. */
static int route_ready(struct kg_client *cl, struct relay_conn *c, int status,
		       const struct kg_route *route, const char *why)
{
	struct http_forward *f = c->fwd;
	struct upstream *u = &f->up;
	struct kg_route direct = {.n = 1, .e = {{.kind = KG_ROUTE_DIRECT}}};
	char sentence[UPSTREAM_REASON_MAX], host[KG_HOST_MAX];

	f->pac_job = NULL;
	f->route_src = status < 0 ? IPC_ROUTE_PAC_FALLBACK : IPC_ROUTE_PAC;
	if (status < 0) {
		if (c->set->cfg.proxy.fallback != KG_FALLBACK_DIRECT) {
			snprintf(sentence, sizeof(sentence), "the PAC gave no route: %s", why);
			fwd_fail(cl, c, sentence, NULL);
			return -EHOSTUNREACH;
		}
		log_info_ratelimited("the PAC gave no route for %s (%s): DIRECT (proxy.fallback)",
				     u->host, why);
		route = &direct;
	} else if (why && why[0]) {
		log_info_ratelimited("PAC for %s: %s", u->host, why);
	}
	if (f->route && !kg_route_equal(f->route, route)) {
		/* Another way out than the previous request's: a fresh upstream. */
		snprintf(host, sizeof(host), "%s", u->host);
		upstream_close(u);
		upstream_cleanup(u);
		upstream_init(u, cl, c);
		snprintf(u->host, sizeof(u->host), "%s", host);
		free(f->route);
		f->route = NULL;
	}
	if (!f->route) {
		f->route = malloc(sizeof(*f->route));
		if (!f->route) {
			relay_conn_close(cl, c, true);
			return -ENOMEM;
		}
		*f->route = *route;
		upstream_set_route(u, f->route);
	}
	return request_go(cl, c);
}

static void on_route(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct relay_conn *c = ud;

	if (route_ready(c->fwd->up.cl, c, status, route, why) > 0)
		forward_step(c->fwd->up.cl, c);
}

/* FindProxyForURL gets the request's full URL: http://authority/path. */
static int ask_route(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	const char *base = (const char *)f->in.data + f->in.off;
	struct kg_route route;
	char *url;
	size_t cap;
	int r;

	cap = f->req.target.len + sizeof(f->authority) + 16;
	url = malloc(cap);
	if (!url) {
		relay_conn_close(cl, c, true);
		return -ENOMEM;
	}
	if (f->req.target_form == KG_TARGET_ABSOLUTE)
		snprintf(url, cap, "%.*s", (int)f->req.target.len, base + f->req.target.off);
	else
		snprintf(url, cap, "http://%s%.*s", f->authority, (int)f->req.target.len,
			 base + f->req.target.off);
	f->req_state = REQ_ROUTE;
	r = policy_find(cl, url, f->up.host, c->dst_ip, c->dst_port, &route, on_route, c,
			&f->pac_job);
	free(url);
	if (r == 1)
		return route_ready(cl, c, 0, &route, "");
	if (r < 0)
		return route_ready(cl, c, r, NULL, strerror(-r));
	return 0;
}

static int on_request_head(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	struct upstream *u = &f->up;
	const uint8_t *base = f->in.data + f->in.off;
	char host[KG_HOST_MAX];
	uint16_t port = 0;

	if (f->req.target_form == KG_TARGET_AUTHORITY) {
		answer_and_close(cl, c, "400 Bad Request", "CONNECT is not expected on port 80");
		return -EINVAL;
	}
	if (f->req.authority.len > 0 &&
	    kg_authority_parse((const char *)base + f->req.authority.off, f->req.authority.len,
			       host, sizeof(host), &port) == 0) {
		snprintf(u->host, sizeof(u->host), "%s", host);
	} else {
		kg_format_ip(c->dst_ip, u->host, sizeof(u->host));
		port = c->dst_port;
	}
	if (port && port != 80)
		snprintf(f->authority, sizeof(f->authority), "%s:%u", u->host, port);
	else
		snprintf(f->authority, sizeof(f->authority), "%s", u->host);

	f->req_keep_alive = kg_http_request_keep_alive(&f->req);
	f->req_framing = kg_http_request_framing(&f->req, &f->req_left);
	if (f->req_framing == KG_BODY_CHUNKED)
		kg_chunked_init(&f->req_chunk);
	if (policy_uses_pac(cl))
		return ask_route(cl, c);
	return request_go(cl, c);
}

static int read_request_head(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	int progress = 0, r;

	for (;;) {
		ssize_t n;

		if (f->in.len > 0) {
			r = kg_http_request_parse(f->in.data + f->in.off, f->in.len, &f->req);
			if (r == 0)
				return on_request_head(cl, c);
			if (r != -EAGAIN) {
				log_debug("bad request from an application on port 80: %s",
					  strerror(-r));
				answer_and_close(cl, c,
						 r == -E2BIG ? "431 Request Header Fields Too Large"
							     : "400 Bad Request",
						 "the request could not be parsed");
				return -EBADMSG;
			}
		}
		if (f->in.len >= FWD_IN_MAX) {
			answer_and_close(cl, c, "431 Request Header Fields Too Large",
					 "the request head is too large");
			return -E2BIG;
		}
		if (!(c->app.flags & SIDE_READABLE))
			return progress;
		n = relay_recv(&c->app, relay_scratch,
			       FWD_IN_MAX - f->in.len < RELAY_SCRATCH ? FWD_IN_MAX - f->in.len
								      : RELAY_SCRATCH);
		if (n == -EAGAIN)
			return progress;
		if (n <= 0) {
			/* The application is done (between requests: a normal end). */
			relay_conn_close(cl, c, false);
			return -ECONNRESET;
		}
		if (relay_queue(&f->in, relay_scratch, (size_t)n) < 0) {
			relay_conn_close(cl, c, true);
			return -ENOMEM;
		}
		progress = 1;
	}
}

/* How many of n body bytes belong to the current message; *done when it ended. */
static int take_body(enum kg_body_framing fr, uint64_t *left, struct kg_chunked *ch,
		     const uint8_t *p, size_t n, size_t *take, bool *done)
{
	int r;

	*done = false;
	switch (fr) {
	case KG_BODY_LENGTH:
		*take = n < *left ? n : (size_t)*left;
		*left -= *take;
		*done = *left == 0;
		return 0;
	case KG_BODY_CHUNKED:
		r = kg_chunked_feed(ch, p, n, take);
		if (r < 0)
			return r;
		*done = r == 1;
		return 0;
	case KG_BODY_UNTIL_CLOSE:
		*take = n;
		return 0;
	default:
		*take = 0;
		*done = true;
		return 0;
	}
}

/* Read body bytes into relay_scratch, never past a Content-Length. */
static ssize_t recv_body(struct relay_side *s, enum kg_body_framing fr, uint64_t left)
{
	size_t cap = RELAY_SCRATCH;

	if (fr == KG_BODY_LENGTH && left < cap)
		cap = (size_t)left;
	return relay_recv(s, relay_scratch, cap);
}

static int request_body_from(struct kg_client *cl, struct relay_conn *c, const uint8_t *p, size_t n,
			     size_t *used)
{
	struct http_forward *f = c->fwd;
	bool done;
	int r;

	r = take_body(f->req_framing, &f->req_left, &f->req_chunk, p, n, used, &done);
	if (r < 0)
		return r;
	if (done)
		f->req_state = REQ_DONE;
	return relay_send(&c->proxy, &c->to_proxy, p, *used);
}

static int send_request(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	size_t used;
	int r;

	r = upstream_send_request(&f->up, f->in.data + f->in.off, &f->req, f->authority);
	if (r < 0)
		return r;
	relay_buf_consume(&f->in, f->req.head_len);
	f->req_state = f->req_framing == KG_BODY_NONE ? REQ_DONE : REQ_BODY;
	f->resp_state = RESP_HEAD;
	f->resp_started = false;
	if (f->req_state == REQ_BODY && f->in.len > 0) {
		r = request_body_from(cl, c, f->in.data + f->in.off, f->in.len, &used);
		if (r < 0)
			return r;
		relay_buf_consume(&f->in, used);
	}
	relay_set_timer(cl, c, upstream_request_deadline(&f->up));
	return 1;
}

static int pump_request_body(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	int progress = 0, r;

	while (f->req_state == REQ_BODY && c->to_proxy.len == 0 && (c->app.flags & SIDE_READABLE)) {
		size_t used;
		ssize_t n = recv_body(&c->app, f->req_framing, f->req_left);

		if (n == -EAGAIN)
			break;
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
		r = request_body_from(cl, c, relay_scratch, (size_t)n, &used);
		if (r < 0)
			return r;
		/* A pipelined next request: kept until this exchange is over. */
		if (used < (size_t)n &&
		    relay_queue(&f->in, relay_scratch + used, (size_t)n - used) < 0)
			return -ENOMEM;
		progress = 1;
	}
	return progress;
}

static void response_done(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;

	f->resp_state = RESP_NONE;
	if (!f->proxy_keep_alive)
		upstream_close(&f->up);
	if (f->resp_framing == KG_BODY_UNTIL_CLOSE || !f->req_keep_alive || f->retired ||
	    f->req_state != REQ_DONE) {
		relay_linger(cl, c);
		return;
	}
	f->req_state = REQ_HEAD;
	f->kept_alive = true;
	relay_mark_ready(c);
}

/* Response body bytes p[0..n) from the proxy. */
static int response_body_from(struct kg_client *cl, struct relay_conn *c, const uint8_t *p,
			      size_t n)
{
	struct http_forward *f = c->fwd;
	size_t used;
	bool done;
	int r;

	r = take_body(f->resp_framing, &f->resp_left, &f->resp_chunk, p, n, &used, &done);
	if (r < 0)
		return r;
	r = relay_send(&c->app, &c->to_app, p, used);
	if (r < 0)
		return r;
	if (used < n)
		f->proxy_keep_alive = false; /* bytes past the response: do not trust the rest */
	if (done)
		response_done(cl, c);
	return 0;
}

static int switch_protocols(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	int r = 0;

	if (f->in.len > 0)
		r = relay_send(&c->proxy, &c->to_proxy, f->in.data + f->in.off, f->in.len);
	if (r < 0)
		return r;
	forward_free(f);
	c->fwd = NULL;
	relay_start(cl, c);
	return 0;
}

/* resp is peeked into relay_scratch; its head is still in the proxy socket. */
static int on_response_head(struct kg_client *cl, struct relay_conn *c,
			    const struct kg_http_response *resp)
{
	struct http_forward *f = c->fwd;
	char why[UPSTREAM_REASON_MAX];
	int r;

	/* A 407 is the proxy's; an origin reached by a DIRECT entry gets no say in it. */
	if (resp->status == 407 && upstream_wants_token(&f->up)) {
		upstream_auth_reason(&f->up, resp, relay_scratch, why, sizeof(why));
		if (!why[0])
			snprintf(why, sizeof(why), "%s",
				 "the proxy asked for a second authentication round, which plain "
				 "HTTP forwarding does not do");
		fwd_fail(cl, c, why, NULL);
		return -EACCES;
	}
	if (resp->status >= 200 && resp->status < 300 &&
	    upstream_mutual(&f->up, resp, relay_scratch, why, sizeof(why)) < 0) {
		fwd_fail(cl, c, why, NULL);
		return -EACCES;
	}
	/* The request's answer starts: its route, once per request. */
	if (!f->resp_started)
		ipc_report_route(cl, c, &f->up, f->route_src, NULL);
	r = relay_send(&c->app, &c->to_app, relay_scratch, resp->head_len);
	if (r == 0)
		r = upstream_consume(&f->up, resp->head_len);
	if (r < 0)
		return r;
	f->resp_started = true;
	if (resp->status == 101)
		return switch_protocols(cl, c);
	if (resp->status < 200)
		return 1; /* 100 Continue and friends: the final answer follows */
	relay_set_timer(cl, c, 0);
	f->resp_framing = kg_http_response_framing(resp, false, f->req.method_head, &f->resp_left);
	if (f->resp_framing == KG_BODY_CHUNKED)
		kg_chunked_init(&f->resp_chunk);
	f->proxy_keep_alive =
	    kg_http_response_keep_alive(resp) && f->resp_framing != KG_BODY_UNTIL_CLOSE;
	f->resp_state = RESP_BODY;
	if (f->resp_framing == KG_BODY_NONE)
		response_done(cl, c);
	return 1;
}

static int read_response_head(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	struct kg_http_response resp;
	int r, progress = 0;

	while (f->resp_state == RESP_HEAD && !c->dead && (c->proxy.flags & SIDE_READABLE)) {
		r = upstream_peek_response(&f->up, &resp);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			fwd_fail(cl, c, upstream_read_error(&f->up, r), NULL);
			return r;
		}
		r = on_response_head(cl, c, &resp);
		if (r < 0 || c->dead || !c->fwd || c->state != CONN_FORWARD)
			return r < 0 ? r : 1;
		progress = 1;
	}
	return progress;
}

static int pump_response_body(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	int progress = 0, r;

	while (c->fwd && f->resp_state == RESP_BODY && c->to_app.len == 0 &&
	       (c->proxy.flags & SIDE_READABLE) && !c->dead) {
		ssize_t n = recv_body(&c->proxy, f->resp_framing, f->resp_left);

		if (n == -EAGAIN)
			break;
		if (n == 0 && f->resp_framing == KG_BODY_UNTIL_CLOSE) {
			response_done(cl, c);
			return 1;
		}
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
		r = response_body_from(cl, c, relay_scratch, (size_t)n);
		if (r < 0)
			return r;
		progress = 1;
	}
	return progress;
}

void forward_step(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	struct upstream *u = &f->up;
	int i, r, progress;

	for (i = 0; i < FWD_STEPS; i++) {
		if (c->dead || c->state != CONN_FORWARD)
			return;
		progress = 0;
		r = relay_flush(&c->app, &c->to_app);
		if (r < 0) {
			relay_conn_close(cl, c, false);
			return;
		}
		if (c->proxy.fd >= 0 && !u->connected) {
			r = upstream_poll(u);
			if (r < 0) {
				fwd_fail(cl, c, u->error, NULL);
				return;
			}
			progress |= r;
		}
		if (c->proxy.fd >= 0 && u->connected && relay_flush(&c->proxy, &c->to_proxy) < 0) {
			if (f->resp_state == RESP_BODY)
				relay_conn_close(cl, c, true);
			else if (upstream_tls_failure(u))
				fwd_fail(cl, c, upstream_tls_failure(u), NULL);
			else
				fwd_fail(cl, c, "the proxy closed the connection", NULL);
			return;
		}
		switch (f->req_state) {
		case REQ_HEAD:
			if (f->resp_state == RESP_NONE)
				r = read_request_head(cl, c);
			else
				r = 0;
			break;
		case REQ_WAIT:
			r = u->token_ready && u->connected ? send_request(cl, c) : 0;
			break;
		case REQ_BODY:
			r = pump_request_body(cl, c);
			break;
		default:
			r = 0;
		}
		if (c->dead || c->state != CONN_FORWARD)
			return;
		if (r < 0) {
			if (f->resp_started)
				relay_conn_close(cl, c, true);
			else if (upstream_tls_failure(u))
				fwd_fail(cl, c, upstream_tls_failure(u), NULL);
			else
				fwd_fail(cl, c, "the request could not be forwarded", strerror(-r));
			return;
		}
		progress |= r;
		if (f->resp_state == RESP_HEAD &&
		    (f->req_state == REQ_BODY || f->req_state == REQ_DONE))
			r = read_response_head(cl, c);
		else if (f->resp_state == RESP_BODY)
			r = pump_response_body(cl, c);
		else
			r = 0;
		if (c->dead || c->state != CONN_FORWARD)
			return;
		if (r < 0) {
			relay_conn_close(cl, c, true);
			return;
		}
		progress |= r;
		if (!progress)
			return;
	}
	relay_mark_ready(c);
}

void forward_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;
	struct upstream *u = &f->up;
	char why[UPSTREAM_REASON_MAX], url[KG_URL_MAX];

	if (f->req_state == REQ_WAIT && !u->connected) {
		if (upstream_connect_timer(u) < 0)
			fwd_fail(cl, c, u->error, NULL);
		return;
	}
	if (f->req_state == REQ_WAIT && !u->token_ready) {
		upstream_token_overdue(u);
		fwd_fail(cl, c, u->error, NULL);
		return;
	}
	if (f->resp_state == RESP_HEAD)
		fwd_fail(cl, c, upstream_no_answer(u, why, sizeof(why)),
			 upstream_peer(u, url, sizeof(url)));
}

void forward_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job)
{
	upstream_take_token(&c->fwd->up, job);
	forward_step(cl, c);
}

/* A keep-alive connection between two requests is closed (the application connects again, as
 * it does when any server closes an idle connection); any other ends after its current (or
 * first) exchange, which still goes the way of its accept. Either way no request goes out
 * after that under settings that are no longer the service's. */
static void retire(struct kg_client *cl, struct relay_conn *c)
{
	struct http_forward *f = c->fwd;

	if (f->kept_alive && f->req_state == REQ_HEAD && f->resp_state == RESP_NONE)
		relay_conn_close(cl, c, false);
	else
		f->retired = true;
}

void forward_retire_stale(struct kg_client *cl)
{
	struct relay_conn *c, *next;

	for (c = cl->conns; c; c = next) {
		next = c->next;
		if (c->state == CONN_FORWARD && c->fwd &&
		    !client_settings_same_upstream(c->set, cl->set))
			retire(cl, c);
	}
}

static void forward_conn_free(struct relay_conn *c)
{
	forward_free(c->fwd);
	c->fwd = NULL;
}

const struct conn_ops forward_conn_ops = {
    .start = forward_begin,
    .on_app = forward_step,
    .on_upstream = forward_step,
    .on_timer = forward_on_timer,
    .on_auth = forward_on_auth,
    .free = forward_conn_free,
};
