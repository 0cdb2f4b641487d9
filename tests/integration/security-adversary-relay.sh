#!/bin/bash
# A second local user (uid V) against user U's relay, and U's Kerberos token against an origin,
# through restarts, crashes and reloads of the service (issue 11, the client's part):
#   - with connection tracking on, the kernel itself answers SO_ORIGINAL_DST for V's direct
#     connection to U's relay port (naming the relay's own address); while the datapath's maps
#     are gone (service stopped, restarting, killed) U's relay must not tunnel V's request with
#     U's ticket, and the connections V got queued on U's old listeners are not served;
#   - those refusals are logged a few times, with a count, not once per connection;
#   - a port-80 keep-alive connection that outlives a switch of proxy.type from http to none
#     (SIGHUP, or a service restart) never sends Proxy-Authorization to the origin.
# The service, the clients and the applications run in a network namespace of the test's own
# (the rig's host link moved into it), so the nft "ct" rule touches nothing else.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_root
kg_require_cmd nft nsenter
kg_make_netns cli KG_NS
kgc_setup squid
kgc_move_host_side "$KG_NS" || exit 99
kg_uid_path "$top_srcdir/tests/lib/rider.py" RIDER
LOG_U=$(kgc_client_log "$U")
PAGE="kgtest origin: hello"
kgc_start_client "$U" || exit 99
kg_check "baseline: U's https through the proxy in the test namespace" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

# Connection tracking on in the test namespace: from now on the kernel answers SO_ORIGINAL_DST
# for every tracked socket, V's direct connections to U's relay included.
ip netns exec "$KG_NS" nft -f - <<'NFT' || exit 99
table inet kgtest_ct {
	chain out { type filter hook output priority 0; ct state new accept; }
}
NFT

u_targets() { # the listeners of U's last registration, as rider.py targets
	grep -o 'relay on 127.0.0.1:[0-9]*\( and \[::1\]:[0-9]*\)\?' "$LOG_U" | tail -n1 |
		sed -e 's/^relay on //' -e 's/ and /\n/'
}
wait_registered() { # SEEN: U's client registered once more than SEEN times
	registered_seen=$1 # (the eval runs inside kg_wait_for: named variables only)
	kg_wait_for 150 eval '[ "$(kgc_registrations "$U")" -gt "$registered_seen" ]'
}
restart_service() { # SIGNAL: stop the service with it, start it again, wait for U's client
	local seen
	seen=$(kgc_registrations "$U")
	if [ "$1" = KILL ]; then kill -KILL "$KG_SERVICE_PID"; fi
	kg_stop_pid "$KG_SERVICE_PID"
	wait "$KG_SERVICE_PID" 2>/dev/null
	sleep 0.3 # V keeps dialling while there is no service
	kg_start_service || return 1
	wait_registered "$seen"
}
marker_seen() { # MARK: the proxy's access log names it
	grep -q -- "$1" "$(krbrig_access_log)"
}

# --- V's requests queued on U's listeners while the maps that vouch for them go away ---------
# U's client is frozen (as a client stuck in a slow call would be) while the service stops:
# V's connections wait in the backlog of U's listeners, and once U's client runs again the
# kernel (conntrack) would name U's relay address as their original destination. V connects
# after the stop (the client then learns of the stop first: its listeners must close without
# serving their backlog), or before it (the client then finds V's connection first: the
# relay's own address as the destination must be refused).
queued_case() { # after|before MARK
	local when=$1 mark=$2 targets seen hold_pid
	read -r -a targets < <(u_targets | tr '\n' ' ')
	kill -STOP "${KGC_PID[$U]}"
	if [ "$when" = after ]; then
		kg_stop_pid "$KG_SERVICE_PID"
		wait "$KG_SERVICE_PID" 2>/dev/null
	fi
	kgc_app "$V" "$KG_PYTHON" "$RIDER" hold "$mark" 4 "${targets[@]}" >"$KG_TMP/hold.out" 2>&1 &
	hold_pid=$!
	kg_wait_for 50 grep -q "^SENT" "$KG_TMP/hold.out"
	if [ "$when" = before ]; then
		kg_stop_pid "$KG_SERVICE_PID"
		wait "$KG_SERVICE_PID" 2>/dev/null
	fi
	seen=$(kgc_registrations "$U")
	kill -CONT "${KGC_PID[$U]}"
	kg_start_service || exit 99
	wait_registered "$seen"
	wait "$hold_pid"
	sed 's/^/# rider: /' "$KG_TMP/hold.out"
	kg_check "V connected to U's frozen relay $when the service stopped ($(
		grep -o 'SENT [0-9]*' "$KG_TMP/hold.out"))" grep -q "^SENT [1-9]" "$KG_TMP/hold.out"
	kg_check "... and none of V's requests reached the proxy with U's ticket (no $mark)" \
		eval '! marker_seen "$mark"'
	kg_check "... and none was answered" grep -q "^HOLD .* answered=0 " "$KG_TMP/hold.out"
	kg_check "U still works after its client re-registered" \
		test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
}
kg_on_exit kill -CONT "${KGC_PID[$U]}"
queued_case before "vqb$$"
kg_check "... the relay refused it for naming the relay's own address" \
	grep -q "to the relay port: its original destination 127.0.0.1:[0-9]* is one the datapath never steers to" "$LOG_U"
queued_case after "vqa$$"

