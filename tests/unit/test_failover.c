/* Unit tests for the failover bookkeeping (src/client/route/failover.c): the 5-minute skip,
 * the order of tries within one connection (up proxies first, then the down ones, each once),
 * the bounded mark table and its eviction, and the text for logs.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/failover.h"

#define SEC  1000000ULL
#define HOLD KG_FAILOVER_HOLD_USEC

static struct kg_route route(const char *pac)
{
	struct kg_route r;
	char err[KG_ROUTE_ERR_MAX];

	ck_assert_msg(kg_route_parse_pac(pac, strlen(pac), &r, err, sizeof(err)) == 0, "%s", err);
	return r;
}

/* The indices one connection tries, in order, as a string "1 0 2". */
static const char *walk(const struct kg_failover *f, const struct kg_route *r, uint64_t now)
{
	static char out[128];
	struct kg_failover_try t = KG_FAILOVER_TRY_INIT;
	size_t i, o = 0;

	out[0] = '\0';
	while (kg_failover_next(f, r, &t, now, &i) == 0)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%zu", o ? " " : "", i);
	return out;
}

START_TEST(hold_five_minutes)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:3128; PROXY p2:3128");
	size_t i;
	uint64_t t0 = 1000 * SEC;

	kg_failover_init(&f);
	ck_assert_int_eq(kg_failover_pick(&f, &r, t0, &i), 0);
	ck_assert_uint_eq(i, 0);
	kg_failover_mark_down(&f, &r.e[0], t0);
	ck_assert(kg_failover_is_down(&f, &r.e[0], t0));
	ck_assert(!kg_failover_is_down(&f, &r.e[1], t0));
	ck_assert_int_eq(kg_failover_pick(&f, &r, t0 + 1, &i), 0);
	ck_assert_uint_eq(i, 1);
	ck_assert_int_eq(kg_failover_pick(&f, &r, t0 + HOLD - 1, &i), 0);
	ck_assert_uint_eq(i, 1);
	/* After 5 minutes p1 is first again. */
	ck_assert_int_eq(kg_failover_pick(&f, &r, t0 + HOLD, &i), 0);
	ck_assert_uint_eq(i, 0);
	ck_assert(!kg_failover_is_down(&f, &r.e[0], t0 + HOLD));
	ck_assert_uint_eq(HOLD, 300 * SEC);
}
END_TEST

START_TEST(success_clears)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:3128; PROXY p2:3128");
	size_t i;
	uint64_t since;

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[0], 10 * SEC);
	ck_assert(kg_failover_down_since(&f, &r.e[0], 11 * SEC, &since));
	ck_assert_uint_eq(since, 10 * SEC);
	kg_failover_mark_up(&f, &r.e[0]);
	ck_assert(!kg_failover_is_down(&f, &r.e[0], 11 * SEC));
	ck_assert(!kg_failover_down_since(&f, &r.e[0], 11 * SEC, &since));
	ck_assert_int_eq(kg_failover_pick(&f, &r, 11 * SEC, &i), 0);
	ck_assert_uint_eq(i, 0);
	/* Marking up what is not marked is harmless. */
	kg_failover_mark_up(&f, &r.e[1]);
	ck_assert(!kg_failover_is_down(&f, &r.e[1], 11 * SEC));
}
END_TEST

START_TEST(order_within_connection)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:1; PROXY p2:2; PROXY p3:3");
	uint64_t now = 50 * SEC;

	kg_failover_init(&f);
	ck_assert_str_eq(walk(&f, &r, now), "0 1 2");
	kg_failover_mark_down(&f, &r.e[0], now);
	ck_assert_str_eq(walk(&f, &r, now), "1 2 0");
	kg_failover_mark_down(&f, &r.e[2], now);
	ck_assert_str_eq(walk(&f, &r, now), "1 0 2");
	/* Every proxy down: all are tried again, in order. */
	kg_failover_mark_down(&f, &r.e[1], now);
	ck_assert_str_eq(walk(&f, &r, now), "0 1 2");
	/* An empty route has nothing to try. */
	struct kg_route empty = {0};
	size_t i = 99;
	ck_assert_int_eq(kg_failover_pick(&f, &empty, now, &i), -ENOENT);
	ck_assert_uint_eq(i, 99);
}
END_TEST

START_TEST(connection_retries_each_once)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:1; PROXY p2:2");
	struct kg_failover_try t = KG_FAILOVER_TRY_INIT;
	size_t i;
	uint64_t now = 7 * SEC;

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[0], now);
	/* p2 first; it fails too: then p1 (all down), then nothing. */
	ck_assert_int_eq(kg_failover_next(&f, &r, &t, now, &i), 0);
	ck_assert_uint_eq(i, 1);
	kg_failover_mark_down(&f, &r.e[1], now);
	ck_assert_int_eq(kg_failover_next(&f, &r, &t, now, &i), 0);
	ck_assert_uint_eq(i, 0);
	ck_assert_int_eq(kg_failover_next(&f, &r, &t, now, &i), -ENOENT);
}
END_TEST

