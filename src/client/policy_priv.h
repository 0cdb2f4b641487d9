/* The proxy policy's private state (policy.h is the interface): struct client_policy and its
 * jobs, shared by policy.c (the PAC's fetch, WPAD, the evaluator, the jobs and the life of the
 * policy) and policy_offnet.c (the off-network state and its probes). Not for other modules.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "client/policy.h"
#include "client/route/netwatch.h"
#include "client/route/pac_engine.h"
#include "client/route/pac_fetch.h"
#include "client/route/resolve_async.h"
#include "client/route/route.h"
#include "client/route/wpad.h"

enum pac_state {
	PAC_FIRST,  /* the first fetch since start or a network change has not ended */
	PAC_LOADED, /* a PAC answers */
	PAC_NONE,   /* none found, the fetch failed or the PAC was refused: DIRECT */
};

struct policy_job {
	struct policy_job *prev, *next; /* p->waiting, while waiting for the first fetch */
	struct client_policy *p;
	struct pac_job *pj; /* in the engine, NULL while waiting */
	policy_done_fn *done;
	void *ud;
	char *url, *host;
	uint8_t dst_ip[16];
	uint16_t dst_port;
};

/* A host the PAC recently sent to a proxy: probed again for "the PAC sends everything
 * DIRECT", as its connection asked (url, and the destination myIpAddress() answers for). */
struct pac_probe_host {
	char host[KG_HOST_MAX];
	char url[POLICY_PAC_PROBE_URL_MAX];
	uint8_t dst_ip[16];
	uint16_t dst_port;
};

struct client_policy {
	struct kg_client *cl;
	bool pac;	       /* proxy.type wpad */
	bool probe_proxies;    /* proxy.type http with fallback direct */
	struct kg_route route; /* the settings' route the probe walks (probe_proxies) */
	char wpad_url[KG_URL_MAX];
	unsigned pac_timeout;

	struct pac_engine *engine;
	struct kg_loop_source engine_src;
	int engine_fd;
	struct kg_pac_fetch *fetch;
	struct kg_loop_source fetch_src;
	int fetch_fd;
	struct kg_netwatch *netwatch;
	struct kg_loop_timer fetch_timer; /* the next fetch */
	unsigned failures;		  /* fetches in a row that found no PAC */
	enum pac_state state;
	bool loading;		       /* a fetched PAC is with the evaluator */
	char pac_url[KG_WPAD_URL_MAX]; /* the PAC in use, or the one last tried */
	char why_none[KG_PAC_FETCH_MSG_MAX];
	struct policy_job *waiting;
	struct kg_route last; /* the PAC's last answer (policy_last_route), n 0: none */

	/* Off the corporate network: the service was asked not to steer this user. */
	bool direct;
	time_t direct_since;
	char direct_reason[64];

	/* "The PAC sends everything DIRECT" (pac): the hosts it recently sent to a proxy (a ring
	 * of distinct hosts), the round under way (one evaluation at a time: recent[0..n_recent),
	 * then the canary), and whether the user is direct because of it. */
	struct pac_probe_host recent[POLICY_PAC_PROBE_HOSTS];
	size_t n_recent, recent_next;
	struct kg_loop_timer pac_probe_timer;
	struct pac_job *pac_probe_job; /* in the engine */
	size_t pac_probe_index;
	bool pac_probe_failed; /* an evaluation of this round failed */
	bool pac_all_direct;

	/* Probing the proxies of proxy.url while direct (probe_proxies). */
	struct kg_loop_timer probe_timer;
	struct kg_loop_source probe_src;
	int probe_fd;
	size_t probe_index; /* the route entry being tried */
	/* A round's names, resolved off the loop before its connects (resolve_async.h). */
	struct kg_resolve *probe_dns;
	struct kg_loop_source probe_dns_src;
	int probe_dns_fd;
	struct kg_resolve_name probe_addr[KG_ROUTE_MAX]; /* entry i's address, len 0: none */
};

/* Whether r names a proxy (not DIRECT only). */
static inline bool policy_route_has_proxy(const struct kg_route *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].kind != KG_ROUTE_DIRECT)
			return true;
	return false;
}

/* A connection's destination (v4-mapped IPv6) as the PAC engine takes it. */
static inline struct kg_pac_addr policy_pac_addr(const uint8_t ip[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct kg_pac_addr a;

	memset(&a, 0, sizeof(a));
	if (memcmp(ip, mapped, sizeof(mapped)) == 0) {
		a.family = 4;
		memcpy(a.bytes, ip + 12, 4);
	} else {
		a.family = 6;
		memcpy(a.bytes, ip, 16);
	}
	return a;
}
