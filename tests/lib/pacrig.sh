# shellcheck shell=bash
# The issue-13 parts of the test rig (PAC/WPAD, proxy lists with failover, off-network), opt-in
# additions to a running "krbrig_start squid|apache" rig (tests/lib/krbrig.sh). Sourced by the
# tests that need them; a test that does not call krbrig_i13_start pays nothing.
#
# Topology added to the rig of slot i (see krbrig.sh), all inside the rig's namespaces:
#
#   host side (root netns or KG_NS)       "proxy" netns (the corporate LAN)
#   HOST_IP ---------- veth -----------   PROXY_IP       Squid A :3128, KDC :88   (the rig's)
#     route PROXYB_IP/32 via PROXY_IP     PROXYB_IP      Squid B :3128 (proxyb.kgtest.local)
#     route KRBRIG_SRV_IP/32 via ...      KRBRIG_SRV_IP  dnsmasq :53, PAC server :80, :443
#                                                        (wpad.corp.test)
#     route KRBRIG_INTRANET_IP/32 via ... KRBRIG_INTRANET_IP  an intranet web server :80, :443
#                                                        (origin.py: *.intranet.test, reached
#                                                        directly or through either proxy)
#   "home" (krbrig_go_home):
#   KRBRIG_HOME_IP --- veth ${KG_TEST_ID}m --- "origin" netns: ORIGIN_IP reached directly
#
#   PROXYB_IP = 198.18.i.1, KRBRIG_SRV_IP = 198.18.i.2, KRBRIG_HOME_IP = 198.18.i.3,
#   KRBRIG_HOME_DNS_IP = 198.18.i.4 and KRBRIG_INTRANET_IP = 198.18.i.5 (RFC 2544's
#   benchmarking range: TEST-NET-2 and -3 are the slots' own, and TEST-NET-1 can be a real
#   network: some CI machines have their uplink in 192.0.2.0/24). The rig's slot (held in the
#   root namespace by krbrig.sh's lock and address) makes them unique among parallel rigs.
#   dnsmasq also listens on 127.0.0.1 of the proxy namespace, where both Squids
#   (dns_nameservers 127.0.0.1) ask for the names that are not in their hosts_file.
#
# DNS (dnsmasq, authoritative for everything: names it does not know are NXDOMAIN, nothing is
# forwarded; TTL KRBRIG_DNS_TTL, 60 s by default):
#   origin.test and *.web.test -> ORIGIN_IP, reached only through a proxy; *.intranet.test ->
#   KRBRIG_INTRANET_IP, on the LAN, reached directly too (a PAC's DIRECT for the intranet works);
#   the origin's certificate covers both domains; wpad.corp.test -> KRBRIG_SRV_IP;
#   proxy.kgtest.local -> PROXY_IP;
#   proxyb.kgtest.local -> PROXYB_IP; more with krbrig_dns_add NAME IP.
#   $KRBRIG_RESOLV_CONF: "nameserver KRBRIG_SRV_IP", "search corp.test" (KRBRIG_DNS_SEARCH).
#
# API (after krbrig_start, in the test's shell; every function returns non-zero on failure):
#   krbrig_i13_start [dns] [proxyb] [pac] [intranet]   the parts named (all without arguments)
#   krbrig_proxyb_start                     Squid B: principal HTTP/proxyb.kgtest.local, own
#                                           keytab, squid.conf ($RIG/squidb.conf), logs in
#                                           $RIG/logs/b; SYN counters for A and B
#   krbrig_proxy_kill A|B [SIGNAL]          signal (KILL by default) the proxy's PID, wait for it
#   krbrig_proxy_start A|B                  start it again (no-op while it runs), wait until it
#                                           listens; krbrig_proxy_restart A|B = kill TERM + start
#   krbrig_proxy_drop A|B on|off            drop SYNs to that proxy silently (connect timeouts)
#   krbrig_proxyb_shared_spn on|off         B also accepts tickets for A's principal (one SPN
#                                           for both, as a load-balanced pair), restarts B
#   krbrig_syn_count A|B                    SYNs that reached that proxy's address:3128 so far
#   krbrig_proxy_log A|B, krbrig_access_log_has [A|B] REGEX        (in krbrig.sh)
#   krbrig_proxy_curl_via A|B UID CCACHE curl-args...   curl through that proxy with Negotiate
#   krbrig_dns_start, krbrig_dns_add NAME IP, krbrig_dns_del NAME, krbrig_dns_query NAME,
#   krbrig_dns_log_has REGEX                (KRBRIG_DNS_SEARCH, KRBRIG_WPAD_DOMAIN (where the
#                                           wpad record is; the search domain by default) and
#                                           KRBRIG_DNS_TTL: set before krbrig_dns_start)
#   krbrig_dns_search DOMAIN                another search domain in the rig's resolv.conf
#   krbrig_with_resolv CMD...               CMD (root) with /etc/resolv.conf = the rig's one, in
#                                           a private mount namespace (the system's is untouched)
#   krbrig_pacsrv_start                     the PAC server (tests/lib/pac_server.py), on
#                                           http:// and https:// (a certificate for
#                                           wpad.corp.test from the rig's CA, ORIGIN_CA)
#   krbrig_with_rig_ca CMD...               CMD (root) with the system's CA bundle plus the
#                                           rig's CA as /etc/ssl/certs/ca-certificates.crt
#                                           (private mount namespace, like krbrig_with_resolv)
#   krbrig_intranet_start                   the intranet server (tests/lib/origin.py's pages)
#   krbrig_pac_serve NAME <<'EOF' ... EOF   serve stdin as http://wpad.corp.test/NAME
#   krbrig_pac_serve_big NAME [BYTES]       a valid PAC of BYTES (2 MiB) bytes, mostly comment
#   krbrig_pac_mode NAME MODE [ARG]         misbehave: stall | hang | trickle | status CODE |
#                                           redirect TARGET | plain (see pac_server.py)
#   krbrig_pac_fetches NAME                 how many GETs of NAME the server answered
#   krbrig_lease_networkd DIR IFINDEX URL   DHCP leases with option 252 = URL, in the formats
#   krbrig_lease_dhclient FILE URL [EXPIRE] of src/client/route/wpad.h (networkd, dhclient)
#   krbrig_go_home [NS], krbrig_go_office [NS]   off the corporate network and back (below)
#   krbrig_two_homed [NS]                   two links for the myIpAddress test (below)
#   krbrig_lan_routes [NS]                  the routes to PROXYB_IP and KRBRIG_SRV_IP on the host
#                                           side (again); kgc_move_host_side calls it
# Exported (and appended to $RIG/env.sh): PROXYB_IP PROXYB_HOST PROXYB_PORT PROXYB_URL
#   PROXYB_SPN PROXYB_PRINCIPAL KRBRIG_SRV_IP KRBRIG_DNS_IP KRBRIG_DNS_PORT KRBRIG_DNS_SEARCH
#   KRBRIG_RESOLV_CONF KRBRIG_PAC_HOST KRBRIG_PAC_BASE KRBRIG_PAC_URL KRBRIG_PAC_HTTPS_BASE
#   KRBRIG_CA_BUNDLE KRBRIG_HOME_IP KRBRIG_HOME_DNS_IP KRBRIG_INTRANET_IP
#
# Home network: krbrig_go_home [NS] works on the host side namespace NS (default: where the
# rig's host link is, the root namespace or KG_NS). Unreachable routes for PROXY_IP, PROXYB_IP
# and KRBRIG_SRV_IP (more specific than the link's /30) make the proxies, the KDC, the DNS and
# the PAC server fail at once ("No route to host"); with KRBRIG_HOME_SILENT=1 the proxy
# namespace's end of the link goes down instead, so SYNs are lost and connects time out. A veth
# from NS straight into the origin namespace, with KRBRIG_HOME_IP and a route to ORIGIN_IP,
# makes the origin directly reachable. When the rig's DNS runs, a home DNS (dnsmasq in the
# origin namespace on KRBRIG_HOME_DNS_IP, reached over that link) knows origin.test and nothing
# of the office, and the rig's resolv.conf names it ("search home.test") until
# krbrig_go_office. In the root namespace the route to the origin replaces the rig's
# "unreachable ORIGIN_IP/32"; krbrig_go_office puts it back. With the host side in KG_NS only
# KG_NS changes: the root namespace keeps its unreachable route throughout, so a stray direct
# connection from the root namespace can never reach the origin (nor leave the machine).
#
# Two homes: krbrig_two_homed [NS] gives NS (default: a namespace of its own, KRBRIG_NS_MULTI;
# never the root namespace) two veth links into a peer namespace, mh1 with KRBRIG_MH_IP1 in
# 198.51.100.0/24 and mh2 with KRBRIG_MH_IP2 in 203.0.113.0/24 (the addresses of slot i^32,
# private to NS), and routes 198.51.100.0/24 via mh1, 203.0.113.0/24 via mh2: a connection to
# KRBRIG_MH_DST1 (198.51.100.x) gets source KRBRIG_MH_IP1, one to KRBRIG_MH_DST2 or the
# origin gets KRBRIG_MH_IP2. The /30 of the rig's link, when NS holds it, stays more specific.

