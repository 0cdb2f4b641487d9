/* The client's proxy policy: PAC fetch, evaluator, off-network state (see policy.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "client/ipc_client.h"
#include "client/policy.h"
#include "client/route/failover.h"
#include "client/route/netwatch.h"
#include "client/route/nm_wpad.h"
#include "client/route/pac_fetch.h"
#include "client/route/resolve_async.h"
#include "client/route/wpad.h"
#include "shared/log.h"

#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR "/usr/libexec/kernelgatekeeper"
#endif

enum pac_state {
	PAC_FIRST,  /* the first fetch since start or a network change has not ended */
	PAC_LOADED, /* a PAC answers */
	PAC_NONE,   /* none found, the fetch failed or the PAC was refused: DIRECT */
};

struct policy_job {
	struct policy_job *prev, *next; /* p->waiting, while waiting for the first fetch */
	struct client_policy *p;
	struct pac_job *pj; /* in the engine, NULL while waiting */
	policy_done_fn *done;
	void *ud;
	char *url, *host;
	uint8_t dst_ip[16];
	uint16_t dst_port;
};

/* A host the PAC recently sent to a proxy: probed again for "the PAC sends everything
 * DIRECT", as its connection asked (url, and the destination myIpAddress() answers for). */
struct pac_probe_host {
	char host[KG_HOST_MAX];
	char url[POLICY_PAC_PROBE_URL_MAX];
	uint8_t dst_ip[16];
	uint16_t dst_port;
};

struct client_policy {
	struct kg_client *cl;
	bool pac;	       /* proxy.type wpad */
	bool probe_proxies;    /* proxy.type http with fallback direct */
	struct kg_route route; /* the settings' route the probe walks (probe_proxies) */
	char wpad_url[KG_URL_MAX];
	unsigned pac_timeout;

	struct pac_engine *engine;
	struct kg_loop_source engine_src;
	int engine_fd;
	struct kg_pac_fetch *fetch;
	struct kg_loop_source fetch_src;
	int fetch_fd;
	struct kg_netwatch *netwatch;
	struct kg_loop_timer fetch_timer; /* the next fetch */
	unsigned failures;		  /* fetches in a row that found no PAC */
	enum pac_state state;
	bool loading;		       /* a fetched PAC is with the evaluator */
	char pac_url[KG_WPAD_URL_MAX]; /* the PAC in use, or the one last tried */
	char why_none[KG_PAC_FETCH_MSG_MAX];
	struct policy_job *waiting;
	struct kg_route last; /* the PAC's last answer (policy_last_route), n 0: none */

	/* Off the corporate network: the service was asked not to steer this user. */
	bool direct;
	time_t direct_since;
	char direct_reason[64];

	/* "The PAC sends everything DIRECT" (pac): the hosts it recently sent to a proxy (a ring
	 * of distinct hosts), the round under way (one evaluation at a time: recent[0..n_recent),
	 * then the canary), and whether the user is direct because of it. */
	struct pac_probe_host recent[POLICY_PAC_PROBE_HOSTS];
	size_t n_recent, recent_next;
	struct kg_loop_timer pac_probe_timer;
	struct pac_job *pac_probe_job; /* in the engine */
	size_t pac_probe_index;
	bool pac_probe_failed; /* an evaluation of this round failed */
	bool pac_all_direct;

	/* Probing the proxies of proxy.url while direct (probe_proxies). */
	struct kg_loop_timer probe_timer;
	struct kg_loop_source probe_src;
	int probe_fd;
	size_t probe_index; /* the route entry being tried */
	/* A round's names, resolved off the loop before its connects (resolve_async.h). */
	struct kg_resolve *probe_dns;
	struct kg_loop_source probe_dns_src;
	int probe_dns_fd;
	struct kg_resolve_name probe_addr[KG_ROUTE_MAX]; /* entry i's address, len 0: none */
};

static struct kg_route direct_route(void)
{
	struct kg_route r;

	memset(&r, 0, sizeof(r));
	r.n = 1;
	r.e[0].kind = KG_ROUTE_DIRECT;
	return r;
}

/* ---- off the corporate network ------------------------------------------------------------ */

