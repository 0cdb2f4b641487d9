/* The libkrb5 side of negotiate_start(): the pre-flight (ccache, TGT expiry, service ticket)
 * that yields real krb5 error codes, the session that lets a worker skip it while its last
 * success holds, and the ticket report (negotiate_ticket_status()). See negotiate.h.
 */
#include "client/auth/negotiate_ccache.h"

#include "client/auth/negotiate_error.h"

#include <errno.h>
#include <krb5/krb5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- names and the libkrb5 pre-flight --- */

/* A krb5 context of its own: 0, or -errno with fail set (krb5.conf unreadable). */
static int context_new(krb5_context *ret, const char *spn, struct negotiate_failure *fail)
{
	krb5_error_code r = krb5_init_context(ret);

	if (r == 0)
		return 0;
	fail_set(fail, NEGOTIATE_ERR_OTHER, spn);
	fail_detail(fail, "krb5_init_context: error %d (krb5.conf?)", (int)r);
	return r == ENOMEM ? -ENOMEM : -EACCES;
}

/* "HTTP/host@REALM" is a principal name; "HTTP@host" is host-based (the realm comes from
 * krb5.conf's domain_realm or referrals, the host is canonicalized per krb5.conf). */
bool spn_is_principal(const char *spn)
{
	return strchr(spn, '/') != NULL;
}

static krb5_error_code spn_to_principal(krb5_context kctx, const char *spn, krb5_principal *ret)
{
	char service[64];
	const char *at;

	if (spn_is_principal(spn))
		return krb5_parse_name(kctx, spn, ret);
	at = strchr(spn, '@');
	if (!at || at == spn || at[1] == '\0' || (size_t)(at - spn) >= sizeof(service))
		return KRB5_PARSE_MALFORMED;
	memcpy(service, spn, (size_t)(at - spn));
	service[at - spn] = '\0';
	return krb5_sname_to_principal(kctx, at + 1, service, KRB5_NT_SRV_HST, ret);
}

/* The TGT krbtgt/R@R of the client's realm: its end and renew-until times, 0 if absent. */
static krb5_error_code find_tgt(krb5_context kctx, krb5_ccache cc, krb5_principal client,
				time_t *ret_end, time_t *ret_renew)
{
	krb5_principal tgs = NULL;
	krb5_cc_cursor cursor;
	krb5_creds creds;
	krb5_error_code r;

	*ret_end = 0;
	*ret_renew = 0;
	r = krb5_build_principal_ext(kctx, &tgs, client->realm.length, client->realm.data,
				     KRB5_TGS_NAME_SIZE, KRB5_TGS_NAME, client->realm.length,
				     client->realm.data, 0);
	if (r)
		return r;
	r = krb5_cc_start_seq_get(kctx, cc, &cursor);
	if (r)
		goto out;
	while (krb5_cc_next_cred(kctx, cc, &cursor, &creds) == 0) {
		if (!krb5_is_config_principal(kctx, creds.server) &&
		    krb5_principal_compare(kctx, creds.server, tgs) &&
		    (time_t)(uint32_t)creds.times.endtime > *ret_end) {
			*ret_end = (time_t)(uint32_t)creds.times.endtime;
			*ret_renew = (time_t)(uint32_t)creds.times.renew_till;
		}
		krb5_free_cred_contents(kctx, &creds);
	}
	krb5_cc_end_seq_get(kctx, cc, &cursor);
out:
	krb5_free_principal(kctx, tgs);
	return r;
}

/* The ccache GSSAPI will use: the configured one, or what MIT's initiator picks for a
 * GSS_C_NO_NAME credential (krb5_cc_select over the collection, else the default). */
static krb5_error_code open_ccache(krb5_context kctx, const char *name, krb5_principal server,
				   krb5_ccache *ret)
{
	krb5_principal hint = NULL;
	krb5_error_code r;

	if (name && *name)
		return krb5_cc_resolve(kctx, name, ret);
	if (server) {
		r = krb5_cc_select(kctx, server, ret, &hint);
		krb5_free_principal(kctx, hint);
		if (r == 0)
			return 0;
	}
	return krb5_cc_default(kctx, ret);
}

