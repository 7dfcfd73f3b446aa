#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the Debian packages the build and the tests need. As root this
# runs apt-get; otherwise it prints the exact command and fails.
# Usage: tools/deps.sh [bench|debug]   (bench: also what make bench's chart
# needs; debug: also what building make check-debug's kernel needs)
set -eu
pkgs="make gcc libc6-dev linux-headers-amd64 linux-image-amd64 linux-source-6.1
sparse busybox-static qemu-system-x86 kmod libkmod-dev cpio xz-utils pkg-config
python3 python3-numpy python3-pytest python3-pip clang-format rsync libpng-dev dkms openssl
debhelper dh-dkms lintian fakeroot git
libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
case "${1:-}" in
bench) pkgs="$pkgs python3-matplotlib" ;;
debug) pkgs="$pkgs bc bison flex libelf-dev libssl-dev" ;;
esac
missing=
for p in $pkgs; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
