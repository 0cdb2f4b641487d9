/* The configuration as the service's KG_MSG_CONFIG answer, and back (DESIGN.md §5).
 *
 * The keys are those of config.c's schema marked as sent to the client, with the schema's
 * types, ranges and checks: the service encodes from it and the client decodes with it, so a
 * key's name, type, range and default are not written again on either side. The syntax is that of
 * kg_ipc_config_add(): "key=value\0", numbers in decimal, booleans "true"/"false", ports as
 * "80,443".
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
/* One key=value of the message into *cfg, checked as the same key in the file is: 0, -ENOENT
 * (not a key the message carries: the decoder ignores it) or -EINVAL with the reason, as the
 * file's message words it, in why. */
int kg_config_wire_set(struct kg_config *cfg, const char *key, const char *value, char *why,
		       size_t len);
