/* Unit tests for the PAC engine (src/client/route/pac_engine.c), unprivileged, with the
 * built evaluator (kernelgatekeeper-pac) spawned for real and DNS answered by the test's own
 * server on 127.0.0.1 (tests/unit/dns_server.c): route answers and DIRECT; an unusable answer
 * turned into DIRECT with a note; alert() lines, to a callback or the log; a PAC that loops for one
 * host (answered within bounds, the next request served), one that runs out of memory, one that
 * throws, a syntax error on load; dnsResolve and isInNet through the DNS cache, forgotten on a
 * network change; a request's DNS budget; freeing the engine while the evaluator loops; myIpAddress
 * for a loopback and a TEST-NET destination; a cancelled request never answered (queued or
 * running); a full queue answered at once.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/route/pac_engine.h"
#include "client/route/pac_proc.h"
#include "tests/unit/dns_server.h"

#ifndef KG_TEST_PAC_EVALUATOR
#error "KG_TEST_PAC_EVALUATOR: the path of the built kernelgatekeeper-pac"
#endif

static const char pac[] =
    "function FindProxyForURL(url, host) {\n"
    "  if (host == 'loop.test') { while (true) {} }\n"
    "  if (host == 'throw.test') throw new Error('no route for ' + host);\n"
    "  if (host == 'alert.test') { alert('looking at ' + host); alert('second'); }\n"
    "  if (host == 'empty.test') return '';\n"
    "  if (host == 'oom.test') return 'x'.repeat(1 << 30);\n"
    "  if (host == 'slow.test') {\n"
    "    var a = dnsResolve('s1.slow.test'), b = dnsResolve('s2.slow.test');\n"
    "    return 'PROXY ' + (a || 'none') + '-' + (b || 'none') + ':1';\n"
    "  }\n"
    "  if (host == 'socks.test') return 'SOCKS5 s.test:1080';\n"
    "  if (host == 'me.test') return 'PROXY ' + myIpAddress() + ':3128';\n"
    "  if (host == 'meex.test') return 'PROXY [' + myIpAddressEx() + ']:3128';\n"
    "  if (shExpMatch(host, '*.intranet.test')) return 'DIRECT';\n"
    "  if (shExpMatch(host, '*.dns.test')) {\n"
    "    var ip = dnsResolve(host);\n"
    "    if (!ip) return 'PROXY unresolved.test:1';\n"
    "    if (isInNet(ip, '192.0.2.0', '255.255.255.0')) return 'DIRECT';\n"
    "    return 'PROXY ' + ip + ':8080';\n"
    "  }\n"
    "  return 'PROXY a.test:3128; PROXY b.test:3128; SOCKS x:1; DIRECT';\n"
    "}\n";

static const struct test_dns_record table[] = {
    {"in.dns.test", TEST_DNS_ADDR, "192.0.2.5", 60, 0},
    {"out.dns.test", TEST_DNS_ADDR, "198.51.100.7", 60, 0},
    {"s1.slow.test", TEST_DNS_SILENT, NULL, 0, 0},
    {"s2.slow.test", TEST_DNS_SILENT, NULL, 0, 0},
    {"a.test", TEST_DNS_ADDR, "203.0.113.10", 60, 0},
    {NULL, 0, NULL, 0, 0},
};

/* ---- recording answers ---- */

struct answer {
	bool got;
	int status;
	char route[1024];
	char why[PAC_ENGINE_WHY_MAX];
};

static int load_status = 1;
static char load_why[PAC_ENGINE_WHY_MAX];
static char alerts[8][KG_PAC_TEXT_MAX + 1];
static int nalerts;

static void on_load(void *ud, int status, const char *why)
{
	(void)ud;
	load_status = status;
	snprintf(load_why, sizeof(load_why), "%s", why);
}

static void on_alert(void *ud, const char *msg)
{
	(void)ud;
	if (nalerts < 8)
		snprintf(alerts[nalerts], sizeof(alerts[0]), "%s", msg);
	nalerts++;
}

static struct kg_route last_route; /* the last answer's, as given */

