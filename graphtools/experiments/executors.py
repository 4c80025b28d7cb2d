"""Where a sweep's runs execute: in this process, in a process pool, or on a Dask cluster.

Every executor has the interface of :class:`Executor`, which
:class:`graphtools.experiments.sweep.Scheduler` drives without knowing which one it has:

* ``submit(config, spec, out_dir, parent=None) -> Future`` starts a run (``parent``: the future of
  its dense run, when the executor ``chains`` runs and that one is still in flight);
* ``wait(futures, timeout) -> set`` returns the futures that finished (at least one, unless the
  timeout passed), after handing the runs' progress messages to ``on_progress``;
* ``slots`` (runs in flight at most), ``chains`` (whether a pruned run may be submitted while its
  dense run is in flight, as a dependency), ``label`` (a run's state before its first progress
  message), ``dashboard`` (an address to watch, or None);
* a context manager: leaving it stops the workers.

A progress message is ``(run key, epoch, epochs, batch, batches)``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Callable

from graphtools.experiments.run import execute
from graphtools.threads import blas_threads, set_threads, worker_threads

OnProgress = Callable[[tuple], None]


class Executor:
    """The interface every executor has (see the module docstring); also its defaults."""

    slots: int = 1
    chains: bool = False
    label: str = "starting"
    dashboard: str | None = None

    def submit(self, config, spec, out_dir: str, parent: Future | None = None) -> Future:
        raise NotImplementedError

    def wait(self, futures, timeout: float) -> set:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InlineExecutor(Executor):
    """``jobs=1``: a submitted run starts at the next :meth:`wait`, in this process (so the
    progress line names the run while it runs).  ``run`` is the function that runs one
    (:func:`graphtools.experiments.run.execute`)."""

    def __init__(self, on_progress: OnProgress, run=execute):
        self.on_progress, self.run = on_progress, run
        self.pending: list = []

    def submit(self, config, spec, out_dir, parent=None) -> Future:
        future: Future = Future()
        self.pending.append((future, config, spec, out_dir))
        return future

    def wait(self, futures, timeout: float) -> set:
        while self.pending:
            future, config, spec, out_dir = self.pending.pop(0)
            try:
                future.set_result(self.run(config, spec, out_dir, progress=lambda p, k=spec.key: self.on_progress(
                    (k, p.epoch, p.epochs, p.batch, p.batches))))
            except Exception as exc:  # recorded as the run's failure; Ctrl-C still stops the sweep
                future.set_exception(exc)
        return {f for f in futures if f.done()}


class ProcessExecutor(Executor):
    """``jobs > 1``: ``jobs`` spawned worker processes, each with its share of the thread budget
    (``jobs`` x threads never exceeds it; :func:`graphtools.threads.worker_threads`)."""

    def __init__(self, jobs: int, on_progress: OnProgress):
        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        threads = worker_threads(jobs)
        self.pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                        initargs=(self.messages, os.getpid(), threads, min(threads, blas_threads())))
        self.slots, self.on_progress = jobs, on_progress

    def submit(self, config, spec, out_dir, parent=None) -> Future:
        return self.pool.submit(_run_in_worker, config, spec, out_dir)

    def wait(self, futures, timeout: float) -> set:
        finished, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        while True:
            try:
                self.on_progress(self.messages.get_nowait())
            except (queue_module.Empty, OSError, ValueError):
                return finished

    def close(self) -> None:
        """Shut the pool down; after an interruption, stop its workers at once."""
        processes = dict(getattr(self.pool, "_processes", None) or {})
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            with contextlib.suppress(Exception):
                if process.is_alive():
                    process.terminate()


# ---------------------------------------------------------------- inside a pool's worker process

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


def progress_sender(key: str, send: Callable[[list], None], interval: float = 0.5):
    """A trainer progress callback that passes ``[key, epoch, epochs, batch, batches]`` to
    ``send`` at most every ``interval`` seconds and at the end of every epoch (errors ignored:
    progress never fails a run)."""
    last = [0.0]

    def callback(p) -> None:
        now = time.monotonic()
        if now - last[0] > interval or p.batch == p.batches:
            last[0] = now
            with contextlib.suppress(Exception):
                send([key, p.epoch, p.epochs, p.batch, p.batches])
    return callback


def _run_in_worker(config, spec, out_dir: str) -> dict:
    messages = _worker.get("messages")
    send = (lambda m: messages.put_nowait(tuple(m))) if messages is not None else (lambda m: None)
    return execute(config, spec, out_dir, workers=_worker.get("threads"), progress=progress_sender(spec.key, send))


__all__ = ["Executor", "InlineExecutor", "ProcessExecutor", "progress_sender"]
