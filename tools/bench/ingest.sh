#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make bench's camera ingest, where the module is (the guest, or here with
# VM=0, as root): the kernel's vivid camera at 1920x1080 YUYV into a stream
# with shmstreamctl ingest-v4l2, --io mmap (the camera's buffers, each
# frame copied into a slot) against --io dmabuf (the camera writes into the
# slots), FRAMES frames a pass, passes in turn (mmap, dmabuf, mmap, ...).
# The figure is the CPU time of the shmstreamctl process per frame after
# its first (--stats: getrusage, user + system; the setup, which allocates
# the buffers, left out), and dmabuf's over mmap's, from the same run.
# Prints a table, writes OUT/ingest.json. Figures never pass or fail; the
# exit status is 1 when an ingest failed, 0 when vivid is not there (said).
# Usage: tools/bench/ingest.sh BUILD OUT [--frames N] [--passes N]
set -u
build=${1:?usage: ingest.sh BUILD OUT [--frames N] [--passes N]}
out=${2:?usage: ingest.sh BUILD OUT [--frames N] [--passes N]}
shift 2
frames=50
passes=2
while [ $# -gt 0 ]; do
	case $1 in
	--frames) frames=${2:?}; shift 2 ;;
	--passes) passes=${2:?}; shift 2 ;;
	*) echo "ingest.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
ctl=$build/tools/shmstreamctl
size=1920x1080
fps=5 # the most vivid's webcam input gives at 1920x1080

echo
echo "Camera ingest: vivid $size YUYV at $fps frames/s into a stream, $frames frames a pass;"
echo "CPU of shmstreamctl ingest-v4l2 per frame after its first (getrusage, --stats)"
if [ -e /sys/module/vivid ]; then
	echo "ingest: skipped: vivid is loaded already (with settings of its own); rmmod vivid first"
	exit 0
fi
# One device, video capture only, webcam inputs (1920x1080 is a webcam size).
if ! modprobe vivid n_devs=1 node_types=0x1 input_types=0x0 2>/dev/null; then
	echo "ingest: skipped: no vivid module for $(uname -r)"
	exit 0
fi
name=$(grep -l vivid /sys/class/video4linux/video*/name 2>/dev/null | head -n 1)
cam=/dev/$(basename "$(dirname "$name")")
rc=0
results=()
printf '%-12s %5s %8s %14s %10s %10s\n' io pass frames "CPU us/frame" user system
for pass in $(seq "$passes"); do
	for io in mmap dmabuf; do
		if ! "$ctl" ingest-v4l2 "$cam" bench-ingest --io "$io" --size "$size" \
			--format YUYV --fps "$fps" --count "$frames" --ctrl osd_text_mode=2 \
			--stats >"$out/ingest-$io.out" 2>&1; then
			sed 's/^/ingest: /' "$out/ingest-$io.out"
			rc=1
			continue
		fi
		# cpu: T us a frame (user U, system S) over N frames after the first, --io IO
		read -r t u s n < <(sed -n \
			's/^cpu: \([0-9.]*\) us a frame (user \([0-9.]*\), system \([0-9.]*\)) over \([0-9]*\) .*/\1 \2 \3 \4/p' \
			"$out/ingest-$io.out")
		printf '%-12s %5s %8s %14s %10s %10s\n' "--io $io" "$pass" "$n" "$t" "$u" "$s"
		results+=("$io $pass $n $t $u $s")
	done
done
rmmod vivid 2>/dev/null
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
runs = []
for line in sys.stdin:
    if line.strip():
        io, p, n, t, u, s = line.split()
        runs.append({"io": io, "pass": int(p), "frames": int(n), "cpu_us": float(t),
                     "user_us": float(u), "system_us": float(s)})
def per_frame(io):
    rs = [r for r in runs if r["io"] == io]
    n = sum(r["frames"] for r in rs)
    return sum(r["cpu_us"] * r["frames"] for r in rs) / n if n else None
mmap, dmabuf = per_frame("mmap"), per_frame("dmabuf")
res = {"camera": "vivid", "size": sys.argv[1], "format": "YUYV", "fps": int(sys.argv[2]),
       "frames_per_pass": int(sys.argv[3]), "runs": runs, "mmap_cpu_us": mmap,
       "dmabuf_cpu_us": dmabuf, "ratio": dmabuf / mmap if mmap and dmabuf else None}
json.dump(res, open(sys.argv[4], "w"), indent=1)
if res["ratio"]:
    print("--io mmap %.0f us, --io dmabuf %.0f us of CPU a frame: dmabuf/mmap %.2fx"
          % (mmap, dmabuf, res["ratio"]))
' "$size" "$fps" "$frames" "$out/ingest.json"
exit "$rc"
