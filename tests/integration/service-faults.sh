#!/bin/bash
# The service under resource faults (issue 16 item 5), with what the user sees:
#   ring buffer full    the service stopped (SIGSTOP) drains no events while 3,000 steered
#                       connects fill KG_RINGBUF_BYTES: the datapath counts the events it drops
#                       (kernelgatekeeper-ctl stats: events_dropped), and steering goes on
#                       meanwhile: every connect is redirected, and a connect made while the
#                       ring is full still gets its original destination
#   process_map full    ebpf.max_clients (here 2, default the map's 4096 entries): the next
#                       registration is refused with a sentence naming the limit and its key,
#                       the registered users keep working, and a freed place is taken again
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"

U=$KG_UID_U
V=$KG_UID_V
W=61003 # a third user
kg_require_root
# info, not debug: debug logging wakes the service for every event (settings.live_events).
KG_DP_LOG_LEVEL=info
kg_dp_setup
stat_of() { "$KG_CTL" --socket "$KG_SOCK" stats | awk -v k="$1" '$1 == k {print $2}'; }

kg_start_relay "$U" || exit 99
kg_expect "baseline: a connect of uid $U is steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443)"

# --- the ring buffer fills while the service drains nothing -----------------------------------
N=3000
dropped0=$(stat_of events_dropped)
redirected0=$(stat_of redirected)
kill -STOP "$KG_SERVICE_PID"
kg_on_exit kill -CONT "$KG_SERVICE_PID"
# Each connect is closed at once: what counts is the datapath's redirect and its events.
made=$(kg_app "$U" "$KG_PYTHON" -c '
import socket, sys
made = 0
for i in range(int(sys.argv[1])):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("192.0.2.10", 443))
    except BlockingIOError:
        pass
    except OSError:
        continue
    made += 1
    s.close()
print(made)
' "$N")
during=$(kg_probe_app "$U" 192.0.2.10 443)
kill -CONT "$KG_SERVICE_PID"
kg_check "ring full: the $N connects were made while the service was stopped ($made)" \
	test "${made:-0}" = "$N"
kg_expect "ring full: a connect while the ring was full is still steered" \
	"ORIGDST 192.0.2.10:443" "$during"
kg_wait_for 50 eval '[ "$(stat_of events_dropped)" -gt "${dropped0:-0}" ]'
dropped=$(stat_of events_dropped)
redirected=$(stat_of redirected)
kg_check "ring full: events_dropped counts the lost events (${dropped0} -> ${dropped})" \
	test "${dropped:-0}" -gt "${dropped0:-0}"
kg_check "ring full: every connect was redirected (redirected ${redirected0} -> ${redirected}, want +$((N + 1)) at least)" \
	test "${redirected:-0}" -ge $((redirected0 + N + 1))
kg_check "ring full: the service is still running" kill -0 "$KG_SERVICE_PID"
kg_expect "ring full: after SIGCONT a connect is steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443)"
grep -m1 "events dropped\|dropped" "$KG_TMP/service.log" | sed 's/^/# service log: /'

# --- process_map full: ebpf.max_clients ---------------------------------------------------------
KG_DP_EBPF_EXTRA="max_clients = 2;" kg_dp_write_config 443
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_start_relay "$V" || exit 99
relay_v=$KG_RELAY_PID
kg_start_relay "$W"
out=$(cat "$KG_RELAY_LOG")
kg_check "max_clients 2: a third user's registration is refused" \
	eval 'printf "%s" "$out" | grep -q "^REFUSED" && ! printf "%s" "$out" | grep -q REGISTERED'
kg_check "max_clients 2: the refusal names the limit and its key" \
	eval 'printf "%s" "$out" | grep -q "^REFUSED 2 clients are registered, the limit of ebpf.max_clients (2, at most 4096)"'
printf '%s\n' "$out" | grep -m1 REFUSED | sed 's/^/# /'
kg_check "max_clients 2: the service log says so" \
	grep -q "refusing to register a client for uid $W: 2 clients are registered, the limit of ebpf.max_clients (2)" \
	"$KG_TMP/service.log"
kg_expect "max_clients 2: uid $U's connects are still steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$U" 192.0.2.10 443)"
kg_expect "max_clients 2: uid $V's connects are still steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$V" 192.0.2.10 443)"
kg_stop_pid "$relay_v"
kg_check "max_clients 2: once uid $V's client is gone, uid $W registers" \
	kg_wait_for 50 eval 'kg_start_relay "$W" >/dev/null'
kg_expect "max_clients 2: uid $W's connects are steered" "ORIGDST 192.0.2.10:443" \
	"$(kg_probe_app "$W" 192.0.2.10 443)"

kg_finish
