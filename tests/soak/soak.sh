#!/bin/bash
# Sustained load and soak (issue 16 item 4; `make soak`, not part of `make check`): three users
# (alice, bob, carol), each with their own relay client, under mixed traffic for
# KG_SOAK_SECONDS (default 1800) after a warm-up of KG_SOAK_WARMUP (default 120):
#   bulk       KG_SOAK_BULK_MB (256) MiB downloads, alternately through CONNECT (port 443) and
#              forwarded on port 80, each checked by its sha256 (KG_SOAK_BULK_RATE per
#              download, default 20M, curl's --limit-rate; 0: unlimited)
#   burst      waves of KG_SOAK_BURST (200) parallel short requests (one curl -Z), half on 443,
#              half on 80, every one must answer 200; KG_SOAK_BURST_PAUSE (10) s between waves
#   keepalive  KG_SOAK_KEEPALIVE (100) requests on one port-80 connection (one curl, many URLs)
# Every loop ends at its phase's deadline or after KG_SOAK_MAX_ROUNDS (100000) rounds.
#
# Resources: VmRSS and the open descriptors of the service and of each client, sampled once
# after the warm-up and once at the end, both times with the traffic stopped and
# KG_SOAK_SETTLE (15) s later (spare "warm" proxy connections close after 5 s without
# traffic: warm_idle_timeout = 5 here), and every 60 s into a CSV (KG_SOAK_CSV, default
# ./soak.csv) with a one-line progress note. The run fails when any transfer failed, or when
# an end value exceeds its warm-up value by more than 5 %; for descriptor counts below 20,
# where 5 % is less than one descriptor, one more is allowed (the table says so).
# Root only (exit 77 otherwise, a failure with KG_REQUIRE_PRIVILEGED=1).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

SOAK=${KG_SOAK_SECONDS:-1800}
WARMUP=${KG_SOAK_WARMUP:-120}
SETTLE=${KG_SOAK_SETTLE:-15}
BULK=$((${KG_SOAK_BULK_MB:-256} * 1024 * 1024))
RATE=${KG_SOAK_BULK_RATE:-20M}
BURST=${KG_SOAK_BURST:-200}
BURST_PAUSE=${KG_SOAK_BURST_PAUSE:-10}
KEEPALIVE=${KG_SOAK_KEEPALIVE:-100}
MAX_ROUNDS=${KG_SOAK_MAX_ROUNDS:-100000}
CSV=${KG_SOAK_CSV:-$PWD/soak.csv}
W=61003 # carol: the rig has two test uids, the soak a third
PAGE="kgtest origin: hello"

kgc_setup squid
krbrig_add_user carol carolpw && krbrig_kinit_as "$W" carol carolpw "FILE:$KRBRIG_CCDIR/krb5cc_$W" ||
	{ echo "# cannot add carol"; exit 99; }
kgc_write_config_proxy 'warm_idle_timeout = 5;' &&
	kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || { echo "# reload failed"; exit 99; }
declare -A NAME=([$U]=alice [$V]=bob [$W]=carol)
USERS="$U $V $W"
for u in $USERS; do
	kgc_start_client "$u" || exit 99
done
for u in $USERS; do
	kg_check "${NAME[$u]}: a steered request works before the soak" \
		test "$(kgc_curl "$u" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE" || kg_finish
done
WANT=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest "$BULK")
RES="$KG_TMP/results"
mkdir -p "$RES"

# --- traffic: one background loop per user and kind, each appending "ok ..." or "fail ..."
# lines to $RES/USER.KIND ---------------------------------------------------------------------
now() { date +%s; }

