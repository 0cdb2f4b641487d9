/* Warm proxy connections (issue 15): a few TCP connections to an http proxy, already
 * established, each with a Negotiate token made for it ahead by the Kerberos worker, so that a
 * new steered connection sends its CONNECT at once instead of first paying the TCP handshake
 * to the proxy.
 *
 * One pool per proxy endpoint (its address, the host its SPN is made from, kerberos.spn and
 * the ccache: what a token is for), in this per-user process. upstream.c's "http proxy" ops
 * ask it (cl->warm->take) before they would connect; an empty pool means a normal connect.
 * Only CONNECT tunnels (tunnel.c) through http proxies: port 80 (forward.c), https proxies and
 * direct connections never get a spare. A CONNECT on a spare that fails before the proxy's
 * answer, or stays unacknowledged for UPSTREAM_WARM_PROBE_USEC, is sent again on a normal
 * connection with a new token (upstream.h).
 *
 * - A spare is handed out only once its connect has completed and while the proxy has not
 *   closed it (the socket is watched: readable or hung up means discarded, never handed out).
 * - Its token is made for it alone and goes with it; a token older than WARM_TOKEN_MAX_AGE is
 *   dropped. A spare whose token is still being made hands that job over. Tokens are never
 *   reused: a discarded spare's token is freed with it.
 * - A spare lives at most WARM_SPARE_MAX_AGE (well under Squid's 2 min
 *   client_idle_pconn_timeout), and at most the idle timeout.
 * - How many: the recent connection rate (warm_target()) times a short horizon, at least one
 *   while the user has traffic, at most proxy.warm_connections (0 turns it off). The pool of an
 *   endpoint empties after proxy.warm_idle_timeout without a steered connection to it.
 * - Spares are made only for a proxy that answered: after a connection to it connected, and
 *   not after a spare failed to connect (until the next connection succeeds).
 * - Emptied at once on a reload (warm_flush()), when the user is off the network, when the
 *   proxy is marked down, and when the ticket changed: a FILE: ccache is compared with what it
 *   was when the spare's token was made at every hand-out, and the worker reports the ticket
 *   (ccache, principal, end) every WARM_TICKET_CHECK while spares exist, for any ccache.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/token_slot.h"

struct kg_client;
struct auth_job;
struct negotiate_ctx;

#define WARM_ENDPOINTS	      4		  /* proxy endpoints with a pool at most */
#define WARM_SPARE_MAX_AGE    30000000ull /* usec */
#define WARM_TOKEN_MAX_AGE    30000000ull /* usec */
#define WARM_RATE_TAU	      10000000ull /* usec: the connection rate's memory */
#define WARM_HORIZON	      2000000ull  /* usec: spares for this much of the rate */
#define WARM_TICK	      1000000ull  /* usec: ageing and idle checks while spares exist */
#define WARM_RETRY_PAUSE      5000000ull  /* usec: no new spare after one failed to connect */
#define WARM_TOKEN_FAIL_PAUSE 30000000ull /* usec: spares without tokens after a failed one */
#define WARM_FD_HEADROOM      64	  /* descriptors left for real connections */
#define WARM_TICKET_CHECK     5000000ull  /* usec: the ticket asked for while spares exist */

/* --- the count policy (pure, unit-tested) --- */

/* New connections per second, decaying with WARM_RATE_TAU (zeroed: none yet). */
struct warm_rate {
	double per_s;
	uint64_t at; /* usec of the last update */
};

/* A new connection at now. */
void warm_rate_note(struct warm_rate *r, uint64_t now);
/* The rate as of now (decayed since the last connection). */
double warm_rate_at(const struct warm_rate *r, uint64_t now);
/* Spares wanted at now: 0 when off (max 0) or idle (no connection since last_use for idle_usec,
 * or never), else the rate times WARM_HORIZON rounded up, at least 1, at most max. */
unsigned warm_target(const struct warm_rate *r, uint64_t now, uint64_t last_use, uint64_t idle_usec,
		     unsigned max);

/* --- the pool --- */

/* What a token and a connection are for. */
struct warm_key {
	const struct sockaddr_storage *addr;
	socklen_t addrlen;
	const char *proxy_host; /* the SPN's host */
	const char *spn;	/* kerberos.spn, "" derived */
	const char *ccache;	/* the settings' ccache, "" the default */
	unsigned max;		/* proxy.warm_connections */
	unsigned idle_s;	/* proxy.warm_idle_timeout */
};

/* A spare handed out: the taker owns fd (connected, non-blocking, watched by nobody) and the
 * token tok: either made (tok.neg and tok.token), or its job still with the worker (tok.job: the
 * taker sets its done and owner), or none (all NULL); kg_token_slot_release() drops it. */
struct warm_handout {
	int fd;
	uint16_t local_port;
	struct kg_token_slot tok;
};

/* Counters, for the log and tests. */
struct warm_stats {
	uint64_t opened;    /* spare connects started */
	uint64_t handed;    /* handed out */
	uint64_t missed;    /* a connection found no spare */
	uint64_t discarded; /* closed by the proxy, failed to connect, aged */
	uint64_t flushed;   /* closed by warm_flush() or idleness */
};

/* The pool's entry points, through cl->warm (NULL when there is no pool, as in unit tests of
 * upstream.c): upstream.c needs no link to warm.c. */
struct warm_iface {
	/* A connection to key's proxy is about to be made: 1 with a spare in *h, 0 none (connect
	 * normally). Counts the connection towards the rate either way. */
	int (*take)(struct kg_client *cl, const struct warm_key *key, struct warm_handout *h);
	/* A connection to key's proxy (not a spare) connected: the proxy answers, spares to it
	 * may be made (none are made for a proxy before one connection to it succeeded, nor
	 * after a spare failed to connect, until the next success). */
	void (*connected)(struct kg_client *cl, const struct warm_key *key);
	/* Close every spare (why: for the log). */
	void (*flush)(struct kg_client *cl, const char *why);
};

/* Sets cl->warm; the loop must be up. */
void warm_init(struct kg_client *cl);
/* Closes every spare and cancels their tokens; cl->warm is NULL after. Before
 * kg_loop_cleanup(). */
void warm_cleanup(struct kg_client *cl);
/* Closes every spare (why: for the log) and forgets the proxies known to need no token
 * (tokenless.h): a reload, a new ticket or credential cache, a proxy down. */
void warm_flush(struct kg_client *cl, const char *why);
const struct warm_stats *warm_stats(void);
/* Spares held now (connected or still connecting). */
unsigned warm_spares(void);
