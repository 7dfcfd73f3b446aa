#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Chart of a shmbench JSON file: latency and throughput by frame size.

usage: plot.py RESULTS.json OUT.png
Needs Debian's python3-matplotlib (tools/deps.sh bench installs it).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_latency(ax1, r, frames):
    # The latency table's transports (the spinning reader has its own table).
    transports = [t for t in r["transports"] if any(v["transport"] == t for v in r["latency"])]
    width = 0.8 / max(len(transports), 1)
    for i, t in enumerate(transports):
        p50, p99 = [], []
        for fr in frames:
            x = next((v for v in r["latency"] if v["frame"] == fr and v["transport"] == t), {})
            p50.append(x.get("p50_us") or 0)
            p99.append(x.get("p99_us") or 0)
        pos = [k + (i - len(transports) / 2 + 0.5) * width for k in range(len(frames))]
        bars = ax1.bar(pos, p50, width, label=t)
        ax1.scatter(pos, p99, marker="_", s=120, color=bars.patches[0].get_facecolor(),
                    zorder=3)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(frames)), frames)
    ax1.set_ylabel("handoff latency, us (bar p50, tick p99; log scale)")
    ax1.set_title("Producer publishes -> reader has the frame")
    ax1.legend(fontsize=8)
    ax1.grid(axis="y", which="both", alpha=0.3)


def plot_throughput(ax2, r, frames, env):
    counts = sorted({x["readers"] for x in r["throughput"]})
    width = 0.8 / (len(counts) + 1)
    for i, n in enumerate(counts):
        vals = [next((v["gbps"] for v in r["throughput"]
                      if v["frame"] == fr and v["readers"] == n), 0) or 0 for fr in frames]
        ax2.bar([k + (i - len(counts) / 2) * width for k in range(len(frames))], vals, width,
                label=f"shmstream, {n} reader{'s' if n > 1 else ''}")
    limits = [next((v["limit_gbps"] for v in r["throughput"]
                    if v["frame"] == fr and v["readers"] == counts[-1]), 0) or 0 for fr in frames]
    ax2.bar([k + (len(counts) / 2) * width for k in range(len(frames))], limits, width,
            color="lightgray", label=f"limit: {env['cpus']} CPU(s) x single-thread read")
    ax2.set_xticks(range(len(frames)), frames)
    ax2.set_ylabel("GB/s read by all readers together")
    ax2.set_title("Throughput, every reader sums every byte")
    ax2.legend(fontsize=8)
    ax2.grid(axis="y", alpha=0.3)


def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    with open(sys.argv[1]) as f:
        r = json.load(f)
    if "environment" not in r:
        print(f"plot.py: {sys.argv[1]} is not shmbench's JSON (no environment)", file=sys.stderr)
        return 1
    env = r["environment"]
    latency, throughput = r.get("latency") or [], r.get("throughput") or []
    frames = []
    for x in latency + throughput:
        if x["frame"] not in frames:
            frames.append(x["frame"])
    # One panel per kind of figure the run has (make bench SHMBENCH="--only
    # latency" has no throughput).
    panels = [kind for kind, rows in (("latency", latency), ("throughput", throughput)) if rows]
    if not panels:
        print(f"plot.py: {sys.argv[1]} has no latency or throughput figures", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 6), squeeze=False)
    ax = dict(zip(panels, axes[0]))
    if latency:
        plot_latency(ax["latency"], r, frames)
    if throughput:
        plot_throughput(ax["throughput"], r, frames, env)

    fig.suptitle(f"shmbench {env['date']}: {env['kernel']}, {env['cpus']} CPUs ({env['cpu']}),"
                 f"{' ' if len(panels) > 1 else chr(10)}guest acceleration: "
                 f"{env['acceleration']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
