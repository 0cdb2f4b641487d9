/* Destination names from an application's first bytes: TLS ClientHello SNI and HTTP Host.
 *
 * The TLS sniffer copies handshake fragments out of consecutive records into a fixed
 * KG_SNIFF_MAX stack buffer (record-level fragmentation is legal and used by anti-censorship
 * tools) and parses the ClientHello only once the whole handshake message is there, so a
 * prefix of a valid hello can only ever answer -EAGAIN. The HTTP sniffer reuses the request
 * parser the port-80 forwarder uses, so both agree on what a request is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "client/proto/http.h"
#include "client/proto/sniff.h"
#include "shared/ascii.h"

#define DNS_NAME_MAX  253
#define DNS_LABEL_MAX 63

enum {
	TLS_CONTENT_HANDSHAKE = 0x16,
	TLS_HANDSHAKE_CLIENT_HELLO = 1,
	TLS_RECORD_HEADER_LEN = 5,
	TLS_HANDSHAKE_HEADER_LEN = 4,
	TLS_RECORD_PAYLOAD_MAX = 16384, /* 2^14, RFC 8446 §5.1 */
	TLS_EXT_SERVER_NAME = 0,
	TLS_SNI_HOST_NAME = 0,
};

static bool is_ldh(uint8_t c)
{
	return is_alnum(c) || c == '-';
}

/* Lower-cases and validates a DNS name (LDH labels of 1..63, <= 253 in all, one trailing dot
 * dropped). A name whose last label is all digits is no host name: it is either an IPv4
 * literal (checked by the caller) or garbage such as "1.2.3.999". */
static int dns_name_normalize(const uint8_t *in, size_t len, char *out, size_t outlen)
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
			r = dns_name_normalize(in, host_len, name, sizeof(name));
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

/* A bounds-checked reader over the ClientHello body. */
struct hello_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static int rd_u8(struct hello_reader *r, size_t *v)
{
	if (r->len - r->pos < 1)
		return -EBADMSG;
	*v = r->p[r->pos++];
	return 0;
}

static int rd_u16(struct hello_reader *r, size_t *v)
{
	if (r->len - r->pos < 2)
		return -EBADMSG;
	*v = (size_t)r->p[r->pos] << 8 | r->p[r->pos + 1];
	r->pos += 2;
	return 0;
}

static int rd_skip(struct hello_reader *r, size_t n)
{
	if (r->len - r->pos < n)
		return -EBADMSG;
	r->pos += n;
	return 0;
}

/* server_name extension data (RFC 6066 §3): a list of (type, name); at most one host_name. */
static int sni_extension(const uint8_t *data, size_t len, struct kg_span *name)
{
	struct hello_reader r = {data, len, 0};
	size_t list_len, type, n;

	if (rd_u16(&r, &list_len) < 0 || list_len != len - 2 || list_len == 0)
		return -EBADMSG;
	while (r.pos < r.len) {
		if (rd_u8(&r, &type) < 0 || rd_u16(&r, &n) < 0 || n == 0)
			return -EBADMSG;
		size_t off = r.pos;
		if (rd_skip(&r, n) < 0)
			return -EBADMSG;
		if (type != TLS_SNI_HOST_NAME)
			continue;
		if (name->len != 0)
			return -EBADMSG;
		*name = (struct kg_span){off, n};
	}
	return 0;
}

static int client_hello_sni(const uint8_t *body, size_t len, char *host, size_t hostlen)
{
	struct hello_reader r = {body, len, 0};
	struct kg_span name = {0, 0};
	const uint8_t *name_base = NULL;
	bool seen_sni = false;
	size_t n, ext_total;

	/* legacy_version, random, session id, cipher suites, compression methods */
	if (rd_skip(&r, 2 + 32) < 0 || rd_u8(&r, &n) < 0 || n > 32 || rd_skip(&r, n) < 0)
		return -EBADMSG;
	if (rd_u16(&r, &n) < 0 || n < 2 || n % 2 != 0 || rd_skip(&r, n) < 0)
		return -EBADMSG;
	if (rd_u8(&r, &n) < 0 || n < 1 || rd_skip(&r, n) < 0)
		return -EBADMSG;
	/* SSL 3.0 / TLS 1.0 hellos may end here: no extensions, so no SNI. */
	if (r.pos == r.len)
		return 0;
	if (rd_u16(&r, &ext_total) < 0 || ext_total != r.len - r.pos)
		return -EBADMSG;
	while (r.pos < r.len) {
		size_t type, elen;
		if (rd_u16(&r, &type) < 0 || rd_u16(&r, &elen) < 0)
			return -EBADMSG;
		size_t off = r.pos;
		if (rd_skip(&r, elen) < 0)
			return -EBADMSG;
		if (type != TLS_EXT_SERVER_NAME)
			continue;
		if (seen_sni)
			return -EBADMSG;
		seen_sni = true;
		int ret = sni_extension(body + off, elen, &name);
		if (ret < 0)
			return ret;
		name_base = body + off;
	}
	if (name.len == 0)
		return 0;
	int ret = dns_name_normalize(name_base + name.off, name.len, host, hostlen);
	return ret < 0 ? ret : 1;
}

