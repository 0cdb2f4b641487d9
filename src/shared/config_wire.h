/* The configuration as the service's KG_MSG_CONFIG answer, and back (DESIGN.md §5).
 *
 * One table in config_wire.c names each key the client is sent, its field in struct kg_config,
 * its type and, for numbers, the range of config.h: the service encodes from it and the client
 * decodes with it, so a key's name, type and range are not written again on either side. The
 * syntax is that of kg_ipc_config_add(): "key=value\0", numbers in decimal, booleans
 * "true"/"false", ports as "80,443".
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/ipc.h"

/* cfg's keys, with ports (the service's current list, which may hold dynamic ports) as
 * ebpf.target_ports, into buf: 0 or -ENOSPC, -EINVAL. */
int kg_config_wire_encode(const struct kg_config *cfg, const uint16_t *ports, unsigned n_ports,
			  void *buf, size_t cap, size_t *len);
/* A KG_MSG_CONFIG into *cfg, on top of the defaults: a key left out keeps its default, an unknown
 * key is ignored (a newer service). 0, or -EBADMSG (malformed message) or -EINVAL (a value out
 * of type or range, named in err); *cfg is untouched on failure. */
int kg_config_wire_decode(const struct kg_ipc_msg *m, struct kg_config *cfg, char *err,
			  size_t errlen);
