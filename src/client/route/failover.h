/* Failover bookkeeping for the proxies of routes (failover.c).
 *
 * A proxy that failed to connect is marked down and skipped for KG_FAILOVER_HOLD_USEC
 * (5 minutes); a success clears the mark. Within one connection, the entries of its route are
 * tried at most once each: first those not marked down, in route order, then the ones marked
 * down, again in route order. So when every proxy of a route is down, they are all tried in
 * order, and a route "PROXY p1; DIRECT" with p1 down goes DIRECT at once, as Chromium
 * deprioritises bad proxies. DIRECT is never marked (its failure is the origin's).
 *
 * Marks are keyed by host:port (whatever the kind: a TCP connect failure is the host's), in a
 * fixed table of KG_FAILOVER_SLOTS marks. Up proxies take no slot. When the table is full, a
 * new mark replaces an expired one, or else the one that expires first: forgetting a mark only
 * makes a proxy be tried once more. Time is passed in (monotonic microseconds, as from
 * CLOCK_MONOTONIC): nothing here reads a clock, does I/O or allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/route/route.h"

#define KG_FAILOVER_HOLD_USEC (5ULL * 60 * 1000000) /* a failed proxy is skipped this long */
#define KG_FAILOVER_SLOTS     32		    /* marks kept at once */

struct kg_failover_mark {
	char host[KG_HOST_MAX]; /* "" for a free slot */
	uint16_t port;
	uint64_t since; /* first failure of this run of failures */
	uint64_t until; /* skipped while now < until */
};

struct kg_failover {
	struct kg_failover_mark mark[KG_FAILOVER_SLOTS];
};

/* One connection's walk through its route: which entries it has tried. Zero it (or use
 * KG_FAILOVER_TRY_INIT) before the first kg_failover_next. */
struct kg_failover_try {
	uint32_t tried; /* bit i: entry i was handed out */
};
#define KG_FAILOVER_TRY_INIT                                                                       \
	{                                                                                          \
		0                                                                                  \
	}

void kg_failover_init(struct kg_failover *f);

/* The next entry of route r to try for this connection: *index is set and 0 returned, or
 * -ENOENT when every entry has been tried. */
int kg_failover_next(const struct kg_failover *f, const struct kg_route *r,
		     struct kg_failover_try *t, uint64_t now, size_t *index);
/* The first choice for a new connection (kg_failover_next with a fresh walk). */
int kg_failover_pick(const struct kg_failover *f, const struct kg_route *r, uint64_t now,
		     size_t *index);

/* Entry e failed to connect at now: skipped until now + KG_FAILOVER_HOLD_USEC. A DIRECT entry
 * is ignored. */
void kg_failover_mark_down(struct kg_failover *f, const struct kg_route_entry *e, uint64_t now);
/* Entry e connected: its mark, if any, is cleared. */
void kg_failover_mark_up(struct kg_failover *f, const struct kg_route_entry *e);
/* Whether e is marked down at now (never for DIRECT). */
bool kg_failover_is_down(const struct kg_failover *f, const struct kg_route_entry *e, uint64_t now);
/* Since when e has been down (its first failure in a row), if it is down at now. */
bool kg_failover_down_since(const struct kg_failover *f, const struct kg_route_entry *e,
			    uint64_t now, uint64_t *since);

/* The choice for logs and ctl: "via p2.example:3128 (p1.example:3128 down)", "direct",
 * "via p1:3128 (p2:3128, p3:3128 down)": entry index of route r, followed by the other
 * entries of r that are down at now. Length, or -ENOSPC (buf keeps a truncated text ending
 * in "..."), or -EINVAL for a bad index. */
int kg_failover_describe(const struct kg_failover *f, const struct kg_route *r, size_t index,
			 uint64_t now, char *buf, size_t len);
