/* policy.c: the client's proxy policy driven through the real event loop, the real PAC fetch
 * (libcurl against an HTTP server this test forks on 127.0.0.1), the built sandboxed evaluator
 * and netwatch. What a user relies on: connections asked before the PAC loads wait for it and
 * then follow it; a missing PAC means DIRECT at once, the service is told the user is off the
 * network, and the PAC is looked for again at least every minute until it comes back; a PAC
 * that throws fails only that connection; a closed connection's answer never arrives; with
 * proxy.fallback direct, no reachable proxy takes the user off the network until a probe finds
 * one again; a change of settings answers whoever waits and stops the machinery.
 *
 * The one seam is ipc_client_set_direct() (the service link), recorded here. The loop's clock
 * is the real one plus an offset the tests advance, so the minute-long timers fire at once.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/ipc_client.h"
#include "client/loop.h"
#include "client/policy.h"
#include "client/route/failover.h"

#ifndef KG_TEST_PAC_EVALUATOR
#error "KG_TEST_PAC_EVALUATOR: the path of the built kernelgatekeeper-pac"
#endif

static const char pac_text[] =
    "function FindProxyForURL(url, host) {\n"
    "  if (host == 'throw.test') throw new Error('no route for ' + host);\n"
    "  if (host == 'direct.test') return 'DIRECT';\n"
    "  return 'PROXY p1.corp.test:3128; PROXY p2.corp.test:8080';\n"
    "}\n";

/* ---- the service link: what the policy told it ------------------------------------------- */

#define MAX_CALLS 16
static struct {
	bool direct;
	char reason[64];
} calls[MAX_CALLS];
static unsigned n_calls;

int ipc_client_set_direct(struct kg_client *cl, bool direct, const char *reason)
{
	(void)cl;
	ck_assert_uint_lt(n_calls, MAX_CALLS);
	calls[n_calls].direct = direct;
	snprintf(calls[n_calls].reason, sizeof(calls[n_calls].reason), "%s", reason ? reason : "");
	n_calls++;
	return 0;
}

/* ---- the HTTP server: serves the files of a directory, 404 for the others ------------------ */

static pid_t server_pid = -1;
static int server_port;
static char root[64];

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

static void serve(int fd)
{
	char req[4096], path[256] = "", file[512], body[8192], head[256];
	size_t got = 0;
	ssize_t r;
	int f, n;

	while (got < sizeof(req) - 1) {
		r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			return;
		got += (size_t)r;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	if (sscanf(req, "GET /%255s", path) != 1 || strchr(path, '/'))
		return;
	/* One line per request: the test counts the fetches. */
	snprintf(file, sizeof(file), "%s/hits", root);
	f = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (f >= 0) {
		write_all(f, "x\n", 2);
		close(f);
	}
	snprintf(file, sizeof(file), "%s/%s", root, path);
	f = open(file, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		n = snprintf(
		    head, sizeof(head),
		    "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
		    "nope");
		write_all(fd, head, (size_t)n);
		return;
	}
	r = read(f, body, sizeof(body));
	close(f);
	if (r < 0)
		r = 0;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 200 OK\r\nContent-Type: application/x-ns-proxy-autoconfig\r\n"
		     "Content-Length: %zd\r\nConnection: close\r\n\r\n",
		     r);
	write_all(fd, head, (size_t)n);
	write_all(fd, body, (size_t)r);
}

static void remove_file(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, name);
	unlink(path);
}

static void remove_files(void)
{
	remove_file("hits");
	remove_file("wpad.dat");
	rmdir(root);
}

static void on_parent_death(int sig)
{
	(void)sig;
}

