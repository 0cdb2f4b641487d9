/* Unit tests for the route parsers and printers (src/client/route/route.c): PAC answers as
 * browsers write and misspell them, proxy.url lists, the bounds, the error sentences, and the
 * round trip print -> parse of every parsed entry.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/route.h"

static int pac(const char *s, struct kg_route *r, char *err)
{
	return kg_route_parse_pac(s, strlen(s), r, err, KG_ROUTE_ERR_MAX);
}

/* Parses s and checks that it prints as want (the route as a PAC answer). */
static void expect_route(const char *s, const char *want)
{
	struct kg_route r, again;
	char err[KG_ROUTE_ERR_MAX], text[4096];
	int rc = pac(s, &r, err);

	ck_assert_msg(rc == 0, "\"%s\": %d %s", s, rc, err);
	ck_assert_str_eq(err, "");
	ck_assert_int_ge(kg_route_format(&r, text, sizeof(text)), 0);
	ck_assert_str_eq(text, want);
	/* The printed route reads back to itself. */
	ck_assert_int_eq(pac(text, &again, err), 0);
	ck_assert_uint_eq(again.n, r.n);
	for (size_t i = 0; i < r.n; i++)
		ck_assert(kg_route_entry_equal(&again.e[i], &r.e[i]));
}

static void expect_bad(const char *s, int want_rc, const char *want_in_err)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];
	int rc = pac(s, &r, err);

	ck_assert_msg(rc == want_rc, "\"%s\": %d, want %d (%s)", s, rc, want_rc, err);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_msg(strstr(err, want_in_err), "\"%s\": error \"%s\" lacks \"%s\"", s, err,
		      want_in_err);
}

START_TEST(pac_basic)
{
	expect_route("PROXY a.example:3128; PROXY b.example:8080; DIRECT",
		     "PROXY a.example:3128; PROXY b.example:8080; DIRECT");
	expect_route("DIRECT", "DIRECT");
	expect_route("HTTPS secure.example:443", "HTTPS secure.example:443");
	expect_route("proxy A.Example.COM:3128;direct", "PROXY a.example.com:3128; DIRECT");
	expect_route("Proxy x:1;HtTpS y:2;DiReCt", "PROXY x:1; HTTPS y:2; DIRECT");
	/* HTTP is Firefox's synonym for PROXY. */
	expect_route("HTTP p:8080", "PROXY p:8080");
	/* Any whitespace, empty entries, a trailing ';'. */
	expect_route("  \tPROXY\t\t p1:3128 \r\n;;  ; DIRECT ;  ", "PROXY p1:3128; DIRECT");
	expect_route("PROXY\np:1;\n", "PROXY p:1");
	expect_route(";PROXY p:1", "PROXY p:1");
	expect_route("PROXY p.example.:3128", "PROXY p.example:3128");
}
END_TEST

START_TEST(pac_default_ports)
{
	expect_route("PROXY p", "PROXY p:80");
	expect_route("HTTPS p", "HTTPS p:443");
	expect_route("PROXY 10.0.0.1", "PROXY 10.0.0.1:80");
	expect_route("HTTPS [2001:db8::1]", "HTTPS [2001:db8::1]:443");
	expect_route("PROXY p:65535", "PROXY p:65535");
	expect_route("PROXY p:1", "PROXY p:1");
}
END_TEST

START_TEST(pac_addresses)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];

	expect_route("PROXY 192.0.2.7:3128", "PROXY 192.0.2.7:3128");
	expect_route("PROXY [2001:DB8:0:0::1]:3128", "PROXY [2001:db8::1]:3128");
	expect_route("PROXY [::1]:8080", "PROXY [::1]:8080");
	ck_assert_int_eq(pac("PROXY [::ffff:192.0.2.1]:80", &r, err), 0);
	ck_assert_str_eq(r.e[0].host, "[::ffff:192.0.2.1]");
	ck_assert_uint_eq(r.e[0].port, 80);
	ck_assert_int_eq(r.e[0].kind, KG_ROUTE_PROXY);
}
END_TEST

