/* Private to proxy_tls.c and proxy_tls_ctx.c: the context and session structures they share and
 * the functions each calls in the other. Nothing else includes it (proxy_tls.h is the interface).
 *
 * proxy_tls_ctx.c owns struct proxy_tls_ctx: the SSL_CTX and the session caches (one per proxy
 * "host:port", PROXY_TLS_PROXIES of them at most, cache_max sessions each). proxy_tls.c owns
 * struct proxy_tls and gives the context its OpenSSL callbacks (verification, the client
 * certificate request) and the reading of OpenSSL's error queue.
 */
#pragma once

#include "client/proxy_tls.h"

#include <openssl/ssl.h>

#define KEY_MAX 300 /* "host:port" */
/* OpenSSL's read buffer with read-ahead: four full records per socket read (a session holds it
 * only while bytes are in it: SSL_MODE_RELEASE_BUFFERS). */
#define PROXY_TLS_READ_BUF (4 * (16384 + 256))
/* Tests and benches only: resumption off while this names "1" or an existing file (the bench
 * turns it on and off between blocks of one run). */
#define PROXY_TLS_NO_RESUMPTION_ENV "KG_TEST_NO_TLS_RESUMPTION"

/* The sessions kept for one proxy, oldest first. */
struct session_cache {
	struct session_cache *next; /* most recently used first */
	char key[KEY_MAX];
	unsigned n;
	SSL_SESSION *s[PROXY_TLS_CACHE_MAX];
};

struct proxy_tls_ctx {
	SSL_CTX *ssl;
	unsigned refs;
	unsigned cache_max;
	bool ca_file;	  /* verified against proxy.ca_file, not the system store */
	bool client_cert; /* we have one to show */
	char *no_resume;  /* PROXY_TLS_NO_RESUMPTION_ENV's value, NULL when unset */
	struct session_cache *caches;
};

struct proxy_tls {
	struct proxy_tls_ctx *ctx;
	SSL *ssl;
	int fd;
	char host[KEY_MAX];
	char key[KEY_MAX];
	enum proxy_tls_status want;
	bool handshake_done;
	bool data_seen;	   /* application data arrived: errors are no longer the handshake's */
	bool first_header; /* the first record header from the proxy was looked at */
	bool clear_text;   /* and it was printable text */
	char head[8];	   /* which (NUL-terminated) */
	bool cert_asked;   /* the proxy asked for a client certificate we do not have */
	bool shut_sent;	   /* close_notify is out */
	ssize_t read_end;  /* a read failure after bytes, returned by the next read (0: none) */
	ssize_t write_end; /* the same for a write failure after some records */
	bool starved;	   /* the last read returned bytes, then found the socket empty */
	long verify_err;   /* the first verification failure, X509_V_OK if none */
	char verify_msg[PROXY_TLS_ERROR_MAX];
	char error[PROXY_TLS_ERROR_MAX];
	char detail[PROXY_TLS_DETAIL_MAX];
};

/* OpenSSL's reason for the oldest queued error into buf ("" when none); the queue is cleared. */
unsigned long proxy_tls_take_ssl_error(char *buf, size_t len);
/* The context's verify callback: records the first failure's sentence in the session. */
int proxy_tls_verify_cb(int ok, X509_STORE_CTX *x);
/* The client certificate callback when none is configured: notes that the proxy asked. */
int proxy_tls_client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey);
/* The newest usable session for the proxy key "host:port" (a reference for the caller), or NULL.
 * A TLS 1.3 one leaves the cache: tickets are used once. */
SSL_SESSION *proxy_tls_cache_take(struct proxy_tls_ctx *ctx, const char *key);
/* Whether new sessions start without resumption (PROXY_TLS_NO_RESUMPTION_ENV). */
bool proxy_tls_ctx_no_resumption(const struct proxy_tls_ctx *ctx);
