#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# make fuzz, in the guest: shmfuzz with its options, then the verdict the
# fuzzer cannot give itself: every module counter back to zero once all is
# closed, and the module unloads. The guest runner adds the kernel log's.
# Usage: fuzz.sh BUILD_DIR [SHMFUZZ_OPTIONS...]
set -u
build=${1:?usage: fuzz.sh BUILD_DIR [SHMFUZZ_OPTIONS...]}
shift
. "$(dirname "$0")/../tap.sh"
. "$(dirname "$0")/../counters.sh"
param=/sys/module/shmstream/parameters/max_pinned_mb

# Pinned memory well inside the guest's: the fuzzer asks for slots of up
# to 256 MiB and must meet the module's limit, not the OOM killer. Mapped
# rings are populated at mmap and fork copies their page tables, so a ring
# costs page tables in every process that maps it: 64 MiB keeps dozens of
# forked workers with many mappings inside a 2 GiB guest (256 did not on
# the PREEMPT_RT kernel, whose page tables cost more).
old=$(cat "$param")
echo 64 >"$param"
"$build/tests/fuzz/shmfuzz" "$@" >/tmp/shmfuzz.out 2>&1
rc=$?
sed 's/^/# /' /tmp/shmfuzz.out
tap_result "$rc" "fuzz: shmfuzz spent its syscall budget ($(sed -n 's/^shmfuzz: seed \([0-9]*\).*/seed \1/p' /tmp/shmfuzz.out))"
echo "$old" >"$param"
# The dma-buf paths (ABI 2.3) ran: SLOT_DMABUF made fds the workers kept,
# mapped, synced and closed (a module that has none lists no "dmabufs:").
kept=$(sed -n 's/^shmfuzz: *dbkept *\([0-9]*\)$/\1/p' /tmp/shmfuzz.out)
if grep -q '^dmabufs:' /sys/kernel/debug/shmstream/stats 2>/dev/null; then
	[ "${kept:-0}" -gt 0 ]
	tap_result $? "fuzz: the workers made dma-bufs and used them (${kept:-0} kept)"
else
	tap_skip "fuzz: the workers made dma-bufs" "the module has no dma-bufs (ABI < 2.3)"
fi

counters_zero
tap_result $? "fuzz: every module counter back to zero"
rmmod shmstream
tap_result $? "fuzz: the module unloads"
tap_done
