#!/bin/bash
# The relay client under injected resource faults (issue 16 item 5): what the user sees, and
# nothing lost or hung. tests/helpers/kg-fault fails chosen calls of the client while a file of
# the test's exists, so startup is untouched and the running relay meets the fault:
#   accept(2) out of descriptors  (EMFILE, ENFILE) the steered connection waits in the relay port's queue and is
#                                 served once the fault clears; the client does not spin
#                                 meanwhile and says so in one line
#   socket(2) out of descriptors  the connection to the proxy cannot be made: the application's
#                                 connection ends promptly (port 80: a 502 page), one log line
#   malloc(3) failing             the (N+1)-th allocation of the relay loop (the main thread)
#                                 after arming fails, for N = 0..29, while a request is served:
#                                 that connection may fail, the client does not crash, the next
#                                 request works. Not in the Kerberos worker thread: a failed
#                                 allocation in libkrb5's krb5_sname_to_principal (plugin
#                                 loading) crashes it in profile_get_values (krb5 1.20), which
#                                 this project's code cannot prevent.
#   log_path's disk full          relaying goes on, stderr (the journal) says so once, and the
#                                 file is written again once there is room
#   ebpf.max_clients reached      the next user's client logs the refusal with the limit and its
#                                 key, the registered user's connections work, and once the
#                                 limit is raised the refused client registers without a restart
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
kg_require_cmd mount umount dd
FAULT="$top_builddir/tests/helpers/kg-fault"
[ -x "$FAULT" ] && [ -f "$top_builddir/tests/helpers/libkg-fault.so" ] ||
	kg_skip "tests/helpers/kg-fault not built (make check builds it)"

kgc_setup squid
# No warm connections to the proxy: each request makes its own, so the faults meet it.
kgc_write_config_proxy 'warm_connections = 0;'
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_uid_path "$FAULT" FAULT
kg_uid_path "$top_builddir/tests/helpers/libkg-fault.so" _shim
kg_uid_path "$top_builddir/tests/helpers/libkg-fault-alloc.so" _shim
ARM_ACCEPT=$KG_TMP/arm-accept
ARM_ACCEPT_NFILE=$KG_TMP/arm-accept-nfile
ARM_SOCKET=$KG_TMP/arm-socket
ARM_MALLOC=$KG_TMP/arm-malloc
PAGE="kgtest origin: hello"
LOG_U=$(kgc_client_log "$U")
log_lines=0
since() { tail -n +$((log_lines + 1)) "$LOG_U"; }
mark() { log_lines=$(wc -l <"$LOG_U"); }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, clock ticks

# Malloc faults bypass ASan's allocator (tests/helpers/libkg-fault.c): not in sanitizer builds.
MALLOC_FAULTS=1
[ "${KG_SANITIZERS:-0}" != 1 ] || MALLOC_FAULTS=0
start_faulty_client() { # the client of uid U with the fault rules; the malloc rule's after=$1
	local rules=("accept4:EMFILE:arm=file:$ARM_ACCEPT" "accept4:ENFILE:arm=file:$ARM_ACCEPT_NFILE"
		"socket:EMFILE:arm=file:$ARM_SOCKET")
	[ $MALLOC_FAULTS = 0 ] || rules+=("malloc:ENOMEM:count=1:after=${1:-0}:thread=main:arm=file:$ARM_MALLOC")
	KGC_CLIENT_WRAP="$FAULT ${rules[*]} --" kgc_start_client "$U"
}
start_faulty_client || exit 99
PID=${KGC_PID[$U]}
kg_check "baseline: https through the client under kg-fault works" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

# --- 1. accept(2) fails with EMFILE ----------------------------------------------------------
mark
touch "$ARM_ACCEPT"
cpu0=$(cpu_ticks "$PID")
t0=$(krbrig_now_ms)
kgc_curl "$U" -m 20 "https://$ORIGIN_HOST/" >"$KG_TMP/accept.out" 2>&1 &
curl_pid=$!
sleep 3
cpu1=$(cpu_ticks "$PID")
kg_check "accept EMFILE: the connection waits while accept fails (curl still running after 3 s)" \
	kill -0 "$curl_pid"
