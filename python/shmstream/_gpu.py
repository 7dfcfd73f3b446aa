# SPDX-License-Identifier: LGPL-2.1-or-later
"""GPU consumers of a device mirror (shmstreamctl gpu-mirror): frames as device
pointers, exported through DLPack so PyTorch/CuPy take them without a copy.

    with shmstream.GpuStream("cam0", device=0) as g:
        with g.acquire(timeout=1) as frame:
            t = torch.from_dlpack(frame)     # a CUDA tensor over the mirror's slot
            ...                              # done with t before release
"""

import ctypes
import threading

from . import _dlpack, _formats, _lib
from ._errors import ClosedError, FrameReleasedError, check
from ._resource import Resource
from ._stream import Format, _mode, _timeout_ns

# DLPack's stream argument: 1 the legacy default stream, 2 the per-thread one.
_CU_STREAM_PER_THREAD = 2


class GpuStream(Resource):
    """A consumer of stream name's mirror on GPU device (shmdev_gpu_open(3))."""

    def __init__(self, name, device=0):
        handle = ctypes.c_void_p()
        check(_lib.lib().shmdev_gpu_open(name.encode(), device, ctypes.byref(handle)), name)
        self._ptr = handle.value
        self.name = name
        self.device = device
        info = _lib.shmdev_gpu_info()
        check(_lib.lib().shmdev_gpu_info(self._ptr, ctypes.byref(info)), name)
        self.slot_count = info.slot_count
        self.slot_size = info.slot_size
        self._lock = threading.Lock()  # guards _frames: handles are shared by threads
        self._frames = []

    def _p(self):
        if self._ptr is None:
            raise ClosedError(f"GPU stream {self.name!r} is closed")
        return self._ptr

    def close(self):
        """Release held frames and disconnect from the mirror."""
        if self._ptr is None:
            return
        with self._lock:
            frames = list(self._frames)
        for f in frames:
            f.release()
        _lib.lib().shmdev_gpu_close(self._ptr)
        self._ptr = None

    _end = close

    def acquire(self, mode="next", timeout=None):
        """Hold a device frame ("next" or "latest"); Timeout when none comes."""
        raw = _lib.shmdev_gpu_frame()
        check(_lib.lib().shmdev_gpu_acquire(self._p(), _mode(mode), _timeout_ns(timeout),
                                            ctypes.byref(raw)), self.name)
        frame = GpuFrame(self, raw)
        with self._lock:
            self._frames.append(frame)
        return frame


class GpuFrame(Resource):
    """A frame in a device slot: .dptr (a CUdeviceptr) until release()."""

    def __init__(self, stream, raw):
        self._stream = stream
        self._raw = raw
        self.dptr = raw.dptr
        self.nbytes = raw.len
        self.seq = raw.seq
        self.timestamp_ns = raw.timestamp_ns
        self.missed = raw.missed
        self.slot = raw.slot
        self.format = Format(**raw.format.as_dict())
        self.meta = bytes(raw.meta[:raw.meta_len])
        self.shape, self.dtype, self.strides = _formats.layout(raw.format, raw.len)

    @property
    def released(self):
        return self._raw is None

    def release(self):
        raw, self._raw = self._raw, None
        if raw is None:
            return
        with self._stream._lock:
            self._stream._frames.remove(self)
        check(_lib.lib().shmdev_gpu_release(self._stream._p(), ctypes.byref(raw)),
              self._stream.name)

    _end = release

    def wait(self, cu_stream=None):
        """Make work queued later on cu_stream (a CUstream; None: the legacy default
        stream) wait for this frame's upload."""
        if self._raw is None:
            raise FrameReleasedError(f"frame {self.seq} was released")
        check(_lib.lib().shmdev_gpu_wait(self._stream._p(), ctypes.byref(self._raw),
                                         cu_stream), self._stream.name)

    def __dlpack_device__(self):
        return (_dlpack.CUDA, self._stream.device)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """DLPack export of the device slot. stream (the consumer's CUDA stream, as
        the standard defines it): the export orders it after the upload; -1: no
        ordering. copy=True is refused (BufferError): copy on the consumer's side."""
        if self._raw is None:
            raise FrameReleasedError(f"frame {self.seq} was released")
        if copy:
            raise BufferError("a GPU frame is exported without a copy only")
        if stream is None or stream == 1:
            self.wait(None)
        elif stream == 2:
            self.wait(_CU_STREAM_PER_THREAD)
        elif stream != -1:
            self.wait(stream)
        shaped = _ShapeOnly(self.shape, self.dtype, self.strides)
        return _dlpack.export(shaped, self.dptr, (self._stream, self),
                              device=self.__dlpack_device__(), max_version=max_version)


class _ShapeOnly:
    """What _dlpack.export reads of an array, for memory NumPy cannot address."""

    def __init__(self, shape, dtype, strides):
        self.shape = shape
        self.ndim = len(shape)
        self.dtype = dtype
        item = dtype.itemsize
        contiguous = [item] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            contiguous[i] = contiguous[i + 1] * shape[i + 1]
        self.strides = tuple(strides) if strides else tuple(contiguous)
        self.flags = type("Flags", (), {"c_contiguous": self.strides == tuple(contiguous)})()
