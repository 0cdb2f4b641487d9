// fuzz-sources: src/shared/config.c src/shared/config_scan.c src/shared/config_wire.c
// fuzz-sources: src/shared/ipc.c src/shared/log.c src/shared/ratelimit.c src/shared/ccname.c
// fuzz-sources: src/shared/netutil.c src/shared/config_url.c
// fuzz-sources: src/shared/config_store.c src/shared/config_system.c
// fuzz-libs: -lconfig -lsystemd
/* libFuzzer target: the client's decoder of the service's KG_MSG_CONFIG must accept or refuse
 * any payload without reading outside it, and what it accepts must encode again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[KG_IPC_MAX_PAYLOAD];
	struct kg_ipc_msg m = {.hdr = {.type = KG_MSG_CONFIG}};
	struct kg_config cfg;
	uint8_t *copy;
	char err[KG_IPC_TEXT_MAX * 3];
	size_t len;

	if (size > KG_IPC_MAX_PAYLOAD)
		return 0;
	/* An exact-size heap copy so ASan sees any read past the payload. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	m.payload = copy;
	m.len = size;
	if (kg_config_wire_decode(&m, &cfg, err, sizeof(err)) == 0 &&
	    kg_config_wire_encode(&cfg, cfg.ebpf.target_ports, cfg.ebpf.n_target_ports, out,
				  sizeof(out), &len) != 0)
		abort();
	free(copy);
	return 0;
}
