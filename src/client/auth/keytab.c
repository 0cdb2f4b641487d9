/* The system relay's credentials from a keytab (see keytab.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <krb5.h>

#include "client/auth/keytab.h"
#include "shared/log.h"

int keytab_path(const char *configured, char *out, size_t len)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	if (dir && *dir)
		n = snprintf(out, len, "%s/keytab", dir);
	else
		n = snprintf(out, len, "%s", configured);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The principal to use, parsed: the configured name, or host/<this host>@<default realm>. */
static krb5_error_code client_principal(krb5_context k, const char *configured, krb5_principal *p)
{
	krb5_error_code r;
	char *realm = NULL;

	if (configured && *configured)
		return krb5_parse_name(k, configured, p);
	r = krb5_sname_to_principal(k, NULL, "host", KRB5_NT_SRV_HST, p);
	if (r)
		return r;
	/* A referral (empty) realm: the default one, as kinit -k would use. */
	if (krb5_princ_realm(k, *p)->length == 0) {
		r = krb5_get_default_realm(k, &realm);
		if (r == 0) {
			r = krb5_set_principal_realm(k, *p, realm);
			krb5_free_default_realm(k, realm);
		}
	}
	return r;
}

static void krb_msg(krb5_context k, krb5_error_code code, char *buf, size_t len)
{
	const char *m = krb5_get_error_message(k, code);

	snprintf(buf, len, "%s", m ? m : "unknown Kerberos error");
	krb5_free_error_message(k, m);
}

/* Whether kt holds a key for p; the principals it does hold, when not, into have. */
static int keytab_holds(krb5_context k, krb5_keytab kt, krb5_principal p, char *have, size_t len)
{
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	size_t used = 0;
	int found = 0;

	have[0] = '\0';
	if (krb5_kt_start_seq_get(k, kt, &cur) != 0)
		return -EINVAL;
	while (!found && krb5_kt_next_entry(k, kt, &e, &cur) == 0) {
		char *name = NULL;

		if (krb5_principal_compare(k, e.principal, p))
			found = 1;
		else if (krb5_unparse_name(k, e.principal, &name) == 0) {
			if (!strstr(have, name) && used + strlen(name) + 3 < len)
				used += (size_t)snprintf(have + used, len - used, "%s%s",
							 used ? ", " : "", name);
			krb5_free_unparsed_name(k, name);
		}
		krb5_free_keytab_entry_contents(k, &e);
	}
	krb5_kt_end_seq_get(k, kt, &cur);
	return found;
}

/* The keytab opened and checked, the principal parsed: 0 or -errno with err. */
static int open_checked(krb5_context k, const char *path, const char *configured, krb5_keytab *kt,
			krb5_principal *p, char *err, size_t errlen)
{
	char name[PATH_MAX + 8], *full = NULL, have[256], msg[256];
	krb5_error_code kr;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot read the keytab %s: %s%s", path, strerror(-r),
			 r == -EACCES ? " (it reaches the system relay as a systemd credential, "
					"LoadCredential=keytab:...)"
				      : "");
		return r;
	}
	close(fd);
	kr = client_principal(k, configured, p);
	if (kr) {
		krb_msg(k, kr, msg, sizeof(msg));
		snprintf(err, errlen, "system.principal \"%s\" is not a principal name: %s",
			 configured && *configured ? configured : "host/<fqdn>", msg);
		return -EINVAL;
	}
	snprintf(name, sizeof(name), "FILE:%s", path);
	kr = krb5_kt_resolve(k, name, kt);
	if (kr) {
		krb_msg(k, kr, msg, sizeof(msg));
		snprintf(err, errlen, "cannot open the keytab %s: %s", path, msg);
		krb5_free_principal(k, *p);
		return -EINVAL;
	}
	r = keytab_holds(k, *kt, *p, have, sizeof(have));
	if (r == 1)
		return 0;
	krb5_unparse_name(k, *p, &full);
	if (r < 0)
		snprintf(err, errlen, "the keytab %s cannot be read as a keytab", path);
	else
		snprintf(err, errlen,
			 "the principal %s is not in the keytab %s (%s%s); set "
			 "system.principal",
			 full ? full : "?", path, have[0] ? "it holds " : "it is empty", have);
	krb5_free_unparsed_name(k, full);
	krb5_kt_close(k, *kt);
	krb5_free_principal(k, *p);
	return r < 0 ? -EINVAL : -ESRCH;
}

