#!/bin/bash
# The datapath steers exactly what policy says, for IPv4, IPv6 and v4-mapped destinations,
# and leaves everything else alone (DESIGN.md §2).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
W=61003 # a uid with no client
kg_dp_setup
kg_start_relay "$U" --self 192.0.2.10 443 || exit 99

out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "IPv4: lands on the user's relay with SO_ORIGINAL_DST 192.0.2.10:443" "ORIGDST 192.0.2.10:443" "$out"
kg_expect "IPv4: getpeername in the application shows 192.0.2.10:443" "PEER 192.0.2.10:443" "$out"

# A socket whose redirected connection is dropped (connect(AF_UNSPEC)) and that then connects
# to a port that is not steered must show its real peer: nothing of the first attempt stays.
out=$(kg_app "$U" "$KG_PYTHON" -c '
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
s.settimeout(3)
s.connect(("192.0.2.10", 443))
print("FIRST %s:%d" % s.getpeername())
unspec = (ctypes.c_ubyte * 16)()
print("DISCONNECT", libc.connect(s.fileno(), unspec, 16))
s.connect(("192.0.2.10", 22))
print("SECOND %s:%d" % s.getpeername())' 2>&1)
kg_expect "re-connect: the first, steered connection shows 192.0.2.10:443" "FIRST 192.0.2.10:443" "$out"
kg_expect "re-connect: connect(AF_UNSPEC) drops it" "DISCONNECT 0" "$out"
kg_expect "re-connect: the second, direct connection shows its real peer 192.0.2.10:22" "SECOND 192.0.2.10:22" "$out"

out=$(kg_probe_app "$U" 2001:db8::10 443)
kg_expect "IPv6: SO_ORIGINAL_DST (IP6T) gives [2001:db8::10]:443" "ORIGDST [2001:db8::10]:443" "$out"
kg_expect "IPv6: getpeername shows [2001:db8::10]:443" "PEER [2001:db8::10]:443" "$out"

out=$(kg_probe_app "$U" 192.0.2.10 443 -6)
kg_expect "v4-mapped on an AF_INET6 socket: SO_ORIGINAL_DST 192.0.2.10:443" "ORIGDST 192.0.2.10:443" "$out"
kg_expect "v4-mapped: getpeername shows ::ffff:192.0.2.10 port 443" "PEER 192.0.2.10:443" "$out"

kg_wait_for 20 grep -q "NOTIFY 192.0.2.10:443" "$KG_RELAY_LOG"
kg_check "the client is told about its redirected connections (notify_accept)" \
	grep -q "NOTIFY 192.0.2.10:443 pid=" "$KG_RELAY_LOG"

# With nobody watching and no debug logging, events collect in the ring buffer instead of
# waking the service per connect(): a timer drains them, and a burst past a quarter of the ring
# wakes it early. None may be lost either way: 700 connections make 1400 events (redirect +
# close), ~150 KiB. ctl watch and log_level "debug" switch to one wake-up per event.
kg_check "log_level debug: events wake the service one by one (settings.live_events 1)" \
	kg_wait_for 30 eval '[ "$(kg_live_events "$KG_SERVICE_PID")" = 1 ]'
KG_DP_LOG_LEVEL=info kg_dp_write_config 443
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_check "log_level info, nobody watching: events are batched (live_events 0)" \
	test "$(kg_live_events "$KG_SERVICE_PID")" = 0
notified() { grep -c "NOTIFY 192.0.2.10:443 pid=" "$KG_RELAY_LOG"; }
n0=$(notified)
kg_app "$U" "$KG_PYTHON" -c '
import socket
for i in range(700):
    socket.create_connection(("192.0.2.10", 443), timeout=3).close()' >/dev/null 2>&1
kg_wait_for 50 eval '[ "$(notified)" -ge $((n0 + 700)) ]'
kg_check "a burst of 700 steered connections: the client is told about each one ($(($(notified) - n0)))" \
	test "$(notified)" -eq $((n0 + 700))
kg_check "no event was dropped from the ring buffer" \
	eval '"$KG_CTL" --socket "$KG_SOCK" stats | grep -qE "^events_dropped +0$"'
# A user's watch gets its events with the timer's drain: it must not make the service wake for
# every connection of every user.
kg_app "$U" timeout -k 2 3 "$KG_CTL" --socket "$KG_SOCK" watch >/dev/null 2>&1 &
WL=$!
kg_on_exit kg_stop_pid "$WL"
sleep 1
kg_check "while a user's ctl watch runs, events stay batched (live_events 0)" \
	test "$(kg_live_events "$KG_SERVICE_PID")" = 0
wait "$WL" 2>/dev/null
kg_in_cgroup timeout -k 2 3 "$KG_CTL" --socket "$KG_SOCK" watch >/dev/null 2>&1 &
WL=$!
kg_on_exit kg_stop_pid "$WL"
kg_check "while root's ctl watch runs, events are live (live_events 1)" \
	kg_wait_for 25 eval '[ "$(kg_live_events "$KG_SERVICE_PID")" = 1 ]'
wait "$WL" 2>/dev/null
kg_check "when the watch ends, batched again (live_events 0)" \
	kg_wait_for 30 eval '[ "$(kg_live_events "$KG_SERVICE_PID")" = 0 ]'
kg_dp_write_config 443
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"

# getsockopt for every option the hook does not handle keeps the kernel's answer, also with a
# buffer larger than a page (the optlen rule).
out=$(kg_app "$U" "$KG_PYTHON" -c '
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
s = socket.socket()
def opt(level, name, size):
    buf = ctypes.create_string_buffer(size)
    ln = ctypes.c_uint32(size)
    r = libc.getsockopt(s.fileno(), level, name, buf, ctypes.byref(ln))
    return r, ln.value
print("SO_TYPE", s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
r, n = opt(socket.IPPROTO_TCP, socket.TCP_INFO, 8192)
print("TCP_INFO", r == 0 and 100 < n < 4096)
r, n = opt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
print("SO_RCVBUF", r == 0 and n == 4)
' 2>&1)
kg_expect "other options: SO_TYPE is the kernel's answer" "SO_TYPE 1" "$out"
kg_expect "other options: TCP_INFO with an 8 KiB buffer works" "TCP_INFO True" "$out"
kg_expect "other options: SO_RCVBUF with an 8 KiB buffer works" "SO_RCVBUF True" "$out"

# ctl watch: the user sees their own connection events, another user does not.
kg_app "$U" "$KG_CTL" --socket "$KG_SOCK" watch --count 2 >"$KG_TMP/watch-u.log" 2>&1 &
WU=$!
kg_on_exit kg_stop_pid "$WU"
kg_app "$KG_UID_V" timeout -k 3 4 "$KG_CTL" --socket "$KG_SOCK" watch >"$KG_TMP/watch-v.log" 2>&1 &
WV=$!
kg_on_exit kg_stop_pid "$WV"
sleep 0.5
# The command name comes from /proc when the service reads the event: the application stays
# alive a moment, as any real one does while its connection is in use.
kg_app "$U" "$KG_PYTHON" -c '
import socket, time
s = socket.create_connection(("192.0.2.10", 443), timeout=3)
time.sleep(1)
s.close()
time.sleep(1)' >/dev/null 2>&1
kg_wait_for 40 grep -q "dest=192.0.2.10:443" "$KG_TMP/watch-u.log"
kg_check "ctl watch shows the user's own redirect event, with the command name" \
	grep -q "redirect .*user=$U .*comm=python3 dest=192.0.2.10:443" "$KG_TMP/watch-u.log"
kg_wait_for 40 grep -q "close .*dest=192.0.2.10:443" "$KG_TMP/watch-u.log"
kg_check "ctl watch shows the close event too, with the command name" \
	grep -q "close .*user=$U .*comm=python3 dest=192.0.2.10:443" "$KG_TMP/watch-u.log"
wait "$WV" 2>/dev/null
rc=$?
kg_check "another user's ctl watch was subscribed until its timeout (exit 124, got $rc)" test "$rc" = 124
if grep -q "dest=" "$KG_TMP/watch-v.log"; then kg_fail "another user's ctl watch does not see it"; else kg_pass "another user's ctl watch does not see it"; fi

# Left alone.
kg_expect "non-target port 22 goes direct" "DIRECT 192.0.2.10:22" "$(kg_probe_app "$U" 192.0.2.10 22)"
kg_expect "a uid without a client goes direct" "DIRECT 192.0.2.10:443" "$(kg_probe_app "$W" 192.0.2.10 443)"
kg_check "the client's own connection goes direct" grep -q "SELF DIRECT 192.0.2.10:443" "$KG_RELAY_LOG"
kg_expect "bypass CIDR 198.51.100.0/24 goes direct" "DIRECT 198.51.100.7:443" "$(kg_probe_app "$U" 198.51.100.7 443)"
kg_expect "bypass CIDR 2001:db8:bbbb::/48 goes direct" "DIRECT [2001:db8:bbbb::7]:443" "$(kg_probe_app "$U" 2001:db8:bbbb::7 443)"
kg_expect "loopback 127.0.0.2 goes direct" "DIRECT 127.0.0.2:443" "$(kg_probe_app "$U" 127.0.0.2 443)"
kg_expect "the proxy endpoint (proxy.url 203.0.113.5:443) is never steered" "DIRECT 203.0.113.5:443" \
	"$(kg_probe_app "$U" 203.0.113.5 443)"

# Another network namespace, same cgroup: the socket must be left alone there.
kg_make_netns other NS2
ip -n "$NS2" addr add 192.0.2.10/32 dev lo
ip netns exec "$NS2" "$KG_PYTHON" "$top_srcdir/tests/lib/direct_server.py" 192.0.2.10:443 >"$KG_TMP/direct2.log" 2>&1 &
D2=$!
kg_on_exit kg_stop_pid "$D2"
kg_wait_for 50 grep -q READY "$KG_TMP/direct2.log"
out=$(KG_NS=$NS2 kg_probe_app "$U" 192.0.2.10 443)
kg_expect "a socket in another network namespace goes direct in that namespace" "DIRECT 192.0.2.10:443" "$out"

# After the client's IPC connection closes, nothing is steered any more.
kg_stop_pid "$KG_RELAY_PID"
wait "$KG_RELAY_PID" 2>/dev/null
kg_wait_for 30 grep -q "disconnected" "$KG_TMP/service.log"
ok=1
for i in 1 2 3 4 5; do
	out=$(kg_probe_app "$U" 192.0.2.10 443)
	printf '%s\n' "$out" | grep -q "DIRECT 192.0.2.10:443" || ok=0
done
kg_check "every connect after the client disconnected goes direct (5 of 5)" test "$ok" = 1

kg_finish
