#!/bin/bash
# Benchmark: the cost of connect() with the datapath attached, against the same connect()
# without it, measured in one run and interleaved (numbers are ratios; this machine's absolute
# figures vary by tens of percent from minute to minute). Each round measures both sides back
# to back, in alternating order, and the figure is the median of the rounds' own ratios: single
# measurements here vary by about 7 %, several times the overhead measured, and a ratio of
# the two sides' separate medians over 5 rounds printed 1.01-1.09 for one build.
#
# The programs are attached to the test's own cgroup, so a process outside that cgroup is the
# baseline while the service keeps running: each round measures outside, then inside.
#   non-target: uid U (registered) to a non-target port  - the overhead every application pays
#   redirected: uid U to a target port, steered to U's relay, vs a direct loopback connect
# The redirected connects are also timed one by one (p50, p99, slowest, and how many waited over
# 200 ms: a SYN dropped at the relay's full listen queue waits 1 s for its retransmit), next to
# the listen-queue drops over the whole run (issue 15): the relay's own listeners' (each
# listening socket's drop counter, ss -m's skmem "d", summed over those the relay holds), which
# is what the target is about, and beside it the namespace's TcpExtListenOverflows and
# TcpExtListenDrops, which also count connect-bench's own --listen socket (the baseline's
# destination, closed with each run, so only the namespace counts its drops). The relay here is
# tests/helpers/kg-probe (the service's listeners, drained up to 256 accepts per poll() like
# the client's loop drains up to 64, each answered with a line), not kernelgatekeeper-client:
# its drops say whether the stand-in relay kept up with 12,500 back-to-back connects per round.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"
. "$top_srcdir/tests/bench/table-lib.sh"

BENCH="$top_builddir/tests/bench/connect-bench"
N=${KG_BENCH_CONNECTS:-10000}
ROUNDS=${KG_BENCH_CONNECT_ROUNDS:-15}
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
redirected() { # as inside(), keeping connect-bench's single-connect line for the summary
	kg_app "$U" "$BENCH" "$@" | tee -a "$KG_TMP/redirected.txt" | awk '/ns_per_connect/ {print $2}'
}
listen_drops() { # -> "overflows drops": the test namespace's counters so far
	ip netns exec "$KG_NS" nstat -az TcpExtListenOverflows TcpExtListenDrops |
		awk '/ListenOverflows/ {o = $2} /ListenDrops/ {d = $2} END {print o + 0, d + 0}'
}
relay_drops() { # -> drops counted on the listening sockets the relay (KG_RELAY_PID) holds now
	ss -N "$KG_NS" -Hltnmp | awk -v pid="pid=$KG_RELAY_PID," '
		/^LISTEN/ { mine = index($0, pid) > 0; next }
		mine && match($0, /,d[0-9]+\)/) { d += substr($0, RSTART + 2, RLENGTH - 3); mine = 0 }
		END { print d + 0 }'
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

read -r ovf0 drop0 < <(listen_drops)
rdrop0=$(relay_drops)
echo "# connect() cost: $ROUNDS interleaved rounds x (median of 5 x $N connects), uid $U"
nt_out=() nt_in=() lo_out=() rd_in=()
nt_port=9000 # not a target port; connect-bench binds its listener with SO_REUSEADDR each time
nt_ratio=() rd_ratio=()
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then
		nt_out+=("$(outside 192.0.2.10 $nt_port "$N" --listen)")
		nt_in+=("$(inside 192.0.2.10 $nt_port "$N" --listen)")
		lo_out+=("$(outside 127.0.0.1 $nt_port "$N" --listen)")
		# Redirected connects land on the relay's backlog; kg-probe accepts and answers each.
		rd_in+=("$(redirected 192.0.2.10 8025 "$((N / 4))")")
	else
		rd_in+=("$(redirected 192.0.2.10 8025 "$((N / 4))")")
		lo_out+=("$(outside 127.0.0.1 $nt_port "$N" --listen)")
		nt_in+=("$(inside 192.0.2.10 $nt_port "$N" --listen)")
		nt_out+=("$(outside 192.0.2.10 $nt_port "$N" --listen)")
	fi
	nt_ratio+=("$(ratio "${nt_in[-1]}" "${nt_out[-1]}")")
	rd_ratio+=("$(ratio "${rd_in[-1]}" "${lo_out[-1]}")")
	echo "#   round $r: non-target out ${nt_out[-1]} in ${nt_in[-1]} (${nt_ratio[-1]});" \
		"loopback out ${lo_out[-1]}; redirected in ${rd_in[-1]} (${rd_ratio[-1]}) (ns)"