START_TEST(pac_socks_skipped)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];

	ck_assert_int_eq(pac("SOCKS s:1080; PROXY p:3128; SOCKS5 t; socks4 u:9; DIRECT", &r, err),
			 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert(r.skipped);
	ck_assert(!r.truncated);
	ck_assert_int_eq(r.e[0].kind, KG_ROUTE_PROXY);
	ck_assert_int_eq(r.e[1].kind, KG_ROUTE_DIRECT);
	ck_assert_int_eq(pac("QUIC q:443; DIRECT", &r, err), 0);
	ck_assert(r.skipped);
	ck_assert_int_eq(pac("PROXY p:1", &r, err), 0);
	ck_assert(!r.skipped);
	/* Skipped entries are still checked. */
	expect_bad("SOCKS bad_host:1080; DIRECT", -EBADMSG, "\"SOCKS bad_host:1080\": bad host");
	expect_bad("SOCKS", -EBADMSG, "no host:port");
	/* Only SOCKS: nothing usable. */
	expect_bad("SOCKS s:1; SOCKS5 t:2", -ENOENT, "no usable entry (SOCKS");
}
END_TEST

START_TEST(pac_nothing)
{
	expect_bad("", -ENOENT, "PAC answer has no usable entry");
	expect_bad("  ; ;\t;\n", -ENOENT, "no usable entry");
	expect_bad(";", -ENOENT, "no usable entry");
}
END_TEST

START_TEST(pac_malformed)
{
	expect_bad("PROXY", -EBADMSG, "entry \"PROXY\": no host:port");
	expect_bad("PROXY p:3128; FOO x:1", -EBADMSG, "\"FOO x:1\": unknown keyword");
	expect_bad("DIRECT x", -EBADMSG, "\"DIRECT x\": DIRECT takes no host");
	expect_bad("PROXY a b", -EBADMSG, "\"PROXY a b\": one host:port expected");
	expect_bad("PROXY a:b", -EBADMSG, "bad host:port");
	expect_bad("PROXY a:", -EBADMSG, "bad host:port");
	expect_bad("PROXY a:0", -EBADMSG, "bad host:port");
	expect_bad("PROXY a:65536", -EBADMSG, "bad host:port");
	expect_bad("PROXY a:123456", -EBADMSG, "bad host:port");
	expect_bad("PROXY a:-1", -EBADMSG, "bad host:port");
	expect_bad("PROXY :80", -EBADMSG, "bad host:port");
	expect_bad("PROXY ::1:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY [::1", -EBADMSG, "bad host:port");
	expect_bad("PROXY [::1]x", -EBADMSG, "bad host:port");
	expect_bad("PROXY [zz::1]:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY [fe80::1%eth0]:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY 1.2.3.999:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY 1.2.3:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY -a.example:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY a..example:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY user@p:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY http://p:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY p:80,q:80", -EBADMSG, "bad host:port");
	expect_bad("PROXY p:80,PROXY q:80", -EBADMSG, "one host:port expected");
	expect_bad("PROXYp:80", -EBADMSG, "unknown keyword");
	expect_bad("DIRECT;PROXY", -EBADMSG, "\"PROXY\"");
	/* A whole label of 64 bytes. */
	expect_bad("PROXY aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1",
		   -EBADMSG, "bad host:port");
}
END_TEST

