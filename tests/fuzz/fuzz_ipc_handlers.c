// fuzz-sources: src/service/ipc_server.c src/service/ipc_handlers.c src/service/ipc_watch.c
// fuzz-sources: src/shared/ipc.c
// fuzz-sources: src/shared/netutil.c src/shared/log.c src/shared/ratelimit.c src/shared/text.c
// fuzz-sources: src/shared/config.c src/shared/config_scan.c src/shared/config_wire.c
// fuzz-sources: src/shared/ccname.c src/shared/config_url.c src/shared/config_store.c
// fuzz-sources: src/shared/config_system.c src/service/system_relay.c
// fuzz-libs: -lconfig -lsystemd
// fuzz-cflags: -D_GNU_SOURCE -DPACKAGE_VERSION="fuzz"
/* libFuzzer target for the service's IPC message handlers (src/service/ipc_server.c,
 * ipc_watch.c) behind the decoder that fuzz_ipc.c covers: each input is a conversation of up to
 * four peers with a real server (its listening socket in a private temporary directory, the
 * service's sd-event loop run until idle after each step). The datapath and the service's glue
 * are link seams: stub definitions below, as in the unit tests, so no BPF is needed.
 *
 * Input: byte 0 sets the service (bit 0: ebpf.allow_dynamic_ports, bit 1: the datapath refuses
 * new entries, bits 2-3: target ports in force); then records of
 *   [peer] [type] [len, 2 bytes little-endian] [len bytes of payload]
 * peer bits 0-1 pick a peer; a peer not connected yet connects and takes the uid of bits 2-3
 * (0, 1000, 1001 or 4000000; the service's SO_PEERCRED result is replaced, as the handlers read
 * the identity from the connection); bit 7 closes the peer instead of sending. type bit 7 gives
 * the payload the size the type's struct has (len is ignored), else len is taken modulo
 * PAYLOAD_MAX. A payload cut short by the end of the input is zero-padded.
 *
 * Invariants, after every step: each answer the peers receive decodes, and any descriptors it
 * carries are closed; at most one registered client per uid and none for root; the counters
 * agree with the connection list; only clients are direct. After each input every peer closes
 * and the service must free each of their connections: no descriptor and no allocation
 * survives an input (the server's listening socket and loop are made once).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "service/datapath.h"
#include "service/service.h"
#include "shared/ipc.h"
#include "shared/log.h"

#define PEERS	    4
#define PAYLOAD_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* As fuzz_config.c: libconfig 1.5's lexer leaks at some syntax errors (never reached here). */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

/* ---- Link seams: the datapath and the service's glue ---------------------------------------- */

static bool dp_refuses;

int kg_datapath_client_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			   uint16_t port6)
{
	(void)dp, (void)uid, (void)tgid, (void)port4, (void)port6;
	return dp_refuses ? -ENOSPC : 0;
}

int kg_datapath_client_remove(struct kg_datapath *dp, uid_t uid, uint16_t port4, uint16_t port6)
{
	(void)dp, (void)uid, (void)port4, (void)port6;
	return 0;
}

int kg_datapath_relay_add(struct kg_datapath *dp, uid_t owner, uint16_t port4, uint16_t port6)
{
	(void)dp, (void)owner, (void)port4, (void)port6;
	return dp_refuses ? -ENOSPC : 0;
}

int kg_datapath_steer_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			  uint16_t port6)
{
	(void)dp, (void)uid, (void)tgid, (void)port4, (void)port6;
	return dp_refuses ? -ENOSPC : 0;
}

int kg_datapath_steer_remove(struct kg_datapath *dp, uid_t uid)
{
	(void)dp, (void)uid;
	return 0;
}

int kg_datapath_client_set_direct(struct kg_datapath *dp, uid_t uid, bool direct)
{
	(void)dp, (void)uid, (void)direct;
	return 0;
}

int kg_datapath_stats(struct kg_datapath *dp, uint64_t out[KG_STAT_MAX])
{
	(void)dp;
	memset(out, 0, KG_STAT_MAX * sizeof(out[0]));
	return 0;
}

int kg_datapath_consume(struct kg_datapath *dp)
{
	(void)dp;
	return 0;
}

void kg_service_update_status(struct kg_service *svc)
{
	(void)svc;
}

void kg_service_events_changed(struct kg_service *svc)
{
	kg_ipc_server_update_watched(svc);
}

