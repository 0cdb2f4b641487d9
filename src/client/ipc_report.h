/* The client's reports to the service over the IPC link (ipc_report.c). */
#pragma once

#include <stddef.h>

struct kg_client;
struct relay_conn;
struct upstream;

/* Where a connection's route came from, for the text of a DIRECT one. */
enum ipc_route_source {
	IPC_ROUTE_SETTINGS,	/* proxy.url (with proxy.fallback), or proxy.type none */
	IPC_ROUTE_PAC,		/* FindProxyForURL's answer (DIRECT when no PAC is in use) */
	IPC_ROUTE_PAC_FALLBACK, /* the PAC failed for it: proxy.fallback "direct" */
};

/* The ticket report for the service (and the expiry warning): the ticket is looked at on the
 * Kerberos worker, whose answer comes back to ipc_report.c, which sends the report. */
void ipc_client_request_info(struct kg_client *cl);
/* Report the route connection c took to the service, for `ctl watch` (KG_MSG_CLIENT_ROUTE):
 * u's entry ("via p2:3128 (p1:3128 down)", "DIRECT by PAC", "DIRECT (off-network)"), or, with
 * failure, "failed: every proxy down" / "failed: <failure>". u may be NULL (a failure before
 * any way out). Only while the service says someone watches; never waits: a report the IPC
 * socket cannot take now is dropped and counted (cl->routes_dropped). */
void ipc_report_route(struct kg_client *cl, const struct relay_conn *c, const struct upstream *u,
		      enum ipc_route_source src, const char *failure);
/* The text ipc_report_route() would send, into buf (at most KG_IPC_ROUTE_MAX with its NUL is
 * sent). */
void ipc_report_route_text(const struct kg_client *cl, const struct upstream *u,
			   enum ipc_route_source src, const char *failure, char *buf, size_t len);
