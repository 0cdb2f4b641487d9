#!/bin/bash
# Benchmark: the cost of dispatching one event, one epoll_wait() per batch of ready descriptors
# against sd-event's one io source per sd_event_run() (tests/bench/loop-dispatch.c; no root).
# KG_LOOP_FDS (256), KG_LOOP_ROUNDS (7), KG_LOOP_MS (1000 per loop and round).
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
prog="$top_builddir/tests/bench/loop-dispatch"
if [ ! -x "$prog" ]; then
	echo "SKIP: $prog not built (make tests/bench/loop-dispatch)" >&2
	exit 77
fi
exec "$prog"
