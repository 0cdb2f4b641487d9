#!/bin/bash
# The Debian package in a booted Debian 12 systemd (systemd-nspawn, private network):
# apt install brings up the hardened service and, at the next login, every user's client;
# the journal carries our fields; dpkg-reconfigure with preseeded answers rewrites the proxy
# and the ports while a hand edit survives; the system relay, turned on through debconf, takes
# apt-get update and apt-get install through the Negotiate proxy as the host principal with no
# proxy configuration (system-inside.sh); apt purge leaves nothing behind; lintian is clean.
#
#   KG_DEB=/path/kernelgatekeeper_V_ARCH.deb   test this package (default: `make deb` here)
#   KGP_CACHE=/var/cache/kernelgatekeeper-test  where the debootstrapped rootfs is cached
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/nspawn-rig.sh"

kg_require_root
kg_require_cmd debootstrap systemd-nspawn zstd nsenter flock lintian dpkg-deb
kg_cgroup2_root >/dev/null || kg_skip "no cgroup v2 mount"

SECONDS=0
U=$KGP_TEST_USER
CONF=/etc/kernelgatekeeper/kernelgatekeeper.conf
W=$(mktemp -d /var/tmp/kgp-deb.XXXXXX)
kg_on_exit rm -rf --one-file-system "$W"
mkdir -p "$W/c/share"

# --- The package and the rootfs, built side by side ----------------------------------------
kgp_log "preparing the rootfs (cached under $KGP_CACHE)"
kgp_rootfs_tarball >"$W/rootfs.path" 2>"$W/rootfs.log" &
rootfs_pid=$!
# On an early exit let the rootfs build finish (it holds the cache lock the next run needs).
kg_on_exit wait "$rootfs_pid"
deb=$(kgp_deb "$W")
case $? in
0) ;;
77) kg_skip "needs KG_DEB or a configured build tree" ;;
*) echo "Bail out! make deb failed"; exit 99 ;;
esac
[ -f "$deb" ] || { echo "Bail out! no package at '$deb'"; exit 99; }
kgp_log "package: $(basename "$deb")"
cp "$deb" "$W/c/share/"
mkdir -p "$W/c/share/tests/package"
cp -r "$top_srcdir/tests/lib" "$W/c/share/tests/"
cp "$top_srcdir/tests/package/negotiate-inside.sh" "$top_srcdir/tests/package/system-inside.sh" \
	"$W/c/share/tests/package/"
lintian --fail-on error,warning --info "$deb" >"$W/lintian.log" 2>&1 &
lintian_pid=$!
kg_on_exit kg_stop_pid "$lintian_pid"
wait "$rootfs_pid" || { cat "$W/rootfs.log"; echo "Bail out! no rootfs"; exit 99; }
cat "$W/rootfs.log"

kgp_log "booting Debian 12 (systemd-nspawn --boot --private-network)"
kgp_boot "$W/c" || { echo "Bail out! container did not boot"; exit 99; }
kgp_log "booted: $(kgp_raw systemctl is-system-running)"

# --- Helpers --------------------------------------------------------------------------------
conf_has() { kgp_raw grep -qE "$1" "$CONF"; }
unit_prop() { kgp_raw systemctl show -P "$1" kernelgatekeeper.service; }
prints_active() { [ "$("$@")" = active ]; } # prints_active CMD...: CMD says "active"
client_state() { kgp_raw systemctl --user -M "$U@" is-active kernelgatekeeper-client; }
client_pid() { kgp_raw systemctl --user -M "$U@" show -P MainPID kernelgatekeeper-client; }
ctl() { kgp_raw kernelgatekeeper-ctl "$@"; }

# --- Install ----------------------------------------------------------------------------------
kgp_run debconf-set-selections <<-'EOF'
	kernelgatekeeper kernelgatekeeper/proxy_type select http
	kernelgatekeeper kernelgatekeeper/proxy_url string http://192.0.2.10:3128
	kernelgatekeeper kernelgatekeeper/realm string KGTEST.LOCAL
