"""Run a sweep: every run of :func:`graphtools.experiments.run.plan` not yet in the results file.

The parent process schedules the runs (a pruned run waits for the dense model of its
seed), appends each finished run's record to ``results.jsonl``, rewrites
``summary.csv`` and finally draws the figures.  ``jobs > 1`` runs that many runs at
once in worker processes, each with ``threads() // jobs`` threads (at least one;
:mod:`graphtools.threads`).  Interrupting a
sweep (Ctrl-C, a kill) loses only the runs in progress; running it again skips every
run already in the results file.

Runs are started by an *executor*: in this process (``jobs=1``), in a process pool
(``jobs > 1``), or as tasks on a Dask cluster (``cluster=``, see
:mod:`graphtools.experiments.dask_executor`).  All three have ``slots`` (runs in flight at
most), ``chains`` (whether a pruned run may be submitted while its dense run is still in
flight, as a dependency), ``label`` (the state of a submitted run before its first progress
message), ``submit(config, spec, out_dir, parent=None) -> Future`` and
``wait(futures, timeout) -> finished futures``; the bookkeeping below is the same for all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from graphtools.atomic import write_atomic
from graphtools.errors import GraphtoolsError
from graphtools.experiments.config import SweepConfig, check_trainer, model_settings
from graphtools.experiments.results import (
    RESULTS_NAME, SUMMARY_NAME, append_record, read_records, repair_results,
)
from graphtools.experiments.run import INFEASIBLE, RunSpec, execute, plan
from graphtools.experiments.summary import write_summary
from graphtools.threads import blas_threads, set_threads, worker_threads

CONFIG_NAME = "config.toml"
LOCK_NAME = ".sweep.lock"


@dataclass
class SweepProgress:
    """What the progress callback sees (about once a second, and after every run)."""

    done: int  # runs in the results file that belong to this sweep
    total: int
    running: dict[str, str]  # run key -> its state, e.g. "epoch 2/3"
    elapsed: float  # seconds since this invocation started
    eta: float | None  # seconds, from the epochs done so far in this invocation
    event: str | None = None  # a run just finished or failed
    failed: int = 0  # runs that failed in this invocation
    dashboard: str | None = None  # the Dask dashboard of a --cluster sweep, when it has one


@dataclass
class SweepResult:
    """What :func:`run_sweep` did."""

    out_dir: str
    results: str
    summary: str
    total: int
    skipped: int  # already finished before this invocation
    ran: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    infeasible: list[tuple[str, str]] = field(default_factory=list)  # (key, reason), recorded this time
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------- worker side

_worker: dict = {}


def _init_worker(messages, parent: int, threads: int, blas: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    set_threads(threads, blas=blas)
    _worker.update(messages=messages, threads=threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A killed sweep leaves no workers behind: each exits within a second of its parent (an idle
    worker would otherwise wait forever for work that never comes)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _progress_sender(key: str):
    messages = _worker.get("messages")
    last = [0.0]

    def send(p):
        now = time.monotonic()
        if messages is not None and (now - last[0] > 0.5 or p.batch == p.batches):
            last[0] = now
            with contextlib.suppress(Exception):
                messages.put_nowait((key, p.epoch, p.epochs, p.batch, p.batches))
    return send


def _run_in_worker(config: SweepConfig, spec: RunSpec, out_dir: str) -> dict:
    return execute(config, spec, out_dir, workers=_worker.get("threads"), progress=_progress_sender(spec.key))


class _Inline:
    """The executor of ``jobs=1``: a submitted run starts at the next :meth:`wait`, in this
    process (so the progress line names the run while it runs)."""

    slots, chains, label = 1, False, "starting"

    def __init__(self, on_progress):
        self.on_progress = on_progress
        self.pending: list = []

    def submit(self, config, spec, out_dir, parent=None) -> Future:
        future: Future = Future()
        self.pending.append((future, config, spec, out_dir))
        return future

    def wait(self, futures, timeout: float) -> set:
        while self.pending:
            future, config, spec, out_dir = self.pending.pop(0)
            try:
                future.set_result(execute(config, spec, out_dir, progress=lambda p, k=spec.key: self.on_progress(
                    (k, p.epoch, p.epochs, p.batch, p.batches))))
            except Exception as exc:  # recorded as the run's failure; Ctrl-C still stops the sweep
                future.set_exception(exc)
        return {f for f in futures if f.done()}


class _Pool:
    """The executor of ``jobs > 1``: ``jobs`` spawned worker processes."""

    chains, label = False, "starting"

    def __init__(self, pool: ProcessPoolExecutor, messages, jobs: int, on_progress):
        self.pool, self.messages, self.slots, self.on_progress = pool, messages, jobs, on_progress

    def submit(self, config, spec, out_dir, parent=None) -> Future:
        return self.pool.submit(_run_in_worker, config, spec, out_dir)

    def wait(self, futures, timeout: float) -> set:
        finished, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        _drain(self.messages, self.on_progress)
        return finished


# ---------------------------------------------------------------- the sweep


def _lock(out_dir: str):
    handle = open(os.path.join(out_dir, LOCK_NAME), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise GraphtoolsError(f"{out_dir}: another sweep is running in this folder") from None
    return handle


def _changed(old: dict, new: dict) -> list[str]:
    """The settings that differ.  A setting missing from an old record (added to graphtools
    later) counts as that setting's default: old runs stay valid under the default."""
    defaults = {f.name: f.default for f in dataclasses.fields(SweepConfig)}
    keys = sorted(k for k in set(old) | set(new)
                  if old.get(k, _as_setting(defaults.get(k))) != new.get(k))
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys]


