#!/bin/bash
# What the user sees when something is wrong, and recovery without a restart: no ticket (kdestroy)
# then kinit, a proxy that rejects the ticket, the proxy down, the client killed (that user's
# connections are no longer steered, another user's still are).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_cmd nft # the silent KDC below
# The KDC with its clock off: libfaketime preloaded into it directly, not the faketime program,
# which forks and would leave the recorded PID to a wrapper (the skewed KDC could outlive it).
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n1)
[ -n "$FAKETIME_LIB" ] || kg_skip "needs libfaketime (package faketime)"

kgc_setup squid
kgc_start_client "$U" || exit 99
kgc_start_client "$V" || exit 99
PAGE="kgtest origin: hello"
LOG_U=$(kgc_client_log "$U")
log_lines=0
new_log_says() { tail -n +$((log_lines + 1)) "$LOG_U" | grep -q "$1"; } # since line log_lines

kg_check "baseline: https works" test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "kernelgatekeeper-ctl status (as uid $U) shows the principal alice@$REALM" \
	kg_wait_for 30 eval 'kgc_app "$U" "$KG_CTL" --socket "$KG_SOCK" status | grep -q "alice@$REALM"'

# A ticket that ends in 10 minutes: the client warns (at registration, on SIGHUP, every minute).
krbrig_kinit_as "$U" alice alicepw "$CC_U" -l 10m
kill -HUP "${KGC_PID[$U]}"
kg_check "a ticket that expires within 15 min is warned about" \
	kg_wait_for 30 grep -q "expires in 1[0-9] min\|expires in [0-9] min" "$LOG_U"
krbrig_kinit_as "$U" alice alicepw "$CC_U"

# --- no ticket -------------------------------------------------------------------------------
kgc_app "$U" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="$CC_U" kdestroy -q
out=$(kgc_curl "$U" -m 10 -w '%{http_code}' -o /dev/null "https://$ORIGIN_HOST/" 2>&1)
kg_check "after kdestroy: the https connection is closed (curl: $(printf '%s' "$out" | tr '\n' ' '))" \
	eval 'printf "%s" "$out" | grep -qE "^000|SSL|reset|closed|error"'
kg_check "after kdestroy: the log says to run kinit" \
	kg_wait_for 20 grep -q "no Kerberos ticket: run kinit" "$LOG_U"
grep -m1 "no Kerberos ticket" "$LOG_U" | sed 's/^/# log: /'
page=$(kgc_curl "$U" -m 10 -w '\n%{http_code}' "http://$ORIGIN_HOST/" 2>&1)
kg_check "after kdestroy: port 80 gets a 502 page that says to run kinit" \
	eval 'printf "%s" "$page" | tail -n1 | grep -qx 502 && printf "%s" "$page" | grep -q kinit'
printf '%s\n' "$page" | head -n1 | sed 's/^/# 502 page: /'
krbrig_kinit_as "$U" alice alicepw "$CC_U"
kg_check "after kinit: https works again without a restart" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "after kinit: http works again" \
	test "$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

# --- the KDC never answers: only request_timeout ends the wait for the token ----------------
# A fresh kinit leaves no service ticket for the proxy in the cache, so the next token needs the
# KDC; nft in the proxy namespace (where the rig's KDC listens) drops its traffic silently.
KGC_REQUEST_TIMEOUT=2 kgc_write_config
kgc_reload
krbrig_kinit_as "$U" alice alicepw "$CC_U"
ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || exit 99
table inet kgtest_kdc_silent {
	chain input {
		type filter hook input priority 0;
		tcp dport $KDC_PORT drop
		udp dport $KDC_PORT drop
	}
}
EOF
kg_on_exit ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_kdc_silent 2>/dev/null
kgc_timed "$U" -m 20 -o /dev/null "https://$ORIGIN_HOST/"
kg_wait_for 20 new_log_says "no Kerberos token within 2 s"
kg_check "KDC silent: the connection ends after request_timeout (${ms} ms, want 1900..4500), log says KDC unreachable" \
	eval '[ $ms -ge 1900 ] && [ $ms -lt 4500 ] && new_log_says "KDC unreachable.*no Kerberos token within 2 s"'
