/* kernelgatekeeper-client: the per-user relay daemon (systemd --user, Type=notify).
 *
 * Registers with kernelgatekeeper-service, takes the loopback listeners it hands over, and
 * turns every steered connection into a tunnel through the corporate proxy authenticated with
 * the user's own Kerberos ticket (DESIGN.md §4). READY=1 after the first registration attempt,
 * answered or not: a user's session must not wait on a system service that is stopped or
 * cannot start (the client keeps trying in the background); STATUS= says whether it is
 * waiting for the service or relaying, with the tunnel counts. SIGTERM/SIGINT: stop accepting, give
 * live tunnels CLIENT_STOP_GRACE_S, exit 0. SIGHUP: re-read the local file (logging) and the
 * service's configuration. Exit codes: 0 clean, 1 runtime failure, 2 usage or configuration error.
 *
 * --system: the system relay (issue 17, DESIGN.md §8), a system unit running as system.user. It
 * serves the uids of system.uids with tickets for the host's keytab principal (auth/keytab.h),
 * and refuses to start while system.enable is false, as root, or without a readable keytab.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "client/accept.h"
#include "client/auth/authq.h"
#include "client/auth/keytab.h"
#include "client/conn.h"
#include "client/forward.h"
#include "client/ipc_client.h"
#include "client/ipc_report.h"
#include "client/loop.h"
#include "client/policy.h"
#include "client/pump.h"
#include "client/tunnel.h"
#include "client/warm.h"
#include "shared/log.h"
#include "shared/netutil.h"

static void client_update_status(struct kg_client *cl)
{
	if (cl->stopping)
		return;
	if (!cl->registered) {
		sd_notifyf(0,
			   "STATUS=Waiting for kernelgatekeeper-service at %s; %" PRIu64
			   " tunnel(s) open",
			   cl->socket_path, cl->tunnels_active);
		return;
	}
	if (cl->route_direct) {
		char since[16] = "?";
		struct tm tm;

		if (localtime_r(&cl->route_since, &tm))
			strftime(since, sizeof(since), "%H:%M", &tm);
		sd_notifyf(0,
			   "STATUS=direct: %s since %s%s; %" PRIu64 " tunnel(s) open, %" PRIu64
			   " total, %" PRIu64 " failed",
			   cl->route_reason[0] ? cl->route_reason : "off the corporate network",
			   since, cl->route_told ? " (not steered)" : " (telling the service)",
			   cl->tunnels_active, cl->tunnels_total, cl->tunnels_failed);
		return;
	}
	if (policy_uses_pac(cl)) {
		char pac[POLICY_STATE_MAX];

		policy_describe(cl, pac, sizeof(pac));
		sd_notifyf(0,
			   "STATUS=Relaying by %s: %" PRIu64 " tunnel(s) open, %" PRIu64
			   " total, %" PRIu64 " failed",
			   pac, cl->tunnels_active, cl->tunnels_total, cl->tunnels_failed);
		return;
	}
	sd_notifyf(0,
		   "STATUS=Relaying through %s: %" PRIu64 " tunnel(s) open, %" PRIu64
		   " total, %" PRIu64 " failed",
		   !cl->set || cl->set->cfg.proxy.type == KG_PROXY_NONE ? "no proxy (direct)"
									: cl->set->cfg.proxy.url,
		   cl->tunnels_active, cl->tunnels_total, cl->tunnels_failed);
}

/* Descriptors: soft limit up to the hard one, at most CLIENT_FD_CAP. */
static void raise_fd_limit(struct kg_client *cl)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		cl->fd_cap = 1024 - CLIENT_FD_RESERVE;
		return;
	}
	want = rl.rlim_max < CLIENT_FD_CAP ? rl.rlim_max : CLIENT_FD_CAP;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	want = rl.rlim_cur < CLIENT_FD_CAP ? rl.rlim_cur : CLIENT_FD_CAP;
	cl->fd_cap =
	    want > 2 * CLIENT_FD_RESERVE ? (unsigned)want - CLIENT_FD_RESERVE : (unsigned)want / 2;
}

