#!/bin/bash
# The client end to end through a real KDC and Squid with Negotiate: plain HTTP and HTTPS for an
# application with no proxy settings, the access log names the user and the host, keep-alive and
# request bodies and WebSocket-style Upgrade on port 80, 200 parallel connections, half-close,
# another user dialling the relay port directly, the command line and signals.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd keyctl kcm
kgc_setup squid
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"

out=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "http://origin.test/ with no proxy variables: the page" test "$out" = "$PAGE"
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "https://origin.test/ with no proxy variables: the page" test "$out" = "$PAGE"
kg_check "access log: CONNECT origin.test:443 by alice@$REALM" \
	krbrig_access_log_has "CONNECT $ORIGIN_HOST:443 alice@$REALM"
kg_check "access log: GET http://origin.test/ by alice@$REALM" \
	krbrig_access_log_has "GET http://$ORIGIN_HOST/ alice@$REALM"

# Keep-alive: three requests on one application connection, each forwarded with its token.
out=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" "http://$ORIGIN_HOST/" "http://$ORIGIN_HOST/" \
	-w '%{num_connects}\n' 2>&1)
pages=$(printf '%s\n' "$out" | grep -c "$PAGE")
conns=$(printf '%s\n' "$out" | grep -v "$PAGE" | awk '{s += $1} END {print s}')
kg_check "port 80 keep-alive: 3 answers over 1 application connection ($pages, $conns)" \
	test "$pages-$conns" = "3-1"

# Request bodies on port 80: Content-Length and chunked.
want=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest 1000000)
got=$(python3 "$KRBRIG_LIB_DIR/origin.py" pattern 1000000 >"$KG_TMP/body" &&
	kgc_curl "$U" -m 20 --data-binary @"$KG_TMP/body" "http://$ORIGIN_HOST/sha256" 2>&1)
kg_check "port 80 POST with Content-Length (1 MB): digest" test "$got" = "$want"
got=$(kgc_curl "$U" -m 20 -H 'Transfer-Encoding: chunked' --data-binary @"$KG_TMP/body" \
	"http://$ORIGIN_HOST/sha256" 2>&1)
kg_check "port 80 POST chunked (1 MB): digest" test "$got" = "$want"
got=$(kgc_curl "$U" -m 20 -T "$KG_TMP/body" "https://$ORIGIN_HOST/sha256" 2>&1)
kg_check "https PUT (1 MB): digest" test "$got" = "$want"

# 200 parallel connections, half of them HTTPS, all complete.
parallel() {
	local i ok=0 u pids=()
	for ((i = 0; i < 200; i++)); do
		if ((i % 2)); then u="https://$ORIGIN_HOST/"; else u="http://$ORIGIN_HOST/"; fi
		kgc_curl "$U" -m 30 "$u" >"$KG_TMP/par.$i" 2>>"$KG_TMP/par.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for ((i = 0; i < 200; i++)); do
		[ "$(cat "$KG_TMP/par.$i" 2>/dev/null)" = "$PAGE" ] && ok=$((ok + 1))
	done
	echo "# parallel: $ok of 200 complete"
	[ "$ok" = 200 ]
}
t0=$(krbrig_now_ms)
kg_check "200 parallel connections all complete" parallel
echo "# 200 parallel took $(($(krbrig_now_ms) - t0)) ms"

# Half-close: the upload ends with FIN (shutdown SHUT_WR) and the answer still arrives.
halfclose() {
	kgc_app "$U" python3 - "$ORIGIN_IP" <<'PY'
import socket, sys
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
import hashlib
ok = data.startswith(b"HTTP/1.1 200") and hashlib.sha256(body).hexdigest().encode() in data
sys.exit(0 if ok else 1)
PY
}
kg_check "half-closed upload (port 80) still gets its response" halfclose

# Upgrade on port 80 (WebSocket's 101 Switching Protocols): after the 101 the relay passes raw
# bytes both ways. The rig's origin echoes them; 1 MiB of random bytes must come back intact,
# and the application's FIN must end the exchange.
upgrade() { # OFFER: the Upgrade field; websocket -> 101 and the echo, else the origin's 426
	kgc_app "$U" python3 - "$ORIGIN_IP" "$1" <<'PY'
import hashlib, os, socket, sys
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(b"GET /upgrade HTTP/1.1\r\nHost: origin.test\r\nConnection: Upgrade\r\n"
          b"Upgrade: %s\r\n\r\n" % sys.argv[2].encode())
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(4096)
    if not b:
        sys.exit("no answer head")
    head += b
head, rest = head.split(b"\r\n\r\n", 1)
status = head.split(b"\r\n", 1)[0]
print("# status line:", status.decode(errors="replace"))
if sys.argv[2] != "websocket":
    sys.exit(0 if status.startswith(b"HTTP/1.1 426") else 1)
if not status.startswith(b"HTTP/1.1 101"):
    sys.exit(1)
sent, got = hashlib.sha256(), hashlib.sha256()
got.update(rest)
n_sent, n_got = 0, len(rest)
for _ in range(16):
    chunk = os.urandom(65536)
    s.sendall(chunk)
    sent.update(chunk)
    n_sent += len(chunk)
    while n_got < n_sent:
        b = s.recv(65536)
        if not b:
            sys.exit("EOF after %d of %d echoed bytes" % (n_got, n_sent))
        got.update(b)
        n_got += len(b)
s.shutdown(socket.SHUT_WR)
tail = s.recv(65536)
print("# echoed %d of %d bytes, then %s" % (n_got, n_sent, "EOF" if not tail else "more bytes"))
sys.exit(0 if sent.digest() == got.digest() and n_got == n_sent and not tail else 1)
PY
}
before=$(kgc_access_lines)
kg_check "port 80 Upgrade: websocket: 101, then 1 MiB echoed intact, FIN ends it" upgrade websocket
# (Squid writes the line when the upgraded connection has closed.)
kg_check "... and the proxy logged the upgraded request as alice@$REALM" \
	kg_wait_for 50 kgc_access_since "$before" "/101 [0-9]+ GET http://$ORIGIN_HOST/upgrade alice@$REALM"
