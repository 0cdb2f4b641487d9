#!/bin/bash
# Off the corporate network and back (issue 13, "go direct in the kernel"), end to end.
# proxy.type wpad (WPAD by the rig's DNS): at the office the PAC sends the user through proxy A;
# krbrig_go_home (the proxy LAN unreachable, the origin reachable directly, the home DNS that
# knows no wpad) is a network change, the PAC fetch fails and within seconds the service stops
# steering the user: new connections are counted skipped_direct_by_client and not redirected,
# the origin sees them from the home address, and ctl status shows "direct: ...".
# krbrig_go_office: the PAC is found again and a new connection goes through proxy A.
# Then proxy.type http with proxy.fallback "direct" and a list [A, B]: at home the first
# connection finds every proxy down and goes direct, the user goes direct in the kernel; back
# at the office the probe on the network change finds A and steering resumes. Last, the same
# with a silent proxy LAN (KRBRIG_HOME_SILENT: connect timeouts instead of "No route to host"),
# and steering back once the proxies answer again, within the minute's probe.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start dns proxyb pac || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
PAGE="kgtest origin: hello"
LOG=$(kgc_client_log "$U")

kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"

stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }
status_of_u() { kgc_app "$U" "$KG_CTL" --socket "$KG_SOCK" status 2>&1; }
is_direct() { status_of_u | grep -qE "^  direct: .+ since [0-9]{2}:[0-9]{2}"; }
not_direct() { ! status_of_u | grep -q "^  direct:"; }
quiet_since() { ! kgc_access_since_of A "$1" . && ! kgc_access_since_of B "$2" .; }
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n +$(($1 + 1)) "$LOG" | grep -Eq -- "$2"; }
via_a() { # VIA: a new connection to the origin goes through proxy A
	local a out
	a=$(kgc_access_lines_of A)
	out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
	[ "$out" = "$PAGE" ] || { echo "# got '$out'"; return 1; }
	kgc_access_since_of A "$a" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
}
# at_home WHAT: steering stops within 20 s, and the user's connections go direct unsteered.
# FROM: the client's log lines before krbrig_go_home.
at_home() {
	local what=$1 from=$2 red0 dir0 out a b t0=$SECONDS
	kg_check "$what: within 20 s, ctl status says direct" kg_wait_for 200 is_direct
	echo "# $what: direct after about $((SECONDS - t0)) s"
	kg_check "$what: the client's log says so" \
		log_since "$from" "off the corporate network \(.*\): asking the service"
	a=$(kgc_access_lines_of A)
	b=$(kgc_access_lines_of B)
	red0=$(stat_of redirected)
	dir0=$(stat_of skipped_direct_by_client)
	out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/peer" 2>&1)
	kg_check "$what: https://origin.test/peer directly, from $KRBRIG_HOME_IP (got '$out')" \
		test "$out" = "$KRBRIG_HOME_IP"
	out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://origin.test/peer" 2>&1)
	kg_check "$what: http://origin.test/peer by name (home DNS), directly (got '$out')" \
		test "$out" = "$KRBRIG_HOME_IP"
	kg_check "$what: not steered (skipped_direct_by_client $dir0 -> $(stat_of skipped_direct_by_client))" \
		test "$(stat_of skipped_direct_by_client)" -ge $((dir0 + 2))
	kg_check "$what: the redirect counter did not move ($red0 -> $(stat_of redirected))" \
		test "$(stat_of redirected)" = "$red0"
	kg_check "$what: nothing new in either proxy's log" quiet_since "$a" "$b"
}
# at_office WHAT: steering back within 30 s, a new connection through proxy A.
at_office() {
	local what=$1 red0
	kg_check "$what: within 30 s, ctl status no longer says direct" kg_wait_for 300 not_direct
	red0=$(stat_of redirected)
	kg_check "$what: a new connection goes through proxy A" via_a
	kg_check "$what: ... steered (redirected $red0 -> $(stat_of redirected))" \
		test "$(stat_of redirected)" -gt "$red0"
}

