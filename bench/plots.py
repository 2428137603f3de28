#!/usr/bin/env python3
"""Draws the benchmarks' figures as PNG files next to their JSON (matplotlib from PyPI).

    bench/plots.py [RESULT.json ...]     default: the newest append-, start- and projector- files in bench/results/

  append-….json     -> append-…-latency.png (HDR percentile plot of each scenario against the raw fdatasync
                       reference) and append-…-throughput.png (durable events/s against appenders)
  start-….json      -> start-….png (time to /readyz and resident memory against the log's size)
  projector-….json  -> projector-…-lag.png (projection lag of each reservation over the steady run)

Each plot says which file it was drawn from; bench/RESULTS.md shows them.
"""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, FixedLocator  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def newest(prefix):
    files = sorted(glob.glob(os.path.join(RESULTS, prefix + "-*.json")))
    return files[-1] if files else None


def save(figure, path, source):
    figure.text(0.99, 0.005, os.path.basename(source), ha="right", va="bottom", fontsize=7, color="#777")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print("wrote", os.path.relpath(path))


def percentile_axis(axis):
    """x = percentile on the HDR scale: 1 / (1 - p), so that 99, 99.9, 99.99 are evenly spaced."""
    axis.set_xscale("log")
    ticks = [0, 90, 99, 99.9, 99.99, 99.999]
    axis.xaxis.set_major_locator(FixedLocator([1 / (1 - p / 100) for p in ticks]))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * (1 - 1 / x):g}%"))
    axis.xaxis.set_minor_locator(FixedLocator([]))


def plot_append(path):
    report = json.load(open(path))
    scenarios = [s for s in report["scenarios"] if s.get("latency") and s["latency"].get("percentiles")]
    if not scenarios:
        print(f"{path}: no percentile series (written before they were recorded); skipped")
        return
    figure, axis = plt.subplots(figsize=(8, 5))
    for scenario in scenarios:
        points = [(p, v) for p, v in scenario["latency"]["percentiles"] if p < 100]
        xs = [1 / (1 - p / 100) for p, _ in points]
        style = {"color": "black", "linewidth": 2.5, "linestyle": "--"} if scenario["name"].startswith("raw") else {}
        axis.plot(xs, [v for _, v in points], marker=".", label=scenario["name"], **style)
    percentile_axis(axis)
    axis.set_yscale("log")
    axis.set_xlabel("percentile")
    axis.set_ylabel("latency of one append (µs)")
    axis.set_title("Durable append latency against the raw fdatasync of the same disk, same run")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    save(figure, path.replace(".json", "-latency.png"), path)

    durable = [s for s in report["scenarios"] if s["name"].startswith("durable,") and "appender" in s["name"]]
    raw = next((s for s in report["scenarios"] if s["name"].startswith("raw")), None)
    if durable:
        figure, axis = plt.subplots(figsize=(7, 4.5))
        axis.plot([s["appenders"] for s in durable], [s["eventsPerSecond"] for s in durable], marker="o", label="durable appends")
        if raw:
            axis.axhline(raw["eventsPerSecond"], color="black", linestyle="--", label="raw fdatasync rate (one thread)")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent appenders")
        axis.set_ylabel("durable events per second")
        axis.set_title("Throughput against appenders (group commit)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
        save(figure, path.replace(".json", "-throughput.png"), path)


def plot_start(path):
    report = json.load(open(path))
    sizes = report["sizes"]
    events = [s["events"] for s in sizes]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.plot(events, [s["firstStart"]["secondsToReady"] for s in sizes], marker="o", label="first start (no snapshot: whole log)")
    left.plot(events, [s["warmMedian"]["secondsToReady"] for s in sizes], marker="o", label="start with snapshot, warm cache")
    cold = [(s["events"], s["coldStart"]["secondsToReady"]) for s in sizes if s.get("coldStart")]
    if cold:
        left.plot(*zip(*cold), marker="o", label="start with snapshot, cold cache")
    left.axhline(1, color="grey", linestyle=":", label="target, warm (1 s)")
    left.axhline(2, color="grey", linestyle="--", label="target, cold (2 s)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("events in the log")
    left.set_ylabel("seconds from start to /readyz 200")
    left.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.3)
    right.plot(events, [s["warmMedian"]["residentMegabytes"] for s in sizes], marker="o", label="RSS at ready (warm)")
    right.plot(events, [max(s["firstStart"]["peakResidentMegabytes"], s["warmMedian"]["peakResidentMegabytes"]) for s in sizes], marker="o", label="peak RSS (first start included)")
    right.axhline(200, color="grey", linestyle="--", label="target (200 MB)")
    right.set_xscale("log")
    right.set_xlabel("events in the log")
    right.set_ylabel("MB")
    right.legend(fontsize=7)
    right.grid(True, which="both", alpha=0.3)
    figure.suptitle("serve: start time and memory against the log's history")
    save(figure, path.replace(".json", ".png"), path)


def plot_projector(path):
    report = json.load(open(path))
    series = report.get("steadyLag", {}).get("series")
    if not series:
        print(f"{path}: no lag series (written before it was recorded); skipped")
        return
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.plot([t for t, _ in series], [lag for _, lag in series], linewidth=0.6)
    axis.set_xlabel("seconds into the steady run")
    axis.set_ylabel("lag: taken to written in PostgreSQL (ms)")
    lag = report["steadyLag"]
    axis.set_title(f"Projection lag at {lag['reservationsPerSecond']:.0f} reservations/s (p50 {lag['p50Milliseconds']} ms, p99 {lag['p99Milliseconds']} ms)")
    axis.grid(True, alpha=0.3)
    save(figure, path.replace(".json", "-lag.png"), path)


def main(paths):
    if not paths:
        paths = [p for p in (newest("append"), newest("start"), newest("projector")) if p]
    for path in paths:
        name = os.path.basename(path)
        if name.startswith("append-"):
            plot_append(path)
        elif name.startswith("start-"):
            plot_start(path)
        elif name.startswith("projector-"):
            plot_projector(path)
        else:
            print(f"{path}: not a benchmark result this script knows", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
