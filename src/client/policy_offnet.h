/* The proxy policy's off-network state (policy.h explains it): whether the service was asked
 * to let this user's connections go direct, the probe "the PAC sends everything DIRECT"
 * (recent hosts and a canary, evaluated after each load and every minute) and, under
 * proxy.type http with proxy.fallback direct, the connect probe of proxy.url's proxies.
 * Private to the policy (policy.c drives it); the state is struct client_policy
 * (policy_priv.h).
 */
#pragma once

#include <stdbool.h>

struct client_policy;
struct policy_job;

/* Sets up the probes' fds and timers of a new policy (before any other call). */
void policy_offnet_init(struct client_policy *p);
/* Closes the proxy probe and cancels the probes' timers (the PAC probe's job goes with the
 * engine, freed before). */
void policy_offnet_free(struct client_policy *p);

/* Direct (reason shown by the service) or steered again; tells the service when it changes,
 * or when the reason does while direct. */
void policy_set_direct(struct client_policy *p, bool direct, const char *reason);

/* j's host went to a proxy: one of the hosts the PAC probe asks about. */
void policy_remember_host(struct client_policy *p, const struct policy_job *j);
/* A round of "the PAC sends everything DIRECT" (when a PAC is loaded), or none running. */
void policy_pac_probe_start(struct client_policy *p);
void policy_pac_probe_stop(struct client_policy *p);

/* While direct under proxy.type http with proxy.fallback direct: a round of the proxy probe
 * now (none when one is under way). */
void policy_probe_now(struct client_policy *p);
