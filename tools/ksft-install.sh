#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Install the selftests the way a kernel tree does: drop tests/ into a
# tree as tools/testing/selftests/shmstream and run the kernel's own
# selftests "make install". Usage: tools/ksft-install.sh INSTALL_PATH
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dest=$(realpath -m "${1:?usage: ksft-install.sh INSTALL_PATH}")
src=$("$top/tools/ksrc.sh")
tree="${SHMSTREAM_BUILD:-$top/build}/ksft-tree"
sel="$tree/tools/testing/selftests"
rm -rf "$tree" "$dest"
mkdir -p "$sel/shmstream" "$tree/scripts"
cp "$src/scripts/subarch.include" "$tree/scripts/"
cp -r "$src/tools/testing/selftests/"* "$sel/"
cp "$top"/tests/Makefile "$top"/tests/settings "$top"/tests/*.[ch] "$sel/shmstream/"
make -s -C "$sel" TARGETS=shmstream SHMSTREAM_UAPI="$top/uapi" \
	KSFT_INSTALL_PATH="$dest" install >/dev/null
test -x "$dest/run_kselftest.sh"
