# shellcheck shell=bash
# Real browsers as a steered user (issue 18 items 2 and 4), for tests/integration/client-browser.sh
# and tests/bench/browser-quic.sh. Sourced after tests/helpers/client-lib.sh, with the client
# rig running (kgc_setup, the issue-13 DNS and kgc_use_rig_resolv, so the browser resolves
# origin.test and static.web.test through the rig's DNS, both ORIGIN_IP; the origin's
# certificate covers both).
#
#   browser_setup UID       a fresh HOME for UID (removed at exit) with an NSS database in
#                           $HOME/.pki/nssdb trusting the rig's CA (certutil -A -t "C,,"), and
#                           a cgroup below the test's (the datapath's programs are attached to
#                           the test's cgroup and apply below it) that every browser run is
#                           put in and that is emptied with cgroup.kill after each run
#   browser_chromium OUT FLAG...   Debian's chromium, headless, as UID with no proxy flag, on
#                           BROWSER_URL, with a fresh profile (BROWSER_KEEP_PROFILE=1: the
#                           previous run's, with what it learnt, such as an Alt-Svc offer);
#                           the DOM it dumps goes to OUT, its stderr to OUT.err;
#                           BROWSER_WALL_MS is the wall clock of the run and BROWSER_LOAD_MS the
#                           page's own load time (performance.now() at its load event, written
#                           into the DOM by the page: tests/lib/origin.py /browser/page)
#   browser_firefox OUT            the same with Debian's firefox-esr --headless (a profile of
#                           its own whose certificate database holds the CA)
# BROWSER_SANDBOX: "" when chromium's sandbox works as the test uid (user namespaces), else
# "--no-sandbox" (browser_setup finds out and says why in BROWSER_SANDBOX_WHY).
# Every process a run starts is ended with its cgroup; a run is bounded by BROWSER_TIMEOUT (60 s).

BROWSER_STATIC_HOST=static.web.test
BROWSER_URL="https://${ORIGIN_HOST:-origin.test}/browser/page?static=$BROWSER_STATIC_HOST"
BROWSER_TIMEOUT=${BROWSER_TIMEOUT:-60}
BROWSER_SANDBOX=
BROWSER_SANDBOX_WHY=
# shellcheck disable=SC2034 # BROWSER_SANDBOX_WHY, BROWSER_*_MS: read by the sourcing scripts
BROWSER_UID=
BROWSER_HOME=
BROWSER_CG=

browser_as() { # CMD...: as BROWSER_UID in the browser cgroup, the rig's resolv.conf, HOME
	"$KG_INCG" "$BROWSER_CG" "${KGC_NS_ENTER[@]}" setpriv --reuid="$BROWSER_UID" \
		--regid="$BROWSER_UID" --clear-groups --inh-caps=-all -- env -i PATH=/usr/bin:/bin \
		HOME="$BROWSER_HOME" "$@"
}

browser_end_all() { # everything still in the browser cgroup, at once
	[ -n "$BROWSER_CG" ] && [ -d "$BROWSER_CG" ] || return 0
	echo 1 >"$BROWSER_CG/cgroup.kill" 2>/dev/null
	kg_wait_for 50 eval '[ -z "$(cat "$BROWSER_CG/cgroup.procs")" ]'
}

browser_setup() { # UID
	BROWSER_UID=$1
	BROWSER_HOME=$(mktemp -d /tmp/kgbrowser.XXXXXX) || return 1
	kg_on_exit rm -rf "$BROWSER_HOME"
	chown "$BROWSER_UID:$BROWSER_UID" "$BROWSER_HOME" && chmod 700 "$BROWSER_HOME" || return 1
	BROWSER_CG=$KG_CGROUP/browser
	mkdir "$BROWSER_CG" || return 1
	kg_on_exit kg_remove_cgroup "$BROWSER_CG"
	browser_as mkdir -p "$BROWSER_HOME/.pki/nssdb" &&
		browser_as certutil -d "sql:$BROWSER_HOME/.pki/nssdb" -N --empty-password &&
		browser_as certutil -d "sql:$BROWSER_HOME/.pki/nssdb" -A -n "kgtest rig CA" \
			-t "C,," -i "$ORIGIN_CA" || return 1
	# The sandbox needs unprivileged user namespaces (Debian's chromium has no setuid helper).
	if ! browser_as unshare -U true 2>/dev/null; then
		BROWSER_SANDBOX=--no-sandbox
		BROWSER_SANDBOX_WHY="unprivileged user namespaces are not available here"
	fi
}

# browser_load_ms FILE: the page's load time the DOM holds, or nothing
browser_load_ms() {
	grep -o 'kg-load-ms=[0-9][0-9]*' "$1" 2>/dev/null | head -n 1 | cut -d= -f2
}

browser_chromium() { # OUT FLAG...
	local out=$1 t0 rc
	shift
	[ "${BROWSER_KEEP_PROFILE:-0}" = 1 ] || rm -rf "$BROWSER_HOME/chromium"
	t0=$(krbrig_now_ms)
	# timeout makes its own process group and signals it; the cgroup catches the rest
	browser_as timeout -k 5 "$BROWSER_TIMEOUT" chromium --headless=new --no-first-run \
		--no-default-browser-check --disable-gpu ${BROWSER_SANDBOX:+"$BROWSER_SANDBOX"} \
		--user-data-dir="$BROWSER_HOME/chromium" --disable-background-networking \
		--disable-component-update --disable-sync --disable-extensions \
		"$@" --dump-dom "$BROWSER_URL" >"$out" 2>"$out.err"
	rc=$?
	BROWSER_WALL_MS=$(($(krbrig_now_ms) - t0))
	BROWSER_LOAD_MS=$(browser_load_ms "$out")
	browser_end_all
	return $rc
}

browser_firefox() { # OUT
	local out=$1 prof=$BROWSER_HOME/firefox t0 rc
	rm -rf "$prof"
	browser_as mkdir -p "$prof" &&
		browser_as certutil -d "sql:$prof" -N --empty-password &&
		browser_as certutil -d "sql:$prof" -A -n "kgtest rig CA" -t "C,," -i "$ORIGIN_CA" ||
		return 1
	t0=$(krbrig_now_ms)
	browser_as timeout -k 5 "$BROWSER_TIMEOUT" firefox-esr --headless --no-remote \
		--profile "$prof" --screenshot "$BROWSER_HOME/firefox.png" "$BROWSER_URL" \
		>"$out" 2>"$out.err"
	rc=$?
	BROWSER_WALL_MS=$(($(krbrig_now_ms) - t0))
	browser_end_all
	return $rc
}
