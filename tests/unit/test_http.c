/* Unit tests for the relay's HTTP parsers (src/client/http.h): proxy response heads,
 * application request heads, the absolute-form rewrite, chunked framing and base64.
 *
 * The proxy answers below are shaped on what Squid 5.7 and Apache mod_auth_gssapi sent in
 * the Kerberos rig (research/krb.md). The invariant checked everywhere: a prefix of a valid
 * head answers -EAGAIN, never a parse and never an error.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/proto/base64.h"
#include "client/proto/http.h"

static int response(const char *text, struct kg_http_response *r)
{
	return kg_http_response_parse((const uint8_t *)text, strlen(text), r);
}

static int request(const char *text, struct kg_http_request *r)
{
	return kg_http_request_parse((const uint8_t *)text, strlen(text), r);
}

static bool span_is(const char *buf, struct kg_span s, const char *want)
{
	return s.len == strlen(want) && memcmp(buf + s.off, want, s.len) == 0;
}

/* Every strict prefix of the head (and nothing after it) answers -EAGAIN. */
static void assert_response_prefixes_wait(const char *text, size_t head_len)
{
	struct kg_http_response r;

	for (size_t k = 0; k < head_len; k++) {
		int e = kg_http_response_parse((const uint8_t *)text, k, &r);
		ck_assert_msg(e == -EAGAIN, "prefix %zu: %d", k, e);
	}
}

static void assert_request_prefixes_wait(const char *text, size_t head_len)
{
	struct kg_http_request r;

	for (size_t k = 0; k < head_len; k++) {
		int e = kg_http_request_parse((const uint8_t *)text, k, &r);
		ck_assert_msg(e == -EAGAIN, "prefix %zu: %d", k, e);
	}
}

static const char squid_407[] = "HTTP/1.1 407 Proxy Authentication Required\r\n"
				"Server: squid/5.7\r\n"
				"Mime-Version: 1.0\r\n"
				"Content-Type: text/html;charset=utf-8\r\n"
				"Content-Length: 3539\r\n"
				"X-Squid-Error: ERR_CACHE_ACCESS_DENIED 0\r\n"
				"Vary: Accept-Language\r\n"
				"Content-Language: en\r\n"
				"Proxy-Authenticate: Negotiate\r\n"
				"X-Cache: MISS from localhost\r\n"
				"Via: 1.1 localhost (squid/5.7)\r\n"
				"Connection: keep-alive\r\n"
				"\r\n"
				"<!DOCTYPE html PUBLIC";

START_TEST(response_squid_407)
{
	struct kg_http_response r;
	uint64_t len = 0;

	ck_assert_int_eq(response(squid_407, &r), 0);
	ck_assert_uint_eq(r.head_len, strlen(squid_407) - strlen("<!DOCTYPE html PUBLIC"));
	ck_assert_uint_eq(r.version, 11);
	ck_assert_uint_eq(r.status, 407);
	ck_assert(span_is(squid_407, r.reason, "Proxy Authentication Required"));
	ck_assert_uint_eq(r.auth_schemes, KG_AUTH_NEGOTIATE);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_BARE);
	ck_assert(r.has_content_length);
	ck_assert_uint_eq(r.content_length, 3539);
	ck_assert(!r.chunked && !r.conn_close && r.conn_keep_alive);
	ck_assert_uint_eq(r.header_count, 11);
	ck_assert_int_eq(kg_http_response_framing(&r, true, false, &len), KG_BODY_LENGTH);
	ck_assert_uint_eq(len, 3539);
	ck_assert(kg_http_response_keep_alive(&r));
	assert_response_prefixes_wait(squid_407, r.head_len);
}
END_TEST

/* The tunnel's first bytes (a server-first banner) may arrive with the 200: head_len must
 * stop exactly at the blank line. */
START_TEST(response_connect_established)
{
	static const char squid[] = "HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-x\r\n";
	static const char apache[] = "HTTP/1.0 200 Connection Established\r\n"
				     "Proxy-agent: Apache/2.4.57 (Debian)\r\n\r\n\x16\x03\x03";
	struct kg_http_response r;
	uint64_t len = 7;

	ck_assert_int_eq(response(squid, &r), 0);
	ck_assert_uint_eq(r.head_len, 39);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_NONE);
	ck_assert_int_eq(kg_http_response_framing(&r, true, false, &len), KG_BODY_NONE);
	assert_response_prefixes_wait(squid, r.head_len);

	ck_assert_int_eq(response(apache, &r), 0);
	ck_assert_uint_eq(r.head_len, strlen(apache) - 3);
	ck_assert_uint_eq(r.version, 10);
	ck_assert(!kg_http_response_keep_alive(&r));
	assert_response_prefixes_wait(apache, r.head_len);

	/* garbage after the head is not looked at */
	static const char tail[] = "HTTP/1.1 200 OK\r\n\r\n\0\r\r\n bad: x";
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)tail, sizeof(tail) - 1, &r), 0);
	ck_assert_uint_eq(r.head_len, 19);
}
END_TEST

