#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make apps-check: a stream read by applications that do not link
# libshmdev, through Debian's PipeWire, v4l2loopback and ffmpeg. On the
# host: v4l2loopback built by DKMS for the guest's kernel (as make
# dkms-check builds our module; v4l2loopback-dkms builds it for the
# kernels there when it is installed, this for one installed since).
# Then tests/apps/apps_test.sh in the guest. Ends with one line
# "N passed, N failed, N skipped"; exits non-zero on any failure.
set -u
set -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build="${SHMSTREAM_BUILD:-$top/build}"
kver=${KVER:-$(tools/vm/kver)}
log="$build/apps-check.log"
mkdir -p "$build"
. tests/tap.sh

host() {
	echo "TAP version 13"
	if ! dpkg-query -W -f '${db:Status-Abbrev}' v4l2loopback-dkms 2>/dev/null | grep -q '^ii'; then
		tap_skip "v4l2loopback built by DKMS" "v4l2loopback-dkms is not installed (tools/deps.sh apps)"
	else
		# 0.12.7-2 -> 0.12.7, the version DKMS knows it by
		version=$(dpkg-query -W -f '${Version}' v4l2loopback-dkms | sed 's/^[0-9]*://; s/-[^-]*$//')
		if ! dkms status -m v4l2loopback -v "$version" -k "$kver" | grep -q ': installed'; then
			echo "# dkms install v4l2loopback/$version -k $kver"
			dkms install "v4l2loopback/$version" -k "$kver" >"$build/apps-dkms.log" 2>&1 ||
				tail -n 20 "$build/apps-dkms.log" | sed 's/^/#   /'
		fi
		dkms status -m v4l2loopback -v "$version" -k "$kver" | sed 's/^/# /'
		dkms status -m v4l2loopback -v "$version" -k "$kver" | grep -q ': installed' &&
			modinfo -k "$kver" -n v4l2loopback | grep -q /updates/dkms/
		tap_result $? "v4l2loopback $version built and installed by DKMS for $kver"
	fi
	tap_done
}

start=$(date +%s)
{
	host
	tools/vm/run --kernel "$kver" --timeout 1800 -- tests/apps/apps_test.sh "$build"
	rc=$?
	[ "$rc" -eq 0 ] || echo "not ok - apps_test.sh in the guest (exit status $rc)"
} 2>&1 | tee "$log"
set -- $(tools/tap-tally "$log")
failed=$2
grep -q '^not ok - apps_test.sh in the guest' "$log" && ! grep -q 'Totals: .*fail:[1-9]' "$log" &&
	failed=$((failed + 1))
echo "# apps-check: $(($(date +%s) - start)) s; log: $log"
echo "$1 passed, $failed failed, $3 skipped"
[ "$failed" -eq 0 ] && [ "$1" -gt 0 ]
