/* What ipc_server.c and ipc_watch.c share: the reply helper, the send buffer for watchers,
 * and the watch side's handlers (dispatched by ipc_server.c). Private to the service's IPC
 * server. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "service/service.h"
#include "shared/ipc.h"

int kg_ipc_reply(struct kg_conn *c, uint32_t seq, uint16_t type, const void *p, size_t len);

/* Room in c's send buffer for a whole ring of events (root's watch, a client's listeners). */
void kg_ipc_widen_sndbuf(const struct kg_conn *c);

/* Tell client c whether a watcher may see its route reports, if that changed. */
void kg_ipc_tell_watched(struct kg_conn *c);

int kg_ipc_handle_client_route(struct kg_conn *c, const struct kg_ipc_msg *m);
int kg_ipc_handle_watch(struct kg_conn *c, const struct kg_ipc_msg *m);

/* uid as a decimal string. */
void kg_ipc_fmt_uid(char *buf, size_t len, uid_t uid);

/* ipc_handlers.c: each answers message m on connection c. */
int kg_ipc_handle_status(struct kg_conn *c, const struct kg_ipc_msg *m);
int kg_ipc_send_ports(struct kg_conn *c, uint32_t seq);
int kg_ipc_handle_ports_change(struct kg_conn *c, const struct kg_ipc_msg *m);
int kg_ipc_handle_stats(struct kg_conn *c, const struct kg_ipc_msg *m);
int kg_ipc_handle_client_info(struct kg_conn *c, const struct kg_ipc_msg *m);
int kg_ipc_handle_route_state(struct kg_conn *c, const struct kg_ipc_msg *m);
