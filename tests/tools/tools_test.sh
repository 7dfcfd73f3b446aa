#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# shmstreamctl in the guest: load/unload/status through libkmod, every
# command's success path and usage errors, --json output, feed + dump in
# every format checked against the expected pattern, watch, and
# ingest-v4l2 from the vivid virtual camera, copying (--io mmap) and with
# no copy (--io dmabuf; BUILD_DIR/tests/tools/copycount.so counts copies).
# Needs SHMSTREAM_KO (the module) and runs as root; ends with the module
# loaded with defaults.
# No check depends on how fast the guest runs: feeds run until stopped,
# and waits for what certainly comes (a stream, a frame, a screen) are
# long (they only bound a hang).
# Usage: tools_test.sh BUILD_DIR
set -u
build=${1:?usage: tools_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
ctl="$build/tools/shmstreamctl"
ko=${SHMSTREAM_KO:?set SHMSTREAM_KO to the module}
tmp=$(mktemp -d)
patience=300 # seconds: a hang guard, not a time limit
. "$here/../tap.sh"

# t NAME CMD...: a check that must succeed
t() {
	local name=$1 rc
	shift
	"$@" >"$tmp/out" 2>&1
	rc=$?
	tap_result $rc "shmstreamctl: $name"
	[ $rc -eq 0 ] || sed 's/^/#   /' "$tmp/out" | tail -n 15
}

# status_is WANT CMD...: CMD exits with WANT
status_is() {
	local want=$1
	shift
	"$@"
	[ $? -eq "$want" ]
}

# out_has TEXT CMD...: CMD succeeds and prints TEXT
out_has() {
	local text=$1 out
	shift
	out=$("$@" 2>&1) || { echo "$out"; return 1; }
	echo "$out"
	echo "$out" | grep -q -- "$text"
}

json() {
	"$@" | python3 -m json.tool
}

echo "TAP version 13"

# --- the command line
t "--help" out_has "Commands:" "$ctl" --help
t "--version" out_has "shmstreamctl $(cat "$here/../../VERSION")" "$ctl" --version
t "no command: usage error" status_is 2 "$ctl"
t "unknown command: usage error" status_is 2 "$ctl" frobnicate
for c in load unload status list create destroy info watch feed dump ingest-v4l2 v4l2-out \
	pipewire pattern gpu-info gpu-mirror; do
	t "$c --help" out_has "Usage: shmstreamctl $c" "$ctl" "$c" --help
done
t "create without --slots: usage error" status_is 2 "$ctl" create x --size 10
t "create with a bad --mode: usage error" status_is 2 "$ctl" create x --slots 2 --size 10 --mode 9999
t "feed with a bad --size: usage error" status_is 2 "$ctl" feed x --size 7x7
t "feed with an unknown format: usage error" status_is 2 "$ctl" feed x --format MJPG
t "feed with --count 5x: usage error" status_is 2 "$ctl" feed x --count 5x
t "feed with --slots -1: usage error" status_is 2 "$ctl" feed x --slots -1
t "dump with --count 0: usage error" status_is 2 "$ctl" dump x -o a.png --count 0
t "ingest-v4l2 with --fps 2x: usage error" status_is 2 "$ctl" ingest-v4l2 /dev/video0 x --fps 2x
t "ingest-v4l2 with --io userptr: usage error" status_is 2 "$ctl" ingest-v4l2 /dev/video0 x \
	--io userptr
t "ingest-v4l2 --io dmabuf with --slots 2: usage error" status_is 2 "$ctl" ingest-v4l2 \
	/dev/video0 x --io dmabuf --slots 2
t "ingest-v4l2 with --ctrl without a number: usage error" status_is 2 "$ctl" ingest-v4l2 \
	/dev/video0 x --ctrl brightness=
t "ingest-v4l2 with --format MJPEG: usage error" status_is 2 "$ctl" ingest-v4l2 /dev/video0 x \
	--format MJPEG
t "v4l2-out with --fps 0: usage error" status_is 2 "$ctl" v4l2-out x /dev/video0 --fps 0
t "v4l2-out without a device: usage error" status_is 2 "$ctl" v4l2-out x
t "v4l2-out to a device that is no video output fails" status_is 1 "$ctl" v4l2-out x /dev/null
t "pipewire with a bad stream name: usage error" status_is 2 "$ctl" pipewire "a b"
t "pipewire with a bad --node-name: usage error" status_is 2 "$ctl" pipewire x --node-name "a,b"
# The line it runs: the stream's caps come from the frames; the
# description quoted for GstStructure, the structure for gst-launch.
pw_print() {
	local want
	want=$(cat <<'EOS'
gst-launch-1.0 -q shmstreamsrc stream=cam0 eos-on-detach=true framerate=30/1 ! videoconvert ! video/x-raw,format=YUY2 ! pipewiresink mode=provide client-name=shmstreamctl sync=false 'stream-properties="props,node.name=front,node.description=(string)\"Front \\\"door\\\"\",media.class=Video/Source,media.role=Camera"'
EOS
)
	[ "$("$ctl" pipewire cam0 --print --fps 30 --format YUY2 --node-name front \
		--description 'Front "door"')" = "$want" ]
}
t "pipewire --print: the pipeline it runs, the description quoted twice" pw_print
t "pattern with --frame x: usage error" status_is 2 "$ctl" pattern --frame x -o a.ppm
t "dump without -o: usage error" status_is 2 "$ctl" dump x
t "dump to a .gif: usage error" status_is 2 "$ctl" dump x -o a.gif
t "load --param without '=': usage error" status_is 2 "$ctl" load --param max_holds
t "destroy without a name: usage error" status_is 2 "$ctl" destroy

# --- the module through libkmod
t "status: loaded and usable" out_has "usable" "$ctl" status
t "status --json parses" json "$ctl" status --json
exec 9<>/dev/shmstream
t "unload refused while a file is open" status_is 1 "$ctl" unload
t "status: refcount counts the open file" out_has "refcount:   1" "$ctl" status
exec 9>&-
t "unload once unused" out_has "unloaded" "$ctl" unload
t "status: not loaded, no device" out_has "not loaded" "$ctl" status
t "unload when not loaded succeeds" out_has "not loaded" "$ctl" unload
t "load by name: not installed for this kernel" status_is 1 "$ctl" load
t "load --path with a parameter" out_has "with max_holds=5" "$ctl" load --path "$ko" --param max_holds=5
t "the parameter took effect" grep -qx 5 /sys/module/shmstream/parameters/max_holds
t "load twice: already loaded is success" out_has "already loaded" "$ctl" load --path "$ko"
t "unload" "$ctl" unload
t "load --path with defaults" "$ctl" load --path "$ko"
t "default parameter" grep -qx 8 /sys/module/shmstream/parameters/max_holds

# --- streams
t "create" out_has "created" "$ctl" create t-ctl --slots 4 --size 1000 --format RGB24 --width 16 --height 16 --mode 0640
t "create twice fails" status_is 1 "$ctl" create t-ctl --slots 4 --size 1000
t "create with a bad name fails" status_is 1 "$ctl" create "a/b" --slots 4 --size 1000
t "list" out_has "^t-ctl$" "$ctl" list
t "list --json parses" json "$ctl" list --json
t "info" out_has "RGB3 16x16 stride 48" "$ctl" info t-ctl
t "info --json parses" json "$ctl" info t-ctl --json
t "info of a missing stream fails" status_is 1 "$ctl" info nope
t "destroy" out_has "destroyed" "$ctl" destroy t-ctl
t "create with limits on other users' consumers" out_has "created" "$ctl" create t-ctl \
	--slots 4 --size 1000 --max-consumers 20 --user-consumers 4 --user-holds 2
t "info shows the limits" out_has '"max_consumers": 20, "user_consumers": 4, "user_holds": 2' \
	"$ctl" info t-ctl --json
t "destroy" out_has "destroyed" "$ctl" destroy t-ctl
t "create with --user-consumers over --max-consumers fails" status_is 1 "$ctl" create t-ctl \
	--slots 4 --size 1000 --max-consumers 2 --user-consumers 4
t "create with a bad --user-holds: usage error" status_is 2 "$ctl" create t-ctl \
	--slots 4 --size 1000 --user-holds x
t "create with several producers and a stall limit" out_has "created" "$ctl" create t-ctl \
	--slots 4 --size 1000 --producers 3 --stall-ms 500
t "info shows producers and the stall limit" out_has \
	'"producers": 0, "max_producers": 3, "reliable_consumers": 0, "demotions": 0, "stall_ms": 500' \
	"$ctl" info t-ctl --json
t "info says: 0 of 3 producers" out_has "producers: 0 attached, at most 3" "$ctl" info t-ctl
reliable_dump_shows() {
	"$ctl" dump t-ctl -o "$tmp/none.raw" --reliable --timeout "$patience" >/dev/null 2>&1 &
	local pid=$! rc
	info_wait "$ctl" t-ctl '"reliable_consumers":1' "$patience"
	rc=$?
	"$ctl" info t-ctl >"$tmp/info"
	kill $pid
	wait $pid
	cat "$tmp/info"
	[ $rc -eq 0 ] && grep -q "1 reliable" "$tmp/info" &&
		{ [ ! -r /sys/kernel/debug/shmstream/streams ] ||
			grep -q "consumer 0: 0 missed, reliable" "$tmp/info"; }
}
t "info shows a reliable dump as reliable" reliable_dump_shows
t "destroy" out_has "destroyed" "$ctl" destroy t-ctl
t "create with --producers 0: usage error" status_is 2 "$ctl" create t-ctl \
	--slots 4 --size 1000 --producers 0
t "dump --latest --reliable: usage error" status_is 2 "$ctl" dump t-ctl -o a.raw --latest \
	--reliable
t "destroy of a missing stream fails" status_is 1 "$ctl" destroy t-ctl
t "list is empty again" test -z "$("$ctl" list)"

# --- feed + dump, every format: the PNG shows the frame's pattern
# (The feeds run until they are stopped, not for a number of frames that
# a slow guest's dumps could outlast.)
dump_retry() {
	# the stream appears when feed has started
	for _ in $(seq $((patience * 5))); do
		"$ctl" dump "$@" --timeout "$patience" && return 0
		sleep 0.2
	done
	return 1
}
feed_dump() {
	local fmt=$1 tol=$2 grey=$3 frame pid
	"$ctl" feed "t-feed-$fmt" --size 320x240 --format "$fmt" --fps 25 >/dev/null &
	pid=$!
	dump_retry "t-feed-$fmt" -o "$tmp/$fmt.png" >"$tmp/dump" &&
		"$ctl" dump "t-feed-$fmt" -o "$tmp/$fmt.ppm" --latest --timeout "$patience" \
			>/dev/null &&
		"$ctl" dump "t-feed-$fmt" -o "$tmp/$fmt.raw" --timeout "$patience" >"$tmp/dumpraw"
	local rc=$?
	kill $pid
	wait $pid
	[ $rc -eq 0 ] || return 1
	cat "$tmp/dump" "$tmp/dumpraw"
	frame=$(sed -n 's/^frame \([0-9]*\) .*/\1/p' "$tmp/dump")
	[ -n "$frame" ] && [ "$frame" -gt 0 ] || return 1
	"$ctl" pattern --size 320x240 --frame "$frame" -o "$tmp/want.ppm" || return 1
	python3 "$here/pngcmp.py" "$tmp/$fmt.png" "$tmp/want.ppm" --tolerance "$tol" $grey || return 1
	# raw is the frame's own bytes; the PPM is an image
	grep -q "$(stat -c %s "$tmp/$fmt.raw") bytes" "$tmp/dumpraw" &&
		head -c 2 "$tmp/$fmt.ppm" | grep -q P6
}
t "feed RGB24 + dump: PNG is the frame's pattern, exactly" feed_dump RGB24 0 ""
t "feed BGR24 + dump: PNG is the frame's pattern, exactly" feed_dump BGR24 0 ""
t "feed GREY + dump: PNG is the pattern's luma" feed_dump GREY 1 --grey
t "feed YUYV + dump: PNG is the pattern (4:2:2 rounding)" feed_dump YUYV 2 ""
t "feed NV12 + dump: PNG is the pattern (4:2:0 rounding)" feed_dump NV12 2 ""

feed_files() {
	local pid
	"$ctl" pattern --size 160x120 --frame 77 -o "$tmp/in.ppm" || return 1
	"$ctl" feed t-file --size 160x120 --file "$tmp/in.ppm" --fps 25 >/dev/null &
	pid=$!
	dump_retry t-file -o "$tmp/file.png" >/dev/null &&
		"$ctl" dump t-file -o "$tmp/file.raw" --timeout "$patience" >/dev/null
	local rc=$?
	kill $pid
	wait $pid
	[ $rc -eq 0 ] || return 1
	python3 "$here/pngcmp.py" "$tmp/file.png" "$tmp/in.ppm" || return 1
	# A raw frame fed back comes out byte for byte.
	"$ctl" feed t-raw --size 160x120 --file "$tmp/file.raw" --fps 25 >/dev/null &
	pid=$!
	dump_retry t-raw -o "$tmp/back.raw" >/dev/null
	rc=$?
	kill $pid
	wait $pid
	[ $rc -eq 0 ] && cmp "$tmp/file.raw" "$tmp/back.raw" &&
		status_is 1 "$ctl" feed t-bad --size 320x240 --file "$tmp/in.ppm" --count 1
}
t "feed --file: a PPM image and raw frames arrive intact; a wrong size fails" feed_files

# A reliable dump of a feed as fast as it can go gets 40 frames in a row;
# an ordinary one, as slow (it writes a file a frame), misses some.
dump_reliable() {
	local pid seqs
	"$ctl" feed t-rel --size 64x48 --fps 100000 --slots 2 >/dev/null &
	pid=$!
	dump_retry t-rel -o "$tmp/rel.raw" --reliable --count 40 >"$tmp/rel" &&
		"$ctl" dump t-rel -o "$tmp/ord.raw" --count 40 --timeout "$patience" >"$tmp/ord"
	local rc=$?
	kill $pid
	wait $pid
	[ $rc -eq 0 ] || return 1
	seqs=$(sed -n 's/^frame \([0-9]*\) .*/\1/p' "$tmp/rel")
	echo "# reliable: $(echo $seqs | head -c 200)"
	[ "$(echo "$seqs" | wc -l)" -eq 40 ] &&
		[ "$(echo "$seqs" | tail -n 1)" -eq $(($(echo "$seqs" | head -n 1) + 39)) ] || return 1
	seqs=$(sed -n 's/^frame \([0-9]*\) .*/\1/p' "$tmp/ord")
	echo "# ordinary: $(echo $seqs | head -c 200)"
	[ "$(echo "$seqs" | tail -n 1)" -gt $(($(echo "$seqs" | head -n 1) + 39)) ]
}
t "dump --reliable of a full-speed feed: 40 frames in a row" dump_reliable

# wait_frames NAME: until stream NAME has had a frame (at most $patience s)
wait_frames() {
	info_wait "$ctl" "$1" '"frames":[1-9]' "$patience" || { echo "# $1: no frame"; return 1; }
}
watch_runs() {
	"$ctl" feed t-watch --size 64x48 --fps 20 >/dev/null &
	local pid=$!
	wait_frames t-watch
	"$ctl" watch --count 2 >"$tmp/watch"
	local rc=$?
	kill $pid
	wait $pid
	cat "$tmp/watch"
	[ $rc -eq 0 ] && grep -q "FRAMES/S" "$tmp/watch" && grep -q "^t-watch " "$tmp/watch"
}
t "watch --count 2 shows a live stream" watch_runs

# In a terminal (a pty from script(1)): q quits, and so does Ctrl-C. Each
# comes once watch shows its screen (its terminal mode and its signal
# handlers are set by then); a watch that ignored them would run into the
# hang guard (exit status 124).
# screen_up FILE: until FILE shows watch's screen (at most $patience s)
screen_up() {
	for _ in $(seq $((patience * 10))); do
		grep -q "q or Ctrl-C to quit" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
watch_keys() {
	local pid
	rm -f "$tmp/wq" "$tmp/wc"
	(screen_up "$tmp/wq"; printf q) |
		timeout "$patience" script -qec "$ctl watch" /dev/null >"$tmp/wq" || return 1
	grep -q "q or Ctrl-C to quit" "$tmp/wq" || return 1
	timeout "$patience" script -qec "$ctl watch" /dev/null </dev/null >"$tmp/wc" 2>&1 &
	pid=$!
	screen_up "$tmp/wc" || return 1
	pkill -INT -f "^$ctl watch\$" || return 1
	wait $pid
}
t "watch in a terminal quits on q and on Ctrl-C" watch_keys

# --- CUDA bridge: without a driver, and with the fake driver of tests/cuda
fake="$build/tests/cuda/fake"
if ldconfig -p | grep -q 'libcuda\.so\.1 '; then
	tap_skip "shmstreamctl: gpu-info without a CUDA driver" "a CUDA driver is installed here"
else
	# A library built without cuda.h (a machine without the CUDA toolkit:
	# make check leaves no tests/cuda then) says that instead.
	why="no CUDA driver"
	[ -d "$build/tests/cuda" ] || why="built without the CUDA bridge (no cuda.h)"
	nocuda() {
		"$ctl" gpu-info
		[ $? -eq 1 ] && "$ctl" gpu-info 2>&1 | grep -qF "$why"
	}
	t "gpu-info without a CUDA driver: exit 1, says why ($why)" nocuda
fi
if [ -e "$fake/libcuda.so.1" ]; then
	t "gpu-info (fake driver): device and zero-copy paths" out_has \
		"pinned host path: producer zero-copy, consumer zero-copy" \
		env LD_LIBRARY_PATH="$fake" "$ctl" gpu-info
	gpuinfo_json() {
		LD_LIBRARY_PATH="$fake" "$ctl" gpu-info --json >"$tmp/gpu.json" || return 1
		python3 - "$tmp/gpu.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
assert g["available"] and g["driver_version"] >= 12000, g
d = g["devices"][0]
assert "FAKE" in d["name"] and d["mirror_fd"] and d["mirror_legacy"], d
PY
	}
	t "gpu-info --json (fake driver)" gpuinfo_json
	t "gpu-info (fake driver, no GPU): exit 1" status_is 1 \
		env LD_LIBRARY_PATH="$fake" FAKE_CUDA_DEVICES=0 "$ctl" gpu-info
	t "gpu-mirror of a missing stream: exit 1" status_is 1 \
		env LD_LIBRARY_PATH="$fake" "$ctl" gpu-mirror t-no-such-stream
	t "gpu-mirror --slots 1: usage error" status_is 2 "$ctl" gpu-mirror x --slots 1
	mirror() {
		local pid rc out
		# The ring holds the 50 frames: the bridge cannot miss one.
		"$ctl" create t-gpu --slots 50 --size 65536 >/dev/null || return 1
		LD_LIBRARY_PATH="$fake" "$ctl" gpu-mirror t-gpu --slots 3 >"$tmp/mirror" 2>&1 &
		pid=$!
		# Running (however long it took to start) before the second one.
		for _ in $(seq $((patience * 10))); do
			grep -q "exported as" "$tmp/mirror" && break
			sleep 0.1
		done
		grep -q "exported as" "$tmp/mirror" || { kill $pid; wait $pid; return 1; }
		# A second bridge for the same stream and device is refused.
		LD_LIBRARY_PATH="$fake" "$ctl" gpu-mirror t-gpu >"$tmp/mirror2" 2>&1
		rc=$?
		"$ctl" feed t-gpu --size 64x64 --fps 50 --count 50 >/dev/null &&
			"$ctl" destroy t-gpu
		wait $pid || return 1
		cat "$tmp/mirror" "$tmp/mirror2"
		[ $rc -eq 1 ] && grep -q "runs already" "$tmp/mirror2" || return 1
		grep -q "upload from the host ring: zero-copy" "$tmp/mirror" &&
			grep -q "exported as: ipc-fd ipc-legacy ipc-event" "$tmp/mirror" &&
			grep -q "^gpu-mirror: 50 frames (614400 bytes) mirrored, 0 dropped" "$tmp/mirror"
	}
	t "gpu-mirror (fake driver): every fed frame mirrored, exits when destroyed" mirror
else
	tap_skip "shmstreamctl: gpu-info/gpu-mirror with the fake driver" "not built (no cuda.h)"
fi

# --- V4L2: vivid's virtual camera
# vivid_cam: vivid's capture node
vivid_cam() {
	local name
	name=$(grep -l vivid /sys/class/video4linux/video*/name 2>/dev/null | head -n 1)
	echo "/dev/$(basename "$(dirname "$name")")"
}
if modprobe vivid n_devs=1 node_types=0x1 input_types=0x1 2>/dev/null; then
	cam=$(vivid_cam)
	ingest() {
		# A cheap mode: vivid's thread warns when an emulated CPU falls behind.
		# It runs until stopped: the stream lives while we look at it.
		"$ctl" ingest-v4l2 "$cam" t-cam --size 320x180 --fps 5 &
		local pid=$!
		local prev=-1 seqs
		dump_retry t-cam -o "$tmp/cam.raw" --count 5 >"$tmp/cam" &&
			"$ctl" info t-cam --json >"$tmp/caminfo"
		local rc=$?
		kill -TERM $pid
		wait $pid || return 1
		[ $rc -eq 0 ] || return 1
		cat "$tmp/cam" "$tmp/caminfo"
		seqs=$(sed -n 's/^frame \([0-9]*\) .*/\1/p' "$tmp/cam")
		[ "$(echo "$seqs" | wc -l)" -eq 5 ] || return 1
		for s in $seqs; do
			[ "$s" -gt "$prev" ] || return 1
			prev=$s
		done
		python3 - "$tmp/caminfo" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["fourcc"] not in ("none", "") and info["width"] > 0 and info["height"] > 0, info
assert info["stride"] >= info["width"], info
assert (info["width"], info["height"]) == (320, 180), info
PY
	}
	t "ingest-v4l2 from vivid: increasing sequences, the camera's format" ingest

	# --io mmap against --io dmabuf. vivid's webcam input (input 1: input 0
	# is a TV input, whose first line changes from frame to frame) with no
	# text on the image draws each frame from its sequence number alone: its
	# colour bars move right by a step a frame, counted from STREAMON. So a
	# frame of one way must be byte for byte the frame of the other with the
	# same sequence number (the frame's metadata, which dump prints), and a
	# frame in the wrong slot, or not yet written, shows. The dumps read the
	# first frames from the ring's history (--history), both from sequence 0.
	# Each runs under copycount.so (tests/tools/copycount.c), which counts
	# the copies of at least a frame's bytes the process asks for (memcpy,
	# memmove and kin from the program or its libraries, and read/write of
	# that many bytes, a copy made by the kernel): the mmap way copies each
	# frame once, which shows that such a copy is seen; the dmabuf way must
	# make none while its frames arrive intact, which only the camera
	# writing into the slots themselves can do.
	copycount=$build/tests/tools/copycount.so
	frame_bytes=$((320 * 180 * 2)) # the image's; vivid pads its lines, frames are larger
	# ingest_io NAME ARGS...: the first 8 frames of ingest-v4l2 ARGS in
	# $tmp/NAME/f-000N.raw; "SEQUENCE SUM" of each in sums, its copies in copies
	ingest_io() {
		local dir=$tmp/$1 pid rc
		shift
		mkdir -p "$dir"
		env COPYCOUNT_MIN="$frame_bytes" COPYCOUNT_OUT="$dir/copies" LD_PRELOAD="$copycount" \
			"$ctl" ingest-v4l2 "$cam" t-io --input 1 --size 320x180 --format YUYV --fps 2 \
			--slots 32 --ctrl osd_text_mode=2 --ctrl horizontal_movement=5 \
			--ctrl vertical_movement=3 "$@" >"$dir/ingest" 2>&1 &
		pid=$!
		dump_retry t-io -o "$dir/f.raw" --count 8 --reliable --history 28 >"$dir/dump"
		rc=$?
		kill -TERM $pid
		wait $pid || rc=1
		cat "$dir/dump" "$dir/ingest" "$dir/copies"
		[ $rc -eq 0 ] && [ "$(grep -c " bytes) -> " "$dir/dump")" -eq 8 ] || return 1
		sed -n 's/^frame \([0-9]*\) .* -> \(.*\)$/\1 \2/p' "$dir/dump" |
			while read -r seq file; do
				echo "$seq $(sha256sum <"$file" | cut -c1-64)"
			done >"$dir/sums"
		[ "$(head -c 2 "$dir/sums")" = "0 " ] || { echo "# not from sequence 0"; return 1; }
	}
	# copies_are NAME OP: NAME's copycount's copies OP the frames it ingested (8 or more)
	copies_are() {
		local frames copies
		frames=$(sed -n 's/^ingested \([0-9]*\) frames .*/\1/p' "$tmp/$1/ingest")
		copies=$(sed -n 's/^copies \([0-9]*\) .*/\1/p' "$tmp/$1/copies")
		echo "# $1: $frames frames ingested, $copies copies of $frame_bytes bytes or more"
		[ -n "$frames" ] && [ -n "$copies" ] && [ "$frames" -ge 8 ] || return 1
		case $2 in
		none) [ "$copies" -eq 0 ] ;;
		each) [ "$copies" -ge "$frames" ] ;;
		esac
	}
	# same_frames A B: each of A's 8 frames is B's of the same sequence, byte
	# for byte; they are images, and not all the same (the bars move)
	same_frames() {
		join <(sort "$tmp/$1/sums") <(sort "$tmp/$2/sums") >"$tmp/joined"
		cat "$tmp/joined"
		[ "$(awk '$2 == $3' "$tmp/joined" | wc -l)" -eq 8 ] &&
			[ "$(cut -d' ' -f2 "$tmp/joined" | sort -u | wc -l)" -ge 2 ] &&
			python3 -c 'import sys; f = open(sys.argv[1], "rb").read()
sys.exit(0 if len(set(f)) > 16 else 1)' "$tmp/$1/f-0001.raw"
	}
	if [ -e "$copycount" ]; then
		t "ingest-v4l2 --io mmap: the first 8 frames, bars moving" ingest_io mmap --io mmap
		t "ingest-v4l2 --io mmap: copycount sees each frame copied" copies_are mmap each
		t "ingest-v4l2 --io dmabuf: the first 8 frames, bars moving" ingest_io dmabuf \
			--io dmabuf
		t "ingest-v4l2 --io dmabuf: no copy of a frame's size in the process" \
			copies_are dmabuf none
		t "ingest-v4l2 --io dmabuf: each frame byte for byte --io mmap's" \
			same_frames dmabuf mmap
		no_dmabuf() {
			env COPYCOUNT_NO_DMABUF=1 LD_PRELOAD="$copycount" "$ctl" ingest-v4l2 "$cam" \
				t-io --io dmabuf --count 1 >"$tmp/nodma" 2>&1
			local rc=$?
			cat "$tmp/nodma"
			[ $rc -eq 1 ] && grep -q "does not import dma-bufs" "$tmp/nodma" &&
				grep -q -- "use --io mmap" "$tmp/nodma" &&
				status_is 1 "$ctl" info t-io 2>/dev/null
		}
		t "ingest-v4l2 --io dmabuf, a camera without dma-buf import: exit 1, says so" \
			no_dmabuf
	else
		tap_skip "shmstreamctl: ingest-v4l2 --io mmap and --io dmabuf" \
			"$copycount not built (make tools-tests)"
	fi
	no_ctrl() {
		"$ctl" ingest-v4l2 "$cam" t-io --ctrl no_such_control=1 --count 1 >"$tmp/noctrl" 2>&1
		local rc=$?
		cat "$tmp/noctrl"
		[ $rc -eq 1 ] && grep -q "no_such_control: the camera has no such control" \
			"$tmp/noctrl" && grep -q "osd_text_mode" "$tmp/noctrl"
	}
	t "ingest-v4l2 --ctrl the camera lacks: exit 1, lists the camera's" no_ctrl
	t "ingest-v4l2 --ctrl out of range: exit 1" status_is 1 "$ctl" ingest-v4l2 "$cam" t-io \
		--ctrl osd_text_mode=9 --count 1
	rmmod vivid 2>/dev/null

	# A vb2-dma-contig queue (vivid allocators=1) imports only physically
	# contiguous buffers: slots made with --contiguous.
	if [ -e "$tmp/mmap/sums" ] &&
		modprobe vivid n_devs=1 node_types=0x1 input_types=0x1 allocators=1 2>/dev/null; then
		cam=$(vivid_cam)
		t "ingest-v4l2 --io dmabuf --contiguous into a vb2-dma-contig camera: --io mmap's frames" \
			eval 'ingest_io contig --io dmabuf --contiguous && same_frames contig mmap &&
				copies_are contig none'
		rmmod vivid 2>/dev/null
	else
		tap_skip "shmstreamctl: ingest-v4l2 --contiguous into vb2-dma-contig" \
			"no frames of --io mmap, or no vivid allocators=1"
	fi
