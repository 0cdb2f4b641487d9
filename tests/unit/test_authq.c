/* authq.c, the Kerberos worker queue, with the real negotiate library: tokens and ticket reports
 * from a throwaway MIT KDC on 127.0.0.1 (tests/lib/krbrig-kdc.sh; no root needed), and a "KDC"
 * of the test's own (a TCP socket on 127.0.0.1) that holds the worker inside negotiate_start()
 * for as long as a case needs: cancel, detach, the bounded queue and authq_stop().
 * Exit 77 when the KDC tools are missing (99 with KG_REQUIRE_PRIVILEGED=1), 99 when the KDC
 * cannot be set up.
 */
#include "client/auth/authq.h"
#include "tests/unit/kdc_rig.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef WAIT_MS
#define WAIT_MS 20000 /* bound on every wait for the worker */
#endif

/* --- process helpers --- */

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* --- the fake KDC: a TCP listener on 127.0.0.1 that never answers --- */

static int fake_listen(int *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* A krb5.conf like the rig's whose realm's KDC is 127.0.0.1:port, made the process's. */
static void use_dead_kdc(int port)
{
	char path[PATH_MAX + 32], cmd[3 * PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/krb5-dead-%d.conf", kdc_rig_dir, port);
	snprintf(cmd, sizeof(cmd), "sed 's/kdc = 127\\.0\\.0\\.1:%d/kdc = 127.0.0.1:%d/' %s >%s",
		 kdc_rig_port, port, kdc_rig_conf, path);
	ck_assert_int_eq(system(cmd), 0);
	setenv("KRB5_CONFIG", path, 1);
}

/* The next connection to the fake KDC (the worker asking it), or -1 after ms. */
static int fake_accept(int lfd, int ms)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/* --- the loop side --- */

static int the_ctx; /* authq_start()'s ctx */

#define MAX_DONE 16
static struct {
	void *ctx, *owner;
	int r;
	bool token, has_ctx, ticket;
	char principal[256];
	enum negotiate_error code;
} done_log[MAX_DONE];
static int n_done;

static void on_done(void *ctx, struct auth_job *job)
{
	ck_assert_int_lt(n_done, MAX_DONE);
	done_log[n_done].ctx = ctx;
	done_log[n_done].owner = job->owner;
	done_log[n_done].r = job->r;
	done_log[n_done].token = job->token != NULL;
	done_log[n_done].has_ctx = job->ctx != NULL;
	done_log[n_done].ticket = job->ticket != NULL;
	done_log[n_done].code = job->fail.code;
	if (job->ticket)
		snprintf(done_log[n_done].principal, sizeof(done_log[n_done].principal), "%s",
			 job->ticket->principal);
	n_done++;
	authq_job_free(job);
}

/* Runs the loop until done has been called `want` times in all; with lfd >= 0 every connection
 * to the fake KDC meanwhile is accepted and closed at once (counted in *accepts). */
static void loop_until(int want, int lfd, int *accepts)
{
	long end = now_ms() + WAIT_MS;

	while (n_done < want) {
		struct pollfd p[2] = {{.fd = authq_fd(), .events = POLLIN},
				      {.fd = lfd, .events = POLLIN}};
		long left = end - now_ms();
		int r;

		ck_assert_msg(left > 0, "done called %d times, want %d", n_done, want);
		r = poll(p, lfd >= 0 ? 2 : 1, (int)left);
		ck_assert_int_ge(r, 0);
		if (p[0].revents & POLLIN)
			authq_on_ready();
		if (lfd >= 0 && (p[1].revents & POLLIN)) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0) {
				close(c);
				(*accepts)++;
			}
		}
	}
}

/* Connections to the fake KDC during ms (each closed at once). */
static int accepts_during(int lfd, int ms)
{
	long end = now_ms() + ms;
	int n = 0, c;

	while (now_ms() < end) {
		c = fake_accept(lfd, (int)(end - now_ms()) + 1);
		if (c >= 0) {
			close(c);
			n++;
		}
	}
	return n;
}

