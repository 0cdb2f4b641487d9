/* The configuration to and from the KG_MSG_CONFIG message (see config_wire.h). The keys, their
 * types and ranges are config.c's schema (config_schema.h), the ones marked wire, in the
 * schema's order; this file knows only the text syntax of each type. Values arrive from another
 * process: every one goes through the same check as the file's value (kg_config_store_*()), and
 * is copied into a fixed-size field only when it fits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shared/config_schema.h"
#include "shared/config_wire.h"
#include "shared/macro.h"

static int __attribute__((format(printf, 3, 4))) refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int format_ports(const uint16_t *ports, unsigned n, char *out, size_t cap)
{
	size_t len = 0;
	unsigned i;
	int w;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		w = snprintf(out + len, cap - len, "%s%u", i ? "," : "", ports[i]);
		if (w < 0 || (size_t)w >= cap - len)
			return -ENOSPC;
		len += (size_t)w;
	}
	return 0;
}

static int format_value(const struct kg_key_spec *key, const struct kg_config *cfg,
			const uint16_t *ports, unsigned n_ports, char *out, size_t cap)
{
	const void *field = (const char *)cfg + key->offset;

	switch (key->kind) {
	case KG_KEY_STRING:
	case KG_KEY_URLS: /* the first URL; the others follow as "proxy.url[i]" */
		/* Too long for the message: kg_ipc_config_add()'s own answer. */
		if (strlen(field) >= cap)
			return -EINVAL;
		strcpy(out, field);
		return 0;
	case KG_KEY_UINT:
		snprintf(out, cap, "%u",
			 key->size == sizeof(uint16_t) ? *(const uint16_t *)field
						       : *(const unsigned *)field);
		return 0;
	case KG_KEY_BOOL:
		snprintf(out, cap, "%s", *(const bool *)field ? "true" : "false");
		return 0;
	case KG_KEY_PROXY_TYPE:
		snprintf(out, cap, "%s",
			 kg_proxy_type_to_string(*(const enum kg_proxy_type *)field));
		return 0;
	case KG_KEY_PORTS:
		return format_ports(ports, n_ports, out, cap);
	case KG_KEY_FALLBACK:
		snprintf(out, cap, "%s",
			 kg_proxy_fallback_to_string(*(const enum kg_proxy_fallback *)field));
		return 0;
	default:
		return -EINVAL;
	}
}

/* Whether key holds its default in cfg (for a wire_if_set key: a string, a number or an
 * enum). */
static bool is_default(const struct kg_key_spec *key, const struct kg_config *cfg)
{
	const void *field = (const char *)cfg + key->offset;

	if (key->kind == KG_KEY_STRING)
		return strcmp(field, key->def_str ? key->def_str : "") == 0;
	return key->size == sizeof(unsigned) && *(const unsigned *)field == key->def_num;
}

