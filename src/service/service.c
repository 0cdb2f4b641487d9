/* The service's state between the loop's events (service.h): the configuration pushed into
 * the datapath's maps, the target ports in force, the status line, the timers that drain the
 * event ring and log statistics, and a reload's new configuration. main.c owns the process's
 * lifecycle (arguments, start, signals, stop) and calls these.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "service/service.h"
#include "shared/log.h"
#include "shared/netutil.h"

/* Proxy endpoints are never steered (the relay itself must reach them): every proxy of the
 * proxy.url list. Names are resolved once per (re)load; a name that does not resolve is logged
 * and skipped. */
static unsigned url_endpoints(const char *text, struct kg_endpoint *eps, unsigned cap)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	struct kg_url url;
	char port[8];
	unsigned n = 0;
	int r;

	if (text[0] == '\0' || kg_url_parse(text, &url) < 0)
		return 0;
	snprintf(port, sizeof(port), "%u", url.port);
	r = getaddrinfo(url.host, port, &hints, &res);
	if (r != 0) {
		log_warn("cannot resolve the proxy host %s (%s): it is not excluded from steering "
			 "by address",
			 url.host, gai_strerror(r));
		return 0;
	}
	for (ai = res; ai && n < cap; ai = ai->ai_next) {
		struct kg_endpoint *e = &eps[n];

		memset(e, 0, sizeof(*e));
		e->port = url.port;
		if (ai->ai_family == AF_INET)
			kg_ip_from_v4(e->ip, ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr);
		else if (ai->ai_family == AF_INET6)
			memcpy(e->ip, ((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr.s6_addr, 16);
		else
			continue;
		n++;
	}
	freeaddrinfo(res);
	return n;
}

static int proxy_endpoints(const struct kg_config *cfg, struct kg_endpoint *eps, unsigned cap)
{
	const char *urls[KG_PROXY_URLS_MAX];
	size_t n_urls = kg_config_proxy_urls(cfg, urls, KG_PROXY_URLS_MAX), i;
	unsigned n = 0;

	for (i = 0; i < n_urls && n < cap; i++)
		n += url_endpoints(urls[i], eps + n, cap - n);
	return (int)n;
}

int kg_service_apply_ports(struct kg_service *svc, const uint16_t *ports, unsigned n)
{
	int r = kg_datapath_set_ports(svc->dp, ports, n);

	if (r < 0)
		return r;
	memcpy(svc->ports, ports, n * sizeof(ports[0]));
	svc->n_ports = n;
	return 0;
}

/* Push everything of cfg that lives in maps. */
int kg_service_apply_config(struct kg_service *svc, const struct kg_config *cfg, char *why,
			    size_t whylen)
{
	struct kg_endpoint eps[KG_MAX_PROXY_ENDPOINTS];
	int n, r;

	r = kg_datapath_set_bypass(svc->dp, cfg->ebpf.bypass, cfg->ebpf.n_bypass);
	if (r < 0) {
		snprintf(why, whylen, "cannot load the bypass list: %s", strerror(-r));
		return r;
	}
	n = proxy_endpoints(cfg, eps, KG_MAX_PROXY_ENDPOINTS);
	r = kg_datapath_set_proxy_endpoints(svc->dp, eps, (unsigned)n);
	if (r < 0) {
		snprintf(why, whylen, "cannot load the proxy endpoints: %s", strerror(-r));
		return r;
	}
	r = kg_service_apply_ports(svc, cfg->ebpf.target_ports, cfg->ebpf.n_target_ports);
	if (r < 0) {
		snprintf(why, whylen, "cannot load the target ports: %s", strerror(-r));
		return r;
	}
	r = kg_datapath_set_block_quic(svc->dp, cfg->ebpf.block_quic);
	if (r < 0) {
		snprintf(why, whylen, "cannot set ebpf.block_quic: %s", strerror(-r));
		return r;
	}
	return 0;
}

static void publish_status(const struct kg_service *svc, uint64_t redirected)
{
	sd_notifyf(0, "STATUS=Steering ports of %u client(s); %" PRIu64 " connection(s) redirected",
		   svc->n_clients, redirected);
}

void kg_service_update_status(struct kg_service *svc)
{
	uint64_t st[KG_STAT_MAX] = {0};

	if (!svc->dp)
		return;
	kg_datapath_stats(svc->dp, st);
	publish_status(svc, st[KG_STAT_REDIRECTED]);
}

/* How long an event may wait in the ring when nobody watches live: ctl status counters and the
 * clients' "steered" debug lines lag by at most this much. */
#define EVENT_DRAIN_USEC 1000000ull

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kg_service *svc = userdata;

	kg_datapath_consume(svc->dp);
	sd_event_source_set_time_relative(s, EVENT_DRAIN_USEC);
	return 0;
}

