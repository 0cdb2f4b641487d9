/* The logger shared by both daemons and the ctl tool (see log.h).
 *
 * One record goes to exactly one primary sink: the journal natively when stderr is the stream
 * named by $JOURNAL_STREAM (so CODE_FILE/CODE_LINE are ours, not a line parser's guess), else
 * stderr with an sd-daemon "<N>" prefix; the optional log file gets a timestamped copy. Each
 * line is written with a single write() so concurrent writers never interleave within a line.
 * State is set up by kg_log_open() from the main thread before others start; before that the
 * defaults below apply, so early errors (bad command line, bad config) still get printed.
 *
 * The file can fail while the primary sink works (log_path's disk full, a quota): the records
 * still reach the journal or stderr, and one line there says the file is not written; while it
 * fails, each record first tries a line that says how many records the file is missing, and
 * once that line is written the file is written again (one more line on the primary sink).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* We pass the caller's CODE_* fields; without this the macro would add log.c's own location. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "shared/log.h"
#include "shared/macro.h"

#define LOG_MSG_MAX	   4096 /* bytes of message text, NUL included */
#define LOG_MAX_FIELDS	   16	/* caller fields sent to the journal; more are dropped */
#define LOG_FIELD_MAX	   512	/* bytes of one "KEY=value" journal field */
#define LOG_FIELD_NAME_MAX 64

static struct {
	char ident[64];
	int level;
	int file_fd;
	int journal; /* -1: not checked yet */
	char file_path[PATH_MAX];
	bool file_failing;  /* the last write to the file failed */
	bool file_partial;  /* ... after part of its line: the next line starts with a newline */
	uint64_t file_lost; /* records not written to the file since it failed */
} kg_log = {.ident = "kernelgatekeeper", .level = LOG_INFO, .file_fd = -1, .journal = -1};

static const char *const level_names[] = {
    [LOG_EMERG] = "EMERG",  [LOG_ALERT] = "ALERT",   [LOG_CRIT] = "CRIT", [LOG_ERR] = "ERROR",
    [LOG_WARNING] = "WARN", [LOG_NOTICE] = "NOTICE", [LOG_INFO] = "INFO", [LOG_DEBUG] = "DEBUG",
};

static int clamp_level(int level)
{
	return level < LOG_EMERG ? LOG_EMERG : level > LOG_DEBUG ? LOG_DEBUG : level;
}

/* systemd sets JOURNAL_STREAM=DEV:INO for a unit's stdout/stderr; it is inherited by children
 * whose stderr went elsewhere, hence the comparison with what stderr really is. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (!e || *e < '0' || *e > '9')
		return false;
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno || *end != ':' || end[1] < '0' || end[1] > '9')
		return false;
	ino = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int kg_log_to_journal(void)
{
	if (kg_log.journal < 0)
		kg_log.journal = stderr_is_journal();
	return kg_log.journal;
}

int kg_log_open(const char *ident, int level, const char *log_path)
{
	int fd = -1;

	if (ident && *ident)
		snprintf(kg_log.ident, sizeof(kg_log.ident), "%s", ident);
	kg_log.level = clamp_level(level);
	kg_log.journal = stderr_is_journal();
	if (log_path && *log_path) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
		/* Keep the previous file, if any: a typo on reload should not lose the log. */
		if (fd < 0)
			return -errno;
	}
	kg_log_close();
	kg_log.file_fd = fd;
	if (fd >= 0)
		snprintf(kg_log.file_path, sizeof(kg_log.file_path), "%s", log_path);
	return 0;
}

void kg_log_close(void)
{
	if (kg_log.file_fd >= 0)
		close(kg_log.file_fd);
	kg_log.file_fd = -1;
	kg_log.file_failing = false;
	kg_log.file_partial = false;
	kg_log.file_lost = 0;
}

void kg_log_set_level(int level)
{
	kg_log.level = clamp_level(level);
}

int kg_log_get_level(void)
{
	return kg_log.level;
}