static int load_local_config(struct kg_client *cl, struct kg_config *cfg)
{
	char err[1024];
	int r;

	r = kg_config_load_or_defaults(cfg, cl->config_path, cl->explicit_config,
				       kg_log_config_warning, NULL, err, sizeof(err));
	if (r == KG_CONFIG_DEFAULTS) {
		log_debug("%s does not exist: using the defaults", cl->config_path);
		return 0;
	}
	if (r < 0)
		log_error("%s", err);
	return r;
}

static void begin_stop(struct kg_client *cl, const char *why)
{
	log_info("%s: closing the relay listeners, %" PRIu64 " tunnel(s) get %d s to finish", why,
		 cl->tunnels_active, CLIENT_STOP_GRACE_S);
	sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
	cl->stopping = true;
	warm_flush(cl, "stopping");
	(void)kg_loop_timer_arm(&cl->stop_timer, kg_loop_now() + CLIENT_STOP_GRACE_S * 1000000ull);
	ipc_client_close(cl); /* and the listeners */
	kg_loop_timer_cancel(&cl->reconnect_timer);
}

static void client_reload_done(struct kg_client *cl, int r);

static void reload(struct kg_client *cl)
{
	struct kg_config next;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, kg_now_usec(CLOCK_MONOTONIC));
	if (load_local_config(cl, &next) == 0) {
		cl->local = next;
		kg_log_set_level(next.log_level);
	} else {
		log_error("reload: keeping the running configuration");
	}
	r = ipc_client_refresh(cl);
	if (r < 0)
		client_reload_done(cl, r);
	/* else it ends when the service's answer is in (or overdue): ipc_client.c */
}

static void client_reload_done(struct kg_client *cl, int r)
{
	if (cl->stopping)
		return;
	if (r < 0 && r != -ENOTCONN)
		log_warn("reload: the service's configuration could not be fetched: %s",
			 strerror(-r));
	log_info("configuration reloaded");
	sd_notify(0, "READY=1");
	cl->status_dirty = true;
	/* the ticket may have changed too: report (and warn) now */
	(void)kg_loop_timer_arm(&cl->info_timer, 0);
}

static void on_signal(struct kg_loop_source *s, uint32_t events)
{
	struct kg_client *cl = KG_CONTAINER_OF(s, struct kg_client, signal_src);
	struct signalfd_siginfo si;

	(void)events;

	while (read(cl->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(cl);
			break;
		case SIGTERM:
		case SIGINT:
			if (!cl->stopping)
				begin_stop(cl, strsignal((int)si.ssi_signo));
			break;
		}
	}
}

static int fatal_rc;

/* Tokens and ticket reports are back from the Kerberos worker. */
static void on_authq_ready(struct kg_loop_source *s, uint32_t events)
{
	(void)s;
	(void)events;
	authq_on_ready();
}

static void on_ipc_event(struct kg_loop_source *s, uint32_t events)
{
	(void)events;
	ipc_client_on_readable(KG_CONTAINER_OF(s, struct kg_client, ipc_src));
}

/* The registration attempt ipc_client_schedule() asked for. */
static void on_reconnect_timer(struct kg_loop_timer *t)
{
	struct kg_client *cl = KG_CONTAINER_OF(t, struct kg_client, reconnect_timer);
	int r;

	if (cl->stopping)
		return;
	r = ipc_client_connect(cl);
	if (r == -EINVAL || r == -EPERM) {
		fatal_rc = r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
		begin_stop(cl, "cannot run");
		(void)kg_loop_timer_arm(&cl->stop_timer, 0); /* nothing to wait for */
	} else if (!cl->ready_sent) {
		cl->ready_sent = true;
		sd_notify(0, "READY=1");
		cl->status_dirty = true; /* "Waiting for kernelgatekeeper-service at ..." */
	}
}

/* The ticket report, every CLIENT_INFO_INTERVAL_S while registered (and at once after a
 * registration or a reload). */
static void on_info_timer(struct kg_loop_timer *t)
{
	struct kg_client *cl = KG_CONTAINER_OF(t, struct kg_client, info_timer);

	if (!cl->registered)
		return;
	ipc_client_request_info(cl);
	(void)kg_loop_timer_arm(t, kg_loop_now() + CLIENT_INFO_INTERVAL_S * 1000000ull);
}

