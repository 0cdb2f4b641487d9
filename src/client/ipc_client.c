/* The client's side of the IPC link: register, take the listeners and the configuration,
 * report the ticket state, and come back after the service restarts.
 *
 * When the service goes away its programs and our process_map entry go with it, so nothing
 * new is steered to us. The listeners are closed at once, together with the connections still
 * queued in their backlog: nothing vouches for those any more (the maps that said which
 * connections were steered are gone, and with connection tracking on, the kernel would answer
 * SO_ORIGINAL_DST for another user's direct connection too; accept.c). An application whose
 * connection was queued sees a reset and connects again. Established tunnels are left alone,
 * and we reconnect with exponential backoff (CLIENT_BACKOFF_MIN_MS .. CLIENT_BACKOFF_MAX_MS).
 * The new service hands us new listeners. While there is no link, the socket's directory is
 * watched (inotify, sock_watch): a service that starts creates its socket afresh, and the
 * attempt the backoff had put off (up to 5 s after a long absence) is made at once, with the
 * backoff back at its minimum. Without the watch (no permission on the directory, the
 * directory gone) the backoff alone paces the attempts, as it does for a service that is there
 * but refuses.
 *
 * Nothing here waits, so a stuck service never stalls the relaying: connecting (non-blocking; a
 * full backlog is tried again later), KG_MSG_REGISTER and its answer with the listeners
 * (SCM_RIGHTS), KG_MSG_CONFIG_GET and its answer are steps (enum ipc_step) that the link's
 * readiness (ipc_client_on_readable/_on_writable) and one deadline move on. The deadline is
 * reconnect_timer, whose expiry main.c hands to ipc_client_on_timer(): an answer that is not
 * there within CLIENT_IPC_TIMEOUT_MS ends the attempt as a timeout did before. Reports are
 * single non-blocking sends. loop_watch() is the only place that tells the loop what to watch.
 *
 * The route state (ipc_client_set_direct: the user is off the corporate network) is a request
 * of its own, KG_MSG_CLIENT_ROUTE_STATE, sent whenever the link is ready and free
 * (route_flush) with the state wanted at the moment it goes out, so changes made while another
 * request is under way coalesce into one.
 *
 * The service says whether a watcher may see this user's route reports (KG_MSG_CLIENT_WATCHED,
 * unsolicited: on_other); the reports themselves are ipc_report.c's, single sends without an
 * answer, outside the request/answer steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "client/auth/authq.h"
#include "client/auth/negotiate.h"
#include "client/ipc_client.h"
#include "client/ipc_sockwatch.h"
#include "client/loop.h"
#include "client/warm.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"
#include "shared/text.h"

/* KG_MSG_CONFIG -> the current settings, if everything is valid. Connections keep the settings
 * of their accept; port-80 connections whose way out changed are closed (forward.c). */
static int apply_config(struct kg_client *cl, const struct kg_ipc_msg *m)
{
	struct client_settings *set;
	char route[KG_ROUTE_MAX * KG_ROUTE_ENTRY_TEXT_MAX] = "";
	bool changed;
	int r;

	r = client_settings_from_msg(m, &set);
	if (r < 0)
		return r;
	changed = !cl->set || !client_settings_same_upstream(cl->set, set);
	/* A list (or a fallback) is shown whole, in failover order. */
	if (changed && set->route.n > 1 &&
	    (set->cfg.proxy.type == KG_PROXY_HTTP || set->cfg.proxy.type == KG_PROXY_HTTPS))
		kg_route_format(&set->route, route, sizeof(route));
	if (changed)
		log_fields(LOG_INFO, KG_FIELDS({"KG_PROXY", set->cfg.proxy.url}),
			   "proxy: %s%s%s%s%s%s%s", kg_proxy_type_to_string(set->cfg.proxy.type),
			   set->cfg.proxy.url[0] ? " " : "", set->cfg.proxy.url,
			   set->cfg.kerberos.spn[0] ? ", service principal " : "",
			   set->cfg.kerberos.spn, route[0] ? "; route: " : "", route);
	client_settings_unref(cl->set);
	cl->set = set;
	if (cl->settings_applied)
		cl->settings_applied(cl, changed);
	return 0;
}