PACRIG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/krbrig.sh
declare -F krbrig_start >/dev/null || . "$PACRIG_LIB_DIR/krbrig.sh"

KRBRIG_PROXYB_HOST=proxyb.kgtest.local
: "${KRBRIG_DNS_SEARCH:=corp.test}"
: "${KRBRIG_DNS_TTL:=60}"

# The slot's addresses in 198.18.0.0/15.
pacrig_addrs() {
	[ -n "${RIG:-}" ] && [ -n "${KRBRIG_SLOT:-}" ] || {
		echo "pacrig: start the rig (krbrig_start squid|apache) first" >&2
		return 1
	}
	PROXYB_IP=198.18.$KRBRIG_SLOT.1
	KRBRIG_SRV_IP=198.18.$KRBRIG_SLOT.2
	KRBRIG_HOME_IP=198.18.$KRBRIG_SLOT.3
	KRBRIG_HOME_DNS_IP=198.18.$KRBRIG_SLOT.4
	KRBRIG_INTRANET_IP=198.18.$KRBRIG_SLOT.5
	export PROXYB_IP KRBRIG_SRV_IP KRBRIG_HOME_IP KRBRIG_HOME_DNS_IP KRBRIG_INTRANET_IP
}

# Where the rig's host link is: "" (the root namespace) or the namespace's name.
krbrig_host_side_ns() {
	if ip link show dev "${KG_TEST_ID}h" >/dev/null 2>&1; then
		echo ""
	elif [ -n "${KG_NS:-}" ] && ip -n "$KG_NS" link show dev "${KG_TEST_ID}h" >/dev/null 2>&1; then
		echo "$KG_NS"
	else
		echo "pacrig: cannot find the rig's host link ${KG_TEST_ID}h" >&2
		return 1
	fi
}

