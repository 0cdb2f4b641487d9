/* A throwaway MIT KDC on 127.0.0.1 for the unit tests that need real tickets (test_negotiate,
 * test_authq): tests/lib/krbrig-kdc.sh makes the realm KGTEST.LOCAL in a temporary directory,
 * its principals and its krb5.conf, which this process then uses (KRB5_CONFIG, KRB5RCACHEDIR; the
 * invoking user's own tickets are never touched: KRB5CCNAME points into the rig).
 *
 *   r = kdc_rig_setup("kgneg", users);   0, 77 (skip: no KDC tools) or 99 (broken rig)
 *   ... srunner ...
 *   kdc_rig_teardown(r);                  stops the KDC (by PID), removes the directory
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#define KDC_RIG_REALM	   "KGTEST.LOCAL"
#define KDC_RIG_PROXY_HOST "proxy.kgtest.local"

extern char kdc_rig_dir[PATH_MAX];	 /* the rig's directory, "" before setup */
extern char kdc_rig_conf[PATH_MAX + 16]; /* its krb5.conf */
extern int kdc_rig_port;		 /* the KDC's TCP and UDP port on 127.0.0.1 */
extern pid_t kdc_rig_pid;		 /* the KDC, -1 when stopped */

/* A principal made at setup: NAME with password NAME "pw" (as kdc_rig_kinit expects). */
struct kdc_rig_user {
	const char *name;
};

/* fork + exec argv, wait: the exit status, -1 when it could not run or was killed. */
int kdc_rig_run(char *const argv[]);
/* krbrig-kdc.sh CMD RIG [args...]: up to five arguments, the first NULL ends them. */
int kdc_rig_cmd(const char *cmd, const char *a, const char *b, const char *c, const char *d,
		const char *e);
/* "FILE:<rig>/<name>"; two calls' results stay valid at once. */
const char *kdc_rig_cc(const char *name);
void kdc_rig_sleep_ms(long ms);
/* Whether the KDC accepts TCP connections. */
bool kdc_rig_listening(void);
/* 77 (skip) or, with KG_REQUIRE_PRIVILEGED=1, 99, after a line saying why. */
int kdc_rig_skip(const char *why);

/* Makes the rig in $TMPDIR/<prefix>.XXXXXX with the principals of users (NULL-name ended),
 * points this process at it and starts the KDC. With keytab, KRB5_KTNAME is the rig's
 * http.keytab (the acceptor's side of the tests). 0, 77 or 99. */
int kdc_rig_setup(const char *prefix, const struct kdc_rig_user *users, bool keytab);
/* SIGTERM the KDC (SIGKILL after 3 s) and reap it. */
void kdc_rig_stop_kdc(void);
/* After setup returned r (0 when the suite ran): stops the KDC; on a broken rig (99) the end
 * of its logs goes to stderr; removes the directory. */
void kdc_rig_teardown(int r);
