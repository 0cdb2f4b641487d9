/* What config.c shares with config_load.c: the one way an error message is written. */
#ifndef KG_CONFIG_PRIV_H
#define KG_CONFIG_PRIV_H

#include <stddef.h>

/* Writes the message into err (when err and errlen allow) and returns r. */
int __attribute__((format(printf, 4, 5)))
kg_config_set_error(char *err, size_t errlen, int r, const char *fmt, ...);

#endif
