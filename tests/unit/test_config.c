/* Unit tests of the configuration loader (src/shared/config.c): defaults, every key, every
 * class of error with its exact "file:line: key:" prefix, warnings, malformed and oversized
 * input, the URL and CIDR parsers, and the shipped sample file. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/ccname.h"
#include "shared/config.h"
#include "shared/config_system.h"
#include "shared/log.h"

struct warnings {
	unsigned count;
	char last[512];
};

static void collect_warning(void *userdata, const char *msg)
{
	struct warnings *w = userdata;

	w->count++;
	snprintf(w->last, sizeof(w->last), "%s", msg);
}

static int parse(struct kg_config *cfg, const char *text, struct warnings *w, char *err,
		 size_t errlen)
{
	return kg_config_parse(cfg, text, "t.conf", collect_warning, w, err, errlen);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *temp_path(const char *name)
{
	static char path[512];
	const char *dir = getenv("TMPDIR");

	snprintf(path, sizeof(path), "%s/kg-test-config-%ld-%s", dir ? dir : "/tmp", (long)getpid(),
		 name);
	return path;
}

static void assert_defaults(const struct kg_config *c)
{
	ck_assert_int_eq(c->proxy.type, KG_PROXY_HTTP);
	ck_assert_str_eq(c->proxy.url, "");
	ck_assert_str_eq(c->proxy.wpad_url, "");
	ck_assert_uint_eq(c->proxy.connection_timeout, 10);
	ck_assert_uint_eq(c->proxy.request_timeout, 30);
	ck_assert_uint_eq(c->proxy.max_retries, 3);
	ck_assert_str_eq(c->proxy.ca_file, "");
	ck_assert_str_eq(c->proxy.client_cert, "");
	ck_assert_str_eq(c->proxy.client_key, "");
	ck_assert_str_eq(c->kerberos.realm, "");
	ck_assert(c->kerberos.enable_cache);
	ck_assert_str_eq(c->kerberos.ccache, "");
	ck_assert_str_eq(c->kerberos.spn, "");
	ck_assert_uint_eq(c->kerberos.warn_before, 600);
	ck_assert_str_eq(c->ebpf.interface, "");
	ck_assert_uint_eq(c->ebpf.n_target_ports, 2);
	ck_assert_uint_eq(c->ebpf.target_ports[0], 80);
	ck_assert_uint_eq(c->ebpf.target_ports[1], 443);
	ck_assert_str_eq(c->ebpf.load_mode, "sockops");
	ck_assert(c->ebpf.allow_dynamic_ports);
	ck_assert(c->ebpf.block_quic);
	ck_assert_uint_eq(c->ebpf.stats_interval, 15);
	ck_assert_uint_eq(c->ebpf.max_clients, 4096);
	ck_assert_str_eq(c->ebpf.cgroup_path, "/sys/fs/cgroup");
	ck_assert_uint_eq(c->ebpf.n_bypass, 0);
	ck_assert_str_eq(c->client.listen_address, "127.0.0.1");
	ck_assert_uint_eq(c->client.listen_port, 0);
	ck_assert(c->client.sniff_hostname);
	ck_assert_int_eq(c->log_level, LOG_INFO);
	ck_assert_str_eq(c->log_path, "");
	ck_assert_uint_eq(c->shutdown_timeout, 30);
	ck_assert_str_eq(c->socket_path, "/run/kernelgatekeeper.sock");
}

START_TEST(test_defaults)
{
	struct kg_config c;

	memset(&c, 0xa5, sizeof(c));
	kg_config_defaults(&c);
	assert_defaults(&c);
}
END_TEST

START_TEST(test_empty_text_gives_defaults)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256];

	ck_assert_int_eq(parse(&c, "", &w, err, sizeof(err)), 0);
	assert_defaults(&c);
	ck_assert_str_eq(err, "");
	ck_assert_int_eq(parse(&c, "# only a comment\n\n   \n", &w, err, sizeof(err)), 0);
	assert_defaults(&c);
	ck_assert_uint_eq(w.count, 0);
}
END_TEST

/* The sample configuration the package installs spells out every key with its default (only the
 * proxy's URL and the realm are examples): it must read back as exactly the table's defaults. */