kg_check "accept EMFILE: the client does not spin ($((cpu1 - cpu0)) clock ticks of CPU in 3 s, want < 30)" \
	test $((cpu1 - cpu0)) -lt 30
rm -f "$ARM_ACCEPT"
wait "$curl_pid"
ms=$(($(krbrig_now_ms) - t0))
kg_check "accept EMFILE: the waiting connection is served once accept works ($ms ms)" \
	eval 'test "$(cat "$KG_TMP/accept.out")" = "$PAGE" && [ $ms -lt 6000 ]'
kg_check "accept EMFILE: one line says why ($(since | grep -c "cannot accept connections") line(s))" \
	test "$(since | grep -c "cannot accept connections on the relay port: Too many open files")" = 1
since | grep -m1 "cannot accept connections" | sed 's/^/# log: /'
kg_check "accept EMFILE: one line says accepting works again" \
	eval 'since | grep -q "accepting connections on the relay port again after"'
kg_check "accept EMFILE: after the fault, https works" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
# The system's file table full (ENFILE): the same, for a plain http request.
mark
touch "$ARM_ACCEPT_NFILE"
kgc_curl "$U" -m 20 "http://$ORIGIN_HOST/" >"$KG_TMP/accept.out" 2>&1 &
curl_pid=$!
sleep 1
kg_check "accept ENFILE: the connection waits while accept fails" kill -0 "$curl_pid"
rm -f "$ARM_ACCEPT_NFILE"
wait "$curl_pid"
kg_check "accept ENFILE: it is served once accept works, one line says why" \
	eval 'test "$(cat "$KG_TMP/accept.out")" = "$PAGE" &&
		test "$(since | grep -c "cannot accept connections on the relay port: Too many open files in system")" = 1'

# --- 2. socket(2) for the proxy connection fails with EMFILE -----------------------------------
mark
touch "$ARM_SOCKET"
t0=$(krbrig_now_ms)
out=$(kgc_curl "$U" -m 20 "https://$ORIGIN_HOST/" 2>&1)
rc=$?
ms=$(($(krbrig_now_ms) - t0))
kg_check "socket EMFILE: https ends promptly with an error (curl rc $rc, $ms ms, want < 5000)" \
	eval '[ $rc != 0 ] && [ $ms -lt 5000 ]'
page=$(kgc_curl "$U" -m 20 -w '\n%{http_code}' "http://$ORIGIN_HOST/" 2>&1)
kg_check "socket EMFILE: port 80 gets a 502 page ($(printf '%s' "$page" | tail -n1))" \
	eval 'printf "%s" "$page" | tail -n1 | grep -qx 502'
kg_check "socket EMFILE: the log names the fault" \
	kg_wait_for 20 eval 'since | grep -q "Too many open files"'
since | grep -m1 "Too many open files" | sed 's/^/# log: /'
rm -f "$ARM_SOCKET"
kg_check "socket EMFILE: after the fault, https works" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "socket EMFILE: after the fault, http works" \
	test "$(kgc_curl "$U" -m 10 "http://$ORIGIN_HOST/" 2>&1)" = "$PAGE"

# --- 3. malloc(3) fails while a request is served ----------------------------------------------
# Each round restarts the client with the next after=N, arms the rule (the first N allocations
# after that go through, the next one fails), runs one request, disarms. Whatever the request
# got, the client must be alive and the next request must work.
if [ $MALLOC_FAULTS = 0 ]; then
	echo "# malloc faults skipped in a sanitizer build"
else
	crashed=0 broken=0 failed=0 rounds=0
	for n in $(seq 0 29); do
		kgc_stop_client "$U"
		start_faulty_client "$n" || { crashed=$((crashed + 1)); break; }
		PID=${KGC_PID[$U]}
		mark
		touch "$ARM_MALLOC"
		sleep 0.05
		if [ $((n % 2)) = 0 ]; then url="https://$ORIGIN_HOST/"; else url="http://$ORIGIN_HOST/"; fi
		out=$(kgc_curl "$U" -m 10 "$url" 2>&1)
		[ "$out" = "$PAGE" ] || failed=$((failed + 1))
		rm -f "$ARM_MALLOC"
		rounds=$((rounds + 1))
		if ! kill -0 "$PID" 2>/dev/null; then
			crashed=$((crashed + 1))
			echo "# malloc after=$n: the client exited:"
			since | tail -n 5 | sed 's/^/#   /'
			continue
		fi
		if [ "$(kgc_curl "$U" -m 10 "$url" 2>&1)" != "$PAGE" ]; then
			broken=$((broken + 1))
			echo "# malloc after=$n: the next request failed"
		fi
	done
	echo "# malloc faults: $rounds rounds, $failed request(s) failed under the fault"
	kg_check "malloc ENOMEM: the client survived every round ($crashed crash(es))" test "$crashed" = 0
	kg_check "malloc ENOMEM: the next request worked after every round ($broken not)" \
		test "$broken" = 0