/* The shutdown grace is over. */
static void on_stop_timer(struct kg_loop_timer *t)
{
	(void)t;
	kg_loop_quit();
}

/* A burst of setups (each holds a Kerberos context and its token for a moment) leaves free but
 * resident heap pages behind; idle tunnels themselves hold only a small struct. Hand the pages
 * back once the burst is over. */
static void on_trim_timer(struct kg_loop_timer *t)
{
	struct kg_client *cl = KG_CONTAINER_OF(t, struct kg_client, trim_timer);
	bool quiet = cl->tunnels_total - cl->tick_total < CLIENT_TRIM_AFTER;

	if (quiet && cl->tunnels_total - cl->trim_total >= CLIENT_TRIM_AFTER) {
		malloc_trim(0);
		cl->trim_total = cl->tunnels_total;
	}
	cl->tick_total = cl->tunnels_total;
	(void)kg_loop_timer_arm(t, kg_loop_now() + CLIENT_TRIM_INTERVAL_S * 1000000ull);
}

/* STATUS= at most once a second: a burst of connections is one update. */
static void status_due(struct kg_client *cl)
{
	uint64_t now;

	if (!cl->status_dirty)
		return;
	now = kg_loop_now();
	if (now >= cl->status_at) {
		client_update_status(cl);
		cl->status_dirty = false;
		cl->status_at = now + 1000000;
	} else if (!kg_loop_timer_armed(&cl->status_timer)) {
		(void)kg_loop_timer_arm(&cl->status_timer, cl->status_at);
	}
}

static void on_status_timer(struct kg_loop_timer *t)
{
	status_due(KG_CONTAINER_OF(t, struct kg_client, status_timer));
}

/* Once per loop pass, before it waits. */
static void on_pass(void *arg)
{
	struct kg_client *cl = arg;

	if (cl->stopping && !cl->conns) {
		kg_loop_quit();
		return;
	}
	status_due(cl);
}

/* Plain HTTP through an http proxy goes request by request (Squid's default refuses CONNECT to
 * port 80); everything else becomes a tunnel. */
static const struct conn_ops *way_out(struct kg_client *cl, const struct relay_conn *c)
{
	(void)cl;
	/* Port 80 goes request by request: through the proxy, each request with its own Host (and,
	 * under a PAC, its own FindProxyForURL with the full URL). */
	if ((c->set->cfg.proxy.type == KG_PROXY_HTTP || c->set->cfg.proxy.type == KG_PROXY_HTTPS ||
	     c->set->cfg.proxy.type == KG_PROXY_WPAD) &&
	    c->dst_port == 80)
		return &forward_conn_ops;
	return &tunnel_conn_ops;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: kernelgatekeeper-client [OPTIONS]\n"
	    "\n"
	    "Relay this user's steered connections through the Kerberos-authenticated proxy.\n"
	    "\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "      --system        be the system relay: serve system.uids with the keytab's\n"
	    "                      principal (system.enable must be true; never as root)\n"
	    "      --socket PATH   the service's IPC socket (default: socket_path of the file)\n"
	    "      --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n",
	    KG_DEFAULT_CONFIG_PATH);
}

/* The loop thread does little per wake-up (one recv, one send) but every byte of a connection's
 * handshake waits for it. On a busy machine (2 CPUs shared with the application, and here the
 * proxy and origin too) it queued behind other tasks' slices: asking the scheduler for the
 * shortest slice (0.1 ms, EEVDF, Linux 6.12) lets it run sooner when it wakes, without a
 * larger share of CPU. Measured: added first-byte p50 0.33 -> 0.19 ms on average over 9 runs
 * each. Older kernels ignore the request; the Kerberos worker keeps the default. */
