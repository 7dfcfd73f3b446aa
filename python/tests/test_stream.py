# SPDX-License-Identifier: LGPL-2.1-or-later
"""The native API against the module: names, errors, zero copy, producer and
consumer in one process."""

import errno
import gc
import zlib

import numpy as np
import pytest

import shmstream
from shmstream import _dlpack
from conftest import wait_asleep_in_ioctl


def mapping_of(addr):
    """The /proc/self/maps line whose range holds addr."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= addr < hi:
                return lo, hi, line.split()[1], line.split()[-1]
    return None


def test_create_open_info_list_destroy(dev, name):
    with dev.create(name, (4, 5), "f4", slots=3) as p:
        assert (p.shape, p.dtype, p.slot_count, p.slot_size) == ((4, 5), np.float32, 3, 80)
        assert p.role == "producer" and name in dev.list() and name in shmstream.list()
        with dev.open(name) as c:
            assert (c.shape, c.dtype, c.role) == ((4, 5), np.float32, "consumer")
            info = dev.info(name)
            assert (info.consumers, info.slot_count, info.producer, info.frames) == (1, 3, True, 0)
            assert c.info() == info
            assert c.stats()["role"] == 2
        dev.destroy(name)
        assert name not in dev.list()
        assert "destroyed" in p.state()
    with pytest.raises(shmstream.StreamNotFound) as e:
        dev.info(name)
    assert e.value.errno == errno.ENOENT


def test_errors_carry_errno(dev, name):
    with dev.create(name, slot_size=64):
        with pytest.raises(shmstream.StreamExists) as e:
            dev.create(name, slot_size=64)
        assert e.value.errno == errno.EEXIST and isinstance(e.value, FileExistsError)
        with pytest.raises(shmstream.Busy) as e:
            dev.open(name, "producer")
        assert e.value.errno == errno.EBUSY
        with pytest.raises(shmstream.StreamNotFound) as e:
            dev.open(name + "x")
        assert e.value.errno == errno.ENOENT
        with pytest.raises(shmstream.Error) as e:
            dev.create(name + "y", slot_size=64, slots=0)
        assert e.value.errno == errno.EINVAL
        assert name + "y" not in dev.list()
        with pytest.raises(shmstream.Error) as e:
            dev.create(name + "y", slot_size=64, slots=100000)
        assert e.value.errno == errno.EINVAL
    for bad in ("", "x" * 64, "nul\0"):
        with pytest.raises(ValueError):
            dev.open(bad)
    for bad in ("a/b", "..", "sp ace"):  # the module's rules, its EINVAL
        with pytest.raises(shmstream.Error) as e:
            dev.open(bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        dev.open(b"bytes")
    with pytest.raises(ValueError):
        dev.open(name, role="both")
    with pytest.raises(ValueError, match="slot_size"):
        dev.create(name, (10,), "u1", slot_size=5)
    with pytest.raises(ValueError, match="give shape"):
        dev.create(name)


def test_roles_are_enforced(dev, name):
    with dev.create(name, (8,), "u1") as p, dev.open(name) as c:
        with pytest.raises(ValueError, match="consumer, not producer"):
            c.begin()
        with pytest.raises(ValueError, match="producer, not consumer"):
            p.acquire()


def test_begin_commits_and_discards(dev, name, frame_path):
    with dev.create(name, (2, 3), "i4", slots=4) as p, dev.open(name) as c:
        with p.begin(meta=b"m1") as buf:
            assert buf.shape == (2, 3) and buf.flags.writeable
            buf[:] = [[1, 2, 3], [4, 5, 6]]
        with pytest.raises(RuntimeError):
            with p.begin() as buf:
                buf[:] = 9
                raise RuntimeError("discarded")
        slot = p.begin()
        slot.array[:] = 7
        seq = slot.commit(timestamp_ns=1234)
        assert seq == 2  # the discarded slot took no sequence number
        with pytest.raises(shmstream.FrameReleasedError):
            slot.commit()
        with pytest.raises(shmstream.FrameReleasedError):
            slot.array
        with c.acquire(timeout=1) as f:
            assert f.seq == 1 and f.meta == b"m1" and f.missed == 0
            assert f.array.tolist() == [[1, 2, 3], [4, 5, 6]]
        f = c.acquire(timeout=1)
        assert (f.seq, f.timestamp_ns, f.array.sum()) == (2, 1234, 42)
        f.release()
        f.release()  # idempotent
        assert dev.info(name).frames == 2


def test_frame_array_is_a_read_only_view_of_the_mapping(dev, name):
    with dev.create(name, (64, 64), "u2", slots=4) as p, dev.open(name) as c:
        data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
        p.write(data)
        frame = c.acquire(timeout=1)
        a, b = frame.array, frame.array
        assert np.array_equal(a, data)
        # No copy: two views of the same slot share memory, and the address
        # is inside the ring this process mapped from /dev/shmstream.
        assert np.shares_memory(a, b)
        assert a.__array_interface__["data"][0] == frame.address
        lo, hi, perms, path = mapping_of(frame.address)
        assert path == "/dev/shmstream" and perms.startswith("r-")
        assert lo <= frame.address and frame.address + frame.nbytes <= hi
        base = frame.address - frame.slot * (hi - lo) // c.slot_count
        assert lo <= base < hi
        # Read-only, and it cannot be made writable.
        with pytest.raises(ValueError, match="read-only"):
            a[0, 0] = 1
        with pytest.raises(ValueError):
            a.flags.writeable = True
        assert frame.data.readonly
        frame.release()
        # Use after release raises instead of reading a slot the producer reuses.
        with pytest.raises(shmstream.FrameReleasedError):
            frame.array
        with pytest.raises(shmstream.FrameReleasedError):
            np.asarray(frame)
        with pytest.raises(shmstream.FrameReleasedError):
            frame.__dlpack__()


def test_arrays_outlive_close_without_faulting(dev, name, frame_path):
    p = dev.create(name, (16,), "u1")
    c = dev.open(name)
    p.write(np.full(16, 5, np.uint8))
    frame = c.acquire(timeout=1)
    kept = frame.array
    c.close()  # releases the frame; the mapping stays while kept lives
    assert frame.released
    assert kept.sum() == 80  # still mapped: reads, never faults
    with pytest.raises(shmstream.ClosedError):
        c.acquire()
    assert dev.info(name).consumers == 1  # the array keeps the file until it goes
    del kept, frame
    gc.collect()
    assert dev.info(name).consumers == 0
    p.close()


def test_acquire_timeouts_and_holds(dev, name, frame_path):
    with dev.create(name, (4,), "u1", slots=12) as p, dev.open(name) as c:
        with pytest.raises(shmstream.Timeout) as e:
            c.acquire(timeout=0)
        assert e.value.errno == errno.EAGAIN
        with pytest.raises(shmstream.Timeout) as e:
            c.acquire(timeout=0.05)
        assert e.value.errno == errno.ETIMEDOUT and isinstance(e.value, TimeoutError)
        with pytest.raises(ValueError):
            c.acquire(timeout=-1)
        with pytest.raises(ValueError):
            c.acquire(mode="oldest")
        max_holds = dev.info(name).max_holds
        for i in range(max_holds + 1):
            p.write(np.full(4, i, np.uint8))
        held = [c.acquire(timeout=0) for _ in range(max_holds)]
        with pytest.raises(shmstream.TooManyHolds) as e:
            c.acquire(timeout=0)
        assert e.value.errno == errno.ENOBUFS
        assert [f.array[0] for f in held] == list(range(max_holds))
        for f in held:
            f.release()
        assert c.acquire(timeout=0).array[0] == max_holds


def test_latest_counts_missed(dev, name, frame_path):
    with dev.create(name, (1,), "u4", slots=8) as p, dev.open(name) as c:
        for i in range(5):
            p.write(np.array([i], np.uint32))
        with c.acquire("latest", 0) as f:
            assert (f.seq, f.missed, int(f.array[0])) == (5, 4, 4)
        assert c.stats()["missed"] == 4


def test_frame_fields_read_first_after_release(dev, name, frame_path):
    # A frame's fields, read first after release(), are still the frame's
    # (both paths: the Frame made in C and in Python)
    with dev.create(name, (3,), "u2", slots=4) as p, dev.open(name) as c:
        p.write(np.array([7, 8, 9], np.uint16), timestamp_ns=123456789)
        p.write(np.array([1, 2, 3], np.uint16))
        f = c.acquire("latest", 0)
        f.release()
        assert f.released and (f.seq, f.missed, f.nbytes) == (2, 1, 6)
        assert (f.shape, f.dtype, f.strides) == ((3,), np.uint16, None)
        assert f.slot in range(4) and f.flags == 0 and f.timestamp_ns > 123456789
        assert repr(f) == "<shmstream.Frame seq=2 released shape=(3,) dtype=uint16>"
        with pytest.raises(shmstream.FrameReleasedError, match="frame 2 was released"):
            f.array
        with pytest.raises(AttributeError, match="no attribute 'sequence'"):
            f.sequence
        assert not hasattr(f, "nosuch")


def test_newest_sees_the_frame_before_it_opened(dev, name):
    with dev.create(name, (1,), "u4", slots=4) as p:
        p.write(np.array([41], np.uint32))
        p.write(np.array([42], np.uint32))
        with dev.open(name) as plain, dev.open(name, newest=True) as newest:
            with pytest.raises(shmstream.Timeout):
                plain.acquire(timeout=0)
            with newest.acquire(timeout=0) as f:
                assert (f.seq, int(f.array[0]), f.missed) == (2, 42, 0)
            assert p.newest()[0] == newest.newest()[0] == 2
        with pytest.raises(ValueError):
            dev.open(name, "producer", newest=True)


def test_read_copies_into_out(dev, name, frame_path):
    with dev.create(name, (3, 3), "f8") as p, dev.open(name) as c:
        p.write(np.eye(3))
        p.write(np.eye(3) * 2)
        a = c.read(timeout=1)
        assert np.array_equal(a, np.eye(3)) and a.flags.writeable and a.flags.owndata
        out = np.zeros((3, 3))
        assert c.read(out=out, timeout=1) is out and np.array_equal(out, np.eye(3) * 2)
        p.write(np.eye(3))
        with pytest.raises(ValueError, match="bytes"):
            c.read(out=np.zeros(2), timeout=1)
        assert c.stats()["holds"] == 0  # the frame went back even so
        with pytest.raises(ValueError, match="writable"):
            c.read(out=np.zeros((3, 3))[:, ::2], timeout=0)


def test_read_of_frames_not_of_the_streams_layout(dev, name, frame_path):
    # read() copies frames of the stream's own format and size straight into
    # a new array (the extension, when built); any other frame is copied
    # through a view of its own layout, and every frame goes back.
    with dev.create(name, (2, 3), "u2", slots=4) as p, dev.open(name) as c:
        small = p.begin(nbytes=4)
        small.array[:] = [1, 2, 3, 4]
        small.commit()
        slot = p.begin()
        slot.array[:] = np.arange(6, dtype=np.uint16).reshape(2, 3)
        slot.commit(format=shmstream.Format(shmstream.fourcc("GREY"), 3, 4, 3))
        p.write(np.full((2, 3), 7, np.uint16))
        a = c.read(timeout=1)
        assert a.dtype == np.uint8 and a.tolist() == [1, 2, 3, 4]
        b = c.read(timeout=1)  # GREY 3x4: 12 bytes of the six uint16
        assert b.shape == (4, 3) and b.tobytes() == np.arange(6, dtype=np.uint16).tobytes()
        out = np.zeros((2, 3), np.uint16)
        assert c.read(out=out, timeout=1) is out and out.tolist() == [[7, 7, 7], [7, 7, 7]]
        assert c.stats()["holds"] == 0
        with pytest.raises(shmstream.Timeout):
            c.read(timeout=0)


def test_acquire_of_frames_not_of_the_streams_layout(dev, name, frame_path):
    # acquire() gives a frame of the stream's own format and size the
    # stream's layout (made in C with the extension), any other its own; the
    # metadata, the fields, and a frame dropped unreleased goes back.
    with dev.create(name, (2, 3), "u2", slots=4) as p, dev.open(name) as c:
        small = p.begin(nbytes=4, meta=b"small")
        small.array[:] = [1, 2, 3, 4]
        small.commit(timestamp_ns=99)
        slot = p.begin()
        slot.array[:] = np.arange(6, dtype=np.uint16).reshape(2, 3)
        slot.commit(format=shmstream.Format(shmstream.fourcc("GREY"), 3, 4, 3))
        p.write(np.full((2, 3), 7, np.uint16), meta=b"own")
        f = c.acquire(timeout=1)
        assert (f.seq, f.nbytes, f.timestamp_ns, f.missed, f.meta) == (1, 4, 99, 0, b"small")
        assert f.shape == (4,) and f.dtype == np.uint8 and f.array.tolist() == [1, 2, 3, 4]
        g = c.acquire(timeout=1)
        assert g.format == shmstream.Format(shmstream.fourcc("GREY"), 3, 4, 3)
        assert g.shape == (4, 3) and g.array.tobytes() == np.arange(6, dtype=np.uint16).tobytes()
        h = c.acquire(timeout=1)
        assert (h.seq, h.shape, h.dtype, h.meta) == (3, (2, 3), np.dtype(np.uint16), b"own")
        assert h.array.tolist() == [[7, 7, 7], [7, 7, 7]] and not h.array.flags.writeable
        assert c.stats()["holds"] == 3
        h.release()
        assert h.released and h.meta == b"own"  # the metadata outlives the release
        assert c.stats()["holds"] == 2
        del f
        gc.collect()
        assert c.stats()["holds"] == 1  # collected: released
        with pytest.raises(shmstream.Timeout):  # nothing held, nothing recorded
            c.acquire(timeout=0)
        assert c.stats()["holds"] == 1 and len(c._frames) == 1
    # closed with g still held: released by the close, and again is a no-op
    assert g.released
    g.release()


def test_the_built_extension_is_the_one_used(dev):
    # make python-build builds shmstream._speedups where python3-dev is; a
    # package that then runs on ctypes alone would hide its failure to load.
    from conftest import speedups_built
    from shmstream import _lib
    if speedups_built() is None:
        pytest.skip("shmstream._speedups is not built (make python-build, python3-dev)")
    fast = _lib.speedups()
    assert fast is not None and fast.__file__ == speedups_built()


def test_write_checks_shape_and_casts_safely(dev, name, frame_path):
    with dev.create(name, (2, 2), "f4") as p, dev.open(name) as c:
        with pytest.raises(ValueError, match="shape"):
            p.write(np.zeros(4))
        with pytest.raises(TypeError):
            p.write(np.zeros((2, 2), complex))
        p.write([[1, 2], [3, 4]])  # int to float: same kind is fine
        assert c.read(timeout=1).tolist() == [[1, 2], [3, 4]]


def test_bytes_streams(dev, name, frame_path):
    with dev.create(name, slot_size=100) as p, dev.open(name) as c:
        assert p.shape is None
        p.write(b"hello")
        p.write(bytearray(100))
        with pytest.raises(ValueError, match="do not fit"):
            p.write(b"x" * 101)
        with c.acquire(timeout=1) as f:
            assert f.array.dtype == np.uint8 and bytes(f.array) == b"hello"
            assert bytes(f.data) == b"hello"
        assert c.read(timeout=1).nbytes == 100


@pytest.mark.parametrize("fourcc,shape", [
    ("RGB3", (4, 6, 3)), ("BGR3", (4, 6, 3)), ("GREY", (4, 6)), ("YUYV", (4, 6, 2)),
    ("NV12", (6, 6)), ("YU12", (6, 6)),
])
def test_image_streams(dev, name, fourcc, shape):
    with dev.create(name, fourcc=fourcc, width=6, height=4) as p, dev.open(name) as c:
        assert p.shape == shape and p.format.fourcc == shmstream.fourcc(fourcc)
        img = np.random.default_rng(1).integers(0, 255, shape, np.uint8)
        with p.begin() as buf:
            assert buf.shape == shape
            buf[:] = img
        with c.acquire(timeout=1) as f:
            assert f.array.shape == shape and np.array_equal(f.array, img)


def test_image_with_padded_lines(dev, name, frame_path):
    with dev.create(name, fourcc="RGB3", width=5, height=2, stride=16) as p, dev.open(name) as c:
        img = np.arange(30, dtype=np.uint8).reshape(2, 5, 3)
        with p.begin() as buf:
            assert buf.strides == (16, 3, 1)
            buf[:] = img
        with c.acquire(timeout=1) as f:
            assert f.array.strides == (16, 3, 1) and np.array_equal(f.array, img)


def test_dlpack_export_of_a_frame(dev, name):
    with dev.create(name, (8, 8), "f4") as p, dev.open(name) as c:
        p.write(np.full((8, 8), 3, np.float32))
        before = _dlpack.live_exports()
        with c.acquire(timeout=1) as f:
            assert f.__dlpack_device__() == (_dlpack.CPU, 0)
            t = np.from_dlpack(f)
            assert np.shares_memory(t, f.array) and t.sum() == 192
            assert not t.flags.writeable
            copy = np.from_dlpack(type("C", (), {
                "__dlpack__": lambda s, stream=None: f.__dlpack__(copy=True),
                "__dlpack_device__": lambda s: (1, 0)})())
            assert not np.shares_memory(copy, f.array) and copy.sum() == 192
        del t
        assert _dlpack.live_exports() == before


def test_iteration_releases_each_frame(dev, name):
    with dev.create(name, (1,), "u8", slots=16) as p, dev.open(name) as c:
        for i in range(10):
            p.write(np.array([i], np.uint64), meta=zlib.crc32(bytes([i])).to_bytes(4, "little"))
        seen = []
        for f in c.frames(timeout=0):
            assert c.stats()["holds"] == 1
            assert int.from_bytes(f.meta, "little") == zlib.crc32(bytes([int(f.array[0])]))
            seen.append(int(f.array[0]))
        assert seen == list(range(10)) and c.stats()["holds"] == 0


def test_destroy_wakes_a_waiting_iteration(dev, name):
    import threading
    p = dev.create(name, (1,), "u1")
    c = dev.open(name)
    waiter, asleep = threading.get_native_id(), []

    def destroy():  # once the iteration sleeps in its acquire, not before
        asleep.append(wait_asleep_in_ioctl(waiter))
        dev.destroy(name)

    t = threading.Thread(target=destroy)
    t.start()
    assert list(c.frames()) == []  # ends on StreamDestroyed instead of waiting
    t.join()
    assert asleep == [True]
    with pytest.raises(shmstream.StreamDestroyed) as e:
        c.acquire(timeout=0)
    assert e.value.errno == errno.EIDRM
    p.close()
    c.close()


def test_module_level_helpers(dev, name):
    with shmstream.create(name, (2,), "u1") as p:
        assert shmstream.info(name).slot_count == 4
        with shmstream.open(name) as c:
            p.write([1, 2])
            assert c.read(timeout=1).tolist() == [1, 2]
        shmstream.destroy(name)
    assert shmstream.default_device() is shmstream.default_device()
    assert shmstream.library_version()
    v = dev.version()
    assert v["abi_major"] == 2 and v["abi_minor"] >= 0
