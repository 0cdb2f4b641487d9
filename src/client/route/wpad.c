/* WPAD discovery: DHCP option 252 from lease files, the DNS walk over the search domains, the
 * retry schedule (see wpad.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/route/wpad.h"

#define OPTION_MAX 255 /* bytes of one DHCP option's value */

/* ---- values -------------------------------------------------------------------------------- */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool prefix_ci(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);

	return n >= k && strncasecmp(s, p, k) == 0;
}

/* The lines of a buffer, one at a time: the three parsers below walk leases and resolv.conf
 * the same way. */
struct line_iter {
	const char *p, *end;
};

/* The next line: *line at its first byte that is not blank, *eol at its '\n' (or the end of
 * the buffer). false when none is left. */
static bool next_line(struct line_iter *it, const char **line, const char **eol)
{
	const char *p = it->p, *e;

	if (p >= it->end)
		return false;
	e = memchr(p, '\n', (size_t)(it->end - p));
	if (!e)
		e = it->end;
	it->p = e < it->end ? e + 1 : e;
	while (p < e && is_ws(*p))
		p++;
	*line = p;
	*eol = e;
	return true;
}

int kg_wpad_check_url(const void *value, size_t n, char *url, size_t url_sz)
{
	const unsigned char *v = value;
	size_t skip;

	while (n > 0 && (v[n - 1] == '\0' || is_ws((char)v[n - 1])))
		n--;
	if (n == 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f)
			return -EBADMSG;
	if (prefix_ci((const char *)v, n, "http://"))
		skip = 7;
	else if (prefix_ci((const char *)v, n, "https://"))
		skip = 8;
	else
		return -EBADMSG;
	if (n == skip || v[skip] == '/' || v[skip] == '?' || v[skip] == '#')
		return -EBADMSG;
	if (n >= url_sz)
		return -E2BIG;
	memcpy(url, v, n);
	url[n] = '\0';
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- systemd's KEY=VALUE leases ---------------------------------------------------------- */

int kg_wpad_parse_keyfile(const char *buf, size_t len, char *url, size_t url_sz)
{
	static const char key[] = "OPTION_252=";
	struct line_iter it = {buf, buf + len};
	const char *p, *eol, *v;
	unsigned char raw[OPTION_MAX];
	size_t vlen, n;
	int r = -ENOENT, h, l;

	if (len > KG_WPAD_FILE_MAX)
		return -E2BIG;
	while (next_line(&it, &p, &eol)) {
		if ((size_t)(eol - p) < sizeof(key) - 1 || memcmp(p, key, sizeof(key) - 1) != 0)
			continue;
		v = p + sizeof(key) - 1;
		vlen = (size_t)(eol - v);
		while (vlen > 0 && is_ws(v[vlen - 1]))
			vlen--;
		if (vlen % 2 != 0 || vlen / 2 > sizeof(raw)) {
			r = -EBADMSG;
			continue;
		}
		for (n = 0; n < vlen / 2; n++) {
			h = hexval(v[2 * n]);
			l = hexval(v[2 * n + 1]);
			if (h < 0 || l < 0)
				break;
			raw[n] = (unsigned char)(h << 4 | l);
		}
		r = n == vlen / 2 ? kg_wpad_check_url(raw, n, url, url_sz) : -EBADMSG;
	}
	return r;
}

/* ---- ISC dhclient leases --------------------------------------------------------------------- */

/* A quoted string ("..." with \ooo, \" and \\) or colon-separated hex bytes, then ';'. */
static int dhclient_value(const char *s, const char *end, unsigned char *out, size_t *outn)
{
	size_t n = 0;
	int d, v, k;

	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return -EBADMSG;
			if (*s == '"')
				break;
			if (n >= OPTION_MAX)
				return -EBADMSG;
			if (*s != '\\') {
				out[n++] = (unsigned char)*s;
				continue;
			}
			if (++s >= end)
				return -EBADMSG;
			if (*s >= '0' && *s <= '7') {
				for (v = 0, k = 0; k < 3 && s < end && *s >= '0' && *s <= '7';
				     k++, s++)
					v = v * 8 + (*s - '0');
				s--;
				if (v > 255)
					return -EBADMSG;
				out[n++] = (unsigned char)v;
			} else {
				out[n++] = (unsigned char)*s;
			}
		}
		s++;
	} else {
		for (;;) {
			if (s >= end || (d = hexval(*s)) < 0)
				return -EBADMSG;
			v = d;
			s++;
			if (s < end && (d = hexval(*s)) >= 0) {
				v = v * 16 + d;
				s++;
			}
			if (n >= OPTION_MAX)
				return -EBADMSG;
			out[n++] = (unsigned char)v;
			if (s < end && *s == ':') {
				s++;
				continue;
			}
			break;
		}
	}
	while (s < end && is_ws(*s))
		s++;
	if (s >= end || *s != ';')
		return -EBADMSG;
	*outn = n;
	return 0;
}

