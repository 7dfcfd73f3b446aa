# SPDX-License-Identifier: LGPL-2.1-or-later
"""dma-bufs (ABI 2.3): Stream.dmabuf_fd(), Frame.dmabuf_fd(), Slot.dmabuf_fd(),
create(contiguous=True), and the counters of info() and stats()."""

import errno
import fcntl
import gc
import mmap
import os
import struct

import numpy as np
import pytest

import shmstream
from shmstream import _lib

STATS = "/sys/kernel/debug/shmstream/stats"
# DMA_BUF_IOCTL_SYNC, _IOW('b', 0, struct dma_buf_sync { __u64 flags; }), and its flags
DMA_BUF_IOCTL_SYNC = 1 << 30 | 8 << 16 | ord("b") << 8 | 0
SYNC_READ, SYNC_WRITE, SYNC_START, SYNC_END = 1, 2, 0, 4

SLOT = 3 * 4096 + 100  # not a whole number of pages: the dma-buf is 4 pages
PAGES = 4 * 4096


@pytest.fixture
def dmabuf_dev(dev):
    if not dev.version()["features"] & _lib.FEAT_DMABUF:
        pytest.skip("the module has no SHMSTREAM_FEAT_DMABUF (ABI 2.2 or older, or a kernel "
                    "without CONFIG_DMA_SHARED_BUFFER)")
    return dev


def module_counter(key):
    """A line of the module's debugfs stats (root in the guest), or None."""
    try:
        with open(STATS) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == key:
                    return int(v)
    except OSError:
        return None
    return None


def pattern(n, size=SLOT):
    return np.random.default_rng(n).integers(0, 256, size=size, dtype=np.uint8)


def sync(fd, flags):
    fcntl.ioctl(fd, DMA_BUF_IOCTL_SYNC, struct.pack("Q", flags))