START_TEST(response_negotiate_challenges)
{
	struct kg_http_response r;

	/* Apache: a continuation token after our token, plus NTLM */
	static const char apache[] =
	    "HTTP/1.1 407 Proxy Authentication Required\r\n"
	    "Proxy-Authenticate: Negotiate oYG2MIGzoAMKAQGhCwYJKoZIhvcSAQIC==\r\n"
	    "Proxy-Authenticate: NTLM\r\n"
	    "Content-Length: 0\r\n\r\n";
	ck_assert_int_eq(response(apache, &r), 0);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_TOKEN);
	ck_assert(span_is(apache, r.negotiate_token, "oYG2MIGzoAMKAQGhCwYJKoZIhvcSAQIC=="));
	ck_assert_uint_eq(r.auth_schemes, KG_AUTH_NEGOTIATE | KG_AUTH_NTLM);
	assert_response_prefixes_wait(apache, r.head_len);

	/* Squid with Basic first, quoted commas, everything comma-joined */
	static const char joined[] = "HTTP/1.1 407 x\r\n"
				     "proxy-authenticate: Basic realm=\"a, b\", charset=\"UTF-8\", "
				     "NEGOTIATE YWJj, Bearer\r\n\r\n";
	ck_assert_int_eq(response(joined, &r), 0);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_TOKEN);
	ck_assert(span_is(joined, r.negotiate_token, "YWJj"));
	ck_assert_uint_eq(r.auth_schemes, KG_AUTH_BASIC | KG_AUTH_NEGOTIATE | KG_AUTH_OTHER);

	/* bare Negotiate among others; a Negotiate with only auth-params is bare too */
	static const char bare[] = "HTTP/1.1 407 x\r\n"
				   "Proxy-Authenticate: Basic realm=\"proxy\"\r\n"
				   "Proxy-Authenticate: Negotiate realm=\"x\"\r\n\r\n";
	ck_assert_int_eq(response(bare, &r), 0);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_BARE);
	ck_assert_uint_eq(r.auth_schemes, KG_AUTH_BASIC | KG_AUTH_NEGOTIATE);

	/* a bare Negotiate next to a token one: the token is the answer */
	static const char both[] = "HTTP/1.1 407 x\r\n"
				   "Proxy-Authenticate: Negotiate\r\n"
				   "Proxy-Authenticate: Negotiate dG9rZW4=\r\n\r\n";
	ck_assert_int_eq(response(both, &r), 0);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_TOKEN);

	/* only Basic: no Negotiate at all */
	ck_assert_int_eq(
	    response("HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_NONE);
	ck_assert_uint_eq(r.auth_schemes, KG_AUTH_BASIC);
}
END_TEST

START_TEST(response_negotiate_malformed)
{
	static const char *const bad[] = {
	    /* two tokens cannot both be the next leg */
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate YQ==, Negotiate Yg==\r\n\r\n",
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate YQ==\r\n"
	    "Proxy-Authenticate: Negotiate Yg==\r\n\r\n",
	    /* an auth-param with no challenge before it */
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: realm=x\r\n\r\n",
	    /* unterminated quoted string */
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: Basic realm=\"x\r\n\r\n",
	    /* junk after the scheme */
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate a b\r\n\r\n",
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate\tYQ==\r\n\r\n",
	    "HTTP/1.1 407 x\r\nProxy-Authenticate: \"Negotiate\"\r\n\r\n",
	};
	struct kg_http_response r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(response(bad[i], &r) == -EBADMSG, "%s", bad[i]);
}
END_TEST

/* A 48 KiB Negotiate token (a large AD ticket with many groups) fits in the head. */
START_TEST(response_large_token)
{
	size_t cap = KG_HTTP_HEAD_MAX + 16;
	char *text = malloc(cap);
	struct kg_http_response r;
	size_t n;

	n = (size_t)snprintf(text, cap, "HTTP/1.1 407 x\r\nProxy-Authenticate: Negotiate ");
	memset(text + n, 'Q', 48 * 1024);
	n += 48 * 1024;
	n += (size_t)snprintf(text + n, cap - n, "\r\n\r\n");
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)text, n, &r), 0);
	ck_assert_uint_eq(r.negotiate_token.len, 48 * 1024);
	ck_assert_uint_eq(r.head_len, n);
	free(text);
}
END_TEST

