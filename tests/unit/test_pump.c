/* Unit tests for the relay's byte layer (src/client/pump.c), on loopback TCP pairs: the
 * backlog and backpressure (a peer that does not read), half-close each way (FIN forwarded
 * only once the backlog is empty), both the splice and the copy path, and a peer that resets
 * mid-move. Readiness that epoll would report is set by hand, as conn.c does on an event.
 *
 * Every test runs four times: _i bit 0 picks the copy path (no splice pipe), bit 1 the
 * direction (proxy -> app instead of app -> proxy).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/pump.h"

/* Two connected loopback TCP sockets: *ours (non-blocking, the relay's) and *peer. */
static void tcp_pair(int *ours, int *peer, int bufsz)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, a;

	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	if (bufsz) {
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
		setsockopt(c, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	}
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(a, 0);
	close(l);
	if (bufsz) {
		setsockopt(a, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
		setsockopt(a, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	}
	fcntl(c, F_SETFL, O_NONBLOCK);
	*ours = a;
	*peer = c;
}

struct rig {
	struct relay_side app, proxy;
	int app_peer, proxy_peer;
	/* the direction under test */
	struct relay_side *src, *dst;
	int writer, reader; /* src's peer writes, dst's peer reads */
	struct relay_buf b;
};

static struct rig rig;

static void rig_open(int i, int bufsz)
{
	pump_init(!(i & 1));
	ck_assert(pump_splicing() == !(i & 1));
	memset(&rig, 0, sizeof(rig));
	tcp_pair(&rig.app.fd, &rig.app_peer, bufsz);
	tcp_pair(&rig.proxy.fd, &rig.proxy_peer, bufsz);
	rig.app.flags = rig.proxy.flags = SIDE_READABLE | SIDE_WRITABLE;
	if (i & 2) {
		rig.src = &rig.proxy;
		rig.dst = &rig.app;
		rig.writer = rig.proxy_peer;
		rig.reader = rig.app_peer;
	} else {
		rig.src = &rig.app;
		rig.dst = &rig.proxy;
		rig.writer = rig.app_peer;
		rig.reader = rig.proxy_peer;
	}
}

static void rig_close(void)
{
	relay_buf_free(&rig.b);
	close(rig.app.fd);
	close(rig.proxy.fd);
	if (rig.app_peer >= 0)
		close(rig.app_peer);
	if (rig.proxy_peer >= 0)
		close(rig.proxy_peer);
	pump_cleanup();
	ck_assert(!pump_splicing());
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 11));
}

/* What epoll would say after the peers acted: both sides may be ready again. */
static int move(void)
{
	rig.src->flags |= SIDE_READABLE;
	rig.dst->flags |= SIDE_WRITABLE;
	return pump_move(rig.src, rig.dst, &rig.b);
}

