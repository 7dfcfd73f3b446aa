# SPDX-License-Identifier: LGPL-2.1-or-later
"""A pyshmem-compatible layer over /dev/shmstream: change one import,

    import shmstream.compat.pyshmem as pyshmem

and create/open/unlink/stream/list_streams and the handle's write/read/read_new/
read_new_async/close/unlink/describe/to_config and name/shape/dtype/size/count/
write_time behave as pyshmem's. Readers sleep in the kernel (poll) instead of
polling a counter. Differences, all of them listed in python/README.md:

- one writer at a time: the handle create() returns is the stream's producer, and
  write() on a handle from open() attaches it as the producer, which fails with
  Busy (an OSError, EBUSY) while another handle is the producer;
- no cross-process lock (acquire/release/locked) and no read(safe=False): a frame
  is never changed while read, so there is nothing to lock;
- no GPU streams (gpu_device=): use shmstream's CUDA bridge;
- size is the payload's size in bytes;
- the stream keeps 2 slots (slots= to change), not one buffer.
"""

import contextlib
import time

import numpy as np

from .. import _errors
from .._resource import Resource
from .._stream import default_device

__all__ = ["SharedMemory", "create", "open", "unlink", "stream", "list_streams"]


def _device():
    return default_device()


class SharedMemory(Resource):
    """A handle on a named stream of one fixed-shape array."""

    def __init__(self, name, shape, dtype, *, producer=None, consumer=None, owner=False,
                 device=None):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.size = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        self.owner = owner
        self._device = device or _device()
        self._producer = producer
        self._consumer = consumer
        self._last = None  # copy of the newest frame this handle read
        self.last_read_count = 0  # seq of that frame
        self.missed_writes = 0
        self._closed = False

    def __repr__(self):
        return (f"<shmstream.compat.pyshmem.SharedMemory {self.name!r} shape={self.shape} "
                f"dtype={self.dtype}{' closed' if self._closed else ''}>")

    def _check(self):
        if self._closed:
            raise _errors.ClosedError(f"stream {self.name!r}: the handle is closed")

    def _reader(self):
        self._check()
        if self._consumer is None:
            self._consumer = self._device.open(self.name, "consumer", newest=True)
        return self._consumer

    def _writer(self):
        self._check()
        if self._producer is None:
            self._producer = self._device.open(self.name, "producer")
        return self._producer

    # Attributes pyshmem has

    @property
    def count(self):
        """Completed writes."""
        self._check()
        return self._device.info(self.name).frames

    @property
    def write_time(self):
        """UNIX time of the newest completed write (0.0 before the first)."""
        stream = self._producer or self._reader()
        seq, ts = stream.newest()
        if not seq:
            return 0.0
        return time.time() - (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - ts) / 1e9

    # Writing

    def write(self, value):
        """Publish value (an array of the stream's shape) as the newest frame."""
        arr = value if isinstance(value, np.ndarray) else np.asarray(value, self.dtype)
        if arr.shape != self.shape:
            raise ValueError(f"stream {self.name!r} holds arrays of shape {self.shape}, "
                             f"not {arr.shape}")
        self._writer().write(arr)

    # Reading

    def _take(self, frame):
        with frame:
            if self._last is None:
                self._last = np.empty(self.shape, self.dtype)
            np.copyto(self._last, frame.array.reshape(self.shape))
            if self.last_read_count:
                self.missed_writes += frame.seq - self.last_read_count - 1
            self.last_read_count = frame.seq

    def _result(self, out):
        src = self._last if self._last is not None else np.zeros(self.shape, self.dtype)
        if out is None:
            return src.copy()
        if not isinstance(out, np.ndarray) or out.shape != self.shape or \
                out.dtype != self.dtype:
            raise ValueError(f"out must be an array of shape {self.shape} and dtype {self.dtype}")
        np.copyto(out, src)
        return out

    def read(self, out=None):
        """A copy of the newest complete frame (zeros before the first write); into out
        when given (an array of the stream's shape and dtype), which is returned."""
        reader = self._reader()
        try:
            self._take(reader.acquire("latest", 0))
        except _errors.Timeout:
            pass  # nothing newer than what this handle read
        return self._result(out)

    def read_new(self, timeout=None, out=None):
        """Wait for a frame newer than the last this handle read, and return a copy.
        TimeoutError (shmstream.Timeout) when none comes within timeout seconds."""
        self._take(self._reader().acquire("latest", timeout))
        return self._result(out)

    async def read_new_async(self, timeout=None, out=None):
        """read_new() that waits in the asyncio event loop."""
        self._take(await self._reader().acquire_async("latest", timeout))
        return self._result(out)

    # Life cycle

    def close(self):
        """Close this handle; the stream stays (unlink() removes it)."""
        for s in (self._producer, self._consumer):
            if s is not None:
                s.close()
        self._producer = self._consumer = None
        self._closed = True

    def unlink(self):
        """Remove the stream's name (handles still open keep working until closed)."""
        unlink(self.name, device=self._device)

    delete = unlink

    _end = close

    def describe(self):
        """A dict of what the stream is and how far it got."""
        info = self._device.info(self.name)
        return {
            "name": self.name, "shape": self.shape, "dtype": str(self.dtype),
            "size": self.size, "count": info.frames, "write_time": self.write_time,
            "owner": self.owner, "slots": info.slot_count, "consumers": info.consumers,
            "producer_attached": info.producer, "gpu_device": None, "backend": "shmstream",
        }

    def to_config(self):
        """The keyword arguments that create() takes to make this stream again."""
        return {"name": self.name, "shape": self.shape, "dtype": str(self.dtype)}


def _typed(stream):
    if stream.shape is None or stream.dtype is None:
        stream.close()
        raise ValueError(f"stream {stream.name!r} is not an array stream "
                         "(made by shmstreamctl or another tool, not create())")


def create(name, shape, dtype=np.float64, *, slots=2, mode=0o600, device=None):
    """Create a stream of arrays of shape and dtype; this handle is its writer.

    FileExistsError (shmstream.StreamExists) when the name is taken.
    """
    dev = device or _device()
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    producer = dev.create(name, shape, dtype, slots=slots, mode=mode)
    return SharedMemory(name, shape, dtype, producer=producer, owner=True, device=dev)


def open(name, *, device=None):  # noqa: A001 - pyshmem's name
    """Attach to an existing stream. FileNotFoundError (shmstream.StreamNotFound)
    when there is none."""
    dev = device or _device()
    consumer = dev.open(name, "consumer", newest=True)
    _typed(consumer)
    return SharedMemory(name, consumer.shape, consumer.dtype, consumer=consumer, device=dev)


def unlink(name, *, device=None):
    """Remove a stream. FileNotFoundError (shmstream.StreamNotFound) when there is none."""
    (device or _device()).destroy(name)


@contextlib.contextmanager
def stream(name, shape, dtype=np.float64, **kwargs):
    """with stream(name, shape=..., dtype=...) as shm: a stream created for the block,
    closed and unlinked when it ends."""
    shm = create(name, shape, dtype, **kwargs)
    try:
        yield shm
    finally:
        shm.close()
        with contextlib.suppress(_errors.StreamNotFound):
            shm.unlink()


def list_streams(*, device=None):
    """The names of the streams this process can see, sorted."""
    return (device or _device()).list()