done
a=$(printf '%s\n' "${nt_out[@]}" | median)
b=$(printf '%s\n' "${nt_in[@]}" | median)
c=$(printf '%s\n' "${lo_out[@]}" | median)
d=$(printf '%s\n' "${rd_in[@]}" | median)
# quartiles FILE-of-values -> "q1 median q3"
quartiles() {
	sort -g | awk '{ v[NR] = $1 } END {
		printf "%.3f %.3f %.3f", v[int((NR + 3) / 4)], v[int((NR + 1) / 2)], v[int((3 * NR + 3) / 4)] }'
}
read -r nt_q1 nt_med nt_q3 < <(printf '%s\n' "${nt_ratio[@]}" | quartiles)
read -r rd_q1 rd_med rd_q3 < <(printf '%s\n' "${rd_ratio[@]}" | quartiles)
printf '%-46s %8s ns\n' "no programs, to 192.0.2.10 (non-target)" "$a"
printf '%-46s %8s ns   ratio %s (target <= 1.03; median of %d paired rounds, quartiles %s-%s)\n' \
	"programs attached, non-target port" "$b" "$nt_med" "$ROUNDS" "$nt_q1" "$nt_q3"
printf '%-46s %8s ns\n' "no programs, to 127.0.0.1" "$c"
printf '%-46s %8s ns   ratio %s (vs direct loopback; quartiles %s-%s)\n' \
	"programs attached, redirected to the relay" "$d" "$rd_med" "$rd_q1" "$rd_q3"
read -r ovf1 drop1 < <(listen_drops)
rdrop1=$(relay_drops)
rd_p50=$(awk '/single_connect_ns/ {print $2}' "$KG_TMP/redirected.txt" | median)
read -r rd_p99 rd_slow < <(awk '/single_connect_ns/ { if ($3 > p99) p99 = $3; slow += $5 }
	END { printf "%.0f %d\n", p99, slow }' "$KG_TMP/redirected.txt")
awk -v p50="$rd_p50" '/single_connect_ns/ { if ($3 > p99) p99 = $3; if ($4 > mx) mx = $4; slow += $5 }
	END { printf "%-46s %8.0f ns   median of the rounds; worst p99 %.0f ns, slowest %.0f ns, %d over 200 ms\n",
		"redirected, single connects", p50, p99, mx, slow }' "$KG_TMP/redirected.txt"
printf "%-46s %8d      on the relay's (kg-probe's) own listening sockets during the run\n" \
	"relay listen queue drops" "$((rdrop1 - rdrop0))"
printf '%-46s %8d      (TcpExtListenDrops %d) in the whole test namespace during the run,\n' \
	"listen queue overflows, namespace" "$((ovf1 - ovf0))" "$((drop1 - drop0))"
printf "%-46s %8s      the relay's and connect-bench's own --listen socket (baseline) together\n" "" ""

# --- the summary rows (tests/bench/table-lib.sh): the per-round ratios' mean with its interval
read -r nt_mean nt_hw < <(printf '%s\n' "${nt_ratio[@]}" | bench_mean_hw)
read -r rd_mean rd_hw < <(printf '%s\n' "${rd_ratio[@]}" | bench_mean_hw)
bench_row "connect: non-target port, programs vs none (ns)" "$b" "$a" \
	"$(bench_iv "$nt_mean" "$nt_hw" 4)" "<= 1.03" "$(bench_met_hw "$nt_mean" "$nt_hw" le 1.03)"
bench_row "connect: redirected vs direct loopback (ns)" "$d" "$c" "$(bench_iv "$rd_mean" "$rd_hw")" \
	"-" "n/a"
bench_row "connect: redirected single connect p50 / worst p99 (ns)" "$rd_p50 / $rd_p99" "-" "-" \
	"-" "n/a"
bench_row "connect: redirected connects over 200 ms (SYN retransmits)" "$rd_slow" "-" "-" "= 0" \
	"$([ "$rd_slow" = 0 ] && echo yes || echo no)"
bench_row "connect: relay (kg-probe) listener drops in the run" "$((rdrop1 - rdrop0))" "-" "-" "= 0" \
	"$([ $((rdrop1 - rdrop0)) = 0 ] && echo yes || echo no)"
bench_row "connect: namespace ListenOverflows / ListenDrops (relay + baseline)" \
	"$((ovf1 - ovf0)) / $((drop1 - drop0))" "-" "-" "-" "n/a"
