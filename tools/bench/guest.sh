#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The benchmarks of make bench, where the module is (the guest, or here with
# VM=0): shmbench (C) writes OUT/results.json, then pybench.py measures a
# Python consumer the same way, its latency in turns with shmbench's C
# reader, and prints it next to shmbench's figures (OUT/python.json), then
# pyshmembench.py the pyshmem-compatible layer, the native API and (with
# PYSHMEM_SRC) pyshmem itself, writer process to reader process
# (OUT/pyshmem.json), then ingest.sh a camera into a stream, copying against
# dma-buf import (OUT/ingest.json). Exit status 1 when any saw a wrong or
# lost frame, or an ingest failed.
# Usage: tools/bench/guest.sh SHMBENCH OUT [SHMBENCH_OPTIONS...]
set -u
bench=${1:?usage: guest.sh SHMBENCH OUT [OPTIONS...]}
out=${2:?usage: guest.sh SHMBENCH OUT [OPTIONS...]}
shift 2
"$bench" --json "$out/results.json" "$@"
rc=$?
py=(--frames 2000 --seconds 3)
for a in "$@"; do
	[ "$a" = --quick ] && py=(--frames 200 --seconds 0.5)
done
SHMSTREAM_LIBSHMDEV=${SHMSTREAM_LIBSHMDEV:-$(dirname "$bench")/../lib/libshmdev.so.1} \
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$(dirname "$0")/pybench.py" \
	--c-results "$out/results.json" --shmbench "$bench" --json "$out/python.json" \
	"${py[@]}" || rc=1
pyshm=(--frames 500)
for a in "$@"; do
	[ "$a" = --quick ] && pyshm=(--frames 50 --warmup 5)
done
SHMSTREAM_LIBSHMDEV=${SHMSTREAM_LIBSHMDEV:-$(dirname "$bench")/../lib/libshmdev.so.1} \
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "$(dirname "$0")/pyshmembench.py" \
	--pyshmem-src "${PYSHMEM_SRC:-}" --json "$out/pyshmem.json" "${pyshm[@]}" || rc=1
ingest=(--frames 50 --passes 2)
for a in "$@"; do
	[ "$a" = --quick ] && ingest=(--frames 10 --passes 1)
done
"$(dirname "$0")/ingest.sh" "$(dirname "$bench")/.." "$out" "${ingest[@]}" || rc=1
exit "$rc"