static const struct authq_request alice = {
    .proxy_host = KDC_RIG_PROXY_HOST, .spn = "", .ccache = "", /* set in setup: cc-alice */
};

static struct authq_request req_for(const char *cc)
{
	struct authq_request req = alice;

	req.ccache = cc;
	return req;
}

static void setup(void)
{
	n_done = 0;
	memset(done_log, 0, sizeof(done_log));
	setenv("KRB5_CONFIG", kdc_rig_conf, 1);
}

/* --- cases --- */

START_TEST(test_token_job)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-alice"));
	int owner;
	struct auth_job *job;

	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_int_ge(authq_fd(), 0);
	job = authq_submit(&req, on_done, &owner);
	ck_assert_ptr_nonnull(job);
	loop_until(1, -1, NULL);
	ck_assert_ptr_eq(done_log[0].ctx, &the_ctx);
	ck_assert_ptr_eq(done_log[0].owner, &owner);
	ck_assert_msg(done_log[0].r == 0, "r %d code %d", done_log[0].r, done_log[0].code);
	ck_assert(done_log[0].token);
	ck_assert(done_log[0].has_ctx);
	ck_assert(!done_log[0].ticket);
	ck_assert(authq_stop());
	ck_assert_int_eq(authq_fd(), -1);
}
END_TEST

/* A failure is a result too: no ticket in the cache, classified, no token. */
START_TEST(test_token_job_failure)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-none"));
	int owner;

	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, &owner));
	loop_until(1, -1, NULL);
	ck_assert_ptr_eq(done_log[0].owner, &owner);
	ck_assert_int_eq(done_log[0].r, -EACCES);
	ck_assert_int_eq(done_log[0].code, NEGOTIATE_ERR_NO_TICKET);
	ck_assert(!done_log[0].token);
	ck_assert(!done_log[0].has_ctx);
	ck_assert(authq_stop());
}
END_TEST

START_TEST(test_ticket_job)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-alice"));

	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_ptr_nonnull(authq_submit_ticket(&req, on_done));
	loop_until(1, -1, NULL);
	ck_assert_ptr_eq(done_log[0].ctx, &the_ctx);
	ck_assert_ptr_null(done_log[0].owner);
	ck_assert_int_eq(done_log[0].r, 0);
	ck_assert(done_log[0].ticket);
	ck_assert(!done_log[0].token);
	ck_assert_str_eq(done_log[0].principal, "alice@" KDC_RIG_REALM);
	ck_assert(authq_stop());
}
END_TEST

/* Jobs come back in the order they were submitted, tokens and reports alike. */
START_TEST(test_order)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-alice"));
	int owners[6], i;

	ck_assert_int_eq(authq_start(&the_ctx), 0);
	for (i = 0; i < 6; i++) {
		if (i % 3 == 1)
			ck_assert_ptr_nonnull(authq_submit_ticket(&req, on_done));
		else
			ck_assert_ptr_nonnull(authq_submit(&req, on_done, &owners[i]));
	}
	loop_until(6, -1, NULL);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(done_log[i].r, 0);
		if (i % 3 == 1) {
			ck_assert(done_log[i].ticket);
			ck_assert_ptr_null(done_log[i].owner);
		} else {
			ck_assert(done_log[i].token);
			ck_assert_ptr_eq(done_log[i].owner, &owners[i]);
		}
	}
	ck_assert(authq_stop());
}
END_TEST

/* The worker is held on the fake KDC by a first job; the jobs queued behind it are cancelled:
 * done is never called for them, they free their places at once, and they never reach the
 * KDC. A job submitted after them does (the check can see a request). */
