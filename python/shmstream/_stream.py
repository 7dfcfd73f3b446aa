# SPDX-License-Identifier: LGPL-2.1-or-later
"""Device, Stream, Slot and Frame: the native API over libshmdev."""

import asyncio
import ctypes
import errno
import os
import threading
import weakref
from collections import namedtuple

import numpy as np

from . import _formats, _lib
from ._resource import Resource
from ._errors import (ClosedError, DeviceUnavailable, FrameReleasedError, NotSupported,
                      StreamDestroyed, Timeout, check, error)

Format = namedtuple("Format", "fourcc width height stride")
_BYTE = np.dtype(np.uint8)


def _timeout_ns(timeout):
    """None: forever; seconds (float) otherwise; 0: do not wait."""
    if timeout is None:
        return _lib.FOREVER
    if timeout < 0:
        raise ValueError("timeout must be None or >= 0 seconds")
    return int(timeout * 1e9)


_MODES = {"next": _lib.ACQUIRE_NEXT, "latest": _lib.ACQUIRE_LATEST}


def _mode(mode):
    try:
        return _MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"mode must be 'next' or 'latest', not {mode!r}") from None


def _name(name):
    if not isinstance(name, str):
        raise TypeError(f"a stream name is a str, not {type(name).__name__}")
    raw = name.encode()
    if not raw or len(raw) >= _lib.NAME_MAX or b"\0" in raw:
        raise ValueError(f"a stream name has 1 to {_lib.NAME_MAX - 1} bytes and no NUL: {name!r}")
    return raw


def _info_dict(info):
    d = info.as_dict()
    for k in ("size", "flags", "reserved0"):
        d.pop(k)
    d["format"] = Format(**d["format"])
    d["producer"] = bool(info.state & 1)
    d["destroyed"] = bool(info.state & 2)
    d["contiguous"] = bool(info.state & _lib.INFO_STATE_CONTIGUOUS)
    d["stall"] = info.stall_ms / 1000
    return d


class StreamInfo(namedtuple("StreamInfo", "name slot_count slot_size format mode uid gid "
                            "consumers max_holds frames bytes head_seq producer_detaches "
                            "producer destroyed producers max_producers reliable_consumers "
                            "stall demotions dmabufs contiguous")):
    """A stream's geometry and counters (SHMSTREAM_IOC_INFO); stall in seconds;
    dmabufs: the stream's slots exported as dma-bufs that still exist (by any
    handle, ABI 2.3); contiguous: created with contiguous=True."""

    __slots__ = ()

    @classmethod
    def _from(cls, info):
        d = _info_dict(info)
        return cls(**{k: d[k] for k in cls._fields})


