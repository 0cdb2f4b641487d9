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
	ssize_t r;

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
	ssize_t r;

	if (!(s->flags & SIDE_WRITABLE))
		return -EAGAIN;
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
		if (move_pipe[0] >= 0) {
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
		shutdown(dst->fd, SHUT_WR);
		dst->flags |= SIDE_SHUT_WR;
	}
	return i == RELAY_ROUNDS;
}
