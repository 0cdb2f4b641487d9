/* kernelgatekeeper-service: the root half of KernelGatekeeper.
 *
 * Loads and attaches the datapath, serves IPC, hands each registered user their relay
 * listeners, turns ring-buffer events into per-client notifications and counters, logs stats.
 * Foreground only, Type=notify: READY=1 is sent once the programs are attached and the IPC
 * socket listens; SIGHUP reloads (RELOADING=1 + MONOTONIC_USEC, then READY=1 whether or not the
 * new file was accepted), SIGTERM/SIGINT detach everything and exit 0.
 * Exit codes: 0 clean, 1 runtime failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "service/cgroup.h"
#include "service/service.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"

/* Proxy endpoints are never steered (the relay itself must reach them). Names are resolved
 * once per (re)load; a name that does not resolve is logged and skipped. */
static int proxy_endpoints(const struct kg_config *cfg, struct kg_endpoint *eps, unsigned cap)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	struct kg_url url;
	char port[8];
	unsigned n = 0;
	int r;

	if (cfg->proxy.url[0] == '\0' || kg_url_parse(cfg->proxy.url, &url) < 0)
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
static int apply_config(struct kg_service *svc, const struct kg_config *cfg, char *why,
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

static void arm_stats_timer(struct kg_service *svc);

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
			    " events dropped",
			    clients, redirected, st[KG_STAT_CONNECT_SEEN] - st[KG_STAT_REDIRECTED],
			    st[KG_STAT_SKIP_PORT], st[KG_STAT_SKIP_NO_CLIENT],
			    st[KG_STAT_SKIP_SELF], st[KG_STAT_SKIP_NETNS], st[KG_STAT_SKIP_LOCAL],
			    st[KG_STAT_SKIP_BYPASS], st[KG_STAT_ORIGDST_ANSWERED],
			    st[KG_STAT_ORIGDST_DENIED], st[KG_STAT_EVENTS_DROPPED]);
		svc->last_redirected = st[KG_STAT_REDIRECTED];
	}
	publish_status(svc, st[KG_STAT_REDIRECTED]);
	arm_stats_timer(svc);
	return 0;
}

static void arm_stats_timer(struct kg_service *svc)
{
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

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kg_service *svc = userdata;
	struct kg_config next;
	char err[1024], why[512];
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading configuration",
		   kg_now_usec(CLOCK_MONOTONIC));
	r = kg_config_load_or_defaults(&next, svc->config_path, svc->explicit_config,
				       kg_log_config_warning, NULL, err, sizeof(err));
	if (r == KG_CONFIG_DEFAULTS)
		log_notice("%s does not exist: running with the built-in defaults",
			   svc->config_path);
	if (r < 0) {
		log_error("reload rejected, keeping the running configuration: %s", err);
		sd_notifyf(0, "READY=1\nSTATUS=Reload failed (old configuration kept): %s", err);
		return 0;
	}
	if (strcmp(next.socket_path, svc->cfg.socket_path) != 0 ||
	    strcmp(next.ebpf.cgroup_path, svc->cfg.ebpf.cgroup_path) != 0)
		log_warn(
		    "socket_path and ebpf.cgroup_path changes take effect only after a restart");
	r = apply_config(svc, &next, why, sizeof(why));
	if (r < 0) {
		log_error("reload failed: %s; restoring the running configuration", why);
		apply_config(svc, &svc->cfg, why, sizeof(why));
		sd_notifyf(0, "READY=1\nSTATUS=Reload failed (old configuration kept)");
		return 0;
	}
	/* Keep what only a restart can change. */
	snprintf(next.socket_path, sizeof(next.socket_path), "%s", svc->cfg.socket_path);
	snprintf(next.ebpf.cgroup_path, sizeof(next.ebpf.cgroup_path), "%s",
		 svc->cfg.ebpf.cgroup_path);
	svc->cfg = next;
	/* Reopening also follows a log_path change and lets logrotate move the file away. */
	r = kg_log_open("kernelgatekeeper-service", svc->cfg.log_level, svc->cfg.log_path);
	if (r < 0)
		log_warn("cannot open log_path %s: %s (keeping the previous log file)",
			 svc->cfg.log_path, strerror(-r));
	arm_stats_timer(svc);
	kg_service_events_changed(svc);
	log_info("configuration reloaded from %s: %u target port(s), %u bypass range(s)",
		 svc->config_path, svc->n_ports, svc->cfg.ebpf.n_bypass);
	sd_notify(0, "READY=1");
	kg_service_update_status(svc);
	return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kg_service *svc = userdata;

	log_info("received %s, detaching and stopping", strsignal((int)si->ssi_signo));
	sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
	/* Shutdown must finish within shutdown_timeout even if something below hangs. */
	alarm(svc->cfg.shutdown_timeout);
	sd_event_exit(sd_event_source_get_event(s), 0);
	return 0;
}

static int on_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kg_service *svc = userdata;

	kg_datapath_consume(svc->dp);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kernelgatekeeper-service [OPTIONS]\n"
		"\n"
		"Steer registered users' TCP connections to their Kerberos proxy relays.\n"
		"\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"      --check-config  validate the configuration and exit\n"
		"      --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n",
		KG_DEFAULT_CONFIG_PATH);
}

