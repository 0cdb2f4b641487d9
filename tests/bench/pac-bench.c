/* Benchmark: PAC decisions per second through the sandboxed evaluator (issue 13's target:
 * at least 20,000/s; pacparser does about 1,400/s), no result cache: every decision is a FIND
 * round trip to kernelgatekeeper-pac and one FindProxyForURL call there. The PAC is a typical
 * corporate one of 20 rules (plain names, intranet domains, networks by isInNet on the
 * resolved address, a few shExpMatch URL patterns, a time rule, a failover list); the hosts
 * cycle through names that end at different rules, and the DNS answers the PAC needs travel
 * in the request (the client would have them cached), so no NEED_DNS round is counted.
 *
 * Usage: pac-bench EVALUATOR [SECONDS]. Prints the figure; fails only when something breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/route/pac_proc.h"

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

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
	printf("PAC decisions per second through the evaluator, cache off: %.0f "
	       "(%lu in %.2f s; issue 13's target >= 20000, pacparser about 1400)\n",
	       done / t, done, t);
	if (kg_pac_proc_restarts(p) != 0) {
		fprintf(stderr, "pac-bench: the evaluator restarted during the run\n");
		return 1;
	}
	kg_pac_proc_free(p);
	return 0;
}
