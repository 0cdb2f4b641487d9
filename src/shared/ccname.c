/* Credential cache name tokens (see ccname.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shared/ccname.h"

#define KNOWN "%{uid}, %{euid}, %{USERID}, %{username} or %{TEMP}"

int kg_ccname_expand(const char *in, const struct kg_ccname_ids *ids, char *out, size_t len,
		     const char **why)
{
	size_t n = 0;

	*why = NULL;
	if (len == 0)
		return -ENAMETOOLONG;
	while (*in) {
		char num[24];
		const char *end, *piece = num;
		size_t tlen, plen;

		if (in[0] != '%' || in[1] != '{') {
			if (n + 1 >= len)
				return -ENAMETOOLONG;
			out[n++] = *in++;
			continue;
		}
		end = strchr(in + 2, '}');
		if (!end) {
			*why = "has a %{ without its closing }";
			return -EINVAL;
		}
		tlen = (size_t)(end - (in + 2));
#define IS(t) (tlen == sizeof(t) - 1 && memcmp(in + 2, t, tlen) == 0)
		if (IS("uid"))
			snprintf(num, sizeof(num), "%u", (unsigned)ids->uid);
		else if (IS("euid") || IS("USERID"))
			snprintf(num, sizeof(num), "%u", (unsigned)ids->euid);
		else if (IS("username")) {
			if (!ids->username) {
				*why = "uses %{username}, but this user's name cannot be found";
				return -ENOENT;
			}
			piece = ids->username;
		} else if (IS("TEMP"))
			piece = ids->tmpdir;
		else {
			*why = "has an unknown token: use " KNOWN;
			return -EINVAL;
		}
#undef IS
		plen = strlen(piece);
		if (n + plen >= len)
			return -ENAMETOOLONG;
		memcpy(out + n, piece, plen);
		n += plen;
		in = end + 1;
	}
	out[n] = '\0';
	return 0;
}
