#!/bin/bash
# Benchmark: sustained connection churn, steered against unsteered (issue 15). One application
# opens KG_BENCH_CHURN_RATE connections a second (default 2000) for KG_BENCH_CHURN_SECS seconds
# (default 60), each closed by the application first, so TIME_WAIT piles up on its side; every
# connect() is timed and failures are counted by errno (tests/bench/connect-churn.c).
#
#   steered    uid U in the test cgroup to 192.0.2.10:8025 (a target port): connect4 rewrites
#              every one to U's relay, 127.0.0.1:PORT4, so all of them share one 4-tuple
#              space, (127.0.0.1, ephemeral port, 127.0.0.1, PORT4). The relay is
#              connect-churn's own (it registers with the service like the client, accepts,
#              waits for the FIN, closes): what is measured is connect() on the application
#              side, not the tunnel behind it, which no Squid here takes at 2,000/s.
#   unsteered  uid U outside the cgroup (no programs run) to a plain listener on 127.0.0.1:9000
#              in the same namespace: the same 4-tuple shape without the datapath.
#   origin     (once, KG_BENCH_CHURN_ORIGIN_SECS, default 20; 0 skips it) uid U outside the
#              cgroup to a listener on 192.0.2.10:9000: what an unsteered application does to
#              one destination that is not on loopback, where net.ipv4.tcp_tw_reuse=2 (reuse
#              on loopback only) does not apply.
# Each path runs KG_BENCH_CHURN_ROUNDS times (default 2), in alternating order; before each run
# the namespace's TIME_WAIT sockets are left to expire, so no run inherits another's. The
# figures pool the rounds' connects: the rate achieved, p50 and p99 with their 95 %
# order-statistic intervals, the slowest, failures by errno, TIME_WAIT sockets at the end of the
# run, how many TIME_WAIT sockets connect() took over (TcpExtTWRecycled) and the namespace's
# listen-queue overflow counters. KG_BENCH_CHURN_TW_REUSE sets the namespace's tcp_tw_reuse
# (default: left as the namespace has it, 2).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"
. "$top_srcdir/tests/bench/table-lib.sh"

CHURN="$top_builddir/tests/bench/connect-churn"
RATE=${KG_BENCH_CHURN_RATE:-2000}
SECS=${KG_BENCH_CHURN_SECS:-60}
ROUNDS=${KG_BENCH_CHURN_ROUNDS:-2}
ORIGIN_SECS=${KG_BENCH_CHURN_ORIGIN_SECS:-20}
U=$KG_UID_U
[ -x "$CHURN" ] || kg_skip "connect-churn not built"
kg_require_cmd ss nstat
kg_uid_path "$CHURN" CHURN

KG_PORTS="443, 8025" KG_DP_LOG_LEVEL=info kg_dp_setup
[ -z "${KG_BENCH_CHURN_TW_REUSE:-}" ] ||
	ip netns exec "$KG_NS" sysctl -qw net.ipv4.tcp_tw_reuse="$KG_BENCH_CHURN_TW_REUSE" || exit 99
nsx() { ip netns exec "$KG_NS" "$@"; }

# The relay: registered as U, inside the cgroup (its own connections are never steered).
"$KG_INCG" "$KG_CGROUP" nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$U" --regid="$U" \
	--clear-groups -- "$CHURN" relay "$KG_SOCK" >"$KG_TMP/relay.log" 2>&1 &
RELAY_PID=$!
kg_on_exit kg_stop_pid "$RELAY_PID"
kg_wait_for 50 grep -qE "REGISTERED|ERROR" "$KG_TMP/relay.log" &&
	grep -q REGISTERED "$KG_TMP/relay.log" || {
	echo "relay did not register:"
	cat "$KG_TMP/relay.log"
	exit 99
}
PORT4=$(awk '/^REGISTERED/ {print $2; exit}' "$KG_TMP/relay.log")
for a in 127.0.0.1 192.0.2.10; do
	# (not through nsx: a function would put a subshell between $! and the listener)
	ip netns exec "$KG_NS" "$CHURN" listen "$a" 9000 >"$KG_TMP/listen-$a.log" 2>&1 &
	pid=$!
	kg_on_exit kg_stop_pid "$pid"
	kg_wait_for 50 grep -q LISTENING "$KG_TMP/listen-$a.log" || {
		echo "listener on $a did not start:"
		cat "$KG_TMP/listen-$a.log"
		exit 99
	}
done
mkdir "$KG_TMP/churn" && chown "$U" "$KG_TMP/churn" || exit 99

time_wait() { # [ss filter...] -> TIME_WAIT sockets in the namespace
	nsx ss -Htan state time-wait "$@" | wc -l
}
counters() { # -> "overflows drops recycled": the namespace's counters so far (recycled: TIME_WAIT
	# sockets a connect() took over, which tcp_tw_reuse allows)
	nsx nstat -az TcpExtListenOverflows TcpExtListenDrops TcpExtTWRecycled |
		awk '/ListenOverflows/ {o = $2} /ListenDrops/ {d = $2} /TWRecycled/ {r = $2}
			END {print o + 0, d + 0, r + 0}'
}
drain() { # until the namespace's TIME_WAIT sockets expired (TCP_TIMEWAIT_LEN is 60 s)
	kg_wait_for 750 eval '[ "$(time_wait)" -lt 50 ]' || echo "#   (TIME_WAIT still $(time_wait))"
}

