# SPDX-License-Identifier: LGPL-2.1-or-later
"""Delivery (ABI 2.2): reliable=True, history=N, several producers, stall=."""

import threading
import zlib

import numpy as np
import pytest

import shmstream
from conftest import PATIENCE


@pytest.fixture(autouse=True)
def _delivery(dev):
    if not dev.version()["features"] & shmstream._lib.FEAT_DELIVERY:
        pytest.skip("the module has no SHMSTREAM_FEAT_DELIVERY (ABI 2.1 or older)")


def frame(n, shape=(16, 16)):
    """Frame n: a pattern of its own, with n in its first element."""
    a = np.random.default_rng(n).integers(0, 255, size=shape, dtype=np.uint8)
    a.flat[0] = n % 256
    return a


def test_a_slow_reliable_reader_loses_nothing(dev, name):
    """The producer writes 300 frames as fast as it can into 4 slots; a reliable
    reader that pauses every 10 frames gets each of them, intact and in order."""
    got, errors = [], []
    with dev.create(name, (16, 16), "u1", slots=4, stall=60.0) as p, \
            dev.open(name, reliable=True) as c:
        assert c.stats()["reliable"] and not c.stats()["demoted"]

        def read():
            try:
                for _ in range(300):
                    with c.acquire(timeout=PATIENCE) as f:
                        got.append((f.seq, f.missed, zlib.crc32(f.array.tobytes())))
                    if len(got) % 10 == 0:
                        threading.Event().wait(0.02)
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=read)
        t.start()
        for n in range(1, 301):
            assert p.write(frame(n), timeout=PATIENCE) == n
        t.join()
        assert not errors
        assert [g[0] for g in got] == list(range(1, 301))
        assert all(g[1] == 0 for g in got)
        assert [g[2] for g in got] == [zlib.crc32(frame(n).tobytes()) for n in range(1, 301)]
        assert c.info().reliable_consumers == 1 and c.info().demotions == 0


def test_the_producer_waits_then_a_stalled_reader_is_demoted(dev, name):
    with dev.create(name, (16, 16), "u1", slots=2, stall=1.0) as p, \
            dev.open(name, reliable=True) as c:
        assert p.info().stall == pytest.approx(1.0)
        p.write(frame(1))
        p.write(frame(2))
        # Held back: no free slot whose frame the reader has taken.
        with pytest.raises(shmstream.Timeout):
            p.write(frame(3), timeout=0)
        assert "writable" not in p.state()
        assert "demoted" not in c.state()
        # The reader takes nothing more: after 1 s it is demoted, the producer goes on.
        for n in range(3, 7):
            p.write(frame(n), timeout=PATIENCE)
        assert "demoted" in c.state()
        with c.acquire(timeout=0) as f:
            assert (f.seq, f.missed) == (5, 4)
            assert np.array_equal(f.array, frame(5))
        st = c.stats()
        assert st["demoted"] and not st["reliable"]
        assert st["taken"] + st["missed"] == st["cursor"] - st["attach_seq"]
        assert "demoted" in c.state()  # for good
        info = p.info()
        assert (info.demotions, info.reliable_consumers) == (1, 0)


def test_history_for_a_late_joiner(dev, name):
    with dev.create(name, (16, 16), "u1", slots=8) as p:
        for n in range(1, 11):
            p.write(frame(n))
        with dev.open(name, history=3) as c:
            seqs = []
            for f in c.frames(timeout=0):
                assert np.array_equal(f.array, frame(f.seq))
                seqs.append((f.seq, f.missed))
            assert seqs == [(8, 0), (9, 0), (10, 0)]
            p.write(frame(11))
            with c.acquire(timeout=0) as f:
                assert (f.seq, f.missed) == (11, 0)
        with pytest.raises(shmstream.Error):
            dev.open(name, history=9)  # more than the slots: EINVAL
        with pytest.raises(ValueError):
            dev.open(name, newest=True, history=2)
        with pytest.raises(ValueError):
            dev.open(name, "producer", reliable=True)
        with pytest.raises(ValueError):
            dev.open(name, history=-1)


def test_several_producers_one_sequence(dev, name):
    with dev.create(name, (16, 16), "u1", slots=8, producers=3) as p1, \
            dev.open(name, reliable=True) as c:
        assert p1.info().max_producers == 3
        with dev.open(name, "producer") as p2, dev.open(name, "producer") as p3:
            with pytest.raises(shmstream.Busy):
                dev.open(name, "producer")
            assert p1.info().producers == 3
            done = []

            def produce(p, base):
                for n in range(base, base + 50):
                    p.write(frame(n), timeout=PATIENCE)
                done.append(base)

            threads = [threading.Thread(target=produce, args=(p, b))
                       for p, b in ((p2, 1000), (p3, 2000))]
            for t in threads:
                t.start()
            by_crc = {zlib.crc32(frame(n).tobytes()): n
                      for n in list(range(1000, 1050)) + list(range(2000, 2050))}
            seen = []
            for _ in range(100):
                with c.acquire(timeout=PATIENCE) as f:
                    seen.append((f.seq, f.missed, by_crc.get(zlib.crc32(f.array.tobytes()))))
            for t in threads:
                t.join()
        # One sequence, nothing missed; each producer's 50 frames once, in its order.
        assert [s[0] for s in seen] == list(range(1, 101)) and all(s[1] == 0 for s in seen)
        assert [s[2] for s in seen if s[2] and s[2] < 2000] == list(range(1000, 1050))
        assert [s[2] for s in seen if s[2] and s[2] >= 2000] == list(range(2000, 2050))
        assert sorted(done) == [1000, 2000]
        assert "no-producer" not in c.state()
    with pytest.raises(ValueError):
        dev.create(name + "x", slot_size=64, producers=0)
    with pytest.raises(ValueError):
        dev.create(name + "x", slot_size=64, stall=0)
