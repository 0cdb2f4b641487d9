/* negotiate.c against a real MIT KDC on 127.0.0.1 (tests/lib/krbrig-kdc.sh; no root needed),
 * with this process as the proxy's acceptor (gss_accept_sec_context on the rig's keytab).
 * Exit 77 when the KDC tools are missing (99 with KG_REQUIRE_PRIVILEGED=1), 99 when the KDC
 * cannot be set up.
 */
#include "client/auth/negotiate.h"

#include "client/proto/base64.h"
#include "tests/unit/kdc_rig.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5/krb5.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- process helpers --- */

static void kinit(const char *user, const char *cc, const char *lifetime)
{
	char pw[64];

	snprintf(pw, sizeof(pw), "%spw", user);
	ck_assert_int_eq(kdc_rig_cmd("kinit", user, pw, cc, lifetime ? "-l" : NULL, lifetime), 0);
}

static void kdestroy(const char *cc)
{
	char *argv[] = {"kdestroy", "-q", "-c", (char *)cc, NULL};

	ck_assert_int_eq(kdc_rig_run(argv), 0);
}

static char *encode(const void *data, size_t len)
{
	size_t cap = KG_BASE64_LEN(len) + 1, n;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(kg_base64_encode(data, len, text, cap, &n), 0);
	return text;
}

/* --- the proxy side --- */

/* Accepts the initiator's token as the proxy would; returns the acceptor's reply token (base64,
 * possibly NULL) and the client principal in who. 0 on GSS_S_COMPLETE. */
static int accept_token(gss_ctx_id_t *actx, const char *b64, char **ret_reply, char *who,
			size_t who_len)
{
	gss_buffer_desc in, out = GSS_C_EMPTY_BUFFER, name_text;
	gss_name_t src = GSS_C_NO_NAME;
	OM_uint32 major, minor, flags = 0;
	void *raw;
	size_t len;

	raw = malloc(NEGOTIATE_TOKEN_MAX);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(kg_base64_decode(b64, strlen(b64), raw, NEGOTIATE_TOKEN_MAX, &len), 0);
	in.value = raw;
	in.length = len;
	major =
	    gss_accept_sec_context(&minor, actx, GSS_C_NO_CREDENTIAL, &in,
				   GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &out, &flags, NULL, NULL);
	free(raw);
	*ret_reply = out.length ? encode(out.value, out.length) : NULL;
	gss_release_buffer(&minor, &out);
	if (major == GSS_S_COMPLETE && who) {
		ck_assert(!GSS_ERROR(gss_display_name(&minor, src, &name_text, NULL)));
		snprintf(who, who_len, "%.*s", (int)name_text.length, (char *)name_text.value);
		gss_release_buffer(&minor, &name_text);
	}
	gss_release_name(&minor, &src);
	if (GSS_ERROR(major))
		return -1;
	return major == GSS_S_COMPLETE ? 0 : 1;
}

/* The whole exchange: start, accept, final token back. Asserts success and returns the ctx. */
static struct negotiate_ctx *exchange(const struct negotiate_options *opts, char *who,
				      size_t who_len)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;
	gss_ctx_id_t actx = GSS_C_NO_CONTEXT;
	OM_uint32 minor;
	char *token = NULL, *reply = NULL, *next = NULL;
	int r, rounds;

	r = negotiate_start(opts, &ctx, &token, &fail);
	ck_assert_msg(r == 0, "negotiate_start: %d %s (%s)", r, fail.message, fail.detail);
	ck_assert_ptr_nonnull(token);
	for (rounds = 0; rounds < NEGOTIATE_MAX_ROUNDS; rounds++) {
		r = accept_token(&actx, token, &reply, who, who_len);
		free(token);
		token = NULL;
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		ck_assert_int_eq(
		    negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, reply, &next, &fail), 0);
		free(reply);
		token = next;
	}
	ck_assert_int_eq(r, 0);
	r = negotiate_step(ctx, NEGOTIATE_ANSWER_SUCCESS, reply, &next, &fail);
	ck_assert_msg(r == 0, "final step: %d %s (%s)", r, fail.message, fail.detail);
	ck_assert_ptr_null(next);
	free(reply);
	gss_delete_sec_context(&minor, &actx, GSS_C_NO_BUFFER);
	return ctx;
}

