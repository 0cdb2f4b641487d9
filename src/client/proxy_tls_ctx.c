/* The TLS context of a proxy set (see proxy_tls.h): the SSL_CTX with its verification and client
 * certificate setup, and the bounded per-proxy session caches that the new-session callback fills
 * and proxy_tls_new() takes from (proxy_tls_ctx.h). Split from proxy_tls.c, which keeps the
 * sessions, their I/O and the sentences.
 */
#include "client/proxy_tls_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* --- the session cache ---------------------------------------------------------------------- */

static struct session_cache *cache_find(struct proxy_tls_ctx *ctx, const char *key, bool make)
{
	struct session_cache **pp, *c, *last = NULL, **lastp = NULL;
	unsigned n = 0, i;

	for (pp = &ctx->caches; (c = *pp); pp = &c->next, n++) {
		if (!strcmp(c->key, key)) {
			*pp = c->next; /* to the front */
			c->next = ctx->caches;
			ctx->caches = c;
			return c;
		}
		lastp = pp;
		last = c;
	}
	if (!make)
		return NULL;
	if (n >= PROXY_TLS_PROXIES && last) { /* the least recently used proxy's goes */
		*lastp = NULL;
		for (i = 0; i < last->n; i++)
			SSL_SESSION_free(last->s[i]);
		free(last);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->next = ctx->caches;
	ctx->caches = c;
	return c;
}

static void cache_drop(struct session_cache *c, unsigned i)
{
	SSL_SESSION_free(c->s[i]);
	memmove(&c->s[i], &c->s[i + 1], (c->n - i - 1) * sizeof(c->s[0]));
	c->n--;
}

/* OpenSSL hands us each new session (TLS 1.3: each ticket, after the handshake). 1: kept. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct proxy_tls *t = SSL_get_app_data(ssl);
	struct session_cache *c;

	if (!t || !SSL_SESSION_is_resumable(sess))
		return 0;
	c = cache_find(t->ctx, t->key, true);
	if (!c)
		return 0;
	if (c->n == t->ctx->cache_max)
		cache_drop(c, 0);
	c->s[c->n++] = sess;
	return 1;
}

SSL_SESSION *proxy_tls_cache_take(struct proxy_tls_ctx *ctx, const char *key)
{
	struct session_cache *c = cache_find(ctx, key, false);
	time_t now = time(NULL);
	SSL_SESSION *s;

	while (c && c->n) {
		s = c->s[c->n - 1];
		if (!SSL_SESSION_is_resumable(s) ||
		    SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) <= now) {
			cache_drop(c, c->n - 1);
			continue;
		}
		if (SSL_SESSION_get_protocol_version(s) == TLS1_3_VERSION) {
			c->n--; /* the cache's reference becomes the caller's */
			return s;
		}
		SSL_SESSION_up_ref(s);
		return s;
	}
	return NULL;
}

unsigned proxy_tls_ctx_cached(const struct proxy_tls_ctx *ctx, const char *host, uint16_t port)
{
	const struct session_cache *c;
	char key[KEY_MAX];

	snprintf(key, sizeof(key), "%s:%u", host, port);
	for (c = ctx->caches; c; c = c->next)
		if (!strcmp(c->key, key))
			return c->n;
	return 0;
}

bool proxy_tls_ctx_no_resumption(const struct proxy_tls_ctx *ctx)
{
	if (!ctx->no_resume)
		return false;
	return !strcmp(ctx->no_resume, "1") ||
	       (ctx->no_resume[0] == '/' && access(ctx->no_resume, F_OK) == 0);
}

/* --- the context ---------------------------------------------------------------------------- */

static int ctx_fail(struct proxy_tls_ctx *ctx, char *err, size_t len, const char *what,
		    const char *path)
{
	char reason[160];

	proxy_tls_take_ssl_error(reason, sizeof(reason));
	snprintf(err, len, "%s %s%s%s", what, path, reason[0] ? ": " : "", reason);
	proxy_tls_ctx_unref(ctx);
	return -EINVAL;
}

