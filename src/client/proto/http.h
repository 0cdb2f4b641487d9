/* HTTP/1.x heads exchanged by the relay: pure, bounded parsers of outside bytes.
 *
 * The relay talks HTTP in two directions. Towards the proxy it reads the answer to a CONNECT
 * or to a forwarded request (kg_http_response_parse) and must know exactly where that head
 * ends, because the tunnel's first bytes may follow in the same read. From applications on
 * port 80 it reads request heads (kg_http_request_parse), rewrites them to absolute-form with
 * our Proxy-Authorization (kg_http_request_rewrite) and follows chunked bodies
 * (kg_chunked_feed) to find the next request on a keep-alive connection.
 *
 * Nothing here does I/O or allocates. Parsed fields are spans (offset, length) into the
 * caller's buffer, so they stay valid as long as that buffer is not modified; output
 * structures are written only on success.
 *
 * Line endings: requests come from arbitrary applications and are forwarded, so they must be
 * CRLF exactly (a bare LF or CR is a classic smuggling vector between two parsers that
 * disagree). Responses come from the configured proxy and are only read by us: a bare LF is
 * accepted as a line end there (RFC 9112 §2.2 allows it), a bare CR is not. Obsolete line
 * folding is rejected in both.
 *
 * Errors: -EAGAIN the head is not complete yet; -EBADMSG malformed or ambiguous; -E2BIG a
 * limit below was exceeded; -ENOSPC an output buffer is too small; -EINVAL a caller mistake.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KG_HTTP_HEAD_MAX    (64 * 1024) /* whole head incl. CRLFCRLF; AD tickets are large */
#define KG_HTTP_LINE_MAX    (8 * 1024)	/* one request line or header line, CRLF excluded */
#define KG_HTTP_HEADERS_MAX 100		/* header fields in one head */
#define KG_CHUNK_LINE_MAX   4096	/* chunk-size line incl. extensions, CRLF excluded */

/* A byte range of the parsed buffer. */
struct kg_span {
	size_t off;
	size_t len;
};

/* Authentication schemes offered in Proxy-Authenticate (bit set). */
enum {
	KG_AUTH_NEGOTIATE = 1u << 0,
	KG_AUTH_BASIC = 1u << 1,
	KG_AUTH_NTLM = 1u << 2,
	KG_AUTH_OTHER = 1u << 3,
};

/* What the proxy said about Negotiate. After we sent a token, BARE means "rejected". */
enum kg_negotiate {
	KG_NEGOTIATE_NONE = 0, /* no Negotiate challenge */
	KG_NEGOTIATE_BARE,     /* "Negotiate" without a token */
	KG_NEGOTIATE_TOKEN,    /* "Negotiate <token68>": negotiate_token is set */
};

struct kg_http_response {
	size_t head_len;  /* bytes up to and including the empty line */
	unsigned version; /* 10 or 11 */
	unsigned status;  /* 100..599 */
	struct kg_span reason;
	unsigned auth_schemes; /* KG_AUTH_* seen in all Proxy-Authenticate fields */
	enum kg_negotiate negotiate;
	struct kg_span negotiate_token; /* base64 text, valid when negotiate == TOKEN */
	bool has_content_length;
	uint64_t content_length;
	bool has_transfer_encoding;
	bool chunked;	      /* Transfer-Encoding ends in chunked */
	bool conn_close;      /* "close" in Connection or Proxy-Connection */
	bool conn_keep_alive; /* "keep-alive" in Connection or Proxy-Connection */
	unsigned header_count;
};

/* How the body after a response head is delimited (RFC 9112 §6.3). */
enum kg_body_framing {
	KG_BODY_NONE,	    /* no body: 1xx, 204, 304, 2xx to CONNECT, response to HEAD */
	KG_BODY_LENGTH,	    /* exactly *length bytes */
	KG_BODY_CHUNKED,    /* feed the bytes to kg_chunked_feed */
	KG_BODY_UNTIL_CLOSE /* everything until the proxy closes: the connection cannot be reused */
};

/* Parses the head of a proxy's response in buf[0..len). Returns 0 and fills *ret (head_len
 * tells where the body or the tunnel starts), -EAGAIN if the head is incomplete (nothing
 * wrong seen so far), -E2BIG if it does not end within KG_HTTP_HEAD_MAX bytes or has too many
 * fields, -EBADMSG if malformed. Bytes past head_len are never looked at once the head ended. */