int keytab_check(const char *path, const char *configured, char *out, size_t len, char *err,
		 size_t errlen)
{
	krb5_context k;
	krb5_keytab kt;
	krb5_principal p;
	char *full = NULL;
	int r;

	if (krb5_init_context(&k) != 0) {
		snprintf(err, errlen, "cannot initialise Kerberos (krb5.conf?)");
		return -EINVAL;
	}
	r = open_checked(k, path, configured, &kt, &p, err, errlen);
	if (r == 0) {
		if (krb5_unparse_name(k, p, &full) == 0)
			snprintf(out, len, "%s", full);
		krb5_free_unparsed_name(k, full);
		krb5_kt_close(k, kt);
		krb5_free_principal(k, p);
	}
	krb5_free_context(k);
	return r;
}

static atomic_uint cc_serial;

int keytab_acquire(const char *path, const char *principal, char *ccname, size_t cclen,
		   time_t *endtime, char *err, size_t errlen)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_context k;
	krb5_keytab kt;
	krb5_principal p;
	krb5_ccache cc = NULL;
	krb5_creds creds;
	krb5_error_code kr;
	char msg[256], name[KEYTAB_CCACHE_MAX];
	int r;

	if (krb5_init_context(&k) != 0) {
		snprintf(err, errlen, "cannot initialise Kerberos (krb5.conf?)");
		return -EINVAL;
	}
	r = open_checked(k, path, principal, &kt, &p, err, errlen);
	if (r < 0) {
		krb5_free_context(k);
		return r;
	}
	memset(&creds, 0, sizeof(creds));
	kr = krb5_get_init_creds_opt_alloc(k, &opt);
	if (kr == 0)
		kr = krb5_get_init_creds_keytab(k, &creds, p, kt, 0, NULL, opt);
	if (kr) {
		krb_msg(k, kr, msg, sizeof(msg));
		if (kr == KRB5_KDC_UNREACH || kr == KRB5_REALM_CANT_RESOLVE ||
		    kr == KRB5_REALM_UNKNOWN) {
			snprintf(err, errlen, "cannot reach the KDC for %s: %s", principal, msg);
			r = -ECONNREFUSED;
		} else {
			snprintf(err, errlen, "the KDC refused tickets for %s: %s", principal, msg);
			r = -EACCES;
		}
		goto out;
	}
	snprintf(name, sizeof(name), "MEMORY:kg-system-%d-%u", (int)getpid(),
		 atomic_fetch_add(&cc_serial, 1));
	kr = krb5_cc_resolve(k, name, &cc);
	if (kr == 0)
		kr = krb5_cc_initialize(k, cc, p);
	if (kr == 0)
		kr = krb5_cc_store_cred(k, cc, &creds);
	if (kr) {
		krb_msg(k, kr, msg, sizeof(msg));
		snprintf(err, errlen, "cannot store the tickets of %s: %s", principal, msg);
		if (cc)
			krb5_cc_destroy(k, cc);
		cc = NULL;
		r = -ENOMEM;
		goto out;
	}
	snprintf(ccname, cclen, "%s", name);
	*endtime = (time_t)creds.times.endtime;
	/* Closing a MEMORY cache keeps it: it lives until krb5_cc_destroy(). */
	krb5_cc_close(k, cc);
	r = 0;
out:
	krb5_free_cred_contents(k, &creds);
	if (opt)
		krb5_get_init_creds_opt_free(k, opt);
	krb5_kt_close(k, kt);
	krb5_free_principal(k, p);
	krb5_free_context(k);
	return r;
}

void keytab_ccache_destroy(const char *ccname)
{
	krb5_context k;
	krb5_ccache cc;

	if (!ccname[0] || krb5_init_context(&k) != 0)
		return;
	if (krb5_cc_resolve(k, ccname, &cc) == 0)
		krb5_cc_destroy(k, cc);
	krb5_free_context(k);
}

