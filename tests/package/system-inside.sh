#!/bin/bash
# Runs INSIDE the package-test container, as root, after the package is installed (issue 17;
# nspawn-deb.sh copies tests/lib to /share/tests/lib). The host is made a realm member the way
# realm join leaves one: /etc/krb5.conf names the rig's realm and KDC, /etc/krb5.keytab holds
# host/<fqdn>@REALM from the rig's KDC. The system relay is turned on the way an administrator
# would, with preseeded debconf answers and dpkg-reconfigure; then `apt-get update` and
# `apt-get install` of a package from a small repository that the rig's origin serves over HTTP
# go through the Negotiate Squid as the host principal, with no proxy configuration anywhere:
# apt's downloads run as _apt, one of system.uids. The answer "no" then turns it off again.
# Prints TAP lines; the rig is stopped and the host's files are restored on exit.
#   system-inside.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/krbrig.sh"

CONF=/etc/kernelgatekeeper/kernelgatekeeper.conf
UNIT=kernelgatekeeper-system-client.service
ACCOUNT=_kernelgatekeeper
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

krbrig_start squid >/dev/null 2>"/tmp/krbrig-start.log" || { cat /tmp/krbrig-start.log; exit 99; }
fqdn=$(hostname --fqdn 2>/dev/null) || fqdn=$(hostname)
fqdn=${fqdn,,}
PRINC="host/$fqdn@$REALM"
echo "# host principal: $PRINC"

# --- A realm member: krb5.conf and the host keytab ---------------------------------------------
restore_host() {
	if [ -e /etc/krb5.conf.kgtest ]; then mv -f /etc/krb5.conf.kgtest /etc/krb5.conf; fi
	rm -f /etc/krb5.keytab /etc/apt/sources.list.d/kgtest.list
	if [ -e /etc/apt/sources.list.kgtest ]; then
		mv -f /etc/apt/sources.list.kgtest /etc/apt/sources.list
	fi
}
kg_on_exit restore_host
[ ! -e /etc/krb5.conf ] || cp -p /etc/krb5.conf /etc/krb5.conf.kgtest
cp "$KRB5_CONFIG" /etc/krb5.conf && chmod 644 /etc/krb5.conf
krbrig_ktadd "$RIG" "host/$fqdn" /etc/krb5.keytab 2>&1 && chmod 600 /etc/krb5.keytab || exit 99

# The proxy, as an administrator would set it (hand edits: dpkg-reconfigure keeps them).
sed -i -e "s|^\([[:space:]]*url = \)\"[^\"]*\";|\1\"$PROXY_URL\";|" \
	-e "s|^\([[:space:]]*spn = \)\"[^\"]*\";|\1\"$PROXY_SPN\";|" \
	-e "s|^\([[:space:]]*realm = \)\"[^\"]*\";|\1\"$REALM\";|" "$CONF"
systemctl reload kernelgatekeeper

# --- The repository: one tiny package, served by the origin on port 80 -------------------------
repo=$RIG/repo
mkdir -p "$repo" "$RIG/pkg/DEBIAN" "$RIG/pkg/usr/share/kg-hello"
cat >"$RIG/pkg/DEBIAN/control" <<EOF
Package: kg-hello
Version: 1.0
Architecture: all
Maintainer: KernelGatekeeper tests <kernelgatekeeper@example.org>
Description: test package fetched through the proxy
 Installed by tests/package/system-inside.sh.
EOF
echo "hello through the proxy" >"$RIG/pkg/usr/share/kg-hello/hello.txt"
dpkg-deb --root-owner-group --build "$RIG/pkg" "$repo/kg-hello_1.0_all.deb" >/dev/null &&
	(cd "$repo" && apt-ftparchive packages . >Packages && apt-ftparchive release . >Release) ||
	{ echo "Bail out! could not build the test repository"; exit 99; }
chmod -R a+rX "$repo"
krbrig_origin_files "$repo" || exit 99

# Only this repository: the container cannot reach the Debian mirror of its sources.list.
[ ! -e /etc/apt/sources.list ] || mv /etc/apt/sources.list /etc/apt/sources.list.kgtest
echo "deb [trusted=yes] http://$ORIGIN_IP/ ./" >/etc/apt/sources.list.d/kgtest.list

