#!/bin/bash
# The live demo: builds everything, then starts a throwaway KDC, Squid with Negotiate and an
# origin server in their own network namespaces, the service and a client for a demo user, and
# fetches a page with curl as that user without any proxy setting.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$top/build/src/client/kernelgatekeeper-client" ] && ! grep -q kernelgatekeeper-client "$top/src/client/local.mk" 2>/dev/null; then
	echo "The demo needs kernelgatekeeper-client, which is not in this tree yet." >&2
	exit 1
fi
exec "$top/tests/lib/demo-run.sh" "$@"
