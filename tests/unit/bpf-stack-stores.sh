#!/bin/bash
# The datapath must load on kernels before 6.13 with CAP_BPF and CAP_NET_ADMIN only. Their
# verifier refuses a store narrower than 8 bytes into a stack slot that holds a spilled scalar
# ("attempt to corrupt spilled pointer on stack", Debian 12's 6.1), and since clang shares stack
# slots between variables, the only safe rule is: no narrow store to the stack at all. This
# machine's newer kernel accepts such code, so the rule is checked on the compiled object here
# (every program, every path), and proven on 6.1 itself by tests/kernel/debian-6.1.sh.
#
# A store is to the stack when its base register is r10 or was derived from it (rN = r10,
# rN += K) since the last write to rN or the last call. Runs without root.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
obj=${1:-$top_builddir/bpf/kernelgatekeeper.bpf.o}

objdump=
for c in llvm-objdump llvm-objdump-14 llvm-objdump-15 llvm-objdump-16; do
	command -v "$c" >/dev/null 2>&1 && { objdump=$c; break; }
done
if [ -z "$objdump" ] || [ ! -f "$obj" ]; then
	[ "${KG_REQUIRE_PRIVILEGED:-0}" = 1 ] && { echo "FAIL: needs llvm-objdump and $obj"; exit 99; }
	echo "SKIP: needs llvm-objdump and $obj"
	exit 77
fi

"$objdump" -d --no-show-raw-insn "$obj" | awk '
	function reset() { delete stackreg; stackreg["r10"] = 1 }
	BEGIN { reset(); progs = 0; insns = 0; bad = 0 }
	/^[0-9a-f]+ <[A-Za-z_][A-Za-z0-9_]*>:$/ {
		name = $2; gsub(/[<>:]/, "", name)
		if (name !~ /^LBB/) { prog = name; progs++; reset() }
		next
	}
	/^ *[0-9]+:\t/ {
		insns++
		line = $0; sub(/^ *[0-9]+:\t/, "", line)
		if (line ~ /^call /) { for (i = 0; i <= 5; i++) delete stackreg["r" i]; next }
		if (match(line, /^\*\(u(8|16|32|64) \*\)\(r[0-9]+ [-+] [0-9]+\) = /)) {
			split(substr(line, 1, RLENGTH), f, /[ ()*]+/)
			# f[2] = u8/u16/u32/u64, f[3] = base register
			if (f[3] in stackreg && f[2] != "u64") {
				printf "not ok - %s: %s-bit store to the stack: %s\n", prog, substr(f[2], 2), line
				bad++
			}
			next
		}
		if (match(line, /^[rw][0-9]+ /)) {
			reg = substr(line, 1, RLENGTH - 1); sub(/^w/, "r", reg)
			if (line ~ /^r[0-9]+ = r10$/) stackreg[reg] = 1
			else if (line ~ /^r[0-9]+ \+= -?[0-9]+$/ && (reg in stackreg)) stackreg[reg] = 1
			else delete stackreg[reg]
		}
	}
	END {
		if (progs == 0 || insns == 0) { print "not ok - no programs found in the object"; exit 1 }
		if (bad == 0) printf "ok - %d programs, %d instructions: every store to the stack is 8 bytes wide\n", progs, insns
		exit bad > 0
	}'
