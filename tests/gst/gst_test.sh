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
# frames counted; a recording with shmstreamsrc reliable=true and a slow
# element that keeps every frame of a fast feed; two shmstreamsinks
# producing into one stream; dma-bufs (ABI 2.3): shmstreamsrc's buffers
# are the slots' read-only dma-bufs (memory:DMABuf on demand, checked
# through the fd's own mmap), vivid's camera captures into shmstreamsink's
# slot dma-bufs (v4l2src io-mode=dmabuf-import) and vivid's output device
# reads a contiguous stream's dma-bufs (v4l2sink io-mode=dmabuf-import),
# its loopback capture showing the frame. Prints TAP and a Totals line.
#
# No check depends on how fast the guest runs (a loaded TCG guest, a debug
# kernel): a reader that must see every frame reads a stream whose ring
# holds them all (a slot never holding an unread frame is taken first), the
# one that must miss frames is stopped while they go by, and the waits for
# what certainly comes (a pipeline started, a frame) are long: they only
# bound a hang.
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

# A hang guard, not a time limit: a pipeline that runs longer hangs.
patience=300

launch() {
	# launch PIPELINE...: gst-launch-1.0 quietly, killed after $patience s
	timeout "$patience" gst-launch-1.0 -q "$@"
}

# The MD5 of what a pipeline writes to stdout (fdsink).
md5() {
	launch "$@" ! fdsink | md5sum | cut -d' ' -f1
}

# wait_for NAME FIELD VALUE: until shmstreamctl info --json shows it (a
# pipeline that started and attached; at most $patience s).
wait_for() {
	info_wait "$ctl" "$1" "\"$2\":$3[,}]" "$patience" || {
		echo "# $1: $2 did not become $3"
		return 1
	}
}

# 1. The plugin and its documented properties.
out=$(gst-inspect-1.0 shmstreamsrc 2>&1)
rc=0
for p in stream mode eos-on-detach framerate missed frames reliable history dmabuf \
	num-buffers do-timestamp; do
	echo "$out" | grep -q "^  $p " || { echo "# shmstreamsrc: no property $p"; rc=1; }
done
out=$(gst-inspect-1.0 shmstreamsink 2>&1)
for p in stream slots producers destroy-on-stop contiguous frames in-place sync; do
	echo "$out" | grep -q "^  $p " || { echo "# shmstreamsink: no property $p"; rc=1; }
done
for f in RGB BGR GRAY8 YUY2 NV12 I420; do
	echo "$out" | grep -q "$f" || { echo "# shmstreamsink: no $f in its caps"; rc=1; }
done
tap_result $rc "gst-inspect-1.0 shows shmstreamsrc and shmstreamsink with their properties and formats"

