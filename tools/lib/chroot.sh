# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Chroots of debootstrap roots, for make matrix and make fresh-check:
# sourced, not run.

# in_chroot ROOT CMD...: run CMD in ROOT with /proc, /sys and /dev (and
# what is mounted below them: /dev/pts, /dev/shm) mounted, in a clean
# environment; everything is unmounted again when CMD ends.
in_chroot() {
	local root=$1 rc
	shift
	if ! { mount -t proc proc "$root/proc" &&
		mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" &&
		mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"; }; then
		chroot_umount "$root"
		return 1
	fi
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive INITRD=No "$@"
	rc=$?
	chroot_umount "$root"
	return "$rc"
}

# chroot_umount ROOT: unmount whatever in_chroot mounted in ROOT.
chroot_umount() {
	local m
	for m in dev sys proc; do
		if mountpoint -q "$1/$m"; then
			umount -R "$1/$m" 2>/dev/null || umount -R -l "$1/$m"
		fi
	done
}

# chroot_remove ROOT: delete ROOT, never through a mount left in it.
chroot_remove() {
	chroot_umount "$1"
	if findmnt -rn -o TARGET | grep -q "^$1/"; then
		echo "chroot: mounts left under $1; not removing it" >&2
		return 1
	fi
	rm -rf --one-file-system "$1"
}
