/* The rig of test_tunnel and test_forward (see fake_proxy.h): the fake Kerberos worker and token
 * source, the fake proxy's listener, and helpers that run the real loop while waiting. */
#include "tests/unit/fake_proxy.h"
#include "client/ipc_client.h"

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
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "client/auth/authq.h"
#include "client/settings.h"
#include "shared/log.h"
#include "shared/netutil.h"

#define RIG_WAIT_MS  5000 /* what a test waits for at most */
#define RIG_MAX_JOBS 64

struct rig rig;

/* --- the fake Kerberos worker and token source ---------------------------------------------- */

struct negotiate_ctx {
	int steps;
};

static struct auth_job *jobs[RIG_MAX_JOBS]; /* submitted, not delivered yet */
static unsigned n_jobs, token_serial;

struct auth_job *authq_submit(const struct authq_request *req, authq_done_fn *done, void *owner)
{
	struct auth_job *job;

	/* The token is asked for the connection's proxy. */
	ck_assert_str_eq(req->proxy_host, "127.0.0.1");
	ck_assert_uint_lt(n_jobs, RIG_MAX_JOBS);
	job = calloc(1, sizeof(*job));
	ck_assert_ptr_nonnull(job);
	job->done = done;
	job->owner = owner;
	jobs[n_jobs++] = job;
	rig.jobs_submitted++;
	return job;
}

/* As the real queue does for a job already being made: detached, freed when it comes back. */
void authq_cancel(struct auth_job *job)
{
	job->done = NULL;
	rig.jobs_cancelled++;
}

unsigned authq_backlog(const struct auth_job *job)
{
	(void)job;
	return 0; /* the fake worker is never behind */
}

void authq_job_free(struct auth_job *job)
{
	if (!job)
		return;
	negotiate_free(job->ctx);
	free(job->token);
	free(job);
	rig.jobs_freed++;
}

void negotiate_free(struct negotiate_ctx *ctx)
{
	free(ctx);
}

/* "cont*" from the proxy continues, "good" is its valid final token, anything else rejects. */
int negotiate_step(struct negotiate_ctx *ctx, enum negotiate_answer answer,
		   const char *server_token, char **ret_token, struct negotiate_failure *fail)
{
	*ret_token = NULL;
	ctx->steps++;
	if (answer == NEGOTIATE_ANSWER_CHALLENGE && strncmp(server_token, "cont", 4) == 0) {
		*ret_token = strdup("next");
		return *ret_token ? 0 : -ENOMEM;
	}
	if (answer == NEGOTIATE_ANSWER_SUCCESS && strcmp(server_token, "good") == 0)
		return 0;
	fail->code =
	    answer == NEGOTIATE_ANSWER_SUCCESS ? NEGOTIATE_ERR_MUTUAL : NEGOTIATE_ERR_REJECTED;
	return -EACCES;
}

static void finish_job(struct auth_job *job, bool ok)
{
	char tok[32];

	if (!job->done) { /* its connection went away: the loop frees it */
		authq_job_free(job);
		return;
	}
	if (ok) {
		snprintf(tok, sizeof(tok), "tok%u", ++token_serial);
		job->r = 0;
		job->ctx = calloc(1, sizeof(*job->ctx));
		job->token = strdup(tok);
		ck_assert(job->ctx && job->token);
	} else {
		job->r = -ENOENT;
		job->fail.code = NEGOTIATE_ERR_NO_TICKET;
	}
	job->done(&rig.cl, job);
}

static void deliver(bool ok)
{
	struct auth_job *batch[RIG_MAX_JOBS];
	unsigned i, n = n_jobs;

	/* done may submit new jobs: those wait for the next delivery. */
	memcpy(batch, jobs, n * sizeof(batch[0]));
	n_jobs = 0;
	for (i = 0; i < n; i++)
		finish_job(batch[i], ok);
}

void rig_auth_deliver(void)
{
	deliver(rig.auth_mode != RIG_AUTH_FAIL);
}

