/* The line scanner under both head parsers (http_response.c, http_request.c): lines, header
 * fields, the version token.
 *
 * Both parsers walk the buffer line by line from the start on every call: the caller calls
 * again after each read, heads are at most KG_HTTP_HEAD_MAX bytes, and a parser that keeps no
 * state between calls cannot be confused by how the bytes were split. A complete line is
 * validated as soon as it is seen, so garbage is refused without waiting for a blank line that
 * may never come.
 */
#include <errno.h>
#include <string.h>

#include "client/proto/http_internal.h"

void http_scan_init(struct http_scan *s, const uint8_t *buf, size_t len, bool strict_crlf,
		    size_t line_max)
{
	*s = (struct http_scan){
	    .buf = buf,
	    .len = len,
	    .limit = len < KG_HTTP_HEAD_MAX ? len : KG_HTTP_HEAD_MAX,
	    .strict_crlf = strict_crlf,
	    .line_max = line_max,
	};
}

int http_scan_line(struct http_scan *s, struct kg_span *line)
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

int http_scan_fields(struct http_scan *s, unsigned *count, http_field_fn on_field, void *fields)
{
	struct kg_span line, name, value;
	int e;

	for (;;) {
		e = http_scan_line(s, &line);
		if (e < 0)
			return e;
		if (line.len == 0)
			return 0;
		if (++*count > KG_HTTP_HEADERS_MAX)
			return -E2BIG;
		e = parse_field(s->buf, line, &name, &value);
		if (e < 0)
			return e;
		e = on_field(fields, s->buf, name, value);
		if (e < 0)
			return e;
	}
}

int http_version_parse(const uint8_t *buf, size_t off, unsigned *version)
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
