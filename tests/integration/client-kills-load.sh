#!/bin/bash
# The service and a client killed with SIGKILL under load (issue 16 item 5), as the users see
# it. The service: 20 tunnels in flight all complete intact, the client registers again within
# 2 s of the new service's socket, and new connections are steered again. A client: its user's
# next connection is unsteered at once (here: "No route to host", nothing at the proxy), while
# the other user's transfers in flight and new ones go on untouched.
# client-kills.sh kills the KDC and restarts the proxy.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kgc_setup squid
kgc_start_client "$U" || exit 99
kgc_start_client "$V" || exit 99
PAGE="kgtest origin: hello"
ORIGIN_PY="$KRBRIG_LIB_DIR/origin.py"
N=20
SIZE=$((64 << 20))
WANT=$(python3 "$ORIGIN_PY" digest "$SIZE")
works() { test "$(kgc_curl "$1" -m 5 "https://$ORIGIN_HOST/" 2>/dev/null)" = "$PAGE"; }

# start_downloads UID COUNT RATE TAG: COUNT downloads of SIZE bytes as UID at RATE each, in the
# background; each writes "rc sha256" to $KG_TMP/TAG.I. DL_PIDS gets their PIDs.
start_downloads() {
	local i
	DL_PIDS=()
	for ((i = 0; i < $2; i++)); do
		(
			f="$KG_TMP/$4.$i"
			sum=$({
				kgc_curl "$1" -m 120 --limit-rate "$3" \
					"https://$ORIGIN_HOST/bytes/$SIZE" 2>"$f.err"
				echo $? >"$f.rc"
			} | sha256sum | cut -d' ' -f1)
			echo "$(cat "$f.rc") $sum" >"$f"
		) &
		DL_PIDS+=($!)
	done
}
# downloads_intact COUNT TAG: every one ended with curl 0 and the right digest
downloads_intact() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ "$(cat "$KG_TMP/$2.$i" 2>/dev/null)" = "0 $WANT" ] || return 1
	done
}
downloads_summary() { # COUNT TAG: how many were intact
	local i ok=0
	for ((i = 0; i < $1; i++)); do
		[ "$(cat "$KG_TMP/$2.$i" 2>/dev/null)" = "0 $WANT" ] && ok=$((ok + 1))
	done
	echo "$ok/$1"
}
downloads_over() {
	local p
	for p in "${DL_PIDS[@]}"; do
		! kill -0 "$p" 2>/dev/null || return 1
	done
}
wait_downloads() { # bounded: 120 s (curl's own -m) and then some
	kg_wait_for 1300 downloads_over
	wait "${DL_PIDS[@]}" 2>/dev/null
}
tunnels_open() { # UID: established TCP connections of that uid's client to the proxy
	ss -Htn state established "dst $PROXY_IP:$PROXY_PORT" -p 2>/dev/null |
		grep -c "pid=${KGC_PID[$1]},"
}

kg_check "baseline: both users' https works" eval 'works "$U" && works "$V"'

# --- the service is killed with 20 tunnels in flight -----------------------------------------
# 64 MiB each at 4 MB/s: about 16 s, far longer than the service is away.
start_downloads "$U" "$N" 4M svc
kg_wait_for 100 eval '[ "$(tunnels_open "$U")" -ge "$N" ]'
kg_check "$N tunnels open and transferring ($(tunnels_open "$U") connections to the proxy)" \
	eval '[ "$(tunnels_open "$U")" -ge "$N" ]'
sleep 1
regs=$(kgc_registrations "$U")
# The socket file the service leaves behind stays (as it would); the new service says
# "started" once it listens on its own.
starts=$(grep -c "kernelgatekeeper-service .* started:" "$KG_TMP/service.log")
kill -KILL "$KG_SERVICE_PID"
wait "$KG_SERVICE_PID" 2>/dev/null
kg_check "the client notices the service went away" \
	kg_wait_for 30 grep -q "went away" "$(kgc_client_log "$U")"
# Away for 7 s: long enough for the client's retries to be spaced out (backoff) by then.
sleep 7
kg_start_service || exit 99 # (returns at once: the old socket file is still there)
kg_wait_for 100 eval '[ "$(grep -c "kernelgatekeeper-service .* started:" "$KG_TMP/service.log")" -gt "$starts" ]' ||
	exit 99