# 2. 300 frames of 640x480 RGB, intact. The reader is attached before the
# first frame and the ring holds all 300 (276 MB), so however far a slow
# guest's reader falls behind the 20 fps writer, no frame is overwritten
# before it is read (at 50 fps into 64 slots the debug kernel's reader
# missed some; its QoS messages would say so).
caps="video/x-raw,format=RGB,width=640,height=480,framerate=20/1"
ref=$(md5 videotestsrc num-buffers=300 pattern=ball ! "$caps")
"$ctl" create gst-t --slots 300 --size 921600 >/dev/null
(GST_DEBUG=shmstream:4 timeout "$patience" gst-launch-1.0 -m shmstreamsrc stream=gst-t num-buffers=300 \
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
# from the stream's frame descriptors, and the bytes are the same. The ring
# holds the 20 frames: the readers cannot miss one.
for f in RGB BGR GRAY8 YUY2 NV12 I420; do
	caps="video/x-raw,format=$f,width=64,height=48,framerate=30/1"
	ref=$(md5 videotestsrc num-buffers=20 pattern=ball ! "$caps")
	"$ctl" create gst-c --slots 20 --size 9216 >/dev/null
	timeout "$patience" gst-launch-1.0 -v shmstreamsrc stream=gst-c num-buffers=20 ! fakesink \
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
# The guest's loopback interface, and room in the receiving socket for all
# 40 frames (9 MB, about twice that as the kernel counts it) should the
# receiver not read at all for a while; both rings hold the 40 frames.
# The backlog too (1,160 packets in all), should softirqs fall behind.
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null
echo 67108864 >/proc/sys/net/core/rmem_max 2>/dev/null
echo 4096 >/proc/sys/net/core/netdev_max_backlog 2>/dev/null
caps="video/x-raw,format=RGB,width=320,height=240,framerate=10/1"
rtp="application/x-rtp,media=video,clock-rate=90000,encoding-name=RAW,sampling=RGB,depth=(string)8,width=(string)320,height=(string)240,payload=96"
ref=$(md5 videotestsrc num-buffers=40 pattern=ball ! "$caps")
"$ctl" create gst-n1 --slots 40 --size 230400 >/dev/null
"$ctl" create gst-n2 --slots 40 --size 230400 >/dev/null
md5 shmstreamsrc stream=gst-n2 num-buffers=40 >"$work/got" &
reader=$!
gst-launch-1.0 -q udpsrc address=127.0.0.1 port=50962 buffer-size=67108864 caps="$rtp" ! \
	rtpvrawdepay ! queue ! shmstreamsink stream=gst-n2 &
receiver=$!
gst-launch-1.0 -q shmstreamsrc stream=gst-n1 ! rtpvrawpay mtu=8000 ! \
	udpsink host=127.0.0.1 port=50962 sync=false &
sender=$!
# The receiver's socket is bound (udpsrc binds going to READY, before its
# pipeline's sink attaches in PAUSED): packets wait in it from now on.
wait_for gst-n1 consumers 1 && wait_for gst-n2 consumers 1 && wait_for gst-n2 producer true
launch videotestsrc num-buffers=40 pattern=ball ! "$caps" ! shmstreamsink stream=gst-n1 sync=true
wait "$reader" # its 40 frames, or its hang guard
kill "$sender" "$receiver" 2>/dev/null
wait "$sender" "$receiver" 2>/dev/null
got=$(cat "$work/got")
echo "# RTP loopback: sent $ref, received $got"
[ "$got" = "$ref" ]
tap_result $? "stream -> rtpvrawpay/udpsink 127.0.0.1 -> udpsrc/rtpvrawdepay -> stream: 40 frames intact"
"$ctl" destroy gst-n1 >/dev/null
"$ctl" destroy gst-n2 >/dev/null

# 5. shmstreamctl feed read by shmstreamsrc, checked against a dump of the
# same frames by shmstreamctl (the ring holds the 30 frames).
"$ctl" create gst-f --slots 30 --size 9216 >/dev/null
md5 shmstreamsrc stream=gst-f num-buffers=30 >"$work/got" &
reader=$!
"$ctl" dump gst-f -o "$work/feed.raw" --count 30 --timeout "$patience" >/dev/null &
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

# 6. shmstreamsink read by shmstreamctl dump and by a libshmdev consumer
# (the ring holds the 30 frames: "0 missed" however slow they are).
caps="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
ref=$(md5 videotestsrc num-buffers=30 pattern=ball ! "$caps")
"$ctl" create gst-d --slots 30 --size 3072 >/dev/null
"$ctl" dump gst-d -o "$work/sink.raw" --count 30 --timeout "$patience" >/dev/null &
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
inplace=$(grep -o '[0-9]* frames committed, [0-9]* of them in place.*dma-bufs' "$work/sink.log")
echo "# shmstreamsink: $inplace"
[ "$inplace" = "30 frames committed, 30 of them in place (no copy), 0 copied; 30 slots handed upstream as dma-bufs" ]
tap_result $? "shmstreamsink's buffer pool of slot dma-bufs: videotestsrc wrote every frame into a slot (no copy)"

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
# Attached (however long that took), it is still waiting 3 s later.
gst-launch-1.0 -q shmstreamsrc stream=gst-e ! fakesink &
waiter=$!
wait_for gst-e consumers 1 && sleep 3 && kill -0 "$waiter" 2>/dev/null
rc=$?
kill "$waiter" 2>/dev/null
wait "$waiter" 2>/dev/null
[ "$rc" -eq 0 ]
tap_result $? "producer gone: shmstreamsrc without eos-on-detach waits for the next one"
"$ctl" destroy gst-e >/dev/null

# 8. docs/gstreamer.md's stream-to-file pipeline: Motion JPEG in AVI until the
# producer goes, then read back.
caps="video/x-raw,format=NV12,width=64,height=48,framerate=30/1"
"$ctl" create gst-r --slots 25 --size 4608 >/dev/null # all 25: JPEG encoding is slow
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

# 9. Missed frames: a producer that outruns a reader of a 2-slot ring. The
# reader is stopped (SIGSTOP, every thread) while the 200 frames go by, so
# it misses 198 of them however the two are scheduled; frames it pushed and
# frames it missed add up to 200.
caps="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
"$ctl" create gst-m --slots 2 --size 3072 >/dev/null
GST_DEBUG=shmstream:4 timeout "$patience" gst-launch-1.0 -m shmstreamsrc stream=gst-m \
	eos-on-detach=true ! identity sleep-time=20000 ! fakesink >"$work/qos.out" 2>&1 &
reader=$!
# all_stopped PID: every thread of PID is stopped
all_stopped() {
	local t st
	for t in /proc/"$1"/task/*/stat; do
		st=$(sed 's/.*) //' "$t" 2>/dev/null | cut -c1)
		[ "$st" = T ] || [ "$st" = t ] || return 1
	done
}
rc=1
if wait_for gst-m consumers 1; then
	gl=$(pgrep -P "$reader" gst-launch-1.0)
	if [ -n "$gl" ] && kill -STOP "$gl"; then
		for _ in $(seq $((patience * 10))); do
			all_stopped "$gl" && rc=0 && break
			sleep 0.1
		done
	fi
	[ "$rc" -eq 0 ] || echo "# the reader (pid ${gl:-none}) did not stop"
	launch videotestsrc num-buffers=200 ! "$caps" ! shmstreamsink stream=gst-m || rc=1
	[ -n "$gl" ] && kill -CONT "$gl"
fi
wait "$reader"
qos=$(grep -c '(qos)' "$work/qos.out")
counts=$(grep -o '[0-9]* frames pushed, [0-9]* of them wrapping the slot (no copy), [0-9]* missed' \
	"$work/qos.out" | tail -n 1 | sed 's/ frames pushed.* \([0-9]*\) missed/ \1/')
pushed=${counts% *}
missed=${counts#* }
echo "# a stopped reader of a fast producer: $qos QoS messages; ${pushed:-?} frames pushed," \
	"${missed:-?} missed"
[ "$rc" -eq 0 ] && [ "$qos" -gt 0 ] && [ "${missed:-0}" -gt 0 ] &&
	[ $(( ${pushed:-0} + ${missed:-0} )) -eq 200 ]
tap_result $? "missed frames are posted as QoS messages and counted: pushed + missed = 200"
"$ctl" destroy gst-m >/dev/null

# frame_md5s FILE SIZE: the MD5 of each SIZE-byte frame of FILE, a line each
frame_md5s() {
	python3 -c 'import hashlib, sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
for i in range(0, len(data) - n + 1, n):
    print(hashlib.md5(data[i:i + n]).hexdigest())' "$1" "$2"
}

# 10. A recording: shmstreamsrc reliable=true, a deliberately slow element
# (identity sleeps 5 ms a frame) and filesink keep all 1,000 frames of a
# 1,000-frame feed that runs as fast as it can into a 4-slot ring, each
# checked by its MD5 against videotestsrc's own. The same pipeline without
# reliable=true loses frames: the feed did outrun the recorder. (A stall
# limit of 60 s: a loaded guest's pause must not demote the recorder.)
caps="video/x-raw,format=RGB,width=64,height=48,framerate=30/1"
fsize=$((64 * 48 * 3))
launch videotestsrc num-buffers=1000 pattern=ball ! "$caps" ! filesink location="$work/ref.raw"
frame_md5s "$work/ref.raw" "$fsize" >"$work/ref.md5"
# record RELIABLE FILE: record the feed into FILE
record() {
	local reader rc
	"$ctl" create gst-rec --slots 4 --size "$fsize" --format RGB24 --width 64 --height 48 \
		--stall-ms 60000 >/dev/null
	launch shmstreamsrc stream=gst-rec reliable="$1" eos-on-detach=true ! \
		identity sleep-time=5000 ! filesink location="$2" &
	reader=$!
	wait_for gst-rec consumers 1 &&
		launch videotestsrc num-buffers=1000 pattern=ball ! "$caps" ! \
			shmstreamsink stream=gst-rec sync=false
	rc=$?
	wait "$reader" || rc=1
	"$ctl" destroy gst-rec >/dev/null
	return $rc
}
record true "$work/rec.raw"
rc=$?
frame_md5s "$work/rec.raw" "$fsize" >"$work/rec.md5"
echo "# reliable recording: exit $rc, $(wc -l <"$work/rec.md5") frames of 1000," \
	"$(cmp -s "$work/ref.md5" "$work/rec.md5" && echo "every MD5 equal" || echo "MD5s differ")"
[ "$rc" -eq 0 ] && [ "$(wc -l <"$work/ref.md5")" -eq 1000 ] && cmp -s "$work/ref.md5" "$work/rec.md5"
tap_result $? "shmstreamsrc reliable=true ! identity sleep-time=5000 ! filesink: all 1,000 frames of a full-speed feed, MD5 per frame"
record false "$work/lossy.raw"
n=$(frame_md5s "$work/lossy.raw" "$fsize" | wc -l)
echo "# the same without reliable=true: $n frames of 1000"
[ "$n" -lt 1000 ]
tap_result $? "the same recording without reliable=true loses frames"

# 11. Two shmstreamsinks produce into one stream (shmstreamctl create
# --producers 2); a reliable shmstreamsrc gets the 100 frames of each, every
# one intact. A sink that creates the stream with producers=3 admits three.
caps="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
launch videotestsrc num-buffers=1 pattern=white ! "$caps" ! filesink location="$work/white.raw"
launch videotestsrc num-buffers=1 pattern=black ! "$caps" ! filesink location="$work/black.raw"
white=$(md5sum <"$work/white.raw" | cut -d' ' -f1)
black=$(md5sum <"$work/black.raw" | cut -d' ' -f1)
"$ctl" create gst-mp --slots 8 --size 3072 --producers 2 >/dev/null
launch shmstreamsrc stream=gst-mp reliable=true num-buffers=200 ! fdsink >"$work/mp.raw" &
reader=$!
rc=1
if wait_for gst-mp consumers 1; then
	launch videotestsrc num-buffers=100 pattern=white ! "$caps" ! shmstreamsink stream=gst-mp &
	p1=$!
	launch videotestsrc num-buffers=100 pattern=black ! "$caps" ! shmstreamsink stream=gst-mp &
	p2=$!
	wait "$p1" && wait "$p2" && rc=0
fi
wait "$reader" || rc=1
frame_md5s "$work/mp.raw" 3072 | sort | uniq -c >"$work/mp.count"
echo "# two producers, one reader: $(tr -s ' \n' ' ' <"$work/mp.count")"
[ "$rc" -eq 0 ] && [ "$(wc -l <"$work/mp.count")" -eq 2 ] &&
	grep -q "^ *100 $white\$" "$work/mp.count" && grep -q "^ *100 $black\$" "$work/mp.count"
tap_result $? "two shmstreamsinks into one multi-producer stream: 100 + 100 frames, each intact"
"$ctl" destroy gst-mp >/dev/null
launch videotestsrc num-buffers=1 ! "$caps" ! shmstreamsink stream=gst-p producers=3
"$ctl" info gst-p --json | tr -d ' \n' | grep -q '"max_producers":3,'
tap_result $? "shmstreamsink producers=3 creates a stream that admits three producers"
"$ctl" destroy gst-p >/dev/null

# 12. dma-bufs (ABI 2.3), the consumer's side, with no device: three
# readers of the same 10 frames. One forces memory:DMABuf with a capsfilter
# (its caps carry the feature), one takes what shmstreamsrc offers an ANY
# sink (plain caps, each buffer still the slot's dma-buf), one has
# dmabuf=false (plain memory). dmabuf_read.py checks each buffer's memory:
# a dma-buf fd whose own read-only mmap() holds the buffer's bytes, whose
# writable mmap() is EACCES; and each reader's frames are checked by their
# MD5 against videotestsrc's own.
py=python3
"$py" -c 'import gi' 2>/dev/null || py=/usr/bin/python3
if ! "$py" -c 'import gi; gi.require_version("GstAllocators", "1.0"); gi.require_version("GstApp", "1.0")' 2>/dev/null; then
	tap_skip "shmstreamsrc dma-bufs read through appsink" \
		"no PyGObject with GstAllocators/GstApp (python3-gi, gir1.2-gst-plugins-base-1.0)"
else
	caps="video/x-raw,format=RGB,width=64,height=48,framerate=30/1"
	launch videotestsrc num-buffers=10 pattern=ball ! "$caps" ! filesink location="$work/db.raw"
	frame_md5s "$work/db.raw" 9216 >"$work/db.md5"
	"$ctl" create gst-db --slots 10 --size 9216 >/dev/null
	declare -A reader
	for kind in caps default off; do
		timeout "$patience" "$py" "$here/dmabuf_read.py" gst-db 10 $kind \
			>"$work/db-$kind.md5" 2>"$work/db-$kind.err" &
		reader[$kind]=$!
	done
	wait_for gst-db consumers 3
	launch videotestsrc num-buffers=10 pattern=ball ! "$caps" ! shmstreamsink stream=gst-db sync=true
	for kind in caps default off; do
		wait "${reader[$kind]}"
		rc=$?
		cat "$work/db-$kind.err"
		echo "# $kind: exit $rc, $(wc -l <"$work/db-$kind.md5") frames," \
			"$(cmp -s "$work/db.md5" "$work/db-$kind.md5" && echo "every MD5 equal" || echo "MD5s differ")"
		[ "$rc" -eq 0 ] && [ "$(wc -l <"$work/db.md5")" -eq 10 ] &&
			cmp -s "$work/db.md5" "$work/db-$kind.md5"
		reader[$kind]=$?
	done
	tap_result "${reader[caps]}" "shmstreamsrc ! video/x-raw(memory:DMABuf) ! appsink: 10 read-only slot dma-bufs, bytes intact through their own mmap"
	tap_result "${reader[default]}" "shmstreamsrc ! appsink: plain caps, each buffer the slot's dma-buf, bytes intact"
	tap_result "${reader[off]}" "shmstreamsrc dmabuf=false ! appsink: plain memory, bytes intact"
	"$ctl" destroy gst-db >/dev/null
fi

# 13-16. V4L2 through vivid, the kernel's test driver: instance 0 allocates
# with vb2-vmalloc, instance 1 with vb2-dma-contig; each has a capture and
# an output device. vivid's own frames are made deterministic: no OSD text,
# no movement (its controls, set by the GStreamer elements). Everything of
# ours runs on CPU 0: vivid's frame threads compute a wait, yield to a
# runnable task, then sleep for the wait computed before, and schedule_timeout()
# prints a call trace (which fails the guest run) when that has passed
# (6.1: vivid-kthread-cap.c, vivid-kthread-out.c); with CPU 1 to
# themselves they were never seen to.
vivid_node() { # vivid_node NAME: /dev/videoN of the vivid node named NAME
	local n
	n=$(grep -lx "$1" /sys/class/video4linux/video*/name 2>/dev/null | head -n 1)
	[ -n "$n" ] && echo "/dev/$(basename "$(dirname "$n")")"
}
pin=
[ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null && pin="taskset -c 0"
rmmod vivid 2>/dev/null
if ! modprobe vivid n_devs=2 node_types=0x101,0x101 allocators=0,1 2>/dev/null; then
	for t in "vivid capture into shmstreamsink's slot dma-bufs" \
		"shmstreamsrc into a vb2-dma-contig output device" \
		"the output device's loopback shows the stream's frame" \
		"a consumer's dma-buf on a vb2-vmalloc output device"; do
		tap_skip "$t" "vivid module not available"
	done
else
	cap0=$(vivid_node vivid-000-vid-cap)
	out0=$(vivid_node vivid-000-vid-out)
	cap1=$(vivid_node vivid-001-vid-cap)
	out1=$(vivid_node vivid-001-vid-out)
	echo "# vivid: vb2-vmalloc $cap0 $out0, vb2-dma-contig $cap1 $out1"
	ctrls="c,osd_text_mode=2,horizontal_movement=3,vertical_movement=3"

	# 13. The camera captures straight into the slots: v4l2src
	# io-mode=dmabuf-import queues shmstreamsink's slot dma-bufs (the
	# producer's, which vb2-vmalloc maps) and the sink commits them as they
	# come, no copy; shmstreamctl dump reads 5 frames that must be the
	# bytes of 5 frames plain v4l2src captures (vivid's webcam, 320x180
	# at 5 fps: slow enough for its thread). The ring holds them all.
	"$here/vivid.py" "$cap0" input 0
	caps="video/x-raw,format=RGB,width=320,height=180,framerate=5/1"
	$pin timeout "$patience" gst-launch-1.0 -q v4l2src device="$cap0" num-buffers=5 \
		extra-controls="$ctrls" ! "$caps" ! filesink location="$work/vref.raw"
	frame_md5s "$work/vref.raw" 172800 >"$work/vref.md5"
	"$ctl" create gst-v4 --slots 16 --size 172800 >/dev/null
	$pin "$ctl" dump gst-v4 -o "$work/v4.raw" --count 5 --timeout "$patience" >/dev/null &
	dumper=$!
	wait_for gst-v4 consumers 1
	GST_DEBUG=shmstream:4,v4l2allocator:6 $pin timeout "$patience" gst-launch-1.0 -q \
		v4l2src device="$cap0" io-mode=dmabuf-import num-buffers=5 extra-controls="$ctrls" ! \
		"$caps" ! shmstreamsink stream=gst-v4 2>"$work/v4.log"
	rc=$?
	wait "$dumper" || rc=1
	cat "$work"/v4-*.raw 2>/dev/null >"$work/v4.raw"
	frame_md5s "$work/v4.raw" 172800 >"$work/v4.md5"
	echo "# v4l2src: $(sort -u "$work/vref.md5" | tr '\n' ' ')(plain), $(sort -u "$work/v4.md5" |
		tr '\n' ' ')(dmabuf-import, as a consumer read them)"
	[ "$rc" -eq 0 ] && [ "$(wc -l <"$work/vref.md5")" -eq 5 ] && cmp -s "$work/vref.md5" "$work/v4.md5"
	tap_result $? "vivid capture: v4l2src io-mode=dmabuf-import ! shmstreamsink, a consumer reads the 5 frames plain v4l2src captures"
	inplace=$(grep -o '[0-9]* frames committed, [0-9]* of them in place.*dma-bufs' "$work/v4.log")
	imported=$(grep -c 'imported DMABUF' "$work/v4.log")
	echo "# shmstreamsink: $inplace; v4l2src imported $imported dma-bufs"
	case $inplace in
	"5 frames committed, 5 of them in place (no copy), 0 copied; "*) n=${inplace##*copied; } ;;
	*) n=0 ;;
	esac
	[ "${n%% *}" -ge 5 ] && [ "$imported" -ge 5 ]
	tap_result $? "vivid capture: every frame committed in place from a slot dma-buf v4l2src queued (no copy)"
	"$ctl" destroy gst-v4 >/dev/null

	# 14, 15. shmstreamsrc hands a consumer's read-only slot dma-bufs to
	# vivid's vb2-dma-contig output device (v4l2sink io-mode=dmabuf-import),
	# which needs physically contiguous memory: shmstreamsink creates the
	# stream contiguous=true. HDMI out to HDMI in at 1280x720p24, RGB (a
	# slot of 2.7 MB), and the capture device's "Loop Video" on: a capture
	# frame is a copy of the output buffer being displayed, read through
	# the dma-buf (vb2-dma-contig maps it DMA_TO_DEVICE, then vmaps it for
	# vivid), or noise while none is. The stream's frame is one static
	# picture repeated at 24 fps: a captured frame byte-identical to it can
	# only have come through the dma-buf.
	"$here/vivid.py" "$out1" output 1 && "$here/vivid.py" "$out1" dv-timings 1280x720p24 &&
		"$here/vivid.py" "$cap1" input 3 && "$here/vivid.py" "$cap1" dv-timings 1280x720p24
	rc=$?
	caps="video/x-raw,format=RGB,width=1280,height=720"
	launch videotestsrc num-buffers=1 pattern=colors ! "$caps" ! filesink location="$work/lp-ref.raw"
	ref=$(md5sum <"$work/lp-ref.raw" | cut -d' ' -f1)
	GST_DEBUG=shmstream:4,v4l2allocator:6 $pin timeout "$patience" gst-launch-1.0 -q \
		shmstreamsrc stream=gst-lp eos-on-detach=true ! \
		v4l2sink device="$out1" io-mode=dmabuf-import sync=false 2>"$work/lp.log" &
	consumer=$!
	$pin gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=colors ! "$caps" ! \
		imagefreeze is-live=true ! "$caps,framerate=24/1" ! \
		shmstreamsink stream=gst-lp contiguous=true slots=4 &
	producer=$!
	# Until the stream has a frame (the producer made it, the reader is
	# attached), unless either pipeline is gone already.
	for _ in $(seq $((patience * 10))); do
		"$ctl" info gst-lp --json 2>/dev/null | tr -d ' \n' | grep -q '"frames":[1-9]' && break
		{ kill -0 "$producer" && kill -0 "$consumer"; } 2>/dev/null || break
		sleep 0.1
	done
	info_wait "$ctl" gst-lp '"consumers":1[,}]' 1 && info_wait "$ctl" gst-lp '"frames":[1-9]' 1 &&
		$pin timeout "$patience" gst-launch-1.0 -q v4l2src device="$cap1" num-buffers=6 \
			extra-controls="c,osd_text_mode=2,loop_video=1" ! "$caps" ! \
			filesink location="$work/lp.raw" || rc=1
	# The producer goes (imagefreeze would not pass an EOS on): the
	# reader ends with eos-on-detach once it has displayed what is left.
	kill "$producer" 2>/dev/null
	wait "$producer" 2>/dev/null
	wait "$consumer" || rc=1
	frame_md5s "$work/lp.raw" 2764800 >"$work/lp.md5"
	looped=$(grep -c "^$ref\$" "$work/lp.md5")
	pushed=$(grep -o '[0-9]* frames pushed, .* as the slot.s dma-buf' "$work/lp.log")
	imported=$(grep -c 'imported DMABUF' "$work/lp.log")
	echo "# shmstreamsrc: $pushed; v4l2sink imported $imported dma-bufs"
	echo "# loopback: $looped of $(wc -l <"$work/lp.md5") captured frames are the stream's"
	n=${pushed%% *}
	echo "$pushed" | grep -q "^$n frames pushed, $n of them wrapping the slot (no copy), [0-9]* missed; $n as the slot's dma-buf$" &&
		[ "$rc" -eq 0 ] && [ "${n:-0}" -gt 0 ] && [ "$imported" -ge "$n" ]
	tap_result $? "shmstreamsrc ! v4l2sink io-mode=dmabuf-import on vb2-dma-contig: every frame queued as its slot's dma-buf, no error"
	[ "$(wc -l <"$work/lp.md5")" -eq 6 ] && [ "$looped" -ge 1 ]
	tap_result $? "vivid loopback: the output device read the stream's frame from the slot's dma-buf ($looped of 6 captured byte-identical)"
	"$ctl" destroy gst-lp >/dev/null 2>&1

	# 16. vb2-vmalloc maps with vmap() alone: the module gives it a blank
	# buffer for a consumer's slot (no kernel warning: the guest runner
	# would fail the run on one), so the pipeline runs and ends cleanly.
	"$here/vivid.py" "$out0" output 1 && "$here/vivid.py" "$out0" dv-timings 1280x720p24
	$pin timeout "$patience" gst-launch-1.0 shmstreamsrc stream=gst-vm eos-on-detach=true num-buffers=12 ! \
		v4l2sink device="$out0" io-mode=dmabuf-import sync=false >"$work/vm.log" 2>&1 &
	consumer=$!
	$pin gst-launch-1.0 -q videotestsrc pattern=colors num-buffers=60 ! "$caps,framerate=24/1" ! \
		shmstreamsink stream=gst-vm slots=4 &
	producer=$!
	wait "$consumer"
	rc=$?
	kill "$producer" 2>/dev/null
	wait "$producer" 2>/dev/null
	grep 'ERROR' "$work/vm.log" | sed 's/^/# /'
	[ "$rc" -eq 0 ] && ! grep -q '^ERROR' "$work/vm.log"
	tap_result $? "a consumer's dma-buf on a vb2-vmalloc output device: taken (a blank buffer), no error, no kernel warning"
	"$ctl" destroy gst-vm >/dev/null 2>&1
	rmmod vivid 2>/dev/null
fi

rm -rf "$work"
tap_done
