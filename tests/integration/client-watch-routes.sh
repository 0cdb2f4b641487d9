#!/bin/bash
# `kernelgatekeeper-ctl watch` shows the route each relayed connection took (issue 13, item 5):
# the issue-13 rig (tests/lib/pacrig.sh) with proxy.type wpad and a PAC that sends
# *.intranet.test DIRECT, *.web.test to proxy B and the rest to A, then B. Root's watch and the
# user's own watch see a "route" line per connection: via A for origin.test, via B for
# b.web.test, "DIRECT by PAC" for the intranet (a tunnel and a port-80 request); with A killed,
# "via B (A down)"; with B killed too, "failed: every proxy down". Another user's watch sees
# none of it. The uid on each line is the client's, from the kernel.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare timeout
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
PAGE="kgtest origin: hello"
A_HOST=proxy.kgtest.local
B_HOST=$KRBRIG_PROXYB_HOST

krbrig_pac_serve wpad.dat <<'PAC'
function FindProxyForURL(url, host) {
	if (dnsDomainIs(host, ".intranet.test")) return "DIRECT";
	if (dnsDomainIs(host, ".web.test")) return "PROXY proxyb.kgtest.local:3128";
	return "PROXY proxy.kgtest.local:3128; PROXY proxyb.kgtest.local:3128";
}
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy "wpad_url = \"$KRBRIG_PAC_URL\";"
# no kerberos.spn: each proxy's principal comes from its name in the PAC
sed -i '/^\tspn = /d' "$KG_CONF"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"
kgc_start_client "$U" || exit 99
kg_check "the PAC is loaded" \
	kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_URL loaded" "$(kgc_client_log "$U")"

# Three watchers: root, the user, another user (each in the background, ended at the end; a
# command, not a function, so that $! is timeout itself).
W_ROOT=$KG_TMP/watch-root.log
W_U=$KG_TMP/watch-u.log
W_V=$KG_TMP/watch-v.log
timeout -k 2 300 "$KG_CTL" --socket "$KG_SOCK" watch >"$W_ROOT" 2>&1 &
kg_on_exit kg_stop_pid "$!"
timeout -k 2 300 setpriv --reuid="$U" --regid="$U" --clear-groups -- \
	"$KG_CTL" --socket "$KG_SOCK" watch >"$W_U" 2>&1 &
kg_on_exit kg_stop_pid "$!"
timeout -k 2 300 setpriv --reuid="$V" --regid="$V" --clear-groups -- \
	"$KG_CTL" --socket "$KG_SOCK" watch >"$W_V" 2>&1 &
kg_on_exit kg_stop_pid "$!"
sleep 1 # subscribed, and the client told that someone watches

# shellcheck disable=SC2317 # called through kg_wait_for and kg_check
# route_line LOG REGEX: a route line of uid U matching REGEX (grep -E, after "uid=U ").
route_line() {
	grep -Eq -- "route +uid=$U $2" "$1"
}
# shellcheck disable=SC2317 # called through kg_check
# wait_route REGEX: root's watch shows it within 10 s.
wait_route() {
	kg_wait_for 100 route_line "$W_ROOT" "$1"
}

out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "https://origin.test/ through A" test "$out" = "$PAGE"
kg_check "root's watch: origin.test:443 via A" \
	wait_route "$ORIGIN_IP:443 $ORIGIN_HOST via $A_HOST:3128\$"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://b.web.test/" 2>&1)
kg_check "https://b.web.test/ through B" test "$out" = "$PAGE"
kg_check "root's watch: b.web.test via B" wait_route "[^ ]+:443 b\.web\.test via $B_HOST:3128\$"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://www.intranet.test/peer" 2>&1)
kg_check "https://www.intranet.test/ DIRECT" test "$out" = "$HOST_IP"
kg_check "root's watch: www.intranet.test:443 DIRECT by PAC" \
	wait_route "$KRBRIG_INTRANET_IP:443 www\.intranet\.test DIRECT by PAC\$"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://www.intranet.test/peer" 2>&1)
kg_check "http://www.intranet.test/ DIRECT (port 80, request by request)" test "$out" = "$HOST_IP"
kg_check "root's watch: www.intranet.test:80 DIRECT by PAC" \
	wait_route "$KRBRIG_INTRANET_IP:80 www\.intranet\.test DIRECT by PAC\$"
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "http://b.web.test/" 2>&1)
kg_check "http://b.web.test/ through B (port 80)" test "$out" = "$PAGE"
kg_check "root's watch: b.web.test:80 via B" wait_route "[^ ]+:80 b\.web\.test via $B_HOST:3128\$"

kg_check "failover: krbrig_proxy_kill A" krbrig_proxy_kill A
out=$(kgc_app "$U" curl -sS --noproxy '' -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "with A dead, https://origin.test/ through B" test "$out" = "$PAGE"
kg_check "root's watch: origin.test via B (A down)" \
	wait_route "$ORIGIN_IP:443 $ORIGIN_HOST via $B_HOST:3128 \($A_HOST:3128 down\)\$"
kg_check "failover: krbrig_proxy_kill B" krbrig_proxy_kill B
kgc_app "$U" curl -sS --noproxy '' -m 10 -o /dev/null "https://$ORIGIN_HOST/" >/dev/null 2>&1
kg_check "root's watch: with both dead, origin.test failed: every proxy down" \
	wait_route "$ORIGIN_IP:443 $ORIGIN_HOST failed: every proxy down\$"

# The user's own watch saw the same; the other user's saw no route of U's (nor any at all).
# shellcheck disable=SC2317 # called through kg_check
u_saw_routes() {
	route_line "$W_U" "$ORIGIN_IP:443 $ORIGIN_HOST via $A_HOST:3128\$" &&
		route_line "$W_U" "[^ ]+ www\.intranet\.test DIRECT by PAC\$" &&
		route_line "$W_U" "$ORIGIN_IP:443 $ORIGIN_HOST via $B_HOST:3128 \($A_HOST:3128 down\)\$" &&
		return 0
	sed 's/^/# U: /' "$W_U"
	return 1
}
kg_check "U's watch: U's routes (via A, DIRECT by PAC, B with A down)" u_saw_routes
kg_check "root's watch still prints the connection events" grep -Eq "redirect .*user=$U " "$W_ROOT"
if grep -q "route" "$W_V"; then
	kg_fail "another user's watch sees no route of U's"
	sed 's/^/# /' "$W_V"
else
	kg_pass "another user's watch sees no route of U's"
fi
kg_check "the watches print no control character" \
	eval "! LC_ALL=C grep -q '[[:cntrl:]]' '$W_ROOT' '$W_U'"
kg_finish
