#!/bin/bash
# The RPM: `make rpm` builds the binary package from the dist tarball (with --nodeps: the
# BuildRequires are Fedora names), the package carries the units, the presets and the
# configuration as %config(noreplace), and rpmlint reports no errors.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

kg_require_cmd rpmbuild rpmlint rpm rpm2cpio cpio make
[ -f "$top_builddir/Makefile" ] || kg_skip "needs a configured build tree in $top_builddir"

SECONDS=0
log=$(mktemp)
kg_on_exit rm -f "$log"

echo "# [${SECONDS}s] make rpm (dist tarball, rpmbuild -tb --nodeps --nocheck)"
if ! make -C "$top_builddir" rpm RPMBUILD_FLAGS="--nodeps --nocheck" >"$log" 2>&1; then
	tail -n 40 "$log"
	kg_fail "make rpm"
	kg_finish
fi
rpm=$(find "$top_builddir/rpmbuild/RPMS" -name 'kernelgatekeeper-[0-9]*.rpm' | head -n 1)
kg_check "make rpm produced $(basename "${rpm:-none}")" test -n "$rpm"
[ -n "$rpm" ] || kg_finish
echo "# [${SECONDS}s] built"

files=$(rpm -qlp "$rpm" 2>/dev/null)
has_file() { grep -qx "$1" <<<"$files"; }
for f in /usr/sbin/kernelgatekeeper-service /usr/bin/kernelgatekeeper-client \
	/usr/bin/kernelgatekeeper-ctl; do
	kg_check "ships $f" has_file "$f"
done
kg_check "ships the system unit" has_file /usr/lib/systemd/system/kernelgatekeeper.service
kg_check "ships the user unit" has_file /usr/lib/systemd/user/kernelgatekeeper-client.service
kg_check "ships the system relay's unit" \
	has_file /usr/lib/systemd/system/kernelgatekeeper-system-client.service
kg_check "ships the system relay's account (sysusers.d)" \
	has_file /usr/lib/sysusers.d/kernelgatekeeper.conf
kg_check "ships the system preset" has_file /usr/lib/systemd/system-preset/90-kernelgatekeeper.preset
kg_check "ships the user preset" has_file /usr/lib/systemd/user-preset/90-kernelgatekeeper.preset
kg_check "the configuration is %config(noreplace)" \
	grep -qx 'cn /etc/kernelgatekeeper/kernelgatekeeper.conf' \
	<<<"$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null)"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
kg_check "%post presets the service and, globally, the user unit" \
	grep -q 'preset.*kernelgatekeeper-client.service' <<<"$scripts"
kg_check "%post presets the system relay (the preset file says disable)" \
	grep -q 'preset.*kernelgatekeeper-system-client.service' <<<"$scripts"
kg_check "%pre creates the _kernelgatekeeper account" \
	grep -q 'useradd .*_kernelgatekeeper' <<<"$scripts"
kg_check "the system preset leaves the system relay disabled" \
	grep -qx 'disable kernelgatekeeper-system-client.service' \
	<<<"$(rpm2cpio "$rpm" | cpio -i --quiet --to-stdout \
		./usr/lib/systemd/system-preset/90-kernelgatekeeper.preset 2>/dev/null)"

rpmlint -r "$top_srcdir/tests/package/kernelgatekeeper.rpmlintrc" "$rpm" >"$log" 2>&1
sed 's/^/    /' "$log"
summary=$(grep -E '[0-9]+ errors?, [0-9]+ warnings?' "$log" | tail -n 1)
kg_check "rpmlint: no errors (${summary:-no summary})" \
	grep -qE '(^|[^0-9])0 errors' <<<"$summary"
echo "# [${SECONDS}s] done"
kg_finish
