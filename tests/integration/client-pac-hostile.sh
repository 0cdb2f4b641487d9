#!/bin/bash
# Hostile PAC files (issue 13), each loaded through proxy.wpad_url from the rig's PAC server:
# one that loops in FindProxyForURL, one that builds a string towards 1 GiB, one that throws,
# one with a syntax error and one of 2 MiB (over the fetch's 1 MiB limit); the loop and the
# allocation also at the PAC's top level (refused while loading). The PACs that fail
# at evaluation do so only for bad.intranet.test and send the rest to proxy A, so one test
# shows both sides: the bad connection is answered within bounds (fallback "direct": it
# reaches the intranet server directly; fallback "none": it fails fast with the client's
# sentence), and a good connection right after goes through proxy A (the evaluator was
# restarted and the PAC reloaded), the client's PID unchanged. The PACs refused at load (syntax,
# size, the top-level loop and allocation) leave the user's connections direct in the kernel, as
# browsers go DIRECT without a PAC, whatever proxy.fallback says: the
# intranet answers directly. Each time the client's log names the cause.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start dns pac intranet || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
PAGE="kgtest origin: hello"
BAD=bad.intranet.test
LOG=$(kgc_client_log "$U")

kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"

# use_pac NAME FALLBACK: the configuration for proxy.type wpad with the PAC NAME of the rig's
# server (kgc_reload applies it).
use_pac() {
	KGC_PROXY_TYPE=wpad KGC_FALLBACK=$2 kgc_write_config_proxy "wpad_url = \"$KRBRIG_PAC_BASE/$1\";"
	# no kerberos.spn: proxy A's principal comes from its name in the PAC
	sed -i '/^\tspn = /d' "$KG_CONF"
}
# wait_log FROM REGEX: a line of the client's log after its first FROM lines matches.
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n +$(($1 + 1)) "$LOG" | grep -Eq -- "$2"; }
wait_log() { kg_wait_for 150 log_since "$1" "$2"; }
# timed VAR CMD...: CMD's output in VAR, its duration (ms) in MS.
timed() {
	local t0 t1 var=$1
	shift
	t0=$(date +%s%N)
	printf -v "$var" '%s' "$("$@" 2>&1)"
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
}
app_curl() { kgc_app "$U" curl -sS --noproxy '' "$@"; }
good_via_a() { # a good connection right after: through proxy A
	local a out
	a=$(kgc_access_lines_of A)
	out=$(app_curl -m 10 "https://$ORIGIN_HOST/" 2>&1)
	[ "$out" = "$PAGE" ] || { echo "# got '$out'"; return 1; }
	kgc_access_since_of A "$a" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
}
same_pid() { kill -0 "$CLIENT_PID" && [ "${KGC_PID[$U]}" = "$CLIENT_PID" ]; }

# hostile NAME WHAT REGEX: the PAC NAME (already served) fails for $BAD at evaluation, its log
# sentence matching REGEX; with fallback direct, then none.
hostile() {
	local name=$1 what=$2 re=$3 from out
	use_pac "$name" direct
	from=$(log_lines)
	kg_check "$what: reload, the PAC is loaded" kgc_reload
	kg_check "$what: ... 'PAC $KRBRIG_PAC_BASE/$name loaded'" \
		wait_log "$from" "PAC $KRBRIG_PAC_BASE/$name loaded"
	from=$(log_lines)
	timed out app_curl -m 20 "https://$BAD/peer"
	kg_check "$what, fallback direct: https://$BAD/ directly from $HOST_IP (got '$out')" \
		test "$out" = "$HOST_IP"
	kg_check "$what, fallback direct: ... within 5 s (${MS} ms)" test "$MS" -lt 5000
	kg_check "$what: the log names the cause ($re)" \
		wait_log "$from" "the PAC gave no route for $BAD \(.*$re.*\): DIRECT"
	kg_check "$what: a good connection right after goes through proxy A" good_via_a
	# port 80, request by request (forward.c)
	timed out app_curl -m 20 "http://$BAD/peer"
	kg_check "$what, fallback direct: http://$BAD/ directly too (got '$out', ${MS} ms)" \
		eval '[ "$out" = "$HOST_IP" ] && [ "$MS" -lt 5000 ]'
	use_pac "$name" none
	kg_check "$what: reload with fallback none" kgc_reload
	from=$(log_lines)
	timed out app_curl -m 20 -o /dev/null -w '%{http_code}' "https://$BAD/peer"
	kg_check "$what, fallback none: https://$BAD/ fails (got '$out')" \
		eval '[ "${out:0:3}" != 200 ] && [[ "$out" != *"$HOST_IP"* ]]'
	kg_check "$what, fallback none: ... fast (${MS} ms < 5 s)" test "$MS" -lt 5000
	kg_check "$what, fallback none: the client's sentence names the cause" \
		wait_log "$from" "the PAC gave no route: .*$re"
	kg_check "$what: a good connection right after goes through proxy A" good_via_a
	kg_check "$what: the client is still the same process" same_pid
}

# --- a start with a well-behaved PAC ---------------------------------------------------------
krbrig_pac_serve good.pac <<'PAC'
function FindProxyForURL(url, host) { return "PROXY proxy.kgtest.local:3128"; }
PAC
use_pac good.pac direct
# (the client takes its configuration from the service, started by kgc_setup with another)
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kgc_start_client "$U" || exit 99
CLIENT_PID=${KGC_PID[$U]}
kg_check "a good PAC is loaded" wait_log 0 "PAC $KRBRIG_PAC_BASE/good.pac loaded"
kg_check "a good PAC: through proxy A" good_via_a

