#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Extract the parts of Debian's linux-source tarball the project uses
# (checkpatch, .clang-format, the kselftest harness and runner) into a
# cache, once. Prints the cache directory. Several of these may run at
# once (make -j): they take turns on a lock, and the first extracts.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cache="${SHMSTREAM_BUILD:-$top/build}/linux-source"
if [ -f "$cache/.done" ]; then
	echo "$cache"
	exit 0
fi
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
if [ -z "$tarball" ]; then
	echo "ksrc: no /usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1)" >&2
	exit 1
fi
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if [ -f "$cache/.done" ]; then # another run extracted it meanwhile
	echo "$cache"
	exit 0
fi
base=$(basename "$tarball" .tar.xz)
# Under the lock: what an interrupted run left here is removed.
tmp="$cache.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
tar -xJf "$tarball" -C "$tmp" --strip-components=1 --wildcards \
	"$base/.clang-format" \
	"$base/scripts/checkpatch.pl" \
	"$base/scripts/spelling.txt" \
	"$base/scripts/const_structs.checkpatch" \
	"$base/scripts/subarch.include" \
	"$base/tools/testing/selftests/Makefile" \
	"$base/tools/testing/selftests/lib.mk" \
	"$base/tools/testing/selftests/kselftest*" \
	"$base/tools/testing/selftests/run_kselftest.sh"
echo "$base" >"$tmp/.done"
rm -rf "$cache"
mv "$tmp" "$cache"
echo "$cache"
