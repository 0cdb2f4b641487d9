/* Desktop notices of the user's Kerberos ticket over org.freedesktop.Notifications (see
 * desktop_notify.h).
 *
 * Why a thread and not the bus on the relay's loop: a notice is rare (a few an hour at most),
 * and a call on a fresh connection from a detached thread with its own deadline needs no
 * sd-bus state, fd or timer on the loop and nothing at shutdown; the loop only reads two
 * atomics. At most one thread at a time: while one is busy, the next notice waits for the
 * next ticket report (a minute later).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/negotiate.h"
#include "client/desktop_notify.h"
#include "shared/log.h"

#define DN_NAME "org.freedesktop.Notifications"
#define DN_PATH "/org/freedesktop/Notifications"
#define DN_ICON "dialog-password"
#define DN_ADDR 1024 /* bytes of a bus address we take, with its NUL */
#define DN_TEXT 512

enum dn_op { DN_NOTIFY, DN_CLOSE };

struct dn_call {
	enum dn_op op;
	char addr[DN_ADDR];
	char summary[128];
	char body[DN_TEXT];
	uint8_t urgency;   /* 1 normal, 2 critical */
	int32_t expire_ms; /* -1: the server's default, 0: until closed */
};

/* The loop thread's (desktop_notify_ticket and the test helpers only). */
static struct {
	bool off;
	bool no_bus_logged;
	enum desktop_notify_kind shown; /* the notice on screen, as far as we know */
	time_t shown_end;
	bool sent[DESKTOP_NOTIFY_KINDS];
	uint64_t sent_at[DESKTOP_NOTIFY_KINDS];
} st;

/* Shared with the thread. */
static atomic_bool busy;
static atomic_uint shown_id; /* the server's id of our notice, 0: none */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The session bus's address as sd_bus_open_user() finds it, into buf; -ENOENT: none. */
static int session_address(char *buf, size_t sz)
{
	const char *a = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *d = getenv("XDG_RUNTIME_DIR");
	char path[DN_ADDR];

	if (a && a[0]) {
		if (strlen(a) >= sz)
			return -ENAMETOOLONG;
		memcpy(buf, a, strlen(a) + 1);
		return 0;
	}
	/* Only a plain absolute path is put into an address unescaped. */
	if (!d || d[0] != '/' ||
	    strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789/_.-") != strlen(d))
		return -ENOENT;
	if ((size_t)snprintf(path, sizeof(path), "%s/bus", d) >= sizeof(path) ||
	    access(path, F_OK) < 0)
		return -ENOENT;
	if ((size_t)snprintf(buf, sz, "unix:path=%s", path) >= sz)
		return -ENAMETOOLONG;
	return 0;
}

/* Connects and waits for Hello's answer before deadline (sd_bus_call() alone would wait for it
 * without one). */
static int bus_open(const char *addr, uint64_t deadline, sd_bus **ret)
{
	sd_bus *bus = NULL;
	uint64_t now;
	int r;

	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sd_bus_set_address(bus, addr);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	while (r >= 0) {
		r = sd_bus_is_ready(bus);
		if (r != 0)
			break;
		r = sd_bus_process(bus, NULL);
		if (r != 0)
			continue;
		now = now_us();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		r = sd_bus_wait(bus, deadline - now);
	}
	if (r < 0) {
		sd_bus_unref(bus);
		return r;
	}
	*ret = bus;
	return 0;
}

static int call(sd_bus *bus, const struct dn_call *c, uint64_t deadline)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	uint64_t now = now_us();
	uint32_t id = atomic_load(&shown_id);
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	r = sd_bus_message_new_method_call(bus, &m, DN_NAME, DN_PATH, DN_NAME,
					   c->op == DN_CLOSE ? "CloseNotification" : "Notify");
	if (r < 0)
		return r;
	if (c->op == DN_CLOSE)
		r = sd_bus_message_append(m, "u", id);
	else {
		r = sd_bus_message_append(m, "susssas", DESKTOP_NOTIFY_APP, id, DN_ICON, c->summary,
					  c->body, 0);
		if (r >= 0)
			r = sd_bus_message_open_container(m, 'a', "{sv}");
		if (r >= 0)
			r = sd_bus_message_append(m, "{sv}", "urgency", "y", c->urgency);
		if (r >= 0)
			r = sd_bus_message_close_container(m);
		if (r >= 0)
			r = sd_bus_message_append(m, "i", c->expire_ms);
	}
	if (r >= 0)
		r = sd_bus_call(bus, m, deadline - now, &err, &reply);
	if (r < 0)
		log_debug("desktop notice: %s: %s",
			  c->op == DN_CLOSE ? "CloseNotification" : "Notify",
			  err.message ? err.message : strerror(-r));
	else if (c->op == DN_CLOSE)
		atomic_store(&shown_id, 0);
	else if (sd_bus_message_read(reply, "u", &id) > 0)
		atomic_store(&shown_id, id);
	sd_bus_error_free(&err);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	return r < 0 ? r : 0;
}

static void *call_thread(void *arg)
{
	struct dn_call *c = arg;
	uint64_t deadline = now_us() + (uint64_t)DESKTOP_NOTIFY_TIMEOUT_MS * 1000u;
	sd_bus *bus = NULL;
	int r;

	r = bus_open(c->addr, deadline, &bus);
	if (r < 0)
		log_debug("desktop notice: no session bus at %s: %s", c->addr, strerror(-r));
	else
		(void)call(bus, c, deadline);
	sd_bus_flush_close_unref(bus);
	free(c);
	atomic_store(&busy, false);
	return NULL;
}

