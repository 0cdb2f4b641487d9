/* Taking connections off the relay listeners: which of them are served.
 *
 * The relay serves a connection only when the kernel names an original destination that the
 * datapath could have steered. While the service runs, the datapath answers SO_ORIGINAL_DST on
 * the relay listeners with authority. With connection tracking active (Docker, firewalld, any
 * nft "ct" rule) the kernel answers as well, for every tracked socket, and for a direct
 * connection to the relay port its answer is the relay's own address: that is what another
 * user's connection gets once the service's maps are gone (stopped, restarting, killed). The
 * datapath never steers to loopback, nor to the relay itself, so such an answer proves the
 * connection was not steered: it is closed like one with no answer at all, and the proxy never
 * sees it (ipc_client.c closes the listeners themselves once their registration ends).
 *
 * Every refusal is a line another user can make us write: they share one budget, one line per
 * REFUSAL_LOG_USEC, and once such an interval is over one more line says how many were not
 * logged in it (a flood of 70,000 connections in 3 s is two lines).
 *
 * When accept(2) itself fails for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM), the connection stays in the listener's backlog and the listener stays readable: it
 * leaves the epoll set for ACCEPT_RETRY_USEC and then tries again, so a waiting connection is
 * served once the shortage ends, without the loop spinning on it meanwhile. One line says so
 * (again at most once per REFUSAL_LOG_USEC while it lasts), and one more when accepting works
 * again.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/accept.h"
#include "client/conn.h"
#include "client/loop.h"
#include "shared/log.h"
#include "shared/netutil.h"

#define ACCEPTS_PER_WAKEUP 64
#define SOL_IP_ORIGDST	   80 /* SO_ORIGINAL_DST (SOL_IP) and IP6T_SO_ORIGINAL_DST (SOL_IPV6) */
#define REFUSAL_LOG_USEC   10000000ull
#define ACCEPT_RETRY_USEC  100000ull

