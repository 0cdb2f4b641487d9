// fuzz-sources: src/client/route/wpad.c
// fuzz-libs: -lpsl
/* libFuzzer target for the resolv.conf search list parser and the WPAD DNS walk
 * (src/client/route/wpad.c): the input is read as resolv.conf, and each domain found is
 * walked; the input is also walked as one domain name.
 *
 * Beyond "no crash": every domain found is normalized (normalizing it again gives itself) and
 * unique; every candidate is http://wpad.<domain>/wpad.dat for a domain of two labels or more
 * that is not a public suffix and ends the search domain it came from.
 */
#include <assert.h>
#include <libpsl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/wpad.h"

static void check_candidate(const char *url, const char *from)
{
	static const char head[] = "http://wpad.", tail[] = "/wpad.dat";
	const psl_ctx_t *psl = psl_builtin();
	char d[KG_WPAD_DOMAIN_MAX];
	size_t n = strlen(url), dn, fn = strlen(from);

	assert(n > sizeof(head) - 1 + sizeof(tail) - 1);
	assert(memcmp(url, head, sizeof(head) - 1) == 0);
	assert(strcmp(url + n - (sizeof(tail) - 1), tail) == 0);
	dn = n - (sizeof(head) - 1) - (sizeof(tail) - 1);
	assert(dn < sizeof(d));
	memcpy(d, url + sizeof(head) - 1, dn);
	d[dn] = '\0';
	assert(strchr(d, '.'));
	assert(!psl || !psl_is_public_suffix(psl, d));
	/* d is from itself or one of its parents. */
	assert(dn <= fn && strcmp(from + fn - dn, d) == 0 &&
	       (dn == fn || from[fn - dn - 1] == '.'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kg_wpad_search s;
	struct kg_wpad_candidates c;
	char d[KG_WPAD_DOMAIN_MAX], *one;
	size_t before;

	kg_wpad_parse_resolv((const char *)data, size, &s);
	assert(s.n <= KG_WPAD_SEARCH_MAX);
	c.n = 0;
	for (size_t i = 0; i < s.n; i++) {
		assert(kg_wpad_domain_normalize(s.domain[i], strlen(s.domain[i]), d));
		assert(strcmp(d, s.domain[i]) == 0);
		for (size_t j = 0; j < i; j++)
			assert(strcmp(s.domain[i], s.domain[j]) != 0);
		before = c.n;
		assert(kg_wpad_dns_candidates(s.domain[i], &c) == c.n - before);
		for (size_t k = before; k < c.n; k++)
			check_candidate(c.url[k], s.domain[i]);
	}
	assert(c.n <= KG_WPAD_CANDIDATES_MAX);

	one = malloc(size + 1);
	if (!one)
		return 0;
	memcpy(one, data, size);
	one[size] = '\0';
	c.n = 0;
	kg_wpad_dns_candidates(one, &c);
	if (c.n > 0) {
		assert(kg_wpad_domain_normalize(one, strlen(one), d));
		for (size_t k = 0; k < c.n; k++)
			check_candidate(c.url[k], d);
	}
	free(one);
	return 0;
}
