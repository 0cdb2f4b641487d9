// fuzz-sources: src/client/route/netwatch.c src/client/loop.c
// fuzz-libs:
/* libFuzzer target for the rtnetlink datagram check of the network change watcher
 * (src/client/route/netwatch.c): any bytes, at any length, read as one datagram.
 *
 * Beyond "no crash" (ASan sees every read past the datagram): the answer does not depend on
 * bytes after the given length, and a datagram that holds no complete message header is never
 * a change.
 */
#include <assert.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/route/netwatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b;
	bool r;

	/* Copies (malloc aligns them as recvmsg's buffer is), one with garbage after the datagram.
	 */
	a = malloc(size + 8);
	b = malloc(size + 64 + 8);
	if (!a || !b) {
		free(a);
		free(b);
		return 0;
	}
	memcpy(a, data, size);
	memcpy(b, data, size);
	memset(b + size, 0x5a, 64);
	r = kg_netwatch_relevant(a, size);
	assert(r == kg_netwatch_relevant(b, size));
	if (size < sizeof(struct nlmsghdr))
		assert(!r);
	free(a);
	free(b);
	return 0;
}
