/* The client's side of the PAC evaluator (issue 13; not wired into the client yet): spawns
 * kernelgatekeeper-pac (src/pac/) on a socketpair, loads a PAC into it and evaluates requests
 * with a deadline each, killing (SIGKILL, by PID) and restarting the evaluator when a request
 * does not finish in time, when it dies, or when it breaks the protocol or runs out of
 * memory. A restarted evaluator gets the last PAC that loaded again (and, when the one before
 * reached its lifetime CPU limit, the request that was running). Every failure comes with
 * a sentence saying what the PAC did, for the journal ("PAC evaluation did not finish within
 * 500 ms (an endless loop?)").
 *
 * Blocking calls with a deadline (the PAC engine, pac_engine.h, runs them on its own thread).
 * Finds may be pipelined: kg_pac_proc_submit() queues up to KG_PAC_PROC_PIPELINE_MAX of them
 * and kg_pac_proc_complete() sends what is queued and hands back the answers one at a time,
 * oldest first (a request that asked for a name and was sent again comes back later). Each
 * request has its own deadline, counted from the moment it is the oldest one unanswered; a
 * request that misses it, or kills the evaluator, fails alone, and those behind it go to the
 * restarted evaluator. kg_pac_proc_find() and kg_pac_proc_find_resolving() are one submit
 * and one complete. The child is reaped here, by PID, with waitpid. Not thread-safe: one
 * user at a time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shared/pac_proto.h"

#define KG_PAC_PROC_FIND_TIMEOUT_MS 500
#define KG_PAC_PROC_LOAD_TIMEOUT_MS 2000
/* Rounds of NEED_DNS kg_pac_proc_find_resolving() follows before it gives up. */
#define KG_PAC_PROC_DNS_ROUNDS 8
/* Finds in flight at most. */
#define KG_PAC_PROC_PIPELINE_MAX 32

struct kg_pac_proc_opts {
	const char *path;	  /* the evaluator's executable */
	unsigned find_timeout_ms; /* 0: KG_PAC_PROC_FIND_TIMEOUT_MS */
	unsigned load_timeout_ms; /* 0: KG_PAC_PROC_LOAD_TIMEOUT_MS */
	/* alert(msg) from the PAC, in order, before the call returns (may be NULL). */
	void (*on_alert)(void *ud, const char *msg);
	void *ud;
};

/* The outcome of a find. */
enum kg_pac_proc_status {
	KG_PAC_PROC_RESULT = 0,	  /* out holds what FindProxyForURL returned */
	KG_PAC_PROC_NEED_DNS = 1, /* out holds the host name to resolve; ask again */
};

struct kg_pac_proc;

/* Spawns the evaluator. NULL with a sentence in err when it cannot start. */
struct kg_pac_proc *kg_pac_proc_new(const struct kg_pac_proc_opts *opts, char *err, size_t errlen);
/* Kills and reaps the evaluator. */
void kg_pac_proc_free(struct kg_pac_proc *p);

/* Loads a PAC (replacing the current one). 0; -E2BIG when it is larger than
 * KG_PAC_SCRIPT_MAX or contains a NUL byte (-EINVAL), -ENOEXEC when the PAC is refused
 * (syntax error, threw, no FindProxyForURL), -ETIMEDOUT, -ENOMEM, -EPROTO, -ECHILD (the
 * evaluator died or could not be restarted), -EBUSY (finds in flight); a sentence in err.
 * After a failure no PAC is loaded. */
int kg_pac_proc_load(struct kg_pac_proc *p, const char *pac, size_t len, char *err, size_t errlen);

/* One evaluation of FindProxyForURL(q->url, q->host). KG_PAC_PROC_RESULT or
 * KG_PAC_PROC_NEED_DNS with out filled (outlen > KG_PAC_RESULT_MAX), or -errno with a
 * sentence in out: -ENOEXEC (the PAC threw, returned no string, or none is loaded),
 * -ETIMEDOUT, -ENOMEM, -EPROTO, -ECHILD, -EINVAL (q breaks the protocol's bounds), -EBUSY
 * (pipelined finds in flight). */
