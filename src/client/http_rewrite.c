/* A parsed application request, rewritten for the proxy: absolute-form target, the
 * application's own proxy credentials and Proxy-Connection dropped, our Negotiate token added.
 * Only the head is rewritten; the body follows unchanged.
 */
#include <errno.h>
#include <string.h>

#include "http_internal.h"
#include "sniff.h"

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

static bool is_base64_text(const char *s)
{
	size_t n = strlen(s), i = 0;

	while (i < n && (is_alnum((uint8_t)s[i]) || s[i] == '+' || s[i] == '/'))
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

int kg_http_request_rewrite(const uint8_t *buf, const struct kg_http_request *req,
			    const char *authority, const char *negotiate_token, uint8_t *out,
			    size_t outcap, size_t *ret_len)
{
	struct out_buf o = {out, outcap, 0, false};
	char host[KG_HOST_MAX];
	uint16_t port;

	if (req->target_form == KG_TARGET_AUTHORITY)
		return -EINVAL;
	if (req->target_form != KG_TARGET_ABSOLUTE &&
	    (!authority ||
	     kg_authority_parse(authority, strlen(authority), host, sizeof(host), &port) < 0))
		return -EINVAL;
	/* The token goes into a header line: anything but base64 could inject fields. */
	if (negotiate_token && !is_base64_text(negotiate_token))
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

	/* The head was validated CRLF-only: header lines end at each '\n'. */
	size_t pos = req->headers_off, end = req->head_len - 2;
	while (pos < end) {
		const uint8_t *lf = memchr(buf + pos, '\n', end - pos);
		size_t next = (size_t)(lf - buf) + 1;
		size_t colon = (size_t)((const uint8_t *)memchr(buf + pos, ':', next - pos) - buf);
		if (!kg_ascii_eq_ci(buf + pos, colon - pos, "proxy-authorization") &&
		    !kg_ascii_eq_ci(buf + pos, colon - pos, "proxy-connection"))
			out_put(&o, buf + pos, next - pos);
		pos = next;
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