class Device:
    """An open /dev/shmstream: names, and the streams' factory.

    Thread-safe: libshmdev's handles may be used from any thread.
    """

    def __init__(self, path="/dev/shmstream"):
        handle = ctypes.c_void_p()
        ret = _lib.lib().shmdev_open_path(path.encode(), ctypes.byref(handle))
        if ret in (-errno.ENOENT, -errno.ENODEV, -errno.ENXIO):
            raise DeviceUnavailable(-ret, f"{path}: {_lib.strerror(ret)} "
                                    "(is the shmstream module loaded?)")
        check(ret, path)
        self._ptr = handle.value
        self.path = path
        self._finalizer = weakref.finalize(self, _lib.lib().shmdev_unref, self._ptr)

    def _p(self):
        if not self._finalizer.alive:
            raise ClosedError("the device is closed")
        return self._ptr

    def close(self):
        """Close the device's file; streams opened from it stay open."""
        self._finalizer()

    @property
    def closed(self):
        return not self._finalizer.alive

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        return _lib.lib().shmdev_fd(self._p())

    def version(self):
        """The running module's ABI version, features and limits, as a dict."""
        v = _lib.shmstream_version()
        check(_lib.lib().shmdev_module_version(self._p(), ctypes.byref(v)), "version")
        d = v.as_dict()
        for k in ("size", "flags"):
            d.pop(k)
        return d

    def list(self):
        """The names of the streams this process can see, sorted."""
        count = ctypes.c_size_t()
        capacity = 64
        while True:
            names = (ctypes.c_char * (_lib.NAME_MAX * capacity))()
            ret = _lib.lib().shmdev_list(self._p(), names, capacity, ctypes.byref(count))
            if ret == -errno.ENOSPC:
                capacity = max(capacity * 2, count.value)
                continue
            check(ret, "list")
            raw = bytes(names)
            return sorted(raw[i * _lib.NAME_MAX:(i + 1) * _lib.NAME_MAX].split(b"\0")[0].decode()
                          for i in range(count.value))

    def info(self, name):
        """StreamInfo of the stream called name (StreamNotFound when there is none)."""
        info = _lib.shmstream_info()
        check(_lib.lib().shmdev_info(self._p(), _name(name), ctypes.byref(info)), name)
        return StreamInfo._from(info)

    def destroy(self, name):
        """Remove the name; attached handles see StreamDestroyed."""
        check(_lib.lib().shmdev_destroy(self._p(), _name(name)), name)

    def create(self, name, shape=None, dtype=None, *, fourcc=None, width=0, height=0,
               stride=0, slots=4, slot_size=None, mode=0o600, destroy_on_close=False,
               producers=1, stall=None, contiguous=False):
        """Create a stream and attach to it as its producer.

        Give shape and dtype (frames are arrays of that type), or fourcc, width and
        height (frames are images: RGB3, BGR3, GREY, YUYV, NV12, YU12), or only
        slot_size (frames are bytes). slot_size defaults to the frame's size.
        producers=N lets N producers attach at once (open(name, "producer")), their
        frames in one sequence; stall (seconds) is how long a reliable consumer may
        hold the producer back before it is demoted (None: the module's, 2 s).
        contiguous=True makes each slot one physically contiguous block, for
        devices that import dma-bufs without an IOMMU (vb2-dma-contig; ABI 2.3,
        slots of at most 4 MiB: NotSupported on an older module, ENOMEM past it).
        """
        raw = _name(name)
        if shape is not None or dtype is not None:
            if fourcc is not None:
                raise ValueError("give shape and dtype, or fourcc, not both")
            if dtype is None:
                raise ValueError("shape needs a dtype")
            shape = (shape,) if isinstance(shape, int) else tuple(shape if shape is not None
                                                                  else ())
            fmt = _formats.encode_array(shape, dtype)
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        elif fourcc is not None:
            stride, nbytes = _formats.image_geometry(fourcc, width, height, stride)
            fmt = (_formats.fourcc(fourcc), width, height, stride)
        else:
            if slot_size is None:
                raise ValueError("give shape and dtype, fourcc/width/height, or slot_size")
            fmt = (0, 0, 0, 0)
            nbytes = slot_size
        if slot_size is None:
            slot_size = nbytes
        if slot_size < nbytes:
            raise ValueError(f"slot_size {slot_size} is smaller than a frame ({nbytes} bytes)")
        if not 0 < slot_size < 1 << 32:
            raise ValueError(f"slot_size {slot_size} out of range (1 to 2**32 - 1)")
        if not 0 <= slots < 1 << 32 or not 0 <= mode < 1 << 32:
            raise ValueError("slots and mode are unsigned 32-bit integers")
        if isinstance(producers, bool) or not isinstance(producers, int) or \
                not 1 <= producers < 1 << 32:
            raise ValueError(f"producers is a positive integer, not {producers!r}")
        stall_ms = 0 if stall is None else round(stall * 1000)
        if stall is not None and not 1 <= stall_ms < 1 << 32:
            raise ValueError(f"stall is seconds, at least 0.001, not {stall!r}")
        flags = _lib.CREATE_DESTROY_ON_CLOSE if destroy_on_close else 0
        if producers > 1:
            flags |= _lib.CREATE_MULTI_PRODUCER
        if contiguous:
            if not self.version()["features"] & _lib.FEAT_DMABUF:
                raise NotSupported(errno.EOPNOTSUPP, f"{name}: the module has no contiguous "
                                   "slots (SHMSTREAM_FEAT_DMABUF, ABI 2.3)")
            flags |= _lib.CREATE_CONTIGUOUS
        params = _lib.shmdev_create_params(
            slot_count=slots, slot_size=slot_size, mode=mode, flags=flags,
            format=_lib.shmstream_format(*fmt))
        limits = _lib.shmdev_create_limits(stall_ms=stall_ms,
                                           max_producers=producers if producers > 1 else 0)
        handle = ctypes.c_void_p()
        check(_lib.lib().shmdev_create_limited(self._p(), raw, ctypes.byref(params),
                                               ctypes.byref(limits), ctypes.byref(handle)),
              name)
        return Stream._wrap(handle.value, name, "producer")

    def open(self, name, role="consumer", *, newest=False, reliable=False, history=0):
        """Attach to a stream as "consumer" (default) or "producer".

        A consumer sees the frames committed after it attached; with newest=True
        the newest frame committed before (while still in the ring) comes first;
        with history=N the last N frames still in the ring. reliable=True: the
        producer waits for this consumer to take each frame (write permission
        needed); demoted after the stream's stall limit, it then misses frames
        (Frame.missed) and state() says 'demoted'.
        """
        raw = _name(name)
        handle = ctypes.c_void_p()
        if isinstance(history, bool) or not isinstance(history, int) or \
                not 0 <= history < 1 << 32:
            raise ValueError(f"history is a count of frames, not {history!r}")
        if role == "consumer":
            if newest and history:
                raise ValueError("newest=True is history=1: give one of them")
            flags = (_lib.OPEN_NEWEST if newest else 0) | (_lib.OPEN_RELIABLE if reliable else 0)
            if reliable or history:
                ret = _lib.lib().shmdev_open_consumer_history(self._p(), raw, flags, history,
                                                              ctypes.byref(handle))
            else:
                ret = _lib.lib().shmdev_open_consumer_flags(self._p(), raw, flags,
                                                            ctypes.byref(handle))
        elif role == "producer":
            if newest or reliable or history:
                raise ValueError("newest=, reliable= and history= are a consumer's options")
            ret = _lib.lib().shmdev_open_producer(self._p(), raw, ctypes.byref(handle))
        else:
            raise ValueError(f"role must be 'consumer' or 'producer', not {role!r}")
        check(ret, name)
        return Stream._wrap(handle.value, name, role)


