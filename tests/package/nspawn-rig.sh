# shellcheck shell=bash
# A booted Debian 12 systemd in systemd-nspawn, for the package tests (sourced, bash).
#
# Sourced after tests/lib/common.sh. One container per test run:
#   kgp_rootfs_tarball     the cached pristine root filesystem (debootstrap once, keyed by a
#                          hash of the package list and of this file's rootfs recipe)
#   kgp_boot               unpack it into a scratch directory and boot it, private network
#   kgp_run CMD...         run CMD inside as a transient system service (real cgroup, the
#                          container's seccomp and capabilities, journal); status propagated
#   kgp_urun USER CMD...   the same inside USER's systemd --user manager
#   kgp_raw CMD...         nsenter only, for systemctl/journalctl/bpftool queries
# Everything created is removed by kgp_teardown, registered with kg_on_exit before creation.
#
# Host requirements: root, CAP_SYS_ADMIN, a cgroup2 mount (pure or hybrid layout),
# debootstrap, systemd-nspawn (systemd-container), zstd. The container never reaches the
# network: --private-network gives it its own namespace with only lo, so the rootfs carries
# every runtime dependency of the package and the eBPF programs it attaches can only ever
# see the container's sockets (the netns check in connect4/6), not the host's.

KGP_SUITE=bookworm
KGP_CACHE=${KGP_CACHE:-/var/cache/kernelgatekeeper-test}
KGP_TEST_USER=tester
KGP_TEST_UID=1000
KGP_BOOT_TIMEOUT=${KGP_BOOT_TIMEOUT:-60}

# A "normal" Debian 12 host, plus the package's runtime dependencies (the container has no
# network, so apt must find them installed) and the tools the checks use.
#   dbus-user-session: without it `systemctl --user -M user@` cannot reach the user manager.
#   systemd-container: machined inside, for `-M user@` and machinectl.
KGP_PACKAGES=(
	systemd systemd-sysv dbus dbus-user-session libpam-systemd systemd-container
	procps iproute2 apt-utils bpftool krb5-user curl
	ucf libbpf1 libelf1 zlib1g libconfig9 libgssapi-krb5-2 libkrb5-3 libsystemd0 libduktape207
	libcurl4 libpsl5 libssl3
	# the Negotiate proxy check (tests/lib/krbrig.sh) runs a KDC, Squid and an origin inside
	krb5-kdc krb5-admin-server squid python3 openssl
)

kgp_log() { printf '# [%3ds] %s\n' "$SECONDS" "$*"; }

# The apt mirror this machine uses (deb822 sources first, then the one-line format).
kgp_mirror() {
	local m=""
	[ -n "${KGP_MIRROR:-}" ] && { echo "$KGP_MIRROR"; return 0; }
	m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null) || true
	[ -n "$m" ] || m=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | head -n 1)
	[ -n "$m" ] || return 1
	echo "$m"
}

# Everything that shapes the rootfs goes into the cache key.
kgp_rootfs_recipe() {
	echo "$KGP_SUITE ${KGP_PACKAGES[*]}"
	declare -f kgp_configure_rootfs
}

kgp_configure_rootfs() {
	local r=$1
	echo kgp-test >"$r/etc/hostname"
	printf '127.0.1.1\tkgp-test\n' >>"$r/etc/hosts"
	echo 'LANG=C.UTF-8' >"$r/etc/default/locale"
	chroot "$r" passwd -d root >/dev/null
	chroot "$r" useradd -m -s /bin/bash -u "$KGP_TEST_UID" "$KGP_TEST_USER"
	# apt-daily would race the test for the dpkg lock; nothing else needs a timer here.
	ln -sf /dev/null "$r/etc/systemd/system/apt-daily.timer"
	ln -sf /dev/null "$r/etc/systemd/system/apt-daily-upgrade.timer"
	# The Kerberos rig starts its own KDC and Squid on demand; the packaged instances stay off.
	local u
	for u in krb5-kdc krb5-admin-server squid; do
		[ -e "$r/lib/systemd/system/$u.service" ] && ln -sf /dev/null "$r/etc/systemd/system/$u.service"
	done
	chroot "$r" apt-get clean
}

