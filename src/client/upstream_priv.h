/* What the parts of upstream.c (split for size) share and nobody else uses.
 *
 * upstream.c: upstream_proxy_up(), failover's and the policy's bookkeeping of a way out that is up.
 * upstream_addr.c: upstream_proxy_addr(), the address of the proxy the connection tries now.
 *
 * upstream_warm.c, the warm pool's side of a connection's way out (warm.h has the pool
 * itself): upstream.c's "http proxy" ops call these: upstream_warm_proven() when a connect of ours
 * to the proxy at ss succeeded (the pool may keep spares to it from now on), and
 * upstream_warm_attempt() before a first connect, which takes an established spare with its
 * own token when the pool has one. What follows a CONNECT sent on a spare
 * (upstream_answer_timer(), upstream_warm_fallback()) is declared in upstream.h.
 */
#pragma once

#include <sys/socket.h>

#include "client/upstream.h"

/* The address of the proxy now tried (u->route's entry, or the settings' proxy). 0 or -errno
 * (-EHOSTUNREACH: the name does not resolve). */
int upstream_proxy_addr(struct upstream *u, struct sockaddr_storage *ss, socklen_t *len);

/* The way out is up (the TCP connect, or an https proxy's handshake): failover marks the
 * entry up and the policy hears that a proxy answered. */
void upstream_proxy_up(struct upstream *u);

/* An http proxy at ss answered a connect of this connection. */
void upstream_warm_proven(struct upstream *u, const struct sockaddr_storage *ss, socklen_t len);
/* A first connect to the proxy at ss: 1 when a warm connection was taken (the connection's
 * proxy side is open and connected, its token the spare's when ours was not needed), else 0:
 * connect as usual. */
int upstream_warm_attempt(struct upstream *u, const struct sockaddr_storage *ss, socklen_t len);
