/* The byte layer of the relay (see pump.h): reads, per-direction backlogs, and the moves
 * from one side to the other, with splice(2) through one process-wide pipe when there is one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/pump.h"
#include "shared/log.h"

uint8_t relay_scratch[RELAY_SCRATCH];

/* The TLS sides, by fd: the session and the bytes read through it but not taken yet (an
 * answer head read in full, and what came after it). */
struct tls_slot {
	const struct relay_tls_ops *ops;
	void *t;
	struct relay_buf held;
	bool ended; /* the proxy's stream ended after held */
};
static struct tls_slot *tls_slots;
static size_t n_tls_slots;

static struct tls_slot *slot_of(const struct relay_side *s)
{
	if (!(s->flags & SIDE_TLS) || s->fd < 0 || (size_t)s->fd >= n_tls_slots)
		return NULL;
	return &tls_slots[s->fd];
}

int relay_side_set_tls(struct relay_side *s, const struct relay_tls_ops *ops, void *t)
{
	if (s->fd < 0)
		return -EBADF;
	if ((size_t)s->fd >= n_tls_slots) {
		size_t n = (size_t)s->fd * 2 + 16;
		struct tls_slot *a = realloc(tls_slots, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		memset(a + n_tls_slots, 0, (n - n_tls_slots) * sizeof(*a));
		tls_slots = a;
		n_tls_slots = n;
	}
	tls_slots[s->fd] = (struct tls_slot){.ops = ops, .t = t};
	s->flags |= SIDE_TLS;
	return 0;
}

void *relay_side_tls(const struct relay_side *s)
{
	struct tls_slot *slot = slot_of(s);

	return slot ? slot->t : NULL;
}

void relay_side_drop_tls(struct relay_side *s)
{
	struct tls_slot *slot = slot_of(s);

	if (!slot)
		return;
	slot->ops->free(slot->t);
	relay_buf_free(&slot->held);
	*slot = (struct tls_slot){0};
	s->flags &= (uint8_t)~SIDE_TLS;
}

/* The session waits for the socket: the flag of that direction goes, its next edge retries. */
static ssize_t tls_wait(struct relay_side *s, const struct tls_slot *slot)
{
	if (slot->ops->wants_write(slot->t))
		s->flags &= (uint8_t)~SIDE_WRITABLE;
	else
		s->flags &= (uint8_t)~SIDE_READABLE;
	return -EAGAIN;
}

static ssize_t tls_ended(struct relay_side *s)
{
	s->flags |= SIDE_EOF;
	s->flags &= (uint8_t)~SIDE_READABLE;
	return 0;
}

/* The proxy's close_notify, and a TCP end without it (the application's own TLS inside sees a
 * truncation itself), both end the proxy's direction. */
static ssize_t tls_recv(struct relay_side *s, struct tls_slot *slot, void *p, size_t n)
{
	ssize_t r;

	if (slot->held.len > 0) {
		size_t k = n < slot->held.len ? n : slot->held.len;

		memcpy(p, slot->held.data + slot->held.off, k);
		relay_buf_consume(&slot->held, k);
		return (ssize_t)k;
	}
	if (slot->ended)
		return tls_ended(s);
	r = slot->ops->read(slot->t, p, n < RELAY_TLS_READ_MAX ? n : RELAY_TLS_READ_MAX);
	if (r > 0) {
		if (slot->ops->starved(slot->t))
			tls_wait(s, slot); /* spares the read that would only say -EAGAIN */
		return r;
	}
	if (r == 0 || r == -EPIPE)
		return tls_ended(s);
	if (r == -EAGAIN)
		return tls_wait(s, slot);
	return r;
}

ssize_t relay_tls_peek(struct relay_side *s, void *p, size_t cap, bool *ended)
{
	struct tls_slot *slot = slot_of(s);
	uint8_t *out = p;
	ssize_t r;

	*ended = false;
	if (!slot)
		return -EBADF;
	if (slot->held.len > cap)
		return -E2BIG;
	if (slot->held.len > 0)
		memcpy(out, slot->held.data + slot->held.off, slot->held.len);
	while (!slot->ended && slot->held.len < cap) {
		r = slot->ops->read(slot->t, out + slot->held.len, cap - slot->held.len);
		if (r == -EAGAIN) {
			tls_wait(s, slot);
			break;
		}
		if (r == 0 || r == -EPIPE) {
			slot->ended = true;
			break;
		}
		if (r < 0)
			return r;
		if (relay_queue(&slot->held, out + slot->held.len, (size_t)r) < 0)
			return -ENOMEM;
	}
	*ended = slot->ended;
	if (slot->held.len == 0)
		return slot->ended ? tls_ended(s) : -EAGAIN;
	return (ssize_t)slot->held.len;
}

int relay_tls_consume(struct relay_side *s, size_t n)
{
	struct tls_slot *slot = slot_of(s);

	if (!slot || n > slot->held.len)
		return -EPIPE;
	if (n > 0)
		relay_buf_consume(&slot->held, n);
	/* What follows the head is read next: no socket event will say so. */
	if (slot->held.len > 0 || slot->ended)
		s->flags |= SIDE_READABLE;
	return 0;
}

bool relay_tls_pending(const struct relay_side *s)
{
	const struct tls_slot *slot = slot_of(s);

	return slot && (slot->held.len > 0 || slot->ops->pending(slot->t));
}

/* Tunnels move their bytes socket -> pipe -> socket with splice(2), so the kernel passes the
 * received pages on instead of copying them out to relay_scratch and back in: the relay's
 * CPU per GiB falls by about a fifth.
 *
 * One splice takes up to a whole pipe (RELAY_PIPE_BYTES when the kernel grants it): where the
 * relay falls behind its source, one call moves what sixteen 64 KiB calls would, and the
 * destination gets it in fewer, larger sends (issue 15: under half the splices per GiB in the
 * client bench; a bare loopback relay whose source outruns it uses a third less CPU per GiB). A
 * pipe is empty again after a move, unless the destination could not take everything: up to
 * RELAY_SCRATCH left over is read out into that direction's backlog, just as a copy would have
 * queued it (a backlog still holds at most one read); more stays in the pipe, which then belongs to
 * that direction until its destination has taken it down to that size (relay_flush). A move that
 * finds the pipe taken uses a spare one, made when first needed (RELAY_PIPES in all), or copies
 * when none is free. pipes[0] is made by pump_init(); without it nothing is spliced. */

struct move_pipe {
	int rd, wr;		       /* -1: not made */
	size_t size;		       /* what F_SETPIPE_SZ granted: the length of one splice */
	size_t held;		       /* bytes in it (only while owned) */
	const struct relay_buf *owner; /* the direction whose bytes wait in it, or NULL */
};

static struct move_pipe pipes[RELAY_PIPES] = {[0 ... RELAY_PIPES - 1] = {.rd = -1, .wr = -1}};

static int pipe_open(struct move_pipe *p)
{
	int fd[2], sz;

	if (pipe2(fd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	/* Refused when the user's pipes are over /proc/sys/fs/pipe-user-pages-soft or the size
	 * over pipe-max-size: then the old size, then the kernel's default. */
	sz = fcntl(fd[1], F_SETPIPE_SZ, RELAY_PIPE_BYTES);
	if (sz < 0)
		sz = fcntl(fd[1], F_SETPIPE_SZ, 4 * RELAY_SCRATCH);
	if (sz < 0)
		sz = fcntl(fd[1], F_GETPIPE_SZ);
	*p = (struct move_pipe){.rd = fd[0], .wr = fd[1], .size = sz > 0 ? (size_t)sz : 65536};
	return 0;
}

static void pipe_close(struct move_pipe *p)
{
	if (p->rd < 0)
		return;
	close(p->rd);
	close(p->wr);
	*p = (struct move_pipe){.rd = -1, .wr = -1};
}

void pump_init(bool use_splice)
{
	if (!use_splice || pipes[0].rd >= 0)
		return;
	if (pipe_open(&pipes[0]) < 0)
		log_warn("cannot create the relay's splice pipe (%s): copying instead",
			 strerror(errno));
}

/* What a read from s (recv or splice, r its result, errno intact) says about s: bytes (> 0),
 * 0 at end of stream (SIDE_EOF), -EAGAIN (no longer readable) or -errno. */
static ssize_t read_result(struct relay_side *s, ssize_t r)
{
	if (r > 0)
		return r;
	if (r == 0) {
		s->flags |= SIDE_EOF;
		s->flags &= (uint8_t)~SIDE_READABLE;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->flags &= (uint8_t)~SIDE_READABLE;
		return -EAGAIN;
	}
	return -errno;
}

ssize_t relay_recv(struct relay_side *s, void *p, size_t n)
{
	struct tls_slot *slot = slot_of(s);
	ssize_t r;

	if (slot)
		return tls_recv(s, slot, p, n);

	do
		r = recv(s->fd, p, n, 0);
	while (r < 0 && errno == EINTR);
	return read_result(s, r);
}

static struct move_pipe *pipe_of(const struct relay_buf *b);
static int pipe_take(struct move_pipe *p, struct relay_buf *b);

static void buf_release(struct relay_buf *b)
{
	free(b->data);
	*b = (struct relay_buf){0};
}

/* Also drops what waits for b in a pipe. */
void relay_buf_free(struct relay_buf *b)
{
	struct move_pipe *p = pipe_of(b);

	if (p)
		(void)pipe_take(p, NULL);
	buf_release(b);
}

void relay_buf_consume(struct relay_buf *b, size_t n)
{
	b->off += (uint32_t)n;
	b->len -= (uint32_t)n;
	if (b->len == 0)
		buf_release(b);
}

int relay_queue(struct relay_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if ((size_t)b->len + n > RELAY_BUF_HARD_MAX)
		return -ENOBUFS;
	if (b->off && b->off + b->len + n > b->cap) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->off + b->len + n > b->cap) {
		size_t cap = b->len + n < RELAY_SCRATCH ? RELAY_SCRATCH : b->len + n;
		uint8_t *d = realloc(b->data, cap);

		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = (uint32_t)cap;
	}
	memcpy(b->data + b->off + b->len, p, n);
	b->len += (uint32_t)n;
	return 0;
}

static ssize_t send_some(struct relay_side *s, const void *p, size_t n)
{
	struct tls_slot *slot;
	ssize_t r;

	if (!(s->flags & SIDE_WRITABLE))
		return -EAGAIN;
	if ((slot = slot_of(s))) {
		r = slot->ops->write(slot->t, p, n);
		return r == -EAGAIN ? tls_wait(s, slot) : r;
	}
	do
		r = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->flags &= (uint8_t)~SIDE_WRITABLE;
		return -EAGAIN;
	}
	return -errno;
}

static int pipe_drain(struct move_pipe *p, struct relay_side *dst, struct relay_buf *b);

int relay_flush(struct relay_side *s, struct relay_buf *b)
{
	struct move_pipe *p = pipe_of(b);

	if (p) {
		int r = pipe_drain(p, s, b);

		if (r != 0)
			return r;
	}
	while (b->len > 0) {
		ssize_t r = send_some(s, b->data + b->off, b->len);

		if (r == -EAGAIN)
			return 1;
		if (r < 0)
			return (int)r;
		relay_buf_consume(b, (size_t)r);
	}
	return 0;
}

int relay_send(struct relay_side *s, struct relay_buf *b, const void *p, size_t n)
{
	ssize_t r = 0;

	if (b->len == 0 && !pipe_of(b)) {
		r = send_some(s, p, n);
		if (r == -EAGAIN)
			r = 0;
		if (r < 0)
			return (int)r;
	}
	return relay_queue(b, (const uint8_t *)p + r, n - (size_t)r);
}

bool pump_splicing(void)
{
	return pipes[0].rd >= 0;
}

void pump_cleanup(void)
{
	size_t i;

	for (i = 0; i < RELAY_PIPES; i++)
		pipe_close(&pipes[i]);
}

static struct move_pipe *pipe_of(const struct relay_buf *b)
{
	size_t i;

	for (i = 0; i < RELAY_PIPES; i++)
		if (pipes[i].owner == b)
			return &pipes[i];
	return NULL;
}

/* A pipe no direction owns, made if need be; NULL: copy this move. */
static struct move_pipe *pipe_free(void)
{
	size_t i;

	if (pipes[0].rd < 0)
		return NULL;
	for (i = 0; i < RELAY_PIPES; i++) {
		if (pipes[i].rd < 0)
			return pipe_open(&pipes[i]) == 0 ? &pipes[i] : NULL;
		if (!pipes[i].owner)
			return &pipes[i];
	}
	return NULL;
}

/* Take p's bytes out: into b, or dropped when b is NULL; p is empty and free afterwards. If it
 * cannot be emptied it is closed (pipes[0]: copying from now on). 0, -ENOBUFS/-ENOMEM (b
 * could not take them: dropped) or -EIO. */
static int pipe_take(struct move_pipe *p, struct relay_buf *b)
{
	int r = 0;

	while (p->held > 0) {
		ssize_t n = read(p->rd, relay_scratch,
				 p->held < sizeof(relay_scratch) ? p->held : sizeof(relay_scratch));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("the relay's splice pipe lost %zu bytes (%s)%s", p->held,
				  n < 0 ? strerror(errno) : "end of pipe",
				  p == &pipes[0] ? ": copying from now on" : "");
			pipe_close(p);
			return -EIO;
		}
		if (b && r == 0)
			r = relay_queue(b, relay_scratch, (size_t)n);
		p->held -= (size_t)n;
	}
	p->owner = NULL;
	return r;
}