static void on_alarm(int sig)
{
	static const char msg[] = "<3>shutdown_timeout expired, exiting\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(1);
}

static int run(struct kg_service *svc)
{
	char why[512];
	sigset_t mask;
	int r;

	r = kg_cgroup_resolve(svc->cfg.ebpf.cgroup_path, svc->cgroup_dir, sizeof(svc->cgroup_dir));
	if (r < 0) {
		log_error("%s: no cgroup v2 hierarchy at %s (nor at %s/unified): %s; set "
			  "ebpf.cgroup_path to the cgroup2 mount point",
			  svc->config_path, svc->cfg.ebpf.cgroup_path, svc->cfg.ebpf.cgroup_path,
			  r == -EMEDIUMTYPE ? "not a cgroup2 file system" : strerror(-r));
		return EXIT_USAGE;
	}
	r = kg_datapath_probe(why, sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		return EXIT_KERNEL;
	}
	r = sd_event_default(&svc->event);
	if (r < 0) {
		log_error("cannot create the event loop: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	sd_event_add_signal(svc->event, NULL, SIGHUP, on_reload, svc);
	sd_event_add_signal(svc->event, NULL, SIGTERM, on_terminate, svc);
	sd_event_add_signal(svc->event, NULL, SIGINT, on_terminate, svc);
	sd_event_set_watchdog(svc->event, true);

	r = kg_datapath_open(&svc->dp, svc->cgroup_dir, kg_service_on_event, svc, why, sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		return r == -ENOEXEC ? EXIT_KERNEL : EXIT_FAILURE;
	}
	r = apply_config(svc, &svc->cfg, why, sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		return EXIT_FAILURE;
	}
	r = sd_event_add_io(svc->event, &svc->ring_source, kg_datapath_event_fd(svc->dp), EPOLLIN,
			    on_ring, svc);
	if (r < 0) {
		log_error("cannot watch the event ring buffer: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	r = kg_ipc_server_open(svc);
	if (r < 0) {
		log_error("cannot listen on %s: %s", svc->cfg.socket_path,
			  r == -EADDRINUSE ? "another kernelgatekeeper-service is running"
					   : strerror(-r));
		return EXIT_FAILURE;
	}
	arm_stats_timer(svc);
	kg_service_events_changed(svc);
	svc->started_usec = kg_now_usec(CLOCK_REALTIME);
	log_fields(LOG_INFO,
		   KG_FIELDS({"KG_CGROUP", svc->cgroup_dir}, {"KG_SOCKET", svc->cfg.socket_path}),
		   "kernelgatekeeper-service %s started: programs attached to %s, %u target "
		   "port(s), IPC on %s",
		   PACKAGE_VERSION, svc->cgroup_dir, svc->n_ports, svc->cfg.socket_path);
	sd_notify(0, "READY=1");
	kg_service_update_status(svc);

	r = sd_event_loop(svc->event);
	if (r < 0) {
		log_error("event loop failed: %s", strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static void service_free(struct kg_service *svc)
{
	/* Programs first, entries after: while a program runs, the relay_ports entries must be
	 * there to refuse another user's direct connection to a relay port. */
	kg_datapath_detach(svc->dp);
	kg_ipc_server_close(svc);
	svc->stats_timer = sd_event_source_disable_unref(svc->stats_timer);
	svc->drain_timer = sd_event_source_disable_unref(svc->drain_timer);
	svc->ring_source = sd_event_source_disable_unref(svc->ring_source);
	kg_datapath_close(svc->dp);
	svc->dp = NULL;
	sd_event_unref(svc->event);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static struct kg_service svc = {.ipc_fd = -1};
	const char *config_path = KG_DEFAULT_CONFIG_PATH;
	bool check_only = false, explicit_config = false;
	char err[1024];
	int c, r, rc;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			explicit_config = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 'V':
			printf("kernelgatekeeper-service %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kernelgatekeeper-service: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	kg_log_open("kernelgatekeeper-service", LOG_INFO, NULL);
	kg_log_route_libbpf();
	snprintf(svc.config_path, sizeof(svc.config_path), "%s", config_path);
	svc.explicit_config = explicit_config;
	r = kg_config_load_or_defaults(&svc.cfg, config_path, explicit_config,
				       kg_log_config_warning, NULL, err, sizeof(err));
	if (r == KG_CONFIG_DEFAULTS) {
		log_notice("%s does not exist: running with the built-in defaults", config_path);
	} else if (r < 0) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (check_only) {
		printf("%s: OK\n", config_path);
		return EXIT_SUCCESS;
	}
	r = kg_log_open("kernelgatekeeper-service", svc.cfg.log_level, svc.cfg.log_path);
	if (r < 0)
		log_warn("cannot open log_path %s: %s (logging to the journal only)",
			 svc.cfg.log_path, strerror(-r));

	rc = run(&svc);
	service_free(&svc);
	if (rc == EXIT_SUCCESS)
		log_info("stopped; all programs detached");
	kg_log_close();
	return rc;
}
