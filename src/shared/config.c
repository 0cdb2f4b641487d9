/* Loading and validating the configuration file (DESIGN.md §5).
 *
 * The schema is one table per group: each known key names its type, its field in struct
 * kg_config and its range or validator, so parsing and review follow a single list. The file is
 * parsed into a scratch copy that replaces the caller's struct only when all of it is valid: a
 * bad file on SIGHUP must leave the running configuration alone. libconfig does the syntax;
 * config_scan.c first refuses what libconfig would accept silently and wrongly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kg_abi.h"
#include "shared/ccname.h"
#include "shared/config.h"
#include "shared/config_priv.h"
#include "shared/config_scan.h"
#include "shared/config_schema.h"
#include "shared/config_system.h"
#include "shared/config_url.h"
#include "shared/log.h"
#include "shared/macro.h"

struct parse_ctx {
	const char *name; /* file name used in messages */
	kg_config_warn_fn warn;
	void *userdata;
	char *err;
	size_t errlen;
};

/* ---- Messages ------------------------------------------------------------------------------ */

int kg_config_set_error(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* "proxy.url", "ebpf.target_ports[2]"; the root has no name. */
static size_t setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = config_setting_parent(s);
	size_t n;
	int r;

	if (!parent)
		return 0;
	n = setting_path(parent, buf, len);
	if (config_setting_name(s))
		r = snprintf(buf + n, len - n, "%s%s", n ? "." : "", config_setting_name(s));
	else
		r = snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
	if (r < 0)
		return n;
	return n + (size_t)r < len ? n + (size_t)r : len - 1;
}

static void __attribute__((format(printf, 5, 0)))
format_at(const struct parse_ctx *ctx, const config_setting_t *s, char *buf, size_t len,
	  const char *fmt, va_list ap)
{
	char key[256] = "";
	int n;

	setting_path(s, key, sizeof(key));
	n = snprintf(buf, len, "%s:%u: %s: ", ctx->name, config_setting_source_line(s), key);
	if (n >= 0 && (size_t)n < len)
		vsnprintf(buf + n, len - (size_t)n, fmt, ap);
}

static int __attribute__((format(printf, 3, 4)))
fail(struct parse_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	if (ctx->err && ctx->errlen) {
		va_start(ap, fmt);
		format_at(ctx, s, ctx->err, ctx->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void __attribute__((format(printf, 3, 4)))
warn(struct parse_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx->warn)
		return;
	va_start(ap, fmt);
	format_at(ctx, s, msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->warn(ctx->userdata, msg);
}

/* ---- Value readers ------------------------------------------------------------------------- */

static int read_string(struct parse_ctx *ctx, const config_setting_t *s, const char **ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(ctx, s, "expected a string");
	*ret = config_setting_get_string(s);
	return 0;
}

/* The range is the caller's check (kg_config_store_uint(), kg_config_store_port()). */
static int read_int(struct parse_ctx *ctx, const config_setting_t *s, long long *ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(ctx, s, "expected an integer");
	*ret = config_setting_get_int64(s);
	return 0;
}

static int read_bool(struct parse_ctx *ctx, const config_setting_t *s, bool *ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(ctx, s, "expected true or false");
	*ret = config_setting_get_bool(s);
	return 0;
}

static int read_aggregate(struct parse_ctx *ctx, const config_setting_t *s, unsigned max_len,
			  const char *what)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(ctx, s, "expected a list [ ... ] of %s", what);
	if ((unsigned)config_setting_length(s) > max_len)
		return fail(ctx, s, "more than %u entries", max_len);
	return 0;
}

/* ---- Validators and custom keys ------------------------------------------------------------ */

static const char *check_url(const char *value)
{
	struct kg_url url;

	return *value ? kg_config_url_check(value, &url) : NULL;
}

static const char *check_absolute_path(const char *value)
{
	return value[0] == '/' ? NULL : "must be an absolute path";
}

static const char *check_optional_absolute_path(const char *value)
{
	return *value ? check_absolute_path(value) : NULL;
}

/* Tokens are expanded by each client for its own user; here only their form is checked. */
static const char *check_ccache(const char *value)
{
	static const struct kg_ccname_ids any = {.username = "user", .tmpdir = "/tmp"};
	char scratch[PATH_MAX];
	const char *why;

	if (kg_ccname_expand(value, &any, scratch, sizeof(scratch), &why) == -EINVAL)
		return why;
	return NULL;
}

static const char *check_loopback(const char *value)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, value, addr) == 1)
		return addr[0] == 127 ? NULL : "must be a loopback address (127.0.0.0/8 or ::1)";
	if (inet_pton(AF_INET6, value, addr) == 1)
		return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)addr)
			   ? NULL
			   : "must be a loopback address (127.0.0.0/8 or ::1)";
	return "not an IP address";
}

