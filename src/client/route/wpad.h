/* WPAD discovery: where the PAC file is when proxy.wpad_url is empty (wpad.c).
 *
 * The candidates, in the order they are fetched (pac_fetch.h takes the list as it is):
 *   0. DHCP option 252 as NetworkManager holds it, over D-Bus (nm_wpad.h: its internal
 *      client keeps the option in memory only); kg_nm_wpad_candidates() puts it first, as it
 *      is the lease of a connection that is up now, where a lease file may be stale;
 *   1. DHCP option 252, from the lease files the DHCP clients leave (kg_wpad_dhcp_url());
 *   2. http://wpad.<domain>/wpad.dat for each search domain of resolv.conf, walking up one
 *      label at a time (kg_wpad_dns_candidates()).
 * The client makes the list on the PAC fetch's worker thread (kg_pac_fetch_start_list()),
 * anew at each fetch, so at each network change: none of it runs on the relay's loop.
 * A DNS candidate whose name does not resolve fails at once in the fetch: "it is tried only
 * if it resolves" needs no resolver here.
 *
 * DHCP leases, by client (every file is read only up to KG_WPAD_FILE_MAX bytes, a longer one
 * is skipped; at most KG_WPAD_DIR_FILES files per directory; the newest file, by mtime, that
 * holds a usable URL wins, as it belongs to the most recent lease):
 *   - systemd-networkd, /run/systemd/netif/leases/<ifindex>: KEY=VALUE lines. networkd keeps
 *     the options it does not know in the private range 224..254, option 252 included, and
 *     writes them as OPTION_252=<hex of the raw bytes> (it has no WPAD= key). The server only
 *     sends 252 when asked: [DHCPv4] RequestOptions=252 in the .network file. Later systemd
 *     releases write the lease as JSON: that format is not read.
 *   - NetworkManager, /var/lib/NetworkManager:
 *       internal-<uuid>-<iface>.lease (its internal client): the nettools client of current
 *       NetworkManager writes only ADDRESS= there, so option 252 cannot be found in it (NM
 *       keeps it in memory, on D-Bus as the "wpad" option of Dhcp4Config: nm_wpad.h reads
 *       it there; it is not in NM's device state files, /run/NetworkManager/devices/
 *       <ifindex>, either, which hold managed, connection-uuid, route metrics, next-server,
 *       root-path and dhcp-bootfile only; dispatcher scripts get it as DHCP4_WPAD);
 *       releases that used systemd's DHCP code wrote systemd's format, with OPTION_252=,
 *       which is read as above;
 *       dhclient-<uuid>-<iface>.lease (its dhclient backend): dhclient's format, below.
 *       NetworkManager's generated dhclient.conf declares "option wpad code 252 = string".
 *   - ISC dhclient, /var/lib/dhcp/dhclient*.leases (not dhclient6*: DHCPv6 has no 252):
 *     "lease { ... option wpad "http://..."; ... expire 3 2026/12/09 04:00:00; }" blocks,
 *     the newest last. The option is found under the name dhclient.conf gave code 252
 *     ("wpad" as NetworkManager and most configurations name it, "option-252"), or
 *     "unknown-252" when nothing named it; its value is a quoted string (with \ooo and \"
 *     escapes) or colon-separated hex bytes. The last block that holds it and has not
 *     expired (expire in UTC, "expire never", "expire epoch N") wins.
 * The value must be an http:// or https:// URL of printable ASCII; the trailing NUL bytes
 * some servers (Microsoft's) append are dropped (kg_wpad_check_url(), which nm_wpad.c uses
 * too).
 *
 * The DNS walk: the search list is the last "search" or "domain" line of resolv.conf (the
 * rule of resolv.conf(5)), its domains lower-cased, a trailing dot dropped; a domain that is
 * not plain ASCII LDH (an IDN must be in its xn-- form), has an empty or too long label, or
 * is too long, is skipped. For corp.example.co.uk the candidates are wpad.corp.example.co.uk
 * then wpad.example.co.uk, and the walk stops: it never reaches a single label (a TLD) nor a
 * public suffix (libpsl's built-in list, private section included: github.io, co.uk, ...;
 * unknown TLDs count as suffixes). The registrable domain itself (example.co.uk, example.com)
 * is used, as Windows' devolution does: it belongs to the organisation the host is in.
 * Chromium and Firefox now ask only the bare "wpad" name (left to the resolver's search
 * list), which this walk covers for the first domain and extends, bounded as the issue asks.
 * Without a public suffix list (libpsl built without one) there is no walk: only the search
 * domains themselves, when they have at least two labels.
 *
 * The retry schedule (kg_wpad_retry_delay()): after a fetch that found no PAC the client goes
 * DIRECT and tries again after 8 s, 32 s, 2 min, then every 4 h; after a PAC was fetched it
 * is fetched again after 12 h; a network change (netwatch.h) starts over with a fetch now.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KG_WPAD_URL_MAX	       1024	    /* bytes of a URL, with its NUL */
