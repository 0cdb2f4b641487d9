/* Finding the cgroup v2 hierarchy the datapath attaches to. */
#pragma once

#include <stddef.h>

/* Resolve the configured cgroup path to a cgroup2 directory: the path itself when it is on a
 * cgroup2 file system, else "<path>/unified" (hybrid hosts mount v2 there). Writes the result
 * to out. 0, -ENOENT (no such directory) or -EMEDIUMTYPE (not cgroup v2, nor a hybrid root). */
int kg_cgroup_resolve(const char *configured, char *out, size_t outlen);