bulk_loop() { # UID DEADLINE
	local u=$1 end=$2 i=0 url got rc rate=()
	[ "$RATE" = 0 ] || rate=(--limit-rate "$RATE")
	while [ "$(now)" -lt "$end" ] && ((i++ < MAX_ROUNDS)); do
		if ((i % 2)); then url="https://$ORIGIN_HOST/bytes/$BULK"; else url="http://$ORIGIN_HOST/bytes/$BULK"; fi
		got=$(set -o pipefail; kgc_curl "$u" -m 600 "${rate[@]}" "$url" 2>>"$RES/$u.bulk.err" |
			sha256sum | cut -d' ' -f1)
		rc=$?
		if [ "$rc" = 0 ] && [ "$got" = "$WANT" ]; then
			echo "ok ${url%%:*}" >>"$RES/$u.bulk"
		else
			echo "fail ${url%%:*} rc=$rc digest=${got:0:12}" >>"$RES/$u.bulk"
		fi
	done
}

burst_loop() { # UID DEADLINE: waves of BURST parallel requests
	local u=$1 end=$2 i=0 j args out rc n200
	args=()
	for ((j = 0; j < BURST; j++)); do
		if ((j % 2)); then args+=(-o /dev/null "https://$ORIGIN_HOST/"); else args+=(-o /dev/null "http://$ORIGIN_HOST/"); fi
	done
	while [ "$(now)" -lt "$end" ] && ((i++ < MAX_ROUNDS)); do
		out=$(kgc_curl "$u" -m 120 --no-progress-meter -Z --parallel-max "$BURST" --parallel-immediate \
			-w '%{http_code}\n' "${args[@]}" 2>>"$RES/$u.burst.err")
		rc=$?
		n200=$(grep -c '^200$' <<<"$out")
		if [ "$rc" = 0 ] && [ "$n200" = "$BURST" ]; then
			echo "ok" >>"$RES/$u.burst"
		else
			echo "fail rc=$rc answered_200=$n200/$BURST" >>"$RES/$u.burst"
		fi
		sleep "$BURST_PAUSE"
	done
}

keepalive_loop() { # UID DEADLINE: KEEPALIVE requests on one port-80 connection
	local u=$1 end=$2 i=0 j args out rc n200 conns
	args=()
	for ((j = 0; j < KEEPALIVE; j++)); do args+=(-o /dev/null "http://$ORIGIN_HOST/"); done
	while [ "$(now)" -lt "$end" ] && ((i++ < MAX_ROUNDS)); do
		out=$(kgc_curl "$u" -m 120 -w '%{http_code} %{num_connects}\n' "${args[@]}" \
			2>>"$RES/$u.keepalive.err")
		rc=$?
		n200=$(grep -c '^200 ' <<<"$out")
		conns=$(awk '{c += $2} END {print c + 0}' <<<"$out")
		if [ "$rc" = 0 ] && [ "$n200" = "$KEEPALIVE" ]; then
			echo "ok connections=$conns" >>"$RES/$u.keepalive"
		else
			echo "fail rc=$rc answered_200=$n200/$KEEPALIVE connections=$conns" >>"$RES/$u.keepalive"
		fi
		sleep 1
	done
}

LOOPS=()
kill_loops() {
	local p
	for p in "${LOOPS[@]}"; do kill "$p" 2>/dev/null; done
}
kg_on_exit kill_loops

count() { # PATTERN FILES...: lines starting with PATTERN, over FILES
	local p=$1
	shift
	cat "$@" 2>/dev/null | grep -c "^$p"
}