START_TEST(response_framing_and_connection)
{
	struct kg_http_response r;
	uint64_t len = 0;

	ck_assert_int_eq(response("HTTP/1.1 407 x\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", &r),
			 0);
	ck_assert(r.chunked && r.has_transfer_encoding);
	ck_assert_int_eq(kg_http_response_framing(&r, false, false, &len), KG_BODY_CHUNKED);
	ck_assert(kg_http_response_keep_alive(&r));

	ck_assert_int_eq(response("HTTP/1.1 502 x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &r),
			 0);
	ck_assert(!r.chunked);
	ck_assert_int_eq(kg_http_response_framing(&r, false, false, &len), KG_BODY_UNTIL_CLOSE);
	ck_assert(!kg_http_response_keep_alive(&r));

	/* both framings: TE wins, and the connection is not reused */
	ck_assert_int_eq(response("HTTP/1.1 407 x\r\nContent-Length: 5\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n",
				  &r),
			 0);
	ck_assert_int_eq(kg_http_response_framing(&r, false, false, &len), KG_BODY_CHUNKED);
	ck_assert(!kg_http_response_keep_alive(&r));

	ck_assert_int_eq(response("HTTP/1.0 407 x\r\nProxy-Connection: Keep-Alive\r\n"
				  "Content-Length: 10, 10\r\nContent-Length: 10\r\n\r\n",
				  &r),
			 0);
	ck_assert(r.conn_keep_alive && kg_http_response_keep_alive(&r));
	ck_assert_uint_eq(r.content_length, 10);

	ck_assert_int_eq(response("HTTP/1.1 407 x\r\nConnection: foo, CLOSE\r\n\r\n", &r), 0);
	ck_assert(r.conn_close && !kg_http_response_keep_alive(&r));
	ck_assert_int_eq(kg_http_response_framing(&r, false, false, &len), KG_BODY_UNTIL_CLOSE);
	ck_assert_int_eq(kg_http_response_framing(&r, false, true, &len), KG_BODY_NONE);

	static const unsigned no_body[] = {100, 101, 204, 304};
	for (size_t i = 0; i < sizeof(no_body) / sizeof(no_body[0]); i++) {
		r.status = no_body[i];
		ck_assert_int_eq(kg_http_response_framing(&r, false, false, &len), KG_BODY_NONE);
	}
	/* a refused CONNECT has a body to discard */
	ck_assert_int_eq(response("HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\n", &r), 0);
	ck_assert_int_eq(kg_http_response_framing(&r, true, false, &len), KG_BODY_LENGTH);

	/* reason may be empty, with or without its space */
	ck_assert_int_eq(response("HTTP/1.1 200\r\n\r\n", &r), 0);
	ck_assert_uint_eq(r.reason.len, 0);
	ck_assert_int_eq(response("HTTP/1.1 200 \r\n\r\n", &r), 0);
	ck_assert_uint_eq(r.reason.len, 0);
}
END_TEST

/* Decision: bare LF ends a line in responses (RFC 9112 §2.2 MAY), head_len stays exact. */
START_TEST(response_bare_lf)
{
	static const char lf[] = "HTTP/1.1 407 x\nProxy-Authenticate: Negotiate\nContent-Length: 0"
				 "\r\n\nTUNNEL";
	struct kg_http_response r;

	ck_assert_int_eq(response(lf, &r), 0);
	ck_assert_uint_eq(r.head_len, strlen(lf) - 6);
	ck_assert_int_eq(r.negotiate, KG_NEGOTIATE_BARE);
	assert_response_prefixes_wait(lf, r.head_len);
}
END_TEST

START_TEST(response_malformed)
{
	static const char *const bad[] = {
	    "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", /* bare CR */
	    "HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", /* obsolete folding */
	    "HTTP/1.1 200 OK\r\n\tX: a\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", /* space before colon */
	    "HTTP/1.1 200 OK\r\n: a\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX a\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n",
	    "HTTP/1.1 099 x\r\n\r\n",
	    "HTTP/1.1 600 x\r\n\r\n",
	    "HTTP/1.1 2x0 x\r\n\r\n",
	    "HTTP/1.1 20 x\r\n\r\n",
	    "HTTP/1.1 2000 x\r\n\r\n",
	    "HTTP/1.1  200 x\r\n\r\n",
	    "HTTP/2.0 200 x\r\n\r\n",
	    "HTTP/1.2 200 x\r\n\r\n",
	    "http/1.1 200 x\r\n\r\n",
	    "HTTP/1.1 200 x\x01\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: 5, 6\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: -1\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: 0x10\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length:\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "HTTP/1.1 407 x\r\nContent-Length: 18446744073709551616\r\n\r\n",
	    "HTTP/1.1 407 x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	    "HTTP/1.1 407 x\r\nTransfer-Encoding: ;x\r\n\r\n",
	};
	struct kg_http_response r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(response(bad[i], &r) == -EBADMSG, "%s", bad[i]);

	/* not HTTP at all: refused from the first bytes, without waiting for a line end */
	ck_assert_int_eq(response("SSH-2.0-", &r), -EBADMSG);
	ck_assert_int_eq(response("<html>", &r), -EBADMSG);
	ck_assert_int_eq(response("H", &r), -EAGAIN);
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)"", 0, &r), -EAGAIN);

	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)nul, sizeof(nul) - 1, &r),
			 -EBADMSG);
	/* the largest Content-Length we accept */
	ck_assert_int_eq(
	    response("HTTP/1.1 200 x\r\nContent-Length: 922337203685477580\r\n\r\n", &r), 0);
}
END_TEST

