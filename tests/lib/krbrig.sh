# shellcheck shell=bash
# The project's Kerberos + Negotiate proxy test rig (sourced by integration tests, bash).
#
# Topology of "krbrig_start squid|apache" (root only; i = first free /30 slot, 0..63):
#
#   host (root netns)             "proxy" netns $KG_TEST_ID-kgp       "origin" netns $KG_TEST_ID-kgo
#   service, clients, curl        krb5kdc :88, Squid or Apache :3128  origin.py :80 and :443 (TLS)
#   198.51.100.(4i+1)/30 ----veth---- 198.51.100.(4i+2)/30
#                                     203.0.113.(4i+1)/30 ----veth---- 203.0.113.(4i+2)/30
#
# The host reaches only the proxy namespace. Its own default route would send anything for the
# origin off the machine, so the rig adds "unreachable ORIGIN_IP/32" in the root namespace for
# its lifetime: a direct connection fails at once with "No route to host". The namespaces have
# no default route, so nothing in them can leave the machine either.
#
# Names without DNS and without touching /etc: the proxy's Kerberos name is PROXY_HOST
# (proxy.kgtest.local, service principal HTTP/proxy.kgtest.local@KGTEST.LOCAL) while TCP goes to
# PROXY_IP. krb5.conf has dns_canonicalize_hostname=false and rdns=false, so
# gss_import_name("HTTP@proxy.kgtest.local") never resolves anything. Clients therefore use
#   proxy url http://PROXY_IP:3128 + kerberos.spn "HTTP@proxy.kgtest.local"   (the daemon), or
#   -x http://proxy.kgtest.local:3128 --resolve proxy.kgtest.local:3128:PROXY_IP  (curl).
# The proxy resolves origin.test: Squid through hosts_file, Apache through a private /etc/hosts
# bind mount inside the mount namespace "ip netns exec" creates (it does not propagate back).
# Applications on the host name the origin with curl --resolve origin.test:443:$ORIGIN_IP (or
# :80): the datapath rewrites the destination at connect() before routing and the relay
# CONNECTs to origin.test by the sniffed name; without the datapath the connection fails at once.
#
# "krbrig_start kdc-only" is only a KDC on 127.0.0.1:<free port>: no namespaces, no root.
#
# API: krbrig_start [squid|apache|kdc-only]; krbrig_add_user NAME PW;
#      krbrig_kinit_as UID NAME PW CCACHE [kinit options]; krbrig_kdc_stop; krbrig_kdc_start;
#      krbrig_access_log (alias krbrig_squid_log); krbrig_access_log_has [A|B] REGEX;
#      krbrig_proxy_log A|B; krbrig_squid_conf IP HOST KEYTAB LOGDIR [ACCEPT]; krbrig_stop.
#      Issue 17 (system relay): krbrig_ktadd DIR NAME KEYTAB; krbrig_origin_files DIR.
# TLS (issue 14), opt-in: KRBRIG_TLS=1 before "krbrig_start squid" gives the rig's Squid
# https_port listeners beside its http_port 3128, with certificates from tests/lib/tlscerts.sh
# (a test CA, made at start in $RIG/tls), all with the same Negotiate rules:
#   3129 good certificate for proxy.kgtest.local      PROXY_TLS_URL / PROXY_TLS_PORT
#   3131 good certificate, client certificate required (clientca = the test CA)   PROXY_MTLS_URL
#   3132 expired certificate                           PROXY_TLS_EXPIRED_URL
#   3133 certificate for wrong.proxy.kgtest.local      PROXY_TLS_WRONGNAME_URL
#   3134 certificate from a CA nobody trusts           PROXY_TLS_UNTRUSTED_URL
# PROXY_CA is the test CA (for proxy.ca_file, curl --proxy-cacert), PROXY_CLIENT_CERT and
# PROXY_CLIENT_KEY the client certificate the mTLS port accepts (readable by the test uids),
# PROXY_TLS_DIR the directory of them all. The URLs name the proxy (the certificates do): the
# host side resolves proxy.kgtest.local through the issue-13 DNS or curl --resolve.
# The Squid is KRBRIG_SQUID (default: squid from PATH; e.g. an unpacked squid-openssl); one
# without OpenSSL (Debian's "squid" package, no --with-openssl in squid -v) makes krbrig_start
# say so and skip (exit 77), or fail with KG_REQUIRE_PRIVILEGED=1.
# Authentication off (issue 15, for a transparent peer that cannot do Negotiate: redsocks in
# tests/bench/redsocks-peer.sh), opt-in: KRBRIG_NOAUTH=1 before "krbrig_start squid" gives the
# rig's Squid a second http_port, PROXY_IP:3135 (PROXY_NOAUTH_PORT, PROXY_NOAUTH_URL), that lets
# the test networks (198.51.100.0/24, 198.18.0.0/15) through without authentication, under the
# same Safe_ports/SSL_ports rules; port 3128 still requires Negotiate.
# The PAC/WPAD parts (issue 13: a second Squid, DNS, a PAC server, a home network, two homes)
# are opt-in additions in tests/lib/pacrig.sh; krbrig_stop stops them too.
# krbrig_start must run in the test's shell (not in $(...)): it exports the variables below,
# also written to $RIG/env.sh, and registers krbrig_stop with kg_on_exit.
#   RIG KRBRIG_MODE REALM KRB5_CONFIG KRB5_KDC_PROFILE KRB5RCACHEDIR KDC_ADDR KDC_PORT
#   PROXY_IP PROXY_PORT PROXY_HOST PROXY_SPN PROXY_URL PROXY_PRINCIPAL HOST_IP
#   ORIGIN_IP ORIGIN_HOST ORIGIN_CA KRBRIG_CCDIR KRBRIG_NS_PROXY KRBRIG_NS_ORIGIN
#   KRBRIG_SLOT (i above; the other rig parts derive their addresses from it)
#   with KRBRIG_TLS=1: PROXY_TLS_PORT PROXY_TLS_URL PROXY_MTLS_URL PROXY_TLS_EXPIRED_URL
#   PROXY_TLS_WRONGNAME_URL PROXY_TLS_UNTRUSTED_URL PROXY_CA PROXY_CLIENT_CERT PROXY_CLIENT_KEY
#   PROXY_TLS_DIR
#   with KRBRIG_NOAUTH=1: PROXY_NOAUTH_PORT PROXY_NOAUTH_URL
# $RIG/kg-proxy.conf holds the matching proxy/kerberos sections of kernelgatekeeper.conf.

