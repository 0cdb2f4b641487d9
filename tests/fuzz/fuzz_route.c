// fuzz-sources: src/client/route/route.c src/client/proto/authority.c
// fuzz-libs:
/* libFuzzer target for the route parsers (src/client/route/route.c): the input is read as a
 * PAC answer, as one proxy.url, and as a newline-separated proxy.url list.
 *
 * Beyond "no crash": results are one of the documented codes, an error always comes with a
 * printable one-line sentence, every parsed entry is well formed, and every parsed entry
 * printed (as a PAC entry, and as a URL for proxies) parses back to itself, as does the whole
 * route printed as a PAC answer.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/route.h"

static void check_err(int r, const char *err)
{
	size_t n = strnlen(err, KG_ROUTE_ERR_MAX);

	assert(n < KG_ROUTE_ERR_MAX);
	assert((r == 0) == (n == 0));
	for (size_t i = 0; i < n; i++)
		assert(err[i] >= 0x20 && err[i] < 0x7f);
}

static void check_entry(const struct kg_route_entry *e)
{
	struct kg_route again;
	struct kg_route_entry u;
	char text[KG_ROUTE_ENTRY_TEXT_MAX], url[KG_ROUTE_ENTRY_TEXT_MAX + 8];
	char err[KG_ROUTE_ERR_MAX];
	int n;

	if (e->kind == KG_ROUTE_DIRECT) {
		assert(e->host[0] == '\0' && e->port == 0);
	} else {
		assert(e->kind == KG_ROUTE_PROXY || e->kind == KG_ROUTE_HTTPS);
		assert(e->host[0] != '\0' && strlen(e->host) < KG_HOST_MAX && e->port > 0);
	}
	n = kg_route_entry_format(e, text, sizeof(text));
	assert(n > 0 && (size_t)n < sizeof(text));
	assert(kg_route_parse_pac(text, (size_t)n, &again, err, sizeof(err)) == 0);
	assert(again.n == 1 && !again.skipped && !again.truncated);
	assert(kg_route_entry_equal(&again.e[0], e));
	if (e->kind == KG_ROUTE_DIRECT) {
		assert(kg_route_entry_url(e, url, sizeof(url)) == -EINVAL);
		return;
	}
	n = kg_route_entry_url(e, url, sizeof(url));
	assert(n > 0 && (size_t)n < sizeof(url));
	assert(kg_route_parse_url(url, &u, err, sizeof(err)) == 0);
	assert(kg_route_entry_equal(&u, e));
}

static void check_route(const struct kg_route *r)
{
	static char text[KG_ROUTE_MAX * (KG_ROUTE_ENTRY_TEXT_MAX + 2)];
	struct kg_route again;
	char err[KG_ROUTE_ERR_MAX];
	int n;

	assert(r->n >= 1 && r->n <= KG_ROUTE_MAX);
	assert(!r->truncated || r->n == KG_ROUTE_MAX);
	for (size_t i = 0; i < r->n; i++)
		check_entry(&r->e[i]);
	n = kg_route_format(r, text, sizeof(text));
	assert(n > 0);
	assert(kg_route_parse_pac(text, (size_t)n, &again, err, sizeof(err)) == 0);
	assert(again.n == r->n && !again.skipped && !again.truncated);
	for (size_t i = 0; i < r->n; i++)
		assert(kg_route_entry_equal(&again.e[i], &r->e[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kg_route r;
	struct kg_route_entry e;
	char err[KG_ROUTE_ERR_MAX];
	char *s;
	const char *urls[KG_ROUTE_MAX + 2];
	size_t n = 0;
	int rc;

	/* As a PAC answer (NUL bytes included). */
	rc = kg_route_parse_pac((const char *)data, size, &r, err, sizeof(err));
	assert(rc == 0 || rc == -EBADMSG || rc == -E2BIG || rc == -ENOENT);
	check_err(rc, err);
	if (rc == 0)
		check_route(&r);
	else
		assert(r.n == 0);

	/* As one proxy.url, up to the first NUL. */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = kg_route_parse_url(s, &e, err, sizeof(err));
	assert(rc == 0 || rc == -EBADMSG || rc == -E2BIG);
	check_err(rc, err);
	if (rc == 0)
		check_entry(&e);

	/* As a proxy.url list, one per line. */
	for (char *p = s, *nl; n < KG_ROUTE_MAX + 2; p = nl + 1) {
		urls[n++] = p;
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
	}
	rc = kg_route_parse_urls(urls, n, &r, err, sizeof(err));
	assert(rc == 0 || rc == -EBADMSG || rc == -E2BIG);
	check_err(rc, err);
	if (rc == 0) {
		assert(r.n == n);
		check_route(&r);
	}
	free(s);
	return 0;
}
