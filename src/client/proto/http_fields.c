/* Field values both heads care about: the comma-list splitter, and the mergers that fold
 * Content-Length, Transfer-Encoding and Connection over all fields of a head. They accumulate;
 * the parsers judge the sum once the head has ended (http_response.c, http_request.c).
 */
#include <errno.h>

#include "client/proto/http_internal.h"

int http_list_next(const uint8_t *buf, size_t *pos, size_t end, struct kg_span *elem)
{
	size_t i = *pos, start, stop;
	bool quoted = false;

	while (i < end && (is_ows(buf[i]) || buf[i] == ','))
		i++;
	if (i == end) {
		*pos = i;
		return 0;
	}
	start = i;
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
	stop = i;
	while (stop > start && is_ows(buf[stop - 1]))
		stop--;
	*pos = i;
	*elem = (struct kg_span){start, stop - start};
	return 1;
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

	while ((r = http_list_next(buf, &pos, end, &e)) > 0) {
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

static int transfer_encoding_merge(const uint8_t *buf, struct kg_span value,
				   struct transfer_coding *te)
{
	size_t pos = value.off, end = value.off + value.len;
	struct kg_span e;
	int r;

	te->present = true;
	while ((r = http_list_next(buf, &pos, end, &e)) > 0) {
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

int http_connection_merge(const uint8_t *buf, struct kg_span value, struct connection_opts *c)
{
	size_t pos = value.off, end = value.off + value.len;
	struct kg_span e;
	int r;

	while ((r = http_list_next(buf, &pos, end, &e)) > 0) {
		if (span_eq_ci(buf, e, "close"))
			c->close = true;
		else if (span_eq_ci(buf, e, "keep-alive"))
			c->keep_alive = true;
		else if (span_eq_ci(buf, e, "upgrade"))
			c->upgrade = true;
	}
	return r;
}

int http_framing_field(struct framing_fields *f, const uint8_t *buf, struct kg_span name,
		       struct kg_span value)
{
	if (span_eq_ci(buf, name, "content-length"))
		return content_length_merge(buf, value, &f->has_content_length, &f->content_length);
	if (span_eq_ci(buf, name, "transfer-encoding"))
		return transfer_encoding_merge(buf, value, &f->te);
	if (span_eq_ci(buf, name, "connection"))
		return http_connection_merge(buf, value, &f->conn);
	return 0;
}
