"""Benchmark: the universal-cover radius against the sigma_2 computation of the same matrix.

Matrix: 4096 x 1024, each entry an edge with probability 0.1 (seed 0), binary.
  sigma2  graphtools.spectral.top_singular_values(B, 2)        (what analyze runs for sigma_2)
  cover   graphtools.cover.cover_radius_bounds(B)              (the default route, no biregular shortcut:
                                                                the fast vertex-Newton route at this size)
  dual    graphtools.cover.cover_radius_bounds(B, method="dual")  (the dual iteration alone: the route
                                                                every graph took before the fast one)
All timed in the same process, alternating, median of --runs runs each.

Run:  python benchmarks/bench_cover.py [--runs 5] [--rows 4096] [--cols 1024] [--density 0.1]
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import scipy.sparse as sp

from graphtools.cover import cover_radius_bounds
from graphtools.spectral import ramanujan_bound, top_singular_values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--density", type=float, default=0.1)
    args = parser.parse_args()
    B = sp.random(args.rows, args.cols, density=args.density, random_state=0, format="csr")
    B.data[:] = 1.0
    times = {"sigma2": [], "cover": [], "dual": []}
    result = dual = s2 = None
    for _ in range(args.runs):
        start = time.perf_counter()
        s2 = top_singular_values(B, 2)[1]
        times["sigma2"].append(time.perf_counter() - start)
        start = time.perf_counter()
        result = cover_radius_bounds(B)
        times["cover"].append(time.perf_counter() - start)
        start = time.perf_counter()
        dual = cover_radius_bounds(B, method="dual")
        times["dual"].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"matrix {args.rows}x{args.cols}, density {args.density}, {B.nnz} edges; sigma2 {s2:.6f}, "
          f"average-degree bound {ramanujan_bound(B):.6f}, cover {result.lower:.7f} "
          f"(certified bracket [{result.lower:.9f}, {result.upper:.9f}]); dual route {dual.lower:.9f} "
          f"([{dual.lower:.9f}, {dual.upper:.9f}], {dual.steps} dual steps)")
    print()
    print("| computation | median s | runs (s) |")
    print("|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.3f} | {', '.join(f'{x:.3f}' for x in v)} |")
    print()
    print(f"ratio cover / sigma2: {med['cover'] / med['sigma2']:.2f}x; dual route / sigma2: "
          f"{med['dual'] / med['sigma2']:.1f}x; dual route / cover: {med['dual'] / med['cover']:.1f}x")


if __name__ == "__main__":
    main()
