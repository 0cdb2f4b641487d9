/* The service's handle on the eBPF datapath.
 *
 * Everything is attached through bpf_link and nothing is pinned: the links die with the service,
 * so a crashed service can never leave anyone's traffic pointed at a dead relay (fail-open).
 * Map contents are replaced "add new, then remove stale" so a reload never opens a window in
 * which a bypassed destination is steered.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "kernelgatekeeper.skel.h"
#include "service/datapath.h"
#include "shared/load_report.h"
#include "shared/log.h"
#include "shared/macro.h"
#include "shared/netutil.h"

struct kg_datapath {
	struct kg_bpf *skel;
	struct bpf_link *links[8];
	int cgroup_fd;
	struct ring_buffer *ring;
	kg_event_fn on_event;
	void *userdata;
	struct kg_settings settings;	     /* what settings[0] holds */
	uint16_t ports[KG_MAX_TARGET_PORTS]; /* what target_ports has on */
	unsigned n_ports;
};

struct feature {
	int is_map;
	int type;
	const char *what;
};

static const struct feature features[] = {
    {0, BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
     "cgroup sock_addr programs (connect4/6, getpeername4/6, sendmsg4/6)"},
    {0, BPF_PROG_TYPE_SOCK_OPS, "sock_ops programs"},
    {0, BPF_PROG_TYPE_CGROUP_SOCKOPT, "cgroup getsockopt programs (Linux 5.3)"},
    {1, BPF_MAP_TYPE_SK_STORAGE, "socket-local storage maps (Linux 5.2)"},
    {1, BPF_MAP_TYPE_LRU_HASH, "LRU hash maps"},
    {1, BPF_MAP_TYPE_LPM_TRIE, "LPM trie maps"},
    {1, BPF_MAP_TYPE_RINGBUF, "BPF ring buffers (Linux 5.8)"},
    {1, BPF_MAP_TYPE_PERCPU_ARRAY, "per-CPU array maps"},
};

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static bool has_cap(unsigned cap)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};

	if (syscall(SYS_capget, &h, d) < 0 || cap / 32 >= ARRAY_SIZE(d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* The capabilities the kernel wants for what the datapath does; NULL when they are there. A
 * probe refused for want of them looks like a missing feature (libbpf reports "unsupported"),
 * so this is asked before blaming the kernel. */
static const char *missing_caps(void)
{
	if (has_cap(CAP_SYS_ADMIN))
		return NULL; /* also what kernels before 5.8, which have no CAP_BPF, want */
	if (!has_cap(CAP_BPF))
		return has_cap(CAP_NET_ADMIN) ? "CAP_BPF" : "CAP_BPF and CAP_NET_ADMIN";
	return has_cap(CAP_NET_ADMIN) ? NULL : "CAP_NET_ADMIN";
}

int kg_datapath_probe(char *why, size_t whylen)
{
	const char *caps;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(features); i++) {
		const struct feature *f = &features[i];
		int r = f->is_map ? libbpf_probe_bpf_map_type(f->type, NULL)
				  : libbpf_probe_bpf_prog_type(f->type, NULL);

		if (r == 1)
			continue;
		caps = missing_caps();
		if (caps) {
			snprintf(
			    why, whylen,
			    "not allowed to load the BPF datapath: this process lacks %s (the "
			    "unit grants CAP_BPF and CAP_NET_ADMIN; check CapabilityBoundingSet= "
			    "in drop-ins)",
			    caps);
			return -EPERM;
		}
		if (r == -EPERM || r == -EACCES) {
			snprintf(
			    why, whylen,
			    "not allowed to use the bpf() system call (%s): run as root or with "
			    "CAP_BPF and CAP_NET_ADMIN",
			    strerror(-r));
			return -EPERM;
		}
		snprintf(why, whylen, "this kernel lacks %s%s%s", f->what, r < 0 ? ": " : "",
			 r < 0 ? strerror(-r) : "");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int ring_sample(void *ctx, void *data, size_t size)
{
	struct kg_datapath *dp = ctx;
	struct kg_event ev;

	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	if (dp->on_event)
		dp->on_event(dp->userdata, &ev);
	return 0;
}

void kg_datapath_detach(struct kg_datapath *dp)
{
	size_t i;

	if (!dp)
		return;
	for (i = 0; i < ARRAY_SIZE(dp->links); i++) {
		bpf_link__destroy(dp->links[i]);
		dp->links[i] = NULL;
	}
}

void kg_datapath_close(struct kg_datapath *dp)
{
	if (!dp)
		return;
	ring_buffer__free(dp->ring);
	kg_datapath_detach(dp);
	kg_bpf__destroy(dp->skel);
	if (dp->cgroup_fd >= 0)
		close(dp->cgroup_fd);
	free(dp);
}

/* Load the programs; a refusal is one sentence that names the program, the kernel and the
 * verifier's reason (its whole log is debug output), and -ENOEXEC. */
static int load(struct kg_datapath *dp, char *why, size_t whylen)
{
	struct kg_load_report report;
	struct utsname u;
	int r;

	kg_log_libbpf_capture(&report);
	r = kg_bpf__load(dp->skel);
	kg_log_libbpf_capture(NULL);
	if (r >= 0)
		return 0;
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(why, whylen, "the kernel (Linux %s) refused the BPF program %s: %s%s%s%s%s",
		 u.release, report.prog[0] ? report.prog : "(unnamed)",
		 report.error[0] ? report.error : strerror(-r), report.reason[0] ? " (\"" : "",
		 report.reason, report.reason[0] ? "\")" : "",
		 kg_log_get_level() >= LOG_DEBUG
		     ? ""
		     : "; log_level = \"debug\" logs the verifier's whole "
		       "output");
	return -ENOEXEC;
}

/* Tests only (tests/integration/datapath-overflow.sh): KG_TEST_CONNECTION_MAP_ENTRIES shrinks
 * connection_map before the load, so a few hundred held connections fill it. Said as a warning:
 * nothing but a test sets it (the systemd unit passes no environment). */
static void test_connection_map_size(struct kg_datapath *dp)
{
	const char *v = getenv("KG_TEST_CONNECTION_MAP_ENTRIES");
	unsigned long n;
	char *end;

	if (!v || !*v)
		return;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < 1 || n >= KG_MAX_CONNECTIONS ||
	    bpf_map__set_max_entries(dp->skel->maps.connection_map, (uint32_t)n) < 0) {
		log_warn("ignoring KG_TEST_CONNECTION_MAP_ENTRIES=%s (1..%u)", v,
			 KG_MAX_CONNECTIONS - 1);
		return;
	}
	log_warn("KG_TEST_CONNECTION_MAP_ENTRIES: connection_map holds %lu entries instead of %u "
		 "(a test setting)",
		 n, KG_MAX_CONNECTIONS);
}

int kg_datapath_open(struct kg_datapath **ret, const char *cgroup_dir, kg_event_fn on_event,
		     void *userdata, char *why, size_t whylen)
{
	struct kg_datapath *dp;
	struct bpf_program *progs[8];
	uint64_t netns_cookie = 0;
	uint32_t zero = 0;
	size_t i;
	int r;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->cgroup_fd = -1;
	dp->on_event = on_event;
	dp->userdata = userdata;

	dp->skel = kg_bpf__open();
	if (!dp->skel) {
		r = -errno;
		snprintf(why, whylen, "cannot open the embedded BPF object: %s", strerror(-r));
		goto fail;
	}
	test_connection_map_size(dp);
	r = load(dp, why, whylen);
	if (r < 0)
		goto fail;
	dp->cgroup_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->cgroup_fd < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot open cgroup %s: %s", cgroup_dir, strerror(-r));
		goto fail;
	}

	r = kg_netns_cookie(&netns_cookie);
	dp->settings.netns_cookie = netns_cookie;
	if (r < 0) {
		snprintf(why, whylen, "cannot read the network namespace cookie: %s (Linux 5.14)",
			 strerror(-r));
		goto fail;
	}
	r = bpf_map__update_elem(dp->skel->maps.settings, &zero, sizeof(zero), &dp->settings,
				 sizeof(dp->settings), BPF_ANY);
	if (r < 0) {
		snprintf(why, whylen, "cannot write the settings map: %s", strerror(-r));
		goto fail;
	}

	progs[0] = dp->skel->progs.kg_getsockopt;
	progs[1] = dp->skel->progs.kg_sockops;
	progs[2] = dp->skel->progs.kg_getpeername4;
	progs[3] = dp->skel->progs.kg_getpeername6;
	progs[4] = dp->skel->progs.kg_connect4;
	progs[5] = dp->skel->progs.kg_connect6;
	progs[6] = dp->skel->progs.kg_sendmsg4;
	progs[7] = dp->skel->progs.kg_sendmsg6;
	for (i = 0; i < ARRAY_SIZE(progs); i++) {
		dp->links[i] = bpf_program__attach_cgroup(progs[i], dp->cgroup_fd);
		if (!dp->links[i]) {
			r = -errno;
			snprintf(why, whylen, "cannot attach %s to %s: %s",
				 bpf_program__section_name(progs[i]), cgroup_dir, strerror(-r));
			goto fail;
		}
	}

	dp->ring = ring_buffer__new(bpf_map__fd(dp->skel->maps.notification_ringbuf), ring_sample,
				    dp, NULL);
	if (!dp->ring) {
		r = -errno;
		snprintf(why, whylen, "cannot set up the event ring buffer: %s", strerror(-r));
		goto fail;
	}
	*ret = dp;
	return 0;
fail:
	kg_datapath_close(dp);
	return r < 0 ? r : -EIO;
}

static bool port_listed(const uint16_t *ports, unsigned n, uint16_t port)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (ports[i] == port)
			return true;
	return false;
}

