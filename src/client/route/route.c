/* Routes: parses a PAC answer or the proxy.url list into an ordered list of ways out (PROXY,
 * HTTPS, DIRECT) and prints them back. The rules (browser compatible where browsers agree)
 * are in route.h; this file holds no state and does no I/O.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/route/route.h"
#include "shared/ascii.h"

#define QUOTE_MAX 48 /* bytes of an entry echoed in an error sentence */

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* s[0..len) in double quotes, control, non-ASCII, quote and backslash bytes as \xHH, cut
 * after QUOTE_MAX bytes with "...": safe to put in the journal. */
static void quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 8) {
		if (outlen)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
		uint8_t c = (uint8_t)s[i];

		if (o + 9 >= outlen)
			break;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (len > QUOTE_MAX)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o++] = '"';
	out[o] = '\0';
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void clear_err(char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
}

/* host[:port] of a proxy, default port when none; an empty port after ':' is refused. */
static int authority(const char *s, size_t len, uint16_t default_port, struct kg_route_entry *e)
{
	uint16_t port;

	if (len == 0 || s[len - 1] == ':')
		return -EBADMSG;
	if (kg_authority_parse(s, len, e->host, sizeof(e->host), &port) < 0)
		return -EBADMSG;
	e->port = port ? port : default_port;
	return 0;
}

enum entry_result { ENTRY_USE, ENTRY_SKIP };

/* One trimmed, non-empty PAC entry. ENTRY_USE, ENTRY_SKIP, or -EBADMSG with the reason. */
static int pac_entry(const char *s, size_t len, struct kg_route_entry *e, const char **why)
{
	size_t kw = 0, arg, arglen;
	uint16_t default_port;
	bool skip = false;

	while (kw < len && !is_space((uint8_t)s[kw]))
		kw++;
	arg = kw;
	while (arg < len && is_space((uint8_t)s[arg]))
		arg++;
	arglen = len - arg;
	memset(e, 0, sizeof(*e));

	const uint8_t *k = (const uint8_t *)s;
	if (kg_ascii_eq_ci(k, kw, "direct")) {
		if (arglen) {
			*why = "DIRECT takes no host";
			return -EBADMSG;
		}
		e->kind = KG_ROUTE_DIRECT;
		return ENTRY_USE;
	}
	if (kg_ascii_eq_ci(k, kw, "proxy") || kg_ascii_eq_ci(k, kw, "http")) {
		e->kind = KG_ROUTE_PROXY;
		default_port = 80;
	} else if (kg_ascii_eq_ci(k, kw, "https")) {
		e->kind = KG_ROUTE_HTTPS;
		default_port = 443;
	} else if (kg_ascii_eq_ci(k, kw, "socks") || kg_ascii_eq_ci(k, kw, "socks4") ||
		   kg_ascii_eq_ci(k, kw, "socks5") || kg_ascii_eq_ci(k, kw, "quic")) {
		skip = true;
		default_port = 1080;
	} else {
		*why = "unknown keyword (PROXY, HTTPS or DIRECT)";
		return -EBADMSG;
	}
	if (arglen == 0) {
		*why = "no host:port";
		return -EBADMSG;
	}
	for (size_t i = arg; i < len; i++)
		if (is_space((uint8_t)s[i])) {
			*why = "one host:port expected";
			return -EBADMSG;
		}
	if (authority(s + arg, arglen, default_port, e) < 0) {
		*why = "bad host:port";
		return -EBADMSG;
	}
	return skip ? ENTRY_SKIP : ENTRY_USE;
}

int kg_route_parse_pac(const char *s, size_t len, struct kg_route *out, char *err, size_t errlen)
{
	char q[QUOTE_MAX * 4 + 8];
	struct kg_route_entry e;
	const char *why = NULL;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	clear_err(err, errlen);
	if (len > KG_ROUTE_INPUT_MAX) {
		set_err(err, errlen, "PAC answer of %zu bytes is over the limit of %d", len,
			KG_ROUTE_INPUT_MAX);
		return -E2BIG;
	}
	while (i < len) {
		const char *semi = memchr(s + i, ';', len - i);
		size_t end = semi ? (size_t)(semi - s) : len;
		size_t a = i, b = end;

		i = end + 1;
		while (a < b && is_space((uint8_t)s[a]))
			a++;
		while (b > a && is_space((uint8_t)s[b - 1]))
			b--;
		if (a == b)
			continue;
		int r = pac_entry(s + a, b - a, &e, &why);
		if (r < 0) {
			quote(s + a, b - a, q, sizeof(q));
			set_err(err, errlen, "PAC answer entry %s: %s", q, why);
			memset(out, 0, sizeof(*out));
			return r;
		}
		if (r == ENTRY_SKIP) {
			out->skipped = true;
			continue;
		}
		if (out->n == KG_ROUTE_MAX) {
			out->truncated = true;
			continue;
		}
		out->e[out->n++] = e;
	}
	if (out->n == 0) {
		set_err(err, errlen, "PAC answer has no usable entry%s",
			out->skipped ? " (SOCKS and QUIC are not supported)" : "");
		return -ENOENT;
	}
	return 0;
}