/* A head of exactly KG_HTTP_HEAD_MAX bytes parses; one byte more is -E2BIG, as is a head
 * whose end is not in sight at the cap; field count capped at KG_HTTP_HEADERS_MAX. */
START_TEST(response_caps)
{
	size_t cap = KG_HTTP_HEAD_MAX + 64;
	char *text = malloc(cap);
	struct kg_http_response r;
	size_t n;

	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(text, cap, "HTTP/1.1 407 x\r\nX: ");
		size_t fill = KG_HTTP_HEAD_MAX - n - 4 + (size_t)extra;
		memset(text + n, 'v', fill);
		n += fill;
		memcpy(text + n, "\r\n\r\n", 4);
		n += 4;
		ck_assert_int_eq(kg_http_response_parse((const uint8_t *)text, n, &r),
				 extra ? -E2BIG : 0);
	}
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)text, KG_HTTP_HEAD_MAX - 1, &r),
			 -EAGAIN);
	ck_assert_int_eq(kg_http_response_parse((const uint8_t *)text, KG_HTTP_HEAD_MAX, &r),
			 -E2BIG);

	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(text, cap, "HTTP/1.1 200 x\r\n");
		for (int i = 0; i < KG_HTTP_HEADERS_MAX + extra; i++)
			n += (size_t)snprintf(text + n, cap - n, "X-%d: %d\r\n", i, i);
		n += (size_t)snprintf(text + n, cap - n, "\r\n");
		ck_assert_int_eq(kg_http_response_parse((const uint8_t *)text, n, &r),
				 extra ? -E2BIG : 0);
	}
	free(text);
}
END_TEST

static const char browser_get[] = "GET /index.html?q=1 HTTP/1.1\r\n"
				  "Host: www.example.com\r\n"
				  "User-Agent: Mozilla/5.0\r\n"
				  "Accept: */*\r\n"
				  "Proxy-Connection: keep-alive\r\n"
				  "proxy-authorization: Basic YWxpY2U6cHc=\r\n"
				  "Connection: keep-alive\r\n"
				  "\r\n";

START_TEST(request_origin_form)
{
	struct kg_http_request r;

	ck_assert_int_eq(request(browser_get, &r), 0);
	ck_assert_uint_eq(r.head_len, strlen(browser_get));
	ck_assert(span_is(browser_get, r.method, "GET"));
	ck_assert(span_is(browser_get, r.target, "/index.html?q=1"));
	ck_assert_int_eq(r.target_form, KG_TARGET_ORIGIN);
	ck_assert_uint_eq(r.version, 11);
	ck_assert(r.has_host);
	ck_assert(span_is(browser_get, r.authority, "www.example.com"));
	ck_assert(!r.has_content_length && !r.chunked && !r.expect_continue);
	ck_assert(r.conn_keep_alive && !r.conn_close && !r.conn_upgrade);
	ck_assert_uint_eq(r.header_count, 6);
	ck_assert(kg_http_request_keep_alive(&r));
	assert_request_prefixes_wait(browser_get, r.head_len);
}
END_TEST