#define KG_WPAD_DOMAIN_MAX     254	    /* bytes of a domain name, with its NUL */
#define KG_WPAD_SEARCH_MAX     8	    /* search domains used at most */
#define KG_WPAD_CANDIDATES_MAX 16	    /* = KG_PAC_FETCH_MAX_URLS */
#define KG_WPAD_FILE_MAX       (256 * 1024) /* bytes of a lease file or resolv.conf at most */
#define KG_WPAD_DIR_FILES      256	    /* files looked at per lease directory at most */

/* An option 252 value (value[0..n), any bytes) into url when it is usable: trailing NULs and
 * whitespace dropped, then http:// or https:// and a host, printable ASCII only. 0, -EBADMSG
 * (not usable) or -E2BIG (does not fit url_sz). Every source of option 252 goes through it:
 * the lease parsers below and NetworkManager's D-Bus answer (nm_wpad.h). */
int kg_wpad_check_url(const void *value, size_t n, char *url, size_t url_sz);

/* Parsers of lease contents (no I/O): 0 with the URL in url, -ENOENT when the lease holds no
 * option 252 (or only expired leases do), -EBADMSG when it does but its value is not a usable
 * URL (a malformed value, not http(s), control bytes), -E2BIG when len > KG_WPAD_FILE_MAX or
 * the URL does not fit url_sz. buf need not be NUL-terminated. */
int kg_wpad_parse_keyfile(const char *buf, size_t len, char *url, size_t url_sz);
/* now: the time to compare "expire" with; 0 ignores expiry. */
int kg_wpad_parse_dhclient(const char *buf, size_t len, time_t now, char *url, size_t url_sz);

/* Where the lease files are; NULL skips a client. */
struct kg_wpad_dirs {
	const char *networkd; /* /run/systemd/netif/leases */
	const char *nm;	      /* /var/lib/NetworkManager */
	const char *dhclient; /* /var/lib/dhcp */
};
#define KG_WPAD_DIRS_DEFAULT                                                                       \
	((struct kg_wpad_dirs){.networkd = "/run/systemd/netif/leases",                            \
			       .nm = "/var/lib/NetworkManager",                                    \
			       .dhclient = "/var/lib/dhcp"})

/* Option 252 from the newest lease that has one: 0 with url (and the file it came from in
 * from, may be NULL), -ENOENT when none has. Unreadable directories and files are skipped. */
int kg_wpad_dhcp_url(const struct kg_wpad_dirs *dirs, time_t now, char *url, size_t url_sz,
		     char *from, size_t from_sz);

struct kg_wpad_search {
	size_t n;
	char domain[KG_WPAD_SEARCH_MAX][KG_WPAD_DOMAIN_MAX];
};

/* The search list of resolv.conf contents (no I/O); always succeeds, n may be 0. Invalid
 * domains are skipped, duplicates dropped, the first KG_WPAD_SEARCH_MAX kept. */
void kg_wpad_parse_resolv(const char *buf, size_t len, struct kg_wpad_search *out);
/* The same from a file (/etc/resolv.conf); 0 or -errno (out->n is 0 then). */
int kg_wpad_read_resolv(const char *path, struct kg_wpad_search *out);

/* Normalizes one domain name (lower case, no trailing dot) into out; false when it is not a
 * usable name (see above). */
bool kg_wpad_domain_normalize(const char *in, size_t len, char out[KG_WPAD_DOMAIN_MAX]);

struct kg_wpad_candidates {
	size_t n;
	char url[KG_WPAD_CANDIDATES_MAX][KG_WPAD_URL_MAX];
};

/* Appends url to c unless c is full, url too long or already in c; true when added. */
bool kg_wpad_candidate_add(struct kg_wpad_candidates *c, const char *url);

/* Appends the DNS candidates for one (normalized) domain, walking up as above, skipping URLs
 * already in c; returns how many were added (0 also when c is full). */
size_t kg_wpad_dns_candidates(const char *domain, struct kg_wpad_candidates *c);

/* Everything, in order: the DHCP URL (dirs may be NULL: none), then the DNS candidates of
 * each search domain of resolv_conf (NULL: none). c->n may be 0: no PAC can be found. */
void kg_wpad_candidates(const struct kg_wpad_dirs *dirs, const char *resolv_conf, time_t now,
			struct kg_wpad_candidates *c);

/* The retry schedule, in seconds until the next fetch: found (a PAC was fetched) gives
 * 12 h; otherwise failures, the number of failed attempts in a row including this one
 * (1, 2, 3, ...), gives 8 s, 32 s, 120 s, then 4 h. A network change resets failures to 0
 * and fetches at once (no delay). */
#define KG_WPAD_REFETCH_S    (12u * 3600u)
#define KG_WPAD_RETRY_LAST_S (4u * 3600u)
unsigned kg_wpad_retry_delay(unsigned failures, bool found);
