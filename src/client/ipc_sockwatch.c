/* The service's socket, watched while the client has no link to the service (ipc_client.c):
 * inotify on the socket's directory, so that a restarted service is reached as soon as it
 * listens instead of after the backoff's wait. Best effort: without the watch the backoff alone
 * paces the attempts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "client/client.h"
#include "client/ipc_sockwatch.h"
#include "client/loop.h"
#include "shared/log.h"

static struct {
	struct kg_loop_source src;
	int fd; /* inotify, -1: no watch */
	struct kg_client *cl;
	void (*appeared)(struct kg_client *cl);
} sock_watch = {.fd = -1};

void ipc_sockwatch_stop(void)
{
	if (sock_watch.fd < 0)
		return;
	kg_loop_del(sock_watch.fd);
	close(sock_watch.fd);
	sock_watch.fd = -1;
}

static const char *sock_name(const struct kg_client *cl)
{
	const char *slash = strrchr(cl->socket_path, '/');

	return slash ? slash + 1 : cl->socket_path;
}

/* Events of the socket's directory: its name created (bind), moved in or chmod()ed moves a
 * is told to the caller (ipc_client.c moves a scheduled attempt forward). The directory itself
 * gone: no watch until the next start. */
static void on_sock_watch(struct kg_loop_source *src, uint32_t events)
{
	struct kg_client *cl = sock_watch.cl;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool created = false, gone = false;
	ssize_t n;

	(void)src;
	(void)events;
	for (;;) {
		const struct inotify_event *ev;
		char *p;

		n = read(sock_watch.fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) /* events lost: it may have been there */
				created = true;
			else if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
				gone = true;
			else if (ev->len && strcmp(ev->name, sock_name(cl)) == 0)
				created = true;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		gone = true;
	if (gone)
		ipc_sockwatch_stop();
	if (created)
		sock_watch.appeared(cl);
}

/* Watch the socket's directory, if not yet: best effort, the backoff works without it. */
void ipc_sockwatch_start(struct kg_client *cl, void (*appeared)(struct kg_client *cl))
{
	char dir[sizeof(cl->socket_path)];
	char *slash;
	int fd;

	if (sock_watch.fd >= 0)
		return;
	snprintf(dir, sizeof(dir), "%s", cl->socket_path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_debug("cannot watch for %s: inotify: %s", cl->socket_path, strerror(errno));
		return;
	}
	if (inotify_add_watch(fd, dir,
			      IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
				  IN_ONLYDIR) < 0) {
		log_debug("cannot watch %s for the service's socket: %s", dir, strerror(errno));
		close(fd);
		return;
	}
	sock_watch.src.kind = kg_loop_source_kind(on_sock_watch);
	sock_watch.cl = cl;
	sock_watch.appeared = appeared;
	sock_watch.fd = fd;
	if (kg_loop_add(fd, &sock_watch.src, EPOLLIN) < 0) {
		close(fd);
		sock_watch.fd = -1;
	}
}
