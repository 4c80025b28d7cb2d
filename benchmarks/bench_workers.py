"""Benchmark: why the numpy trainer's data-parallel workers are processes, not threads.

One part of a batch (LSTM-128, 64 examples of seq-MNIST shape, forward and backward, one BLAS
thread) timed alone, then two such parts at once on two threads of one process and on two
processes.  Threads share the GIL, which each of the step's many small numpy calls gives away
and takes back; processes do not.  Milliseconds per part, the mean over --steps passes after a
warm-up.

``--gemm`` adds the matrix products of a step at these shapes, numpy (its OpenBLAS) against
``torch.mm`` (PyTorch's CPU BLAS), on 1 and 2 threads, microseconds per product (torch needed).

Run:  python benchmarks/bench_workers.py [--steps 60] [--gemm]
"""

from __future__ import annotations

import argparse
import threading
import time
from multiprocessing import get_context

import numpy as np


def one_part(steps: int, batch: int = 64, hidden: int = 128, inputs: int = 28, length: int = 28) -> float:
    """Milliseconds per forward + backward of one LSTM part (one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    from graphtools.nn.cells import layer_backward, layer_forward

    rng = np.random.default_rng(0)
    W_ih = (rng.standard_normal((4 * hidden, inputs)) * 0.1).astype(np.float32)
    W_hh = (rng.standard_normal((4 * hidden, hidden)) * 0.1).astype(np.float32)
    bias = np.zeros(4 * hidden, np.float32)
    x = rng.standard_normal((length, batch, inputs)).astype(np.float32)
    top = np.ones((batch, hidden), np.float32)
    workspace: dict = {}
    with threadpool_limits(1):
        for _ in range(3):
            _, cache = layer_forward("lstm", x, W_ih, W_hh, bias, bias, workspace)
            layer_backward(top, cache, False, workspace)
        start = time.perf_counter()
        for _ in range(steps):
            _, cache = layer_forward("lstm", x, W_ih, W_hh, bias, bias, workspace)
            layer_backward(top, cache, False, workspace)
        return (time.perf_counter() - start) / steps * 1e3


def per_call(f, n: int) -> float:
    f()
    start = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - start) / n * 1e6


def gemm_table() -> None:
    """numpy vs torch.mm on the products of an LSTM-128 step (batch 128) and of its weight gradient."""
    import torch
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    print("\n| product (m x k x n) | numpy 1 thread (µs) | numpy 2 | torch 1 | torch 2 |\n|---|---|---|---|---|")
    for m, k, n in [(128, 157, 512), (128, 512, 128), (512, 3584, 157)]:
        A = rng.standard_normal((m, k), dtype=np.float32)
        B = rng.standard_normal((k, n), dtype=np.float32)
        C = np.empty((m, n), np.float32)
        At, Bt, Ct = torch.from_numpy(A), torch.from_numpy(B), torch.empty(m, n)
        calls = 2000 if m * k * n < 1e8 else 50
        row = []
        for threads in (1, 2):
            with threadpool_limits(threads, user_api="blas"):
                row.append(per_call(lambda: np.matmul(A, B, out=C), calls))
        for threads in (1, 2):
            torch.set_num_threads(threads)
            row.append(per_call(lambda: torch.mm(At, Bt, out=Ct), calls))
        print(f"| {m} x {k} x {n} | " + " | ".join(f"{t:.1f}" for t in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--gemm", action="store_true", help="also numpy vs torch.mm on the step's products")
    args = parser.parse_args()
    alone = one_part(args.steps)
    on_threads: list[float] = []
    threads = [threading.Thread(target=lambda: on_threads.append(one_part(args.steps))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with get_context("spawn").Pool(2) as pool:
        on_processes = pool.map(one_part, [args.steps, args.steps])
    print("| one part of 64 (LSTM-128, forward + backward) | ms per part |\n|---|---|")
    print(f"| alone | {alone:.2f} |")
    print(f"| two at once, threads of one process | {', '.join(f'{t:.2f}' for t in on_threads)} |")
    print(f"| two at once, two processes | {', '.join(f'{t:.2f}' for t in on_processes)} |")
    if args.gemm:
        gemm_table()


if __name__ == "__main__":
    main()
