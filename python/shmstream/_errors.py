# SPDX-License-Identifier: LGPL-2.1-or-later
"""Exceptions: every failure of the library is an OSError subclass with errno set."""

import errno as _errno

from . import _lib


class Error(OSError):
    """Base of every shmstream error; .errno is the errno the module or library gave."""


class StreamNotFound(Error, FileNotFoundError):
    """ENOENT: no stream of that name."""


class StreamExists(Error, FileExistsError):
    """EEXIST: a stream of that name exists."""


class PermissionDenied(Error, PermissionError):
    """EACCES or EPERM: the stream's mode or the caller's rights."""


class Busy(Error):
    """EBUSY: the stream already has a producer."""


class Timeout(Error, TimeoutError):
    """ETIMEDOUT or EAGAIN: nothing came within the timeout."""


class StreamDestroyed(Error):
    """EIDRM: the stream was destroyed while this handle was open."""


class TooManyHolds(Error):
    """ENOBUFS: this consumer holds max_holds frames, or every slot is pending."""


class TooManyConsumers(Error):
    """EUSERS: the stream has max_consumers consumers."""


class FrameTooLarge(Error):
    """EMSGSIZE: the data does not fit the slot (or the buffer)."""


class DeviceUnavailable(Error):
    """ENODEV or ENOSYS: no /dev/shmstream, no CUDA driver or no GPU."""


class NotSupported(Error):
    """EOPNOTSUPP: the loaded module lacks the feature (an older ABI, or a kernel
    without it: dma-bufs need ABI 2.3 and CONFIG_DMA_SHARED_BUFFER)."""


_CLASSES = {
    _errno.ENOENT: StreamNotFound,
    _errno.EEXIST: StreamExists,
    _errno.EACCES: PermissionDenied,
    _errno.EPERM: PermissionDenied,
    _errno.EBUSY: Busy,
    _errno.ETIMEDOUT: Timeout,
    _errno.EAGAIN: Timeout,
    _errno.EIDRM: StreamDestroyed,
    _errno.ENOBUFS: TooManyHolds,
    _errno.EUSERS: TooManyConsumers,
    _errno.EMSGSIZE: FrameTooLarge,
    _errno.ENODEV: DeviceUnavailable,
    _errno.ENOSYS: DeviceUnavailable,
    _errno.EOPNOTSUPP: NotSupported,
}


def error(err, what):
    """The exception for a negative errno err from libshmdev, about what."""
    code = -err
    return _CLASSES.get(code, Error)(code, f"{what}: {_lib.strerror(err)}")


def check(ret, what):
    """Raise the exception for ret when it is a negative errno; else return it."""
    if ret < 0:
        raise error(ret, what)
    return ret


class FrameReleasedError(ValueError):
    """A frame (or slot) was used after release(), commit() or discard()."""


class ClosedError(ValueError):
    """A stream or device was used after close()."""
