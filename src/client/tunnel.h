/* Opening the way out for one connection: naming the destination (sniffing the application's
 * first bytes), then the upstream (upstream.h: the connection to the proxy, or to the
 * destination for proxy.type none, the CONNECT exchange with Negotiate), and the user-facing
 * sentence when any of it fails.
 */
#pragma once

#include "client/client.h"
#include "client/conn.h"

struct auth_job;
struct tunnel_setup; /* tunnel.c's: lives while a connection is being set up */

/* After SO_ORIGINAL_DST: name the destination (maybe waiting for the first bytes). */
void tunnel_accepted(struct kg_client *cl, struct relay_conn *c);
/* Events for connections that are not relaying yet. */
void tunnel_on_app(struct kg_client *cl, struct relay_conn *c);
void tunnel_on_proxy(struct kg_client *cl, struct relay_conn *c);
void tunnel_on_timer(struct kg_client *cl, struct relay_conn *c);
/* A token job finished; takes ownership of job. */
void tunnel_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job);
void tunnel_setup_free(struct tunnel_setup *t);

/* The set-up states' table (conn.h); its start is tunnel_accepted(). */
extern const struct conn_ops tunnel_conn_ops;