unsigned rig_auth_pending(void)
{
	return n_jobs;
}

/* Once per loop pass, like the worker's eventfd. */
static void pass_hook(void *arg)
{
	(void)arg;
	if (rig.auth_mode != RIG_AUTH_MANUAL)
		rig_auth_deliver();
}

/* --- settings, loop, listener ---------------------------------------------------------------- */

struct client_settings *rig_settings(enum kg_proxy_type type, uint16_t port)
{
	struct client_settings *set = calloc(1, sizeof(*set));

	ck_assert_ptr_nonnull(set);
	set->refs = 1;
	set->cfg.proxy.type = type;
	snprintf(set->cfg.proxy.url, sizeof(set->cfg.proxy.url), "http://127.0.0.1:%u", port);
	snprintf(set->proxy.scheme, sizeof(set->proxy.scheme), "http");
	snprintf(set->proxy.host, sizeof(set->proxy.host), "127.0.0.1");
	set->proxy.port = port;
	set->cfg.proxy.connection_timeout = 5;
	set->cfg.proxy.request_timeout = 5;
	set->cfg.proxy.max_retries = 0;
	set->cfg.client.sniff_hostname = true;
	client_settings_unref(rig.cl.set);
	rig.set = rig.cl.set = set;
	return set;
}

static const struct conn_ops *rig_way_out_ops;

static const struct conn_ops *way_out(struct kg_client *cl, const struct relay_conn *c)
{
	(void)cl;
	(void)c;
	return rig_way_out_ops;
}

void rig_setup(enum kg_proxy_type type, const struct conn_ops *way_out_ops)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	memset(&rig, 0, sizeof(rig));
	n_jobs = 0;
	token_serial = 0;
	rig.cl.fd_cap = 100;
	snprintf(rig.cl.uid_str, sizeof(rig.cl.uid_str), "%u", (unsigned)getuid());

	/* The journal: a file the test reads back. */
	unsetenv("JOURNAL_STREAM");
	snprintf(rig.log_path, sizeof(rig.log_path), "/tmp/kg-rig-log.XXXXXX");
	rig.log_fd = mkstemp(rig.log_path);
	ck_assert_int_ge(rig.log_fd, 0);
	ck_assert_int_eq(kg_log_open("rig", LOG_DEBUG, rig.log_path), 0);
	unlink(rig.log_path); /* read through rig.log_fd: nothing left behind, even by a failure */

	rig.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(rig.lfd, 0);
	ck_assert_int_eq(bind(rig.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(rig.lfd, 8), 0);
	ck_assert_int_eq(getsockname(rig.lfd, (struct sockaddr *)&sin, &len), 0);
	rig.lport = ntohs(sin.sin_port);
	rig_settings(type, rig.lport);

	ck_assert_int_eq(kg_loop_init(), 0);
	kg_loop_set_pass_hook(pass_hook, NULL);
	rig_way_out_ops = way_out_ops;
	conn_init(&rig.cl, way_out);
}

static void tls_stop(void);

void rig_teardown(void)
{
	tls_stop();
	conn_close_all(&rig.cl);
	rig_auth_deliver(); /* detached jobs are freed */
	kg_loop_cleanup();
	/* Nothing leaks past a connection's close: descriptors, jobs, counts. */
	ck_assert_uint_eq(rig.cl.n_fds, 0);
	ck_assert_uint_eq(rig.cl.tunnels_active, 0);
	ck_assert_uint_eq(rig.jobs_freed, rig.jobs_submitted);
	client_settings_unref(rig.cl.set);
	rig.cl.set = rig.set = NULL;
	if (rig.lfd >= 0)
		close(rig.lfd);
	rig.lfd = -1;
	kg_log_close();
	close(rig.log_fd);
}

/* --- connections ------------------------------------------------------------------------------ */

