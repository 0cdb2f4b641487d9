#!/bin/bash
# The client through an HTTPS proxy (issue 14): proxy.type "https", TLS to the rig's Squid
# (squid-openssl, KRBRIG_TLS=1 of tests/lib/krbrig.sh: https_port 3129, 3131 mTLS, 3132 expired,
# 3133 wrong name, 3134 untrusted CA) with Negotiate inside the TLS session, a real KDC.
#   - HTTPS and plain HTTP from curl with no proxy settings, through port 3129 only (SYN
#     counters), the principal and the host name in Squid's access log; 256 MiB with a digest;
#   - an untrusted CA, a name mismatch, an expired certificate and a proxy that speaks clear
#     text on the TLS port (https:// pointed at the plain 3128) each fail closed with their own
#     sentence in the client's log and on the port-80 502 page; no authenticated request in
#     Squid's log for them, and a capture of everything sent to the proxy's ports shows the
#     client's ClientHello on that port and no Proxy-Authorization anywhere (a control sends
#     one in clear first, so the capture is shown to see it);
#   - mTLS with proxy.client_cert/client_key, and its clear failure without;
#   - a proxy list [https with an untrusted certificate, http good] fails over;
#   - a PAC answering "HTTPS proxy.kgtest.local:3129" (proxy.type wpad);
#   - half-close on port 80, and Squid killed in the middle of a download is reported.
# The Squid is KRBRIG_SQUID (default squid): without OpenSSL the rig skips (exit 77).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_cmd nft

export KRBRIG_TLS=1
kgc_setup squid
krbrig_i13_start dns pac || exit 99
# proxy.kgtest.local (the name in the proxy's certificate) resolves through the rig's DNS
kgc_use_rig_resolv || exit 99
# the PAC evaluator of the build under test, for the PAC case (as client-rig-i13.sh)
kg_uid_path "${KGC_BUILDDIR:-$top_builddir}/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"
PAGE="kgtest origin: hello"
LOG_U=$(kgc_client_log "$U")
RESOLVE_ORIGIN=(--resolve "$ORIGIN_HOST:443:$ORIGIN_IP" --resolve "$ORIGIN_HOST:80:$ORIGIN_IP")

# SYNs per proxy port, in the proxy namespace (gone with it).
ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || exit 99
table inet kgtest_tls {
	counter syn_3128 { }
	counter syn_3129 { }
	counter syn_3134 { }
	chain input {
		type filter hook input priority 0; policy accept;
		tcp flags & (syn | ack) == syn ip daddr $PROXY_IP tcp dport 3128 counter name "syn_3128"
		tcp flags & (syn | ack) == syn ip daddr $PROXY_IP tcp dport 3129 counter name "syn_3129"
		tcp flags & (syn | ack) == syn ip daddr $PROXY_IP tcp dport 3134 counter name "syn_3134"
	}
}
EOF
syns() { # PORT
	ip netns exec "$KRBRIG_NS_PROXY" nft list counter inet kgtest_tls "syn_$1" |
		grep -o 'packets [0-9]*' | cut -d' ' -f2
}

log_lines=0
new_log_says() { tail -n +$((log_lines + 1)) "$LOG_U" | grep -Eq -- "$1"; }
mark() { # remember where the client's log and Squid's access log are now
	log_lines=$(wc -l <"$LOG_U")
	acc_lines=$(kgc_access_lines)
}
# no line of Squid's access log since mark() names a user: no token was accepted
no_auth_since() { ! kgc_access_since "$acc_lines" "@$REALM"; }

# https_config URL-or-list [LINE...]: proxy.type https with the rig's CA as proxy.ca_file
https_config() {
	local url=$1
	shift
	case "$url" in
	\[*) ;;
	*) url="\"$url\"" ;;
	esac
	KGC_PROXY_TYPE=https kgc_write_config_proxy "url = $url;" "ca_file = \"$PROXY_CA\";" "$@"
}

