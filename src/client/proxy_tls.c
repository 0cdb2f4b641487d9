/* TLS to an HTTPS proxy (see proxy_tls.h): the SSL_CTX of a proxy set with its bounded session
 * caches, non-blocking client sessions, and the sentences for the user.
 *
 * The sentences come from what OpenSSL saw, in this order: the first certificate verification
 * failure (recorded by the verify callback, with the certificate it concerned, because a
 * refused certificate is never the session's peer certificate), a clear-text answer on the TLS
 * port (the first record header the message callback saw was printable text), an alert from
 * the proxy, the socket's error, and otherwise OpenSSL's reason.
 */
#include "client/proxy_tls.h"
#include "client/proxy_tls_ctx.h"
#include "shared/text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* --- sentences ------------------------------------------------------------------------------ */

static void set_error(struct proxy_tls *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct proxy_tls *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->error, sizeof(t->error), fmt, ap);
	va_end(ap);
}

/* OpenSSL's reason for the oldest queued error ("" when none), the queue then cleared. */
unsigned long proxy_tls_take_ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error(), last = ERR_peek_last_error();
	const char *r;

	/* the last one is where it ended up; the first is usually the real cause */
	if (!e)
		e = last;
	r = e ? ERR_reason_error_string(e) : NULL;
	snprintf(buf, len, "%s", r ? r : (e ? "unknown error" : ""));
	ERR_clear_error();
	return e;
}

/* Bytes of the proxy's certificate for a sentence: as they are when printable, else with each
 * byte that is not escaped (shared/text.h). The certificate is whatever answered on the proxy's
 * address, and the sentence is also the body of the 502 page a port-80 application gets (which
 * curl prints to the user's terminal); the journal and the route reports sanitize again. */
static void cert_text(char *buf, size_t len, const void *s, size_t n)
{
	snprintf(buf, len, "%.*s", (int)n, (const char *)s);
	if (!kg_text_printable(buf))
		kg_text_escape(s, n, buf, len);
}

/* A one-line X509 name, RFC 2253 style ("CN=KG Test CA,O=Example"). */
static void name_text(const X509_NAME *n, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char raw[256];
	int got;

	buf[0] = '\0';
	if (!b)
		return;
	/* OpenSSL escapes C0 controls; UTF-8 of C1 controls would pass (cert_text() escapes them).
	 */
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		got = BIO_read(b, raw, sizeof(raw) - 1);
		cert_text(buf, len, raw, got > 0 ? (size_t)got : 0);
	}
	BIO_free(b);
}

static void time_text(const ASN1_TIME *tm, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int got;

	snprintf(buf, len, "unknown date");
	if (!b)
		return;
	if (tm && ASN1_TIME_print(b, tm)) {
		got = BIO_read(b, buf, (int)len - 1);
		buf[got > 0 ? got : 0] = '\0';
	}
	BIO_free(b);
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	if (used < len)
		snprintf(buf + used, len - used, "%s", s);
}

/* The names a certificate is for: its subjectAltName DNS names and addresses (at most 4), else
 * its CN. */
static void cert_names(X509 *cert, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, n = gens ? sk_GENERAL_NAME_num(gens) : 0, shown = 0;
	char one[256];

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int l;

		one[0] = '\0';
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			l = ASN1_STRING_length(g->d.dNSName);
			cert_text(one, sizeof(one), d, (size_t)l);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			l = ASN1_STRING_length(g->d.iPAddress);
			if (!inet_ntop(l == 16 ? AF_INET6 : AF_INET, d, one, sizeof(one)) ||
			    (l != 4 && l != 16))
				one[0] = '\0';
		}
		if (!one[0])
			continue;
		if (shown == 4) {
			append(buf, len, ", ...");
			break;
		}
		if (shown++)
			append(buf, len, ", ");
		append(buf, len, one);
	}
	GENERAL_NAMES_free(gens);
	if (!buf[0]) {
		X509_NAME *subj = X509_get_subject_name(cert);
		int at = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		ASN1_STRING *cn =
		    at >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at)) : NULL;

		if (cn)
			cert_text(buf, len, ASN1_STRING_get0_data(cn),
				  (size_t)ASN1_STRING_length(cn));
		else
			snprintf(buf, len, "no name");
	}
}