/* The address in ss as (v4-mapped) ip and port; -EAFNOSUPPORT for other families. */
static int sockaddr_ip_port(const struct sockaddr_storage *ss, uint8_t ip[16], uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		kg_ip_from_v4(ip, sin->sin_addr.s_addr);
		*port = ntohs(sin->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		memcpy(ip, sin6->sin6_addr.s6_addr, 16);
		*port = ntohs(sin6->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* The answer's length is exactly the family's sockaddr, as the datapath and the kernel expect. */
static int original_dst(int fd, int family, uint8_t ip[16], uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len =
	    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int level = family == AF_INET ? SOL_IP : SOL_IPV6;

	if (getsockopt(fd, level, SOL_IP_ORIGDST, &ss, &len) < 0)
		return -errno ? -errno : -ENOENT;
	if (ss.ss_family != family)
		return -ENOENT;
	return sockaddr_ip_port(&ss, ip, port);
}

/* 127.0.0.0/8 (plain or v4-mapped) and ::1: never a steered destination. */
static bool ip_is_loopback(const uint8_t ip[16])
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (kg_ip_is_v4mapped(ip))
		return ip[12] == 127;
	return memcmp(ip, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* Whether (ip, port) is the accepted socket's own address: the relay listener itself. */
static bool is_own_address(int fd, const uint8_t ip[16], uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint8_t own_ip[16];
	uint16_t own_port;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    sockaddr_ip_port(&ss, own_ip, &own_port) < 0)
		return true; /* unknown: treated as not steered */
	return own_port == port && memcmp(own_ip, ip, 16) == 0;
}

/* Whether a refusal may be logged now: once per REFUSAL_LOG_USEC, the others are counted and
 * on_refusal_timer() sums them up when the interval is over. */
static bool log_budget_take(struct client_log_budget *b)
{
	uint64_t now = kg_loop_now();

	if (b->last_at && now - b->last_at < REFUSAL_LOG_USEC) {
		if (!b->unlogged++)
			(void)kg_loop_timer_arm(&b->timer, b->last_at + REFUSAL_LOG_USEC);
		return false;
	}
	b->last_at = now;
	return true;
}

/* The interval with unlogged refusals is over: one line sums them up. */
static void on_refusal_timer(struct kg_loop_timer *t)
{
	struct kg_client *cl = KG_CONTAINER_OF(t, struct kg_client, refusal_log.timer);
	struct client_log_budget *b = &cl->refusal_log;

	if (!b->unlogged)
		return;
	log_warn("%" PRIu64 " more refused connection(s) to the relay port not logged in the last "
		 "%llu s (%" PRIu64 " without a steered destination, %" PRIu64
		 " over the descriptor cap, so far)",
		 b->unlogged, REFUSAL_LOG_USEC / 1000000, cl->refused_no_origdst,
		 cl->refused_fd_cap);
	b->unlogged = 0;
	b->last_at = kg_loop_now(); /* a flood that goes on is summed up once per interval */
}

/* Not a steered connection of ours (another user dialling the port, or the datapath's entry
 * is gone): it gets nothing and the proxy sees nothing. */
static void refuse_unsteered(struct kg_client *cl, int fd, const struct sockaddr_storage *peer,
			     const char *why)
{
	char who[KG_ADDR_STR_MAX];

	cl->refused_no_origdst++;
	if (log_budget_take(&cl->refusal_log)) {
		kg_format_sockaddr((const struct sockaddr *)peer, who, sizeof(who));
		log_warn("closed a connection from %s to the relay port: %s; %" PRIu64
			 " such connection(s) so far",
			 who, why, cl->refused_no_origdst);
	}
	close(fd);
}

static void accept_one(struct kg_client *cl, int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char why[KG_ADDR_STR_MAX + 96], dest[KG_ADDR_STR_MAX];
	uint8_t ip[16];
	uint16_t port = 0;
	int r;

	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		peer.ss_family = AF_INET;
	if (cl->n_fds + 2 > cl->fd_cap || cl->stopping || !cl->set) {
		cl->refused_fd_cap++;
		if (!cl->stopping && cl->set && log_budget_take(&cl->refusal_log))
			log_warn("refusing connections: %u descriptors in use (cap %u); %" PRIu64
				 " refused so far",
				 cl->n_fds, cl->fd_cap, cl->refused_fd_cap);
		close(fd);
		return;
	}
	r = original_dst(fd, peer.ss_family, ip, &port);
	if (r < 0) {
		snprintf(why, sizeof(why), "no original destination (%s)", strerror(-r));
		refuse_unsteered(cl, fd, &peer, why);
		return;
	}
	if (ip_is_loopback(ip) || is_own_address(fd, ip, port)) {
		kg_format_ip_port(ip, port, dest, sizeof(dest));
		snprintf(why, sizeof(why),
			 "its original destination %s is one the datapath never steers to", dest);
		refuse_unsteered(cl, fd, &peer, why);
		return;
	}
	relay_conn_open(cl, fd, ip, port);
}

/* accept(2) fails for want of a resource (the kernel keeps the connection queued). */
static bool accept_resource_errno(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/* The listener rests for ACCEPT_RETRY_USEC: level-triggered, it would wake the loop again at
 * once for the connection that could not be taken. */
static void accept_failed(struct kg_client *cl, struct client_listener *l, int err)
{
	uint64_t now = kg_loop_now();

	cl->accept_failures++;
	if (!cl->accept_failure_logged_at ||
	    now - cl->accept_failure_logged_at >= REFUSAL_LOG_USEC) {
		cl->accept_failure_logged_at = now;
		log_error(
		    "cannot accept connections on the relay port: %s; they wait in its queue "
		    "and are served once accepting works again (retried every %llu ms, %" PRIu64
		    " failure(s) so far)",
		    strerror(err), ACCEPT_RETRY_USEC / 1000, cl->accept_failures);
	}
	if (kg_loop_timer_arm(&l->retry, now + ACCEPT_RETRY_USEC) == 0)
		kg_loop_del(l->fd);
}

static void on_listener_event(struct kg_loop_source *s, uint32_t events)
{
	struct client_listener *l = KG_CONTAINER_OF(s, struct client_listener, src);
	struct kg_client *cl = l->cl;
	int i, fd;

	(void)events;
	if (l->fd < 0)
		return;

	for (i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (accept_resource_errno(errno))
				accept_failed(cl, l, errno);
			return;
		}
		if (cl->accept_failures) {
			log_info("accepting connections on the relay port again after %" PRIu64
				 " failure(s)",
				 cl->accept_failures);
			cl->accept_failures = 0;
			cl->accept_failure_logged_at = 0;
		}
		accept_one(cl, fd);
	}
}

/* The rest is over: back into the epoll set, and try at once. A listener closed meanwhile
 * (fd -1) stays closed; one opened again in its place is already watched (EEXIST). */
static void on_accept_retry(struct kg_loop_timer *t)
{
	struct client_listener *l = KG_CONTAINER_OF(t, struct client_listener, retry);

	if (l->fd < 0)
		return;
	(void)kg_loop_add(l->fd, &l->src, EPOLLIN);
	on_listener_event(&l->src, EPOLLIN);
}

void accept_init(struct kg_client *cl)
{
	unsigned i;

	for (i = 0; i < CLIENT_MAX_LISTENERS; i++) {
		cl->listeners[i].cl = cl;
		cl->listeners[i].src.kind = kg_loop_source_kind(on_listener_event);
		cl->listeners[i].retry.kind = kg_loop_timer_kind(on_accept_retry);
	}
	cl->refusal_log.timer.kind = kg_loop_timer_kind(on_refusal_timer);
}
