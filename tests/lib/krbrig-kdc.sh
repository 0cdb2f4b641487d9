#!/bin/bash
# A bare KDC for programs that drive it themselves (tests/unit/test_negotiate): no namespaces,
# no root, 127.0.0.1 only. The caller owns DIR and the KDC's PID.
#
#   krbrig-kdc.sh init DIR                      krb5.conf, kdc.conf, DB, HTTP/proxy.kgtest.local
#                                               in DIR/http.keytab; the port in DIR/kdc.port
#   krbrig-kdc.sh exec-kdc DIR                  exec krb5kdc in the foreground (same PID)
#   krbrig-kdc.sh addprinc DIR NAME PASSWORD
#   krbrig-kdc.sh kinit DIR NAME PASSWORD CCACHE [kinit options]
#   krbrig-kdc.sh ktadd DIR NAME FILE           NAME's keys (a new random key each time: a
#                                               keytab written before holds an old kvno) in FILE
# shellcheck source=tests/lib/krbrig.sh
. "$(cd "$(dirname "$0")" && pwd)/krbrig.sh"

cmd=${1:-}
dir=${2:-}
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
	echo "usage: $0 init|exec-kdc|addprinc|kinit DIR ..." >&2
	exit 2
fi
case "$cmd" in
init)
	port=$(krbrig_free_port) || exit 1
	krbrig_init_kdc "$dir" 127.0.0.1 "$port" "127.0.0.1:$port" || exit 1
	echo "$port" >"$dir/kdc.port"
	;;
exec-kdc)
	export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
	# The exec skips the EXIT trap: this shell's sanitizer directory goes now (krb5kdc is not
	# instrumented; nothing of it writes there).
	kg_sanitizer_reports || exit 1
	trap - EXIT
	exec krb5kdc -n -r "$KRBRIG_REALM" >>"$dir/logs/kdc.out" 2>&1
	;;
addprinc)
	krbrig_addprinc "$dir" "$3" "$4"
	;;
kinit)
	name=$3 pw=$4 cc=$5
	shift 5
	printf '%s\n' "$pw" | KRB5_CONFIG="$dir/krb5.conf" KRB5CCNAME="$cc" \
		timeout 20 kinit "$@" "$name@$KRBRIG_REALM" >>"$dir/logs/kinit.log" 2>&1
	;;
ktadd)
	krbrig_ktadd "$dir" "$3" "$4"
	;;
*)
	echo "$0: unknown command $cmd" >&2
	exit 2
	;;
esac
