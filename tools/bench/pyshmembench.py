#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench, third part: shmstream's pyshmem-compatible layer against real
pyshmem, and the native Python API, in pyshmem's own terms.

One writer process and one reader process (both forked from this one, each
opening its own handles). The reader is already waiting: it gives the writer
a credit, and the writer sleeps gap_us before it reads CLOCK_MONOTONIC and
calls write(), so the reader is inside read_new() by then. The figure is from
that clock read (the writer puts it in the frame's first 8 bytes) until
read_new() has returned in the reader, for `frames` frames after `warmup`.
Both clocks are read right next to the library's call (write() a bound
method; read_new(), or the native read(), a functools.partial), with no
function of the benchmark's in between, the same for every library; the
writer's store of its clock into the payload (one NumPy element) is inside
the figure, as shmbench's C producer's store of its own is.

- shmstream.compat.pyshmem: create()/write() and open()/read_new(timeout=);
- native: Stream.create()/write() and Stream.open()/read(mode="latest")
  (a copy of the newest frame, what read_new() gives);
- pyshmem: the same calls as the layer's, when PYSHMEM_SRC (a checkout of
  github.com/jacotay7/pyshmem, with Debian's python3-portalocker) is given;
  skipped, with the reason printed, otherwise.

The libraries take turns: each size is measured in --rounds rounds, every
library once a round (frames/rounds frames, its own two processes and
stream), and a library's figures are over all its rounds. So a slow stretch
of the machine (another guest, the host's neighbours) falls on every library
alike, not on whichever ran then.

- copies: no library, the floor of any that copies a frame in and out as
  pyshmem's write() and read_new() do: the writer, after the same pause,
  copies the payload into a shared buffer (NumPy), the reader, woken by a
  semaphore, copies it out into a new array (made before the wait); the
  figure is the two copies' time (each process's clock around its copy),
  the hand-off not counted.

Prints p50/p99 per library and size, the ratio compat/pyshmem, and the two
copies against pyshmem's p50, and writes OUT (--json). A frame that does not
come within 1 s is counted lost (pyshmem's read_new() misses a write made
before the call: a reader descheduled for longer than the gap), and 20 end
the run; figures never pass or fail.
Usage: pyshmembench.py [--json OUT] [--sizes 921600,64] [--frames 500]
                       [--rounds 5] [--warmup 20] [--gap-us 2000]
                       [--pyshmem-src DIR] [--only compat,native,pyshmem,copies]
