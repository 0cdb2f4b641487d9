#!/bin/bash
# The issue-13 rig parts (tests/lib/pacrig.sh) with today's client, before the PAC work lands:
# in a test namespace the client tunnels through proxy B (its own principal) and not A; an
# application with the rig's resolv.conf and CA names an intranet host (http and verified
# https), which B resolves through the rig's DNS; at home (krbrig_go_home) with proxy.type
# none the relay reaches the origin directly from the home address, and back at the office
# the origin is out of reach again.
# Then proxy.type wpad: WPAD by the rig's DNS finds its PAC, whose host rules are seen in the
# right Squid's log (each proxy with its own principal) or in none for the intranet's DIRECT;
# with A killed, new connections fail over to B and A is skipped (no SYN). Proves that the
# rig's parts fit the client tests' harness (kgc_move_host_side, the cgroup, the service) the
# way the issue-13 tests use them.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
PAGE="kgtest origin: hello"

# --- proxy B as the client's one proxy ------------------------------------------------------
KGC_SPN=$PROXYB_SPN
kgc_write_config_proxy "url = \"$PROXYB_URL\";"
# (the client takes its configuration from the service, started by kgc_setup with A's)
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
# (the PAC evaluator of this build, not an installed one; unused until proxy.type wpad)
kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"
kgc_start_client "$U" || exit 99
a_lines=$(kgc_access_lines_of A)
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "through proxy B: https://origin.test/" test "$out" = "$PAGE"
kg_check "B's access log: CONNECT origin.test:443 by alice@$REALM" \
	kgc_access_since_of B 0 "CONNECT $ORIGIN_HOST:443 alice@$REALM"
# Only the name: no --resolve, the application asks the rig's DNS (search corp.test too).
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://www.intranet.test/" 2>&1)
kg_check "http://www.intranet.test/ by name: the page" test "$out" = "$PAGE"
kg_check "B's access log: GET http://www.intranet.test/ (B resolved it)" \
	kgc_access_since_of B 0 "GET http://www\.intranet\.test/ alice@$REALM"
# https by name, verified with the system bundle's path (which holds the rig's CA here)
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://www.intranet.test/" 2>&1)
kg_check "https://www.intranet.test/ by name, verified: the page" test "$out" = "$PAGE"
a_quiet() { ! kgc_access_since_of A "$a_lines" .; }
kg_check "A's access log: nothing new" a_quiet
kg_check "B counted the client's SYNs, A none" \
	eval '[ "$(krbrig_syn_count B)" -gt 0 ] && [ "$(krbrig_syn_count A)" = 0 ]'

# --- home network: proxy.type none, the relay goes to the origin itself ---------------------
KGC_PROXY_TYPE=none kgc_write_config_proxy "url = \"$PROXYB_URL\";"
kg_check "reload to proxy.type none" kgc_reload
kg_check "krbrig_go_home in the test namespace" krbrig_go_home
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/peer" 2>&1)
kg_check "at home: https://origin.test/peer directly, from $KRBRIG_HOME_IP" \
	test "$out" = "$KRBRIG_HOME_IP"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://origin.test/peer" 2>&1)
kg_check "at home: origin.test by name through the home DNS, directly" \
	test "$out" = "$KRBRIG_HOME_IP"
b_lines=$(kgc_access_lines_of B)
kg_check "krbrig_go_office" krbrig_go_office
out=$(kgc_curl "$U" -m 10 -o /dev/null -w '%{http_code}' "http://$ORIGIN_HOST/" 2>/dev/null)
kg_check "at the office with proxy.type none: the origin is out of reach (got '$out')" \
	test "$out" != 200
KGC_PROXY_TYPE=http kgc_write_config_proxy "url = \"$PROXYB_URL\";"
kg_check "reload to proxy B again" kgc_reload
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "back through proxy B" test "$out" = "$PAGE"
kg_check "B's access log: the new CONNECT" \
	kgc_access_since_of B "$b_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"

# --- proxy.type wpad: the PAC found by WPAD (DNS), its rules, failover ----------------------
krbrig_pac_serve wpad.dat <<'PAC'
function FindProxyForURL(url, host) {
	if (dnsDomainIs(host, ".intranet.test")) return "DIRECT";
	if (dnsDomainIs(host, ".web.test")) return "PROXY proxyb.kgtest.local:3128";
	return "PROXY proxy.kgtest.local:3128; PROXY proxyb.kgtest.local:3128";
}
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy 'wpad_url = "";'
# no kerberos.spn: each proxy's principal comes from its name in the PAC
sed -i '/^\tspn = /d' "$KG_CONF"
kg_check "reload to proxy.type wpad, wpad_url empty" kgc_reload
kg_check "WPAD: the PAC at wpad.$KRBRIG_DNS_SEARCH is fetched and loaded" \
	kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_URL loaded" "$(kgc_client_log "$U")"
kg_check "WPAD: the rig's DNS was asked for wpad.$KRBRIG_DNS_SEARCH" \
	krbrig_dns_log_has "query\[A\] wpad\.$KRBRIG_DNS_SEARCH "
a_lines=$(kgc_access_lines_of A)
b_lines=$(kgc_access_lines_of B)
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "PAC: https://origin.test/ (the rest: A, then B)" test "$out" = "$PAGE"
kg_check "PAC: ... in A's log, by alice" \
	kgc_access_since_of A "$a_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://b.web.test/" 2>&1)
kg_check "PAC: https://b.web.test/ (*.web.test: B)" test "$out" = "$PAGE"
kg_check "PAC: ... in B's log, by alice (B's own principal)" \
	kgc_access_since_of B "$b_lines" "CONNECT b\.web\.test:443 alice@$REALM"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://www.intranet.test/peer" 2>&1)
kg_check "PAC: https://www.intranet.test/ DIRECT, from $HOST_IP" test "$out" = "$HOST_IP"
# port 80, request by request: five in a row (a port-80 connection routed by its address
# before the request arrived once went to A as CONNECT IP:80, refused)
intranet_http_direct() {
	local i out
	for i in 1 2 3 4 5; do
		out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://www.intranet.test/peer" 2>&1)
		[ "$out" = "$HOST_IP" ] || { echo "# request $i: '$out'"; return 1; }
	done
}
kg_check "PAC: http://www.intranet.test/ DIRECT, 5 times, from $HOST_IP" intranet_http_direct
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://b.web.test/" 2>&1)
kg_check "PAC: http://b.web.test/ (*.web.test: B)" test "$out" = "$PAGE"
kg_check "PAC: ... GET in B's log, by alice" \
	kgc_access_since_of B "$b_lines" "GET http://b\.web\.test/ alice@$REALM"
no_intranet_in_logs() {
	! kgc_access_since_of A "$a_lines" intranet && ! kgc_access_since_of B "$b_lines" intranet
}
kg_check "PAC: the intranet in neither proxy's log" no_intranet_in_logs
kg_check "failover: krbrig_proxy_kill A" krbrig_proxy_kill A
b_lines=$(kgc_access_lines_of B)
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "failover: with A dead, https://origin.test/ through B" test "$out" = "$PAGE"
kg_check "failover: ... in B's log" \
	kgc_access_since_of B "$b_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
syn_a=$(krbrig_syn_count A)
for i in 1 2 3; do kgc_app "$U" curl -sS --noproxy '' -m 10 -o /dev/null "https://$ORIGIN_HOST/"; done
kg_check "failover: A is skipped afterwards (no SYN to A in 3 more connections)" \
	test "$(krbrig_syn_count A)" = "$syn_a"
kg_finish
