#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# make killany, in the guest: the kill-anywhere test with its options,
# then every module counter back to zero and the module unloads.
# Usage: killany.sh BUILD_DIR [KILLANY_OPTIONS...]
set -u
build=${1:?usage: killany.sh BUILD_DIR [KILLANY_OPTIONS...]}
shift
"$build/tests/crash/killany" "$@"
rc=$?
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/../counters.sh"
[ "$rc" -le 1 ]
tap_result $? "killany: ran to the end (exit status $rc)"
counters_zero
tap_result $? "killany: every module counter back to zero"
rmmod shmstream
tap_result $? "killany: the module unloads"
tap_done
