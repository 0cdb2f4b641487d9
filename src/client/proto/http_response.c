/* The proxy's response heads: the answer to a CONNECT or to a forwarded request, where the
 * head must end exactly (tunnel bytes may follow in the same read), and what that head says
 * about the body's framing and the connection's reuse.
 */
#include <errno.h>
#include <string.h>

#include "client/proto/http_internal.h"

/* status-line = HTTP-version SP 3DIGIT SP [reason]; a missing SP before an empty reason is
 * tolerated. */
static int parse_status_line(const uint8_t *buf, struct kg_span line, struct kg_http_response *r)
{
	size_t s = line.off, end = line.off + line.len;

	if (line.len < HTTP_VERSION_LEN + 4 || http_version_parse(buf, s, &r->version) < 0)
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

/* What the fields of one response head add up to. */
struct response_fields {
	struct framing_fields framing;
	struct challenges ch;
};

static int response_field(void *fields, const uint8_t *buf, struct kg_span name,
			  struct kg_span value)
{
	struct response_fields *f = fields;

	if (span_eq_ci(buf, name, "proxy-authenticate"))
		return http_challenges_merge(buf, value, &f->ch);
	if (span_eq_ci(buf, name, "proxy-connection"))
		return http_connection_merge(buf, value, &f->framing.conn);
	return http_framing_field(&f->framing, buf, name, value);
}

int kg_http_response_parse(const uint8_t *buf, size_t len, struct kg_http_response *ret)
{
	struct kg_http_response r = {0};
	struct response_fields f = {0};
	struct http_scan scan;
	struct kg_span line;
	int e;

	if (len == 0)
		return -EAGAIN;
	/* Refuse a non-HTTP answer at once instead of waiting for a blank line. */
	size_t m = len < HTTP_VERSION_LEN - 1 ? len : HTTP_VERSION_LEN - 1;
	if (memcmp(buf, HTTP_VERSION_PREFIX, m) != 0)
		return -EBADMSG;
	http_scan_init(&scan, buf, len, false, 0);
	e = http_scan_line(&scan, &line);
	if (e < 0)
		return e;
	e = parse_status_line(buf, line, &r);
	if (e < 0)
		return e;
	e = http_scan_fields(&scan, &r.header_count, response_field, &f);
	if (e < 0)
		return e;
	if (f.framing.te.chunked_count > 1)
		return -EBADMSG;
	r.head_len = scan.pos;
	r.auth_schemes = f.ch.schemes;
	r.negotiate = f.ch.negotiate;
	r.negotiate_token = f.ch.token;
	r.has_content_length = f.framing.has_content_length;
	r.content_length = f.framing.content_length;
	r.has_transfer_encoding = f.framing.te.present;
	r.chunked = f.framing.te.chunked_last;
	r.conn_close = f.framing.conn.close;
	r.conn_keep_alive = f.framing.conn.keep_alive;
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
