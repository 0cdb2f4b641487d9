/* The IPC protocol between the service, the user clients and kernelgatekeeper-ctl.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket (socket_path, world-connectable). Each message is
 * one datagram: a fixed header then a type-specific payload, both in host byte order (the peers
 * are on one machine). The service learns who is talking from SO_PEERCRED only; nothing in a
 * payload claims an identity. Listener descriptors travel as SCM_RIGHTS with KG_MSG_REGISTERED.
 *
 * Decoding is strict and bounded: a datagram larger than KG_IPC_MAX_MSG, a truncated header,
 * a wrong magic or version, an unknown type or a payload whose length does not fit the type is
 * rejected with -EBADMSG (-EPROTONOSUPPORT for a version mismatch) before anything reads it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kg_abi.h"
#include "shared/config.h"

#define KG_IPC_MAGIC	   0x4b474b31u /* "KGK1" */
#define KG_IPC_VERSION	   1
#define KG_IPC_MAX_MSG	   16384
#define KG_IPC_MAX_PAYLOAD (KG_IPC_MAX_MSG - sizeof(struct kg_ipc_hdr))

enum kg_msg_type {
	KG_MSG_ERROR = 1,      /* s->any: struct kg_ipc_error */
	KG_MSG_OK = 2,	       /* s->any: empty */
	KG_MSG_REGISTER = 3,   /* client->s: struct kg_ipc_register */
	KG_MSG_REGISTERED = 4, /* s->client: struct kg_ipc_registered + 2 fds (v4, v6 listener) */
	KG_MSG_CONFIG_GET = 5, /* client->s: empty */
	KG_MSG_CONFIG = 6,     /* s->client: "key=value\0" entries, see kg_ipc_config_next() */
	KG_MSG_NOTIFY_ACCEPT =
	    7,			/* s->client: struct kg_event for one of the client's connections */
	KG_MSG_STATUS_GET = 8,	/* any->s: empty */
	KG_MSG_STATUS = 9,	/* s->any: struct kg_ipc_status + n_clients kg_ipc_client_info */
	KG_MSG_PORTS_LIST = 10, /* any->s: empty */
	KG_MSG_PORTS_ADD = 11,	/* root->s: struct kg_ipc_port */
	KG_MSG_PORTS_REMOVE = 12, /* root->s: struct kg_ipc_port */
	KG_MSG_PORTS = 13,	  /* s->any: struct kg_ipc_ports */
	KG_MSG_STATS_GET = 14,	  /* any->s: empty */
	KG_MSG_STATS = 15,	  /* s->any: struct kg_ipc_stats */
	KG_MSG_WATCH = 16,	  /* any->s: empty; then KG_MSG_EVENT for every visible event */
	KG_MSG_EVENT = 17,	  /* s->watcher: struct kg_event */
	KG_MSG_CLIENT_INFO = 18,  /* client->s: struct kg_ipc_client_report (ticket state) */
	KG_MSG_CLIENT_ROUTE_STATE =
	    19, /* client->s: struct kg_ipc_route_state; KG_MSG_OK or KG_MSG_ERROR */
	KG_MSG_CLIENT_ROUTE = 20,   /* client->s: struct kg_ipc_route (uid 0); no answer */
	KG_MSG_ROUTE = 21,	    /* s->watcher: struct kg_ipc_route (uid the client's) */
	KG_MSG_CLIENT_WATCHED = 22, /* s->client: struct kg_ipc_watched; no answer */
	KG_MSG_TYPE_MAX,
};

struct kg_ipc_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t seq; /* replies echo the request's seq; unsolicited messages use 0 */
	uint32_t len; /* payload bytes following the header */
};

#define KG_IPC_TEXT_MAX	  256
#define KG_IPC_REASON_MAX 64 /* why a client goes direct: "no proxy reachable" */

struct kg_ipc_error {
	int32_t error;		       /* positive errno */
	char message[KG_IPC_TEXT_MAX]; /* NUL-terminated within the array */
};

/* What a client understands besides the requests' answers, in kg_ipc_register.caps: the
 * service sends it nothing else. The field was padding that services ignored, so a client
 * that sets it still registers with an older service (which then sends nothing new). */
#define KG_IPC_CAP_ROUTES 0x1u /* KG_MSG_CLIENT_WATCHED (and so sends route reports) */

