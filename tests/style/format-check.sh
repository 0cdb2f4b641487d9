#!/bin/bash
# Every C file of the tree is formatted as .clang-format says (`make format` applies it), and
# project headers are included one way: by their path under src/ ("client/pump.h"), never
# relative to the including file; tests' own helpers by their path from the top
# ("tests/unit/fake_proxy.h").
set -uo pipefail
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 99
if ! command -v clang-format >/dev/null; then
	echo "clang-format is not installed (tests/install-deps.sh installs it)"
	exit 99
fi
mapfile -t files < <(find src bpf tests -name '*.[ch]' ! -name '*.skel.h' ! -name vmlinux.h | sort)
echo "checking ${#files[@]} files"
rc=0
if ! clang-format --dry-run --Werror "${files[@]}"; then
	echo "FAIL: not formatted (run make format)"
	rc=1
fi
# A quoted include must name a file under src/ by that path, one of bpf/'s headers, or (in a
# test) a test helper by its path from the top.
bad=0
for f in "${files[@]}"; do
	while IFS= read -r inc; do
		[ -e "src/$inc" ] || [ -e "bpf/$inc" ] || [ "$inc" = kernelgatekeeper.skel.h ] ||
			{ [[ $f == tests/* && $inc == tests/* ]] && [ -e "$inc" ]; } || {
			echo "FAIL: $f includes \"$inc\", not a path under src/"
			bad=1
		}
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
[ $bad = 0 ] || rc=1
[ $rc = 0 ] && echo "PASS: ${#files[@]} files formatted, includes by path under src/"
exit $rc
