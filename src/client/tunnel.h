/* Opening the way out for one connection: naming the destination, the TCP connection to the
 * proxy (or to the destination for proxy.type none) within connection_timeout and
 * max_retries (tunnel_connect.c), the CONNECT exchange with Negotiate, and the user-facing
 * sentence when any of it fails. forward.c reuses the connect and token parts for port 80.
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

#define TUNNEL_TARGET_MAX (KG_HOST_MAX + 8) /* "host:port" */
#define TUNNEL_REASON_MAX 400

struct auth_job;

/* Lives while a connection is being set up; on port 80 for the connection's lifetime. */
struct tunnel_setup {
	char host[KG_HOST_MAX];		/* destination name: sniffed, or the IP literal */
	char target[TUNNEL_TARGET_MAX]; /* "host:port" for CONNECT and log lines */
	bool named;			/* host is final */
	uint64_t sniff_deadline;	/* end of the first-byte wait, while not named */
	bool connected;			/* TCP to the proxy is up */
	bool to_proxy;			/* the socket goes to c->set's proxy: only then may
					 * Proxy-Authorization be written to it */
	bool failed;			/* error says why; reported once named */
	struct auth_job *job;		/* token being made by the worker */
	struct negotiate_ctx *neg;
	char *token;	  /* base64 to send, NULL: none */
	bool token_ready; /* job done (token or auth_failed) */
	bool auth_failed; /* no token: fail with auth_reason if the proxy asks */
	char auth_reason[TUNNEL_REASON_MAX];
	char error[TUNNEL_REASON_MAX]; /* why the connect failed */
	unsigned rounds;	       /* CONNECTs sent on this tunnel */
	unsigned attempts;	       /* connects started */
	uint64_t connect_deadline;     /* end of connection_timeout */
	uint64_t retry_at;	       /* backoff before the next connect, 0: none */
	uint64_t discard;	       /* 407 body bytes still to drop */
	uint64_t token_deadline;       /* connected, token pending: give up on the KDC then */
};

/* After SO_ORIGINAL_DST: name the destination (maybe waiting for the first bytes). */
void tunnel_accepted(struct kg_client *cl, struct relay_conn *c);
/* The set-up states' table (conn.h); its start is tunnel_accepted(). */
extern const struct conn_ops tunnel_conn_ops;
/* Events for connections that are not relaying yet. */
void tunnel_on_app(struct kg_client *cl, struct relay_conn *c);
void tunnel_on_proxy(struct kg_client *cl, struct relay_conn *c);
void tunnel_on_timer(struct kg_client *cl, struct relay_conn *c);
/* A token job finished; takes ownership of job. */
void tunnel_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job);
void tunnel_setup_free(struct tunnel_setup *t);

/* Shared with forward.c. */
/* Monotonic usec request_timeout from now: the proxy's answer, or the token, is due then. */
uint64_t tunnel_request_deadline(const struct relay_conn *c);
/* tunnel_connect.c */
/* Start (or restart) the proxy connection within connection_timeout. 0, or -errno when no
 * attempt can be made any more (t->error says why). */
int tunnel_connect_start(struct kg_client *cl, struct relay_conn *c);
/* Drop the proxy connection and start a fresh one with a new connection_timeout and
 * max_retries. Same returns as tunnel_connect_start(). */
int tunnel_connect_restart(struct kg_client *cl, struct relay_conn *c);
/* 1 connected, 0 still connecting or waiting to retry, -errno failed for good (t->error). */
int tunnel_connect_poll(struct kg_client *cl, struct relay_conn *c);
/* Deadline work: a due retry or the end of connection_timeout. Same returns. */
int tunnel_connect_timer(struct kg_client *cl, struct relay_conn *c);
/* Ask the worker for a token (t->token_ready once it is back). 0 or -ENOBUFS. The wait is
 * bounded by request_timeout from when the proxy connection is up (t->token_deadline). */
int tunnel_request_token(struct kg_client *cl, struct relay_conn *c);
/* The token is overdue (t->token_deadline): put the KDC sentence in t->error. */
void tunnel_token_overdue(struct relay_conn *c);
/* Take a finished job's result into t. */
void tunnel_take_token(struct tunnel_setup *t, struct auth_job *job);
/* The sentence for a 407 (given what we sent), or "" when a continuation token is ready. */
void tunnel_auth_reason(struct tunnel_setup *t, const struct kg_http_response *r,
			const uint8_t *head, char *buf, size_t len);
/* Peek at the proxy's response head (into relay_scratch, which the spans then refer to).
 * 0: complete, still in the socket (tunnel_consume() its head_len); -EAGAIN: incomplete, wait
 * for more; -EPIPE: closed; -E2BIG, -EBADMSG, -errno. */
int tunnel_peek_response(struct relay_side *s, struct kg_http_response *resp);
int tunnel_consume(struct relay_side *s, size_t n);
/* The sentence for a request_timeout without the proxy's answer, written into buf. */
const char *tunnel_no_answer(const struct relay_conn *c, char *buf, size_t len);
/* The sentence for a tunnel_peek_response() failure. */
const char *tunnel_head_error(int r);
/* A 2xx carrying the proxy's final token: verify it. 0, or -errno with the sentence in buf. */
int tunnel_mutual(struct tunnel_setup *t, const struct kg_http_response *r, const uint8_t *head,
		  char *buf, size_t len);
/* Log a failure for the user, with the journal fields, and count it. */
void tunnel_log_failure(struct kg_client *cl, struct relay_conn *c, const char *sentence,
			const char *detail);
