/* loop-dispatch: what one event costs to dispatch, a plain epoll loop against sd-event (issue 12).
 *
 * N socketpairs (default 256) each hold one unread byte, so every one of them is readable in
 * every round (level-triggered). Two loops dispatch them:
 *   epoll:    one epoll_wait() returns up to N events; a callback per event
 *   sd-event: one io source per descriptor; sd_event_run() dispatches one source per call
 *             (it calls epoll_wait() again only when no source is pending)
 * Each round runs both, in alternating order, for MS milliseconds each; the figures are the
 * medians over the rounds of events per second and of the per-round ratio epoll / sd-event.
 * The callbacks do no I/O, so the figure is the loop's own cost per event.
 * (The libsystemd of Debian 12, 252, calls epoll_wait() in every sd_event_run(), even with
 * sources still pending from the last call: strace counts one per event. With N descriptors
 * ready, each of those calls collects N events, so sd-event's cost per event grows with N.)
 *
 * Usage: loop-dispatch [FDS [ROUNDS [MS]]]; defaults 256, 7, 1000 (or KG_LOOP_FDS,
 * KG_LOOP_ROUNDS, KG_LOOP_MS). Exits non-zero only when a system call fails. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

struct slot {
	int fd;		 /* the readable end */
	uint64_t *count; /* the loop's event counter */
};

static uint64_t count_epoll, count_sdev;

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long arg_or_env(int argc, char **argv, int i, const char *env, long def)
{
	const char *s = i < argc ? argv[i] : getenv(env);
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, NULL, 10);
	return v > 0 ? v : def;
}

/* The callback of both loops: one event of SLOT. */
static void on_event(struct slot *s)
{
	(*s->count)++;
}

static int epoll_round(int ep, struct epoll_event *evs, int n, double secs, double *rate)
{
	double t0 = now_sec(), t = t0;

	count_epoll = 0;
	while (t - t0 < secs) {
		int got = epoll_wait(ep, evs, n, -1);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return -1;
		}
		for (int i = 0; i < got; i++)
			on_event(evs[i].data.ptr);
		t = now_sec();
	}
	*rate = count_epoll / (t - t0);
	return 0;
}

static int sdev_handler(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	on_event(userdata);
	return 0;
}

static int sdev_round(sd_event *e, int n, double secs, double *rate)
{
	double t0 = now_sec(), t = t0;

	count_sdev = 0;
	while (t - t0 < secs) {
		/* As many iterations as the other loop dispatches per epoll_wait(). */
		for (int i = 0; i < n; i++) {
			int r = sd_event_run(e, UINT64_MAX);

			if (r < 0) {
				fprintf(stderr, "sd_event_run: %s\n", strerror(-r));
				return -1;
			}
		}
		t = now_sec();
	}
	*rate = count_sdev / (t - t0);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int n = (int)arg_or_env(argc, argv, 1, "KG_LOOP_FDS", 256);
	int rounds = (int)arg_or_env(argc, argv, 2, "KG_LOOP_ROUNDS", 7);
	double secs = arg_or_env(argc, argv, 3, "KG_LOOP_MS", 1000) / 1e3;
	struct slot *ep_slots = calloc(n, sizeof(*ep_slots));
	struct slot *sd_slots = calloc(n, sizeof(*sd_slots));
	struct epoll_event *evs = calloc(n, sizeof(*evs));
	double *r_ep = calloc(rounds, sizeof(double));
	double *r_sd = calloc(rounds, sizeof(double));
	double *r_ratio = calloc(rounds, sizeof(double));
	sd_event *e = NULL;
	int ep, r;

	if (!ep_slots || !sd_slots || !evs || !r_ep || !r_sd || !r_ratio) {
		perror("calloc");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("epoll_create1");
		return 1;
	}
	r = sd_event_new(&e);
	if (r < 0) {
		fprintf(stderr, "sd_event_new: %s\n", strerror(-r));
		return 1;
	}
	/* Separate descriptors for each loop, so neither sees the other's registrations. */
	for (int i = 0; i < n; i++) {
		int sp[2], sq[2];
		struct epoll_event ev = {.events = EPOLLIN};

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sq) < 0) {
			perror("socketpair (raise ulimit -n?)");
			return 1;
		}
		if (write(sp[1], "x", 1) != 1 || write(sq[1], "x", 1) != 1) {
			perror("write");
			return 1;
		}
		ep_slots[i] = (struct slot){.fd = sp[0], .count = &count_epoll};
		sd_slots[i] = (struct slot){.fd = sq[0], .count = &count_sdev};
		ev.data.ptr = &ep_slots[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, sp[0], &ev) < 0) {
			perror("epoll_ctl");
			return 1;
		}
		r = sd_event_add_io(e, NULL, sq[0], EPOLLIN, sdev_handler, &sd_slots[i]);
		if (r < 0) {
			fprintf(stderr, "sd_event_add_io: %s\n", strerror(-r));
			return 1;
		}
	}

	for (int k = 0; k < rounds; k++) {
		/* Alternate which loop goes first, so drift on the machine hits both alike. */
		if (k % 2 == 0) {
			if (epoll_round(ep, evs, n, secs, &r_ep[k]) < 0 ||
			    sdev_round(e, n, secs, &r_sd[k]) < 0)
				return 1;
		} else {
			if (sdev_round(e, n, secs, &r_sd[k]) < 0 ||
			    epoll_round(ep, evs, n, secs, &r_ep[k]) < 0)
				return 1;
		}
		r_ratio[k] = r_ep[k] / r_sd[k];
		printf("#    round %d: epoll %.0f events/s, sd-event %.0f events/s, ratio %.2f\n",
		       k + 1, r_ep[k], r_sd[k], r_ratio[k]);
	}
	printf(
	    "loop-dispatch: %d readable descriptors, %d rounds of %.0f ms per loop: epoll_wait "
	    "(up to %d events per call) %.3f M events/s, sd-event (one source per sd_event_run) "
	    "%.3f M events/s, ratio epoll/sd-event %.2f (medians; per event %.0f ns vs %.0f ns)\n",
	    n, rounds, secs * 1e3, n, median(r_ep, rounds) / 1e6, median(r_sd, rounds) / 1e6,
	    median(r_ratio, rounds), 1e9 / median(r_ep, rounds), 1e9 / median(r_sd, rounds));
	sd_event_unref(e);
	return 0;
}