void ipc_client_schedule(struct kg_client *cl, unsigned delay_ms)
{
	(void)kg_loop_timer_arm(&cl->reconnect_timer, kg_loop_now() + delay_ms * 1000ull);
}

/* ---- The loop ------------------------------------------------------------------------------ */

/* The one place that tells the loop what the link waits for. */
static int loop_watch(struct kg_client *cl, bool writable)
{
	kg_loop_del(cl->ipc_fd);
	return kg_loop_add(cl->ipc_fd, &cl->ipc_src, EPOLLIN | (writable ? EPOLLOUT : 0));
}

/* The listeners of a registration that ended, at once, with whatever waits in their backlog:
 * the datapath no longer vouches for those connections (see the head of this file). */
static void close_listeners(struct kg_client *cl)
{
	unsigned i;

	for (i = 0; i < CLIENT_MAX_LISTENERS; i++) {
		struct client_listener *l = &cl->listeners[i];

		if (l->fd < 0)
			continue;
		kg_loop_del(l->fd);
		close(l->fd);
		l->fd = -1;
	}
}

static int add_listener(struct kg_client *cl, int fd)
{
	unsigned i;
	int r;

	for (i = 0; i < CLIENT_MAX_LISTENERS; i++) {
		struct client_listener *l = &cl->listeners[i];

		if (l->fd >= 0)
			continue;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		l->fd = fd;
		r = kg_loop_add(fd, &l->src, EPOLLIN);
		if (r < 0) {
			l->fd = -1;
			return r;
		}
		return 0;
	}
	return -ENOSPC;
}

/* The service's socket appeared (ipc_sockwatch.c): only a scheduled attempt moves forward, to
 * now and from the shortest backoff; none while a link is up or under way, or stopping. */
static void socket_appeared(struct kg_client *cl)
{
	if (cl->ipc_step == IPC_IDLE && cl->ipc_fd < 0 && !cl->ipc_fatal &&
	    kg_loop_timer_armed(&cl->reconnect_timer)) {
		log_debug("%s appeared: connecting now", cl->socket_path);
		cl->backoff_ms = CLIENT_BACKOFF_MIN_MS;
		ipc_client_schedule(cl, 0);
	}
}

/* ---- Steps --------------------------------------------------------------------------------- */

/* The first registration attempt has ended, answered or not (READY=1 waited for it). */
static void attempt_over(struct kg_client *cl)
{
	if (!cl->ready_owed)
		return;
	cl->ready_owed = false;
	sd_notify(0, "READY=1");
	cl->status_dirty = true; /* "Waiting for kernelgatekeeper-service at ..." */
}

static void retry_later(struct kg_client *cl)
{
	ipc_client_close(cl);
	ipc_client_schedule(cl, cl->backoff_ms);
	cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : CLIENT_BACKOFF_MIN_MS;
	if (cl->backoff_ms > CLIENT_BACKOFF_MAX_MS)
		cl->backoff_ms = CLIENT_BACKOFF_MAX_MS;
	ipc_sockwatch_start(cl, socket_appeared);
	attempt_over(cl);
}

/* An error the process cannot recover from: the next tick hands it to main.c, which stops. */
static void fatal(struct kg_client *cl, int r)
{
	ipc_client_close(cl);
	cl->ready_owed = false;
	cl->ipc_fatal = r;
	(void)kg_loop_timer_arm(&cl->reconnect_timer, kg_loop_now());
}

/* Send the request of type (no payload but REGISTER's, which is all zero, and ROUTE_STATE's,
 * the state wanted now) once there is room; its answer is due within CLIENT_IPC_TIMEOUT_MS.
 * 0 or -errno. */
