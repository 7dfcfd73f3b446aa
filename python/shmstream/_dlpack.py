# SPDX-License-Identifier: LGPL-2.1-or-later
"""DLPack export (the unversioned "dltensor" capsule, DLPack 0.x ABI).

A capsule's DLManagedTensor points at the frame's memory (a host slot, or a
device slot of a GPU mirror) and keeps, through its manager context, the
objects that keep that memory mapped. The consumer calls the deleter when it
is done; a capsule nobody consumed is deleted with the capsule.
"""

import ctypes
import threading

import numpy as np

CPU = 1  # kDLCPU
CUDA = 2  # kDLCUDA

_INT, _UINT, _FLOAT, _COMPLEX, _BOOL = 0, 1, 2, 5, 6
_CODES = {"i": _INT, "u": _UINT, "f": _FLOAT, "c": _COMPLEX, "b": _BOOL}


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", _Deleter)]

_NAME = b"dltensor"
_USED = b"used_dltensor"

# Exports not yet deleted, by the address of their DLManagedTensor. The lock
# makes the table safe from consumers that call the deleter on other threads.
_live = {}
_live_lock = threading.Lock()


def _delete(managed):
    key = ctypes.addressof(managed.contents)
    with _live_lock:
        _live.pop(key, None)


_deleter = _Deleter(_delete)

# Our own handle on the interpreter's C API: the function objects of
# ctypes.pythonapi are shared, and other code may change their argtypes.
_api = ctypes.PyDLL(None)
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_GetName.restype = ctypes.c_char_p
_api.PyCapsule_GetName.argtypes = [ctypes.c_void_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]

_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _capsule_gone(capsule):
    # Called as the capsule is freed: an address, never a Python object.
    if _api.PyCapsule_GetName(capsule) == _NAME:
        ptr = _api.PyCapsule_GetPointer(capsule, _NAME)
        if ptr:
            _delete(ctypes.cast(ptr, ctypes.POINTER(DLManagedTensor)))


_destructor = _Destructor(_capsule_gone)


def dl_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in _CODES or not dtype.isnative:
        raise BufferError(f"DLPack cannot describe dtype {dtype}")
    return DLDataType(_CODES[dtype.kind], dtype.itemsize * 8, 1)


def export(array, address, keepalive, *, device=(CPU, 0), readonly=False, max_version=None):
    """A "dltensor" capsule for memory at address with array's shape, dtype and strides.

    keepalive: what keeps the memory valid while the capsule's consumer uses it.
    readonly is not expressible in the unversioned ABI: a consumer that writes to a
    read-only (PROT_READ) frame faults; the versioned ABI is not offered yet, so
    max_version is accepted and the unversioned capsule given, as the standard allows.
    """
    del max_version, readonly
    ndim = array.ndim
    shape = (ctypes.c_int64 * max(ndim, 1))(*array.shape)
    item = array.dtype.itemsize
    strides = None
    if array.strides and any(s % item for s in array.strides):
        raise BufferError("DLPack strides count elements: this frame's are not whole elements")
    if not array.flags.c_contiguous:
        strides = (ctypes.c_int64 * ndim)(*(s // item for s in array.strides))
    managed = DLManagedTensor()
    managed.dl_tensor = DLTensor(
        data=address or None, device=DLDevice(*device), ndim=ndim, dtype=dl_dtype(array.dtype),
        shape=ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64)),
        strides=ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)) if strides else None,
        byte_offset=0)
    managed.manager_ctx = None
    managed.deleter = _deleter
    with _live_lock:
        _live[ctypes.addressof(managed)] = (managed, shape, strides, keepalive)
    return _api.PyCapsule_New(ctypes.addressof(managed), _NAME,
                              ctypes.cast(_destructor, ctypes.c_void_p))


def live_exports():
    """How many exported tensors their consumers have not deleted yet (for tests)."""
    with _live_lock:
        return len(_live)
