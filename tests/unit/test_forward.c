/* forward.c: port 80 through the proxy, request by request, driven through forward_conn_ops by
 * the real event core (loop, pump, conn) with a socketpair for the application and a scripted
 * fake proxy on 127.0.0.1 (fake_proxy.h). What a user relies on: each request reaches the proxy
 * in absolute-form with its own Negotiate token; responses framed by Content-Length, chunked or
 * the proxy's close reach the application whole, after a 100 Continue too; a keep-alive
 * connection reuses the proxy connection; a POST body follows its head; a malformed request, a
 * 407 (first or second round), a proxy failing mutual authentication, a malformed answer, a
 * silent or unreachable proxy, a body cut short or a token that never comes get a short page
 * that says why; a 101 turns into a plain relay; a proxy closing mid-body closes the
 * application's connection; settings that change the way out retire the connection.
 *
 * Only the Kerberos worker and the token source are fakes (fake_proxy.c): the Kerberos exchange
 * itself is covered by test_negotiate and the integration tests.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/forward.h"
#include "tests/unit/fake_proxy.h"

static void setup(void)
{
	rig_setup(KG_PROXY_HTTP, &forward_conn_ops);
}

static void teardown(void)
{
	rig_teardown();
}

/* The proxy got a request head for url (absolute-form) carrying the token tok; its head in buf. */
static void proxy_gets(int proxy, const char *method_url, const char *tok, char *head, size_t cap)
{
	char want[256];

	rig_read_head(proxy, head, cap);
	snprintf(want, sizeof(want), "%s HTTP/1.", method_url);
	ck_assert_msg(strncmp(head, want, strlen(want)) == 0, "request line of: %s", head);
	snprintf(want, sizeof(want), "\r\nProxy-Authorization: Negotiate %s\r\n", tok);
	ck_assert_msg(strstr(head, want), "no token %s in: %s", tok, head);
}

/* The application got a page with status and sentence, then its connection was closed. */
static void app_gets_page(int app, const char *status, const char *sentence)
{
	char page[2048], want[512];

	rig_read_to_eof(app, page, sizeof(page));
	snprintf(want, sizeof(want), "HTTP/1.1 %s\r\n", status);
	ck_assert_msg(strncmp(page, want, strlen(want)) == 0, "page: %s", page);
	snprintf(want, sizeof(want), "\r\n\r\nkernelgatekeeper: %s\n", sentence);
	ck_assert_msg(strstr(page, want), "page does not say %s: %s", sentence, page);
}