def _as_setting(value):
    return list(value) if isinstance(value, tuple) else value


def _finished(records: list[dict], runs: list[RunSpec], config: SweepConfig, results: str) -> dict[str, dict]:
    """The records of planned runs, checked to have been made with this config's settings."""
    planned = {spec.key: spec for spec in runs}
    done = {}
    for record in records:
        spec = planned.get(record["key"])
        if spec is None:
            continue
        settings = dict(record.get("settings") or {})
        if isinstance(settings.get("model"), dict):  # older records: "hidden" and "layers"
            settings["model"] = model_settings(settings["model"])
        changes = _changed(settings, config.settings(spec.model, spec.dense))
        if changes:
            raise GraphtoolsError(f"{results}: run {record['key']} was made with other settings "
                                  f"({', '.join(changes)}); use another --out folder")
        done[record["key"]] = record
    return done


def _units(config: SweepConfig, spec: RunSpec) -> float:
    """A run's cost in epochs (evaluation and measuring count as about one more)."""
    return (config.epochs if spec.dense else config.finetune_epochs) + 1.0


def run_sweep(config: SweepConfig, out_dir: str | os.PathLike, jobs: int = 1, progress=None,
              figures: bool = True, cluster: str | None = None) -> SweepResult:
    """Run every unfinished run of ``config`` into ``out_dir`` (created if needed); see the module
    docstring.  Returns a :class:`SweepResult`; runs that fail are listed in its ``failures``.
    ``cluster`` (``local:N``, ``tcp://HOST:PORT`` or a scheduler file) runs them as tasks on a
    Dask cluster instead (:mod:`graphtools.experiments.dask_executor`; ``jobs`` must then be 1)."""
    out_dir = os.fspath(out_dir)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GraphtoolsError(f"jobs must be a whole number >= 1, got {jobs!r}")
    if cluster and jobs != 1:
        raise GraphtoolsError("give jobs or a cluster, not both")
    check_trainer(config)
    if config.trainer == "torch":  # before anything is written: torch installed, the device there
        from graphtools.torch.training import torch_device

        torch_device(config.device)
    # the data first: a typo in --data leaves no empty results folder behind
    if not config.data:
        raise GraphtoolsError("the sweep config names no data (set data in [sweep] or pass --data)")
    if not os.path.exists(config.data):
        raise GraphtoolsError(f"{config.data}: no such data file or folder")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise GraphtoolsError(f"{out_dir}: exists and is not a folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise GraphtoolsError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    with _lock(out_dir):
        return _sweep(config, out_dir, jobs, progress, figures, cluster)


def remove_stale_temporaries(out_dir: str) -> list[str]:
    """Delete the ``.tmp-*`` files an interrupted sweep left in ``out_dir``, ``checkpoints/`` and
    ``figures/`` (the temporaries of :func:`graphtools.atomic.atomic_open`); returns their paths.

    Called with the folder's lock held, so no other sweep is writing them.
    """
    removed = []
    for folder in (out_dir, os.path.join(out_dir, "checkpoints"), os.path.join(out_dir, "figures")):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if name.startswith(".tmp-") and os.path.isfile(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed.append(path)
    return removed


def _sweep(config, out_dir, jobs, progress, figures, cluster=None) -> SweepResult:
    start = time.perf_counter()
    results, summary = os.path.join(out_dir, RESULTS_NAME), os.path.join(out_dir, SUMMARY_NAME)
    result = SweepResult(out_dir, results, summary, 0, 0, 0)
    stale = remove_stale_temporaries(out_dir)
    if stale:
        result.notes.append(f"removed {len(stale)} temporary file(s) left by an interrupted sweep")
    if repair_results(results):
        result.notes.append(f"{results}: removed the partial record of a run that was interrupted while saving")
    records = read_records(results) if os.path.exists(results) else []
    runs = plan(config)
    done = _finished(records, runs, config, results)
    write_atomic(os.path.join(out_dir, CONFIG_NAME), config.to_toml())
    result.total, result.skipped = len(runs), sum(spec.key in done for spec in runs)

    available = {key for key, r in done.items() if r["method"] == "dense"
                 and os.path.exists(os.path.join(out_dir, r["checkpoint"]))}
    queue = [spec for spec in runs if spec.key not in done]
    # a finished dense run whose checkpoint was deleted is run again (without a new record)
    needed = {spec.dense_key for spec in queue if not spec.dense}
    restore = [spec for spec in runs if spec.dense and spec.key in done and spec.key in needed
               and spec.key not in available]
    queue = restore + queue
    if restore:
        result.notes.append(f"re-training {len(restore)} dense model(s) whose checkpoint is missing")

    total_units = sum(_units(config, s) for s in queue)
    finished_units = 0.0
    running: dict = {}  # future -> spec
    pending_dense: dict = {}  # key of a dense run in flight -> its future (for executors that chain)
    states: dict[str, float] = {}  # key -> fraction done
    labels: dict[str, str] = {}
    failed_dense: set[str] = set()

    def report(event=None):
        if progress is None:
            return
        partial = sum(states.get(s.key, 0.0) * _units(config, s) for s in running.values())
        elapsed = time.perf_counter() - start
        units = finished_units + partial
        eta = elapsed / units * (total_units - units) if units > 0 else None
        count = sum(spec.key in done for spec in runs)
        progress(SweepProgress(count, len(runs), {s.key: labels.get(s.key, executor.label)
                                                  for s in running.values()}, elapsed, eta, event,
                               len(result.failures), getattr(executor, "dashboard", None)))

    def on_progress(message):
        key, epoch, epochs, batch, batches = message
        states[key] = (epoch - 1 + batch / batches) / epochs
        labels[key] = f"epoch {epoch}/{epochs}"
        report()

    executor = None
    with contextlib.ExitStack() as stack:
        if cluster:
            from graphtools.experiments.dask_executor import DaskExecutor

            executor = stack.enter_context(DaskExecutor(cluster, config, out_dir, on_progress))
        elif jobs == 1:
            executor = _Inline(on_progress)
        else:
            context = multiprocessing.get_context("spawn")
            messages = context.Queue()
            threads = worker_threads(jobs)  # jobs x threads never exceeds the budget
            pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                       initargs=(messages, os.getpid(), threads, min(threads, blas_threads())))
            stack.callback(_stop_pool, pool)
            executor = _Pool(pool, messages, jobs, on_progress)
        report()
        while queue or running:
            for spec in list(queue):
                if len(running) >= executor.slots:
                    break
                if not spec.dense and spec.dense_key in failed_dense:
                    queue.remove(spec)
                    result.failures.append((spec.key, f"its dense run {spec.dense_key} failed"))
                    continue
                chained = executor.chains and spec.dense_key in pending_dense
                if spec.dense or spec.dense_key in available or chained:
                    queue.remove(spec)
                    future = executor.submit(config, spec, out_dir,
                                             parent=pending_dense.get(spec.dense_key) if chained else None)
                    running[future] = spec
                    if spec.dense:
                        pending_dense[spec.key] = future
                    report()
            if not running:
                if queue:
                    raise GraphtoolsError("internal error: runs wait for dense models that are not scheduled")
                break  # the last runs depended on a failed dense run
            finished = executor.wait(list(running), timeout=1.0)
            for future in finished:
                spec = running.pop(future)
                pending_dense.pop(spec.key, None)
                finished_units += _units(config, spec)
                states.pop(spec.key, None)
                event = _collect(future, spec, done, available, failed_dense, results, result, summary)
                report(event)
            if not finished:
                report()
    result.seconds = time.perf_counter() - start
    if figures and config.figures:  # no figure kinds: no plotting library to import
        result.figures, notes = _figures(config, out_dir, results)
        result.notes += notes
    return result


def _drain(messages, on_progress) -> None:
    if messages is None:
        return
    while True:
        try:
            on_progress(messages.get_nowait())
        except (queue_module.Empty, OSError, ValueError):
            return


def _collect(future, spec, done, available, failed_dense, results, result, summary) -> str:
    """Record a finished run (or its failure); returns the progress event line."""
    try:
        record = future.result()
    except GraphtoolsError as exc:
        message = str(exc)
    except Exception as exc:  # a bug in a worker: keep the sweep going, say what happened
        message = f"internal error ({type(exc).__name__}: {exc})"
    else:
        if spec.key in done:  # a restored dense checkpoint: its record is already there
            available.add(spec.key)
            return f"restored {spec.key}"
        record["dense_accuracy"] = record["accuracy"] if spec.dense else done[spec.dense_key]["accuracy"]
        append_record(results, record)
        done[spec.key] = record
        result.ran += 1
        if spec.dense:
            available.add(spec.key)
        write_summary(summary, list(done.values()))
        if record["status"] == INFEASIBLE:
            result.infeasible.append((spec.key, record["reason"]))
            return f"infeasible {spec.key}: {record['reason']}"
        return f"finished {spec.key}: accuracy {100 * record['accuracy']:.2f}%"
    if spec.dense:
        failed_dense.add(spec.key)
    result.failures.append((spec.key, message))
    return f"FAILED {spec.key}: {message}"


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Shut the pool down; after an interruption, stop its workers at once."""
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.terminate()


def _figures(config: SweepConfig, out_dir: str, results: str) -> tuple[list[str], list[str]]:
    """Draw the config's figure kinds into ``out_dir/figures`` (PNG); a kind the results cannot
    support (e.g. noise without noise evaluations) becomes a note, not a failure."""
    from graphtools.plots import plot
    from graphtools.plots.noise import has_noise

    folder = os.path.join(out_dir, "figures")
    os.makedirs(folder, exist_ok=True)
    written, notes = [], []
    records = read_records(results) if os.path.exists(results) else []
    if not records:
        return written, ["no finished runs: no figures"]
    for kind in config.figures:
        if kind == "noise" and not any(has_noise(r) for r in records):
            continue
        path = os.path.join(folder, f"{kind}.png")
        try:
            plot(records, kind, path)
        except GraphtoolsError as exc:
            notes.append(f"figure {kind}: {exc}")
            continue
        written.append(path)
    return written, notes
