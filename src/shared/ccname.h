/* The tokens of a credential cache name (kerberos.ccache), expanded as MIT krb5 expands them in
 * its own default_ccache_name: a name given to GSSAPI directly is taken literally, so a
 * configured "KEYRING:persistent:%{uid}" would otherwise name no cache at all. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct kg_ccname_ids {
	uid_t uid, euid;      /* %{uid}; %{euid} and %{USERID} */
	const char *username; /* %{username}; NULL: unknown */
	const char *tmpdir;   /* %{TEMP} */
};

/* in -> out (len bytes). 0; -EINVAL with *why for a malformed or unknown token; -ENOENT with
 * *why when %{username} is used and ids->username is NULL; -ENAMETOOLONG. */
int kg_ccname_expand(const char *in, const struct kg_ccname_ids *ids, char *out, size_t len,
		     const char **why);
