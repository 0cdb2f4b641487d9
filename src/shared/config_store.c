/* The checks every configuration value goes through once read, from the file (config.c) or
 * from the service's KG_MSG_CONFIG (config_wire.c), as config_schema.h declares them: one place,
 * so a value is refused the same way, with the same words, wherever it comes from.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shared/config.h"
#include "shared/config_schema.h"
#include "shared/config_url.h"
#include "shared/macro.h"

static int __attribute__((format(printf, 3, 4))) refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int kg_config_store_string(const struct kg_key_spec *key, const char *value, struct kg_config *cfg,
			   char *why, size_t len)
{
	const char *reason;

	if (strlen(value) >= key->size)
		return refuse(why, len, "longer than %zu bytes", key->size - 1);
	if (kg_config_has_control_char(value))
		return refuse(why, len, "contains a control character");
	if (key->check && (reason = key->check(value)))
		return refuse(why, len, "\"%s\": %s", value, reason);
	strcpy((char *)cfg + key->offset, value);
	return 0;
}

int kg_config_store_uint(const struct kg_key_spec *key, long long value, struct kg_config *cfg,
			 char *why, size_t len)
{
	void *field = (char *)cfg + key->offset;

	if (value < key->min || value > key->max)
		return refuse(why, len, "%lld is out of range %u..%u", value, key->min, key->max);
	if (key->size == sizeof(uint16_t))
		*(uint16_t *)field = (uint16_t)value;
	else
		*(unsigned *)field = (unsigned)value;
	return 0;
}

int kg_config_store_proxy_type(const char *value, struct kg_config *cfg, char *why, size_t len)
{
	if (kg_proxy_type_from_string(value, &cfg->proxy.type) == 0)
		return 0;
	return refuse(why, len, "\"%s\" is not one of http, https, wpad, none", value);
}

int kg_config_store_url(const struct kg_key_spec *key, unsigned i, const char *value, bool in_list,
			struct kg_config *cfg, char *why, size_t len)
{
	struct kg_key_spec one = *key;

	if (i >= KG_PROXY_URLS_MAX)
		return refuse(why, len, "more than %u entries", KG_PROXY_URLS_MAX);
	if (in_list && !value[0])
		return refuse(why, len, "an empty URL in the list");
	if (i > 0)
		one.offset = offsetof(struct kg_config, proxy.more_urls) +
			     (i - 1) * sizeof(cfg->proxy.more_urls[0]);
	return kg_config_store_string(&one, value, cfg, why, len);
}

int kg_config_store_fallback(const char *value, struct kg_config *cfg, char *why, size_t len)
{
	if (strcmp(value, "none") == 0)
		cfg->proxy.fallback = KG_FALLBACK_NONE;
	else if (strcmp(value, "direct") == 0)
		cfg->proxy.fallback = KG_FALLBACK_DIRECT;
	else
		return refuse(why, len, "\"%s\" is not one of none, direct", value);
	return 0;
}

int kg_config_store_port(unsigned i, long long port, struct kg_config *cfg, char *why, size_t len)
{
	unsigned j;

	if (port < 1 || port > 65535)
		return refuse(why, len, "%lld is out of range 1..65535", port);
	for (j = 0; j < i; j++)
		if (cfg->ebpf.target_ports[j] == port)
			return refuse(why, len, "port %lld is listed twice", port);
	cfg->ebpf.target_ports[i] = (uint16_t)port;
	return 0;
}

/* ---- The proxy type and fallback by name; the proxy.url list ----------------------------- */

static const char *const proxy_type_names[] = {
    [KG_PROXY_HTTP] = "http",
    [KG_PROXY_HTTPS] = "https",
    [KG_PROXY_WPAD] = "wpad",
    [KG_PROXY_NONE] = "none",
};

const char *kg_proxy_type_to_string(enum kg_proxy_type t)
{
	if ((unsigned)t >= ARRAY_SIZE(proxy_type_names))
		return "unknown";
	return proxy_type_names[t];
}

const char *kg_proxy_fallback_to_string(enum kg_proxy_fallback f)
{
	return f == KG_FALLBACK_DIRECT ? "direct" : "none";
}

size_t kg_config_proxy_urls(const struct kg_config *cfg, const char **urls, size_t cap)
{
	size_t n = 0, i;

	if (!cfg->proxy.url[0] || cap == 0)
		return 0;
	urls[n++] = cfg->proxy.url;
	for (i = 0; i < cfg->proxy.n_more_urls && i < KG_PROXY_URLS_MAX - 1 && n < cap; i++)
		urls[n++] = cfg->proxy.more_urls[i];
	return n;
}

int kg_proxy_type_from_string(const char *s, enum kg_proxy_type *ret)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(proxy_type_names); i++) {
		if (strcmp(s, proxy_type_names[i]) == 0) {
			*ret = (enum kg_proxy_type)i;
			return 0;
		}
	}
	return -EINVAL;
}
