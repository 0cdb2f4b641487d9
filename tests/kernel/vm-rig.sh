# shellcheck shell=bash
# Debian 12's own kernel (linux-image-cloud-amd64, 6.1) booted under QEMU/TCG, for the checks
# that must hold on the kernel users run rather than on this machine's (sourced, bash).
#
# Sourced after tests/lib/common.sh and tests/package/nspawn-rig.sh, whose cached Debian 12
# root filesystem it extends:
#   kgv_image_tarball     that rootfs plus the distribution kernel, its initramfs and what the
#                         in-guest tests need (cached beside it, keyed by both recipes)
#   kgv_prepare DIR       unpack it into DIR/root; the caller adds files below DIR/root
#   kgv_boot DIR CMD      make DIR/disk.img from DIR/root, boot it with a unit that runs CMD
#                         (a path inside the guest) after multi-user.target, stream CMD's
#                         output (the lines it prints) and power off; returns CMD's status
#
# KVM does not work on these machines (the guest hangs early), so QEMU emulates the CPU (TCG):
# booting takes about 30 s and everything inside runs about 4 times slower than on the host.
# The guest has no network card at all (-nic none): the tests inside use loopback and network
# namespaces of their own, and every package they need is in the image.
# bookworm-backports' 6.12 kernel panics early under this QEMU's TCG, so only 6.1 is booted.

KGV_PACKAGES=(linux-image-cloud-amd64 initramfs-tools nftables)
KGV_TIMEOUT=${KGV_TIMEOUT:-1200}

kgv_recipe() {
	kgp_rootfs_recipe
	echo "${KGV_PACKAGES[*]}"
	declare -f kgv_configure_image
}

# Runs chrooted package installation, so the mirror must be reachable (as for debootstrap).
kgv_configure_image() {
	local r=$1
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	mount -t proc proc "$r/proc"
	mount --rbind /dev "$r/dev" && mount --make-rslave "$r/dev"
	DEBIAN_FRONTEND=noninteractive chroot "$r" sh -c "apt-get update -q &&
		apt-get install -y -q --no-install-recommends ${KGV_PACKAGES[*]} && apt-get clean"
	local rc=$?
	umount -R "$r/dev"
	umount "$r/proc"
	[ $rc = 0 ] || return 1
	: >"$r/etc/resolv.conf"
	printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$r/etc/fstab"
	# Boot messages on the serial console only when something goes wrong.
	echo 'kernel.printk = 3 4 1 3' >"$r/etc/sysctl.d/50-kgv-quiet.conf"
	# The console is the test's: a getty on it would hang the line up (SIGHUP to the test).
	ln -sf /dev/null "$r/etc/systemd/system/serial-getty@ttyS0.service"
}

# Prints the path of the cached image tarball, building it first when missing.
kgv_image_tarball() {
	local key tarball base work t0
	key=$(kgv_recipe | sha256sum | cut -c1-16)
	tarball="$KGP_CACHE/vm-$KGP_SUITE-$key.tar.zst"
	[ -s "$tarball" ] && { echo "$tarball"; return 0; }
	base=$(kgp_rootfs_tarball) || return 1
	(
		flock -w 900 9 || { echo "cannot lock $KGP_CACHE/.vmlock" >&2; exit 1; }
		[ -s "$tarball" ] && exit 0
		work=$(mktemp -d "$KGP_CACHE/vmbuild.XXXXXX")
		trap 'mountpoint -q "$work/root/proc" && umount -R "$work/root/dev" "$work/root/proc"; rm -rf --one-file-system "$work"' EXIT
		t0=$SECONDS
		kgp_log "installing ${KGV_PACKAGES[*]} into a copy of the rootfs (once; cached)" >&2
		mkdir "$work/root"
		zstd -dc "$base" | tar -C "$work/root" --numeric-owner --xattrs --acls -xf - || exit 1
		kgv_configure_image "$work/root" >"$work/configure.log" 2>&1 ||
			{ tail -n 30 "$work/configure.log" >&2; exit 1; }
		tar -C "$work/root" --numeric-owner --xattrs --acls -cf - . |
			zstd -q -T0 -6 -o "$work/image.tar.zst"
		mv "$work/image.tar.zst" "$tarball"
		find "$KGP_CACHE" -maxdepth 1 -name 'vm-*.tar.zst' ! -name "${tarball##*/}" -delete
		kgp_log "VM image built in $((SECONDS - t0))s ($(du -h "$tarball" | cut -f1))" >&2
	) 9>"$KGP_CACHE/.vmlock" || return 1
	echo "$tarball"
}

