/* The PAC evaluator's Duktape glue: a capped heap, the standard PAC functions as C functions
 * in the global object, load (compile and run the PAC's top level) and find (call
 * FindProxyForURL). See js.h.
 *
 * Name resolution: dnsResolve, dnsResolveEx, isResolvable(Ex), isInNet and isInNetEx on a
 * name look it up in the request's DNS table (case-insensitively); a name missing there sets
 * need_dns and throws, which abandons the evaluation (even when the PAC catches the error:
 * the flag wins), and the client asks again with the name in the table. Browser semantics:
 * dnsResolve and isResolvable want an IPv4 address; the Ex variants take any; dnsResolveEx
 * answers every address, ';'-separated, "" when the name does not resolve; isInNetEx accepts
 * a name as well as an address and is true when any of its addresses lies in the prefix.
 * myIpAddress answers the connection's source address when it is IPv4, else "127.0.0.1";
 * myIpAddressEx answers it in any family, "" when there is none.
 */
#include "pac/js.h"

#include <duktape.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/route/pac_funcs.h"

struct kg_pac_js {
	duk_context *ctx; /* NULL: no PAC loaded */
	size_t heap_max, heap_used;
	bool oom;		     /* the cap refused an allocation during this call */
	const struct kg_pac_find *f; /* the request being evaluated */
	char need_dns[KG_PAC_HOST_MAX + 1];
	unsigned alerts;
	kg_pac_alert_fn alert;
	void *alert_ud;
	struct tm local, gmt;
};

/* ---- the capped allocator: a size header in front of each block ---- */

#define HDR 16 /* keeps malloc's alignment */

static void *cap_alloc(void *ud, duk_size_t size)
{
	struct kg_pac_js *js = ud;
	if (size == 0)
		return NULL;
	if (size > js->heap_max - js->heap_used) {
		js->oom = true;
		return NULL;
	}
	unsigned char *p = malloc(HDR + size);
	if (!p) {
		js->oom = true;
		return NULL;
	}
	memcpy(p, &size, sizeof(size));
	js->heap_used += size;
	return p + HDR;
}

static void cap_free(void *ud, void *ptr)
{
	struct kg_pac_js *js = ud;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	duk_size_t size;
	memcpy(&size, p, sizeof(size));
	js->heap_used -= size;
	free(p);
}

static void *cap_realloc(void *ud, void *ptr, duk_size_t size)
{
	struct kg_pac_js *js = ud;
	if (!ptr)
		return cap_alloc(ud, size);
	if (size == 0) {
		cap_free(ud, ptr);
		return NULL;
	}
	unsigned char *p = (unsigned char *)ptr - HDR;
	duk_size_t old;
	memcpy(&old, p, sizeof(old));
	if (size > old && size - old > js->heap_max - js->heap_used) {
		js->oom = true;
		return NULL;
	}
	unsigned char *q = realloc(p, HDR + size);
	if (!q) {
		js->oom = true;
		return NULL;
	}
	memcpy(q, &size, sizeof(size));
	js->heap_used = js->heap_used - old + size;
	return q + HDR;
}

/* Duktape gave up (an error while handling an error, usually out of memory): say so on
 * stderr and end; the client sees the evaluator die and restarts it. */
static void fatal(void *ud, const char *msg)
{
	static const char pre[] = "kernelgatekeeper-pac: fatal Duktape error: ";
	ssize_t r = write(2, pre, sizeof(pre) - 1);
	r = write(2, msg ? msg : "?", msg ? strlen(msg) : 1);
	r = write(2, "\n", 1);
	(void)r;
	_exit(70);
}

static struct kg_pac_js *js_of(duk_context *ctx)
{
	duk_memory_functions mf;
	duk_get_memory_functions(ctx, &mf);
	return mf.udata;
}

/* ---- helpers for the bindings ---- */

static const struct kg_pac_dns_entry *dns_entry(duk_context *ctx, const char *host)
{
	struct kg_pac_js *js = js_of(ctx);
	const struct kg_pac_find *f = js->f;
	for (uint16_t i = 0; f && i < f->ndns; i++)
		if (strcasecmp(f->dns[i].host, host) == 0)
			return &f->dns[i];
	/* Not in the table: abandon the evaluation, the client resolves the name. */
	size_t n = strlen(host);
	if (n == 0 || n > KG_PAC_HOST_MAX)
		return NULL; /* a name the client cannot ask about: it does not resolve */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)host[i] < 0x21 || (unsigned char)host[i] == 0x7f)
			return NULL;
	memcpy(js->need_dns, host, n + 1);
	(void)duk_error(ctx, DUK_ERR_ERROR, "kernelgatekeeper: host name %s needs resolving", host);
	return NULL;
}