# --- a PAC that never returns --------------------------------------------------------------
krbrig_pac_serve loop.pac <<'PAC'
function FindProxyForURL(url, host) {
	if (host == "bad.intranet.test") { while (true) {} }
	return "PROXY proxy.kgtest.local:3128";
}
PAC
hostile loop.pac "endless loop" "did not finish within"
# A burst: four looping requests at once (each costs the evaluator its deadline and a restart,
# one after another), and a good connection behind them still gets through, in bounded time.
burst() {
	local i pids=() t0 out ms
	for i in 1 2 3 4; do
		app_curl -m 30 -o /dev/null "https://$BAD/" 2>/dev/null &
		pids+=($!)
	done
	sleep 0.2
	t0=$(date +%s%N)
	good_via_a || return 1
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# the good connection behind the burst: $ms ms"
	for i in "${pids[@]}"; do wait "$i"; done
	[ "$ms" -lt 10000 ]
}
kg_check "endless loop, a burst of 4: a good connection behind it within 10 s" burst
kg_check "endless loop, a burst of 4: the client is still the same process" same_pid

# --- a PAC that allocates without end (a string doubling towards 1 GiB) -------------------
krbrig_pac_serve oom.pac <<'PAC'
function FindProxyForURL(url, host) {
	if (host == "bad.intranet.test") {
		var s = "x";
		while (s.length < 1073741824) s = s + s;
		return "PROXY " + s.length;
	}
	return "PROXY proxy.kgtest.local:3128";
}
PAC
hostile oom.pac "1 GiB string" "memory"

# --- a PAC that throws ------------------------------------------------------------------------
krbrig_pac_serve throw.pac <<'PAC'
function FindProxyForURL(url, host) {
	if (host == "bad.intranet.test") throw new Error("hostile PAC");
	return "PROXY proxy.kgtest.local:3128";
}
PAC
hostile throw.pac "throw" "threw"

# --- refused at load: a syntax error, 2 MiB ---------------------------------------------------
# (as without a PAC: the user's connections go direct, whatever proxy.fallback says)
stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }
clients_direct() { "$KG_CTL" --socket "$KG_SOCK" clients 2>&1 | grep -q "direct: no PAC found"; }
# steered: from the good PAC, so that each refusal below starts from a steered user
steered() {
	local what=$1 from
	use_pac good.pac direct
	from=$(log_lines)
	kg_check "$what: first the good PAC again" kgc_reload
	kg_check "$what: ... loaded, steered" eval 'wait_log "$from" "PAC $KRBRIG_PAC_BASE/good.pac loaded" &&
		kg_wait_for 100 eval "! clients_direct"'
}
refused() {
	local name=$1 what=$2 re=$3 fb=$4 from out d0
	steered "$what"
	use_pac "$name" "$fb"
	from=$(log_lines)
	kg_check "$what (fallback $fb): reload" kgc_reload
	kg_check "$what (fallback $fb): the log names the cause ($re)" wait_log "$from" "$re"
	kg_check "$what (fallback $fb): the service lets the user's connections go direct" \
		kg_wait_for 100 clients_direct
	d0=$(stat_of skipped_direct_by_client)
	timed out app_curl -m 20 "https://$BAD/peer"
	kg_check "$what (fallback $fb): https://$BAD/ directly from $HOST_IP (got '$out', ${MS} ms)" \
		eval '[ "$out" = "$HOST_IP" ] && [ "$MS" -lt 5000 ]'
	kg_check "$what (fallback $fb): ... not steered (skipped_direct_by_client $d0 -> $(stat_of skipped_direct_by_client))" \
		test "$(stat_of skipped_direct_by_client)" -gt "$d0"
	timed out app_curl -m 20 -o /dev/null -w '%{http_code}' "https://$ORIGIN_HOST/"
	kg_check "$what (fallback $fb): the origin, out of direct reach, fails fast (${MS} ms)" \
		eval '[ "${out:0:3}" != 200 ] && [ "$MS" -lt 5000 ]'
	kg_check "$what: the client is still the same process" same_pid
}
krbrig_pac_serve syntax.pac <<'PAC'
function FindProxyForURL(url, host) {
	if (host == "bad.intranet.test" { return "DIRECT"; }
	return "PROXY proxy.kgtest.local:3128";
}
PAC
refused syntax.pac "syntax error" "refused: PAC syntax error" direct
krbrig_pac_serve syntax-none.pac <"$RIG/pac/syntax.pac"
refused syntax-none.pac "syntax error" "refused: PAC syntax error" none
# the same misdeeds at the top level, while the PAC loads
krbrig_pac_serve loadloop.pac <<'PAC'
while (true) {}
function FindProxyForURL(url, host) { return "PROXY proxy.kgtest.local:3128"; }
PAC
refused loadloop.pac "endless loop at load" "refused: PAC loading did not finish within" direct
krbrig_pac_serve loadoom.pac <<'PAC'
var s = "x";
while (s.length < 1073741824) s = s + s;
function FindProxyForURL(url, host) { return "PROXY proxy.kgtest.local:3128"; }
PAC
refused loadoom.pac "1 GiB string at load" "refused: .*memory" direct
krbrig_pac_serve_big big.pac 2097152
refused big.pac "2 MiB PAC" "PAC $KRBRIG_PAC_BASE/big.pac is larger than 1 MiB" direct

# --- and back to a good PAC: steered again -----------------------------------------------------
use_pac good.pac direct
from=$(log_lines)
kg_check "back to the good PAC: reload" kgc_reload
kg_check "back to the good PAC: loaded" wait_log "$from" "PAC $KRBRIG_PAC_BASE/good.pac loaded"
kg_check "back to the good PAC: through proxy A" kg_wait_for 50 good_via_a
kg_check "the client is still the same process" same_pid
kg_finish
