"""Benchmark: wall time of `graphtools sweep --preset quick` with --jobs 1 and --jobs 2.

Each run is the real command in a fresh process, into a new temporary folder, figures
included (what a user waits for); the two settings alternate so that machine noise
hits both alike.  Prints a Markdown table (median of the runs and the jobs-2 speed-up)
for docs/benchmarks.md.

Run:  python benchmarks/bench_sweep.py [--runs 3]   (from the repository root)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time


def one_sweep(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "graphtools.cli", "sweep", "--preset", "quick", "--out", out,
                        "--jobs", str(jobs)], check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.runs):
        for jobs in (1, 2):
            times[jobs].append(one_sweep(jobs))
    median = {jobs: statistics.median(t) for jobs, t in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {args.runs} runs each, alternating")
    print("\n| command | median s | runs (s) |\n|---|---|---|")
    for jobs in (1, 2):
        runs = ", ".join(f"{t:.1f}" for t in times[jobs])
        print(f"| `graphtools sweep --preset quick --jobs {jobs}` | {median[jobs]:.1f} | {runs} |")
    print(f"\n--jobs 2 is {median[1] / median[2]:.2f}x as fast as --jobs 1")


if __name__ == "__main__":
    main()
