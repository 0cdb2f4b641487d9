/* Parsing of libbpf's load messages (load_report.h). libbpf 1.x prints, for a refused program:
 *   libbpf: prog 'NAME': BPF program load failed: ERROR
 *   libbpf: prog 'NAME': -- BEGIN PROG LOAD LOG --
 *   ...the verifier's log, the reason near its end...
 *   -- END PROG LOAD LOG --
 *   libbpf: prog 'NAME': failed to load: -ERRNO
 * and then a few lines about the object and the skeleton.
 */
#include <stdio.h>
#include <string.h>

#include "shared/load_report.h"

void kg_load_report_reset(struct kg_load_report *r)
{
	memset(r, 0, sizeof(*r));
}

/* Copy at most n bytes of s into a fixed field, always terminated. */
static void put(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "prog 'NAME': REST" -> NAME and REST; 0 when line is not of that form. */
static int prog_line(const char *line, const char **name, size_t *name_len, const char **rest)
{
	const char *p = line, *end;

	if (strncmp(p, "libbpf: ", 8) == 0)
		p += 8;
	if (strncmp(p, "prog '", 6) != 0)
		return 0;
	p += 6;
	end = strchr(p, '\'');
	if (!end || end[1] != ':' || end[2] != ' ')
		return 0;
	*name = p;
	*name_len = (size_t)(end - p);
	*rest = end + 3;
	return 1;
}

/* Verifier lines that come after the reason: statistics, not the cause. */
static int is_epilogue(const char *line)
{
	static const char *const prefixes[] = {
	    "processed ",
	    "verification time",
	    "stack depth",
	    "max_states_per_insn",
	};
	size_t i;

	if (line[strspn(line, " \t")] == '\0')
		return 1;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

void kg_load_report_line(struct kg_load_report *r, const char *line)
{
	static const char failed[] = "BPF program load failed: ";
	const char *name, *rest;
	size_t name_len;

	if (r->in_log) {
		const char *end = strstr(line, "-- END PROG LOAD LOG --");
		/* A log cut short at its buffer's end has the marker on its last, partial line. */
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char text[sizeof(r->reason)];

		put(text, sizeof(text), line, n);
		if (!is_epilogue(text))
			put(r->reason, sizeof(r->reason), text, strlen(text));
		if (end) {
			r->in_log = false;
			r->log_done = true;
		}
		return;
	}
	if (!prog_line(line, &name, &name_len, &rest))
		return;
	if (!r->prog[0] && strncmp(rest, failed, sizeof(failed) - 1) == 0) {
		put(r->prog, sizeof(r->prog), name, name_len);
		rest += sizeof(failed) - 1;
		put(r->error, sizeof(r->error), rest, strlen(rest));
		return;
	}
	/* Only the first refused program's log: libbpf stops at it, but be sure. */
	if (!r->log_done && r->prog[0] && strlen(r->prog) == name_len &&
	    strncmp(r->prog, name, name_len) == 0 && strstr(rest, "-- BEGIN PROG LOAD LOG --"))
		r->in_log = true;
}
