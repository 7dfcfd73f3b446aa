# SPDX-License-Identifier: LGPL-2.1-or-later
"""shmstream.compat.pyshmem, tested against pyshmem's documented behaviour:
create/open/write/read/read(out=)/read_new/timeouts/read_new_async/unlink/
list_streams/the stream context manager/describe/to_config/errors."""

import asyncio
import ctypes
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import shmstream
import shmstream.compat.pyshmem as pyshmem
from shmstream import _dlpack
from conftest import BUILD, PATIENCE


def test_create_open_write_read(dev, name, frame_path):
    writer = pyshmem.create(name, shape=(480, 640), dtype=np.float32)
    reader = pyshmem.open(name)
    assert (reader.name, reader.shape, reader.dtype) == (name, (480, 640), np.float32)
    assert reader.size == 480 * 640 * 4 == writer.size
    assert reader.count == 0 and reader.write_time == 0.0
    # Before the first write a read gives zeros, as pyshmem's fresh buffer does.
    assert not reader.read().any()
    writer.write(np.ones((480, 640), dtype=np.float32))
    frame = reader.read()
    assert frame.dtype == np.float32 and frame.shape == (480, 640) and frame.sum() == 480 * 640
    frame[:] = 5  # a copy: the stream is not changed
    assert reader.read().sum() == 480 * 640
    assert writer.read().sum() == 480 * 640  # the writer's handle reads too
    assert reader.count == 1 and writer.count == 1
    reader.close()
    writer.close()
    pyshmem.unlink(name)


def test_read_is_the_latest_complete_write_even_for_a_late_reader(dev, name, frame_path):
    writer = pyshmem.create(name, shape=(4,), dtype=np.int64)
    for i in range(5):
        writer.write(np.full(4, i))
    reader = pyshmem.open(name)  # opened after the writes
    assert reader.read().tolist() == [4] * 4
    assert reader.read().tolist() == [4] * 4  # no new write: the same value
    writer.write(np.full(4, 9))
    assert reader.read().tolist() == [9] * 4
    out = np.empty(4, np.int64)
    assert reader.read(out=out) is out and out.tolist() == [9] * 4
    with pytest.raises(ValueError):
        reader.read(out=np.empty(5, np.int64))
    with pytest.raises(ValueError):
        reader.read(out=np.empty(4, np.float64))
    reader.close()
    writer.close()
    pyshmem.unlink(name)


def late_writer(name, value, delay):
    time.sleep(delay)
    w = pyshmem.open(name)
    w.write(np.full((2, 2), value, np.float64))
    w.close()


def test_read_new_blocks_until_a_newer_write(dev, name):
    creator = pyshmem.create(name, shape=(2, 2), dtype=np.float64)
    creator.close()  # the stream stays until unlink
    reader = pyshmem.open(name)
    with pytest.raises(TimeoutError):
        reader.read_new(timeout=0.05)
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=late_writer, args=(name, 3.0, 0.2))
    wall0, t0 = time.time(), time.monotonic()  # before the writer exists
    p.start()
    value = reader.read_new(timeout=PATIENCE)  # the write certainly comes
    assert time.monotonic() - t0 >= 0.2  # it slept for the write
    assert value.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    p.join(PATIENCE)
    assert p.exitcode == 0
    with pytest.raises(TimeoutError):  # that write was seen: nothing newer
        reader.read_new(timeout=0.05)
    assert reader.count == 1
    # The write's wall time: after the writer started, not in the future
    # (less the time write_time itself took between its two clock reads).
    m0 = time.monotonic()
    write_time = reader.write_time
    took = time.monotonic() - m0
    assert wall0 + 0.2 - took - 0.05 <= write_time <= time.time() + 0.05
    reader.close()
    pyshmem.unlink(name)


def test_read_new_reports_missed_writes(dev, name, frame_path):
    writer = pyshmem.create(name, shape=(1,), dtype=np.uint32, slots=4)
    reader = pyshmem.open(name)
    writer.write([1])
    assert reader.read_new(timeout=1).tolist() == [1]
    writer.write([2])
    writer.write([3])
    assert reader.read_new(timeout=1).tolist() == [3]
    assert (reader.last_read_count, reader.missed_writes) == (3, 1)
    reader.close()
    writer.close()
    pyshmem.unlink(name)


def test_read_new_async(dev, name):
    writer = pyshmem.create(name, shape=(3,), dtype=np.int16)
    reader = pyshmem.open(name)

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, writer.write, np.array([1, 2, 3], np.int16))
        got = await reader.read_new_async(timeout=PATIENCE)
        with pytest.raises(TimeoutError):
            await reader.read_new_async(timeout=0.05)
        return got

    assert asyncio.run(main()).tolist() == [1, 2, 3]
    reader.close()
    writer.close()
    pyshmem.unlink(name)