_default_lock = threading.Lock()
_default = None


def default_device():
    """The process's shared Device on /dev/shmstream, opened at first use."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Device()
        return _default


class _Handle:
    """Owns one libshmdev stream reference, so its mapping outlives every array of it.

    Arrays of frames and slots keep a reference to their stream's _Handle (as their
    base); the mapping goes when the last of them and the Stream are gone, so an
    array used after close() reads stale data but never faults.
    """

    __slots__ = ("ptr", "__weakref__")

    def __init__(self, ptr):
        self.ptr = ptr

    def __del__(self):
        if self.ptr:
            _lib.lib().shmdev_stream_unref(self.ptr)
            self.ptr = None


class _View:
    """The base object of an array over mapped memory (NumPy's array interface)."""

    __slots__ = ("__array_interface__", "_owner")

    def __init__(self, owner, addr, shape, dtype, strides, readonly):
        self._owner = owner
        self.__array_interface__ = {
            "version": 3, "shape": shape, "typestr": dtype.str,
            "data": (addr, readonly), "strides": strides,
        }


def _array(owner, addr, shape, dtype, strides, readonly):
    if not addr:  # NumPy takes no NULL address, which only an empty frame has
        a = np.empty(shape, dtype)
        a.flags.writeable = not readonly
        return a
    return np.asarray(_View(owner, addr, shape, dtype, strides, readonly))


class Stream(Resource):
    """A producer or consumer handle on a stream. Use Stream.create()/Stream.open(),
    or Device.create()/Device.open()."""

    def __init__(self):
        raise TypeError("use Stream.create() or Stream.open()")

    @classmethod
    def _wrap(cls, ptr, name, role):
        self = object.__new__(cls)
        self._handle = _Handle(ptr)
        self.name = name
        self.role = role
        # Frames not yet released (id -> weak reference: set and popped whole,
        # which the GIL makes atomic), and the event-loop waiters on fileno()
        # (under the lock).
        self._lock = threading.Lock()
        self._frames = {}
        self._waiters = {}  # event loop -> futures waiting for "readable"
        # The producer's slots as writable byte arrays, by address (its
        # mapping's slots stay where they are), made once each for write().
        self._slot_arrays = {}
        # dmabuf_fd()'s descriptors by slot: this Stream's own duplicates of
        # libshmdev's (which go with the handle, after the last array),
        # closed by close().
        self._dmabufs = {}
        info = _lib.shmstream_info()
        check(_lib.lib().shmdev_stream_info(ptr, ctypes.byref(info)), name)
        self.slot_count = info.slot_count
        self.slot_size = info.slot_size
        self.format = Format(**info.format.as_dict())
        # One frame of the stream's own format: its bytes and its array layout
        # (None and 1-D bytes for streams of no array or image type).
        self.frame_nbytes = _frame_nbytes(info.format)
        if self.frame_nbytes is None:
            self._layout = (None, np.dtype(np.uint8), None)
        else:
            self._layout = _formats.layout(info.format, self.frame_nbytes)
        self.shape, self.dtype, strides = self._layout
        # The stream's own format as a tuple, when its frames are contiguous
        # arrays: the speed-ups' copies take frames of it into arrays made
        # before the wait (None: every frame through a view).
        self._own_fmt = tuple(self.format)
        self._fmt = self._own_fmt if self.frame_nbytes is not None and strides is None else None
        # Frames' layouts by (format, bytes), worked out once: nearly every
        # frame has the stream's own format and size. And read-only arrays over
        # the consumer's slots by (address, format, bytes), made once each: a
        # frame's array is a view of one (the mapping stays where it is).
        self._layouts = {}
        self._views = {}
        return self

    def _view(self, address, fmt, nbytes):
        """A read-only array over the frame at address (shared: not for users)."""
        key = (address, fmt, nbytes)
        a = self._views.get(key)
        if a is None:
            shape, dtype, strides = self._layout_of(fmt, nbytes)
            a = _array(self._handle, address, shape, dtype, strides, True)
            if len(self._views) < 256:
                self._views[key] = a
        return a

    def _copy_next(self, mode, timeout, out=None):
        """(array, seq): acquire, copy the frame out (into out, an array of its
        shape and dtype, when given), release; no Frame made. read() and the
        pyshmem layer's reads."""
        m = _MODES.get(mode) if isinstance(mode, str) else None
        if m is None:
            m = _mode(mode)
        ns = _lib.FOREVER if timeout is None else _timeout_ns(timeout)
        ptr = self._p()
        raw = _lib.shmdev_frame()
        fast = _lib.speedups()
        if fast is not None and self._fmt is not None and (
                out is None or (out.nbytes == self.frame_nbytes and out.flags.c_contiguous
                                and out.flags.writeable)):
            # Acquire, copy and release in one call, into an array made before
            # the wait: between the wake-up and the return nothing but the
            # copy. A frame of another format or size comes back held.
            dst = np.empty(self.shape, self.dtype) if out is None else out
            ret = fast.copy_frame(ptr, m, ns, raw, dst, *self._fmt)
            if ret > 0:
                return dst, ret
            if ret < 0:
                raise error(ret, self.name)
        else:
            ret = _lib.lib().shmdev_acquire(ptr, m, ns, ctypes.byref(raw))
            if ret < 0:
                raise error(ret, self.name)
        lib = _lib.lib()
        try:
            (address, nbytes, seq, _, _, _, _, fourcc, width, height, stride,
             _) = _lib.FRAME_HEAD.unpack_from(raw)
            src = self._view(address, (fourcc, width, height, stride), nbytes)
            if out is None:
                out = src.copy()
            else:
                np.copyto(out, src.reshape(out.shape) if src.shape != out.shape else src)
        finally:
            ret = lib.shmdev_release(ptr, ctypes.byref(raw))
        if ret < 0:
            raise error(ret, self.name)
        return out, seq

    def _layout_of(self, fmt, nbytes):
        """(shape, dtype, strides) of a frame of nbytes in format fmt, a tuple."""
        key = (fmt, nbytes)
        layout = self._layouts.get(key)
        if layout is None:
            layout = _formats.layout(Format(*fmt), nbytes)
            if len(self._layouts) < 64:  # a producer changing format per frame
                self._layouts[key] = layout
        return layout

    @classmethod
    def create(cls, name, shape=None, dtype=None, *, device=None, **kwargs):
        """Device.create() on the default device (or device=)."""
        return (device or default_device()).create(name, shape, dtype, **kwargs)

    @classmethod
    def open(cls, name, role="consumer", *, newest=False, reliable=False, history=0,
             device=None):
        """Device.open() on the default device (or device=)."""
        return (device or default_device()).open(name, role, newest=newest, reliable=reliable,
                                                 history=history)

    def __repr__(self):
        state = "closed" if self.closed else self.role
        return f"<shmstream.Stream {self.name!r} {state} shape={self.shape} dtype={self.dtype}>"

    def _p(self):
        h = self._handle
        if h is None:
            raise ClosedError(f"stream {self.name!r} is closed")
        return h.ptr

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        """Release every frame still held and detach. Arrays still referenced keep
        the mapping (not the frames) alive until they go."""
        if self._handle is None:
            return
        for ref in list(self._frames.values()):
            frame = ref()
            if frame is not None:
                frame.release()
        with self._lock:
            self._handle = None
            fds, self._dmabufs = self._dmabufs, {}
        for fd in fds.values():
            os.close(fd)
        self._slot_arrays = {}
        self._views = {}

    _end = close

    def fileno(self):
        """The stream's file descriptor, for select/poll/epoll/asyncio: readable when a
        frame newer than this consumer's cursor waits, writable when a slot is free."""
        return _lib.lib().shmdev_stream_fd(self._p())

    def info(self):
        info = _lib.shmstream_info()
        check(_lib.lib().shmdev_stream_info(self._p(), ctypes.byref(info)), self.name)
        return StreamInfo._from(info)

    def dmabuf_fd(self, slot):
        """The dma-buf of slot `slot` as a file descriptor (ABI 2.3), backed by the
        slot's own pages: give it to V4L2, DRM/KMS, GStreamer, an encoder or a GPU
        API, or mmap it, with no copy.

        The descriptor belongs to the stream: the same one on every call for
        that slot, closed by close(). Do not close it; os.dup() it to keep it
        longer (the dma-buf, and the stream's memory, live while any descriptor
        or import of it does). A consumer's is read-only (O_RDONLY: mmap with
        PROT_WRITE raises PermissionError; a device may only read it) and hands a
        device only the frame it holds (Frame.dmabuf_fd()); a producer's may be
        written, and is for the slot it has taken (Slot.dmabuf_fd()) until the
        commit. NotSupported on a module without dma-buf export.
        """
        if isinstance(slot, bool) or not isinstance(slot, int) or \
                not 0 <= slot < self.slot_count:
            raise ValueError(f"slot must be 0 to {self.slot_count - 1}, not {slot!r}")
        with self._lock:
            fd = self._dmabufs.get(slot)
            if fd is not None:
                return fd
            ptr = self._p()
            out = ctypes.c_int(-1)
            ret = _lib.lib().shmdev_slot_dmabuf(ptr, slot, ctypes.byref(out))
            if ret == -errno.EOPNOTSUPP:
                raise NotSupported(errno.EOPNOTSUPP, f"{self.name}: the module has no dma-buf "
                                   "export (SHMSTREAM_FEAT_DMABUF: ABI 2.3, and a kernel with "
                                   "CONFIG_DMA_SHARED_BUFFER)")
            check(ret, self.name)
            fd = self._dmabufs[slot] = os.dup(out.value)  # close-on-exec, as libshmdev's
            return fd

    def stats(self):
        """This handle's counters: role, holds, attach_seq, cursor, taken, missed,
        reliable (a reliable consumer now), demoted (was one, demoted), dmabufs
        (slots this handle has exported as dma-bufs, ABI 2.3)."""
        st = _lib.shmstream_stats()
        check(_lib.lib().shmdev_stream_stats(self._p(), ctypes.byref(st)), self.name)
        d = st.as_dict()
        for k in ("size", "flags", "state"):
            d.pop(k)
        d["reliable"] = bool(st.state & _lib.STATS_RELIABLE)
        d["demoted"] = bool(st.state & _lib.STATS_DEMOTED)
        return d

    def newest(self):
        """(seq, timestamp_ns) of the newest committed frame, (0, 0) when there is none.

        Read from the control area without a syscall and without holding the
        frame (libshmdev's shmdev_peek(): the kernel's descriptors carry a
        sequence count, and a read that overlapped a write is done again).
        """
        d = _lib.shmstream_frame()
        ret = _lib.lib().shmdev_peek(self._p(), ctypes.byref(d), None)
        if ret == -errno.EAGAIN:
            return 0, 0
        check(ret, self.name)
        return d.seq, d.timestamp_ns

    def state(self):
        """A set of 'readable', 'writable', 'no-producer' (none at all), 'destroyed',
        'demoted' (a reliable consumer no longer)."""
        bits = check(_lib.lib().shmdev_stream_state(self._p()), self.name)
        names = {_lib.STATE_READABLE: "readable", _lib.STATE_WRITABLE: "writable",
                 _lib.STATE_NO_PRODUCER: "no-producer", _lib.STATE_DESTROYED: "destroyed",
                 _lib.STATE_DEMOTED: "demoted"}
        return {n for b, n in names.items() if bits & b}

    # Producer

    def _need(self, role):
        if self.role != role:
            raise ValueError(f"stream {self.name!r} is open as {self.role}, not {role}")

    def begin(self, timeout=None, *, meta=None, timestamp_ns=0, nbytes=None, format=None):
        """Take a free slot: a Slot whose .array is a writable view of it.

        with stream.begin() as buf: fill buf; it is committed when the block ends,
        and discarded if the block raises. timeout: seconds (None: wait).
        """
        self._need("producer")
        raw = _lib.shmdev_slot()
        ns = _timeout_ns(timeout)
        check(_lib.lib().shmdev_begin(self._p(), ns, ctypes.byref(raw)), self.name)
        return Slot(self, raw, meta, timestamp_ns, nbytes, format)

    def write(self, data, *, meta=None, timestamp_ns=0, timeout=None):
        """Copy one frame in and commit it; returns its sequence number.

        data: an array of the stream's shape (cast to its dtype when that is safe), or
        any bytes-like object of at most slot_size bytes for untyped streams.
        """
        if self.role != "producer":
            self._need("producer")
        if meta is not None or timestamp_ns:
            src = self._source(data)
            slot = self.begin(timeout, meta=meta, timestamp_ns=timestamp_ns, nbytes=src.nbytes)
            try:
                slot.array[:] = src.reshape(-1).view(np.uint8)
            except BaseException:
                slot.discard()
                raise
            return slot.commit()
        # The common case, with as few Python objects and ctypes calls as it
        # takes: GET_SLOT, one NumPy copy into the slot, COMMIT.
        src = self._source(data)
        ptr = self._p()
        fast = _lib.speedups()
        if fast is not None:  # GET_SLOT, copy, COMMIT in one call
            ret = fast.write_frame(ptr, _lib.FOREVER if timeout is None else _timeout_ns(timeout),
                                   src)
            if ret < 0:
                raise error(ret, self.name)
            return ret
        nbytes = src.nbytes
        lib = _lib.lib()
        raw = _lib.shmdev_slot()
        ret = lib.shmdev_begin(ptr, _lib.FOREVER if timeout is None else _timeout_ns(timeout),
                               ctypes.byref(raw))
        if ret < 0:
            raise error(ret, self.name)
        try:
            dst = self._slot_arrays.get(raw.data)
            if dst is None:
                dst = _array(self._handle, raw.data, (raw.size,), _BYTE, None, False)
                self._slot_arrays[raw.data] = dst
            if nbytes:
                dst[:nbytes] = src.reshape(-1).view(np.uint8)
            params = _lib.shmdev_commit_params(bytes=nbytes)
            ret = lib.shmdev_commit(ptr, ctypes.byref(raw), ctypes.byref(params))
        except BaseException:
            lib.shmdev_discard(ptr, ctypes.byref(raw))
            raise
        if ret < 0:
            raise error(ret, self.name)
        return params.seq

    def _source(self, data):
        if self.frame_nbytes is not None:
            # Lists and scalars convert as NumPy converts them; arrays cast
            # only within their kind (float64 to float32, not float to int).
            arr = data if isinstance(data, np.ndarray) else np.asarray(data, self.dtype)
            if arr.shape != self.shape:
                raise ValueError(f"stream {self.name!r} takes arrays of shape {self.shape}, "
                                 f"not {arr.shape}")
            if arr.dtype != self.dtype:
                arr = arr.astype(self.dtype, casting="same_kind")
            return np.ascontiguousarray(arr)
        arr = np.frombuffer(memoryview(data).cast("B"), np.uint8) \
            if not isinstance(data, np.ndarray) else np.ascontiguousarray(data)
        if arr.nbytes > self.slot_size:
            raise ValueError(f"{arr.nbytes} bytes do not fit a slot of {self.slot_size}")
        return arr

    def _typed(self):
        return self.frame_nbytes is not None

    # Consumer

    def acquire(self, mode="next", timeout=None):
        """Hold a frame: "next" (oldest after this consumer's cursor) or "latest".

        Returns a Frame; its .array is a read-only view of the slot, valid until
        frame.release() (or the end of a with block). Timeout when nothing comes
        within timeout seconds (None: wait for ever; 0: do not wait).
        """
        if self.role != "consumer":
            self._need("consumer")
        m = _MODES.get(mode) if isinstance(mode, str) else None
        if m is None:
            m = _mode(mode)
        ns = _lib.FOREVER if timeout is None else _timeout_ns(timeout)
        fast = _lib.speedups()
        if fast is not None:  # the Frame made in C (Frame.__init__'s fields), or an errno
            frame = fast.acquire_frame(self._p(), m, ns, Frame, self, self._handle, self._frames,
                                       self.frame_nbytes, self._own_fmt, self._layout)
            if type(frame) is int:
                raise error(frame, self.name)
            if frame.shape is None:  # not the stream's own format and size
                frame.shape, frame.dtype, frame.strides = self._layout_of(frame._fmt, frame.nbytes)
            return frame
        raw = _lib.shmdev_frame()
        ret = _lib.lib().shmdev_acquire(self._p(), m, ns, ctypes.byref(raw))
        if ret < 0:
            raise error(ret, self.name)
        frame = Frame(self, raw, _lib.FRAME_HEAD.unpack_from(raw))
        self._frames[id(frame)] = weakref.ref(frame)
        return frame

    def read(self, out=None, mode="next", timeout=None):
        """Copy the next (or latest) frame out and release it at once.

        out: an array to fill (C-contiguous, writable, with room for the frame);
        without it a new array of the frame's shape. Returns the array.
        """
        if out is not None and (not isinstance(out, np.ndarray) or not out.flags.c_contiguous
                                or not out.flags.writeable):
            raise ValueError("out must be a writable C-contiguous NumPy array")
        if out is None:
            if self.role != "consumer":
                self._need("consumer")
            return self._copy_next(mode, timeout)[0]
        with self.acquire(mode, timeout) as frame:
            src = frame.array
            if out is None:
                return src.copy()
            if out.nbytes < frame.nbytes:
                raise ValueError(f"out has {out.nbytes} bytes; the frame has {frame.nbytes}")
            if out.shape == src.shape and out.dtype == src.dtype:
                np.copyto(out, src)
            else:
                out.reshape(-1).view(np.uint8)[:frame.nbytes] = \
                    np.ascontiguousarray(src).reshape(-1).view(np.uint8)
            return out

    def frames(self, mode="next", timeout=None):
        """Iterate over frames; each is released when the next one is asked for
        (or when the loop ends). Stops on Timeout and StreamDestroyed."""
        frame = None
        try:
            while True:
                if frame is not None:
                    frame.release()
                    frame = None
                try:
                    frame = self.acquire(mode, timeout)
                except (Timeout, StreamDestroyed):
                    return
                yield frame
        finally:
            if frame is not None:
                frame.release()

    __iter__ = frames

    async def acquire_async(self, mode="next", timeout=None):
        """acquire() that waits in the event loop (loop.add_reader on fileno())."""
        self._need("consumer")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        fd = self.fileno()
        while True:
            try:
                return self.acquire(mode, 0)
            except Timeout:
                pass
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise error(-errno.ETIMEDOUT, self.name)
            ready = self._wait_readable(loop, fd)
            try:
                await asyncio.wait_for(asyncio.shield(ready), remaining)
            except asyncio.TimeoutError:
                raise error(-errno.ETIMEDOUT, self.name) from None
            finally:
                self._unwait(loop, fd, ready)
            if "destroyed" in self.state() and "readable" not in self.state():
                raise error(-errno.EIDRM, self.name)

    def _wait_readable(self, loop, fd):
        # One reader callback per loop and fd, shared by every coroutine that
        # waits on this stream (add_reader keeps one callback per fd).
        fut = loop.create_future()
        with self._lock:
            waiters = self._waiters.setdefault(loop, set())
            if not waiters:
                loop.add_reader(fd, self._readable, loop)
            waiters.add(fut)
        return fut

    def _readable(self, loop):
        with self._lock:
            waiters = list(self._waiters.get(loop, ()))
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _unwait(self, loop, fd, fut):
        with self._lock:
            waiters = self._waiters.get(loop, set())
            waiters.discard(fut)
            if not waiters:
                self._waiters.pop(loop, None)
                loop.remove_reader(fd)

    async def aframes(self, mode="next", timeout=None):
        """async for frame in stream.aframes(): as frames(), waiting in the loop."""
        frame = None
        try:
            while True:
                if frame is not None:
                    frame.release()
                    frame = None
                try:
                    frame = await self.acquire_async(mode, timeout)
                except (Timeout, StreamDestroyed):
                    return
                yield frame
        finally:
            if frame is not None:
                frame.release()

    def __aiter__(self):
        return self.aframes()


def _frame_nbytes(fmt):
    """Bytes of one frame of a typed (array or image) format, None for bytes streams."""
    arr = _formats.decode_array(fmt.fourcc, fmt.width, fmt.height, fmt.stride)
    if arr is not None:
        return int(np.prod(arr[0], dtype=np.int64)) * arr[1].itemsize
    if fmt.fourcc in _formats.IMAGE_FORMATS and fmt.width and fmt.height:
        return _formats.image_geometry(fmt.fourcc, fmt.width, fmt.height, fmt.stride)[1]
    return None


class Slot:
    """A slot taken by Stream.begin(): fill .array, then commit() or discard()."""

    def __init__(self, stream, raw, meta, timestamp_ns, nbytes, fmt):
        self._stream = stream
        self._raw = raw
        self.index = raw.index
        self.size = raw.size
        self.meta = meta
        self.timestamp_ns = timestamp_ns
        self.format = fmt
        if stream.frame_nbytes is not None and nbytes is None:
            self.nbytes = stream.frame_nbytes
            shape, dtype, strides = stream._layout
        else:
            self.nbytes = raw.size if nbytes is None else nbytes
            shape, dtype, strides = (self.nbytes,), np.dtype(np.uint8), None
        self._array = _array(stream._handle, raw.data, shape, dtype, strides, False)

    @property
    def array(self):
        if self._raw is None:
            raise FrameReleasedError("the slot was committed or discarded")
        return self._array

    def __enter__(self):
        return self.array

    def __exit__(self, exc_type, exc, tb):
        if self._raw is None:
            return
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def commit(self, nbytes=None, *, meta=None, timestamp_ns=None, format=None):
        """Publish the slot as a frame of nbytes (default: the stream's frame size)."""
        if self._raw is None:
            raise FrameReleasedError("the slot was committed or discarded")
        if meta is None and format is None and self.meta is None and self.format is None:
            fast = _lib.speedups()
            if fast is not None:
                # The common commit (bytes and a time, no metadata, the
                # stream's format) with no commit_params made in Python.
                if nbytes is None:
                    nbytes = self.nbytes
                if 0 <= nbytes <= self.size:
                    seq = fast.commit(self._stream._p(), self._raw, nbytes,
                                      self.timestamp_ns if timestamp_ns is None else timestamp_ns)
                    if seq < 0:
                        raise error(seq, self._stream.name)
                    self._raw = None
                    return seq
        meta = self.meta if meta is None else meta
        meta = b"" if meta is None else bytes(meta)
        if len(meta) > _lib.META_MAX:
            raise ValueError(f"meta has {len(meta)} bytes; at most {_lib.META_MAX}")
        nbytes = self.nbytes if nbytes is None else nbytes
        if not 0 <= nbytes <= self.size:
            raise ValueError(f"{nbytes} bytes do not fit a slot of {self.size}")
        fmt = self.format if format is None else format
        params = _lib.shmdev_commit_params(
            bytes=nbytes, timestamp_ns=self.timestamp_ns if timestamp_ns is None else timestamp_ns,
            meta=ctypes.cast(ctypes.c_char_p(meta), ctypes.c_void_p) if meta else None,
            meta_len=len(meta))
        if fmt is not None:
            params.format = ctypes.pointer(_lib.shmstream_format(*fmt))
        check(_lib.lib().shmdev_commit(self._stream._p(), ctypes.byref(self._raw),
                                       ctypes.byref(params)), self._stream.name)
        self._raw = None
        return params.seq

    def dmabuf_fd(self):
        """The slot's dma-buf, read-write: Stream.dmabuf_fd(slot.index), for a
        device to fill before commit(). The stream's descriptor: do not close it."""
        if self._raw is None:
            raise FrameReleasedError("the slot was committed or discarded")
        return self._stream.dmabuf_fd(self.index)

    def discard(self):
        """Give the slot back unseen."""
        if self._raw is None:
            raise FrameReleasedError("the slot was committed or discarded")
        raw, self._raw = self._raw, None
        check(_lib.lib().shmdev_discard(self._stream._p(), ctypes.byref(raw)), self._stream.name)


class Frame(Resource):
    """A frame held by a consumer. .array is a read-only, zero-copy NumPy view of the
    slot until release(); after release, .array (and DLPack export) raise
    FrameReleasedError."""

    # acquire()'s per-frame path: the descriptor's fields (head: FRAME_HEAD's,
    # unpacked by acquire()), the stream's own layout for a frame of its own
    # format and size (else from its cache), the array, format and meta when
    # asked for. With shmstream._speedups, acquire_frame() sets these same
    # attributes in C instead (_raw and _desc: a bytearray holding the
    # struct shmdev_frame): a field added here is added there too.
    def __init__(self, stream, raw, head):
        self._stream = stream
        self._raw = raw  # None once released
        self._desc = raw  # kept for meta after release
        self._handle = stream._handle
        (self.address, self.nbytes, self.seq, self.timestamp_ns, self.missed, self.slot,
         self.flags, fourcc, width, height, stride, self._meta_len) = head
        self._fmt = fmt = (fourcc, width, height, stride)
        if self.nbytes == stream.frame_nbytes and fmt == stream._own_fmt:
            self.shape, self.dtype, self.strides = stream._layout
        else:
            self.shape, self.dtype, self.strides = stream._layout_of(fmt, self.nbytes)
        self._array = None
        self._meta = None

    def __repr__(self):
        state = "released" if self._raw is None else "held"
        return f"<shmstream.Frame seq={self.seq} {state} shape={self.shape} dtype={self.dtype}>"

    @property
    def format(self):
        """The frame's Format (fourcc, width, height, stride)."""
        return Format(*self._fmt)

    @property
    def meta(self):
        """The frame's metadata bytes (up to 64)."""
        if self._meta is None:
            desc = self._desc
            if type(desc) is bytearray:  # made by _speedups.acquire_frame()
                desc = _lib.shmdev_frame.from_buffer(desc)
            self._meta = bytes(desc.meta[:self._meta_len])
        return self._meta

    @property
    def released(self):
        return self._raw is None

    @property
    def array(self):
        """Read-only NumPy view of the frame (no copy); the same array each time."""
        if self._raw is None:
            raise FrameReleasedError(f"frame {self.seq} was released")
        a = self._array
        if a is None:  # a view of the stream's array over the slot
            a = self._array = self._stream._view(self.address, self._fmt, self.nbytes).view()
        return a

    def __array__(self, dtype=None):
        a = self.array
        return a if dtype is None else a.astype(dtype)

    @property
    def data(self):
        """The frame's bytes as a read-only memoryview (no copy)."""
        return memoryview(self.array)

    def dmabuf_fd(self):
        """The frame's slot as a read-only dma-buf: Stream.dmabuf_fd(frame.slot),
        for a device to read until release(). The stream's descriptor: do not
        close it."""
        if self._raw is None:
            raise FrameReleasedError(f"frame {self.seq} was released")
        return self._stream.dmabuf_fd(self.slot)

    def release(self):
        """Give the slot back to the producer; idempotent."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        stream = self._stream
        stream._frames.pop(id(self), None)
        if stream._handle is self._handle:
            fast = _lib.speedups() if type(raw) is bytearray else None
            if fast is not None:
                ret = fast.release(self._handle.ptr, raw)
            else:
                if type(raw) is bytearray:  # made by _speedups, which is gone since
                    raw = _lib.shmdev_frame.from_buffer(raw)
                ret = _lib.lib().shmdev_release(self._handle.ptr, ctypes.byref(raw))
            if ret < 0:
                raise error(ret, stream.name)

    _end = release

    def __dlpack_device__(self):
        from ._dlpack import CPU
        return (CPU, 0)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        from ._dlpack import export
        if copy:
            return np.array(self.array).__dlpack__()
        return export(self.array, self.address, self._handle, readonly=True,
                      max_version=max_version)