static int parse_log_level(struct parse_ctx *ctx, const config_setting_t *s, struct kg_config *cfg)
{
	const char *v = NULL;
	int r, level;

	if ((r = read_string(ctx, s, &v)) < 0)
		return r;
	level = kg_log_level_from_string(v);
	if (level < 0)
		return fail(ctx, s, "\"%s\" is not one of debug, info, warn, error", v);
	cfg->log_level = level;
	return 0;
}

static int parse_enable_cache(struct parse_ctx *ctx, const config_setting_t *s,
			      struct kg_config *cfg)
{
	int r;

	if ((r = read_bool(ctx, s, &cfg->kerberos.enable_cache)) < 0)
		return r;
	if (!cfg->kerberos.enable_cache)
		warn(ctx, s, "false is ignored: the client always uses the user's own ccache");
	return 0;
}

static int read_target_ports(struct parse_ctx *ctx, const config_setting_t *s,
			     struct kg_config *cfg)
{
	char why[256];
	unsigned n, i;
	int r;

	if ((r = read_aggregate(ctx, s, KG_MAX_TARGET_PORTS, "ports")) < 0)
		return r;
	n = (unsigned)config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, i);
		long long port = 0;

		if ((r = read_int(ctx, elem, &port)) < 0)
			return r;
		if (kg_config_store_port(i, port, cfg, why, sizeof(why)) < 0)
			return fail(ctx, elem, "%s", why);
	}
	cfg->ebpf.n_target_ports = n;
	return 0;
}

static int parse_bypass(struct parse_ctx *ctx, const config_setting_t *s, struct kg_config *cfg)
{
	unsigned n, i;
	int r;

	if ((r = read_aggregate(ctx, s, KG_MAX_BYPASS, "CIDR strings")) < 0)
		return r;
	n = (unsigned)config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, i);
		struct kg_cidr canonical;
		bool had_host_bits;
		char text[INET6_ADDRSTRLEN + 8];
		const char *v = NULL;

		if ((r = read_string(ctx, elem, &v)) < 0)
			return r;
		if (kg_config_cidr_parse_canonical(v, &canonical, &had_host_bits) < 0)
			return fail(ctx, elem, "\"%s\" is not an address or address/prefix", v);
		if (had_host_bits) {
			kg_cidr_format(&canonical, text, sizeof(text));
			return fail(ctx, elem, "\"%s\" has host bits set; the network is %s", v,
				    text);
		}
		cfg->ebpf.bypass[i] = canonical;
	}
	cfg->ebpf.n_bypass = n;
	return 0;
}

/* system.uids: user names or uids (numbers), each at most once; stored as text and resolved by
 * whoever uses them (a name may not exist yet when the file is read). */
static int parse_system_uids(struct parse_ctx *ctx, const config_setting_t *s,
			     struct kg_config *cfg)
{
	char why[128];
	unsigned n, i, j;
	int r;

