/* The sentences the user reads for each class of Kerberos failure, the classification of krb5
 * and GSS codes into those classes, and the filling of a negotiate_failure (see negotiate.h).
 * Also what the token thread is waiting for right now, so an overdue token can say why.
 */
#include "client/auth/negotiate_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

_Atomic int negotiate_phase = PHASE_IDLE;

const char *negotiate_overdue_reason(void)
{
	return negotiate_phase == PHASE_CCACHE ? "the Kerberos credential cache does not answer"
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
void fail_retag(struct negotiate_failure *fail, enum negotiate_error code, const char *spn)
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

void fail_set(struct negotiate_failure *fail, enum negotiate_error code, const char *spn)
{
	if (!fail)
		return;
	memset(fail, 0, sizeof(*fail));
	fail_retag(fail, code, spn);
}

void fail_detail(struct negotiate_failure *fail, const char *fmt, ...)
{
	va_list ap;

	if (!fail)
		return;
	va_start(ap, fmt);
	vsnprintf(fail->detail, sizeof(fail->detail), fmt, ap);
	va_end(ap);
}

void fail_krb5(struct negotiate_failure *fail, krb5_context kctx, krb5_error_code code,
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

void fail_gss(struct negotiate_failure *fail, enum negotiate_error code, OM_uint32 major,
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
