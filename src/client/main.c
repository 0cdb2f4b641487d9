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

#include "client/auth/authq.h"
#include "client/relay.h"
#include "shared/log.h"
#include "shared/netutil.h"

void client_update_status(struct kg_client *cl)
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
	sd_notifyf(0,
		   "STATUS=Relaying through %s: %" PRIu64 " tunnel(s) open, %" PRIu64
		   " total, %" PRIu64 " failed",
		   !cl->set || cl->set->proxy_type == KG_PROXY_NONE ? "no proxy (direct)"
								    : cl->set->proxy_url,
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
	cl->stop_deadline = kg_now_usec(CLOCK_MONOTONIC) + CLIENT_STOP_GRACE_S * 1000000ull;
	ipc_client_close(cl); /* and the listeners */
	cl->reconnect_at = 0;
}

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

void client_reload_done(struct kg_client *cl, int r)
{
	if (cl->stopping)
		return;
	if (r < 0 && r != -ENOTCONN)
		log_warn("reload: the service's configuration could not be fetched: %s",
			 strerror(-r));
	log_info("configuration reloaded");
	sd_notify(0, "READY=1");
	cl->status_dirty = true;
	cl->info_at = 0; /* the ticket may have changed too: report (and warn) now */
}

void client_on_signal(struct kg_client *cl)
{
	struct signalfd_siginfo si;

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

void client_on_tick(struct kg_client *cl, uint64_t now, uint64_t *next)
{
	int r;

	if (cl->reconnect_at && now >= cl->reconnect_at && !cl->stopping) {
		r = ipc_client_connect(cl);
		if (r == -EINVAL || r == -EPERM) {
			fatal_rc = r == -EINVAL ? EXIT_USAGE : EXIT_FAILURE;
			begin_stop(cl, "cannot run");
			cl->stop_deadline = now; /* nothing to wait for */
		} else if (!cl->ready_sent) {
			cl->ready_sent = true;
			sd_notify(0, "READY=1");
			cl->status_dirty = true; /* "Waiting for kernelgatekeeper-service at ..." */
		}
	}
	if (cl->reconnect_at && cl->reconnect_at < *next)
		*next = cl->reconnect_at;
	if (cl->registered && now >= cl->info_at) {
		ipc_client_request_info(cl);
		cl->info_at = now + CLIENT_INFO_INTERVAL_S * 1000000ull;
	}
	if (cl->registered && cl->info_at < *next)
		*next = cl->info_at;
	if (cl->stopping && cl->stop_deadline < *next)
		*next = cl->stop_deadline;
	accept_on_tick(cl, now, next);
	/* A burst of setups (each holds a Kerberos context and its token for a moment) leaves
	 * free but resident heap pages behind; idle tunnels themselves hold only a small struct.
	 * Hand the pages back once the burst is over. */
	if (now >= cl->trim_at) {
		bool quiet = cl->tunnels_total - cl->tick_total < CLIENT_TRIM_AFTER;

		if (quiet && cl->tunnels_total - cl->trim_total >= CLIENT_TRIM_AFTER) {
			malloc_trim(0);
			cl->trim_total = cl->tunnels_total;
		}
		cl->tick_total = cl->tunnels_total;
		cl->trim_at = now + CLIENT_TRIM_INTERVAL_S * 1000000ull;
	}
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
	r = relay_loop_init(cl);
	if (r < 0)
		return r;
	cl->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (cl->signal_fd < 0)
		return -errno;
	cl->signal_src.kind = SRC_SIGNAL;
	r = relay_watch(cl, cl->signal_fd, &cl->signal_src, EPOLLIN);
	if (r < 0)
		return r;
	r = authq_start(cl);
	if (r == 0)
		request_short_slice();
	return r;
}

/* false: the Kerberos worker was left running (see authq_stop()). */
static bool teardown(struct kg_client *cl)
{
	bool stopped;

	relay_close_all(cl);
	relay_loop_run_cleanup(cl);
	stopped = authq_stop();
	ipc_client_close(cl);
	client_settings_unref(cl->set);
	cl->set = NULL;
	if (cl->signal_fd >= 0)
		close(cl->signal_fd);
	if (cl->epfd >= 0)
		close(cl->epfd);
	return stopped;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 'S'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static struct kg_client cl = {.epfd = -1, .ipc_fd = -1, .signal_fd = -1};
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
	if (getuid() == 0)
		log_warn("running as root: the service gives root no relay");
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
	r = relay_loop_run(&cl);
	if (r < 0) {
		log_error("event loop failed: %s", strerror(-r));
		rc = EXIT_FAILURE;
	} else if (fatal_rc) {
		rc = fatal_rc;
	}
	if (cl.tunnels_active)
		log_info("closing %" PRIu64 " tunnel(s) still open", cl.tunnels_active);
	worker_stopped = teardown(&cl);
	if (rc == EXIT_SUCCESS)
		log_info("stopped");
	kg_log_close();
	if (!worker_stopped)
		_exit(rc); /* no library destructors under the worker still inside libkrb5 */
	return rc;
}
