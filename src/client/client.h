/* kernelgatekeeper-client: the process's state, shared by main.c, the IPC link and the tunnels.
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

#include "client/loop.h"
#include "client/route/failover.h"
#include "client/settings.h"
#include "shared/config.h"
#include "shared/ipc.h"
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

struct kg_client;

struct client_listener {
	struct kg_loop_source src; /* accept.c */
	int fd;
	struct kg_client *cl;
	struct kg_loop_timer retry; /* accept.c: out of descriptors, the listener rests */
};

/* Lines a peer can make the client write (another user dialling the relay port): one per
 * interval, then a count of the others (accept.c). */
struct client_log_budget {
	uint64_t last_at;	    /* monotonic usec of the last line, 0: none yet */
	uint64_t unlogged;	    /* events in the interval since last_at */
	struct kg_loop_timer timer; /* the end of that interval, while unlogged */
};

struct relay_conn;

/* Where the IPC link is (ipc_client.c): each step waits for readiness or its deadline. */
enum ipc_step {
	IPC_IDLE,	 /* no link; reconnect_timer says when to try */
	IPC_REGISTERING, /* KG_MSG_REGISTER sent, waiting for the listeners */
	IPC_CONFIGURING, /* listeners taken, KG_MSG_CONFIG_GET sent */
	IPC_READY,	 /* registered; a KG_MSG_CONFIG_GET may be pending (SIGHUP) */
};

struct kg_client {
	bool stopping;
	struct kg_loop_timer stop_timer; /* the end of the grace, when stopping (main.c) */
	char config_path[PATH_MAX];
	bool explicit_config;
	char socket_path[108];
	bool explicit_socket;
	struct kg_config local;	     /* the local file: socket_path, logging */
	struct client_settings *set; /* the service's, NULL until the first arrive; connections
				      * keep their own reference to the settings of their accept */
	char uid_str[16];
	/* --system: the system relay (issue 17), with the keytab's tickets (auth/keytab.h). */
	bool system;

	/* IPC link to the service */
	struct kg_loop_source ipc_src;
	int ipc_fd;
	bool registered;
	bool ready_sent; /* READY=1 went out (after the first registration attempt) */
	unsigned backoff_ms;
	/* armed: a registration attempt is scheduled, or, while a request waits for its answer,
	 * that request's deadline (ipc_client.c) */
	struct kg_loop_timer reconnect_timer;
	enum ipc_step ipc_step;
	uint16_t ipc_req_type; /* the request waiting for its answer (0: none) */
	uint32_t ipc_req_seq;
	bool ipc_req_unsent; /* the socket was full: sent when writable */
	bool refreshing;     /* the request is a reload's: reload_done() when it ends */
	bool refresh_queued; /* a reload's fetch waits for the route request's answer */
	bool ready_owed;     /* READY=1 is due when the first registration attempt ends */
	int ipc_fatal;	     /* -errno that stops the client, handed over by the timer */
	uint16_t reg_port4, reg_port6;
	/* A reload's fetch of the service's configuration has ended with r (0, or -errno):
	 * main.c's, called by ipc_client.c. */
	void (*reload_done)(struct kg_client *cl, int r);
	/* New settings are in cl->set; upstream_changed: connections under the old ones go
	 * another way out (ipc_client.c calls it; main.c's retires port-80 connections and
	 * starts the policy). */
	void (*settings_applied)(struct kg_client *cl, bool upstream_changed);
	/* A proxy of a route failed to connect (connected false) or connected (upstream.c calls
	 * it; main.c's tells the policy). May be NULL. */
	void (*proxy_result)(struct kg_client *cl, bool connected);
	/* Warm connections to http proxies (warm.h): set by warm_init(), NULL without a pool. */
	const struct warm_iface *warm;
	struct client_policy *policy;	 /* policy.h: PAC, WPAD, off the network; NULL when none */
	struct kg_loop_timer info_timer; /* next KG_MSG_CLIENT_INFO (while registered) */
	bool info_pending;		 /* its ticket status is with the Kerberos worker */
	bool info_again;		 /* asked for again meanwhile */
	time_t warned_expiry;		 /* tgt_end already warned about */
	/* Off the corporate network (ipc_client_set_direct): what this client wants the service
	 * to do with its user, since when and why; route_dirty: the service has not been told
	 * (since the last change or registration); route_told: it answered OK to the state in
	 * force. */
	bool route_direct;
	bool route_dirty;
	bool route_told;
	time_t route_since;
	char route_reason[KG_IPC_REASON_MAX];
	/* Route reports (ipc_report.c): sent only while the service says a watcher may see them
	 * (KG_MSG_CLIENT_WATCHED); those a full IPC socket could not take are dropped. */
	bool route_watched;
	uint64_t routes_reported, routes_dropped;

	struct client_listener listeners[CLIENT_MAX_LISTENERS];

	struct kg_loop_source signal_src;
	int signal_fd;

	struct kg_loop_source authq_src; /* the Kerberos worker's eventfd (auth/authq.h) */

	/* tunnels */
	struct relay_conn *conns; /* all live connections (doubly linked) */
	unsigned n_fds;		  /* descriptors held by connections */
	unsigned fd_cap;	  /* connection descriptors allowed */
	uint64_t tunnels_active, tunnels_total, tunnels_failed;
	uint64_t refused_no_origdst, refused_fd_cap;
	/* Which proxies failed to connect lately, for every route (upstream.c): skipped for 5
	 * minutes by new connections. */
	struct kg_failover failover;
	struct client_log_budget refusal_log;
	/* accept(2) out of descriptors or memory (accept.c): failures since the last success, and
	 * when the last line about them was written */
	uint64_t accept_failures, accept_failure_logged_at;
	bool status_dirty;
	uint64_t status_at; /* monotonic usec: next STATUS= allowed */
	struct kg_loop_timer status_timer;
	/* heap trim after bursts: the periodic check, tunnels_total at the last trim and at the
	 * last check */
	struct kg_loop_timer trim_timer;
	uint64_t trim_total, tick_total;
};