time_t keytab_renew_at(time_t now, time_t endtime)
{
	time_t left = endtime > now ? endtime - now : 0, at = now + left * 4 / 5;

	return at < now + 30 ? now + 30 : at;
}

unsigned keytab_backoff_s(unsigned n)
{
	unsigned s = 10;

	while (n-- > 1 && s < 300)
		s *= 2;
	return s < 300 ? s : 300;
}

/* ---- The renewer ----------------------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stop;
	char path[4096];
	char principal[512];
	char cur[KEYTAB_CCACHE_MAX], prev[KEYTAB_CCACHE_MAX];
	time_t endtime;
	time_t next; /* CLOCK_REALTIME second of the next attempt */
	unsigned failures;
} rn = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* One attempt (no lock held during the KDC exchange); then the next one is scheduled. */
static void renew_once(void)
{
	char name[KEYTAB_CCACHE_MAX], err[KEYTAB_ERR_MAX], old[KEYTAB_CCACHE_MAX] = "";
	time_t end = 0, now;
	int r;

	r = keytab_acquire(rn.path, rn.principal, name, sizeof(name), &end, err, sizeof(err));
	now = time(NULL);
	pthread_mutex_lock(&rn.lock);
	if (r == 0) {
		/* The one before the previous goes now: every job that named it is long done. */
		memcpy(old, rn.prev, sizeof(old));
		memcpy(rn.prev, rn.cur, sizeof(rn.prev));
		memcpy(rn.cur, name, sizeof(rn.cur));
		rn.endtime = end;
		rn.failures = 0;
		rn.next = keytab_renew_at(now, end);
	} else {
		rn.failures++;
		rn.next = now + keytab_backoff_s(rn.failures);
	}
	pthread_mutex_unlock(&rn.lock);
	if (r == 0) {
		keytab_ccache_destroy(old);
		log_info("system relay: tickets for %s until %ld (renewed in %ld s)", rn.principal,
			 (long)end, (long)(rn.next - now));
	} else {
		log_error("system relay: %s; trying again in %u s", err,
			  keytab_backoff_s(rn.failures));
	}
}

static void *renewer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rn.lock);
	while (!rn.stop) {
		struct timespec ts = {.tv_sec = rn.next};

		if (time(NULL) < rn.next) {
			pthread_cond_timedwait(&rn.wake, &rn.lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&rn.lock);
		renew_once();
		pthread_mutex_lock(&rn.lock);
	}
	pthread_mutex_unlock(&rn.lock);
	return NULL;
}

int keytab_renewer_start(const char *path, const char *principal, char *err, size_t errlen)
{
	char full[sizeof(rn.principal)];
	sigset_t all, old;
	int r;

	r = keytab_check(path, principal, full, sizeof(full), err, errlen);
	if (r < 0)
		return r;
	snprintf(rn.path, sizeof(rn.path), "%s", path);
	snprintf(rn.principal, sizeof(rn.principal), "%s", full);
	rn.stop = false;
	renew_once();
	/* The thread takes no signals: the loop's signalfd does. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&rn.thread, NULL, renewer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		snprintf(err, errlen, "cannot start the ticket renewer: %s", strerror(r));
		return -r;
	}
	rn.running = true;
	return 0;
}

void keytab_renewer_stop(void)
{
	if (rn.running) {
		pthread_mutex_lock(&rn.lock);
		rn.stop = true;
		pthread_cond_signal(&rn.wake);
		pthread_mutex_unlock(&rn.lock);
		pthread_join(rn.thread, NULL);
		rn.running = false;
	}
	keytab_ccache_destroy(rn.prev);
	keytab_ccache_destroy(rn.cur);
	rn.prev[0] = rn.cur[0] = '\0';
	rn.endtime = 0;
}

const char *keytab_ccache(void)
{
	static __thread char copy[KEYTAB_CCACHE_MAX];

	pthread_mutex_lock(&rn.lock);
	memcpy(copy, rn.cur, sizeof(copy));
	pthread_mutex_unlock(&rn.lock);
	return copy;
}

const char *keytab_principal(void)
{
	return rn.principal;
}

time_t keytab_endtime(void)
{
	time_t t;

	pthread_mutex_lock(&rn.lock);
	t = rn.endtime;
	pthread_mutex_unlock(&rn.lock);
	return t;
}
