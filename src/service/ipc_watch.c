/* The service's IPC server, its watch side (see ipc_server.c for the rest).
 *
 * Route reports (issue 13, `ctl watch`): a registered client says which route each of its
 * user's connections took (KG_MSG_CLIENT_ROUTE). The service passes a report on, as
 * KG_MSG_ROUTE with the uid of the client's connection (SO_PEERCRED; the payload names none),
 * to the watchers that may see that uid's events: root's, and the uid's own. A report from a
 * connection that is not a registered client is refused. At most KG_ROUTE_REPORTS_PER_SEC per
 * client are passed on; the rest, and whatever a watcher's full socket cannot take, are
 * dropped and counted. So that a client spends nothing on reports nobody reads, the service
 * tells each client whether such a watcher exists (KG_MSG_CLIENT_WATCHED, on every change);
 * the client reports only while it does. Only clients that registered with KG_IPC_CAP_ROUTES
 * are told: an older one would take the message for a malformed one and reconnect.
 *
 * A watch (KG_MSG_WATCH) subscribes a connection to the datapath's events under the same
 * rule: root sees every uid, a user only their own, one watch per user.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "service/ipc_server_priv.h"
#include "service/service.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"

/* Whether a watcher that may see uid's events exists (root's, or the uid's own). */
static bool uid_watched(const struct kg_service *svc, uid_t uid)
{
	const struct kg_conn *w;

	for (w = svc->conns; w; w = w->next)
		if (w->watcher && (w->uid == 0 || w->uid == uid))
			return true;
	return false;
}

/* Tell client c whether a watcher may see its reports, if that changed. A full socket: said
 * again at the next change or the client's next report. */
void kg_ipc_tell_watched(struct kg_conn *c)
{
	struct kg_ipc_watched w = {0};

	/* An older client would take the message for a malformed one. */
	if (!c->is_client || !c->routes)
		return;
	w.watched = uid_watched(c->svc, c->uid);
	if ((bool)w.watched != c->told_watched &&
	    kg_ipc_send(c->fd, KG_MSG_CLIENT_WATCHED, 0, &w, sizeof(w), NULL, 0) == 0)
		c->told_watched = w.watched;
}

void kg_ipc_server_update_watched(struct kg_service *svc)
{
	struct kg_conn *c;

	for (c = svc->conns; c; c = c->next)
		kg_ipc_tell_watched(c);
}

/* KG_MSG_CLIENT_ROUTE: fire and forget, no answer to a registered client. */
int kg_ipc_handle_client_route(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	struct kg_ipc_route rt;
	uint64_t suppressed = 0;
	struct kg_conn *w;

	if (!c->is_client)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM,
					 "not a registered client: only a user's registered client "
					 "reports the routes of the user's connections");
	if (!kg_ratelimit_pass(&c->route_rl, kg_now_usec(CLOCK_MONOTONIC), &suppressed)) {
		svc->routes_dropped++;
		return 0;
	}
	if (suppressed)
		log_info_ratelimited("uid %u: %" PRIu64 " route reports dropped (more than %d/s)",
				     (unsigned)c->uid, suppressed, KG_ROUTE_REPORTS_PER_SEC);
	memcpy(&rt, m->payload, sizeof(rt));
	rt.uid = c->uid; /* the kernel's word, never the payload's */
	svc->routes_total++;
	for (w = svc->conns; w; w = w->next)
		if (w->watcher && (w->uid == 0 || w->uid == c->uid) &&
		    kg_ipc_send(w->fd, KG_MSG_ROUTE, 0, &rt, sizeof(rt), NULL, 0) < 0)
			svc->routes_dropped++;
	/* A KG_MSG_CLIENT_WATCHED that found the socket full goes out now. */
	kg_ipc_tell_watched(c);
	return 0;
}

static bool uid_watches(struct kg_service *svc, uid_t uid)
{
	const struct kg_conn *c;

	for (c = svc->conns; c; c = c->next)
		if (c->watcher && c->uid == uid)
			return true;
	return false;
}

/* Subscribe this connection to events. Root's watch makes the datapath wake the service for
 * every event and gets a send buffer for a whole ring; a user's watch costs the service
 * neither (its events come with the timer's drain, up to a second late, and a burst beyond the
 * default buffer is dropped for it), and a uid has one at a time. */
int kg_ipc_handle_watch(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	int r;

	if (c->uid != 0 && !c->watcher && uid_watches(c->svc, c->uid))
		return kg_ipc_send_error(c->fd, m->hdr.seq, EBUSY,
					 "uid %u is already watching (one watch per user)",
					 (unsigned)c->uid);
	r = kg_ipc_reply(c, m->hdr.seq, KG_MSG_OK, NULL, 0);
	if (r == 0 && !c->watcher) {
		if (c->uid == 0)
			kg_ipc_widen_sndbuf(c);
		/* Events from before the subscription are not this watcher's. */
		kg_datapath_consume(c->svc->dp);
		c->watcher = true;
		kg_service_events_changed(c->svc);
	}
	return r;
}
