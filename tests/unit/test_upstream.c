/* upstream.c driven directly against a scripted fake proxy on a 127.0.0.1 listener: the CONNECT
 * exchange (407 rounds, a 407 body to drop, mutual authentication), response heads that are too
 * large, split or cut short, and the connect's retries. Unprivileged, no event loop: the test
 * writes the proxy's bytes, waits until they arrived, then calls upstream's functions.
 *
 * The relay loop and the Kerberos worker are replaced here (link seams): relay_side_open/close
 * and relay_set_timer only record, authq_submit hands the job to the test, which completes it
 * with upstream_take_token(). The token source is thereby injected: negotiate_step() is a fake
 * that accepts "cont*" as a continuation and "good" as the proxy's final token (the Kerberos
 * exchange itself is test_negotiate's); the sentences come from the real negotiate_error.c.
 */
#include "client/upstream.h"
#include "client/upstream_tls.h"

#include "client/auth/authq.h"
#include "shared/netutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* --- link seams: the relay loop ------------------------------------------------------------- */

int relay_side_open(struct kg_client *cl, struct relay_conn *c, struct relay_side *s, int fd)
{
	(void)c;
	s->fd = fd;
	s->flags = SIDE_READABLE | SIDE_WRITABLE;
	cl->n_fds++;
	return 0;
}

void relay_side_close(struct kg_client *cl, struct relay_side *s)
{
	if (s->fd < 0)
		return;
	relay_side_drop_tls(s);
	close(s->fd);
	s->fd = -1;
	s->flags = 0;
	cl->n_fds--;
}

void relay_set_timer(struct kg_client *cl, struct relay_conn *c, uint64_t deadline)
{
	(void)cl;
	c->timer.deadline = deadline;
}

void relay_mark_ready(struct relay_conn *c)
{
	(void)c;
}

void relay_conn_on_auth(void *ctx, struct auth_job *job)
{
	(void)ctx;
	(void)job;
	ck_abort_msg("jobs are completed by the test");
}

/* --- link seams: the Kerberos worker and the token source ---------------------------------- */

struct negotiate_ctx {
	int steps;
};

static struct auth_job *submitted; /* the last job upstream asked for */
static unsigned n_submitted;
static const char *token_host = "127.0.0.1"; /* the proxy the next token must be for */

struct auth_job *authq_submit(const struct authq_request *req, authq_done_fn *done, void *owner)
{
	struct auth_job *job = calloc(1, sizeof(*job));

	/* The token is asked for the connection's proxy. */
	ck_assert_str_eq(req->proxy_host, token_host);
	ck_assert_ptr_nonnull(job);
	job->done = done;
	job->owner = owner;
	submitted = job;
	n_submitted++;
	return job;
}

void authq_job_free(struct auth_job *job)
{
	if (!job)
		return;
	negotiate_free(job->ctx);
	free(job->token);
	free(job);
}

void authq_cancel(struct auth_job *job)
{
	if (submitted == job)
		submitted = NULL;
	authq_job_free(job);
}

unsigned authq_backlog(const struct auth_job *job)
{
	(void)job;
	return 0; /* the fake worker is never behind */
}

void negotiate_free(struct negotiate_ctx *ctx)
{
	free(ctx);
}

int negotiate_step(struct negotiate_ctx *ctx, enum negotiate_answer answer,
		   const char *server_token, char **ret_token, struct negotiate_failure *fail)
{
	char next[32];

	*ret_token = NULL;
	ctx->steps++;
	if (answer == NEGOTIATE_ANSWER_CHALLENGE && strncmp(server_token, "cont", 4) == 0) {
		snprintf(next, sizeof(next), "tok%d", ctx->steps + 1);
		*ret_token = strdup(next);
		return *ret_token ? 0 : -ENOMEM;
	}
	if (answer == NEGOTIATE_ANSWER_SUCCESS && strcmp(server_token, "good") == 0)
		return 0;
	fail->code =
	    answer == NEGOTIATE_ANSWER_SUCCESS ? NEGOTIATE_ERR_MUTUAL : NEGOTIATE_ERR_REJECTED;
	return -EACCES;
}

/* --- the rig -------------------------------------------------------------------------------- */

static struct kg_client cl;
static struct client_settings set;
static struct relay_conn conn;
static struct upstream up;
static int lfd = -1;   /* the fake proxy's listener */
static int proxy = -1; /* the fake proxy's end of the current connection */
static uint16_t lport;

static uint16_t bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static void settings_for(enum kg_proxy_type type, uint16_t port)
{
	memset(&set, 0, sizeof(set));
	set.refs = 1;
	set.cfg.proxy.type = type;
	snprintf(set.cfg.proxy.url, sizeof(set.cfg.proxy.url), "http://127.0.0.1:%u", port);
	snprintf(set.proxy.scheme, sizeof(set.proxy.scheme), "http");
	snprintf(set.proxy.host, sizeof(set.proxy.host), "127.0.0.1");
	set.proxy.port = port;
	set.cfg.proxy.connection_timeout = 5;
	set.cfg.proxy.request_timeout = 5;
	set.cfg.proxy.max_retries = 2;
}

