#!/bin/bash
# The test rig itself (tests/lib/krbrig.sh), as root: a test uid with its own ccache reaches the
# origin through the Negotiate proxy by HTTP and by CONNECT; without a ticket the proxy answers
# 407; the access log names the principal and the host; the host has no direct way to the origin.
# Runs the Squid flavour, then Apache (when installed), then the KDC-only mode.
# shellcheck source=tests/lib/krbrig.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/krbrig.sh"

kg_require_root
kg_require_cmd curl sha256sum ss

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

	LAST_RIG=$RIG LAST_ORIGIN_IP=$ORIGIN_IP # krbrig_stop clears RIG
	t0=$(krbrig_now_ms)
	krbrig_stop
	kg_check "$mode: rig stops ($(($(krbrig_now_ms) - t0)) ms): namespaces, route and directory are gone" \
		rig_gone
}

rig_gone() {
	! ip netns list | grep -q "^$KG_TEST_ID-" &&
		! ip route show type unreachable | grep -q "^$LAST_ORIGIN_IP " &&
		[ ! -e "$LAST_RIG" ]
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
