# shellcheck shell=bash
# The summary table of `make bench` (issue 15): every benchmark reports its headline figures as
# rows, and the bench target prints them all at the end as one table
#   metric | gatekeeper | baseline | ratio | target | met
# Sourced (bash). Rows go to $KG_BENCH_TABLE (set by the bench target); without it, nowhere.
#
#   bench_row METRIC GATEKEEPER BASELINE RATIO TARGET MET
#     GATEKEEPER, BASELINE and RATIO carry their 95 % interval where one exists,
#     e.g. "0.945 [0.905, 0.991]"; TARGET is text such as ">= 0.95" or "-" for none;
#     MET is yes, no, "n/a" (no target) or "noise" (the estimate meets it, the interval
#     straddles it). Fields must not contain "|".
#   bench_met EST LO HI OP TARGET, bench_met_hw EST HW OP TARGET   the MET field
#   bench_iv EST HW [DECIMALS]   "EST [LO, HI]";  bench_mean_hw < NUMBERS   "mean half_width"
bench_row() { # METRIC GATEKEEPER BASELINE RATIO TARGET MET
	[ $# -eq 6 ] || {
		echo "bench_row: 6 fields expected, got $#" >&2
		return 1
	}
	case "$*" in *'|'*)
		echo "bench_row: a field contains '|'" >&2
		return 1
		;;
	esac
	[ -n "${KG_BENCH_TABLE:-}" ] || return 0
	printf '%s|%s|%s|%s|%s|%s\n' "$@" >>"$KG_BENCH_TABLE"
}

# bench_met EST LO HI OP TARGET -> yes | no | noise ; OP is ge or le
bench_met() {
	awk -v e="$1" -v lo="$2" -v hi="$3" -v op="$4" -v t="$5" 'BEGIN {
		if (op == "ge") { ok = e >= t; all = lo >= t; none = hi < t }
		else { ok = e <= t; all = hi <= t; none = lo > t }
		print all ? "yes" : (none ? "no" : (ok ? "noise" : "no"))
	}'
}

# bench_iv EST HW [DECIMALS]: "EST [EST-HW, EST+HW]" for a figure with the half width HW of its
# 95 % interval, DECIMALS (3) after the point; EST alone when HW is empty.
bench_iv() {
	awk -v e="$1" -v h="${2:-}" -v d="${3:-3}" 'BEGIN {
		f = "%." d "f"
		if (h == "") printf f "\n", e
		else printf f " [" f ", " f "]\n", e, e - h, e + h
	}'
}

# bench_met_hw EST HW OP TARGET: bench_met over the interval EST +- HW (HW empty or 0: the
# estimate alone decides, yes or no)
bench_met_hw() {
	local lo hi
	read -r lo hi < <(awk -v e="$1" -v h="${2:-0}" 'BEGIN { printf "%.6f %.6f\n", e - h, e + h }')
	bench_met "$1" "$lo" "$hi" "$3" "$4"
}

# bench_mean_hw < NUMBERS -> "mean half_width": the mean of the numbers on stdin (one a line) and
# the half width of its 95 % interval (Student's t, from its expansion; 0 for one number)
bench_mean_hw() {
	awk 'NF { x[++n] = $1; s += $1 }
		END {
			if (!n) { print "0 0"; exit }
			m = s / n
			for (i = 1; i <= n; i++) ss += (x[i] - m) ^ 2
			se = n > 1 ? sqrt(ss / (n - 1) / n) : 0
			z = 1.96; df = n > 1 ? n - 1 : 1
			t = z + (z ^ 3 + z) / (4 * df) + (5 * z ^ 5 + 16 * z ^ 3 + 3 * z) / (96 * df ^ 2)
			printf "%.6f %.6f\n", m, t * se
		}'
}

# bench_table_print FILE: the rows as an aligned table
bench_table_print() {
	[ -s "$1" ] || {
		echo "(no benchmark reported a row)"
		return 0
	}
	{
		echo "metric|gatekeeper|baseline|ratio|target|met"
		cat "$1"
	} | awk -F'|' '
		BEGIN { dash = "----------------------------------------------------------------------------------------------------" }
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR }
		END {
			for (r = 1; r <= n; r++) {
				line = ""
				for (i = 1; i <= 6; i++) line = line (i < 6 ? sprintf("%-*s | ", w[i], c[r, i]) : c[r, i])
				print line
				if (r == 1) { sep = ""; for (i = 1; i <= 6; i++) sep = sep substr(dash, 1, w[i]) (i < 6 ? "-+-" : ""); print sep }
			}
		}'
}
