"""Benchmark: time per training epoch of graphtools' numpy trainer against PyTorch's CPU nn.LSTM/nn.RNN.

Same model (cell, hidden 128, 1 layer, linear head on the last hidden state), same data
(seq-MNIST: 28 steps x 28 features), same batch size, Adam, gradient clipping at 1.0,
same number of threads (torch.set_num_threads to the cores numpy's BLAS uses).
torch is used by this script only, and only if installed.

Run:  python benchmarks/bench_train.py --data PATH/mnist.npz [--cell lstm] [--runs 5] [--limit 60000] [--busy]
      [--baseline DIR]
      (--quick: 3 runs over 5,000 digits; --busy: one CPU hog per core during the runs; --baseline:
      also time the numpy trainer of the graphtools source tree in DIR, e.g. an older commit
      unpacked with ``git archive COMMIT | tar -x -C DIR``, in the same alternation)
Each run times one epoch over the first --limit training examples (default all 60,000: a shorter
epoch scaled up would multiply the trainer's one-off start, e.g. its worker processes) in a fresh process
(torch's OpenMP threads keep spinning after its last operation and would slow numpy
down in a shared process), the two trainers alternating; prints the median seconds per
epoch, scaled to the full 60,000 examples, and the ratio numpy / torch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time

import numpy as np

from fresh import run_in_fresh_process


def numpy_epoch(cell, x, y, hidden, batch_size, seed):
    from graphtools.nn import SequenceClassifier, fit

    model = SequenceClassifier(cell, x.shape[2], hidden, 1, 10, seed=seed)
    start = time.perf_counter()
    fit(model, x, y, epochs=1, batch_size=batch_size, lr=1e-3, clip=1.0, seed=seed)
    return time.perf_counter() - start


def torch_epoch(cell, x, y, hidden, batch_size, seed, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rnn = {"lstm": nn.LSTM, "rnn": nn.RNN, "gru": nn.GRU}[cell](x.shape[2], hidden, batch_first=True)
    fc = nn.Linear(hidden, 10)
    params = list(rnn.parameters()) + list(fc.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        out, _ = rnn(xt[idx])
        loss = nn.functional.cross_entropy(fc(out[:, -1]), yt[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return time.perf_counter() - start


def one_epoch(trainer: str, data: str, limit: int, cell: str, hidden: int, batch_size: int) -> dict:
    """Seconds of one ``trainer`` epoch over the first ``limit`` digits, scaled to 60,000."""
    from graphtools.data import load_dataset

    d = load_dataset("seq-mnist", data, split="train", limit=limit)
    threads = blas_threads()
    if trainer == "torch":
        seconds = torch_epoch(cell, d.x, d.y, hidden, batch_size, 0, threads)
    else:
        seconds = numpy_epoch(cell, d.x, d.y, hidden, batch_size, 0)
    return {"seconds": seconds * 60000 / len(d), "threads": threads}


BASELINE = "numpy (baseline tree)"


def measure(trainer, args) -> dict:
    """One epoch of ``trainer`` in a fresh interpreter (no thread pool left spinning by the other)."""
    env = cwd = None
    if trainer == BASELINE:  # run from the tree's folder: the current folder comes first on sys.path
        cwd = os.path.abspath(args.baseline)
        env, trainer = {**os.environ, "PYTHONPATH": cwd}, "numpy"
    return run_in_fresh_process(
        "bench_train",
        f"one_epoch({trainer!r}, {args.data!r}, {args.limit!r}, {args.cell!r}, {args.hidden!r}, {args.batch_size!r})",
        env=env, cwd=cwd)


def blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=60000)
    parser.add_argument("--busy", action="store_true", help="with one CPU hog per core (bench_busy.busy)")
    parser.add_argument("--quick", action="store_true", help="3 runs over 5,000 digits")
    parser.add_argument("--baseline", metavar="DIR", help="also time the numpy trainer of the source tree in DIR")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.limit = 3, 5000
    args.data = os.path.abspath(args.data)  # a baseline run starts in another folder
    import torch

    from bench_busy import busy, loadavg

    with busy() if args.busy else contextlib.nullcontext():
        load = loadavg()
        _compare(args, torch, load)


def _compare(args, torch, load):

    results = {"numpy": [], "torch": []}
    if args.baseline:
        results[BASELINE] = []
    threads = None
    for _ in range(args.runs):  # alternated, so drift in machine load hits both alike
        for trainer in results:
            r = measure(trainer, args)
            results[trainer].append(r["seconds"])
            threads = r["threads"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, torch {torch.__version__} ({threads} threads each); {args.cell.upper()} "
          f"hidden {args.hidden}, batch {args.batch_size}, seq-MNIST; one epoch over the first {args.limit} "
          f"examples, scaled to 60,000; each run in a fresh process; median of {args.runs} runs\n")
    print("| trainer | seconds per epoch (median) | runs |")
    print("|---|---|---|")
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(runs)
        print(f"| {name} | {medians[name]:.1f} | {', '.join(f'{r:.1f}' for r in runs)} |")
    print(f"\nratio numpy / torch: {medians['numpy'] / medians['torch']:.2f}\n")
    if args.baseline:
        print(f"ratio baseline numpy / torch: {medians[BASELINE] / medians['torch']:.2f}; "
              f"numpy / baseline numpy: {medians['numpy'] / medians[BASELINE]:.2f}\n")
    print(f"| {args.cell.upper()}-{args.hidden} seq-MNIST per epoch, graphtools vs PyTorch CPU, {threads} threads each, "
          f"{'every core busy' if args.busy else 'no hogs'} (load {load}) | {medians['numpy']:.1f} s | "
          f"{medians['torch']:.1f} s | {medians['numpy'] / medians['torch']:.2f} |")


if __name__ == "__main__":
    main()
