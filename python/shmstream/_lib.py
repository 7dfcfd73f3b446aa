# SPDX-License-Identifier: LGPL-2.1-or-later
"""ctypes declarations of libshmdev (libshmdev/include/shmdev.h).

The structures mirror the C ones field for field; python/tests/test_layout.py
checks their sizes and offsets against the C compiler's (build/python/layout).
Every function returns 0 or a count on success and a negative errno on
failure, as in C. ctypes drops the GIL around each call, so a blocking
acquire lets the other Python threads run.
"""

import ctypes
import ctypes.util
import os
import struct
import threading
import warnings

NAME_MAX = 64
META_MAX = 64
FOREVER = -1

ACQUIRE_NEXT = 1 << 0
ACQUIRE_LATEST = 1 << 1
CREATE_DESTROY_ON_CLOSE = 1 << 0
CREATE_MULTI_PRODUCER = 1 << 1
CREATE_CONTIGUOUS = 1 << 2
FEAT_DELIVERY = 1 << 7
FEAT_DMABUF = 1 << 8
INFO_STATE_CONTIGUOUS = 1 << 2  # shmstream_info.state: SHMSTREAM_STATE_CONTIGUOUS

STATE_READABLE = 1 << 0
STATE_WRITABLE = 1 << 1
STATE_NO_PRODUCER = 1 << 2
STATE_DESTROYED = 1 << 3
STATE_DEMOTED = 1 << 4
STATS_RELIABLE = 1 << 0
STATS_DEMOTED = 1 << 1

ROLE_PRODUCER = 1 << 0
ROLE_CONSUMER = 1 << 1
OPEN_NEWEST = 1 << 0
OPEN_RELIABLE = 1 << 1

c_u8 = ctypes.c_uint8
c_u16 = ctypes.c_uint16
c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_int = ctypes.c_int
c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t


class Struct(ctypes.Structure):
    """A C structure; as_dict() gives its fields as Python values."""

    def as_dict(self):
        out = {}
        for name, _ in self._fields_:
            value = getattr(self, name)
            if isinstance(value, Struct):
                value = value.as_dict()
            elif isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, ctypes.Array):
                continue
            out[name] = value
        return out


class shmstream_format(Struct):
    _fields_ = [("fourcc", c_u32), ("width", c_u32), ("height", c_u32), ("stride", c_u32)]


class shmstream_version(Struct):
    _fields_ = [("size", c_u32), ("flags", c_u32), ("abi_major", c_u32), ("abi_minor", c_u32),
                ("features", c_u64), ("max_slots", c_u32), ("max_slot_size", c_u32),
                ("max_consumers", c_u32), ("max_holds", c_u32), ("reserved", c_u64 * 2)]


class shmstream_info(Struct):
    _fields_ = [("size", c_u32), ("flags", c_u32), ("name", ctypes.c_char * NAME_MAX),
                ("slot_count", c_u32), ("slot_size", c_u32), ("ctrl_offset", c_u64),
                ("ctrl_size", c_u64), ("slots_offset", c_u64), ("slot_stride", c_u64),
                ("format", shmstream_format), ("mode", c_u32), ("uid", c_u32), ("gid", c_u32),
                ("state", c_u32), ("consumers", c_u32), ("max_holds", c_u32),
                ("frames", c_u64), ("bytes", c_u64), ("head_seq", c_u64),
                ("producer_detaches", c_u64), ("max_consumers", c_u32),
                ("user_consumers", c_u32), ("user_holds", c_u32), ("guest_consumers", c_u32),
                ("producers", c_u16), ("max_producers", c_u16), ("reliable_consumers", c_u32),
                ("stall_ms", c_u32), ("demotions", c_u32), ("dmabufs", c_u32),
                ("reserved0", c_u32)]


class shmstream_stats(Struct):
    _fields_ = [("size", c_u32), ("flags", c_u32), ("role", c_u32), ("holds", c_u32),
                ("attach_seq", c_u64), ("cursor", c_u64), ("taken", c_u64), ("missed", c_u64),
                ("state", c_u32), ("dmabufs", c_u32), ("reserved", c_u64 * 1)]


class shmstream_attach(Struct):
    _fields_ = [("size", c_u32), ("flags", c_u32), ("name", ctypes.c_char * NAME_MAX),
                ("history", c_u32), ("reserved0", c_u32), ("reserved", c_u64 * 1)]


# SHMSTREAM_IOC_ATTACH, _IOW(0xB9, 0x02, struct shmstream_attach): for the
# pyshmem layer's write lock, a file attached as producer with no mapping
# (python/tests/layout.c prints the C value for the tests).
IOC_ATTACH = 1 << 30 | ctypes.sizeof(shmstream_attach) << 16 | 0xB9 << 8 | 0x02
ATTACH_PRODUCER = 1 << 0
ATTACH_CONSUMER = 1 << 1
ATTACH_NEWEST = 1 << 2


