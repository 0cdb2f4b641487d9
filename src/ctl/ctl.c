/* kernelgatekeeper-ctl: ask the service about its state.
 *
 * Everything goes through the IPC socket; the service decides what the caller may see from
 * SO_PEERCRED (root sees every user, a user only their own client). Exit codes: 0 success,
 * 1 the service refused or is unreachable, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/config.h"
#include "shared/ipc.h"
#include "shared/macro.h"
#include "shared/netutil.h"
#include "shared/text.h"

#define CALL_TIMEOUT_MS 5000

static const char *socket_path = KG_DEFAULT_SOCKET_PATH;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kernelgatekeeper-ctl [--socket PATH] COMMAND\n"
		"\n"
		"Commands:\n"
		"  status              service state and the clients you may see\n"
		"  clients             registered clients (root: all users; others: their own)\n"
		"  ports list          target ports\n"
		"  ports add PORT      steer PORT too (root, with ebpf.allow_dynamic_ports)\n"
		"  ports remove PORT   stop steering PORT (root, with ebpf.allow_dynamic_ports)\n"
		"  stats               datapath counters\n"
		"  watch [--count N]   print connection events, and the route each relayed\n"
		"                      connection took, as they happen\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH   IPC socket (default " KG_DEFAULT_SOCKET_PATH ")\n"
		"      --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n");
}

static int connect_service(void)
{
	int fd = kg_ipc_connect(socket_path);

	if (fd < 0)
		fprintf(stderr, "kernelgatekeeper-ctl: cannot reach the service at %s: %s\n",
			socket_path,
			fd == -ENOENT || fd == -ECONNREFUSED
			    ? "is kernelgatekeeper.service running?"
			    : strerror(-fd));
	return fd;
}

/* One request, one reply; prints the service's error text when it refuses. */
static int call(int fd, uint16_t type, const void *p, size_t len, kg_ipc_buf_t *buf,
		struct kg_ipc_msg *m)
{
	int r = kg_ipc_call(fd, type, p, len, buf->bytes, sizeof(buf->bytes), m, NULL, 0, NULL,
			    CALL_TIMEOUT_MS);

	if (r < 0) {
		if (r != -ETIMEDOUT && r != -ECONNRESET && m->hdr.type == KG_MSG_ERROR) {
			const struct kg_ipc_error *e = m->payload;

			char text[KG_IPC_TEXT_MAX * 4];

			fprintf(stderr, "kernelgatekeeper-ctl: %s\n",
				kg_text_escape(e->message, sizeof(e->message), text, sizeof(text)));
		} else {
			fprintf(stderr, "kernelgatekeeper-ctl: request failed: %s\n", strerror(-r));
		}
	}
	return r;
}

static const char *user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		kg_text_escape(pw->pw_name, SIZE_MAX, buf, len);
	else
		snprintf(buf, len, "%u", uid);
	return buf;
}

static void format_time(uint64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;

	if (usec == 0 || !localtime_r(&t, &tm))
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "18:02" today, "2026-12-06 18:02" before. */
static void format_since(uint64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000u), now = time(NULL);
	struct tm tm, today;

	if (usec == 0 || !localtime_r(&t, &tm) || !localtime_r(&now, &today))
		snprintf(buf, len, "-");
	else if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, len, "%H:%M", &tm);
	else
		strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

/* Under a client's line, when its user goes direct: "direct: no proxy reachable since 18:02". */
static void print_route(const struct kg_ipc_client_info *ci)
{
	char since[32], reason[KG_IPC_REASON_MAX * 4];

	if (!ci->direct)
		return;
	format_since(ci->direct_since_usec, since, sizeof(since));
	kg_text_escape(ci->direct_reason, sizeof(ci->direct_reason), reason, sizeof(reason));
	printf("  direct: %s since %s (the client says so: not steered)\n",
	       reason[0] ? reason : "off the corporate network", since);
}

static void print_clients(const struct kg_ipc_client_info *ci, uint32_t n)
{
	uint32_t i;

	printf("%-12s %8s %7s %7s %10s  %-30s %s\n", "USER", "PID", "PORT4", "PORT6", "STEERED",
	       "PRINCIPAL", "TICKET EXPIRES");
	for (i = 0; i < n; i++) {
		char name[64], exp[32], principal[KG_IPC_TEXT_MAX * 4];

		user_name(ci[i].uid, name, sizeof(name));
		kg_text_escape(ci[i].report.principal, sizeof(ci[i].report.principal), principal,
			       sizeof(principal));
		format_time((uint64_t)ci[i].report.ticket_expiry * 1000000u, exp, sizeof(exp));
		printf("%-12s %8u %7u %7u %10" PRIu64 "  %-30s %s\n", name, ci[i].pid, ci[i].port4,
		       ci[i].port6, ci[i].redirected, principal[0] ? principal : "(no ticket)",
		       exp);
		print_route(&ci[i]);
	}
}