static void on_done(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct answer *a = ud;
	ck_assert(!a->got); /* once */
	a->got = true;
	a->status = status;
	a->route[0] = '\0';
	if (status == 0) {
		ck_assert_ptr_nonnull(route);
		last_route = *route;
		ck_assert_int_gt(kg_route_format(route, a->route, sizeof(a->route)), 0);
	} else {
		ck_assert_ptr_null(route);
	}
	snprintf(a->why, sizeof(a->why), "%s", why);
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Dispatches until *flag or the time is up. */
static void pump_until(struct pac_engine *e, const bool *flag, int ms)
{
	int64_t end = ms_now() + ms;
	while (!*flag) {
		int64_t left = end - ms_now();
		ck_assert_msg(left > 0, "no answer within %d ms", ms);
		struct pollfd p = {.fd = pac_engine_fd(e), .events = POLLIN};
		if (poll(&p, 1, (int)left) > 0)
			pac_engine_dispatch(e);
	}
}

/* Dispatches for ms (answers that should not come). */
static void pump_for(struct pac_engine *e, int ms)
{
	int64_t end = ms_now() + ms;
	for (int64_t left; (left = end - ms_now()) > 0;) {
		struct pollfd p = {.fd = pac_engine_fd(e), .events = POLLIN};
		if (poll(&p, 1, (int)left) > 0)
			pac_engine_dispatch(e);
	}
}

static struct sockaddr_in dns_sa;

static bool resolve_proxies; /* for the next start_with */

static struct pac_engine *start_with(unsigned queue_max, unsigned dns_budget_ms)
{
	char err[256];
	ck_assert_int_eq(test_dns_start(table, &dns_sa), 0);
	struct kg_dns_cache_opts d = {.servers = &dns_sa, .nservers = 1};
	struct pac_engine_opts o = {
	    .evaluator = KG_TEST_PAC_EVALUATOR,
	    .queue_max = queue_max,
	    .dns_budget_ms = dns_budget_ms,
	    .resolve_proxies = resolve_proxies,
	    .dns = &d,
	    .on_load = on_load,
	    .on_alert = on_alert,
	};
	struct pac_engine *e = pac_engine_new(&o, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	nalerts = 0;
	load_status = 1;
	ck_assert_int_eq(pac_engine_load(e, pac, strlen(pac)), 0);
	bool loaded = false;
	int64_t end = ms_now() + 5000;
	while (load_status == 1 && ms_now() < end) {
		struct pollfd p = {.fd = pac_engine_fd(e), .events = POLLIN};
		if (poll(&p, 1, 100) > 0)
			pac_engine_dispatch(e);
	}
	loaded = load_status == 0;
	ck_assert_msg(loaded, "load: %d %s", load_status, load_why);
	return e;
}

static struct pac_engine *start(void)
{
	return start_with(0, 0);
}

static void stop(struct pac_engine *e)
{
	pac_engine_free(e);
	test_dns_stop();
}

static struct pac_job *ask_dst(struct pac_engine *e, const char *host, const char *dst,
			       uint16_t port, struct answer *a)
{
	char url[300];
	snprintf(url, sizeof(url), "https://%s/", host);
	struct pac_engine_query q = {.url = url, .host = host, .dst_port = port};
	if (dst)
		ck_assert_int_eq(kg_pac_addr_parse(dst, &q.dst), 0);
	memset(a, 0, sizeof(*a));
	struct pac_job *j = pac_engine_find(e, &q, on_done, a);
	ck_assert_ptr_nonnull(j);
	return j;
}

static struct pac_job *ask(struct pac_engine *e, const char *host, struct answer *a)
{
	return ask_dst(e, host, "192.0.2.80", 443, a);
}

/* One request, waited for. */
static struct answer *find(struct pac_engine *e, const char *host)
{
	static struct answer a;
	ask(e, host, &a);
	pump_until(e, &a.got, 5000);
	return &a;
}

static void find_route(struct pac_engine *e, const char *host, const char *route)
{
	struct answer *a = find(e, host);
	ck_assert_msg(a->status == 0, "%s: %d %s", host, a->status, a->why);
	ck_assert_str_eq(a->route, route);
}

START_TEST(routes)
{
	struct pac_engine *e = start();
	find_route(e, "www.intranet.test", "DIRECT");
	struct answer *a = find(e, "example.com");
	ck_assert_int_eq(a->status, 0);
	ck_assert_str_eq(a->route, "PROXY a.test:3128; PROXY b.test:3128; DIRECT");
	ck_assert_ptr_nonnull(strstr(a->why, "SOCKS")); /* the note */
	/* an unusable answer: DIRECT, as browsers do, with a note */
	a = find(e, "empty.test");
	ck_assert_int_eq(a->status, 0);
	ck_assert_str_eq(a->route, "DIRECT");
	ck_assert_ptr_nonnull(strstr(a->why, "going DIRECT"));
	a = find(e, "socks.test");
	ck_assert_int_eq(a->status, 0);
	ck_assert_str_eq(a->route, "DIRECT");
	ck_assert_ptr_nonnull(strstr(a->why, "SOCKS5 s.test:1080"));
	/* alert() lines, in order, delivered on this thread */
	find_route(e, "alert.test", "PROXY a.test:3128; PROXY b.test:3128; DIRECT");
	ck_assert_int_eq(nalerts, 2);
	ck_assert_str_eq(alerts[0], "looking at alert.test");
	ck_assert_str_eq(alerts[1], "second");
	stop(e);
}
END_TEST

/* Without an on_alert, alert() lines go to the log (here stderr, as "<5>PAC alert: ..."). */
START_TEST(alert_to_log)
{
	char err[256];
	int pfd[2];
	ck_assert_int_eq(pipe2(pfd, O_NONBLOCK), 0);
	int saved = dup(2);
	dup2(pfd[1], 2);
	unsetenv("JOURNAL_STREAM");
	struct pac_engine_opts o = {.evaluator = KG_TEST_PAC_EVALUATOR, .on_load = on_load};
	struct pac_engine *e = pac_engine_new(&o, err, sizeof(err));
	ck_assert_msg(e != NULL, "%s", err);
	load_status = 1;
	ck_assert_int_eq(pac_engine_load(e, pac, strlen(pac)), 0);
	find_route(e, "alert.test", "PROXY a.test:3128; PROXY b.test:3128; DIRECT");
	pac_engine_free(e);
	dup2(saved, 2);
	close(saved);
	char buf[4096];
	ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "PAC alert: looking at alert.test") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "PAC alert: second") != NULL, "%s", buf);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

