# shellcheck shell=bash
# What the client benchmarks share (sourced, bash, after tests/helpers/client-lib.sh):
# client-bench.sh (the relay against curl -x), https-proxy.sh (the same through an HTTPS proxy)
# and client-regress.sh (this build against an older one). They set CLIENT_PID (the relay
# measured), IDLE_PY (the idle-tunnel instrument, a path the test uid can read) and die().
#
#   url_list FILE COUNT URL   a curl -K file with COUNT transfers of URL to /dev/null
#   pct FILE P                the P-th percentile (nearest rank) of the numbers in FILE
#   relay_ticks, rss_kib      the relay's CPU clock ticks (utime + stime) and its RSS (KiB)
#   proxy_tunnels             tunnels open between Squid and the origin's port 443
#   idle_spawn COUNT          the instrument, as uid U in the test cgroup, waiting to open COUNT
#                             idle TLS tunnels through the relay (IDLE_PID); its output in
#                             $KG_TMP/idle.out and idle.err
#   idle_established          let it open them and wait until they are (1 when it did not)
#   idle_release              let it close them and wait for it (1 when it failed)
#   ratio A B                 A / B with 3 decimals ("n/a" when B is 0)
#   path_stats FILE PATH, paired_stats FILE ratio|diff   over lines "KEY PATH VALUE" (below)
#   bulk_once PATH            PATH_curl downloads https://$ORIGIN_HOST/bytes/$BULK: MiB/s
#   cps_once PATH             PATH_curl fetches $KG_TMP/cps.cfg's $CPS_N requests, $CPS_PAR in
#                             parallel, each on a fresh connection: "per-second stalls" (stalls:
#                             transfers over 0.9 s, a dropped SYN's retransmit)

url_list() { # FILE COUNT URL
	local i
	: >"$1"
	for ((i = 0; i < $2; i++)); do
		printf 'url = "%s"\noutput = "/dev/null"\n' "$3" >>"$1"
	done
	chmod 644 "$1"
}

pct() { # FILE P
	sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END { r = int(NR * p / 100 + 0.999999); printf "%.3f", v[r < 1 ? 1 : r] }'
}

relay_ticks() { awk '{ print $14 + $15 }' "/proc/$CLIENT_PID/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$CLIENT_PID/status"; }
proxy_tunnels() { ss -N "$KRBRIG_NS_PROXY" -Htn state established "dst $ORIGIN_IP:443" | wc -l; }

idle_spawn() { # COUNT
	# The instrument holds its tunnels until the fifo's writer (fd 7) closes; its output files
	# are opened only once the fifo has a writer, so a previous round's must go first.
	rm -f "$KG_TMP/hold" "$KG_TMP/idle.out" "$KG_TMP/idle.err" && mkfifo "$KG_TMP/hold" || return 1
	"$KG_INCG" "$KG_CGROUP" setpriv --reuid="$U" --regid="$U" --clear-groups --inh-caps=-all -- \
		env -i PATH=/usr/bin:/bin HOME=/nonexistent "$KG_PYTHON" "$IDLE_PY" --ip "$ORIGIN_IP" \
		--host "$ORIGIN_HOST" --cafile "$ORIGIN_CA" --count "$1" --setup-timeout 150 \
		--hold-timeout 120 <"$KG_TMP/hold" >"$KG_TMP/idle.out" 2>"$KG_TMP/idle.err" &
	IDLE_PID=$!
	kg_on_exit kg_stop_pid "$IDLE_PID"
}

idle_established() {
	exec 7>"$KG_TMP/hold"
	kg_wait_for 1700 grep -q '^established' "$KG_TMP/idle.out" && return 0
	exec 7>&-
	tail -n 5 "$KG_TMP/idle.err" >&2
	return 1
}

