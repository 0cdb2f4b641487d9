/* The service's IPC server.
 *
 * Every request is authorised from SO_PEERCRED alone. A user may register one client for their
 * own uid; the service then creates that user's loopback listeners itself (no port squatting)
 * and hands them over with SCM_RIGHTS. The process_map entry lives exactly as long as the
 * client's IPC connection: when it closes, for whatever reason, the entry is removed and the
 * user's traffic goes direct again (fail-open). Malformed input costs the sender its
 * connection, never anyone else's.
 *
 * A registered client may say that its user is off the corporate network
 * (KG_MSG_CLIENT_ROUTE_STATE): the flag in the user's process_map entry makes the datapath
 * leave the user's connections alone. Only the client's own connection may say so, and only for
 * its own uid; the flag goes with the entry when that connection ends, so no user goes direct
 * without a live client deciding it.
 *
 * The system relay (issue 17, KG_IPC_REGISTER_SYSTEM) registers for the uids of system.uids,
 * under the rules of system_relay.h: its listeners are its own uid's, and each uid it serves
 * gets a process_map entry naming them. A user's own client wins over it: the system relay is
 * not given a uid whose client is registered, and a client that registers later takes its uid
 * over and gives it back when it ends. A person's (or a service's) own client speaks for it
 * with its own credentials, which is more exact than the machine account and takes nothing
 * from anyone else: the uid only stops being attributed to the host.
 *
 * Route reports and watches: ipc_watch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "service/ipc_server_priv.h"
#include "service/service.h"
#include "service/system_relay.h"
#include "shared/config_wire.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"
#include "shared/text.h"

void kg_ipc_fmt_uid(char *buf, size_t len, uid_t uid)
{
	snprintf(buf, len, "%u", (unsigned)uid);
}

static struct kg_conn *find_client(struct kg_service *svc, uid_t uid)
{
	struct kg_conn *c;

	for (c = svc->conns; c; c = c->next)
		if (c->is_client && c->uid == uid)
			return c;
	return NULL;
}

uint64_t *kg_conn_serves(struct kg_conn *c, uid_t uid)
{
	unsigned i;

	if (!c->is_client)
		return NULL;
	if (!c->is_system)
		return c->uid == uid ? &c->redirected : NULL;
	for (i = 0; i < c->n_sys; i++)
		if (c->sys_uids[i] == uid && c->sys_served[i])
			return &c->sys_redirected[i];
	return NULL;
}

static struct kg_conn *find_system(struct kg_service *svc)
{
	struct kg_conn *c;

	for (c = svc->conns; c; c = c->next)
		if (c->is_system)
			return c;
	return NULL;
}

/* uid's own client is about to register (give is false) or has gone (true): the system relay,
 * if it was admitted for uid, stops or starts serving it. */
static void system_hand_over(struct kg_service *svc, uid_t uid, bool give)
{
	struct kg_conn *s = find_system(svc);
	char name[16];
	unsigned i;
	int r;

	for (i = 0; s && i < s->n_sys; i++) {
		if (s->sys_uids[i] != uid || s->sys_served[i] == give)
			continue;
		kg_ipc_fmt_uid(name, sizeof(name), uid);
		r = give ? kg_datapath_steer_add(svc->dp, uid, s->pid, s->port4, s->port6)
			 : kg_datapath_steer_remove(svc->dp, uid);
		/* Back with the system relay: its "direct" holds for the uid too (else the uid
		 * is steered, which the relay's own fallback then handles). */
		if (r == 0 && give && s->direct)
			(void)kg_datapath_client_set_direct(svc->dp, uid, true);
		if (r < 0 && r != -ENOENT) {
			log_error_ratelimited("cannot %s the system relay's entry of uid %s: %s",
					      give ? "restore" : "remove", name, strerror(-r));
			if (give)
				return;
		}
		s->sys_served[i] = give;
		log_fields_ratelimited(LOG_NOTICE, KG_FIELDS({"KG_UID", name}),
				       give ? "uid %s: its own client is gone; the system relay "
					      "serves it again"
					    : "uid %s: its own client takes over from the system "
					      "relay",
				       name);
	}
}

