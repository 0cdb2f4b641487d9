/* tunnel.c: naming a steered connection's destination and opening its CONNECT tunnel, driven
 * through tunnel_conn_ops by the real event core (loop, pump, conn) with a socketpair for the
 * application and a scripted fake proxy on 127.0.0.1 (fake_proxy.h). What a user relies on: the
 * CONNECT names the host the application asked for (TLS SNI, HTTP Host) or, when it says nothing
 * within the sniff wait, the IP; a server-speaks-first port is not held up; the proxy's 200 opens
 * a tunnel bytes cross both ways; a 407, 403 or 502, an unreachable proxy or a missing Kerberos
 * ticket closes the application's connection with the sentence in the journal; a Kerberos answer
 * arriving after the connection closed touches nothing.
 *
 * Only the Kerberos worker and the token source are fakes (fake_proxy.c): the Kerberos exchange
 * itself is covered by test_negotiate and the integration tests.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/tunnel.h"
#include "client/warm.h"
#include "shared/netutil.h"
#include "tests/unit/fake_proxy.h"

#define CONNECT_HEAD(target, tok)                                                                  \
	"CONNECT " target " HTTP/1.1\r\nHost: " target "\r\n"                                      \
	"Proxy-Authorization: Negotiate " tok "\r\n\r\n"

static void setup(void)
{
	rig_setup(KG_PROXY_HTTP, &tunnel_conn_ops);
}

static void teardown(void)
{
	rig_teardown();
}

/* The proxy answered ans to the CONNECT: the application's connection is closed and the journal
 * says sentence. */
static void fails_with(int app, const char *sentence)
{
	char line[512];

	ck_assert_msg(rig_eof_within(app, 5000), "the application's connection stays open");
	ck_assert(rig_run_until(rig_no_conns, NULL, 1000));
	snprintf(line, sizeof(line), "failed: %s", sentence);
	ck_assert_msg(rig_log_has(line), "the journal does not say: %s", line);
	ck_assert_uint_ge(rig.cl.tunnels_failed, 1);
}

/* A connection for www.example.org:443 (its ClientHello sent) whose CONNECT reached the proxy;
 * the proxy's end. */
static int connect_for_sni(int *app, uint8_t *hello, size_t *hello_len)
{
	int proxy;

	*hello_len = rig_client_hello("www.example.org", hello, 512);
	*app = rig_open(443, hello, *hello_len);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "tok1"));
	return proxy;
}

START_TEST(sni_names_target_and_200_opens_relay)
{
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy = connect_for_sni(&app, hello, &hello_len);

	ck_assert_uint_eq(rig.jobs_submitted, 1);
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\nSERVERHELLO");
	/* What follows the 200 is the tunnel's: the app gets it, and the proxy gets the hello the
	 * sniffing only peeked at. */
	rig_expect(app, "SERVERHELLO");
	rig_expect_bytes(proxy, hello, hello_len);
	rig_send_str(app, "ping");
	rig_expect(proxy, "ping");
	rig_send_str(proxy, "pong");
	rig_expect(app, "pong");
	ck_assert_uint_eq(rig.cl.tunnels_active, 1);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	/* Closing both ends ends the tunnel. */
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_active, 0);
}
END_TEST

START_TEST(host_header_names_target)
{
	const char *req = "GET / HTTP/1.1\r\nHost: web.example:8080\r\n\r\n";
	int app = rig_open(8080, req, strlen(req));
	int proxy = rig_accept();

	rig_expect(proxy, CONNECT_HEAD("web.example:8080", "tok1"));
	rig_send_str(proxy, "HTTP/1.1 200 OK\r\n\r\n");
	rig_expect(proxy, req); /* the request goes through the tunnel untouched */
	close(app);
	close(proxy);
}
END_TEST

