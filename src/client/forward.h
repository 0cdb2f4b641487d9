/* Plain HTTP on port 80 through the proxy, request by request.
 *
 * Squid's default configuration refuses CONNECT to ports other than 443, so port 80 is not
 * tunnelled: each request head from the application is parsed, rewritten to absolute-form
 * ("GET http://host/path") with a fresh "Proxy-Authorization: Negotiate" token, and sent to
 * the proxy; the body follows as framed (Content-Length or chunked). The response head is
 * read whole (so a 407 or a mutual-authentication token can be handled) and forwarded, then
 * the body is streamed by its framing. Keep-alive: the next request on the application's
 * connection is handled the same way; the proxy connection is reused while the proxy keeps
 * it open (checked before each reuse), every request still carries its own token. Failures
 * answer the application with a short 502 page that says what the journal says.
 * A 101 Switching Protocols turns the connection into a plain relay.
 */
#pragma once

#include "client/client.h"
#include "client/conn.h"

struct auth_job;

/* The page the application gets when the relay answers it itself (a 502 when the way out
 * failed): status ("502 Bad Gateway") and the sentence as the body. A sentence can carry a
 * peer's bytes (a PAC's error, a proxy's host or certificate name) and curl prints the body to
 * the user's terminal: one that is not printable text has every other byte escaped as "\xNN"
 * (shared/text.h), cut to twice UPSTREAM_REASON_MAX. The page's length in buf, 0 when it did not
 * fit. */
size_t forward_error_page(char *buf, size_t len, const char *status, const char *sentence);

void forward_begin(struct kg_client *cl, struct relay_conn *c);
/* CONN_FORWARD's table (conn.h); its start is forward_begin(). */
extern const struct conn_ops forward_conn_ops;
void forward_step(struct kg_client *cl, struct relay_conn *c);
void forward_on_timer(struct kg_client *cl, struct relay_conn *c);
void forward_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job);
void forward_free(struct http_forward *f);
/* The service's settings changed the way out (proxy type, proxy or principal): port-80
 * connections accepted under other settings take no further request. */
void forward_retire_stale(struct kg_client *cl);
