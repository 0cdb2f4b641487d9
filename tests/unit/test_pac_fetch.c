/* Unit tests of the PAC fetch (src/client/route/pac_fetch.c) against a tiny HTTP server that
 * the test forks on 127.0.0.1 (no root, no network beyond loopback): 200, 404, 204, redirects
 * (to a PAC, in a loop, to file://), bodies over and at 1 MiB, a body that stalls past the
 * timeout, candidate lists, proxies in the environment (ignored), the asynchronous API and
 * cancellation; an https server with a self-signed certificate (python3 and openssl, made
 * by the test in a temporary directory), which must be refused; and, as root, a DNS server
 * that never answers, in network and mount namespaces of the test's own (its resolv.conf and
 * nsswitch.conf bind-mounted there): the timeout and a cancel must not wait for the lookup.
 */
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/route/pac_fetch.h"

#define PAC_TEXT "function FindProxyForURL(url, host) { return \"DIRECT\"; }\n"
#define MIB	 (1024 * 1024)

static pid_t server_pid = -1;
static int server_port;

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void send_head(int fd, const char *status, long len, const char *extra)
{
	char head[512];
	int n;

	if (len >= 0)
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %s\r\nContent-Length: %ld\r\n%sConnection: close\r\n\r\n",
			     status, len, extra);
	else
		n = snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sConnection: close\r\n\r\n",
			     status, extra);
	write_all(fd, head, (size_t)n);
}

static void send_filler(int fd, size_t n)
{
	static char block[65536];

	memset(block, 'x', sizeof(block));
	while (n > 0) {
		size_t k = n < sizeof(block) ? n : sizeof(block);

		write_all(fd, block, k);
		n -= k;
	}
}