START_TEST(pac_error_quoting)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];
	char in[600];
	const char ctl[] = "PROXY a\x01\"\\\xff:1";

	/* Control, quote, backslash and non-ASCII bytes are escaped. */
	ck_assert_int_eq(kg_route_parse_pac(ctl, sizeof(ctl) - 1, &r, err, sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "PAC answer entry \"PROXY a\\x01\\x22\\x5c\\xff:1\": bad host:port");
	/* A NUL inside the answer is a byte like any other. */
	ck_assert_int_eq(kg_route_parse_pac("PROXY a\0b:1", 11, &r, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "\\x00"));
	/* A long entry is shortened with "...". */
	memset(in, 'x', sizeof(in));
	memcpy(in, "PROXY ", 6);
	ck_assert_int_eq(kg_route_parse_pac(in, sizeof(in), &r, err, sizeof(err)), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(err, "xxx...\": bad host:port"));
	ck_assert_uint_lt(strlen(err), sizeof(err));
	/* A small or absent error buffer is fine. */
	ck_assert_int_eq(kg_route_parse_pac("FOO", 3, &r, err, 10), -EBADMSG);
	ck_assert_uint_eq(strlen(err), 9);
	ck_assert_int_eq(kg_route_parse_pac("FOO", 3, &r, NULL, 0), -EBADMSG);
	ck_assert_int_eq(kg_route_parse_pac("FOO", 3, &r, err, 4), -EBADMSG);
}
END_TEST

