/* kernelgatekeeper-client: state shared by the event loop, the IPC link and the tunnels.
 *
 * One process per user, one thread for all relaying (plus the Kerberos worker, authq.h). The
 * service's configuration is authoritative for everything about the proxy; the local file only
 * says where the service is and how to log.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "client/settings.h"
#include "shared/config.h"
#include "shared/macro.h"

#define KG_CLIENT_IDENT "kernelgatekeeper-client"

#define CLIENT_FD_CAP	       20000 /* descriptors this process may hold at most */
#define CLIENT_FD_RESERVE      64    /* kept free for IPC, Kerberos, the journal */
#define CLIENT_MAX_LISTENERS   2     /* IPv4 and IPv6, of the current registration only */
#define CLIENT_SNIFF_WAIT_MS   300   /* first-byte wait on ports where the client speaks first */
#define CLIENT_INFO_INTERVAL_S 60    /* ticket state report to the service */
#define CLIENT_EXPIRY_WARN_S   (15 * 60)
#define CLIENT_STOP_GRACE_S    3 /* live tunnels get this long on SIGTERM */
#define CLIENT_BACKOFF_MIN_MS  100
#define CLIENT_BACKOFF_MAX_MS  5000
#define CLIENT_IPC_TIMEOUT_MS  3000
#define CLIENT_TRIM_INTERVAL_S 1  /* heap trim check */
#define CLIENT_TRIM_AFTER      32 /* tunnels since the last trim that warrant one */

/* What an epoll registration points at: the first member of every watched object. */
enum src_kind {
	SRC_LISTENER = 1,
	SRC_IPC,
	SRC_SIGNAL,
	SRC_AUTHQ,
	SRC_APP,   /* struct relay_side inside relay_conn.app */
	SRC_PROXY, /* struct relay_side inside relay_conn.proxy */
};

struct src {
	uint8_t kind;
};

struct client_listener {
	struct src src;
	int fd;
};

/* Lines a peer can make the client write (another user dialling the relay port): one per
 * interval, then a count of the others (accept.c). */
struct client_log_budget {
	uint64_t last_at;  /* monotonic usec of the last line, 0: none yet */
	uint64_t unlogged; /* events in the interval since last_at */
};

struct relay_conn;

/* Where the IPC link is (ipc_client.c): each step waits for readiness or its deadline. */
enum ipc_step {
	IPC_IDLE,	 /* no link; reconnect_at says when to try */
	IPC_REGISTERING, /* KG_MSG_REGISTER sent, waiting for the listeners */
	IPC_CONFIGURING, /* listeners taken, KG_MSG_CONFIG_GET sent */
	IPC_READY,	 /* registered; a KG_MSG_CONFIG_GET may be pending (SIGHUP) */
};

struct kg_client {
	int epfd;
	bool stopping;
	uint64_t stop_deadline; /* monotonic usec, when stopping */
	char config_path[PATH_MAX];
	bool explicit_config;
	char socket_path[108];
	bool explicit_socket;
	struct kg_config local;	     /* the local file: socket_path, logging */
	struct client_settings *set; /* the service's, NULL until the first arrive; connections
				      * keep their own reference to the settings of their accept */
	char uid_str[16];

	/* IPC link to the service */
	struct src ipc_src;
	int ipc_fd;
	bool registered;
	bool ready_sent; /* READY=1 went out (after the first registration attempt) */
	unsigned backoff_ms;
	uint64_t reconnect_at; /* monotonic usec, 0: not scheduled; while a request waits for
				* its answer: that request's deadline (ipc_client.c) */
	enum ipc_step ipc_step;
	uint16_t ipc_req_type; /* the request waiting for its answer (0: none) */
	uint32_t ipc_req_seq;
	bool ipc_req_unsent; /* the socket was full: sent when writable */
	bool refreshing;     /* the request is a reload's: client_reload_done() when it ends */
	bool ready_owed;     /* READY=1 is due when the first registration attempt ends */
	int ipc_fatal;	     /* -errno that stops the client, handed over at the next tick */
	uint16_t reg_port4, reg_port6;
	uint64_t info_at;     /* next KG_MSG_CLIENT_INFO */
	bool info_pending;    /* its ticket status is with the Kerberos worker */
	bool info_again;      /* asked for again meanwhile */
	time_t warned_expiry; /* tgt_end already warned about */

