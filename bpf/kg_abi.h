/* Layouts shared by the eBPF programs and userspace: map keys, map values, event records.
 * Only fixed-width types; addresses are always 16 bytes with IPv4 stored v4-mapped
 * (::ffff:a.b.c.d) so one key format serves AF_INET and AF_INET6 sockets alike.
 * Ports are host order unless a field name ends in _be.
 */
#ifndef KG_ABI_H
#define KG_ABI_H

#include <linux/types.h>

#define KG_MAX_CLIENTS	       4096
#define KG_MAX_CONNECTIONS     65536
#define KG_MAX_PROXY_ENDPOINTS 64
#define KG_MAX_BYPASS_ENTRIES  1024
#define KG_RINGBUF_BYTES       (256 * 1024)
/* Unread events that wake the service although nobody is watching: a quarter of the ring, so a
 * burst of connections cannot fill it between two timer drains. */
#define KG_RINGBUF_WAKE_BYTES (KG_RINGBUF_BYTES / 4)
#define KG_COMM_LEN	      16

/* kg_client_entry.flags */
#define KG_CLIENT_F_DIRECT                                                                         \
	1u /* the client says the user is off the corporate network: leave                         \
	    * the user's connections alone (KG_STAT_SKIP_DIRECT) */

/* process_map: uid -> the user's relay. One entry per registered client. */
struct kg_client_entry {
	__u32 client_tgid; /* the client process: its own connections are never redirected */
	__u16 port4;	   /* relay listener on 127.0.0.1 (also used for v4-mapped destinations) */
	__u16 port6;	   /* relay listener on [::1]; 0: native IPv6 is not redirected */
	__u32 flags;	   /* KG_CLIENT_F_*; 0 when the client registers */
	__u32 pad;
};

/* relay_ports key: a relay listener's port, with bit 16 set for the [::1] listener. The value
 * is the uid that owns it. */
#define KG_RELAY_PORT_KEY(is_v6, port) ((__u32)(port) | ((__u32)(!!(is_v6)) << 16))

/* connection_map key: the redirected connection as the relay's accepted socket sees it. */
struct kg_tuple {
	__u8 client_ip[16]; /* application side (v4-mapped for IPv4) */
	__u8 relay_ip[16];  /* 127.0.0.1 (mapped) or ::1 */
	__u16 client_port;
	__u16 relay_port;
	__u32 pad;
};

/* connection_map value and the body of every event. */
struct kg_orig_dst {
	__u8 ip[16];  /* original destination (v4-mapped for IPv4) */
	__u16 port;   /* original destination port */
	__u16 family; /* AF_INET or AF_INET6: family of the original destination as seen by the
		       * relay (a v4-mapped destination is AF_INET) */
	__u32 uid;    /* the application's uid (init user namespace) */
	__u32 pid;    /* the application's tgid at connect() */
	__u32 pad;
	__u64 cookie;		/* the application socket's cookie */
	char comm[KG_COMM_LEN]; /* filled in by the service from /proc; "" when the process is gone
				 */
};

enum kg_event_type {
	KG_EVENT_REDIRECT = 1, /* connect() rewritten to a relay; tuple known (TCP_CONNECT_CB) */
	KG_EVENT_CLOSE = 2,    /* redirected connection fully closed */
	KG_EVENT_QUIC_BLOCKED = 3, /* UDP connect()/sendmsg() to a target port refused (EPERM);
				    * no tuple (zero), dst says where and who; at most one per
				    * socket per KG_QUIC_EVENT_GAP_NS */
};

/* A socket that keeps trying QUIC is reported once per this long. */
#define KG_QUIC_EVENT_GAP_NS 1000000000ull

struct kg_event {
	__u32 type;
	__u32 pad;
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	struct kg_tuple tuple;
	struct kg_orig_dst dst;
};

/* bypass_v4 / bypass_v6 LPM keys. */
struct kg_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};
struct kg_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* proxy_endpoints key: a proxy address that must never be redirected. port 0: any port. */
struct kg_endpoint {
	__u8 ip[16];
	__u16 port;
	__u16 pad;
};

/* Counters in the per-CPU stats array, index = enum value. */
enum kg_stat {
	KG_STAT_CONNECT_SEEN = 0, /* connect4/6 ran for a TCP socket */
	KG_STAT_REDIRECTED,	  /* rewritten to a relay */
	KG_STAT_SKIP_PORT,	  /* not a target port */
	KG_STAT_SKIP_NO_CLIENT,	  /* uid has no registered client */
	KG_STAT_SKIP_SELF,	  /* the client's own connection */
	KG_STAT_SKIP_NETNS,	  /* other network namespace */
	KG_STAT_SKIP_LOCAL,	  /* loopback, link-local, unspecified */
	KG_STAT_SKIP_BYPASS,	  /* bypass CIDR or proxy endpoint */
	KG_STAT_ORIGDST_ANSWERED, /* SO_ORIGINAL_DST answered */
	KG_STAT_ORIGDST_DENIED,	  /* SO_ORIGINAL_DST asked by another uid */
	KG_STAT_EVENTS_DROPPED,	  /* ring buffer full */
	KG_STAT_SKIP_DIRECT,	  /* would be steered, but the user's client said "direct" */
	/* A steered connection's connection_map entry was gone at TCP_CLOSE: the map (an LRU
	 * hash) was full and evicted it for a newer one, or could not take it. Harmless once the
	 * relay has read SO_ORIGINAL_DST; before that the relay finds no entry and closes the
	 * connection (fail-closed, never mis-steered). */
	KG_STAT_CONNMAP_EVICTED,
	KG_STAT_QUIC_BLOCKED, /* UDP to a target port refused for a steered user (QUIC) */
	KG_STAT_MAX,
};

/* Settings written by the service before attaching (kg_settings[0]); live_events changes at
 * run time. */
struct kg_settings {
	__u64 netns_cookie; /* the service's network namespace; other namespaces are left alone */
	__u32 live_events;  /* 1: wake the service for every event (someone watches, or debug
			     * logging); 0: let events collect and wake it only past
			     * KG_RINGBUF_WAKE_BYTES, the service drains the rest on a timer */
	__u32 block_quic;   /* 1: refuse UDP to a target port from a user who would be steered
			     * (ebpf.block_quic): browsers then fall back to TCP */
};

/* SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST share the option number 80. */
#define KG_SO_ORIGINAL_DST 80

#endif