static size_t write_some(size_t at, size_t total)
{
	uint8_t chunk[16384];
	size_t n = 0;

	while (at < total) {
		size_t k = total - at < sizeof(chunk) ? total - at : sizeof(chunk), j;
		ssize_t w;

		for (j = 0; j < k; j++)
			chunk[j] = pattern(at + j);
		w = send(rig.writer, chunk, k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		at += (size_t)w;
		n += (size_t)w;
	}
	return n;
}

static size_t read_some(size_t at, bool *eof)
{
	uint8_t chunk[16384];
	size_t n = 0;

	for (;;) {
		ssize_t r = recv(rig.reader, chunk, sizeof(chunk), MSG_DONTWAIT);
		ssize_t j;

		if (r == 0) {
			*eof = true;
			break;
		}
		if (r < 0) {
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		for (j = 0; j < r; j++)
			ck_assert_uint_eq(chunk[j], pattern(at + n + (size_t)j));
		n += (size_t)r;
	}
	return n;
}

static int pending_in(int fd)
{
	int n = 0;

	ck_assert_int_eq(ioctl(fd, FIONREAD, &n), 0);
	return n;
}

/* A reader that does not read: the backlog holds at most one read, reading stops; once the
 * reader drains, every byte arrives in order, then the FIN. */
START_TEST(backpressure_then_drain)
{
	const size_t total = 8u << 20;
	size_t written = 0, got = 0;
	bool eof = false;
	int i, before, r;

	rig_open(_i, 32768);
	/* Fill everything until nothing moves. */
	for (i = 0; i < 1000; i++) {
		size_t w = write_some(written, total);

		written += w;
		r = move();
		ck_assert_int_ge(r, 0);
		if (w == 0 && rig.b.len > 0 && !(rig.dst->flags & SIDE_WRITABLE))
			break;
	}
	ck_assert_uint_gt(rig.b.len, 0);
	ck_assert_uint_le(rig.b.len, RELAY_SCRATCH);
	ck_assert_uint_lt(written, total);
	/* Reading has stopped: what waits in src stays there however often we try. */
	before = pending_in(rig.src->fd);
	ck_assert_int_gt(before, 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(move(), 0);
	ck_assert_int_eq(pending_in(rig.src->fd), before);
	ck_assert_uint_le(rig.b.len, RELAY_SCRATCH);
	ck_assert(!(rig.dst->flags & SIDE_SHUT_WR));
	/* Drain. */
	for (i = 0; i < 100000 && !eof; i++) {
		got += read_some(got, &eof);
		if (written < total) {
			written += write_some(written, total);
			if (written == total)
				shutdown(rig.writer, SHUT_WR);
		}
		ck_assert_int_ge(move(), 0);
	}
	ck_assert(eof);
	ck_assert_uint_eq(got, total);
	ck_assert_ptr_null(rig.b.data); /* freed once drained */
	ck_assert(rig.dst->flags & SIDE_SHUT_WR);
	ck_assert(rig.src->flags & SIDE_EOF);
	rig_close();
}
END_TEST

/* The writer sends its last bytes and FIN while the backlog is not empty: no FIN goes out
 * until the backlog is, and then exactly after the last byte. */
START_TEST(half_close_waits_for_backlog)
{
	const size_t total = 2u << 20;
	size_t written = 0, got = 0;
	bool eof = false;
	int i;

	rig_open(_i, 32768);
	for (i = 0; i < 1000 && written < total; i++) {
		written += write_some(written, total);
		ck_assert_int_ge(move(), 0);
		if (rig.b.len > 0 && !(rig.dst->flags & SIDE_WRITABLE))
			break;
	}
	ck_assert_uint_gt(rig.b.len, 0);
	/* Half-close now, with bytes still on their way. */
	shutdown(rig.writer, SHUT_WR);
	for (i = 0; i < 5; i++)
		ck_assert_int_ge(move(), 0);
	ck_assert(!(rig.dst->flags & SIDE_SHUT_WR));
	/* The other direction is untouched: the reader can still write back. */
	ck_assert_int_eq(send(rig.reader, "k", 1, MSG_NOSIGNAL), 1);
	for (i = 0; i < 100000 && !eof; i++) {
		got += read_some(got, &eof);
		ck_assert_int_ge(move(), 0);
		if (!eof && rig.b.len > 0)
			ck_assert(!(rig.dst->flags & SIDE_SHUT_WR));
	}
	ck_assert(eof);
	ck_assert_uint_eq(got, written);
	ck_assert(rig.dst->flags & SIDE_SHUT_WR);
	ck_assert(rig.src->flags & SIDE_EOF);
	ck_assert_int_eq(pending_in(rig.dst->fd), 1); /* the "k", not read by this direction */
	rig_close();
}
END_TEST

/* Little data and FIN with room everywhere: both go out in one move. */
START_TEST(fin_with_empty_backlog)
{
	rig_open(_i, 0);
	ck_assert_int_eq(send(rig.writer, "hello", 5, MSG_NOSIGNAL), 5);
	shutdown(rig.writer, SHUT_WR);
	usleep(1000);
	ck_assert_int_eq(move(), 0);
	ck_assert(rig.dst->flags & SIDE_SHUT_WR);
	ck_assert_ptr_null(rig.b.data);
	usleep(1000);
	{
		char buf[16];

		ck_assert_int_eq(recv(rig.reader, buf, sizeof(buf), MSG_DONTWAIT), 5);
		ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
		ck_assert_int_eq(recv(rig.reader, buf, sizeof(buf), MSG_DONTWAIT), 0);
	}
	rig_close();
}
END_TEST

/* The source's peer resets mid-stream (SO_LINGER 0): the move reports -ECONNRESET, and the
 * process-wide state (the splice pipe) is left clean for the next connection. */
START_TEST(peer_reset)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	size_t written = 0, got = 0;
	bool eof = false;
	int i, r = 0;

	rig_open(_i, 32768);
	written = write_some(0, 1u << 20);
	ck_assert_uint_gt(written, 0);
	ck_assert_int_ge(move(), 0);
	ck_assert_int_eq(setsockopt(rig.writer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(close(rig.writer), 0);
	if (rig.writer == rig.app_peer)
		rig.app_peer = -1;
	else
		rig.proxy_peer = -1;
	usleep(1000);
	for (i = 0; i < 1000; i++) {
		got += read_some(got, &eof);
		r = move();
		if (r < 0)
			break;
	}
	ck_assert_int_eq(r, -ECONNRESET);
	relay_buf_free(&rig.b);
	close(rig.app.fd);
	close(rig.proxy.fd);
	close(rig.app_peer >= 0 ? rig.app_peer : rig.proxy_peer);
	rig.app_peer = rig.proxy_peer = -1;
	/* A fresh pair moves its bytes intact: nothing of the old one is left in the pipe. */
	{
		int keep_splice = pump_splicing();
		char buf[8];

		tcp_pair(&rig.app.fd, &rig.app_peer, 0);
		tcp_pair(&rig.proxy.fd, &rig.proxy_peer, 0);
		rig.app.flags = rig.proxy.flags = SIDE_READABLE | SIDE_WRITABLE;
		ck_assert_int_eq(send(rig.app_peer, "fresh", 5, MSG_NOSIGNAL), 5);
		usleep(1000);
		ck_assert_int_eq(pump_move(&rig.app, &rig.proxy, &rig.b), 0);
		usleep(1000);
		ck_assert_int_eq(recv(rig.proxy_peer, buf, sizeof(buf), MSG_DONTWAIT), 5);
		ck_assert_int_eq(memcmp(buf, "fresh", 5), 0);
		ck_assert_int_eq(pump_splicing(), keep_splice);
	}
	rig_close();
}
END_TEST

/* pump_move() never calls up: after RELAY_ROUNDS reads with bytes still readable it stops
 * and says so (1); the caller moves the rest later. Records of a SOCK_SEQPACKET source come
 * one per read, so RELAY_ROUNDS reads need little data (copy path: no splice from it). */
START_TEST(rounds_then_more_work)
{
	struct relay_side src = {.flags = SIDE_READABLE | SIDE_WRITABLE};
	struct relay_side dst = {.flags = SIDE_READABLE | SIDE_WRITABLE};
	struct relay_buf b = {0};
	int sp[2], dp[2], i;
	char buf[4 * RELAY_ROUNDS];

	pump_init(false);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sp), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, dp), 0);
	src.fd = sp[0];
	dst.fd = dp[0];
	for (i = 0; i < RELAY_ROUNDS + 3; i++)
		ck_assert_int_eq(send(sp[1], "abc", 3, 0), 3);
	ck_assert_int_eq(pump_move(&src, &dst, &b), 1);
	ck_assert_int_eq(recv(dp[1], buf, sizeof(buf), MSG_DONTWAIT), 3 * RELAY_ROUNDS);
	ck_assert(src.flags & SIDE_READABLE); /* not drained: more work */
	ck_assert_int_eq(pump_move(&src, &dst, &b), 0);
	ck_assert_int_eq(recv(dp[1], buf, sizeof(buf), MSG_DONTWAIT), 3 * 3);
	ck_assert(!(src.flags & SIDE_READABLE));
	ck_assert(!(dst.flags & SIDE_SHUT_WR));
	close(sp[0]);
	close(sp[1]);
	close(dp[0]);
	close(dp[1]);
	pump_cleanup();
}
END_TEST

/* One tunnel's stream, for tests that move several at once. */
struct stream {
	struct relay_side src, dst;
	int writer, reader;
	struct relay_buf b;
	size_t written, got;
	bool eof;
};

static void stream_open(struct stream *t)
{
	memset(t, 0, sizeof(*t));
	tcp_pair(&t->src.fd, &t->writer, 0);
	tcp_pair(&t->dst.fd, &t->reader, 32768); /* stalls soon, while src has plenty */
	t->src.flags = t->dst.flags = SIDE_READABLE | SIDE_WRITABLE;
}

static void stream_close(struct stream *t)
{
	relay_buf_free(&t->b);
	close(t->src.fd);
	close(t->dst.fd);
	close(t->writer);
	close(t->reader);
}

/* What t's reader has: checked against the pattern a chunk at a time (one assertion per byte
 * would make megabytes slow). */
static void stream_read(struct stream *t)
{
	uint8_t chunk[16384], want[sizeof(chunk)];

	while (!t->eof) {
		ssize_t r = recv(t->reader, chunk, sizeof(chunk), MSG_DONTWAIT), j;

		if (r == 0)
			t->eof = true;
		if (r <= 0) {
			ck_assert(r == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
			return;
		}
		for (j = 0; j < r; j++)
			want[j] = pattern(t->got + (size_t)j);
		ck_assert_int_eq(memcmp(chunk, want, (size_t)r), 0);
		t->got += (size_t)r;
	}
}

/* The writer sends what its socket takes of total (then FIN), the reader reads when asked, and
 * the stream moves once. */
static int stream_step(struct stream *t, size_t total, bool read)
{
	int save = rig.writer;

	if (read)
		stream_read(t);
	if (t->written < total) {
		rig.writer = t->writer;
		t->written += write_some(t->written, total);
		rig.writer = save;
		if (t->written == total)
			shutdown(t->writer, SHUT_WR);
	}
	t->src.flags |= SIDE_READABLE;
	t->dst.flags |= SIDE_WRITABLE;
	return pump_move(&t->src, &t->dst, &t->b);
}

/* More tunnels than splice pipes, none of whose applications read for a while: each backlog
 * still holds at most one read (the rest waits in a pipe or in the source socket), a tunnel
 * dropped meanwhile takes its bytes with it, a fresh tunnel moves its bytes intact, and once
 * the readers drain, every stream arrives whole and in order. */
START_TEST(stalled_tunnels_share_pipes)
{
	enum { N = RELAY_PIPES + 2 };
	const size_t total = 16u << 20;
	struct stream t[N], fresh;
	char buf[8];
	int i, k, done;

	pump_init(true);
	ck_assert(pump_splicing());
	for (k = 0; k < N; k++)
		stream_open(&t[k]);
	for (i = 0; i < 20; i++)
		for (k = 0; k < N; k++) {
			ck_assert_int_ge(stream_step(&t[k], total, false), 0);
			ck_assert_uint_le(t[k].b.len, RELAY_SCRATCH);
		}
	for (k = 0; k < N; k++)
		ck_assert_uint_lt(t[k].written, total); /* they are stalled */
	/* One application goes away: what waited for it is dropped, nobody else gets it. */
	stream_close(&t[0]);
	stream_open(&fresh);
	ck_assert_int_eq(send(fresh.writer, "fresh", 5, MSG_NOSIGNAL), 5);
	usleep(1000);
	ck_assert_int_eq(pump_move(&fresh.src, &fresh.dst, &fresh.b), 0);
	usleep(1000);
	ck_assert_int_eq(recv(fresh.reader, buf, sizeof(buf), MSG_DONTWAIT), 5);
	ck_assert_int_eq(memcmp(buf, "fresh", 5), 0);
	stream_close(&fresh);
	for (i = 0, done = 0; i < 200000 && done < N - 1; i++) {
		done = 0;
		for (k = 1; k < N; k++) {
			ck_assert_int_ge(stream_step(&t[k], total, true), 0);
			ck_assert_uint_le(t[k].b.len, RELAY_SCRATCH);
			done += t[k].eof;
		}
	}
	for (k = 1; k < N; k++) {
		ck_assert(t[k].eof);
		ck_assert_uint_eq(t[k].got, total);
		stream_close(&t[k]);
	}
	ck_assert(pump_splicing());
	pump_cleanup();
}
END_TEST

/* relay_queue's caps and relay_send's straight write. */
START_TEST(queue_caps)
{
	static uint8_t big[RELAY_BUF_HARD_MAX + 1];
	struct relay_buf b = {0};

	ck_assert_int_eq(relay_queue(&b, big, RELAY_BUF_HARD_MAX), 0);
	ck_assert_int_eq(relay_queue(&b, big, 1), -ENOBUFS);
	relay_buf_consume(&b, RELAY_BUF_HARD_MAX - 10);
	ck_assert_uint_eq(b.len, 10);
	ck_assert_int_eq(relay_queue(&b, big, 100), 0); /* compacts instead of growing */
	ck_assert_uint_eq(b.len, 110);
	relay_buf_consume(&b, 110);
	ck_assert_ptr_null(b.data);
	relay_buf_free(&b);
}
END_TEST

/* A TLS side as upstream_tls.c makes one, its session faked: bytes to give, then nothing. */
struct fake_tls {
	size_t left, max_asked;
	int reads;
	bool starved, freed;
};

static ssize_t fake_read(void *t, void *p, size_t n)
{
	struct fake_tls *f = t;
	size_t k = n < f->left ? n : f->left;

	f->reads++;
	f->max_asked = n > f->max_asked ? n : f->max_asked;
	if (k == 0)
		return -EAGAIN;
	memset(p, 'x', k);
	f->left -= k;
	f->starved = f->left == 0; /* it went on to the socket and found it empty */
	return (ssize_t)k;
}

static ssize_t fake_write(void *t, const void *p, size_t n)
{
	(void)t;
	(void)p;
	return (ssize_t)n;
}

static int fake_shutdown(void *t)
{
	(void)t;
	return 0;
}

static bool fake_false(const void *t)
{
	(void)t;
	return false;
}

static bool fake_starved(const void *t)
{
	return ((const struct fake_tls *)t)->starved;
}

static void fake_free(void *t)
{
	((struct fake_tls *)t)->freed = true;
}

static const struct relay_tls_ops fake_ops = {
    .read = fake_read,
    .write = fake_write,
    .shutdown = fake_shutdown,
    .wants_write = fake_false,
    .pending = fake_false,
    .starved = fake_starved,
    .free = fake_free,
};

/* A TLS side's reads stay under one loopback segment for the application, and a read that
 * found the socket empty is the last one: no read is made only to hear -EAGAIN. */
START_TEST(tls_reads_one_segment_and_stop_when_starved)
{
	struct fake_tls f = {.left = 100000};
	static char got[100001];
	size_t have = 0;
	ssize_t n;

	rig_open(1, 0);
	ck_assert_int_eq(relay_side_set_tls(&rig.proxy, &fake_ops, &f), 0);
	ck_assert_int_eq(pump_move(&rig.proxy, &rig.app, &rig.b), 0);
	ck_assert_uint_le(f.max_asked, RELAY_TLS_READ_MAX);
	ck_assert_int_eq(f.reads, 2); /* 65408 + 34592, and no third */
	ck_assert(!(rig.proxy.flags & SIDE_READABLE));
	ck_assert(!(rig.proxy.flags & SIDE_EOF));
	while (have < 100000 && (n = recv(rig.app_peer, got + have, sizeof(got) - have, 0)) > 0)
		have += (size_t)n;
	ck_assert_uint_eq(have, 100000);
	relay_side_drop_tls(&rig.proxy);
	ck_assert(f.freed);
	rig_close();
}
END_TEST

static Suite *pump_suite(void)
{
	Suite *s = suite_create("pump");
	TCase *t = tcase_create("pump");

	tcase_set_timeout(t, 60);
	tcase_add_loop_test(t, backpressure_then_drain, 0, 4);
	tcase_add_loop_test(t, half_close_waits_for_backlog, 0, 4);
	tcase_add_loop_test(t, fin_with_empty_backlog, 0, 4);
	tcase_add_loop_test(t, peer_reset, 0, 4);
	tcase_add_test(t, rounds_then_more_work);
	tcase_add_test(t, queue_caps);
	tcase_add_test(t, stalled_tunnels_share_pipes);
	tcase_add_test(t, tls_reads_one_segment_and_stop_when_starved);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pump_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
