/* Routes: the ordered list of ways out for one connection (route.c).
 *
 * A route comes from a PAC answer ("PROXY a:3128; PROXY b:8080; DIRECT") or from the config's
 * proxy.url list ("http://p1:3128", "https://p2:443"); both give the same list, tried in
 * order by the caller. Pure functions over strings: no I/O, no allocation, bounded input.
 *
 * PAC answers, as browsers read them:
 *   - entries are separated by ';'; empty entries (";;", a trailing ';') are ignored;
 *   - keywords are case-insensitive: PROXY (HTTP is a synonym, as in Firefox), HTTPS, DIRECT;
 *     any whitespace (space, tab, CR, LF, VT, FF) separates the keyword from the authority
 *     and may surround the entry;
 *   - SOCKS, SOCKS4, SOCKS5 (and QUIC) are proxies this client does not speak: checked like
 *     the others, then skipped, and the route's `skipped` flag is set for the caller to log
 *     once;
 *   - the authority is host[:port]: a DNS name, a dotted IPv4 address or a bracketed IPv6
 *     address (kg_authority_parse: lower-cased, IPv6 in canonical form); an unbracketed IPv6
 *     address is refused (its port would be ambiguous);
 *   - a missing port takes the scheme's default, as Chromium and Firefox do: 80 for PROXY,
 *     443 for HTTPS; "host:" with an empty port is refused;
 *   - more than KG_ROUTE_MAX usable entries: the first KG_ROUTE_MAX are kept and `truncated`
 *     is set (the caller logs it once);
 *   - an answer with no usable entry (empty, or SOCKS only) is -ENOENT: the caller decides
 *     (browsers go DIRECT).
 * proxy.url entries: "http://host[:port][/]" or "https://host[:port][/]", scheme
 * case-insensitive, default ports 80 and 443; no userinfo, path, query or fragment.
 *
 * Errors are -EBADMSG (a malformed entry), -E2BIG (input over KG_ROUTE_INPUT_MAX), -ENOENT
 * (nothing usable), each with a one-line sentence in err (may be NULL) that names the entry,
 * quoted with control and non-ASCII bytes escaped and long entries shortened, for the journal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/proto/authority.h"
#include "shared/pac_proto.h"

#define KG_ROUTE_MAX	   16	/* entries kept in a route */
#define KG_ROUTE_INPUT_MAX 4096 /* bytes of a PAC answer or of one proxy.url */
#define KG_ROUTE_ERR_MAX   192	/* a sentence for the journal, NUL included */
/* "HTTPS " + host + ":65535" + NUL: one entry printed. */
#define KG_ROUTE_ENTRY_TEXT_MAX (6 + KG_HOST_MAX + 6 + 1)

enum kg_route_kind {
	KG_ROUTE_DIRECT = 0, /* the relay connects to the original destination itself */
	KG_ROUTE_PROXY,	     /* an HTTP proxy, CONNECT in clear */
	KG_ROUTE_HTTPS,	     /* an HTTP proxy reached over TLS */
};

struct kg_route_entry {
	enum kg_route_kind kind;
	char host[KG_HOST_MAX]; /* normalised; "" for DIRECT */
	uint16_t port;		/* 1..65535; 0 for DIRECT */
	/* The proxy's address, when the route's `resolved` says the PAC engine looked the host
	 * up (route/pac_engine.h): family 0 then means the name did not resolve. Not part of
	 * the entry's identity (kg_route_entry_equal, the failover key). */
	struct kg_pac_addr addr;
};

struct kg_route {
	size_t n;
	bool skipped;	/* SOCKS or QUIC entries were dropped */
	bool truncated; /* entries beyond KG_ROUTE_MAX were dropped */
	/* The proxies' names were resolved off the relay's loop (entry addr); false: the
	 * connect looks them up itself (the settings' route caches that; routes made by hand). */
	bool resolved;
	struct kg_route_entry e[KG_ROUTE_MAX];
};

/* Parses a PAC answer of len bytes (no NUL needed) into *out. 0 or a negative errno, see
 * above; *out is always left a valid route (empty on error). */
int kg_route_parse_pac(const char *s, size_t len, struct kg_route *out, char *err, size_t errlen);

/* Parses one proxy.url into *e (PROXY for http://, HTTPS for https://). */
int kg_route_parse_url(const char *url, struct kg_route_entry *e, char *err, size_t errlen);

/* Parses a proxy.url list (failover order) into *out: -ENOENT when n is 0; more than
 * KG_ROUTE_MAX URLs are -E2BIG (a config error, unlike a PAC answer). */
int kg_route_parse_urls(const char *const *urls, size_t n, struct kg_route *out, char *err,
			size_t errlen);

/* "PROXY host:port", "HTTPS host:port" or "DIRECT"; kg_route_parse_pac reads it back to the
 * same entry. Returns the length, or -ENOSPC (buf holds a truncated, terminated text). */
int kg_route_entry_format(const struct kg_route_entry *e, char *buf, size_t len);
/* "http://host:port" or "https://host:port" (kg_route_parse_url reads it back); -EINVAL for
 * DIRECT, which has no URL. */
int kg_route_entry_url(const struct kg_route_entry *e, char *buf, size_t len);
/* The whole route as a PAC answer, "PROXY a:3128; DIRECT". Length or -ENOSPC. */
int kg_route_format(const struct kg_route *r, char *buf, size_t len);

/* "host:port" of a proxy entry, the key of the failover table. Length or -ENOSPC / -EINVAL. */
int kg_route_entry_authority(const struct kg_route_entry *e, char *buf, size_t len);

bool kg_route_entry_equal(const struct kg_route_entry *a, const struct kg_route_entry *b);
/* The same entries in the same order. */
bool kg_route_equal(const struct kg_route *a, const struct kg_route *b);
