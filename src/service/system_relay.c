/* The system relay's registration rules (see system_relay.h). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "service/system_relay.h"
#include "shared/config_system.h"

int kg_system_admit(const struct kg_config *cfg, uid_t peer, const uint32_t *asked,
		    unsigned n_asked, uid_t *out, unsigned *n_out, char *why, size_t whylen)
{
	uid_t allowed[KG_SYSTEM_UIDS_MAX], user;
	char missing[KG_SYSTEM_NAME_MAX];
	unsigned n_allowed, i, j, n = 0;

	*n_out = 0;
	if (!cfg->system.enable) {
		snprintf(why, whylen, "the system relay is off (system.enable = false)");
		return -EPERM;
	}
	if (kg_config_system_uid(cfg->system.user, &user) < 0) {
		snprintf(why, whylen, "system.user \"%s\" has no passwd entry", cfg->system.user);
		return -EPERM;
	}
	if (user == 0 || peer == 0) {
		snprintf(why, whylen, "the system relay never runs as root: run it as system.user");
		return -EPERM;
	}
	if (peer != user) {
		snprintf(why, whylen,
			 "only system.user (%s, uid %u) may register as the system relay, not uid "
			 "%u",
			 cfg->system.user, (unsigned)user, (unsigned)peer);
		return -EPERM;
	}
	n_allowed =
	    kg_config_system_uids(cfg, allowed, KG_SYSTEM_UIDS_MAX, missing, sizeof(missing));
	if (n_asked > KG_IPC_SYSTEM_UIDS_MAX) {
		snprintf(why, whylen, "more than %d uids", KG_IPC_SYSTEM_UIDS_MAX);
		return -EINVAL;
	}
	for (i = 0; i < n_asked; i++) {
		for (j = 0; j < n_allowed && allowed[j] != (uid_t)asked[i]; j++)
			;
		if (j == n_allowed) {
			snprintf(why, whylen, "uid %u is not in system.uids", (unsigned)asked[i]);
			return -EPERM;
		}
	}
	for (i = 0; i < (n_asked ? n_asked : n_allowed); i++) {
		uid_t uid = n_asked ? (uid_t)asked[i] : allowed[i];

		/* The relay's own account: its connections are the relay's. */
		if (uid == peer)
			continue;
		for (j = 0; j < n && out[j] != uid; j++)
			;
		if (j == n)
			out[n++] = uid;
	}
	if (n == 0) {
		snprintf(why, whylen, "no uid of system.uids to serve%s%s%s",
			 missing[0] ? " (\"" : "", missing,
			 missing[0] ? "\" has no passwd entry)" : "");
		return -EINVAL;
	}
	*n_out = n;
	return 0;
}

void kg_system_format_uids(const uid_t *uids, unsigned n, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < n && used < len; i++) {
		struct passwd pw, *found = NULL;
		char pwbuf[1024];
		int w;

		if (getpwuid_r(uids[i], &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found)
			w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", found->pw_name);
		else
			w = snprintf(buf + used, len - used, "%s%u", i ? ", " : "",
				     (unsigned)uids[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