int rig_open(uint16_t dst_port, const void *first, size_t first_len)
{
	static const uint8_t v4mapped_lo[16] = {0, 0, 0,    0,	  0,   0, 0, 0,
						0, 0, 0xff, 0xff, 127, 0, 0, 1};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	if (first_len)
		rig_send(sv[1], first, first_len);
	relay_conn_open(&rig.cl, sv[0], v4mapped_lo, dst_port);
	return sv[1];
}

bool rig_connection_pending(void)
{
	struct pollfd p = {.fd = rig.lfd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

static bool accept_ready(void *arg)
{
	(void)arg;
	return rig_connection_pending();
}

int rig_accept(void)
{
	int fd;

	ck_assert_msg(rig_run_until(accept_ready, NULL, RIG_WAIT_MS), "no connection to the proxy");
	fd = accept4(rig.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(fd, 0);
	return fd;
}

bool rig_run_until(bool (*cond)(void *arg), void *arg, int ms)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + (uint64_t)ms * 1000;

	while (!cond(arg)) {
		if (kg_now_usec(CLOCK_MONOTONIC) >= end)
			return false;
		ck_assert_int_eq(kg_loop_pass(5), 0);
	}
	return true;
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void rig_run_for(int ms)
{
	(void)rig_run_until(never, NULL, ms);
}

/* --- the test's ends of the sockets ----------------------------------------------------------- */

void rig_send(int fd, const void *p, size_t n)
{
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

void rig_send_str(int fd, const char *s)
{
	rig_send(fd, s, strlen(s));
}

/* One byte from fd, running the loop while none is there: 1, 0 at EOF, -1 at the deadline. */
static int read_byte(int fd, char *b, uint64_t end)
{
	for (;;) {
		ssize_t n = recv(fd, b, 1, MSG_DONTWAIT);

		if (n == 1)
			return 1;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return 0; /* EOF, or a reset: the peer is gone either way */
		if (kg_now_usec(CLOCK_MONOTONIC) >= end)
			return -1;
		ck_assert_int_eq(kg_loop_pass(5), 0);
	}
}

void rig_expect_bytes(int fd, const void *want, size_t n)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + RIG_WAIT_MS * 1000ull;
	char *got = calloc(1, n + 1);
	size_t i;

	ck_assert_ptr_nonnull(got);
	for (i = 0; i < n; i++)
		if (read_byte(fd, &got[i], end) != 1)
			break;
	ck_assert_msg(i == n && memcmp(got, want, n) == 0, "got %zu of %zu bytes, or others", i, n);
	free(got);
}

void rig_expect(int fd, const char *want)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + RIG_WAIT_MS * 1000ull;
	size_t i, n = strlen(want);
	char *got = calloc(1, n + 1);

	ck_assert_ptr_nonnull(got);
	for (i = 0; i < n; i++)
		if (read_byte(fd, &got[i], end) != 1)
			break;
	ck_assert_str_eq(got, want);
	free(got);
}

void rig_read_head(int fd, char *buf, size_t cap)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + RIG_WAIT_MS * 1000ull;
	size_t n = 0;

	while (n + 1 < cap) {
		ck_assert_msg(read_byte(fd, &buf[n], end) == 1, "head cut short after %zu bytes",
			      n);
		n++;
		if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	buf[n] = '\0';
	ck_assert_msg(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0, "no whole head: %s", buf);
}

size_t rig_read_to_eof(int fd, char *buf, size_t cap)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + RIG_WAIT_MS * 1000ull;
	size_t n = 0;
	int r = -1;

	while (n + 1 < cap && (r = read_byte(fd, &buf[n], end)) == 1)
		n++;
	buf[n] = '\0';
	ck_assert_msg(n + 1 < cap && r == 0, "no EOF after %zu bytes: %s", n, buf);
	return n;
}

bool rig_eof_within(int fd, int ms)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + (uint64_t)ms * 1000;
	char b;

	return read_byte(fd, &b, end) == 0;
}

