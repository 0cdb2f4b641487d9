/* The PAC engine: a worker thread owning the evaluator and the DNS cache, a bounded queue of
 * requests in, answers out through an eventfd (see pac_engine.h).
 */
#include "client/route/pac_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/route/pac_proc.h"
#include "shared/log.h"

enum job_kind { JOB_FIND, JOB_LOAD, JOB_FLUSH };

struct pac_job {
	struct pac_job *next;
	enum job_kind kind;
	pac_engine_done_fn *done; /* NULL: cancelled, dropped at dispatch */
	void *ud;
	bool queued, cancelled; /* under the lock */
	bool quiet;		/* alerts dropped (pac_engine_query.quiet) */
	bool flying;		/* under the lock: in the evaluator's pipeline */
	char *url, *host;	/* packed after the struct */
	struct kg_pac_addr dst;
	uint16_t dst_port;
	char *pac; /* JOB_LOAD */
	size_t pac_len;
	/* results */
	int status;
	struct kg_route route;
	char why[PAC_ENGINE_WHY_MAX];
	char (*alerts)[KG_PAC_TEXT_MAX + 1];
	unsigned nalerts;
	/* while in the evaluator's pipeline (the worker's) */
	struct pac_engine *e;
	int64_t dns_deadline; /* monotonic ms */
	bool dns_over;	      /* it asked for a name after its DNS budget was spent */
};

struct pac_engine {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, quit;
	bool idle; /* the worker waits for work (a signal is needed) */
	int efd;
	unsigned queue_max, n_pending;
	struct pac_job *pending, **pending_tail;
	struct pac_job *done, **done_tail;
	struct pac_engine_stats stats; /* under the lock */

	pac_engine_load_fn *on_load;
	pac_engine_alert_fn *on_alert;
	void *ud;

	/* the worker's own */
	struct kg_pac_proc *proc;
	struct kg_dns_cache *dns;
	unsigned dns_budget_ms;
	bool resolve_proxies; /* opts.resolve_proxies */
	bool uses_my_ip;      /* the loaded PAC mentions myIpAddress */
	int udp[2];	      /* for myIpAddress: IPv4, IPv6 (source_addr) */
	struct pac_job *cur;  /* the load being run, for alerts (finds: the pipeline's head) */
	struct kg_pac_find q;
	char out[KG_PAC_RESULT_MAX + 1];
	/* answered jobs not handed to the loop yet, and what they add to the stats */
	struct pac_job *fin, **fin_tail;
	unsigned long fin_finds, fin_failures;
	bool cancel_flying; /* under the lock: a job in the pipeline was cancelled */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void job_free(struct pac_job *j)
{
	if (!j)
		return;
	free(j->alerts);
	free(j->pac);
	free(j);
}

/* ---- the worker ---- */

static void on_proc_alert(void *ud, const char *msg)
{
	struct pac_engine *e = ud;
	struct pac_job *j = e->cur ? e->cur : kg_pac_proc_head_tag(e->proc);
	if (!j || j->quiet || j->nalerts >= KG_PAC_ALERTS_MAX)
		return;
	if (!j->alerts && !(j->alerts = calloc(KG_PAC_ALERTS_MAX, sizeof(*j->alerts))))
		return;
	snprintf(j->alerts[j->nalerts++], sizeof(j->alerts[0]), "%s", msg);
}

static void resolve(void *ud, struct kg_pac_dns_entry *ent)
{
	struct pac_job *j = ud;
	ent->naddr = 0;
	if (mono_ms() >= j->dns_deadline) {
		j->dns_over = true; /* this request spent its DNS budget */
		return;
	}
	(void)kg_dns_cache_resolve(j->e->dns, ent->host, ent->addr, &ent->naddr, NULL);
}

/* pac_engine_source_addr, with a UDP socket per family kept in *fds ({-1, -1} at first) and
 * used again: AF_UNSPEC first drops the previous association and the source it fixed, so the
 * next connect picks the source afresh. 3 system calls instead of 4 per request. fds NULL:
 * a socket of its own. */
static int source_addr(int *fds, const struct kg_pac_addr *dst, uint16_t port,
		       struct kg_pac_addr *out)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} a = {0};
	socklen_t alen;
	memset(out, 0, sizeof(*out));
	if (port == 0)
		port = 9; /* any port routes the same; 0 cannot be connected to */
	if (dst->family == 4 || (dst->family == 6 && memcmp(dst->bytes, mapped, 12) == 0)) {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		memcpy(&a.in.sin_addr, dst->family == 4 ? dst->bytes : dst->bytes + 12, 4);
		alen = sizeof(a.in);
	} else if (dst->family == 6) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		memcpy(&a.in6.sin6_addr, dst->bytes, 16);
		alen = sizeof(a.in6);
	} else {
		return -EINVAL;
	}
	int *kept = fds ? &fds[a.sa.sa_family == AF_INET ? 0 : 1] : NULL;
	int fd = kept && *kept >= 0 ? *kept : socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (kept && *kept >= 0) {
		struct sockaddr none = {.sa_family = AF_UNSPEC};
		if (connect(fd, &none, sizeof(none)) < 0)
			r = -errno;
	}
	if (r == 0 && (connect(fd, &a.sa, alen) < 0 || getsockname(fd, &a.sa, &alen) < 0))
		r = -errno;
	if (kept && r == 0) {
		*kept = fd;
	} else {
		close(fd); /* not kept, or in a state not worth reasoning about */
		if (kept)
			*kept = -1;
	}
	if (r < 0)
		return r;
	if (a.sa.sa_family == AF_INET) {
		out->family = 4;
		memcpy(out->bytes, &a.in.sin_addr, 4);
	} else {
		out->family = 6;
		memcpy(out->bytes, &a.in6.sin6_addr, 16);
	}
	return 0;
}