START_TEST(silent_app_connects_by_ip_after_wait)
{
	uint64_t t0 = kg_now_usec(CLOCK_MONOTONIC), waited;
	int app = rig_open(443, NULL, 0);
	int proxy = rig_accept(); /* the connect and the token do not wait for the name */

	rig_expect(proxy, CONNECT_HEAD("127.0.0.1:443", "tok1"));
	waited = kg_now_usec(CLOCK_MONOTONIC) - t0;
	ck_assert_uint_ge(waited, CLIENT_SNIFF_WAIT_MS * 1000ull - 20000);
	rig_send_str(proxy, "HTTP/1.1 200 OK\r\n\r\n");
	rig_send_str(app, "late hello");
	rig_expect(proxy, "late hello");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(server_speaks_first_port)
{
	int app = rig_open(22, NULL, 0);
	int proxy;

	/* SSH: the client waits for the banner, so no first-byte wait at all: the connection is
	 * past the sniffing state as soon as it is accepted. */
	ck_assert_ptr_nonnull(rig.cl.conns);
	ck_assert_int_ne(rig.cl.conns->state, CONN_SNIFF);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("127.0.0.1:22", "tok1"));
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-fake\r\n");
	rig_expect(app, "SSH-2.0-fake\r\n");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_407_fails)
{
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy = connect_for_sni(&app, hello, &hello_len);

	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate nope\r\nContent-Length: 0\r\n\r\n");
	fails_with(app, "proxy rejected the ticket");
	ck_assert(rig_log_has("www.example.org"));
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_403_refuses)
{
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy = connect_for_sni(&app, hello, &hello_len);

	rig_send_str(proxy, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	fails_with(app, "the proxy refused the connection to www.example.org:443: 403 Forbidden");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_502_refuses)
{
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy = connect_for_sni(&app, hello, &hello_len);

	rig_send_str(proxy, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
	fails_with(app, "the proxy refused the connection to www.example.org:443: 502 Bad Gateway");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_silent_times_out)
{
	int app, proxy;

	rig.set->cfg.proxy.request_timeout = 1;
	app = rig_open(22, NULL, 0);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("127.0.0.1:22", "tok1"));
	fails_with(app, "the proxy did not answer within 1 s (request_timeout)");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(proxy_unreachable)
{
	char want[256];
	int app;

	close(rig.lfd); /* nobody listens at the proxy's port any more */
	rig.lfd = -1;
	app = rig_open(22, NULL, 0);
	snprintf(want, sizeof(want), "proxy unreachable: http://127.0.0.1:%u: %s", rig.lport,
		 strerror(ECONNREFUSED));
	fails_with(app, want);
	close(app);
}
END_TEST

START_TEST(no_ticket_then_407)
{
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy;

	rig.auth_mode = RIG_AUTH_FAIL;
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	/* Without a token the CONNECT still goes out: a proxy without authentication works. */
	rig_expect(proxy,
		   "CONNECT www.example.org:443 HTTP/1.1\r\nHost: www.example.org:443\r\n\r\n");
	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n");
	fails_with(app, "no Kerberos ticket: run kinit");
	close(app);
	close(proxy);
}
END_TEST

START_TEST(kerberos_answer_after_close)
{
	int app, proxy;

	rig.auth_mode = RIG_AUTH_MANUAL;
	app = rig_open(443, NULL, 0);
	proxy = rig_accept();
	ck_assert_uint_eq(rig_auth_pending(), 1);
	/* The application gives up while the token is still being made. */
	close(app);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.jobs_cancelled, 1);
	ck_assert(rig_eof_within(proxy, 1000)); /* the proxy connection is dropped too */
	/* The worker's answer comes back after that: it is dropped, the connection's memory (back
	 * in the pool) is not touched. */
	rig_auth_deliver();
	rig_run_for(20);
	ck_assert_uint_eq(rig.jobs_freed, 1);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(proxy);
}
END_TEST

START_TEST(direct_without_proxy)
{
	int app, dest;

	/* proxy.type none: straight to the original destination (the listener), no token. */
	rig_settings(KG_PROXY_NONE, 0);
	app = rig_open(rig.lport, "hi", 2);
	dest = rig_accept();
	rig_expect(dest, "hi");
	rig_send_str(dest, "there");
	rig_expect(app, "there");
	ck_assert_uint_eq(rig.jobs_submitted, 0);
	close(app);
	close(dest);
}
END_TEST

/* --- routes ------------------------------------------------------------------------------- */

/* The current settings' route: 127.0.0.1 at port first, then the rig's proxy, or DIRECT. */
static void route_first(uint16_t first, bool then_direct)
{
	struct client_settings *set = rig.set;
	struct kg_route *r = &set->route;

	memset(r, 0, sizeof(*r));
	r->e[0] =
	    (struct kg_route_entry){.kind = KG_ROUTE_PROXY, .host = "127.0.0.1", .port = first};
	if (then_direct)
		r->e[1] = (struct kg_route_entry){.kind = KG_ROUTE_DIRECT};
	else
		r->e[1] = (struct kg_route_entry){
		    .kind = KG_ROUTE_PROXY, .host = "127.0.0.1", .port = rig.lport};
	r->n = 2;
	snprintf(set->cfg.proxy.url, sizeof(set->cfg.proxy.url), "http://127.0.0.1:%u", first);
	snprintf(set->cfg.proxy.more_urls[0], KG_URL_MAX, "http://127.0.0.1:%u", rig.lport);
	set->cfg.proxy.n_more_urls = then_direct ? 0 : 1;
}

static bool pending(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* A dead first proxy: the tunnel opens through the second, with a token made for it; the
 * journal names the failover; the next connection does not try the dead one. */
START_TEST(failover_to_second_proxy)
{
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	uint16_t dead_port;
	int dead = fake_refusing_port(&dead_port), app, proxy;
	char line[160];

	route_first(dead_port, false);
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "tok2"));
	snprintf(line, sizeof(line), "PROXY 127.0.0.1:%u failed (proxy unreachable: ", dead_port);
	ck_assert_msg(rig_log_has(line), "no failover line");
	snprintf(line, sizeof(line), "now via 127.0.0.1:%u (127.0.0.1:%u down)", rig.lport,
		 dead_port);
	ck_assert_msg(rig_log_has(line), "no failover line");
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	rig_expect_bytes(proxy, hello, hello_len);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);

	/* The next connection: the dead one, listening now, gets no connection attempt. */
	ck_assert_int_eq(listen(dead, 8), 0);
	close(app);
	close(proxy);
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "tok3"));
	ck_assert(!pending(dead));
	close(app);
	close(proxy);
	close(dead);
}
END_TEST

