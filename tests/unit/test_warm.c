/* Unit tests for src/client/warm.c: the count policy as pure functions, and the pool with the
 * real loop against a 127.0.0.1 listener standing for the proxy (fake Kerberos jobs, a fake
 * clock): spares made, handed out once with their own token, replaced; closed spares never
 * handed out; idleness, warm_connections = 0, off-network, flushes and a new ticket empty the
 * pool and cancel the tokens; descriptors go back to 0. Unprivileged.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/client.h"
#include "client/loop.h"
#include "client/warm.h"

#define MAX_JOBS 64

static struct auth_job *jobs[MAX_JOBS]; /* submitted, not yet finished or cancelled */
static int n_submitted, n_cancelled;
static char last_host[64];

struct auth_job *authq_submit(const struct authq_request *req, authq_done_fn *done, void *owner)
{
	struct auth_job *job = calloc(1, sizeof(*job));
	int i;

	ck_assert_ptr_nonnull(job);
	job->done = done;
	job->owner = owner;
	snprintf(last_host, sizeof(last_host), "%s", req->proxy_host);
	for (i = 0; i < MAX_JOBS && jobs[i]; i++)
		;
	ck_assert_int_lt(i, MAX_JOBS);
	jobs[i] = job;
	n_submitted++;
	return job;
}

static void forget(struct auth_job *job)
{
	int i;

	for (i = 0; i < MAX_JOBS; i++)
		if (jobs[i] == job)
			jobs[i] = NULL;
}

/* The ticket reports: one at a time, answered by ticket_says(). */
static struct auth_job *ticket_job;
static int n_ticket_jobs;

struct auth_job *authq_submit_ticket(const struct authq_request *req, authq_done_fn *done)
{
	struct auth_job *job = calloc(1, sizeof(*job) + sizeof(struct negotiate_ticket));

	(void)req;
	ck_assert_ptr_nonnull(job);
	ck_assert_ptr_null(ticket_job);
	job->done = done;
	job->ticket = (struct negotiate_ticket *)(job + 1);
	ticket_job = job;
	n_ticket_jobs++;
	return job;
}

static void ticket_says(const char *principal, time_t end)
{
	struct auth_job *job = ticket_job;

	ck_assert_ptr_nonnull(job);
	ticket_job = NULL;
	snprintf(job->ticket->ccache, sizeof(job->ticket->ccache), "FILE:/tmp/cc");
	snprintf(job->ticket->principal, sizeof(job->ticket->principal), "%s", principal);
	job->ticket->tgt_end = end;
	job->done(NULL, job);
}

void authq_cancel(struct auth_job *job)
{
	if (job == ticket_job) {
		ticket_job = NULL;
		free(job);
		return;
	}
	n_cancelled++;
	forget(job);
	free(job->token);
	free(job);
}

void authq_job_free(struct auth_job *job)
{
	free(job->token);
	free(job);
}

void negotiate_free(struct negotiate_ctx *ctx)
{
	free(ctx);
}

/* The worker finishes every pending job: tokens "tok1", "tok2"... (r < 0: failures). */
static int tokens_made;
static int finish_jobs(int r)
{
	int i, n = 0;

	for (i = 0; i < MAX_JOBS; i++) {
		struct auth_job *job = jobs[i];
		char tok[32];

		if (!job)
			continue;
		jobs[i] = NULL;
		job->r = r;
		if (r == 0) {
			snprintf(tok, sizeof(tok), "tok%d", ++tokens_made);
			job->token = strdup(tok);
			job->ctx = malloc(8);
		}
		job->done(NULL, job);
		n++;
	}
	return n;
}

static uint64_t clock_now;
static uint64_t fake_clock(void)
{
	return clock_now;
}

static struct kg_client cl;
static int lfd;
static struct sockaddr_storage proxy;
static socklen_t proxy_len;
static char cc_file[64];

static struct warm_key key(unsigned max)
{
	return (struct warm_key){
	    .addr = &proxy,
	    .addrlen = proxy_len,
	    .proxy_host = "proxy.test",
	    .spn = "",
	    .ccache = cc_file[0] ? cc_file : "",
	    .max = max,
	    .idle_s = 60,
	};
}