	if ((r = read_aggregate(ctx, s, KG_SYSTEM_UIDS_MAX, "user names or uids")) < 0)
		return r;
	n = (unsigned)config_setting_length(s);
	memset(cfg->system.uids, 0, sizeof(cfg->system.uids));
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, i);
		char *out = cfg->system.uids[i];
		const char *v = NULL;
		long long uid = 0;

		if (config_setting_type(elem) == CONFIG_TYPE_STRING) {
			if ((r = read_string(ctx, elem, &v)) < 0)
				return r;
			if (kg_config_system_name_check(v, why, sizeof(why)) < 0)
				return fail(ctx, elem, "%s", why);
			snprintf(out, KG_SYSTEM_NAME_MAX, "%s", v);
		} else {
			if ((r = read_int(ctx, elem, &uid)) < 0)
				return fail(ctx, elem, "expected a user name or a uid");
			if (uid < 0 || uid >= 4294967295ll)
				return fail(ctx, elem, "%lld is not a uid", uid);
			snprintf(out, KG_SYSTEM_NAME_MAX, "%lld", uid);
		}
		for (j = 0; j < i; j++)
			if (strcmp(cfg->system.uids[j], out) == 0)
				return fail(ctx, elem, "\"%s\" is listed twice", out);
	}
	cfg->system.n_uids = n;
	return 0;
}

static const char *check_system_user(const char *value)
{
	static char why[128];

	return kg_config_system_name_check(value, why, sizeof(why)) < 0 ? why : NULL;
}

/* proxy.url: one URL, or a list of them in failover order ("" alone means none). */
static int read_urls(struct parse_ctx *ctx, const struct kg_key_spec *key,
		     const config_setting_t *s, struct kg_config *cfg)
{
	char why[KG_URL_MAX + 128];
	const char *v = NULL;
	unsigned n, i;
	int r;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		v = config_setting_get_string(s);
		if (kg_config_store_url(key, 0, v, false, cfg, why, sizeof(why)) < 0)
			return fail(ctx, s, "%s", why);
		cfg->proxy.n_more_urls = 0;
		return 0;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(ctx, s, "expected a string or a list [ ... ] of URL strings");
	n = (unsigned)config_setting_length(s);
	if (n == 0)
		return fail(ctx, s, "an empty list; give at least one URL (or \"\" for none)");
	if (n > KG_PROXY_URLS_MAX)
		return fail(ctx, s, "more than %u entries", KG_PROXY_URLS_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *elem = config_setting_get_elem(s, i);

		if ((r = read_string(ctx, elem, &v)) < 0)
			return r;
		if (kg_config_store_url(key, i, v, true, cfg, why, sizeof(why)) < 0)
			return fail(ctx, elem, "%s", why);
	}
	cfg->proxy.n_more_urls = n - 1;
	return 0;
}

/* ---- Schema -------------------------------------------------------------------------------- */

/* One key per line reads as the schema it is (name, field, range or check, default);
 * clang-format would spread each over four. */
/* clang-format off */
#define FIELD(f) .offset = offsetof(struct kg_config, f), .size = sizeof(((struct kg_config *)0)->f)
#define STRING(n, f, chk, d) {.name = n, .kind = KG_KEY_STRING, FIELD(f), .check = chk, .def_str = d}
#define UINT(n, f, lo, hi, d) \
	{.name = n, .kind = KG_KEY_UINT, FIELD(f), .min = lo, .max = hi, .def_num = d}
#define BOOL(n, f, d) {.name = n, .kind = KG_KEY_BOOL, FIELD(f), .def_num = d}
#define CUSTOM(n, fn) {.name = n, .kind = KG_KEY_CUSTOM, .parse = fn}
/* A custom reader of field f of kind k (for its default d, a number, or s, a string). */
#define CUSTOM_FIELD(n, fn, f, k, d, s) \
	{.name = n, .kind = KG_KEY_CUSTOM, .parse = fn, FIELD(f), .def_as = k, .def_num = d, \
	 .def_str = s}
