#!/bin/bash
# Benchmark: the cost of dispatching one event, one epoll_wait() per batch of ready descriptors
# against sd-event's one io source per sd_event_run() (tests/bench/loop-dispatch.c; no root).
# KG_LOOP_FDS (256), KG_LOOP_ROUNDS (7), KG_LOOP_MS (1000 per loop and round).
# Its summary row (tests/bench/table-lib.sh): the medians of both loops' events per second and
# the per-round ratios epoll/sd-event, their mean with its 95 % interval.
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/bench/table-lib.sh"
prog="$top_builddir/tests/bench/loop-dispatch"
if [ ! -x "$prog" ]; then
	echo "SKIP: $prog not built (make tests/bench/loop-dispatch)" >&2
	exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$prog" | tee "$out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || exit "$rc"
# "#    round K: epoll X events/s, sd-event Y events/s, ratio R" and the summary line's medians
read -r lp_mean lp_hw < <(awk '/^# *round [0-9]+: epoll/ { print $5 / $8 }' "$out" | bench_mean_hw)
read -r ep_m sd_m < <(sed -n \
	's/.*call) \([0-9.]*\) M events\/s, sd-event .* \([0-9.]*\) M events\/s, ratio.*/\1 \2/p' "$out")
bench_row "loop: events/s, epoll vs sd-event (M/s, medians)" "${ep_m:-?}" "${sd_m:-?}" \
	"$(bench_iv "$lp_mean" "$lp_hw" 2)" "-" "n/a"
