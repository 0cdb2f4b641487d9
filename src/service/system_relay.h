/* The service's rules for the system relay's registration (issue 17), apart from the IPC server
 * so that they can be tested alone.
 *
 * A registration for other uids (KG_IPC_REGISTER_SYSTEM) is accepted only while system.enable is
 * true, only from a connection whose SO_PEERCRED uid is system.user's (never root), and only for
 * uids of system.uids as the service itself resolves them: a list the relay sends is intersected
 * with nothing, every entry must be in system.uids or the registration is refused. A uid that
 * has its own user client registered is not given to the system relay; a user's client that
 * registers later takes its uid over, and gives it back when it ends (ipc_server.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "shared/config.h"
#include "shared/ipc.h"

/* Which uids the system relay on a connection of peer may serve: the uids it asked for (asked,
 * n_asked; n_asked 0 asks for all of system.uids) into out (KG_IPC_SYSTEM_UIDS_MAX), never
 * peer's own. 0 with *n_out; or -EPERM / -EINVAL with one sentence in why. Whether a uid has a
 * client of its own is the caller's (it changes over the relay's life). */
int kg_system_admit(const struct kg_config *cfg, uid_t peer, const uint32_t *asked,
		    unsigned n_asked, uid_t *out, unsigned *n_out, char *why, size_t whylen);

/* "root, _apt, 1005" for a log line: names where the passwd database has them. */
void kg_system_format_uids(const uid_t *uids, unsigned n, char *buf, size_t len);