static void set_direct(struct client_policy *p, bool direct, const char *reason)
{
	if (p->direct == direct) {
		/* Direct still, for another reason: the service shows the new one. */
		if (!direct || !reason || strcmp(p->direct_reason, reason) == 0)
			return;
		snprintf(p->direct_reason, sizeof(p->direct_reason), "%s", reason);
		log_notice("still off the corporate network: %s", reason);
		if (ipc_client_set_direct(p->cl, true, reason) < 0)
			log_warn("cannot tell the service the route state");
		return;
	}
	p->direct = direct;
	p->direct_since = time(NULL);
	snprintf(p->direct_reason, sizeof(p->direct_reason), "%s", direct && reason ? reason : "");
	if (direct)
		log_notice("off the corporate network (%s): asking the service to let this user's "
			   "connections go direct",
			   reason);
	else
		log_notice(
		    "back on the corporate network (%s): connections are steered to the relay "
		    "again",
		    reason ? reason : "a proxy answers");
	if (ipc_client_set_direct(p->cl, direct, direct ? reason : NULL) < 0)
		log_warn("cannot tell the service the route state");
}

/* ---- the jobs ------------------------------------------------------------------------------ */

static void job_free(struct policy_job *j)
{
	free(j->url);
	free(j->host);
	free(j);
}

static void job_unlink(struct policy_job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else if (j->p->waiting == j)
		j->p->waiting = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

static bool route_has_proxy(const struct kg_route *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].kind != KG_ROUTE_DIRECT)
			return true;
	return false;
}

/* j's host went to a proxy: one of the hosts the off-network probe asks the PAC about. */
static void remember_host(struct client_policy *p, const struct policy_job *j)
{
	struct pac_probe_host *h = NULL;
	size_t i;

	if (strlen(j->url) >= sizeof(h->url) || strlen(j->host) >= sizeof(h->host))
		return;
	for (i = 0; i < p->n_recent; i++)
		if (strcmp(p->recent[i].host, j->host) == 0)
			h = &p->recent[i];
	if (!h) {
		h = &p->recent[p->recent_next];
		p->recent_next = (p->recent_next + 1) % POLICY_PAC_PROBE_HOSTS;
		if (p->n_recent < POLICY_PAC_PROBE_HOSTS)
			p->n_recent++;
	}
	snprintf(h->host, sizeof(h->host), "%s", j->host);
	snprintf(h->url, sizeof(h->url), "%s", j->url);
	memcpy(h->dst_ip, j->dst_ip, 16);
	h->dst_port = j->dst_port;
}

static void on_engine_answer(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct policy_job *j = ud;
	policy_done_fn *done = j->done;
	void *dud = j->ud;

	if (status == 0 && route) {
		j->p->last = *route;
		if (route_has_proxy(route))
			remember_host(j->p, j);
	}
	job_free(j); /* gone before done() runs: it may close the connection */
	done(dud, status, route, why ? why : "");
}

