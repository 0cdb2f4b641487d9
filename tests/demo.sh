#!/bin/bash
# The live demo (root, Debian 12): installs the build dependencies, builds the tree in ./build
# when needed, then runs tests/lib/demo-run.sh: a throwaway KDC, Squid with Negotiate and an
# origin server in their own network namespaces, the service and a client for a demo user, and
# curl as that user with no proxy settings at all. Everything is removed when it ends.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ "$(id -u)" = 0 ] || { echo "the demo needs root (BPF, namespaces): sudo $0" >&2; exit 1; }
echo "== installing dependencies"
tests/install-deps.sh
if [ ! -x build/src/client/kernelgatekeeper-client ] || [ ! -x build/src/service/kernelgatekeeper-service ]; then
	echo "== building (./build)"
	autoreconf -fi >/dev/null
	mkdir -p build
	(cd build && ../configure >configure.out && make -j2 >make.out 2>&1) ||
		{ tail -n 30 build/make.out build/configure.out 2>/dev/null; exit 1; }
fi
export top_srcdir="$top" top_builddir="$top/build"
exec bash "$top/tests/lib/demo-run.sh"
