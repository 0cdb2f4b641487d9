// fuzz-sources: src/shared/ipc.c src/shared/netutil.c
// fuzz-libs:
/* libFuzzer target: the service's IPC decoder and the config-entry iterator must reject or
 * accept any datagram without reading outside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kg_ipc_msg m;
	uint8_t *copy;
	char k[KG_IPC_TEXT_MAX], v[KG_IPC_TEXT_MAX * 2];
	size_t pos = 0;
	int i;

	if (size > KG_IPC_MAX_MSG + 16)
		return 0;
	/* An exact-size heap copy so ASan sees any read past the datagram. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (kg_ipc_decode(copy, size, &m) == 0 && m.hdr.type == KG_MSG_CONFIG)
		for (i = 0;
		     i < 4096 && kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)) > 0; i++)
			;
	free(copy);
	return 0;
}