START_TEST(pac_bounds)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];
	char buf[KG_ROUTE_INPUT_MAX + 2];
	size_t o = 0;

	/* KG_ROUTE_MAX + 4 entries: the first KG_ROUTE_MAX are kept. */
	for (int i = 0; i < KG_ROUTE_MAX + 4; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "PROXY p%d:%d; ", i, 1000 + i);
	ck_assert_int_eq(kg_route_parse_pac(buf, o, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, KG_ROUTE_MAX);
	ck_assert(r.truncated);
	ck_assert_str_eq(r.e[KG_ROUTE_MAX - 1].host, "p15");
	ck_assert_uint_eq(r.e[KG_ROUTE_MAX - 1].port, 1015);
	/* Exactly KG_ROUTE_MAX: not truncated. */
	ck_assert_int_eq(pac("PROXY a:1;PROXY a:2;PROXY a:3;PROXY a:4;PROXY a:5;PROXY a:6;"
			     "PROXY a:7;PROXY a:8;PROXY a:9;PROXY a:10;PROXY a:11;PROXY a:12;"
			     "PROXY a:13;PROXY a:14;PROXY a:15;DIRECT",
			     &r, err),
			 0);
	ck_assert_uint_eq(r.n, KG_ROUTE_MAX);
	ck_assert(!r.truncated);
	/* Input size: at the limit fine, one more byte refused. */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "DIRECT", 6);
	ck_assert_int_eq(kg_route_parse_pac(buf, KG_ROUTE_INPUT_MAX, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(kg_route_parse_pac(buf, KG_ROUTE_INPUT_MAX + 1, &r, err, sizeof(err)),
			 -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "over the limit"));
	ck_assert_uint_eq(r.n, 0);
	/* A 253-byte name is the longest. */
	char name[300];
	memset(name, 'a', sizeof(name));
	for (int i = 63; i < 253; i += 64)
		name[i] = '.';
	memcpy(buf, "PROXY ", 6);
	memcpy(buf + 6, name, 253);
	memcpy(buf + 6 + 253, ":3128", 5);
	ck_assert_int_eq(kg_route_parse_pac(buf, 6 + 253 + 5, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(r.e[0].host), 253);
	char text[KG_ROUTE_ENTRY_TEXT_MAX];
	ck_assert_int_eq(kg_route_entry_format(&r.e[0], text, sizeof(text)), 6 + 253 + 5);
	memcpy(buf + 6, name, 254);
	buf[6 + 253] = 'a';
	memcpy(buf + 6 + 254, ":3128", 5);
	ck_assert_int_eq(kg_route_parse_pac(buf, 6 + 254 + 5, &r, err, sizeof(err)), -EBADMSG);
}
END_TEST

static int url(const char *u, struct kg_route_entry *e, char *err)
{
	return kg_route_parse_url(u, e, err, KG_ROUTE_ERR_MAX);
}

static void expect_url(const char *u, enum kg_route_kind kind, const char *host, unsigned port)
{
	struct kg_route_entry e, again;
	char err[KG_ROUTE_ERR_MAX], text[KG_ROUTE_ENTRY_TEXT_MAX + 8];

	ck_assert_msg(url(u, &e, err) == 0, "%s: %s", u, err);
	ck_assert_int_eq(e.kind, kind);
	ck_assert_str_eq(e.host, host);
	ck_assert_uint_eq(e.port, port);
	ck_assert_int_gt(kg_route_entry_url(&e, text, sizeof(text)), 0);
	ck_assert_int_eq(url(text, &again, err), 0);
	ck_assert(kg_route_entry_equal(&e, &again));
}

static void expect_bad_url(const char *u, int want_rc, const char *want_in_err)
{
	struct kg_route_entry e;
	char err[KG_ROUTE_ERR_MAX];
	int rc = url(u, &e, err);

	ck_assert_msg(rc == want_rc, "%s: %d (%s)", u, rc, err);
	ck_assert_msg(strstr(err, want_in_err), "%s: \"%s\" lacks \"%s\"", u, err, want_in_err);
	ck_assert_str_eq(e.host, "");
}

START_TEST(url_good)
{
	expect_url("http://p1:3128", KG_ROUTE_PROXY, "p1", 3128);
	expect_url("https://p2:443", KG_ROUTE_HTTPS, "p2", 443);
	expect_url("HTTP://P1.Example.COM:3128/", KG_ROUTE_PROXY, "p1.example.com", 3128);
	expect_url("http://p", KG_ROUTE_PROXY, "p", 80);
	expect_url("https://p/", KG_ROUTE_HTTPS, "p", 443);
	expect_url("hTTps://p:8443", KG_ROUTE_HTTPS, "p", 8443);
	expect_url("http://[2001:db8::0:1]:3128", KG_ROUTE_PROXY, "[2001:db8::1]", 3128);
	expect_url("http://10.1.2.3", KG_ROUTE_PROXY, "10.1.2.3", 80);
}
END_TEST

START_TEST(url_bad)
{
	char longurl[KG_ROUTE_INPUT_MAX + 10];

	expect_bad_url("", -EBADMSG, "must start with http:// or https://");
	expect_bad_url("p1:3128", -EBADMSG, "proxy.url \"p1:3128\": must start with http://");
	expect_bad_url("socks5://p:1080", -EBADMSG, "must start with");
	expect_bad_url("ftp://p", -EBADMSG, "must start with");
	expect_bad_url("http:/p", -EBADMSG, "must start with");
	expect_bad_url("http://", -EBADMSG, "no host");
	expect_bad_url("http:///", -EBADMSG, "no host");
	expect_bad_url("http://p:", -EBADMSG, "bad host:port");
	expect_bad_url("http://p:0", -EBADMSG, "bad host:port");
	expect_bad_url("http://p:99999", -EBADMSG, "bad host:port");
	expect_bad_url("http://p/path", -EBADMSG, "no path, query or fragment");
	expect_bad_url("http://p//", -EBADMSG, "no path");
	expect_bad_url("http://p?x", -EBADMSG, "bad host:port");
	expect_bad_url("http://p#f", -EBADMSG, "bad host:port");
	expect_bad_url("http://u@p:3128", -EBADMSG, "user@ is not supported");
	expect_bad_url("http://p q:1", -EBADMSG, "bad host:port");
	expect_bad_url("http://[::1:3128", -EBADMSG, "bad host:port");
	expect_bad_url("http://::1:3128", -EBADMSG, "bad host:port");
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "http://", 7);
	longurl[sizeof(longurl) - 1] = '\0';
	expect_bad_url(longurl, -E2BIG, "over the limit");
}
END_TEST