/* "expire ..." of a lease block, s after the keyword: true when it is before now. Unreadable
 * dates count as not expired (the lease is used). */
static bool dhclient_expired(const char *s, const char *end, time_t now)
{
	char tmp[64];
	size_t n = (size_t)(end - s);
	int wd, y, mo, d, h, mi, sec;
	long long epoch;
	struct tm tm;
	time_t t;

	if (now == 0)
		return false;
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (sscanf(tmp, " epoch %lld", &epoch) == 1)
		return epoch < (long long)now;
	if (sscanf(tmp, " %d %d/%d/%d %d:%d:%d", &wd, &y, &mo, &d, &h, &mi, &sec) != 7)
		return false;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t != (time_t)-1 && t < now;
}

static bool wpad_option_name(const char *s, size_t n)
{
	static const char *const names[] = {"wpad", "option-252", "unknown-252"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n == strlen(names[i]) && strncasecmp(s, names[i], n) == 0)
			return true;
	return false;
}

int kg_wpad_parse_dhclient(const char *buf, size_t len, time_t now, char *url, size_t url_sz)
{
	struct line_iter it = {buf, buf + len};
	const char *p, *eol, *name, *q;
	char cur_url[KG_WPAD_URL_MAX];
	unsigned char raw[OPTION_MAX];
	bool in_lease = false, expired = false;
	int cur = -ENOENT, best = -ENOENT;
	size_t n;

	if (len > KG_WPAD_FILE_MAX)
		return -E2BIG;
	if (url_sz > sizeof(cur_url))
		url_sz = sizeof(cur_url);
	while (next_line(&it, &p, &eol)) {
		if (p == eol)
			continue;
		if ((size_t)(eol - p) >= 5 && memcmp(p, "lease", 5) == 0 &&
		    (p + 5 == eol || p[5] == '{' || is_ws(p[5]))) {
			in_lease = true;
			expired = false;
			cur = -ENOENT;
			continue;
		}
		if (!in_lease)
			continue;
		if (*p == '}') {
			if (cur != -ENOENT && !expired) {
				best = cur;
				if (cur == 0)
					memcpy(url, cur_url, strlen(cur_url) + 1);
			}
			in_lease = false;
			continue;
		}
		if ((size_t)(eol - p) > 7 && memcmp(p, "expire", 6) == 0 && is_ws(p[6])) {
			expired = dhclient_expired(p + 6, eol, now);
			continue;
		}
		if ((size_t)(eol - p) <= 7 || memcmp(p, "option", 6) != 0 || !is_ws(p[6]))
			continue;
		for (name = p + 7; name < eol && is_ws(*name); name++)
			;
		for (q = name; q < eol && !is_ws(*q); q++)
			;
		if (!wpad_option_name(name, (size_t)(q - name)))
			continue;
		while (q < eol && is_ws(*q))
			q++;
		cur = dhclient_value(q, eol, raw, &n);
		if (cur == 0)
			cur = kg_wpad_check_url(raw, n, cur_url, url_sz);
	}
	return best;
}

/* ---- lease directories ------------------------------------------------------------------- */

enum lease_kind { LEASE_NONE, LEASE_KEYFILE, LEASE_DHCLIENT };

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);

	return n > k && strcmp(s + n - k, suf) == 0;
}

static enum lease_kind kind_networkd(const char *name)
{
	if (!name[0])
		return LEASE_NONE;
	for (const char *p = name; *p; p++)
		if (*p < '0' || *p > '9')
			return LEASE_NONE;
	return LEASE_KEYFILE;
}