# Prints the path of the cached rootfs tarball, building it first when missing.
kgp_rootfs_tarball() {
	local key tarball work mirror t0 list
	key=$(kgp_rootfs_recipe | sha256sum | cut -c1-16)
	tarball="$KGP_CACHE/rootfs-$KGP_SUITE-$key.tar.zst"
	mkdir -p "$KGP_CACHE"
	(
		flock -w 900 9 || { echo "cannot lock $KGP_CACHE/.lock" >&2; exit 1; }
		[ -s "$tarball" ] && exit 0
		mirror=$(kgp_mirror) || { echo "no apt mirror in /etc/apt/sources.list*; set KGP_MIRROR" >&2; exit 1; }
		work=$(mktemp -d "$KGP_CACHE/build.XXXXXX")
		trap 'rm -rf "$work"' EXIT
		list=$(printf '%s,' "${KGP_PACKAGES[@]}")
		t0=$SECONDS
		kgp_log "debootstrap $KGP_SUITE from $mirror (once; cached as $(basename "$tarball"))" >&2
		debootstrap --variant=minbase --include="${list%,}" "$KGP_SUITE" "$work/root" "$mirror" \
			>"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
		kgp_configure_rootfs "$work/root"
		tar -C "$work/root" --numeric-owner --xattrs --acls -cf - . |
			zstd -q -T0 -6 -o "$work/rootfs.tar.zst"
		mv "$work/rootfs.tar.zst" "$tarball"
		# A changed recipe leaves the old tarballs stale; keep the cache to one.
		find "$KGP_CACHE" -maxdepth 1 -name 'rootfs-*.tar.zst' ! -name "${tarball##*/}" -delete
		kgp_log "rootfs built in $((SECONDS - t0))s ($(du -h "$tarball" | cut -f1))" >&2
	) 9>"$KGP_CACHE/.lock" || return 1
	echo "$tarball"
}

# kgp_deb DIR: prints the package to test: $KG_DEB, or the one `make deb` builds in this build
# tree (its log in DIR). Returns 77 when there is neither.
kgp_deb() {
	local dir=$1
	[ -n "${KG_DEB:-}" ] && { echo "$KG_DEB"; return 0; }
	[ -f "$top_builddir/Makefile" ] || return 77
	kgp_log "building the .deb (make deb, DEB_BUILD_OPTIONS=nocheck)" >&2
	if ! make -C "$top_builddir" deb DEB_BUILD_OPTIONS=nocheck >"$dir/deb-build.log" 2>&1; then
		tail -n 40 "$dir/deb-build.log" >&2
		return 1
	fi
	ls "$top_builddir"/debbuild/kernelgatekeeper_*.deb 2>/dev/null | head -n 1
}

# The cgroup2 root and, on a hybrid host, the name=systemd v1 hierarchy nspawn also needs.
kgp_cgroup_dirs() {
	local c2 c1=/sys/fs/cgroup/systemd
	c2=$(kg_cgroup2_root) || return 1
	echo "$c2/$KGP_MACHINE"
	[ "$c2" != /sys/fs/cgroup ] && [ "$(stat -f -c %T "$c1" 2>/dev/null)" = cgroupfs ] &&
		echo "$c1/$KGP_MACHINE"
	return 0
}

kgp_nspawn_alive() { [ -n "${KGP_NSPAWN_PID:-}" ] && kill -0 "$KGP_NSPAWN_PID" 2>/dev/null; }

