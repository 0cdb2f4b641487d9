#!/bin/bash
# Benchmark: this build's relay against the one of the commit before the refactor (issue 12),
# both through the same rig (tests/helpers/client-lib.sh: Squid with Negotiate, a KDC, alice's
# ticket) in one run. Nothing here compares with curl -x: client-bench.sh does that.
#
# The baseline is commit b40b9be (KG_BENCH_BASELINE names another), built by
# tests/bench/build-baseline.sh into $top_builddir/bench-baseline/COMMIT_ID and reused from there.
# Each build runs its own service and client (the refactor may change what goes between them),
# so switching builds restarts both. Rounds alternate the order (base, this / this, base), so drift
# on the machine hits both alike; in each round each build, freshly started, measures:
#   throughput     one KG_REGRESS_BULK_MB (1024) MiB HTTPS download through the relay, MiB/s
#   relay CPU      the client's utime+stime (/proc/PID/stat) over that download, s per GiB
#   first byte     p50 of KG_REGRESS_LATENCY_N (100) sequential requests, a new tunnel each, ms
#   connections/s  KG_REGRESS_CPS_N (300) requests, KG_REGRESS_CPS_PAR (8) at a time
#   idle RSS       the client's RSS growth over KG_REGRESS_IDLE_TUNNELS (2000) idle TLS tunnels,
#                  KiB per tunnel (0 skips it)
# KG_REGRESS_ROUNDS (8) rounds. Every figure is printed as the ratio this/baseline: the mean of
# the per-round ratios with its standard error and 95 % interval (Student's t), and the median
# and range of the per-round ratios (a round whose baseline figure is not above 0, as an RSS
# that did not grow, is left out). Numbers never fail the run; a broken transfer does.
# A quick check: KG_REGRESS_ROUNDS=2 KG_REGRESS_BULK_MB=64 KG_REGRESS_LATENCY_N=20
# KG_REGRESS_CPS_N=40 KG_REGRESS_IDLE_TUNNELS=200.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
. "$top_srcdir/tests/bench/table-lib.sh"

BASELINE=${KG_BENCH_BASELINE:-b40b9be}
ROUNDS=${KG_REGRESS_ROUNDS:-8}
BULK=$((${KG_REGRESS_BULK_MB:-1024} * 1024 * 1024))
LAT_N=${KG_REGRESS_LATENCY_N:-100}
CPS_N=${KG_REGRESS_CPS_N:-300}
CPS_PAR=${KG_REGRESS_CPS_PAR:-8}
IDLE_WANT=${KG_REGRESS_IDLE_TUNNELS:-2000}
FD_CAP=20000 # a process here may hold at most this many descriptors
IDLE_PY="$top_srcdir/tests/bench/client-idle-tunnels.py"

die() {
	echo "bench broke: $*" >&2
	exit 1
}

kg_require_root
base_dir=$(bash "$top_srcdir/tests/bench/build-baseline.sh" "$BASELINE") || {
	rc=$?
	[ "$rc" = 77 ] && kg_skip "no baseline build of $BASELINE"
	die "the baseline $BASELINE did not build"
}
this_dir=$top_builddir
declare -A BUILD_DIR=([base]=$base_dir [this]=$this_dir)
if compgen -G "$this_dir/src/client/*.gcno" >/dev/null; then
	echo "# warning: this build has gcov counters (--enable-coverage, -O0): its figures measure that"
fi

# Squid holds two descriptors per tunnel, the relay two: raise the soft limit before the rig
# starts, so every one of them inherits it (as client-bench.sh does).
fd_hard=$(ulimit -Hn)
[ "$fd_hard" = unlimited ] && fd_hard=$FD_CAP
[ "$fd_hard" -gt "$FD_CAP" ] && fd_hard=$FD_CAP
ulimit -Sn "$fd_hard" || kg_skip "cannot raise the descriptor limit to $fd_hard"

kgc_use_build "$base_dir"
kgc_setup squid
kg_uid_path "$IDLE_PY" IDLE_PY

# The test uids must be able to run each build's client; a build they cannot read is copied
# into the rig's scratch directory (world-readable, removed at exit) under its own name.
declare -A UID_CLIENT
for b in base this; do
	c="${BUILD_DIR[$b]}/src/client/kernelgatekeeper-client"
	if ! kg_as_uid "$U" test -r "$c"; then
		mkdir -p "$KG_TMP/bin-$b" && cp -p "$c" "$KG_TMP/bin-$b/" || exit 99
		chmod -R a+rX "$KG_TMP/bin-$b"
		c="$KG_TMP/bin-$b/kernelgatekeeper-client"
	fi
	UID_CLIENT[$b]=$c
done

