#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Read COUNT frames of a stream through shmstreamsrc into an appsink and
check their memory (gst_test.sh).

Usage: dmabuf_read.py STREAM COUNT caps|default|off

caps:    shmstreamsrc ! video/x-raw(memory:DMABuf) ! appsink: the caps
         must carry memory:DMABuf, and each buffer be the slot's dma-buf;
default: shmstreamsrc ! appsink (ANY caps): plain raw video caps, and each
         buffer still the slot's dma-buf;
off:     shmstreamsrc dmabuf=false ! appsink: plain caps, plain memory.
A dma-buf buffer must be one memory whose fd is a dma-buf, whose mmap()
with PROT_WRITE is refused (a consumer's is read-only), whose read-only
mmap() holds the very bytes of the buffer's map, and which GStreamer does
not map for writing. Prints the MD5 of each frame's bytes, a line each (as
gst_test.sh's frame_md5s does), and exits 1 at the first failed check.
"""
import errno
import hashlib
import mmap
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstAllocators", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import Gst, GstAllocators, GstApp  # noqa: E402,F401


def fail(msg):
    print("# dmabuf_read: " + msg, file=sys.stderr)
    sys.exit(1)


def check_dmabuf(mem, data):
    if not GstAllocators.is_dmabuf_memory(mem):
        fail("memory is not a dma-buf: allocator %s" % mem.allocator.get_name())
    fd = GstAllocators.dmabuf_memory_get_fd(mem)
    link = os.readlink("/proc/self/fd/%d" % fd)
    if "dmabuf" not in link:
        fail("fd %d is %s, not a dma-buf" % (fd, link))
    _, offset, maxsize = mem.get_sizes()
    try:
        mmap.mmap(fd, maxsize, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        fail("a writable mmap() of the consumer's dma-buf succeeded")
    except OSError as e:
        if e.errno != errno.EACCES:
            fail("a writable mmap(): %s, not EACCES" % e)
    m = mmap.mmap(fd, maxsize, mmap.MAP_SHARED, mmap.PROT_READ)
    try:
        through_fd = m[offset:offset + len(data)]
    finally:
        m.close()
    if through_fd != data:
        fail("the dma-buf's own mmap() differs from the buffer's map")
    ok, info = mem.map(Gst.MapFlags.WRITE)
    if ok:
        mem.unmap(info)
        fail("the memory maps for writing")


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("caps", "default", "off"):
        sys.exit(__doc__)
    stream, count, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Gst.init(None)
    pipeline = Gst.parse_launch(
        "shmstreamsrc stream=%s num-buffers=%d%s%s ! appsink name=sink sync=false"
        % (stream, count, " dmabuf=false" if kind == "off" else "",
           " ! video/x-raw(memory:DMABuf)" if kind == "caps" else ""))
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    n = 0
    try:
        while n < count:
            sample = sink.try_pull_sample(300 * Gst.SECOND)
            if sample is None:
                fail("no frame %d in 300 s (or end of stream)" % (n + 1))
            features = sample.get_caps().get_features(0)
            if features.contains("memory:DMABuf") != (kind == "caps"):
                fail("%s: caps %s" % (kind, sample.get_caps().to_string()))
            buf = sample.get_buffer()
            if buf.n_memory() != 1:
                fail("%d memories in a buffer" % buf.n_memory())
            ok, info = buf.map(Gst.MapFlags.READ)
            if not ok:
                fail("the buffer does not map")
            data = bytes(info.data)
            buf.unmap(info)
            mem = buf.peek_memory(0)
            if kind != "off":
                check_dmabuf(mem, data)
            elif GstAllocators.is_dmabuf_memory(mem):
                fail("dmabuf=false, and the memory is a dma-buf")
            print(hashlib.md5(data).hexdigest(), flush=True)
            n += 1
    finally:
        pipeline.set_state(Gst.State.NULL)


if __name__ == "__main__":
    main()
