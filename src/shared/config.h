/* The configuration file (libconfig syntax, DESIGN.md §5): schema, defaults and validation.
 *
 * kg_config_load() fills a struct kg_config from defaults and the file. Syntax errors, wrong
 * types and out-of-range values fail with a message "FILE:LINE: KEY: what is wrong"; unknown
 * keys produce a warning through the callback and are otherwise ignored. The struct is
 * self-contained (fixed-size fields) so it can be copied, compared and swapped on reload.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KG_DEFAULT_CONFIG_PATH SYSCONFDIR "/kernelgatekeeper/kernelgatekeeper.conf"
#define KG_DEFAULT_SOCKET_PATH "/run/kernelgatekeeper.sock"

#define KG_MAX_TARGET_PORTS 64
/* Upper bounds of proxy.* numbers: the file's validation and the client's IPC parse. */
#define KG_CONNECTION_TIMEOUT_MAX 600
#define KG_REQUEST_TIMEOUT_MAX	  3600
#define KG_MAX_RETRIES_MAX	  10
#define KG_WARM_CONNECTIONS_MAX	  16
#define KG_WARM_IDLE_TIMEOUT_MAX  110	/* under Squid's 2 min client_idle_pconn_timeout */
#define KG_WARN_BEFORE_MAX	  86400 /* kerberos.warn_before: a day */
#define KG_MAX_BYPASS		  256
#define KG_URL_MAX		  512
#define KG_NAME_MAX		  256
/* proxy.url: a string or a list of at most this many URLs, tried in order (= KG_ROUTE_MAX). */
#define KG_PROXY_URLS_MAX  16
#define KG_PAC_TIMEOUT_MAX 300
/* system.uids: at most this many names or numbers; a user or group name fits in 32 bytes. */
#define KG_SYSTEM_UIDS_MAX 32
#define KG_SYSTEM_NAME_MAX 33

enum kg_proxy_type {
	KG_PROXY_HTTP = 0,
	KG_PROXY_HTTPS,
	KG_PROXY_WPAD,
	KG_PROXY_NONE,
};

/* proxy.fallback: what a connection does when no proxy of its route answers. */
enum kg_proxy_fallback {
	KG_FALLBACK_NONE = 0, /* fail closed: the connection fails, as without a fallback */
	KG_FALLBACK_DIRECT,   /* go to the destination directly (a DIRECT after the list) */
};

struct kg_cidr {
	int family;	    /* AF_INET or AF_INET6 */
	uint8_t addr[16];   /* network order; AF_INET uses the first 4 bytes */
	uint8_t prefix_len; /* 0..32 or 0..128; bits past the prefix are always zero */
};

/* A parsed URL: scheme "http" or "https", host (no brackets for IPv6), port (80 for http and
 * 443 for https when absent). */
struct kg_url {
	char scheme[8];
	char host[KG_NAME_MAX];
	uint16_t port;
	char path[KG_URL_MAX]; /* "/" when absent; for wpad_url */
};