/* The sentence for verification failure err about cert (at depth in the chain). */
static void verify_sentence(struct proxy_tls *t, long err, int depth, X509 *cert)
{
	char what[200], names[200], when[64];
	const char *whose = depth > 0 ? "its CA " : "";

	name_text(X509_get_issuer_name(cert), what, sizeof(what));
	switch (err) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
		snprintf(t->verify_msg, sizeof(t->verify_msg),
			 "proxy certificate not trusted (issuer %s; not a CA of %s)", what,
			 t->ctx->ca_file ? "proxy.ca_file" : "the system store");
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		cert_names(cert, names, sizeof(names));
		snprintf(t->verify_msg, sizeof(t->verify_msg),
			 "proxy name mismatch (certificate for %s, not %s)", names, t->host);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		time_text(X509_get0_notAfter(cert), when, sizeof(when));
		snprintf(t->verify_msg, sizeof(t->verify_msg),
			 "proxy certificate expired (%snot valid after %s)", whose, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		time_text(X509_get0_notBefore(cert), when, sizeof(when));
		snprintf(
		    t->verify_msg, sizeof(t->verify_msg),
		    "proxy certificate not yet valid (%snot valid before %s; is the clock right?)",
		    whose, when);
		break;
	default:
		snprintf(t->verify_msg, sizeof(t->verify_msg),
			 "TLS handshake with the proxy failed: %scertificate refused: %s", whose,
			 X509_verify_cert_error_string(err));
	}
}

int proxy_tls_verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct proxy_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(x);

	if (!ok && t && t->verify_err == X509_V_OK && cert) {
		t->verify_err = X509_STORE_CTX_get_error(x);
		verify_sentence(t, t->verify_err, X509_STORE_CTX_get_error_depth(x), cert);
	}
	return ok;
}

/* The proxy asks for a client certificate and none is configured: remember it for the sentence,
 * and go on without one (the proxy decides). */
int proxy_tls_client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	struct proxy_tls *t = SSL_get_app_data(ssl);

	(void)x509;
	(void)pkey;
	if (t)
		t->cert_asked = true;
	return 0;
}

/* The proxy's first record header: TLS starts with a record type of 20..24; printable text there
 * is a proxy speaking clear text on its TLS port. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct proxy_tls *t = SSL_get_app_data(ssl);
	const unsigned char *p = buf;
	size_t i;

	(void)version;
	(void)arg;
	if (write_p || content_type != SSL3_RT_HEADER || !t || t->first_header || len < 1)
		return;
	t->first_header = true;
	if (p[0] >= 20 && p[0] <= 24)
		return;
	for (i = 0; i < len; i++)
		if (!isprint(p[i]) && !isspace(p[i]))
			return;
	t->clear_text = true;
	snprintf(t->head, sizeof(t->head), "%.*s", (int)(len < 7 ? len : 7), (const char *)buf);
}

/* What the proxy said in clear text, for the sentence: the would-be record header OpenSSL took
 * from the socket, and what is still there, up to the end of the first line. */
static void clear_text_line(struct proxy_tls *t, char *buf, size_t len)
{
	char more[64];
	ssize_t n = recv(t->fd, more, sizeof(more) - 1, MSG_PEEK | MSG_DONTWAIT);
	size_t i;

	more[n > 0 ? n : 0] = '\0';
	snprintf(buf, len, "%s%s", t->head, more);
	for (i = 0; buf[i]; i++)
		if (buf[i] == '\r' || buf[i] == '\n' || !isprint((unsigned char)buf[i])) {
			buf[i] = '\0';
			break;
		}
}