static int target_port_write(struct kg_datapath *dp, uint16_t port, uint8_t on)
{
	uint32_t key = port;

	return bpf_map__update_elem(dp->skel->maps.target_ports, &key, sizeof(key), &on, sizeof(on),
				    BPF_ANY);
}

int kg_datapath_set_ports(struct kg_datapath *dp, const uint16_t *ports, unsigned n)
{
	unsigned i;
	int r;

	if (n > KG_MAX_TARGET_PORTS)
		return -E2BIG;
	/* New ones first, then the stale ones: a port kept is never off in between. */
	for (i = 0; i < n; i++) {
		if (port_listed(dp->ports, dp->n_ports, ports[i]))
			continue;
		r = target_port_write(dp, ports[i], 1);
		if (r < 0)
			return r;
	}
	for (i = 0; i < dp->n_ports; i++) {
		if (port_listed(ports, n, dp->ports[i]))
			continue;
		r = target_port_write(dp, dp->ports[i], 0);
		if (r < 0)
			return r;
	}
	memcpy(dp->ports, ports, n * sizeof(ports[0]));
	dp->n_ports = n;
	return 0;
}

/* Replace the contents of a hash or trie map: insert every new key, then delete every key that
 * is not in the new set. keys: n * key_size bytes. The stale keys are collected in one walk
 * first: deleting while walking would restart the walk and turn a large list quadratic. */