int pac_engine_source_addr(const struct kg_pac_addr *dst, uint16_t port, struct kg_pac_addr *out)
{
	return source_addr(NULL, dst, port, out);
}

static void run_load(struct pac_engine *e, struct pac_job *j)
{
	j->status = kg_pac_proc_load(e->proc, j->pac, j->pac_len, j->why, sizeof(j->why));
	e->uses_my_ip = j->status == 0 && memmem(j->pac, j->pac_len, "myIpAddress", 11);
	free(j->pac);
	j->pac = NULL;
}

/* The addresses of the route's proxies, so the relay connects without a lookup on its loop:
 * through the cache (its TTLs), within a DNS budget of their own (a PAC that spent its budget
 * on dnsResolve still gets its proxies resolved). A name that does not resolve, or is not
 * reached before the budget ends, keeps family 0: the relay counts that proxy as failed. The
 * first address is used, A before AAAA, as the connect took getaddrinfo's first. */
static void resolve_proxies(struct pac_engine *e, struct kg_route *r)
{
	int64_t deadline = mono_ms() + e->dns_budget_ms;

	for (size_t i = 0; i < r->n; i++) {
		struct kg_route_entry *en = &r->e[i];
		struct kg_pac_addr addr[KG_PAC_DNS_ADDRS_MAX];
		uint8_t n = 0;
		char host[KG_HOST_MAX];
		size_t len = strlen(en->host);

		memset(&en->addr, 0, sizeof(en->addr));
		if (en->kind == KG_ROUTE_DIRECT || len == 0)
			continue;
		if (en->host[0] == '[' && en->host[len - 1] == ']') /* an IPv6 literal */
			snprintf(host, sizeof(host), "%.*s", (int)(len - 2), en->host + 1);
		else
			snprintf(host, sizeof(host), "%s", en->host);
		if (kg_dns_cache_peek(e->dns, host, addr, &n) == -EAGAIN && mono_ms() < deadline)
			(void)kg_dns_cache_resolve(e->dns, host, addr, &n, NULL);
		if (n > 0)
			en->addr = addr[0];
	}
	r->resolved = true;
}

/* An answered job waits in e->fin until the worker hands a batch to the loop. */
static void finished(struct pac_engine *e, struct pac_job *j)
{
	if (j->kind == JOB_FIND) {
		e->fin_finds++;
		if (j->status < 0)
			e->fin_failures++;
	}
	j->next = NULL;
	*e->fin_tail = j;
	e->fin_tail = &j->next;
}

/* Puts a find into the evaluator's pipeline (or answers it at once when it cannot go). */
static void start_find(struct pac_engine *e, struct pac_job *j)
{
	struct kg_pac_find *q = &e->q;
	memset(q, 0, offsetof(struct kg_pac_find, dns) + sizeof(q->dns[0]));
	q->url = j->url;
	q->host = j->host;
	if (e->uses_my_ip)
		(void)source_addr(e->udp, &j->dst, j->dst_port, &q->my_ip);
	time_t now = time(NULL);
	struct tm tm;
	q->now = now;
	if (localtime_r(&now, &tm) && tm.tm_gmtoff >= -KG_PAC_TZ_OFFSET_MAX &&
	    tm.tm_gmtoff <= KG_PAC_TZ_OFFSET_MAX)
		q->tz_offset = (int32_t)tm.tm_gmtoff;
	/* Most PACs ask about the request's own host: when the cache knows it, it travels with
	 * the request and saves the evaluator a NEED_DNS round (never a lookup here: the PAC may
	 * not ask at all). */
	struct kg_pac_dns_entry *d = &q->dns[0];
	int p = kg_dns_cache_peek(e->dns, j->host, d->addr, &d->naddr);
	if (p == 0 || p == -ENOENT) {
		d->host = j->host;
		q->ndns = 1;
	}
	j->e = e;
	j->dns_deadline = mono_ms() + e->dns_budget_ms;
	j->dns_over = false;
	int r = kg_pac_proc_submit(e->proc, q, resolve, j, j, e->out, sizeof(e->out));
	if (r < 0) {
		j->status = r;
		snprintf(j->why, sizeof(j->why), "%s", e->out);
		finished(e, j);
	}
}