START_TEST(test_cancel_queued)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	struct auth_job *jobs[3];
	int lfd, port, held, accepts = 0, blocker, late, i;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, &blocker));
	held = fake_accept(lfd, WAIT_MS);
	ck_assert_int_ge(held, 0);

	for (i = 0; i < 3; i++) {
		jobs[i] = i == 1 ? authq_submit_ticket(&req, on_done)
				 : authq_submit(&req, on_done, &jobs[i]);
		ck_assert_ptr_nonnull(jobs[i]);
	}
	for (i = 0; i < 3; i++)
		authq_cancel(jobs[i]);
	authq_cancel(NULL);

	/* Their places are free again: a whole AUTHQ_MAX_PENDING fits, not one more. */
	{
		static struct auth_job *more[AUTHQ_MAX_PENDING];

		for (i = 0; i < AUTHQ_MAX_PENDING; i++) {
			more[i] = authq_submit(&req, on_done, NULL);
			ck_assert_msg(more[i] != NULL, "submit %d failed", i);
		}
		ck_assert_ptr_null(authq_submit(&req, on_done, NULL));
		for (i = 0; i < AUTHQ_MAX_PENDING; i++)
			authq_cancel(more[i]);
	}

	/* Let the first job fail; only its own requests reach the KDC. */
	close(held);
	accepts = 1;
	loop_until(1, lfd, &accepts);
	ck_assert_ptr_eq(done_log[0].owner, &blocker);
	ck_assert_int_ne(done_log[0].r, 0);
	ck_assert_int_eq(accepts_during(lfd, 1500), 0);
	ck_assert_int_eq(n_done, 1);

	/* The check sees a request when there is one. */
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, &late));
	ck_assert_int_ge(accepts_during(lfd, 1500), 1);
	close(lfd);
	loop_until(2, -1, NULL);
	ck_assert_ptr_eq(done_log[1].owner, &late);
	ck_assert(authq_stop());
}
END_TEST

/* A job waiting behind the worker's current one, and that one, are a backlog while it is fresh
 * (a flood of new connections), not once the worker has been on it AUTHQ_MOVING_USEC (a KDC
 * that does not answer: the overdue sentence names it instead), nor with nothing waiting. */
START_TEST(test_backlog)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	struct auth_job *running, *waiting;
	int lfd, port, held, accepts = 0;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	ck_assert_int_eq(authq_start(&the_ctx), 0);
	running = authq_submit(&req, on_done, NULL);
	ck_assert_ptr_nonnull(running);
	held = fake_accept(lfd, WAIT_MS); /* the worker is inside negotiate_start() */
	ck_assert_int_ge(held, 0);
	ck_assert_uint_eq(authq_backlog(running), 0); /* alone */
	waiting = authq_submit(&req, on_done, NULL);
	ck_assert_ptr_nonnull(waiting);
	ck_assert_uint_eq(authq_backlog(waiting), 1);
	ck_assert_uint_eq(authq_backlog(running), 1);
	ck_assert_uint_eq(authq_backlog(NULL), 0);
	usleep(AUTHQ_MOVING_USEC + 200000);
	ck_assert_uint_eq(authq_backlog(waiting), 0);
	ck_assert_uint_eq(authq_backlog(running), 0);
	authq_cancel(waiting);
	close(held);
	/* Made (it failed) but not handed over yet: the loop is behind. */
	{
		struct pollfd p = {.fd = authq_fd(), .events = POLLIN};
		long end = now_ms() + WAIT_MS;
		int c;

		while (poll(&p, 1, 0) != 1) {
			ck_assert_int_lt(now_ms(), end);
			c = fake_accept(lfd, 20);
			if (c >= 0)
				close(c);
		}
	}
	ck_assert_uint_eq(authq_backlog(running), 1);
	loop_until(1, lfd, &accepts);
	close(lfd);
	ck_assert(authq_stop());
}
END_TEST