tail -n +$((log_lines + 1)) "$LOG_U" | grep -m1 "no Kerberos token" | sed 's/^/# log: /'
ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_kdc_silent
t0=$(date +%s)
kg_check "KDC back: https works again without a restart" \
	kg_wait_for 600 eval 'test "$(kgc_curl "$U" -m 5 "https://$ORIGIN_HOST/" 2>/dev/null)" = "$PAGE"'
echo "# the next token came $(($(date +%s) - t0)) s after the KDC was reachable again"

# --- clock skew: the KDC's clock runs an hour ahead (libfaketime), past Kerberos' 5 minutes ---
# The TGT is taken first, with the clocks agreeing; the proxy's service ticket then needs the
# KDC, which rejects the request's timestamp.
krbrig_kinit_as "$U" alice alicepw "$CC_U"
krbrig_kdc_stop
krbrig_kdc_start env LD_PRELOAD="$FAKETIME_LIB" FAKETIME=+1h || exit 99
kgc_timed "$U" -m 20 "http://$ORIGIN_HOST/"
kg_check "clock skew: port 80 gets a 502 page that names it" \
	eval 'printf "%s" "$page" | grep -q "clock skew"'
printf '%s\n' "$page" | head -n1 | sed 's/^/# 502 page: /'
kg_check "... and so does the journal" kg_wait_for 20 new_log_says "clock skew"
krbrig_kdc_stop
krbrig_kdc_start || exit 99
kg_check "clocks agree again: https works without a restart" \
	kg_wait_for 100 eval 'test "$(kgc_curl "$U" -m 5 "https://$ORIGIN_HOST/" 2>/dev/null)" = "$PAGE"'

# --- the proxy rejects the ticket: a service principal Squid has no key for ------------------
krbrig_kadmin "$RIG" -q "addprinc -randkey HTTP/other.kgtest.local@$REALM"
KGC_SPN="HTTP@other.kgtest.local" kgc_write_config
kgc_reload
kg_wait_for 30 grep -q "service principal HTTP@other" "$LOG_U"
out=$(kgc_curl "$U" -m 10 -o /dev/null "https://$ORIGIN_HOST/" 2>&1)
kg_check "ticket for the wrong principal: the log says the proxy rejected the ticket" \
	kg_wait_for 20 grep -q "proxy rejected" "$LOG_U"
grep -m1 "proxy rejected" "$LOG_U" | sed 's/^/# log: /'
page=$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)
kg_check "... and port 80 gets the same sentence" eval 'printf "%s" "$page" | grep -q "proxy rejected"'

# --- the proxy refuses the destination: like a default Squid, it allows CONNECT to 443 only ---
# (this configuration also puts the right service principal back)
KGC_PORTS="80, 443, 8443" kgc_write_config
kgc_reload
before=$(kgc_access_lines)
kgc_timed "$U" -m 10 -o /dev/null --resolve "$ORIGIN_HOST:8443:$ORIGIN_IP" \
	"https://$ORIGIN_HOST:8443/"
kg_wait_for 20 new_log_says "refused the connection"
kg_check "port 8443 refused by the proxy: closed (curl $rc), the log says so with the status" \
	eval '[ "$rc" != 0 ] && new_log_says "the proxy refused the connection to $ORIGIN_HOST:8443: 403"'
tail -n +$((log_lines + 1)) "$LOG_U" | grep -m1 "refused the connection" | sed 's/^/# log: /'
kg_check "... and the proxy logged it as a denied CONNECT (it checks the port before the user)" \
	kgc_access_since "$before" "DENIED/403 .*CONNECT $ORIGIN_HOST:8443 "
kgc_write_config
kgc_reload

# --- a dead first proxy in a proxy.url list: failover to the next -----------------------------
# Nothing listens on the next port of the proxy's address: each attempt there is one SYN
# answered by a reset, counted by nft. The first connection tries it once and moves on at once
# (no retries while another proxy is left); the next connection skips it (5 minutes).
DEAD="${PROXY_IP:-127.0.0.1}:$((PROXY_PORT + 1))"
ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || exit 99
table inet kgtest_dead {
	chain input {
		type filter hook input priority 0;
		tcp dport $((PROXY_PORT + 1)) tcp flags & (syn | ack) == syn counter
	}
}
EOF
kg_on_exit ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_dead 2>/dev/null
KGC_URL="[ \"http://$DEAD\", \"$PROXY_URL\" ]" kgc_write_config
kgc_reload
kg_check "a proxy list: the client logs its route in failover order" \
	kg_wait_for 10 grep -q "route: PROXY $DEAD; PROXY ${PROXY_IP:-127.0.0.1}:$PROXY_PORT\$" "$LOG_U"
