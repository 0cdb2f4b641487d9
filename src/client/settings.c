/* The service's configuration as the client's settings (see settings.h): parsing the
 * KG_MSG_CONFIG keys the client uses, checking what this version can do, and the references
 * connections hold.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "shared/ccname.h"
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
	case KG_PROXY_NONE:
		return 0;
	default:
		snprintf(err, errlen, "proxy.type %s is not supported yet; use http",
			 kg_proxy_type_to_string(type));
		return -EOPNOTSUPP;
	}
}

static int parse_uint(const char *v, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > max)
		return -EINVAL;
	*out = (unsigned)n;
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

static int set_one(struct client_settings *set, const char *k, const char *v)
{
	if (strcmp(k, "proxy.type") == 0) {
		return kg_proxy_type_from_string(v, &set->proxy_type);
	} else if (strcmp(k, "proxy.url") == 0) {
		snprintf(set->proxy_url, sizeof(set->proxy_url), "%s", v);
	} else if (strcmp(k, "proxy.connection_timeout") == 0) {
		return parse_uint(v, KG_CONNECTION_TIMEOUT_MAX, &set->connection_timeout);
	} else if (strcmp(k, "proxy.request_timeout") == 0) {
		return parse_uint(v, KG_REQUEST_TIMEOUT_MAX, &set->request_timeout);
	} else if (strcmp(k, "proxy.max_retries") == 0) {
		return parse_uint(v, KG_MAX_RETRIES_MAX, &set->max_retries);
	} else if (strcmp(k, "kerberos.ccache") == 0) {
		return set_ccache(set, v);
	} else if (strcmp(k, "kerberos.spn") == 0) {
		snprintf(set->spn, sizeof(set->spn), "%s", v);
	} else if (strcmp(k, "client.sniff_hostname") == 0) {
		set->sniff_hostname = strcmp(v, "true") == 0;
	}
	/* Keys the client does not use (proxy.wpad_url, kerberos.realm, ebpf.*, newer ones) are
	 * ignored. */
	return 0;
}

/* What a key the service leaves out means: the configuration's own defaults. */
static void settings_defaults(struct client_settings *set)
{
	struct kg_config d;

	kg_config_defaults(&d);
	*set = (struct client_settings){
	    .refs = 1,
	    .proxy_type = d.proxy.type,
	    .connection_timeout = d.proxy.connection_timeout,
	    .request_timeout = d.proxy.request_timeout,
	    .max_retries = d.proxy.max_retries,
	    .sniff_hostname = d.client.sniff_hostname,
	};
}

static int parse_msg(const struct kg_ipc_msg *m, struct client_settings *set)
{
	char k[KG_IPC_TEXT_MAX * 2], v[KG_IPC_TEXT_MAX * 2], err[KG_URL_MAX + 128];
	size_t pos = 0;
	int r;

	settings_defaults(set);
	while ((r = kg_ipc_config_next(m, &pos, k, sizeof(k), v, sizeof(v))) == 1) {
		if (set_one(set, k, v) < 0) {
			log_error("the service sent an invalid value for %s: \"%s\"", k, v);
			return -EINVAL;
		}
	}
	if (r < 0) {
		log_error("the service sent a malformed configuration");
		return r;
	}
	r = client_settings_check(set->proxy_type, set->proxy_url, &set->proxy, err, sizeof(err));
	if (r < 0)
		log_error("%s (the service's configuration)", err);
	return r;
}

int client_settings_from_msg(const struct kg_ipc_msg *m, struct client_settings **ret)
{
	struct client_settings *set = malloc(sizeof(*set));
	int r;

	if (!set)
		return -ENOMEM;
	r = parse_msg(m, set);
	if (r < 0) {
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
	if (set && --set->refs == 0)
		free(set);
}

bool client_settings_same_upstream(const struct client_settings *a, const struct client_settings *b)
{
	return a->proxy_type == b->proxy_type && strcmp(a->proxy_url, b->proxy_url) == 0 &&
	       strcmp(a->spn, b->spn) == 0;
}
