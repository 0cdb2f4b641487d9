/* Unit tests for the PAC functions without DNS (src/client/route/pac_funcs.c), with the
 * examples of Netscape's PAC definition and the cases where browsers' behaviour is easy to
 * get wrong: wrapping ranges, "GMT", the dateRange argument forms, glob backtracking.
 */
/* timegm: _GNU_SOURCE comes from kg_autoconf.h */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/route/pac_funcs.h"

START_TEST(sh_exp_match)
{
	ck_assert(kg_pac_sh_exp_match("http://home.netscape.com/people/ari/index.html", "*/ari/*"));
	ck_assert(
	    !kg_pac_sh_exp_match("http://home.netscape.com/people/montulli/index.html", "*/ari/*"));
	ck_assert(kg_pac_sh_exp_match("www.example.com", "*.example.com"));
	ck_assert(!kg_pac_sh_exp_match("example.com", "*.example.com"));
	ck_assert(kg_pac_sh_exp_match("a.b.example.com", "*.example.com"));
	ck_assert(kg_pac_sh_exp_match("", ""));
	ck_assert(kg_pac_sh_exp_match("", "*"));
	ck_assert(kg_pac_sh_exp_match("", "***"));
	ck_assert(!kg_pac_sh_exp_match("", "?"));
	ck_assert(!kg_pac_sh_exp_match("a", ""));
	ck_assert(kg_pac_sh_exp_match("abc", "a?c"));
	ck_assert(!kg_pac_sh_exp_match("abbc", "a?c"));
	ck_assert(kg_pac_sh_exp_match("abbc", "a*c"));
	ck_assert(kg_pac_sh_exp_match("ac", "a*c"));
	ck_assert(!kg_pac_sh_exp_match("acb", "a*c"));
	ck_assert(kg_pac_sh_exp_match("abcabcabd", "*abd"));
	ck_assert(kg_pac_sh_exp_match("mississippi", "m*iss*ppi"));
	ck_assert(!kg_pac_sh_exp_match("mississippi", "m*iss*ppx"));
	ck_assert(kg_pac_sh_exp_match("10.1.2.3", "10.*"));
	ck_assert(kg_pac_sh_exp_match("host", "?o*t"));
	/* The whole string; case counts; '.' and '[' are literal. */
	ck_assert(!kg_pac_sh_exp_match("xwww.example.com", "www.*"));
	ck_assert(!kg_pac_sh_exp_match("WWW.example.com", "www.*"));
	ck_assert(!kg_pac_sh_exp_match("wwwxexample", "www.example"));
	ck_assert(kg_pac_sh_exp_match("a[b]c", "a[b]c"));
	ck_assert(!kg_pac_sh_exp_match("abc", "a[b]c"));
	ck_assert(kg_pac_sh_exp_match("a+b", "a+b"));
	/* Many stars against a long string: no exponential backtracking. */
	char s[4001], p[200];
	memset(s, 'a', 4000);
	s[4000] = '\0';
	for (int i = 0; i < 198; i += 2) {
		p[i] = '*';
		p[i + 1] = 'a';
	}
	p[198] = 'b';
	p[199] = '\0';
	ck_assert(!kg_pac_sh_exp_match(s, p));
	p[198] = '*';
	ck_assert(kg_pac_sh_exp_match(s, p));
}
END_TEST

