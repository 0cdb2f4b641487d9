#!/bin/bash
# Benchmark (issue 14): the relay through an HTTPS proxy against what users do today, through the
# same Squid (squid-openssl, https_port 3129 of KRBRIG_TLS=1 in tests/lib/krbrig.sh) in one run:
#   gatekeeper: curl with no proxy settings, steered to alice's relay, proxy.type "https"
#               (TLS to the proxy, Negotiate and CONNECT inside it, session resumption on)
#   baseline:   curl --proxy https://proxy.kgtest.local:3129 --proxy-cacert CA
#               --proxy-negotiate -U : with the same ticket (curl resumes its TLS sessions too)
#   1. 1 GiB HTTPS download, KG_BENCH_TP_ROUNDS alternating rounds  (target mean ratio >= 0.95)
#   2. connect-to-first-byte over KG_BENCH_LATENCY_N requests each, a new tunnel (and a new
#      TLS session to the proxy, resumed) each                       (target added p50 <= 0.3 ms)
#      and the same with the relay's TLS session resumption off (KG_TEST_NO_TLS_RESUMPTION, a
#      file that turns it off while it exists: blocks alternate in the same run), as the ratio
#      of the block medians on/off with its interval; then one block each at log level debug
#      counts the relay's handshakes and how many were resumed
#   3. the relay's CPU seconds per GiB: through the HTTPS proxy (from 1.) next to the same
#      download through the plain http_port 3128 (proxy.type http: splice), KG_BENCH_HTTP_ROUNDS
# Numbers never fail the run; it exits non-zero only when a transfer or the set-up broke. When
# the client refuses proxy.type https (a build without the TLS upstream), only the baseline's
# figures are printed and it exits 77 (make bench reports it skipped).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
. "$top_srcdir/tests/bench/table-lib.sh"

TP_ROUNDS=${KG_BENCH_TP_ROUNDS:-20}
HTTP_ROUNDS=${KG_BENCH_HTTP_ROUNDS:-5}
BULK=$((${KG_BENCH_BULK_MB:-1024} * 1024 * 1024))
LAT_N=${KG_BENCH_LATENCY_N:-1600}
LAT_BLOCKS=$(((LAT_N + 49) / 50)) # alternating blocks of 50, as client-bench.sh

export KRBRIG_TLS=1
kgc_setup squid
krbrig_i13_start dns || exit 99
# the client resolves proxy.kgtest.local (the name its certificate is for) through the rig's DNS
kgc_use_rig_resolv || exit 99

die() {
	echo "bench broke: $*" >&2
	exit 1
}

use_proxy() { # https|http: the service's configuration; the client's reload when it runs
	if [ "$1" = https ]; then
		KGC_PROXY_TYPE=https kgc_write_config_proxy "url = \"$PROXY_TLS_URL\";" \
			"ca_file = \"$PROXY_CA\";"
	else
		kgc_write_config
	fi
	kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || die "service reload"
	[ -z "${CLIENT_PID:-}" ] || kg_reload "$CLIENT_PID" "$(kgc_client_log "$U")" ||
		die "client reload"
}

GK=1
NO_RESUME=$KG_TMP/no-resumption # exists: the relay's new TLS sessions do not resume
# shellcheck disable=SC2034 # kgc_start_client passes it to the client
KGC_CLIENT_ENV="KG_TEST_NO_TLS_RESUMPTION=$NO_RESUME"
use_proxy https
if kgc_start_client "$U" >"$KG_TMP/start.out" 2>&1; then
	CLIENT_PID=${KGC_PID[$U]}
else
	GK=0
	why=$(grep -m1 "https" "$(kgc_client_log "$U")")
	echo "# the client does not run with proxy.type https (${why:-see its log}):" \
		"baseline figures only"
fi

base_curl() {
	krbrig_proxy_tls_curl "$U" "$CC_U" --resolve "$ORIGIN_HOST:443:$ORIGIN_IP" "$@"
}
gk_curl() {
	rm -f "$NO_RESUME"
	kgc_curl "$U" "$@"
}
gknr_curl() { # the relay without TLS session resumption
	touch "$NO_RESUME"
	kgc_curl "$U" "$@"
	local r=$?
	rm -f "$NO_RESUME"
	return $r
}
PATHS=(base)
[ "$GK" = 1 ] && PATHS+=(gk)

hz=$(getconf CLK_TCK)
cpu_per_gib() { # TICKS BYTES -> CPU seconds per GiB
	awk -v t="$1" -v b="$2" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz / (b / 1073741824) }'
}

# --- 1. throughput --------------------------------------------------------------------------
echo "# 1. $((BULK >> 20)) MiB over HTTPS through CONNECT inside TLS to the proxy," \
	"$TP_ROUNDS alternating rounds per path"
