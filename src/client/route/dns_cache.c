/* The PAC functions' DNS: a bounded, case-insensitive, LRU cache of names in front of
 * res_nsearch (A, then AAAA), and a bounded parser of the answers (see dns_cache.h).
 */
#include "client/route/dns_cache.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NONE	    UINT32_MAX
#define RESOLV_CONF "/etc/resolv.conf"

struct entry {
	char host[KG_PAC_HOST_MAX + 1]; /* lower case; "" when free */
	uint32_t hnext;			/* the hash chain */
	uint32_t lprev, lnext;		/* the LRU list: head most recent */
	int64_t expires;		/* monotonic seconds */
	uint8_t naddr;
	struct kg_pac_addr addr[KG_PAC_DNS_ADDRS_MAX];
};

struct kg_dns_cache {
	struct __res_state res;
	bool res_ok;
	bool test_servers;
	struct sockaddr_in servers[KG_DNS_SERVERS_MAX];
	size_t nservers;
	struct stat conf_st; /* /etc/resolv.conf when res was initialised */
	int64_t (*now)(void *ud);
	void *now_ud;

	uint32_t cap, nbuckets, used;
	uint32_t *buckets;
	uint32_t lru_head, lru_tail, free_head;
	struct entry *e;
	struct kg_dns_cache_stats stats;
};

/* ---- the answer parser ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Steps over the name at msg[*off]: labels up to a zero byte, or up to a compression
 * pointer (which ends the name in place; its target is not needed to skip it). */
static int skip_name(const uint8_t *msg, size_t len, size_t *off)
{
	size_t o = *off, total = 0;
	for (;;) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = msg[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -EBADMSG;
			*off = o + 2;
			return 0;
		}
		if (l & 0xc0)
			return -EBADMSG; /* 0x40 and 0x80: reserved label types */
		o++;
		if (l == 0) {
			*off = o;
			return 0;
		}
		total += l + 1u;
		if (total > 255 || o + l > len)
			return -EBADMSG;
		o += l;
	}
}

int kg_dns_parse_answer(const uint8_t *msg, size_t len, uint16_t qtype, struct kg_pac_addr *out,
			size_t cap, size_t *n, uint32_t *ttl)
{
	*n = 0;
	*ttl = UINT32_MAX;
	if (len < 12 || !(msg[2] & 0x80))
		return -EBADMSG; /* short, or a query */
	unsigned rcode = msg[3] & 0x0f;
	unsigned qd = get16(msg + 4), an = get16(msg + 6);
	size_t off = 12;
	for (unsigned i = 0; i < qd; i++) {
		if (skip_name(msg, len, &off) < 0 || off + 4 > len)
			return -EBADMSG;
		off += 4;
	}
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EAGAIN;
	size_t alen = qtype == ns_t_a ? 4 : qtype == ns_t_aaaa ? 16 : 0;
	if (!alen)
		return -EINVAL;
	for (unsigned i = 0; i < an; i++) {
		if (skip_name(msg, len, &off) < 0 || off + 10 > len)
			return -EBADMSG;
		uint16_t type = get16(msg + off), class = get16(msg + off + 2);
		uint32_t t = get32(msg + off + 4);
		uint16_t rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -EBADMSG;
		if (class == ns_c_in && type == qtype) {
			if (rdlen != alen)
				return -EBADMSG;
			if (*n < cap) {
				memset(&out[*n], 0, sizeof(out[*n]));
				out[*n].family = alen == 4 ? 4 : 6;
				memcpy(out[*n].bytes, msg + off, alen);
				++*n;
			}
			if (t < *ttl)
				*ttl = t;
		} else if (class == ns_c_in && type == ns_t_cname && t < *ttl) {
			*ttl = t;
		}
		off += rdlen;
	}
	if (*n == 0) {
		*ttl = UINT32_MAX;
		return -ENOENT;
	}
	return 0;
}

