#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# libshmdev checks that run on the host (TAP):
#  - the exported symbols are exactly the header's functions, all SHMDEV_1;
#  - make install DESTDIR=... installs what pkg-config needs, and an outside
#    program built only against the installed header and .pc links to the
#    installed library (it is run in the guest by guest-suite.sh);
#  - make uninstall removes everything it installed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build="${SHMSTREAM_BUILD:-$top/build}"
. "$top/tests/tap.sh"
ok() {
	tap_result "$1" "libshmdev: $2"
}

echo "TAP version 13"
lib="$build/lib/libshmdev.so.1"
header="$top/libshmdev/include/shmdev.h"
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort)
declared=$(grep -oE '^[a-z].*\bshmdev_[a-z_]+\(' "$header" | grep -oE 'shmdev_[a-z_]+\($' |
	tr -d '(' | sort)
diff <(echo "$exported" | sed 's/@.*//') <(echo "$declared") | sed 's/^/# /'
[ "$(echo "$exported" | sed 's/@.*//')" = "$declared" ]
ok $? "exported symbols equal the header's $(echo "$declared" | wc -l) functions"
# SHMDEV_1: the first release's functions; SHMDEV_1.1 adds the CUDA bridge;
# SHMDEV_1.2 shmdev_open_consumer_flags (ATTACH_NEWEST); SHMDEV_1.3 the
# control area's calls of ABI 2 (shmdev_peek, shmdev_stream_set_spin);
# SHMDEV_1.4 shmdev_create_limited (ABI 2.1's limits on guests);
# SHMDEV_1.5 shmdev_open_consumer_history (ABI 2.2's delivery);
# SHMDEV_1.6 shmdev_slot_dmabuf (ABI 2.3's dma-bufs).
v12='^shmdev_open_consumer_flags@'
v13='^shmdev_\(peek\|stream_set_spin\)@'
v14='^shmdev_create_limited@'
v15='^shmdev_open_consumer_history@'
v16='^shmdev_slot_dmabuf@'
! echo "$exported" | grep -v '^shmdev_\(cuda\|gpu\)_' | grep -v "$v12" | grep -v "$v13" |
	grep -v "$v14" | grep -v "$v15" | grep -v "$v16" | grep -v '@@SHMDEV_1$' | grep -q . &&
	! echo "$exported" | grep '^shmdev_\(cuda\|gpu\)_' | grep -v '@@SHMDEV_1\.1$' | grep -q . &&
	echo "$exported" | grep -q '^shmdev_open_consumer_flags@@SHMDEV_1\.2$' &&
	echo "$exported" | grep -q '^shmdev_peek@@SHMDEV_1\.3$' &&
	echo "$exported" | grep -q '^shmdev_stream_set_spin@@SHMDEV_1\.3$' &&
	echo "$exported" | grep -q '^shmdev_create_limited@@SHMDEV_1\.4$' &&
	echo "$exported" | grep -q '^shmdev_open_consumer_history@@SHMDEV_1\.5$' &&
	echo "$exported" | grep -q '^shmdev_slot_dmabuf@@SHMDEV_1\.6$'
ok $? "exported symbols are versioned: SHMDEV_1, the CUDA bridge SHMDEV_1.1, SHMDEV_1.2, SHMDEV_1.3, SHMDEV_1.4, SHMDEV_1.5, SHMDEV_1.6"
rc=0
for f in $declared; do
	[ -e "$top/libshmdev/man/$f.3" ] || { echo "# no man page for $f"; rc=1; }
done
ok $rc "every function has a man page"
readelf -d "$lib" | grep -q 'SONAME.*\[libshmdev.so.1\]'
ok $? "soname is libshmdev.so.1"
! ldd "$lib" | grep -qi cuda && ! readelf -d "$lib" | grep NEEDED | grep -qi cuda &&
	nm -D --defined-only "$lib" | grep -q shmdev_cuda_upload
ok $? "libshmdev links no CUDA library (the bridge is in it, loaded at run time)"

dest="$build/destdir"
rm -rf "$dest"
make -s -C "$top" install PREFIX=/usr DESTDIR="$dest" >/dev/null 2>&1
ok $? "make install PREFIX=/usr DESTDIR=$dest"
rc=0
for f in usr/lib/libshmdev.so.1 usr/lib/libshmdev.so usr/lib/libshmdev.a \
	usr/lib/pkgconfig/libshmdev.pc usr/include/shmdev.h usr/include/linux/shmstream.h \
	usr/share/man/man3/shmdev.3 usr/share/man/man3/shmdev_acquire.3 usr/bin/shmstreamctl \
	usr/share/man/man8/shmstreamctl.8 etc/udev/rules.d/60-shmstream.rules; do
	[ -e "$dest/$f" ] || { echo "# missing $f"; rc=1; }
