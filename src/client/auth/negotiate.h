/* SPNEGO/Kerberos for the client's CONNECT tunnels (DESIGN.md §3 and §4.4, research/krb.md §3).
 *
 * One negotiate_ctx per tunnel, never reused (AP-REQs are replay-cached by the proxy):
 *   negotiate_start()  first token for "Proxy-Authorization: Negotiate <token>" (base64)
 *   negotiate_step()   the proxy's answer: a 407 with a continuation token (another token to
 *                      send), a bare 407 (rejected), or the 2xx, with or without the final
 *                      mutual-authentication token (Squid never sends one).
 * Flags MUTUAL|REPLAY, never delegation; SPNEGO restricted to krb5 (no silent NTLM).
 * Credentials are looked up afresh for every context, so a new kinit, kinit -R or kswitch is
 * used by the next tunnel without a restart. A configured ccache name goes to the credential
 * store of that one acquisition: no process-wide state (KRB5CCNAME, gss_krb5_ccache_name) is
 * touched, so contexts of different ccaches may coexist.
 *
 * Threads: no global state of its own; MIT's GSSAPI and libkrb5 are thread-safe for distinct
 * contexts (one krb5_context per call here, or per negotiate_session). negotiate_start() blocks
 * while it talks to the KDC (a TGS exchange when the service ticket is not cached yet, up to the
 * krb5 timeouts when no KDC answers), so it may run on a worker thread; a given negotiate_ctx is
 * used by one thread at a time. negotiate_step() never contacts the KDC.
 *
 * Failures are classified for the user (enum negotiate_error, one sentence each). SPNEGO
 * renumbers krb5 minor codes, so negotiate_start() first obtains the service ticket with
 * libkrb5 itself (the ticket is cached, GSSAPI then reuses it): ccache, expiry, KDC and
 * principal errors come with their real krb5 codes, independent of the message language.
 * That pre-flight costs as much as the token: with a negotiate_session it is skipped while its
 * last success (same SPN, same configured ccache, tickets not ended) holds, and run after a
 * GSSAPI failure instead, so failures are classified as before and successes do not pay.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Caps on outside bytes: a decoded token from the proxy, and the rounds of one exchange. */
#define NEGOTIATE_TOKEN_MAX  (64 * 1024)
#define NEGOTIATE_MAX_ROUNDS 3
#define NEGOTIATE_SPN_MAX    256

enum negotiate_error {
	NEGOTIATE_OK = 0,
	NEGOTIATE_ERR_NO_TICKET,      /* no ccache, or no ticket in it */
	NEGOTIATE_ERR_TICKET_EXPIRED, /* TGT expired or revoked */
	NEGOTIATE_ERR_CCACHE, /* the ccache exists but cannot be used (permissions, format) */
	NEGOTIATE_ERR_KDC_UNREACHABLE, /* no KDC answered for the realm */
	NEGOTIATE_ERR_CLOCK_SKEW,      /* the KDC says our clock is off */
	NEGOTIATE_ERR_UNKNOWN_SERVICE, /* the KDC does not know the proxy's principal */
	NEGOTIATE_ERR_ACCOUNT,	       /* the user's principal is unknown, disabled or expired */
	NEGOTIATE_ERR_BAD_SPN,	       /* the configured SPN cannot be parsed */
	NEGOTIATE_ERR_REJECTED,	       /* the proxy refused our token */
	NEGOTIATE_ERR_MUTUAL,	       /* the proxy's final token did not prove its identity */
	NEGOTIATE_ERR_PROTOCOL,	       /* malformed token from the proxy, or too many rounds */
	NEGOTIATE_ERR_OTHER,
};

struct negotiate_failure {
	enum negotiate_error code;
	uint32_t major;	   /* GSS major status, 0 when the failure did not come from GSSAPI */
	uint32_t minor;	   /* GSS minor status (mechglue-numbered through SPNEGO) */
	int32_t krb5_code; /* a real krb5 error code when one is known, else 0 */
	char message[320]; /* one sentence for the user, e.g. "no Kerberos ticket: run kinit" */
	char detail[512];  /* library text for the log, may be empty */
};

/* What one thread keeps between negotiate_start() calls: a krb5 context (krb5.conf is not
 * parsed per token) and the last successful pre-flight. Used by one thread at a time. */
struct negotiate_session;

/* 0, -ENOMEM, or -EACCES when no krb5 context can be made (krb5.conf). */
int negotiate_session_new(struct negotiate_session **ret);
void negotiate_session_free(struct negotiate_session *s);