START_TEST(url_list)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX], text[512];
	const char *two[] = {"http://p1.example.com:3128", "https://p2.example.com"};
	const char *bad[] = {"http://p1:3128", "http//p2"};
	const char *many[KG_ROUTE_MAX + 1];

	ck_assert_int_eq(kg_route_parse_urls(two, 2, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_ge(kg_route_format(&r, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "PROXY p1.example.com:3128; HTTPS p2.example.com:443");
	ck_assert_int_eq(kg_route_parse_urls(bad, 2, &r, err, sizeof(err)), -EBADMSG);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_str_eq(err, "proxy.url \"http//p2\": must start with http:// or https://");
	ck_assert_int_eq(kg_route_parse_urls(two, 0, &r, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "proxy.url is empty");
	for (size_t i = 0; i < KG_ROUTE_MAX + 1; i++)
		many[i] = "http://p:1";
	ck_assert_int_eq(kg_route_parse_urls(many, KG_ROUTE_MAX, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, KG_ROUTE_MAX);
	ck_assert_int_eq(kg_route_parse_urls(many, KG_ROUTE_MAX + 1, &r, err, sizeof(err)), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "at most 16"));
}
END_TEST

START_TEST(format_edges)
{
	struct kg_route r;
	struct kg_route_entry direct = {.kind = KG_ROUTE_DIRECT};
	char err[KG_ROUTE_ERR_MAX], small[12], text[64];

	ck_assert_int_eq(pac("PROXY proxy.example:3128; DIRECT", &r, err), 0);
	ck_assert_int_eq(kg_route_format(&r, small, sizeof(small)), -ENOSPC);
	ck_assert_int_eq(kg_route_format(&r, small, 0), -ENOSPC);
	ck_assert_int_eq(kg_route_format(&r, text, 25), -ENOSPC); /* "; " does not fit */
	ck_assert_int_eq(kg_route_format(&r, text, 30), -ENOSPC); /* DIRECT does not fit */
	ck_assert_int_eq(kg_route_format(&r, text, sizeof(text)), 32);
	ck_assert_int_eq(kg_route_entry_format(&r.e[0], small, sizeof(small)), -ENOSPC);
	ck_assert_int_eq(kg_route_entry_authority(&r.e[0], text, sizeof(text)), 18);
	ck_assert_str_eq(text, "proxy.example:3128");
	ck_assert_int_eq(kg_route_entry_authority(&direct, text, sizeof(text)), -EINVAL);
	ck_assert_str_eq(text, "");
	ck_assert_int_eq(kg_route_entry_url(&direct, text, sizeof(text)), -EINVAL);
	ck_assert_str_eq(text, "");
	ck_assert_int_eq(kg_route_entry_format(&direct, text, sizeof(text)), 6);
	ck_assert_str_eq(text, "DIRECT");
	struct kg_route_entry odd = {.kind = (enum kg_route_kind)7};
	ck_assert_int_eq(kg_route_entry_format(&odd, text, sizeof(text)), -EINVAL);
	ck_assert_int_eq(kg_route_entry_url(&odd, text, sizeof(text)), -EINVAL);
	/* Equality: kind, host and port. */
	struct kg_route_entry a = r.e[0], b = r.e[0];
	ck_assert(kg_route_entry_equal(&a, &b));
	b.kind = KG_ROUTE_HTTPS;
	ck_assert(!kg_route_entry_equal(&a, &b));
	b = a;
	b.port = 1;
	ck_assert(!kg_route_entry_equal(&a, &b));
	b = a;
	b.host[0] = 'q';
	ck_assert(!kg_route_entry_equal(&a, &b));
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *p = tcase_create("pac");
	TCase *u = tcase_create("url");

	tcase_add_test(p, pac_basic);
	tcase_add_test(p, pac_default_ports);
	tcase_add_test(p, pac_addresses);
	tcase_add_test(p, pac_socks_skipped);
	tcase_add_test(p, pac_nothing);
	tcase_add_test(p, pac_malformed);
	tcase_add_test(p, pac_error_quoting);
	tcase_add_test(p, pac_bounds);
	tcase_add_test(p, format_edges);
	suite_add_tcase(s, p);
	tcase_add_test(u, url_good);
	tcase_add_test(u, url_bad);
	tcase_add_test(u, url_list);
	suite_add_tcase(s, u);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(route_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
