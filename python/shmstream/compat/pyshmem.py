# SPDX-License-Identifier: LGPL-2.1-or-later
"""A pyshmem-compatible layer over /dev/shmstream: change one import,

    import shmstream.compat.pyshmem as pyshmem

and create/open/unlink/gpu_available and the handle's write/read/read_new/clear/
acquire/release/locked/close/unlink/delete and name/shape/dtype/size/count/
write_time/write_sequence/gpu_device/gpu_enabled/cpu_mirror/owner behave as
pyshmem's (plus stream/list_streams/read_new_async/describe/to_config/
set_tensor_factory). Readers sleep in the kernel (poll) instead of polling a
counter. GPU streams (create(..., gpu_device=)) are host streams with
shmstream's device mirror; GPU handles read device tensors through DLPack.

The write lock: pyshmem's lock is one per process and name, re-entrant within a
thread, and across processes a file lock. Here the cross-process part is the
stream's producer role, which the kernel gives to one file at a time (ATTACH
PRODUCER fails with EBUSY while another file holds it) and takes back from a
process that dies. acquire() attaches this process as the producer (retrying
every poll_interval until timeout), release() detaches it; write() and clear()
take the lock for the write as pyshmem's do. Every difference from pyshmem is
listed in python/README.md.
"""

import contextlib
import ctypes
import errno
import fcntl
import os
import threading
import time

import numpy as np

from .. import _dlpack, _errors, _lib
from .._gpu import GpuStream
from .._resource import Resource
from .._stream import default_device

__all__ = ["SharedMemory", "create", "open", "unlink", "gpu_available", "stream",
           "list_streams", "set_tensor_factory"]


def _device():
    return default_device()


class ClosedHandleError(_errors.ClosedError, RuntimeError):
    """A handle used after close(): pyshmem's RuntimeError (and shmstream's
    ClosedError, a ValueError)."""


def gpu_available():
    """True when the CUDA bridge finds a GPU (libshmdev loads libcuda.so.1), so
    that create(..., gpu_device=) can mirror a stream onto it."""
    count = ctypes.c_int()
    try:
        ret = _lib.lib().shmdev_cuda_device_count(ctypes.byref(count))
    except OSError:
        return False
    return ret >= 0 and count.value > 0


# GPU streams. pyshmem keeps a GPU stream's payload in a CUDA tensor and hands
# readers clones of it. Here frames always go through the host ring (so every
# GPU stream has its CPU mirror), and shmstream's device mirror
# (shmstreamctl gpu-mirror, started by create(gpu_device=)) uploads each one
# into a device ring; a handle with a gpu_device reads the device frame
# (shmstream.GpuStream) and turns it into a tensor of its own with the
# tensor factory: torch.from_dlpack(frame).clone() where PyTorch is,
# cupy.from_dlpack(frame).copy() where CuPy is, or what set_tensor_factory()
# was given (it must return a copy: the frame is released after).

_tensor_factory = None


def set_tensor_factory(factory):
    """factory(frame) -> a device tensor that owns a copy of frame (a
    shmstream.GpuFrame, a DLPack producer on kDLCUDA); None: the default
    (PyTorch, else CuPy)."""
    global _tensor_factory
    _tensor_factory = factory


def _to_tensor(frame):
    if _tensor_factory is not None:
        return _tensor_factory(frame)
    try:
        import torch
        return torch.from_dlpack(frame).clone()
    except ImportError:
        pass
    try:
        import cupy
        return cupy.from_dlpack(frame).copy()
    except ImportError:
        raise RuntimeError("reading a GPU stream gives a device tensor: it needs PyTorch "
                           "or CuPy, or pyshmem.set_tensor_factory()") from None


def _clone(tensor):
    clone = getattr(tensor, "clone", None)  # torch; cupy and NumPy: copy()
    return clone() if clone is not None else tensor.copy()


