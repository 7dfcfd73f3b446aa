#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench, second part: a Python consumer (the shmstream package) measured
as shmbench measures its C reader, printed next to shmbench's figures of the
same run.

- handoff latency: one frame at a time, as shmbench does it. The producer
  commits frame i + 1 only once the consumer has taken frame i (a credit on a
  semaphore), then sleeps gap_us so that the consumer is asleep in a blocking
  acquire() when the frame comes. The frame carries the time the kernel
  took at COMMIT (CLOCK_MONOTONIC; the producer passes none), the consumer
  reads the clock right after acquire() returns the frame, as the C reader
  does after shmdev_acquire() (the Frame made and filled; its .array view,
  made on first use, is not counted): the figure is the consumer's, with
  none of the Python producer's own work in it. (shmbench's C producer reads
  the clock right before its COMMIT call, so the C figure also holds one
  system-call entry, a few microseconds, that the Python one does not.)
  So a consumer that is descheduled for a while delays the run but never
  falls behind: no frame is lost. The consumer ends when it has the last
  frame (index frames - 1), not after a count of acquires, and a producer
  that ends early ends it too; a frame it missed all the same is counted
  (and is an error), never waited for. shmbench's "shmstream-acquire" row is
  the C reader doing the same. With --shmbench, they take turns: each size
  is measured in --rounds rounds of frames/rounds frames, each round a
  shmbench latency run (its C producer, its C reader, both forked from
  shmbench), then that C reader in a process of its own against
  shmbench's C producer in another (shmbench --read against shmbench
  --serve: the Python consumer's setting, with C code), then the Python
  consumer against that C producer (the same producer, so the difference
  is the consumer's; the issue's "Python consumer against shmbench's
  reader"), then the Python consumer against the Python producer above
  (the native API at both ends). The Python figures pool the rounds, the
  C ones are the median of their rounds', and each Python/C ratio printed
  is the median of the rounds' own ratios. So a slow minute of the host (a
  TCG guest's figures drift by a third between runs) falls on all four,
  not on whichever ran then. Without --shmbench,
  the C figures are those of --c-results, measured before, and only the
  Python producer runs.
- frames/s: the consumer takes every frame it can (acquire "next"), sums all
  its bytes with NumPy, checks the sum against the producer's in the frame's
  metadata and releases it, for `seconds`; the producer commits as fast as it
  can and the frames the consumer could not keep up with are counted missed.
  The producer's last frame says how many it committed, so the consumer
  stops on it (not on a silence) and checks that taken + missed adds up.
  shmbench's throughput row with 1 reader is the C figure.

Exit status 1 when a frame was wrong, lost or missing from the count, or a
run did not finish, else 0: figures never pass or fail.
Usage: pybench.py [--c-results results.json] [--json OUT] [--sizes 64,921600]
                  [--frames N] [--gap-us N] [--seconds S]
                  [--shmbench PATH [--rounds N]]
"""

import argparse
import json
import math
import multiprocessing
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import numpy as np  # noqa: E402

import shmstream  # noqa: E402

MONO = time.CLOCK_MONOTONIC
# Waits for something that certainly comes while the other side lives (a
# frame, a credit): long, so that a loaded or debug machine never runs out.
# Each side also notices the other's end (its exit, the stream destroyed).
WAIT = 300.0
POLL = 1.0  # seconds per wait, between looks at whether the other side lives
END = b"end:"  # the frames/s producer's last frame: meta END + frames committed


def latency_producer(name, size, frames, gap_us, credit):
    """Frame i + 1 only once the consumer has taken frame i (its credit)."""
    with shmstream.Device() as dev, dev.open(name, "producer") as p:
        for i in range(frames):
            # The first credit says the consumer is attached and waiting.
            if not credit.acquire(timeout=WAIT):
                sys.exit(f"pybench: latency producer: no credit for frame {i} in {WAIT:g} s")
            time.sleep(gap_us / 1e6)
            slot = p.begin(timeout=WAIT)
            slot.array[:8] = np.frombuffer(i.to_bytes(8, "little"), np.uint8)
            slot.commit(size)  # stamped by the kernel at COMMIT


def throughput_producer(name, size, seconds, start, stop):
    rng = np.random.default_rng(7)
    body = rng.integers(0, 256, size, np.uint8)
    total = int(body.sum(dtype=np.uint64))
    with shmstream.Device() as dev, dev.open(name, "producer") as p:
        # Fill every slot's body once; each frame then changes its first byte
        # only and says its sum in the metadata (as shmbench writes headers).
        for _ in range(p.slot_count):
            with p.begin(timeout=WAIT, nbytes=size) as buf:
                buf[:] = body
        start.wait(WAIT)
        i = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop.is_set():
            slot = p.begin(timeout=WAIT, nbytes=size)
            b = i & 0xFF
            slot.array[0] = b
            s = total - int(body[0]) + b
            slot.commit(meta=s.to_bytes(8, "little"))
            i += 1
        # The last frame says how many frames came before it (fills and timed
        # ones); being the newest, it stays in the ring until the consumer
        # takes it, however far behind the consumer is.
        slot = p.begin(timeout=WAIT, nbytes=size)
        slot.commit(0, meta=END + (p.slot_count + i).to_bytes(8, "little"))


def acquire(c, prod, what, clock=time.clock_gettime_ns):
    """(the next frame, CLOCK_MONOTONIC ns right after acquire() returned it,
    or None with clock=None); waits while the producer lives, at most WAIT
    seconds without a frame. (None, None) when the producer is gone and no
    frame is left, the stream was destroyed, or nothing came for WAIT s. The
    clock is read here, next to the call, as shmbench's C reader reads it
    right after shmdev_acquire(): this helper's return is the benchmark's,
    and the with block's entry (Resource.__enter__, a bare return of the
    frame) is one a consumer need not use. The figure ends with the Frame
    made and filled by acquire(); its .array, a NumPy view made on first
    use, is not in it (nor was it before the clock moved here)."""
    quiet = 0.0
    while True:
        try:
            f = c.acquire(timeout=POLL)
            return f, (clock(MONO) if clock is not None else None)
        except shmstream.StreamDestroyed:  # a producer that died: its stream went with it
            print(f"pybench: {what}: the stream was destroyed (the producer's exit status "
                  f"{prod.exitcode})", file=sys.stderr)
            return None, None
        except shmstream.Timeout:
            if not prod.is_alive():
                try:  # its last frames may have come after the wait
                    f = c.acquire(timeout=0)
                    return f, (clock(MONO) if clock is not None else None)
                except shmstream.Timeout:
                    print(f"pybench: {what}: the producer ended (exit status "
                          f"{prod.exitcode}) before its last frame", file=sys.stderr)
                    return None, None
            quiet += POLL
            if quiet >= WAIT:
                print(f"pybench: {what}: no frame for {WAIT:g} s", file=sys.stderr)
                return None, None


def stop_producer(prod, finished):
    """Join the producer: it ends by itself once its last frame was taken."""
    prod.join(WAIT if finished else POLL)
    if prod.is_alive():  # a consumer that gave up: the producer goes too
        prod.kill()
        prod.join()


def measure_latency(dev, size, frames, gap_us):
    ctx = multiprocessing.get_context("fork")
    name = f"pybench-lat-{os.getpid()}"
    dev.create(name, slot_size=size, slots=8).close()
    c = dev.open(name)  # attached before the producer's first frame
    credit = ctx.Semaphore(0)
    prod = ctx.Process(target=latency_producer, args=(name, size, frames, gap_us, credit))
    prod.start()
    # Frame i is the stream's seq i + 1: the consumer attached before it.
    samples, bad, missed, last = [], 0, 0, 0
    try:
        credit.release()  # attached: frame 0 may come
        while last < frames:  # until the last frame (or the producer's end)
            f, t = acquire(c, prod, "latency")
            if f is None:
                break
            with f:
                samples.append((t - f.timestamp_ns) / 1000.0)
                index = int.from_bytes(bytes(f.array[:8]), "little")
                # The frame after the last one taken (and those it missed),
                # whole: its index and size are the producer's.
                if f.seq != last + 1 + f.missed or index != f.seq - 1 or f.nbytes != size:
                    bad += 1
                missed += f.missed
                last = f.seq
            credit.release()  # taken: the next one may come
    finally:
        stop_producer(prod, last >= frames)
        c.close()
        dev.destroy(name)
    complete = last == frames and prod.exitcode == 0
    if not complete:
        print(f"pybench: latency: {len(samples)} frames taken, {missed} missed, the last "
              f"frame index {last - 1} of {frames - 1}, producer exit status {prod.exitcode}",
              file=sys.stderr)
    return {"frames": len(samples), "missed": missed, "bad": bad, "complete": complete,
            **latency_figures(samples), "samples": samples}


class Served:
    """shmbench --serve (the C producer) as acquire() and stop_producer() see
    a producer process."""

    def __init__(self, popen):
        self.popen = popen

    def is_alive(self):
        return self.popen.poll() is None

    @property
    def exitcode(self):
        return self.popen.returncode

    def join(self, timeout=None):
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def kill(self):
        self.popen.kill()


def start_serve(shmbench, size, frames, gap_us):
    """(popen, efd) of shmbench --serve with a new eventfd for its reader's
    counts; the caller closes both. Its stream's name comes on its stdout."""
    efd = os.eventfd(0)
    try:
        popen = subprocess.Popen([shmbench, "--serve", str(efd), "--sizes", str(size),
                                  "--frames", str(frames), "--gap-us", str(gap_us),
                                  "--budget", str(WAIT)],
                                 pass_fds=(efd,), stdout=subprocess.PIPE, text=True)
    except BaseException:
        os.close(efd)
        raise
    return popen, efd


