// fuzz-sources: src/client/proto/http_*.c src/client/proto/sniff.c
// fuzz-sources: src/client/proto/authority.c
// fuzz-libs:
/* libFuzzer target for application request heads on port 80 and their rewrite for the proxy.
 *
 * Invariants: spans stay inside the head; a parsed request rewritten to absolute-form with our
 * Proxy-Authorization parses again (or hits a size cap, as the rewrite adds bytes) and never
 * carries the application's own Proxy-Authorization.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/proto/http.h"

static void check_span(struct kg_span s, size_t head_len)
{
	assert(s.off <= head_len && s.len <= head_len - s.off);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KG_HTTP_HEAD_MAX + 1024];
	struct kg_http_request r, again;
	size_t n;

	int e = kg_http_request_parse(data, size, &r);
	assert(e == 0 || e == -EAGAIN || e == -EBADMSG || e == -E2BIG);
	if (e != 0)
		return 0;
	assert(r.head_len <= size && r.head_len <= KG_HTTP_HEAD_MAX);
	assert(r.line_off < r.headers_off && r.headers_off <= r.head_len - 2);
	check_span(r.method, r.head_len);
	check_span(r.target, r.head_len);
	check_span(r.authority, r.head_len);
	assert(!(r.chunked && r.has_content_length));
	(void)kg_http_request_keep_alive(&r);

	e = kg_http_request_rewrite(data, &r, "fuzz.example:8080", "Zm9v", out, sizeof(out), &n);
	if (r.target_form == KG_TARGET_AUTHORITY) {
		assert(e == -EINVAL);
		return 0;
	}
	assert(e == 0 && n <= sizeof(out));
	e = kg_http_request_parse(out, n, &again);
	assert(e == 0 || e == -E2BIG);
	if (e == 0) {
		assert(again.head_len == n && again.target_form == KG_TARGET_ABSOLUTE);
		assert(again.chunked == r.chunked && again.content_length == r.content_length);
	}
	return 0;
}
