/* Unit tests of WPAD from NetworkManager over D-Bus (src/client/route/nm_wpad.c): a private
 * dbus-daemon per test (in a temporary directory) and a fake NetworkManager written here with
 * sd-bus, a forked child that owns org.freedesktop.NetworkManager on that bus and answers
 * Properties.Get for PrimaryConnection, ActiveConnections, Dhcp4Config and Options as the
 * scenario of the test says (or never answers at all). The code under test finds the bus
 * through $DBUS_SYSTEM_BUS_ADDRESS. Both processes are killed by PID at the end of each test,
 * and die with the test process when it fails (PR_SET_PDEATHSIG).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "client/route/nm_wpad.h"
#include "tests/unit/dbus_rig.h"

#define NM_NAME	     "org.freedesktop.NetworkManager"
#define NM_PATH	     "/org/freedesktop/NetworkManager"
#define AC_PREFIX    "/org/freedesktop/NetworkManager/ActiveConnection/"
#define DHCP4_PREFIX "/org/freedesktop/NetworkManager/DHCP4Config/"
#define URL_A	     "http://wpad.corp.example.com/wpad.dat"
#define URL_B	     "https://pac.example.net/proxy.pac"
#define NCONN	     (KG_NM_WPAD_CONNECTIONS_MAX + 2)

struct fake_conn {
	bool no_dhcp;	  /* Dhcp4Config "/" */
	char wpad_type;	  /* 0: no "wpad" key; 's': a string; 'u': a number */
	const char *wpad; /* the string */
};

struct fake_nm {
	int primary; /* index of the primary connection, -1: "/" */
	size_t n;
	struct fake_conn c[NCONN];
	bool mute; /* owns the name, never answers */
};

static struct dbus_rig rig = DBUS_RIG_INIT; /* rig.server: the fake NetworkManager */

/* ---- processes ------------------------------------------------------------------------ */

static void start_daemon(void)
{
	dbus_rig_start_daemon(&rig);
	ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", rig.addr, 1), 0);
}

/* ---- the fake NetworkManager ------------------------------------------------------------ */

static const struct fake_nm *scenario;

static int conn_index(const char *path, const char *prefix)
{
	size_t k = strlen(prefix);
	char *end;
	long i;

	if (strncmp(path, prefix, k) != 0)
		return -1;
	i = strtol(path + k, &end, 10);
	if (*end || i < 0 || (size_t)i >= scenario->n)
		return -1;
	return (int)i;
}

static int append_reply(sd_bus_message *r, const char *path, const char *prop)
{
	char p[128];
	int i;

	if (!strcmp(path, NM_PATH) && !strcmp(prop, "PrimaryConnection")) {
		if (scenario->primary < 0)
			return sd_bus_message_append(r, "v", "o", "/");
		snprintf(p, sizeof(p), AC_PREFIX "%d", scenario->primary);
		return sd_bus_message_append(r, "v", "o", p);
	}
	if (!strcmp(path, NM_PATH) && !strcmp(prop, "ActiveConnections")) {
		if (sd_bus_message_open_container(r, 'v', "ao") < 0 ||
		    sd_bus_message_open_container(r, 'a', "o") < 0)
			return -ENOMEM;
		for (size_t k = 0; k < scenario->n; k++) {
			snprintf(p, sizeof(p), AC_PREFIX "%zu", k);
			if (sd_bus_message_append(r, "o", p) < 0)
				return -ENOMEM;
		}
		if (sd_bus_message_close_container(r) < 0)
			return -ENOMEM;
		return sd_bus_message_close_container(r);
	}
	i = conn_index(path, AC_PREFIX);
	if (i >= 0 && !strcmp(prop, "Dhcp4Config")) {
		if (scenario->c[i].no_dhcp)
			return sd_bus_message_append(r, "v", "o", "/");
		snprintf(p, sizeof(p), DHCP4_PREFIX "%d", i);
		return sd_bus_message_append(r, "v", "o", p);
	}
	i = conn_index(path, DHCP4_PREFIX);
	if (i >= 0 && !strcmp(prop, "Options")) {
		const struct fake_conn *c = &scenario->c[i];

		if (sd_bus_message_open_container(r, 'v', "a{sv}") < 0 ||
		    sd_bus_message_open_container(r, 'a', "{sv}") < 0 ||
		    sd_bus_message_append(r, "{sv}", "ip_address", "s", "192.168.122.50") < 0 ||
		    sd_bus_message_append(r, "{sv}", "domain_name", "s", "corp.example.com") < 0)
			return -ENOMEM;
		if (c->wpad_type == 's' &&
		    sd_bus_message_append(r, "{sv}", "wpad", "s", c->wpad) < 0)
			return -ENOMEM;
		if (c->wpad_type == 'u' && sd_bus_message_append(r, "{sv}", "wpad", "u", 42u) < 0)
			return -ENOMEM;
		if (sd_bus_message_append(r, "{sv}", "routers", "s", "192.168.122.1") < 0 ||
		    sd_bus_message_close_container(r) < 0)
			return -ENOMEM;
		return sd_bus_message_close_container(r);
	}
	return -ENOENT;
}

