/* The service's configuration as the client's settings (see settings.h): taking the keys the
 * client uses from the KG_MSG_CONFIG that config_wire.c decodes, checking what this version can
 * do, and the references connections hold.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/settings.h"
#include "shared/ccname.h"
#include "shared/config_wire.h"
#include "shared/log.h"

int client_settings_check(enum kg_proxy_type type, const char *url, struct kg_url *out, char *err,
			  size_t errlen)
{
	struct kg_url u;

	if (!out)
		out = &u;
	switch (type) {
	case KG_PROXY_HTTP:
		if (!url[0] || kg_url_parse(url, out) < 0 || strcmp(out->scheme, "http") != 0) {
			snprintf(err, errlen,
				 "proxy.url \"%s\" is not an http:// URL (needed for proxy.type "
				 "http)",
				 url);
			return -EINVAL;
		}
		return 0;
	case KG_PROXY_HTTPS:
		if (!url[0] || kg_url_parse(url, out) < 0 || strcmp(out->scheme, "https") != 0) {
			snprintf(err, errlen,
				 "proxy.url \"%s\" is not an https:// URL (needed for proxy.type "
				 "https)",
				 url);
			return -EINVAL;
		}
		return 0;
	case KG_PROXY_NONE:
	case KG_PROXY_WPAD: /* the PAC names the proxies (policy.h) */
		return 0;
	default:
		snprintf(err, errlen,
			 "proxy.type %s is not supported yet; use http, https, wpad or none",
			 kg_proxy_type_to_string(type));
		return -EOPNOTSUPP;
	}
}

_Static_assert(KG_PROXY_URLS_MAX == KG_ROUTE_MAX, "a proxy.url list is one route");

/* url as the route parser takes it: scheme://host:port, without the path the configuration
 * allows (and always ignored). */
static int route_url(const char *url, char *buf, size_t len)
{
	struct kg_url u;
	bool v6;
	int n;

	if (kg_url_parse(url, &u) < 0)
		return -EINVAL;
	v6 = strchr(u.host, ':') != NULL;
	n = snprintf(buf, len, "%s://%s%s%s:%u", u.scheme, v6 ? "[" : "", u.host, v6 ? "]" : "",
		     u.port);
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

int client_settings_route(const struct kg_config *cfg, struct kg_route *out, char *err,
			  size_t errlen)
{
	static char norm[KG_ROUTE_MAX][KG_URL_MAX + 16];
	const char *urls[KG_PROXY_URLS_MAX], *list[KG_ROUTE_MAX];
	size_t n = kg_config_proxy_urls(cfg, urls, KG_PROXY_URLS_MAX), i;
	char why[KG_ROUTE_ERR_MAX];
	int r;

	memset(out, 0, sizeof(*out));
	if (cfg->proxy.type == KG_PROXY_HTTP || cfg->proxy.type == KG_PROXY_HTTPS) {
		for (i = 0; i < n; i++) {
			if (route_url(urls[i], norm[i], sizeof(norm[i])) < 0) {
				snprintf(err, errlen, "proxy.url \"%s\" is not a proxy URL",
					 urls[i]);
				return -EINVAL;
			}
			list[i] = norm[i];
		}
		r = kg_route_parse_urls(list, n, out, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "%s", why);
			return -EINVAL;
		}
		if (cfg->proxy.fallback != KG_FALLBACK_DIRECT)
			return 0;
	}
	if (out->n < KG_ROUTE_MAX)
		out->e[out->n++] = (struct kg_route_entry){.kind = KG_ROUTE_DIRECT};
	else
		log_warn("proxy.fallback \"direct\" is ignored: proxy.url already lists %d proxies",
			 KG_ROUTE_MAX);
	return 0;
}

/* kerberos.ccache with its %{...} tokens expanded for this user, as libkrb5 would expand them
 * in krb5.conf (GSSAPI takes a configured name literally). */
static int set_ccache(struct client_settings *set, const char *v)
{
	struct kg_ccname_ids ids = {.uid = getuid(), .euid = geteuid()};
	char namebuf[1024];
	struct passwd pw, *found = NULL;
	const char *why;
	int r;

	ids.tmpdir = secure_getenv("TMPDIR");
	if (!ids.tmpdir || !*ids.tmpdir)
		ids.tmpdir = "/tmp";
	if (strstr(v, "%{username}") &&
	    getpwuid_r(ids.euid, &pw, namebuf, sizeof(namebuf), &found) == 0 && found)
		ids.username = found->pw_name;
	r = kg_ccname_expand(v, &ids, set->ccache, sizeof(set->ccache), &why);
	if (r < 0)
		log_error("kerberos.ccache \"%s\" %s", v,
			  why ? why : "is too long once its tokens are expanded");
	return r;
}

static const char *(*ccache_source)(void);

void client_settings_set_ccache_source(const char *(*source)(void))
{
	ccache_source = source;
}

const char *client_settings_ccache(const struct client_settings *set)
{
	const char *name;

	if (!ccache_source)
		return set->ccache;
	name = ccache_source();
	/* No tickets yet: a cache that does not exist, never the default one. */
	return name && *name ? name : "MEMORY:kg-system-none";
}