static int cmd_status(int fd, int clients_only)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	const struct kg_ipc_status *st;
	char since[32], text[KG_IPC_TEXT_MAX * 4];

	if (call(fd, KG_MSG_STATUS_GET, NULL, 0, &buf, &m) < 0)
		return EXIT_FAILURE;
	if (m.hdr.type != KG_MSG_STATUS)
		return EXIT_FAILURE;
	st = m.payload;
	if (!clients_only) {
		format_time(st->started_usec, since, sizeof(since));
		printf("kernelgatekeeper-service %s, running since %s\n",
		       kg_text_escape(st->version, sizeof(st->version), text, sizeof(text)), since);
		kg_text_escape(st->cgroup_path, sizeof(st->cgroup_path), text, sizeof(text));
		printf("cgroup:       %s\n", text);
		printf("target ports: %u\n", st->n_ports);
		printf("clients:      %u registered", st->n_clients_total);
		if (getuid() != 0)
			printf(" (you see your own only)");
		printf("\n\n");
	}
	if (st->n_clients == 0)
		printf("%s\n", getuid() == 0 ? "no client registered"
					     : "no client registered for you: is "
					       "kernelgatekeeper-client running? "
					       "(systemctl --user status kernelgatekeeper-client)");
	else
		print_clients((const void *)(st + 1), st->n_clients);
	return EXIT_SUCCESS;
}

static int print_ports(const struct kg_ipc_msg *m)
{
	const struct kg_ipc_ports *p = m->payload;
	unsigned i;

	if (m->hdr.type != KG_MSG_PORTS)
		return EXIT_FAILURE;
	for (i = 0; i < p->n_ports; i++)
		printf("%u\n", p->ports[i]);
	return EXIT_SUCCESS;
}

static int cmd_ports(int fd, int argc, char **argv)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	struct kg_ipc_port port = {0};
	uint16_t type;
	char *end;
	long v;

	if (argc == 0 || strcmp(argv[0], "list") == 0) {
		if (call(fd, KG_MSG_PORTS_LIST, NULL, 0, &buf, &m) < 0)
			return EXIT_FAILURE;
		return print_ports(&m);
	}
	if (strcmp(argv[0], "add") == 0)
		type = KG_MSG_PORTS_ADD;
	else if (strcmp(argv[0], "remove") == 0)
		type = KG_MSG_PORTS_REMOVE;
	else {
		fprintf(stderr, "kernelgatekeeper-ctl: unknown ports command '%s'\n", argv[0]);
		return EXIT_USAGE;
	}
	if (argc != 2) {
		fprintf(stderr, "kernelgatekeeper-ctl: ports %s needs one PORT\n", argv[0]);
		return EXIT_USAGE;
	}
	errno = 0;
	v = strtol(argv[1], &end, 10);
	if (errno || *end || v < 1 || v > 65535) {
		fprintf(stderr, "kernelgatekeeper-ctl: '%s' is not a port (1-65535)\n", argv[1]);
		return EXIT_USAGE;
	}
	port.port = (uint16_t)v;
	if (call(fd, type, &port, sizeof(port), &buf, &m) < 0)
		return EXIT_FAILURE;
	return print_ports(&m);
}

static const char *const stat_names[KG_STAT_MAX] = {
    [KG_STAT_CONNECT_SEEN] = "tcp_connects_seen",
    [KG_STAT_REDIRECTED] = "redirected",
    [KG_STAT_SKIP_PORT] = "skipped_not_target_port",
    [KG_STAT_SKIP_NO_CLIENT] = "skipped_no_client",
    [KG_STAT_SKIP_SELF] = "skipped_client_itself",
    [KG_STAT_SKIP_NETNS] = "skipped_other_netns",
    [KG_STAT_SKIP_LOCAL] = "skipped_local_destination",
    [KG_STAT_SKIP_BYPASS] = "skipped_bypass_or_proxy",
    [KG_STAT_ORIGDST_ANSWERED] = "original_dst_answered",
    [KG_STAT_ORIGDST_DENIED] = "original_dst_denied_other_uid",
    [KG_STAT_EVENTS_DROPPED] = "events_dropped",
    [KG_STAT_SKIP_DIRECT] = "skipped_direct_by_client",
    [KG_STAT_CONNMAP_EVICTED] = "connection_map_evicted",
    [KG_STAT_QUIC_BLOCKED] = "quic_blocked",
};

