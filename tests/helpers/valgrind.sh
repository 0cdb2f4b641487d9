#!/bin/bash
# make check-valgrind: tests/integration/client-basic.sh (make check in the build tree, its
# summary in test-suite-valgrind.log: test-suite.log keeps the whole suite's) with the
# service (KG_SERVICE_WRAP) and the client (KGC_CLIENT_WRAP) under valgrind's memcheck, each
# process's report in a scratch directory; then, per process, its command, its error count and
# its definitely lost bytes. Fails when the test fails or any process has an error or a definite
# leak (possible leaks and still-reachable memory at exit are not errors). Waits of the test
# scale by KG_WAIT_SCALE (default here 5): the daemons start and answer many times slower.
# tests/helpers/valgrind.supp silences memcheck's false alarms on bpf(2) and recv(MSG_TRUNC).
set -u
: "${top_srcdir:?}" "${top_builddir:?}" "${MAKE:=make}"
command -v valgrind >/dev/null || { echo "check-valgrind: valgrind is not installed" >&2; exit 1; }
dir=$(mktemp -d /tmp/kgvg.XXXXXX) || exit 1
chmod 1777 "$dir" # the client runs as a test uid
trap 'rm -rf "$dir"' EXIT
vg="$(command -v valgrind) --tool=memcheck --error-exitcode=42 --leak-check=full"
vg="$vg --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30"
# (a copy: the test uids may not reach the source tree)
cp "$top_srcdir/tests/helpers/valgrind.supp" "$dir/" && chmod 644 "$dir/valgrind.supp" || exit 1
vg="$vg --suppressions=$dir/valgrind.supp --log-file=$dir/vg.%p"
cd "$top_builddir" || exit 1
rc=0
KG_SERVICE_WRAP=$vg KGC_CLIENT_WRAP=$vg KG_WAIT_SCALE=${KG_WAIT_SCALE:-5} \
	$MAKE check TESTS=tests/integration/client-basic.sh TEST_SUITE_LOG=test-suite-valgrind.log ||
	rc=1
n=0
for f in "$dir"/vg.*; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$f" | head -n1)
	errs=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -n1)
	lost=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -n1 | tr -d ,)
	echo "valgrind: pid ${f##*.} ${cmd%% *}: ${errs:-?} errors, ${lost:-0} bytes definitely lost"
	if [ -z "$errs" ]; then
		echo "  (no ERROR SUMMARY: the process did not exit; killed?)"
		rc=1
	elif [ "$errs" != 0 ] || [ "${lost:-0}" != 0 ]; then
		sed 's/^/  /' "$f"
		rc=1
	fi
done
[ "$n" -gt 0 ] || { echo "valgrind: no process ran under valgrind" >&2; rc=1; }
exit "$rc"