/* --- the journal ------------------------------------------------------------------------------ */

bool rig_log_has(const char *s)
{
	char buf[16384];
	ssize_t n = pread(rig.log_fd, buf, sizeof(buf) - 1, 0);

	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* Link seam: the policy (client/policy.c, linked with tunnel.c and forward.c) may tell the
 * service that the user is off the network; no policy runs in these rigs, and no service. */
int ipc_client_set_direct(struct kg_client *cl, bool direct, const char *reason)
{
	(void)cl;
	(void)direct;
	(void)reason;
	return 0;
}

int fake_refusing_port(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* --- https proxies: TLS terminators in front of the listener ---------------------------------- */

#ifndef KG_TOP_SRCDIR
#define KG_TOP_SRCDIR "."
#endif
#define RIG_TLS_MAX 4

static char certdir[PATH_MAX];
static pid_t tls_pids[RIG_TLS_MAX];
static unsigned n_tls;
static int tls_report = -1, tls_report_w = -1; /* the terminators' reports, a line each */
static struct rig_tls_report tls_seen;

static int run_wait(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void certs_make(void)
{
	ck_assert_msg(certdir[0], "the test's main() did not call rig_tls_certs_make()");
}

void rig_tls_certs_remove(void)
{
	if (certdir[0])
		run_wait((char *const[]){"rm", "-rf", certdir, NULL});
	certdir[0] = '\0';
}

void rig_tls_certs_make(void)
{
	const char *top = getenv("top_srcdir");
	char helper[PATH_MAX];

	snprintf(helper, sizeof(helper), "%s/tests/lib/tlscerts.sh", top ? top : KG_TOP_SRCDIR);
	snprintf(certdir, sizeof(certdir), "%s/kg-rig-tls.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(certdir)) {
		perror("mkdtemp");
		exit(99);
	}
	if (run_wait((char *const[]){"bash", helper, certdir, "proxy.kgtest.test", NULL}) != 0) {
		fprintf(stderr, "%s failed (needs the openssl CLI)\n", helper);
		rig_tls_certs_remove();
		exit(99);
	}
}

static void tls_stop(void)
{
	unsigned i;

	for (i = 0; i < n_tls; i++) {
		kill(tls_pids[i], SIGTERM);
		waitpid(tls_pids[i], NULL, 0);
	}
	n_tls = 0;
	if (tls_report >= 0)
		close(tls_report);
	if (tls_report_w >= 0)
		close(tls_report_w);
	tls_report = tls_report_w = -1;
	tls_seen = (struct rig_tls_report){0};
}

/* The first bytes the terminator read from the client, as they crossed the wire. */
static char wire[65536];
static size_t wire_len;

static long wire_capture(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
			 int ret, size_t *processed)
{
	size_t n;

	(void)b;
	(void)len;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed) {
		n = *processed < sizeof(wire) - wire_len ? *processed : sizeof(wire) - wire_len;
		memcpy(wire + wire_len, argp, n);
		wire_len += n;
	}
	return ret;
}

static void tell(int rep, const char *s)
{
	ssize_t n = (ssize_t)strlen(s);

	if (write(rep, s, (size_t)n) != n)
		_exit(3);
}

static void tell_wire(int rep)
{
	if (memmem(wire, wire_len, "Proxy-Authorization", 19))
		tell(rep, "clear-token\n");
}

/* One TLS connection: its clear text to and from a plain connection to the rig's listener. */
static void terminate(SSL_CTX *sctx, int cfd, uint16_t plain_port, int rep)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(plain_port)};
	bool from_tls = true, from_plain = true;
	char buf[16384];
	SSL *ssl = SSL_new(sctx);
	BIO *raw = BIO_new_socket(cfd, BIO_NOCLOSE);
	int pfd;

	alarm(60); /* a test that went wrong does not leave this behind */
	if (!ssl || !raw)
		_exit(2);
	BIO_set_callback_ex(raw, wire_capture);
	SSL_set_bio(ssl, raw, raw);
	if (SSL_accept(ssl) != 1) {
		struct pollfd p = {.fd = cfd, .events = POLLIN};
		ssize_t n;

		/* Whatever the client still sends after a failed handshake counts too. */
		while (poll(&p, 1, 500) > 0 && (n = read(cfd, buf, sizeof(buf))) > 0 &&
		       wire_len + (size_t)n <= sizeof(wire)) {
			memcpy(wire + wire_len, buf, (size_t)n);
			wire_len += (size_t)n;
		}
		tell_wire(rep);
		tell(rep, "fail\n");
		_exit(0);
	}
	pfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pfd < 0 || connect(pfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		_exit(2);
	while (from_tls || from_plain) {
		struct pollfd p[2] = {{.fd = cfd, .events = from_tls ? POLLIN : 0},
				      {.fd = pfd, .events = from_plain ? POLLIN : 0}};
		int n;

		if (!(from_tls && SSL_pending(ssl) > 0) && poll(p, 2, -1) < 0)
			_exit(2);
		if (from_tls && (SSL_pending(ssl) > 0 || p[0].revents)) {
			n = SSL_read(ssl, buf, sizeof(buf));
			if (n > 0) {
				if (write(pfd, buf, (size_t)n) != n)
					_exit(2);
			} else {
				shutdown(pfd, SHUT_WR); /* close_notify (or the end): FIN */
				from_tls = false;
			}
		}
		if (from_plain && p[1].revents) {
			n = (int)read(pfd, buf, sizeof(buf));
			if (n == RIG_TLS_RESET_LEN && memcmp(buf, RIG_TLS_RESET, (size_t)n) == 0) {
				struct linger l = {.l_onoff = 1, .l_linger = 0};

				/* The proxy resets mid-transfer: no close_notify, an RST. */
				setsockopt(cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
				close(cfd);
				tell_wire(rep);
				tell(rep, "ok\n");
				_exit(0);
			}
			if (n > 0) {
				if (SSL_write(ssl, buf, n) != n)
					_exit(2);
			} else {
				SSL_shutdown(ssl); /* FIN: close_notify */
				from_plain = false;
			}
		}
	}
	tell_wire(rep);
	tell(rep, "ok\n");
	_exit(0);
}

static uint16_t tls_proxy(const char *name, bool mtls);

uint16_t rig_tls_proxy(const char *name)
{
	return tls_proxy(name, false);
}

uint16_t rig_tls_proxy_mtls(const char *name)
{
	return tls_proxy(name, true);
}

const char *rig_tls_file(const char *name)
{
	static char path[PATH_MAX + 64];

	certs_make();
	snprintf(path, sizeof(path), "%s/%s", certdir, name);
	return path;
}

static uint16_t tls_proxy(const char *name, bool mtls)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char crt[PATH_MAX + 64], key[PATH_MAX + 64];
	int lfd, p[2];
	SSL_CTX *sctx;
	pid_t pid;

	ck_assert_uint_lt(n_tls, RIG_TLS_MAX);
	certs_make();
	snprintf(crt, sizeof(crt), "%s/%s.pem", certdir, name);
	snprintf(key, sizeof(key), "%s/%s.key", certdir, name);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	if (tls_report < 0) {
		ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
		tls_report = p[0];
		tls_report_w = p[1];
		fcntl(tls_report, F_SETFL, O_NONBLOCK);
	}
	pid = fork();
	if (pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid > 0) {
		close(lfd);
		tls_pids[n_tls++] = pid;
		return ntohs(a.sin_port);
	}
	/* The child: check's handlers are not ours; connections are served each by its own. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	alarm(120); /* and never outlives a test that went wrong */
	sctx = SSL_CTX_new(TLS_server_method());
	if (!sctx || SSL_CTX_use_certificate_chain_file(sctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
		_exit(2);
	if (mtls) {
		snprintf(crt, sizeof(crt), "%s/ca.pem", certdir);
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		if (SSL_CTX_load_verify_locations(sctx, crt, NULL) != 1)
			_exit(2);
		SSL_CTX_set_client_CA_list(sctx, SSL_load_client_CA_file(crt));
	}
	for (;;) {
		int cfd = accept(lfd, NULL, NULL);

		if (cfd < 0)
			_exit(2);
		if (fork() == 0) {
			close(lfd);
			terminate(sctx, cfd, rig.lport, tls_report_w);
		}
		close(cfd);
	}
}

struct client_settings *rig_tls_settings(uint16_t port)
{
	struct client_settings *set = rig_settings(KG_PROXY_HTTPS, port);

	certs_make();
	snprintf(set->cfg.proxy.url, sizeof(set->cfg.proxy.url), "https://127.0.0.1:%u", port);
	snprintf(set->proxy.scheme, sizeof(set->proxy.scheme), "https");
	snprintf(set->cfg.proxy.ca_file, sizeof(set->cfg.proxy.ca_file), "%s/ca.pem", certdir);
	return set;
}

struct rig_tls_report rig_tls_reports(unsigned conns)
{
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + RIG_WAIT_MS * 1000ull;
	static char line[64];
	static size_t len;
	char c;

	while (tls_report >= 0 && tls_seen.ok + tls_seen.failed < conns) {
		if (read(tls_report, &c, 1) != 1) {
			if (kg_now_usec(CLOCK_MONOTONIC) >= end)
				break;
			ck_assert_int_eq(kg_loop_pass(5), 0);
			continue;
		}
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		if (strcmp(line, "ok") == 0)
			tls_seen.ok++;
		else if (strcmp(line, "fail") == 0)
			tls_seen.failed++;
		else if (strcmp(line, "clear-token") == 0)
			tls_seen.clear_token = true;
	}
	return tls_seen;
}

/* A TLS ClientHello naming host (server_name extension), as a browser sends it. */
size_t rig_client_hello(const char *host, uint8_t *out, size_t cap)
{
	size_t hl = strlen(host), n = 0, body;
	size_t ext_len = 2 + 2 + 2 + 1 + 2 + hl; /* type, len, list len, name type, name len */
	size_t hs_len = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + ext_len;

	body = 4 + hs_len;
	if (5 + body > cap)
		abort();
	out[n++] = 0x16; /* handshake record, TLS 1.0 on the record layer */
	out[n++] = 3;
	out[n++] = 1;
	out[n++] = (uint8_t)(body >> 8);
	out[n++] = (uint8_t)body;
	out[n++] = 1; /* ClientHello */
	out[n++] = 0;
	out[n++] = (uint8_t)(hs_len >> 8);
	out[n++] = (uint8_t)hs_len;
	out[n++] = 3; /* TLS 1.2 */
	out[n++] = 3;
	memset(out + n, 0x5a, 32); /* random */
	n += 32;
	out[n++] = 0; /* no session id */
	out[n++] = 0; /* one cipher suite */
	out[n++] = 2;
	out[n++] = 0x13;
	out[n++] = 0x01;
	out[n++] = 1; /* null compression */
	out[n++] = 0;
	out[n++] = (uint8_t)(ext_len >> 8);
	out[n++] = (uint8_t)ext_len;
	out[n++] = 0; /* server_name */
	out[n++] = 0;
	out[n++] = (uint8_t)((ext_len - 4) >> 8);
	out[n++] = (uint8_t)(ext_len - 4);
	out[n++] = (uint8_t)((hl + 3) >> 8);
	out[n++] = (uint8_t)(hl + 3);
	out[n++] = 0; /* host_name */
	out[n++] = (uint8_t)(hl >> 8);
	out[n++] = (uint8_t)hl;
	memcpy(out + n, host, hl);
	return n + hl;
}

bool rig_no_conns(void *arg)
{
	(void)arg;
	return rig.cl.conns == NULL;
}