t_sock=$(krbrig_now_ms)
kg_wait_for 100 eval '[ "$(kgc_registrations "$U")" -gt "$regs" ]'
t_reg=$(krbrig_now_ms)
kg_check "the client re-registered $((t_reg - t_sock)) ms after the new service listened (want < 2000)" \
	eval '[ "$(kgc_registrations "$U")" -gt "$regs" ] && [ $((t_reg - t_sock)) -lt 2000 ]'
kg_check "kernelgatekeeper-ctl clients lists uid $U again" \
	kg_wait_for 20 eval '"$KG_CTL" --socket "$KG_SOCK" clients | grep -qw "$U"'
kg_check "new connections are steered again" works "$U"
alive=0
for p in "${DL_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
kg_check "the downloads were still running after the restart ($alive of $N)" test "$alive" = "$N"
wait_downloads
kg_check "all $N downloads across the SIGKILL completed intact ($(downloads_summary "$N" svc))" \
	downloads_intact "$N" svc

# --- alice's client is killed while both users transfer -------------------------------------
start_downloads "$V" 5 8M bob
bob_pids=("${DL_PIDS[@]}")
start_downloads "$U" 2 8M alice
alice_pids=("${DL_PIDS[@]}")
kg_wait_for 100 eval '[ "$(tunnels_open "$V")" -ge 5 ] && [ "$(tunnels_open "$U")" -ge 2 ]'
sleep 1
bob_regs=$(kgc_registrations "$V")
svc_lines=$(wc -l <"$KG_TMP/service.log")
t_kill=$(krbrig_now_ms)
kill -KILL "${KGC_PID[$U]}"
wait "${KGC_PID[$U]}" 2>/dev/null
# How soon is alice unsteered: the service's line, and her connects (each must fail as an
# unsteered one does here: at once, "No route to host"; never a hang on a dead relay port).
kg_wait_for 50 eval 'tail -n +$((svc_lines + 1)) "$KG_TMP/service.log" | grep -q "client of uid $U .*disconnected"'
t_svc=$(krbrig_now_ms)
kg_check "the service saw alice's client go within $((t_svc - t_kill)) ms (want < 1000)" \
	eval 'tail -n +$((svc_lines + 1)) "$KG_TMP/service.log" | grep -q "client of uid $U .*disconnected" && [ $((t_svc - t_kill)) -lt 1000 ]'
# Her tunnels died with the client; the proxy logs a CONNECT when it ends.
DL_PIDS=("${alice_pids[@]}")
wait_downloads
sleep 0.5
before=$(kgc_access_lines)
t0=$(krbrig_now_ms)
err=$(kgc_curl "$U" -m 10 -o /dev/null "https://$ORIGIN_HOST/" 2>&1)
rc=$?
ms=$(($(krbrig_now_ms) - t0))
kg_check "alice's next connect is unsteered: no route to the origin (curl $rc, ${ms} ms, want 7 and < 1000)" \
	eval '[ $rc = 7 ] && [ $ms -lt 1000 ]'
echo "# curl: $err"
ok=0
for ((i = 0; i < 10; i++)); do
	kgc_curl "$U" -m 5 -o /dev/null "https://$ORIGIN_HOST/" 2>/dev/null
	[ $? = 7 ] && ok=$((ok + 1))
done
kg_check "... and so are her next 10 ($ok/10 fail at once)" test "$ok" = 10
kg_check "bob's new connections work meanwhile" works "$V"
DL_PIDS=("${bob_pids[@]}")
wait_downloads
kg_check "bob's 5 downloads in flight completed intact ($(downloads_summary 5 bob))" \
	downloads_intact 5 bob
echo "# alice's 2 downloads in flight when her client died:" $(cat "$KG_TMP"/alice.?.err)
kg_check "the proxy saw nothing new from alice after the kill, and bob's requests" \
	eval '! kgc_access_since "$before" "alice@" && kgc_access_since "$before" "bob@$REALM"'
kg_check "bob's client still runs, not registered again" \
	eval 'kill -0 "${KGC_PID[$V]}" && [ "$(kgc_registrations "$V")" = "$bob_regs" ]'
kg_finish
