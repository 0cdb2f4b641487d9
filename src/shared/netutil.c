/* Socket and address helpers shared by the service, client and ctl. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/macro.h"
#include "shared/netutil.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

int kg_ip_is_v4mapped(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

void kg_ip_from_v4(uint8_t ip[16], uint32_t addr_be)
{
	memset(ip, 0, 10);
	ip[10] = 0xff;
	ip[11] = 0xff;
	memcpy(&ip[12], &addr_be, 4);
}

void kg_format_ip(const uint8_t ip[16], char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (kg_ip_is_v4mapped(ip)) {
		inet_ntop(AF_INET, &ip[12], a, sizeof(a));
		snprintf(buf, len, "%s", a);
	} else {
		inet_ntop(AF_INET6, ip, a, sizeof(a));
		snprintf(buf, len, "[%s]", a);
	}
}

void kg_format_ip_port(const uint8_t ip[16], uint16_t port, char *buf, size_t len)
{
	char a[KG_ADDR_STR_MAX];

	kg_format_ip(ip, a, sizeof(a));
	snprintf(buf, len, "%s:%u", a, port);
}

void kg_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len)
{
	uint8_t ip[16];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		kg_ip_from_v4(ip, sin->sin_addr.s_addr);
		kg_format_ip_port(ip, ntohs(sin->sin_port), buf, len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		kg_format_ip_port(sin6->sin6_addr.s6_addr, ntohs(sin6->sin6_port), buf, len);
	} else {
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
}

int kg_listen_tcp(int family, const char *addr, uint16_t port, int backlog, uint16_t *ret_port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int one = 1;
	_cleanup_close_ int fd = -1;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			return -EINVAL;
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sl = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	if (listen(fd, backlog) < 0)
		return -errno;
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ret_port)
		*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						    : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return take_fd(&fd);
}

int kg_netns_cookie(uint64_t *ret)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
		return -errno;
	*ret = cookie;
	return 0;
}

uint64_t kg_now_usec(int clock_id)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