def _gpu_index(gpu_device):
    """The CUDA ordinal of "cuda", "cuda:N", N or a torch.device."""
    if isinstance(gpu_device, (int, np.integer)) and not isinstance(gpu_device, bool):
        index = int(gpu_device)
    else:
        kind = getattr(gpu_device, "type", None)
        if kind is not None:  # torch.device
            index = getattr(gpu_device, "index", None)
        else:
            kind, _, number = str(gpu_device).partition(":")
            try:
                index = int(number) if number else None
            except ValueError:
                raise ValueError(f"bad CUDA device {gpu_device!r}") from None
        if kind != "cuda":
            raise ValueError("only CUDA devices are currently supported")
        index = 0 if index is None else int(index)
    if index < 0:
        raise ValueError(f"bad CUDA device {gpu_device!r}")
    return index


def _host(value):
    """A device tensor's host copy (torch: .cpu(), CuPy: .get()); anything
    else as it is."""
    device = getattr(value, "__dlpack_device__", None)
    if device is None or isinstance(value, np.ndarray) or device()[0] == _dlpack.CPU:
        return value
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
        return value.numpy() if hasattr(value, "numpy") else value
    if hasattr(value, "get"):
        return value.get()
    raise TypeError(f"cannot copy a {type(value).__name__} on device {device()} to the host "
                    "(no .cpu() or .get())")


_mirrors = {}  # (device path, name) -> the gpu-mirror process this one started


def _ctl():
    return os.environ.get("SHMSTREAM_CTL", "shmstreamctl")