idle_release() {
	exec 7>&-
	kg_wait_for 300 grep -q '^released' "$KG_TMP/idle.out" || {
		echo "the instrument did not release its tunnels" >&2
		return 1
	}
	wait "$IDLE_PID" || {
		echo "the idle-tunnel instrument failed: $(tail -n 3 "$KG_TMP/idle.err")" >&2
		return 1
	}
	kg_wait_for 100 eval '[ "$(proxy_tunnels)" -eq 0 ]'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# Rounds and blocks are logged as lines "KEY PATH VALUE", PATH base or gk.
# path_stats FILE PATH -> "mean best" of PATH's values
path_stats() {
	awk -v p="$2" '$2 == p { s += $3; n++; if ($3 > m) m = $3 } END { printf "%.1f %.1f\n", n ? s / n : 0, m }' "$1"
}
# paired_stats FILE ratio|diff -> "mean standard_error median half_width" over the keys of
# the gatekeeper's value divided by (ratio) or minus (diff) the baseline's of the same key;
# half_width: of the 95 % confidence interval of the mean (Student's t, from its expansion)
paired_stats() {
	awk -v mode="$2" '
		$2 == "base" { b[$1] = $3 } $2 == "gk" { g[$1] = $3 }
		END {
			for (k in b) { q[++n] = mode == "ratio" ? g[k] / b[k] : g[k] - b[k]; s += q[n] }
			for (i = 1; i <= n; i++) ss += (q[i] - s / n) ^ 2
			for (i = 2; i <= n; i++) for (j = i; j > 1 && q[j - 1] > q[j]; j--) { t = q[j]; q[j] = q[j - 1]; q[j - 1] = t }
			med = n % 2 ? q[(n + 1) / 2] : (q[n / 2] + q[n / 2 + 1]) / 2
			se = n > 1 ? sqrt(ss / (n - 1) / n) : 0
			z = 1.96; df = n > 1 ? n - 1 : 1
			t = z + (z ^ 3 + z) / (4 * df) + (5 * z ^ 5 + 16 * z ^ 3 + 3 * z) / (96 * df ^ 2)
			printf "%.3f %.3f %.3f %.3f\n", s / n, se, med, t * se
		}' "$1"
}

# One first-byte block of PATH (base, gk, ...): PATH_curl fetches $KG_TMP/lat.cfg's requests,
# each on a fresh connection, all of which must be 200s ($per_block of them); the times (ms) are
# appended to $KG_TMP/lat-PATH$TAG and "BLOCK PATH median" to $KG_TMP/lat-blocks$TAG. The
# caller defines die().
first_byte_block() { # PATH BLOCK TAG
	local p=$1 b=$2 tag=$3
	"${p}_curl" -m 120 -K "$KG_TMP/lat.cfg" -H 'Connection: close' \
		-w '%{http_code} %{num_connects} %{time_starttransfer}\n' >"$KG_TMP/lat.out" ||
		die "$p first-byte block: curl failed"
	# shellcheck disable=SC2154 # per_block: set by the caller
	awk -v want="$per_block" '$1 == 200 && $2 == 1 { n++ } END { exit n != want }' \
		"$KG_TMP/lat.out" || die "$p first-byte block: not $per_block fresh 200s"
	awk '{ print $3 * 1000 }' "$KG_TMP/lat.out" >"$KG_TMP/lat-block"
	cat "$KG_TMP/lat-block" >>"$KG_TMP/lat-$p$tag"
	echo "$b $p $(pct "$KG_TMP/lat-block" 50)" >>"$KG_TMP/lat-blocks$tag"
}

# Both need 200s of the full size / on fresh connections, or the caller's die().
bulk_once() { # PATH -> MiB/s
	local out code size secs
	out=$("${1}_curl" -m 120 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
		"https://$ORIGIN_HOST/bytes/$BULK") || die "$1 download: curl failed ($out)"
	read -r code size secs <<<"$out"
	[ "$code" = 200 ] && [ "$size" = "$BULK" ] ||
		die "$1 download: HTTP $code, $size bytes of $BULK"
	awk -v b="$size" -v s="$secs" 'BEGIN { printf "%.1f", b / 1048576 / s }'
}

cps_once() { # PATH -> "connections-per-second stalls"
	local t0 t1 ok
	t0=$(krbrig_now_ms)
	"${1}_curl" -m 120 -K "$KG_TMP/cps.cfg" -H 'Connection: close' --parallel \
		--parallel-immediate --parallel-max "$CPS_PAR" --no-progress-meter \
		-w '%{http_code} %{num_connects} %{time_total}\n' >"$KG_TMP/cps.out" ||
		die "$1 connections: curl failed"
	t1=$(krbrig_now_ms)
	ok=$(awk '$1 == 200 && $2 == 1 { n++ } END { print n + 0 }' "$KG_TMP/cps.out")
	[ "$ok" = "$CPS_N" ] || die "$1 connections: $ok of $CPS_N were fresh 200s"
	awk -v n="$CPS_N" -v ms=$((t1 - t0)) '$3 > 0.9 { s++ }
		END { printf "%.1f %d\n", n / (ms / 1e3), s }' "$KG_TMP/cps.out"
}
