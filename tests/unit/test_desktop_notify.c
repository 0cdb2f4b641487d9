/* Unit tests of the desktop notices of the Kerberos ticket (src/client/desktop_notify.c): a
 * private dbus-daemon per test (in a temporary directory) and a recording notification server
 * written here with sd-bus, a forked child that owns org.freedesktop.Notifications on that bus,
 * writes one line per Notify or CloseNotification call to a file and answers (or, muted, never
 * answers). The code under test finds the bus through $DBUS_SESSION_BUS_ADDRESS or
 * $XDG_RUNTIME_DIR/bus. Both processes are killed by PID at the end of each test, and die with
 * the test process when it fails (PR_SET_PDEATHSIG).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/negotiate.h"
#include "client/desktop_notify.h"
#include "tests/unit/dbus_rig.h"

#define DN_NAME "org.freedesktop.Notifications"
#define WARN	600
#define MAXREC	8

static struct dbus_rig rig = DBUS_RIG_INIT;
static char record[192]; /* the server's record, in rig.dir */

/* ---- processes ------------------------------------------------------------------------ */

static void start_daemon(void)
{
	dbus_rig_start_daemon(&rig);
	snprintf(record, sizeof(record), "%s/record", rig.dir);
	ck_assert_int_eq(setenv("DBUS_SESSION_BUS_ADDRESS", rig.addr, 1), 0);
	ck_assert_int_eq(unsetenv("XDG_RUNTIME_DIR"), 0);
}

/* ---- the recording notification server --------------------------------------------------- */

static FILE *rec;
static uint32_t next_id = 1;

/* One line per call: "notify <replaces_id> <urgency> <expire>|<summary>|<body>" or
 * "close <id>". */
static int on_message(sd_bus_message *m, void *ud, sd_bus_error *err)
{
	const char *app, *icon, *summary, *body, *key;
	uint32_t replaces, id;
	uint8_t urgency = 0;
	int32_t expire;
	int r;

	(void)ud;
	(void)err;
	if (sd_bus_message_is_method_call(m, DN_NAME, "CloseNotification")) {
		if (sd_bus_message_read(m, "u", &id) < 0)
			return 0;
		fprintf(rec, "close %u\n", id);
		fflush(rec);
		sd_bus_reply_method_return(m, NULL);
		return 1;
	}
	if (!sd_bus_message_is_method_call(m, DN_NAME, "Notify"))
		return 0;
	if (sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body) < 0 ||
	    sd_bus_message_skip(m, "as") < 0 || sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
		return 0;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if (sd_bus_message_read(m, "s", &key) < 0)
			return 0;
		if (!strcmp(key, "urgency"))
			r = sd_bus_message_read(m, "v", "y", &urgency);
		else
			r = sd_bus_message_skip(m, "v");
		if (r < 0 || sd_bus_message_exit_container(m) < 0)
			return 0;
	}
	if (sd_bus_message_exit_container(m) < 0 || sd_bus_message_read(m, "i", &expire) < 0)
		return 0;
	fprintf(rec, "notify %u %u %d|%s|%s|%s\n", replaces, urgency, expire, app, summary, body);
	fflush(rec);
	sd_bus_reply_method_return(m, "u", next_id++);
	return 1;
}

static void server_main(void *arg, int ready)
{
	rec = fopen(record, "ae");
	if (!rec) {
		(void)!write(ready, "E", 1);
		_exit(1);
	}
	dbus_rig_serve(rig.addr, DN_NAME, on_message, *(const bool *)arg, ready);
}

static void start_server(bool mute)
{
	rig.server = dbus_rig_start_server(server_main, &mute);
}

static void setup(void)
{
	start_daemon();
	desktop_notify_set_enabled(true);
	desktop_notify_reset();
}

static void teardown(void)
{
	dbus_rig_stop(&rig);
}

static void base_setup(void)
{
	dbus_rig_base_setup("/tmp/kg-dnotify-XXXXXX");
}

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Until the notice's thread is done (within timeout_ms). */
static void settle(int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	while (desktop_notify_busy()) {
		ck_assert_msg(mono_ms() < end, "the notice's call is still busy");
		usleep(10000);
	}
}

