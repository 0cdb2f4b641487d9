/* The PAC engine of the client (issue 13): FindProxyForURL per connection without ever
 * blocking the event loop.
 *
 * One worker thread owns the sandboxed evaluator (pac_proc.h: blocking calls with deadlines,
 * kill and restart) and the DNS cache (dns_cache.h). The loop thread queues requests; the
 * worker starts them in order, keeping up to KG_PAC_PROC_PIPELINE_MAX in the evaluator's
 * pipeline (a load or a network change waits until the requests before it are answered), and
 * hands the answers back in batches through an eventfd, which the loop watches
 * (pac_engine_fd(), then pac_engine_dispatch() on the loop thread calls each request's done
 * function). A request that asked for a name comes back after the ones behind it. The model is
 * auth/authq.h; unlike authq an engine is an object, so a test (or a second configuration during a
 * reload) may have several.
 *
 * Wiring into the client (the integrator's part):
 *
 *   struct pac_engine_opts o = {.evaluator = PKGLIBEXECDIR "/kernelgatekeeper-pac",
 *                               .on_load = on_pac_loaded, .ud = cl};
 *   cl->pac = pac_engine_new(&o, err, sizeof(err));       // after sigprocmask in main.c
 *   cl->pac_src.kind = kg_loop_source_kind(on_pac_ready);  // on_pac_ready calls
 *   kg_loop_add(pac_engine_fd(cl->pac), &cl->pac_src, EPOLLIN); //   pac_engine_dispatch()
 *   pac_engine_load(cl->pac, text, len);      // each PAC fetched (WPAD, piece B)
 *   pac_engine_network_changed(cl->pac);      // netlink: addresses or routes changed
 *   u->pac_job = pac_engine_find(cl->pac, &q, on_route, u);   // per connection / request
 *   pac_engine_cancel(cl->pac, u->pac_job);   // the connection closed before the answer
 *   pac_engine_free(cl->pac);                 // at exit, after kg_loop_del of the fd
 *
 * Answers (done(ud, status, route, why), on the loop thread, exactly once per request that
 * was not cancelled; the request handle is invalid once done returns):
 *   - status 0: route is the PAC's answer (kg_route_parse_pac). An answer with no usable
 *     entry (empty, only SOCKS, malformed) is a route of one DIRECT, as browsers do, and why
 *     says so ("PAC answered \"SOCKS s:1080\": ...; going DIRECT as browsers do"). why is ""
 *     or a note for the journal (SOCKS entries skipped, the list truncated, the DNS budget
 *     spent).
 *   - status < 0: route is NULL, why is the sentence for the journal, and the connection
 *     follows proxy.fallback. -EBUSY: the queue was full (answered at once, without asking
 *     the evaluator); -ENOEXEC: the PAC threw or returned no string, or no PAC is loaded;
 *     -ETIMEDOUT (an endless loop), -ENOMEM (the evaluator's memory cap), -ECHILD (the
 *     evaluator died), -EPROTO: the evaluator was killed and restarted (pac_proc), later
 *     requests are served again; -ELOOP, -ENOSPC: the PAC asked for too many names;
 *     -EINVAL: the URL or host holds a control character (the evaluator's protocol refuses
 *     it).
 *   The engine itself logs only the PAC's alert() messages (log_notice "PAC alert: ...",
 *   unless opts.on_alert takes them); the caller logs why.
 *
 * myIpAddress() and myIpAddressEx() answer the source address the kernel would pick to reach
 * the request's original destination (dst, dst_port): a UDP socket connected there (no packet
 * is sent) and getsockname(). When there is no route to it (or no dst is given), myIpAddress()
 * answers "127.0.0.1" and myIpAddressEx() "", as Chromium does when it finds no address. An
 * IPv6 destination gives an IPv6 source: myIpAddress() then answers 127.0.0.1 (it is IPv4
 * only), myIpAddressEx() the IPv6 address. The socket is only made when the loaded PAC's
 * source mentions myIpAddress.
 *
 * DNS: each name the PAC asks about is resolved in the worker through the engine's cache
 * (dns_cache.h); one request spends at most dns_budget_ms on lookups, after which the names
 * it still asks about do not resolve (for that request only, not cached). With
 * opts.resolve_proxies (the client's policy sets it), the proxies of the answer are resolved
 * there too, through the same cache, before it goes back (route->resolved, each entry's addr:
 * its first address, A before AAAA), within a second dns_budget_ms of their own, so the relay
 * never looks a name up on its loop; a proxy whose name does not resolve has addr.family 0,
 * and the relay counts it as a proxy that failed to connect (failover.h).
 *
 * Per-host result cache: none. A decision through the engine costs 0.05 to 0.15 ms on a busy
 * 2-CPU machine (tests/bench/pac-bench.sh measures it against the evaluator alone), within
 * the 0.5 ms first-byte budget without a cache. A cached answer would be right only
 * while neither the time (weekdayRange, dateRange, timeRange, Date), nor the DNS answers, nor the
 * source address, nor, on port 80, the URL path change it; telling those apart reliably takes
 * more than a text search of the PAC (eval, computed property names), and a wrong cached
 * route is a connection through the wrong proxy. Always-fresh answers won over a gain of
 * about 0.1 ms per connection.
 *
 * Child processes: pac_proc reaps the evaluator itself, waitpid() by its PID, when it kills
 * or restarts it. The client must therefore never reap children it does not know (no
 * waitpid(-1), SIGCHLD neither SIG_IGN nor SA_NOCLDWAIT): main.c today leaves SIGCHLD at its
 * default and outside its signalfd mask, which is right. An evaluator that dies on its own
 * stays a zombie until the next request notices and restarts it.
 *
 * Not thread-safe beyond that split: every function here is called on one thread (the
 * loop's), which is also where done, on_load and on_alert run. They may queue and cancel
 * requests, but never free the engine.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/route/dns_cache.h"
#include "client/route/route.h"
#include "shared/pac_proto.h"

#define PAC_ENGINE_QUEUE_MAX  256  /* requests waiting at most; beyond that -EBUSY at once */
#define PAC_ENGINE_DNS_BUDGET 3000 /* ms of DNS lookups per request */
#define PAC_ENGINE_WHY_MAX    (KG_PAC_TEXT_MAX + KG_ROUTE_ERR_MAX + 128)

