"""Benchmark: unfold a 1-layer LSTM (H = 256, one input, T = 784: pixel-MNIST length) and compute
lambda_1, lambda_2 of the unfolded graph, reachability and mixing depth.

Methods, each timed in a fresh process (so peak memory is its own):
  graphtools  unfold() + unfolded_top_eigenvalues() (Collatz-Wielandt shift, block-tridiagonal
              Cholesky, shift-invert Lanczos) + reachability() + mixing_depth()
  baseline    plain Lanczos: scipy.sparse.linalg.eigsh(k=2, which="LA", tol=1e-9) on the same
              matrix-free operator (on the explicit 61M-nonzero sparse adjacency it is slower
              still: one run did not finish in 3.5 CPU-minutes)

Run:  python benchmarks/bench_unfold.py [--runs 3] [--density 0.2] [--skip-baseline]
Prints a Markdown table (median of the runs) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from fresh import run_in_fresh_process

HIDDEN, INPUT, STEPS = 256, 1, 784


def build_model(density: float):
    import numpy as np

    from graphtools.model import describe

    rng = np.random.default_rng(0)
    bound = 1 / np.sqrt(HIDDEN)
    state = {
        "rnn.weight_ih_l0": rng.uniform(-bound, bound, (4 * HIDDEN, INPUT)),
        "rnn.weight_hh_l0": rng.uniform(-bound, bound, (4 * HIDDEN, HIDDEN)),
    }
    for name, W in state.items():
        state[name] = W * (rng.random(W.shape) < density)
    return describe(state)


def run_graphtools(density: float) -> dict:
    from graphtools.recurrence import mixing_depth, reachability, transitions
    from graphtools.unfolded_spectrum import unfolded_top_eigenvalues
    from graphtools.unfolding import unfold

    model = build_model(density)
    start = time.perf_counter()
    graph = unfold(model, STEPS)
    lam = unfolded_top_eigenvalues(graph)
    I, M = transitions(model.modules[0].layers[0])
    reach, depth = reachability(I, M, STEPS), mixing_depth(M)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "lambda1": lam[0], "lambda2": lam[1], "reachability": reach,
            "mixing_depth": depth, "nodes": graph.nodes, "edges": graph.edges}


def run_baseline(density: float) -> dict:
    import numpy as np
    from scipy.sparse.linalg import eigsh

    from graphtools.unfolding import unfold

    model = build_model(density)
    start = time.perf_counter()
    op = unfold(model, STEPS).operator()  # the same matrix-free operator graphtools uses
    values = np.sort(eigsh(op, k=2, which="LA", tol=1e-9, v0=np.ones(op.shape[0]))[0])[::-1]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "lambda1": values[0], "lambda2": values[1]}


def child(method: str, density: float) -> dict:
    """Run one method in a fresh interpreter; it reports its own peak resident memory."""
    return run_in_fresh_process("bench_unfold", f"run_{method}({density!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--density", type=float, default=0.2, help="fraction of weights kept")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    methods = ["graphtools"] + ([] if args.skip_baseline else ["baseline"])
    results = {m: [child(m, args.density) for _ in range(args.runs)] for m in methods}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"LSTM H={HIDDEN}, input {INPUT}, T={STEPS}, density {args.density}, median of {args.runs} runs\n")
    print("| method | seconds (median) | peak RSS MB | lambda1 | lambda2 | extra |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for m in methods:
        runs = results[m]
        medians[m] = statistics.median(r["seconds"] for r in runs)
        r = runs[0]
        extra = (f"nodes {r['nodes']}, edges {r['edges']}, reachability {r['reachability']:.4f}, "
                 f"mixing depth {r['mixing_depth']}" if m == "graphtools" else "")
        print(f"| {m} | {medians[m]:.2f} | {max(x['peak_mb'] for x in runs):.0f} | {r['lambda1']:.10f} | "
              f"{r['lambda2']:.10f} | {extra} |")
    if "baseline" in medians:
        print(f"\nspeed-up graphtools vs baseline: {medians['baseline'] / medians['graphtools']:.1f}x")


if __name__ == "__main__":
    main()