: >"$KG_TMP/tp-rounds"
tls_ticks=0
for ((r = 1; r <= TP_ROUNDS; r++)); do
	for p in "${PATHS[@]}"; do
		[ "$p" = gk ] && rel0=$(relay_ticks)
		v=$(bulk_once "$p") || exit 1
		[ "$p" = gk ] && tls_ticks=$((tls_ticks + $(relay_ticks) - rel0))
		echo "#    round $r $p: $v MiB/s"
		echo "$r $p $v" >>"$KG_TMP/tp-rounds"
	done
done
read -r tp_base tpb_base < <(path_stats "$KG_TMP/tp-rounds" base)

# --- 2. connect-to-first-byte ---------------------------------------------------------------
per_block=$(((LAT_N + LAT_BLOCKS - 1) / LAT_BLOCKS))
url_list "$KG_TMP/lat.cfg" "$per_block" "https://$ORIGIN_HOST/"
: >"$KG_TMP/lat-base" && : >"$KG_TMP/lat-gk" && : >"$KG_TMP/lat-gknr" && : >"$KG_TMP/lat-blocks"
LAT_PATHS=("${PATHS[@]}")
[ "$GK" = 1 ] && LAT_PATHS+=(gknr)
echo "# 2. first byte: $((per_block * LAT_BLOCKS)) sequential HTTPS requests per path in" \
	"$LAT_BLOCKS alternating blocks, a new tunnel each"
for ((b = 0; b < LAT_BLOCKS; b++)); do
	for p in "${LAT_PATHS[@]}"; do
		first_byte_block "$p" "$b" ""
	done
	[ $(((b + 1) % 8)) = 0 ] && echo "#    $((b + 1)) of $LAT_BLOCKS blocks"
done
lat_base50=$(pct "$KG_TMP/lat-base" 50)
lat_base99=$(pct "$KG_TMP/lat-base" 99)

if [ "$GK" = 0 ]; then
	echo
	echo "https-proxy results (baseline = curl --proxy $PROXY_TLS_URL --proxy-negotiate;" \
		"gatekeeper: n/a, the client does not connect to HTTPS proxies)"
	echo "throughput, $((BULK >> 20)) MiB HTTPS download, mean of $TP_ROUNDS rounds:" \
		"baseline $tp_base MiB/s (best $tpb_base MiB/s)"
	echo "first byte: baseline p50 $lat_base50 ms, p99 $lat_base99 ms"
	exit 77
fi

read -r tp_gk tpb_gk < <(path_stats "$KG_TMP/tp-rounds" gk)
read -r tp_pmean tp_se tp_pmed tp_hw < <(paired_stats "$KG_TMP/tp-rounds" ratio)
tls_cpu=$(cpu_per_gib "$tls_ticks" $((BULK * TP_ROUNDS)))
lat_gk50=$(pct "$KG_TMP/lat-gk" 50) lat_gk99=$(pct "$KG_TMP/lat-gk" 99)
read -r lat_bmean lat_bse _ lat_bhw < <(paired_stats "$KG_TMP/lat-blocks" diff)
lat_nr50=$(pct "$KG_TMP/lat-gknr" 50) lat_nr99=$(pct "$KG_TMP/lat-gknr" 99)
# resumption on / off per block: paired_stats pairs "gk" with "base", here the block without it
awk '$2 == "gk" { print } $2 == "gknr" { print $1, "base", $3 }' "$KG_TMP/lat-blocks" \
	>"$KG_TMP/lat-resume-blocks"
read -r res_mean res_se res_med res_hw < <(paired_stats "$KG_TMP/lat-resume-blocks" ratio)

# the relay's handshakes and resumptions, from its debug lines ("TLS to the proxy ... is up,
# CIPHER (resumed)"), over one block with resumption and one without
KGC_LOG_LEVEL=debug use_proxy https
for p in gk gknr; do
	log=$(kgc_client_log "$U")
	from=$(($(wc -l <"$log") + 1))
	"${p}_curl" -m 120 -K "$KG_TMP/lat.cfg" -H 'Connection: close' -o /dev/null -s ||
		die "$p handshake count: curl failed"
	tail -n +"$from" "$log" | grep 'TLS to the proxy .* is up' >"$KG_TMP/hs-$p"
done
hs_count() { awk '{ n++ } /\(resumed\)/ { r++ } END { print n + 0, r + 0 }' "$KG_TMP/hs-$1"; }
read -r hs_gk hsr_gk < <(hs_count gk)
read -r hs_gknr hsr_gknr < <(hs_count gknr)
# what the relay negotiated ("TLSv1.3 TLS_AES_256_GCM_SHA384")
cipher=$(sed -n '1s/.* is up, \([^ ]* [^ ,(]*\).*/\1/p' "$KG_TMP/hs-gk")
use_proxy https