static struct kg_pac_addr pac_addr(const uint8_t ip[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct kg_pac_addr a;

	memset(&a, 0, sizeof(a));
	if (memcmp(ip, mapped, sizeof(mapped)) == 0) {
		a.family = 4;
		memcpy(a.bytes, ip + 12, 4);
	} else {
		a.family = 6;
		memcpy(a.bytes, ip, 16);
	}
	return a;
}

/* Hand j to the evaluator: true, or false when it cannot take it (then j is still the
 * caller's). */
static bool job_submit(struct client_policy *p, struct policy_job *j)
{
	struct pac_engine_query q = {
	    .url = j->url, .host = j->host, .dst = pac_addr(j->dst_ip), .dst_port = j->dst_port};

	j->pj = pac_engine_find(p->engine, &q, on_engine_answer, j);
	return j->pj != NULL;
}

/* The first fetch ended: the waiting connections go on, to the evaluator or DIRECT. */
static void release_waiting(struct client_policy *p)
{
	struct policy_job *j;

	while ((j = p->waiting)) {
		policy_done_fn *done = j->done;
		void *ud = j->ud;

		job_unlink(j);
		if (p->state == PAC_LOADED && job_submit(p, j))
			continue;
		job_free(j);
		if (p->state == PAC_LOADED) {
			done(ud, -EBUSY, NULL, "the PAC evaluator cannot take the request");
		} else {
			struct kg_route d = direct_route();

			done(ud, 0, &d, "");
		}
	}
}

/* ---- "the PAC sends everything DIRECT" ---------------------------------------------------- */

static void pac_probe_stop(struct client_policy *p)
{
	if (p->pac_probe_job && p->engine)
		pac_engine_cancel(p->engine, p->pac_probe_job);
	p->pac_probe_job = NULL;
	kg_loop_timer_cancel(&p->pac_probe_timer);
}

static void pac_probe_next(struct client_policy *p);

/* The round's verdict: every answer DIRECT (and none failed) takes the user off the network;
 * an answer naming a proxy, or one that failed (fail closed), steers. */
static void pac_probe_end(struct client_policy *p, bool all_direct)
{
	p->pac_probe_job = NULL;
	(void)kg_loop_timer_arm(&p->pac_probe_timer,
				kg_loop_now() + POLICY_PROBE_INTERVAL_S * 1000000ull);
	if (all_direct) {
		if (!p->pac_all_direct)
			log_info(
			    "the PAC answers DIRECT for every host probed (%zu recent, and %s)",
			    p->n_recent, POLICY_PAC_CANARY_URL);
		p->pac_all_direct = true;
		set_direct(p, true, POLICY_PAC_ALL_DIRECT);
		return;
	}
	set_direct(p, false, p->pac_all_direct ? "the PAC names a proxy" : "PAC found");
	p->pac_all_direct = false;
}

static void on_pac_probe(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct client_policy *p = ud;

	(void)why;
	p->pac_probe_job = NULL;
	if (status == 0 && route && route_has_proxy(route)) {
		pac_probe_end(p, false);
		return;
	}
	if (status < 0)
		p->pac_probe_failed = true;
	p->pac_probe_index++;
	pac_probe_next(p);
}

/* The canary's destination for myIpAddress(): a TEST-NET-1 address no network routes
 * specially, so the source is the one towards the default route. */
static const uint8_t canary_dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};

/* Evaluates probe pac_probe_index: recent[i], then the canary; past it, the verdict. */
static void pac_probe_next(struct client_policy *p)
{
	struct pac_engine_query q = {.quiet = true};
	const uint8_t *dst;

	while (p->pac_probe_index <= p->n_recent) {
		if (p->pac_probe_index < p->n_recent) {
			const struct pac_probe_host *h = &p->recent[p->pac_probe_index];

			q.url = h->url;
			q.host = h->host;
			dst = h->dst_ip;
			q.dst_port = h->dst_port;
		} else {
			q.url = POLICY_PAC_CANARY_URL;
			q.host = POLICY_PAC_CANARY_HOST;
			dst = canary_dst;
			q.dst_port = 443;
		}
		q.dst = pac_addr(dst);
		p->pac_probe_job = pac_engine_find(p->engine, &q, on_pac_probe, p);
		if (p->pac_probe_job)
			return;
		p->pac_probe_failed = true; /* out of memory: as a failed evaluation */
		p->pac_probe_index++;
	}
	pac_probe_end(p, !p->pac_probe_failed);
}

/* A round: after each load, then every minute while the PAC is loaded. */
static void pac_probe_start(struct client_policy *p)
{
	pac_probe_stop(p);
	if (p->state != PAC_LOADED || !p->engine)
		return;
	p->pac_probe_index = 0;
	p->pac_probe_failed = false;
	pac_probe_next(p);
}

static void on_pac_probe_timer(struct kg_loop_timer *t)
{
	pac_probe_start(KG_CONTAINER_OF(t, struct client_policy, pac_probe_timer));
}

/* ---- the PAC: fetch and load --------------------------------------------------------------- */

static void start_fetch(struct client_policy *p);

static void arm_fetch(struct client_policy *p, unsigned delay_s)
{
	(void)kg_loop_timer_arm(&p->fetch_timer, kg_loop_now() + delay_s * 1000000ull);
}

