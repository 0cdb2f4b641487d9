/* Negotiate tokens are made off the event loop.
 *
 * negotiate_start() may talk to the KDC (a TGS exchange for the proxy's service ticket) and
 * blocks while it does: an unreachable KDC would otherwise freeze every tunnel of the user for
 * the Kerberos timeouts. One worker thread takes jobs in order and wakes the loop through an
 * eventfd; the loop hands each result to its connection. A connection that closes while its
 * job is still queued cancels it: the worker drops it without asking the KDC, and it stops
 * counting against AUTHQ_MAX_PENDING at once. One already being made is only detached
 * (job->done = NULL); the loop frees it when it comes back. The queue knows none of its users:
 * each job carries the function that takes its result. Only negotiate_start() and
 * negotiate_ticket_status() run on the worker (the latter for the periodic ticket report: with a
 * KCM cache it is a round trip to a daemon that may hang); everything else stays on the loop
 * thread.
 */
#pragma once

#include <stdbool.h>

#include "client/auth/negotiate.h"

#define AUTHQ_MAX_PENDING 4096 /* jobs queued at most; beyond that connections fail at once */

struct auth_job;

/* Called on the loop thread with a finished job, which it then owns (authq_job_free()); ctx
 * is authq_start()'s. */
typedef void authq_done_fn(void *ctx, struct auth_job *job);

/* What a token is for: the proxy's host name (the default SPN is HTTP@proxy_host), the SPN
 * ("" derives it) and the credential cache ("" the default). The strings are copied. */
struct authq_request {
	const char *proxy_host;
	const char *spn;
	const char *ccache;
};

struct auth_job {
	struct auth_job *next;
	struct negotiate_ticket *ticket; /* a ticket report's job, else NULL */
	authq_done_fn *done;		 /* NULL: its submitter went away, the job is dropped */
	void *owner;			 /* the submitter's, for done */
	const char *proxy_host;		 /* copies packed after the struct (settings may change) */
	const char *spn;
	const char *ccache;
	bool queued, cancelled; /* under the queue's lock: waiting for the worker; dropped */
	/* results */
	int r;
	struct negotiate_ctx *ctx;
	char *token;
	struct negotiate_failure fail;
};

#define AUTHQ_MOVING_USEC  500000ull /* authq_backlog(): the worker is not stuck */
#define AUTHQ_STOP_WAIT_MS 1000	     /* a worker still busy after this is left behind at exit */

/* Starts the worker; done functions get ctx. 0 or -errno. The loop watches authq_fd() for
 * readability and then calls authq_on_ready(). */
int authq_start(void *ctx);
int authq_fd(void);
/* Stops the worker. false when it was still busy (a KDC or a credential cache that does not
 * answer) after AUTHQ_STOP_WAIT_MS: it is left running, its queue untouched, and the process
 * must end with _exit() so that no library destructor runs under it. */
bool authq_stop(void);
/* A token for req (a connection's settings: those of its accept), handed to done with owner;
 * NULL when the queue is full or out of memory. */
struct auth_job *authq_submit(const struct authq_request *req, authq_done_fn *done, void *owner);
/* A ticket report (negotiate_ticket_status()) for req, handed to done. NULL when the queue is
 * full or out of memory. */
struct auth_job *authq_submit_ticket(const struct authq_request *req, authq_done_fn *done);
void authq_cancel(struct auth_job *job);
/* Why job has no token yet, when the answer is a backlog (a flood of new connections): the
 * number of jobs waiting while job waits too, or is the one the worker took less than
 * AUTHQ_MOVING_USEC ago, or (at least 1) is made but not handed over by authq_on_ready() yet.
 * 0 when nothing else waits, or the worker has been on one job that long (a KDC or a
 * credential cache that does not answer: negotiate_overdue_reason() says which). */
unsigned authq_backlog(const struct auth_job *job);
/* The eventfd fired: hand finished jobs to their done functions. */
void authq_on_ready(void);
void authq_job_free(struct auth_job *job);