/* Sent to the client in KG_MSG_CONFIG as well (config_wire.c). */
#define W_STRING(n, f, chk, d) \
	{.name = n, .kind = KG_KEY_STRING, .wire = true, FIELD(f), .check = chk, .def_str = d}
#define W_UINT(n, f, lo, hi, d) \
	{.name = n, .kind = KG_KEY_UINT, .wire = true, FIELD(f), .min = lo, .max = hi, .def_num = d}
#define W_BOOL(n, f, d) {.name = n, .kind = KG_KEY_BOOL, .wire = true, FIELD(f), .def_num = d}
/* An optional absolute path, sent only when set (a key older clients do not know). */
#define W_PATH_IF_SET(n, f) \
	{.name = n, .kind = KG_KEY_STRING, .wire = true, .wire_if_set = true, FIELD(f), \
	 .check = check_optional_absolute_path, .def_str = ""}

static const uint16_t default_ports[] = {80, 443};

static const struct kg_key_spec proxy_keys[] = {
	{.name = "type", .kind = KG_KEY_PROXY_TYPE, .wire = true, FIELD(proxy.type), .def_num = KG_PROXY_HTTP},
	{.name = "url", .kind = KG_KEY_URLS, .wire = true, FIELD(proxy.url), .check = check_url, .def_str = ""},
	W_STRING("wpad_url", proxy.wpad_url, check_url, ""),
	W_UINT("connection_timeout", proxy.connection_timeout, 1, KG_CONNECTION_TIMEOUT_MAX, 10),
	W_UINT("request_timeout", proxy.request_timeout, 1, KG_REQUEST_TIMEOUT_MAX, 30),
	W_UINT("max_retries", proxy.max_retries, 0, KG_MAX_RETRIES_MAX, 3),
	/* After the keys of older versions: an older client ignores them (config_wire.h). */
	{.name = "fallback", .kind = KG_KEY_FALLBACK, .wire = true, .wire_if_set = true, FIELD(proxy.fallback), .def_num = KG_FALLBACK_NONE},
	{.name = "pac_timeout", .kind = KG_KEY_UINT, .wire = true, .wire_if_set = true, FIELD(proxy.pac_timeout), .min = 1, .max = KG_PAC_TIMEOUT_MAX, .def_num = 30},
	/* The service (root) checks their form; the client opens them as the user. */
	W_PATH_IF_SET("ca_file", proxy.ca_file),
	W_PATH_IF_SET("client_cert", proxy.client_cert),
	W_PATH_IF_SET("client_key", proxy.client_key),
	{.name = "warm_connections", .kind = KG_KEY_UINT, .wire = true, .wire_if_set = true, FIELD(proxy.warm_connections), .min = 0, .max = KG_WARM_CONNECTIONS_MAX, .def_num = 4},
	{.name = "warm_idle_timeout", .kind = KG_KEY_UINT, .wire = true, .wire_if_set = true, FIELD(proxy.warm_idle_timeout), .min = 1, .max = KG_WARM_IDLE_TIMEOUT_MAX, .def_num = 60},
};

static const struct kg_key_spec kerberos_keys[] = {
	W_STRING("realm", kerberos.realm, NULL, ""),
	CUSTOM_FIELD("enable_cache", parse_enable_cache, kerberos.enable_cache, KG_KEY_BOOL, true, NULL),
	W_STRING("ccache", kerberos.ccache, check_ccache, ""),
	W_STRING("spn", kerberos.spn, NULL, ""),
	/* After the keys of older versions: an older client ignores it (config_wire.h). */
	{.name = "warn_before", .kind = KG_KEY_UINT, .wire = true, .wire_if_set = true, FIELD(kerberos.warn_before), .min = 0, .max = KG_WARN_BEFORE_MAX, .def_num = 600},
};