static bool is_literal(const char *s, struct kg_pac_addr *a)
{
	return kg_pac_addr_parse(s, a) == 0;
}

/* The first IPv4 address of host (a literal, or from the table) into out; false when it has
 * none. */
static bool resolve4(duk_context *ctx, const char *host, char *out, size_t cap)
{
	struct kg_pac_addr a;
	if (kg_pac_is_ipv4_literal(host)) {
		snprintf(out, cap, "%s", host);
		return true;
	}
	if (is_literal(host, &a))
		return false; /* IPv6: dnsResolve answers IPv4 only */
	const struct kg_pac_dns_entry *e = dns_entry(ctx, host);
	for (uint8_t i = 0; e && i < e->naddr; i++)
		if (e->addr[i].family == 4)
			return kg_pac_addr_format(&e->addr[i], out, cap) > 0;
	return false;
}

/* Every address of host, ';'-separated, into out ("" when none). */
static void resolve_all(duk_context *ctx, const char *host, char *out, size_t cap)
{
	struct kg_pac_addr a;
	out[0] = '\0';
	if (is_literal(host, &a)) {
		snprintf(out, cap, "%s", host);
		return;
	}
	const struct kg_pac_dns_entry *e = dns_entry(ctx, host);
	size_t n = 0;
	for (uint8_t i = 0; e && i < e->naddr; i++) {
		char one[64];
		if (kg_pac_addr_format(&e->addr[i], one, sizeof(one)) < 0)
			continue;
		int w = snprintf(out + n, cap - n, "%s%s", n ? ";" : "", one);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

/* ---- the PAC functions ---- */

static duk_ret_t f_is_plain_host_name(duk_context *ctx)
{
	duk_push_boolean(ctx, kg_pac_is_plain_host_name(duk_to_string(ctx, 0)));
	return 1;
}

static duk_ret_t f_dns_domain_is(duk_context *ctx)
{
	duk_push_boolean(ctx, kg_pac_dns_domain_is(duk_to_string(ctx, 0), duk_to_string(ctx, 1)));
	return 1;
}

static duk_ret_t f_local_host_or_domain_is(duk_context *ctx)
{
	duk_push_boolean(
	    ctx, kg_pac_local_host_or_domain_is(duk_to_string(ctx, 0), duk_to_string(ctx, 1)));
	return 1;
}

static duk_ret_t f_dns_domain_levels(duk_context *ctx)
{
	duk_push_int(ctx, kg_pac_dns_domain_levels(duk_to_string(ctx, 0)));
	return 1;
}

static duk_ret_t f_sh_exp_match(duk_context *ctx)
{
	duk_push_boolean(ctx, kg_pac_sh_exp_match(duk_to_string(ctx, 0), duk_to_string(ctx, 1)));
	return 1;
}

static duk_ret_t f_is_resolvable(duk_context *ctx)
{
	char a[64];
	duk_push_boolean(ctx, resolve4(ctx, duk_to_string(ctx, 0), a, sizeof(a)));
	return 1;
}

static duk_ret_t f_is_resolvable_ex(duk_context *ctx)
{
	char a[KG_PAC_DNS_ADDRS_MAX * 48];
	resolve_all(ctx, duk_to_string(ctx, 0), a, sizeof(a));
	duk_push_boolean(ctx, a[0] != '\0');
	return 1;
}

static duk_ret_t f_dns_resolve(duk_context *ctx)
{
	char a[64];
	if (resolve4(ctx, duk_to_string(ctx, 0), a, sizeof(a)))
		duk_push_string(ctx, a);
	else
		duk_push_null(ctx);
	return 1;
}

static duk_ret_t f_dns_resolve_ex(duk_context *ctx)
{
	char a[KG_PAC_DNS_ADDRS_MAX * 48];
	resolve_all(ctx, duk_to_string(ctx, 0), a, sizeof(a));
	duk_push_string(ctx, a);
	return 1;
}

static duk_ret_t f_is_in_net(duk_context *ctx)
{
	char a[64];
	const char *pattern = duk_to_string(ctx, 1), *mask = duk_to_string(ctx, 2);
	bool in = resolve4(ctx, duk_to_string(ctx, 0), a, sizeof(a)) &&
		  kg_pac_is_in_net(a, pattern, mask);
	duk_push_boolean(ctx, in);
	return 1;
}

static duk_ret_t f_is_in_net_ex(duk_context *ctx)
{
	char all[KG_PAC_DNS_ADDRS_MAX * 48];
	const char *prefix = duk_to_string(ctx, 1);
	bool in = false;
	resolve_all(ctx, duk_to_string(ctx, 0), all, sizeof(all));
	for (char *save = NULL, *one = strtok_r(all, ";", &save); one && !in;
	     one = strtok_r(NULL, ";", &save))
		in = kg_pac_is_in_net_ex(one, prefix);
	duk_push_boolean(ctx, in);
	return 1;
}

static duk_ret_t f_my_ip_address(duk_context *ctx)
{
	struct kg_pac_js *js = js_of(ctx);
	char a[64];
	if (js->f && js->f->my_ip.family == 4 &&
	    kg_pac_addr_format(&js->f->my_ip, a, sizeof(a)) > 0)
		duk_push_string(ctx, a);
	else
		duk_push_string(ctx, "127.0.0.1");
	return 1;
}

static duk_ret_t f_my_ip_address_ex(duk_context *ctx)
{
	struct kg_pac_js *js = js_of(ctx);
	char a[64];
	if (js->f && kg_pac_addr_format(&js->f->my_ip, a, sizeof(a)) > 0)
		duk_push_string(ctx, a);
	else
		duk_push_string(ctx, "");
	return 1;
}

static duk_ret_t f_sort_ip_address_list(duk_context *ctx)
{
	char out[KG_PAC_SORT_MAX * 48];
	if (kg_pac_sort_ip_address_list(duk_to_string(ctx, 0), out, sizeof(out)) == 0)
		duk_push_string(ctx, out);
	else
		duk_push_false(ctx);
	return 1;
}

static duk_ret_t f_get_client_version(duk_context *ctx)
{
	duk_push_string(ctx, "1.0");
	return 1;
}

static duk_ret_t f_alert(duk_context *ctx)
{
	struct kg_pac_js *js = js_of(ctx);
	duk_size_t len;
	const char *msg = duk_to_lstring(ctx, 0, &len);
	if (js->alerts < KG_PAC_ALERTS_MAX && js->alert) {
		char buf[KG_PAC_TEXT_MAX + 1];
		size_t n = kg_pac_sanitize(msg, len, buf, sizeof(buf));
		js->alert(js->alert_ud, buf, n);
	}
	js->alerts++;
	return 0;
}

/* The calendar functions: their arguments as strings (numbers print in decimal). */
typedef bool (*calendar_fn)(const char *const *argv, size_t argc, const struct tm *local,
			    const struct tm *gmt);

static duk_ret_t calendar(duk_context *ctx, calendar_fn fn)
{
	struct kg_pac_js *js = js_of(ctx);
	const char *argv[7];
	duk_idx_t n = duk_get_top(ctx);
	if (n > 7) {
		duk_push_false(ctx);
		return 1;
	}
	for (duk_idx_t i = 0; i < n; i++)
		argv[i] = duk_to_string(ctx, i);
	duk_push_boolean(ctx, fn(argv, (size_t)n, &js->local, &js->gmt));
	return 1;
}

static duk_ret_t f_weekday_range(duk_context *ctx)
{
	return calendar(ctx, kg_pac_weekday_range);
}

static duk_ret_t f_date_range(duk_context *ctx)
{
	return calendar(ctx, kg_pac_date_range);
}

static duk_ret_t f_time_range(duk_context *ctx)
{
	return calendar(ctx, kg_pac_time_range);
}

static const struct {
	const char *name;
	duk_c_function fn;
	duk_idx_t nargs;
} builtins[] = {
    {"isPlainHostName", f_is_plain_host_name, 1},
    {"dnsDomainIs", f_dns_domain_is, 2},
    {"localHostOrDomainIs", f_local_host_or_domain_is, 2},
    {"isResolvable", f_is_resolvable, 1},
    {"isInNet", f_is_in_net, 3},
    {"dnsResolve", f_dns_resolve, 1},
    {"myIpAddress", f_my_ip_address, 0},
    {"dnsDomainLevels", f_dns_domain_levels, 1},
    {"shExpMatch", f_sh_exp_match, 2},
    {"weekdayRange", f_weekday_range, DUK_VARARGS},
    {"dateRange", f_date_range, DUK_VARARGS},
    {"timeRange", f_time_range, DUK_VARARGS},
    {"alert", f_alert, 1},
    {"dnsResolveEx", f_dns_resolve_ex, 1},
    {"myIpAddressEx", f_my_ip_address_ex, 0},
    {"isResolvableEx", f_is_resolvable_ex, 1},
    {"isInNetEx", f_is_in_net_ex, 2},
    {"sortIpAddressList", f_sort_ip_address_list, 1},
    {"getClientVersion", f_get_client_version, 0},
};

/* ---- load and find ---- */

struct kg_pac_js *kg_pac_js_new(size_t heap_max, kg_pac_alert_fn alert, void *ud)
{
	struct kg_pac_js *js = calloc(1, sizeof(*js));
	if (!js)
		return NULL;
	js->heap_max = heap_max;
	js->alert = alert;
	js->alert_ud = ud;
	return js;
}

static void drop_heap(struct kg_pac_js *js)
{
	if (js->ctx)
		duk_destroy_heap(js->ctx);
	js->ctx = NULL;
}

void kg_pac_js_free(struct kg_pac_js *js)
{
	if (!js)
		return;
	drop_heap(js);
	free(js);
}

/* The error on the stack top as "prefix: message", printable and bounded. */
static void error_sentence(duk_context *ctx, const char *prefix, char *out, size_t cap)
{
	duk_size_t len;
	const char *s = duk_safe_to_lstring(ctx, -1, &len);
	char clean[KG_PAC_TEXT_MAX + 1];
	kg_pac_sanitize(s, len, clean, sizeof(clean));
	char full[2 * KG_PAC_TEXT_MAX];
	snprintf(full, sizeof(full), "%s%s", prefix, clean);
	kg_pac_sanitize(full, strlen(full), out,
			cap < KG_PAC_TEXT_MAX + 1 ? cap : KG_PAC_TEXT_MAX + 1);
}

static int fail(struct kg_pac_js *js, enum kg_pac_err *kind, enum kg_pac_err k, char *err,
		size_t errlen, const char *sentence)
{
	*kind = k;
	snprintf(err, errlen, "%s", sentence);
	return KG_PAC_ERROR;
}

int kg_pac_js_load(struct kg_pac_js *js, const char *script, size_t len, enum kg_pac_err *kind,
		   char *err, size_t errlen)
{
	drop_heap(js);
	js->heap_used = 0;
	js->oom = false;
	js->alerts = 0;
	js->f = NULL;
	js->need_dns[0] = '\0';
	memset(&js->local, 0, sizeof(js->local));
	memset(&js->gmt, 0, sizeof(js->gmt));

	js->ctx = duk_create_heap(cap_alloc, cap_realloc, cap_free, js, fatal);
	if (!js->ctx)
		return fail(js, kind, KG_PAC_ERR_OOM, err, errlen, "out of memory");
	duk_context *ctx = js->ctx;
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		duk_push_c_function(ctx, builtins[i].fn, builtins[i].nargs);
		duk_put_global_string(ctx, builtins[i].name);
	}

	duk_push_string(ctx, "PAC");
	if (duk_pcompile_lstring_filename(ctx, 0, script, len) != 0) {
		if (js->oom) {
			drop_heap(js);
			return fail(js, kind, KG_PAC_ERR_OOM, err, errlen, "out of memory");
		}
		char prefix[64] = "PAC syntax error: ";
		if (duk_is_error(ctx, -1) && duk_get_prop_string(ctx, -1, "lineNumber") &&
		    duk_is_number(ctx, -1))
			snprintf(prefix, sizeof(prefix),
				 "PAC syntax error at line %ld: ", (long)duk_get_number(ctx, -1));
		duk_pop(ctx);
		/* The message alone: Duktape's own text already says the line. */
		if (duk_is_error(ctx, -1) && duk_get_prop_string(ctx, -1, "message"))
			duk_replace(ctx, -2);
		else
			duk_pop(ctx);
		error_sentence(ctx, prefix, err, errlen);
		*kind = KG_PAC_ERR_SCRIPT;
		drop_heap(js);
		return KG_PAC_ERROR;
	}
	if (duk_pcall(ctx, 0) != 0) {
		if (js->oom) {
			drop_heap(js);
			return fail(js, kind, KG_PAC_ERR_OOM, err, errlen, "out of memory");
		}
		if (js->need_dns[0]) {
			drop_heap(js);
			return fail(js, kind, KG_PAC_ERR_SCRIPT, err, errlen,
				    "PAC resolves a host name while loading (no DNS there)");
		}
		error_sentence(ctx, "PAC threw while loading: ", err, errlen);
		*kind = KG_PAC_ERR_SCRIPT;
		drop_heap(js);
		return KG_PAC_ERROR;
	}
	duk_pop(ctx);
	bool has = duk_get_global_string(ctx, "FindProxyForURL") && duk_is_function(ctx, -1);
	duk_pop(ctx);
	if (!has) {
		drop_heap(js);
		return fail(js, kind, KG_PAC_ERR_SCRIPT, err, errlen,
			    "PAC defines no function FindProxyForURL");
	}
	return KG_PAC_OK;
}

static const char *type_name(duk_context *ctx, duk_idx_t i)
{
	switch (duk_get_type(ctx, i)) {
	case DUK_TYPE_UNDEFINED:
		return "undefined";
	case DUK_TYPE_NULL:
		return "null";
	case DUK_TYPE_BOOLEAN:
		return "a boolean";
	case DUK_TYPE_NUMBER:
		return "a number";
	default:
		return "an object";
	}
}

int kg_pac_js_find(struct kg_pac_js *js, const struct kg_pac_find *f, enum kg_pac_err *kind,
		   char *out, size_t outlen)
{
	if (!js->ctx)
		return fail(js, kind, KG_PAC_ERR_SCRIPT, out, outlen, "no PAC loaded");
	duk_context *ctx = js->ctx;
	time_t now = (time_t)f->now, local = (time_t)(f->now + f->tz_offset);
	if (!gmtime_r(&now, &js->gmt) || !gmtime_r(&local, &js->local))
		return fail(js, kind, KG_PAC_ERR_SCRIPT, out, outlen, "the time is out of range");
	js->f = f;
	js->oom = false;
	js->alerts = 0;
	js->need_dns[0] = '\0';

	int ret;
	duk_get_global_string(ctx, "FindProxyForURL");
	duk_push_string(ctx, f->url);
	duk_push_string(ctx, f->host);
	duk_int_t rc = duk_pcall(ctx, 2);
	if (js->need_dns[0]) {
		snprintf(out, outlen, "%s", js->need_dns);
		ret = KG_PAC_NEED_DNS;
	} else if (rc != 0 && js->oom) {
		ret = fail(js, kind, KG_PAC_ERR_OOM, out, outlen, "out of memory");
	} else if (rc != 0) {
		error_sentence(ctx, "PAC threw: ", out, outlen);
		*kind = KG_PAC_ERR_SCRIPT;
		ret = KG_PAC_ERROR;
	} else if (!duk_is_string(ctx, -1)) {
		char s[64];
		snprintf(s, sizeof(s), "FindProxyForURL returned %s", type_name(ctx, -1));
		ret = fail(js, kind, KG_PAC_ERR_SCRIPT, out, outlen, s);
	} else {
		duk_size_t len;
		const char *s = duk_get_lstring(ctx, -1, &len);
		if (len > KG_PAC_RESULT_MAX || len + 1 > outlen) {
			char m[96];
			snprintf(m, sizeof(m),
				 "FindProxyForURL returned %zu bytes, more than the %d-byte limit",
				 (size_t)len, KG_PAC_RESULT_MAX);
			ret = fail(js, kind, KG_PAC_ERR_SCRIPT, out, outlen, m);
		} else {
			for (size_t i = 0; i < len; i++) {
				unsigned char c = (unsigned char)s[i];
				out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
			}
			out[len] = '\0';
			ret = KG_PAC_RESULT;
		}
	}
	duk_pop(ctx);
	js->f = NULL;
	return ret;
}
