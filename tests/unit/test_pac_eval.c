/* Unit tests for the PAC evaluator (src/pac/) through its client side
 * (src/client/route/pac_proc.c), unprivileged: the built kernelgatekeeper-pac is spawned for
 * real. A PAC with host rules; every standard function at least once; the NEED_DNS round
 * trip; myIpAddress answering the given source address; alert(); then the hostile PACs, one
 * at a time, each answered within bounds with the right sentence and the next request served
 * (by a restarted evaluator where the evaluator had to go): an endless loop, a 1 GiB string,
 * a string doubled without end, throw, a syntax error, a PAC of 2 MiB, a non-string answer,
 * an evaluator killed under our feet (and one at its CPU limit). Last, the sandbox: the
 * evaluator's self-test mode attempts open(), socket(), execve(), an executable mmap() and a
 * write to fd 0 after entering it and must die of SIGSYS; a bad frame gets ERROR(protocol)
 * and the end of the stream.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/route/pac_proc.h"
#include "shared/pac_proto.h"

#ifndef KG_TEST_PAC_EVALUATOR
#error "KG_TEST_PAC_EVALUATOR: the path of the built kernelgatekeeper-pac"
#endif

static char out[KG_PAC_RESULT_MAX + 1];
static char alerts[KG_PAC_ALERTS_MAX + 8][KG_PAC_TEXT_MAX + 1];
static int nalerts;

static void on_alert(void *ud, const char *msg)
{
	if (nalerts < (int)(sizeof(alerts) / sizeof(alerts[0])))
		snprintf(alerts[nalerts], sizeof(alerts[0]), "%s", msg);
	nalerts++;
}

static struct kg_pac_proc *start(void)
{
	char err[256];
	struct kg_pac_proc_opts o = {.path = KG_TEST_PAC_EVALUATOR, .on_alert = on_alert};
	struct kg_pac_proc *p = kg_pac_proc_new(&o, err, sizeof(err));
	ck_assert_msg(p != NULL, "%s", err);
	nalerts = 0;
	return p;
}

static void load_ok(struct kg_pac_proc *p, const char *pac)
{
	char err[KG_PAC_TEXT_MAX + 64];
	int r = kg_pac_proc_load(p, pac, strlen(pac), err, sizeof(err));
	ck_assert_msg(r == 0, "load: %d %s", r, err);
}

static int load_err(struct kg_pac_proc *p, const char *pac, size_t len, char *err, size_t cap)
{
	int r = kg_pac_proc_load(p, pac, len, err, cap);
	ck_assert_int_lt(r, 0);
	return r;
}

/* A request for url and host at 2023-11-14 22:13:20 UTC (a Tuesday), local time UTC+1. */
static void query(struct kg_pac_find *q, const char *url, const char *host)
{
	memset(q, 0, sizeof(*q));
	q->url = url;
	q->host = host;
	ck_assert_int_eq(kg_pac_addr_parse("192.0.2.55", &q->my_ip), 0);
	q->now = 1700000000;
	q->tz_offset = 3600;
}

static void add_dns(struct kg_pac_find *q, const char *host, const char *a1, const char *a2)
{
	struct kg_pac_dns_entry *e = &q->dns[q->ndns++];
	e->host = host;
	e->naddr = 0;
	if (a1)
		ck_assert_int_eq(kg_pac_addr_parse(a1, &e->addr[e->naddr++]), 0);
	if (a2)
		ck_assert_int_eq(kg_pac_addr_parse(a2, &e->addr[e->naddr++]), 0);
}

static const char *find(struct kg_pac_proc *p, const struct kg_pac_find *q)
{
	int r = kg_pac_proc_find(p, q, out, sizeof(out));
	ck_assert_msg(r == KG_PAC_PROC_RESULT, "find: %d %s", r, out);
	return out;
}

static const char *find_host(struct kg_pac_proc *p, const char *url, const char *host)
{
	static struct kg_pac_find q;
	query(&q, url, host);
	return find(p, &q);
}

static int64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char good_pac[] =
    "function FindProxyForURL(url, host) {\n"
    "  if (isPlainHostName(host) || shExpMatch(host, '*.intranet.test')) return 'DIRECT';\n"
    "  if (dnsDomainIs(host, '.b.test')) return 'PROXY proxy-b.test:3128';\n"
    "  return 'PROXY proxy-a.test:3128; PROXY proxy-b.test:3128';\n"
    "}\n";

/* After a failure: a good PAC loads and answers, from the evaluator now running. */
static void serves_again(struct kg_pac_proc *p)
{
	load_ok(p, good_pac);
	ck_assert_str_eq(find_host(p, "https://x.intranet.test/", "x.intranet.test"), "DIRECT");
}

