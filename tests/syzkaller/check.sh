#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# tools/syzkaller/check.py on the description (must pass) and on broken
# copies of it (each must fail, naming what is wrong). Prints TAP.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/tap.sh"
check=$top/tools/syzkaller/check.py
desc=$top/tools/syzkaller/shmstream.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$check" "$desc" 2>&1)
tap_result $? "syzkaller: the description checks ($out)"

# broken NAME SED_SCRIPT EXPECTED: the mutated copy fails and says EXPECTED.
broken() {
	sed "$2" "$desc" >"$tmp/d.txt"
	if cmp -s "$desc" "$tmp/d.txt"; then
		tap_result 1 "syzkaller: refuses $1 (the mutation changed nothing)"
		return
	fi
	out=$("$check" "$tmp/d.txt" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q -- "$3"
	tap_result $? "syzkaller: refuses $1"
	[ "$rc" -ne 0 ] || printf '%s\n' "$out" | sed 's/^/# /'
}
broken "a field missing (offsets)" '/^shmstream_release {/,/^}/{/reserved0/d}' \
	"shmstream_release.reserved: 4 bytes of padding before it"
broken "a field of the wrong size" '/^shmstream_stats {/,/^}/s/holds\t\tconst\[0, int32\]/holds\t\tconst[0, int64]/' \
	"shmstream_stats: .* bytes here, 64 in C"
broken "a constant the header lacks" 's/SHMSTREAM_COMMIT_DISCARD$/SHMSTREAM_COMMIT_DROP/' \
	"SHMSTREAM_COMMIT_DROP"
broken "an ioctl left out" '/^ioctl\$SHMSTREAM_IOC_RELEASE/d' \
	"SHMSTREAM_IOC_RELEASE .* has no ioctl\$ description"
broken "an unknown type" 's/^\tformat\t\tshmstream_format$/\tformat\t\tshmstream_fmt/' \
	"unknown type 'shmstream_fmt'"
broken "len of a field that does not exist" 's/len\[names, int32\]/len[name, int32]/' \
	"len\[name\]: no field or argument"
broken "an unclosed bracket" 's/ptr\[in, shmstream_release\])/ptr[in, shmstream_release)/' \
	"expected"
broken "a line that is not syzlang" '$a\
this is not syzlang' "not a syzlang declaration"
tap_done
