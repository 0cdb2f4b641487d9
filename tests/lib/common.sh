# Shared shell helpers for the privileged tests (sourced, bash).
#
# Conventions: every test creates what it needs under a unique name (KG_TEST_ID), registers the
# cleanup with kg_on_exit before it creates anything, and removes it on every exit path. Exit
# codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error. With KG_REQUIRE_PRIVILEGED=1 a
# test that would skip fails instead (CI must never pass by skipping).

set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

KG_TEST_ID="kgt$$"
# The system interpreter: a per-user one (pyenv shims under /root) is unreadable to test uids.
KG_PYTHON=/usr/bin/python3
[ -x "$KG_PYTHON" ] || KG_PYTHON=python3
KG_SERVICE="$top_builddir/src/service/kernelgatekeeper-service"
KG_CLIENT="$top_builddir/src/client/kernelgatekeeper-client"
KG_CTL="$top_builddir/src/ctl/kernelgatekeeper-ctl"
# Tests run the service with exactly the capabilities its unit grants (CapabilityBoundingSet=),
# so a datapath change that needs more (CAP_PERFMON for a helper, for pointer arithmetic the
# verifier allows only then) fails here and not first on an installed system.
KG_SERVICE_CAPS=(setpriv --bounding-set=-all,+bpf,+net_admin --)

kg_skip() {
	if [ "${KG_REQUIRE_PRIVILEGED:-0}" = 1 ]; then
		echo "FAIL (KG_REQUIRE_PRIVILEGED=1, would skip): $*" >&2
		exit 99
	fi
	echo "SKIP: $*" >&2
	exit 77
}

kg_require_root() {
	[ "$(id -u)" = 0 ] || kg_skip "needs root"
}

kg_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || kg_skip "needs $c"
	done
}

# Cleanup stack: commands run in reverse order on exit, whatever the exit path.
KG_CLEANUP=()
kg_on_exit() { KG_CLEANUP+=("$*"); }
kg_run_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#KG_CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${KG_CLEANUP[i]}" >/dev/null 2>&1
	done
	KG_CLEANUP=()
	kg_sanitizer_reports || rc=1
	exit "$rc"
}

# Sanitizer builds (make check-sanitizers sets KG_SANITIZERS=1 and ASAN_OPTIONS/UBSAN_OPTIONS):
# every instrumented process of this test writes its ASan, LeakSanitizer or UBSan report into a
# scratch directory of the test's own (world-writable: the clients run as the test uids). The
# daemons' leak reports come at their SIGTERM exit, in the cleanup, and their logs go with
# KG_TMP: any report there fails the test when it exits, and is shown. The directory is removed
# at exit, unless it holds a report (its path is then in the test's log). A script that ends
# by exec calls kg_sanitizer_reports itself first (no EXIT trap runs then). KG_SANITIZER_ENV
# holds the variables for the commands that run with a cleared environment (env -i).
KG_SANITIZER_DIR=
KG_SANITIZER_ENV=
if [ "${KG_SANITIZERS:-0}" = 1 ]; then
	KG_SANITIZER_DIR=$(mktemp -d /tmp/kgsan.XXXXXX) || exit 99
	chmod 1777 "$KG_SANITIZER_DIR"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}log_path=$KG_SANITIZER_DIR/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}log_path=$KG_SANITIZER_DIR/ubsan"
	KG_SANITIZER_ENV="ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