static bool set(const char *s)
{
	return s && s[0];
}

int proxy_tls_ctx_new(const struct proxy_tls_opts *o, struct proxy_tls_ctx **ret, char *err,
		      size_t len)
{
	struct proxy_tls_ctx *ctx;
	const char *key;

	*ret = NULL;
	ERR_clear_error();
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, len, "out of memory for the proxy's TLS context");
		return -ENOMEM;
	}
	ctx->refs = 1;
	ctx->cache_max = o->cache_max ? o->cache_max : PROXY_TLS_CACHE_DEF;
	if (ctx->cache_max > PROXY_TLS_CACHE_MAX)
		ctx->cache_max = PROXY_TLS_CACHE_MAX;
	ctx->ssl = SSL_CTX_new(TLS_client_method());
	if (!ctx->ssl)
		return ctx_fail(ctx, err, len, "cannot make a TLS context", "for the proxy");
	/* The cipher list is left alone: OpenSSL's configuration (the system policy) sets it. */
	if (!SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION))
		return ctx_fail(ctx, err, len, "cannot require TLS 1.2", "for the proxy");
	SSL_CTX_set_options(ctx->ssl, SSL_OP_NO_RENEGOTIATION);
	/* Partial writes for the pump's backpressure; retries may come from a moved buffer; the
	 * buffers of an idle session are given back. */
	SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
				       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				       SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, proxy_tls_verify_cb);
	if (set(o->ca_file)) {
		if (!SSL_CTX_load_verify_locations(ctx->ssl, o->ca_file, NULL))
			return ctx_fail(ctx, err, len, "cannot read proxy.ca_file", o->ca_file);
		ctx->ca_file = true;
	} else if (!SSL_CTX_set_default_verify_paths(ctx->ssl)) {
		return ctx_fail(ctx, err, len, "cannot load the system's", "CA certificates");
	}
	if (set(o->client_cert)) {
		key = set(o->client_key) ? o->client_key : o->client_cert;
		if (SSL_CTX_use_certificate_chain_file(ctx->ssl, o->client_cert) != 1)
			return ctx_fail(ctx, err, len, "cannot read proxy.client_cert",
					o->client_cert);
		if (SSL_CTX_use_PrivateKey_file(ctx->ssl, key, SSL_FILETYPE_PEM) != 1 &&
		    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
			return ctx_fail(ctx, err, len, "cannot read proxy.client_key", key);
		if (SSL_CTX_check_private_key(ctx->ssl) != 1) {
			snprintf(err, len,
				 "proxy.client_key %s does not match proxy.client_cert %s", key,
				 o->client_cert);
			ERR_clear_error();
			proxy_tls_ctx_unref(ctx);
			return -EINVAL;
		}
		ctx->client_cert = true;
	} else {
		SSL_CTX_set_client_cert_cb(ctx->ssl, proxy_tls_client_cert_cb);
	}
	/* Room for read-ahead, which each session turns on after its handshake. */
	SSL_CTX_set_default_read_buffer_len(ctx->ssl, PROXY_TLS_READ_BUF);
	key = secure_getenv(PROXY_TLS_NO_RESUMPTION_ENV);
	if (key && key[0] && !(ctx->no_resume = strdup(key)))
		return ctx_fail(ctx, err, len, "out of memory", "for the proxy's TLS context");
	SSL_CTX_set_session_cache_mode(ctx->ssl,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx->ssl, new_session_cb);
	*ret = ctx;
	return 0;
}

void proxy_tls_ctx_unref(struct proxy_tls_ctx *ctx)
{
	struct session_cache *c;
	unsigned i;

	if (!ctx || --ctx->refs)
		return;
	while ((c = ctx->caches)) {
		ctx->caches = c->next;
		for (i = 0; i < c->n; i++)
			SSL_SESSION_free(c->s[i]);
		free(c);
	}
	SSL_CTX_free(ctx->ssl);
	free(ctx->no_resume);
	free(ctx);
}
