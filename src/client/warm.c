/* Warm proxy connections (see warm.h): the count policy, the pools per proxy endpoint, their
 * sockets on the event loop, their tokens from the Kerberos worker, and the hand-out.
 *
 * Every spare is a socket watched edge-triggered for its connect's completion and then for
 * anything the proxy does to it (bytes, a FIN, a reset: discarded). Spares are freed at the end
 * of the loop pass (kg_loop_defer_free), as connections are: an event already fetched for a
 * spare closed in this pass finds it dead. Refilling runs from the ready list, after the
 * connection that took a spare has gone on its way; one timer ages the spares and empties idle
 * pools, armed only while spares exist.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/client.h"
#include "client/loop.h"
#include "client/tokenless.h"
#include "client/warm.h"
#include "shared/log.h"

/* --- the count policy ------------------------------------------------------------------------ */

/* e^-x for x >= 0 without libm: a short series on x / 2^k, squared k times. */
static double exp_neg(double x)
{
	double y;
	int k = 0;

	if (x > 40.0)
		return 0.0;
	while (x > 0.25) {
		x /= 2.0;
		k++;
	}
	y = 1.0 - x + x * x / 2.0 - x * x * x / 6.0 + x * x * x * x / 24.0;
	while (k-- > 0)
		y *= y;
	return y;
}

double warm_rate_at(const struct warm_rate *r, uint64_t now)
{
	double dt = now > r->at ? (double)(now - r->at) : 0.0;

	return r->per_s * exp_neg(dt / (double)WARM_RATE_TAU);
}

void warm_rate_note(struct warm_rate *r, uint64_t now)
{
	r->per_s = warm_rate_at(r, now) + 1e6 / (double)WARM_RATE_TAU;
	r->at = now;
}

unsigned warm_target(const struct warm_rate *r, uint64_t now, uint64_t last_use, uint64_t idle_usec,
		     unsigned max)
{
	double want;
	unsigned n;

	if (max == 0 || last_use == 0 || now - last_use >= idle_usec)
		return 0;
	want = warm_rate_at(r, now) * (double)WARM_HORIZON / 1e6;
	n = want >= (double)max ? max : (unsigned)want + (want > (double)(unsigned)want);
	return n < 1 ? 1 : n;
}

/* --- the pool -------------------------------------------------------------------------------- */

/* What a FILE: ccache was: a new kinit (or kdestroy) changes it. */
struct cc_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct warm_endpoint;

struct warm_spare {
	struct kg_loop_source src; /* the socket */
	struct kg_loop_deferred grave;
	struct warm_spare *next;
	struct warm_endpoint *ep;
	int fd;
	bool connected, dead;
	uint64_t born;	  /* connect started */
	uint64_t made_at; /* token made */
	struct kg_token_slot tok;
	struct cc_id cc; /* the ccache when the token was made */
};

struct warm_endpoint {
	bool used;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char proxy_host[256];
	char spn[256];
	char ccache[PATH_MAX];
	char cc_path[PATH_MAX]; /* the FILE: ccache's path, "" when it is not a file */
	unsigned max;
	uint64_t idle_usec;
	struct warm_rate rate;
	uint64_t last_use;
	bool proven;		 /* a connection to it succeeded, no spare failed since */
	uint64_t retry_at;	 /* no new spare before (a connect failed) */
	uint64_t tokenless_till; /* spares get no token before (a token failed) */
	struct warm_spare *spares;
	unsigned n;
};

static struct {
	struct kg_client *cl;
	struct warm_endpoint ep[WARM_ENDPOINTS];
	struct kg_loop_timer tick;
	struct kg_loop_ready refill;
	struct warm_stats stats;
	uint8_t k_src, k_grave;
	char env_cc_path[PATH_MAX]; /* KRB5CCNAME's FILE: path, "" none */
	/* The ticket the spares' tokens come from, checked by the worker every WARM_TICKET_CHECK
	 * while spares exist (any type of ccache: KCM, KEYRING too). */
	struct auth_job *ticket_job;
	uint64_t ticket_at;
	bool ticket_known;
	char ticket_id[sizeof(((struct negotiate_ticket *)0)->ccache) +
		       sizeof(((struct negotiate_ticket *)0)->principal) + 32];
} pool;

