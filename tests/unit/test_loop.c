/* Unit tests for the client's event loop (src/client/loop.c): timers fire in deadline order
 * and cancel cleanly (also from inside another timer's callback), the ready list runs each
 * entry once per pass, deferred frees wait until every fetched event was dispatched, sources
 * get their events. The loop's clock is replaced by a variable, so nothing waits.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/loop.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void setup(void)
{
	ck_assert_int_eq(kg_loop_init(), 0);
	fake_now = 1000;
	kg_loop_set_clock(fake_clock);
}

static void teardown(void)
{
	kg_loop_cleanup();
	kg_loop_set_clock(NULL);
}

/* --- timers ----------------------------------------------------------------------------------- */

#define MAX_FIRED 4096

struct tt {
	struct kg_loop_timer t;
	int id;
	struct tt *cancel; /* cancelled by this one's callback */
	uint64_t rearm;	   /* re-armed by its callback this far ahead, once */
};

static int fired[MAX_FIRED], n_fired;
static uint64_t fired_at[MAX_FIRED];

static void on_tt(struct kg_loop_timer *t)
{
	struct tt *x = KG_CONTAINER_OF(t, struct tt, t);

	ck_assert(!kg_loop_timer_armed(t));
	ck_assert_int_lt(n_fired, MAX_FIRED);
	fired_at[n_fired] = t->deadline;
	fired[n_fired++] = x->id;
	if (x->cancel)
		kg_loop_timer_cancel(&x->cancel->t);
	if (x->rearm) {
		ck_assert_int_eq(kg_loop_timer_arm(t, fake_now + x->rearm), 0);
		x->rearm = 0;
	}
}

static void tt_init(struct tt *x, int id)
{
	memset(x, 0, sizeof(*x));
	x->id = id;
	x->t.kind = kg_loop_timer_kind(on_tt);
}

START_TEST(timers_deadline_order)
{
	static const uint64_t at[] = {1500, 1100, 1300, 1200, 1400, 1250, 1050};
	struct tt x[7];
	int i;

	n_fired = 0;
	for (i = 0; i < 7; i++) {
		tt_init(&x[i], i);
		ck_assert_int_eq(kg_loop_timer_arm(&x[i].t, at[i]), 0);
		ck_assert(kg_loop_timer_armed(&x[i].t));
	}
	fake_now = 1240;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(n_fired, 3);
	ck_assert_int_eq(fired[0], 6);
	ck_assert_int_eq(fired[1], 1);
	ck_assert_int_eq(fired[2], 3);
	fake_now = 10000;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(n_fired, 7);
	ck_assert_int_eq(fired[3], 5);
	ck_assert_int_eq(fired[4], 2);
	ck_assert_int_eq(fired[5], 4);
	ck_assert_int_eq(fired[6], 0);
	for (i = 0; i < 7; i++)
		ck_assert(!kg_loop_timer_armed(&x[i].t));
}
END_TEST

START_TEST(timers_rearm_moves_both_ways)
{
	struct tt a, b, c;

	n_fired = 0;
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	kg_loop_timer_arm(&a.t, 1100);
	kg_loop_timer_arm(&b.t, 1200);
	kg_loop_timer_arm(&c.t, 1300);
	kg_loop_timer_arm(&c.t, 1050); /* earlier */
	kg_loop_timer_arm(&a.t, 1400); /* later */
	fake_now = 2000;
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, 3);
	ck_assert_int_eq(fired[0], 3);
	ck_assert_int_eq(fired[1], 2);
	ck_assert_int_eq(fired[2], 1);
}
END_TEST

START_TEST(timers_cancel)
{
	struct tt a, b, c;

	n_fired = 0;
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	kg_loop_timer_arm(&a.t, 1100);
	kg_loop_timer_arm(&b.t, 1200);
	kg_loop_timer_arm(&c.t, 1300);
	kg_loop_timer_cancel(&b.t);
	ck_assert(!kg_loop_timer_armed(&b.t));
	kg_loop_timer_cancel(&b.t); /* twice: harmless */
	fake_now = 2000;
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, 2);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 3);
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, 2);
}
END_TEST

