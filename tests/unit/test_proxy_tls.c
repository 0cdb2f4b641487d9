/* proxy_tls.c (TLS to an HTTPS proxy) against a TLS server of the test's own on 127.0.0.1.
 *
 * The certificates are made once per run by tests/lib/tlscerts.sh (openssl CLI) in a temporary
 * directory that is removed at the end: a test CA, the proxy's certificate for PROXY_NAME, one
 * from a CA nobody trusts, an expired one, one for another name, one for the address 127.0.0.1,
 * and a client certificate.
 * The server is a forked child with a blocking OpenSSL server (or a clear-text one) that
 * reports per connection, through a pipe, what it saw: the SNI, whether the session was
 * resumed, the bytes, the client's close_notify (or it cuts the connection mid-transfer). The
 * client drives its handshake, reads and writes non-blockingly through poll(), as the relay's
 * loop will.
 *
 * Unprivileged; no network beyond 127.0.0.1.
 */
#include "client/proxy_tls.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#ifndef KG_TOP_SRCDIR
#define KG_TOP_SRCDIR "."
#endif

#define PROXY_NAME "proxy.kgtest.test"
#define WAIT_MS	   5000

static char certdir[PATH_MAX];

static const char *cert(const char *name)
{
	static char paths[8][PATH_MAX + 32];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", certdir, name);
	return p;
}

static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void certs_make(void)
{
	const char *top = getenv("top_srcdir");
	char helper[PATH_MAX];

	snprintf(helper, sizeof(helper), "%s/tests/lib/tlscerts.sh", top ? top : KG_TOP_SRCDIR);
	snprintf(certdir, sizeof(certdir), "%s/kg-tls.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(certdir)) {
		perror("mkdtemp");
		exit(99);
	}
	if (run((char *const[]){"bash", helper, certdir, PROXY_NAME, NULL}) != 0) {
		fprintf(stderr, "%s failed (needs the openssl CLI)\n", helper);
		exit(99);
	}
}

static void certs_remove(void)
{
	if (certdir[0])
		run((char *const[]){"rm", "-rf", certdir, NULL});
	certdir[0] = '\0';
}

/* --- the test's TLS server ------------------------------------------------------------------ */

enum srv_mode {
	SRV_ECHO,  /* "ping\n" -> "pong\n"; the client's close_notify -> "bye\n" and ours */
	SRV_CLEAR, /* answers in clear text at once */
	SRV_OLD,   /* TLS 1.1 at most */
	SRV_TLS12, /* SRV_ECHO in TLS 1.2 */
	SRV_RESET, /* "data\n", then a reset */
	SRV_FIN,   /* "data\n", then TCP FIN without close_notify */
	SRV_SQUID, /* asks for a client certificate, closes cleanly without one (Squid) */
	SRV_CLOSE, /* closes at once */
	SRV_RST,   /* resets at once */
	SRV_BYTES, /* answers with bytes that are neither TLS nor text */
	SRV_BULK,  /* "ping\n" -> three full records and close_notify */
	SRV_SINK,  /* reads nothing for a while, then all until close_notify: "got N sum S" */
};

struct srv {
	pid_t pid;
	int report; /* the child's reports, one line per event */
	uint16_t port;
};

static struct srv srv = {.pid = -1, .report = -1};

static void say(int fd, const char *s)
{
	ssize_t n = (ssize_t)strlen(s);

	if (write(fd, s, (size_t)n) != n)
		_exit(3);
}

