#!/bin/bash
# Data integrity through the relay: 1 GiB download and 256 MiB upload through a CONNECT tunnel,
# a 256 MiB download on port 80, and a service restart in the middle of a 1 GiB download (the
# tunnel survives, the client re-registers, new connections are steered again).
# KGC_BULK_MB overrides the 1 GiB (e.g. for a quick run).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kgc_setup squid
kgc_start_client "$U" || exit 99
PAGE="kgtest origin: hello"
BIG=$((${KGC_BULK_MB:-1024} * 1024 * 1024))
UP=$((256 * 1024 * 1024))
ORIGIN_PY="$KRBRIG_LIB_DIR/origin.py"

digest_of_download() { # URL: sha256 of what arrives
	kgc_curl "$U" -m 300 "$1" | sha256sum | cut -d' ' -f1
}

t0=$(krbrig_now_ms)
want=$(python3 "$ORIGIN_PY" digest "$BIG")
got=$(digest_of_download "https://$ORIGIN_HOST/bytes/$BIG")
ms=$(($(krbrig_now_ms) - t0))
kg_check "$((BIG >> 20)) MiB download through CONNECT: digest equal (${ms} ms)" test "$got" = "$want"

t0=$(krbrig_now_ms)
want=$(python3 "$ORIGIN_PY" digest "$UP")
got=$(python3 "$ORIGIN_PY" pattern "$UP" | kgc_curl "$U" -m 300 -T - "https://$ORIGIN_HOST/sha256")
ms=$(($(krbrig_now_ms) - t0))
kg_check "256 MiB upload through CONNECT: digest equal (${ms} ms)" test "$got" = "$want"

t0=$(krbrig_now_ms)
got=$(digest_of_download "http://$ORIGIN_HOST/bytes/$UP")
ms=$(($(krbrig_now_ms) - t0))
kg_check "256 MiB download on port 80 (forwarded): digest equal (${ms} ms)" test "$got" = "$want"

# Service restart in the middle of a download, slowed down so the restart lands inside it.
want=$(python3 "$ORIGIN_PY" digest "$BIG")
kgc_curl "$U" -m 300 --limit-rate 100M "https://$ORIGIN_HOST/bytes/$BIG" 2>"$KG_TMP/dl.err" |
	sha256sum | cut -d' ' -f1 >"$KG_TMP/dl.sum" &
DL=$!
sleep 1.5
kg_stop_pid "$KG_SERVICE_PID"
wait "$KG_SERVICE_PID" 2>/dev/null
kg_check "the client notices the service went away" \
	kg_wait_for 30 grep -q "went away" "$(kgc_client_log "$U")"
kg_start_service || exit 99
kg_check "the client re-registers with the new service" \
	kg_wait_for 100 eval '[ "$(grep -c "registered with kernelgatekeeper-service" "$(kgc_client_log "$U")")" -ge 2 ]'
kg_check "new connections are steered again after the restart" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "the download still runs during the restart" kill -0 "$DL"
wait "$DL"
kg_check "the download across the service restart completes with the right digest" \
	test "$(cat "$KG_TMP/dl.sum")" = "$want"
kg_finish
