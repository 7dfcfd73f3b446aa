# SPDX-License-Identifier: LGPL-2.1-or-later
"""GPU mirror frames through DLPack.

With the fake CUDA driver (tests/cuda/fake, "device memory" is host memory at
its device address) the export is checked field by field and its bytes
against the producer's CRC-32. With a real GPU and PyTorch or CuPy, a tensor
is made from the frame without a copy; elsewhere that test SKIPs."""

import ctypes
import os
import subprocess
import zlib

import numpy as np
import pytest

import shmstream
from shmstream import _dlpack
from conftest import BUILD, PATIENCE

FAKE = os.path.join(BUILD, "tests", "cuda", "fake")
CTL = os.path.join(BUILD, "tools", "shmstreamctl")


def fake_driver():
    return FAKE in os.environ.get("LD_LIBRARY_PATH", "").split(":")


@pytest.fixture
def mirror(dev, name):
    """A 4-slot stream of (32, 32) float32 frames and its running gpu-mirror."""
    try:
        count = ctypes.c_int()
        ret = shmstream._lib.lib().shmdev_cuda_device_count(ctypes.byref(count))
    except OSError as e:
        pytest.skip(f"no CUDA bridge: {e}")
    if ret < 0 or count.value < 1:
        pytest.skip(f"no CUDA device: {shmstream._lib.strerror(ret) if ret < 0 else 'none'} "
                    "(the fake driver runs under make check; a real GPU needs the device tool)")
    producer = dev.create(name, (32, 32), "f4", slots=4)
    proc = subprocess.Popen([CTL, "gpu-mirror", name], stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "exported as" in line:
            break
    else:
        pytest.fail(f"gpu-mirror did not start (exit {proc.wait()})")
    yield producer
    dev.destroy(name)  # the mirror exits 0 when the stream goes
    assert proc.wait(PATIENCE) == 0
    producer.close()


def write(producer, i):
    data = np.random.default_rng(i).random((32, 32), dtype=np.float32)
    producer.write(data, meta=zlib.crc32(data).to_bytes(4, "little"))


def decode(capsule):
    api = ctypes.pythonapi
    api.PyCapsule_GetPointer.restype = ctypes.c_void_p
    api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = api.PyCapsule_GetPointer(capsule, b"dltensor")
    return ctypes.cast(ptr, ctypes.POINTER(_dlpack.DLManagedTensor)).contents.dl_tensor


@pytest.mark.skipif(not fake_driver(), reason="checks the fake driver's host-visible memory")
def test_mirror_frame_exports_device_memory(mirror, name):
    with shmstream.GpuStream(name, device=0) as g:
        write(mirror, 1)
        before = _dlpack.live_exports()
        with g.acquire(timeout=PATIENCE) as f:
            assert f.__dlpack_device__() == (_dlpack.CUDA, 0)
            assert (f.shape, f.dtype, f.nbytes, f.seq) == ((32, 32), np.float32, 4096, 1)
            capsule = f.__dlpack__(stream=None)
            t = decode(capsule)
            assert t.data == f.dptr and (t.device.device_type, t.device.device_id) == (2, 0)
            assert t.ndim == 2 and [t.shape[0], t.shape[1]] == [32, 32] and not t.strides
            assert (t.dtype.code, t.dtype.bits, t.dtype.lanes) == (2, 32, 1)
            # Under the fake driver the device pointer is a host address.
            data = ctypes.string_at(f.dptr, f.nbytes)
            assert zlib.crc32(data) == int.from_bytes(f.meta, "little")
            with pytest.raises(BufferError):
                f.__dlpack__(copy=True)
            assert _dlpack.live_exports() == before + 1
            del capsule
            assert _dlpack.live_exports() == before
        with pytest.raises(shmstream.FrameReleasedError):
            f.__dlpack__()
        with pytest.raises(shmstream.Timeout):
            g.acquire(timeout=0.05)


def test_real_gpu_consumer_takes_the_frame_without_a_copy(mirror, name):
    if fake_driver():
        pytest.skip("the fake CUDA driver: no real GPU here")
    try:
        import torch
        to_tensor, checksum = torch.from_dlpack, lambda t: t.cpu().numpy()
    except ImportError:
        try:
            import cupy
            to_tensor, checksum = cupy.from_dlpack, cupy.asnumpy
        except ImportError:
            pytest.skip("neither PyTorch nor CuPy is installed")
    with shmstream.GpuStream(name, device=0) as g:
        for i in range(20):
            write(mirror, i)
            with g.acquire(timeout=PATIENCE) as f:
                t = to_tensor(f)
                assert t.data_ptr() == f.dptr if hasattr(t, "data_ptr") else t.data.ptr == f.dptr
                host = np.ascontiguousarray(checksum(t))
                assert zlib.crc32(host) == int.from_bytes(f.meta, "little")
                del t
