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
 * The new service hands us new listeners.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "client/auth/authq.h"
#include "client/auth/negotiate.h"
#include "client/forward.h"
#include "client/ipc_client.h"
#include "client/loop.h"
#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/netutil.h"

/* KG_MSG_CONFIG -> the current settings, if everything is valid. Connections keep the settings
 * of their accept; port-80 connections whose way out changed are closed (forward.c). */
static int apply_config(struct kg_client *cl, const struct kg_ipc_msg *m)
{
	struct client_settings *set;
	bool changed;
	int r;

	r = client_settings_from_msg(m, &set);
	if (r < 0)
		return r;
	changed = !cl->set || !client_settings_same_upstream(cl->set, set);
	if (changed)
		log_fields(LOG_INFO, KG_FIELDS({"KG_PROXY", set->proxy_url}), "proxy: %s%s%s%s%s",
			   kg_proxy_type_to_string(set->proxy_type), set->proxy_url[0] ? " " : "",
			   set->proxy_url, set->spn[0] ? ", service principal " : "", set->spn);
	client_settings_unref(cl->set);
	cl->set = set;
	if (changed)
		forward_retire_stale(cl);
	return 0;
}

static int fetch_config(struct kg_client *cl)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int r;

	r = kg_ipc_call(cl->ipc_fd, KG_MSG_CONFIG_GET, NULL, 0, buf.bytes, sizeof(buf.bytes), &m,
			NULL, 0, NULL, CLIENT_IPC_TIMEOUT_MS);
	if (r < 0)
		return r;
	if (m.hdr.type != KG_MSG_CONFIG)
		return -EBADMSG;
	return apply_config(cl, &m);
}

int ipc_client_refresh(struct kg_client *cl)
{
	if (cl->ipc_fd < 0)
		return -ENOTCONN;
	return fetch_config(cl);
}

void ipc_client_schedule(struct kg_client *cl, unsigned delay_ms)
{
	(void)kg_loop_timer_arm(&cl->reconnect_timer, kg_loop_now() + delay_ms * 1000ull);
}

static void retry_later(struct kg_client *cl)
{
	ipc_client_close(cl);
	ipc_client_schedule(cl, cl->backoff_ms);
	cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : CLIENT_BACKOFF_MIN_MS;
	if (cl->backoff_ms > CLIENT_BACKOFF_MAX_MS)
		cl->backoff_ms = CLIENT_BACKOFF_MAX_MS;
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

int ipc_client_connect(struct kg_client *cl)
{
	struct kg_ipc_register req = {0};
	const struct kg_ipc_registered *reg;
	const struct kg_ipc_error *e;
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m; /* kg_ipc_call() clears it and n_fds even when it fails */
	int fds[2] = {-1, -1}, r;
	size_t n_fds, i;
	static bool said_waiting;

	kg_loop_timer_cancel(&cl->reconnect_timer);
	r = kg_ipc_connect(cl->socket_path);
	if (r < 0) {
		if (!said_waiting)
			log_notice("waiting for kernelgatekeeper-service at %s (%s)",
				   cl->socket_path, strerror(-r));
		said_waiting = true;
		retry_later(cl);
		return r;
	}
	cl->ipc_fd = r;
	r = kg_ipc_call(cl->ipc_fd, KG_MSG_REGISTER, &req, sizeof(req), buf.bytes,
			sizeof(buf.bytes), &m, fds, 2, &n_fds, CLIENT_IPC_TIMEOUT_MS);
	if (r < 0 || m.hdr.type != KG_MSG_REGISTERED || n_fds == 0 || m.len < sizeof(*reg)) {
		for (i = 0; i < n_fds; i++)
			close(fds[i]);
		if (r < 0 && m.hdr.type == KG_MSG_ERROR && m.len >= sizeof(*e)) {
			e = m.payload;
			log_error("the service refused to register this client: %.*s",
				  (int)sizeof(e->message), e->message);
		} else {
			log_error("cannot register with the service: %s",
				  r < 0 ? strerror(-r) : "unexpected answer");
		}
		retry_later(cl);
		return r == -EPERM ? r : -EAGAIN;
	}
	reg = m.payload;
	close_listeners(cl); /* a previous registration's, if its end went unnoticed */
	for (i = 0; i < n_fds; i++) {
		if (add_listener(cl, fds[i]) < 0) {
			log_error("cannot watch a relay listener");
			close(fds[i]);
		}
	}
	fcntl(cl->ipc_fd, F_SETFL, fcntl(cl->ipc_fd, F_GETFL) | O_NONBLOCK);
	r = fetch_config(cl);
	if (r < 0) {
		if (!cl->set) {
			/* Nothing to run with: a configuration error that waiting cannot fix. */
			if (r == -EOPNOTSUPP || r == -EINVAL)
				return -EINVAL;
			/* A link that failed mid-call: register again rather than run on no
			 * settings with an unwatched link. */
			log_warn("cannot get the configuration from the service (%s): retrying",
				 strerror(-r));
			retry_later(cl);
			return -EAGAIN;
		}
		log_warn("keeping the previous proxy settings");
	}
	r = kg_loop_add(cl->ipc_fd, &cl->ipc_src, EPOLLIN);
	if (r < 0) {
		retry_later(cl);
		return r;
	}
	cl->registered = true;
	cl->backoff_ms = 0;
	said_waiting = false;
	log_fields(LOG_INFO, KG_FIELDS({"KG_UID", cl->uid_str}),
		   "registered with kernelgatekeeper-service: relay on 127.0.0.1:%u%s%.0u",
		   reg->port4, reg->port6 ? " and [::1]:" : "", reg->port6);
	sd_notify(0, "READY=1");
	cl->ready_sent = true;
	cl->status_dirty = true;
	(void)kg_loop_timer_arm(&cl->info_timer, 0); /* report the ticket right away */
	return 0;
}

void ipc_client_close(struct kg_client *cl)
{
	close_listeners(cl);
	if (cl->ipc_fd < 0)
		return;
	kg_loop_del(cl->ipc_fd);
	close(cl->ipc_fd);
	cl->ipc_fd = -1;
	cl->registered = false;
	cl->status_dirty = true;
}

void ipc_client_on_readable(struct kg_client *cl)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int i, r;

	for (i = 0; i < 64; i++) {
		r = kg_ipc_recv(cl->ipc_fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL);
		if (r == -EAGAIN || r == -EINTR)
			return;
		if (r < 0)
			break;
		if (m.hdr.type == KG_MSG_NOTIFY_ACCEPT && m.len >= sizeof(struct kg_event) &&
		    kg_log_get_level() >= LOG_DEBUG) {
			const struct kg_event *ev = m.payload;
			char dest[KG_ADDR_STR_MAX];

			kg_format_ip_port(ev->dst.ip, ev->dst.port, dest, sizeof(dest));
			log_debug("steered: %.16s[%u] -> %s", ev->dst.comm, ev->dst.pid, dest);
		} else if (m.hdr.type == KG_MSG_ERROR && m.len >= sizeof(struct kg_ipc_error)) {
			const struct kg_ipc_error *e = m.payload;

			log_warn("the service says: %.*s", (int)sizeof(e->message), e->message);
		}
	}
	if (r == 0)
		return;
	log_warn("kernelgatekeeper-service went away (%s): established tunnels continue, new "
		 "connections are not steered until it is back; reconnecting",
		 strerror(-r));
	cl->backoff_ms = CLIENT_BACKOFF_MIN_MS;
	retry_later(cl);
}

