# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the shmstream Python suite (make check runs it in the guest).

SHMSTREAM_LIBSHMDEV names the libshmdev to test (make check: the tree's build);
tests that need /dev/shmstream skip with the reason where the module is not
loaded. The session ends with a kselftest-style Totals line for the tally.
"""

import itertools
import os
import platform
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
BUILD = os.environ.get("SHMSTREAM_BUILD", os.path.join(TOP, "build"))
os.environ.setdefault("SHMSTREAM_LIBSHMDEV", os.path.join(BUILD, "lib", "libshmdev.so.1"))

_names = itertools.count()

# For waits on what certainly comes (a frame on its way, a process that is
# starting): long enough for a loaded TCG guest or a debug kernel. They bound
# a hang; they time nothing.
PATIENCE = 120.0

# ioctl(2)'s number, where /proc/TID/syscall says which call a thread sleeps in.
_SYS_IOCTL = {"x86_64": 16, "aarch64": 29, "riscv64": 29, "ppc64le": 54, "s390x": 54}


def wait_asleep_in_ioctl(tid, timeout=PATIENCE):
    """True once thread tid (of this process) sleeps in ioctl(2) -- a blocking
    acquire -- rather than on its way there (or waiting for the GIL, which
    is a futex); False when it is gone or after timeout seconds."""
    nr = _SYS_IOCTL.get(platform.machine())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                state = f.read().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return False  # gone
        try:
            with open(f"/proc/self/task/{tid}/syscall") as f:
                call = f.read().split()[0]
        except (OSError, IndexError):
            call = None  # not said: asleep is enough
        if state == "S" and (nr is None or call is None or call == str(nr)):
            return True
        time.sleep(0.001)
    return False


@pytest.fixture
def dev():
    """The device, or SKIP where there is none."""
    import shmstream
    if not os.path.exists("/dev/shmstream"):
        pytest.skip("/dev/shmstream: no such device (the module is not loaded: run in the guest)")
    with shmstream.Device() as d:
        yield d


@pytest.fixture
def name(dev):
    """A stream name of this test's own; whatever has it is destroyed afterwards."""
    n = f"py{os.getpid()}-{next(_names)}"
    yield n
    if n in dev.list():
        dev.destroy(n)


def speedups_built():
    """The path of the built C extension shmstream._speedups, or None."""
    import glob
    found = glob.glob(os.path.join(TOP, "python", "shmstream", "_speedups.*.so"))
    return found[0] if found else None


@pytest.fixture(params=["speedups", "ctypes"])
def frame_path(request):
    """Run the test through the C extension's per-frame calls, then through
    ctypes alone (the package without the extension); the first SKIPs
    where make python-build did not build it (no python3-dev)."""
    from shmstream import _lib
    saved = _lib._speedups
    if request.param == "speedups":
        if speedups_built() is None:
            pytest.skip("shmstream._speedups is not built (make python-build, python3-dev)")
        _lib._speedups = False  # looked for again: found and bound
        assert _lib.speedups() is not None
    else:
        _lib._speedups = None
    yield request.param
    _lib._speedups = saved


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    count = {k: len([r for r in stats.get(k, []) if getattr(r, "when", "call") != "teardown"
                     or k == "error"]) for k in ("passed", "failed", "skipped", "error")}
    terminalreporter.write_line(
        f"# Totals: pass:{count['passed']} fail:{count['failed']} xfail:0 xpass:0 "
        f"skip:{count['skipped']} error:{count['error']}")