pacrig_ip() { # NS|"" ip-args...: ip in that namespace
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip -n "$ns" "$@"; else ip "$@"; fi
}

# An address of the proxy namespace's end of the host link (a /32: no route changes there).
pacrig_lan_addr() {
	ip -n "$KRBRIG_NS_PROXY" addr show dev hostside | grep -q " $1/32 " ||
		ip -n "$KRBRIG_NS_PROXY" addr add "$1/32" dev hostside
}

krbrig_lan_routes() { # [NS]: routes on the host side to the LAN addresses started so far
	local ns ip
	[ -n "${RIG:-}" ] && [ -f "$RIG/lan-addrs" ] || return 0
	if [ $# -gt 0 ]; then ns=$1; else ns=$(krbrig_host_side_ns) || return 1; fi
	for ip in $(cat "$RIG/lan-addrs"); do
		pacrig_ip "$ns" route replace "$ip/32" via "$PROXY_IP" dev "${KG_TEST_ID}h" || return 1
	done
}

pacrig_add_lan() { # IP: a new address on the LAN, reachable from the host side
	pacrig_lan_addr "$1" || return 1
	grep -qx "$1" "$RIG/lan-addrs" 2>/dev/null || echo "$1" >>"$RIG/lan-addrs"
	krbrig_lan_routes
}

pacrig_write_env() {
	local v
	for v in PROXYB_IP PROXYB_HOST PROXYB_PORT PROXYB_URL PROXYB_SPN PROXYB_PRINCIPAL \
		KRBRIG_SRV_IP KRBRIG_DNS_IP KRBRIG_DNS_PORT KRBRIG_DNS_SEARCH KRBRIG_RESOLV_CONF \
		KRBRIG_PAC_HOST KRBRIG_PAC_BASE KRBRIG_PAC_URL KRBRIG_PAC_HTTPS_BASE KRBRIG_CA_BUNDLE \
		KRBRIG_HOME_IP KRBRIG_HOME_DNS_IP KRBRIG_INTRANET_IP; do
		[ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}" >>"$RIG/env.sh"
	done
	return 0
}

krbrig_i13_start() { # [proxyb] [dns] [pac]
	local part t0
	t0=$(krbrig_now_ms)
	[ $# -gt 0 ] || set -- dns proxyb pac intranet
	pacrig_addrs || return 1
	# routes to 198.18.i.x on the host side must not capture a network this machine really has
	# (other rigs' own addresses and routes there are on their kgtNh/kgtNm links, or unreachable)
	if ip -4 -o addr show to 198.18.0.0/15 | awk '$2 !~ /^kgt[0-9]+[hm]$/' | grep -q . ||
		ip -4 route show root 198.18.0.0/15 |
		grep -Ev '^unreachable | dev kgt[0-9]+[hm]( |$)' | grep -q .; then
		krbrig_die "this machine uses addresses in 198.18.0.0/15, the issue-13 parts' range"
		return 1
	fi
	for part in "$@"; do
		case "$part" in
		proxyb) krbrig_proxyb_start ;;
		dns) krbrig_dns_start ;;
		pac) krbrig_pacsrv_start ;;
		intranet) krbrig_intranet_start ;;
		*)
			echo "krbrig_i13_start: unknown part '$part' (dns|proxyb|pac|intranet)" >&2
			false
			;;
		esac || return 1
	done
	pacrig_write_env
	krbrig_log "issue-13 parts ($*) ready in $(($(krbrig_now_ms) - t0)) ms"
}

# --- proxy B and the SYN counters ------------------------------------------------------------

# nft in the proxy namespace: SYN counters per proxy address, and a set of dropped addresses.
pacrig_nft() {
	[ -f "$RIG/nft.on" ] && return 0
	ip netns exec "$KRBRIG_NS_PROXY" nft -f - <<EOF || return 1
table inet kgrig {
	counter syn_a { }
	counter syn_b { }
	set dropped { type ipv4_addr; }
	chain input {
		type filter hook input priority 0; policy accept;
		tcp flags & (syn | ack) == syn ip daddr $PROXY_IP tcp dport 3128 counter name "syn_a"
		tcp flags & (syn | ack) == syn ip daddr $PROXYB_IP tcp dport 3128 counter name "syn_b"
		ip daddr @dropped tcp dport 3128 drop
	}
}
EOF
	: >"$RIG/nft.on"
}

pacrig_proxy_ip() { # A|B
	case "$1" in
	A | a) echo "$PROXY_IP" ;;
	B | b) echo "$PROXYB_IP" ;;
	*)
		echo "pacrig: proxy '$1' is neither A nor B" >&2
		return 1
		;;
	esac
}

pacrig_proxy_name() { # A|B: the pidfile name krbrig_spawn uses
	case "$1" in
	A | a) echo proxy ;;
	B | b) echo proxyb ;;
	*) return 1 ;;
	esac
}

