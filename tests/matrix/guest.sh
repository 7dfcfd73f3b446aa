#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# make matrix, in the guest of one kernel: the installed kselftest suite
# through the kernel's run_kselftest.sh, then the module's counters back to
# zero and its unload.
# Usage: guest.sh KSELFTEST_INSTALL_DIR
set -u
install=${1:?usage: guest.sh KSELFTEST_INSTALL_DIR}
echo "# kernel $(uname -r)"
"$install/run_kselftest.sh"
rc=$?
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/../counters.sh"
if grep -q "^shmstream " /proc/modules; then
	counters_zero
	tap_result $? "matrix: every module counter back to zero"
	rmmod shmstream
	tap_result $? "matrix: the module unloads"
else
	tap_result 1 "matrix: the module is still loaded after the suite"
fi
tap_done && [ "$rc" -eq 0 ]