"""

import argparse
import functools
import importlib
import json
import multiprocessing
import os
import statistics
import sys
import time

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(top, "python"))

import numpy as np  # noqa: E402

MONO = time.CLOCK_MONOTONIC
WAIT = 30.0  # for the other process's credit, creation or result
FRAME_WAIT = 1.0  # for one frame; longer means the write was missed
MAX_LOST = 20  # then the run stops


def shape_of(size):
    return (480, 640, 3) if size == 921600 else (size,)


def label(size):
    return "480x640x3 u8" if size == 921600 else f"{size} B"


# Read right next to the libraries' calls, with no function of ours around
# them: a Python call costs microseconds under emulation, and would count as
# the library's.
clock = time.clock_gettime_ns


class Compat:
    """shmstream.compat.pyshmem, or pyshmem itself (module=pyshmem)."""

    def __init__(self, module):
        self.mod = importlib.import_module(module)

    def writer(self, name, shape):
        return self.mod.create(name, shape=shape, dtype=np.uint8)

    def reader(self, name):
        return self.mod.open(name)

    @staticmethod
    def write_call(w):
        return w.write

    @staticmethod
    def read_call(r):
        return functools.partial(r.read_new, timeout=FRAME_WAIT)

    def cleanup(self, name):
        self.mod.unlink(name)


class Native:
    def __init__(self):
        import shmstream
        self.mod = shmstream

    def writer(self, name, shape):
        return self.mod.Stream.create(name, shape, np.uint8, slots=2)

    def reader(self, name):
        return self.mod.Stream.open(name)

    @staticmethod
    def write_call(w):
        return w.write

    @staticmethod
    def read_call(r):
        return functools.partial(r.read, mode="latest", timeout=FRAME_WAIT)

    def cleanup(self, name):
        try:
            self.mod.destroy(name)
        except self.mod.StreamNotFound:
            pass


def paced(credit, total, gap_us, kind):
    """A writer's frame indexes, each once the reader's credit came and
    gap_us later (the reader is waiting by then)."""
    for i in range(total):
        if not credit.acquire(timeout=WAIT):
            sys.exit(f"pyshmembench: {kind} writer: no credit for frame {i}")
        time.sleep(gap_us / 1e6)
        yield i


def copies_writer(buf, size, total, gap_us, created, credit, go, spent):
    """The writer's half of "copies": its copy's time into spent (a shared
    array, one slot per frame)."""
    dst = np.frombuffer(buf, np.uint8, size).reshape(shape_of(size))
    payload = np.zeros(shape_of(size), np.uint8)
    created.set()
    for i in paced(credit, total, gap_us, "copies"):
        t = clock(MONO)
        np.copyto(dst, payload)
        spent[i] = clock(MONO) - t
        go.release()


def copies_reader(buf, size, total, warmup, created, credit, go, spent, results):
    src = np.frombuffer(buf, np.uint8, size).reshape(shape_of(size))
    if not created.wait(WAIT):
        results.put(("error", "the writer did not start"))
        return
    samples = []
    for i in range(total):
        got = np.empty_like(src)  # before the wait, as shmstream's reader does
        credit.release()
        if not go.acquire(timeout=WAIT):
            results.put(("error", f"no frame {i} from the writer"))
            return
        t = clock(MONO)
        np.copyto(got, src)
        t = clock(MONO) - t
        if i >= warmup:
            samples.append((t + spent[i]) / 1000.0)
    results.put(("ok", samples, 0))


def measure_copies(size, frames, warmup, gap_us):
    ctx = multiprocessing.get_context("fork")
    total = frames + warmup
    buf = ctx.RawArray("B", size)
    spent = ctx.RawArray("q", total)
    created, credit, go, results = ctx.Event(), ctx.Semaphore(0), ctx.Semaphore(0), ctx.Queue()
    w = ctx.Process(target=copies_writer,
                    args=(buf, size, total, gap_us, created, credit, go, spent))
    r = ctx.Process(target=copies_reader,
                    args=(buf, size, total, warmup, created, credit, go, spent, results))
    return run_pair(w, r, results, total, gap_us, None)


def lib_of(kind):
    if kind == "native":
        return Native()
    return Compat("pyshmem" if kind == "pyshmem" else "shmstream.compat.pyshmem")


def writer_proc(kind, name, size, total, gap_us, created, credit):
    lib = lib_of(kind)
    w = lib.writer(name, shape_of(size))
    payload = np.zeros(shape_of(size), np.uint8)
    stamp = payload.reshape(-1)[:8].view(np.uint64)
    write = lib.write_call(w)  # the library's own call, nothing of ours around it
    created.set()
    for _ in paced(credit, total, gap_us, kind):
        stamp[0] = clock(MONO)
        write(payload)
    w.close()


def reader_proc(kind, name, total, warmup, created, credit, results):
    lib = lib_of(kind)
    if not created.wait(WAIT):
        results.put(("error", "the writer did not create the stream"))
        return
    r = lib.reader(name)
    read = lib.read_call(r)
    samples, lost = [], 0
    for i in range(total):
        credit.release()
        try:
            got = read()
            t = clock(MONO)  # right after read_new() (or read()) returned
        except TimeoutError:
            # pyshmem's read_new() waits for a write after the call: one
            # that came before (the reader descheduled past the gap) is lost
            lost += 1
            if lost >= MAX_LOST:
                break
            continue
        t0 = int(np.asarray(got).reshape(-1)[:8].view(np.uint64)[0])
        if i >= warmup:
            samples.append((t - t0) / 1000.0)
    r.close()
    results.put(("ok", samples, lost))


def measure(kind, size, frames, warmup, gap_us):
    ctx = multiprocessing.get_context("fork")
    name = f"pyshmembench-{kind}-{os.getpid()}"
    created, credit, results = ctx.Event(), ctx.Semaphore(0), ctx.Queue()
    total = frames + warmup
    w = ctx.Process(target=writer_proc, args=(kind, name, size, total, gap_us, created, credit))
    r = ctx.Process(target=reader_proc, args=(kind, name, total, warmup, created, credit,
                                              results))
    return run_pair(w, r, results, total, gap_us, lambda: lib_of(kind).cleanup(name))


def run_pair(w, r, results, total, gap_us, cleanup):
    """(samples, lost, error or None) of one writer and reader pair."""
    w.start()
    r.start()
    try:
        res = results.get(timeout=WAIT + MAX_LOST * FRAME_WAIT + total * (0.1 + gap_us / 1e6))
    except Exception:
        res = ("error", "no result from the reader")
    w.join(WAIT)
    r.join(WAIT)
    for p in (w, r):
        if p.is_alive():
            p.kill()
            p.join()
    if cleanup is not None:
        cleanup()
    if res[0] != "ok":
        return [], total, res[1]
    return res[1], res[2] + (w.exitcode != 0), None


def figures(samples, lost):
    samples = sorted(samples)
    return {"frames": len(samples), "lost": lost,
            "p50_us": round(statistics.median(samples), 1) if samples else None,
            "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1)
            if samples else None}


def pyshmem_ready(src):
    """None when pyshmem imports from src, else why not."""
    if not src:
        return "no PYSHMEM_SRC (a checkout of github.com/jacotay7/pyshmem; not vendored)"
    path = os.path.join(src, "src")
    if not os.path.isfile(os.path.join(path, "pyshmem", "__init__.py")):
        return f"{src} has no src/pyshmem (not a pyshmem checkout)"
    sys.path.insert(0, path)
    try:
        importlib.import_module("pyshmem")
    except ImportError as e:
        return f"pyshmem does not import ({e}; it needs Debian's python3-portalocker)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--sizes", default="921600,64")
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--gap-us", type=int, default=2000)
    ap.add_argument("--pyshmem-src", default=os.environ.get("PYSHMEM_SRC", ""))
    ap.add_argument("--only", default="compat,native,pyshmem,copies")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = [k for k in ("pyshmem", "compat", "native", "copies") if k in args.only.split(",")]
    rounds = max(1, min(args.rounds, args.frames))
    skip = pyshmem_ready(args.pyshmem_src) if "pyshmem" in kinds else None
    if skip:
        print(f"pyshmembench: pyshmem: SKIP: {skip}")
        kinds.remove("pyshmem")
    from shmstream import _lib
    print(f"\nwrite() in one process until read_new() returns in another, reader waiting: "
          f"{args.frames} frames in {rounds} rounds, the libraries in turn ({args.warmup} "
          f"more before each), {args.gap_us} us before each; shmstream "
          f"{'with its C extension' if _lib.speedups() is not None else 'on ctypes alone'}\n")
    print(f"{'frame':>14}  {'library':<28} {'p50 us':>9} {'p99 us':>9} {'lost':>5}")
    names = {"pyshmem": "pyshmem", "compat": "shmstream.compat.pyshmem",
             "native": "shmstream (native API)", "copies": "two copies alone (floor)"}
    results, lost = [], 0
    for size in sizes:
        row = {"bytes": size}
        got = {kind: ([], 0) for kind in kinds}
        for i in range(rounds):
            n = args.frames // rounds + (i < args.frames % rounds)
            for kind in kinds:
                if kind == "copies":
                    samples, lost_here, err = measure_copies(size, n, args.warmup, args.gap_us)
                else:
                    samples, lost_here, err = measure(kind, size, n, args.warmup, args.gap_us)
                if err:
                    print(f"pyshmembench: {kind} {label(size)}: {err}", file=sys.stderr)
                got[kind] = (got[kind][0] + samples, got[kind][1] + lost_here)
        for kind in kinds:
            m = figures(*got[kind])
            row[kind] = m
            if kind != "pyshmem":  # pyshmem's misses are its own
                lost += m["lost"]
            p50 = float("nan") if m["p50_us"] is None else m["p50_us"]
            p99 = float("nan") if m["p99_us"] is None else m["p99_us"]
            print(f"{label(size):>14}  {names[kind]:<28} {p50:>9.1f} {p99:>9.1f} {m['lost']:>5}")
        results.append(row)
    print()
    for row in results:
        p = row.get("pyshmem", {}).get("p50_us")
        c = row.get("compat", {}).get("p50_us")
        n = row.get("native", {}).get("p50_us")
        if p and c:
            row["compat_over_pyshmem"] = round(c / p, 3)
            print(f"{label(row['bytes']):>14}  compat/pyshmem p50: {c / p:.2f}x")
        if p and n:
            row["native_over_pyshmem"] = round(n / p, 3)
            print(f"{label(row['bytes']):>14}  native/pyshmem p50: {n / p:.2f}x")
        f = row.get("copies", {}).get("p50_us")
        if p and f:
            row["copies_over_pyshmem"] = round(f / p, 3)
            print(f"{label(row['bytes']):>14}  two copies alone / pyshmem p50: {f / p:.2f}x "
                  f"(what copying in and out costs, before any hand-off)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"parameters": vars(args), "skipped": skip,
                       "speedups": _lib.speedups() is not None, "results": results,
                       "ok": not lost}, f, indent=2)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