static int map_replace(struct bpf_map *map, const void *keys, unsigned n, size_t key_size)
{
	uint8_t cur[64], one = 1, *stale;
	unsigned i, n_stale = 0, max = bpf_map__max_entries(map);
	int r = 0;

	if (key_size > sizeof(cur))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		r = bpf_map__update_elem(map, (const uint8_t *)keys + i * key_size, key_size, &one,
					 sizeof(one), BPF_ANY);
		if (r < 0)
			return r;
	}
	stale = calloc(max ? max : 1, key_size);
	if (!stale)
		return -ENOMEM;
	for (i = 0; i < max; i++) {
		unsigned j;
		int keep = 0;

		r = bpf_map__get_next_key(map, i ? cur : NULL, cur, key_size);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0)
			goto out;
		for (j = 0; j < n && !keep; j++)
			keep = memcmp(cur, (const uint8_t *)keys + j * key_size, key_size) == 0;
		if (!keep)
			memcpy(stale + (size_t)n_stale++ * key_size, cur, key_size);
	}
	for (i = 0; i < n_stale; i++) {
		r = bpf_map__delete_elem(map, stale + (size_t)i * key_size, key_size, 0);
		if (r < 0 && r != -ENOENT)
			goto out;
		r = 0;
	}
out:
	free(stale);
	return r;
}