START_TEST(request_forms_and_fields)
{
	struct kg_http_request r;

	static const char abs[] = "GET http://Abs.example:8080/p?x HTTP/1.1\r\nHost: other\r\n\r\n";
	ck_assert_int_eq(request(abs, &r), 0);
	ck_assert_int_eq(r.target_form, KG_TARGET_ABSOLUTE);
	ck_assert(span_is(abs, r.authority, "Abs.example:8080"));

	static const char conn[] = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
	ck_assert_int_eq(request(conn, &r), 0);
	ck_assert_int_eq(r.target_form, KG_TARGET_AUTHORITY);
	ck_assert(span_is(conn, r.authority, "a.example:443"));

	static const char opt[] = "OPTIONS * HTTP/1.1\r\nHost: o.example\r\n\r\n";
	ck_assert_int_eq(request(opt, &r), 0);
	ck_assert_int_eq(r.target_form, KG_TARGET_ASTERISK);

	static const char post[] = "\r\n\r\nPOST /up HTTP/1.1\r\nHost: p.example\r\n"
				   "Transfer-Encoding: chunked\r\nExpect: 100-Continue\r\n"
				   "Connection: Upgrade, close\r\n\r\n5\r\nhello";
	ck_assert_int_eq(request(post, &r), 0);
	ck_assert_uint_eq(r.line_off, 4);
	ck_assert(r.chunked && r.expect_continue && r.conn_upgrade && r.conn_close);
	ck_assert(!kg_http_request_keep_alive(&r));
	ck_assert_uint_eq(r.head_len, strlen(post) - strlen("5\r\nhello"));
	assert_request_prefixes_wait(post, r.head_len);

	static const char old[] = "GET / HTTP/1.0\r\nContent-Length: 3\r\n"
				  "Content-Length: 3\r\n\r\n";
	ck_assert_int_eq(request(old, &r), 0);
	ck_assert(!r.has_host && r.authority.len == 0);
	ck_assert_uint_eq(r.content_length, 3);
	ck_assert(!kg_http_request_keep_alive(&r));
	ck_assert_int_eq(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
	ck_assert(kg_http_request_keep_alive(&r));
}
END_TEST

/* The method decides whether the response has a body (HEAD: none), the fields whether the
 * request has one; methods are case-sensitive, so "head" is some other method. */
START_TEST(request_method_and_framing)
{
	struct kg_http_request r;
	uint64_t len = 0;

	ck_assert_int_eq(request("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
	ck_assert(r.method_head);
	ck_assert_int_eq(kg_http_request_framing(&r, &len), KG_BODY_NONE);
	ck_assert_int_eq(request("head / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
	ck_assert(!r.method_head);
	ck_assert_int_eq(request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
	ck_assert(!r.method_head);
	ck_assert_int_eq(request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n", &r),
			 0);
	ck_assert_int_eq(kg_http_request_framing(&r, &len), KG_BODY_LENGTH);
	ck_assert_uint_eq(len, 12);
	ck_assert_int_eq(request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r), 0);
	ck_assert_int_eq(kg_http_request_framing(&r, &len), KG_BODY_NONE);
	ck_assert_int_eq(
	    request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 0);
	ck_assert_int_eq(kg_http_request_framing(&r, &len), KG_BODY_CHUNKED);
}
END_TEST

START_TEST(request_malformed)
{
	static const char *const bad[] = {
	    /* smuggling: conflicting framings */
	    "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	    "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    "POST / HTTP/1.1\r\nContent-Length: 5,6\r\n\r\n",
	    "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
	    "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
	    "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
	    /* line endings */
	    "GET / HTTP/1.1\nHost: a\n\n",
	    "GET / HTTP/1.1\r\nHost: a\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
	    /* request line */
	    "GET  / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "GET /a b HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.10\r\n\r\n",
	    "GET / HTTP/2\r\n\r\n",
	    "GET /#frag HTTP/1.1\r\n\r\n",
	    "GET /\x80 HTTP/1.1\r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET http://u:p@a.example/ HTTP/1.1\r\n\r\n",
	    "GET https://a.example/ HTTP/1.1\r\n\r\n",
	    "GET http:// HTTP/1.1\r\n\r\n",
	    "GET a.example/ HTTP/1.1\r\n\r\n",
	    "GET * HTTP/1.1\r\n\r\n",
	    "CONNECT a.example HTTP/1.1\r\n\r\n",
	    "CONNECT / HTTP/1.1\r\n\r\n",
	    /* Host */
	    "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n",
	};
	struct kg_http_request r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(request(bad[i], &r) == -EBADMSG, "%s", bad[i]);
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n";
	ck_assert_int_eq(kg_http_request_parse((const uint8_t *)nul, sizeof(nul) - 1, &r),
			 -EBADMSG);
	static const char nul_target[] = "GET /\0 HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(
	    kg_http_request_parse((const uint8_t *)nul_target, sizeof(nul_target) - 1, &r),
	    -EBADMSG);
}
END_TEST

/* Line cap: 8 KiB of content passes, one byte more is -E2BIG at once, before its end is seen;
 * field count and head caps as for responses. */
START_TEST(request_caps)
{
	size_t cap = KG_HTTP_HEAD_MAX + 9000;
	char *text = malloc(cap);
	struct kg_http_request r;
	size_t n, start;

	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(text, cap, "GET / HTTP/1.1\r\n");
		start = n;
		n += (size_t)snprintf(text + n, cap - n, "X: ");
		size_t fill = KG_HTTP_LINE_MAX - (n - start) + (size_t)extra;
		memset(text + n, 'v', fill);
		n += fill;
		ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, n, &r),
				 extra ? -E2BIG : -EAGAIN);
		memcpy(text + n, "\r\n\r\n", 4);
		n += 4;
		ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, n, &r),
				 extra ? -E2BIG : 0);
	}
	/* the request line too */
	n = (size_t)snprintf(text, cap, "GET /");
	memset(text + n, 'p', KG_HTTP_LINE_MAX);
	ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, n + KG_HTTP_LINE_MAX, &r),
			 -E2BIG);

	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(text, cap, "GET / HTTP/1.1\r\n");
		for (int i = 0; i < KG_HTTP_HEADERS_MAX + extra; i++)
			n += (size_t)snprintf(text + n, cap - n, "X-%d: %d\r\n", i, i);
		n += (size_t)snprintf(text + n, cap - n, "\r\n");
		ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, n, &r),
				 extra ? -E2BIG : 0);
	}

	/* 9 lines of 8000 bytes: each line is fine, the head is not */
	n = (size_t)snprintf(text, cap, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 9; i++) {
		n += (size_t)snprintf(text + n, cap - n, "X-%d: ", i);
		memset(text + n, 'v', 8000);
		n += 8000;
		n += (size_t)snprintf(text + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(text + n, cap - n, "\r\n");
	ck_assert_uint_gt(n, KG_HTTP_HEAD_MAX);
	ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, n, &r), -E2BIG);
	ck_assert_int_eq(kg_http_request_parse((const uint8_t *)text, KG_HTTP_HEAD_MAX - 1, &r),
			 -EAGAIN);
	free(text);
}
END_TEST