static void start_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	pid_t parent;
	int ls, c;

	snprintf(root, sizeof(root), "/tmp/kg-policy.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 64), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	server_port = ntohs(a.sin_port);
	parent = getpid();
	server_pid = fork();
	/* (No check call in the child: with CK_FORK=no it would write to the runner's pipe.) */
	if (server_pid == 0) {
		struct pollfd pl = {.fd = ls, .events = POLLIN};

		/* The parent's death interrupts the poll below, and the server cleans up. */
		signal(SIGTERM, on_parent_death);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			/* A failed check ends the test's process without the teardown: the server
			 * then cleans up and goes (also checked every 200 ms, for the case the
			 * signal came before the handler was set). */
			if (getppid() != parent) {
				remove_files();
				_exit(0);
			}
			if (poll(&pl, 1, 200) != 1)
				continue;
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
	ck_assert_int_gt(server_pid, 0);
	setpgid(server_pid, server_pid);
	close(ls);
}

static void put_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static unsigned hits(void)
{
	char path[512], line[16];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/hits", root);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(-server_pid, SIGKILL);
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	remove_files();
}

/* ---- the loop's clock: real time plus what the tests skip --------------------------------- */

static uint64_t skipped_us;

static uint64_t fake_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000 + skipped_us;
}

static void skip_seconds(unsigned s)
{
	skipped_us += s * 1000000ull;
}

/* ---- a network of the test's own ----------------------------------------------------------- */

/* Other programs on the machine add and remove interfaces and routes; each is a network change
 * to netwatch, and a network change fetches the PAC at once. A namespace of this test's own
 * (check runs each test in a child process) with only lo keeps the schedule to the policy's.
 * Without the privilege to make one, the checks that no fetch comes early are skipped. */
static bool isolated;

static void isolate(void)
{
	struct ifreq ifr;
	int s;

	isolated = false;
	if (unshare(CLONE_NEWNET) < 0)
		return;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	isolated = true;
}

/* ---- the client ---------------------------------------------------------------------------- */

static struct kg_client cl;

static struct client_settings *settings(enum kg_proxy_type type, const char *wpad_path)
{
	struct client_settings *set = calloc(1, sizeof(*set));

	ck_assert_ptr_nonnull(set);
	set->refs = 1;
	set->cfg.proxy.type = type;
	set->cfg.proxy.pac_timeout = 5;
	set->cfg.proxy.connection_timeout = 5;
	if (wpad_path)
		snprintf(set->cfg.proxy.wpad_url, sizeof(set->cfg.proxy.wpad_url),
			 "http://127.0.0.1:%d/%s", server_port, wpad_path);
	return set;
}

static void use_settings(struct client_settings *set)
{
	free(cl.set);
	cl.set = set;
}

static char *wpad_url(void)
{
	static char u[128];

	snprintf(u, sizeof(u), "http://127.0.0.1:%d/wpad.dat", server_port);
	return u;
}

static void setup(void)
{
	memset(&cl, 0, sizeof(cl));
	memset(calls, 0, sizeof(calls));
	n_calls = 0;
	skipped_us = 0;
	kg_failover_init(&cl.failover);
	ck_assert_int_eq(setenv("KG_PAC_EVALUATOR", KG_TEST_PAC_EVALUATOR, 1), 0);
	ck_assert_int_eq(kg_loop_init(), 0);
	kg_loop_set_clock(fake_now);
	isolate();
	start_server();
}

static void teardown(void)
{
	policy_stop(&cl);
	kg_loop_cleanup();
	kg_loop_set_clock(NULL);
	free(cl.set);
	cl.set = NULL;
	stop_server();
}

/* Loop passes until pred holds or ms of real time went by. */
static bool run_until(bool (*pred)(void), int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (pred())
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
		ck_assert_int_eq(kg_loop_pass(20), 0);
	}
}

