/* The PAC standard functions that need neither DNS nor the JavaScript engine (pac_funcs.c),
 * on plain C strings, for the PAC evaluator to call from its JavaScript glue. Semantics are
 * Netscape's definition as Chromium and Firefox implement it; where they differ from a
 * literal reading, the browsers win, and each choice is said below.
 *
 * Addresses are passed as strings: the caller resolves host names first (dnsResolve is the
 * client's business), so every function here is pure: no I/O, no clock, no allocation.
 * The date and time functions take the current time as two struct tm (local and UTC) and
 * their arguments as strings, as the glue receives them (numbers in decimal); a last argument
 * "GMT" selects the UTC one. Bad arguments make them false, never an error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Most addresses sortIpAddressList sorts; more is an error. */
#define KG_PAC_SORT_MAX 64

/* shExpMatch(str, shexp): the whole of str matches the shell pattern, '*' any run of
 * characters (also empty, also dots), '?' exactly one. Case-sensitive, as in browsers; every
 * other character is literal (browsers build a regular expression, so "[" there is a
 * character class by accident; here it is a plain '['). Time O(len(str) * len(shexp)). */
bool kg_pac_sh_exp_match(const char *str, const char *shexp);

/* dnsDomainIs(host, domain): host ends with domain, a plain case-sensitive suffix test
 * ("www.example.com" is in ".example.com"; so is "badexample.com" in "example.com", as in
 * browsers). */
bool kg_pac_dns_domain_is(const char *host, const char *domain);

/* localHostOrDomainIs(host, hostdom): host equals hostdom, or hostdom starts with host
 * followed by a dot ("www" matches "www.example.com"). */
bool kg_pac_local_host_or_domain_is(const char *host, const char *hostdom);

/* isPlainHostName(host): host has no dot and no colon (an IPv6 literal is not plain). */
bool kg_pac_is_plain_host_name(const char *host);

/* dnsDomainLevels(host): the number of dots in host. */
int kg_pac_dns_domain_levels(const char *host);

/* A dotted-quad IPv4 address as the PAC library accepts it: four decimal fields of 1 to 3
 * digits, each at most 255 (leading zeros allowed and read as decimal). isInNet resolves
 * its first argument when this is false. */
bool kg_pac_is_ipv4_literal(const char *s);

/* isInNet(addr, pattern, mask) once addr is an address: (addr & mask) == (pattern & mask), all
 * three dotted-quad IPv4 (a non-contiguous mask is taken as written). Anything else: false. */
bool kg_pac_is_in_net(const char *addr, const char *pattern, const char *mask);

/* isInNetEx(addr, prefix) once addr is an address: addr lies in the CIDR block "net/len"
 * (IPv4, len 0..32, or IPv6, len 0..128; host bits of net are ignored). Both of one family,
 * else false; the "/len" is required. */
bool kg_pac_is_in_net_ex(const char *addr, const char *prefix);

/* sortIpAddressList(list): the ';'-separated addresses of list (whitespace around each is
 * ignored, as are empty items) sorted IPv6 first, then IPv4, each family in ascending numeric
 * order, and printed canonically, joined by ';' into out. 0, or -EINVAL when an item is no
 * address or there is none (the PAC function then returns false), -E2BIG beyond
 * KG_PAC_SORT_MAX items, -ENOSPC when out is too small. */
int kg_pac_sort_ip_address_list(const char *list, char *out, size_t outlen);

/* weekdayRange(wd1 [, wd2] [, "GMT"]): days "SUN".."SAT" (upper case, as browsers want);
 * one day, or an inclusive range that wraps over the week end (FRI..MON). */
bool kg_pac_weekday_range(const char *const *argv, size_t argc, const struct tm *local,
			  const struct tm *gmt);

/* dateRange with 1, 2, 4 or 6 arguments, plus an optional "GMT":
 *   (day) (month) (year)             today is that day of month / month / year;
 *   (d1, d2) (m1, m2) (y1, y2)       inclusive ranges;
 *   (d1, m1, d2, m2) (m1, y1, m2, y2) (d1, m1, y1, d2, m2, y2).
 * A month is "JAN".."DEC"; a number below 32 is a day (0 is invalid), any other a year (the
 * browsers' rule). Both ends must name the same fields; a range whose start lies after its
 * end wraps (dateRange("DEC", "FEB"), dateRange(25, 5)). */
bool kg_pac_date_range(const char *const *argv, size_t argc, const struct tm *local,
		       const struct tm *gmt);

/* timeRange with 1, 2, 4 or 6 arguments, plus an optional "GMT":
 *   (h)                  the current hour is h;
 *   (h1, h2)             h1 <= hour <= h2, not wrapping (as in Chromium and Firefox:
 *                        timeRange(22, 2) is never true; write timeRange(22, 0, 2, 0));
 *   (h1, m1, h2, m2)     from h1:m1:00 to h2:m2:59 inclusive, wrapping over midnight;
 *   (h1, m1, s1, h2, m2, s2) from h1:m1:s1 to h2:m2:s2 inclusive, wrapping.
 * Hours 0..23, minutes and seconds 0..59. */
bool kg_pac_time_range(const char *const *argv, size_t argc, const struct tm *local,
		       const struct tm *gmt);