/* A's callback cancels B, which is due in the same pass: B never runs; A re-arms itself. */
START_TEST(timers_cancel_from_callback)
{
	struct tt a, b, c;

	n_fired = 0;
	tt_init(&a, 1);
	tt_init(&b, 2);
	tt_init(&c, 3);
	a.cancel = &b;
	a.rearm = 500;
	kg_loop_timer_arm(&a.t, 1100);
	kg_loop_timer_arm(&b.t, 1200);
	kg_loop_timer_arm(&c.t, 1300);
	fake_now = 1300;
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, 2);
	ck_assert_int_eq(fired[0], 1);
	ck_assert_int_eq(fired[1], 3);
	ck_assert(!kg_loop_timer_armed(&b.t));
	ck_assert(kg_loop_timer_armed(&a.t));
	a.cancel = NULL;
	fake_now = 1800;
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, 3);
	ck_assert_int_eq(fired[2], 1);
}
END_TEST

/* Many timers armed, re-armed and cancelled at random: the rest fire once each, in order. */
START_TEST(timers_random_heap)
{
	enum { N = 1000 };
	static struct tt x[N];
	bool cancelled[N] = {0};
	unsigned seed = 12345, i, expected = 0, seen[N] = {0};

	n_fired = 0;
	for (i = 0; i < N; i++) {
		tt_init(&x[i], (int)i);
		seed = seed * 1103515245 + 12345;
		ck_assert_int_eq(kg_loop_timer_arm(&x[i].t, 2000 + (seed >> 8) % 5000), 0);
	}
	for (i = 0; i < N; i++) {
		seed = seed * 1103515245 + 12345;
		switch ((seed >> 8) % 3) {
		case 0:
			kg_loop_timer_cancel(&x[i].t);
			cancelled[i] = true;
			break;
		case 1:
			kg_loop_timer_arm(&x[i].t, 2000 + (seed >> 12) % 5000);
			break;
		}
	}
	for (i = 0; i < N; i++)
		expected += !cancelled[i];
	fake_now = 100000;
	kg_loop_pass(0);
	ck_assert_int_eq(n_fired, (int)expected);
	for (i = 0; i < (unsigned)n_fired; i++) {
		if (i > 0)
			ck_assert_uint_le(fired_at[i - 1], fired_at[i]);
		ck_assert(!cancelled[fired[i]]);
		ck_assert_uint_eq(seen[fired[i]]++, 0);
	}
}
END_TEST

/* --- ready list ------------------------------------------------------------------------------- */

struct rr {
	struct kg_loop_ready r;
	int runs;
	bool again;	   /* marks itself ready again */
	struct rr *cancel; /* cancels this one */
};

static void on_rr(struct kg_loop_ready *r)
{
	struct rr *x = KG_CONTAINER_OF(r, struct rr, r);

	ck_assert(!kg_loop_ready_queued(r));
	x->runs++;
	if (x->cancel)
		kg_loop_ready_cancel(&x->cancel->r);
	if (x->again) {
		x->again = false;
		kg_loop_ready_mark(r);
	}
}

START_TEST(ready_once_per_pass)
{
	struct rr a = {.r.kind = kg_loop_ready_kind(on_rr)},
		  b = {.r.kind = kg_loop_ready_kind(on_rr)},
		  c = {.r.kind = kg_loop_ready_kind(on_rr)};

	kg_loop_ready_mark(&a.r);
	kg_loop_ready_mark(&a.r); /* twice: once */
	kg_loop_ready_mark(&b.r);
	kg_loop_ready_mark(&c.r);
	kg_loop_ready_cancel(&c.r);
	a.again = true;
	/* Nothing to wait for but the ready list: a pass with no limit must not block. */
	ck_assert_int_eq(kg_loop_pass(-1), 0);
	ck_assert_int_eq(a.runs, 1);
	ck_assert_int_eq(b.runs, 1);
	ck_assert_int_eq(c.runs, 0);
	ck_assert(kg_loop_ready_queued(&a.r));
	ck_assert_int_eq(kg_loop_pass(-1), 0);
	ck_assert_int_eq(a.runs, 2);
	ck_assert_int_eq(b.runs, 1);
	ck_assert(!kg_loop_ready_queued(&a.r));
}
END_TEST

/* An entry of the batch being run is cancelled by another's callback: it does not run. */
START_TEST(ready_cancel_from_callback)
{
	struct rr a = {.r.kind = kg_loop_ready_kind(on_rr)},
		  b = {.r.kind = kg_loop_ready_kind(on_rr)};

	a.cancel = &b;
	b.cancel = &a;
	kg_loop_ready_mark(&a.r);
	kg_loop_ready_mark(&b.r);
	kg_loop_pass(0);
	ck_assert_int_eq(a.runs + b.runs, 1);
	kg_loop_pass(0);
	ck_assert_int_eq(a.runs + b.runs, 1);
}
END_TEST