/* A whole exchange on opts, in which the proxy sees USER@KDC_RIG_REALM. */
static void expect_user(const struct negotiate_options *opts, const char *user)
{
	char who[256] = "", want[64];

	snprintf(want, sizeof(want), "%s@%s", user, KDC_RIG_REALM);
	negotiate_free(exchange(opts, who, sizeof(who)));
	ck_assert_str_eq(who, want);
}

static void expect_failure(const struct negotiate_options *opts, int want_r,
			   enum negotiate_error want, const char *want_text)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;
	char *token = NULL;
	int r;

	r = negotiate_start(opts, &ctx, &token, &fail);
	ck_assert_msg(r == want_r, "want %d got %d: %s (%s)", want_r, r, fail.message, fail.detail);
	ck_assert_ptr_null(ctx);
	ck_assert_ptr_null(token);
	ck_assert_msg(fail.code == want, "want class %d got %d: %s (%s)", want, fail.code,
		      fail.message, fail.detail);
	ck_assert_msg(strstr(fail.message, want_text), "message '%s' lacks '%s'", fail.message,
		      want_text);
	printf("# %s (%s)\n", fail.message, fail.detail);
}

/* --- the cases --- */

static const struct negotiate_options proxy_opts = {.proxy_host = KDC_RIG_PROXY_HOST};

/* kinit alice into ccache file NAME, make it the default, and start a context on it. */
static struct negotiate_ctx *start_as_alice(const char *name, char **ret_token)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;

	kinit("alice", kdc_rig_cc(name), NULL);
	setenv("KRB5CCNAME", kdc_rig_cc(name), 1);
	ck_assert_int_eq(negotiate_start(&proxy_opts, &ctx, ret_token, &fail), 0);
	return ctx;
}

