/* One steered connection: its two sockets, its state, its timer, and the pool they live in.
 *
 * A relay_conn pairs the application's socket (accepted from our listener) with a socket to
 * the proxy (or, for proxy.type none, to the original destination). What happens on an event
 * depends on the state, through c->ops: tunnel.c (setting up a CONNECT tunnel) and forward.c
 * (port 80 request by request) each define a table, and conn.c the two states it runs itself:
 * relay (bytes flow both ways through pump.h) and linger (an answer was queued for the
 * application: send it, FIN, wait for the application to close or 2 s). conn.c names no
 * function of tunnel.c or forward.c; which table a new connection starts with is the way_out
 * function given to conn_init().
 *
 * Connections are freed only at the end of a loop pass (loop.h): an event already fetched for
 * a closed connection finds it marked dead.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "client/loop.h"
#include "client/pump.h"

struct auth_job;
struct relay_conn;

enum conn_state {
	CONN_SNIFF,	 /* waiting for the first bytes to name the destination (the proxy
			  * connect and the token are under way meanwhile) */
	CONN_CONNECTING, /* TCP connect to the proxy (and the token from the worker) */
	CONN_PROXY_HEAD, /* CONNECT sent, reading the answer */
	CONN_RELAY,	 /* bytes flow both ways */
	CONN_FORWARD,	 /* port 80 through the proxy: request by request (forward.c) */
	CONN_LINGER,	 /* an error page was sent: wait for the app's FIN, then close */
};

/* What a state does. start: the first step of a new connection (the way_out tables only).
 * on_app/on_upstream: an event on that socket, or (on_app) more work from the ready list.
 * on_timer: c's timer expired. on_auth: the Kerberos worker's answer for c (the table then
 * owns job). free: release what the table's module hung on c (setup, fwd) at close. */
struct conn_ops {
	void (*start)(struct kg_client *cl, struct relay_conn *c);
	void (*on_app)(struct kg_client *cl, struct relay_conn *c);
	void (*on_upstream)(struct kg_client *cl, struct relay_conn *c);
	void (*on_timer)(struct kg_client *cl, struct relay_conn *c);
	void (*on_auth)(struct kg_client *cl, struct relay_conn *c, struct auth_job *job);
	void (*free)(struct relay_conn *c);
};

struct tunnel_setup;
struct http_forward;
struct client_settings;

struct relay_conn {
	struct relay_side app, proxy;
	struct relay_buf to_app, to_proxy;
	struct relay_conn *prev, *next; /* kg_client.conns */
	struct kg_loop_timer timer;
	struct kg_loop_ready ready; /* more work without a new event */
	/* What the starting table's module hangs on c: one or the other, never both. */
	union {
		struct tunnel_setup *setup; /* until the tunnel is open */
		struct http_forward *fwd;   /* port 80 through the proxy */
	};
	struct client_settings *set; /* the way out, fixed at accept (a reference) */
	uint8_t dst_ip[16];	     /* original destination, v4-mapped for IPv4 */
	uint16_t dst_port;
	uint8_t state;
	uint8_t ops;   /* the current state's table (conn.c's index: conn_ops_of()) */
	uint8_t owner; /* the table c started with (conn.c's index): setup and fwd are its
			* module's (free, on_auth) in every later state; 0 none */
	bool dead, counted_active;
};
/* Every idle tunnel is one of these: its size is the relay's memory per idle tunnel. */
_Static_assert(sizeof(struct relay_conn) <= 152, "struct relay_conn grew: see make bench");

#define CONN_LINGER_USEC 2000000ull

/* The table of c's current state. */
const struct conn_ops *conn_ops_of(const struct relay_conn *c);
/* way_out chooses the table a new connection starts with (its start runs at once). */
void conn_init(struct kg_client *cl,
	       const struct conn_ops *(*way_out)(struct kg_client *cl, const struct relay_conn *c));
/* Closes every connection (the pool itself is kept for the process's life). */
void conn_close_all(struct kg_client *cl);

/* A connection accepted for the steered destination dst_ip (v4-mapped) : dst_port, under the
 * current settings; takes fd (closed on failure). */
void relay_conn_open(struct kg_client *cl, int fd, const uint8_t dst_ip[16], uint16_t dst_port);
int relay_side_open(struct kg_client *cl, struct relay_conn *c, struct relay_side *s, int fd);
void relay_side_close(struct kg_client *cl, struct relay_side *s);
/* c's timer at deadline (monotonic usec, the loop's clock), 0: none. */
void relay_set_timer(struct kg_client *cl, struct relay_conn *c, uint64_t deadline);
void relay_mark_ready(struct relay_conn *c);
/* Close both sides and free c at the end of this loop pass; failed counts it as a failure. */
void relay_conn_close(struct kg_client *cl, struct relay_conn *c, bool failed);
/* The Kerberos worker's answer for the connection job->owner (an authq_done_fn). */
void relay_conn_on_auth(void *ctx, struct auth_job *job);
/* Count c among the active tunnels (once; relay_conn_close uncounts it). */
void relay_count_active(struct kg_client *cl, struct relay_conn *c);
/* Switch to plain byte relaying (tunnel open): frees c->setup through its owner's table. */
void relay_start(struct kg_client *cl, struct relay_conn *c);
/* Send what is queued for the app, then FIN, then close once the app closes (or 2 s). */
void relay_linger(struct kg_client *cl, struct relay_conn *c);