static void conn_free(struct kg_conn *c)
{
	struct kg_service *svc = c->svc;
	struct kg_conn **pp;

	for (pp = &svc->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->is_client) {
		char uid[16];
		unsigned i;
		int r;

		/* Nothing is steered to the system relay's listeners before they stop being
		 * vouched for (kg_datapath_client_remove, as for a user's). */
		for (i = 0; i < c->n_sys; i++)
			if (c->sys_served[i])
				kg_datapath_steer_remove(svc->dp, c->sys_uids[i]);
		r = kg_datapath_client_remove(svc->dp, c->uid, c->port4, c->port6);

		kg_ipc_fmt_uid(uid, sizeof(uid), c->uid);
		if (r < 0 && r != -ENOENT)
			log_error_ratelimited("cannot remove the relay entry of uid %s: %s", uid,
					      strerror(-r));
		log_fields_ratelimited(
		    LOG_INFO, KG_FIELDS({"KG_UID", uid}),
		    "client of uid %s (pid %d) disconnected; its connections are "
		    "no longer steered",
		    uid, (int)c->pid);
		svc->n_clients--;
		if (!c->is_system)
			system_hand_over(svc, c->uid, true);
	}
	/* Only now that neither process_map nor relay_ports names the ports may anyone else
	 * bind them. */
	while (c->n_listeners > 0)
		close(c->listeners[--c->n_listeners]);
	sd_event_source_disable_unref(c->idle_timer);
	sd_event_source_disable_unref(c->source);
	close(c->fd);
	svc->n_conns--;
	svc->n_conns_no_passwd -= c->no_passwd;
	if (c->is_client || c->watcher)
		kg_service_events_changed(svc);
	free(c);
	kg_service_update_status(svc);
}

/* A client or watcher receives one message per event, and a timer drain delivers up to a ring's
 * worth (KG_RINGBUF_BYTES / ~120 bytes) at once. At ~1 KiB of socket memory per small
 * SEQPACKET message the default send buffer (~200 KiB) held about 270 and the rest of a burst
 * was dropped; room for the whole ring costs nothing until a burst actually waits in it.
 * SO_SNDBUFFORCE needs CAP_NET_ADMIN, which the service has. */
void kg_ipc_widen_sndbuf(const struct kg_conn *c)
{
	int size = KG_RINGBUF_BYTES * 8;

	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		log_debug("cannot enlarge the IPC send buffer of pid %d: %s", (int)c->pid,
			  strerror(errno));
}

int kg_ipc_reply(struct kg_conn *c, uint32_t seq, uint16_t type, const void *p, size_t len)
{
	return kg_ipc_send(c->fd, type, seq, p, len, NULL, 0);
}

/* The backlog of a new relay listener: the service's network namespace's net.core.somaxconn
 * (4096 by default since Linux 5.4), at least KG_LISTEN_BACKLOG_FLOOR. */
static int relay_backlog(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");
	int v = 0;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > KG_LISTEN_BACKLOG_FLOOR ? v : KG_LISTEN_BACKLOG_FLOOR;
}

void kg_ipc_server_system_recheck(struct kg_service *svc)
{
	struct kg_conn *s = find_system(svc);
	uid_t uids[KG_IPC_SYSTEM_UIDS_MAX];
	char why[KG_IPC_TEXT_MAX];
	unsigned n = 0, i, j;
	int r;

	if (!s)
		return;
	r = kg_system_admit(&svc->cfg, s->uid, NULL, 0, uids, &n, why, sizeof(why));
	if (r == 0 && n == s->n_sys) {
		for (i = 0; i < n; i++) {
			for (j = 0; j < n && s->sys_uids[j] != uids[i]; j++)
				;
			if (j == n)
				break;
		}
		if (i == n)
			return; /* the same uids */
	}
	if (r == 0)
		snprintf(why, sizeof(why), "system.uids changed");
	log_notice("system { } changed on reload (%s): ending the system relay's registration "
		   "(pid %d); it registers again if it may",
		   why, (int)s->pid);
	conn_free(s);
}