/* A pre-flight is trusted only while its tickets have this much life left (s). */
#define NEGOTIATE_TICKET_MARGIN 60

struct negotiate_options {
	const char *proxy_host; /* the proxy's host name as configured: SPN "HTTP@proxy_host" */
	const char *spn;    /* NULL/"": derived; "HTTP@host" (host-based) or "HTTP/host@REALM" */
	const char *ccache; /* NULL/"": the default ccache (KRB5CCNAME, collection primary) */
	struct negotiate_session *session; /* NULL: a pre-flight in a new context every time */
};

enum negotiate_answer {
	NEGOTIATE_ANSWER_CHALLENGE, /* 407 Proxy Authentication Required */
	NEGOTIATE_ANSWER_SUCCESS,   /* 2xx: the tunnel is open */
};

struct negotiate_ctx;

/* Start the exchange for one tunnel. On success *ret_ctx and *ret_token (base64, NUL-terminated,
 * free() it) are set. Returns 0, -EACCES (Kerberos failure), -EINVAL (no proxy host, bad SPN) or
 * -ENOMEM; fail (may be NULL) says why. Outputs are untouched on failure. */
int negotiate_start(const struct negotiate_options *opts, struct negotiate_ctx **ret_ctx,
		    char **ret_token, struct negotiate_failure *fail);

/* Feed the proxy's answer. server_token is the base64 after "Negotiate " in Proxy-Authenticate,
 * NULL or "" for a bare "Negotiate" or none at all.
 *   CHALLENGE + token: *ret_token is the next token to send on the repeated CONNECT.
 *   CHALLENGE, bare: the proxy rejected us (-EACCES, NEGOTIATE_ERR_REJECTED); do not loop.
 *   SUCCESS + token: verified (negotiate_mutual() is then true) or -EACCES: fail the tunnel.
 *   SUCCESS, none: accepted without mutual authentication (what Squid does); *ret_token NULL.
 * Returns 0, -EACCES, -EPROTO (malformed token, more than NEGOTIATE_MAX_ROUNDS) or -ENOMEM. */
int negotiate_step(struct negotiate_ctx *ctx, enum negotiate_answer answer,
		   const char *server_token, char **ret_token, struct negotiate_failure *fail);

/* The proxy proved its identity with the final token. */
bool negotiate_mutual(const struct negotiate_ctx *ctx);
/* GSS ret_flags of the context (GSS_C_*_FLAG); 0 or -EINVAL. */
int negotiate_flags(const struct negotiate_ctx *ctx, uint32_t *ret_flags);
/* The SPN as used, for messages ("HTTP@proxy.example.com"). */
const char *negotiate_spn(const struct negotiate_ctx *ctx);
void negotiate_free(struct negotiate_ctx *ctx);

/* Classification, usable on any GSS status pair; minor may be a krb5 error code. */
enum negotiate_error negotiate_classify(uint32_t major, uint32_t minor);
enum negotiate_error negotiate_classify_krb5(int32_t code);
/* One sentence per class, static; "unknown service principal" gets the SPN in fail->message. */
const char *negotiate_error_message(enum negotiate_error e);
/* Why a token is overdue, from what negotiate_start() or negotiate_ticket_status() is waiting
 * for right now (readable from any thread; one thread makes tokens): "the Kerberos credential
 * cache does not answer" (a stuck KCM daemon) or "KDC unreachable". */
const char *negotiate_overdue_reason(void);

/* The ccache's principal and TGT lifetime, for "ticket expires soon" and ctl status. */
struct negotiate_ticket {
	char ccache[512]; /* full name, "FILE:/tmp/krb5cc_1000" */
	char principal[256];
	bool has_tgt;		/* a krbtgt/REALM@REALM for the principal's realm is in the cache */
	time_t tgt_end;		/* its end time (may be in the past) */
	time_t tgt_renew_until; /* 0 when not renewable */
};

/* The credentials negotiate_start() would use with opts (ccache NULL/"": the default; in a
 * collection, the cache krb5_cc_select() picks for the proxy's SPN, as GSSAPI does; opts
 * NULL: the default cache). 0 (even with an expired or no TGT), -ENOENT (no ccache or no
 * principal: NEGOTIATE_ERR_NO_TICKET), -EACCES (unusable ccache) or -ENOMEM. */
int negotiate_ticket_status(const struct negotiate_options *opts, struct negotiate_ticket *ret,
			    struct negotiate_failure *fail);
