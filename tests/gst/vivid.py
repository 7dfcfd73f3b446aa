#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vivid's settings that GStreamer's v4l2 elements do not set (gst_test.sh).

Usage: vivid.py DEVICE input N | output N | dv-timings WIDTHxHEIGHTpRATE
  input N / output N     VIDIOC_S_INPUT / VIDIOC_S_OUTPUT (vivid keeps it for
                         the device, across opens)
  dv-timings WxHpR       VIDIOC_S_DV_TIMINGS with the device's progressive
                         preset of that size and frame rate (Hz, rounded),
                         e.g. 1280x720p24
(v4l2-ctl does these; the guest has no v4l-utils.)
"""
import fcntl
import os
import struct
import sys


def iowr(nr, size):
    return (3 << 30) | (size << 16) | (ord("V") << 8) | nr


DV_TIMINGS_SIZE = 132  # struct v4l2_dv_timings (packed): type, then the union
VIDIOC_S_INPUT = iowr(39, 4)
VIDIOC_S_OUTPUT = iowr(47, 4)
VIDIOC_S_DV_TIMINGS = iowr(87, DV_TIMINGS_SIZE)
VIDIOC_ENUM_DV_TIMINGS = iowr(98, 16 + DV_TIMINGS_SIZE)


def dv_timings(fd, width, height, rate):
    for index in range(256):
        e = bytearray(16 + DV_TIMINGS_SIZE)
        struct.pack_into("I", e, 0, index)
        try:
            fcntl.ioctl(fd, VIDIOC_ENUM_DV_TIMINGS, e)
        except OSError:
            break
        t = e[16:]
        # struct v4l2_bt_timings, after the type
        w, h, interlaced, _, pixelclock, hfp, hs, hbp, vfp, vs, vbp = \
            struct.unpack_from("<IIIIQIIIIII", t, 4)
        total = (w + hfp + hs + hbp) * (h + vfp + vs + vbp)
        if (w, h, interlaced) == (width, height, 0) and round(pixelclock / total) == rate:
            fcntl.ioctl(fd, VIDIOC_S_DV_TIMINGS, t)
            return
    sys.exit("%s: no progressive %dx%d DV timings at %d Hz" % (sys.argv[1], width, height, rate))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dev, what, arg = sys.argv[1:]
    fd = os.open(dev, os.O_RDWR)
    if what in ("input", "output"):
        v = bytearray(struct.pack("i", int(arg)))
        fcntl.ioctl(fd, VIDIOC_S_INPUT if what == "input" else VIDIOC_S_OUTPUT, v)
    elif what == "dv-timings":
        size, rate = arg.split("p")
        w, h = (int(x) for x in size.split("x"))
        dv_timings(fd, w, h, int(rate))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