krbrig_proxyb_start() {
	kg_require_cmd "$(krbrig_squid_bin)" nft
	pacrig_addrs || return 1
	export PROXYB_HOST=$KRBRIG_PROXYB_HOST PROXYB_PORT=$KRBRIG_PROXY_PORT
	export PROXYB_URL="http://$PROXYB_IP:$KRBRIG_PROXY_PORT" PROXYB_SPN="HTTP@$KRBRIG_PROXYB_HOST"
	export PROXYB_PRINCIPAL="HTTP/$KRBRIG_PROXYB_HOST@$KRBRIG_REALM"
	# httpab.keytab: the current keys of B and A (-norandkey: the other keytabs stay valid)
	krbrig_kadmin "$RIG" <<EOF || krbrig_die "kadmin.local, proxy B" "$RIG/logs/kadmin.log" || return 1
addprinc -randkey $PROXYB_PRINCIPAL
ktadd -k $RIG/httpb.keytab $PROXYB_PRINCIPAL
ktadd -k $RIG/httpab.keytab -norandkey $PROXYB_PRINCIPAL
ktadd -k $RIG/httpab.keytab -norandkey $PROXY_PRINCIPAL
EOF
	mkdir -p "$RIG/logs/b" &&
		chown proxy: "$RIG/httpb.keytab" "$RIG/httpab.keytab" "$RIG/logs/b" ||
		krbrig_die "proxy B keytab and log directory" || return 1
	krbrig_squid_conf "$PROXYB_IP" "$KRBRIG_PROXYB_HOST" "$RIG/httpb.keytab" "$RIG/logs/b" \
		>"$RIG/squidb.conf"
	pacrig_add_lan "$PROXYB_IP" || krbrig_die "proxy B's address" || return 1
	pacrig_nft || krbrig_die "nft SYN counters in the proxy namespace" || return 1
	"$(krbrig_squid_bin)" -k parse -f "$RIG/squidb.conf" >"$RIG/logs/squidb-parse.log" 2>&1 ||
		krbrig_die "squidb.conf does not parse" "$RIG/logs/squidb-parse.log" || return 1
	krbrig_proxy_start B ||
		krbrig_die "proxy B does not listen on $PROXYB_IP:$KRBRIG_PROXY_PORT" \
			"$RIG/logs/proxyb.out" "$RIG/logs/b/cache.log"
}

pacrig_proxy_listening() { # IP: a listener on IP:3128 in the proxy namespace
	ss -N "$KRBRIG_NS_PROXY" -Hltn "sport = :$KRBRIG_PROXY_PORT" 2>/dev/null |
		grep -q -- " $1:$KRBRIG_PROXY_PORT "
}

krbrig_proxy_start() { # A|B
	local name ip conf
	name=$(pacrig_proxy_name "$1") && ip=$(pacrig_proxy_ip "$1") || return 1
	if [ -f "$RIG/$name.pid" ] && krbrig_alive "$(cat "$RIG/$name.pid")"; then return 0; fi
	if [ "$name" = proxy ] && [ "$KRBRIG_MODE" = apache ]; then
		rm -f "$RIG/logs/httpd.pid"
		krbrig_apache && krbrig_wait_up proxy pacrig_proxy_listening "$ip"
		return
	elif [ "$name" = proxy ]; then
		conf=$RIG/squid.conf
		rm -f "$RIG/logs/squid.pid"
	else
		conf=$RIG/squidb.conf
		rm -f "$RIG/logs/b/squid.pid"
	fi
	krbrig_spawn "$KRBRIG_NS_PROXY" "$name" "$(krbrig_squid_bin)" -N -f "$conf"
	krbrig_wait_up "$name" pacrig_proxy_listening "$ip"
}

# krbrig_proxy_kill A|B [SIGNAL]: signal that proxy's PID. With KILL (the default) its child
# processes too, by their PIDs: Apache's workers would go on serving on the inherited socket,
# Squid's helpers would linger. Other signals (TERM) let the proxy end its children itself.
krbrig_proxy_kill() {
	local name f pid i sig=${2:-KILL} kids=()
	name=$(pacrig_proxy_name "$1") || return 1
	f="$RIG/$name.pid"
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	disown "$pid" 2>/dev/null # no "Killed" job notice in the test's output
	[ "$sig" = KILL ] && mapfile -t kids < <(ps -o pid= --ppid "$pid" 2>/dev/null)
	kill "-$sig" "$pid" ${kids[@]+"${kids[@]}"} 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		krbrig_alive "$pid" || break
		sleep 0.05
	done
	krbrig_alive "$pid" && return 1
	wait "$pid" 2>/dev/null
	rm -f "$f"
}

krbrig_proxy_restart() { # A|B
	krbrig_proxy_kill "$1" TERM && krbrig_proxy_start "$1"
}

krbrig_proxyb_shared_spn() { # on|off
	if [ "$1" = on ]; then
		krbrig_squid_conf "$PROXYB_IP" "$KRBRIG_PROXYB_HOST" "$RIG/httpab.keytab" "$RIG/logs/b" \
			GSS_C_NO_NAME >"$RIG/squidb.conf"
	else
		krbrig_squid_conf "$PROXYB_IP" "$KRBRIG_PROXYB_HOST" "$RIG/httpb.keytab" "$RIG/logs/b" \
			>"$RIG/squidb.conf"
	fi
	krbrig_proxy_restart B
}

krbrig_proxy_drop() { # A|B on|off
	local ip op=add
	ip=$(pacrig_proxy_ip "$1") || return 1
	[ "$2" = on ] || op=delete
	pacrig_nft &&
		ip netns exec "$KRBRIG_NS_PROXY" nft "$op" element inet kgrig dropped "{ $ip }"
}

krbrig_syn_count() { # A|B
	local c
	case "$1" in
	A | a) c=syn_a ;;
	B | b) c=syn_b ;;
	*) return 1 ;;
	esac
	pacrig_nft || return 1
	ip netns exec "$KRBRIG_NS_PROXY" nft list counter inet kgrig "$c" |
		grep -o 'packets [0-9]*' | cut -d' ' -f2
}

