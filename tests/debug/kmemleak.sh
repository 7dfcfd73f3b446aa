#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside a debug-kernel guest (make check-debug): CMD, then kmemleak's
# verdict on it. Objects allocated before CMD are marked as seen first, so
# only what CMD's run leaked is reported. Prints TAP; fails on any leak or
# when the kernel has no kmemleak.
# Usage: kmemleak.sh CMD [ARG...]
set -u
. "$(dirname "$0")/../tap.sh"
kml=/sys/kernel/debug/kmemleak
if [ ! -w "$kml" ]; then
	tap_result 1 "kmemleak: $kml present (a kernel with DEBUG_KMEMLEAK)"
	tap_done
	exit 1
fi
# What boot left behind is not ours: scan, and clear it from the report.
echo scan >"$kml"
echo clear >"$kml"
"$@"
rc=$?
# An object is reported once it is older than 5 s and unreferenced in two
# scans in a row.
sleep 6
echo scan >"$kml"
sleep 1
echo scan >"$kml"
leaks=$(cat "$kml")
[ -n "$leaks" ] && printf '%s\n' "$leaks" | sed 's/^/# /'
[ -z "$leaks" ]
tap_result $? "kmemleak: nothing leaked ($(printf '%s\n' "$leaks" | grep -c '^unreferenced object') objects reported)"
tap_done && exit "$rc"
