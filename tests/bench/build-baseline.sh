#!/bin/bash
# Build the service, the client and ctl of another commit, for tests/bench/client-regress.sh.
#
#   build-baseline.sh COMMIT   -> prints the directory that holds
#                                 src/{service,client,ctl}/kernelgatekeeper-* of COMMIT
#
# The build is cached by commit id in $top_builddir/bench-baseline/COMMIT_ID and reused; it is
# made in a temporary `git worktree` under $top_builddir/bench-baseline, configured with the
# defaults (no --enable-coverage, no sanitizers), and the worktree is removed afterwards.
# Everything else goes to stderr. Exit 77 when there is no git checkout to build from, 1 when
# the commit is unknown or does not build.
set -euo pipefail
: "${top_srcdir:?}" "${top_builddir:?}"
top_srcdir=$(cd "$top_srcdir" && pwd -P)
top_builddir=$(cd "$top_builddir" && pwd -P)

want=${1:?usage: build-baseline.sh COMMIT}
BINS=(src/service/kernelgatekeeper-service src/client/kernelgatekeeper-client
	src/ctl/kernelgatekeeper-ctl)
root="$top_builddir/bench-baseline"

if ! git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	echo "SKIP: $top_srcdir is no git checkout: no commit $want to build" >&2
	exit 77
fi
commit=$(git -C "$top_srcdir" rev-parse --verify --quiet "$want^{commit}") || {
	echo "no commit $want in $top_srcdir" >&2
	exit 1
}
cache="$root/$commit"
have=1
for b in "${BINS[@]}"; do [ -x "$cache/$b" ] || have=0; done
if [ "$have" = 1 ]; then
	echo "# baseline $want ($commit): cached build in $cache" >&2
	echo "$cache"
	exit 0
fi

mkdir -p "$root"
tmp=$(mktemp -d "$root/tmp.XXXXXX")
cleanup() {
	git -C "$top_srcdir" worktree remove --force "$tmp/src" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	git -C "$top_srcdir" worktree prune >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "# baseline $want ($commit): building in $tmp (a few minutes)" >&2
git -C "$top_srcdir" worktree add --detach "$tmp/src" "$commit" >&2
(cd "$tmp/src" && autoreconf -fi) >"$tmp/build.log" 2>&1 &&
	mkdir "$tmp/build" && (cd "$tmp/build" && ../src/configure && make -j2) \
	>>"$tmp/build.log" 2>&1 || {
	tail -n 30 "$tmp/build.log" >&2
	echo "baseline $commit did not build" >&2
	exit 1
}
rm -rf "$cache.new"
for b in "${BINS[@]}"; do
	mkdir -p "$cache.new/$(dirname "$b")"
	cp -p "$tmp/build/$b" "$cache.new/$b"
done
rm -rf "$cache"
mv "$cache.new" "$cache"
chmod -R a+rX "$root"
echo "$cache"