# --- resources ---------------------------------------------------------------------------------
PIDS="$KG_SERVICE_PID"
for u in $USERS; do PIDS+=" ${KGC_PID[$u]}"; done
pid_name() {
	local p=$1 u
	[ "$p" = "$KG_SERVICE_PID" ] && { echo service; return; }
	for u in $USERS; do [ "$p" = "${KGC_PID[$u]}" ] && echo "client-${NAME[$u]}"; done
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -1; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
fd_kinds() { # PID: its descriptors by kind, e.g. "socket 9, pipe 2, anon_inode 3, file 1"
	local f t
	declare -A k=()
	for f in /proc/"$1"/fd/*; do
		t=$(readlink "$f" 2>/dev/null) || continue
		case $t in
		socket:*) t=socket ;;
		pipe:*) t=pipe ;;
		anon_inode:*) t=${t#anon_inode:} t=${t#[} t=${t%]} ;;
		*) t=file ;;
		esac
		k[$t]=$((${k[$t]:-0} + 1))
	done
	for t in "${!k[@]}"; do printf '%s %s\n' "$t" "${k[$t]}"; done | sort | paste -sd, | sed 's/,/, /g'
}

# Each process still runs the binary we started (in-cgroup, setpriv and env exec it).
for p in $PIDS; do
	kg_check "$(pid_name "$p") (pid $p) is the process sampled: $(cat "/proc/$p/comm")" \
		grep -q '^kernelgatekeep' "/proc/$p/comm"
done

T0=$(now)
echo "t_s,phase,$(for p in $PIDS; do n=$(pid_name "$p"); printf '%s_rss_kb,%s_fds,' "$n" "$n"; done)bulk_ok,bulk_fail,burst_ok,burst_fail,keepalive_ok,keepalive_fail" >"$CSV"
sample_line() { # PHASE: one CSV line
	local p line
	line="$(($(now) - T0)),$1,"
	for p in $PIDS; do line+="$(rss_kb "$p"),$(nfds "$p"),"; done
	line+="$(count ok "$RES"/*.bulk),$(count fail "$RES"/*.bulk),"
	line+="$(count ok "$RES"/*.burst),$(count fail "$RES"/*.burst),"
	line+="$(count ok "$RES"/*.keepalive),$(count fail "$RES"/*.keepalive)"
	echo "$line" >>"$CSV"
}
progress() { # PHASE ELAPSED TOTAL
	local p s=""
	for p in $PIDS; do s+=" $(pid_name "$p") $(($(rss_kb "$p") / 1024))M/$(nfds "$p")fd"; done
	echo "# soak $1 $(($2 / 60))/$(($3 / 60)) min: bulk $(count ok "$RES"/*.bulk) ok $(count fail "$RES"/*.bulk) failed," \
		"burst waves $(count ok "$RES"/*.burst) ok $(count fail "$RES"/*.burst) failed," \
		"keep-alive runs $(count ok "$RES"/*.keepalive) ok $(count fail "$RES"/*.keepalive) failed;$s"
}

phase() { # NAME SECONDS: traffic for SECONDS, a progress note and a CSV line every 60 s
	local name=$1 secs=$2 start end u p next
	start=$(now)
	end=$((start + secs))
	LOOPS=()
	for u in $USERS; do
		bulk_loop "$u" "$end" &
		LOOPS+=($!)
		burst_loop "$u" "$end" &
		LOOPS+=($!)
		keepalive_loop "$u" "$end" &
		LOOPS+=($!)
	done
	next=$((start + 60))
	while :; do
		local alive=0
		for p in "${LOOPS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 1 ] || break
		if [ "$(now)" -ge "$next" ]; then
			progress "$name" $(($(now) - start)) "$secs"
			sample_line "$name"
			next=$((next + 60))
		fi
		sleep 1
	done
	for p in "${LOOPS[@]}"; do wait "$p" 2>/dev/null; done
	LOOPS=()
}

declare -A BASE_RSS BASE_FDS BASE_KINDS END_RSS END_FDS END_KINDS
settle_sample() { # PREFIX (BASE, END): traffic stopped; wait SETTLE s, sample every process
	local -n rss=$1_RSS fds=$1_FDS kinds=$1_KINDS
	local p
	sleep "$SETTLE"
	for p in $PIDS; do
		rss[$p]=$(rss_kb "$p")
		fds[$p]=$(nfds "$p")
		kinds[$p]=$(fd_kinds "$p")
	done
}

echo "# soak: warm-up ${WARMUP} s, soak ${SOAK} s, settle ${SETTLE} s; users alice bob carol;" \
	"bulk $((BULK >> 20)) MiB at ${RATE}/s, bursts of $BURST, keep-alive runs of $KEEPALIVE; CSV $CSV"
phase warm-up "$WARMUP"
settle_sample BASE
sample_line baseline
phase soak "$SOAK"
settle_sample END
sample_line end

# --- verdict -----------------------------------------------------------------------------------
for kind in bulk burst keepalive; do
	ok=$(count ok "$RES"/*."$kind")
	fail=$(count fail "$RES"/*."$kind")
	kg_check "$kind: $ok passed, $fail failed (of all three users)" test "$fail" = 0 -a "$ok" -gt 0 ||
		cat "$RES"/*."$kind" "$RES"/*."$kind".err 2>/dev/null | grep -v '^ok' | sort | uniq -c | head -n 10 | sed 's/^/#   /'
done
conns=$(cat "$RES"/*.keepalive 2>/dev/null | sed -n 's/.*connections=//p' | awk '{c += $1; n++} END {printf "%.2f", n ? c / n : 0}')
echo "# keep-alive: $conns TCP connection(s) per run of $KEEPALIVE requests on average"

limit_fds() { # BASE: the allowed end value
	local b=$1 l
	l=$(((b * 105) / 100))
	[ "$b" -lt 20 ] && [ "$l" -lt $((b + 1)) ] && l=$((b + 1))
	echo "$l"
}
printf '# %-16s %12s %12s %10s %8s %8s %8s\n' process rss_base_kB rss_end_kB rss_limit fds_base fds_end fds_limit
for p in $PIDS; do
	n=$(pid_name "$p")
	rl=$(((BASE_RSS[$p] * 105) / 100))
	fl=$(limit_fds "${BASE_FDS[$p]}")
	printf '# %-16s %12s %12s %10s %8s %8s %8s\n' "$n" "${BASE_RSS[$p]}" "${END_RSS[$p]}" "$rl" \
		"${BASE_FDS[$p]}" "${END_FDS[$p]}" "$fl"
	echo "#   $n descriptors after the warm-up: ${BASE_KINDS[$p]}; at the end: ${END_KINDS[$p]}"
	kg_check "$n: RSS ${END_RSS[$p]} kB at the end, within 5 % of ${BASE_RSS[$p]} kB after the warm-up" \
		test "${END_RSS[$p]}" -le "$rl" -a "${END_RSS[$p]}" -gt 0
	kg_check "$n: ${END_FDS[$p]} descriptors at the end, warm-up ${BASE_FDS[$p]}, limit $fl" \
		test "${END_FDS[$p]}" -le "$fl"
done
echo "# limits: 5 % over the warm-up value; descriptor counts below 20 may grow by one (5 % of" \
	"them is less than one descriptor)"
for p in $PIDS; do
	kg_check "$(pid_name "$p") still runs after the soak" kill -0 "$p"
done
# The datapath's fixed-size structures: full or not, never silently (the service's log says
# so once when a counter moves).
stats=$("$KG_CTL" --socket "$KG_SOCK" stats)
dropped=$(awk '$1 == "events_dropped" {print $2}' <<<"$stats")
evicted=$(awk '$1 == "connection_map_evicted" {print $2}' <<<"$stats")
echo "# service: $(awk '$1 == "redirected" {print $2}' <<<"$stats") connections redirected," \
	"events_dropped ${dropped:-?}, connection_map_evicted ${evicted:-?}"
kg_check "events dropped (${dropped:-?}) never silently: 0, or the service's log said so" \
	eval '[ "${dropped:-x}" = 0 ] || grep -q "event ring (.*) was full" "$KG_TMP/service.log"'
kg_check "connection_map evictions (${evicted:-?}) never silently: 0, or the service's log said so" \
	eval '[ "${evicted:-x}" = 0 ] || grep -q "connection_map is full" "$KG_TMP/service.log"'
kg_finish
