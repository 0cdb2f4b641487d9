/* A tiny DNS server for the unit tests of the PAC engine's DNS (dns_cache.h, pac_engine.h):
 * UDP on 127.0.0.1, an ephemeral port, answering A and AAAA questions from a fixed table on a
 * thread of its own, and counting the questions it gets. Never the machine's DNS.
 */
#pragma once

#include <netinet/in.h>
#include <stdint.h>

enum test_dns_kind {
	TEST_DNS_ADDR,	   /* answer with addr (type by its family) and ttl */
	TEST_DNS_NXDOMAIN, /* no such name */
	TEST_DNS_SILENT,   /* never answers (the client times out) */
	TEST_DNS_CNAME,	   /* a CNAME (ttl) to the name itself, then addr with ttl2 */
};

struct test_dns_record {
	const char *name; /* matched case-insensitively */
	enum test_dns_kind kind;
	const char *addr; /* IPv4 or IPv6 literal (TEST_DNS_ADDR, TEST_DNS_CNAME) */
	uint32_t ttl, ttl2;
};

/* Starts the server for a table (kept by pointer, ends with name NULL); names not in it get
 * NXDOMAIN, and so do A questions for a name with only AAAA (and the other way round: no
 * data). Its address in *sa. 0 or -errno. */
int test_dns_start(const struct test_dns_record *table, struct sockaddr_in *sa);
void test_dns_stop(void);
/* Questions received so far (all names). */
unsigned test_dns_queries(void);
