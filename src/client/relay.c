/* The event loop and the byte relay (see relay.h).
 *
 * One epoll set holds the listeners, the IPC socket, the signalfd, the Kerberos worker's
 * eventfd and both sockets of every connection. Per-connection deadlines (first-byte wait,
 * proxy connect, proxy answer, linger) live in a binary heap keyed by deadline; the global
 * ones (IPC reconnect, ticket report, shutdown grace) are checked on every pass. Connections
 * are freed only at the end of a pass, so an event already fetched for a closed connection
 * finds it marked dead instead of freed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/forward.h"
#include "client/relay.h"
#include "client/tunnel.h"
#include "shared/netutil.h"

#define LOOP_EVENTS 256
#define LINGER_USEC 2000000ull
/* Reads of what a lingering application still sends, per pass of the loop: 1 MiB. */
#define LINGER_READS_PER_STEP 16

#define CONN_SLAB 256 /* relay_conn structs per pool allocation */

static struct {
	struct relay_conn
	    *free_conns; /* pool: long-lived structs kept dense, away from the
			  * short-lived setup allocations that would pin their pages */
	struct relay_conn **heap;
	uint32_t n, cap;
	struct relay_conn *ready;     /* connections with work left over */
	struct relay_conn *graveyard; /* freed at the end of the pass */
} loop;

/* --- timers --------------------------------------------------------------------------------- */

static void heap_swap(uint32_t a, uint32_t b)
{
	struct relay_conn *t = loop.heap[a];

	loop.heap[a] = loop.heap[b];
	loop.heap[b] = t;
	loop.heap[a]->heap_idx = a;
	loop.heap[b]->heap_idx = b;
}