START_TEST(direct_never_down)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:3128; DIRECT");
	size_t i;
	char text[128];

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[1], SEC);
	ck_assert(!kg_failover_is_down(&f, &r.e[1], SEC));
	for (size_t k = 0; k < KG_FAILOVER_SLOTS; k++)
		ck_assert_str_eq(f.mark[k].host, "");
	/* p1 down: DIRECT at once, p1 last. */
	kg_failover_mark_down(&f, &r.e[0], SEC);
	ck_assert_int_eq(kg_failover_pick(&f, &r, 2 * SEC, &i), 0);
	ck_assert_uint_eq(i, 1);
	ck_assert_str_eq(walk(&f, &r, 2 * SEC), "1 0");
	ck_assert_int_eq(kg_failover_describe(&f, &r, 1, 2 * SEC, text, sizeof(text)), 21);
	ck_assert_str_eq(text, "direct (p1:3128 down)");
	/* A bare entry without host is never marked either. */
	struct kg_route_entry blank = {.kind = KG_ROUTE_PROXY, .port = 1};
	kg_failover_mark_down(&f, &blank, SEC);
	ck_assert(!kg_failover_is_down(&f, &blank, SEC));
}
END_TEST

START_TEST(keyed_by_host_port)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p:1; HTTPS p:1; PROXY p:2; PROXY q:1");

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[0], SEC);
	/* The same host:port over TLS is the same host; another port or host is not. */
	ck_assert(kg_failover_is_down(&f, &r.e[1], SEC));
	ck_assert(!kg_failover_is_down(&f, &r.e[2], SEC));
	ck_assert(!kg_failover_is_down(&f, &r.e[3], SEC));
	/* Marks apply across routes. */
	struct kg_route other = route("PROXY q:1; PROXY p:1");
	ck_assert_str_eq(walk(&f, &other, 2 * SEC), "0 1");
	struct kg_route other2 = route("PROXY p:1; PROXY q:1");
	ck_assert_str_eq(walk(&f, &other2, 2 * SEC), "1 0");
}
END_TEST

START_TEST(repeated_failures)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:1");
	uint64_t since;

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[0], 10 * SEC);
	/* Failing again while down extends the hold, keeps the start of the run. */
	kg_failover_mark_down(&f, &r.e[0], 100 * SEC);
	ck_assert(kg_failover_is_down(&f, &r.e[0], 100 * SEC + HOLD - 1));
	ck_assert(kg_failover_down_since(&f, &r.e[0], 200 * SEC, &since));
	ck_assert_uint_eq(since, 10 * SEC);
	/* After the mark expired, a new failure starts a new run. */
	uint64_t later = 100 * SEC + HOLD + 5 * SEC;
	ck_assert(!kg_failover_down_since(&f, &r.e[0], later, &since));
	kg_failover_mark_down(&f, &r.e[0], later);
	ck_assert(kg_failover_down_since(&f, &r.e[0], later, &since));
	ck_assert_uint_eq(since, later);
	/* The clock's end saturates instead of wrapping. */
	kg_failover_mark_down(&f, &r.e[0], UINT64_MAX - 1);
	ck_assert(kg_failover_is_down(&f, &r.e[0], UINT64_MAX - 1));
}
END_TEST

START_TEST(table_bounded)
{
	struct kg_failover f;
	struct kg_route_entry e = {.kind = KG_ROUTE_PROXY, .port = 3128};
	uint64_t t0 = 1000 * SEC;

	kg_failover_init(&f);
	/* Fill the table, proxy k failing at t0 + k seconds. */
	for (int k = 0; k < KG_FAILOVER_SLOTS; k++) {
		snprintf(e.host, sizeof(e.host), "p%d", k);
		kg_failover_mark_down(&f, &e, t0 + (uint64_t)k * SEC);
	}
	for (int k = 0; k < KG_FAILOVER_SLOTS; k++) {
		snprintf(e.host, sizeof(e.host), "p%d", k);
		ck_assert(kg_failover_is_down(&f, &e, t0 + 40 * SEC));
	}
	/* One more: the mark that expires first (p0) makes room. */
	snprintf(e.host, sizeof(e.host), "new");
	kg_failover_mark_down(&f, &e, t0 + 40 * SEC);
	ck_assert(kg_failover_is_down(&f, &e, t0 + 40 * SEC));
	snprintf(e.host, sizeof(e.host), "p0");
	ck_assert(!kg_failover_is_down(&f, &e, t0 + 40 * SEC));
	snprintf(e.host, sizeof(e.host), "p1");
	ck_assert(kg_failover_is_down(&f, &e, t0 + 40 * SEC));
	/* An expired mark is replaced before any live one, even one expiring sooner. */
	snprintf(e.host, sizeof(e.host), "p5");
	kg_failover_mark_down(&f, &e, t0 + 1000 * SEC); /* p5 refreshed: live longest */
	uint64_t t1 = t0 + 5 * SEC + HOLD + 1;		/* p1..p4 expired, p6 not yet */
	snprintf(e.host, sizeof(e.host), "late");
	kg_failover_mark_down(&f, &e, t1);
	for (int k = 6; k < KG_FAILOVER_SLOTS; k++) {
		snprintf(e.host, sizeof(e.host), "p%d", k);
		ck_assert_msg(kg_failover_is_down(&f, &e, t1), "p%d evicted", k);
	}
	snprintf(e.host, sizeof(e.host), "new");
	ck_assert(kg_failover_is_down(&f, &e, t1));
	/* Freed slots are reused first. */
	snprintf(e.host, sizeof(e.host), "p10");
	kg_failover_mark_up(&f, &e);
	snprintf(e.host, sizeof(e.host), "fresh");
	kg_failover_mark_down(&f, &e, t1);
	for (int k = 11; k < KG_FAILOVER_SLOTS; k++) {
		snprintf(e.host, sizeof(e.host), "p%d", k);
		ck_assert(kg_failover_is_down(&f, &e, t1));
	}
	/* The expired p2 still holds its slot (nothing needed it). */
	bool p2_kept = false;
	for (int k = 0; k < KG_FAILOVER_SLOTS; k++)
		p2_kept |= strcmp(f.mark[k].host, "p2") == 0;
	ck_assert(p2_kept);
}
END_TEST