struct pac_engine;
struct pac_job;

/* A load's outcome: status 0, or kg_pac_proc_load's -errno with its sentence (the PAC's
 * syntax error, its throw, its size...). After a refused load no PAC is loaded: every find
 * answers -ENOEXEC until the next load succeeds. */
typedef void pac_engine_load_fn(void *ud, int status, const char *why);
typedef void pac_engine_alert_fn(void *ud, const char *msg);
typedef void pac_engine_done_fn(void *ud, int status, const struct kg_route *route,
				const char *why);

struct pac_engine_opts {
	const char *evaluator;	  /* kernelgatekeeper-pac's path */
	unsigned queue_max;	  /* 0: PAC_ENGINE_QUEUE_MAX */
	unsigned find_timeout_ms; /* 0: pac_proc's default (KG_PAC_PROC_FIND_TIMEOUT_MS) */
	unsigned load_timeout_ms; /* 0: KG_PAC_PROC_LOAD_TIMEOUT_MS */
	unsigned dns_budget_ms;	  /* 0: PAC_ENGINE_DNS_BUDGET */
	const struct kg_dns_cache_opts *dns; /* NULL: the system's resolver, default size */
	bool resolve_proxies; /* resolve each answer's proxies before it goes back (see DNS) */
	pac_engine_load_fn *on_load;   /* may be NULL */
	pac_engine_alert_fn *on_alert; /* NULL: log_notice */
	void *ud;		       /* for on_load and on_alert */
};

/* One FindProxyForURL call. url and host are copied. dst: the connection's original
 * destination (family 0: unknown), for myIpAddress. */
struct pac_engine_query {
	const char *url;  /* "https://host/" on 443; the request's URL on 80 */
	const char *host; /* the host part, as browsers pass it */
	struct kg_pac_addr dst;
	uint16_t dst_port;
	bool quiet; /* a probe, not a connection: the PAC's alert()s are dropped */
};

/* Spawns the evaluator and starts the worker. NULL with a sentence in err. Signals are
 * blocked in the worker thread. */
struct pac_engine *pac_engine_new(const struct pac_engine_opts *o, char *err, size_t errlen);
/* Stops the worker (after the answer it is waiting for, at most the find deadline plus the
 * DNS budget), kills the evaluator, drops queued and in-flight requests without calling
 * done. */
void pac_engine_free(struct pac_engine *e);

/* Queues a load of the PAC text (copied), ahead of no one: requests queued before it are
 * answered by the PAC before. Its outcome goes to on_load. 0 or -ENOMEM. */
int pac_engine_load(struct pac_engine *e, const char *pac, size_t len);

/* The network changed (netlink address or route events): the DNS answers cached so far may
 * be wrong now. Queues forgetting them all; requests queued after it look names up again.
 * 0 or -ENOMEM. */
int pac_engine_network_changed(struct pac_engine *e);

/* Queues a request; its answer goes to done(ud, ...) from pac_engine_dispatch(). NULL only
 * when out of memory or a string is out of the protocol's bounds (errno set: ENOMEM,
 * EINVAL); a full queue still gives a request, answered -EBUSY by the next dispatch. */
struct pac_job *pac_engine_find(struct pac_engine *e, const struct pac_engine_query *q,
				pac_engine_done_fn *done, void *ud);
/* The caller no longer wants the answer (its connection closed): done is never called for
 * it. A queued request is dropped without being evaluated and stops counting against the
 * queue at once. job may be NULL. */
void pac_engine_cancel(struct pac_engine *e, struct pac_job *job);

/* The eventfd to watch for EPOLLIN, and what to call then. */
int pac_engine_fd(const struct pac_engine *e);
void pac_engine_dispatch(struct pac_engine *e);

/* The source address the kernel would use towards dst:port (see above) into out: 0, or
 * -errno (no route: out is family 0). Exposed for tests. */
int pac_engine_source_addr(const struct kg_pac_addr *dst, uint16_t port, struct kg_pac_addr *out);

struct pac_engine_stats {
	unsigned long finds, busy, cancelled, failures;
	unsigned evaluator_restarts;
	struct kg_dns_cache_stats dns;
};
/* Counters, as of the last request the worker finished. */
void pac_engine_get_stats(struct pac_engine *e, struct pac_engine_stats *s);
