/* The client's reports to the service over the IPC link (ipc_report.c). */
#pragma once

struct kg_client;

/* The ticket report for the service (and the expiry warning): the ticket is looked at on the
 * Kerberos worker, whose answer comes back to ipc_report.c, which sends the report. */
void ipc_client_request_info(struct kg_client *cl);