START_TEST(host_rules)
{
	struct kg_pac_proc *p = start();
	load_ok(p, good_pac);
	ck_assert_str_eq(find_host(p, "https://wiki.intranet.test/", "wiki.intranet.test"),
			 "DIRECT");
	ck_assert_str_eq(find_host(p, "http://intranet/", "intranet"), "DIRECT");
	ck_assert_str_eq(find_host(p, "https://www.b.test/", "www.b.test"),
			 "PROXY proxy-b.test:3128");
	ck_assert_str_eq(find_host(p, "https://example.com/", "example.com"),
			 "PROXY proxy-a.test:3128; PROXY proxy-b.test:3128");
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 0);
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(every_builtin)
{
	static const char pac[] =
	    "function FindProxyForURL(url, host) {\n"
	    "  var r = [];\n"
	    "  r.push(isPlainHostName('www'), isPlainHostName(host));\n"
	    "  r.push(dnsDomainIs(host, '.example.com'), localHostOrDomainIs('www', host));\n"
	    "  r.push(isResolvable(host), isResolvable('nx.example'), "
	    "isResolvable('v6.example'));\n"
	    "  r.push(isInNet(host, '198.51.100.0', '255.255.255.0'),\n"
	    "         isInNet('10.1.2.3', '10.0.0.0', '255.0.0.0'), isInNet('nx.example', "
	    "'0.0.0.0', "
	    "'0.0.0.0'));\n"
	    "  r.push(dnsResolve(host), String(dnsResolve('nx.example')), "
	    "dnsResolve('10.9.8.7'));\n"
	    "  r.push(myIpAddress(), dnsDomainLevels(host), shExpMatch(url, '*/path/*'));\n"
	    "  r.push(weekdayRange('MON', 'FRI'), weekdayRange('SAT', 'SUN'), dateRange(2023),\n"
	    "         dateRange('NOV'), timeRange(23), timeRange(22, 'GMT'), timeRange(1, 2));\n"
	    "  alert('checked ' + host);\n"
	    "  r.push(dnsResolveEx(host), dnsResolveEx('nx.example') === '', myIpAddressEx());\n"
	    "  r.push(isResolvableEx('v6.example'), isResolvableEx('nx.example'));\n"
	    "  r.push(isInNetEx('v6.example', '2001:db8::/32'), isInNetEx(host, '10.0.0.0/8'),\n"
	    "         isInNetEx('198.51.100.9', '198.51.100.0/24'));\n"
	    "  r.push(sortIpAddressList('10.0.0.2;2001:db8::1;10.0.0.1'), "
	    "sortIpAddressList('x'));\n"
	    "  r.push(getClientVersion(), typeof new Date().getTime(), typeof Math.random());\n"
	    "  r.push(new Date(2023, 10, 14, 12).getHours(), typeof new Date().toString());\n"
	    "  return r.join(',');\n"
	    "}\n";
	static struct kg_pac_find q;
	struct kg_pac_proc *p = start();
	load_ok(p, pac);
	query(&q, "https://www.example.com/path/x", "www.example.com");
	add_dns(&q, "WWW.example.com", "2001:db8::1", "198.51.100.1"); /* names: any case */
	add_dns(&q, "nx.example", NULL, NULL);
	add_dns(&q, "v6.example", "2001:db8::7", NULL);
	ck_assert_str_eq(find(p, &q), "true,false,"
				      "true,true,"
				      "true,false,false,"
				      "true,true,false,"
				      "198.51.100.1,null,10.9.8.7,"
				      "192.0.2.55,2,true,"
				      "true,false,true,true,true,true,false,"
				      "2001:db8::1;198.51.100.1,true,192.0.2.55,"
				      "true,false,"
				      "true,false,true,"
				      "2001:db8::1;10.0.0.1;10.0.0.2,false,"
				      "1.0,number,number,"
				      "12,string");
	ck_assert_int_eq(nalerts, 1);
	ck_assert_str_eq(alerts[0], "checked www.example.com");
	kg_pac_proc_free(p);
}
END_TEST

static int resolves;

static void resolver(void *ud, struct kg_pac_dns_entry *e)
{
	resolves++;
	if (strcmp(e->host, "intra.test") == 0) {
		e->naddr = 1;
		ck_assert_int_eq(kg_pac_addr_parse("10.20.30.40", &e->addr[0]), 0);
	}
}