static int on_message(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	sd_bus_message *r = NULL;
	const char *iface, *prop, *path = sd_bus_message_get_path(m);
	int rc;

	(void)ud;
	(void)err;
	if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.Properties", "Get") || !path)
		return 0;
	if (sd_bus_message_read(m, "ss", &iface, &prop) < 0)
		return 0;
	if (sd_bus_message_new_method_return(m, &r) < 0)
		return 0;
	rc = append_reply(r, path, prop);
	if (rc < 0) {
		sd_bus_message_unref(r);
		sd_bus_reply_method_errorf(m, "org.freedesktop.DBus.Error.UnknownProperty",
					   "no %s on %s", prop, path);
		return 1;
	}
	sd_bus_send(NULL, r, NULL);
	sd_bus_message_unref(r);
	return 1;
}

static void fake_nm_main(void *arg, int ready)
{
	const struct fake_nm *s = arg;

	scenario = s;
	dbus_rig_serve(rig.addr, NM_NAME, on_message, s->mute, ready);
}

static void start_nm(const struct fake_nm *s)
{
	rig.server = dbus_rig_start_server(fake_nm_main, (void *)s);
}

static void setup(void)
{
	start_daemon();
}

static void teardown(void)
{
	dbus_rig_stop(&rig);
}

static void base_setup(void)
{
	dbus_rig_base_setup("/tmp/kg-nmwpad-XXXXXX");
}

