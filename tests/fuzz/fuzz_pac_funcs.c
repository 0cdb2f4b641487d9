// fuzz-sources: src/client/route/pac_funcs.c
// fuzz-libs:
/* libFuzzer target for the PAC standard functions of pac_funcs.c, whose arguments come from the
 * PAC file (a server's bytes) as the JavaScript glue hands them over: C strings. The input is
 * NUL-separated arguments (up to 8, each cut at 512 bytes); byte 0 picks the clock (a struct tm
 * for local time and one for UTC) the date functions see.
 *
 * Invariants beyond "no crash": a string without '*' and '?' matches itself and everything
 * matches "*"; a host is in its own domain; dnsDomainLevels counts the dots; a plain host name
 * has neither dot nor colon; an IPv4 literal is in its own /32 and in 0.0.0.0/0 (isInNetEx too
 * when inet_pton() reads it); a sorted list sorts to itself; every function gives the same answer
 * twice.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "client/route/pac_funcs.h"

#define ARGS	8
#define ARG_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void strings(const char *a, const char *b)
{
	size_t dots = 0;

	assert(kg_pac_sh_exp_match(a, "*"));
	if (!strpbrk(a, "*?"))
		assert(kg_pac_sh_exp_match(a, a));
	assert(kg_pac_sh_exp_match(a, b) == kg_pac_sh_exp_match(a, b));
	assert(kg_pac_dns_domain_is(a, a));
	(void)kg_pac_dns_domain_is(a, b);
	(void)kg_pac_local_host_or_domain_is(a, b);
	assert(kg_pac_local_host_or_domain_is(a, a));
	for (const char *p = a; *p; p++)
		dots += *p == '.';
	assert(kg_pac_dns_domain_levels(a) == (int)dots);
	assert(kg_pac_is_plain_host_name(a) == (!strchr(a, '.') && !strchr(a, ':')));
}

static void addresses(const char *a, const char *b, const char *c)
{
	char out[4096], again[4096], prefix[ARG_MAX + 8];
	struct in_addr v4;
	int r;

	(void)kg_pac_is_in_net(a, b, c);
	(void)kg_pac_is_in_net_ex(a, b);
	if (kg_pac_is_ipv4_literal(a)) {
		assert(kg_pac_is_in_net(a, a, "255.255.255.255"));
		assert(kg_pac_is_in_net(a, "0.0.0.0", "0.0.0.0"));
	}
	/* isInNetEx reads addresses as inet_pton() does (no leading zeros). */
	if (inet_pton(AF_INET, a, &v4) == 1) {
		snprintf(prefix, sizeof(prefix), "%s/32", a);
		assert(kg_pac_is_in_net_ex(a, prefix));
		assert(kg_pac_is_in_net_ex(a, "0.0.0.0/0"));
	}
	r = kg_pac_sort_ip_address_list(a, out, sizeof(out));
	assert(r == 0 || r == -EINVAL || r == -E2BIG || r == -ENOSPC);
	if (r == 0) {
		assert(strlen(out) < sizeof(out));
		assert(kg_pac_sort_ip_address_list(out, again, sizeof(again)) == 0);
		assert(strcmp(out, again) == 0);
	}
}

static void dates(const char *const *argv, size_t argc, uint8_t pick)
{
	struct tm local, gmt;
	time_t t = (time_t)1700000000 + (time_t)pick * 86400 * 13 + (time_t)pick * 3671;
	bool x;

	gmtime_r(&t, &gmt);
	t += 3600 * ((pick & 31) - 12);
	gmtime_r(&t, &local);
	for (size_t n = 0; n <= argc; n++) {
		x = kg_pac_weekday_range(argv, n, &local, &gmt);
		assert(x == kg_pac_weekday_range(argv, n, &local, &gmt));
		x = kg_pac_date_range(argv, n, &local, &gmt);
		assert(x == kg_pac_date_range(argv, n, &local, &gmt));
		x = kg_pac_time_range(argv, n, &local, &gmt);
		assert(x == kg_pac_time_range(argv, n, &local, &gmt));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[ARGS][ARG_MAX + 1];
	const char *argv[ARGS];
	size_t argc = 0, off = 1;

	if (size < 1)
		return 0;
	while (argc < ARGS && off < size) {
		const uint8_t *end = memchr(data + off, '\0', size - off);
		size_t len = end ? (size_t)(end - (data + off)) : size - off;

		memcpy(buf[argc], data + off, len < ARG_MAX ? len : ARG_MAX);
		buf[argc][len < ARG_MAX ? len : ARG_MAX] = '\0';
		argv[argc] = buf[argc];
		argc++;
		off += len + 1;
	}
	for (size_t i = argc; i < ARGS; i++)
		argv[i] = "";
	strings(argv[0], argv[1]);
	addresses(argv[0], argv[1], argv[2]);
	dates(argv, argc, data[0]);
	return 0;
}
