/* The client's side of the PAC evaluator (issue 13; not wired into the client yet): spawns
 * kernelgatekeeper-pac (src/pac/) on a socketpair, loads a PAC into it and evaluates requests
 * with a deadline each, killing (SIGKILL, by PID) and restarting the evaluator when a request
 * does not finish in time, when it dies, or when it breaks the protocol or runs out of
 * memory. A restarted evaluator gets the last PAC that loaded again (and, when the one before
 * reached its lifetime CPU limit, the request that was running). Every failure comes with
 * a sentence saying what the PAC did, for the journal ("PAC evaluation did not finish within
 * 500 ms (an endless loop?)").
 *
 * Blocking calls with a deadline, for now (the event-loop integration comes later). The child
 * is reaped here, by PID, with waitpid. Not thread-safe: one user at a time.
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
 * evaluator died or could not be restarted); a sentence in err. After a failure no PAC is
 * loaded. */
int kg_pac_proc_load(struct kg_pac_proc *p, const char *pac, size_t len, char *err, size_t errlen);

/* One evaluation of FindProxyForURL(q->url, q->host). KG_PAC_PROC_RESULT or
 * KG_PAC_PROC_NEED_DNS with out filled (outlen > KG_PAC_RESULT_MAX), or -errno with a
 * sentence in out: -ENOEXEC (the PAC threw, returned no string, or none is loaded),
 * -ETIMEDOUT, -ENOMEM, -EPROTO, -ECHILD, -EINVAL (q breaks the protocol's bounds). */
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
pid_t kg_pac_proc_pid(const struct kg_pac_proc *p);
unsigned kg_pac_proc_restarts(const struct kg_pac_proc *p);