/* kg_ipc_register.flags: 0 for a user's client. KG_IPC_REGISTER_SYSTEM: the system relay
 * (issue 17), accepted only from system.user's uid while system.enable is true; it serves the
 * uids of the service's own system.uids (resolved by the service), or with struct
 * kg_ipc_register_system those of its list, every one of which must be in system.uids. An older
 * service refuses any flag as malformed. */
#define KG_IPC_REGISTER_SYSTEM 0x1u
#define KG_IPC_SYSTEM_UIDS_MAX 32

struct kg_ipc_register {
	uint32_t flags; /* 0 or KG_IPC_REGISTER_SYSTEM */
	uint32_t caps;	/* KG_IPC_CAP_*; unknown bits are ignored */
};

/* KG_MSG_REGISTER of the system relay naming its uids (flags KG_IPC_REGISTER_SYSTEM). */
struct kg_ipc_register_system {
	struct kg_ipc_register reg;
	uint32_t n_uids; /* 1..KG_IPC_SYSTEM_UIDS_MAX */
	uint32_t pad;	 /* 0 */
	uint32_t uids[KG_IPC_SYSTEM_UIDS_MAX];
};

struct kg_ipc_registered {
	uint16_t port4;
	uint16_t port6;
	uint32_t n_fds; /* descriptors attached: [0] 127.0.0.1 listener, [1] ::1 listener */
};

struct kg_ipc_port {
	uint16_t port;
	uint16_t pad;
};

struct kg_ipc_ports {
	uint16_t n_ports;
	uint16_t allow_dynamic; /* 1 when root may change ports at run time */
	uint16_t ports[KG_MAX_TARGET_PORTS];
};

struct kg_ipc_client_report {
	char principal[KG_IPC_TEXT_MAX]; /* "" when the client has no ticket */
	int64_t ticket_expiry;		 /* unix time, 0 unknown */
	uint64_t tunnels_active;
	uint64_t tunnels_total;
	uint64_t tunnels_failed;
};

/* KG_MSG_CLIENT_ROUTE_STATE: the registered client's word on its own user (the uid of its
 * connection, never one named here). direct 1: the user is off the corporate network, the
 * datapath leaves the user's connections alone; 0: steer them again. The service forgets it
 * when the client's connection ends. */
struct kg_ipc_route_state {
	uint32_t direct;		/* 0 or 1 */
	uint32_t pad;			/* 0 */
	char reason[KG_IPC_REASON_MAX]; /* NUL-terminated printable text, "" allowed */
};

/* The route one connection of a client's user took (issue 13, `ctl watch`). The client sends
 * it as KG_MSG_CLIENT_ROUTE, fire and forget, only while the service has said that someone
 * may see it (KG_MSG_CLIENT_WATCHED); the service passes it on to the watchers allowed to see
 * the client's uid as KG_MSG_ROUTE. uid is never the client's to say: 0 in KG_MSG_CLIENT_ROUTE
 * (anything else is malformed), the SO_PEERCRED uid of the reporting client's connection in
 * KG_MSG_ROUTE. The texts are printable ASCII (the host without spaces), NUL-terminated, and
 * the bytes after the NUL are zero; the route is not empty. */
#define KG_IPC_HOST_MAX	 256 /* a DNS name (253), "" when the connection's name is unknown */
#define KG_IPC_ROUTE_MAX 160 /* "via p2:3128 (p1:3128 down)", "DIRECT by PAC", "failed: ..." */

struct kg_ipc_route {
	uint8_t dst_ip[16]; /* original destination, v4-mapped for IPv4 */
	uint16_t dst_port;
	uint16_t pad; /* 0 */
	uint32_t uid;
	char host[KG_IPC_HOST_MAX];
	char route[KG_IPC_ROUTE_MAX];
};

/* KG_MSG_CLIENT_WATCHED: whether a watcher that may see this client's uid exists (root's, or
 * the uid's own); the client sends route reports only while it does. Sent after the
 * registration when watched, and on every change. */
struct kg_ipc_watched {
	uint32_t watched; /* 0 or 1 */
	uint32_t pad;	  /* 0 */
};

struct kg_ipc_client_info {
	uint32_t uid;
	uint32_t pid;
	uint16_t port4;
	uint16_t port6;
	uint32_t direct;	  /* 1: the client said "direct" (KG_MSG_CLIENT_ROUTE_STATE) */
	uint64_t registered_usec; /* CLOCK_REALTIME */
	uint64_t redirected;	  /* connections steered to this client since it registered */
	struct kg_ipc_client_report report;
	uint64_t direct_since_usec;	       /* CLOCK_REALTIME, when direct; else 0 */
	char direct_reason[KG_IPC_REASON_MAX]; /* when direct; else "" */
};