int kg_datapath_set_bypass(struct kg_datapath *dp, const struct kg_cidr *cidrs, unsigned n)
{
	struct kg_lpm_v4 v4[KG_MAX_BYPASS];
	struct kg_lpm_v6 v6[KG_MAX_BYPASS];
	unsigned i, n4 = 0, n6 = 0;
	int r;

	if (n > KG_MAX_BYPASS)
		return -E2BIG;
	memset(v4, 0, sizeof(v4));
	memset(v6, 0, sizeof(v6));
	for (i = 0; i < n; i++) {
		if (cidrs[i].family == AF_INET) {
			v4[n4].prefixlen = cidrs[i].prefix_len;
			memcpy(v4[n4].addr, cidrs[i].addr, 4);
			n4++;
		} else {
			v6[n6].prefixlen = cidrs[i].prefix_len;
			memcpy(v6[n6].addr, cidrs[i].addr, 16);
			n6++;
		}
	}
	r = map_replace(dp->skel->maps.bypass_v4, v4, n4, sizeof(v4[0]));
	if (r < 0)
		return r;
	return map_replace(dp->skel->maps.bypass_v6, v6, n6, sizeof(v6[0]));
}

int kg_datapath_set_proxy_endpoints(struct kg_datapath *dp, const struct kg_endpoint *eps,
				    unsigned n)
{
	return map_replace(dp->skel->maps.proxy_endpoints, eps, n, sizeof(eps[0]));
}

/* The relay listeners of a client, for the datapath's SO_ORIGINAL_DST authority. An entry is
 * only ever created where none exists and only ever deleted by the uid it names: a port that was
 * freed and handed to the next user while the old entry lived must never let one user's
 * registration overwrite, or its departure delete, another user's entry. */
static int relay_port_add(struct kg_datapath *dp, uint32_t key, uid_t uid)
{
	uint32_t value = uid;

	return bpf_map__update_elem(dp->skel->maps.relay_ports, &key, sizeof(key), &value,
				    sizeof(value), BPF_NOEXIST);
}

static void relay_port_remove(struct kg_datapath *dp, uint32_t key, uid_t uid)
{
	uint32_t owner;

	if (bpf_map__lookup_elem(dp->skel->maps.relay_ports, &key, sizeof(key), &owner,
				 sizeof(owner), 0) < 0 ||
	    owner != (uint32_t)uid)
		return;
	bpf_map__delete_elem(dp->skel->maps.relay_ports, &key, sizeof(key), 0);
}

static void relay_ports_remove(struct kg_datapath *dp, const uint32_t keys[2], unsigned n,
			       uid_t uid)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if ((keys[i] & 0xffff) != 0)
			relay_port_remove(dp, keys[i], uid);
}

int kg_datapath_client_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			   uint16_t port6)
{
	struct kg_client_entry e = {.client_tgid = (uint32_t)tgid, .port4 = port4, .port6 = port6};
	uint32_t keys[2] = {KG_RELAY_PORT_KEY(0, port4), KG_RELAY_PORT_KEY(1, port6)};
	uint32_t key = uid;
	unsigned i;
	int r = 0;

	/* The listeners become authoritative before any connection can be steered to them. */
	for (i = 0; i < 2 && r == 0; i++)
		if ((keys[i] & 0xffff) != 0)
			r = relay_port_add(dp, keys[i], uid);
	if (r < 0) {
		relay_ports_remove(dp, keys, i - 1, uid);
		return r;
	}
	r = bpf_map__update_elem(dp->skel->maps.process_map, &key, sizeof(key), &e, sizeof(e),
				 BPF_NOEXIST);
	if (r < 0)
		relay_ports_remove(dp, keys, 2, uid);
	return r;
}

