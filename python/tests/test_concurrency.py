# SPDX-License-Identifier: LGPL-2.1-or-later
"""Producers and consumers in other processes, threads and event loops: every
frame checked against the CRC-32 its producer put in the metadata, and every
frame taken or counted missed.

Nothing here depends on how fast the machine is (a loaded TCG guest, a debug
kernel): a consumer that may fall behind counts what it missed, one that must
see every frame is fed one frame at a time, and waits for what certainly
comes (a frame, a process starting) are long: they only bound a hang."""

import asyncio
import multiprocessing
import selectors
import threading
import time
import zlib

import numpy as np
import pytest

import shmstream
from conftest import PATIENCE

N = 300
SHAPE = (48, 64)


def frame_data(i):
    return np.random.default_rng(i).integers(0, 256, SHAPE, np.uint8)


def write_frame(p, i):
    """Frame i, with meta = (index, CRC-32 of its bytes)."""
    data = frame_data(i)
    meta = i.to_bytes(4, "little") + zlib.crc32(data).to_bytes(4, "little")
    with p.begin(timeout=PATIENCE, meta=meta) as buf:
        buf[:] = data


def produce(name, n=N, pause=0.0, ready=None):
    """Write frames 0..n-1."""
    with shmstream.Device() as dev, dev.open(name, "producer") as p:
        if ready is not None:
            ready.wait(PATIENCE)
        for i in range(n):
            write_frame(p, i)
            if pause:
                time.sleep(pause)


class Tally:
    def __init__(self):
        self.taken = self.missed = self.bad = 0
        self.last = 0

    def add(self, frame):
        index = int.from_bytes(frame.meta[:4], "little")
        crc = int.from_bytes(frame.meta[4:8], "little")
        if zlib.crc32(np.ascontiguousarray(frame.array)) != crc or frame.seq != index + 1:
            self.bad += 1
        if frame.seq != self.last + frame.missed + 1:
            self.bad += 1
        self.last = frame.seq
        self.taken += 1
        self.missed += frame.missed

    def done(self, n=N):
        return self.taken + self.missed >= n

    def check(self, n=N):
        assert self.bad == 0
        assert self.taken + self.missed == n and self.taken > 0


def consume(name, results, ready):
    t = Tally()
    with shmstream.Device() as dev, dev.open(name) as c:
        ready.wait(PATIENCE) if hasattr(ready, "wait") else None
        try:
            while not t.done():  # the last frame always comes: it stays in the ring
                with c.acquire(timeout=PATIENCE) as f:
                    t.add(f)
        except shmstream.Timeout:
            pass
    results.put((t.taken, t.missed, t.bad))


def test_processes_with_checksums(dev, name):
    ctx = multiprocessing.get_context("fork")
    dev.create(name, SHAPE, "u1", slots=8).close()  # the name stays: not destroy_on_close
    results = ctx.Queue()
    barrier = ctx.Barrier(4)
    consumers = [ctx.Process(target=consume, args=(name, results, barrier)) for _ in range(3)]
    for c in consumers:
        c.start()
    producer = ctx.Process(target=produce, args=(name, N, 0.0, barrier))
    producer.start()
    producer.join(PATIENCE)
    got = [results.get(timeout=PATIENCE) for _ in consumers]
    for c in consumers:
        c.join(PATIENCE)
        assert c.exitcode == 0
    assert producer.exitcode == 0
    for taken, missed, bad in got:
        assert bad == 0 and taken + missed == N and taken > 0
    assert dev.info(name).frames == N


