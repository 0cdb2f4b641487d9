/* SPNEGO/Kerberos initiator for the client's CONNECT tunnels: see negotiate.h for the contract.
 *
 * Per tunnel: a libkrb5 pre-flight (ccache, TGT expiry, service ticket) that yields real krb5
 * error codes, then a fresh SPNEGO credential limited to krb5 and gss_init_sec_context. A
 * session skips the pre-flight while its last success holds and runs it after a GSSAPI failure
 * instead. All GSS handles live in the context and die with it; nothing process-wide is changed.
 */
#include "client/auth/negotiate.h"

#include "client/auth/negotiate_ccache.h"
#include "client/auth/negotiate_error.h"
#include "client/proto/base64.h"

#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
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
	negotiate_phase = PHASE_CCACHE;
	r = acquire_cred(ctx, ccache, fail);
	if (r < 0)
		return r;
	negotiate_phase = PHASE_KDC;
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
	negotiate_phase = PHASE_IDLE;
	return 0;
fail:
	negotiate_free(ctx);
	negotiate_phase = PHASE_IDLE;
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
