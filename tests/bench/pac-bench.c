/* Benchmark: PAC decisions per second (issue 13's target: at least 20,000/s; pacparser does
 * about 1,400/s), no result cache. First through the sandboxed evaluator alone, one request
 * at a time through pac_proc: every decision is a FIND round trip to kernelgatekeeper-pac
 * and one FindProxyForURL call there. Then the same with KG_PAC_PROC_PIPELINE_MAX requests in
 * flight (the evaluator's own ceiling). The PAC is a typical
 * corporate one of 20 rules (plain names, intranet domains, networks by isInNet on the
 * resolved address, a few shExpMatch URL patterns, a time rule, a failover list); the hosts
 * cycle through names that end at different rules, and the DNS answers the PAC needs travel
 * in the request (the client would have them cached), so no NEED_DNS round is counted.
 *
 * Then the same decisions through the client's PAC engine (src/client/route/pac_engine.h), in
 * the same run, as a ratio to the direct figure: requests queued from this thread, evaluated
 * by the engine's worker, answers back through its eventfd, DNS from the engine's cache (a
 * DNS server of the bench's own on 127.0.0.1 answers the first lookups; the host's cached
 * answer travels with the request), myIpAddress's source address looked up per request. Two
 * ways: one request at a time (the latency path: every decision pays the hops loop -> worker
 * -> evaluator and back) and up to 64 in flight (connections arriving together: the worker
 * keeps up to 32 in the evaluator's pipeline and hands answers back in batches). The second
 * is issue 13's figure (pac-bench.sh makes it the headline). Every figure is also printed
 * as a multiple of pacparser's ~1,400/s, the anchor.
 *
 * Usage: pac-bench EVALUATOR [SECONDS]. Prints the figures; fails only when something breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <poll.h>

#include "client/route/pac_engine.h"
#include "client/route/pac_proc.h"
#include "tests/unit/dns_server.h"

static const char pac[] =
    "function FindProxyForURL(url, host) {\n"
    "  host = host.toLowerCase();\n"
    "  if (isPlainHostName(host)) return 'DIRECT';\n"
    "  if (host === 'localhost' || shExpMatch(host, '127.*')) return 'DIRECT';\n"
    "  if (dnsDomainIs(host, '.corp.example.com')) return 'DIRECT';\n"
    "  if (dnsDomainIs(host, '.intranet.example')) return 'DIRECT';\n"
    "  if (localHostOrDomainIs(host, 'wiki.example.com')) return 'DIRECT';\n"
    "  if (shExpMatch(host, '*.lab.example.com')) return 'PROXY lab-proxy.example.com:3128';\n"
    "  if (shExpMatch(url, 'http://update.*/*')) return 'PROXY update-proxy.example.com:8080';\n"
    "  if (shExpMatch(url, '*/no-proxy/*')) return 'DIRECT';\n"
    "  if (dnsDomainIs(host, '.partner.example.net'))\n"
    "    return 'PROXY partner.example.com:3128; DIRECT';\n"
    "  if (dnsDomainIs(host, '.bank.example')) return 'PROXY secure.example.com:3128';\n"
    "  if (shExpMatch(host, '*.cdn.example.org')) return 'DIRECT';\n"
    "  if (dnsDomainLevels(host) > 6) return 'PROXY proxy-a.example.com:3128';\n"
    "  var ip = dnsResolve(host);\n"
    "  if (!ip) return 'PROXY proxy-a.example.com:3128; PROXY proxy-b.example.com:3128';\n"
    "  if (isInNet(ip, '10.0.0.0', '255.0.0.0')) return 'DIRECT';\n"
    "  if (isInNet(ip, '172.16.0.0', '255.240.0.0')) return 'DIRECT';\n"
    "  if (isInNet(ip, '192.168.0.0', '255.255.0.0')) return 'DIRECT';\n"
    "  if (isInNet(myIpAddress(), '10.99.0.0', '255.255.0.0')) return 'PROXY "
    "vpn.example.com:3128';\n"
    "  if (weekdayRange('SAT', 'SUN')) return 'PROXY weekend.example.com:3128; DIRECT';\n"
    "  return 'PROXY proxy-a.example.com:3128; PROXY proxy-b.example.com:3128; DIRECT';\n"
    "}\n";