int kg_log_level_from_string(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
	    {"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARNING}, {"error", LOG_ERR}};
	size_t i;

	for (i = 0; s && i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].level;
	return -EINVAL;
}

/* 0, or the errno of the write that failed (*partial: after some of buf was written). */
static int write_all(int fd, const char *buf, size_t len, bool *partial)
{
	bool some = false;

	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (partial)
				*partial = some;
			return n < 0 ? errno : EIO;
		}
		some = true;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Cut a message that vsnprintf truncated back to a whole UTF-8 sequence: journald and terminals
 * handle invalid UTF-8 badly, and a 4 KiB cut lands inside a multibyte character easily. */
static void trim_partial_utf8(char *msg)
{
	size_t len = strlen(msg), i = len, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)msg[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)msg[i - 1];
	if (lead < 0xC0)
		return;
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
	if (i - 1 + need > len)
		msg[i - 1] = '\0';
}

/* Lines on stderr and in the file are one record each: a newline or escape sequence from
 * outside bytes (a proxy reply, a host name) must not forge another record or move the cursor. */
static size_t append_sanitized(char *dst, size_t pos, size_t cap, const char *msg)
{
	for (; *msg && pos + 1 < cap; msg++)
		dst[pos++] =
		    ((unsigned char)*msg < 0x20 && *msg != '\t') || *msg == 0x7f ? ' ' : *msg;
	return pos;
}

static void write_stderr(int level, const char *msg)
{
	char line[LOG_MSG_MAX + 16];
	size_t pos = (size_t)snprintf(line, sizeof(line), "<%d>", level);

	pos = append_sanitized(line, pos, sizeof(line) - 1, msg);
	line[pos++] = '\n';
	(void)write_all(STDERR_FILENO, line, pos, NULL);
}

static int journal_send(int level, const char *file, int line, const char *func,
			const struct kg_field *fields, const char *msg);

/* A record for the journal or stderr only (the file's own trouble). */
static void write_primary(int level, const char *msg)
{
	if (kg_log.level < level)
		return;
	if (!kg_log_to_journal() || journal_send(level, NULL, 0, NULL, NULL, msg) < 0)
		write_stderr(level, msg);
}

/* One timestamped line into the file; 0 or the errno of its write. */
static int write_file_line(int level, const char *msg)
{
	char line[LOG_MSG_MAX + 256], stamp[40];
	struct timespec now;
	struct tm tm;
	size_t pos = 0;
	bool partial = false;
	int n, err;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!localtime_r(&now.tv_sec, &tm) ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		strcpy(stamp, "-");
	if (kg_log.file_partial)
		line[pos++] = '\n'; /* the end of the line a failed write cut */
	n = snprintf(line + pos, sizeof(line) - pos, "%s %s[%ld]: %s: ", stamp, kg_log.ident,
		     (long)getpid(), level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line) - pos)
		return 0;
	pos = append_sanitized(line, pos + (size_t)n, sizeof(line) - 1, msg);
	line[pos++] = '\n';
	err = write_all(kg_log.file_fd, line, pos, &partial);
	if (!err)
		kg_log.file_partial = false;
	else if (partial)
		kg_log.file_partial = true;
	return err;
}

static void write_file(int level, const char *msg)
{
	char note[LOG_MSG_MAX];
	int err;

	if (kg_log.file_failing) {
		snprintf(note, sizeof(note),
			 "log_path %s is written again; %" PRIu64 " record(s) are missing from it",
			 kg_log.file_path, kg_log.file_lost);
		if (write_file_line(LOG_NOTICE, note) != 0) {
			kg_log.file_lost++;
			return;
		}
		kg_log.file_failing = false;
		kg_log.file_lost = 0;
		write_primary(LOG_NOTICE, note);
	}
	err = write_file_line(level, msg);
	if (!err)
		return;
	kg_log.file_failing = true;
	kg_log.file_lost = 1;
	snprintf(note, sizeof(note),
		 "cannot write to log_path %s: %s; records go to %s only until it can be written "
		 "again",
		 kg_log.file_path, strerror(err), kg_log_to_journal() ? "the journal" : "stderr");
	write_primary(LOG_ERR, note);
}

