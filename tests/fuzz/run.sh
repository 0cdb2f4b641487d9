#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer binary and runs it for a bounded time on a
# copy of its seed corpus (tests/fuzz/corpus/<name without fuzz_>). Run by `make check`.
#
# A target names what it links in its first lines:
#   // fuzz-sources: src/a.c src/b_*.c    (relative to top_srcdir; globs expand; the line may
#   // fuzz-sources: src/c.c               repeat, clang-format keeps lines under 100 columns)
#   // fuzz-libs: -lfoo
#   // fuzz-cflags: -DFOO="bar"        (for the sources: what the build's kg_autoconf.h says)
# Environment: CLANG (default clang), KG_FUZZ_SECONDS (default 20 per target),
# KG_REQUIRE_PRIVILEGED=1 turns "no clang/libFuzzer here" from a skip into a failure,
# KG_FUZZ_TARGETS="config ipc" runs only those targets (names without fuzz_).
# Nothing is written to the source or build tree: binaries, corpus copies and crash artifacts
# live in a temporary directory, kept (and named) only when a target fails.
#
# Campaign mode (`make fuzz-campaign`): KG_FUZZ_RUNS=N runs each target to N executions
# (-runs=N), capped at KG_FUZZ_MAX_SECONDS (default 1800) per target; each target then gets a
# line with its executions, seconds, exec/s and corpus size, and says when it stopped at the cap.
# KG_FUZZ_MERGE=1 then merges the grown corpus into tests/fuzz/corpus/<name> with -merge=1:
# only inputs that reach new edges are added (the one case where the source tree is written).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
clang=${CLANG:-clang}
seconds=${KG_FUZZ_SECONDS:-20}
runs_goal=${KG_FUZZ_RUNS:-}
merge=${KG_FUZZ_MERGE:-0}
if [ -n "$runs_goal" ]; then seconds=${KG_FUZZ_MAX_SECONDS:-1800}; fi

skip() {
	if [ "${KG_REQUIRE_PRIVILEGED:-0}" = 1 ]; then
		echo "FAIL (KG_REQUIRE_PRIVILEGED=1, would skip): $*" >&2
		exit 99
	fi
	echo "SKIP: $*" >&2
	exit 77
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kg-fuzz.XXXXXX") || exit 99
keep=0
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

command -v "$clang" >/dev/null 2>&1 || skip "$clang not found (install clang)"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
	'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' \
	>"$work/probe.c"
"$clang" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" \
	>"$work/probe.log" 2>&1 ||
	skip "$clang cannot link libFuzzer (Debian: libclang-rt-N-dev for clang N; Fedora: compiler-rt)"

# The value of a "// fuzz-KEY:" line in the first lines of a target.
header() {
	sed -n "1,12s|^// fuzz-$1:[[:space:]]*||p" "$2" | tr '\n' ' '
}

status=0
found=0
for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	found=1
	name=$(basename "$src" .c)
	if [ -n "${KG_FUZZ_TARGETS:-}" ]; then
		case " $KG_FUZZ_TARGETS " in
		*" ${name#fuzz_} "* | *" $name "*) ;;
		*) continue ;;
		esac
	fi
	sources=$(header sources "$src")
	libs=$(header libs "$src")
	cflags=$(header cflags "$src")
	srcs=""
	for s in $sources; do srcs="$srcs $top_srcdir/$s"; done
	bin="$work/$name"
	# shellcheck disable=SC2086 # word splitting of the source and library lists is wanted
	if ! "$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$top_srcdir/src" -I"$top_srcdir/bpf" -I"$top_srcdir/src/client" \
		-DSYSCONFDIR='"/etc"' $cflags "$src" $srcs $libs -o "$bin" >"$work/$name.build.log" 2>&1; then
		echo "$name: build failed" >&2
		cat "$work/$name.build.log" >&2
		status=1
		keep=1
		continue
	fi
	corpus="$work/$name.corpus"
	mkdir -p "$corpus"
	seeds="$top_srcdir/tests/fuzz/corpus/${name#fuzz_}"
	if [ -d "$seeds" ]; then cp -R "$seeds/." "$corpus/"; fi
	mkdir -p "$work/$name.artifacts"
	before=$(find "$corpus" -type f | wc -l)
	limit="-max_total_time=$seconds"
	if [ -n "$runs_goal" ]; then
		limit="$limit -runs=$runs_goal"
		echo "$name: running to $runs_goal executions (cap ${seconds} s), $before corpus files..."
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086 # $limit is one or two options
	if "$bin" $limit -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/$name.artifacts/" "$corpus" >"$work/$name.log" 2>&1; then
		runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/$name.log" | tail -n 1)
		if [ -z "$runs_goal" ]; then
			echo "$name: ${runs:-?} runs, ok"
			continue
		fi
		took=$(($(date +%s) - start))
		rate=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$work/$name.log")
		after=$(find "$corpus" -type f | wc -l)
		capped=""
		if [ "${runs:-0}" -lt "$runs_goal" ]; then
			capped=" (stopped at the ${seconds} s cap before $runs_goal)"
		fi
		kept=""
		if [ "$merge" = 1 ]; then
			mkdir -p "$seeds" "$work/$name.merged"
			cp -R "$seeds/." "$work/$name.merged/"
			# -use_counters=0: an input is kept for an edge no other reaches, not for
			# reaching one more often (which kept ~600 files of config, not ~120).
			if "$bin" -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 \
				"$work/$name.merged" \
				"$corpus" >"$work/$name.merge.log" 2>&1; then
				cp -R "$work/$name.merged/." "$seeds/"
				kept=", merged: $(find "$seeds" -type f | wc -l) files in ${seeds#"$top_srcdir"/}"
			else
				echo "$name: merge failed (log in $work)" >&2
				status=1
				keep=1
			fi
		fi
		echo "$name: ${runs:-?} runs in ${took} s, ${rate:-?} exec/s, corpus $before -> $after$kept, ok$capped"
	else
		echo "$name: FAILED (log and crash input kept in $work)" >&2
		for a in "$work/$name.artifacts"/*; do
			[ -e "$a" ] && echo "$name: crash input $a" >&2
		done
		tail -n 40 "$work/$name.log" >&2
		status=1
		keep=1
	fi
done
[ "$found" = 1 ] || { echo "no fuzz targets under $top_srcdir/tests/fuzz" >&2; exit 99; }
exit "$status"