static void run_for(int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ck_assert_int_eq(kg_loop_pass(20), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static char described[POLICY_STATE_MAX];

static const char *describe(void)
{
	policy_describe(&cl, described, sizeof(described));
	return described;
}

/* ---- the connections' answers -------------------------------------------------------------- */

struct answer {
	bool done;
	int status;
	struct kg_route route;
	char why[256];
};

static void on_done(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct answer *a = ud;

	ck_assert_msg(!a->done, "done() called twice");
	a->done = true;
	a->status = status;
	if (route)
		a->route = *route;
	snprintf(a->why, sizeof(a->why), "%s", why ? why : "");
}

static const uint8_t dst_ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};

static int find(const char *host, struct answer *a, struct policy_job **job)
{
	char url[256];

	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "https://%s/", host);
	return policy_find(&cl, url, host, dst_ip, 443, &a->route, on_done, a, job);
}

static void assert_pac_route(const struct answer *a)
{
	ck_assert_int_eq(a->status, 0);
	ck_assert_uint_eq(a->route.n, 2);
	ck_assert_int_eq(a->route.e[0].kind, KG_ROUTE_PROXY);
	ck_assert_str_eq(a->route.e[0].host, "p1.corp.test");
	ck_assert_uint_eq(a->route.e[0].port, 3128);
	ck_assert_int_eq(a->route.e[1].kind, KG_ROUTE_PROXY);
	ck_assert_str_eq(a->route.e[1].host, "p2.corp.test");
	ck_assert_uint_eq(a->route.e[1].port, 8080);
}

static void assert_direct_route(const struct kg_route *r)
{
	ck_assert_uint_eq(r->n, 1);
	ck_assert_int_eq(r->e[0].kind, KG_ROUTE_DIRECT);
}

static struct answer *watched;
static bool watched_done(void)
{
	return watched->done;
}

static unsigned want_calls;
static bool have_calls(void)
{
	return n_calls >= want_calls;
}

static bool pac_loaded(void)
{
	return strncmp(describe(), "PAC ", 4) == 0;
}

/* The PAC loaded: policy_find goes to the evaluator. */
static void load_pac(void)
{
	put_file("wpad.dat", pac_text);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_msg(run_until(pac_loaded, 10000), "the PAC did not load: %s", describe());
}

/* ---- 1. a served PAC ----------------------------------------------------------------------- */

START_TEST(served_pac_answers_waiting_connections)
{
	struct answer a, b;
	struct policy_job *ja = NULL, *jb = NULL;
	char want[160];

	put_file("wpad.dat", pac_text);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert(policy_uses_pac(&cl));
	ck_assert_str_eq(describe(), "fetching the PAC");

	/* Asked before the PAC is there: they wait. */
	ck_assert_int_eq(find("www.example.org", &a, &ja), 0);
	ck_assert_ptr_nonnull(ja);
	ck_assert_int_eq(find("direct.test", &b, &jb), 0);
	ck_assert_ptr_nonnull(jb);
	ck_assert(!a.done && !b.done);

	watched = &a;
	ck_assert_msg(run_until(watched_done, 10000), "the waiting connection got no answer");
	watched = &b;
	ck_assert(run_until(watched_done, 5000));
	assert_pac_route(&a);
	ck_assert_int_eq(b.status, 0);
	assert_direct_route(&b.route);

	snprintf(want, sizeof(want), "PAC %s", wpad_url());
	ck_assert_str_eq(describe(), want);
	/* Never off the network: the service was told nothing (or that steering goes on). */
	for (unsigned i = 0; i < n_calls; i++)
		ck_assert_msg(!calls[i].direct, "set_direct(true, %s) with a PAC loaded",
			      calls[i].reason);

	/* Asked after the load: straight to the evaluator. */
	ck_assert_int_eq(find("www.example.com", &a, &ja), 0);
	watched = &a;
	ck_assert(run_until(watched_done, 5000));
	assert_pac_route(&a);
}
END_TEST

/* ---- 2. no PAC, then one ------------------------------------------------------------------- */

static bool is_direct(void)
{
	return n_calls >= 1 && calls[n_calls - 1].direct;
}

