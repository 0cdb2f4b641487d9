/* A pre-pass over configuration text for what libconfig 1.5 would accept silently and wrongly.
 *
 * libconfig truncates integer literals to 32 bits without an error (4294967297 reads as 1, a
 * valid port), follows @include to any file, and keeps line numbers in an unsigned short. This
 * scanner knows just enough of the lexical syntax (names, numbers, strings, comments) to refuse
 * those cases with a line number before libconfig sees the text. Internal to config.c.
 */
#pragma once

#define KG_CONFIG_MAX_SIZE  (1024 * 1024)
#define KG_CONFIG_MAX_LINES 65535

struct config_scan_error {
	unsigned line;
	char key[128]; /* dotted name of the setting being defined when known, else "" */
	char reason[128];
};

/* 0, or -EINVAL with *error filled. text is NUL-terminated. */
int config_scan(const char *text, struct config_scan_error *error);
