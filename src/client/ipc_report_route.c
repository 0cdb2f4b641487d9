/* The route of each connection, reported to the service for `ctl watch` (KG_MSG_CLIENT_ROUTE;
 * see ipc_report.h and, for the service's side, src/service/ipc_server.c).
 *
 * tunnel.c reports when a tunnel opens or fails, forward.c for each port-80 request when its
 * answer starts or it fails. The text is the upstream's entry as the failover sees it now:
 * "via p2:3128 (p1:3128 down)", "DIRECT by PAC", "DIRECT (off-network)" (the client has told
 * the service its user is off the corporate network), "DIRECT (proxy.fallback)", or
 * "failed: every proxy down" / "failed: <the sentence the user got>".
 *
 * A report is one non-blocking send without an answer, made only while the service says a
 * watcher may see it (cl->route_watched, KG_MSG_CLIENT_WATCHED): with nobody watching, a
 * connection costs a flag test, no formatting, no system call and no wake-up of the service
 * (which otherwise sleeps through a user's connections: events come with its timer's drain).
 * While someone watches, the cost is one small send per connection: measured on a loaded
 * 2-CPU machine, 1.5-1.7 us to encode and send a report and 1.4-1.5 us for the service to
 * receive and check it (plus its wake-up), beside a tunnel's proxy connect and Kerberos
 * token (hundreds of us). Always sending would wake the service for every connection of
 * every user, which it otherwise avoids. The IPC socket's send buffer is the bounded queue:
 * what it cannot take now is dropped and counted (cl->routes_dropped), never waited for. The
 * texts are made printable ASCII here (anything else becomes '?', a route too long ends in
 * "..."), and the service checks them again (kg_ipc_route_check).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "client/ipc_report.h"
#include "client/upstream.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/netutil.h"

/* Every proxy of u's route (which has no DIRECT entry) is down now. */
static bool every_proxy_down(const struct kg_client *cl, const struct upstream *u, uint64_t now)
{
	size_t i;

	if (!u->route || u->route->n == 0)
		return false;
	for (i = 0; i < u->route->n && i < KG_ROUTE_MAX; i++)
		if (u->route->e[i].kind == KG_ROUTE_DIRECT ||
		    !kg_failover_is_down(&cl->failover, &u->route->e[i], now))
			return false;
	return true;
}

static const char *direct_label(const struct kg_client *cl, enum ipc_route_source src)
{
	if (cl->route_direct)
		return "DIRECT (off-network)";
	switch (src) {
	case IPC_ROUTE_PAC:
		return "DIRECT by PAC";
	case IPC_ROUTE_PAC_FALLBACK:
		return "DIRECT (PAC failed: proxy.fallback)";
	default:
		return "DIRECT (proxy.fallback)";
	}
}

void ipc_report_route_text(const struct kg_client *cl, const struct upstream *u,
			   enum ipc_route_source src, const char *failure, char *buf, size_t len)
{
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);
	char desc[KG_IPC_ROUTE_MAX + 8];

	if (len == 0)
		return;
	buf[0] = '\0';
	if (failure) {
		if (u && every_proxy_down(cl, u, now))
			snprintf(buf, len, "failed: every proxy down");
		else
			snprintf(buf, len, "failed: %s", failure[0] ? failure : "unknown");
		return;
	}
	if (!u)
		return;
	if (u->route && !u->no_route) {
		const struct kg_route_entry *e = &u->route->e[u->idx];

		/* -ENOSPC leaves a text ending in "...": good enough for a report. */
		(void)kg_failover_describe(&cl->failover, u->route, u->idx, now, desc,
					   sizeof(desc));
		if (e->kind == KG_ROUTE_DIRECT)
			/* "direct (p1:3128 down)": the label, then what is down. */
			snprintf(buf, len, "%s%s", direct_label(cl, src),
				 strncmp(desc, "direct", 6) == 0 ? desc + 6 : "");
		else
			snprintf(buf, len, "%s", desc);
		return;
	}
	if (!u->ops->auth) {
		snprintf(buf, len, "DIRECT"); /* proxy.type none */
		return;
	}
	/* Settings without a route (made by hand): their proxy, as upstream_describe() says. */
	snprintf(buf, len, "via %s", u->c->set->cfg.proxy.url);
}

/* In place: every byte outside [lo, 0x7e] becomes '?'. */
static void printable(char *s, unsigned char lo)
{
	for (; *s; s++)
		if ((unsigned char)*s < lo || (unsigned char)*s > 0x7e)
			*s = '?';
}

void ipc_report_route(struct kg_client *cl, const struct relay_conn *c, const struct upstream *u,
		      enum ipc_route_source src, const char *failure)
{
	struct kg_ipc_route rt;
	char route[KG_IPC_ROUTE_MAX + 64], host[KG_IPC_HOST_MAX], ip[KG_ADDR_STR_MAX];
	int r;

	if (!cl->route_watched || cl->ipc_fd < 0 || !cl->registered)
		return;
	ipc_report_route_text(cl, u, src, failure, route, sizeof(route));
	if (!route[0])
		return;
	if (strlen(route) >= KG_IPC_ROUTE_MAX)
		memcpy(route + KG_IPC_ROUTE_MAX - 4, "...", 4);
	printable(route, 0x20);
	host[0] = '\0';
	kg_format_ip(c->dst_ip, ip, sizeof(ip));
	/* The IP literal is no name: "" (ctl prints "-"). */
	if (u && u->host[0] && strcmp(u->host, ip) != 0) {
		snprintf(host, sizeof(host), "%s", u->host);
		printable(host, 0x21);
	}
	if (kg_ipc_route_encode(&rt, c->dst_ip, c->dst_port, host, route) < 0)
		return;
	r = kg_ipc_send(cl->ipc_fd, KG_MSG_CLIENT_ROUTE, 0, &rt, sizeof(rt), NULL, 0);
	if (r < 0) {
		/* -EAGAIN: the socket is full; anything else: the link's end, seen by its reader.
		 */
		cl->routes_dropped++;
		log_debug("route report dropped (%s): %" PRIu64 " so far", strerror(-r),
			  cl->routes_dropped);
		return;
	}
	cl->routes_reported++;
}