KRBRIG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/common.sh
declare -F kg_on_exit >/dev/null || . "$KRBRIG_LIB_DIR/common.sh"
PATH=$PATH:/usr/sbin:/sbin # krb5kdc, kdb5_util, kadmin.local, squid, apache2

KRBRIG_REALM=KGTEST.LOCAL
KRBRIG_PROXY_HOST=proxy.kgtest.local
KRBRIG_ORIGIN_HOST=origin.test
KRBRIG_PROXY_PORT=3128
KRBRIG_REGISTERED=0
KRBRIG_TLS_PORT=3129
# https_port listeners of KRBRIG_TLS=1: port and the certificate (tlscerts.sh's name) it shows
KRBRIG_TLS_PORTS="3129:server 3131:server 3132:expired 3133:wrong 3134:untrusted"
KRBRIG_MTLS_PORT=3131
KRBRIG_NOAUTH_PORT=3135 # KRBRIG_NOAUTH=1: http_port without authentication

krbrig_squid_bin() { # the Squid the rig runs: KRBRIG_SQUID, or squid from PATH
	echo "${KRBRIG_SQUID:-squid}"
}

# True when the rig's Squid was built with OpenSSL (https_port works): Debian's squid-openssl.
krbrig_squid_has_tls() {
	"$(krbrig_squid_bin)" -v 2>/dev/null | grep -q -- --with-openssl
}

krbrig_now_ms() { # wall clock in milliseconds, for "took N ms" figures
	date +%s%3N
}

krbrig_log() {
	echo "# krbrig: $*" >&2
}

# Why the start failed, with the tail of the log that says so; returns 1.
krbrig_die() {
	local f
	echo "krbrig: start failed: $1" >&2
	shift
	for f in "$@"; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
	done
	return 1
}

# True while PID runs and is not a zombie (PID 1 of some sandboxes never reaps orphans).
krbrig_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case "$st" in
	Z* | "") return 1 ;;
	esac
	return 0
}

