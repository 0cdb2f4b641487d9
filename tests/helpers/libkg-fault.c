/* libkg-fault.so: an LD_PRELOAD shim that makes chosen calls fail with a chosen errno, for the
 * fault tests (tests/integration/client-faults.sh); tests/helpers/kg-fault.c loads it.
 *
 * Why a shim and not seccomp like kg-nopipe: a seccomp filter cannot count, so it can fail a
 * call always or never, while a fault test needs "after N good calls, M bad ones", "every P-th
 * call" and a window that opens only once the daemon is up (startup allocates and accepts
 * too). And allocation failure is not a system call at all: malloc(3) fails only when mmap or
 * brk does, deep in glibc, at a moment no test can choose. The shim is a plain shared object
 * built without the tree's sanitizer flags (an instrumented daemon gets it after ASan's runtime,
 * which kg-fault allows by ASAN_OPTIONS=verify_asan_link_order=0). Its malloc family goes to
 * glibc's own __libc_malloc and friends, which ASan's free() would not know: those wrappers are
 * built only into libkg-fault-alloc.so (KG_FAULT_ALLOC), which kg-fault loads instead when a
 * rule is for malloc, so malloc faults are for uninstrumented builds only.
 *
 * $KG_FAULT holds one or more rules separated by ';', each
 *     CALL:ERRNO[:after=N][:count=M][:every=P][:thread=main][:arm=signal|:arm=file:PATH]
 * CALL: accept4 (accept and accept4), socket, connect, malloc (malloc, calloc, realloc).
 * ERRNO: a name (EMFILE, ENFILE, ENOMEM, ENOBUFS, ...) or a number.
 * The rule lets its first N calls through (default 0), then fails M calls (default: all), every
 * P-th call only when every= is given. arm=signal: the rule counts nothing until SIGUSR2 arms
 * it, and the next SIGUSR2 disarms it again. arm=file: the rule is armed while PATH exists.
 * Each arming starts the counts afresh. thread=main: only the calls of the process's first
 * thread count and fail (the client's relay loop, not its Kerberos worker, whose libkrb5 does
 * not survive every failed allocation). Calls that fail are counted to stderr once per rule
 * ("kg-fault: accept4 fails with EMFILE from call 4"), since the test wants to know the fault
 * took.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum kg_fault_call { FAULT_ACCEPT, FAULT_SOCKET, FAULT_CONNECT, FAULT_MALLOC, FAULT_NCALLS };

static const char *const call_names[FAULT_NCALLS] = {"accept4", "socket", "connect", "malloc"};

#define MAX_RULES 8

struct kg_fault_rule {
	enum kg_fault_call call;
	int err;
	uint64_t after, count, every; /* count 0: no end */
	bool arm_signal;
	bool main_only; /* thread=main */
	char arm_file[256];
	/* state */
	uint64_t calls;		      /* since the last arming */
	uint64_t failed;	      /* since the last arming */
	bool armed;		      /* arm= rules; others are always armed */
	uint64_t file_at;	      /* monotonic ms of the last look at arm_file */
	sig_atomic_t seen_generation; /* arm=signal: the SIGUSR2 toggles seen */
	bool told;
};

static struct kg_fault_rule rules[MAX_RULES];
static unsigned n_rules;
static volatile sig_atomic_t signal_armed, signal_generation;

#ifdef KG_FAULT_ALLOC
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
#endif

static const struct {
	const char *name;
	int err;
} errno_names[] = {
    {"EMFILE", EMFILE},	  {"ENFILE", ENFILE}, {"ENOMEM", ENOMEM},
    {"ENOBUFS", ENOBUFS}, {"EAGAIN", EAGAIN}, {"ECONNREFUSED", ECONNREFUSED},
    {"EACCES", EACCES},	  {"EPERM", EPERM},   {"EIO", EIO},
    {"ENOSPC", ENOSPC},
};

static void say(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));

	(void)n;
}

