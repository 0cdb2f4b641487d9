#!/bin/bash
# Operating the service: readiness only after attach, live reload, a broken reload that keeps
# the old policy, clean detach on SIGTERM, a clear exit 2 without a cgroup v2 mount, and exit 4
# when the kernel will not load the datapath.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
kg_require_root
kg_require_cmd bpftool python3

# Readiness: our own NOTIFY_SOCKET; at the moment READY=1 arrives the programs are attached.
KG_TMP0=$(mktemp -d /tmp/kgnotify.XXXXXX)
kg_on_exit rm -rf "$KG_TMP0"
NOTIFY_LOG="$KG_TMP0/notify.log"
kg_make_cgroup
"$KG_PYTHON" "$top_srcdir/tests/lib/notify_listener.py" "$KG_TMP0/notify.sock" "$NOTIFY_LOG" \
	bpftool cgroup show "$KG_CGROUP" &
NL=$!
kg_on_exit kg_stop_pid "$NL"
kg_wait_for 50 grep -q LISTENING "$NOTIFY_LOG" || exit 99
export NOTIFY_SOCKET="$KG_TMP0/notify.sock"
kg_dp_setup
unset NOTIFY_SOCKET
kg_wait_for 50 grep -q "READY=1" "$NOTIFY_LOG"
kg_check "READY=1 was sent" grep -q "READY=1" "$NOTIFY_LOG"
kg_wait_for 30 grep -q AT_READY "$NOTIFY_LOG"
at_ready=$(grep AT_READY "$NOTIFY_LOG")
kg_expect "when READY=1 arrived, connect4 was attached" "kg_connect4" "$at_ready"
kg_expect "when READY=1 arrived, getsockopt was attached" "kg_getsockopt" "$at_ready"
kg_expect "when READY=1 arrived, sockops was attached" "kg_sockops" "$at_ready"
kg_wait_for 30 grep -q "STATUS=" "$NOTIFY_LOG"
kg_check "STATUS= carries live counts" grep -q "STATUS=Steering ports of [0-9]* client" "$NOTIFY_LOG"

kg_start_relay "$U" || exit 99
kg_expect "port 22 is not a target before the reload" "DIRECT 192.0.2.10:22" "$(kg_probe_app "$U" 192.0.2.10 22)"

# Reload with new target ports: applied without a restart.
kg_dp_write_config "443, 22"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_expect "after SIGHUP, port 22 is steered" "ORIGDST 192.0.2.10:22" "$(kg_probe_app "$U" 192.0.2.10 22)"
kg_check "RELOADING=1 with MONOTONIC_USEC was sent" grep -q "RELOADING=1|MONOTONIC_USEC=[0-9]" "$NOTIFY_LOG"
kg_check "same service process after reload" kill -0 "$KG_SERVICE_PID"

# A reload replaces the bypass list as a whole: 250 ranges in, then a list without
# 198.51.100.0/24 (that destination is steered at once), then back.
many() { local i; for ((i = $1; i < $1 + 250; i++)); do printf '"10.%d.%d.0/24", ' $((i / 256)) $((i % 256)); done; }
KG_DP_BYPASS="$(many 0)$KG_DP_BYPASS_DEFAULT" kg_dp_write_config "443, 22"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_expect "250 bypass ranges loaded: 198.51.100.7 still goes direct" "DIRECT 198.51.100.7:443" "$(kg_probe_app "$U" 198.51.100.7 443)"
KG_DP_BYPASS="$(many 300)\"2001:db8:bbbb::/48\"" kg_dp_write_config "443, 22"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_expect "a range dropped from bypass on reload is steered at once" "ORIGDST 198.51.100.7:443" "$(kg_probe_app "$U" 198.51.100.7 443)"
kg_expect "a range kept in bypass still goes direct" "DIRECT [2001:db8:bbbb::7]:443" "$(kg_probe_app "$U" 2001:db8:bbbb::7 443)"
kg_dp_write_config "443, 22"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_expect "bypass restored on the next reload" "DIRECT 198.51.100.7:443" "$(kg_probe_app "$U" 198.51.100.7 443)"

# Broken file: rejected, logged, old config kept.
printf 'ebpf = { target_ports = [ 80, ; };\n' >"$KG_CONF"
kill -HUP "$KG_SERVICE_PID"
kg_wait_for 50 grep -q "reload rejected" "$KG_TMP/service.log"
kg_check "a broken file on reload is rejected and logged" grep -q "reload rejected" "$KG_TMP/service.log"
kg_expect "after a broken reload port 443 is still steered" "ORIGDST 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"
kg_expect "after a broken reload port 22 is still steered (old config kept)" "ORIGDST 192.0.2.10:22" "$(kg_probe_app "$U" 192.0.2.10 22)"
kg_check "READY=1 follows the failed reload" test "$(grep -c 'READY=1' "$NOTIFY_LOG")" -ge 3

# ctl ports with dynamic ports allowed (root).
out=$("$KG_CTL" --socket "$KG_SOCK" ports add 8443 2>&1)
kg_expect "root adds port 8443 at run time" "8443" "$out"
kg_expect "ctl ports list shows 8443" "8443" "$("$KG_CTL" --socket "$KG_SOCK" ports list)"
"$KG_CTL" --socket "$KG_SOCK" ports remove 8443 >/dev/null 2>&1
if "$KG_CTL" --socket "$KG_SOCK" ports list | grep -qx 8443; then kg_fail "root removes port 8443"; else kg_pass "root removes port 8443"; fi
out=$("$KG_CTL" --socket "$KG_SOCK" stats)
kg_expect "ctl stats counts redirected connections" "redirected" "$out"