done
ok $rc "library, static library, .pc, headers, man pages, shmstreamctl, udev rule installed"
LD_LIBRARY_PATH="$dest/usr/lib" "$dest/usr/bin/shmstreamctl" --version | grep -q "$(cat "$top/VERSION")"
ok $? "the installed shmstreamctl runs against the installed library"
res=$(cd / && env -u SHMSTREAM_LIBSHMDEV PYTHONDONTWRITEBYTECODE=1 \
	PYTHONPATH="$dest/usr/lib/python3/dist-packages" /usr/bin/python3 -c \
	'import shmstream, shmstream.compat.pyshmem as p; print(shmstream.__file__, shmstream._lib.lib()._name, shmstream.library_version())' 2>&1)
echo "# python: $res"
[ "$res" = "$dest/usr/lib/python3/dist-packages/shmstream/__init__.py $dest/usr/lib/libshmdev.so.1 $(cat "$top/VERSION")" ]
ok $? "the installed Python package imports and loads the installed libshmdev"
plugin=$(find "$dest" -name libgstshmstream.so)
[ -n "$plugin" ] && GST_REGISTRY="$build/gst-registry-host.bin" GST_PLUGIN_PATH="$(dirname "$plugin")" \
	LD_LIBRARY_PATH="$dest/usr/lib" gst-inspect-1.0 shmstreamsink >/dev/null 2>&1
ok $? "the installed GStreamer plugin loads (${plugin#"$dest"})"

export PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs libshmdev)
ok $? "pkg-config --cflags --libs libshmdev: $flags"
out="$build/installed-examples"
mkdir -p "$out"
rc=0
for e in producer consumer; do
	# shellcheck disable=SC2086
	cc -std=c11 -D_GNU_SOURCE -Wall -Werror "$top/examples/$e.c" $flags \
		-Wl,-rpath,"$dest/usr/lib" -o "$out/$e" || rc=1
done
ok $rc "examples build against the installed header and .pc only"
ldd "$out/consumer" | grep -q "$dest/usr/lib/libshmdev.so.1"
ok $? "an outside program links the installed libshmdev.so.1"

# The C examples of the README and docs/ must keep building against the library.
rdir="$build/readme-examples"
rm -rf "$rdir"
mkdir -p "$rdir"
awk -v dir="$rdir" '/^```c$/ { n++; f = dir "/readme" n ".c"; next }
	/^```$/ { f = ""; next } f { print > f }' "$top/README.md" "$top"/docs/*.md
rc=0
count=0
cuda_inc=${CUDA_HOME:-/usr/local/cuda}/include
for src in "$rdir"/*.c; do
	[ -e "$src" ] || continue
	count=$((count + 1))
	if grep -q '^#include <cuda.h>' "$src"; then
		# The CUDA bridge's: compiled (libcuda is not here to link).
		if [ ! -e "$cuda_inc/cuda.h" ]; then
			echo "# $src: no cuda.h, not compiled"
			continue
		fi
		# shellcheck disable=SC2086
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -isystem "$cuda_inc" -c "$src" \
			$flags -o "${src%.c}.o" || rc=1
		continue
	fi
	# shellcheck disable=SC2086
	cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$src" $flags -o "${src%.c}" || rc=1
done
[ "$count" -ge 4 ] || rc=1
ok $rc "the $count C examples of the README and docs/ build (the CUDA ones compile)"

# Uninstall into a second tree, so the one above stays for the guest.
dest2="$build/destdir-uninstall"
rm -rf "$dest2"
make -s -C "$top" install PREFIX=/usr DESTDIR="$dest2" >/dev/null 2>&1 &&
	make -s -C "$top" uninstall PREFIX=/usr DESTDIR="$dest2" >/dev/null 2>&1
left=$(find "$dest2" -type f -o -type l)
[ -z "$left" ] || echo "$left" | sed 's/^/# left: /'
ok $([ -z "$left" ]; echo $?) "make uninstall removes every installed file"
rm -rf "$dest2"

tap_done