EOF
kgp_log "apt install ./$(basename "$deb") (offline: every dependency is in the rootfs)"
if kgp_run sh -c 'cd /share && apt install -y -q ./kernelgatekeeper_*.deb' >"$W/install.log" 2>&1; then
	kg_pass "apt install ./$(basename "$deb")"
else
	sed 's/^/    /' "$W/install.log" | tail -n 30
	kg_fail "apt install ./$(basename "$deb")"
fi
kg_check "the config was written from the preseeded answers" \
	conf_has '^[[:space:]]*url = "http://192\.0\.2\.10:3128";'
kg_check "the config is ucf's, not a dpkg conffile" \
	test -z "$(kgp_raw dpkg-query -W -f='${Conffiles}' kernelgatekeeper)"

kg_check "systemctl is-active kernelgatekeeper = active" \
	kg_wait_for 100 prints_active kgp_raw systemctl is-active kernelgatekeeper
kgp_raw systemctl status kernelgatekeeper --no-pager -n 5 >"$W/status.txt" 2>&1
sed 's/^/    /' "$W/status.txt"
kg_check "systemctl status shows the STATUS= line" grep -q 'Status: "' "$W/status.txt"
kgp_raw journalctl -u kernelgatekeeper -o verbose --no-pager >"$W/journal.txt" 2>&1
kg_check "journal: startup line with KG_CGROUP/KG_SOCKET and the service's CODE_FILE" \
	grep -q '^    KG_CGROUP=' "$W/journal.txt"
grep -E '^    (MESSAGE|KG_[A-Z_]+|CODE_FILE|CODE_LINE)=' "$W/journal.txt" | head -n 8

main_pid=$(unit_prop MainPID)
# CAP_NET_ADMIN (12), CAP_BPF (39)
kg_check "the service keeps only CAP_BPF and CAP_NET_ADMIN (CapBnd 0x8000001000)" \
	test "$(kgp_raw awk '/^CapBnd:/ { print $2 }' "/proc/$main_pid/status" 2>&1)" = 0000008000001000
kgp_raw bpftool cgroup tree /sys/fs/cgroup >"$W/bpf-installed.txt" 2>&1
attached() { grep -cE 'cgroup_inet[46]_(connect|getpeername)|sock_ops|cgroup_getsockopt' "$1"; }
kg_check "bpftool cgroup tree: connect4/6, getpeername4/6, sock_ops, getsockopt attached" \
	test "$(attached "$W/bpf-installed.txt")" = 6
kgp_raw systemd-analyze security kernelgatekeeper.service --no-pager >"$W/security.txt" 2>&1
score=$(sed -n 's/.*Overall exposure level for kernelgatekeeper.service: \([0-9.]*\).*/\1/p' \
	"$W/security.txt")
kgp_log "systemd-analyze security kernelgatekeeper.service: ${score:-?}"
kg_check "systemd-analyze security exposure ${score:-?} <= 5.0" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 5.0) }'

# The system relay (issue 17): shipped, off until asked for, its account made.
SYSU=kernelgatekeeper-system-client.service
kg_check "$SYSU is installed and disabled" \
	test "$(kgp_raw systemctl is-enabled "$SYSU" 2>&1)" = disabled
kg_check "$SYSU was not started" test "$(kgp_raw systemctl is-active "$SYSU" 2>&1)" != active
kg_check "the system account _kernelgatekeeper exists" kgp_raw getent passwd _kernelgatekeeper
kg_check "the sysusers.d file is shipped" kgp_raw test -f /usr/lib/sysusers.d/kernelgatekeeper.conf
kgp_raw systemd-analyze security "$SYSU" --no-pager >"$W/security-sys.txt" 2>&1
score=$(sed -n "s/.*Overall exposure level for $SYSU: \([0-9.]*\).*/\1/p" "$W/security-sys.txt")
kgp_log "systemd-analyze security $SYSU: ${score:-?}"
kg_check "systemd-analyze security exposure of the system relay ${score:-?} <= 3.0" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 3.0) }'

