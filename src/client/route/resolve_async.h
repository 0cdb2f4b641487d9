/* Host names resolved off the client's event loop (issue 13): the off-network probe of the
 * proxies of proxy.url (policy.c) looks their names up on a thread of its own, with
 * getaddrinfo (as the relay's connect does, so /etc/hosts counts the same), and learns the
 * outcome through an eventfd the loop watches. One batch of names per object; the loop never
 * blocks on a resolver.
 *
 *   r = kg_resolve_start(names, n);            // copies names, starts the thread
 *   kg_loop_add(kg_resolve_fd(r), &src, EPOLLIN);
 *   ...readable: kg_resolve_result(r, &res, &n) is true: res[i].len 0 = did not resolve
 *   kg_loop_del(fd); kg_resolve_free(r);
 *
 * Time: each name takes what the system resolver allows (resolv.conf's timeout and attempts);
 * the caller never waits for it. kg_resolve_free() of a batch still running returns at once:
 * the thread is detached and frees the batch itself when its lookup ends.
 *
 * Not thread-safe beyond that split: every function here is called on one thread (the
 * loop's).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/proto/authority.h"

#define KG_RESOLVE_NAMES_MAX 16 /* names in one batch (a route's entries) */

struct kg_resolve_name {
	char host[KG_HOST_MAX]; /* a DNS name, an IPv4 literal or a bracketed IPv6 literal */
	uint16_t port;
	/* the result: the first address getaddrinfo gives; len 0 when the name did not resolve */
	struct sockaddr_storage ss;
	socklen_t len;
};

struct kg_resolve;

/* Starts resolving names[0..n) (copied; n at most KG_RESOLVE_NAMES_MAX). NULL with errno
 * (EINVAL, ENOMEM, or pthread_create's). */
struct kg_resolve *kg_resolve_start(const struct kg_resolve_name *names, size_t n);
/* The eventfd that becomes readable once every name is resolved. */
int kg_resolve_fd(const struct kg_resolve *r);
/* Whether the batch is done; then *res (valid until kg_resolve_free) and *n are its names
 * with their results. */
bool kg_resolve_result(struct kg_resolve *r, const struct kg_resolve_name **res, size_t *n);
/* Drops the batch (and closes its fd: kg_loop_del it first). NULL is fine. */
void kg_resolve_free(struct kg_resolve *r);
