/* Logging for both daemons and the ctl tool.
 *
 * Under journald (stderr is the stream named by $JOURNAL_STREAM) records go natively to the
 * journal with PRIORITY, the real CODE_FILE/CODE_LINE/CODE_FUNC, SYSLOG_IDENTIFIER and any
 * structured KG_* fields; otherwise to stderr as "<N>message" (sd-daemon(3) prefixes) so a
 * service manager can still pick up the level. Records at or below the configured level are
 * also appended, timestamped, to log_path when one is set. libbpf's messages go through here.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "shared/ratelimit.h"

struct kg_field {
	const char *key;   /* journal field name, e.g. "KG_UID" (upper case, [A-Z0-9_]) */
	const char *value; /* NUL-terminated value */
};

/* A compound-literal field list terminated by {NULL, NULL}. */
#define KG_FIELDS(...) ((const struct kg_field[]){__VA_ARGS__, {NULL, NULL}})

/* ident: SYSLOG_IDENTIFIER; level: a LOG_* priority; log_path: NULL or "" for none.
 * Returns 0 or -errno (log_path could not be opened; logging to journal/stderr still works). */
int kg_log_open(const char *ident, int level, const char *log_path);
void kg_log_close(void);
void kg_log_set_level(int level);
/* A kg_config_warn_fn that logs each configuration warning at LOG_WARNING. */
void kg_log_config_warning(void *userdata, const char *msg);
int kg_log_get_level(void);
/* "debug" | "info" | "warn" | "error" -> LOG_*; -EINVAL for anything else. */
int kg_log_level_from_string(const char *s);
/* Route libbpf's print callback into this logger (warnings at LOG_WARNING, debug at LOG_DEBUG). */
void kg_log_route_libbpf(void);

struct kg_load_report;
/* Until called again with NULL, libbpf's warnings are logged at LOG_DEBUG only and fed to
 * report (reset first), which the caller turns into one message (a refused program). */
void kg_log_libbpf_capture(struct kg_load_report *report);
/* 1 when records go natively to the journal. */
int kg_log_to_journal(void);

/* file NULL: no CODE_* fields (messages relayed from libraries). errno is preserved and %m works.
 * The message is cut at 4 KiB; on stderr and in log_path control characters become spaces. */
void kg_log_full(int level, const char *file, int line, const char *func,
		 const struct kg_field *fields, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void kg_log_fullv(int level, const char *file, int line, const char *func,
		  const struct kg_field *fields, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

#define log_fields(level, fields, ...)                                                             \
	kg_log_full(level, __FILE__, __LINE__, __func__, fields, __VA_ARGS__)
#define log_debug(...)	log_fields(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)	log_fields(LOG_INFO, NULL, __VA_ARGS__)
#define log_notice(...) log_fields(LOG_NOTICE, NULL, __VA_ARGS__)
#define log_warn(...)	log_fields(LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...)	log_fields(LOG_ERR, NULL, __VA_ARGS__)

/* Lines an unprivileged peer can cause (a refused or malformed IPC connection, a registration)
 * go through a limiter per call site: at most KG_LOG_RATE_BURST per KG_LOG_RATE_INTERVAL_USEC.
 * The first line that passes after some were dropped is preceded by one that counts them. */
#define KG_LOG_RATE_INTERVAL_USEC (5 * 1000000ull)
#define KG_LOG_RATE_BURST	  10

/* true when a line at level from this call site may be logged now (see above). */
bool kg_log_ratelimit(struct kg_ratelimit *rl, int level, const char *file, int line,
		      const char *func);

#define log_fields_ratelimited(level, fields, ...)                                                 \
	do {                                                                                       \
		static struct kg_ratelimit kg_rl_ =                                                \
		    KG_RATELIMIT_INIT(KG_LOG_RATE_INTERVAL_USEC, KG_LOG_RATE_BURST);               \
		if (kg_log_ratelimit(&kg_rl_, level, __FILE__, __LINE__, __func__))                \
			kg_log_full(level, __FILE__, __LINE__, __func__, fields, __VA_ARGS__);     \
	} while (0)
#define log_info_ratelimited(...)  log_fields_ratelimited(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn_ratelimited(...)  log_fields_ratelimited(LOG_WARNING, NULL, __VA_ARGS__)
#define log_error_ratelimited(...) log_fields_ratelimited(LOG_ERR, NULL, __VA_ARGS__)
