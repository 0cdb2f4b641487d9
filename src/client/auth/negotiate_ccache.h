/* Inside auth/: the libkrb5 pre-flight that negotiate_start() runs before GSSAPI, and the SPN
 * helpers both share. The session and the ticket report are public in negotiate.h.
 */
#pragma once

#include "client/auth/negotiate.h"

/* "HTTP/host@REALM" is a principal name; "HTTP@host" is host-based. */
bool spn_is_principal(const char *spn);
/* kerberos.spn, else HTTP@proxy host. -EINVAL when there is neither or it does not fit. */
int derive_spn(const struct negotiate_options *opts, char *buf, size_t len);
/* The session's last pre-flight for this SPN and ccache still holds. */
bool preflight_known_good(const struct negotiate_session *s, const char *spn, const char *ccache);
/* The pre-flight in the session's krb5 context, or in one of its own when s is NULL. */
int run_preflight(struct negotiate_session *s, const char *spn, const char *ccache,
		  struct negotiate_failure *fail);
/* After a GSSAPI failure gss_r with the pre-flight skipped: the pre-flight's failure, else gss_r.
 */
int diagnose(struct negotiate_session *s, const char *spn, const char *ccache, int gss_r,
	     struct negotiate_failure *fail);
