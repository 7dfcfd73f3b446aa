#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the Debian packages that a part of the project needs. As root
# this runs apt-get; otherwise it prints the exact command and fails.
# Every make entry point calls it first (see the Makefile), with the
# groups its goals need:
#   build   the module, libshmdev, the tools, tests, the GStreamer plugin,
#           the Python package's optional C extension (python3-dev)
#   guest   the QEMU guest runner (make demo, bench, fuzz, killany)
#   check   everything make check runs (all of the above, DKMS, packages)
#   deb     make deb (dpkg-buildpackage, lintian)
#   lint    make lint (sparse, clang-format)
#   bench   make bench's chart
#   debug   building make check-debug's kernel
#   matrix  make matrix's chroots
#   fresh   make fresh-check's root
#   apps    make apps-check: PipeWire, ffmpeg and v4l2loopback (about
#           150 MB, mostly ffmpeg's libraries; a lane of its own)
# Usage: tools/deps.sh [GROUP...]   (no group: check)
set -eu
build="make gcc libc6-dev linux-headers-amd64 linux-image-amd64 linux-source-6.1
xz-utils pkg-config kmod libkmod-dev libpng-dev python3 python3-dev git
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev"
guest="qemu-system-x86 busybox-static cpio kmod udev"
deb="build-essential debhelper dh-dkms dh-python python3-all dpkg-dev fakeroot lintian git pkgconf"
lint="sparse clang-format"
check="$build $guest $deb $lint python3-numpy python3-pytest python3-pip rsync dkms openssl
gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
python3-gi gir1.2-gst-plugins-base-1.0"
apps="$guest dkms gstreamer1.0-tools gstreamer1.0-plugins-base pipewire pipewire-bin
gstreamer1.0-pipewire ffmpeg v4l2loopback-dkms"
pkgs=
[ $# -eq 0 ] && set -- check
for group in "$@"; do
	case "$group" in
	build) pkgs="$pkgs $build" ;;
	guest) pkgs="$pkgs $build $guest" ;;
	check) pkgs="$pkgs $check" ;;
	deb) pkgs="$pkgs $build $deb" ;;
	lint) pkgs="$pkgs $build $lint" ;;
	bench) pkgs="$pkgs python3-numpy python3-matplotlib" ;;
	debug) pkgs="$pkgs bc bison flex libelf-dev libssl-dev" ;;
	matrix | fresh) pkgs="$pkgs debootstrap" ;;
	apps) pkgs="$pkgs $build $apps" ;;
	*)
		echo "deps: no group '$group' (build guest check deb lint bench debug matrix fresh apps)" >&2
		exit 2
		;;
	esac
done
# One dpkg-query for all of them: the installed ones, then what is left.
# shellcheck disable=SC2086
pkgs=$(printf '%s\n' $pkgs | sort -u)
# shellcheck disable=SC2086
installed=" $(dpkg-query -W -f '${Package} ${db:Status-Abbrev}\n' $pkgs 2>/dev/null |
	awk '$2 == "ii" { printf "%s ", $1 }') " || true
missing=
for p in $pkgs; do
	case "$installed" in
	*" $p "*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing$missing (a few minutes the first time)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
