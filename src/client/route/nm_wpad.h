/* WPAD from NetworkManager over D-Bus: DHCP option 252 as NetworkManager's internal DHCP
 * client keeps it, in memory only (nm_wpad.c; the lease files of the other clients are read
 * by wpad.c, whose head comment says why this one's lease file cannot be used).
 *
 * The walk, on the system bus ($DBUS_SYSTEM_BUS_ADDRESS when set, as sd_bus_open_system()
 * does, else /run/dbus/system_bus_socket), read-only, with NetworkManager's own properties
 * (its bus policy lets any user read them):
 *   org.freedesktop.NetworkManager /org/freedesktop/NetworkManager
 *     PrimaryConnection (o), then ActiveConnections (ao): at most KG_NM_WPAD_CONNECTIONS_MAX
 *     active connections, the primary one first, "/" (none) skipped;
 *   each one's Dhcp4Config (o, org.freedesktop.NetworkManager.Connection.Active), "/" when it
 *   has no DHCPv4 lease;
 *   that object's Options (a{sv}, org.freedesktop.NetworkManager.DHCP4Config), key "wpad":
 *   a string variant (NetworkManager asks servers for 252 by default). At most
 *   KG_NM_WPAD_OPTIONS_MAX entries are looked at.
 * The first connection whose value is usable wins. The value goes through kg_wpad_check_url()
 * (wpad.h), as the lease files' do, after the "\000" escapes NetworkManager writes for the
 * trailing NUL bytes some servers append are dropped (a D-Bus string cannot hold a NUL: NM
 * escapes such bytes as backslash and three octal digits).
 *
 * Every call is bounded as a whole by one deadline (timeout_ms: the connection, the bus's
 * Hello and every property read): a bus or a NetworkManager that does not answer costs that
 * much at most. Calls are sent with auto-start off, so a NetworkManager that is not running
 * is never started by D-Bus activation. No bus, or no NetworkManager on it, is the common
 * case on servers and with systemd-networkd: it is reported as -ENXIO and logged at debug
 * level only.
 *
 * It blocks (up to the deadline): call it off the relay's loop, as policy.c does from the
 * PAC fetch's worker thread (pac_fetch.h), again at each fetch, so at each network change.
 */
#pragma once

#include <stddef.h>
#include <time.h>

#include "client/route/wpad.h"

#define KG_NM_WPAD_TIMEOUT_MS	      2000 /* the whole D-Bus walk, in the client */
#define KG_NM_WPAD_CONNECTIONS_MAX    8	   /* active connections read at most */
#define KG_NM_WPAD_OPTIONS_MAX	      256  /* entries of one Options dictionary looked at */
#define KG_NM_WPAD_SYSTEM_BUS_DEFAULT "unix:path=/run/dbus/system_bus_socket"

/* Option 252 of NetworkManager's active connections into url. 0: found; -ENOENT:
 * NetworkManager answered, but no active connection has a usable "wpad" option (none, or
 * only values that are not usable URLs); -ENXIO: no system bus, or no NetworkManager on it;
 * -ETIMEDOUT: the deadline passed; another -errno for any other failure (the bus closed,
 * out of memory). */
int kg_nm_wpad_url(unsigned timeout_ms, char *url, size_t url_sz);

/* Every WPAD candidate, in order: NetworkManager's option 252 (timeout_ms 0: not asked), the
 * lease files' option 252 (dirs, NULL: none), then the DNS candidates of resolv_conf's search
 * domains (NULL: none); duplicates dropped. NetworkManager's answer comes first because it
 * is the lease of a connection that is up now, where a lease file may be left over from an
 * earlier network (a dhclient lease that has not expired yet). Blocks: see above. */
void kg_nm_wpad_candidates(unsigned timeout_ms, const struct kg_wpad_dirs *dirs,
			   const char *resolv_conf, time_t now, struct kg_wpad_candidates *c);