# --- The user's session ----------------------------------------------------------------------
kg_check "the user unit is enabled globally (dh_installsystemduser)" kgp_raw test -L \
	/etc/systemd/user/default.target.wants/kernelgatekeeper-client.service
kgp_log "starting $U's session (loginctl enable-linger: user@$KGP_TEST_UID.service)"
kgp_raw loginctl enable-linger "$U"
if kg_wait_for 200 prints_active client_state; then
	kg_pass "systemctl --user -M $U@ is-active kernelgatekeeper-client = active"
else
	kg_fail "systemctl --user -M $U@ is-active kernelgatekeeper-client = $(client_state)"
	kgp_raw journalctl --no-pager -n 20 _SYSTEMD_USER_UNIT=kernelgatekeeper-client.service |
		sed 's/^/    /'
fi
kg_check "kernelgatekeeper-ctl clients (root) lists $U" \
	grep -q "^$U " <<<"$(ctl clients 2>&1)"

# --- Hand edits, reload, dpkg-reconfigure ----------------------------------------------------
kgp_log "hand edit (log_level, stats_interval) + systemctl reload"
kgp_raw sed -i -e 's/^\([[:space:]]*log_level = \)"info";/\1"debug";/' \
	-e 's/^\([[:space:]]*stats_interval = \)15;/\15;/' "$CONF"
kgp_raw systemctl reload kernelgatekeeper
kg_check "reload keeps the same process" test "$main_pid" != 0 -a "$(unit_prop MainPID)" = "$main_pid"
kg_check "the service logged the reload" \
	grep -q 'configuration reloaded' <<<"$(kgp_raw journalctl -u kernelgatekeeper -o cat --no-pager)"

kgp_run debconf-set-selections <<-'EOF'
	kernelgatekeeper kernelgatekeeper/proxy_url string http://192.0.2.20:8080
	kernelgatekeeper kernelgatekeeper/target_ports string 80 443 8443
EOF
client_before=$(client_pid)
kgp_log "dpkg-reconfigure -f noninteractive kernelgatekeeper (preseeded url and ports)"
kgp_run dpkg-reconfigure -f noninteractive kernelgatekeeper >"$W/reconf.log" 2>&1 ||
	sed 's/^/    /' "$W/reconf.log"
kg_check "reconfigure rewrote proxy.url" conf_has '^[[:space:]]*url = "http://192\.0\.2\.20:8080";'
kg_check "reconfigure rewrote ebpf.target_ports" \
	conf_has '^[[:space:]]*target_ports = \[ 80, 443, 8443 \];'
kg_check "the hand edit survived (log_level = \"debug\")" conf_has '^[[:space:]]*log_level = "debug";'
kg_check "the hand edit survived (stats_interval = 5)" conf_has '^[[:space:]]*stats_interval = 5;'
kg_check "the service is active after reconfigure" \
	kg_wait_for 100 prints_active kgp_raw systemctl is-active kernelgatekeeper
kg_check "the service picked up the new ports (ctl ports list has 8443)" \
	grep -qx 8443 <<<"$(ctl ports list 2>&1)"
kg_check "$U's client was restarted to read the new proxy URL" \
	test "$(client_pid)" != "$client_before" -a "$(client_pid)" != 0

kgp_log "hand edit of an asked key (realm), then dpkg-reconfigure: the file wins"
kgp_raw sed -i 's/^\([[:space:]]*realm = \)"[^"]*";/\1"OTHER.EXAMPLE";/' "$CONF"
kgp_run dpkg-reconfigure -f noninteractive kernelgatekeeper >"$W/reconf2.log" 2>&1 ||
	sed 's/^/    /' "$W/reconf2.log"
kg_check "debconf reflects the hand-edited realm" \
	grep -q 'realm: OTHER.EXAMPLE' <<<"$(kgp_raw debconf-show kernelgatekeeper)"
kg_check "the hand-edited realm is still in the file" conf_has '^[[:space:]]*realm = "OTHER\.EXAMPLE";'