START_TEST(hostile)
{
	struct pac_engine *e = start();
	int64_t t0 = ms_now();
	struct answer *a = find(e, "loop.test");
	ck_assert_int_eq(a->status, -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(a->why, "did not finish"));
	ck_assert_int_lt(ms_now() - t0, 2 * KG_PAC_PROC_FIND_TIMEOUT_MS + 1000);
	/* the restarted evaluator has the PAC again */
	find_route(e, "x.intranet.test", "DIRECT");
	/* a 1 GiB string: the evaluator's memory cap, at once */
	t0 = ms_now();
	a = find(e, "oom.test");
	ck_assert_int_eq(a->status, -ENOMEM);
	ck_assert_int_lt(ms_now() - t0, 2 * KG_PAC_PROC_FIND_TIMEOUT_MS + 1000);
	find_route(e, "x.intranet.test", "DIRECT");
	a = find(e, "throw.test");
	ck_assert_int_eq(a->status, -ENOEXEC);
	ck_assert_msg(strstr(a->why, "no route for throw.test") != NULL, "%s", a->why);
	find_route(e, "x.intranet.test", "DIRECT");
	struct pac_engine_stats s;
	pac_engine_get_stats(e, &s);
	ck_assert_uint_eq(s.failures, 3);
	ck_assert_uint_ge(s.evaluator_restarts, 1);
	/* a syntax error: refused with the sentence, then no PAC at all */
	static const char bad[] = "function FindProxyForURL(url, host) { return 'DIRECT' ";
	load_status = 1;
	ck_assert_int_eq(pac_engine_load(e, bad, strlen(bad)), 0);
	a = find(e, "x.intranet.test"); /* queued after the load: answered after it */
	ck_assert_int_eq(load_status, -ENOEXEC);
	ck_assert_msg(strstr(load_why, "syntax error") != NULL, "%s", load_why);
	ck_assert_int_eq(a->status, -ENOEXEC);
	ck_assert_str_eq(a->why, "no PAC loaded");
	stop(e);
}
END_TEST

START_TEST(dns)
{
	struct pac_engine *e = start();
	find_route(e, "in.dns.test", "DIRECT"); /* isInNet 192.0.2.0/24 */
	find_route(e, "out.dns.test", "PROXY 198.51.100.7:8080");
	find_route(e, "nowhere.dns.test", "PROXY unresolved.test:1");
	unsigned q = test_dns_queries();
	ck_assert_uint_eq(q, 6); /* three names, A and AAAA each */
	find_route(e, "IN.dns.test", "DIRECT");
	find_route(e, "nowhere.dns.test", "PROXY unresolved.test:1");
	ck_assert_uint_eq(test_dns_queries(), q); /* cached, negative included */
	struct pac_engine_stats s;
	pac_engine_get_stats(e, &s);
	ck_assert_uint_eq(s.dns.lookups, 3);
	ck_assert_uint_ge(s.dns.hits, 2);
	/* a network change forgets the answers: asked again */
	ck_assert_int_eq(pac_engine_network_changed(e), 0);
	find_route(e, "in.dns.test", "DIRECT");
	ck_assert_uint_eq(test_dns_queries(), q + 2);
	stop(e);
}
END_TEST