kgc_timed "$U" -m 10 "https://$ORIGIN_HOST/"
kg_check "dead first proxy: https works through the second (${ms} ms)" \
	eval '[ "$page" = "$PAGE" ] && [ $ms -lt 3000 ]'
kg_check "... and the log names the failover" \
	kg_wait_for 10 new_log_says "PROXY $DEAD failed (proxy unreachable: .*), now via .* ($DEAD down)"
tail -n +$((log_lines + 1)) "$LOG_U" | grep -m1 "now via" | sed 's/^/# log: /'
kgc_timed "$U" -m 10 "http://$ORIGIN_HOST/"
kg_check "dead first proxy: http works too" test "$page" = "$PAGE"
syns=$(ip netns exec "$KRBRIG_NS_PROXY" nft list table inet kgtest_dead |
	grep -o 'packets [0-9]*' | cut -d' ' -f2)
kg_check "dead first proxy: tried once, then skipped ($syns SYNs, want 1)" test "$syns" = 1
ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_dead
kgc_write_config
kgc_reload

# --- the proxy is down -----------------------------------------------------------------------
krbrig_stop_pidfile proxy
# https first: the client says a repeated failure only once, so this is the line the log
# must carry for this connection; port 80 then shows the same sentence on its 502 page.
# Every attempt is one SYN at the proxy's address (answered by a reset): an nft counter there
# sees 1 + proxy.max_retries (2) of them.
ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || exit 99
table inet kgtest_syns {
	chain input {
		type filter hook input priority 0;
		tcp dport $PROXY_PORT tcp flags & (syn | ack) == syn counter
	}
}
EOF
kg_on_exit ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_syns 2>/dev/null
kgc_timed "$U" -m 20 -o /dev/null "https://$ORIGIN_HOST/"
kg_wait_for 20 new_log_says "proxy unreachable"
kg_check "proxy down: https fails within connection_timeout (${ms} ms), log says unreachable" \
	eval '[ $ms -lt 3500 ] && new_log_says "proxy unreachable"'
syns=$(ip netns exec "$KRBRIG_NS_PROXY" nft list table inet kgtest_syns |
	grep -o 'packets [0-9]*' | cut -d' ' -f2)
kg_check "proxy down: 1 + proxy.max_retries (2) connection attempts ($syns SYNs)" test "$syns" = 3
ip netns exec "$KRBRIG_NS_PROXY" nft delete table inet kgtest_syns
kgc_timed "$U" -m 20 "http://$ORIGIN_HOST/"
kg_check "proxy down: port 80 gets 502 'proxy unreachable' within connection_timeout (${ms} ms)" \
	eval 'printf "%s" "$page" | grep -q "proxy unreachable" && [ $ms -lt 3500 ]'
# A proxy that never answers: inside the proxy namespace a blackhole route towards the host
# swallows every SYN-ACK (no ICMP, no RST), so only connection_timeout (3 s) can end the wait.
# The service ticket is cached, no KDC needed.
krbrig_spawn "$KRBRIG_NS_PROXY" proxy squid -N -f "$RIG/squid.conf"
kg_wait_for 50 krbrig_listening "$KRBRIG_NS_PROXY" "$PROXY_PORT"
ip -n "$KRBRIG_NS_PROXY" route add blackhole "$HOST_IP/32" || exit 99
kgc_timed "$U" -m 20 "http://$ORIGIN_HOST/"
kg_check "proxy silent: 502 'unreachable' after connection_timeout (${ms} ms, want 2900..4500)" \
	eval 'printf "%s" "$page" | grep -q "unreachable" && [ $ms -ge 2900 ] && [ $ms -lt 4500 ]'
printf '%s\n' "$page" | head -n1 | sed 's/^/# 502 page: /'
ip -n "$KRBRIG_NS_PROXY" route del blackhole "$HOST_IP/32"
kg_check "proxy back: works again" \
	kg_wait_for 30 eval 'test "$(kgc_curl "$U" -m 5 "https://$ORIGIN_HOST/" 2>/dev/null)" = "$PAGE"'