void kg_service_events_changed(struct kg_service *svc)
{
	bool live = kg_log_get_level() >= LOG_DEBUG, was_live;
	struct kg_conn *c;
	int r;

	kg_ipc_server_update_watched(svc);
	if (!svc->dp)
		return;
	/* Only root's watchers: a user's would wake the service for every user's connection. */
	for (c = svc->conns; c && !live; c = c->next)
		live = c->watcher && c->uid == 0;
	was_live = !svc->drain_timer || sd_event_source_get_enabled(svc->drain_timer, NULL) == 0;
	r = kg_datapath_set_live_events(svc->dp, live);
	if (r < 0) {
		/* The programs keep their previous mode; the timer below still drains. */
		log_warn("cannot switch the datapath's event wake-ups: %s", strerror(-r));
		live = false;
	}
	/* Whatever collected so far goes out now, in order, before live events follow it. */
	kg_datapath_consume(svc->dp);
	if (live || svc->n_clients == 0) {
		if (svc->drain_timer)
			sd_event_source_set_enabled(svc->drain_timer, SD_EVENT_OFF);
		return;
	}
	if (!svc->drain_timer) {
		r = sd_event_add_time_relative(svc->event, &svc->drain_timer, CLOCK_MONOTONIC,
					       EVENT_DRAIN_USEC, 0, on_drain_timer, svc);
		if (r < 0) {
			log_warn("cannot add the event drain timer (%s): events are delivered live",
				 strerror(-r));
			kg_datapath_set_live_events(svc->dp, true);
			return;
		}
	} else if (was_live) {
		sd_event_source_set_time_relative(svc->drain_timer, EVENT_DRAIN_USEC);
	}
	sd_event_source_set_enabled(svc->drain_timer, SD_EVENT_ON);
}

/* connection_map and the event ring have fixed sizes, and the kernel fills them without a
 * word: when one of their counters moves, the journal says once what it means and what to
 * change, then at most once an hour while it keeps moving. Checked every LIMITS_CHECK_USEC,
 * whatever stats_interval says. */
#define LIMITS_CHECK_USEC  10000000ull
#define LIMITS_REPEAT_USEC 3600000000ull

/* true (and *ret_more = how much since the last line) when count deserves a line now. */
static bool limit_moved(struct kg_limit_note *n, uint64_t count, uint64_t now, uint64_t *ret_more)
{
	if (count <= n->said || (n->said_usec && now - n->said_usec < LIMITS_REPEAT_USEC))
		return false;
	*ret_more = count - n->said;
	n->said = count;
	n->said_usec = now;
	return true;
}

static void check_limits(struct kg_service *svc, const uint64_t st[KG_STAT_MAX])
{
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC), more;
	bool first = svc->connmap_note.said == 0;
	unsigned size = kg_datapath_connection_map_size(svc->dp);

	if (limit_moved(&svc->connmap_note, st[KG_STAT_CONNMAP_EVICTED], now, &more)) {
		if (first)
			log_fields(
			    LOG_WARNING, KG_FIELDS({"KG_LIMIT", "connection_map"}),
			    "connection_map is full (%u entries): %" PRIu64
			    " steered connection(s) lost their entry to newer ones. One whose "
			    "relay had already read its original destination goes on; one whose "
			    "relay had not is closed by the client (\"no original destination\" "
			    "in its log), never sent anywhere else. About %u or more steered "
			    "connections were open at once: find what holds them "
			    "(kernelgatekeeper-ctl watch), or build with a larger "
			    "KG_MAX_CONNECTIONS (bpf/kg_abi.h)",
			    size, more, size);
		else
			log_fields(LOG_WARNING, KG_FIELDS({"KG_LIMIT", "connection_map"}),
				   "connection_map is still full (%u entries): %" PRIu64
				   " more entries evicted, %" PRIu64 " in all",
				   size, more, svc->connmap_note.said);
	}
	first = svc->ring_note.said == 0;
	if (limit_moved(&svc->ring_note, st[KG_STAT_EVENTS_DROPPED], now, &more)) {
		if (first)
			log_fields(
			    LOG_WARNING, KG_FIELDS({"KG_LIMIT", "event_ring"}),
			    "the datapath's event ring (%u KiB) was full: %" PRIu64 " connection "
			    "event(s) dropped. Steering and SO_ORIGINAL_DST do not use it, nothing "
			    "was mis-steered; kernelgatekeeper-ctl watch, the redirected counts of "
			    "ctl status and the clients' \"steered\" debug lines miss those "
			    "connections. The service did not drain the ring in time (stopped, or "
			    "short of CPU): give it CPU, or build with a larger KG_RINGBUF_BYTES "
			    "(bpf/kg_abi.h)",
			    KG_RINGBUF_BYTES / 1024, more);
		else
			log_fields(LOG_WARNING, KG_FIELDS({"KG_LIMIT", "event_ring"}),
				   "the datapath's event ring is still overflowing: %" PRIu64
				   " more events dropped, %" PRIu64 " in all",
				   more, svc->ring_note.said);
	}
}

static int on_limits_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kg_service *svc = userdata;
	uint64_t st[KG_STAT_MAX] = {0};

	if (svc->dp && kg_datapath_stats(svc->dp, st) == 0)
		check_limits(svc, st);
	sd_event_source_set_time_relative(s, LIMITS_CHECK_USEC);
	return 0;
}