static bool valid_field_name(const char *key)
{
	const char *p;

	if (!key || !*key || *key == '_' || strlen(key) > LOG_FIELD_NAME_MAX)
		return false;
	for (p = key; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* One "FIELD=value" iovec, cut at the buffer size (a long value loses its tail, not the record). */
static void __attribute__((format(printf, 4, 5)))
set_field(struct iovec *iov, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	iov->iov_base = buf;
	iov->iov_len = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static int journal_send(int level, const char *file, int line, const char *func,
			const struct kg_field *fields, const char *msg)
{
	char message[LOG_MSG_MAX + 16], priority[16], ident[96];
	char code_file[512], code_line[32], code_func[256];
	char extra[LOG_MAX_FIELDS][LOG_FIELD_MAX];
	struct iovec iov[6 + LOG_MAX_FIELDS];
	size_t n = 0, n_extra = 0;

	set_field(&iov[n++], message, sizeof(message), "MESSAGE=%s", msg);
	set_field(&iov[n++], priority, sizeof(priority), "PRIORITY=%d", level);
	set_field(&iov[n++], ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", kg_log.ident);
	if (file) {
		set_field(&iov[n++], code_file, sizeof(code_file), "CODE_FILE=%s", file);
		set_field(&iov[n++], code_line, sizeof(code_line), "CODE_LINE=%d", line);
		if (func)
			set_field(&iov[n++], code_func, sizeof(code_func), "CODE_FUNC=%s", func);
	}
	for (; fields && fields->key && n_extra < LOG_MAX_FIELDS; fields++) {
		if (!valid_field_name(fields->key) || !fields->value)
			continue;
		set_field(&iov[n++], extra[n_extra], sizeof(extra[n_extra]), "%s=%s", fields->key,
			  fields->value);
		n_extra++;
	}
	return sd_journal_sendv(iov, (int)n);
}

void kg_log_fullv(int level, const char *file, int line, const char *func,
		  const struct kg_field *fields, const char *fmt, va_list ap)
{
	int saved_errno = errno;
	char msg[LOG_MSG_MAX];
	size_t len;
	int n;

	level = clamp_level(level);
	if (level > kg_log.level)
		return;

	errno = saved_errno; /* for %m */
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		snprintf(msg, sizeof(msg), "(unprintable log message: %s)", fmt);
	else if ((size_t)n >= sizeof(msg))
		trim_partial_utf8(msg);
	/* Callers (and libbpf) often end with "\n"; the record boundary is ours to add. */
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';

	if (!kg_log_to_journal() || journal_send(level, file, line, func, fields, msg) < 0)
		write_stderr(level, msg);
	if (kg_log.file_fd >= 0)
		write_file(level, msg);
	errno = saved_errno;
}

void kg_log_full(int level, const char *file, int line, const char *func,
		 const struct kg_field *fields, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kg_log_fullv(level, file, line, func, fields, fmt, ap);
	va_end(ap);
}

void kg_log_config_warning(void *userdata, const char *msg)
{
	log_warn("%s", msg);
}

bool kg_log_ratelimit(struct kg_ratelimit *rl, int level, const char *file, int line,
		      const char *func)
{
	struct timespec ts;
	uint64_t suppressed = 0;

	/* A line below the configured level spends none of the budget. */
	if (level > kg_log_get_level())
		return false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!kg_ratelimit_pass(rl, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000,
			       &suppressed))
		return false;
	if (suppressed > 0)
		kg_log_full(level, file, line, func, NULL,
			    "%" PRIu64 " similar message(s) suppressed (at most %u per %llu s)",
			    suppressed, KG_LOG_RATE_BURST, KG_LOG_RATE_INTERVAL_USEC / 1000000ull);
	return true;
}