static int parse_errno(const char *s)
{
	size_t i;
	char *end;
	long v;

	for (i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (strcmp(s, errno_names[i].name) == 0)
			return errno_names[i].err;
	v = strtol(s, &end, 10);
	return *s && !*end && v > 0 && v < 4096 ? (int)v : -1;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	*v = strtoull(s, &end, 10);
	return *s && !*end;
}

/* One rule "CALL:ERRNO[:opt...]" in place (s is modified); false on a malformed one. */
static bool parse_rule(char *s, struct kg_fault_rule *r)
{
	char *save = NULL, *tok = strtok_r(s, ":", &save);
	unsigned i;

	memset(r, 0, sizeof(*r));
	if (!tok)
		return false;
	for (i = 0; i < FAULT_NCALLS && strcmp(tok, call_names[i]) != 0; i++)
		;
	if (i == FAULT_NCALLS)
		return false;
	r->call = (enum kg_fault_call)i;
	tok = strtok_r(NULL, ":", &save);
	if (!tok || (r->err = parse_errno(tok)) < 0)
		return false;
	r->armed = true;
	while ((tok = strtok_r(NULL, ":", &save))) {
		if (strncmp(tok, "after=", 6) == 0 && parse_u64(tok + 6, &r->after))
			continue;
		if (strncmp(tok, "count=", 6) == 0 && parse_u64(tok + 6, &r->count))
			continue;
		if (strncmp(tok, "every=", 6) == 0 && parse_u64(tok + 6, &r->every) && r->every)
			continue;
		if (strcmp(tok, "thread=main") == 0) {
			r->main_only = true;
			continue;
		}
		if (strcmp(tok, "arm=signal") == 0) {
			r->arm_signal = true;
			r->armed = false;
			continue;
		}
		if (strcmp(tok, "arm=file") == 0) {
			/* the path is the rest of the rule (it may hold ':') */
			tok = strtok_r(NULL, "", &save);
			if (!tok || strlen(tok) >= sizeof(r->arm_file))
				return false;
			strcpy(r->arm_file, tok);
			r->armed = false;
			break;
		}
		return false;
	}
	return true;
}

static void on_sigusr2(int sig)
{
	(void)sig;
	signal_armed = !signal_armed;
	signal_generation++;
}

__attribute__((constructor)) static void kg_fault_init(void)
{
	static char spec[2048];
	const char *env = getenv("KG_FAULT");
	char *save = NULL, *tok;
	bool want_signal = false;

	if (!env || strlen(env) >= sizeof(spec))
		return;
	strcpy(spec, env);
	for (tok = strtok_r(spec, ";", &save); tok && n_rules < MAX_RULES;
	     tok = strtok_r(NULL, ";", &save)) {
		if (!parse_rule(tok, &rules[n_rules])) {
			say("kg-fault: a malformed rule in KG_FAULT is ignored\n");
			continue;
		}
		want_signal |= rules[n_rules].arm_signal;
		n_rules++;
	}
	if (want_signal) {
		struct sigaction sa = {.sa_handler = on_sigusr2, .sa_flags = SA_RESTART};

		sigaction(SIGUSR2, &sa, NULL);
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Whether the rule's window is open, starting its counts afresh when it just opened. */
static bool rule_armed(struct kg_fault_rule *r)
{
	bool armed = r->armed;

	if (r->arm_signal) {
		armed = signal_armed;
		if (r->seen_generation != signal_generation) {
			r->seen_generation = signal_generation;
			r->armed = !armed; /* a toggle: the counts restart below */
		}
	} else if (r->arm_file[0]) {
		uint64_t now = now_ms();

		if (now == r->file_at)
			return r->armed;
		r->file_at = now;
		armed = access(r->arm_file, F_OK) == 0;
	}
	if (armed && !r->armed) {
		__atomic_store_n(&r->calls, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->failed, 0, __ATOMIC_RELAXED);
		r->told = false;
	}
	r->armed = armed;
	return armed;
}

/* 0: let the call through; else the errno it fails with. */
static int fault_for(enum kg_fault_call call)
{
	unsigned i;

	for (i = 0; i < n_rules; i++) {
		struct kg_fault_rule *r = &rules[i];
		uint64_t n;

		if (r->call != call || (r->main_only && syscall(SYS_gettid) != getpid()) ||
		    !rule_armed(r))
			continue;
		n = __atomic_add_fetch(&r->calls, 1, __ATOMIC_RELAXED);
		if (n <= r->after || (r->every && (n - r->after) % r->every != 0))
			continue;
		if (r->count && __atomic_add_fetch(&r->failed, 1, __ATOMIC_RELAXED) > r->count)
			continue;
		if (!r->told) {
			char line[128];

			r->told = true;
			snprintf(line, sizeof(line),
				 "kg-fault: %s fails with errno %d from call %llu\n",
				 call_names[call], r->err, (unsigned long long)n);
			say(line);
		}
		return r->err;
	}
	return 0;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int err = fault_for(FAULT_ACCEPT);

	if (err) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

int socket(int domain, int type, int protocol)
{
	int err = fault_for(FAULT_SOCKET);

	if (err) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int err = fault_for(FAULT_CONNECT);

	if (err) {
		errno = err;
		return -1;
	}
	return (int)syscall(SYS_connect, fd, addr, len);
}

#ifdef KG_FAULT_ALLOC
void *malloc(size_t size)
{
	int err = n_rules ? fault_for(FAULT_MALLOC) : 0;

	if (err) {
		errno = err;
		return NULL;
	}
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	int err = n_rules ? fault_for(FAULT_MALLOC) : 0;

	if (err) {
		errno = err;
		return NULL;
	}
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	int err = n_rules && size ? fault_for(FAULT_MALLOC) : 0;

	if (err) {
		errno = err;
		return NULL;
	}
	return __libc_realloc(p, size);
}
#endif /* KG_FAULT_ALLOC */