/* A connection to 127.0.0.1:dst_port (the original destination for proxy.type none). */
static void rig_conn_init(uint16_t dst_port)
{
	static const uint8_t v4mapped_lo[16] = {0, 0, 0,    0,	  0,   0, 0, 0,
						0, 0, 0xff, 0xff, 127, 0, 0, 1};

	memset(&conn, 0, sizeof(conn));
	conn.app.fd = -1;
	conn.proxy.fd = -1;
	conn.set = &set;
	memcpy(conn.dst_ip, v4mapped_lo, 16);
	conn.dst_port = dst_port;
	memset(&cl, 0, sizeof(cl));
	cl.fd_cap = 100;
	snprintf(cl.uid_str, sizeof(cl.uid_str), "%u", (unsigned)getuid());
	upstream_init(&up, &cl, &conn);
}

static void setup(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	lport = bound_port(lfd);
	settings_for(KG_PROXY_HTTP, lport);
	rig_conn_init(443);
	submitted = NULL;
	n_submitted = 0;
	token_host = "127.0.0.1";
}

static void teardown(void)
{
	upstream_cleanup(&up);
	relay_side_close(&cl, &conn.proxy);
	relay_buf_free(&conn.to_proxy);
	if (proxy >= 0)
		close(proxy);
	proxy = -1;
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
}

static void wait_fd(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	ck_assert_int_eq(poll(&p, 1, 5000), 1);
}

/* Until at least n bytes wait in fd's receive queue. */
static void wait_avail(int fd, int n)
{
	int i, avail = 0;

	for (i = 0; i < 5000; i++) {
		ck_assert_int_eq(ioctl(fd, FIONREAD, &avail), 0);
		if (avail >= n)
			return;
		usleep(1000);
	}
	ck_abort_msg("only %d of %d bytes arrived", avail, n);
}

/* Connect upstream to the fake proxy and accept there. */
static void connect_up(void)
{
	ck_assert_int_eq(upstream_connect(&up), 0);
	ck_assert_int_ge(conn.proxy.fd, 0);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	wait_fd(conn.proxy.fd, POLLOUT);
	conn.proxy.flags |= SIDE_WRITABLE; /* what epoll would say */
	ck_assert_int_eq(upstream_poll(&up), 1);
	ck_assert(up.connected);
}

/* The worker's answer: a context and token tok. */
static void token_arrives(const char *tok)
{
	struct auth_job *job = submitted;

	ck_assert_ptr_nonnull(job);
	submitted = NULL;
	job->r = 0;
	job->ctx = calloc(1, sizeof(*job->ctx));
	job->token = strdup(tok);
	upstream_take_token(&up, job);
	ck_assert(up.token_ready);
}

static void proxy_says(const char *s)
{
	size_t n = strlen(s);

	ck_assert_int_eq(write(proxy, s, n), (ssize_t)n);
}

/* The next request head the fake proxy got, whole. */
static void proxy_expects(const char *want)
{
	char buf[1024];
	size_t n = strlen(want);

	ck_assert_uint_lt(n, sizeof(buf));
	wait_avail(proxy, (int)n);
	ck_assert_int_eq(read(proxy, buf, n), (ssize_t)n);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

/* Call read after what the proxy said arrived (all n bytes the client has not taken). */
static int answer_after(int n)
{
	wait_avail(conn.proxy.fd, n);
	conn.proxy.flags |= SIDE_READABLE;
	return upstream_read_connect_answer(&up);
}

#define CONNECT_TOK(tok)                                                                           \
	"CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n"                    \
	"Proxy-Authorization: Negotiate " tok "\r\n\r\n"

/* Connected with a token, CONNECT sent and checked. */
static void connect_sent(void)
{
	ck_assert(upstream_wants_token(&up));
	ck_assert_int_eq(upstream_request_token(&up), 0);
	connect_up();
	token_arrives("tok1");
	upstream_set_target(&up, "www.example.org", 443);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	ck_assert_uint_eq(up.rounds, 1);
	ck_assert_uint_ne(conn.timer.deadline, 0); /* request_timeout armed */
	proxy_expects(CONNECT_TOK("tok1"));
}

/* The tunnel's own first bytes after the head stay in the socket. */
static void tunnel_bytes_are(const char *want)
{
	char buf[64];
	ssize_t n;

	n = recv(conn.proxy.fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (!want[0]) {
		ck_assert(n < 0 && errno == EAGAIN);
		return;
	}
	ck_assert_int_eq(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
}

/* --- tests ---------------------------------------------------------------------------------- */

START_TEST(multi_round_407)
{
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate cont1\r\nContent-Length: 0\r\n\r\n";
	const char *ok = "HTTP/1.1 200 Connection established\r\n"
			 "Proxy-Authenticate: Negotiate good\r\n\r\nBANNER";

	connect_sent();
	proxy_says(r407);
	/* The continuation goes out on the same connection: wait for the next answer. */
	ck_assert_int_eq(answer_after((int)strlen(r407)), 0);
	proxy_expects(CONNECT_TOK("tok2"));
	ck_assert_uint_eq(up.rounds, 2);
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
	tunnel_bytes_are("BANNER");
}
END_TEST

START_TEST(rejected_407)
{
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate nope\r\nContent-Length: 0\r\n\r\n";

	connect_sent();
	proxy_says(r407);
	ck_assert_int_eq(answer_after((int)strlen(r407)), -EACCES);
	ck_assert_str_eq(up.error, "proxy rejected the ticket");
}
END_TEST

START_TEST(too_many_rounds)
{
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate cont\r\nContent-Length: 0\r\n\r\n";
	char want[256];
	int r = 0;

	connect_sent();
	while (up.rounds < NEGOTIATE_MAX_ROUNDS) {
		proxy_says(r407);
		ck_assert_int_eq(answer_after((int)strlen(r407)), 0);
		snprintf(want, sizeof(want),
			 "CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n"
			 "Proxy-Authorization: Negotiate tok%u\r\n\r\n",
			 up.rounds);
		proxy_expects(want);
	}
	proxy_says(r407);
	r = answer_after((int)strlen(r407));
	ck_assert_int_eq(r, -EPROTO);
	ck_assert_str_eq(up.error, "malformed Negotiate exchange with the proxy");
	ck_assert_str_eq(up.detail, "too many authentication rounds");
}
END_TEST

START_TEST(body_407_discarded)
{
	const char *head = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate cont1\r\nContent-Length: 10\r\n\r\n";
	const char *ok = "HTTP/1.1 200 OK\r\n\r\n";

	connect_sent();
	proxy_says(head);
	proxy_says("01234");
	ck_assert_int_eq(answer_after((int)strlen(head) + 5), 0);
	ck_assert_uint_eq(up.discard, 5);
	ck_assert_uint_eq(up.rounds, 1); /* not before the body is gone */
	proxy_says("56789");
	ck_assert_int_eq(answer_after(5), 0);
	ck_assert_uint_eq(up.discard, 0);
	proxy_expects(CONNECT_TOK("tok2"));
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
	tunnel_bytes_are("");
}
END_TEST

START_TEST(close_after_407_reconnects)
{
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate cont1\r\nConnection: close\r\n\r\n";
	const char *ok = "HTTP/1.1 200 OK\r\n\r\n";

	connect_sent();
	proxy_says(r407);
	close(proxy);
	proxy = -1;
	/* Not reusable: the next round goes on a new connection. */
	ck_assert_int_eq(answer_after((int)strlen(r407)), UPSTREAM_RECONNECTING);
	ck_assert(!up.connected);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	wait_fd(conn.proxy.fd, POLLOUT);
	conn.proxy.flags |= SIDE_WRITABLE;
	ck_assert_int_eq(upstream_poll(&up), 1);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_TOK("tok2"));
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
}
END_TEST

START_TEST(mutual_failure)
{
	const char *ok = "HTTP/1.1 200 Connection established\r\n"
			 "Proxy-Authenticate: Negotiate forged\r\n\r\n";

	connect_sent();
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), -EACCES);
	ck_assert_str_eq(up.error, "proxy failed mutual authentication");
	/* The head was not taken: nothing of a tunnel that failed reaches anyone. */
	wait_avail(conn.proxy.fd, (int)strlen(ok));
}
END_TEST

