/* Unit tests for the PAC engine's DNS (src/client/route/dns_cache.c): the bounded answer
 * parser on good and malformed messages, and the cache in front of real res_* lookups
 * against a DNS server of the test's own on 127.0.0.1 (tests/unit/dns_server.c): A and
 * AAAA, localhost without a lookup, case-insensitive keys, TTLs clamped to 5 s..1 h, negative
 * answers kept 30 s, a server that never answers costing a bounded time, least-recently-used
 * eviction.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/route/dns_cache.h"
#include "tests/unit/dns_server.h"

/* ---- the parser ---- */

/* A response to one question for "a.test" (type qtype), then the given answer bytes. */
static size_t response(uint8_t m[512], uint8_t rcode, uint16_t qtype, unsigned an,
		       const uint8_t *ans, size_t anslen)
{
	static const uint8_t q[] = {1, 'a', 4, 't', 'e', 's', 't', 0};
	uint8_t h[12] = {0x12, 0x34, 0x81, (uint8_t)(0x80 | rcode), 0, 1, 0, (uint8_t)an, 0,
			 0,    0,    0};
	memcpy(m, h, 12);
	memcpy(m + 12, q, sizeof(q));
	size_t o = 12 + sizeof(q);
	m[o++] = 0;
	m[o++] = (uint8_t)qtype;
	m[o++] = 0;
	m[o++] = 1;
	if (anslen) /* ans may be NULL for an answer without records */
		memcpy(m + o, ans, anslen);
	return o + anslen;
}

#define RR(type, ttl, rdlen) 0xc0, 12, 0, type, 0, 1, 0, 0, (ttl) >> 8, (ttl)&0xff, 0, rdlen

START_TEST(parse_a_and_cname)
{
	uint8_t m[512];
	const uint8_t ans[] = {
	    RR(5, 300, 2), 0xc0, 12, RR(1, 60, 4), 192, 0, 2, 5, RR(1, 90, 4), 192, 0, 2, 6};
	size_t len = response(m, 0, 1, 3, ans, sizeof(ans));
	struct kg_pac_addr a[4];
	size_t n;
	uint32_t ttl;
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 4, &n, &ttl), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ttl, 60);
	ck_assert_uint_eq(a[0].family, 4);
	ck_assert_uint_eq(a[0].bytes[3], 5);
	ck_assert_uint_eq(a[1].bytes[3], 6);
	/* cap 1: the second address is ignored */
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 1, &n, &ttl), 0);
	ck_assert_uint_eq(n, 1);
	/* the same answer read for AAAA has none */
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 28, a, 4, &n, &ttl), -ENOENT);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(parse_aaaa)
{
	uint8_t m[512];
	const uint8_t ans[] = {
	    RR(28, 7, 16), 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	size_t len = response(m, 0, 28, 1, ans, sizeof(ans));
	struct kg_pac_addr a[2];
	size_t n;
	uint32_t ttl;
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 28, a, 2, &n, &ttl), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(ttl, 7);
	ck_assert_uint_eq(a[0].family, 6);
	ck_assert_uint_eq(a[0].bytes[15], 1);
}
END_TEST

START_TEST(parse_codes)
{
	uint8_t m[512];
	struct kg_pac_addr a[2];
	size_t n;
	uint32_t ttl;
	size_t len = response(m, 3, 1, 0, NULL, 0);
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -ENOENT);
	len = response(m, 2, 1, 0, NULL, 0);
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EAGAIN);
	len = response(m, 0, 1, 0, NULL, 0);
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -ENOENT);
}
END_TEST

START_TEST(parse_malformed)
{
	uint8_t m[512];
	struct kg_pac_addr a[2];
	size_t n;
	uint32_t ttl;
	const uint8_t good[] = {RR(1, 60, 4), 192, 0, 2, 5};
	size_t len = response(m, 0, 1, 1, good, sizeof(good));
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), 0);
	/* every shorter prefix is refused, never read past */
	for (size_t l = 0; l < len; l++) {
		uint8_t *copy = malloc(l ? l : 1);
		memcpy(copy, m, l);
		ck_assert_int_eq(kg_dns_parse_answer(copy, l, 1, a, 2, &n, &ttl), -EBADMSG);
		free(copy);
	}
	/* a query, not a response */
	m[2] &= 0x7f;
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
	/* an A record of 5 bytes */
	const uint8_t five[] = {RR(1, 60, 5), 192, 0, 2, 5, 9};
	len = response(m, 0, 1, 1, five, sizeof(five));
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
	/* rdlength past the end */
	const uint8_t past[] = {RR(1, 60, 40), 192, 0, 2, 5};
	len = response(m, 0, 1, 1, past, sizeof(past));
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
	/* a reserved label type (0x40) in the record's name */
	const uint8_t label[] = {0x41, 'x', 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4};
	len = response(m, 0, 1, 1, label, sizeof(label));
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
	/* more answers announced than there are */
	len = response(m, 0, 1, 2, good, sizeof(good));
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
	/* a name of more than 255 bytes */
	uint8_t longname[400];
	size_t o = 0;
	for (int i = 0; i < 5; i++) {
		longname[o++] = 60;
		memset(longname + o, 'a', 60);
		o += 60;
	}
	longname[o++] = 0;
	memcpy(longname + o, (const uint8_t[]){0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4}, 14);
	o += 14;
	len = response(m, 0, 1, 1, longname, o);
	ck_assert_int_eq(kg_dns_parse_answer(m, len, 1, a, 2, &n, &ttl), -EBADMSG);
}
END_TEST