/* The queue is bounded: AUTHQ_MAX_PENDING waiting jobs, then NULL, for both kinds. */
START_TEST(test_queue_full)
{
	static struct auth_job *jobs[AUTHQ_MAX_PENDING];
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	int lfd, port, held, accepts = 0, i;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, NULL));
	held = fake_accept(lfd, WAIT_MS);
	ck_assert_int_ge(held, 0);
	for (i = 0; i < AUTHQ_MAX_PENDING; i++) {
		jobs[i] = authq_submit(&req, on_done, &jobs[i]);
		ck_assert_msg(jobs[i] != NULL, "submit %d failed", i);
	}
	ck_assert_ptr_null(authq_submit(&req, on_done, NULL));
	ck_assert_ptr_null(authq_submit_ticket(&req, on_done));
	/* one place back */
	authq_cancel(jobs[7]);
	jobs[7] = authq_submit_ticket(&req, on_done);
	ck_assert_ptr_nonnull(jobs[7]);
	ck_assert_ptr_null(authq_submit(&req, on_done, NULL));
	/* a cancel twice frees one place only */
	authq_cancel(jobs[7]);
	authq_cancel(jobs[7]);
	ck_assert_ptr_nonnull(jobs[7] = authq_submit(&req, on_done, NULL));
	ck_assert_ptr_null(authq_submit(&req, on_done, NULL));

	for (i = 0; i < AUTHQ_MAX_PENDING; i++)
		authq_cancel(jobs[i]);
	close(held);
	close(lfd);
	loop_until(1, -1, &accepts);
	ck_assert(authq_stop());
	ck_assert_int_eq(n_done, 1);
}
END_TEST

/* A job already with the KDC is only detached: it comes back, done is not called, the loop
 * frees it. */
START_TEST(test_detach_running)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	struct auth_job *job;
	int lfd, port, held, accepts = 0, after;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	ck_assert_int_eq(authq_start(&the_ctx), 0);
	job = authq_submit(&req, on_done, &port);
	ck_assert_ptr_nonnull(job);
	held = fake_accept(lfd, WAIT_MS);
	ck_assert_int_ge(held, 0);
	authq_cancel(job); /* running: only detached */
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, &after));
	close(held);
	loop_until(1, lfd, &accepts);
	ck_assert_ptr_eq(done_log[0].owner, &after);
	close(lfd);
	ck_assert(authq_stop());
}
END_TEST

/* authq_stop() on a worker stuck with a KDC that does not answer gives up after about
 * AUTHQ_STOP_WAIT_MS and says so, leaving the worker and its queue as they are; done in a
 * child. Once the KDC lets go, a second authq_stop() ends the worker after all, so that the
 * child can exit() normally (and a coverage build counts it). */
START_TEST(test_stop_stuck)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	int lfd, port, status = 0;
	long start, elapsed;
	pid_t pid;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	fflush(NULL);
	pid = fork();
	if (pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		int held;
		bool r;

		if (authq_start(&the_ctx) != 0 || !authq_submit(&req, on_done, NULL) ||
		    !authq_submit(&req, on_done, NULL))
			_exit(10);
		held = fake_accept(lfd, WAIT_MS);
		if (held < 0)
			_exit(11);
		start = now_ms();
		r = authq_stop();
		elapsed = now_ms() - start;
		if (r)
			_exit(12);
		if (elapsed < AUTHQ_STOP_WAIT_MS - 50)
			_exit(13);
		/* Bounded, not timed: a busy machine may be slow, never stuck. */
		if (elapsed > WAIT_MS)
			_exit(14);
		if (authq_fd() < 0) /* left as it was */
			_exit(15);
		close(held);
		close(lfd); /* any further request is refused at once */
		if (!authq_stop())
			_exit(16);
		if (authq_fd() >= 0)
			_exit(17);
		exit(0);
	}
	close(lfd);
	start = now_ms();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		elapsed = now_ms() - start;
		if (elapsed > WAIT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("the child did not end");
		}
		kdc_rig_sleep_ms(20);
	}
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static int release_fd = -1;

