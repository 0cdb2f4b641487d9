# Environment of the client's end-to-end tests (sourced, bash): the Kerberos + Negotiate rig
# (tests/lib/krbrig.sh), a private cgroup, the service attached to that cgroup, and relay clients
# for unprivileged test uids. The rig's "host" side is the root network namespace; the service
# only acts on sockets of processes inside the test cgroup, so nothing else on the machine is
# touched. Applications reach the origin only through the steering: the root namespace has an
# "unreachable" route to it.
#
#   kgc_setup squid|apache        rig + cgroup + service; users alice (U) and bob (V) with tickets
#   kgc_start_client UID [ARGS]   the client as UID (its log: $KG_TMP/client-UID.log); words in
#                                 KGC_CLIENT_ENV go to its environment, KGC_CLIENT_WRAP runs it
#   kgc_stop_client UID           SIGTERM, wait; $KGC_RC gets the exit status
#   kgc_app UID CMD...            CMD as UID inside the cgroup, no proxy variables
#   kgc_curl UID ARGS...          curl as UID, origin.test resolved to the origin's address
#   kgc_client_log UID            path of the client's log
#   kgc_registrations UID         how many times uid's clients registered with the service
#   kgc_reload                    SIGHUP to the service, then to uid U's client
#   kgc_access_lines, kgc_access_since LINES REGEX   the proxy's access log
#   kgc_move_host_side NETNS      the rig's host end (service, clients, applications) into NETNS
#   kgc_use_build DIR             the service, client and ctl binaries of another build tree
#   kgc_access_lines_of A|B, kgc_access_since_of A|B LINES REGEX   proxy A's or B's access log
#   kgc_use_rig_resolv            clients and applications see the rig's resolv.conf
#   kgc_use_rig_ca                ... and trust the rig's CA through the system bundle's path
# Issue 13's opt-in rig parts (proxy B, DNS, PAC server, home network, two homes) are in
# tests/lib/pacrig.sh, sourced here: krbrig_i13_start after kgc_setup starts them.
#
# With KG_NS set (before kgc_setup), the service, the clients and the applications run in that
# network namespace instead of the root one; kgc_move_host_side gives it the rig's link.
#
# With KGC_BUILDDIR set, the service, the client and ctl are those of that build tree (or of a
# directory with the same src/*/ layout) instead of top_builddir's; kgc_use_build DIR switches
# later (tests/bench/client-regress.sh runs two builds in one rig).
. "${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/krbrig.sh"
. "$top_srcdir/tests/lib/pacrig.sh"

kgc_use_build() { # DIR: the next kg_start_service / kgc_start_client run DIR's binaries
	KG_SERVICE="$1/src/service/kernelgatekeeper-service"
	KG_CLIENT="$1/src/client/kernelgatekeeper-client"
	KG_CTL="$1/src/ctl/kernelgatekeeper-ctl"
}
[ -z "${KGC_BUILDDIR:-}" ] || kgc_use_build "$KGC_BUILDDIR"

U=$KG_UID_U
V=$KG_UID_V
declare -A KGC_PID
KGC_NS_ENTER=() # nsenter into KG_NS, once kgc_setup saw it set