# --- proxy.type wpad -------------------------------------------------------------------------
krbrig_pac_serve wpad.dat <<'PAC'
function FindProxyForURL(url, host) {
	return "PROXY proxy.kgtest.local:3128; PROXY proxyb.kgtest.local:3128";
}
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy 'wpad_url = "";'
sed -i '/^\tspn = /d' "$KG_CONF" # each proxy's principal from its name
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kgc_start_client "$U" || exit 99
CLIENT_PID=${KGC_PID[$U]}
kg_check "wpad: the PAC is found and loaded" \
	kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_URL loaded" "$LOG"
kg_check "wpad, at the office: not direct" not_direct
kg_check "wpad, at the office: through proxy A" via_a

from=$(log_lines)
kg_check "krbrig_go_home" krbrig_go_home
at_home "wpad, at home" "$from"
kg_check "wpad, at home: the log says no PAC" log_since "$from" "no PAC: "
from=$(log_lines)
kg_check "krbrig_go_office" krbrig_go_office
at_office "wpad, back at the office"
kg_check "wpad, back at the office: the PAC loaded again, after a network change" \
	eval 'log_since "$from" "the network changed" && log_since "$from" "back on the corporate network"'
kg_check "wpad: the client is still the same process" kill -0 "$CLIENT_PID"

# --- proxy.type http, fallback direct, [A, B] ---------------------------------------------------
KGC_FALLBACK=direct kgc_write_config_proxy "url = [ \"$PROXY_URL\", \"$PROXYB_URL\" ];"
kg_check "http [A, B], fallback direct: reload" kgc_reload
kg_check "http: at the office, through proxy A" kg_wait_for 50 via_a
kg_check "http: not direct" not_direct
from=$(log_lines)
kg_check "krbrig_go_home (again)" krbrig_go_home
# The first connection finds both proxies down ("No route to host") and goes direct itself.
out=$(kgc_curl "$U" -m 20 "https://$ORIGIN_HOST/peer" 2>&1)
kg_check "http, at home: the first connection reaches the origin directly (got '$out')" \
	test "$out" = "$KRBRIG_HOME_IP"
at_home "http, at home" "$from"
from=$(log_lines)
kg_check "krbrig_go_office (again)" krbrig_go_office
at_office "http, back at the office"
kg_check "http, back at the office: a proxy answered the probe" \
	log_since "$from" "back on the corporate network \(.* answers\)"

# --- the same with the proxy LAN silent (SYNs lost: connect timeouts, not "No route") ---------
# Back when the proxies answer again, the home link still there: found by the minute's probe
# (or by whatever address event the carrier's return raises in the namespace).
from=$(log_lines)
KRBRIG_HOME_SILENT=1 kg_check "krbrig_go_home, silent LAN" krbrig_go_home
t0=$SECONDS
out=$(kgc_curl "$U" -m 20 "https://$ORIGIN_HOST/peer" 2>&1)
kg_check "silent, at home: the first connection, after the connect timeouts, reaches the origin directly (got '$out' in $((SECONDS - t0)) s)" \
	test "$out" = "$KRBRIG_HOME_IP"
at_home "silent, at home" "$from"
kg_check "silent: the proxy LAN answers again (home link kept)" \
	ip -n "$KRBRIG_NS_PROXY" link set hostside up
t0=$SECONDS
kg_check "silent: ctl status no longer says direct" kg_wait_for 900 not_direct
kg_check "silent: ... within 75 s (about $((SECONDS - t0)) s)" test $((SECONDS - t0)) -le 75
kg_check "silent: a new connection goes through proxy A" via_a
kg_check "krbrig_go_office (last)" krbrig_go_office
kg_check "the client is still the same process" kill -0 "$CLIENT_PID"
kg_finish