START_TEST(need_dns)
{
	static const char pac[] = "function FindProxyForURL(url, host) {\n"
				  "  if (isResolvable('probe.test')) return 'PROXY probe:1';\n"
				  "  if (isInNet(host, '10.0.0.0', '255.0.0.0')) return 'DIRECT';\n"
				  "  return 'PROXY p:1';\n"
				  "}\n";
	static struct kg_pac_find q;
	struct kg_pac_proc *p = start();
	load_ok(p, pac);
	query(&q, "https://intra.test/", "intra.test");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), KG_PAC_PROC_NEED_DNS);
	ck_assert_str_eq(out, "probe.test");
	add_dns(&q, "probe.test", NULL, NULL);
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), KG_PAC_PROC_NEED_DNS);
	ck_assert_str_eq(out, "intra.test");
	add_dns(&q, "intra.test", "10.20.30.40", NULL);
	ck_assert_str_eq(find(p, &q), "DIRECT");

	/* The same through the helper, which asks the resolver once per name. */
	query(&q, "https://intra.test/", "intra.test");
	resolves = 0;
	ck_assert_int_eq(kg_pac_proc_find_resolving(p, &q, resolver, NULL, out, sizeof(out)),
			 KG_PAC_PROC_RESULT);
	ck_assert_str_eq(out, "DIRECT");
	ck_assert_int_eq(resolves, 2);
	ck_assert_uint_eq(q.ndns, 0);

	/* A PAC that catches the abandonment still gets it, and one that asks for name after
	 * name is stopped after KG_PAC_PROC_DNS_ROUNDS. */
	load_ok(p, "function FindProxyForURL(u, h) {\n"
		   "  try { dnsResolve('a.test'); } catch (e) {}\n"
		   "  return 'DIRECT';\n"
		   "}\n");
	query(&q, "https://x/", "x");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), KG_PAC_PROC_NEED_DNS);
	ck_assert_str_eq(out, "a.test");
	load_ok(p, "function FindProxyForURL(u, h) {\n"
		   "  for (var i = 0; ; i++) dnsResolve('h' + i + '.test');\n"
		   "}\n");
	resolves = 0;
	ck_assert_int_eq(kg_pac_proc_find_resolving(p, &q, resolver, NULL, out, sizeof(out)),
			 -ELOOP);
	ck_assert_int_eq(resolves, KG_PAC_PROC_DNS_ROUNDS);
	ck_assert_ptr_nonnull(strstr(out, "more than 8 host names"));
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(my_ip_address)
{
	static struct kg_pac_find q;
	struct kg_pac_proc *p = start();
	load_ok(p,
		"function FindProxyForURL(u, h) { return myIpAddress() + ' ' + myIpAddressEx(); }");
	query(&q, "https://x/", "x");
	ck_assert_int_eq(kg_pac_addr_parse("172.16.5.9", &q.my_ip), 0);
	ck_assert_str_eq(find(p, &q), "172.16.5.9 172.16.5.9");
	ck_assert_int_eq(kg_pac_addr_parse("2001:db8::55", &q.my_ip), 0);
	ck_assert_str_eq(find(p, &q), "127.0.0.1 2001:db8::55");
	memset(&q.my_ip, 0, sizeof(q.my_ip));
	ck_assert_str_eq(find(p, &q), "127.0.0.1 ");
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(alerts_bounded)
{
	struct kg_pac_proc *p = start();
	load_ok(p, "alert('loading');\n"
		   "function FindProxyForURL(u, h) {\n"
		   "  for (var i = 0; i < 40; i++) alert('n' + i + '\\x01');\n"
		   "  alert(new Array(2000).join('y'));\n"
		   "  return 'DIRECT';\n"
		   "}\n");
	ck_assert_int_eq(nalerts, 1);
	ck_assert_str_eq(alerts[0], "loading");
	nalerts = 0;
	ck_assert_str_eq(find_host(p, "https://x/", "x"), "DIRECT");
	ck_assert_int_eq(nalerts, KG_PAC_ALERTS_MAX);
	ck_assert_str_eq(alerts[0], "n0?");
	ck_assert_str_eq(alerts[15], "n15?");
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(hostile_endless_loop)
{
	struct kg_pac_proc *p = start();
	load_ok(p, "function FindProxyForURL(u, h) { while (true) {} }");
	pid_t before = kg_pac_proc_pid(p);
	static struct kg_pac_find q;
	query(&q, "https://x/", "x");
	int64_t t0 = ms_now();
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ETIMEDOUT);
	int64_t took = ms_now() - t0;
	ck_assert_str_eq(out, "PAC evaluation did not finish within 500 ms (an endless loop?)");
	ck_assert_int_ge(took, 500);
	ck_assert_int_lt(took, 2500);
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	ck_assert_int_gt(kg_pac_proc_pid(p), 0);
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 1);
	ck_assert_int_eq(kill(before, 0), -1); /* killed and reaped */
	serves_again(p);

	/* At the top level: LOAD itself times out, and no PAC is loaded afterwards. */
	char err[256];
	before = kg_pac_proc_pid(p);
	ck_assert_int_eq(load_err(p, "while (true) {}", 15, err, sizeof(err)), -ETIMEDOUT);
	ck_assert_str_eq(err, "PAC loading did not finish within 2000 ms (an endless loop?)");
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "no PAC loaded");
	serves_again(p);
	kg_pac_proc_free(p);
}
END_TEST

static void out_of_memory(const char *pac)
{
	struct kg_pac_proc *p = start();
	load_ok(p, pac);
	pid_t before = kg_pac_proc_pid(p);
	static struct kg_pac_find q;
	query(&q, "https://x/", "x");
	int64_t t0 = ms_now();
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOMEM);
	ck_assert_int_lt(ms_now() - t0, 500);
	ck_assert_str_eq(out, "out of memory");
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	serves_again(p);
	kg_pac_proc_free(p);
}

START_TEST(hostile_gigabyte_string)
{
	out_of_memory("function FindProxyForURL(u, h) { return 'x'.repeat(1 << 30); }");
}
END_TEST

START_TEST(hostile_doubling)
{
	out_of_memory("function FindProxyForURL(u, h) {\n"
		      "  var s = 'x';\n"
		      "  for (;;) s = s + s;\n"
		      "}\n");
}
END_TEST

