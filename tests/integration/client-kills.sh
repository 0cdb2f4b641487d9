#!/bin/bash
# Processes on the way out that die mid-run (issue 16 item 5), as the user sees it: the KDC
# killed (a cached service ticket keeps working; a ticket that needs the KDC fails at once with
# a line that names it; the KDC back, tokens come again without a client restart), and the proxy
# restarted in the middle of a 1 GiB download (that download ends at once with a short read,
# one log line says why, the next request works as soon as the proxy listens again, and the
# relay's descriptors return to their count before the download).
# client-kills-load.sh kills the service and a client under load.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kgc_setup squid
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"
LOG_U=$(kgc_client_log "$U")
CLIENT_PID=${KGC_PID[$U]}
log_lines=0
new_log_says() { tail -n +$((log_lines + 1)) "$LOG_U" | grep -q "$1"; } # since line log_lines
new_log_count() { tail -n +$((log_lines + 1)) "$LOG_U" | grep -c "$1"; }
works() { test "$(kgc_curl "$U" -m 5 "$1://$ORIGIN_HOST/" 2>/dev/null)" = "$PAGE"; }
kdc_kill() { # SIGKILL, by the PID the rig recorded; krbrig_kdc_start can start it again
	local pid
	pid=$(cat "$RIG/kdc.pid") && rm -f "$RIG/kdc.pid" || return 1
	kill -KILL "$pid" && wait "$pid" 2>/dev/null
	! krbrig_listening "$KRBRIG_NS_PROXY" "$KDC_PORT"
}
nfds() { ls "/proc/$CLIENT_PID/fd" 2>/dev/null | wc -l; }
# What failed is back: wait (TENTHS of a second at most) until https works, t0 being when the
# wait began and ms how long it took; then https works within LIMIT (a test on t0 and ms) from
# the same client, and http works too. HTTPS_SAYS is expanded after the wait (single-quote it).
works_again() { # works_again TENTHS LIMIT HTTPS_SAYS HTTP_SAYS
	t0=$(krbrig_now_ms)
	kg_wait_for "$1" works https
	ms=$(($(krbrig_now_ms) - t0))
	kg_check "$(eval "echo \"$3\"")" eval "works https && $2 && kill -0 \"\$CLIENT_PID\""
	kg_check "$4" works http
}

kg_check "baseline: https works (the proxy's service ticket is now in the cache)" works https

# --- the KDC dies: what the cache holds goes on working ---------------------------------------
kdc_kill || exit 99
kg_on_exit krbrig_kdc_start
ok=0
for ((i = 0; i < 10; i++)); do
	works https && works http && ok=$((ok + 1))
done
kg_check "KDC killed, service ticket cached: 10 https + 10 http requests work ($ok/10)" \
	test "$ok" = 10
kg_check "... and the client logged nothing about the KDC" eval '! grep -q "KDC" "$LOG_U"'

# --- the KDC is dead and the ticket needs it: a prompt, clear failure -------------------------
# A fresh kinit (KDC up for it) leaves only the TGT: the proxy's service ticket needs the KDC,
# whose port is closed now (the kernel answers with a reset: no waiting for request_timeout).
krbrig_kdc_start || exit 99
krbrig_kinit_as "$U" alice alicepw "$CC_U" || exit 99
kdc_kill || exit 99
kgc_timed "$U" -m 20 -o /dev/null "https://$ORIGIN_HOST/"
kg_wait_for 50 new_log_says "KDC unreachable"
kg_check "KDC dead, ticket needs it: https closed in ${ms} ms (curl $rc; want < 3000, request_timeout is 10 s)" \
	eval '[ "$rc" != 0 ] && [ $ms -lt 3000 ]'
kg_check "... and the log says the KDC is unreachable" new_log_says "KDC unreachable"
tail -n +$((log_lines + 1)) "$LOG_U" | grep -m1 "KDC unreachable" | sed 's/^/# log: /'
kgc_timed "$U" -m 20 -w '\n%{http_code}' "http://$ORIGIN_HOST/"
kg_check "KDC dead: port 80 gets a 502 page naming the KDC in ${ms} ms (want < 3000)" \
	eval 'printf "%s" "$page" | tail -n1 | grep -qx 502 && printf "%s" "$page" | grep -q "KDC unreachable" && [ $ms -lt 3000 ]'
