/* The service's handle on the eBPF datapath: load, probe, attach, map updates, stats, events. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kg_abi.h"
#include "shared/config.h"

struct kg_datapath;

/* ev is the datapath's own copy of the record: the callee may fill it in. */
typedef void (*kg_event_fn)(void *userdata, struct kg_event *ev);

/* Check that the kernel has every program and map type the datapath needs. 0, or -EOPNOTSUPP
 * with a sentence naming what is missing in why. */
int kg_datapath_probe(char *why, size_t whylen);

/* Load the programs and attach them (bpf_link) to the cgroup2 directory cgroup_dir. Nothing is
 * steered until target ports are set and a client registers. On failure returns -errno and a
 * sentence in why. */
int kg_datapath_open(struct kg_datapath **ret, const char *cgroup_dir, kg_event_fn on_event,
		     void *userdata, char *why, size_t whylen);
/* Detach the programs; the maps stay until kg_datapath_close(). On stop this comes first: the
 * entries that vouch for the relay listeners must outlive the programs that read them. Accepts
 * NULL. */
void kg_datapath_detach(struct kg_datapath *dp);
/* Detach everything and free. Accepts NULL. */
void kg_datapath_close(struct kg_datapath *dp);

int kg_datapath_set_ports(struct kg_datapath *dp, const uint16_t *ports, unsigned n);
int kg_datapath_set_bypass(struct kg_datapath *dp, const struct kg_cidr *cidrs, unsigned n);
int kg_datapath_set_proxy_endpoints(struct kg_datapath *dp, const struct kg_endpoint *eps,
				    unsigned n);
int kg_datapath_client_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			   uint16_t port6);
/* Undo kg_datapath_client_add with the same ports; a relay_ports entry that another uid owns is
 * left alone. kg_datapath_client_add fails with -EEXIST when a port is already someone's. */
int kg_datapath_client_remove(struct kg_datapath *dp, uid_t uid, uint16_t port4, uint16_t port6);
/* The user's client says whether the user is off the corporate network: direct leaves the
 * user's connections alone (KG_CLIENT_F_DIRECT) until it is cleared or the entry goes with
 * kg_datapath_client_remove. -ENOENT without a kg_datapath_client_add entry. */
int kg_datapath_client_set_direct(struct kg_datapath *dp, uid_t uid, bool direct);
/* The system relay (issue 17): its listeners vouched for as owner's (the relay's uid, which then
 * may ask SO_ORIGINAL_DST of the connections steered to them), and each uid it serves steered to
 * them with kg_datapath_steer_add (process_map only; -EEXIST when the uid has an entry).
 * kg_datapath_client_remove(owner, port4, port6) undoes kg_datapath_relay_add. */
int kg_datapath_relay_add(struct kg_datapath *dp, uid_t owner, uint16_t port4, uint16_t port6);
int kg_datapath_steer_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			  uint16_t port6);
int kg_datapath_steer_remove(struct kg_datapath *dp, uid_t uid);
/* ebpf.block_quic: refuse UDP to a target port (QUIC) from the users whose TCP is steered. */
int kg_datapath_set_block_quic(struct kg_datapath *dp, bool block);
int kg_datapath_stats(struct kg_datapath *dp, uint64_t out[KG_STAT_MAX]);
/* How many entries connection_map holds (KG_MAX_CONNECTIONS unless a test shrank it). */
unsigned kg_datapath_connection_map_size(struct kg_datapath *dp);

/* The ring buffer's epoll fd for the event loop, and the drain call when it is readable. */
int kg_datapath_event_fd(struct kg_datapath *dp);
/* live: the programs wake the event fd for every event. Otherwise only once a quarter of the
 * ring is unread, and the caller drains on a timer. */
int kg_datapath_set_live_events(struct kg_datapath *dp, bool live);
int kg_datapath_consume(struct kg_datapath *dp);