/* The path of a FILE: ccache name (or a bare path), "" for another type. */
static void cc_path_of(const char *name, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!name || !name[0])
		return;
	if (strncmp(name, "FILE:", 5) == 0)
		name += 5;
	if (name[0] == '/')
		snprintf(buf, len, "%s", name);
}

static void cc_read(const char *path, struct cc_id *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (!path[0] || stat(path, &st) < 0)
		return;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
}

static bool cc_same(const struct cc_id *a, const struct cc_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static uint64_t max_age(const struct warm_endpoint *ep)
{
	return ep->idle_usec < WARM_SPARE_MAX_AGE ? ep->idle_usec : WARM_SPARE_MAX_AGE;
}

/* Close sp (its token with it) and free it at the end of the pass. */
static void spare_drop(struct warm_spare *sp)
{
	struct warm_endpoint *ep = sp->ep;
	struct warm_spare **pp;

	for (pp = &ep->spares; *pp; pp = &(*pp)->next)
		if (*pp == sp) {
			*pp = sp->next;
			break;
		}
	ep->n--;
	sp->dead = true;
	if (sp->fd >= 0) {
		close(sp->fd);
		pool.cl->n_fds--;
	}
	sp->fd = -1;
	kg_token_slot_release(&sp->tok);
	kg_loop_defer_free(&sp->grave);
}

static void bury(struct kg_loop_deferred *d)
{
	free(KG_CONTAINER_OF(d, struct warm_spare, grave));
}

static unsigned ep_flush(struct warm_endpoint *ep)
{
	unsigned n = 0;

	while (ep->spares) {
		spare_drop(ep->spares);
		n++;
	}
	pool.stats.flushed += n;
	return n;
}

/* The pool of ep is emptied and forgets the rate: it starts again at the next connection. */
static void ep_reset(struct warm_endpoint *ep)
{
	ep_flush(ep);
	ep->rate = (struct warm_rate){0};
	ep->last_use = 0;
	ep->proven = false;
}

void warm_flush(struct kg_client *cl, const char *why)
{
	unsigned i, n = 0;

	for (i = 0; i < WARM_ENDPOINTS; i++) {
		n += pool.ep[i].n;
		ep_reset(&pool.ep[i]);
	}
	if (n)
		log_debug("warm: %u spare proxy connection(s) closed: %s", n, why);
	kg_loop_timer_cancel(&pool.tick);
	/* The same events end what is known of proxies that took CONNECTs without a token. */
	if (cl)
		tokenless_forget(&cl->tokenless);
	/* The next spares' ticket is asked for right after their tokens (the worker keeps the
	 * order), and theirs is compared with that. */
	pool.ticket_known = false;
	pool.ticket_at = 0;
}

unsigned warm_spares(void)
{
	unsigned i, n = 0;

	for (i = 0; i < WARM_ENDPOINTS; i++)
		n += pool.ep[i].n;
	return n;
}

const struct warm_stats *warm_stats(void)
{
	return &pool.stats;
}

static void on_token(void *ctx, struct auth_job *job)
{
	struct warm_spare *sp = job->owner;
	uint64_t now = kg_loop_now();

	(void)ctx;
	sp->tok.job = NULL;
	if (job->r == 0) {
		sp->tok.neg = job->ctx;
		sp->tok.token = job->token;
		job->ctx = NULL;
		job->token = NULL;
		sp->made_at = now;
		cc_read(sp->ep->cc_path, &sp->cc);
	} else {
		/* No ticket (or no KDC): the connections ask for their own, and say why. */
		sp->ep->tokenless_till = now + WARM_TOKEN_FAIL_PAUSE;
	}
	authq_job_free(job);
}

static void spare_token(struct warm_spare *sp)
{
	struct warm_endpoint *ep = sp->ep;
	struct authq_request req = {
	    .proxy_host = ep->proxy_host,
	    .spn = ep->spn,
	    .ccache = ep->ccache,
	};

	kg_token_slot_release(&sp->tok); /* no job: none, or it is done */
	sp->made_at = 0;
	if (kg_loop_now() < ep->tokenless_till)
		return;
	sp->tok.job = authq_submit(&req, on_token, sp);
}

static void on_spare_event(struct kg_loop_source *s, uint32_t events)
{
	struct warm_spare *sp = KG_CONTAINER_OF(s, struct warm_spare, src);
	socklen_t len = sizeof(int);
	int err = 0;

	if (sp->dead || (sp->connected && !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))))
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* The proxy said something, closed or reset: never handed out. */
		if (!sp->connected) {
			sp->ep->retry_at = kg_loop_now() + WARM_RETRY_PAUSE;
			sp->ep->proven = false;
		}
		pool.stats.discarded++;
		spare_drop(sp);
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	if (getsockopt(sp->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		sp->ep->retry_at = kg_loop_now() + WARM_RETRY_PAUSE;
		sp->ep->proven = false;
		pool.stats.discarded++;
		spare_drop(sp);
		return;
	}
	sp->connected = true;
}