struct kg_config {
	struct {
		enum kg_proxy_type type; /* default http */
		char url[KG_URL_MAX];	 /* default ""; the first (or only) URL of the list */
		/* The rest of a proxy.url list, in failover order (wire: "proxy.url[1]"...). */
		char more_urls[KG_PROXY_URLS_MAX - 1][KG_URL_MAX];
		unsigned n_more_urls;
		char wpad_url[KG_URL_MAX];	 /* default "" */
		enum kg_proxy_fallback fallback; /* default none */
		unsigned pac_timeout;		 /* s, 1..300, default 30 */
		unsigned connection_timeout;	 /* s, 1..600, default 10 */
		unsigned request_timeout;	 /* s, 1..3600, default 30 */
		unsigned max_retries;		 /* 0..10, default 3 */
		/* Warm connections to an http proxy (the client's warm.h): at most this many
		 * spares, 0..KG_WARM_CONNECTIONS_MAX, default 4, 0 off; emptied after
		 * warm_idle_timeout s (1..KG_WARM_IDLE_TIMEOUT_MAX, default 60) without a
		 * connection. */
		unsigned warm_connections;
		unsigned warm_idle_timeout;
		/* TLS to an https proxy: absolute paths (the client reads them as the user), ""
		 * the default: the system store, no client certificate, the key in client_cert. */
		char ca_file[PATH_MAX];
		char client_cert[PATH_MAX];
		char client_key[PATH_MAX];
	} proxy;
	struct {
		char realm[KG_NAME_MAX]; /* default "" */
		bool enable_cache;	 /* default true */
		char ccache[PATH_MAX];	 /* default "" */
		char spn[KG_NAME_MAX];	 /* default "" */
		/* s before the ticket ends when the user gets a desktop notice
		 * (0..KG_WARN_BEFORE_MAX, default 600; 0: only once it has ended) */
		unsigned warn_before;
	} kerberos;
	struct {
		char interface[64]; /* default "" (informational) */
		uint16_t
		    target_ports[KG_MAX_TARGET_PORTS]; /* default {80, 443}; 1..65535, no dups */
		unsigned n_target_ports;
		char load_mode[32];		      /* default "sockops" (informational) */
		bool allow_dynamic_ports;	      /* default true */
		unsigned stats_interval;	      /* s, 0 (off)..86400, default 15 */
		unsigned max_clients;		      /* 1..KG_MAX_CLIENTS (the default) */
		char cgroup_path[PATH_MAX];	      /* default "/sys/fs/cgroup" */
		struct kg_cidr bypass[KG_MAX_BYPASS]; /* default none */
		unsigned n_bypass;
		bool block_quic; /* default true: UDP to the target ports refused (QUIC) */
	} ebpf;
	struct {
		char listen_address[64]; /* default "127.0.0.1"; must be loopback */
		uint16_t listen_port;	 /* 0 (ephemeral, default) or 1..65535 */
		bool sniff_hostname;	 /* default true */
	} client;
	/* The system relay (issue 17, kernelgatekeeper-client --system): root's and system
	 * services' connections through the proxy with the host's keytab principal. */
	struct {
		bool enable; /* default false */
		/* Names or decimal uids, resolved where they are used (config_system.h); default
		 * "root", "_apt". */
		char uids[KG_SYSTEM_UIDS_MAX][KG_SYSTEM_NAME_MAX];
		unsigned n_uids;
		char keytab[PATH_MAX];	     /* default "/etc/krb5.keytab", absolute */
		char principal[KG_NAME_MAX]; /* default "": host/<fqdn>@<default realm> */
		char
		    user[KG_SYSTEM_NAME_MAX]; /* default "_kernelgatekeeper": the relay's account */
	} system;
	int log_level;		   /* LOG_* from syslog.h, default LOG_INFO */
	char log_path[PATH_MAX];   /* default "" */
	unsigned shutdown_timeout; /* s, 1..3600, default 30 */
	char socket_path[108];	   /* default KG_DEFAULT_SOCKET_PATH, absolute */
};

/* Called once per warning (unknown key, informational key ignored, ...). msg has file:line. */
typedef void (*kg_config_warn_fn)(void *userdata, const char *msg);

void kg_config_defaults(struct kg_config *cfg);

/* Load path on top of defaults. On failure returns -errno (-ENOENT missing file, -EINVAL bad
 * content) and writes a one-line reason naming file:line and key into err; *cfg is then left
 * untouched. */
int kg_config_load(struct kg_config *cfg, const char *path, kg_config_warn_fn warn, void *userdata,
		   char *err, size_t errlen);

/* The rule of both daemons, at start and on reload: kg_config_load(), except that a missing
 * file that was not named explicitly (-c) means the built-in defaults. 0 (the file was read),
 * KG_CONFIG_DEFAULTS (no file: *cfg holds the defaults) or kg_config_load()'s -errno with err
 * set, *cfg untouched. */
#define KG_CONFIG_DEFAULTS 1
int kg_config_load_or_defaults(struct kg_config *cfg, const char *path, bool explicit_path,
			       kg_config_warn_fn warn, void *userdata, char *err, size_t errlen);

/* Same from memory; name is used in messages in place of a file name. */
int kg_config_parse(struct kg_config *cfg, const char *text, const char *name,
		    kg_config_warn_fn warn, void *userdata, char *err, size_t errlen);

/* "http://host:port[/path]" or "https://...", IPv6 hosts in brackets. 0 or -EINVAL. */
int kg_url_parse(const char *url, struct kg_url *out);
/* "10.0.0.0/8", "fd00::/8", a bare address means a host route. 0 or -EINVAL. Host bits set
 * ("10.1.2.3/8") are an error rather than silently widened: the configuration error names the
 * network the user probably meant. */
int kg_cidr_parse(const char *text, struct kg_cidr *out);
/* "10.0.0.0/8"; 0, -ENOSPC (buf too small) or -EAFNOSUPPORT. */
int kg_cidr_format(const struct kg_cidr *cidr, char *buf, size_t len);

/* The proxy.url list of cfg in failover order: urls[0..n) point into cfg (cap >=
 * KG_PROXY_URLS_MAX); 0 when proxy.url is "". */
size_t kg_config_proxy_urls(const struct kg_config *cfg, const char **urls, size_t cap);

const char *kg_proxy_type_to_string(enum kg_proxy_type t);
/* "http", "https", "wpad" or "none" into *ret: 0, or -EINVAL (*ret untouched). */
int kg_proxy_type_from_string(const char *s, enum kg_proxy_type *ret);
/* "none" or "direct". */
const char *kg_proxy_fallback_to_string(enum kg_proxy_fallback f);
