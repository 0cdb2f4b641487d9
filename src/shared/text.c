/* Printable-text checks and escaping for strings from peers (see text.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shared/text.h"

/* The length of the UTF-8 character at p (n bytes available) and its code point, or 0 when the
 * bytes are not one valid, shortest-form character. */
static size_t utf8_char(const unsigned char *p, size_t n, uint32_t *ret_cp)
{
	uint32_t c = p[0];
	size_t len, i;

	if (c < 0x80) {
		*ret_cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, c &= 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*ret_cp = c;
	return len;
}

static bool code_point_printable(uint32_t c)
{
	return c >= 0x20 && c != 0x7f && !(c >= 0x80 && c < 0xa0);
}

/* Length of the printable character at p, 0 when p starts with anything else. */
static size_t printable_char(const unsigned char *p, size_t n)
{
	uint32_t c;
	size_t len = utf8_char(p, n, &c);

	return len > 0 && code_point_printable(c) ? len : 0;
}

bool kg_text_printable(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, len;

	while (i < n) {
		len = printable_char(p + i, n - i);
		if (len == 0)
			return false;
		i += len;
	}
	return true;
}

const char *kg_text_escape(const char *s, size_t max, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strnlen(s, max), i = 0, o = 0;

	if (outlen == 0)
		return out;
	while (i < n) {
		char esc[8];
		const char *piece = esc;
		size_t plen, len = printable_char(p + i, n - i);

		if (len > 0 && p[i] != '\\') {
			piece = s + i;
			plen = len;
		} else if (p[i] == '\\') {
			len = 1;
			plen = (size_t)snprintf(esc, sizeof(esc), "\\\\");
		} else {
			len = 1;
			plen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
		}
		if (o + plen >= outlen)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += len;
	}
	out[o] = '\0';
	return out;
}
