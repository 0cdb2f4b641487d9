/* The "https proxy" way out (issue 14): an upstream kind that reaches its proxy over TLS
 * (proxy_tls.h), for proxy.type https, an https:// entry of proxy.url and a PAC "HTTPS h:p".
 *
 * It is the "http proxy" kind with a TLS session between the TCP connect and the request: the
 * TCP connect (and its retries) as for http, then the handshake on the loop, both within one
 * connection_timeout; only then is the upstream connected, so no Negotiate token is ever
 * written before the proxy's certificate and name have been verified. The CONNECT (or a
 * port-80 request) and its answer then go through the session: the side is a TLS side of the
 * pump (pump.h), whose reads and writes are the session's, and whose answer head is read into
 * the side's bounded buffer instead of being peeked in the kernel.
 *
 * A failed handshake fails the entry with proxy_tls's sentence (the route moves on to its next
 * entry, as for a proxy that does not answer); the same proxy is never tried in clear text.
 */
#pragma once

#include "client/upstream.h"

extern const struct upstream_ops upstream_https_proxy_ops;

/* The sentence for a failed read of the proxy's answer (r from upstream_peek_response() or a
 * read): the TLS session's when it failed, else upstream_head_error(r). */
const char *upstream_read_error(const struct upstream *u, int r);

/* The TLS session's sentence when u's proxy side is TLS and it failed (a TLS 1.3 proxy that
 * refuses a missing client certificate says so only at the first read or write), else NULL. */
const char *upstream_tls_failure(const struct upstream *u);