/* A new spare to ep: 0, or -errno (nothing held). */
static int spare_open(struct warm_endpoint *ep)
{
	struct kg_client *cl = pool.cl;
	struct warm_spare *sp;
	int one = 1, fd;

	if (cl->n_fds + 1 + WARM_FD_HEADROOM > cl->fd_cap)
		return -EMFILE;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(sp);
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(fd, (const struct sockaddr *)&ep->addr, ep->addrlen) < 0 &&
	     errno != EINPROGRESS)) {
		int r = -errno;

		close(fd);
		free(sp);
		ep->retry_at = kg_loop_now() + WARM_RETRY_PAUSE;
		ep->proven = false;
		return r;
	}
	sp->src.kind = pool.k_src;
	sp->grave.kind = pool.k_grave;
	if (kg_loop_add(fd, &sp->src, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		close(fd);
		free(sp);
		return -ENOMEM;
	}
	cl->n_fds++;
	sp->fd = fd;
	sp->ep = ep;
	sp->born = kg_loop_now();
	sp->next = ep->spares;
	ep->spares = sp;
	ep->n++;
	pool.stats.opened++;
	spare_token(sp);
	return 0;
}

/* Age, idleness, and the count: the spares ep should hold at now. */
static void ep_maintain(struct warm_endpoint *ep, uint64_t now)
{
	struct warm_spare *sp, *next;
	unsigned want;

	if (!ep->used)
		return;
	want = pool.cl->route_direct || pool.cl->stopping
		   ? 0
		   : warm_target(&ep->rate, now, ep->last_use, ep->idle_usec, ep->max);
	if (want == 0) {
		if (ep->n)
			log_debug("warm: %u spare connection(s) to %s closed: %s", ep->n,
				  ep->proxy_host,
				  pool.cl->route_direct ? "off the corporate network"
				  : pool.cl->stopping	? "stopping"
							: "idle");
		ep_reset(ep);
		return;
	}
	for (sp = ep->spares; sp; sp = next) {
		next = sp->next;
		if (now - sp->born >= max_age(ep)) {
			pool.stats.discarded++;
			spare_drop(sp);
		} else if (sp->made_at && now - sp->made_at >= WARM_TOKEN_MAX_AGE) {
			spare_token(sp); /* a fresh one, the old one never sent */
		}
	}
	while (ep->proven && ep->n < want && now >= ep->retry_at && spare_open(ep) == 0)
		;
}

static void on_ticket(void *ctx, struct auth_job *job)
{
	char id[sizeof(pool.ticket_id)];
	bool known = job->r == 0;

	(void)ctx;
	pool.ticket_job = NULL;
	pool.ticket_at = kg_loop_now();
	if (known)
		snprintf(id, sizeof(id), "%s %s %lld", job->ticket->ccache, job->ticket->principal,
			 (long long)job->ticket->tgt_end);
	if (pool.ticket_known && (!known || strcmp(id, pool.ticket_id) != 0))
		warm_flush(pool.cl, "the Kerberos ticket changed");
	else if (known && !pool.ticket_known && pool.cl)
		tokenless_forget(&pool.cl->tokenless); /* a first ticket: tokens again */
	pool.ticket_known = known;
	if (known)
		snprintf(pool.ticket_id, sizeof(pool.ticket_id), "%s", id);
	authq_job_free(job);
}