kgc_write_config() { # KGC_* variables select the variants; KGC_EXTRA_CONF is appended
	cat >"$KG_CONF.tmp" <<EOF2
proxy = {
	type = "${KGC_PROXY_TYPE:-http}";
	url = ${KGC_URL:-\"$PROXY_URL\"};
	${KGC_FALLBACK:+fallback = \"$KGC_FALLBACK\";}
	connection_timeout = ${KGC_CONNECT_TIMEOUT:-3};
	request_timeout = ${KGC_REQUEST_TIMEOUT:-10};
	max_retries = 2;
};
kerberos = {
	realm = "$REALM";
	spn = "${KGC_SPN:-$PROXY_SPN}";
	${KGC_CCACHE:+ccache = \"$KGC_CCACHE\";}
};
ebpf = {
	cgroup_path = "$KG_CGROUP";
	target_ports = [ ${KGC_PORTS:-80, 443} ];
	stats_interval = 0;
};
socket_path = "$KG_SOCK";
log_level = "${KGC_LOG_LEVEL:-info}";
shutdown_timeout = 5;
${KGC_EXTRA_CONF:-}
EOF2
	chmod 644 "$KG_CONF.tmp" && mv "$KG_CONF.tmp" "$KG_CONF"
}

kgc_setup() {
	kg_require_root
	kg_require_cmd curl ip setpriv python3 sha256sum
	[ -x "$KG_SERVICE" ] || kg_skip "service not built"
	[ -x "$KG_CLIENT" ] || kg_skip "client not built"
	kg_uid_path "$KG_CLIENT" KG_CLIENT
	kg_uid_path "$KG_CTL" KG_CTL
	kg_make_tmp kgclient
	krbrig_start "${1:-squid}" || exit 99
	kg_make_cgroup
	krbrig_add_user alice alicepw && krbrig_add_user bob bobpw ||
		{ echo "# cannot add the test principals"; exit 99; }
	CC_U="FILE:$KRBRIG_CCDIR/krb5cc_$U"
	CC_V="FILE:$KRBRIG_CCDIR/krb5cc_$V"
	krbrig_kinit_as "$U" alice alicepw "$CC_U" && krbrig_kinit_as "$V" bob bobpw "$CC_V" ||
		{ echo "# kinit for the test users failed"; exit 99; }
	kgc_write_config
	[ -n "${KG_NS:-}" ] && KGC_NS_ENTER=(nsenter --net="/run/netns/$KG_NS")
	kg_start_service || exit 99
}

# The rig's host end of the proxy link (HOST_IP) moves into NETNS, which then reaches the
# proxy and the KDC like the root namespace did; the root namespace no longer does (the
# tickets of kgc_setup are already taken). The link goes away with either namespace.
kgc_move_host_side() { # NETNS
	ip link set "${KG_TEST_ID}h" netns "$1" &&
		ip -n "$1" addr add "$HOST_IP/30" dev "${KG_TEST_ID}h" &&
		ip -n "$1" link set "${KG_TEST_ID}h" up || return 1
	# The rig's slot stays taken in the root namespace, where krbrig_start looks for a free one.
	# Otherwise a test started now gets the same addresses, and this test's exit removes the
	# unreachable route that keeps that test's unsteered connections to its origin on this
	# machine (the root namespace's default route would take them off it). HOST_IP on lo,
	# without a prefix route, makes only that one address local.
	kg_on_exit ip addr del "$HOST_IP/32" dev lo
	ip addr add "$HOST_IP/32" dev lo noprefixroute || return 1
	# The issue-13 parts' routes (proxy B, DNS, PAC server: tests/lib/pacrig.sh) went with the
	# link: the same routes in NETNS. Nothing when those parts are not used.
	! declare -F krbrig_lan_routes >/dev/null || krbrig_lan_routes "$1"
}

# On failure, the end of each client's log and of the service's (the temporary directory is
# removed on exit).
kgc_dump_logs() {
	local f
	for f in "$KG_TMP"/client-*.log "$KG_TMP/service.log"; do
		[ -f "$f" ] || continue
		echo "# --- last lines of $(basename "$f")"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
}
KG_ON_FAILURE=kgc_dump_logs

kgc_client_log() {
	echo "$KG_TMP/client-$1.log"
}

kgc_registrations() { # UID: how many times uid's clients registered (their log is appended)
	cat "$(kgc_client_log "$1")" 2>/dev/null | grep -c "registered with kernelgatekeeper-service"
}

kgc_start_client() { # UID [client args]
	local uid=$1 cc log seen
	shift
	cc="FILE:$KRBRIG_CCDIR/krb5cc_$uid"
	log=$(kgc_client_log "$uid")
	# A restarted client appends to the same log: wait for a registration line of its own.
	seen=$(kgc_registrations "$uid")
	# HOME as systemd --user always sets it (the rig's users have no passwd entry, hence the
	# same /nonexistent as their applications and the baseline curl): libkrb5 looks for
	# ~/.k5identity with every token, and without HOME it searches the user database for it
	# each time, a third of the worker's system calls per token (200 -> 133, 0.45 -> 0.28 ms).
	"$KG_INCG" "$KG_CGROUP" "${KGC_NS_ENTER[@]}" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups --inh-caps=-all -- \
		env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5CCNAME="$cc" KRB5RCACHEDIR="$KRB5RCACHEDIR" $KG_SANITIZER_ENV ${KGC_CLIENT_ENV:-} \
		${KGC_CLIENT_WRAP:-} "$KG_CLIENT" -c "$KG_CONF" "$@" >>"$log" 2>&1 &
	KGC_PID[$uid]=$!
	kg_on_exit kg_stop_pid "$!"
	kg_wait_for 100 eval '[ "$(kgc_registrations "$uid")" -gt "$seen" ]' || {
		echo "# client of uid $uid did not register:"
		tail -n 20 "$log"
		return 1
	}
}

kgc_stop_client() { # UID: SIGTERM (SIGKILL after 5 s); KGC_RC = exit status
	local pid=${KGC_PID[$1]}
	kg_stop_pid "$pid"
	wait "$pid" 2>/dev/null
	KGC_RC=$?
}

kgc_app() { # UID CMD...: no proxy variables, no Kerberos variables
	local uid=$1
	shift
	"$KG_INCG" "$KG_CGROUP" "${KGC_NS_ENTER[@]}" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups --inh-caps=-all -- env -i PATH=/usr/bin:/bin HOME=/nonexistent \
		$KG_SANITIZER_ENV "$@"
}

kgc_curl() { # UID curl-args...
	local uid=$1
	shift
	kgc_app "$uid" curl -sS --noproxy '' --resolve "$ORIGIN_HOST:443:$ORIGIN_IP" \
		--resolve "$ORIGIN_HOST:80:$ORIGIN_IP" --cacert "$ORIGIN_CA" "$@"
}

# kgc_timed UID CURL-ARGS...: one request as UID (kgc_curl) into page, its rc and ms (elapsed);
# log_lines is UID's client log's length before it, so that a test's "what the log got since"
# looks only at what this request made it write.
kgc_timed() {
	local kgt_uid=$1 kgt_t0
	shift
	log_lines=$(wc -l <"$(kgc_client_log "$kgt_uid")")
	kgt_t0=$(krbrig_now_ms)
	page=$(kgc_curl "$kgt_uid" "$@" 2>&1)
	rc=$?
	ms=$(($(krbrig_now_ms) - kgt_t0))
}

kgc_access_lines() {
	wc -l <"$(krbrig_access_log)" 2>/dev/null || echo 0
}

kgc_access_since() { # LINES REGEX: a line after the access log's first LINES matches (grep -E)
	tail -n +$(($1 + 1)) "$(krbrig_access_log)" | grep -Eq -- "$2"
}

kgc_reload() { # the service rereads $KG_CONF, then uid U's client fetches it (SIGHUP, wait both)
	kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" &&
		kg_reload "${KGC_PID[$U]}" "$(kgc_client_log "$U")"
}

# --- issue 13 (tests/lib/pacrig.sh: proxy B, DNS, PAC server, home network) ------------------
# kgc_access_lines_of A|B, kgc_access_since_of A|B LINES REGEX: as above, for proxy A or B.
kgc_access_lines_of() {
	wc -l <"$(krbrig_proxy_log "$1")" 2>/dev/null || echo 0
}

kgc_access_since_of() {
	tail -n +$(($2 + 1)) "$(krbrig_proxy_log "$1")" 2>/dev/null | grep -Eq -- "$3"
}

# From now on the clients and the applications (kgc_start_client, kgc_app, kgc_curl) see the
# rig's resolv.conf ($KRBRIG_RESOLV_CONF: its DNS, "search corp.test") as /etc/resolv.conf, in
# a private mount namespace each; the system's file is not touched. After krbrig_dns_start.
kgc_use_rig_resolv() {
	[ -n "${KRBRIG_RESOLV_CONF:-}" ] && [ -f "$KRBRIG_RESOLV_CONF" ] || return 1
	# shellcheck disable=SC2016 # expanded by that sh, which execs the rest of the command
	KGC_NS_ENTER+=(unshare -m --propagation private sh -c
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$KRBRIG_RESOLV_CONF")
}

# kgc_write_config_proxy LINE...: kgc_write_config, then each LINE ("key = value;") put at the
# top of the proxy section; a key the section already has (url = ...;) is replaced. For the
# issue-13 keys: kgc_write_config_proxy 'type = "wpad";' 'wpad_url = "";' 'fallback = "direct";'
#   "url = [ \"$PROXY_URL\", \"$PROXYB_URL\" ];"
kgc_write_config_proxy() {
	kgc_write_config || return 1
	"$KG_PYTHON" - "$KG_CONF" "$@" <<'PYEND' || return 1
import sys
path, lines = sys.argv[1], sys.argv[2:]
keys = {l.split("=", 1)[0].strip() for l in lines}
out, in_proxy = [], False
for l in open(path).read().splitlines():
    if l.startswith("proxy = {"):
        in_proxy = True
        out.append(l)
        out.extend("\t" + x for x in lines)
        continue
    if in_proxy and l.startswith("};"):
        in_proxy = False
    if in_proxy and l.strip().split("=", 1)[0].strip() in keys:
        continue
    out.append(l)
open(path + ".tmp", "w").write("\n".join(out) + "\n")
PYEND
	chmod 644 "$KG_CONF.tmp" && mv "$KG_CONF.tmp" "$KG_CONF"
}

# From now on the clients and the applications trust the rig's CA (the PAC server's https, the
# origin) through the system bundle's path, as with kgc_use_rig_resolv. After krbrig_i13_start.
kgc_use_rig_ca() {
	[ -n "${KRBRIG_CA_BUNDLE:-}" ] && [ -f "$KRBRIG_CA_BUNDLE" ] || return 1
	# shellcheck disable=SC2016 # expanded by that sh, which execs the rest of the command
	KGC_NS_ENTER+=(unshare -m --propagation private sh -c
		'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' "$KRBRIG_CA_BUNDLE")
}
