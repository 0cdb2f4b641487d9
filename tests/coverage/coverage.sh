#!/bin/bash
# Line coverage of the service, the client and the shared code (`make coverage`, a build tree
# configured with --enable-coverage). The Makefile runs it around `make check`:
#
#   coverage.sh reset         drop the counters of earlier runs; an empty .gcda, writable by
#                             everyone, beside every object, and the zero baseline (lcov -i)
#   coverage.sh report MIN    collect, print the per-file table (also coverage/summary.txt),
#                             the HTML report (coverage/html); name the src/client/ files below
#                             MIN % (it does not fail on them)
#   coverage.sh check MIN     fail when a src/client/ file of the last report is below MIN %
#
# Why the empty files: the integration tests run the client as test uids (61001, 61002) and the
# service as root without CAP_DAC_OVERRIDE, and gcov writes each process's counts into the
# .gcda beside the object it was compiled to, an absolute path. A file that exists, mode 0666,
# can be opened and merged into by every one of them (libgcov takes an fcntl lock per file, so
# concurrent processes add up); an empty one counts as new. Namespaces do not get in the way:
# the tests make network namespaces only, the file system is the same. Processes that end by
# SIGKILL write nothing; those that end by SIGTERM leave through main and do.
# Environment: top_srcdir, top_builddir (absolute), LCOV, GENHTML (default: from PATH).
set -euo pipefail

: "${top_srcdir:?}" "${top_builddir:?}"
# Canonical paths: gcov names sources by them (abs_top_srcdir may be "build/..").
top_srcdir=$(cd "$top_srcdir" && pwd -P)
top_builddir=$(cd "$top_builddir" && pwd -P)
LCOV=${LCOV:-lcov}
GENHTML=${GENHTML:-genhtml}
OUT="$top_builddir/coverage"
# Directories whose objects count (under top_builddir) and sources that are reported (under
# top_srcdir); the unit tests compile some of the same sources into their own objects.
OBJ_DIRS=(src tests)
AREAS=(src/client src/shared src/service)
# lcov 1.x prints one line per file it reads; the table is what matters here.
# (lcov 1.16's geninfo also warns about its own subroutines under newer Perls: dropped.)
lcov_q() {
	"$LCOV" --quiet --rc lcov_branch_coverage=0 "$@" 2> >(grep -v '^Subroutine .* redefined' >&2)
}

gcda_files() {
	local d
	for d in "${OBJ_DIRS[@]}"; do
		[ -d "$top_builddir/$d" ] && find "$top_builddir/$d" -name '*.gcda'
	done
	return 0
}

reset() {
	local d n=0 g
	gcda_files | xargs -r rm -f
	rm -rf "$OUT"
	mkdir -p "$OUT"
	for d in "${OBJ_DIRS[@]}"; do
		[ -d "$top_builddir/$d" ] || continue
		while IFS= read -r g; do
			: >"${g%.gcno}.gcda"
			chmod 0666 "${g%.gcno}.gcda"
			n=$((n + 1))
		done < <(find "$top_builddir/$d" -name '*.gcno')
	done
	[ "$n" -gt 0 ] || {
		echo "coverage: no .gcno files under $top_builddir: is this tree configured with" \
			"--enable-coverage and built?" >&2
		exit 1
	}
	# The test uids must reach the objects: every directory on the way must be searchable.
	d=$top_builddir
	while [ "$d" != / ]; do
		if ! setpriv --reuid=61001 --regid=61001 --clear-groups test -x "$d" 2>/dev/null; then
			echo "coverage: warning: $d is not searchable by the test uids; the client's" \
				"counts will be lost" >&2
			break
		fi
		d=$(dirname "$d")
	done
	# Files that no test reaches still show, at 0 %.
	lcov_q --capture --initial --directory "$top_builddir" --base-directory "$top_builddir" \
		--output-file "$OUT/base.info"
	echo "coverage: counters reset ($n objects)"
}

# summary FILE.info: "percent hit found path" per reported file, path relative to top_srcdir
summary() {
	awk -v top="$top_srcdir/" '
		/^SF:/ { f = substr($0, 4); if (index(f, top) == 1) f = substr(f, length(top) + 1); lh = lf = 0 }
		/^LH:/ { lh = substr($0, 4) }
		/^LF:/ { lf = substr($0, 4) }
		/^end_of_record/ { if (lf > 0) printf "%.1f %d %d %s\n", 100 * lh / lf, lh, lf, f }
	' "$1"
}

