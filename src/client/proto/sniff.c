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

#include "client/proto/authority.h"
#include "client/proto/http.h"
#include "client/proto/sniff.h"
#include "shared/ascii.h"

enum {
	TLS_CONTENT_HANDSHAKE = 0x16,
	TLS_HANDSHAKE_CLIENT_HELLO = 1,
	TLS_RECORD_HEADER_LEN = 5,
	TLS_HANDSHAKE_HEADER_LEN = 4,
	TLS_RECORD_PAYLOAD_MAX = 16384, /* 2^14, RFC 8446 §5.1 */
	TLS_EXT_SERVER_NAME = 0,
	TLS_SNI_HOST_NAME = 0,
};

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
	int ret = kg_dns_name_normalize(name_base + name.off, name.len, host, hostlen);
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
