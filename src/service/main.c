/* kernelgatekeeper-service: the root half of KernelGatekeeper.
 *
 * Loads and attaches the datapath, serves IPC, hands each registered user their relay
 * listeners, turns ring-buffer events into per-client notifications and counters, logs stats.
 * Foreground only, Type=notify: READY=1 is sent once the programs are attached and the IPC
 * socket listens; SIGHUP reloads (RELOADING=1 + MONOTONIC_USEC, then READY=1 whether or not the
 * new file was accepted), SIGTERM/SIGINT detach everything and exit 0.
 * Exit codes: 0 clean, 1 runtime failure, 2 usage or configuration error.
 * This file is the process's lifecycle (arguments, start, signals, stop); the state the loop
 * works on between events is service.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "service/cgroup.h"
#include "service/service.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kg_service *svc = userdata;
	struct kg_config next;
	char err[1024];
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
	if (kg_service_reconfigure(svc, &next) < 0) {
		sd_notifyf(0, "READY=1\nSTATUS=Reload failed (old configuration kept)");
		return 0;
	}
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
	r = kg_service_apply_config(svc, &svc->cfg, why, sizeof(why));
	if (r < 0) {
		log_error("cannot start: %s", why);
		return EXIT_FAILURE;
	}
	r = sd_event_add_io(svc->event, &svc->ring_source, kg_datapath_event_fd(svc->dp), EPOLLIN,
			    kg_service_on_ring, svc);
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
	kg_service_arm_stats_timer(svc);
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
	svc->limits_timer = sd_event_source_disable_unref(svc->limits_timer);
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
