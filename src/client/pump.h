/* The byte layer of the relay: reads, per-direction backlogs, and moves from one socket to
 * another.
 *
 * Sockets are non-blocking and registered once, edge-triggered, for both directions;
 * SIDE_READABLE/SIDE_WRITABLE remember what the kernel last said so backpressure needs no
 * epoll_ctl calls: a side that cannot be written simply stops the other side from being read
 * until it drains.
 *
 * Memory: bytes move through a process-wide pipe with splice(2) (set-up and port-80
 * forwarding read into one process-wide scratch buffer instead) and are written straight
 * through; only what the peer could not take is kept: up to one read copied into a
 * per-direction buffer, which is freed as soon as it drains, or more left in the pipe, which
 * that direction holds until it drains (spare pipes serve the others meanwhile). An idle
 * tunnel therefore holds no buffers at all. A TLS side (an https proxy, below) is read and
 * written through its session instead, never spliced.
 *
 * Nothing here calls up into the connection layer: pump_move() says "more work" by its result
 * and the caller decides what to do about it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/loop.h"

#define RELAY_SCRATCH	   (64 * 1024)	 /* one read; also the cap of a direction's backlog */
#define RELAY_BUF_HARD_MAX (200 * 1024)	 /* queued control data (heads + tokens) at most */
#define RELAY_ROUNDS	   16		 /* reads per direction per wakeup before yielding */
#define RELAY_PIPE_BYTES   (1024 * 1024) /* a splice pipe, and so one splice, at most */
#define RELAY_PIPES	   4		 /* splice pipes at most: one, and spares for contention */
/* A read the peer could not take at all is queued whole: it must fit under the hard cap, or
 * relay_queue() refuses it and the connection is cut short. */
_Static_assert(RELAY_SCRATCH <= RELAY_BUF_HARD_MAX, "one read must fit in a direction's backlog");

enum {
	SIDE_READABLE = 1u << 0,
	SIDE_WRITABLE = 1u << 1,
	SIDE_EOF = 1u << 2,	/* read returned 0 */
	SIDE_SHUT_WR = 1u << 3, /* we sent FIN */
	SIDE_TLS = 1u << 4,	/* bytes go through a proxy_tls session (relay_side_set_tls) */
};

/* One socket of a connection; src is how the loop reports its events (conn.c). */
struct relay_side {
	struct kg_loop_source src;
	uint8_t flags;
	int fd;
};

/* Bytes waiting to be written to one side. data == NULL when empty. */
struct relay_buf {
	uint8_t *data;
	uint32_t off, len, cap;
};

/* The process-wide read buffer (set-up, port-80 forwarding, copying). */
extern uint8_t relay_scratch[RELAY_SCRATCH];

/* The splice pipe: without one (it cannot be made, or use_splice is false: tests) bytes are
 * copied through relay_scratch. */
void pump_init(bool use_splice);
void pump_cleanup(void);
/* Whether moves go through the splice pipe now. */
bool pump_splicing(void);

/* TLS sides (an https proxy). The pump knows no TLS library: a side may carry a byte stream
 * layered on its socket, given as an opaque session and the functions below (upstream_tls.c
 * gives proxy_tls's). The session and its bytes read but not yet taken live in a table by fd
 * here, not in the side: an idle tunnel's struct stays the size it was. A TLS side never
 * splices; its reads and writes below go through the session, with the same results (and
 * SIDE_ flags) as a socket's: a read or write that waits for the other direction of the socket
 * clears that direction's flag, so the next edge of it retries; a write that returned -EAGAIN
 * is retried from the backlog with the same bytes; the peer's clean end (or a TCP end without
 * it) is the end of stream; FIN towards the peer is the session's shutdown first. */
struct relay_tls_ops {
	/* > 0 bytes, 0 clean end, -EAGAIN (wants_write says for what), -EPIPE the peer ended
	 * without a clean end, -errno. */
	ssize_t (*read)(void *t, void *p, size_t n);
	/* > 0 written, -EAGAIN (retry with the same bytes), -errno. */
	ssize_t (*write)(void *t, const void *p, size_t n);
	/* Our clean end: 0 sent, -EAGAIN call again, -errno. */
	int (*shutdown)(void *t);
	/* What the last -EAGAIN waits for: the socket writable (true) or readable. */
	bool (*wants_write)(const void *t);
	/* Bytes decrypted and waiting in the session (no socket event will announce them). */
	bool (*pending)(const void *t);
	/* The last read returned bytes and then found the socket empty: another read would
	 * return -EAGAIN (wants_write says for what), so the side waits for its next edge now. */
	bool (*starved)(const void *t);
	void (*free)(void *t);
};
/* A TLS side's read takes at most this much. Its bytes go to the application's socket in
 * one write, and that socket is a local one (loopback: MSS 65483 with IPv4 and timestamps,
 * 65464 with IPv6, once the window is open): a whole RELAY_SCRATCH went out as a full segment
 * and a 53-byte one, twice the packets for the relay to send and the application to take. */
#define RELAY_TLS_READ_MAX (RELAY_SCRATCH - 128)
/* Takes t (freed with the side by relay_side_drop_tls(), which relay_side_close() calls).
 * 0 or -ENOMEM (t not taken). */
int relay_side_set_tls(struct relay_side *s, const struct relay_tls_ops *ops, void *t);
/* The session of a TLS side, NULL for a plain one. */
void *relay_side_tls(const struct relay_side *s);
void relay_side_drop_tls(struct relay_side *s);
/* A TLS side's answer head, which cannot be peeked in the kernel: read through the session
 * into the side's buffer (at most cap bytes held) and copied to p. Bytes held (> 0, all of
 * them, complete or not; *ended: the proxy's stream ended after them), 0 the proxy ended with
 * nothing held, -EAGAIN nothing held yet, -errno. */
ssize_t relay_tls_peek(struct relay_side *s, void *p, size_t cap, bool *ended);
/* Drop n held bytes (the head); the rest is what the next reads return first. 0 or -EPIPE. */
int relay_tls_consume(struct relay_side *s, size_t n);
/* Bytes held or decrypted and waiting in the session: no socket event will announce them. */
bool relay_tls_pending(const struct relay_side *s);

/* recv into p: > 0 bytes, 0 EOF (SIDE_EOF set), -EAGAIN (SIDE_READABLE cleared), -errno. */
ssize_t relay_recv(struct relay_side *s, void *p, size_t n);
/* Append to b (grown up to RELAY_BUF_HARD_MAX). 0, -ENOBUFS or -ENOMEM. */
int relay_queue(struct relay_buf *b, const void *p, size_t n);
/* Frees b's bytes, and drops what waits for b in a splice pipe. */
void relay_buf_free(struct relay_buf *b);
void relay_buf_consume(struct relay_buf *b, size_t n);
/* Write b to s, after what waits for b in a splice pipe: 0 all written (b freed), 1 some left
 * (s not writable now), -errno. */
int relay_flush(struct relay_side *s, struct relay_buf *b);
/* Write p straight to s when b is empty; whatever s does not take is queued in b. */
int relay_send(struct relay_side *s, struct relay_buf *b, const void *p, size_t n);
/* Move bytes src -> dst through b until blocked, RELAY_ROUNDS reads or RELAY_ROUNDS *
 * RELAY_SCRATCH bytes; FIN forwarded once b (and its pipe) is empty. 0 done for now, 1 stopped
 * at one of those limits with src maybe still readable (the caller schedules another move),
 * -errno. */
int pump_move(struct relay_side *src, struct relay_side *dst, struct relay_buf *b);