/* The loopback listeners of a new relay: 0, or -errno (logged) and nothing open. */
static int make_listeners(struct kg_service *svc, const char *uid, int *fd4, int *fd6,
			  uint16_t *port4, uint16_t *port6)
{
	int r;

	*port6 = 0;
	r = kg_listen_tcp(AF_INET, "127.0.0.1", svc->cfg.client.listen_port, relay_backlog(),
			  port4);
	if (r < 0) {
		log_error_ratelimited("cannot create the relay listener for uid %s on "
				      "127.0.0.1:%u: %s",
				      uid, svc->cfg.client.listen_port, strerror(-r));
		return r;
	}
	*fd4 = r;
	r = kg_listen_tcp(AF_INET6, "::1", svc->cfg.client.listen_port ? *port4 : 0,
			  relay_backlog(), port6);
	if (r < 0) {
		log_warn_ratelimited("no IPv6 relay listener for uid %s (%s): native IPv6 "
				     "connections of this user are not steered",
				     uid, strerror(-r));
		*port6 = 0;
	} else {
		*fd6 = r;
	}
	return 0;
}

/* KG_MSG_REGISTERED with the new relay's listeners to the client; once sent, c is a registered
 * client (a system relay with system) that owns them and the service counts it. 0 or -errno
 * (nothing taken, nothing counted). */
static int send_registered(struct kg_conn *c, const struct kg_ipc_msg *m, bool system, int *fd4,
			   int *fd6, uint16_t port4, uint16_t port6)
{
	struct kg_service *svc = c->svc;
	struct kg_ipc_registered reg = {0};
	int fds[2], r;

	reg.port4 = port4;
	reg.port6 = port6;
	reg.n_fds = *fd6 >= 0 ? 2 : 1;
	fds[0] = *fd4;
	fds[1] = *fd6;
	r = kg_ipc_send(c->fd, KG_MSG_REGISTERED, m->hdr.seq, &reg, sizeof(reg), fds, reg.n_fds);
	if (r < 0)
		return r;
	c->is_client = true;
	c->is_system = system;
	c->routes = (((const struct kg_ipc_register *)m->payload)->caps & KG_IPC_CAP_ROUTES) != 0;
	c->listeners[c->n_listeners++] = take_fd(fd4);
	if (*fd6 >= 0)
		c->listeners[c->n_listeners++] = take_fd(fd6);
	kg_ipc_widen_sndbuf(c);
	c->port4 = port4;
	c->port6 = port6;
	c->registered_usec = kg_now_usec(CLOCK_REALTIME);
	svc->n_clients++;
	svc->clients_registered_total++;
	return 0;
}

