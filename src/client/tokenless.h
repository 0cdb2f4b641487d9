/* Proxies known to take a CONNECT without Proxy-Authorization (issue 15). A tunnel through one
 * of them sends its CONNECT with no Negotiate token: none is made for it (no GSS work on the
 * Kerberos worker and no wait for it before the CONNECT), and no credential goes where none is
 * needed. What is known is learnt only from a 2xx to a CONNECT that carried no token (one could
 * not be made: no ticket); it is forgotten on any 407 (the tunnel that got it makes a token and
 * asks again on a new connection, so it does not fail), by warm_flush() (new settings, a new
 * ticket or credential cache, a proxy down) and TOKENLESS_TTL after the last such 2xx.
 * Proxies are named by their URL (upstream_peer()). Lives in struct kg_client; loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define TOKENLESS_MAX	  4
#define TOKENLESS_URL_MAX 256
#define TOKENLESS_TTL	  60000000ull /* usec */

struct tokenless_memo {
	struct {
		char url[TOKENLESS_URL_MAX]; /* "" free */
		uint64_t until;		     /* monotonic usec */
	} e[TOKENLESS_MAX];
};

/* Whether the proxy at url took a CONNECT without a token, as of now. */
static inline bool tokenless_known(const struct tokenless_memo *m, const char *url, uint64_t now)
{
	for (unsigned i = 0; i < TOKENLESS_MAX; i++)
		if (m->e[i].url[0] && now < m->e[i].until && strcmp(m->e[i].url, url) == 0)
			return true;
	return false;
}

/* The proxy at url answered 2xx to a CONNECT without a token at now. */
static inline void tokenless_learn(struct tokenless_memo *m, const char *url, uint64_t now)
{
	size_t len = strlen(url);
	unsigned i, pick = 0;

	if (len == 0 || len >= TOKENLESS_URL_MAX)
		return;
	for (i = 0; i < TOKENLESS_MAX; i++) {
		if (strcmp(m->e[i].url, url) == 0) {
			pick = i;
			break;
		}
		if (m->e[i].until < m->e[pick].until)
			pick = i; /* a free one (until 0) or the oldest */
	}
	memcpy(m->e[pick].url, url, len + 1);
	m->e[pick].until = now + TOKENLESS_TTL;
}

/* Forget every proxy: the next CONNECT through each carries a token again. */
static inline void tokenless_forget(struct tokenless_memo *m)
{
	memset(m, 0, sizeof(*m));
}
