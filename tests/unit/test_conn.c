/* Unit tests for the connection layer (src/client/conn.c) with the real loop and pump, on
 * socketpairs: a fake set-up table stands in for tunnel.c (its start, events, timer, Kerberos
 * answer and free are recorded), fake jobs for the Kerberos worker and fake settings for the
 * service's. Covered: open -> relay in both directions -> close on both FINs; open -> linger ->
 * close on the app's FIN or after CONN_LINGER_USEC (the loop's clock is a variable here); the
 * set-up timer armed, cancelled and expired; the ready list; an event already fetched for a
 * connection closed in the same pass; a Kerberos answer for a closed connection; descriptor
 * and tunnel counts back to 0.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/conn.h"

/* --- stand-ins for the modules conn.c is linked with in the program ----------------------------
 */

static int settings_refs, jobs_freed;

struct client_settings *client_settings_ref(struct client_settings *set)
{
	settings_refs++;
	return set;
}

void client_settings_unref(struct client_settings *set)
{
	if (set)
		settings_refs--;
}

void authq_job_free(struct auth_job *job)
{
	if (!job)
		return;
	jobs_freed++;
	free(job);
}

/* --- the fake set-up table ---------------------------------------------------------------------
 */

static struct {
	int start, app, upstream, timer, auth, free;
	bool close_on_app;    /* on_app closes the connection */
	uint64_t timer_at;    /* start arms the timer here (0: no timer) */
	struct auth_job *job; /* the job "queued" for the connection, NULL: none */
} fake;

static void fake_start(struct kg_client *cl, struct relay_conn *c)
{
	fake.start++;
	c->state = CONN_SNIFF;
	c->setup = malloc(64); /* something for free to release */
	ck_assert_ptr_nonnull(c->setup);
	if (fake.timer_at)
		relay_set_timer(cl, c, fake.timer_at);
}

static void fake_on_app(struct kg_client *cl, struct relay_conn *c)
{
	ck_assert(!c->dead);
	fake.app++;
	if (fake.close_on_app)
		relay_conn_close(cl, c, false);
}

static void fake_on_upstream(struct kg_client *cl, struct relay_conn *c)
{
	(void)cl;
	ck_assert(!c->dead);
	fake.upstream++;
}

static void fake_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	(void)cl;
	ck_assert(!c->dead);
	fake.timer++;
}

static void fake_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job)
{
	(void)cl;
	(void)c;
	fake.auth++;
	fake.job = NULL;
	authq_job_free(job);
}

/* As tunnel.c: a job still pending is detached (authq_cancel): its answer is dropped. */
static void fake_free(struct relay_conn *c)
{
	fake.free++;
	free(c->setup);
	c->setup = NULL;
	if (fake.job)
		fake.job->done = NULL;
}

static const struct conn_ops fake_ops = {
    .start = fake_start,
    .on_app = fake_on_app,
    .on_upstream = fake_on_upstream,
    .on_timer = fake_on_timer,
    .on_auth = fake_on_auth,
    .free = fake_free,
};

static const struct conn_ops *way_out(struct kg_client *cl, const struct relay_conn *c)
{
	(void)cl;
	(void)c;
	return &fake_ops;
}

/* The worker hands a finished job back (authq_on_ready()): to done, or dropped. */
static void job_complete(struct kg_client *cl, struct auth_job *job)
{
	if (job->done)
		job->done(cl, job);
	else
		authq_job_free(job);
}

static struct auth_job *job_submit(struct relay_conn *c)
{
	struct auth_job *job = calloc(1, sizeof(*job));

	ck_assert_ptr_nonnull(job);
	job->done = relay_conn_on_auth;
	job->owner = c;
	fake.job = job;
	return job;
}

/* --- the rig ------------------------------------------------------------------------------------
 */

static uint64_t fake_now;
static struct client_settings fake_set;
static struct kg_client cl;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&cl, 0, sizeof(cl));
	cl.set = &fake_set;
	settings_refs = jobs_freed = 0;
	ck_assert_int_eq(kg_loop_init(), 0);
	fake_now = 1000000;
	kg_loop_set_clock(fake_clock);
	pump_init(true);
	conn_init(&cl, way_out);
}

static void teardown(void)
{
	conn_close_all(&cl);
	kg_loop_pass(0);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_uint_eq(cl.tunnels_active, 0);
	ck_assert_ptr_null(cl.conns);
	ck_assert_int_eq(settings_refs, 0);
	kg_loop_cleanup();
	pump_cleanup();
}

/* A connection as accept.c makes it; *peer is the application's end. */
static struct relay_conn *open_conn(int *peer)
{
	static const uint8_t ip[16] = {[10] = 0xff, [11] = 0xff, 192, 0, 2, 1};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	relay_conn_open(&cl, sv[0], ip, 443);
	*peer = sv[1];
	ck_assert_ptr_nonnull(cl.conns);
	ck_assert_int_eq(cl.conns->dst_port, 443);
	return cl.conns;
}