/* Hands c to a new thread (which frees it); false when none could be started. */
static bool start_call(struct dn_call *c)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	int r;

	if (pthread_attr_init(&attr) != 0) {
		free(c);
		return false;
	}
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Signals stay with the loop (signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	atomic_store(&busy, true);
	r = pthread_create(&t, &attr, call_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_store(&busy, false);
		free(c);
		log_debug("desktop notice: no thread: %s", strerror(r));
		return false;
	}
	return true;
}

/* The principal for a notice's body: markup characters (some servers read it) become '?'. */
static void plain(char *dst, size_t sz, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < sz; i++)
		dst[i] = strchr("<>&\"'", src[i]) ? '?' : src[i];
	dst[i] = '\0';
}

static void compose(struct dn_call *c, enum desktop_notify_kind kind,
		    const struct negotiate_ticket *tk, time_t now)
{
	char who[300] = "";

	if (tk && tk->principal[0]) {
		who[0] = ' ';
		who[1] = '(';
		plain(who + 2, sizeof(who) - 3, tk->principal);
		strcat(who, ")");
	}
	c->op = DN_NOTIFY;
	c->urgency = kind == DESKTOP_NOTIFY_EXPIRING ? 1 : 2;
	c->expire_ms = kind == DESKTOP_NOTIFY_EXPIRING ? -1 : 0;
	switch (kind) {
	case DESKTOP_NOTIFY_MISSING:
		snprintf(c->summary, sizeof(c->summary), "No Kerberos ticket");
		snprintf(c->body, sizeof(c->body),
			 "You have no Kerberos ticket; web access through the proxy fails until "
			 "you run kinit.");
		break;
	case DESKTOP_NOTIFY_EXPIRED:
		snprintf(c->summary, sizeof(c->summary), "Kerberos ticket expired");
		snprintf(c->body, sizeof(c->body),
			 "Your Kerberos ticket%s has expired; web access through the proxy fails "
			 "until you run kinit.",
			 who);
		break;
	default:
		snprintf(c->summary, sizeof(c->summary), "Kerberos ticket expires soon");
		snprintf(c->body, sizeof(c->body),
			 "Your Kerberos ticket%s expires in %ld min; run kinit (or kinit -R) "
			 "before then to keep web access through the proxy.",
			 who, (long)(tk->tgt_end - now + 59) / 60);
		break;
	}
}

/* A new call to the session bus, or NULL (no bus: logged once). */
static struct dn_call *new_call(void)
{
	struct dn_call *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	r = session_address(c->addr, sizeof(c->addr));
	if (r < 0) {
		if (!st.no_bus_logged)
			log_debug(
			    "no session bus ($DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR/bus):"
			    " Kerberos ticket notices go to the journal only");
		st.no_bus_logged = true;
		free(c);
		return NULL;
	}
	return c;
}

enum desktop_notify_kind desktop_notify_classify(const struct negotiate_ticket *tk, time_t now,
						 unsigned warn_before)
{
	if (!tk || !tk->has_tgt)
		return DESKTOP_NOTIFY_MISSING;
	if (tk->tgt_end <= now)
		return DESKTOP_NOTIFY_EXPIRED;
	if (warn_before && tk->tgt_end - now < (time_t)warn_before)
		return DESKTOP_NOTIFY_EXPIRING;
	return DESKTOP_NOTIFY_NONE;
}

enum desktop_notify_result desktop_notify_ticket(const struct negotiate_ticket *tk, time_t now,
						 uint64_t mono_s, unsigned warn_before)
{
	enum desktop_notify_kind kind = desktop_notify_classify(tk, now, warn_before);
	time_t end = tk && tk->has_tgt ? tk->tgt_end : 0;
	struct dn_call *c;

	if (st.off)
		return DESKTOP_NOTIFY_NO_BUS;
	if (kind == DESKTOP_NOTIFY_NONE) {
		/* Renewed: the next trouble is noticed at once. */
		memset(st.sent, 0, sizeof(st.sent));
		if (st.shown == DESKTOP_NOTIFY_NONE)
			return DESKTOP_NOTIFY_NOTHING;
		if (atomic_load(&busy))
			return DESKTOP_NOTIFY_BUSY;
		st.shown = DESKTOP_NOTIFY_NONE;
		if (!atomic_load(&shown_id))
			return DESKTOP_NOTIFY_NOTHING;
		c = new_call();
		if (!c)
			return DESKTOP_NOTIFY_NO_BUS;
		c->op = DN_CLOSE;
		return start_call(c) ? DESKTOP_NOTIFY_CLOSED : DESKTOP_NOTIFY_BUSY;
	}
	if (kind == st.shown && end == st.shown_end)
		return DESKTOP_NOTIFY_SAME;
	if (st.sent[kind] && mono_s - st.sent_at[kind] < DESKTOP_NOTIFY_RATE_S)
		return DESKTOP_NOTIFY_RATE_LIMITED;
	if (atomic_load(&busy))
		return DESKTOP_NOTIFY_BUSY;
	c = new_call();
	if (!c)
		return DESKTOP_NOTIFY_NO_BUS;
	compose(c, kind, tk, now);
	if (!start_call(c))
		return DESKTOP_NOTIFY_BUSY;
	st.shown = kind;
	st.shown_end = end;
	st.sent[kind] = true;
	st.sent_at[kind] = mono_s;
	return DESKTOP_NOTIFY_SENT;
}

void desktop_notify_set_enabled(bool on)
{
	st.off = !on;
}

bool desktop_notify_busy(void)
{
	return atomic_load(&busy);
}

void desktop_notify_reset(void)
{
	bool off = st.off;

	memset(&st, 0, sizeof(st));
	st.off = off;
	atomic_store(&shown_id, 0);
}
