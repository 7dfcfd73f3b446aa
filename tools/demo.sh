#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The demo: load the module with shmstreamctl, feed 640x480 at 30 fps,
# read with two epoll consumers, watch live stats, dump a frame to PNG.
# Usage: tools/demo.sh BUILD_DIR OUT_DIR MODULE.ko
set -eu
build=$1
out=$2
ko=$3
ctl="$build/tools/shmstreamctl"

"$ctl" load --path "$ko"
"$ctl" status
"$ctl" feed demo --size 640x480 --format RGB24 --fps 30 --count 240 &
feed=$!
for _ in $(seq 50); do "$ctl" list | grep -qx demo && break; sleep 0.1; done
"$build/examples/consumer" demo &
c1=$!
"$build/examples/consumer" demo &
c2=$!
sleep 1
"$ctl" watch demo --count 4
"$ctl" info demo
"$ctl" dump demo -o "$out/frame.png"
wait "$feed" "$c1" "$c2"
echo "demo: a frame is in $out/frame.png"
