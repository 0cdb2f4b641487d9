#!/bin/bash
# Benchmark: what refusing QUIC (ebpf.block_quic, issue 18) costs a real browser's page load.
# Debian's chromium, headless, as the steered user alice of the client rig (tests/lib/browser.sh:
# no proxy flags, the rig's CA in her NSS database, a fresh profile each run), loads
# https://origin.test/browser/page, whose sub-resources come from static.web.test too and whose
# every answer offers HTTP/3 (Alt-Svc: h3), so chromium tries QUIC for what it asks for after
# the offer. Three modes:
#   blocked   block_quic on (the default), QUIC on in chromium: its QUIC attempts get EPERM at
#             once and it uses TCP (the gatekeeper's figure)
#   noquic    chromium --disable-quic: TCP only (the baseline)
#   open      block_quic off, QUIC on in chromium: its QUIC packets leave the socket; to this
#             rig's origin they fail on their own (the root namespace routes ORIGIN_IP
#             "unreachable": EHOSTUNREACH), not a silent drop
# Figure: the page's own load time (performance.now() at its load event, ms, written into the
# DOM by the page) and the wall clock of the chromium run (start-up included). Rounds alternate
# the order of blocked and noquic; open comes last in each round (a reload each way, each
# followed by a load that is not counted). Printed:
# every run, each mode's median and mean with its 95 % interval, and blocked/noquic (mean of
# the per-round ratios, with its interval) against the issue's target <= 1.2.
# KG_BROWSERQUIC_ROUNDS (7). Needs root, squid, chromium and certutil (else exit 77).
# Numbers never fail the run; a page that does not load does.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/helpers/client-lib.sh"
. "$top_srcdir/tests/bench/bench-lib.sh"
. "$top_srcdir/tests/bench/table-lib.sh"
kg_require_cmd chromium certutil

ROUNDS=${KG_BROWSERQUIC_ROUNDS:-7}

die() {
	echo "bench broke: $*" >&2
	exit 1
}

kgc_setup squid
krbrig_i13_start dns || exit 99
kgc_use_rig_resolv || exit 99
. "$top_srcdir/tests/lib/browser.sh"
browser_setup "$U" || die "browser_setup"
[ -z "$BROWSER_SANDBOX" ] || echo "# chromium runs with --no-sandbox: $BROWSER_SANDBOX_WHY"
kgc_start_client "$U" || die "the client did not start"

block_quic() { # on|off
	sed -i '/^\tblock_quic = false;$/d' "$KG_CONF"
	[ "$1" = on ] || sed -i 's/^\tstats_interval = 0;$/&\n\tblock_quic = false;/' "$KG_CONF"
	kgc_reload || die "reload (block_quic $1)"
}

R=$KG_TMP/runs # lines "MODE ROUND LOAD_MS WALL_MS"
: >"$R"
run() { # MODE ROUND
	local out=$KG_TMP/$1.html flags=()
	[ "$1" = noquic ] && flags=(--disable-quic)
	browser_chromium "$out" "${flags[@]}"
	grep -q 'kg-static-ran' "$out" && [ -n "$BROWSER_LOAD_MS" ] || {
		tail -n 5 "$out.err" >&2
		die "$1: the page did not load"
	}
	echo "$1 $2 $BROWSER_LOAD_MS $BROWSER_WALL_MS" >>"$R"
	printf '# round %d %-8s load %5d ms  wall %5d ms\n' "$2" "$1" "$BROWSER_LOAD_MS" "$BROWSER_WALL_MS"
}

# A load that is not counted: at the start (disk caches of the chromium binary and its
# libraries) and after each reload (the first load after one was the slowest of its round in
# a first version of this bench, whichever mode it was).
warm() { browser_chromium "$KG_TMP/warmup.html" --disable-quic; }
warm
q_start=$("$KG_CTL" --socket "$KG_SOCK" stats | awk '$1 == "quic_blocked" {print $2}')
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then
		run blocked "$r"
		run noquic "$r"
	else
		run noquic "$r"
		run blocked "$r"
	fi
	block_quic off
	warm
	run open "$r"
	block_quic on
	warm
done
q_end=$("$KG_CTL" --socket "$KG_SOCK" stats | awk '$1 == "quic_blocked" {print $2}')
echo "# quic_blocked over the runs: $q_start -> $q_end"

median() { # MODE FIELD
	awk -v m="$1" -v f="$2" '$1 == m { print $f }' "$R" | sort -g |
		awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
mean_iv() { # MODE FIELD: "mean [lo, hi]"
	local m hw
	read -r m hw < <(awk -v m="$1" -v f="$2" '$1 == m { print $f }' "$R" | bench_mean_hw)
	bench_iv "$m" "$hw" 0
}
ratios() { # A B FIELD: the per-round ratios A/B
	awk -v a="$1" -v b="$2" -v f="$3" '$1 == a { x[$2] = $f } $1 == b { y[$2] = $f }
		END { for (r in x) if (y[r] > 0) print x[r] / y[r] }' "$R"
}

echo "# mode      load ms: median, mean [95 % interval]     wall ms: median, mean [interval]"
for m in blocked noquic open; do
	printf '# %-8s  %6s  %-24s  %6s  %s\n' "$m" "$(median "$m" 3)" "$(mean_iv "$m" 3)" \
		"$(median "$m" 4)" "$(mean_iv "$m" 4)"
done
read -r rl_m rl_hw < <(ratios blocked noquic 3 | bench_mean_hw)
read -r rw_m rw_hw < <(ratios blocked noquic 4 | bench_mean_hw)
read -r ro_m ro_hw < <(ratios open noquic 3 | bench_mean_hw)
echo "# blocked/noquic, load: $(bench_iv "$rl_m" "$rl_hw")   wall: $(bench_iv "$rw_m" "$rw_hw")"
echo "# open/noquic, load: $(bench_iv "$ro_m" "$ro_hw")"

bench_row "browser: chromium page load, block_quic on vs --disable-quic (ms)" \
	"$(mean_iv blocked 3)" "$(mean_iv noquic 3)" "$(bench_iv "$rl_m" "$rl_hw")" "<= 1.2" \
	"$(bench_met_hw "$rl_m" "$rl_hw" le 1.2)"
bench_row "browser: chromium run wall clock, block_quic on vs --disable-quic (ms)" \
	"$(mean_iv blocked 4)" "$(mean_iv noquic 4)" "$(bench_iv "$rw_m" "$rw_hw")" "<= 1.2" \
	"$(bench_met_hw "$rw_m" "$rw_hw" le 1.2)"
bench_row "browser: chromium page load, block_quic off vs --disable-quic (ms)" \
	"$(mean_iv open 3)" "$(mean_iv noquic 3)" "$(bench_iv "$ro_m" "$ro_hw")" "-" "n/a"
exit 0
