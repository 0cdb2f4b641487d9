/* The system service: state shared by its event loop, IPC server and datapath glue. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "service/datapath.h"
#include "shared/config.h"
#include "shared/ipc.h"
#include "shared/ratelimit.h"

#define KG_MAX_IPC_CONNS	  1024 /* all peers together */
#define KG_IPC_CONNS_ROOT_RESERVE 32   /* of those, only root may take the last ones */
#define KG_MAX_IPC_CONNS_PER_UID  16   /* besides its client; 1 for a uid without a passwd entry */
/* All uids without a passwd entry together, their clients included: one person holds
 * thousands of subordinate uids, so a limit per uid alone does not bound them. */
#define KG_IPC_CONNS_NO_PASSWD 128
#define KG_IPC_IDLE_USEC       (10 * 1000000ull) /* for a connection neither client nor watcher */
/* The relay listeners' backlog is net.core.somaxconn, read when each is created (the kernel caps
 * any listen() backlog there), never less than this floor: a burst of steered connects must not
 * find the queue full, or its SYNs are dropped and each waits 1 s for a retransmit (issue 15). */
#define KG_LISTEN_BACKLOG_FLOOR 1024
/* Route reports (KG_MSG_CLIENT_ROUTE) a client may have passed on to watchers per second; the
 * rest are dropped and counted. */
#define KG_ROUTE_REPORTS_PER_SEC 200

struct kg_service;

/* One IPC connection (a client daemon, a ctl invocation, a watcher). */
struct kg_conn {
	struct kg_service *svc;
	struct kg_conn *next;
	int fd;
	uid_t uid; /* SO_PEERCRED: the only identity we trust */
	pid_t pid;
	sd_event_source *source;
	bool watcher;
	bool is_client; /* registered: owns the uid's process_map entry */
	bool no_passwd; /* the uid has no passwd entry (KG_IPC_CONNS_NO_PASSWD) */
	uint16_t port4, port6;
	int listeners[2]; /* the service's own copies, held while the entries live */
	unsigned n_listeners;
	sd_event_source *idle_timer;
	uint64_t registered_usec;
	uint64_t redirected;
	struct kg_ipc_client_report report;
	/* The client's KG_MSG_CLIENT_ROUTE_STATE: the user is off the corporate network and the
	 * datapath leaves the user alone (KG_CLIENT_F_DIRECT), since when (CLOCK_REALTIME) and
	 * why. Gone with the connection, as the process_map entry that holds the flag. */
	bool direct;
	uint64_t direct_since_usec;
	char direct_reason[KG_IPC_REASON_MAX];
	/* Route reports (ipc_server.c): whether the client was told that someone may see them
	 * (KG_MSG_CLIENT_WATCHED), and the limit on what it may make the service pass on. */
	bool routes; /* the client said it understands KG_IPC_CAP_ROUTES */
	bool told_watched;
	struct kg_ratelimit route_rl;
	/* The system relay (is_client too; uid is system.user's): the uids it was admitted for
	 * (system_relay.h), and which of them it serves now (not while the uid's own client is
	 * registered), with the connections steered to it for each. */
	bool is_system;
	unsigned n_sys;
	uid_t sys_uids[KG_IPC_SYSTEM_UIDS_MAX];
	bool sys_served[KG_IPC_SYSTEM_UIDS_MAX];
	uint64_t sys_redirected[KG_IPC_SYSTEM_UIDS_MAX];
};

/* One of the datapath's fixed-size structures that fills silently in the kernel (service.c):
 * the counter value the journal last spoke of, and when. */
struct kg_limit_note {
	uint64_t said;
	uint64_t said_usec;
};

struct kg_service {
	sd_event *event;
	char config_path[4096];
	bool explicit_config; /* -c: a missing file is an error, not the defaults */
	struct kg_config cfg;
	char cgroup_dir[4096];
	struct kg_datapath *dp;
	int ipc_fd;
	sd_event_source *ipc_source, *ring_source, *stats_timer, *drain_timer, *limits_timer;
	struct kg_conn *conns;
	unsigned n_conns, n_clients;
	unsigned n_conns_no_passwd; /* of n_conns, from uids without a passwd entry */
	/* Target ports in force: the config's, or root's run-time changes until the next reload. */
	uint16_t ports[KG_MAX_TARGET_PORTS];
	unsigned n_ports;
	uint64_t started_usec;
	uint64_t events_total, clients_registered_total, ipc_errors;
	uint64_t routes_total, routes_dropped; /* route reports passed on, and dropped */
	uint64_t last_redirected;
	struct kg_limit_note connmap_note, ring_note; /* KG_STAT_CONNMAP_EVICTED, _EVENTS_DROPPED */
	int exit_code;
};

/* ipc_server.c */
int kg_ipc_server_open(struct kg_service *svc);
void kg_ipc_server_close(struct kg_service *svc);
/* Tell every registered client whether a watcher may see its route reports (a watcher or a
 * client came or went): KG_MSG_CLIENT_WATCHED on each change. */
void kg_ipc_server_update_watched(struct kg_service *svc);

/* Whether client c relays uid's connections (its own uid, or one the system relay serves);
 * then the counter of uid's steered connections to bump. NULL when it does not. */
uint64_t *kg_conn_serves(struct kg_conn *c, uid_t uid);

/* After a reload: a system relay registered for other uids than the new system { } admits
 * (disabled, another user, another list) is disconnected; it registers again if it may. */
void kg_ipc_server_system_recheck(struct kg_service *svc);

/* events.c: the datapath's kg_event_fn. */
void kg_service_on_event(void *userdata, struct kg_event *ev);

/* service.c */
void kg_service_update_status(struct kg_service *svc);
/* After a client or watcher came or went, or a reload: choose between live events and timer
 * drains. */
void kg_service_events_changed(struct kg_service *svc);
int kg_service_apply_ports(struct kg_service *svc, const uint16_t *ports, unsigned n);
/* Push everything of cfg that lives in maps: 0, or -errno with the reason in why. */
int kg_service_apply_config(struct kg_service *svc, const struct kg_config *cfg, char *why,
			    size_t whylen);
/* (Re)arm the stats timer for cfg.ebpf.stats_interval (0: off). The first call also starts
 * the timer that watches connection_map and the event ring fill up, whatever stats_interval. */
void kg_service_arm_stats_timer(struct kg_service *svc);
/* The ring buffer's descriptor is readable (an sd_event io handler). */
int kg_service_on_ring(sd_event_source *s, int fd, uint32_t revents, void *userdata);
/* A reload's new configuration, already loaded: pushed into the datapath and made current,
 * except what only a restart changes (socket_path, ebpf.cgroup_path). 0, or -errno (logged)
 * with the running configuration restored. */
int kg_service_reconfigure(struct kg_service *svc, struct kg_config *next);