static int on_stats_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kg_service *svc = userdata;
	uint64_t st[KG_STAT_MAX] = {0};
	char redirected[24], clients[16];

	if (kg_datapath_stats(svc->dp, st) == 0) {
		snprintf(redirected, sizeof(redirected), "%" PRIu64, st[KG_STAT_REDIRECTED]);
		snprintf(clients, sizeof(clients), "%u", svc->n_clients);
		if (st[KG_STAT_REDIRECTED] != svc->last_redirected ||
		    kg_log_get_level() >= LOG_DEBUG)
			log_fields(
			    LOG_INFO,
			    KG_FIELDS({"KG_CLIENTS", clients}, {"KG_REDIRECTED", redirected}),
			    "stats: %s client(s), %s redirected, %" PRIu64 " left alone "
			    "(port %" PRIu64 ", no client %" PRIu64 ", own %" PRIu64
			    ", netns %" PRIu64 ", local %" PRIu64 ", bypass %" PRIu64
			    "), SO_ORIGINAL_DST %" PRIu64 " answered %" PRIu64 " denied, %" PRIu64
			    " events dropped, %" PRIu64 " connection_map entries evicted, %" PRIu64
			    " QUIC blocked",
			    clients, redirected, st[KG_STAT_CONNECT_SEEN] - st[KG_STAT_REDIRECTED],
			    st[KG_STAT_SKIP_PORT], st[KG_STAT_SKIP_NO_CLIENT],
			    st[KG_STAT_SKIP_SELF], st[KG_STAT_SKIP_NETNS], st[KG_STAT_SKIP_LOCAL],
			    st[KG_STAT_SKIP_BYPASS], st[KG_STAT_ORIGDST_ANSWERED],
			    st[KG_STAT_ORIGDST_DENIED], st[KG_STAT_EVENTS_DROPPED],
			    st[KG_STAT_CONNMAP_EVICTED], st[KG_STAT_QUIC_BLOCKED]);
		svc->last_redirected = st[KG_STAT_REDIRECTED];
		check_limits(svc, st); /* sooner than its own timer, when stats are this often */
	}
	publish_status(svc, st[KG_STAT_REDIRECTED]);
	kg_service_arm_stats_timer(svc);
	return 0;
}

void kg_service_arm_stats_timer(struct kg_service *svc)
{
	if (!svc->limits_timer &&
	    sd_event_add_time_relative(svc->event, &svc->limits_timer, CLOCK_MONOTONIC,
				       LIMITS_CHECK_USEC, 0, on_limits_timer, svc) >= 0)
		sd_event_source_set_enabled(svc->limits_timer, SD_EVENT_ON);
	if (!svc->stats_timer) {
		if (sd_event_add_time_relative(svc->event, &svc->stats_timer, CLOCK_MONOTONIC,
					       1000000ull, 0, on_stats_timer, svc) < 0)
			return;
	}
	if (svc->cfg.ebpf.stats_interval == 0) {
		sd_event_source_set_enabled(svc->stats_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time_relative(svc->stats_timer,
					  svc->cfg.ebpf.stats_interval * 1000000ull);
	sd_event_source_set_enabled(svc->stats_timer, SD_EVENT_ONESHOT);
}

int kg_service_on_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kg_service *svc = userdata;

	kg_datapath_consume(svc->dp);
	return 0;
}

int kg_service_reconfigure(struct kg_service *svc, struct kg_config *next)
{
	char why[512];
	int r;

	if (strcmp(next->socket_path, svc->cfg.socket_path) != 0 ||
	    strcmp(next->ebpf.cgroup_path, svc->cfg.ebpf.cgroup_path) != 0)
		log_warn(
		    "socket_path and ebpf.cgroup_path changes take effect only after a restart");
	r = kg_service_apply_config(svc, next, why, sizeof(why));
	if (r < 0) {
		log_error("reload failed: %s; restoring the running configuration", why);
		kg_service_apply_config(svc, &svc->cfg, why, sizeof(why));
		return r;
	}
	/* Keep what only a restart can change. */
	snprintf(next->socket_path, sizeof(next->socket_path), "%s", svc->cfg.socket_path);
	snprintf(next->ebpf.cgroup_path, sizeof(next->ebpf.cgroup_path), "%s",
		 svc->cfg.ebpf.cgroup_path);
	svc->cfg = *next;
	/* Reopening also follows a log_path change and lets logrotate move the file away. */
	r = kg_log_open("kernelgatekeeper-service", svc->cfg.log_level, svc->cfg.log_path);
	if (r < 0)
		log_warn("cannot open log_path %s: %s (keeping the previous log file)",
			 svc->cfg.log_path, strerror(-r));
	kg_service_arm_stats_timer(svc);
	kg_service_events_changed(svc);
	kg_ipc_server_system_recheck(svc);
	log_info("configuration reloaded from %s: %u target port(s), %u bypass range(s)",
		 svc->config_path, svc->n_ports, svc->cfg.ebpf.n_bypass);
	return 0;
}
