#!/bin/bash
# Benchmark: the cost of connect() with the datapath attached, against the same connect()
# without it, measured in one run (numbers are ratios; this machine's absolute figures vary).
#   non-target: uid U (registered) to a non-target port       — the overhead every app pays
#   redirected: uid U to a target port, steered to U's relay   — vs a direct loopback connect
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

BENCH="$top_builddir/tests/bench/connect-bench"
N=${KG_BENCH_CONNECTS:-20000}
U=$KG_UID_U
[ -x "$BENCH" ] || kg_skip "connect-bench not built"

# The environment without the service first.
kg_start_service() { :; }
kg_dp_setup
unset -f kg_start_service
. "$top_srcdir/tests/lib/datapath.sh"

measure() { # measure ADDR PORT [--listen] -> ns per connect
	kg_app "$U" "$BENCH" "$@" | awk '/ns_per_connect/ {print $2}'
}

echo "# connect() cost, median of 5 rounds of $N connects, uid $U"
base_nt=$(measure 192.0.2.10 8022 "$N" --listen)
base_lo=$(measure 127.0.0.1 8023 "$N" --listen)
kg_start_service
kg_start_relay "$U" || exit 99
hook_nt=$(measure 192.0.2.10 8024 "$N" --listen)
# Redirected connects land on the relay's kernel backlog; kg-probe accepts and answers.
kg_dp_write_config "443, 8025"
kill -HUP "$KG_SERVICE_PID"
kg_wait_for 50 grep -q "configuration reloaded" "$KG_TMP/service.log"
hook_rd=$(measure 192.0.2.10 8025 "$((N / 4))")
base_nt2=$(measure 127.0.0.1 8026 "$N" --listen)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf '%-44s %8s ns\n' "baseline, no hooks, to 192.0.2.10 (non-target)" "$base_nt"
printf '%-44s %8s ns   ratio %s\n' "hooks attached, non-target port" "$hook_nt" "$(ratio "$hook_nt" "$base_nt")"
printf '%-44s %8s ns\n' "baseline, no hooks, to 127.0.0.1" "$base_lo"
printf '%-44s %8s ns   ratio %s (vs direct loopback)\n' "hooks attached, redirected to the relay" "$hook_rd" "$(ratio "$hook_rd" "$base_lo")"
printf '%-44s %8s ns   (loopback with hooks, non-target)\n' "hooks attached, to 127.0.0.1" "$base_nt2"
echo "# target: non-target overhead ratio <= 1.03"