def test_stream_context_manager_and_list(dev, name):
    assert pyshmem.create(name, shape=(2,)).dtype == np.float32  # pyshmem's default
    pyshmem.unlink(name)
    with pyshmem.stream(name, shape=(2,), dtype=np.uint8) as shm:
        assert name in pyshmem.list_streams()
        shm.write([1, 2])
        assert pyshmem.open(name).read().tolist() == [1, 2]
    assert name not in pyshmem.list_streams()  # closed and unlinked


def test_describe_and_to_config(dev, name):
    writer = pyshmem.create(name, shape=(2, 3), dtype="float32")
    writer.write(np.zeros((2, 3)))
    d = writer.describe()
    assert d["name"] == name and d["shape"] == (2, 3) and d["dtype"] == "float32"
    assert d["size"] == 24 and d["count"] == 1 and d["write_time"] > 0
    cfg = writer.to_config()
    assert cfg == {"name": name, "shape": (2, 3), "dtype": "float32"}
    writer.close()
    pyshmem.unlink(name)
    again = pyshmem.create(**cfg)  # to_config() recreates it
    assert again.shape == (2, 3) and again.dtype == np.float32
    again.close()
    pyshmem.unlink(name)


def test_errors(dev, name):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pyshmem.open(name)
    pyshmem.unlink(name)  # no stream: nothing happens, as in pyshmem
    w = pyshmem.create(name, shape=(2,), dtype=np.float64)
    with pytest.raises(FileExistsError, match="already exists"):
        pyshmem.create(name, shape=(2,), dtype=np.float64)
    with pytest.raises(ValueError):
        w.write(np.zeros(3))
    with pytest.raises(ValueError):
        pyshmem.create(name + "v", shape=(2,), dtype=[("a", "u1")])
    with pytest.raises(ValueError, match="size does not match"):
        pyshmem.create(name + "v", shape=(2,), dtype=np.float32, size=12)
    with pytest.raises(ValueError, match="only CUDA"):
        pyshmem.create(name + "v", shape=(2,), gpu_device="cpu")
    # Any handle may write: writes take the write lock, not the producer for good.
    r = pyshmem.open(name)
    r.write(np.ones(2))
    assert r.read().tolist() == [1.0, 1.0]
    w.write(np.full(2, 2.0))
    assert r.read().tolist() == [2.0, 2.0]
    w.close()
    r.close()
    with pytest.raises(RuntimeError, match="closed shared memory"):  # closed handle
        r.read()
    with pytest.raises(ValueError):  # also shmstream's ClosedError
        r.read()
    r.unlink()
    assert name not in pyshmem.list_streams()
    # A stream that is not an array stream cannot be opened as one.
    with dev.create(name, slot_size=10):
        with pytest.raises(ValueError, match="not an array stream"):
            pyshmem.open(name)


def hold_lock(name, held, go):
    shm = pyshmem.open(name)
    shm.acquire(timeout=PATIENCE)
    held.set()
    go.wait(PATIENCE)
    os._exit(0)  # dies holding it: the kernel gives the producer role back


def test_write_lock_is_the_producer_role(dev, name):
    w = pyshmem.create(name, shape=(2,), dtype=np.int32)
    r = pyshmem.open(name)
    with pytest.raises(RuntimeError, match="unlocked"):
        r.release()
    with pytest.raises(RuntimeError, match="safe=False requires"):
        r.read(safe=False)
    with r.locked(timeout=1):
        assert dev.info(name).producer  # held: this process is the producer
        with r.locked():  # re-entrant in this thread, through any handle
            w.write([1, 2])
        assert r.read(safe=False).tolist() == [1, 2]
        # A native producer cannot attach while the lock is held.
        with pytest.raises(shmstream.Busy):
            dev.open(name, "producer")
        # Another thread waits for it.
        got = []
        t = threading.Thread(target=lambda: got.append(
            pytest.raises(TimeoutError, w.acquire, timeout=0.05)))
        t.start()
        t.join(PATIENCE)
        assert got
    assert not dev.info(name).producer  # released: detached
    # Another process holds it; this one waits, then gets it once that one dies.
    ctx = multiprocessing.get_context("fork")
    held, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=hold_lock, args=(name, held, go))
    p.start()
    assert held.wait(PATIENCE)
    with pytest.raises(TimeoutError):
        w.acquire(timeout=0.05)
    go.set()
    p.join(PATIENCE)
    w.acquire(timeout=PATIENCE)
    w.clear()
    assert w.count == 2 and w.write_sequence == 4
    assert r.read().tolist() == [0, 0]
    w.close()  # releases what this thread holds
    assert not dev.info(name).producer
    assert repr(r) == (f"SharedMemory(name={name!r}, shape=(2,), dtype='int32', "
                       "gpu_device=None)")
    assert (r.gpu_device, r.gpu_enabled, r.cpu_mirror) == (None, False, True)
    r.close()
    r.close()  # idempotent
    pyshmem.unlink(name)