CURRENT=base # kgc_setup started the baseline's service
CLIENT_PID=
use_build() { # base|this: that build's service and client, both started afresh
	[ -n "$CLIENT_PID" ] && kgc_stop_client "$U"
	kg_stop_pid "$KG_SERVICE_PID"
	wait "$KG_SERVICE_PID" 2>/dev/null
	rm -f "$KG_SOCK"
	kgc_use_build "${BUILD_DIR[$1]}"
	KG_CLIENT=${UID_CLIENT[$1]}
	kg_start_service || die "the $1 service did not start"
	kgc_start_client "$U" || die "the $1 client did not start"
	CLIENT_PID=${KGC_PID[$U]}
	CURRENT=$1
}

# Results: lines "ROUND BUILD METRIC VALUE".
RES="$KG_TMP/regress-results"
: >"$RES"
record() { echo "$r $CURRENT $1 $2" >>"$RES"; }

bulk() { # throughput (MiB/s) and relay CPU (s per GiB) of one download
	local out code size secs t0 t1
	t0=$(relay_ticks)
	out=$(kgc_curl "$U" -m 300 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
		"https://$ORIGIN_HOST/bytes/$BULK") || die "$CURRENT download: curl failed ($out)"
	t1=$(relay_ticks)
	read -r code size secs <<<"$out"
	[ "$code" = 200 ] && [ "$size" = "$BULK" ] ||
		die "$CURRENT download: HTTP $code, $size bytes of $BULK"
	record throughput "$(awk -v b="$size" -v s="$secs" 'BEGIN { printf "%.2f", b / 1048576 / s }')"
	record cpu "$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v b="$size" \
		'BEGIN { printf "%.4f", t / hz / (b / 1073741824) }')"
}

first_byte() { # p50 over LAT_N sequential requests, each on a new tunnel (num_connects = 1)
	kgc_curl "$U" -m 300 -K "$KG_TMP/lat.cfg" -H 'Connection: close' \
		-w '%{http_code} %{num_connects} %{time_starttransfer}\n' >"$KG_TMP/lat.out" ||
		die "$CURRENT first byte: curl failed"
	awk -v want="$LAT_N" '$1 == 200 && $2 == 1 { n++ } END { exit n != want }' "$KG_TMP/lat.out" ||
		die "$CURRENT first byte: not $LAT_N fresh 200s"
	awk '{ print $3 * 1000 }' "$KG_TMP/lat.out" >"$KG_TMP/lat.ms"
	record first_byte_p50 "$(pct "$KG_TMP/lat.ms" 50)"
}

cps() { # CPS_N requests, CPS_PAR at a time, a new tunnel each
	local t0 t1 ok
	t0=$(krbrig_now_ms)
	kgc_curl "$U" -m 300 -K "$KG_TMP/cps.cfg" -H 'Connection: close' --parallel \
		--parallel-immediate --parallel-max "$CPS_PAR" --no-progress-meter \
		-w '%{http_code} %{num_connects}\n' >"$KG_TMP/cps.out" ||
		die "$CURRENT connections: curl failed"
	t1=$(krbrig_now_ms)
	ok=$(awk '$1 == 200 && $2 == 1 { n++ } END { print n + 0 }' "$KG_TMP/cps.out")
	[ "$ok" = "$CPS_N" ] || die "$CURRENT connections: $ok of $CPS_N were fresh 200s"
	record conn_per_s "$(awk -v n="$CPS_N" -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f", n / (ms / 1e3) }')"
}

idle_rss() { # the client's RSS growth per idle tunnel, IDLE tunnels held by the instrument
	local before after established failed secs
	idle_spawn "$IDLE" || die "$CURRENT: cannot start the idle-tunnel instrument"
	before=$(rss_kib)
	idle_established || die "$CURRENT: the idle-tunnel instrument did not finish its set-up"
	sleep 1 # let the relay finish its loop pass and the allocator settle
	after=$(rss_kib)
	read -r _ established _ failed _ secs <"$KG_TMP/idle.out"
	idle_release || die "$CURRENT: the idle tunnels did not end"
	[ "$established" -ge $((IDLE * 9 / 10)) ] ||
		die "$CURRENT: only $established of $IDLE idle tunnels were established ($failed failed)"
	record idle_kib_per_tunnel "$(awk -v a="$after" -v b="$before" -v n="$established" \
		'BEGIN { printf "%.3f", (a - b) / n }')"
}

IDLE=$IDLE_WANT
if [ "$IDLE" -gt 0 ]; then
	squid_fds=$(sed -n 's/.*With \([0-9]*\) file descriptors available.*/\1/p' "$RIG/logs/cache.log" | tail -n 1)
	cap=$(((fd_hard - 200) / 2))
	[ -n "$squid_fds" ] && [ $(((squid_fds - 200) / 2)) -lt "$cap" ] && cap=$(((squid_fds - 200) / 2))
	if [ "$cap" -lt "$IDLE" ]; then
		echo "# the rig holds at most $cap tunnels (descriptors: ours $fd_hard, Squid ${squid_fds:-?}): using $cap"
		IDLE=$cap
	fi