/* The recorded lines into lines (up to MAXREC); their count. */
static int recorded(char lines[MAXREC][1024])
{
	FILE *f = fopen(record, "re");
	int n = 0;

	if (!f)
		return 0;
	while (n < MAXREC && fgets(lines[n], 1024, f)) {
		lines[n][strcspn(lines[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	return n;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static struct negotiate_ticket ticket(time_t end)
{
	struct negotiate_ticket tk = {.has_tgt = true, .tgt_end = end};

	snprintf(tk.principal, sizeof(tk.principal), "alice@EXAMPLE.COM");
	return tk;
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(classify)
{
	time_t now = 1000000;
	struct negotiate_ticket tk = ticket(now - 1), no_tgt = ticket(now + 3600);

	no_tgt.has_tgt = false;
	ck_assert_int_eq(desktop_notify_classify(NULL, now, WARN), DESKTOP_NOTIFY_MISSING);
	ck_assert_int_eq(desktop_notify_classify(&no_tgt, now, WARN), DESKTOP_NOTIFY_MISSING);
	ck_assert_int_eq(desktop_notify_classify(&tk, now, WARN), DESKTOP_NOTIFY_EXPIRED);
	tk.tgt_end = now;
	ck_assert_int_eq(desktop_notify_classify(&tk, now, 0), DESKTOP_NOTIFY_EXPIRED);
	tk.tgt_end = now + WARN - 1;
	ck_assert_int_eq(desktop_notify_classify(&tk, now, WARN), DESKTOP_NOTIFY_EXPIRING);
	ck_assert_int_eq(desktop_notify_classify(&tk, now, 0), DESKTOP_NOTIFY_NONE);
	tk.tgt_end = now + WARN;
	ck_assert_int_eq(desktop_notify_classify(&tk, now, WARN), DESKTOP_NOTIFY_NONE);
}
END_TEST

/* An expired ticket: one notice naming kinit; the next report none; then a ticket that ends
 * within warn_before: one "expires in" notice replacing the first. */
START_TEST(expired_once_then_expiring)
{
	char l[MAXREC][1024];
	time_t now = time(NULL);
	struct negotiate_ticket old = ticket(now - 60), soon = ticket(now + 5 * 60);

	start_server(false);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 100, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 1);
	ck_assert_msg(starts(l[0], "notify 0 2 0|KernelGatekeeper|Kerberos ticket expired|"), "%s",
		      l[0]);
	ck_assert_ptr_nonnull(strstr(l[0], "(alice@EXAMPLE.COM) has expired"));
	ck_assert_ptr_nonnull(strstr(l[0], "until you run kinit."));

	/* The next report (a minute later): the same state, no second notice. */
	ck_assert_int_eq(desktop_notify_ticket(&old, now + 60, 160, WARN), DESKTOP_NOTIFY_SAME);
	ck_assert(!desktop_notify_busy());
	usleep(200000);
	ck_assert_int_eq(recorded(l), 1);

	ck_assert_int_eq(desktop_notify_ticket(&soon, now, 220, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 2);
	/* It replaces notice 1, the server's id of the first. */
	ck_assert_msg(starts(l[1], "notify 1 1 -1|"), "%s", l[1]);
	ck_assert_ptr_nonnull(strstr(l[1], "expires in 5 min"));
	ck_assert_ptr_nonnull(strstr(l[1], "kinit"));
	ck_assert_int_eq(desktop_notify_ticket(&soon, now + 60, 280, WARN), DESKTOP_NOTIFY_SAME);
}
END_TEST

/* A new end time within warn_before is a new state, but one notice of a kind per 10 min. */
START_TEST(rate_limited)
{
	char l[MAXREC][1024];
	time_t now = time(NULL);
	struct negotiate_ticket a = ticket(now + 5 * 60), b = ticket(now + 8 * 60);

	start_server(false);
	ck_assert_int_eq(desktop_notify_ticket(&a, now, 1000, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(desktop_notify_ticket(&b, now, 1000 + DESKTOP_NOTIFY_RATE_S - 1, WARN),
			 DESKTOP_NOTIFY_RATE_LIMITED);
	ck_assert_int_eq(recorded(l), 1);
	ck_assert_int_eq(desktop_notify_ticket(&b, now, 1000 + DESKTOP_NOTIFY_RATE_S, WARN),
			 DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 2);
	ck_assert_ptr_nonnull(strstr(l[1], "expires in 8 min"));
}
END_TEST

/* The ticket came back: the notice is closed and the rate limit forgotten. */
START_TEST(renewed_closes)
{
	char l[MAXREC][1024];
	time_t now = time(NULL);
	struct negotiate_ticket old = ticket(now - 1), fresh = ticket(now + 10 * 3600);

	start_server(false);
	ck_assert_int_eq(desktop_notify_ticket(NULL, now, 50, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 1);
	ck_assert_ptr_nonnull(strstr(l[0], "|No Kerberos ticket|You have no Kerberos ticket; web "
					   "access through the proxy fails until you run kinit."));
	ck_assert_int_eq(desktop_notify_ticket(&fresh, now, 60, WARN), DESKTOP_NOTIFY_CLOSED);
	settle(10000);
	ck_assert_int_eq(recorded(l), 2);
	ck_assert_str_eq(l[1], "close 1");
	ck_assert_int_eq(desktop_notify_ticket(&fresh, now, 70, WARN), DESKTOP_NOTIFY_NOTHING);
	/* Missing again at once: noticed again (the renewal reset the rate limit), as a new
	 * notice. */
	ck_assert_int_eq(desktop_notify_ticket(NULL, now, 80, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 90, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 4);
	ck_assert_msg(starts(l[2], "notify 0 "), "%s", l[2]);
	ck_assert_msg(starts(l[3], "notify 2 "), "%s", l[3]);
}
END_TEST

/* No session bus: nothing sent, nothing started, no crash (a debug line in the log). */
START_TEST(no_bus)
{
	time_t now = time(NULL);
	struct negotiate_ticket old = ticket(now - 1);

	ck_assert_int_eq(unsetenv("DBUS_SESSION_BUS_ADDRESS"), 0);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 10, WARN), DESKTOP_NOTIFY_NO_BUS);
	ck_assert(!desktop_notify_busy());
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 20, WARN), DESKTOP_NOTIFY_NO_BUS);
	/* A runtime directory without a bus in it is no bus either. */
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", dbus_rig_base, 1), 0);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 30, WARN), DESKTOP_NOTIFY_NO_BUS);
	/* Turned off (a relay without a session): never. */
	ck_assert_int_eq(setenv("DBUS_SESSION_BUS_ADDRESS", rig.addr, 1), 0);
	desktop_notify_set_enabled(false);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 40, WARN), DESKTOP_NOTIFY_NO_BUS);
	ck_assert(!desktop_notify_busy());
}
END_TEST

/* $XDG_RUNTIME_DIR/bus when $DBUS_SESSION_BUS_ADDRESS is not set. */
START_TEST(runtime_dir_bus)
{
	char l[MAXREC][1024];
	time_t now = time(NULL);
	struct negotiate_ticket old = ticket(now - 1);

	start_server(false);
	ck_assert_int_eq(unsetenv("DBUS_SESSION_BUS_ADDRESS"), 0);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", rig.dir, 1), 0);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 10, WARN), DESKTOP_NOTIFY_SENT);
	settle(10000);
	ck_assert_int_eq(recorded(l), 1);
}
END_TEST

/* A server that never answers costs the caller nothing: the call returns at once, the thread
 * gives up at its deadline, and meanwhile a new state waits for the next report. */
START_TEST(never_answers)
{
	time_t now = time(NULL);
	struct negotiate_ticket old = ticket(now - 1);
	uint64_t t0;

	start_server(true);
	t0 = mono_ms();
	ck_assert_int_eq(desktop_notify_ticket(NULL, now, 10, WARN), DESKTOP_NOTIFY_SENT);
	ck_assert_uint_lt(mono_ms() - t0, 100);
	ck_assert(desktop_notify_busy());
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 20, WARN), DESKTOP_NOTIFY_BUSY);
	t0 = mono_ms();
	settle(DESKTOP_NOTIFY_TIMEOUT_MS + 3000);
	ck_assert_uint_gt(mono_ms() - t0, DESKTOP_NOTIFY_TIMEOUT_MS / 2);
	ck_assert_int_eq(desktop_notify_ticket(&old, now, 30, WARN), DESKTOP_NOTIFY_SENT);
	settle(DESKTOP_NOTIFY_TIMEOUT_MS + 3000);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("desktop_notify");
	TCase *tc = tcase_create("dbus");

	tcase_add_unchecked_fixture(tc, base_setup, dbus_rig_base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, classify);
	tcase_add_test(tc, expired_once_then_expiring);
	tcase_add_test(tc, rate_limited);
	tcase_add_test(tc, renewed_closes);
	tcase_add_test(tc, no_bus);
	tcase_add_test(tc, runtime_dir_bus);
	tcase_add_test(tc, never_answers);
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