static const struct {
	const char *url, *host, *addr; /* addr NULL: not in the table (the PAC does not ask) */
} hosts[] = {
    {"http://intranet/", "intranet", NULL},
    {"https://portal.corp.example.com/", "portal.corp.example.com", NULL},
    {"https://build.lab.example.com/", "build.lab.example.com", NULL},
    {"http://update.vendor.example/pkg/x.deb", "update.vendor.example", "203.0.113.9"},
    {"https://www.example.org/", "www.example.org", "93.184.216.34"},
    {"https://git.internal.example/", "git.internal.example", "10.1.2.3"},
    {"https://shop.example.net/", "shop.example.net", "198.51.100.20"},
    {"https://app.partner.example.net/", "app.partner.example.net", NULL},
};

/* The anchor the issue quotes (pacparser, one decision per call, no cache) and its target. */
#define PACPARSER_PER_S 1400.0
#define TARGET_PER_S	20000.0

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- through the engine ---- */

static unsigned long answered, failed;

static void on_answer(void *ud, int status, const struct kg_route *route, const char *why)
{
	(void)ud;
	(void)route;
	answered++;
	if (status != 0) {
		if (!failed)
			fprintf(stderr, "pac-bench: engine: %d %s\n", status, why);
		failed++;
	}
}

static int load_status = 1;
static void on_load(void *ud, int status, const char *why)
{
	(void)ud;
	load_status = status;
	if (status)
		fprintf(stderr, "pac-bench: engine load: %s\n", why);
}

static void dispatch(struct pac_engine *e)
{
	struct pollfd pfd = {.fd = pac_engine_fd(e), .events = POLLIN};
	if (poll(&pfd, 1, 1000) > 0)
		pac_engine_dispatch(e);
}

static int engine_bench(const char *evaluator, double seconds, unsigned window, double direct)
{
	enum { N = sizeof(hosts) / sizeof(hosts[0]) };
	static struct test_dns_record table[N + 1];
	struct pac_engine_query q[N];
	struct sockaddr_in sa;
	char err[KG_PAC_TEXT_MAX + 64];
	for (size_t i = 0; i < N; i++) {
		table[i] = (struct test_dns_record){
		    .name = hosts[i].host,
		    .kind = hosts[i].addr ? TEST_DNS_ADDR : TEST_DNS_NXDOMAIN,
		    .addr = hosts[i].addr,
		    .ttl = 3600,
		};
		q[i] = (struct pac_engine_query){.url = hosts[i].url, .host = hosts[i].host};
		kg_pac_addr_parse(hosts[i].addr ? hosts[i].addr : "198.51.100.1", &q[i].dst);
		q[i].dst_port = 443;
	}
	if (test_dns_start(table, &sa) < 0) {
		fprintf(stderr, "pac-bench: cannot start the DNS server\n");
		return -1;
	}
	struct kg_dns_cache_opts d = {.servers = &sa, .nservers = 1};
	struct pac_engine_opts o = {.evaluator = evaluator, .dns = &d, .on_load = on_load};
	struct pac_engine *e = pac_engine_new(&o, err, sizeof(err));
	int ret = -1;
	if (!e) {
		fprintf(stderr, "pac-bench: %s\n", err);
		goto out;
	}
	load_status = 1;
	pac_engine_load(e, pac, strlen(pac));
	while (load_status == 1)
		dispatch(e);
	if (load_status)
		goto out;
	/* Warm up: every name in the cache. */
	answered = failed = 0;
	for (size_t i = 0; i < N; i++)
		pac_engine_find(e, &q[i], on_answer, NULL);
	while (answered < N)
		dispatch(e);
	answered = 0;
	unsigned long sent = 0;
	double t0 = now_s(), t;
	do {
		for (int k = 0; k < 256; k++) {
			while (sent - answered >= window)
				dispatch(e);
			if (!pac_engine_find(e, &q[sent % N], on_answer, NULL)) {
				fprintf(stderr, "pac-bench: engine: out of memory\n");
				goto out;
			}
			sent++;
		}
		t = now_s() - t0;
	} while (t < seconds);
	while (answered < sent)
		dispatch(e);
	t = now_s() - t0;
	if (failed)
		goto out;
	printf("PAC decisions per second through the engine, cache off, %u in flight: %.0f "
	       "(%.2f of the direct figure; %.1f x pacparser's %.0f; issue 13's target >= %.0f)\n",
	       window, answered / t, answered / t / direct, answered / t / PACPARSER_PER_S,
	       PACPARSER_PER_S, TARGET_PER_S);
	ret = 0;
out:
	pac_engine_free(e);
	test_dns_stop();
	return ret;
}