static void setup(void)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&proxy;

	memset(&cl, 0, sizeof(cl));
	cl.fd_cap = 1000;
	memset(jobs, 0, sizeof(jobs));
	n_submitted = n_cancelled = tokens_made = n_ticket_jobs = 0;
	ticket_job = NULL;
	cc_file[0] = '\0';
	clock_now = 1000000000ull;
	kg_loop_set_clock(fake_clock);
	ck_assert_int_eq(kg_loop_init(), 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	memset(&proxy, 0, sizeof(proxy));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	proxy_len = sizeof(*sin);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&proxy, proxy_len), 0);
	ck_assert_int_eq(listen(lfd, 64), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&proxy, &proxy_len), 0);
	warm_init(&cl);
	ck_assert_ptr_nonnull(cl.warm);
}

static void teardown(void)
{
	int i;

	warm_cleanup(&cl);
	ck_assert_ptr_null(cl.warm);
	kg_loop_cleanup();
	kg_loop_set_clock(NULL);
	close(lfd);
	ck_assert_uint_eq(cl.n_fds, 0);
	for (i = 0; i < MAX_JOBS; i++)
		ck_assert_ptr_null(jobs[i]); /* every token job finished or cancelled */
	ck_assert_ptr_null(ticket_job);
	if (cc_file[0])
		unlink(cc_file);
}

/* A connection to k's proxy: no spare at first, so it connects itself, and succeeds. */
static void first_use(struct warm_key *k)
{
	struct warm_handout h;

	ck_assert_int_eq(cl.warm->take(&cl, k, &h), 0);
	ck_assert_int_eq(h.fd, -1);
	cl.warm->connected(&cl, k);
}

/* Loop passes until the spares' connects are done (the listener completes them). */
static void settle(void)
{
	int i;

	for (i = 0; i < 10; i++)
		ck_assert_int_eq(kg_loop_pass(1), 0);
}

/* Accepted connections at the "proxy": the spares' other ends. */
static int accept_all(int *fds, int max)
{
	int n = 0, fd;

	while (n < max && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		fds[n++] = fd;
	return n;
}

static void close_all(int *fds, int n)
{
	while (n-- > 0)
		close(fds[n]);
}

/* --- the count policy ------------------------------------------------------------------------ */

START_TEST(target_is_zero_without_traffic_or_when_off)
{
	struct warm_rate r = {0};
	uint64_t t = 5000000000ull;

	ck_assert_uint_eq(warm_target(&r, t, 0, 60000000ull, 4), 0); /* never used */
	warm_rate_note(&r, t);
	ck_assert_uint_eq(warm_target(&r, t, t, 60000000ull, 0), 0); /* max 0: off */
	ck_assert_uint_eq(warm_target(&r, t, t, 60000000ull, 4), 1);
	/* The idle timeout: one more microsecond than it and the pool is empty. */
	ck_assert_uint_eq(warm_target(&r, t + 59999999ull, t, 60000000ull, 4), 1);
	ck_assert_uint_eq(warm_target(&r, t + 60000000ull, t, 60000000ull, 4), 0);
}
END_TEST

START_TEST(target_follows_the_rate_within_the_bound)
{
	struct warm_rate r = {0};
	uint64_t t = 5000000000ull;
	unsigned n;
	int i;

	/* 2 connections per second for a minute: about 2/s, so 4 or 5 spares for a 2 s horizon. */
	for (i = 0; i < 120; i++)
		warm_rate_note(&r, t += 500000);
	ck_assert(warm_rate_at(&r, t) > 1.5 && warm_rate_at(&r, t) < 2.5);
	n = warm_target(&r, t, t, 60000000ull, 16);
	ck_assert(n >= 4 && n <= 5);
	ck_assert_uint_eq(warm_target(&r, t, t, 60000000ull, 3), 3); /* the config bound */
	/* 50 per second: the bound, never more. */
	for (i = 0; i < 500; i++)
		warm_rate_note(&r, t += 20000);
	ck_assert_uint_eq(warm_target(&r, t, t, 60000000ull, 16), 16);
	ck_assert_uint_eq(warm_target(&r, t, t, 60000000ull, 4), 4);
	/* The rate decays when connections stop, but one spare stays while not idle. */
	ck_assert(warm_rate_at(&r, t + 30000000ull) < warm_rate_at(&r, t) / 3);
	ck_assert_uint_eq(warm_target(&r, t + 59000000ull, t, 60000000ull, 16), 1);
}
END_TEST

START_TEST(rate_of_a_single_connection)
{
	struct warm_rate r = {0};

	warm_rate_note(&r, 1000);
	/* One connection is 1/tau per second, decaying to 1/e of that after tau. */
	ck_assert(warm_rate_at(&r, 1000) > 0.099 && warm_rate_at(&r, 1000) < 0.101);
	ck_assert(warm_rate_at(&r, 1000 + WARM_RATE_TAU) > 0.0367 &&
		  warm_rate_at(&r, 1000 + WARM_RATE_TAU) < 0.0369);
}
END_TEST

/* --- the pool -------------------------------------------------------------------------------- */

START_TEST(first_connection_makes_a_spare_that_is_handed_out_once)
{
	struct warm_key k = key(4);
	struct warm_handout h, h2;
	int peers[8], n;

	first_use(&k); /* empty: it connects normally */
	ck_assert_uint_eq(warm_stats()->missed, 1);
	settle(); /* the refill: one spare for one connection */
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_uint_eq(cl.n_fds, 1);
	ck_assert_int_eq(n_submitted, 1); /* its own token, made ahead */
	ck_assert_str_eq(last_host, "proxy.test");
	n = accept_all(peers, 8);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(finish_jobs(0), 1);

	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 1);
	ck_assert_int_ge(h.fd, 0);
	ck_assert_ptr_nonnull(h.tok.token);
	ck_assert_str_eq(h.tok.token, "tok1");
	ck_assert_ptr_nonnull(h.tok.neg);
	ck_assert_ptr_null(h.tok.job);
	ck_assert_uint_ne(h.local_port, 0);
	ck_assert_uint_eq(warm_stats()->handed, 1);
	ck_assert_uint_eq(cl.n_fds, 0); /* the taker's now */
	/* Connected to the proxy: what it sends arrives. */
	ck_assert_int_eq(write(peers[0], "x", 1), 1);
	settle();
	{
		char b;
		ck_assert_int_eq(recv(h.fd, &b, 1, MSG_DONTWAIT), 1);
	}
	/* Replaced after use (the rate is 2 connections now: still one spare), with a new token. */
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_int_eq(n_submitted, 2);
	ck_assert_int_eq(finish_jobs(0), 1);
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h2), 1);
	ck_assert_str_eq(h2.tok.token, "tok2"); /* never the same token twice */
	ck_assert_int_ne(h2.fd, h.fd);
	close(h.fd);
	close(h2.fd);
	negotiate_free(h.tok.neg);
	negotiate_free(h2.tok.neg);
	free(h.tok.token);
	free(h2.tok.token);
	n += accept_all(peers + n, 8 - n);
	close_all(peers, n);
	warm_flush(&cl, "test");
}
END_TEST

