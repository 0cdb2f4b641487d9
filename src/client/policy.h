/* The client's proxy policy under proxy.type "wpad" (issue 13): where the PAC comes from, when
 * it is fetched again, the evaluator that answers for each connection, and whether the user is
 * off the corporate network.
 *
 * The PAC is proxy.wpad_url, or, when that is "", what WPAD discovery finds (DHCP option 252,
 * then http://wpad.<domain>/wpad.dat up the search domains: route/wpad.h), fetched off the loop
 * with libcurl (route/pac_fetch.h) and loaded into the sandboxed evaluator (route/pac_engine.h).
 * A PAC that loaded is fetched again every 12 h; when none was found, or the fetch failed, or
 * the PAC was refused, the connections go DIRECT (the browsers' rule) and the fetch is retried
 * after 8 s, 32 s, 2 min, then every 4 h. A network change (route/netwatch.h: addresses and
 * routes) fetches at once and forgets the cached DNS answers.
 *
 * Off the corporate network: when no PAC is found, the client tells the service to stop
 * steering its user (ipc_client_set_direct), so connections go direct in the kernel at no relay
 * cost; once a PAC loads again, steering resumes. So too when the PAC answers DIRECT for
 * everything (a corporate PAC's `if (!isInNet(myIpAddress(), ...)) return "DIRECT";` at
 * home): after each load (so on every network change, which fetches the PAC again) and every
 * minute, the PAC is evaluated, one request at a time and never with traffic, for the last
 * POLICY_PAC_PROBE_HOSTS distinct hosts it sent to a proxy (as their connections asked: URL,
 * and the destination myIpAddress() answers for) and for a canary, https://www.example.com/
 * (myIpAddress(): the source towards the default route). Every answer DIRECT: the user goes
 * direct ("direct: the PAC sends everything DIRECT since 18:02"); the first answer naming a
 * proxy, or an evaluation that fails, keeps or brings steering back. The DNS the PAC asks for
 * goes through the engine's cache, and its alert()s during a probe are not logged. The
 * connections that still reach the relay meanwhile (already open, or on their way) follow
 * the PAC as before. The same holds for proxy.type http with
 * proxy.fallback "direct": when every proxy of proxy.url has failed to connect (failover.h marks
 * them down), the user goes direct; every minute and on a network change the client tries to
 * connect to them again, and the first one that answers brings steering back.
 *
 * Connections ask policy_find() for their route while a PAC is in use; until the first fetch
 * ends they wait (at most proxy.pac_timeout, the fetch's own bound).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/route/pac_engine.h"
#include "client/route/route.h"

struct kg_client;
struct client_policy;
struct policy_job;

#define POLICY_PROBE_INTERVAL_S	 60  /* off the network: try the proxies again this often */
#define POLICY_PAC_PROBE_HOSTS	 8   /* recent hosts asked about again (all DIRECT?) */
#define POLICY_PAC_PROBE_URL_MAX 512 /* a longer URL is not kept for the probe */
#define POLICY_PAC_CANARY_URL	 "https://www.example.com/"
#define POLICY_PAC_CANARY_HOST	 "www.example.com"
#define POLICY_PAC_ALL_DIRECT	 "the PAC sends everything DIRECT" /* the reason shown */
#define POLICY_STATE_MAX	 160				   /* policy_describe()'s text */

/* A connection's route, or why there is none: status 0 with route (valid during the call only;
 * why, when not "", is a note for the journal: "PAC answered nothing usable: DIRECT"), or
 * -errno with why (the PAC failed; the caller follows proxy.fallback). */
typedef void policy_done_fn(void *ud, int status, const struct kg_route *route, const char *why);

/* The settings changed (or arrived): start, restart or stop the machinery to match
 * cl->set (nothing runs unless proxy.type is wpad or proxy.fallback is direct). 0 or -errno
 * (logged; the client goes on with what it has). */
int policy_apply(struct kg_client *cl);
/* Stop everything (exit): pending jobs are dropped without their callbacks. */
void policy_stop(struct kg_client *cl);

/* Whether connections under the current settings ask policy_find() for their route. */
bool policy_uses_pac(const struct kg_client *cl);

/* The route of a connection to dst (v4-mapped IPv6, as relay_conn.dst_ip) : port, for url and
 * host (see pac_engine_query). 1: answered at once into *route (no PAC in use: DIRECT), *job
 * untouched; 0: done() will be called from the loop later, *job is the handle for
 * policy_cancel(); -errno (-ENOMEM). */
int policy_find(struct kg_client *cl, const char *url, const char *host, const uint8_t dst_ip[16],
		uint16_t dst_port, struct kg_route *route, policy_done_fn *done, void *ud,
		struct policy_job **job);
/* The route the PAC gave last (most answers are the same): a tunnel starts making its token
 * for it while it waits for the name and the PAC. NULL when there is none. */
const struct kg_route *policy_last_route(const struct kg_client *cl);
/* The connection closed before its answer: done() is not called. */
void policy_cancel(struct kg_client *cl, struct policy_job *job);

/* A proxy of the settings' route failed to connect (failover marked it down) or connected:
 * lets the policy see "no proxy reachable" at once. */
void policy_proxy_result(struct kg_client *cl, bool connected);

/* One line for STATUS= and the journal: "PAC http://wpad.corp.test/wpad.dat",
 * "fetching the PAC", "direct: no PAC found since 18:02", "no PAC: DIRECT", "" when no policy
 * runs or, under proxy.type http, while the proxies answer. */
void policy_describe(const struct kg_client *cl, char *buf, size_t len);
