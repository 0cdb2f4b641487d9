/* Internal to the configuration code (config.c, config_url.c): the URL and CIDR parsers with
 * the reasons config.c puts into its messages. Others use config.h's kg_url_parse(),
 * kg_cidr_parse() and kg_cidr_format().
 */
#pragma once

#include <stdbool.h>

#include "shared/config.h"

/* Whether s holds a byte below 0x20 or DEL. */
bool kg_config_has_control_char(const char *s);
/* url into *out: NULL, or the reason it is refused, naming what the user has to change. */
const char *kg_config_url_check(const char *url, struct kg_url *out);
/* text into *out with the bits past the prefix zeroed, *had_host_bits saying whether any were
 * set (the message can then name the network meant). 0 or -EINVAL. */
int kg_config_cidr_parse_canonical(const char *text, struct kg_cidr *out, bool *had_host_bits);