# --- the rig itself: curl --proxy https:// (works before the client does) ------------------
out=$(krbrig_proxy_tls_curl "$U" "$CC_U" -m 10 "${RESOLVE_ORIGIN[@]}" "https://$ORIGIN_HOST/" 2>&1)
kg_check "rig: curl --proxy $PROXY_TLS_URL --proxy-negotiate reaches the origin" \
	test "$out" = "$PAGE"

# --- the client with proxy.type https ------------------------------------------------------
https_config "$PROXY_TLS_URL"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
if ! kgc_start_client "$U"; then
	kg_fail "the client starts with proxy.type \"https\", url $PROXY_TLS_URL, proxy.ca_file"
	kg_finish
fi
kg_pass "the client starts with proxy.type \"https\", url $PROXY_TLS_URL, proxy.ca_file"

s28=$(syns 3128) s29=$(syns 3129)
mark
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "https://origin.test/ with no proxy variables: the page" test "$out" = "$PAGE"
out=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "http://origin.test/ with no proxy variables: the page" test "$out" = "$PAGE"
kg_check "access log: CONNECT origin.test:443 by alice@$REALM" \
	kgc_access_since "$acc_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
kg_check "access log: GET http://origin.test/ by alice@$REALM" \
	kgc_access_since "$acc_lines" "GET http://$ORIGIN_HOST/ alice@$REALM"
kg_check "both went to the TLS port 3129 (SYNs: 3129 $s29 -> $(syns 3129), 3128 $s28 -> $(syns 3128))" \
	eval '[ "$(syns 3129)" -ge $((s29 + 2)) ] && [ "$(syns 3128)" = "$s28" ]'

bulk() { # BYTES: digest of an HTTPS download through the TLS proxy
	local want got t0
	want=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest "$1")
	t0=$(krbrig_now_ms)
	got=$(kgc_curl "$U" -m 300 "https://$ORIGIN_HOST/bytes/$1" | sha256sum | cut -d' ' -f1)
	echo "# $(($1 >> 20)) MiB in $(($(krbrig_now_ms) - t0)) ms"
	[ "$got" = "$want" ]
}
kg_check "256 MiB HTTPS download through the HTTPS proxy: digest equal" bulk $((256 << 20))
up() {
	local want got
	want=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest $((64 << 20)))
	got=$(python3 "$KRBRIG_LIB_DIR/origin.py" pattern $((64 << 20)) |
		kgc_curl "$U" -m 300 -T - "http://$ORIGIN_HOST/sha256" 2>&1)
	[ "$got" = "$want" ]
}
kg_check "64 MiB port-80 upload through the HTTPS proxy: digest equal" up

# Half-close on port 80: the upload ends with FIN, the answer still arrives.
halfclose() {
	kgc_app "$U" python3 - "$ORIGIN_IP" <<'PY'
import hashlib, socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
body = b"x" * 100000
s.sendall(b"POST /sha256 HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
ok = data.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).hexdigest().encode() in data
sys.exit(0 if ok else 1)
PY
}
kg_check "half-closed upload (port 80) through the HTTPS proxy still gets its response" halfclose

# --- failover: [https with an untrusted certificate, http good] -----------------------------
# Before the fail-closed cases: a proxy that failed is skipped for 5 minutes while another of
# the list is up (route/failover.h), so 3134 must not have failed yet.
https_config "[ \"$PROXY_TLS_UNTRUSTED_URL\", \"$PROXY_URL\" ]"
kg_check "failover: reload with url = [ $PROXY_TLS_UNTRUSTED_URL, $PROXY_URL ]" kgc_reload
mark
s28=$(syns 3128) s34=$(syns 3134)
out=$(kgc_curl "$U" -m 20 "https://$ORIGIN_HOST/" 2>&1)
kg_check "failover: https://origin.test/ through the second proxy: the page" test "$out" = "$PAGE"
kg_check "failover: the first proxy was tried (SYNs to 3134: $s34 -> $(syns 3134))" \
	eval '[ "$(syns 3134)" -gt "$s34" ]'
kg_check "failover: the CONNECT went to the plain port 3128 (SYNs $s28 -> $(syns 3128))" \
	eval '[ "$(syns 3128)" -gt "$s28" ] &&
		kgc_access_since "$acc_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"'

