/* The client's event loop: one epoll set, a timer heap, a ready list, deferred frees.
 *
 * Generic: it knows no module of the client. Whatever it watches embeds a struct
 * kg_loop_source whose callback gets the epoll events; timers, ready-list entries and deferred
 * frees are likewise embedded in their owners (no allocation per event or per arm, except that
 * the timer heap grows: kg_loop_timer_reserve() makes room ahead so arming cannot fail).
 *
 * The callback is not stored in each embedded struct but registered once per function
 * (kg_loop_*_kind()), and the struct keeps the one-byte kind: an idle tunnel embeds two
 * sources, a timer and a ready entry, and 8-byte function pointers in each would make every
 * tunnel 40 bytes larger (make bench measures the memory of idle tunnels).
 * One loop per process (the client has one thread for all relaying).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define KG_LOOP_EVENTS 256 /* epoll events fetched per wakeup */

#define KG_LOOP_KINDS 32 /* callbacks of each sort registered at most (a program error beyond) */

struct kg_loop_source {
	uint8_t kind; /* kg_loop_source_kind(): gets the epoll events */
};

struct kg_loop_timer {
	uint64_t deadline; /* monotonic usec (the loop's clock) */
	uint32_t heap_pos; /* index in the heap + 1, 0: not armed (so zeroed memory is idle) */
	uint8_t kind;	   /* kg_loop_timer_kind() */
};

/* More work without a new event: its callback runs once in the next pass. */
struct kg_loop_ready {
	struct kg_loop_ready *next;
	uint8_t kind; /* kg_loop_ready_kind() */
	bool queued;
};

/* Freed at the end of the pass, after every event already fetched has been dispatched. */
struct kg_loop_deferred {
	struct kg_loop_deferred *next;
	uint8_t kind; /* kg_loop_deferred_kind() */
};

/* The kind for a callback, the same for every call with the same function (registered on first
 * use; more than KG_LOOP_KINDS functions of one sort abort the process: a program error). */
uint8_t kg_loop_source_kind(void (*on_event)(struct kg_loop_source *s, uint32_t events));
uint8_t kg_loop_timer_kind(void (*on_timer)(struct kg_loop_timer *t));
uint8_t kg_loop_ready_kind(void (*on_ready)(struct kg_loop_ready *r));
uint8_t kg_loop_deferred_kind(void (*on_free)(struct kg_loop_deferred *d));

#define KG_CONTAINER_OF(p, type, member) ((type *)((char *)(p) - __builtin_offsetof(type, member)))

/* 0 or -errno. */
int kg_loop_init(void);
/* Runs the pending deferred frees, drops the timers and closes the epoll set. */
void kg_loop_cleanup(void);

/* The loop's clock, monotonic usec; tests may replace it (NULL: CLOCK_MONOTONIC). */
uint64_t kg_loop_now(void);
void kg_loop_set_clock(uint64_t (*now)(void));

/* Watch fd for events (EPOLLET etc. as given); 0 or -errno. Closing fd also unwatches it. */
int kg_loop_add(int fd, struct kg_loop_source *s, uint32_t events);
void kg_loop_del(int fd);

/* Room in the heap for n more armed timers than are armed now; 0 or -ENOMEM. */
int kg_loop_timer_reserve(uint32_t n);
/* (Re)arm t for deadline (<= now: the next pass). 0, or -ENOMEM when the heap cannot grow. */
int kg_loop_timer_arm(struct kg_loop_timer *t, uint64_t deadline);
void kg_loop_timer_cancel(struct kg_loop_timer *t);
static inline bool kg_loop_timer_armed(const struct kg_loop_timer *t)
{
	return t->heap_pos != 0;
}

void kg_loop_ready_mark(struct kg_loop_ready *r);
void kg_loop_ready_cancel(struct kg_loop_ready *r);
static inline bool kg_loop_ready_queued(const struct kg_loop_ready *r)
{
	return r->queued;
}

void kg_loop_defer_free(struct kg_loop_deferred *d);

/* Called once per pass, after the due timers and before waiting (global work, stop checks). */
void kg_loop_set_pass_hook(void (*fn)(void *arg), void *arg);
/* kg_loop_run() returns after the current pass. */
void kg_loop_quit(void);

/* One pass: due timers, the hook, deferred frees, one epoll_wait (no longer than max_wait_ms
 * when >= 0, and not at all when work is ready), its events, then the ready list. 0 or -errno
 * (EINTR is not an error). */
int kg_loop_pass(int max_wait_ms);
/* Passes until kg_loop_quit(); 0 or -errno from epoll_wait. */
int kg_loop_run(void);
