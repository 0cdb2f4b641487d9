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
 * CPU per GiB falls by about a fifth. One pipe serves every connection, because it is empty
 * again after each move: what the destination cannot take at once is read out of it into that
 * direction's backlog, just as a copy would have queued it. -1: copy instead. */
static int move_pipe[2] = {-1, -1};

void pump_init(bool use_splice)
{
	if (!use_splice)
		return;
	if (pipe2(move_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_warn("cannot create the relay's splice pipe (%s): copying instead",
			 strerror(errno));
		move_pipe[0] = move_pipe[1] = -1;
		return;
	}
	/* Room for a whole read even when it arrives in small page fragments (one slot each);
	 * the default 16 slots would only cut the moves short. */
	fcntl(move_pipe[1], F_SETPIPE_SZ, 4 * RELAY_SCRATCH);
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

void relay_buf_free(struct relay_buf *b)
{
	free(b->data);
	*b = (struct relay_buf){0};
}

void relay_buf_consume(struct relay_buf *b, size_t n)
{
	b->off += (uint32_t)n;
	b->len -= (uint32_t)n;
	if (b->len == 0)
		relay_buf_free(b);
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

int relay_flush(struct relay_side *s, struct relay_buf *b)
{
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

	if (b->len == 0) {
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
	return move_pipe[0] >= 0;
}

void pump_cleanup(void)
{
	if (move_pipe[0] < 0)
		return;
	close(move_pipe[0]);
	close(move_pipe[1]);
	move_pipe[0] = move_pipe[1] = -1;
}

/* Take left bytes out of the move pipe: into b, or dropped when b is NULL. The pipe must be
 * empty when this returns 0; if it cannot be emptied it is closed and copying takes over. */
static int pipe_take(struct relay_buf *b, size_t left)
{
	int r = 0;

	while (left > 0) {
		ssize_t n = read(move_pipe[0], relay_scratch,
				 left < sizeof(relay_scratch) ? left : sizeof(relay_scratch));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error(
			    "the relay's splice pipe lost %zu bytes (%s): copying from now on",
			    left, n < 0 ? strerror(errno) : "end of pipe");
			pump_cleanup();
			return -EIO;
		}
		if (b && r == 0)
			r = relay_queue(b, relay_scratch, (size_t)n);
		left -= (size_t)n;
	}
	return r;
}

/* One read's worth from src to dst through the move pipe, with b empty: what dst cannot take
 * now is queued in b, as a copy would be. Bytes moved (> 0), 0 at EOF, -EAGAIN, -errno. */
static ssize_t splice_move(struct relay_side *src, struct relay_side *dst, struct relay_buf *b)
{
	ssize_t n, m;
	size_t left;
	int r;

	do
		n = splice(src->fd, NULL, move_pipe[1], NULL, RELAY_SCRATCH,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	n = read_result(src, n);
	if (n <= 0)
		return n;
	left = (size_t)n;
	while (left > 0 && (dst->flags & SIDE_WRITABLE)) {
		m = splice(move_pipe[0], NULL, dst->fd, NULL, left,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (m > 0) {
			left -= (size_t)m;
		} else if (m < 0 && errno == EAGAIN) {
			dst->flags &= (uint8_t)~SIDE_WRITABLE;
		} else if (m == 0 || errno != EINTR) {
			r = m < 0 ? -errno : -EIO;
			pipe_take(NULL, left);
			return r;
		}
	}
	r = pipe_take(b, left);
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
	int i, r;

	for (i = 0; i < RELAY_ROUNDS; i++) {
		ssize_t n;

		r = relay_flush(dst, b);
		if (r != 0)
			return r < 0 ? r : 0; /* backpressure: leave src unread */
		if (!(src->flags & SIDE_READABLE) || (src->flags & SIDE_EOF))
			break;
		/* A TLS side's bytes are the session's: copied, never spliced. */
		if (move_pipe[0] >= 0 && !((src->flags | dst->flags) & SIDE_TLS)) {
			n = splice_move(src, dst, b);
			if (n == -EAGAIN || n == 0)
				break;
			if (n < 0)
				return (int)n;
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
	}
	if ((src->flags & SIDE_EOF) && b->len == 0 && !(dst->flags & SIDE_SHUT_WR)) {
		r = shut_wr(dst);
		if (r < 0)
			return r;
	}
	return i == RELAY_ROUNDS;
}
