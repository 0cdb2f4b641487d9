/* Base64 (RFC 4648 §4) for the Negotiate tokens in Proxy-Authorization and Proxy-Authenticate.
 * The decoder is strict on purpose: a token that two decoders could read differently is
 * refused, not repaired.
 */
#include <errno.h>

#include "client/proto/base64.h"
#include "shared/ascii.h"

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
