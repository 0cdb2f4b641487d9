#!/bin/bash
# Warm proxy connections (issue 15), end to end through the real KDC and Negotiate Squid.
# After a first steered request the relay holds established connections to the proxy with no
# tunnel on them; the next request is served over one of them (its local port is one the
# relay held before, the client's debug log says "handed out"); sequential requests each
# succeed with a token of their own (Squid's replay cache refuses a reused one) and Squid's
# log names the user for each; the spares go after proxy.warm_idle_timeout; a new kinit of
# another principal into the same ccache empties the pool and the next request goes as that
# principal; proxy.warm_connections = 0 keeps none; a CONNECT on a spare whose path went
# silent goes again on a new connection, and off the network (fallback direct, the proxy
# unreachable) the relay holds none.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nft ss

IDLE=6
KGC_LOG_LEVEL=debug
kgc_setup squid
kgc_write_config_proxy "warm_idle_timeout = $IDLE;" || exit 99
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"
LOG=$(kgc_client_log "$U")

# Established connections from the host to the proxy, as the proxy sees them (a tunnel in use
# is one of them too).
at_proxy() {
	ip netns exec "$KRBRIG_NS_PROXY" ss -Htn state established "( sport = :$PROXY_PORT )" |
		wc -l
}
# The local ports of the relay's established connections to the proxy.
relay_ports() {
	ss -Htnp state established "( dport = :$PROXY_PORT )" |
		grep "pid=${KGC_PID[$U]}," | awk '{ n = split($3, a, ":"); print a[n] }' | sort -n
}
handed() { grep -c "warm: spare connection to .* handed out" "$LOG"; }
get() { # one HTTPS request as U: the page
	local out
	out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
	[ "$out" = "$PAGE" ] || { echo "# got '$out'"; return 1; }
}
spares_at_least() { [ "$(at_proxy)" -ge "$1" ]; }
no_spares() { [ "$(at_proxy)" = 0 ] && [ -z "$(relay_ports)" ]; }

kg_check "no connection to the proxy before any traffic" test "$(at_proxy)" = 0
kg_check "a first request through the relay" get
kg_check "then an established connection from the relay to the proxy, with no tunnel" \
	kg_wait_for 30 spares_at_least 1
ports=$(relay_ports)
echo "# relay's spare ports: $(echo $ports)"
h0=$(handed)
a0=$(kgc_access_lines)
kg_check "the next request succeeds" get
kg_check "it took a spare: one more 'handed out' line ($h0 -> $(handed))" \
	test "$(handed)" -gt "$h0"
port=$(tail -n +1 "$LOG" | grep "warm: spare connection to .* handed out" | tail -n 1 |
	sed -n 's/.*local port \([0-9]*\).*/\1/p')
kg_check "the port handed out ($port) is one the relay held before the request" \
	grep -qx "$port" <<<"$ports"
kg_check "Squid: the request as alice@$REALM" \
	kgc_access_since "$a0" "CONNECT $ORIGIN_HOST:443 alice@$REALM"

# Sequential requests: each with its own token over a warm connection.
N=20
h0=$(handed)
a0=$(kgc_access_lines)
ok=0
for ((i = 0; i < N; i++)); do
	get && ok=$((ok + 1))
done
kg_check "$N sequential requests all succeed ($ok)" test "$ok" = "$N"
h1=$(handed)
kg_check "most of them over warm connections ($((h1 - h0)) of $N)" test $((h1 - h0)) -ge $((N / 2))
n=$(tail -n +$((a0 + 1)) "$(krbrig_access_log)" | grep -c "CONNECT $ORIGIN_HOST:443 alice@$REALM")
kg_check "Squid logged alice@$REALM for each of them ($n)" test "$n" = "$N"
kg_check "no token refused (no 407 in Squid's log since)" \
	bash -c "! tail -n +$((a0 + 1)) '$(krbrig_access_log)' | grep -q ' 407 \|/407 '"

