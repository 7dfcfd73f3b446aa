#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Build Debian's kernel source (the linux-source-6.1 package) as a debug
# kernel for make check-debug: KASAN, lockdep (PROVE_LOCKING), kmemleak,
# DEBUG_ATOMIC_SLEEP and DEBUG_PAGEALLOC, with what the guest runner needs
# built in (virtio PCI, 9p, serial console), from x86_64_defconfig without
# the subsystems a QEMU guest never uses (to keep the build short); DRM
# stays, with vgem built in and no other DRM driver, for dma-buf imports.
# Cached in build/debug-kernel: rebuilt only when this script or the
# tarball changes. Prints the kernel tree (bzImage in arch/x86/boot/).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="${SHMSTREAM_BUILD:-$top/build}/debug-kernel"
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || { echo "debug-kernel: no /usr/src/linux-source-*.tar.xz" >&2; exit 1; }
key=$({ cat "$0"; stat -c '%n %s %Y' "$tarball"; } | md5sum | cut -c1-12)
tree="$dir/linux"
if [ -f "$tree/.shmstream-$key" ] && [ -f "$tree/arch/x86/boot/bzImage" ]; then
	echo "$tree"
	exit 0
fi
jobs=$(nproc)
mkdir -p "$dir"
if [ ! -f "$tree/Makefile" ]; then
	echo "debug-kernel: extracting $(basename "$tarball")" >&2
	rm -rf "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
	mv "$tree.tmp" "$tree"
fi
cd "$tree"
rm -f .shmstream-*
make -s x86_64_defconfig >&2
on="VIRTIO VIRTIO_PCI VIRTIO_MENU NET_9P NET_9P_VIRTIO 9P_FS 9P_FS_POSIX_ACL
DEVTMPFS TMPFS DEBUG_FS MODULES MODULE_UNLOAD NAMESPACES IPC_NS USER_NS PID_NS
NET_NS UTS_NS CGROUPS MEMCG SYSVIPC POSIX_MQUEUE HW_RANDOM HW_RANDOM_VIRTIO
KASAN KASAN_GENERIC KASAN_INLINE PROVE_LOCKING DEBUG_LOCKDEP DEBUG_KMEMLEAK
DEBUG_ATOMIC_SLEEP DEBUG_PAGEALLOC DEBUG_PAGEALLOC_ENABLE_DEFAULT
DEBUG_INFO_NONE PANIC_ON_OOPS DRM DRM_VGEM"
# DRM for vgem alone (dma-buf import, tests/dmabuf_test.c): its drivers off.
off="DRM_I915 DRM_AMDGPU DRM_RADEON DRM_NOUVEAU DRM_VIRTIO_GPU DRM_QXL DRM_BOCHS
DRM_CIRRUS_QEMU DRM_VMWGFX DRM_GMA500 DRM_AST DRM_MGAG200 DRM_SIMPLEDRM
DRM_FBDEV_EMULATION SOUND USB_SUPPORT WLAN WIRELESS CFG80211 MAC80211 NETFILTER
INPUT_JOYSTICK INPUT_TABLET INPUT_TOUCHSCREEN AGP HID MEDIA_SUPPORT
ETHERNET IPV6 NETWORK_FILESYSTEMS_NFS NFS_FS NFSD SECURITY_SELINUX AUDIT
HIBERNATION ACPI_VIDEO EFI FB DEBUG_INFO DEBUG_KMEMLEAK_AUTO_SCAN RANDOMIZE_BASE"
# shellcheck disable=SC2086
for o in $on; do scripts/config -e "$o"; done
# shellcheck disable=SC2086
for o in $off; do scripts/config -d "$o"; done
scripts/config --set-str LOCALVERSION "-shmstream-debug"
make -s olddefconfig >&2
for o in KASAN PROVE_LOCKING DEBUG_KMEMLEAK DEBUG_ATOMIC_SLEEP DEBUG_PAGEALLOC 9P_FS \
	NET_9P_VIRTIO VIRTIO_PCI MODULES DMA_SHARED_BUFFER DRM_VGEM; do
	grep -qx "CONFIG_$o=y" .config || { echo "debug-kernel: CONFIG_$o not set" >&2; exit 1; }
done
start=$(date +%s)
echo "debug-kernel: building with $jobs jobs (long: see docs/hardening.md)" >&2
make -s -j"$jobs" bzImage modules >&2
make -s -j"$jobs" modules_prepare >&2
echo "debug-kernel: built in $(($(date +%s) - start)) s" >&2
touch ".shmstream-$key"
echo "$tree"
