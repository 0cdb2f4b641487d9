/* The configuration to and from the KG_MSG_CONFIG message (see config_wire.h). Values arrive
 * from another process: every one is checked against the key's type and range, and copied into
 * a fixed-size field only when it fits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shared/config_wire.h"
#include "shared/macro.h"

enum wire_kind { WIRE_STRING, WIRE_UINT, WIRE_BOOL, WIRE_PROXY_TYPE, WIRE_PORTS };

struct wire_key {
	const char *name;
	enum wire_kind kind;
	size_t offset; /* of the field in struct kg_config */
	size_t size;   /* of the field */
	unsigned min, max;
};

/* clang-format off */
#define FIELD(f) .offset = offsetof(struct kg_config, f), .size = sizeof(((struct kg_config *)0)->f)
#define KEY(n, k, f) {.name = n, .kind = k, FIELD(f)}
#define UINT(n, f, lo, hi) {.name = n, .kind = WIRE_UINT, FIELD(f), .min = lo, .max = hi}

/* The order is the message's, as the service has always sent it. */
static const struct wire_key wire_keys[] = {
	KEY("proxy.type", WIRE_PROXY_TYPE, proxy.type),
	KEY("proxy.url", WIRE_STRING, proxy.url),
	KEY("proxy.wpad_url", WIRE_STRING, proxy.wpad_url),
	UINT("proxy.connection_timeout", proxy.connection_timeout, 1, KG_CONNECTION_TIMEOUT_MAX),
	UINT("proxy.request_timeout", proxy.request_timeout, 1, KG_REQUEST_TIMEOUT_MAX),
	UINT("proxy.max_retries", proxy.max_retries, 0, KG_MAX_RETRIES_MAX),
	KEY("kerberos.realm", WIRE_STRING, kerberos.realm),
	KEY("kerberos.ccache", WIRE_STRING, kerberos.ccache),
	KEY("kerberos.spn", WIRE_STRING, kerberos.spn),
	KEY("client.sniff_hostname", WIRE_BOOL, client.sniff_hostname),
	KEY("ebpf.target_ports", WIRE_PORTS, ebpf.target_ports),
};
/* clang-format on */

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

static int format_value(const struct wire_key *key, const struct kg_config *cfg,
			const uint16_t *ports, unsigned n_ports, char *out, size_t cap)
{
	const void *field = (const char *)cfg + key->offset;

	switch (key->kind) {
	case WIRE_STRING:
		/* Too long for the message: kg_ipc_config_add()'s own answer. */
		if (strlen(field) >= cap)
			return -EINVAL;
		strcpy(out, field);
		return 0;
	case WIRE_UINT:
		snprintf(out, cap, "%u", *(const unsigned *)field);
		return 0;
	case WIRE_BOOL:
		snprintf(out, cap, "%s", *(const bool *)field ? "true" : "false");
		return 0;
	case WIRE_PROXY_TYPE:
		snprintf(out, cap, "%s",
			 kg_proxy_type_to_string(*(const enum kg_proxy_type *)field));
		return 0;
	case WIRE_PORTS:
		return format_ports(ports, n_ports, out, cap);
	}
	return -EINVAL;
}

int kg_config_wire_encode(const struct kg_config *cfg, const uint16_t *ports, unsigned n_ports,
			  void *buf, size_t cap, size_t *len)
{
	char value[KG_IPC_TEXT_MAX * 2];
	size_t i;
	int r;

	if (n_ports > KG_MAX_TARGET_PORTS)
		return -EINVAL;
	*len = 0;
	for (i = 0; i < ARRAY_SIZE(wire_keys); i++) {
		r = format_value(&wire_keys[i], cfg, ports, n_ports, value, sizeof(value));
		if (r == 0)
			r = kg_ipc_config_add(buf, cap, len, wire_keys[i].name, value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Decimal digits only (no sign, no space, no hex), at most 10 of them, within lo..hi. */
static int parse_uint(const char *v, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long n = 0;
	const char *p;

	if (!*v || strlen(v) > 10)
		return -EINVAL;
	for (p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n < lo || n > hi)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* "80,443" (or "" for none): 1..65535 each, at most KG_MAX_TARGET_PORTS. */
static int parse_ports(const char *v, struct kg_config *cfg)
{
	char one[8];
	unsigned n = 0, port;
	size_t l;

	while (*v) {
		l = strcspn(v, ",");
		if (l == 0 || l >= sizeof(one) || n == KG_MAX_TARGET_PORTS)
			return -EINVAL;
		memcpy(one, v, l);
		one[l] = '\0';
		if (parse_uint(one, 1, 65535, &port) < 0)
			return -EINVAL;
		cfg->ebpf.target_ports[n++] = (uint16_t)port;
		v += l;
		if (*v == ',' && !*++v)
			return -EINVAL;
	}
	cfg->ebpf.n_target_ports = n;
	return 0;
}

static int parse_value(const struct wire_key *key, const char *v, struct kg_config *cfg)
{
	void *field = (char *)cfg + key->offset;

	switch (key->kind) {
	case WIRE_STRING:
		if (strlen(v) >= key->size)
			return -EINVAL;
		strcpy(field, v);
		return 0;
	case WIRE_UINT:
		return parse_uint(v, key->min, key->max, field);
	case WIRE_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return -EINVAL;
		*(bool *)field = v[0] == 't';
		return 0;
	case WIRE_PROXY_TYPE:
		return kg_proxy_type_from_string(v, field);
	case WIRE_PORTS:
		return parse_ports(v, cfg);
	}
	return -EINVAL;
}

static const struct wire_key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wire_keys); i++)
		if (strcmp(wire_keys[i].name, name) == 0)
			return &wire_keys[i];
	return NULL;
}

int kg_config_wire_decode(const struct kg_ipc_msg *m, struct kg_config *cfg, char *err,
			  size_t errlen)
{
	char k[KG_IPC_TEXT_MAX * 2], v[KG_IPC_TEXT_MAX * 2];
	const struct wire_key *key;
	struct kg_config scratch;
	size_t pos = 0;
	int r;

	kg_config_defaults(&scratch);
	while ((r = kg_ipc_config_next(m, &pos, k, sizeof(k), v, sizeof(v))) == 1) {
		key = find_key(k);
		if (key && parse_value(key, v, &scratch) < 0) {
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