fi
kg_sanitizer_reports() { # 1 (and the reports) when a process of this test wrote one
	local f bad=0
	[ -n "$KG_SANITIZER_DIR" ] && [ -d "$KG_SANITIZER_DIR" ] || return 0
	for f in "$KG_SANITIZER_DIR"/*; do
		[ -s "$f" ] || continue
		echo "not ok - sanitizer report $(basename "$f"):"
		sed 's/^/#   /' "$f"
		bad=1
	done
	if [ "$bad" = 1 ]; then
		echo "# sanitizer reports kept in $KG_SANITIZER_DIR"
	else
		rm -rf "$KG_SANITIZER_DIR"
	fi
	KG_SANITIZER_DIR=
	return "$bad"
}
trap kg_run_cleanup EXIT
trap 'exit 130' INT TERM

KG_FAILS=0
KG_PASSES=0
kg_pass() { KG_PASSES=$((KG_PASSES + 1)); echo "ok - $*"; }
kg_fail() { KG_FAILS=$((KG_FAILS + 1)); echo "not ok - $*"; }
kg_check() { # kg_check "description" command...
	local d=$1
	shift
	if "$@"; then kg_pass "$d"; else kg_fail "$d"; return 1; fi
}
# Count another test's TAP lines (in FILE) as this test's own, each description prefixed with
# PREFIX; its summary line is dropped, and other lines are echoed behind INDENT when one is given.
kg_relay_tap() { # kg_relay_tap PREFIX FILE [INDENT]
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) kg_pass "$1${line#ok - }" ;;
		"not ok - "*) kg_fail "$1${line#not ok - }" ;;
		"# "[0-9]*" passed"*) ;;
		*) [ $# -lt 3 ] || echo "$3$line" ;;
		esac
	done <"$2"
}
kg_finish() {
	echo "# $KG_PASSES passed, $KG_FAILS failed"
	# A test may name a function that shows what its failures need (log tails) in KG_ON_FAILURE.
	[ "$KG_FAILS" = 0 ] || [ -z "${KG_ON_FAILURE:-}" ] || "$KG_ON_FAILURE"
	[ "$KG_FAILS" = 0 ]
	exit $?
}

# A private scratch directory (removed on exit) with the paths every service test uses:
# KG_TMP, KG_SOCK (the IPC socket), KG_CONF (the configuration file). PREFIX names it.
kg_make_tmp() {
	KG_TMP=$(mktemp -d "/tmp/$1.XXXXXX") || exit 99
	chmod 755 "$KG_TMP" # test uids must reach the socket
	kg_on_exit rm -rf "$KG_TMP"
	KG_SOCK="$KG_TMP/kg.sock"
	KG_CONF="$KG_TMP/kg.conf"
}

# The cgroup2 mount: pure v2 (/sys/fs/cgroup) or hybrid (/sys/fs/cgroup/unified).
kg_cgroup2_root() {
	local d
	for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
		if [ "$(stat -f -c %T "$d" 2>/dev/null)" = cgroup2fs ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# A private cgroup for this test; the service attaches there, processes run inside it. Made
# once: a test that needs it early (before kg_dp_setup) keeps the same one.
kg_make_cgroup() {
	local root
	[ -n "${KG_CGROUP:-}" ] && [ -d "$KG_CGROUP" ] && return 0
	root=$(kg_cgroup2_root) || kg_skip "no cgroup v2 mount"
	KG_CGROUP="$root/$KG_TEST_ID"
	mkdir "$KG_CGROUP" || kg_skip "cannot create a cgroup under $root"
	kg_on_exit kg_remove_cgroup "$KG_CGROUP"
}

kg_remove_cgroup() { # end what the test left inside (only its own processes), then remove
	local cg=$1 root i p
	root=$(dirname "$cg")
	echo 1 >"$cg/cgroup.kill" 2>/dev/null # Linux 5.14; the move below is the fallback
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ -d "$cg" ] || return 0
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$p" >"$root/cgroup.procs" 2>/dev/null; done
		rmdir "$cg" 2>/dev/null && return 0
		sleep 0.2
	done
}

# Run a command inside the test cgroup: kg_in_cgroup CMD... For background jobs whose PID
# matters use "$KG_INCG" "$KG_CGROUP" CMD... & directly (a function would add a subshell).
KG_INCG="$top_srcdir/tests/lib/in-cgroup"
kg_in_cgroup() {
	"$KG_INCG" "$KG_CGROUP" "$@"
}

# Network namespace with a unique name, removed on exit. Sets the variable VAR (no command
# substitution: the cleanup must be registered in the test's own shell, not a subshell).
kg_make_netns() { # kg_make_netns NAME VAR -> creates "$KG_TEST_ID-NAME", stores it in VAR
	local ns="$KG_TEST_ID-$1"
	ip netns add "$ns" || kg_skip "cannot create network namespaces"
	kg_on_exit ip netns del "$ns"
	ip -n "$ns" link set lo up
	printf -v "$2" '%s' "$ns"
}

# Kill a PID we started (TERM, then KILL after 5 s), bounded.
kg_stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	kg_wait_for 50 kg_gone "$1" || kill -KILL "$1" 2>/dev/null
}
kg_gone() { ! kill -0 "$1" 2>/dev/null; }

# Wait until a command succeeds (max N tenths of a second). The command may be an eval of the
# caller's variables: this function's own local has a name no caller uses.
# KG_WAIT_SCALE (a whole number, default 1) multiplies every such wait: make check-valgrind (5)
# and make check-sanitizers (2) set it, as their daemons start, answer and stop slower.
kg_wait_for() { # kg_wait_for 50 test -S /path
	local _kg_wait_left=$(($1 * ${KG_WAIT_SCALE:-1}))
	shift
	while ((_kg_wait_left-- > 0)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# SIGHUP a daemon of ours and wait (5 s at most) until LOG has one more "configuration
# reloaded" line: the service and the client both write one when a reload is done.
kg_reload() { # kg_reload PID LOG
	local _kg_log=$2 _kg_before
	_kg_before=$(grep -c "configuration reloaded" "$_kg_log")
	kill -HUP "$1" || return 1
	# (the eval runs inside kg_wait_for, whose $2 is not ours: named variables only)
	kg_wait_for 50 eval '[ "$(grep -c "configuration reloaded" "$_kg_log")" -gt "$_kg_before" ]'
}

# Unprivileged test identities: numeric uids with no passwd entry, so no system file changes.
KG_UID_U=61001
KG_UID_V=61002
# The service in KG_CGROUP (in KG_NS's network namespace when set) with exactly the unit's
# capabilities, appending to $KG_TMP/service.log. Sets KG_SERVICE_PID; returns 1 with the log's
# tail when its socket does not appear. Words in KG_SERVICE_WRAP (tests only: make
# check-valgrind's valgrind) go in front of the service's command line.
kg_start_service() {
	local ns=()

	[ -n "${KG_NS:-}" ] && ns=(nsenter --net="/run/netns/$KG_NS")
	# shellcheck disable=SC2086 # KG_SERVICE_WRAP: words (make check-valgrind's valgrind)
	"$KG_INCG" "$KG_CGROUP" "${ns[@]}" "${KG_SERVICE_CAPS[@]}" ${KG_SERVICE_WRAP:-} "$KG_SERVICE" \
		-c "$KG_CONF" >>"$KG_TMP/service.log" 2>&1 &
	KG_SERVICE_PID=$!
	kg_on_exit kg_stop_pid "$KG_SERVICE_PID"
	kg_wait_for 100 test -S "$KG_SOCK" && return 0
	echo "# service did not start:"
	tail -n 20 "$KG_TMP/service.log"
	return 1
}

kg_as_uid() { # kg_as_uid UID CMD... (gid = uid, no supplementary groups)
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all -- "$@"
}

# kg_uid_path FILE VAR: store in VAR a path to FILE that the test uids can open. A checkout or
# build below a private directory (a 0700 home such as /root) is out of their reach; FILE is
# then copied into a world-readable scratch directory, removed at exit. (A variable, not
# output: the cleanup must be registered in the test's own shell.)
KG_UIDDIR=
kg_uid_path() {
	local f=$1 copy
	if kg_as_uid "$KG_UID_U" test -r "$f"; then
		printf -v "$2" '%s' "$f"
		return 0
	fi
	if [ -z "$KG_UIDDIR" ]; then
		KG_UIDDIR=$(mktemp -d /tmp/kguid.XXXXXX) || exit 99
		chmod 755 "$KG_UIDDIR"
		kg_on_exit rm -rf "$KG_UIDDIR"
	fi
	copy="$KG_UIDDIR/$(basename "$f")"
	[ -e "$copy" ] || cp -p "$f" "$copy" || exit 99
	chmod a+rX "$copy"
	printf -v "$2" '%s' "$copy"
}