def test_the_producer_writes_through_its_dmabuf_the_consumer_reads_through_its(dmabuf_dev, name):
    with dmabuf_dev.create(name, slot_size=SLOT, slots=4) as p, dmabuf_dev.open(name) as c:
        slot = p.begin(timeout=0)
        pfd = slot.dmabuf_fd()
        assert pfd == p.dmabuf_fd(slot.index)
        assert fcntl.fcntl(pfd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
        assert os.lseek(pfd, 0, os.SEEK_END) == PAGES  # the slot, rounded up to pages
        data = pattern(1)
        sync(pfd, SYNC_START | SYNC_WRITE)
        with mmap.mmap(pfd, PAGES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[:SLOT] = data.tobytes()
        sync(pfd, SYNC_END | SYNC_WRITE)
        # No copy: the slot's own pages.
        assert np.array_equal(slot.array, data)
        assert slot.commit() == 1
        with pytest.raises(shmstream.FrameReleasedError):
            slot.dmabuf_fd()

        with c.acquire(timeout=0) as frame:
            cfd = frame.dmabuf_fd()
            assert cfd == c.dmabuf_fd(frame.slot) and cfd != pfd
            assert fcntl.fcntl(cfd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
            assert os.fstat(cfd).st_ino != os.fstat(pfd).st_ino  # each file its own
            sync(cfd, SYNC_START | SYNC_READ)
            with mmap.mmap(cfd, PAGES, mmap.MAP_SHARED, mmap.PROT_READ) as m:
                assert m[:SLOT] == data.tobytes() == frame.array.tobytes()
            sync(cfd, SYNC_END | SYNC_READ)
        with pytest.raises(shmstream.FrameReleasedError):
            frame.dmabuf_fd()


def test_a_consumers_dmabuf_is_read_only(dmabuf_dev, name):
    with dmabuf_dev.create(name, slot_size=SLOT, slots=2) as p, dmabuf_dev.open(name) as c:
        p.write(pattern(2))
        with c.acquire(timeout=0) as frame:
            fd = frame.dmabuf_fd()
            with pytest.raises(PermissionError):
                mmap.mmap(fd, PAGES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            with pytest.raises(PermissionError):
                mmap.mmap(fd, PAGES, access=mmap.ACCESS_WRITE)
            for flags in (SYNC_START | SYNC_WRITE, SYNC_START | SYNC_READ | SYNC_WRITE):
                with pytest.raises(PermissionError):
                    sync(fd, flags)
            with mmap.mmap(fd, PAGES, access=mmap.ACCESS_READ) as m:
                assert m[:SLOT] == pattern(2).tobytes()
            with pytest.raises(OSError) as e:
                os.write(fd, b"x")
            assert e.value.errno in (errno.EBADF, errno.EINVAL)


def test_one_fd_per_slot_for_the_streams_life_and_dup_to_keep_it(dmabuf_dev, name):
    with dmabuf_dev.create(name, slot_size=SLOT, slots=4) as p:
        c = dmabuf_dev.open(name)
        fds = [c.dmabuf_fd(i) for i in range(4)]
        assert fds == [c.dmabuf_fd(i) for i in range(4)]  # the same fd each call
        assert len({os.fstat(fd).st_ino for fd in fds}) == 4
        assert c.stats()["dmabufs"] == 4 and p.stats()["dmabufs"] == 0
        assert p.info().dmabufs == 4
        for bad in (4, -1, True, 1.0, None):
            with pytest.raises(ValueError):
                c.dmabuf_fd(bad)
        seq = p.write(pattern(3))
        with c.acquire(timeout=0) as frame:
            kept = os.dup(frame.dmabuf_fd())
        ino = os.fstat(kept).st_ino
        del frame
        c.close()
        # The stream's fds are closed with it; a dup lives on, and so does
        # the dma-buf and the memory behind it, past DESTROY.
        for fd in fds:
            with pytest.raises(OSError) as e:
                fcntl.fcntl(fd, fcntl.F_GETFD)
            assert e.value.errno == errno.EBADF
        with pytest.raises(shmstream.ClosedError):
            c.dmabuf_fd(0)
        c.close()  # idempotent
        gc.collect()  # the handle's own fds go with its last array
        assert p.info().dmabufs == 1
        dmabuf_dev.destroy(name)
        assert os.fstat(kept).st_ino == ino
        with mmap.mmap(kept, PAGES, access=mmap.ACCESS_READ) as m:
            assert m[:SLOT] == pattern(3).tobytes()
        assert seq == 1
        os.close(kept)
        assert p.info().dmabufs == 0
    gc.collect()
    if module_counter("dmabufs") is not None:
        assert module_counter("dmabufs") == 0
        assert module_counter("dmabuf_maps") == 0


def test_counters_back_to_zero(dmabuf_dev, name):
    with dmabuf_dev.create(name, slot_size=SLOT, slots=3) as p:
        before = module_counter("dmabufs")
        with dmabuf_dev.open(name) as c1, dmabuf_dev.open(name) as c2:
            p.dmabuf_fd(0)
            c1.dmabuf_fd(1)
            c1.dmabuf_fd(2)
            c2.dmabuf_fd(1)
            assert (p.stats()["dmabufs"], c1.stats()["dmabufs"], c2.stats()["dmabufs"]) == \
                (1, 2, 1)
            assert p.info().dmabufs == 4
            if before is not None:
                assert module_counter("dmabufs") == before + 4
        gc.collect()
        assert p.info().dmabufs == 1
    gc.collect()
    if before is not None:
        assert module_counter("dmabufs") == before == 0
        assert module_counter("dmabuf_maps") == 0


def test_contiguous_slots(dmabuf_dev, name):
    with dmabuf_dev.create(name, slot_size=64 * 1024, slots=4, contiguous=True) as p, \
            dmabuf_dev.open(name) as c:
        info = p.info()
        assert info.contiguous and info.slot_count == 4
        assert dmabuf_dev.info(name).contiguous
        data = pattern(4, 64 * 1024)
        p.write(data)
        with c.acquire(timeout=0) as frame:
            with mmap.mmap(frame.dmabuf_fd(), 64 * 1024, access=mmap.ACCESS_READ) as m:
                assert m[:] == data.tobytes()
    with dmabuf_dev.create(name + "n", slot_size=64) as p:
        assert not p.info().contiguous
    dmabuf_dev.destroy(name + "n")
    # A block is at most the kernel's largest page order (4 MiB on x86-64).
    with pytest.raises(shmstream.Error) as e:
        dmabuf_dev.create(name + "x", slot_size=64 << 20, slots=1, contiguous=True)
    assert e.value.errno == errno.ENOMEM
    assert name + "x" not in dmabuf_dev.list()


def test_not_supported_on_an_older_module(dev, name, monkeypatch):
    """An older module (faked: libshmdev's answer to one without
    SHMSTREAM_FEAT_DMABUF, and VERSION's features) gives NotSupported, an
    Error with errno EOPNOTSUPP that says what is missing; nothing is made."""
    monkeypatch.setattr(dev, "version", lambda: {"features": _lib.FEAT_DELIVERY})
    with pytest.raises(shmstream.NotSupported) as e:
        dev.create(name, slot_size=64, contiguous=True)
    assert e.value.errno == errno.EOPNOTSUPP and "ABI 2.3" in str(e.value)
    assert isinstance(e.value, shmstream.Error)
    assert name not in dev.list()
    monkeypatch.undo()
    with dev.create(name, slot_size=64) as p:
        monkeypatch.setattr(_lib.lib(), "shmdev_slot_dmabuf", lambda *a: -errno.EOPNOTSUPP)
        with pytest.raises(shmstream.NotSupported) as e:
            p.dmabuf_fd(0)
        assert e.value.errno == errno.EOPNOTSUPP and "dma-buf" in str(e.value)
        monkeypatch.undo()
        assert p.stats()["dmabufs"] == 0