/* The sentence for a failed handshake (or a failure before the proxy's first data). */
static void handshake_failure(struct proxy_tls *t, int ssl_err, int sys_errno)
{
	char reason[160], line[80];
	unsigned long e;
	int r;

	e = proxy_tls_take_ssl_error(reason, sizeof(reason));
	r = e ? ERR_GET_REASON(e) : 0;
	snprintf(t->detail, sizeof(t->detail), "%s", reason[0] ? reason : "handshake");
	if (t->verify_err != X509_V_OK) {
		snprintf(t->error, sizeof(t->error), "%s", t->verify_msg);
		snprintf(t->detail, sizeof(t->detail), "%s",
			 X509_verify_cert_error_string(t->verify_err));
		return;
	}
	if (t->clear_text) {
		clear_text_line(t, line, sizeof(line));
		set_error(t,
			  "TLS handshake with the proxy failed: the proxy answered in clear text "
			  "(\"%s\"), not TLS: is it an http:// proxy?",
			  line);
		snprintf(t->detail, sizeof(t->detail), "clear text");
		return;
	}
	/* TLS 1.3 says so; TLS 1.2 proxies just fail the handshake after asking for one */
	if (!t->ctx->client_cert && (r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
				     (t->cert_asked && (r == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE ||
							r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
							r == SSL_R_TLSV1_ALERT_ACCESS_DENIED)))) {
		set_error(t, "TLS handshake with the proxy failed: the proxy requires a client "
			     "certificate (set proxy.client_cert and proxy.client_key)");
		return;
	}
	if (t->ctx->client_cert &&
	    (r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || r == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
	     r == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
	     r == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE ||
	     r == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
	     r == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED || r == SSL_R_TLSV1_ALERT_ACCESS_DENIED ||
	     r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)) {
		set_error(t,
			  "TLS handshake with the proxy failed: the proxy refused our client "
			  "certificate (proxy.client_cert: %s)",
			  reason);
		return;
	}
	if (r == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
	    (ssl_err == SSL_ERROR_SYSCALL && sys_errno == 0)) {
		set_error(t,
			  "TLS handshake with the proxy failed: the proxy closed the connection");
		snprintf(t->detail, sizeof(t->detail), "EOF");
		return;
	}
	if (ssl_err == SSL_ERROR_SYSCALL) {
		set_error(t, "TLS handshake with the proxy failed: %s", strerror(sys_errno));
		snprintf(t->detail, sizeof(t->detail), "%s", strerror(sys_errno));
		return;
	}
	if (r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION || r == SSL_R_UNSUPPORTED_PROTOCOL ||
	    r == SSL_R_NO_PROTOCOLS_AVAILABLE) {
		set_error(t,
			  "TLS handshake with the proxy failed: the proxy offers no TLS version of "
			  "1.2 or later (%s)",
			  reason);
		return;
	}
	if (r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG) {
		set_error(t, "TLS handshake with the proxy failed: %s (is it a TLS port?)", reason);
		return;
	}
	set_error(t, "TLS handshake with the proxy failed: %s",
		  reason[0] ? reason : "unknown error");
}

/* --- a session ------------------------------------------------------------------------------ */

struct proxy_tls *proxy_tls_new(struct proxy_tls_ctx *ctx, int fd, const char *host, uint16_t port,
				char *err, size_t len)
{
	struct proxy_tls *t = calloc(1, sizeof(*t));
	unsigned char addr[16];
	X509_VERIFY_PARAM *param;
	SSL_SESSION *sess;
	bool literal;

	ERR_clear_error();
	if (!t)
		goto nomem;
	t->ctx = ctx;
	t->fd = fd;
	t->want = PROXY_TLS_WANT_WRITE;
	t->verify_err = X509_V_OK;
	snprintf(t->host, sizeof(t->host), "%s", host);
	snprintf(t->key, sizeof(t->key), "%s:%u", host, port);
	t->ssl = SSL_new(ctx->ssl);
	if (!t->ssl || !SSL_set_fd(t->ssl, fd))
		goto nomem;
	SSL_set_app_data(t->ssl, t);
	SSL_set_msg_callback(t->ssl, msg_cb);
	SSL_set_connect_state(t->ssl);
	literal = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	param = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (literal) { /* no SNI for an address (RFC 6066), the certificate's IP SAN checked */
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, host))
			goto nomem;
	} else if (!SSL_set_tlsext_host_name(t->ssl, host) ||
		   !X509_VERIFY_PARAM_set1_host(param, host, 0)) {
		goto nomem;
	}
	sess = proxy_tls_ctx_no_resumption(ctx) ? NULL : proxy_tls_cache_take(ctx, t->key);
	if (sess) {
		SSL_set_session(t->ssl, sess);
		SSL_SESSION_free(sess);
	}
	ctx->refs++;
	return t;