else
	tap_skip "shmstreamctl: ingest-v4l2 from vivid" "vivid module not available"
fi

# --- dma-bufs (ABI 2.3): create --contiguous; info's dma-bufs, the stream's
# and (from debugfs) each consumer's and producer's. A Python helper (the
# tree's package) attaches a consumer and a producer and exports slots.
dmabuf_py=(env PYTHONPATH="$here/../../python" SHMSTREAM_LIBSHMDEV="$build/lib/libshmdev.so.1"
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3)
if ! "${dmabuf_py[@]}" -c 'import shmstream, sys
if not shmstream.Device().version()["features"] & shmstream._lib.FEAT_DMABUF:
    sys.exit("the module has no SHMSTREAM_FEAT_DMABUF")' 2>"$tmp/dmabuf-why"; then
	tap_skip "shmstreamctl: create --contiguous, info's dma-bufs" \
		"$(tail -n 1 "$tmp/dmabuf-why")"
else
	t "create --help has --contiguous" out_has "--contiguous" "$ctl" create --help
	t "create --contiguous" out_has "created t-dmabuf: 4 slots of 65536 bytes, physically contiguous" \
		"$ctl" create t-dmabuf --slots 4 --size 65536 --contiguous
	t "info: no dma-buf yet, slots contiguous" out_has \
		"dma-bufs:  0 exported; slots physically contiguous" "$ctl" info t-dmabuf
	t "info --json: dmabufs 0, contiguous" out_has '"dmabufs": 0, "contiguous": true,' \
		"$ctl" info t-dmabuf --json
	dmabuf_info() {
		rm -f "$tmp/dmabuf-ready"
		# A simple command: $! is python's own pid (env execs it), which
		# the kill below ends.
		"${dmabuf_py[@]}" - t-dmabuf "$tmp/dmabuf-ready" <<'PY' &
import sys, time, shmstream
c = shmstream.Stream.open(sys.argv[1])
p = shmstream.Stream.open(sys.argv[1], "producer")
c.dmabuf_fd(0), c.dmabuf_fd(1), p.dmabuf_fd(3)
open(sys.argv[2], "w").close()
time.sleep(600)
PY
		local pid=$! rc=1
		for _ in $(seq $((patience * 10))); do
			[ -e "$tmp/dmabuf-ready" ] && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.1
		done
		if [ -e "$tmp/dmabuf-ready" ]; then
			"$ctl" info t-dmabuf >"$tmp/dmabuf-info" &&
				"$ctl" info t-dmabuf --json >>"$tmp/dmabuf-info"
			rc=$?
		fi
		kill $pid
		wait $pid
		cat "$tmp/dmabuf-info"
		[ $rc -eq 0 ] && grep -q "^dma-bufs:  3 exported; slots physically contiguous" \
			"$tmp/dmabuf-info" && grep -q '"dmabufs": 3, "contiguous": true' "$tmp/dmabuf-info" &&
			{ [ ! -r /sys/kernel/debug/shmstream/streams ] ||
				{ grep -q "^  consumer 0: 0 missed, 2 dma-bufs$" "$tmp/dmabuf-info" &&
					grep -q "^  producer 0: 0 committed, 0 pending, 1 dma-buf$" \
						"$tmp/dmabuf-info" &&
					grep -q '"consumer_dmabufs": \[2\], "producer_dmabufs": \[1\]' \
						"$tmp/dmabuf-info"; }; }
	}
	t "info shows the dma-bufs a consumer and a producer exported" dmabuf_info
	dmabuf_gone() {
		"$ctl" info t-dmabuf >"$tmp/dmabuf-info" && "$ctl" info t-dmabuf --json >>"$tmp/dmabuf-info" ||
			return 1
		cat "$tmp/dmabuf-info"
		grep -q "^dma-bufs:  0 exported" "$tmp/dmabuf-info" &&
			! grep -q "^  \(consumer\|producer\) " "$tmp/dmabuf-info" &&
			grep -q '"consumer_dmabufs": \[\], "producer_dmabufs": \[\]' "$tmp/dmabuf-info"
	}
	t "the dma-bufs go with the process that held them" dmabuf_gone
	t "destroy the contiguous stream" out_has "destroyed" "$ctl" destroy t-dmabuf
	t "create --contiguous, a slot over the largest block: runtime error" status_is 1 \
		"$ctl" create t-dmabuf --slots 1 --size $((64 << 20)) --contiguous
	t "info of a stream made without --contiguous" out_has "slots not physically contiguous" \
		sh -c "\"$ctl\" create t-dmabuf --slots 2 --size 4096 >/dev/null &&
			\"$ctl\" info t-dmabuf; \"$ctl\" destroy t-dmabuf >/dev/null"
	t "list is empty after the dma-buf checks" test -z "$("$ctl" list)"
fi

rm -rf "$tmp"
tap_done
