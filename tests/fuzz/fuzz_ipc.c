// fuzz-sources: src/shared/ipc.c src/shared/netutil.c
// fuzz-libs:
/* libFuzzer target: the service's IPC decoder and the config-entry iterator must reject or
 * accept any datagram without reading outside it. A route report (KG_MSG_CLIENT_ROUTE, a
 * client's text that root's ctl prints) that passes must hold printable ASCII only, each text
 * ending within its array; and kg_ipc_route_check() is given the raw bytes too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/ipc.h"

/* What the decoder promised for an accepted route report: abort() otherwise. */
static void route_promise(const struct kg_ipc_route *r)
{
	size_t i, hl = strnlen(r->host, sizeof(r->host)), rl = strnlen(r->route, sizeof(r->route));

	if (hl >= sizeof(r->host) || rl >= sizeof(r->route) || rl == 0)
		abort();
	for (i = 0; i < hl; i++)
		if (r->host[i] <= ' ' || r->host[i] > '~')
			abort();
	for (i = 0; i < rl; i++)
		if (r->route[i] < ' ' || r->route[i] > '~')
			abort();
}

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
	if (size == sizeof(struct kg_ipc_route)) {
		struct kg_ipc_route r;

		memcpy(&r, copy, sizeof(r));
		if (kg_ipc_route_check(&r, 1) == 0) {
			route_promise(&r);
			if (r.uid != 0)
				abort();
		}
	}
	if (kg_ipc_decode(copy, size, &m) == 0 &&
	    (m.hdr.type == KG_MSG_CLIENT_ROUTE || m.hdr.type == KG_MSG_ROUTE)) {
		struct kg_ipc_route r;

		memcpy(&r, m.payload, sizeof(r));
		route_promise(&r);
	}
	if (kg_ipc_decode(copy, size, &m) == 0 && m.hdr.type == KG_MSG_CONFIG)
		for (i = 0;
		     i < 4096 && kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)) > 0; i++)
			;
	free(copy);
	return 0;
}