# Idle: the spares go after warm_idle_timeout without a connection.
kg_check "spares held after the requests" spares_at_least 1
kg_check "none left within $((IDLE + 3)) s without traffic" kg_wait_for $(((IDLE + 3) * 10)) no_spares

# A new ticket of another principal in the same ccache: the spares' tokens are alice's, none
# may go out; the next request goes as bob.
kg_check "warm again" get
kg_wait_for 30 spares_at_least 1
kdestroy_u() {
	kg_as_uid "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="$CC_U" kdestroy >/dev/null 2>&1
}
sleep 0.5 # the spares' tokens are made
a0=$(kgc_access_lines)
h0=$(handed)
kdestroy_u
krbrig_kinit_as "$U" bob bobpw "$CC_U" || kg_fail "kinit bob into alice's ccache"
kg_check "after kdestroy + kinit bob: the request succeeds" get
kg_check "... as bob@$REALM, not with a token made for alice" \
	kgc_access_since "$a0" "CONNECT $ORIGIN_HOST:443 bob@$REALM"
kg_check "... and alice's name is not in Squid's log since" \
	bash -c "! tail -n +$((a0 + 1)) '$(krbrig_access_log)' | grep -q alice@"
kg_check "the client emptied the pool: 'credential cache changed'" \
	grep -q "warm: .* closed: the Kerberos credential cache changed" "$LOG"
kg_check "no spare was handed out for that request ($h0 -> $(handed))" test "$(handed)" = "$h0"
kdestroy_u
krbrig_kinit_as "$U" alice alicepw "$CC_U" || kg_fail "kinit alice again"
kg_check "and back to alice" get

# proxy.warm_connections = 0: none kept.
kgc_write_config_proxy "warm_idle_timeout = $IDLE;" "warm_connections = 0;" || exit 99
kg_check "reload with warm_connections = 0" kgc_reload
kg_check "reload closed the spares" kg_wait_for 30 no_spares
h0=$(handed)
for ((i = 0; i < 5; i++)); do get; done
sleep 1
kg_check "warm_connections = 0: no connection to the proxy kept after 5 requests" no_spares
kg_check "... and none handed out" test "$(handed)" = "$h0"

# Off the network: proxy.fallback "direct", and the proxy's LAN goes silent (every packet to
# it dropped, the spares' too: they stay "established" on the relay's side). The next
# connection's CONNECT on a spare is never acknowledged: a normal connect, which times out,
# the proxy is down, the client goes off the network, and holds no spare then.
KGC_FALLBACK=direct kgc_write_config_proxy "warm_idle_timeout = $IDLE;" || exit 99
kg_check "reload with fallback direct" kgc_reload
kg_check "warm again" get
kg_check "spares held" kg_wait_for 30 eval '[ -n "$(relay_ports)" ]'
ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || exit 99
table inet kgtest_warm {
	chain input {
		type filter hook input priority 0;
		tcp dport $PROXY_PORT drop
	}
}
EOF
kg_on_exit ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_warm 2>/dev/null
from=$(wc -l <"$LOG")
kgc_curl "$U" -m 20 -o /dev/null "https://$ORIGIN_HOST/" >/dev/null 2>&1
since() { tail -n +$((from + 1)) "$LOG" | grep -q "$1"; }
kg_check "the CONNECT on a spare, never acknowledged, went again on a new connection" \
	since "warm: the connection to .* failed before an answer (not acknowledged): a new one"
kg_check "the client is off the network (no proxy reachable)" \
	kg_wait_for 100 since "off the corporate network (no proxy reachable)"
kg_check "off the network: the relay holds no connection to the proxy" \
	kg_wait_for 30 eval '[ -z "$(relay_ports)" ]'
sleep 2
kg_check "... and makes none ($(relay_ports))" test -z "$(relay_ports)"
ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_warm

kgc_stop_client "$U"
kg_check "SIGTERM: exit 0" test "$KGC_RC" = 0
kg_finish
