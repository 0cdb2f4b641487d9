/* The proxy policy's off-network state and its probes (see policy_offnet.h, policy.h). */
#include <errno.h>
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
#include "client/route/resolve_async.h"
#include "shared/log.h"

/* ---- off the corporate network ------------------------------------------------------------ */

void policy_set_direct(struct client_policy *p, bool direct, const char *reason)
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

/* j's host went to a proxy: one of the hosts the off-network probe asks the PAC about. */
void policy_remember_host(struct client_policy *p, const struct policy_job *j)
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

/* ---- "the PAC sends everything DIRECT" ---------------------------------------------------- */

void policy_pac_probe_stop(struct client_policy *p)
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
		policy_set_direct(p, true, POLICY_PAC_ALL_DIRECT);
		return;
	}
	policy_set_direct(p, false, p->pac_all_direct ? "the PAC names a proxy" : "PAC found");
	p->pac_all_direct = false;
}

static void on_pac_probe(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct client_policy *p = ud;

	(void)why;
	p->pac_probe_job = NULL;
	if (status == 0 && route && policy_route_has_proxy(route)) {
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
		q.dst = policy_pac_addr(dst);
		p->pac_probe_job = pac_engine_find(p->engine, &q, on_pac_probe, p);
		if (p->pac_probe_job)
			return;
		p->pac_probe_failed = true; /* out of memory: as a failed evaluation */
		p->pac_probe_index++;
	}
	pac_probe_end(p, !p->pac_probe_failed);
}

/* A round: after each load, then every minute while the PAC is loaded. */
void policy_pac_probe_start(struct client_policy *p)
{
	policy_pac_probe_stop(p);
	if (p->state != PAC_LOADED || !p->engine)
		return;
	p->pac_probe_index = 0;
	p->pac_probe_failed = false;
	pac_probe_next(p);
}

static void on_pac_probe_timer(struct kg_loop_timer *t)
{
	policy_pac_probe_start(KG_CONTAINER_OF(t, struct client_policy, pac_probe_timer));
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
		policy_set_direct(p, false, what);
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

void policy_probe_now(struct client_policy *p)
{
	if (!p->direct || !p->probe_proxies)
		return;
	probe_round(p);
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
	policy_set_direct(p, true, "no proxy reachable");
	(void)kg_loop_timer_arm(&p->probe_timer,
				kg_loop_now() + POLICY_PROBE_INTERVAL_S * 1000000ull);
}

void policy_offnet_init(struct client_policy *p)
{
	p->probe_fd = p->probe_dns_fd = -1;
	p->probe_timer.kind = kg_loop_timer_kind(on_probe_timer);
	p->pac_probe_timer.kind = kg_loop_timer_kind(on_pac_probe_timer);
}

void policy_offnet_free(struct client_policy *p)
{
	probe_close(p);
	probe_dns_close(p);
	kg_loop_timer_cancel(&p->probe_timer);
	kg_loop_timer_cancel(&p->pac_probe_timer); /* its job went with the engine */
}