/* Ask the worker what the ticket is now, when due. */
static void ticket_check(uint64_t now)
{
	struct authq_request req;
	unsigned i;

	if (pool.ticket_job || now - pool.ticket_at < WARM_TICKET_CHECK)
		return;
	for (i = 0; i < WARM_ENDPOINTS && !pool.ep[i].n; i++)
		;
	if (i == WARM_ENDPOINTS)
		return;
	req = (struct authq_request){
	    .proxy_host = pool.ep[i].proxy_host,
	    .spn = pool.ep[i].spn,
	    .ccache = pool.ep[i].ccache,
	};
	pool.ticket_job = authq_submit_ticket(&req, on_ticket);
}

static void maintain(void)
{
	uint64_t now = kg_loop_now();
	unsigned i;

	for (i = 0; i < WARM_ENDPOINTS; i++)
		ep_maintain(&pool.ep[i], now);
	if (warm_spares()) {
		ticket_check(now);
		(void)kg_loop_timer_arm(&pool.tick, now + WARM_TICK);
	} else {
		kg_loop_timer_cancel(&pool.tick);
		pool.ticket_known = false;
		pool.ticket_at = 0;
	}
}

static void on_tick(struct kg_loop_timer *t)
{
	(void)t;
	maintain();
}

static void on_refill(struct kg_loop_ready *r)
{
	(void)r;
	maintain();
}

static bool ep_is(const struct warm_endpoint *ep, const struct warm_key *k)
{
	return ep->used && ep->addrlen == k->addrlen &&
	       memcmp(&ep->addr, k->addr, k->addrlen) == 0 &&
	       strcmp(ep->proxy_host, k->proxy_host) == 0 && strcmp(ep->spn, k->spn) == 0 &&
	       strcmp(ep->ccache, k->ccache) == 0;
}

/* The endpoint of k: its own, a free one, or the one unused longest (emptied). NULL when k
 * does not fit. */
static struct warm_endpoint *ep_of(const struct warm_key *k)
{
	struct warm_endpoint *ep, *oldest = NULL;
	unsigned i;

	for (i = 0; i < WARM_ENDPOINTS; i++) {
		ep = &pool.ep[i];
		if (ep_is(ep, k))
			return ep;
		if (!oldest || !ep->used || (oldest->used && ep->last_use < oldest->last_use))
			oldest = ep;
	}
	if ((size_t)k->addrlen > sizeof(oldest->addr) ||
	    strlen(k->proxy_host) >= sizeof(oldest->proxy_host) ||
	    strlen(k->spn) >= sizeof(oldest->spn) || strlen(k->ccache) >= sizeof(oldest->ccache))
		return NULL;
	ep = oldest;
	ep_reset(ep);
	memset(ep, 0, sizeof(*ep));
	ep->used = true;
	memcpy(&ep->addr, k->addr, k->addrlen);
	ep->addrlen = k->addrlen;
	snprintf(ep->proxy_host, sizeof(ep->proxy_host), "%s", k->proxy_host);
	snprintf(ep->spn, sizeof(ep->spn), "%s", k->spn);
	snprintf(ep->ccache, sizeof(ep->ccache), "%s", k->ccache);
	if (k->ccache[0])
		cc_path_of(k->ccache, ep->cc_path, sizeof(ep->cc_path));
	else
		snprintf(ep->cc_path, sizeof(ep->cc_path), "%s", pool.env_cc_path);
	return ep;
}

