/* Connections: the pool, opening and closing, the timer and the ready list through the loop,
 * and the two states conn.c runs itself, relay and linger (see conn.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/conn.h"

/* Reads of what a lingering application still sends, per pass of the loop: 1 MiB. */
#define LINGER_READS_PER_STEP 16

#define CONN_SLAB 256 /* relay_conn structs per pool allocation */

/* State tables at most: relay, linger and the starting ones (tunnel, forward, tests'). */
#define CONN_TABLES 8

static void on_app_event(struct kg_loop_source *s, uint32_t ev);
static void on_proxy_event(struct kg_loop_source *s, uint32_t ev);
static void on_timer(struct kg_loop_timer *t);
static void on_ready(struct kg_loop_ready *r);
static void bury(struct kg_loop_deferred *d);

static struct {
	struct kg_client *cl;
	const struct conn_ops *(*way_out)(struct kg_client *cl, const struct relay_conn *c);
	/* pool: long-lived structs kept dense, away from the short-lived setup allocations that
	 * would pin their pages */
	struct relay_conn *free_conns;
	/* closed in this pass, linked through next: back to the pool once the pass is over */
	struct relay_conn *graveyard;
	struct kg_loop_deferred flush;
	/* the state tables, by the one-byte index a connection keeps (tables[0]: none) */
	const struct conn_ops *tables[CONN_TABLES];
	uint8_t n_tables;
	uint8_t k_app, k_proxy, k_timer, k_ready; /* the loop's kinds of our callbacks */
} pool;

void conn_init(struct kg_client *cl,
	       const struct conn_ops *(*way_out)(struct kg_client *cl, const struct relay_conn *c))
{
	pool.cl = cl;
	pool.way_out = way_out;
	pool.flush.kind = kg_loop_deferred_kind(bury);
	pool.k_app = kg_loop_source_kind(on_app_event);
	pool.k_proxy = kg_loop_source_kind(on_proxy_event);
	pool.k_timer = kg_loop_timer_kind(on_timer);
	pool.k_ready = kg_loop_ready_kind(on_ready);
	if (!pool.n_tables)
		pool.n_tables = 1;
}

/* A connection keeps its tables as one-byte indexes (idle tunnels are many). */
static uint8_t table_index(const struct conn_ops *t)
{
	uint8_t i;

	for (i = 1; i < pool.n_tables; i++)
		if (pool.tables[i] == t)
			return i;
	if (pool.n_tables == CONN_TABLES)
		abort(); /* a program error: more state tables than CONN_TABLES */
	pool.tables[pool.n_tables] = t;
	return pool.n_tables++;
}

const struct conn_ops *conn_ops_of(const struct relay_conn *c)
{
	return pool.tables[c->ops];
}

static const struct conn_ops *owner_of(const struct relay_conn *c)
{
	return pool.tables[c->owner];
}

/* --- sockets ---------------------------------------------------------------------------------- */