static const struct kg_key_spec ebpf_keys[] = {
	STRING("interface", ebpf.interface, NULL, ""),
	{.name = "target_ports", .kind = KG_KEY_PORTS, .wire = true, FIELD(ebpf.target_ports),
	 .def_ports = default_ports, .n_def_ports = ARRAY_SIZE(default_ports)},
	STRING("load_mode", ebpf.load_mode, NULL, "sockops"),
	BOOL("allow_dynamic_ports", ebpf.allow_dynamic_ports, true),
	BOOL("block_quic", ebpf.block_quic, true),
	UINT("stats_interval", ebpf.stats_interval, 0, 86400, 15),
	/* The datapath's process_map holds KG_MAX_CLIENTS users; the service refuses more. */
	UINT("max_clients", ebpf.max_clients, 1, KG_MAX_CLIENTS, KG_MAX_CLIENTS),
	STRING("cgroup_path", ebpf.cgroup_path, check_absolute_path, "/sys/fs/cgroup"),
	CUSTOM("bypass", parse_bypass), /* default: none */
};

static int parse_key(struct parse_ctx *ctx, const struct kg_key_spec *key, const config_setting_t *s,
		     struct kg_config *cfg);

/* Checked like any address, but the listeners are always 127.0.0.1 and [::1]: another loopback
 * address is accepted and named in a warning rather than silently ignored. */
static int parse_listen_address(struct parse_ctx *ctx, const config_setting_t *s,
				struct kg_config *cfg)
{
	static const struct kg_key_spec as_string =
	    STRING("listen_address", client.listen_address, check_loopback, NULL);
	const char *v = cfg->client.listen_address;
	struct in6_addr a6;
	struct in_addr a4;
	int r;

	if ((r = parse_key(ctx, &as_string, s, cfg)) < 0)
		return r;
	if (inet_pton(AF_INET, v, &a4) == 1 ? a4.s_addr != htonl(INADDR_LOOPBACK)
					    : inet_pton(AF_INET6, v, &a6) != 1 ||
						  !IN6_ARE_ADDR_EQUAL(&a6, &in6addr_loopback))
		warn(ctx, s, "\"%s\" is not used: the relay listeners are always 127.0.0.1 and [::1]",
		     v);
	return 0;
}

static const struct kg_key_spec client_keys[] = {
	CUSTOM_FIELD("listen_address", parse_listen_address, client.listen_address, KG_KEY_STRING, 0, "127.0.0.1"),
	UINT("listen_port", client.listen_port, 0, 65535, 0),
	W_BOOL("sniff_hostname", client.sniff_hostname, true),
};

/* Read by the service and by the system relay from the file; never sent over IPC. */
static const struct kg_key_spec system_keys[] = {
	BOOL("enable", system.enable, false),
	CUSTOM("uids", parse_system_uids), /* default: "root", "_apt" (kg_config_defaults) */
	STRING("keytab", system.keytab, check_absolute_path, "/etc/krb5.keytab"),
	STRING("principal", system.principal, NULL, ""),
	STRING("user", system.user, check_system_user, "_kernelgatekeeper"),
};

static const struct kg_key_spec top_keys[] = {
	CUSTOM_FIELD("log_level", parse_log_level, log_level, KG_KEY_UINT, LOG_INFO, NULL),
	STRING("log_path", log_path, check_optional_absolute_path, ""),
	UINT("shutdown_timeout", shutdown_timeout, 1, 3600, 30),
	STRING("socket_path", socket_path, check_absolute_path, KG_DEFAULT_SOCKET_PATH),
};

/* The order is the one in which KG_MSG_CONFIG has always listed the keys: client before ebpf. */
const struct kg_group_spec kg_config_groups[] = {
	{"proxy", proxy_keys, ARRAY_SIZE(proxy_keys)},
	{"kerberos", kerberos_keys, ARRAY_SIZE(kerberos_keys)},
	{"client", client_keys, ARRAY_SIZE(client_keys)},
	{"ebpf", ebpf_keys, ARRAY_SIZE(ebpf_keys)},
	{"system", system_keys, ARRAY_SIZE(system_keys)},
};
const size_t kg_config_n_groups = ARRAY_SIZE(kg_config_groups);

