"""Benchmark: the universal-cover radius on the graphs the fast and dual routes did not certify.

Graphs (reproducible by seed; tests/test_cover.py builds the same ones):
  small   27 random 9 x 7 graphs, entry (i, j) an edge with probability p, p = 0.15, ..., 0.6 evenly
          (numpy default_rng(--seed), one uniform matrix per graph, in that order)
  pareto  600 x 200, edge (i, j) with probability min(1, c a_i b_j), a and b Pareto(1.5) propensities
          (numpy ``pareto(1.5) + 1``, default_rng(--pareto-seed)), c for density 0.05
          (seed 1: 4,895 edges, median degree 7, the largest 248, 294 and 327)
For each: the default route (cover_radius_bounds(B)) against the dual iteration alone (method="dual") and the
bisection route alone (method="bisect"): certified brackets, their relative widths, whether every pair of
brackets overlaps, and the time (median of --runs runs, same process).

Run:  python benchmarks/bench_cover_hard.py [--runs 3] [--seed 0] [--pareto-seed 1]
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

METHODS = ("auto", "dual", "bisect")


def small_graphs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((9, 7)) < p).astype(float) for p in np.linspace(0.15, 0.6, 27)]


def pareto_graph(seed: int, m: int = 600, n: int = 200, density: float = 0.05) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    P = np.outer(rng.pareto(1.5, m) + 1.0, rng.pareto(1.5, n) + 1.0)
    return sp.csr_matrix((rng.random((m, n)) < np.minimum(P * (density * m * n / P.sum()), 1.0)).astype(float))


def timed(B, method: str, runs: int):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = cover_radius_bounds(B, method=method)
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def width(r) -> float:
    return (r.upper - r.lower) / r.upper


def overlap(results) -> bool:
    return max(r.lower for r in results) <= min(r.upper for r in results) * (1 + 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pareto-seed", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = {method: [] for method in METHODS}
    overlaps = 0
    for B in small_graphs(args.seed):
        results = [timed(B, method, args.runs) for method in METHODS]
        for method, found in zip(METHODS, results):
            rows[method].append(found)
        overlaps += overlap([r for r, _ in results])
    print(f"\n27 random 9x7 graphs (seed {args.seed}); brackets of all three methods overlap on {overlaps} of 27")
    print("\n| method | certified within 1e-6 | widest bracket (relative) | median width | total s |")
    print("|---|---|---|---|---|")
    for method in METHODS:
        widths = [width(r) for r, _ in rows[method]]
        print(f"| {method} | {sum(r.certified for r, _ in rows[method])} of 27 | {max(widths):.2e} | "
              f"{statistics.median(widths):.1e} | {sum(t for _, t in rows[method]):.3f} |")
    B = pareto_graph(args.pareto_seed)
    degrees = np.r_[np.diff(B.indptr), np.bincount(B.indices, minlength=B.shape[1])]
    print(f"\npareto 600x200 (seed {args.pareto_seed}): {B.nnz} edges, largest degrees "
          f"{[int(d) for d in sorted(degrees)[-3:]]}, median degree {np.median(degrees):.0f}; average-degree bound "
          f"{ramanujan_bound(B):.6f}, sigma1 {top_singular_values(B, 1)[0]:.6f}")
    results = [timed(B, method, args.runs) for method in METHODS]
    print(f"brackets overlap: {overlap([r for r, _ in results])}")
    print("\n| method | bracket | relative width | certified | median s |")
    print("|---|---|---|---|---|")
    for method, (r, seconds) in zip(METHODS, results):
        print(f"| {method} | [{r.lower:.9f}, {r.upper:.9f}] | {width(r):.1e} | {r.certified} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