# --- fail closed, each with its sentence ----------------------------------------------------
# A capture of every byte sent to the proxy's ports 3128-3134 (on the proxy namespace's side of
# the host link), one file per port, for the fail-closed cases below.
cat >"$KG_TMP/capture.py" <<'PY'
import socket, sys
iface, prefix, ready = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
files = {}
open(ready, "w").close()
while True:
    pkt = s.recv(65536)
    if pkt[12:14] != b"\x08\x00" or pkt[23] != 6:  # IPv4, TCP
        continue
    tcp = pkt[14 + (pkt[14] & 15) * 4:]
    port = int.from_bytes(tcp[2:4], "big")
    data = tcp[(tcp[12] >> 4) * 4:]
    if 3128 <= port <= 3134 and data:
        if port not in files:  # O_APPEND: the test empties them between cases
            files[port] = open("%s.%d" % (prefix, port), "ab")
        files[port].write(data)
        files[port].flush()
PY
ip netns exec "$KRBRIG_NS_PROXY" "$KG_PYTHON" "$KG_TMP/capture.py" hostside "$KG_TMP/sent" \
	"$KG_TMP/capture.ready" 2>"$KG_TMP/capture.err" &
CAPTURE_PID=$!
kg_on_exit kg_stop_pid "$CAPTURE_PID"
kg_wait_for 50 test -e "$KG_TMP/capture.ready" || { echo "# capture did not start"; exit 99; }
captured_token() { cat "$KG_TMP"/sent.* 2>/dev/null | grep -aqi "Proxy-Authorization: Negotiate"; }
capture_reset() {
	local p
	for p in 3128 3129 3130 3131 3132 3133 3134; do : >"$KG_TMP/sent.$p"; done
}
client_hello_to() { # PORT: what was sent there starts with a TLS handshake record
	head -c 2 "$KG_TMP/sent.$1" | od -An -tx1 | grep -q "16 03"
}
# the control: a token sent in clear to 3128 is seen
krbrig_proxy_curl "$U" "$CC_U" --proxy-negotiate -U : -m 10 "${RESOLVE_ORIGIN[@]}" \
	-o /dev/null "http://$ORIGIN_HOST/" 2>/dev/null
kg_check "control: the capture sees a token curl sends in clear to 3128" \
	kg_wait_for 20 captured_token
sleep 0.3
capture_reset

# fails_closed NAME URL SENTENCE: proxy URL fails; the sentence in the log and on the 502 page
fails_closed() {
	local name=$1 url=$2 sentence=$3 page code
	https_config "$url"
	kgc_reload || { kg_fail "$name: reload"; return 1; }
	mark
	capture_reset
	out=$(kgc_curl "$U" -m 15 "https://$ORIGIN_HOST/" 2>&1)
	kg_check "$name: https://origin.test/ does not get the page" test "$out" != "$PAGE"
	kg_check "$name: the client's log says \"$sentence\"" \
		kg_wait_for 30 new_log_says "$sentence"
	new_log_says "$sentence" &&
		tail -n +$((log_lines + 1)) "$LOG_U" | grep -m1 -E -- "$sentence" | sed 's/^/# log: /'
	page=$(kgc_curl "$U" -m 15 -w '\n%{http_code}' "http://$ORIGIN_HOST/" 2>&1)
	code=$(printf '%s' "$page" | tail -n1)
	kg_check "$name: port 80 gets a 502 page that says \"$sentence\" (HTTP $code)" \
		eval '[ "$code" = 502 ] && printf "%s" "$page" | grep -Eq -- "$sentence"'
	printf '%s\n' "$page" | grep -m1 -Ei "failed|proxy|could not" | sed 's/^/# 502 page: /'
	sleep 0.5 # Squid writes its log line when the connection has ended
	kg_check "$name: no authenticated request in Squid's access log" no_auth_since
	kg_check "$name: the capture saw the client's ClientHello on port ${url##*:}" \
		client_hello_to "${url##*:}"
	kg_check "$name: ... and no Proxy-Authorization in clear on any proxy port" \
		eval '! captured_token'
}
fails_closed "untrusted CA" "$PROXY_TLS_UNTRUSTED_URL" "proxy certificate not trusted \(issuer"
fails_closed "name mismatch" "$PROXY_TLS_WRONGNAME_URL" "proxy name mismatch \(certificate for"
fails_closed "expired certificate" "$PROXY_TLS_EXPIRED_URL" "proxy certificate expired"
fails_closed "clear text on the TLS port" "https://$PROXY_HOST:3128" \
	"TLS handshake with the proxy failed: .*clear text"