START_TEST(hostile_throw)
{
	struct kg_pac_proc *p = start();
	load_ok(p, "function FindProxyForURL(u, h) { throw new Error('boom\\nline two'); }");
	pid_t before = kg_pac_proc_pid(p);
	static struct kg_pac_find q;
	query(&q, "https://x/", "x");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "PAC threw: Error: boom?line two");
	/* The evaluator is sound: no restart needed. */
	ck_assert_int_eq(kg_pac_proc_pid(p), before);
	load_ok(p, "function FindProxyForURL(u, h) { throw 42; }");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "PAC threw: 42");
	char err[256];
	ck_assert_int_eq(load_err(p, "throw new TypeError('at load')", 30, err, sizeof(err)),
			 -ENOEXEC);
	ck_assert_str_eq(err, "PAC threw while loading: TypeError: at load");
	serves_again(p);
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(hostile_syntax_error)
{
	struct kg_pac_proc *p = start();
	char err[256];
	static const char pac[] = "function FindProxyForURL(u, h) {\n"
				  "  var x = 1;\n"
				  "  return 'DIRECT' +;\n"
				  "}\n";
	ck_assert_int_eq(load_err(p, pac, strlen(pac), err, sizeof(err)), -ENOEXEC);
	ck_assert_msg(strncmp(err, "PAC syntax error at line 3: ", 28) == 0, "%s", err);
	ck_assert_int_eq(
	    kg_pac_proc_find(p, &(struct kg_pac_find){.url = "", .host = ""}, out, sizeof(out)),
	    -ENOEXEC);
	ck_assert_str_eq(out, "no PAC loaded");
	ck_assert_int_eq(load_err(p, "var x = 1;", 10, err, sizeof(err)), -ENOEXEC);
	ck_assert_str_eq(err, "PAC defines no function FindProxyForURL");
	serves_again(p);
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(hostile_two_mib)
{
	struct kg_pac_proc *p = start();
	size_t len = 2 * 1024 * 1024;
	char *pac = malloc(len);
	ck_assert_ptr_nonnull(pac);
	memset(pac, ' ', len);
	memcpy(pac, "function FindProxyForURL(u, h) { return 'DIRECT'; }", 51);
	char err[256];
	load_ok(p, good_pac);
	int64_t t0 = ms_now();
	ck_assert_int_eq(load_err(p, pac, len, err, sizeof(err)), -E2BIG);
	ck_assert_int_lt(ms_now() - t0, 100);
	ck_assert_str_eq(err, "PAC refused: 2097152 bytes, more than the 1048576-byte limit");
	ck_assert_int_eq(
	    kg_pac_proc_find(p, &(struct kg_pac_find){.url = "", .host = ""}, out, sizeof(out)),
	    -ENOEXEC);
	ck_assert_str_eq(out, "no PAC loaded");
	/* Exactly 1 MiB is accepted. */
	load_ok(p, good_pac);
	ck_assert_int_eq(kg_pac_proc_load(p, pac, KG_PAC_SCRIPT_MAX, err, sizeof(err)), 0);
	ck_assert_str_eq(find_host(p, "https://x/", "x"), "DIRECT");
	free(pac);
	serves_again(p);
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(hostile_not_a_string)
{
	struct kg_pac_proc *p = start();
	static struct kg_pac_find q;
	query(&q, "https://x/", "x");
	load_ok(p, "function FindProxyForURL(u, h) { return 42; }");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "FindProxyForURL returned a number");
	load_ok(p, "function FindProxyForURL(u, h) { }");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "FindProxyForURL returned undefined");
	load_ok(p, "function FindProxyForURL(u, h) { return 'x'.repeat(9000); }");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ENOEXEC);
	ck_assert_str_eq(out, "FindProxyForURL returned 9000 bytes, more than the 8192-byte limit");
	load_ok(p, "function FindProxyForURL(u, h) { return 'PROXY a:1;\\nDIRECT'; }");
	ck_assert_str_eq(find(p, &q), "PROXY a:1; DIRECT");
	kg_pac_proc_free(p);
}
END_TEST

START_TEST(evaluator_killed)
{
	struct kg_pac_proc *p = start();
	load_ok(p, good_pac);
	pid_t before = kg_pac_proc_pid(p);
	ck_assert_int_eq(kill(before, SIGKILL), 0);
	static struct kg_pac_find q;
	query(&q, "https://x.intranet.test/", "x.intranet.test");
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -ECHILD);
	ck_assert_str_eq(
	    out, "the PAC evaluator was killed by signal 9, Killed (the kernel's OOM killer?) "
		 "during the evaluation");
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	/* The restarted evaluator has the PAC again. */
	ck_assert_str_eq(find(p, &q), "DIRECT");

	/* An evaluator at the end of its lifetime CPU limit: the request goes to the next one. */
	before = kg_pac_proc_pid(p);
	ck_assert_int_eq(kill(before, SIGXCPU), 0);
	ck_assert_str_eq(find(p, &q), "DIRECT");
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 2);
	kg_pac_proc_free(p);
}
END_TEST

/* ---- the client side's own failures ---- */

