#!/bin/bash
# The hostile local user (issue 11): every attack runs as a real second uid against the real
# service and ctl, through restarts, crashes and floods, not only in the steady state.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"
kg_require_cmd nft sysctl

U=$KG_UID_U
V=$KG_UID_V
# A uid with a passwd entry: the connection limits treat it as a person, not as one of many
# subordinate uids.
REAL=$(getent passwd nobody | cut -d: -f3)
[ -n "$REAL" ] || kg_skip "needs a passwd entry for nobody"
# Uids with no passwd entry, as /etc/subuid hands them out.
SUB0=3100000
getent passwd "$SUB0" >/dev/null && kg_skip "uid $SUB0 has a passwd entry"

KG_DP_LOG_LEVEL=info kg_dp_setup
kg_uid_path "$top_srcdir/tests/lib/adversary.py" ADV_PY

# adv UID [--bg] CMD ARGS...: the adversary helper as UID in the test cgroup and namespace. With
# --bg it runs in the background: ADV_PID and ADV_LOG name it.
adv() {
	local uid=$1
	shift
	if [ "$1" = --bg ]; then
		shift
		ADV_LOG="$KG_TMP/adv-$uid-$1-$RANDOM.log"
		"$KG_INCG" "$KG_CGROUP" nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$uid" \
			--regid="$uid" --clear-groups -- "$KG_PYTHON" "$ADV_PY" "$@" >"$ADV_LOG" 2>&1 &
		ADV_PID=$!
		kg_on_exit kg_stop_pid "$ADV_PID"
		return 0
	fi
	kg_app "$uid" "$KG_PYTHON" "$ADV_PY" "$@" 2>&1
}

# adv_client UID: a registered client of UID that obeys SIGUSR1/SIGTERM as adversary.py says.
# Sets CLIENT_PID, CLIENT_PORT.
adv_client() {
	adv "$1" --bg client "$KG_SOCK" "${@:2}"
	CLIENT_PID=$ADV_PID
	CLIENT_LOG=$ADV_LOG
	kg_wait_for 50 grep -qE "REGISTERED|ERROR" "$CLIENT_LOG"
	CLIENT_PORT=$(awk '/^REGISTERED/ {print $2; exit}' "$CLIENT_LOG")
	[ -n "$CLIENT_PORT" ] || { echo "# client of $1 did not register: $(cat "$CLIENT_LOG")"; return 1; }
}

# --- 2: the listener port in the gap after a client dies ------------------------------------
# V spins bind(127.0.0.1:PORT) on U's relay port while U's client goes away in each way a
# client can, and U keeps connecting to a steered destination. Whatever V's listener accepts
# is one of U's connections (the SNI, or a whole request with cookies).
hijack_round() { # hijack_round HOW
	local how=$1 squat dial
	adv_client "$U" || return 1
	adv "$V" --bg squat "$CLIENT_PORT" 5
	squat=$ADV_LOG
	adv "$U" --bg dial 192.0.2.10 443 5
	dial=$ADV_LOG
	sleep 1
	case $how in
	SIGKILL) kill -KILL "$CLIENT_PID" ;;
	SIGTERM) kill -TERM "$CLIENT_PID" ;;
	restart)
		kill -TERM "$CLIENT_PID"
		kg_wait_for 30 kg_gone "$CLIENT_PID"
		adv_client "$U" || return 1
		sleep 2
		kill -KILL "$CLIENT_PID"
		;;
	esac
	kg_wait_for 100 grep -q '^SQUAT' "$squat"
	kg_wait_for 100 grep -q '^DIAL' "$dial"
	printf '# %s: %s, %s\n' "$how" "$(tail -n 1 "$squat")" "$(tail -n 1 "$dial")"
	if grep -q '^ACCEPTED' "$squat"; then
		kg_fail "client $how: V's bind() on U's relay port accepted U's connections: $(grep -m1 '^ACCEPTED' "$squat")"
	else
		kg_pass "client $how: V never accepts one of U's connections on U's relay port"
	fi
	kg_wait_for 50 kg_gone "$CLIENT_PID"
}
hijack_round SIGTERM
hijack_round SIGKILL
hijack_round restart

