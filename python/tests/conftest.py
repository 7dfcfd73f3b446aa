# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures of the shmstream Python suite (make check runs it in the guest).

SHMSTREAM_LIBSHMDEV names the libshmdev to test (make check: the tree's build);
tests that need /dev/shmstream skip with the reason where the module is not
loaded. The session ends with a kselftest-style Totals line for the tally.
"""

import itertools
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
BUILD = os.environ.get("SHMSTREAM_BUILD", os.path.join(TOP, "build"))
os.environ.setdefault("SHMSTREAM_LIBSHMDEV", os.path.join(BUILD, "lib", "libshmdev.so.1"))

_names = itertools.count()


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


def pytest_terminal_summary(terminalreporter):
    stats = terminalreporter.stats
    count = {k: len([r for r in stats.get(k, []) if getattr(r, "when", "call") != "teardown"
                     or k == "error"]) for k in ("passed", "failed", "skipped", "error")}
    terminalreporter.write_line(
        f"# Totals: pass:{count['passed']} fail:{count['failed']} xfail:0 xpass:0 "
        f"skip:{count['skipped']} error:{count['error']}")
