#!/bin/bash
# The test rig itself (tests/lib/krbrig.sh), as root: a test uid with its own ccache reaches the
# origin through the Negotiate proxy by HTTP and by CONNECT; without a ticket the proxy answers
# 407; the access log names the principal and the host; the host has no direct way to the origin.
# Runs the Squid flavour, then Apache (when installed), then the KDC-only mode.
# With the Squid flavour also the issue-13 parts (tests/lib/pacrig.sh): a second Negotiate Squid
# (B) and the SYN counters, the rig's DNS (dnsmasq) and resolv.conf, the PAC server with its
# hostile answers, the home network and back, and the two-homed namespace.
# (client-lib.sh for its kgc_move_host_side: krbrig.sh and pacrig.sh come with it)
# shellcheck source=tests/helpers/client-lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/helpers/client-lib.sh"
KG_ON_FAILURE= # no client logs here

kg_require_root
kg_require_cmd curl sha256sum ss dnsmasq nft getent unshare

U=$KG_UID_U     # has a ticket
V=$KG_UID_V     # has none
BULK_MB=${KRBRIG_BULK_MB:-64}

# curl as UID with CCACHE through the proxy, named as in the SPN and reached by IP:
# as_curl UID CCACHE curl-args... ; prints the body, then a last line with the status codes.
as_curl() {
	local uid=$1 cc=$2
	shift 2
	krbrig_proxy_curl "$uid" "$cc" -m 30 -w '\n%{http_code} %{http_connect}' "$@" \
		2>>"$RIG/logs/curl.err"
}

expect_page() { # expect_page URL: 200 and the known page
	local out
	out=$(as_curl "$U" "$CC_U" --proxy-negotiate -U : "$1")
	[ "$out" = $'kgtest origin: hello\n\n200 '"$2" ]
}

expect_code() { # expect_code WANT UID CCACHE curl-args...: the last "http_code http_connect"
	local want=$1 out
	shift
	out=$(as_curl "$@")
	[ "${out##*$'\n'}" = "$want" ] || { echo "# got '${out##*$'\n'}', want '$want'"; return 1; }
}

bulk_roundtrip() { # download BULK_MB through CONNECT and upload it back; both digests match
	local n=$((BULK_MB * 1024 * 1024)) want got
	want=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest "$n")
	got=$(krbrig_proxy_curl "$U" "$CC_U" -m 120 --proxy-negotiate -U : \
		"https://$ORIGIN_HOST/bytes/$n" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || { echo "# download digest $got, want $want"; return 1; }
	got=$(python3 "$KRBRIG_LIB_DIR/origin.py" pattern "$n" |
		krbrig_proxy_curl "$U" "$CC_U" -m 120 --proxy-negotiate -U : -T - \
			"https://$ORIGIN_HOST/sha256")
	[ "$got" = "$want" ] || { echo "# upload digest $got, want $want"; return 1; }
}

direct_fails_fast() { # the host cannot reach the origin itself: refused at once by the route
	local t0 rc
	t0=$(krbrig_now_ms)
	curl -sS -m 5 -o /dev/null "http://$ORIGIN_IP/" 2>/dev/null
	rc=$?
	[ "$rc" = 7 ] && [ $(($(krbrig_now_ms) - t0)) -lt 1000 ] &&
		ip route get "$ORIGIN_IP" 2>&1 | grep -q "No route to host"
}