fi
url_list "$KG_TMP/lat.cfg" "$LAT_N" "https://$ORIGIN_HOST/"
url_list "$KG_TMP/cps.cfg" "$CPS_N" "https://$ORIGIN_HOST/"

echo "# this build: $this_dir"
echo "# baseline:   $BASELINE ($base_dir)"
echo "# $ROUNDS rounds, alternating order; per build and round: $((BULK >> 20)) MiB download," \
	"$LAT_N first-byte requests, $CPS_N connections ($CPS_PAR parallel)," \
	"$([ "$IDLE" -gt 0 ] && echo "$IDLE idle tunnels" || echo "no idle tunnels")"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(base this); else order=(this base); fi
	for b in "${order[@]}"; do
		use_build "$b"
		# The idle tunnels first: a fresh client's RSS grows with them; after the other
		# figures' transfers, its allocator would serve them from memory it already holds.
		[ "$IDLE" -gt 0 ] && idle_rss
		bulk
		first_byte
		cps
		echo "#    round $r $b: $(awk -v r="$r" -v b="$b" '$1 == r && $2 == b { printf "%s %s  ", $3, $4 }' "$RES")"
	done
done

# ratio_line METRIC LABEL UNIT SENSE: means of each build, then the per-round ratios this/base:
# mean, standard error, 95 % interval of the mean (Student's t, from its expansion), median,
# range. SENSE says which way is better. The summary row's figures ("this base mean half_width")
# go to $KG_TMP/ratio-row.
ratio_line() {
	rm -f "$KG_TMP/ratio-row"
	awk -v m="$1" -v label="$2" -v unit="$3" -v sense="$4" -v rowf="$KG_TMP/ratio-row" '
		$3 == m && $2 == "base" { b[$1] = $4; sb += $4; nb++ }
		$3 == m && $2 == "this" { t[$1] = $4; st += $4; nt++ }
		END {
			for (k in b) if ((k in t) && b[k] > 0) { q[++n] = t[k] / b[k]; s += q[n] }
			if (!n) { printf "%s: no rounds\n", label; exit }
			for (i = 1; i <= n; i++) ss += (q[i] - s / n) ^ 2
			for (i = 2; i <= n; i++) for (j = i; j > 1 && q[j - 1] > q[j]; j--) { x = q[j]; q[j] = q[j - 1]; q[j - 1] = x }
			med = n % 2 ? q[(n + 1) / 2] : (q[n / 2] + q[n / 2 + 1]) / 2
			se = n > 1 ? sqrt(ss / (n - 1) / n) : 0
			z = 1.96; df = n > 1 ? n - 1 : 1
			tt = z + (z ^ 3 + z) / (4 * df) + (5 * z ^ 5 + 16 * z ^ 3 + 3 * z) / (96 * df ^ 2)
			printf "%-20s this %9.3f  baseline %9.3f %-6s ratio %.3f +- %.3f (se %.3f; 95 %% interval [%.3f, %.3f]; median %.3f, range [%.3f, %.3f]; %d rounds) %s\n",
				label, st / nt, sb / nb, unit, s / n, tt * se, se, s / n - tt * se, s / n + tt * se,
				med, q[1], q[n], n, sense
			printf "%.3f %.3f %.3f %.3f\n", st / nt, sb / nb, s / n, tt * se >rowf
		}' "$RES"
}

# regress_row METRIC LABEL: ratio_line's figures as a summary row (no target: issue 12 asked
# for no regression, which the ratio and its interval show)
regress_row() {
	local this base mean hw
	[ -s "$KG_TMP/ratio-row" ] || return 0
	read -r this base mean hw <"$KG_TMP/ratio-row"
	bench_row "regress vs $BASELINE: $1" "$this" "$base" "$(bench_iv "$mean" "$hw")" "-" "n/a"
}

echo
echo "client-regress results: this build / baseline $BASELINE (per-round ratios; the means of each build beside)"
ratio_line throughput "throughput" "MiB/s" "(higher is better)"
regress_row "throughput (MiB/s)"
ratio_line first_byte_p50 "first byte p50" "ms" "(lower is better)"
regress_row "first byte p50 (ms)"
ratio_line conn_per_s "connections/s" "/s" "(higher is better)"
regress_row "connections/s"
if [ "$IDLE" -gt 0 ]; then
	ratio_line idle_kib_per_tunnel "idle RSS per tunnel" "KiB" "(lower is better)"
	regress_row "idle RSS per tunnel (KiB)"
fi
ratio_line cpu "relay CPU per GiB" "s/GiB" "(lower is better)"
regress_row "relay CPU per GiB (s)"
exit 0