static void serve_one(SSL_CTX *sctx, int cfd, enum srv_mode mode, int rep)
{
	char buf[64], line[256];
	const char *sni;
	SSL *ssl;
	int n;

	if (mode == SRV_CLOSE || mode == SRV_RST) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};

		struct pollfd pfd = {.fd = cfd, .events = POLLIN};

		/* after the whole ClientHello arrived: unread bytes would turn a close into a
		 * reset */
		while (poll(&pfd, 1, 200) == 1 && read(cfd, buf, sizeof(buf)) > 0)
			;
		if (mode == SRV_RST)
			setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		say(rep, "closed\n");
		return;
	}
	if (mode == SRV_BYTES) {
		static const unsigned char junk[] = {0x00, 0x01, 0x02, 0x03,
						     0x04, 0x05, 0x06, 0x07};

		if (write(cfd, junk, sizeof(junk)) < 0)
			_exit(3);
		while (read(cfd, buf, sizeof(buf)) > 0)
			;
		say(rep, "closed\n");
		return;
	}
	if (mode == SRV_CLEAR) {
		const char *a = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

		if (write(cfd, a, strlen(a)) < 0)
			_exit(3);
		while (read(cfd, buf, sizeof(buf)) > 0)
			;
		say(rep, "closed\n");
		return;
	}
	ssl = SSL_new(sctx);
	SSL_set_fd(ssl, cfd);
	if (SSL_accept(ssl) != 1) {
		say(rep, "handshake failed\n");
		SSL_free(ssl);
		return;
	}
	if (mode == SRV_RESET || mode == SRV_FIN) {
		struct linger l = {.l_onoff = 1, .l_linger = 0};

		SSL_write(ssl, "data\n", 5);
		usleep(100000);
		if (mode == SRV_RESET)
			setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		say(rep, "cut\n");
		SSL_free(ssl);
		return;
	}
	if (mode == SRV_SQUID && !SSL_get0_peer_certificate(ssl)) {
		SSL_shutdown(ssl);
		say(rep, "handshake failed\n");
		SSL_free(ssl);
		return;
	}
	if (mode == SRV_BULK) {
		static char rec[16384];

		memset(rec, 'b', sizeof(rec));
		if (SSL_read(ssl, buf, sizeof(buf)) <= 0)
			_exit(3);
		for (n = 0; n < 3; n++)
			if (SSL_write(ssl, rec, sizeof(rec)) != (int)sizeof(rec))
				_exit(3);
		SSL_shutdown(ssl);
		say(rep, "sent\n");
		SSL_free(ssl);
		return;
	}
	if (mode == SRV_SINK) {
		static unsigned char in[16384];
		unsigned long long total = 0, sum = 0;

		usleep(300000); /* the client's writes fill the socket meanwhile */
		while ((n = SSL_read(ssl, in, sizeof(in))) > 0)
			for (int i = 0; i < n; i++, total++)
				sum += in[i];
		snprintf(line, sizeof(line), "got %llu sum %llu%s\n", total, sum,
			 SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ? " close_notify" : "");
		say(rep, line);
		SSL_shutdown(ssl);
		SSL_free(ssl);
		return;
	}
	sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	snprintf(line, sizeof(line), "sni=%s reused=%d\n", sni ? sni : "(none)",
		 SSL_session_reused(ssl));
	say(rep, line);
	for (;;) {
		n = SSL_read(ssl, buf, sizeof(buf) - 1);
		if (n <= 0)
			break;
		buf[n] = '\0';
		snprintf(line, sizeof(line), "got %s", buf);
		say(rep, line);
		if (!strcmp(buf, "ping\n"))
			SSL_write(ssl, "pong\n", 5);
	}
	if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
		/* the client's half-close: our direction still works */
		say(rep, "close_notify\n");
		SSL_write(ssl, "bye\n", 4);
		SSL_shutdown(ssl);
	} else {
		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		snprintf(line, sizeof(line), "read failed %s\n", buf);
		say(rep, line);
	}
	SSL_free(ssl);
}

