"""Benchmark: graphtools on a busy machine, one CPU hog per core, against the same work idle.

:func:`busy` starts one ``python -c 'while True: pass'`` per core this process may run
on and stops them when its ``with`` block ends, however it ends: each hog is also
killed by the kernel when this script dies (``PR_SET_PDEATHSIG``), so a Ctrl-C or a
kill leaves none behind.  Each hog runs in a session of its own, as another user's
process would: with the kernel's autogroup scheduling (``/proc/sys/kernel/
sched_autogroup_enabled``) hogs started in the measured command's own session would
share *its* slice of the machine and slow it down ~3x more than the same hogs elsewhere
(measured on the project machine: `train --hidden 64 --limit 3000 --epochs 1` went from
2.8 s to 13 s wall with same-session hogs, while its CPU time went from 1.3 s to 2.1 s).

Rows printed (Markdown; each a median of --runs fresh processes, ratios from the same run):

* ``analyze`` of the bundled example with every core busy: default vs
  ``OPENBLAS_NUM_THREADS=1`` (target <= 1.1x);
* the same analyze idle vs busy (for reference);
* with ``--sweep``: ``graphtools sweep --preset quick`` (default options) busy vs idle
  (target <= 2.5x; one run each unless --runs says more; minutes);
* with ``--pytest``: ``python -m pytest -q`` idle and busy (targets 3 and 7 minutes;
  one run each; several minutes).

Run:  python benchmarks/bench_busy.py [--runs 5] [--sweep] [--pytest]   (from the repository root)
      python benchmarks/bench_busy.py --quick   (3 runs, analyze rows only: under a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "data", "examples", "lstm_pruned.npz")
HOG = "while True: pass"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def busy(count: int | None = None):
    """Keep ``count`` (default: every) core busy with a spinning Python process for the block."""
    hogs = [subprocess.Popen([sys.executable, "-c", HOG], preexec_fn=_die_with_parent, start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            for _ in range(count or cores())]
    try:
        time.sleep(0.5)  # let them reach the loop
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GRAPHTOOLS_THREADS")


def timed(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> float:
    """Seconds ``cmd`` takes, with no thread variable set but those in ``env`` (the defaults)."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**clean, **(env or {})}, cwd=cwd)
    seconds = time.perf_counter() - start
    if done.returncode:  # say what failed (a failing test under load, say), not only that it did
        raise SystemExit(f"{' '.join(cmd)} exited with status {done.returncode}; its output ended:\n"
                         + done.stdout[-4000:])
    return seconds


def medians(cases: dict, runs: int) -> dict:
    """Median seconds of each ``name -> (cmd, env)``, the cases alternating run by run."""
    times = {name: [] for name in cases}
    for _ in range(runs):
        for name, (cmd, env) in cases.items():
            times[name].append(timed(cmd, env))
    return {name: statistics.median(t) for name, t in times.items()}


def row(case: str, a: float, b: float, unit: str = "s") -> str:
    return f"| {case} | {a:.2f} {unit} | {b:.2f} {unit} | {a / b:.2f} |"


def analyze_rows(runs: int) -> list[str]:
    analyze = [sys.executable, "-m", "graphtools.cli", "analyze", EXAMPLE]
    idle = medians({"default": (analyze, None)}, runs)["default"]
    with busy():
        load = loadavg()
        busy_times = medians({"default": (analyze, None), "one": (analyze, {"OPENBLAS_NUM_THREADS": "1"})}, runs)
    return [row(f"analyze bundled example, every core busy: default vs `OPENBLAS_NUM_THREADS=1` (load {load})",
                busy_times["default"], busy_times["one"]),
            row("analyze bundled example, default: every core busy vs idle", busy_times["default"], idle)]


def sweep_rows(runs: int) -> list[str]:
    def once() -> float:
        with tempfile.TemporaryDirectory() as out:
            return timed([sys.executable, "-m", "graphtools.cli", "sweep", "--preset", "quick", "--out", out])
    idle = statistics.median(once() for _ in range(runs))
    with busy():
        load = loadavg()
        loaded = statistics.median(once() for _ in range(runs))
    return [row(f"`graphtools sweep --preset quick`, default options: every core busy vs idle (load {load})",
                loaded, idle)]


def pytest_rows() -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    idle = timed(cmd, cwd=ROOT) / 60
    with busy():
        load = loadavg()
        loaded = timed(cmd, cwd=ROOT) / 60
    return [f"| `python -m pytest -q`: idle / every core busy (load {load}) | {idle:.1f} min | {loaded:.1f} min | "
            f"{loaded / idle:.2f} |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sweep", action="store_true", help="add the quick-preset sweep, busy vs idle")
    parser.add_argument("--pytest", action="store_true", help="add the test suite, idle and busy")
    parser.add_argument("--quick", action="store_true", help="3 runs, analyze rows only")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.sweep, args.pytest = 3, False, False
    with contextlib.suppress(OSError), open("/proc/sys/kernel/sched_autogroup_enabled") as f:
        print(f"autogroup scheduling: {'on' if f.read().strip() == '1' else 'off'}; each hog in its own session")
    print(f"load average at start: {loadavg()}; {cores()} cores; {cores()} hogs when busy; "
          f"median of {args.runs} runs\n")
    print("| case | time | baseline | ratio |")
    print("|---|---|---|---|")
    for line in analyze_rows(args.runs):
        print(line, flush=True)
    if args.sweep:
        for line in sweep_rows(max(1, args.runs // 5)):
            print(line, flush=True)
    if args.pytest:
        for line in pytest_rows():
            print(line, flush=True)


if __name__ == "__main__":
    main()
