/* The client's side of the IPC link to kernelgatekeeper-service (ipc_client.c): steps that
 * never wait (see its head comment). */
#pragma once

#include <stdbool.h>

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
/* Ends the registration: the IPC link and, with it, the listeners it brought (closed at once,
 * not drained: see ipc_client.c). */
void ipc_client_close(struct kg_client *cl);
/* Off the corporate network (DESIGN.md §8): direct asks the service to stop steering this
 * user's connections (they go straight out, the relay never sees them); !direct asks it to
 * steer them again. Never waits: the latest state wanted is sent when the link has no other
 * request pending (calls in between coalesce), again after every registration (a restarted
 * service starts out steering), and the service itself forgets it when this link ends.
 * reason: printable text shorter than KG_IPC_REASON_MAX for the journal, `ctl status` and the
 * client's STATUS= ("no proxy reachable"); NULL or "" for none; kept only while direct.
 * 0, or -EINVAL for a reason that is too long or not printable. */
int ipc_client_set_direct(struct kg_client *cl, bool direct, const char *reason);