# TERM, up to 3 s, then KILL: only the PID recorded in $RIG/NAME.pid.
krbrig_stop_pidfile() {
	local f="$RIG/$1.pid" pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	rm -f "$f"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		krbrig_alive "$pid" || break
		sleep 0.05
	done
	krbrig_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# Run in the background, inside netns $1 when not empty; $RIG/$2.pid gets the PID.
# "ip netns exec" execs the command, so the PID is the daemon's own.
krbrig_spawn() {
	local ns=$1 name=$2
	shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >"$RIG/logs/$name.out" 2>&1 &
	else
		"$@" >"$RIG/logs/$name.out" 2>&1 &
	fi
	echo $! >"$RIG/$name.pid"
}

# krbrig_wait_up NAME CHECK...: up to 5 s for CHECK, giving up at once if NAME's process died.
krbrig_wait_up() {
	local pid i
	pid=$(cat "$RIG/$1.pid" 2>/dev/null)
	shift
	for ((i = 0; i < 50; i++)); do
		"$@" && return 0
		krbrig_alive "$pid" || return 1
		sleep 0.1
	done
	return 1
}

krbrig_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# krbrig_listening NETNS|"" PORT: a TCP listener on PORT exists there. Asks the kernel (ss)
# instead of connecting, so no probe shows up in the proxy's access log.
krbrig_listening() {
	local -a ns=()
	[ -n "$1" ] && ns=(-N "$1")
	ss "${ns[@]}" -Hltn "sport = :$2" 2>/dev/null | grep -q .
}

# --- the Kerberos part, shared with krbrig-kdc.sh (the unit test's KDC) ------------------------

# krbrig_write_krb5 DIR KDC_ADDR KDC_PORT LISTEN: client krb5.conf + kdc.conf, DB, HTTP principal
# and its keytab. LISTEN is the KDC's listen spec ("88" for every address of its namespace).
krbrig_init_kdc() {
	local dir=$1 addr=$2 port=$3 listen=$4
	mkdir -p "$dir/db" "$dir/logs" "$dir/rcache" "$dir/cc" || return 1
	chmod 1777 "$dir/rcache" "$dir/cc"
	cat >"$dir/krb5.conf" <<EOF
[libdefaults]
	default_realm = $KRBRIG_REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	# Service principals come from the configured name, never from DNS: HTTP@proxy.kgtest.local
	# works with nothing resolvable, and an IP in a proxy URL cannot leak into the principal.
	dns_canonicalize_hostname = false
	rdns = false
	# else single-label names get the resolv.conf search domain appended
	qualify_shortname = ""
	udp_preference_limit = 1
	ticket_lifetime = 10h
	renew_lifetime = 7d
	forwardable = true
	# KCM: caches reach a kcm daemon of the test's own, never the system's (krbrig_kcm_start)
	kcm_socket = $dir/kcm/.heim_org.h5l.kcm-socket
[realms]
	$KRBRIG_REALM = {
		kdc = $addr:$port
	}
[domain_realm]
	.kgtest.local = $KRBRIG_REALM
	kgtest.local = $KRBRIG_REALM
	localhost = $KRBRIG_REALM
EOF
	cat >"$dir/kdc.conf" <<EOF
[kdcdefaults]
	kdc_listen = $listen
	kdc_tcp_listen = $listen
[realms]
	$KRBRIG_REALM = {
		database_name = $dir/db/principal
		key_stash_file = $dir/db/stash
		acl_file = $dir/db/kadm5.acl
		max_life = 10h
		max_renewable_life = 7d
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
	}
[logging]
	kdc = FILE:$dir/logs/kdc.log
	default = FILE:$dir/logs/krb5lib.log
EOF
	: >"$dir/db/kadm5.acl"
	chmod 644 "$dir/krb5.conf"
	KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf" \
		kdb5_util -r "$KRBRIG_REALM" create -s -P "kgtest-master-$$" \
		>"$dir/logs/kdb5_util.log" 2>&1 ||
		krbrig_die "kdb5_util create" "$dir/logs/kdb5_util.log" || return 1
	# One kadmin.local run for every command: each run costs about 0.1 s.
	krbrig_kadmin "$dir" <<EOF || krbrig_die "kadmin.local" "$dir/logs/kadmin.log" || return 1
addprinc -randkey HTTP/$KRBRIG_PROXY_HOST@$KRBRIG_REALM
ktadd -k $dir/http.keytab HTTP/$KRBRIG_PROXY_HOST@$KRBRIG_REALM
EOF
	[ -s "$dir/http.keytab" ] || krbrig_die "no keytab written" "$dir/logs/kadmin.log"
}

# krbrig_kadmin DIR [kadmin.local args]: on the rig's database, no network; -p because a test
# uid without a passwd entry has no name kadmin.local could derive one from.
krbrig_kadmin() {
	local dir=$1
	shift
	KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf" \
		kadmin.local -r "$KRBRIG_REALM" -p "kgtest/admin@$KRBRIG_REALM" "$@" \
		>>"$dir/logs/kadmin.log" 2>&1
}

# krbrig_addprinc DIR NAME PASSWORD
krbrig_addprinc() {
	krbrig_kadmin "$1" -q "addprinc -pw $3 $2@$KRBRIG_REALM" ||
		krbrig_die "addprinc $2" "$1/logs/kadmin.log"
}

# krbrig_ktadd DIR NAME FILE: NAME (host/client.kgtest.local, for the system relay) with a new
# random key, written to the keytab FILE. The principal is made on first use.
krbrig_ktadd() {
	krbrig_kadmin "$1" -q "addprinc -randkey $2@$KRBRIG_REALM" || : # exists already: fine
	krbrig_kadmin "$1" -q "ktadd -k $3 $2@$KRBRIG_REALM" && [ -s "$3" ] ||
		krbrig_die "ktadd $2" "$1/logs/kadmin.log"
}

# --- the public API -------------------------------------------------------------------------

krbrig_start() {
	if ! krbrig_start_rig "$@"; then
		krbrig_stop
		return 1
	fi
}

krbrig_start_rig() {
	local mode=${1:-squid} t0 slot
	t0=$(krbrig_now_ms)
	case "$mode" in
	squid) kg_require_cmd "$(krbrig_squid_bin)" ;;
	apache) kg_require_cmd apache2 ;;
	kdc-only) ;;
	*)
		echo "krbrig_start: unknown mode '$mode' (squid|apache|kdc-only)" >&2
		return 2
		;;
	esac
	kg_require_cmd krb5kdc kdb5_util kadmin.local kinit python3
	if [ "$mode" != kdc-only ]; then
		kg_require_root
		kg_require_cmd ip openssl setpriv
	fi
	if [ "$mode" = apache ] && [ ! -e /usr/lib/apache2/modules/mod_auth_gssapi.so ]; then
		kg_skip "needs libapache2-mod-auth-gssapi"
	fi
	if [ "${KRBRIG_TLS:-0}" = 1 ]; then
		if [ "$mode" != squid ]; then
			echo "krbrig_start: KRBRIG_TLS=1 needs the squid mode, not '$mode'" >&2
			return 2
		fi
		krbrig_squid_has_tls || kg_skip "KRBRIG_TLS=1: $(krbrig_squid_bin) has no TLS" \
			"(no --with-openssl in its -v: it is not Debian's squid-openssl); install" \
			"squid-openssl or point KRBRIG_SQUID at a Squid built with OpenSSL"
	fi
	if [ "${KRBRIG_NOAUTH:-0}" = 1 ] && [ "$mode" != squid ]; then
		echo "krbrig_start: KRBRIG_NOAUTH=1 needs the squid mode, not '$mode'" >&2
		return 2
	fi
	if [ -n "${RIG:-}" ] && [ -d "$RIG" ]; then
		echo "krbrig_start: a rig is already running in $RIG" >&2
		return 1
	fi
	if [ "$KRBRIG_REGISTERED" = 0 ]; then
		kg_on_exit krbrig_stop
		KRBRIG_REGISTERED=1
	fi
	RIG=$(mktemp -d "${TMPDIR:-/tmp}/kgrig.XXXXXX") || return 1
	chmod 755 "$RIG"
	mkdir -p "$RIG/logs" "$RIG/www"
	export RIG KRBRIG_MODE=$mode REALM=$KRBRIG_REALM
	export PROXY_HOST=$KRBRIG_PROXY_HOST ORIGIN_HOST=$KRBRIG_ORIGIN_HOST
	export PROXY_SPN="HTTP@$KRBRIG_PROXY_HOST" PROXY_PRINCIPAL="HTTP/$KRBRIG_PROXY_HOST@$KRBRIG_REALM"
	export KRB5_CONFIG="$RIG/krb5.conf" KRB5_KDC_PROFILE="$RIG/kdc.conf"
	export KRB5RCACHEDIR="$RIG/rcache" KRBRIG_CCDIR="$RIG/cc"
	KRBRIG_NS_PROXY="" KRBRIG_NS_ORIGIN="" HOST_IP="" PROXY_IP="" ORIGIN_IP="" ORIGIN_CA=""
	KRBRIG_SLOT=""

	if [ "$mode" = kdc-only ]; then
		KDC_ADDR=127.0.0.1
		KDC_PORT=$(krbrig_free_port)
		krbrig_init_kdc "$RIG" "$KDC_ADDR" "$KDC_PORT" "$KDC_ADDR:$KDC_PORT" || return 1
		krbrig_spawn "" kdc krb5kdc -n -r "$KRBRIG_REALM"
	else
		# Rigs started at the same time (parallel make check) must not pick the same /30:
		# Linux happily puts one address on two interfaces, and the routes then cross.
		# The choice and the address assignment happen under one lock.
		local lockfd
		exec {lockfd}>>/run/lock/kgrig-slots.lock
		flock -w 30 "$lockfd" || krbrig_die "cannot lock the rig slot table" || return 1
		for ((slot = 0; slot < 64; slot++)); do
			ip -4 -o addr show to "198.51.100.$((4 * slot))/30" | grep -q . || break
		done
		if [ "$slot" -ge 64 ]; then
			exec {lockfd}>&-
			krbrig_die "no free /30 left in 198.51.100.0/24"
			return 1
		fi
		KRBRIG_SLOT=$slot
		HOST_IP=198.51.100.$((4 * slot + 1))
		PROXY_IP=198.51.100.$((4 * slot + 2))
		ORIGIN_IP=203.0.113.$((4 * slot + 2))
		KDC_ADDR=$PROXY_IP
		KDC_PORT=88
		krbrig_net "203.0.113.$((4 * slot + 1))"
		slot=$?
		exec {lockfd}>&-
		[ "$slot" = 0 ] || return 1
		krbrig_init_kdc "$RIG" "$KDC_ADDR" "$KDC_PORT" 88 || return 1
		krbrig_spawn "$KRBRIG_NS_PROXY" kdc krb5kdc -n -r "$KRBRIG_REALM"
		krbrig_origin || return 1
		echo "$ORIGIN_IP $KRBRIG_ORIGIN_HOST" >"$RIG/hosts"
		chmod 644 "$RIG/hosts"
		if [ "$mode" = squid ]; then krbrig_squid; else krbrig_apache; fi || return 1
	fi
	export KDC_ADDR KDC_PORT HOST_IP PROXY_IP ORIGIN_IP ORIGIN_CA KRBRIG_NS_PROXY KRBRIG_NS_ORIGIN
	export KRBRIG_SLOT
	export PROXY_PORT=$KRBRIG_PROXY_PORT
	export PROXY_URL="http://${PROXY_IP:-127.0.0.1}:$PROXY_PORT"
	[ "${KRBRIG_TLS:-0}" = 1 ] && krbrig_tls_export
	[ "${KRBRIG_NOAUTH:-0}" = 1 ] && krbrig_noauth_export

	# Wait, bounded (5 s each), for every listener; name the one that did not come up.
	krbrig_wait_up kdc krbrig_listening "$KRBRIG_NS_PROXY" "$KDC_PORT" ||
		krbrig_die "the KDC does not listen on $KDC_ADDR:$KDC_PORT" \
			"$RIG/logs/kdc.out" "$RIG/logs/kdc.log" || return 1
	if [ "$mode" != kdc-only ]; then
		krbrig_wait_up origin test -s "$RIG/origin.ready" ||
			krbrig_die "origin.py did not start" "$RIG/logs/origin.out" || return 1
		krbrig_wait_up proxy krbrig_listening "$KRBRIG_NS_PROXY" "$PROXY_PORT" ||
			krbrig_die "the $mode proxy does not listen on $PROXY_IP:$PROXY_PORT" \
				"$RIG/logs/proxy.out" "$RIG/logs/cache.log" "$RIG/logs/error_log" ||
			return 1
		if [ "${KRBRIG_NOAUTH:-0}" = 1 ]; then
			krbrig_wait_up proxy krbrig_listening "$KRBRIG_NS_PROXY" "$KRBRIG_NOAUTH_PORT" ||
				krbrig_die "Squid does not listen on its auth-free port $KRBRIG_NOAUTH_PORT" \
					"$RIG/logs/proxy.out" "$RIG/logs/cache.log" || return 1
		fi
		if [ "${KRBRIG_TLS:-0}" = 1 ]; then
			krbrig_wait_up proxy krbrig_tls_listening ||
				krbrig_die "Squid does not listen on its https_port ($KRBRIG_TLS_PORTS)" \
					"$RIG/logs/proxy.out" "$RIG/logs/cache.log" || return 1
		fi
	fi
	krbrig_write_env
	krbrig_log "$mode rig ready in $(($(krbrig_now_ms) - t0)) ms: $RIG"
}