static void request_short_slice(void)
{
	/* struct sched_attr (SCHED_ATTR_SIZE_VER0); <linux/sched/types.h> clashes with glibc. */
	struct {
		uint32_t size, sched_policy;
		uint64_t sched_flags;
		int32_t sched_nice;
		uint32_t sched_priority;
		uint64_t sched_runtime, sched_deadline, sched_period;
	} attr = {
	    .size = sizeof(attr),
	    .sched_flags = 0x08,     /* SCHED_FLAG_KEEP_POLICY: a CPUSchedulingPolicy= stays */
	    .sched_runtime = 100000, /* ns */
	};

	/* sched_setattr() sets the nice value too: keep the unit's Nice= (raising it back to 0
	 * would need privilege). */
	errno = 0;
	attr.sched_nice = getpriority(PRIO_PROCESS, 0);
	if (errno)
		return;

	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		log_debug("cannot ask for a short scheduler slice: %s", strerror(errno));
}
static void on_settings_applied(struct kg_client *cl, bool upstream_changed)
{
	int r;

	if (upstream_changed)
		forward_retire_stale(cl);
	warm_flush(cl, "new settings");
	r = policy_apply(cl);
	if (r < 0)
		log_warn("the proxy policy could not start: %s", strerror(-r));
}

static void on_proxy_result(struct kg_client *cl, bool connected)
{
	policy_proxy_result(cl, connected);
}

/* --system: the checks that make the system relay refuse to start, each one sentence, then the
 * keytab's tickets. 0, or the exit code. */
static int system_start(struct kg_client *cl)
{
	char path[PATH_MAX], err[KEYTAB_ERR_MAX];
	int r;

	if (!cl->local.system.enable) {
		log_error("the system relay is off: set system.enable = true in %s to route root's "
			  "and system services' connections with the host's keytab",
			  cl->config_path);
		return EXIT_USAGE;
	}
	if (getuid() == 0 || geteuid() == 0) {
		log_error("kernelgatekeeper-client --system does not run as root: run it as "
			  "system.user (%s), which the service accepts for system.uids",
			  cl->local.system.user);
		return EXIT_FAILURE;
	}
	if (keytab_path(cl->local.system.keytab, path, sizeof(path)) < 0) {
		log_error("$CREDENTIALS_DIRECTORY is too long");
		return EXIT_FAILURE;
	}
	r = keytab_renewer_start(path, cl->local.system.principal, err, sizeof(err));
	if (r < 0) {
		log_error("system relay: %s", err);
		return EXIT_FAILURE;
	}
	client_settings_set_ccache_source(keytab_ccache);
	log_info("system relay: serving system.uids as %s (keytab %s)", keytab_principal(), path);
	return 0;
}

static int setup(struct kg_client *cl)
{
	sigset_t mask;
	int r;

	raise_fd_limit(cl);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before the worker thread exists, so it inherits the mask. */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = kg_loop_init();
	if (r < 0)
		return r;
	pump_init(true);
	conn_init(cl, way_out);
	warm_init(cl);
	accept_init(cl);
	cl->reconnect_timer.kind = kg_loop_timer_kind(on_reconnect_timer);
	cl->info_timer.kind = kg_loop_timer_kind(on_info_timer);
	cl->reload_done = client_reload_done;
	cl->settings_applied = on_settings_applied;
	cl->proxy_result = on_proxy_result;
	cl->stop_timer.kind = kg_loop_timer_kind(on_stop_timer);
	cl->status_timer.kind = kg_loop_timer_kind(on_status_timer);
	cl->trim_timer.kind = kg_loop_timer_kind(on_trim_timer);
	r = kg_loop_timer_arm(&cl->trim_timer, 0);
	if (r < 0)
		return r;
	kg_loop_set_pass_hook(on_pass, cl);
	cl->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (cl->signal_fd < 0)
		return -errno;
	cl->signal_src.kind = kg_loop_source_kind(on_signal);
	cl->ipc_src.kind = kg_loop_source_kind(on_ipc_event);
	r = kg_loop_add(cl->signal_fd, &cl->signal_src, EPOLLIN);
	if (r < 0)
		return r;
	r = authq_start(cl);
	if (r < 0)
		return r;
	cl->authq_src.kind = kg_loop_source_kind(on_authq_ready);
	r = kg_loop_add(authq_fd(), &cl->authq_src, EPOLLIN);
	if (r == 0)
		request_short_slice();
	return r;
}