run() { # PATH SECS: one run of PATH; appends its connect times to $KG_TMP/churn/PATH.ns
	local path=$1 secs=$2 out o0 d0 r0 o1 d1 r1 tw
	read -r o0 d0 r0 < <(counters)
	case $path in
	steered)
		out=$(kg_app "$U" "$CHURN" connect 192.0.2.10 8025 "$RATE" "$secs" \
			"$KG_TMP/churn/$path.ns")
		tw=$(time_wait dst "127.0.0.1:$PORT4")
		;;
	unsteered | origin)
		local a=127.0.0.1
		[ "$path" = unsteered ] || a=192.0.2.10
		out=$(nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$U" --regid="$U" \
			--clear-groups -- "$CHURN" connect "$a" 9000 "$RATE" "$secs" \
			"$KG_TMP/churn/$path.ns")
		tw=$(time_wait dst "$a:9000")
		;;
	esac
	read -r o1 d1 r1 < <(counters)
	printf '%s\n' "$out" >>"$KG_TMP/churn/$path.out"
	echo "$((o1 - o0)) $((d1 - d0)) $tw $((r1 - r0))" >>"$KG_TMP/churn/$path.counters"
	# "sent N ok K secs S late L | p50/p99/max us | fails | TIME_WAIT", and the 10 s windows
	awk -v tw="$tw" -v ovf="$((o1 - o0))" -v rec="$((r1 - r0))" '
		/^churn_sent/ { s = sprintf("sent %d ok %d in %.1f s (late %d)", $2, $4, $6, $8) }
		/^churn_connect_ns/ { c = sprintf("p50 %.1f p99 %.1f max %.0f us, %d over 200 ms", $2 / 1e3, $3 / 1e3, $4 / 1e3, $5) }
		/^churn_fail/ { f = f " " $2 "=" $3 }
		/^churn_window/ { w = w sprintf(" %ds:%.1f/%.1f/%d", $2, $3 / 1e3, $4 / 1e3, $5) }
		END { printf "#     %s; %s; failures%s; TIME_WAIT %d (recycled %d); overflows %d\n", s, c, f == "" ? " 0" : f, tw, rec, ovf
		      printf "#     per 10 s (p50/p99 us/failures):%s\n", w }' <<<"$out"
	[ "$path" != steered ] || [ "$tw" -gt 0 ] || {
		echo "steered connections did not reach the relay (no TIME_WAIT to 127.0.0.1:$PORT4)"
		exit 99
	}
}

echo "# connect churn: $RATE connects/s for $SECS s, closed by the application; uid $U," \
	"tcp_tw_reuse $(nsx sysctl -n net.ipv4.tcp_tw_reuse)," \
	"ip_local_port_range $(nsx sysctl -n net.ipv4.ip_local_port_range | tr '\t' -)"
for ((r = 1; r <= ROUNDS; r++)); do
	order="steered unsteered"
	((r % 2)) || order="unsteered steered"
	for p in $order; do
		drain
		echo "#   round $r, $p:"
		run "$p" "$SECS"
	done
done
if [ "$ORIGIN_SECS" != 0 ]; then
	drain
	echo "#   origin (unsteered, 192.0.2.10, not loopback), $ORIGIN_SECS s:"
	run origin "$ORIGIN_SECS"
fi

# summary PATH -> sets S_N S_MAX S_P50 S_P50LO S_P50HI S_P99 S_P99LO S_P99HI S_FAIL S_TW S_OVF,
# S_RATE (connects a second achieved, over all its runs), S_SLOW (over 200 ms), S_REC (recycled)
summary() {
	local q
	q=$("$CHURN" quantiles <"$KG_TMP/churn/$1.ns") || q=""
	S_N=$(awk '/^n / {print $2}' <<<"$q")
	S_MAX=$(awk '/^max / {printf "%.0f", $2 / 1e3}' <<<"$q")
	read -r S_P50 S_P50LO S_P50HI < <(awk '/^p50 / {printf "%.1f %.1f %.1f", $2 / 1e3, $3 / 1e3, $4 / 1e3}' <<<"$q")
	read -r S_P99 S_P99LO S_P99HI < <(awk '/^p99 / {printf "%.1f %.1f %.1f", $2 / 1e3, $3 / 1e3, $4 / 1e3}' <<<"$q")
	S_FAIL=$(awk '/^churn_fail/ {n[$2] += $3} END { for (e in n) s = s (s ? "," : "") e "=" n[e]; print s ? s : "0" }' \
		"$KG_TMP/churn/$1.out")
	S_TW=$(awk '{ if ($3 > m) m = $3 } END {print m + 0}' "$KG_TMP/churn/$1.counters")
	S_OVF=$(awk '{ o += $1; d += $2 } END {print o "/" d}' "$KG_TMP/churn/$1.counters")
	S_REC=$(awk '{ r += $4 } END {print r + 0}' "$KG_TMP/churn/$1.counters")
	S_RATE=$(awk '/^churn_sent/ { k += $4; t += $6 } END { printf "%.0f", t ? k / t : 0 }' \
		"$KG_TMP/churn/$1.out")
	S_SLOW=$(awk '/^churn_connect_ns/ { n += $5 } END {print n + 0}' "$KG_TMP/churn/$1.out")
}
paths="steered unsteered"
[ "$ORIGIN_SECS" = 0 ] || paths="$paths origin"
printf '%-10s %8s %6s %22s %28s %8s %6s %7s %8s %9s  %s\n' path connects "per s" "p50 us [95 %]" \
	"p99 us [95 %]" "max us" ">200ms" "TW max" recycled "ovf/drop" failures
