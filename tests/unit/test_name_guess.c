/* The CONNECT sent before the ClientHello (name_guess.c and tunnel.c, issue 15): on a TLS port
 * whose address the user's last two connections reached under one name, a new connection's
 * CONNECT goes out under that name at once, and its tunnel carries nothing until the ClientHello
 * has confirmed the name. What a user relies on: it is faster (the CONNECT does not wait for the
 * application), and it never changes where the bytes go: another name, no name, no ClientHello
 * within the sniff wait, or a proxy that refuses the guess each give a tunnel under what the
 * application really named, with no failure counted and nothing sent on the guessed tunnel.
 *
 * The table alone first (streak, expiry, slots shared by hash), then tunnel.c through the real
 * event core against the scripted fake proxy (fake_proxy.h), as in test_tunnel.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/name_guess.h"
#include "client/tunnel.h"
#include "shared/netutil.h"
#include "tests/unit/fake_proxy.h"

#define SEC 1000000ull

static const uint8_t ip_a[16] = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 1};
static const uint8_t ip_b[16] = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 2};

/* --- the table ------------------------------------------------------------------------------ */

static void clear_only(void)
{
	name_guess_clear();
}

START_TEST(guess_after_two_alike)
{
	char buf[64] = "";

	ck_assert_int_eq(name_guess_get(ip_a, 443, 1 * SEC, buf, sizeof(buf)), 0);
	name_guess_note(ip_a, 443, "www.example.org", 1 * SEC);
	ck_assert_int_eq(name_guess_get(ip_a, 443, 2 * SEC, buf, sizeof(buf)), 0);
	name_guess_note(ip_a, 443, "www.example.org", 2 * SEC);
	ck_assert_int_eq(name_guess_get(ip_a, 443, 3 * SEC, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "www.example.org");
	/* Another port or address of the same name: nothing. */
	ck_assert_int_eq(name_guess_get(ip_a, 8443, 3 * SEC, buf, sizeof(buf)), 0);
	ck_assert_int_eq(name_guess_get(ip_b, 443, 3 * SEC, buf, sizeof(buf)), 0);
	ck_assert_uint_eq(name_guess_stats()->offered, 1);
}
END_TEST

START_TEST(other_name_resets_streak)
{
	char buf[64];

	name_guess_note(ip_a, 443, "a.example", 1 * SEC);
	name_guess_note(ip_a, 443, "a.example", 2 * SEC);
	name_guess_note(ip_a, 443, "b.example", 3 * SEC);
	ck_assert_int_eq(name_guess_get(ip_a, 443, 4 * SEC, buf, sizeof(buf)), 0);
	name_guess_note(ip_a, 443, "b.example", 5 * SEC);
	ck_assert_int_eq(name_guess_get(ip_a, 443, 6 * SEC, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "b.example");
	/* A connection that named nothing (an IP-literal TLS client) ends the guessing. */
	name_guess_note(ip_a, 443, "", 7 * SEC);
	name_guess_note(ip_a, 443, "", 8 * SEC);
	ck_assert_int_eq(name_guess_get(ip_a, 443, 9 * SEC, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(old_names_expire)
{
	char buf[64];

	name_guess_note(ip_a, 443, "a.example", 1 * SEC);
	name_guess_note(ip_a, 443, "a.example", 2 * SEC);
	ck_assert_int_eq(
	    name_guess_get(ip_a, 443, (2 + NAME_GUESS_TTL_SEC) * SEC, buf, sizeof(buf)), 1);
	ck_assert_int_eq(
	    name_guess_get(ip_a, 443, (3 + NAME_GUESS_TTL_SEC) * SEC, buf, sizeof(buf)), 0);
	/* A note after the expiry starts a new streak. */
	name_guess_note(ip_a, 443, "a.example", (4 + NAME_GUESS_TTL_SEC) * SEC);
	ck_assert_int_eq(
	    name_guess_get(ip_a, 443, (5 + NAME_GUESS_TTL_SEC) * SEC, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(slots_are_bounded_and_never_mix_addresses)
{
	uint8_t ip[16] = {[10] = 0xff, [11] = 0xff, 198, 51, 100, 0};
	char name[32], buf[64];
	unsigned i, guessed = 0;

	/* Four times as many addresses as slots, each named twice: the table stays its size and
	 * every guess it still gives is the name of that very address. */
	for (i = 0; i < 4 * NAME_GUESS_SLOTS; i++) {
		ip[14] = (uint8_t)(i >> 8);
		ip[15] = (uint8_t)i;
		snprintf(name, sizeof(name), "h%u.example", i);
		name_guess_note(ip, 443, name, 1 * SEC);
		name_guess_note(ip, 443, name, 1 * SEC);
	}
	for (i = 0; i < 4 * NAME_GUESS_SLOTS; i++) {
		ip[14] = (uint8_t)(i >> 8);
		ip[15] = (uint8_t)i;
		snprintf(name, sizeof(name), "h%u.example", i);
		if (name_guess_get(ip, 443, 2 * SEC, buf, sizeof(buf))) {
			ck_assert_str_eq(buf, name);
			guessed++;
		}
	}
	ck_assert_uint_gt(guessed, 0);
	ck_assert_uint_le(guessed, NAME_GUESS_SLOTS);
	/* A buffer too small for the name gives no guess rather than a cut one. */
	ck_assert_int_eq(name_guess_get(ip, 443, 2 * SEC, buf, 4), 0);
}
END_TEST

/* --- through tunnel.c ----------------------------------------------------------------------- */

static unsigned tokens; /* tokN of the fake worker: N counts token jobs from 1 */

static void setup(void)
{
	name_guess_clear();
	tokens = 0;
	rig_setup(KG_PROXY_HTTP, &tunnel_conn_ops);
}

static void teardown(void)
{
	rig_teardown();
}

/* The next CONNECT on proxy names target:443 with the next token. */
static void expect_connect(int proxy, const char *host)
{
	char head[512];

	snprintf(head, sizeof(head),
		 "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n"
		 "Proxy-Authorization: Negotiate tok%u\r\n\r\n",
		 host, host, ++tokens);
	rig_expect(proxy, head);
}

/* Nothing arrives on fd within ms (the loop runs meanwhile). */
static bool quiet_for(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	rig_run_for(ms);
	return poll(&p, 1, 0) == 0;
}

/* A whole connection for host:443 the usual way (ClientHello first, then the CONNECT): the
 * table learns the name once more. */
static void connection_named(const char *host)
{
	uint8_t hello[512];
	size_t n = rig_client_hello(host, hello, sizeof(hello));
	int app = rig_open(443, hello, n);
	int proxy = rig_accept();

	expect_connect(proxy, host);
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	rig_expect_bytes(proxy, hello, n);
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
}

/* After two connections named host, one with no first bytes yet: its CONNECT goes out under
 * host at once. Its two ends, the proxy's answer not sent. */
static int open_unanswered(const char *host, int *proxy)
{
	int app;

	connection_named(host);
	connection_named(host);
	app = rig_open(443, NULL, 0);
	*proxy = rig_accept();
	expect_connect(*proxy, host); /* before the application said anything */
	return app;
}

/* The same, with the proxy's 200 sent. */
static int open_guessed(const char *host, int *proxy)
{
	int app = open_unanswered(host, proxy);

	rig_send_str(*proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	return app;
}

/* The tunnel carries hello from app to proxy, and an answer back. */
static void tunnel_works(int app, int proxy, const uint8_t *hello, size_t n)
{
	rig_expect_bytes(proxy, hello, n);
	rig_send_str(proxy, "SERVERHELLO");
	rig_expect(app, "SERVERHELLO");
}

START_TEST(connect_goes_before_the_hello)
{
	uint8_t hello[512];
	size_t n = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy;

	connection_named("www.example.org");
	/* One connection is not yet a pattern: the second one's CONNECT waits for its hello. */
	app = rig_open(443, NULL, 0);
	proxy = rig_accept();
	ck_assert_msg(quiet_for(proxy, 100), "a CONNECT went out on one connection's evidence");
	rig_send(app, hello, n);
	expect_connect(proxy, "www.example.org");
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	tunnel_works(app, proxy, hello, n);
	close(app);
	close(proxy);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));

	/* The third goes out at once; its tunnel waits for the hello, then carries it. */
	app = rig_open(443, NULL, 0);
	proxy = rig_accept();
	expect_connect(proxy, "www.example.org");
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	ck_assert_msg(quiet_for(proxy, 50), "bytes on the tunnel before the hello");
	rig_send(app, hello, n);
	tunnel_works(app, proxy, hello, n);
	ck_assert_uint_eq(name_guess_stats()->right, 1);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(proxy);
}
END_TEST

/* The hello names other.example after the CONNECT under the guess www.example.org went out
 * (answered: the proxy's 200 too): the guessed tunnel is closed within eof_ms with nothing sent
 * on it, and a new one for the real name carries the hello; no failure is counted. */
static void other_name_after_guess(bool answered, int eof_ms)
{
	uint8_t hello[512];
	size_t n = rig_client_hello("other.example", hello, sizeof(hello));
	int app, guessed, proxy;

	app = answered ? open_guessed("www.example.org", &guessed)
		       : open_unanswered("www.example.org", &guessed);
	rig_send(app, hello, n);
	ck_assert(rig_eof_within(guessed, eof_ms));
	proxy = rig_accept();
	expect_connect(proxy, "other.example");
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	tunnel_works(app, proxy, hello, n);
	ck_assert_uint_eq(name_guess_stats()->wrong, 1);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(proxy);
	close(guessed);
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
}

START_TEST(wrong_guess_asks_again)
{
	int app, proxy;

	other_name_after_guess(true, 5000);
	/* other.example once is not a pattern yet: the next CONNECT waits again. */
	app = rig_open(443, NULL, 0);
	proxy = rig_accept();
	ck_assert(quiet_for(proxy, 100));
	close(app);
	close(proxy);
}
END_TEST

START_TEST(refused_guess_asks_again)
{
	uint8_t hello[512];
	size_t n = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, guessed, proxy;

	app = open_unanswered("www.example.org", &guessed);
	rig_send_str(guessed, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	/* Not a failure for the application: asked again once it names its host. */
	proxy = rig_accept();
	ck_assert(quiet_for(proxy, 50));
	rig_send(app, hello, n);
	expect_connect(proxy, "www.example.org");
	rig_send_str(proxy, "HTTP/1.1 200 Connection established\r\n\r\n");
	tunnel_works(app, proxy, hello, n);
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	ck_assert_uint_eq(name_guess_stats()->wrong, 1);
	close(app);
	close(proxy);
	close(guessed);
}
END_TEST

START_TEST(silent_app_after_guess_goes_by_ip)
{
	uint64_t t0 = kg_now_usec(CLOCK_MONOTONIC);
	int app, guessed, proxy;

	app = open_guessed("www.example.org", &guessed);
	/* Nothing within the sniff wait: the guess cannot be confirmed; by IP, as without it. */
	ck_assert(rig_eof_within(guessed, 5000));
	ck_assert_uint_ge(kg_now_usec(CLOCK_MONOTONIC) - t0,
			  CLIENT_SNIFF_WAIT_MS * 1000ull - 20000);
	proxy = rig_accept();
	expect_connect(proxy, "127.0.0.1");
	rig_send_str(proxy, "HTTP/1.1 200 OK\r\n\r\n");
	rig_send_str(app, "late hello");
	rig_expect(proxy, "late hello");
	ck_assert_uint_eq(rig.cl.tunnels_failed, 0);
	close(app);
	close(proxy);
	close(guessed);
}
END_TEST

START_TEST(other_name_does_not_wait_for_the_guess_answer)
{
	/* The proxy is still busy with the guess (Squid answers once it reached the host) when the
	 * hello names another: that tunnel is dropped at once, not after request_timeout. */
	other_name_after_guess(false, 1000);
}
END_TEST

START_TEST(confirmed_guess_refused_is_final)
{
	uint8_t hello[512];
	size_t n = rig_client_hello("www.example.org", hello, sizeof(hello));
	int app, proxy;

	app = open_unanswered("www.example.org", &proxy);
	/* The hello confirms the name before the answer: a refusal is the answer to the name the
	 * application asked for, reported as without a guess, and not asked twice. */
	rig_send(app, hello, n);
	rig_run_for(50);
	rig_send_str(proxy, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
	ck_assert(rig_eof_within(app, 5000));
	ck_assert(rig_run_until(rig_no_conns, NULL, 1000));
	ck_assert(rig_log_has("failed: the proxy refused the connection to www.example.org:443"));
	ck_assert_uint_eq(rig.cl.tunnels_failed, 1);
	ck_assert_uint_eq(name_guess_stats()->right, 1);
	ck_assert(!rig_connection_pending());
	close(app);
	close(proxy);
}
END_TEST

START_TEST(app_leaving_while_held_closes)
{
	int app, guessed;

	app = open_guessed("www.example.org", &guessed);
	close(app);
	ck_assert(rig_eof_within(guessed, 5000));
	ck_assert(rig_run_until(rig_no_conns, NULL, 5000));
	close(guessed);
}
END_TEST

static Suite *name_guess_suite(void)
{
	Suite *s = suite_create("name_guess");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, clear_only, NULL);
	tcase_add_test(tc, guess_after_two_alike);
	tcase_add_test(tc, other_name_resets_streak);
	tcase_add_test(tc, old_names_expire);
	tcase_add_test(tc, slots_are_bounded_and_never_mix_addresses);
	suite_add_tcase(s, tc);
	tc = tcase_create("tunnel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, connect_goes_before_the_hello);
	tcase_add_test(tc, wrong_guess_asks_again);
	tcase_add_test(tc, refused_guess_asks_again);
	tcase_add_test(tc, silent_app_after_guess_goes_by_ip);
	tcase_add_test(tc, other_name_does_not_wait_for_the_guess_answer);
	tcase_add_test(tc, confirmed_guess_refused_is_final);
	tcase_add_test(tc, app_leaving_while_held_closes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(name_guess_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
