/* system { } (see config_system.h): the names the system relay serves and runs as. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config_system.h"

int kg_config_system_name_check(const char *name, char *why, size_t len)
{
	size_t n = strlen(name), i;

	if (n == 0 || n >= KG_SYSTEM_NAME_MAX) {
		snprintf(why, len, "\"%s\" is not a user name (1 to %d characters)", name,
			 KG_SYSTEM_NAME_MAX - 1);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		char ch = name[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
			 (ch == '-' && i > 0) || (ch == '$' && i == n - 1 && i > 0);

		if (!ok) {
			snprintf(why, len,
				 "\"%s\" is not a user name (letters, digits, '_', '.', '-')",
				 name);
			return -EINVAL;
		}
	}
	return 0;
}

int kg_config_system_uid(const char *entry, uid_t *uid)
{
	struct passwd pw, *found = NULL;
	char buf[4096], *end;
	unsigned long v;

	if (!entry[0])
		return -EINVAL;
	if (entry[0] >= '0' && entry[0] <= '9') {
		errno = 0;
		v = strtoul(entry, &end, 10);
		if (errno || *end || v >= 4294967295ul)
			return -EINVAL;
		*uid = (uid_t)v;
		return 0;
	}
	if (getpwnam_r(entry, &pw, buf, sizeof(buf), &found) != 0 || !found)
		return -ENOENT;
	*uid = found->pw_uid;
	return 0;
}

unsigned kg_config_system_uids(const struct kg_config *cfg, uid_t *out, unsigned cap, char *missing,
			       size_t missing_len)
{
	unsigned i, j, n = 0;
	uid_t uid;

	if (missing && missing_len)
		missing[0] = '\0';
	for (i = 0; i < cfg->system.n_uids && n < cap; i++) {
		if (kg_config_system_uid(cfg->system.uids[i], &uid) < 0) {
			if (missing && missing_len && !missing[0])
				snprintf(missing, missing_len, "%s", cfg->system.uids[i]);
			continue;
		}
		for (j = 0; j < n && out[j] != uid; j++)
			;
		if (j == n)
			out[n++] = uid;
	}
	return n;
}
