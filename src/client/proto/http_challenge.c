/* Proxy-Authenticate: which schemes the proxy offers and, for Negotiate, the token it sent
 * back. The grammar is the awkward one of RFC 9110 §11.6.1, where commas separate both the
 * challenges and the auth-params inside one challenge.
 */
#include <errno.h>

#include "client/proto/http_internal.h"

/* token68 (RFC 9110 §11.2): the Negotiate token lives in one. */
static bool is_token68(const uint8_t *buf, struct kg_span s)
{
	return is_b64_shaped(buf + s.off, s.len, "-._~+/");
}

/* token BWS "=" BWS ( token / quoted-string ): the rest of the element must be an auth-param. */
static bool is_auth_param(const uint8_t *buf, struct kg_span s)
{
	size_t i = s.off, end = s.off + s.len;

	while (i < end && is_tchar(buf[i]))
		i++;
	if (i == s.off)
		return false;
	while (i < end && is_ows(buf[i]))
		i++;
	if (i == end || buf[i] != '=')
		return false;
	i++;
	while (i < end && is_ows(buf[i]))
		i++;
	if (i < end && buf[i] == '"')
		return buf[end - 1] == '"' && end - i >= 2;
	size_t v = i;
	while (i < end && is_tchar(buf[i]))
		i++;
	return i > v && i == end;
}

/* An element that starts with "token =" continues the previous challenge; any other element
 * starts a new one. */
int http_challenges_merge(const uint8_t *buf, struct kg_span value, struct challenges *ch)
{
	size_t pos = value.off, end = value.off + value.len;
	bool in_challenge = false;
	struct kg_span e;
	int r;

	while ((r = http_list_next(buf, &pos, end, &e)) > 0) {
		if (is_auth_param(buf, e)) {
			if (!in_challenge)
				return -EBADMSG;
			continue;
		}
		size_t n = 0;
		while (n < e.len && is_tchar(buf[e.off + n]))
			n++;
		if (n == 0 || (n < e.len && buf[e.off + n] != ' '))
			return -EBADMSG;
		struct kg_span scheme = {e.off, n};
		struct kg_span rest = {e.off + n, e.len - n};
		while (rest.len > 0 && buf[rest.off] == ' ') {
			rest.off++;
			rest.len--;
		}
		bool token = rest.len > 0 && is_token68(buf, rest);
		if (rest.len > 0 && !token && !is_auth_param(buf, rest))
			return -EBADMSG;
		in_challenge = true;
		if (span_eq_ci(buf, scheme, "negotiate")) {
			ch->schemes |= KG_AUTH_NEGOTIATE;
			if (!token) {
				if (ch->negotiate == KG_NEGOTIATE_NONE)
					ch->negotiate = KG_NEGOTIATE_BARE;
				continue;
			}
			/* Two tokens cannot both be the next leg of one context. */
			if (ch->negotiate == KG_NEGOTIATE_TOKEN)
				return -EBADMSG;
			ch->negotiate = KG_NEGOTIATE_TOKEN;
			ch->token = rest;
		} else if (span_eq_ci(buf, scheme, "basic")) {
			ch->schemes |= KG_AUTH_BASIC;
		} else if (span_eq_ci(buf, scheme, "ntlm")) {
			ch->schemes |= KG_AUTH_NTLM;
		} else {
			ch->schemes |= KG_AUTH_OTHER;
		}
	}
	return r;
}
