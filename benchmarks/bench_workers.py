"""Benchmark: why the numpy trainer's data-parallel workers are processes, not threads.

One part of a batch (LSTM-128, 64 examples of seq-MNIST shape, forward and backward, one BLAS
thread) timed alone, then two such parts at once on two threads of one process and on two
processes.  Threads share the GIL, which each of the step's many small numpy calls gives away
and takes back; processes do not.  Milliseconds per part, the mean over --steps passes after a
warm-up.

Run:  python benchmarks/bench_workers.py [--steps 60]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
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


if __name__ == "__main__":
    main()