/* KG_IPC_REGISTER_SYSTEM: the system relay (system_relay.h for the rules). */
static int handle_register_system(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	const struct kg_ipc_register_system *rs = m->payload;
	struct kg_conn *other;
	uid_t uids[KG_IPC_SYSTEM_UIDS_MAX];
	char uid[16], pid[16], why[KG_IPC_TEXT_MAX - 32], list[KG_IPC_TEXT_MAX];
	_cleanup_close_ int fd4 = -1, fd6 = -1;
	unsigned n = 0, i;
	int r;
	uint16_t port4 = 0, port6 = 0;

	kg_ipc_fmt_uid(uid, sizeof(uid), c->uid);
	snprintf(pid, sizeof(pid), "%d", (int)c->pid);
	if (c->is_client)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EALREADY, "already registered");
	r = kg_system_admit(&svc->cfg, c->uid, m->len == sizeof(*rs) ? rs->uids : NULL,
			    m->len == sizeof(*rs) ? rs->n_uids : 0, uids, &n, why, sizeof(why));
	if (r < 0) {
		log_fields_ratelimited(LOG_WARNING, KG_FIELDS({"KG_UID", uid}, {"KG_PID", pid}),
				       "refused the system relay registration of uid %s pid %s: "
				       "%s",
				       uid, pid, why);
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "%s", why);
	}
	other = find_system(svc);
	if (!other)
		other = find_client(svc, c->uid);
	if (other)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EEXIST,
					 "a system relay is already registered (pid %d)",
					 (int)other->pid);
	r = make_listeners(svc, uid, &fd4, &fd6, &port4, &port6);
	if (r < 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot create listener: %s",
					 strerror(-r));
	r = kg_datapath_relay_add(svc->dp, c->uid, port4, fd6 >= 0 ? port6 : 0);
	if (r < 0) {
		log_error_ratelimited("cannot add the system relay's listeners: %s", strerror(-r));
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot register: %s",
					 strerror(-r));
	}
	c->n_sys = n;
	for (i = 0; i < n; i++) {
		char served[16];

		c->sys_uids[i] = uids[i];
		c->sys_redirected[i] = 0;
		kg_ipc_fmt_uid(served, sizeof(served), uids[i]);
		/* A uid with its own client stays with it (ipc_server.c's head comment). */
		if (find_client(svc, uids[i])) {
			log_fields_ratelimited(LOG_NOTICE, KG_FIELDS({"KG_UID", served}),
					       "uid %s has its own client: the system relay does "
					       "not serve it while that runs",
					       served);
			c->sys_served[i] = false;
			continue;
		}
		r = kg_datapath_steer_add(svc->dp, uids[i], c->pid, port4, port6);
		if (r < 0)
			log_error_ratelimited("cannot steer uid %s to the system relay: %s", served,
					      strerror(-r));
		c->sys_served[i] = r == 0;
	}
	r = send_registered(c, m, true, &fd4, &fd6, port4, port6);
	if (r < 0) {
		for (i = 0; i < n; i++)
			if (c->sys_served[i])
				kg_datapath_steer_remove(svc->dp, uids[i]);
		kg_datapath_client_remove(svc->dp, c->uid, port4, port6);
		c->n_sys = 0;
		return r;
	}
	kg_system_format_uids(uids, n, list, sizeof(list));
	log_fields_ratelimited(LOG_NOTICE, KG_FIELDS({"KG_UID", uid}, {"KG_PID", pid}),
			       "system relay registered: uid %s pid %s, relay 127.0.0.1:%u and "
			       "[::1]:%u, for %s",
			       uid, pid, port4, port6, list);
	kg_service_events_changed(svc);
	kg_service_update_status(svc);
	return 0;
}

static int handle_register(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	struct kg_service *svc = c->svc;
	struct kg_conn *other;
	char uid[16], pid[16];
	/* The service keeps its own copies of the listeners until the client's entries are gone
	 * (conn_free): a client that dies or closes its listeners first must not free a port that
	 * the datapath still steers this user's connections to, for any other user to bind. */
	_cleanup_close_ int fd4 = -1, fd6 = -1;
	int r;
	uint16_t port4 = 0, port6 = 0;

	if (((const struct kg_ipc_register *)m->payload)->flags & KG_IPC_REGISTER_SYSTEM)
		return handle_register_system(c, m);
	kg_ipc_fmt_uid(uid, sizeof(uid), c->uid);
	snprintf(pid, sizeof(pid), "%d", (int)c->pid);
	if (c->uid == 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EPERM,
					 "root has no relay: run the client as the user");
	if (c->is_client)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EALREADY, "already registered");
	other = find_client(svc, c->uid);
	if (other)
		return kg_ipc_send_error(c->fd, m->hdr.seq, EEXIST,
					 "a client for uid %s is already registered (pid %d)", uid,
					 (int)other->pid);
	/* The limit the datapath's process_map sets (KG_MAX_CLIENTS), or a lower one of the
	 * configuration's: said in a sentence that names the key, not as the map's E2BIG. */
	if (svc->n_clients >= svc->cfg.ebpf.max_clients) {
		log_warn_ratelimited("refusing to register a client for uid %s: %u clients are "
				     "registered, the limit of ebpf.max_clients (%u)",
				     uid, svc->n_clients, svc->cfg.ebpf.max_clients);
		return kg_ipc_send_error(c->fd, m->hdr.seq, EUSERS,
					 "%u clients are registered, the limit of ebpf.max_clients "
					 "(%u, at most %u); ask the administrator to raise it",
					 svc->n_clients, svc->cfg.ebpf.max_clients, KG_MAX_CLIENTS);
	}

	r = make_listeners(svc, uid, &fd4, &fd6, &port4, &port6);
	if (r < 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot create listener: %s",
					 strerror(-r));

	system_hand_over(svc, c->uid, false); /* the user's own client wins */
	r = kg_datapath_client_add(svc->dp, c->uid, c->pid, port4, port6);
	if (r < 0) {
		system_hand_over(svc, c->uid, true);
		log_error_ratelimited("cannot add the relay entry for uid %s: %s", uid,
				      strerror(-r));
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "cannot register: %s",
					 strerror(-r));
	}
	r = send_registered(c, m, false, &fd4, &fd6, port4, port6);
	if (r < 0) {
		kg_datapath_client_remove(svc->dp, c->uid, port4, port6);
		system_hand_over(svc, c->uid, true);
		return r;
	}
	log_fields_ratelimited(LOG_INFO, KG_FIELDS({"KG_UID", uid}, {"KG_PID", pid}),
			       "client registered: uid %s pid %s, relay 127.0.0.1:%u and [::1]:%u",
			       uid, pid, port4, port6);
	kg_service_events_changed(svc);
	kg_service_update_status(svc);
	return 0;
}