START_TEST(cannot_start)
{
	char err[256];
	struct kg_pac_proc_opts o = {.path = "/nonexistent/kernelgatekeeper-pac"};
	ck_assert_ptr_null(kg_pac_proc_new(&o, err, sizeof(err)));
	ck_assert_str_eq(err, "cannot start the PAC evaluator /nonexistent/kernelgatekeeper-pac: "
			      "No such file or directory");
}
END_TEST

/* A stand-in evaluator: a shell script (body) in a temporary file. */
static char fake_path[64];

static struct kg_pac_proc *start_fake(const char *body)
{
	char err[256];
	snprintf(fake_path, sizeof(fake_path), "/tmp/kg-fake-pac-%ld", (long)getpid());
	FILE *f = fopen(fake_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(fake_path, 0700), 0);
	struct kg_pac_proc_opts o = {.path = fake_path, .load_timeout_ms = 3000};
	struct kg_pac_proc *p = kg_pac_proc_new(&o, err, sizeof(err));
	ck_assert_msg(p != NULL, "%s", err);
	return p;
}

START_TEST(evaluator_talks_garbage)
{
	char err[KG_PAC_TEXT_MAX + 64];
	/* a frame header announcing more than any answer may hold */
	struct kg_pac_proc *p = start_fake("printf '\\377\\377\\377\\377garbage'; exec sleep 30");
	ck_assert_int_eq(load_err(p, good_pac, strlen(good_pac), err, sizeof(err)), -EPROTO);
	ck_assert_msg(strstr(err, "protocol") != NULL, "%s", err);
	/* No PAC loaded after a failed load; the stand-in was replaced, not left running. */
	ck_assert_int_eq(kg_pac_proc_find(p, &(struct kg_pac_find){.url = "http://a/", .host = "a"},
					  out, sizeof(out)),
			 -ENOEXEC);
	ck_assert_str_eq(out, "no PAC loaded");
	pid_t pid = kg_pac_proc_pid(p);
	kg_pac_proc_free(p);
	ck_assert_int_eq(kill(pid, 0), -1); /* killed and reaped */
	unlink(fake_path);
}
END_TEST

START_TEST(evaluator_exits)
{
	char err[KG_PAC_TEXT_MAX + 64];
	struct kg_pac_proc *p = start_fake("exit 3");
	ck_assert_int_eq(load_err(p, good_pac, strlen(good_pac), err, sizeof(err)), -ECHILD);
	ck_assert_str_eq(err, "the PAC evaluator exited with status 3 during the loading");
	kg_pac_proc_free(p);
	unlink(fake_path);
}
END_TEST

static void resolve_nothing(void *ud, struct kg_pac_dns_entry *e)
{
	(*(int *)ud)++;
	e->naddr = 0;
}

START_TEST(too_many_names)
{
	struct kg_pac_proc *p = start();
	load_ok(p, "function FindProxyForURL(u, h) {\n"
		   "  for (var i = 0; i < 20; i++) dnsResolve('h' + i + '.test');\n"
		   "  return 'DIRECT';\n}\n");
	static struct kg_pac_find q;
	int asked = 0;
	query(&q, "http://a.test/", "a.test");
	ck_assert_int_eq(
	    kg_pac_proc_find_resolving(p, &q, resolve_nothing, &asked, out, sizeof(out)), -ELOOP);
	ck_assert_int_eq(asked, KG_PAC_PROC_DNS_ROUNDS);
	ck_assert_str_eq(out, "PAC asked for more than 8 host names in one evaluation");
	/* A request beyond the protocol's bounds is refused before it is sent. */
	static char long_url[KG_PAC_URL_MAX + 2];
	memset(long_url, 'a', sizeof(long_url) - 1);
	q.url = long_url;
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "PAC request refused: a field is out of the protocol's bounds");
	kg_pac_proc_free(p);
}
END_TEST

static int run_selftest(const char *what)
{
	pid_t pid = fork();
	if (pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		char arg[64];
		snprintf(arg, sizeof(arg), "--selftest=%s", what);
		execl(KG_TEST_PAC_EVALUATOR, "kernelgatekeeper-pac", arg, (char *)NULL);
		_exit(126);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return st;
}

START_TEST(sandbox_kills)
{
	static const char *const calls[] = {"open", "socket", "exec", "mmap-exec", "write-fd0"};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		int st = run_selftest(calls[i]);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
			      "%s after the sandbox: status 0x%x, not SIGSYS", calls[i], st);
	}
}
END_TEST

START_TEST(protocol_error)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	if (pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		execl(KG_TEST_PAC_EVALUATOR, "kernelgatekeeper-pac", (char *)NULL);
		_exit(126);
	}
	close(sv[1]);
	/* A RESULT is no request. */
	const uint8_t bad[] = {0, 0, 0, 8, KG_PAC_RESULT, 0, 0, 0, 2, 'o', 'k', 0};
	ck_assert_int_eq(write(sv[0], bad, sizeof(bad)), (ssize_t)sizeof(bad));
	uint8_t b[600];
	size_t got = 0;
	ssize_t n;
	while ((n = read(sv[0], b + got, sizeof(b) - got)) > 0)
		got += (size_t)n;
	size_t blen;
	ck_assert_uint_gt(got, KG_PAC_FRAME_HDR);
	ck_assert_int_eq(kg_pac_frame_body_len(b, &blen), 0);
	ck_assert_uint_eq(got, KG_PAC_FRAME_HDR + blen);
	struct kg_pac_msg m;
	ck_assert_int_eq(kg_pac_msg_decode(b + KG_PAC_FRAME_HDR, blen, &m), 0);
	ck_assert_int_eq(m.type, KG_PAC_ERROR);
	ck_assert_int_eq(m.err, KG_PAC_ERR_PROTOCOL);
	ck_assert_str_eq(m.text, "message refused: not a request");
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
	close(sv[0]);
}
END_TEST