START_TEST(host_tests)
{
	ck_assert(kg_pac_dns_domain_is("www.netscape.com", ".netscape.com"));
	ck_assert(!kg_pac_dns_domain_is("www", ".netscape.com"));
	ck_assert(!kg_pac_dns_domain_is("www.mcom.com", ".netscape.com"));
	ck_assert(kg_pac_dns_domain_is("badexample.com", "example.com"));
	ck_assert(kg_pac_dns_domain_is("x", ""));
	ck_assert(!kg_pac_dns_domain_is("WWW.NETSCAPE.COM", ".netscape.com"));
	ck_assert(kg_pac_dns_domain_is(".netscape.com", ".netscape.com"));

	ck_assert(kg_pac_local_host_or_domain_is("www.netscape.com", "www.netscape.com"));
	ck_assert(kg_pac_local_host_or_domain_is("www", "www.netscape.com"));
	ck_assert(!kg_pac_local_host_or_domain_is("www.mcom.com", "www.netscape.com"));
	ck_assert(!kg_pac_local_host_or_domain_is("home.netscape.com", "www.netscape.com"));
	ck_assert(kg_pac_local_host_or_domain_is("www.netscape", "www.netscape.com"));
	ck_assert(!kg_pac_local_host_or_domain_is("ww", "www.netscape.com"));
	ck_assert(!kg_pac_local_host_or_domain_is("www", "wwwx.netscape.com"));
	ck_assert(kg_pac_local_host_or_domain_is("www", "www"));
	ck_assert(!kg_pac_local_host_or_domain_is("www.", "www"));

	ck_assert(kg_pac_is_plain_host_name("www"));
	ck_assert(!kg_pac_is_plain_host_name("www.netscape.com"));
	ck_assert(!kg_pac_is_plain_host_name("::1"));
	ck_assert(kg_pac_is_plain_host_name(""));

	ck_assert_int_eq(kg_pac_dns_domain_levels("www"), 0);
	ck_assert_int_eq(kg_pac_dns_domain_levels("www.netscape.com"), 2);
	ck_assert_int_eq(kg_pac_dns_domain_levels("a.b.c.d."), 4);
	ck_assert_int_eq(kg_pac_dns_domain_levels(""), 0);
}
END_TEST