/* A request spends at most the DNS budget on lookups: a server that does not answer costs
 * one lookup (about 2 s: A and AAAA), then the next name is not looked up at all. */
START_TEST(dns_budget)
{
	struct pac_engine *e = start_with(0, 1000);
	int64_t t0 = ms_now();
	struct answer *a = find(e, "slow.test");
	ck_assert_int_eq(a->status, 0);
	ck_assert_str_eq(a->route, "PROXY none-none:1");
	ck_assert_msg(strstr(a->why, "DNS lookups took too long") != NULL, "%s", a->why);
	ck_assert_int_lt(ms_now() - t0, 3500);
	ck_assert_uint_eq(test_dns_queries(), 2); /* s1's A and AAAA; s2 never asked */
	/* s1 is cached as not resolving; s2 is looked up now, within this request's budget */
	find_route(e, "slow.test", "PROXY none-none:1");
	ck_assert_uint_eq(test_dns_queries(), 4);
	stop(e);
}
END_TEST

/* With resolve_proxies, an answer's proxies come resolved through the cache (the relay then
 * looks nothing up on its loop): a name that resolves has its first address, one that does
 * not has none, literals need no lookup, and the next answer asks the server nothing. */
START_TEST(proxies_resolved)
{
	resolve_proxies = true;
	struct pac_engine *e = start();
	resolve_proxies = false;
	find_route(e, "example.com", "PROXY a.test:3128; PROXY b.test:3128; DIRECT");
	ck_assert(last_route.resolved);
	ck_assert_int_eq(last_route.e[0].addr.family, 4);
	ck_assert_mem_eq(last_route.e[0].addr.bytes, ((const uint8_t[]){203, 0, 113, 10}), 4);
	ck_assert_int_eq(last_route.e[1].addr.family, 0); /* b.test: no such name */
	ck_assert_int_eq(last_route.e[2].addr.family, 0); /* DIRECT */
	unsigned q = test_dns_queries();
	ck_assert_uint_eq(q, 4); /* a.test and b.test, A and AAAA each */
	find_route(e, "example.com", "PROXY a.test:3128; PROXY b.test:3128; DIRECT");
	ck_assert_int_eq(last_route.e[0].addr.family, 4);
	ck_assert_uint_eq(test_dns_queries(), q); /* from the cache, the negative one too */
	find_route(e, "out.dns.test", "PROXY 198.51.100.7:8080");
	ck_assert(last_route.resolved);
	ck_assert_int_eq(last_route.e[0].addr.family, 4);
	ck_assert_mem_eq(last_route.e[0].addr.bytes, ((const uint8_t[]){198, 51, 100, 7}), 4);
	ck_assert_uint_eq(test_dns_queries(), q + 2); /* out.dns.test for the PAC only */
	stop(e);
}
END_TEST

/* Freeing the engine while the evaluator loops waits for that request's deadline only. */
START_TEST(free_while_busy)
{
	struct pac_engine *e = start();
	struct answer a, b;
	ask(e, "loop.test", &a);
	ask(e, "x.intranet.test", &b);
	usleep(50 * 1000);
	int64_t t0 = ms_now();
	stop(e);
	ck_assert_int_lt(ms_now() - t0, KG_PAC_PROC_FIND_TIMEOUT_MS + 1000);
	ck_assert(!a.got && !b.got);
}
END_TEST

