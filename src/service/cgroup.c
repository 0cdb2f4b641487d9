/* Finding the cgroup v2 hierarchy: pure v2 hosts mount it at /sys/fs/cgroup, hybrid hosts
 * (systemd's "hybrid" layout, still common) at /sys/fs/cgroup/unified next to the v1
 * controllers. The configured path may also name any cgroup inside the hierarchy (tests attach
 * to their own sub-cgroup). */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "service/cgroup.h"

static int is_cgroup2(const char *path)
{
	struct statfs sfs;
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(path, &sfs) < 0)
		return -errno;
	return sfs.f_type == CGROUP2_SUPER_MAGIC;
}

int kg_cgroup_resolve(const char *configured, char *out, size_t outlen)
{
	char hybrid[4096];
	int r;

	r = is_cgroup2(configured);
	if (r < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	if (r > 0) {
		if ((size_t)snprintf(out, outlen, "%s", configured) >= outlen)
			return -ENAMETOOLONG;
		return 0;
	}
	if ((size_t)snprintf(hybrid, sizeof(hybrid), "%s/unified", configured) >= sizeof(hybrid))
		return -ENAMETOOLONG;
	r = is_cgroup2(hybrid);
	if (r <= 0)
		return -EMEDIUMTYPE;
	if ((size_t)snprintf(out, outlen, "%s", hybrid) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}
