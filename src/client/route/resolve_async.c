/* Host names resolved on a thread of their own, the outcome through an eventfd (see
 * resolve_async.h). */
#include "client/route/resolve_async.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct kg_resolve {
	pthread_mutex_t lock;
	pthread_t thread;
	bool done;	/* under the lock: the thread finished the names */
	bool abandoned; /* under the lock: the loop dropped the batch, the thread frees it */
	int efd;
	size_t n;
	struct kg_resolve_name name[KG_RESOLVE_NAMES_MAX];
};

static void batch_free(struct kg_resolve *r)
{
	if (r->efd >= 0)
		close(r->efd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void resolve_one(struct kg_resolve_name *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char host[KG_HOST_MAX], port[8];
	size_t len = strlen(e->host);

	e->len = 0;
	if (len >= 2 && e->host[0] == '[' && e->host[len - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(len - 2), e->host + 1);
	else
		snprintf(host, sizeof(host), "%s", e->host);
	snprintf(port, sizeof(port), "%u", e->port);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return;
	if (ai->ai_addrlen <= sizeof(e->ss)) {
		memcpy(&e->ss, ai->ai_addr, ai->ai_addrlen);
		e->len = ai->ai_addrlen;
	}
	freeaddrinfo(ai);
}

static void *worker(void *arg)
{
	struct kg_resolve *r = arg;
	uint64_t one = 1;
	bool abandoned;

	for (size_t i = 0; i < r->n; i++)
		resolve_one(&r->name[i]);
	pthread_mutex_lock(&r->lock);
	r->done = true;
	abandoned = r->abandoned;
	if (!abandoned)
		(void)!write(r->efd, &one, sizeof(one));
	pthread_mutex_unlock(&r->lock);
	if (abandoned)
		batch_free(r); /* detached: nobody else holds it */
	return NULL;
}

struct kg_resolve *kg_resolve_start(const struct kg_resolve_name *names, size_t n)
{
	struct kg_resolve *r;
	sigset_t all, old;
	int e;

	if (n > KG_RESOLVE_NAMES_MAX) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->n = n;
	memcpy(r->name, names, n * sizeof(*names));
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0) {
		e = errno;
		batch_free(r);
		errno = e;
		return NULL;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay the loop's */
	e = pthread_create(&r->thread, NULL, worker, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		batch_free(r);
		errno = e;
		return NULL;
	}
	return r;
}

int kg_resolve_fd(const struct kg_resolve *r)
{
	return r->efd;
}

bool kg_resolve_result(struct kg_resolve *r, const struct kg_resolve_name **res, size_t *n)
{
	uint64_t v;
	bool done;

	pthread_mutex_lock(&r->lock);
	done = r->done;
	pthread_mutex_unlock(&r->lock);
	if (!done)
		return false;
	(void)!read(r->efd, &v, sizeof(v));
	*res = r->name;
	*n = r->n;
	return true;
}

void kg_resolve_free(struct kg_resolve *r)
{
	pthread_t thread;
	bool done;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	thread = r->thread; /* r may be gone once unlocked */
	done = r->done;
	if (!done)
		r->abandoned = true;
	pthread_mutex_unlock(&r->lock);
	if (done) {
		pthread_join(r->thread, NULL); /* it only has its return left */
		batch_free(r);
	} else {
		pthread_detach(thread);
	}
}