/* The upstream socket, as tunnel_connect.c opens it; *peer is the proxy's end. */
static void open_upstream(struct relay_conn *c, int *peer)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(relay_side_open(&cl, c, &c->proxy, sv[0]), 0);
	*peer = sv[1];
}

static void passes(int n)
{
	while (n-- > 0)
		ck_assert_int_eq(kg_loop_pass(0), 0);
}

static void expect_read(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	ck_assert_int_eq(n, (ssize_t)strlen(want));
	ck_assert_int_eq(memcmp(buf, want, (size_t)n), 0);
}

static void expect_eof(int fd)
{
	char b;

	ck_assert_int_eq(recv(fd, &b, 1, MSG_DONTWAIT), 0);
}

/* --- tests --------------------------------------------------------------------------------------
 */

START_TEST(open_then_relay_both_ways)
{
	struct relay_conn *c;
	int app, proxy;

	c = open_conn(&app);
	ck_assert_int_eq(fake.start, 1);
	ck_assert_uint_eq(cl.n_fds, 1);
	ck_assert_int_eq(settings_refs, 1);
	ck_assert_ptr_eq(conn_ops_of(c), &fake_ops);
	/* set-up: events go to the table */
	ck_assert_int_eq(send(app, "GET", 3, 0), 3);
	passes(1);
	ck_assert_int_ge(fake.app, 1);
	open_upstream(c, &proxy);
	ck_assert_uint_eq(cl.n_fds, 2);
	relay_start(&cl, c);
	ck_assert_int_eq(fake.free, 1); /* the set-up's data */
	ck_assert_ptr_null(c->setup);
	ck_assert_int_eq(c->state, CONN_RELAY);
	ck_assert_uint_eq(cl.tunnels_active, 1);
	ck_assert_uint_eq(cl.tunnels_total, 1);
	passes(2);
	expect_read(proxy, "GET"); /* what the app sent during the set-up */
	ck_assert_int_eq(send(proxy, "200 OK", 6, 0), 6);
	passes(1);
	expect_read(app, "200 OK");
	ck_assert_int_eq(send(app, "more", 4, 0), 4);
	passes(1);
	expect_read(proxy, "more");
	/* FIN from the app goes upstream; the connection stays for the answer */
	shutdown(app, SHUT_WR);
	passes(1);
	expect_eof(proxy);
	ck_assert_ptr_eq(cl.conns, c);
	ck_assert_int_eq(send(proxy, "bye", 3, 0), 3);
	shutdown(proxy, SHUT_WR);
	passes(1);
	expect_read(app, "bye");
	expect_eof(app);
	/* both FINs: closed, counted back */
	ck_assert_ptr_null(cl.conns);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_uint_eq(cl.tunnels_active, 0);
	ck_assert_uint_eq(cl.tunnels_failed, 0);
	ck_assert_int_eq(settings_refs, 0);
	ck_assert_int_eq(fake.free, 2); /* close releases through the owner's table too */
	ck_assert_int_eq(fake.upstream, 0);
	close(app);
	close(proxy);
}
END_TEST

START_TEST(linger_closes_on_app_fin)
{
	struct relay_conn *c;
	int app, proxy;

	c = open_conn(&app);
	open_upstream(c, &proxy);
	ck_assert_int_eq(relay_queue(&c->to_app, "502 page", 8), 0);
	relay_linger(&cl, c);
	ck_assert_int_eq(c->state, CONN_LINGER);
	ck_assert_uint_eq(cl.n_fds, 1); /* the upstream socket is gone */
	expect_eof(proxy);
	passes(1);
	expect_read(app, "502 page");
	expect_eof(app);
	ck_assert_ptr_eq(cl.conns, c); /* waiting for the app */
	/* what the app still sends is drained */
	ck_assert_int_eq(send(app, "late", 4, 0), 4);
	passes(1);
	ck_assert_ptr_eq(cl.conns, c);
	shutdown(app, SHUT_WR);
	passes(1);
	ck_assert_ptr_null(cl.conns);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_int_eq(fake.timer, 0);
	close(app);
	close(proxy);
}
END_TEST

START_TEST(linger_closes_after_timeout)
{
	struct relay_conn *c;
	int app;

	c = open_conn(&app);
	relay_linger(&cl, c);
	passes(1);
	expect_eof(app);
	fake_now += CONN_LINGER_USEC - 1;
	passes(1);
	ck_assert_ptr_eq(cl.conns, c);
	fake_now += 1;
	passes(1);
	ck_assert_ptr_null(cl.conns);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_int_eq(fake.timer, 0); /* the linger timer is conn.c's, not the table's */
	close(app);
}
END_TEST