START_TEST(refused)
{
	const char *no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";

	connect_sent();
	proxy_says(no);
	ck_assert_int_lt(answer_after((int)strlen(no)), 0);
	ck_assert_str_eq(up.error,
			 "the proxy refused the connection to www.example.org:443: 403 Forbidden");
}
END_TEST

START_TEST(oversized_head)
{
	char line[800];
	int i, sent = 0;

	connect_sent();
	proxy_says("HTTP/1.1 200 OK\r\n");
	sent = (int)strlen("HTTP/1.1 200 OK\r\n");
	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Pad: ", 7);
	line[sizeof(line) - 2] = '\r';
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 90; i++) { /* 72 KB in 90 fields, each well under the line cap */
		ck_assert_int_eq(write(proxy, line, sizeof(line)), (ssize_t)sizeof(line));
		sent += (int)sizeof(line);
	}
	ck_assert_int_gt(sent, KG_HTTP_HEAD_MAX);
	ck_assert_int_eq(answer_after(KG_HTTP_HEAD_MAX), -E2BIG);
	ck_assert_str_eq(up.error, "the proxy's answer is too large");
	ck_assert_str_eq(up.detail, "");
}
END_TEST

START_TEST(split_head)
{
	const char *ok = "HTTP/1.1 200 Connection established\r\nVia: 1.1 fake\r\n\r\nhello";
	size_t len = strlen(ok) - 5, i;

	connect_sent();
	for (i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;

		ck_assert_int_eq(write(proxy, ok + i, n), (ssize_t)n);
		if (i + n < len)
			ck_assert_int_eq(answer_after((int)(i + n)), 0); /* incomplete: wait */
	}
	proxy_says("hello");
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
	tunnel_bytes_are("hello");
}
END_TEST

START_TEST(closed_before_answering)
{
	connect_sent();
	close(proxy);
	proxy = -1;
	wait_fd(conn.proxy.fd, POLLIN);
	conn.proxy.flags |= SIDE_READABLE;
	ck_assert_int_eq(upstream_read_connect_answer(&up), -EPIPE);
	ck_assert_str_eq(up.error, "the proxy closed the connection before answering");
}
END_TEST

START_TEST(closed_inside_head)
{
	char why[UPSTREAM_REASON_MAX];

	connect_sent();
	proxy_says("HTTP/1.1 200 Conn");
	close(proxy);
	proxy = -1;
	/* A peek sees the bytes, not the end: the head stays incomplete, and request_timeout (the
	 * owner's timer) says so. */
	ck_assert_int_eq(answer_after(17), 0);
	ck_assert_uint_ne(conn.timer.deadline, 0);
	ck_assert_str_eq(upstream_no_answer(&up, why, sizeof(why)),
			 "the proxy did not answer within 5 s (request_timeout)");
}
END_TEST

