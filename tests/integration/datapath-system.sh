#!/bin/bash
# The system relay's rules in the service and the datapath (issue 17), with kg-probe as the
# relay (no Kerberos: tests/integration/system-relay.sh runs the real one through Squid).
# Only system.user registers for other uids, only for uids of system.uids; root's steered
# connection is read by the system relay and by no other uid; a uid with its own client is its
# client's, before and after the system relay registers, and goes back to the system relay when
# its client ends; a uid outside system.uids is not steered; a reload that disables it ends it.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"
kg_require_root
kg_require_cmd useradd userdel

U=$KG_UID_U
V=$KG_UID_V
# The relay's account: system.user is a name the service resolves.
R_NAME="kgsys$$"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	"$R_NAME" >/dev/null 2>&1 || kg_skip "cannot add the test system user"
kg_on_exit userdel "$R_NAME"
R=$(id -u "$R_NAME")
kg_dp_setup "system = { enable = true; user = \"$R_NAME\"; uids = ( \"root\", $U ); };"

out=$(kg_app "$U" "$KG_PROBE" relay "$KG_SOCK" --system 2>&1)
kg_expect "uid U cannot register as the system relay" \
	"REFUSED only system.user ($R_NAME, uid $R) may register as the system relay, not uid $U" \
	"$out"
out=$(kg_app 0 "$KG_PROBE" relay "$KG_SOCK" --system 2>&1)
kg_expect "root cannot register as the system relay" "REFUSED the system relay never runs as root" \
	"$out"
out=$(kg_app "$R" "$KG_PROBE" relay "$KG_SOCK" --system-uids "0,$V" 2>&1)
kg_expect "the system relay cannot register a uid outside system.uids" \
	"REFUSED uid $V is not in system.uids" "$out"

kg_start_relay "$R" --other-uid "$V" --system || exit 99
SYS_PID=$KG_RELAY_PID
kg_check "the service logs the system relay and its uids" \
	grep -q "system relay registered: uid $R .* for root, $U" "$KG_TMP/service.log"

out=$(kg_probe_app 0 192.0.2.10 443)
kg_expect "root's connection: the system relay reads its original destination; uid V may not" \
	"ORIGDST 192.0.2.10:443 OTHER=denied" "$out"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "U (in system.uids, no client) is served by the system relay" \
	"ORIGDST 192.0.2.10:443 OTHER=denied" "$out"
kg_expect "V (not in system.uids) is not steered" "DIRECT 192.0.2.10:443" \
	"$(kg_probe_app "$V" 192.0.2.10 443)"
out=$(kg_probe_app "$V" 127.0.0.1 "$KG_RELAY_PORT4")
kg_expect "V straight to the system relay's port gets no original destination" "NOORIGDST" "$out"
out=$(kg_app "$R" "$KG_PROBE" relay "$KG_SOCK" --system 2>&1)
kg_expect "a second system relay is refused" "REFUSED a system relay is already registered" "$out"

SYS_PORT4=$KG_RELAY_PORT4
out=$(kg_app 0 "$KG_CTL" --socket "$KG_SOCK" status 2>&1)
kg_check "ctl status (root) shows root's row on the system relay's port" \
	grep -Eq "^root +[0-9]+ +$SYS_PORT4 " <<<"$out"
kg_check "... and the system relay's own row" grep -Eq "^$R_NAME +[0-9]+ +$SYS_PORT4 " <<<"$out"

# U's own client wins: it takes U over, and gives it back when it ends.
kg_start_relay "$U" || exit 99
U_PID=$KG_RELAY_PID
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "U's own client takes U over" "ORIGDST 192.0.2.10:443" "$out"
kg_check "... not the system relay (no OTHER= on U's own relay)" \
	sh -c "! printf '%s' \"\$1\" | grep -q OTHER=" sh "$out"
kg_expect "root still goes to the system relay" "ORIGDST 192.0.2.10:443 OTHER=denied" \
	"$(kg_probe_app 0 192.0.2.10 443)"
kg_check "the service says so" grep -q "uid $U: its own client takes over from the system relay" \
	"$KG_TMP/service.log"
kg_stop_pid "$U_PID"
kg_wait_for 50 grep -q "uid $U: its own client is gone; the system relay serves it again" \
	"$KG_TMP/service.log"
kg_expect "U's client gone: the system relay serves U again" \
	"ORIGDST 192.0.2.10:443 OTHER=denied" "$(kg_probe_app "$U" 192.0.2.10 443)"

# A uid whose client is registered before the system relay is not given to it.
kg_stop_pid "$SYS_PID"
kg_check "the system relay gone, root's connections go direct" kg_wait_for 50 eval \
	'[[ "$(kg_probe_app 0 192.0.2.10 443)" == *"DIRECT 192.0.2.10:443"* ]]'
kg_start_relay "$U" || exit 99
kg_start_relay "$R" --other-uid "$V" --system || exit 99
kg_check "the service leaves U with its own client" \
	grep -q "uid $U has its own client: the system relay does not serve it" "$KG_TMP/service.log"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_check "U lands on its own client" sh -c "printf '%s' \"\$1\" | grep -q 'ORIGDST' && \
	! printf '%s' \"\$1\" | grep -q OTHER=" sh "$out"
kg_expect "root lands on the new system relay" "ORIGDST 192.0.2.10:443 OTHER=denied" \
	"$(kg_probe_app 0 192.0.2.10 443)"

# The system relay says "direct" (off the corporate network): for every uid it serves.
FR="$KG_TMP/control-sys"
mkfifo -m 600 "$FR" && chown "$R" "$FR"
kg_stop_pid "$KG_RELAY_PID"
kg_start_relay "$R" --other-uid "$V" --system --control "$FR" || exit 99
printf 'direct offsite\n' >"$FR"
kg_check "the system relay's \"direct\" is accepted" \
	kg_wait_for 50 grep -q "^ROUTE OK" "$KG_RELAY_LOG"
kg_expect "root goes direct with it" "DIRECT 192.0.2.10:443" "$(kg_probe_app 0 192.0.2.10 443)"
printf 'steer\n' >"$FR"
kg_check "... and is steered again after \"steer\"" kg_wait_for 50 eval \
	'[[ "$(kg_probe_app 0 192.0.2.10 443)" == *"ORIGDST 192.0.2.10:443 OTHER=denied"* ]]'

# A reload that turns the system relay off ends its registration: root goes direct again.
kg_dp_write_config 443 "system = { enable = false; user = \"$R_NAME\"; uids = ( \"root\", $U ); };"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_check "the service ends the system relay's registration on a reload that disables it" \
	grep -q "system { } changed on reload (the system relay is off" "$KG_TMP/service.log"
kg_check "root's connections go direct" kg_wait_for 50 eval \
	'[[ "$(kg_probe_app 0 192.0.2.10 443)" == *"DIRECT 192.0.2.10:443"* ]]'

kg_finish
