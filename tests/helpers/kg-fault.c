/* kg-fault RULE... -- PROGRAM [ARG...]: run PROGRAM with chosen calls failing (fault tests).
 *
 * Each RULE is CALL:ERRNO[:after=N][:count=M][:every=P][:thread=main][:arm=signal|:arm=file:PATH],
 * e.g.
 *     kg-fault accept4:EMFILE:after=3:count=5 -- kernelgatekeeper-client -c conf
 * The rules go to $KG_FAULT and tests/helpers/libkg-fault.so (next to this program) into
 * $LD_PRELOAD, or libkg-fault-alloc.so when a rule is for malloc; the shim's head comment says what
 * each part of a rule means and why the faults are injected by a preloaded shim rather than by
 * seccomp (tests/helpers/kg-nopipe.c). With ASAN_OPTIONS set, verify_asan_link_order=0 is added: an
 * instrumented program would otherwise refuse to start with a library ahead of ASan's runtime.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The shim's path: the directory of /proc/self/exe, "/" name; -1 when it is not there. */
static int shim_path(const char *name, char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		return -1;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(buf, size, "%s/%s", exe, name) >= size)
		return -1;
	return access(buf, R_OK);
}

int main(int argc, char **argv)
{
	char rules[2048] = "", shim[PATH_MAX], preload[PATH_MAX + 1024];
	const char *old, *name = "libkg-fault.so";
	size_t len = 0;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		int n = snprintf(rules + len, sizeof(rules) - len, "%s%s", len ? ";" : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(rules) - len) {
			fprintf(stderr, "kg-fault: too many rules\n");
			return 2;
		}
		len += (size_t)n;
		if (strncmp(argv[i], "malloc:", 7) == 0)
			name = "libkg-fault-alloc.so";
	}
	if (i >= argc - 1 || !len) {
		fprintf(stderr,
			"usage: kg-fault CALL:ERRNO[:after=N][:count=M][:every=P]"
			"[:thread=main][:arm=signal|:arm=file:PATH]... -- PROGRAM [ARG...]\n");
		return 2;
	}
	if (shim_path(name, shim, sizeof(shim)) < 0) {
		fprintf(stderr, "kg-fault: cannot find %s next to this program\n", name);
		return 1;
	}
	old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", shim, old && *old ? ":" : "", old ? old : "");
	if (setenv("KG_FAULT", rules, 1) < 0 || setenv("LD_PRELOAD", preload, 1) < 0)
		return 1;
	old = getenv("ASAN_OPTIONS");
	if (old) {
		char asan[4096];

		snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old, *old ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
	}
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "kg-fault: %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}
