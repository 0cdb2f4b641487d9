/* Per-call-site rate limiting of log lines (see ratelimit.h). Pure: the caller passes the
 * time, so the unit test needs no clock. */
#include "shared/ratelimit.h"

bool kg_ratelimit_pass(struct kg_ratelimit *rl, uint64_t now_usec, uint64_t *ret_suppressed)
{
	if (rl->passed == 0 || now_usec - rl->begin_usec >= rl->interval_usec) {
		rl->begin_usec = now_usec;
		rl->passed = 0;
	}
	if (rl->passed >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->passed++;
	*ret_suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
