#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make deb-check: the Debian packages build with dpkg-buildpackage, lintian
# finds no error or warning in them (pedantic and info tags listed), and
# they hold what each should (the DKMS source with its maintainer scripts,
# the library by soname, the development files, the tool with its man page
# and udev rule, the Python package, the GStreamer plugin), with only
# shmstream-dkms depending on dkms.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build="${SHMSTREAM_BUILD:-$top/build}"
version=$(cat VERSION)
. tests/tap.sh
echo "TAP version 13"

make -s deb >"$build/deb.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 20 "$build/deb.log" | sed 's/^/#   /'
tap_result $rc "deb: dpkg-buildpackage -b builds the packages"
d="$build/deb"
lintian -I --pedantic --fail-on error,warning "$d"/shmstream_"$version"_*.changes \
	>"$build/lintian.log" 2>&1
rc=$?
sed 's/^/# lintian: /' "$build/lintian.log" | grep -v 'root privileges'
tap_result $rc "deb: lintian reports no error and no warning"

has() {
	# has PACKAGE PATH: the package ships PATH
	dpkg-deb -c "$d/$1"_"$version"_*.deb | grep " \./$2$" >/dev/null
}
dkms=$(ls "$d"/shmstream-dkms_"$version"_all.deb)
has shmstream-dkms "usr/src/shmstream-$version/kmod/ring.c" &&
	dpkg-deb --fsys-tarfile "$dkms" | tar -xO "./usr/src/shmstream-$version/dkms.conf" |
	grep -qx "PACKAGE_VERSION=\"$version\"" &&
	dpkg-deb -I "$dkms" | grep -q 'Depends: dkms' &&
	dpkg-deb -I "$dkms" postinst | grep -q dkms
tap_result $? "deb: shmstream-dkms ships the source, dkms.conf $version, dkms postinst"
has libshmdev1 "usr/lib/[^/]*/libshmdev.so.1" && ! has libshmdev1 "usr/lib/[^/]*/libshmdev.so"
tap_result $? "deb: libshmdev1 ships libshmdev.so.1 only"
has libshmdev-dev "usr/include/shmdev.h" && has libshmdev-dev "usr/include/linux/shmstream.h" &&
	has libshmdev-dev "usr/lib/[^/]*/pkgconfig/libshmdev.pc" &&
	has libshmdev-dev "usr/share/man/man3/shmdev_acquire.3.gz"
tap_result $? "deb: libshmdev-dev ships headers, .pc and man pages"
has shmstream-tools "usr/bin/shmstreamctl" && has shmstream-tools "usr/lib/udev/rules.d/60-shmstream.rules" &&
	has shmstream-tools "usr/share/man/man8/shmstreamctl.8.gz"
tap_result $? "deb: shmstream-tools ships shmstreamctl, its man page, the udev rule"
has python3-shmstream "usr/lib/python3/dist-packages/shmstream/__init__.py" &&
	has python3-shmstream "usr/lib/python3/dist-packages/shmstream/compat/pyshmem.py" &&
	dpkg-deb -f "$d"/python3-shmstream_"$version"_all.deb Depends |
	grep -q 'python3-numpy.*libshmdev1 (>= '"$version"')'
tap_result $? "deb: python3-shmstream ships the package, depends on numpy and libshmdev1"
has gstreamer1.0-shmstream "usr/lib/[^/]*/gstreamer-1.0/libgstshmstream.so" &&
	dpkg-deb -f "$d"/gstreamer1.0-shmstream_"$version"_*.deb Depends | grep -q 'libshmdev1'
tap_result $? "deb: gstreamer1.0-shmstream ships the plugin, depends on libshmdev1"
nodkms=0
for deb in "$d"/*_"$version"_*.deb; do
	case "$deb" in */shmstream-dkms_*) continue ;; esac
	if dpkg-deb -f "$deb" Depends | grep -qw dkms; then
		echo "# $(basename "$deb") depends on dkms"
		nodkms=1
	fi
done
[ "$(ls "$d"/*_"$version"_*.deb | wc -l)" -ge 6 ]
tap_result $((nodkms || $?)) "deb: no package but shmstream-dkms depends on dkms"
tap_done