START_TEST(describe)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:3128; HTTPS p2:443; PROXY p3:8080; DIRECT");
	char text[128], small[16];
	uint64_t now = 5 * SEC;

	kg_failover_init(&f);
	ck_assert_int_eq(kg_failover_describe(&f, &r, 0, now, text, sizeof(text)), 11);
	ck_assert_str_eq(text, "via p1:3128");
	kg_failover_mark_down(&f, &r.e[0], now);
	ck_assert_int_gt(kg_failover_describe(&f, &r, 1, now, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via https p2:443 (p1:3128 down)");
	kg_failover_mark_down(&f, &r.e[1], now);
	ck_assert_int_gt(kg_failover_describe(&f, &r, 2, now, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via p3:8080 (p1:3128, p2:443 down)");
	ck_assert_int_gt(kg_failover_describe(&f, &r, 3, now, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "direct (p1:3128, p2:443 down)");
	/* The chosen entry itself is not listed, even when down (all were down). */
	ck_assert_int_gt(kg_failover_describe(&f, &r, 0, now, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via p1:3128 (p2:443 down)");
	/* Marks that expired are not mentioned. */
	ck_assert_int_gt(kg_failover_describe(&f, &r, 2, now + HOLD, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via p3:8080");
	/* Bad index, small buffers. */
	ck_assert_int_eq(kg_failover_describe(&f, &r, 4, now, text, sizeof(text)), -EINVAL);
	ck_assert_str_eq(text, "");
	ck_assert_int_eq(kg_failover_describe(&f, &r, 0, now, text, 0), -ENOSPC);
	ck_assert_int_eq(kg_failover_describe(&f, &r, 2, now, small, sizeof(small)), -ENOSPC);
	ck_assert_str_eq(small, "via p3:8080 ...");
	ck_assert_int_eq(kg_failover_describe(&f, &r, 2, now, small, 8), -ENOSPC);
	ck_assert_str_eq(small, "via ...");
	ck_assert_int_eq(kg_failover_describe(&f, &r, 3, now, small, 3), -ENOSPC);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(kg_failover_describe(&f, &r, 3, now, small, 5), -ENOSPC);
	ck_assert_str_eq(small, "...");
}
END_TEST

START_TEST(describe_duplicates)
{
	struct kg_failover f;
	struct kg_route r = route("PROXY p1:1; PROXY p1:1; PROXY p2:2; PROXY p1:1");
	char text[128];

	kg_failover_init(&f);
	kg_failover_mark_down(&f, &r.e[0], SEC);
	ck_assert_str_eq(walk(&f, &r, SEC), "2 0 1 3");
	ck_assert_int_gt(kg_failover_describe(&f, &r, 2, SEC, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via p2:2 (p1:1 down)");
	kg_failover_mark_down(&f, &r.e[2], SEC);
	ck_assert_int_gt(kg_failover_describe(&f, &r, 1, SEC, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "via p1:1 (p2:2 down)");
}
END_TEST

static Suite *failover_suite(void)
{
	Suite *s = suite_create("failover");
	TCase *c = tcase_create("failover");

	tcase_add_test(c, hold_five_minutes);
	tcase_add_test(c, success_clears);
	tcase_add_test(c, order_within_connection);
	tcase_add_test(c, connection_retries_each_once);
	tcase_add_test(c, direct_never_down);
	tcase_add_test(c, keyed_by_host_port);
	tcase_add_test(c, repeated_failures);
	tcase_add_test(c, table_bounded);
	tcase_add_test(c, describe);
	tcase_add_test(c, describe_duplicates);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(failover_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