# --- mTLS ------------------------------------------------------------------------------------
fails_closed "mTLS port without a client certificate" "$PROXY_MTLS_URL" \
	"TLS handshake with the proxy failed: .*client certificate"
kg_stop_pid "$CAPTURE_PID"
https_config "$PROXY_MTLS_URL" "client_cert = \"$PROXY_CLIENT_CERT\";" \
	"client_key = \"$PROXY_CLIENT_KEY\";"
kg_check "mTLS: reload with proxy.client_cert and proxy.client_key" kgc_reload
mark
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "mTLS: https://origin.test/ with the client certificate: the page" test "$out" = "$PAGE"
kg_check "mTLS: ... in Squid's log by alice@$REALM" \
	kg_wait_for 20 kgc_access_since "$acc_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"

# --- a PAC answering HTTPS ------------------------------------------------------------------
krbrig_pac_serve https.pac <<PAC
function FindProxyForURL(url, host) { return "HTTPS $PROXY_HOST:$PROXY_TLS_PORT"; }
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy "wpad_url = \"$KRBRIG_PAC_BASE/https.pac\";" \
	"ca_file = \"$PROXY_CA\";"
kg_check "PAC: reload to proxy.type wpad with a PAC answering HTTPS" kgc_reload
kg_check "PAC: loaded" kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_BASE/https.pac loaded" "$LOG_U"
mark
s29=$(syns 3129)
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "PAC HTTPS: https://origin.test/: the page" test "$out" = "$PAGE"
out=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "PAC HTTPS: http://origin.test/: the page" test "$out" = "$PAGE"
kg_check "PAC HTTPS: both through the TLS port 3129 by alice@$REALM" \
	eval '[ "$(syns 3129)" -ge $((s29 + 2)) ] &&
		kgc_access_since "$acc_lines" "CONNECT $ORIGIN_HOST:443 alice@$REALM"'

# --- the proxy killed in the middle of a download -------------------------------------------
https_config "$PROXY_TLS_URL"
kg_check "reload back to $PROXY_TLS_URL" kgc_reload
mark
BIG=$((1 << 30))
kgc_curl "$U" -m 60 -o /dev/null -w '%{size_download}' "https://$ORIGIN_HOST/bytes/$BIG" \
	>"$KG_TMP/reset.size" 2>"$KG_TMP/reset.err" &
dl=$!
kg_wait_for 100 eval '[ "$(ss -N "$KRBRIG_NS_PROXY" -Htn state established "dst $ORIGIN_IP:443" | wc -l)" -gt 0 ]'
sleep 1
kg_check "Squid killed in the middle of a 1 GiB download" krbrig_proxy_kill A KILL
t0=$(krbrig_now_ms)
wait "$dl"
rc=$?
ms=$(($(krbrig_now_ms) - t0))
kg_check "... the download ends at once (curl $rc after $ms ms, $(cat "$KG_TMP/reset.size") of $BIG bytes)" \
	eval '[ "$rc" != 0 ] && [ "$ms" -lt 10000 ] && [ "$(cat "$KG_TMP/reset.size")" != "$BIG" ]'
# (what the client's log said, for the reader: the application's error is the report)
sleep 0.5
tail -n +$((log_lines + 1)) "$LOG_U" | head -n 3 | sed 's/^/# log: /'
kg_check "Squid started again" eval 'krbrig_proxy_start A && krbrig_wait_up proxy krbrig_tls_listening'
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "after the restart: https://origin.test/ works again" test "$out" = "$PAGE"

kgc_stop_client "$U"
kg_check "the client exits 0 on SIGTERM" test "$KGC_RC" = 0
kg_finish