/* KG_MSG_CLIENT_INFO: the tunnel counts, and the ticket when tk (warning before it ends). */
static void send_report(struct kg_client *cl, const struct negotiate_ticket *tk)
{
	struct kg_ipc_client_report rep = {0};
	time_t now = time(NULL);

	/* The cache the tokens come from: in a DIR or KCM collection, the one chosen for the
	 * proxy, not necessarily the primary. */
	if (tk) {
		snprintf(rep.principal, sizeof(rep.principal), "%s", tk->principal);
		rep.ticket_expiry = tk->has_tgt ? (int64_t)tk->tgt_end : 0;
		if (tk->has_tgt && tk->tgt_end != cl->warned_expiry) {
			if (tk->tgt_end <= now) {
				cl->warned_expiry = tk->tgt_end;
				log_warn("the Kerberos ticket of %s has expired: run kinit",
					 tk->principal);
			} else if (tk->tgt_end - now < CLIENT_EXPIRY_WARN_S) {
				cl->warned_expiry = tk->tgt_end;
				log_warn("the Kerberos ticket of %s expires in %ld min: run kinit "
					 "(or kinit -R) soon",
					 tk->principal, (long)(tk->tgt_end - now + 59) / 60);
			}
		}
	}
	rep.tunnels_active = cl->tunnels_active;
	rep.tunnels_total = cl->tunnels_total;
	rep.tunnels_failed = cl->tunnels_failed;
	if (cl->ipc_fd >= 0 && cl->registered)
		kg_ipc_send(cl->ipc_fd, KG_MSG_CLIENT_INFO, 0, &rep, sizeof(rep), NULL, 0);
}

/* The worker's ticket report (job->r < 0: no ticket to report). */
static void on_ticket(struct kg_client *cl, struct auth_job *job)
{
	cl->info_pending = false;
	if (cl->info_again) {
		cl->info_again = false;
		(void)kg_loop_timer_arm(&cl->info_timer, 0);
	}
	send_report(cl, job->r == 0 ? job->ticket : NULL);
	authq_job_free(job);
}

void ipc_client_request_info(struct kg_client *cl)
{
	/* One report in the worker's queue at a time; a request meanwhile (a reload) makes the
	 * next one start as soon as it is back, with the settings of then. */
	if (cl->info_pending) {
		cl->info_again = true;
		return;
	}
	if (authq_submit_ticket(cl, on_ticket))
		cl->info_pending = true;
	else
		send_report(cl, NULL); /* the counts at least */
}