static void no_pac(struct client_policy *p, const char *why)
{
	unsigned delay;

	p->failures++;
	/* The browsers' schedule (8 s, 32 s, 2 min, then 4 h), but off the network the PAC is
	 * looked for every minute at least: that is the way back. */
	delay = kg_wpad_retry_delay(p->failures, false);
	if (delay > POLICY_PROBE_INTERVAL_S)
		delay = POLICY_PROBE_INTERVAL_S;
	if (p->state != PAC_NONE || strcmp(p->why_none, why) != 0)
		log_warn("no PAC: %s; connections go DIRECT, as browsers do (next try in %u s)",
			 why, delay);
	snprintf(p->why_none, sizeof(p->why_none), "%s", why);
	p->state = PAC_NONE;
	pac_probe_stop(p);
	p->pac_all_direct = false;
	release_waiting(p);
	set_direct(p, true, "no PAC found");
	arm_fetch(p, delay);
}

static void on_load(void *ud, int status, const char *why)
{
	struct client_policy *p = ud;
	char msg[KG_PAC_FETCH_MSG_MAX + 64];

	p->loading = false;
	if (status < 0) {
		snprintf(msg, sizeof(msg), "the PAC %s was refused: %s", p->pac_url,
			 why ? why : "");
		no_pac(p, msg);
		return;
	}
	if (p->state != PAC_LOADED)
		log_info("PAC %s loaded: connections follow FindProxyForURL", p->pac_url);
	p->last.n = 0; /* a new PAC: no guess from the old one */
	p->state = PAC_LOADED;
	p->failures = 0;
	p->why_none[0] = '\0';
	release_waiting(p);
	/* Whether steering goes on (or resumes) is the probe's verdict: a PAC that sends
	 * everything DIRECT keeps (or takes) the user off the network. */
	pac_probe_start(p);
	arm_fetch(p, kg_wpad_retry_delay(0, true));
}

static void on_fetched(void *ud, struct kg_pac_fetch_result *res)
{
	struct client_policy *p = ud;
	int r;

	kg_loop_del(p->fetch_fd);
	p->fetch = NULL;
	p->fetch_fd = -1;
	if (res->url[0])
		snprintf(p->pac_url, sizeof(p->pac_url), "%s", res->url);
	if (res->r < 0) {
		free(res->body);
		no_pac(p, res->msg[0] ? res->msg : "the PAC fetch failed");
		return;
	}
	r = pac_engine_load(p->engine, res->body, res->len);
	free(res->body);
	if (r < 0) {
		char msg[KG_WPAD_URL_MAX + 64];

		snprintf(msg, sizeof(msg), "the PAC %s cannot be loaded (%s)", p->pac_url,
			 strerror(-r));
		no_pac(p, msg);
		return;
	}
	p->loading = true; /* on_load says how it went */
}

static void on_fetch_event(struct kg_loop_source *s, uint32_t events)
{
	struct client_policy *p = KG_CONTAINER_OF(s, struct client_policy, fetch_src);

	(void)events;
	if (p->fetch)
		(void)kg_pac_fetch_dispatch(p->fetch);
}

/* WPAD's candidates (nm_wpad.h: NetworkManager's option 252 over D-Bus, the lease files',
 * then the DNS walk over resolv.conf's search domains), made on the fetch's worker thread as
 * their reads block, again at each fetch: at start, on the retry schedule and at each network
 * change. */
static size_t wpad_list(void *arg, char **urls, size_t max, char *msg, size_t msg_sz)
{
	struct kg_wpad_candidates *c = malloc(sizeof(*c));
	size_t n = 0;

	(void)arg;
	if (c) {
		kg_nm_wpad_candidates(KG_NM_WPAD_TIMEOUT_MS, &KG_WPAD_DIRS_DEFAULT,
				      "/etc/resolv.conf", time(NULL), c);
		for (size_t i = 0; i < c->n && n < max; i++)
			if ((urls[n] = strdup(c->url[i])))
				n++;
		free(c);
	}
	if (n == 0)
		snprintf(msg, msg_sz,
			 "WPAD found no candidate (no DHCP option 252, no search domain)");
	return n;
}