/* ---- the cache, against the test's DNS server ---- */

static int64_t fake_now = 1000;
static int64_t clock_fn(void *ud)
{
	(void)ud;
	return fake_now;
}

static const struct test_dns_record table[] = {
    {"v4.test", TEST_DNS_ADDR, "192.0.2.5", 120, 0},
    {"v6.test", TEST_DNS_ADDR, "2001:db8::5", 120, 0},
    {"short.test", TEST_DNS_ADDR, "192.0.2.6", 1, 0},
    {"long.test", TEST_DNS_ADDR, "192.0.2.7", 100000, 0},
    {"alias.test", TEST_DNS_CNAME, "198.51.100.1", 20, 600},
    {"slow.test", TEST_DNS_SILENT, NULL, 0, 0},
    {"a.test", TEST_DNS_ADDR, "192.0.2.11", 300, 0},
    {"b.test", TEST_DNS_ADDR, "192.0.2.12", 300, 0},
    {"c.test", TEST_DNS_ADDR, "192.0.2.13", 300, 0},
    {NULL, 0, NULL, 0, 0},
};

static struct kg_dns_cache *cache_new(unsigned capacity)
{
	static struct sockaddr_in sa;
	char err[128];
	ck_assert_int_eq(test_dns_start(table, &sa), 0);
	struct kg_dns_cache_opts o = {
	    .capacity = capacity, .servers = &sa, .nservers = 1, .now = clock_fn};
	struct kg_dns_cache *c = kg_dns_cache_new(&o, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

static void done(struct kg_dns_cache *c)
{
	kg_dns_cache_free(c);
	test_dns_stop();
}

static int resolve(struct kg_dns_cache *c, const char *host, char *first, uint32_t *ttl)
{
	struct kg_pac_addr a[KG_PAC_DNS_ADDRS_MAX];
	uint8_t n = 0xff;
	int r = kg_dns_cache_resolve(c, host, a, &n, ttl);
	first[0] = '\0';
	if (r == 0) {
		ck_assert_uint_ge(n, 1);
		ck_assert_int_gt(kg_pac_addr_format(&a[0], first, 64), 0);
	} else {
		ck_assert_uint_eq(n, 0);
	}
	return r;
}

START_TEST(cache_a_aaaa_case)
{
	struct kg_dns_cache *c = cache_new(0);
	char a[64];
	uint32_t ttl;
	struct kg_pac_addr pa[KG_PAC_DNS_ADDRS_MAX];
	uint8_t pn;
	ck_assert_int_eq(kg_dns_cache_peek(c, "v4.test", pa, &pn), -EAGAIN); /* never asks */
	ck_assert_uint_eq(test_dns_queries(), 0);
	ck_assert_int_eq(resolve(c, "v4.test", a, &ttl), 0);
	ck_assert_str_eq(a, "192.0.2.5");
	ck_assert_uint_eq(ttl, 120);
	ck_assert_int_eq(kg_dns_cache_peek(c, "V4.TEST", pa, &pn), 0);
	ck_assert_uint_eq(pn, 1);
	ck_assert_uint_eq(pa[0].bytes[3], 5);
	ck_assert_uint_eq(test_dns_queries(), 2); /* A and AAAA */
	ck_assert_int_eq(resolve(c, "V4.Test", a, &ttl), 0);
	ck_assert_str_eq(a, "192.0.2.5");
	ck_assert_uint_eq(test_dns_queries(), 2); /* from the cache */
	ck_assert_int_eq(resolve(c, "v6.test", a, &ttl), 0);
	ck_assert_str_eq(a, "2001:db8::5");
	/* a CNAME's TTL counts */
	ck_assert_int_eq(resolve(c, "alias.test", a, &ttl), 0);
	ck_assert_str_eq(a, "198.51.100.1");
	ck_assert_uint_eq(ttl, 20);
	/* literals: no question asked */
	unsigned q = test_dns_queries();
	ck_assert_int_eq(resolve(c, "203.0.113.1", a, &ttl), 0);
	ck_assert_str_eq(a, "203.0.113.1");
	ck_assert_uint_eq(ttl, UINT32_MAX);
	ck_assert_uint_eq(test_dns_queries(), q);
	ck_assert_int_eq(resolve(c, "LocalHost", a, &ttl), 0);
	ck_assert_str_eq(a, "127.0.0.1");
	ck_assert_int_eq(resolve(c, "x.localhost.", a, &ttl), 0);
	ck_assert_str_eq(a, "127.0.0.1");
	ck_assert_uint_eq(test_dns_queries(), q);
	ck_assert_int_eq(resolve(c, "notlocalhost", a, &ttl), -ENOENT); /* asked: not local */
	ck_assert_uint_eq(test_dns_queries(), q + 2);
	ck_assert_int_eq(resolve(c, "", a, &ttl), -EINVAL);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(resolve(c, big, a, &ttl), -EINVAL);
	done(c);
}
END_TEST

START_TEST(cache_ttls)
{
	struct kg_dns_cache *c = cache_new(0);
	char a[64];
	uint32_t ttl;
	fake_now = 1000;
	ck_assert_int_eq(resolve(c, "short.test", a, &ttl), 0);
	ck_assert_uint_eq(ttl, KG_DNS_TTL_MIN); /* 1 s clamped up */
	ck_assert_int_eq(resolve(c, "long.test", a, &ttl), 0);
	ck_assert_uint_eq(ttl, KG_DNS_TTL_MAX); /* 100000 s clamped down */
	ck_assert_int_eq(resolve(c, "missing.test", a, &ttl), -ENOENT);
	ck_assert_uint_eq(ttl, KG_DNS_NEG_TTL);
	unsigned q = test_dns_queries();
	fake_now = 1000 + KG_DNS_TTL_MIN - 1;
	ck_assert_int_eq(resolve(c, "short.test", a, &ttl), 0);
	ck_assert_uint_eq(ttl, 1);
	ck_assert_int_eq(resolve(c, "missing.test", a, &ttl), -ENOENT);
	ck_assert_uint_eq(test_dns_queries(), q);
	fake_now = 1000 + KG_DNS_TTL_MIN;
	ck_assert_int_eq(resolve(c, "short.test", a, &ttl), 0);
	ck_assert_uint_eq(test_dns_queries(), q + 2); /* expired: asked again */
	fake_now = 1000 + KG_DNS_NEG_TTL;
	ck_assert_int_eq(resolve(c, "missing.test", a, &ttl), -ENOENT);
	ck_assert_uint_eq(test_dns_queries(), q + 4);
	ck_assert_int_eq(resolve(c, "long.test", a, &ttl), 0);
	ck_assert_uint_eq(test_dns_queries(), q + 4);
	kg_dns_cache_flush(c);
	ck_assert_int_eq(resolve(c, "long.test", a, &ttl), 0);
	ck_assert_uint_eq(test_dns_queries(), q + 6);
	done(c);
}
END_TEST

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(cache_silent_server_bounded)
{
	struct kg_dns_cache *c = cache_new(0);
	char a[64];
	uint32_t ttl;
	double t0 = mono_s();
	ck_assert_int_eq(resolve(c, "slow.test", a, &ttl), -ENOENT);
	double took = mono_s() - t0;
	ck_assert_msg(took < 3.0, "a lookup took %.2f s", took);
	ck_assert_uint_eq(ttl, KG_DNS_NEG_TTL);
	/* the failure is kept: no second wait */
	t0 = mono_s();
	ck_assert_int_eq(resolve(c, "slow.test", a, &ttl), -ENOENT);
	ck_assert(mono_s() - t0 < 0.1);
	done(c);
}
END_TEST

START_TEST(cache_lru_eviction)
{
	struct kg_dns_cache *c = cache_new(2);
	char a[64];
	uint32_t ttl;
	struct kg_dns_cache_stats s;
	fake_now = 5000;
	ck_assert_int_eq(resolve(c, "a.test", a, &ttl), 0);
	ck_assert_int_eq(resolve(c, "b.test", a, &ttl), 0);
	ck_assert_int_eq(resolve(c, "a.test", a, &ttl), 0); /* a is now the most recent */
	ck_assert_int_eq(resolve(c, "c.test", a, &ttl), 0); /* b goes */
	kg_dns_cache_get_stats(c, &s);
	ck_assert_uint_eq(s.names, 2);
	ck_assert_uint_eq(s.evictions, 1);
	unsigned q = test_dns_queries();
	ck_assert_int_eq(resolve(c, "a.test", a, &ttl), 0);
	ck_assert_str_eq(a, "192.0.2.11");
	ck_assert_uint_eq(test_dns_queries(), q);
	ck_assert_int_eq(resolve(c, "b.test", a, &ttl), 0);
	ck_assert_str_eq(a, "192.0.2.12");
	ck_assert_uint_eq(test_dns_queries(), q + 2);
	kg_dns_cache_get_stats(c, &s);
	ck_assert_uint_eq(s.names, 2);
	ck_assert_uint_eq(s.hits, 2);
	done(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dns_cache");
	TCase *p = tcase_create("parser");
	tcase_add_test(p, parse_a_and_cname);
	tcase_add_test(p, parse_aaaa);
	tcase_add_test(p, parse_codes);
	tcase_add_test(p, parse_malformed);
	suite_add_tcase(s, p);
	TCase *c = tcase_create("cache");
	tcase_set_timeout(c, 30);
	tcase_add_test(c, cache_a_aaaa_case);
	tcase_add_test(c, cache_ttls);
	tcase_add_test(c, cache_silent_server_bounded);
	tcase_add_test(c, cache_lru_eviction);
	suite_add_tcase(s, c);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