/* ---- pipelined finds ---- */

static const char pipe_pac[] =
    "function FindProxyForURL(url, host) {\n"
    "  alert('for ' + host);\n"
    "  if (host == 'loop.test') { while (true) {} }\n"
    "  if (host == 'oom.test') return 'x'.repeat(1 << 30);\n"
    "  if (host == 'throw.test') throw new Error('no route');\n"
    "  if (dnsDomainIs(host, '.dns.test')) return 'PROXY ' + dnsResolve(host) + ':1';\n"
    "  return 'PROXY ' + host + ':1';\n"
    "}\n";

/* Which request each alert came with (kg_pac_proc_head_tag while it is reported). */
static struct kg_pac_proc *alert_proc;
static void *alert_tag[64];
static char alert_msg[64][KG_PAC_TEXT_MAX + 1];
static unsigned nalert_tags;

static void on_pipe_alert(void *ud, const char *msg)
{
	(void)ud;
	if (nalert_tags < 64) {
		alert_tag[nalert_tags] = kg_pac_proc_head_tag(alert_proc);
		snprintf(alert_msg[nalert_tags], sizeof(alert_msg[0]), "%s", msg);
	}
	nalert_tags++;
}

static struct kg_pac_proc *start_pipe(unsigned find_ms)
{
	char err[256];
	struct kg_pac_proc_opts o = {
	    .path = KG_TEST_PAC_EVALUATOR, .find_timeout_ms = find_ms, .on_alert = on_pipe_alert};
	struct kg_pac_proc *p = kg_pac_proc_new(&o, err, sizeof(err));
	ck_assert_msg(p != NULL, "%s", err);
	alert_proc = p;
	nalert_tags = 0;
	load_ok(p, pipe_pac);
	nalert_tags = 0;
	return p;
}

static void resolve_10(void *ud, struct kg_pac_dns_entry *e)
{
	(void)ud;
	resolves++;
	e->naddr = 1;
	ck_assert_int_eq(kg_pac_addr_parse("10.9.9.9", &e->addr[0]), 0);
}

/* Request i of a test: its host, and the tag that stands for it. */
static char pipe_host[KG_PAC_PROC_PIPELINE_MAX + 1][64];
#define TAG(i) ((void *)&pipe_host[i])

static void submit_host(struct kg_pac_proc *p, unsigned i, const char *host, bool resolve)
{
	static struct kg_pac_find q;
	char err[KG_PAC_TEXT_MAX + 64];
	snprintf(pipe_host[i], sizeof(pipe_host[i]), "%s", host);
	query(&q, "https://p/", pipe_host[i]);
	int r =
	    kg_pac_proc_submit(p, &q, resolve ? resolve_10 : NULL, NULL, TAG(i), err, sizeof(err));
	ck_assert_msg(r == 0, "submit %s: %d %s", host, r, err);
}

/* Every answer comes back with its own request's tag, in order, and so do the alerts; the
 * pipeline is bounded. */
START_TEST(pipeline_in_order)
{
	struct kg_pac_proc *p = start_pipe(0);
	char host[64], want[96], err[256];
	static struct kg_pac_find q;
	for (unsigned i = 0; i < KG_PAC_PROC_PIPELINE_MAX; i++) {
		snprintf(host, sizeof(host), "h%u.test", i);
		submit_host(p, i, host, false);
	}
	ck_assert_uint_eq(kg_pac_proc_in_flight(p), KG_PAC_PROC_PIPELINE_MAX);
	query(&q, "https://p/", "one-too-many.test");
	ck_assert_int_eq(kg_pac_proc_submit(p, &q, NULL, NULL, NULL, err, sizeof(err)), -EBUSY);
	ck_assert_int_eq(kg_pac_proc_find(p, &q, out, sizeof(out)), -EBUSY);
	for (unsigned i = 0; i < KG_PAC_PROC_PIPELINE_MAX; i++) {
		void *tag;
		int r = kg_pac_proc_complete(p, &tag, out, sizeof(out));
		ck_assert_msg(r == KG_PAC_PROC_RESULT, "%u: %d %s", i, r, out);
		ck_assert_ptr_eq(tag, TAG(i));
		snprintf(want, sizeof(want), "PROXY h%u.test:1", i);
		ck_assert_str_eq(out, want);
		ck_assert_uint_eq(nalert_tags, i + 1);
		ck_assert_ptr_eq(alert_tag[i], TAG(i));
		snprintf(want, sizeof(want), "for h%u.test", i);
		ck_assert_str_eq(alert_msg[i], want);
	}
	void *tag;
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), -ENOENT);
	ck_assert_ptr_null(tag);
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 0);
	kg_pac_proc_free(p);
}
END_TEST