# SIGTERM: exit 0 and nothing of ours attached.
kill -TERM "$KG_SERVICE_PID"
wait "$KG_SERVICE_PID"
rc=$?
kg_check "SIGTERM: exit code 0" test "$rc" = 0
kg_check "STOPPING=1 was sent" grep -q "STOPPING=1" "$NOTIFY_LOG"
left=$(bpftool cgroup show "$KG_CGROUP" 2>&1 | grep -c kg_)
kg_check "after SIGTERM bpftool shows none of our programs on the cgroup" test "$left" = 0
kg_check "the IPC socket is removed" test ! -e "$KG_SOCK"
kg_expect "after stop, connections go direct" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$U" 192.0.2.10 443)"

# No cgroup v2 at the configured path: exit 2 and the path in the message.
printf 'ebpf = { cgroup_path = "/nonexistent/kg-cgroup"; };\nsocket_path = "%s";\n' "$KG_TMP/x.sock" >"$KG_TMP/nocg.conf"
out=$("$KG_SERVICE" -c "$KG_TMP/nocg.conf" 2>&1); rc=$?
kg_check "missing cgroup v2 mount: exit code 2" test "$rc" = 2
kg_expect "missing cgroup v2 mount: the message names the path" "/nonexistent/kg-cgroup" "$out"
printf 'ebpf = { cgroup_path = "%s"; };\nsocket_path = "%s";\n' "$KG_TMP" "$KG_TMP/x.sock" >"$KG_TMP/notcg.conf"
out=$("$KG_SERVICE" -c "$KG_TMP/notcg.conf" 2>&1); rc=$?
kg_check "a directory that is not cgroup v2: exit code 2" test "$rc" = 2
kg_expect "not cgroup v2: the message says so" "not a cgroup2 file system" "$out"

# Without CAP_NET_ADMIN the kernel refuses every program type the datapath uses: exit 4 (which
# the unit does not restart), one line naming the missing capability, not "this kernel lacks".
printf 'ebpf = { cgroup_path = "%s"; };\nsocket_path = "%s";\n' "$KG_CGROUP" "$KG_TMP/x.sock" >"$KG_TMP/nocap.conf"
out=$(setpriv --bounding-set=-all,+bpf -- "$KG_SERVICE" -c "$KG_TMP/nocap.conf" 2>&1); rc=$?
kg_check "without CAP_NET_ADMIN: exit code 4" test "$rc" = 4
kg_expect "without CAP_NET_ADMIN: the message names the capability" \
	"this process lacks CAP_NET_ADMIN" "$out"
kg_check "without CAP_NET_ADMIN: one error line, nothing else" \
	test "$(grep -c . <<<"$out")" = 1
kg_check "without CAP_NET_ADMIN: nothing attached" \
	test "$(bpftool cgroup show "$KG_CGROUP" 2>&1 | grep -c kg_)" = 0

# Usage and config errors: exit 2 with file:line.
printf 'ebpf = { target_ports = [ 70000 ]; };\n' >"$KG_TMP/bad.conf"
out=$("$KG_SERVICE" -c "$KG_TMP/bad.conf" 2>&1); rc=$?
kg_check "an out-of-range port: exit code 2" test "$rc" = 2
kg_expect "an out-of-range port: message names file:line" "bad.conf:1" "$out"

# --check-config: the verdict and every warning with file:line, and nothing attached.
kg_dp_write_config "80, 443"
out=$("$KG_SERVICE" -c "$KG_CONF" --check-config 2>&1); rc=$?
kg_check "--check-config on a valid configuration: exit code 0" test "$rc" = 0
kg_expect "--check-config says OK" "$KG_CONF: OK" "$out"
kg_dp_write_config "80, 443" 'client = {' '  listen_address = "127.0.0.2";' '};'
line=$(grep -n listen_address "$KG_CONF" | cut -d: -f1)
out=$("$KG_SERVICE" -c "$KG_CONF" --check-config 2>&1); rc=$?
kg_check "--check-config with a warning only: exit code 0" test "$rc" = 0
kg_expect "--check-config names an unused listen_address with file:line" \
	"kg.conf:$line: client.listen_address: \"127.0.0.2\" is not used" "$out"
out=$("$KG_SERVICE" -c "$KG_TMP/bad.conf" --check-config 2>&1); rc=$?
kg_check "--check-config on an out-of-range port: exit code 2" test "$rc" = 2
kg_expect "--check-config on an out-of-range port: file:line and key" \
	"bad.conf:1: ebpf.target_ports" "$out"
left=$(bpftool cgroup show "$KG_CGROUP" 2>&1 | grep -c kg_)
kg_check "--check-config attached nothing" test "$left" = 0
kg_check "--check-config created no IPC socket" test ! -e "$KG_SOCK"
"$KG_SERVICE" --bogus >/dev/null 2>&1; rc=$?
kg_check "an unknown option: exit code 2" test "$rc" = 2

kg_finish