/* Splice p's bytes to dst while it takes them. 0 (all taken, or dst blocked), -errno: dst
 * failed and p's bytes are dropped. */
static int pipe_out(struct move_pipe *p, struct relay_side *dst)
{
	while (p->held > 0 && (dst->flags & SIDE_WRITABLE)) {
		ssize_t m =
		    splice(p->rd, NULL, dst->fd, NULL, p->held, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (m > 0) {
			p->held -= (size_t)m;
		} else if (m < 0 && errno == EAGAIN) {
			dst->flags &= (uint8_t)~SIDE_WRITABLE;
		} else if (m == 0 || errno != EINTR) {
			int r = m < 0 ? -errno : -EIO;

			(void)pipe_take(p, NULL);
			return r;
		}
	}
	return 0;
}

/* What dst did not take of p's bytes: up to RELAY_SCRATCH into b when b is empty (nothing may
 * overtake the pipe's bytes), p then free again; more stays in p, owned by b. */
static int pipe_park(struct move_pipe *p, struct relay_buf *b)
{
	if (p->held == 0) {
		p->owner = NULL;
		return 0;
	}
	if (p->held <= RELAY_SCRATCH && b->len == 0)
		return pipe_take(p, b);
	p->owner = b;
	return 0;
}

/* b's bytes waiting in p first: 0 all out (p free again, b's own bytes next), 1 some left (dst
 * not writable now), -errno. */
static int pipe_drain(struct move_pipe *p, struct relay_side *dst, struct relay_buf *b)
{
	int r = pipe_out(p, dst);

	if (r == 0)
		r = pipe_park(p, b);
	if (r < 0)
		return r;
	return p->owner ? 1 : 0;
}

/* One read's worth from src to dst through p, with b empty and owning no pipe: what dst cannot
 * take now waits in b or p (pipe_park). Bytes moved (> 0), 0 at EOF, -EAGAIN, -errno. */
static ssize_t splice_move(struct move_pipe *p, struct relay_side *src, struct relay_side *dst,
			   struct relay_buf *b)
{
	ssize_t n;
	int r;

	do
		n = splice(src->fd, NULL, p->wr, NULL, p->size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	n = read_result(src, n);
	if (n <= 0)
		return n;
	p->held = (size_t)n;
	r = pipe_out(p, dst);
	if (r == 0)
		r = pipe_park(p, b);
	return r < 0 ? r : n;
}

/* FIN towards dst; for a TLS side close_notify first (retried on dst's next edge while the
 * socket cannot take it). 0 (done, or to be retried) or -errno. */
static int shut_wr(struct relay_side *dst)
{
	struct tls_slot *slot = slot_of(dst);

	if (slot) {
		int r = slot->ops->shutdown(slot->t);

		if (r == -EAGAIN) {
			tls_wait(dst, slot);
			return 0;
		}
		if (r < 0)
			return r;
	}
	shutdown(dst->fd, SHUT_WR);
	dst->flags |= SIDE_SHUT_WR;
	return 0;
}

int pump_move(struct relay_side *src, struct relay_side *dst, struct relay_buf *b)
{
	size_t moved = 0;
	int i, r;

	/* RELAY_ROUNDS reads, and no more bytes than RELAY_ROUNDS full scratch reads, per call:
	 * a pipe-sized splice must not let one tunnel hold the loop longer than before. */
	for (i = 0; i < RELAY_ROUNDS && moved < RELAY_ROUNDS * RELAY_SCRATCH; i++) {
		struct move_pipe *p;
		ssize_t n;

		r = relay_flush(dst, b);
		if (r != 0)
			return r < 0 ? r : 0; /* backpressure: leave src unread */
		if (!(src->flags & SIDE_READABLE) || (src->flags & SIDE_EOF))
			break;
		/* A TLS side's bytes are the session's: copied, never spliced. */
		if (!((src->flags | dst->flags) & SIDE_TLS) && (p = pipe_free())) {
			n = splice_move(p, src, dst, b);
			if (n == -EAGAIN || n == 0)
				break;
			if (n < 0)
				return (int)n;
			moved += (size_t)n;
			continue;
		}
		n = relay_recv(src, relay_scratch, sizeof(relay_scratch));
		if (n == -EAGAIN || n == 0)
			break;
		if (n < 0)
			return (int)n;
		r = relay_send(dst, b, relay_scratch, (size_t)n);
		if (r < 0)
			return r;
		moved += (size_t)n;
	}
	if ((src->flags & SIDE_EOF) && b->len == 0 && !pipe_of(b) && !(dst->flags & SIDE_SHUT_WR)) {
		r = shut_wr(dst);
		if (r < 0)
			return r;
	}
	return i == RELAY_ROUNDS || moved >= RELAY_ROUNDS * RELAY_SCRATCH;
}