/* One connection: read the request head, answer by path. */
static void serve(int fd)
{
	char req[4096], path[256] = "";
	size_t got = 0;
	ssize_t r;

	while (got < sizeof(req) - 1) {
		r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET %255s", path) != 1)
		return;
	if (!strcmp(path, "/ok.pac")) {
		send_head(fd, "200 OK", (long)strlen(PAC_TEXT), "");
		write_all(fd, PAC_TEXT, strlen(PAC_TEXT));
	} else if (!strcmp(path, "/missing")) {
		send_head(fd, "404 Not Found", 4, "");
		write_all(fd, "nope", 4);
	} else if (!strcmp(path, "/missing-big")) {
		send_head(fd, "404 Not Found", 2L * MIB, "");
		send_filler(fd, 2 * MIB);
	} else if (!strcmp(path, "/empty")) {
		send_head(fd, "204 No Content", -1, "");
	} else if (!strcmp(path, "/redirect")) {
		send_head(fd, "302 Found", 0, "Location: /ok.pac\r\n");
	} else if (!strcmp(path, "/loop")) {
		send_head(fd, "302 Found", 0, "Location: /loop\r\n");
	} else if (!strcmp(path, "/to-file")) {
		send_head(fd, "302 Found", 0, "Location: file:///etc/hostname\r\n");
	} else if (!strcmp(path, "/big")) {
		send_head(fd, "200 OK", 2L * MIB, "");
		send_filler(fd, 2 * MIB);
	} else if (!strcmp(path, "/big-nolength")) {
		send_head(fd, "200 OK", -1, "");
		send_filler(fd, 2 * MIB);
	} else if (!strcmp(path, "/exact")) {
		send_head(fd, "200 OK", MIB, "");
		send_filler(fd, MIB);
	} else if (!strcmp(path, "/slow")) {
		send_head(fd, "200 OK", 1000, "");
		write_all(fd, "function", 8);
		sleep(60);
	} else {
		send_head(fd, "500 Internal Server Error", 0, "");
	}
}

static void start_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int ls, c;

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 64), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	server_port = ntohs(a.sin_port);
	/* The child runs no check assertion: they write to the runner's message file, which the
	 * child shares (a forked child's message in it garbles the runner's reading). */
	server_pid = fork();
	if (server_pid == 0) {
		/* Gone with the runner, also when check aborts it before the teardown. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			c = accept(ls, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				serve(c);
				_exit(0);
			}
			close(c);
		}
	}
	ck_assert_int_ge(server_pid, 0);
	setpgid(server_pid, server_pid);
	close(ls);
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(-server_pid, SIGKILL);
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
}

static char *url(const char *path)
{
	static char buf[8][128];
	static int i;
	char *u = buf[i++ % 8];

	snprintf(u, sizeof(buf[0]), "http://127.0.0.1:%d%s", server_port, path);
	return u;
}

/* A loopback port nobody listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &alen), 0);
	close(s);
	return ntohs(a.sin_port);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void assert_printable(const char *msg)
{
	for (const char *p = msg; *p; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in \"%s\"", (unsigned char)*p,
			      msg);
}

static int fetch1(const char *u, unsigned timeout_s, struct kg_pac_fetch_result *res)
{
	const char *urls[] = {u};
	int r = kg_pac_fetch_run(urls, 1, timeout_s, res);

	assert_printable(res->msg);
	ck_assert_int_eq(r, res->r);
	ck_assert(r == 0 ? res->body != NULL && res->msg[0] == '\0'
			 : res->body == NULL && res->msg[0] != '\0');
	return r;
}

START_TEST(ok_200)
{
	struct kg_pac_fetch_result res;

	ck_assert_int_eq(fetch1(url("/ok.pac"), 5, &res), 0);
	ck_assert_uint_eq(res.len, strlen(PAC_TEXT));
	ck_assert_str_eq(res.body, PAC_TEXT);
	ck_assert_int_eq(res.http_status, 200);
	free(res.body);
}
END_TEST

START_TEST(not_found)
{
	struct kg_pac_fetch_result res;
	char want[128];

	ck_assert_int_eq(fetch1(url("/missing"), 5, &res), -ENOENT);
	snprintf(want, sizeof(want), "PAC %s answered HTTP 404", url("/missing"));
	ck_assert_str_eq(res.msg, want);
	ck_assert_int_eq(res.http_status, 404);
	/* A large error page is still an HTTP error, not "too large". */
	ck_assert_int_eq(fetch1(url("/missing-big"), 5, &res), -ENOENT);
	ck_assert_ptr_nonnull(strstr(res.msg, "answered HTTP 404"));
	/* 200 only: 204 (and any other status) is a failure. */
	ck_assert_int_eq(fetch1(url("/empty"), 5, &res), -ENOENT);
	ck_assert_ptr_nonnull(strstr(res.msg, "answered HTTP 204"));
	ck_assert_int_eq(fetch1(url("/other"), 5, &res), -ENOENT);
	ck_assert_ptr_nonnull(strstr(res.msg, "answered HTTP 500"));
}
END_TEST

