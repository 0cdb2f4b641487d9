/* Internal to the configuration code: config.c's schema, the one list of the configuration's
 * keys (name, type, field, range or validator), and the checks every value goes through. The
 * file parser (config.c) and the KG_MSG_CONFIG encoder and decoder (config_wire.c) both read
 * this table, so a key's name, type, range and default are written once, and a value is
 * refused the same way whether it comes from the file or from the service.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"

enum kg_key_kind {
	KG_KEY_STRING,	   /* char[size], checked by check */
	KG_KEY_UINT,	   /* unsigned or uint16_t (size), min..max */
	KG_KEY_BOOL,	   /* bool */
	KG_KEY_PROXY_TYPE, /* enum kg_proxy_type */
	KG_KEY_PORTS,	   /* ebpf.target_ports and n_target_ports */
	KG_KEY_URLS,	   /* proxy.url (char[size], checked by check) and more_urls: a string or
			    * a list; on the wire "proxy.url" and then "proxy.url[1]"... */
	KG_KEY_FALLBACK,   /* enum kg_proxy_fallback */
	KG_KEY_CUSTOM,	   /* the file only: parse reads the setting */
};

struct parse_ctx;
struct config_setting_t;

struct kg_key_spec {
	const char *name;
	enum kg_key_kind kind;
	bool wire; /* sent to the client in KG_MSG_CONFIG */
	/* A wire key newer than the message older peers know: sent only when not its default, so
	 * the message of a configuration that does not use it stays byte for byte the old one. */
	bool wire_if_set;
	size_t offset; /* of the field in struct kg_config */
	size_t size;   /* of the field: string buffer size, or sizeof the unsigned integer */
	unsigned min, max;
	/* KG_KEY_STRING: NULL when value is acceptable, else why not. */
	const char *(*check)(const char *value);
	/* KG_KEY_CUSTOM: reads the setting into cfg; 0 or -EINVAL with ctx->err set. */
	int (*parse)(struct parse_ctx *ctx, const struct config_setting_t *s,
		     struct kg_config *cfg);
	/* The default (kg_config_defaults() applies the table): def_str for a string field
	 * (NULL: ""), def_num for a number, a bool or the proxy type; a KG_KEY_CUSTOM key with a
	 * field says in def_as which of those its field is (KG_KEY_CUSTOM: no default but zero).
	 * KG_KEY_PORTS: def_ports[0..n_def_ports). */
	const char *def_str;
	unsigned long long def_num;
	enum kg_key_kind def_as;
	const uint16_t *def_ports;
	unsigned n_def_ports;
};

struct kg_group_spec {
	const char *name; /* NULL: keys at the top level */
	const struct kg_key_spec *keys;
	size_t n_keys;
};

/* The groups, in the order KG_MSG_CONFIG has always listed their keys. */
extern const struct kg_group_spec kg_config_groups[];
extern const size_t kg_config_n_groups;

/* The checks of a value once read from the file or the wire: each stores it into cfg and
 * returns 0, or returns -EINVAL with the reason (as the file's message has it after
 * "FILE:LINE: KEY: ") in why, cfg untouched. */
int kg_config_store_string(const struct kg_key_spec *key, const char *value, struct kg_config *cfg,
			   char *why, size_t len);
int kg_config_store_uint(const struct kg_key_spec *key, long long value, struct kg_config *cfg,
			 char *why, size_t len);
int kg_config_store_proxy_type(const char *value, struct kg_config *cfg, char *why, size_t len);
/* The i-th URL of the proxy.url list (0-based, i < KG_PROXY_URLS_MAX) of key (KG_KEY_URLS), in a
 * list (where "" is refused) or alone; checked as a string key. n_more_urls is the caller's. */
int kg_config_store_url(const struct kg_key_spec *key, unsigned i, const char *value, bool in_list,
			struct kg_config *cfg, char *why, size_t len);
int kg_config_store_fallback(const char *value, struct kg_config *cfg, char *why, size_t len);
/* The i-th target port (0-based, i < KG_MAX_TARGET_PORTS): 1..65535, not listed before it. */
int kg_config_store_port(unsigned i, long long port, struct kg_config *cfg, char *why, size_t len);
