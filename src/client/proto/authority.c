/* Host names and authorities as applications write them ("host[:port]" in a Host field or an
 * absolute URI, a TLS SNI name): checked and brought to one form, lower-case DNS names and
 * canonical IP literals, so the proxy's ACLs and PAC rules see one spelling per host. Used by
 * the sniffers and the HTTP request parser; pure functions over buffers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "client/proto/authority.h"
#include "shared/ascii.h"

#define DNS_NAME_MAX  253
#define DNS_LABEL_MAX 63

static bool is_ldh(uint8_t c)
{
	return is_alnum(c) || c == '-';
}

/* Lower-cases and validates a DNS name (LDH labels of 1..63, <= 253 in all, one trailing dot
 * dropped). A name whose last label is all digits is no host name: it is either an IPv4
 * literal (checked by the caller) or garbage such as "1.2.3.999". */
int kg_dns_name_normalize(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t label = 0;
	bool label_numeric = true;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return -EBADMSG;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || in[i] == '.') {
			if (label == 0 || in[i - 1] == '-')
				return -EBADMSG;
			if (i == len && label_numeric)
				return -EBADMSG;
			label = 0;
			label_numeric = true;
			continue;
		}
		if (!is_ldh(in[i]) || (label == 0 && in[i] == '-') || ++label > DNS_LABEL_MAX)
			return -EBADMSG;
		if (!is_digit(in[i]))
			label_numeric = false;
	}
	if (len + 1 > outlen)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)kg_ascii_lower(in[i]);
	out[len] = '\0';
	return 0;
}

static bool is_ipv4_chars(const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_digit(in[i]) && in[i] != '.')
			return false;
	return true;
}

/* An IP literal, copied to a NUL-terminated scratch buffer for inet_pton. IPv6 comes out in
 * canonical text form inside brackets; zone identifiers are refused (they mean nothing to a
 * proxy). */
static int ip_literal_normalize(int family, const uint8_t *in, size_t len, char *out, size_t outlen)
{
	char text[INET6_ADDRSTRLEN];
	char canon[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];

	if (len == 0 || len >= sizeof(text))
		return -EBADMSG;
	memcpy(text, in, len);
	text[len] = '\0';
	if (inet_pton(family, text, addr) != 1)
		return -EBADMSG;
	if (family == AF_INET) {
		if (len + 1 > outlen)
			return -ENOSPC;
		memcpy(out, text, len + 1);
		return 0;
	}
	if (!inet_ntop(AF_INET6, addr, canon, sizeof(canon)))
		return -EBADMSG;
	size_t n = strlen(canon);
	if (n + 3 > outlen)
		return -ENOSPC;
	out[0] = '[';
	memcpy(out + 1, canon, n);
	out[n + 1] = ']';
	out[n + 2] = '\0';
	return 0;
}

static int port_parse(const uint8_t *in, size_t len, uint16_t *port)
{
	uint32_t v = 0;

	/* RFC 3986 allows an empty port after the colon: same as none. */
	if (len == 0) {
		*port = 0;
		return 0;
	}
	if (len > 5)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(in[i]))
			return -EBADMSG;
		v = v * 10 + (uint32_t)(in[i] - '0');
	}
	if (v == 0 || v > UINT16_MAX)
		return -EBADMSG;
	*port = (uint16_t)v;
	return 0;
}

int kg_authority_parse(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port)
{
	const uint8_t *in = (const uint8_t *)s;
	char name[KG_HOST_MAX];
	size_t host_len, rest;
	uint16_t p = 0;
	int r;

	if (len == 0)
		return -EBADMSG;
	if (in[0] == '[') {
		const uint8_t *close = memchr(in, ']', len);
		if (!close)
			return -EBADMSG;
		host_len = (size_t)(close - in) + 1;
		r = ip_literal_normalize(AF_INET6, in + 1, host_len - 2, name, sizeof(name));
	} else {
		const uint8_t *colon = memchr(in, ':', len);
		host_len = colon ? (size_t)(colon - in) : len;
		if (is_ipv4_chars(in, host_len))
			r = ip_literal_normalize(AF_INET, in, host_len, name, sizeof(name));
		else
			r = kg_dns_name_normalize(in, host_len, name, sizeof(name));
	}
	if (r < 0)
		return r;
	rest = len - host_len;
	if (rest > 0) {
		if (in[host_len] != ':')
			return -EBADMSG;
		r = port_parse(in + host_len + 1, rest - 1, &p);
		if (r < 0)
			return r;
	}
	size_t n = strlen(name);
	if (n + 1 > hostlen)
		return -ENOSPC;
	memcpy(host, name, n + 1);
	*port = p;
	return 0;
}
