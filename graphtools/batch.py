"""Batch analysis: :func:`~graphtools.analysis.analyze_checkpoint` over many files, one JSON
record per file, in this process, in ``jobs`` worker processes or on a Dask cluster.

A record is ``{"path": ..., "status": "ok", "report": <the analyze JSON>}`` or
``{"path": ..., "status": "error", "error": "<one line>"}``: a file that cannot be read or
analyzed is a record, never the end of the batch.  Records come back in the order of the
expanded input, whatever order the files finish in.  Files are never sent over the network:
on a cluster every worker must read each file at its (absolute) path, and a file a worker
cannot read becomes an error record.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field

from graphtools.analysis import analyze_checkpoint
from graphtools.errors import GraphtoolsError
from graphtools.validate import check_scalar

#: What a folder given to a batch is searched for (recursively).
CHECKPOINT_SUFFIXES = (".npz", ".npy", ".safetensors", ".onnx", ".h5", ".keras")
OK, ERROR = "ok", "error"


@dataclass
class BatchResult:
    """The records of a batch, in input order, and how many of them are errors."""

    records: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(r["status"] == ERROR for r in self.records)

    def jsonl(self) -> str:
        """One compact JSON line per record."""
        return "".join(json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in self.records)


def expand_paths(paths) -> list[str]:
    """Files, folders (their checkpoint files, recursively, sorted) and glob patterns (``*``,
    ``?``, ``[...]``, ``**``) -> the list of paths, each once, in the order given.  A pattern
    that matches nothing and a missing path stay in the list (they become error records).

    Example
    -------
    >>> expand_paths(["no-such-file.npz"])
    ['no-such-file.npz']
    """
    out: list[str] = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(CHECKPOINT_SUFFIXES)]
            out += found
        elif not os.path.exists(path) and glob.has_magic(path):
            out += sorted(glob.glob(path, recursive=True)) or [path]
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def analyze_file(path: str, options: dict) -> dict:
    """The record of one file (see the module docstring); never raises for a bad file."""
    try:
        if not os.path.exists(path) and glob.has_magic(path):
            raise GraphtoolsError(f"{path}: matches no file")
        report = analyze_checkpoint(path, **options)
        return {"path": path, "status": OK, "report": report.to_dict()}
    except GraphtoolsError as exc:
        return {"path": path, "status": ERROR, "error": str(exc)}
    except Exception as exc:  # a bug, or something the readers did not foresee: still one record
        return {"path": path, "status": ERROR, "error": f"internal error ({type(exc).__name__}: {exc})"}


def _analyze_on_worker(path: str, shown: str, options: dict, hosts: dict) -> dict:
    from graphtools.cluster import task_budget

    with task_budget(hosts):
        return dict(analyze_file(path, options), path=shown)


def _outcome(future, path: str) -> dict:
    """A Dask future's record; a task that failed as a task (its worker died every time) is an
    error record too."""
    try:
        return future.result()
    except Exception as exc:
        return {"path": path, "status": ERROR, "error": f"the Dask task failed ({type(exc).__name__}: {exc})"}


def _init_process(threads: int) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def analyze_many(paths, *, jobs: int = 1, cluster: str | None = None, gates: bool = False, method: str = "auto",
                 bounds: bool = False, unfold_steps: int | None = None, rename=(), threshold: float | None = None,
                 threshold_rel: float | None = None, module: str | None = None) -> BatchResult:
    """Analyze every file of :func:`expand_paths` ``(paths)``.

    Parameters
    ----------
    paths : list of str
        Files, folders or glob patterns.
    jobs : int
        Worker processes on this machine (1: in this process).
    cluster : str, optional
        ``local:N``, ``tcp://HOST:PORT`` or a Dask scheduler file (see :mod:`graphtools.cluster`);
        replaces ``jobs``.
    gates, method, bounds, unfold_steps, rename, threshold, threshold_rel, module
        As for :func:`~graphtools.analysis.analyze_checkpoint`.

    Returns
    -------
    BatchResult

    Example
    -------
    >>> analyze_many(["no-such-file.npz"]).records[0]["error"]
    'no-such-file.npz: no such file'
    """
    if cluster and jobs != 1:
        raise GraphtoolsError("give --jobs or --cluster, not both")
    jobs = check_scalar(jobs, "jobs", int, min_val=1)
    files = expand_paths(paths)
    if not files:
        raise GraphtoolsError("no files to analyze (the folders hold no checkpoint files)")
    options = {"gates": gates, "method": method, "bounds": bounds, "unfold_steps": unfold_steps,
               "rename": tuple(rename), "threshold": threshold, "threshold_rel": threshold_rel, "module": module}
    if cluster:
        from graphtools.cluster import connect, threads_by_host

        with connect(cluster) as connection:
            hosts = threads_by_host(connection)
            futures = connection.client.map(_analyze_on_worker, [os.path.abspath(f) for f in files], files,
                                            options=options, hosts=hosts, pure=False, retries=0)
            return BatchResult([_outcome(future, path) for future, path in zip(futures, files)])
    if jobs == 1:
        return BatchResult([analyze_file(f, options) for f in files])
    import multiprocessing  # loaded here: a single-file `graphtools analyze` does not need it
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(min(jobs, len(files)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init_process, initargs=(threads,)) as pool:
        return BatchResult(list(pool.map(analyze_file, files, [options] * len(files))))


__all__ = ["CHECKPOINT_SUFFIXES", "BatchResult", "analyze_file", "analyze_many", "expand_paths"]
