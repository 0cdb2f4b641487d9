#!/bin/bash
# Desktop notices of the Kerberos ticket (issue 18) end to end: uid U's relay gets a session
# bus of its own (a private dbus-daemon run as U, DBUS_SESSION_BUS_ADDRESS in the relay's
# environment), on which tests/helpers/kg-notify-recorder owns org.freedesktop.Notifications
# and records every call. A valid ticket: no notice. One that ends within kerberos.warn_before (default 10 min): one
# "expires in" notice naming kinit; the same state reported again: none. No ticket
# (kdestroy): one notice naming kinit, replacing the first; reported again: none. A valid
# ticket again: the notice is closed. uid V's relay has no session bus
# and works as before. The notices' rules in detail: tests/unit/test_desktop_notify.c.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_cmd dbus-daemon unshare
RECORDER="$top_builddir/tests/helpers/kg-notify-recorder"
[ -x "$RECORDER" ] || kg_skip "kg-notify-recorder not built"

kgc_setup squid
PAGE="kgtest origin: hello"
BUS="$KG_TMP/bus-$U"
mkdir -m 700 "$BUS" && chown "$U:$U" "$BUS" || exit 99
# dbus-daemon wants a passwd entry for its uid and its clients' (the test uids have none): it
# runs in a mount namespace of its own where a copy of /etc/passwd names uid U. unshare, sh
# and setpriv exec: $! is the daemon's PID, then the recorder's.
{ cat /etc/passwd; echo "kgtest$U:x:$U:$U::/nonexistent:/usr/sbin/nologin"; } >"$KG_TMP/passwd"
chmod 644 "$KG_TMP/passwd"
unshare -m sh -c 'mount --bind "$1" /etc/passwd && exec setpriv --reuid="$2" --regid="$2" \
	--clear-groups --inh-caps=-all -- dbus-daemon --session --nofork --print-address \
	--address="unix:path=$3/bus"' sh "$KG_TMP/passwd" "$U" "$BUS" >"$BUS.addr" 2>"$BUS.err" &
kg_on_exit kg_stop_pid "$!"
kg_wait_for 100 test -s "$BUS.addr" || {
	echo "# dbus-daemon did not start:"
	cat "$BUS.err"
	exit 99
}
ADDR=$(head -n1 "$BUS.addr")
kg_uid_path "$RECORDER" RECORDER
setpriv --reuid="$U" --regid="$U" --clear-groups --inh-caps=-all -- \
	"$RECORDER" "$ADDR" >"$BUS.rec" 2>&1 &
kg_on_exit kg_stop_pid "$!"
kg_wait_for 100 grep -q "^ready" "$BUS.rec" || {
	echo "# kg-notify-recorder did not start:"
	cat "$BUS.rec"
	exit 99
}

KGC_CLIENT_ENV="DBUS_SESSION_BUS_ADDRESS=$ADDR" kgc_start_client "$U" || exit 99
KGC_CLIENT_ENV="" kgc_start_client "$V" || exit 99
notices() { grep -c "^notify " "$BUS.rec"; }
# report: SIGHUP makes uid U's relay look at its ticket again; wait for it to have done so
# (the worker's answer takes milliseconds; 2 s is ample).
report() {
	kill -HUP "${KGC_PID[$U]}"
	sleep 2
}

report
kg_check "a valid ticket: no notice" test "$(notices)" = 0

krbrig_kinit_as "$U" alice alicepw "" -l 5m
report
kg_check "a ticket that ends in 5 min: one notice" kg_wait_for 50 eval '[ "$(notices)" = 1 ]'
kg_check "... from KernelGatekeeper, that says when and names kinit" \
	grep -q "^notify 0|KernelGatekeeper|Kerberos ticket expires soon|Your Kerberos ticket (alice@$REALM) expires in [45] min; run kinit" \
	"$BUS.rec" || cat "$BUS.rec"
report
kg_check "the same ticket reported again: no second notice" test "$(notices)" = 1

kgc_app "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="FILE:$KRBRIG_CCDIR/krb5cc_$U" kdestroy -q
report
kg_check "no ticket: one more notice" kg_wait_for 50 eval '[ "$(notices)" = 2 ]'
kg_check "... replacing the first, that names kinit" \
	grep -qx "notify 1|KernelGatekeeper|No Kerberos ticket|You have no Kerberos ticket; web access through the proxy fails until you run kinit." \
	"$BUS.rec" || cat "$BUS.rec"
report
kg_check "no ticket reported again: no other notice" test "$(notices)" = 2

krbrig_kinit_as "$U" alice alicepw ""
report
kg_check "the ticket back: no new notice, the last one closed" \
	eval '[ "$(notices)" = 2 ] && kg_wait_for 50 grep -qx "close 2" "$BUS.rec"'
kg_check "... once" test "$(grep -c "^close" "$BUS.rec")" = 1
out=$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "uid $U's relay works (curl: $out)" test "$out" = "$PAGE"
out=$(kgc_curl "$V" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "uid $V's relay, without a session bus, works (curl: $out)" test "$out" = "$PAGE"
kg_check "both relays still run" eval 'kill -0 "${KGC_PID[$U]}" && kill -0 "${KGC_PID[$V]}"'
kg_finish