# krbrig_proxy_curl_via A|B UID CCACHE curl-args...: like krbrig_proxy_curl, through A or B.
krbrig_proxy_curl_via() {
	local which=$1 uid=$2 cc=$3 host ip
	shift 3
	ip=$(pacrig_proxy_ip "$which") || return 1
	host=$KRBRIG_PROXY_HOST
	case "$which" in B | b) host=$KRBRIG_PROXYB_HOST ;; esac
	kg_as_uid "$uid" env -i PATH=/usr/bin:/bin HOME=/nonexistent KRB5_CONFIG="$KRB5_CONFIG" \
		KRB5CCNAME="$cc" curl -sS --resolve "$host:$KRBRIG_PROXY_PORT:$ip" \
		-x "http://$host:$KRBRIG_PROXY_PORT" --cacert "$ORIGIN_CA" "$@"
}

# --- DNS ---------------------------------------------------------------------------------------

krbrig_dns_start() {
	kg_require_cmd dnsmasq
	pacrig_addrs || return 1
	export KRBRIG_DNS_IP=$KRBRIG_SRV_IP KRBRIG_DNS_PORT=53 KRBRIG_DNS_SEARCH
	export KRBRIG_RESOLV_CONF=$RIG/resolv.conf
	mkdir -p "$RIG/dns" || return 1
	cat >"$RIG/dns/hosts" <<EOF
$ORIGIN_IP $KRBRIG_ORIGIN_HOST
$KRBRIG_SRV_IP wpad.${KRBRIG_WPAD_DOMAIN:-$KRBRIG_DNS_SEARCH}
$PROXY_IP $KRBRIG_PROXY_HOST
$PROXYB_IP $KRBRIG_PROXYB_HOST
EOF
	pacrig_office_resolv
	chmod 644 "$RIG/dns/hosts" "$KRBRIG_RESOLV_CONF"
	chmod 755 "$RIG/dns"
	pacrig_add_lan "$KRBRIG_SRV_IP" || krbrig_die "the DNS server's address" || return 1
	# --local=/#/: every name not configured is answered NXDOMAIN here, nothing is forwarded.
	krbrig_spawn "$KRBRIG_NS_PROXY" dns dnsmasq --keep-in-foreground --log-facility=- \
		--conf-file=/dev/null --no-resolv --no-hosts --no-poll --pid-file= --user=nobody \
		--listen-address="$KRBRIG_DNS_IP" --listen-address=127.0.0.1 --bind-interfaces \
		--port="$KRBRIG_DNS_PORT" --local-ttl="$KRBRIG_DNS_TTL" --log-queries \
		--addn-hosts="$RIG/dns/hosts" --local=/#/ \
		--address="/intranet.test/$KRBRIG_INTRANET_IP" --address="/web.test/$ORIGIN_IP"
	krbrig_wait_up dns eval 'krbrig_dns_query "$KRBRIG_PROXY_HOST" >/dev/null' ||
		krbrig_die "dnsmasq does not answer on $KRBRIG_DNS_IP:$KRBRIG_DNS_PORT" \
			"$RIG/logs/dns.out"
}

# krbrig_dns_query NAME: "ADDRESS TTL" lines (tests/lib/dnsq.py), asked from the proxy
# namespace, so it works whatever the host side's state (home, office).
krbrig_dns_query() {
	ip netns exec "$KRBRIG_NS_PROXY" "$KG_PYTHON" "$PACRIG_LIB_DIR/dnsq.py" \
		"$KRBRIG_DNS_IP" "$KRBRIG_DNS_PORT" "$1"
}

krbrig_dns_add() { # NAME IP: one more (or another) address, answered from now on
	echo "$2 $1" >>"$RIG/dns/hosts" &&
		kill -HUP "$(cat "$RIG/dns.pid")" || return 1
	# the reload is asynchronous: wait until the name answers with IP (named variables: the
	# eval runs inside kg_wait_for, whose $1 and $2 are not ours)
	# shellcheck disable=SC2034 # read by the eval below
	PACRIG_DNS_NAME=$1 PACRIG_DNS_IP=$2
	kg_wait_for 50 eval 'krbrig_dns_query "$PACRIG_DNS_NAME" | grep -q "^$PACRIG_DNS_IP "'
}

krbrig_dns_del() { # NAME: every address of NAME given by the hosts file goes (NXDOMAIN then)
	awk -v n="$1" '$2 != n' "$RIG/dns/hosts" >"$RIG/dns/hosts.tmp" &&
		mv "$RIG/dns/hosts.tmp" "$RIG/dns/hosts" && chmod 644 "$RIG/dns/hosts" &&
		kill -HUP "$(cat "$RIG/dns.pid")" || return 1
	# shellcheck disable=SC2034 # read by the eval below
	PACRIG_DNS_NAME=$1
	kg_wait_for 50 eval '[ "$(krbrig_dns_query "$PACRIG_DNS_NAME")" = NXDOMAIN ]'
}

# krbrig_dns_search DOMAIN: the office resolv.conf's search domain from now on (rewritten in
# place; at home it applies from krbrig_go_office on). For the WPAD walk: the wpad record stays
# at wpad.KRBRIG_WPAD_DOMAIN (the search domain given at krbrig_dns_start by default).
krbrig_dns_search() {
	export KRBRIG_DNS_SEARCH=$1
	[ -f "$RIG/home" ] || pacrig_office_resolv
}