/* fallback = "direct": the proxy is dead, the connection goes to the destination itself. */
START_TEST(failover_to_direct)
{
	uint16_t dead_port;
	int dead = fake_refusing_port(&dead_port), app, dest;

	route_first(dead_port, true);
	app = rig_open(rig.lport, "hi", 2); /* the destination is the rig's listener */
	dest = rig_accept();
	rig_expect(dest, "hi"); /* no CONNECT, no token: the application's bytes */
	rig_send_str(dest, "there");
	rig_expect(app, "there");
	ck_assert(rig_log_has("now direct ("));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(dest);
	close(dead);
}
END_TEST

/* --- https proxies (issue 14): the same through a TLS terminator (fake_proxy.h) -------------- */

/* FNV-1a 64 over a stream, and the bytes of a stream: a digest both ends compute. */
static uint64_t digest(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void pattern(uint8_t *p, size_t n, size_t off, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((off + i) * 131 + seed + ((off + i) >> 12));
}

/* total bytes from one end to the other through the relay, the loop running: the digests of
 * what was sent and what arrived agree. */
static void stream(int from, int to, size_t total, uint8_t seed)
{
	static uint8_t out[16384], in[16384];
	uint64_t sent_digest = 0xcbf29ce484222325ull, got_digest = sent_digest;
	uint64_t end = kg_now_usec(CLOCK_MONOTONIC) + 20000000ull;
	size_t sent = 0, got = 0;
	ssize_t n;

	while (got < total) {
		ck_assert_msg(kg_now_usec(CLOCK_MONOTONIC) < end, "%zu of %zu bytes arrived", got,
			      total);
		if (sent < total) {
			size_t k = total - sent < sizeof(out) ? total - sent : sizeof(out);

			pattern(out, k, sent, seed);
			n = send(from, out, k, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				sent_digest = digest(sent_digest, out, (size_t)n);
				sent += (size_t)n;
			}
		}
		n = recv(to, in, sizeof(in), MSG_DONTWAIT);
		ck_assert_msg(n != 0, "the stream ended after %zu bytes", got);
		if (n > 0) {
			got_digest = digest(got_digest, in, (size_t)n);
			got += (size_t)n;
		}
		ck_assert_int_eq(kg_loop_pass(1), 0);
	}
	ck_assert_uint_eq(got, total);
	ck_assert_msg(sent_digest == got_digest, "the bytes changed on the way");
}

/* CONNECT, then bytes both ways (1 MiB each), then a half-close each way, all through TLS to the
 * proxy; the token never crossed the wire in clear. */
START_TEST(https_proxy_tunnel)
{
	uint16_t port = rig_tls_proxy("ip");
	struct rig_tls_report r;
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy;

	rig_tls_settings(port);
	proxy = connect_for_sni(&app, hello, &hello_len);
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\nSERVERHELLO");
	rig_expect(app, "SERVERHELLO");
	rig_expect_bytes(proxy, hello, hello_len);
	stream(app, proxy, 1u << 20, 1);
	stream(proxy, app, 1u << 20, 2);
	/* The application's FIN is close_notify to the proxy, whose answer still flows back. */
	ck_assert_int_eq(shutdown(app, SHUT_WR), 0);
	ck_assert(rig_eof_within(proxy, 5000));
	rig_send_str(proxy, "after your FIN");
	rig_expect(app, "after your FIN");
	/* The proxy's end (its close_notify) is the application's EOF. */
	close(proxy);
	ck_assert(rig_eof_within(app, 5000));
	close(app);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	r = rig_tls_reports(1);
	ck_assert_uint_eq(r.ok, 1);
	ck_assert_uint_eq(r.failed, 0);
	ck_assert(!r.clear_token);
}
END_TEST

/* The 407 rounds as over TCP: a sized 407 body is dropped from the TLS stream and the next
 * CONNECT goes on the same session; the 200's final token is checked, and the bytes that came
 * with it are the tunnel's. */
START_TEST(https_proxy_407_rounds)
{
	uint16_t port = rig_tls_proxy("ip");
	struct rig_tls_report r;
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy, p2;

	rig_tls_settings(port);
	proxy = connect_for_sni(&app, hello, &hello_len);
	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			    "Proxy-Authenticate: Negotiate cont1\r\nContent-Length: 4\r\n\r\ndeny");
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "next"));
	ck_assert(!rig_connection_pending());
	/* Not kept alive: the next round on a new TLS connection. */
	rig_send_str(proxy, "HTTP/1.1 407 Proxy Authentication Required\r\nConnection: close\r\n"
			    "Proxy-Authenticate: Negotiate cont2\r\nContent-Length: 0\r\n\r\n");
	p2 = rig_accept();
	rig_expect(p2, CONNECT_HEAD("www.example.org:443", "next"));
	rig_send_str(p2, "HTTP/1.1 200 Connection established\r\n"
			 "Proxy-Authenticate: Negotiate good\r\n\r\nSERVERHELLO");
	rig_expect(app, "SERVERHELLO");
	rig_expect_bytes(p2, hello, hello_len);
	close(app);
	close(proxy);
	close(p2);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	r = rig_tls_reports(2);
	ck_assert_uint_eq(r.ok, 2);
	ck_assert(!r.clear_token);
}
END_TEST