START_TEST(a_token_still_being_made_goes_with_the_spare)
{
	struct warm_key k = key(4);
	struct warm_handout h;
	int peers[8], n;

	first_use(&k);
	settle();
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 1);
	ck_assert_ptr_null(h.tok.token);
	ck_assert_ptr_nonnull(h.tok.job); /* the taker adopts it */
	forget(h.tok.job);
	authq_job_free(h.tok.job);
	close(h.fd);
	n = accept_all(peers, 8);
	close_all(peers, n);
	settle();
	warm_flush(&cl, "test");
	ck_assert_int_eq(finish_jobs(0), 0); /* the replacement's token was cancelled */
}
END_TEST

START_TEST(a_spare_the_proxy_closed_is_never_handed_out)
{
	struct warm_key k = key(4);
	struct warm_handout h;
	int peers[8], n;

	first_use(&k);
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	finish_jobs(0);
	n = accept_all(peers, 8);
	ck_assert_int_eq(n, 1);
	close(peers[0]); /* the proxy's idle timeout */
	settle();
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_uint_eq(warm_stats()->discarded, 1);
	ck_assert_uint_eq(cl.n_fds, 0);
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0);
	settle();
	warm_flush(&cl, "test");
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

START_TEST(idle_pool_empties_and_aged_spares_are_replaced)
{
	struct warm_key k = key(4);
	int peers[16], n;
	unsigned opened;

	first_use(&k);
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	finish_jobs(0);
	opened = warm_stats()->opened;
	/* Past WARM_SPARE_MAX_AGE but not idle: the spare is replaced by a new one. */
	clock_now += WARM_SPARE_MAX_AGE + 1;
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_uint_eq(warm_stats()->opened, opened + 1);
	ck_assert_int_eq(n_cancelled, 0);
	ck_assert_int_eq(finish_jobs(0), 1); /* the new spare's own token */
	/* 60 s without a connection: none left, and no new one. */
	clock_now += 30000000ull;
	settle();
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_uint_eq(cl.n_fds, 0);
	clock_now += 10000000ull;
	settle();
	ck_assert_uint_eq(warm_spares(), 0);
	n = accept_all(peers, 16);
	close_all(peers, n);
}
END_TEST