krbrig_dns_log_has() { # REGEX: a line of dnsmasq's query log matches (grep -E)
	grep -Eq -- "$1" "$RIG/logs/dns.out"
}

# krbrig_with_resolv CMD...: as root, CMD sees the rig's resolv.conf as /etc/resolv.conf (a
# bind mount in a private mount namespace; unshare and sh exec, so CMD keeps the PID).
krbrig_with_resolv() {
	# shellcheck disable=SC2016 # expanded by that sh
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$KRBRIG_RESOLV_CONF" "$@"
}

# --- the intranet server ---------------------------------------------------------------------

krbrig_intranet_start() {
	pacrig_addrs || return 1
	pacrig_add_lan "$KRBRIG_INTRANET_IP" || krbrig_die "the intranet server's address" || return 1
	rm -f "$RIG/intranet.ready"
	krbrig_spawn "$KRBRIG_NS_PROXY" intranet "$KG_PYTHON" "$KRBRIG_LIB_DIR/origin.py" serve \
		--bind "$KRBRIG_INTRANET_IP" --http-port 80 --https-port 443 \
		--cert "$RIG/origin.pem" --key "$RIG/origin.key" --ready "$RIG/intranet.ready"
	krbrig_wait_up intranet test -s "$RIG/intranet.ready" ||
		krbrig_die "the intranet server (origin.py) did not start" "$RIG/logs/intranet.out"
}

# --- the PAC server ------------------------------------------------------------------------------

krbrig_pacsrv_start() {
	pacrig_addrs || return 1
	export KRBRIG_PAC_HOST="wpad.${KRBRIG_WPAD_DOMAIN:-$KRBRIG_DNS_SEARCH}"
	export KRBRIG_PAC_BASE="http://$KRBRIG_PAC_HOST" KRBRIG_PAC_URL="http://$KRBRIG_PAC_HOST/wpad.dat"
	export KRBRIG_PAC_HTTPS_BASE="https://$KRBRIG_PAC_HOST" KRBRIG_CA_BUNDLE=$RIG/ca-bundle.crt
	mkdir -p "$RIG/pac" && chmod 755 "$RIG/pac" || return 1
	pacrig_add_lan "$KRBRIG_SRV_IP" || krbrig_die "the PAC server's address" || return 1
	# the PAC server's certificate from the rig's CA (krbrig_origin made it)
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$KRBRIG_PAC_HOST" -keyout "$RIG/pacsrv.key" -out "$RIG/pacsrv.csr" \
		>>"$RIG/logs/openssl.log" 2>&1 &&
		printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\n' \
			"$KRBRIG_PAC_HOST" "$KRBRIG_SRV_IP" >"$RIG/pacsrv.ext" &&
		openssl x509 -req -in "$RIG/pacsrv.csr" -CA "$RIG/ca.pem" -CAkey "$RIG/ca.key" \
			-CAcreateserial -days 2 -extfile "$RIG/pacsrv.ext" -out "$RIG/pacsrv.pem" \
			>>"$RIG/logs/openssl.log" 2>&1 &&
		cat /etc/ssl/certs/ca-certificates.crt "$RIG/ca.pem" >"$KRBRIG_CA_BUNDLE" &&
		chmod 644 "$KRBRIG_CA_BUNDLE" ||
		krbrig_die "the PAC server's certificate" "$RIG/logs/openssl.log" || return 1
	rm -f "$RIG/pacsrv.ready"
	krbrig_spawn "$KRBRIG_NS_PROXY" pacsrv "$KG_PYTHON" "$PACRIG_LIB_DIR/pac_server.py" \
		--bind "$KRBRIG_SRV_IP" --port 80 --https-port 443 --cert "$RIG/pacsrv.pem" \
		--key "$RIG/pacsrv.key" --dir "$RIG/pac" --ready "$RIG/pacsrv.ready"
	krbrig_wait_up pacsrv test -s "$RIG/pacsrv.ready" ||
		krbrig_die "pac_server.py did not start" "$RIG/logs/pacsrv.out"
}

# krbrig_with_rig_ca CMD...: as root, CMD trusts the rig's CA through the system's own bundle
# path (what libcurl verifies https against by default), in a private mount namespace.
krbrig_with_rig_ca() {
	# shellcheck disable=SC2016 # expanded by that sh
	unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@"' \
		"$KRBRIG_CA_BUNDLE" "$@"
}

pacrig_pac_name() {
	[[ "$1" =~ ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$ ]] && [[ "$1" != *.mode ]] || {
		echo "pacrig: bad PAC name '$1'" >&2
		return 1
	}
}

krbrig_pac_serve() { # NAME: stdin becomes http://wpad.corp.test/NAME (served as it is)
	pacrig_pac_name "$1" || return 1
	cat >"$RIG/pac/$1.tmp" && chmod 644 "$RIG/pac/$1.tmp" && mv "$RIG/pac/$1.tmp" "$RIG/pac/$1"
}

krbrig_pac_serve_big() { # NAME [BYTES]: a valid PAC ("DIRECT") of BYTES bytes, 2 MiB by default
	local n=${2:-2097152}
	pacrig_pac_name "$1" || return 1
	{
		echo 'function FindProxyForURL(url, host) { return "DIRECT"; }'
		yes '// padding padding padding padding padding padding padding padding padding pad'
	} 2>/dev/null | head -c "$n" >"$RIG/pac/$1" && chmod 644 "$RIG/pac/$1"
}