/* Drive a connect to a port nobody listens on until it gives up; the attempts made. */
static unsigned connect_until_failure(int *ret)
{
	int r = upstream_connect(&up), i;

	for (i = 0; r == 0 && i < 50; i++) {
		if (up.retry_at) { /* the pause before the next attempt */
			uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

			ck_assert_uint_eq(conn.timer.deadline, up.retry_at);
			if (up.retry_at > now)
				usleep((useconds_t)(up.retry_at - now));
			r = upstream_on_timer(&up, kg_now_usec(CLOCK_MONOTONIC));
			continue;
		}
		wait_fd(conn.proxy.fd, POLLOUT);
		conn.proxy.flags |= SIDE_WRITABLE;
		r = upstream_poll(&up);
		ck_assert_int_le(r, 0);
	}
	*ret = r;
	return up.attempts;
}

START_TEST(connect_retries)
{
	char want[128];
	int r;

	close(lfd); /* nobody listens on lport any more */
	lfd = -1;
	ck_assert_uint_eq(connect_until_failure(&r), set.cfg.proxy.max_retries + 1);
	ck_assert_int_eq(r, -ECONNREFUSED);
	snprintf(want, sizeof(want), "proxy unreachable: http://127.0.0.1:%u: %s", lport,
		 strerror(ECONNREFUSED));
	ck_assert_str_eq(up.error, want);
	ck_assert_int_eq(conn.proxy.fd, -1);
	ck_assert_uint_eq(cl.n_fds, 0);
}
END_TEST

START_TEST(direct)
{
	int r;

	/* proxy.type none: straight to the original destination, no token, no request. */
	settings_for(KG_PROXY_NONE, 0);
	rig_conn_init(lport);
	ck_assert(!upstream_wants_token(&up));
	connect_up();
	upstream_set_target(&up, up.host, lport);
	ck_assert_int_eq(upstream_send_connect(&up), 1);
	ck_assert_uint_eq(n_submitted, 0);
	/* And unreachable, said as the destination. */
	upstream_close(&up);
	close(lfd);
	lfd = -1;
	set.cfg.proxy.max_retries = 0;
	rig_conn_init(lport);
	ck_assert_uint_eq(connect_until_failure(&r), 1);
	ck_assert_int_eq(r, -ECONNREFUSED);
	ck_assert_str_eq(up.error, "destination unreachable: Connection refused");
}
END_TEST

START_TEST(token_overdue_and_failed)
{
	struct auth_job *job;

	ck_assert_int_eq(upstream_request_token(&up), 0);
	connect_up();
	/* Connected, the token still out: its deadline is the upstream's timer. */
	ck_assert_uint_eq(upstream_due(&up), up.token_deadline);
	ck_assert_uint_eq(conn.timer.deadline, up.token_deadline);
	ck_assert_int_eq(upstream_on_timer(&up, up.token_deadline), -ETIMEDOUT);
	ck_assert_str_eq(up.error, "KDC unreachable (no Kerberos token within 5 s)");
	/* A failed job: the Kerberos sentence, for when the proxy asks. */
	job = submitted;
	submitted = NULL;
	job->r = -ENOENT;
	job->fail.code = NEGOTIATE_ERR_NO_TICKET;
	upstream_take_token(&up, job);
	ck_assert(up.auth_failed);
	ck_assert_ptr_null(up.tok.token);
	ck_assert_str_eq(up.auth_reason, "no Kerberos ticket: run kinit");
}
END_TEST

/* --- proxies that need no token (tokenless.h) ----------------------------------------------- */

#define CONNECT_BARE "CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n"

static void next_conn(uint16_t dst_port);
static int poll_once(void);

/* The worker could make no token (no ticket). */
static void token_fails(void)
{
	struct auth_job *job = submitted;

	ck_assert_ptr_nonnull(job);
	submitted = NULL;
	job->r = -ENOENT;
	job->fail.code = NEGOTIATE_ERR_NO_TICKET;
	upstream_take_token(&up, job);
	ck_assert(up.auth_failed);
}

/* Accept the upstream's next connection at the fake proxy. */
static void proxy_accepts(void)
{
	if (proxy >= 0)
		close(proxy);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	ck_assert_int_eq(poll_once(), 1);
}

static bool known_tokenless(void)
{
	return tokenless_known(&cl.tokenless, set.cfg.proxy.url, kg_now_usec(CLOCK_MONOTONIC));
}

/* A proxy that took a CONNECT without a token gets the next without one (and no token is
 * made); when it then answers 407, the tunnel makes a token and asks again on a new connection,
 * without failing, and the proxy is forgotten. */
START_TEST(tokenless_then_407)
{
	const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n";
	unsigned n;

	/* No ticket: the CONNECT goes without a token, the proxy takes it. */
	up.may_go_tokenless = true;
	ck_assert_int_eq(upstream_request_token(&up), 0);
	connect_up();
	token_fails();
	upstream_set_target(&up, "www.example.org", 443);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_BARE);
	ck_assert(!known_tokenless());
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
	ck_assert(known_tokenless());

	/* The next tunnel: no token is asked for, none is sent. */
	next_conn(443);
	up.may_go_tokenless = true;
	n = n_submitted;
	ck_assert_int_eq(upstream_request_token(&up), 0);
	ck_assert_uint_eq(n_submitted, n);
	ck_assert(up.token_ready && up.tokenless && !up.auth_failed);
	close(proxy);
	proxy = -1;
	connect_up();
	upstream_set_target(&up, "www.example.org", 443);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_BARE);

	/* Now it wants one: a token is made, a new connection carries it. */
	proxy_says(r407);
	ck_assert_int_eq(answer_after((int)strlen(r407)), UPSTREAM_RECONNECTING);
	ck_assert(!known_tokenless());
	ck_assert(!up.tokenless && !up.token_ready);
	ck_assert_uint_eq(n_submitted, n + 1);
	proxy_accepts();
	token_arrives("tok1");
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_TOK("tok1"));
	proxy_says(ok);
	ck_assert_int_eq(answer_after((int)strlen(ok)), UPSTREAM_OPEN);
	/* A 2xx to a CONNECT with a token teaches nothing. */
	ck_assert(!known_tokenless());
}
END_TEST

