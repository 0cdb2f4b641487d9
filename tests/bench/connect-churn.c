/* connect-churn: sustained connection churn, each connect() timed (a benchmark instrument, not
 * shipped; issue 15).
 *
 *   connect-churn connect ADDR PORT RATE SECS [DUMP]
 *       Opens RATE connections a second to ADDR:PORT for SECS seconds, paced open-loop (the
 *       i-th starts at i / RATE s; one that falls behind starts at once), each closed by this
 *       side right after connect() returns, before the peer sends or closes anything, so the
 *       TIME_WAIT state piles up here. Prints
 *         churn_sent N ok K secs S late L           (L: started more than 10 ms behind)
 *         churn_connect_ns P50 P99 MAX SLOW         (successful connects; SLOW: over 200 ms)
 *         churn_fail ERRNO_NAME COUNT               (one line per errno, none if all went)
 *         churn_window FROM_S P50_NS P99_NS FAILS   (one line per 10 s of the run)
 *       With DUMP, each successful connect's time (ns) is appended to that file, one a line.
 *   connect-churn quantiles < TIMES
 *       Reads times (one a line, e.g. several runs' DUMP files) and prints "n N", "max M" and,
 *       for the 50th and 99th percentiles, "pP VALUE LO HI": the estimate and its 95 %
 *       distribution-free interval (the order statistics at ranks n p -/+ 1.96 sqrt(n p (1-p))).
 *   connect-churn listen ADDR PORT
 *       A plain listener serving as the relay does below (the unsteered destination).
 *   connect-churn relay SOCKET
 *       Registers with the service over SOCKET as the calling user, prints "REGISTERED port4
 *       port6" and serves the listeners it receives: accepts everything, waits for the peer's
 *       FIN, closes. The service's notifications are read and dropped.
 *
 * Both serving modes never write, so the application's close() sends a FIN (not a reset for
 * unread data) and the application side, which closed first, is the one left in TIME_WAIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shared/ipc.h"

#define SLOW_NS	  200e6
#define LATE_NS	  10e6
#define WINDOW_S  10
#define MAX_ERRNO 256

static int parse4(const char *addr, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void sleep_until(double ns)
{
	struct timespec t = {.tv_sec = (time_t)(ns / 1e9)};

	t.tv_nsec = (long)(ns - t.tv_sec * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The P-th percentile (0-100) of v[0..n), sorted in place; 0 for none. */
static double pct(double *v, size_t n, int p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp);
	i = n * (size_t)p / 100;
	return v[i < n ? i : n - 1];
}

static const char *errno_name(int e)
{
	switch (e) {
	case EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	case EADDRINUSE:
		return "EADDRINUSE";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EINPROGRESS:
		return "EINPROGRESS(timeout)";
	case EAGAIN:
		return "EAGAIN";
	case EMFILE:
		return "EMFILE";
	case ENFILE:
		return "ENFILE";
	case ENOBUFS:
		return "ENOBUFS";
	case ECONNRESET:
		return "ECONNRESET";
	default:
		return strerror(e);
	}
}

static int cmd_connect(int argc, char **argv)
{
	struct sockaddr_in sa;
	long rate, secs, n, i, ok = 0, late = 0, fails[MAX_ERRNO] = {0};
	double *lat, *win, t0, period, elapsed;
	/* A connect() that waits this long for a lost handshake is a failure, not a sample. */
	struct timeval limit = {.tv_sec = 5};

	FILE *dump = NULL;

	if (argc < 4 || parse4(argv[0], atoi(argv[1]), &sa) < 0)
		return 2;
	if (argc > 4 && !(dump = fopen(argv[4], "a"))) {
		perror(argv[4]);
		return 1;
	}
	rate = atol(argv[2]);
	secs = atol(argv[3]);
	if (rate < 1 || rate > 100000 || secs < 1 || secs > 3600)
		return 2;
	n = rate * secs;
	lat = calloc((size_t)n, sizeof(*lat)); /* < 0: failed */
	win = calloc((size_t)n, sizeof(*win));
	if (!lat || !win)
		return 1;
	period = 1e9 / (double)rate;
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		double due = t0 + (double)i * period, c0, c1;
		int fd, e = 0;

		if (now_ns() < due)
			sleep_until(due);
		c0 = now_ns();
		late += c0 - due > LATE_NS;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			e = errno;
		else if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0 ||
			 connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			e = errno;
		c1 = now_ns();
		if (fd >= 0)
			close(fd);
		if (e) {
			fails[e < MAX_ERRNO ? e : 0]++;
			lat[i] = -1;
		} else {
			lat[i] = c1 - c0;
			ok++;
		}
	}
	elapsed = (now_ns() - t0) / 1e9;
	printf("churn_sent %ld ok %ld secs %.1f late %ld\n", n, ok, elapsed, late);
	/* Per window of WINDOW_S seconds (by schedule), then the whole run. */
	for (long w = 0; w * WINDOW_S < secs; w++) {
		long from = w * WINDOW_S * rate, to = from + WINDOW_S * rate, m = 0, f = 0;
		double p50, p99;

		for (i = from; i < to && i < n; i++) {
			if (lat[i] < 0)
				f++;
			else
				win[m++] = lat[i];
		}
		p50 = pct(win, (size_t)m, 50);
		p99 = pct(win, (size_t)m, 99);
		printf("churn_window %ld %.0f %.0f %ld\n", w * WINDOW_S, p50, p99, f);
	}
	{
		long m = 0, slow = 0;
		double p50, p99;

		for (i = 0; i < n; i++)
			if (lat[i] >= 0) {
				win[m++] = lat[i];
				slow += lat[i] > SLOW_NS;
			}
		p50 = pct(win, (size_t)m, 50);
		p99 = pct(win, (size_t)m, 99);
		printf("churn_connect_ns %.0f %.0f %.0f %ld\n", p50, p99, m ? win[m - 1] : 0, slow);
	}
	for (i = 0; i < MAX_ERRNO; i++)
		if (fails[i])
			printf("churn_fail %s %ld\n", i ? errno_name((int)i) : "other", fails[i]);
	for (i = 0; dump && i < n; i++)
		if (lat[i] >= 0)
			fprintf(dump, "%.0f\n", lat[i]);
	if (dump && fclose(dump) != 0)
		return 1;
	free(lat);
	free(win);
	return 0;
}

