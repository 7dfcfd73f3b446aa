#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make apps-check, in the guest: a stream reaches applications that do not
# link libshmdev, through Debian's PipeWire, v4l2loopback and ffmpeg.
#
# PipeWire: a daemon with a minimal configuration (tests/apps/pipewire.conf:
# no session bus, no session manager); shmstreamctl pipewire publishes a
# fed stream as a node that pw-dump shows as a Video/Source (media.role
# Camera) with the stream's format, size, name and description; a
# pipewiresrc client, linked with pw-link as a session manager would link
# it, receives 30 frames, each byte for byte a frame that was fed, in
# order; the node goes when the stream's producer does. The other way:
# a PipeWire camera node (videotestsrc ! pipewiresink) read by
# pipewiresrc ! shmstreamsink into a stream, frames intact.
#
# V4L2: v4l2loopback (DKMS-built for this kernel, tests/apps/check.sh)
# with two devices, exclusive_caps=0 and exclusive_caps=1; shmstreamctl
# v4l2-out feeds each; ffmpeg -f v4l2 reads 30 frames, each byte for byte
# a frame that was fed, in order; v4l2-out ends when the producer does.
# With exclusive_caps=1 the device offers capture only while written to.
#
# Each part SKIPs, with the package it needs, when that is missing. Waits
# for what certainly comes are long (a loaded TCG guest): they only bound a
# hang. Prints TAP and a Totals line.
# Usage: tests/apps/apps_test.sh BUILD_DIR
set -u
build=${1:?usage: apps_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
# Each result says when it came: the figures for the README's cost.
eval "$(declare -f tap_result | sed "1s/^tap_result/tap_result_plain/")"
tap_result() {
	tap_result_plain "$@"
	echo "# ${SECONDS} s"
}
ctl=$build/tools/shmstreamctl
work=$(mktemp -d /tmp/apps.XXXXXX)
export GST_REGISTRY=$work/registry.bin GST_PLUGIN_PATH=$build/gst HOME=$work
export GST_DEBUG_NO_COLOR=1
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# shmstreamctl pipewire runs gst-launch-1.0 from PATH, and this tree's
# shmstreamctl is the one the tests mean.
export PATH="$build/tools:$PATH"
patience=300 # seconds: a hang guard, not a time limit
size=96x64
frame=$((96 * 64 * 3)) # RGB24
pids=()

cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap cleanup EXIT

echo "TAP version 13"

# until_ok S CMD...: CMD succeeds (0), or S seconds pass (1)
until_ok() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# frames NAME: frames committed to stream NAME so far
frames() {
	"$ctl" info "$1" --json 2>/dev/null | tr -d ' \n' | grep -o '"frames":[0-9]*' | head -1 |
		cut -d: -f2
}

# refs DIR FIRST LAST: shmstreamctl pattern's frames FIRST..LAST, RGB, as
# DIR/N.ppm: what feed wrote into them.
refs() {
	local dir=$1 n
	mkdir -p "$dir"
	for n in $(seq "$2" "$3"); do
		"$ctl" pattern --size "$size" --frame "$n" -o "$dir/$n.ppm" || return 1
	done
}

# committed NAME: stream NAME has frames
committed() {
	[ "$(frames "$1")" -gt 0 ] 2>/dev/null
}

# start_feed NAME: feed NAME (96x64 RGB24, 15 frames/s) until stopped, and
# wait until it commits
start_feed() {
	"$ctl" feed "$1" --size "$size" --format RGB24 --fps 15 >"$work/feed-$1.out" 2>&1 &
	feed=$!
	pids+=("$feed")
	until_ok "$patience" committed "$1"
}

# stop_feed: the producer goes
stop_feed() {
	kill "$feed" 2>/dev/null
	wait "$feed" 2>/dev/null
}

# ---------------------------------------------------------------- PipeWire
pw_missing=
for c in pipewire pw-dump pw-link gst-launch-1.0 gst-inspect-1.0; do
	command -v "$c" >/dev/null || pw_missing="$pw_missing $c"
done
[ -e "$build/gst/libgstshmstream.so" ] || pw_missing="$pw_missing $build/gst/libgstshmstream.so"
[ -z "$pw_missing" ] && ! gst-inspect-1.0 pipewiresink >/dev/null 2>&1 &&
	pw_missing="$pw_missing pipewiresink"

# pw_node NODE [FIELD...]: the node's properties and format from pw-dump,
# "key=value" a line; 1 when there is no such node
pw_node() {
	timeout 60 pw-dump >"$work/dump.json" 2>/dev/null || return 1
	python3 - "$work/dump.json" "$1" <<'EOF'
import json, sys
for o in json.load(open(sys.argv[1])):
    info = o.get("info") or {}
    props = info.get("props") or {}
    if o.get("type", "").endswith(":Node") and props.get("node.name") == sys.argv[2]:
        for k in ("media.class", "media.role", "node.description"):
            print(f"{k}={props.get(k)}")
        for f in (info.get("params") or {}).get("EnumFormat") or []:
            s = f.get("size") or {}
            print(f"format={f.get('mediaSubtype')} {f.get('format')} "
                  f"{s.get('width')}x{s.get('height')}")
        sys.exit(0)
sys.exit(1)
EOF
}

# pw_port NODE DIRECTION(-o/-i): the node's first port, as pw-link names it
pw_port() {
	pw-link "$2" 2>/dev/null | grep -m1 "^$1:"
}

# pw_read NODE COUNT RAW: a pipewiresrc client named pw-reader, linked to
# NODE, writes COUNT frames to RAW
pw_read() {
	local reader rc out in
	timeout "$patience" gst-launch-1.0 -q pipewiresrc num-buffers="$2" \
		stream-properties="props,node.name=pw-reader" ! fdsink >"$3" 2>"$work/pw-reader.log" &
	reader=$!
	until_ok "$patience" pw_port pw-reader -i || { echo "# no reader port"; return 1; }
	out=$(pw_port "$1" -o)
	in=$(pw_port pw-reader -i)
	echo "# pw-link $out $in"
	pw-link "$out" "$in" || return 1
	wait "$reader"
	rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/#   /' "$work/pw-reader.log" | tail -n 5
	return "$rc"
}

if [ -n "$pw_missing" ]; then
	tap_skip "PipeWire" "missing:$pw_missing (tools/deps.sh apps: pipewire, pipewire-bin, gstreamer1.0-pipewire)"
else
	export XDG_RUNTIME_DIR=$work/xdg
	mkdir -m 700 "$XDG_RUNTIME_DIR"
	pipewire -c "$here/pipewire.conf" >"$work/pipewire.log" 2>&1 &
	daemon=$!
	pids+=("$daemon")
	until_ok "$patience" pw_node Dummy-Driver
	rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/#   /' "$work/pipewire.log" | tail -n 10
	tap_result $rc "pipewire: a daemon with a minimal configuration, no session bus or manager, answers pw-dump"

	start_feed app-pw
	"$ctl" pipewire app-pw --description 'shmstream "test" camera'"'"'s' >"$work/ctl-pw.out" 2>&1 &
	publisher=$!
	pids+=("$publisher")
	until_ok "$patience" pw_node shmstream.app-pw ||
		sed 's/^/#   /' "$work/ctl-pw.out" | tail -n 10
	node=$(pw_node shmstream.app-pw)
	echo "$node" | sed 's/^/# /'
	echo "$node" | grep -qx 'media.class=Video/Source' &&
		echo "$node" | grep -qx 'media.role=Camera' &&
		echo "$node" | grep -qxF "node.description=shmstream \"test\" camera's" &&
		echo "$node" | grep -qx 'format=raw RGB 96x64'
	tap_result $? "pipewire: pw-dump shows the node: Video/Source, Camera, its description, RGB 96x64"

	first=$(frames app-pw)
	pw_read shmstream.app-pw 30 "$work/pw.raw"
	rc=$?
	last=$(frames app-pw)
	# The first frame read may be one the ring or PipeWire's buffers held.
	[ "$rc" -eq 0 ] && refs "$work/pw-refs" $((first > 24 ? first - 24 : 1)) "$last" &&
		"$here/frames.py" "$work/pw.raw" "$frame" 30 "$work/pw-refs" && [ "$rc" -eq 0 ]
	tap_result $? "pipewire: pipewiresrc receives 30 frames, byte for byte frames fed, in order"

	stop_feed
	until_ok "$patience" sh -c "! kill -0 $publisher"
	wait "$publisher"
	rc=$?
	gone=1
	pw_node shmstream.app-pw >/dev/null || gone=0
	echo "# shmstreamctl pipewire: exit $rc; $(cat "$work/ctl-pw.out")"
	[ "$rc" -eq 0 ] && [ "$gone" -eq 0 ]
	tap_result $? "pipewire: the node goes when the stream's producer does (exit 0)"

	# The other way: a PipeWire camera into a stream. videotestsrc's
	# SMPTE bars carry noise that differs from frame to frame, the same
	# in every run: the frames the stream gets are among its first 1800
	# (6 minutes at 5 frames/s, to link the nodes in), in order.
	caps="video/x-raw,format=RGB,width=96,height=64,framerate=5/1"
	gst-launch-1.0 -q videotestsrc num-buffers=1800 ! "$caps" ! fdsink >"$work/camera-refs.raw"
	gst-launch-1.0 -q videotestsrc is-live=true num-buffers=1800 ! "$caps" ! pipewiresink mode=provide \
		stream-properties="props,node.name=test-camera,media.class=Video/Source,media.role=Camera" \
		>"$work/camera.log" 2>&1 &
	camera=$!
	pids+=("$camera")
	"$ctl" create pw-in --slots 8 --size "$frame" >/dev/null
	gst-launch-1.0 -q pipewiresrc stream-properties="props,node.name=pw-ingest" ! \
		shmstreamsink stream=pw-in >"$work/ingest.log" 2>&1 &
	ingest=$!
	pids+=("$ingest")
	"$ctl" dump pw-in -o "$work/in.raw" --count 10 --timeout "$patience" >/dev/null 2>&1 &
	dumper=$!
	rc=1
	if until_ok "$patience" pw_port test-camera -o && until_ok "$patience" pw_port pw-ingest -i; then
		pw-link "$(pw_port test-camera -o)" "$(pw_port pw-ingest -i)" && wait "$dumper" && rc=0
	fi
	kill "$dumper" "$ingest" "$camera" 2>/dev/null
	wait "$ingest" "$camera" 2>/dev/null
	cat "$work"/in-*.raw >"$work/in.raw" 2>/dev/null
	[ "$rc" -eq 0 ] && "$here/frames.py" "$work/in.raw" "$frame" 10 "$work/camera-refs.raw"
	tap_result $? "pipewire: a camera node into a stream (pipewiresrc ! shmstreamsink): 10 frames intact, in order"
	"$ctl" destroy pw-in >/dev/null

	kill "$daemon"
	wait "$daemon" 2>/dev/null
fi

# -------------------------------------------------------------------- V4L2
v4l_missing=
command -v ffmpeg >/dev/null || v4l_missing="$v4l_missing ffmpeg"
modinfo v4l2loopback >/dev/null 2>&1 || v4l_missing="$v4l_missing v4l2loopback.ko"

# caps DEV: the device's capabilities, "capture" and/or "output" a line
caps() {
	python3 - "$1" <<'EOF'
import fcntl, struct, sys
buf = bytearray(104)  # struct v4l2_capability
with open(sys.argv[1], "rb", buffering=0) as f:
    fcntl.ioctl(f, 0x80685600, buf)  # VIDIOC_QUERYCAP
caps, device_caps = struct.unpack_from("<II", buf, 84)
if caps & 0x80000000:  # V4L2_CAP_DEVICE_CAPS
    caps = device_caps
print("\n".join(n for bit, n in ((1, "capture"), (2, "output")) if caps & bit))
EOF
}

# ffmpeg_read DEV COUNT RAW: ffmpeg's v4l2 input, COUNT frames as they
# came (no frame rate conversion) into RAW
ffmpeg_read() {
	timeout "$patience" ffmpeg -hide_banner -nostdin -loglevel error -f v4l2 -i "$1" \
		-frames:v "$2" -fps_mode passthrough -c:v rawvideo -f rawvideo -y "$3" \
		>"$work/ffmpeg.log" 2>&1
	local rc=$?
	[ "$rc" -eq 0 ] || sed 's/^/#   /' "$work/ffmpeg.log" | tail -n 5
	return "$rc"
}

# v4l2_case DEV TAG: feed, v4l2-out to DEV, ffmpeg reads 30 frames; then
# the producer goes and v4l2-out ends
v4l2_case() {
	local dev=$1 tag=$2 out rc first last
	start_feed "app-$tag"
	"$ctl" v4l2-out "app-$tag" "$dev" >"$work/v4l2-out-$tag.out" 2>&1 &
	out=$!
	pids+=("$out")
	# Its first frame written, the device has the format and a frame.
	until_ok "$patience" grep -q " -> $dev: RGB3 96x64" "$work/v4l2-out-$tag.out"
	echo "# $dev while written to: $(caps "$dev" | tr '\n' ' ')"
	first=$(frames "app-$tag")
	ffmpeg_read "$dev" 30 "$work/$tag.raw"
	rc=$?
	last=$(frames "app-$tag")
	[ "$rc" -eq 0 ] && refs "$work/refs-$tag" $((first > 24 ? first - 24 : 1)) "$last" &&
		"$here/frames.py" "$work/$tag.raw" "$frame" 30 "$work/refs-$tag" && [ "$rc" -eq 0 ]
	tap_result $? "v4l2 ($tag): ffmpeg -f v4l2 -i $dev reads 30 frames, byte for byte frames fed, in order"
	stop_feed
	until_ok "$patience" sh -c "! kill -0 $out"
	wait "$out"
	rc=$?
	echo "# shmstreamctl v4l2-out: exit $rc; $(tr '\n' ' ' <"$work/v4l2-out-$tag.out")"
	[ "$rc" -eq 0 ] && grep -q "^wrote [0-9]* frames of app-$tag to $dev" "$work/v4l2-out-$tag.out"
	tap_result $? "v4l2 ($tag): v4l2-out ends when the stream's producer does (exit 0)"
}

if [ -n "$v4l_missing" ]; then
	tap_skip "V4L2 loopback" "missing:$v4l_missing (tools/deps.sh apps: ffmpeg, v4l2loopback-dkms, built by DKMS for $(uname -r))"
else
	# /dev/video40 plain, /dev/video41 with exclusive_caps=1 (what
	# Chrome and WebRTC need to list a device as a camera).
	modprobe v4l2loopback devices=2 video_nr=40,41 exclusive_caps=0,1 \
		card_label=shmstream-plain,shmstream-exclusive
	tap_result $? "v4l2: modprobe v4l2loopback ($(modinfo -n v4l2loopback))"
	until_ok 60 test -c /dev/video40 -a -c /dev/video41
	v4l2_case /dev/video40 plain

	before=$(caps /dev/video41 | tr '\n' ' ')
	ffmpeg_read /dev/video41 1 "$work/none.raw" >/dev/null 2>&1
	refused=$?
	echo "# /dev/video41 (exclusive_caps=1) with no writer: $before; ffmpeg exit $refused"
	[ "$before" = "output " ] && [ "$refused" -ne 0 ]
	tap_result $? "v4l2 (exclusive_caps=1): no capture side until a writer comes"
	v4l2_case /dev/video41 exclusive
	echo "# /dev/video41 once v4l2-out is gone: $(caps /dev/video41 | tr '\n' ' ')"
	rmmod v4l2loopback
	tap_result $? "v4l2: v4l2loopback unloads (no reader or writer left)"
fi

rm -rf "$work"
tap_done