static void *release_later(void *arg)
{
	(void)arg;
	kdc_rig_sleep_ms(300);
	close(release_fd);
	return NULL;
}

/* Bytes allocated on the heap now, all arenas; 0 where malloc does not say (sanitizers). */
static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/* authq_stop() waits for a job in progress, then frees what is still queued and what was
 * finished but not yet handed to the loop; done is never called. */
START_TEST(test_stop_frees_queued)
{
	struct authq_request req = req_for(kdc_rig_cc("cc-stuck"));
	int lfd, port, i;
	size_t before, queued;
	pthread_t t;

	lfd = fake_listen(&port);
	use_dead_kdc(port);
	ck_assert_int_eq(authq_start(&the_ctx), 0);
	ck_assert_ptr_nonnull(authq_submit(&req, on_done, NULL));
	release_fd = fake_accept(lfd, WAIT_MS);
	ck_assert_int_ge(release_fd, 0);
	before = heap_in_use();
	for (i = 0; i < 500; i++)
		ck_assert_ptr_nonnull(i % 3 == 1 ? authq_submit_ticket(&req, on_done)
						 : authq_submit(&req, on_done, NULL));
	queued = heap_in_use();
	close(lfd); /* further requests are refused at once */
	ck_assert_int_eq(pthread_create(&t, NULL, release_later, NULL), 0);
	/* true: it waited for the running job instead of leaving the worker behind. */
	ck_assert(authq_stop());
	pthread_join(t, NULL);
	ck_assert_int_eq(n_done, 0);
	ck_assert_int_eq(authq_fd(), -1);
	/* the queued jobs are gone (the static queue would keep them from a leak checker) */
	if (queued > before)
		ck_assert_msg(heap_in_use() < before + (queued - before) / 10,
			      "heap %zu before the jobs, %zu queued, %zu after the stop", before,
			      queued, heap_in_use());
}
END_TEST

START_TEST(test_stop_idle)
{
	long start;

	ck_assert_int_eq(authq_start(&the_ctx), 0);
	start = now_ms();
	ck_assert(authq_stop());
	ck_assert_int_lt(now_ms() - start, 500);
	ck_assert_int_eq(authq_fd(), -1);
	ck_assert(authq_stop()); /* stopped already */
	authq_job_free(NULL);
}
END_TEST

static Suite *authq_suite(void)
{
	Suite *s = suite_create("authq");
	TCase *tc = tcase_create("worker");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_token_job);
	tcase_add_test(tc, test_token_job_failure);
	tcase_add_test(tc, test_ticket_job);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_backlog);
	tcase_add_test(tc, test_detach_running);
	tcase_add_test(tc, test_stop_stuck);
	tcase_add_test(tc, test_stop_frees_queued);
	tcase_add_test(tc, test_stop_idle);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const struct kdc_rig_user users[] = {{"alice"}, {NULL}};
	SRunner *sr;
	int failed, r;

	r = kdc_rig_setup("kgauthq", users, false);
	/* cc-alice for the live KDC; cc-stuck holds only a TGT, so every token made with it
	 * needs a TGS exchange: with the fake KDC, one that does not answer */
	if (r == 0 &&
	    (kdc_rig_cmd("kinit", "alice", "alicepw", kdc_rig_cc("cc-alice"), NULL, NULL) != 0 ||
	     kdc_rig_cmd("kinit", "alice", "alicepw", kdc_rig_cc("cc-stuck"), NULL, NULL) != 0)) {
		fprintf(stderr, "kinit failed\n");
		r = 99;
	}
	if (r != 0) {
		kdc_rig_teardown(r);
		return r;
	}
	sr = srunner_create(authq_suite());
	/* every case starts its own worker: authq's state is per process */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kdc_rig_teardown(0);
	return failed == 0 ? 0 : 1;
}