# The container's PID 1: the child of nspawn whose comm is systemd.
kgp_leader() {
	local c
	kgp_nspawn_alive || return 1
	for c in $(pgrep -P "$KGP_NSPAWN_PID"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && { echo "$c"; return 0; }
	done
	return 1
}

kgp_raw() {
	local l
	l=$(kgp_leader) || { echo "container not running" >&2; return 1; }
	nsenter --target "$l" --all -- "$@"
}

kgp_run() {
	kgp_raw systemd-run --quiet --wait --pipe --collect --service-type=exec \
		-E TERM=dumb -E HOME=/root -E LANG=C.UTF-8 -E DEBIAN_FRONTEND=noninteractive -- "$@"
}

kgp_urun() {
	local u=$1
	shift
	kgp_raw systemd-run --user --machine="$u@" --quiet --wait --pipe --collect \
		--service-type=exec -- "$@"
}

# kgp_boot DIR: unpack the rootfs under DIR and boot it. DIR/share is bound at /share.
kgp_boot() {
	local dir=$1 tarball st="" d deadline
	KGP_DIR=$dir
	KGP_MACHINE="$KG_TEST_ID"
	tarball=$(kgp_rootfs_tarball) || return 1
	kg_on_exit kgp_teardown
	mkdir -p "$dir/root" "$dir/share"
	zstd -dc "$tarball" | tar -C "$dir/root" --numeric-owner --xattrs --acls -xf - || return 1
	for d in $(kgp_cgroup_dirs); do mkdir -p "$d"; done
	# --register=no --keep-unit: no machined or D-Bus on a host without systemd as PID 1;
	#   nspawn then lives in the caller's cgroup, so the caller moves into a fresh one first.
	# SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: pure cgroup2 at /sys/fs/cgroup inside, as on a
	#   Debian 12 host, even when this host is hybrid.
	# --system-call-filter=bpf: nspawn's seccomp filter denies bpf() otherwise.
	# CAP_BPF, CAP_PERFMON: not in nspawn's default set; the unit under test picks its own.
	KGP_CG="$(kgp_cgroup_dirs | tr '\n' ' ')" setsid bash -c '
		for d in $KGP_CG; do echo $$ >"$d/cgroup.procs"; done
		export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
		exec systemd-nspawn "$@"' kgp-nspawn \
		--boot --directory="$dir/root" --machine="$KGP_MACHINE" --register=no --keep-unit \
		--private-network --capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN \
		--system-call-filter=bpf --bind-ro="$dir/share:/share" --console=read-only \
		>"$dir/console.log" 2>&1 </dev/null &
	KGP_NSPAWN_PID=$!
	deadline=$((SECONDS + KGP_BOOT_TIMEOUT))
	while [ $SECONDS -lt $deadline ]; do
		kgp_nspawn_alive || { cat "$dir/console.log" >&2; return 1; }
		st=$(kgp_raw systemctl is-system-running 2>/dev/null) || true
		case $st in running | degraded) break ;; esac
		sleep 0.2
	done
	case $st in
	running) ;;
	degraded) kgp_raw systemctl --failed --no-pager >&2 ;;
	*) echo "container did not reach multi-user in ${KGP_BOOT_TIMEOUT}s (state '$st')" >&2; return 1 ;;
	esac
}

kgp_teardown() {
	local d
	if kgp_nspawn_alive; then
		kill -TERM "$KGP_NSPAWN_PID" # nspawn turns SIGTERM into an orderly poweroff
		for _ in $(seq 1 100); do kgp_nspawn_alive || break; sleep 0.2; done
		kgp_nspawn_alive && kill -KILL "$KGP_NSPAWN_PID"
		wait "$KGP_NSPAWN_PID" 2>/dev/null
	fi
	for d in $(kgp_cgroup_dirs); do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rmdir "/run/systemd/nspawn/propagate/$KGP_MACHINE" 2>/dev/null
	[ -n "${KGP_DIR:-}" ] && rm -rf --one-file-system "$KGP_DIR"
	return 0
}
