// fuzz-sources: src/client/proto/http_*.c
// fuzz-sources: src/client/proto/base64.c src/client/proto/sniff.c
// fuzz-sources: src/client/proto/authority.c
// fuzz-libs:
/* libFuzzer target for what the proxy sends us: response heads, chunked bodies (a 407's body
 * is discarded by its framing), and the base64 Negotiate tokens.
 *
 * Invariants: head_len and every span stay inside the head; the chunked framer finds the
 * same end of message however the stream is split; base64 decodes what it encodes.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/proto/base64.h"
#include "client/proto/http.h"

static void check_span(struct kg_span s, size_t head_len)
{
	assert(s.off <= head_len && s.len <= head_len - s.off);
}

static void response(const uint8_t *data, size_t size)
{
	static uint8_t token[KG_HTTP_HEAD_MAX];
	struct kg_http_response r;
	uint64_t length;
	size_t n;

	int e = kg_http_response_parse(data, size, &r);
	assert(e == 0 || e == -EAGAIN || e == -EBADMSG || e == -E2BIG);
	if (e != 0)
		return;
	assert(r.head_len <= size && r.head_len <= KG_HTTP_HEAD_MAX);
	assert(r.status >= 100 && r.status <= 599);
	check_span(r.reason, r.head_len);
	if (r.negotiate == KG_NEGOTIATE_TOKEN) {
		check_span(r.negotiate_token, r.head_len);
		e = kg_base64_decode((const char *)data + r.negotiate_token.off,
				     r.negotiate_token.len, token, sizeof(token), &n);
		assert(e == 0 || e == -EBADMSG);
	}
	(void)kg_http_response_framing(&r, size & 1, size & 2, &length);
	(void)kg_http_response_keep_alive(&r);
	/* the same head with anything after it parses the same */
	struct kg_http_response again;
	assert(kg_http_response_parse(data, r.head_len, &again) == 0);
	assert(again.head_len == r.head_len && again.status == r.status);
}

static int chunked_split(const uint8_t *data, size_t size, size_t split, size_t *total)
{
	struct kg_chunked c;
	size_t used, off = 0;
	int e;

	kg_chunked_init(&c);
	e = kg_chunked_feed(&c, data, split, &used);
	off = used;
	if (e == 0 && split < size) {
		e = kg_chunked_feed(&c, data + split, size - split, &used);
		off += used;
	}
	assert(e == 0 || e == 1 || e == -EBADMSG || e == -E2BIG);
	*total = off;
	return e;
}

static void chunked(const uint8_t *data, size_t size)
{
	size_t whole, split;

	int a = chunked_split(data, size, size, &whole);
	int b = chunked_split(data, size, size / 3, &split);
	assert(a == b);
	if (a >= 0)
		assert(whole == split && whole <= size);
	if (a == 0)
		assert(whole == size);
}

static void base64(const uint8_t *data, size_t size)
{
	static char text[KG_BASE64_LEN(4096) + 1];
	static uint8_t back[4096];
	size_t n, m;

	if (size > 4096)
		size = 4096;
	assert(kg_base64_encode(data, size, text, sizeof(text), &n) == 0);
	assert(n == KG_BASE64_LEN(size) && text[n] == '\0');
	assert(kg_base64_decode(text, n, back, sizeof(back), &m) == 0);
	assert(m == size && memcmp(back, data, size) == 0);
	/* and arbitrary text decodes strictly or not at all */
	int e = kg_base64_decode((const char *)data, size, back, sizeof(back), &m);
	assert(e == 0 || e == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	response(data, size);
	chunked(data, size);
	base64(data, size);
	return 0;
}
