/* The service's IPC handlers for what a registered client or root asks about a running service:
 * status, the target ports, the counters, a client's own details, and a client's route state
 * (direct or steered). Dispatched by ipc_server.c, which owns the connections.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "service/ipc_server_priv.h"
#include "service/service.h"
#include "service/system_relay.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"
#include "shared/text.h"

static void fill_client_info(const struct kg_conn *c, struct kg_ipc_client_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	ci->uid = c->uid;
	ci->pid = (uint32_t)c->pid;
	ci->port4 = c->port4;
	ci->port6 = c->port6;
	ci->registered_usec = c->registered_usec;
	ci->redirected = c->redirected;
	ci->report = c->report;
	ci->direct = c->direct;
	ci->direct_since_usec = c->direct ? c->direct_since_usec : 0;
	memcpy(ci->direct_reason, c->direct_reason, sizeof(ci->direct_reason));
}

int kg_ipc_handle_status(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	kg_ipc_buf_t buf; /* a payload's worth is used */
	struct kg_ipc_status *st = (void *)buf.bytes;
	struct kg_ipc_client_info *ci = (void *)(st + 1);
	struct kg_conn *o;
	uint32_t n = 0;

	memset(st, 0, sizeof(*st));
	snprintf(st->version, sizeof(st->version), "%s", PACKAGE_VERSION);
	snprintf(st->cgroup_path, sizeof(st->cgroup_path), "%s", svc->cgroup_dir);
	st->started_usec = svc->started_usec;
	st->n_clients_total = svc->n_clients;
	st->n_ports = svc->n_ports;
	for (o = svc->conns; o && n < KG_IPC_MAX_CLIENT_INFOS; o = o->next) {
		unsigned i;

		/* Root sees everyone; a user sees only their own client. */
		if (o->is_client && (c->uid == 0 || o->uid == c->uid))
			fill_client_info(o, &ci[n++]);
		/* The system relay's uids, each a row of its own with the relay's pid, ports,
		 * principal and ticket expiry: who relays root's connections, as whom. */
		for (i = 0; o->is_system && i < o->n_sys && n < KG_IPC_MAX_CLIENT_INFOS; i++) {
			if (!o->sys_served[i] || (c->uid != 0 && o->sys_uids[i] != c->uid))
				continue;
			fill_client_info(o, &ci[n]);
			ci[n].uid = o->sys_uids[i];
			ci[n++].redirected = o->sys_redirected[i];
		}
	}
	st->n_clients = n;
	/* How many other users run a client is root's business only. */
	if (c->uid != 0)
		st->n_clients_total = n;
	return kg_ipc_reply(c, m->hdr.seq, KG_MSG_STATUS, buf.bytes,
			    sizeof(*st) + n * sizeof(struct kg_ipc_client_info));
}

int kg_ipc_send_ports(struct kg_conn *c, uint32_t seq)
{
	struct kg_ipc_ports p = {0};
	unsigned i;

	p.n_ports = (uint16_t)c->svc->n_ports;
	p.allow_dynamic = c->svc->cfg.ebpf.allow_dynamic_ports;
	for (i = 0; i < c->svc->n_ports; i++)
		p.ports[i] = c->svc->ports[i];
	return kg_ipc_reply(c, seq, KG_MSG_PORTS, &p, sizeof(p));
}

int kg_ipc_handle_ports_change(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	const struct kg_ipc_port *p = m->payload;
	uint16_t ports[KG_MAX_TARGET_PORTS];
	unsigned i, n = 0, found = 0;
	bool add = m->hdr.type == KG_MSG_PORTS_ADD;
	char uid[16];
	int r;

	if (c->uid != 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM,
					 "only root may change the target ports");
	if (!svc->cfg.ebpf.allow_dynamic_ports)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM,
					 "run-time port changes are disabled "
					 "(ebpf.allow_dynamic_ports = false)");
	if (p->port == 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EINVAL, "port 0 is not a valid port");
	for (i = 0; i < svc->n_ports; i++) {
		if (svc->ports[i] == p->port) {
			found = 1;
			if (!add)
				continue;
		}
		ports[n++] = svc->ports[i];
	}
	if (add && found)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EEXIST, "port %u is already a target",
					 p->port);
	if (!add && !found)
		return kg_ipc_send_error(c->fd, m->hdr.seq, ENOENT, "port %u is not a target",
					 p->port);
	if (add) {
		if (n >= KG_MAX_TARGET_PORTS)
			return kg_ipc_send_error(c->fd, m->hdr.seq, E2BIG,
						 "at most %d target ports", KG_MAX_TARGET_PORTS);
		ports[n++] = p->port;
	}
	r = kg_service_apply_ports(svc, ports, n);
	if (r < 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot update ports: %s",
					 strerror(-r));
	kg_ipc_fmt_uid(uid, sizeof(uid), c->uid);
	log_fields(LOG_NOTICE, KG_FIELDS({"KG_UID", uid}),
		   "target port %u %s at run time by uid %s", p->port, add ? "added" : "removed",
		   uid);
	return kg_ipc_send_ports(c, m->hdr.seq);
}

