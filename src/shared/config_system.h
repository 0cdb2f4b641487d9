/* The system relay's part of the configuration (system { }, issue 17): the form of its names,
 * and their resolution to uids, done where they are used: by the service (which never takes a
 * client's word for them) and by the system relay itself.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "shared/config.h"

/* A user name as system.uids and system.user take it: 1..32 bytes of [A-Za-z0-9_.-], a '$' at
 * the end allowed (Samba machine accounts), not starting with '-'. 0, or -EINVAL with why. */
int kg_config_system_name_check(const char *name, char *why, size_t len);

/* One system.uids entry (a name or a decimal uid) to a uid: 0, -ENOENT (no such user) or
 * -EINVAL. A number is taken as it is, whether or not a passwd entry names it. */
int kg_config_system_uid(const char *entry, uid_t *uid);

/* The uids of cfg->system.uids that resolve, each once, into out[0..cap); their count. Entries
 * that do not resolve are skipped; when missing is not NULL the first of them is copied there
 * ("" when none). */
unsigned kg_config_system_uids(const struct kg_config *cfg, uid_t *out, unsigned cap, char *missing,
			       size_t missing_len);
