#!/bin/bash
# The datapath's fixed-size structures never fill silently (issue 16 item 4): connection_map
# (an LRU hash, shrunk here to KG_TEST_CONNECTION_MAP_ENTRIES entries so a few hundred held
# connections fill it) and the event ring (filled while the service is stopped with SIGSTOP).
# Each time a counter of kernelgatekeeper-ctl stats moves, and the service's log says once
# what it means; steering goes on and nothing is mis-steered.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
SIZE=256
N=600 # held at once: more than SIZE
export KG_TEST_CONNECTION_MAP_ENTRIES=$SIZE
kg_dp_setup
unset KG_TEST_CONNECTION_MAP_ENTRIES
kg_on_exit kill -CONT "$KG_SERVICE_PID" # before its stop, should a check below fail early
kg_check "the service says it runs with the test's small connection_map" \
	grep -q "KG_TEST_CONNECTION_MAP_ENTRIES: connection_map holds $SIZE entries" "$KG_TMP/service.log"
kg_start_relay "$U" || exit 99

stat_of() { # NAME: its value in kernelgatekeeper-ctl stats
	"$KG_CTL" --socket "$KG_SOCK" stats | awk -v n="$1" '$1 == n {print $2}'
}
lines_of() { # REGEX: matching lines of the service's log
	grep -cE "$1" "$KG_TMP/service.log"
}
# COUNT connections to 192.0.2.10:443 (steered to U's relay), one after the other, each read
# up to the relay's answer; HOLD=1 keeps them all open until the last one is answered. Prints
# "answered A of COUNT".
connections() { # COUNT HOLD
	kg_app "$U" "$KG_PYTHON" - 192.0.2.10 443 "$1" "$2" <<'EOF'
import resource, socket, sys

ip, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
held, answered = [], 0
for _ in range(n):
    s = socket.create_connection((ip, port), timeout=10)
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            break
        data += chunk
    answered += data.startswith(b"ORIGDST 192.0.2.10:443")
    if hold:
        held.append(s)
    else:
        s.close()
print("answered %d of %d" % (answered, n))
for s in held:
    s.close()
EOF
}

CONNMAP_LINE="connection_map is full \($SIZE entries\)"
kg_check "connection_map_evicted is 0 before the map fills" test "$(stat_of connection_map_evicted)" = 0
out=$(connections "$N" 1)
kg_expect "$N connections held open at once, each answered before the next (entries evicted later)" \
	"answered $N of $N" "$out"
kg_check "connection_map_evicted counts at least the $((N - SIZE)) entries evicted" \
	kg_wait_for 50 eval '[ "$(stat_of connection_map_evicted)" -ge $((N - SIZE)) ]'
echo "# connection_map_evicted: $(stat_of connection_map_evicted)"
kg_check "the service's log says once what a full connection_map means" \
	kg_wait_for 150 eval '[ "$(lines_of "$CONNMAP_LINE")" = 1 ]'
grep -E "$CONNMAP_LINE" "$KG_TMP/service.log" | sed 's/^/#   /'
kg_expect "... and what to change" "KG_MAX_CONNECTIONS" "$(grep -E "$CONNMAP_LINE" "$KG_TMP/service.log")"
before=$(stat_of connection_map_evicted)
out=$(connections "$N" 1)
kg_expect "a second round fills it again, every connection still answered" "answered $N of $N" "$out"
kg_check "the counter goes on counting" \
	kg_wait_for 50 eval '[ "$(stat_of connection_map_evicted)" -ge $((before + N - SIZE)) ]'
sleep 2 # one more stats tick
kg_check "... and the log does not repeat itself within the hour" test "$(lines_of "connection_map is (still )?full")" = 1

# The event ring: the service stopped, so nothing drains it; 1500 connections make 3000
# events, more than its 256 KiB hold.
RING_LINE="event ring \(256 KiB\) was full"
kg_check "events_dropped is 0 before the ring fills" test "$(stat_of events_dropped)" = 0
kill -STOP "$KG_SERVICE_PID"
out=$(connections 1500 0)
kill -CONT "$KG_SERVICE_PID"
kg_expect "1500 connections steered while the service was stopped, each answered" "answered 1500 of 1500" "$out"
kg_check "events_dropped counts the events the full ring could not take" \
	kg_wait_for 50 eval '[ "$(stat_of events_dropped)" -gt 0 ]'
echo "# events_dropped: $(stat_of events_dropped)"
kg_check "the service's log says once what a full event ring means" \
	kg_wait_for 150 eval '[ "$(lines_of "$RING_LINE")" = 1 ]'
grep -E "$RING_LINE" "$KG_TMP/service.log" | sed 's/^/#   /'
kg_expect "... and that nothing was mis-steered" "nothing was mis-steered" "$(grep -E "$RING_LINE" "$KG_TMP/service.log")"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "steering goes on after both overflows" "ORIGDST 192.0.2.10:443" "$out"
kg_finish
