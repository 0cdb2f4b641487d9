/* A private dbus-daemon for the unit tests that talk D-Bus (test_desktop_notify, test_nm_wpad):
 * one base directory per test process, one directory and one bus per test in it, and one fake
 * service of the test's own (sd-bus, in a forked child) that owns a name on that bus. Every
 * child dies with the test process (PR_SET_PDEATHSIG) and is killed by PID at the end.
 *
 *   dbus_rig_base_setup("/tmp/kg-x-XXXXXX");   unchecked fixture: the base directory
 *   dbus_rig_start_daemon(&rig);                checked fixture: rig.dir, rig.addr, rig.daemon
 *   rig.server = dbus_rig_start_server(main, arg);   main ends in dbus_rig_serve()
 *   dbus_rig_stop(&rig);                        kills both, removes rig.dir
 *   dbus_rig_base_teardown();                   removes whatever a failed test left
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

struct dbus_rig {
	char dir[128];	/* this test's directory, "" before start */
	char addr[256]; /* the bus address the daemon printed */
	pid_t daemon;	/* -1 when stopped */
	pid_t server;	/* the test's fake service, -1 when stopped */
};

#define DBUS_RIG_INIT                                                                              \
	{                                                                                          \
		.daemon = -1, .server = -1                                                         \
	}

/* The base directory of all tests ("" before dbus_rig_base_setup). */
extern char dbus_rig_base[64];

/* mkdtemp(template) as the base; exits the process when it cannot. */
void dbus_rig_base_setup(const char *template);
/* Removes the base directory and everything in it. */
void dbus_rig_base_teardown(void);

/* In a forked child: die with the test process, whichever way it ends. */
void dbus_rig_die_with_parent(pid_t parent);
/* Up to one line from fd within timeout_ms into buf; its length, or -1. */
ssize_t dbus_rig_read_line(int fd, char *buf, size_t sz, int timeout_ms);
/* kill(*pid, sig) and reap it; *pid becomes -1 (nothing when it is already <= 0). */
void dbus_rig_kill_wait(pid_t *pid, int sig);

/* A new directory under the base and a dbus-daemon listening in it (ck_assert on failure). */
void dbus_rig_start_daemon(struct dbus_rig *rig);
/* Forks a child that runs child_main(arg, ready); it writes "R" to ready once it serves (or "E"
 * and exits). Waits up to 10 s for "R" (ck_assert); the child's PID. */
pid_t dbus_rig_start_server(void (*child_main)(void *arg, int ready), void *arg);
/* In the child: connects to addr, owns name, dispatches each message to handler and writes "R"
 * to ready; then serves until the bus goes away (mute: owns the name, never answers). Never
 * returns. */
void dbus_rig_serve(const char *addr, const char *name, sd_bus_message_handler_t handler, bool mute,
		    int ready) __attribute__((noreturn));
/* Kills the server (SIGKILL) and the daemon (SIGTERM), removes rig->dir and what is in it. */
void dbus_rig_stop(struct dbus_rig *rig);
