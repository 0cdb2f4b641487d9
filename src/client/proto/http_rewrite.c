/* A parsed application request, rewritten for the proxy: absolute-form target, the
 * application's own proxy credentials and Proxy-Connection dropped, our Negotiate token added.
 * Only the head is rewritten; the body follows unchanged.
 */
#include <errno.h>
#include <string.h>

#include "client/proto/authority.h"
#include "client/proto/http_internal.h"

/* Appends into a capped buffer; the first overflow sticks. */
struct out_buf {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool overflow;
};

static void out_put(struct out_buf *o, const void *data, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

static void out_puts(struct out_buf *o, const char *s)
{
	out_put(o, s, strlen(s));
}

int kg_http_request_rewrite(const uint8_t *buf, const struct kg_http_request *req,
			    const char *authority, const char *negotiate_token, uint8_t *out,
			    size_t outcap, size_t *ret_len)
{
	struct out_buf o = {out, outcap, 0, false};
	struct http_scan s;
	struct kg_span line;
	char host[KG_HOST_MAX];
	uint16_t port;

	if (req->target_form == KG_TARGET_AUTHORITY)
		return -EINVAL;
	if (req->target_form != KG_TARGET_ABSOLUTE &&
	    (!authority ||
	     kg_authority_parse(authority, strlen(authority), host, sizeof(host), &port) < 0))
		return -EINVAL;
	/* The token goes into a header line: anything but base64 could inject fields. */
	if (negotiate_token &&
	    !is_b64_shaped((const uint8_t *)negotiate_token, strlen(negotiate_token), "+/"))
		return -EINVAL;

	out_put(&o, buf + req->method.off, req->method.len);
	out_puts(&o, " ");
	if (req->target_form == KG_TARGET_ABSOLUTE) {
		out_put(&o, buf + req->target.off, req->target.len);
	} else {
		out_puts(&o, "http://");
		out_puts(&o, authority);
		/* RFC 9112 §3.2.4: "*" is the empty path of an absolute URI. */
		if (req->target_form == KG_TARGET_ORIGIN)
			out_put(&o, buf + req->target.off, req->target.len);
	}
	out_puts(&o, req->version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");

	/* The field lines, with the parser's own line scanner (CRLF-only, as it validated). */
	http_scan_init(&s, buf, req->head_len, true, 0);
	s.pos = req->headers_off;
	while (http_scan_line(&s, &line) > 0 && line.len > 0) {
		const uint8_t *colon = memchr(buf + line.off, ':', line.len);

		if (!colon)
			return -EINVAL;
		if (!kg_ascii_eq_ci(buf + line.off, (size_t)(colon - (buf + line.off)),
				    "proxy-authorization") &&
		    !kg_ascii_eq_ci(buf + line.off, (size_t)(colon - (buf + line.off)),
				    "proxy-connection"))
			out_put(&o, buf + line.off, line.len + 2); /* with its CRLF */
	}
	if (negotiate_token) {
		out_puts(&o, "Proxy-Authorization: Negotiate ");
		out_puts(&o, negotiate_token);
		out_puts(&o, "\r\n");
	}
	out_puts(&o, "\r\n");
	if (o.overflow)
		return -ENOSPC;
	*ret_len = o.len;
	return 0;
}