def _start_mirror(dev, name, index, slots):
    """Run shmstreamctl gpu-mirror NAME --device index; returns once it has
    published its device ring. It exits when the stream is destroyed."""
    import subprocess
    try:
        proc = subprocess.Popen([_ctl(), "gpu-mirror", name, "--device", str(index),
                                 "--slots", str(max(2, slots))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as e:
        raise RuntimeError(f"cannot start the GPU mirror ({_ctl()} gpu-mirror): {e}; "
                           "SHMSTREAM_CTL names shmstreamctl") from None
    for line in proc.stdout:
        if "exported as" in line:
            break
    else:
        err = proc.stderr.read().strip()
        proc.wait()
        raise RuntimeError(f"the GPU mirror of {name!r} on cuda:{index} did not start "
                           f"(exit status {proc.returncode}): {err}")
    # What it prints from now on is drained (a closed pipe would kill it).
    for pipe in (proc.stdout, proc.stderr):
        threading.Thread(target=_drain, args=(pipe,), daemon=True).start()
    _mirrors[(dev.path, name)] = proc


def _drain(pipe):
    with pipe:
        for _ in pipe:
            pass


def _stop_mirror(dev, name):
    proc = _mirrors.pop((dev.path, name), None)
    if proc is not None:  # it exits when the stream is destroyed
        try:
            proc.wait(5)
        except Exception:
            proc.kill()
            proc.wait()


# The write lock, one per process and stream name (pyshmem's is too): an RLock
# for the threads of this process, and the producer role for the processes.

# Frames up to this size go in with write(2) (see _Producer), larger ones
# through a mapping.
_WRITE2_MAX = 64 * 1024


class _Producer:
    """A file of the device attached as the stream's producer, with no mapping:
    frames go in with write(2), which takes a free slot, copies and commits in
    one system call. Four calls take the lock, write and give it back (open,
    ATTACH, write, close), where a libshmdev producer also maps the ring and
    reads its geometry."""

    __slots__ = ("fd", "name")

    def __init__(self, path, name):
        arg = _lib.shmstream_attach(size=ctypes.sizeof(_lib.shmstream_attach),
                                    flags=_lib.ATTACH_PRODUCER, name=name.encode())
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, _lib.IOC_ATTACH, arg)
        except OSError as e:
            os.close(fd)
            raise _errors.error(-e.errno, name) from None
        self.fd, self.name = fd, name

    def write(self, arr):
        try:
            n = os.write(self.fd, arr)
        except OSError as e:
            raise _errors.error(-e.errno, self.name) from None
        if n != arr.nbytes:
            raise _errors.Error(errno.EIO, f"{self.name}: wrote {n} of {arr.nbytes} bytes")

    def close(self):
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class _Lock:
    def __init__(self):
        self.reset()

    def reset(self):
        self.rlock = threading.RLock()
        self.owner = None  # the thread that holds it
        self.depth = 0
        # The producer file while held, and while parked (held by no thread,
        # given back by the reaper at park_until).
        self.producer = None
        self.park_until = 0.0
        self.in_parked = False  # in _parked
        self.contended = False  # this process waited for it: it parks no more


_locks = {}
_locks_guard = threading.Lock()


def _lock(device, name):
    with _locks_guard:
        return _locks.setdefault((device.path, name), _Lock())


# Parking. A write takes the lock for itself, and attaching as the producer
# then detaching costs system calls (and for large frames a mapping) on every
# write. So a write leaves the producer attached, "parked", for _PARK_S: the
# process's next write, if it comes within that time, finds it attached. The
# reaper thread gives back a lock parked for longer; another process that
# wants it meanwhile retries every poll_interval, so it waits up to _PARK_S
# more than with pyshmem, and a process that has had to wait so parks no
# more (two writing processes take turns at once). A parked lock is still the
# producer role: a process that dies gives it back, and unlink() in this
# process gives it back first.
_PARK_S = 0.02
_FOREVER = float("inf")
_parked = set()  # locks parked or held since, under _park_cond
_park_cond = threading.Condition()
_reaper_pid = None
_reaper_idle = True  # waiting with nothing parked (or not started)


def _park(lock):
    """Park lock (held by this thread, depth 0) until now + _PARK_S. A lock
    stays in _parked while a thread takes it again (park_until is then
    infinite): a write touches no shared state but its own lock's."""
    global _reaper_pid
    lock.park_until = time.monotonic() + _PARK_S
    if lock.in_parked:
        return
    with _park_cond:
        _parked.add(lock)
        lock.in_parked = True
        if _reaper_pid != os.getpid():
            _reaper_pid = os.getpid()
            threading.Thread(target=_reaper, name="shmstream-pyshmem-locks",
                             daemon=True).start()
        elif _reaper_idle:
            _park_cond.notify()


def _reaper():
    # Wakes every _PARK_S at most while a lock is parked (or held since), and
    # gives back those parked for longer than that.
    global _reaper_idle
    while True:
        with _park_cond:
            while True:
                now = time.monotonic()
                due = [lock for lock in _parked if lock.park_until <= now]
                if due:
                    break
                _reaper_idle = not _parked
                _park_cond.wait(min(_PARK_S, min(lock.park_until for lock in _parked) - now)
                                if _parked else None)
                _reaper_idle = False
        for lock in due:
            _give_back(lock)


def _give_back(lock, *, now=False):
    """Detach a parked lock's producer (when due, or now), unless a thread
    holds the lock (a writer: it parks it again after)."""
    if not lock.rlock.acquire(blocking=False):
        return
    try:
        if lock.owner is not None or (lock.park_until > time.monotonic() and not now):
            return
        with _park_cond:
            _parked.discard(lock)
            lock.in_parked = False
        producer, lock.producer = lock.producer, None
        if producer is not None:
            producer.close()
    finally:
        lock.rlock.release()


def _forget_locks():
    # A forked child holds none of its parent's locks, parked or not: its
    # copies of the producer files are closed (the parent keeps its own, and
    # the role), and handles it inherited find the locks free.
    global _locks_guard, _park_cond, _reaper_pid, _reaper_idle
    _locks_guard = threading.Lock()
    _park_cond = threading.Condition()
    _parked.clear()
    _reaper_pid, _reaper_idle = None, True
    for lock in _locks.values():
        producer = lock.producer
        lock.reset()
        if producer is not None:
            producer.close()


os.register_at_fork(after_in_child=_forget_locks)


class SharedMemory(Resource):
    """A handle on a named stream of one fixed-shape array."""

    gpu_device = None
    gpu_enabled = False
    cpu_mirror = True

    def __init__(self, name, shape, dtype, *, consumer=None, owner=False, device=None,
                 gpu=None):
        self.name = name
        if gpu is not None:  # a GpuStream on the stream's device mirror
            self.gpu_device, self.gpu_enabled = f"cuda:{gpu.device}", True
        self._gpu = gpu
        self._gpu_last = None  # the newest device frame this handle read, as a tensor
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.size = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        # For write(): the buffer format and shape of an array taken as it is
        # (None: the dtype exports no buffer; every value is converted).
        try:
            self._spec = (memoryview(np.empty(0, self.dtype)).format, self.shape)
        except (TypeError, ValueError, BufferError):
            self._spec = None
        self.owner = owner
        self._device = device or _device()
        self._consumer = consumer
        self._lock = _lock(self._device, name)
        self.last_read_count = 0  # seq of the newest frame this handle read
        self.missed_writes = 0
        self._closed = False

    def __repr__(self):
        return (f"SharedMemory(name={self.name!r}, shape={self.shape!r}, "
                f"dtype={str(self.dtype)!r}, gpu_device={self.gpu_device!r})")

    def _check(self, operation):
        if self._closed:
            raise ClosedHandleError(f"cannot {operation} closed shared memory {self.name!r}; "
                                    f"reopen it with pyshmem.open({self.name!r})")

    def _reader(self, operation="read from"):
        self._check(operation)
        if self._consumer is None:
            self._consumer = self._device.open(self.name, "consumer", newest=True)
        return self._consumer

    # Attributes pyshmem has

    @property
    def count(self):
        """Completed writes."""
        self._check("read count from")
        return self._device.info(self.name).frames

    @property
    def write_sequence(self):
        """pyshmem's write counter: two steps a write. Writes here are never seen
        half done, so it is always even: 2 * count."""
        self._check("read write_sequence from")
        return 2 * self._device.info(self.name).frames

    @property
    def write_time(self):
        """UNIX time of the newest completed write (0.0 before the first)."""
        seq, ts = self._reader("read write_time from").newest()
        if not seq:
            return 0.0
        return time.time() - (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - ts) / 1e9

    # The write lock

    def _owned(self):
        return self._lock.owner == threading.get_ident()

    def acquire(self, *, timeout=None, poll_interval=1e-3):
        """Take the stream's write lock: re-entrant within a thread, exclusive
        between threads and processes (the stream's producer role; a process that
        dies gives it back). TimeoutError when it is not free within timeout s."""
        self._check("acquire")
        lock = self._lock
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        if not lock.rlock.acquire(timeout=-1 if timeout is None else max(0.0, float(timeout))):
            raise _errors.Timeout(errno.ETIMEDOUT, "timed out waiting for shared memory lock")
        if lock.owner == threading.get_ident():
            lock.depth += 1
            return
        try:
            producer = lock.producer
            if producer is not None:  # parked: still attached
                lock.park_until = float("inf")
            while producer is None:
                try:
                    producer = self._attach()
                except _errors.Busy:
                    lock.contended = True
                    if deadline is not None and time.monotonic() >= deadline:
                        raise _errors.Timeout(errno.ETIMEDOUT,
                                              "timed out waiting for shared memory lock")
                    time.sleep(poll_interval)
        except BaseException:
            lock.rlock.release()
            raise
        lock.producer, lock.owner, lock.depth = producer, threading.get_ident(), 1

    def _attach(self):
        """Attach as the producer: write(2) for small frames, a mapped ring for
        large ones (one copy by NumPy; the kernel's copy in write(2) costs
        more under emulation), through libshmdev."""
        if self.size <= _WRITE2_MAX:
            return _Producer(self._device.path, self.name)
        return self._device.open(self.name, "producer")

    def release(self):
        """Give back one level of this thread's hold on the write lock."""
        self._check("release")
        self._release(park=False)

    def _release(self, park):
        lock = self._lock
        if lock.owner is None:
            raise RuntimeError("cannot release an unlocked shared memory lock")
        if lock.owner != threading.get_ident():
            raise RuntimeError("cannot release a lock owned by another thread")
        lock.depth -= 1
        if lock.depth:
            lock.rlock.release()
            return
        lock.owner = None
        if park and not lock.contended and lock.producer is not None:
            _park(lock)
            lock.rlock.release()
            return
        producer, lock.producer = lock.producer, None
        try:
            if lock.in_parked:
                with _park_cond:
                    _parked.discard(lock)
                    lock.in_parked = False
            if producer is not None:
                producer.close()
        finally:
            lock.rlock.release()

    @contextlib.contextmanager
    def locked(self, *, timeout=None, poll_interval=1e-3):
        """with shm.locked(): the write lock held for the block."""
        self.acquire(timeout=timeout, poll_interval=poll_interval)
        try:
            yield self
        finally:
            self.release()

    # Writing

    def write(self, value):
        """Publish value (an array of the stream's shape) as the newest frame,
        under the write lock."""
        if self._closed:
            self._check("write to")
        lock = self._lock
        producer = lock.producer
        if producer is not None and lock.owner is None and lock.rlock.acquire(blocking=False):
            # Parked by this process and free: write with it as it is, the
            # lock held for the write only (what acquire() and _release()
            # would do, without their bookkeeping).
            if lock.owner is None and lock.producer is producer:
                lock.park_until = _FOREVER  # the reaper leaves it be
                try:
                    fast = _lib.speedups() if self._spec is not None else None
                    # An array of the stream's dtype and shape goes in as it
                    # is, checked on its buffer by the C extension: write(2),
                    # or into a slot of the mapped ring (large frames). None:
                    # anything else, converted here first.
                    n = None
                    if fast is not None and type(value) is np.ndarray:
                        if type(producer) is _Producer:
                            n = fast.write_fd(producer.fd, value, *self._spec)
                            if n is not None and n >= 0 and n != self.size:
                                raise _errors.Error(errno.EIO, f"{self.name}: wrote {n} of "
                                                    f"{self.size} bytes")
                        else:
                            n = fast.write_frame(producer._p(), _lib.FOREVER, value,
                                                 *self._spec)
                    if n is None:
                        producer.write(self._array(value))
                    elif n < 0:
                        raise _errors.error(n, self.name)
                except _errors.StreamDestroyed:
                    lock.rlock.release()
                    self._write_locked(self._array(value), parked=True)
                    return
                except BaseException:
                    lock.park_until = time.monotonic() + _PARK_S
                    lock.rlock.release()
                    raise
                lock.park_until = time.monotonic() + _PARK_S
                lock.rlock.release()
                return
            lock.rlock.release()
        arr = self._array(value)
        if lock.owner == threading.get_ident():  # under this thread's lock
            lock.producer.write(arr)
            return
        self._write_locked(arr, parked=producer is not None)

    def _array(self, value):
        """value as a C-contiguous array of the stream's dtype and shape."""
        if type(value) is np.ndarray and value.dtype == self.dtype and \
                value.shape == self.shape and value.flags.c_contiguous:
            return value  # as it is: nothing to convert
        if not isinstance(value, np.ndarray):
            value = _host(value)  # a CUDA tensor: through the host ring
        arr = np.asarray(value, dtype=self.dtype)
        if arr.shape != self.shape:
            raise ValueError(f"expected shape {self.shape}, got {arr.shape}")
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        return arr

    def _write_locked(self, arr, parked):
        lock = self._lock
        # The lock for one write, without locked()'s generator, parked after
        self.acquire()
        try:
            try:
                lock.producer.write(arr)
            except _errors.StreamDestroyed:
                if not parked:
                    raise
                # parked on a stream since unlinked (and maybe created again)
                producer, lock.producer = lock.producer, None
                producer.close()
                lock.producer = self._attach()
                lock.producer.write(arr)
        finally:
            self._release(park=True)

    def clear(self):
        """Publish a frame of zeros (a write: count goes up by one)."""
        self._check("clear")
        self.write(np.zeros(self.shape, self.dtype))

    # Reading

    def _out(self, out):
        if not isinstance(out, np.ndarray) or out.shape != self.shape or \
                out.dtype != self.dtype:
            raise ValueError(f"out must be an array of shape {self.shape} and dtype {self.dtype}")
        return out

    def _took(self, result):
        out, seq = result
        if self.last_read_count:
            self.missed_writes += seq - self.last_read_count - 1
        self.last_read_count = seq
        return out

    def _again(self, out):
        """The newest frame once more, when this handle has read it already (its
        consumer's cursor is past it, and no copy of each frame is kept for
        this): a file attached as a consumer with ATTACH_NEWEST starts just
        before the newest frame, and read(2) copies that frame out. Four
        system calls (open, ATTACH, read, close), no mapping. Zeros before the
        first write."""
        if out is None:
            out = np.empty(self.shape, self.dtype)
        arg = _lib.shmstream_attach(size=ctypes.sizeof(_lib.shmstream_attach),
                                    flags=_lib.ATTACH_CONSUMER | _lib.ATTACH_NEWEST,
                                    name=self.name.encode())
        fd = os.open(self._device.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, _lib.IOC_ATTACH, arg)
            n = os.readv(fd, [out.reshape(-1).view(np.uint8)])
        except BlockingIOError:  # no frame yet
            out[...] = 0
            return out
        except OSError as e:
            raise _errors.error(-e.errno, self.name) from None
        finally:
            os.close(fd)
        if n != self.size:
            raise _errors.Error(errno.EIO, f"{self.name}: read {n} of {self.size} bytes")
        return out

    def _unsafe_ok(self, safe):
        if not safe and not self._owned():
            raise RuntimeError("safe=False requires an active 'with shm.locked()' block")

    def read(self, out=None, *, safe=True, poll_interval=1e-6):
        """A copy of the newest complete frame (zeros before the first write); into
        out when given (an array of the stream's shape and dtype), which is returned.
        safe=False needs the write lock held, as pyshmem's, and also gives a copy;
        poll_interval is accepted and unused (nothing here polls)."""
        reader = self._reader()
        if not safe:
            self._unsafe_ok(safe)
        if self._gpu is not None and out is None:
            return self._gpu_read(0)
        if out is not None:
            self._out(out)
        try:
            return self._took(reader._copy_next("latest", 0, out))
        except _errors.Timeout:  # nothing newer than what this handle read
            return self._again(out)

    def read_new(self, timeout=None, out=None, *, safe=True, poll_interval=1e-5):
        """Wait for a frame newer than the last this handle read, and return a copy.
        TimeoutError (shmstream.Timeout) when none comes within timeout seconds.
        The wait sleeps in the kernel; poll_interval is accepted and unused."""
        reader = self._consumer
        if reader is None or self._closed:
            reader = self._reader()
        if not safe:
            self._unsafe_ok(safe)
        if self._gpu is not None and out is None:
            return self._gpu_read(timeout)
        if out is not None:
            self._out(out)
        return self._took(reader._copy_next("latest", timeout, out))

    def _gpu_read(self, timeout):
        """A tensor of the newest device frame newer than the last this handle
        read (waiting up to timeout); a clone of that last one when timeout is
        0 and there is none (before the first: the host's zeros)."""
        try:
            frame = self._gpu.acquire("latest", timeout)
        except _errors.Timeout:
            if timeout != 0:
                raise
            return np.zeros(self.shape, self.dtype) if self._gpu_last is None \
                else _clone(self._gpu_last)
        try:
            tensor = _to_tensor(frame)
        finally:
            frame.release()
        self._gpu_last = tensor
        self._took((None, frame.seq))
        return _clone(tensor)

    async def read_new_async(self, timeout=None, out=None):
        """read_new() that waits in the asyncio event loop."""
        if out is not None:
            self._out(out)
        reader = self._reader()
        with await reader.acquire_async("latest", timeout) as frame:
            src = frame.array.reshape(self.shape)
            if out is None:
                out = src.copy()
            else:
                np.copyto(out, src)
        return self._took((out, frame.seq))

    # Life cycle

    def close(self):
        """Close this handle; the stream stays (unlink() removes it). A write lock
        this thread holds is released (RuntimeError while another thread holds it)."""
        if self._closed:
            return
        if self._lock.owner is not None:
            if not self._owned():
                raise RuntimeError("cannot close shared memory while another thread "
                                   "owns its lock")
            while self._lock.owner is not None:
                self.release()
        if self._consumer is not None:
            self._consumer.close()
        self._consumer = None
        if self._gpu is not None:
            self._gpu.close()
        self._gpu_last = None
        self._closed = True

    _end = close

    def unlink(self):
        """Close this handle and remove the stream's name (other handles still open
        keep working until closed)."""
        self.close()
        unlink(self.name, device=self._device)

    delete = unlink

    def describe(self):
        """A dict of what the stream is and how far it got."""
        info = self._device.info(self.name)
        return {
            "name": self.name, "shape": self.shape, "dtype": str(self.dtype),
            "size": self.size, "count": info.frames, "write_time": self.write_time,
            "owner": self.owner, "slots": info.slot_count, "consumers": info.consumers,
            "producer_attached": info.producer, "gpu_device": self.gpu_device,
            "backend": "shmstream",
        }

    def to_config(self):
        """The keyword arguments that create() takes to make this stream again."""
        return {"name": self.name, "shape": self.shape, "dtype": str(self.dtype)}


def _typed(stream):
    if stream.shape is None or stream.dtype is None:
        stream.close()
        raise ValueError(f"stream {stream.name!r} is not an array stream "
                         "(made by shmstreamctl or another tool, not create())")


def _shape(shape):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape or ())
    if not shape:
        raise ValueError("shape must contain at least one dimension")
    shape = tuple(int(axis) for axis in shape)
    if any(axis <= 0 for axis in shape):
        raise ValueError("shape dimensions must be positive")
    return shape