/* The memo itself: per URL, for TOKENLESS_TTL after the last 2xx, TOKENLESS_MAX proxies (the
 * oldest goes), never a URL it cannot hold whole; forget drops all. */
START_TEST(tokenless_memo)
{
	struct tokenless_memo m;
	char url[TOKENLESS_URL_MAX + 8];
	uint64_t t = 1000;
	unsigned i;

	memset(&m, 0, sizeof(m));
	ck_assert(!tokenless_known(&m, "http://a:1", t));
	tokenless_learn(&m, "http://a:1", t);
	ck_assert(tokenless_known(&m, "http://a:1", t));
	ck_assert(!tokenless_known(&m, "http://a:2", t));
	ck_assert(tokenless_known(&m, "http://a:1", t + TOKENLESS_TTL - 1));
	ck_assert(!tokenless_known(&m, "http://a:1", t + TOKENLESS_TTL));
	tokenless_learn(&m, "http://a:1", t + 10); /* a new 2xx: the minute starts again */
	ck_assert(tokenless_known(&m, "http://a:1", t + TOKENLESS_TTL));
	for (i = 0; i < TOKENLESS_MAX; i++) {
		snprintf(url, sizeof(url), "http://b%u:1", i);
		tokenless_learn(&m, url, t + 20 + i);
	}
	ck_assert(!tokenless_known(&m, "http://a:1", t + 30)); /* the oldest made room */
	ck_assert(tokenless_known(&m, "http://b0:1", t + 30));
	memset(url, 'x', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	tokenless_learn(&m, url, t);
	ck_assert(!tokenless_known(&m, url, t));
	tokenless_forget(&m);
	ck_assert(!tokenless_known(&m, "http://b0:1", t + 30));
}
END_TEST

/* Only an owner that handles the 407 goes without a token (a port-80 request does not), and a
 * 407 to a CONNECT sent without one for want of a ticket still fails with the Kerberos sentence
 * (and forgets the proxy). */
START_TEST(tokenless_only_when_allowed)
{
	const char *r407 = "HTTP/1.1 407 Proxy Authentication Required\r\n"
			   "Proxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n";
	unsigned n = n_submitted;

	tokenless_learn(&cl.tokenless, set.cfg.proxy.url, kg_now_usec(CLOCK_MONOTONIC));
	ck_assert_int_eq(upstream_request_token(&up), 0); /* may_go_tokenless not set */
	ck_assert_uint_eq(n_submitted, n + 1);
	ck_assert(!up.tokenless);
	connect_up();
	token_fails();
	upstream_set_target(&up, "www.example.org", 443);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_BARE);
	proxy_says(r407);
	ck_assert_int_eq(answer_after((int)strlen(r407)), -EACCES);
	ck_assert_str_eq(up.error, "no Kerberos ticket: run kinit");
	ck_assert(!known_tokenless());
}
END_TEST

/* --- routes: failover across a proxy.url list, DIRECT --------------------------------------- */

/* A bound socket that does not listen: connects to its port are refused until listen(). */
static int refusing_port(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*port = bound_port(fd);
	return fd;
}

static struct kg_route_entry proxy_entry(const char *host, uint16_t port)
{
	struct kg_route_entry e = {.kind = KG_ROUTE_PROXY, .port = port};

	snprintf(e.host, sizeof(e.host), "%s", host);
	return e;
}

/* The settings' route: the proxies at ports[0..n) on 127.0.0.1, then DIRECT if with_direct. */
static void route_of_ports(const uint16_t *ports, size_t n, bool with_direct)
{
	size_t i;

	memset(&set.route, 0, sizeof(set.route));
	for (i = 0; i < n; i++) {
		set.route.e[set.route.n++] = proxy_entry("127.0.0.1", ports[i]);
		/* and the configuration's text of it, which the sentences quote */
		snprintf(i ? set.cfg.proxy.more_urls[i - 1] : set.cfg.proxy.url, KG_URL_MAX,
			 "http://127.0.0.1:%u", ports[i]);
	}
	set.cfg.proxy.n_more_urls = n ? (unsigned)n - 1 : 0;
	if (with_direct)
		set.route.e[set.route.n++] = (struct kg_route_entry){.kind = KG_ROUTE_DIRECT};
	memset(set.route_addrlen, 0, sizeof(set.route_addrlen));
}

/* A new connection of the same client (its failover marks kept). */
static void next_conn(uint16_t dst_port)
{
	upstream_cleanup(&up);
	relay_side_close(&cl, &conn.proxy);
	memset(&conn, 0, sizeof(conn));
	conn.app.fd = -1;
	conn.proxy.fd = -1;
	conn.set = &set;
	conn.dst_ip[10] = conn.dst_ip[11] = 0xff;
	conn.dst_ip[12] = 127;
	conn.dst_ip[15] = 1;
	conn.dst_port = dst_port;
	upstream_init(&up, &cl, &conn);
}