# --- 1: a relay port handed to the next user while the old entry lives ----------------------
# One free port in the namespace: U's client closes its listeners but stays registered, V
# registers (and may get the very same port), then U leaves. V's relay port must stay vouched
# for: with connection tracking on, a direct connection to it gets no original destination.
old_range=$(ip netns exec "$KG_NS" sysctl -n net.ipv4.ip_local_port_range)
ip netns exec "$KG_NS" sysctl -qw net.ipv4.ip_local_port_range="40123 40123"
adv_client "$U" || exit 99
kg_check "U's relay got the only free port" test "$CLIENT_PORT" = 40123
kill -USR1 "$CLIENT_PID"
sleep 0.3
v_registered=0
kg_start_relay "$V" >"$KG_TMP/v-first.out" && v_registered=1
sed 's/^/# V while U holds the port: /' "$KG_TMP/v-first.out"
V_RELAY=$KG_RELAY_PID
kill -TERM "$CLIENT_PID"
kg_wait_for 50 kg_gone "$CLIENT_PID"
sleep 0.3
if [ "$v_registered" = 0 ]; then
	# The port was still the service's while U's entry lived: V registers once U is gone.
	kg_stop_pid "$V_RELAY"
	kg_start_relay "$V" || exit 99
	V_RELAY=$KG_RELAY_PID
fi
kg_check "V's relay has the port U had" test "$KG_RELAY_PORT4" = 40123
# The connections below need source ports again.
ip netns exec "$KG_NS" sysctl -qw net.ipv4.ip_local_port_range="$old_range"
ip netns exec "$KG_NS" nft -f - <<'NFT'
table inet kgadv {
	chain out { type filter hook output priority 0; ct state new accept; }
}
NFT
kg_on_exit ip netns exec "$KG_NS" nft delete table inet kgadv
out=$(kg_probe_app "$U" 127.0.0.1 40123)
kg_expect "after U left, a direct connection to V's relay (same port as U's) gets no original destination" \
	"NOORIGDST" "$out"
out=$(kg_probe_app "$V" 192.0.2.10 443)
kg_expect "V's own connections are still steered to V's relay" "ORIGDST 192.0.2.10:443" "$out"
ip netns exec "$KG_NS" nft delete table inet kgadv
kg_stop_pid "$V_RELAY"

# --- 3: one person fills the IPC connection table -------------------------------------------
# 64 uids without a passwd entry (subordinate uids) open 16 idle connections each: before, that
# was the whole table, and registrations and root's ctl were refused.
adv "$REAL" --bg idle "$KG_SOCK" 25
IDLE_LOG=$ADV_LOG
kg_wait_for 50 grep -q CONNECTED "$IDLE_LOG"
FILL_LOG="$KG_TMP/fill.log"
fill() { # UID0 NUIDS PER: uids UID0.. each hold PER idle connections for 8 s; sets held
	# Emptied here, not by the background job's redirection: that happens after the fork, so
	# the wait below could read the previous fill's FILLED line first.
	: >"$FILL_LOG"
	"$KG_INCG" "$KG_CGROUP" "$KG_PYTHON" "$ADV_PY" fill "$KG_SOCK" "$1" "$2" "$3" 8 \
		>"$FILL_LOG" 2>&1 &
	FILL_PID=$!
	kg_on_exit kg_stop_pid "$FILL_PID"
	kg_wait_for 400 grep -q '^FILLED' "$FILL_LOG"
	printf '# %s\n' "$(cat "$FILL_LOG")"
	held=$(sed -n 's/^FILLED held=\([0-9]*\).*/\1/p' "$FILL_LOG")
}
real_registers() { # WHEN: a user with a passwd entry can still register
	if kg_start_relay "$REAL" >"$KG_TMP/real.out"; then
		kg_pass "$1, a user with a passwd entry (uid $REAL) can register"
		kg_stop_pid "$KG_RELAY_PID"
	else
		kg_fail "$1, uid $REAL cannot register: $(tr '\n' '|' <"$KG_TMP/real.out")"
	fi
}
fill "$SUB0" 64 16
kg_check "64 uids without a passwd entry hold at most one connection each ($held held)" \
	test "${held:-9999}" -le 64
real_registers "with the table under attack"
out=$("$KG_CTL" --socket "$KG_SOCK" status 2>&1)
kg_expect "with the table under attack, root's ctl status answers" "kernelgatekeeper-service" "$out"
kg_wait_for 100 kg_gone "$FILL_PID"
kg_wait_for 250 grep -qE '^(CLOSED|OPEN)' "$IDLE_LOG"
idle=$(sed -n 's/^CLOSED after //p' "$IDLE_LOG")
kg_check "an idle connection (neither client nor watcher) is closed after about 10 s (${idle:-$(tail -n 1 "$IDLE_LOG")})" \
	awk -v t="${idle:-0}" 'BEGIN { exit !(t >= 9 && t <= 20) }'
# One person holds thousands of subordinate uids, each allowed one connection: all uids without
# a passwd entry share one budget of 128 slots, so 200 of them cannot take the table either.
getent passwd $((SUB0 + 64)) $((SUB0 + 263)) >/dev/null && kg_skip "uids past $SUB0 have passwd entries"
fill $((SUB0 + 64)) 200 1
kg_check "200 uids without a passwd entry hold at most 128 connections together ($held held)" \
	test "${held:-9999}" -le 128
