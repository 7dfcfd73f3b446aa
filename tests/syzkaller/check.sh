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
broken "the ABI 1 wait field (timeout_ns)" 's/^\tdeadline_ns\t/\ttimeout_ns\t/' \
	"no member named .*timeout_ns"
broken "two fields merged into one (field sizes)" \
	'/^shmstream_frame {/,/^}/{s/^\tgen\t\tint32$/\tgen\t\tint64/;/reserved0/d}' \
	"shmstream_frame.gen: 8 bytes here, 4 in C"
broken "a deadline the field cannot hold" \
	's/^\(shmstream_deadlines = SHMSTREAM_DEADLINE_NOWAIT\), /\1, 0x10000000000000000, /' \
	"shmstream_deadlines: 0x10000000000000000 does not fit in int64"
broken "an ioctl argument in the wrong direction" \
	's/ptr\[in, shmstream_release\])/ptr[inout, shmstream_release])/' \
	"ioctl\$SHMSTREAM_IOC_RELEASE: arg is not ptr\[in, shmstream_release\]"
broken "an ioctl with another command's structure" \
	's/ptr\[inout, shmstream_stats\])/ptr[inout, shmstream_info])/' \
	"ioctl\$SHMSTREAM_IOC_STATS: arg is not ptr\[inout, shmstream_stats\]"
broken "a command number with the ABI 1 magic" 's/0xffffb909/0xffffb809/' \
	"0xffffb809 has type 0xb8, not SHMSTREAM_IOC_MAGIC 0xb9"
broken "a command number with the header's own size bits" 's/0xffffb909/0xc0b0b909/' \
	"0xc0b0b909 is SHMSTREAM_IOC_ACQUIRE itself"
broken "a header command no size-bits number reaches" 's/, 0xc000b90b, 0xffffb90b$//' \
	"no number reaches SHMSTREAM_IOC_SLOT_DMABUF"
broken "another ABI version named" 's/ABI \([0-9]*\)\.\([0-9]*\)/ABI \1.9\2/' \
	"ABI [0-9]*\.9[0-9]* here, ABI [0-9]*\.[0-9]* in"
broken "a line that is not syzlang" '$a\
this is not syzlang' "not a syzlang declaration"
tap_done
