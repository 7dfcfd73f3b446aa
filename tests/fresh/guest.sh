#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make fresh-check, in the guest: the installed Debian packages at work,
# with nothing from the tree. The DKMS-built module loads by name, the
# tool drives it, the Python package moves checksummed frames, and the
# GStreamer plugin carries 30 frames through a stream intact. TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../tap.sh"
work=$(mktemp -d /tmp/fresh.XXXXXX)
cd "$work" || exit 1
export HOME=$work GST_REGISTRY=$work/registry.bin
unset GST_PLUGIN_PATH LD_LIBRARY_PATH PYTHONPATH
echo "TAP version 13"

/usr/bin/shmstreamctl load && /usr/bin/shmstreamctl status &&
	modinfo -n shmstream | grep -q "/lib/modules/$(uname -r)/updates/dkms/shmstream.ko"
tap_result $? "shmstreamctl load: the module DKMS built for $(uname -r), by name"

/usr/bin/python3 - <<'EOP'
import hashlib, sys
import numpy as np
import shmstream

assert shmstream.__file__.startswith("/usr/lib/python3/dist-packages/"), shmstream.__file__
out = shmstream.Stream.create("fresh-py", shape=(48, 64, 3), dtype=np.uint8, destroy_on_close=True)
inp = shmstream.Stream.open("fresh-py")
sent, got = hashlib.sha256(), hashlib.sha256()
for i in range(20):
    frame = np.random.default_rng(i).integers(0, 256, (48, 64, 3), np.uint8)
    sent.update(frame.tobytes())
    with out.begin(timeout=10) as buf:
        buf[:] = frame
    with inp.acquire(timeout=10) as f:
        got.update(f.array.tobytes())
        assert f.missed == 0, f.missed
inp.close()
out.close()
print(f"# python: 20 frames, sha256 {got.hexdigest()[:16]}")
sys.exit(0 if sent.digest() == got.digest() else 1)
EOP
tap_result $? "python3-shmstream: 20 random frames through a stream, sha256 equal, none missed"

caps="video/x-raw,format=RGB,width=64,height=48,framerate=30/1"
ref=$(timeout 120 gst-launch-1.0 -q videotestsrc num-buffers=30 ! "$caps" ! fdsink | md5sum)
# A ring of 64 holds all 30 frames: the reader cannot lose one, however late.
/usr/bin/shmstreamctl create fresh-gst --slots 64 --size 9216 >/dev/null
(timeout 120 gst-launch-1.0 -q shmstreamsrc stream=fresh-gst num-buffers=30 ! fdsink |
	md5sum >"$work/got") &
reader=$!
info_wait /usr/bin/shmstreamctl fresh-gst '"consumers":1[,}]' 120
timeout 120 gst-launch-1.0 -q videotestsrc num-buffers=30 ! "$caps" ! \
	shmstreamsink stream=fresh-gst
wait "$reader"
echo "# gstreamer: videotestsrc $ref, through the stream $(cat "$work/got")"
[ "$ref" = "$(cat "$work/got")" ]
tap_result $? "gstreamer1.0-shmstream: 30 frames through shmstreamsink and shmstreamsrc intact"
/usr/bin/shmstreamctl destroy fresh-gst

/usr/bin/shmstreamctl unload
tap_result $? "shmstreamctl unload: nothing left in use"
rm -rf "$work"
tap_done