# --- V dials U's relay ports without pause while the service stops, restarts and is killed --
MARK2="vs$$"
u_targets >"$KG_TMP/targets"
chmod 644 "$KG_TMP/targets"
refusals_before=$(grep -c "to the relay port" "$LOG_U")
kgc_app "$V" "$KG_PYTHON" "$RIDER" spin "$MARK2" 60 "$KG_TMP/targets" "$KG_TMP/stop" \
	>"$KG_TMP/spin.out" 2>&1 &
spin_pid=$!
kg_on_exit touch "$KG_TMP/stop"
sleep 1
for how in TERM KILL TERM; do
	restart_service "$how" || kg_fail "the service came back after SIG$how"
	u_targets >>"$KG_TMP/targets" # the new listeners; the old ports stay targets
	sleep 1
done
touch "$KG_TMP/stop"
wait "$spin_pid"
sed 's/^/# rider: /' "$KG_TMP/spin.out"
attempts=$(grep -o 'attempts=[0-9]*' "$KG_TMP/spin.out" | cut -d= -f2)
kg_check "V dialled U's relay ports throughout (${attempts:-0} attempts)" \
	test "${attempts:-0}" -gt 100
kg_check "... and not one of V's requests reached the proxy (no $MARK2 in the access log)" \
	eval '! marker_seen "$MARK2"'
kg_check "... and none was answered" grep -q "answered=0$" "$KG_TMP/spin.out"
# The count of what was not logged comes once the client's interval (10 s) is over.
kg_check "a line counts the refusals the client did not log one by one" \
	kg_wait_for 150 grep -q "more refused connection(s) to the relay port not logged" "$LOG_U"
lines=$(($(grep -c "to the relay port" "$LOG_U") - refusals_before))
kg_check "the client logged V's refused connections in a few lines ($lines), not one each" \
	test "$lines" -le 10
grep "to the relay port" "$LOG_U" | tail -n1 | sed 's/^/# log: /'
kg_check "U still works after the restarts" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
ip netns exec "$KG_NS" nft delete table inet kgtest_ct

# --- the Negotiate token and an origin ------------------------------------------------------
# The origin becomes reachable straight from the test namespace (through the proxy namespace,
# routed), so proxy.type none works, and any Proxy-Authorization that goes straight to the
# origin shows up in its log. The keep-alive connection's first request goes through the proxy;
# then the proxy type changes to none and the proxy restarts (ending its connections, as its
# idle timeout would); the second request on that connection must not carry the token to the
# origin: the relay closes the connection instead.
origin_inner=${ORIGIN_IP%.*}.$((${ORIGIN_IP##*.} - 1))
ip -n "$KG_NS" route add "$ORIGIN_IP/32" via "$PROXY_IP" &&
	ip netns exec "$KRBRIG_NS_PROXY" sysctl -qw net.ipv4.ip_forward=1 &&
	ip -n "$KRBRIG_NS_ORIGIN" route add "$HOST_IP/32" via "$origin_inner" || exit 99
ORIGIN_LOG="$RIG/logs/origin.out"
restart_proxy() {
	krbrig_stop_pidfile proxy
	krbrig_spawn "$KRBRIG_NS_PROXY" proxy squid -N -f "$RIG/squid.conf"
	kg_wait_for 50 krbrig_listening "$KRBRIG_NS_PROXY" "$PROXY_PORT"
}
keepalive_start() { # N: U's keep-alive application, its first request answered
	rm -f "$KG_TMP/go$1"
	kgc_app "$U" "$KG_PYTHON" "$RIDER" keepalive "$ORIGIN_IP" "$KG_TMP/go$1" 30 \
		>"$KG_TMP/keepalive$1.out" 2>&1 &
	keepalive_pid=$!
	kg_wait_for 100 grep -q "^FIRST" "$KG_TMP/keepalive$1.out"
	kg_check "keep-alive $1: the first request went through the proxy ($(
		grep -o '^FIRST.*' "$KG_TMP/keepalive$1.out"))" grep -q "^FIRST 200" "$KG_TMP/keepalive$1.out"
}
keepalive_second() { # N WHAT: the second request, after the switch
	touch "$KG_TMP/go$1"
	wait "$keepalive_pid"
	sed 's/^/# app: /' "$KG_TMP/keepalive$1.out"
	kg_check "$2: the origin never saw Proxy-Authorization" \
		eval '! grep -q PROXY-AUTHORIZATION "$ORIGIN_LOG"'
	grep PROXY-AUTHORIZATION "$ORIGIN_LOG" | sed 's/^/# origin: /'
	kg_check "... and the keep-alive connection was closed, not sent elsewhere" \
		grep -q "^SECOND closed" "$KG_TMP/keepalive$1.out"
}

keepalive_start 1
KGC_PROXY_TYPE=none kgc_write_config
kgc_reload
restart_proxy
keepalive_second 1 "http -> none by SIGHUP"
kg_check "proxy.type none: a new connection reaches the origin directly" \
	test "$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "... from the test namespace's address, without Proxy-Authorization" \
	eval 'grep -q "^$HOST_IP .*GET / " "$ORIGIN_LOG" && ! grep -q PROXY-AUTHORIZATION "$ORIGIN_LOG"'

kgc_write_config
kgc_reload
keepalive_start 2
KGC_PROXY_TYPE=none kgc_write_config
restart_service TERM || exit 99
restart_proxy
keepalive_second 2 "http -> none by a service restart"
kg_finish
