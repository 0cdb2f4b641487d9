/* Watching for the service's socket while there is no link (ipc_sockwatch.c). */
#ifndef KG_CLIENT_IPC_SOCKWATCH_H
#define KG_CLIENT_IPC_SOCKWATCH_H

struct kg_client;

/* Watch the socket's directory, if not yet; appeared(cl) is called when the socket is created
 * there (or events were lost). */
void ipc_sockwatch_start(struct kg_client *cl, void (*appeared)(struct kg_client *cl));
/* Stop watching (idempotent). */
void ipc_sockwatch_stop(void);

#endif