START_TEST(zero_keeps_none)
{
	struct warm_key k = key(0);
	struct warm_handout h;
	int i;

	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0);
		settle();
	}
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_int_eq(n_submitted, 0);
	ck_assert_uint_eq(warm_stats()->opened, 0);
}
END_TEST

START_TEST(off_network_keeps_none)
{
	struct warm_key k = key(4);
	struct warm_handout h;
	int peers[8], n;

	first_use(&k);
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	cl.route_direct = true;
	clock_now += WARM_TICK;
	settle(); /* the tick sees it */
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_int_eq(n_cancelled, 1); /* the token being made for it */
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0);
	settle();
	ck_assert_uint_eq(warm_spares(), 0);
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

START_TEST(the_rate_sets_the_count)
{
	struct warm_key k = key(3);
	struct warm_handout h;
	int peers[128], n = 0, i, taken = 0;

	/* 10 connections a second for 3 s: the bound of 3 spares. */
	first_use(&k);
	for (i = 0; i < 30; i++) {
		clock_now += 100000;
		if (cl.warm->take(&cl, &k, &h) == 1) {
			taken++;
			close(h.fd);
			negotiate_free(h.tok.neg);
			free(h.tok.token);
			if (h.tok.job) {
				forget(h.tok.job);
				authq_job_free(h.tok.job);
			}
		}
		settle();
		finish_jobs(0);
		n += accept_all(peers + n, 128 - n);
	}
	ck_assert_uint_eq(warm_spares(), 3);
	ck_assert_int_ge(taken, 25);
	tokenless_learn(&cl.tokenless, "http://proxy.test:3128", 1);
	warm_flush(&cl, "reload");
	/* ... and what was known of proxies that need no token with it (tokenless.h). */
	ck_assert(!tokenless_known(&cl.tokenless, "http://proxy.test:3128", 1));
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_uint_eq(cl.n_fds, 0);
	n += accept_all(peers + n, 128 - n);
	close_all(peers, n);
}
END_TEST

START_TEST(a_new_ticket_empties_the_pool)
{
	struct warm_key k;
	struct warm_handout h;
	int peers[8], n, fd;

	snprintf(cc_file, sizeof(cc_file), "/tmp/test_warm_cc.%d", (int)getpid());
	fd = open(cc_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "alice", 5), 5);
	close(fd);
	k = key(4);
	first_use(&k);
	settle();
	finish_jobs(0);
	/* kdestroy + kinit of another principal */
	unlink(cc_file);
	fd = open(cc_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "bob-and-more", 12), 12);
	close(fd);
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0); /* the spare's token was alice's */
	ck_assert_uint_eq(warm_stats()->handed, 0);
	ck_assert_uint_eq(cl.n_fds, 0);
	cl.warm->connected(&cl, &k); /* its own connect succeeds */
	/* Started again: the next spare's token is made with the new ticket and handed out. */
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	finish_jobs(0);
	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 1);
	ck_assert_str_eq(h.tok.token, "tok2");
	close(h.fd);
	negotiate_free(h.tok.neg);
	free(h.tok.token);
	settle();
	warm_flush(&cl, "test");
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

START_TEST(endpoints_are_kept_apart)
{
	struct warm_key a = key(4), b = key(4);
	struct warm_handout h;
	int peers[8], n;

	b.proxy_host = "other.test"; /* another principal: another pool */
	first_use(&a);
	settle();
	finish_jobs(0);
	first_use(&b);
	settle();
	ck_assert_uint_eq(warm_spares(), 2);
	ck_assert_str_eq(last_host, "other.test");
	finish_jobs(0);
	ck_assert_int_eq(cl.warm->take(&cl, &a, &h), 1);
	ck_assert_str_eq(h.tok.token, "tok1");
	close(h.fd);
	negotiate_free(h.tok.neg);
	free(h.tok.token);
	settle();
	warm_flush(&cl, "test");
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

START_TEST(no_spare_before_the_proxy_answered)
{
	struct warm_key k = key(4);
	struct warm_handout h;
	int peers[8], n;

	ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0);
	settle();
	ck_assert_uint_eq(warm_spares(), 0); /* its connect may yet fail: no SYN of ours */
	ck_assert_uint_eq(warm_stats()->opened, 0);
	cl.warm->connected(&cl, &k);
	settle();
	ck_assert_uint_eq(warm_spares(), 1);
	warm_flush(&cl, "test");
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

START_TEST(a_spare_that_fails_to_connect_stops_the_refills)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&proxy;
	struct warm_key k = key(4);
	struct warm_handout h;
	int i;

	/* The proxy goes away (nothing listens there any more): a refused connect. */
	close(lfd);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_uint_ne(sin->sin_port, 0);
	first_use(&k);
	settle();
	ck_assert_uint_eq(warm_stats()->opened, 1);
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_uint_eq(warm_stats()->discarded, 1);
	ck_assert_uint_eq(cl.n_fds, 0);
	/* More connections (failing too) and ticks: no other spare until one connects. */
	for (i = 0; i < 5; i++) {
		clock_now += WARM_RETRY_PAUSE;
		ck_assert_int_eq(cl.warm->take(&cl, &k, &h), 0);
		settle();
	}
	ck_assert_uint_eq(warm_stats()->opened, 1);
	ck_assert_int_eq(n_cancelled, 1); /* the failed spare's token */
}
END_TEST

