/* WPAD from NetworkManager's internal DHCP client over D-Bus, with sd-bus (see nm_wpad.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "client/route/nm_wpad.h"
#include "shared/log.h"

#define NM_NAME	       "org.freedesktop.NetworkManager"
#define NM_PATH	       "/org/freedesktop/NetworkManager"
#define NM_IFACE       "org.freedesktop.NetworkManager"
#define NM_ACTIVE      "org.freedesktop.NetworkManager.Connection.Active"
#define NM_DHCP4       "org.freedesktop.NetworkManager.DHCP4Config"
#define NM_PATH_MAX    512 /* bytes of an object path we keep, with its NUL */
#define NM_ESCAPED_NUL "\\000"

struct nm_bus {
	sd_bus *bus;
	uint64_t deadline; /* CLOCK_MONOTONIC, microseconds */
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The time left until the deadline, at least 1 us; -ETIMEDOUT when none is. */
static int left_us(const struct nm_bus *b, uint64_t *us)
{
	uint64_t now = now_us();

	if (now >= b->deadline)
		return -ETIMEDOUT;
	*us = b->deadline - now;
	return 0;
}

/* Connects and waits for the bus's answer to Hello, within the deadline (sd_bus_call() would
 * wait for it with sd-bus's own method call timeout, 25 s by default). */
static int bus_open(struct nm_bus *b)
{
	const char *addr = secure_getenv("DBUS_SYSTEM_BUS_ADDRESS");
	uint64_t us;
	int r;

	r = sd_bus_new(&b->bus);
	if (r < 0)
		return r;
	if (!addr || !addr[0])
		addr = KG_NM_WPAD_SYSTEM_BUS_DEFAULT;
	r = sd_bus_set_address(b->bus, addr);
	if (r >= 0)
		r = sd_bus_set_bus_client(b->bus, 1);
	if (r >= 0)
		r = sd_bus_start(b->bus);
	if (r < 0)
		return -ENXIO; /* no bus there */
	for (;;) {
		r = sd_bus_is_ready(b->bus);
		if (r > 0)
			return 0;
		if (r < 0)
			return -ENXIO;
		r = sd_bus_process(b->bus, NULL);
		if (r < 0)
			return -ENXIO;
		if (r > 0)
			continue;
		r = left_us(b, &us);
		if (r < 0)
			return r;
		r = sd_bus_wait(b->bus, us);
		if (r < 0)
			return -ENXIO;
	}
}

/* Properties.Get of NM_NAME's path/iface/prop; on success *reply is inside the variant, whose
 * contents must be of type sig (-EBADMSG otherwise). -ENXIO: no NetworkManager on the bus. */
static int get_prop(struct nm_bus *b, const char *path, const char *iface, const char *prop,
		    const char *sig, sd_bus_message **reply)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	uint64_t us;
	int r;