/* A find's answer from the evaluator (r and e->out, as kg_pac_proc_complete). */
static void finish_find(struct pac_engine *e, struct pac_job *j, int r)
{
	if (r != KG_PAC_PROC_RESULT) {
		j->status = r < 0 ? r : -EPROTO;
		snprintf(j->why, sizeof(j->why), "%s", e->out);
		finished(e, j);
		return;
	}
	char err[KG_ROUTE_ERR_MAX];
	j->status = 0;
	int p = kg_route_parse_pac(e->out, strlen(e->out), &j->route, err, sizeof(err));
	if (p < 0) {
		char shown[96];
		kg_pac_sanitize(e->out, strlen(e->out), shown, sizeof(shown));
		snprintf(j->why, sizeof(j->why),
			 "PAC answered \"%s\" for %s: %s; going DIRECT as browsers do", shown,
			 j->host, err);
		memset(&j->route, 0, sizeof(j->route));
		j->route.n = 1;
		j->route.e[0].kind = KG_ROUTE_DIRECT;
	} else {
		if (e->resolve_proxies)
			resolve_proxies(e, &j->route);
		if (j->route.skipped || j->route.truncated || j->dns_over)
			snprintf(j->why, sizeof(j->why), "PAC answer for %s:%s%s%s", j->host,
				 j->route.skipped ? " SOCKS/QUIC entries skipped" : "",
				 j->route.truncated ? " entries beyond the first 16 dropped" : "",
				 j->dns_over
				     ? " DNS lookups took too long, later names did not resolve"
				     : "");
	}
	finished(e, j);
}

/* Under the lock: the answered jobs go to the loop (one eventfd write for the batch), their
 * counts to the stats. */
static void publish(struct pac_engine *e)
{
	uint64_t one = 1;
	for (struct pac_job *j = e->fin; j; j = j->next)
		j->flying = false;
	if (e->cancel_flying) {
		/* Cancelled while waiting in the pipeline: not evaluated when it can be helped
		 * (one being evaluated completes; its answer is dropped at dispatch). */
		void *tags[KG_PAC_PROC_PIPELINE_MAX];
		unsigned n = kg_pac_proc_tags(e->proc, tags, KG_PAC_PROC_PIPELINE_MAX);
		for (unsigned i = 0; i < n; i++) {
			struct pac_job *j = tags[i];
			if (j->cancelled && kg_pac_proc_drop(e->proc, j))
				job_free(j);
		}
		e->cancel_flying = false;
	}
	e->stats.finds += e->fin_finds;
	e->stats.failures += e->fin_failures;
	e->fin_finds = e->fin_failures = 0;
	e->stats.evaluator_restarts = kg_pac_proc_restarts(e->proc);
	kg_dns_cache_get_stats(e->dns, &e->stats.dns);
	if (!e->fin)
		return;
	bool wake = !e->done; /* else the loop was woken already and has not looked yet */
	*e->done_tail = e->fin;
	e->done_tail = e->fin_tail;
	e->fin = NULL;
	e->fin_tail = &e->fin;
	if (wake)
		(void)!write(e->efd, &one, sizeof(one));
}

/* Under the lock: takes queued finds, at most room, up to the next load or flush (which
 * wait for the pipeline to empty: requests before a load are answered by the PAC before). */
static struct pac_job *take_finds(struct pac_engine *e, unsigned room)
{
	struct pac_job *first = NULL, **tail = &first;
	while (room > 0 && e->pending && e->pending->kind == JOB_FIND) {
		struct pac_job *j = e->pending;
		e->pending = j->next;
		if (!e->pending)
			e->pending_tail = &e->pending;
		j->queued = false;
		j->next = NULL;
		if (j->cancelled) {
			job_free(j); /* its connection is gone, and no longer counted */
			continue;
		}
		e->n_pending--;
		j->flying = true;
		*tail = j;
		tail = &j->next;
		room--;
	}
	return first;
}

