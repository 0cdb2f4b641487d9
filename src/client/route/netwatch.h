/* Network change watcher (netwatch.c): an rtnetlink socket as a source of the client's loop
 * (loop.h) that calls back once per burst of address and route changes.
 *
 * What counts as a change: an IPv4 or IPv6 address added or removed (RTM_NEWADDR,
 * RTM_DELADDR), a route added or removed (RTM_NEWROUTE, RTM_DELROUTE) outside the kernel's
 * local table and not a cloned (cache) route, and a lost event (the socket's buffer
 * overflowed: ENOBUFS, or a truncated datagram), since then a change may have been missed.
 * Link state alone (RTM_NEWLINK) is not one: an interface that goes down loses its routes,
 * which is.
 *
 * Debounce: the first change arms a timer debounce_ms ahead, later ones until it fires are
 * part of the same burst; when it fires the callback runs once. A burst that goes on is thus
 * reported every debounce_ms, never starved. Only datagrams from the kernel (netlink port 0)
 * are read as events.
 *
 * Use (the loop initialised, on its thread):
 *     struct kg_netwatch *w = kg_netwatch_start(KG_NETWATCH_DEBOUNCE_MS, on_change, ud);
 *     ...
 *     kg_netwatch_stop(w);
 * The PAC side calls kg_wpad_retry_delay(0, false) from on_change (fetch again now); the
 * off-network probe likewise.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define KG_NETWATCH_DEBOUNCE_MS 1000

typedef void kg_netwatch_fn(void *ud);

struct kg_netwatch;

/* Opens NETLINK_ROUTE (RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
 * RTMGRP_IPV6_ROUTE; no privilege needed) and watches it. NULL with errno set. */
struct kg_netwatch *kg_netwatch_start(unsigned debounce_ms, kg_netwatch_fn *fn, void *ud);
/* The same over a datagram fd the caller made, which it hands over (tests feed netlink
 * messages through a socketpair). */
struct kg_netwatch *kg_netwatch_start_fd(int fd, unsigned debounce_ms, kg_netwatch_fn *fn,
					 void *ud);
/* Unwatches, closes, cancels a pending callback; NULL is a no-op. */
void kg_netwatch_stop(struct kg_netwatch *w);

/* Whether one datagram of rtnetlink messages holds a change (as above). Bounded: every
 * length is checked against len; buf is aligned to 4 bytes (NLMSG_ALIGNTO). */
bool kg_netwatch_relevant(const void *buf, size_t len);