static int cmd_quantiles(void)
{
	size_t n = 0, cap = 1 << 16;
	double *v = malloc(cap * sizeof(*v)), x;
	static const double ps[] = {0.50, 0.99};

	if (!v)
		return 1;
	while (scanf("%lf", &x) == 1) {
		if (n == cap) {
			double *w = realloc(v, (cap *= 2) * sizeof(*v));

			if (!w)
				return 1;
			v = w;
		}
		v[n++] = x;
	}
	if (n == 0)
		return 1;
	qsort(v, n, sizeof(*v), cmp);
	printf("n %zu\nmax %.0f\n", n, v[n - 1]);
	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		double p = ps[k], c = (double)n * p, h = 1.96 * sqrt((double)n * p * (1 - p));
		long lo = (long)floor(c - h), hi = (long)ceil(c + h), at = (long)floor(c);

		lo = lo < 0 ? 0 : lo;
		hi = hi > (long)n - 1 ? (long)n - 1 : hi;
		at = at > (long)n - 1 ? (long)n - 1 : at;
		printf("p%.0f %.0f %.0f %.0f\n", p * 100, v[at], v[lo], v[hi]);
	}
	free(v);
	return 0;
}

/* Accept on every listener, wait for each peer's FIN, close; ipc (or -1) is drained. */
static int serve(const int *listeners, size_t n_listeners, int ipc)
{
	struct epoll_event ev, evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	size_t i;

	if (ep < 0)
		return 1;
	for (i = 0; i < n_listeners; i++) {
		fcntl(listeners[i], F_SETFL, fcntl(listeners[i], F_GETFL) | O_NONBLOCK);
		ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)listeners[i]};
		ev.data.u64 |= 1ull << 32; /* a listener */
		epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &ev);
	}
	if (ipc >= 0) {
		ev =
		    (struct epoll_event){.events = EPOLLIN, .data.u64 = (uint64_t)ipc | 2ull << 32};
		epoll_ctl(ep, EPOLL_CTL_ADD, ipc, &ev);
	}
	for (;;) {
		int k, got = epoll_wait(ep, evs, 256, -1);

		for (k = 0; k < got; k++) {
			int fd = (int)(uint32_t)evs[k].data.u64,
			    kind = (int)(evs[k].data.u64 >> 32);
			char b[512];

			if (kind == 2) {
				kg_ipc_buf_t buf;
				struct kg_ipc_msg m;

				if (kg_ipc_recv(fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0,
						NULL) == -ECONNRESET) {
					printf("SERVICE GONE\n");
					return 0;
				}
			} else if (kind == 1) {
				int c;

				while ((c = accept4(fd, NULL, NULL,
						    SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP,
								  .data.u64 = (uint64_t)c};
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						close(c);
				}
			} else if (read(fd, b, sizeof(b)) <= 0 || (evs[k].events & EPOLLRDHUP)) {
				close(fd); /* EOF (or an error): the application closed first */
			}
		}
	}
}

static int cmd_listen(int argc, char **argv)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if (argc < 2 || parse4(argv[0], atoi(argv[1]), &sa) < 0)
		return 2;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
		printf("ERROR listen: %s\n", strerror(errno));
		return 1;
	}
	printf("LISTENING\n");
	fflush(stdout);
	return serve(&fd, 1, -1);
}

static int cmd_relay(int argc, char **argv)
{
	struct kg_ipc_register rq = {.caps = KG_IPC_CAP_ROUTES};
	struct kg_ipc_registered reg;
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int fds[2] = {-1, -1}, ipc, r;
	size_t n_fds = 0;

	if (argc < 1)
		return 2;
	ipc = kg_ipc_connect(argv[0]);
	if (ipc < 0) {
		printf("ERROR connect: %s\n", strerror(-ipc));
		return 1;
	}
	r = kg_ipc_call(ipc, KG_MSG_REGISTER, &rq, sizeof(rq), buf.bytes, sizeof(buf.bytes), &m,
			fds, 2, &n_fds, 5000);
	if (r < 0 || n_fds < 1) {
		printf("ERROR register: %s\n", strerror(r < 0 ? -r : EPROTO));
		return 1;
	}
	memcpy(&reg, m.payload, sizeof(reg));
	printf("REGISTERED %u %u\n", reg.port4, reg.port6);
	fflush(stdout);
	return serve(fds, n_fds, ipc);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "connect") == 0)
		return cmd_connect(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "quantiles") == 0)
		return cmd_quantiles();
	if (argc >= 2 && strcmp(argv[1], "listen") == 0)
		return cmd_listen(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "relay") == 0)
		return cmd_relay(argc - 2, argv + 2);
	fprintf(stderr, "usage: connect-churn connect ADDR PORT RATE SECS [DUMP] | quantiles |"
			" listen ADDR PORT | relay SOCKET\n");
	return 2;
}
