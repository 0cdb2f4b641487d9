#!/bin/bash
# Off the corporate network (issue 13, DESIGN.md §8): a registered client tells the service to
# stop steering its user (KG_MSG_CLIENT_ROUTE_STATE), and the datapath then leaves that user's
# connections alone, counted as skipped_direct_by_client. Only the user's own registered client
# may say so, for its own uid; the word dies with the client's IPC connection.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
V=$KG_UID_V
kg_dp_setup

stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }
fifo_for() { # fifo_for UID: a control FIFO that UID's relay can open
	local f="$KG_TMP/control-$1"
	mkfifo -m 600 "$f" && chown "$1" "$f"
	printf '%s' "$f"
}

FU=$(fifo_for "$U")
kg_start_relay "$U" --control "$FU" || exit 99
RU=$KG_RELAY_LOG
RU_PID=$KG_RELAY_PID

# Steered, as always.
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "before: U's connection lands on U's relay" "ORIGDST 192.0.2.10:443" "$out"
red0=$(stat_of redirected)
dir0=$(stat_of skipped_direct_by_client)
kg_check "before: the direct counter is 0" test "$dir0" = 0

# The client says "direct": U's connections go straight to the destination.
kg_expect "U's client may say direct" "ROUTE OK" \
	"$(kg_relay_say "$FU" "$RU" "direct no proxy reachable")"
kg_check "the journal says so" kg_wait_for 30 grep -q \
	"uid $U: client says off the corporate network (no proxy reachable); connections go direct" \
	"$KG_TMP/service.log"
kg_expect "direct: IPv4 reaches 192.0.2.10:443 itself" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
kg_expect "direct: IPv6 reaches [2001:db8::10]:443 itself" "DIRECT [2001:db8::10]:443" \
	"$(kg_probe_app "$U" 2001:db8::10 443)"
kg_expect "direct: v4-mapped reaches 192.0.2.10:443 itself" "DIRECT 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443 -6)"
out=$(kg_app "$U" curl -s --http0.9 --max-time 5 "http://192.0.2.10:443/" 2>&1)
kg_expect "direct: curl reaches the origin itself" "DIRECT 192.0.2.10:443" "$out"
kg_check "direct: the redirect counter did not move ($red0 -> $(stat_of redirected))" \
	test "$(stat_of redirected)" = "$red0"
kg_check "direct: the direct counter counts the 4 connections ($(stat_of skipped_direct_by_client))" \
	test "$(stat_of skipped_direct_by_client)" = $((dir0 + 4))
out=$(kg_app "$U" "$KG_CTL" --socket "$KG_SOCK" status 2>&1)
kg_check "U's ctl status shows the state (direct: no proxy reachable since HH:MM)" \
	grep -qE "^  direct: no proxy reachable since [0-9]{2}:[0-9]{2} " <<<"$out"
out=$("$KG_CTL" --socket "$KG_SOCK" clients 2>&1)
kg_expect "root's ctl clients shows it too" "direct: no proxy reachable since" "$out"
kg_expect "saying it again is fine" "ROUTE OK" \
	"$(kg_relay_say "$FU" "$RU" "direct no proxy reachable")"
kg_expect "a reason with a control character is refused" "ROUTE ERROR the reason must be printable" \
	"$(kg_relay_say "$FU" "$RU" "$(printf 'direct bad\033[2Jreason')")"
kg_expect "... and the state stays" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"

# Nobody else has a say: not U's other connections, not V, whether registered or not.
kg_expect "U on a connection that is not its client is refused" "ROUTE ERROR not a registered client" \
	"$(kg_app "$U" "$KG_PROBE" route-state "$KG_SOCK" steer 2>&1)"
kg_expect "V without a registered client is refused" "ROUTE ERROR not a registered client" \
	"$(kg_app "$V" "$KG_PROBE" route-state "$KG_SOCK" direct "V says" 2>&1)"
kg_expect "... and U's state is unchanged" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"

# Back on the network.
kg_expect "U's client may say steer" "ROUTE OK" "$(kg_relay_say "$FU" "$RU" steer)"
kg_check "the journal says so" kg_wait_for 30 grep -q \
	"uid $U: client says back on the corporate network; connections are steered again" \
	"$KG_TMP/service.log"
kg_expect "steered again: U lands on U's relay" "ORIGDST 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
out=$(kg_app "$U" "$KG_CTL" --socket "$KG_SOCK" status 2>&1)
if grep -q "direct:" <<<"$out"; then kg_fail "ctl status no longer shows direct"; else kg_pass "ctl status no longer shows direct"; fi

# V's registered client going direct affects V only.
FV=$(fifo_for "$V")
kg_start_relay "$V" --control "$FV" || exit 99
RV=$KG_RELAY_LOG
kg_expect "V's client may say direct for V" "ROUTE OK" \
	"$(kg_relay_say "$FV" "$RV" "direct V is at home")"
kg_expect "V goes direct" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$V" 192.0.2.10 443)"
kg_expect "U is still steered" "ORIGDST 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
out=$("$KG_CTL" --socket "$KG_SOCK" clients 2>&1)
kg_check "root's ctl clients shows one client direct" test "$(grep -c 'direct:' <<<"$out")" = 1

# The word dies with the client's connection: a new client of U starts out steered.
kg_expect "U's client says direct again" "ROUTE OK" "$(kg_relay_say "$FU" "$RU" "direct probe")"
kg_expect "U goes direct" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
kg_stop_pid "$RU_PID"
wait "$RU_PID" 2>/dev/null
kg_wait_for 30 grep -q "client of uid $U (pid $RU_PID) disconnected" "$KG_TMP/service.log"
rm -f "$FU"
FU=$(fifo_for "$U")
kg_start_relay "$U" --control "$FU" || exit 99
kg_expect "after U's client re-registers, U is steered until it says otherwise" \
	"ORIGDST 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
kg_expect "V is still direct" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$V" 192.0.2.10 443)"

kg_finish