START_TEST(my_ip)
{
	struct pac_engine *e = start();
	struct answer a;
	ask_dst(e, "me.test", "127.0.0.1", 443, &a);
	pump_until(e, &a.got, 5000);
	ck_assert_int_eq(a.status, 0);
	ck_assert_str_eq(a.route, "PROXY 127.0.0.1:3128");
	/* a TEST-NET destination: the kernel's source for it, or, without a route there, the
	 * documented 127.0.0.1 */
	struct kg_pac_addr dst, src;
	char want[80] = "PROXY 127.0.0.1:3128", s[64];
	ck_assert_int_eq(kg_pac_addr_parse("192.0.2.1", &dst), 0);
	if (pac_engine_source_addr(&dst, 80, &src) == 0) {
		ck_assert_int_gt(kg_pac_addr_format(&src, s, sizeof(s)), 0);
		snprintf(want, sizeof(want), "PROXY %s:3128", s);
	}
	ask_dst(e, "me.test", "192.0.2.1", 80, &a);
	pump_until(e, &a.got, 5000);
	ck_assert_int_eq(a.status, 0);
	ck_assert_str_eq(a.route, want);
	/* and back: the worker's socket, used again, picks the source afresh */
	ask_dst(e, "me.test", "127.0.0.1", 443, &a);
	pump_until(e, &a.got, 5000);
	ck_assert_str_eq(a.route, "PROXY 127.0.0.1:3128");
	/* no destination known: 127.0.0.1 */
	ask_dst(e, "me.test", NULL, 0, &a);
	pump_until(e, &a.got, 5000);
	ck_assert_str_eq(a.route, "PROXY 127.0.0.1:3128");
	/* IPv6: myIpAddressEx gives the IPv6 source */
	ck_assert_int_eq(kg_pac_addr_parse("::1", &dst), 0);
	if (pac_engine_source_addr(&dst, 443, &src) == 0) {
		ask_dst(e, "meex.test", "::1", 443, &a);
		pump_until(e, &a.got, 5000);
		ck_assert_int_eq(a.status, 0);
		ck_assert_str_eq(a.route, "PROXY [::1]:3128");
	}
	/* an IPv4-mapped destination is IPv4 */
	ck_assert_int_eq(kg_pac_addr_parse("::ffff:127.0.0.1", &dst), 0);
	ck_assert_int_eq(pac_engine_source_addr(&dst, 443, &src), 0);
	ck_assert_uint_eq(src.family, 4);
	stop(e);
}
END_TEST

START_TEST(cancel)
{
	struct pac_engine *e = start();
	struct answer running, queued, after;
	struct pac_job *j1 = ask(e, "loop.test", &running);
	struct pac_job *j2 = ask(e, "www.intranet.test", &queued);
	ask(e, "x.intranet.test", &after);
	usleep(100 * 1000);	  /* the loop is being evaluated */
	pac_engine_cancel(e, j2); /* queued: dropped unevaluated */
	pac_engine_cancel(e, j1); /* running: its answer is dropped */
	pump_until(e, &after.got, 5000);
	pump_for(e, 100);
	ck_assert(!running.got);
	ck_assert(!queued.got);
	ck_assert_int_eq(after.status, 0);
	ck_assert_str_eq(after.route, "DIRECT");
	struct pac_engine_stats s;
	pac_engine_get_stats(e, &s);
	ck_assert_uint_eq(s.cancelled, 2);
	ck_assert_uint_eq(s.finds, 2); /* the loop and "after"; the cancelled one never ran */
	pac_engine_cancel(e, NULL);
	stop(e);
}
END_TEST

START_TEST(queue_full)
{
	struct pac_engine *e = start_with(2, 0);
	struct answer busy, a[3];
	ask(e, "loop.test", &a[0]);
	usleep(100 * 1000); /* the worker took it: the queue is empty */
	ask(e, "a.intranet.test", &a[1]);
	ask(e, "b.intranet.test", &a[2]);
	int64_t t0 = ms_now();
	ask(e, "c.intranet.test", &busy);
	pump_until(e, &busy.got, 5000);
	ck_assert_int_lt(ms_now() - t0, 200); /* at once, not after the loop */
	ck_assert(!a[0].got);
	ck_assert_int_eq(busy.status, -EBUSY);
	ck_assert_ptr_nonnull(strstr(busy.why, "busy"));
	for (int i = 0; i < 3; i++)
		pump_until(e, &a[i].got, 5000);
	ck_assert_int_eq(a[0].status, -ETIMEDOUT);
	ck_assert_str_eq(a[1].route, "DIRECT");
	ck_assert_str_eq(a[2].route, "DIRECT");
	/* a cancelled queued request frees its place at once */
	struct answer c[3];
	ask(e, "loop.test", &c[0]);
	usleep(100 * 1000);
	struct pac_job *q1 = ask(e, "a.intranet.test", &c[1]);
	ask(e, "b.intranet.test", &c[2]);
	pac_engine_cancel(e, q1);
	ask(e, "c.intranet.test", &busy);
	pump_until(e, &busy.got, 5000);
	ck_assert_int_eq(busy.status, 0);
	ck_assert(!c[1].got);
	struct pac_engine_stats s;
	pac_engine_get_stats(e, &s);
	ck_assert_uint_eq(s.busy, 1);
	stop(e);
}
END_TEST