int kg_datapath_client_remove(struct kg_datapath *dp, uid_t uid, uint16_t port4, uint16_t port6)
{
	uint32_t keys[2] = {KG_RELAY_PORT_KEY(0, port4), KG_RELAY_PORT_KEY(1, port6)};
	uint32_t key = uid;
	int r;

	/* Nothing is steered to the ports any more before they stop being vouched for. */
	r = bpf_map__delete_elem(dp->skel->maps.process_map, &key, sizeof(key), 0);
	relay_ports_remove(dp, keys, 2, uid);
	return r;
}

int kg_datapath_relay_add(struct kg_datapath *dp, uid_t owner, uint16_t port4, uint16_t port6)
{
	uint32_t keys[2] = {KG_RELAY_PORT_KEY(0, port4), KG_RELAY_PORT_KEY(1, port6)};
	unsigned i;
	int r = 0;

	for (i = 0; i < 2 && r == 0; i++)
		if ((keys[i] & 0xffff) != 0)
			r = relay_port_add(dp, keys[i], owner);
	if (r < 0)
		relay_ports_remove(dp, keys, i - 1, owner);
	return r;
}

int kg_datapath_steer_add(struct kg_datapath *dp, uid_t uid, pid_t tgid, uint16_t port4,
			  uint16_t port6)
{
	struct kg_client_entry e = {.client_tgid = (uint32_t)tgid, .port4 = port4, .port6 = port6};
	uint32_t key = uid;

	return bpf_map__update_elem(dp->skel->maps.process_map, &key, sizeof(key), &e, sizeof(e),
				    BPF_NOEXIST);
}

int kg_datapath_steer_remove(struct kg_datapath *dp, uid_t uid)
{
	uint32_t key = uid;

	return bpf_map__delete_elem(dp->skel->maps.process_map, &key, sizeof(key), 0);
}

int kg_datapath_client_set_direct(struct kg_datapath *dp, uid_t uid, bool direct)
{
	struct kg_client_entry e;
	uint32_t key = uid;
	int r;

	/* Only the service writes process_map, so reading the entry back is no race; the update
	 * replaces it whole, and connect4/6 see the old entry or the new one. */
	r = bpf_map__lookup_elem(dp->skel->maps.process_map, &key, sizeof(key), &e, sizeof(e), 0);
	if (r < 0)
		return r;
	if (direct)
		e.flags |= KG_CLIENT_F_DIRECT;
	else
		e.flags &= ~KG_CLIENT_F_DIRECT;
	return bpf_map__update_elem(dp->skel->maps.process_map, &key, sizeof(key), &e, sizeof(e),
				    BPF_EXIST);
}

int kg_datapath_stats(struct kg_datapath *dp, uint64_t out[KG_STAT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	uint32_t i;
	int c, r = 0;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < KG_STAT_MAX; i++) {
		out[i] = 0;
		r = bpf_map__lookup_elem(dp->skel->maps.stats, &i, sizeof(i), vals,
					 sizeof(*vals) * (size_t)ncpu, 0);
		if (r < 0)
			break;
		for (c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return r;
}

unsigned kg_datapath_connection_map_size(struct kg_datapath *dp)
{
	return bpf_map__max_entries(dp->skel->maps.connection_map);
}

int kg_datapath_event_fd(struct kg_datapath *dp)
{
	return ring_buffer__epoll_fd(dp->ring);
}

static int settings_write(struct kg_datapath *dp, const struct kg_settings *next)
{
	uint32_t zero = 0;
	int r;

	if (memcmp(next, &dp->settings, sizeof(*next)) == 0)
		return 0;
	r = bpf_map__update_elem(dp->skel->maps.settings, &zero, sizeof(zero), next, sizeof(*next),
				 BPF_ANY);
	if (r < 0)
		return r;
	dp->settings = *next;
	return 0;
}

int kg_datapath_set_live_events(struct kg_datapath *dp, bool live)
{
	struct kg_settings next = dp->settings;

	next.live_events = live;
	return settings_write(dp, &next);
}

int kg_datapath_set_block_quic(struct kg_datapath *dp, bool block)
{
	struct kg_settings next = dp->settings;

	next.block_quic = block;
	return settings_write(dp, &next);
}

int kg_datapath_consume(struct kg_datapath *dp)
{
	return ring_buffer__consume(dp->ring);
}
