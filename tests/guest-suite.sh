#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs inside the guest (tools/vm/run): the installed kselftest tree through
# the kernel's own run_kselftest.sh, the libshmdev tests (plain and
# ASan+UBSan), the examples (built in the tree and against the installed
# library), then module-level checks that need every test's files closed.
# Usage: guest-suite.sh KSELFTEST_INSTALL_DIR BUILD_DIR
set -u
install=${1:?usage: guest-suite.sh KSELFTEST_INSTALL_DIR BUILD_DIR}
build=${2:?usage: guest-suite.sh KSELFTEST_INSTALL_DIR BUILD_DIR}
out=/tmp/run_kselftest.out
"$install/run_kselftest.sh" | tee "$out"
ksft_failed=$(grep -c '^not ok' "$out")

# ASan+UBSan lanes report leaks. intercept_tls_get_addr=0: GCC 12's
# runtime takes a dynamic TLS block that malloc happens to place at offset
# 16 of a page for a pre-2.25 glibc header, reads the words before it, and
# its leak checker's tracer dies with SIGSEGV at exit. The fake libcuda's
# __thread context stack is such a block (dlopen'd), and whether it lands
# there depends on the checkout's path.
asan="detect_leaks=1:abort_on_error=0:intercept_tls_get_addr=0"

# libshmdev: the harness prints its own TAP and Totals.
for t in lib_test lib_test-asan; do
	echo "# $t"
	ASAN_OPTIONS=$asan "$build/tests/lib/$t" ||
		ksft_failed=$((ksft_failed + 1))
done

# The Python package (python/): its own Totals lines.
echo "# python"
"$(dirname "$0")/../python/tests/run.sh" guest "$build" || ksft_failed=$((ksft_failed + 1))

# The GStreamer elements (gst/): their own TAP and Totals.
echo "# gstreamer"
"$(dirname "$0")/gst/gst_test.sh" "$build" || ksft_failed=$((ksft_failed + 1))

. "$(dirname "$0")/tap.sh"

# The CUDA bridge (tests/cuda): no driver, a library without the bridge,
# the fake driver (plain and ASan+UBSan), then the real-GPU test, which
# SKIPs where there is no GPU.
cuda=$build/tests/cuda
if [ -x "$cuda/cuda_test" ]; then
	for t in cuda_test-nocuda cuda_test-stubs cuda_test cuda_test-asan gpu_test; do
		echo "# $t"
		case $t in
		cuda_test-nocuda | gpu_test) path=${LD_LIBRARY_PATH:-} ;;
		*) path=$cuda/fake ;;
		esac
		# Two fake devices, for the one-device-per-ring check.
		FAKE_CUDA_DEVICES=2 LD_LIBRARY_PATH=$path \
			ASAN_OPTIONS=$asan "$cuda/$t" ||
			ksft_failed=$((ksft_failed + 1))
	done
else
	tap_skip "CUDA bridge tests" "not built: no cuda.h at build time (CUDA_HOME)"
fi

check() {
	name=$1
	shift
	"$@"
	tap_result $? "module: $name"
}

. "$(dirname "$0")/counters.sh"

# shmstreamctl (unloads and reloads the module; leaves it loaded).
"$(dirname "$0")/tools/tools_test.sh" "$build" || ksft_failed=$((ksft_failed + 1))

# The examples stream frames end to end; every frame is taken or missed.
examples() {
	dir=$1
	name="ex-$$-$(basename "$dir")"
	"$dir/producer" "$name" 500 &
	pid=$!
	res=$("$dir/consumer" "$name")
	echo "# $res"
	wait "$pid" || return 1
	frames=$(echo "$res" | sed -n 's/^consumer: \([0-9]*\) frames, \([0-9]*\) missed$/\1+\2/p')
	[ -n "$frames" ] && [ $(( $frames )) -eq 500 ]
}
check "examples (in-tree build): producer + epoll consumer" examples "$build/examples"
check "examples (built against the installed header and .pc)" \
	examples "$build/installed-examples"