def test_asyncio_consumer(dev, name):
    p = dev.create(name, SHAPE, "u1", slots=8)
    p.close()
    c = dev.open(name)
    t = Tally()
    taken = threading.Semaphore(0)
    stalled = []

    async def main():
        ticks = 0

        def write():
            """Frame i + 1 once the consumer has taken frame i and the loop has
            ticked since: the consumer then waits in the event loop (a tick
            runs only while it awaits), so every frame finds it waiting there
            however the threads are scheduled."""
            with shmstream.Device() as d, d.open(name, "producer") as w:
                for i in range(100):
                    if i and not taken.acquire(timeout=PATIENCE):
                        stalled.append(f"frame {i - 1} not taken")
                        return
                    seen, deadline = ticks, time.monotonic() + PATIENCE
                    while ticks == seen:  # a loop blocked in the wait never ticks
                        if time.monotonic() > deadline:
                            stalled.append(f"no tick before frame {i}")
                            return
                        time.sleep(0.0005)
                    write_frame(w, i)

        writer = threading.Thread(target=write)
        writer.start()

        async def ticker():  # the loop keeps running while the consumer waits
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        tick = asyncio.ensure_future(ticker())
        async for frame in c.aframes(timeout=PATIENCE):
            t.add(frame)
            taken.release()
            if t.done(100):
                break
        tick.cancel()
        await asyncio.to_thread(writer.join)
        with pytest.raises(shmstream.Timeout) as e:
            await c.acquire_async(timeout=0.05)
        assert isinstance(e.value, TimeoutError)
        return ticks

    ticks = asyncio.run(main())
    assert not stalled
    t.check(100)
    assert t.missed == 0  # one frame at a time: none lost
    assert ticks >= 100  # at least one per frame waited for
    assert c.stats()["holds"] == 0
    c.close()


def test_async_for_ends_when_the_stream_is_destroyed(dev, name):
    p = dev.create(name, (1,), "u1")
    c = dev.open(name)

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, p.write, [7])
        loop.call_later(0.3, dev.destroy, name)
        return [int(f.array[0]) async for f in c]

    assert asyncio.run(main()) == [7]
    p.close()
    c.close()


def test_selectors_consumer(dev, name):
    ctx = multiprocessing.get_context("fork")
    dev.create(name, SHAPE, "u1", slots=8).close()
    c = dev.open(name)
    producer = ctx.Process(target=produce, args=(name, N, 0.0005))
    producer.start()
    t = Tally()
    with selectors.DefaultSelector() as sel:
        sel.register(c, selectors.EVENT_READ)
        wakeups = 0
        while not t.done():
            events = sel.select(timeout=PATIENCE)
            assert events, f"no frame within {PATIENCE:g} s"
            wakeups += 1
            while True:
                try:
                    with c.acquire(timeout=0) as f:
                        t.add(f)
                except shmstream.Timeout:
                    break
        # Level-triggered: with everything taken the stream is not readable.
        assert sel.select(timeout=0) == []
    producer.join(PATIENCE)
    assert producer.exitcode == 0
    t.check()
    assert 0 < wakeups <= t.taken
    c.close()


def test_threads_share_a_consumer(dev, name):
    """libshmdev handles are thread-safe: two threads acquire from one handle."""
    p = dev.create(name, (1,), "u8", slots=16)
    c = dev.open(name)
    seen = []
    lock = threading.Lock()
    written = threading.Event()

    def take():
        while True:
            # Written before this wait began: a timeout then means nothing is
            # left (one read after it could miss the last frames).
            done = written.is_set()
            try:
                with c.acquire(timeout=0.05) as f:
                    with lock:
                        seen.append(int(f.array[0]))
            except shmstream.Timeout:
                if done:
                    return

    threads = [threading.Thread(target=take) for _ in range(2)]
    for th in threads:
        th.start()
    for i in range(200):
        p.write(np.array([i], np.uint64), timeout=PATIENCE)
    written.set()
    for th in threads:
        th.join()
    missed = c.stats()["missed"]
    assert len(seen) == len(set(seen)) and len(seen) + missed == 200
    p.close()
    c.close()


def test_two_coroutines_wait_on_one_stream(dev, name):
    """add_reader keeps one callback per fd: both waiters must still wake."""
    p = dev.create(name, (1,), "u4", slots=8)
    c = dev.open(name)

    async def take():
        f = await c.acquire_async(timeout=PATIENCE)
        value = int(f.array[0])
        f.release()
        return value

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, p.write, [1])
        loop.call_later(0.2, p.write, [2])
        got = await asyncio.gather(take(), take())
        assert not c._waiters  # the reader callback is gone
        return sorted(got)

    assert asyncio.run(main()) == [1, 2]
    p.close()
    c.close()
