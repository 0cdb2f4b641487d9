/* kg-nopipe PROGRAM [ARG...]: run PROGRAM with pipe(2) and pipe2(2) failing with EMFILE.
 *
 * A test instrument: a seccomp filter (no privileges needed, after PR_SET_NO_NEW_PRIVS) makes
 * the kernel refuse every new pipe, so a test can see how a daemon copes when it cannot get
 * one, without a mock in the daemon. Every other system call is untouched.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define KG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "kg-nopipe: add this architecture's AUDIT_ARCH_*"
#endif

#ifndef __NR_pipe
#define __NR_pipe __NR_pipe2 /* newer architectures only have pipe2 */
#endif

int main(int argc, char **argv)
{
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KG_AUDIT_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pipe2, 2, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pipe, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EMFILE & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

	if (argc < 2) {
		fprintf(stderr, "usage: kg-nopipe PROGRAM [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		fprintf(stderr, "kg-nopipe: cannot install the seccomp filter: %s\n",
			strerror(errno));
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "kg-nopipe: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
