#!/bin/bash
# QUIC refused at the socket (issue 18 item 1): for a user whose TCP is steered, UDP to a
# target port is refused at once with EPERM, by connect() and by sendto() on an unconnected
# socket, so browsers fall back to TCP, which is steered. DNS and every other UDP port, other
# users, other network namespaces, local and bypassed destinations, a user whose client says
# "direct" or whose client is gone, and everything with ebpf.block_quic = false are left
# alone. Counted in ctl stats (quic_blocked), shown by ctl watch (quic-blocked), at most once
# per socket per second.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
W=61003 # a uid with no client
kg_dp_setup

stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }
# udp UID HOST PORT [sendto|connect|mapped]: one UDP attempt; prints "UDP OK" or "UDP <errno>"
# and how long the refusal took. mapped: sendto() on an AF_INET6 socket to ::ffff:HOST.
udp() {
	kg_app "$1" "$KG_PYTHON" -c '
import errno, socket, sys, time
host, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fam = socket.AF_INET6 if ":" in host or how == "mapped" else socket.AF_INET
if how == "mapped":
    host = "::ffff:" + host
s = socket.socket(fam, socket.SOCK_DGRAM)
t = time.monotonic()
try:
    if how == "connect":
        s.connect((host, port))
        s.send(b"quic?")
    else:
        s.sendto(b"quic?", (host, port))
    print("UDP OK")
except OSError as e:
    print("UDP %s %.3fs" % (errno.errorcode.get(e.errno, e.errno), time.monotonic() - t))
' "$2" "$3" "${4:-sendto}" 2>&1
}

FU="$KG_TMP/control-$U"
mkfifo -m 600 "$FU" && chown "$U" "$FU"
kg_start_relay "$U" --control "$FU" || exit 99
RU=$KG_RELAY_LOG

q0=$(stat_of quic_blocked)
kg_check "quic_blocked is in ctl stats, 0 at the start ($q0)" test "$q0" = 0

# A steered user: QUIC refused, at once.
out=$(udp "$U" 192.0.2.10 443 connect)
kg_expect "steered: UDP connect() to 192.0.2.10:443 fails with EPERM" "UDP EPERM" "$out"
kg_check "... at once ($out)" awk '{ exit !($3 + 0 < 0.5) }' <<<"$out"
kg_expect "steered: sendto() on an unconnected socket to 192.0.2.10:443 fails with EPERM" \
	"UDP EPERM" "$(udp "$U" 192.0.2.10 443)"
kg_expect "steered: IPv6 sendto() to [2001:db8::10]:443 fails with EPERM" "UDP EPERM" \
	"$(udp "$U" 2001:db8::10 443)"
kg_expect "steered: IPv6 connect() to [2001:db8::10]:443 fails with EPERM" "UDP EPERM" \
	"$(udp "$U" 2001:db8::10 443 connect)"
kg_expect "steered: v4-mapped sendto() to ::ffff:192.0.2.10:443 fails with EPERM" "UDP EPERM" \
	"$(udp "$U" 192.0.2.10 443 mapped)"
kg_check "quic_blocked counts the 5 attempts ($(stat_of quic_blocked))" \
	test "$(stat_of quic_blocked)" = 5

# Everything else is untouched.
kg_expect "DNS: sendto() to 192.0.2.10:53 works" "UDP OK" "$(udp "$U" 192.0.2.10 53)"
kg_expect "DNS: connect() and send() to 192.0.2.10:53 work" "UDP OK" "$(udp "$U" 192.0.2.10 53 connect)"
kg_expect "another port: sendto() to 192.0.2.10:4443 works" "UDP OK" "$(udp "$U" 192.0.2.10 4443)"
kg_expect "another port: connect() to [2001:db8::10]:4443 works" "UDP OK" \
	"$(udp "$U" 2001:db8::10 4443 connect)"
kg_expect "local: sendto() to 127.0.0.2:443 works" "UDP OK" "$(udp "$U" 127.0.0.2 443)"
kg_expect "bypass: sendto() to 198.51.100.7:443 works" "UDP OK" "$(udp "$U" 198.51.100.7 443)"
kg_expect "proxy endpoint: sendto() to 203.0.113.5:443 works" "UDP OK" "$(udp "$U" 203.0.113.5 443)"
kg_expect "a uid without a client: sendto() to 192.0.2.10:443 works" "UDP OK" "$(udp "$W" 192.0.2.10 443)"
kg_expect "a uid without a client: connect() to 192.0.2.10:443 works" "UDP OK" \
	"$(udp "$W" 192.0.2.10 443 connect)"