kgv_prepare() {
	local dir=$1 tarball
	tarball=$(kgv_image_tarball) || return 1
	mkdir -p "$dir/root"
	zstd -dc "$tarball" | tar -C "$dir/root" --numeric-owner --xattrs --acls -xf -
}

# kgv_boot DIR CMD: CMD runs as root in the booted guest; what it prints reaches our stdout
# (through the serial console, between markers). The disk is kept as DIR/disk.img.
kgv_boot() {
	local dir=$1 cmd=$2 r=$1/root rc
	cat >"$r/etc/systemd/system/kgv-test.service" <<-EOF
		[Unit]
		Description=KernelGatekeeper kernel test: $cmd, then power off
		After=multi-user.target
		[Service]
		Type=oneshot
		StandardOutput=tty
		StandardError=tty
		TTYPath=/dev/ttyS0
		TTYVHangup=no
		TTYReset=no
		# The output is also kept on the disk, read back afterwards if the console lost it.
		ExecStart=/bin/bash -c 'echo KGV-BEGIN; set -o pipefail; $cmd 2>&1 | tee /var/log/kgv-test.out; echo "KGV-RC=\$?"; sync'
		ExecStopPost=/bin/systemctl --no-block poweroff
		TimeoutStartSec=infinity
		[Install]
		WantedBy=multi-user.target
	EOF
	ln -sf ../kgv-test.service "$r/etc/systemd/system/multi-user.target.wants/kgv-test.service"
	cp "$r"/boot/vmlinuz-* "$dir/vmlinuz" && cp "$r"/boot/initrd.img-* "$dir/initrd.img" ||
		return 1
	truncate -s 4G "$dir/disk.img"
	mkfs.ext4 -q -F -L root -d "$r" "$dir/disk.img" || return 1
	kgp_log "booting $(ls "$r"/boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||') under QEMU/TCG"
	# -cpu max: TCG's most complete CPU model; 2 GiB is what a small VM gets.
	timeout "$KGV_TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 \
		-smp "$(nproc)" -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 quiet panic=-1" \
		-drive file="$dir/disk.img",if=virtio,format=raw -nographic -no-reboot -nic none \
		</dev/null >"$dir/serial.log" 2>&1 &
	rm -rf --one-file-system "$r"
	KGV_QEMU_PID=$!
	kg_on_exit kg_stop_pid "$KGV_QEMU_PID"
	# Stream the test's lines while it runs, so a slow step shows where it is. In the background:
	# a signal to the test must reach its cleanup (which stops QEMU) at once, and bash runs
	# traps only between foreground commands, or during `wait`.
	tail -n +1 -F --pid="$KGV_QEMU_PID" "$dir/serial.log" 2>/dev/null |
		sed -u -n '/KGV-BEGIN/,/KGV-RC=/{/KGV-BEGIN/d;p}' | tr -d '\r' &
	wait "$KGV_QEMU_PID"
	wait
	rc=$(sed -n 's/.*KGV-RC=\([0-9]*\).*/\1/p' "$dir/serial.log" | tr -d '\r' | tail -n 1)
	if [ -z "$rc" ]; then
		echo "# the guest never finished the test; the end of its console:"
		tail -n 40 "$dir/serial.log" | tr -d '\r' | sed 's/^/#   /'
		echo "# and of what it wrote to /var/log/kgv-test.out:"
		debugfs -R 'cat /var/log/kgv-test.out' "$dir/disk.img" 2>/dev/null | tail -n 60 | sed 's/^/#   /'
		return 99
	fi
	return "$rc"
}