START_TEST(get_keep_alive_length_then_chunked)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const char *r2 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5\r\nworld\r\n0\r\n\r\n";
	char head[1024];
	int app, proxy;

	app = rig_open(80, "GET /a HTTP/1.1\r\nHost: web.example\r\n\r\n", 38);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/a", "tok1", head, sizeof(head));
	ck_assert_ptr_nonnull(strstr(head, "\r\nHost: web.example\r\n"));
	rig_send_str(proxy, r1);
	rig_expect(app, r1);
	/* The second request on the same connection: the same proxy connection, a new token. */
	rig_send_str(app, "GET /b HTTP/1.1\r\nHost: web.example\r\n\r\n");
	proxy_gets(proxy, "GET http://web.example/b", "tok2", head, sizeof(head));
	ck_assert(!rig_connection_pending());
	rig_send_str(proxy, r2);
	rig_expect(app, r2);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	/* The application is done between requests: a normal end. */
	close(app);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert(rig_eof_within(proxy, 1000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(proxy);
}
END_TEST

START_TEST(port_and_ip_when_no_host)
{
	char head[1024];
	int app, proxy;

	/* HTTP/1.0 without Host: the original destination names the target. */
	app = rig_open(8080, "GET /x HTTP/1.0\r\n\r\n", 19);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://127.0.0.1:8080/x", "tok1", head, sizeof(head));
	/* No length, no keep-alive: the body ends with the proxy's close. */
	rig_send_str(proxy, "HTTP/1.0 200 OK\r\n\r\nuntil close");
	close(proxy);
	rig_read_to_eof(app, head, sizeof(head));
	ck_assert_str_eq(head, "HTTP/1.0 200 OK\r\n\r\nuntil close");
	close(app);
}
END_TEST

START_TEST(post_with_body)
{
	const char *req =
	    "POST /p HTTP/1.1\r\nHost: web.example\r\nContent-Length: 11\r\n\r\nhello";
	char head[1024];
	int app, proxy;

	app = rig_open(80, req, strlen(req));
	proxy = rig_accept();
	proxy_gets(proxy, "POST http://web.example/p", "tok1", head, sizeof(head));
	rig_expect(proxy, "hello");
	rig_send_str(app, " world");
	rig_expect(proxy, " world");
	rig_send_str(proxy, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	rig_expect(app, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(malformed_request)
{
	int app = rig_open(80, "GET\r\n\r\n", 7);

	app_gets_page(app, "400 Bad Request", "the request could not be parsed");
	ck_assert(!rig_connection_pending()); /* nothing went to the proxy */
	close(app);
}
END_TEST

START_TEST(connect_on_port_80)
{
	const char *req = "CONNECT web.example:443 HTTP/1.1\r\nHost: web.example:443\r\n\r\n";
	int app = rig_open(80, req, strlen(req));

	app_gets_page(app, "400 Bad Request", "CONNECT is not expected on port 80");
	close(app);
}
END_TEST

START_TEST(proxy_407_page)
{
	char head[1024];
	int app, proxy;

	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/", "tok1", head, sizeof(head));
	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate nope\r\nContent-Length: 0\r\n\r\n");
	app_gets_page(app, "502 Bad Gateway", "proxy rejected the ticket");
	ck_assert(rig_log_has("failed: proxy rejected the ticket"));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 1);
	close(app);
	close(proxy);
}
END_TEST

START_TEST(no_ticket_407_page)
{
	char head[1024];
	int app, proxy;

	rig.auth_mode = RIG_AUTH_FAIL;
	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	rig_read_head(proxy, head, sizeof(head));
	ck_assert_ptr_null(strstr(head, "Proxy-Authorization"));
	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n");
	app_gets_page(app, "502 Bad Gateway", "no Kerberos ticket: run kinit");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_silent_page)
{
	char head[1024];
	int app, proxy;

	rig.set->cfg.proxy.request_timeout = 1;
	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/", "tok1", head, sizeof(head));
	app_gets_page(app, "502 Bad Gateway",
		      "the proxy did not answer within 1 s (request_timeout)");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_unreachable_page)
{
	char want[256];
	int app;

	close(rig.lfd);
	rig.lfd = -1;
	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	snprintf(want, sizeof(want), "proxy unreachable: http://127.0.0.1:%u: %s", rig.lport,
		 strerror(ECONNREFUSED));
	app_gets_page(app, "502 Bad Gateway", want);
	close(app);
}
END_TEST

/* A sentence that carries a peer's bytes (here a proxy's reason phrase in Latin-1 with a
 * terminal's title sequence): the page's body has them escaped as the journal's peer strings
 * are, and its Content-Length counts what is sent. A printable sentence (UTF-8, a backslash) is
 * sent as it is. */
START_TEST(error_page_escapes_peer_bytes)
{
	const char *refused =
	    "the proxy refused the connection to web.example:80: 403 Forbidd\xe9n "
	    "\x1b]0;owned\x07";
	char page[2048], want[256];
	const char *body;
	size_t n, i;

	n = forward_error_page(page, sizeof(page), "502 Bad Gateway", refused);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(n, strlen(page));
	ck_assert_msg(strncmp(page, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0, "page: %s", page);
	body = strstr(page, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	body += 4;
	ck_assert_str_eq(body,
			 "kernelgatekeeper: the proxy refused the connection to web.example:80: "
			 "403 Forbidd\\xe9n \\x1b]0;owned\\x07\n");
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", strlen(body));
	ck_assert_msg(strstr(page, want), "no %s in: %s", want, page);
	for (i = 0; i < n; i++)
		ck_assert_msg(page[i] == '\r' || page[i] == '\n' ||
				  ((unsigned char)page[i] >= 0x20 && (unsigned char)page[i] < 0x7f),
			      "byte 0x%02x at %zu", (unsigned char)page[i], i);

	n = forward_error_page(page, sizeof(page), "502 Bad Gateway",
			       "403 Zugriff f\xc3\xbcr dich verweigert (a\\b)");
	ck_assert_uint_gt(n, 0);
	ck_assert_ptr_nonnull(strstr(
	    page, "\r\n\r\nkernelgatekeeper: 403 Zugriff f\xc3\xbcr dich verweigert (a\\b)\n"));
}
END_TEST

START_TEST(switching_protocols_relays)
{
	const char *r101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\n\r\n";
	const char *req = "GET /ws HTTP/1.1\r\nHost: web.example\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\n\r\n";
	char head[1024];
	int app, proxy;

	app = rig_open(80, req, strlen(req));
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/ws", "tok1", head, sizeof(head));
	rig_send_str(proxy, r101);
	rig_send_str(proxy, "frame-from-server");
	rig_expect(app, r101);
	rig_expect(app, "frame-from-server");
	rig_send_str(app, "frame-from-app");
	rig_expect(proxy, "frame-from-app");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_closes_mid_body)
{
	const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
	char got[1024];
	int app, proxy;

	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/", "tok1", got, sizeof(got));
	rig_send_str(proxy, part);
	rig_expect(app, part);
	close(proxy);
	/* The response cannot be completed: the application's connection ends, no page after
	 * the head it already has. */
	rig_read_to_eof(app, got, sizeof(got));
	ck_assert_str_eq(got, "");
	ck_assert(rig_run_until(rig_no_conns, NULL, 1000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 1);
	close(app);
}
END_TEST

START_TEST(retire_stale_connections)
{
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	char head[1024];
	int idle, busy, p1, p2;

	/* idle: one exchange done, waiting for its next request. */
	idle = rig_open(80, "GET /1 HTTP/1.1\r\nHost: web.example\r\n\r\n", 38);
	p1 = rig_accept();
	proxy_gets(p1, "GET http://web.example/1", "tok1", head, sizeof(head));
	rig_send_str(p1, ok);
	rig_expect(idle, ok);
	/* busy: its request is with the proxy. */
	busy = rig_open(80, "GET /2 HTTP/1.1\r\nHost: web.example\r\n\r\n", 38);
	p2 = rig_accept();
	proxy_gets(p2, "GET http://web.example/2", "tok2", head, sizeof(head));

	/* Unchanged settings retire nothing. */
	forward_retire_stale(&rig.cl);
	ck_assert(!rig_eof_within(idle, 50));
	/* Another proxy: the idle connection closes, the busy one finishes its exchange first. */
	rig_settings(KG_PROXY_HTTP, (uint16_t)(rig.lport + 1));
	forward_retire_stale(&rig.cl);
	ck_assert(rig_eof_within(idle, 1000));
	rig_send_str(p2, ok);
	rig_read_to_eof(busy, head, sizeof(head));
	ck_assert_str_eq(head, ok);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(idle);
	close(busy);
	close(p1);
	close(p2);
}
END_TEST

/* One GET to web.example whose head reached the proxy; the proxy's end. */
static int get_sent(int *app)
{
	char head[1024];
	int proxy;

	*app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/", "tok1", head, sizeof(head));
	return proxy;
}

START_TEST(continue_then_no_body)
{
	const char *req = "PUT /u HTTP/1.1\r\nHost: web.example\r\nExpect: 100-continue\r\n"
			  "Content-Length: 3\r\n\r\n";
	char head[1024];
	int app, proxy;

	app = rig_open(80, req, strlen(req));
	proxy = rig_accept();
	proxy_gets(proxy, "PUT http://web.example/u", "tok1", head, sizeof(head));
	/* The interim answer reaches the app, the body follows it, then the final answer. */
	rig_send_str(proxy, "HTTP/1.1 100 Continue\r\n\r\n");
	rig_expect(app, "HTTP/1.1 100 Continue\r\n\r\n");
	rig_send_str(app, "abc");
	rig_expect(proxy, "abc");
	rig_send_str(proxy, "HTTP/1.1 204 No Content\r\n\r\n");
	rig_expect(app, "HTTP/1.1 204 No Content\r\n\r\n");
	/* Kept alive: the next request goes out on the same proxy connection. */
	rig_send_str(app, "GET /n HTTP/1.1\r\nHost: web.example\r\n\r\n");
	proxy_gets(proxy, "GET http://web.example/n", "tok2", head, sizeof(head));
	close(app);
	close(proxy);
}
END_TEST

START_TEST(second_round_407_page)
{
	int app, proxy = get_sent(&app);

	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate cont1\r\nContent-Length: 0\r\n\r\n");
	app_gets_page(app, "502 Bad Gateway",
		      "the proxy asked for a second authentication round, which plain HTTP "
		      "forwarding does not do");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(mutual_failure_page)
{
	int app, proxy = get_sent(&app);

	rig_send_str(proxy, "HTTP/1.1 200 OK\r\nProxy-Authenticate: Negotiate forged\r\n"
			    "Content-Length: 6\r\n\r\nsecret");
	/* Nothing of an answer from an unauthenticated proxy reaches the app. */
	app_gets_page(app, "502 Bad Gateway", "proxy failed mutual authentication");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(malformed_answer_page)
{
	int app, proxy = get_sent(&app);

	rig_send_str(proxy, "SMTP ready\r\n\r\n");
	app_gets_page(app, "502 Bad Gateway", "the proxy sent a malformed answer");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(app_leaves_mid_body)
{
	const char *req = "POST /p HTTP/1.1\r\nHost: web.example\r\nContent-Length: 10\r\n\r\nab";
	char head[1024];
	int app, proxy;

	app = rig_open(80, req, strlen(req));
	proxy = rig_accept();
	proxy_gets(proxy, "POST http://web.example/p", "tok1", head, sizeof(head));
	rig_expect(proxy, "ab");
	shutdown(app, SHUT_WR); /* the body is cut short */
	app_gets_page(app, "502 Bad Gateway", "the request could not be forwarded");
	ck_assert(rig_eof_within(proxy, 1000));
	close(app);
	close(proxy);
}
END_TEST

START_TEST(token_overdue_page)
{
	int app, proxy;

	rig.auth_mode = RIG_AUTH_MANUAL;
	rig.set->cfg.proxy.request_timeout = 1;
	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	proxy = rig_accept();
	/* Connected, the token never comes: no request goes out, the page says why. */
	app_gets_page(app, "502 Bad Gateway", "KDC unreachable (no Kerberos token within 1 s)");
	ck_assert(rig_eof_within(proxy, 1000));
	close(app);
	close(proxy);
}
END_TEST

/* --- routes ------------------------------------------------------------------------------- */

/* The current settings' route: 127.0.0.1 at port first, then the rig's proxy, or DIRECT. */
static void route_first(uint16_t first, bool then_direct)
{
	struct kg_route *r = &rig.set->route;

	memset(r, 0, sizeof(*r));
	r->e[0] =
	    (struct kg_route_entry){.kind = KG_ROUTE_PROXY, .host = "127.0.0.1", .port = first};
	if (then_direct)
		r->e[1] = (struct kg_route_entry){.kind = KG_ROUTE_DIRECT};
	else
		r->e[1] = (struct kg_route_entry){
		    .kind = KG_ROUTE_PROXY, .host = "127.0.0.1", .port = rig.lport};
	r->n = 2;
}

/* A dead first proxy: the request goes to the second, with a token made for it. */
START_TEST(failover_to_second_proxy)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	uint16_t dead_port;
	int dead = fake_refusing_port(&dead_port), app, proxy;
	char head[1024];

	route_first(dead_port, false);
	app = rig_open(80, "GET /a HTTP/1.1\r\nHost: web.example\r\n\r\n", 38);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/a", "tok2", head, sizeof(head));
	rig_send_str(proxy, r1);
	rig_expect(app, r1);
	ck_assert(rig_log_has("now via 127.0.0.1:"));
	close(app);
	close(proxy);
	close(dead);
}
END_TEST

/* fallback = "direct" on port 80: the request goes to the origin as the application wrote it,
 * without a token, and the next request on the connection too. */
START_TEST(failover_to_direct)
{
	const char *req = "GET /a HTTP/1.1\r\nHost: web.example\r\n\r\n";
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const char *r407 = "HTTP/1.1 407 Odd\r\nContent-Length: 2\r\n\r\nno";
	uint16_t dead_port;
	int dead = fake_refusing_port(&dead_port), app, origin;

	route_first(dead_port, true);
	app = rig_open(rig.lport, req, strlen(req)); /* the origin is the rig's listener */
	origin = rig_accept();
	rig_expect(origin, req);
	rig_send_str(origin, r1);
	rig_expect(app, r1);
	rig_send_str(app, "GET /b HTTP/1.1\r\nHost: web.example\r\n\r\n");
	rig_expect(origin, "GET /b HTTP/1.1\r\nHost: web.example\r\n\r\n");
	rig_send_str(origin, r1);
	rig_expect(app, r1);
	/* Even a 407 is the origin's own answer here, not a proxy asking for a token. */
	rig_send_str(app, "GET /c HTTP/1.1\r\nHost: web.example\r\n\r\n");
	rig_expect(origin, "GET /c HTTP/1.1\r\nHost: web.example\r\n\r\n");
	rig_send_str(origin, r407);
	rig_expect(app, r407);
	ck_assert(!rig_connection_pending());
	ck_assert(rig_log_has("now direct ("));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(origin);
	close(dead);
}
END_TEST

/* --- https proxies (issue 14): the same through a TLS terminator (fake_proxy.h) -------------- */

/* Port 80 through an https proxy: each request with its token, and the answers, inside TLS on
 * one kept connection. */
START_TEST(https_proxy_get)
{
	const char *r1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	uint16_t port = rig_tls_proxy("ip");
	struct rig_tls_report r;
	char head[1024];
	int app, proxy;

	rig_tls_settings(port);
	app = rig_open(80, "GET /a HTTP/1.1\r\nHost: web.example\r\n\r\n", 38);
	proxy = rig_accept();
	proxy_gets(proxy, "GET http://web.example/a", "tok1", head, sizeof(head));
	rig_send_str(proxy, r1);
	rig_expect(app, r1);
	rig_send_str(app, "GET /b HTTP/1.1\r\nHost: web.example\r\n\r\n");
	proxy_gets(proxy, "GET http://web.example/b", "tok2", head, sizeof(head));
	ck_assert(!rig_connection_pending());
	rig_send_str(proxy, r1);
	rig_expect(app, r1);
	close(app);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert(rig_eof_within(proxy, 2000));
	close(proxy);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	r = rig_tls_reports(1);
	ck_assert_uint_eq(r.ok, 1);
	ck_assert(!r.clear_token);
}
END_TEST

/* An https proxy whose certificate names another host: the 502 page carries the sentence, and
 * no request (nor token) left in clear. */
START_TEST(https_proxy_name_mismatch_page)
{
	uint16_t port = rig_tls_proxy("wrong");
	struct rig_tls_report r;
	int app;

	rig_tls_settings(port);
	app = rig_open(80, "GET / HTTP/1.1\r\nHost: web.example\r\n\r\n", 37);
	app_gets_page(app, "502 Bad Gateway",
		      "proxy name mismatch (certificate for wrong.proxy.kgtest.test, not "
		      "127.0.0.1)");
	close(app);
	ck_assert(!rig_connection_pending());
	r = rig_tls_reports(1);
	ck_assert_uint_eq(r.failed, 1);
	ck_assert_uint_eq(r.ok, 0);
	ck_assert(!r.clear_token);
}
END_TEST

static Suite *forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("port80");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, get_keep_alive_length_then_chunked);
	tcase_add_test(tc, port_and_ip_when_no_host);
	tcase_add_test(tc, post_with_body);
	tcase_add_test(tc, malformed_request);
	tcase_add_test(tc, connect_on_port_80);
	tcase_add_test(tc, proxy_407_page);
	tcase_add_test(tc, no_ticket_407_page);
	tcase_add_test(tc, proxy_silent_page);
	tcase_add_test(tc, proxy_unreachable_page);
	tcase_add_test(tc, error_page_escapes_peer_bytes);
	tcase_add_test(tc, switching_protocols_relays);
	tcase_add_test(tc, failover_to_second_proxy);
	tcase_add_test(tc, failover_to_direct);
	tcase_add_test(tc, https_proxy_get);
	tcase_add_test(tc, https_proxy_name_mismatch_page);
	tcase_add_test(tc, proxy_closes_mid_body);
	tcase_add_test(tc, retire_stale_connections);
	tcase_add_test(tc, continue_then_no_body);
	tcase_add_test(tc, second_round_407_page);
	tcase_add_test(tc, mutual_failure_page);
	tcase_add_test(tc, malformed_answer_page);
	tcase_add_test(tc, app_leaves_mid_body);
	tcase_add_test(tc, token_overdue_page);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(forward_suite());
	int failed;

	rig_tls_certs_make();
	srunner_run_all(sr, CK_ENV);
	rig_tls_certs_remove();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