# The two namespaces, the veth pairs, and the root namespace's unreachable route to the origin.
# $1: the proxy namespace's address on the origin link.
krbrig_net() {
	local p="$KG_TEST_ID-kgp" o="$KG_TEST_ID-kgo" proxy_inner=$1
	ip netns add "$p" || krbrig_die "cannot create network namespace $p" || return 1
	KRBRIG_NS_PROXY=$p
	ip netns add "$o" || krbrig_die "cannot create network namespace $o" || return 1
	KRBRIG_NS_ORIGIN=$o
	ip -n "$p" link set lo up && ip -n "$o" link set lo up &&
		ip link add "${KG_TEST_ID}h" type veth peer name hostside netns "$p" &&
		ip -n "$p" link add originside type veth peer name proxyside netns "$o" &&
		ip addr add "$HOST_IP/30" dev "${KG_TEST_ID}h" &&
		ip link set "${KG_TEST_ID}h" up &&
		ip -n "$p" addr add "$PROXY_IP/30" dev hostside &&
		ip -n "$p" link set hostside up &&
		ip -n "$p" addr add "$proxy_inner/30" dev originside &&
		ip -n "$p" link set originside up &&
		ip -n "$o" addr add "$ORIGIN_IP/30" dev proxyside &&
		ip -n "$o" link set proxyside up &&
		ip route replace unreachable "$ORIGIN_IP/32" ||
		krbrig_die "network setup (ip link/addr/route) failed" || return 1
	echo "$ORIGIN_IP" >"$RIG/route"
}

