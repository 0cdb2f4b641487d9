/* connect-bench: time TCP connect() calls (a benchmark instrument, not shipped).
 *
 *   connect-bench ADDR PORT COUNT [--listen]
 *
 * Opens COUNT connections one after another to ADDR:PORT, closing each right after connect()
 * returns, and prints "ns_per_connect MEDIAN_OF_ROUNDS" over 5 rounds. With --listen it first
 * binds ADDR:PORT itself and drains the accept queue from a second thread, so the destination
 * is a plain kernel listener and only connect() itself is measured.
 *
 * A second line, "single_connect_ns P50 P99 MAX SLOW", times each connect() call alone over
 * all rounds: its median and 99th percentile, the slowest, and how many took over 200 ms (a
 * SYN dropped at a full listen queue costs a 1 s retransmit, which an average hides or lets
 * dominate depending on the round; issue 15).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5

static int listen_fd = -1;

static void *drain(void *arg)
{
	for (;;) {
		int c = accept(listen_fd, NULL, NULL);

		if (c >= 0)
			close(c);
	}
	return NULL;
}

static int parse(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *sl)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*s6);
		return inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *s4 = (void *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*sl = sizeof(*s4);
	return inet_pton(AF_INET, addr, &s4->sin_addr) == 1 ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double ns_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1e9 + (b->tv_nsec - a->tv_nsec);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	double per[ROUNDS], *single;
	long count, i, n = 0, slow = 0;
	int r, one = 1;

	if (argc < 4 || parse(argv[1], atoi(argv[2]), &ss, &sl) < 0) {
		fprintf(stderr, "usage: connect-bench ADDR PORT COUNT [--listen]\n");
		return 2;
	}
	count = atol(argv[3]);
	if (count < 1 || count > 1000000)
		return 2;
	if (argc > 4 && strcmp(argv[4], "--listen") == 0) {
		pthread_t t;

		listen_fd = socket(ss.ss_family, SOCK_STREAM, 0);
		setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(listen_fd, (struct sockaddr *)&ss, sl) < 0 ||
		    listen(listen_fd, 4096) < 0) {
			perror("listen");
			return 1;
		}
		pthread_create(&t, NULL, drain, NULL);
	}
	single = calloc((size_t)count * ROUNDS, sizeof(*single));
	if (!single)
		return 1;
	for (r = 0; r < ROUNDS; r++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < count; i++) {
			int fd = socket(ss.ss_family, SOCK_STREAM, 0);
			struct linger lg = {1, 0};
			struct timespec c0, c1;

			clock_gettime(CLOCK_MONOTONIC, &c0);
			if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
				perror("connect");
				return 1;
			}
			clock_gettime(CLOCK_MONOTONIC, &c1);
			single[n] = ns_between(&c0, &c1);
			slow += single[n++] > 200e6;
			/* RST on close: no TIME_WAIT pile-up skewing later rounds. */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		per[r] = ns_between(&a, &b) / (double)count;
	}
	qsort(per, ROUNDS, sizeof(per[0]), cmp);
	printf("ns_per_connect %.0f\n", per[ROUNDS / 2]);
	qsort(single, (size_t)n, sizeof(single[0]), cmp);
	printf("single_connect_ns %.0f %.0f %.0f %ld\n", single[n / 2], single[n * 99 / 100],
	       single[n - 1], slow);
	free(single);
	return 0;
}
