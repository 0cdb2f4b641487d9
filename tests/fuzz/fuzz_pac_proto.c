// fuzz-sources: src/shared/pac_proto.c
// fuzz-libs:
/* libFuzzer target for the PAC evaluator's message parser (src/shared/pac_proto.c): the input
 * is one frame body (what follows the 4-byte length); its first 4 bytes are also read as a
 * frame header.
 *
 * Beyond "no crash": the decoder answers 0 or -EBADMSG; a refused body leaves the message
 * zeroed; an accepted one re-encodes to exactly the input (the format has one encoding per
 * message, and the encoder accepts whatever the decoder does), and its strings are as long
 * as their recorded lengths; a FIND re-encodes the same from its table alone.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/pac_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kg_pac_msg m, zero;
	static uint8_t frame[KG_PAC_FRAME_HDR + KG_PAC_BODY_MAX];

	if (size >= KG_PAC_FRAME_HDR) {
		size_t n = 0;
		int r = kg_pac_frame_body_len(data, &n);
		assert(r == 0 || r == -EBADMSG);
		assert(r < 0 || (n >= 1 && n <= KG_PAC_BODY_MAX));
	}

	int r = kg_pac_msg_decode(data, size, &m);
	assert(r == 0 || r == -EBADMSG);
	if (r < 0) {
		assert(memcmp(&m, &zero, sizeof(m)) == 0);
		return 0;
	}
	if (m.text)
		assert(strlen(m.text) == m.text_len);
	if (m.type == KG_PAC_FIND) {
		assert(m.find.ndns <= KG_PAC_DNS_MAX);
		for (uint16_t i = 0; i < m.find.ndns; i++)
			assert(m.find.dns[i].naddr <= KG_PAC_DNS_ADDRS_MAX);
	}
	ssize_t n = kg_pac_msg_encode(&m, frame, sizeof(frame));
	assert(n == (ssize_t)(size + KG_PAC_FRAME_HDR));
	assert(memcmp(frame + KG_PAC_FRAME_HDR, data, size) == 0);
	size_t blen;
	assert(kg_pac_frame_body_len(frame, &blen) == 0 && blen == size);
	/* The client encodes its FINDs from the table alone (kg_pac_find_encode): same bytes. */
	if (m.type == KG_PAC_FIND) {
		assert(kg_pac_find_size(&m.find) == n);
		assert(kg_pac_find_encode(&m.find, frame, sizeof(frame)) == n);
		assert(memcmp(frame + KG_PAC_FRAME_HDR, data, size) == 0);
	}
	return 0;
}