/* false: the Kerberos worker was left running (see authq_stop()). */
static bool teardown(struct kg_client *cl)
{
	bool stopped;

	conn_close_all(cl);
	warm_cleanup(cl);
	policy_stop(cl);
	kg_loop_cleanup();
	pump_cleanup();
	stopped = authq_stop();
	ipc_client_close(cl);
	client_settings_unref(cl->set);
	cl->set = NULL;
	if (cl->signal_fd >= 0)
		close(cl->signal_fd);
	return stopped;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 'S'},
	    {"system", no_argument, NULL, 'Y'},	      {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	      {0},
	};
	static struct kg_client cl = {.ipc_fd = -1, .signal_fd = -1};
	char err[KG_URL_MAX + 128];
	int c, r, rc = EXIT_SUCCESS;
	bool worker_stopped;
	unsigned i;

	for (i = 0; i < CLIENT_MAX_LISTENERS; i++)
		cl.listeners[i].fd = -1;
	snprintf(cl.config_path, sizeof(cl.config_path), "%s", KG_DEFAULT_CONFIG_PATH);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			snprintf(cl.config_path, sizeof(cl.config_path), "%s", optarg);
			cl.explicit_config = true;
			break;
		case 'S':
			if (strlen(optarg) >= sizeof(cl.socket_path) || optarg[0] != '/') {
				fprintf(stderr,
					"kernelgatekeeper-client: --socket needs an absolute "
					"path shorter than %zu bytes\n",
					sizeof(cl.socket_path));
				return EXIT_USAGE;
			}
			snprintf(cl.socket_path, sizeof(cl.socket_path), "%s", optarg);
			cl.explicit_socket = true;
			break;
		case 'Y':
			cl.system = true;
			break;
		case 'V':
			printf("kernelgatekeeper-client %s\n", PACKAGE_VERSION);
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
		fprintf(stderr, "kernelgatekeeper-client: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	kg_log_open(KG_CLIENT_IDENT, LOG_INFO, NULL);
	if (load_local_config(&cl, &cl.local) < 0)
		return EXIT_USAGE;
	/* The service's settings are authoritative (apply_config checks them), but a local file
	 * naming a proxy type this version cannot do is refused at once, even with no service
	 * to ask; an http type without a URL here is fine, the service supplies it. */
	if (client_settings_check(cl.local.proxy.type, cl.local.proxy.url, NULL, err,
				  sizeof(err)) == -EOPNOTSUPP) {
		log_error("%s: %s", cl.config_path, err);
		return EXIT_USAGE;
	}
	if (!cl.explicit_socket)
		snprintf(cl.socket_path, sizeof(cl.socket_path), "%s", cl.local.socket_path);
	r = kg_log_open(KG_CLIENT_IDENT, cl.local.log_level, cl.local.log_path);
	if (r < 0)
		log_warn("cannot open log_path %s: %s (logging to the journal only)",
			 cl.local.log_path, strerror(-r));
	if (cl.system) {
		r = system_start(&cl);
		if (r)
			return r;
	} else if (getuid() == 0) {
		log_warn("running as root: the service gives root no relay");
	}
	snprintf(cl.uid_str, sizeof(cl.uid_str), "%u", (unsigned)getuid());

	r = setup(&cl);
	if (r < 0) {
		log_error("cannot start: %s", strerror(-r));
		teardown(&cl);
		return EXIT_FAILURE;
	}
	log_fields(LOG_INFO, KG_FIELDS({"KG_UID", cl.uid_str}),
		   "kernelgatekeeper-client %s starting for uid %s (descriptor cap %u)",
		   PACKAGE_VERSION, cl.uid_str, cl.fd_cap);
	ipc_client_schedule(&cl, 0);
	r = kg_loop_run();
	if (r < 0) {
		log_error("event loop failed: %s", strerror(-r));
		rc = EXIT_FAILURE;
	} else if (fatal_rc) {
		rc = fatal_rc;
	}
	if (cl.tunnels_active)
		log_info("closing %" PRIu64 " tunnel(s) still open", cl.tunnels_active);
	worker_stopped = teardown(&cl);
	if (cl.system && worker_stopped)
		keytab_renewer_stop();
	if (rc == EXIT_SUCCESS)
		log_info("stopped");
	kg_log_close();
	if (!worker_stopped)
		_exit(rc); /* no library destructors under the worker still inside libkrb5 */
	return rc;
}