int relay_side_open(struct kg_client *cl, struct relay_conn *c, struct relay_side *s, int fd)
{
	int one = 1;

	(void)c;
	s->fd = fd;
	s->flags = SIDE_READABLE | SIDE_WRITABLE;
	cl->n_fds++;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return kg_loop_add(fd, &s->src, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

void relay_side_close(struct kg_client *cl, struct relay_side *s)
{
	if (s->fd < 0)
		return;
	relay_side_drop_tls(s);
	close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
	s->flags = 0;
	cl->n_fds--;
}

void relay_set_timer(struct kg_client *cl, struct relay_conn *c, uint64_t deadline)
{
	(void)cl;
	if (!deadline) {
		kg_loop_timer_cancel(&c->timer);
		c->timer.deadline = 0;
		return;
	}
	/* Cannot fail: conn_alloc() reserved a heap slot for every connection struct. */
	(void)kg_loop_timer_arm(&c->timer, deadline);
}

void relay_mark_ready(struct relay_conn *c)
{
	if (!c->dead)
		kg_loop_ready_mark(&c->ready);
}

/* --- connections ------------------------------------------------------------------------------ */

void relay_conn_close(struct kg_client *cl, struct relay_conn *c, bool failed)
{
	if (c->dead)
		return;
	c->dead = true;
	kg_loop_timer_cancel(&c->timer);
	kg_loop_ready_cancel(&c->ready);
	relay_side_close(cl, &c->app);
	relay_side_close(cl, &c->proxy);
	relay_buf_free(&c->to_app);
	relay_buf_free(&c->to_proxy);
	if (c->owner)
		owner_of(c)->free(c);
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
	if (!pool.graveyard)
		kg_loop_defer_free(&pool.flush);
	c->next = pool.graveyard;
	pool.graveyard = c;
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

void conn_close_all(struct kg_client *cl)
{
	while (cl->conns)
		relay_conn_close(cl, cl->conns, false);
}

void relay_conn_on_auth(void *ctx, struct auth_job *job)
{
	struct kg_client *cl = ctx;
	struct relay_conn *c = job->owner;

	if (c->dead)
		authq_job_free(job);
	else
		conn_ops_of(c)->on_auth(cl, c, job);
}

/* --- relay and linger ------------------------------------------------------------------------- */

static void relay_step(struct kg_client *cl, struct relay_conn *c)
{
	int up, down = 0;

	up = pump_move(&c->app, &c->proxy, &c->to_proxy);
	if (up >= 0)
		down = pump_move(&c->proxy, &c->app, &c->to_app);
	if (up < 0 || down < 0) {
		relay_conn_close(cl, c, false);
		return;
	}
	if ((c->app.flags & SIDE_SHUT_WR) && (c->proxy.flags & SIDE_SHUT_WR)) {
		relay_conn_close(cl, c, false);
		return;
	}
	if (up > 0 || down > 0)
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
	 * the rest is read on the next pass, until CONN_LINGER_USEC ends it. */
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

static void linger_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	relay_conn_close(cl, c, false);
}

/* Relay and linger keep what the starting table hung on c (a lingering 502 keeps fwd). */
static void owner_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job)
{
	owner_of(c)->on_auth(cl, c, job);
}

static void owner_free(struct relay_conn *c)
{
	owner_of(c)->free(c);
}

/* A relay state has no timer (relay_start cancels it). */
static void relay_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	(void)cl;
	(void)c;
}

static const struct conn_ops relay_ops = {
    .on_app = relay_step,
    .on_upstream = relay_step,
    .on_timer = relay_on_timer,
    .on_auth = owner_on_auth,
    .free = owner_free,
};

static const struct conn_ops linger_ops = {
    .on_app = linger_step,
    .on_upstream = linger_step,
    .on_timer = linger_on_timer,
    .on_auth = owner_on_auth,
    .free = owner_free,
};

void relay_start(struct kg_client *cl, struct relay_conn *c)
{
	owner_of(c)->free(c); /* the set-up is over */
	c->setup = NULL;
	c->state = CONN_RELAY;
	c->ops = table_index(&relay_ops);
	relay_set_timer(cl, c, 0);
	relay_count_active(cl, c);
	relay_mark_ready(c);
}

void relay_linger(struct kg_client *cl, struct relay_conn *c)
{
	relay_side_close(cl, &c->proxy);
	relay_buf_free(&c->to_proxy);
	c->state = CONN_LINGER;
	c->ops = table_index(&linger_ops);
	relay_set_timer(cl, c, kg_loop_now() + CONN_LINGER_USEC);
	relay_mark_ready(c);
}

/* --- events ----------------------------------------------------------------------------------- */

static void side_flags(struct relay_side *s, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->flags |= SIDE_READABLE;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->flags |= SIDE_WRITABLE;
}

static void on_app_event(struct kg_loop_source *s, uint32_t ev)
{
	struct relay_conn *c = KG_CONTAINER_OF(s, struct relay_conn, app.src);

	if (c->dead)
		return;
	side_flags(&c->app, ev);
	conn_ops_of(c)->on_app(pool.cl, c);
}

static void on_proxy_event(struct kg_loop_source *s, uint32_t ev)
{
	struct relay_conn *c = KG_CONTAINER_OF(s, struct relay_conn, proxy.src);

	if (c->dead)
		return;
	side_flags(&c->proxy, ev);
	conn_ops_of(c)->on_upstream(pool.cl, c);
}

static void on_timer(struct kg_loop_timer *t)
{
	struct relay_conn *c = KG_CONTAINER_OF(t, struct relay_conn, timer);

	c->timer.deadline = 0;
	conn_ops_of(c)->on_timer(pool.cl, c);
}

static void on_ready(struct kg_loop_ready *r)
{
	struct relay_conn *c = KG_CONTAINER_OF(r, struct relay_conn, ready);

	if (!c->dead)
		conn_ops_of(c)->on_app(pool.cl, c);
}

/* The pass is over: no event fetched in it can still reach the connections closed in it. */
static void bury(struct kg_loop_deferred *d)
{
	struct relay_conn *c;

	(void)d;
	while ((c = pool.graveyard)) {
		pool.graveyard = c->next;
		c->next = pool.free_conns;
		pool.free_conns = c;
	}
}

/* --- a new connection ------------------------------------------------------------------------- */

static struct relay_conn *conn_alloc(void)
{
	struct relay_conn *c;
	unsigned i;

	if (!pool.free_conns) {
		struct relay_conn *slab;

		/* Each struct is in the timer heap at most once: growing the heap with the pool
		 * means setting a timer never needs memory (nor fails under a caller's feet). */
		if (kg_loop_timer_reserve(CONN_SLAB) < 0)
			return NULL;
		slab = malloc(CONN_SLAB * sizeof(*slab));
		if (!slab)
			return NULL;
		for (i = 0; i < CONN_SLAB; i++) {
			slab[i].next = pool.free_conns;
			pool.free_conns = &slab[i];
		}
	}
	c = pool.free_conns;
	pool.free_conns = c->next;
	memset(c, 0, sizeof(*c));
	return c;
}

void relay_conn_open(struct kg_client *cl, int fd, const uint8_t dst_ip[16], uint16_t dst_port)
{
	struct relay_conn *c = conn_alloc();

	if (!c) {
		close(fd);
		return;
	}
	c->app.src.kind = pool.k_app;
	c->proxy.src.kind = pool.k_proxy;
	c->proxy.fd = -1;
	c->timer.kind = pool.k_timer;
	c->ready.kind = pool.k_ready;
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
	c->ops = c->owner = table_index(pool.way_out(cl, c));
	conn_ops_of(c)->start(cl, c);
}