fi

# --- 6. log_path on a full disk -----------------------------------------------------------------
# A 64 KiB tmpfs of the test's own; the client's configuration is the test's with log_path there.
LOGFS=$KG_TMP/logfs
mkdir -p "$LOGFS" && mount -t tmpfs -o size=64k,mode=1777 kgfaults "$LOGFS" || exit 99
kg_on_exit umount -l "$LOGFS"
sed "\$a log_path = \"$LOGFS/client.log\";" "$KG_CONF" >"$KG_TMP/client-logpath.conf"
chmod 644 "$KG_TMP/client-logpath.conf"
kgc_stop_client "$U"
KG_CONF=$KG_TMP/client-logpath.conf kgc_start_client "$U" || exit 99
kg_check "log_path: the client writes its file" \
	kg_wait_for 50 grep -q "registered with kernelgatekeeper-service" "$LOGFS/client.log"
dd if=/dev/zero of="$LOGFS/filler" bs=4k 2>/dev/null
# A full tmpfs still takes bytes into the last page the log file has: a line of blanks fills it.
pad=$(((4096 - $(stat -c %s "$LOGFS/client.log") % 4096) % 4096))
[ "$pad" = 0 ] || { printf '%*s\n' $((pad - 1)) '' >>"$LOGFS/client.log"; } 2>/dev/null
size_full=$(stat -c %s "$LOGFS/client.log")
mark
kg_reload "${KGC_PID[$U]}" "$LOG_U"
kg_reload "${KGC_PID[$U]}" "$LOG_U"
kg_check "log_path full: https still works" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "log_path full: stderr says so once ($(since | grep -c "cannot write to log_path") line(s))" \
	test "$(since | grep -c "cannot write to log_path $LOGFS/client.log: No space left on device")" = 1
since | grep -m1 "cannot write to log_path" | sed 's/^/# log: /'
kg_check "log_path full: the lines still reach stderr (the journal)" \
	test "$(since | grep -c "configuration reloaded")" = 2
rm -f "$LOGFS/filler"
mark
kg_reload "${KGC_PID[$U]}" "$LOG_U"
kg_check "log_path with room again: the file gets new lines" \
	eval '[ "$(stat -c %s "$LOGFS/client.log")" -gt "$size_full" ] &&
		tail -n 3 "$LOGFS/client.log" | grep -q "configuration reloaded"'
kg_check "log_path with room again: stderr says the file is written again" \
	eval 'since | grep -q "log_path $LOGFS/client.log is written again"'

# --- 5. the client table full (ebpf.max_clients), as the user's client says it ----------------
# The service's side is in service-faults.sh; here the relay client's own log.
sed -i 's/^\tstats_interval = 0;$/&\n\tmax_clients = 1;/' "$KG_CONF"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
LOG_V=$(kgc_client_log "$V")
kgc_start_client "$V" >/dev/null # refused: returns after waiting for a registration
kg_check "max_clients 1: the second user's client says the limit and its key" \
	grep -q "the service refused to register this client: 1 clients are registered, the limit of ebpf.max_clients (1, at most 4096)" "$LOG_V"
grep -m1 "refused to register" "$LOG_V" | sed 's/^/# log: /'
kg_check "max_clients 1: the registered user's https still works" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
sed -i '/^\tmax_clients = 1;$/d' "$KG_CONF"
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_check "max_clients back to its default: the second user's client registers on its own" \
	kg_wait_for 100 grep -q "registered with kernelgatekeeper-service" "$LOG_V"
kg_check "... and its https works" \
	test "$(kgc_curl "$V" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kgc_stop_client "$V"
kgc_stop_client "$U"

kg_finish