static int handle_config(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	uint8_t buf[KG_IPC_MAX_PAYLOAD];
	size_t len;
	int r;

	r = kg_config_wire_encode(&c->svc->cfg, c->svc->ports, c->svc->n_ports, buf, sizeof(buf),
				  &len);
	if (r < 0)
		return kg_ipc_send_error(c->fd, m->hdr.seq, -r, "configuration too large");
	return kg_ipc_reply(c, m->hdr.seq, KG_MSG_CONFIG, buf, len);
}

static int dispatch(struct kg_conn *c, const struct kg_ipc_msg *m)
{
	switch (m->hdr.type) {
	case KG_MSG_REGISTER:
		return handle_register(c, m);
	case KG_MSG_CONFIG_GET:
		return handle_config(c, m);
	case KG_MSG_STATUS_GET:
		return kg_ipc_handle_status(c, m);
	case KG_MSG_PORTS_LIST:
		return kg_ipc_send_ports(c, m->hdr.seq);
	case KG_MSG_PORTS_ADD:
	case KG_MSG_PORTS_REMOVE:
		return kg_ipc_handle_ports_change(c, m);
	case KG_MSG_STATS_GET:
		return kg_ipc_handle_stats(c, m);
	case KG_MSG_WATCH:
		return kg_ipc_handle_watch(c, m);
	case KG_MSG_CLIENT_INFO:
		return kg_ipc_handle_client_info(c, m);
	case KG_MSG_CLIENT_ROUTE_STATE:
		return kg_ipc_handle_route_state(c, m);
	case KG_MSG_CLIENT_ROUTE:
		return kg_ipc_handle_client_route(c, m);
	default:
		/* A well-formed message that only the service sends. */
		return kg_ipc_send_error(c->fd, m->hdr.seq, EOPNOTSUPP, "%s is not a request",
					 kg_msg_type_name(m->hdr.type));
	}
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kg_conn *c = userdata;
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int r, i;

	/* A bounded number of messages per wakeup keeps one chatty peer from starving others. */
	for (i = 0; i < 16; i++) {
		r = kg_ipc_recv(fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL);
		if (r == -EAGAIN || r == -EINTR)
			return 0;
		if (r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE) {
			conn_free(c);
			return 0;
		}
		if (r < 0) {
			c->svc->ipc_errors++;
			log_warn_ratelimited("malformed IPC message from pid %d uid %u (%s): "
					     "disconnecting it",
					     (int)c->pid, (unsigned)c->uid,
					     r == -EPROTONOSUPPORT ? "unsupported protocol version"
					     : r == -EMSGSIZE	   ? "message too large"
								   : "bad message");
			kg_ipc_send_error(fd, 0, -r,
					  r == -EPROTONOSUPPORT
					      ? "unsupported protocol version (want %d)"
					      : "malformed message (protocol version %d)",
					  KG_IPC_VERSION);
			conn_free(c);
			return 0;
		}
		r = dispatch(c, &m);
		if (r < 0 && r != -EAGAIN) {
			/* The peer went away or its queue is full: drop it, keep serving. */
			conn_free(c);
			return 0;
		}
	}
	return 0;
}

/* A kernel uid without a passwd entry is most likely one of the many subordinate uids one
 * person holds (/etc/subuid): 64 of them at 16 connections each used to fill the whole table.
 * Looked up once per accepted connection of a uid other than root. */