class shmdev_create_params(Struct):
    _fields_ = [("slot_count", c_u32), ("slot_size", c_u32), ("mode", c_u32), ("flags", c_u32),
                ("format", shmstream_format)]


class shmdev_create_limits(Struct):
    _fields_ = [("max_consumers", c_u32), ("user_consumers", c_u32), ("user_holds", c_u32),
                ("stall_ms", c_u32), ("max_producers", c_u32), ("reserved", c_u32 * 3)]


class shmdev_slot(Struct):
    _fields_ = [("data", c_void_p), ("size", c_size_t), ("index", c_u32)]


class shmdev_commit_params(Struct):
    _fields_ = [("bytes", c_u32), ("frame_flags", c_u32), ("timestamp_ns", c_u64),
                ("format", ctypes.POINTER(shmstream_format)), ("meta", c_void_p),
                ("meta_len", c_u32), ("seq", c_u64)]


class shmdev_frame(Struct):
    _fields_ = [("data", c_void_p), ("len", c_size_t), ("seq", c_u64), ("timestamp_ns", c_u64),
                ("missed", c_u64), ("slot", c_u32), ("frame_flags", c_u32),
                ("format", shmstream_format), ("meta_len", c_u32), ("meta", c_u8 * META_MAX)]


class shmstream_frame(Struct):
    _fields_ = [("seq", c_u64), ("timestamp_ns", c_u64), ("bytes_used", c_u32),
                ("frame_flags", c_u32), ("format", shmstream_format), ("slot", c_u32),
                ("meta_len", c_u32), ("meta", c_u8 * META_MAX), ("gen", c_u32),
                ("reserved0", c_u32), ("reserved", c_u64)]


class shmdev_gpu_info(Struct):
    _fields_ = [("device", c_int), ("slot_count", c_u32), ("paths", c_u32), ("mapped", c_u32),
                ("slot_size", c_u64), ("slot_stride", c_u64), ("legacy_ring", c_u64),
                ("legacy_handle", c_u8 * 64)]


class shmdev_gpu_frame(Struct):
    _fields_ = [("dptr", c_u64), ("len", c_size_t), ("seq", c_u64), ("timestamp_ns", c_u64),
                ("missed", c_u64), ("slot", c_u32), ("frame_flags", c_u32),
                ("format", shmstream_format), ("meta_len", c_u32), ("meta", c_u8 * META_MAX)]


class shmdev_cuda_device(Struct):
    _fields_ = [("ordinal", c_int), ("cc_major", c_int), ("cc_minor", c_int), ("paths", c_u32),
                ("total_mem", c_u64), ("name", ctypes.c_char * 256)]


P = ctypes.POINTER
_PROTOTYPES = {
    "shmdev_open_path": (c_int, [ctypes.c_char_p, P(c_void_p)]),
    "shmdev_unref": (c_void_p, [c_void_p]),
    "shmdev_fd": (c_int, [c_void_p]),
    "shmdev_module_version": (c_int, [c_void_p, P(shmstream_version)]),
    "shmdev_destroy": (c_int, [c_void_p, ctypes.c_char_p]),
    "shmdev_list": (c_int, [c_void_p, c_void_p, c_size_t, P(c_size_t)]),
    "shmdev_info": (c_int, [c_void_p, ctypes.c_char_p, P(shmstream_info)]),
    "shmdev_create": (c_int, [c_void_p, ctypes.c_char_p, P(shmdev_create_params), P(c_void_p)]),
    "shmdev_open_producer": (c_int, [c_void_p, ctypes.c_char_p, P(c_void_p)]),
    "shmdev_open_consumer": (c_int, [c_void_p, ctypes.c_char_p, P(c_void_p)]),
    "shmdev_open_consumer_flags": (c_int, [c_void_p, ctypes.c_char_p, c_u32, P(c_void_p)]),
    "shmdev_open_consumer_history": (c_int, [c_void_p, ctypes.c_char_p, c_u32, c_u32,
                                             P(c_void_p)]),
    "shmdev_create_limited": (c_int, [c_void_p, ctypes.c_char_p, P(shmdev_create_params),
                                      P(shmdev_create_limits), P(c_void_p)]),
    "shmdev_stream_unref": (c_void_p, [c_void_p]),
    "shmdev_stream_fd": (c_int, [c_void_p]),
    "shmdev_stream_info": (c_int, [c_void_p, P(shmstream_info)]),
    "shmdev_stream_stats": (c_int, [c_void_p, P(shmstream_stats)]),
    "shmdev_stream_state": (c_int, [c_void_p]),
    "shmdev_slot_dmabuf": (c_int, [c_void_p, c_u32, P(c_int)]),
    "shmdev_begin": (c_int, [c_void_p, ctypes.c_int64, P(shmdev_slot)]),
    "shmdev_commit": (c_int, [c_void_p, P(shmdev_slot), P(shmdev_commit_params)]),
    "shmdev_discard": (c_int, [c_void_p, P(shmdev_slot)]),
    "shmdev_acquire": (c_int, [c_void_p, c_int, ctypes.c_int64, P(shmdev_frame)]),
    "shmdev_release": (c_int, [c_void_p, P(shmdev_frame)]),
    "shmdev_peek": (c_int, [c_void_p, P(shmstream_frame), P(c_u64)]),
    "shmdev_strerror": (ctypes.c_char_p, [c_int]),
    "shmdev_version": (ctypes.c_char_p, []),
    "shmdev_cuda_device_count": (c_int, [P(c_int)]),
    "shmdev_cuda_device_info": (c_int, [c_int, P(shmdev_cuda_device)]),
    "shmdev_gpu_open": (c_int, [ctypes.c_char_p, c_int, P(c_void_p)]),
    "shmdev_gpu_close": (None, [c_void_p]),
    "shmdev_gpu_info": (c_int, [c_void_p, P(shmdev_gpu_info)]),
    "shmdev_gpu_acquire": (c_int, [c_void_p, c_int, ctypes.c_int64, P(shmdev_gpu_frame)]),
    "shmdev_gpu_wait": (c_int, [c_void_p, P(shmdev_gpu_frame), c_void_p]),
    "shmdev_gpu_release": (c_int, [c_void_p, P(shmdev_gpu_frame)]),
}