kg_make_netns other NS2
ip -n "$NS2" addr add 192.0.2.10/32 dev lo
kg_expect "another network namespace: sendto() to 192.0.2.10:443 works there" "UDP OK" \
	"$(KG_NS=$NS2 udp "$U" 192.0.2.10 443)"
kg_check "quic_blocked did not move ($(stat_of quic_blocked))" test "$(stat_of quic_blocked)" = 5
kg_expect "TCP to 192.0.2.10:443 is still steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443)"

# ctl watch shows a refused attempt: one line per socket however often it tries (the first
# socket's three attempts, then another socket's one, make exactly two lines).
kg_in_cgroup timeout -k 2 10 "$KG_CTL" --socket "$KG_SOCK" watch >"$KG_TMP/watch.log" 2>&1 &
WL=$!
kg_on_exit kg_stop_pid "$WL"
kg_wait_for 25 eval '[ "$(kg_live_events "$KG_SERVICE_PID")" = 1 ]'
out=$(kg_app "$U" "$KG_PYTHON" -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    try:
        s.sendto(b"quic?", ("192.0.2.10", 443))
    except PermissionError:
        print("REFUSED")
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    s6.sendto(b"quic?", ("2001:db8::10", 443))
except PermissionError:
    print("REFUSED")
time.sleep(1)' 2>&1)
kg_check "watch: the 4 attempts were refused" test "$(grep -c REFUSED <<<"$out")" = 4
kg_wait_for 40 grep -q "quic-blocked .*dest=\[2001:db8::10\]:443" "$KG_TMP/watch.log"
kg_check "ctl watch shows the refused attempt: quic-blocked user=$U ... dest=192.0.2.10:443" \
	grep -qE "quic-blocked +user=$U pid=[0-9]+ comm=python3 dest=192.0.2.10:443" "$KG_TMP/watch.log"
kg_check "... once for the socket's three attempts, then the next socket's" \
	test "$(grep -c quic-blocked "$KG_TMP/watch.log")" = 2
kill "$WL" 2>/dev/null
wait "$WL" 2>/dev/null
kg_check "quic_blocked counts every attempt all the same ($(stat_of quic_blocked))" \
	test "$(stat_of quic_blocked)" = 9
kg_check "the service's stats line has the counter" \
	kg_wait_for 40 grep -qE "stats: .* events dropped, [0-9]+ connection_map entries evicted, 9 QUIC blocked" "$KG_TMP/service.log"

# The user's client says "direct": the user's QUIC goes out as the rest does.
kg_expect "U's client says direct" "ROUTE OK" \
	"$(kg_relay_say "$FU" "$RU" "direct no proxy reachable")"
kg_expect "direct: sendto() to 192.0.2.10:443 works" "UDP OK" "$(udp "$U" 192.0.2.10 443)"
kg_expect "direct: connect() to 192.0.2.10:443 works" "UDP OK" "$(udp "$U" 192.0.2.10 443 connect)"
kg_expect "U's client says steer" "ROUTE OK" "$(kg_relay_say "$FU" "$RU" steer)"
kg_expect "steered again: sendto() to 192.0.2.10:443 fails with EPERM" "UDP EPERM" \
	"$(udp "$U" 192.0.2.10 443)"

# ebpf.block_quic = false, applied by a reload: nothing is refused; true again, refused again.
KG_DP_EBPF_EXTRA="block_quic = false;" kg_dp_write_config 443
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
q1=$(stat_of quic_blocked)
kg_expect "block_quic = false: sendto() to 192.0.2.10:443 works" "UDP OK" "$(udp "$U" 192.0.2.10 443)"
kg_expect "block_quic = false: connect() to [2001:db8::10]:443 works" "UDP OK" \
	"$(udp "$U" 2001:db8::10 443 connect)"
kg_check "block_quic = false: quic_blocked did not move" test "$(stat_of quic_blocked)" = "$q1"
kg_expect "block_quic = false: TCP is still steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443)"
kg_dp_write_config 443
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kg_expect "block_quic back to its default (true): refused again" "UDP EPERM" \
	"$(udp "$U" 192.0.2.10 443)"

# The client gone, the user's QUIC goes out again (fail-open, as TCP).
kg_stop_pid "$KG_RELAY_PID"
wait "$KG_RELAY_PID" 2>/dev/null
kg_wait_for 30 grep -q "disconnected" "$KG_TMP/service.log"
kg_expect "after the client disconnected: sendto() to 192.0.2.10:443 works" "UDP OK" \
	"$(udp "$U" 192.0.2.10 443)"

kg_finish
