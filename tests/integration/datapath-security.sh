#!/bin/bash
# Another local user must never ride a user's relay, read its original destinations, take
# over its registration or change the service's policy (DESIGN.md §3).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/datapath.sh"
kg_require_cmd nft # the conntrack case below

U=$KG_UID_U
V=$KG_UID_V
KG_DYNAMIC_PORTS=false kg_dp_setup
kg_start_relay "$U" --other-uid "$V" || exit 99
U_PORT=$KG_RELAY_PORT4
U_LOG=$KG_RELAY_LOG

out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "U's connection: U's relay reads the original destination" "ORIGDST 192.0.2.10:443" "$out"
kg_expect "U's connection: uid V's SO_ORIGINAL_DST on the same socket is refused" "OTHER=denied" "$out"

out=$(kg_probe_app "$V" 127.0.0.1 "$U_PORT")
kg_expect "V connecting straight to U's relay port gets no original destination" "NOORIGDST" "$out"
# With connection tracking active (Docker, firewalld, any nft "ct" rule) the kernel itself
# answers SO_ORIGINAL_DST for every tracked socket: for V's direct connection it would name
# U's relay address, and a relay trusting it would tunnel V's bytes with U's ticket. The
# datapath answers authoritatively for the relay listeners.
ip netns exec "$KG_NS" nft -f - <<'NFT'
table inet kgtest {
	chain out { type filter hook output priority 0; ct state new accept; }
}
NFT
out=$(kg_probe_app "$V" 127.0.0.1 "$U_PORT")
kg_expect "with conntrack active, V straight to U's relay port still gets no original destination" \
	"NOORIGDST" "$out"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "with conntrack active, U's steered connection still reads 192.0.2.10:443" \
	"ORIGDST 192.0.2.10:443" "$out"
ip netns exec "$KG_NS" nft delete table inet kgtest

# V registers: it gets its own relay, never U's; a second registration is refused.
kg_start_relay "$V" || exit 99
V_PORT=$KG_RELAY_PORT4
kg_check "V's relay is not U's relay" test "$V_PORT" != "$U_PORT"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "after V registered, U's connections still land on U's relay" "ORIGDST 192.0.2.10:443 OTHER=denied" "$out"
out=$(kg_app "$V" "$KG_PROBE" register-twice "$KG_SOCK" 2>&1)
kg_expect "V cannot register a second client for its uid" "already registered" "$out"
out=$(kg_app "$U" "$KG_PROBE" register-twice "$KG_SOCK" 2>&1)
kg_expect "nobody can register for U while U's client lives" "REFUSED a client for uid $U is already registered" "$out"

# ctl: V sees only V; V cannot change ports; root may only with allow_dynamic_ports.
out=$(kg_app "$V" "$KG_CTL" --socket "$KG_SOCK" clients 2>&1)
kg_expect "V's ctl clients shows V" "$V" "$out"
if printf '%s\n' "$out" | grep -q "^$U "; then kg_fail "V's ctl clients hides U"; else kg_pass "V's ctl clients hides U"; fi
out=$("$KG_CTL" --socket "$KG_SOCK" clients 2>&1)
kg_expect "root's ctl clients shows U" "$U" "$out"
kg_expect "root's ctl clients shows V" "$V" "$out"
out=$(kg_app "$V" "$KG_CTL" --socket "$KG_SOCK" ports add 8080 2>&1); rc=$?
kg_check "V cannot add a target port (exit 1)" test "$rc" = 1
kg_expect "V is told only root may change ports" "only root" "$out"
out=$("$KG_CTL" --socket "$KG_SOCK" ports add 8080 2>&1); rc=$?
kg_check "root cannot add ports when allow_dynamic_ports is false" test "$rc" = 1
kg_expect "root is told dynamic ports are disabled" "allow_dynamic_ports" "$out"

# Malformed IPC: each gets an error or a disconnect, and everyone else keeps being served.
kg_uid_path "$top_srcdir/tests/lib/ipc_garbage.py" GARBAGE_PY
out=$(kg_app "$V" "$KG_PYTHON" "$GARBAGE_PY" "$KG_SOCK" 2>&1); rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
kg_check "every malformed IPC message got an error or a disconnect" test "$rc" = 0
kg_check "the service is still running after malformed IPC" kill -0 "$KG_SERVICE_PID"
out=$(kg_probe_app "$U" 192.0.2.10 443)
kg_expect "U is still steered after the malformed IPC" "ORIGDST 192.0.2.10:443" "$out"
out=$(kg_app "$V" "$KG_CTL" --socket "$KG_SOCK" status 2>&1)
kg_expect "V's ctl status still works after the malformed IPC" "kernelgatekeeper-service" "$out"

kg_finish