/* Runs finds through the evaluator's pipeline, topping it up from the queue whenever the
 * answers read so far are handed out, until it is empty (or the engine quits). Called and
 * returns with the lock held. */
static void run_finds(struct pac_engine *e)
{
	struct pac_job *batch = take_finds(e, KG_PAC_PROC_PIPELINE_MAX);
	for (;;) {
		pthread_mutex_unlock(&e->lock);
		while (batch) {
			struct pac_job *j = batch;
			batch = j->next;
			start_find(e, j);
		}
		while (kg_pac_proc_in_flight(e->proc) > 0) {
			void *tag;
			int r = kg_pac_proc_complete(e->proc, &tag, e->out, sizeof(e->out));
			if (tag) /* NULL: the last ones in flight were dropped */
				finish_find(e, tag, r);
			if (!kg_pac_proc_answer_waiting(e->proc))
				break; /* hand out what is answered before waiting again */
		}
		pthread_mutex_lock(&e->lock);
		publish(e);
		unsigned flying = kg_pac_proc_in_flight(e->proc);
		if (e->quit) {
			void *tags[KG_PAC_PROC_PIPELINE_MAX];
			unsigned n = kg_pac_proc_abandon(e->proc, tags, KG_PAC_PROC_PIPELINE_MAX);
			for (unsigned i = 0; i < n; i++)
				job_free(tags[i]);
			return;
		}
		batch = take_finds(e, KG_PAC_PROC_PIPELINE_MAX - flying);
		if (!batch && flying == 0)
			return;
	}
}

static void *worker(void *arg)
{
	struct pac_engine *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->pending && !e->quit) {
			e->idle = true;
			pthread_cond_wait(&e->wake, &e->lock);
			e->idle = false;
		}
		if (e->quit)
			break;
		struct pac_job *j = e->pending;
		if (j->kind == JOB_FIND) {
			run_finds(e);
			continue;
		}
		e->pending = j->next;
		if (!e->pending)
			e->pending_tail = &e->pending;
		j->queued = false;
		pthread_mutex_unlock(&e->lock);

		e->cur = j;
		if (j->kind == JOB_LOAD)
			run_load(e, j);
		else
			kg_dns_cache_flush(e->dns);
		e->cur = NULL;
		finished(e, j);

		pthread_mutex_lock(&e->lock);
		publish(e);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- the loop thread's side ---- */

struct pac_engine *pac_engine_new(const struct pac_engine_opts *o, char *err, size_t errlen)
{
	struct pac_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	e->efd = -1;
	e->udp[0] = e->udp[1] = -1;
	e->pending_tail = &e->pending;
	e->done_tail = &e->done;
	e->fin_tail = &e->fin;
	e->queue_max = o->queue_max ? o->queue_max : PAC_ENGINE_QUEUE_MAX;
	e->dns_budget_ms = o->dns_budget_ms ? o->dns_budget_ms : PAC_ENGINE_DNS_BUDGET;
	e->resolve_proxies = o->resolve_proxies;
	e->on_load = o->on_load;
	e->on_alert = o->on_alert;
	e->ud = o->ud;
	struct kg_pac_proc_opts po = {
	    .path = o->evaluator,
	    .find_timeout_ms = o->find_timeout_ms,
	    .load_timeout_ms = o->load_timeout_ms,
	    .on_alert = on_proc_alert,
	    .ud = e,
	};
	if (!(e->dns = kg_dns_cache_new(o->dns, err, errlen)))
		goto fail;
	if (!(e->proc = kg_pac_proc_new(&po, err, errlen)))
		goto fail;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		snprintf(err, errlen, "PAC engine: eventfd: %s", strerror(errno));
		goto fail;
	}
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&e->thread, NULL, worker, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		snprintf(err, errlen, "PAC engine: cannot start its thread: %s", strerror(r));
		goto fail;
	}
	e->running = true;
	return e;
fail:
	pac_engine_free(e);
	return NULL;
}

static void free_list(struct pac_job *j)
{
	while (j) {
		struct pac_job *next = j->next;
		job_free(j);
		j = next;
	}
}

