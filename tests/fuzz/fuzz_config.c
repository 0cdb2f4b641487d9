// fuzz-sources: src/shared/config.c src/shared/config_scan.c src/shared/log.c
// fuzz-sources: src/shared/ratelimit.c src/shared/ccname.c src/shared/config_url.c
// fuzz-sources: src/shared/config_store.c src/shared/config_system.c
// fuzz-libs: -lconfig -lsystemd
/* libFuzzer target for the configuration parser: arbitrary bytes as a config file, and as a URL
 * and a CIDR; an accepted kerberos.ccache is expanded as a client would. Beyond "no crash", it
 * checks that whatever is accepted is within the documented ranges and that every message is a
 * bounded "name:..." string. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/ccname.h"
#include "shared/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 itself leaks a string token it cannot use ("a = 1 \"x\";"), a few bytes per
 * rejected file. config_scan() now refuses those before libconfig sees them, which also keeps this
 * target fast (every leaking input cost libFuzzer a full leak scan: ~1,100 exec/s instead of
 * ~17,000); the suppression stays for any case it misses. Only the lexer's allocations are
 * suppressed: a config_t we failed to destroy would still be reported through the settings its
 * parser allocates. */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static void check_message(void *userdata __attribute__((unused)), const char *msg)
{
	if (strncmp(msg, "f.conf:", 7) != 0 || strlen(msg) >= 512)
		__builtin_trap();
}

static void check_config(const struct kg_config *c)
{
	unsigned i;

	if (c->proxy.type > KG_PROXY_NONE || c->proxy.connection_timeout < 1 ||
	    c->proxy.connection_timeout > 600 || c->proxy.request_timeout < 1 ||
	    c->proxy.request_timeout > 3600 || c->proxy.max_retries > 10 ||
	    c->ebpf.n_target_ports > KG_MAX_TARGET_PORTS || c->ebpf.n_bypass > KG_MAX_BYPASS ||
	    c->ebpf.stats_interval > 86400 || c->shutdown_timeout < 1 ||
	    c->shutdown_timeout > 3600 || c->socket_path[0] != '/' || c->ebpf.cgroup_path[0] != '/')
		__builtin_trap();
	for (i = 0; i < c->ebpf.n_target_ports; i++)
		if (c->ebpf.target_ports[i] == 0)
			__builtin_trap();
	for (i = 0; i < c->ebpf.n_bypass; i++)
		if (c->ebpf.bypass[i].prefix_len > (c->ebpf.bypass[i].family == AF_INET ? 32 : 128))
			__builtin_trap();
	if (c->proxy.url[0]) {
		struct kg_url u;

		if (kg_url_parse(c->proxy.url, &u) < 0 || u.port == 0)
			__builtin_trap();
	}
	{
		/* The loader accepted its tokens: a client can only fail on length or a missing
		 * user name, and what it makes is a bounded string. */
		static const struct kg_ccname_ids ids = {
		    .uid = 4294967294u, .euid = 1, .username = "someone", .tmpdir = "/var/tmp"};
		char out[64];
		const char *why;
		int r = kg_ccname_expand(c->kerberos.ccache, &ids, out, sizeof(out), &why);

		if (r == -EINVAL || (r == 0 && strlen(out) >= sizeof(out)))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kg_config cfg;
	struct kg_cidr cidr;
	struct kg_url url;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (kg_config_parse(&cfg, text, "f.conf", check_message, NULL, err, sizeof(err)) == 0)
		check_config(&cfg);
	else if (strncmp(err, "f.conf", 6) != 0)
		__builtin_trap();

	if (kg_url_parse(text, &url) == 0 && (url.port == 0 || url.path[0] != '/'))
		__builtin_trap();
	if (kg_cidr_parse(text, &cidr) == 0) {
		char back[64];
		struct kg_cidr again;

		/* A canonical CIDR formats and parses back to itself. */
		if (kg_cidr_format(&cidr, back, sizeof(back)) < 0 ||
		    kg_cidr_parse(back, &again) < 0 || memcmp(&again, &cidr, sizeof(cidr)) != 0)
			__builtin_trap();
	}
	free(text);
	return 0;
}