static int rewrite(const char *head, const char *authority, const char *token, char *out,
		   size_t cap, size_t *len)
{
	struct kg_http_request r;

	ck_assert_int_eq(request(head, &r), 0);
	return kg_http_request_rewrite((const uint8_t *)head, &r, authority, token, (uint8_t *)out,
				       cap, len);
}

START_TEST(rewrite_origin_form)
{
	static const char want[] = "GET http://www.example.com/index.html?q=1 HTTP/1.1\r\n"
				   "Host: www.example.com\r\n"
				   "User-Agent: Mozilla/5.0\r\n"
				   "Accept: */*\r\n"
				   "Connection: keep-alive\r\n"
				   "Proxy-Authorization: Negotiate YIIBhwYGKwYBBQUCoIIBezCC+/==\r\n"
				   "\r\n";
	char out[1024];
	size_t len = 0;
	struct kg_http_request r;

	ck_assert_int_eq(rewrite(browser_get, "www.example.com",
				 "YIIBhwYGKwYBBQUCoIIBezCC+/==", out, sizeof(out), &len),
			 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(memcmp(out, want, len) == 0);
	/* what we send parses again, in absolute-form */
	ck_assert_int_eq(kg_http_request_parse((const uint8_t *)out, len, &r), 0);
	ck_assert_int_eq(r.target_form, KG_TARGET_ABSOLUTE);
	ck_assert_uint_eq(r.head_len, len);

	/* every smaller buffer: -ENOSPC and *ret_len untouched */
	for (size_t cap = 0; cap < strlen(want); cap++) {
		size_t l = 4242;
		ck_assert_int_eq(rewrite(browser_get, "www.example.com",
					 "YIIBhwYGKwYBBQUCoIIBezCC+/==", out, cap, &l),
				 -ENOSPC);
		ck_assert_uint_eq(l, 4242);
	}
}
END_TEST

START_TEST(rewrite_other_forms)
{
	char out[512];
	size_t len;

	ck_assert_int_eq(rewrite("OPTIONS * HTTP/1.0\r\nHost: o.example\r\n\r\n", "[::1]:8080",
				 NULL, out, sizeof(out), &len),
			 0);
	static const char opt[] = "OPTIONS http://[::1]:8080 HTTP/1.0\r\nHost: o.example\r\n\r\n";
	ck_assert_uint_eq(len, strlen(opt));
	ck_assert(memcmp(out, opt, len) == 0);

	/* absolute-form kept as the application wrote it; leading CRLFs dropped */
	ck_assert_int_eq(rewrite("\r\nGET http://a.example/x HTTP/1.1\r\nPROXY-CONNECTION: close"
				 "\r\n\r\n",
				 NULL, "YQ==", out, sizeof(out), &len),
			 0);
	static const char abs[] = "GET http://a.example/x HTTP/1.1\r\n"
				  "Proxy-Authorization: Negotiate YQ==\r\n\r\n";
	ck_assert_uint_eq(len, strlen(abs));
	ck_assert(memcmp(out, abs, len) == 0);

	ck_assert_int_eq(rewrite("CONNECT a.example:443 HTTP/1.1\r\n\r\n", "a.example:443", NULL,
				 out, sizeof(out), &len),
			 -EINVAL);
	static const char *const bad_authority[] = {"", "a b", "a.example\r\nX: y", "a:1:2", NULL};
	for (size_t i = 0; i < sizeof(bad_authority) / sizeof(bad_authority[0]); i++)
		ck_assert_int_eq(
		    rewrite(browser_get, bad_authority[i], NULL, out, sizeof(out), &len), -EINVAL);
	static const char *const bad_token[] = {"", "YQ==\r\nX: y", "Y Q", "=YQ", "YQ==a", "Y-Q"};
	for (size_t i = 0; i < sizeof(bad_token) / sizeof(bad_token[0]); i++)
		ck_assert_int_eq(
		    rewrite(browser_get, "a.example", bad_token[i], out, sizeof(out), &len),
		    -EINVAL);
}
END_TEST

static int feed_all(const char *body, size_t len, size_t step, size_t *total)
{
	struct kg_chunked c;
	size_t off = 0, used;
	int r = 0;

	kg_chunked_init(&c);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		r = kg_chunked_feed(&c, (const uint8_t *)body + off, n, &used);
		if (r < 0)
			return r;
		ck_assert_uint_le(used, n);
		off += used;
		if (r == 1)
			break;
		ck_assert_uint_eq(used, n);
	}
	*total = off;
	return r;
}