/* Out of input: wait for more, unless the cap says more will never be looked at. */
static int sniff_incomplete(size_t len)
{
	return len >= KG_SNIFF_MAX ? 0 : -EAGAIN;
}

int kg_sniff_tls_sni(const uint8_t *buf, size_t len, char *host, size_t hostlen)
{
	uint8_t handshake[KG_SNIFF_MAX];
	size_t n = len < KG_SNIFF_MAX ? len : KG_SNIFF_MAX;
	size_t pos = 0, hs_len = 0;

	if (n == 0)
		return -EAGAIN;
	/* Only the first record decides "is this TLS at all"; later oddities are malformed. */
	if (buf[0] != TLS_CONTENT_HANDSHAKE || (n >= 2 && buf[1] != 3))
		return 0;
	for (;;) {
		if (n - pos < TLS_RECORD_HEADER_LEN)
			return sniff_incomplete(len);
		const uint8_t *rec = buf + pos;
		size_t rec_len = (size_t)rec[3] << 8 | rec[4];
		if (rec[0] != TLS_CONTENT_HANDSHAKE || rec[1] != 3)
			return -EBADMSG;
		/* Empty handshake fragments are forbidden (RFC 8446 §5.1). */
		if (rec_len == 0 || rec_len > TLS_RECORD_PAYLOAD_MAX)
			return -EBADMSG;
		size_t avail = n - pos - TLS_RECORD_HEADER_LEN;
		if (avail > rec_len)
			avail = rec_len;
		/* hs_len + avail <= n <= sizeof(handshake): every copied byte came from buf[0..n).
		 */
		memcpy(handshake + hs_len, rec + TLS_RECORD_HEADER_LEN, avail);
		hs_len += avail;
		if (hs_len >= TLS_HANDSHAKE_HEADER_LEN) {
			size_t msg_len =
			    (size_t)handshake[1] << 16 | (size_t)handshake[2] << 8 | handshake[3];
			if (handshake[0] != TLS_HANDSHAKE_CLIENT_HELLO)
				return -EBADMSG;
			if (hs_len >= TLS_HANDSHAKE_HEADER_LEN + msg_len)
				return client_hello_sni(handshake + TLS_HANDSHAKE_HEADER_LEN,
							msg_len, host, hostlen);
			/* Cannot complete within the cap even in a single record: give up now
			 * rather than make the relay wait for bytes it would never look at. */
			if (TLS_RECORD_HEADER_LEN + TLS_HANDSHAKE_HEADER_LEN + msg_len >
			    KG_SNIFF_MAX)
				return 0;
		}
		if (avail < rec_len)
			return sniff_incomplete(len);
		pos += TLS_RECORD_HEADER_LEN + rec_len;
	}
}

/* "METHOD SP" with an upper-case method: anything else (SSH banners, binary protocols) is
 * not HTTP, and answering 0 early spares the relay a wait. */
static int http_method_prefix(const uint8_t *buf, size_t n)
{
	enum { METHOD_MAX = 20 };

	for (size_t i = 0; i < n && i <= METHOD_MAX; i++) {
		if (buf[i] == ' ')
			return i > 0 ? 1 : 0;
		if (buf[i] < 'A' || buf[i] > 'Z')
			return 0;
	}
	return n > METHOD_MAX ? 0 : -EAGAIN;
}

int kg_sniff_http_host(const uint8_t *buf, size_t len, char *host, size_t hostlen, uint16_t *port)
{
	size_t n = len < KG_SNIFF_MAX ? len : KG_SNIFF_MAX;
	struct kg_http_request req;
	int r;

	r = http_method_prefix(buf, n);
	if (r <= 0)
		return r == -EAGAIN ? sniff_incomplete(len) : r;
	r = kg_http_request_parse(buf, n, &req);
	if (r == -EAGAIN)
		return sniff_incomplete(len);
	/* A head too large to forward is not malformed, there is just no name we can use. */
	if (r == -E2BIG)
		return 0;
	if (r < 0)
		return r;
	if (req.authority.len == 0)
		return 0;
	r = kg_authority_parse((const char *)buf + req.authority.off, req.authority.len, host,
			       hostlen, port);
	return r < 0 ? r : 1;
}