START_TEST(test_token_accepted_mutual)
{
	struct negotiate_ctx *ctx;
	uint32_t flags = 0;
	char who[256] = "";

	kinit("alice", kdc_rig_cc("cc-alice"), NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-alice"), 1);
	ctx = exchange(&proxy_opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" KDC_RIG_REALM);
	ck_assert(negotiate_mutual(ctx));
	ck_assert_str_eq(negotiate_spn(ctx), "HTTP@" KDC_RIG_PROXY_HOST);
	ck_assert_int_eq(negotiate_flags(ctx, &flags), 0);
	ck_assert(flags & GSS_C_MUTUAL_FLAG);
	ck_assert(!(flags & GSS_C_DELEG_FLAG));
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_no_delegation_even_with_forwardable_tgt)
{
	struct negotiate_ctx *ctx = NULL;
	uint32_t flags = 0;
	char *token = NULL;

	/* the rig's krb5.conf asks for forwardable tickets: delegation would be possible */
	ctx = start_as_alice("cc-fwd", &token);
	ck_assert_int_eq(negotiate_flags(ctx, &flags), 0);
	ck_assert(!(flags & (GSS_C_DELEG_FLAG | GSS_C_DELEG_POLICY_FLAG)));
	free(token);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_configured_ccache)
{
	struct negotiate_options opts = {.proxy_host = KDC_RIG_PROXY_HOST,
					 .ccache = kdc_rig_cc("cc-conf")};
	struct negotiate_ctx *ctx;
	char who[256] = "";

	kinit("bob", opts.ccache, NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-nowhere"), 1);
	ctx = exchange(&opts, who, sizeof(who));
	ck_assert_str_eq(who, "bob@" KDC_RIG_REALM);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_principal_form_spn)
{
	struct negotiate_options opts = {.proxy_host = "198.51.100.2",
					 .spn = "HTTP/" KDC_RIG_PROXY_HOST "@" KDC_RIG_REALM};
	struct negotiate_ctx *ctx;
	char who[256] = "";

	kinit("alice", kdc_rig_cc("cc-spn"), NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-spn"), 1);
	ctx = exchange(&opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" KDC_RIG_REALM);
	negotiate_free(ctx);
	opts.spn = "HTTP@" KDC_RIG_PROXY_HOST;
	ctx = exchange(&opts, who, sizeof(who));
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_no_ccache)
{
	struct negotiate_ticket t;
	struct negotiate_failure fail;

	setenv("KRB5CCNAME", kdc_rig_cc("cc-missing"), 1);
	expect_failure(&proxy_opts, -EACCES, NEGOTIATE_ERR_NO_TICKET,
		       "no Kerberos ticket: run kinit");
	ck_assert_int_eq(negotiate_ticket_status(NULL, &t, &fail), -ENOENT);
	ck_assert_int_eq(fail.code, NEGOTIATE_ERR_NO_TICKET);
}
END_TEST

START_TEST(test_expired_ticket)
{
	struct negotiate_ticket t;
	struct negotiate_failure fail;
	int i;

	kinit("alice", kdc_rig_cc("cc-short"), "2s");
	setenv("KRB5CCNAME", kdc_rig_cc("cc-short"), 1);
	ck_assert_int_eq(negotiate_ticket_status(NULL, &t, &fail), 0);
	ck_assert(t.has_tgt);
	ck_assert_int_le(t.tgt_end, time(NULL) + 3);
	for (i = 0; i < 60 && time(NULL) <= t.tgt_end; i++)
		kdc_rig_sleep_ms(100);
	ck_assert_int_gt(time(NULL), t.tgt_end);
	expect_failure(&proxy_opts, -EACCES, NEGOTIATE_ERR_TICKET_EXPIRED,
		       "Kerberos ticket expired: run kinit");
}
END_TEST

START_TEST(test_unknown_service_principal)
{
	struct negotiate_options opts = {.proxy_host = "nosuch.kgtest.local"};

	kinit("alice", kdc_rig_cc("cc-unknown"), NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-unknown"), 1);
	expect_failure(&opts, -EACCES, NEGOTIATE_ERR_UNKNOWN_SERVICE,
		       "unknown service principal HTTP@nosuch.kgtest.local");
}
END_TEST

START_TEST(test_bad_spn)
{
	struct negotiate_options opts = {.spn = "HTTP@"};
	struct negotiate_options none = {0};

	setenv("KRB5CCNAME", kdc_rig_cc("cc-alice"), 1);
	expect_failure(&opts, -EINVAL, NEGOTIATE_ERR_BAD_SPN, "invalid service principal name");
	expect_failure(&none, -EINVAL, NEGOTIATE_ERR_BAD_SPN, "invalid service principal name");
}
END_TEST

/* No ticket, kinit, kdestroy, kinit as someone else in the same ccache CC. */
static void kinit_cycle(const struct negotiate_options *opts, const char *cc)
{
	setenv("KRB5CCNAME", cc, 1);
	expect_failure(opts, -EACCES, NEGOTIATE_ERR_NO_TICKET, "no Kerberos ticket: run kinit");
	kinit("bob", cc, NULL);
	expect_user(opts, "bob");
	kdestroy(cc);
	expect_failure(opts, -EACCES, NEGOTIATE_ERR_NO_TICKET, "no Kerberos ticket: run kinit");
	/* a different principal in the same ccache: no held credential goes stale */
	kinit("alice", cc, NULL);
	expect_user(opts, "alice");
}

START_TEST(test_kinit_after_kdestroy)
{
	kinit_cycle(&proxy_opts, kdc_rig_cc("cc-cycle"));
}
END_TEST

/* With a session the pre-flight is skipped after a success; what GSSAPI then does must be what it
 * did with the pre-flight: the current ccache's principal, and failures classified as before. */
START_TEST(test_session)
{
	const char *cc = kdc_rig_cc("cc-session");
	struct negotiate_options opts = {.proxy_host = KDC_RIG_PROXY_HOST};
	struct negotiate_options other = {.proxy_host = "nosuch.kgtest.local"};

	ck_assert_int_eq(negotiate_session_new(&opts.session), 0);
	other.session = opts.session;
	kinit("alice", cc, NULL);
	setenv("KRB5CCNAME", cc, 1);
	expect_user(&opts, "alice");
	expect_user(&opts, "alice"); /* the shortcut */
	/* another SPN is not covered by alice's success for this one */
	expect_failure(&other, -EACCES, NEGOTIATE_ERR_UNKNOWN_SERVICE,
		       "unknown service principal HTTP@nosuch.kgtest.local");
	expect_user(&opts, "alice");
	/* a new kinit under the shortcut: the new principal */
	kinit("bob", cc, NULL);
	expect_user(&opts, "bob");
	/* GSSAPI failing under the shortcut (its success was with cc): the pre-flight says why */
	kinit_cycle(&opts, kdc_rig_cc("cc-session-cycle"));
	negotiate_session_free(opts.session);
}
END_TEST

START_TEST(test_bare_negotiate_is_rejection)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;
	char *token = NULL, *next = NULL;

	ctx = start_as_alice("cc-bare", &token);
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, "", &next, &fail),
			 -EACCES);
	ck_assert_int_eq(fail.code, NEGOTIATE_ERR_REJECTED);
	ck_assert_str_eq(fail.message, "proxy rejected the ticket");
	/* no second chance on the same context */
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, NULL, &next, &fail),
			 -EPROTO);
	ck_assert_ptr_null(next);
	free(token);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_success_without_final_token)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;
	char *token = NULL, *next = NULL;

	/* Squid: 200 to CONNECT with no Proxy-Authenticate: open, not mutually authenticated */
	ctx = start_as_alice("cc-squid", &token);
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_SUCCESS, NULL, &next, &fail), 0);
	ck_assert_ptr_null(next);
	ck_assert(!negotiate_mutual(ctx));
	free(token);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_malformed_proxy_tokens)
{
	static const char *const bad_base64[] = {
	    "!!!!", "QQ=", "Q", "QUJD=", "QR==", "QU JD", "Zm9vYg"};
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;
	char *token = NULL, *next = NULL, *big, *garbage;
	size_t i;

	for (i = 0; i < sizeof(bad_base64) / sizeof(bad_base64[0]); i++) {
		ctx = start_as_alice("cc-bad", &token);
		ck_assert_int_eq(
		    negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, bad_base64[i], &next, &fail),
		    -EPROTO);
		ck_assert_int_eq(fail.code, NEGOTIATE_ERR_PROTOCOL);
		free(token);
		negotiate_free(ctx);
	}
	/* more than NEGOTIATE_TOKEN_MAX */
	big = malloc(NEGOTIATE_TOKEN_MAX / 3 * 4 + 64);
	ck_assert_ptr_nonnull(big);
	memset(big, 'A', NEGOTIATE_TOKEN_MAX / 3 * 4 + 60);
	big[NEGOTIATE_TOKEN_MAX / 3 * 4 + 60] = '\0';
	ctx = start_as_alice("cc-bad", &token);
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, big, &next, &fail),
			 -EPROTO);
	free(big);
	free(token);
	negotiate_free(ctx);
	/* valid base64, not a GSS token: a forged "mutual" 2xx fails the tunnel, a 407 rejects */
	garbage = encode("not a gss token at all", 22);
	ctx = start_as_alice("cc-bad", &token);
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_SUCCESS, garbage, &next, &fail),
			 -EACCES);
	ck_assert_int_eq(fail.code, NEGOTIATE_ERR_MUTUAL);
	ck_assert(!negotiate_mutual(ctx));
	free(token);
	negotiate_free(ctx);
	ctx = start_as_alice("cc-bad", &token);
	ck_assert_int_eq(negotiate_step(ctx, NEGOTIATE_ANSWER_CHALLENGE, garbage, &next, &fail),
			 -EACCES);
	ck_assert_int_eq(fail.code, NEGOTIATE_ERR_REJECTED);
	ck_assert_ptr_null(next);
	free(token);
	free(garbage);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_ticket_status)
{
	struct negotiate_options with_cc = {.proxy_host = KDC_RIG_PROXY_HOST,
					    .ccache = kdc_rig_cc("cc-status")};
	struct negotiate_options empty_cc = {.proxy_host = KDC_RIG_PROXY_HOST, .ccache = ""};
	struct negotiate_ticket t;
	struct negotiate_failure fail;
	time_t now = time(NULL);

	kinit("alice", with_cc.ccache, NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-nowhere"), 1);

	ck_assert_int_eq(negotiate_ticket_status(&with_cc, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" KDC_RIG_REALM);
	ck_assert_str_eq(t.ccache, kdc_rig_cc("cc-status"));
	ck_assert(t.has_tgt);
	ck_assert_int_gt(t.tgt_end, now + 9 * 3600);
	ck_assert_int_le(t.tgt_end, now + 10 * 3600 + 5);
	ck_assert_int_ge(t.tgt_renew_until, t.tgt_end);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-status"), 1);
	ck_assert_int_eq(negotiate_ticket_status(&empty_cc, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" KDC_RIG_REALM);
}
END_TEST

/* A DIR collection holding alice's cache and bob's, bob's the primary, and a ~/.k5identity that
 * names alice for the proxy: GSSAPI picks alice's cache for the proxy's SPN, and so must the
 * status the client reports (ctl status, expiry warnings), not the primary's. */
START_TEST(test_ticket_status_follows_cache_selection)
{
	char dir[PATH_MAX], coll[PATH_MAX + 8], path[PATH_MAX + 32], *old_home = getenv("HOME");
	struct negotiate_options in_coll = {.proxy_host = KDC_RIG_PROXY_HOST};
	char who[256] = "";
	struct negotiate_ticket t;
	struct negotiate_failure fail;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/coll-home", kdc_rig_dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(coll, sizeof(coll), "DIR:%s/cc", dir);
	snprintf(path, sizeof(path), "%s/cc", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	kinit("alice", coll, NULL);
	kinit("bob", coll, NULL); /* a new principal in a collection becomes the primary */
	snprintf(path, sizeof(path), "%s/.k5identity", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "alice@%s host=%s\n", KDC_RIG_REALM, KDC_RIG_PROXY_HOST);
	fclose(f);
	old_home = old_home ? strdup(old_home) : NULL;
	setenv("HOME", dir, 1);
	setenv("KRB5CCNAME", coll, 1);

	ck_assert_int_eq(negotiate_ticket_status(NULL, &t, &fail), 0);
	ck_assert_str_eq(t.principal,
			 "bob@" KDC_RIG_REALM); /* the primary, with no proxy to choose for */
	expect_user(&proxy_opts, "alice");
	ck_assert_int_eq(negotiate_ticket_status(&proxy_opts, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" KDC_RIG_REALM);
	ck_assert(t.has_tgt);
	/* Configured explicitly, a collection's name pins its primary (no selection) for GSSAPI:
	 * the status must still name whoever the tokens come from. */
	in_coll.ccache = coll;
	negotiate_free(exchange(&in_coll, who, sizeof(who)));
	ck_assert_int_eq(negotiate_ticket_status(&in_coll, &t, &fail), 0);
	ck_assert_str_eq(t.principal, who);

	if (old_home) {
		setenv("HOME", old_home, 1);
		free(old_home);
	} else {
		unsetenv("HOME");
	}
}
END_TEST

START_TEST(test_classify)
{
	static const struct {
		int32_t code;
		enum negotiate_error want;
	} table[] = {
	    {KRB5_FCC_NOFILE, NEGOTIATE_ERR_NO_TICKET},
	    {KRB5_CC_NOTFOUND, NEGOTIATE_ERR_NO_TICKET},
	    {KRB5KRB_AP_ERR_TKT_EXPIRED, NEGOTIATE_ERR_TICKET_EXPIRED},
	    {KRB5_FCC_PERM, NEGOTIATE_ERR_CCACHE},
	    {KRB5_KDC_UNREACH, NEGOTIATE_ERR_KDC_UNREACHABLE},
	    {KRB5KRB_AP_ERR_SKEW, NEGOTIATE_ERR_CLOCK_SKEW},
	    {KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, NEGOTIATE_ERR_UNKNOWN_SERVICE},
	    {KRB5KDC_ERR_CLIENT_REVOKED, NEGOTIATE_ERR_ACCOUNT},
	    {KRB5KRB_AP_ERR_BADKEYVER, NEGOTIATE_ERR_REJECTED},
	    {100001, NEGOTIATE_ERR_OTHER},
	    {0, NEGOTIATE_OK},
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		ck_assert_msg(negotiate_classify_krb5(table[i].code) == table[i].want,
			      "krb5 code %d", (int)table[i].code);
	/* SPNEGO's renumbered minors fall back to the major code */
	ck_assert_int_eq(negotiate_classify(GSS_S_NO_CRED, 100001), NEGOTIATE_ERR_NO_TICKET);
	ck_assert_int_eq(negotiate_classify(GSS_S_CREDENTIALS_EXPIRED, 100002),
			 NEGOTIATE_ERR_TICKET_EXPIRED);
	ck_assert_int_eq(negotiate_classify(GSS_S_FAILURE, (uint32_t)KRB5_KDC_UNREACH),
			 NEGOTIATE_ERR_KDC_UNREACHABLE);
	ck_assert_int_eq(negotiate_classify(GSS_S_FAILURE, 100003), NEGOTIATE_ERR_OTHER);
	ck_assert_int_eq(negotiate_classify(GSS_S_CONTINUE_NEEDED, 0), NEGOTIATE_OK);
	ck_assert_str_eq(negotiate_error_message(NEGOTIATE_ERR_KDC_UNREACHABLE), "KDC unreachable");
	ck_assert_str_eq(negotiate_error_message((enum negotiate_error)999), "Kerberos error");
}
END_TEST

/* Stops the suite's KDC: keep it the last case (the runner reaps the KDC at the end). */
START_TEST(test_kdc_unreachable)
{
	struct negotiate_options opts = {.proxy_host = KDC_RIG_PROXY_HOST};
	struct negotiate_session *session = NULL;
	struct negotiate_ctx *ctx;
	char who[256] = "";
	int i;

	kinit("alice", kdc_rig_cc("cc-tgtonly"), NULL);
	kinit("alice", kdc_rig_cc("cc-cached"), NULL);
	setenv("KRB5CCNAME", kdc_rig_cc("cc-cached"), 1);
	negotiate_free(exchange(&proxy_opts, who, sizeof(who))); /* caches the service ticket */

	ck_assert_int_eq(negotiate_session_new(&session), 0);
	ck_assert_int_eq(kill(kdc_rig_pid, SIGTERM), 0);
	for (i = 0; i < 50 && kdc_rig_listening(); i++)
		kdc_rig_sleep_ms(100);
	ck_assert(!kdc_rig_listening());

	setenv("KRB5CCNAME", kdc_rig_cc("cc-tgtonly"), 1);
	expect_failure(&proxy_opts, -EACCES, NEGOTIATE_ERR_KDC_UNREACHABLE, "KDC unreachable");
	/* the same under a session's shortcut (its success was with the other ccache) */
	opts.session = session;
	setenv("KRB5CCNAME", kdc_rig_cc("cc-cached"), 1);
	negotiate_free(exchange(&opts, who, sizeof(who)));
	setenv("KRB5CCNAME", kdc_rig_cc("cc-tgtonly"), 1);
	expect_failure(&opts, -EACCES, NEGOTIATE_ERR_KDC_UNREACHABLE, "KDC unreachable");
	negotiate_session_free(session);
	/* a cached service ticket needs no KDC */
	setenv("KRB5CCNAME", kdc_rig_cc("cc-cached"), 1);
	ctx = exchange(&proxy_opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" KDC_RIG_REALM);
	negotiate_free(ctx);
}
END_TEST

static Suite *negotiate_suite(void)
{
	Suite *s = suite_create("negotiate");
	TCase *tc = tcase_create("negotiate");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_classify);
	tcase_add_test(tc, test_token_accepted_mutual);
	tcase_add_test(tc, test_no_delegation_even_with_forwardable_tgt);
	tcase_add_test(tc, test_configured_ccache);
	tcase_add_test(tc, test_principal_form_spn);
	tcase_add_test(tc, test_no_ccache);
	tcase_add_test(tc, test_expired_ticket);
	tcase_add_test(tc, test_unknown_service_principal);
	tcase_add_test(tc, test_bad_spn);
	tcase_add_test(tc, test_kinit_after_kdestroy);
	tcase_add_test(tc, test_session);
	tcase_add_test(tc, test_bare_negotiate_is_rejection);
	tcase_add_test(tc, test_success_without_final_token);
	tcase_add_test(tc, test_malformed_proxy_tokens);
	tcase_add_test(tc, test_ticket_status);
	tcase_add_test(tc, test_ticket_status_follows_cache_selection);
	tcase_add_test(tc, test_kdc_unreachable); /* last: stops the KDC */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const struct kdc_rig_user users[] = {{"alice"}, {"bob"}, {NULL}};
	SRunner *sr;
	int failed, r;

	r = kdc_rig_setup("kgneg", users, true);
	if (r != 0) {
		kdc_rig_teardown(r);
		return r;
	}
	sr = srunner_create(negotiate_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kdc_rig_teardown(0);
	return failed == 0 ? 0 : 1;
}
