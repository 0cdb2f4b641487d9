/* What libbpf said while loading the datapath, boiled down to one sentence's worth: the
 * first program the kernel refused and the verifier's reason for it. The whole verifier log
 * (hundreds of lines) only goes to debug logging; a refused start logs one line.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct kg_load_report {
	char prog[64];	  /* the first program whose load failed; "" when none was named */
	char error[64];	  /* libbpf's error text for it ("Permission denied") */
	char reason[256]; /* the verifier's last meaningful line for that program; "" if none */
	/* parsing state */
	bool in_log; /* between BEGIN and END PROG LOAD LOG of the first failed program */
	bool log_done;
};

void kg_load_report_reset(struct kg_load_report *r);

/* Feed one line of libbpf output (with or without the "libbpf: " prefix, no newline). Lines
 * of any length and content are accepted; what is kept is bounded by the fields above. */
void kg_load_report_line(struct kg_load_report *r, const char *line);
