/* The PAC standard functions without DNS: string and address tests, the address sort and the
 * calendar ranges, written from Netscape's definition and the browsers' documented behaviour
 * (see pac_funcs.h for each choice). Pure functions; no locale, no clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/route/pac_funcs.h"
#include "shared/ascii.h"

bool kg_pac_sh_exp_match(const char *str, const char *shexp)
{
	const char *s = str, *p = shexp;
	const char *star = NULL, *resume = NULL;

	/* Greedy with one backtrack point: on a mismatch, the last '*' takes one more
	 * character. Linear in each attempt, so O(len(str) * len(shexp)) at worst. */
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p && (*p == '?' || *p == *s)) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool kg_pac_dns_domain_is(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);

	return h >= d && memcmp(host + h - d, domain, d) == 0;
}

bool kg_pac_local_host_or_domain_is(const char *host, const char *hostdom)
{
	size_t h = strlen(host);

	if (strcmp(host, hostdom) == 0)
		return true;
	return strncmp(hostdom, host, h) == 0 && hostdom[h] == '.';
}

bool kg_pac_is_plain_host_name(const char *host)
{
	return !strchr(host, '.') && !strchr(host, ':');
}

int kg_pac_dns_domain_levels(const char *host)
{
	int n = 0;

	for (; *host; host++)
		n += *host == '.';
	return n;
}

static bool ipv4_parse(const char *s, uint32_t *out)
{
	uint32_t a = 0;

	for (int field = 0; field < 4; field++) {
		unsigned v = 0, digits = 0;

		if (field) {
			if (*s != '.')
				return false;
			s++;
		}
		while (is_digit((uint8_t)*s) && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return false;
		a = a << 8 | v;
	}
	if (*s)
		return false;
	*out = a;
	return true;
}

bool kg_pac_is_ipv4_literal(const char *s)
{
	uint32_t a;

	return ipv4_parse(s, &a);
}

bool kg_pac_is_in_net(const char *addr, const char *pattern, const char *mask)
{
	uint32_t a, p, m;

	if (!ipv4_parse(addr, &a) || !ipv4_parse(pattern, &p) || !ipv4_parse(mask, &m))
		return false;
	return (a & m) == (p & m);
}

/* An IPv4 or IPv6 literal as inet_pton reads it: 4 or 16 bytes in out, 0 if neither. */
static size_t ip_parse(const char *s, size_t len, uint8_t out[16])
{
	char text[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(text))
		return 0;
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET, text, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, text, out) == 1)
		return 16;
	return 0;
}

bool kg_pac_is_in_net_ex(const char *addr, const char *prefix)
{
	uint8_t a[16], p[16];
	const char *slash = strchr(prefix, '/');
	size_t alen, plen;
	unsigned bits = 0, digits = 0;

	if (!slash)
		return false;
	alen = ip_parse(addr, strlen(addr), a);
	plen = ip_parse(prefix, (size_t)(slash - prefix), p);
	if (!alen || alen != plen)
		return false;
	for (const char *d = slash + 1; *d; d++) {
		if (!is_digit((uint8_t)*d) || ++digits > 3)
			return false;
		bits = bits * 10 + (unsigned)(*d - '0');
	}
	if (digits == 0 || bits > alen * 8)
		return false;
	for (size_t i = 0; i < alen && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		uint8_t m = (uint8_t)(0xff00u >> take);

		if ((a[i] & m) != (p[i] & m))
			return false;
		bits -= take;
	}
	return true;
}

struct ip {
	size_t len; /* 16 (IPv6) or 4 */
	uint8_t b[16];
};

/* IPv6 before IPv4, then by bytes. */
static int ip_cmp(const struct ip *x, const struct ip *y)
{
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return memcmp(x->b, y->b, x->len);
}

int kg_pac_sort_ip_address_list(const char *list, char *out, size_t outlen)
{
	struct ip ips[KG_PAC_SORT_MAX];
	size_t n = 0, o = 0;
	const char *s = list;

	if (outlen)
		out[0] = '\0';
	for (;;) {
		size_t len = strcspn(s, ";");
		const char *a = s, *b = s + len;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (a < b) {
			struct ip ip;

			ip.len = ip_parse(a, (size_t)(b - a), ip.b);
			if (!ip.len)
				return -EINVAL;
			if (n == KG_PAC_SORT_MAX)
				return -E2BIG;
			/* Insertion sort, stable: equal addresses keep their order. */
			size_t i = n++;
			while (i > 0 && ip_cmp(&ips[i - 1], &ip) > 0) {
				ips[i] = ips[i - 1];
				i--;
			}
			ips[i] = ip;
		}
		if (!s[len])
			break;
		s += len + 1;
	}
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char text[INET6_ADDRSTRLEN];
		size_t tl;

		inet_ntop(ips[i].len == 4 ? AF_INET : AF_INET6, ips[i].b, text, sizeof(text));
		tl = strlen(text);
		if (o + (i > 0) + tl + 1 > outlen) {
			if (outlen)
				out[0] = '\0';
			return -ENOSPC;
		}
		if (i > 0)
			out[o++] = ';';
		memcpy(out + o, text, tl + 1);
		o += tl;
	}
	return 0;
}