static void heap_up(uint32_t i)
{
	while (i > 0 && loop.heap[(i - 1) / 2]->deadline > loop.heap[i]->deadline) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < loop.n && loop.heap[l]->deadline < loop.heap[m]->deadline)
			m = l;
		if (r < loop.n && loop.heap[r]->deadline < loop.heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void heap_remove(struct relay_conn *c)
{
	uint32_t i = c->heap_idx;

	if (i == UINT32_MAX)
		return;
	loop.n--;
	if (i != loop.n) {
		loop.heap[i] = loop.heap[loop.n];
		loop.heap[i]->heap_idx = i;
		heap_down(i);
		heap_up(i);
	}
	c->heap_idx = UINT32_MAX;
}

void relay_set_timer(struct kg_client *cl, struct relay_conn *c, uint64_t deadline)
{
	heap_remove(c);
	c->deadline = deadline;
	if (!deadline)
		return;
	/* Cannot overflow: conn_alloc() gives the heap a slot for every connection struct. */
	c->heap_idx = loop.n;
	loop.heap[loop.n++] = c;
	heap_up(c->heap_idx);
}

/* --- sockets ---------------------------------------------------------------------------------- */

int relay_side_open(struct kg_client *cl, struct relay_conn *c, struct relay_side *s, int fd)
{
	int one = 1, r;

	s->fd = fd;
	s->flags = SIDE_READABLE | SIDE_WRITABLE;
	cl->n_fds++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = relay_watch(cl, fd, &s->src, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (r < 0)
		return r;
	return 0;
}

void relay_side_close(struct kg_client *cl, struct relay_side *s)
{
	if (s->fd < 0)
		return;
	close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
	s->flags = 0;
	cl->n_fds--;
}

void relay_mark_ready(struct relay_conn *c)
{
	if (c->ready || c->dead)
		return;
	c->ready = true;
	c->ready_next = loop.ready;
	loop.ready = c;
}

/* --- connections ---------------------------------------------------------------------------- */

void relay_conn_close(struct kg_client *cl, struct relay_conn *c, bool failed)
{
	if (c->dead)
		return;
	c->dead = true;
	heap_remove(c);
	relay_side_close(cl, &c->app);
	relay_side_close(cl, &c->proxy);
	relay_buf_free(&c->to_app);
	relay_buf_free(&c->to_proxy);
	tunnel_setup_free(c->setup);
	c->setup = NULL;
	forward_free(c->fwd);
	c->fwd = NULL;
	client_settings_unref(c->set);
	c->set = NULL;
	if (c->counted_active)
		cl->tunnels_active--;
	if (failed)
		cl->tunnels_failed++;
	if (c->prev)
		c->prev->next = c->next;
	else
		cl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = loop.graveyard;
	loop.graveyard = c;
	cl->status_dirty = true;
}

void relay_count_active(struct kg_client *cl, struct relay_conn *c)
{
	if (c->counted_active)
		return;
	c->counted_active = true;
	cl->tunnels_active++;
	cl->tunnels_total++;
	cl->status_dirty = true;
}

void relay_start(struct kg_client *cl, struct relay_conn *c)
{
	tunnel_setup_free(c->setup);
	c->setup = NULL;
	c->state = CONN_RELAY;
	relay_set_timer(cl, c, 0);
	relay_count_active(cl, c);
	relay_mark_ready(c);
}

void relay_linger(struct kg_client *cl, struct relay_conn *c)
{
	relay_side_close(cl, &c->proxy);
	relay_buf_free(&c->to_proxy);
	c->state = CONN_LINGER;
	relay_set_timer(cl, c, kg_now_usec(CLOCK_MONOTONIC) + LINGER_USEC);
	relay_mark_ready(c);
}

static void linger_step(struct kg_client *cl, struct relay_conn *c)
{
	int r = relay_flush(&c->app, &c->to_app);
	unsigned i;

	if (r < 0) {
		relay_conn_close(cl, c, false);
		return;
	}
	if (r == 0 && !(c->app.flags & SIDE_SHUT_WR)) {
		shutdown(c->app.fd, SHUT_WR);
		c->app.flags |= SIDE_SHUT_WR;
	}
	/* Drain what the app still sends so closing does not turn into a reset that could
	 * destroy the page before the app read it. Bounded per pass: an application that never
	 * stops sending must not hold the loop (every other tunnel) for the whole linger time;
	 * the rest is read on the next pass, until LINGER_USEC ends it. */
	for (i = 0; i < LINGER_READS_PER_STEP && (c->app.flags & SIDE_READABLE); i++) {
		ssize_t n = relay_recv(&c->app, relay_scratch, sizeof(relay_scratch));

		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			if (c->app.flags & SIDE_SHUT_WR)
				relay_conn_close(cl, c, false);
			return;
		}
	}
	if (c->app.flags & SIDE_READABLE)
		relay_mark_ready(c);
}

static void relay_step(struct kg_client *cl, struct relay_conn *c)
{
	int r;

	r = relay_pump(c, &c->app, &c->proxy, &c->to_proxy);
	if (r == 0)
		r = relay_pump(c, &c->proxy, &c->app, &c->to_app);
	if (r < 0) {
		relay_conn_close(cl, c, false);
		return;
	}
	if ((c->app.flags & SIDE_SHUT_WR) && (c->proxy.flags & SIDE_SHUT_WR))
		relay_conn_close(cl, c, false);
}

/* Everything that may make progress on c. */
static void conn_step(struct kg_client *cl, struct relay_conn *c, bool proxy_event)
{
	switch (c->state) {
	case CONN_RELAY:
		relay_step(cl, c);
		break;
	case CONN_FORWARD:
		forward_step(cl, c);
		break;
	case CONN_LINGER:
		linger_step(cl, c);
		break;
	default:
		if (proxy_event)
			tunnel_on_proxy(cl, c);
		else
			tunnel_on_app(cl, c);
		break;
	}
}

static void side_event(struct kg_client *cl, struct relay_side *s, uint32_t ev)
{
	struct relay_conn *c;
	bool proxy = s->src.kind == SRC_PROXY;

	c = proxy ? (struct relay_conn *)((char *)s - offsetof(struct relay_conn, proxy))
		  : (struct relay_conn *)((char *)s - offsetof(struct relay_conn, app));
	if (c->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->flags |= SIDE_READABLE;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->flags |= SIDE_WRITABLE;
	conn_step(cl, c, proxy);
}

static struct relay_conn *conn_alloc(void)
{
	struct relay_conn *c;
	unsigned i;

	if (!loop.free_conns) {
		uint32_t cap = loop.cap + CONN_SLAB;
		struct relay_conn **heap = realloc(loop.heap, cap * sizeof(*heap));
		struct relay_conn *slab;

		/* Each struct is in the timer heap at most once: growing the heap with the pool
		 * means setting a timer never needs memory (nor fails under a caller's feet). */
		if (!heap)
			return NULL;
		loop.heap = heap;
		loop.cap = cap;
		slab = malloc(CONN_SLAB * sizeof(*slab));
		if (!slab)
			return NULL;
		for (i = 0; i < CONN_SLAB; i++) {
			slab[i].next = loop.free_conns;
			loop.free_conns = &slab[i];
		}
	}
	c = loop.free_conns;
	loop.free_conns = c->next;
	memset(c, 0, sizeof(*c));
	return c;
}

/* --- a new connection ----------------------------------------------------------------------- */

void relay_conn_open(struct kg_client *cl, int fd, const uint8_t dst_ip[16], uint16_t dst_port)
{
	struct relay_conn *c = conn_alloc();

	if (!c) {
		close(fd);
		return;
	}
	c->app.src.kind = SRC_APP;
	c->proxy.src.kind = SRC_PROXY;
	c->proxy.fd = -1;
	c->heap_idx = UINT32_MAX;
	memcpy(c->dst_ip, dst_ip, 16);
	c->dst_port = dst_port;
	/* The way out is decided here, once: a refresh of the settings later never moves this
	 * connection to another proxy, or from the proxy to the destination (settings.h). */
	c->set = client_settings_ref(cl->set);
	c->next = cl->conns;
	if (cl->conns)
		cl->conns->prev = c;
	cl->conns = c;
	if (relay_side_open(cl, c, &c->app, fd) < 0) {
		relay_conn_close(cl, c, true);
		return;
	}
	/* Plain HTTP through an http proxy goes request by request (Squid's default refuses
	 * CONNECT to port 80); everything else becomes a tunnel. */
	if (c->set->proxy_type == KG_PROXY_HTTP && c->dst_port == 80)
		forward_begin(cl, c);
	else
		tunnel_accepted(cl, c);
}

void relay_close_all(struct kg_client *cl)
{
	while (cl->conns)
		relay_conn_close(cl, cl->conns, false);
}

/* --- the loop ------------------------------------------------------------------------------- */

void relay_conn_on_auth(struct kg_client *cl, struct auth_job *job)
{
	struct relay_conn *c = job->owner;

	if (c->dead)
		authq_job_free(job);
	else if (c->fwd) /* not its state: a lingering 502 keeps fwd */
		forward_on_auth(cl, c, job);
	else
		tunnel_on_auth(cl, c, job);
}

int relay_watch(struct kg_client *cl, int fd, struct src *src, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = src};

	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void relay_unwatch(struct kg_client *cl, int fd)
{
	epoll_ctl(cl->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int relay_loop_init(struct kg_client *cl)
{
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0)
		return -errno;
	relay_pump_init();
	return 0;
}

static void run_timers(struct kg_client *cl, uint64_t now)
{
	while (loop.n > 0 && loop.heap[0]->deadline <= now) {
		struct relay_conn *c = loop.heap[0];

		heap_remove(c);
		c->deadline = 0;
		if (c->state == CONN_LINGER)
			relay_conn_close(cl, c, false);
		else if (c->state == CONN_FORWARD)
			forward_on_timer(cl, c);
		else
			tunnel_on_timer(cl, c);
	}
}

static void run_ready(struct kg_client *cl)
{
	struct relay_conn *list = loop.ready, *c;

	loop.ready = NULL;
	while ((c = list)) {
		list = c->ready_next;
		c->ready = false;
		if (!c->dead)
			conn_step(cl, c, false);
	}
}

static void bury(void)
{
	struct relay_conn *c, **pp;

	/* A connection may have been marked ready before it closed. */
	for (pp = &loop.ready; (c = *pp);) {
		if (c->dead)
			*pp = c->ready_next;
		else
			pp = &c->ready_next;
	}
	while ((c = loop.graveyard)) {
		loop.graveyard = c->next;
		c->next = loop.free_conns;
		loop.free_conns = c;
	}
}

int relay_loop_run(struct kg_client *cl)
{
	struct epoll_event evs[LOOP_EVENTS];
	int n, i, timeout;

	for (;;) {
		uint64_t now = kg_now_usec(CLOCK_MONOTONIC), next = now + 1000000;

		run_timers(cl, now);
		client_on_tick(cl, now, &next);
		if (cl->stopping && (!cl->conns || now >= cl->stop_deadline))
			break;
		if (loop.n > 0 && loop.heap[0]->deadline < next)
			next = loop.heap[0]->deadline;
		/* STATUS= at most once a second: a burst of connections is one update. */
		if (cl->status_dirty && now >= cl->status_at) {
			client_update_status(cl);
			cl->status_dirty = false;
			cl->status_at = now + 1000000;
		}
		if (cl->status_dirty && cl->status_at < next)
			next = cl->status_at;
		bury();
		timeout = loop.ready ? 0 : (int)(((next > now ? next - now : 0) + 999) / 1000);
		n = epoll_wait(cl->epfd, evs, LOOP_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct src *s = evs[i].data.ptr;

			switch (s->kind) {
			case SRC_LISTENER: {
				struct client_listener *l = (struct client_listener *)s;

				if (l->fd >= 0)
					accept_on_listener(cl, l);
				break;
			}
			case SRC_IPC:
				ipc_client_on_readable(cl);
				break;
			case SRC_SIGNAL:
				client_on_signal(cl);
				break;
			case SRC_AUTHQ:
				authq_on_ready(cl);
				break;
			case SRC_APP:
			case SRC_PROXY:
				side_event(cl, (struct relay_side *)s, evs[i].events);
				break;
			}
		}
		run_ready(cl);
	}
	bury();
	return 0;
}

void relay_loop_run_cleanup(struct kg_client *cl)
{
	bury();
	relay_pump_cleanup();
	free(loop.heap);
	loop.heap = NULL;
	loop.n = loop.cap = 0;
}