	*reply = NULL;
	r = left_us(b, &us);
	if (r < 0)
		return r;
	r = sd_bus_message_new_method_call(b->bus, &m, NM_NAME, path,
					   "org.freedesktop.DBus.Properties", "Get");
	if (r >= 0)
		r = sd_bus_message_append(m, "ss", iface, prop);
	/* Never start NetworkManager by D-Bus activation: only a running one is asked. */
	if (r >= 0)
		r = sd_bus_message_set_auto_start(m, 0);
	if (r >= 0)
		r = sd_bus_call(b->bus, m, us, &err, reply);
	sd_bus_message_unref(m);
	if (r < 0) {
		if (sd_bus_error_has_name(&err, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
		    sd_bus_error_has_name(&err, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
			r = -ENXIO;
		else if (sd_bus_error_has_name(&err, SD_BUS_ERROR_NO_REPLY) || r == -ETIMEDOUT)
			r = -ETIMEDOUT;
		sd_bus_error_free(&err);
		return r;
	}
	r = sd_bus_message_enter_container(*reply, 'v', sig);
	if (r <= 0) {
		*reply = sd_bus_message_unref(*reply);
		return -EBADMSG;
	}
	return 0;
}

/* An object path property into out ("/" included); -EBADMSG when it does not fit. */
static int get_path(struct nm_bus *b, const char *path, const char *iface, const char *prop,
		    char out[NM_PATH_MAX])
{
	sd_bus_message *m;
	const char *v;
	int r;

	r = get_prop(b, path, iface, prop, "o", &m);
	if (r < 0)
		return r;
	r = sd_bus_message_read(m, "o", &v);
	if (r > 0 && strlen(v) < NM_PATH_MAX)
		memcpy(out, v, strlen(v) + 1);
	else
		r = -EBADMSG;
	sd_bus_message_unref(m);
	return r < 0 ? r : 0;
}

static void add_path(char paths[][NM_PATH_MAX], size_t *n, const char *p)
{
	if (*n >= KG_NM_WPAD_CONNECTIONS_MAX || !strcmp(p, "/") || strlen(p) >= NM_PATH_MAX)
		return;
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(paths[i], p))
			return;
	memcpy(paths[(*n)++], p, strlen(p) + 1);
}

/* The active connections, the primary one first; -ENXIO etc. as get_prop(). */
static int active_connections(struct nm_bus *b, char paths[][NM_PATH_MAX], size_t *n)
{
	char primary[NM_PATH_MAX];
	sd_bus_message *m;
	const char *v;
	int r;

	*n = 0;
	r = get_path(b, NM_PATH, NM_IFACE, "PrimaryConnection", primary);
	if (r == -ENXIO || r == -ETIMEDOUT)
		return r;
	if (r == 0)
		add_path(paths, n, primary);
	r = get_prop(b, NM_PATH, NM_IFACE, "ActiveConnections", "ao", &m);
	if (r < 0)
		return *n > 0 && r != -ETIMEDOUT ? 0 : r;
	r = sd_bus_message_enter_container(m, 'a', "o");
	while (r > 0 && *n < KG_NM_WPAD_CONNECTIONS_MAX &&
	       (r = sd_bus_message_read(m, "o", &v)) > 0)
		add_path(paths, n, v);
	sd_bus_message_unref(m);
	return 0;
}

/* The "wpad" entry of a DHCP4Config object's Options into url: 0, -ENOENT (none), -EBADMSG
 * (not a usable URL, or not a string), -E2BIG, or a bus error. */
static int dhcp4_wpad(struct nm_bus *b, const char *dhcp, char *url, size_t url_sz)
{
	sd_bus_message *m;
	const char *key, *contents, *v;
	unsigned seen = 0;
	size_t len;
	char type;
	int r, found = -ENOENT;

	r = get_prop(b, dhcp, NM_DHCP4, "Options", "a{sv}", &m);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r > 0 && seen++ < KG_NM_WPAD_OPTIONS_MAX &&
	       (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &key);
		if (r <= 0)
			break;
		if (strcmp(key, "wpad") != 0) {
			r = sd_bus_message_skip(m, "v");
		} else if (sd_bus_message_peek_type(m, &type, &contents) > 0 && type == 'v' &&
			   contents && !strcmp(contents, "s") &&
			   sd_bus_message_read(m, "v", "s", &v) > 0) {
			len = strlen(v);
			while (len >= 4 && !memcmp(v + len - 4, NM_ESCAPED_NUL, 4))
				len -= 4;
			found = kg_wpad_check_url(v, len, url, url_sz);
			break;
		} else {
			found = -EBADMSG;
			break;
		}
		if (r < 0)
			break;
		r = sd_bus_message_exit_container(m);
	}
	sd_bus_message_unref(m);
	return found;
}

int kg_nm_wpad_url(unsigned timeout_ms, char *url, size_t url_sz)
{
	char paths[KG_NM_WPAD_CONNECTIONS_MAX][NM_PATH_MAX], dhcp[NM_PATH_MAX];
	struct nm_bus b = {.bus = NULL, .deadline = now_us() + (uint64_t)timeout_ms * 1000u};
	size_t n = 0;
	int r;

	r = bus_open(&b);
	if (r == -ENXIO)
		log_debug("WPAD: no system bus, NetworkManager not asked");
	if (r < 0)
		goto out;
	r = active_connections(&b, paths, &n);
	if (r == -ENXIO)
		log_debug("WPAD: NetworkManager is not on the system bus");
	if (r < 0)
		goto out;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		int one = get_path(&b, paths[i], NM_ACTIVE, "Dhcp4Config", dhcp);

		if (one == 0)
			one = strcmp(dhcp, "/") != 0 ? dhcp4_wpad(&b, dhcp, url, url_sz) : -ENOENT;
		if (one == 0 || one == -ETIMEDOUT) {
			r = one;
			break;
		}
		if (one == -EBADMSG || one == -E2BIG)
			log_debug("WPAD: NetworkManager's option 252 on %s is not a usable URL",
				  paths[i]);
		/* Else none there, or a connection that went away meanwhile: the next one. */
	}
out:
	if (r == -ETIMEDOUT)
		log_debug("WPAD: NetworkManager did not answer within %u ms", timeout_ms);
	/* Not flushed: nothing of ours is worth waiting for on a bus that does not read. */
	if (b.bus) {
		sd_bus_close(b.bus);
		sd_bus_unref(b.bus);
	}
	return r;
}

void kg_nm_wpad_candidates(unsigned timeout_ms, const struct kg_wpad_dirs *dirs,
			   const char *resolv_conf, time_t now, struct kg_wpad_candidates *c)
{
	struct kg_wpad_candidates *rest;
	char url[KG_WPAD_URL_MAX];

	c->n = 0;
	if (timeout_ms > 0 && kg_nm_wpad_url(timeout_ms, url, sizeof(url)) == 0) {
		log_debug("WPAD: NetworkManager's DHCP option 252: %s", url);
		kg_wpad_candidate_add(c, url);
	}
	rest = malloc(sizeof(*rest));
	if (!rest)
		return;
	kg_wpad_candidates(dirs, resolv_conf, now, rest);
	for (size_t i = 0; i < rest->n; i++)
		kg_wpad_candidate_add(c, rest->url[i]);
	free(rest);
}