kg_check "an Upgrade offer the proxy drops (h2c): the origin's ordinary answer (426)" upgrade h2c
# (TLS half-close through CONNECT: Squid closes both sides of a tunnel on the client's FIN;
# client-apache.sh checks it against Apache, which keeps the other direction open.)

# Another user dialling this user's relay port directly: closed, nothing reaches the proxy.
port=$(grep -o 'relay on 127.0.0.1:[0-9]*' "$(kgc_client_log "$U")" | tail -n1 | cut -d: -f2)
before=$(kgc_access_lines)
direct() {
	kgc_app "$V" python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n")
s.settimeout(5)
try:
    data = s.recv(100)
except ConnectionResetError:
    data = b""
sys.exit(0 if data == b"" else 1)
PY
}
kg_check "uid $V connecting straight to uid $U's relay port ($port) is closed with nothing" direct
sleep 0.5
kg_check "... and the proxy saw nothing" test "$(kgc_access_lines)" = "$before"
kg_check "... and the client logged why" \
	grep -q "no original destination" "$(kgc_client_log "$U")"

# Other credential cache types through kerberos.ccache, with the tokens libkrb5 knows: the
# kernel keyring (KEYRING:persistent:%{uid}, the default with SSSD), a DIR: collection and
# KCM:. The FILE cache the client started with is destroyed first, so only the configured cache
# can make the token.
kgc_app "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="$CC_U" kdestroy -q
use_ccache() { # CCACHE: configure it, reload, one https request as uid U
	KGC_CCACHE="$1" kgc_write_config
	kgc_reload
	kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1
}
forget_keyring() { # the caches, then the persistent keyring itself (it would outlive the test)
	kg_as_uid "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="KEYRING:persistent:$U" kdestroy -A
	keyctl session - sh -c "keyctl invalidate \$(keyctl get_persistent @s $U)" >/dev/null 2>&1
}
kg_on_exit forget_keyring
krbrig_kinit_as "$U" alice alicepw "KEYRING:persistent:$U" || exit 99
before=$(kgc_access_lines)
out=$(use_ccache "KEYRING:persistent:%{uid}")
kg_check "kerberos.ccache KEYRING:persistent:%{uid}: the page" test "$out" = "$PAGE"
kg_check "... and the proxy saw alice@$REALM" \
	kgc_access_since "$before" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
kg_check "... and ctl status shows the keyring cache's principal" \
	kg_wait_for 30 eval 'kgc_app "$U" "$KG_CTL" --socket "$KG_SOCK" status | grep -q "alice@$REALM"'
forget_keyring
install -d -o "$U" -g "$U" -m 700 "$KRBRIG_CCDIR/dir-$U"
krbrig_kinit_as "$U" alice alicepw "DIR:$KRBRIG_CCDIR/dir-$U" || exit 99
out=$(use_ccache "DIR:$KRBRIG_CCDIR/dir-%{uid}")
kg_check "kerberos.ccache DIR:...-%{uid} (a collection): the page" test "$out" = "$PAGE"
# KCM: (sssd-kcm on Fedora and RHEL), here Heimdal's kcm on the rig's own socket.
krbrig_kcm_start || exit 99
krbrig_kinit_as "$U" alice alicepw "KCM:" || exit 99
before=$(kgc_access_lines)
out=$(use_ccache "KCM:")
kg_check "kerberos.ccache KCM: the page" test "$out" = "$PAGE"
kg_check "... and the proxy saw alice@$REALM" \
	kgc_access_since "$before" "CONNECT $ORIGIN_HOST:443 alice@$REALM"
krbrig_stop_pidfile kcm
kgc_write_config
kgc_reload
krbrig_kinit_as "$U" alice alicepw "$CC_U" || exit 99

# Command line.
kg_check "--version" eval '"$KG_CLIENT" --version | grep -q "^kernelgatekeeper-client "'
kg_check "--help exits 0" "$KG_CLIENT" --help
"$KG_CLIENT" --bogus >/dev/null 2>&1
kg_check "an unknown option exits 2" test $? = 2
printf 'proxy = { type = "gopher"; url = "http://p.example:3128"; };\n' >"$KG_TMP/gopher.conf"
out=$("$KG_CLIENT" -c "$KG_TMP/gopher.conf" --socket "$KG_SOCK" 2>&1)
rc=$?
kg_check "an unknown proxy.type is refused with exit 2 and the types it could be" \
	eval '[ $rc = 2 ] && printf "%s" "$out" | grep -q "proxy.type: \"gopher\" is not one of http, https, wpad, none"'
kg_check "a missing -c file exits 2" eval '"$KG_CLIENT" -c /nonexistent/kg.conf >/dev/null 2>&1; [ $? = 2 ]'

# SIGHUP reloads, SIGTERM stops cleanly.
kg_reload "${KGC_PID[$U]}" "$(kgc_client_log "$U")"
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "SIGHUP reloads and the client keeps working" test "$out" = "$PAGE"
kgc_stop_client "$U"
kg_check "SIGTERM: exit 0" test "$KGC_RC" = 0
kg_finish
