/* A per-message rate limit for what an unprivileged peer can make a daemon log.
 *
 * One limiter per call site: at most `burst` lines per `interval` microseconds; the lines
 * dropped meanwhile are counted and reported once by the next line that passes, so a flood
 * costs the journal a few dozen lines and says how much it hid (journald's own limit would
 * drop the daemon's real messages along with the flood).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct kg_ratelimit {
	uint64_t interval_usec;
	unsigned burst;
	uint64_t begin_usec; /* start of the current interval */
	unsigned passed;     /* lines let through in it */
	uint64_t suppressed; /* lines dropped since the last one let through */
};

#define KG_RATELIMIT_INIT(interval_usec_, burst_)                                                  \
	{                                                                                          \
		.interval_usec = (interval_usec_), .burst = (burst_)                               \
	}

/* true when a line may be logged at now_usec (a monotonic clock); then *ret_suppressed is the
 * number dropped before it (reset to 0). false: the line is dropped and counted. */
bool kg_ratelimit_pass(struct kg_ratelimit *rl, uint64_t now_usec, uint64_t *ret_suppressed);