/* ---- date and time ------------------------------------------------------------------------ */

static const char *const weekdays[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
static const char *const months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
				     "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};

static int name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* A decimal number of at most 9 digits, else -1. */
static long number(const char *s)
{
	long v = 0;
	int digits = 0;

	for (; *s; s++) {
		if (!is_digit((uint8_t)*s) || ++digits > 9)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return digits ? v : -1;
}

/* Drops a last "GMT" argument and says which clock the call reads. */
static const struct tm *clock_of(const char *const *argv, size_t *argc, const struct tm *local,
				 const struct tm *gmt)
{
	if (*argc > 0 && strcmp(argv[*argc - 1], "GMT") == 0) {
		(*argc)--;
		return gmt;
	}
	return local;
}

/* cur within [lo, hi], wrapping when lo > hi. */
static bool in_range(long long cur, long long lo, long long hi)
{
	return lo <= hi ? lo <= cur && cur <= hi : cur >= lo || cur <= hi;
}

bool kg_pac_weekday_range(const char *const *argv, size_t argc, const struct tm *local,
			  const struct tm *gmt)
{
	const struct tm *t = clock_of(argv, &argc, local, gmt);
	int d1, d2;

	if (argc < 1 || argc > 2)
		return false;
	d1 = name_index(argv[0], weekdays, 7);
	d2 = argc == 2 ? name_index(argv[1], weekdays, 7) : d1;
	if (d1 < 0 || d2 < 0)
		return false;
	return in_range(t->tm_wday, d1, d2);
}

enum { F_DAY = 1, F_MONTH = 2, F_YEAR = 4 };

/* The fields of one end of a dateRange, as a comparable key year/month/day; the fields
 * named go in *fields. False for a bad or repeated field. */
static bool date_end(const char *const *argv, size_t n, int *fields, long long *key)
{
	long long year = 0, month = 0, day = 0;

	*fields = 0;
	for (size_t i = 0; i < n; i++) {
		int m = name_index(argv[i], months, 12);
		long v = m >= 0 ? 0 : number(argv[i]);
		int f;

		if (m >= 0) {
			f = F_MONTH;
			month = m + 1;
		} else if (v >= 1 && v < 32) {
			f = F_DAY;
			day = v;
		} else if (v >= 32) {
			f = F_YEAR;
			year = v;
		} else {
			return false;
		}
		if (*fields & f)
			return false;
		*fields |= f;
	}
	*key = (year * 100 + month) * 100 + day;
	return true;
}

bool kg_pac_date_range(const char *const *argv, size_t argc, const struct tm *local,
		       const struct tm *gmt)
{
	const struct tm *t = clock_of(argv, &argc, local, gmt);
	int f1, f2;
	long long lo, hi, cur;

	if (argc != 1 && argc != 2 && argc != 4 && argc != 6)
		return false;
	size_t half = argc == 1 ? 1 : argc / 2;
	if (!date_end(argv, half, &f1, &lo))
		return false;
	if (argc == 1) {
		f2 = f1;
		hi = lo;
	} else if (!date_end(argv + half, half, &f2, &hi) || f1 != f2) {
		return false;
	}
	cur = (((f1 & F_YEAR) ? t->tm_year + 1900LL : 0) * 100 +
	       ((f1 & F_MONTH) ? t->tm_mon + 1 : 0)) *
		  100 +
	      ((f1 & F_DAY) ? t->tm_mday : 0);
	return in_range(cur, lo, hi);
}

/* h:m:s as seconds of the day, each field checked; false for a bad one. */
static bool clock_time(const char *h, const char *m, const char *s, long *out)
{
	long hv = number(h), mv = m ? number(m) : 0, sv = s ? number(s) : 0;

	if (hv < 0 || hv > 23 || mv < 0 || mv > 59 || sv < 0 || sv > 59)
		return false;
	*out = (hv * 60 + mv) * 60 + sv;
	return true;
}

bool kg_pac_time_range(const char *const *argv, size_t argc, const struct tm *local,
		       const struct tm *gmt)
{
	const struct tm *t = clock_of(argv, &argc, local, gmt);
	long lo, hi, cur;
	long sec = t->tm_sec > 59 ? 59 : t->tm_sec; /* a leap second counts as :59 */

	cur = ((long)t->tm_hour * 60 + t->tm_min) * 60 + sec;
	switch (argc) {
	case 1:
		return clock_time(argv[0], NULL, NULL, &lo) && lo / 3600 == t->tm_hour;
	case 2:
		if (!clock_time(argv[0], NULL, NULL, &lo) || !clock_time(argv[1], NULL, NULL, &hi))
			return false;
		return lo / 3600 <= t->tm_hour && t->tm_hour <= hi / 3600;
	case 4:
		if (!clock_time(argv[0], argv[1], NULL, &lo) ||
		    !clock_time(argv[2], argv[3], NULL, &hi))
			return false;
		return in_range(cur, lo, hi + 59);
	case 6:
		if (!clock_time(argv[0], argv[1], argv[2], &lo) ||
		    !clock_time(argv[3], argv[4], argv[5], &hi))
			return false;
		return in_range(cur, lo, hi);
	default:
		return false;
	}
}