krbrig_origin() {
	echo "kgtest origin: hello" >"$RIG/www/index.txt"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=kgtest rig CA" -keyout "$RIG/ca.key" -out "$RIG/ca.pem" \
		>"$RIG/logs/openssl.log" 2>&1 &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-subj "/CN=$KRBRIG_ORIGIN_HOST" -keyout "$RIG/origin.key" -out "$RIG/origin.csr" \
			>>"$RIG/logs/openssl.log" 2>&1 &&
		printf 'subjectAltName=DNS:%s,DNS:*.%s,DNS:*.intranet.test,DNS:*.web.test,IP:%s\n%s\n' \
			"$KRBRIG_ORIGIN_HOST" "$KRBRIG_ORIGIN_HOST" "$ORIGIN_IP" \
			"extendedKeyUsage=serverAuth" >"$RIG/origin.ext" &&
		openssl x509 -req -in "$RIG/origin.csr" -CA "$RIG/ca.pem" -CAkey "$RIG/ca.key" \
			-CAcreateserial -days 2 -extfile "$RIG/origin.ext" -out "$RIG/origin.pem" \
			>>"$RIG/logs/openssl.log" 2>&1 ||
		krbrig_die "test CA generation" "$RIG/logs/openssl.log" || return 1
	ORIGIN_CA=$RIG/ca.pem
	chmod 644 "$ORIGIN_CA"
	krbrig_spawn "$KRBRIG_NS_ORIGIN" origin python3 "$KRBRIG_LIB_DIR/origin.py" serve \
		--bind "$ORIGIN_IP" --http-port 80 --https-port 443 \
		--cert "$RIG/origin.pem" --key "$RIG/origin.key" --ready "$RIG/origin.ready"
}

# krbrig_squid_conf IP HOST KEYTAB LOGDIR [ACCEPT]: a squid.conf on stdout for a Negotiate Squid
# on IP:3128 named HOST, its keytab, logs and PID file in LOGDIR. It accepts tickets for ACCEPT
# (HTTP/HOST@REALM by default; GSS_C_NO_NAME: for any principal of the keytab).
krbrig_squid_conf() {
	# The Debian default access rules (SSL_ports, Safe_ports, CONNECT only to 443), then
	# Negotiate required for everyone: what a corporate Squid looks like.
	cat <<EOF
http_port $1:$KRBRIG_PROXY_PORT
cache_effective_user proxy
visible_hostname $2
pid_filename $4/squid.pid
cache_log $4/cache.log
access_log stdio:$4/access.log squid
cache_store_log none
cache deny all
coredump_dir $4
shutdown_lifetime 0 seconds
pinger_enable off
netdb_filename none
icp_port 0
htcp_port 0
logfile_rotate 0
hosts_file $RIG/hosts
dns_nameservers 127.0.0.1

# -s: an explicit service principal (GSS_C_NO_NAME makes the helper resolve the host name).
auth_param negotiate program /usr/lib/squid/negotiate_kerberos_auth -k $3 \
	-s ${5:-HTTP/$2@$KRBRIG_REALM} -c $RIG/rcache -i
auth_param negotiate children 3 startup=1 idle=1
auth_param negotiate keep_alive on

acl SSL_ports port 443
acl Safe_ports port 80		# http
acl Safe_ports port 21		# ftp
acl Safe_ports port 443		# https
acl Safe_ports port 70		# gopher
acl Safe_ports port 210		# wais
acl Safe_ports port 1025-65535	# unregistered ports
acl Safe_ports port 280		# http-mgmt
acl Safe_ports port 488		# gss-http
acl Safe_ports port 591		# filemaker
acl Safe_ports port 777		# multiling http
http_access deny !Safe_ports
http_access deny CONNECT !SSL_ports
http_access allow localhost manager
http_access deny manager
$(krbrig_noauth_conf "$1")
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
# WebSocket over plain HTTP (101 Switching Protocols): off in Squid's defaults, commonly
# allowed by corporate proxies; the other offers are still dropped.
http_upgrade_request_protocols websocket allow all
EOF
}