START_TEST(missing_pac_goes_direct_and_retries_every_minute)
{
	struct answer a, w;
	struct policy_job *j = NULL, *jw = NULL;
	unsigned round, before;

	use_settings(settings(KG_PROXY_WPAD, "wpad.dat")); /* not there: 404 */
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_int_eq(find("www.example.org", &w, &jw), 0); /* waits for the first fetch */
	ck_assert_msg(run_until(is_direct, 10000), "the service was not told: %s", describe());
	ck_assert_uint_eq(n_calls, 1);
	ck_assert_str_eq(calls[0].reason, "no PAC found");
	ck_assert(w.done);
	ck_assert_int_eq(w.status, 0);
	assert_direct_route(&w.route);
	ck_assert_msg(strstr(describe(), "direct: no PAC found since ") == describe(), "%s",
		      described);

	/* DIRECT at once, no waiting. */
	memset(&a.route, 0, sizeof(a.route));
	ck_assert_int_eq(find("www.example.org", &a, &j), 1);
	ck_assert(!a.done);
	assert_direct_route(&a.route);

	/* The retries (browsers: 8 s, 32 s, 2 min, 4 h) come at most a minute apart. */
	for (round = 0; round < 4; round++) {
		before = hits();
		run_for(100);
		if (isolated)
			ck_assert_uint_eq(hits(), before); /* nothing before its time */
		skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
		run_for(500);
		ck_assert_msg(hits() > before, "no fetch within a minute after failure %u",
			      round + 1);
		ck_assert_uint_eq(n_calls, 1); /* still direct, told once */
	}

	/* The PAC comes back: the next try loads it and steering resumes. */
	put_file("wpad.dat", pac_text);
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	want_calls = 2;
	ck_assert_msg(run_until(have_calls, 10000), "steering did not resume: %s", describe());
	ck_assert(!calls[1].direct);
	ck_assert(pac_loaded());
	ck_assert_int_eq(find("www.example.org", &a, &j), 0);
	watched = &a;
	ck_assert(run_until(watched_done, 5000));
	assert_pac_route(&a);
}
END_TEST

/* A network change (an address added in the test's namespace) fetches the PAC at once, without
 * waiting for the retry. */
static void add_address(void)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo:1");
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x0a0b0c0d); /* 10.11.12.13, in this namespace only */
	ck_assert_int_eq(ioctl(s, SIOCSIFADDR, &ifr), 0);
	close(s);
}

START_TEST(network_change_fetches_at_once)
{
	if (!isolated)
		return; /* no namespace of our own: a change would be everybody's */
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat")); /* 404 */
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert(run_until(is_direct, 10000));
	put_file("wpad.dat", pac_text);
	run_for(300);
	ck_assert_uint_eq(n_calls, 1); /* the retry is 8 s away */
	add_address();
	want_calls = 2;
	ck_assert_msg(run_until(have_calls, 5000), "no fetch after the network change: %s",
		      describe());
	ck_assert(!calls[1].direct);
	ck_assert(pac_loaded());
}
END_TEST

/* ---- 3. a PAC that throws ------------------------------------------------------------------ */

START_TEST(throwing_pac_fails_only_that_connection)
{
	struct answer t, o;
	struct policy_job *jt = NULL, *jo = NULL;

	load_pac();
	ck_assert_int_eq(find("throw.test", &t, &jt), 0);
	ck_assert_int_eq(find("www.example.org", &o, &jo), 0);
	watched = &t;
	ck_assert(run_until(watched_done, 5000));
	watched = &o;
	ck_assert(run_until(watched_done, 5000));
	ck_assert_int_lt(t.status, 0);
	ck_assert_msg(strstr(t.why, "no route for throw.test") != NULL, "why: %s", t.why);
	assert_pac_route(&o);
}
END_TEST

/* ---- 4. cancelled connections -------------------------------------------------------------- */

