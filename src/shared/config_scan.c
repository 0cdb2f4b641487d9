/* Pre-scan of configuration text: integer range, @include and line count (see config_scan.h).
 *
 * The token rules follow libconfig's scanner: names are [A-Za-z*][-A-Za-z0-9_*]*, strings are
 * double-quoted with backslash escapes and may span lines, comments are #, // and C blocks, and
 * @include is recognised only at the start of a line. Anything else is left to libconfig, which
 * reports syntax errors itself; this pass only has to be right about what it refuses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shared/config_scan.h"

#define SCAN_MAX_DEPTH 8
#define SCAN_NAME_MAX  48
#define SCAN_MAX_NEST  64

struct scan_state {
	const char *p;
	unsigned line;
	char last_name[SCAN_NAME_MAX]; /* the most recent name token */
	char key[SCAN_NAME_MAX];       /* the name before the last '=' or ':' */
	char groups[SCAN_MAX_DEPTH][SCAN_NAME_MAX];
	unsigned depth; /* may exceed SCAN_MAX_DEPTH; deeper names are not kept */
	/* Whether a string may come next, the only token libconfig 1.5 leaks when it cannot use
	 * it: after '=', ':', '(', '[', a string, or a ',' in a list or an array (nest). */
	bool value_ok;
	char nest[SCAN_MAX_NEST]; /* the open '{', '(' and '[' */
	unsigned nest_n;	  /* may exceed SCAN_MAX_NEST; deeper ones are not kept */
	struct config_scan_error *error;
};