START_TEST(chunked_framing)
{
	static const struct {
		const char *body; /* message, then "NEXT" which belongs to the next request */
	} ok[] = {
	    {"5\r\nhello\r\n0\r\n\r\nNEXT"},
	    {"0\r\n\r\nNEXT"},
	    {"A\r\n0123456789\r\n1;ext=val;q=\"a;b\"\r\nx\r\n00000\r\n\r\nNEXT"},
	    {"a \t;name\r\n0123456789\r\n0\r\nTrailer: v\r\nT2: w\r\n\r\nNEXT"},
	    {"000000000000000000001\r\nx\r\n0;last\r\n\r\nNEXT"},
	    {"3\r\n\r\n\n\r\n0\r\n\r\nNEXT"},
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const char *b = ok[i].body;
		size_t len = strlen(b), want = len - 4, total;
		/* every way of splitting the stream gives the same end */
		for (size_t step = 1; step <= len; step++) {
			ck_assert_msg(feed_all(b, len, step, &total) == 1, "%s step %zu", b, step);
			ck_assert_uint_eq(total, want);
		}
		/* every prefix of the message: consumed entirely, not finished */
		for (size_t k = 0; k < want; k++) {
			struct kg_chunked c;
			size_t used;
			kg_chunked_init(&c);
			ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)b, k, &used), 0);
			ck_assert_uint_eq(used, k);
		}
	}
}
END_TEST

/* Data bytes are skipped in one step, whatever the chunk size. */
START_TEST(chunked_large_chunk)
{
	struct kg_chunked c;
	static uint8_t data[65536];
	size_t used;

	kg_chunked_init(&c);
	ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)"fffffffffffffff\r\n", 17, &used), 0);
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(kg_chunked_feed(&c, data, sizeof(data), &used), 0);
		ck_assert_uint_eq(used, sizeof(data));
	}
	ck_assert_uint_eq(c.remaining, 0xfffffffffffffffULL - 100 * sizeof(data));
}
END_TEST

START_TEST(chunked_malformed)
{
	static const char *const bad[] = {
	    "\r\n", /* no size */
	    ";x\r\n",
	    "g\r\n",
	    "-1\r\n",
	    "0x5\r\n",
	    "5 5\r\n",
	    "5\n", /* bare LF */
	    "5\rX",
	    "5\r\nhelloX", /* no CRLF after the data */
	    "5\r\nhello\n0\r\n\r\n",
	    "5\r\nhello\r\r",
	    "1000000000000000\r\n", /* 16 significant hex digits: too large */
	    "ffffffffffffffffff\r\n",
	    "0\r\n trailer: folded\r\n\r\n",
	    "0\r\nBad Name: x\r\n\r\n",
	    "0\r\nT: \x01\r\n\r\n",
	    "0\r\nT: x\n\r\n",
	    "0\r\n\rX",
	    "5;a\0b\r\n",
	};
	size_t total;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 7;
		ck_assert_msg(feed_all(bad[i], len, len, &total) == -EBADMSG, "%zu", i);
		ck_assert_msg(feed_all(bad[i], len, 1, &total) == -EBADMSG, "%zu", i);
	}

	/* an error sticks */
	struct kg_chunked c;
	size_t used;
	kg_chunked_init(&c);
	ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)"z", 1, &used), -EBADMSG);
	ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &used), -EBADMSG);
	/* after the end, nothing more is consumed */
	kg_chunked_init(&c);
	ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)"0\r\n\r\n", 5, &used), 1);
	ck_assert_int_eq(kg_chunked_feed(&c, (const uint8_t *)"5\r\n", 3, &used), 1);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(chunked_caps)
{
	char *b = malloc(KG_HTTP_HEAD_MAX + 16384);
	size_t total, n;

	/* chunk-size line: extensions up to KG_CHUNK_LINE_MAX */
	for (int extra = 0; extra <= 1; extra++) {
		n = 0;
		b[n++] = '1';
		b[n++] = ';';
		memset(b + n, 'e', KG_CHUNK_LINE_MAX - 2 + (size_t)extra);
		n += KG_CHUNK_LINE_MAX - 2 + (size_t)extra;
		memcpy(b + n, "\r\nx\r\n0\r\n\r\n", 10);
		n += 10;
		ck_assert_int_eq(feed_all(b, n, 1000, &total), extra ? -E2BIG : 1);
	}
	/* leading zeros count against the line too */
	memset(b, '0', KG_CHUNK_LINE_MAX + 1);
	ck_assert_int_eq(feed_all(b, KG_CHUNK_LINE_MAX + 1, 100, &total), -E2BIG);

	/* one trailer line over KG_HTTP_LINE_MAX */
	n = (size_t)snprintf(b, 16, "0\r\nT: ");
	memset(b + n, 't', KG_HTTP_LINE_MAX);
	n += KG_HTTP_LINE_MAX;
	ck_assert_int_eq(feed_all(b, n, 4096, &total), -E2BIG);

	/* many short trailer lines over KG_HTTP_HEAD_MAX in all */
	n = (size_t)snprintf(b, 16, "0\r\n");
	while (n < KG_HTTP_HEAD_MAX + 100)
		n += (size_t)snprintf(b + n, 32, "T: %020d\r\n", 0);
	ck_assert_int_eq(feed_all(b, n, 4096, &total), -E2BIG);
	free(b);
}
END_TEST

