/* The client's proxy policy: the PAC's fetch (a URL or WPAD) and its schedule, the evaluator,
 * the connections' jobs, network changes and the policy's life (see policy.h). The off-network
 * state and its probes are policy_offnet.c's; the state both share is policy_priv.h's.
 */
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
#include "client/policy_offnet.h"
#include "client/policy_priv.h"
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

static struct kg_route direct_route(void)
{
	struct kg_route r;

	memset(&r, 0, sizeof(r));
	r.n = 1;
	r.e[0].kind = KG_ROUTE_DIRECT;
	return r;
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

static void on_engine_answer(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct policy_job *j = ud;
	policy_done_fn *done = j->done;
	void *dud = j->ud;

	if (status == 0 && route) {
		j->p->last = *route;
		if (policy_route_has_proxy(route))
			policy_remember_host(j->p, j);
	}
	job_free(j); /* gone before done() runs: it may close the connection */
	done(dud, status, route, why ? why : "");
}

/* Hand j to the evaluator: true, or false when it cannot take it (then j is still the
 * caller's). */
static bool job_submit(struct client_policy *p, struct policy_job *j)
{
	struct pac_engine_query q = {.url = j->url,
				     .host = j->host,
				     .dst = policy_pac_addr(j->dst_ip),
				     .dst_port = j->dst_port};

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
	policy_pac_probe_stop(p);
	p->pac_all_direct = false;
	release_waiting(p);
	policy_set_direct(p, true, "no PAC found");
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
	policy_pac_probe_start(p);
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
	policy_probe_now(p);
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
	policy_offnet_free(p);
	kg_loop_timer_cancel(&p->fetch_timer);
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
	p->fetch_fd = p->engine_fd = -1;
	p->fetch_timer.kind = kg_loop_timer_kind(on_fetch_timer);
	policy_offnet_init(p);
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
			policy_set_direct(p, true, "no PAC evaluator");
			return r;
		}
		p->state = PAC_FIRST;
		start_fetch(p);
	} else if (was_direct) {
		policy_probe_now(p);
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
