/* negotiate.c against a real MIT KDC on 127.0.0.1 (tests/lib/krbrig-kdc.sh; no root needed),
 * with this process as the proxy's acceptor (gss_accept_sec_context on the rig's keytab).
 * Exit 77 when the KDC tools are missing (99 with KG_REQUIRE_PRIVILEGED=1), 99 when the KDC
 * cannot be set up.
 */
#include "client/auth/negotiate.h"

#include "client/proto/base64.h"

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

#ifndef KG_TOP_SRCDIR
#define KG_TOP_SRCDIR "."
#endif

#define PROXY_HOST "proxy.kgtest.local"
#define REALM	   "KGTEST.LOCAL"

static char rig[PATH_MAX];
static char helper[PATH_MAX];
static int kdc_port;
static pid_t kdc_pid = -1;

/* --- process helpers --- */

static int run(char *const argv[])
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rig_cmd(const char *cmd, const char *a, const char *b, const char *c, const char *d,
		   const char *e)
{
	char *argv[] = {"bash",	   helper,    (char *)cmd, rig,	      (char *)a,
			(char *)b, (char *)c, (char *)d,   (char *)e, NULL};
	return run(argv);
}

/* ccache "FILE:<rig>/<name>" */
static const char *cc_path(const char *name)
{
	static char buf[2][PATH_MAX + 8];
	static int i;

	i ^= 1;
	snprintf(buf[i], sizeof(buf[i]), "FILE:%s/%s", rig, name);
	return buf[i];
}

static void kinit(const char *user, const char *cc, const char *lifetime)
{
	char pw[64];

	snprintf(pw, sizeof(pw), "%spw", user);
	ck_assert_int_eq(rig_cmd("kinit", user, pw, cc, lifetime ? "-l" : NULL, lifetime), 0);
}

static void kdestroy(const char *cc)
{
	char *argv[] = {"kdestroy", "-q", "-c", (char *)cc, NULL};

	ck_assert_int_eq(run(argv), 0);
}

static bool kdc_listening(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)kdc_port)};
	int fd, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
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