# krbrig_pac_mode NAME MODE [ARG]: plain | stall | hang | trickle | status CODE | redirect TARGET
krbrig_pac_mode() {
	pacrig_pac_name "$1" || return 1
	case "$2" in
	plain) rm -f "$RIG/pac/$1.mode" ;;
	stall | hang | trickle) echo "$2" >"$RIG/pac/$1.mode" ;;
	status | redirect)
		[ -n "${3:-}" ] || return 1
		echo "$2 $3" >"$RIG/pac/$1.mode"
		;;
	*)
		echo "krbrig_pac_mode: unknown mode '$2'" >&2
		return 1
		;;
	esac
}

krbrig_pac_fetches() { # NAME: GET requests for /NAME answered so far (any status)
	grep -c "^GET /$1 -> " "$RIG/logs/pacsrv.out" 2>/dev/null || true
}

# --- DHCP option 252 lease files (the formats src/client/route/wpad.h reads) -------------------

# krbrig_lease_networkd DIR IFINDEX URL: a systemd-networkd lease DIR/IFINDEX whose option 252
# (OPTION_252=, hex of the raw bytes) is URL; DIR is made when missing.
krbrig_lease_networkd() {
	local hex
	mkdir -p "$1" || return 1
	hex=$(printf '%s' "$3" | od -An -v -tx1 | tr -d ' \n')
	cat >"$1/$2.tmp" <<EOF || return 1
# This is private data. Do not parse.
ADDRESS=$HOST_IP
NETMASK=255.255.255.252
SERVER_ADDRESS=$PROXY_IP
LIFETIME=3600
DOMAINNAME=$KRBRIG_DNS_SEARCH
OPTION_252=$hex
EOF
	mv "$1/$2.tmp" "$1/$2"
}

# krbrig_lease_dhclient FILE URL [EXPIRE]: one more lease block at the end of the ISC dhclient
# (or NetworkManager dhclient-*.lease) FILE, with option wpad URL, expiring at EXPIRE (a date(1)
# expression; "+1 day" by default, "-1 hour" gives an expired lease). URL is written between
# quotes as it is: no quotes or backslashes in it.
krbrig_lease_dhclient() {
	local when
	when=$(date -u -d "${3:-+1 day}" '+%w %Y/%m/%d %H:%M:%S') || return 1
	mkdir -p "$(dirname "$1")" || return 1
	cat >>"$1" <<EOF
lease {
  interface "${KG_TEST_ID}h";
  fixed-address $HOST_IP;
  option subnet-mask 255.255.255.252;
  option dhcp-server-identifier $PROXY_IP;
  option domain-name "$KRBRIG_DNS_SEARCH";
  option wpad "$2";
  renew $when;
  rebind $when;
  expire $when;
}
EOF
}

# --- home network ------------------------------------------------------------------------------

