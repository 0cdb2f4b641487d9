/* The proxy part of the service's configuration (KG_MSG_CONFIG), as the relay uses it.
 *
 * A settings object is immutable once made (except the proxy's address, resolved on first use)
 * and reference-counted: the client holds the current one, and every connection holds the one
 * that was current when it was accepted. A refresh (SIGHUP, a service restart) therefore never
 * changes the proxy, its principal or the proxy type under a connection that is already
 * running: a port-80 keep-alive connection that went through the proxy cannot later send its
 * next request, with a Negotiate token for the proxy, straight to the origin.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "client/proxy_tls.h"
#include "client/route/route.h"
#include "shared/config.h"
#include "shared/ipc.h"

struct client_settings {
	unsigned refs;
	/* The service's answer as config_wire.c decoded and checked it with config.c's schema:
	 * the one copy of every key's value. */
	struct kg_config cfg;
	/* What this relay makes of cfg. */
	struct kg_url proxy;		    /* parsed cfg.proxy.url, valid for KG_PROXY_HTTP */
	struct sockaddr_storage proxy_addr; /* resolved at first use */
	socklen_t proxy_addrlen;	    /* 0: not resolved (retried at the next connection) */
	/* The way out of every connection made under these settings, tried in order with
	 * failover (upstream.h): for proxy.type http the proxy.url list (kg_route_parse_urls),
	 * then DIRECT when proxy.fallback is "direct"; for none a lone DIRECT. Entry i of the
	 * list is cfg's i-th URL. n == 0 (settings made by hand, as in tests): the upstream goes
	 * by proxy and proxy_addr alone, as before routes. */
	struct kg_route route;
	struct sockaddr_storage route_addr[KG_ROUTE_MAX]; /* entry i resolved at first use */
	socklen_t route_addrlen[KG_ROUTE_MAX];		  /* 0: not resolved */
	char ccache[PATH_MAX]; /* cfg.kerberos.ccache, %{...} tokens expanded */
	/* TLS to https proxies (proxy_tls.h) with cfg's proxy.ca_file, client_cert and client_key:
	 * made with the settings when the route has an https entry or a path is set, else at
	 * first use (a PAC's HTTPS answer); NULL until then. */
	struct proxy_tls_ctx *tls;
};

/* The credential cache a connection under set uses: set->ccache, unless a source was set with
 * client_settings_set_ccache_source() (the system relay's keytab tickets, whose cache changes
 * name at each renewal). The pointer is valid until the next call on this thread. */
const char *client_settings_ccache(const struct client_settings *set);
void client_settings_set_ccache_source(const char *(*source)(void));

/* A proxy type this version can do: 0, or -EOPNOTSUPP/-EINVAL with the message in err. For
 * http the parsed URL goes to out (may be NULL). */
int client_settings_check(enum kg_proxy_type type, const char *url, struct kg_url *out, char *err,
			  size_t errlen);
/* New settings (one reference) from the service's KG_MSG_CONFIG; 0, or -EINVAL, -EOPNOTSUPP,
 * -ENOMEM (logged: the message names the key). */
int client_settings_from_msg(const struct kg_ipc_msg *m, struct client_settings **ret);
/* The TLS context of set (made now if it was not yet): 0, or -errno with the sentence (the
 * file that cannot be read, the key that does not match) in err. */
int client_settings_tls(struct client_settings *set, struct proxy_tls_ctx **ret, char *err,
			size_t errlen);
struct client_settings *client_settings_ref(struct client_settings *set);
/* Accepts NULL. */
void client_settings_unref(struct client_settings *set);
/* The route of cfg's proxy type, proxy.url list and proxy.fallback into *out (see
 * client_settings.route); 0, or -EINVAL with the reason in err. */
int client_settings_route(const struct kg_config *cfg, struct kg_route *out, char *err,
			  size_t errlen);
/* Whether connections made under a and b go the same way out: the same proxy type, route
 * (proxy.url list and fallback) and service principal (kerberos.spn). */
bool client_settings_same_upstream(const struct client_settings *a,
				   const struct client_settings *b);
