#!/bin/bash
# Benchmark: PAC decisions per second through the sandboxed evaluator, then through the
# client's PAC engine (src/client/route/pac_engine.h) as a ratio to it, no result cache
# (tests/bench/pac-bench.c says what is measured). Unprivileged; prints a figure, never fails
# on it.
set -eu
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
bench="$top_builddir/tests/bench/pac-bench"
evaluator="$top_builddir/src/pac/kernelgatekeeper-pac"
if [ ! -x "$bench" ] || [ ! -x "$evaluator" ]; then
	echo "SKIP: pac-bench or kernelgatekeeper-pac not built" >&2
	exit 77
fi
exec "$bench" "$evaluator" "${KG_BENCH_PAC_SECONDS:-3}"