int kg_pac_proc_find(struct kg_pac_proc *p, const struct kg_pac_find *q, char *out, size_t outlen);

/* Resolves host for kg_pac_proc_find_resolving: up to KG_PAC_DNS_ADDRS_MAX addresses into
 * e->addr and e->naddr (0: does not resolve). e->host is set already. */
typedef void (*kg_pac_resolve_fn)(void *ud, struct kg_pac_dns_entry *e);

/* kg_pac_proc_find, following NEED_DNS: each name asked for is resolved with resolve, added
 * to a copy of q's table, and the request sent again, for at most KG_PAC_PROC_DNS_ROUNDS
 * rounds (then -ELOOP) and while the table has room (then -ENOSPC). q is not changed. */
int kg_pac_proc_find_resolving(struct kg_pac_proc *p, const struct kg_pac_find *q,
			       kg_pac_resolve_fn resolve, void *ud, char *out, size_t outlen);

/* The evaluator's PID now, and how many times it was restarted. */
/* Pipelined finds. Queues q (encoded at once: q need not outlive the call) with tag, the
 * caller's handle for it; nothing is sent before kg_pac_proc_complete(). resolve NULL: a
 * NEED_DNS answer is the request's outcome; else it is followed as in
 * kg_pac_proc_find_resolving (with rud). 0, or -errno with a sentence in err and nothing
 * queued: -EBUSY (KG_PAC_PROC_PIPELINE_MAX in flight), -ENOEXEC (no PAC loaded), -EINVAL,
 * -ENOMEM, or kg_pac_proc_load's errors when the evaluator had to be started again. */
int kg_pac_proc_submit(struct kg_pac_proc *p, const struct kg_pac_find *q,
		       kg_pac_resolve_fn resolve, void *rud, void *tag, char *err, size_t errlen);
/* Sends what is queued and waits for the next request to finish: its tag into *tag and its
 * outcome, as kg_pac_proc_find_resolving (or kg_pac_proc_find when it had no resolve);
 * -ENOENT when nothing is in flight. Alerts go to on_alert while kg_pac_proc_head_tag()
 * names the request they belong to. */
int kg_pac_proc_complete(struct kg_pac_proc *p, void **tag, char *out, size_t outlen);
/* The caller no longer wants the answer to the request with tag: it leaves the pipeline
 * unevaluated when it was not sent yet (or when the evaluator is restarted before it gets
 * to it), else its answer is thrown away when it comes; kg_pac_proc_complete never hands it
 * back. false, and nothing changes, when no request has that tag or it is the oldest one
 * and sent (being evaluated: it completes as usual). */
bool kg_pac_proc_drop(struct kg_pac_proc *p, void *tag);
/* The tags of the requests in flight, oldest first, at most cap; how many. */
unsigned kg_pac_proc_tags(const struct kg_pac_proc *p, void **tags, unsigned cap);
/* Requests in flight; whether an answer is read already (complete will not wait for it). */
unsigned kg_pac_proc_in_flight(const struct kg_pac_proc *p);
bool kg_pac_proc_answer_waiting(const struct kg_pac_proc *p);
/* The tag of the oldest request in flight (the one the evaluator works on), or NULL. */
void *kg_pac_proc_head_tag(const struct kg_pac_proc *p);
/* Gives up on everything in flight (the evaluator is stopped; the next request starts a new
 * one): the tags, oldest first, into tags (at most cap); how many there were. */
unsigned kg_pac_proc_abandon(struct kg_pac_proc *p, void **tags, unsigned cap);

pid_t kg_pac_proc_pid(const struct kg_pac_proc *p);
unsigned kg_pac_proc_restarts(const struct kg_pac_proc *p);
