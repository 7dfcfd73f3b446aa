#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench, second part: a Python consumer (the shmstream package) measured
as shmbench measures its C reader, printed next to shmbench's figures of the
same run.

- handoff latency: a producer process takes CLOCK_MONOTONIC right before it
  commits (the frame carries that time) and sleeps gap_us before each frame;
  the consumer, asleep in a blocking acquire(), takes the clock when it has
  the frame. shmbench's "shmstream-acquire" row is the C reader doing the
  same.
- frames/s: the consumer takes every frame it can (acquire "next"), sums all
  its bytes with NumPy, checks the sum against the producer's in the frame's
  metadata and releases it, for `seconds`; the producer commits as fast as it
  can and the frames the consumer could not keep up with are counted missed.
  shmbench's throughput row with 1 reader is the C figure.

Exit status 1 when a frame was wrong, else 0: figures never pass or fail.
Usage: pybench.py [--c-results results.json] [--json OUT] [--sizes 64,921600]
                  [--frames N] [--gap-us N] [--seconds S]
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import numpy as np  # noqa: E402

import shmstream  # noqa: E402

MONO = time.CLOCK_MONOTONIC
END_WAIT = 2.0  # seconds without a frame that end the frames/s run


def now_ns():
    return time.clock_gettime_ns(MONO)


def latency_producer(name, size, frames, gap_us, start):
    with shmstream.Device() as dev, dev.open(name, "producer") as p:
        start.wait(30)
        for i in range(frames):
            time.sleep(gap_us / 1e6)
            slot = p.begin(timeout=10)
            slot.array[:8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)
            slot.commit(size, timestamp_ns=now_ns())


def throughput_producer(name, size, seconds, start, stop):
    rng = np.random.default_rng(7)
    body = rng.integers(0, 256, size, np.uint8)
    total = int(body.sum(dtype=np.uint64))
    with shmstream.Device() as dev, dev.open(name, "producer") as p:
        # Fill every slot's body once; each frame then changes its first byte
        # only and says its sum in the metadata (as shmbench writes headers).
        for _ in range(p.slot_count):
            with p.begin(timeout=10, nbytes=size) as buf:
                buf[:] = body
        start.wait(30)
        i = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop.is_set():
            slot = p.begin(timeout=10, nbytes=size)
            b = i & 0xFF
            slot.array[0] = b
            s = total - int(body[0]) + b
            slot.commit(meta=s.to_bytes(8, "little"))
            i += 1


def measure_latency(dev, size, frames, gap_us):
    ctx = multiprocessing.get_context("fork")
    name = f"pybench-lat-{os.getpid()}"
    dev.create(name, slot_size=size, slots=8).close()
    c = dev.open(name)
    start = ctx.Event()
    prod = ctx.Process(target=latency_producer, args=(name, size, frames, gap_us, start))
    prod.start()
    start.set()
    samples, bad = [], 0
    try:
        for i in range(frames):
            with c.acquire(timeout=60) as f:  # a slow (debug) kernel starts slowly
                t = now_ns()
                samples.append((t - f.timestamp_ns) / 1000.0)
                if int.from_bytes(bytes(f.array[:8]), "little") != i or f.nbytes != size:
                    bad += 1
    finally:
        prod.join(30)
        c.close()
        dev.destroy(name)
    samples.sort()
    return {"frames": len(samples), "bad": bad,
            "p50_us": round(statistics.median(samples), 2),
            "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
            "mean_us": round(statistics.fmean(samples), 2)}


def measure_throughput(dev, size, seconds):
    ctx = multiprocessing.get_context("fork")
    name = f"pybench-tp-{os.getpid()}"
    dev.create(name, slot_size=size, slots=16).close()
    c = dev.open(name)
    start, stop = ctx.Event(), ctx.Event()
    prod = ctx.Process(target=throughput_producer, args=(name, size, seconds, start, stop))
    prod.start()
    taken = missed = bad = 0
    cpu0 = time.process_time()
    t0 = time.monotonic()
    start.set()
    t0 = time.monotonic()
    try:
        while True:
            try:
                with c.acquire(timeout=END_WAIT) as f:
                    if not f.meta:  # the producer filling its slots: not timed
                        t0 = time.monotonic()
                        continue
                    if int(f.array.sum(dtype=np.uint64)) != int.from_bytes(f.meta, "little"):
                        bad += 1
                    taken += 1
                    missed += f.missed
            except shmstream.Timeout:
                break
    finally:
        elapsed = time.monotonic() - t0 - END_WAIT  # the last, empty wait
        cpu = time.process_time() - cpu0
        stop.set()
        prod.join(30)
        c.close()
        dev.destroy(name)
    return {"frames_read": taken, "missed": missed, "bad": bad, "seconds": round(elapsed, 3),
            "frames_per_s": round(taken / elapsed) if elapsed > 0 else 0,
            "cpu_us_per_frame": round(cpu * 1e6 / taken, 2) if taken else None}


def c_figures(path):
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        d = json.load(f)
    out = {}
    for row in d.get("latency", []):
        if row["transport"] == "shmstream-acquire":
            out.setdefault(row["bytes"], {}).update(p50_us=row["p50_us"], p99_us=row["p99_us"])
    for row in d.get("throughput", []):
        if row["readers"] == 1:
            out.setdefault(row["bytes"], {}).update(frames_per_s=row["frames_per_s"])
    return out


def label(size):
    return {921600: "640x480x3", 6220800: "1920x1080x3", 24883200: "3840x2160x3"}.get(
        size, f"{size} B")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--c-results", help="shmbench's results.json of the same run")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--sizes", default="64,921600")
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--gap-us", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    cfig = c_figures(args.c_results)
    results = []
    print(f"\nPython consumer (shmstream {shmstream.__version__}, ctypes over libshmdev "
          f"{shmstream.library_version()}, NumPy {np.__version__}) next to C (shmbench)")
    print(f"latency: {args.frames} frames, {args.gap_us} us before each; "
          f"frames/s: {args.seconds:g} s, every byte summed and checked\n")
    print(f"{'frame':>12}  {'consumer':<26} {'p50 us':>9} {'p99 us':>9} {'frames/s':>10}")
    with shmstream.Device() as dev:
        for size in sizes:
            lat = measure_latency(dev, size, args.frames, args.gap_us)
            tp = measure_throughput(dev, size, args.seconds)
            c = cfig.get(size, {})
            if c:
                print(f"{label(size):>12}  {'C (libshmdev, shmbench)':<26} "
                      f"{c.get('p50_us', float('nan')):>9.1f} {c.get('p99_us', float('nan')):>9.1f} "
                      f"{round(c.get('frames_per_s', 0)):>10}")
            print(f"{label(size):>12}  {'Python (shmstream)':<26} {lat['p50_us']:>9.1f} "
                  f"{lat['p99_us']:>9.1f} {tp['frames_per_s']:>10}")
            results.append({"bytes": size, "latency": lat, "throughput": tp, "c": c})
    bad = sum(r["latency"]["bad"] + r["throughput"]["bad"] for r in results)
    print(f"\npython: {'every frame intact' if not bad else f'{bad} frames WRONG'}; "
          f"missed by the Python consumer at full rate: "
          + ", ".join(f"{label(r['bytes'])} {r['throughput']['missed']}" for r in results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"parameters": vars(args), "results": results, "ok": not bad}, f, indent=2)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