/* Everything up to the service ticket with libkrb5, so failures carry real krb5 codes. The
 * ticket lands in the ccache and gss_init_sec_context finds it there: no second TGS.
 * *ret_good_until: when the first of the TGT and the service ticket ends. */
static int preflight(krb5_context kctx, const char *spn, const char *ccache, time_t *ret_good_until,
		     struct negotiate_failure *fail)
{
	krb5_principal server = NULL, client = NULL;
	krb5_ccache cc = NULL;
	krb5_creds in, *out = NULL;
	krb5_error_code r;
	time_t tgt_end, tgt_renew;
	int ret = -EACCES;

	r = spn_to_principal(kctx, spn, &server);
	if (r) {
		fail_krb5(fail, kctx, r, "service principal", spn);
		fail_retag(fail, NEGOTIATE_ERR_BAD_SPN, spn);
		ret = -EINVAL;
		goto out;
	}
	negotiate_phase = PHASE_CCACHE;
	r = open_ccache(kctx, ccache, server, &cc);
	if (!r)
		r = krb5_cc_get_principal(kctx, cc, &client);
	if (r) {
		fail_krb5(fail, kctx, r, "credential cache", spn);
		goto out;
	}
	r = find_tgt(kctx, cc, client, &tgt_end, &tgt_renew);
	if (r) {
		fail_krb5(fail, kctx, r, "credential cache", spn);
		goto out;
	}
	if (tgt_end != 0 && tgt_end <= time(NULL)) {
		fail_krb5(fail, kctx, KRB5KRB_AP_ERR_TKT_EXPIRED, "ticket-granting ticket", spn);
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.client = client;
	in.server = server;
	negotiate_phase = PHASE_KDC;
	r = krb5_get_credentials(kctx, 0, cc, &in, &out);
	if (r) {
		fail_krb5(fail, kctx, r, "service ticket", spn);
		goto out;
	}
	*ret_good_until = (time_t)(uint32_t)out->times.endtime;
	if (tgt_end != 0 && tgt_end < *ret_good_until)
		*ret_good_until = tgt_end;
	ret = 0;
out:
	krb5_free_creds(kctx, out);
	krb5_free_principal(kctx, client);
	krb5_free_principal(kctx, server);
	if (cc)
		krb5_cc_close(kctx, cc);
	return ret;
}

/* --- the session: what a worker keeps between tokens --- */

struct negotiate_session {
	krb5_context kctx;
	/* The last pre-flight that succeeded, for this SPN and configured ccache name. */
	char spn[NEGOTIATE_SPN_MAX];
	char ccache[PATH_MAX];
	time_t good_until; /* 0: nothing known */
};

int negotiate_session_new(struct negotiate_session **ret)
{
	struct negotiate_session *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	r = context_new(&s->kctx, NULL, NULL);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void negotiate_session_free(struct negotiate_session *s)
{
	if (!s)
		return;
	krb5_free_context(s->kctx);
	free(s);
}

static const char *ccache_key(const char *ccache)
{
	return ccache ? ccache : "";
}

/* A pre-flight for this SPN and ccache succeeded and its tickets have not ended: GSSAPI will
 * find the service ticket, and should it fail anyway diagnose() still names the cause. */
bool preflight_known_good(const struct negotiate_session *s, const char *spn, const char *ccache)
{
	return s && s->good_until > time(NULL) + NEGOTIATE_TICKET_MARGIN &&
	       strcmp(s->spn, spn) == 0 && strcmp(s->ccache, ccache_key(ccache)) == 0;
}

static void session_remember(struct negotiate_session *s, const char *spn, const char *ccache,
			     time_t good_until)
{
	int n;

	s->good_until = 0;
	n = snprintf(s->ccache, sizeof(s->ccache), "%s", ccache_key(ccache));
	if (n < 0 || (size_t)n >= sizeof(s->ccache))
		return;
	snprintf(s->spn, sizeof(s->spn), "%s", spn);
	s->good_until = good_until;
}

/* The pre-flight in the session's krb5 context (krb5.conf is not parsed per token), or in a
 * context of its own without a session. */
int run_preflight(struct negotiate_session *s, const char *spn, const char *ccache,
		  struct negotiate_failure *fail)
{
	krb5_context kctx;
	time_t good_until = 0;
	int ret;

	if (s) {
		/* A long-lived context remembers the default ccache name: have it looked up
		 * again, as a new context would (krb5.conf itself is reread when it changes). */
		krb5_cc_set_default_name(s->kctx, NULL);
		s->good_until = 0;
		ret = preflight(s->kctx, spn, ccache, &good_until, fail);
		if (ret == 0)
			session_remember(s, spn, ccache, good_until);
		return ret;
	}
	ret = context_new(&kctx, spn, fail);
	if (ret < 0)
		return ret;
	ret = preflight(kctx, spn, ccache, &good_until, fail);
	krb5_free_context(kctx);
	return ret;
}

/* GSSAPI failed after the pre-flight was skipped: run it now, so the failure carries its real
 * krb5 code (SPNEGO renumbers them). When it finds nothing wrong, the GSSAPI failure stands. */
int diagnose(struct negotiate_session *s, const char *spn, const char *ccache, int gss_r,
	     struct negotiate_failure *fail)
{
	struct negotiate_failure why;
	int r;

	if (gss_r == -ENOMEM)
		return gss_r;
	r = run_preflight(s, spn, ccache, &why);
	if (r == 0)
		return gss_r;
	if (fail)
		*fail = why;
	return r;
}

/* kerberos.spn, else HTTP@proxy host. -EINVAL when there is neither or it does not fit. */
int derive_spn(const struct negotiate_options *opts, char *buf, size_t len)
{
	int n = -1;

	if (opts->spn && *opts->spn)
		n = snprintf(buf, len, "%s", opts->spn);
	else if (opts->proxy_host && *opts->proxy_host)
		n = snprintf(buf, len, "HTTP@%s", opts->proxy_host);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/* --- ticket status --- */

int negotiate_ticket_status(const struct negotiate_options *opts, struct negotiate_ticket *ret,
			    struct negotiate_failure *fail)
{
	const char *ccache = opts && opts->ccache && *opts->ccache ? opts->ccache : NULL;
	struct negotiate_ticket t;
	krb5_context kctx = NULL;
	krb5_ccache cc = NULL;
	krb5_principal client = NULL, server = NULL;
	char *name = NULL, spn[NEGOTIATE_SPN_MAX];
	krb5_error_code r;
	int ret_code = -EACCES;

	memset(&t, 0, sizeof(t));
	ret_code = context_new(&kctx, NULL, fail);
	if (ret_code < 0)
		return ret_code;
	negotiate_phase = PHASE_CCACHE;
	ret_code = -EACCES;
	/* The service principal matters only for choosing within a collection: a configured
	 * cache is used as it is (and its name is not resolved in DNS for nothing). Without a
	 * usable SPN the default cache is reported, as before any selection. */
	if (!ccache && opts && derive_spn(opts, spn, sizeof(spn)) == 0 &&
	    spn_to_principal(kctx, spn, &server) != 0)
		server = NULL;
	r = open_ccache(kctx, ccache, server, &cc);
	krb5_free_principal(kctx, server);
	if (!r && krb5_cc_get_full_name(kctx, cc, &name) == 0) {
		snprintf(t.ccache, sizeof(t.ccache), "%s", name);
		krb5_free_string(kctx, name);
		name = NULL;
	}
	if (!r)
		r = krb5_cc_get_principal(kctx, cc, &client);
	if (!r)
		r = krb5_unparse_name(kctx, client, &name);
	if (!r) {
		snprintf(t.principal, sizeof(t.principal), "%s", name);
		r = find_tgt(kctx, cc, client, &t.tgt_end, &t.tgt_renew_until);
	}
	if (r) {
		fail_krb5(fail, kctx, r, t.ccache[0] ? t.ccache : "credential cache", NULL);
		ret_code =
		    negotiate_classify_krb5(r) == NEGOTIATE_ERR_NO_TICKET ? -ENOENT : -EACCES;
		if (r == ENOMEM)
			ret_code = -ENOMEM;
		goto out;
	}
	t.has_tgt = t.tgt_end != 0;
	*ret = t;
	ret_code = 0;
out:
	krb5_free_unparsed_name(kctx, name);
	krb5_free_principal(kctx, client);
	if (cc)
		krb5_cc_close(kctx, cc);
	krb5_free_context(kctx);
	negotiate_phase = PHASE_IDLE;
	return ret_code;
}
