/* The PAC evaluator's sandbox: rlimits, PR_SET_NO_NEW_PRIVS and a raw-BPF seccomp filter
 * (no libseccomp). The filter checks the architecture first (a foreign one is killed), then
 * allows this list and kills the process on everything else:
 *   read on fd 0; write on fds 1 and 2;
 *   brk, mmap and mprotect without PROT_EXEC, munmap, mremap, madvise (glibc malloc);
 *   clock_gettime, gettimeofday, time (Duktape's Date; normally the vDSO answers anyway);
 *   rt_sigreturn, exit, exit_group.
 * On x86-64, x32 system call numbers are killed too. An ASan build (--enable-sanitizers) also
 * allows sigaltstack, which ASan calls before every longjmp (Duktape's throw) and exit, and
 * sets no RLIMIT_AS (ASan reserves terabytes of shadow address space).
 */
#include "pac/sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define KG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "kernelgatekeeper-pac: no seccomp architecture for this target"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define KG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KG_ASAN 1
#endif
#endif

/* The low 32 bits of argument n (the kernel reads int arguments from them). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#else
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]) + 4)
#endif

#define FILTER_MAX 96

struct prog {
	struct sock_filter f[FILTER_MAX];
	unsigned short n;
	bool overflow;
};

static void emit(struct prog *p, struct sock_filter ins)
{
	if (p->n >= FILTER_MAX) {
		p->overflow = true;
		return;
	}
	p->f[p->n++] = ins;
}

#define KILL  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void allow(struct prog *p, unsigned nr)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
	emit(p, (struct sock_filter)ALLOW);
}

/* nr is allowed when its argument arg (low 32 bits) is one of vals; otherwise killed. */
static void allow_arg_in(struct prog *p, unsigned nr, unsigned arg, const unsigned *vals,
			 unsigned nvals)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0,
					     (unsigned char)(nvals + 3)));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned)ARG_LO(arg)));
	for (unsigned i = 0; i < nvals; i++)
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, vals[i],
						     (unsigned char)(nvals - i), 0));
	emit(p, (struct sock_filter)KILL);
	emit(p, (struct sock_filter)ALLOW);
}

/* nr is allowed when none of bits is set in argument arg; otherwise killed. */
static void allow_arg_without(struct prog *p, unsigned nr, unsigned arg, unsigned bits)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (unsigned)ARG_LO(arg)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits, 1, 0));
	emit(p, (struct sock_filter)ALLOW);
	emit(p, (struct sock_filter)KILL);
}

static void build(struct prog *p)
{
	static const unsigned in_fds[] = {0}, out_fds[] = {1, 2};

	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					     (unsigned)offsetof(struct seccomp_data, arch)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KG_AUDIT_ARCH, 1, 0));
	emit(p, (struct sock_filter)KILL);
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					     (unsigned)offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
	/* x32 numbers (bit 30) name other system calls: none of them. */
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
	emit(p, (struct sock_filter)KILL);
#endif
	allow_arg_in(p, __NR_read, 0, in_fds, 1);
	allow_arg_in(p, __NR_write, 0, out_fds, 2);
	allow(p, __NR_brk);
	allow_arg_without(p, __NR_mmap, 2, PROT_EXEC);
	allow_arg_without(p, __NR_mprotect, 2, PROT_EXEC);
	allow(p, __NR_munmap);
	allow(p, __NR_mremap);
	allow(p, __NR_madvise);
	allow(p, __NR_clock_gettime);
	allow(p, __NR_gettimeofday);
#ifdef __NR_time
	allow(p, __NR_time);
#endif
	allow(p, __NR_rt_sigreturn);
	allow(p, __NR_exit);
	allow(p, __NR_exit_group);
#ifdef KG_ASAN
	allow(p, __NR_sigaltstack); /* ASan's no-return hook */
#endif
	emit(p, (struct sock_filter)KILL);
}

static int set_limit(int resource, rlim_t soft, rlim_t hard, const char *name, char *err,
		     size_t errlen)
{
	struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
	if (setrlimit(resource, &rl) < 0) {
		int e = errno;
		snprintf(err, errlen, "setrlimit(%s): %s", name, strerror(e));
		return -e;
	}
	return 0;
}

int kg_pac_sandbox_enter(char *err, size_t errlen)
{
	int r;
#ifndef KG_ASAN
	/* ASan reserves terabytes of shadow address space: no RLIMIT_AS under it. */
	if ((r = set_limit(RLIMIT_AS, KG_PAC_LIMIT_AS, KG_PAC_LIMIT_AS, "RLIMIT_AS", err, errlen)))
		return r;
#endif
	/* No RLIMIT_FSIZE: fd 2 may be a log file (tests, a redirected client), and a write past
	 * the limit there would kill the evaluator with SIGXFSZ instead of giving a diagnostic. */
	if ((r = set_limit(RLIMIT_CPU, KG_PAC_LIMIT_CPU, KG_PAC_LIMIT_CPU + 1, "RLIMIT_CPU", err,
			   errlen)) ||
	    (r = set_limit(RLIMIT_NOFILE, KG_PAC_LIMIT_NOFILE, KG_PAC_LIMIT_NOFILE, "RLIMIT_NOFILE",
			   err, errlen)) ||
	    (r = set_limit(RLIMIT_CORE, 0, 0, "RLIMIT_CORE", err, errlen)) ||
	    (r = set_limit(RLIMIT_NPROC, 0, 0, "RLIMIT_NPROC", err, errlen)))
		return r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(e));
		return -e;
	}
	struct prog p = {.n = 0};
	build(&p);
	if (p.overflow) {
		snprintf(err, errlen, "seccomp filter longer than %d instructions", FILTER_MAX);
		return -E2BIG;
	}
	struct sock_fprog fprog = {.len = p.n, .filter = p.f};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0) {
		int e = errno;
		snprintf(err, errlen, "PR_SET_SECCOMP: %s", strerror(e));
		return -e;
	}
	return 0;
}
