/* delay-stage: a two-port Ethernet forwarder that holds every frame for a fixed time, so the bench
 * rig gets a LAN round trip without netem (not in this kernel; issue 15 item 2). A benchmark
 * instrument, not shipped.
 *
 *   delay-stage IFACE_A IFACE_B ONE_WAY_USEC
 *
 * Run in a network namespace of its own that holds IFACE_A and IFACE_B (no addresses): every
 * frame that arrives on one is sent out of the other ONE_WAY_USEC later, in arrival order, ARP
 * and the TCP handshake included, so a connect across it costs one round trip of 2 x
 * ONE_WAY_USEC and so does every request/answer exchange. Frames go through AF_PACKET sockets
 * with virtio-net headers (PACKET_VNET_HDR), so the veths' GSO frames and checksum offload pass
 * unchanged and no ethtool is needed. One thread, one FIFO per direction (the delay is the same
 * for all, so arrival order is deadline order), ppoll() with a nanosecond timeout and timer slack
 * set to 1 ns. SIGTERM ends it. Prints "FORWARDING" once both sockets are bound.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX (65536 + 256) /* a GSO frame and its virtio-net header */
#define QUEUE_MAX 65536		/* frames held per direction; beyond that, new ones are dropped */

struct frame {
	uint64_t due_ns;
	size_t len;
	unsigned char *data;
};

struct queue {
	struct frame f[QUEUE_MAX];
	unsigned head, n;
};

static struct queue q[2]; /* q[i]: frames that arrived on port i, to leave by port !i */
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_port(const char *name)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	struct packet_mreq mr = {.mr_type = PACKET_MR_PROMISC};
	int fd, one = 1;

	sll.sll_ifindex = (int)if_nametoindex(name);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	mr.mr_ifindex = sll.sll_ifindex;
	if (!sll.sll_ifindex || fd < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "delay-stage: %s: %s\n", name, strerror(errno));
		exit(1);
	}
	return fd;
}

/* Takes every frame waiting on port i into its queue. */
static void take(int fd, struct queue *qu, uint64_t delay_ns)
{
	static unsigned char buf[FRAME_MAX];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		struct frame *f;

		if (qu->n == QUEUE_MAX)
			continue; /* a full queue drops, like a full link */
		f = &qu->f[(qu->head + qu->n) % QUEUE_MAX];
		f->data = malloc((size_t)n);
		if (!f->data)
			continue;
		memcpy(f->data, buf, (size_t)n);
		f->len = (size_t)n;
		f->due_ns = now_ns() + delay_ns;
		qu->n++;
	}
}

/* Sends the frames of qu that are due out of fd; returns the next deadline, or 0. */
static uint64_t give(int fd, struct queue *qu, uint64_t now)
{
	while (qu->n) {
		struct frame *f = &qu->f[qu->head];

		if (f->due_ns > now)
			return f->due_ns;
		if (send(fd, f->data, f->len, 0) < 0 && errno == EAGAIN)
			return now + 10000; /* the device queue is full: try again in 10 us */
		free(f->data);
		qu->head = (qu->head + 1) % QUEUE_MAX;
		qu->n--;
	}
	return 0;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct pollfd p[2];
	uint64_t delay_ns;
	int i;

	if (argc != 4) {
		fprintf(stderr, "usage: delay-stage IFACE_A IFACE_B ONE_WAY_USEC\n");
		return 2;
	}
	delay_ns = strtoull(argv[3], NULL, 10) * 1000ull;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	p[0] = (struct pollfd){.fd = open_port(argv[1]), .events = POLLIN};
	p[1] = (struct pollfd){.fd = open_port(argv[2]), .events = POLLIN};
	printf("FORWARDING %s <-> %s, %llu us each way\n", argv[1], argv[2],
	       (unsigned long long)(delay_ns / 1000));
	fflush(stdout);
	while (!stop) {
		uint64_t now = now_ns(), next = 0, d;
		struct timespec ts, *tp = NULL;

		for (i = 0; i < 2; i++) {
			d = give(p[!i].fd, &q[i], now);
			if (d && (!next || d < next))
				next = d;
		}
		if (next) {
			d = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(d / 1000000000ull);
			ts.tv_nsec = (long)(d % 1000000000ull);
			tp = &ts;
		}
		if (ppoll(p, 2, tp, NULL) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < 2; i++)
			if (p[i].revents & POLLIN)
				take(p[i].fd, &q[i], delay_ns);
	}
	return 0;
}
