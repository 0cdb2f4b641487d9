/* Inside auth/: filling a negotiate_failure (class, user sentence, library detail), and what
 * the token thread is waiting for. The public classification and sentences are in negotiate.h.
 */
#pragma once

#include "client/auth/negotiate.h"

#include <gssapi/gssapi.h>
#include <krb5/krb5.h>

/* What the token thread is waiting for (negotiate_overdue_reason()). */
enum {
	PHASE_IDLE,
	PHASE_CCACHE, /* opening or reading the credential cache */
	PHASE_KDC,    /* asking the KDC (or making the token, which may) */
};
extern _Atomic int negotiate_phase;

/* Class and user message; the detail and the codes stay. */
void fail_retag(struct negotiate_failure *fail, enum negotiate_error code, const char *spn);
void fail_set(struct negotiate_failure *fail, enum negotiate_error code, const char *spn);
void fail_detail(struct negotiate_failure *fail, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fail_krb5(struct negotiate_failure *fail, krb5_context kctx, krb5_error_code code,
	       const char *what, const char *spn);
void fail_gss(struct negotiate_failure *fail, enum negotiate_error code, OM_uint32 major,
	      OM_uint32 minor, const char *what, const char *spn);
