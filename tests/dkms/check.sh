#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make dkms-check: install the module with DKMS for the guest's kernel on
# the host, load the DKMS-built module in the guest by name (shmstreamctl
# load and modprobe), check modinfo's version, run the kselftest suite
# against it, then remove it and check nothing of ours is left.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build="${SHMSTREAM_BUILD:-$top/build}"
kver=${KVER:-$(tools/vm/kver)}
version=$(cat VERSION)
. tests/tap.sh
ok() {
	tap_result "$1" "dkms: $2"
}
leftovers() {
	ls -d /usr/src/shmstream-* /var/lib/dkms/shmstream \
		/lib/modules/*/updates/dkms/shmstream.ko* 2>/dev/null
}

echo "TAP version 13"
if ! command -v dkms >/dev/null; then
	tap_skip "dkms" "dkms is not installed (apt-get install dkms)"
	tap_done
	exit
fi
make -s dkms-remove KVER="$kver" >/dev/null 2>&1
trap 'make -s dkms-remove KVER="$kver" >/dev/null 2>&1' EXIT

make -s dkms-install KVER="$kver" >"$build/dkms-install.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -n 20 "$build/dkms-install.log" | sed 's/^/#   /'
ok $rc "make dkms-install KVER=$kver (dkms add, build, install)"
ls /lib/modules/"$kver"/updates/dkms/shmstream.ko* >/dev/null 2>&1
ok $? "DKMS built the module into /lib/modules/$kver/updates/dkms/"
dkms status shmstream | grep -q "shmstream/$version, $kver.*installed"
ok $? "dkms status: shmstream/$version installed for $kver"

# make sign: with DKMS's MOK key pair (made by its first build), on a copy.
cp kmod/shmstream.ko "$build/sign-test.ko"
make -s sign SIGN_MODULE="$build/sign-test.ko" >/dev/null 2>&1
rc=$?
cn=$(openssl x509 -inform DER -in /var/lib/dkms/mok.pub -noout -subject 2>/dev/null |
	sed -n 's/.*CN *= *//p')
signer=$(modinfo -F signer "$build/sign-test.ko")
echo "# signer: '$signer', MOK certificate CN: '$cn'"
[ $rc -eq 0 ] && [ -n "$signer" ] && [ "$signer" = "$cn" ]
ok $? "make sign: the module is signed by the DKMS MOK key"
rm -f "$build/sign-test.ko"
make -s sign MOK_KEY=/nonexistent SIGN_MODULE=kmod/shmstream.ko >/dev/null 2>&1
ok "$([ $? -ne 0 ]; echo $?)" "make sign without a key pair fails with a message"

# In the guest: by name, as an appliance loads it.
tools/ksft-install.sh "$build/ksft" >/dev/null 2>&1
cat >"$build/dkms-guest.sh" <<EOS
set -e
modinfo -F version shmstream | grep -qx "$version"
modinfo -n shmstream | grep -q /updates/dkms/
$build/tools/shmstreamctl load
grep -q '^shmstream ' /proc/modules
$build/ksft/run_kselftest.sh >/tmp/ksft.log 2>&1 || true
cat /tmp/ksft.log | grep -E '^(not )?ok ' || true
! grep -q '^not ok' /tmp/ksft.log
$build/tools/shmstreamctl unload
modprobe shmstream
test -c /dev/shmstream
modprobe -r shmstream
EOS
tools/vm/run --kernel "$kver" --no-module --timeout 600 -- sh -x "$build/dkms-guest.sh" \
	>"$build/dkms-guest.log" 2>&1
rc=$?
grep -E '^(not )?ok ' "$build/dkms-guest.log" | sed 's/^/# /'
[ $rc -eq 0 ] || tail -n 20 "$build/dkms-guest.log" | sed 's/^/#   /'
ok $rc "guest: modinfo shows $version, shmstreamctl load and modprobe by name, the kselftest suite passes"

make -s dkms-remove KVER="$kver" >/dev/null 2>&1
left=$(leftovers)
[ -z "$left" ] || echo "$left" | sed 's/^/# left: /'
ok "$([ -z "$left" ]; echo $?)" "make dkms-remove leaves nothing in /usr/src, /var/lib/dkms, /lib/modules"
trap - EXIT

tap_done
