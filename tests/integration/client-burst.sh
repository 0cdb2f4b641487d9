#!/bin/bash
# A burst of steered connects against the real relay client (issue 15): 2,000 connects opened
# at once by one application, all steered to the user's relay listener. Each must complete
# without a SYN dropped at a full listen queue (a dropped SYN waits 1 s for its retransmit), so
# the listener overflow counters of the namespace the service, the client and the application
# run in stay where they were, and no connect takes as long as a retransmit. The service's
# backlog (net.core.somaxconn, src/service/ipc_server.c) and the client's accept loop (drained
# up to EAGAIN, bounded per wakeup, src/client/accept.c) have to absorb it together.
# KGC_BURST sets the number of connects (default 2000).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter nstat
kg_make_netns cli KG_NS # its own counters: other tests' listeners are not in them
kgc_setup squid
kgc_move_host_side "$KG_NS" || exit 99
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"
N=${KGC_BURST:-2000}

listen_drops() { # -> "overflows drops" in KG_NS
	ip netns exec "$KG_NS" nstat -az TcpExtListenOverflows TcpExtListenDrops |
		awk '/ListenOverflows/ {o = $2} /ListenDrops/ {d = $2} END {print o + 0, d + 0}'
}

kg_check "a steered connection works before the burst" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

read -r ovf0 drop0 < <(listen_drops)
# N non-blocking connects to the origin's port 443 (steered), issued back to back; then each
# one's completion time. Prints "connected C failed F slowest_ms S over_900ms O".
out=$(kgc_app "$U" python3 - "$ORIGIN_IP" "$N" <<'EOF'
import resource, select, socket, sys, time

ip, n = sys.argv[1], int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
socks, start, done = {}, {}, {}
ep = select.epoll()
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    start[s.fileno()] = time.monotonic()
    err = s.connect_ex((ip, 443))
    socks[s.fileno()] = s
    if err == 0:
        done[s.fileno()] = (time.monotonic(), 0)
    else:
        ep.register(s.fileno(), select.EPOLLOUT)
deadline = time.monotonic() + 15
while len(done) < n and time.monotonic() < deadline:
    for fd, _ in ep.poll(0.5):
        if fd not in done:
            done[fd] = (time.monotonic(), socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
            ep.unregister(fd)
ok = [t - start[fd] for fd, (t, e) in done.items() if e == 0]
print("connected %d failed %d slowest_ms %.0f over_900ms %d" %
      (len(ok), n - len(ok), 1000 * max(ok, default=0), sum(1 for d in ok if d > 0.9)))
for s in socks.values():
    s.close()
EOF
)
read -r ovf1 drop1 < <(listen_drops)
echo "# burst of $N: $out; ListenOverflows $ovf0 -> $ovf1, ListenDrops $drop0 -> $drop1"
kg_check "all $N connects of the burst complete" \
	eval '[ "$(awk "{print \$2}" <<<"$out")" = "$N" ]'
kg_check "none waited for a SYN retransmit (no connect over 900 ms)" \
	eval '[ "$(awk "{print \$8}" <<<"$out")" = 0 ]'
kg_check "the relay listener never overflowed (TcpExtListenOverflows $ovf0 -> $ovf1)" \
	test "$ovf1" = "$ovf0"
kg_check "... and dropped nothing (TcpExtListenDrops $drop0 -> $drop1)" test "$drop1" = "$drop0"
kg_check "the client still relays after the burst" \
	kg_wait_for 100 eval '[ "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE" ]'
kg_finish