static void start_fetch(struct client_policy *p)
{
	const char *list[1];

	if (p->fetch || p->loading)
		return;
	kg_loop_timer_cancel(&p->fetch_timer);
	if (p->wpad_url[0]) {
		list[0] = p->wpad_url;
		log_debug("fetching the PAC: %s", list[0]);
		p->fetch = kg_pac_fetch_start(list, 1, p->pac_timeout, on_fetched, p);
	} else {
		log_debug("fetching the PAC: WPAD (NetworkManager, DHCP leases, DNS)");
		p->fetch = kg_pac_fetch_start_list(wpad_list, NULL, p->pac_timeout, on_fetched, p);
	}
	if (!p->fetch) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot start the PAC fetch: %s", strerror(errno));
		no_pac(p, msg);
		return;
	}
	p->fetch_fd = kg_pac_fetch_fd(p->fetch);
	p->fetch_src.kind = kg_loop_source_kind(on_fetch_event);
	if (kg_loop_add(p->fetch_fd, &p->fetch_src, EPOLLIN) < 0) {
		kg_pac_fetch_cancel(p->fetch);
		p->fetch = NULL;
		p->fetch_fd = -1;
		no_pac(p, "cannot watch the PAC fetch");
	}
}

static void on_fetch_timer(struct kg_loop_timer *t)
{
	start_fetch(KG_CONTAINER_OF(t, struct client_policy, fetch_timer));
}

static void on_engine_event(struct kg_loop_source *s, uint32_t events)
{
	struct client_policy *p = KG_CONTAINER_OF(s, struct client_policy, engine_src);

	(void)events;
	pac_engine_dispatch(p->engine);
}

/* ---- probing the proxies of proxy.url while off the network ------------------------------- */

static void probe_next(struct client_policy *p);

static void probe_close(struct client_policy *p)
{
	if (p->probe_fd >= 0) {
		kg_loop_del(p->probe_fd);
		close(p->probe_fd);
		p->probe_fd = -1;
	}
}

static void probe_done(struct client_policy *p, bool connected)
{
	const struct kg_route *r = &p->cl->set->route;
	const struct kg_route_entry *e = &r->e[p->probe_index];
	char what[KG_ROUTE_ENTRY_TEXT_MAX + 32];

	probe_close(p);
	if (connected) {
		struct client_settings *set = p->cl->set;
		const struct kg_resolve_name *a = &p->probe_addr[p->probe_index];

		/* The relay's first connection there needs no lookup of its own either. */
		if (set->route_addrlen[p->probe_index] == 0) {
			memcpy(&set->route_addr[p->probe_index], &a->ss, sizeof(a->ss));
			set->route_addrlen[p->probe_index] = a->len;
		}
		kg_failover_mark_up(&p->cl->failover, e);
		(void)kg_route_entry_format(e, what, sizeof(what));
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " answers");
		kg_loop_timer_cancel(&p->probe_timer);
		set_direct(p, false, what);
		return;
	}
	p->probe_index++;
	probe_next(p);
}