# --- the credential cache hangs --------------------------------------------------------------
# Like a KCM daemon that stopped answering: kerberos.ccache names a FIFO nobody writes, so
# opening it blocks. The ticket report (right after a reload, then every minute) and the tokens
# wait on the Kerberos worker; the relay itself goes on: a download already under way finishes,
# port 80 gets its 502 after request_timeout, and SIGTERM does not wait for the worker.
STUCK="$KRBRIG_CCDIR/stuck.cc"
mkfifo -m 666 "$STUCK" || exit 99
release_stuck() { # each reader blocked on the FIFO gets end-of-file (a broken cache)
	local i
	for ((i = 0; i < 20; i++)); do
		timeout 0.5 sh -c ': >"$1"' _ "$STUCK" 2>/dev/null || break
	done
}
kg_on_exit release_stuck
KGC_CCACHE="FILE:$STUCK" KGC_REQUEST_TIMEOUT=2 kgc_write_config
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" # the client takes it on its own reload
# Far more than the socket buffers on the way hold (tcp_rmem allows 32 MiB each), so it needs
# the relay to the end.
SLOW=$((256 << 20))
kgc_curl "$U" -sS -m 60 --limit-rate 32M -w '%{stderr}%{http_code} %{size_download}' \
	"https://$ORIGIN_HOST/bytes/$SLOW" >"$KG_TMP/slow.out" 2>"$KG_TMP/slow.res" &
slow_pid=$!
kg_wait_for 50 test -s "$KG_TMP/slow.out"
kg_reload "${KGC_PID[$U]}" "$LOG_U"
kg_check "cache hangs: the download is still under way after the client's reload" \
	kill -0 "$slow_pid"
kgc_timed "$U" -m 20 "http://$ORIGIN_HOST/"
kg_check "cache hangs: port 80 gets a 502 after request_timeout (${ms} ms, want < 4500)" \
	eval 'printf "%s" "$page" | grep -q "no Kerberos token within 2 s" && [ $ms -lt 4500 ]'
kg_check "... and the page blames the credential cache, not the KDC" \
	eval 'printf "%s" "$page" | grep -q "credential cache does not answer"'
printf '%s\n' "$page" | head -n1 | sed 's/^/# 502 page: /'
wait "$slow_pid"
kg_check "cache hangs: the download under way completed ($(cat "$KG_TMP/slow.res"))" \
	test "$(cat "$KG_TMP/slow.res")" = "200 $SLOW"
# The worker is still inside the report the reload asked for: stopping must not wait for it.
t0=$(krbrig_now_ms)
kgc_stop_client "$U"
ms=$(($(krbrig_now_ms) - t0))
kg_check "cache hangs: SIGTERM still ends the client, status 0 (status $KGC_RC, ${ms} ms)" \
	eval '[ "$KGC_RC" = 0 ] && [ $ms -lt 4000 ]'
kg_check "cache hangs: the log says it left the waiting Kerberos worker behind" \
	grep -q "Kerberos worker is still waiting .*exiting without it" "$LOG_U"
release_stuck
rm -f "$STUCK"
kgc_write_config
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log"
kgc_start_client "$U" || exit 99
kg_check "cache back: https works again" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

# --- the client is killed --------------------------------------------------------------------
kill -KILL "${KGC_PID[$U]}"
wait "${KGC_PID[$U]}" 2>/dev/null
kg_wait_for 30 grep -q "uid $U .*disconnected\|of uid $U" "$KG_TMP/service.log"
sleep 0.2
kgc_timed "$U" -m 10 -o /dev/null "https://$ORIGIN_HOST/"
kg_check "client killed: uid $U's connection is not steered and fails fast (curl $rc, ${ms} ms)" \
	eval '[ $rc = 7 ] && [ $ms -lt 2000 ]'
out=$(kgc_curl "$V" -m 10 "https://$ORIGIN_HOST/" 2>&1)
kg_check "client killed: uid $V is unaffected" test "$out" = "$PAGE" || echo "# curl: $out"
kg_check "access log: bob@$REALM" krbrig_access_log_has "bob@$REALM"
kg_finish