/* clang-format on */

static const struct kg_group_spec top_level = {NULL, top_keys, ARRAY_SIZE(top_keys)};

/* ---- Defaults, from the table ---------------------------------------------------------------- */

_Static_assert(sizeof(enum kg_proxy_type) == sizeof(unsigned), "proxy.type is stored as unsigned");
_Static_assert(sizeof(enum kg_proxy_fallback) == sizeof(unsigned),
	       "proxy.fallback is stored as unsigned");

static void put_number(void *field, size_t size, unsigned long long v)
{
	if (size == sizeof(uint16_t))
		*(uint16_t *)field = (uint16_t)v;
	else if (size == sizeof(unsigned))
		*(unsigned *)field = (unsigned)v;
}

static void set_default(const struct kg_key_spec *key, struct kg_config *cfg)
{
	char *field = (char *)cfg + key->offset;
	enum kg_key_kind kind = key->kind == KG_KEY_CUSTOM ? key->def_as : key->kind;
	unsigned i;

	if (key->size == 0)
		return; /* a custom key without a field of its own: zero */
	switch (kind) {
	case KG_KEY_STRING:
	case KG_KEY_URLS: /* the first URL; the list's rest is empty */
		snprintf(field, key->size, "%s", key->def_str ? key->def_str : "");
		break;
	case KG_KEY_UINT:
	case KG_KEY_PROXY_TYPE: /* an enum, as wide as unsigned */
	case KG_KEY_FALLBACK:
		put_number(field, key->size, key->def_num);
		break;
	case KG_KEY_BOOL:
		*(bool *)field = key->def_num != 0;
		break;
	case KG_KEY_PORTS:
		for (i = 0; i < key->n_def_ports && i < KG_MAX_TARGET_PORTS; i++)
			cfg->ebpf.target_ports[i] = key->def_ports[i];
		cfg->ebpf.n_target_ports = i;
		break;
	case KG_KEY_CUSTOM:
		break;
	}
}

void kg_config_defaults(struct kg_config *cfg)
{
	size_t g, k;

	memset(cfg, 0, sizeof(*cfg));
	for (g = 0; g < kg_config_n_groups; g++)
		for (k = 0; k < kg_config_groups[g].n_keys; k++)
			set_default(&kg_config_groups[g].keys[k], cfg);
	for (k = 0; k < top_level.n_keys; k++)
		set_default(&top_level.keys[k], cfg);
	snprintf(cfg->system.uids[0], KG_SYSTEM_NAME_MAX, "root");
	snprintf(cfg->system.uids[1], KG_SYSTEM_NAME_MAX, "_apt");
	cfg->system.n_uids = 2;
}

static int parse_key(struct parse_ctx *ctx, const struct kg_key_spec *key,
		     const config_setting_t *s, struct kg_config *cfg)
{
	const char *str = NULL;
	char why[PATH_MAX + 256]; /* may quote a value */
	long long num = 0;
	int r;

	switch (key->kind) {
	case KG_KEY_STRING:
		if ((r = read_string(ctx, s, &str)) < 0)
			return r;
		r = kg_config_store_string(key, str, cfg, why, sizeof(why));
		break;
	case KG_KEY_UINT:
		if ((r = read_int(ctx, s, &num)) < 0)
			return r;
		r = kg_config_store_uint(key, num, cfg, why, sizeof(why));
		break;
	case KG_KEY_BOOL:
		return read_bool(ctx, s, (bool *)((char *)cfg + key->offset));
	case KG_KEY_PROXY_TYPE:
		if ((r = read_string(ctx, s, &str)) < 0)
			return r;
		r = kg_config_store_proxy_type(str, cfg, why, sizeof(why));
		break;
	case KG_KEY_PORTS:
		return read_target_ports(ctx, s, cfg);
	case KG_KEY_URLS:
		return read_urls(ctx, key, s, cfg);
	case KG_KEY_FALLBACK:
		if ((r = read_string(ctx, s, &str)) < 0)
			return r;
		r = kg_config_store_fallback(str, cfg, why, sizeof(why));
		break;
	case KG_KEY_CUSTOM:
		return key->parse(ctx, s, cfg);
	default:
		return -EINVAL;
	}
	return r < 0 ? fail(ctx, s, "%s", why) : 0;
}