def test_a_write_parks_the_producer_role(dev, name, frame_path):
    w = pyshmem.create(name, shape=(2,), dtype=np.int32)
    r = pyshmem.open(name)
    w.write([1, 2])
    assert dev.info(name).producer  # parked: still attached after the write
    deadline = time.monotonic() + PATIENCE
    while dev.info(name).producer and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not dev.info(name).producer  # given back once unused for a while
    # Another process's lock waits for a parked one, then gets it.
    w.write([3, 4])
    ctx = multiprocessing.get_context("fork")
    held, go = ctx.Event(), ctx.Event()
    p = ctx.Process(target=hold_lock, args=(name, held, go))
    p.start()
    assert held.wait(PATIENCE)
    go.set()
    p.join(PATIENCE)
    assert p.exitcode == 0
    # A parked producer of a stream destroyed (and made again) behind this
    # process's back: the next write attaches to the new one.
    w.write([5, 6])
    assert r.read().tolist() == [5, 6]
    dev.destroy(name)
    w2 = pyshmem.create(name, shape=(2,), dtype=np.int32)
    w.write([7, 8])
    assert pyshmem.open(name).read().tolist() == [7, 8]
    # unlink() gives this process's parked producer back first.
    w2.write([9, 10])
    assert dev.info(name).producer
    w2.unlink()
    w3 = pyshmem.create(name, shape=(2,), dtype=np.int32)
    assert not dev.info(name).producer
    w3.write([11, 12])
    assert pyshmem.open(name).read().tolist() == [11, 12]
    for h in (w, w2, w3, r):
        h.close()
    pyshmem.unlink(name)


@pytest.mark.parametrize("shape", [(2, 3), (240, 320)], ids=["write2", "mapped"])
def test_writes_through_a_parked_lock_convert_what_is_not_taken_as_is(dev, name, frame_path,
                                                                      shape, monkeypatch):
    # After the first write the lock is parked: an array of the stream's
    # dtype and shape goes in as it is, anything else is converted (or
    # refused) as by the first write, and the lock stays usable after a
    # refusal. Small frames go in with write(2), large ones (300 KiB here)
    # into a slot of the mapped ring. Parked for a minute, not 20 ms: the
    # checks between two writes take longer than that under emulation.
    monkeypatch.setattr(pyshmem, "_PARK_S", 60.0)
    w = pyshmem.create(name, shape=shape, dtype=np.float32)
    r = pyshmem.open(name)
    w.write(np.zeros(shape, np.float32))
    assert (r.read_new(timeout=PATIENCE) == 0).all()
    n = shape[0] * shape[1]
    base = np.arange(n).reshape(shape) % 1000
    values = [(base + 10).astype(np.float32), (base + 20).tolist(), base + 30.0,
              np.asfortranarray(base + 40, np.float32), (base + 50).astype(np.int16)]
    for i, v in enumerate(values, 1):
        assert dev.info(name).producer  # parked
        w.write(v)
        got = r.read_new(timeout=PATIENCE)
        assert got.dtype == np.float32 and got.shape == shape
        assert np.array_equal(got, base + 10 * i)
    with pytest.raises(ValueError, match="shape"):
        w.write(np.zeros(shape[::-1], np.float32))
    with pytest.raises(ValueError, match="shape"):
        w.write(np.zeros(n, np.float32))
    with pytest.raises(ValueError):
        w.write(b"\0" * (4 * n))  # as pyshmem: bytes are not an array of floats
    w.write(np.full(shape, 6, np.float32))
    assert (r.read_new(timeout=PATIENCE) == 6).all()
    assert r.missed_writes == 0 and r.count == 7
    for h in (w, r):
        h.close()
    pyshmem.unlink(name)


def test_read_again_without_a_new_write(dev, name, frame_path):
    # No copy of each frame is kept: read() with nothing new reads the newest
    # frame again through a new consumer.
    w = pyshmem.create(name, shape=(3, 5), dtype=np.uint16)
    r = pyshmem.open(name)
    assert not r.read().any()
    w.write(np.arange(15, dtype=np.uint16).reshape(3, 5))
    first = r.read_new(timeout=PATIENCE)
    first[:] = 0  # the caller's copy
    for _ in range(3):
        again = r.read()
        assert again.tolist() == np.arange(15).reshape(3, 5).tolist()
    out = np.empty((3, 5), np.uint16)
    assert r.read(out=out) is out and out.sum() == 105
    assert r.last_read_count == 1 and r.missed_writes == 0
    w.close()
    r.close()
    pyshmem.unlink(name)