for p in $paths; do
	summary "$p"
	printf '%-10s %8s %6s %22s %28s %8s %6s %7s %8s %9s  %s\n' "$p" "${S_N:-0}" "$S_RATE" \
		"$S_P50 [$S_P50LO, $S_P50HI]" "$S_P99 [$S_P99LO, $S_P99HI]" "$S_MAX" "$S_SLOW" "$S_TW" \
		"$S_REC" "$S_OVF" "$S_FAIL"
	eval "${p}_p50=\$S_P50 ${p}_p50i='[$S_P50LO, $S_P50HI]' ${p}_p50lo=\$S_P50LO ${p}_p50hi=\$S_P50HI"
	eval "${p}_p99=\$S_P99 ${p}_p99i='[$S_P99LO, $S_P99HI]' ${p}_p99lo=\$S_P99LO ${p}_p99hi=\$S_P99HI"
	eval "${p}_fail=\$S_FAIL ${p}_rate=\$S_RATE"
done

# ratio EST_A LO_A HI_A EST_B LO_B HI_B -> "r [lo, hi]": the bounds' ratios (conservative)
ratio_iv() {
	awk -v a="$1" -v al="$2" -v ah="$3" -v b="$4" -v bl="$5" -v bh="$6" 'BEGIN {
		if (b <= 0 || bl <= 0 || bh <= 0) { print "n/a"; exit }
		printf "%.3f [%.3f, %.3f]", a / b, al / bh, ah / bl }'
}
# Targets: no connect fails, the rate holds, and the steered p99 stays within twice the
# unsteered one: the datapath's own cost (connect-overhead.sh) puts 1.1-1.5 between them on a
# busy machine, a 4-tuple space that ran out puts 10-100 (the origin path's figures).
for q in p50 p99; do
	eval "a=\$steered_$q al=\$steered_${q}lo ah=\$steered_${q}hi ai=\$steered_${q}i"
	eval "b=\$unsteered_$q bl=\$unsteered_${q}lo bh=\$unsteered_${q}hi bi=\$unsteered_${q}i"
	rv=$(ratio_iv "$a" "$al" "$ah" "$b" "$bl" "$bh")
	read -r rest rlo rhi < <(tr -d '[],' <<<"$rv")
	met=n/a
	[ "$q" != p99 ] || [ "$rv" = n/a ] || met=$(bench_met "$rest" "$rlo" "$rhi" le 2)
	bench_row "churn $RATE/s x ${SECS}s: connect $q (us), steered vs unsteered loopback" \
		"$a $ai" "$b $bi" "$rv" "$([ "$q" = p99 ] && echo "<= 2" || echo -)" "$met"
done
nfail() { awk -F'[=,]' '{ n = 0; for (i = 2; i <= NF; i += 2) n += $i; print n }' <<<"$1"; }
sf=$(nfail "$steered_fail") uf=$(nfail "$unsteered_fail")
bench_row "churn $RATE/s x ${SECS}s: failed connects, steered vs unsteered loopback" \
	"$sf" "$uf" - "= 0" "$([ "$sf" = 0 ] && echo yes || echo no)"
bench_row "churn $RATE/s x ${SECS}s: connects/s achieved, steered vs unsteered loopback" \
	"$steered_rate" "$unsteered_rate" - ">= $((RATE * 99 / 100))" \
	"$([ "$steered_rate" -ge $((RATE * 99 / 100)) ] && echo yes || echo no)"
if [ "$ORIGIN_SECS" != 0 ]; then
	# The same churn to one destination off loopback, unsteered: tcp_tw_reuse=2 does not reuse
	# its TIME_WAIT ports, which run out (no target: what steering spares such an application).
	bench_row "churn $RATE/s: connect p99 (us), steered vs unsteered to 192.0.2.10 (${ORIGIN_SECS}s)" \
		"$steered_p99 $steered_p99i" "$origin_p99 $origin_p99i" \
		"$(ratio_iv "$steered_p99" "$steered_p99lo" "$steered_p99hi" "$origin_p99" \
			"$origin_p99lo" "$origin_p99hi")" - n/a
	bench_row "churn $RATE/s: connects/s achieved, steered vs unsteered to 192.0.2.10 (${ORIGIN_SECS}s)" \
		"$steered_rate" "$origin_rate" "$(awk -v a="$steered_rate" -v b="$origin_rate" \
			'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }')" - n/a
fi
exit 0