START_TEST(redirects)
{
	struct kg_pac_fetch_result res;

	ck_assert_int_eq(fetch1(url("/redirect"), 5, &res), 0);
	ck_assert_str_eq(res.body, PAC_TEXT);
	free(res.body);
	ck_assert_int_eq(fetch1(url("/loop"), 5, &res), -ELOOP);
	ck_assert_ptr_nonnull(strstr(res.msg, "more than 10 redirects"));
	ck_assert_int_eq(fetch1(url("/to-file"), 5, &res), -EPROTONOSUPPORT);
	ck_assert_int_eq(fetch1("file:///etc/hostname", 5, &res), -EPROTONOSUPPORT);
	ck_assert_int_eq(fetch1("ftp://127.0.0.1/wpad.dat", 5, &res), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(size_limit)
{
	struct kg_pac_fetch_result res;
	char want[128];

	ck_assert_int_eq(fetch1(url("/big"), 10, &res), -EFBIG);
	snprintf(want, sizeof(want), "PAC %s is larger than 1 MiB", url("/big"));
	ck_assert_str_eq(res.msg, want);
	ck_assert_int_eq(fetch1(url("/big-nolength"), 10, &res), -EFBIG);
	ck_assert_ptr_nonnull(strstr(res.msg, "is larger than 1 MiB"));
	/* Exactly 1 MiB is allowed. */
	ck_assert_int_eq(fetch1(url("/exact"), 10, &res), 0);
	ck_assert_uint_eq(res.len, MIB);
	ck_assert_int_eq(res.body[MIB], '\0');
	free(res.body);
}
END_TEST

START_TEST(timeout_bounded)
{
	struct kg_pac_fetch_result res;
	double t0 = now_s();

	ck_assert_int_eq(fetch1(url("/slow"), 2, &res), -ETIMEDOUT);
	ck_assert_double_lt(now_s() - t0, 4.5);
	ck_assert_double_ge(now_s() - t0, 1.5);
	ck_assert_ptr_nonnull(strstr(res.msg, "not fetched within 2 s"));
}
END_TEST

START_TEST(no_proxy_ever)
{
	struct kg_pac_fetch_result res;
	char p[64];

	/* A proxy in the environment that would refuse: the fetch goes direct all the same. */
	snprintf(p, sizeof(p), "http://127.0.0.1:%d", closed_port());
	setenv("http_proxy", p, 1);
	setenv("HTTP_PROXY", p, 1);
	setenv("https_proxy", p, 1);
	setenv("ALL_PROXY", p, 1);
	setenv("all_proxy", p, 1);
	ck_assert_int_eq(fetch1(url("/ok.pac"), 5, &res), 0);
	free(res.body);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
}
END_TEST

START_TEST(candidates)
{
	struct kg_pac_fetch_result res;
	char refused[64];
	const char *three[3], *two[2];

	snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/wpad.dat", closed_port());
	three[0] = refused;
	three[1] = url("/missing");
	three[2] = url("/ok.pac");
	ck_assert_int_eq(kg_pac_fetch_run(three, 3, 5, &res), 0);
	ck_assert_uint_eq(res.url_index, 2);
	ck_assert_str_eq(res.body, PAC_TEXT);
	free(res.body);

	two[0] = url("/missing");
	two[1] = refused;
	ck_assert_int_eq(kg_pac_fetch_run(two, 2, 5, &res), -ECONNREFUSED);
	ck_assert_uint_eq(res.url_index, 1);
	ck_assert_ptr_nonnull(strstr(res.msg, "cannot connect"));

	ck_assert_int_eq(kg_pac_fetch_run(two, 0, 5, &res), -EINVAL);
	ck_assert_int_eq(fetch1("http://127.0.0.1:1/\001x", 5, &res) < 0, 1);
}
END_TEST

/* An https server on 127.0.0.1 whose certificate no system CA signed: refused. */
static const char tls_server[] =
    "import http.server, ssl, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.send_header('Content-Length', '2'); "
    "self.end_headers(); self.wfile.write(b'{}')\n"
    "    def log_message(self, *a): pass\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "c.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
    "print(s.server_address[1], flush=True)\n"
    "s.serve_forever()\n";

START_TEST(https_verified)
{
	char dir[] = "/tmp/kg-pac-tls-XXXXXX", cmd[512], cert[64], key[64], line[32], u[64];
	struct kg_pac_fetch_result res;
	int port = 0, p[2];
	pid_t pid;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
		 key, cert);
	if (system(cmd) != 0 || system("python3 -c 'import ssl' 2>/dev/null") != 0) {
		fprintf(stderr, "https_verified: no openssl or python3 here, not run\n");
		snprintf(cmd, sizeof(cmd), "rm -rf -- %s", dir);
		ck_assert_int_eq(system(cmd), 0);
		return;
	}
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) { /* no check assertion in the child (see start_server) */
		dup2(p[1], 1);
		close(p[0]);
		execlp("python3", "python3", "-c", tls_server, cert, key, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_ge(pid, 0);
	close(p[1]);
	f = fdopen(p[0], "r");
	ck_assert_ptr_nonnull(f);
	if (fgets(line, sizeof(line), f))
		port = atoi(line);
	fclose(f);
	if (port > 0) {
		snprintf(u, sizeof(u), "https://127.0.0.1:%d/ok.pac", port);
		fetch1(u, 10, &res);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf -- %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(res.r, -EPROTO);
	ck_assert_ptr_nonnull(strstr(res.msg, "TLS failed"));
}
END_TEST

static int done_calls;

static void on_done(void *ud, struct kg_pac_fetch_result *res);

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(dns_hang_bounded)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(53),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *urls[] = {"http://wpad.hang.example/wpad.dat"};
	char dir[] = "/tmp/kg-pac-dns-XXXXXX", rc[64], ns[64], cmd[128];
	struct kg_pac_fetch_result res;
	struct kg_pac_fetch *f;
	struct ifreq ifr;
	double t0;
	int s, dns;

	/* This test's process only (check forks one per test). */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "dns_hang_bounded: needs root (namespaces), not run\n");
		return;
	}
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	/* A DNS server that takes every query and never answers. */
	dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(dns, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(rc, sizeof(rc), "%s/resolv.conf", dir);
	snprintf(ns, sizeof(ns), "%s/nsswitch.conf", dir);
	put_file(rc, "nameserver 127.0.0.1\noptions timeout:5 attempts:3\n");
	put_file(ns, "hosts: files dns\n");
	ck_assert_int_eq(mount(rc, "/etc/resolv.conf", NULL, MS_BIND, NULL), 0);
	ck_assert_int_eq(mount(ns, "/etc/nsswitch.conf", NULL, MS_BIND, NULL), 0);
	/* The mounts keep the files: nothing is left behind, whatever fails below. */
	snprintf(cmd, sizeof(cmd), "rm -rf -- %s", dir);
	ck_assert_int_eq(system(cmd), 0);

	t0 = now_s();
	ck_assert_int_eq(fetch1(urls[0], 1, &res), -ETIMEDOUT);
	ck_assert_double_lt(now_s() - t0, 3.0);

	done_calls = 0;
	f = kg_pac_fetch_start(urls, 1, 30, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	usleep(300 * 1000);
	t0 = now_s();
	kg_pac_fetch_cancel(f);
	ck_assert_double_lt(now_s() - t0, 0.5);
	ck_assert_int_eq(done_calls, 0);

	umount2("/etc/resolv.conf", MNT_DETACH);
	umount2("/etc/nsswitch.conf", MNT_DETACH);
	close(dns);
}
END_TEST
static struct kg_pac_fetch_result done_res;

static void on_done(void *ud, struct kg_pac_fetch_result *res)
{
	ck_assert_ptr_eq(ud, &done_calls);
	done_calls++;
	done_res = *res;
}

START_TEST(async_done)
{
	const char *urls[] = {url("/redirect")};
	struct kg_pac_fetch *f;
	struct pollfd p;
	bool finished = false;

	done_calls = 0;
	f = kg_pac_fetch_start(urls, 1, 5, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	p.fd = kg_pac_fetch_fd(f);
	p.events = POLLIN;
	while (!finished) {
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		finished = kg_pac_fetch_dispatch(f);
	}
	ck_assert_int_eq(done_calls, 1);
	ck_assert_int_eq(done_res.r, 0);
	ck_assert_str_eq(done_res.body, PAC_TEXT);
	free(done_res.body);

	errno = 0;
	ck_assert_ptr_null(kg_pac_fetch_start(urls, 0, 5, on_done, NULL));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(cancel_prompt)
{
	const char *urls[] = {url("/slow")};
	struct kg_pac_fetch *f;
	double t0;

	done_calls = 0;
	f = kg_pac_fetch_start(urls, 1, 30, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	usleep(300 * 1000);
	t0 = now_s();
	kg_pac_fetch_cancel(f);
	ck_assert_double_lt(now_s() - t0, 0.5);
	ck_assert_int_eq(done_calls, 0);
	kg_pac_fetch_cancel(NULL);
}
END_TEST

/* ---- candidates made on the worker (kg_pac_fetch_start_list()) ---- */

static atomic_int list_calls, list_ended;
static bool list_on_worker;
static pthread_t list_caller;

static size_t list_three(void *arg, char **urls, size_t max, char *msg, size_t msg_sz)
{
	(void)msg;
	(void)msg_sz;
	ck_assert_ptr_eq(arg, &list_calls);
	ck_assert_uint_eq(max, KG_PAC_FETCH_MAX_URLS);
	list_on_worker = !pthread_equal(pthread_self(), list_caller);
	atomic_fetch_add(&list_calls, 1);
	urls[0] = strdup(url("/missing"));
	urls[1] = strdup(""); /* refused, dropped */
	urls[2] = strdup(url("/ok.pac"));
	return 3;
}

static size_t list_none(void *arg, char **urls, size_t max, char *msg, size_t msg_sz)
{
	(void)arg;
	(void)urls;
	(void)max;
	atomic_fetch_add(&list_calls, 1);
	snprintf(msg, msg_sz, "no candidate\there");
	return 0;
}

static size_t list_slow(void *arg, char **urls, size_t max, char *msg, size_t msg_sz)
{
	(void)arg;
	(void)max;
	(void)msg;
	(void)msg_sz;
	atomic_fetch_add(&list_calls, 1);
	usleep(800 * 1000);
	urls[0] = strdup(url("/ok.pac"));
	atomic_fetch_add(&list_ended, 1);
	return 1;
}

static void run_async(struct kg_pac_fetch *f)
{
	struct pollfd p = {.fd = kg_pac_fetch_fd(f), .events = POLLIN};
	bool finished = false;

	while (!finished) {
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		finished = kg_pac_fetch_dispatch(f);
	}
}

START_TEST(list_on_the_worker)
{
	struct kg_pac_fetch *f;

	done_calls = 0;
	list_caller = pthread_self();
	f = kg_pac_fetch_start_list(list_three, &list_calls, 5, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	run_async(f);
	ck_assert_int_eq(atomic_load(&list_calls), 1);
	ck_assert(list_on_worker);
	ck_assert_int_eq(done_calls, 1);
	ck_assert_int_eq(done_res.r, 0);
	ck_assert_str_eq(done_res.body, PAC_TEXT);
	/* The candidate that answered, by URL: the refused one does not shift it. */
	ck_assert_str_eq(done_res.url, url("/ok.pac"));
	free(done_res.body);

	errno = 0;
	ck_assert_ptr_null(kg_pac_fetch_start_list(NULL, NULL, 5, on_done, NULL));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(list_empty)
{
	struct kg_pac_fetch *f;

	done_calls = 0;
	f = kg_pac_fetch_start_list(list_none, NULL, 5, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	run_async(f);
	ck_assert_int_eq(done_calls, 1);
	ck_assert_int_eq(done_res.r, -ENODATA);
	ck_assert_ptr_null(done_res.body);
	ck_assert_str_eq(done_res.msg, "no candidate?here");
	ck_assert_str_eq(done_res.url, "");
}
END_TEST

START_TEST(list_cancel_prompt)
{
	/* A cancel while the list is made does not wait for it; done never runs. */
	struct kg_pac_fetch *f;
	double t0;

	done_calls = 0;
	f = kg_pac_fetch_start_list(list_slow, NULL, 5, on_done, &done_calls);
	ck_assert_ptr_nonnull(f);
	while (atomic_load(&list_calls) == 0)
		usleep(1000);
	t0 = now_s();
	kg_pac_fetch_cancel(f);
	ck_assert_double_lt(now_s() - t0, 0.3);
	ck_assert_int_eq(atomic_load(&list_ended), 0);
	/* The orphaned worker ends on its own, and never calls done. */
	for (int i = 0; i < 300 && atomic_load(&list_ended) == 0; i++)
		usleep(10 * 1000);
	ck_assert_int_eq(atomic_load(&list_ended), 1);
	usleep(100 * 1000);
	ck_assert_int_eq(done_calls, 0);
}
END_TEST

static Suite *pac_fetch_suite(void)
{
	Suite *s = suite_create("pac_fetch");
	TCase *c = tcase_create("pac_fetch");

	tcase_add_unchecked_fixture(c, start_server, stop_server);
	tcase_set_timeout(c, 30);
	tcase_add_test(c, ok_200);
	tcase_add_test(c, not_found);
	tcase_add_test(c, redirects);
	tcase_add_test(c, size_limit);
	tcase_add_test(c, timeout_bounded);
	tcase_add_test(c, no_proxy_ever);
	tcase_add_test(c, candidates);
	tcase_add_test(c, async_done);
	tcase_add_test(c, cancel_prompt);
	tcase_add_test(c, list_on_the_worker);
	tcase_add_test(c, list_empty);
	tcase_add_test(c, list_cancel_prompt);
	tcase_add_test(c, https_verified);
	tcase_add_test(c, dns_hang_bounded);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pac_fetch_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	stop_server();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
