/* The client's event loop (see loop.h).
 *
 * Why hand-written and not sd-event: the client is a byte relay, and its throughput is decided
 * by how many socket events one wakeup serves. sd-event dispatches one source per wakeup
 * (sd_event_run() -> one callback, then prepare/wait again), with a priority queue update and
 * an epoll_wait per event, and that epoll_wait collects every ready descriptor again. Measured
 * here (tests/bench/loop-dispatch, `make bench`, libsystemd 252, 2 vCPUs, three runs of seven
 * rounds): with 256 busy sockets one event cost 114-118 ns in an epoll loop like this one and
 * 30.3-30.9 us through sd-event, 265-269 times as much; with 16 busy sockets 18 times, with 2
 * still 2.7 times. This loop takes up to KG_LOOP_EVENTS events per epoll_wait and dispatches
 * them all through one indirect call each, with no syscall and no allocation per event.
 * Edge-triggered sources remember readiness themselves (pump.h), so backpressure needs no epoll_ctl
 * either.
 *
 * A pass: the due timers (a binary heap keyed by deadline; each timer knows its index, so
 * cancel is O(log n)), the pass hook, the deferred frees of the previous pass, one epoll_wait
 * (not waiting at all when the ready list has work), the events it returned, then the ready
 * list. Objects closed during a pass are freed only at the start of the next one, after every
 * event already fetched for them has been dispatched: such an event finds its object marked
 * closed by its owner instead of freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "client/loop.h"

#define HEAP_MIN 16

static struct {
	int epfd;
	bool quit;
	struct kg_loop_timer **heap;
	uint32_t n, cap;
	struct kg_loop_ready *ready;   /* queued for the next run */
	struct kg_loop_ready *running; /* the run under way: what it has not reached yet */
	struct kg_loop_deferred *graveyard;
	uint64_t (*clock)(void);
	void (*hook)(void *arg);
	void *hook_arg;
} loop = {.epfd = -1};

/* --- kinds: the callbacks, registered once per function ----------------------------------- */

typedef void (*kind_fn)(void);

static struct kinds {
	const char *what;
	kind_fn fn[KG_LOOP_KINDS]; /* [0] unused: kind 0 is "none" */
	uint8_t n;
} source_kinds = {"source", {0}, 1}, timer_kinds = {"timer", {0}, 1},
  ready_kinds = {"ready", {0}, 1}, deferred_kinds = {"deferred", {0}, 1};

static uint8_t kind_of(struct kinds *k, kind_fn fn)
{
	uint8_t i;

	for (i = 1; i < k->n; i++)
		if (k->fn[i] == fn)
			return i;
	if (k->n == KG_LOOP_KINDS) {
		fprintf(stderr, "kg_loop: more than %d %s callbacks\n", KG_LOOP_KINDS - 1, k->what);
		abort();
	}
	k->fn[k->n] = fn;
	return k->n++;
}

uint8_t kg_loop_source_kind(void (*on_event)(struct kg_loop_source *s, uint32_t events))
{
	return kind_of(&source_kinds, (kind_fn)on_event);
}

uint8_t kg_loop_timer_kind(void (*on_timer)(struct kg_loop_timer *t))
{
	return kind_of(&timer_kinds, (kind_fn)on_timer);
}

uint8_t kg_loop_ready_kind(void (*on_ready)(struct kg_loop_ready *r))
{
	return kind_of(&ready_kinds, (kind_fn)on_ready);
}

uint8_t kg_loop_deferred_kind(void (*on_free)(struct kg_loop_deferred *d))
{
	return kind_of(&deferred_kinds, (kind_fn)on_free);
}

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t kg_loop_now(void)
{
	return loop.clock ? loop.clock() : monotonic_usec();
}

void kg_loop_set_clock(uint64_t (*now)(void))
{
	loop.clock = now;
}

/* --- timers ----------------------------------------------------------------------------------- */

static void heap_set(uint32_t i, struct kg_loop_timer *t)
{
	loop.heap[i] = t;
	t->heap_pos = i + 1;
}

