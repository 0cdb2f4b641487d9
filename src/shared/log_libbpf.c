/* libbpf's messages through our logger (kg_log_route_libbpf, declared in log.h).
 *
 * A file of its own so that only programs calling it (the service) link libbpf: the client,
 * the ctl tool and the fuzz targets use log.c without pulling in libbpf.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "shared/load_report.h"
#include "shared/log.h"

/* The verifier log arrives as one message of up to a few MiB; the reason for a rejection is
 * at its end, so it is logged line by line rather than cut at the logger's record size. */
#define LIBBPF_MAX_LINES 4096

/* Set while a load is captured (kg_log_libbpf_capture). */
static struct kg_load_report *capture;

static int __attribute__((format(printf, 2, 0)))
libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's INFO level narrates every load step; it is debug output for us. While a load
	 * is captured its warnings are too: the caller logs what they add up to, once. */
	int priority = level == LIBBPF_WARN && !capture ? LOG_WARNING : LOG_DEBUG;
	bool feed = capture && level == LIBBPF_WARN;

	if (priority > kg_log_get_level() && !feed)
		return 0;
	char *text = NULL, *line, *next;
	int n = 0;

	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	/* No CODE_* location: ours would point here, and libbpf's is not known. */
	for (line = text; line && *line; line = next, n++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (feed)
			kg_load_report_line(capture, line);
		if (n < LIBBPF_MAX_LINES && priority <= kg_log_get_level())
			kg_log_full(priority, NULL, 0, NULL, NULL, "%s", line);
	}
	free(text);
	return 0;
}

void kg_log_libbpf_capture(struct kg_load_report *report)
{
	if (report)
		kg_load_report_reset(report);
	capture = report;
}

void kg_log_route_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
