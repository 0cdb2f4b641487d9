// fuzz-sources: src/client/proto/http_*.c src/client/proto/sniff.c
// fuzz-sources: src/client/proto/authority.c
// fuzz-libs:
/* libFuzzer target for the SNI and Host sniffers and the authority parser.
 *
 * Beyond "no crash": a name is only ever a valid, NUL-terminated one, and a prefix of the
 * input that already gives a name gives the same name (the sniffers look at nothing past the
 * end of what they parse).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/proto/sniff.h"

static void check_result(int r, const char *host)
{
	assert(r == 1 || r == 0 || r == -EAGAIN || r == -EBADMSG);
	if (r == 1)
		assert(strlen(host) > 0 && strlen(host) < KG_HOST_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[KG_HOST_MAX], part[KG_HOST_MAX];
	uint16_t port, part_port;
	int r, p;

	r = kg_sniff_tls_sni(data, size, host, sizeof(host));
	check_result(r, host);
	p = kg_sniff_tls_sni(data, size / 2, part, sizeof(part));
	check_result(p, part);
	if (r == 1 && p == 1)
		assert(strcmp(host, part) == 0);

	r = kg_sniff_http_host(data, size, host, sizeof(host), &port);
	check_result(r, host);
	p = kg_sniff_http_host(data, size / 2, part, sizeof(part), &part_port);
	check_result(p, part);
	if (r == 1 && p == 1)
		assert(strcmp(host, part) == 0 && port == part_port);

	r = kg_authority_parse((const char *)data, size, host, sizeof(host), &port);
	assert(r == 0 || r == -EBADMSG);
	return 0;
}