static void heap_up(uint32_t i)
{
	struct kg_loop_timer *t = loop.heap[i];

	while (i > 0 && loop.heap[(i - 1) / 2]->deadline > t->deadline) {
		heap_set(i, loop.heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, t);
}

static void heap_down(uint32_t i)
{
	struct kg_loop_timer *t = loop.heap[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = l;

		if (l >= loop.n)
			break;
		if (r < loop.n && loop.heap[r]->deadline < loop.heap[l]->deadline)
			m = r;
		if (loop.heap[m]->deadline >= t->deadline)
			break;
		heap_set(i, loop.heap[m]);
		i = m;
	}
	heap_set(i, t);
}

int kg_loop_timer_reserve(uint32_t n)
{
	struct kg_loop_timer **heap;
	uint32_t cap;

	if ((uint64_t)loop.n + n <= loop.cap)
		return 0;
	cap = loop.n + n < HEAP_MIN ? HEAP_MIN : loop.n + n;
	if (cap < 2 * loop.cap)
		cap = 2 * loop.cap;
	heap = realloc(loop.heap, cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	loop.heap = heap;
	loop.cap = cap;
	return 0;
}

void kg_loop_timer_cancel(struct kg_loop_timer *t)
{
	struct kg_loop_timer *last;
	uint32_t i;

	if (!t->heap_pos)
		return;
	i = t->heap_pos - 1;
	t->heap_pos = 0;
	loop.n--;
	if (i == loop.n)
		return;
	last = loop.heap[loop.n];
	heap_set(i, last);
	heap_down(i);
	heap_up(last->heap_pos - 1);
}

int kg_loop_timer_arm(struct kg_loop_timer *t, uint64_t deadline)
{
	if (t->heap_pos) {
		uint64_t old = t->deadline;

		t->deadline = deadline;
		if (deadline < old)
			heap_up(t->heap_pos - 1);
		else
			heap_down(t->heap_pos - 1);
		return 0;
	}
	if (loop.n == loop.cap && kg_loop_timer_reserve(1) < 0)
		return -ENOMEM;
	t->deadline = deadline;
	loop.heap[loop.n] = t;
	heap_up(loop.n++);
	return 0;
}

static void run_timers(uint64_t now)
{
	while (loop.n > 0 && loop.heap[0]->deadline <= now) {
		struct kg_loop_timer *t = loop.heap[0];

		kg_loop_timer_cancel(t);
		((void (*)(struct kg_loop_timer *))timer_kinds.fn[t->kind])(t);
	}
}

/* --- ready list ------------------------------------------------------------------------------- */

void kg_loop_ready_mark(struct kg_loop_ready *r)
{
	if (r->queued)
		return;
	r->next = loop.ready;
	loop.ready = r;
	r->queued = true;
}

static bool unlink_from(struct kg_loop_ready **pp, struct kg_loop_ready *r)
{
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return true;
		}
	}
	return false;
}

/* Singly linked to keep the entry small: a cancel walks the list, which holds only what has
 * work left over (and a cancel happens only when its owner closes). */
void kg_loop_ready_cancel(struct kg_loop_ready *r)
{
	if (!r->queued)
		return;
	if (!unlink_from(&loop.ready, r))
		unlink_from(&loop.running, r);
	r->next = NULL;
	r->queued = false;
}

/* What is ready now runs once; what it marks ready again waits for the next pass (after the
 * next epoll_wait, which then does not block), so one busy object cannot starve the others. */
static void run_ready(void)
{
	struct kg_loop_ready *r;

	loop.running = loop.ready;
	loop.ready = NULL;
	while ((r = loop.running)) {
		loop.running = r->next;
		r->next = NULL;
		r->queued = false;
		((void (*)(struct kg_loop_ready *))ready_kinds.fn[r->kind])(r);
	}
}

/* --- deferred frees --------------------------------------------------------------------------- */

void kg_loop_defer_free(struct kg_loop_deferred *d)
{
	d->next = loop.graveyard;
	loop.graveyard = d;
}

static void bury(void)
{
	struct kg_loop_deferred *d;

	while ((d = loop.graveyard)) {
		loop.graveyard = d->next;
		((void (*)(struct kg_loop_deferred *))deferred_kinds.fn[d->kind])(d);
	}
}

/* --- sources and the loop --------------------------------------------------------------------- */

int kg_loop_init(void)
{
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop.epfd < 0)
		return -errno;
	loop.quit = false;
	return kg_loop_timer_reserve(HEAP_MIN);
}

void kg_loop_cleanup(void)
{
	bury();
	while (loop.n > 0)
		kg_loop_timer_cancel(loop.heap[0]);
	while (loop.ready)
		kg_loop_ready_cancel(loop.ready);
	free(loop.heap);
	loop.heap = NULL;
	loop.n = loop.cap = 0;
	if (loop.epfd >= 0)
		close(loop.epfd);
	loop.epfd = -1;
	loop.hook = NULL;
	loop.hook_arg = NULL;
}

int kg_loop_add(int fd, struct kg_loop_source *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};

	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void kg_loop_del(int fd)
{
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, NULL);
}

void kg_loop_set_pass_hook(void (*fn)(void *arg), void *arg)
{
	loop.hook = fn;
	loop.hook_arg = arg;
}

void kg_loop_quit(void)
{
	loop.quit = true;
}

int kg_loop_pass(int max_wait_ms)
{
	struct epoll_event evs[KG_LOOP_EVENTS];
	uint64_t now = kg_loop_now();
	int n, i, timeout = -1;

	run_timers(now);
	if (loop.hook)
		loop.hook(loop.hook_arg);
	bury();
	if (loop.quit)
		return 0;
	if (loop.ready) {
		timeout = 0;
	} else if (loop.n > 0) {
		uint64_t next = loop.heap[0]->deadline, ms;

		ms = ((next > now ? next - now : 0) + 999) / 1000;
		timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
	}
	if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms))
		timeout = max_wait_ms;
	n = epoll_wait(loop.epfd, evs, KG_LOOP_EVENTS, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct kg_loop_source *s = evs[i].data.ptr;

		((void (*)(struct kg_loop_source *, uint32_t))source_kinds.fn[s->kind])(
		    s, evs[i].events);
	}
	run_ready();
	return 0;
}

int kg_loop_run(void)
{
	int r;

	loop.quit = false;
	while (!loop.quit) {
		r = kg_loop_pass(-1);
		if (r < 0)
			return r;
	}
	bury();
	return 0;
}