/* A server for conns connections with the certificate crt (and its key). */
static void srv_start(const char *crt, enum srv_mode mode, bool require_client, int conns)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char key[PATH_MAX];
	int lfd, p[2], i, cfd;
	SSL_CTX *sctx;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	srv.port = ntohs(a.sin_port);
	ck_assert_int_eq(pipe(p), 0);
	srv.pid = fork();
	if (srv.pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (srv.pid > 0) {
		close(lfd);
		close(p[1]);
		srv.report = p[0];
		return;
	}
	close(p[0]);
	signal(SIGTERM, SIG_DFL); /* not check's handler, which would pass it on to the test */
	sctx = SSL_CTX_new(TLS_server_method());
	snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(crt) - 4), crt);
	if (!sctx || SSL_CTX_use_certificate_chain_file(sctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
		_exit(2);
	if (mode == SRV_OLD) {
		SSL_CTX_set_security_level(sctx, 0);
		SSL_CTX_set_cipher_list(sctx, "DEFAULT:@SECLEVEL=0");
		SSL_CTX_set_min_proto_version(sctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(sctx, TLS1_1_VERSION);
	}
	if (mode == SRV_SQUID)
		require_client = true;
	if (mode == SRV_TLS12) {
		SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
		mode = SRV_ECHO;
	}
	if (require_client) {
		SSL_CTX_set_verify(sctx,
				   SSL_VERIFY_PEER |
				       (mode == SRV_SQUID ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
				   NULL);
		if (SSL_CTX_load_verify_locations(sctx, cert("ca.pem"), NULL) != 1)
			_exit(2);
		SSL_CTX_set_client_CA_list(sctx, SSL_load_client_CA_file(cert("ca.pem")));
	}
	for (i = 0; i < conns; i++) {
		cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			_exit(2);
		serve_one(sctx, cfd, mode, p[1]);
		close(cfd);
	}
	SSL_CTX_free(sctx);
	_exit(0);
}

/* The server's reports so far (it ended, or WAIT_MS passed). */
static const char *srv_reports(void)
{
	static char all[2048];
	size_t got = 0;
	ssize_t n;
	struct pollfd pfd = {.fd = srv.report, .events = POLLIN};

	while (got < sizeof(all) - 1 && poll(&pfd, 1, WAIT_MS) > 0) {
		n = read(srv.report, all + got, sizeof(all) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	all[got] = '\0';
	return all;
}

static void srv_stop(void)
{
	int status;

	if (srv.pid > 0) {
		kill(srv.pid, SIGKILL);
		waitpid(srv.pid, &status, 0);
	}
	if (srv.report >= 0)
		close(srv.report);
	srv.pid = -1;
	srv.report = -1;
}

/* --- the client, non-blocking ---------------------------------------------------------------- */

static int tcp_connect(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(srv.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ck_assert_int_eq(errno, EINPROGRESS);
		ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	}
	return fd;
}

static void wait_for(int fd, enum proxy_tls_status want)
{
	struct pollfd pfd = {.fd = fd, .events = want == PROXY_TLS_WANT_READ ? POLLIN : POLLOUT};

	ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "no socket event within %d ms", WAIT_MS);
}

static enum proxy_tls_status handshake(struct proxy_tls *t, int fd)
{
	enum proxy_tls_status st;

	while ((st = proxy_tls_handshake(t)) > PROXY_TLS_DONE)
		wait_for(fd, st);
	return st;
}

static ssize_t tls_read(struct proxy_tls *t, int fd, char *buf, size_t n)
{
	ssize_t r;

	while ((r = proxy_tls_read(t, buf, n)) == -EAGAIN)
		wait_for(fd, proxy_tls_want(t));
	if (r > 0)
		buf[r] = '\0';
	return r;
}

static void tls_write(struct proxy_tls *t, int fd, const char *s)
{
	size_t off = 0;
	ssize_t r;

	while (off < strlen(s)) {
		r = proxy_tls_write(t, s + off, strlen(s) - off);
		if (r == -EAGAIN) {
			wait_for(fd, proxy_tls_want(t));
			continue;
		}
		ck_assert_msg(r > 0, "write: %zd (%s)", r, proxy_tls_error(t));
		off += (size_t)r;
	}
}

static struct proxy_tls_ctx *ctx_with(const char *ca, const char *ccert, const char *ckey)
{
	struct proxy_tls_opts o = {.ca_file = ca, .client_cert = ccert, .client_key = ckey};
	struct proxy_tls_ctx *ctx = NULL;
	char err[PROXY_TLS_ERROR_MAX];

	ck_assert_msg(proxy_tls_ctx_new(&o, &ctx, err, sizeof(err)) == 0, "%s", err);
	return ctx;
}

/* A session to the server as host, after the handshake: its result in *st. */
static struct proxy_tls *session(struct proxy_tls_ctx *ctx, const char *host, int *fd,
				 enum proxy_tls_status *st)
{
	char err[PROXY_TLS_ERROR_MAX];
	struct proxy_tls *t;

	*fd = tcp_connect();
	t = proxy_tls_new(ctx, *fd, host, srv.port, err, sizeof(err));
	ck_assert_msg(t != NULL, "%s", err);
	*st = handshake(t, *fd);
	return t;
}

/* The handshake with the server's certificate crt fails with a sentence starting with want. */
static void expect_refused(const char *crt, enum srv_mode mode, const char *host, const char *ca,
			   const char *want)
{
	struct proxy_tls_ctx *ctx = ctx_with(ca, NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	int fd;

	srv_start(cert(crt), mode, false, 1);
	t = session(ctx, host, &fd, &st);
	ck_assert_int_eq(st, PROXY_TLS_ERROR);
	fprintf(stderr, "# %s: %s [%s]\n", crt, proxy_tls_error(t), proxy_tls_detail(t));
	ck_assert_msg(!strncmp(proxy_tls_error(t), want, strlen(want)),
		      "sentence \"%s\", want \"%s...\"", proxy_tls_error(t), want);
	ck_assert_str_ne(proxy_tls_detail(t), "");
	/* nothing ever goes out in clear after a refusal */
	ck_assert_int_lt(proxy_tls_write(t, "secret", 6), 0);
	proxy_tls_free(t);
	close(fd);
	ck_assert_ptr_nonnull(strstr(srv_reports(), "handshake failed"));
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}

/* --- tests ---------------------------------------------------------------------------------- */

START_TEST(handshake_bytes_and_half_close)
{
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	int fd;

	srv_start(cert("server.pem"), SRV_ECHO, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	ck_assert(!proxy_tls_resumed(t));
	/* the suite is the system policy's choice, "TLSv1.3 TLS_AES_256_GCM_SHA384" by default */
	ck_assert_msg(!strncmp(proxy_tls_cipher(t, buf, sizeof(buf)), "TLSv1.3 TLS_", 12), "%s",
		      buf);
	tls_write(t, fd, "ping\n");
	/* a short read leaves the rest inside OpenSSL, where no socket event announces it */
	ck_assert_int_eq(tls_read(t, fd, buf, 2), 2);
	ck_assert_str_eq(buf, "po");
	ck_assert(proxy_tls_pending(t));
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 3);
	ck_assert_str_eq(buf, "ng\n");
	ck_assert(!proxy_tls_pending(t));
	/* half-close: close_notify goes out, the proxy's direction still delivers */
	ck_assert_int_eq(proxy_tls_shutdown(t), PROXY_TLS_DONE);
	ck_assert_int_eq(proxy_tls_write(t, "x", 1), -EPIPE);
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 4);
	ck_assert_str_eq(buf, "bye\n");
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 0); /* its close_notify */
	proxy_tls_free(t);
	close(fd);
	ck_assert_str_eq(srv_reports(), "sni=" PROXY_NAME " reused=0\ngot ping\nclose_notify\n");
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(address_literal)
{
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	int fd;

	/* an IP literal is checked against the certificate's IP address, and sends no SNI */
	srv_start(cert("ip.pem"), SRV_ECHO, false, 1);
	t = session(ctx, "127.0.0.1", &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	tls_write(t, fd, "ping\n");
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
	proxy_tls_free(t);
	close(fd);
	ck_assert_ptr_nonnull(strstr(srv_reports(), "sni=(none) reused=0\n"));
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(untrusted_ca)
{
	expect_refused("untrusted.pem", SRV_ECHO, PROXY_NAME, cert("ca.pem"),
		       "proxy certificate not trusted (issuer CN=KG Untrusted CA; not a CA of "
		       "proxy.ca_file)");
}
END_TEST

START_TEST(not_in_system_store)
{
	expect_refused("server.pem", SRV_ECHO, PROXY_NAME, NULL,
		       "proxy certificate not trusted (issuer CN=KG Test Proxy CA; not a CA of "
		       "the system store)");
}
END_TEST

START_TEST(name_mismatch)
{
	expect_refused("wrong.pem", SRV_ECHO, PROXY_NAME, cert("ca.pem"),
		       "proxy name mismatch (certificate for wrong." PROXY_NAME ", not " PROXY_NAME
		       ")");
}
END_TEST

START_TEST(hostile_name_escaped)
{
	/* the certificate's bytes reach the sentence (the 502 page of port 80, too) escaped */
	expect_refused(
	    "hostile.pem", SRV_ECHO, PROXY_NAME, cert("ca.pem"),
	    "proxy name mismatch (certificate for evil\\x1b[2Jname.example, not " PROXY_NAME ")");
}
END_TEST

START_TEST(address_mismatch)
{
	/* an IP literal is checked as an address, and sends no SNI */
	expect_refused("server.pem", SRV_ECHO, "127.0.0.1", cert("ca.pem"),
		       "proxy name mismatch (certificate for " PROXY_NAME ", not 127.0.0.1)");
}
END_TEST

START_TEST(expired)
{
	expect_refused("expired.pem", SRV_ECHO, PROXY_NAME, cert("ca.pem"),
		       "proxy certificate expired (not valid after Jan  2 00:00:00 2020 GMT)");
}
END_TEST

START_TEST(not_yet_valid)
{
	expect_refused(
	    "future.pem", SRV_ECHO, PROXY_NAME, cert("ca.pem"),
	    "proxy certificate not yet valid (not valid before Jan  1 00:00:00 2099 GMT; "
	    "is the clock right?)");
}
END_TEST

/* A peer that is no TLS server at all: the sentence, and nothing sent in clear. */
static void expect_broken(enum srv_mode mode, const char *want)
{
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	int fd;

	srv_start(cert("server.pem"), mode, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_int_eq(st, PROXY_TLS_ERROR);
	fprintf(stderr, "# mode %d: %s [%s]\n", mode, proxy_tls_error(t), proxy_tls_detail(t));
	ck_assert_str_eq(proxy_tls_error(t), want);
	ck_assert_int_lt(proxy_tls_write(t, "secret", 6), 0);
	proxy_tls_free(t);
	close(fd);
	ck_assert_str_eq(srv_reports(), "closed\n");
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}

START_TEST(closed_in_handshake)
{
	expect_broken(SRV_CLOSE,
		      "TLS handshake with the proxy failed: the proxy closed the connection");
}
END_TEST

START_TEST(reset_in_handshake)
{
	expect_broken(SRV_RST, "TLS handshake with the proxy failed: Connection reset by peer");
}
END_TEST

START_TEST(not_tls_not_text)
{
	expect_broken(
	    SRV_BYTES,
	    "TLS handshake with the proxy failed: wrong version number (is it a TLS port?)");
}
END_TEST

START_TEST(cache_bounds)
{
	struct proxy_tls_opts o = {.ca_file = cert("ca.pem"), .cache_max = 1};
	struct proxy_tls_ctx *ctx = NULL;
	char err[PROXY_TLS_ERROR_MAX], buf[64];
	enum proxy_tls_status st;
	struct proxy_tls *t;
	uint16_t i;
	int fd;

	ck_assert_int_eq(proxy_tls_ctx_new(&o, &ctx, err, sizeof(err)), 0);
	/* one server, but PROXY_TLS_PROXIES + 1 proxies as far as the cache can tell (the port is
	 * only the cache's key once connected) */
	srv_start(cert("server.pem"), SRV_ECHO, false, PROXY_TLS_PROXIES + 1);
	for (i = 1; i <= PROXY_TLS_PROXIES + 1; i++) {
		fd = tcp_connect();
		t = proxy_tls_new(ctx, fd, PROXY_NAME, i, err, sizeof(err));
		ck_assert_ptr_nonnull(t);
		st = handshake(t, fd);
		ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
		tls_write(t, fd, "ping\n");
		ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
		/* the server sends two tickets: one is kept */
		ck_assert_uint_eq(proxy_tls_ctx_cached(ctx, PROXY_NAME, i), 1);
		proxy_tls_free(t);
		close(fd);
	}
	/* the least recently used proxy's sessions went */
	ck_assert_uint_eq(proxy_tls_ctx_cached(ctx, PROXY_NAME, 1), 0);
	ck_assert_uint_eq(proxy_tls_ctx_cached(ctx, PROXY_NAME, 2), 1);
	ck_assert_uint_eq(proxy_tls_ctx_cached(ctx, PROXY_NAME, PROXY_TLS_PROXIES + 1), 1);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(old_protocol)
{
	expect_refused(
	    "server.pem", SRV_OLD, PROXY_NAME, cert("ca.pem"),
	    "TLS handshake with the proxy failed: the proxy offers no TLS version of 1.2 "
	    "or later (");
}
END_TEST

START_TEST(clear_text_on_tls_port)
{
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	int fd;

	srv_start(cert("server.pem"), SRV_CLEAR, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_int_eq(st, PROXY_TLS_ERROR);
	ck_assert_str_eq(proxy_tls_error(t),
			 "TLS handshake with the proxy failed: the proxy answered in clear text "
			 "(\"HTTP/1.1 400 Bad Request\"), not TLS: is it an http:// proxy?");
	ck_assert_int_lt(proxy_tls_write(t, "secret", 6), 0);
	proxy_tls_free(t);
	close(fd);
	ck_assert_str_eq(srv_reports(), "closed\n");
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(mtls_with_key)
{
	struct proxy_tls_ctx *ctx =
	    ctx_with(cert("ca.pem"), cert("client.pem"), cert("client.key"));
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	int fd;

	srv_start(cert("server.pem"), SRV_ECHO, true, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	tls_write(t, fd, "ping\n");
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
	ck_assert_str_eq(buf, "pong\n");
	proxy_tls_free(t);
	close(fd);
	ck_assert_ptr_nonnull(strstr(srv_reports(), "got ping\n"));
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(mtls_without_key)
{
	/* _i: 0 TLS 1.3, 1 TLS 1.2 */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	ssize_t r = -EPROTO;
	int fd;

	srv_start(cert("server.pem"), _i ? SRV_TLS12 : SRV_ECHO, true, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	/* TLS 1.3: the client is done before the proxy has looked at its certificate; the proxy's
	 * alert arrives with the first read */
	if (st == PROXY_TLS_DONE) {
		while ((r = proxy_tls_write(t, "ping\n", 5)) == -EAGAIN)
			wait_for(fd, proxy_tls_want(t));
		if (r == 5)
			r = tls_read(t, fd, buf, sizeof(buf) - 1);
	}
	ck_assert_int_lt(r, 0);
	fprintf(stderr, "# no client certificate: %s [%s]\n", proxy_tls_error(t),
		proxy_tls_detail(t));
	ck_assert_str_eq(proxy_tls_error(t),
			 "TLS handshake with the proxy failed: the proxy requires a client "
			 "certificate (set proxy.client_cert and proxy.client_key)");
	proxy_tls_free(t);
	close(fd);
	ck_assert_ptr_nonnull(strstr(srv_reports(), "handshake failed"));
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(mtls_closed_without_key)
{
	/* a proxy that asks, and closes (close_notify, no alert) when no certificate comes */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	ssize_t r;
	int fd;

	srv_start(cert("server.pem"), SRV_SQUID, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	while ((r = proxy_tls_write(t, "ping\n", 5)) == -EAGAIN)
		wait_for(fd, proxy_tls_want(t));
	if (r == 5)
		r = tls_read(t, fd, buf, sizeof(buf) - 1);
	ck_assert_int_lt(r, 0);
	ck_assert_str_eq(proxy_tls_error(t),
			 "TLS handshake with the proxy failed: the proxy asked for a client "
			 "certificate and closed the connection without one (set proxy.client_cert "
			 "and proxy.client_key)");
	proxy_tls_free(t);
	close(fd);
	ck_assert_ptr_nonnull(strstr(srv_reports(), "handshake failed"));
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(bad_client_key)
{
	struct proxy_tls_opts o = {.ca_file = cert("ca.pem"),
				   .client_cert = cert("client.pem"),
				   .client_key = cert("server.key")};
	struct proxy_tls_ctx *ctx = NULL;
	char err[PROXY_TLS_ERROR_MAX];

	ck_assert_int_eq(proxy_tls_ctx_new(&o, &ctx, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(ctx);
	ck_assert_msg(strstr(err, "server.key does not match proxy.client_cert"), "%s", err);
	o.client_key = NULL;
	o.ca_file = cert("missing.pem");
	ck_assert_int_eq(proxy_tls_ctx_new(&o, &ctx, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "cannot read proxy.ca_file"), "%s", err);
}
END_TEST

START_TEST(cut_mid_transfer)
{
	/* _i: 0 the proxy resets, 1 it closes TCP without close_notify */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	int fd;

	srv_start(cert("server.pem"), _i ? SRV_FIN : SRV_RESET, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
	ck_assert_str_eq(buf, "data\n");
	ck_assert_str_eq(srv_reports(), "cut\n");
	if (_i == 0) {
		ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), -ECONNRESET);
		ck_assert_str_eq(
		    proxy_tls_error(t),
		    "the TLS connection to the proxy failed: Connection reset by peer");
	} else {
		ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), -EPIPE);
		ck_assert_str_eq(proxy_tls_error(t),
				 "the proxy closed the TLS connection without close_notify");
	}
	proxy_tls_free(t);
	close(fd);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(resumption)
{
	/* _i: 0 TLS 1.3 (a ticket is used once), 1 TLS 1.2 (a session is kept) */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	const char *rep;
	char buf[64];
	int fd, i;

	srv_start(cert("server.pem"), _i ? SRV_TLS12 : SRV_ECHO, false, 2);
	for (i = 0; i < 2; i++) {
		t = session(ctx, PROXY_NAME, &fd, &st);
		ck_assert_msg(st == PROXY_TLS_DONE, "handshake %d: %s", i, proxy_tls_error(t));
		ck_assert_int_eq(proxy_tls_resumed(t), i == 1);
		tls_write(t, fd, "ping\n");
		/* the proxy's tickets come in with its first data */
		ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
		ck_assert_int_ge(proxy_tls_ctx_cached(ctx, PROXY_NAME, srv.port), 1);
		ck_assert_int_eq(proxy_tls_ctx_cached(ctx, PROXY_NAME, srv.port + 1), 0);
		ck_assert_int_eq(proxy_tls_shutdown(t), PROXY_TLS_DONE);
		proxy_tls_free(t);
		close(fd);
	}
	rep = srv_reports();
	ck_assert_msg(strstr(rep, "reused=0\n") && strstr(rep, "reused=1\n"), "%s", rep);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(records_read_together)
{
	/* the three records and the close_notify are in the socket: one read takes all three */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	struct pollfd pfd = {.events = POLLIN};
	static char buf[64 * 1024];
	enum proxy_tls_status st;
	struct proxy_tls *t;
	int fd;

	srv_start(cert("server.pem"), SRV_BULK, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	tls_write(t, fd, "ping\n");
	pfd.fd = fd;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	usleep(200000); /* all of it on loopback */
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf)), 3 * 16384);
	ck_assert(buf[0] == 'b' && buf[3 * 16384 - 1] == 'b');
	ck_assert(!proxy_tls_pending(t));
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf)), 0);
	proxy_tls_free(t);
	close(fd);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(read_goes_on_until_the_socket_is_empty)
{
	/* a read takes what OpenSSL holds and then what the socket has, and says when it found
	 * the socket empty: the pump then waits for the next edge instead of asking again */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	enum proxy_tls_status st;
	struct proxy_tls *t;
	char buf[64];
	int fd;

	srv_start(cert("server.pem"), SRV_ECHO, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	tls_write(t, fd, "ping\n");
	ck_assert_int_eq(tls_read(t, fd, buf, 2), 2);
	ck_assert(!proxy_tls_starved(t)); /* the buffer was full: the socket was not asked */
	ck_assert_int_eq(proxy_tls_read(t, buf, sizeof(buf) - 1), 3);
	ck_assert(proxy_tls_starved(t));
	ck_assert_int_eq(proxy_tls_want(t), PROXY_TLS_WANT_READ);
	ck_assert_int_eq(proxy_tls_read(t, buf, sizeof(buf) - 1), -EAGAIN);
	ck_assert(!proxy_tls_starved(t)); /* no bytes: -EAGAIN says it */
	ck_assert_int_eq(proxy_tls_shutdown(t), PROXY_TLS_DONE);
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 4); /* "bye\n" */
	ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 0);
	proxy_tls_free(t);
	close(fd);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(write_takes_many_records)
{
	/* one write takes as many records as the socket does; when it is full, the bytes not
	 * reported written are retried and arrive once, in order */
	struct proxy_tls_ctx *ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	static unsigned char out[8 << 20];
	unsigned long long sum = 0;
	enum proxy_tls_status st;
	size_t off = 0, i;
	bool partial = false;
	struct proxy_tls *t;
	char want[96];
	ssize_t r;
	int fd;

	for (i = 0; i < sizeof(out); i++)
		sum += out[i] = (unsigned char)(i * 7 + i / 16411);
	srv_start(cert("server.pem"), SRV_SINK, false, 1);
	t = session(ctx, PROXY_NAME, &fd, &st);
	ck_assert_msg(st == PROXY_TLS_DONE, "handshake: %s", proxy_tls_error(t));
	r = proxy_tls_write(t, out, 64 * 1024);
	ck_assert_int_eq(r, 64 * 1024); /* four records in one call */
	off = (size_t)r;
	while (off < sizeof(out)) {
		r = proxy_tls_write(t, out + off, sizeof(out) - off);
		if (r == -EAGAIN) {
			wait_for(fd, proxy_tls_want(t));
			continue;
		}
		ck_assert_msg(r > 0, "write: %zd (%s)", r, proxy_tls_error(t));
		if ((size_t)r < sizeof(out) - off)
			partial = true;
		off += (size_t)r;
	}
	ck_assert(partial); /* the sink stalled: some write stopped at a full socket */
	while (proxy_tls_shutdown(t) != PROXY_TLS_DONE)
		wait_for(fd, proxy_tls_want(t));
	snprintf(want, sizeof(want), "got %zu sum %llu close_notify\n", sizeof(out), sum);
	ck_assert_str_eq(srv_reports(), want);
	proxy_tls_free(t);
	close(fd);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(resumption_off_for_benches)
{
	struct proxy_tls_ctx *ctx;
	enum proxy_tls_status st;
	struct proxy_tls *t;
	const char *rep;
	char buf[64];
	int fd, i;

	setenv("KG_TEST_NO_TLS_RESUMPTION", "1", 1);
	ctx = ctx_with(cert("ca.pem"), NULL, NULL);
	unsetenv("KG_TEST_NO_TLS_RESUMPTION");
	srv_start(cert("server.pem"), SRV_ECHO, false, 2);
	for (i = 0; i < 2; i++) {
		t = session(ctx, PROXY_NAME, &fd, &st);
		ck_assert_msg(st == PROXY_TLS_DONE, "handshake %d: %s", i, proxy_tls_error(t));
		ck_assert(!proxy_tls_resumed(t));
		tls_write(t, fd, "ping\n");
		ck_assert_int_eq(tls_read(t, fd, buf, sizeof(buf) - 1), 5);
		ck_assert_int_eq(proxy_tls_shutdown(t), PROXY_TLS_DONE);
		proxy_tls_free(t);
		close(fd);
	}
	rep = srv_reports();
	ck_assert_msg(!strstr(rep, "reused=1\n"), "%s", rep);
	srv_stop();
	proxy_tls_ctx_unref(ctx);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("proxy_tls");
	TCase *tc = tcase_create("tls");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, handshake_bytes_and_half_close);
	tcase_add_test(tc, records_read_together);
	tcase_add_test(tc, resumption_off_for_benches);
	tcase_add_test(tc, read_goes_on_until_the_socket_is_empty);
	tcase_add_test(tc, write_takes_many_records);
	tcase_add_test(tc, address_literal);
	tcase_add_test(tc, untrusted_ca);
	tcase_add_test(tc, not_in_system_store);
	tcase_add_test(tc, name_mismatch);
	tcase_add_test(tc, hostile_name_escaped);
	tcase_add_test(tc, address_mismatch);
	tcase_add_test(tc, expired);
	tcase_add_test(tc, not_yet_valid);
	tcase_add_test(tc, old_protocol);
	tcase_add_test(tc, closed_in_handshake);
	tcase_add_test(tc, reset_in_handshake);
	tcase_add_test(tc, not_tls_not_text);
	tcase_add_test(tc, cache_bounds);
	tcase_add_test(tc, clear_text_on_tls_port);
	tcase_add_test(tc, mtls_with_key);
	tcase_add_loop_test(tc, mtls_without_key, 0, 2);
	tcase_add_test(tc, mtls_closed_without_key);
	tcase_add_test(tc, bad_client_key);
	tcase_add_loop_test(tc, cut_mid_transfer, 0, 2);
	tcase_add_loop_test(tc, resumption, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	certs_make();
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	certs_remove();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
