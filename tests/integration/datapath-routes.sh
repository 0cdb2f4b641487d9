#!/bin/bash
# Route reports (issue 13, `ctl watch`), the service's side: a registered client is told
# whether a watcher may see its user's routes (KG_MSG_CLIENT_WATCHED: root's watch or the
# user's own, not another user's); its reports (KG_MSG_CLIENT_ROUTE) reach those watchers as
# "route uid=U ..." lines with the uid of the client's connection, rate-limited; a connection
# that is not a registered client is refused, and a report whose payload names a uid is
# malformed and costs the client its link. kg-probe plays the client.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
V=$KG_UID_V
kg_require_cmd timeout
# shellcheck disable=SC2119 # no extra configuration lines
kg_dp_setup

FU="$KG_TMP/control-$U"
mkfifo -m 600 "$FU" && chown "$U" "$FU" || exit 99
kg_start_relay "$U" --control "$FU" || exit 99
RU=$KG_RELAY_LOG
# V's client is older than route reports: never told about watches (it would take the
# message for a malformed one).
kg_start_relay "$V" --old || exit 99
RV=$KG_RELAY_LOG
RV_PID=$KG_RELAY_PID
W_ROOT=$KG_TMP/watch-root.log
W_U=$KG_TMP/watch-u.log
W_V=$KG_TMP/watch-v.log

# say LINE: one control line to U's relay, and wait for its REPORT or BURST line.
say() {
	local n
	n=$(grep -cE '^(REPORT|BURST) ' "$RU")
	printf '%s\n' "$1" >"$FU"
	# shellcheck disable=SC2016 # expanded by the eval
	kg_wait_for 50 eval '[ "$(grep -cE "^(REPORT|BURST) " "$RU")" -gt "$n" ]'
	grep -E '^(REPORT|BURST) ' "$RU" | tail -n 1
}
watched_lines() { grep -c "^WATCHED $1" "$RU"; }

# Nobody but a registered client reports, whoever asks (before any watch: a uid without a
# passwd entry has one IPC connection besides its client).
kg_expect "U on a connection that is not its client is refused" "ROUTE ERROR not a registered client" \
	"$(kg_app "$U" "$KG_PROBE" route-report "$KG_SOCK" 2>&1)"
kg_expect "V (whose client is older) on another connection is refused" "ROUTE ERROR not a registered client" \
	"$(kg_app "$V" "$KG_PROBE" route-report "$KG_SOCK" 2>&1)"
kg_expect "root is refused" "ROUTE ERROR not a registered client" \
	"$("$KG_PROBE" route-report "$KG_SOCK" 2>&1)"

# Another user's watch does not make U's client report.
# A command, not a function, in the background: $! is then timeout itself, which ends the
# watch with it.
timeout -k 2 120 setpriv --reuid="$V" --regid="$V" --clear-groups -- \
	"$KG_CTL" --socket "$KG_SOCK" watch >"$W_V" 2>&1 &
kg_on_exit kg_stop_pid "$!"
sleep 1
kg_check "V's watch: U's client is not told that someone watches" test "$(watched_lines 1)" = 0

# Root's watch does.
timeout -k 2 120 "$KG_CTL" --socket "$KG_SOCK" watch >"$W_ROOT" 2>&1 &
ROOT_WATCH=$!
kg_on_exit kg_stop_pid "$ROOT_WATCH"
kg_check "root's watch: U's client is told (WATCHED 1)" kg_wait_for 50 grep -q "^WATCHED 1" "$RU"
sleep 0.5
if grep -q WATCHED "$RV"; then kg_fail "V's older client is not told"; else kg_pass "V's older client is not told"; fi
kg_check "... and keeps its link" eval "! kg_gone $RV_PID && ! grep -q 'SERVICE GONE' '$RV'"
kg_expect "U's client reports a route" "REPORT sent" \
	"$(say "report www.example.test via p2:3128 (p1:3128 down)")"