START_TEST(cancelled_jobs_are_never_answered)
{
	struct answer waiting, engine, other;
	struct policy_job *jw = NULL, *je = NULL, *jo = NULL;

	/* Cancelled while waiting for the first fetch. */
	put_file("wpad.dat", pac_text);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_int_eq(find("www.example.org", &waiting, &jw), 0);
	ck_assert_int_eq(find("www.example.net", &other, &jo), 0);
	policy_cancel(&cl, jw);
	watched = &other;
	ck_assert(run_until(watched_done, 10000));
	assert_pac_route(&other);
	ck_assert(pac_loaded());

	/* Cancelled in the engine: the request behind it is answered, this one never. */
	ck_assert_int_eq(find("www.example.org", &engine, &je), 0);
	ck_assert_int_eq(find("www.example.net", &other, &jo), 0);
	policy_cancel(&cl, je);
	watched = &other;
	ck_assert(run_until(watched_done, 5000));
	run_for(200);
	ck_assert_msg(!waiting.done, "a job cancelled while waiting was answered");
	ck_assert_msg(!engine.done, "a job cancelled in the engine was answered");
}
END_TEST

/* ---- 5. proxy.type http, fallback direct --------------------------------------------------- */

static bool is_back(void)
{
	return n_calls >= 2 && !calls[n_calls - 1].direct;
}

START_TEST(unreachable_proxies_go_direct_until_one_answers)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct client_settings *set = settings(KG_PROXY_HTTP, NULL);
	int ls;

	/* The proxy's port: bound, not listening (refused) until the test says so. */
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sin, &len), 0);

	set->cfg.proxy.fallback = KG_FALLBACK_DIRECT;
	set->route.n = 2;
	set->route.e[0].kind = KG_ROUTE_PROXY;
	snprintf(set->route.e[0].host, sizeof(set->route.e[0].host), "127.0.0.1");
	set->route.e[0].port = ntohs(sin.sin_port);
	set->route.e[1].kind = KG_ROUTE_DIRECT;
	use_settings(set);
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert(!policy_uses_pac(&cl));
	ck_assert_str_eq(describe(), "");

	/* A proxy that connected, or one failure while the proxy is not marked down: no change. */
	policy_proxy_result(&cl, true);
	policy_proxy_result(&cl, false);
	ck_assert_uint_eq(n_calls, 0);

	kg_failover_mark_down(&cl.failover, &set->route.e[0], kg_loop_now());
	policy_proxy_result(&cl, false);
	ck_assert_uint_eq(n_calls, 1);
	ck_assert(calls[0].direct);
	ck_assert_str_eq(calls[0].reason, "no proxy reachable");
	ck_assert_msg(strstr(describe(), "direct: no proxy reachable since ") == described, "%s",
		      described);

	/* The probe a minute later finds the proxy still refusing: still direct. */
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	run_for(300);
	ck_assert_uint_eq(n_calls, 1);

	/* It listens now: the next probe brings steering back. */
	ck_assert_int_eq(listen(ls, 8), 0);
	run_for(300);
	if (isolated)
		ck_assert_uint_eq(n_calls, 1); /* not before the minute (or a network change) */
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	ck_assert_msg(run_until(is_back, 5000), "steering did not resume");
	ck_assert_uint_eq(n_calls, 2);
	ck_assert(!kg_failover_is_down(&cl.failover, &set->route.e[0], kg_loop_now()));
	ck_assert_str_eq(describe(), "");
	close(ls);
}
END_TEST

/* Off the network under proxy.type http, the settings name another proxy.url, which answers:
 * the policy probes the new list at once, not a minute later with the old one's index. */
