#!/bin/bash
# A second local user (uid V) against user U's relay through restarts and crashes of the
# service (issue 11, the client's part):
#   - with connection tracking on, the kernel itself answers SO_ORIGINAL_DST for V's direct
#     connection to U's relay port (naming the relay's own address); while the datapath's maps
#     are gone (service stopped, restarting, killed) U's relay must not tunnel V's request with
#     U's ticket, and the connections V got queued on U's old listeners are not served;
#   - those refusals are logged a few times, with a count, not once per connection.
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

kg_finish
