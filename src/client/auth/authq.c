/* The Kerberos worker: negotiate_start() and the ticket report on their own thread (see
 * authq.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "shared/log.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, quit;
	int efd;
	void *ctx; /* authq_start()'s, for the done functions */
	struct auth_job *pending, **pending_tail;
	struct auth_job *done, **done_tail;
	unsigned n_pending;
	struct auth_job *current; /* the job the worker is making, NULL: none */
	uint64_t job_since;	  /* monotonic usec the worker took it */
} q = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .efd = -1,
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *worker(void *arg)
{
	struct negotiate_session *session = NULL;
	struct negotiate_options opts;
	struct auth_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&q.lock);
	for (;;) {
		while (!q.pending && !q.quit)
			pthread_cond_wait(&q.wake, &q.lock);
		if (q.quit)
			break;
		job = q.pending;
		q.pending = job->next;
		if (!q.pending)
			q.pending_tail = &q.pending;
		job->queued = false;
		if (job->cancelled) {
			/* Its connection is gone (and no longer counted): no KDC round trip. */
			authq_job_free(job);
			continue;
		}
		q.n_pending--;
		q.current = job;
		q.job_since = now_usec();
		pthread_mutex_unlock(&q.lock);

		/* Made on first use and kept: without one (krb5.conf unreadable for now) every
		 * token still works, with a context of its own, and reports why it cannot. */
		if (!session)
			(void)negotiate_session_new(&session);
		opts = (struct negotiate_options){
		    .proxy_host = job->proxy_host,
		    .spn = job->spn[0] ? job->spn : NULL,
		    .ccache = job->ccache[0] ? job->ccache : NULL,
		    .session = session,
		};
		memset(&job->fail, 0, sizeof(job->fail));
		if (job->ticket)
			job->r = negotiate_ticket_status(&opts, job->ticket, &job->fail);
		else
			job->r = negotiate_start(&opts, &job->ctx, &job->token, &job->fail);

		pthread_mutex_lock(&q.lock);
		q.current = NULL;
		job->next = NULL;
		*q.done_tail = job;
		q.done_tail = &job->next;
		(void)!write(q.efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&q.lock);
	negotiate_session_free(session);
	return NULL;
}

unsigned authq_backlog(const struct auth_job *job)
{
	unsigned n = 0;

	pthread_mutex_lock(&q.lock);
	/* A job the worker took just now waited in the queue for most of its time. */
	if (job && (job->queued || job == q.current) && q.current && q.n_pending &&
	    now_usec() - q.job_since < AUTHQ_MOVING_USEC)
		n = q.n_pending;
	/* Made already, not handed over yet: the loop is behind with the answers. */
	else if (job && !job->queued && job != q.current)
		n = q.n_pending + 1;
	pthread_mutex_unlock(&q.lock);
	return n;
}

int authq_fd(void)
{
	return q.efd;
}

int authq_start(void *ctx)
{
	int r;

	q.pending_tail = &q.pending;
	q.done_tail = &q.done;
	q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q.efd < 0)
		return -errno;
	q.ctx = ctx;
	r = pthread_create(&q.thread, NULL, worker, NULL);
	if (r != 0)
		return -r;
	q.running = true;
	return 0;
}

void authq_job_free(struct auth_job *job)
{
	if (!job)
		return;
	negotiate_free(job->ctx);
	free(job->token);
	free(job);
}

bool authq_stop(void)
{
	struct auth_job *job;

	if (q.running) {
		struct timespec until;

		pthread_mutex_lock(&q.lock);
		q.quit = true;
		pthread_cond_signal(&q.wake);
		pthread_mutex_unlock(&q.lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += AUTHQ_STOP_WAIT_MS / 1000;
		until.tv_nsec += (AUTHQ_STOP_WAIT_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(q.thread, NULL, &until) != 0) {
			log_warn(
			    "the Kerberos worker is still waiting for the KDC or the credential "
			    "cache after %d ms: exiting without it",
			    AUTHQ_STOP_WAIT_MS);
			return false;
		}
		q.running = false;
	}
	while ((job = q.pending)) {
		q.pending = job->next;
		authq_job_free(job);
	}
	while ((job = q.done)) {
		q.done = job->next;
		authq_job_free(job);
	}
	if (q.efd >= 0)
		close(q.efd);
	q.efd = -1;
	return true;
}

static struct auth_job *submit(const struct authq_request *req, authq_done_fn *done, void *owner,
			       bool ticket)
{
	size_t lh = strlen(req->proxy_host) + 1, ls = strlen(req->spn) + 1;
	size_t lc = strlen(req->ccache) + 1, lt = ticket ? sizeof(struct negotiate_ticket) : 0;
	struct auth_job *job;
	char *p;

	/* One allocation, sized to the strings: many may be queued during a burst. */
	job = calloc(1, sizeof(*job) + lt + lh + ls + lc);
	if (!job)
		return NULL;
	job->done = done;
	job->owner = owner;
	if (ticket)
		job->ticket = (struct negotiate_ticket *)(job + 1);
	p = (char *)(job + 1) + lt;
	job->proxy_host = memcpy(p, req->proxy_host, lh);
	job->spn = memcpy(p + lh, req->spn, ls);
	job->ccache = memcpy(p + lh + ls, req->ccache, lc);
	pthread_mutex_lock(&q.lock);
	/* The worker lowers n_pending too: compare it under the lock. */
	if (q.n_pending >= AUTHQ_MAX_PENDING) {
		pthread_mutex_unlock(&q.lock);
		free(job);
		return NULL;
	}
	*q.pending_tail = job;
	q.pending_tail = &job->next;
	job->queued = true;
	q.n_pending++;
	pthread_cond_signal(&q.wake);
	pthread_mutex_unlock(&q.lock);
	return job;
}

struct auth_job *authq_submit(const struct authq_request *req, authq_done_fn *done, void *owner)
{
	return submit(req, done, owner, false);
}

struct auth_job *authq_submit_ticket(const struct authq_request *req, authq_done_fn *done)
{
	return submit(req, done, NULL, true);
}

void authq_cancel(struct auth_job *job)
{
	if (!job)
		return;
	/* Only the loop thread reads or writes job->done and job->owner. */
	job->done = NULL;
	job->owner = NULL;
	pthread_mutex_lock(&q.lock);
	if (job->queued && !job->cancelled) {
		/* Still queued: the worker drops it, and it no longer takes a place. */
		job->cancelled = true;
		q.n_pending--;
	}
	pthread_mutex_unlock(&q.lock);
}

void authq_on_ready(void)
{
	struct auth_job *list, *job;
	uint64_t n;

	(void)!read(q.efd, &n, sizeof(n));
	pthread_mutex_lock(&q.lock);
	list = q.done;
	q.done = NULL;
	q.done_tail = &q.done;
	pthread_mutex_unlock(&q.lock);
	while ((job = list)) {
		list = job->next;
		job->next = NULL;
		if (job->done)
			job->done(q.ctx, job);
		else
			authq_job_free(job);
	}
}
