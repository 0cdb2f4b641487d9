/* HTTP/1.x heads for the relay: proxy responses, application requests, the absolute-form
 * rewrite, chunked framing and base64 (see http.h for the contract).
 *
 * Both head parsers walk the buffer line by line from the start on every call: the caller
 * calls again after each read, heads are at most KG_HTTP_HEAD_MAX bytes, and a parser that
 * keeps no state between calls cannot be confused by how the bytes were split. A complete
 * line is validated as soon as it is seen, so garbage is refused without waiting for a blank
 * line that may never come.
 */
#include <errno.h>
#include <string.h>

#include "http.h"
#include "sniff.h"

#define HTTP_VERSION_PREFIX "HTTP/1."
#define HTTP_VERSION_LEN    8 /* "HTTP/1.x" */

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(uint8_t c)
{
	uint8_t l = kg_ascii_lower(c);
	return is_digit(c) || (l >= 'a' && l <= 'z');
}

/* strchr() would also match the terminating NUL. */
static bool is_one_of(uint8_t c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(uint8_t c)
{
	return is_alnum(c) || is_one_of(c, "!#$%&'*+-.^_`|~");
}

/* field-vchar / SP / HTAB / obs-text: everything but CTLs and DEL. */
static bool is_field_char(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

bool kg_ascii_eq_ci(const uint8_t *buf, size_t len, const char *word)
{
	size_t n = strlen(word);

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (kg_ascii_lower(buf[i]) != (uint8_t)word[i])
			return false;
	return true;
}

static bool span_eq_ci(const uint8_t *buf, struct kg_span s, const char *word)
{
	return kg_ascii_eq_ci(buf + s.off, s.len, word);
}

/* Methods are case-sensitive (RFC 9110 §9.1). */
static bool span_eq(const uint8_t *buf, struct kg_span s, const char *word)
{
	return s.len == strlen(word) && memcmp(buf + s.off, word, s.len) == 0;
}

/* Line-by-line walk over a head. limit = min(len, KG_HTTP_HEAD_MAX). */
struct head_scan {
	const uint8_t *buf;
	size_t len;
	size_t limit;
	size_t pos;
	bool strict_crlf; /* requests: CRLF only; responses: a bare LF ends a line too */
	size_t line_max;  /* 0: only the head cap applies */
};

static void head_scan_init(struct head_scan *s, const uint8_t *buf, size_t len, bool strict_crlf,
			   size_t line_max)
{
	*s = (struct head_scan){
	    .buf = buf,
	    .len = len,
	    .limit = len < KG_HTTP_HEAD_MAX ? len : KG_HTTP_HEAD_MAX,
	    .strict_crlf = strict_crlf,
	    .line_max = line_max,
	};
}

/* 1 and the line content (terminator excluded) in *line; -EAGAIN when the line is not complete
 * yet; -E2BIG when it can no longer fit; -EBADMSG for a stray CR or (strict) a bare LF. */
static int head_next_line(struct head_scan *s, struct kg_span *line)
{
	const uint8_t *buf = s->buf;
	size_t from = s->pos;

	for (size_t i = from; i < s->limit; i++) {
		uint8_t c = buf[i];
		if (c == '\n') {
			size_t end = i;
			if (i > from && buf[i - 1] == '\r')
				end = i - 1;
			else if (s->strict_crlf)
				return -EBADMSG;
			*line = (struct kg_span){from, end - from};
			s->pos = i + 1;
			return 1;
		}
		if (c == '\r') {
			if (i + 1 < s->limit && buf[i + 1] != '\n')
				return -EBADMSG;
			continue;
		}
		if (s->line_max && i - from + 1 > s->line_max)
			return -E2BIG;
	}
	/* Whatever follows would lie beyond the head cap. */
	return s->len >= KG_HTTP_HEAD_MAX ? -E2BIG : -EAGAIN;
}

/* "name: value" with OWS trimmed. Leading whitespace is obsolete line folding; whitespace
 * before the colon is refused (RFC 9112 §5.1: a known smuggling vector). */
static int parse_field(const uint8_t *buf, struct kg_span line, struct kg_span *name,
		       struct kg_span *value)
{
	size_t i = line.off, end = line.off + line.len;

	while (i < end && is_tchar(buf[i]))
		i++;
	if (i == line.off || i == end || buf[i] != ':')
		return -EBADMSG;
	*name = (struct kg_span){line.off, i - line.off};
	i++;
	while (i < end && is_ows(buf[i]))
		i++;
	while (end > i && is_ows(buf[end - 1]))
		end--;
	for (size_t k = i; k < end; k++)
		if (!is_field_char(buf[k]))
			return -EBADMSG;
	*value = (struct kg_span){i, end - i};
	return 0;
}

/* Next non-empty element of a comma-separated list in buf[*pos..end), OWS trimmed; commas
 * inside quoted strings (auth-params) do not split. 1 found, 0 end of list, -EBADMSG for an
 * unterminated quoted string. */
static int list_next(const uint8_t *buf, size_t *pos, size_t end, struct kg_span *elem)
{
	size_t i = *pos;

	for (;;) {
		while (i < end && (is_ows(buf[i]) || buf[i] == ','))
			i++;
		if (i == end) {
			*pos = i;
			return 0;
		}
		size_t start = i;
		bool quoted = false;
		for (; i < end; i++) {
			if (quoted && buf[i] == '\\') {
				if (++i == end)
					return -EBADMSG;
			} else if (buf[i] == '"') {
				quoted = !quoted;
			} else if (!quoted && buf[i] == ',') {
				break;
			}
		}
		if (quoted)
			return -EBADMSG;
		size_t stop = i;
		while (stop > start && is_ows(buf[stop - 1]))
			stop--;
		*pos = i;
		*elem = (struct kg_span){start, stop - start};
		return 1;
	}
}

/* Content-Length: 1*DIGIT, possibly repeated (as a list or in several fields) with the same
 * value; different values are a smuggling attempt (RFC 9110 §8.6). */
static int content_length_merge(const uint8_t *buf, struct kg_span value, bool *has,
				uint64_t *length)
{
	size_t pos = value.off, end = value.off + value.len;
	struct kg_span e;
	bool any = false;
	int r;

	while ((r = list_next(buf, &pos, end, &e)) > 0) {
		uint64_t v = 0;
		for (size_t i = e.off; i < e.off + e.len; i++) {
			if (!is_digit(buf[i]) || v > (UINT64_MAX / 2 - 9) / 10)
				return -EBADMSG;
			v = v * 10 + (uint64_t)(buf[i] - '0');
		}
		if (*has && v != *length)
			return -EBADMSG;
		*has = true;
		*length = v;
		any = true;
	}
	return r < 0 ? r : any ? 0 : -EBADMSG;
}

struct transfer_coding {
	bool present;
	bool chunked_last;
	unsigned chunked_count;
	bool other;
};

static int transfer_encoding_merge(const uint8_t *buf, struct kg_span value,
				   struct transfer_coding *te)
{
	size_t pos = value.off, end = value.off + value.len;
	struct kg_span e;
	int r;

	te->present = true;
	while ((r = list_next(buf, &pos, end, &e)) > 0) {
		size_t n = 0;
		while (n < e.len && is_tchar(buf[e.off + n]))
			n++;
		if (n == 0)
			return -EBADMSG;
		if (kg_ascii_eq_ci(buf + e.off, n, "chunked")) {
			te->chunked_count++;
			te->chunked_last = true;
		} else {
			te->other = true;
			te->chunked_last = false;
		}
	}
	return r;
}

struct connection_opts {
	bool close;
	bool keep_alive;
	bool upgrade;
};

static int connection_merge(const uint8_t *buf, struct kg_span value, struct connection_opts *c)
{
	size_t pos = value.off, end = value.off + value.len;
	struct kg_span e;
	int r;

	while ((r = list_next(buf, &pos, end, &e)) > 0) {
		if (span_eq_ci(buf, e, "close"))
			c->close = true;
		else if (span_eq_ci(buf, e, "keep-alive"))
			c->keep_alive = true;
		else if (span_eq_ci(buf, e, "upgrade"))
			c->upgrade = true;
	}
	return r;
}

/* token68 (RFC 9110 §11.2): the Negotiate token lives in one. */
static bool is_token68(const uint8_t *buf, struct kg_span s)
{
	size_t i = s.off, end = s.off + s.len;

	while (i < end && (is_alnum(buf[i]) || is_one_of(buf[i], "-._~+/")))
		i++;
	if (i == s.off)
		return false;
	while (i < end && buf[i] == '=')
		i++;
	return i == end;
}

/* token BWS "=" BWS ( token / quoted-string ): the rest of the element must be an auth-param. */
static bool is_auth_param(const uint8_t *buf, struct kg_span s)
{
	size_t i = s.off, end = s.off + s.len;

	while (i < end && is_tchar(buf[i]))
		i++;
	if (i == s.off)
		return false;
	while (i < end && is_ows(buf[i]))
		i++;
	if (i == end || buf[i] != '=')
		return false;
	i++;
	while (i < end && is_ows(buf[i]))
		i++;
	if (i < end && buf[i] == '"')
		return buf[end - 1] == '"' && end - i >= 2;
	size_t v = i;
	while (i < end && is_tchar(buf[i]))
		i++;
	return i > v && i == end;
}

struct challenges {
	unsigned schemes;
	enum kg_negotiate negotiate;
	struct kg_span token;
};

/* One Proxy-Authenticate field: a comma list of challenges, where the auth-params of one
 * challenge are also comma-separated (RFC 9110 §11.6.1). An element that starts with
 * "token =" continues the previous challenge; any other element starts a new one. */
static int challenges_merge(const uint8_t *buf, struct kg_span value, struct challenges *ch)
{
	size_t pos = value.off, end = value.off + value.len;
	bool in_challenge = false;
	struct kg_span e;
	int r;

	while ((r = list_next(buf, &pos, end, &e)) > 0) {
		if (is_auth_param(buf, e)) {
			if (!in_challenge)
				return -EBADMSG;
			continue;
		}
		size_t n = 0;
		while (n < e.len && is_tchar(buf[e.off + n]))
			n++;
		if (n == 0 || (n < e.len && buf[e.off + n] != ' '))
			return -EBADMSG;
		struct kg_span scheme = {e.off, n};
		struct kg_span rest = {e.off + n, e.len - n};
		while (rest.len > 0 && buf[rest.off] == ' ') {
			rest.off++;
			rest.len--;
		}
		bool token = rest.len > 0 && is_token68(buf, rest);
		if (rest.len > 0 && !token && !is_auth_param(buf, rest))
			return -EBADMSG;
		in_challenge = true;
		if (span_eq_ci(buf, scheme, "negotiate")) {
			ch->schemes |= KG_AUTH_NEGOTIATE;
			if (!token) {
				if (ch->negotiate == KG_NEGOTIATE_NONE)
					ch->negotiate = KG_NEGOTIATE_BARE;
				continue;
			}
			/* Two tokens cannot both be the next leg of one context. */
			if (ch->negotiate == KG_NEGOTIATE_TOKEN)
				return -EBADMSG;
			ch->negotiate = KG_NEGOTIATE_TOKEN;
			ch->token = rest;
		} else if (span_eq_ci(buf, scheme, "basic")) {
			ch->schemes |= KG_AUTH_BASIC;
		} else if (span_eq_ci(buf, scheme, "ntlm")) {
			ch->schemes |= KG_AUTH_NTLM;
		} else {
			ch->schemes |= KG_AUTH_OTHER;
		}
	}
	return r;
}

/* "HTTP/1.x" at buf[off]: 10 or 11, else -EBADMSG. */
static int http_version(const uint8_t *buf, size_t off, unsigned *version)
{
	if (memcmp(buf + off, HTTP_VERSION_PREFIX, HTTP_VERSION_LEN - 1) != 0)
		return -EBADMSG;
	if (buf[off + HTTP_VERSION_LEN - 1] == '0')
		*version = 10;
	else if (buf[off + HTTP_VERSION_LEN - 1] == '1')
		*version = 11;
	else
		return -EBADMSG;
	return 0;
}

/* status-line = HTTP-version SP 3DIGIT SP [reason]; a missing SP before an empty reason is
 * tolerated. */
static int parse_status_line(const uint8_t *buf, struct kg_span line, struct kg_http_response *r)
{
	size_t s = line.off, end = line.off + line.len;

	if (line.len < HTTP_VERSION_LEN + 4 || http_version(buf, s, &r->version) < 0)
		return -EBADMSG;
	s += HTTP_VERSION_LEN;
	if (buf[s] != ' ' || !is_digit(buf[s + 1]) || !is_digit(buf[s + 2]) ||
	    !is_digit(buf[s + 3]))
		return -EBADMSG;
	r->status = (unsigned)(buf[s + 1] - '0') * 100 + (unsigned)(buf[s + 2] - '0') * 10 +
		    (unsigned)(buf[s + 3] - '0');
	if (r->status < 100 || r->status > 599)
		return -EBADMSG;
	s += 4;
	if (s < end && buf[s++] != ' ')
		return -EBADMSG;
	for (size_t i = s; i < end; i++)
		if (!is_field_char(buf[i]))
			return -EBADMSG;
	r->reason = (struct kg_span){s, end - s};
	return 0;
}

int kg_http_response_parse(const uint8_t *buf, size_t len, struct kg_http_response *ret)
{
	struct kg_http_response r = {0};
	struct transfer_coding te = {0};
	struct connection_opts conn = {0};
	struct challenges ch = {0};
	struct head_scan scan;
	struct kg_span line, name, value;
	int e;

	if (len == 0)
		return -EAGAIN;
	/* Refuse a non-HTTP answer at once instead of waiting for a blank line. */
	size_t m = len < HTTP_VERSION_LEN - 1 ? len : HTTP_VERSION_LEN - 1;
	if (memcmp(buf, HTTP_VERSION_PREFIX, m) != 0)
		return -EBADMSG;
	head_scan_init(&scan, buf, len, false, 0);
	e = head_next_line(&scan, &line);
	if (e < 0)
		return e;
	e = parse_status_line(buf, line, &r);
	if (e < 0)
		return e;
	for (;;) {
		e = head_next_line(&scan, &line);
		if (e < 0)
			return e;
		if (line.len == 0)
			break;
		if (++r.header_count > KG_HTTP_HEADERS_MAX)
			return -E2BIG;
		e = parse_field(buf, line, &name, &value);
		if (e < 0)
			return e;
		if (span_eq_ci(buf, name, "proxy-authenticate"))
			e = challenges_merge(buf, value, &ch);
		else if (span_eq_ci(buf, name, "content-length"))
			e = content_length_merge(buf, value, &r.has_content_length,
						 &r.content_length);
		else if (span_eq_ci(buf, name, "transfer-encoding"))
			e = transfer_encoding_merge(buf, value, &te);
		else if (span_eq_ci(buf, name, "connection") ||
			 span_eq_ci(buf, name, "proxy-connection"))
			e = connection_merge(buf, value, &conn);
		if (e < 0)
			return e;
	}
	if (te.chunked_count > 1)
		return -EBADMSG;
	r.head_len = scan.pos;
	r.auth_schemes = ch.schemes;
	r.negotiate = ch.negotiate;
	r.negotiate_token = ch.token;
	r.has_transfer_encoding = te.present;
	r.chunked = te.chunked_last;
	r.conn_close = conn.close;
	r.conn_keep_alive = conn.keep_alive;
	*ret = r;
	return 0;
}

enum kg_body_framing kg_http_response_framing(const struct kg_http_response *r,
					      bool request_was_connect, bool request_was_head,
					      uint64_t *length)
{
	/* RFC 9112 §6.3, in its order. */
	if (request_was_head || r->status < 200 || r->status == 204 || r->status == 304)
		return KG_BODY_NONE;
	if (request_was_connect && r->status < 300)
		return KG_BODY_NONE;
	if (r->has_transfer_encoding)
		return r->chunked ? KG_BODY_CHUNKED : KG_BODY_UNTIL_CLOSE;
	if (r->has_content_length) {
		*length = r->content_length;
		return KG_BODY_LENGTH;
	}
	return KG_BODY_UNTIL_CLOSE;
}

bool kg_http_response_keep_alive(const struct kg_http_response *r)
{
	/* Both framings present may be an attempt at response splitting: do not reuse. */
	if (r->conn_close || (r->has_transfer_encoding && r->has_content_length))
		return false;
	if (r->has_transfer_encoding && !r->chunked)
		return false;
	return r->version >= 11 || r->conn_keep_alive;
}

/* The absolute-form authority: "http://" authority [ "/" / "?" ... ]; no userinfo (a
 * classic way to make two parsers see two different hosts), no fragment. */
static int absolute_target(const uint8_t *buf, struct kg_span target, struct kg_span *authority)
{
	static const char scheme[] = "http://";
	const size_t scheme_len = sizeof(scheme) - 1;
	size_t i, end = target.off + target.len;

	if (target.len <= scheme_len || !kg_ascii_eq_ci(buf + target.off, scheme_len, scheme))
		return -EBADMSG;
	i = target.off + scheme_len;
	while (i < end && buf[i] != '/' && buf[i] != '?') {
		if (buf[i] == '@')
			return -EBADMSG;
		i++;
	}
	*authority = (struct kg_span){target.off + scheme_len, i - target.off - scheme_len};
	return 0;
}

static int authority_check(const uint8_t *buf, struct kg_span s, bool port_required)
{
	char host[KG_HOST_MAX];
	uint16_t port;
	int e;

	e = kg_authority_parse((const char *)buf + s.off, s.len, host, sizeof(host), &port);
	if (e < 0)
		return -EBADMSG;
	return port_required && port == 0 ? -EBADMSG : 0;
}

/* request-line = method SP request-target SP HTTP-version */
static int parse_request_line(const uint8_t *buf, struct kg_span line, struct kg_http_request *r)
{
	size_t i = line.off, end = line.off + line.len;
	int e;

	while (i < end && is_tchar(buf[i]))
		i++;
	if (i == line.off || i == end || buf[i] != ' ')
		return -EBADMSG;
	r->method = (struct kg_span){line.off, i - line.off};
	size_t t = ++i;
	while (i < end && buf[i] > ' ' && buf[i] < 0x7f && buf[i] != '#')
		i++;
	if (i == t || i == end || buf[i] != ' ')
		return -EBADMSG;
	r->target = (struct kg_span){t, i - t};
	i++;
	if (end - i != HTTP_VERSION_LEN || http_version(buf, i, &r->version) < 0)
		return -EBADMSG;

	bool connect = span_eq(buf, r->method, "CONNECT");
	if (connect) {
		r->target_form = KG_TARGET_AUTHORITY;
		r->authority = r->target;
		return authority_check(buf, r->target, true);
	}
	if (buf[t] == '/') {
		r->target_form = KG_TARGET_ORIGIN;
		return 0;
	}
	if (r->target.len == 1 && buf[t] == '*') {
		r->target_form = KG_TARGET_ASTERISK;
		return span_eq(buf, r->method, "OPTIONS") ? 0 : -EBADMSG;
	}
	r->target_form = KG_TARGET_ABSOLUTE;
	e = absolute_target(buf, r->target, &r->authority);
	return e < 0 ? e : authority_check(buf, r->authority, false);
}

static int request_field(const uint8_t *buf, struct kg_span name, struct kg_span value,
			 struct kg_http_request *r, struct kg_span *host,
			 struct transfer_coding *te, struct connection_opts *conn)
{
	if (span_eq_ci(buf, name, "host")) {
		if (r->has_host)
			return -EBADMSG;
		r->has_host = true;
		*host = value;
		return value.len > 0 ? authority_check(buf, value, false) : 0;
	}
	if (span_eq_ci(buf, name, "content-length"))
		return content_length_merge(buf, value, &r->has_content_length, &r->content_length);
	if (span_eq_ci(buf, name, "transfer-encoding"))
		return transfer_encoding_merge(buf, value, te);
	if (span_eq_ci(buf, name, "connection"))
		return connection_merge(buf, value, conn);
	if (span_eq_ci(buf, name, "expect") && span_eq_ci(buf, value, "100-continue"))
		r->expect_continue = true;
	return 0;
}

int kg_http_request_parse(const uint8_t *buf, size_t len, struct kg_http_request *ret)
{
	struct kg_http_request r = {0};
	struct transfer_coding te = {0};
	struct connection_opts conn = {0};
	struct kg_span line, name, value, host = {0, 0};
	struct head_scan scan;
	int e;

	head_scan_init(&scan, buf, len, true, KG_HTTP_LINE_MAX);
	/* RFC 9112 §2.2: ignore empty lines before the request line (clients sometimes send a
	 * CRLF after a body). */
	do {
		r.line_off = scan.pos;
		e = head_next_line(&scan, &line);
		if (e < 0)
			return e;
	} while (line.len == 0);
	e = parse_request_line(buf, line, &r);
	if (e < 0)
		return e;
	r.headers_off = scan.pos;
	for (;;) {
		e = head_next_line(&scan, &line);
		if (e < 0)
			return e;
		if (line.len == 0)
			break;
		if (++r.header_count > KG_HTTP_HEADERS_MAX)
			return -E2BIG;
		e = parse_field(buf, line, &name, &value);
		if (e < 0)
			return e;
		e = request_field(buf, name, value, &r, &host, &te, &conn);
		if (e < 0)
			return e;
	}
	/* RFC 9112 §6.1-6.3: only chunked (once, last) is forwardable; with Content-Length, or
	 * in HTTP/1.0, the framing is ambiguous between us and the proxy. */
	if (te.present) {
		if (te.other || te.chunked_count != 1 || r.has_content_length || r.version == 10)
			return -EBADMSG;
		r.chunked = true;
	}
	if (r.target_form == KG_TARGET_ORIGIN || r.target_form == KG_TARGET_ASTERISK)
		r.authority = host;
	r.head_len = scan.pos;
	r.conn_close = conn.close;
	r.conn_keep_alive = conn.keep_alive;
	r.conn_upgrade = conn.upgrade;
	*ret = r;
	return 0;
}

bool kg_http_request_keep_alive(const struct kg_http_request *r)
{
	if (r->conn_close)
		return false;
	return r->version >= 11 || r->conn_keep_alive;
}

/* Appends into a capped buffer; the first overflow sticks. */
struct out_buf {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool overflow;
};

static void out_put(struct out_buf *o, const void *data, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

static void out_puts(struct out_buf *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static bool is_base64_text(const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n && (is_alnum((uint8_t)s[i]) || s[i] == '+' || s[i] == '/'))
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

int kg_http_request_rewrite(const uint8_t *buf, const struct kg_http_request *req,
			    const char *authority, const char *negotiate_token, uint8_t *out,
			    size_t outcap, size_t *ret_len)
{
	struct out_buf o = {out, outcap, 0, false};
	char host[KG_HOST_MAX];
	uint16_t port;

	if (req->target_form == KG_TARGET_AUTHORITY)
		return -EINVAL;
	if (req->target_form != KG_TARGET_ABSOLUTE &&
	    (!authority ||
	     kg_authority_parse(authority, strlen(authority), host, sizeof(host), &port) < 0))
		return -EINVAL;
	/* The token goes into a header line: anything but base64 could inject fields. */
	if (negotiate_token && !is_base64_text(negotiate_token))
		return -EINVAL;

	out_put(&o, buf + req->method.off, req->method.len);
	out_puts(&o, " ");
	if (req->target_form == KG_TARGET_ABSOLUTE) {
		out_put(&o, buf + req->target.off, req->target.len);
	} else {
		out_puts(&o, "http://");
		out_puts(&o, authority);
		/* RFC 9112 §3.2.4: "*" is the empty path of an absolute URI. */
		if (req->target_form == KG_TARGET_ORIGIN)
			out_put(&o, buf + req->target.off, req->target.len);
	}
	out_puts(&o, req->version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");

	/* The head was validated CRLF-only: header lines end at each '\n'. */
	size_t pos = req->headers_off, end = req->head_len - 2;
	while (pos < end) {
		const uint8_t *lf = memchr(buf + pos, '\n', end - pos);
		size_t next = (size_t)(lf - buf) + 1;
		size_t colon = (size_t)((const uint8_t *)memchr(buf + pos, ':', next - pos) - buf);
		if (!kg_ascii_eq_ci(buf + pos, colon - pos, "proxy-authorization") &&
		    !kg_ascii_eq_ci(buf + pos, colon - pos, "proxy-connection"))
			out_put(&o, buf + pos, next - pos);
		pos = next;
	}
	if (negotiate_token) {
		out_puts(&o, "Proxy-Authorization: Negotiate ");
		out_puts(&o, negotiate_token);
		out_puts(&o, "\r\n");
	}
	out_puts(&o, "\r\n");
	if (o.overflow)
		return -ENOSPC;
	*ret_len = o.len;
	return 0;
}

enum chunked_state {
	CH_SIZE,     /* hex digits of the chunk size */
	CH_SIZE_BWS, /* whitespace after the size, before ';' or CR */
	CH_EXT,	     /* chunk extensions, up to CR */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line, or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_ERROR,
};

void kg_chunked_init(struct kg_chunked *c)
{
	*c = (struct kg_chunked){.state = CH_SIZE};
}

static int hex_value(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c = kg_ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One byte of a chunk-size line: hex size, optional BWS, optional extensions, then CR. The
 * CR does not count against KG_CHUNK_LINE_MAX. */
static int chunk_size_byte(struct kg_chunked *c, uint8_t b)
{
	if (b == '\r') {
		if (c->line_len == 0)
			return -EBADMSG;
		c->state = CH_SIZE_LF;
		return 0;
	}
	if (++c->line_len > KG_CHUNK_LINE_MAX)
		return -E2BIG;
	int h = c->state == CH_SIZE ? hex_value(b) : -1;
	if (h >= 0) {
		if (c->remaining != 0 || h != 0)
			c->digits++;
		/* 15 hex digits: sizes up to 2^60, far beyond anything we relay, no overflow. */
		if (c->digits > 15)
			return -EBADMSG;
		c->remaining = c->remaining << 4 | (uint64_t)h;
		return 0;
	}
	if (c->line_len == 1)
		return -EBADMSG;
	if (c->state == CH_EXT)
		return is_field_char(b) ? 0 : -EBADMSG;
	if (b == ';')
		c->state = CH_EXT;
	else if (is_ows(b))
		c->state = CH_SIZE_BWS;
	else
		return -EBADMSG;
	return 0;
}

/* One byte of a trailer field line: a token name up to ':', then the value up to CR. */
static int trailer_byte(struct kg_chunked *c, uint8_t b)
{
	if (b == '\r') {
		if (c->state == CH_TRAILER_NAME)
			return -EBADMSG;
		c->state = CH_TRAILER_LF;
		return 0;
	}
	if (++c->line_len > KG_HTTP_LINE_MAX)
		return -E2BIG;
	if (c->state == CH_TRAILER_NAME) {
		if (b == ':' && c->line_len > 1) {
			c->state = CH_TRAILER_VALUE;
			return 0;
		}
		return is_tchar(b) ? 0 : -EBADMSG;
	}
	return is_field_char(b) ? 0 : -EBADMSG;
}

/* Expects exactly byte want, then moves to state next. */
static int chunked_expect(struct kg_chunked *c, uint8_t b, uint8_t want, unsigned next)
{
	if (b != want)
		return -EBADMSG;
	c->state = next;
	return 0;
}

/* One byte of everything but chunk data. */
static int chunked_step(struct kg_chunked *c, uint8_t b)
{
	/* The trailer section is a head of its own: same cap. */
	if (c->state >= CH_TRAILER_START && c->state <= CH_END_LF &&
	    ++c->trailer_len > KG_HTTP_HEAD_MAX)
		return -E2BIG;
	switch (c->state) {
	case CH_SIZE:
	case CH_SIZE_BWS:
	case CH_EXT:
		return chunk_size_byte(c, b);
	case CH_SIZE_LF:
		if (b != '\n')
			return -EBADMSG;
		c->line_len = 0;
		c->digits = 0;
		c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
		return 0;
	case CH_DATA_CR:
		return chunked_expect(c, b, '\r', CH_DATA_LF);
	case CH_DATA_LF:
		return chunked_expect(c, b, '\n', CH_SIZE);
	case CH_TRAILER_START:
		if (b == '\r')
			return chunked_expect(c, b, '\r', CH_END_LF);
		c->line_len = 0;
		c->state = CH_TRAILER_NAME;
		return trailer_byte(c, b);
	case CH_TRAILER_NAME:
	case CH_TRAILER_VALUE:
		return trailer_byte(c, b);
	case CH_TRAILER_LF:
		return chunked_expect(c, b, '\n', CH_TRAILER_START);
	case CH_END_LF:
		return chunked_expect(c, b, '\n', CH_DONE);
	default:
		return -EBADMSG;
	}
}

int kg_chunked_feed(struct kg_chunked *c, const uint8_t *buf, size_t len, size_t *consumed)
{
	size_t i = 0;
	int r;

	if (c->state == CH_ERROR)
		return -EBADMSG;
	while (i < len && c->state != CH_DONE) {
		if (c->state == CH_DATA) {
			uint64_t n = len - i < c->remaining ? len - i : c->remaining;
			i += (size_t)n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		r = chunked_step(c, buf[i]);
		if (r < 0) {
			c->state = CH_ERROR;
			return r;
		}
		i++;
	}
	*consumed = i;
	return c->state == CH_DONE ? 1 : 0;
}

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int kg_base64_encode(const uint8_t *in, size_t len, char *out, size_t outcap, size_t *ret_len)
{
	/* KG_BASE64_LEN would overflow only for lengths no caller can hold. */
	if (len > (SIZE_MAX / 4) * 3 - 3)
		return -ENOSPC;
	size_t need = KG_BASE64_LEN(len);
	if (need >= outcap)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;
		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = base64_alphabet[v >> 18 & 63];
		out[o++] = base64_alphabet[v >> 12 & 63];
		out[o++] = left > 1 ? base64_alphabet[v >> 6 & 63] : '=';
		out[o++] = left > 2 ? base64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	*ret_len = o;
	return 0;
}

static int base64_value(char ch)
{
	uint8_t c = (uint8_t)ch;

	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (is_digit(c))
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int kg_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *ret_len)
{
	size_t pad = 0, o = 0;

	if (len % 4 != 0)
		return -EBADMSG;
	if (len > 0)
		pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	if (len / 4 * 3 - pad > outcap)
		return -ENOSPC;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		size_t digits = last ? 4 - pad : 4;
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			int d = k < digits ? base64_value(in[i + k]) : 0;
			if (d < 0)
				return -EBADMSG;
			v = v << 6 | (uint32_t)d;
		}
		/* Canonical: the bits a short final group does not carry must be zero. */
		if ((digits == 2 && (v & 0xffff)) || (digits == 3 && (v & 0xff)))
			return -EBADMSG;
		out[o++] = (uint8_t)(v >> 16);
		if (digits > 2)
			out[o++] = (uint8_t)(v >> 8);
		if (digits > 3)
			out[o++] = (uint8_t)v;
	}
	*ret_len = o;
	return 0;
}
