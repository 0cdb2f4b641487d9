/* Chunked bodies (RFC 9112 §7.1), framed incrementally as the bytes stream by: the relay only
 * needs to know where a message ends, so data is skipped in one step and only the size lines
 * and trailers are looked at, each under its own cap.
 */
#include <errno.h>

#include "client/proto/http_internal.h"

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
