/* DNS for the PAC functions (issue 13): dnsResolve, isResolvable, isInNet and dnsResolveEx
 * ask the client, never the sandbox, for a name's addresses (pac_proc's NEED_DNS rounds).
 * This module answers them: a bounded cache of names, keyed case-insensitively, in front of
 * blocking lookups with libresolv (res_nsearch), A then AAAA, with a bounded time each.
 *
 *   - A lookup is two queries (A, AAAA), each with a 1 s timeout and one try per name server
 *     (RES_TIMEOUT 1, RES_RETRY 1), and the search list cut to its first domain, so one name
 *     costs about 2 s at worst with one server (glibc tries each listed server in turn).
 *     /etc/hosts is not read (res_* speak DNS only): hosts-file names do not resolve unless
 *     the DNS server knows them (systemd-resolved's stub, 127.0.0.53, does answer them).
 *     "localhost" and names under it are 127.0.0.1 and ::1 without a lookup (RFC 6761).
 *   - A found name is kept for the smallest TTL of its answer records (CNAMEs included),
 *     clamped to KG_DNS_TTL_MIN..KG_DNS_TTL_MAX seconds. A name that does not resolve (no
 *     such name, no address, or the servers did not answer in time) is kept for
 *     KG_DNS_NEG_TTL seconds, so a dead DNS server costs one timeout per name per 30 s.
 *   - At most `capacity` names; when full, the least recently used one goes.
 *   - /etc/resolv.conf is read again when it changed (checked on every miss).
 *   - IP literals are answered without a lookup and not cached, as is localhost.
 *
 * The answer parser (kg_dns_parse_answer) is pure and bounded, for the unit tests and the
 * fuzz target (tests/fuzz/fuzz_dns_answer.c). Not thread-safe: one thread uses a cache (the
 * PAC engine's worker, pac_engine.h).
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/pac_proto.h"

#define KG_DNS_CACHE_SIZE  512	/* names kept by default */
#define KG_DNS_TTL_MIN	   5	/* s: a found name is kept at least this long */
#define KG_DNS_TTL_MAX	   3600 /* s: and at most this long */
#define KG_DNS_NEG_TTL	   30	/* s: a name that does not resolve */
#define KG_DNS_SERVERS_MAX 3	/* the resolver's own limit (MAXNS) */
#define KG_DNS_ANSWER_MAX  4096 /* bytes of one DNS answer read */

struct kg_dns_cache_opts {
	unsigned capacity; /* names; 0: KG_DNS_CACHE_SIZE */
	/* Test-only: ask these servers (IPv4, up to KG_DNS_SERVERS_MAX) instead of those in
	 * /etc/resolv.conf, without a search list. nservers 0: the system's resolver. */
	const struct sockaddr_in *servers;
	size_t nservers;
	/* Test-only: a clock in seconds (monotonic); NULL: CLOCK_MONOTONIC. */
	int64_t (*now)(void *ud);
	void *now_ud;
};

struct kg_dns_cache_stats {
	unsigned long hits;    /* answered from the cache */
	unsigned long lookups; /* names looked up (each one an A and an AAAA query) */
	unsigned long evictions;
	unsigned names; /* kept now */
};

struct kg_dns_cache;

/* NULL with a sentence in err (out of memory, no resolver configuration). */
struct kg_dns_cache *kg_dns_cache_new(const struct kg_dns_cache_opts *o, char *err, size_t errlen);
void kg_dns_cache_free(struct kg_dns_cache *c);

/* The addresses of host (at most KG_PAC_DNS_ADDRS_MAX: the A records first, then AAAA) into
 * addr and *naddr, from the cache or by a lookup that blocks (see above). 0: found; -ENOENT:
 * it does not resolve (*naddr 0); -EINVAL: host is empty or longer than KG_PAC_HOST_MAX.
 * *ttl_left (may be NULL): seconds the answer stays valid (UINT32_MAX for an IP literal). */
int kg_dns_cache_resolve(struct kg_dns_cache *c, const char *host, struct kg_pac_addr *addr,
			 uint8_t *naddr, uint32_t *ttl_left);

/* The cached answer for host, never a lookup: 0 (found), -ENOENT (cached as not resolving),
 * -EAGAIN (not cached, or expired), -EINVAL. IP literals are 0. Counts as a hit when 0 or
 * -ENOENT. */
int kg_dns_cache_peek(struct kg_dns_cache *c, const char *host, struct kg_pac_addr *addr,
		      uint8_t *naddr);

/* Forgets every name (a network change: the answers may differ now). */
void kg_dns_cache_flush(struct kg_dns_cache *c);

void kg_dns_cache_get_stats(const struct kg_dns_cache *c, struct kg_dns_cache_stats *s);

/* Parses one DNS answer message of len bytes for records of type qtype (1: A, 28: AAAA),
 * class IN: their addresses are appended to out (cap entries at most; more are ignored),
 * *n counts them, and *ttl is the smallest TTL of the answer section's records of that type
 * and of CNAMEs (UINT32_MAX when there are none). Returns 0 (addresses found), -ENOENT (a
 * well-formed answer without any: NXDOMAIN, no data), -EAGAIN (SERVFAIL, REFUSED and other
 * error codes), or -EBADMSG for anything malformed: not a response, truncated header,
 * question or record, a name running past the end, a label over 63 bytes, an A record whose
 * data is not 4 bytes or an AAAA record not 16. Reads only within msg[0..len). */
int kg_dns_parse_answer(const uint8_t *msg, size_t len, uint16_t qtype, struct kg_pac_addr *out,
			size_t cap, size_t *n, uint32_t *ttl);
