# SPDX-License-Identifier: LGPL-2.1-or-later
"""shmstream: zero-copy frame streams over /dev/shmstream, as NumPy arrays.

    import shmstream
    with shmstream.Stream.create("cam0", shape=(480, 640, 3), dtype="uint8") as out:
        with out.begin() as buf:        # a writable view of a free slot
            buf[:] = 255                # committed when the block ends
    with shmstream.Stream.open("cam0") as inp:
        with inp.acquire(timeout=1.0) as frame:
            frame.array                 # read-only view of the slot, no copy

The binding is ctypes over libshmdev.so.1 (SHMSTREAM_LIBSHMDEV overrides where
it is looked for); see python/README.md.
"""

from ._errors import (Busy, ClosedError, DeviceUnavailable, Error, FrameReleasedError,
                      FrameTooLarge, NotSupported, PermissionDenied, StreamDestroyed,
                      StreamExists, StreamNotFound, Timeout, TooManyConsumers, TooManyHolds)
from ._formats import fourcc
from ._gpu import GpuFrame, GpuStream
from ._stream import Device, Format, Frame, Slot, Stream, StreamInfo, default_device

__version__ = "0.1.0"

__all__ = [
    "Busy", "ClosedError", "Device", "DeviceUnavailable", "Error", "Format", "Frame",
    "FrameReleasedError", "FrameTooLarge", "GpuFrame", "GpuStream", "NotSupported",
    "PermissionDenied", "Slot", "Stream",
    "StreamDestroyed", "StreamExists", "StreamInfo", "StreamNotFound", "Timeout",
    "TooManyConsumers", "TooManyHolds", "create", "default_device", "destroy", "fourcc",
    "info", "list", "open", "library_version",
]


def create(name, shape=None, dtype=None, **kwargs):
    """Stream.create() on the default device."""
    return Stream.create(name, shape, dtype, **kwargs)


def open(name, role="consumer", *, newest=False, reliable=False,  # noqa: A001 - the verb
         history=0):
    """Stream.open() on the default device."""
    return Stream.open(name, role, newest=newest, reliable=reliable, history=history)


def list():  # noqa: A001
    """Names of the streams this process can see."""
    return default_device().list()


def info(name):
    return default_device().info(name)


def destroy(name):
    default_device().destroy(name)


def library_version():
    """The version of the libshmdev this binding loaded."""
    from . import _lib
    return _lib.lib().shmdev_version().decode()