/* The proxy resets the TLS connection mid-transfer: the application's connection ends (its
 * own TLS inside sees the truncation), nothing is left behind. */
START_TEST(https_proxy_resets)
{
	uint16_t port = rig_tls_proxy("ip");
	uint8_t hello[512];
	size_t hello_len;
	int app, proxy;

	rig_tls_settings(port);
	proxy = connect_for_sni(&app, hello, &hello_len);
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\npart");
	rig_expect(app, "part");
	rig_expect_bytes(proxy, hello, hello_len);
	rig_send(proxy, RIG_TLS_RESET, RIG_TLS_RESET_LEN);
	ck_assert(rig_eof_within(app, 5000));
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_active, 0);
	close(app);
	close(proxy);
}
END_TEST

/* A proxy that demands a client certificate: refused without one (with TLS 1.3 the verdict
 * comes after our handshake, with the answer) with the sentence that says what to set; with
 * proxy.client_cert and proxy.client_key the tunnel opens. */
START_TEST(https_proxy_mtls)
{
	uint16_t port = rig_tls_proxy_mtls("ip");
	struct client_settings *set;
	struct rig_tls_report r;
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy;

	rig_tls_settings(port);
	app = rig_open(443, hello, hello_len);
	fails_with(app, "TLS handshake with the proxy failed: ");
	ck_assert(rig_log_has("proxy.client_cert and proxy.client_key"));
	close(app);
	ck_assert(!rig_connection_pending());

	set = rig_tls_settings(port);
	snprintf(set->cfg.proxy.client_cert, sizeof(set->cfg.proxy.client_cert), "%s",
		 rig_tls_file("client.pem"));
	snprintf(set->cfg.proxy.client_key, sizeof(set->cfg.proxy.client_key), "%s",
		 rig_tls_file("client.key"));
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "tok2"));
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	rig_expect_bytes(proxy, hello, hello_len);
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	r = rig_tls_reports(2);
	ck_assert_uint_eq(r.ok, 1);
	ck_assert_uint_eq(r.failed, 1);
	ck_assert(!r.clear_token);
}
END_TEST