int kg_route_parse_url(const char *url, struct kg_route_entry *e, char *err, size_t errlen)
{
	char q[QUOTE_MAX * 4 + 8];
	size_t len = strnlen(url, KG_ROUTE_INPUT_MAX + 1);
	const char *p, *why;
	uint16_t default_port;
	size_t alen;

	memset(e, 0, sizeof(*e));
	clear_err(err, errlen);
	quote(url, len, q, sizeof(q));
	if (len > KG_ROUTE_INPUT_MAX) {
		set_err(err, errlen, "proxy.url %s is over the limit of %d bytes", q,
			KG_ROUTE_INPUT_MAX);
		return -E2BIG;
	}
	if (len >= 7 && kg_ascii_eq_ci((const uint8_t *)url, 7, "http://")) {
		e->kind = KG_ROUTE_PROXY;
		default_port = 80;
		p = url + 7;
	} else if (len >= 8 && kg_ascii_eq_ci((const uint8_t *)url, 8, "https://")) {
		e->kind = KG_ROUTE_HTTPS;
		default_port = 443;
		p = url + 8;
	} else {
		why = "must start with http:// or https://";
		goto bad;
	}
	alen = strcspn(p, "/");
	if (p[alen] == '/' && p[alen + 1] != '\0') {
		why = "a proxy URL has no path, query or fragment";
		goto bad;
	}
	if (memchr(p, '@', alen)) {
		why = "user@ is not supported (authentication uses Kerberos)";
		goto bad;
	}
	if (authority(p, alen, default_port, e) < 0) {
		why = alen ? "bad host:port" : "no host";
		goto bad;
	}
	return 0;
bad:
	set_err(err, errlen, "proxy.url %s: %s", q, why);
	memset(e, 0, sizeof(*e));
	return -EBADMSG;
}

int kg_route_parse_urls(const char *const *urls, size_t n, struct kg_route *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof(*out));
	clear_err(err, errlen);
	if (n == 0) {
		set_err(err, errlen, "proxy.url is empty");
		return -ENOENT;
	}
	if (n > KG_ROUTE_MAX) {
		set_err(err, errlen, "proxy.url lists %zu proxies, at most %d are allowed", n,
			KG_ROUTE_MAX);
		return -E2BIG;
	}
	for (size_t i = 0; i < n; i++) {
		int r = kg_route_parse_url(urls[i], &out->e[i], err, errlen);
		if (r < 0) {
			memset(out, 0, sizeof(*out));
			return r;
		}
	}
	out->n = n;
	return 0;
}

static int print(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int print(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= len ? -ENOSPC : n;
}

int kg_route_entry_format(const struct kg_route_entry *e, char *buf, size_t len)
{
	switch (e->kind) {
	case KG_ROUTE_DIRECT:
		return print(buf, len, "DIRECT");
	case KG_ROUTE_PROXY:
		return print(buf, len, "PROXY %s:%u", e->host, (unsigned)e->port);
	case KG_ROUTE_HTTPS:
		return print(buf, len, "HTTPS %s:%u", e->host, (unsigned)e->port);
	}
	return -EINVAL;
}

int kg_route_entry_url(const struct kg_route_entry *e, char *buf, size_t len)
{
	switch (e->kind) {
	case KG_ROUTE_PROXY:
		return print(buf, len, "http://%s:%u", e->host, (unsigned)e->port);
	case KG_ROUTE_HTTPS:
		return print(buf, len, "https://%s:%u", e->host, (unsigned)e->port);
	case KG_ROUTE_DIRECT:
		break;
	}
	if (len)
		buf[0] = '\0';
	return -EINVAL;
}

int kg_route_entry_authority(const struct kg_route_entry *e, char *buf, size_t len)
{
	if (e->kind == KG_ROUTE_DIRECT) {
		if (len)
			buf[0] = '\0';
		return -EINVAL;
	}
	return print(buf, len, "%s:%u", e->host, (unsigned)e->port);
}

int kg_route_format(const struct kg_route *r, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	for (size_t i = 0; i < r->n; i++) {
		int n;

		if (i) {
			n = print(buf + o, len - o, "; ");
			if (n < 0)
				return n;
			o += (size_t)n;
		}
		n = kg_route_entry_format(&r->e[i], buf + o, len - o);
		if (n < 0)
			return n;
		o += (size_t)n;
	}
	return (int)o;
}

bool kg_route_entry_equal(const struct kg_route_entry *a, const struct kg_route_entry *b)
{
	return a->kind == b->kind && a->port == b->port && strcmp(a->host, b->host) == 0;
}

bool kg_route_equal(const struct kg_route *a, const struct kg_route *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!kg_route_entry_equal(&a->e[i], &b->e[i]))
			return false;
	return true;
}