def create(name, shape=None, dtype=np.float32, *, size=None, gpu_device=None,
           cpu_mirror=None, slots=2, mode=0o600, device=None):
    """Create a stream of arrays of shape and dtype (float32 by default, as
    pyshmem's). size, when given, must be the payload's size in bytes.
    gpu_device ("cuda", "cuda:N", N): also mirror the stream onto that GPU
    (shmstreamctl gpu-mirror, run from here; SHMSTREAM_CTL names it), and
    read device tensors from this handle. cpu_mirror is accepted: frames always
    go through the host, so every GPU stream has its CPU mirror.

    FileExistsError (shmstream.StreamExists) when the name is taken;
    RuntimeError when gpu_device= is given and the CUDA bridge finds no GPU.
    """
    index = None
    if gpu_device is not None:
        index = _gpu_index(gpu_device)
        if not gpu_available():
            raise RuntimeError("CUDA is not available (the CUDA bridge finds no GPU)")
    shape = _shape(shape)
    dtype = np.dtype(dtype)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size is not None and int(size) != expected:
        raise ValueError(f"size does not match shape and dtype: expected {expected}, "
                         f"got {size}")
    dev = device or _device()
    try:
        producer = dev.create(name, shape, dtype, slots=slots, mode=mode)
    except _errors.StreamExists as e:
        raise _errors.StreamExists(
            errno.EEXIST, f"shared memory {name!r} already exists; "
            f"use pyshmem.open({name!r}) to attach to it") from e
    producer.close()  # writes attach as the producer under the write lock
    gpu = None
    if index is not None:
        try:
            _start_mirror(dev, name, index, slots)
            gpu = GpuStream(name, device=index)
        except BaseException:
            unlink(name, device=dev)
            raise
    return SharedMemory(name, shape, dtype, owner=True, device=dev, gpu=gpu)


