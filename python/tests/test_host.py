# SPDX-License-Identifier: LGPL-2.1-or-later
"""What needs no device: the ctypes layouts, the format codes, DLPack export
and the build backend."""

import ctypes
import errno
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import BUILD, TOP

import shmstream
from shmstream import _dlpack, _formats, _lib


def c_layout():
    exe = os.path.join(BUILD, "python", "layout")
    assert os.access(exe, os.X_OK), f"{exe} is not built (make python-build)"
    out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return dict((k, int(v)) for k, v in (line.split() for line in out.splitlines()))


def test_ctypes_layouts_match_the_c_compiler():
    layout = c_layout()
    checked = 0
    for key, value in layout.items():
        if key.isupper():  # a uapi constant
            assert getattr(_lib, key) == value, f"{key}: _lib {getattr(_lib, key)}, C {value}"
            checked += 1
            continue
        struct, _, field = key.partition(".")
        cls = getattr(_lib, struct, None)
        assert cls is not None, f"_lib has no {struct}"
        got = getattr(cls, field).offset if field else ctypes.sizeof(cls)
        assert got == value, f"{key}: ctypes {got}, C {value}"
        checked += 1
    assert checked >= 35


@pytest.mark.parametrize("shape,dtype", [
    ((), "f8"), ((7,), "u1"), ((480, 640), "f4"), ((2, 3, 4), "i2"), ((1 << 20, 3), "c16"),
    ((2, 3, 4, 5), "b1"), ((1, 2, 3, 4, 5, 65535), "u8"),
])
def test_array_formats_round_trip(shape, dtype):
    code = _formats.encode_array(shape, dtype)
    assert _formats.decode_array(*code) == (shape, np.dtype(dtype))
    assert _formats.fourcc_str(code[0]) == f"array of {np.dtype(dtype)}"


@pytest.mark.parametrize("shape,dtype,msg", [
    ((2,), "V8", "not a plain"), ((2,), ">f4" if sys.byteorder == "little" else "<f4", "byte order"),
    ((2,) * 7, "u1", "at most 6"), ((70000, 1, 1, 1), "u1", "below 65536"),
    ((-1,), "u1", "negative"), ((1 << 32,), "u1", "too large"),
    ((2,), [("a", "u1")], "not a plain"),
])
def test_array_formats_refused(shape, dtype, msg):
    with pytest.raises(ValueError, match=msg):
        _formats.encode_array(shape, dtype)


def test_image_formats():
    assert _formats.fourcc("RGB3") == 0x33424752
    assert _formats.image_geometry("RGB3", 640, 480) == (1920, 1920 * 480)
    assert _formats.image_geometry("NV12", 640, 480) == (640, 640 * 720)
    assert _formats.image_geometry("GREY", 10, 2, 16) == (16, 32)
    with pytest.raises(ValueError, match="unknown image format"):
        _formats.image_geometry("H264", 640, 480)
    with pytest.raises(ValueError, match="even"):
        _formats.image_geometry("NV12", 641, 480)
    with pytest.raises(ValueError, match="less than a line"):
        _formats.image_geometry("YUYV", 640, 480, 1000)
    with pytest.raises(ValueError, match="four characters"):
        _formats.fourcc("RGB")
    fmt = _lib.shmstream_format(_formats.fourcc("RGB3"), 4, 2, 16)
    assert _formats.layout(fmt, 32) == ((2, 4, 3), np.dtype("u1"), (16, 3, 1))
    # A frame shorter than its format says is bytes.
    assert _formats.layout(fmt, 31) == ((31,), np.dtype("u1"), None)


class Exporter:
    def __init__(self, a):
        self.a = a

    def __dlpack__(self, stream=None):
        return _dlpack.export(self.a, self.a.ctypes.data, self.a)

    def __dlpack_device__(self):
        return (_dlpack.CPU, 0)