/* A proxy whose certificate is for another name fails closed with its sentence: no tunnel, no
 * token on the wire, no clear-text retry of the same proxy. */
START_TEST(https_proxy_name_mismatch)
{
	uint16_t port = rig_tls_proxy("wrong");
	struct rig_tls_report r;
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app;

	rig_tls_settings(port);
	app = rig_open(443, hello, hello_len);
	fails_with(app, "proxy name mismatch (certificate for wrong.proxy.kgtest.test");
	ck_assert(!rig_connection_pending());
	close(app);
	r = rig_tls_reports(1);
	ck_assert_uint_eq(r.ok, 0);
	ck_assert_uint_eq(r.failed, 1);
	ck_assert(!r.clear_token);
}
END_TEST

/* The first https proxy of the list shows a certificate of a CA nobody trusts: the connection
 * goes through the second, and the token only ever went there, inside TLS. */
START_TEST(https_untrusted_fails_over)
{
	uint16_t bad = rig_tls_proxy("untrusted"), good = rig_tls_proxy("ip");
	struct client_settings *set = rig_tls_settings(bad);
	struct rig_tls_report r;
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	char head[1024];
	int app, proxy;

	set->route.e[0] = (struct kg_route_entry){.kind = KG_ROUTE_HTTPS, .port = bad};
	set->route.e[1] = (struct kg_route_entry){.kind = KG_ROUTE_HTTPS, .port = good};
	strcpy(set->route.e[0].host, "127.0.0.1");
	strcpy(set->route.e[1].host, "127.0.0.1");
	set->route.n = 2;
	snprintf(set->cfg.proxy.more_urls[0], KG_URL_MAX, "https://127.0.0.1:%u", good);
	set->cfg.proxy.n_more_urls = 1;
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	rig_read_head(proxy, head, sizeof(head));
	ck_assert_msg(strncmp(head, "CONNECT www.example.org:443 HTTP/1.1\r\n", 38) == 0, "%s",
		      head);
	ck_assert_ptr_nonnull(strstr(head, "\r\nProxy-Authorization: Negotiate tok"));
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	rig_expect_bytes(proxy, hello, hello_len);
	ck_assert(rig_log_has("proxy certificate not trusted"));
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	r = rig_tls_reports(2);
	ck_assert_uint_eq(r.ok, 1);
	ck_assert_uint_eq(r.failed, 1);
	ck_assert(!r.clear_token);
}
END_TEST

/* --- warm connections (warm.h): a fake pool hands out a connection made to the rig's proxy -- */

static struct {
	int taken, connected;
	bool empty;
} fake_warm;

static int fake_take(struct kg_client *cl, const struct warm_key *k, struct warm_handout *h)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(rig.lport)};
	int fd;

	(void)cl;
	memset(h, 0, sizeof(*h));
	h->fd = -1;
	ck_assert_str_eq(k->proxy_host, "127.0.0.1");
	if (fake_warm.empty)
		return 0;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0); /* as the pool's are */
	h->fd = fd;
	h->tok.token = strdup("warmtok");
	ck_assert_ptr_nonnull(h->tok.token);
	fake_warm.taken++;
	fake_warm.empty = true; /* one spare */
	return 1;
}

static void fake_connected(struct kg_client *cl, const struct warm_key *k)
{
	(void)cl;
	(void)k;
	fake_warm.connected++;
}

