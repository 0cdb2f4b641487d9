// fuzz-sources: src/client/route/dns_cache.c src/shared/pac_proto.c
// fuzz-libs: -lresolv
/* libFuzzer target for the PAC engine's DNS answer parser (kg_dns_parse_answer in
 * src/client/route/dns_cache.c): the input is one DNS message, read for A and for AAAA
 * records, with room for few and for many addresses.
 *
 * Beyond "no crash" (and no read outside the input, which ASan checks): the result is one of
 * the documented codes; addresses are only handed out with 0, never more than the room given,
 * each of the asked family; the TTL is that of a record when there are addresses and
 * UINT32_MAX when there are none.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/dns_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, uint16_t qtype, size_t cap)
{
	struct kg_pac_addr out[KG_PAC_DNS_ADDRS_MAX];
	size_t n = 12345;
	uint32_t ttl = 7;
	int r = kg_dns_parse_answer(data, size, qtype, out, cap, &n, &ttl);
	assert(r == 0 || r == -ENOENT || r == -EAGAIN || r == -EBADMSG);
	assert(n <= cap);
	if (r == 0) {
		assert(n >= 1);
		for (size_t i = 0; i < n; i++)
			assert(out[i].family == (qtype == 1 ? 4 : 6));
	} else if (r == -ENOENT || r == -EAGAIN) {
		assert(n == 0 && ttl == UINT32_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	check(copy, size, 1, 1);
	check(copy, size, 1, KG_PAC_DNS_ADDRS_MAX);
	check(copy, size, 28, 2);
	check(copy, size, 28, KG_PAC_DNS_ADDRS_MAX);
	free(copy);
	return 0;
}