static int ask(char *url, size_t sz)
{
	return kg_nm_wpad_url(KG_NM_WPAD_TIMEOUT_MS, url, sz);
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(primary_first)
{
	/* Both have one; the primary (listed second) wins. */
	static const struct fake_nm s = {
	    .primary = 1,
	    .n = 2,
	    .c = {{.wpad_type = 's', .wpad = URL_B}, {.wpad_type = 's', .wpad = URL_A}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_A);
}
END_TEST

START_TEST(secondary_only)
{
	static const struct fake_nm s = {
	    .primary = 0, .n = 2, .c = {{.wpad_type = 0}, {.wpad_type = 's', .wpad = URL_B}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_B);
}
END_TEST

START_TEST(no_primary)
{
	/* PrimaryConnection "/" (none): ActiveConnections alone. */
	static const struct fake_nm s = {
	    .primary = -1, .n = 1, .c = {{.wpad_type = 's', .wpad = URL_A}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_A);
}
END_TEST

START_TEST(dhcp4_none)
{
	/* Dhcp4Config "/" (a static address) holds nothing; the next connection is read. */
	static const struct fake_nm only = {
	    .primary = 0, .n = 1, .c = {{.no_dhcp = true, .wpad_type = 's', .wpad = URL_A}}};
	static const struct fake_nm then = {
	    .primary = 0,
	    .n = 2,
	    .c = {{.no_dhcp = true, .wpad_type = 's', .wpad = URL_A},
		  {.wpad_type = 's', .wpad = URL_B}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&only);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENOENT);
	dbus_rig_kill_wait(&rig.server, SIGKILL);
	start_nm(&then);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_B);
}
END_TEST

START_TEST(no_wpad_key)
{
	static const struct fake_nm s = {.primary = 0, .n = 1, .c = {{.wpad_type = 0}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENOENT);
	ck_assert_str_eq(url, "");
}
END_TEST

START_TEST(not_a_string)
{
	/* A number where the string belongs: refused, the secondary's is used. */
	static const struct fake_nm s = {
	    .primary = 0, .n = 2, .c = {{.wpad_type = 'u'}, {.wpad_type = 's', .wpad = URL_B}}};
	static const struct fake_nm only = {.primary = 0, .n = 1, .c = {{.wpad_type = 'u'}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_B);
	dbus_rig_kill_wait(&rig.server, SIGKILL);
	start_nm(&only);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENOENT);
}
END_TEST

START_TEST(too_long)
{
	static char longurl[KG_WPAD_URL_MAX + 64];
	static struct fake_nm s = {.primary = 0, .n = 1};
	char url[KG_WPAD_URL_MAX] = "";

	memcpy(longurl, "http://wpad.example.com/", 24);
	memset(longurl + 24, 'a', sizeof(longurl) - 25);
	longurl[sizeof(longurl) - 1] = '\0';
	s.c[0] = (struct fake_conn){.wpad_type = 's', .wpad = longurl};
	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENOENT);
	ck_assert_str_eq(url, "");
}
END_TEST

START_TEST(not_http)
{
	static const char *const bad[] = {"ftp://wpad.example.com/wpad.dat", "file:///etc/passwd",
					  "wpad.example.com/wpad.dat",	     "http://",
					  "http://wpad.example.com/a b",     ""};
	static struct fake_nm s = {.primary = 0, .n = 1};
	char url[KG_WPAD_URL_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.c[0] = (struct fake_conn){.wpad_type = 's', .wpad = bad[i]};
		start_nm(&s);
		url[0] = '\0';
		ck_assert_msg(ask(url, sizeof(url)) == -ENOENT, "accepted %s", bad[i]);
		dbus_rig_kill_wait(&rig.server, SIGKILL);
	}
}
END_TEST

START_TEST(trailing_nuls)
{
	/* NetworkManager escapes the NUL bytes a Windows server appends as "\000". */
	static const struct fake_nm s = {
	    .primary = 0, .n = 1, .c = {{.wpad_type = 's', .wpad = URL_A "\\000\\000"}}};
	static const struct fake_nm inside = {
	    .primary = 0,
	    .n = 1,
	    .c = {{.wpad_type = 's', .wpad = "http://wpad.example.com/\\000x"}}};
	char url[KG_WPAD_URL_MAX] = "";

	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_A);
	dbus_rig_kill_wait(&rig.server, SIGKILL);
	/* Only trailing ones are dropped: one inside stays, as the backslash it is. */
	start_nm(&inside);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, "http://wpad.example.com/\\000x");
}
END_TEST

START_TEST(bounded_connections)
{
	/* Only the connection past KG_NM_WPAD_CONNECTIONS_MAX has one: not read. */
	static struct fake_nm s = {.primary = -1, .n = KG_NM_WPAD_CONNECTIONS_MAX + 1};
	char url[KG_WPAD_URL_MAX] = "";

	s.c[KG_NM_WPAD_CONNECTIONS_MAX] = (struct fake_conn){.wpad_type = 's', .wpad = URL_A};
	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENOENT);
	dbus_rig_kill_wait(&rig.server, SIGKILL);
	/* The same one as the primary is read first. */
	s.primary = KG_NM_WPAD_CONNECTIONS_MAX;
	start_nm(&s);
	ck_assert_int_eq(ask(url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_A);
}
END_TEST

START_TEST(nm_absent)
{
	char url[KG_WPAD_URL_MAX] = "";

	/* The bus, without NetworkManager on it. */
	ck_assert_int_eq(ask(url, sizeof(url)), -ENXIO);
	/* No bus at all. */
	ck_assert_int_eq(setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/kg-bus", 1), 0);
	ck_assert_int_eq(ask(url, sizeof(url)), -ENXIO);
	ck_assert_str_eq(url, "");
}
END_TEST

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(never_answers)
{
	static const struct fake_nm s = {.primary = 0, .n = 1, .mute = true};
	char url[KG_WPAD_URL_MAX] = "";
	double t0, dt;

	start_nm(&s);
	t0 = mono_s();
	ck_assert_int_eq(kg_nm_wpad_url(500, url, sizeof(url)), -ETIMEDOUT);
	dt = mono_s() - t0;
	ck_assert_msg(dt >= 0.45 && dt < 1.5, "took %.3f s for a 500 ms bound", dt);
	t0 = mono_s();
	ck_assert_int_eq(ask(url, sizeof(url)), -ETIMEDOUT);
	dt = mono_s() - t0;
	ck_assert_msg(dt < KG_NM_WPAD_TIMEOUT_MS / 1000.0 + 1.0, "took %.3f s", dt);
}
END_TEST

START_TEST(candidates_order)
{
	/* NetworkManager's answer, then the lease file's, then the DNS walk. */
	static const struct fake_nm s = {
	    .primary = 0, .n = 1, .c = {{.wpad_type = 's', .wpad = URL_B}}};
	/* "http://lease.example.org/wpad.dat" */
	static const char lease[] =
	    "OPTION_252=687474703a2f2f6c656173652e6578616d706c652e6f72672f777061642e646174\n";
	char leases[128], resolv[128], path[160];
	struct kg_wpad_candidates *c = malloc(sizeof(*c));
	struct kg_wpad_dirs dirs = {.networkd = leases};
	FILE *f;

	ck_assert_ptr_nonnull(c);
	snprintf(leases, sizeof(leases), "%s/leases", rig.dir);
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", rig.dir);
	ck_assert_int_eq(mkdir(leases, 0700), 0);
	snprintf(path, sizeof(path), "%s/2", leases);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(lease, f);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(resolv, "w"));
	fputs("search corp.example.com\n", f);
	fclose(f);

	start_nm(&s);
	kg_nm_wpad_candidates(KG_NM_WPAD_TIMEOUT_MS, &dirs, resolv, 0, c);
	ck_assert_uint_eq(c->n, 4);
	ck_assert_str_eq(c->url[0], URL_B);
	ck_assert_str_eq(c->url[1], "http://lease.example.org/wpad.dat");
	ck_assert_str_eq(c->url[2], URL_A);
	ck_assert_str_eq(c->url[3], "http://wpad.example.com/wpad.dat");
	/* Not asked (timeout 0), or not there: the rest as before. */
	kg_nm_wpad_candidates(0, &dirs, resolv, 0, c);
	ck_assert_uint_eq(c->n, 3);
	ck_assert_str_eq(c->url[0], "http://lease.example.org/wpad.dat");
	dbus_rig_kill_wait(&rig.server, SIGKILL);
	kg_nm_wpad_candidates(KG_NM_WPAD_TIMEOUT_MS, &dirs, resolv, 0, c);
	ck_assert_uint_eq(c->n, 3);
	ck_assert_str_eq(c->url[0], "http://lease.example.org/wpad.dat");
	ck_assert_str_eq(c->url[1], URL_A);

	unlink(path);
	rmdir(leases);
	unlink(resolv);
	free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("nm_wpad");
	TCase *tc = tcase_create("dbus");

	tcase_add_unchecked_fixture(tc, base_setup, dbus_rig_base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, primary_first);
	tcase_add_test(tc, secondary_only);
	tcase_add_test(tc, no_primary);
	tcase_add_test(tc, dhcp4_none);
	tcase_add_test(tc, no_wpad_key);
	tcase_add_test(tc, not_a_string);
	tcase_add_test(tc, too_long);
	tcase_add_test(tc, not_http);
	tcase_add_test(tc, trailing_nuls);
	tcase_add_test(tc, bounded_connections);
	tcase_add_test(tc, nm_absent);
	tcase_add_test(tc, never_answers);
	tcase_add_test(tc, candidates_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