krbrig_go_home() { # [NS]
	local ns ip
	pacrig_addrs || return 1
	if [ $# -gt 0 ]; then ns=$1; else ns=$(krbrig_host_side_ns) || return 1; fi
	[ -f "$RIG/home" ] && return 0
	echo "$ns" >"$RIG/home"
	if [ "${KRBRIG_HOME_SILENT:-0}" = 1 ]; then
		echo silent >>"$RIG/home"
		ip -n "$KRBRIG_NS_PROXY" link set hostside down || return 1
	else
		for ip in $PROXY_IP $(cat "$RIG/lan-addrs" 2>/dev/null); do
			pacrig_ip "$ns" route replace unreachable "$ip/32" || return 1
		done
	fi
	pacrig_ip "$ns" link add "${KG_TEST_ID}m" type veth peer name homeside \
		netns "$KRBRIG_NS_ORIGIN" &&
		pacrig_ip "$ns" addr add "$KRBRIG_HOME_IP/32" dev "${KG_TEST_ID}m" &&
		pacrig_ip "$ns" link set "${KG_TEST_ID}m" up &&
		ip -n "$KRBRIG_NS_ORIGIN" link set homeside up &&
		ip -n "$KRBRIG_NS_ORIGIN" route replace "$KRBRIG_HOME_IP/32" dev homeside &&
		pacrig_ip "$ns" route replace "$ORIGIN_IP/32" dev "${KG_TEST_ID}m" src "$KRBRIG_HOME_IP" ||
		return 1
	[ -f "$RIG/dns.pid" ] || return 0
	# The home router's DNS: origin.test and nothing of the office (wpad.corp.test is NXDOMAIN).
	# The rig's resolv.conf is rewritten in place (same inode: the bind mounts of
	# krbrig_with_resolv and kgc_use_rig_resolv see it), as DHCP at home would.
	ip -n "$KRBRIG_NS_ORIGIN" addr add "$KRBRIG_HOME_DNS_IP/32" dev homeside &&
		pacrig_ip "$ns" route replace "$KRBRIG_HOME_DNS_IP/32" dev "${KG_TEST_ID}m" \
			src "$KRBRIG_HOME_IP" || return 1
	krbrig_spawn "$KRBRIG_NS_ORIGIN" homedns dnsmasq --keep-in-foreground --log-facility=- \
		--conf-file=/dev/null --no-resolv --no-hosts --no-poll --pid-file= --user=nobody \
		--listen-address="$KRBRIG_HOME_DNS_IP" --bind-interfaces --port=53 \
		--local-ttl="$KRBRIG_DNS_TTL" --log-queries --local=/#/ \
		--host-record="$KRBRIG_ORIGIN_HOST,$ORIGIN_IP"
	krbrig_wait_up homedns krbrig_listening_udp "$KRBRIG_NS_ORIGIN" 53 || return 1
	printf 'nameserver %s\nsearch home.test\noptions timeout:1 attempts:2\n' \
		"$KRBRIG_HOME_DNS_IP" >"$KRBRIG_RESOLV_CONF"
}

krbrig_listening_udp() { # NETNS PORT: a UDP socket bound to PORT there
	ss -N "$1" -Hlun "sport = :$2" 2>/dev/null | grep -q .
}

pacrig_office_resolv() { # the office's resolv.conf, in place
	printf 'nameserver %s\nsearch %s\noptions timeout:1 attempts:2\n' \
		"$KRBRIG_DNS_IP" "$KRBRIG_DNS_SEARCH" >"$KRBRIG_RESOLV_CONF"
}

krbrig_go_office() { # [NS]
	local ns ip
	[ -f "$RIG/home" ] || return 0
	if [ $# -gt 0 ]; then ns=$1; else ns=$(head -n1 "$RIG/home"); fi
	if [ -f "$RIG/homedns.pid" ]; then
		krbrig_stop_pidfile homedns
		pacrig_office_resolv || return 1
	fi
	# the link's removal takes the route to the origin (and to the home DNS) with it
	pacrig_ip "$ns" link del "${KG_TEST_ID}m" 2>/dev/null
	ip -n "$KRBRIG_NS_ORIGIN" route del "$KRBRIG_HOME_IP/32" 2>/dev/null
	[ -n "$ns" ] || ip route replace unreachable "$ORIGIN_IP/32" || return 1
	if grep -qx silent "$RIG/home"; then
		ip -n "$KRBRIG_NS_PROXY" link set hostside up || return 1
	else
		pacrig_ip "$ns" route del unreachable "$PROXY_IP/32" || return 1
	fi
	rm -f "$RIG/home"
	krbrig_lan_routes "$ns"
}

# --- two homes -------------------------------------------------------------------------------

krbrig_two_homed() { # [NS]
	local ns=${1:-} w="$KG_TEST_ID-kgw" j
	pacrig_addrs || return 1
	if [ -z "$ns" ]; then
		ns="$KG_TEST_ID-kgm"
		ip netns add "$ns" || return 1
		echo "$ns" >>"$RIG/netns"
		ip -n "$ns" link set lo up || return 1
		export KRBRIG_NS_MULTI=$ns
	fi
	ip netns add "$w" || return 1
	echo "$w" >>"$RIG/netns"
	j=$((KRBRIG_SLOT ^ 32))
	export KRBRIG_MH_IP1=198.51.100.$((4 * j + 1)) KRBRIG_MH_DST1=198.51.100.$((4 * j + 2))
	export KRBRIG_MH_IP2=203.0.113.$((4 * j + 1)) KRBRIG_MH_DST2=203.0.113.$((4 * j + 2))
	ip -n "$w" link set lo up &&
		ip -n "$w" link add w1 type veth peer name mh1 netns "$ns" &&
		ip -n "$w" link add w2 type veth peer name mh2 netns "$ns" &&
		ip -n "$w" addr add "$KRBRIG_MH_DST1/30" dev w1 &&
		ip -n "$w" addr add "$KRBRIG_MH_DST2/30" dev w2 &&
		ip -n "$w" link set w1 up && ip -n "$w" link set w2 up &&
		ip -n "$ns" addr add "$KRBRIG_MH_IP1/30" dev mh1 &&
		ip -n "$ns" addr add "$KRBRIG_MH_IP2/30" dev mh2 &&
		ip -n "$ns" link set mh1 up && ip -n "$ns" link set mh2 up &&
		ip -n "$ns" route replace 198.51.100.0/24 via "$KRBRIG_MH_DST1" dev mh1 &&
		ip -n "$ns" route replace 203.0.113.0/24 via "$KRBRIG_MH_DST2" dev mh2
}

# --- cleanup (krbrig_stop calls it first) -----------------------------------------------------

krbrig_i13_stop() {
	local ns i ip
	[ -n "${RIG:-}" ] && [ -d "$RIG" ] || return 0
	# A Squid takes about 1.5 s to stop: both at once (krbrig_stop waits for A's PID next)
	if [ -f "$RIG/proxyb.pid" ] && [ -f "$RIG/proxy.pid" ] && [ "$KRBRIG_MODE" = squid ]; then
		kill -TERM "$(cat "$RIG/proxy.pid")" 2>/dev/null
	fi
	krbrig_stop_pidfile proxyb
	krbrig_stop_pidfile dns
	krbrig_stop_pidfile pacsrv
	krbrig_stop_pidfile homedns
	krbrig_stop_pidfile intranet
	if [ -f "$RIG/home" ]; then
		ns=$(head -n1 "$RIG/home")
		if [ -z "$ns" ]; then # the root namespace: put back what krbrig_stop removes
			ip link del "${KG_TEST_ID}m" 2>/dev/null
			for ip in $PROXY_IP $(cat "$RIG/lan-addrs" 2>/dev/null); do
				ip route del unreachable "$ip/32" 2>/dev/null
			done
			ip route replace unreachable "$ORIGIN_IP/32" 2>/dev/null
		else
			ip -n "$ns" link del "${KG_TEST_ID}m" 2>/dev/null
		fi
		rm -f "$RIG/home"
	fi
	for ns in $(cat "$RIG/netns" 2>/dev/null); do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			ip netns del "$ns" 2>/dev/null && break
			sleep 0.05
		done
	done
	rm -f "$RIG/netns"
	return 0
}