START_TEST(setup_timer_fires_cancels_and_stops_at_relay)
{
	struct relay_conn *c;
	int app, proxy;

	fake.timer_at = fake_now + 5000;
	c = open_conn(&app);
	passes(1);
	ck_assert_int_eq(fake.timer, 0);
	fake_now += 5000;
	passes(1);
	ck_assert_int_eq(fake.timer, 1);
	passes(1);
	ck_assert_int_eq(fake.timer, 1); /* once */
	relay_set_timer(&cl, c, fake_now + 100);
	relay_set_timer(&cl, c, 0);
	fake_now += 200;
	passes(1);
	ck_assert_int_eq(fake.timer, 1);
	relay_set_timer(&cl, c, fake_now + 100);
	open_upstream(c, &proxy);
	relay_start(&cl, c);
	fake_now += 200;
	passes(1);
	ck_assert_int_eq(fake.timer, 1); /* relay_start cancelled it */
	close(app);
	close(proxy);
}
END_TEST

START_TEST(ready_list_runs_on_app)
{
	struct relay_conn *c;
	int app;

	c = open_conn(&app);
	passes(1);
	fake.app = 0;
	relay_mark_ready(c);
	relay_mark_ready(c);
	passes(1);
	ck_assert_int_eq(fake.app, 1);
	/* marked, then closed in the same pass: never run */
	relay_mark_ready(c);
	relay_conn_close(&cl, c, true);
	ck_assert_uint_eq(cl.tunnels_failed, 1);
	passes(1);
	ck_assert_int_eq(fake.app, 1);
	close(app);
}
END_TEST

/* The app event closes the connection; the upstream event fetched in the same epoll_wait
 * finds it dead and is not dispatched. */
START_TEST(event_for_closed_conn_in_same_pass)
{
	struct relay_conn *c;
	int app, proxy, i;

	c = open_conn(&app);
	open_upstream(c, &proxy);
	passes(2); /* the initial writability edges */
	fake.app = fake.upstream = 0;
	fake.close_on_app = true;
	/* app first: epoll reports in the order the sockets became ready */
	ck_assert_int_eq(send(app, "a", 1, 0), 1);
	ck_assert_int_eq(send(proxy, "p", 1, 0), 1);
	for (i = 0; i < 3 && cl.conns; i++)
		passes(1);
	ck_assert_ptr_null(cl.conns);
	ck_assert_int_eq(fake.app, 1);
	ck_assert_int_eq(fake.upstream, 0);
	ck_assert_uint_eq(cl.n_fds, 0);
	close(app);
	close(proxy);
}
END_TEST

START_TEST(auth_answer_routes_and_after_close)
{
	struct relay_conn *c;
	struct auth_job *job;
	int app, proxy;

	/* an answer while the set-up runs: to the table */
	c = open_conn(&app);
	job = job_submit(c);
	job_complete(&cl, job);
	ck_assert_int_eq(fake.auth, 1);
	ck_assert_int_eq(jobs_freed, 1);
	/* in linger (a 502 after a failed set-up): still the starting table's */
	job = job_submit(c);
	relay_linger(&cl, c);
	job_complete(&cl, job);
	ck_assert_int_eq(fake.auth, 2);
	ck_assert_int_eq(jobs_freed, 2);
	/* closed with a job pending: the job is detached, its answer after the connection is
	 * gone (and its struct back in the pool) touches nothing */
	job = job_submit(c);
	relay_conn_close(&cl, c, false);
	passes(1);
	job_complete(&cl, job);
	ck_assert_int_eq(fake.auth, 2);
	ck_assert_int_eq(jobs_freed, 3);
	/* an answer that reaches relay_conn_on_auth for a connection closed in this pass */
	c = open_conn(&proxy);
	fake.job = NULL;
	job = calloc(1, sizeof(*job));
	ck_assert_ptr_nonnull(job);
	job->owner = c;
	relay_conn_close(&cl, c, false);
	relay_conn_on_auth(&cl, job);
	ck_assert_int_eq(fake.auth, 2);
	ck_assert_int_eq(jobs_freed, 4);
	close(app);
	close(proxy);
}
END_TEST

START_TEST(close_all_and_pool_reuse)
{
	int peers[300], i;

	for (i = 0; i < 300; i++) /* more than one slab */
		open_conn(&peers[i]);
	ck_assert_uint_eq(cl.n_fds, 300);
	conn_close_all(&cl);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_ptr_null(cl.conns);
	passes(1);
	for (i = 0; i < 300; i++)
		close(peers[i]);
	for (i = 0; i < 10; i++)
		open_conn(&peers[i]);
	ck_assert_uint_eq(cl.n_fds, 10);
	for (i = 0; i < 10; i++)
		close(peers[i]);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *t = tcase_create("conn");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, open_then_relay_both_ways);
	tcase_add_test(t, linger_closes_on_app_fin);
	tcase_add_test(t, linger_closes_after_timeout);
	tcase_add_test(t, setup_timer_fires_cancels_and_stops_at_relay);
	tcase_add_test(t, ready_list_runs_on_app);
	tcase_add_test(t, event_for_closed_conn_in_same_pass);
	tcase_add_test(t, auth_answer_routes_and_after_close);
	tcase_add_test(t, close_all_and_pool_reuse);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