static enum lease_kind kind_nm(const char *name)
{
	if (!strncmp(name, "internal-", 9) && has_suffix(name, ".lease"))
		return LEASE_KEYFILE;
	if (!strncmp(name, "dhclient-", 9) && has_suffix(name, ".lease"))
		return LEASE_DHCLIENT;
	return LEASE_NONE;
}

static enum lease_kind kind_dhclient(const char *name)
{
	if (!strncmp(name, "dhclient", 8) && strncmp(name, "dhclient6", 9) != 0 &&
	    has_suffix(name, ".leases"))
		return LEASE_DHCLIENT;
	return LEASE_NONE;
}

/* The whole of a regular file of at most KG_WPAD_FILE_MAX bytes into buf; its length or -1.
 * Lease files are opened without following a symlink; resolv.conf often is one (resolved). */
static ssize_t read_small(int dfd, const char *name, bool follow, char *buf, struct stat *st)
{
	ssize_t got = 0, r;
	int fd;

	fd = openat(dfd, name,
		    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > KG_WPAD_FILE_MAX) {
		close(fd);
		return -1;
	}
	while (got <= KG_WPAD_FILE_MAX) {
		r = read(fd, buf + got, (size_t)(KG_WPAD_FILE_MAX + 1 - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		got += r;
	}
	close(fd);
	return got > KG_WPAD_FILE_MAX ? -1 : got;
}

struct dhcp_best {
	bool have;
	struct timespec mtime;
	char url[KG_WPAD_URL_MAX];
	char from[512];
};

static void scan_dir(const char *dir, enum lease_kind (*kind)(const char *), time_t now, char *buf,
		     struct dhcp_best *best)
{
	char url[KG_WPAD_URL_MAX];
	struct dirent *de;
	struct stat st;
	unsigned seen = 0;
	enum lease_kind k;
	ssize_t n;
	DIR *d;
	int r;

	if (!dir)
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && seen < KG_WPAD_DIR_FILES) {
		k = kind(de->d_name);
		if (k == LEASE_NONE)
			continue;
		seen++;
		n = read_small(dirfd(d), de->d_name, false, buf, &st);
		if (n < 0)
			continue;
		if (k == LEASE_KEYFILE)
			r = kg_wpad_parse_keyfile(buf, (size_t)n, url, sizeof(url));
		else
			r = kg_wpad_parse_dhclient(buf, (size_t)n, now, url, sizeof(url));
		if (r != 0)
			continue;
		if (best->have && (st.st_mtim.tv_sec < best->mtime.tv_sec ||
				   (st.st_mtim.tv_sec == best->mtime.tv_sec &&
				    st.st_mtim.tv_nsec <= best->mtime.tv_nsec)))
			continue;
		best->have = true;
		best->mtime = st.st_mtim;
		memcpy(best->url, url, sizeof(url));
		snprintf(best->from, sizeof(best->from), "%s/%s", dir, de->d_name);
	}
	closedir(d);
}

int kg_wpad_dhcp_url(const struct kg_wpad_dirs *dirs, time_t now, char *url, size_t url_sz,
		     char *from, size_t from_sz)
{
	struct dhcp_best best = {.have = false};
	char *buf;

	if (!dirs)
		return -ENOENT;
	buf = malloc(KG_WPAD_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	scan_dir(dirs->networkd, kind_networkd, now, buf, &best);
	scan_dir(dirs->nm, kind_nm, now, buf, &best);
	scan_dir(dirs->dhclient, kind_dhclient, now, buf, &best);
	free(buf);
	if (!best.have)
		return -ENOENT;
	if (strlen(best.url) >= url_sz)
		return -E2BIG;
	memcpy(url, best.url, strlen(best.url) + 1);
	if (from && from_sz)
		snprintf(from, from_sz, "%s", best.from);
	return 0;
}

/* ---- resolv.conf and the DNS walk --------------------------------------------------------- */

bool kg_wpad_domain_normalize(const char *in, size_t len, char out[KG_WPAD_DOMAIN_MAX])
{
	size_t label = 0;
	char c, prev = '.';

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > KG_WPAD_DOMAIN_MAX - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (c == '-' && label == 0)
				return false;
			if (++label > 63)
				return false;
		} else {
			return false;
		}
		out[i] = c;
		prev = c;
	}
	if (prev == '-' || prev == '.')
		return false;
	out[len] = '\0';
	return true;
}

