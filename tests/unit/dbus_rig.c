/* A private dbus-daemon and a fake service on it for the unit tests that talk D-Bus: see
 * dbus_rig.h. */
#include "tests/unit/dbus_rig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char dbus_rig_base[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void dbus_rig_base_setup(const char *template)
{
	snprintf(dbus_rig_base, sizeof(dbus_rig_base), "%s", template);
	if (!mkdtemp(dbus_rig_base)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

/* Whatever a failed test left (its processes died with it). */
void dbus_rig_base_teardown(void)
{
	if (dbus_rig_base[0])
		nftw(dbus_rig_base, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

void dbus_rig_die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
}

ssize_t dbus_rig_read_line(int fd, char *buf, size_t sz, int timeout_ms)
{
	size_t n = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t r;

	while (n + 1 < sz) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

void dbus_rig_kill_wait(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

void dbus_rig_start_daemon(struct dbus_rig *rig)
{
	char listen[192], path[160];
	pid_t parent = getpid();
	int fds[2], fd;

	snprintf(rig->dir, sizeof(rig->dir), "%s/t-XXXXXX", dbus_rig_base);
	ck_assert_ptr_nonnull(mkdtemp(rig->dir));
	snprintf(path, sizeof(path), "%s/bus", rig->dir);
	snprintf(listen, sizeof(listen), "--address=unix:path=%s", path);
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	rig->daemon = fork();
	if (rig->daemon < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (rig->daemon == 0) {
		dbus_rig_die_with_parent(parent);
		dup2(fds[1], STDOUT_FILENO);
		/* Its complaint about the fd limit (not root) is noise here. */
		if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0)
			dup2(fd, STDERR_FILENO);
		execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", "--print-address",
		       listen, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	ck_assert_int_gt(dbus_rig_read_line(fds[0], rig->addr, sizeof(rig->addr), 10000), 0);
	close(fds[0]);
}

pid_t dbus_rig_start_server(void (*child_main)(void *arg, int ready), void *arg)
{
	pid_t parent = getpid(), pid;
	int fds[2];
	char c = 0;
	struct pollfd pfd;

	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	if (pid < 0) /* not ck_assert: the child must not write to check's message file */
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dbus_rig_die_with_parent(parent);
		close(fds[0]);
		child_main(arg, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(read(fds[0], &c, 1), 1);
	close(fds[0]);
	ck_assert_int_eq(c, 'R');
	return pid;
}

void dbus_rig_serve(const char *addr, const char *name, sd_bus_message_handler_t handler, bool mute,
		    int ready)
{
	sd_bus *bus = NULL;

	if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, addr) < 0 ||
	    sd_bus_set_bus_client(bus, 1) < 0 || sd_bus_start(bus) < 0 ||
	    sd_bus_add_filter(bus, NULL, handler, NULL) < 0 ||
	    sd_bus_request_name(bus, name, 0) < 0) {
		(void)!write(ready, "E", 1);
		_exit(1);
	}
	(void)!write(ready, "R", 1);
	for (;;) {
		if (mute) {
			pause();
			continue;
		}
		if (sd_bus_process(bus, NULL) < 0)
			_exit(0);
		if (sd_bus_wait(bus, (uint64_t)-1) < 0)
			_exit(0);
	}
}

void dbus_rig_stop(struct dbus_rig *rig)
{
	dbus_rig_kill_wait(&rig->server, SIGKILL);
	dbus_rig_kill_wait(&rig->daemon, SIGTERM);
	if (rig->dir[0])
		nftw(rig->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}