START_TEST(base64_vectors)
{
	/* RFC 4648 §10 */
	static const char *const vec[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	char text[64];
	uint8_t bin[64];
	size_t len;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i][0]);
		ck_assert_int_eq(
		    kg_base64_encode((const uint8_t *)vec[i][0], n, text, sizeof(text), &len), 0);
		ck_assert_str_eq(text, vec[i][1]);
		ck_assert_uint_eq(len, KG_BASE64_LEN(n));
		ck_assert_int_eq(
		    kg_base64_decode(vec[i][1], strlen(vec[i][1]), bin, sizeof(bin), &len), 0);
		ck_assert_uint_eq(len, n);
		ck_assert(memcmp(bin, vec[i][0], n) == 0);
	}
	static const uint8_t all[] = {0xfb, 0xff, 0xbf, 0x00, 0x10, 0x83};
	ck_assert_int_eq(kg_base64_encode(all, sizeof(all), text, sizeof(text), &len), 0);
	ck_assert_str_eq(text, "+/+/ABCD");
}
END_TEST

START_TEST(base64_roundtrip)
{
	uint8_t bin[300], back[300];
	char text[KG_BASE64_LEN(300) + 1];
	size_t len, blen;
	unsigned seed = 12345;

	for (size_t n = 0; n <= sizeof(bin); n++) {
		for (size_t i = 0; i < n; i++)
			bin[i] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
		ck_assert_int_eq(kg_base64_encode(bin, n, text, KG_BASE64_LEN(n) + 1, &len), 0);
		ck_assert_int_eq(kg_base64_encode(bin, n, text, KG_BASE64_LEN(n), &len), -ENOSPC);
		ck_assert_int_eq(kg_base64_decode(text, len, back, n, &blen), 0);
		ck_assert_uint_eq(blen, n);
		ck_assert(memcmp(bin, back, n) == 0);
		if (n > 0)
			ck_assert_int_eq(kg_base64_decode(text, len, back, n - 1, &blen), -ENOSPC);
	}
}
END_TEST

START_TEST(base64_strict)
{
	static const char *const bad[] = {
	    "Zg",	"Zg=",	"Zg===", "Z===", "====", "Zm9v\n", " Zm9v",    "Zm 9v",
	    "Zg==Zg==", "Zm=v", "Zm9-",	 "Zm9_", "Zh==", "Zm9=",   "Zm8=Zm8=", "=Zm9",
	};
	uint8_t bin[64];
	size_t len = 4242;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(kg_base64_decode(bad[i], strlen(bad[i]), bin, sizeof(bin), &len) ==
				  -EBADMSG,
			      "%s", bad[i]);
	ck_assert_uint_eq(len, 4242);
	ck_assert_int_eq(kg_base64_decode("Zm\0v", 4, bin, sizeof(bin), &len), -EBADMSG);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *resp = tcase_create("response");
	TCase *req = tcase_create("request");
	TCase *chunk = tcase_create("chunked");
	TCase *b64 = tcase_create("base64");

	tcase_add_test(resp, response_squid_407);
	tcase_add_test(resp, response_connect_established);
	tcase_add_test(resp, response_negotiate_challenges);
	tcase_add_test(resp, response_negotiate_malformed);
	tcase_add_test(resp, response_large_token);
	tcase_add_test(resp, response_framing_and_connection);
	tcase_add_test(resp, response_bare_lf);
	tcase_add_test(resp, response_malformed);
	tcase_add_test(resp, response_caps);
	suite_add_tcase(s, resp);
	tcase_add_test(req, request_origin_form);
	tcase_add_test(req, request_forms_and_fields);
	tcase_add_test(req, request_method_and_framing);
	tcase_add_test(req, request_malformed);
	tcase_add_test(req, request_caps);
	tcase_add_test(req, rewrite_origin_form);
	tcase_add_test(req, rewrite_other_forms);
	suite_add_tcase(s, req);
	tcase_add_test(chunk, chunked_framing);
	tcase_add_test(chunk, chunked_large_chunk);
	tcase_add_test(chunk, chunked_malformed);
	tcase_add_test(chunk, chunked_caps);
	suite_add_tcase(s, chunk);
	tcase_add_test(b64, base64_vectors);
	tcase_add_test(b64, base64_roundtrip);
	tcase_add_test(b64, base64_strict);
	suite_add_tcase(s, b64);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
