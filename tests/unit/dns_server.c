/* A tiny DNS server for unit tests (see dns_server.h). */
#include "tests/unit/dns_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd = -1;
static pthread_t thread;
static atomic_bool stop;
static atomic_uint queries;
static const struct test_dns_record *table;

/* The question's name in dotted form; its end offset in *end. */
static int read_qname(const uint8_t *m, size_t len, char *name, size_t cap, size_t *end)
{
	size_t o = 12, w = 0;
	while (o < len && m[o]) {
		uint8_t l = m[o++];
		if (l > 63 || o + l > len || w + l + 2 > cap)
			return -1;
		if (w)
			name[w++] = '.';
		memcpy(name + w, m + o, l);
		w += l;
		o += l;
	}
	if (o + 5 > len)
		return -1;
	name[w] = '\0';
	*end = o + 1;
	return 0;
}

static size_t put_rr(uint8_t *out, size_t o, uint16_t type, uint32_t ttl, const void *rd,
		     uint16_t rdlen)
{
	out[o++] = 0xc0; /* the question's name */
	out[o++] = 12;
	out[o++] = (uint8_t)(type >> 8);
	out[o++] = (uint8_t)type;
	out[o++] = 0;
	out[o++] = 1; /* IN */
	out[o++] = (uint8_t)(ttl >> 24);
	out[o++] = (uint8_t)(ttl >> 16);
	out[o++] = (uint8_t)(ttl >> 8);
	out[o++] = (uint8_t)ttl;
	out[o++] = (uint8_t)(rdlen >> 8);
	out[o++] = (uint8_t)rdlen;
	memcpy(out + o, rd, rdlen);
	return o + rdlen;
}

static void answer(const uint8_t *q, size_t len, struct sockaddr_in *from, socklen_t flen)
{
	char name[256];
	size_t end;
	uint8_t out[1024];
	if (len < 12 || read_qname(q, len, name, sizeof(name), &end) < 0)
		return;
	uint16_t qtype = (uint16_t)(q[end] << 8 | q[end + 1]);
	size_t qend = end + 4;
	const struct test_dns_record *r = NULL;
	for (const struct test_dns_record *t = table; t->name; t++)
		if (strcasecmp(t->name, name) == 0)
			r = t;
	if (r && r->kind == TEST_DNS_SILENT)
		return;
	memcpy(out, q, qend);
	out[2] = 0x80 | (q[2] & 0x01); /* QR, RD as asked */
	out[3] = 0x80;		       /* RA, NOERROR */
	out[4] = 0;
	out[5] = 1;
	memset(out + 6, 0, 6);
	size_t o = qend;
	uint8_t a[16];
	int fam = 0;
	if (r && r->addr)
		fam = inet_pton(AF_INET, r->addr, a) == 1    ? 4
		      : inet_pton(AF_INET6, r->addr, a) == 1 ? 6
							     : 0;
	if (!r || r->kind == TEST_DNS_NXDOMAIN) {
		out[3] |= 3;
	} else if ((qtype == 1 && fam == 4) || (qtype == 28 && fam == 6)) {
		unsigned an = 0;
		uint32_t ttl = r->ttl;
		if (r->kind == TEST_DNS_CNAME) {
			/* a CNAME to the question's own name (a pointer), then the address */
			uint8_t target[2] = {0xc0, 12};
			o = put_rr(out, o, 5, r->ttl, target, 2);
			an++;
			ttl = r->ttl2;
		}
		o = put_rr(out, o, qtype, ttl, a, fam == 4 ? 4 : 16);
		an++;
		out[7] = (uint8_t)an;
	}
	(void)!sendto(fd, out, o, 0, (struct sockaddr *)from, flen);
}

static void *serve(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		uint8_t q[512];
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		if (n <= 0)
			continue;
		atomic_fetch_add(&queries, 1);
		answer(q, (size_t)n, &from, flen);
	}
	return NULL;
}

int test_dns_start(const struct test_dns_record *t, struct sockaddr_in *sa)
{
	table = t;
	atomic_store(&stop, false);
	atomic_store(&queries, 0);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t l = sizeof(*sa);
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &l) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	int r = pthread_create(&thread, NULL, serve, NULL);
	if (r) {
		close(fd);
		return -r;
	}
	return 0;
}

void test_dns_stop(void)
{
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	close(fd);
	fd = -1;
}

unsigned test_dns_queries(void)
{
	return atomic_load(&queries);
}