static void search_add(struct kg_wpad_search *out, const char *s, size_t n)
{
	char d[KG_WPAD_DOMAIN_MAX];

	if (out->n >= KG_WPAD_SEARCH_MAX || !kg_wpad_domain_normalize(s, n, d))
		return;
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->domain[i], d))
			return;
	memcpy(out->domain[out->n++], d, strlen(d) + 1);
}

void kg_wpad_parse_resolv(const char *buf, size_t len, struct kg_wpad_search *out)
{
	struct line_iter it;
	const char *p, *eol, *t;
	bool search;

	out->n = 0;
	if (len > KG_WPAD_FILE_MAX)
		len = KG_WPAD_FILE_MAX;
	it = (struct line_iter){buf, buf + len};
	while (next_line(&it, &p, &eol)) {
		if ((size_t)(eol - p) > 6 && !memcmp(p, "search", 6) && is_ws(p[6]))
			search = true;
		else if ((size_t)(eol - p) > 6 && !memcmp(p, "domain", 6) && is_ws(p[6]))
			search = false;
		else
			continue;
		/* The last search or domain line wins (resolv.conf(5)). */
		out->n = 0;
		for (p += 6;; p = t) {
			while (p < eol && is_ws(*p))
				p++;
			if (p >= eol)
				break;
			for (t = p; t < eol && !is_ws(*t); t++)
				;
			search_add(out, p, (size_t)(t - p));
			if (!search)
				break;
		}
	}
}

int kg_wpad_read_resolv(const char *path, struct kg_wpad_search *out)
{
	struct stat st;
	ssize_t n;
	char *buf;

	out->n = 0;
	buf = malloc(KG_WPAD_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	n = read_small(AT_FDCWD, path, true, buf, &st);
	if (n < 0) {
		free(buf);
		return -EIO;
	}
	kg_wpad_parse_resolv(buf, (size_t)n, out);
	free(buf);
	return 0;
}

bool kg_wpad_candidate_add(struct kg_wpad_candidates *c, const char *url)
{
	if (c->n >= KG_WPAD_CANDIDATES_MAX || strlen(url) >= KG_WPAD_URL_MAX)
		return false;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->url[i], url))
			return false;
	memcpy(c->url[c->n++], url, strlen(url) + 1);
	return true;
}

size_t kg_wpad_dns_candidates(const char *domain, struct kg_wpad_candidates *c)
{
	const psl_ctx_t *psl = psl_builtin();
	char d[KG_WPAD_DOMAIN_MAX], url[KG_WPAD_URL_MAX];
	const char *at;
	size_t added = 0;

	if (!kg_wpad_domain_normalize(domain, strlen(domain), d))
		return 0;
	for (at = d; at; at = strchr(at, '.') ? strchr(at, '.') + 1 : NULL) {
		/* Never a single label (a TLD, or an intranet's bare name) ... */
		if (!strchr(at, '.'))
			break;
		/* ... nor a public suffix; without a list, no walk at all. */
		if (psl ? psl_is_public_suffix(psl, at) != 0 : at != d)
			break;
		snprintf(url, sizeof(url), "http://wpad.%s/wpad.dat", at);
		if (kg_wpad_candidate_add(c, url))
			added++;
	}
	return added;
}

void kg_wpad_candidates(const struct kg_wpad_dirs *dirs, const char *resolv_conf, time_t now,
			struct kg_wpad_candidates *c)
{
	struct kg_wpad_search s;
	char url[KG_WPAD_URL_MAX];

	c->n = 0;
	if (dirs && kg_wpad_dhcp_url(dirs, now, url, sizeof(url), NULL, 0) == 0)
		kg_wpad_candidate_add(c, url);
	if (resolv_conf && kg_wpad_read_resolv(resolv_conf, &s) == 0)
		for (size_t i = 0; i < s.n; i++)
			kg_wpad_dns_candidates(s.domain[i], c);
}

/* ---- retry schedule ------------------------------------------------------------------------ */

unsigned kg_wpad_retry_delay(unsigned failures, bool found)
{
	if (found)
		return KG_WPAD_REFETCH_S;
	switch (failures) {
	case 0:
		return 0;
	case 1:
		return 8;
	case 2:
		return 32;
	case 3:
		return 120;
	default:
		return KG_WPAD_RETRY_LAST_S;
	}
}
