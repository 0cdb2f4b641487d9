/* TLS to an HTTPS proxy (issue 14): a non-blocking OpenSSL 3 client session on the relay's event
 * loop, with the checks and the sentences a user can act on.
 *
 * What it is for. proxy.type "https", an https:// entry of proxy.url and a PAC "HTTPS h:p" answer
 * all mean: the TCP connection to the proxy carries TLS, and the Negotiate exchange, the CONNECT
 * and port-80 forwarding run inside it (the application's own TLS then runs inside ours). This
 * module is that TLS layer and nothing else: it knows no connection, loop or settings type.
 *
 * One struct proxy_tls_ctx per configured proxy set (made with the settings, dropped with them):
 * an SSL_CTX with TLS 1.2 as the minimum, the system's default cipher policy (OpenSSL's
 * configuration: Debian's openssl.cnf, Fedora's crypto-policies), peer verification against the
 * system store or proxy.ca_file, and the optional client certificate and key for proxies that
 * demand mTLS; and the TLS session cache, bounded per proxy, that the new-session callback
 * fills, so that the next tunnel to the same proxy resumes (TLS 1.3 tickets are used once).
 *
 * One struct proxy_tls per connection to a proxy, on the connected TCP socket: SNI and the
 * certificate's host-name check for the proxy's name (an IP literal is checked as an address and
 * sends no SNI). Nothing here ever falls back to clear text: every failure is an error with its
 * sentence (proxy_tls_error()).
 *
 * How upstream uses it (upstream_tls.c: the "https proxy" struct upstream_ops next to "http
 * proxy", with the session as the pump's TLS side, pump.h):
 *   - connect/poll: the TCP connect as today; once it is up, proxy_tls_new() on the socket and
 *     proxy_tls_handshake() on every event of the socket until PROXY_TLS_DONE; WANT_READ and
 *     WANT_WRITE say what to wait for (the loop's sides are registered edge-triggered for both
 *     directions, so the next event of either kind simply calls it again). connection_timeout
 *     covers the TCP connect and the handshake together. PROXY_TLS_ERROR fails the entry with
 *     proxy_tls_error() as u->error and proxy_tls_detail() as u->detail; a verification failure is
 *     not a connect failure to fail over from silently, but the proxy's (or the configuration's)
 *     fault.
 *   - write_connect/write_request: proxy_tls_write() instead of send(); read_head: the answer
 *     cannot be peeked (MSG_PEEK) through TLS, so the head is read with proxy_tls_read() into a
 *     bounded per-connection buffer and what follows the head is the tunnel's first bytes.
 *   - the pump: no splice for this kind; bytes move proxy_tls_read() -> send() and recv() ->
 *     proxy_tls_write() through the existing relay_buf backlogs. -EAGAIN with proxy_tls_want()
 *     is backpressure: WANT_READ waits for the proxy's socket to be readable, WANT_WRITE for it
 *     to be writable, whichever direction asked. A write that returned -EAGAIN must be retried
 *     with the same bytes (at least as many). Bytes OpenSSL already decrypted produce no epoll
 *     event: after a read that filled the buffer, read again (proxy_tls_pending()).
 *   - half-close: the application's FIN becomes proxy_tls_shutdown() (close_notify), after which
 *     the proxy's bytes are still read; the proxy's close_notify is proxy_tls_read() == 0 and
 *     becomes shutdown(SHUT_WR) towards the application.
 *   - proxy_tls_free() with the connection (the socket stays the connection's to close).
 * Contexts and sessions belong to the loop's thread (the session cache has no lock).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROXY_TLS_ERROR_MAX  400 /* a sentence (upstream's UPSTREAM_REASON_MAX) */
#define PROXY_TLS_DETAIL_MAX 64	 /* a detail for the journal (UPSTREAM_DETAIL_MAX) */
#define PROXY_TLS_CACHE_DEF  4	 /* sessions kept per proxy unless told otherwise */
#define PROXY_TLS_CACHE_MAX  64
#define PROXY_TLS_PROXIES    16 /* proxies with a session cache (the least recently used goes) */

struct proxy_tls_ctx;
struct proxy_tls;

