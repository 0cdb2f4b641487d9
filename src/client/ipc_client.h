/* The client's side of the IPC link to kernelgatekeeper-service (ipc_client.c): steps that
 * never wait (see its head comment). */
#pragma once

#include "client/client.h"

void ipc_client_schedule(struct kg_client *cl, unsigned delay_ms);
/* The link's timer (reconnect_timer): starts a connection and registration when idle, ends a
 * request whose answer is overdue. 0 or -EINPROGRESS/-EAGAIN (under way), or -errno (a retry
 * is scheduled unless the error is fatal: -EPERM/-EINVAL mean the process cannot work at all).
 */
int ipc_client_on_timer(struct kg_client *cl);
/* What main.c's timer calls: ipc_client_on_timer(). */
int ipc_client_connect(struct kg_client *cl);
/* Register over fd, a connected KG socket (tests pass one end of a socketpair). Same returns
 * as ipc_client_on_timer(). */
int ipc_client_start(struct kg_client *cl, int fd);
/* Ask the service for its configuration again (SIGHUP): 0 (applied when the answer comes, then
 * cl->reload_done()), -ENOTCONN, or -errno. */
int ipc_client_refresh(struct kg_client *cl);
/* Readiness of the link: on_readable does on_writable's work first when a request waits for
 * room. */
void ipc_client_on_readable(struct kg_client *cl);
void ipc_client_on_writable(struct kg_client *cl);
/* The ticket report for the service (and the expiry warning): the ticket is looked at on the
 * Kerberos worker, whose answer comes back to ipc_client.c. */
void ipc_client_request_info(struct kg_client *cl);
/* Ends the registration: the IPC link and, with it, the listeners it brought (closed at once,
 * not drained: see ipc_client.c). */
void ipc_client_close(struct kg_client *cl);