# --- Helpers --------------------------------------------------------------------------------------
not() { ! "$@" 2>/dev/null; } # not CMD...: CMD fails
prints() { [ "$("${@:2}" 2>/dev/null)" = "$1" ]; } # prints WORD CMD...: CMD says WORD
system_key() { # the line of KEY inside the system { } group
	sed -n -e '/^[[:space:]]*system[[:space:]]*[=:]/,/^[[:space:]]*}/{' \
		-e "/^[[:space:]]*$1[[:space:]]*[=:]/p" -e '}' "$CONF"
}
clean_env() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
squid_logged() { # squid_logged REGEX: an access-log line matches REGEX and names $PRINC
	grep -F -- "$PRINC" "$(krbrig_access_log)" | grep -Eq -- "$1"
}
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		env -i PATH=/usr/bin:/bin HOME=/nonexistent "$@"
}
reconfigure() { # reconfigure LOG: dpkg-reconfigure with the preseeded answers
	DEBIAN_FRONTEND=noninteractive dpkg-reconfigure -f noninteractive kernelgatekeeper \
		>"$1" 2>&1 || sed 's/^/# /' "$1"
}
diagnose() {
	echo "# --- $UNIT"
	systemctl status "$UNIT" --no-pager -n 0 2>&1 | sed 's/^/# /'
	journalctl --no-pager -n 25 -u "$UNIT" 2>&1 | sed 's/^/# /'
	journalctl --no-pager -n 10 -u kernelgatekeeper.service 2>&1 | sed 's/^/# /'
	kernelgatekeeper-ctl status 2>&1 | sed 's/^/# ctl status: /'
	echo "# --- system { } of $CONF"
	sed -n '/^[[:space:]]*system[[:space:]]*[=:]/,/^[[:space:]]*}/p' "$CONF" | sed 's/^/# /'
	echo "# --- Squid's access log"
	tail -n 15 "$(krbrig_access_log)" 2>&1 | sed 's/^/# /'
}
KG_ON_FAILURE=diagnose

# --- Before: installed, disabled, its account made -------------------------------------------------
kg_check "$UNIT is installed disabled" prints disabled systemctl is-enabled "$UNIT"
kg_check "$UNIT is not running" test "$(systemctl is-active "$UNIT")" != active
kg_check "the account $ACCOUNT exists (home /nonexistent, no login shell)" \
	grep -qE "^$ACCOUNT:x:[0-9]+:[0-9]+:[^:]*:/nonexistent:/usr/sbin/nologin\$" /etc/passwd
kg_check "the conf has system.enable = false" grep -q 'enable = false;' <<<"$(system_key enable)"

# --- On: debconf and dpkg-reconfigure --------------------------------------------------------------
# The principal left empty: the relay derives host/<fqdn>@<default realm> itself.
debconf-set-selections <<EOF
kernelgatekeeper kernelgatekeeper/system_enable boolean true
kernelgatekeeper kernelgatekeeper/system_principal string
EOF
reconfigure "$RIG/reconf-on.log"
kg_check "reconfigure wrote system.enable = true" grep -q 'enable = true;' <<<"$(system_key enable)"
kg_check "system.principal stays \"\" (host/<fqdn>)" \
	grep -qF 'principal = "";' <<<"$(system_key principal)"
kg_check "the hand-edited proxy url survived" grep -qF "url = \"$PROXY_URL\";" "$CONF"
kg_check "$UNIT is enabled" prints enabled systemctl is-enabled "$UNIT"
kg_check "$UNIT is active" kg_wait_for 100 prints active systemctl is-active "$UNIT"
pid=$(systemctl show -P MainPID "$UNIT")
kg_check "the system relay runs as $ACCOUNT, not root" \
	test "${pid:-0}" != 0 -a "$(ps -o uid= -p "${pid:-0}" | tr -d ' ')" = "$(id -u "$ACCOUNT")"
kg_check "the keytab on disk is not readable by $ACCOUNT" not setpriv --reuid="$ACCOUNT" \
	--regid="$ACCOUNT" --clear-groups -- dd if=/etc/krb5.keytab of=/dev/null status=none
kg_check "kernelgatekeeper-ctl status shows the derived principal $PRINC" \
	kg_wait_for 100 eval 'kernelgatekeeper-ctl status 2>&1 | grep -qF -- "$PRINC"'
kernelgatekeeper-ctl status 2>&1 | grep -iE 'system|host/' | sed 's/^/# ctl status: /'