krbrig_squid() {
	local sq
	sq=$(krbrig_squid_bin)
	chown proxy: "$RIG/http.keytab" && chown -R proxy: "$RIG/logs" ||
		krbrig_die "chown to the proxy user" || return 1
	krbrig_squid_conf "$PROXY_IP" "$KRBRIG_PROXY_HOST" "$RIG/http.keytab" "$RIG/logs" \
		>"$RIG/squid.conf"
	if [ "${KRBRIG_TLS:-0}" = 1 ]; then
		krbrig_tls_certs && krbrig_tls_conf >>"$RIG/squid.conf" || return 1
	fi
	"$sq" -k parse -f "$RIG/squid.conf" >"$RIG/logs/squid-parse.log" 2>&1 ||
		krbrig_die "squid.conf does not parse" "$RIG/logs/squid-parse.log" || return 1
	# -N: foreground, no SMP kids; the helper inherits KRB5_CONFIG and KRB5RCACHEDIR.
	krbrig_spawn "$KRBRIG_NS_PROXY" proxy "$sq" -N -f "$RIG/squid.conf"
}

# --- no authentication (KRBRIG_NOAUTH=1) -------------------------------------------------------

# krbrig_noauth_conf IP: for the rig's own Squid (IP = PROXY_IP) with KRBRIG_NOAUTH=1, the
# auth-free http_port and its access rule, placed before the rule that requires Negotiate;
# nothing otherwise (issue 13's Squid B shares krbrig_squid_conf).
krbrig_noauth_conf() {
	[ "${KRBRIG_NOAUTH:-0}" = 1 ] && [ "$1" = "$PROXY_IP" ] || return 0
	cat <<EOF
# KRBRIG_NOAUTH=1: the test networks need no authentication on this port (only this one)
http_port $1:$KRBRIG_NOAUTH_PORT name=noauth
acl kg_noauth_port myportname noauth
acl kg_test_nets src 198.51.100.0/24 198.18.0.0/15
http_access allow kg_noauth_port kg_test_nets
EOF
}

krbrig_noauth_export() {
	export PROXY_NOAUTH_PORT=$KRBRIG_NOAUTH_PORT
	export PROXY_NOAUTH_URL="http://$PROXY_IP:$KRBRIG_NOAUTH_PORT"
}

# --- TLS (KRBRIG_TLS=1) ------------------------------------------------------------------------

