/* The PAC evaluator's sandbox (sandbox.c): resource limits, no new privileges and a seccomp
 * filter that lets the evaluator read its requests on fd 0, write its answers on fd 1 and
 * diagnostics on fd 2, manage memory and end, and kills the process (SIGSYS) on any other
 * system call: no files, no sockets, no exec, no signals to others.
 */
#pragma once

#include <stddef.h>

/* Limits applied by kg_pac_sandbox_enter(). */
#define KG_PAC_LIMIT_AS	    (512ul * 1024 * 1024) /* address space (not under ASan) */
#define KG_PAC_LIMIT_CPU    60			  /* s of CPU over the process's life */
#define KG_PAC_LIMIT_NOFILE 3			  /* fds 0-2, no more */

/* Applies the limits, PR_SET_NO_NEW_PRIVS and the filter, for good. 0, or -errno with a
 * sentence in err. Afterwards the only file descriptors usable are 0 (read), 1 and 2
 * (write). */
int kg_pac_sandbox_enter(char *err, size_t errlen);
