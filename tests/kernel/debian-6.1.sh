#!/bin/bash
# The package on Debian 12's own kernel (6.1, linux-image-cloud-amd64), not this machine's:
# builds the .deb, boots a Debian 12 image with that kernel under QEMU/TCG and runs
# tests/kernel/guest.sh inside (install, the unit's capabilities, the client without the
# service, a refused start, the datapath/security/service-operations suites, a client steering
# curl through a Negotiate Squid). `make check-kernel` runs only this; it takes 5 to 8 minutes.
#
#   KG_DEB=/path/kernelgatekeeper_V_ARCH.deb   test this package (default: `make deb` here)
#   KGP_CACHE=/var/cache/kernelgatekeeper-test  where the root filesystem and image are cached
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$top_srcdir/tests/package/nspawn-rig.sh"
. "$top_srcdir/tests/kernel/vm-rig.sh"

kg_require_root
kg_require_cmd debootstrap qemu-system-x86_64 mkfs.ext4 zstd flock dpkg-deb
[ "$(uname -m)" = x86_64 ] || kg_skip "the guest kernel is linux-image-cloud-amd64"

SECONDS=0
W=$(mktemp -d /var/tmp/kgv.XXXXXX)
kg_on_exit rm -rf --one-file-system "$W"

kgp_log "preparing the VM image (cached under $KGP_CACHE)"
kgv_image_tarball >"$W/image.path" 2>"$W/image.log" &
image_pid=$!
kg_on_exit wait "$image_pid"
deb=$(kgp_deb "$W")
case $? in
0) ;;
77) kg_skip "needs KG_DEB or a configured build tree" ;;
*) echo "Bail out! make deb failed"; exit 99 ;;
esac
[ -f "$deb" ] || { echo "Bail out! no package at '$deb'"; exit 99; }
# The suites in the guest start this build's service and probe; they must be built already.
for f in src/service/kernelgatekeeper-service src/ctl/kernelgatekeeper-ctl \
	src/client/kernelgatekeeper-client tests/helpers/kg-probe; do
	[ -x "$top_builddir/$f" ] ||
		make -C "$top_builddir" "$f" >"$W/build.log" 2>&1 ||
		{ tail -n 20 "$W/build.log"; echo "Bail out! cannot build $f"; exit 99; }
done
wait "$image_pid" || { cat "$W/image.log"; echo "Bail out! no VM image"; exit 99; }
cat "$W/image.log"

kgv_prepare "$W" || { echo "Bail out! cannot unpack the VM image"; exit 99; }
R=$W/root/kg
mkdir -p "$R/deb" "$R/src" "$R/build/tests/helpers"
cp "$deb" "$R/deb/"
cp -r "$top_srcdir/tests" "$R/src/"
for d in src/service src/ctl src/client; do mkdir -p "$R/build/$d"; done
for f in src/service/kernelgatekeeper-service src/ctl/kernelgatekeeper-ctl \
	src/client/kernelgatekeeper-client tests/helpers/kg-probe; do
	cp "$top_builddir/$f" "$R/build/$f"
done
chmod -R a+rX "$R"

kgp_log "package $(basename "$deb"); booting"
kgv_boot "$W" /kg/src/tests/kernel/guest.sh >"$W/guest.out"
rc=$?
kg_relay_tap "6.1: " "$W/guest.out" ""
[ "$rc" = 0 ] || [ "$rc" = 1 ] || kg_fail "the guest ran its tests to the end (status $rc)"
[ "$KG_PASSES" -gt 0 ] || kg_fail "the guest reported no result"
kgp_log "done"
kg_finish