static bool uid_is_person(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);

	/* An entry too large for buf still is one; a failing NSS lookup errs on the open side. */
	return res != NULL || r == ERANGE || (r != 0 && r != ENOENT && r != ESRCH);
}

/* NULL when the peer may have a connection, else why not; *no_passwd says whether the uid has
 * no passwd entry. Root always has room: the table keeps KG_IPC_CONNS_ROOT_RESERVE slots that
 * only root may take. A uid's registered client is not counted against its own limit (one per
 * uid at most), but it is against the budget of all uids without a passwd entry. */
static const char *conn_refusal(struct kg_service *svc, uid_t uid, bool *no_passwd)
{
	const struct kg_conn *c;
	unsigned n = 0;

	*no_passwd = false;
	if (uid == 0)
		return svc->n_conns < KG_MAX_IPC_CONNS ? NULL : "too many connections";
	if (svc->n_conns >= KG_MAX_IPC_CONNS - KG_IPC_CONNS_ROOT_RESERVE)
		return "too many connections";
	for (c = svc->conns; c; c = c->next)
		n += c->uid == uid && !c->is_client;
	if (n >= KG_MAX_IPC_CONNS_PER_UID)
		return "too many connections";
	*no_passwd = !uid_is_person(uid);
	if (!*no_passwd)
		return NULL;
	if (n >= 1)
		return "too many connections (a uid without a passwd entry has one)";
	if (svc->n_conns_no_passwd >= KG_IPC_CONNS_NO_PASSWD)
		return "too many connections from uids without a passwd entry";
	return NULL;
}

/* A connection that is neither a client nor a watcher is a request or two (ctl, a client
 * registering): after KG_IPC_IDLE_USEC it is closed, so idle connections cannot hold slots. */
static int on_conn_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kg_conn *c = userdata;

	if (!c->is_client && !c->watcher)
		conn_free(c);
	return 0;
}

static int on_ipc_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kg_service *svc = userdata;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	const char *refusal;
	struct kg_conn *c;
	bool no_passwd;
	_cleanup_close_ int cfd = -1;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0 || getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	refusal = conn_refusal(svc, cred.uid, &no_passwd);
	if (refusal) {
		log_warn_ratelimited("refusing IPC connection from pid %d uid %u: %s",
				     (int)cred.pid, (unsigned)cred.uid, refusal);
		kg_ipc_send_error(cfd, 0, EMFILE, "%s", refusal);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return 0;
	c->svc = svc;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->no_passwd = no_passwd;
	c->route_rl = (struct kg_ratelimit)KG_RATELIMIT_INIT(1000000, KG_ROUTE_REPORTS_PER_SEC);
	if (sd_event_add_io(svc->event, &c->source, cfd, EPOLLIN, on_conn_io, c) < 0 ||
	    sd_event_add_time_relative(svc->event, &c->idle_timer, CLOCK_MONOTONIC,
				       KG_IPC_IDLE_USEC, 0, on_conn_idle, c) < 0) {
		sd_event_source_disable_unref(c->source);
		free(c);
		return 0;
	}
	c->fd = take_fd(&cfd);
	c->next = svc->conns;
	svc->conns = c;
	svc->n_conns++;
	svc->n_conns_no_passwd += c->no_passwd;
	return 0;
}

int kg_ipc_server_open(struct kg_service *svc)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = svc->cfg.socket_path;
	int fd, r, probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A live service already owns the path: refuse rather than steal it. A stale socket
	 * file from a crash is removed. */
	probe = kg_ipc_connect(path);
	if (probe >= 0) {
		close(probe);
		return -EADDRINUSE;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0666) < 0 ||
	    listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = sd_event_add_io(svc->event, &svc->ipc_source, fd, EPOLLIN, on_ipc_accept, svc);
	if (r < 0) {
		close(fd);
		unlink(path);
		return r;
	}
	svc->ipc_fd = fd;
	return 0;
}

void kg_ipc_server_close(struct kg_service *svc)
{
	while (svc->conns)
		conn_free(svc->conns);
	svc->ipc_source = sd_event_source_disable_unref(svc->ipc_source);
	if (svc->ipc_fd >= 0) {
		close(svc->ipc_fd);
		svc->ipc_fd = -1;
		unlink(svc->cfg.socket_path);
	}
}