real_registers "with 200 such uids connected"
kg_wait_for 100 kg_gone "$FILL_PID"

# --- 5: escape sequences for root's terminal ------------------------------------------------
# A principal and a process name made of ESC, BEL and newline: root's ctl clients and ctl watch
# must print no byte below 0x20 but the newline.
ctrl_bytes() { LC_ALL=C tr -d '\n\040-\377' | wc -c; }
adv_client "$U" 1b5d303b6f776e6564076d616c6c6f72790a464f52474544 || exit 99
kg_expect "the service refuses a principal with control characters" "REPORT ERROR" "$(cat "$CLIENT_LOG")"
"$KG_CTL" --socket "$KG_SOCK" watch >"$KG_TMP/watch-root.log" 2>&1 &
WATCH_PID=$!
kg_on_exit kg_stop_pid "$WATCH_PID"
sleep 0.5
adv "$U" dial 192.0.2.10 443 1 1b5d323b6f776e6564070a726f6f74 >/dev/null
kg_wait_for 30 grep -q 'dest=192.0.2.10:443' "$KG_TMP/watch-root.log"
kg_stop_pid "$WATCH_PID"
out=$("$KG_CTL" --socket "$KG_SOCK" clients 2>&1)
kg_check "root's ctl clients lists U's client" grep -q "^$U " <<<"$out"
kg_check "root's ctl clients prints no control character" test "$(ctrl_bytes <<<"$out")" = 0
kg_check "root's ctl watch saw U's connection" grep -q 'dest=192.0.2.10:443' "$KG_TMP/watch-root.log"
kg_check "root's ctl watch prints no control character" \
	test "$(ctrl_bytes <"$KG_TMP/watch-root.log")" = 0
kill -TERM "$CLIENT_PID"
kg_wait_for 30 kg_gone "$CLIENT_PID"

# --- 7: watchers and counters ---------------------------------------------------------------
kg_app "$REAL" timeout -k 2 4 "$KG_CTL" --socket "$KG_SOCK" watch >/dev/null 2>&1 &
W1=$!
kg_on_exit kg_stop_pid "$W1"
sleep 0.5
out=$(kg_app "$REAL" timeout -k 2 3 "$KG_CTL" --socket "$KG_SOCK" watch 2>&1)
kg_expect "a user gets one ctl watch at a time" "already watching" "$out"
kg_check "a user's ctl watch leaves the datapath's wake-ups batched (live_events 0)" \
	test "$(kg_live_events "$KG_SERVICE_PID")" = 0
kg_stop_pid "$W1"
out=$(kg_app "$V" "$KG_CTL" --socket "$KG_SOCK" stats 2>&1)
kg_expect "a user's ctl stats is refused (the counters are every user's)" "root's" "$out"
out=$("$KG_CTL" --socket "$KG_SOCK" stats 2>&1)
kg_expect "root's ctl stats answers" "redirected" "$out"

# --- 6: flooding the journal ----------------------------------------------------------------
# V opens connections beyond its share, then sends malformed datagrams, for 3 s: a few dozen
# lines at most, and the next line after the interval says how many were suppressed.
flood_lines() { grep -cE 'refusing IPC connection|malformed IPC message' "$KG_TMP/service.log"; }
before=$(flood_lines)
out=$(adv "$V" flood "$KG_SOCK" 3)
printf '# %s\n' "$out"
attempts=$(sed -n 's/^FLOOD //p' <<<"$out")
logged=$(($(flood_lines) - before))
kg_check "the flood was one ($attempts attempts in 3 s)" test "${attempts:-0}" -ge 200
kg_check "a 3 s flood logs at most a few dozen lines ($logged)" test "$logged" -le 40
sleep 5.5
adv "$V" flood "$KG_SOCK" 0.2 >/dev/null
kg_wait_for 20 grep -qE '[0-9]+ similar message\(s\) suppressed' "$KG_TMP/service.log"
n=$(grep -oE '[0-9]+ similar message\(s\) suppressed' "$KG_TMP/service.log" | awk '{s += $1} END {print s + 0}')
kg_check "the summary lines count the suppressed ones ($n)" test "$n" -ge 100

# After all of it the service stops as usual (and, in a sanitizer build, without a report).
kg_stop_pid "$KG_SERVICE_PID"
kg_check "the service stops cleanly after the attacks" \
	grep -q "stopped; all programs detached" "$KG_TMP/service.log"
if grep -qE "Sanitizer|runtime error" "$KG_TMP/service.log"; then
	kg_fail "sanitizer report in the service's log: $(grep -m1 -E "Sanitizer|runtime error" "$KG_TMP/service.log")"
else
	kg_pass "no sanitizer report in the service's log"
fi

kg_finish
