#!/bin/bash
# The second proxy flavour: Apache httpd with mod_auth_gssapi as the forward proxy. It answers
# CONNECT with "HTTP/1.0 200", offers NTLM next to Negotiate, and sends a mutual-authentication
# token on 200 answers to plain requests; it also keeps the other direction of a tunnel open
# after the client's FIN, so TLS half-close is checked here.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kgc_setup apache # skips without apache2 or mod_auth_gssapi
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"

kg_check "apache: https://origin.test/ (CONNECT answered with HTTP/1.0 200)" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "apache: http://origin.test/ (absolute-form, mutual-auth token on the 200)" \
	test "$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "apache: access log has alice@$REALM and CONNECT origin.test:443" \
	krbrig_access_log_has "alice@$REALM .*CONNECT $ORIGIN_HOST:443"
kg_check "apache: access log has alice@$REALM and GET http://origin.test/" \
	krbrig_access_log_has "alice@$REALM .*GET http://$ORIGIN_HOST/"
want=$(python3 "$KRBRIG_LIB_DIR/origin.py" digest 4000000)
got=$(python3 "$KRBRIG_LIB_DIR/origin.py" pattern 4000000 |
	kgc_curl "$U" -m 30 -T - "https://$ORIGIN_HOST/sha256" 2>&1)
kg_check "apache: 4 MB upload through CONNECT: digest" test "$got" = "$want"

halfclose_tls() {
	kgc_app "$U" python3 - "$ORIGIN_IP" "$ORIGIN_CA" <<'PY'
import hashlib, os, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
raw = socket.create_connection((sys.argv[1], 443), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="origin.test")
body = b"y" * 100000
s.sendall(b"PUT /sha256 HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
# TLS has no half-close of its own: shut the TCP write side under it.
socket.socket(fileno=os.dup(s.fileno())).shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
except (ssl.SSLError, OSError):
    pass
sys.exit(0 if hashlib.sha256(body).hexdigest().encode() in data else 1)
PY
}
kg_check "apache: half-closed TLS upload through CONNECT still gets its response" halfclose_tls

kgc_app "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="$CC_U" kdestroy -q
page=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "apache: no ticket -> port 80 gets the 502 page saying to run kinit" \
	eval 'printf "%s" "$page" | grep -q "kinit"'
kg_finish
