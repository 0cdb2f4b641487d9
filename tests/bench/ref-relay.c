/* ref-relay: the least a TCP relay can do, as the yardstick for the relay's CPU per GiB
 * (issue 15 item 3: the gatekeeper's relay should cost at most 1.3x this). A benchmark
 * instrument, not shipped.
 *
 *   ref-relay LISTEN_ADDR LISTEN_PORT DEST_ADDR DEST_PORT [PIPE_BYTES]
 *
 * Accepts on LISTEN_ADDR:LISTEN_PORT (IPv4; port 0 picks one), connects each accepted
 * connection to DEST_ADDR:DEST_PORT and moves the bytes both ways with splice(2) through one
 * pipe per direction (PIPE_BYTES via F_SETPIPE_SZ; by default the relay's own pipe size,
 * RELAY_PIPE_BYTES in src/client/pump.h, so neither gets larger moves than the other; 0 keeps
 * the kernel's default), on one edge-triggered epoll loop. No parsing, no proxy protocol, no
 * accounting: the bench points it at what the relay would reach after its CONNECT (e.g. the proxy's
 * tunnel to the origin, or the origin itself) and reads its CPU time from /proc/PID/stat. Prints
 * "LISTENING PORT" once it accepts. A half-close is passed on (shutdown SHUT_WR); a connection ends
 * when both directions have ended or on any error. SIGTERM ends the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPLICE_CHUNK (1 << 20)
#define PIPE_BYTES   (1 << 20) /* the relay's RELAY_PIPE_BYTES */

/* One direction: bytes from src into the pipe, from the pipe into dst. */
struct dir {
	int src, dst, pipe_r, pipe_w;
	size_t in_pipe;
	int eof; /* src said EOF and the pipe is empty: dst got SHUT_WR */
};

struct pair {
	int fd[2]; /* accepted, upstream */
	struct dir d[2];
	int connected; /* upstream connect finished */
	int dead;      /* freed after the current batch of events, which may still name it */
};

static int pipe_bytes;

/* Closes the pair; its memory goes once the batch is over (the other fd may be in it). */
static void pair_end(struct pair *p, struct pair **dead, int *n_dead)
{
	p->dead = 1;
	dead[(*n_dead)++] = p;
}

static void pair_free(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		close(p->fd[i]);
		close(p->d[i].pipe_r);
		close(p->d[i].pipe_w);
	}
	free(p);
}

/* Moves what can move now; -1 on an error. */
static int pump(struct dir *d)
{
	ssize_t n;

	while (!d->eof) {
		if (d->in_pipe) {
			n = splice(d->pipe_r, NULL, d->dst, NULL, d->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			d->in_pipe -= (size_t)n;
			continue;
		}
		n = splice(d->src, NULL, d->pipe_w, NULL, SPLICE_CHUNK,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0) {
			d->eof = 1;
			shutdown(d->dst, SHUT_WR);
			return 0;
		}
		d->in_pipe += (size_t)n;
	}
	return 0;
}

static int make_pipe(struct dir *d)
{
	int p[2];

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	if (pipe_bytes > 0)
		(void)fcntl(p[0], F_SETPIPE_SZ, pipe_bytes);
	d->pipe_r = p[0];
	d->pipe_w = p[1];
	return 0;
}

static int addr_of(const char *ip, const char *port, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
}

static void new_pair(int ep, int lfd, const struct sockaddr_in *dest)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
	struct pair *p;
	int a, u, i;

	while ((a = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		p = calloc(1, sizeof(*p));
		if (u < 0 || !p ||
		    (connect(u, (const struct sockaddr *)dest, sizeof(*dest)) < 0 &&
		     errno != EINPROGRESS)) {
			close(a);
			if (u >= 0)
				close(u);
			free(p);
			continue;
		}
		p->fd[0] = a;
		p->fd[1] = u;
		p->d[0] = (struct dir){.src = a, .dst = u, .pipe_r = -1, .pipe_w = -1};
		p->d[1] = (struct dir){.src = u, .dst = a, .pipe_r = -1, .pipe_w = -1};
		if (make_pipe(&p->d[0]) < 0 || make_pipe(&p->d[1]) < 0) {
			pair_free(p);
			continue;
		}
		ev.data.ptr = p;
		for (i = 0; i < 2; i++)
			(void)epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[i], &ev);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in la, dest;
	struct epoll_event evs[64], lev = {.events = EPOLLIN};
	struct pair *dead[64];
	socklen_t sl = sizeof(la);
	int lfd, ep, one = 1, n, i, n_dead;

	if (argc < 5 || addr_of(argv[1], argv[2], &la) < 0 ||
	    addr_of(argv[3], argv[4], &dest) < 0) {
		fprintf(stderr, "usage: ref-relay LISTEN_ADDR LISTEN_PORT DEST_ADDR DEST_PORT "
				"[PIPE_BYTES]\n");
		return 2;
	}
	pipe_bytes = argc > 5 ? atoi(argv[5]) : PIPE_BYTES;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, SOMAXCONN) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&la, &sl) < 0) {
		perror("ref-relay: listen");
		return 1;
	}
	lev.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		return 1;
	printf("LISTENING %u\n", ntohs(la.sin_port));
	fflush(stdout);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno != EINTR)
			return 1;
		n_dead = 0;
		for (i = 0; i < n; i++) {
			struct pair *p = evs[i].data.ptr;
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer), el = sizeof(int);
			int err = 0;

			if (!p) {
				new_pair(ep, lfd, &dest);
				continue;
			}
			if (p->dead)
				continue;
			if (!p->connected) {
				if (getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
				    err) {
					pair_end(p, dead, &n_dead);
					continue;
				}
				if (getpeername(p->fd[1], (struct sockaddr *)&peer, &pl) < 0)
					continue; /* still connecting: its EPOLLOUT comes */
				p->connected = 1;
			}
			if (pump(&p->d[0]) < 0 || pump(&p->d[1]) < 0 ||
			    (p->d[0].eof && p->d[1].eof))
				pair_end(p, dead, &n_dead);
		}
		for (i = 0; i < n_dead; i++)
			pair_free(dead[i]);
	}
}