def serve_name(popen, shmbench):
    """The name of the stream shmbench --serve made (it prints it at once),
    or "" (said on stderr, the process killed)."""
    ready, _, _ = select.select([popen.stdout], [], [], WAIT)
    name = popen.stdout.readline().strip() if ready else ""
    if not name:
        popen.kill()
        popen.wait()
        print(f"pybench: {shmbench} --serve gave no stream (status {popen.returncode})",
              file=sys.stderr)
    return name


def measure_served(dev, shmbench, size, frames, gap_us):
    """The Python consumer against shmbench's own C producer (shmbench
    --serve), the producer its C reader has: frame i + 1 comes gap_us after
    the consumer's count on an eventfd for frame i, stamped with the clock
    right before COMMIT (shmbench's header: u64 seq, t0, sum, stop). So the
    two consumers are measured from the same producer, and the figure is the
    consumer's alone."""
    samples, bad, missed, last, stopped = [], 0, 0, 0, False
    popen, efd = start_serve(shmbench, size, frames, gap_us)
    prod = Served(popen)
    try:
        name = serve_name(popen, shmbench)
        if name:
            with dev.open(name) as c:
                os.eventfd_write(efd, 1)  # attached: frame 1 may come
                while not stopped:
                    f, t = acquire(c, prod, "latency (C producer)")
                    if f is None:
                        break
                    with f:
                        head = bytes(f.array[:32])
                        stopped = head[24:32] != bytes(8)
                        if not stopped:
                            samples.append((t - f.timestamp_ns) / 1000.0)
                            if f.seq != last + 1 + f.missed or \
                                    int.from_bytes(head[:8], "little") != f.seq or \
                                    f.nbytes != size:
                                bad += 1
                            missed += f.missed
                            last = f.seq
                    if not stopped:
                        os.eventfd_write(efd, 1)  # taken: the next one may come
    finally:
        stop_producer(prod, stopped)
        popen.stdout.close()
        os.close(efd)
    complete = stopped and last == frames and popen.returncode == 0
    if not complete:
        print(f"pybench: latency (C producer): {len(samples)} frames taken, {missed} missed, "
              f"the last {last} of {frames}, shmbench exit status {popen.returncode}",
              file=sys.stderr)
    return {"frames": len(samples), "missed": missed, "bad": bad, "complete": complete,
            **latency_figures(samples), "samples": samples}


