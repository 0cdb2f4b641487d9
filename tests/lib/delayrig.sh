# shellcheck shell=bash
# A LAN round trip between the rig's host side and its proxy namespace (issue 15 item 2; netem
# is not in this kernel). Sourced after tests/lib/krbrig.sh, root only.
#
#   krbrig_delay_insert RTT_MS   puts tests/bench/delay-stage between the host's veth and the
#                                proxy namespace: everything between the host side and the proxy
#                                (and through it the origin, and the KDC) pays RTT_MS per round
#                                trip, the TCP handshake included, for the explicit path (curl -x)
#                                and the relay alike
#   krbrig_delay_remove          the direct link again
#   krbrig_delay_measure_ms      -> the median TCP connect time (ms) from the host side to
#                                PROXY_IP:PROXY_PORT over 20 connects: the round trip the rig has
#
# With the stage: host "${KG_TEST_ID}h" ---- "hostside" [ns $KG_TEST_ID-kgd, delay-stage]
# "dlyside" ---- "hostdly" [proxy ns, PROXY_IP, same MAC as hostside had]. hostdly takes the
# proxy's addresses and hostside's MAC, so the host's neighbour entry stays right; removal moves
# hostside back with the addresses. Only the rig's basic link moves: the issue-13 parts'
# links (tests/lib/pacrig.sh) are not delayed.
KRBRIG_DELAY_STAGE="${top_builddir:-.}/tests/bench/delay-stage"
KRBRIG_DELAY_NS="" KRBRIG_DELAY_PID="" KRBRIG_DELAY_ADDRS=""

krbrig_delay_insert() { # RTT_MS (may be fractional)
	local p=$KRBRIG_NS_PROXY one_way mac a
	[ -x "$KRBRIG_DELAY_STAGE" ] || { echo "# delay-stage not built" >&2; return 1; }
	[ -z "$KRBRIG_DELAY_PID" ] || krbrig_delay_remove || return 1
	one_way=$(awk -v r="$1" 'BEGIN { printf "%d", r * 500 }')
	if [ -z "$KRBRIG_DELAY_NS" ]; then
		kg_make_netns kgd KRBRIG_DELAY_NS || return 1
	fi
	mac=$(ip -n "$p" -o link show dev hostside | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	KRBRIG_DELAY_ADDRS=$(ip -n "$p" -4 -o addr show dev hostside | awk '{print $4}')
	[ -n "$mac" ] && [ -n "$KRBRIG_DELAY_ADDRS" ] || return 1
	ip -n "$p" link set dev hostside netns "$KRBRIG_DELAY_NS" &&
		ip -n "$KRBRIG_DELAY_NS" link add dlyside type veth peer name hostdly netns "$p" &&
		ip -n "$p" link set dev hostdly address "$mac" || return 1
	for a in $KRBRIG_DELAY_ADDRS; do
		ip -n "$p" addr add "$a" dev hostdly || return 1
	done
	ip -n "$p" link set dev hostdly up &&
		ip -n "$KRBRIG_DELAY_NS" link set dev hostside up &&
		ip -n "$KRBRIG_DELAY_NS" link set dev dlyside up || return 1
	ip netns exec "$KRBRIG_DELAY_NS" "$KRBRIG_DELAY_STAGE" hostside dlyside "$one_way" \
		>"$RIG/delay-stage.log" 2>&1 &
	KRBRIG_DELAY_PID=$!
	kg_on_exit kg_stop_pid "$KRBRIG_DELAY_PID"
	kg_wait_for 50 grep -q FORWARDING "$RIG/delay-stage.log"
}

krbrig_delay_remove() {
	local p=$KRBRIG_NS_PROXY a
	[ -n "$KRBRIG_DELAY_PID" ] || return 0
	kg_stop_pid "$KRBRIG_DELAY_PID"
	wait "$KRBRIG_DELAY_PID" 2>/dev/null
	KRBRIG_DELAY_PID=""
	ip -n "$p" link del dev hostdly &&
		ip -n "$KRBRIG_DELAY_NS" link set dev hostside netns "$p" || return 1
	for a in $KRBRIG_DELAY_ADDRS; do
		ip -n "$p" addr add "$a" dev hostside || return 1
	done
	ip -n "$p" link set dev hostside up
}

krbrig_delay_measure_ms() {
	python3 - "$PROXY_IP" "$PROXY_PORT" <<'EOF'
import socket, sys, time
t = []
for _ in range(20):
    a = time.monotonic()
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    t.append(time.monotonic() - a)
    c.close()
t.sort()
print("%.3f" % (1000 * t[len(t) // 2]))
EOF
}