/* Among requests in flight, one loops, one runs out of memory, one throws and one asks for a
 * name: each fails or is answered on its own, within its own deadline, and the others get
 * their own answers from the evaluator restarted under them. */
START_TEST(pipeline_one_hangs)
{
	static const char *const hosts[] = {"a.test", "b.test",	    "loop.test",
					    "c.test", "x.dns.test", "oom.test",
					    "d.test", "throw.test", "e.test"};
	enum { N = sizeof(hosts) / sizeof(hosts[0]) };
	struct kg_pac_proc *p = start_pipe(300);
	pid_t before = kg_pac_proc_pid(p);
	for (unsigned i = 0; i < N; i++)
		submit_host(p, i, hosts[i], true);
	resolves = 0;
	bool got[N] = {false};
	int64_t t0 = ms_now(), loop_done = 0;
	for (unsigned n = 0; n < N; n++) {
		void *tag;
		int r = kg_pac_proc_complete(p, &tag, out, sizeof(out));
		unsigned i = (unsigned)((char(*)[64])tag - pipe_host);
		ck_assert_uint_lt(i, N);
		ck_assert(!got[i]);
		got[i] = true;
		const char *h = hosts[i];
		if (strcmp(h, "loop.test") == 0) {
			ck_assert_int_eq(r, -ETIMEDOUT);
			ck_assert_str_eq(out, "PAC evaluation did not finish within 300 ms (an "
					      "endless loop?)");
			loop_done = ms_now();
		} else if (strcmp(h, "oom.test") == 0) {
			ck_assert_int_eq(r, -ENOMEM);
			ck_assert_str_eq(out, "out of memory");
		} else if (strcmp(h, "throw.test") == 0) {
			ck_assert_int_eq(r, -ENOEXEC);
			ck_assert_ptr_nonnull(strstr(out, "no route"));
		} else if (strcmp(h, "x.dns.test") == 0) {
			ck_assert_int_eq(r, KG_PAC_PROC_RESULT);
			ck_assert_str_eq(out, "PROXY 10.9.9.9:1");
		} else {
			char want[96];
			snprintf(want, sizeof(want), "PROXY %s:1", h);
			ck_assert_msg(r == KG_PAC_PROC_RESULT, "%s: %d %s", h, r, out);
			ck_assert_str_eq(out, want);
		}
		/* nothing waits for the loop's full deadline twice */
		ck_assert_int_lt(ms_now() - t0, 300 + 1500);
	}
	ck_assert_int_ge(loop_done - t0, 300);
	ck_assert_int_eq(resolves, 1);
	ck_assert_uint_eq(kg_pac_proc_in_flight(p), 0);
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 2); /* the loop, the allocation */
	ck_assert_int_ne(kg_pac_proc_pid(p), before);
	ck_assert_int_eq(kill(before, 0), -1); /* killed and reaped */
	/* Alerts went with their own requests, the loop's included. */
	for (unsigned k = 0; k < nalert_tags && k < 64; k++) {
		char want[96];
		snprintf(want, sizeof(want), "for %s", (const char *)alert_tag[k]);
		ck_assert_str_eq(alert_msg[k], want);
	}
	serves_again(p);
	kg_pac_proc_free(p);
}
END_TEST

/* A dropped request is never handed back: taken out unsent, or its answer thrown away, and
 * that answer never reaches the request after it. */
