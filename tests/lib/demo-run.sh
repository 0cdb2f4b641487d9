#!/bin/bash
# The demo itself (run by tests/demo.sh): the same rig as the end-to-end tests, narrated.
. "${top_srcdir:?}/tests/helpers/client-lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a KDC, Squid (Negotiate, CONNECT only to 443) and an origin in namespaces"
kgc_setup squid
echo "realm $REALM, proxy $PROXY_URL (principal $PROXY_PRINCIPAL), origin $ORIGIN_HOST = $ORIGIN_IP"
echo "this host has no route to $ORIGIN_IP: only the proxy can reach it"

say "kernelgatekeeper-service attached (to a private cgroup for the demo)"
bpftool cgroup show "$KG_CGROUP" | sed 's/^/  /'

say "kernelgatekeeper-client running as alice (uid $U) with her own ticket"
kgc_start_client "$U" || exit 1
"$KG_CTL" --socket "$KG_SOCK" clients | sed 's/^/  /'

say "curl as alice, no http_proxy, no --proxy, nothing configured"
kgc_app "$U" env | grep -i proxy && echo "(unexpected proxy variables!)"
for url in "http://$ORIGIN_HOST/" "https://$ORIGIN_HOST/"; do
	echo "\$ curl $url"
	kgc_curl "$U" -m 15 -w '-> HTTP %{http_code}, %{size_download} bytes\n' "$url" | sed 's/^/  /'
done

say "what Squid logged: the user's principal and the host name, not an IP"
kg_wait_for 30 krbrig_access_log_has "$ORIGIN_HOST"
grep "$ORIGIN_HOST" "$(krbrig_access_log)" | sed 's/^/  /'

say "a direct connection as bob (no client running for him) is not steered"
kgc_curl "$V" -m 3 -o /dev/null -w '-> HTTP %{http_code}\n' "https://$ORIGIN_HOST/" 2>&1 | sed 's/^/  /' || true

say "done; cleaning up"