START_TEST(a_new_ticket_reported_by_the_worker_empties_the_pool)
{
	struct warm_key k = key(4);
	int peers[8], n;

	first_use(&k);
	settle();
	finish_jobs(0);
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_int_eq(n_ticket_jobs, 1); /* asked while spares exist */
	ticket_says("alice@R", 1000);
	clock_now += WARM_TICKET_CHECK;
	settle();
	ck_assert_int_eq(n_ticket_jobs, 2);
	ticket_says("alice@R", 1000); /* the same: kept */
	ck_assert_uint_eq(warm_spares(), 1);
	clock_now += WARM_TICKET_CHECK;
	settle();
	ck_assert_int_eq(n_ticket_jobs, 3);
	ticket_says("bob@R", 2000); /* kdestroy; kinit bob (a KCM cache: no file to look at) */
	ck_assert_uint_eq(warm_spares(), 0);
	ck_assert_uint_eq(cl.n_fds, 0);
	settle();
	ck_assert_uint_eq(warm_spares(), 0); /* until a connection succeeds again */
	first_use(&k);
	settle();
	finish_jobs(0);
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_int_eq(n_ticket_jobs, 4); /* at once, right after the new spare's token */
	ticket_says("bob@R", 2000);
	ck_assert_uint_eq(warm_spares(), 1);
	/* Emptied for another reason (a reload), then a kinit while there is no spare: the next
	 * spares are compared with the ticket of their time, not the one before. */
	warm_flush(&cl, "reload");
	clock_now += WARM_TICKET_CHECK;
	first_use(&k);
	settle();
	finish_jobs(0);
	ck_assert_uint_eq(warm_spares(), 1);
	ck_assert_int_eq(n_ticket_jobs, 5);
	ticket_says("carol@R", 3000);
	ck_assert_uint_eq(warm_spares(), 1);
	clock_now += WARM_TICKET_CHECK;
	settle();
	ticket_says("carol@R", 3000);
	ck_assert_uint_eq(warm_spares(), 1);
	warm_flush(&cl, "test");
	n = accept_all(peers, 8);
	close_all(peers, n);
}
END_TEST

static Suite *warm_suite(void)
{
	Suite *s = suite_create("warm");
	TCase *policy = tcase_create("policy"), *pool = tcase_create("pool");

	tcase_add_test(policy, target_is_zero_without_traffic_or_when_off);
	tcase_add_test(policy, target_follows_the_rate_within_the_bound);
	tcase_add_test(policy, rate_of_a_single_connection);
	suite_add_tcase(s, policy);
	tcase_add_checked_fixture(pool, setup, teardown);
	tcase_add_test(pool, first_connection_makes_a_spare_that_is_handed_out_once);
	tcase_add_test(pool, a_token_still_being_made_goes_with_the_spare);
	tcase_add_test(pool, a_spare_the_proxy_closed_is_never_handed_out);
	tcase_add_test(pool, idle_pool_empties_and_aged_spares_are_replaced);
	tcase_add_test(pool, zero_keeps_none);
	tcase_add_test(pool, off_network_keeps_none);
	tcase_add_test(pool, the_rate_sets_the_count);
	tcase_add_test(pool, a_new_ticket_empties_the_pool);
	tcase_add_test(pool, endpoints_are_kept_apart);
	tcase_add_test(pool, no_spare_before_the_proxy_answered);
	tcase_add_test(pool, a_spare_that_fails_to_connect_stops_the_refills);
	tcase_add_test(pool, a_new_ticket_reported_by_the_worker_empties_the_pool);
	suite_add_tcase(s, pool);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(warm_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