static int cmd_stats(int fd)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	const struct kg_ipc_stats *st;
	unsigned i;

	if (call(fd, KG_MSG_STATS_GET, NULL, 0, &buf, &m) < 0 || m.hdr.type != KG_MSG_STATS)
		return EXIT_FAILURE;
	st = m.payload;
	for (i = 0; i < KG_STAT_MAX; i++)
		printf("%-32s %" PRIu64 "\n", stat_names[i], st->counters[i]);
	printf("%-32s %" PRIu64 "\n", "events", st->events_total);
	printf("%-32s %" PRIu64 "\n", "clients_registered_total", st->clients_registered_total);
	printf("%-32s %" PRIu64 "\n", "ipc_errors", st->ipc_errors);
	return EXIT_SUCCESS;
}

static volatile sig_atomic_t stop_watch;

static void on_stop(int sig)
{
	stop_watch = 1;
}

/* A client's route report: "<time> route    uid=1000 203.0.113.5:443 www.example.test via
 * p2:3128 (p1:3128 down)", "-" for an unknown host. The service checked the texts (printable
 * ASCII); escaped all the same. */
static void print_route_report(const struct kg_ipc_route *rt)
{
	char dest[KG_ADDR_STR_MAX], when[32], host[KG_IPC_HOST_MAX * 4],
	    route[KG_IPC_ROUTE_MAX * 4];

	kg_format_ip_port(rt->dst_ip, rt->dst_port, dest, sizeof(dest));
	format_time(kg_now_usec(CLOCK_REALTIME), when, sizeof(when));
	kg_text_escape(rt->host, sizeof(rt->host), host, sizeof(host));
	kg_text_escape(rt->route, sizeof(rt->route), route, sizeof(route));
	printf("%s %-8s uid=%u %s %s %s\n", when, "route", rt->uid, dest, host[0] ? host : "-",
	       route);
}

static const char *event_name(uint32_t type)
{
	switch (type) {
	case KG_EVENT_REDIRECT:
		return "redirect";
	case KG_EVENT_QUIC_BLOCKED:
		return "quic-blocked";
	default:
		return "close";
	}
}

static int cmd_watch(int fd, int argc, char **argv)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	long count = -1, seen = 0;
	struct sigaction sa = {.sa_handler = on_stop};

	if (argc == 2 && strcmp(argv[0], "--count") == 0)
		count = strtol(argv[1], NULL, 10);
	else if (argc != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (call(fd, KG_MSG_WATCH, NULL, 0, &buf, &m) < 0)
		return EXIT_FAILURE;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stop_watch && (count < 0 || seen < count)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		const struct kg_event *ev;
		char dest[KG_ADDR_STR_MAX], name[64], when[32], comm[KG_COMM_LEN * 4];
		int r = poll(&pfd, 1, 1000);

		if (r <= 0)
			continue;
		r = kg_ipc_recv(fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL);
		if (r == -EAGAIN)
			continue;
		if (r < 0) {
			fprintf(stderr,
				"kernelgatekeeper-ctl: connection to the service lost: %s\n",
				strerror(-r));
			return EXIT_FAILURE;
		}
		if (m.hdr.type == KG_MSG_ROUTE) {
			print_route_report(m.payload);
			seen++;
			continue;
		}
		if (m.hdr.type != KG_MSG_EVENT)
			continue;
		ev = m.payload;
		kg_format_ip_port(ev->dst.ip, ev->dst.port, dest, sizeof(dest));
		format_time(kg_now_usec(CLOCK_REALTIME), when, sizeof(when));
		kg_text_escape(ev->dst.comm, sizeof(ev->dst.comm), comm, sizeof(comm));
		printf("%s %-8s user=%s pid=%u comm=%s dest=%s\n", when, event_name(ev->type),
		       user_name(ev->dst.uid, name, sizeof(name)), ev->dst.pid, comm, dest);
		seen++;
	}
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	_cleanup_close_ int fd = -1;
	const char *cmd;
	int c;

	/* "+": stop at the command so its own options (watch --count) stay its own. */
	while ((c = getopt_long(argc, argv, "+s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'V':
			printf("kernelgatekeeper-ctl %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "status") && strcmp(cmd, "clients") && strcmp(cmd, "ports") &&
	    strcmp(cmd, "stats") && strcmp(cmd, "watch")) {
		fprintf(stderr, "kernelgatekeeper-ctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	fd = connect_service();
	if (fd < 0)
		return EXIT_FAILURE;
	if (strcmp(cmd, "status") == 0)
		return cmd_status(fd, 0);
	if (strcmp(cmd, "clients") == 0)
		return cmd_status(fd, 1);
	if (strcmp(cmd, "ports") == 0)
		return cmd_ports(fd, argc - optind, argv + optind);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(fd);
	return cmd_watch(fd, argc - optind, argv + optind);
}