START_TEST(ipv4_literal)
{
	ck_assert(kg_pac_is_ipv4_literal("198.95.249.79"));
	ck_assert(kg_pac_is_ipv4_literal("0.0.0.0"));
	ck_assert(kg_pac_is_ipv4_literal("255.255.255.255"));
	ck_assert(kg_pac_is_ipv4_literal("010.001.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("256.1.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("1.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("1.1.1.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("1.1.1.1."));
	ck_assert(!kg_pac_is_ipv4_literal(".1.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("1..1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("0001.1.1.1"));
	ck_assert(!kg_pac_is_ipv4_literal("1.1.1.a"));
	ck_assert(!kg_pac_is_ipv4_literal("1.1.1.1 "));
	ck_assert(!kg_pac_is_ipv4_literal("www.example.com"));
	ck_assert(!kg_pac_is_ipv4_literal("::1"));
	ck_assert(!kg_pac_is_ipv4_literal(""));
}
END_TEST

START_TEST(is_in_net)
{
	ck_assert(kg_pac_is_in_net("198.95.249.79", "198.95.249.79", "255.255.255.255"));
	ck_assert(!kg_pac_is_in_net("198.95.249.80", "198.95.249.79", "255.255.255.255"));
	ck_assert(kg_pac_is_in_net("198.95.6.8", "198.95.0.0", "255.255.0.0"));
	ck_assert(!kg_pac_is_in_net("198.96.6.8", "198.95.0.0", "255.255.0.0"));
	ck_assert(kg_pac_is_in_net("10.1.2.3", "0.0.0.0", "0.0.0.0"));
	/* A mask is taken as written, contiguous or not. */
	ck_assert(kg_pac_is_in_net("10.9.2.7", "10.0.2.0", "255.0.255.0"));
	ck_assert(!kg_pac_is_in_net("10.9.3.7", "10.0.2.0", "255.0.255.0"));
	/* Anything not three IPv4 addresses: false. */
	ck_assert(!kg_pac_is_in_net("www.example.com", "10.0.0.0", "255.0.0.0"));
	ck_assert(!kg_pac_is_in_net("10.1.1.1", "10.0.0", "255.0.0.0"));
	ck_assert(!kg_pac_is_in_net("10.1.1.1", "10.0.0.0", "255.0.0"));
	ck_assert(!kg_pac_is_in_net("::1", "::1", "255.255.255.255"));
}
END_TEST

START_TEST(is_in_net_ex)
{
	ck_assert(kg_pac_is_in_net_ex("198.95.249.79", "198.95.249.79/32"));
	ck_assert(kg_pac_is_in_net_ex("198.95.6.8", "198.95.0.0/16"));
	ck_assert(!kg_pac_is_in_net_ex("198.96.6.8", "198.95.0.0/16"));
	ck_assert(kg_pac_is_in_net_ex("198.95.6.8", "198.95.1.1/16")); /* host bits ignored */
	ck_assert(kg_pac_is_in_net_ex("10.0.0.1", "0.0.0.0/0"));
	ck_assert(kg_pac_is_in_net_ex("10.0.0.129", "10.0.0.128/25"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.127", "10.0.0.128/25"));
	ck_assert(kg_pac_is_in_net_ex("10.0.0.7", "10.0.0.6/31"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.8", "10.0.0.6/31"));
	ck_assert(kg_pac_is_in_net_ex("3ffe:8311:ffff:1::1", "3ffe:8311:ffff::/48"));
	ck_assert(!kg_pac_is_in_net_ex("3ffe:8311:fffe::1", "3ffe:8311:ffff::/48"));
	ck_assert(kg_pac_is_in_net_ex("::1", "::1/128"));
	ck_assert(!kg_pac_is_in_net_ex("::2", "::1/128"));
	ck_assert(kg_pac_is_in_net_ex("2001:db8::1", "::/0"));
	ck_assert(kg_pac_is_in_net_ex("2001:db8::ff", "2001:db8::80/121"));
	ck_assert(!kg_pac_is_in_net_ex("2001:db8::7f", "2001:db8::80/121"));
	/* Families must agree; the prefix needs its length, in range. */
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "::/0"));
	ck_assert(!kg_pac_is_in_net_ex("::ffff:10.0.0.1", "10.0.0.0/8"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "10.0.0.0"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "10.0.0.0/"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "10.0.0.0/33"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "10.0.0.0/0008"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "10.0.0.0/8x"));
	ck_assert(!kg_pac_is_in_net_ex("::1", "::/129"));
	ck_assert(!kg_pac_is_in_net_ex("host", "10.0.0.0/8"));
	ck_assert(!kg_pac_is_in_net_ex("", "10.0.0.0/8"));
	ck_assert(!kg_pac_is_in_net_ex("10.0.0.1", "/8"));
	ck_assert(!kg_pac_is_in_net_ex("1111:2222:3333:4444:5555:6666:7777:8888:9999", "::/0"));
}
END_TEST

static const char *sorted(const char *list, int *rc)
{
	static char out[1024];

	*rc = kg_pac_sort_ip_address_list(list, out, sizeof(out));
	return out;
}

START_TEST(sort_ip_address_list)
{
	int rc;

	ck_assert_str_eq(sorted("10.2.3.9;2001:4898:28:3:201:2ff:feea:fc14;::1;127.0.0.1;::9", &rc),
			 "::1;::9;2001:4898:28:3:201:2ff:feea:fc14;10.2.3.9;127.0.0.1");
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(sorted("10.2.3.9", &rc), "10.2.3.9");
	ck_assert_str_eq(sorted("10.0.0.10;10.0.0.9;9.255.255.255", &rc),
			 "9.255.255.255;10.0.0.9;10.0.0.10");
	ck_assert_str_eq(sorted(" 10.0.0.2 ; 10.0.0.1;;\t::ffff:1.2.3.4;", &rc),
			 "::ffff:1.2.3.4;10.0.0.1;10.0.0.2");
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(sorted("2001:DB8:0::1;10.0.0.1;10.0.0.1", &rc),
			 "2001:db8::1;10.0.0.1;10.0.0.1");
	/* Empty, separators only, or any item not an address: an error, out empty. */
	ck_assert_str_eq(sorted("", &rc), "");
	ck_assert_int_eq(rc, -EINVAL);
	sorted(";;", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_str_eq(sorted("10.0.0.1;www.example.com", &rc), "");
	ck_assert_int_eq(rc, -EINVAL);
	sorted("10.0.0.1;10.0.0.256", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	sorted("10.0.0.1,10.0.0.2", &rc);
	ck_assert_int_eq(rc, -EINVAL);
	/* Bounds. */
	char big[KG_PAC_SORT_MAX * 12 + 16], out[32];
	size_t o = 0;
	for (int i = 0; i < KG_PAC_SORT_MAX; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "10.0.0.%d;", i);
	ck_assert_int_eq(kg_pac_sort_ip_address_list(big, out, 16), -ENOSPC);
	ck_assert_str_eq(out, "");
	snprintf(big + o, sizeof(big) - o, "10.1.1.1");
	ck_assert_int_eq(kg_pac_sort_ip_address_list(big, out, 16), -E2BIG);
	ck_assert_int_eq(kg_pac_sort_ip_address_list("10.0.0.1;10.0.0.2", out, 17), -ENOSPC);
	ck_assert_int_eq(kg_pac_sort_ip_address_list("10.0.0.1;10.0.0.2", out, 18), 0);
	ck_assert_str_eq(out, "10.0.0.1;10.0.0.2");
	ck_assert_int_eq(kg_pac_sort_ip_address_list("10.0.0.1", out, 0), -ENOSPC);
}
END_TEST

/* Local time is taken as UTC + 2 h (a host in CEST), so "GMT" visibly changes the answer. */
struct now {
	struct tm local, gmt;
};

static struct now at(int year, int mon, int mday, int hour, int min, int sec)
{
	struct now n;
	struct tm t = {.tm_year = year - 1900,
		       .tm_mon = mon - 1,
		       .tm_mday = mday,
		       .tm_hour = hour,
		       .tm_min = min,
		       .tm_sec = sec};
	time_t utc = timegm(&t);
	time_t l = utc + 2 * 3600;

	gmtime_r(&utc, &n.gmt);
	gmtime_r(&l, &n.local);
	return n;
}

#define ARGS(...)  ((const char *const[]){__VA_ARGS__})
#define NARGS(...) (sizeof(ARGS(__VA_ARGS__)) / sizeof(const char *))
#define WEEKDAY(n, ...)                                                                            \
	kg_pac_weekday_range(ARGS(__VA_ARGS__), NARGS(__VA_ARGS__), &(n).local, &(n).gmt)
#define DATE(n, ...) kg_pac_date_range(ARGS(__VA_ARGS__), NARGS(__VA_ARGS__), &(n).local, &(n).gmt)
#define TIME(n, ...) kg_pac_time_range(ARGS(__VA_ARGS__), NARGS(__VA_ARGS__), &(n).local, &(n).gmt)

START_TEST(weekday_range)
{
	/* 2026-12-04 is a Friday; 23:30 UTC is Saturday 01:30 local. */
	struct now fri = at(2026, 12, 4, 12, 0, 0);
	struct now late = at(2026, 12, 4, 23, 30, 0);
	struct now tue = at(2026, 12, 8, 12, 0, 0);

	ck_assert_int_eq(fri.local.tm_wday, 5);
	ck_assert(WEEKDAY(fri, "FRI"));
	ck_assert(!WEEKDAY(fri, "THU"));
	ck_assert(WEEKDAY(fri, "MON", "FRI"));
	ck_assert(WEEKDAY(fri, "SUN", "SAT"));
	/* Wrapping over the week end. */
	ck_assert(WEEKDAY(fri, "FRI", "MON"));
	ck_assert(!WEEKDAY(tue, "FRI", "MON"));
	ck_assert(WEEKDAY(tue, "SAT", "TUE"));
	ck_assert(!WEEKDAY(fri, "SAT", "THU"));
	/* GMT. */
	ck_assert(WEEKDAY(late, "SAT"));
	ck_assert(!WEEKDAY(late, "SAT", "GMT"));
	ck_assert(WEEKDAY(late, "FRI", "GMT"));
	ck_assert(WEEKDAY(late, "MON", "FRI", "GMT"));
	/* Bad arguments: false. */
	ck_assert(!WEEKDAY(fri, "fri"));
	ck_assert(!WEEKDAY(fri, "FRIDAY"));
	ck_assert(!WEEKDAY(fri, "MON", "XXX"));
	ck_assert(!WEEKDAY(fri, "GMT"));
	ck_assert(!WEEKDAY(fri, "MON", "TUE", "FRI"));
	ck_assert(!kg_pac_weekday_range(NULL, 0, &fri.local, &fri.gmt));
}
END_TEST

START_TEST(date_range_one)
{
	struct now n = at(2026, 12, 7, 12, 0, 0);	 /* Monday 7 December 2026 */
	struct now newyear = at(2026, 12, 31, 23, 0, 0); /* 1 January 2027 01:00 local */

	ck_assert(DATE(n, "7"));
	ck_assert(!DATE(n, "8"));
	ck_assert(DATE(n, "DEC"));
	ck_assert(!DATE(n, "NOV"));
	ck_assert(DATE(n, "2026"));
	ck_assert(!DATE(n, "2027"));
	ck_assert(DATE(newyear, "2027"));
	ck_assert(DATE(newyear, "JAN"));
	ck_assert(DATE(newyear, "1"));
	ck_assert(DATE(newyear, "2026", "GMT"));
	ck_assert(DATE(newyear, "DEC", "GMT"));
	ck_assert(DATE(newyear, "31", "GMT"));
	ck_assert(!DATE(newyear, "31"));
	/* A number below 32 is a day; 32 and above a year. */
	ck_assert(!DATE(n, "32"));
	ck_assert(!DATE(n, "0"));
	ck_assert(!DATE(n, "Dec"));
	ck_assert(!DATE(n, "-7"));
	ck_assert(!DATE(n, "7x"));
	ck_assert(!DATE(n, ""));
	ck_assert(!DATE(n, "1234567890"));
	ck_assert(!DATE(n, "GMT"));
}
END_TEST

START_TEST(date_range_two)
{
	struct now n = at(2026, 12, 7, 12, 0, 0);
	struct now jan = at(2027, 1, 15, 12, 0, 0);

	ck_assert(DATE(n, "1", "15"));
	ck_assert(DATE(n, "7", "7"));
	ck_assert(!DATE(n, "8", "15"));
	ck_assert(DATE(n, "25", "7")); /* wraps over the month end */
	ck_assert(!DATE(n, "25", "6"));
	ck_assert(DATE(n, "OCT", "DEC"));
	ck_assert(!DATE(n, "JAN", "NOV"));
	ck_assert(DATE(jan, "DEC", "FEB")); /* wraps over the year end */
	ck_assert(DATE(n, "DEC", "FEB"));
	ck_assert(!DATE(n, "FEB", "NOV"));
	ck_assert(DATE(n, "1995", "2026"));
	ck_assert(!DATE(n, "1995", "2025"));
	ck_assert(DATE(n, "2026", "2030", "GMT"));
	/* Two different fields: false. */
	ck_assert(!DATE(n, "7", "DEC"));
	ck_assert(!DATE(n, "DEC", "2026"));
}
END_TEST

START_TEST(date_range_four_six)
{
	struct now n = at(2026, 12, 7, 12, 0, 0);
	struct now late = at(2026, 12, 31, 23, 0, 0); /* 2027-01-01 local */

	ck_assert(DATE(n, "1", "DEC", "15", "DEC"));
	ck_assert(DATE(n, "7", "DEC", "7", "DEC"));
	ck_assert(!DATE(n, "8", "DEC", "15", "DEC"));
	ck_assert(DATE(n, "1", "NOV", "15", "DEC"));
	ck_assert(!DATE(n, "1", "NOV", "6", "DEC"));
	ck_assert(DATE(n, "24", "DEC", "7", "DEC")); /* wraps: from 24 Dec round to 7 Dec */
	ck_assert(DATE(n, "20", "NOV", "10", "JAN"));
	ck_assert(DATE(n, "DEC", "1", "15", "DEC")); /* fields in any order within an end */
	ck_assert(DATE(n, "SEP", "2026", "JAN", "2027"));
	ck_assert(!DATE(n, "JAN", "2027", "MAR", "2027"));
	ck_assert(DATE(n, "1", "DEC", "2026", "31", "DEC", "2026"));
	ck_assert(DATE(n, "7", "DEC", "2026", "7", "DEC", "2026"));
	ck_assert(!DATE(n, "8", "DEC", "2026", "31", "DEC", "2026"));
	ck_assert(DATE(n, "1", "JUN", "1995", "15", "JAN", "2027"));
	ck_assert(DATE(late, "1", "JAN", "2027", "2", "JAN", "2027"));
	ck_assert(!DATE(late, "1", "JAN", "2027", "2", "JAN", "2027", "GMT"));
	ck_assert(DATE(late, "31", "DEC", "2026", "31", "DEC", "2026", "GMT"));
	/* Ends naming different fields, repeated fields, odd counts: false. */
	ck_assert(!DATE(n, "1", "DEC", "DEC", "2026"));
	ck_assert(!DATE(n, "1", "2", "3", "4"));
	ck_assert(!DATE(n, "DEC", "JAN", "FEB", "MAR"));
	ck_assert(!DATE(n, "1", "DEC", "2026"));
	ck_assert(!DATE(n, "1", "DEC", "2026", "2", "DEC"));
	ck_assert(!DATE(n, "1", "DEC", "2026", "2", "DEC", "2026", "3"));
	ck_assert(!DATE(n, "1", "DEC", "2026", "2", "DEC", "XXX"));
	ck_assert(!kg_pac_date_range(NULL, 0, &n.local, &n.gmt));
}
END_TEST

START_TEST(time_range)
{
	struct now noon = at(2026, 12, 7, 10, 30, 15);	  /* 12:30:15 local */
	struct now midnight = at(2026, 12, 7, 22, 0, 30); /* 00:00:30 local */

	ck_assert(TIME(noon, "12"));
	ck_assert(!TIME(noon, "13"));
	ck_assert(TIME(noon, "10", "GMT"));
	ck_assert(TIME(noon, "12", "13"));
	ck_assert(TIME(noon, "9", "12"));
	ck_assert(!TIME(noon, "13", "17"));
	ck_assert(TIME(noon, "9", "11", "GMT"));
	/* Two hours do not wrap, as in browsers. */
	ck_assert(!TIME(midnight, "22", "2"));
	ck_assert(TIME(noon, "12", "30", "12", "30"));
	ck_assert(!TIME(noon, "12", "0", "12", "29"));
	ck_assert(TIME(noon, "8", "30", "17", "0"));
	ck_assert(!TIME(noon, "12", "31", "17", "0"));
	ck_assert(TIME(midnight, "22", "0", "2", "0")); /* wraps over midnight */
	ck_assert(!TIME(noon, "22", "0", "2", "0"));
	ck_assert(TIME(midnight, "0", "0", "0", "0", "0", "30"));
	ck_assert(!TIME(midnight, "0", "0", "0", "0", "0", "29"));
	ck_assert(TIME(noon, "12", "30", "15", "12", "30", "15"));
	ck_assert(!TIME(noon, "12", "30", "16", "13", "0", "0"));
	ck_assert(TIME(midnight, "23", "59", "59", "0", "1", "0"));
	ck_assert(TIME(midnight, "22", "0", "0", "22", "1", "0", "GMT"));
	/* Bad values and counts: false. */
	ck_assert(!TIME(noon, "24"));
	ck_assert(!TIME(noon, "12", "24"));
	ck_assert(!TIME(noon, "12", "60", "13", "0"));
	ck_assert(!TIME(noon, "12", "0", "60", "13", "0", "0"));
	ck_assert(!TIME(noon, "12", "0", "13"));
	ck_assert(!TIME(noon, "12", "0", "0", "13", "0"));
	ck_assert(!TIME(noon, "noon"));
	ck_assert(!TIME(noon, "GMT"));
	ck_assert(!TIME(noon, "1", "2", "3", "4", "5", "6", "7"));
	/* A leap second counts as :59. */
	struct now leap = noon;
	leap.local.tm_sec = 60;
	ck_assert(TIME(leap, "12", "30", "59", "12", "30", "59"));
}
END_TEST

static Suite *pac_suite(void)
{
	Suite *s = suite_create("pac_funcs");
	TCase *str = tcase_create("strings");
	TCase *addr = tcase_create("addresses");
	TCase *cal = tcase_create("calendar");

	tcase_add_test(str, sh_exp_match);
	tcase_add_test(str, host_tests);
	suite_add_tcase(s, str);
	tcase_add_test(addr, ipv4_literal);
	tcase_add_test(addr, is_in_net);
	tcase_add_test(addr, is_in_net_ex);
	tcase_add_test(addr, sort_ip_address_list);
	suite_add_tcase(s, addr);
	tcase_add_test(cal, weekday_range);
	tcase_add_test(cal, date_range_one);
	tcase_add_test(cal, date_range_two);
	tcase_add_test(cal, date_range_four_six);
	tcase_add_test(cal, time_range);
	suite_add_tcase(s, cal);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pac_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