@pytest.mark.parametrize("view", [lambda a: a, lambda a: a[:, ::2], lambda a: a[1:, 1:]])
def test_dlpack_export_is_zero_copy_and_freed(view):
    a = view(np.arange(24, dtype=np.float32).reshape(4, 6))
    before = _dlpack.live_exports()
    b = np.from_dlpack(Exporter(a))
    assert np.shares_memory(a, b) and np.array_equal(a, b)
    assert _dlpack.live_exports() == before + 1
    del b
    assert _dlpack.live_exports() == before
    capsule = Exporter(a).__dlpack__()  # never consumed: freed with the capsule
    assert _dlpack.live_exports() == before + 1
    del capsule
    assert _dlpack.live_exports() == before


def test_dlpack_refuses_what_it_cannot_describe():
    with pytest.raises(BufferError):
        _dlpack.export(np.zeros(2, "V4"), 1, None)
    a = np.zeros(8, np.uint8).view(np.uint16)[:3]
    odd = np.lib.stride_tricks.as_strided(a, (3,), (3,))
    with pytest.raises(BufferError, match="whole elements"):
        _dlpack.export(odd, odd.ctypes.data, odd)


def test_errors_are_oserror_subclasses_with_errno():
    import errno
    e = shmstream._errors.error(-errno.ENOENT, "x")
    assert isinstance(e, FileNotFoundError) and isinstance(e, shmstream.StreamNotFound)
    assert e.errno == errno.ENOENT and "x:" in str(e)
    assert isinstance(shmstream._errors.error(-errno.ETIMEDOUT, "x"), TimeoutError)
    assert isinstance(shmstream._errors.error(-errno.EEXIST, "x"), FileExistsError)
    assert type(shmstream._errors.error(-errno.EPROTO, "x")) is shmstream.Error


def test_no_device_is_a_clear_error(tmp_path):
    with pytest.raises(shmstream.DeviceUnavailable, match="module loaded"):
        shmstream.Device(str(tmp_path / "nothing"))


def test_speedups_check_their_arguments():
    # The extension trusts only what it checks: sizes of the structures it
    # is given, a NULL stream, the argument count (the call never reaches
    # libshmdev with any of these).
    from conftest import speedups_built
    if speedups_built() is None:
        pytest.skip("shmstream._speedups is not built (make python-build, python3-dev)")
    fast = _lib.speedups()
    assert fast is not None
    raw, slot = _lib.shmdev_frame(), _lib.shmdev_slot()
    with pytest.raises(TypeError):
        fast.copy_frame(1, 2)
    frame_args = (shmstream.Frame, None, None, {}, 64, (0, 0, 0, 0), (None, None, None))
    with pytest.raises(ValueError, match="NULL"):
        fast.acquire_frame(0, _lib.ACQUIRE_NEXT, 0, *frame_args)
    for bad in ((42,) + frame_args[1:],  # cls not a type
                frame_args[:3] + ([],) + frame_args[4:],  # frames not a dict
                frame_args[:5] + ((0, 0, 0),) + frame_args[6:],  # own_fmt of 3
                frame_args[:6] + ((None, None),)):  # a layout of 2
        with pytest.raises(TypeError, match="acquire_frame"):
            fast.acquire_frame(1, _lib.ACQUIRE_NEXT, 0, *bad)
    with pytest.raises(TypeError):
        fast.acquire_frame(1, _lib.ACQUIRE_NEXT, 0, *frame_args[:-1])
    with pytest.raises(ValueError, match="NULL"):
        fast.release(0, raw)
    with pytest.raises(ValueError, match="shmdev_frame"):
        fast.release(1, bytearray(ctypes.sizeof(raw) + 1))
    with pytest.raises(ValueError, match="shmdev_frame"):
        fast.copy_frame(1, _lib.ACQUIRE_NEXT, 0, bytearray(8), bytearray(8), 0, 0, 0, 0)
    with pytest.raises(BufferError):  # out must be writable
        fast.copy_frame(1, _lib.ACQUIRE_NEXT, 0, raw, b"12345678", 0, 0, 0, 0)
    with pytest.raises(ValueError, match="shmdev_slot"):
        fast.commit(1, bytearray(3), 0, 0)
    assert fast.commit(1, slot, 1 << 33, 0) == -errno.EMSGSIZE
    with pytest.raises(ValueError, match="file descriptor"):
        fast.write_fd(-1, b"", "B", (0,))
    for bad in ((1, 0), (1, 0, b"", "B")):  # 3 or 5 arguments
        with pytest.raises(TypeError, match="write_frame"):
            fast.write_frame(*bad)
    with pytest.raises(TypeError, match="tuple"):
        fast.write_frame(1, 0, b"", "B", [0])


