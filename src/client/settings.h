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
	char ccache[PATH_MAX];		    /* cfg.kerberos.ccache, %{...} tokens expanded */
};

/* A proxy type this version can do: 0, or -EOPNOTSUPP/-EINVAL with the message in err. For
 * http the parsed URL goes to out (may be NULL). */
int client_settings_check(enum kg_proxy_type type, const char *url, struct kg_url *out, char *err,
			  size_t errlen);
/* New settings (one reference) from the service's KG_MSG_CONFIG; 0, or -EINVAL, -EOPNOTSUPP,
 * -ENOMEM (logged: the message names the key). */
int client_settings_from_msg(const struct kg_ipc_msg *m, struct client_settings **ret);
struct client_settings *client_settings_ref(struct client_settings *set);
/* Accepts NULL. */
void client_settings_unref(struct client_settings *set);
/* Whether connections made under a and b go the same way out: the same proxy type, proxy URL
 * and service principal (kerberos.spn). */
bool client_settings_same_upstream(const struct client_settings *a,
				   const struct client_settings *b);