static const struct kg_key_spec *find_key(const struct kg_group_spec *group, const char *name)
{
	size_t i;

	for (i = 0; i < group->n_keys; i++)
		if (strcmp(group->keys[i].name, name) == 0)
			return &group->keys[i];
	return NULL;
}

static const struct kg_group_spec *find_group(const char *name)
{
	size_t i;

	for (i = 0; i < kg_config_n_groups; i++)
		if (strcmp(kg_config_groups[i].name, name) == 0)
			return &kg_config_groups[i];
	return NULL;
}

static int parse_group(struct parse_ctx *ctx, const struct kg_group_spec *group,
		       const config_setting_t *g, struct kg_config *cfg)
{
	int i, n = config_setting_length(g), r;

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct kg_key_spec *key = find_key(group, name);
		const struct kg_group_spec *sub = group == &top_level ? find_group(name) : NULL;

		if (sub) {
			if (!config_setting_is_group(s))
				return fail(ctx, s, "expected a group { ... }");
			r = parse_group(ctx, sub, s, cfg);
		} else if (key) {
			r = parse_key(ctx, key, s, cfg);
		} else {
			warn(ctx, s, "unknown key, ignored");
			r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- Entry points -------------------------------------------------------------------------- */

int kg_config_parse(struct kg_config *cfg, const char *text, const char *name,
		    kg_config_warn_fn warn_fn, void *userdata, char *err, size_t errlen)
{
	struct parse_ctx ctx = {name ? name : "<config>", warn_fn, userdata, err, errlen};
	_cleanup_free_ struct kg_config *scratch = NULL;
	_cleanup_free_ char *terminated = NULL;
	_cleanup_(config_destroy) config_t lc;
	struct config_scan_error scan;
	size_t len;
	int r;

	/* Before anything can return: the cleanup handler runs on every path. */
	config_init(&lc);
	kg_config_set_error(err, errlen, 0, "%s", "");
	if (strnlen(text, KG_CONFIG_MAX_SIZE + 1) > KG_CONFIG_MAX_SIZE)
		return kg_config_set_error(err, errlen, -EFBIG, "%s: larger than 1 MiB", ctx.name);
	if (config_scan(text, &scan) < 0)
		return kg_config_set_error(err, errlen, -EINVAL, "%s:%u: %s%s%s", ctx.name,
					   scan.line, scan.key, scan.key[0] ? ": " : "",
					   scan.reason);
	/* libconfig 1.5 rejects a last line that is a comment without a newline. */
	len = strlen(text);
	if (len > 0 && text[len - 1] != '\n') {
		terminated = malloc(len + 2);
		if (!terminated)
			return kg_config_set_error(err, errlen, -ENOMEM, "%s: out of memory",
						   ctx.name);
		memcpy(terminated, text, len);
		memcpy(terminated + len, "\n", 2);
		text = terminated;
	}
	if (!config_read_string(&lc, text))
		return kg_config_set_error(err, errlen, -EINVAL, "%s:%d: %s", ctx.name,
					   config_error_line(&lc), config_error_text(&lc));

	scratch = malloc(sizeof(*scratch));
	if (!scratch)
		return kg_config_set_error(err, errlen, -ENOMEM, "%s: out of memory", ctx.name);
	kg_config_defaults(scratch);
	if ((r = parse_group(&ctx, &top_level, config_root_setting(&lc), scratch)) < 0)
		return r;
	*cfg = *scratch;
	return 0;
}
