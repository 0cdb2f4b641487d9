/* The way out's TCP connection (see tunnel.h): to the proxy, or to the original destination for
 * proxy.type none, within connection_timeout and max_retries, with a growing pause between
 * attempts. Shared by the tunnels and by port-80 forwarding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/tunnel.h"
#include "shared/netutil.h"

#define RETRY_BASE_USEC 100000ull

static int resolve_proxy(struct client_settings *set)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[8];
	int r;

	snprintf(port, sizeof(port), "%u", set->proxy.port);
	r = getaddrinfo(set->proxy.host, port, &hints, &res);
	if (r != 0)
		return r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	memcpy(&set->proxy_addr, res->ai_addr, res->ai_addrlen);
	set->proxy_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void dest_sockaddr(const struct relay_conn *c, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (kg_ip_is_v4mapped(c->dst_ip)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->dst_port);
		memcpy(&sin->sin_addr, c->dst_ip + 12, 4);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c->dst_port);
		memcpy(&sin6->sin6_addr, c->dst_ip, 16);
		*len = sizeof(*sin6);
	}
}

static const char *peer_name(const struct relay_conn *c)
{
	return c->set->proxy_type == KG_PROXY_NONE ? "destination" : "proxy";
}

/* Schedule the next attempt or give up. */
static int connect_failed(struct kg_client *cl, struct relay_conn *c, int err)
{
	struct tunnel_setup *t = c->setup;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC), at;

	relay_side_close(cl, &c->proxy);
	if (c->set->proxy_type == KG_PROXY_NONE)
		snprintf(t->error, sizeof(t->error), "destination unreachable: %s", strerror(err));
	else
		snprintf(t->error, sizeof(t->error), "proxy unreachable: %s: %s", c->set->proxy_url,
			 strerror(err));
	at = now + (RETRY_BASE_USEC << (t->attempts > 6 ? 6 : t->attempts - 1));
	if (t->attempts > c->set->max_retries || at >= t->connect_deadline)
		return -err;
	t->retry_at = at;
	relay_set_timer(cl, c, at);
	return 0;
}

int tunnel_connect_start(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, r;

	if (t->attempts == 0)
		t->connect_deadline =
		    kg_now_usec(CLOCK_MONOTONIC) + c->set->connection_timeout * 1000000ull;
	t->attempts++;
	t->retry_at = 0;
	t->connected = false;
	t->to_proxy = c->set->proxy_type != KG_PROXY_NONE;
	if (!t->to_proxy) {
		dest_sockaddr(c, &ss, &len);
	} else {
		if (c->set->proxy_addrlen == 0) {
			r = resolve_proxy(c->set);
			if (r < 0) {
				snprintf(t->error, sizeof(t->error),
					 "proxy unreachable: cannot resolve %s",
					 c->set->proxy.host);
				return r;
			}
		}
		memcpy(&ss, &c->set->proxy_addr, sizeof(ss));
		len = c->set->proxy_addrlen;
	}
	if (cl->n_fds + 1 > cl->fd_cap) {
		snprintf(t->error, sizeof(t->error), "too many open connections (%u)", cl->n_fds);
		return -EMFILE;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return connect_failed(cl, c, errno);
	r = relay_side_open(cl, c, &c->proxy, fd);
	if (r < 0) {
		relay_side_close(cl, &c->proxy);
		return connect_failed(cl, c, -r);
	}
	/* Writable means connected only once the kernel says so. */
	c->proxy.flags &= (uint8_t) ~(SIDE_READABLE | SIDE_WRITABLE);
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		return connect_failed(cl, c, errno);
	relay_set_timer(cl, c, t->connect_deadline);
	return 0;
}

int tunnel_connect_restart(struct kg_client *cl, struct relay_conn *c)
{
	relay_side_close(cl, &c->proxy);
	c->setup->attempts = 0;
	return tunnel_connect_start(cl, c);
}

int tunnel_connect_poll(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	socklen_t len = sizeof(int);
	int err = 0, r;

	if (t->connected)
		return 1;
	if (c->proxy.fd < 0 || !(c->proxy.flags & (SIDE_WRITABLE | SIDE_READABLE)))
		return 0;
	if (getsockopt(c->proxy.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		t->connected = true;
		c->proxy.flags |= SIDE_WRITABLE;
		if (t->job)
			t->token_deadline = tunnel_request_deadline(c);
		relay_set_timer(cl, c, t->job ? t->token_deadline : 0);
		return 1;
	}
	r = connect_failed(cl, c, err);
	return r;
}

int tunnel_connect_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	if (t->retry_at) {
		int r = tunnel_connect_start(cl, c);

		return r < 0 ? r : 0;
	}
	relay_side_close(cl, &c->proxy);
	snprintf(t->error, sizeof(t->error), "%s unreachable: %s: no answer within %u s",
		 peer_name(c), c->set->proxy_type == KG_PROXY_NONE ? t->target : c->set->proxy_url,
		 c->set->connection_timeout);
	return -ETIMEDOUT;
}
