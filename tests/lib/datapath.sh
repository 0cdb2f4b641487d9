# Datapath test environment (sourced after common.sh): a private cgroup, a network namespace
# holding the test destinations on its loopback, a config, the service started inside both.
#
#   kg_dp_setup [extra config lines...]   start everything; sets KG_NS, KG_TMP, KG_SOCK, KG_CONF
#   kg_app UID CMD...                     run CMD as UID in the test cgroup and namespace
#   kg_probe_app UID ARGS...              kg-probe connect ARGS as UID; prints its output
#   kg_start_relay UID [ARGS...]          start kg-probe relay as UID; sets KG_RELAY_PID/LOG
#   kg_relay_say FIFO LOG LINE            a control line to that relay; prints its ROUTE answer

KG_PROBE="$top_builddir/tests/helpers/kg-probe"

# The bypass list kg_dp_write_config writes unless KG_DP_BYPASS says otherwise.
KG_DP_BYPASS_DEFAULT='"198.51.100.0/24", "2001:db8:bbbb::/48"'

kg_dp_write_config() { # kg_dp_write_config PORTS [extra lines...]
	local ports=$1
	shift
	{
		echo "ebpf = {"
		echo "  cgroup_path = \"$KG_CGROUP\";"
		echo "  target_ports = [ $ports ];"
		echo "  bypass = [ ${KG_DP_BYPASS:-$KG_DP_BYPASS_DEFAULT} ];"
		echo "  stats_interval = 1;"
		echo "  allow_dynamic_ports = ${KG_DYNAMIC_PORTS:-true};"
		[ -z "${KG_DP_EBPF_EXTRA:-}" ] || echo "  $KG_DP_EBPF_EXTRA"
		echo "};"
		echo "proxy = { type = \"http\"; url = \"http://203.0.113.5:443\"; };"
		echo "socket_path = \"$KG_SOCK\";"
		echo "log_level = \"${KG_DP_LOG_LEVEL:-debug}\";"
		echo "shutdown_timeout = 5;"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$KG_CONF.tmp" && mv "$KG_CONF.tmp" "$KG_CONF"
}

kg_dp_setup() {
	kg_require_root
	kg_require_cmd ip nsenter setpriv python3 bpftool
	[ -x "$KG_SERVICE" ] || kg_skip "service not built"
	[ -x "$KG_PROBE" ] || kg_skip "kg-probe not built"
	kg_uid_path "$KG_PROBE" KG_PROBE
	kg_uid_path "$KG_CTL" KG_CTL
	kg_make_tmp kgtest
	kg_make_cgroup
	kg_make_netns main KG_NS
	ip -n "$KG_NS" addr add 192.0.2.10/32 dev lo
	ip -n "$KG_NS" addr add 198.51.100.7/32 dev lo
	ip -n "$KG_NS" addr add 203.0.113.5/32 dev lo
	ip -n "$KG_NS" addr add 127.0.0.2/8 dev lo 2>/dev/null
	ip -n "$KG_NS" addr add 2001:db8::10/128 dev lo nodad
	ip -n "$KG_NS" addr add 2001:db8:bbbb::7/128 dev lo nodad
	kg_dp_write_config "${KG_PORTS:-443}" "$@"

	ip netns exec "$KG_NS" "$KG_PYTHON" "$top_srcdir/tests/lib/direct_server.py" \
		192.0.2.10:443 192.0.2.10:22 198.51.100.7:443 203.0.113.5:443 127.0.0.2:443 \
		'[2001:db8::10]:443' '[2001:db8:bbbb::7]:443' >"$KG_TMP/direct.log" 2>&1 &
	KG_DIRECT_PID=$!
	kg_on_exit kg_stop_pid "$KG_DIRECT_PID"
	kg_wait_for 50 grep -q READY "$KG_TMP/direct.log" || { echo "direct server did not start"; cat "$KG_TMP/direct.log"; exit 99; }
	kg_start_service || exit 99
}

kg_app() {
	local uid=$1
	shift
	kg_in_cgroup nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups -- "$@"
}

kg_probe_app() {
	local uid=$1
	shift
	kg_app "$uid" "$KG_PROBE" connect "$@" 2>&1
}

kg_start_relay() { # kg_start_relay UID [relay args]
	local uid=$1 log
	shift
	log="$KG_TMP/relay-$uid-$RANDOM.log"
	if [ "${1:-}" = --other-uid ]; then
		# Starts as root so it can fork the other-uid child, then becomes UID.
		KG_PROBE_UID=$uid "$KG_INCG" "$KG_CGROUP" nsenter --net="/run/netns/$KG_NS" \
			"$KG_PROBE" relay "$KG_SOCK" "$@" >"$log" 2>&1 &
	else
		"$KG_INCG" "$KG_CGROUP" nsenter --net="/run/netns/$KG_NS" setpriv --reuid="$uid" \
			--regid="$uid" --clear-groups -- "$KG_PROBE" relay "$KG_SOCK" "$@" >"$log" 2>&1 &
	fi
	KG_RELAY_PID=$!
	KG_RELAY_LOG=$log
	kg_on_exit kg_stop_pid "$KG_RELAY_PID"
	if ! kg_wait_for 50 grep -qE "REGISTERED|ERROR" "$log" || ! grep -q REGISTERED "$log"; then
		echo "relay for uid $uid did not register:"
		cat "$log"
		return 1
	fi
	KG_RELAY_PORT4=$(awk '/^REGISTERED/ {print $2; exit}' "$log")
	KG_RELAY_PORT6=$(awk '/^REGISTERED/ {print $3; exit}' "$log")
}

# kg_relay_say FIFO LOG LINE: one control line to a kg-probe relay (started with --control FIFO,
# its output in LOG), and wait for its answer; prints that ROUTE line.
kg_relay_say() {
	local fifo=$1 log=$2 n
	n=$(grep -c '^ROUTE ' "$log")
	printf '%s\n' "$3" >"$fifo"
	# shellcheck disable=SC2016 # expanded by the eval
	kg_wait_for 50 eval '[ "$(grep -c "^ROUTE " "$log")" -gt "$n" ]'
	grep '^ROUTE ' "$log" | tail -n 1
}

# expect_line "description" "expected substring" output
kg_expect() {
	local d=$1 want=$2 got=$3
	if printf '%s\n' "$got" | grep -qF -- "$want"; then
		kg_pass "$d"
	else
		kg_fail "$d (wanted '$want', got: $(printf '%s' "$got" | tr '\n' '|'))"
	fi
}

# The datapath's settings.live_events of the service with PID $1 (0 or 1): its map descriptors
# name their ids in /proc/PID/fdinfo, bpftool dumps the one called "settings".
kg_live_events() {
	"$KG_PYTHON" -c '
import glob, json, subprocess, sys
for info in glob.glob("/proc/%s/fdinfo/*" % sys.argv[1]):
    try:
        ids = [l.split()[1] for l in open(info) if l.startswith("map_id:")]
    except OSError:
        continue
    for i in ids:
        show = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "id", i]))
        if show.get("name") == "settings":
            dump = json.loads(subprocess.check_output(["bpftool", "-j", "map", "dump", "id", i]))
            print(dump[0]["formatted"]["value"]["live_events"])
            sys.exit(0)
' "$1"
}