struct kg_ipc_status {
	char version[32];
	uint64_t started_usec; /* CLOCK_REALTIME */
	uint32_t n_clients;    /* entries that follow (only the caller's own unless root) */
	uint32_t n_clients_total;
	uint32_t n_ports;
	uint32_t pad;
	char cgroup_path[KG_IPC_TEXT_MAX];
};

#define KG_IPC_MAX_CLIENT_INFOS                                                                    \
	((KG_IPC_MAX_PAYLOAD - sizeof(struct kg_ipc_status)) / sizeof(struct kg_ipc_client_info))

struct kg_ipc_stats {
	uint64_t counters[KG_STAT_MAX]; /* enum kg_stat, summed over CPUs */
	uint64_t events_total;
	uint64_t clients_registered_total;
	uint64_t ipc_errors;
};

/* A decoded message: the header and a pointer into the caller's buffer. */
struct kg_ipc_msg {
	struct kg_ipc_hdr hdr;
	const void *payload;
	size_t len;
};

/* Validate buf[0..n) as one message. 0, -EBADMSG or -EPROTONOSUPPORT. */
int kg_ipc_decode(const void *buf, size_t n, struct kg_ipc_msg *out);

/* Iterate "key=value\0" entries of a KG_MSG_CONFIG payload. *pos starts at 0. Returns 1 with
 * key/value (pointers into a caller buffer of KG_IPC_TEXT_MAX*2) filled, 0 at the end, -EBADMSG
 * on a malformed entry. */
int kg_ipc_config_next(const struct kg_ipc_msg *m, size_t *pos, char *key, size_t keylen,
		       char *value, size_t valuelen);
/* Append "key=value\0" to buf; -ENOSPC when it does not fit. */
int kg_ipc_config_add(void *buf, size_t cap, size_t *len, const char *key, const char *value);

/* A route report's rules (see struct kg_ipc_route): 0 or -EBADMSG. from_client: the
 * KG_MSG_CLIENT_ROUTE form, whose uid must be 0. */
int kg_ipc_route_check(const struct kg_ipc_route *r, int from_client);
/* Fill *out (zeroed first, uid 0) for KG_MSG_CLIENT_ROUTE. host may be NULL or "". 0, or
 * -EINVAL when a text is too long, not printable ASCII (a space in host) or the route empty. */
int kg_ipc_route_encode(struct kg_ipc_route *out, const uint8_t dst_ip[16], uint16_t dst_port,
			const char *host, const char *route);

/* Send one message with optional descriptors. 0 or -errno. */
int kg_ipc_send(int fd, uint16_t type, uint32_t seq, const void *payload, size_t len,
		const int *fds, size_t n_fds);
int kg_ipc_send_error(int fd, uint32_t seq, int error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A receive buffer for kg_ipc_recv(), aligned so payload structs can be read in place. */
typedef union {
	uint64_t align;
	uint8_t bytes[KG_IPC_MAX_MSG];
} kg_ipc_buf_t;

/* Receive one datagram into buf (at least KG_IPC_MAX_MSG bytes) and decode it. Up to max_fds
 * received descriptors are stored in fds (O_CLOEXEC) and their count in *n_fds; extra or
 * unexpected descriptors are closed. Returns 0, -EAGAIN, -ECONNRESET (peer closed), -EMSGSIZE
 * (datagram truncated), or a kg_ipc_decode() error. */
int kg_ipc_recv(int fd, void *buf, size_t cap, struct kg_ipc_msg *out, int *fds, size_t max_fds,
		size_t *n_fds);

/* Client side: connect to path (SOCK_SEQPACKET|SOCK_CLOEXEC). fd or -errno. */
int kg_ipc_connect(const char *path);
/* Send a request and wait (timeout_ms) for the reply with the same seq; other messages that
 * arrive meanwhile (events) are discarded. 0 or -errno; a KG_MSG_ERROR reply gives
 * -reply.error and leaves the message in *out. */
int kg_ipc_call(int fd, uint16_t type, const void *payload, size_t len, void *buf, size_t cap,
		struct kg_ipc_msg *out, int *fds, size_t max_fds, size_t *n_fds, int timeout_ms);

const char *kg_msg_type_name(uint16_t type);