/* Whether the proxy has left sp's socket alone: nothing to read, no FIN, no error. */
static bool spare_quiet(const struct warm_spare *sp)
{
	uint8_t b;
	ssize_t n = recv(sp->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The oldest usable spare of ep, NULL when none; unusable ones met on the way are dropped. */
static struct warm_spare *pick(struct warm_endpoint *ep, uint64_t now)
{
	struct warm_spare *sp, *next, *best = NULL;

	for (sp = ep->spares; sp; sp = next) {
		next = sp->next;
		if (!sp->connected)
			continue;
		if (now - sp->born >= max_age(ep) || !spare_quiet(sp)) {
			pool.stats.discarded++;
			spare_drop(sp);
			continue;
		}
		if (!best || sp->born < best->born)
			best = sp;
	}
	return best;
}

static int take(struct kg_client *cl, const struct warm_key *k, struct warm_handout *h)
{
	uint64_t now = kg_loop_now();
	struct warm_endpoint *ep;
	struct warm_spare *sp;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct cc_id cc;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if (k->max == 0 || cl->route_direct || cl->stopping) {
		for (unsigned i = 0; i < WARM_ENDPOINTS; i++)
			if (pool.ep[i].used && (cl->route_direct || ep_is(&pool.ep[i], k)))
				ep_reset(&pool.ep[i]);
		return 0;
	}
	ep = ep_of(k);
	if (!ep)
		return 0;
	ep->max = k->max;
	ep->idle_usec = (uint64_t)k->idle_s * 1000000ull;
	warm_rate_note(&ep->rate, now);
	ep->last_use = now;
	if (ep->proven && !kg_loop_ready_queued(&pool.refill))
		kg_loop_ready_mark(&pool.refill);
	sp = pick(ep, now);
	if (sp && sp->tok.token && ep->cc_path[0]) {
		cc_read(ep->cc_path, &cc);
		if (!cc_same(&cc, &sp->cc)) {
			/* A new kinit, a kdestroy: no token made before it goes out. */
			warm_flush(cl, "the Kerberos credential cache changed");
			ep->last_use = now; /* the pool starts again with this connection */
			warm_rate_note(&ep->rate, now);
			pool.stats.missed++;
			return 0;
		}
	}
	if (!sp) {
		pool.stats.missed++;
		return 0;
	}
	/* Taken out of the pool: the caller watches the socket now. */
	kg_loop_del(sp->fd);
	h->fd = sp->fd;
	sp->fd = -1;
	cl->n_fds--;
	if (getsockname(h->fd, (struct sockaddr *)&ss, &sl) == 0)
		h->local_port =
		    ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	if (sp->tok.token && now - sp->made_at < WARM_TOKEN_MAX_AGE) {
		h->tok.neg = sp->tok.neg;
		h->tok.token = sp->tok.token;
		sp->tok.neg = NULL;
		sp->tok.token = NULL;
	} else if (sp->tok.job) {
		h->tok.job = sp->tok.job;
		sp->tok.job = NULL;
	}
	pool.stats.handed++;
	spare_drop(sp);
	log_debug("warm: spare connection to %s handed out (local port %u, token %s), %u left; "
		  "%llu handed out, %llu opened",
		  ep->proxy_host, h->local_port,
		  h->tok.token ? "made"
		  : h->tok.job ? "being made"
			       : "none",
		  ep->n, (unsigned long long)pool.stats.handed,
		  (unsigned long long)pool.stats.opened);
	return 1;
}

static void connected(struct kg_client *cl, const struct warm_key *k)
{
	struct warm_endpoint *ep;

	if (k->max == 0 || cl->route_direct || cl->stopping)
		return;
	ep = ep_of(k);
	if (!ep || ep->proven)
		return;
	ep->proven = true;
	ep->max = k->max;
	ep->idle_usec = (uint64_t)k->idle_s * 1000000ull;
	ep->retry_at = 0;
	if (ep->last_use && !kg_loop_ready_queued(&pool.refill))
		kg_loop_ready_mark(&pool.refill);
}

static const struct warm_iface iface = {
    .take = take,
    .connected = connected,
    .flush = warm_flush,
};

void warm_init(struct kg_client *cl)
{
	const char *env = getenv("KRB5CCNAME");

	pool.cl = cl;
	pool.k_src = kg_loop_source_kind(on_spare_event);
	pool.k_grave = kg_loop_deferred_kind(bury);
	pool.tick.kind = kg_loop_timer_kind(on_tick);
	pool.refill.kind = kg_loop_ready_kind(on_refill);
	cc_path_of(env, pool.env_cc_path, sizeof(pool.env_cc_path));
	cl->warm = &iface;
}

void warm_cleanup(struct kg_client *cl)
{
	unsigned i;

	if (!pool.cl)
		return;
	for (i = 0; i < WARM_ENDPOINTS; i++)
		ep_reset(&pool.ep[i]);
	memset(pool.ep, 0, sizeof(pool.ep));
	kg_loop_timer_cancel(&pool.tick);
	kg_loop_ready_cancel(&pool.refill);
	if (pool.ticket_job)
		authq_cancel(pool.ticket_job);
	pool.ticket_job = NULL;
	cl->warm = NULL;
}
