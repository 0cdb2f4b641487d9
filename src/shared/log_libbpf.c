/* libbpf's messages through our logger (kg_log_route_libbpf, declared in log.h).
 *
 * A file of its own so that only programs calling it (the service) link libbpf: the client,
 * the ctl tool and the fuzz targets use log.c without pulling in libbpf.
 */
#include <bpf/libbpf.h>

#include "shared/log.h"

static int __attribute__((format(printf, 2, 0)))
libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's INFO level narrates every load step; it is debug output for us. */
	int priority = level == LIBBPF_WARN ? LOG_WARNING : LOG_DEBUG;

	if (priority > kg_log_get_level())
		return 0;
	/* No CODE_* location: ours would point here, and libbpf's is not known. */
	kg_log_fullv(priority, NULL, 0, NULL, NULL, fmt, ap);
	return 0;
}

void kg_log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