/* The rest of a proxy.url list, "proxy.url[1]=..." onwards, after "proxy.url". */
static int add_more_urls(const char *name, const struct kg_config *cfg, void *buf, size_t cap,
			 size_t *len)
{
	char k[KG_IPC_TEXT_MAX];
	unsigned i;
	int r;

	for (i = 0; i < cfg->proxy.n_more_urls && i < KG_PROXY_URLS_MAX - 1; i++) {
		snprintf(k, sizeof(k), "%s[%u]", name, i + 1);
		if (strlen(cfg->proxy.more_urls[i]) >= KG_IPC_TEXT_MAX * 2)
			return -EINVAL;
		r = kg_ipc_config_add(buf, cap, len, k, cfg->proxy.more_urls[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "group.key" of a key of group g. */
static int key_name(const struct kg_group_spec *g, const struct kg_key_spec *key, char *out,
		    size_t cap)
{
	int n = snprintf(out, cap, "%s%s%s", g->name ? g->name : "", g->name ? "." : "", key->name);

	return n < 0 || (size_t)n >= cap ? -ENOSPC : 0;
}

int kg_config_wire_encode(const struct kg_config *cfg, const uint16_t *ports, unsigned n_ports,
			  void *buf, size_t cap, size_t *len)
{
	char name[KG_IPC_TEXT_MAX], value[KG_IPC_TEXT_MAX * 2];
	size_t g, i;
	int r;

	if (n_ports > KG_MAX_TARGET_PORTS)
		return -EINVAL;
	*len = 0;
	for (g = 0; g < kg_config_n_groups; g++) {
		const struct kg_group_spec *group = &kg_config_groups[g];

		for (i = 0; i < group->n_keys; i++) {
			const struct kg_key_spec *key = &group->keys[i];

			if (!key->wire || (key->wire_if_set && is_default(key, cfg)))
				continue;
			r = key_name(group, key, name, sizeof(name));
			if (r == 0)
				r = format_value(key, cfg, ports, n_ports, value, sizeof(value));
			if (r == 0)
				r = kg_ipc_config_add(buf, cap, len, name, value);
			if (r == 0 && key->kind == KG_KEY_URLS)
				r = add_more_urls(name, cfg, buf, cap, len);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Decimal digits only (no sign, no space, no hex), at most 10 of them: the range is the
 * schema's check. */
static int parse_decimal(const char *v, long long *out)
{
	long long n = 0;
	const char *p;

	if (!*v || strlen(v) > 10)
		return -EINVAL;
	for (p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (*p - '0');
	}
	*out = n;
	return 0;
}

/* "80,443" (or "" for none), each port checked as in the file's list. */
static int parse_ports(const char *v, struct kg_config *cfg, char *why, size_t len)
{
	char one[8];
	unsigned n = 0;
	long long port;
	size_t l;
	int r;

	while (*v) {
		l = strcspn(v, ",");
		if (n == KG_MAX_TARGET_PORTS)
			return refuse(why, len, "more than %u entries", KG_MAX_TARGET_PORTS);
		if (l == 0 || l >= sizeof(one))
			return refuse(why, len, "not a list of ports");
		memcpy(one, v, l);
		one[l] = '\0';
		if (parse_decimal(one, &port) < 0)
			return refuse(why, len, "not a list of ports");
		if ((r = kg_config_store_port(n, port, cfg, why, len)) < 0)
			return r;
		n++;
		v += l;
		if (*v == ',' && !*++v)
			return refuse(why, len, "not a list of ports");
	}
	cfg->ebpf.n_target_ports = n;
	return 0;
}

static int parse_value(const struct kg_key_spec *key, const char *v, struct kg_config *cfg,
		       char *why, size_t len)
{
	long long num;
	int r;

	switch (key->kind) {
	case KG_KEY_STRING:
		return kg_config_store_string(key, v, cfg, why, len);
	case KG_KEY_UINT:
		if (parse_decimal(v, &num) < 0)
			return refuse(why, len, "expected an integer");
		return kg_config_store_uint(key, num, cfg, why, len);
	case KG_KEY_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return refuse(why, len, "expected true or false");
		*(bool *)((char *)cfg + key->offset) = v[0] == 't';
		return 0;
	case KG_KEY_PROXY_TYPE:
		return kg_config_store_proxy_type(v, cfg, why, len);
	case KG_KEY_PORTS:
		return parse_ports(v, cfg, why, len);
	case KG_KEY_URLS: /* "proxy.url" starts the list afresh */
		r = kg_config_store_url(key, 0, v, false, cfg, why, len);
		if (r == 0)
			cfg->proxy.n_more_urls = 0;
		return r;
	case KG_KEY_FALLBACK:
		return kg_config_store_fallback(v, cfg, why, len);
	default:
		return refuse(why, len, "not sent on the wire");
	}
}

/* "proxy.url[i]": the i-th URL of the list (1-based after proxy.url), in order only. */
static int parse_more_url(const struct kg_key_spec *key, unsigned i, const char *v,
			  struct kg_config *cfg, char *why, size_t len)
{
	int r;

	if (!cfg->proxy.url[0] || i != cfg->proxy.n_more_urls + 1)
		return refuse(why, len, "a list entry out of order");
	r = kg_config_store_url(key, i, v, true, cfg, why, len);
	if (r == 0)
		cfg->proxy.n_more_urls = i;
	return r;
}

/* The wire key named "group.key", or NULL (unknown, or a key only the file has). A list key's
 * "group.key[i]" (i 1..KG_PROXY_URLS_MAX-1, no leading zero) sets *index; else it is 0. */
static const struct kg_key_spec *find_wire_key(const char *name, unsigned *index)
{
	char full[KG_IPC_TEXT_MAX];
	size_t g, i, l;
	long long n;

	*index = 0;
	for (g = 0; g < kg_config_n_groups; g++) {
		const struct kg_group_spec *group = &kg_config_groups[g];

		for (i = 0; i < group->n_keys; i++) {
			const struct kg_key_spec *key = &group->keys[i];

			if (!key->wire || key_name(group, key, full, sizeof(full)) < 0)
				continue;
			if (strcmp(full, name) == 0)
				return key;
			l = strlen(full);
			if (key->kind != KG_KEY_URLS || strncmp(name, full, l) != 0 ||
			    name[l] != '[')
				continue;
			/* "[" digits "]" and nothing after */
			if (strlen(name + l + 1) < 2 || strlen(name + l + 1) > 3 ||
			    name[strlen(name) - 1] != ']' || name[l + 1] == '0')
				return NULL;
			snprintf(full, sizeof(full), "%.*s", (int)(strlen(name + l + 1) - 1),
				 name + l + 1);
			if (parse_decimal(full, &n) < 0 || n < 1 || n >= KG_PROXY_URLS_MAX)
				return NULL;
			*index = (unsigned)n;
			return key;
		}
	}
	return NULL;
}

int kg_config_wire_set(struct kg_config *cfg, const char *key, const char *value, char *why,
		       size_t len)
{
	unsigned index;
	const struct kg_key_spec *spec = find_wire_key(key, &index);

	if (!spec)
		return -ENOENT;
	if (index)
		return parse_more_url(spec, index, value, cfg, why, len);
	return parse_value(spec, value, cfg, why, len);
}

int kg_config_wire_decode(const struct kg_ipc_msg *m, struct kg_config *cfg, char *err,
			  size_t errlen)
{
	char k[KG_IPC_TEXT_MAX * 2], v[KG_IPC_TEXT_MAX * 2], why[KG_IPC_TEXT_MAX * 2 + 64];
	struct kg_config scratch;
	size_t pos = 0;
	int r;

	kg_config_defaults(&scratch);
	while ((r = kg_ipc_config_next(m, &pos, k, sizeof(k), v, sizeof(v))) == 1) {
		if (kg_config_wire_set(&scratch, k, v, why, sizeof(why)) == -EINVAL) {
			snprintf(err, errlen, "an invalid value for %s: \"%s\"", k, v);
			return -EINVAL;
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "a malformed configuration");
		return -EBADMSG;
	}
	*cfg = scratch;
	return 0;
}