kg_check "root's watch prints it with U's uid" kg_wait_for 50 grep -q \
	"route    uid=$U 192.0.2.10:443 www.example.test via p2:3128 (p1:3128 down)\$" "$W_ROOT"
kg_expect "a report without a host" "REPORT sent" "$(say "report - DIRECT by PAC")"
kg_check "root's watch prints '-' for it" kg_wait_for 50 grep -q \
	"route    uid=$U 192.0.2.10:443 - DIRECT by PAC\$" "$W_ROOT"

# U's own watch sees U's reports; V's sees none.
timeout -k 2 120 setpriv --reuid="$U" --regid="$U" --clear-groups -- \
	"$KG_CTL" --socket "$KG_SOCK" watch >"$W_U" 2>&1 &
U_WATCH=$!
kg_on_exit kg_stop_pid "$U_WATCH"
sleep 1
kg_expect "another report" "REPORT sent" "$(say "report intranet.test failed: every proxy down")"
kg_check "U's watch prints it" kg_wait_for 50 grep -q \
	"route    uid=$U 192.0.2.10:443 intranet.test failed: every proxy down\$" "$W_U"
if grep -q route "$W_V"; then kg_fail "V's watch sees no route of U's"; else kg_pass "V's watch sees no route of U's"; fi

# Rate limit: a burst of 1000 reaches root's watch as at most two seconds' worth.
before=$(grep -c "burst.test" "$W_ROOT")
kg_expect "a burst of 1000 reports" "BURST sent=" "$(say "burst 1000 burst.test via p1:3128")"
sleep 2
n=$(($(grep -c "burst.test" "$W_ROOT") - before))
# (the count of those dropped is logged with the next report that passes)
kg_expect "a report after the burst" "REPORT sent" "$(say "report after.test via p1:3128")"
kg_check "root's watch got between 1 and 400 of them ($n)" test "$n" -ge 1 -a "$n" -le 400
kg_check "the service says how many it dropped" kg_wait_for 30 grep -q \
	"uid $U: [0-9]* route reports dropped (more than 200/s)" "$KG_TMP/service.log"

# The watchers leave: U's client is told.
kg_stop_pid "$U_WATCH"
kg_stop_pid "$ROOT_WATCH"
kg_check "no watcher of U left: WATCHED 0" kg_wait_for 50 grep -q "^WATCHED 0" "$RU"

# A report naming a uid (even another's) is malformed: the client loses its link, no watcher sees it.
timeout -k 2 120 "$KG_CTL" --socket "$KG_SOCK" watch >"$W_ROOT" 2>&1 &
kg_on_exit kg_stop_pid "$!"
# shellcheck disable=SC2016 # expanded by the eval
kg_check "root watches again: WATCHED 1 again" \
	kg_wait_for 50 eval '[ "$(watched_lines 1)" -ge 2 ]'
say "forge $V evil.test via forged" >/dev/null
kg_check "a report naming uid $V ends the client's link" kg_wait_for 50 grep -q "SERVICE GONE" "$RU"
kg_check "the service logs it as malformed" grep -q "malformed IPC message from pid .* uid $U" \
	"$KG_TMP/service.log"
sleep 1
if grep -q "evil.test" "$W_ROOT" "$W_V"; then kg_fail "no watch saw the forged report"; else kg_pass "no watch saw the forged report"; fi
kg_check "the watches print no control character" \
	eval "! LC_ALL=C grep -q '[[:cntrl:]]' '$W_ROOT' '$W_U' '$W_V'"
# shellcheck disable=SC2317 # called by kg_finish
show_logs() {
	echo "# --- relay of U"
	sed 's/^/#   /' "$RU"
	echo "# --- service.log"
	tail -n 30 "$KG_TMP/service.log" | sed 's/^/#   /'
}
KG_ON_FAILURE=show_logs
kg_finish
