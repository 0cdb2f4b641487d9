#!/bin/bash
# The system relay end to end (issue 17): kernelgatekeeper-client --system, run as a test
# system account with the keytab of host/client.kgtest.local from the rig's KDC, serves root and
# an _apt-like system user through the Negotiate Squid with no proxy settings, and Squid logs the
# host principal for them; a uid not in system.uids is not steered. The keytab at system.keytab
# is root's (0600): the relay reads it only from $CREDENTIALS_DIRECTORY, a directory of the
# relay's uid, as systemd's LoadCredential= makes it. It refuses to start while system.enable is
# false, as root, and without a readable keytab, each with its sentence.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_root
kg_require_cmd useradd userdel

# The relay's account and an _apt-like system user, removed on exit.
R_NAME="kgsys$$"
A_NAME="kgapt$$"
for n in "$R_NAME" "$A_NAME"; do
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		"$n" >/dev/null 2>&1 || kg_skip "cannot add the test system user $n"
	kg_on_exit userdel "$n"
done
R=$(id -u "$R_NAME")
A=$(id -u "$A_NAME")
HOST_PRINC="host/client.kgtest.local@$KRBRIG_REALM"

kgc_setup squid
# The keytab as /etc/krb5.keytab is: root's, 0600. The credentials directory: the relay's only.
krbrig_ktadd "$RIG" host/client.kgtest.local "$KG_TMP/root.keytab" || exit 99
chmod 600 "$KG_TMP/root.keytab"
mkdir -m 700 "$KG_TMP/creds" && cp "$KG_TMP/root.keytab" "$KG_TMP/creds/keytab" &&
	chmod 400 "$KG_TMP/creds/keytab" && chown -R "$R:$R" "$KG_TMP/creds" || exit 99
SYSLOG="$KG_TMP/client-system.log"

system_conf() { # ENABLE
	KGC_EXTRA_CONF="system = { enable = $1; user = \"$R_NAME\"; uids = ( \"root\", \"$A_NAME\" );
	keytab = \"$KG_TMP/root.keytab\"; principal = \"host/client.kgtest.local\"; };"
	kgc_write_config
}

sys_run() { # UID [env words...]: exec the system relay as UID in the test cgroup (call it in a
	local uid=$1 # subshell: ( sys_run ... ) or sys_run ... &), output to SYSLOG
	shift
	exec "$KG_INCG" "$KG_CGROUP" "${KGC_NS_ENTER[@]}" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups --inh-caps=-all -- \
		env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5RCACHEDIR="$KRB5RCACHEDIR" $KG_SANITIZER_ENV "$@" \
		"$KG_CLIENT" -c "$KG_CONF" --system >>"$SYSLOG" 2>&1
}

# Refusals, each its own sentence and a non-zero exit.
system_conf false
(sys_run "$R" CREDENTIALS_DIRECTORY="$KG_TMP/creds")
kg_check "system.enable = false: refused (exit 2)" test $? = 2
kg_check "... saying so" grep -q "the system relay is off: set system.enable = true" "$SYSLOG"
system_conf true
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
(sys_run 0 CREDENTIALS_DIRECTORY="$KG_TMP/creds")
kg_check "as root: refused (exit 1)" test $? = 1
kg_check "... saying so" grep -q "does not run as root: run it as system.user ($R_NAME)" "$SYSLOG"
kg_check "the relay's account cannot read the keytab on disk" \
	sh -c "! setpriv --reuid=$R --regid=$R --clear-groups cat '$KG_TMP/root.keytab' >/dev/null 2>&1"
(sys_run "$R")
kg_check "without the credential, system.keytab unreadable: refused (exit 1)" test $? = 1
kg_check "... saying so" \
	grep -q "cannot read the keytab $KG_TMP/root.keytab: Permission denied" "$SYSLOG"

# The relay with its credential.
sys_run "$R" CREDENTIALS_DIRECTORY="$KG_TMP/creds" &
SYS_PID=$!
kg_on_exit kg_stop_pid "$SYS_PID"
kg_wait_for 100 grep -q "registered with kernelgatekeeper-service" "$SYSLOG" || {
	echo "# the system relay did not register:"
	tail -n 20 "$SYSLOG"
	exit 99
}
kg_check "tickets for $HOST_PRINC from the credentials directory" \
	grep -q "system relay: tickets for $HOST_PRINC" "$SYSLOG"
kg_check "the service registered it for root and $A_NAME" \
	grep -q "system relay registered: uid $R .* for root, $A_NAME" "$KG_TMP/service.log"

PAGE="kgtest origin: hello"
out=$(kgc_curl 0 -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "root: http://origin.test/ with no proxy settings" test "$out" = "$PAGE"
out=$(kgc_curl 0 -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "root: https://origin.test/" test "$out" = "$PAGE"
kg_check "access log: GET http://origin.test/ by $HOST_PRINC" \
	krbrig_access_log_has "GET http://$ORIGIN_HOST/ $HOST_PRINC"
kg_check "access log: CONNECT origin.test:443 by $HOST_PRINC" \
	krbrig_access_log_has "CONNECT $ORIGIN_HOST:443 $HOST_PRINC"
lines=$(kgc_access_lines)
out=$(kgc_curl "$A" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "$A_NAME: http://origin.test/ with no proxy settings" test "$out" = "$PAGE"
kg_check "access log: the request of $A_NAME by $HOST_PRINC" \
	kgc_access_since "$lines" "GET http://$ORIGIN_HOST/ $HOST_PRINC"
lines=$(kgc_access_lines)
not_steered() { # UID: no page (the origin is unreachable unsteered), nothing at the proxy
	! kgc_curl "$1" -m 5 "http://$ORIGIN_HOST/" 2>/dev/null | grep -q "kgtest origin" &&
		! kgc_access_since "$lines" "GET http://$ORIGIN_HOST/ "
}
kg_check "uid $V (not in system.uids, no client) is not steered" not_steered "$V"

# ctl status (root): root's row names the machine principal and the ticket's end.
kg_check "ctl status shows root's row with $HOST_PRINC" kg_wait_for 100 eval \
	'"$KG_CTL" --socket "$KG_SOCK" status 2>&1 | grep -Eq "^root .* $HOST_PRINC +[0-9]"'

kg_stop_pid "$SYS_PID"
wait "$SYS_PID"
kg_check "SIGTERM: the system relay exits 0" test $? = 0
lines=$(kgc_access_lines)
kg_check "root is no longer steered once it is gone" not_steered 0

kg_finish
