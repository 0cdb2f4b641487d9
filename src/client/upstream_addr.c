/* Where a connection's proxy is: its address from the settings (resolved once), from a PAC
 * route's engine (resolved off the loop), or resolved now for a route made by hand. Part of
 * upstream.c, split for size; upstream_priv.h declares it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "client/upstream.h"
#include "client/upstream_priv.h"

static int resolve(const char *host, uint16_t port_num, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", port_num);
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* The address the PAC engine resolved for e, off the loop (route.h: kg_route.resolved). */
static int entry_addr(const struct kg_route_entry *e, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (e->addr.family == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(e->port);
		memcpy(&sin->sin_addr, e->addr.bytes, 4);
		*len = sizeof(*sin);
	} else if (e->addr.family == 6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(e->port);
		memcpy(&sin6->sin6_addr, e->addr.bytes, 16);
		*len = sizeof(*sin6);
	} else {
		return -EHOSTUNREACH; /* the name did not resolve: a failed proxy */
	}
	return 0;
}

/* The proxy's address: the settings' (resolved once, at first use), for a PAC's route the one
 * its engine resolved (never a lookup on the loop), or, for a route made by hand, resolved
 * now. */
int upstream_proxy_addr(struct upstream *u, struct sockaddr_storage *ss, socklen_t *len)
{
	struct client_settings *set = u->c->set;
	struct sockaddr_storage *cache = &set->proxy_addr;
	socklen_t *cache_len = &set->proxy_addrlen;
	const char *host = set->proxy.host;
	uint16_t port = set->proxy.port;
	int r;

	if (u->route) {
		host = (&u->route->e[u->idx])->host;
		port = (&u->route->e[u->idx])->port;
		if (u->route != &set->route)
			return u->route->resolved ? entry_addr((&u->route->e[u->idx]), ss, len)
						  : resolve(host, port, ss, len);
		cache = &set->route_addr[u->idx];
		cache_len = &set->route_addrlen[u->idx];
	}
	if (*cache_len == 0 && (r = resolve(host, port, cache, cache_len)) < 0)
		return r;
	memcpy(ss, cache, sizeof(*ss));
	*len = *cache_len;
	return 0;
}
