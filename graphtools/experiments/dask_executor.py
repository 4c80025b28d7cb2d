"""The sweep executor of ``--cluster``: every run is a task on a Dask cluster's workers.

:func:`graphtools.experiments.sweep.run_sweep` keeps all the bookkeeping (what is finished,
what runs next, the records): this module only starts runs and hands back their records, so
the client -- the ``graphtools sweep`` process -- is the only writer of ``results.jsonl``, one
record per run whatever the workers did (a task re-run after its worker died still has one
future, collected once).

* **Order.**  A pruned run is submitted together with its dense run, as a Dask *dependency*
  of it: it starts on some worker as soon as the dense model exists, with no barrier.  Dense
  runs have a higher Dask priority.  At most twice the cluster's threads are in flight, so
  the queue on the cluster stays short and progress stays meaningful.
* **Threads.**  A run's threads -- BLAS, and graphtools' own thread budget that sizes the
  pruning and training thread pools -- are the cores of its worker's host divided by the Dask
  threads on that host (:func:`graphtools.cluster.task_budget`, the split ``--jobs N`` makes on
  one machine): runs never oversubscribe the cores.  The cluster's shape (hosts, threads) is
  asked of the scheduler at most every :data:`SHAPE_SECONDS`.
* **Checkpoints.**  Before the first run the client writes a marker file with a random token
  into OUT and asks every worker whether it reads the same token.  All do: OUT is shared,
  workers write checkpoints there themselves.  None do: OUT is private to the client, each
  run works in a temporary folder of its worker and returns its checkpoint's bytes with its
  record; the client writes them into OUT (a pruned run gets the dense checkpoint from its
  dense task, or from the client when that finished earlier).  Some do: a one-line error.  In
  shared mode every task checks the marker again, so a worker that joins later without the
  shared folder fails its runs with a clear message instead of writing elsewhere.
* **Faults.**  Tasks are submitted with ``retries=0``: a run that raises fails once and is
  reported once.  A run whose worker dies is re-run elsewhere by the scheduler, up to its
  ``distributed.scheduler.allowed-failures`` (default 3) deaths; then it is reported failed
  ("its worker died ...").  Data files are never sent: every worker must read ``config.data``
  at the same path (checked before the first run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue as queue_module
import secrets
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait

from graphtools.atomic import write_atomic
from graphtools.cluster import check_readable, connect, task_budget, threads_by_host
from graphtools.errors import GraphtoolsError
from graphtools.experiments.executors import Executor, progress_sender
from graphtools.experiments.run import RunSpec, execute

MARKER_NAME = ".graphtools-cluster"
#: How long the cluster's shape (hosts and threads) is taken as known before asking again.
SHAPE_SECONDS = 5.0


# ---------------------------------------------------------------- worker side


def _sees_marker(path: str, token: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read() == token
    except OSError:
        return False


def _run_task(config, spec: RunSpec, out_dir: str, shared: bool, token: str, topic: str,
              host_threads: dict, dense=None) -> dict:
    """One run on a Dask worker; returns ``{"record": ..., "checkpoint": bytes or None}``."""
    from distributed import get_worker

    worker = get_worker()
    send = progress_sender(spec.key, lambda message: worker.log_event(topic, message))

    with contextlib.suppress(Exception):
        epochs = config.epochs if spec.dense else config.finetune_epochs
        worker.log_event(topic, [spec.key, 1, epochs, 0, 1])  # started: no longer "queued"
    with task_budget(host_threads) as threads:
        if shared:
            if not _sees_marker(os.path.join(out_dir, MARKER_NAME), token):
                raise GraphtoolsError(f"worker {worker.address} does not see the sweep folder {out_dir} that the "
                                      "other workers share; give every worker the same shared folder")
            return {"record": execute(config, spec, out_dir, workers=threads, progress=send), "checkpoint": None}
        scratch = tempfile.mkdtemp(prefix="graphtools-run-")
        try:
            if not spec.dense:
                data = dense if isinstance(dense, bytes) else dense["checkpoint"]
                path = RunSpec(spec.model, "dense", 0.0, spec.seed).checkpoint(scratch)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as handle:
                    handle.write(data)
            record = execute(config, spec, scratch, workers=threads, progress=send)
            checkpoint = None
            if record.get("checkpoint"):
                with open(os.path.join(scratch, record["checkpoint"]), "rb") as handle:
                    checkpoint = handle.read()
            return {"record": record, "checkpoint": checkpoint}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------- client side


def detect_shared(client, out_dir: str, marker: str, token: str) -> bool:
    """True when every worker reads ``token`` in ``marker`` (OUT is shared), False when none does;
    a one-line error when only some do."""
    seen = client.run(_sees_marker, marker, token)
    sharing = sorted(address for address, ok in seen.items() if ok)
    if sharing and len(sharing) < len(seen):
        lacking = sorted(set(seen) - set(sharing))
        raise GraphtoolsError(f"{out_dir}: {len(sharing)} of {len(seen)} Dask worker(s) see this folder and "
                              f"{len(lacking)} do not (e.g. {lacking[0]}); give every worker the same shared "
                              "folder, or none of them")
    return bool(sharing)


class DaskExecutor(Executor):
    """Runs of a sweep as Dask tasks (see the module docstring); an
    :class:`graphtools.experiments.executors.Executor` whose :meth:`close` closes the connection
    (and a ``local:N`` cluster)."""

    chains, label = True, "queued"

    def __init__(self, cluster: str, config, out_dir: str, on_progress):
        self.out_dir, self.on_progress = os.path.abspath(out_dir), on_progress
        self.connection = connect(cluster)
        try:
            self._start(config)
        except BaseException:
            self.close()
            raise

    def _start(self, config) -> None:
        client = self.connection.client
        self.dashboard = self.connection.dashboard
        check_readable(self.connection, os.path.abspath(config.data))
        self.token = secrets.token_hex(16)
        self.topic = f"graphtools-sweep-{self.token[:12]}"
        self.marker = os.path.join(self.out_dir, MARKER_NAME)
        write_atomic(self.marker, self.token)
        self.shared = detect_shared(client, self.out_dir, self.marker, self.token)
        self.messages: queue_module.Queue = queue_module.Queue()
        client.subscribe_topic(self.topic, lambda event: self.messages.put(event[1]))
        self.futures: dict = {}  # our future -> (Dask future, spec, parent Dask future)
        self.scattered: dict = {}  # dense key -> scattered checkpoint bytes (private OUT)
        self.shape: tuple[float, dict] | None = None  # (when asked, host -> threads)

    # the executor interface

    def _hosts(self) -> dict[str, int]:
        """Host -> Dask threads (:func:`graphtools.cluster.threads_by_host`), asked of the scheduler
        at most every :data:`SHAPE_SECONDS` (each ask is a round trip; workers may come and go)."""
        now = time.monotonic()
        if self.shape is None or now - self.shape[0] > SHAPE_SECONDS:
            self.shape = (now, threads_by_host(self.connection))
        return self.shape[1]

    @property
    def slots(self) -> int:
        return max(2, 2 * sum(self._hosts().values()))

    def submit(self, config, spec: RunSpec, out_dir: str, parent: Future | None = None) -> Future:
        client = self.connection.client
        dependency = None
        if not spec.dense:
            if parent is not None:
                dependency = self.futures[parent][0]
            elif not self.shared:
                dependency = self._dense_bytes(spec)
        config = dataclasses.replace(config, data=os.path.abspath(config.data))  # workers have another cwd
        task = client.submit(_run_task, config, spec, self.out_dir, self.shared, self.token, self.topic,
                             self._hosts(),
                             dependency, key=f"{spec.key}#{secrets.token_hex(4)}", pure=False, retries=0,
                             priority=1 if spec.dense else 0)
        future: Future = Future()
        future.set_running_or_notify_cancel()
        self.futures[future] = (task, spec, dependency if parent is not None else None)
        task.add_done_callback(lambda done: self._finish(future))
        return future

    def wait(self, futures, timeout: float) -> set:
        finished, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
        while True:
            try:
                key, epoch, epochs, batch, batches = self.messages.get_nowait()
            except queue_module.Empty:
                break
            if any(spec.key == key and not f.done() for f, (_, spec, _) in self.futures.items()):
                self.on_progress((key, epoch, epochs, batch, batches))
        for future in finished:
            self.futures.pop(future, None)
        return finished

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if getattr(self, "marker", None):
                os.unlink(self.marker)
        self.connection.close()

    # helpers

    def _dense_bytes(self, spec: RunSpec):
        """The dense checkpoint of a pruned run, sent once per dense model (private OUT)."""
        key = spec.dense_key
        if key not in self.scattered:
            path = RunSpec(spec.model, "dense", 0.0, spec.seed).checkpoint(self.out_dir)
            with open(path, "rb") as handle:
                self.scattered[key] = self.connection.client.scatter(handle.read(), hash=False)
        return self.scattered[key]

    def _finish(self, future: Future) -> None:
        """Runs in a Dask callback thread: translate the task's outcome into our future."""
        task, spec, parent = self.futures[future]
        try:
            value = self._outcome(task, spec, parent)
            if not self.shared and value["checkpoint"] is not None:
                path = os.path.join(self.out_dir, value["record"]["checkpoint"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_atomic(path, value["checkpoint"])
        except BaseException as exc:  # noqa: BLE001 -- handed to the sweep, which records the failure
            future.set_exception(exc)
        else:
            future.set_result(value["record"])

    def _outcome(self, task, spec: RunSpec, parent):
        from distributed import KilledWorker

        if task.status == "finished":
            return task.result()
        if parent is not None and parent.status in ("error", "cancelled", "lost"):
            raise GraphtoolsError(f"its dense run {spec.dense_key} failed")
        if task.status == "error":
            exc = task.exception()
            if isinstance(exc, KilledWorker):
                raise GraphtoolsError("its worker died every time it ran (killed, or out of memory); "
                                      "not retried further")
            raise exc
        raise GraphtoolsError(f"the Dask task was {task.status} (the scheduler or its workers went away)")


__all__ = ["MARKER_NAME", "DaskExecutor", "detect_shared"]