void pac_engine_free(struct pac_engine *e)
{
	if (!e)
		return;
	if (e->running) {
		pthread_mutex_lock(&e->lock);
		e->quit = true;
		pthread_cond_signal(&e->wake);
		pthread_mutex_unlock(&e->lock);
		pthread_join(e->thread, NULL);
	}
	free_list(e->pending);
	free_list(e->done);
	free_list(e->fin);
	kg_pac_proc_free(e->proc);
	kg_dns_cache_free(e->dns);
	if (e->efd >= 0)
		close(e->efd);
	for (int i = 0; i < 2; i++)
		if (e->udp[i] >= 0)
			close(e->udp[i]);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* Appends j to the queue, or, for a find when the queue is full, answers it -EBUSY. */
static void submit(struct pac_engine *e, struct pac_job *j)
{
	uint64_t one = 1;
	pthread_mutex_lock(&e->lock);
	if (j->kind == JOB_FIND && e->n_pending >= e->queue_max) {
		j->status = -EBUSY;
		snprintf(j->why, sizeof(j->why),
			 "PAC engine busy: %u requests already waiting for the evaluator",
			 e->n_pending);
		e->stats.busy++;
		bool wake = !e->done;
		*e->done_tail = j;
		e->done_tail = &j->next;
		if (wake)
			(void)!write(e->efd, &one, sizeof(one));
		pthread_mutex_unlock(&e->lock);
		return;
	}
	*e->pending_tail = j;
	e->pending_tail = &j->next;
	j->queued = true;
	if (j->kind == JOB_FIND)
		e->n_pending++;
	if (e->idle)
		pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->lock);
}

int pac_engine_load(struct pac_engine *e, const char *pac, size_t len)
{
	struct pac_job *j = calloc(1, sizeof(*j));
	if (!j || !(j->pac = malloc(len ? len : 1))) {
		free(j);
		return -ENOMEM;
	}
	memcpy(j->pac, pac, len);
	j->pac_len = len;
	j->kind = JOB_LOAD;
	submit(e, j);
	return 0;
}

int pac_engine_network_changed(struct pac_engine *e)
{
	struct pac_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = JOB_FLUSH;
	submit(e, j);
	return 0;
}

struct pac_job *pac_engine_find(struct pac_engine *e, const struct pac_engine_query *q,
				pac_engine_done_fn *done, void *ud)
{
	size_t lu = strlen(q->url), lh = strlen(q->host);
	if (lu > KG_PAC_URL_MAX || lh > KG_PAC_HOST_MAX || !done) {
		errno = EINVAL;
		return NULL;
	}
	struct pac_job *j = calloc(1, sizeof(*j) + lu + 1 + lh + 1);
	if (!j) {
		errno = ENOMEM;
		return NULL;
	}
	j->kind = JOB_FIND;
	j->done = done;
	j->ud = ud;
	j->url = memcpy((char *)(j + 1), q->url, lu + 1);
	j->host = memcpy(j->url + lu + 1, q->host, lh + 1);
	j->dst = q->dst;
	j->dst_port = q->dst_port;
	j->quiet = q->quiet;
	submit(e, j);
	return j;
}

void pac_engine_cancel(struct pac_engine *e, struct pac_job *j)
{
	if (!j)
		return;
	/* Only the loop thread reads or writes j->done and j->ud. */
	j->done = NULL;
	j->ud = NULL;
	pthread_mutex_lock(&e->lock);
	e->stats.cancelled++;
	if (j->queued && !j->cancelled) {
		j->cancelled = true; /* the worker drops it */
		e->n_pending--;
	} else if (j->flying && !j->cancelled) {
		j->cancelled = true; /* the worker takes it out of the pipeline */
		e->cancel_flying = true;
	}
	pthread_mutex_unlock(&e->lock);
}

int pac_engine_fd(const struct pac_engine *e)
{
	return e->efd;
}

void pac_engine_dispatch(struct pac_engine *e)
{
	uint64_t n;
	(void)!read(e->efd, &n, sizeof(n));
	pthread_mutex_lock(&e->lock);
	struct pac_job *list = e->done;
	e->done = NULL;
	e->done_tail = &e->done;
	pthread_mutex_unlock(&e->lock);
	while (list) {
		struct pac_job *j = list;
		list = j->next;
		for (unsigned i = 0; i < j->nalerts; i++) {
			if (e->on_alert)
				e->on_alert(e->ud, j->alerts[i]);
			else
				log_notice("PAC alert: %s", j->alerts[i]);
		}
		if (j->kind == JOB_LOAD) {
			if (e->on_load)
				e->on_load(e->ud, j->status, j->why);
		} else if (j->done) {
			j->done(j->ud, j->status, j->status == 0 ? &j->route : NULL, j->why);
		}
		job_free(j);
	}
}

void pac_engine_get_stats(struct pac_engine *e, struct pac_engine_stats *s)
{
	pthread_mutex_lock(&e->lock);
	*s = e->stats;
	pthread_mutex_unlock(&e->lock);
}