def test_an_extension_of_another_api_falls_back_to_ctypes(monkeypatch):
    # An extension left from an older tree (its API not this package's) is
    # not used, with a warning, instead of failing on every call.
    from conftest import speedups_built
    if speedups_built() is None:
        pytest.skip("shmstream._speedups is not built (make python-build, python3-dev)")
    from shmstream import _speedups as mod
    assert mod.API == _lib.SPEEDUPS_API
    monkeypatch.setattr(_lib, "_speedups", False)  # not looked for yet
    monkeypatch.setattr(mod, "API", _lib.SPEEDUPS_API - 1)
    with pytest.warns(RuntimeWarning, match="built from another tree"):
        assert _lib.speedups() is None
    assert _lib.speedups() is None  # decided once
    monkeypatch.setattr(_lib, "_speedups", False)
    monkeypatch.setattr(mod, "API", _lib.SPEEDUPS_API)
    assert _lib.speedups() is mod


def test_speedups_write_fd_writes_only_buffers_of_the_format_and_shape():
    from conftest import speedups_built
    if speedups_built() is None:
        pytest.skip("shmstream._speedups is not built (make python-build, python3-dev)")
    fast = _lib.speedups()
    r, w = os.pipe()
    try:
        a = np.arange(6, dtype=np.uint16).reshape(2, 3)
        fmt = memoryview(a).format
        for other in (a.astype(np.int16), a.reshape(3, 2), a.reshape(6), a[:, :2], a.T,
                      [[0, 1, 2], [3, 4, 5]]):
            assert fast.write_fd(w, other, fmt, (2, 3)) is None
        assert fast.write_fd(w, a, fmt, (2, 3)) == 12
        assert os.read(r, 100) == a.tobytes()  # that one write, nothing before it
        os.close(r)
        r = -1
        assert fast.write_fd(w, a, fmt, (2, 3)) == -errno.EPIPE
        for other in (a.astype(np.int16), a.reshape(3, 2), a[:, :2], [[0, 1, 2], [3, 4, 5]]):
            # the same checks before write_frame() touches its stream
            assert fast.write_frame(1, 0, other, fmt, (2, 3)) is None
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def test_pip_builds_a_wheel_with_the_package(tmp_path):
    pyproject = os.path.join(TOP, "python")
    sys.path.insert(0, os.path.join(pyproject, "build_backend"))
    try:
        import shmstream_build
    finally:
        sys.path.pop(0)
    whl = shmstream_build.build_wheel(str(tmp_path))
    with open(os.path.join(TOP, "VERSION")) as f:
        version = f.read().strip()
    assert whl == f"shmstream-{version}-py3-none-any.whl"
    with zipfile.ZipFile(tmp_path / whl) as z:
        names = set(z.namelist())
        assert "shmstream/compat/pyshmem.py" in names
        record = z.read(f"shmstream-{version}.dist-info/RECORD").decode()
        assert all(n in record for n in names)
        assert "Requires-Dist: numpy" in z.read(f"shmstream-{version}.dist-info/METADATA").decode()
    sdist = shmstream_build.build_sdist(str(tmp_path))
    assert sdist == f"shmstream-{version}.tar.gz"


def test_pip_install_works_offline(tmp_path):
    """pip install ./python: the in-tree backend needs nothing from an index."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip(f"no pip for {sys.executable} (Debian: python3-pip)")
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                          "--no-cache-dir", "--target", str(target), os.path.join(TOP, "python")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-c", "import shmstream, shmstream.compat.pyshmem; "
                          "print(shmstream.__file__, shmstream.library_version())"],
                         capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(target)))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(str(target))