# --- 3. the relay's CPU per GiB through the plain http_port ---------------------------------
echo "# 3. the same download through http://$PROXY_IP:3128 (proxy.type http), $HTTP_ROUNDS rounds"
use_proxy http
http_ticks=0
for ((r = 1; r <= HTTP_ROUNDS; r++)); do
	rel0=$(relay_ticks)
	v=$(bulk_once gk) || exit 1
	http_ticks=$((http_ticks + $(relay_ticks) - rel0))
	echo "#    round $r http: $v MiB/s"
	echo "$r http $v" >>"$KG_TMP/http-rounds"
done
read -r tp_http _ < <(path_stats "$KG_TMP/http-rounds" http)
http_cpu=$(cpu_per_gib "$http_ticks" $((BULK * HTTP_ROUNDS)))

# --- the table ------------------------------------------------------------------------------
echo
echo "https-proxy results (gatekeeper = steered to the relay, proxy.type https;" \
	"baseline = curl --proxy $PROXY_TLS_URL --proxy-cacert --proxy-negotiate)"
echo "throughput, $((BULK >> 20)) MiB HTTPS download, mean of $TP_ROUNDS rounds: gatekeeper $tp_gk MiB/s," \
	"baseline $tp_base MiB/s, ratio $(ratio "$tp_gk" "$tp_base") (target >= 0.95);" \
	"best rounds $tpb_gk vs $tpb_base MiB/s, ratio $(ratio "$tpb_gk" "$tpb_base");" \
	"per-round ratios: mean $tp_pmean (95 % interval" \
	"$(awk -v m="$tp_pmean" -v h="$tp_hw" 'BEGIN { printf "%.3f-%.3f", m - h, m + h }'))," \
	"median $tp_pmed, standard error of their mean $tp_se"
echo "first byte p50: gatekeeper $lat_gk50 ms, baseline $lat_base50 ms," \
	"added $(awk -v a="$lat_gk50" -v b="$lat_base50" 'BEGIN { printf "%.3f", a - b }') ms" \
	"(target added <= 0.3 ms, session resumption on);" \
	"$LAT_BLOCKS paired block medians: mean difference $lat_bmean ms (95 % interval" \
	"$(awk -v m="$lat_bmean" -v h="$lat_bhw" 'BEGIN { printf "%.3f-%.3f", m - h, m + h }')," \
	"standard error $lat_bse ms)"
echo "first byte with the relay's TLS resumption off (same run, alternating blocks): p50" \
	"$lat_nr50 ms, p99 $lat_nr99 ms; resumption on/off, $LAT_BLOCKS paired block medians:" \
	"mean ratio $res_mean (95 % interval" \
	"$(awk -v m="$res_mean" -v h="$res_hw" 'BEGIN { printf "%.3f-%.3f", m - h, m + h }')," \
	"median $res_med, standard error $res_se); relay handshakes over $per_block tunnels:" \
	"resumption on $hs_gk, $hsr_gk resumed ($(ratio "$hsr_gk" "$hs_gk")), off $hs_gknr," \
	"$hsr_gknr resumed; the relay's cipher: ${cipher:-unknown}"
echo "first byte p99: gatekeeper $lat_gk99 ms, baseline $lat_base99 ms," \
	"added $(awk -v a="$lat_gk99" -v b="$lat_base99" 'BEGIN { printf "%.3f", a - b }') ms (no target)"
echo "relay CPU per GiB: HTTPS proxy $tls_cpu s (TLS both ways in userspace), plain http proxy" \
	"$http_cpu s ($tp_http MiB/s over $HTTP_ROUNDS rounds), ratio $(ratio "$tls_cpu" "$http_cpu") (no target)"

# --- the summary rows (tests/bench/table-lib.sh) --------------------------------------------
bench_row "https proxy: throughput (MiB/s)" "$tp_gk" "$tp_base" "$(bench_iv "$tp_pmean" "$tp_hw")" \
	">= 0.95" "$(bench_met_hw "$tp_pmean" "$tp_hw" ge 0.95)"
bench_row "https proxy: first byte p50 (ms; diff gk - base)" "$lat_gk50" "$lat_base50" \
	"diff $(bench_iv "$lat_bmean" "$lat_bhw")" "diff <= 0.3" \
	"$(bench_met_hw "$lat_bmean" "$lat_bhw" le 0.3)"
bench_row "https proxy: relay CPU per GiB, https vs http (s)" "$tls_cpu" "$http_cpu" \
	"$(ratio "$tls_cpu" "$http_cpu")" "-" "n/a"
bench_row "https proxy: first byte p50, TLS resumption on vs off (ms)" "$lat_gk50" "$lat_nr50" \
	"$(bench_iv "$res_mean" "$res_hw")" "-" "n/a"