report() {
	local min=$1 a pats=() low
	[ -f "$OUT/base.info" ] || {
		echo "coverage: no baseline: run 'coverage.sh reset' (make coverage does) first" >&2
		exit 1
	}
	# Objects that no process ran keep their empty file, which gcov would call corrupt.
	find "${OBJ_DIRS[@]/#/$top_builddir/}" -name '*.gcda' -size 0 -delete 2>/dev/null || true
	gcda_files | xargs -r chmod 0644
	lcov_q --capture --directory "$top_builddir" --base-directory "$top_builddir" \
		--output-file "$OUT/tests.info" 2>"$OUT/lcov.err" || {
		cat "$OUT/lcov.err" >&2
		exit 1
	}
	if grep -q '^SF:' "$OUT/tests.info"; then
		lcov_q --add-tracefile "$OUT/base.info" --add-tracefile "$OUT/tests.info" \
			--output-file "$OUT/all.info"
	else # no process wrote any count
		cp "$OUT/base.info" "$OUT/all.info"
	fi
	for a in "${AREAS[@]}"; do pats+=("$top_srcdir/$a/*"); done
	lcov_q --extract "$OUT/all.info" "${pats[@]}" --output-file "$OUT/coverage.info"
	summary "$OUT/coverage.info" | sort -k4,4 >"$OUT/files.txt"

	{
		echo "Line coverage by file (make coverage; minimum for src/client/: $min %)"
		printf '%7s %11s  %s\n' "lines" "hit/total" "file"
		for a in "${AREAS[@]}"; do
			awk -v a="$a/" 'index($4, a) == 1 { printf "%6.1f%% %5d/%-5d  %s\n", $1, $2, $3, $4;
				h += $2; t += $3 }
				END { if (t) printf "%6.1f%% %5d/%-5d  %s (all)\n", 100 * h / t, h, t, a }' \
				"$OUT/files.txt"
		done
		awk '{ h += $2; t += $3 } END { if (t) printf "%6.1f%% %5d/%-5d  total\n", 100 * h / t, h, t }' \
			"$OUT/files.txt"
		low=$(awk -v m="$min" 'index($4, "src/client/") == 1 && $1 < m { printf "%s%s (%.1f %%)",
			n++ ? ", " : "", $4, $1 }' "$OUT/files.txt")
		# The client's processes run as test uids: their counts are the ones that may not arrive.
		awk '$4 == "src/client/ipc_client.c" && $2 > 0 { ok = 1 } END { exit !ok }' "$OUT/files.txt" ||
			echo "WARNING: no counts from the client's processes (src/client/ipc_client.c not hit):" \
				"were the integration tests skipped (not root)?"
		if [ -n "$low" ]; then
			echo "BELOW $min % in src/client/: $low"
		else
			echo "every src/client/ file is at or above $min %"
		fi
	} | tee "$OUT/summary.txt"

	"$GENHTML" --quiet --rc lcov_branch_coverage=0 --prefix "$top_srcdir" \
		--title "KernelGatekeeper make coverage" --output-directory "$OUT/html" \
		"$OUT/coverage.info" >/dev/null
	echo "coverage: $OUT/summary.txt, HTML report $OUT/html/index.html"
}

check() {
	local min=$1 low
	[ -f "$OUT/files.txt" ] || {
		echo "coverage-check: no report yet (run make coverage)" >&2
		exit 1
	}
	low=$(awk -v m="$min" 'index($4, "src/client/") == 1 && $1 < m { printf " %s (%.1f %%)", $4, $1 }' \
		"$OUT/files.txt")
	if [ -n "$low" ]; then
		echo "coverage-check: src/client/ files below $min %:$low" >&2
		exit 1
	fi
	echo "coverage-check: every src/client/ file is at or above $min %"
}

case ${1:-} in
reset) reset ;;
report) report "${2:-80}" ;;
check) check "${2:-80}" ;;
*)
	echo "usage: $0 reset | report MIN | check MIN" >&2
	exit 2
	;;
esac