int kg_http_response_parse(const uint8_t *buf, size_t len, struct kg_http_response *ret);

/* Body framing of a parsed response; request_was_connect/request_was_head describe what it
 * answers. *length is set for KG_BODY_LENGTH. */
enum kg_body_framing kg_http_response_framing(const struct kg_http_response *r,
					      bool request_was_connect, bool request_was_head,
					      uint64_t *length);

/* Whether the proxy connection may carry another request after this response (and its body). */
bool kg_http_response_keep_alive(const struct kg_http_response *r);

enum kg_target_form {
	KG_TARGET_ORIGIN,    /* "/path?query" */
	KG_TARGET_ABSOLUTE,  /* "http://authority/path?query" */
	KG_TARGET_AUTHORITY, /* "host:port", CONNECT only */
	KG_TARGET_ASTERISK,  /* "*", OPTIONS only */
};

struct kg_http_request {
	size_t head_len;    /* bytes up to and including the empty line */
	size_t line_off;    /* start of the request line (after tolerated leading CRLFs) */
	size_t headers_off; /* start of the first header line */
	struct kg_span method;
	bool method_head; /* the method is HEAD (methods are case-sensitive): no response body */
	struct kg_span target;
	enum kg_target_form target_form;
	unsigned version;	  /* 10 or 11 */
	struct kg_span authority; /* absolute-form authority, else the Host value; len 0: none */
	bool has_host;		  /* a Host field was present (possibly empty) */
	bool has_content_length;
	uint64_t content_length;
	bool chunked; /* Transfer-Encoding: chunked (the only coding accepted) */
	bool conn_close;
	bool conn_keep_alive;
	bool conn_upgrade;    /* "upgrade" in Connection: the caller switches to a raw tunnel */
	bool expect_continue; /* Expect: 100-continue */
	unsigned header_count;
};

/* Parses an application's request head in buf[0..len). Same return convention as
 * kg_http_response_parse; in addition a request line or header line over KG_HTTP_LINE_MAX
 * gives -E2BIG as soon as it is seen, and Content-Length together with Transfer-Encoding,
 * differing Content-Lengths, a coding other than chunked, Transfer-Encoding in HTTP/1.0,
 * several Host fields or an invalid Host give -EBADMSG. */
int kg_http_request_parse(const uint8_t *buf, size_t len, struct kg_http_request *ret);

/* Whether the application's connection stays open after this request (HTTP/1.1 default). */
bool kg_http_request_keep_alive(const struct kg_http_request *r);

/* Body framing of a parsed request: KG_BODY_NONE, KG_BODY_CHUNKED, or KG_BODY_LENGTH with
 * *length set. */
enum kg_body_framing kg_http_request_framing(const struct kg_http_request *r, uint64_t *length);

/* Writes the head of req (parsed from buf) to out in absolute-form for the proxy:
 * origin-form "/p" becomes "http://<authority>/p", asterisk-form becomes "http://<authority>",
 * absolute-form is kept. Proxy-Authorization and Proxy-Connection fields of the application
 * are dropped; when negotiate_token is not NULL, "Proxy-Authorization: Negotiate <token>" is
 * added. authority is "host[:port]" (IPv6 in brackets). Returns 0 and *ret_len, -ENOSPC if
 * outcap is too small, -EINVAL for an authority-form request, an invalid authority or a token
 * that is not base64. */
int kg_http_request_rewrite(const uint8_t *buf, const struct kg_http_request *req,
			    const char *authority, const char *negotiate_token, uint8_t *out,
			    size_t outcap, size_t *ret_len);

/* Incremental framing of a chunked body (RFC 9112 §7.1), fed as the bytes stream by. */
struct kg_chunked {
	unsigned state;
	unsigned line_len;  /* bytes in the current size or trailer line */
	unsigned digits;    /* significant hex digits of the size seen */
	uint64_t remaining; /* data bytes left in the current chunk */
	size_t trailer_len; /* bytes of trailer section so far */
};

void kg_chunked_init(struct kg_chunked *c);
/* Consumes a prefix of buf[0..len): sets *consumed to the number of bytes that belong to the
 * message and returns 1 when the message ended there (the next message starts at *consumed),
 * 0 when all len bytes were consumed and more are needed, -EBADMSG on malformed framing, -E2BIG
 * when a size line or the trailers exceed their caps. Data bytes are skipped in one step. */
int kg_chunked_feed(struct kg_chunked *c, const uint8_t *buf, size_t len, size_t *consumed);