/* Whether a connection waits to be accepted on fd (a listener). */
static bool pending(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* Poll the connect once the kernel has answered it (what epoll would say). */
static int poll_once(void)
{
	ck_assert_int_ge(conn.proxy.fd, 0);
	wait_fd(conn.proxy.fd, POLLOUT);
	conn.proxy.flags |= SIDE_WRITABLE;
	return upstream_poll(&up);
}

/* The list is tried in order: the first proxy gets the connection, the second nothing. */
static char ports_text[256];

START_TEST(route_in_order)
{
	int second;
	uint16_t ports[2] = {lport, 0};
	char via[UPSTREAM_VIA_MAX];

	second = refusing_port(&ports[1]);
	ck_assert_int_eq(listen(second, 8), 0);
	route_of_ports(ports, 2, false);
	next_conn(443);
	ck_assert_ptr_eq(up.route, &set.route);
	ck_assert_uint_eq(up.idx, 0);
	ck_assert_int_eq(upstream_request_token(&up), 0);
	connect_up();
	ck_assert(!pending(second));
	ck_assert_int_gt(upstream_describe(&up, via, sizeof(via)), 0);
	snprintf(ports_text, sizeof(ports_text), "via 127.0.0.1:%u", lport);
	ck_assert_str_eq(via, ports_text);
	close(second);
}
END_TEST

/* The first proxy refuses: marked down, the second is used at once (no retry on the first while
 * another is left), with a token for it; the next connection does not contact the first. */
START_TEST(first_refused_second_used)
{
	uint16_t ports[2];
	int first;
	char via[UPSTREAM_VIA_MAX];
	uint64_t now;

	first = refusing_port(&ports[0]);
	ports[1] = lport;
	route_of_ports(ports, 2, false);
	set.cfg.proxy.max_retries = 3;
	next_conn(443);
	ck_assert_uint_eq(up.idx, 0);
	ck_assert_int_eq(upstream_request_token(&up), 0);
	ck_assert_uint_eq(n_submitted, 1);
	ck_assert_int_eq(upstream_connect(&up), 0);
	/* The refusal arrives: over to the second proxy, a new connection and a new token. */
	ck_assert_int_eq(poll_once(), 0);
	ck_assert_uint_eq(up.idx, 1);
	ck_assert_uint_eq(up.attempts, 1);
	ck_assert_uint_eq(n_submitted, 2);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	ck_assert_int_eq(poll_once(), 1);
	now = kg_now_usec(CLOCK_MONOTONIC);
	ck_assert(kg_failover_is_down(&cl.failover, &set.route.e[0], now));
	ck_assert(!kg_failover_is_down(&cl.failover, &set.route.e[1], now));
	ck_assert_int_gt(upstream_describe(&up, via, sizeof(via)), 0);
	snprintf(ports_text, sizeof(ports_text), "via 127.0.0.1:%u (127.0.0.1:%u down)", ports[1],
		 ports[0]);
	ck_assert_str_eq(via, ports_text);
	/* The sentences name the proxy now tried, as the configuration wrote it. */
	snprintf(ports_text, sizeof(ports_text), "http://127.0.0.1:%u", ports[1]);
	ck_assert_str_eq(upstream_peer(&up, via, sizeof(via)), ports_text);
	token_arrives("tok2");
	upstream_set_target(&up, "www.example.org", 443);
	ck_assert_int_eq(upstream_send_connect(&up), 0);
	proxy_expects(CONNECT_TOK("tok2"));

	/* The next connection goes to the second first; the first (listening now) sees nothing. */
	ck_assert_int_eq(listen(first, 8), 0);
	close(proxy);
	proxy = -1;
	next_conn(443);
	ck_assert_uint_eq(up.idx, 1);
	connect_up();
	ck_assert(!pending(first));
	close(first);
}
END_TEST

/* Every proxy down: tried in route order all the same. */
START_TEST(all_down_tried_in_order)
{
	uint16_t ports[2];
	int second;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

	ports[0] = lport;
	second = refusing_port(&ports[1]);
	ck_assert_int_eq(listen(second, 8), 0);
	route_of_ports(ports, 2, false);
	next_conn(443);
	kg_failover_mark_down(&cl.failover, &set.route.e[1], now);
	kg_failover_mark_down(&cl.failover, &set.route.e[0], now);
	next_conn(443);
	ck_assert_uint_eq(up.idx, 0);
	connect_up(); /* accepted on the first */
	ck_assert(!pending(second));
	/* and it is up again */
	ck_assert(!kg_failover_is_down(&cl.failover, &set.route.e[0], now));
	ck_assert(kg_failover_is_down(&cl.failover, &set.route.e[1], now));
	close(second);
}
END_TEST

/* Every proxy refuses: the last one gets max_retries, and the sentence names it. */
START_TEST(all_refuse)
{
	uint16_t ports[2];
	int fds[2], r;
	char want[160];

	fds[0] = refusing_port(&ports[0]);
	fds[1] = refusing_port(&ports[1]);
	route_of_ports(ports, 2, false);
	set.cfg.proxy.max_retries = 2;
	next_conn(443);
	/* 1 on the first, then 1 + max_retries on the second */
	ck_assert_uint_eq(connect_until_failure(&r), 3);
	ck_assert_int_eq(r, -ECONNREFUSED);
	ck_assert_uint_eq(up.idx, 1);
	snprintf(want, sizeof(want), "proxy unreachable: http://127.0.0.1:%u: %s", ports[1],
		 strerror(ECONNREFUSED));
	ck_assert_str_eq(up.error, want);
	ck_assert_int_eq(conn.proxy.fd, -1);
	ck_assert_uint_eq(cl.n_fds, 0);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* No answer within connection_timeout moves on too. */
START_TEST(timeout_moves_on)
{
	uint16_t ports[2];
	int second;

	ports[0] = lport;
	second = refusing_port(&ports[1]);
	ck_assert_int_eq(listen(second, 8), 0);
	route_of_ports(ports, 2, false);
	next_conn(443);
	ck_assert_int_eq(upstream_connect(&up), 0);
	/* The first never said it connected: connection_timeout ends. */
	ck_assert_int_eq(upstream_on_timer(&up, up.connect_deadline), 0);
	ck_assert_uint_eq(up.idx, 1);
	wait_fd(second, POLLIN);
	ck_assert(kg_failover_is_down(&cl.failover, &set.route.e[0], kg_now_usec(CLOCK_MONOTONIC)));
	close(second);
}
END_TEST

/* fallback = "direct": no proxy answers, the destination is reached directly, without token. */
START_TEST(direct_fallback)
{
	uint16_t ports[1];
	int first;

	first = refusing_port(&ports[0]);
	route_of_ports(ports, 1, true);
	next_conn(lport); /* the origin is the listener */
	ck_assert(upstream_wants_token(&up));
	ck_assert_int_eq(upstream_request_token(&up), 0);
	ck_assert_int_eq(upstream_connect(&up), 0);
	ck_assert_int_eq(poll_once(), 0);
	ck_assert_uint_eq(up.idx, 1);
	ck_assert(!upstream_wants_token(&up));
	ck_assert(up.token_ready);
	ck_assert_ptr_null(up.tok.token);
	ck_assert_ptr_null(up.tok.job);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	ck_assert_int_eq(poll_once(), 1);
	ck_assert(!up.to_proxy);
	upstream_set_target(&up, "www.example.org", lport);
	ck_assert_int_eq(upstream_send_connect(&up), 1); /* nothing to ask: it is the tunnel */
	close(first);
}
END_TEST

/* A route of the caller's (a PAC answer) replaces the settings' one; an HTTPS entry is tried as
 * an https proxy (issue 14) and, refused, failed over like any proxy; a token is made for the
 * proxy tried, by its host. */
START_TEST(own_route)
{
	struct kg_route r = {0};
	uint16_t ports[1];
	int refusing;
	char via[UPSTREAM_VIA_MAX];

	refusing = refusing_port(&ports[0]);
	route_of_ports(ports, 1, false); /* the settings' route would be refused */
	r.e[r.n++] =
	    (struct kg_route_entry){.kind = KG_ROUTE_HTTPS, .host = "127.0.0.1", .port = ports[0]};
	r.e[r.n++] = proxy_entry("localhost", lport);
	next_conn(443);
	upstream_set_route(&up, &r);
	ck_assert_ptr_eq(up.route, &r);
	ck_assert_uint_eq(up.idx, 0);
	ck_assert_ptr_eq(up.ops, &upstream_https_proxy_ops);
	token_host = "localhost";
	ck_assert_int_eq(upstream_connect(&up), 0);
	ck_assert_int_eq(poll_once(), 0); /* refused: over to the next entry */
	ck_assert_uint_eq(up.idx, 1);
	ck_assert_ptr_eq(up.ops, &upstream_http_proxy_ops);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	ck_assert_int_eq(poll_once(), 1);
	snprintf(ports_text, sizeof(ports_text), "http://localhost:%u", lport);
	ck_assert_str_eq(upstream_peer(&up, via, sizeof(via)), ports_text);
	close(refusing);

	/* Nothing usable: a sentence, not a crash. */
	r.n = 0;
	next_conn(443);
	upstream_set_route(&up, &r);
	ck_assert_int_eq(upstream_connect(&up), -ENOENT);
	ck_assert_str_eq(up.error, "no usable proxy in the route");
}
END_TEST

/* --- https proxies (issue 14) ---------------------------------------------------------------- */

static int proxy_ups, proxy_downs; /* cl.proxy_result's calls */

static void count_result(struct kg_client *c __attribute__((unused)), bool connected)
{
	if (connected)
		proxy_ups++;
	else
		proxy_downs++;
}

/* proxy.type https at the fake proxy: TCP as for http, then the handshake. */
static void https_conn(unsigned timeout)
{
	settings_for(KG_PROXY_HTTPS, lport);
	snprintf(set.cfg.proxy.url, sizeof(set.cfg.proxy.url), "https://127.0.0.1:%u", lport);
	snprintf(set.proxy.scheme, sizeof(set.proxy.scheme), "https");
	/* the settings' route, as the client builds it from proxy.url */
	set.route.e[0] = proxy_entry("127.0.0.1", lport);
	set.route.e[0].kind = KG_ROUTE_HTTPS;
	set.route.n = 1;
	set.cfg.proxy.connection_timeout = timeout;
	next_conn(443);
	cl.proxy_result = count_result;
	proxy_ups = proxy_downs = 0;
	ck_assert_ptr_eq(up.ops, &upstream_https_proxy_ops);
	ck_assert_int_eq(upstream_request_token(&up), 0);
	ck_assert_int_eq(upstream_connect(&up), 0);
	proxy = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(proxy, 0);
	/* TCP is up, the ClientHello is out: not connected until the handshake is done, and
	 * not up for failover or the policy either. */
	ck_assert_int_eq(poll_once(), 0);
	ck_assert(!up.connected);
	ck_assert_int_eq(proxy_ups, 0);
	wait_avail(proxy, 5);
}

/* A proxy that takes the TCP connection and never answers the handshake: connection_timeout
 * covers both, and the sentence says it was TLS. */
START_TEST(https_handshake_times_out)
{
	char want[256];

	https_conn(1);
	ck_assert_uint_eq(conn.timer.deadline, up.connect_deadline);
	ck_assert_uint_eq(upstream_due(&up), up.connect_deadline);
	ck_assert_int_eq(upstream_on_timer(&up, up.connect_deadline), -ETIMEDOUT);
	snprintf(want, sizeof(want),
		 "TLS handshake with the proxy failed: https://127.0.0.1:%u did not complete it "
		 "within 1 s (connection_timeout)",
		 lport);
	ck_assert_str_eq(up.error, want);
	ck_assert_int_eq(conn.proxy.fd, -1);
	ck_assert_uint_eq(cl.n_fds, 0);
}
END_TEST

/* Clear text on the TLS port (Squid's http_port): the handshake fails with its sentence, at
 * once, and the proxy is not tried again (nor in clear text). */
START_TEST(https_clear_text_answer)
{
	https_conn(5);
	proxy_says("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
	wait_fd(conn.proxy.fd, POLLIN);
	conn.proxy.flags |= SIDE_READABLE;
	ck_assert_int_lt(upstream_poll(&up), 0);
	ck_assert_msg(strstr(up.error, "TLS handshake with the proxy failed: the proxy answered in "
				       "clear text") == up.error,
		      "%s", up.error);
	ck_assert_uint_eq(up.attempts, 1);
	ck_assert_int_eq(conn.proxy.fd, -1);
	ck_assert(!pending(lfd));
	ck_assert_int_eq(proxy_ups, 0); /* never up, not even between TCP and the handshake */
}
END_TEST

/* A PAC's route comes with its proxies resolved by the engine (route.resolved): the connect
 * uses those addresses and looks nothing up (the names here would not resolve), and a proxy
 * whose name did not resolve is a failed proxy: marked down, the next entry tried at once. */
START_TEST(resolved_route_needs_no_lookup)
{
	struct kg_route r = {0};
	uint64_t now;

	route_of_ports(&lport, 1, false);
	r.resolved = true;
	r.e[r.n++] = proxy_entry("gone.pac.invalid", 3128); /* addr family 0: did not resolve */
	r.e[r.n] = proxy_entry("proxy.pac.invalid", lport);
	r.e[r.n].addr.family = 4;
	memcpy(r.e[r.n].addr.bytes, (const uint8_t[]){127, 0, 0, 1}, 4);
	r.n++;
	next_conn(443);
	upstream_set_route(&up, &r);
	ck_assert_uint_eq(up.idx, 0);
	token_host = "proxy.pac.invalid"; /* the failover asks a token for the second */
	connect_up();
	ck_assert_uint_eq(up.idx, 1);
	now = kg_now_usec(CLOCK_MONOTONIC);
	ck_assert(kg_failover_is_down(&cl.failover, &r.e[0], now));
	ck_assert(!kg_failover_is_down(&cl.failover, &r.e[1], now));

	/* Only a proxy that did not resolve: the connection fails with the sentence. */
	r.n = 1;
	kg_failover_init(&cl.failover);
	next_conn(443);
	upstream_set_route(&up, &r);
	ck_assert_int_eq(upstream_connect(&up), -EHOSTUNREACH);
	ck_assert_str_eq(up.error, "proxy unreachable: cannot resolve gone.pac.invalid");
}
END_TEST

static Suite *upstream_suite(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("connect");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, multi_round_407);
	tcase_add_test(tc, rejected_407);
	tcase_add_test(tc, too_many_rounds);
	tcase_add_test(tc, body_407_discarded);
	tcase_add_test(tc, close_after_407_reconnects);
	tcase_add_test(tc, mutual_failure);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, oversized_head);
	tcase_add_test(tc, split_head);
	tcase_add_test(tc, closed_before_answering);
	tcase_add_test(tc, closed_inside_head);
	tcase_add_test(tc, connect_retries);
	tcase_add_test(tc, direct);
	tcase_add_test(tc, token_overdue_and_failed);
	tcase_add_test(tc, tokenless_then_407);
	tcase_add_test(tc, tokenless_memo);
	tcase_add_test(tc, tokenless_only_when_allowed);
	tcase_add_test(tc, route_in_order);
	tcase_add_test(tc, first_refused_second_used);
	tcase_add_test(tc, all_down_tried_in_order);
	tcase_add_test(tc, all_refuse);
	tcase_add_test(tc, timeout_moves_on);
	tcase_add_test(tc, direct_fallback);
	tcase_add_test(tc, own_route);
	tcase_add_test(tc, https_handshake_times_out);
	tcase_add_test(tc, https_clear_text_answer);
	tcase_add_test(tc, resolved_route_needs_no_lookup);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(upstream_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