	struct client_listener listeners[CLIENT_MAX_LISTENERS];

	struct src signal_src;
	int signal_fd;

	/* tunnels */
	struct relay_conn *conns; /* all live connections (doubly linked) */
	unsigned n_fds;		  /* descriptors held by connections */
	unsigned fd_cap;	  /* connection descriptors allowed */
	uint64_t tunnels_active, tunnels_total, tunnels_failed;
	uint64_t refused_no_origdst, refused_fd_cap;
	struct client_log_budget refusal_log;
	bool status_dirty;
	uint64_t status_at; /* monotonic usec: next STATUS= allowed */
	/* heap trim after bursts: next check (monotonic usec), tunnels_total at the last trim and
	 * at the last check */
	uint64_t trim_at, trim_total, tick_total;
};

/* main.c */
void client_update_status(struct kg_client *cl);
void client_on_signal(struct kg_client *cl);
/* A reload's fetch of the service's configuration has ended with r (0, or -errno). */
void client_reload_done(struct kg_client *cl, int r);
/* Global deadlines; lowers *next to the earliest one still pending. */
void client_on_tick(struct kg_client *cl, uint64_t now, uint64_t *next);

/* ipc_client.c: the link to the service, as steps that never wait (see its head comment). */
void ipc_client_schedule(struct kg_client *cl, unsigned delay_ms);
/* The link's timer, due at reconnect_at: starts a connection and registration when idle, ends
 * a request whose answer is overdue. 0 or -EINPROGRESS (under way), or -errno (a retry is
 * scheduled unless the error is fatal: -EPERM/-EINVAL mean the process cannot work at all). */
int ipc_client_on_timer(struct kg_client *cl);
/* What main.c's tick calls: ipc_client_on_timer(). */
int ipc_client_connect(struct kg_client *cl);
/* Register over fd, a connected KG socket (tests pass one end of a socketpair). Same returns
 * as ipc_client_on_timer(). */
int ipc_client_start(struct kg_client *cl, int fd);
/* Ask the service for its configuration again (SIGHUP): 0 (applied when the answer comes,
 * then client_reload_done()), -ENOTCONN, or -errno. */
int ipc_client_refresh(struct kg_client *cl);
/* Readiness of the link. The relay loop hands every event of the link to on_readable, which
 * does on_writable's work first when a request waits for room. */
void ipc_client_on_readable(struct kg_client *cl);
void ipc_client_on_writable(struct kg_client *cl);
/* The ticket report for the service (and the expiry warning): the ticket is looked at on the
 * Kerberos worker, whose answer comes back to ipc_client.c. */
void ipc_client_request_info(struct kg_client *cl);
/* Ends the registration: the IPC link and, with it, the listeners it brought (closed at once,
 * not drained: see ipc_client.c). */
void ipc_client_close(struct kg_client *cl);

/* relay.c: the loop */
int relay_loop_init(struct kg_client *cl);
int relay_loop_run(struct kg_client *cl);
int relay_watch(struct kg_client *cl, int fd, struct src *src, uint32_t events);
void relay_unwatch(struct kg_client *cl, int fd);
void relay_close_all(struct kg_client *cl);
void relay_loop_run_cleanup(struct kg_client *cl);

/* accept.c: connections waiting on a listener, each served or refused */
void accept_on_listener(struct kg_client *cl, struct client_listener *l);
/* The count of the refusals an interval did not log, once it is over; lowers *next to then. */
void accept_on_tick(struct kg_client *cl, uint64_t now, uint64_t *next);