static void on_probe_event(struct kg_loop_source *s, uint32_t events)
{
	struct client_policy *p = KG_CONTAINER_OF(s, struct client_policy, probe_src);
	int err = 0;
	socklen_t len = sizeof(err);

	(void)events;
	if (getsockopt(p->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	probe_done(p, err == 0);
}

/* Try entry probe_index onwards (their names resolved: probe_addr); when none is left, the
 * next round in a minute. */
static void probe_next(struct client_policy *p)
{
	const struct kg_route *r = &p->cl->set->route;

	for (; p->probe_index < r->n; p->probe_index++) {
		const struct kg_route_entry *e = &r->e[p->probe_index];
		const struct kg_resolve_name *a = &p->probe_addr[p->probe_index];
		int fd;

		if (e->kind != KG_ROUTE_PROXY || a->len == 0)
			continue;
		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
		    errno != EINPROGRESS) {
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			continue;
		p->probe_fd = fd;
		p->probe_src.kind = kg_loop_source_kind(on_probe_event);
		if (kg_loop_add(fd, &p->probe_src, EPOLLOUT) < 0) {
			close(fd);
			p->probe_fd = -1;
			continue;
		}
		/* the connect's bound: connection_timeout */
		(void)kg_loop_timer_arm(&p->probe_timer,
					kg_loop_now() +
					    p->cl->set->cfg.proxy.connection_timeout * 1000000ull);
		return;
	}
	(void)kg_loop_timer_arm(&p->probe_timer,
				kg_loop_now() + POLICY_PROBE_INTERVAL_S * 1000000ull);
}

static void probe_dns_close(struct client_policy *p)
{
	if (p->probe_dns) {
		kg_loop_del(p->probe_dns_fd);
		kg_resolve_free(p->probe_dns);
		p->probe_dns = NULL;
		p->probe_dns_fd = -1;
	}
}

static void on_probe_dns(struct kg_loop_source *s, uint32_t events)
{
	struct client_policy *p = KG_CONTAINER_OF(s, struct client_policy, probe_dns_src);
	const struct kg_resolve_name *res;
	size_t n;

	(void)events;
	if (!p->probe_dns || !kg_resolve_result(p->probe_dns, &res, &n))
		return;
	memcpy(p->probe_addr, res, n * sizeof(*res));
	probe_dns_close(p);
	p->probe_index = 0;
	probe_next(p);
}

/* A round: the names of the settings' proxies are resolved off the loop, then probe_next
 * connects to each in turn. A round under way is not started again. */
static void probe_round(struct client_policy *p)
{
	const struct kg_route *r = &p->cl->set->route;
	struct kg_resolve_name names[KG_ROUTE_MAX];
	size_t i;

	if (p->probe_fd >= 0 || p->probe_dns)
		return;
	memset(names, 0, sizeof(names));
	memset(p->probe_addr, 0, sizeof(p->probe_addr));
	for (i = 0; i < r->n; i++) {
		snprintf(names[i].host, sizeof(names[i].host), "%s", r->e[i].host);
		names[i].port = r->e[i].port;
	}
	p->probe_dns = kg_resolve_start(names, r->n);
	if (p->probe_dns) {
		p->probe_dns_fd = kg_resolve_fd(p->probe_dns);
		p->probe_dns_src.kind = kg_loop_source_kind(on_probe_dns);
		if (kg_loop_add(p->probe_dns_fd, &p->probe_dns_src, EPOLLIN) == 0)
			return;
		kg_resolve_free(p->probe_dns);
		p->probe_dns = NULL;
		p->probe_dns_fd = -1;
	}
	log_warn("cannot resolve the proxies' names off the loop (%s): next try in %u s",
		 strerror(errno), POLICY_PROBE_INTERVAL_S);
	(void)kg_loop_timer_arm(&p->probe_timer,
				kg_loop_now() + POLICY_PROBE_INTERVAL_S * 1000000ull);
}

static void on_probe_timer(struct kg_loop_timer *t)
{
	struct client_policy *p = KG_CONTAINER_OF(t, struct client_policy, probe_timer);

	if (p->probe_fd >= 0) { /* the connect took connection_timeout: failed */
		probe_done(p, false);
		return;
	}
	if (!p->direct || !p->probe_proxies)
		return;
	probe_round(p);
}

static void probe_now(struct client_policy *p)
{
	if (!p->direct || !p->probe_proxies)
		return;
	probe_round(p);
}

/* ---- network changes ----------------------------------------------------------------------- */

static void on_network_change(void *ud)
{
	struct client_policy *p = ud;

	log_info("the network changed: %s",
		 p->pac ? "fetching the PAC again" : "trying the proxies");
	if (p->pac) {
		if (p->engine)
			(void)pac_engine_network_changed(p->engine);
		p->failures = 0;
		if (p->fetch) {
			kg_loop_del(p->fetch_fd);
			kg_pac_fetch_cancel(p->fetch);
			p->fetch = NULL;
			p->fetch_fd = -1;
		}
		start_fetch(p);
	}
	probe_now(p);
}

/* ---- the life of the policy ---------------------------------------------------------------- */

static void policy_free(struct client_policy *p)
{
	struct policy_job *j;

	if (!p)
		return;
	while ((j = p->waiting)) {
		job_unlink(j);
		job_free(j);
	}
	if (p->fetch) {
		kg_loop_del(p->fetch_fd);
		kg_pac_fetch_cancel(p->fetch);
	}
	if (p->engine) {
		kg_loop_del(p->engine_fd);
		pac_engine_free(p->engine); /* the jobs in it go with it, unanswered */
	}
	if (p->netwatch)
		kg_netwatch_stop(p->netwatch);
	probe_close(p);
	probe_dns_close(p);
	kg_loop_timer_cancel(&p->fetch_timer);
	kg_loop_timer_cancel(&p->probe_timer);
	kg_loop_timer_cancel(&p->pac_probe_timer); /* its job went with the engine */
	free(p);
}

static const char *evaluator_path(void)
{
	const char *e = getenv("KG_PAC_EVALUATOR");

	return e && e[0] == '/' ? e : PKGLIBEXECDIR "/kernelgatekeeper-pac";
}

static int start_engine(struct client_policy *p)
{
	struct pac_engine_opts o = {.evaluator = evaluator_path(),
				    .resolve_proxies = true, /* no lookup on the relay's loop */
				    .on_load = on_load,
				    .ud = p};
	char err[256];

	p->engine = pac_engine_new(&o, err, sizeof(err));
	if (!p->engine) {
		log_error("the PAC evaluator cannot start: %s", err);
		return -ENOEXEC;
	}
	p->engine_fd = pac_engine_fd(p->engine);
	p->engine_src.kind = kg_loop_source_kind(on_engine_event);
	if (kg_loop_add(p->engine_fd, &p->engine_src, EPOLLIN) < 0) {
		pac_engine_free(p->engine);
		p->engine = NULL;
		return -EIO;
	}
	return 0;
}

int policy_apply(struct kg_client *cl)
{
	const struct kg_config *cfg = &cl->set->cfg;
	bool pac = cfg->proxy.type == KG_PROXY_WPAD;
	bool probe = (cfg->proxy.type == KG_PROXY_HTTP || cfg->proxy.type == KG_PROXY_HTTPS) &&
		     cfg->proxy.fallback == KG_FALLBACK_DIRECT;
	struct client_policy *p = cl->policy;
	bool was_direct = p && p->direct;

	if (p && p->pac == pac && p->probe_proxies == probe &&
	    strcmp(p->wpad_url, cfg->proxy.wpad_url) == 0 &&
	    p->pac_timeout == cfg->proxy.pac_timeout &&
	    /* another proxy.url list or fallback: the probe (and its index) starts over */
	    (!probe || kg_route_equal(&p->route, &cl->set->route)))
		return 0; /* nothing the policy depends on changed */
	/* Anything else starts afresh: waiting connections get DIRECT or their fallback now. */
	if (p) {
		if (p->waiting) {
			p->state = PAC_NONE;
			release_waiting(p);
		}
		policy_free(p);
		cl->policy = p = NULL;
	}
	if (!pac && !probe) {
		if (was_direct && ipc_client_set_direct(cl, false, NULL) == 0)
			log_notice("proxy policy off: connections are steered to the relay again");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cl = cl;
	p->pac = pac;
	p->probe_proxies = probe;
	p->route = cl->set->route;
	p->direct = was_direct; /* the service still has it so */
	snprintf(p->wpad_url, sizeof(p->wpad_url), "%s", cfg->proxy.wpad_url);
	p->pac_timeout = cfg->proxy.pac_timeout ? cfg->proxy.pac_timeout : 30;
	p->fetch_fd = p->engine_fd = p->probe_fd = p->probe_dns_fd = -1;
	p->fetch_timer.kind = kg_loop_timer_kind(on_fetch_timer);
	p->probe_timer.kind = kg_loop_timer_kind(on_probe_timer);
	p->pac_probe_timer.kind = kg_loop_timer_kind(on_pac_probe_timer);
	cl->policy = p;
	p->netwatch = kg_netwatch_start(KG_NETWATCH_DEBOUNCE_MS, on_network_change, p);
	if (!p->netwatch)
		log_warn("cannot watch the network for changes (%s): the PAC is fetched again only "
			 "on its schedule",
			 strerror(errno));
	if (pac) {
		int r = start_engine(p);

		if (r < 0) {
			p->state = PAC_NONE;
			snprintf(p->why_none, sizeof(p->why_none),
				 "the PAC evaluator cannot start");
			set_direct(p, true, "no PAC evaluator");
			return r;
		}
		p->state = PAC_FIRST;
		start_fetch(p);
	} else if (was_direct) {
		probe_now(p);
	}
	return 0;
}

void policy_stop(struct kg_client *cl)
{
	policy_free(cl->policy);
	cl->policy = NULL;
}

bool policy_uses_pac(const struct kg_client *cl)
{
	return cl->policy && cl->policy->pac;
}

int policy_find(struct kg_client *cl, const char *url, const char *host, const uint8_t dst_ip[16],
		uint16_t dst_port, struct kg_route *route, policy_done_fn *done, void *ud,
		struct policy_job **job)
{
	struct client_policy *p = cl->policy;
	struct policy_job *j;

	if (!p || !p->pac || p->state == PAC_NONE || !p->engine) {
		*route = direct_route();
		return 1;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->p = p;
	j->done = done;
	j->ud = ud;
	j->url = strdup(url);
	j->host = strdup(host);
	memcpy(j->dst_ip, dst_ip, 16);
	j->dst_port = dst_port;
	if (!j->url || !j->host) {
		job_free(j);
		return -ENOMEM;
	}
	if (p->state == PAC_FIRST) {
		j->next = p->waiting;
		if (j->next)
			j->next->prev = j;
		p->waiting = j;
	} else if (!job_submit(p, j)) {
		job_free(j);
		return -EBUSY;
	}
	*job = j;
	return 0;
}

const struct kg_route *policy_last_route(const struct kg_client *cl)
{
	const struct client_policy *p = cl->policy;

	return p && p->pac && p->state == PAC_LOADED && p->last.n ? &p->last : NULL;
}

void policy_cancel(struct kg_client *cl, struct policy_job *j)
{
	struct client_policy *p = cl->policy;

	if (!j)
		return;
	if (j->pj) {
		if (p && p->engine)
			pac_engine_cancel(p->engine, j->pj);
	} else {
		job_unlink(j);
	}
	job_free(j);
}

void policy_proxy_result(struct kg_client *cl, bool connected)
{
	struct client_policy *p = cl->policy;
	const struct kg_route *r;
	uint64_t now = kg_loop_now();
	size_t i;

	if (!p || !p->probe_proxies || connected || p->direct)
		return;
	r = &cl->set->route;
	for (i = 0; i < r->n; i++)
		if (r->e[i].kind == KG_ROUTE_PROXY &&
		    !kg_failover_is_down(&cl->failover, &r->e[i], now))
			return;
	set_direct(p, true, "no proxy reachable");
	(void)kg_loop_timer_arm(&p->probe_timer,
				kg_loop_now() + POLICY_PROBE_INTERVAL_S * 1000000ull);
}

void policy_describe(const struct kg_client *cl, char *buf, size_t len)
{
	const struct client_policy *p = cl->policy;
	struct tm tm;
	char at[16] = "";

	if (!len)
		return;
	buf[0] = '\0';
	if (!p)
		return;
	if (p->direct && localtime_r(&p->direct_since, &tm))
		strftime(at, sizeof(at), "%H:%M", &tm);
	if (p->pac && p->state == PAC_LOADED && p->direct && p->pac_all_direct)
		snprintf(buf, len, "direct: %s since %s", p->direct_reason, at);
	else if (p->pac && p->state == PAC_LOADED)
		snprintf(buf, len, "PAC %s", p->pac_url);
	else if (p->pac && p->state == PAC_FIRST)
		snprintf(buf, len, "fetching the PAC");
	else if (p->direct)
		snprintf(buf, len, "direct: %s since %s", p->direct_reason, at);
	else if (p->pac)
		snprintf(buf, len, "no PAC: DIRECT");
}
