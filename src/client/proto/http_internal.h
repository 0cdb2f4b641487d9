/* What the HTTP parsers share among themselves and nobody else: the character classes of
 * RFC 9110, the line scanner both head parsers walk with (http_head.c), and the field-value
 * mergers both heads feed (http_fields.c, http_challenge.c). The contract for the rest of
 * the client is http.h; nothing outside src/client/http_*.c, chunked.c and base64.c
 * includes this file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/proto/http.h"
#include "shared/ascii.h"

#define HTTP_VERSION_PREFIX "HTTP/1."
#define HTTP_VERSION_LEN    8 /* "HTTP/1.x" */

/* strchr() would also match the terminating NUL. */
static inline bool is_one_of(uint8_t c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* One or more of [A-Za-z0-9] and the extra characters, then any '=' padding: the shape of
 * token68 (extra "-._~+/", RFC 9110 §11.2) and of base64 (extra "+/"). */
static inline bool is_b64_shaped(const uint8_t *s, size_t n, const char *extra)
{
	size_t i = 0;

	while (i < n && (is_alnum(s[i]) || is_one_of(s[i], extra)))
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* RFC 9110 §5.6.2 tchar */
static inline bool is_tchar(uint8_t c)
{
	return is_alnum(c) || is_one_of(c, "!#$%&'*+-.^_`|~");
}

/* field-vchar / SP / HTAB / obs-text: everything but CTLs and DEL. */
static inline bool is_field_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static inline bool span_eq_ci(const uint8_t *buf, struct kg_span s, const char *word)
{
	return kg_ascii_eq_ci(buf + s.off, s.len, word);
}

/* Line-by-line walk over a head. limit = min(len, KG_HTTP_HEAD_MAX). */
struct http_scan {
	const uint8_t *buf;
	size_t len;
	size_t limit;
	size_t pos;
	bool strict_crlf; /* requests: CRLF only; responses: a bare LF ends a line too */
	size_t line_max;  /* 0: only the head cap applies */
};

void http_scan_init(struct http_scan *s, const uint8_t *buf, size_t len, bool strict_crlf,
		    size_t line_max);

/* 1 and the line content (terminator excluded) in *line; -EAGAIN when the line is not complete
 * yet; -E2BIG when it can no longer fit; -EBADMSG for a stray CR or (strict) a bare LF. */
int http_scan_line(struct http_scan *s, struct kg_span *line);

/* Called with each header field of a head, OWS trimmed from the value; a negative return
 * stops the walk. */
typedef int (*http_field_fn)(void *fields, const uint8_t *buf, struct kg_span name,
			     struct kg_span value);

/* Walks the header lines up to and including the empty line that ends the head, counting
 * them in *count and handing each field to on_field. 0 at the end of the head (s->pos is then
 * the head length); -E2BIG beyond KG_HTTP_HEADERS_MAX fields; -EBADMSG for a malformed field;
 * else the first error of http_scan_line or on_field. */
int http_scan_fields(struct http_scan *s, unsigned *count, http_field_fn on_field, void *fields);

/* "HTTP/1.x" at buf[off]: 10 or 11, else -EBADMSG. */
int http_version_parse(const uint8_t *buf, size_t off, unsigned *version);

/* Next non-empty element of a comma-separated list in buf[*pos..end), OWS trimmed; commas
 * inside quoted strings (auth-params) do not split. 1 found, 0 end of list, -EBADMSG for an
 * unterminated quoted string. */
int http_list_next(const uint8_t *buf, size_t *pos, size_t end, struct kg_span *elem);

struct transfer_coding {
	bool present;
	bool chunked_last;
	unsigned chunked_count;
	bool other;
};

struct connection_opts {
	bool close;
	bool keep_alive;
	bool upgrade;
};

/* Connection-style options ("close", "keep-alive", "upgrade") of one field into *c. */
int http_connection_merge(const uint8_t *buf, struct kg_span value, struct connection_opts *c);

/* The framing and connection fields, which both heads have. */
struct framing_fields {
	bool has_content_length;
	uint64_t content_length;
	struct transfer_coding te;
	struct connection_opts conn;
};

/* Merges a Content-Length, Transfer-Encoding or Connection field into *f; 0 for any other
 * name, else the merger's result. */
int http_framing_field(struct framing_fields *f, const uint8_t *buf, struct kg_span name,
		       struct kg_span value);

struct challenges {
	unsigned schemes;
	enum kg_negotiate negotiate;
	struct kg_span token;
};

/* One Proxy-Authenticate field into *ch (http_challenge.c). 0 or -EBADMSG. */
int http_challenges_merge(const uint8_t *buf, struct kg_span value, struct challenges *ch);
