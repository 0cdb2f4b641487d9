#!/bin/bash
# myIpAddress() on a two-homed host (issue 13: "answers with the source address the kernel
# picked for this connection"), end to end with the client. The test namespace (KG_NS: the
# service, the client, the applications) gets two links (krbrig_two_homed): a connection to
# KRBRIG_MH_DST1 leaves from KRBRIG_MH_IP1, one to KRBRIG_MH_DST2 from KRBRIG_MH_IP2. The PAC
# answers DIRECT when myIpAddress() is IP1 and proxy A when it is IP2 (anything else: a proxy
# that does not exist, so the connection fails). The origin's name resolved to DST1 is reached
# directly over link 1 (an origin server there sees IP1); resolved to DST2, the connection goes
# through proxy A (in A's log, by name). Alternating, on 443 (per connection) and 80 (per
# request), and the PAC's alert() shows each answer in the client's log.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"

kg_require_cmd nsenter dnsmasq nft unshare
kg_make_netns cli KG_NS
kgc_setup squid
krbrig_i13_start dns pac || exit 99
kgc_move_host_side "$KG_NS" || exit 99
kgc_use_rig_resolv && kgc_use_rig_ca || exit 99
krbrig_two_homed "$KG_NS" || exit 99
PAGE="kgtest origin: hello"
LOG=$(kgc_client_log "$U")

# An origin server behind link 1, on KRBRIG_MH_DST1 (the rig's origin certificate).
MHW="$KG_TEST_ID-kgw"
kg_on_exit krbrig_stop_pidfile mhorigin
rm -f "$RIG/mhorigin.ready"
krbrig_spawn "$MHW" mhorigin "$KG_PYTHON" "$KRBRIG_LIB_DIR/origin.py" serve \
	--bind "$KRBRIG_MH_DST1" --http-port 80 --https-port 443 \
	--cert "$RIG/origin.pem" --key "$RIG/origin.key" --ready "$RIG/mhorigin.ready"
krbrig_wait_up mhorigin test -s "$RIG/mhorigin.ready" || {
	echo "# the origin behind link 1 did not start"
	cat "$RIG/logs/mhorigin.out"
	exit 99
}

krbrig_pac_serve myip.pac <<PAC
function FindProxyForURL(url, host) {
	var me = myIpAddress();
	alert("myIpAddress for " + url + ": " + me);
	if (me == "$KRBRIG_MH_IP1") return "DIRECT";
	if (me == "$KRBRIG_MH_IP2") return "PROXY proxy.kgtest.local:3128";
	return "PROXY nowhere.invalid:3128";
}
PAC
KGC_PROXY_TYPE=wpad kgc_write_config_proxy "wpad_url = \"$KRBRIG_PAC_BASE/myip.pac\";"
sed -i '/^\tspn = /d' "$KG_CONF" # proxy A's principal from its name in the PAC
kg_reload "$KG_SERVICE_PID" "$KG_TMP/service.log" || exit 99
kg_uid_path "$top_builddir/src/pac/kernelgatekeeper-pac" PAC_EVALUATOR
KGC_CLIENT_ENV="KG_PAC_EVALUATOR=$PAC_EVALUATOR"
kgc_start_client "$U" || exit 99
kg_check "the PAC is loaded" kg_wait_for 100 grep -q "PAC $KRBRIG_PAC_BASE/myip.pac loaded" "$LOG"

# origin.test resolved to DST (443 and 80), the origin's CA
mh_curl() { # DST curl-args...
	local dst=$1
	shift
	kgc_app "$U" curl -sS --noproxy '' --resolve "$ORIGIN_HOST:443:$dst" \
		--resolve "$ORIGIN_HOST:80:$dst" --cacert "$ORIGIN_CA" -m 10 "$@"
}
log_lines() { wc -l <"$LOG"; }
log_since() { tail -n +$(($1 + 1)) "$LOG" | grep -Eq -- "$2"; }
# alert_since FROM SCHEME IP: the PAC's alert for this request names IP
alert_since() {
	kg_wait_for 30 log_since "$1" "PAC alert: myIpAddress for $2://$ORIGIN_HOST/[^ ]*: $3\$" || {
		echo "# no alert naming $3:"
		tail -n +$(($1 + 1)) "$LOG" | grep "PAC alert" | sed 's/^/#   /'
		return 1
	}
}
# link1 SCHEME: through link 1, directly: the origin there sees IP1; nothing in A's log.
link1() {
	local a out from
	a=$(kgc_access_lines_of A)
	from=$(log_lines)
	out=$(mh_curl "$KRBRIG_MH_DST1" "$1://$ORIGIN_HOST/peer" 2>&1)
	[ "$out" = "$KRBRIG_MH_IP1" ] || { echo "# got '$out'"; return 1; }
	! kgc_access_since_of A "$a" "$ORIGIN_HOST" || { echo "# in A's log"; return 1; }
	alert_since "$from" "$1" "$KRBRIG_MH_IP1"
}
# link2 SCHEME: through proxy A (its log, by name), the alert names IP2.
link2() {
	local a out from re
	a=$(kgc_access_lines_of A)
	from=$(log_lines)
	out=$(mh_curl "$KRBRIG_MH_DST2" "$1://$ORIGIN_HOST/" 2>&1)
	[ "$out" = "$PAGE" ] || { echo "# got '$out'"; return 1; }
	if [ "$1" = https ]; then
		re="CONNECT $ORIGIN_HOST:443 alice@$REALM"
	else
		re="GET http://$ORIGIN_HOST/ alice@$REALM"
	fi
	kgc_access_since_of A "$a" "$re" || { echo "# not in A's log: $re"; return 1; }
	alert_since "$from" "$1" "$KRBRIG_MH_IP2"
}

for round in 1 2; do
	for scheme in https http; do
		kg_check "round $round, $scheme: to $KRBRIG_MH_DST1 (link 1): myIpAddress $KRBRIG_MH_IP1, DIRECT" \
			link1 "$scheme"
		kg_check "round $round, $scheme: to $KRBRIG_MH_DST2 (link 2): myIpAddress $KRBRIG_MH_IP2, proxy A" \
			link2 "$scheme"
	done
done
kg_finish