int kg_ipc_handle_stats(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	struct kg_ipc_stats st = {0};
	int r;

	/* The counters are the whole machine's: how many connections every user makes. */
	if (c->uid != 0)
		return kg_ipc_send_error(
		    c->fd, m->hdr.seq, EPERM,
		    "the datapath counters are root's: `status` shows your own "
		    "client");
	r = kg_datapath_stats(svc->dp, st.counters);
	if (r < 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot read counters: %s",
					 strerror(-r));
	st.events_total = svc->events_total;
	st.clients_registered_total = svc->clients_registered_total;
	st.ipc_errors = svc->ipc_errors;
	return kg_ipc_reply(c, m->hdr.seq, KG_MSG_STATS, &st, sizeof(st));
}

int kg_ipc_handle_client_info(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	const struct kg_ipc_client_report *report = m->payload;

	if (!c->is_client)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM, "not a registered client");
	/* Root's ctl prints the principal: no escape sequence may ride in it. */
	if (!kg_text_printable(report->principal))
		return kg_ipc_send_error(c->fd, m->hdr.seq, EINVAL,
					 "the principal must be printable text (UTF-8 without "
					 "control characters)");
	memcpy(&c->report, report, sizeof(c->report));
	kg_ipc_tell_watched(c); /* one that found the socket full: again */
	return kg_ipc_reply(c, m->hdr.seq, KG_MSG_OK, NULL, 0);
}

/* The flag in the entries of c's uid, or of every uid the system relay serves now. */
static int set_direct(struct kg_conn *c, bool direct)
{
	unsigned i;
	int r;

	if (!c->is_system)
		return kg_datapath_client_set_direct(c->svc->dp, c->uid, direct);
	for (i = 0; i < c->n_sys; i++) {
		if (!c->sys_served[i])
			continue;
		r = kg_datapath_client_set_direct(c->svc->dp, c->sys_uids[i], direct);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The client's word on where its user's connections go: for the uid of this connection only,
 * and only from the connection that registered it. Saying the state in force again is no
 * change (a client re-sends it after reconnecting); a new reason for "direct" is. */
int kg_ipc_handle_route_state(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	const struct kg_ipc_route_state *rs = m->payload;
	bool direct = rs->direct != 0;
	char uid[16];
	int r;

	if (!c->is_client)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM,
					 "not a registered client: only a user's registered client "
					 "says where the user's connections go");
	/* Root's ctl and the journal print the reason. */
	if (!kg_text_printable(rs->reason))
		return kg_ipc_send_error(c->fd, m->hdr.seq, EINVAL,
					 "the reason must be printable text (UTF-8 without "
					 "control characters)");
	if (direct == c->direct &&
	    (!direct || strncmp(rs->reason, c->direct_reason, sizeof(c->direct_reason)) == 0))
		return kg_ipc_reply(c, m->hdr.seq, KG_MSG_OK, NULL, 0);
	kg_ipc_fmt_uid(uid, sizeof(uid), c->uid);
	if (direct != c->direct) {
		r = set_direct(c, direct);
		if (r < 0) {
			log_error_ratelimited("cannot change the relay entry of uid %s: %s", uid,
					      strerror(-r));
			return kg_ipc_send_error(c->fd, m->hdr.seq, -r,
						 "cannot change the steering of uid %s: %s", uid,
						 strerror(-r));
		}
		c->direct = direct;
		c->direct_since_usec = kg_now_usec(CLOCK_REALTIME);
	}
	snprintf(c->direct_reason, sizeof(c->direct_reason), "%s", direct ? rs->reason : "");
	if (direct)
		log_fields_ratelimited(LOG_NOTICE,
				       KG_FIELDS({"KG_UID", uid}, {"KG_ROUTE", "direct"},
						 {"KG_ROUTE_REASON", c->direct_reason}),
				       "uid %s: client says off the corporate network%s%s%s; "
				       "connections go direct",
				       uid, c->direct_reason[0] ? " (" : "", c->direct_reason,
				       c->direct_reason[0] ? ")" : "");
	else
		log_fields_ratelimited(LOG_NOTICE,
				       KG_FIELDS({"KG_UID", uid}, {"KG_ROUTE", "steered"}),
				       "uid %s: client says back on the corporate network; "
				       "connections are steered again",
				       uid);
	return kg_ipc_reply(c, m->hdr.seq, KG_MSG_OK, NULL, 0);
}
