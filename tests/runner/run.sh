#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Tests of the guest runner itself (run on the host): a passing command,
# a failing selftest, a WARN_ON in the guest kernel, a guest panic, a
# guest hang and QEMU dying at boot must each give the documented result,
# the bad ones quickly.
# Needs: make (kmod/shmstream.ko), build/runner/fail_test, the warn module.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
kver=${KVER:-$(tools/vm/kver)}
warn_ko="$top/tests/runner/warn/shmstream_warn_test.ko"
fail_bin="${SHMSTREAM_BUILD:-$top/build}/tests/runner/fail_test"
. "$top/tests/tap.sh"

# A guest boots in seconds with KVM, in tens of seconds with TCG, and in
# minutes with TCG on a loaded machine (a second guest alongside). So a run
# that must end by itself gets a --timeout far beyond that ($long), and
# "quickly" means well before it ($quick): a run that ended only because
# its timeout came would take longer. The hang's own timeout is short; it
# must then end within $quick too (the watchdog counts in one-second naps,
# longer ones on a loaded machine).
long=600
quick=500

# expect NAME WANT_STATUS MAX_SECONDS RUNNER-ARGUMENTS...
expect() {
	local name=$1 want=$2 max=$3 start end rc log
	shift 3
	log=$(mktemp)
	start=$(date +%s)
	(cd "${RUN_IN:-$top}" && "$top/tools/vm/run" --kernel "$kver" "$@") >"$log" 2>&1
	rc=$?
	end=$(date +%s)
	if [ "$rc" -eq "$want" ] && [ $((end - start)) -le "$max" ]; then
		tap_result 0 "runner: $name (status $rc, $((end - start))s)"
	else
		tap_result 1 "runner: $name (status $rc, want $want; $((end - start))s, limit ${max}s)"
		sed 's/^/#   /' "$log" | tail -n 20
	fi
	rm -f "$log"
}

echo "TAP version 13"
expect "a passing command exits 0" 0 $quick --timeout $long -- true
# The container tests need user namespaces: CMD must not run in a chroot.
expect "an unprivileged user may unshare(CLONE_NEWUSER)" 0 $quick --timeout $long \
	-- setpriv --reuid 1000 --regid 1000 --clear-groups unshare -U -r -i true
expect "the command's status is passed through" 7 $quick --timeout $long -- sh -c 'exit 7'
expect "a failing selftest fails the run" 1 $quick --timeout $long -- "$fail_bin"
expect "a WARN_ON in the guest kernel fails the run" 126 $quick --timeout $long \
	-- insmod "$warn_ko"
expect "a guest panic fails the run" 125 $quick --timeout $long \
	-- sh -c 'echo c > /proc/sysrq-trigger; sleep 60'
expect "a guest hang fails within the timeout" 124 $quick --timeout 40 -- sleep 3600
# QEMU itself dying of a signal before the command started (stood in for
# by the runner's SHMSTREAM_VM_FAIL_BOOTS): booted again, twice at most.
SHMSTREAM_VM_FAIL_BOOTS=2 expect "QEMU dying before the command: booted again (twice)" 0 \
	$quick --timeout $long --no-module -- true
SHMSTREAM_VM_FAIL_BOOTS=3 expect "QEMU dying before the command a third time fails the run" \
	125 $quick --timeout $long --no-module -- true
# The same for the guest kernel panicking while it boots (a soft lockup
# of a starved vCPU, say): the init panics on the first N boots.
SHMSTREAM_VM_PANIC_BOOTS=1 expect "a guest panic while booting: booted again" 0 \
	$quick --timeout $long --no-module -- true
SHMSTREAM_VM_PANIC_BOOTS=3 expect "a guest panic while booting, three times, fails the run" \
	125 $quick --timeout $long --no-module -- true
# The kernel log's verdict: reports fail the run, debug-kernel banners and
# a process's name that happens to contain "kmemleak" do not.
expect "a kmemleak report fails the run" 126 $quick --timeout $long --no-module \
	-- sh -c 'echo "kmemleak: 1 new suspected memory leaks" >/dev/kmsg'
expect "debug-kernel banners do not fail the run" 0 $quick --timeout $long --no-module \
	-- sh -c 'echo "rcu: RCU lockdep checking is enabled." >/dev/kmsg;
		echo "kmemleak.sh (9) used greatest stack depth: 9 bytes left" >/dev/kmsg'
expect "--image: an image that is not there is a usage error" 2 10 --timeout 100 \
	--image /nonexistent/bzImage -- true
# A tree under /tmp (where the guest mounts a tmpfs) stays visible.
tmpd=$(mktemp -d /tmp/shmstream-runner.XXXXXX)
echo visible >"$tmpd/marker"
RUN_IN=$tmpd expect "a working directory under /tmp stays visible" 0 $quick --timeout $long \
	--no-module -- sh -c 'grep -qx visible marker && touch /tmp/writable'
rm -rf "$tmpd"
# --rw shares one host directory writable; what the guest writes stays.
rwd=$(mktemp -d "${SHMSTREAM_BUILD:-$top/build}/rw-test.XXXXXX")
expect "--rw: the guest writes into a host directory" 0 $quick --timeout $long --no-module \
	--rw "$rwd" -- sh -c "echo from-guest > $rwd/f"
[ "$(cat "$rwd/f" 2>/dev/null)" = from-guest ]
tap_result $? "runner: --rw: the host sees the guest's file"
rm -rf "$rwd"
tap_done
