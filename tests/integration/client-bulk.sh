#!/bin/bash
# Data integrity through the relay: 1 GiB download and 256 MiB upload through a CONNECT tunnel,
# a 256 MiB download on port 80, and a service restart in the middle of a 1 GiB download (the
# tunnel survives, the client re-registers, new connections are steered again). Then the same
# transfers once more with a client that cannot create its splice pipe, so it copies instead.
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

transfers() { # DOWNLOAD_BYTES LABEL: download and upload through CONNECT, download on port 80
	local t0 ms got want
	t0=$(krbrig_now_ms)
	want=$(python3 "$ORIGIN_PY" digest "$1")
	got=$(digest_of_download "https://$ORIGIN_HOST/bytes/$1")
	ms=$(($(krbrig_now_ms) - t0))
	kg_check "$2$(($1 >> 20)) MiB download through CONNECT: digest equal (${ms} ms)" \
		test "$got" = "$want"

	t0=$(krbrig_now_ms)
	want=$(python3 "$ORIGIN_PY" digest "$UP")
	got=$(python3 "$ORIGIN_PY" pattern "$UP" |
		kgc_curl "$U" -m 300 -T - "https://$ORIGIN_HOST/sha256")
	ms=$(($(krbrig_now_ms) - t0))
	kg_check "${2}256 MiB upload through CONNECT: digest equal (${ms} ms)" test "$got" = "$want"

	t0=$(krbrig_now_ms)
	got=$(digest_of_download "http://$ORIGIN_HOST/bytes/$UP")
	ms=$(($(krbrig_now_ms) - t0))
	kg_check "${2}256 MiB download on port 80 (forwarded): digest equal (${ms} ms)" \
		test "$got" = "$want"
}
transfers "$BIG" ""

# Applications that hang up in the middle of a download: the relay's write into their socket
# fails with bytes of theirs still in its shared splice pipe. Those must be dropped there, not
# handed to the next connection, whose download must then arrive intact.
hangups() {
	local i
	for ((i = 0; i < 5; i++)); do
		kgc_curl "$U" -m 60 "https://$ORIGIN_HOST/bytes/$UP" 2>/dev/null | head -c 20000000 >/dev/null
	done
}
hangups
want=$(python3 "$ORIGIN_PY" digest "$UP")
kg_check "after 5 applications hung up mid-download, the next download is intact" \
	test "$(digest_of_download "https://$ORIGIN_HOST/bytes/$UP")" = "$want"
kg_check "... and the relay never lost track of its splice pipe" \
	eval '! grep -q "splice pipe lost" "$(kgc_client_log "$U")"'

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
	kg_wait_for 100 eval '[ "$(kgc_registrations "$U")" -ge 2 ]'
kg_check "new connections are steered again after the restart" \
	test "$(kgc_curl "$U" -m 10 "https://$ORIGIN_HOST/" 2>&1)" = "$PAGE"
kg_check "the download still runs during the restart" kill -0 "$DL"
wait "$DL"
kg_check "the download across the service restart completes with the right digest" \
	test "$(cat "$KG_TMP/dl.sum")" = "$want"

# Without the splice pipe (every pipe(2) refused by a seccomp filter) the relay copies through
# its own buffers: it must say so once, and every byte must still arrive.
NOPIPE="$top_builddir/tests/helpers/kg-nopipe"
kg_uid_path "$NOPIPE" NOPIPE
kgc_stop_client "$U"
KGC_CLIENT_WRAP=$NOPIPE kgc_start_client "$U" || exit 99
# (The log holds both clients' lines: the first one, with its pipe, must not have said it.)
kg_check "no splice pipe: the client says it copies instead, and only this client said it" \
	test "$(grep -c "cannot create the relay's splice pipe (Too many open files): copying instead" \
		"$(kgc_client_log "$U")")" = 1
transfers $((BIG / 4)) "copying: "
kg_finish