int main(int argc, char **argv)
{
	static struct kg_pac_find q[sizeof(hosts) / sizeof(hosts[0])];
	static char out[KG_PAC_RESULT_MAX + 1];
	char err[KG_PAC_TEXT_MAX + 64];
	const size_t n = sizeof(hosts) / sizeof(hosts[0]);

	if (argc < 2) {
		fprintf(stderr, "usage: pac-bench EVALUATOR [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 3.0;
	struct kg_pac_proc_opts o = {.path = argv[1]};
	struct kg_pac_proc *p = kg_pac_proc_new(&o, err, sizeof(err));
	if (!p || kg_pac_proc_load(p, pac, strlen(pac), err, sizeof(err)) < 0) {
		fprintf(stderr, "pac-bench: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		q[i].url = hosts[i].url;
		q[i].host = hosts[i].host;
		kg_pac_addr_parse("10.20.0.5", &q[i].my_ip);
		q[i].now = 1700000000; /* a Tuesday */
		if (hosts[i].addr) {
			q[i].ndns = 1;
			q[i].dns[0].host = hosts[i].host;
			q[i].dns[0].naddr = 1;
			kg_pac_addr_parse(hosts[i].addr, &q[i].dns[0].addr[0]);
		}
	}
	/* Warm up, and check every host gets an answer without a DNS round. */
	for (size_t i = 0; i < n; i++) {
		int r = kg_pac_proc_find(p, &q[i], out, sizeof(out));
		if (r != KG_PAC_PROC_RESULT) {
			fprintf(stderr, "pac-bench: %s: %d %s\n", hosts[i].host, r, out);
			return 1;
		}
	}
	unsigned long done = 0;
	double t0 = now_s(), t;
	do {
		for (int k = 0; k < 256; k++, done++) {
			int r = kg_pac_proc_find(p, &q[done % n], out, sizeof(out));
			if (r != KG_PAC_PROC_RESULT) {
				fprintf(stderr, "pac-bench: %d %s\n", r, out);
				return 1;
			}
		}
		t = now_s() - t0;
	} while (t < seconds);
	printf("PAC decisions per second through the evaluator alone, cache off: %.0f "
	       "(%lu in %.2f s; %.1f x pacparser's %.0f; issue 13's target >= %.0f)\n",
	       done / t, done, t, done / t / PACPARSER_PER_S, PACPARSER_PER_S, TARGET_PER_S);
	double direct = done / t;
	/* The evaluator alone again, its pipeline kept full: what the engine can get out of it. */
	unsigned long sent = 0;
	done = 0;
	t0 = now_s();
	do {
		for (int k = 0; k < 256; k++, done++) {
			void *tag;
			/* topped up when the answers read are used up, as the engine does */
			while (!kg_pac_proc_answer_waiting(p) &&
			       kg_pac_proc_in_flight(p) < KG_PAC_PROC_PIPELINE_MAX)
				if (kg_pac_proc_submit(p, &q[sent++ % n], NULL, NULL, NULL, err,
						       sizeof(err)) < 0) {
					fprintf(stderr, "pac-bench: %s\n", err);
					return 1;
				}
			int r = kg_pac_proc_complete(p, &tag, out, sizeof(out));
			if (r != KG_PAC_PROC_RESULT) {
				fprintf(stderr, "pac-bench: %d %s\n", r, out);
				return 1;
			}
		}
		t = now_s() - t0;
	} while (t < seconds);
	printf("PAC decisions per second through the evaluator alone, cache off, %d in flight: "
	       "%.0f (%lu in %.2f s; %.1f x pacparser's %.0f; issue 13's target >= %.0f)\n",
	       KG_PAC_PROC_PIPELINE_MAX, done / t, done, t, done / t / PACPARSER_PER_S,
	       PACPARSER_PER_S, TARGET_PER_S);
	if (kg_pac_proc_restarts(p) != 0) {
		fprintf(stderr, "pac-bench: the evaluator restarted during the run\n");
		return 1;
	}
	kg_pac_proc_free(p);
	if (engine_bench(argv[1], seconds, 1, direct) < 0 ||
	    engine_bench(argv[1], seconds, 64, direct) < 0)
		return 1;
	return 0;
}