def measure_c_own(shmbench, size, frames, gap_us):
    """shmbench's C reader in a process of its own (shmbench --read) against
    shmbench --serve: the same producer and the same reader code as the C
    reader's run, but the reader exec'd apart from the producer, as the
    Python consumer is (in shmbench's own run both are forked from one
    process). Its figures ({"p50_us", "p99_us", "frames", "bad",
    "complete"}); p50_us and p99_us None when it took no frame (why said on
    stderr)."""
    none = {"frames": 0, "bad": 0, "complete": False, "p50_us": None, "p99_us": None}
    serve, efd = start_serve(shmbench, size, frames, gap_us)
    try:
        name = serve_name(serve, shmbench)
        if not name:
            return none
        try:
            r = subprocess.run([shmbench, "--read", f"{efd}:{name}", "--sizes", str(size),
                                "--frames", str(frames)], pass_fds=(efd,), capture_output=True,
                               text=True, timeout=WAIT + frames * (0.1 + gap_us / 1e6))
        except subprocess.TimeoutExpired as e:
            print(f"pybench: {shmbench} --read did not end within {e.timeout:g} s",
                  file=sys.stderr)
            return none
        words = r.stdout.split()
        fig = dict(zip(words[::2], words[1::2]))
        if "p50" not in fig or not math.isfinite(float(fig["p50"])):
            print(f"pybench: {shmbench} --read took no frame (status {r.returncode}): "
                  f"{r.stderr.strip()}", file=sys.stderr)
            return none
        if r.returncode:
            print(f"pybench: {shmbench} --read: {r.stderr.strip()} (status {r.returncode})",
                  file=sys.stderr)
        taken = int(fig["frames"])
        return {"frames": taken, "bad": int(fig["bad"]),
                "complete": r.returncode == 0 and taken == frames,
                "p50_us": float(fig["p50"]), "p99_us": float(fig["p99"])}
    finally:
        serve.kill()  # it has ended by now when the reader took every frame (else killed)
        serve.wait()
        serve.stdout.close()
        os.close(efd)


