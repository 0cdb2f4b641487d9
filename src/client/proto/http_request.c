/* Request heads from applications on port 80. They are forwarded, so anything two parsers
 * could read two ways (framing, Host, the target's authority) is refused here rather than
 * passed on for the proxy to interpret differently.
 */
#include <errno.h>
#include <string.h>

#include "client/proto/authority.h"
#include "client/proto/http_internal.h"

/* Methods are case-sensitive (RFC 9110 §9.1). */
static bool span_eq(const uint8_t *buf, struct kg_span s, const char *word)
{
	return s.len == strlen(word) && memcmp(buf + s.off, word, s.len) == 0;
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
	if (end - i != HTTP_VERSION_LEN || http_version_parse(buf, i, &r->version) < 0)
		return -EBADMSG;

	r->method_head = span_eq(buf, r->method, "HEAD");
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

/* What the fields of one request head add up to. */
struct request_fields {
	struct kg_http_request *r;
	struct kg_span host;
	struct framing_fields framing;
};

static int request_field(void *fields, const uint8_t *buf, struct kg_span name,
			 struct kg_span value)
{
	struct request_fields *f = fields;
	struct kg_http_request *r = f->r;

	if (span_eq_ci(buf, name, "host")) {
		if (r->has_host)
			return -EBADMSG;
		r->has_host = true;
		f->host = value;
		return value.len > 0 ? authority_check(buf, value, false) : 0;
	}
	if (span_eq_ci(buf, name, "expect") && span_eq_ci(buf, value, "100-continue"))
		r->expect_continue = true;
	return http_framing_field(&f->framing, buf, name, value);
}

int kg_http_request_parse(const uint8_t *buf, size_t len, struct kg_http_request *ret)
{
	struct kg_http_request r = {0};
	struct request_fields f = {.r = &r};
	struct http_scan scan;
	struct kg_span line;
	int e;

	http_scan_init(&scan, buf, len, true, KG_HTTP_LINE_MAX);
	/* RFC 9112 §2.2: ignore empty lines before the request line (clients sometimes send a
	 * CRLF after a body). */
	do {
		r.line_off = scan.pos;
		e = http_scan_line(&scan, &line);
		if (e < 0)
			return e;
	} while (line.len == 0);
	e = parse_request_line(buf, line, &r);
	if (e < 0)
		return e;
	r.headers_off = scan.pos;
	e = http_scan_fields(&scan, &r.header_count, request_field, &f);
	if (e < 0)
		return e;
	r.has_content_length = f.framing.has_content_length;
	r.content_length = f.framing.content_length;
	/* RFC 9112 §6.1-6.3: only chunked (once, last) is forwardable; with Content-Length, or
	 * in HTTP/1.0, the framing is ambiguous between us and the proxy. */
	const struct transfer_coding *te = &f.framing.te;
	if (te->present) {
		if (te->other || te->chunked_count != 1 || r.has_content_length || r.version == 10)
			return -EBADMSG;
		r.chunked = true;
	}
	if (r.target_form == KG_TARGET_ORIGIN || r.target_form == KG_TARGET_ASTERISK)
		r.authority = f.host;
	r.head_len = scan.pos;
	r.conn_close = f.framing.conn.close;
	r.conn_keep_alive = f.framing.conn.keep_alive;
	r.conn_upgrade = f.framing.conn.upgrade;
	*ret = r;
	return 0;
}

bool kg_http_request_keep_alive(const struct kg_http_request *r)
{
	if (r->conn_close)
		return false;
	return r->version >= 11 || r->conn_keep_alive;
}

enum kg_body_framing kg_http_request_framing(const struct kg_http_request *r, uint64_t *length)
{
	if (r->chunked)
		return KG_BODY_CHUNKED;
	if (r->has_content_length && r->content_length > 0) {
		*length = r->content_length;
		return KG_BODY_LENGTH;
	}
	return KG_BODY_NONE;
}