int kg_service_apply_ports(struct kg_service *svc, const uint16_t *ports, unsigned n)
{
	assert(n <= KG_MAX_TARGET_PORTS);
	memcpy(svc->ports, ports, n * sizeof(ports[0]));
	svc->n_ports = n;
	return 0;
}

/* ---- The conversation --------------------------------------------------------------------- */

/* The size of a request's payload struct (0: none). */
static size_t request_size(unsigned type)
{
	switch (type) {
	case KG_MSG_REGISTER:
		return sizeof(struct kg_ipc_register);
	case KG_MSG_PORTS_ADD:
	case KG_MSG_PORTS_REMOVE:
		return sizeof(struct kg_ipc_port);
	case KG_MSG_CLIENT_INFO:
		return sizeof(struct kg_ipc_client_report);
	case KG_MSG_CLIENT_ROUTE_STATE:
		return sizeof(struct kg_ipc_route_state);
	case KG_MSG_CLIENT_ROUTE:
		return sizeof(struct kg_ipc_route);
	default:
		return 0;
	}
}

static char dir[64];
/* Built once: the loop, the listening socket and the service around them. A fresh server per
 * input cost more than the handlers (a socket file bound, chmod-ed and unlinked, a new loop, and
 * ASan's fresh zeroed pages for the large allocations while freed ones sit in quarantine). Each
 * input starts from the same state: every connection of the last one was freed (checked), and
 * the service's fields other than the loop and the listening socket are set again. */
static struct kg_service svc_storage;

/* At exit, after close_server (registered later, so run first): the directory. */
static void remove_dir(void)
{
	rmdir(dir);
}

/* At exit: the server, with its socket file, and the loop. */
static void close_server(void)
{
	kg_ipc_server_close(&svc_storage);
	svc_storage.event = sd_event_unref(svc_storage.event);
}

static struct kg_config cfg_defaults;

static void setup_once(void)
{
	struct kg_service *svc = &svc_storage;
	sd_event_source *timer;

	if (dir[0])
		return;
	/* Not $TMPDIR: the socket path must stay short (sun_path). */
	snprintf(dir, sizeof(dir), "%s/kg-fuzz-ipc.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	kg_log_set_level(LOG_EMERG); /* quiet: the handlers log every refusal */

	kg_config_defaults(&cfg_defaults);
	snprintf(cfg_defaults.socket_path, sizeof(cfg_defaults.socket_path), "%s/ipc.sock", dir);
	cfg_defaults.client.listen_port = 0; /* ephemeral relay listeners on loopback only */
	svc->cfg = cfg_defaults;
	svc->ipc_fd = -1;
	assert(sd_event_new(&svc->event) >= 0);
	/* The loop opens a timerfd for the first timer of a clock (each connection's idle timer)
	 * and keeps it: open it now, so that each input ends with the descriptors it began with. */
	assert(sd_event_add_time_relative(svc->event, &timer, CLOCK_MONOTONIC, 1000000, 0, NULL,
					  NULL) >= 0);
	sd_event_source_disable_unref(timer);
	assert(kg_ipc_server_open(svc) == 0);
	atexit(close_server);
}

/* The state each input starts from: no connection, the listening socket and loop kept. */
static void reset_service(struct kg_service *svc)
{
	sd_event *event = svc->event;
	sd_event_source *ipc_source = svc->ipc_source;
	int ipc_fd = svc->ipc_fd;

	assert(!svc->conns && svc->n_conns == 0 && svc->n_clients == 0);
	memset(svc, 0, sizeof(*svc));
	svc->event = event;
	svc->ipc_source = ipc_source;
	svc->ipc_fd = ipc_fd;
	svc->cfg = cfg_defaults;
}

/* Run the service's loop until nothing is pending. */
static void settle(struct kg_service *svc)
{
	while (sd_event_run(svc->event, 0) > 0)
		;
}

static void check_state(const struct kg_service *svc)
{
	const struct kg_conn *c, *o;
	unsigned n = 0, clients = 0;

	for (c = svc->conns; c; c = c->next) {
		n++;
		if (!c->is_client) {
			assert(!c->direct && c->n_listeners == 0);
			continue;
		}
		clients++;
		assert(c->uid != 0 && c->n_listeners >= 1 && c->n_listeners <= 2);
		for (o = c->next; o; o = o->next)
			assert(!(o->is_client && o->uid == c->uid));
	}
	assert(n == svc->n_conns && clients == svc->n_clients);
}

/* Every answer waiting for peer fd decodes; descriptors that came with it are closed. */
static void drain(int fd)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	int fds[4];
	size_t n_fds;
	int r;

	for (;;) {
		n_fds = 0;
		r = kg_ipc_recv(fd, buf.bytes, sizeof(buf.bytes), &m, fds, 4, &n_fds);
		for (size_t i = 0; i < n_fds; i++)
			close(fds[i]);
		if (r == -EAGAIN || r == -ECONNRESET)
			return;
		assert(r == 0);
		assert(m.hdr.type > 0 && m.hdr.type < KG_MSG_TYPE_MAX);
		assert(n_fds == 0 || m.hdr.type == KG_MSG_REGISTERED);
	}
}

