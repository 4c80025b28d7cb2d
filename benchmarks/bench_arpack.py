"""Benchmark: the Lanczos basis size of graphtools' ARPACK route on the H = 2048 benchmark layers.

The top two singular values of the pattern, ``|W|`` and the normalized biadjacency of two
8192 x 2048 weights of the 90%-sparse 2-layer LSTM of bench_analyze.py, plus a 4096 x 1024 random
0/1 matrix of density 0.1, by ``scipy.sparse.linalg.svds`` (``tol=0``, the route's start vector,
Rayleigh-Ritz on the result) with svds' default basis and with larger ones, one BLAS thread,
alternating; seconds for all seven matrices, and the largest difference in sigma_2 (relative to
sigma_1) from the default.

Run:  python benchmarks/bench_arpack.py [--runs 3] [--ncv 40 48 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds
from threadpoolctl import threadpool_limits

from bench_analyze import make_lstm


def matrices() -> list:
    from graphtools.spectral import normalized_biadjacency

    out = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lstm2048.npz")
        make_lstm(path, 2048)
        with np.load(path) as f:
            for key in ("lstm.weight_hh_l0", "lstm.weight_ih_l1"):
                A = abs(sp.csr_matrix(f[key])).astype(np.float64)
                B = A.copy()
                B.data[:] = 1
                out += [B, A, normalized_biadjacency(A).tocsr()]
    R = sp.random(4096, 1024, density=0.1, random_state=np.random.default_rng(1), format="csr")
    R.data[:] = 1
    return out + [R]


def top2(M, ncv):
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, size=min(M.shape))
    vt = svds(M, k=2, tol=0, v0=v0, ncv=ncv, return_singular_vectors="vh", solver="arpack")[2]
    return np.linalg.svd(M @ vt.T, compute_uv=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ncv", type=int, nargs="*", default=[40, 48, 60])
    args = parser.parse_args()
    mats = matrices()
    bases = [None, *args.ncv]
    times = {ncv: [] for ncv in bases}
    values = {}
    with threadpool_limits(1):
        for _ in range(args.runs):
            for ncv in bases:
                start = time.perf_counter()
                values[ncv] = [top2(M, ncv) for M in mats]
                times[ncv].append(time.perf_counter() - start)
    base = statistics.median(times[None])
    print("| basis | seconds, 7 matrices (median) | runs | ratio to default | largest sigma_2 change / sigma_1 |")
    print("|---|---|---|---|---|")
    for ncv in bases:
        change = max(abs(a[1] - b[1]) / b[0] for a, b in zip(values[ncv], values[None]))
        print(f"| {'default (20)' if ncv is None else ncv} | {statistics.median(times[ncv]):.2f} | "
              f"{', '.join(f'{t:.2f}' for t in times[ncv])} | {statistics.median(times[ncv]) / base:.2f} | {change:.1e} |")


if __name__ == "__main__":
    main()