START_TEST(test_sample_file_is_the_defaults)
{
	struct kg_config c, d;
	struct warnings w = {0};
	char err[512];

	ck_assert_msg(kg_config_load(&c, KG_TOP_SRCDIR "/etc/kernelgatekeeper.conf",
				     collect_warning, &w, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(w.count, 0);
	ck_assert_str_eq(c.proxy.url, "http://proxy.example.com:3128");
	ck_assert_str_eq(c.kerberos.realm, "EXAMPLE.COM");
	kg_config_defaults(&d);
	assert_defaults(&d);
	memcpy(d.proxy.url, c.proxy.url, sizeof(d.proxy.url));
	memcpy(d.kerberos.realm, c.kerberos.realm, sizeof(d.kerberos.realm));
	/* Field by field, so a difference names itself. */
	ck_assert_int_eq(c.proxy.type, d.proxy.type);
	ck_assert_uint_eq(c.proxy.connection_timeout, d.proxy.connection_timeout);
	ck_assert_uint_eq(c.proxy.request_timeout, d.proxy.request_timeout);
	ck_assert_uint_eq(c.proxy.max_retries, d.proxy.max_retries);
	ck_assert_str_eq(c.ebpf.load_mode, d.ebpf.load_mode);
	ck_assert_str_eq(c.ebpf.cgroup_path, d.ebpf.cgroup_path);
	ck_assert_uint_eq(c.ebpf.stats_interval, d.ebpf.stats_interval);
	ck_assert_str_eq(c.socket_path, d.socket_path);
	ck_assert_int_eq(c.log_level, d.log_level);
	ck_assert_uint_eq(c.shutdown_timeout, d.shutdown_timeout);
	ck_assert(memcmp(&c, &d, sizeof(c)) == 0);
}
END_TEST

START_TEST(test_every_key)
{
	static const char text[] =
	    "proxy = {\n"
	    "  type = \"wpad\";\n"
	    "  url = \"https://[2001:db8::1]:8443\";\n"
	    "  wpad_url = \"http://wpad.example.com/wpad.dat\";\n"
	    "  connection_timeout = 600;\n"
	    "  request_timeout = 3600;\n"
	    "  max_retries = 0;\n"
	    "  ca_file = \"/etc/kg/proxy-ca.pem\";\n"
	    "  client_cert = \"/home/u/.kg/client.pem\";\n"
	    "  client_key = \"/home/u/.kg/client.key\";\n"
	    "};\n"
	    "kerberos = { realm = \"CORP.EXAMPLE\"; enable_cache = true;\n"
	    "  ccache = \"KEYRING:persistent:%{uid}\"; spn = \"HTTP@proxy.corp.example\"; };\n"
	    "ebpf = {\n"
	    "  interface = \"ens3\";\n"
	    "  target_ports = ( 8080, 1, 65535 );\n"
	    "  load_mode = \"cgroup\";\n"
	    "  allow_dynamic_ports = false;\n"
	    "  block_quic = false;\n"
	    "  stats_interval = 0;\n"
	    "  max_clients = 1;\n"
	    "  cgroup_path = \"/sys/fs/cgroup/unified\";\n"
	    "  bypass = [ \"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.7\", \"2001:db8::1\" ];\n"
	    "};\n"
	    "client = { listen_address = \"::1\"; listen_port = 0x3039; sniff_hostname = false; "
	    "};\n"
	    "log_level = \"debug\";\n"
	    "log_path = \"/var/log/kernelgatekeeper.log\";\n"
	    "shutdown_timeout = 1L;\n"
	    "socket_path = \"/run/kg/test.sock\";\n";
	struct warnings w = {0};
	struct kg_config c;
	char err[256];

	ck_assert_msg(parse(&c, text, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(w.count, 0);
	ck_assert_int_eq(c.proxy.type, KG_PROXY_WPAD);
	ck_assert_str_eq(c.proxy.url, "https://[2001:db8::1]:8443");
	ck_assert_str_eq(c.proxy.wpad_url, "http://wpad.example.com/wpad.dat");
	ck_assert_uint_eq(c.proxy.connection_timeout, 600);
	ck_assert_uint_eq(c.proxy.request_timeout, 3600);
	ck_assert_uint_eq(c.proxy.max_retries, 0);
	ck_assert_str_eq(c.proxy.ca_file, "/etc/kg/proxy-ca.pem");
	ck_assert_str_eq(c.proxy.client_cert, "/home/u/.kg/client.pem");
	ck_assert_str_eq(c.proxy.client_key, "/home/u/.kg/client.key");
	ck_assert_str_eq(c.kerberos.realm, "CORP.EXAMPLE");
	ck_assert(c.kerberos.enable_cache);
	ck_assert_str_eq(c.kerberos.ccache, "KEYRING:persistent:%{uid}");
	ck_assert_str_eq(c.kerberos.spn, "HTTP@proxy.corp.example");
	ck_assert_str_eq(c.ebpf.interface, "ens3");
	ck_assert_uint_eq(c.ebpf.n_target_ports, 3);
	ck_assert_uint_eq(c.ebpf.target_ports[0], 8080);
	ck_assert_uint_eq(c.ebpf.target_ports[1], 1);
	ck_assert_uint_eq(c.ebpf.target_ports[2], 65535);
	ck_assert_str_eq(c.ebpf.load_mode, "cgroup");
	ck_assert(!c.ebpf.allow_dynamic_ports);
	ck_assert(!c.ebpf.block_quic);
	ck_assert_uint_eq(c.ebpf.stats_interval, 0);
	ck_assert_uint_eq(c.ebpf.max_clients, 1);
	ck_assert_str_eq(c.ebpf.cgroup_path, "/sys/fs/cgroup/unified");
	ck_assert_uint_eq(c.ebpf.n_bypass, 4);
	ck_assert_int_eq(c.ebpf.bypass[0].family, AF_INET);
	ck_assert_uint_eq(c.ebpf.bypass[0].prefix_len, 8);
	ck_assert_uint_eq(c.ebpf.bypass[0].addr[0], 10);
	ck_assert_int_eq(c.ebpf.bypass[1].family, AF_INET6);
	ck_assert_uint_eq(c.ebpf.bypass[1].prefix_len, 8);
	ck_assert_uint_eq(c.ebpf.bypass[1].addr[0], 0xfd);
	ck_assert_uint_eq(c.ebpf.bypass[2].prefix_len, 32);
	ck_assert_uint_eq(c.ebpf.bypass[3].prefix_len, 128);
	ck_assert_str_eq(c.client.listen_address, "::1");
	ck_assert_uint_eq(c.client.listen_port, 12345);
	ck_assert(!c.client.sniff_hostname);
	ck_assert_int_eq(c.log_level, LOG_DEBUG);
	ck_assert_str_eq(c.log_path, "/var/log/kernelgatekeeper.log");
	ck_assert_uint_eq(c.shutdown_timeout, 1);
	ck_assert_str_eq(c.socket_path, "/run/kg/test.sock");
}
END_TEST

START_TEST(test_empty_lists_and_other_values)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256];

	ck_assert_msg(parse(&c,
			    "ebpf = { target_ports = [ ]; bypass = ( ); };\n"
			    "proxy = { type = \"none\"; url = \"\"; };\n"
			    "log_level = \"warn\";\n",
			    &w, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(c.ebpf.n_target_ports, 0);
	ck_assert_int_eq(c.proxy.type, KG_PROXY_NONE);
	ck_assert_int_eq(c.log_level, LOG_WARNING);
	ck_assert_int_eq(parse(&c, "proxy = { type = \"https\"; }; log_level = \"error\";", &w, err,
			       sizeof(err)),
			 0);
	ck_assert_int_eq(c.proxy.type, KG_PROXY_HTTPS);
	ck_assert_int_eq(c.log_level, LOG_ERR);
	/* http with no url is accepted here; the client refuses it when it starts. */
	ck_assert_int_eq(
	    parse(&c, "proxy = { type = \"http\"; url = \"\"; };", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(w.count, 0);
}
END_TEST

/* Each bad input and the exact start of its message; all fail with -EINVAL. */
static const struct {
	const char *text;
	const char *message;
} bad_inputs[] = {
    /* syntax */
    {"proxy = {\n  type = \"http\";\n  url = = \"x\";\n};\n", "t.conf:3: syntax error"},
    {"a = 1;\na = 2;\n", "t.conf:2: duplicate setting name"},
    {"proxy = { type = \"http\"; \n", "t.conf:2: syntax error"},
    {"log_path = \"/x;\n", "t.conf:1: log_path: unterminated string"},
    /* groups */
    {"\nproxy = 5;\n", "t.conf:2: proxy: expected a group"},
    {"ebpf = [ 1 ];\n", "t.conf:1: ebpf: expected a group"},
    /* types */
    {"proxy = {\n type = 1;\n};\n", "t.conf:2: proxy.type: expected a string"},
    {"proxy = { url = 80; };\n", "t.conf:1: proxy.url: expected a string"},
    {"proxy = {\n\n connection_timeout = \"10\";\n};\n",
     "t.conf:3: proxy.connection_timeout: expected an integer"},
    {"proxy = { request_timeout = 1.5; };", "t.conf:1: proxy.request_timeout: expected an integer"},
    {"proxy = { max_retries = true; };", "t.conf:1: proxy.max_retries: expected an integer"},
    {"kerberos = { enable_cache = 1; };",
     "t.conf:1: kerberos.enable_cache: expected true or false"},
    {"kerberos = { realm = [ \"A\" ]; };", "t.conf:1: kerberos.realm: expected a string"},
    {"ebpf = { target_ports = 80; };", "t.conf:1: ebpf.target_ports: expected a list"},
    {"ebpf = { target_ports = [ \"80\" ]; };",
     "t.conf:1: ebpf.target_ports[0]: expected an integer"},
    {"ebpf = { allow_dynamic_ports = \"yes\"; };",
     "t.conf:1: ebpf.allow_dynamic_ports: expected true or false"},
    {"ebpf = { block_quic = 1; };", "t.conf:1: ebpf.block_quic: expected true or false"},
    {"ebpf = { bypass = \"10.0.0.0/8\"; };", "t.conf:1: ebpf.bypass: expected a list"},
    {"ebpf = { bypass = ( \"10.0.0.0/8\", 10 ); };", "t.conf:1: ebpf.bypass[1]: expected a string"},
    {"client = { sniff_hostname = 0; };",
     "t.conf:1: client.sniff_hostname: expected true or false"},
    {"client = { listen_port = \"0\"; };", "t.conf:1: client.listen_port: expected an integer"},
    {"log_level = 7;", "t.conf:1: log_level: expected a string"},
    {"shutdown_timeout = \"30\";", "t.conf:1: shutdown_timeout: expected an integer"},
    {"socket_path = false;", "t.conf:1: socket_path: expected a string"},
    /* ranges */
    {"proxy = { connection_timeout = 0; };",
     "t.conf:1: proxy.connection_timeout: 0 is out of range 1..600"},
    {"proxy = { connection_timeout = 601; };",
     "t.conf:1: proxy.connection_timeout: 601 is out of range 1..600"},
    {"proxy = { request_timeout = 0; };",
     "t.conf:1: proxy.request_timeout: 0 is out of range 1..3600"},
    {"proxy = { request_timeout = 3601; };",
     "t.conf:1: proxy.request_timeout: 3601 is out of range 1..3600"},
    {"proxy = { max_retries = 11; };", "t.conf:1: proxy.max_retries: 11 is out of range 0..10"},
    {"ebpf = { max_clients = 0; };", "t.conf:1: ebpf.max_clients: 0 is out of range 1..4096"},
    {"ebpf = { max_clients = 4097; };", "t.conf:1: ebpf.max_clients: 4097 is out of range 1..4096"},
    {"proxy = { max_retries = -1; };", "t.conf:1: proxy.max_retries: -1 is out of range 0..10"},
    {"ebpf = { stats_interval = 86401; };",
     "t.conf:1: ebpf.stats_interval: 86401 is out of range 0..86400"},
    {"client = { listen_port = 65536; };",
     "t.conf:1: client.listen_port: 65536 is out of range 0..65535"},
    {"client = { listen_port = -1; };",
     "t.conf:1: client.listen_port: -1 is out of range 0..65535"},
    {"shutdown_timeout = 0;", "t.conf:1: shutdown_timeout: 0 is out of range 1..3600"},
    {"shutdown_timeout = 3601;", "t.conf:1: shutdown_timeout: 3601 is out of range 1..3600"},
    {"ebpf = {\n target_ports = [ 80,\n 0 ];\n};",
     "t.conf:3: ebpf.target_ports[1]: 0 is out of range 1..65535"},
    {"ebpf = { target_ports = [ 65536 ]; };",
     "t.conf:1: ebpf.target_ports[0]: 65536 is out of range 1..65535"},
    {"ebpf = {\n target_ports = [ 80, 443,\n 80 ];\n};",
     "t.conf:3: ebpf.target_ports[2]: port 80 is listed twice"},
    /* enumerations */
    {"proxy = { type = \"socks\"; };",
     "t.conf:1: proxy.type: \"socks\" is not one of http, https, wpad, none"},
    {"proxy = { type = \"HTTP\"; };", "t.conf:1: proxy.type: \"HTTP\" is not one of"},
    {"log_level = \"verbose\";",
     "t.conf:1: log_level: \"verbose\" is not one of debug, info, warn, error"},
    {"log_level = \"warning\";", "t.conf:1: log_level: \"warning\" is not one of"},
    /* URLs */
    {"proxy = { url = \"ftp://proxy:21\"; };",
     "t.conf:1: proxy.url: \"ftp://proxy:21\": URL must start with http:// or https://"},
    {"proxy = { url = \"proxy.example.com:3128\"; };",
     "t.conf:1: proxy.url: \"proxy.example.com:3128\": URL must start with"},
    {"proxy = { url = \"http://proxy:0\"; };",
     "t.conf:1: proxy.url: \"http://proxy:0\": URL port must be a number 1..65535"},
    {"proxy = { url = \"http://proxy:99999\"; };",
     "t.conf:1: proxy.url: \"http://proxy:99999\": URL port"},
    {"proxy = { url = \"http://user:pw@proxy:3128\"; };",
     "t.conf:1: proxy.url: \"http://user:pw@proxy:3128\": user@"},
    {"proxy = { url = \"http://\"; };", "t.conf:1: proxy.url: \"http://\": URL has no host"},
    {"proxy = { url = \"http://[::1:3128\"; };",
     "t.conf:1: proxy.url: \"http://[::1:3128\": unterminated ["},
    {"proxy = {\n wpad_url = \"http://wpad example/\"; };",
     "t.conf:2: proxy.wpad_url: \"http://wpad example/\": URL contains a space"},
    {"proxy = { wpad_url = \"wpad.dat\"; };",
     "t.conf:1: proxy.wpad_url: \"wpad.dat\": URL must start"},
    /* proxy.url lists, proxy.fallback, proxy.pac_timeout */
    {"proxy = { url = [ ]; };", "t.conf:1: proxy.url: an empty list; give at least one URL"},
    {"proxy = { url = ( ); };", "t.conf:1: proxy.url: an empty list"},
    {"proxy = { url = [ \"http://a:1\",\n \"ftp://b\" ]; };",
     "t.conf:2: proxy.url[1]: \"ftp://b\": URL must start with http:// or https://"},
    {"proxy = { url = ( \"http://a:1\", 3128 ); };", "t.conf:1: proxy.url[1]: expected a string"},
    {"proxy = { url = [ \"http://a:1\", \"\" ]; };",
     "t.conf:1: proxy.url[1]: an empty URL in the list"},
    {"proxy = { url = [ \"\" ]; };", "t.conf:1: proxy.url[0]: an empty URL in the list"},
    {"proxy = { url = [ \"http://a b:1\" ]; };", "t.conf:1: proxy.url[0]: \"http://a b:1\": URL"},
    {"proxy = { url = { a = \"http://a:1\"; }; };",
     "t.conf:1: proxy.url: expected a string or a list [ ... ] of URL strings"},
    {"proxy = { url = [ \"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\", "
     "\"k\", "
     "\"l\", \"m\", \"n\", \"o\", \"p\", \"q\" ]; };",
     "t.conf:1: proxy.url: more than 16 entries"},
    {"proxy = { fallback = \"DIRECT\"; };",
     "t.conf:1: proxy.fallback: \"DIRECT\" is not one of none, direct"},
    {"proxy = { fallback = \"\"; };", "t.conf:1: proxy.fallback: \"\" is not one of none, direct"},
    {"proxy = { fallback = true; };", "t.conf:1: proxy.fallback: expected a string"},
    {"proxy = { pac_timeout = 0; };", "t.conf:1: proxy.pac_timeout: 0 is out of range 1..300"},
    {"proxy = { pac_timeout = 301; };", "t.conf:1: proxy.pac_timeout: 301 is out of range 1..300"},
    /* CIDRs */
    {"ebpf = { bypass = [ \"10.0.0.0/8\",\n \"10.1.2.3/8\" ]; };",
     "t.conf:2: ebpf.bypass[1]: \"10.1.2.3/8\" has host bits set; the network is 10.0.0.0/8"},
    {"ebpf = { bypass = [ \"fd00::1/8\" ]; };",
     "t.conf:1: ebpf.bypass[0]: \"fd00::1/8\" has host bits set; the network is fd00::/8"},
    {"ebpf = { bypass = [ \"10.0.0.0/33\" ]; };",
     "t.conf:1: ebpf.bypass[0]: \"10.0.0.0/33\" is not an address or address/prefix"},
    {"ebpf = { bypass = [ \"example.com\" ]; };",
     "t.conf:1: ebpf.bypass[0]: \"example.com\" is not an address"},
    {"ebpf = { bypass = [ \"\" ]; };", "t.conf:1: ebpf.bypass[0]: \"\" is not an address"},
    /* paths and addresses */
    {"socket_path = \"run/kg.sock\";",
     "t.conf:1: socket_path: \"run/kg.sock\": must be an absolute path"},
    {"socket_path = \"\";", "t.conf:1: socket_path: \"\": must be an absolute path"},
    {"socket_path = "
     "\"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaa\";",
     "t.conf:1: socket_path: longer than 107 bytes"},
    {"ebpf = { cgroup_path = \"sys/fs/cgroup\"; };",
     "t.conf:1: ebpf.cgroup_path: \"sys/fs/cgroup\": must be an absolute path"},
    {"log_path = \"kg.log\";", "t.conf:1: log_path: \"kg.log\": must be an absolute path"},
    {"proxy = { ca_file = \"ca.pem\"; };",
     "t.conf:1: proxy.ca_file: \"ca.pem\": must be an absolute path"},
    {"proxy = { client_cert = \"~/c.pem\"; };",
     "t.conf:1: proxy.client_cert: \"~/c.pem\": must be an absolute path"},
    {"proxy = { client_key = 1; };", "t.conf:1: proxy.client_key: expected a string"},
    {"client = { listen_address = \"0.0.0.0\"; };",
     "t.conf:1: client.listen_address: \"0.0.0.0\": must be a loopback address"},
    {"client = { listen_address = \"192.0.2.1\"; };",
     "t.conf:1: client.listen_address: \"192.0.2.1\": must be a loopback address"},
    {"client = { listen_address = \"::\"; };",
     "t.conf:1: client.listen_address: \"::\": must be a loopback"},
    {"client = { listen_address = \"localhost\"; };",
     "t.conf:1: client.listen_address: \"localhost\": not an IP address"},
    {"kerberos = { ccache = \"KEYRING:persistent:%{UID}\"; };",
     "t.conf:1: kerberos.ccache: \"KEYRING:persistent:%{UID}\": has an unknown token: use "
     "%{uid}, %{euid}, %{USERID}, %{username} or %{TEMP}"},
    {"kerberos = { ccache = \"FILE:/tmp/krb5cc_%{uid\"; };",
     "t.conf:1: kerberos.ccache: \"FILE:/tmp/krb5cc_%{uid\": has a %{ without its closing }"},
    {"kerberos = { realm = \"EXAMPLE\\nCOM\"; };",
     "t.conf:1: kerberos.realm: contains a control character"},
    {"ebpf = { interface = "
     "\"an-interface-name-much-longer-than-sixty-four-bytes-which-cannot-fit\"; };",
     "t.conf:1: ebpf.interface: longer than 63 bytes"},
    /* what libconfig itself would get wrong */
    {"ebpf = {\n target_ports = [ 80, 4294967297 ];\n};",
     "t.conf:2: ebpf.target_ports: integer 4294967297 is out of range"},
    {"client = { listen_port = 99999999999999999999; };",
     "t.conf:1: client.listen_port: integer 99999999999999999999 is out of range"},
    {"shutdown_timeout = 0x100000001;", "t.conf:1: shutdown_timeout: integer 0x100000001 is out"},
    {"shutdown_timeout = 4294967297L;", "t.conf:1: shutdown_timeout: integer 4294967297L is out"},
    {"a = 1;\n  @include \"/etc/passwd\"\n", "t.conf:2: @include is not supported"},
    {"proxy = {\n url = \"http://x\n;\n", "t.conf:2: proxy.url: unterminated string"},
    {"\"unterminated", "t.conf:1: unterminated string"},
    /* A string libconfig 1.5 cannot use (it would leak it): refused before libconfig. */
    {"a = 1\n  \"x\";", "t.conf:2: a: syntax error: a string where no value may be"},
    {"proxy = { \"x\" };", "t.conf:1: proxy: syntax error: a string where no value may be"},
    {"\"x\"\n", "t.conf:1: syntax error: a string where no value may be"},
    {"proxy = { ca_file = \"/a\", \"/b\"; };",
     "t.conf:1: proxy.ca_file: syntax error: a string where no value may be"},
    {"a = 1;\n/* open\n", "t.conf:2: unterminated /* comment"},
};

START_TEST(test_bad_input)
{
	struct warnings w = {0};
	struct kg_config c, before;
	char err[512];

	memset(&before, 0x5a, sizeof(before));
	c = before;
	ck_assert_int_eq(parse(&c, bad_inputs[_i].text, &w, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, bad_inputs[_i].message, strlen(bad_inputs[_i].message)) == 0,
		      "input %d: got \"%s\", want \"%s...\"", _i, err, bad_inputs[_i].message);
	ck_assert_msg(memcmp(&c, &before, sizeof(c)) == 0, "input %d: *cfg changed on failure", _i);
}
END_TEST

START_TEST(test_things_that_are_not_errors)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256];

	/* Numbers inside strings, comments and names are not integers to check. */
	ck_assert_msg(parse(&c,
			    "# 99999999999999999999\n"
			    "/* 4294967297\n @include \"x\" */\n"
			    "kerberos = { realm = \"99999999999999999999\"; };\n"
			    "x12345678901234567890 = 1.5e300; // 4294967297\n"
			    "y = -2147483647; z = 0x7fffffff;\n",
			    &w, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(w.count, 3);
	/* A string may span lines; line numbers after it still count. */
	ck_assert_int_eq(parse(&c, "text = \"a\nb\";\nshutdown_timeout = 0;", &w, err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "t.conf:3: shutdown_timeout: 0 is out of range 1..3600");
}
END_TEST

START_TEST(test_unknown_keys_warn)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256];

	ck_assert_int_eq(parse(&c, "proxy = {\n  type = \"none\";\n  colour = \"blue\";\n};\n", &w,
			       err, sizeof(err)),
			 0);
	ck_assert_uint_eq(w.count, 1);
	ck_assert_str_eq(w.last, "t.conf:3: proxy.colour: unknown key, ignored");
	ck_assert_int_eq(c.proxy.type, KG_PROXY_NONE);

	ck_assert_int_eq(parse(&c, "\n\nverbose = true;\n", &w, err, sizeof(err)), 0);
	ck_assert_str_eq(w.last, "t.conf:3: verbose: unknown key, ignored");
	ck_assert_int_eq(parse(&c, "extra = { a = 1; };\n", &w, err, sizeof(err)), 0);
	ck_assert_str_eq(w.last, "t.conf:1: extra: unknown key, ignored");
	ck_assert_int_eq(parse(&c, "client = { url = \"x\"; };\n", &w, err, sizeof(err)), 0);
	ck_assert_str_eq(w.last, "t.conf:1: client.url: unknown key, ignored");
	ck_assert_uint_eq(w.count, 4);

	ck_assert_int_eq(
	    parse(&c, "kerberos = {\n enable_cache = false;\n};", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(w.count, 5);
	ck_assert_msg(strncmp(w.last, "t.conf:2: kerberos.enable_cache: false is ignored", 49) == 0,
		      "%s", w.last);

	/* Another loopback address is valid, but the listeners stay where they are: say so. */
	ck_assert_int_eq(
	    parse(&c, "client = {\n listen_address = \"127.0.0.2\";\n};", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(w.count, 6);
	ck_assert_str_eq(w.last, "t.conf:2: client.listen_address: \"127.0.0.2\" is not used: the "
				 "relay listeners are always 127.0.0.1 and [::1]");
	ck_assert_str_eq(c.client.listen_address, "127.0.0.2");
	ck_assert_int_eq(
	    parse(&c, "client = { listen_address = \"0:0::1\"; };", &w, err, sizeof(err)), 0);
	ck_assert_int_eq(
	    parse(&c, "client = { listen_address = \"127.0.0.1\"; };", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(w.count, 6);

	/* No callback: warnings are dropped, parsing still succeeds. */
	ck_assert_int_eq(
	    kg_config_parse(&c, "verbose = 1;", "t.conf", NULL, NULL, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_ccache_tokens)
{
	const struct kg_ccname_ids ids = {
	    .uid = 1000, .euid = 1001, .username = "alice", .tmpdir = "/var/tmp"};
	const struct kg_ccname_ids nameless = {.uid = 7, .euid = 7, .tmpdir = "/tmp"};
	char out[64], tiny[12];
	const char *why;

	ck_assert_int_eq(
	    kg_ccname_expand("KEYRING:persistent:%{uid}", &ids, out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "KEYRING:persistent:1000");
	ck_assert_int_eq(
	    kg_ccname_expand("FILE:%{TEMP}/krb5cc_%{euid}_%{USERID}", &ids, out, sizeof(out), &why),
	    0);
	ck_assert_str_eq(out, "FILE:/var/tmp/krb5cc_1001_1001");
	ck_assert_int_eq(
	    kg_ccname_expand("DIR:/home/%{username}/.k5", &ids, out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "DIR:/home/alice/.k5");
	/* No token, a bare %, a { alone: copied as they are. */
	ck_assert_int_eq(kg_ccname_expand("FILE:/a%b{c}%", &ids, out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "FILE:/a%b{c}%");
	ck_assert_int_eq(kg_ccname_expand("", &ids, out, sizeof(out), &why), 0);
	ck_assert_str_eq(out, "");

	ck_assert_int_eq(kg_ccname_expand("X:%{uid", &ids, out, sizeof(out), &why), -EINVAL);
	ck_assert_str_eq(why, "has a %{ without its closing }");
	ck_assert_int_eq(kg_ccname_expand("X:%{}", &ids, out, sizeof(out), &why), -EINVAL);
	ck_assert_int_eq(kg_ccname_expand("X:%{uidx}", &ids, out, sizeof(out), &why), -EINVAL);
	ck_assert_int_eq(kg_ccname_expand("X:%{username}", &nameless, out, sizeof(out), &why),
			 -ENOENT);
	ck_assert_ptr_nonnull(why);
	/* Bounded: the result and its NUL must fit, whichever piece overflows. */
	ck_assert_int_eq(kg_ccname_expand("FILE:/tmp/x", &ids, tiny, sizeof(tiny), &why), 0);
	ck_assert_str_eq(tiny, "FILE:/tmp/x");
	ck_assert_int_eq(kg_ccname_expand("FILE:/tmp/xy", &ids, tiny, sizeof(tiny), &why),
			 -ENAMETOOLONG);
	ck_assert_int_eq(kg_ccname_expand("FILE:%{uid}000", &ids, tiny, sizeof(tiny), &why),
			 -ENAMETOOLONG);
	ck_assert_int_eq(kg_ccname_expand("FILE:%{uid}0", &ids, tiny, sizeof(tiny), &why), 0);
	ck_assert_str_eq(tiny, "FILE:10000");
	ck_assert_int_eq(kg_ccname_expand("x", &ids, tiny, 0, &why), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_no_error_buffer)
{
	struct kg_config c;

	ck_assert_int_eq(kg_config_parse(&c, "shutdown_timeout = 0;", NULL, NULL, NULL, NULL, 0),
			 -EINVAL);
	ck_assert_int_eq(kg_config_parse(&c, "{", NULL, NULL, NULL, NULL, 0), -EINVAL);
	ck_assert_int_eq(kg_config_parse(&c, "", NULL, NULL, NULL, NULL, 0), 0);
}
END_TEST

START_TEST(test_too_many_entries)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256], *text, *p;
	unsigned i;

	text = malloc(64 * 1024);
	ck_assert_ptr_nonnull(text);
	p = text + sprintf(text, "ebpf = { target_ports = [ ");
	for (i = 1; i <= KG_MAX_TARGET_PORTS; i++)
		p += sprintf(p, "%s%u", i > 1 ? ", " : "", i);
	strcpy(p, " ]; };");
	ck_assert_msg(parse(&c, text, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.ebpf.n_target_ports, KG_MAX_TARGET_PORTS);
	strcpy(p, ", 65000 ]; };");
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: ebpf.target_ports: more than 64 entries");

	p = text + sprintf(text, "ebpf = { bypass = [ ");
	for (i = 0; i < KG_MAX_BYPASS; i++)
		p += sprintf(p, "%s\"10.%u.%u.0/24\"", i ? ", " : "", i / 256, i % 256);
	strcpy(p, " ]; };");
	ck_assert_msg(parse(&c, text, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.ebpf.n_bypass, KG_MAX_BYPASS);
	strcpy(p, ", \"192.0.2.0/24\" ]; };");
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: ebpf.bypass: more than 256 entries");
	free(text);
}
END_TEST

START_TEST(test_malformed_input)
{
	static const char garbage[] = "\x01\x02\xff\xfe{{{[[[(((\"\\\x7f;;==\xc3\x28";
	struct warnings w = {0};
	struct kg_config c;
	char err[256], *text;
	size_t i, n = 200000;

	ck_assert_int_eq(parse(&c, garbage, &w, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, "t.conf:1: ", 10) == 0, "%s", err);
	ck_assert_int_eq(parse(&c, "= ; = ;", &w, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(parse(&c, "a = \"unterminated", &w, err, sizeof(err)), -EINVAL);
	/* A last line that is a comment needs no newline (libconfig alone would refuse it). */
	ck_assert_int_eq(parse(&c, "shutdown_timeout = 5; # five", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.shutdown_timeout, 5);

	/* Deep nesting: libconfig's parser stack gives up; no crash, a clean error. */
	text = malloc(2 * n + 16);
	ck_assert_ptr_nonnull(text);
	strcpy(text, "a = ");
	memset(text + 4, '(', n);
	memset(text + 4 + n, ')', n);
	strcpy(text + 4 + 2 * n, ";");
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);
	for (i = 0; i + 4 < 2 * n; i += 4)
		memcpy(text + i, "a={", 3), text[i + 3] = ' ';
	text[i] = '\0';
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);

	/* A long string value is refused by length, not by overflowing anything. */
	memset(text, 'x', n);
	memcpy(text, "log_path = \"/", 13);
	strcpy(text + n, "\";");
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:1: log_path: longer than 4095 bytes");
	free(text);
}
END_TEST

START_TEST(test_size_and_line_limits)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[256], *text;
	size_t big = 1024 * 1024 + 1;

	text = malloc(big + 1);
	ck_assert_ptr_nonnull(text);
	memset(text, '#', big);
	text[big] = '\0';
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EFBIG);
	ck_assert_str_eq(err, "t.conf: larger than 1 MiB");

	/* Exactly 1 MiB of comment is fine. */
	text[big - 2] = '\n';
	text[big - 1] = '\0';
	ck_assert_msg(parse(&c, text, &w, err, sizeof(err)) == 0, "%s", err);

	/* libconfig's line numbers are 16-bit: more lines are refused rather than misreported. */
	memset(text, '\n', 70000);
	strcpy(text + 70000, "x = 1;");
	ck_assert_int_eq(parse(&c, text, &w, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "t.conf:65536: more than 65535 lines");
	free(text);
}
END_TEST

START_TEST(test_load_file)
{
	struct warnings w = {0};
	struct kg_config c, before;
	char err[512], want[600], *path = temp_path("a.conf");
	char *big;

	write_file(path, "proxy = {\n  max_retries = 5;\n  bogus = 1;\n};\n", 43);
	ck_assert_msg(kg_config_load(&c, path, collect_warning, &w, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(c.proxy.max_retries, 5);
	snprintf(want, sizeof(want), "%s:3: proxy.bogus: unknown key, ignored", path);
	ck_assert_str_eq(w.last, want);

	write_file(path, "proxy = {\n  max_retries = 50;\n};\n", 33);
	memset(&before, 0x33, sizeof(before));
	c = before;
	ck_assert_int_eq(kg_config_load(&c, path, NULL, NULL, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: proxy.max_retries: 50 is out of range 0..10", path);
	ck_assert_str_eq(err, want);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);

	write_file(path, "a = 1;\nb = \"x\0y\";\n", 18);
	ck_assert_int_eq(kg_config_load(&c, path, NULL, NULL, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: NUL byte (not a text file?)", path);
	ck_assert_str_eq(err, want);

	write_file(path, "", 0);
	ck_assert_int_eq(kg_config_load(&c, path, NULL, NULL, err, sizeof(err)), 0);
	assert_defaults(&c);

	big = calloc(1, 1024 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, ' ', 1024 * 1024 + 1);
	write_file(path, big, 1024 * 1024 + 1);
	ck_assert_int_eq(kg_config_load(&c, path, NULL, NULL, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
	ck_assert_str_eq(err, want);
	free(big);
	unlink(path);

	ck_assert_int_eq(kg_config_load(&c, path, NULL, NULL, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(kg_config_load(&c, "/", NULL, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "/: not a regular file");
}
END_TEST

/* The one rule both daemons load by, at start and on SIGHUP: a missing file means the defaults
 * unless it was named with -c; anything else wrong with it is an error either way. */
START_TEST(test_missing_file_means_defaults)
{
	const char *path = temp_path("missing.conf");
	struct kg_config c, before;
	char err[512], want[600];

	unlink(path);
	memset(&c, 0x44, sizeof(c));
	strcpy(err, "stale");
	ck_assert_int_eq(kg_config_load_or_defaults(&c, path, false, NULL, NULL, err, sizeof(err)),
			 KG_CONFIG_DEFAULTS);
	assert_defaults(&c);
	ck_assert_str_eq(err, "");

	memset(&before, 0x44, sizeof(before));
	c = before;
	ck_assert_int_eq(kg_config_load_or_defaults(&c, path, true, NULL, NULL, err, sizeof(err)),
			 -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	ck_assert_str_eq(err, want);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);

	write_file(path, "proxy = { max_retries = 5; };\n", 30);
	ck_assert_int_eq(kg_config_load_or_defaults(&c, path, false, NULL, NULL, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(c.proxy.max_retries, 5);
	write_file(path, "proxy = { max_retries = 50; };\n", 31);
	c = before;
	ck_assert_int_eq(kg_config_load_or_defaults(&c, path, false, NULL, NULL, err, sizeof(err)),
			 -EINVAL);
	ck_assert(memcmp(&c, &before, sizeof(c)) == 0);
	unlink(path);
}
END_TEST

START_TEST(test_sample_config)
{
	const char *srcdir = getenv("top_srcdir");
	struct warnings w = {0};
	struct kg_config c, expected;
	char path[4096], err[512];

	snprintf(path, sizeof(path), "%s/etc/kernelgatekeeper.conf", srcdir ? srcdir : ".");
	ck_assert_msg(kg_config_load(&c, path, collect_warning, &w, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_msg(w.count == 0, "warning: %s", w.last);
	kg_config_defaults(&expected);
	strcpy(expected.proxy.url, "http://proxy.example.com:3128");
	strcpy(expected.kerberos.realm, "EXAMPLE.COM");
	ck_assert_msg(memcmp(&c, &expected, sizeof(c)) == 0,
		      "the sample differs from the defaults beyond url and realm");
}
END_TEST

START_TEST(test_url_parse)
{
	struct kg_url u;

	ck_assert_int_eq(kg_url_parse("http://proxy.example.com:3128", &u), 0);
	ck_assert_str_eq(u.scheme, "http");
	ck_assert_str_eq(u.host, "proxy.example.com");
	ck_assert_uint_eq(u.port, 3128);
	ck_assert_str_eq(u.path, "/");
	ck_assert_int_eq(kg_url_parse("HTTPS://proxy", &u), 0);
	ck_assert_str_eq(u.scheme, "https");
	ck_assert_uint_eq(u.port, 443);
	ck_assert_int_eq(kg_url_parse("http://wpad/wpad.dat?x=1", &u), 0);
	ck_assert_uint_eq(u.port, 80);
	ck_assert_str_eq(u.path, "/wpad.dat?x=1");
	ck_assert_int_eq(kg_url_parse("http://wpad?x=1", &u), 0);
	ck_assert_str_eq(u.path, "/?x=1");
	ck_assert_int_eq(kg_url_parse("http://[2001:db8::1]:8080/p", &u), 0);
	ck_assert_str_eq(u.host, "2001:db8::1");
	ck_assert_uint_eq(u.port, 8080);
	ck_assert_str_eq(u.path, "/p");
	ck_assert_int_eq(kg_url_parse("http://192.0.2.1:65535", &u), 0);
	ck_assert_uint_eq(u.port, 65535);

	memset(&u, 0x77, sizeof(u));
	ck_assert_int_eq(kg_url_parse("", &u), -EINVAL);
	ck_assert_uint_eq(u.port, 0x7777); /* untouched on failure */
	ck_assert_int_eq(kg_url_parse("http://", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://:80", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://host:", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://host:80x", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://host:123456", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://host:-1", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://[::1", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://[nothex]:80", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://[::1]x", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://a..b", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://a b", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://u@host", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http://host/#frag", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("socks5://host:1080", &u), -EINVAL);
	ck_assert_int_eq(kg_url_parse("http:/host", &u), -EINVAL);
}
END_TEST

START_TEST(test_cidr_parse)
{
	struct kg_cidr c;
	char text[64];

	ck_assert_int_eq(kg_cidr_parse("10.0.0.0/8", &c), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.prefix_len, 8);
	ck_assert_int_eq(kg_cidr_format(&c, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "10.0.0.0/8");
	ck_assert_int_eq(kg_cidr_parse("192.0.2.1", &c), 0);
	ck_assert_uint_eq(c.prefix_len, 32);
	ck_assert_int_eq(kg_cidr_parse("0.0.0.0/0", &c), 0);
	ck_assert_uint_eq(c.prefix_len, 0);
	ck_assert_int_eq(kg_cidr_parse("fd00::/8", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(kg_cidr_format(&c, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "fd00::/8");
	ck_assert_int_eq(kg_cidr_parse("2001:db8::1", &c), 0);
	ck_assert_uint_eq(c.prefix_len, 128);
	ck_assert_int_eq(kg_cidr_parse("::/0", &c), 0);
	ck_assert_int_eq(kg_cidr_parse("10.0.0.128/25", &c), 0);
	ck_assert_int_eq(kg_cidr_format(&c, text, 5), -ENOSPC);

	memset(&c, 0x11, sizeof(c));
	ck_assert_int_eq(kg_cidr_parse("10.1.0.0/8", &c), -EINVAL);
	ck_assert_uint_eq(c.prefix_len, 0x11); /* untouched on failure */
	ck_assert_int_eq(kg_cidr_parse("10.0.0.1/31", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("fd00::1/64", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("10.0.0.0/33", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("::/129", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("10.0.0.0/", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("10.0.0.0/8/8", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("/8", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("10.0.0/8", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("", &c), -EINVAL);
	ck_assert_int_eq(kg_cidr_parse("fe80::1%eth0", &c), -EINVAL);
}
END_TEST

START_TEST(test_proxy_type_names)
{
	ck_assert_str_eq(kg_proxy_type_to_string(KG_PROXY_HTTP), "http");
	ck_assert_str_eq(kg_proxy_type_to_string(KG_PROXY_HTTPS), "https");
	ck_assert_str_eq(kg_proxy_type_to_string(KG_PROXY_WPAD), "wpad");
	ck_assert_str_eq(kg_proxy_type_to_string(KG_PROXY_NONE), "none");
	ck_assert_str_eq(kg_proxy_type_to_string((enum kg_proxy_type)42), "unknown");
}
END_TEST

/* proxy.url as a list: failover order kept, 16 at most, a string again means one URL. */
START_TEST(test_proxy_url_list)
{
	struct kg_config c;
	struct warnings w = {0};
	const char *urls[KG_PROXY_URLS_MAX];
	char text[4096], err[512];
	int i;

	ck_assert_msg(parse(&c,
			    "proxy = { url = [ \"http://p1.example.com:3128\", "
			    "\"http://[2001:db8::2]:8080\", \"https://p3.example.com\" ];\n"
			    "fallback = \"direct\"; pac_timeout = 300; };",
			    &w, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_str_eq(c.proxy.url, "http://p1.example.com:3128");
	ck_assert_uint_eq(c.proxy.n_more_urls, 2);
	ck_assert_str_eq(c.proxy.more_urls[0], "http://[2001:db8::2]:8080");
	ck_assert_str_eq(c.proxy.more_urls[1], "https://p3.example.com");
	ck_assert_int_eq(c.proxy.fallback, KG_FALLBACK_DIRECT);
	ck_assert_uint_eq(c.proxy.pac_timeout, 300);
	ck_assert_uint_eq(kg_config_proxy_urls(&c, urls, KG_PROXY_URLS_MAX), 3);
	ck_assert_ptr_eq(urls[0], c.proxy.url);
	ck_assert_ptr_eq(urls[2], c.proxy.more_urls[1]);
	ck_assert_uint_eq(kg_config_proxy_urls(&c, urls, 2), 2);
	ck_assert_str_eq(kg_proxy_fallback_to_string(c.proxy.fallback), "direct");

	/* One URL in a list is the same as the string. */
	ck_assert_int_eq(
	    parse(&c, "proxy = { url = ( \"http://p1:3128\" ); };", &w, err, sizeof(err)), 0);
	ck_assert_str_eq(c.proxy.url, "http://p1:3128");
	ck_assert_uint_eq(c.proxy.n_more_urls, 0);
	ck_assert_int_eq(c.proxy.fallback, KG_FALLBACK_NONE);
	ck_assert_uint_eq(c.proxy.pac_timeout, 30);
	ck_assert_uint_eq(kg_config_proxy_urls(&c, urls, KG_PROXY_URLS_MAX), 1);

	/* Exactly 16. */
	strcpy(text, "proxy = { url = [ ");
	for (i = 0; i < KG_PROXY_URLS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "%s\"http://p%d.example.com:%d\"", i ? ", " : "", i, 3000 + i);
	strcat(text, " ]; };");
	ck_assert_msg(parse(&c, text, &w, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.proxy.n_more_urls, KG_PROXY_URLS_MAX - 1);
	ck_assert_str_eq(c.proxy.more_urls[14], "http://p15.example.com:3015");
	ck_assert_uint_eq(kg_config_proxy_urls(&c, urls, KG_PROXY_URLS_MAX), KG_PROXY_URLS_MAX);

	/* No URL at all: none. */
	ck_assert_int_eq(parse(&c, "proxy = { url = \"\"; };", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(kg_config_proxy_urls(&c, urls, KG_PROXY_URLS_MAX), 0);
	ck_assert_uint_eq(w.count, 0);
}
END_TEST

/* system { } (issue 17): off by default, root and _apt, names and numbers, each once. */
START_TEST(test_system_group)
{
	struct warnings w = {0};
	struct kg_config c;
	char err[512];
	uid_t uids[4], uid;

	ck_assert_int_eq(parse(&c, "", &w, err, sizeof(err)), 0);
	ck_assert(!c.system.enable);
	ck_assert_uint_eq(c.system.n_uids, 2);
	ck_assert_str_eq(c.system.uids[0], "root");
	ck_assert_str_eq(c.system.uids[1], "_apt");
	ck_assert_str_eq(c.system.keytab, "/etc/krb5.keytab");
	ck_assert_str_eq(c.system.principal, "");
	ck_assert_str_eq(c.system.user, "_kernelgatekeeper");

	ck_assert_msg(parse(&c,
			    "system = { enable = true; uids = ( \"root\", 105, \"nobody\" );"
			    " keytab = \"/run/k.keytab\"; principal = \"host/a.b@B\";"
			    " user = \"kgsys\"; };",
			    &w, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert(c.system.enable);
	ck_assert_uint_eq(c.system.n_uids, 3);
	ck_assert_str_eq(c.system.uids[1], "105");
	ck_assert_str_eq(c.system.uids[2], "nobody");
	ck_assert_str_eq(c.system.principal, "host/a.b@B");
	ck_assert_str_eq(c.system.user, "kgsys");
	ck_assert_uint_eq(w.count, 0);
	/* A shorter list leaves nothing of the default behind. */
	ck_assert_int_eq(parse(&c, "system = { uids = [ 7 ]; };", &w, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.system.n_uids, 1);
	ck_assert_str_eq(c.system.uids[1], "");
	ck_assert_uint_eq(kg_config_system_uids(&c, uids, 4, NULL, 0), 1);
	ck_assert_uint_eq(uids[0], 7);

	ck_assert_int_eq(
	    parse(&c, "system = { uids = [ \"root\", \"root\" ]; };", &w, err, sizeof(err)),
	    -EINVAL);
	ck_assert_msg(strstr(err, "listed twice") != NULL, "%s", err);
	ck_assert_int_eq(parse(&c, "system = { uids = [ \"a b\" ]; };", &w, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(parse(&c, "system = { uids = [ -1 ]; };", &w, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(parse(&c, "system = { uids = [ 1.5 ]; };", &w, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(parse(&c, "system = { keytab = \"krb5.keytab\"; };", &w, err, sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(parse(&c, "system = { user = \"\"; };", &w, err, sizeof(err)), -EINVAL);

	ck_assert_int_eq(kg_config_system_uid("0", &uid), 0);
	ck_assert_uint_eq(uid, 0);
	ck_assert_int_eq(kg_config_system_uid("root", &uid), 0);
	ck_assert_uint_eq(uid, 0);
	ck_assert_int_eq(kg_config_system_uid("no-such-user-kgtest", &uid), -ENOENT);
	ck_assert_int_eq(kg_config_system_uid("12x", &uid), -EINVAL);
	ck_assert_int_eq(parse(&c, "system = { uids = ( \"no-such-user-kgtest\", \"root\", 0 ); };",
			       &w, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(kg_config_system_uids(&c, uids, 4, err, sizeof(err)), 1);
	ck_assert_str_eq(err, "no-such-user-kgtest");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_text_gives_defaults);
	tcase_add_test(tc, test_sample_file_is_the_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_empty_lists_and_other_values);
	tcase_add_loop_test(tc, test_bad_input, 0,
			    (int)(sizeof(bad_inputs) / sizeof(bad_inputs[0])));
	tcase_add_test(tc, test_things_that_are_not_errors);
	tcase_add_test(tc, test_unknown_keys_warn);
	tcase_add_test(tc, test_no_error_buffer);
	tcase_add_test(tc, test_ccache_tokens);
	tcase_add_test(tc, test_too_many_entries);
	tcase_add_test(tc, test_malformed_input);
	tcase_add_test(tc, test_size_and_line_limits);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_missing_file_means_defaults);
	tcase_add_test(tc, test_sample_config);
	tcase_add_test(tc, test_url_parse);
	tcase_add_test(tc, test_cidr_parse);
	tcase_add_test(tc, test_proxy_type_names);
	tcase_add_test(tc, test_proxy_url_list);
	tcase_add_test(tc, test_system_group);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