/* A copy of the listening socket takes the lowest free descriptor (cheaper than opening a file). */
static int lowest_free_fd(void)
{
	int fd = fcntl(svc_storage.ipc_fd, F_DUPFD_CLOEXEC, 0);

	close(fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uid_t uids[4] = {0, 1000, 1001, 4000000};
	static const uint16_t some_ports[3] = {80, 443, 8080};
	uint8_t payload[PAYLOAD_MAX];
	struct kg_service *svc;
	int peers[PEERS] = {-1, -1, -1, -1};
	int fd_mark;
	uint32_t seq = 1;
	size_t off = 1;

	if (size < 1)
		return 0;
	setup_once();
	fd_mark = lowest_free_fd();

	svc = &svc_storage;
	reset_service(svc);
	svc->cfg.ebpf.allow_dynamic_ports = data[0] & 1;
	dp_refuses = (data[0] & 2) != 0;
	svc->n_ports = (data[0] >> 2) & 3;
	memcpy(svc->ports, some_ports, sizeof(some_ports));

	while (off + 4 <= size) {
		uint8_t who = data[off];
		unsigned type = (data[off + 1] & 0x7f) % KG_MSG_TYPE_MAX;
		size_t len = (data[off + 2] | (size_t)data[off + 3] << 8) % PAYLOAD_MAX, have;
		int p = who & 3;

		if (data[off + 1] & 0x80)
			len = request_size(type);
		off += 4;
		have = size - off < len ? size - off : len;
		memset(payload, 0, len);
		memcpy(payload, data + off, have);
		off += have;

		if (who & 0x80) {
			if (peers[p] >= 0) {
				close(peers[p]);
				peers[p] = -1;
				settle(svc);
			}
			check_state(svc);
			continue;
		}
		if (peers[p] < 0) {
			unsigned before = svc->n_conns;

			peers[p] = kg_ipc_connect(svc->cfg.socket_path);
			assert(peers[p] >= 0);
			assert(fcntl(peers[p], F_SETFL, O_NONBLOCK) == 0);
			settle(svc);
			if (svc->n_conns != before + 1) {
				/* Seen once in a campaign after 1.25 M runs, not with the input
				 * alone: say what the service did, for the next look. */
				fprintf(stderr,
					"connect of peer %d: n_conns %u -> %u, clients %u, newest "
					"connection fd %d uid %u client %d watcher %d\n",
					p, before, svc->n_conns, svc->n_clients,
					svc->conns ? svc->conns->fd : -1,
					svc->conns ? (unsigned)svc->conns->uid : 0,
					svc->conns ? (int)svc->conns->is_client : -1,
					svc->conns ? (int)svc->conns->watcher : -1);
				abort();
			}
			/* The newest connection is first in the list. */
			svc->conns->uid = uids[(who >> 2) & 3];
			svc->conns->pid = 4242 + p;
		}
		if (kg_ipc_send(peers[p], (uint16_t)type, seq++, payload, len, NULL, 0) < 0)
			continue;
		settle(svc);
		for (int i = 0; i < PEERS; i++)
			if (peers[i] >= 0)
				drain(peers[i]);
		check_state(svc);
	}

	for (int i = 0; i < PEERS; i++)
		if (peers[i] >= 0)
			close(peers[i]);
	/* The service frees each connection whose peer is gone. */
	settle(svc);
	assert(!svc->conns && svc->n_conns == 0 && svc->n_clients == 0);
	assert(lowest_free_fd() == fd_mark);
	return 0;
}
