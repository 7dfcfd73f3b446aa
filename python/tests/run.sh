#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Python suite for make check. host: what needs no device (ctypes layouts
# against the C compiler, format codes, DLPack, the wheel and pip). guest:
# the rest against the loaded module, with the fake CUDA driver for the GPU
# mirror's DLPack export, then the real-GPU test without it (it SKIPs where
# there is no GPU). Each pytest run ends with a kselftest-style Totals line.
# Usage: python/tests/run.sh host|guest BUILD_DIR
set -u
mode=${1:?usage: run.sh host|guest BUILD_DIR}
build=${2:?usage: run.sh host|guest BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
export SHMSTREAM_BUILD="$build" SHMSTREAM_LIBSHMDEV="$build/lib/libshmdev.so.1"
# The source tree is read-only in the guest: no bytecode, no cache.
export PYTHONDONTWRITEBYTECODE=1
# Debian's python3, the one python3-numpy and python3-pytest are for (PATH
# may put another first); PYTHON3= to test another.
py=${PYTHON3:-/usr/bin/python3}
pytest() {
	(cd "$here" && "$py" -m pytest -p no:cacheprovider -q -rs "$@")
}
if ! "$py" -c 'import numpy, pytest' 2>/dev/null; then
	echo "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0"
	echo "python: $py lacks numpy or pytest (tools/deps.sh installs python3-numpy python3-pytest)" >&2
	exit 1
fi
case $mode in
host)
	pytest test_host.py
	;;
guest)
	rc=0
	FAKE_CUDA_DEVICES=1 LD_LIBRARY_PATH="$build/tests/cuda/fake" \
		pytest test_stream.py test_delivery.py test_dmabuf.py test_concurrency.py \
		test_compat_pyshmem.py test_readme.py \
		test_gpu.py -k 'not real_gpu' || rc=1
	pytest test_gpu.py -k real_gpu || rc=1
	exit $rc
	;;
*)
	echo "usage: run.sh host|guest BUILD_DIR" >&2
	exit 2
	;;
esac
