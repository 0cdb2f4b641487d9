#!/bin/bash
# "The PAC answers DIRECT for everything" is an off-network signal (issue 13, item 4), end to
# end. The PAC sends a connection to proxy A only when myIpAddress() is on the office LAN
# (HOST_IP/30, the link to the proxy namespace), as corporate PACs test
# `isInNet(myIpAddress(), ...)`, and DIRECT otherwise. The test namespace gets a default route
# through the LAN (the proxy namespace routes nothing further: nothing leaves the machine).
# At the office the user's connections go through proxy A. Then the address changes to the
# "home network": a link of its own (KRBRIG_HOME_IP) carries the default route and the route to
# the origin, while the LAN (the PAC server, the DNS) stays reachable, so the PAC loads fine and
# only its answers change. Within seconds the client concludes that the PAC sends everything
# DIRECT and the service stops steering the user: ctl status says so, new connections are
# counted skipped_direct_by_client and not redirected, and curl reaches the origin directly from
# the home address, nothing in proxy A's log. Back at the office, steering resumes and a new
# connection goes through proxy A again.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start dns pac || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
pacrig_addrs || exit 99
PAGE="kgtest origin: hello"
LOG=$(kgc_client_log "$U")
LAN_LINK="${KG_TEST_ID}h" # the test namespace's end of the link to the proxy namespace
HOME_LINK="${KG_TEST_ID}m"

kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"

# at_office: the default route through the LAN, no home link (its routes go with it).
at_office() {
	ip -n "$KG_NS" route replace default via "$PROXY_IP" dev "$LAN_LINK" || return 1
	ip -n "$KG_NS" link del "$HOME_LINK" 2>/dev/null
	ip -n "$KRBRIG_NS_ORIGIN" route del "$KRBRIG_HOME_IP/32" 2>/dev/null
	return 0
}
# at_home: a home link to the origin namespace, with the default route and the origin's.
at_home() {
	ip -n "$KG_NS" link add "$HOME_LINK" type veth peer name homeside \
		netns "$KRBRIG_NS_ORIGIN" &&
		ip -n "$KG_NS" addr add "$KRBRIG_HOME_IP/32" dev "$HOME_LINK" &&
		ip -n "$KG_NS" link set "$HOME_LINK" up &&
		ip -n "$KRBRIG_NS_ORIGIN" link set homeside up &&
		ip -n "$KRBRIG_NS_ORIGIN" route replace "$KRBRIG_HOME_IP/32" dev homeside &&
		ip -n "$KG_NS" route replace "$ORIGIN_IP/32" dev "$HOME_LINK" src "$KRBRIG_HOME_IP" &&
		ip -n "$KG_NS" route replace default dev "$HOME_LINK" src "$KRBRIG_HOME_IP"
}
kg_on_exit at_office
kg_check "the office's default route, through the LAN" at_office

stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }
status_of_u() { kgc_app "$U" "$KG_CTL" --socket "$KG_SOCK" status 2>&1; }
is_direct() {
	status_of_u | grep -qE "^  direct: the PAC sends everything DIRECT since [0-9]{2}:[0-9]{2}"
}
not_direct() { ! status_of_u | grep -q "^  direct:"; }
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n +$(($1 + 1)) "$LOG" | grep -Eq -- "$2"; }
via_a() { # a new connection to the origin goes through proxy A
	local a out
	a=$(kgc_access_lines_of A)
	out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
	[ "$out" = "$PAGE" ] || { echo "# got '$out'"; return 1; }
	kgc_access_since_of A "$a" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
}

krbrig_pac_serve offnet.pac <<PAC
function FindProxyForURL(url, host) {
	if (isInNet(myIpAddress(), "$HOST_IP", "255.255.255.252"))
		return "PROXY proxy.kgtest.local:3128";
	return "DIRECT";
}
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy "wpad_url = \"$KRBRIG_PAC_BASE/offnet.pac\";"
sed -i '/^\tspn = /d' "$KG_CONF" # proxy A's principal from its name in the PAC
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kgc_start_client "$U" || exit 99
CLIENT_PID=${KGC_PID[$U]}
kg_check "the PAC is loaded" kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_BASE/offnet.pac loaded" "$LOG"
kg_check "at the office: not direct" not_direct
red0=$(stat_of redirected)
kg_check "at the office: through proxy A" via_a
kg_check "at the office: steered (redirected $red0 -> $(stat_of redirected))" \
	test "$(stat_of redirected)" -gt "$red0"

# --- home: the PAC still loads, and answers DIRECT -------------------------------------------
from=$(log_lines)
kg_check "the address changes to the home network" at_home
t0=$SECONDS
kg_check "home: within 20 s, ctl status says 'direct: the PAC sends everything DIRECT since'" \
	kg_wait_for 200 is_direct
echo "# home: direct after about $((SECONDS - t0)) s"
kg_check "home: the client's log says why" \
	log_since "$from" "off the corporate network \(the PAC sends everything DIRECT\)"
kg_check "home: the PAC was fetched and loaded again, not missing" \
	eval '! log_since "$from" "no PAC: "'
a=$(kgc_access_lines_of A)
red0=$(stat_of redirected)
dir0=$(stat_of skipped_direct_by_client)
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/peer" 2>&1)
kg_check "home: https://origin.test/peer directly, from $KRBRIG_HOME_IP (got '$out')" \
	test "$out" = "$KRBRIG_HOME_IP"
out=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/peer" 2>&1)
kg_check "home: http://origin.test/peer directly, from $KRBRIG_HOME_IP (got '$out')" \
	test "$out" = "$KRBRIG_HOME_IP"
kg_check "home: not steered (skipped_direct_by_client $dir0 -> $(stat_of skipped_direct_by_client))" \
	test "$(stat_of skipped_direct_by_client)" -ge $((dir0 + 2))
kg_check "home: the redirect counter did not move ($red0 -> $(stat_of redirected))" \
	test "$(stat_of redirected)" = "$red0"
kg_check "home: nothing new in proxy A's log" eval '! kgc_access_since_of A "$a" .'

# --- back at the office ------------------------------------------------------------------------
from=$(log_lines)
kg_check "back to the office network" at_office
t0=$SECONDS
kg_check "office: within 30 s, ctl status no longer says direct" kg_wait_for 300 not_direct
echo "# office: steered again after about $((SECONDS - t0)) s"
kg_check "office: the client's log says why" \
	log_since "$from" "back on the corporate network \(the PAC names a proxy\)"
red0=$(stat_of redirected)
kg_check "office: a new connection goes through proxy A" via_a
kg_check "office: steered (redirected $red0 -> $(stat_of redirected))" \
	test "$(stat_of redirected)" -gt "$red0"
kg_check "the client is still the same process" kill -0 "$CLIENT_PID"
kg_finish
