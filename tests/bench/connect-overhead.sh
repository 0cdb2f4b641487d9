#!/bin/bash
# Benchmark: the cost of connect() with the datapath attached, against the same connect()
# without it, measured in one run and interleaved (numbers are ratios; this machine's absolute
# figures vary by tens of percent from minute to minute).
#
# The programs are attached to the test's own cgroup, so a process outside that cgroup is the
# baseline while the service keeps running: each round measures outside, then inside.
#   non-target: uid U (registered) to a non-target port  - the overhead every application pays
#   redirected: uid U to a target port, steered to U's relay, vs a direct loopback connect
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

BENCH="$top_builddir/tests/bench/connect-bench"
N=${KG_BENCH_CONNECTS:-10000}
ROUNDS=${KG_BENCH_ROUNDS:-5}
U=$KG_UID_U
[ -x "$BENCH" ] || kg_skip "connect-bench not built"
kg_uid_path "$BENCH" BENCH

KG_PORTS="443, 8025" kg_dp_setup
kg_start_relay "$U" || exit 99

inside() { # ADDR PORT COUNT [--listen] -> ns per connect, as U inside the test cgroup
	kg_app "$U" "$BENCH" "$@" | awk '/ns_per_connect/ {print $2}'
}
outside() { # the same, as U in the same namespace but outside the cgroup: no programs run
	nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$U" --regid="$U" --clear-groups -- \
		"$BENCH" "$@" | awk '/ns_per_connect/ {print $2}'
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "# connect() cost: $ROUNDS interleaved rounds x (median of 5 x $N connects), uid $U"
nt_out=() nt_in=() lo_out=() rd_in=()
nt_port=9000 # not a target port; connect-bench binds its listener with SO_REUSEADDR each time
for ((r = 1; r <= ROUNDS; r++)); do
	nt_out+=("$(outside 192.0.2.10 $nt_port "$N" --listen)")
	nt_in+=("$(inside 192.0.2.10 $nt_port "$N" --listen)")
	lo_out+=("$(outside 127.0.0.1 $nt_port "$N" --listen)")
	# Redirected connects land on the relay's backlog; kg-probe accepts and answers each.
	rd_in+=("$(inside 192.0.2.10 8025 "$((N / 4))")")
	echo "#   round $r: non-target out ${nt_out[-1]} in ${nt_in[-1]}; loopback out ${lo_out[-1]}; redirected in ${rd_in[-1]} (ns)"
done
a=$(printf '%s\n' "${nt_out[@]}" | median)
b=$(printf '%s\n' "${nt_in[@]}" | median)
c=$(printf '%s\n' "${lo_out[@]}" | median)
d=$(printf '%s\n' "${rd_in[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf '%-46s %8s ns\n' "no programs, to 192.0.2.10 (non-target)" "$a"
printf '%-46s %8s ns   ratio %s (target <= 1.03)\n' "programs attached, non-target port" "$b" "$(ratio "$b" "$a")"
printf '%-46s %8s ns\n' "no programs, to 127.0.0.1" "$c"
printf '%-46s %8s ns   ratio %s (vs direct loopback)\n' "programs attached, redirected to the relay" "$d" "$(ratio "$d" "$c")"