/* ---- the resolver ---- */

static int64_t mono_now(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool conf_changed(const struct kg_dns_cache *c, struct stat *st)
{
	if (stat(RESOLV_CONF, st) < 0)
		memset(st, 0, sizeof(*st));
	return st->st_ino != c->conf_st.st_ino || st->st_dev != c->conf_st.st_dev ||
	       st->st_size != c->conf_st.st_size ||
	       st->st_mtim.tv_sec != c->conf_st.st_mtim.tv_sec ||
	       st->st_mtim.tv_nsec != c->conf_st.st_mtim.tv_nsec;
}

/* (Re)initialises the resolver state: the system's configuration, bounded timeouts, the
 * search list cut to its first domain; or, in tests, only the given servers. */
static int res_setup(struct kg_dns_cache *c)
{
	struct stat st;
	if (c->res_ok) {
		if (c->test_servers || !conf_changed(c, &st))
			return 0;
		res_nclose(&c->res);
		c->res_ok = false;
	} else if (!c->test_servers) {
		conf_changed(c, &st);
	}
	memset(&c->res, 0, sizeof(c->res));
	if (res_ninit(&c->res) < 0)
		return -EIO;
	c->res_ok = true;
	if (!c->test_servers)
		c->conf_st = st;
	c->res.retrans = 1; /* RES_TIMEOUT: s per try */
	c->res.retry = 1;   /* RES_RETRY: one try per server */
	if (c->test_servers) {
		for (size_t i = 0; i < c->nservers; i++)
			c->res.nsaddr_list[i] = c->servers[i];
		c->res.nscount = (int)c->nservers;
		c->res.dnsrch[0] = NULL;
		c->res.defdname[0] = '\0';
		c->res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	} else if (c->res.dnsrch[0]) {
		c->res.dnsrch[1] = NULL;
	}
	return 0;
}

/* One query: addresses appended to out. 0 (found), -ENOENT, -EAGAIN. */
static int query(struct kg_dns_cache *c, const char *host, uint16_t type, struct kg_pac_addr *out,
		 size_t cap, size_t *n, uint32_t *ttl)
{
	uint8_t ans[KG_DNS_ANSWER_MAX];
	*n = 0;
	*ttl = UINT32_MAX;
	int r = res_nsearch(&c->res, host, ns_c_in, type, ans, sizeof(ans));
	if (r < 0)
		return c->res.res_h_errno == TRY_AGAIN ? -EAGAIN : -ENOENT;
	size_t len = (size_t)r < sizeof(ans) ? (size_t)r : sizeof(ans);
	int p = kg_dns_parse_answer(ans, len, type, out, cap, n, ttl);
	return p == -EBADMSG ? -EAGAIN : p;
}

/* ---- the cache ---- */

static uint32_t hash(const char *lower)
{
	uint32_t h = 2166136261u;
	for (const char *p = lower; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static void lru_unlink(struct kg_dns_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];
	if (e->lprev != NONE)
		c->e[e->lprev].lnext = e->lnext;
	else
		c->lru_head = e->lnext;
	if (e->lnext != NONE)
		c->e[e->lnext].lprev = e->lprev;
	else
		c->lru_tail = e->lprev;
	e->lprev = e->lnext = NONE;
}

static void lru_push_front(struct kg_dns_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];
	e->lprev = NONE;
	e->lnext = c->lru_head;
	if (c->lru_head != NONE)
		c->e[c->lru_head].lprev = i;
	c->lru_head = i;
	if (c->lru_tail == NONE)
		c->lru_tail = i;
}

static uint32_t *bucket_of(struct kg_dns_cache *c, const char *lower)
{
	return &c->buckets[hash(lower) & (c->nbuckets - 1)];
}

static uint32_t find(struct kg_dns_cache *c, const char *lower)
{
	for (uint32_t i = *bucket_of(c, lower); i != NONE; i = c->e[i].hnext)
		if (strcmp(c->e[i].host, lower) == 0)
			return i;
	return NONE;
}

static void drop(struct kg_dns_cache *c, uint32_t i)
{
	struct entry *e = &c->e[i];
	uint32_t *pp = bucket_of(c, e->host);
	while (*pp != i)
		pp = &c->e[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(c, i);
	e->host[0] = '\0';
	e->hnext = c->free_head;
	c->free_head = i;
	c->used--;
}

static uint32_t insert(struct kg_dns_cache *c, const char *lower)
{
	if (c->free_head == NONE) {
		drop(c, c->lru_tail);
		c->stats.evictions++;
	}
	uint32_t i = c->free_head;
	struct entry *e = &c->e[i];
	c->free_head = e->hnext;
	snprintf(e->host, sizeof(e->host), "%s", lower);
	uint32_t *b = bucket_of(c, lower);
	e->hnext = *b;
	*b = i;
	lru_push_front(c, i);
	c->used++;
	return i;
}

struct kg_dns_cache *kg_dns_cache_new(const struct kg_dns_cache_opts *o, char *err, size_t errlen)
{
	struct kg_dns_cache *c = calloc(1, sizeof(*c));
	if (!c)
		goto oom;
	c->cap = o && o->capacity ? o->capacity : KG_DNS_CACHE_SIZE;
	c->nbuckets = 16;
	while (c->nbuckets < 2 * c->cap)
		c->nbuckets *= 2;
	c->buckets = malloc(c->nbuckets * sizeof(*c->buckets));
	c->e = calloc(c->cap, sizeof(*c->e));
	if (!c->buckets || !c->e)
		goto oom;
	for (uint32_t i = 0; i < c->nbuckets; i++)
		c->buckets[i] = NONE;
	for (uint32_t i = 0; i < c->cap; i++) {
		c->e[i].hnext = i + 1 < c->cap ? i + 1 : NONE;
		c->e[i].lprev = c->e[i].lnext = NONE;
	}
	c->free_head = 0;
	c->lru_head = c->lru_tail = NONE;
	c->now = o && o->now ? o->now : mono_now;
	c->now_ud = o ? o->now_ud : NULL;
	if (o && o->nservers) {
		if (o->nservers > KG_DNS_SERVERS_MAX) {
			snprintf(err, errlen, "at most %d DNS servers", KG_DNS_SERVERS_MAX);
			kg_dns_cache_free(c);
			return NULL;
		}
		memcpy(c->servers, o->servers, o->nservers * sizeof(*o->servers));
		c->nservers = o->nservers;
		c->test_servers = true;
	}
	return c;
oom:
	snprintf(err, errlen, "out of memory");
	kg_dns_cache_free(c);
	return NULL;
}

void kg_dns_cache_free(struct kg_dns_cache *c)
{
	if (!c)
		return;
	if (c->res_ok)
		res_nclose(&c->res);
	free(c->buckets);
	free(c->e);
	free(c);
}

void kg_dns_cache_flush(struct kg_dns_cache *c)
{
	while (c->lru_head != NONE)
		drop(c, c->lru_head);
}

void kg_dns_cache_get_stats(const struct kg_dns_cache *c, struct kg_dns_cache_stats *s)
{
	*s = c->stats;
	s->names = c->used;
}

static uint32_t clamp_ttl(uint32_t t)
{
	return t < KG_DNS_TTL_MIN ? KG_DNS_TTL_MIN : t > KG_DNS_TTL_MAX ? KG_DNS_TTL_MAX : t;
}

/* "localhost" and names under it (RFC 6761 6.3), with or without the final dot. */
static bool is_localhost(const char *lower, size_t len)
{
	if (len && lower[len - 1] == '.')
		len--;
	return (len == 9 && memcmp(lower, "localhost", 9) == 0) ||
	       (len > 10 && memcmp(lower + len - 10, ".localhost", 10) == 0);
}

/* The cached answer (see kg_dns_cache_peek); *idx the entry's index when there is one, even
 * expired, else NONE. lower gets host in lower case. */
static int lookup_cached(struct kg_dns_cache *c, const char *host, char *lower,
			 struct kg_pac_addr *addr, uint8_t *naddr, uint32_t *ttl_left,
			 uint32_t *idx)
{
	size_t len = strlen(host);
	*naddr = 0;
	*idx = NONE;
	if (ttl_left)
		*ttl_left = 0;
	if (len == 0 || len > KG_PAC_HOST_MAX)
		return -EINVAL;
	for (size_t i = 0; i <= len; i++)
		lower[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
	if (kg_pac_addr_parse(lower, &addr[0]) == 0) {
		*naddr = 1;
		if (ttl_left)
			*ttl_left = UINT32_MAX;
		return 0;
	}
	if (is_localhost(lower, len)) {
		kg_pac_addr_parse("127.0.0.1", &addr[0]);
		kg_pac_addr_parse("::1", &addr[1]);
		*naddr = 2;
		if (ttl_left)
			*ttl_left = UINT32_MAX;
		return 0;
	}
	int64_t now = c->now(c->now_ud);
	uint32_t i = find(c, lower);
	*idx = i;
	if (i == NONE || c->e[i].expires <= now)
		return -EAGAIN;
	struct entry *e = &c->e[i];
	c->stats.hits++;
	lru_unlink(c, i);
	lru_push_front(c, i);
	*naddr = e->naddr;
	memcpy(addr, e->addr, e->naddr * sizeof(*addr));
	if (ttl_left)
		*ttl_left = (uint32_t)(e->expires - now);
	return e->naddr ? 0 : -ENOENT;
}

int kg_dns_cache_peek(struct kg_dns_cache *c, const char *host, struct kg_pac_addr *addr,
		      uint8_t *naddr)
{
	char lower[KG_PAC_HOST_MAX + 1];
	uint32_t i;
	return lookup_cached(c, host, lower, addr, naddr, NULL, &i);
}

int kg_dns_cache_resolve(struct kg_dns_cache *c, const char *host, struct kg_pac_addr *addr,
			 uint8_t *naddr, uint32_t *ttl_left)
{
	char lower[KG_PAC_HOST_MAX + 1];
	uint32_t i;
	int r = lookup_cached(c, host, lower, addr, naddr, ttl_left, &i);
	if (r != -EAGAIN)
		return r;
	int64_t now = c->now(c->now_ud);
	if (i != NONE)
		drop(c, i);

	struct kg_pac_addr got[KG_PAC_DNS_ADDRS_MAX];
	size_t n4 = 0, n6 = 0;
	uint32_t t4 = UINT32_MAX, t6 = UINT32_MAX, ttl;
	c->stats.lookups++;
	if (res_setup(c) == 0) {
		query(c, lower, ns_t_a, got, KG_PAC_DNS_ADDRS_MAX, &n4, &t4);
		query(c, lower, ns_t_aaaa, got + n4, KG_PAC_DNS_ADDRS_MAX - n4, &n6, &t6);
	}
	size_t n = n4 + n6;
	if (n == 0) {
		ttl = KG_DNS_NEG_TTL;
	} else {
		ttl = n4 ? t4 : UINT32_MAX;
		if (n6 && t6 < ttl)
			ttl = t6;
		ttl = clamp_ttl(ttl);
	}
	i = insert(c, lower);
	struct entry *e = &c->e[i];
	e->expires = now + ttl;
	e->naddr = (uint8_t)n;
	memcpy(e->addr, got, n * sizeof(*got));
	memcpy(addr, got, n * sizeof(*got));
	*naddr = (uint8_t)n;
	if (ttl_left)
		*ttl_left = ttl;
	return n ? 0 : -ENOENT;
}