START_TEST(bad_query)
{
	struct pac_engine *e = start();
	char host[KG_PAC_HOST_MAX + 2];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	struct pac_engine_query q = {.url = "https://h/", .host = host};
	errno = 0;
	ck_assert_ptr_null(pac_engine_find(e, &q, on_done, NULL));
	ck_assert_int_eq(errno, EINVAL);
	/* a control character: refused by the protocol, answered -EINVAL, the next one served */
	struct answer a;
	q = (struct pac_engine_query){.url = "https://x\001y/", .host = "x\001y"};
	memset(&a, 0, sizeof(a));
	ck_assert_ptr_nonnull(pac_engine_find(e, &q, on_done, &a));
	pump_until(e, &a.got, 5000);
	ck_assert_int_eq(a.status, -EINVAL);
	find_route(e, "x.intranet.test", "DIRECT");
	stop(e);
}
END_TEST

/* A burst: requests queued together travel through the evaluator's pipeline. One of them
 * loops, one asks for names, one is cancelled while in flight, and a load queued after them
 * waits for them all: every answer goes to its own request, the loop fails alone within its
 * deadline and the others are answered by the evaluator restarted under them. */
START_TEST(burst_with_a_hang)
{
	static const char *const hosts[] = {
	    "a.intranet.test", "in.dns.test", "loop.test",	 "throw.test", "out.dns.test",
	    "b.intranet.test", "alert.test",  "c.intranet.test", "empty.test", "x.dns.test"};
	static const char *const want[] = {
	    "DIRECT", "DIRECT", NULL,	  NULL,	    "PROXY 198.51.100.7:8080",
	    "DIRECT", NULL,	"DIRECT", "DIRECT", "PROXY unresolved.test:1"};
	enum { N = sizeof(hosts) / sizeof(hosts[0]) };
	struct pac_engine *e = start();
	struct answer a[N], after;
	struct pac_job *jobs[N];
	int64_t t0 = ms_now();
	for (unsigned i = 0; i < N; i++)
		jobs[i] = ask(e, hosts[i], &a[i]);
	pac_engine_cancel(e, jobs[5]); /* queued or in flight: never answered */
	load_status = 1;
	ck_assert_int_eq(pac_engine_load(e, pac, strlen(pac)), 0);
	ask(e, "d.intranet.test", &after);
	for (unsigned i = 0; i < N; i++)
		if (i != 5)
			pump_until(e, &a[i].got, 5000);
	pump_until(e, &after.got, 5000);
	ck_assert_int_lt(ms_now() - t0, KG_PAC_PROC_FIND_TIMEOUT_MS + 1500);
	ck_assert_int_eq(load_status, 0);
	ck_assert(!a[5].got);
	for (unsigned i = 0; i < N; i++) {
		if (!want[i] || i == 5)
			continue;
		ck_assert_msg(a[i].status == 0, "%s: %d %s", hosts[i], a[i].status, a[i].why);
		ck_assert_msg(strcmp(a[i].route, want[i]) == 0, "%s: %s", hosts[i], a[i].route);
	}
	ck_assert_int_eq(a[2].status, -ETIMEDOUT);
	ck_assert_int_eq(a[3].status, -ENOEXEC);
	ck_assert_msg(strstr(a[3].why, "no route for throw.test") != NULL, "%s", a[3].why);
	ck_assert_int_eq(a[6].status, 0);
	ck_assert_int_eq(nalerts, 2);
	ck_assert_str_eq(alerts[0], "looking at alert.test");
	ck_assert_str_eq(after.route, "DIRECT");
	struct pac_engine_stats s;
	pac_engine_get_stats(e, &s);
	ck_assert_uint_eq(s.evaluator_restarts, 1);
	ck_assert_uint_eq(s.cancelled, 1);
	stop(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pac_engine");
	TCase *t = tcase_create("engine");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, routes);
	tcase_add_test(t, alert_to_log);
	tcase_add_test(t, hostile);
	tcase_add_test(t, dns);
	tcase_add_test(t, dns_budget);
	tcase_add_test(t, proxies_resolved);
	tcase_add_test(t, free_while_busy);
	tcase_add_test(t, my_ip);
	tcase_add_test(t, cancel);
	tcase_add_test(t, queue_full);
	tcase_add_test(t, bad_query);
	tcase_add_test(t, burst_with_a_hang);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