def latency_figures(samples):
    """p50, p99 and mean (us) of handoff samples, None each when there are none."""
    samples = sorted(samples)
    return {"p50_us": round(statistics.median(samples), 2) if samples else None,
            "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2)
            if samples else None,
            "mean_us": round(statistics.fmean(samples), 2) if samples else None}


def measure_throughput(dev, size, seconds):
    ctx = multiprocessing.get_context("fork")
    name = f"pybench-tp-{os.getpid()}"
    dev.create(name, slot_size=size, slots=16).close()
    c = dev.open(name)  # attached before the producer's first frame
    start, stop = ctx.Event(), ctx.Event()
    prod = ctx.Process(target=throughput_producer, args=(name, size, seconds, start, stop))
    prod.start()
    taken = missed = bad = 0
    seen = skipped = 0  # every frame before the last: taken or missed
    committed = None
    t0 = t1 = None
    cpu0 = time.process_time()
    start.set()
    try:
        while True:
            f, _ = acquire(c, prod, "frames/s", clock=None)  # not timed per frame
            if f is None:
                break
            with f:
                seen += 1
                skipped += f.missed
                # Those missed after the fills (seq 1 to slot_count) were timed.
                missed += max(0, min(f.missed, f.seq - 1 - c.slot_count))
                if f.meta.startswith(END):
                    t1 = time.monotonic()
                    committed = int.from_bytes(f.meta[len(END):], "little")
                    break
                if not f.meta:  # the producer filling its slots: not timed
                    t0 = time.monotonic()
                    continue
                if t0 is None:  # every fill missed: time from the first frame
                    t0 = time.monotonic()
                if int(f.array.sum(dtype=np.uint64)) != int.from_bytes(f.meta, "little"):
                    bad += 1
                taken += 1
    finally:
        cpu = time.process_time() - cpu0
        stop.set()
        stop_producer(prod, committed is not None)
        c.close()
        dev.destroy(name)
    # Every frame before the last one was taken or counted missed.
    if committed is None or seen - 1 + skipped != committed or prod.exitcode != 0:
        print(f"pybench: frames/s: {seen} frames seen, {skipped} missed, the producer "
              f"committed {committed} before its last (exit status {prod.exitcode})",
              file=sys.stderr)
        bad += 1
    elapsed = t1 - t0 if t0 is not None and t1 is not None else 0
    return {"frames_read": taken, "missed": missed, "bad": bad, "seconds": round(elapsed, 3),
            "frames_per_s": round(taken / elapsed) if elapsed > 0 else 0,
            "cpu_us_per_frame": round(cpu * 1e6 / taken, 2) if taken else None}