static void fake_flush(struct kg_client *cl, const char *why)
{
	(void)cl;
	(void)why;
}

static const struct warm_iface fake_iface = {
    .take = fake_take,
    .connected = fake_connected,
    .flush = fake_flush,
};

START_TEST(warm_connection_sends_connect_with_its_own_token)
{
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy;

	rig.cl.warm = &fake_iface;
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept(); /* the spare's other end */
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "warmtok"));
	ck_assert_int_eq(fake_warm.taken, 1);
	ck_assert_uint_eq(rig.jobs_submitted, 0); /* its token came with it */
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\nSERVERHELLO");
	rig_expect(app, "SERVERHELLO");
	rig_expect_bytes(proxy, hello, hello_len);
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	rig.cl.warm = NULL;
}
END_TEST

/* The proxy closed the warm connection as the CONNECT went out (its idle timeout, or the path
 * is gone): a new connection with a new token, not a failure, and never the same token twice. */
START_TEST(warm_connection_closed_before_answer_connects_anew)
{
	uint8_t hello[512];
	size_t hello_len = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy, proxy2;

	rig.cl.warm = &fake_iface;
	app = rig_open(443, hello, hello_len);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("www.example.org:443", "warmtok"));
	close(proxy);
	proxy2 = rig_accept(); /* a normal connect */
	rig_expect(proxy2, CONNECT_HEAD("www.example.org:443", "tok1"));
	ck_assert_int_eq(fake_warm.connected, 1); /* the pool hears the proxy answers */
	rig_send_str(proxy2, "HTTP/1.1 200 Connection established\r\n\r\nSERVERHELLO");
	rig_expect(app, "SERVERHELLO");
	rig_expect_bytes(proxy2, hello, hello_len);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(proxy2);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	rig.cl.warm = NULL;
}
END_TEST

/* The answer on a warm connection: a 407 is the proxy's answer, not a lost path. */
START_TEST(warm_connection_answered_is_not_retried)
{
	int app, proxy;

	rig.cl.warm = &fake_iface;
	app = rig_open(22, NULL, 0);
	proxy = rig_accept();
	rig_expect(proxy, CONNECT_HEAD("127.0.0.1:22", "warmtok"));
	rig_send_str(proxy, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	fails_with(app, "the proxy refused the connection to 127.0.0.1:22: 403 Forbidden");
	ck_assert(!rig_connection_pending());
	close(app);
	close(proxy);
	rig.cl.warm = NULL;
}
END_TEST

static Suite *tunnel_suite(void)
{
	Suite *s = suite_create("tunnel");
	TCase *tc = tcase_create("setup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, sni_names_target_and_200_opens_relay);
	tcase_add_test(tc, host_header_names_target);
	tcase_add_test(tc, silent_app_connects_by_ip_after_wait);
	tcase_add_test(tc, server_speaks_first_port);
	tcase_add_test(tc, proxy_407_fails);
	tcase_add_test(tc, proxy_403_refuses);
	tcase_add_test(tc, proxy_502_refuses);
	tcase_add_test(tc, proxy_silent_times_out);
	tcase_add_test(tc, proxy_unreachable);
	tcase_add_test(tc, no_ticket_then_407);
	tcase_add_test(tc, kerberos_answer_after_close);
	tcase_add_test(tc, direct_without_proxy);
	tcase_add_test(tc, failover_to_second_proxy);
	tcase_add_test(tc, failover_to_direct);
	tcase_add_test(tc, https_proxy_tunnel);
	tcase_add_test(tc, https_proxy_407_rounds);
	tcase_add_test(tc, https_proxy_mtls);
	tcase_add_test(tc, https_proxy_resets);
	tcase_add_test(tc, https_proxy_name_mismatch);
	tcase_add_test(tc, https_untrusted_fails_over);
	tcase_add_test(tc, warm_connection_sends_connect_with_its_own_token);
	tcase_add_test(tc, warm_connection_closed_before_answer_connects_anew);
	tcase_add_test(tc, warm_connection_answered_is_not_retried);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tunnel_suite());
	int failed;

	rig_tls_certs_make();
	srunner_run_all(sr, CK_ENV);
	rig_tls_certs_remove();
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
