/* The client's side of the IPC link to kernelgatekeeper-service (ipc_client.c). */
#pragma once

#include "client/client.h"

void ipc_client_schedule(struct kg_client *cl, unsigned delay_ms);
/* Connect and register; 0, or -errno (a retry is scheduled unless the error is fatal:
 * -EPERM/-EINVAL mean the process cannot work at all). */
int ipc_client_connect(struct kg_client *cl);
/* Fetch the service's configuration again (SIGHUP). */
int ipc_client_refresh(struct kg_client *cl);
void ipc_client_on_readable(struct kg_client *cl);
/* The ticket report for the service (and the expiry warning): the ticket is looked at on the
 * Kerberos worker, whose answer comes back to ipc_client.c. */
void ipc_client_request_info(struct kg_client *cl);
/* Ends the registration: the IPC link and, with it, the listeners it brought (closed at once,
 * not drained: see ipc_client.c). */
void ipc_client_close(struct kg_client *cl);
