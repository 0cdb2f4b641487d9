/* SPNEGO/Kerberos initiator for the client's CONNECT tunnels: see negotiate.h for the contract.
 *
 * Per tunnel: a libkrb5 pre-flight (ccache, TGT expiry, service ticket) that yields real krb5
 * error codes, then a fresh SPNEGO credential limited to krb5 and gss_init_sec_context. A
 * session skips the pre-flight while its last success holds and runs it after a GSSAPI failure
 * instead. All GSS handles live in the context and die with it; nothing process-wide is changed.
 */
#include "client/negotiate.h"

#include "client/base64.h"

#include <errno.h>
#include <limits.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum negotiate_state {
	STATE_SENT, /* a token is out, the proxy's answer pending */
	STATE_OPEN, /* 2xx seen */
	STATE_FAILED,
};

struct negotiate_ctx {
	gss_ctx_id_t gss;
	gss_cred_id_t cred;
	gss_name_t target;
	char spn[NEGOTIATE_SPN_MAX];
	enum negotiate_state state;
	bool complete; /* gss_init_sec_context said GSS_S_COMPLETE */
	bool mutual;
	unsigned rounds;
	OM_uint32 ret_flags;
};

/* 1.3.6.1.5.5.2 (RFC 4178); MIT exports no symbol for it. */
static gss_OID_desc spnego_oid_desc = {6, (void *)"\x2b\x06\x01\x05\x05\x02"};
static gss_OID_desc krb5_oid_desc = {9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"};

static const char *const error_messages[] = {
    [NEGOTIATE_OK] = "Kerberos authentication succeeded",
    [NEGOTIATE_ERR_NO_TICKET] = "no Kerberos ticket: run kinit",
    [NEGOTIATE_ERR_TICKET_EXPIRED] = "Kerberos ticket expired: run kinit",
    [NEGOTIATE_ERR_CCACHE] = "the Kerberos credential cache cannot be read",
    [NEGOTIATE_ERR_KDC_UNREACHABLE] = "KDC unreachable",
    [NEGOTIATE_ERR_CLOCK_SKEW] = "clock skew too great between this machine and the KDC",
    [NEGOTIATE_ERR_UNKNOWN_SERVICE] = "unknown service principal",
    [NEGOTIATE_ERR_ACCOUNT] = "the Kerberos account is unknown, disabled or expired",
    [NEGOTIATE_ERR_BAD_SPN] = "invalid service principal name",
    [NEGOTIATE_ERR_REJECTED] = "proxy rejected the ticket",
    [NEGOTIATE_ERR_MUTUAL] = "proxy failed mutual authentication",
    [NEGOTIATE_ERR_PROTOCOL] = "malformed Negotiate exchange with the proxy",
    [NEGOTIATE_ERR_OTHER] = "Kerberos error",
};

/* What the token thread is waiting for (negotiate_overdue_reason()). */
enum {
	PHASE_IDLE,
	PHASE_CCACHE, /* opening or reading the credential cache */
	PHASE_KDC,    /* asking the KDC (or making the token, which may) */
};
static _Atomic int phase = PHASE_IDLE;

const char *negotiate_overdue_reason(void)
{
	return phase == PHASE_CCACHE ? "the Kerberos credential cache does not answer"
				     : error_messages[NEGOTIATE_ERR_KDC_UNREACHABLE];
}

const char *negotiate_error_message(enum negotiate_error e)
{
	if ((unsigned)e >= sizeof(error_messages) / sizeof(error_messages[0]))
		e = NEGOTIATE_ERR_OTHER;
	return error_messages[e];
}

enum negotiate_error negotiate_classify_krb5(int32_t code)
{
	switch (code) {
	case 0:
		return NEGOTIATE_OK;
	case KRB5_FCC_NOFILE:
	case KRB5_CC_NOTFOUND:
	case KRB5_CC_END:
	case KRB5_NO_TKT_SUPPLIED:
		return NEGOTIATE_ERR_NO_TICKET;
	case KRB5KRB_AP_ERR_TKT_EXPIRED:
	case KRB5KDC_ERR_TGT_REVOKED:
		return NEGOTIATE_ERR_TICKET_EXPIRED;
	case KRB5_FCC_PERM:
	case KRB5_CC_FORMAT:
	case KRB5_CC_BADNAME:
	case KRB5_CC_IO:
	case KRB5_FCC_INTERNAL:
	case KRB5_CC_UNKNOWN_TYPE:
	case KRB5_CC_NOSUPP:
		return NEGOTIATE_ERR_CCACHE;
	case KRB5_KDC_UNREACH:
	case KRB5_REALM_CANT_RESOLVE:
	case KRB5_REALM_UNKNOWN:
	case ETIMEDOUT:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return NEGOTIATE_ERR_KDC_UNREACHABLE;
	case KRB5KRB_AP_ERR_SKEW:
	case KRB5KRB_AP_ERR_TKT_NYV:
		return NEGOTIATE_ERR_CLOCK_SKEW;
	case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
	case KRB5_SNAME_UNSUPP_NAMETYPE:
		return NEGOTIATE_ERR_UNKNOWN_SERVICE;
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
	case KRB5KDC_ERR_CLIENT_REVOKED:
	case KRB5KDC_ERR_CLIENT_NOTYET:
	case KRB5KDC_ERR_KEY_EXP:
	case KRB5KDC_ERR_NAME_EXP:
		return NEGOTIATE_ERR_ACCOUNT;
	case KRB5_PARSE_MALFORMED:
	case KRB5_PARSE_ILLCHAR:
		return NEGOTIATE_ERR_BAD_SPN;
	case KRB5KRB_AP_ERR_BAD_INTEGRITY:
	case KRB5KRB_AP_ERR_BADKEYVER:
	case KRB5KRB_AP_ERR_NOKEY:
	case KRB5KRB_AP_ERR_NOT_US:
	case KRB5KRB_AP_ERR_MODIFIED:
	case KRB5KRB_AP_ERR_REPEAT:
		return NEGOTIATE_ERR_REJECTED;
	default:
		return NEGOTIATE_ERR_OTHER;
	}
}

enum negotiate_error negotiate_classify(uint32_t major, uint32_t minor)
{
	enum negotiate_error by_minor = negotiate_classify_krb5((int32_t)minor);

	if (!GSS_ERROR(major))
		return NEGOTIATE_OK;
	if (by_minor != NEGOTIATE_ERR_OTHER && by_minor != NEGOTIATE_OK)
		return by_minor;
	switch (GSS_ROUTINE_ERROR(major)) {
	case GSS_S_NO_CRED:
		return NEGOTIATE_ERR_NO_TICKET;
	case GSS_S_CREDENTIALS_EXPIRED:
		return NEGOTIATE_ERR_TICKET_EXPIRED;
	case GSS_S_DEFECTIVE_CREDENTIAL:
		return NEGOTIATE_ERR_CCACHE;
	case GSS_S_BAD_NAME:
	case GSS_S_BAD_NAMETYPE:
		return NEGOTIATE_ERR_BAD_SPN;
	case GSS_S_DEFECTIVE_TOKEN:
	case GSS_S_BAD_SIG:
	case GSS_S_NO_CONTEXT:
		return NEGOTIATE_ERR_REJECTED;
	default:
		return NEGOTIATE_ERR_OTHER;
	}
}

/* --- failures --- */

/* Class and user message; the detail and the codes stay. */
static void fail_retag(struct negotiate_failure *fail, enum negotiate_error code, const char *spn)
{
	if (!fail)
		return;
	fail->code = code;
	if ((code == NEGOTIATE_ERR_UNKNOWN_SERVICE || code == NEGOTIATE_ERR_BAD_SPN) && spn)
		snprintf(fail->message, sizeof(fail->message), "%s %s",
			 negotiate_error_message(code), spn);
	else
		snprintf(fail->message, sizeof(fail->message), "%s", negotiate_error_message(code));
}

static void fail_set(struct negotiate_failure *fail, enum negotiate_error code, const char *spn)
{
	if (!fail)
		return;
	memset(fail, 0, sizeof(*fail));
	fail_retag(fail, code, spn);
}

static void fail_detail(struct negotiate_failure *fail, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_detail(struct negotiate_failure *fail, const char *fmt, ...)
{
	va_list ap;

	if (!fail)
		return;
	va_start(ap, fmt);
	vsnprintf(fail->detail, sizeof(fail->detail), fmt, ap);
	va_end(ap);
}

static void fail_krb5(struct negotiate_failure *fail, krb5_context kctx, krb5_error_code code,
		      const char *what, const char *spn)
{
	const char *text;

	fail_set(fail, negotiate_classify_krb5(code), spn);
	if (!fail)
		return;
	fail->krb5_code = code;
	text = krb5_get_error_message(kctx, code);
	fail_detail(fail, "%s: %s", what, text ? text : "unknown error");
	krb5_free_error_message(kctx, text);
}

/* Appends every message of one status type to buf. */
static void gss_status_text(char *buf, size_t len, OM_uint32 code, int type)
{
	OM_uint32 minor, more = 0;
	gss_buffer_desc msg;
	size_t used;

	do {
		if (GSS_ERROR(gss_display_status(&minor, code, type, GSS_C_NO_OID, &more, &msg)))
			return;
		used = strlen(buf);
		if (used + 3 < len)
			snprintf(buf + used, len - used, "%s%.*s", used ? "; " : "",
				 (int)msg.length, (const char *)msg.value);
		gss_release_buffer(&minor, &msg);
	} while (more != 0);
}

static void fail_gss(struct negotiate_failure *fail, enum negotiate_error code, OM_uint32 major,
		     OM_uint32 minor, const char *what, const char *spn)
{
	size_t used;

	fail_set(fail, code, spn);
	if (!fail)
		return;
	fail->major = major;
	fail->minor = minor;
	snprintf(fail->detail, sizeof(fail->detail), "%s: ", what);
	used = strlen(fail->detail);
	gss_status_text(fail->detail + used, sizeof(fail->detail) - used, major, GSS_C_GSS_CODE);
	if (minor != 0) {
		used = strlen(fail->detail);
		gss_status_text(fail->detail + used, sizeof(fail->detail) - used, minor,
				GSS_C_MECH_CODE);
	}
}

/* --- base64 (the parsers' codec, in heap buffers sized for tokens) --- */

static char *token_encode(const void *data, size_t len)
{
	size_t cap = KG_BASE64_LEN(len) + 1, out_len;
	char *out;

	if (len > NEGOTIATE_TOKEN_MAX * 4) /* our own tokens: a sanity cap, no overflow */
		return NULL;
	out = malloc(cap);
	if (out && kg_base64_encode(data, len, out, cap, &out_len) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* 0, -EPROTO (not base64, or more than NEGOTIATE_TOKEN_MAX bytes) or -ENOMEM. */
static int token_decode(const char *text, void **ret, size_t *ret_len)
{
	size_t len = strnlen(text, KG_BASE64_LEN(NEGOTIATE_TOKEN_MAX) + 1);
	uint8_t *out;
	int r;

	if (len > KG_BASE64_LEN(NEGOTIATE_TOKEN_MAX))
		return -EPROTO;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	r = kg_base64_decode(text, len, out, len / 4 * 3 + 1, ret_len);
	if (r < 0) {
		free(out);
		return -EPROTO;
	}
	*ret = out;
	return 0;
}

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
static bool spn_is_principal(const char *spn)
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
	phase = PHASE_CCACHE;
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
	phase = PHASE_KDC;
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
static bool preflight_known_good(const struct negotiate_session *s, const char *spn,
				 const char *ccache)
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
static int run_preflight(struct negotiate_session *s, const char *spn, const char *ccache,
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
static int diagnose(struct negotiate_session *s, const char *spn, const char *ccache, int gss_r,
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

/* --- the GSSAPI exchange --- */

void negotiate_free(struct negotiate_ctx *ctx)
{
	OM_uint32 minor;

	if (!ctx)
		return;
	if (ctx->gss != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &ctx->gss, GSS_C_NO_BUFFER);
	if (ctx->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &ctx->cred);
	if (ctx->target != GSS_C_NO_NAME)
		gss_release_name(&minor, &ctx->target);
	free(ctx);
}

/* A fresh SPNEGO initiator credential whose only negotiable mechanism is krb5. */
static int acquire_cred(struct negotiate_ctx *ctx, const char *ccache,
			struct negotiate_failure *fail)
{
	gss_OID_set_desc spnego_set = {1, &spnego_oid_desc};
	gss_OID_set_desc krb5_set = {1, &krb5_oid_desc};
	gss_key_value_element_desc element = {"ccache", ccache};
	gss_key_value_set_desc store = {1, &element};
	OM_uint32 major, minor;

	major = gss_acquire_cred_from(
	    &minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &spnego_set, GSS_C_INITIATE,
	    ccache && *ccache ? &store : GSS_C_NO_CRED_STORE, &ctx->cred, NULL, NULL);
	if (GSS_ERROR(major)) {
		fail_gss(fail, negotiate_classify(major, minor), major, minor, "gss_acquire_cred",
			 ctx->spn);
		return -EACCES;
	}
	major = gss_set_neg_mechs(&minor, ctx->cred, &krb5_set);
	if (GSS_ERROR(major)) {
		fail_gss(fail, NEGOTIATE_ERR_OTHER, major, minor, "gss_set_neg_mechs", ctx->spn);
		return -EACCES;
	}
	return 0;
}

/* One gss_init_sec_context call; *ret_token gets the base64 output token or NULL. */
static int init_round(struct negotiate_ctx *ctx, const void *in, size_t in_len, char **ret_token,
		      OM_uint32 *ret_major, OM_uint32 *ret_minor)
{
	gss_buffer_desc input = {in_len, (void *)in}, output = GSS_C_EMPTY_BUFFER;
	OM_uint32 major, minor, release_minor;
	char *token = NULL;

	major = gss_init_sec_context(&minor, ctx->cred, &ctx->gss, ctx->target, &spnego_oid_desc,
				     GSS_C_MUTUAL_FLAG | GSS_C_REPLAY_FLAG, 0,
				     GSS_C_NO_CHANNEL_BINDINGS, in ? &input : GSS_C_NO_BUFFER, NULL,
				     &output, &ctx->ret_flags, NULL);
	*ret_major = major;
	*ret_minor = minor;
	if (!GSS_ERROR(major) && output.length > 0) {
		token = token_encode(output.value, output.length);
		if (!token) {
			gss_release_buffer(&release_minor, &output);
			return -ENOMEM;
		}
	}
	gss_release_buffer(&release_minor, &output);
	if (GSS_ERROR(major))
		return -EACCES;
	ctx->complete = major == GSS_S_COMPLETE;
	*ret_token = token;
	return 0;
}

/* The first token of a fresh context on ctx->spn. */
static int first_token(struct negotiate_ctx *ctx, const char *ccache, char **ret_token,
		       struct negotiate_failure *fail)
{
	gss_buffer_desc name_buf = {strlen(ctx->spn), ctx->spn};
	OM_uint32 major, minor;
	char *token = NULL;
	int r;

	major = gss_import_name(&minor, &name_buf,
				spn_is_principal(ctx->spn) ? GSS_KRB5_NT_PRINCIPAL_NAME
							   : GSS_C_NT_HOSTBASED_SERVICE,
				&ctx->target);
	if (GSS_ERROR(major)) {
		fail_gss(fail, NEGOTIATE_ERR_BAD_SPN, major, minor, "gss_import_name", ctx->spn);
		return -EINVAL;
	}
	phase = PHASE_CCACHE;
	r = acquire_cred(ctx, ccache, fail);
	if (r < 0)
		return r;
	phase = PHASE_KDC;
	r = init_round(ctx, NULL, 0, &token, &major, &minor);
	if (r == -EACCES)
		fail_gss(fail, negotiate_classify(major, minor), major, minor,
			 "gss_init_sec_context", ctx->spn);
	if (r < 0)
		return r;
	if (!token) {
		fail_set(fail, NEGOTIATE_ERR_OTHER, ctx->spn);
		fail_detail(fail, "gss_init_sec_context produced no token");
		return -EACCES;
	}
	*ret_token = token;
	return 0;
}

/* kerberos.spn, else HTTP@proxy host. -EINVAL when there is neither or it does not fit. */
static int derive_spn(const struct negotiate_options *opts, char *buf, size_t len)
{
	int n = -1;

	if (opts->spn && *opts->spn)
		n = snprintf(buf, len, "%s", opts->spn);
	else if (opts->proxy_host && *opts->proxy_host)
		n = snprintf(buf, len, "HTTP@%s", opts->proxy_host);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

int negotiate_start(const struct negotiate_options *opts, struct negotiate_ctx **ret_ctx,
		    char **ret_token, struct negotiate_failure *fail)
{
	struct negotiate_ctx *ctx;
	char *token = NULL;
	bool skipped;
	int r;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->gss = GSS_C_NO_CONTEXT;
	ctx->cred = GSS_C_NO_CREDENTIAL;
	ctx->target = GSS_C_NO_NAME;

	if (derive_spn(opts, ctx->spn, sizeof(ctx->spn)) < 0) {
		fail_set(fail, NEGOTIATE_ERR_BAD_SPN,
			 opts->spn && *opts->spn ? opts->spn : "(none)");
		r = -EINVAL;
		goto fail;
	}

	/* The pre-flight costs as much as the token itself: it runs only when its last success
	 * for this SPN and ccache no longer holds, or when GSSAPI failed and the cause matters. */
	skipped = preflight_known_good(opts->session, ctx->spn, opts->ccache);
	if (!skipped) {
		r = run_preflight(opts->session, ctx->spn, opts->ccache, fail);
		if (r < 0)
			goto fail;
	}
	r = first_token(ctx, opts->ccache, &token, fail);
	if (r < 0 && skipped)
		r = diagnose(opts->session, ctx->spn, opts->ccache, r, fail);
	if (r < 0)
		goto fail;
	ctx->state = STATE_SENT;
	ctx->rounds = 1;
	*ret_ctx = ctx;
	*ret_token = token;
	phase = PHASE_IDLE;
	return 0;
fail:
	negotiate_free(ctx);
	phase = PHASE_IDLE;
	return r;
}

int negotiate_step(struct negotiate_ctx *ctx, enum negotiate_answer answer,
		   const char *server_token, char **ret_token, struct negotiate_failure *fail)
{
	OM_uint32 major = 0, minor = 0;
	void *in = NULL;
	size_t in_len = 0;
	char *token = NULL;
	bool bare = !server_token || !*server_token;
	int r;

	if (ctx->state != STATE_SENT) {
		fail_set(fail, NEGOTIATE_ERR_PROTOCOL, ctx->spn);
		fail_detail(fail, "answer after the exchange ended");
		return -EPROTO;
	}
	if (answer == NEGOTIATE_ANSWER_SUCCESS && (bare || ctx->complete)) {
		/* Accepted. Without a final token the proxy is not mutually authenticated (Squid
		 * never sends one); RFC 4559 lets the 2xx carry it, it does not require it. */
		ctx->state = STATE_OPEN;
		*ret_token = NULL;
		return 0;
	}
	if (answer == NEGOTIATE_ANSWER_CHALLENGE && bare) {
		/* a bare "Negotiate" after our token: refused, and asking again would loop */
		ctx->state = STATE_FAILED;
		fail_set(fail, NEGOTIATE_ERR_REJECTED, ctx->spn);
		fail_detail(fail, "407 without a continuation token after our token");
		return -EACCES;
	}
	if (answer == NEGOTIATE_ANSWER_CHALLENGE && ++ctx->rounds > NEGOTIATE_MAX_ROUNDS) {
		ctx->state = STATE_FAILED;
		fail_set(fail, NEGOTIATE_ERR_PROTOCOL, ctx->spn);
		fail_detail(fail, "more than %d rounds", NEGOTIATE_MAX_ROUNDS);
		return -EPROTO;
	}
	r = token_decode(server_token, &in, &in_len);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		ctx->state = STATE_FAILED;
		fail_set(fail, NEGOTIATE_ERR_PROTOCOL, ctx->spn);
		fail_detail(fail, "Proxy-Authenticate token is not base64 or exceeds %d bytes",
			    NEGOTIATE_TOKEN_MAX);
		return -EPROTO;
	}
	r = init_round(ctx, in, in_len, &token, &major, &minor);
	free(in);
	if (r == -ENOMEM)
		return r;
	if (answer == NEGOTIATE_ANSWER_SUCCESS) {
		free(token);
		if (r < 0 || !ctx->complete) {
			ctx->state = STATE_FAILED;
			fail_gss(fail, NEGOTIATE_ERR_MUTUAL, major, minor, "final token", ctx->spn);
			return -EACCES;
		}
		ctx->mutual = true;
		ctx->state = STATE_OPEN;
		*ret_token = NULL;
		return 0;
	}
	if (r < 0 || !token) {
		/* the proxy's token (e.g. Apache's SPNEGO reject with a KRB-ERROR) ended it, or
		 * the context completed and the proxy still says 407: not authorized */
		ctx->state = STATE_FAILED;
		free(token);
		fail_gss(fail, NEGOTIATE_ERR_REJECTED, major, minor, "continuation token",
			 ctx->spn);
		return -EACCES;
	}
	*ret_token = token;
	return 0;
}

bool negotiate_mutual(const struct negotiate_ctx *ctx)
{
	return ctx->mutual;
}

int negotiate_flags(const struct negotiate_ctx *ctx, uint32_t *ret_flags)
{
	OM_uint32 major, minor, flags;

	if (ctx->gss == GSS_C_NO_CONTEXT)
		return -EINVAL;
	if (!ctx->complete) {
		/* an unfinished context cannot be inquired: the flags of the last round */
		*ret_flags = ctx->ret_flags;
		return 0;
	}
	major = gss_inquire_context(&minor, ctx->gss, NULL, NULL, NULL, NULL, &flags, NULL, NULL);
	if (GSS_ERROR(major))
		return -EINVAL;
	*ret_flags = flags;
	return 0;
}

const char *negotiate_spn(const struct negotiate_ctx *ctx)
{
	return ctx->spn;
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
	phase = PHASE_CCACHE;
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
	phase = PHASE_IDLE;
	return ret_code;
}