START_TEST(new_proxy_list_is_probed_at_once)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct client_settings *set = settings(KG_PROXY_HTTP, NULL);
	int down, up;

	down = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* bound, refusing */
	ck_assert_int_ge(down, 0);
	ck_assert_int_eq(bind(down, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(down, (struct sockaddr *)&sin, &len), 0);
	set->cfg.proxy.fallback = KG_FALLBACK_DIRECT;
	set->route.n = 1;
	set->route.e[0].kind = KG_ROUTE_PROXY;
	snprintf(set->route.e[0].host, sizeof(set->route.e[0].host), "127.0.0.1");
	set->route.e[0].port = ntohs(sin.sin_port);
	use_settings(set);
	ck_assert_int_eq(policy_apply(&cl), 0);
	kg_failover_mark_down(&cl.failover, &set->route.e[0], kg_loop_now());
	policy_proxy_result(&cl, false);
	ck_assert_uint_eq(n_calls, 1);
	ck_assert(calls[0].direct);

	up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* the new proxy, listening */
	ck_assert_int_ge(up, 0);
	sin.sin_port = 0;
	ck_assert_int_eq(bind(up, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(up, 8), 0);
	len = sizeof(sin);
	ck_assert_int_eq(getsockname(up, (struct sockaddr *)&sin, &len), 0);
	set = settings(KG_PROXY_HTTP, NULL);
	set->cfg.proxy.fallback = KG_FALLBACK_DIRECT;
	set->route.n = 1;
	set->route.e[0].kind = KG_ROUTE_PROXY;
	snprintf(set->route.e[0].host, sizeof(set->route.e[0].host), "127.0.0.1");
	set->route.e[0].port = ntohs(sin.sin_port);
	use_settings(set);
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_msg(run_until(is_back, 3000), "the new proxy list was not probed");
	close(down);
	close(up);
}
END_TEST

/* ---- 5b. the PAC sends everything DIRECT ---------------------------------------------------- */

static const char pac_all_direct[] = "function FindProxyForURL(url, host) { return 'DIRECT'; }\n";

/* Only app.corp.test goes to a proxy (the canary, www.example.com, does not). */
static const char pac_one_host[] =
    "function FindProxyForURL(url, host) {\n"
    "  if (host == 'app.corp.test') return 'PROXY p1.corp.test:3128';\n"
    "  alert('probe ' + host);\n"
    "  return 'DIRECT';\n"
    "}\n";

/* A PAC that answers DIRECT for everything probed takes the user off the network, with the
 * reason in ctl status; connections that still ask get DIRECT; once a reloaded PAC names a
 * proxy, steering resumes. */
START_TEST(pac_all_direct_goes_direct)
{
	struct answer a;
	struct policy_job *j = NULL;
	char want[160];

	put_file("wpad.dat", pac_all_direct);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_msg(run_until(is_direct, 10000), "the service was not told: %s", describe());
	ck_assert_uint_eq(n_calls, 1);
	ck_assert_str_eq(calls[0].reason, "the PAC sends everything DIRECT");
	ck_assert_msg(strstr(describe(), "direct: the PAC sends everything DIRECT since ") ==
			  described,
		      "%s", described);
	ck_assert_int_eq(find("www.example.org", &a, &j), 0);
	watched = &a;
	ck_assert(run_until(watched_done, 5000));
	ck_assert_int_eq(a.status, 0);
	assert_direct_route(&a.route);

	/* The minute's probe: the same answer, the service is not told again. */
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	run_for(300);
	ck_assert_uint_eq(n_calls, 1);

	/* The PAC of the office again (its 12-hour refetch): steering resumes. */
	put_file("wpad.dat", pac_text);
	skip_seconds(12 * 3600 + 1);
	want_calls = 2;
	ck_assert_msg(run_until(have_calls, 10000), "steering did not resume: %s", describe());
	ck_assert(!calls[1].direct);
	snprintf(want, sizeof(want), "PAC %s", wpad_url());
	ck_assert_str_eq(describe(), want);
}
END_TEST

/* The hosts the PAC recently sent to a proxy are probed too: while one of them still goes to
 * a proxy, the user stays steered; the canary alone answering DIRECT is not enough. */
START_TEST(recent_proxy_host_keeps_steering)
{
	struct answer a;
	struct policy_job *j = NULL;

	put_file("wpad.dat", pac_one_host);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	/* Nothing sent to a proxy yet: the canary decides. */
	ck_assert_msg(run_until(is_direct, 10000), "the service was not told: %s", describe());
	ck_assert_str_eq(calls[0].reason, "the PAC sends everything DIRECT");

	/* A connection (one on its way when the service was told) goes to the proxy... */
	ck_assert_int_eq(find("app.corp.test", &a, &j), 0);
	watched = &a;
	ck_assert(run_until(watched_done, 5000));
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(a.route.e[0].kind, KG_ROUTE_PROXY);
	/* ...and the minute's probe, asking about it again, brings steering back. */
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	ck_assert_msg(run_until(is_back, 5000), "steering did not resume: %s", describe());
	ck_assert_uint_eq(n_calls, 2);
	ck_assert(strncmp(describe(), "PAC ", 4) == 0);

	/* It keeps it: the next rounds find app.corp.test still going to the proxy. */
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	run_for(300);
	skip_seconds(POLICY_PROBE_INTERVAL_S + 1);
	run_for(300);
	ck_assert_uint_eq(n_calls, 2);
}
END_TEST

/* ---- 6. wpad, then http -------------------------------------------------------------------- */

START_TEST(switch_to_http_answers_waiting_and_stops)
{
	struct answer a, b;
	struct policy_job *ja = NULL, *jb = NULL;

	put_file("wpad.dat", pac_text);
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat"));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_int_eq(find("www.example.org", &a, &ja), 0);
	ck_assert_int_eq(find("www.example.net", &b, &jb), 0);

	/* Before the fetch ends, the settings become proxy.type http (no fallback). */
	use_settings(settings(KG_PROXY_HTTP, NULL));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert(a.done && b.done);
	ck_assert_int_eq(a.status, 0);
	assert_direct_route(&a.route);
	ck_assert_int_eq(b.status, 0);
	assert_direct_route(&b.route);
	ck_assert_ptr_null(cl.policy);
	ck_assert(!policy_uses_pac(&cl));
	ck_assert_str_eq(describe(), "");
	ck_assert_int_eq(find("www.example.org", &a, &ja), 1);
	assert_direct_route(&a.route);
	run_for(300); /* the cancelled fetch's end, if any, touches nothing */
	ck_assert_uint_eq(n_calls, 0);
}
END_TEST

/* Off the network under wpad, then http without fallback: the service is told to steer again. */
START_TEST(switch_from_direct_to_http_resumes_steering)
{
	use_settings(settings(KG_PROXY_WPAD, "wpad.dat")); /* 404 */
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert(run_until(is_direct, 10000));
	use_settings(settings(KG_PROXY_HTTP, NULL));
	ck_assert_int_eq(policy_apply(&cl), 0);
	ck_assert_uint_eq(n_calls, 2);
	ck_assert(!calls[1].direct);
	ck_assert_ptr_null(cl.policy);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, served_pac_answers_waiting_connections);
	tcase_add_test(tc, missing_pac_goes_direct_and_retries_every_minute);
	tcase_add_test(tc, network_change_fetches_at_once);
	tcase_add_test(tc, throwing_pac_fails_only_that_connection);
	tcase_add_test(tc, cancelled_jobs_are_never_answered);
	tcase_add_test(tc, unreachable_proxies_go_direct_until_one_answers);
	tcase_add_test(tc, new_proxy_list_is_probed_at_once);
	tcase_add_test(tc, pac_all_direct_goes_direct);
	tcase_add_test(tc, recent_proxy_host_keeps_steering);
	tcase_add_test(tc, switch_to_http_answers_waiting_and_stops);
	tcase_add_test(tc, switch_from_direct_to_http_resumes_steering);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