# --- apt with no proxy configuration -----------------------------------------------------------------
kg_check "apt-config dump has no Acquire::*::Proxy" \
	eval '! clean_env apt-config dump | grep -iE "^Acquire::[a-z]+::Proxy"'
kg_check "no proxy variable in the environment or /etc/environment" \
	eval '! { env; cat /etc/environment 2>/dev/null; } | grep -iE "^(http|https|ftp|all)_proxy="'
if clean_env apt-get update -q >"$RIG/apt-update.log" 2>&1; then
	kg_pass "apt-get update (no proxy settings) exits 0"
else
	kg_fail "apt-get update (no proxy settings) exits 0"
	sed 's/^/# /' "$RIG/apt-update.log"
fi
sed 's/^/# apt-get update: /' "$RIG/apt-update.log" | head -n 8
kg_check "apt knows kg-hello 1.0 from the repository" \
	grep -q 'Candidate: 1.0' <<<"$(clean_env apt-cache policy kg-hello 2>&1)"
if clean_env apt-get install -y -q kg-hello >"$RIG/apt-install.log" 2>&1; then
	kg_pass "apt-get install kg-hello exits 0"
else
	kg_fail "apt-get install kg-hello exits 0"
	sed 's/^/# /' "$RIG/apt-install.log"
fi
kg_check "kg-hello is installed" grep -q 'through the proxy' /usr/share/kg-hello/hello.txt
kg_check "Squid logged apt-get update's Release fetch as $PRINC" \
	kg_wait_for 50 squid_logged "GET http://$ORIGIN_IP/[^ ]*Release "
kg_check "Squid logged apt-get install's download as $PRINC" \
	kg_wait_for 50 squid_logged "GET http://$ORIGIN_IP/[^ ]*kg-hello_1\.0_all\.deb "
grep -F "http://$ORIGIN_IP/" "$(krbrig_access_log)" | head -n 6 | sed 's/^/# squid: /'

# root, and a uid that is not in system.uids
body=$(clean_env curl -sS --max-time 20 "http://$ORIGIN_IP/Release" 2>&1)
kg_check "curl as root (no proxy variables) reaches the origin through the system relay" \
	grep -q 'Packages' <<<"$body"
kg_check "curl as nobody (not in system.uids) is not steered: it fails" \
	not as_nobody curl -sS --max-time 10 -o /dev/null "http://$ORIGIN_IP/Release"
clean_env apt-get purge -y -q kg-hello >/dev/null 2>&1

# --- The principal named explicitly: written, and the running relay restarted with it -------------
echo "kernelgatekeeper kernelgatekeeper/system_principal string $PRINC" | debconf-set-selections
reconfigure "$RIG/reconf-principal.log"
kg_check "reconfigure wrote system.principal" \
	grep -qF "principal = \"$PRINC\";" <<<"$(system_key principal)"
kg_check "the system relay was restarted" \
	kg_wait_for 100 eval '[ "$(systemctl show -P MainPID "$UNIT")" != "$pid" ]'
kg_check "$UNIT is active again" kg_wait_for 100 prints active systemctl is-active "$UNIT"
kg_check "kernelgatekeeper-ctl status shows $PRINC" \
	kg_wait_for 100 eval 'kernelgatekeeper-ctl status 2>&1 | grep -qF -- "$PRINC"'
body=$(clean_env curl -sS --max-time 20 "http://$ORIGIN_IP/Packages" 2>&1)
kg_check "curl as root still reaches the origin" grep -q 'kg-hello' <<<"$body"

# --- Off again ---------------------------------------------------------------------------------
echo "kernelgatekeeper kernelgatekeeper/system_enable boolean false" | debconf-set-selections
reconfigure "$RIG/reconf-off.log"
kg_check "reconfigure wrote system.enable = false" grep -q 'enable = false;' <<<"$(system_key enable)"
kg_check "the principal stays in the file" \
	grep -qF "principal = \"$PRINC\";" <<<"$(system_key principal)"
kg_check "$UNIT is disabled again" prints disabled systemctl is-enabled "$UNIT"
kg_check "$UNIT is stopped" kg_wait_for 100 eval '[ "$(systemctl is-active "$UNIT")" != active ]'
kg_check "curl as root is no longer relayed: it fails" \
	not clean_env curl -sS --max-time 10 -o /dev/null "http://$ORIGIN_IP/Release"

kg_finish
