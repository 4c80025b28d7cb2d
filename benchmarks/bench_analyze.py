"""Benchmark: `graphtools analyze` against bare numpy/scipy doing the same work, and its peak memory.

Cases (each a fresh process, median of --runs, ratios from the same run):

* ``example``: the bundled ``data/examples/lstm_pruned.npz`` through the console
  script, against ``python -c "import numpy, scipy.sparse.linalg"`` (the import
  floor of any scipy program).
* ``H``: a 2-layer LSTM (28 inputs, hidden H = 128 / 512 / 2048, float32, 90% of
  every weight zero, written with ``np.savez``) through ``analyze_checkpoint``,
  against the best bare scipy route doing the same measurements: per weight, degrees,
  connected components, and the top-2 singular values of ``1[W != 0]``, ``|W|`` and
  the normalized biadjacency, each by the fastest of a full LAPACK SVD, Gram +
  ``eigvalsh`` and ARPACK ``svds`` (each timed, the SVD only at H = 128 where it can
  win; the minimum is the baseline), run with ``OPENBLAS_NUM_THREADS=1``.
  Both load the file and are timed from process start, imports included.
* peak RSS / file size of ``graphtools analyze`` on the H = 2048 file.

Run:  python benchmarks/bench_analyze.py [--runs 5] [--sizes 128 512 2048] [--quick] [--busy] [--one-thread]
(``--quick``: 3 runs, H = 128 and 512 only; the H = 2048 file is ~190 MB, written to a
temporary folder and removed; ``--busy``: every case, graphtools and baselines alike, with one
CPU hog per core, ``bench_busy.busy``, as on a shared machine; peak memory is then not measured;
``--one-thread``: graphtools' default settings against ``GRAPHTOOLS_THREADS=1`` on each H file
instead of the bare routes).
Prints Markdown rows.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "data", "examples", "lstm_pruned.npz")


def make_lstm(path: str, hidden: int, inputs: int = 28, sparsity: float = 0.9, seed: int = 0) -> None:
    """A 2-layer PyTorch-named LSTM state dict with ``sparsity`` of every weight zero (float32)."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer, n_in in enumerate((inputs, hidden)):
        for kind, cols in (("ih", n_in), ("hh", hidden)):
            W = rng.standard_normal((4 * hidden, cols), dtype=np.float32)
            W[rng.random((4 * hidden, cols), dtype=np.float32) < sparsity] = 0
            tensors[f"lstm.weight_{kind}_l{layer}"] = W
            tensors[f"lstm.bias_{kind}_l{layer}"] = np.zeros(4 * hidden, np.float32)
    np.savez(path, **tensors)


BARE = r"""
import sys, numpy as np, scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import svds
route = sys.argv[2]
def top2(M):
    m, n = M.shape
    if route == "svd":
        return np.linalg.svd(M.toarray(), compute_uv=False)[:2]
    if route == "gram":
        G = (M.T @ M if n <= m else M @ M.T).toarray()
        return np.sqrt(np.maximum(np.linalg.eigvalsh(G)[-2:][::-1], 0))
    return svds(M, k=2, tol=0, return_singular_vectors=False, v0=np.ones(min(m, n)))[::-1]
with np.load(sys.argv[1]) as f:
    for key in f.files:
        W = f[key]
        if W.ndim != 2:
            continue
        A = abs(sp.csr_matrix(W)).astype(np.float64)
        B = A.copy(); B.data[:] = 1
        d_out, d_in = np.diff(B.indptr), np.bincount(B.indices, minlength=B.shape[1])
        connected_components(sp.bmat([[None, B], [B.T, None]]), directed=False)
        r, c = np.asarray(A.sum(1)).ravel(), np.asarray(A.sum(0)).ravel()
        keep_r, keep_c = np.flatnonzero(r > 0), np.flatnonzero(c > 0)
        N = sp.diags(1 / np.sqrt(r[keep_r])) @ A[keep_r][:, keep_c] @ sp.diags(1 / np.sqrt(c[keep_c]))
        for M in (B, A, N.tocsr()):
            top2(M)
"""


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=None if env is None else {**os.environ, **env})
    return time.perf_counter() - start