def c_round(shmbench, size, frames, gap_us):
    """One shmbench latency run at size: its C reader's row (shmstream-acquire:
    p50_us, p99_us), or None (said on stderr). --budget 1: the other
    transports of its latency part (a pipe, a socket) stop after a second."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "c.json")
        r = subprocess.run([shmbench, "--only", "latency", "--sizes", str(size), "--frames",
                            str(frames), "--gap-us", str(gap_us), "--budget", "1", "--json", out],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0 or not os.path.exists(out):
            print(f"pybench: {shmbench} failed (status {r.returncode}): {r.stderr.strip()}",
                  file=sys.stderr)
            return None
        with open(out) as f:
            rows = json.load(f).get("latency", [])
    return next((x for x in rows if x["transport"] == "shmstream-acquire" and
                 x["bytes"] == size), None)


def pool(lats, rounds):
    """The figures of the rounds' samples together."""
    samples = [x for lat in lats for x in lat["samples"]]
    return {"frames": len(samples), "missed": sum(lat["missed"] for lat in lats),
            "bad": sum(lat["bad"] for lat in lats),
            "complete": all(lat["complete"] for lat in lats),
            **latency_figures(samples), "rounds": rounds}


def c_median(runs):
    """The C runs' p50 and p99, each the median of the rounds'."""
    if not runs:
        return {}
    return {"p50_us": round(statistics.median(x["p50_us"] for x in runs), 2),
            "p99_us": round(statistics.median(x["p99_us"] for x in runs), 2),
            "rounds": len(runs)}


def interleaved(dev, shmbench, size, frames, gap_us, rounds):
    """Latency in rounds of frames/rounds frames, each round four runs in
    turn: shmbench's C reader (its producer C, both forked from shmbench),
    the same C reader in a process of its own against shmbench --serve (C,
    shmbench --read), the Python consumer with that C producer (the issue's
    measure: the consumers compared, the producer the same), and the Python
    consumer with a Python producer (the native API at both ends). The Python
    figures are pooled over the rounds, the C readers' p50 and p99 are the
    median of their rounds', and each round's Python/C p50 ratios are kept,
    so a slow minute of the host falls on all four. Returns (python producer,
    C producer, C reader, C reader in its own process, ratios: {"consumer":
    [Python consumer / C reader], "consumer_own": [Python consumer / C
    reader in its own process], "python": [Python producer / C reader]}),
    and the own-process C runs (their frame counts)."""
    rounds = max(1, min(rounds, frames))
    lats, served, cs, owns = [], [], [], []
    ratios = {"consumer": [], "consumer_own": [], "python": []}
    for i in range(rounds):
        n = frames // rounds + (i < frames % rounds)  # frames in all, as pyshmembench
        c = c_round(shmbench, size, n, gap_us)
        own = measure_c_own(shmbench, size, n, gap_us)
        sv = measure_served(dev, shmbench, size, n, gap_us)
        lat = measure_latency(dev, size, n, gap_us)
        lats.append(lat)
        served.append(sv)
        owns.append(own)
        if c and c.get("p50_us"):
            cs.append(c)
            for key, run in (("consumer", sv), ("python", lat)):
                if run["p50_us"]:
                    ratios[key].append(run["p50_us"] / c["p50_us"])
        if own["p50_us"] and sv["p50_us"]:
            ratios["consumer_own"].append(sv["p50_us"] / own["p50_us"])
    return (pool(lats, rounds), pool(served, rounds), c_median(cs),
            c_median([x for x in owns if x["p50_us"]]), ratios, owns)


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


