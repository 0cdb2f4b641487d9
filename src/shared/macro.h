/* Small helpers used everywhere. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define _cleanup_(f)  __attribute__((cleanup(f)))
#define _unused_      __attribute__((unused))

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_	_cleanup_(freep)

/* Hand an fd out of a _cleanup_close_ variable. */
static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* Exit status of the three programs for bad usage or an unusable configuration (man pages). */
#define EXIT_USAGE 2
/* Exit status of the service when this kernel cannot run the datapath: a BPF feature is
 * missing, bpf() is not allowed, or the kernel refused a program. The unit does not restart
 * on it (RestartPreventExitStatus=): the next start would be refused the same way. */
#define EXIT_KERNEL 4
