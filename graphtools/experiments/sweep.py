"""Run a sweep: every run of :func:`graphtools.experiments.run.plan` not yet in the results file.

The parent process schedules the runs (a pruned run waits for the dense model of its
seed), appends each finished run's record to ``results.jsonl``, rewrites
``summary.csv`` and finally draws the figures.  ``jobs > 1`` runs that many runs at
once in worker processes, each with ``threads() // jobs`` threads (at least one;
:mod:`graphtools.threads`).  Interrupting a
sweep (Ctrl-C, a kill) loses only the runs in progress; running it again skips every
run already in the results file.

Runs are started by an *executor* (:mod:`graphtools.experiments.executors`): in this process
(``jobs=1``), in a process pool (``jobs > 1``), or as tasks on a Dask cluster (``cluster=``, see
:mod:`graphtools.experiments.dask_executor`).  A :class:`Scheduler` does the bookkeeping, the same
for all three: what waits, what runs, what is recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from graphtools.atomic import write_atomic
from graphtools.errors import GraphtoolsError
from graphtools.experiments.config import SweepConfig, check_trainer, model_settings
from graphtools.experiments.results import (
    RESULTS_NAME, SUMMARY_NAME, append_record, read_records, repair_results,
)
from graphtools.experiments.executors import Executor, InlineExecutor, ProcessExecutor
from graphtools.experiments.run import DENSE, INFEASIBLE, RunSpec, execute, plan
from graphtools.experiments.summary import write_summary
from graphtools.validate import check_scalar

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


def run_sweep(config: SweepConfig, out_dir: str | os.PathLike, jobs: int = 1, progress=None,
              figures: bool = True, cluster: str | None = None) -> SweepResult:
    """Run every unfinished run of ``config`` into ``out_dir`` (created if needed); see the module
    docstring.  Returns a :class:`SweepResult`; runs that fail are listed in its ``failures``.
    ``cluster`` (``local:N``, ``tcp://HOST:PORT`` or a scheduler file) runs them as tasks on a
    Dask cluster instead (:mod:`graphtools.experiments.dask_executor`; ``jobs`` must then be 1)."""
    out_dir = os.fspath(out_dir)
    jobs = check_scalar(jobs, "jobs", int, min_val=1)
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


def make_executor(jobs: int, cluster: str | None, config: SweepConfig, out_dir: str, on_progress) -> Executor:
    """The executor of a sweep: on the Dask ``cluster`` when given, else ``jobs`` processes (in
    this one for ``jobs=1``)."""
    if cluster:
        from graphtools.experiments.dask_executor import DaskExecutor

        return DaskExecutor(cluster, config, out_dir, on_progress)
    if jobs == 1:
        return InlineExecutor(on_progress, run=execute)  # looked up now: tests may replace execute
    return ProcessExecutor(jobs, on_progress)


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
    scheduler = Scheduler(config, out_dir, runs, done, result, progress=progress, start=start)
    if scheduler.restored:
        result.notes.append(f"re-training {scheduler.restored} dense model(s) whose checkpoint is missing")
    with make_executor(jobs, cluster, config, out_dir, scheduler.on_progress) as executor:
        scheduler.run(executor)
    result.seconds = time.perf_counter() - start
    if figures and config.figures:  # no figure kinds: no plotting library to import
        result.figures, notes = _figures(config, out_dir, results)
        result.notes += notes
    return result


class Scheduler:
    """The bookkeeping of one sweep invocation, whatever the executor.

    It submits every unfinished run of ``runs`` (``done``: key -> record of the finished ones) as
    soon as it may start -- a dense run at once, a pruned run once its dense checkpoint exists (or,
    with an executor that ``chains``, with its dense run in flight as a dependency) -- keeping at
    most ``executor.slots`` in flight; records each run that finishes (appending to
    ``results.jsonl`` and rewriting ``summary.csv``) into ``result``; fails the pruned runs of a
    failed dense run without starting them; and reports a :class:`SweepProgress` to ``progress``.
    A finished dense run whose checkpoint was deleted is run again first (without a new record).
    """

    def __init__(self, config: SweepConfig, out_dir: str, runs: list[RunSpec], done: dict[str, dict],
                 result: SweepResult, *, progress=None, start: float | None = None):
        self.config, self.out_dir, self.runs, self.done, self.result = config, out_dir, runs, done, result
        self.progress, self.start = progress, time.perf_counter() if start is None else start
        self.results, self.summary = result.results, result.summary
        #: dense keys whose checkpoint is there: their pruned runs may start
        self.available = {key for key, r in done.items() if r["method"] == DENSE
                          and os.path.exists(os.path.join(out_dir, r["checkpoint"]))}
        queue = [spec for spec in runs if spec.key not in done]
        needed = {spec.dense_key for spec in queue if not spec.dense}
        restore = [spec for spec in runs if spec.dense and spec.key in done and spec.key in needed
                   and spec.key not in self.available]
        self.restored = len(restore)
        self.queue: list[RunSpec] = restore + queue
        self.running: dict[Future, RunSpec] = {}
        self.dense_in_flight: dict[str, Future] = {}  # for executors that chain
        self.failed_dense: set[str] = set()
        self.fraction: dict[str, float] = {}  # key -> fraction of a running run done
        self.labels: dict[str, str] = {}  # key -> e.g. "epoch 2/3"
        self.total_units = sum(self._units(spec) for spec in self.queue)
        self.finished_units = 0.0
        self.executor: Executor | None = None

    def run(self, executor: Executor) -> None:
        """Submit and collect until every run is recorded or failed."""
        self.executor = executor
        self.report()
        while self.queue or self.running:
            self.submit_ready()
            if not self.running:
                if self.queue:
                    raise GraphtoolsError("internal error: runs wait for dense models that are not scheduled")
                break  # the last runs depended on a failed dense run
            finished = executor.wait(list(self.running), timeout=1.0)
            for future in finished:
                self.report(self.collect(future))
            if not finished:
                self.report()

    def submit_ready(self) -> None:
        """Submit every queued run that may start now, while slots are free."""
        for spec in list(self.queue):
            if len(self.running) >= self.executor.slots:
                return
            if not spec.dense and spec.dense_key in self.failed_dense:
                self.queue.remove(spec)
                self.result.failures.append((spec.key, f"its dense run {spec.dense_key} failed"))
                continue
            parent = self.dense_in_flight.get(spec.dense_key) if self.executor.chains else None
            if spec.dense or spec.dense_key in self.available or parent is not None:
                self.queue.remove(spec)
                future = self.executor.submit(self.config, spec, self.out_dir, parent=parent)
                self.running[future] = spec
                if spec.dense:
                    self.dense_in_flight[spec.key] = future
                self.report()

    def collect(self, future: Future) -> str:
        """Record a finished run (or its failure); returns the progress event line."""
        spec = self.running.pop(future)
        self.dense_in_flight.pop(spec.key, None)
        self.fraction.pop(spec.key, None)
        self.finished_units += self._units(spec)
        try:
            record = future.result()
        except GraphtoolsError as exc:
            return self._fail(spec, str(exc))
        except Exception as exc:  # a bug in a worker: keep the sweep going, say what happened
            return self._fail(spec, f"internal error ({type(exc).__name__}: {exc})")
        if spec.key in self.done:  # a restored dense checkpoint: its record is already there
            self.available.add(spec.key)
            return f"restored {spec.key}"
        record["dense_accuracy"] = record["accuracy"] if spec.dense else self.done[spec.dense_key]["accuracy"]
        append_record(self.results, record)
        self.done[spec.key] = record
        self.result.ran += 1
        if spec.dense:
            self.available.add(spec.key)
        write_summary(self.summary, list(self.done.values()))
        if record["status"] == INFEASIBLE:
            self.result.infeasible.append((spec.key, record["reason"]))
            return f"infeasible {spec.key}: {record['reason']}"
        return f"finished {spec.key}: accuracy {100 * record['accuracy']:.2f}%"

    def _fail(self, spec: RunSpec, message: str) -> str:
        if spec.dense:
            self.failed_dense.add(spec.key)
        self.result.failures.append((spec.key, message))
        return f"FAILED {spec.key}: {message}"

    def on_progress(self, message: tuple) -> None:
        """A progress message ``(key, epoch, epochs, batch, batches)`` of a running run."""
        key, epoch, epochs, batch, batches = message
        self.fraction[key] = (epoch - 1 + batch / batches) / epochs
        self.labels[key] = f"epoch {epoch}/{epochs}"
        self.report()

    def report(self, event: str | None = None) -> None:
        """Call ``progress`` with the runs done, running and failed and an ETA from the epochs so far."""
        if self.progress is None:
            return
        partial = sum(self.fraction.get(s.key, 0.0) * self._units(s) for s in self.running.values())
        elapsed = time.perf_counter() - self.start
        units = self.finished_units + partial
        eta = elapsed / units * (self.total_units - units) if units > 0 else None
        label = self.executor.label if self.executor is not None else "starting"
        self.progress(SweepProgress(
            sum(spec.key in self.done for spec in self.runs), len(self.runs),
            {s.key: self.labels.get(s.key, label) for s in self.running.values()}, elapsed, eta, event,
            len(self.result.failures), getattr(self.executor, "dashboard", None)))

    def _units(self, spec: RunSpec) -> float:
        """A run's cost in epochs (evaluation and measuring count as about one more)."""
        return (self.config.epochs if spec.dense else self.config.finetune_epochs) + 1.0


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