def nan(v):
    return float("nan") if v is None else v


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
    ap.add_argument("--shmbench", help="shmbench itself: the C reader's latency measured "
                    "again, in turns with the Python consumer's (--rounds)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.shmbench and not shutil.which(args.shmbench):
        sys.exit(f"pybench: --shmbench {args.shmbench}: no such program")
    sizes = [int(s) for s in args.sizes.split(",")]
    cfig = c_figures(args.c_results)
    results = []
    from shmstream import _lib
    path = "the C extension and ctypes" if _lib.speedups() is not None else "ctypes"
    print(f"\nPython consumer (shmstream {shmstream.__version__}, {path} over libshmdev "
          f"{shmstream.library_version()}, NumPy {np.__version__}) next to C (shmbench)")
    turns = (f" in {args.rounds} rounds, each a shmbench run (C reader), its C reader in a "
             "process of its own, the Python consumer against shmbench's producer, then against "
             "a Python one" if args.shmbench else "")
    print(f"latency: {args.frames} frames{turns}, {args.gap_us} us before each; "
          f"frames/s: {args.seconds:g} s, every byte summed and checked\n")
    print(f"{'frame':>12}  {'consumer (producer)':<30} {'p50 us':>9} {'p99 us':>9} {'frames/s':>10}")
    with shmstream.Device() as dev:
        for size in sizes:
            c = dict(cfig.get(size, {}))
            ratios, served, own, own_runs = {}, None, {}, []
            if args.shmbench:
                lat, served, cl, own, ratios, own_runs = interleaved(
                    dev, args.shmbench, size, args.frames, args.gap_us, args.rounds)
                c.update(cl)
            else:
                lat = measure_latency(dev, size, args.frames, args.gap_us)
            lat.pop("samples", None)
            tp = measure_throughput(dev, size, args.seconds)
            if c:
                print(f"{label(size):>12}  {'C reader (C, shmbench)':<30} "
                      f"{c.get('p50_us', float('nan')):>9.1f} {c.get('p99_us', float('nan')):>9.1f} "
                      f"{round(c['frames_per_s']) if 'frames_per_s' in c else '-':>10}")
            if own:
                print(f"{label(size):>12}  {'C reader, own process (C)':<30} "
                      f"{own['p50_us']:>9.1f} {own['p99_us']:>9.1f} {'-':>10}")
            if served:
                print(f"{label(size):>12}  {'Python consumer (C, shmbench)':<30} "
                      f"{nan(served['p50_us']):>9.1f} {nan(served['p99_us']):>9.1f} {'-':>10}")
            print(f"{label(size):>12}  {'Python consumer (Python)':<30} {nan(lat['p50_us']):>9.1f} "
                  f"{nan(lat['p99_us']):>9.1f} {tp['frames_per_s']:>10}")
            results.append({"bytes": size, "latency": lat, "latency_c_producer": served,
                            "throughput": tp, "c": c, "c_own_process": own,
                            "c_own_runs": own_runs, "ratios": ratios})
    print()
    for r in results:  # the Python consumer's handoff p50 over the C reader's
        ratios = r.pop("ratios")
        # The median of the rounds' ratios, each of one C and one Python run.
        for key, what in (("consumer", "Python consumer / C reader, the same C producer"),
                          ("consumer_own", "Python consumer / C reader in a process of its "
                           "own, the same C producer"),
                          ("python", "Python at both ends / C at both ends")):
            rs = ratios.get(key)
            if rs:
                r[f"{key}_over_c_p50"] = round(statistics.median(rs), 3)
                r[f"{key}_over_c_p50_rounds"] = [round(x, 3) for x in rs]
                print(f"{label(r['bytes']):>12}  {what}, handoff p50: "
                      f"{statistics.median(rs):.2f}x (median of {len(rs)} rounds: "
                      f"{min(rs):.2f}x to {max(rs):.2f}x)")
        py50, c50 = r["latency"]["p50_us"], r["c"].get("p50_us")
        if not any(ratios.values()) and py50 and c50:
            r["python_over_c_p50"] = round(py50 / c50, 3)
            print(f"{label(r['bytes']):>12}  Python at both ends / C at both ends, handoff p50: "
                  f"{py50 / c50:.2f}x")
    runs = [(r, r[k]) for r in results for k in ("latency", "latency_c_producer") if r[k]]
    own_runs = [run for r in results for run in r.pop("c_own_runs")]
    bad = sum(run["bad"] for _, run in runs) + sum(r["throughput"]["bad"] for r in results) \
        + sum(run["bad"] for run in own_runs)
    # One frame at a time loses none: a miss or an unfinished run is an error.
    lost = sum(run["missed"] + (not run["complete"]) for _, run in runs)
    short = sum(not run["complete"] for run in own_runs)
    if short:
        print(f"python: {short} run(s) of the C reader in its own process did not take every "
              "frame (shmbench --read, on stderr above)")
    print(f"\npython: {'every frame intact' if not bad else f'{bad} frames WRONG'}; "
          f"missed by the Python consumer at full rate: "
          + ", ".join(f"{label(r['bytes'])} {r['throughput']['missed']}" for r in results))
    if lost:
        print("python: a one-frame-at-a-time latency run lost frames or did not finish: "
              + ", ".join(f"{label(r['bytes'])} {run['frames']} taken, {run['missed']} missed"
                          for r, run in runs if run["missed"] or not run["complete"]))
    ok = not bad and not lost and not short
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"parameters": vars(args), "speedups": path != "ctypes", "results": results,
                       "ok": ok}, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