nomem:
	snprintf(err, len, "TLS handshake with the proxy failed: cannot set up a session for %s",
		 host);
	ERR_clear_error();
	if (t) {
		SSL_free(t->ssl);
		free(t);
	}
	return NULL;
}

void proxy_tls_free(struct proxy_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	proxy_tls_ctx_unref(t->ctx);
	free(t);
}

enum proxy_tls_status proxy_tls_handshake(struct proxy_tls *t)
{
	int r, e;

	if (t->handshake_done)
		return PROXY_TLS_DONE;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->handshake_done = true;
		/* From now on records come in as many per socket read as the buffer holds, not one
		 * header and one body read each (proxy_tls_read() hands several on at once). Not
		 * during the handshake: a clear-text answer must stay in the socket for its
		 * sentence (clear_text_line()). */
		SSL_set_read_ahead(t->ssl, 1);
		return PROXY_TLS_DONE;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return t->want = PROXY_TLS_WANT_READ;
	if (e == SSL_ERROR_WANT_WRITE)
		return t->want = PROXY_TLS_WANT_WRITE;
	handshake_failure(t, e, errno);
	return PROXY_TLS_ERROR;
}

bool proxy_tls_resumed(const struct proxy_tls *t)
{
	return t->handshake_done && SSL_session_reused(t->ssl);
}

const char *proxy_tls_cipher(const struct proxy_tls *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
	return buf;
}

enum proxy_tls_status proxy_tls_want(const struct proxy_tls *t)
{
	return t->want;
}

bool proxy_tls_pending(const struct proxy_tls *t)
{
	/* decrypted bytes, or (read-ahead) records read from the socket but not yet opened */
	return t->read_end || SSL_has_pending(t->ssl);
}