_lock = threading.Lock()
_lib = None


def _candidates():
    env = os.environ.get("SHMSTREAM_LIBSHMDEV")
    if env:
        return [env]
    # Installed with make install, the library is next to the package:
    # PREFIX/lib/pythonX.Y/dist-packages/shmstream (or PREFIX/lib/python3/...)
    # -> PREFIX/lib. That one first, then the dynamic linker's search.
    here = os.path.dirname(os.path.abspath(__file__))
    beside = os.path.normpath(os.path.join(here, "..", "..", "..", "libshmdev.so.1"))
    names = [beside] if os.path.exists(beside) else []
    names.append("libshmdev.so.1")
    found = ctypes.util.find_library("shmdev")
    if found:
        names.append(found)
    return names


def lib():
    """The loaded libshmdev; OSError naming every place tried when absent."""
    global _lib
    if _lib is not None:  # loaded once, then read without the lock
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for name in _candidates():
            try:
                handle = ctypes.CDLL(name, use_errno=False)
                break
            except OSError as e:
                tried.append(f"{name}: {e}")
        else:
            raise ImportError("shmstream: cannot load libshmdev (install it with make install, "
                              "or set SHMSTREAM_LIBSHMDEV to its path): " + "; ".join(tried))
        for fname, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(handle, fname)
            fn.restype = restype
            fn.argtypes = argtypes
        _lib = handle
        return _lib


# The leading fields of struct shmdev_frame, data to meta_len, read in one
# call (struct.unpack_from) instead of one ctypes attribute access each: the
# per-frame path of acquire(). Checked against the ctypes layout (itself
# checked against the C compiler's by the tests) when the module loads.
# shmstream._speedups.acquire_frame() sets the same fields on the Frame.
FRAME_HEAD = struct.Struct("@PNQQQIIIIIII")
assert FRAME_HEAD.size == shmdev_frame.meta.offset, "shmdev_frame layout"


_speedups = False  # not looked for yet
# _speedups.API that this package's calls are written for (_speedups.c).
SPEEDUPS_API = 2


def speedups():
    """The C extension shmstream._speedups bound to the loaded libshmdev, or
    None: not built (make python-build builds it), or SHMSTREAM_SPEEDUPS=0.
    The package then does the same with ctypes."""
    global _speedups
    if _speedups is not False:
        return _speedups
    mod = None
    if os.environ.get("SHMSTREAM_SPEEDUPS", "1") != "0":
        try:
            from . import _speedups as mod
        except ImportError:
            mod = None
    if mod is not None and getattr(mod, "API", None) != SPEEDUPS_API:
        warnings.warn(f"shmstream._speedups ({mod.__file__}) was built from another tree "
                      f"(API {getattr(mod, 'API', 'none')}, this package's {SPEEDUPS_API}): "
                      "using ctypes instead; make python-build builds it again",
                      RuntimeWarning, stacklevel=2)
        mod = None
    if mod is not None:
        handle = lib()
        mod.bind(*(ctypes.cast(getattr(handle, f), c_void_p).value for f in
                   ("shmdev_acquire", "shmdev_release", "shmdev_begin", "shmdev_commit",
                    "shmdev_discard")))
    _speedups = mod
    return mod


def strerror(err):
    return lib().shmdev_strerror(err).decode(errors="replace")
