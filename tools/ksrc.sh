#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Extract the parts of Debian's linux-source tarball the project uses
# (checkpatch, .clang-format, the kselftest harness and runner) into a
# cache, once. Prints the cache directory. Several of these may run at
# once (make -j): each extracts into its own directory and renames it into
# place; one that loses the race discards its copy.
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
base=$(basename "$tarball" .tar.xz)
mkdir -p "$(dirname "$cache")"
tmp=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
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
if ! mv -T "$tmp" "$cache" 2>/dev/null && [ ! -f "$cache/.done" ]; then
	# A stale, incomplete cache (an interrupted older run): replace it.
	rm -rf "$cache"
	mv -T "$tmp" "$cache"
fi
echo "$cache"