def open(name, *, gpu_device=None, device=None):  # noqa: A001 - pyshmem's name
    """Attach to an existing stream. FileNotFoundError (shmstream.StreamNotFound)
    when there is none. With gpu_device, reads give device tensors when the
    stream is mirrored onto that GPU (made by create(gpu_device=)); a stream
    with no mirror there is read on the host, as pyshmem ignores gpu_device for
    a stream made without one."""
    dev = device or _device()
    try:
        consumer = dev.open(name, "consumer", newest=True)
    except _errors.StreamNotFound as e:
        raise _errors.StreamNotFound(
            errno.ENOENT, f"shared memory {name!r} does not exist; "
            f"create it with pyshmem.create({name!r}, ...) first") from e
    _typed(consumer)
    gpu = None
    if gpu_device is not None:
        index = _gpu_index(gpu_device)
        with contextlib.suppress(_errors.Error, OSError):  # no mirror on that GPU
            gpu = GpuStream(name, device=index)
    return SharedMemory(name, consumer.shape, consumer.dtype, consumer=consumer, device=dev,
                        gpu=gpu)


def unlink(name, *, device=None):
    """Remove a stream; nothing happens when there is none (as pyshmem)."""
    dev = device or _device()
    with _locks_guard:
        lock = _locks.get((dev.path, name))
    if lock is not None:  # this process's parked producer goes first
        _give_back(lock, now=True)
    with contextlib.suppress(_errors.StreamNotFound):
        dev.destroy(name)
    _stop_mirror(dev, name)


@contextlib.contextmanager
def stream(name, shape, dtype=np.float32, **kwargs):
    """with stream(name, shape=..., dtype=...) as shm: a stream created for the block,
    closed and unlinked when it ends."""
    shm = create(name, shape, dtype, **kwargs)
    try:
        yield shm
    finally:
        shm.unlink()


def list_streams(*, device=None):
    """The names of the streams this process can see, sorted."""
    return (device or _device()).list()