flavour() {
	local mode=$1 t0 connect_ok
	t0=$(krbrig_now_ms)
	if ! krbrig_start "$mode"; then
		kg_fail "$mode: rig starts"
		return
	fi
	kg_pass "$mode: rig starts ($(($(krbrig_now_ms) - t0)) ms)"
	# Squid answers CONNECT with HTTP/1.1 200, Apache with HTTP/1.0 200: curl shows both as 200.
	connect_ok=200
	CC_U="FILE:$KRBRIG_CCDIR/krb5cc_$U"
	CC_V="FILE:$KRBRIG_CCDIR/krb5cc_$V"

	kg_check "$mode: add user alice" krbrig_add_user alice alicepw
	kg_check "$mode: kinit as uid $U" krbrig_kinit_as "$U" alice alicepw "$CC_U"
	kg_check "$mode: the ccache belongs to uid $U" \
		test "$(stat -c %u "${CC_U#FILE:}" 2>/dev/null)" = "$U"
	kg_check "$mode: GET http://origin.test/ through the proxy" expect_page "http://$ORIGIN_HOST/" 000
	kg_check "$mode: https://origin.test/ through CONNECT" \
		expect_page "https://$ORIGIN_HOST/" "$connect_ok"
	kg_check "$mode: no Negotiate offered -> 407" expect_code "407 000" "$U" "$CC_U" \
		"http://$ORIGIN_HOST/"
	kg_check "$mode: uid $V without a ticket, GET -> 407" expect_code "407 000" "$V" "$CC_V" \
		--proxy-negotiate -U : "http://$ORIGIN_HOST/"
	kg_check "$mode: uid $V without a ticket, CONNECT -> 407" expect_code "000 407" "$V" "$CC_V" \
		--proxy-negotiate -U : "https://$ORIGIN_HOST/"
	kg_check "$mode: CONNECT to port 80 is refused (only 443)" expect_code "000 403" "$U" "$CC_U" \
		--proxy-negotiate -U : -p "http://$ORIGIN_HOST/"
	kg_check "$mode: $BULK_MB MiB down and up through CONNECT, digests match" bulk_roundtrip
	kg_check "$mode: access log: GET by alice@$REALM for origin.test" \
		krbrig_access_log_has "GET http://$ORIGIN_HOST/.* alice@$REALM|alice@$REALM .*GET http://$ORIGIN_HOST/"
	kg_check "$mode: access log: CONNECT by alice@$REALM to origin.test:443" \
		krbrig_access_log_has "CONNECT $ORIGIN_HOST:443.* alice@$REALM|alice@$REALM .*CONNECT $ORIGIN_HOST:443"
	kg_check "$mode: no direct route from the host to the origin" direct_fails_fast
	kg_check "$mode: the origin is reachable from the proxy namespace" \
		ip netns exec "$KRBRIG_NS_PROXY" curl -sS -m 5 -o /dev/null "http://$ORIGIN_IP/"

	[ "$mode" = squid ] && i13_parts && i13_in_netns
	[ "$mode" = apache ] && i13_with_apache

	LAST_RIG=$RIG LAST_ORIGIN_IP=$ORIGIN_IP LAST_PROXY_IP=$PROXY_IP # krbrig_stop clears RIG
	t0=$(krbrig_now_ms)
	krbrig_stop
	kg_check "$mode: rig stops ($(($(krbrig_now_ms) - t0)) ms): namespaces, route and directory are gone" \
		rig_gone
}

unreachable_route() { # IP: the root namespace has "unreachable IP" (ip prints the type first)
	ip route show type unreachable | grep -Eq "^(unreachable )?$1( |\$)"
}

rig_gone() {
	! ip netns list | grep -q "^$KG_TEST_ID-" &&
		! unreachable_route "$LAST_ORIGIN_IP" && ! unreachable_route "$LAST_PROXY_IP" &&
		! ip link show | grep -q ": ${KG_TEST_ID}[hm][@:]" &&
		[ ! -e "$LAST_RIG" ]
}

# --- issue 13: tests/lib/pacrig.sh ----------------------------------------------------------

via_page() { # A|B URL [curl args]: 200 and the known page through that proxy, as U
	local out
	out=$(krbrig_proxy_curl_via "$1" "$U" "$CC_U" -m 10 --proxy-negotiate -U : \
		-w '\n%{http_code}' "${@:3}" "$2" 2>>"$RIG/logs/curl.err")
	[ "$out" = $'kgtest origin: hello\n\n200' ] ||
		{ echo "# via $1 $2: status ${out##*$'\n'}, ${#out} bytes"; return 1; }
}

via_fails() { # A|B WANT_RC [curl args]: curl through that proxy exits with WANT_RC
	local rc
	krbrig_proxy_curl_via "$1" "$U" "$CC_U" -m 10 --proxy-negotiate -U : -o /dev/null \
		"${@:3}" "http://origin.test/" 2>/dev/null
	rc=$?
	[ "$rc" = "$2" ] || { echo "# via $1: curl exit $rc, want $2"; return 1; }
}

only_in_log() { # A|B REGEX: in that proxy's access log and not in the other's
	local other=A
	[ "$1" = A ] && other=B
	krbrig_access_log_has "$1" "$2" && ! krbrig_access_log_has "$other" "$2"
}

b_as_a() { # curl-args...: GET http://origin.test/ through B named as A (curl's SPN: A's)
	kg_as_uid "$U" env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5CCNAME="$CC_U" curl -sS -m 10 --resolve "$PROXY_HOST:$PROXY_PORT:$PROXYB_IP" \
		-x "http://$PROXY_HOST:$PROXY_PORT" --proxy-negotiate -U : "$@" http://origin.test/
}

syn_grew() { # A|B BEFORE: that proxy's SYN counter is above BEFORE
	[ "$(krbrig_syn_count "$1")" -gt "$2" ]
}

dns_is() { # NAME WANT: the first "ADDRESS TTL" line (or NXDOMAIN) of the rig's answer
	local got
	got=$(krbrig_dns_query "$1" | head -n1)
	[ "$got" = "$2" ] || { echo "# $1: '$got', want '$2'"; return 1; }
}

getent_is() { # NAME WANT: glibc's resolver with the rig's resolv.conf (search domain) on the host
	local got
	got=$(krbrig_with_resolv getent ahostsv4 "$1" | awk 'NR == 1 { print $1 }')
	[ "$got" = "$2" ] || { echo "# getent $1: '$got', want '$2'"; return 1; }
}

pac_curl() { # curl-args...: from the host side, the names through the rig's resolv.conf
	krbrig_with_resolv curl -sS --noproxy '*' "$@"
}

pac_fetch_is() { # NAME: the body fetched by name equals the file written, type PAC
	local got
	got=$(pac_curl -m 5 -o "$RIG/fetched" -w '%{http_code} %{content_type}' "$KRBRIG_PAC_BASE/$1")
	[ "$got" = "200 application/x-ns-proxy-autoconfig" ] && cmp -s "$RIG/fetched" "$RIG/pac/$1" ||
		{ echo "# got '$got'"; return 1; }
}

curl_rc_is() { # WANT_RC MAX_MS curl-args...: pac_curl exits WANT_RC within MAX_MS
	local want=$1 max=$2 t0 rc
	shift 2
	t0=$(krbrig_now_ms)
	pac_curl -o /dev/null "$@" 2>/dev/null
	rc=$?
	[ "$rc" = "$want" ] && [ $(($(krbrig_now_ms) - t0)) -lt "$max" ] ||
		{ echo "# curl exit $rc after $(($(krbrig_now_ms) - t0)) ms, want $want in < $max"; return 1; }
}

origin_direct() { # the host side reaches the origin itself: the page, from KRBRIG_HOME_IP
	[ "$(curl -sS -m 5 "http://$ORIGIN_IP/")" = "kgtest origin: hello" ] &&
		[ "$(curl -sS -m 5 "http://$ORIGIN_IP/peer")" = "$KRBRIG_HOME_IP" ]
}

proxy_unreachable_fast() { # connecting to proxy A fails at once
	local t0 rc
	t0=$(krbrig_now_ms)
	curl -sS -m 5 -o /dev/null "http://$PROXY_IP:$PROXY_PORT/" 2>/dev/null
	rc=$?
	[ "$rc" = 7 ] && [ $(($(krbrig_now_ms) - t0)) -lt 1000 ]
}

proxy_times_out() { # connecting to proxy A gets no answer (silent home network)
	curl -sS --connect-timeout 1 -m 3 -o /dev/null "http://$PROXY_IP:$PROXY_PORT/" 2>/dev/null
	[ $? = 28 ]
}

src_for() { # NS DEST WANT: the kernel's source address for DEST in NS (a connected UDP socket)
	local got
	got=$(ip netns exec "$1" "$KG_PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 443))
print(s.getsockname()[0])' "$2")
	[ "$got" = "$3" ] || { echo "# source for $2 in $1: '$got', want '$3'"; return 1; }
}

i13_parts() {
	local t0 syn pac
	t0=$(krbrig_now_ms)
	if ! krbrig_i13_start; then
		kg_fail "i13: proxy B, DNS and PAC server start"
		return
	fi
	kg_pass "i13: proxy B, DNS and PAC server start ($(($(krbrig_now_ms) - t0)) ms)"

	# DNS, asked directly and through glibc with the rig's resolv.conf (search corp.test)
	kg_check "i13 dns: wpad.$KRBRIG_DNS_SEARCH -> $KRBRIG_SRV_IP, TTL $KRBRIG_DNS_TTL" \
		dns_is "wpad.$KRBRIG_DNS_SEARCH" "$KRBRIG_SRV_IP $KRBRIG_DNS_TTL"
	kg_check "i13 dns: origin.test -> the origin, a.b.intranet.test -> the intranet server" \
		eval 'dns_is origin.test "$ORIGIN_IP $KRBRIG_DNS_TTL" &&
			dns_is a.b.intranet.test "$KRBRIG_INTRANET_IP $KRBRIG_DNS_TTL"'
	kg_check "i13 dns: the proxies' names" eval 'dns_is "$PROXY_HOST" "$PROXY_IP $KRBRIG_DNS_TTL" &&
		dns_is "$PROXYB_HOST" "$PROXYB_IP $KRBRIG_DNS_TTL"'
	kg_check "i13 dns: unknown names are NXDOMAIN (wpad.test, example.com), nothing forwarded" \
		eval 'dns_is wpad.test NXDOMAIN && dns_is example.com NXDOMAIN'
	kg_check "i13 dns: krbrig_dns_add adds a name" \
		eval 'krbrig_dns_add wpad.sub.corp.test "$KRBRIG_SRV_IP" &&
			dns_is wpad.sub.corp.test "$KRBRIG_SRV_IP $KRBRIG_DNS_TTL"'
	kg_check "i13 dns: krbrig_dns_del removes it again" krbrig_dns_del wpad.sub.corp.test
	kg_check "i13 dns: the query log names the queries" krbrig_dns_log_has 'query\[A\] wpad\.test '
	kg_check "i13 dns: 'wpad' with the rig's resolv.conf on the host -> $KRBRIG_SRV_IP" \
		getent_is wpad "$KRBRIG_SRV_IP"
	kg_check "i13 dns: search eng.corp.test: 'wpad' is not found there, wpad.corp.test is" eval \
		'krbrig_dns_search eng.corp.test && ! krbrig_with_resolv getent ahostsv4 wpad &&
			getent_is wpad.corp.test "$KRBRIG_SRV_IP"'
	kg_check "i13 dns: search corp.test again" \
		eval 'krbrig_dns_search corp.test && getent_is wpad "$KRBRIG_SRV_IP"'
	kg_check "i13 dns: the system's /etc/resolv.conf is untouched" \
		eval '! grep -q "$KRBRIG_SRV_IP" /etc/resolv.conf'

	# the intranet: directly from the host side, and through a proxy
	kg_check "i13 intranet: http by name and verified https, directly from $HOST_IP" eval \
		'[ "$(pac_curl -m 5 http://www.intranet.test/peer)" = "$HOST_IP" ] &&
		[ "$(krbrig_with_rig_ca curl -sS --noproxy "*" -m 5 \
			--resolve "www.intranet.test:443:$KRBRIG_INTRANET_IP" https://www.intranet.test/)" = \
			"kgtest origin: hello" ]'
	kg_check "i13 intranet: through proxy A too" via_page A http://www.intranet.test/

	# proxy B: Negotiate, its own log; both Squids resolve through the rig's DNS
	kg_check "i13 proxy B: GET http://b.web.test/ with Negotiate" via_page B http://b.web.test/
	kg_check "i13 proxy B: https://b.web.test/ through CONNECT" via_page B https://b.web.test/
	kg_check "i13 proxy A: GET http://a.web.test/ (A resolves through the rig's DNS too)" \
		via_page A http://a.web.test/
	kg_check "i13 access logs: b.web.test by alice only in B's" \
		only_in_log B "GET http://b\.web\.test/.* alice@$REALM"
	kg_check "i13 access logs: a.web.test only in A's" only_in_log A "GET http://a\.web\.test/"
	kg_check "i13 proxy B: no ticket for it -> 407" eval \
		'[ "$(krbrig_proxy_curl_via B "$V" "$CC_V" -m 10 --proxy-negotiate -U : -o /dev/null \
			-w "%{http_code}" http://origin.test/ 2>/dev/null)" = 407 ]'
	kg_check "i13 SYN counters: B counted its connections" syn_grew B 0
	kg_check "i13 proxy B: a ticket for A's principal -> 407" eval \
		'[ "$(b_as_a -o /dev/null -w "%{http_code}" 2>/dev/null)" = 407 ]'
	kg_check "i13 proxy B: krbrig_proxyb_shared_spn on, A's ticket is accepted" eval \
		'krbrig_proxyb_shared_spn on && [ "$(b_as_a)" = "kgtest origin: hello" ]'
	kg_check "i13 proxy B: ... and A still accepts its own" via_page A http://origin.test/
	kg_check "i13 proxy B: krbrig_proxyb_shared_spn off, B's own principal again" eval \
		'krbrig_proxyb_shared_spn off && via_page B http://origin.test/ &&
		[ "$(b_as_a -o /dev/null -w "%{http_code}" 2>/dev/null)" = 407 ]'

	# proxy A killed mid-run, restarted; B dropping SYNs
	syn=$(krbrig_syn_count A)
	kg_check "i13 kill A: krbrig_proxy_kill A (SIGKILL)" krbrig_proxy_kill A
	kg_check "i13 kill A: connecting to A is refused" via_fails A 7
	kg_check "i13 kill A: the refused SYN is counted" syn_grew A "$syn"
	kg_check "i13 kill A: B still serves" via_page B http://origin.test/
	kg_check "i13 kill A: krbrig_proxy_start A, it serves again" \
		eval 'krbrig_proxy_start A && via_page A http://origin.test/'
	kg_check "i13 restart B: krbrig_proxy_restart B, it serves again" \
		eval 'krbrig_proxy_restart B && via_page B http://origin.test/'
	kg_check "i13 drop B: SYNs to B are dropped, curl times out" \
		eval 'krbrig_proxy_drop B on && via_fails B 28 --connect-timeout 1'
	kg_check "i13 drop B: off again, B serves" \
		eval 'krbrig_proxy_drop B off && via_page B http://origin.test/'

	# the PAC server
	# shellcheck disable=SC2034 # used in the evals below
	pac='function FindProxyForURL(url, host) { return "PROXY proxy.kgtest.local:3128"; }'
	kg_check "i13 pac: krbrig_pac_serve wpad.dat" eval 'echo "$pac" | krbrig_pac_serve wpad.dat'
	kg_check "i13 pac: $KRBRIG_PAC_URL fetched from the host by name" pac_fetch_is wpad.dat
	kg_check "i13 pac: one fetch of wpad.dat logged" test "$(krbrig_pac_fetches wpad.dat)" = 1
	kg_check "i13 pac: a missing PAC is 404" curl_rc_is 22 3000 -f "$KRBRIG_PAC_BASE/none.pac"
	kg_check "i13 pac: a 2 MiB PAC is served whole" eval 'krbrig_pac_serve_big big.pac &&
		[ "$(pac_curl -m 10 "$KRBRIG_PAC_BASE/big.pac" | wc -c)" = 2097152 ]'
	kg_check "i13 pac: ... and a 1 MiB limit refuses it" \
		curl_rc_is 63 3000 --max-filesize 1048576 "$KRBRIG_PAC_BASE/big.pac"
	kg_check "i13 pac: a stalled transfer never finishes (curl -m 1)" eval \
		'echo "$pac" | krbrig_pac_serve stall.pac && krbrig_pac_mode stall.pac stall &&
		curl_rc_is 28 3000 -m 1 "$KRBRIG_PAC_BASE/stall.pac"'
	kg_check "i13 pac: a server that never answers (curl -m 1)" eval \
		'echo "$pac" | krbrig_pac_serve hang.pac && krbrig_pac_mode hang.pac hang &&
		curl_rc_is 28 3000 -m 1 "$KRBRIG_PAC_BASE/hang.pac"'
	kg_check "i13 pac: status 500 by request" eval \
		'krbrig_pac_mode wpad.dat status 500 && curl_rc_is 22 3000 -f "$KRBRIG_PAC_BASE/wpad.dat"'
	kg_check "i13 pac: a redirect is followed" eval \
		'krbrig_pac_mode wpad.dat redirect /good.pac && echo "$pac" | krbrig_pac_serve good.pac &&
		[ "$(pac_curl -m 5 -L "$KRBRIG_PAC_URL")" = "$pac" ]'
	krbrig_pac_mode wpad.dat plain
	kg_check "i13 leases: networkd's OPTION_252 holds the URL (hex)" eval \
		'krbrig_lease_networkd "$RIG/leases/networkd" 7 "$KRBRIG_PAC_URL" &&
		[ "$(unhex "$(sed -n "s/^OPTION_252=//p" "$RIG/leases/networkd/7")")" = "$KRBRIG_PAC_URL" ]'
	kg_check "i13 leases: dhclient's lease block, option wpad and a future expiry" eval \
		'krbrig_lease_dhclient "$RIG/leases/dhcp/dhclient.leases" "$KRBRIG_PAC_URL" &&
		grep -qx "  option wpad \"$KRBRIG_PAC_URL\";" "$RIG/leases/dhcp/dhclient.leases" &&
		grep -q "^  expire [0-6] $(date -u -d "+1 day" +%Y/%m/%d) " "$RIG/leases/dhcp/dhclient.leases"'
	kg_check "i13 pac: https with the rig's CA in the system bundle's place" eval \
		'[ "$(krbrig_with_rig_ca curl -sS --noproxy "*" -m 5 \
			--resolve "$KRBRIG_PAC_HOST:443:$KRBRIG_SRV_IP" \
			"$KRBRIG_PAC_HTTPS_BASE/good.pac")" = "$pac" ]'
	kg_check "i13 pac: https without it: the certificate is refused" \
		curl_rc_is 60 3000 "$KRBRIG_PAC_HTTPS_BASE/good.pac"
	kg_check "i13 pac: the system's CA bundle is untouched" \
		eval '! grep -qF "$(sed -n 2p "$ORIGIN_CA")" /etc/ssl/certs/ca-certificates.crt'

	# home network and back (the root namespace is the host side here)
	kg_check "i13 home: krbrig_go_home" krbrig_go_home
	kg_check "i13 home: the origin is reached directly, from $KRBRIG_HOME_IP" origin_direct
	kg_check "i13 home: proxy A is unreachable at once" proxy_unreachable_fast
	kg_check "i13 home: the PAC server is unreachable" \
		curl_rc_is 7 1000 "http://$KRBRIG_SRV_IP/wpad.dat"
	kg_check "i13 home: the home DNS knows origin.test" getent_is origin.test "$ORIGIN_IP"
	kg_check "i13 home: ... and not wpad (search home.test), nor wpad.corp.test" \
		eval '! krbrig_with_resolv getent ahostsv4 wpad >/dev/null &&
			! krbrig_with_resolv getent ahostsv4 wpad.corp.test >/dev/null'
	kg_check "i13 office: krbrig_go_office" krbrig_go_office
	kg_check "i13 office: no direct route to the origin again" direct_fails_fast
	kg_check "i13 office: the office DNS again: 'wpad' -> $KRBRIG_SRV_IP" \
		getent_is wpad "$KRBRIG_SRV_IP"
	kg_check "i13 office: A, B, the PAC server and the intranet serve again" eval \
		'via_page A http://origin.test/ && via_page B http://origin.test/ &&
		pac_fetch_is good.pac && [ "$(pac_curl -m 5 http://www.intranet.test/peer)" = "$HOST_IP" ]'
	kg_check "i13 home (silent): proxy A does not answer, the origin does" eval \
		'KRBRIG_HOME_SILENT=1 krbrig_go_home && proxy_times_out && origin_direct'
	kg_check "i13 office (after silent): A serves, no direct route" eval \
		'krbrig_go_office && via_page A http://origin.test/ && direct_fails_fast'

	# two homes
	kg_check "i13 two homes: krbrig_two_homed" krbrig_two_homed
	kg_check "i13 two homes: 198.51.100.0/24 leaves from $KRBRIG_MH_IP1" \
		src_for "$KRBRIG_NS_MULTI" "${KRBRIG_MH_DST1%.*}.77" "$KRBRIG_MH_IP1"
	kg_check "i13 two homes: 203.0.113.0/24 (the origin) leaves from $KRBRIG_MH_IP2" \
		src_for "$KRBRIG_NS_MULTI" "$ORIGIN_IP" "$KRBRIG_MH_IP2"
	kg_check "i13 two homes: both links carry traffic (the peers refuse a connection)" eval \
		'peer_refuses "$KRBRIG_MH_DST1" && peer_refuses "$KRBRIG_MH_DST2"'
}

peer_refuses() { # IP: from the two-homed namespace, a TCP connection to IP:9 is refused (reached)
	ip netns exec "$KRBRIG_NS_MULTI" "$KG_PYTHON" -c 'import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=2)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)' "$1"
}

add_and_kinit() { # NAME PASSWORD, into the uid's default ccache in the rig
	krbrig_add_user "$1" "$2" && krbrig_kinit_as "$U" "$1" "$2" ""
}

kdc_only() {
	if ! krbrig_start kdc-only; then
		kg_fail "kdc-only: rig starts"
		return
	fi
	kg_pass "kdc-only: rig starts (KDC on $KDC_ADDR:$KDC_PORT)"
	kg_check "kdc-only: add user and kinit as uid $U" add_and_kinit bob bobpw
	kg_check "kdc-only: a service ticket for $PROXY_PRINCIPAL" kg_as_uid "$U" \
		env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="FILE:$KRBRIG_CCDIR/krb5cc_$U" \
		kvno -q "$PROXY_PRINCIPAL"
	krbrig_stop
}


# With Apache as proxy A: Squid B next to it, and A killed and started again.
i13_with_apache() {
	kg_check "i13 apache: krbrig_i13_start proxyb" krbrig_i13_start proxyb
	kg_check "i13 apache: https://origin.test/ through B and through A" \
		eval 'via_page B https://origin.test/ && via_page A https://origin.test/'
	kg_check "i13 apache: A killed, refused; B serves" eval \
		'krbrig_proxy_kill A && via_fails A 7 && via_page B http://origin.test/'
	kg_check "i13 apache: A started again, serves" \
		eval 'krbrig_proxy_start A && via_page A https://origin.test/'
}

unhex() { # HEX: the bytes
	"$KG_PYTHON" -c 'import sys; sys.stdout.write(bytes.fromhex(sys.argv[1]).decode())' "$1"
}

in_ns() { # CMD...: in the test namespace, with the rig's resolv.conf
	krbrig_with_resolv ip netns exec "$KG_NS" "$@"
}

ns_reaches() { # URL: an HTTP answer (any status) from the test namespace
	local code
	code=$(in_ns curl -sS -m 3 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)
	[ -n "$code" ] && [ "$code" != 000 ]
}

ns_origin_direct() { # the origin's page from the test namespace, from KRBRIG_HOME_IP
	[ "$(in_ns curl -sS -m 5 "http://$ORIGIN_IP/peer")" = "$KRBRIG_HOME_IP" ]
}

root_keeps_unreachable() { # the root namespace still refuses the origin at once
	unreachable_route "$ORIGIN_IP" && direct_fails_fast
}

uid_resolves_wpad() { # what kgc_app and kgc_start_client run through (without the cgroup)
	local got
	KGC_NS_ENTER=(nsenter --net="/run/netns/$KG_NS")
	kgc_use_rig_resolv || return 1
	got=$("${KGC_NS_ENTER[@]}" setpriv --reuid="$U" --regid="$U" --clear-groups \
		--inh-caps=-all -- getent ahostsv4 wpad | awk 'NR == 1 { print $1 }')
	KGC_NS_ENTER=()
	[ "$got" = "$KRBRIG_SRV_IP" ] || { echo "# got '$got'"; return 1; }
}

# The host side in a namespace of the test's own (KG_NS, as the client tests do): the rig's
# routes follow the link, and home/office change only that namespace.
i13_in_netns() {
	kg_make_netns cli KG_NS
	kg_check "i13 netns: kgc_move_host_side gives the test namespace the rig's link" \
		kgc_move_host_side "$KG_NS"
	kg_check "i13 netns: proxy A, proxy B and the PAC server (by name) answer there" \
		eval 'ns_reaches "$PROXY_URL/" && ns_reaches "$PROXYB_URL/" &&
			ns_reaches "$KRBRIG_PAC_BASE/good.pac"'
	kg_check "i13 netns: kgc_use_rig_resolv: uid $U there finds 'wpad' through the rig's DNS" \
		uid_resolves_wpad
	kg_check "i13 netns: krbrig_go_home finds the host side in the test namespace" krbrig_go_home
	kg_check "i13 netns home: the origin directly, from $KRBRIG_HOME_IP" ns_origin_direct
	kg_check "i13 netns home: proxy A and the DNS are unreachable" \
		eval '! ns_reaches "$PROXY_URL/" &&
			! ip netns exec "$KG_NS" "$KG_PYTHON" "$PACRIG_LIB_DIR/dnsq.py" \
				"$KRBRIG_DNS_IP" 53 wpad.corp.test 2>/dev/null'
	kg_check "i13 netns home: the root namespace keeps its unreachable route to the origin" \
		root_keeps_unreachable
	kg_check "i13 netns: krbrig_go_office" krbrig_go_office
	kg_check "i13 netns office: proxies and PAC server answer, the origin does not" \
		eval 'ns_reaches "$PROXY_URL/" && ns_reaches "$PROXYB_URL/" &&
			ns_reaches "$KRBRIG_PAC_BASE/good.pac" && ! ns_reaches "http://$ORIGIN_IP/"'
	# what kgc_move_host_side leaves until the test's exit, removed now: the next flavour
	# starts a rig in the same test
	ip netns del "$KG_NS"
	ip addr del "$HOST_IP/32" dev lo
	kg_check "i13 home left on in the root namespace: krbrig_stop cleans it up" krbrig_go_home ""
}

for mode in squid apache; do
	if [ "$mode" = apache ] &&
		{ ! command -v apache2 >/dev/null || [ ! -e /usr/lib/apache2/modules/mod_auth_gssapi.so ]; }; then
		if [ "${KG_REQUIRE_PRIVILEGED:-0}" = 1 ]; then
			kg_fail "apache: apache2 and libapache2-mod-auth-gssapi are not installed"
		else
			echo "# skip apache flavour: apache2 or libapache2-mod-auth-gssapi missing"
		fi
		continue
	fi
	flavour "$mode"
done
kdc_only
kg_finish