/* A whole exchange on opts, in which the proxy sees USER@REALM. */
static void expect_user(const struct negotiate_options *opts, const char *user)
{
	char who[256] = "", want[64];

	snprintf(want, sizeof(want), "%s@%s", user, REALM);
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

static const struct negotiate_options proxy_opts = {.proxy_host = PROXY_HOST};

/* kinit alice into ccache file NAME, make it the default, and start a context on it. */
static struct negotiate_ctx *start_as_alice(const char *name, char **ret_token)
{
	struct negotiate_failure fail;
	struct negotiate_ctx *ctx = NULL;

	kinit("alice", cc_path(name), NULL);
	setenv("KRB5CCNAME", cc_path(name), 1);
	ck_assert_int_eq(negotiate_start(&proxy_opts, &ctx, ret_token, &fail), 0);
	return ctx;
}

START_TEST(test_token_accepted_mutual)
{
	struct negotiate_ctx *ctx;
	uint32_t flags = 0;
	char who[256] = "";

	kinit("alice", cc_path("cc-alice"), NULL);
	setenv("KRB5CCNAME", cc_path("cc-alice"), 1);
	ctx = exchange(&proxy_opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" REALM);
	ck_assert(negotiate_mutual(ctx));
	ck_assert_str_eq(negotiate_spn(ctx), "HTTP@" PROXY_HOST);
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
	struct negotiate_options opts = {.proxy_host = PROXY_HOST, .ccache = cc_path("cc-conf")};
	struct negotiate_ctx *ctx;
	char who[256] = "";

	kinit("bob", opts.ccache, NULL);
	setenv("KRB5CCNAME", cc_path("cc-nowhere"), 1);
	ctx = exchange(&opts, who, sizeof(who));
	ck_assert_str_eq(who, "bob@" REALM);
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_principal_form_spn)
{
	struct negotiate_options opts = {.proxy_host = "198.51.100.2",
					 .spn = "HTTP/" PROXY_HOST "@" REALM};
	struct negotiate_ctx *ctx;
	char who[256] = "";

	kinit("alice", cc_path("cc-spn"), NULL);
	setenv("KRB5CCNAME", cc_path("cc-spn"), 1);
	ctx = exchange(&opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" REALM);
	negotiate_free(ctx);
	opts.spn = "HTTP@" PROXY_HOST;
	ctx = exchange(&opts, who, sizeof(who));
	negotiate_free(ctx);
}
END_TEST

START_TEST(test_no_ccache)
{
	struct negotiate_ticket t;
	struct negotiate_failure fail;

	setenv("KRB5CCNAME", cc_path("cc-missing"), 1);
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

	kinit("alice", cc_path("cc-short"), "2s");
	setenv("KRB5CCNAME", cc_path("cc-short"), 1);
	ck_assert_int_eq(negotiate_ticket_status(NULL, &t, &fail), 0);
	ck_assert(t.has_tgt);
	ck_assert_int_le(t.tgt_end, time(NULL) + 3);
	for (i = 0; i < 60 && time(NULL) <= t.tgt_end; i++)
		sleep_ms(100);
	ck_assert_int_gt(time(NULL), t.tgt_end);
	expect_failure(&proxy_opts, -EACCES, NEGOTIATE_ERR_TICKET_EXPIRED,
		       "Kerberos ticket expired: run kinit");
}
END_TEST

START_TEST(test_unknown_service_principal)
{
	struct negotiate_options opts = {.proxy_host = "nosuch.kgtest.local"};

	kinit("alice", cc_path("cc-unknown"), NULL);
	setenv("KRB5CCNAME", cc_path("cc-unknown"), 1);
	expect_failure(&opts, -EACCES, NEGOTIATE_ERR_UNKNOWN_SERVICE,
		       "unknown service principal HTTP@nosuch.kgtest.local");
}
END_TEST

START_TEST(test_bad_spn)
{
	struct negotiate_options opts = {.spn = "HTTP@"};
	struct negotiate_options none = {0};

	setenv("KRB5CCNAME", cc_path("cc-alice"), 1);
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
	kinit_cycle(&proxy_opts, cc_path("cc-cycle"));
}
END_TEST

/* With a session the pre-flight is skipped after a success; what GSSAPI then does must be what it
 * did with the pre-flight: the current ccache's principal, and failures classified as before. */
START_TEST(test_session)
{
	const char *cc = cc_path("cc-session");
	struct negotiate_options opts = {.proxy_host = PROXY_HOST};
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
	kinit_cycle(&opts, cc_path("cc-session-cycle"));
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
	struct negotiate_options with_cc = {.proxy_host = PROXY_HOST,
					    .ccache = cc_path("cc-status")};
	struct negotiate_options empty_cc = {.proxy_host = PROXY_HOST, .ccache = ""};
	struct negotiate_ticket t;
	struct negotiate_failure fail;
	time_t now = time(NULL);

	kinit("alice", with_cc.ccache, NULL);
	setenv("KRB5CCNAME", cc_path("cc-nowhere"), 1);

	ck_assert_int_eq(negotiate_ticket_status(&with_cc, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" REALM);
	ck_assert_str_eq(t.ccache, cc_path("cc-status"));
	ck_assert(t.has_tgt);
	ck_assert_int_gt(t.tgt_end, now + 9 * 3600);
	ck_assert_int_le(t.tgt_end, now + 10 * 3600 + 5);
	ck_assert_int_ge(t.tgt_renew_until, t.tgt_end);
	setenv("KRB5CCNAME", cc_path("cc-status"), 1);
	ck_assert_int_eq(negotiate_ticket_status(&empty_cc, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" REALM);
}
END_TEST

/* A DIR collection holding alice's cache and bob's, bob's the primary, and a ~/.k5identity that
 * names alice for the proxy: GSSAPI picks alice's cache for the proxy's SPN, and so must the
 * status the client reports (ctl status, expiry warnings), not the primary's. */
START_TEST(test_ticket_status_follows_cache_selection)
{
	char dir[PATH_MAX], coll[PATH_MAX + 8], path[PATH_MAX + 32], *old_home = getenv("HOME");
	struct negotiate_options in_coll = {.proxy_host = PROXY_HOST};
	char who[256] = "";
	struct negotiate_ticket t;
	struct negotiate_failure fail;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/coll-home", rig);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(coll, sizeof(coll), "DIR:%s/cc", dir);
	snprintf(path, sizeof(path), "%s/cc", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	kinit("alice", coll, NULL);
	kinit("bob", coll, NULL); /* a new principal in a collection becomes the primary */
	snprintf(path, sizeof(path), "%s/.k5identity", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "alice@%s host=%s\n", REALM, PROXY_HOST);
	fclose(f);
	old_home = old_home ? strdup(old_home) : NULL;
	setenv("HOME", dir, 1);
	setenv("KRB5CCNAME", coll, 1);

	ck_assert_int_eq(negotiate_ticket_status(NULL, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "bob@" REALM); /* the primary, with no proxy to choose for */
	expect_user(&proxy_opts, "alice");
	ck_assert_int_eq(negotiate_ticket_status(&proxy_opts, &t, &fail), 0);
	ck_assert_str_eq(t.principal, "alice@" REALM);
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
	struct negotiate_options opts = {.proxy_host = PROXY_HOST};
	struct negotiate_session *session = NULL;
	struct negotiate_ctx *ctx;
	char who[256] = "";
	int i;

	kinit("alice", cc_path("cc-tgtonly"), NULL);
	kinit("alice", cc_path("cc-cached"), NULL);
	setenv("KRB5CCNAME", cc_path("cc-cached"), 1);
	negotiate_free(exchange(&proxy_opts, who, sizeof(who))); /* caches the service ticket */

	ck_assert_int_eq(negotiate_session_new(&session), 0);
	ck_assert_int_eq(kill(kdc_pid, SIGTERM), 0);
	for (i = 0; i < 50 && kdc_listening(); i++)
		sleep_ms(100);
	ck_assert(!kdc_listening());

	setenv("KRB5CCNAME", cc_path("cc-tgtonly"), 1);
	expect_failure(&proxy_opts, -EACCES, NEGOTIATE_ERR_KDC_UNREACHABLE, "KDC unreachable");
	/* the same under a session's shortcut (its success was with the other ccache) */
	opts.session = session;
	setenv("KRB5CCNAME", cc_path("cc-cached"), 1);
	negotiate_free(exchange(&opts, who, sizeof(who)));
	setenv("KRB5CCNAME", cc_path("cc-tgtonly"), 1);
	expect_failure(&opts, -EACCES, NEGOTIATE_ERR_KDC_UNREACHABLE, "KDC unreachable");
	negotiate_session_free(session);
	/* a cached service ticket needs no KDC */
	setenv("KRB5CCNAME", cc_path("cc-cached"), 1);
	ctx = exchange(&proxy_opts, who, sizeof(who));
	ck_assert_str_eq(who, "alice@" REALM);
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

/* --- the throwaway KDC --- */

static int skip(const char *why)
{
	const char *req = getenv("KG_REQUIRE_PRIVILEGED");

	if (req && strcmp(req, "1") == 0) {
		fprintf(stderr, "FAIL (KG_REQUIRE_PRIVILEGED=1, would skip): %s\n", why);
		return 99;
	}
	fprintf(stderr, "SKIP: %s\n", why);
	return 77;
}

static void kdc_stop(void)
{
	int i, status;

	if (kdc_pid <= 0)
		return;
	kill(kdc_pid, SIGTERM);
	for (i = 0; i < 30; i++) {
		if (waitpid(kdc_pid, &status, WNOHANG) != 0)
			break;
		sleep_ms(100);
	}
	if (i == 30) {
		kill(kdc_pid, SIGKILL);
		waitpid(kdc_pid, &status, 0);
	}
	kdc_pid = -1;
}

static void rig_remove(void)
{
	char *argv[] = {"rm", "-rf", rig, NULL};

	if (rig[0])
		run(argv);
}

static int rig_setup(void)
{
	const char *top = getenv("top_srcdir");
	char path[PATH_MAX + 32];
	char *tools[] = {"sh", "-c",
			 "command -v krb5kdc kdb5_util kadmin.local kinit kdestroy >/dev/null",
			 NULL};
	FILE *f;
	int i;

	/* the KDC tools live in sbin, which an unprivileged PATH may lack */
	snprintf(path, sizeof(path), "%s:/usr/sbin:/sbin", getenv("PATH") ? getenv("PATH") : "");
	setenv("PATH", path, 1);
	if (run(tools) != 0)
		return skip("needs krb5kdc, kdb5_util, kadmin.local (krb5-kdc, krb5-admin-server) "
			    "and kinit (krb5-user)");
	snprintf(helper, sizeof(helper), "%s/tests/lib/krbrig-kdc.sh", top ? top : KG_TOP_SRCDIR);
	if (access(helper, R_OK) != 0) {
		fprintf(stderr, "cannot read %s\n", helper);
		return 99;
	}
	snprintf(rig, sizeof(rig), "%s/kgneg.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(rig)) {
		rig[0] = '\0';
		perror("mkdtemp");
		return 99;
	}
	if (rig_cmd("init", NULL, NULL, NULL, NULL, NULL) != 0 ||
	    rig_cmd("addprinc", "alice", "alicepw", NULL, NULL, NULL) != 0 ||
	    rig_cmd("addprinc", "bob", "bobpw", NULL, NULL, NULL) != 0) {
		fprintf(stderr, "KDC setup failed\n");
		return 99;
	}
	snprintf(path, sizeof(path), "%s/kdc.port", rig);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%d", &kdc_port) != 1) {
		if (f)
			fclose(f);
		fprintf(stderr, "no %s\n", path);
		return 99;
	}
	fclose(f);

	snprintf(path, sizeof(path), "%s/krb5.conf", rig);
	setenv("KRB5_CONFIG", path, 1);
	snprintf(path, sizeof(path), "FILE:%s/http.keytab", rig);
	setenv("KRB5_KTNAME", path, 1);
	snprintf(path, sizeof(path), "%s/rcache", rig);
	setenv("KRB5RCACHEDIR", path, 1);
	/* never the invoking user's own tickets */
	snprintf(path, sizeof(path), "FILE:%s/cc-unset", rig);
	setenv("KRB5CCNAME", path, 1);
	unsetenv("KRB5_CLIENT_KTNAME");

	kdc_pid = fork();
	if (kdc_pid < 0)
		return 99;
	if (kdc_pid == 0) {
		char *argv[] = {"bash", helper, "exec-kdc", rig, NULL};

		execvp(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 50 && !kdc_listening(); i++)
		sleep_ms(100);
	if (!kdc_listening()) {
		fprintf(stderr, "the KDC does not listen on 127.0.0.1:%d\n", kdc_port);
		return 99;
	}
	return 0;
}

int main(void)
{
	SRunner *sr;
	int failed, r;

	r = rig_setup();
	if (r != 0) {
		kdc_stop();
		if (r != 77 && rig[0]) {
			char *argv[] = {"sh", "-c", "tail -n 20 \"$0\"/logs/* >&2", rig, NULL};

			run(argv);
		}
		rig_remove();
		return r;
	}
	sr = srunner_create(negotiate_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kdc_stop();
	rig_remove();
	return failed == 0 ? 0 : 1;
}