printf '%s\n' "$page" | head -n1 | sed 's/^/# 502 page: /'
kg_check "... and the client is still the same process" kill -0 "$CLIENT_PID"

# --- the KDC comes back: tokens again, no client restart ------------------------------------
krbrig_kdc_start || exit 99
works_again 300 '[ $ms -lt 3000 ]' \
	'KDC back: https works again without a client restart (after ${ms} ms, want < 3000)' \
	"KDC back: http works again"

# --- the proxy restarts in the middle of a 1 GiB download ------------------------------------
BIG=$((1024 << 20))
kg_wait_for 50 eval '[ "$(nfds)" -gt 0 ]'
sleep 1
fds0=$(nfds)
log_lines=$(wc -l <"$LOG_U")
# 100 MB/s: about 10 s, so the restart lands inside it.
# The subshell notes when the download ended (for the figure below).
(
	kgc_curl "$U" -m 120 --limit-rate 100M -o /dev/null -w '%{stderr}%{size_download}' \
		"https://$ORIGIN_HOST/bytes/$BIG" 2>"$KG_TMP/big.res"
	echo "$? $(krbrig_now_ms)" >"$KG_TMP/big.end"
) &
dl=$!
sleep 2
kg_check "the download is under way" kill -0 "$dl"
t_kill=$(krbrig_now_ms)
krbrig_stop_pidfile proxy # TERM, by the PID the rig recorded (KILL after 3 s)
t_dead=$(krbrig_now_ms)
krbrig_spawn "$KRBRIG_NS_PROXY" proxy "$(krbrig_squid_bin)" -N -f "$RIG/squid.conf"
kg_wait_for 100 krbrig_listening "$KRBRIG_NS_PROXY" "$PROXY_PORT" || exit 99
t_up=$(krbrig_now_ms)
# The download's end: bounded (curl's -m 120 is only the backstop).
kg_wait_for 100 kg_gone "$dl"
wait "$dl"
read -r dl_rc t_end <"$KG_TMP/big.end" || dl_rc=timeout t_end=$(krbrig_now_ms)
got=$(tail -n1 "$KG_TMP/big.res" | grep -o '^[0-9]*$')
echo "# Squid took $((t_dead - t_kill)) ms to exit, $((t_up - t_dead)) ms to listen again"
# Squid closes its connections on SIGTERM (shutdown_lifetime 0) before it exits.
kg_check "proxy restarted: the download fails, not hangs (curl $dl_rc, $((t_end - t_kill)) ms after SIGTERM, want < 5000; $((t_end - t_dead)) ms after the proxy exited)" \
	eval '[ "$dl_rc" != 0 ] && [ $((t_end - t_kill)) -lt 5000 ] && [ $((t_end - t_dead)) -lt 2000 ]'
kg_check "... with a short read: ${got:-?} of $BIG bytes" \
	eval '[ -n "$got" ] && [ "$got" -gt 0 ] && [ "$got" -lt "$BIG" ]'
head -n1 "$KG_TMP/big.res" | sed 's/^/# curl: /'
# The first request as soon as the proxy listens again.
works_again 100 '[ $((t0 - t_up + ms)) -lt 2000 ]' \
	'proxy back: the next https request works ($((t0 - t_up)) + ${ms} ms after it listens, want < 2000), same client' \
	"proxy back: http works too"
n=$(new_log_count "")
# Warm spares follow the recent connection rate (warm.h: 10 s memory) and go as it decays: a
# spare the requests above brought may hold a descriptor for some seconds, a leak holds it for
# good. Seen once under make -j2 check: 15 against 14 after 3 s.
kg_wait_for 150 eval '[ "$(nfds)" -le "$fds0" ]'
kg_check "the relay's descriptors return to the count before the download ($(nfds), was $fds0)" \
	eval '[ "$(nfds)" -le "$fds0" ]'
echo "# the client's log since the download ($n lines):"
tail -n +$((log_lines + 1)) "$LOG_U" | sed 's/^/#   /'
# The proxy ends the tunnel with a FIN, as the origin ends a download: the relay passes it on
# (the short read above) and has nothing to tell apart, so it must not say more than once.
kg_check "the client says it at most once ($n lines)" test "$n" -le 1
kg_finish