/* The keys, their ranges and checks are config.c's schema, applied by config_wire.c; what is
 * left here is what this version of the relay makes of them. Keys the client does not use
 * (proxy.wpad_url, kerberos.realm, ebpf.*) are checked and then left alone. */
static bool wants_tls(const struct client_settings *set);

static int parse_msg(const struct kg_ipc_msg *m, struct client_settings *set)
{
	char err[KG_IPC_TEXT_MAX * 4 + 64]; /* names a key and its value */
	const struct kg_config *cfg = &set->cfg;
	int r;

	memset(set, 0, sizeof(*set));
	set->refs = 1;
	r = kg_config_wire_decode(m, &set->cfg, err, sizeof(err));
	if (r < 0) {
		log_error("the service sent %s", err);
		return r;
	}
	if (cfg->kerberos.ccache[0] && (r = set_ccache(set, cfg->kerberos.ccache)) < 0)
		return r;
	r = client_settings_check(cfg->proxy.type, cfg->proxy.url, &set->proxy, err, sizeof(err));
	if (r == 0)
		r = client_settings_route(cfg, &set->route, err, sizeof(err));
	/* The TLS files are read now, as this user: a path it cannot read is said at once, and is
	 * a configuration error (waiting does not fix it). */
	if (r == 0 && wants_tls(set)) {
		r = client_settings_tls(set, &(struct proxy_tls_ctx *){NULL}, err, sizeof(err));
		if (r < 0 && r != -ENOMEM)
			r = -EINVAL;
	}
	if (r < 0)
		log_error("%s (the service's configuration)", err);
	return r;
}

/* Whether the settings will surely need TLS: an https entry, or a TLS path set. */
static bool wants_tls(const struct client_settings *set)
{
	size_t i;

	if (set->cfg.proxy.ca_file[0] || set->cfg.proxy.client_cert[0] ||
	    set->cfg.proxy.client_key[0])
		return true;
	for (i = 0; i < set->route.n; i++)
		if (set->route.e[i].kind == KG_ROUTE_HTTPS)
			return true;
	return false;
}

/* A TLS path that is set must be readable by this user. */
static int readable(const char *key, const char *path, char *err, size_t errlen)
{
	if (!path[0] || access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "cannot read %s %s: %s", key, path, strerror(errno));
	return -errno;
}

int client_settings_tls(struct client_settings *set, struct proxy_tls_ctx **ret, char *err,
			size_t errlen)
{
	struct proxy_tls_opts o = {
	    .ca_file = set->cfg.proxy.ca_file,
	    .client_cert = set->cfg.proxy.client_cert,
	    .client_key = set->cfg.proxy.client_key,
	};
	int r;

	if (!set->tls) {
		if (o.client_key[0] && !o.client_cert[0]) {
			snprintf(err, errlen, "proxy.client_key is set without proxy.client_cert");
			return -EINVAL;
		}
		/* OpenSSL's own message for a missing file names no cause. */
		if ((r = readable("proxy.ca_file", o.ca_file, err, errlen)) < 0 ||
		    (r = readable("proxy.client_cert", o.client_cert, err, errlen)) < 0 ||
		    (r = readable("proxy.client_key", o.client_key, err, errlen)) < 0)
			return r;
		r = proxy_tls_ctx_new(&o, &set->tls, err, errlen);
		if (r < 0)
			return r;
	}
	*ret = set->tls;
	return 0;
}

int client_settings_from_msg(const struct kg_ipc_msg *m, struct client_settings **ret)
{
	struct client_settings *set = malloc(sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	r = parse_msg(m, set);
	if (r < 0) {
		if (set->tls)
			proxy_tls_ctx_unref(set->tls);
		free(set);
		return r;
	}
	*ret = set;
	return 0;
}

struct client_settings *client_settings_ref(struct client_settings *set)
{
	set->refs++;
	return set;
}

void client_settings_unref(struct client_settings *set)
{
	if (set && --set->refs == 0) {
		if (set->tls)
			proxy_tls_ctx_unref(set->tls);
		free(set);
	}
}

bool client_settings_same_upstream(const struct client_settings *a, const struct client_settings *b)
{
	size_t i;

	if (a->cfg.proxy.type != b->cfg.proxy.type ||
	    strcmp(a->cfg.proxy.url, b->cfg.proxy.url) != 0 ||
	    strcmp(a->cfg.kerberos.spn, b->cfg.kerberos.spn) != 0 ||
	    strcmp(a->cfg.proxy.ca_file, b->cfg.proxy.ca_file) != 0 ||
	    strcmp(a->cfg.proxy.client_cert, b->cfg.proxy.client_cert) != 0 ||
	    strcmp(a->cfg.proxy.client_key, b->cfg.proxy.client_key) != 0 ||
	    a->route.n != b->route.n)
		return false;
	for (i = 0; i < a->route.n; i++)
		if (!kg_route_entry_equal(&a->route.e[i], &b->route.e[i]))
			return false;
	return true;
}