# The certificates in $RIG/tls: Squid (the proxy user) reads the server keys, nobody else; the
# CA and the client certificate and key are readable by the test uids (a test-only key).
krbrig_tls_certs() {
	mkdir -p "$RIG/tls" && chmod 755 "$RIG/tls" &&
		bash "$KRBRIG_LIB_DIR/tlscerts.sh" "$RIG/tls" "$KRBRIG_PROXY_HOST" \
			>"$RIG/logs/tlscerts.log" 2>&1 ||
		krbrig_die "tests/lib/tlscerts.sh" "$RIG/logs/tlscerts.log" || return 1
	chown -R proxy: "$RIG/tls" && chmod 644 "$RIG/tls"/*.pem "$RIG/tls/client.key" ||
		krbrig_die "the TLS files' owner and modes" || return 1
}

krbrig_tls_conf() { # the https_port lines for squid.conf, on stdout
	local p port cert
	echo "# TLS listeners (KRBRIG_TLS=1): the same access rules and Negotiate as http_port"
	for p in $KRBRIG_TLS_PORTS; do
		port=${p%%:*} cert=${p#*:}
		printf 'https_port %s:%s tls-cert=%s tls-key=%s' "$PROXY_IP" "$port" \
			"$RIG/tls/$cert.pem" "$RIG/tls/$cert.key"
		[ "$port" = "$KRBRIG_MTLS_PORT" ] && printf ' clientca=%s' "$RIG/tls/ca.pem"
		echo
	done
}

krbrig_tls_listening() { # every https_port listens
	local p
	for p in $KRBRIG_TLS_PORTS; do
		krbrig_listening "$KRBRIG_NS_PROXY" "${p%%:*}" || return 1
	done
}

krbrig_tls_export() {
	local h=$KRBRIG_PROXY_HOST
	export PROXY_TLS_PORT=$KRBRIG_TLS_PORT PROXY_TLS_DIR=$RIG/tls
	export PROXY_TLS_URL="https://$h:$KRBRIG_TLS_PORT" PROXY_MTLS_URL="https://$h:$KRBRIG_MTLS_PORT"
	export PROXY_TLS_EXPIRED_URL="https://$h:3132" PROXY_TLS_WRONGNAME_URL="https://$h:3133"
	export PROXY_TLS_UNTRUSTED_URL="https://$h:3134"
	export PROXY_CA=$RIG/tls/ca.pem
	export PROXY_CLIENT_CERT=$RIG/tls/client.pem PROXY_CLIENT_KEY=$RIG/tls/client.key
}

# krbrig_proxy_tls_curl UID CCACHE curl-args...: curl as UID with CCACHE through the rig's
# https_port 3129 with Negotiate, the proxy's certificate checked against PROXY_CA; the
# caller's --resolve/--proxy options come after and win (another port: --proxy URL and
# --resolve proxy.kgtest.local:PORT:PROXY_IP).
krbrig_proxy_tls_curl() {
	local uid=$1 cc=$2 p resolve=()
	shift 2
	for p in $KRBRIG_TLS_PORTS; do
		resolve+=(--resolve "$PROXY_HOST:${p%%:*}:$PROXY_IP")
	done
	kg_as_uid "$uid" env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5CCNAME="$cc" curl -sS "${resolve[@]}" --proxy "$PROXY_TLS_URL" \
		--proxy-cacert "$PROXY_CA" --proxy-negotiate -U : --cacert "$ORIGIN_CA" "$@"
}

krbrig_apache() {
	local mods=/usr/lib/apache2/modules
	chown www-data: "$RIG/http.keytab" && chown -R www-data: "$RIG/logs" ||
		krbrig_die "chown to www-data" || return 1
	cat >"$RIG/httpd.conf" <<EOF
ServerRoot $RIG
ServerName $KRBRIG_PROXY_HOST
Listen $PROXY_IP:$KRBRIG_PROXY_PORT
PidFile $RIG/logs/httpd.pid
ErrorLog $RIG/logs/error_log
LogLevel warn auth_gssapi:info
LogFormat "%h %l %u %t \"%r\" %>s %b" common
CustomLog $RIG/logs/access_log common
DefaultRuntimeDir $RIG/logs
Mutex file:$RIG/logs
User www-data
Group www-data
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authn_core_module $mods/mod_authn_core.so
LoadModule authz_user_module $mods/mod_authz_user.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
LoadModule proxy_connect_module $mods/mod_proxy_connect.so
LoadModule auth_gssapi_module $mods/mod_auth_gssapi.so
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
KeepAlive On
ProxyRequests On
ProxyVia Off
# like Squid's "deny CONNECT !SSL_ports"
AllowCONNECT 443
<Proxy "*">
	AuthType GSSAPI
	AuthName "KernelGatekeeper test proxy"
	GssapiCredStore keytab:$RIG/http.keytab
	GssapiAllowedMech krb5
	GssapiBasicAuth Off
	GssapiConnectionBound On
	Require valid-user
</Proxy>
EOF
	apache2 -t -f "$RIG/httpd.conf" >"$RIG/logs/httpd-t.log" 2>&1 ||
		krbrig_die "httpd.conf does not parse" "$RIG/logs/httpd-t.log" || return 1
	# mod_proxy resolves origin.test with getaddrinfo: give it a private /etc/hosts.
	# shellcheck disable=SC2016 # expanded by that sh
	krbrig_spawn "$KRBRIG_NS_PROXY" proxy sh -c \
		'mount --bind "$1/hosts" /etc/hosts && exec apache2 -DFOREGROUND -f "$1/httpd.conf"' \
		sh "$RIG"
}

krbrig_write_env() {
	local v
	: >"$RIG/env.sh"
	for v in RIG KRBRIG_MODE REALM KRB5_CONFIG KRB5_KDC_PROFILE KRB5RCACHEDIR KDC_ADDR KDC_PORT \
		PROXY_IP PROXY_PORT PROXY_HOST PROXY_SPN PROXY_URL PROXY_PRINCIPAL HOST_IP ORIGIN_IP \
		ORIGIN_HOST ORIGIN_CA KRBRIG_CCDIR KRBRIG_NS_PROXY KRBRIG_NS_ORIGIN KRBRIG_SLOT; do
		printf 'export %s=%q\n' "$v" "${!v}" >>"$RIG/env.sh"
	done
	if [ "${KRBRIG_TLS:-0}" = 1 ]; then
		for v in PROXY_TLS_PORT PROXY_TLS_URL PROXY_MTLS_URL PROXY_TLS_EXPIRED_URL \
			PROXY_TLS_WRONGNAME_URL PROXY_TLS_UNTRUSTED_URL PROXY_CA PROXY_CLIENT_CERT \
			PROXY_CLIENT_KEY PROXY_TLS_DIR; do
			printf 'export %s=%q\n' "$v" "${!v}" >>"$RIG/env.sh"
		done
	fi
	if [ "${KRBRIG_NOAUTH:-0}" = 1 ]; then
		for v in PROXY_NOAUTH_PORT PROXY_NOAUTH_URL; do
			printf 'export %s=%q\n' "$v" "${!v}" >>"$RIG/env.sh"
		done
	fi
	cat >"$RIG/kg-proxy.conf" <<EOF
proxy = {
	type = "http";
	url = "$PROXY_URL";
	connection_timeout = 5;
};
kerberos = {
	realm = "$KRBRIG_REALM";
	spn = "$PROXY_SPN";
};
EOF
	chmod 644 "$RIG/env.sh" "$RIG/kg-proxy.conf"
}

krbrig_add_user() { # NAME PASSWORD
	krbrig_addprinc "$RIG" "$1" "$2"
}

# kinit as an unprivileged numeric uid (gid = uid, no groups): the ccache belongs to that uid.
# CCACHE: a ccache name or path ("" -> FILE:$KRBRIG_CCDIR/krb5cc_UID); extra args go to kinit.
krbrig_kinit_as() {
	local uid=$1 name=$2 pw=$3 cc=${4:-}
	shift 4
	[ -n "$cc" ] || cc="FILE:$KRBRIG_CCDIR/krb5cc_$uid"
	printf '%s\n' "$pw" | kg_as_uid "$uid" env KRB5_CONFIG="$KRB5_CONFIG" KRB5CCNAME="$cc" \
		timeout 20 kinit "$@" "$name@$KRBRIG_REALM" >>"$RIG/logs/kinit.log" 2>&1
}

krbrig_kdc_stop() {
	krbrig_stop_pidfile kdc
}

krbrig_kdc_start() { # [WRAPPER...]: e.g. env VAR=... (it must exec the KDC: the PID is recorded)
	[ -f "$RIG/kdc.pid" ] && return 0
	krbrig_spawn "$KRBRIG_NS_PROXY" kdc "$@" krb5kdc -n -r "$KRBRIG_REALM"
	krbrig_wait_up kdc krbrig_listening "$KRBRIG_NS_PROXY" "$KDC_PORT"
}

# krbrig_proxy_curl UID CCACHE curl-args...: curl as UID with CCACHE through the rig's proxy,
# named as in its SPN and reached by IP, with nothing of the caller's environment.
krbrig_proxy_curl() {
	local uid=$1 cc=$2
	shift 2
	kg_as_uid "$uid" env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5CCNAME="$cc" curl -sS --resolve "$PROXY_HOST:$PROXY_PORT:$PROXY_IP" \
		-x "http://$PROXY_HOST:$PROXY_PORT" --cacert "$ORIGIN_CA" "$@"
}

# krbrig_access_log_has [A|B] REGEX: the proxy's access log has a matching line (A: the rig's
# proxy, the default; B: the second Squid of tests/lib/pacrig.sh).
krbrig_access_log_has() {
	if [ $# -ge 2 ]; then
		grep -Eq -- "$2" "$(krbrig_proxy_log "$1")"
	else
		grep -Eq -- "$1" "$(krbrig_access_log)"
	fi
}

krbrig_proxy_log() { # A|B: the path of that proxy's access log
	case "$1" in
	B | b) echo "$RIG/logs/b/access.log" ;;
	*) krbrig_access_log ;;
	esac
}

krbrig_access_log() {
	case "${KRBRIG_MODE:-}" in
	apache) echo "$RIG/logs/access_log" ;;
	*) echo "$RIG/logs/access.log" ;;
	esac
}

krbrig_squid_log() {
	krbrig_access_log
}

# krbrig_kcm_start: Heimdal's kcm daemon, the KCM: cache store of krb5.conf's kcm_socket. It
# always binds /run/.heim_org.h5l.kcm-socket and writes /run/kcm.pid, so it runs in a mount
# namespace of its own where /run is $RIG/kcm: the system's /run is not touched. unshare and sh
# exec, so the PID recorded is kcm's.
krbrig_kcm_start() {
	mkdir -p "$RIG/kcm" || return 1
	krbrig_spawn "" kcm unshare -m sh -c \
		'mount --make-rprivate / && mount --bind "$1" /run && exec env KRB5_CONFIG="$2" kcm' \
		_ "$RIG/kcm" "$KRB5_CONFIG"
	krbrig_wait_up kcm test -S "$RIG/kcm/.heim_org.h5l.kcm-socket"
}

# Stops only what this rig started (by PID), then the namespaces, the route and the directory.
# Idempotent and bounded (about 3 s per process at worst).
krbrig_stop() {
	local t0 name pid ns i
	[ -n "${RIG:-}" ] && [ -d "$RIG" ] || return 0
	t0=$(krbrig_now_ms)
	# the issue-13 parts (tests/lib/pacrig.sh), when sourced: their processes, links and routes
	! declare -F krbrig_i13_stop >/dev/null || krbrig_i13_stop
	for name in kcm proxy origin kdc; do
		krbrig_stop_pidfile "$name"
	done
	for ns in ${KRBRIG_NS_PROXY:-} ${KRBRIG_NS_ORIGIN:-}; do
		# stragglers are the proxy's helpers, children of our squid/apache
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		for ((i = 0; i < 20; i++)); do
			ip netns del "$ns" 2>/dev/null && break
			sleep 0.05
		done
	done
	[ -f "$RIG/route" ] && ip route del unreachable "$(cat "$RIG/route")/32" 2>/dev/null
	ip link del "${KG_TEST_ID}h" 2>/dev/null
	if [ "${KRBRIG_KEEP:-0}" = 1 ]; then
		krbrig_log "kept $RIG"
	else
		rm -rf "$RIG"
	fi
	krbrig_log "stopped in $(($(krbrig_now_ms) - t0)) ms"
	RIG="" KRBRIG_NS_PROXY="" KRBRIG_NS_ORIGIN="" KRBRIG_SLOT=""
	return 0
}

# --- a file-serving origin (issue 17: the system relay's package test) ----------------------------

# krbrig_origin_files DIR: the origin serves the files below DIR on ORIGIN_IP:80 (python3's
# http.server) in place of origin.py, e.g. a small package repository; krbrig_stop stops it.
krbrig_origin_files() {
	krbrig_stop_pidfile origin
	krbrig_spawn "$KRBRIG_NS_ORIGIN" origin python3 -m http.server --bind "$ORIGIN_IP" \
		--directory "$1" 80
	krbrig_wait_up origin krbrig_listening "$KRBRIG_NS_ORIGIN" 80 ||
		krbrig_die "the file server does not listen on $ORIGIN_IP:80" "$RIG/logs/origin.out"
}