# pyshmem's GPU API on shmstream's device mirror, with the fake CUDA driver
# (its "device memory" is host memory at the device address) and a tensor
# factory that stands for PyTorch's.

FAKE = os.path.join(BUILD, "tests", "cuda", "fake")
CTL = os.path.join(BUILD, "tools", "shmstreamctl")


def fake_driver():
    return FAKE in os.environ.get("LD_LIBRARY_PATH", "").split(":")


class FakeTensor:
    """What the test's tensor factory makes: a copy of the device frame."""

    def __init__(self, array, device="cuda:0"):
        self.array, self.device = array, device

    def clone(self):
        return FakeTensor(self.array.copy(), self.device)


class FakeCudaTensor:
    """A CUDA tensor as the layer sees one: DLPack device kDLCUDA, .cpu()."""

    def __init__(self, array):
        self.array = array

    def __dlpack_device__(self):
        return (2, 0)

    def cpu(self):
        return FakeTensor(self.array, "cpu")


def fake_tensor(frame):
    capsule = frame.__dlpack__(stream=-1)
    api = ctypes.pythonapi
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = api.PyCapsule_GetPointer(capsule, b"dltensor")
    t = ctypes.cast(ptr, ctypes.POINTER(_dlpack.DLManagedTensor)).contents.dl_tensor
    assert (t.device.device_type, t.device.device_id) == (2, 0)  # kDLCUDA, GPU 0
    shape = tuple(t.shape[i] for i in range(t.ndim))
    data = ctypes.string_at(t.data, frame.nbytes)  # a host address under the fake
    return FakeTensor(np.frombuffer(data, frame.dtype).reshape(shape).copy())


FakeTensor.numpy = lambda self: self.array


@pytest.fixture
def gpu(monkeypatch):
    if not fake_driver():
        pytest.skip("needs the fake CUDA driver (run.sh guest sets it up)")
    if not pyshmem.gpu_available():
        pytest.skip("the CUDA bridge finds no device")
    monkeypatch.setenv("SHMSTREAM_CTL", CTL)
    pyshmem.set_tensor_factory(fake_tensor)
    yield
    pyshmem.set_tensor_factory(None)


def test_gpu_device_names():
    assert [pyshmem._gpu_index(d) for d in ("cuda", "cuda:0", "cuda:3", 2)] == [0, 0, 3, 2]
    for bad in ("cpu", "cuda:x", -1):
        with pytest.raises(ValueError):
            pyshmem._gpu_index(bad)


def test_gpu_stream_reads_device_tensors(dev, name, gpu):
    w = pyshmem.create(name, shape=(4, 8), dtype=np.float32, gpu_device="cuda:0",
                       cpu_mirror=False)
    assert (w.gpu_device, w.gpu_enabled, w.cpu_mirror) == ("cuda:0", True, True)
    assert repr(w).endswith("gpu_device='cuda:0')")
    g = pyshmem.open(name, gpu_device="cuda:0")
    c = pyshmem.open(name)  # no gpu_device: the host frames (the CPU mirror)
    assert (g.gpu_device, c.gpu_device) == ("cuda:0", None)
    payload = np.arange(32, dtype=np.float32).reshape(4, 8)
    w.write(payload)
    t = g.read_new(timeout=PATIENCE)
    assert isinstance(t, FakeTensor) and t.device == "cuda:0"
    assert (t.array == payload).all()
    again = g.read()  # nothing newer: a clone of the last one
    assert again is not t and (again.array == payload).all()
    assert (c.read_new(timeout=PATIENCE) == payload).all()
    # A CUDA tensor goes in through the host ring.
    w.write(FakeCudaTensor(payload * 2))
    assert (g.read_new(timeout=PATIENCE).array == payload * 2).all()
    assert (w.read_new(timeout=PATIENCE).array == payload * 2).all()  # the creator reads too
    assert g.last_read_count == 2
    # A stream with no mirror on that GPU is read on the host.
    with pyshmem.stream(name + "h", shape=(2,)) as h:
        hg = pyshmem.open(name + "h", gpu_device=0)
        assert (hg.gpu_device, hg.gpu_enabled) == (None, False)
        hg.close()
    for h in (g, c):
        h.close()
    mirror = pyshmem._mirrors[(dev.path, name)]
    w.unlink()  # the mirror exits with the stream
    assert mirror.returncode == 0 and (dev.path, name) not in pyshmem._mirrors


def test_gpu_stream_needs_a_gpu(dev, name, monkeypatch):
    monkeypatch.setattr(pyshmem, "gpu_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        pyshmem.create(name, shape=(2,), gpu_device="cuda:0")
    assert name not in pyshmem.list_streams()
