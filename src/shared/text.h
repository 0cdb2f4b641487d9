/* Text that came from someone else, on its way to a terminal or a journal.
 *
 * A principal a client reports and a process's comm are chosen by whoever runs that client or
 * process; printed raw in root's terminal, an ESC or BEL retitles it, a newline forges a line.
 * Printable here means valid UTF-8 without C0 controls, DEL or C1 controls.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* true when s (NUL-terminated) is printable text. */
bool kg_text_printable(const char *s);

/* Copy up to max bytes of s (less at a NUL) into out, every byte that is not part of a printable
 * character written as "\xNN" (and a backslash as "\\"); cut to fit outlen, always terminated.
 * Returns out. */
const char *kg_text_escape(const char *s, size_t max, char *out, size_t outlen);