def peak_rss_mb(cmd: list[str]) -> float:
    """Peak resident memory of ``cmd`` (its children's maximum RSS, from ``wait4``)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True,
                                text=True).stdout)


ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1"}  # the bare routes' best setting on 2 cores


def median(cmd, runs, env=None) -> float:
    return statistics.median(timed(cmd, env) for _ in range(runs))


def graphtools_cmd(path: str) -> list[str]:
    return [sys.executable, "-m", "graphtools.cli", "analyze", path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[128, 512, 2048])
    parser.add_argument("--quick", action="store_true", help="3 runs, H = 128 and 512 only")
    parser.add_argument("--busy", action="store_true", help="with one CPU hog per core (bench_busy.busy)")
    parser.add_argument("--one-thread", action="store_true",
                        help="graphtools default vs GRAPHTOOLS_THREADS=1 on each H file, instead of the bare routes")
    args = parser.parse_args()
    sys.path.insert(0, HERE)
    from bench_busy import busy

    with busy() if args.busy else contextlib.nullcontext():
        measure(args)


def measure(args) -> None:
    if args.quick:
        args.runs, args.sizes = 3, [h for h in args.sizes if h <= 512]
    # bytecode for graphtools as an installed package has it (numpy and scipy have theirs): a checkout
    # run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every changed module in every run
    for folder in ("graphtools", "cli"):
        compileall.compile_dir(os.path.join(HERE, "..", folder), quiet=1)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"load average at start: {' '.join(load)}; {os.cpu_count()} cores; {'every core busy; ' if args.busy else ''}"
          f"median of {args.runs} runs\n")
    print("| case | graphtools (s) | baseline (s) | ratio |")
    print("|---|---|---|---|")
    floor = median([sys.executable, "-c", "import numpy, scipy.sparse.linalg"], args.runs)
    ours = median(graphtools_cmd(EXAMPLE), args.runs)
    print(f"| analyze bundled example vs `import numpy, scipy.sparse.linalg` | {ours:.3f} | {floor:.3f} | "
          f"{ours / floor:.2f} |")
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in args.sizes:
            path = os.path.join(tmp, f"lstm{hidden}.npz")
            make_lstm(path, hidden)
            ours = median(graphtools_cmd(path), args.runs)
            if args.one_thread:
                one = median(graphtools_cmd(path), args.runs, {"GRAPHTOOLS_THREADS": "1"})
                print(f"| analyze 2-layer LSTM H={hidden}: default vs `GRAPHTOOLS_THREADS=1` | {ours:.3f} | {one:.3f} | "
                      f"{ours / one:.2f} |")
                continue
            routes = {r: median([sys.executable, "-c", BARE, path, r], args.runs, ONE_THREAD)
                      for r in ("svd", "gram", "svds") if r != "svd" or hidden <= 128}
            best = min(routes, key=routes.get)
            print(f"| analyze 2-layer LSTM H={hidden} vs bare scipy ({best}; "
                  + ", ".join(f"{r} {t:.3f}" for r, t in routes.items())
                  + f") | {ours:.3f} | {routes[best]:.3f} | {ours / routes[best]:.2f} |")
            if hidden == 2048 and not args.busy:
                size = os.path.getsize(path) / 2**20
                peak = statistics.median(peak_rss_mb(graphtools_cmd(path)) for _ in range(min(args.runs, 3)))
                bare = peak_rss_mb([sys.executable, "-c", f"import numpy as np; f = np.load({path!r}); "
                                    "a = {k: f[k] for k in f.files}"])
                print(f"| peak RSS / file size, H=2048 ({size:.0f} MiB file; bare np.load of all: "
                      f"{bare:.0f} MiB) | {peak:.0f} MiB | {size:.0f} MiB | {peak / size:.2f} |")


if __name__ == "__main__":
    main()
