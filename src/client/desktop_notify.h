/* Desktop notices of the user's Kerberos ticket (issue 18): one notice through
 * org.freedesktop.Notifications on the user's session bus when the ticket is missing, has
 * expired or ends within kerberos.warn_before, saying to run kinit.
 *
 * The relay's loop only decides (desktop_notify_ticket()); the D-Bus work (connect, Hello,
 * Notify or CloseNotification) runs on a short-lived thread with a deadline of
 * DESKTOP_NOTIFY_TIMEOUT_MS, at most one at a time, so a session bus that never answers costs
 * the relay nothing. Without a session bus ($DBUS_SESSION_BUS_ADDRESS, else
 * $XDG_RUNTIME_DIR/bus) nothing is sent and that is logged once, at debug.
 *
 * One notice per state (missing; expired; ends within warn_before, per end time), each kind
 * at most once per DESKTOP_NOTIFY_RATE_S; each replaces the previous one (replaces_id), and a
 * ticket valid beyond warn_before closes it and forgets the rate limit.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define DESKTOP_NOTIFY_TIMEOUT_MS 5000	    /* connect + Hello + the call, on the thread */
#define DESKTOP_NOTIFY_RATE_S	  (10 * 60) /* per kind of notice */
#define DESKTOP_NOTIFY_APP	  "KernelGatekeeper"

struct negotiate_ticket;

enum desktop_notify_kind {
	DESKTOP_NOTIFY_NONE, /* the ticket is fine */
	DESKTOP_NOTIFY_MISSING,
	DESKTOP_NOTIFY_EXPIRED,
	DESKTOP_NOTIFY_EXPIRING,
	DESKTOP_NOTIFY_KINDS,
};

/* What desktop_notify_ticket() did. */
enum desktop_notify_result {
	DESKTOP_NOTIFY_NOTHING,	     /* the ticket is fine and no notice is shown */
	DESKTOP_NOTIFY_SENT,	     /* a notice went to the thread */
	DESKTOP_NOTIFY_CLOSED,	     /* the ticket came back: the notice is being closed */
	DESKTOP_NOTIFY_SAME,	     /* already noticed */
	DESKTOP_NOTIFY_RATE_LIMITED, /* a notice of this kind went out lately */
	DESKTOP_NOTIFY_BUSY,	     /* the previous call is still on its way: next time */
	DESKTOP_NOTIFY_NO_BUS,	     /* no session bus, or notices are off */
};

/* The kind of notice the ticket calls for at now: tk NULL or without a TGT is missing. */
enum desktop_notify_kind desktop_notify_classify(const struct negotiate_ticket *tk, time_t now,
						 unsigned warn_before);
/* The relay's ticket report (on the loop's thread): sends, replaces or closes the notice.
 * mono_s: a monotonic clock in seconds, for the rate limit. */
enum desktop_notify_result desktop_notify_ticket(const struct negotiate_ticket *tk, time_t now,
						 uint64_t mono_s, unsigned warn_before);
/* Off for good (a relay without a user session, e.g. a system-wide one); tests turn it back
 * on. */
void desktop_notify_set_enabled(bool on);
/* Whether a call is still on its thread (tests wait for it). */
bool desktop_notify_busy(void);
/* Forget everything (tests): no notice shown, no rate limit. */
void desktop_notify_reset(void);