/* The TLS side of a proxy configuration. Paths are read once, by proxy_tls_ctx_new(). */
struct proxy_tls_opts {
	const char *ca_file;	 /* NULL or "": the system store */
	const char *client_cert; /* NULL or "": no client certificate; PEM, may hold the chain */
	const char *client_key;	 /* NULL or "": the key is in client_cert's file */
	unsigned cache_max;	 /* sessions kept per proxy, 0: PROXY_TLS_CACHE_DEF */
};

enum proxy_tls_status {
	PROXY_TLS_ERROR = -1, /* proxy_tls_error() says why */
	PROXY_TLS_DONE = 0,
	PROXY_TLS_WANT_READ = 1,  /* call again once the socket is readable */
	PROXY_TLS_WANT_WRITE = 2, /* call again once the socket is writable */
};

/* A context for a proxy set. 0, or -errno with the sentence in err ("cannot read proxy.ca_file
 * ...", "proxy.client_key does not match ..."). */
int proxy_tls_ctx_new(const struct proxy_tls_opts *o, struct proxy_tls_ctx **ret, char *err,
		      size_t len);
/* Drop the caller's reference: sessions still open keep the context until they are freed. */
void proxy_tls_ctx_unref(struct proxy_tls_ctx *ctx);
/* Sessions kept for host:port right now (for tests and statistics). */
unsigned proxy_tls_ctx_cached(const struct proxy_tls_ctx *ctx, const char *host, uint16_t port);

/* A client session on fd (connected, non-blocking; it stays the caller's) to the proxy host:port
 * (a name, or an IP literal), resuming a cached session when there is one. NULL with the
 * sentence in err when out of memory. */
struct proxy_tls *proxy_tls_new(struct proxy_tls_ctx *ctx, int fd, const char *host, uint16_t port,
				char *err, size_t len);
void proxy_tls_free(struct proxy_tls *t);

/* One step of the handshake. */
enum proxy_tls_status proxy_tls_handshake(struct proxy_tls *t);
/* Whether the session was resumed from the cache (after the handshake). */
bool proxy_tls_resumed(const struct proxy_tls *t);
/* The negotiated protocol and cipher suite ("TLSv1.3 TLS_AES_256_GCM_SHA384") for the journal. */
const char *proxy_tls_cipher(const struct proxy_tls *t, char *buf, size_t len);
/* What the last -EAGAIN (or handshake step) waits for: PROXY_TLS_WANT_READ or _WANT_WRITE. */
enum proxy_tls_status proxy_tls_want(const struct proxy_tls *t);
/* Decrypted bytes waiting inside OpenSSL (no socket event will announce them). */
bool proxy_tls_pending(const struct proxy_tls *t);

/* Read up to n bytes: > 0 bytes; 0 the proxy's close_notify (clean end of its direction);
 * -EAGAIN wait as proxy_tls_want() says; -EPIPE the proxy closed TCP without close_notify;
 * -EPROTO or -errno failed (proxy_tls_error()). Until the proxy's first data, failures (and
 * an end after it asked for a client certificate we lack) are the handshake's sentences: with
 * TLS 1.3 the proxy's verdict on our certificate only arrives then. */
ssize_t proxy_tls_read(struct proxy_tls *t, void *p, size_t n);
/* The last proxy_tls_read() returned bytes and stopped because the socket had no more (it
 * waits as proxy_tls_want() says): calling again before the socket's next event only waits. */
bool proxy_tls_starved(const struct proxy_tls *t);
/* Write up to n bytes (n > 0): > 0 written; -EAGAIN wait as proxy_tls_want() says, then retry
 * with the same bytes; -EPIPE our side was shut down or the proxy is gone; -EPROTO, -errno. */
ssize_t proxy_tls_write(struct proxy_tls *t, const void *p, size_t n);
/* Half-close: send close_notify (once; calls after the first finish sending it). Reading goes on.
 * PROXY_TLS_DONE sent, PROXY_TLS_WANT_WRITE (or _READ) call again then, PROXY_TLS_ERROR. */
enum proxy_tls_status proxy_tls_shutdown(struct proxy_tls *t);

/* The sentence of the last failure ("" when none), and its detail for the journal. */
const char *proxy_tls_error(const struct proxy_tls *t);
const char *proxy_tls_detail(const struct proxy_tls *t);