# --- curl through a Negotiate proxy ------------------------------------------------------
# The project's Kerberos rig (tests/lib/krbrig.sh) runs inside the container, in namespaces of
# its own: negotiate-inside.sh starts it, points the configuration at it, kinits $U and curls
# the origin as $U with no proxy variables. Its TAP lines count here.
if [ -f "$top_srcdir/tests/lib/krbrig.sh" ]; then
	kgp_log "Kerberos rig inside the container: kinit + curl as $U through Negotiate Squid"
	kgp_run bash /share/tests/package/negotiate-inside.sh "$U" "$KGP_TEST_UID" \
		>"$W/negotiate.log" 2>&1
	negotiate_rc=$?
	kg_relay_tap "negotiate: " "$W/negotiate.log" "    "
	[ "$negotiate_rc" = 0 ] || [ "$negotiate_rc" = 1 ] ||
		kg_fail "negotiate: the Kerberos rig did not start (exit $negotiate_rc)"
else
	kg_fail "curl through a Negotiate proxy: tests/lib/krbrig.sh is missing"
fi

# --- The system relay: apt through the proxy as host/<fqdn> -----------------------------------------
# system-inside.sh makes the container a realm member of the rig's KDC, turns the system relay
# on with debconf + dpkg-reconfigure, runs apt-get update/install against a repository the
# rig's origin serves, and turns the relay off again. Its TAP lines count here.
if [ -f "$top_srcdir/tests/lib/krbrig.sh" ]; then
	kgp_log "system relay: apt-get update + install through Negotiate Squid as host/<fqdn>"
	kgp_run bash /share/tests/package/system-inside.sh >"$W/system.log" 2>&1
	system_rc=$?
	kg_relay_tap "system: " "$W/system.log" "    "
	[ "$system_rc" = 0 ] || [ "$system_rc" = 1 ] ||
		kg_fail "system: the Kerberos rig did not start (exit $system_rc)"
fi

# --- Purge ------------------------------------------------------------------------------------
kgp_log "apt purge kernelgatekeeper"
kgp_run apt-get purge -y -q kernelgatekeeper >"$W/purge.log" 2>&1 ||
	{ sed 's/^/    /' "$W/purge.log"; kg_fail "apt purge"; }
kg_check "no system unit left" test "$(unit_prop LoadState)" = not-found
kg_check "no system relay unit left" \
	test "$(kgp_raw systemctl show -P LoadState "$SYSU")" = not-found
# Debian keeps system accounts on purge (files they came to own would fall to a reused uid).
kg_check "the account _kernelgatekeeper is kept on purge" kgp_raw getent passwd _kernelgatekeeper
kg_check "no user unit or its global enablement left" kgp_raw sh -c \
	'! ls /usr/lib/systemd/user/kernelgatekeeper-client.service /etc/systemd/user/*/kernelgatekeeper-client.service 2>/dev/null'
kg_check "the client stopped in $U's session" test "$(client_state)" != active
kg_check "no configuration left" kgp_raw test ! -e /etc/kernelgatekeeper
kg_check "no state left (/var/lib/kernelgatekeeper, ucf registry)" kgp_raw sh -c \
	'test ! -e /var/lib/kernelgatekeeper && ! grep -q kernelgatekeeper /var/lib/ucf/registry'
kg_check "no debconf answers left" test -z "$(kgp_raw debconf-show kernelgatekeeper 2>/dev/null)"
kgp_raw bpftool cgroup tree /sys/fs/cgroup >"$W/bpf-purged.txt" 2>&1
kg_check "bpftool cgroup tree: no program of ours attached" \
	test "$(attached "$W/bpf-purged.txt")" = 0

# --- lintian ----------------------------------------------------------------------------------
wait "$lintian_pid"
lintian_rc=$?
sed 's/^/    /' "$W/lintian.log"
kg_check "lintian: no errors or warnings" test "$lintian_rc" = 0

kgp_log "done"
kg_finish