# The benchmark, briefly: no figure is judged, but every frame it moves is
# checked (sequence, checksum, none lost where it must lose none).
bench() {
	"$build/bench/shmbench" --help >/dev/null || return 1
	"$build/bench/shmbench" --sizes 12 >/dev/null 2>&1
	[ $? -eq 2 ] || { echo "# --sizes 12: not refused with status 2"; return 1; }
	"$build/bench/shmbench" --quick --sizes 64,921600 --json /tmp/shmbench.json \
		>/tmp/shmbench.out 2>&1
	rc=$?
	sed 's/^/# /' /tmp/shmbench.out
	[ "$rc" -eq 0 ] && python3 -c 'import json, sys; r = json.load(open(sys.argv[1]));
sys.exit(0 if r["ok"] and len(r["latency"]) == 14 and len(r["throughput"]) == 6 else 1)' \
		/tmp/shmbench.json
}
check "benchmark (shmbench --quick): frames intact, results written" bench
# shmbench --read (its C reader alone, against --serve in another shmbench):
# every frame of a run taken; more than --frames refused with status 1; bad
# options and a descriptor that is no eventfd refused with status 2.
bench_read() {
	/usr/bin/python3 - "$build/bench/shmbench" <<'PY'
import os, subprocess, sys
sb = sys.argv[1]
def run(*args, fds=()):
    return subprocess.run([sb, *args], pass_fds=fds, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
def pair(served, read):
    efd = os.eventfd(0)
    p = subprocess.Popen([sb, "--serve", str(efd), "--sizes", "64", "--frames", str(served),
                          "--gap-us", "0", "--budget", "10"], pass_fds=(efd,),
                         stdout=subprocess.PIPE, text=True)
    name = p.stdout.readline().strip()
    r = run("--read", f"{efd}:{name}", "--frames", str(read), fds=(efd,))
    p.kill(); p.wait(); p.stdout.close(); os.close(efd)
    return r
fails = []
def expect(what, ok):
    print(f"# {what}: {'ok' if ok else 'FAILED'}")
    fails.extend([] if ok else [what])
r = pair(20, 20)
expect("20 frames served, 20 read: status 0, every frame", r.returncode == 0 and
       r.stdout.startswith("frames 20 bad 0 p50 "))
r = pair(50, 10)
expect("50 served, --frames 10: status 1, 10 taken, EOVERFLOW said", r.returncode == 1 and
       r.stdout.startswith("frames 10 bad 0 ") and "Value too large" in r.stderr)
expect("--serve with --read: status 2", run("--serve", "0", "--read", "0:x").returncode == 2)
expect("--read without a name: status 2", run("--read", "3:").returncode == 2)
expect("--frames 10000001: status 2", run("--frames", "10000001").returncode == 2)
r = run("--read", "0:x")
expect("--read of a descriptor that is no eventfd: status 2, said",
       r.returncode == 2 and "not an open eventfd" in r.stderr)
sys.exit(1 if fails else 0)
PY
}
check "benchmark (shmbench --read): a served run read whole, bad options refused" bench_read
# The Python consumer's benchmark, briefly: every frame checked, C figures read,
# its latency in two rounds with shmbench's C reader (a ratio each), that C
# reader in a process of its own (--read: every frame, a ratio each), against
# shmbench's own C producer (--serve) and against a Python producer.
pybench() {
	SHMSTREAM_LIBSHMDEV="$build/lib/libshmdev.so.1" PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 "$(dirname "$0")/../tools/bench/pybench.py" --frames 50 \
		--seconds 0.3 --sizes 4096 --c-results /tmp/shmbench.json --json /tmp/pybench.json \
		--shmbench "$build/bench/shmbench" --rounds 2 >/tmp/pybench.out 2>&1
	rc=$?
	sed 's/^/# /' /tmp/pybench.out
	[ "$rc" -eq 0 ] && /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
t = r["results"][0]; sys.exit(0 if r["ok"] and t["latency"]["frames"] == 50 and
t["latency_c_producer"]["frames"] == 50 and t["latency_c_producer"]["complete"] and
t["throughput"]["frames_read"] > 0 and t["c"]["rounds"] == 2 and t["c"]["p50_us"] > 0 and
len(t["python_over_c_p50_rounds"]) == 2 and len(t["consumer_over_c_p50_rounds"]) == 2
and t["c_own_process"]["rounds"] == 2 and t["c_own_process"]["p50_us"] > 0 and
len(t["consumer_own_over_c_p50_rounds"]) == 2 else 1)' /tmp/pybench.json
}
check "benchmark (pybench.py, brief): the Python consumer's frames intact" pybench
# pyshmembench briefly (pyshmem itself is not here): the layer, the native API
# and the two-copies floor each take every frame over two rounds, in turn.
pyshmembench() {
	SHMSTREAM_LIBSHMDEV="$build/lib/libshmdev.so.1" PYTHONDONTWRITEBYTECODE=1 \
		/usr/bin/python3 "$(dirname "$0")/../tools/bench/pyshmembench.py" --frames 10 \
		--rounds 2 --warmup 2 --gap-us 500 --sizes 4096 --only compat,native,copies \
		--json /tmp/pyshmembench.json >/tmp/pyshmembench.out 2>&1
	rc=$?
	sed 's/^/# /' /tmp/pyshmembench.out
	[ "$rc" -eq 0 ] && /usr/bin/python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
row = r["results"][0]; kinds = ("compat", "native", "copies")
sys.exit(0 if r["ok"] and all(row[k]["frames"] == 10 and row[k]["lost"] == 0 and
row[k]["p50_us"] > 0 for k in kinds) else 1)' /tmp/pyshmembench.json
}
check "benchmark (pyshmembench.py, brief): each library's frames in turn, none lost" pyshmembench

if grep -q "^shmstream " /proc/modules; then
	check "global counters back to zero" counters_zero
	check "unloads once unused" rmmod shmstream
	check "device node removed" test ! -e /dev/shmstream
fi
tap_done && [ "$ksft_failed" -eq 0 ]
