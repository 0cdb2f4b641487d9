#!/bin/bash
# Runs INSIDE the package-test container, as root, after the package is installed
# (nspawn-deb.sh copies tests/lib to /share/tests/lib). Starts the project's Kerberos rig
# (KDC + Negotiate Squid + origin, in namespaces of the container's own), points the installed
# configuration at it, gets USER a ticket in the MIT default cache FILE:/tmp/krb5cc_UID, and has
# USER curl the origin with no proxy variables: the packaged service steers the connection and
# the packaged user unit tunnels it. Prints TAP lines; the rig is stopped on exit.
#   negotiate-inside.sh USER UID
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/krbrig.sh"

U=$1
uid=$2
CONF=/etc/kernelgatekeeper/kernelgatekeeper.conf

krbrig_start squid >/dev/null 2>"/tmp/krbrig-start.log" || { cat /tmp/krbrig-start.log; exit 99; }
krbrig_add_user "$U" "pw-$U" || exit 99
kg_check "kinit as $U into FILE:/tmp/krb5cc_$uid" \
	krbrig_kinit_as "$uid" "$U" "pw-$U" "FILE:/tmp/krb5cc_$uid"

# The proxy and its principal, as an administrator would set them.
sed -i -e "s|^\([[:space:]]*url = \)\"[^\"]*\";|\1\"$PROXY_URL\";|" \
	-e "s|^\([[:space:]]*spn = \)\"[^\"]*\";|\1\"$PROXY_SPN\";|" \
	-e "s|^\([[:space:]]*realm = \)\"[^\"]*\";|\1\"$REALM\";|" "$CONF"
systemctl reload kernelgatekeeper
systemctl --user -M "$U@" set-environment "KRB5_CONFIG=$KRB5_CONFIG"
systemctl --user -M "$U@" restart kernelgatekeeper-client
registered() { grep -q "^$U " <<<"$(kernelgatekeeper-ctl clients 2>&1)"; }
kg_check "$U's client registered again with the rig's configuration" kg_wait_for 100 registered

as_user() {
	setpriv --reuid="$uid" --regid="$uid" --init-groups -- \
		env -i PATH=/usr/bin:/bin HOME="/home/$U" "$@"
}
body80=$(as_user curl -sS --max-time 20 "http://$ORIGIN_IP/" 2>&1)
kg_check "curl http://$ORIGIN_IP/ as $U (no proxy variables) reaches the origin" \
	grep -q 'kgtest origin' <<<"$body80"
body=$(as_user curl -sS --max-time 20 --cacert "$ORIGIN_CA" \
	--resolve "$ORIGIN_HOST:443:$ORIGIN_IP" "https://$ORIGIN_HOST/" 2>&1)
kg_check "curl https://$ORIGIN_HOST/ as $U goes through a Negotiate CONNECT" \
	grep -q 'kgtest origin' <<<"$body"
kg_check "Squid logged $U's Kerberos principal" \
	kg_wait_for 50 krbrig_access_log_has "$U@$REALM"
kg_check "the ticket cache now holds the proxy's service ticket" \
	grep -q "HTTP/$PROXY_HOST@$REALM" <<<"$(as_user klist -c "FILE:/tmp/krb5cc_$uid" 2>&1)"
[ "$KG_FAILS" = 0 ] || {
	printf '# http body: %s\n# https body: %s\n' "$body80" "$body"
	kernelgatekeeper-ctl clients 2>&1 | sed 's/^/# /'
	journalctl --no-pager -n 15 _SYSTEMD_USER_UNIT=kernelgatekeeper-client.service | sed 's/^/# /'
	journalctl --no-pager -n 15 -u kernelgatekeeper.service | sed 's/^/# /'
}
kg_finish
