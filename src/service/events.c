/* Connection events from the datapath: to the owning client (attribution), to watchers, and
 * to the debug log. Root's watchers see every user's events, anyone else's only their own. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/service.h"
#include "shared/log.h"
#include "shared/netutil.h"

/* The command name of the process that made the connection, read once per event and up to a
 * second after it (events wait in the ring unless someone watches live). By then the process
 * may be gone and its PID reused: a /proc/PID that does not belong to the connection's uid
 * lends no name, so another user's process is never named in this user's events. Gone, reused
 * or hidden (hidepid): the name stays empty. */
static void fill_comm(struct kg_event *ev)
{
	char path[32];
	struct stat st;
	ssize_t n = 0;
	int dir, fd;

	snprintf(path, sizeof(path), "/proc/%u", ev->dst.pid);
	memset(ev->dst.comm, 0, sizeof(ev->dst.comm));
	dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	fd = fstat(dir, &st) == 0 && st.st_uid == ev->dst.uid
		 ? openat(dir, "comm", O_RDONLY | O_CLOEXEC)
		 : -1;
	close(dir);
	if (fd < 0)
		return;
	n = read(fd, ev->dst.comm, sizeof(ev->dst.comm) - 1);
	close(fd);
	if (n > 0 && ev->dst.comm[n - 1] == '\n')
		ev->dst.comm[n - 1] = '\0';
}

void kg_service_on_event(void *userdata, struct kg_event *ev)
{
	struct kg_service *svc = userdata;
	bool named = false;
	struct kg_conn *c;

	svc->events_total++;
	for (c = svc->conns; c; c = c->next) {
		uint64_t *counter =
		    ev->type == KG_EVENT_REDIRECT ? kg_conn_serves(c, ev->dst.uid) : NULL;
		bool to_client = counter != NULL;
		bool to_watcher = c->watcher && (c->uid == 0 || c->uid == ev->dst.uid);

		if ((to_client || to_watcher) && !named) {
			fill_comm(ev); /* only for events someone receives */
			named = true;
		}
		if (to_client) {
			(*counter)++;
			kg_ipc_send(c->fd, KG_MSG_NOTIFY_ACCEPT, 0, ev, sizeof(*ev), NULL, 0);
		}
		if (to_watcher)
			kg_ipc_send(c->fd, KG_MSG_EVENT, 0, ev, sizeof(*ev), NULL, 0);
	}
	if (ev->type == KG_EVENT_REDIRECT && kg_log_get_level() >= LOG_DEBUG) {
		if (!named)
			fill_comm(ev);
		char dest[KG_ADDR_STR_MAX], uid[16], pid[16];

		kg_format_ip_port(ev->dst.ip, ev->dst.port, dest, sizeof(dest));
		snprintf(uid, sizeof(uid), "%u", ev->dst.uid);
		snprintf(pid, sizeof(pid), "%u", ev->dst.pid);
		log_fields_ratelimited(
		    LOG_DEBUG, KG_FIELDS({"KG_UID", uid}, {"KG_PID", pid}, {"KG_DEST", dest}),
		    "steered %.16s[%s] (uid %s) to its relay: %s", ev->dst.comm, pid, uid, dest);
	} else if (ev->type == KG_EVENT_QUIC_BLOCKED && kg_log_get_level() >= LOG_DEBUG) {
		char dest[KG_ADDR_STR_MAX];

		kg_format_ip_port(ev->dst.ip, ev->dst.port, dest, sizeof(dest));
		log_fields_ratelimited(
		    LOG_DEBUG, NULL, "refused QUIC (UDP) of pid %u (uid %u) to %s: ebpf.block_quic",
		    ev->dst.pid, ev->dst.uid, dest);
	}
}
