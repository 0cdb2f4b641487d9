/* The system relay's credentials (issue 17): tickets for the host's keytab principal in a
 * private MEMORY: credential cache, renewed before they expire.
 *
 * The keytab is $CREDENTIALS_DIRECTORY/keytab when systemd passed it (LoadCredential=), else
 * system.keytab. The principal is system.principal, or host/<fqdn>@<default realm>; it is looked
 * up in the keytab first, so that "not in the keytab" is said as such rather than as a KDC
 * error. Tickets come from krb5_get_init_creds_keytab() into a new MEMORY: cache each time; the
 * relay's token code (authq's worker thread) is handed the cache's name per job, so a renewal
 * never changes a cache under a token being made: the new cache gets a new name, and the one
 * before is destroyed only at the next renewal, long after every job that named it is done.
 * A renewer thread does the KDC exchanges (which may block for the Kerberos timeouts) at 80 %
 * of each ticket's lifetime, and after a failure with backoff; the loop thread only reads the
 * current name.
 */
#pragma once

#include <stddef.h>
#include <time.h>

#define KEYTAB_CCACHE_MAX 64 /* "MEMORY:kg-system-<pid>-<n>" */
#define KEYTAB_ERR_MAX	  512

/* The keytab file to use: $CREDENTIALS_DIRECTORY/keytab when that variable is set, else
 * configured. 0 or -ENAMETOOLONG. */
int keytab_path(const char *configured, char *out, size_t len);

/* Checks that path can be read and holds principal (configured, or "" for host/<fqdn>@<default
 * realm>); the principal's full name goes to out. 0; or -errno with one sentence in err:
 * -ENOENT/-EACCES (the keytab cannot be read), -ESRCH (the principal is not in it), -EINVAL (a
 * malformed principal or keytab). */
int keytab_check(const char *path, const char *configured, char *out, size_t len, char *err,
		 size_t errlen);

/* Tickets for principal from the keytab at path, into a new MEMORY: cache whose name goes to
 * ccname; *endtime is when they end. 0, or -errno with one sentence in err (-ECONNREFUSED the KDC
 * cannot be reached, -EACCES the KDC refused, -ESRCH/-ENOENT/-EINVAL as keytab_check()). */
int keytab_acquire(const char *path, const char *principal, char *ccname, size_t cclen,
		   time_t *endtime, char *err, size_t errlen);

/* Destroys a cache keytab_acquire() made. */
void keytab_ccache_destroy(const char *ccname);

/* When to renew tickets that end at endtime, seen at now: at 80 % of what is left, at least 30 s
 * from now. */
time_t keytab_renew_at(time_t now, time_t endtime);
/* The wait after the n-th failure in a row (n >= 1): 10 s doubling, at most 5 minutes. */
unsigned keytab_backoff_s(unsigned n);

/* The renewer: checks the keytab (its failure is returned, logged by the caller), then gets the
 * first tickets at once (a KDC failure is logged, not returned: the renewer keeps trying) and
 * starts the thread. 0 or -errno with err set. */
int keytab_renewer_start(const char *path, const char *principal, char *err, size_t errlen);
/* Stops the thread and destroys the caches. */
void keytab_renewer_stop(void);
/* The current cache's name, "" before the first tickets (or when no renewer runs); copied under
 * the renewer's lock into a buffer of the caller's thread, valid until its next call there. */
const char *keytab_ccache(void);
/* The principal and the end of the current tickets (0 none), for the status report. */
const char *keytab_principal(void);
time_t keytab_endtime(void);