static bool is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int __attribute__((format(printf, 2, 3)))
scan_fail(struct scan_state *s, const char *fmt, ...)
{
	size_t n = 0;
	unsigned i;
	va_list ap;

	s->error->line = s->line;
	s->error->key[0] = '\0';
	for (i = 0; i < s->depth && i < SCAN_MAX_DEPTH; i++) {
		if (s->groups[i][0] && n < sizeof(s->error->key))
			n += snprintf(s->error->key + n, sizeof(s->error->key) - n, "%s.",
				      s->groups[i]);
	}
	if (n < sizeof(s->error->key))
		snprintf(s->error->key + n, sizeof(s->error->key) - n, "%s", s->key);
	/* Inside a group, before any name: the group's, not "proxy.". */
	if (!s->key[0] && n > 0 && n < sizeof(s->error->key))
		s->error->key[n - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(s->error->reason, sizeof(s->error->reason), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Count a newline; refuse the line that libconfig's unsigned short line number would wrap at. */
static int new_line(struct scan_state *s)
{
	if (s->line >= KG_CONFIG_MAX_LINES) {
		s->line++;
		return scan_fail(s, "more than %d lines", KG_CONFIG_MAX_LINES);
	}
	s->line++;
	return 0;
}

static void copy_name(char *dst, const char *start, size_t len)
{
	if (len >= SCAN_NAME_MAX)
		len = SCAN_NAME_MAX - 1;
	memcpy(dst, start, len);
	dst[len] = '\0';
}

/* A number token: libconfig keeps only 32 bits of an integer (with or without the L suffix in
 * practice for our keys), so any integer literal above INT32_MAX is refused. Floats pass. */
static int scan_number(struct scan_state *s)
{
	const char *start = s->p, *q;
	bool hex = start[0] == '0' && (start[1] == 'x' || start[1] == 'X');
	uint64_t value = 0;
	char literal[SCAN_NAME_MAX];

	while (is_name_char(*s->p) || *s->p == '.' ||
	       (!hex && (*s->p == '+' || *s->p == '-') && (s->p[-1] == 'e' || s->p[-1] == 'E')))
		s->p++;

	q = hex ? start + 2 : start;
	for (; q < s->p; q++) {
		int digit = hex ? hex_value(*q) : (is_digit(*q) ? *q - '0' : -1);

		if (digit < 0)
			break;
		value = value * (hex ? 16 : 10) + (unsigned)digit;
		if (value > INT32_MAX)
			break;
	}
	if (value <= INT32_MAX)
		return 0;
	/* Stopped on an over-large value: only an integer literal (digits then L suffixes) is
	 * a problem; a float such as 1e10 or a malformed token is not ours to judge. */
	while (q < s->p && (hex ? hex_value(*q) >= 0 : is_digit(*q)))
		q++;
	while (q < s->p && (*q == 'L' || *q == 'l'))
		q++;
	if (q != s->p)
		return 0;
	copy_name(literal, start, (size_t)(s->p - start));
	return scan_fail(s, "integer %s is out of range", literal);
}

/* libconfig 1.5 leaks its string buffer on a string still open at the end of the text, and
 * quietly accepts an unterminated comment: both are refused here, at the line they start on. */
static int skip_string(struct scan_state *s)
{
	unsigned start_line = s->line;
	int r;

	for (s->p++; *s->p && *s->p != '"'; s->p++) {
		if (*s->p == '\\' && s->p[1])
			s->p++;
		if (*s->p == '\n' && (r = new_line(s)) < 0)
			return r;
	}
	if (!*s->p) {
		s->line = start_line;
		return scan_fail(s, "unterminated string");
	}
	s->p++;
	return 0;
}

static int skip_block_comment(struct scan_state *s)
{
	unsigned start_line = s->line;
	int r;

	for (s->p += 2; *s->p && !(s->p[0] == '*' && s->p[1] == '/'); s->p++)
		if (*s->p == '\n' && (r = new_line(s)) < 0)
			return r;
	if (!*s->p) {
		s->line = start_line;
		s->key[0] = '\0';
		return scan_fail(s, "unterminated /* comment");
	}
	s->p += 2;
	return 0;
}

/* Inside a list or an array: a ',' there may be followed by a string. Deeper than kept: yes, and
 * libconfig judges. */
static bool in_list(const struct scan_state *s)
{
	if (s->nest_n == 0)
		return false;
	if (s->nest_n > SCAN_MAX_NEST)
		return true;
	return s->nest[s->nest_n - 1] == '(' || s->nest[s->nest_n - 1] == '[';
}

int config_scan(const char *text, struct config_scan_error *error)
{
	struct scan_state s = {.p = text, .line = 1, .error = error};
	bool line_start = true;
	int r;

	while (*s.p) {
		char c = *s.p;

		if (c == '\n') {
			if ((r = new_line(&s)) < 0)
				return r;
			line_start = true;
			s.p++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			s.p++;
			continue;
		}
		if (line_start && strncmp(s.p, "@include", 8) == 0)
			return scan_fail(&s, "@include is not supported");
		line_start = false;

		if (c == '#' || (c == '/' && s.p[1] == '/')) {
			s.p += strcspn(s.p, "\n");
		} else if (c == '/' && s.p[1] == '*') {
			if ((r = skip_block_comment(&s)) < 0)
				return r;
		} else if (c == '"') {
			unsigned line = s.line;

			if ((r = skip_string(&s)) < 0)
				return r;
			/* libconfig 1.5 leaks a string it cannot use (64 bytes per rejected file).
			 */
			if (!s.value_ok) {
				s.line = line;
				return scan_fail(&s,
						 "syntax error: a string where no value may be");
			}
		} else if (is_name_start(c)) {
			const char *start = s.p;

			while (is_name_char(*s.p))
				s.p++;
			copy_name(s.last_name, start, (size_t)(s.p - start));
			s.value_ok = false;
		} else if (is_digit(c) || (c == '.' && is_digit(s.p[1]))) {
			s.value_ok = false;
			if ((r = scan_number(&s)) < 0)
				return r;
		} else {
			s.value_ok = c == '=' || c == ':' || c == '(' || c == '[' ||
				     (c == ',' && in_list(&s));
			if (c == '{' || c == '(' || c == '[') {
				if (s.nest_n < SCAN_MAX_NEST)
					s.nest[s.nest_n] = c;
				s.nest_n++;
			} else if ((c == '}' || c == ')' || c == ']') && s.nest_n > 0) {
				s.nest_n--;
			}
			if (c == '=' || c == ':')
				memcpy(s.key, s.last_name, sizeof(s.key));
			else if (c == ';')
				s.key[0] = '\0';
			else if (c == '{') {
				if (s.depth < SCAN_MAX_DEPTH)
					memcpy(s.groups[s.depth], s.key, sizeof(s.key));
				s.depth++;
				s.key[0] = '\0';
			} else if (c == '}' && s.depth > 0) {
				s.depth--;
			}
			s.p++;
		}
	}
	return 0;
}
