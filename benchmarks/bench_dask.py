"""Benchmark: the overhead of Dask, `graphtools sweep --preset quick --cluster local:2` against
`--jobs 2` (both: 2 worker processes of 1 BLAS thread each on a 2-core machine).

Each run is the real command in a fresh process, into a new temporary folder, without figures
(they are drawn the same way by both); the two settings alternate so that machine noise hits both
alike.  The Dask time includes starting the LocalCluster (scheduler and 2 worker processes) and
shutting it down.  Prints the load average before and after (the numbers mean little on a busy
machine) and a Markdown table for docs/benchmarks.md.

``--baseline DIR`` adds a third setting in the same alternation: ``--cluster local:2`` run by the
graphtools source tree in DIR (e.g. ``git archive <commit> | tar -x -C DIR``), to compare a
change against the code before it under the same machine load.

``--busy`` runs everything with one CPU hog per core (``bench_busy.busy``), as on a shared machine
or a CI runner.  ``--idle-cpu`` instead measures the CPU an idle ``local:2`` cluster burns in
10 s (scheduler, nannies, workers, client), with graphtools' settings for ``local:N``
(``graphtools.cluster.LOCAL_CONFIG``) and with Dask's defaults (the profiler off in both).

Run:  python benchmarks/bench_dask.py [--runs 3] [--baseline DIR] [--busy | --idle-cpu]
(from the repository root)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

SETTINGS = {"--jobs 2": ["--jobs", "2"], "--cluster local:2": ["--cluster", "local:2"]}


BASELINE = "--cluster local:2 (baseline tree)"


def baseline_env(tree: str) -> dict:
    """The environment that makes ``python -m graphtools.cli`` import the tree in ``tree`` (its
    ``cli/`` folder linked as ``graphtools/cli``, the layout the installed package has)."""
    link = os.path.join(tree, "graphtools", "cli")
    if not os.path.exists(link):
        os.symlink(os.path.join(os.path.abspath(tree), "cli"), link)
    return {**os.environ, "PYTHONPATH": os.path.abspath(tree)}


def one_sweep(extra: list[str], sizes: dict, env: dict | None = None, cwd: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "graphtools.cli", "sweep", "--preset", "quick", "--out", out,
                        "--no-figures", *extra], check=True, capture_output=True, env=env, cwd=cwd)
        seconds = time.perf_counter() - start
        with open(os.path.join(out, "results.jsonl"), "rb") as handle:
            lines = handle.read().splitlines()
        records = [json.loads(line) for line in lines]
        sizes.setdefault("run_seconds", []).append(sum(r["seconds"] for r in records))
        folder = os.path.join(out, "checkpoints")
        files = [os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)]
        sizes.update(record=statistics.mean(map(len, lines)), checkpoint=statistics.mean(files))
        return seconds


IDLE_CPU = r"""
import os, sys, time
import psutil
from graphtools.cluster import LOCAL_CONFIG, connect
def total(processes):
    return sum(sum(p.cpu_times()[:2]) for p in processes)
if __name__ == "__main__":
    if sys.argv[1] == "dask":  # Dask's own settings, but for the profiler
        LOCAL_CONFIG.clear()
        LOCAL_CONFIG["distributed.worker.profile.enabled"] = False
    with connect("local:2"):
        time.sleep(2)
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        before = total(processes)
        time.sleep(10)
        print((total(processes) - before) / 10)
"""


def idle_cpu(settings: str) -> float:
    """Fraction of one core an idle local:2 cluster uses over 10 s, with ``settings`` ``"ours"``
    (``graphtools.cluster.LOCAL_CONFIG``) or ``"dask"`` (Dask's defaults, the profiler off)."""
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "idle.py")  # a file: the workers' spawn re-imports the main module
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(IDLE_CPU)
        done = subprocess.run([sys.executable, script, settings], check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", metavar="DIR", help="a graphtools source tree to time --cluster local:2 of too")
    parser.add_argument("--busy", action="store_true", help="with one CPU hog per core (bench_busy.busy)")
    parser.add_argument("--idle-cpu", action="store_true", help="CPU of an idle local:2 cluster, ours vs defaults")
    args = parser.parse_args()
    if args.idle_cpu:
        for label, settings in (("graphtools' local:N settings", "ours"), ("Dask's defaults (profiler off)", "dask")):
            print(f"{label}: {idle_cpu(settings):.1%} of one core")
        return
    from bench_busy import busy

    with busy() if args.busy else contextlib.nullcontext():
        _compare(args)


def _compare(args) -> None:
    from bench_busy import loadavg

    before = loadavg()
    settings = dict(SETTINGS)
    if args.baseline:
        settings[BASELINE] = SETTINGS["--cluster local:2"]
    times: dict[str, list[float]] = {name: [] for name in settings}
    run_seconds: dict[str, list[float]] = {name: [] for name in settings}  # inside the runs: without startup
    sizes: dict = {}
    for _ in range(args.runs):
        for name, extra in settings.items():
            seen: dict = {}
            if name == BASELINE:
                times[name].append(one_sweep(extra, seen, baseline_env(args.baseline), cwd=args.baseline))
            else:
                times[name].append(one_sweep(extra, seen))
                sizes.update(record=seen["record"], checkpoint=seen["checkpoint"])
            run_seconds[name] += seen["run_seconds"]
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {'every core busy; ' if args.busy else ''}{args.runs} runs each, alternating; "
          f"load average before {before}, after {loadavg()}")
    print("\n| command | median s | runs (s) | the runs' own seconds, summed (median) |\n|---|---|---|---|")
    for name in settings:
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        own = statistics.median(run_seconds[name])
        print(f"| `graphtools sweep --preset quick --no-figures {name}` | {median[name]:.1f} | {runs} | {own:.1f} |")
    for name in settings:
        if name != "--jobs 2":
            overhead = median[name] / median["--jobs 2"] - 1
            print(f"\n{name} takes {100 * overhead:+.1f}% the time of --jobs 2")
    print(f"mean record {sizes['record']:.0f} bytes, mean checkpoint {sizes['checkpoint']:.0f} bytes")


if __name__ == "__main__":
    main()