START_TEST(pipeline_drop)
{
	struct kg_pac_proc *p = start_pipe(0);
	void *tag;
	submit_host(p, 0, "h0.test", false);
	submit_host(p, 1, "h1.test", false);
	submit_host(p, 2, "h2.test", false);
	ck_assert(kg_pac_proc_drop(p, TAG(1))); /* not sent: out */
	ck_assert(!kg_pac_proc_drop(p, TAG(1)));
	ck_assert_uint_eq(kg_pac_proc_in_flight(p), 2);
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(0));
	ck_assert_str_eq(out, "PROXY h0.test:1");
	/* h2, the oldest now, is sent: being evaluated, it completes */
	ck_assert(!kg_pac_proc_drop(p, TAG(2)));
	submit_host(p, 3, "h3.test", false);
	submit_host(p, 4, "h4.test", false);
	submit_host(p, 5, "h5.test", false);
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(2));
	ck_assert_str_eq(out, "PROXY h2.test:1");
	/* h3 to h5 were sent with it: h4's answer is read and thrown away */
	ck_assert(kg_pac_proc_drop(p, TAG(4)));
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(3));
	ck_assert_str_eq(out, "PROXY h3.test:1");
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(5));
	ck_assert_str_eq(out, "PROXY h5.test:1");
	/* the last one dropped: nothing to hand back, and its answer never reaches the next */
	submit_host(p, 6, "h6.test", false);
	submit_host(p, 7, "h7.test", false);
	submit_host(p, 8, "h8.test", false);
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(6));
	ck_assert(kg_pac_proc_drop(p, TAG(8)));
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(7));
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), -ENOENT);
	ck_assert_ptr_null(tag);
	submit_host(p, 9, "h9.test", false);
	ck_assert_int_eq(kg_pac_proc_complete(p, &tag, out, sizeof(out)), KG_PAC_PROC_RESULT);
	ck_assert_ptr_eq(tag, TAG(9));
	ck_assert_str_eq(out, "PROXY h9.test:1");
	/* the alerts of the dropped ones name no request */
	ck_assert_uint_eq(nalert_tags, 9);
	ck_assert_ptr_eq(alert_tag[2], TAG(3));
	ck_assert_ptr_null(alert_tag[3]);
	ck_assert_str_eq(alert_msg[3], "for h4.test");
	ck_assert_ptr_null(alert_tag[7]);
	ck_assert_ptr_eq(alert_tag[8], TAG(9));
	ck_assert_uint_eq(kg_pac_proc_restarts(p), 0);
	/* abandon: the tags back, the evaluator stopped, the next request served */
	submit_host(p, 10, "h10.test", false);
	submit_host(p, 11, "h11.test", false);
	void *tags[4];
	ck_assert_uint_eq(kg_pac_proc_abandon(p, tags, 4), 2);
	ck_assert_ptr_eq(tags[0], TAG(10));
	ck_assert_ptr_eq(tags[1], TAG(11));
	ck_assert_uint_eq(kg_pac_proc_in_flight(p), 0);
	ck_assert_str_eq(find_host(p, "https://p/", "h12.test"), "PROXY h12.test:1");
	kg_pac_proc_free(p);
}
END_TEST

/* The evaluator killed under a full pipeline: the oldest request fails with the sentence,
 * the others are answered by the restarted evaluator; at its CPU limit, nobody fails. */
START_TEST(pipeline_evaluator_killed)
{
	struct kg_pac_proc *p = start_pipe(0);
	char host[64], want[96];
	for (int sig = SIGKILL, round = 0; round < 2; round++, sig = SIGXCPU) {
		pid_t before = kg_pac_proc_pid(p);
		ck_assert_int_eq(kill(before, sig), 0);
		for (unsigned i = 0; i < 5; i++) {
			snprintf(host, sizeof(host), "k%u.test", i);
			submit_host(p, i, host, false);
		}
		for (unsigned i = 0; i < 5; i++) {
			void *tag;
			int r = kg_pac_proc_complete(p, &tag, out, sizeof(out));
			ck_assert_ptr_eq(tag, TAG(i));
			if (i == 0 && sig == SIGKILL) {
				ck_assert_int_eq(r, -ECHILD);
				ck_assert_ptr_nonnull(strstr(out, "killed by signal 9"));
				continue;
			}
			ck_assert_msg(r == KG_PAC_PROC_RESULT, "%u: %d %s", i, r, out);
			snprintf(want, sizeof(want), "PROXY k%u.test:1", i);
			ck_assert_str_eq(out, want);
		}
		ck_assert_int_ne(kg_pac_proc_pid(p), before);
		ck_assert_uint_eq(kg_pac_proc_restarts(p), (unsigned)round + 1);
	}
	kg_pac_proc_free(p);
}
END_TEST

static Suite *eval_suite(void)
{
	Suite *s = suite_create("pac_eval");
	TCase *ok = tcase_create("evaluation");
	TCase *bad = tcase_create("hostile");
	TCase *box = tcase_create("sandbox");

	tcase_set_timeout(ok, 30);
	tcase_add_test(ok, host_rules);
	tcase_add_test(ok, every_builtin);
	tcase_add_test(ok, need_dns);
	tcase_add_test(ok, my_ip_address);
	tcase_add_test(ok, alerts_bounded);
	tcase_add_test(ok, pipeline_in_order);
	tcase_add_test(ok, pipeline_one_hangs);
	tcase_add_test(ok, pipeline_drop);
	tcase_add_test(ok, pipeline_evaluator_killed);
	suite_add_tcase(s, ok);
	tcase_set_timeout(bad, 30);
	tcase_add_test(bad, hostile_endless_loop);
	tcase_add_test(bad, hostile_gigabyte_string);
	tcase_add_test(bad, hostile_doubling);
	tcase_add_test(bad, hostile_throw);
	tcase_add_test(bad, hostile_syntax_error);
	tcase_add_test(bad, hostile_two_mib);
	tcase_add_test(bad, hostile_not_a_string);
	tcase_add_test(bad, evaluator_killed);
	tcase_add_test(bad, cannot_start);
	tcase_add_test(bad, evaluator_talks_garbage);
	tcase_add_test(bad, evaluator_exits);
	tcase_add_test(bad, too_many_names);
	suite_add_tcase(s, bad);
	tcase_set_timeout(box, 30);
	tcase_add_test(box, sandbox_kills);
	tcase_add_test(box, protocol_error);
	suite_add_tcase(s, box);
	return s;
}

int main(void)
{
	/* The harder case for the sandbox: with TZ unset, glibc rereads the zone file. */
	unsetenv("TZ");
	SRunner *sr = srunner_create(eval_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
