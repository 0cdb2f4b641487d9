// fuzz-sources: src/client/proto/http_chunked.c
// fuzz-libs:
/* libFuzzer target for the chunked-body framer (kg_chunked_feed) fed the way the relay feeds it:
 * the stream split into reads of fuzzer-chosen sizes. The first byte says how many split sizes
 * follow (up to 15), each one byte (0 means a 1-byte read); the sizes repeat until the stream is
 * used up.
 *
 * Invariants: the split stream gives exactly what the whole stream gives in one call: the same
 * result, the same end of message, and while more is needed the same framer state; a call
 * never consumes more than it was given, and consumes everything when it asks for more.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "client/proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds data[0..size) in pieces of sizes[i % n] bytes; 0, 1 or a -errno as kg_chunked_feed,
 * *end: where the message ended (1) or the bytes consumed so far. */
static int feed(struct kg_chunked *c, const uint8_t *data, size_t size, const uint8_t *sizes,
		size_t n, size_t *end)
{
	size_t off = 0, i = 0;
	int e = 0;

	kg_chunked_init(c);
	do {
		size_t piece = size - off, used = 0;

		if (n) {
			piece = sizes[i % n] ? sizes[i % n] : 1;
			i++;
		}

		if (piece > size - off)
			piece = size - off;
		e = kg_chunked_feed(c, data + off, piece, &used);
		assert(e == 0 || e == 1 || e == -EBADMSG || e == -E2BIG);
		if (e >= 0)
			assert(used <= piece);
		if (e == 0)
			assert(used == piece);
		if (e >= 0)
			off += used;
	} while (e == 0 && off < size);
	*end = off;
	return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kg_chunked whole, split;
	size_t n, end_whole, end_split;
	const uint8_t *sizes;
	int a, b;

	if (size < 1)
		return 0;
	n = data[0] & 15;
	if (n > size - 1)
		n = size - 1;
	sizes = data + 1;
	data += 1 + n;
	size -= 1 + n;

	a = feed(&whole, data, size, NULL, 0, &end_whole);
	b = feed(&split, data, size, sizes, n, &end_split);
	assert(a == b);
	if (a >= 0)
		assert(end_whole == end_split);
	if (a == 0) {
		assert(end_whole == size);
		assert(memcmp(&whole, &split, sizeof(whole)) == 0);
	}
	/* A message that ended is framed the same with anything after it. */
	if (a == 1) {
		struct kg_chunked again;
		size_t end_again;

		assert(feed(&again, data, end_whole, NULL, 0, &end_again) == 1 &&
		       end_again == end_whole);
	}
	return 0;
}