/* --- sources and deferred frees --------------------------------------------------------------- */

struct obj {
	struct kg_loop_source s[2];
	struct kg_loop_deferred grave;
	int fd[2];
	bool dead;
	int events_after_close;
};

static int n_freed, n_closed;

static void obj_on_free(struct kg_loop_deferred *d)
{
	struct obj *o = KG_CONTAINER_OF(d, struct obj, grave);

	ck_assert(o->dead);
	n_freed++;
	free(o);
}

static void obj_event(struct obj *o)
{
	if (o->dead) {
		o->events_after_close++;
		return;
	}
	/* The first event closes the object: the other one, already fetched, must find it. */
	o->dead = true;
	n_closed++;
	close(o->fd[0]);
	close(o->fd[1]);
	kg_loop_defer_free(&o->grave);
}

static void on_s0(struct kg_loop_source *s, uint32_t ev)
{
	ck_assert(ev & EPOLLIN);
	obj_event(KG_CONTAINER_OF(s, struct obj, s[0]));
}

static void on_s1(struct kg_loop_source *s, uint32_t ev)
{
	ck_assert(ev & EPOLLIN);
	obj_event(KG_CONTAINER_OF(s, struct obj, s[1]));
}

static int seen_events_after_close;

static void count_after_close(struct obj *o)
{
	seen_events_after_close = o->events_after_close;
}

START_TEST(deferred_free_after_fetched_events)
{
	struct obj *o = calloc(1, sizeof(*o));
	int a[2], b[2];

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	o->fd[0] = a[0];
	o->fd[1] = b[0];
	o->s[0].kind = kg_loop_source_kind(on_s0);
	o->s[1].kind = kg_loop_source_kind(on_s1);
	o->grave.kind = kg_loop_deferred_kind(obj_on_free);
	ck_assert_int_eq(kg_loop_add(a[0], &o->s[0], EPOLLIN | EPOLLET), 0);
	ck_assert_int_eq(kg_loop_add(b[0], &o->s[1], EPOLLIN | EPOLLET), 0);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	ck_assert_int_eq(write(b[1], "y", 1), 1);
	n_freed = n_closed = 0;
	ck_assert_int_eq(kg_loop_pass(1000), 0);
	/* Both events were dispatched, the second to a closed but not yet freed object. */
	ck_assert_int_eq(n_closed, 1);
	ck_assert_int_eq(n_freed, 0);
	count_after_close(o);
	ck_assert_int_eq(seen_events_after_close, 1);
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(n_freed, 1);
	close(a[1]);
	close(b[1]);
}
END_TEST

static int hook_runs;

static void hook(void *arg)
{
	int *stop_after = arg;

	if (++hook_runs >= *stop_after)
		kg_loop_quit();
}

static void on_tick(struct kg_loop_timer *t)
{
	kg_loop_timer_arm(t, fake_now + 1);
	fake_now += 1000;
}

/* The hook runs once per pass and can end kg_loop_run(). */
START_TEST(pass_hook_and_quit)
{
	struct kg_loop_timer tick = {.kind = kg_loop_timer_kind(on_tick)};
	int stop_after = 3;

	hook_runs = 0;
	kg_loop_set_pass_hook(hook, &stop_after);
	kg_loop_timer_arm(&tick, 0);
	ck_assert_int_eq(kg_loop_run(), 0);
	ck_assert_int_eq(hook_runs, 3);
	kg_loop_timer_cancel(&tick);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *timers = tcase_create("timers"), *ready = tcase_create("ready"),
	      *src = tcase_create("sources");

	tcase_add_checked_fixture(timers, setup, teardown);
	tcase_add_checked_fixture(ready, setup, teardown);
	tcase_add_checked_fixture(src, setup, teardown);
	tcase_add_test(timers, timers_deadline_order);
	tcase_add_test(timers, timers_rearm_moves_both_ways);
	tcase_add_test(timers, timers_cancel);
	tcase_add_test(timers, timers_cancel_from_callback);
	tcase_add_test(timers, timers_random_heap);
	suite_add_tcase(s, timers);
	tcase_add_test(ready, ready_once_per_pass);
	tcase_add_test(ready, ready_cancel_from_callback);
	suite_add_tcase(s, ready);
	tcase_add_test(src, deferred_free_after_fetched_events);
	tcase_add_test(src, pass_hook_and_quit);
	suite_add_tcase(s, src);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