/* A failed read or write after the handshake: the sentence, and the result. */
static ssize_t io_failure(struct proxy_tls *t, int e, int sys_errno, bool reading)
{
	char reason[160];
	unsigned long err;
	bool refused;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		t->want = e == SSL_ERROR_WANT_READ ? PROXY_TLS_WANT_READ : PROXY_TLS_WANT_WRITE;
		return -EAGAIN;
	}
	/* A proxy that asked for the client certificate we do not have may end the connection
	 * before any data without an alert (Squid's clientca= sends close_notify). */
	refused = !t->data_seen && t->cert_asked && !t->ctx->client_cert;
	if (e == SSL_ERROR_ZERO_RETURN && !refused)
		return reading ? 0 : -EPIPE;
	/* Before the proxy's first data, a failure is still the handshake's: a TLS 1.3 client is
	 * done before the proxy has checked its certificate, whose verdict (an alert) may come
	 * with the reset that failed a write: look for it without taking any data. */
	if (!t->data_seen) {
		bool eof;

		if (!reading && e == SSL_ERROR_SYSCALL) {
			unsigned char c;
			size_t got;
			int r;

			ERR_clear_error();
			errno = 0;
			r = SSL_peek_ex(t->ssl, &c, 1, &got);
			if (r != 1 && SSL_get_error(t->ssl, r) == SSL_ERROR_SSL)
				e = SSL_ERROR_SSL;
			else
				ERR_clear_error();
		}
		eof = (e == SSL_ERROR_SYSCALL && sys_errno == 0) ||
		      (e == SSL_ERROR_SSL &&
		       ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
		if (refused && (eof || e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)) {
			ERR_clear_error();
			set_error(t,
				  "TLS handshake with the proxy failed: the proxy asked for a "
				  "client certificate and closed the connection without one (set "
				  "proxy.client_cert and proxy.client_key)");
			snprintf(t->detail, sizeof(t->detail),
				 "closed after asking for a certificate");
			return -EPROTO;
		}
		handshake_failure(t, e, sys_errno);
		if (eof)
			return -EPIPE;
		return e == SSL_ERROR_SYSCALL && sys_errno ? -sys_errno : -EPROTO;
	}
	err = proxy_tls_take_ssl_error(reason, sizeof(reason));
	if ((e == SSL_ERROR_SSL && ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
	    (e == SSL_ERROR_SYSCALL && sys_errno == 0)) {
		set_error(t, "the proxy closed the TLS connection without close_notify");
		snprintf(t->detail, sizeof(t->detail), "EOF without close_notify");
		return -EPIPE;
	}
	if (e == SSL_ERROR_SYSCALL) {
		set_error(t, "the TLS connection to the proxy failed: %s", strerror(sys_errno));
		snprintf(t->detail, sizeof(t->detail), "%s", strerror(sys_errno));
		return sys_errno == EPIPE || sys_errno == ECONNRESET ? -sys_errno : -EPROTO;
	}
	set_error(t, "the TLS connection to the proxy failed: %s",
		  reason[0] ? reason : "unknown error");
	snprintf(t->detail, sizeof(t->detail), "%s", reason[0] ? reason : "TLS error");
	return -EPROTO;
}

/* The bytes of several records in one call: with read-ahead one socket read brings up to
 * PROXY_TLS_READ_BUF bytes of records, and reading goes on (from the socket too) until the
 * caller's buffer is full or the socket has nothing more, so the pump makes one send() of up to
 * n bytes instead of one per socket read or record. A failure after some bytes is kept for the
 * next call (the bytes first); waiting for the socket after some bytes ends the call with them,
 * and proxy_tls_starved() says so: the next call would only wait. */
ssize_t proxy_tls_read(struct proxy_tls *t, void *p, size_t n)
{
	size_t got = 0, total = 0;
	ssize_t e;
	int r;

	t->starved = false;
	if (t->read_end)
		return t->read_end;
	do {
		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(t->ssl, (char *)p + total, n - total, &got);
		if (r != 1)
			break;
		t->data_seen = true;
		total += got;
	} while (total < n);
	if (r == 1)
		return (ssize_t)total;
	e = io_failure(t, SSL_get_error(t->ssl, r), errno, true);
	if (total == 0)
		return e;
	if (e == -EAGAIN)
		t->starved = true;
	else
		t->read_end = e; /* its sentence is set; the next call returns it */
	return (ssize_t)total;
}

bool proxy_tls_starved(const struct proxy_tls *t)
{
	return t->starved;
}

/* Records until n bytes are written or the socket is full: with partial writes each
 * SSL_write_ex() takes one record, and what the socket cannot take is the caller's to retry
 * (the record that waits starts right after the bytes reported written). */
ssize_t proxy_tls_write(struct proxy_tls *t, const void *p, size_t n)
{
	size_t done = 0, total = 0;
	ssize_t e;
	int r;

	if (t->shut_sent)
		return -EPIPE;
	if (t->write_end)
		return t->write_end;
	do {
		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(t->ssl, (const char *)p + total, n - total, &done);
		if (r != 1)
			break;
		total += done;
	} while (total < n);
	if (r == 1)
		return (ssize_t)total;
	e = io_failure(t, SSL_get_error(t->ssl, r), errno, false);
	if (total == 0)
		return e;
	if (e != -EAGAIN)
		t->write_end = e; /* as a read's: the next call returns it */
	return (ssize_t)total;
}

enum proxy_tls_status proxy_tls_shutdown(struct proxy_tls *t)
{
	int r, e;

	if (!t->handshake_done)
		return PROXY_TLS_DONE; /* nothing to close yet: the caller just closes the socket */
	ERR_clear_error();
	errno = 0;
	r = SSL_shutdown(t->ssl); /* 0: ours sent, 1: both: either way ours is out */
	if (r >= 0) {
		t->shut_sent = true;
		return PROXY_TLS_DONE;
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return t->want =
			   e == SSL_ERROR_WANT_READ ? PROXY_TLS_WANT_READ : PROXY_TLS_WANT_WRITE;
	io_failure(t, e, errno, false);
	return PROXY_TLS_ERROR;
}

const char *proxy_tls_error(const struct proxy_tls *t)
{
	return t->error;
}

const char *proxy_tls_detail(const struct proxy_tls *t)
{
	return t->detail;
}