static int flush_request(struct kg_client *cl)
{
	struct kg_ipc_register reg = {.caps = KG_IPC_CAP_ROUTES,
				      .flags = cl->system ? KG_IPC_REGISTER_SYSTEM : 0};
	struct kg_ipc_route_state rs = {0};
	const void *payload = NULL;
	size_t len = 0;
	int r;

	if (cl->ipc_req_type == KG_MSG_REGISTER) {
		payload = &reg;
		len = sizeof(reg);
	} else if (cl->ipc_req_type == KG_MSG_CLIENT_ROUTE_STATE) {
		rs.direct = cl->route_direct;
		memcpy(rs.reason, cl->route_reason, sizeof(rs.reason));
		payload = &rs;
		len = sizeof(rs);
	}
	r = kg_ipc_send(cl->ipc_fd, cl->ipc_req_type, cl->ipc_req_seq, payload, len, NULL, 0);
	if (r == 0 && cl->ipc_req_type == KG_MSG_CLIENT_ROUTE_STATE)
		cl->route_dirty = false; /* what changes from now on goes in the next one */
	if (r == -EAGAIN || r == -EINTR) {
		if (!cl->ipc_req_unsent && (r = loop_watch(cl, true)) < 0)
			return r;
		cl->ipc_req_unsent = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (cl->ipc_req_unsent) {
		cl->ipc_req_unsent = false;
		return loop_watch(cl, false);
	}
	return 0;
}

static int send_request(struct kg_client *cl, uint16_t type)
{
	static uint32_t next_seq = 1;

	cl->ipc_req_type = type;
	cl->ipc_req_seq = next_seq++;
	if (next_seq == 0)
		next_seq = 1;
	(void)kg_loop_timer_arm(&cl->reconnect_timer,
				kg_loop_now() + CLIENT_IPC_TIMEOUT_MS * 1000ull);
	return flush_request(cl);
}

static void request_done(struct kg_client *cl)
{
	if (cl->ipc_req_unsent)
		loop_watch(cl, false);
	cl->ipc_req_type = 0;
	cl->ipc_req_unsent = false;
	kg_loop_timer_cancel(&cl->reconnect_timer);
}

/* A refresh (SIGHUP) has its answer, r its outcome: main.c's reload_done ends the reload. */
static void refresh_over(struct kg_client *cl, int r)
{
	if (!cl->refreshing)
		return;
	cl->refreshing = false;
	if (cl->reload_done)
		cl->reload_done(cl, r);
}

/* Registration failed with r (the reason logged already when the service gave one). */
static void register_failed(struct kg_client *cl, int r, const char *why)
{
	if (why)
		log_error("cannot register with the service: %s", why);
	if (r == -EPERM)
		fatal(cl, r);
	else
		retry_later(cl);
}

/* Once the link is registered and free: a reload's fetch that waited for the route request,
 * else the route state wanted if the service has not heard it. A failure to send is the
 * link's end (link_lost), as for any request. */
static void link_lost(struct kg_client *cl, int r);

static void route_flush(struct kg_client *cl)
{
	uint16_t type;
	int r;

	if (cl->ipc_fd < 0 || cl->ipc_step != IPC_READY || cl->ipc_req_type)
		return;
	if (cl->refresh_queued) {
		cl->refresh_queued = false;
		type = KG_MSG_CONFIG_GET;
	} else if (cl->route_dirty) {
		cl->route_told = false;
		type = KG_MSG_CLIENT_ROUTE_STATE;
	} else {
		return;
	}
	r = send_request(cl, type);
	if (r < 0) {
		request_done(cl);
		link_lost(cl, r);
	}
}

/* The service's answer to KG_MSG_CLIENT_ROUTE_STATE (r: 0 or -errno, e its refusal). */
static void route_answered(struct kg_client *cl, int r, const struct kg_ipc_msg *m)
{
	const struct kg_ipc_error *e = m->payload;

	if (r == 0 && m->hdr.type != KG_MSG_OK)
		r = -EBADMSG;
	if (r == 0) {
		cl->route_told = !cl->route_dirty;
		if (cl->route_told)
			log_fields(LOG_INFO, KG_FIELDS({"KG_UID", cl->uid_str}),
				   cl->route_direct ? "the service no longer steers this user's "
						      "connections: they go direct"
						    : "the service steers this user's connections "
						      "again");
	} else if (m->hdr.type == KG_MSG_ERROR && m->len >= sizeof(*e)) {
		log_warn("the service refused to %s this user's connections: %.*s",
			 cl->route_direct ? "stop steering" : "steer", (int)sizeof(e->message),
			 e->message);
	} else {
		log_warn("cannot tell the service whether to steer this user's connections: %s",
			 strerror(-r));
	}
	cl->status_dirty = true;
}

static bool said_waiting;

int ipc_client_start(struct kg_client *cl, int fd)
{
	int r;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	cl->ipc_fd = fd;
	cl->ipc_step = IPC_REGISTERING;
	r = kg_loop_add(fd, &cl->ipc_src, EPOLLIN);
	if (r == 0)
		r = send_request(cl, KG_MSG_REGISTER);
	if (r < 0) {
		register_failed(cl, r, strerror(-r));
		return -EAGAIN;
	}
	if (!cl->ready_sent) {
		/* main.c sends READY=1 after this first attempt; it ends later. */
		cl->ready_sent = true;
		cl->ready_owed = true;
	}
	return -EINPROGRESS;
}

/* Non-blocking: a service that accepts no more (a full backlog) is tried again later rather
 * than waited for. */
static int connect_service(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int start_connect(struct kg_client *cl)
{
	int r;

	kg_loop_timer_cancel(&cl->reconnect_timer);
	r = connect_service(cl->socket_path);
	if (r < 0) {
		if (!said_waiting)
			log_notice("waiting for kernelgatekeeper-service at %s (%s)",
				   cl->socket_path, strerror(-r));
		said_waiting = true;
		retry_later(cl);
		return r;
	}
	return ipc_client_start(cl, r);
}

static void registered(struct kg_client *cl)
{
	cl->ipc_step = IPC_READY;
	cl->registered = true;
	cl->backoff_ms = 0;
	ipc_sockwatch_stop();
	said_waiting = false;
	log_fields(LOG_INFO, KG_FIELDS({"KG_UID", cl->uid_str}),
		   "registered with kernelgatekeeper-service: relay on 127.0.0.1:%u%s%.0u",
		   cl->reg_port4, cl->reg_port6 ? " and [::1]:" : "", cl->reg_port6);
	cl->ready_owed = false;
	sd_notify(0, "READY=1");
	cl->ready_sent = true;
	cl->status_dirty = true;
	(void)kg_loop_timer_arm(&cl->info_timer, 0); /* report the ticket right away */
	/* A new registration starts out steered: a service that restarted learns "direct" again. */
	cl->route_told = !cl->route_direct;
	cl->route_dirty = cl->route_direct;
	route_flush(cl);
}

/* The configuration asked for while registering came (r: its outcome). */
static void configured(struct kg_client *cl, int r)
{
	if (r < 0) {
		if (!cl->set) {
			/* Nothing to run with: a configuration error that waiting cannot fix. */
			if (r == -EOPNOTSUPP || r == -EINVAL) {
				fatal(cl, -EINVAL);
				return;
			}
			/* A link that failed mid-call: register again rather than run on no
			 * settings. */
			log_warn("cannot get the configuration from the service (%s): retrying",
				 strerror(-r));
			retry_later(cl);
			return;
		}
		log_warn("keeping the previous proxy settings");
	}
	registered(cl);
}

/* KG_MSG_REGISTERED (or not) with the listeners in fds. */
static void on_register_answer(struct kg_client *cl, int r, const struct kg_ipc_msg *m, int *fds,
			       size_t n_fds)
{
	const struct kg_ipc_registered *reg = m->payload;
	const struct kg_ipc_error *e = m->payload;
	size_t i;

	if (r < 0 || m->hdr.type != KG_MSG_REGISTERED || n_fds == 0 || m->len < sizeof(*reg)) {
		for (i = 0; i < n_fds; i++)
			close(fds[i]);
		if (m->hdr.type == KG_MSG_ERROR && m->len >= sizeof(*e)) {
			log_error("the service refused to register this client: %.*s",
				  (int)sizeof(e->message), e->message);
			register_failed(cl, -(int)e->error, NULL);
		} else {
			register_failed(cl, r < 0 ? r : -EBADMSG,
					r < 0 ? strerror(-r) : "unexpected answer");
		}
		return;
	}
	cl->reg_port4 = reg->port4;
	cl->reg_port6 = reg->port6;
	close_listeners(cl); /* a previous registration's, if its end went unnoticed */
	for (i = 0; i < n_fds; i++) {
		if (add_listener(cl, fds[i]) < 0) {
			log_error("cannot watch a relay listener");
			close(fds[i]);
		}
	}
	cl->ipc_step = IPC_CONFIGURING;
	r = send_request(cl, KG_MSG_CONFIG_GET);
	if (r < 0)
		configured(cl, r);
}

/* The answer to the pending request. */
static void on_answer(struct kg_client *cl, const struct kg_ipc_msg *m, int *fds, size_t n_fds)
{
	uint16_t type = cl->ipc_req_type;
	size_t i;
	int r = 0;

	request_done(cl);
	if (m->hdr.type == KG_MSG_ERROR) {
		const struct kg_ipc_error *e = m->payload;

		r = m->len >= sizeof(*e) ? -(int)e->error : -EBADMSG;
	}
	if (type == KG_MSG_REGISTER) {
		on_register_answer(cl, r, m, fds, n_fds);
		return;
	}
	for (i = 0; i < n_fds; i++)
		close(fds[i]);
	if (type == KG_MSG_CLIENT_ROUTE_STATE) {
		route_answered(cl, r, m);
	} else {
		if (r == 0)
			r = m->hdr.type == KG_MSG_CONFIG ? apply_config(cl, m) : -EBADMSG;
		if (cl->ipc_step == IPC_CONFIGURING)
			configured(cl, r);
		else
			refresh_over(cl, r);
	}
	route_flush(cl); /* a change made while the request was under way */
}

/* A message that answers nothing: an event, a notice, a late answer. */
static void on_other(struct kg_client *cl, const struct kg_ipc_msg *m, int *fds, size_t n_fds)
{
	size_t i;

	for (i = 0; i < n_fds; i++)
		close(fds[i]);
	if (m->hdr.type == KG_MSG_NOTIFY_ACCEPT && m->len >= sizeof(struct kg_event) &&
	    kg_log_get_level() >= LOG_DEBUG) {
		const struct kg_event *ev = m->payload;
		char dest[KG_ADDR_STR_MAX];

		kg_format_ip_port(ev->dst.ip, ev->dst.port, dest, sizeof(dest));
		log_debug("steered: %.16s[%u] -> %s", ev->dst.comm, ev->dst.pid, dest);
	} else if (m->hdr.type == KG_MSG_CLIENT_WATCHED) {
		const struct kg_ipc_watched *w = m->payload;

		cl->route_watched = w->watched != 0; /* route reports: ipc_report.c */
	} else if (m->hdr.type == KG_MSG_ERROR && m->len >= sizeof(struct kg_ipc_error)) {
		const struct kg_ipc_error *e = m->payload;

		log_warn("the service says: %.*s", (int)sizeof(e->message), e->message);
	}
}

/* The link failed with r (closed, a malformed message, a failed send). */
static void link_lost(struct kg_client *cl, int r)
{
	if (cl->ipc_step == IPC_REGISTERING) {
		register_failed(cl, r, strerror(-r));
		return;
	}
	if (cl->ipc_step == IPC_CONFIGURING && !cl->set) {
		configured(cl, r); /* "cannot get the configuration": retrying */
		return;
	}
	refresh_over(cl, r);
	log_warn("kernelgatekeeper-service went away (%s): established tunnels continue, new "
		 "connections are not steered until it is back; reconnecting",
		 strerror(-r));
	cl->backoff_ms = CLIENT_BACKOFF_MIN_MS;
	retry_later(cl);
}

int ipc_client_on_timer(struct kg_client *cl)
{
	int r;

	if (cl->ipc_fatal) {
		r = cl->ipc_fatal;
		cl->ipc_fatal = 0;
		kg_loop_timer_cancel(&cl->reconnect_timer);
		return r;
	}
	switch (cl->ipc_step) {
	case IPC_IDLE:
		return start_connect(cl);
	case IPC_REGISTERING:
		request_done(cl);
		register_failed(cl, -ETIMEDOUT, strerror(ETIMEDOUT));
		break;
	case IPC_CONFIGURING:
		request_done(cl);
		configured(cl, -ETIMEDOUT);
		break;
	case IPC_READY:
		if (!cl->ipc_req_type)
			break;
		if (cl->ipc_req_type == KG_MSG_CLIENT_ROUTE_STATE) {
			/* Unanswered: said again, CLIENT_IPC_TIMEOUT_MS from now at the soonest. */
			log_warn("the service did not answer whether to steer this user's "
				 "connections: asking again");
			cl->route_dirty = true;
		} else {
			refresh_over(cl, -ETIMEDOUT);
		}
		request_done(cl);
		route_flush(cl);
		break;
	}
	if (cl->ipc_fatal)
		return ipc_client_on_timer(cl);
	return cl->ipc_step == IPC_READY ? 0 : -EAGAIN;
}

int ipc_client_connect(struct kg_client *cl)
{
	return ipc_client_on_timer(cl);
}

int ipc_client_refresh(struct kg_client *cl)
{
	int r;

	if (cl->ipc_fd < 0 || cl->ipc_step != IPC_READY)
		return -ENOTCONN;
	if (cl->ipc_req_type == KG_MSG_CLIENT_ROUTE_STATE) {
		/* Asked for as soon as the route request has its answer (route_flush). */
		cl->refresh_queued = true;
		cl->refreshing = true;
		return 0;
	}
	if (cl->ipc_req_type)
		return 0; /* the answer on its way is as fresh */
	r = send_request(cl, KG_MSG_CONFIG_GET);
	if (r < 0) {
		request_done(cl);
		return r;
	}
	cl->refreshing = true;
	return 0;
}

int ipc_client_set_direct(struct kg_client *cl, bool direct, const char *reason)
{
	if (!reason || !direct)
		reason = "";
	if (strlen(reason) >= sizeof(cl->route_reason) || !kg_text_printable(reason))
		return -EINVAL;
	if (direct == cl->route_direct && strcmp(reason, cl->route_reason) == 0)
		return 0;
	if (direct != cl->route_direct) {
		cl->route_since = time(NULL);
		log_fields(
		    LOG_NOTICE,
		    KG_FIELDS({"KG_UID", cl->uid_str}, {"KG_ROUTE", direct ? "direct" : "steered"}),
		    direct ? "off the corporate network%s%s%s: asking the service to stop "
			     "steering this user's connections"
			   : "back on the corporate network%s%s%s: asking the service to steer "
			     "this user's connections again",
		    reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
	}
	cl->route_direct = direct;
	if (direct && cl->warm) /* the user goes direct: no spare connection to a proxy */
		cl->warm->flush(cl, "off the corporate network");
	snprintf(cl->route_reason, sizeof(cl->route_reason), "%s", reason);
	cl->route_dirty = true;
	cl->route_told = false;
	cl->status_dirty = true;
	route_flush(cl);
	return 0;
}

void ipc_client_close(struct kg_client *cl)
{
	cl->refresh_queued = false;
	refresh_over(cl, -ENOTCONN);
	close_listeners(cl);
	cl->ipc_step = IPC_IDLE;
	cl->ipc_req_type = 0;
	cl->ipc_req_unsent = false;
	cl->route_watched = false; /* a new link is told again */
	if (cl->ipc_fd < 0)
		return;
	kg_loop_del(cl->ipc_fd);
	close(cl->ipc_fd);
	cl->ipc_fd = -1;
	cl->registered = false;
	cl->status_dirty = true;
}

void ipc_client_on_writable(struct kg_client *cl)
{
	int r;

	if (cl->ipc_fd < 0 || !cl->ipc_req_unsent)
		return;
	r = flush_request(cl);
	if (r < 0)
		link_lost(cl, r);
}

void ipc_client_on_readable(struct kg_client *cl)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int fds[CLIENT_MAX_LISTENERS], i, r = 0;
	size_t n_fds;

	ipc_client_on_writable(cl);
	for (i = 0; i < 64 && cl->ipc_fd >= 0; i++) {
		n_fds = 0;
		r = kg_ipc_recv(cl->ipc_fd, buf.bytes, sizeof(buf.bytes), &m, fds, ARRAY_SIZE(fds),
				&n_fds);
		if (r == -EAGAIN || r == -EINTR)
			return;
		if (r < 0)
			break;
		if (cl->ipc_req_type && !cl->ipc_req_unsent && m.hdr.seq == cl->ipc_req_seq)
			on_answer(cl, &m, fds, n_fds);
		else
			on_other(cl, &m, fds, n_fds);
	}
	if (r == 0 || cl->ipc_fd < 0)
		return;
	link_lost(cl, r);
}
