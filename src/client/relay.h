/* One steered connection and the primitives that move its bytes.
 *
 * A relay_conn pairs the application's socket (accepted from our listener) with a socket to
 * the proxy (or, for proxy.type none, to the original destination). Sockets are non-blocking
 * and registered once, edge-triggered, for both directions; READABLE/WRITABLE remember what
 * the kernel last said so backpressure needs no epoll_ctl calls: a side that cannot be
 * written simply stops the other side from being read until it drains.
 *
 * Memory: once a tunnel is open, bytes move through one process-wide pipe with splice(2)
 * (set-up and port-80 forwarding read into one process-wide scratch buffer instead) and are
 * written straight through; only what the peer could not take is copied into a per-direction
 * buffer, which is freed as soon as it drains. An idle tunnel therefore holds no buffers at
 * all, only this struct.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/client.h"

struct auth_job;

#define RELAY_SCRATCH	   (64 * 1024)	/* one read; also the cap of a direction's backlog */
#define RELAY_BUF_HARD_MAX (200 * 1024) /* queued control data (heads + tokens) at most */
#define RELAY_ROUNDS	   16		/* reads per direction per wakeup before yielding */
/* A read the peer could not take at all is queued whole: it must fit under the hard cap, or
 * relay_queue() refuses it and the connection is cut short. */
_Static_assert(RELAY_SCRATCH <= RELAY_BUF_HARD_MAX, "one read must fit in a direction's backlog");

enum {
	SIDE_READABLE = 1u << 0,
	SIDE_WRITABLE = 1u << 1,
	SIDE_EOF = 1u << 2,	/* read returned 0 */
	SIDE_SHUT_WR = 1u << 3, /* we sent FIN */
};

struct relay_side {
	struct src src;
	uint8_t flags;
	int fd;
};

/* Bytes waiting to be written to one side. data == NULL when empty. */
struct relay_buf {
	uint8_t *data;
	uint32_t off, len, cap;
};

enum conn_state {
	CONN_SNIFF,	 /* waiting for the first bytes to name the destination (the proxy
			  * connect and the token are under way meanwhile) */
	CONN_CONNECTING, /* TCP connect to the proxy (and the token from the worker) */
	CONN_PROXY_HEAD, /* CONNECT sent, reading the answer */
	CONN_RELAY,	 /* bytes flow both ways */
	CONN_FORWARD,	 /* port 80 through the proxy: request by request (forward.c) */
	CONN_LINGER,	 /* an error page was sent: wait for the app's FIN, then close */
};

struct tunnel_setup;
struct http_forward;
struct client_settings;

struct relay_conn {
	struct relay_side app, proxy;
	struct relay_buf to_app, to_proxy;
	struct relay_conn *prev, *next; /* kg_client.conns */
	struct relay_conn *ready_next;	/* more work without a new event */
	struct tunnel_setup *setup;	/* until the tunnel is open */
	struct http_forward *fwd;	/* port 80 through the proxy */
	struct client_settings *set;	/* the way out, fixed at accept (a reference) */
	uint64_t deadline;		/* monotonic usec, 0: none */
	uint32_t heap_idx;
	uint8_t dst_ip[16]; /* original destination, v4-mapped for IPv4 */
	uint16_t dst_port;
	uint8_t state;
	bool dead, ready, counted_active;
};

/* Primitives used by tunnel.c and forward.c (pump.c). */
extern uint8_t relay_scratch[RELAY_SCRATCH];

/* The splice pipe: without one (it cannot be made) bytes are copied. */
void relay_pump_init(void);
void relay_pump_cleanup(void);

/* recv into p: > 0 bytes, 0 EOF (SIDE_EOF set), -EAGAIN (SIDE_READABLE cleared), -errno. */
ssize_t relay_recv(struct relay_side *s, void *p, size_t n);
/* Append to b (grown up to RELAY_BUF_HARD_MAX). 0, -ENOBUFS or -ENOMEM. */
int relay_queue(struct relay_buf *b, const void *p, size_t n);
void relay_buf_free(struct relay_buf *b);
void relay_buf_consume(struct relay_buf *b, size_t n);
/* Write b to s: 0 all written (b freed), 1 some left (s not writable now), -errno. */
int relay_flush(struct relay_side *s, struct relay_buf *b);
/* Write p straight to s when b is empty; whatever s does not take is queued in b. */
int relay_send(struct relay_side *s, struct relay_buf *b, const void *p, size_t n);
/* Move bytes src -> dst through b until blocked or RELAY_ROUNDS; FIN forwarded once b is
 * empty. 0 or -errno. */
int relay_pump(struct relay_conn *c, struct relay_side *src, struct relay_side *dst,
	       struct relay_buf *b);

/* relay.c */
/* A connection accepted for the steered destination dst_ip (v4-mapped) : dst_port, under the
 * current settings; takes fd (closed on failure). */
void relay_conn_open(struct kg_client *cl, int fd, const uint8_t dst_ip[16], uint16_t dst_port);
int relay_side_open(struct kg_client *cl, struct relay_conn *c, struct relay_side *s, int fd);
void relay_side_close(struct kg_client *cl, struct relay_side *s);
void relay_set_timer(struct kg_client *cl, struct relay_conn *c, uint64_t deadline);
void relay_mark_ready(struct relay_conn *c);
/* Close both sides and free c at the end of this loop pass; failed counts it as a failure. */
void relay_conn_close(struct kg_client *cl, struct relay_conn *c, bool failed);
/* The Kerberos worker's answer for the connection job->owner (an authq_done_fn). */
void relay_conn_on_auth(struct kg_client *cl, struct auth_job *job);
/* Count c among the active tunnels (once; relay_conn_close uncounts it). */
void relay_count_active(struct kg_client *cl, struct relay_conn *c);
/* Switch to plain byte relaying (tunnel open). */
void relay_start(struct kg_client *cl, struct relay_conn *c);
/* Send what is queued for the app, then FIN, then close once the app closes (or 2 s). */
void relay_linger(struct kg_client *cl, struct relay_conn *c);
