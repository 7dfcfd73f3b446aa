#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The GStreamer elements in the guest (make check): the plugin registers
# with its properties; 300 frames of 640x480 RGB from videotestsrc through
# shmstreamsink and back out of shmstreamsrc arrive intact (MD5 of the raw
# frames against videotestsrc's own); the caps round-trip for every format;
# stream -> RTP over UDP on 127.0.0.1 -> stream; shmstreamctl feed read by
# shmstreamsrc, shmstreamsink read by shmstreamctl dump and by a libshmdev
# consumer; a producer that goes away (EOS with eos-on-detach); missed
# frames counted. Prints TAP and a Totals line.
# Usage: tests/gst/gst_test.sh BUILD_DIR
set -u
build=${1:?usage: gst_test.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
ctl=$build/tools/shmstreamctl
work=$(mktemp -d /tmp/gst.XXXXXX)
export GST_REGISTRY=$work/registry.bin GST_PLUGIN_PATH=$build/gst HOME=$work
export GST_DEBUG_NO_COLOR=1
# The plugin has no rpath: it finds the tree's libshmdev here.
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if ! command -v gst-launch-1.0 >/dev/null || [ ! -e "$build/gst/libgstshmstream.so" ]; then
	tap_skip "GStreamer elements" "no gst-launch-1.0 or no plugin built (tools/deps.sh installs GStreamer)"
	tap_done
	exit $?
fi

launch() {
	# launch [TIMEOUT] PIPELINE...: gst-launch-1.0 quietly, killed after TIMEOUT s
	timeout 120 gst-launch-1.0 -q "$@"
}

# The MD5 of what a pipeline writes to stdout (fdsink).
md5() {
	launch "$@" ! fdsink | md5sum | cut -d' ' -f1
}

# wait_for NAME FIELD VALUE: until shmstreamctl info --json shows it (10 s).
wait_for() {
	for _ in $(seq 100); do
		"$ctl" info "$1" --json 2>/dev/null | tr -d ' \n' | grep -q "\"$2\":$3[,}]" && return 0
		sleep 0.1
	done
	echo "# $1: $2 did not become $3"
	return 1
}

# 1. The plugin and its documented properties.
out=$(gst-inspect-1.0 shmstreamsrc 2>&1)
rc=0
for p in stream mode eos-on-detach framerate missed frames num-buffers do-timestamp; do
	echo "$out" | grep -q "^  $p " || { echo "# shmstreamsrc: no property $p"; rc=1; }
done
out=$(gst-inspect-1.0 shmstreamsink 2>&1)
for p in stream slots destroy-on-stop frames in-place sync; do
	echo "$out" | grep -q "^  $p " || { echo "# shmstreamsink: no property $p"; rc=1; }
done
for f in RGB BGR GRAY8 YUY2 NV12 I420; do
	echo "$out" | grep -q "$f" || { echo "# shmstreamsink: no $f in its caps"; rc=1; }
done
tap_result $rc "gst-inspect-1.0 shows shmstreamsrc and shmstreamsink with their properties and formats"

# 2. 300 frames of 640x480 RGB, intact. The reader is attached before the
# first frame; the writer paces itself at 20 fps and the ring holds 64
# frames (3 s), so that even a slow guest's reader keeps up (its QoS
# messages say when it did not: at 50 fps the debug kernel's did not).
caps="video/x-raw,format=RGB,width=640,height=480,framerate=20/1"
ref=$(md5 videotestsrc num-buffers=300 pattern=ball ! "$caps")
"$ctl" create gst-t --slots 64 --size 921600 >/dev/null
(GST_DEBUG=shmstream:4 timeout 300 gst-launch-1.0 -m shmstreamsrc stream=gst-t num-buffers=300 \
	! fdsink fd=3 3>&1 1>"$work/msgs" 2>"$work/src.log" | md5sum | cut -d' ' -f1 >"$work/got") &
reader=$!
wait_for gst-t consumers 1
launch videotestsrc num-buffers=300 pattern=ball ! "$caps" ! shmstreamsink stream=gst-t sync=true
wait $reader
got=$(cat "$work/got")
info=$("$ctl" info gst-t --json | tr -d ' \n')
echo "# videotestsrc $ref, through the stream $got; $(grep -c '(qos)' "$work/msgs") QoS messages"
frames=$(echo "$info" | grep -o '"frames":[0-9]*' | head -1)
[ "$got" = "$ref" ] && [ "$frames" = '"frames":300' ]
tap_result $? "300 frames of 640x480 RGB: shmstreamsink -> shmstreamsrc, every byte intact"
wrapped=$(grep -o '[0-9]* frames pushed, [0-9]* of them wrapping the slot' "$work/src.log")
echo "# shmstreamsrc: $wrapped"
[ "$wrapped" = "300 frames pushed, 300 of them wrapping the slot" ]
tap_result $? "shmstreamsrc pushed every frame as a buffer wrapping the mapped slot (no copy)"
"$ctl" destroy gst-t >/dev/null

# 3. Caps round trip for every format: format, width and height come back
# from the stream's frame descriptors, and the bytes are the same.
for f in RGB BGR GRAY8 YUY2 NV12 I420; do
	caps="video/x-raw,format=$f,width=64,height=48,framerate=30/1"
	ref=$(md5 videotestsrc num-buffers=20 pattern=ball ! "$caps")
	"$ctl" create gst-c --slots 16 --size 9216 >/dev/null
	timeout 120 gst-launch-1.0 -v shmstreamsrc stream=gst-c num-buffers=20 ! fakesink \
		>"$work/caps.out" 2>&1 &
	launch shmstreamsrc stream=gst-c num-buffers=20 ! fdsink | md5sum | cut -d' ' -f1 >"$work/got" &
	reader=$!
	wait_for gst-c consumers 2
	launch videotestsrc num-buffers=20 pattern=ball ! "$caps" ! shmstreamsink stream=gst-c sync=true
	wait
	got=$(cat "$work/got")
	negotiated=$(grep -o 'shmstreamsrc0.GstPad:src: caps = .*' "$work/caps.out" | tail -1)
	echo "# $f: $negotiated; videotestsrc $ref, through the stream $got"
	echo "$negotiated" | grep -q "format=(string)$f, width=(int)64, height=(int)48" &&
		[ "$got" = "$ref" ]
	tap_result $? "caps round trip: $f 64x48, frames intact"
	"$ctl" destroy gst-c >/dev/null
done

# 4. Over the network: stream gst-n1 -> shmstreamsrc -> rtpvrawpay -> UDP
# on 127.0.0.1 -> rtpvrawdepay -> shmstreamsink -> stream gst-n2.
# The guest's loopback interface, and room in the socket for whole frames.
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null
echo 8388608 >/proc/sys/net/core/rmem_max 2>/dev/null
caps="video/x-raw,format=RGB,width=320,height=240,framerate=10/1"
rtp="application/x-rtp,media=video,clock-rate=90000,encoding-name=RAW,sampling=RGB,depth=(string)8,width=(string)320,height=(string)240,payload=96"
ref=$(md5 videotestsrc num-buffers=40 pattern=ball ! "$caps")
"$ctl" create gst-n1 --slots 16 --size 230400 >/dev/null
"$ctl" create gst-n2 --slots 16 --size 230400 >/dev/null
md5 shmstreamsrc stream=gst-n2 num-buffers=40 >"$work/got" &
reader=$!
gst-launch-1.0 -q udpsrc address=127.0.0.1 port=50962 buffer-size=8388608 caps="$rtp" ! \
	rtpvrawdepay ! queue ! shmstreamsink stream=gst-n2 &
receiver=$!
gst-launch-1.0 -q shmstreamsrc stream=gst-n1 ! rtpvrawpay mtu=8000 ! \
	udpsink host=127.0.0.1 port=50962 sync=false &
sender=$!
wait_for gst-n1 consumers 1 && wait_for gst-n2 consumers 1 && wait_for gst-n2 producer true
sleep 1
launch videotestsrc num-buffers=40 pattern=ball ! "$caps" ! shmstreamsink stream=gst-n1 sync=true
for _ in $(seq 300); do
	kill -0 "$reader" 2>/dev/null || break
	sleep 0.1
done
kill "$reader" 2>/dev/null
wait "$reader"
kill "$sender" "$receiver" 2>/dev/null
wait "$sender" "$receiver" 2>/dev/null
got=$(cat "$work/got")
echo "# RTP loopback: sent $ref, received $got"
[ "$got" = "$ref" ]
tap_result $? "stream -> rtpvrawpay/udpsink 127.0.0.1 -> udpsrc/rtpvrawdepay -> stream: 40 frames intact"
"$ctl" destroy gst-n1 >/dev/null
"$ctl" destroy gst-n2 >/dev/null

# 5. shmstreamctl feed read by shmstreamsrc, checked against a dump of the
# same frames by shmstreamctl.
"$ctl" create gst-f --slots 16 --size 9216 >/dev/null
md5 shmstreamsrc stream=gst-f num-buffers=30 >"$work/got" &
reader=$!
"$ctl" dump gst-f -o "$work/feed.raw" --count 30 --timeout 60 >/dev/null &
dumper=$!
wait_for gst-f consumers 2
"$ctl" feed gst-f --size 64x48 --format RGB24 --fps 30 --count 30 >/dev/null
wait "$reader" "$dumper"
got=$(cat "$work/got")
dumped=$(cat "$work"/feed-*.raw | md5sum | cut -d' ' -f1)
echo "# shmstreamctl feed: shmstreamsrc $got, shmstreamctl dump $dumped"
[ "$got" = "$dumped" ] && [ "$(ls "$work"/feed-*.raw | wc -l)" -eq 30 ]
tap_result $? "shmstreamctl feed -> shmstreamsrc: the 30 frames shmstreamctl dump sees"
"$ctl" destroy gst-f >/dev/null

# 6. shmstreamsink read by shmstreamctl dump and by a libshmdev consumer.
caps="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
ref=$(md5 videotestsrc num-buffers=30 pattern=ball ! "$caps")
"$ctl" create gst-d --slots 16 --size 3072 >/dev/null
"$ctl" dump gst-d -o "$work/sink.raw" --count 30 --timeout 60 >/dev/null &
dumper=$!
"$build/examples/consumer" gst-d >"$work/consumer.out" 2>&1 &
consumer=$!
wait_for gst-d consumers 2
GST_DEBUG=shmstream:4 launch videotestsrc num-buffers=30 pattern=ball ! "$caps" ! \
	shmstreamsink stream=gst-d sync=true destroy-on-stop=true 2>"$work/sink.log"
wait "$dumper"
wait "$consumer"
dumped=$(cat "$work"/sink-*.raw | md5sum | cut -d' ' -f1)
echo "# shmstreamsink: videotestsrc $ref, shmstreamctl dump $dumped; $(cat "$work/consumer.out")"
[ "$dumped" = "$ref" ] && grep -q '^consumer: 30 frames, 0 missed$' "$work/consumer.out"
tap_result $? "shmstreamsink -> shmstreamctl dump (bytes intact) and a libshmdev consumer (30 frames)"
inplace=$(grep -o '[0-9]* frames committed, [0-9]* of them in place' "$work/sink.log")
echo "# shmstreamsink: $inplace"
[ "$inplace" = "30 frames committed, 30 of them in place" ]
tap_result $? "shmstreamsink's buffer pool: videotestsrc wrote every frame into a slot (no copy)"

# 7. The producer goes away: with eos-on-detach the source ends (EOS) once
# it has read every frame; without it, it waits (and is stopped here).
"$ctl" create gst-e --slots 8 --size 3072 >/dev/null
launch shmstreamsrc stream=gst-e eos-on-detach=true ! fdsink >"$work/eos.raw" &
reader=$!
wait_for gst-e consumers 1
launch videotestsrc num-buffers=5 ! "$caps" ! shmstreamsink stream=gst-e
wait "$reader"
rc=$?
size=$(stat -c %s "$work/eos.raw")
echo "# eos-on-detach: exit $rc, $size bytes"
[ "$rc" -eq 0 ] && [ "$size" -eq $((5 * 3072)) ]
tap_result $? "producer gone: shmstreamsrc eos-on-detach=true ends after its 5 frames"
timeout 3 gst-launch-1.0 -q shmstreamsrc stream=gst-e ! fakesink
[ $? -eq 124 ]
tap_result $? "producer gone: shmstreamsrc without eos-on-detach waits for the next one"
"$ctl" destroy gst-e >/dev/null

# 8. docs/gstreamer.md's stream-to-file pipeline: Motion JPEG in AVI until the
# producer goes, then read back.
caps="video/x-raw,format=NV12,width=64,height=48,framerate=30/1"
"$ctl" create gst-r --slots 8 --size 4608 >/dev/null
launch -e shmstreamsrc stream=gst-r framerate=30/1 eos-on-detach=true ! videoconvert ! \
	jpegenc ! avimux ! \
	filesink location="$work/out.avi" &
reader=$!
wait_for gst-r consumers 1
launch videotestsrc num-buffers=25 ! "$caps" ! shmstreamsink stream=gst-r sync=true
wait "$reader"
n=$(gst-launch-1.0 -m filesrc location="$work/out.avi" ! avidemux ! jpegdec ! fakesink \
	silent=false -v 2>/dev/null | grep -c 'fakesink0: last-message = chain')
echo "# stream to file: $(stat -c %s "$work/out.avi" 2>/dev/null) bytes, $n frames read back"
[ "$n" -eq 25 ]
tap_result $? "stream -> jpegenc/avimux -> file, ended by the producer leaving: 25 frames"
"$ctl" destroy gst-r >/dev/null

# 9. Missed frames: a producer that outruns a reader of a 2-slot ring.
caps="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
"$ctl" create gst-m --slots 2 --size 3072 >/dev/null
timeout 120 gst-launch-1.0 -m shmstreamsrc stream=gst-m eos-on-detach=true ! \
	identity sleep-time=20000 ! fakesink >"$work/qos.out" 2>&1 &
reader=$!
wait_for gst-m consumers 1
launch videotestsrc num-buffers=200 ! "$caps" ! shmstreamsink stream=gst-m
wait "$reader"
qos=$(grep -c '(qos)' "$work/qos.out")
echo "# a slow reader of a fast producer: $qos QoS messages"
[ "$qos" -gt 0 ]
tap_result $? "missed frames are posted as QoS messages"
"$ctl" destroy gst-m >/dev/null

rm -rf "$work"
tap_done
